//! GitHub Copilot CLI's hook payloads as csd events, and how a turn ended
//! (measured on 1.0.102; the payloads are in docs/harness-copilot.md).
//! Registered under their PascalCase names, its hooks send Claude Code
//! shaped payloads (`hook_event_name`, `session_id`, `tool_name`,
//! `tool_input`, an ISO `timestamp`), read the common way, with these
//! differences:
//! - a failed model request fires `ErrorOccurred` and no `Stop`, and its
//!   payload has no HTTP status (`error.message` is the provider's error
//!   object as JSON, with no status in an OpenAI one). Just after it the
//!   transcript gets a `session.error` line (`statusCode`, `message`:
//!   `<status> <message>`), which ends the turn: `settle` records the stop,
//!   failed, from that line (the transcript is the turn's witness, so
//!   waiters wake on it);
//! - a tool that failed fires `PostToolUseFailure` instead of `PostToolUse`;
//! - its shell tool is `Bash` in the payloads (`bash` in the transcript).

use crate::event::{Event, EventKind};
use crate::verdict::{Failure, Verdict};
use serde_json::{Map, Value};
use std::path::Path;

/// Hooks beyond the lifecycle ones that `hook_events` reads.
pub const TURN_HOOKS: [&str; 1] = ["PostToolUseFailure"];

pub fn hook_events(name: &str, ts: &str, payload: &Map<String, Value>) -> Option<Vec<Event>> {
    match name {
        "PostToolUseFailure" => Some(vec![Event::from_payload(EventKind::PostToolUse, ts.to_string(), payload)]),
        _ => None,
    }
}

/// How the last turn of the transcript at `path` ended, from its tail, and
/// the prompt of that turn (as typed, when the tail holds it): `None` while
/// the turn runs or when it ended well (the Stop hook says so).
pub fn verdict_of_file(path: &Path) -> Option<(Verdict, Option<String>)> {
    verdict_of_tail(&read_tail(path)?)
}

/// The last 256 KiB of the file: the end of the turn is near its end.
fn read_tail(path: &Path) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 256 * 1024;
    let mut f = crate::safefile::open_read(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The verdict the tail's last telling line gives, and the prompt of the
/// turn it ended (the `user.message` its `originatingMessageId` names): a
/// `session.error` fails the turn, an `abort` interrupts it; a prompt, an
/// answer or a tool's line says nothing (the turn runs, or its Stop hook
/// reports it). The file is written a moment after the hooks fire, so the
/// caller checks the prompt is the one of the turn its log has open.
pub fn verdict_of_tail(tail: &[u8]) -> Option<(Verdict, Option<String>)> {
    let mut lines = tail.split(|&b| b == b'\n').rev().filter_map(|l| serde_json::from_slice::<Value>(l).ok());
    let (verdict, origin) = loop {
        let v = lines.next()?;
        match v.get("type").and_then(Value::as_str) {
            Some("session.error") => {
                let data = v.get("data").cloned().unwrap_or(Value::Null);
                let message = data.get("message").and_then(Value::as_str).unwrap_or("");
                let mut failure = failure_of(message);
                let status = data.get("statusCode").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok());
                if let Some(status) = status.filter(|s| failure.status != Some(*s)) {
                    failure = failure_of(&format!("{status} {message}"));
                    failure.message = message.to_string();
                }
                let origin = data.get("originatingMessageId").and_then(Value::as_str).map(str::to_string);
                break (Verdict::Failed(failure), origin);
            }
            Some("abort") => break (Verdict::Interrupted, None),
            Some(
                "user.message"
                | "assistant.message"
                | "assistant.turn_start"
                | "tool.execution_start"
                | "tool.execution_complete",
            ) => return None,
            // A prompt's hook starts before its `user.message` is written.
            Some("hook.start")
                if v.pointer("/data/hookType").and_then(Value::as_str) == Some("userPromptSubmitted") =>
            {
                return None
            }
            _ => {}
        }
    };
    let prompt = lines.find_map(|v| {
        let opens = v.get("type").and_then(Value::as_str) == Some("user.message");
        let id = v.pointer("/data/messageId").and_then(Value::as_str);
        let content = v.pointer("/data/content").and_then(Value::as_str);
        match (opens, &origin) {
            (true, Some(o)) if id == Some(o.as_str()) => content.map(str::to_string),
            (true, None) => content.map(str::to_string),
            _ => None,
        }
    });
    Some((verdict, prompt))
}

/// The failure a message reports: `<status> <message>` as the OpenAI
/// client words it (`session.error`), or the provider's error body as JSON
/// (`{"error": {"message", "type", "code"}}`, or its inner object, as
/// `ErrorOccurred` carries it).
pub fn failure_of(message: &str) -> Failure {
    let text = message.trim();
    let (status, detail, body) = match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => {
            let inner = v.get("error").filter(|e| e.is_object()).unwrap_or(&v).clone();
            let status = ["status", "code"]
                .iter()
                .find_map(|k| inner.get(*k).and_then(Value::as_u64))
                .and_then(|n| u16::try_from(n).ok());
            let detail = inner.get("message").and_then(Value::as_str).unwrap_or(text).to_string();
            (status, detail, Some(inner))
        }
        _ => {
            let (head, rest) = text.split_once(' ').unwrap_or((text, ""));
            match head.parse::<u16>() {
                Ok(s) if (100..600).contains(&s) => (Some(s), rest.trim().to_string(), None),
                _ => (None, text.to_string(), None),
            }
        }
    };
    let word = |k: &str| body.as_ref().and_then(|b| b.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
    let (kind_word, code_word) = (word("type"), word("code"));
    let lower = detail.to_ascii_lowercase();
    let kind = match status {
        Some(401) => "authentication_failed",
        Some(403) => "billing_error",
        Some(404) => "model_not_found",
        Some(429) => "rate_limit",
        Some(503 | 529) => "overloaded",
        Some(500..=599) => "server_error",
        Some(400) if code_word == "invalid_api_key" => "authentication_failed",
        Some(400) => "invalid_request",
        None if kind_word == "invalid_request_error" => "invalid_request",
        None if lower.contains("fetch failed") || lower.contains("econnrefused") || lower.contains("econnreset") => {
            "network"
        }
        _ => "unknown",
    };
    Failure { kind: kind.into(), message: detail, status, retry_at: None }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_failed_tool_is_a_tool_use_done() {
        let failed_tool = payload(json!({"tool_name": "Bash", "tool_input": {"command": "false"}}));
        let ev = hook_events("PostToolUseFailure", "T", &failed_tool).unwrap();
        assert!(matches!(&ev[..], [Event::PostToolUse { tool, .. }] if tool == "Bash"), "{ev:?}");
        assert!(hook_events("Stop", "T", &failed_tool).is_none());
    }

    #[test]
    fn the_transcripts_session_error_fails_the_turn() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/copilot-events.jsonl");
        let text = std::fs::read(path).unwrap();
        let Some((Verdict::Failed(f), prompt)) = verdict_of_tail(&text) else { panic!() };
        assert_eq!(prompt.as_deref(), Some("please fail"));
        assert_eq!((f.kind.as_str(), f.status, f.message.as_str()), ("invalid_request", Some(400), "mock failure"));
        // Up to the first turn's end: it ended well, nothing to say.
        let upto = text.windows(20).position(|w| w == b"\"please fail\",\"trans").unwrap();
        let first = &text[..text[..upto].iter().rposition(|&b| b == b'\n').unwrap() + 1];
        assert_eq!(verdict_of_tail(first), None);
        let next = [&text[..], b"{\"type\":\"user.message\",\"data\":{\"content\":\"again\"}}\n"].concat();
        assert_eq!(verdict_of_tail(&next), None);
        let hook = b"{\"type\":\"hook.start\",\"data\":{\"hookType\":\"userPromptSubmitted\"}}\n";
        assert_eq!(verdict_of_tail(&[&text[..], hook].concat()), None, "the next prompt is on its way");
        let err = json!({"type": "session.error", "data": {"errorType": "query", "message": "Incorrect API key provided: mock-key.", "statusCode": 401}});
        let Some((Verdict::Failed(f), None)) = verdict_of_tail(format!("{err}\n").as_bytes()) else { panic!() };
        assert_eq!((f.kind.as_str(), f.status), ("authentication_failed", Some(401)));
    }

    #[test]
    fn error_messages_map_to_the_contracts_kinds() {
        assert_eq!(failure_of("401 Incorrect API key provided: mock-key.").kind, "authentication_failed");
        assert_eq!(
            failure_of("401 Incorrect API key provided: mock-key.").message,
            "Incorrect API key provided: mock-key."
        );
        let f = failure_of(
            r#"{"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}"#,
        );
        assert_eq!((f.kind.as_str(), f.status), ("invalid_request", None));
        assert_eq!(failure_of("403 no").kind, "billing_error");
        assert_eq!(failure_of("429 slow down").kind, "rate_limit");
        assert_eq!(failure_of("500 mock failure 500").kind, "server_error");
        assert_eq!(failure_of("503 busy").kind, "overloaded");
        assert_eq!(failure_of("fetch failed").kind, "network");
        assert_eq!(failure_of("something odd").kind, "unknown");
    }

    /// The PascalCase payloads Copilot CLI 1.0.102 sent a probe's hooks:
    /// Claude Code's shape, so csd-hook finds the session and the hook.
    #[test]
    fn the_recorded_payloads_read_as_csds_events() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/copilot-hooks.jsonl");
        let text = std::fs::read_to_string(path).unwrap();
        let mut failed = 0;
        for line in text.lines() {
            let p: Map<String, Value> = serde_json::from_str(line).unwrap();
            let name = p["hook_event_name"].as_str().unwrap();
            assert_eq!(p["session_id"].as_str().map(str::len), Some(36), "{line}");
            if super::super::HOOK_EVENTS.contains(&name) && !TURN_HOOKS.contains(&name) {
                assert!(EventKind::from_hook(name).is_some(), "{name}");
                assert!(hook_events(name, "T", &p).is_none(), "{name}");
            }
            if name == "PreToolUse" {
                let ev = Event::from_payload(EventKind::PreToolUse, "T".into(), &p);
                assert!(
                    matches!(&ev, Event::PreToolUse { tool, tool_input, .. } if tool == "Bash" && tool_input["command"] == "echo MOCK_TOOL_OK"),
                    "{ev:?}"
                );
            }
            if name == "ErrorOccurred" {
                // No HTTP status in it: the transcript's session.error says.
                let message = p["error"]["message"].as_str().unwrap();
                assert_eq!(failure_of(message).kind, "invalid_request");
                failed += 1;
            }
        }
        assert_eq!(failed, 1);
    }
}
