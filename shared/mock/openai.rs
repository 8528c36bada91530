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
//! - `FAIL: <how>` (or `fail:<how>`): the request fails, as the real API
//!   fails (see [`Fault`]): `400`, `401`, `429` (a rate limit with
//!   `retry-after` and OpenAI's `x-ratelimit-reset-*` headers), `usage` (the
//!   ChatGPT plan's usage limit: 429 `usage_limit_reached` with `resets_at`
//!   and Codex's `x-codex-primary-*` headers), `500`, `529` (overloaded),
//!   any other status, `overloaded` (a stream that fails with
//!   `server_is_overloaded`), `stream` (a `response.failed` event mid-stream)
//!   or `reset` (the connection dropped mid-stream);
//! - `SLEEP: <secs>` (or `wait:<secs>`): the answer waits that long (to catch
//!   a turn working);
//! - `ASK: <question>` (or `ask:`): a call of Codex's `request_user_input`
//!   tool asking that, with two options;
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

use http::usage_for;
pub use http::Usage;
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
    Failed(Fault),
    Ask(String),
    Default,
    NotFound,
}

/// How a request fails (`FAIL: <how>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// That HTTP status with an OpenAI error body (429 also carries the
    /// rate-limit headers, [`RETRY_AFTER`] seconds).
    Status(u16),
    /// The ChatGPT plan's usage limit, resetting in [`USAGE_RESET`] seconds.
    UsageLimit,
    /// `response.failed` with `server_is_overloaded`, after the stream began.
    Overloaded,
    /// `response.failed` with a server error, after the stream began.
    Stream,
    /// The connection dropped after the stream began.
    Reset,
}

/// What a rate-limited answer says to wait, in seconds.
pub const RETRY_AFTER: u64 = 30;
/// When a usage-limited answer says the limit resets, in seconds from now.
pub const USAGE_RESET: i64 = 3600;

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
    let Some(http::Incoming { req, arrived, body, route }) = http::receive(&conn)? else { return Ok(()) };
    let mut sent = Value::Null;
    let answer = match (req.method.as_str(), route.as_str()) {
        ("POST", r) if r.ends_with("/responses") => {
            let answer = classify(&body);
            if let Some(secs) = directive(&prompt_of(&body).unwrap_or_default(), "SLEEP") {
                if !after_tool(&body) {
                    std::thread::sleep(Duration::from_secs_f64(secs.parse().unwrap_or(0.0)));
                }
            }
            match &answer {
                Answer::Failed(fault) => fail(&mut conn, fault, &body, shared)?,
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
        (!crate::harness::codex::transcript::is_injected(&text)).then_some(text)
    })
}

/// `KEY: value` (or `key:value`, the words the Anthropic mock reads, with
/// `wait` for `SLEEP`) anywhere in the prompt but inside a word (`task:` is
/// not `ask:`), the value running to the line's end.
fn directive(prompt: &str, key: &str) -> Option<String> {
    let lower = if key == "SLEEP" { "wait".to_string() } else { key.to_ascii_lowercase() };
    [key, lower.as_str()].iter().find_map(|k| {
        let tag = format!("{k}:");
        let at = prompt
            .match_indices(&tag)
            .map(|(i, _)| i)
            .find(|&i| !prompt[..i].chars().next_back().is_some_and(char::is_alphanumeric))?;
        Some(prompt[at + tag.len()..].lines().next().unwrap_or("").trim().to_string())
    })
}

/// The fault a `FAIL:` value names (an unknown word is a server error).
pub fn fault_of(how: &str) -> Fault {
    match how.split_whitespace().next().unwrap_or("") {
        "usage" | "usage_limit" => Fault::UsageLimit,
        "overloaded" => Fault::Overloaded,
        "stream" => Fault::Stream,
        "reset" => Fault::Reset,
        n => Fault::Status(n.parse().unwrap_or(500)),
    }
}

pub fn classify(body: &Value) -> Answer {
    if body["text"]["format"]["type"] == "json_schema" {
        return Answer::Title;
    }
    let prompt = prompt_of(body).unwrap_or_default();
    if after_tool(body) {
        return Answer::AfterTool;
    }
    if let Some(how) = directive(&prompt, "FAIL") {
        return Answer::Failed(fault_of(&how));
    }
    if let Some(question) = directive(&prompt, "ASK") {
        return Answer::Ask(question);
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
        Answer::Ask(question) => {
            let args = json!({"questions": [{"id": "pick", "header": "Pick", "question": question,
                "options": [{"label": "Red", "description": "the first"},
                    {"label": "Blue", "description": "the second"}]}]});
            vec![json!({"type": "function_call", "id": id("fc"), "call_id": id("call"),
                "name": "request_user_input", "arguments": args.to_string(), "status": "completed"})]
        }
        Answer::AfterTool => vec![message(&directive(&prompt, "SAY").unwrap_or_else(|| AFTER_TOOL_REPLY.into()))],
        Answer::Said(text) => vec![message(text)],
        _ => vec![message(DEFAULT_REPLY)],
    }
}

fn write_json(conn: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    write_json_with(conn, status, &[], body)
}

fn write_json_with(conn: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Error",
    };
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        conn,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         {extra}connection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

/// Fail the request the way `fault` says, as OpenAI's API (or the ChatGPT
/// backend Codex signs in to) does.
fn fail(conn: &mut TcpStream, fault: &Fault, body: &Value, shared: &Shared) -> std::io::Result<()> {
    let error = |message: &str, kind: &str, code: Value| {
        json!({"error": {"message": message, "type": kind,
        "param": null, "code": code}})
    };
    match fault {
        Fault::Status(429) => {
            let headers = [
                ("retry-after", RETRY_AFTER.to_string()),
                ("x-ratelimit-limit-requests", "60".into()),
                ("x-ratelimit-remaining-requests", "0".into()),
                ("x-ratelimit-reset-requests", format!("{RETRY_AFTER}s")),
                ("x-ratelimit-reset-tokens", "1s".into()),
            ];
            let msg = format!("Rate limit reached for requests. Please try again in {RETRY_AFTER}s.");
            write_json_with(conn, 429, &headers, &error(&msg, "requests", "rate_limit_exceeded".into()))
        }
        Fault::Status(400) => {
            write_json(conn, 400, &error("mock: the request is invalid", "invalid_request_error", Value::Null))
        }
        Fault::Status(401) => {
            let msg = "Incorrect API key provided: mock-key. You can find your API key at \
                https://platform.openai.com/account/api-keys.";
            write_json(conn, 401, &error(msg, "invalid_request_error", "invalid_api_key".into()))
        }
        Fault::Status(529) => write_json(
            conn,
            529,
            &error("mock: the server is overloaded", "server_error", "server_is_overloaded".into()),
        ),
        Fault::Status(status) => {
            write_json(conn, *status, &error(&format!("mock failure {status}"), "server_error", "mock_failure".into()))
        }
        Fault::UsageLimit => {
            let resets_at = crate::time::now_unix() + USAGE_RESET;
            let headers = [
                ("x-codex-primary-used-percent", "100".to_string()),
                ("x-codex-primary-window-minutes", "300".into()),
                ("x-codex-primary-reset-at", resets_at.to_string()),
                ("x-codex-primary-reset-after-seconds", USAGE_RESET.to_string()),
            ];
            let body = json!({"error": {"type": "usage_limit_reached", "message": "The usage limit has been reached",
                "plan_type": "plus", "resets_at": resets_at, "resets_in_seconds": USAGE_RESET}});
            write_json_with(conn, 429, &headers, &body)
        }
        Fault::Overloaded | Fault::Stream | Fault::Reset => fail_mid_stream(conn, fault, body, shared),
    }
}

/// A stream that begins (`response.created`) and then fails: a
/// `response.failed` event, or the connection closed with no terminal event.
fn fail_mid_stream(conn: &mut TcpStream, fault: &Fault, body: &Value, shared: &Shared) -> std::io::Result<()> {
    let model = body["model"].as_str().unwrap_or("mock-model");
    let resp = format!("resp_{}", shared.ids.fetch_add(1, Ordering::Relaxed));
    let mut out = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
    );
    let mut event = |data: Value| out.push_str(&format!("event: {}\ndata: {data}\n\n", data["type"].as_str().unwrap()));
    event(json!({"type": "response.created", "response": {"id": resp, "object": "response",
        "status": "in_progress", "model": model, "output": []}}));
    let (code, message) = match fault {
        Fault::Overloaded => ("server_is_overloaded", "mock: the server is overloaded"),
        _ => ("server_error", "mock: the stream failed"),
    };
    if *fault != Fault::Reset {
        event(json!({"type": "response.failed", "response": {"id": resp, "object": "response",
            "status": "failed", "model": model, "output": [], "error": {"code": code, "message": message}}}));
    }
    conn.write_all(out.as_bytes())?;
    conn.flush()?;
    if *fault == Fault::Reset {
        // The stream ends with no terminal event: the connection is gone.
        conn.shutdown(std::net::Shutdown::Both)?;
    }
    Ok(())
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
