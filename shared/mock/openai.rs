//! A mock OpenAI Responses API on 127.0.0.1, for driving the real Codex CLI
//! offline (0.169 speaks only `POST {base_url}/responses` with an SSE
//! answer to a custom provider: no websockets, no `/models`).
//!
//! Use it as `csd::mock::openai` (one copy for the tests and `csd doctor`). One request per
//! connection, then close. What it answers is scripted by directives in the
//! prompt (the last user message Codex did not inject itself), each running
//! to the end of its line:
//! - `RUN: <command>`: a call of the shell tool Codex offers (`exec_command`);
//! - `PATCH: <path>`: an `apply_patch` call adding `<path>` with one line;
//! - `FAIL: <status>`: that HTTP error (Codex ends the turn with an error);
//! - `SLEEP: <secs>`: the answer waits that long (to catch a turn working);
//! - `SAY: <text>`: that text, as the whole answer or as the final one after
//!   a tool; with no directive the answer is [`DEFAULT_REPLY`].
//!
//! After a tool's output the final message is the `SAY:` text or
//! [`AFTER_TOOL_REPLY`]. Codex's side request for a thread title (a
//! `json_schema` text format, no tools) gets a schema-valid `{"title": …}`.
//! `response.completed` reports usage that differs per answer
//! (`http::usage_for` of the answer's number): `input_tokens` (cached ones
//! included, as OpenAI counts), `input_tokens_details.cached_tokens` and
//! `.cache_write_tokens`, `output_tokens`. Every request is recorded with
//! the usage sent, when it arrived and when its answer was fully written, so
//! a test can sum it and subtract the model's own time.

use super::http;

pub use http::Usage;
use http::{read_request, usage_for};
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub const DEFAULT_REPLY: &str = "Mock model here: nothing to do.";
pub const AFTER_TOOL_REPLY: &str = "DONE";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Title,
    Shell { command: String },
    Patch { path: String },
    AfterTool,
    Said(String),
    Failed(u16),
    Default,
    NotFound,
}

pub type Recorded = http::Recorded<Answer>;
type Shared = http::State<Answer, ()>;

pub struct MockOpenAi {
    server: http::Server<Answer, ()>,
}

impl MockOpenAi {
    /// Listen on 127.0.0.1 (a free port) and serve until dropped.
    pub fn start() -> MockOpenAi {
        MockOpenAi { server: http::Server::start("mock-openai", (), serve) }
    }

    /// A provider's `base_url` (Codex appends `/responses`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr)
    }

    /// What the answers to `requests` reported, summed: `input` without the
    /// cached part (`cache_read`), as csd reports it.
    pub fn usage_sum(requests: &[Recorded]) -> Usage {
        let mut sum = Usage { input: 0, output: 0, cache_read: 0, cache_write: 0 };
        for u in requests.iter().map(|r| &r.usage).filter(|u| !u.is_null()) {
            let cached = u["input_tokens_details"]["cached_tokens"].as_u64().unwrap();
            sum.input += u["input_tokens"].as_u64().unwrap() - cached;
            sum.output += u["output_tokens"].as_u64().unwrap();
            sum.cache_read += cached;
            sum.cache_write += u["input_tokens_details"]["cache_write_tokens"].as_u64().unwrap();
        }
        sum
    }

    /// The model's own time in answering `requests`.
    pub fn busy_time(requests: &[Recorded]) -> Duration {
        http::busy_time(requests)
    }
}

/// `requests`, `count` and `requests_since` come from the server.
impl std::ops::Deref for MockOpenAi {
    type Target = http::Server<Answer, ()>;
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
        ("POST", r) if r.ends_with("/responses") => {
            let answer = classify(&body);
            if let Some(secs) = directive(&prompt_of(&body).unwrap_or_default(), "SLEEP") {
                if !after_tool(&body) {
                    std::thread::sleep(Duration::from_secs_f64(secs.parse().unwrap_or(0.0)));
                }
            }
            match &answer {
                Answer::Failed(status) => write_json(
                    &mut conn,
                    *status,
                    &json!({"error": {"message": format!("mock failure {status}"), "type": "server_error",
                        "code": "mock_failure"}}),
                )?,
                a => sent = write_stream(&mut conn, &items_for(a, &body, shared), &body, shared)?,
            }
            answer
        }
        ("GET", r) if r.ends_with("/models") => {
            write_json(&mut conn, 200, &json!({"object": "list", "data": [], "models": []}))?;
            Answer::Default
        }
        _ => {
            write_json(&mut conn, 404, &json!({"error": {"message": "mock: no such route"}}))?;
            Answer::NotFound
        }
    };
    let record =
        Recorded { method: req.method, path: req.path, body, answer, usage: sent, arrived, answered: Instant::now() };
    shared.log.lock().unwrap().push(record);
    Ok(())
}

fn after_tool(body: &Value) -> bool {
    let input = body["input"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    input.last().is_some_and(|i| matches!(i["type"].as_str(), Some("function_call_output" | "custom_tool_call_output")))
}

/// The text of the last user message Codex did not write itself.
pub fn prompt_of(body: &Value) -> Option<String> {
    let input = body["input"].as_array()?;
    input.iter().rev().find_map(|item| {
        if item["type"] != "message" || item["role"] != "user" {
            return None;
        }
        let text: String = item["content"].as_array()?.iter().filter_map(|c| c["text"].as_str()).collect();
        (!crate::transcript::codex::is_injected(&text)).then_some(text)
    })
}

/// `KEY: value` anywhere in the prompt, the value running to the line's end.
fn directive(prompt: &str, key: &str) -> Option<String> {
    let tag = format!("{key}:");
    let at = prompt.find(&tag)? + tag.len();
    Some(prompt[at..].lines().next().unwrap_or("").trim().to_string())
}

pub fn classify(body: &Value) -> Answer {
    if body["text"]["format"]["type"] == "json_schema" {
        return Answer::Title;
    }
    let prompt = prompt_of(body).unwrap_or_default();
    if after_tool(body) {
        return Answer::AfterTool;
    }
    if let Some(status) = directive(&prompt, "FAIL") {
        return Answer::Failed(status.split_whitespace().next().and_then(|s| s.parse().ok()).unwrap_or(500));
    }
    if let Some(path) = directive(&prompt, "PATCH") {
        return Answer::Patch { path };
    }
    if let Some(command) = directive(&prompt, "RUN") {
        return Answer::Shell { command };
    }
    match directive(&prompt, "SAY") {
        Some(text) => Answer::Said(text),
        None => Answer::Default,
    }
}

fn items_for(answer: &Answer, body: &Value, shared: &Shared) -> Vec<Value> {
    let id = |p: &str| format!("{p}_{}", shared.ids.fetch_add(1, Ordering::Relaxed));
    let message = |text: &str| {
        json!({"type": "message", "id": id("msg"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]})
    };
    let prompt = prompt_of(body).unwrap_or_default();
    match answer {
        Answer::Title => {
            let tail = prompt.rsplit("User prompt:").next().unwrap_or("").trim();
            let title: String =
                tail.split_whitespace().take(4).collect::<Vec<_>>().join(" ").chars().take(36).collect();
            vec![message(&json!({"title": if title.is_empty() { "Mock task".into() } else { title }}).to_string())]
        }
        Answer::Shell { command } => vec![json!({"type": "function_call", "id": id("fc"), "call_id": id("call"),
            "name": "exec_command", "arguments": json!({"cmd": command}).to_string(), "status": "completed"})],
        Answer::Patch { path } => vec![json!({"type": "custom_tool_call", "id": id("ctc"), "call_id": id("call"),
            "name": "apply_patch", "status": "completed",
            "input": format!("*** Begin Patch\n*** Add File: {path}\n+patched by mock\n*** End Patch\n")})],
        Answer::AfterTool => vec![message(&directive(&prompt, "SAY").unwrap_or_else(|| AFTER_TOOL_REPLY.into()))],
        Answer::Said(text) => vec![message(text)],
        _ => vec![message(DEFAULT_REPLY)],
    }
}

fn write_json(conn: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Error",
    };
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

/// The minimal stream Codex needs: `response.created`, one
/// `response.output_item.done` per item, `response.completed`. Returns the
/// usage it reported.
fn write_stream(conn: &mut TcpStream, items: &[Value], body: &Value, shared: &Shared) -> std::io::Result<Value> {
    let model = body["model"].as_str().unwrap_or("mock-model");
    let n = shared.ids.fetch_add(1, Ordering::Relaxed);
    let resp = format!("resp_{n}");
    let u = usage_for(n);
    let usage = json!({"input_tokens": u.input + u.cache_read,
        "input_tokens_details": {"cached_tokens": u.cache_read, "cache_write_tokens": u.cache_write},
        "output_tokens": u.output, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.input + u.cache_read + u.output});
    let mut out = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    );
    let mut event = |data: Value| out.push_str(&format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap()));
    event(json!({"type": "response.created", "response": {"id": resp, "object": "response",
        "status": "in_progress", "model": model, "output": []}}));
    for (i, item) in items.iter().enumerate() {
        event(json!({"type": "response.output_item.done", "output_index": i, "item": item}));
    }
    event(json!({"type": "response.completed", "response": {"id": resp, "object": "response",
        "status": "completed", "model": model, "output": [], "usage": usage}}));
    conn.write_all(out.as_bytes())?;
    conn.flush()?;
    Ok(usage)
}
