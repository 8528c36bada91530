//! How a turn ended: the verdict a `stop` line carries.
//!
//! Every turn end is a `stop` line in the event log (so v4's `--type stop`
//! readers still see each one); the verdict rides in fields v4 ignores:
//!
//! | verdict       | stop line                                                        |
//! |---------------|------------------------------------------------------------------|
//! | done          | no `reason` (or `"reason":"end_turn"`)                           |
//! | failed        | `"reason":"failed","error":{"kind","message","status"?,"retry_at"?}` |
//! | interrupted   | `"reason":"interrupted"`                                         |
//! | crashed       | `"reason":"crashed","message":…` (csd writes it: the CLI died)   |
//! | blocked       | `"reason":"blocked","blocked":{"on","message"?,"questions"?}`     |
//!
//! A blocked turn is not over for the harness: once the person (or the
//! controller, `csd-send --answer`) answers, it goes on and ends with another
//! stop. Older logs wrote `"reason":"error"` for a failure; it reads as failed.

use serde_json::{json, Map, Value};

/// Why a turn ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Done,
    Failed(Failure),
    Interrupted,
    /// The CLI exited or died mid-turn; what csd saw.
    Crashed(String),
    Blocked(Block),
}

/// A failed model request, as the API or the CLI reported it.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Failure {
    /// `rate_limit`, `usage_limit`, `overloaded`, `authentication_failed`,
    /// `billing_error`, `invalid_request`, `model_not_found`, `server_error`,
    /// `max_output_tokens`, `network`, `unknown`, or the CLI's own word.
    pub kind: String,
    pub message: String,
    /// The HTTP status, when known.
    pub status: Option<u16>,
    /// When the request may be retried (`YYYY-MM-DDTHH:MM:SSZ`), when the API
    /// or the CLI said (retry-after, a rate-limit or usage-limit reset).
    pub retry_at: Option<String>,
}

/// What a blocked worker waits on.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Block {
    /// `question`, `permission`, `elicitation`, `login` or `dialog`.
    pub on: String,
    pub message: Option<String>,
    /// The questions asked, when the worker asked (`on` is `question`).
    pub questions: Vec<Question>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Question {
    pub question: String,
    pub header: Option<String>,
    pub options: Vec<Choice>,
    pub multi_select: bool,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Choice {
    pub label: String,
    pub description: Option<String>,
}

/// Kinds of failure that lift by themselves at a known time: a worker that
/// failed with one and a `retry_at` still ahead is `limited`.
pub const LIMIT_KINDS: [&str; 2] = ["rate_limit", "usage_limit"];

impl Verdict {
    /// The verdict's one word, as `status --json` and fleet waits print it.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Done => "done",
            Verdict::Failed(_) => "failed",
            Verdict::Interrupted => "interrupted",
            Verdict::Crashed(_) => "crashed",
            Verdict::Blocked(_) => "blocked",
        }
    }

    /// The verdict of a stop line (its own object); anything it does not
    /// recognise is done, so an unknown future reason never fails a turn.
    pub fn of_object(v: &Map<String, Value>) -> Verdict {
        let s = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
        match v.get("reason").and_then(Value::as_str) {
            Some("failed" | "error") => {
                let e = v.get("error").cloned().unwrap_or(Value::Null);
                Verdict::Failed(Failure {
                    kind: s(&e, "kind").unwrap_or_else(|| "unknown".into()),
                    message: s(&e, "message").unwrap_or_default(),
                    status: e.get("status").and_then(Value::as_u64).and_then(|n| u16::try_from(n).ok()),
                    retry_at: s(&e, "retry_at").filter(|t| crate::time::parse_iso(t).is_some()),
                })
            }
            Some("interrupted") => Verdict::Interrupted,
            Some("crashed") => Verdict::Crashed(s(&Value::Object(v.clone()), "message").unwrap_or_default()),
            Some("blocked") => {
                let b = v.get("blocked").cloned().unwrap_or(Value::Null);
                Verdict::Blocked(Block {
                    on: s(&b, "on").unwrap_or_else(|| "dialog".into()),
                    message: s(&b, "message"),
                    questions: b
                        .get("questions")
                        .and_then(Value::as_array)
                        .map(|qs| qs.iter().filter_map(Question::from_json).collect())
                        .unwrap_or_default(),
                })
            }
            _ => Verdict::Done,
        }
    }

    /// The verdict of a raw stop line; a line that does not parse is done.
    pub fn of_line(line: &[u8]) -> Verdict {
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(m)) => Verdict::of_object(&m),
            _ => Verdict::Done,
        }
    }

    /// Add the verdict's fields to a stop line's object (nothing for done).
    pub fn write_into(&self, v: &mut Map<String, Value>) {
        match self {
            Verdict::Done => {}
            Verdict::Failed(f) => {
                v.insert("reason".into(), "failed".into());
                v.insert("error".into(), f.to_json());
            }
            Verdict::Interrupted => {
                v.insert("reason".into(), "interrupted".into());
            }
            Verdict::Crashed(m) => {
                v.insert("reason".into(), "crashed".into());
                v.insert("message".into(), m.as_str().into());
            }
            Verdict::Blocked(b) => {
                v.insert("reason".into(), "blocked".into());
                v.insert("blocked".into(), b.to_json());
            }
        }
    }

    /// `{"verdict": word, …details}`: the verdict as `status --json`'s
    /// `last_turn` and the fleet wait's JSON give it.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"verdict": self.word()});
        match self {
            Verdict::Done | Verdict::Interrupted => {}
            Verdict::Failed(f) => v["error"] = f.to_json(),
            Verdict::Crashed(m) => v["message"] = m.as_str().into(),
            Verdict::Blocked(b) => v["blocked"] = b.to_json(),
        }
        v
    }

    /// The failure's reset time, when it is a limit that lifts by itself.
    pub fn limited_until(&self) -> Option<&str> {
        match self {
            Verdict::Failed(f) if LIMIT_KINDS.contains(&f.kind.as_str()) => f.retry_at.as_deref(),
            _ => None,
        }
    }

    /// When the limit this turn failed on lifts (seconds since the epoch),
    /// if it is one that lifts by itself and its reset is a real time.
    pub fn limit_reset(&self) -> Option<i64> {
        self.limited_until().and_then(crate::time::parse_iso)
    }

    /// Whether the worker is still limited now: the reset is ahead.
    pub fn limited_now(&self) -> bool {
        self.limit_reset().is_some_and(|t| t > crate::time::now_unix())
    }

    /// One line for a person: why the turn ended, and what to do next.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Verdict::Done => format!("worker '{name}' finished its turn"),
            Verdict::Failed(f) => {
                let mut s = format!("worker '{name}': its turn failed: {}", f.kind);
                if let Some(st) = f.status {
                    s.push_str(&format!(" (HTTP {st})"));
                }
                if !f.message.is_empty() {
                    s.push_str(&format!(": {}", one_line(&f.message)));
                }
                if let Some(t) = &f.retry_at {
                    s.push_str(&format!("; retry after {t}"));
                }
                s
            }
            Verdict::Interrupted => format!("worker '{name}': its turn was interrupted"),
            Verdict::Crashed(m) if m.is_empty() => format!("worker '{name}': its CLI exited mid-turn"),
            Verdict::Crashed(m) => format!("worker '{name}': its CLI exited mid-turn: {}", one_line(m)),
            Verdict::Blocked(b) => {
                let mut s = format!("worker '{name}' is blocked on a {}", b.on);
                if let Some(q) = b.questions.first() {
                    s.push_str(&format!(": {}", one_line(&q.question)));
                    if !q.options.is_empty() {
                        s.push_str(&format!(" (answer with: csd-send --answer {name} N, N in 1..{})", q.options.len()));
                    }
                } else if let Some(m) = &b.message {
                    s.push_str(&format!(": {}", one_line(m)));
                }
                s
            }
        }
    }

    /// The exit status a command that waited for this turn end gives.
    pub fn exit_code(&self) -> i32 {
        use crate::error::*;
        match self {
            Verdict::Done => EXIT_OK,
            Verdict::Failed(_) => EXIT_FAILED,
            Verdict::Interrupted => EXIT_INTERRUPTED,
            Verdict::Crashed(_) => EXIT_GONE,
            Verdict::Blocked(_) => EXIT_BLOCKED,
        }
    }

    /// The error a command that waited for this turn returns (`None` for done).
    pub fn to_error(&self, name: &str) -> Option<crate::error::Error> {
        use crate::error::Error;
        let msg = self.describe(name);
        match self {
            Verdict::Done => None,
            Verdict::Crashed(_) => Some(Error::Gone(msg)),
            _ => Some(Error::Turn(self.exit_code(), msg)),
        }
    }

    /// The markdown read-turn ends with, saying why the turn ended (nothing
    /// for done).
    pub fn markdown(&self) -> String {
        match self {
            Verdict::Done => String::new(),
            Verdict::Failed(f) => {
                let mut s = format!("**Turn failed:** {}", f.kind);
                if let Some(st) = f.status {
                    s.push_str(&format!(" (HTTP {st})"));
                }
                if !f.message.is_empty() {
                    s.push_str(&format!(": {}", f.message.trim()));
                }
                if let Some(t) = &f.retry_at {
                    s.push_str(&format!("\n\nRetry after {t}."));
                }
                s + "\n"
            }
            Verdict::Interrupted => "**Turn interrupted.**\n".into(),
            Verdict::Crashed(m) if m.is_empty() => "**The CLI exited mid-turn.**\n".into(),
            Verdict::Crashed(m) => format!("**The CLI exited mid-turn:** {}\n", m.trim()),
            Verdict::Blocked(b) => {
                let mut s = format!("**Blocked on a {}.**", b.on);
                if let Some(m) = &b.message {
                    s.push_str(&format!(" {}", m.trim()));
                }
                s.push('\n');
                for q in &b.questions {
                    s.push_str(&format!("\n**Question:** {}\n", q.question.trim()));
                    for (i, o) in q.options.iter().enumerate() {
                        match &o.description {
                            Some(d) => s.push_str(&format!("{}. {} — {}\n", i + 1, o.label, d)),
                            None => s.push_str(&format!("{}. {}\n", i + 1, o.label)),
                        }
                    }
                }
                s
            }
        }
    }
}

impl Failure {
    pub fn to_json(&self) -> Value {
        let mut e = json!({"kind": self.kind, "message": self.message});
        if let Some(s) = self.status {
            e["status"] = s.into();
        }
        if let Some(t) = &self.retry_at {
            e["retry_at"] = t.as_str().into();
        }
        e
    }
}

impl Block {
    pub fn to_json(&self) -> Value {
        let mut b = json!({"on": self.on});
        if let Some(m) = &self.message {
            b["message"] = m.as_str().into();
        }
        if !self.questions.is_empty() {
            b["questions"] = self.questions.iter().map(Question::to_json).collect();
        }
        b
    }
}

impl Question {
    /// A question as Claude Code's AskUserQuestion input gives it
    /// (`question`, `header`, `options: [{label, description}]`,
    /// `multiSelect`), or as csd writes it (`multi_select`).
    pub fn from_json(q: &Value) -> Option<Question> {
        let text = q.get("question")?.as_str()?.to_string();
        let options = q
            .get("options")
            .and_then(Value::as_array)
            .map(|os| {
                os.iter()
                    .filter_map(|o| match o {
                        Value::String(l) => Some(Choice { label: l.clone(), description: None }),
                        _ => Some(Choice {
                            label: o.get("label")?.as_str()?.to_string(),
                            description: o.get("description").and_then(Value::as_str).map(str::to_string),
                        }),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let multi = ["multi_select", "multiSelect"].iter().any(|k| q.get(*k).and_then(Value::as_bool) == Some(true));
        Some(Question {
            question: text,
            header: q.get("header").and_then(Value::as_str).map(str::to_string),
            options,
            multi_select: multi,
        })
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({"question": self.question, "multi_select": self.multi_select});
        if let Some(h) = &self.header {
            v["header"] = h.as_str().into();
        }
        v["options"] = self
            .options
            .iter()
            .map(|o| match &o.description {
                Some(d) => json!({"label": o.label, "description": d}),
                None => json!({"label": o.label}),
            })
            .collect();
        v
    }
}

/// A message on one line (a verdict's error may span several).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: &Verdict) -> Verdict {
        let mut m = Map::new();
        m.insert("event".into(), "stop".into());
        v.write_into(&mut m);
        Verdict::of_line(&serde_json::to_vec(&m).unwrap())
    }

    #[test]
    fn every_verdict_survives_the_log() {
        let vs = [
            Verdict::Done,
            Verdict::Interrupted,
            Verdict::Crashed("exit 1".into()),
            Verdict::Failed(Failure {
                kind: "rate_limit".into(),
                message: "slow down".into(),
                status: Some(429),
                retry_at: Some("2026-12-06T03:00:00Z".into()),
            }),
            Verdict::Blocked(Block {
                on: "question".into(),
                message: None,
                questions: vec![Question {
                    question: "Which?".into(),
                    header: Some("Pick".into()),
                    options: vec![Choice { label: "A".into(), description: Some("first".into()) }],
                    multi_select: false,
                }],
            }),
        ];
        for v in &vs {
            assert_eq!(&round_trip(v), v);
        }
    }

    #[test]
    fn old_and_unknown_reasons_read_sensibly() {
        assert_eq!(Verdict::of_line(br#"{"event":"stop","reason":"error"}"#).word(), "failed");
        assert_eq!(Verdict::of_line(br#"{"event":"stop","reason":"end_turn"}"#), Verdict::Done);
        assert_eq!(Verdict::of_line(br#"{"event":"stop","reason":"somethingnew"}"#), Verdict::Done);
        assert_eq!(Verdict::of_line(b"garbage"), Verdict::Done);
        // A hostile retry_at is dropped, never trusted as a time.
        let v =
            Verdict::of_line(br#"{"event":"stop","reason":"failed","error":{"kind":"rate_limit","retry_at":"soon"}}"#);
        assert_eq!(v.limited_until(), None);
    }

    #[test]
    fn limits_are_the_failures_that_lift_by_themselves() {
        let f = |kind: &str| {
            Verdict::Failed(Failure {
                kind: kind.into(),
                retry_at: Some("2026-12-06T03:00:00Z".into()),
                ..Default::default()
            })
        };
        assert_eq!(f("rate_limit").limited_until(), Some("2026-12-06T03:00:00Z"));
        assert_eq!(f("server_error").limited_until(), None);
    }
}
