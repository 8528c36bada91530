//! Qwen Code's hook payloads as csd events (measured on 0.24.4; the
//! payloads are in docs/harness-qwen.md). Its hooks are Claude Code's by
//! name and shape, with these differences:
//! - `UserPromptSubmit` fires again, with an empty `prompt` and the turn's
//!   `prompt_id`, after every batch of tool calls (before the model is asked
//!   again): that is no new prompt, and makes no event;
//! - a failed model request fires `StopFailure` (and no `Stop`), its
//!   `error` one of `rate_limit`, `authentication_failed`, `billing_error`,
//!   `invalid_request`, `server_error`, `max_output_tokens`, `unknown` (the
//!   CLI's `classifyApiError`), or `loop_detected`; `error_details` holds the
//!   API's message (`400 mock failure`), `last_assistant_message` what the
//!   pane shows (`[API Error: 400 mock failure]`);
//! - a failed tool fires `PostToolUseFailure` instead of `PostToolUse`;
//! - `Notification` (`idle_prompt` after each turn) blocks nothing unless it
//!   asks for a permission.

use crate::event::{Event, EventKind};
use crate::verdict::{Block, Failure, Verdict};
use serde_json::{Map, Value};

/// Qwen Code hooks beyond the lifecycle ones that `hook_events` reads.
pub const TURN_HOOKS: [&str; 4] = ["StopFailure", "PostToolUseFailure", "PermissionRequest", "Notification"];

pub fn hook_events(name: &str, ts: &str, payload: &Map<String, Value>) -> Option<Vec<Event>> {
    let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let stop = |verdict| Event::Stop { ts: ts.to_string(), verdict, turn_id: None };
    let blocked = |message: String| {
        stop(Verdict::Blocked(Block {
            on: "permission".into(),
            message: Some(message).filter(|m| !m.is_empty()),
            questions: vec![],
        }))
    };
    match name {
        "UserPromptSubmit" => {
            let prompt = payload.get("prompt").and_then(Value::as_str).unwrap_or("");
            if prompt.is_empty() {
                // The turn going on after its tools ran, not a prompt.
                return Some(vec![]);
            }
            let id = text("prompt_id");
            Some(vec![Event::UserPromptSubmit {
                ts: ts.to_string(),
                turn_id: (!id.is_empty()).then_some(id),
                prompt: Some(crate::event::prompt_digest(prompt)),
            }])
        }
        "StopFailure" => Some(vec![stop(Verdict::Failed(stop_failure(payload)))]),
        "PostToolUseFailure" => Some(vec![Event::from_payload(EventKind::PostToolUse, ts.to_string(), payload)]),
        "PermissionRequest" => Some(vec![blocked(format!("Qwen Code asks permission to use {}", text("tool_name")))]),
        "Notification" => Some(match text("notification_type").as_str() {
            "permission_prompt" => vec![blocked(text("message"))],
            _ => vec![],
        }),
        _ => None,
    }
}

/// The failure a `StopFailure` payload reports: Qwen Code's own kind, the
/// HTTP status its message starts with (`400 mock failure`), a 529 or 503
/// told as `overloaded`.
pub fn stop_failure(payload: &Map<String, Value>) -> Failure {
    let field = |k: &str| payload.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let message = field("error_details").or(field("last_assistant_message")).unwrap_or("").to_string();
    let status = leading_status(&message)
        .or_else(|| field("last_assistant_message").and_then(|m| leading_status(m.strip_prefix("[API Error: ")?)));
    let said = field("error").unwrap_or("unknown");
    let kind = match (said, status) {
        (_, Some(529 | 503)) => "overloaded",
        ("unknown", Some(s)) if s >= 500 => "server_error",
        (k, _) => k,
    };
    Failure { kind: kind.to_string(), message, status, retry_at: None }
}

/// An HTTP status (400 to 599) as the first word of `s`.
fn leading_status(s: &str) -> Option<u16> {
    let word = s.split(|c: char| !c.is_ascii_digit()).next()?;
    (word.len() == 3).then(|| word.parse().ok()).flatten().filter(|n| (400..600).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The payloads Qwen Code 0.24.4 sent in a real run (scrubbed).
    fn payloads() -> Vec<Map<String, Value>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/qwen-hooks.jsonl");
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap().as_object().unwrap().clone())
            .collect()
    }

    fn events_of(p: &Map<String, Value>) -> Option<Vec<Event>> {
        hook_events(p["hook_event_name"].as_str().unwrap(), "2026-12-06T20:00:00Z", p)
    }

    #[test]
    fn a_real_tool_turn_opens_once_and_ends_once() {
        let mut kinds = Vec::new();
        for p in payloads() {
            let name = p["hook_event_name"].as_str().unwrap().to_string();
            match events_of(&p) {
                Some(events) => kinds.extend(events.iter().map(|e| e.kind().name().to_string())),
                None => kinds.extend(EventKind::from_hook(&name).map(|k| k.name().to_string())),
            }
        }
        // The empty UserPromptSubmit after the tool batch and the idle
        // notification make nothing; the failed turn ends with its stop.
        assert_eq!(
            kinds,
            [
                "session_start",
                "user_prompt_submit",
                "pre_tool_use",
                "post_tool_use",
                "stop",
                "user_prompt_submit",
                "stop",
                "session_end"
            ]
        );
    }

    #[test]
    fn a_prompt_carries_its_turn_id_and_digest() {
        let p = payloads().into_iter().find(|p| p["hook_event_name"] == "UserPromptSubmit").unwrap();
        match &events_of(&p).unwrap()[..] {
            [Event::UserPromptSubmit { turn_id: Some(id), prompt: Some(digest), .. }] => {
                assert!(id.ends_with("########0"), "{id}");
                assert_eq!(*digest, crate::event::prompt_digest(p["prompt"].as_str().unwrap()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_failed_request_is_a_failed_turn_with_its_kind() {
        let p = payloads().into_iter().find(|p| p["hook_event_name"] == "StopFailure").unwrap();
        match &events_of(&p).unwrap()[..] {
            [Event::Stop { verdict: Verdict::Failed(f), .. }] => {
                assert_eq!((f.kind.as_str(), f.status), ("invalid_request", Some(400)));
                assert!(f.message.contains("400"), "{}", f.message);
            }
            other => panic!("{other:?}"),
        }
        let f = |error: &str, details: &str| {
            let p = json!({"error": error, "error_details": details});
            stop_failure(p.as_object().unwrap())
        };
        assert_eq!(f("server_error", "503 Service Unavailable").kind, "overloaded");
        assert_eq!(f("rate_limit", "429 Rate limit reached").status, Some(429));
        assert_eq!(f("unknown", "500 boom").kind, "server_error");
        assert_eq!(f("unknown", "fetch failed").status, None);
        let only_shown =
            json!({"error": "server_error", "last_assistant_message": "[API Error: 500 mock failure 500]"});
        assert_eq!(stop_failure(only_shown.as_object().unwrap()).status, Some(500));
    }

    #[test]
    fn a_permission_prompt_blocks_and_an_idle_one_does_not() {
        let p = |t: &str| json!({"notification_type": t, "message": "m"}).as_object().unwrap().clone();
        assert!(hook_events("Notification", "t", &p("idle_prompt")).unwrap().is_empty());
        let blocked = hook_events("Notification", "t", &p("permission_prompt")).unwrap();
        assert!(matches!(&blocked[..], [Event::Stop { verdict: Verdict::Blocked(_), .. }]), "{blocked:?}");
        assert!(hook_events("PreToolUse", "t", &p("x")).is_none());
    }
}
