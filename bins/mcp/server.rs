//! The MCP server: tools (tools.rs, each call run by run.rs on the task the
//! SDK gives each request), workers as resources, and a `csd-events
//! --follow` child per subscribed worker that pushes
//! `notifications/resources/updated` when its turn ends and a log message
//! for each of its events.
#![allow(deprecated)] // resources/subscribe and logging: what clients speak today

use crate::run::{self, Done, Outcome};
use crate::tools::{self, Args};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock as Content, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
    PaginatedRequestParams, ProgressNotificationParam, ReadResourceRequestParams, ReadResourceResponse,
    ResourceUpdatedNotificationParam, ServerCapabilities, ServerConfig, SetLevelRequestParams, SubscribeRequestParams,
    UnsubscribeRequestParams,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio_util::sync::CancellationToken;

const URI_PREFIX: &str = "csd://worker/";

static NEXT_SUB: AtomicU64 = AtomicU64::new(0);

/// One subscription: the resource, its worker, its number.
struct Sub {
    uri: String,
    name: String,
    id: u64,
}

#[derive(Clone)]
pub struct Server {
    /// Where the csd binaries are: beside csd-mcp.
    dir: PathBuf,
    /// Each subscribed worker's follower, by URI, with a number of its own
    /// (so a follower that ends removes itself, never a newer one): cancelled
    /// on unsubscribe.
    subs: Arc<Mutex<HashMap<String, (u64, CancellationToken)>>>,
}

pub async fn serve(dir: PathBuf) -> csd::error::Result<()> {
    let server = Server { dir, subs: Arc::default() };
    let running = server
        .clone()
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| csd::error::failed(format!("starting the MCP session: {e}")))?;
    let _ = running.waiting().await;
    // The followers end with the session (their children get SIGTERM).
    for (_, (_, ct)) in server.subs.lock().unwrap().drain() {
        ct.cancel();
    }
    Ok(())
}

/// What an exit status means, as every csd binary's man page says.
fn meaning(code: i32) -> &'static str {
    use csd::error::*;
    match code {
        EXIT_FAILURE => "failure",
        EXIT_USAGE => "usage error or bad input, nothing was changed",
        EXIT_NO_WORKER => "no such worker",
        EXIT_GONE => "the worker's tmux session is gone",
        EXIT_FAILED => "the turn failed",
        EXIT_BLOCKED => "the worker is blocked on a person",
        EXIT_INTERRUPTED => "the turn was interrupted",
        EXIT_TIMEOUT => "timed out",
        c if c > 128 => "killed by a signal",
        _ => "failure",
    }
}

/// A failed call as the client sees it: the binary's message, and which of
/// csd's exit statuses it was (what a fleet wait printed before, too).
fn tool_error(bin: &str, done: &Done) -> CallToolResult {
    CallToolResult::error(vec![Content::text(error_text(bin, done))])
}

fn error_text(bin: &str, done: &Done) -> String {
    let said = done.stderr.lines().find(|l| !l.trim().is_empty() && !l.starts_with("Try '")).unwrap_or("");
    let said = if said.is_empty() { format!("{bin} failed") } else { said.to_string() };
    let mut text = format!("{said} (exit status {}: {})", done.code, meaning(done.code));
    if !done.stdout.trim().is_empty() {
        text.push_str(&format!("\n{}", done.stdout.trim_end()));
    }
    text
}

fn usage_error(msg: &str) -> CallToolResult {
    CallToolResult::error(vec![Content::text(format!("{msg} (exit status 2: {})", meaning(2)))])
}

fn internal(e: impl std::fmt::Display) -> McpError {
    McpError::internal_error(e.to_string(), None)
}

impl Server {
    async fn call(
        &self,
        params: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let Some(def) = tools::find(&params.name) else {
            return Err(McpError::invalid_params(format!("no tool named '{}'", params.name), None));
        };
        let args = Args(params.arguments.unwrap_or_default());
        let call = match (def.argv)(&args) {
            Ok(c) => c,
            Err(msg) => return Ok(usage_error(&msg)),
        };
        let bin = self.dir.join(call.bin);
        let token = if def.long { cx.meta.get_progress_token() } else { None };
        let total = args.seconds("timeout");
        let peer = cx.peer.clone();
        let what = format!("{} {}", call.bin, call.args.join(" "));
        let tick = |waited: Duration| {
            let (peer, token, what) = (peer.clone(), token.clone(), what.clone());
            async move {
                let Some(token) = token else { return };
                let mut p = ProgressNotificationParam::new(token, waited.as_secs_f64());
                p.total = total;
                p.message = Some(format!("{what}: {} s", waited.as_secs()));
                let _ = peer.notify_progress(p).await;
            }
        };
        let outcome = run::run(&bin, &call.args, call.stdin, &cx.ct, tick).await.map_err(internal)?;
        let done = match outcome {
            Outcome::Done(d) => d,
            Outcome::Cancelled => return Ok(CallToolResult::error(vec![Content::text("cancelled")])),
        };
        if done.code != 0 {
            return Ok(tool_error(call.bin, &done));
        }
        Ok(CallToolResult::structured((def.parse)(&done.stdout, &done.stderr, &args)))
    }

    /// Run a csd binary to its end, for resources: stdout, or its message.
    async fn quick(&self, bin: &str, args: &[&str]) -> Result<String, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let ct = CancellationToken::new();
        match run::run(&self.dir.join(bin), &args, None, &ct, |_| async {}).await {
            Ok(Outcome::Done(d)) if d.code == 0 => Ok(d.stdout),
            Ok(Outcome::Done(d)) => Err(error_text(bin, &d)),
            Ok(Outcome::Cancelled) => Err("cancelled".into()),
            Err(e) => Err(format!("{bin}: {e}")),
        }
    }

    fn worker_of(uri: &str) -> Result<&str, McpError> {
        match uri.strip_prefix(URI_PREFIX) {
            Some(name) if !name.is_empty() && !name.starts_with('-') && !name.contains('/') => Ok(name),
            _ => Err(McpError::invalid_params(format!("not a csd worker: {uri} (expected {URI_PREFIX}NAME)"), None)),
        }
    }

    /// `csd-events --last 0 --follow NAME`: started before subscribe
    /// answers, so no turn that ends after that is missed.
    fn follower(&self, name: &str) -> std::io::Result<tokio::process::Child> {
        tokio::process::Command::new(self.dir.join("csd-events"))
            .args(["--last", "0", "--follow", "--", name])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
    }

    /// Follow a worker's events until `ct` is cancelled or its follower
    /// ends: every event a log message, a turn's end a resource update.
    async fn follow(self, sub: Sub, mut child: tokio::process::Child, peer: Peer<RoleServer>, ct: CancellationToken) {
        let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        loop {
            tokio::select! {
                _ = ct.cancelled() => break,
                line = lines.next_line() => match line {
                    Ok(Some(l)) => self.event(&sub.uri, &sub.name, &l, &peer).await,
                    _ => {
                        // The worker is gone (its log went) or csd-events failed:
                        // its resource changed, and there is nothing more to follow.
                        let _ = peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(sub.uri.clone())).await;
                        break;
                    }
                },
            }
        }
        if let Some(pid) = child.id() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
        }
        let mut subs = self.subs.lock().unwrap();
        if subs.get(&sub.uri).is_some_and(|(id, _)| *id == sub.id) {
            subs.remove(&sub.uri);
        }
    }

    async fn event(&self, uri: &str, name: &str, line: &str, peer: &Peer<RoleServer>) {
        let Ok(mut ev) = serde_json::from_str::<Value>(line) else { return };
        let kind = ev.get("event").and_then(Value::as_str).unwrap_or("").to_string();
        let ends = kind == "stop" || kind == "session_end";
        if ends {
            let _ = peer.notify_resource_updated(ResourceUpdatedNotificationParam::new(uri)).await;
        }
        let bad = matches!(ev.get("reason").and_then(Value::as_str), Some("failed" | "blocked" | "interrupted"));
        if let Some(o) = ev.as_object_mut() {
            o.insert("worker".into(), json!(name));
        }
        let level = if bad { LoggingLevel::Warning } else { LoggingLevel::Info };
        let mut msg = LoggingMessageNotificationParam::new(level, ev);
        msg.logger = Some(format!("csd/{name}"));
        let _ = peer.notify_logging_message(msg).await;
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let caps: ServerCapabilities =
            serde_json::from_value(json!({"tools": {}, "resources": {"subscribe": true}, "logging": {}}))
                .expect("capabilities");
        ServerConfig::new(caps)
            .with_server_info(Implementation::new("csd-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Drive coding-agent workers (Claude Code, Codex, Pi) in tmux: launch, send or converse, wait, \
                 read_turn, stop. Subscribe to csd://worker/NAME to be told when its turn ends.",
            )
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let list: Vec<Value> = tools::DEFS
            .iter()
            .map(|d| {
                json!({"name": d.name, "description": tools::description(d),
                       "inputSchema": (d.input)(), "outputSchema": (d.output)()})
            })
            .collect();
        serde_json::from_value(json!({"tools": list})).map_err(internal)
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        cx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        self.call(params, cx).await.map(CallToolResponse::from)
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let out =
            self.quick("csd-status", &["--list", "--json"]).await.map_err(|e| McpError::internal_error(e, None))?;
        let rows: Vec<Value> = serde_json::from_str(out.trim()).unwrap_or_default();
        let list: Vec<Value> = rows
            .iter()
            .filter_map(|r| r.get("name").and_then(Value::as_str))
            .map(|n| {
                json!({"uri": format!("{URI_PREFIX}{n}"), "name": n, "mimeType": "application/json",
                       "description": format!("csd worker {n}: its status and last turn")})
            })
            .collect();
        serde_json::from_value(json!({"resources": list})).map_err(internal)
    }

    async fn list_resource_templates(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let t = json!({"uriTemplate": format!("{URI_PREFIX}{{name}}"), "name": "worker",
                       "mimeType": "application/json", "description": "a csd worker: its status and last turn"});
        serde_json::from_value(json!({"resourceTemplates": [t]})).map_err(internal)
    }

    async fn read_resource(
        &self,
        req: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let name = Self::worker_of(&req.uri)?;
        let status = match self.quick("csd-status", &["--json", "--", name]).await {
            Ok(out) => serde_json::from_str::<Value>(out.trim()).unwrap_or(Value::Null),
            Err(e) => return Err(McpError::resource_not_found(e, None)),
        };
        let turn = self.quick("csd-turn", &["--", name]).await.ok();
        let body = json!({"status": status, "last_turn": turn});
        let r: rmcp::model::ReadResourceResult = serde_json::from_value(json!({"contents": [
            {"uri": req.uri, "mimeType": "application/json", "text": body.to_string()}
        ]}))
        .map_err(internal)?;
        Ok(r.into())
    }

    async fn subscribe(&self, req: SubscribeRequestParams, cx: RequestContext<RoleServer>) -> Result<(), McpError> {
        let name = Self::worker_of(&req.uri)?.to_string();
        if self.subs.lock().unwrap().contains_key(&req.uri) {
            return Ok(());
        }
        // A worker that is not there is an error now, not a silent follower.
        self.quick("csd-status", &["--", &name]).await.map_err(|e| McpError::resource_not_found(e, None))?;
        let child = self.follower(&name).map_err(internal)?;
        let ct = CancellationToken::new();
        let id = NEXT_SUB.fetch_add(1, Ordering::Relaxed);
        if let Some((_, old)) = self.subs.lock().unwrap().insert(req.uri.clone(), (id, ct.clone())) {
            old.cancel(); // two subscribes at once: the later one follows
        }
        let sub = Sub { uri: req.uri, name, id };
        tokio::spawn(self.clone().follow(sub, child, cx.peer.clone(), ct));
        Ok(())
    }

    async fn unsubscribe(&self, req: UnsubscribeRequestParams, _: RequestContext<RoleServer>) -> Result<(), McpError> {
        if let Some((_, ct)) = self.subs.lock().unwrap().remove(&req.uri) {
            ct.cancel();
        }
        Ok(())
    }

    async fn set_level(&self, _: SetLevelRequestParams, _: RequestContext<RoleServer>) -> Result<(), McpError> {
        Ok(())
    }
}
