//! A mock Gemini API (Google's Generative Language API, `v1beta`) on
//! 127.0.0.1, for driving the real Gemini CLI offline. Gemini CLI 0.61
//! pointed here by `GOOGLE_GEMINI_BASE_URL` sends, per model request of a
//! turn, `POST /v1beta/models/<model>:streamGenerateContent?alt=sse` (an SSE
//! stream of `GenerateContentResponse`s, `data:` lines only), and once per
//! prompt a routing call, `POST …/models/<model>:generateContent` asking for
//! JSON against a schema (`complexity_reasoning`, `complexity_score`): it
//! gets a value of that schema. `:countTokens` gets a count.
//!
//! Use it as `csd::mock::gemini`. One request per connection, then close.
//! What it answers is scripted by directives in the prompt (the text of the
//! last user content Gemini CLI did not inject itself: its
//! `<session_context>` part is passed over), each running to the end of its
//! line, the same words as the other mocks (`KEY: value` or `key:value`):
//! - `RUN: <command>`: a `functionCall` of Gemini CLI's `run_shell_command`;
//! - `SAY: <text>`: that text, as the whole answer or the final one after a
//!   tool; with no directive the answer is [`DEFAULT_REPLY`], after a tool
//!   [`AFTER_TOOL_REPLY`];
//! - `SLEEP: <secs>` (or `wait:<secs>`): the answer comes that much later;
//! - `FAIL: <how>` (or `fail:<how>`, `… xN`: the first N requests of the
//!   prompt): a status (`400`, `401`, `403`, `404`, `429`, `500`, `503`, …)
//!   with Google's error body (`{"error": {"code", "message", "status"}}`; a
//!   429 is `RESOURCE_EXHAUSTED` with a `RetryInfo` of [`RETRY_AFTER`]
//!   seconds), `usage` (a 429 quota error), `stream` (a 200 stream cut off
//!   after its first chunk) or `reset` (the connection dropped unanswered).
//!   A failure is served once per prompt unless `xN` says more: a CLI that
//!   retries gets the ordinary answer next.
//!
//! Every answer of the stream reports `usageMetadata` that differs per
//! answer (`http::usage_for` of its number): `promptTokenCount` (cached
//! ones included, as Google counts), `cachedContentTokenCount`,
//! `candidatesTokenCount`. The routing call's answer reports none.

use super::anthropic::Failure;
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
/// Gemini CLI's shell tool.
pub const SHELL_TOOL: &str = "run_shell_command";
/// The API key a Gemini CLI pointed at this mock is given.
pub const API_KEY: &str = "mock-gemini-key";
/// What a 429's `RetryInfo` says to wait, in seconds.
pub const RETRY_AFTER: u64 = 30;
/// The text Gemini CLI puts before the first prompt of a session.
const CONTEXT_TAG: &str = "<session_context>";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The per-prompt routing (model choice) call.
    Route,
    Shell {
        command: String,
    },
    AfterTool,
    Said(String),
    Failed(Failure),
    CountTokens,
    Default,
    NotFound,
}

pub type Recorded = http::Recorded<Answer>;
/// How many times each prompt's `FAIL:` was served.
type Spent = Mutex<HashMap<String, u32>>;
type Shared = http::State<Answer, Spent>;

pub struct MockGemini {
    server: http::Server<Answer, Spent>,
}

impl MockGemini {
    /// Listen on 127.0.0.1 (a free port) and serve until dropped.
    pub fn start() -> MockGemini {
        MockGemini { server: http::Server::start("mock-gemini", Mutex::new(HashMap::new()), serve) }
    }

    /// What `GOOGLE_GEMINI_BASE_URL` is set to (Gemini CLI adds `/v1beta/…`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The usage the stream answers among `requests` reported, summed as csd
    /// reports it: `input` without its cached part (`cache_read`); Gemini
    /// reports no cache writes.
    pub fn usage_sum(requests: &[Recorded]) -> Usage {
        let mut sum = Usage { input: 0, output: 0, cache_read: 0, cache_write: 0 };
        for u in requests.iter().map(|r| &r.usage).filter(|u| !u.is_null()) {
            let n = |k: &str| u[k].as_u64().unwrap_or(0);
            sum.input += n("promptTokenCount") - n("cachedContentTokenCount");
            sum.output += n("candidatesTokenCount") + n("thoughtsTokenCount");
            sum.cache_read += n("cachedContentTokenCount");
        }
        sum
    }

    /// The model's own time in answering `requests`.
    pub fn busy_time(requests: &[Recorded]) -> Duration {
        http::busy_time(requests)
    }
}

/// `requests`, `count` and `requests_since` come from the server.
impl std::ops::Deref for MockGemini {
    type Target = http::Server<Answer, Spent>;
    fn deref(&self) -> &Self::Target {
        &self.server
    }
}

fn serve(mut conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Some(http::Incoming { req, arrived, body, route }) = http::receive(&conn)? else { return Ok(()) };
    let method = route.rsplit_once(':').map_or("", |(_, m)| m);
    let mut sent = Value::Null;
    let answer = match (req.method.as_str(), method) {
        ("POST", "streamGenerateContent" | "generateContent") => {
            let answer = classify_and_spend(&body, &shared.config);
            if answer != Answer::Route && !after_tool(&body) {
                if let Some(secs) = directive(&prompt_of(&body).unwrap_or_default(), "SLEEP") {
                    std::thread::sleep(Duration::from_secs_f64(secs.parse::<f64>().unwrap_or(0.0).clamp(0.0, 600.0)));
                }
            }
            match &answer {
                Answer::Failed(f) => fail(&mut conn, f, &body, shared)?,
                Answer::Route => write_json(&mut conn, 200, &routed(&body))?,
                a => {
                    let (response, usage) = response_for(a, &body, shared);
                    sent = usage;
                    if method == "streamGenerateContent" {
                        write_stream(&mut conn, &[response])?;
                    } else {
                        write_json(&mut conn, 200, &response)?;
                    }
                }
            }
            answer
        }
        ("POST", "countTokens") => {
            write_json(&mut conn, 200, &json!({"totalTokens": 10}))?;
            Answer::CountTokens
        }
        ("GET", _) => {
            write_json(&mut conn, 200, &json!({"models": [{"name": "models/mock-model"}]}))?;
            Answer::Default
        }
        _ => {
            let err = json!({"error": {"code": 404, "message": "mock: no such route", "status": "NOT_FOUND"}});
            write_json(&mut conn, 404, &err)?;
            Answer::NotFound
        }
    };
    let record =
        Recorded { method: req.method, path: req.path, body, answer, usage: sent, arrived, answered: Instant::now() };
    shared.log.lock().unwrap().push(record);
    Ok(())
}

/// Whether the request asks for JSON against a schema (the routing call).
fn wants_json(body: &Value) -> bool {
    body["generationConfig"]["responseMimeType"] == "application/json"
}

/// Whether the last content is a tool's result (a `functionResponse`).
pub fn after_tool(body: &Value) -> bool {
    let contents = body["contents"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    contents
        .last()
        .and_then(|c| c["parts"].as_array())
        .is_some_and(|parts| parts.iter().any(|p| p.get("functionResponse").is_some()))
}

/// The text of the last user content with text in it, Gemini CLI's own
/// `<session_context>` part left out.
pub fn prompt_of(body: &Value) -> Option<String> {
    let contents = body["contents"].as_array()?;
    contents.iter().rev().find_map(|c| {
        if c["role"] != "user" {
            return None;
        }
        let texts: Vec<&str> = c["parts"]
            .as_array()?
            .iter()
            .filter_map(|p| p["text"].as_str())
            .filter(|t| !t.trim_start().starts_with(CONTEXT_TAG))
            .collect();
        (!texts.is_empty()).then(|| texts.join("\n"))
    })
}

/// `KEY: value` (or `key:value`, with `wait` for `SLEEP`) anywhere in the
/// prompt but inside a word, the value running to the line's end.
pub fn directive(prompt: &str, key: &str) -> Option<String> {
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

/// What to answer, a `FAIL:` already served as often as it says passed
/// over; the prompt a `FAIL:` is counted against.
fn classify_with(body: &Value, spent: &HashMap<String, u32>) -> (Answer, Option<String>) {
    if wants_json(body) {
        return (Answer::Route, None);
    }
    let prompt = prompt_of(body).unwrap_or_default();
    if after_tool(body) {
        return (Answer::AfterTool, None);
    }
    if let Some((failure, times)) = directive(&prompt, "FAIL").and_then(|how| Failure::parse_times(&how)) {
        if spent.get(&prompt).is_none_or(|n| *n < times) {
            return (Answer::Failed(failure), Some(prompt));
        }
    }
    if let Some(command) = directive(&prompt, "RUN") {
        return (Answer::Shell { command }, None);
    }
    match directive(&prompt, "SAY") {
        Some(text) => (Answer::Said(text), None),
        None => (Answer::Default, None),
    }
}

/// What the mock would answer `body` now (nothing is counted).
pub fn classify(body: &Value, spent: &Spent) -> Answer {
    classify_with(body, &spent.lock().unwrap()).0
}

fn classify_and_spend(body: &Value, spent: &Spent) -> Answer {
    let mut spent = spent.lock().unwrap();
    let (answer, prompt) = classify_with(body, &spent);
    if let (Answer::Failed(_), Some(p)) = (&answer, prompt) {
        *spent.entry(p).or_default() += 1;
    }
    answer
}

/// A value of the JSON schema the routing call asks for (Gemini's schema
/// types are upper case): the first of an enum, the minimum of a number.
pub fn from_schema(schema: &Value) -> Value {
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match schema["type"].as_str().unwrap_or("object").to_ascii_lowercase().as_str() {
        "object" => {
            let props = schema["properties"].as_object();
            Value::Object(props.into_iter().flatten().map(|(k, v)| (k.clone(), from_schema(v))).collect())
        }
        "array" => json!([]),
        "integer" | "number" => schema.get("minimum").cloned().unwrap_or(json!(1)),
        "boolean" => json!(false),
        _ => json!("mock"),
    }
}

/// The routing call's answer: a value of its schema, as the model's text.
fn routed(body: &Value) -> Value {
    let config = &body["generationConfig"];
    let schema = config.get("responseJsonSchema").or_else(|| config.get("responseSchema")).unwrap_or(&Value::Null);
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": from_schema(schema).to_string()}]},
        "finishReason": "STOP", "index": 0}], "modelVersion": "mock-model"})
}

/// The answer's one response, and the usage it reported.
fn response_for(answer: &Answer, body: &Value, shared: &Shared) -> (Value, Value) {
    let prompt = prompt_of(body).unwrap_or_default();
    let part = match answer {
        Answer::Shell { command } => json!({"functionCall": {"name": SHELL_TOOL, "args": {"command": command}}}),
        Answer::AfterTool => json!({"text": directive(&prompt, "SAY").unwrap_or_else(|| AFTER_TOOL_REPLY.into())}),
        Answer::Said(text) => json!({"text": text}),
        _ => json!({"text": DEFAULT_REPLY}),
    };
    let u = usage_for(shared.ids.fetch_add(1, Ordering::Relaxed));
    let usage = json!({"promptTokenCount": u.input + u.cache_read, "cachedContentTokenCount": u.cache_read,
        "candidatesTokenCount": u.output, "totalTokenCount": u.input + u.cache_read + u.output});
    let response = json!({"candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP",
        "index": 0}], "usageMetadata": usage, "modelVersion": "mock-model"});
    (response, usage)
}

fn write_json(conn: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
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

fn sse_head() -> String {
    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n".into()
}

/// The stream Gemini CLI reads: one `data:` line per response.
fn write_stream(conn: &mut TcpStream, responses: &[Value]) -> std::io::Result<()> {
    let mut out = sse_head();
    for r in responses {
        out.push_str(&format!("data: {r}\r\n\r\n"));
    }
    conn.write_all(out.as_bytes())?;
    conn.flush()
}

/// Google's status word for an HTTP status.
pub fn status_word(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    }
}

/// The error body of `status`, as the Gemini API writes it.
pub fn error_body(status: u16) -> Value {
    let message = match status {
        400 => "mock: the request is invalid".to_string(),
        401 | 403 => "API key not valid. Please pass a valid API key.".to_string(),
        404 => "models/mock-model is not found for API version v1beta".to_string(),
        429 => "mock: you exceeded your current quota".to_string(),
        503 => "mock: the model is overloaded. Please try again later.".to_string(),
        s => format!("mock failure {s}"),
    };
    let mut error = json!({"code": status, "message": message, "status": status_word(status)});
    if status == 429 {
        error["details"] = json!([{"@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{RETRY_AFTER}s")}]);
    }
    json!({ "error": error })
}

fn fail(conn: &mut TcpStream, failure: &Failure, body: &Value, shared: &Shared) -> std::io::Result<()> {
    match failure {
        Failure::Status(status) => write_json(conn, *status, &error_body(*status)),
        Failure::Usage => write_json(conn, 429, &error_body(429)),
        Failure::Stream => {
            // A first chunk, then the connection closes mid-answer.
            let (first, _) = response_for(&Answer::Said("partial".into()), body, shared);
            let mut out = sse_head();
            let mut partial = first;
            partial["candidates"][0].as_object_mut().map(|c| c.remove("finishReason"));
            out.push_str(&format!("data: {partial}\r\n\r\n"));
            conn.write_all(out.as_bytes())?;
            conn.flush()?;
            conn.shutdown(std::net::Shutdown::Both)
        }
        Failure::Reset => conn.shutdown(std::net::Shutdown::Both),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn body(prompt: &str) -> Value {
        json!({"contents": [{"role": "user", "parts": [{"text": "<session_context>\nRUN: no\n</session_context>"},
            {"text": prompt}]}], "tools": [{"functionDeclarations": [{"name": SHELL_TOOL}]}]})
    }

    fn post(mock: &MockGemini, path: &str, body: &Value) -> (u16, String) {
        let mut c = TcpStream::connect(mock.server.addr).unwrap();
        let b = body.to_string();
        write!(c, "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{b}", b.len()).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        let status = out.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
    }

    fn data(stream: &str) -> Vec<Value> {
        stream.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect()
    }

    const STREAM: &str = "/v1beta/models/gemini-3.8-flash:streamGenerateContent?alt=sse";

    #[test]
    fn directives_pick_the_answer_and_the_session_context_is_not_the_prompt() {
        let spent = Mutex::new(HashMap::new());
        assert_eq!(classify(&body("hi"), &spent), Answer::Default);
        assert_eq!(classify(&body("go\nRUN: echo hi"), &spent), Answer::Shell { command: "echo hi".into() });
        assert_eq!(classify(&body("say:ok"), &spent), Answer::Said("ok".into()));
        assert_eq!(classify(&body("FAIL: 429"), &spent), Answer::Failed(Failure::Status(429)));
        assert_eq!(classify(&body("task: x"), &spent), Answer::Default, "ask: inside a word is no directive");
        let mut after = body("RUN: echo hi\nSAY: fine");
        after["contents"].as_array_mut().unwrap().push(json!({"role": "model", "parts": [{"functionCall": {}}]}));
        after["contents"].as_array_mut().unwrap().push(json!({"role": "user", "parts": [{"functionResponse": {}}]}));
        assert_eq!(classify(&after, &spent), Answer::AfterTool);
        let route = json!({"contents": body("RUN: x")["contents"], "generationConfig": {
            "responseMimeType": "application/json"}});
        assert_eq!(classify(&route, &spent), Answer::Route);
    }

    #[test]
    fn a_shell_call_then_the_final_answer_stream_with_usage() {
        let mock = MockGemini::start();
        let (status, stream) = post(&mock, STREAM, &body("RUN: echo csd\nSAY: all done"));
        assert_eq!(status, 200);
        let chunks = data(&stream);
        let part = &chunks[0]["candidates"][0]["content"]["parts"][0];
        assert_eq!(part["functionCall"], json!({"name": SHELL_TOOL, "args": {"command": "echo csd"}}));
        let mut next = body("RUN: echo csd\nSAY: all done");
        next["contents"].as_array_mut().unwrap().push(json!({"role": "model", "parts": [part]}));
        next["contents"].as_array_mut().unwrap().push(json!({"role": "user", "parts": [{"functionResponse":
            {"name": SHELL_TOOL, "response": {"output": "csd"}}}]}));
        let (_, stream) = post(&mock, STREAM, &next);
        assert_eq!(data(&stream)[0]["candidates"][0]["content"]["parts"][0]["text"], "all done");
        let reqs = mock.requests();
        assert_eq!(reqs[1].answer, Answer::AfterTool);
        let (a, b) = (usage_for(1), usage_for(2));
        let sum = MockGemini::usage_sum(&reqs);
        assert_eq!(
            (sum.input, sum.output, sum.cache_read),
            (a.input + b.input, a.output + b.output, a.cache_read + b.cache_read)
        );
        assert_eq!(reqs[0].usage["promptTokenCount"], a.input + a.cache_read);
    }

    #[test]
    fn the_routing_call_gets_a_value_of_its_schema() {
        let mock = MockGemini::start();
        let schema = json!({"type": "OBJECT", "properties": {"complexity_reasoning": {"type": "STRING"},
            "complexity_score": {"type": "INTEGER", "minimum": 1}, "pick": {"type": "STRING", "enum": ["flash", "pro"]}}});
        let req = json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": schema}});
        let (status, text) = post(&mock, "/v1beta/models/gemini-3.5-flash-lite:generateContent", &req);
        assert_eq!(status, 200);
        let answer: Value = serde_json::from_str(&text).unwrap();
        let inner: Value =
            serde_json::from_str(answer["candidates"][0]["content"]["parts"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(inner, json!({"complexity_reasoning": "mock", "complexity_score": 1, "pick": "flash"}));
        assert_eq!(mock.requests()[0].answer, Answer::Route);
        assert!(mock.requests()[0].usage.is_null(), "the routing call counts no tokens");
    }

    #[test]
    fn failures_come_as_googles_errors_once_per_prompt_unless_told() {
        let mock = MockGemini::start();
        let (status, text) = post(&mock, STREAM, &body("FAIL: 429"));
        assert_eq!(status, 429);
        let e: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (e["error"]["code"].as_u64(), e["error"]["status"].as_str()),
            (Some(429), Some("RESOURCE_EXHAUSTED"))
        );
        assert_eq!(e["error"]["details"][0]["retryDelay"], "30s");
        // The retry of the same prompt gets the ordinary answer.
        assert_eq!(post(&mock, STREAM, &body("FAIL: 429")).0, 200);
        // `x3`: three times.
        for _ in 0..3 {
            assert_eq!(post(&mock, STREAM, &body("fail:400 x3")).0, 400);
        }
        assert_eq!(post(&mock, STREAM, &body("fail:400 x3")).0, 200);
        let (status, text) = post(&mock, STREAM, &body("FAIL: 401"));
        assert_eq!(status, 401);
        assert!(text.contains("UNAUTHENTICATED"), "{text}");
        let (status, text) = post(&mock, STREAM, &body("FAIL: stream"));
        assert_eq!(status, 200);
        assert!(data(&text)[0]["candidates"][0].get("finishReason").is_none(), "{text}");
        assert_eq!(post(&mock, STREAM, &body("FAIL: reset")).0, 0);
    }

    #[test]
    fn sleep_holds_the_answer() {
        let mock = MockGemini::start();
        let t = Instant::now();
        assert_eq!(post(&mock, STREAM, &body("SLEEP: 0.3\nSAY: late")).0, 200);
        assert!(t.elapsed() >= Duration::from_millis(300));
    }
}
