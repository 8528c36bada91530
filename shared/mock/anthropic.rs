//! A mock Anthropic Messages API on 127.0.0.1, for driving real harness CLIs
//! (Claude Code, and Pi with its `anthropic-messages` provider) offline.
//!
//! Use it as `csd::mock::anthropic` (one copy for the tests and `csd doctor`). It speaks
//! just enough HTTP/1.1 by hand (one request per connection, then close) and
//! answers `POST /v1/messages` with the SSE stream the clients expect:
//! - a session-title request (Claude asks for one per prompt): plain text;
//! - a prompt whose last user message has a line `run: <command>` (and whose
//!   request offers the configured tool): a `tool_use` of that tool;
//! - a request that carries a `tool_result`: a final text quoting the output;
//! - a line `say: <text>`: exactly that text; anything else: [`DEFAULT_REPLY`];
//! - a line `wait: <secs>` (with `say:` or the default): the answer comes
//!   that much later, so a turn is still in its model request (not in a tool).
//!
//! Every answer reports usage as the real API does (streamed: input and cache
//! counts in `message_start`, the final `output_tokens` in `message_delta`),
//! numbers that differ per answer (`http::usage_for` of the answer's number).
//! Every request is recorded with the usage sent, when it arrived and when
//! its answer was fully written, so a test can assert on it and subtract the
//! model's time.

use super::http;

pub use http::Usage;
use http::{read_request, usage_for};
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const DEFAULT_REPLY: &str = "Mock model here: nothing to do.";
pub const TITLE_REPLY: &str = "Mock session";
/// What the final answer after a tool call starts with; the tool output follows.
pub const TOOL_OUTPUT_PREFIX: &str = "The command printed:";
/// The API key a Claude Code pointed at this mock is given.
pub const API_KEY: &str = "sk-ant-mock-0123456789abcdefghijklmnop";

/// `~/.claude.json` for a Claude Code 2.1.197 that talks to this mock with
/// `API_KEY`: onboarding done, the key approved, bypass mode accepted, no
/// auto-update. No project is trusted (the trust dialog stays csd's to answer).
pub fn claude_home_config() -> Value {
    let key_tail = &API_KEY[API_KEY.len() - 20..];
    json!({
        "hasCompletedOnboarding": true,
        "lastOnboardingVersion": "2.1.197",
        "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
        "bypassPermissionsModeAccepted": true,
        "autoUpdates": false,
    })
}

/// How a request was classified, i.e. what the mock answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Title,
    ToolCall { command: String },
    AfterToolResult { output: String },
    Said(String),
    Default,
    CountTokens,
    NotFound,
}

pub type Recorded = http::Recorded<Answer>;
type Shared = http::State<Answer, Config>;

/// Builds the tool's `input` from the command of a `run:` line.
pub type ToolInput = Arc<dyn Fn(&str) -> Value + Send + Sync>;

#[derive(Clone)]
pub struct Config {
    /// The tool to call for `run:` (Claude: `Bash`; Pi: `bash`).
    pub tool_name: String,
    pub tool_input: ToolInput,
    /// Text the model says before its tool call, as a block of its own (the
    /// real API often does): Claude Code then writes the message as two
    /// lines with one id and one usage.
    pub lead_text: Option<String>,
}

impl Config {
    /// Claude Code's Bash tool.
    pub fn claude() -> Config {
        Config {
            tool_name: "Bash".into(),
            tool_input: Arc::new(|cmd| json!({"command": cmd, "description": "Run the command the user asked for"})),
            lead_text: Some("Running it now.".into()),
        }
    }

    /// Any tool that takes `{"command": …}`.
    pub fn with_tool(name: &str) -> Config {
        Config { tool_name: name.into(), tool_input: Arc::new(|cmd| json!({"command": cmd})), lead_text: None }
    }
}

pub struct MockAnthropic {
    server: http::Server<Answer, Config>,
}

impl MockAnthropic {
    /// Listen on 127.0.0.1 (a free port) and serve until dropped.
    pub fn start(config: Config) -> MockAnthropic {
        MockAnthropic { server: http::Server::start("mock-anthropic", config, serve) }
    }

    /// For `ANTHROPIC_BASE_URL` (no trailing slash, no `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    pub fn port(&self) -> u16 {
        self.server.addr.port()
    }

    /// What the answers to `requests` reported, summed.
    pub fn usage_sum(requests: &[Recorded]) -> Usage {
        let mut sum = Usage { input: 0, output: 0, cache_read: 0, cache_write: 0 };
        for u in requests.iter().map(|r| &r.usage).filter(|u| !u.is_null()) {
            sum.input += u["input_tokens"].as_u64().unwrap();
            sum.output += u["output_tokens"].as_u64().unwrap();
            sum.cache_read += u["cache_read_input_tokens"].as_u64().unwrap();
            sum.cache_write += u["cache_creation_input_tokens"].as_u64().unwrap();
        }
        sum
    }

    /// The model's own time in answering `requests`.
    pub fn busy_time(requests: &[Recorded]) -> Duration {
        http::busy_time(requests)
    }
}

/// `requests`, `count` and `requests_since` come from the server.
impl std::ops::Deref for MockAnthropic {
    type Target = http::Server<Answer, Config>;
    fn deref(&self) -> &Self::Target {
        &self.server
    }
}

fn serve(mut conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some(req) = read_request(&conn)? else { return Ok(()) };
    let arrived = Instant::now();
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let route = req.path.split('?').next().unwrap_or("");
    let mut sent = Value::Null;
    let answer = match (req.method.as_str(), route) {
        ("POST", "/v1/messages") => {
            let answer = classify(&body, &shared.config);
            if matches!(answer, Answer::Said(_) | Answer::Default) {
                std::thread::sleep(delay_of(&body));
            }
            let blocks = blocks_for(&answer, shared);
            let model = body.get("model").and_then(Value::as_str).unwrap_or("claude-sonnet-4-5");
            let n = shared.ids.fetch_add(1, Ordering::Relaxed);
            let id = format!("msg_mock_{n}");
            let u = usage_for(n);
            sent = json!({"input_tokens": u.input, "output_tokens": u.output,
                "cache_read_input_tokens": u.cache_read, "cache_creation_input_tokens": u.cache_write});
            if body.get("stream").and_then(Value::as_bool) == Some(true) {
                write_stream(&mut conn, &id, model, &blocks, u)?;
            } else {
                let stop = stop_reason(&blocks);
                let msg = json!({"id": id, "type": "message", "role": "assistant", "model": model,
                    "content": blocks, "stop_reason": stop, "stop_sequence": null, "usage": sent});
                write_json(&mut conn, 200, &msg)?;
            }
            answer
        }
        ("POST", "/v1/messages/count_tokens") => {
            write_json(&mut conn, 200, &json!({"input_tokens": 10}))?;
            Answer::CountTokens
        }
        ("GET" | "HEAD", _) => {
            write_json(&mut conn, 200, &json!({}))?;
            Answer::Default
        }
        _ => {
            let err = json!({"type": "error", "error": {"type": "not_found_error", "message": "mock: no such route"}});
            write_json(&mut conn, 404, &err)?;
            Answer::NotFound
        }
    };
    let record =
        Recorded { method: req.method, path: req.path, body, answer, usage: sent, arrived, answered: Instant::now() };
    shared.log.lock().unwrap().push(record);
    Ok(())
}

/// Decide what to answer from the last *user* message (Claude may append a
/// system-role element after it).
pub fn classify(body: &Value, config: &Config) -> Answer {
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let Some(last_user) = messages.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user")) else {
        return Answer::Default;
    };
    let content = last_user.get("content").unwrap_or(&Value::Null);
    if let Some(blocks) = content.as_array() {
        if let Some(result) = blocks.iter().find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result")) {
            return Answer::AfterToolResult { output: text_of(result.get("content").unwrap_or(&Value::Null)) };
        }
    }
    let text = text_of(content);
    let system = text_of(body.get("system").unwrap_or(&Value::Null));
    // The title request quotes the user's prompt, so it is recognised first.
    if text.contains("Write the title in") || system.contains("Write the title in") {
        return Answer::Title;
    }
    let offers_tool = body
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| tools.iter().any(|t| t.get("name").and_then(Value::as_str) == Some(&config.tool_name)));
    for line in text.lines() {
        let line = line.trim();
        if let Some(cmd) = line.strip_prefix("run:") {
            if offers_tool {
                return Answer::ToolCall { command: cmd.trim().to_string() };
            }
        } else if let Some(said) = line.strip_prefix("say:") {
            return Answer::Said(said.trim().to_string());
        }
    }
    Answer::Default
}

/// A `wait: <secs>` line in the last user message: how long to hold the answer.
pub fn delay_of(body: &Value) -> Duration {
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let last_user = messages.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let text = last_user.map(|m| text_of(m.get("content").unwrap_or(&Value::Null))).unwrap_or_default();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("wait:").and_then(|n| n.trim().parse::<f64>().ok()))
        .map(Duration::from_secs_f64)
        .unwrap_or_default()
}

/// All the text in a content value: a string, or an array of blocks whose
/// `text` (or nested `content`) is collected, one per line.
pub fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .map(|b| match b.get("text") {
                Some(Value::String(t)) => t.clone(),
                _ => b.get("content").map(text_of).unwrap_or_default(),
            })
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn blocks_for(answer: &Answer, shared: &Shared) -> Vec<Value> {
    let text = |t: &str| vec![json!({"type": "text", "text": t})];
    match answer {
        Answer::Title => text(TITLE_REPLY),
        Answer::ToolCall { command } => {
            let id = format!("toolu_mock_{}", shared.ids.fetch_add(1, Ordering::Relaxed));
            let input = (shared.config.tool_input)(command);
            let call = json!({"type": "tool_use", "id": id, "name": shared.config.tool_name, "input": input});
            match &shared.config.lead_text {
                Some(t) => vec![json!({"type": "text", "text": t}), call],
                None => vec![call],
            }
        }
        Answer::AfterToolResult { output } => text(&format!("{TOOL_OUTPUT_PREFIX}\n{}", output.trim_end())),
        Answer::Said(s) => text(s),
        _ => text(DEFAULT_REPLY),
    }
}

fn stop_reason(blocks: &[Value]) -> &'static str {
    if blocks.iter().any(|b| b["type"] == "tool_use") {
        "tool_use"
    } else {
        "end_turn"
    }
}

fn write_json(conn: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = if status == 200 { "OK" } else { "Not Found" };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

fn write_stream(conn: &mut TcpStream, id: &str, model: &str, blocks: &[Value], u: Usage) -> std::io::Result<()> {
    let mut out = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    );
    let mut event = |name: &str, data: Value| out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    event(
        "message_start",
        json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": u.input, "output_tokens": 1, "cache_read_input_tokens": u.cache_read,
                "cache_creation_input_tokens": u.cache_write}}}),
    );
    for (index, block) in blocks.iter().enumerate() {
        let (start, delta) = if block["type"] == "tool_use" {
            (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
            )
        } else {
            (json!({"type": "text", "text": ""}), json!({"type": "text_delta", "text": block["text"]}))
        };
        event("content_block_start", json!({"type": "content_block_start", "index": index, "content_block": start}));
        event("content_block_delta", json!({"type": "content_block_delta", "index": index, "delta": delta}));
        event("content_block_stop", json!({"type": "content_block_stop", "index": index}));
    }
    event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason(blocks), "stop_sequence": null},
            "usage": {"output_tokens": u.output}}),
    );
    event("message_stop", json!({"type": "message_stop"}));
    conn.write_all(out.as_bytes())?;
    conn.flush()
}
