//! GitHub Copilot CLI's hook payloads as csd events (measured on 1.0.102;
//! the payloads are in docs/harness-copilot.md). Registered under their
//! PascalCase names, its hooks send Claude Code shaped payloads
//! (`hook_event_name`, `session_id`, `tool_name`, `tool_input`, an ISO
//! `timestamp`), read the common way, with these differences:
//! - a failed model request fires `ErrorOccurred` (`error.message`, the
//!   provider's error body or `<status> <message>`, `error_context:
//!   "model_call"`) and no `Stop`: it ends the turn, failed;
//! - a tool that failed fires `PostToolUseFailure` instead of `PostToolUse`;
//! - its shell tool is `Bash` in the payloads (`bash` in the transcript).

use crate::event::{Event, EventKind};
use crate::verdict::{Failure, Verdict};
use serde_json::{Map, Value};

/// Hooks beyond the lifecycle ones that `hook_events` reads.
pub const TURN_HOOKS: [&str; 2] = ["ErrorOccurred", "PostToolUseFailure"];

pub fn hook_events(name: &str, ts: &str, payload: &Map<String, Value>) -> Option<Vec<Event>> {
    match name {
        "ErrorOccurred" => {
            // Only a failed model call ends the turn; other errors (a hook's,
            // a tool's) are reported and the turn goes on.
            let context = payload.get("error_context").and_then(Value::as_str).unwrap_or("model_call");
            if context != "model_call" {
                return Some(vec![]);
            }
            let message = payload.get("error").and_then(|e| e.get("message")).and_then(Value::as_str).unwrap_or("");
            Some(vec![Event::Stop { ts: ts.to_string(), verdict: Verdict::Failed(failure_of(message)), turn_id: None }])
        }
        "PostToolUseFailure" => Some(vec![Event::from_payload(EventKind::PostToolUse, ts.to_string(), payload)]),
        _ => None,
    }
}

/// The failure an `ErrorOccurred` message reports: the provider's error
/// body as JSON (`{"error": {"message", "type", "code"}}`, or its inner
/// object), or `<status> <message>` as the OpenAI client words it.
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
    fn a_failed_model_call_ends_the_turn_failed() {
        // As Copilot CLI 1.0.102 sent it (the chat completions mock answered 400).
        let p = payload(json!({"hook_event_name": "ErrorOccurred", "session_id": "s",
            "timestamp": "2026-12-06T21:14:40.940Z", "cwd": "/w",
            "error": {"message": "{\"code\":400,\"message\":\"mock failure\",\"status\":\"INVALID_ARGUMENT\",\"type\":\"invalid_request_error\"}",
                "name": "Error", "stack": "Error: ..."},
            "error_context": "model_call", "recoverable": true}));
        let ev = hook_events("ErrorOccurred", "T", &p).unwrap();
        let [Event::Stop { verdict: Verdict::Failed(f), .. }] = &ev[..] else { panic!("{ev:?}") };
        assert_eq!((f.kind.as_str(), f.status, f.message.as_str()), ("invalid_request", Some(400), "mock failure"));
        let other = payload(json!({"error": {"message": "x"}, "error_context": "tool_execution"}));
        assert_eq!(hook_events("ErrorOccurred", "T", &other).unwrap().len(), 0);
        let failed_tool = payload(json!({"tool_name": "Bash", "tool_input": {"command": "false"}}));
        let ev = hook_events("PostToolUseFailure", "T", &failed_tool).unwrap();
        assert!(matches!(&ev[..], [Event::PostToolUse { tool, .. }] if tool == "Bash"), "{ev:?}");
        assert!(hook_events("Stop", "T", &p).is_none());
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
            if let Some(ev) = hook_events(name, "T", &p) {
                if let [Event::Stop { verdict: Verdict::Failed(f), .. }] = &ev[..] {
                    assert_eq!((f.kind.as_str(), f.status), ("invalid_request", Some(400)));
                    failed += 1;
                }
            }
        }
        assert_eq!(failed, 1);
    }
}
