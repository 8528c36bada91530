//! The six lifecycle events, as v4 writes them: one JSON object per line,
//! `{"event":"…","ts":"…", …}`.

use crate::verdict::Verdict;
use serde_json::{json, Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    SessionStart,
    UserPromptSubmit,
    PreToolUse,
    PostToolUse,
    Stop,
    SessionEnd,
}

pub const ALL_KINDS: [EventKind; 6] = [
    EventKind::SessionStart,
    EventKind::UserPromptSubmit,
    EventKind::PreToolUse,
    EventKind::PostToolUse,
    EventKind::Stop,
    EventKind::SessionEnd,
];

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::SessionStart => "session_start",
            EventKind::UserPromptSubmit => "user_prompt_submit",
            EventKind::PreToolUse => "pre_tool_use",
            EventKind::PostToolUse => "post_tool_use",
            EventKind::Stop => "stop",
            EventKind::SessionEnd => "session_end",
        }
    }

    pub fn from_name(s: &str) -> Option<EventKind> {
        ALL_KINDS.into_iter().find(|k| k.name() == s)
    }

    /// The hook event names Claude Code and Codex use. Codex's Interrupt
    /// (Esc or C-c during a turn) ends the turn with no Stop hook, so it is
    /// recorded as a stop.
    pub fn from_hook(s: &str) -> Option<EventKind> {
        Some(match s {
            "Interrupt" => EventKind::Stop,
            "SessionStart" => EventKind::SessionStart,
            "UserPromptSubmit" => EventKind::UserPromptSubmit,
            "PreToolUse" => EventKind::PreToolUse,
            "PostToolUse" => EventKind::PostToolUse,
            "Stop" => EventKind::Stop,
            "SessionEnd" => EventKind::SessionEnd,
            _ => return None,
        })
    }

    /// A turn is over when the worker stops or its session ends.
    pub fn ends_turn(self) -> bool {
        matches!(self, EventKind::Stop | EventKind::SessionEnd)
    }

    pub fn names() -> String {
        ALL_KINDS.map(|k| k.name()).join(" ")
    }
}

/// One event as it goes into the log.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    SessionStart {
        ts: String,
        cwd: Option<String>,
    },
    /// `turn_id`: Codex names each turn; the id lets a reader match the
    /// prompt to the turn's end in the rollout.
    UserPromptSubmit {
        ts: String,
        turn_id: Option<String>,
        /// `prompt_digest` of the prompt the harness took, when its payload
        /// names it: a sender knows its own submission by it.
        prompt: Option<String>,
    },
    PreToolUse {
        ts: String,
        tool: String,
        tool_input: Value,
    },
    PostToolUse {
        ts: String,
        tool: String,
    },
    /// `verdict`: how the turn ended (`crate::verdict`: done, failed,
    /// interrupted, crashed, blocked), in fields v4's readers ignore.
    /// `turn_id`: the Codex turn a stop csd wrote itself settles.
    Stop {
        ts: String,
        verdict: Verdict,
        turn_id: Option<String>,
    },
    SessionEnd {
        ts: String,
    },
}

impl Event {
    /// A stop that may only end an open turn: a dialog's block, dropped
    /// when it comes late, after the turn already ended (a question's block
    /// is in a turn of its own, as its tool call is).
    pub fn needs_open_turn(&self) -> bool {
        matches!(self, Event::Stop { verdict: Verdict::Blocked(b), .. } if b.on != "question")
    }

    pub fn kind(&self) -> EventKind {
        match self {
            Event::SessionStart { .. } => EventKind::SessionStart,
            Event::UserPromptSubmit { .. } => EventKind::UserPromptSubmit,
            Event::PreToolUse { .. } => EventKind::PreToolUse,
            Event::PostToolUse { .. } => EventKind::PostToolUse,
            Event::Stop { .. } => EventKind::Stop,
            Event::SessionEnd { .. } => EventKind::SessionEnd,
        }
    }

    /// Build an event of `kind` from a hook payload (Claude Code / Codex shape).
    pub fn from_payload(kind: EventKind, ts: String, payload: &Map<String, Value>) -> Event {
        let text = |k: &str| payload.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        match kind {
            EventKind::SessionStart => {
                let cwd = text("cwd");
                Event::SessionStart { ts, cwd: (!cwd.is_empty()).then_some(cwd) }
            }
            EventKind::UserPromptSubmit => {
                let turn = text("turn_id");
                let prompt = payload.get("prompt").and_then(Value::as_str).map(prompt_digest);
                Event::UserPromptSubmit { ts, turn_id: (!turn.is_empty()).then_some(turn), prompt }
            }
            EventKind::PreToolUse => Event::PreToolUse {
                ts,
                tool: text("tool_name"),
                tool_input: match payload.get("tool_input") {
                    Some(v @ Value::Object(_)) => v.clone(),
                    _ => Value::Object(Map::new()),
                },
            },
            EventKind::PostToolUse => Event::PostToolUse { ts, tool: text("tool_name") },
            EventKind::Stop => {
                let interrupted = payload.get("hook_event_name").and_then(Value::as_str) == Some("Interrupt");
                let verdict = if interrupted { Verdict::Interrupted } else { Verdict::Done };
                Event::Stop { ts, verdict, turn_id: None }
            }
            EventKind::SessionEnd => Event::SessionEnd { ts },
        }
    }

    /// The JSONL line, newline included, in v4's field order.
    pub fn to_line(&self) -> Vec<u8> {
        let name = self.kind().name();
        let v = match self {
            Event::SessionStart { ts, cwd: Some(cwd) } => json!({"event": name, "ts": ts, "cwd": cwd}),
            Event::PreToolUse { ts, tool, tool_input } => {
                json!({"event": name, "ts": ts, "tool": tool, "tool_input": tool_input})
            }
            Event::PostToolUse { ts, tool } => json!({"event": name, "ts": ts, "tool": tool}),
            Event::UserPromptSubmit { ts, turn_id, prompt } => {
                let mut v = Map::new();
                v.insert("event".into(), name.into());
                v.insert("ts".into(), ts.as_str().into());
                if let Some(t) = turn_id {
                    v.insert("turn_id".into(), t.as_str().into());
                }
                if let Some(p) = prompt {
                    v.insert("prompt_digest".into(), p.as_str().into());
                }
                Value::Object(v)
            }
            Event::Stop { ts, verdict, turn_id } => {
                let mut v = Map::new();
                v.insert("event".into(), name.into());
                v.insert("ts".into(), ts.as_str().into());
                verdict.write_into(&mut v);
                if let Some(t) = turn_id {
                    v.insert("turn_id".into(), t.as_str().into());
                }
                Value::Object(v)
            }
            Event::SessionStart { ts, cwd: None } | Event::SessionEnd { ts } => json!({"event": name, "ts": ts}),
        };
        let mut line = serde_json::to_vec(&v).expect("a JSON value always serializes");
        line.push(b'\n');
        line
    }
}

/// A prompt's fingerprint as its `user_prompt_submit` line records it
/// (`prompt_digest`): 64-bit FNV-1a, in hex, of its UTF-8 without any
/// whitespace, paste markers or zero-width characters, since every harness
/// trims, re-wraps or expands tabs in what it was given (Pi turns a tab into
/// four spaces) and csd may add an invisible guard. Telling one sender's
/// prompt from another's needs no more; pi-extension/index.ts computes the
/// same.
pub fn prompt_digest(prompt: &str) -> String {
    let stripped = crate::paste::strip_paste_markers(prompt.as_bytes());
    let text = String::from_utf8_lossy(&stripped);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = [0u8; 4];
    for c in text.chars().filter(|c| !c.is_whitespace() && !ZERO_WIDTH.contains(c)) {
        for b in c.encode_utf8(&mut buf).bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Invisible characters csd may put before a prompt (see
/// `harness::claude`) or a harness may drop: never part of a digest.
pub const ZERO_WIDTH: [char; 5] = ['\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}'];

/// The `prompt_digest` a `user_prompt_submit` line records, if any.
pub fn digest_of_line(line: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(line).ok()?;
    Some(v.get("prompt_digest")?.as_str()?.to_string())
}

/// The kind of a raw log line, or `None` for a torn or garbage line.
pub fn kind_of_line(line: &[u8]) -> Option<EventKind> {
    let v: Value = serde_json::from_slice(line).ok()?;
    EventKind::from_name(v.get("event")?.as_str()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_to_their_kind() {
        let ev = Event::PreToolUse {
            ts: "2026-01-01T00:00:00Z".into(),
            tool: "Bash".into(),
            tool_input: json!({"command": "echo hi"}),
        };
        let line = ev.to_line();
        assert_eq!(
            std::str::from_utf8(&line).unwrap(),
            "{\"event\":\"pre_tool_use\",\"ts\":\"2026-01-01T00:00:00Z\",\"tool\":\"Bash\",\"tool_input\":{\"command\":\"echo hi\"}}\n"
        );
        assert_eq!(kind_of_line(line.trim_ascii_end()), Some(EventKind::PreToolUse));
        assert_eq!(kind_of_line(b"{\"event\":\"stop\",\"ts\":\"20"), None);
        assert_eq!(kind_of_line(b"{\"event\":\"bogus\"}"), None);
        assert_eq!(kind_of_line(b"[]"), None);
    }

    #[test]
    fn a_prompt_digest_survives_what_harnesses_do_to_whitespace() {
        let d = prompt_digest("!touch X\n\tplease");
        assert_eq!(d, prompt_digest("  !touch X\n    please "));
        assert_eq!(d, prompt_digest("\u{200b}!touch X\x1b[201~\nplease"));
        assert_ne!(d, prompt_digest("!touch Y\nplease"));
        assert_eq!(prompt_digest(""), "cbf29ce484222325");
        // FNV-1a of "a", as any implementation (the Pi extension's) gives it.
        assert_eq!(prompt_digest("a"), "af63dc4c8601ec8c");
        let line = Event::UserPromptSubmit { ts: "t".into(), turn_id: None, prompt: Some(d.clone()) }.to_line();
        assert_eq!(digest_of_line(&line), Some(d));
        assert_eq!(
            std::str::from_utf8(&Event::UserPromptSubmit { ts: "t".into(), turn_id: None, prompt: None }.to_line())
                .unwrap(),
            "{\"event\":\"user_prompt_submit\",\"ts\":\"t\"}\n"
        );
    }
}
