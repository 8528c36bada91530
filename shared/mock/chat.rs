//! A mock OpenAI chat completions API on 127.0.0.1, for driving the real
//! Qwen Code CLI offline (0.24 speaks `POST {base_url}/chat/completions`,
//! streamed, to an `openai` auth type).
//!
//! Use it as `csd::mock::chat` (one copy for the tests and `csd doctor`). One
//! request per connection, then close. What it answers is scripted by
//! directives in the prompt (the text of the last `user` message, the CLI's
//! own `<system-reminder>` parts left out), the same words the other mocks
//! read, each running to the end of its line:
//! - `RUN: <command>` (or `run:`): a call of the shell tool the request
//!   offers (the first of [`SHELL_TOOLS`] it lists), `{"command": …}`;
//! - `SAY: <text>` (or `say:`): that text, as the whole answer or as the
//!   final one after a tool; with no directive the answer is
//!   [`DEFAULT_REPLY`], after a tool [`AFTER_TOOL_REPLY`];
//! - `FAIL: <how>` (or `fail:<how>`, `fail:<how> xN`): the request fails, as
//!   the real API fails: an HTTP status (`400`, `401`, `429` with
//!   `retry-after`, `500`, any other), `stream` (an `error` chunk after the
//!   stream began) or `reset` (the connection dropped mid-stream). Served
//!   once per prompt, or N times: a client that retries gets the ordinary
//!   answer next;
//! - `SLEEP: <secs>` (or `wait:<secs>`): the answer waits that long (to
//!   catch a turn working), not after a tool.
//!
//! Streamed answers (`"stream": true`) are `chat.completion.chunk` events:
//! the role and content (or the `tool_calls`) in one `delta`, then the
//! `finish_reason`, then a last chunk with no choices and the `usage`
//! (`prompt_tokens` with the cached ones included, as OpenAI counts,
//! `prompt_tokens_details.cached_tokens`, `completion_tokens`), then
//! `[DONE]`. Usage differs per answer (`http::usage_for` of its number; chat
//! completions have no cache-write count). Qwen Code's side requests (its
//! follow-up suggestion, its memory extraction) are answered briefly and
//! recorded as [`Answer::Side`], so a test can leave them out of its sums.

use super::http;

use http::usage_for;
pub use http::Usage;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const DEFAULT_REPLY: &str = "Mock model here: nothing to do.";
pub const AFTER_TOOL_REPLY: &str = "DONE";
/// The API key a CLI pointed at this mock is given (any is accepted).
pub const API_KEY: &str = "mock-key";
/// What a `fail:429` says to wait, in seconds.
pub const RETRY_AFTER: u64 = 30;
/// Shell tools by the names CLIs give them, in the order they are looked for.
pub const SHELL_TOOLS: [&str; 5] = ["run_shell_command", "shell", "bash", "Bash", "exec_command"];

/// What the mock answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Shell {
        tool: String,
        command: String,
    },
    AfterTool(String),
    Said(String),
    Default,
    /// A CLI's own side request (a suggestion, a memory pass).
    Side,
    Failed(Fault),
    Models,
    NotFound,
}

/// How a request fails (`FAIL: <how>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// That HTTP status with an OpenAI error body (429 with `retry-after`).
    Status(u16),
    /// An `error` chunk after the stream began.
    Stream,
    /// The connection dropped after the stream began.
    Reset,
}

impl Fault {
    /// `WORD` or `WORD xN`: the fault and how many requests of its prompt
    /// get it (1 unless told); `None` for a word the mock does not know.
    pub fn parse_times(rest: &str) -> Option<(Fault, u32)> {
        let (word, times) = match rest.trim().split_once(" x") {
            Some((w, n)) => (w, n.trim().parse().ok().filter(|n| *n > 0)?),
            None => (rest, 1),
        };
        let fault = match word.trim() {
            "stream" => Fault::Stream,
            "reset" => Fault::Reset,
            n => Fault::Status(n.parse::<u16>().ok().filter(|s| (400..600).contains(s))?),
        };
        Some((fault, times))
    }
}

pub type Recorded = http::Recorded<Answer>;
/// How many times each prompt's `FAIL:` was served.
type Spent = Mutex<HashMap<String, u32>>;
type Shared = http::State<Answer, Spent>;

pub struct MockChat {
    server: http::Server<Answer, Spent>,
}

impl MockChat {
    /// Listen on 127.0.0.1 (a free port) and serve until dropped.
    pub fn start() -> MockChat {
        MockChat { server: http::Server::start("mock-chat", Mutex::new(HashMap::new()), serve) }
    }

    /// An OpenAI `base_url` (the client appends `/chat/completions`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr)
    }

    /// What the answers to `requests` reported, summed: `input` without the
    /// cached part (`cache_read`), as csd reports it; no cache writes.
    pub fn usage_sum(requests: &[Recorded]) -> Usage {
        let mut sum = Usage { input: 0, output: 0, cache_read: 0, cache_write: 0 };
        for u in requests.iter().map(|r| &r.usage).filter(|u| !u.is_null()) {
            let cached = u["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap_or(0);
            sum.input += u["prompt_tokens"].as_u64().unwrap_or(0) - cached;
            sum.output += u["completion_tokens"].as_u64().unwrap_or(0);
            sum.cache_read += cached;
        }
        sum
    }

    /// The model's own time in answering `requests`.
    pub fn busy_time(requests: &[Recorded]) -> Duration {
        http::busy_time(requests)
    }
}

/// `requests`, `count` and `requests_since` come from the server.
impl std::ops::Deref for MockChat {
    type Target = http::Server<Answer, Spent>;
    fn deref(&self) -> &Self::Target {
        &self.server
    }
}

fn serve(mut conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Some(http::Incoming { req, arrived, body, route }) = http::receive(&conn)? else { return Ok(()) };
    let mut sent = Value::Null;
    let answer = match (req.method.as_str(), route.as_str()) {
        ("POST", r) if r.ends_with("/chat/completions") => {
            let answer = classify_and_spend(&body, &shared.config);
            if !matches!(answer, Answer::AfterTool(_) | Answer::Side) {
                if let Some(secs) = directive(&prompt_of(&body).unwrap_or_default(), "SLEEP") {
                    std::thread::sleep(Duration::from_secs_f64(secs.parse().unwrap_or(0.0)));
                }
            }
            match &answer {
                Answer::Failed(fault) => fail(&mut conn, fault, &body)?,
                a => sent = write_answer(&mut conn, a, &body, shared)?,
            }
            answer
        }
        ("GET", r) if r.ends_with("/models") => {
            let model = json!({"id": "mock-model", "object": "model", "created": 0, "owned_by": "mock"});
            write_json(&mut conn, 200, &[], &json!({"object": "list", "data": [model]}))?;
            Answer::Models
        }
        _ => {
            write_json(&mut conn, 404, &[], &json!({"error": {"message": "mock: no such route"}}))?;
            Answer::NotFound
        }
    };
    let record =
        Recorded { method: req.method, path: req.path, body, answer, usage: sent, arrived, answered: Instant::now() };
    shared.log.lock().unwrap().push(record);
    Ok(())
}

/// The prompt in a message's `content`: a string, or its last text part
/// that is not a CLI's `<system-reminder>`. Qwen Code 0.24.4 sends a
/// prompt whose turn failed (no answer) and the next one as two parts of
/// one user message: the last part is the prompt being answered.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .rfind(|t| !t.trim_start().starts_with("<system-reminder>"))
            .unwrap_or("")
            .to_string(),
        _ => String::new(),
    }
}

/// The prompt: the text of the last `user` message.
pub fn prompt_of(body: &Value) -> Option<String> {
    let messages = body["messages"].as_array()?;
    messages.iter().rev().find(|m| m["role"] == "user").map(|m| text_of(&m["content"]))
}

/// Whether the request answers a tool call: its last message is a tool's.
fn after_tool(body: &Value) -> bool {
    body["messages"].as_array().and_then(|m| m.last()).is_some_and(|m| m["role"] == "tool")
}

/// Qwen Code's own requests beside a turn: the follow-up suggestion and the
/// managed memory's extraction (0.24.4).
fn is_side_request(prompt: &str) -> bool {
    let p = prompt.trim_start();
    p.starts_with("[SUGGESTION MODE") || p.contains("Managed memory has TWO directories")
}

/// `KEY: value` (or `key:value`, with `wait` for `SLEEP`) anywhere in the
/// prompt but inside a word, the value running to the line's end.
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

/// The shell tool the request offers, if any.
fn shell_tool(body: &Value) -> Option<String> {
    let tools = body["tools"].as_array()?;
    let names: Vec<&str> = tools.iter().filter_map(|t| t["function"]["name"].as_str()).collect();
    SHELL_TOOLS.iter().find(|s| names.contains(s)).map(|s| s.to_string())
}

/// What the mock answers `body`, whatever it has served before (a `FAIL:`
/// counts as not yet spent).
pub fn classify(body: &Value) -> Answer {
    classify_with(body, &|_, _| false).0
}

fn classify_and_spend(body: &Value, spent: &Spent) -> Answer {
    let mut spent = spent.lock().unwrap();
    let (answer, prompt) = classify_with(body, &|p, times| spent.get(p).is_some_and(|n| *n >= times));
    if let (Answer::Failed(_), Some(p)) = (&answer, prompt) {
        *spent.entry(p).or_insert(0) += 1;
    }
    answer
}

fn classify_with(body: &Value, spent: &dyn Fn(&str, u32) -> bool) -> (Answer, Option<String>) {
    let prompt = prompt_of(body).unwrap_or_default();
    if is_side_request(&prompt) {
        return (Answer::Side, None);
    }
    if after_tool(body) {
        return (Answer::AfterTool(directive(&prompt, "SAY").unwrap_or_else(|| AFTER_TOOL_REPLY.into())), None);
    }
    if let Some((fault, times)) = directive(&prompt, "FAIL").and_then(|how| Fault::parse_times(&how)) {
        if !spent(&prompt, times) {
            return (Answer::Failed(fault), Some(prompt));
        }
    }
    if let (Some(command), Some(tool)) = (directive(&prompt, "RUN"), shell_tool(body)) {
        return (Answer::Shell { tool, command }, None);
    }
    match directive(&prompt, "SAY") {
        Some(text) => (Answer::Said(text), None),
        None => (Answer::Default, None),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

fn write_json(conn: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        conn,
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )?;
    conn.flush()
}

/// The error body OpenAI sends with `status`.
pub fn error_body(status: u16) -> Value {
    let (message, kind, code) = match status {
        400 => ("mock: the request is invalid".to_string(), "invalid_request_error", Value::Null),
        401 => ("Incorrect API key provided: mock-key.".into(), "invalid_request_error", "invalid_api_key".into()),
        429 => (
            format!("Rate limit reached for requests. Please try again in {RETRY_AFTER}s."),
            "requests",
            "rate_limit_exceeded".into(),
        ),
        s => (format!("mock failure {s}"), "server_error", "mock_failure".into()),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn fail(conn: &mut TcpStream, fault: &Fault, body: &Value) -> std::io::Result<()> {
    match fault {
        Fault::Status(429) => {
            let headers = [("retry-after", RETRY_AFTER.to_string()), ("x-ratelimit-remaining-requests", "0".into())];
            write_json(conn, 429, &headers, &error_body(429))
        }
        Fault::Status(s) => write_json(conn, *s, &[], &error_body(*s)),
        Fault::Stream | Fault::Reset => {
            let mut out = sse_head();
            push_chunk(
                &mut out,
                &chunk(
                    body,
                    0,
                    json!([{"index": 0, "delta": {"role": "assistant", "content": ""},
                "finish_reason": null}]),
                ),
            );
            if *fault == Fault::Stream {
                push_chunk(&mut out, &error_body(500));
            }
            conn.write_all(out.as_bytes())?;
            conn.flush()?;
            if *fault == Fault::Reset {
                conn.shutdown(std::net::Shutdown::Both)?;
            }
            Ok(())
        }
    }
}

fn sse_head() -> String {
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n".into()
}

fn push_chunk(out: &mut String, data: &Value) {
    out.push_str(&format!("data: {data}\n\n"));
}

fn chunk(body: &Value, n: usize, choices: Value) -> Value {
    json!({"id": format!("chatcmpl-mock-{n}"), "object": "chat.completion.chunk", "created": crate::time::now_unix(),
        "model": body["model"].as_str().unwrap_or("mock-model"), "choices": choices})
}

/// Answer with text or a tool call, streamed or whole as the request asks.
/// Returns the usage it reported.
fn write_answer(conn: &mut TcpStream, answer: &Answer, body: &Value, shared: &Shared) -> std::io::Result<Value> {
    let n = shared.ids.fetch_add(1, Ordering::Relaxed);
    let u = usage_for(n);
    let usage = json!({"prompt_tokens": u.input + u.cache_read, "completion_tokens": u.output,
        "total_tokens": u.input + u.cache_read + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cache_read}});
    let (message, finish) = match answer {
        Answer::Shell { tool, command } => {
            let call = json!({"id": format!("call_{n}"), "type": "function",
                "function": {"name": tool, "arguments": json!({"command": command}).to_string()}});
            (json!({"role": "assistant", "content": null, "tool_calls": [call]}), "tool_calls")
        }
        Answer::AfterTool(text) | Answer::Said(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Answer::Side => (json!({"role": "assistant", "content": "ok"}), "stop"),
        _ => (json!({"role": "assistant", "content": DEFAULT_REPLY}), "stop"),
    };
    if body["stream"] != true {
        let whole = json!({"id": format!("chatcmpl-mock-{n}"), "object": "chat.completion",
            "created": crate::time::now_unix(), "model": body["model"].as_str().unwrap_or("mock-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage});
        write_json(conn, 200, &[], &whole)?;
        return Ok(usage);
    }
    let mut delta = message;
    if let Some(calls) = delta["tool_calls"].as_array_mut() {
        for (i, c) in calls.iter_mut().enumerate() {
            c["index"] = i.into();
        }
    }
    let mut out = sse_head();
    push_chunk(&mut out, &chunk(body, n, json!([{"index": 0, "delta": delta, "finish_reason": null}])));
    push_chunk(&mut out, &chunk(body, n, json!([{"index": 0, "delta": {}, "finish_reason": finish}])));
    let mut last = chunk(body, n, json!([]));
    last["usage"] = usage.clone();
    push_chunk(&mut out, &last);
    out.push_str("data: [DONE]\n\n");
    conn.write_all(out.as_bytes())?;
    conn.flush()?;
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn request(prompt: &str) -> Value {
        json!({"model": "m", "stream": true,
            "tools": [{"type": "function", "function": {"name": "read_file"}},
                {"type": "function", "function": {"name": "run_shell_command"}}],
            "messages": [{"role": "system", "content": "You are a CLI. say: nothing"},
                {"role": "user", "content": [{"type": "text", "text": "<system-reminder>\nrun: no\n</system-reminder>"},
                    {"type": "text", "text": prompt}]}]})
    }

    #[test]
    fn directives_pick_the_answer() {
        let shell = Answer::Shell { tool: "run_shell_command".into(), command: "echo hi".into() };
        assert_eq!(classify(&request("Please.\nRUN: echo hi")), shell);
        assert_eq!(classify(&request("run:echo hi")), shell);
        assert_eq!(classify(&request("SAY: just this")), Answer::Said("just this".into()));
        assert_eq!(classify(&request("a task: nothing")), Answer::Default);
        assert_eq!(classify(&request("FAIL: 429")), Answer::Failed(Fault::Status(429)));
        assert_eq!(classify(&request("fail:stream x2")), Answer::Failed(Fault::Stream));
        assert_eq!(classify(&request("FAIL: banana\nSAY: fine")), Answer::Said("fine".into()));
        // A failed prompt and the next, sent as parts of one message: the
        // last part is the prompt.
        let mut merged = request("FAIL: 400");
        merged["messages"][1]["content"].as_array_mut().unwrap().push(json!({"type": "text", "text": "SAY: later"}));
        assert_eq!(classify(&merged), Answer::Said("later".into()));
        assert_eq!(prompt_of(&merged).as_deref(), Some("SAY: later"));
        assert_eq!(classify(&request("[SUGGESTION MODE: Suggest what the user might do]")), Answer::Side);
        let mut no_shell = request("RUN: ls");
        no_shell["tools"] = json!([]);
        assert_eq!(classify(&no_shell), Answer::Default);
        let mut after = request("RUN: ls\nSAY: it ran");
        after["messages"].as_array_mut().unwrap().push(json!({"role": "tool", "tool_call_id": "c", "content": "x"}));
        assert_eq!(classify(&after), Answer::AfterTool("it ran".into()));
        after["messages"][1]["content"] = json!("RUN: ls");
        assert_eq!(classify(&after), Answer::AfterTool(AFTER_TOOL_REPLY.into()));
    }

    #[test]
    fn a_failure_is_served_as_often_as_told() {
        let spent = Mutex::new(HashMap::new());
        let body = request("FAIL: 500 x2\nSAY: recovered");
        assert_eq!(classify_and_spend(&body, &spent), Answer::Failed(Fault::Status(500)));
        assert_eq!(classify_and_spend(&body, &spent), Answer::Failed(Fault::Status(500)));
        assert_eq!(classify_and_spend(&body, &spent), Answer::Said("recovered".into()));
    }

    fn post(mock: &MockChat, body: &Value) -> String {
        let mut conn = TcpStream::connect(mock.addr).unwrap();
        let body = body.to_string();
        write!(conn, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}", body.len())
            .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    }

    fn chunks(answer: &str) -> Vec<Value> {
        answer
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }

    #[test]
    fn streams_a_tool_call_then_usage() {
        let mock = MockChat::start();
        let answer = post(&mock, &request("RUN: echo hi"));
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream"), "{answer}");
        assert!(answer.trim_end().ends_with("data: [DONE]"), "{answer}");
        let chunks = chunks(&answer);
        let call = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!((call["index"].as_u64(), call["function"]["name"].as_str()), (Some(0), Some("run_shell_command")));
        let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
        assert_eq!(args, json!({"command": "echo hi"}));
        assert_eq!(chunks[1]["choices"][0]["finish_reason"], "tool_calls");
        let usage = &chunks[2]["usage"];
        assert_eq!(chunks[2]["choices"], json!([]));
        let sum = MockChat::usage_sum(&mock.requests());
        assert_eq!(usage["prompt_tokens"].as_u64(), Some(sum.input + sum.cache_read));
        assert_eq!(usage["completion_tokens"].as_u64(), Some(sum.output));
        assert_eq!(sum.cache_write, 0);
    }

    #[test]
    fn answers_whole_when_not_streamed_and_fails_as_told() {
        let mock = MockChat::start();
        let mut body = request("SAY: plain");
        body["stream"] = false.into();
        let answer = post(&mock, &body);
        let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(json["choices"][0]["message"]["content"], "plain");
        assert_eq!(json["choices"][0]["finish_reason"], "stop");
        assert!(json["usage"]["prompt_tokens"].as_u64().unwrap() > 0);

        let answer = post(&mock, &request("FAIL: 429"));
        assert!(answer.starts_with("HTTP/1.1 429 Too Many Requests"), "{answer}");
        assert!(answer.contains("retry-after: 30") && answer.contains("rate_limit_exceeded"), "{answer}");
        // Served once: the retry gets an answer.
        assert!(post(&mock, &request("FAIL: 429")).starts_with("HTTP/1.1 200 OK"));
        let answer = post(&mock, &request("FAIL: stream"));
        assert!(chunks(&answer).iter().any(|c| c["error"]["type"] == "server_error"), "{answer}");
        let answers: Vec<Answer> = mock.requests().into_iter().map(|r| r.answer).collect();
        assert_eq!(answers[1], Answer::Failed(Fault::Status(429)));
        assert!(mock.requests()[1].usage.is_null());
    }
}
