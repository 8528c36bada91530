//! Gemini CLI's hooks in csd's events, and how a turn ended.
//!
//! Gemini CLI 0.61 names its hooks its own way: `BeforeAgent` (the prompt,
//! `prompt`), `BeforeTool` / `AfterTool` (`tool_name`, `tool_input`,
//! `tool_response`), `AfterAgent` (the turn's end: `prompt`,
//! `prompt_response`, `stop_hook_active`); `SessionStart` (`source`:
//! `startup`, `resume`) and `SessionEnd` (`reason`) are named as csd's. Every
//! payload carries `session_id`, `transcript_path`, `cwd`,
//! `hook_event_name`, `timestamp`.
//!
//! `AfterAgent` says nothing of how the turn went: after a failed model
//! request its `prompt_response` is "[no response text]", as after an
//! interrupt. The session file says: the turn's last message is an `error`
//! (`[API Error: {"error": {"code", "message", "status"}}]`) or the `info`
//! "Request cancelled.", written just before the hook fires. And when no
//! `AfterAgent` comes at all (the headless mode fires none after a failed
//! request), `settle` reads the same from the file once the hook has had its
//! chance.

use crate::event::{Event, EventKind};
use crate::verdict::{Failure, Verdict};
use serde_json::{Map, Value};
use std::path::Path;

/// Hooks csd registers beyond the two named as its own.
pub const TURN_HOOKS: [&str; 4] = ["BeforeAgent", "BeforeTool", "AfterTool", "AfterAgent"];

/// What Gemini CLI writes when a turn is interrupted (Escape).
pub const CANCELLED: &str = "Request cancelled.";

/// The events of one Gemini CLI hook payload; `None` for SessionStart and
/// SessionEnd, which the common mapping reads.
pub fn hook_events(name: &str, ts: &str, payload: &Map<String, Value>) -> Option<Vec<Event>> {
    let kind = match name {
        "BeforeAgent" => EventKind::UserPromptSubmit,
        "BeforeTool" => EventKind::PreToolUse,
        "AfterTool" => EventKind::PostToolUse,
        "AfterAgent" => {
            let transcript = payload.get("transcript_path").and_then(Value::as_str).map(Path::new);
            let verdict = transcript.and_then(|t| verdict_of_file(t).map(|(v, _)| v)).unwrap_or(Verdict::Done);
            return Some(vec![Event::Stop { ts: ts.to_string(), verdict, turn_id: None }]);
        }
        _ => return None,
    };
    let mut event = Event::from_payload(kind, ts.to_string(), payload);
    match &mut event {
        Event::PreToolUse { tool, .. } | Event::PostToolUse { tool, .. } => {
            *tool = super::transcript::tool_name(tool);
        }
        _ => {}
    }
    Some(vec![event])
}

/// How the last turn of the session file at `path` ended, from its tail,
/// and the time of the line that says so: `None` while its last message is
/// the prompt or an answer (done, or still running).
pub fn verdict_of_file(path: &Path) -> Option<(Verdict, Option<String>)> {
    if !super::is_session_file(path) {
        return None;
    }
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

/// The verdict the last message of `tail` gives (patches and other `info`
/// lines passed over): an `error` fails the turn, "Request cancelled."
/// interrupts it; a prompt or an answer says nothing.
pub fn verdict_of_tail(tail: &[u8]) -> Option<(Verdict, Option<String>)> {
    for line in tail.split(|&b| b == b'\n').rev() {
        if line.is_empty() || line.starts_with(b"{\"$set\"") {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(line) else { continue };
        let ts = v.get("timestamp").and_then(Value::as_str).map(str::to_string);
        let content = v.get("content").and_then(Value::as_str).unwrap_or("");
        match super::transcript::kind(&v) {
            Some("error") => return Some((Verdict::Failed(failure_of(content)), ts)),
            Some("info") if content == CANCELLED => return Some((Verdict::Interrupted, ts)),
            Some("info" | "warning") => {}
            Some(_) => return None,
            None => {}
        }
    }
    None
}

/// The failure an `error` message reports: `[API Error: <JSON or text>]`,
/// the JSON Google's error body (`error.code`, `error.status`,
/// `error.message`, and a `RetryInfo` detail's `retryDelay` on a 429).
pub fn failure_of(content: &str) -> Failure {
    let inner = content.trim().strip_prefix("[API Error: ").and_then(|s| s.strip_suffix(']')).unwrap_or(content).trim();
    let body = serde_json::from_str::<Value>(inner).ok();
    let error = body.as_ref().map(|b| b.get("error").unwrap_or(b));
    let Some(error) = error.filter(|e| e.is_object()) else {
        let kind = if inner.contains("fetch failed") || inner.contains("ECONNREFUSED") || inner.contains("ECONNRESET") {
            "network"
        } else {
            "unknown"
        };
        return Failure { kind: kind.into(), message: inner.to_string(), ..Default::default() };
    };
    let status = error.get("code").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok());
    let word = error.get("status").and_then(Value::as_str).unwrap_or("");
    let message = error.get("message").and_then(Value::as_str).unwrap_or(inner).to_string();
    let key_refused = message.contains("API key not valid") || message.contains("API_KEY_INVALID");
    let kind = match (status, word) {
        (_, "UNAUTHENTICATED" | "PERMISSION_DENIED") | (Some(401 | 403), _) => "authentication_failed",
        (Some(400), _) if key_refused => "authentication_failed",
        (Some(400), _) | (_, "INVALID_ARGUMENT") => "invalid_request",
        (Some(404), _) | (_, "NOT_FOUND") => "model_not_found",
        (Some(429), _) | (_, "RESOURCE_EXHAUSTED") => "rate_limit",
        (Some(503), _) | (_, "UNAVAILABLE") => "overloaded",
        (Some(500..=599), _) => "server_error",
        _ => "unknown",
    };
    let retry_at = (kind == "rate_limit")
        .then(|| retry_delay(error))
        .flatten()
        .map(|secs| crate::time::iso_from_unix(crate::time::now_unix() + secs));
    Failure { kind: kind.into(), message, status, retry_at }
}

/// The seconds of a `google.rpc.RetryInfo` detail's `retryDelay` (`"30s"`).
fn retry_delay(error: &Value) -> Option<i64> {
    error.get("details")?.as_array()?.iter().find_map(|d| {
        let delay = d.get("retryDelay")?.as_str()?.strip_suffix('s')?;
        delay.parse::<f64>().ok().map(|s| s.ceil() as i64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn lines(ls: &[Value]) -> Vec<u8> {
        ls.iter().map(|l| l.to_string() + "\n").collect::<String>().into_bytes()
    }

    #[test]
    fn gemini_hooks_become_csds_events() {
        let p = payload(json!({"hook_event_name": "BeforeAgent", "prompt": "hi", "session_id": "s"}));
        let ev = hook_events("BeforeAgent", "T", &p).unwrap();
        assert!(matches!(&ev[..], [Event::UserPromptSubmit { prompt: Some(_), .. }]), "{ev:?}");
        let p = payload(json!({"tool_name": "run_shell_command", "tool_input": {"command": "ls"}}));
        let ev = hook_events("BeforeTool", "T", &p).unwrap();
        assert_eq!(
            String::from_utf8(ev[0].to_line()).unwrap().trim(),
            r#"{"event":"pre_tool_use","ts":"T","tool":"Bash","tool_input":{"command":"ls"}}"#
        );
        let ev = hook_events("AfterTool", "T", &payload(json!({"tool_name": "read_file"}))).unwrap();
        assert!(matches!(&ev[..], [Event::PostToolUse { tool, .. }] if tool == "read_file"));
        // No transcript to read: the turn is done.
        let ev = hook_events("AfterAgent", "T", &payload(json!({"prompt_response": "ok"}))).unwrap();
        assert!(matches!(&ev[..], [Event::Stop { verdict: Verdict::Done, .. }]));
        assert!(hook_events("SessionStart", "T", &payload(json!({}))).is_none());
    }

    #[test]
    fn after_agent_reads_the_verdict_from_the_session_file() {
        let dir = tempfile::tempdir().unwrap();
        let chats = dir.path().join("tmp/proj/chats");
        std::fs::create_dir_all(&chats).unwrap();
        let file = chats.join("session-2026-12-06T20-04-11111111.jsonl");
        let prompt = json!({"id": "u", "type": "user", "content": [{"text": "FAIL: 400"}]});
        let error = json!({"id": "e", "timestamp": "2026-12-06T20:04:57.994Z", "type": "error", "content":
            r#"[API Error: {"error":{"code":400,"message":"mock: the request is invalid","status":"INVALID_ARGUMENT"}}]"#});
        let info = json!({"id": "i", "type": "info", "content": "This request failed. Press F12 for diagnostics."});
        let set = json!({"$set": {"lastUpdated": "x"}});
        std::fs::write(&file, lines(&[prompt.clone(), set.clone(), error, set.clone(), info, set.clone()])).unwrap();
        let p = payload(json!({"transcript_path": file.to_str().unwrap(), "prompt_response": "[no response text]"}));
        let ev = hook_events("AfterAgent", "T", &p).unwrap();
        let Event::Stop { verdict: Verdict::Failed(f), .. } = &ev[0] else { panic!("{ev:?}") };
        assert_eq!(
            (f.kind.as_str(), f.status, f.message.as_str()),
            ("invalid_request", Some(400), "mock: the request is invalid")
        );
        let cancelled = json!({"id": "c", "type": "info", "content": CANCELLED});
        std::fs::write(&file, lines(&[prompt.clone(), cancelled, set.clone()])).unwrap();
        assert_eq!(verdict_of_file(&file).map(|(v, _)| v), Some(Verdict::Interrupted));
        let answer = json!({"id": "g", "type": "gemini", "content": "fine"});
        std::fs::write(&file, lines(&[prompt, answer, set])).unwrap();
        assert_eq!(verdict_of_file(&file), None);
        // A path that is no session file is not read.
        let other = dir.path().join("x.jsonl");
        std::fs::copy(&file, &other).unwrap();
        assert_eq!(verdict_of_file(&other), None);
    }

    /// A turn whose request failed, as Gemini CLI 0.61 wrote it (the mock
    /// answered 400): the prompt, a rewrite of the history, the `error`, the
    /// `info` hint after it.
    #[test]
    fn the_failed_turn_fixture_reads_as_failed() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gemini-failed-turn.jsonl");
        let (verdict, at) = verdict_of_tail(&std::fs::read(path).unwrap()).unwrap();
        let Verdict::Failed(f) = verdict else { panic!("{verdict:?}") };
        assert_eq!((f.kind.as_str(), f.status, f.message.as_str()), ("invalid_request", Some(400), "mock failure 400"));
        assert_eq!(at.as_deref(), Some("2026-12-06T20:04:57.994Z"));
    }

    #[test]
    fn api_errors_map_to_the_contracts_kinds() {
        let f = |code: u16, status: &str, msg: &str| {
            failure_of(&format!("[API Error: {}]", json!({"error": {"code": code, "message": msg, "status": status}})))
        };
        assert_eq!(f(401, "UNAUTHENTICATED", "no").kind, "authentication_failed");
        assert_eq!(
            f(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.").kind,
            "authentication_failed"
        );
        assert_eq!(f(404, "NOT_FOUND", "models/x is not found").kind, "model_not_found");
        assert_eq!(f(500, "INTERNAL", "boom").kind, "server_error");
        assert_eq!(f(503, "UNAVAILABLE", "busy").kind, "overloaded");
        let rate = failure_of(&format!(
            "[API Error: {}]",
            json!({"error": {"code": 429, "message": "quota",
            "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": "30s"}]}})
        ));
        assert_eq!((rate.kind.as_str(), rate.status), ("rate_limit", Some(429)));
        let at = crate::time::parse_iso(rate.retry_at.as_deref().unwrap()).unwrap();
        assert!((at - crate::time::now_unix() - 30).abs() <= 2, "{rate:?}");
        let net = failure_of("[API Error: exception TypeError: fetch failed sending request]");
        assert_eq!((net.kind.as_str(), net.status), ("network", None));
        assert_eq!(failure_of("something odd").kind, "unknown");
    }
}
