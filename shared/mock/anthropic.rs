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
//! - a line `call: <tool> <json>` (a tool the request offers, or an MCP tool
//!   named by its end, `csd__launch`):
//!   a `tool_use` of that tool with that input;
//! - a line `wait: <secs>` (with `say:` or the default): the answer comes
//!   that much later, so a turn is still in its model request (not in a tool).
//! - a line `ask: <question> | <option> | <option>…`: a call of the
//!   `AskUserQuestion` tool with that question (one question per `ask:`
//!   line); the answer after it quotes the tool's result (which names the
//!   option picked).
//!
//! Failures on demand, each the way the real API fails (`fail:` words shared
//! with the OpenAI mock):
//! - `fail:400`, `fail:401`, `fail:403`, `fail:404`, `fail:429`, `fail:500`,
//!   `fail:529`, or any other status: an error answer with the API's error
//!   type for it; 429 carries `retry-after` and the rate-limit reset headers
//!   ([`RETRY_AFTER_SECS`] ahead);
//! - `fail:usage`: a 429 as a subscription's usage limit comes, with the
//!   unified rate-limit headers (`…-unified-status: rejected`, its reset);
//! - `fail:stream`: a 200 stream that breaks off with an `error` event after
//!   the message started;
//! - `fail:reset`: the connection is dropped (RST) once the request is read.
//!
//! A failure is served once per prompt (`fail:WORD xN`: N times): a client
//! that retries (Claude Code does, `CLAUDE_CODE_MAX_RETRIES`, 10 by default)
//! gets the ordinary answer on its next try, and a later prompt in the same
//! conversation, whose request still carries the failed one, is not failed
//! again.
//!
//! Every answer reports usage as the real API does (streamed: input and cache
//! counts in `message_start`, the final `output_tokens` in `message_delta`),
//! numbers that differ per answer (`http::usage_for` of the answer's number).
//! Every request is recorded with the usage sent, when it arrived and when
//! its answer was fully written, so a test can assert on it and subtract the
//! model's time.

use super::http;

use http::usage_for;
pub use http::Usage;
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
/// How far ahead a `fail:429` says the request may be retried.
pub const RETRY_AFTER_SECS: i64 = 60;
/// How far ahead a `fail:usage` says the usage limit resets.
pub const USAGE_RESET_SECS: i64 = 3600;
/// The rate-limit reset headers a `fail:429` carries (RFC 3339 times).
const RESET_HEADERS: [&str; 4] = [
    "anthropic-ratelimit-requests-reset",
    "anthropic-ratelimit-tokens-reset",
    "anthropic-ratelimit-input-tokens-reset",
    "anthropic-ratelimit-output-tokens-reset",
];
/// How Claude Code marks a turn the user interrupted.
const INTERRUPTED: &str = "[Request interrupted by user";
/// The tool `ask:` calls.
pub const ASK_TOOL: &str = "AskUserQuestion";

/// How a request was classified, i.e. what the mock answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Title,
    ToolCall {
        command: String,
    },
    AfterToolResult {
        output: String,
    },
    Said(String),
    /// `call: TOOL {JSON}`: one call of TOOL (any tool the request offers,
    /// an MCP server's `mcp__SERVER__NAME` too) with that input.
    Call {
        tool: String,
        input: Value,
    },
    Default,
    /// `ask:` lines: one call of AskUserQuestion with these questions, each
    /// with its options.
    Ask {
        questions: Vec<(String, Vec<String>)>,
    },
    /// `fail:…`: the request failed this way.
    Failed(Failure),
    CountTokens,
    NotFound,
}

/// How a `fail:` directive fails a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An error answer with this HTTP status.
    Status(u16),
    /// A 429 for a used-up subscription limit, with its reset.
    Usage,
    /// An `error` event in the middle of a 200 stream.
    Stream,
    /// The connection dropped without an answer.
    Reset,
}

impl Failure {
    /// `WORD` or `WORD xN` after `fail:`: the failure, and how many requests
    /// of its prompt get it (1 unless told).
    pub fn parse_times(rest: &str) -> Option<(Failure, u32)> {
        let (word, times) = match rest.trim().split_once(" x") {
            Some((w, n)) => (w, n.trim().parse().ok().filter(|n| *n > 0)?),
            None => (rest, 1),
        };
        Some((Failure::parse(word)?, times))
    }

    /// The word after `fail:`; `None` for one the mock does not know.
    pub fn parse(word: &str) -> Option<Failure> {
        match word.trim() {
            "usage" => Some(Failure::Usage),
            "stream" => Some(Failure::Stream),
            "reset" => Some(Failure::Reset),
            n => n.parse::<u16>().ok().filter(|s| (400..600).contains(s)).map(Failure::Status),
        }
    }
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
    /// How many times each prompt's `fail:` was served (it is served once,
    /// or N times for `fail:WORD xN`).
    pub spent: Arc<std::sync::Mutex<std::collections::HashMap<String, u32>>>,
}

impl Config {
    /// Claude Code's Bash tool.
    pub fn claude() -> Config {
        Config {
            tool_name: "Bash".into(),
            tool_input: Arc::new(|cmd| json!({"command": cmd, "description": "Run the command the user asked for"})),
            lead_text: Some("Running it now.".into()),
            spent: Arc::default(),
        }
    }

    /// Any tool that takes `{"command": …}`.
    pub fn with_tool(name: &str) -> Config {
        Config {
            tool_name: name.into(),
            tool_input: Arc::new(|cmd| json!({"command": cmd})),
            lead_text: None,
            spent: Arc::default(),
        }
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
    let Some(http::Incoming { req, arrived, body, route }) = http::receive(&conn)? else { return Ok(()) };
    let mut sent = Value::Null;
    let answer = match (req.method.as_str(), route.as_str()) {
        ("POST", "/v1/messages") => {
            let answer = classify_and_spend(&body, &shared.config);
            if matches!(answer, Answer::Said(_) | Answer::Default) {
                std::thread::sleep(delay_of(&body));
            }
            if let Answer::Failed(f) = &answer {
                fail(&mut conn, f, body.get("model").and_then(Value::as_str).unwrap_or("claude-sonnet-4-5"))?;
                let record = Recorded {
                    method: req.method,
                    path: req.path,
                    body,
                    answer,
                    usage: Value::Null,
                    arrived,
                    answered: Instant::now(),
                };
                shared.log.lock().unwrap().push(record);
                return Ok(());
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
/// system-role element after it). A `fail:` served as often as it says
/// (`config.spent`) counts for nothing.
pub fn classify(body: &Value, config: &Config) -> Answer {
    let spent = config.spent.lock().unwrap().clone();
    classify_skipping(body, config, &|prompt, times| spent.get(prompt).is_some_and(|n| *n >= times)).0
}

/// `classify`, counting the `fail:` it serves against its prompt.
fn classify_and_spend(body: &Value, config: &Config) -> Answer {
    let mut spent = config.spent.lock().unwrap();
    let (answer, prompt) = classify_skipping(body, config, &|p, times| spent.get(p).is_some_and(|n| *n >= times));
    if let (Answer::Failed(_), Some(p)) = (&answer, prompt) {
        *spent.entry(p).or_default() += 1;
    }
    answer
}

/// The answer, and for a `fail:` the text of the prompt (content block) it
/// came from. Blocks are looked at one by one: a prompt sent after a failed
/// one can be merged with it into one user message.
fn classify_skipping(body: &Value, config: &Config, spent: &dyn Fn(&str, u32) -> bool) -> (Answer, Option<String>) {
    let messages = body.get("messages").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let Some(last_user) = messages.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user")) else {
        return (Answer::Default, None);
    };
    let content = last_user.get("content").unwrap_or(&Value::Null);
    if let Some(blocks) = content.as_array() {
        // A tool call the user interrupted comes back as a refusal, with the
        // user's next prompt after it: that prompt is what is answered.
        let interrupted = blocks.iter().any(|b| b["text"].as_str().is_some_and(|t| t.starts_with(INTERRUPTED)));
        if let Some(result) = blocks.iter().find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result")) {
            let output = text_of(result.get("content").unwrap_or(&Value::Null));
            if !interrupted {
                return (Answer::AfterToolResult { output }, None);
            }
        }
    }
    let text = text_of(content);
    let system = text_of(body.get("system").unwrap_or(&Value::Null));
    // The title request quotes the user's prompt, so it is recognised first.
    if text.contains("Write the title in") || system.contains("Write the title in") {
        return (Answer::Title, None);
    }
    let offers = |name: &str| {
        body.get("tools")
            .and_then(Value::as_array)
            .is_some_and(|tools| tools.iter().any(|t| t.get("name").and_then(Value::as_str) == Some(name)))
    };
    // Newest first: a prompt sent after a failed one is merged with it into
    // one user message (the older text gaining a trailing newline).
    let prompts: Vec<String> = match content {
        Value::Array(blocks) => blocks.iter().rev().map(|b| text_of(&Value::Array(vec![b.clone()]))).collect(),
        other => vec![text_of(other)],
    };
    for prompt in prompts.iter().map(|p| p.trim()) {
        for line in prompt.lines() {
            let line = line.trim();
            if let Some(cmd) = line.strip_prefix("run:") {
                if offers(&config.tool_name) {
                    return (Answer::ToolCall { command: cmd.trim().to_string() }, None);
                }
            } else if let Some(said) = line.strip_prefix("say:") {
                return (Answer::Said(said.trim().to_string()), None);
            } else if let Some((tool, input)) = line.strip_prefix("call:").and_then(|c| c.trim().split_once(' ')) {
                if let (Some(tool), Ok(input)) = (offered_as(body, tool), serde_json::from_str::<Value>(input)) {
                    return (Answer::Call { tool, input }, None);
                }
            } else if line.starts_with("ask:") && offers(ASK_TOOL) {
                let questions = prompt
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("ask:"))
                    .filter_map(|ask| {
                        let mut parts = ask.split('|').map(str::trim).filter(|p| !p.is_empty());
                        Some((parts.next()?.to_string(), parts.map(str::to_string).collect()))
                    })
                    .collect();
                return (Answer::Ask { questions }, None);
            } else if let Some((how, times)) = line.strip_prefix("fail:").and_then(Failure::parse_times) {
                if !spent(prompt, times) {
                    return (Answer::Failed(how), Some(prompt.to_string()));
                }
            }
        }
    }
    (Answer::Default, None)
}

/// The tool the request offers as `name`, or else the one offered whose
/// name ends with `_name` (an MCP tool, whatever prefix its client gives it:
/// `csd__launch` is Claude Code's `mcp__csd__launch`, or a plugin's
/// `mcp__plugin_csd_csd__launch`).
fn offered_as(body: &Value, name: &str) -> Option<String> {
    let tools = body.get("tools").and_then(Value::as_array)?;
    let names: Vec<&str> = tools.iter().filter_map(|t| t.get("name").and_then(Value::as_str)).collect();
    if names.contains(&name) {
        return Some(name.to_string());
    }
    let suffix = format!("_{name}");
    let mut ends = names.iter().filter(|n| n.ends_with(&suffix));
    match (ends.next(), ends.next()) {
        (Some(only), None) => Some(only.to_string()),
        _ => None,
    }
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
        Answer::Call { tool, input } => {
            let id = format!("toolu_mock_{}", shared.ids.fetch_add(1, Ordering::Relaxed));
            vec![json!({"type": "tool_use", "id": id, "name": tool, "input": input})]
        }
        Answer::Ask { questions } => {
            let id = format!("toolu_mock_{}", shared.ids.fetch_add(1, Ordering::Relaxed));
            let questions: Vec<Value> = questions
                .iter()
                .enumerate()
                .map(|(n, (question, options))| {
                    let options: Vec<Value> = options
                        .iter()
                        .enumerate()
                        .map(|(i, o)| json!({"label": o, "description": format!("Option {} of the mock", i + 1)}))
                        .collect();
                    json!({"question": question, "header": format!("Mock {}", n + 1), "options": options,
                        "multiSelect": false})
                })
                .collect();
            vec![json!({"type": "tool_use", "id": id, "name": ASK_TOOL, "input": {"questions": questions}})]
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
    write_json_with(conn, status, &[], body)
}

fn write_json_with(conn: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let mut head = format!("HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\n", reason_phrase(status));
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    write!(conn, "{head}content-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())?;
    conn.flush()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Error",
    }
}

/// The API's error type and message for an HTTP status, as the real API
/// words them.
pub fn error_for(status: u16, model: &str) -> (&'static str, String) {
    match status {
        400 => ("invalid_request_error", "mock: messages: the request is invalid".into()),
        401 => ("authentication_error", "invalid x-api-key".into()),
        402 => ("billing_error", "Your credit balance is too low to access the Anthropic API.".into()),
        403 => ("permission_error", "Your API key does not have permission to use the specified resource.".into()),
        404 => ("not_found_error", format!("model: {model}")),
        413 => ("request_too_large", "Request exceeds the maximum allowed number of bytes.".into()),
        429 => ("rate_limit_error", "This request would exceed the rate limit for your organization.".into()),
        529 => ("overloaded_error", "Overloaded".into()),
        _ => ("api_error", "Internal server error".into()),
    }
}

/// Fail a request as `how` says.
fn fail(conn: &mut TcpStream, how: &Failure, model: &str) -> std::io::Result<()> {
    let error = |kind: &str, message: &str| json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_mock_failure"});
    let now = crate::time::now_unix();
    match how {
        Failure::Status(status) => {
            let (kind, message) = error_for(*status, model);
            let mut headers = vec![("request-id", "req_mock_failure".to_string())];
            if *status == 429 {
                let reset = crate::time::iso_from_unix(now + RETRY_AFTER_SECS);
                headers.push(("retry-after", RETRY_AFTER_SECS.to_string()));
                headers.extend(RESET_HEADERS.iter().map(|h| (*h, reset.clone())));
                headers.push(("anthropic-ratelimit-requests-remaining", "0".into()));
            }
            write_json_with(conn, *status, &headers, &error(kind, &message))
        }
        Failure::Usage => {
            let reset = now + USAGE_RESET_SECS;
            let headers = [
                ("request-id", "req_mock_failure".to_string()),
                ("anthropic-ratelimit-unified-status", "rejected".into()),
                ("anthropic-ratelimit-unified-reset", reset.to_string()),
                ("anthropic-ratelimit-unified-representative-claim", "five_hour".into()),
                ("anthropic-ratelimit-unified-5h-status", "rejected".into()),
                ("anthropic-ratelimit-unified-5h-reset", reset.to_string()),
                ("anthropic-ratelimit-unified-5h-utilization", "1.0".into()),
                ("retry-after", USAGE_RESET_SECS.to_string()),
            ];
            let message = "You have reached your usage limit.";
            write_json_with(conn, 429, &headers, &error("rate_limit_error", message))
        }
        Failure::Stream => {
            let mut out = String::from(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
                 connection: close\r\n\r\n",
            );
            let start = json!({"type": "message_start", "message": {"id": "msg_mock_broken", "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 1, "output_tokens": 1}}});
            out.push_str(&format!("event: message_start\ndata: {start}\n\n"));
            let err = error("api_error", "Internal server error");
            out.push_str(&format!("event: error\ndata: {err}\n\n"));
            conn.write_all(out.as_bytes())?;
            conn.flush()
        }
        Failure::Reset => {
            // A zero linger makes close send RST: the client sees a reset, not an EOF.
            use std::os::fd::AsRawFd;
            let linger = nix::libc::linger { l_onoff: 1, l_linger: 0 };
            // SAFETY: a valid socket fd and a linger struct of the size given.
            unsafe {
                nix::libc::setsockopt(
                    conn.as_raw_fd(),
                    nix::libc::SOL_SOCKET,
                    nix::libc::SO_LINGER,
                    (&linger as *const nix::libc::linger).cast(),
                    std::mem::size_of::<nix::libc::linger>() as nix::libc::socklen_t,
                )
            };
            Ok(())
        }
    }
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
