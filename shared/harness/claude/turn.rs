//! How a Claude Code turn ends when it does not end with a `Stop` hook, and
//! how csd tells it: an API error (`StopFailure`), the worker waiting on a
//! person (AskUserQuestion, a permission or elicitation dialog), and the
//! user's interrupt, which no hook reports.
//!
//! Measured on 2.1.197 (docs/harness-claude.md has the payloads):
//! - a failed model request fires `StopFailure` *instead of* `Stop`, with
//!   `error` (the CLI's kind) and `last_assistant_message` (what the pane
//!   shows, e.g. `API Error: 500 Internal server error…`);
//! - AskUserQuestion fires `PreToolUse` (the questions in `tool_input`), then
//!   `PermissionRequest` as its dialog opens; `Notification`s come only after
//!   6 s without a keystroke, so they are a backstop, not the signal;
//! - Escape during a tool call writes `[Request interrupted by user for tool
//!   use]` to the transcript; Escape while the model request has produced
//!   nothing yet writes nothing at all: the prompt goes back into the input
//!   box, which only the pane shows.

use crate::error::Result;
use crate::event::{Event, EventKind};
use crate::verdict::{Block, Failure, Question, Verdict};
use crate::worker::Worker;
use serde_json::{Map, Value};
use std::path::Path;

/// The tool Claude Code asks its user multiple-choice questions with.
/// Claude Code hooks that are none of the six lifecycle events but can end
/// (or block) a turn: `hook_events` reads them.
pub const TURN_HOOKS: [&str; 4] = ["StopFailure", "PermissionRequest", "Elicitation", "Notification"];

pub const ASK_TOOL: &str = "AskUserQuestion";

/// The events one Claude Code hook payload makes, for hooks beyond the six
/// lifecycle ones (and the PreToolUse of a question); `None` for a payload
/// the ordinary mapping handles. A blocked stop made here goes in only while
/// a turn is open (`csd-hook` checks under the log's lock): a dialog's
/// later notification must not end the turn twice.
pub fn hook_events(name: &str, ts: &str, payload: &Map<String, Value>) -> Option<Vec<Event>> {
    let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let stop = |verdict| Event::Stop { ts: ts.to_string(), verdict, turn_id: None };
    let blocked = |on: &str, message: String| {
        stop(Verdict::Blocked(Block {
            on: on.into(),
            message: Some(message).filter(|m| !m.is_empty()),
            questions: vec![],
        }))
    };
    match name {
        // Its prompt_id is on the transcript's lines of the turn (the prompt,
        // an interrupt's mark): the turn's id, as Codex's turn_id is.
        "UserPromptSubmit" => {
            let id = text("prompt_id");
            // The prompt's digest: its sender knows its own submission by it.
            let prompt = payload.get("prompt").and_then(Value::as_str).map(crate::event::prompt_digest);
            Some(vec![Event::UserPromptSubmit { ts: ts.to_string(), turn_id: (!id.is_empty()).then_some(id), prompt }])
        }
        "StopFailure" => Some(vec![stop(Verdict::Failed(stop_failure(payload)))]),
        "PreToolUse" if text("tool_name") == ASK_TOOL => {
            let pre = Event::from_payload(crate::event::EventKind::PreToolUse, ts.to_string(), payload);
            let questions = questions_of(payload.get("tool_input").unwrap_or(&Value::Null));
            let block = Block { on: "question".into(), message: None, questions };
            Some(vec![pre, stop(Verdict::Blocked(block))])
        }
        // A question's dialog asks permission too; its PreToolUse has blocked the turn.
        "PermissionRequest" if text("tool_name") == ASK_TOOL => Some(vec![]),
        "PermissionRequest" => {
            Some(vec![blocked("permission", format!("Claude Code asks permission to use {}", text("tool_name")))])
        }
        "Elicitation" => Some(vec![blocked("elicitation", text("message"))]),
        "Notification" => Some(match text("notification_type").as_str() {
            "permission_prompt" | "worker_permission_prompt" => vec![blocked("permission", text("message"))],
            "elicitation_dialog" | "elicitation_url_dialog" => vec![blocked("elicitation", text("message"))],
            // idle_prompt (the worker waits for its next prompt), auth_success,
            // elicitation_complete/response…: nobody is being waited on.
            _ => vec![],
        }),
        _ => None,
    }
}

/// The questions of an AskUserQuestion call's input.
pub fn questions_of(tool_input: &Value) -> Vec<Question> {
    tool_input
        .get("questions")
        .and_then(Value::as_array)
        .map(|qs| qs.iter().filter_map(Question::from_json).collect())
        .unwrap_or_default()
}

/// The failure a `StopFailure` payload reports. Claude Code's `error` is
/// kept, made more exact where its message says more: a 400 it calls
/// `unknown` is `invalid_request`, a 529 it calls `server_error` is
/// `overloaded`, a connection it could not make is `network`. The HTTP
/// status is read from the message (`API Error: 500 …`, `Request rejected
/// (429)`); no retry time is given (the hook has no headers).
pub fn stop_failure(payload: &Map<String, Value>) -> Failure {
    let message = ["last_assistant_message", "error_details"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .unwrap_or("")
        .to_string();
    let said = payload.get("error").and_then(Value::as_str).unwrap_or("unknown");
    let status = status_in(&message);
    let lower = message.to_ascii_lowercase();
    let kind = match (said, status) {
        (_, Some(529)) => "overloaded",
        ("unknown", Some(400)) => "invalid_request",
        ("unknown" | "server_error", None)
            if lower.contains("unable to connect") || lower.contains("econnreset") || lower.contains("etimedout") =>
        {
            "network"
        }
        ("unknown", None) if lower.contains("internal server error") => "server_error",
        ("unknown", Some(s)) if s >= 500 => "server_error",
        (k, _) => k,
    };
    Failure { kind: kind.to_string(), message, status, retry_at: None }
}

/// The HTTP status a Claude Code error message names: `API Error: 500 …`
/// or `… (429) …`.
fn status_in(message: &str) -> Option<u16> {
    let three_digits = |s: &str| -> Option<u16> {
        let d: String = s.chars().take(3).collect();
        (d.len() == 3 && d.chars().all(|c| c.is_ascii_digit()) && !s[3..].starts_with(|c: char| c.is_ascii_digit()))
            .then(|| d.parse().ok())
            .flatten()
            .filter(|n| (400..600).contains(n))
    };
    if let Some(at) = message.find("API Error: ") {
        if let Some(n) = three_digits(&message[at + "API Error: ".len()..]) {
            return Some(n);
        }
    }
    message.match_indices('(').find_map(|(i, _)| {
        let rest = &message[i + 1..];
        three_digits(rest).filter(|_| rest[3..].starts_with(')'))
    })
}

/// What the transcript says of the turn csd takes for open: read back from
/// its end to the turn's prompt.
#[derive(Debug, Default, PartialEq)]
pub struct TurnTail {
    /// When the turn's prompt was written (milliseconds since the epoch).
    pub prompt_ms: Option<i64>,
    /// The model said something after the prompt.
    pub answered: bool,
    /// `[Request interrupted by user…]` after the prompt, at or after `since`.
    pub interrupted: bool,
}

/// The transcript marker Claude Code writes when the user interrupts.
const INTERRUPT_MARK: &str = "[Request interrupted by user";

/// Read the transcript at `path` back to the open turn's prompt: the
/// prompt line whose `promptId` is `prompt_id` (Claude Code's id of the
/// turn, which the interrupt's mark carries too), or without an id the last
/// prompt, whose interrupt counts from second `since` (the turn's
/// user_prompt_submit) on. A turn whose prompt is not written yet reads as
/// nothing.
pub fn turn_tail(path: &Path, prompt_id: Option<&str>, since: i64) -> TurnTail {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 256 * 1024;
    let mut tail = TurnTail::default();
    let Ok(mut f) = crate::safefile::open_read(path) else { return tail };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).is_err() || f.read_to_end(&mut buf).is_err() {
        return tail;
    }
    for line in buf.split(|&b| b == b'\n').rev() {
        // Only user and assistant lines matter: the rest (attachments,
        // snapshots, progress) are not parsed.
        if memchr::memmem::find(line, b"\"type\":\"assistant\"").is_none()
            && memchr::memmem::find(line, b"\"type\":\"user\"").is_none()
        {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(line) else { continue };
        let ms = v.get("timestamp").and_then(Value::as_str).and_then(iso_millis);
        let ours = match (prompt_id, v.get("promptId").and_then(Value::as_str)) {
            (Some(want), Some(id)) => id == want,
            (Some(_), None) => false,
            (None, _) => true,
        };
        match v.get("type").and_then(Value::as_str) {
            Some("assistant") => tail.answered = true,
            Some("user") if v.get("isMeta").and_then(Value::as_bool) != Some(true) => match prompt_text(&v) {
                Some(t) if t.starts_with(INTERRUPT_MARK) => {
                    tail.interrupted |= ours && (prompt_id.is_some() || ms.is_some_and(|ms| ms / 1000 >= since));
                }
                Some(_) if ours => {
                    tail.prompt_ms = ms;
                    return tail;
                }
                // Another turn's prompt: this turn's is not written yet.
                Some(_) => return TurnTail::default(),
                None => {}
            },
            _ => {}
        }
    }
    TurnTail::default()
}

/// The text of a user line that is a prompt or an interrupt's mark (not a
/// tool result).
fn prompt_text(v: &Value) -> Option<&str> {
    match &v["message"]["content"] {
        Value::String(s) => Some(s.as_str()),
        Value::Array(blocks) if blocks.iter().all(|b| b["type"] == "text") => blocks.first()?["text"].as_str(),
        _ => None,
    }
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn iso_millis(t: &str) -> Option<i64> {
    let secs = crate::time::parse_iso(t)?;
    let frac = t.get(20..t.len() - 1).unwrap_or("");
    let ms = format!("{frac:0<3}").get(..3).and_then(|d| d.parse::<i64>().ok()).unwrap_or(0);
    Some(secs * 1000 + ms)
}

/// How long after its prompt was written a turn the pane shows as idle is
/// taken for interrupted (the prompt is in the transcript only once Claude
/// Code took it; the spinner comes at once).
const RESTORE_GRACE_MS: i64 = 500;

/// How often a waiter looks at the screen for a prompt put back (see
/// `Claude::screen_tick`): with the grace above, an Escape is told within
/// about a second.
pub const SCREEN_TICK: std::time::Duration = std::time::Duration::from_millis(300);

/// Record the interrupt of the open turn, which no hook reports. Escape
/// during a tool call (or once the model answered) leaves its mark in the
/// transcript; Escape before the model said anything only puts the prompt
/// back into the input box, so then the pane is read: no `esc to interrupt`
/// and a prompt in the input. Appended under the log's lock, and only if
/// the log still ends where it did when the turn was judged.
pub fn settle(worker: &Worker) -> Result<()> {
    let log = worker.events();
    let Some((kind, line)) = log.last()? else { return Ok(()) };
    let open = match kind {
        EventKind::UserPromptSubmit | EventKind::PreToolUse | EventKind::PostToolUse => true,
        EventKind::Stop => matches!(Verdict::of_line(&line), Verdict::Blocked(_)),
        _ => false,
    };
    if !open {
        return Ok(());
    }
    let Some(path) = crate::harness::transcript_of(worker)? else { return Ok(()) };
    let (prompts, _) = log.tail(1, Some(EventKind::UserPromptSubmit))?;
    let prompt = prompts.first().and_then(|l| serde_json::from_slice::<Value>(l).ok()).unwrap_or(Value::Null);
    let since = prompt.get("ts").and_then(Value::as_str).and_then(crate::time::parse_iso).unwrap_or(i64::MAX);
    let tail = turn_tail(&path, prompt.get("turn_id").and_then(Value::as_str), since);
    let interrupted = tail.interrupted
        || (kind == EventKind::UserPromptSubmit
            && !tail.answered
            && tail.prompt_ms.is_some_and(|ms| now_millis() - ms >= RESTORE_GRACE_MS)
            && worker.tmux().and_then(|t| t.capture(worker.name(), false)).is_ok_and(|s| prompt_put_back(&s)));
    if !interrupted {
        return Ok(());
    }
    let stop = Event::Stop { ts: crate::time::now_iso(), verdict: Verdict::Interrupted, turn_id: None };
    log.append_if(&stop, |log| Ok(log.last()?.map(|(_, l)| l).as_ref() == Some(&line)))?;
    Ok(())
}

fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Whether the screen shows Claude Code idle with text in its input box: a
/// turn interrupted before the model said anything (its prompt is put back).
/// While a turn runs the footer says `esc to interrupt`.
pub fn prompt_put_back(screen: &str) -> bool {
    if screen.contains("esc to interrupt") {
        return false;
    }
    // The input box is drawn between the last two rules.
    let lines: Vec<&str> = screen.lines().collect();
    let rule = |l: &&str| l.chars().count() >= 20 && l.chars().all(|c| c == '─');
    let rules: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| rule(l)).map(|(i, _)| i).collect();
    let [.., top, bottom] = rules[..] else { return false };
    // The spinner line (`✻ Burrowing…`) just above the box: still running,
    // whatever a narrow footer left out.
    let spinner = lines[top.saturating_sub(3)..top].iter().any(|l| {
        let t = l.trim_start();
        t.starts_with(['·', '✢', '✳', '✶', '✻', '✽', '*']) && t.contains('…')
    });
    !spinner
        && lines[top + 1..bottom].first().is_some_and(|first| {
            first.strip_prefix('❯').is_some_and(|rest| !rest.trim_matches(|c: char| c.is_whitespace()).is_empty())
        })
}

/// Whether AskUserQuestion's dialog shows `question` with option `n` as
/// `n. LABEL` (the selected row starts with `❯`).
pub fn question_shown(screen: &str, question: &str, n: usize, label: &str) -> bool {
    let row = format!("{n}. {label}");
    let lines = || screen.lines().map(|l| l.trim_start_matches([' ', '❯', '\u{a0}']).trim_end());
    lines().any(|l| l == question.trim()) && lines().any(|l| l == row)
}

/// Whether a form of several questions shows its review, its submit row
/// selected.
pub fn review_shown(screen: &str) -> bool {
    screen.lines().any(|l| l.trim_start().starts_with('❯') && l.trim_end().ends_with("1. Submit answers"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failure(error: &str, message: &str) -> Failure {
        let p = json!({"hook_event_name": "StopFailure", "error": error, "last_assistant_message": message});
        stop_failure(p.as_object().unwrap())
    }

    /// The payloads 2.1.197 sent for each failure of the mock (docs/harness-claude.md).
    #[test]
    fn stop_failures_read_as_the_contract_says() {
        let f = failure("unknown", "API Error: 400 mock: messages: the request is invalid");
        assert_eq!((f.kind.as_str(), f.status), ("invalid_request", Some(400)));
        let f = failure("authentication_failed", "Invalid API key · Fix external API key");
        assert_eq!((f.kind.as_str(), f.status), ("authentication_failed", None));
        let f = failure("rate_limit", "API Error: Request rejected (429) · This request would exceed the rate limit");
        assert_eq!((f.kind.as_str(), f.status), ("rate_limit", Some(429)));
        let f = failure("server_error", "API Error: 500 Internal server error. This is a server-side issue");
        assert_eq!((f.kind.as_str(), f.status), ("server_error", Some(500)));
        let f = failure("server_error", "API Error: 529 Overloaded. This is a server-side issue");
        assert_eq!((f.kind.as_str(), f.status), ("overloaded", Some(529)));
        let f = failure("unknown", "API Error: Internal server error");
        assert_eq!((f.kind.as_str(), f.status), ("server_error", None));
        let f = failure("server_error", "API Error: Unable to connect to API (ECONNRESET)");
        assert_eq!((f.kind.as_str(), f.status), ("network", None));
        let f = failure("billing_error", "Credit balance is too low");
        assert_eq!((f.kind.as_str(), f.status), ("billing_error", None));
        assert_eq!(failure("max_output_tokens", "").kind, "max_output_tokens");
        // Numbers that are not a status stay out.
        assert_eq!(status_in("API Error: 4000 things (12) (4291)"), None);
    }

    #[test]
    fn a_question_blocks_right_after_its_pre_tool_use() {
        let p = json!({"hook_event_name": "PreToolUse", "tool_name": "AskUserQuestion", "tool_input": {"questions": [
            {"question": "Which color?", "header": "Mock", "multiSelect": false,
             "options": [{"label": "Red", "description": "warm"}, {"label": "Green", "description": "calm"}]}]}});
        let evs = hook_events("PreToolUse", "T", p.as_object().unwrap()).unwrap();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].kind(), crate::event::EventKind::PreToolUse);
        let Event::Stop { verdict: Verdict::Blocked(b), .. } = &evs[1] else { panic!("{evs:?}") };
        assert_eq!(b.on, "question");
        assert_eq!(b.questions[0].options[1].label, "Green");
        assert!(!evs[1].needs_open_turn());
        // Its permission dialog adds nothing; another tool's blocks, once.
        assert_eq!(hook_events("PermissionRequest", "T", p.as_object().unwrap()), Some(vec![]));
        let other = json!({"hook_event_name": "PermissionRequest", "tool_name": "Bash"});
        let evs = hook_events("PermissionRequest", "T", other.as_object().unwrap()).unwrap();
        assert!(evs[0].needs_open_turn());
    }

    #[test]
    fn only_blocking_notifications_block() {
        let n = |t: &str| {
            let p = json!({"hook_event_name": "Notification", "notification_type": t, "message": "m"});
            hook_events("Notification", "T", p.as_object().unwrap()).unwrap()
        };
        assert!(n("idle_prompt").is_empty());
        assert!(n("auth_success").is_empty());
        assert_eq!(n("permission_prompt").len(), 1);
        assert_eq!(n("elicitation_dialog").len(), 1);
        let plain = json!({"hook_event_name": "PreToolUse", "tool_name": "Bash"});
        assert_eq!(hook_events("PreToolUse", "T", plain.as_object().unwrap()), None);
    }

    const RULE: &str = "────────────────────────────────────────";

    #[test]
    fn the_pane_shows_a_prompt_put_back_only_when_idle() {
        let idle_with_prompt = format!(
            "❯ earlier\n● answer\n{RULE}\n❯ w\n  wait: 20\n{RULE}\n  ⏵⏵ bypass permissions on (shift+tab to cycle)"
        );
        assert!(prompt_put_back(&idle_with_prompt));
        let running = format!(
            "❯ w\n✻ Burrowing…\n{RULE}\n❯ typed ahead\n{RULE}\n  ⏵⏵ bypass permissions on · esc to interrupt · ← for agents"
        );
        assert!(!prompt_put_back(&running));
        // A narrow pane cuts the footer; the spinner still says it runs.
        let narrow = format!("❯ w\n✻ Burrowing…\n  ⎿  Tip: plan first\n{RULE}\n❯ typed ahead\n{RULE}\n  ⏵⏵ bypass…");
        assert!(!prompt_put_back(&narrow));
        let idle_empty = format!("❯ w\n● done\n{RULE}\n❯ \n{RULE}\n  ⏵⏵ bypass permissions on");
        assert!(!prompt_put_back(&idle_empty));
        // A dialog in place of the input box is no prompt put back.
        let dialog = format!("{RULE}\n ☐ Mock\nWhich color?\n❯ 1. Red\n{RULE}\n  5. Chat about this");
        assert!(!prompt_put_back(&dialog));
        assert!(question_shown(&dialog, "Which color?", 1, "Red"));
        assert!(!question_shown(&dialog, "Which color?", 2, "Red"));
        assert!(!question_shown(&dialog, "Which size?", 1, "Red"));
        assert!(review_shown("Ready to submit your answers?\n❯ 1. Submit answers\n  2. Cancel"));
        assert!(!review_shown("Ready to submit your answers?\n  1. Submit answers\n❯ 2. Cancel"));
    }

    #[test]
    fn an_interrupt_counts_for_its_own_turn_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let line = |v: Value| v.to_string() + "\n";
        let user = |id: &str, text: &str, ts: &str| {
            line(json!({"type": "user", "promptId": id, "timestamp": ts, "message": {"role": "user", "content": text}}))
        };
        let mark = |id: &str, ts: &str| {
            line(json!({"type": "user", "promptId": id, "timestamp": ts,
                "message": {"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user for tool use]"}]}}))
        };
        let assistant = line(json!({"type": "assistant", "timestamp": "2026-12-06T03:00:01.000Z", "message": {}}));
        let t =
            [user("A", "first", "2026-12-06T03:00:00.100Z"), assistant.clone(), mark("A", "2026-12-06T03:00:02.000Z")]
                .concat();
        std::fs::write(&path, &t).unwrap();
        let a = turn_tail(&path, Some("A"), 0);
        assert!(a.interrupted && a.answered, "{a:?}");
        // Turn B opened in the same second; its prompt is not written yet.
        assert_eq!(turn_tail(&path, Some("B"), 0), TurnTail::default());
        std::fs::write(&path, t + &user("B", "second", "2026-12-06T03:00:02.300Z")).unwrap();
        let b = turn_tail(&path, Some("B"), 0);
        assert!(!b.interrupted && !b.answered && b.prompt_ms.is_some(), "{b:?}");
    }
}
