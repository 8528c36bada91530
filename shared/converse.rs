//! converse: give a worker a prompt, wait for the turn it starts, and read
//! that turn's reply from the harness's transcript (never the turn before,
//! which a lagging transcript may still show last).

use crate::error::{failed, Error, Result};
use crate::submit::{submit_to, Submitted, Timing};
use crate::verdict::Verdict;
use crate::wait::wait_for_event;
use crate::worker::{Lookup, Worker};
use crate::workerdir::WorkerDir;
use std::time::{Duration, Instant};

pub const CONVERSE_TIMEOUT: Duration = Duration::from_secs(120);
/// The transcript may trail the harness's stop event: Claude Code writes the
/// turn after its Stop hook, which took over 2 s on a loaded 2-core machine
/// (a CI run). The wait wakes on the write, so a long grace costs nothing
/// when the reply comes; only a turn with no reply at all waits it out.
const REPLY_GRACE: Duration = Duration::from_secs(10);

/// A prompt given to a worker: who took it, how, and where its transcript
/// stood before (the reply is in the turn that opens after it).
pub struct Sent {
    pub worker: Worker,
    pub submitted: Submitted,
    pub since: u64,
}

/// What the turn a prompt started came to.
pub struct Reply {
    /// The assistant's final text, or with `with_turn` the turn as markdown.
    pub text: String,
    /// How the turn ended (its stop line's verdict).
    pub verdict: Verdict,
}

impl Reply {
    /// A turn that ended other than done (failed, interrupted, blocked) is
    /// an error with an exit status of its own, whatever it left on the page.
    pub fn verdict(&self, name: &str) -> Result<()> {
        match self.verdict.to_error(name) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Give `name` the prompt (registering a Codex worker on its first one),
/// noting first where its transcript ends.
/// The transcript's end is noted only with `baseline` (a reply or a receipt
/// will be read; a plain send needs none).
pub fn send(dir: &WorkerDir, name: &str, prompt: &[u8], timing: &Timing, baseline: bool) -> Result<Sent> {
    let found = crate::harness::lookup(dir, name)?;
    // A worker still to register (a Codex worker's first prompt) has no
    // transcript yet: all of it is this turn's.
    let since = match &found {
        Lookup::Registered(w) if baseline => transcript_baseline(w)?,
        _ => 0,
    };
    let before = match &found {
        Lookup::Registered(w) => Some(w.meta.session_id.clone()),
        Lookup::Pending(_) => None,
    };
    let (worker, submitted) = submit_to(found, prompt, timing)?;
    // A prompt that moved the worker to a new session (Codex after /new)
    // opened that session's transcript: all of it is this turn's.
    let since = if before.is_some_and(|sid| sid != worker.meta.session_id) { 0 } else { since };
    Ok(Sent { worker, submitted, since })
}

/// How a queued prompt was taken in the end.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Its own submission event (user_prompt_submit) landed; the log
    /// continues after byte `next`, and the first turn end after it is its
    /// turn's (Claude: a new turn after the running one; Codex and Pi: the
    /// running turn, which it joined).
    Own { next: u64 },
    /// It went into the turn that was running when it was sent, with no
    /// event of its own (Claude Code folding it in at a tool result): that
    /// turn's end, the first after the send's baseline `from`, answers it.
    Joined { from: u64 },
}

/// How often a wait for a queued prompt looks at the transcript for it
/// having joined the running turn (the event log wakes it at once).
const JOIN_LOOK: Duration = Duration::from_millis(250);

/// Wait (until `deadline`) for the prompt `sent` to be taken: at once for a
/// confirmed one; for a queued one, until its user_prompt_submit lands or
/// the transcript shows it joined the running turn (see
/// `Harness::joined_running_turn`). Timeout: `Error::Timeout`, the prompt
/// left queued in the harness.
pub fn taken(sent: &Sent, prompt: &[u8], deadline: Instant) -> Result<Taken> {
    let from = match sent.submitted {
        Submitted::Confirmed { next } => return Ok(Taken::Own { next }),
        Submitted::Queued { from } => from,
    };
    let worker = &sent.worker;
    let h = crate::harness::HarnessKind::of_meta(&worker.meta)?.driver();
    let transcript = crate::harness::transcript_of(worker)?;
    let joined = || match &transcript {
        Some(path) => h.joined_running_turn(path, sent.since, prompt),
        None => Ok(false),
    };
    loop {
        // The transcript first: a later event may be someone else's prompt.
        if joined()? {
            return Ok(Taken::Joined { from });
        }
        let tick = (Instant::now() + JOIN_LOOK).min(deadline);
        match crate::wait::wait_for_line(worker, from, tick, crate::submit::own_submission(h, prompt)) {
            Ok(_) if joined()? => return Ok(Taken::Joined { from }),
            Ok(found) => return Ok(Taken::Own { next: found.next }),
            Err(Error::Timeout(_)) if Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
    }
}

/// The receipt of a prompt: the line number (1-based, non-empty lines, as
/// `csd-wait --after-line` counts) after which the first turn end is the
/// end of the turn that answers it. For a prompt with its own
/// user_prompt_submit that is the event's line; for one that joined the
/// running turn, the last line before it was sent.
pub fn receipt(worker: &Worker, taken: &Taken) -> Result<u64> {
    let at = match *taken {
        Taken::Own { next } => next,
        Taken::Joined { from } => from,
    };
    worker.events().lines_before(at)
}

/// Wait for the turn the prompt started to end, then read its reply.
pub fn reply(sent: &Sent, prompt: &[u8], timeout: Duration, with_turn: bool) -> Result<Reply> {
    let worker = &sent.worker;
    let deadline = Instant::now() + timeout;
    let mut joined = false;
    let waited = (|| {
        let from = match taken(sent, prompt, deadline)? {
            Taken::Own { next } => next,
            Taken::Joined { from } => {
                joined = true;
                from
            }
        };
        wait_for_event(worker, from, deadline, |k| k.ends_turn())
    })();
    let ended = match waited {
        Ok(found) => found,
        Err(Error::Timeout(_)) => {
            let mut msg =
                format!("worker '{}' did not finish its turn within {}s", worker.name(), timeout.as_secs_f64());
            if let Some(dest) = std::env::var_os("CSD_CONVERSE_DIAG_FILE").filter(|d| !d.is_empty()) {
                let transcript = crate::harness::transcript_of(worker).ok().flatten();
                let diag =
                    crate::diag::Diag { worker, reason: "turn_timeout", timeout, transcript: transcript.as_deref() };
                if crate::diag::write(&diag, dest.as_ref()) {
                    msg.push_str(&format!("\ncsd-diagnostic: {}", std::path::Path::new(&dest).display()));
                }
            }
            return Err(Error::Timeout(msg));
        }
        Err(e) => return Err(e),
    };
    if ended.kind == crate::event::EventKind::SessionEnd {
        return Err(Error::Gone(format!("worker '{}' ended its session before answering", worker.name())));
    }
    let verdict = Verdict::of_line(&ended.line);
    if verdict != Verdict::Done {
        // A turn that did not finish may have no reply to wait for: say why
        // it ended at once (with the turn, the reason read-turn ends with).
        let text = if with_turn { verdict.markdown() } else { String::new() };
        return Ok(Reply { text, verdict });
    }
    // A prompt that joined the running turn is answered by that turn, which
    // opened before the baseline, with another prompt.
    let text = if joined {
        read_reply(worker, 0, None, with_turn)?
    } else {
        read_reply(worker, sent.since, Some(&String::from_utf8_lossy(prompt)), with_turn)?
    };
    Ok(Reply { text, verdict })
}

/// Where the worker's transcript ends before the prompt goes in: the turn the
/// prompt opens starts after it. 0 when there is no transcript yet.
fn transcript_baseline(worker: &Worker) -> Result<u64> {
    match crate::harness::transcript_of(worker)? {
        Some(path) => crate::transcript::transcript_end(&path),
        None => Ok(0),
    }
}

/// The reply of the turn `sent` opened, after byte `since` of the transcript
/// (with `with_turn`, that turn as markdown: what read-turn shows).
/// The harness may report the turn's end a moment before the turn lands
/// there (Claude Code 2.1.197 writes it after its Stop hook), when the last
/// turn on the page is still the previous one: wait briefly for ours, never
/// print theirs.
pub fn read_reply(worker: &Worker, since: u64, sent: Option<&str>, with_turn: bool) -> Result<String> {
    let format = crate::harness::HarnessKind::of_meta(&worker.meta)?.driver().transcript_format();
    let path = crate::turn_reader::transcript_path(worker)?;
    let until = Instant::now() + REPLY_GRACE;
    // Armed before the first read, so a write in between still wakes us.
    let mut watch = crate::watch::Watch::new(&path)?;
    loop {
        let late = Instant::now() >= until;
        // A turn that opened after the baseline can still be the one before
        // ours, when that one reached the transcript late (a queued prompt):
        // the prompt tells them apart.
        let ours = turn_of(&path, format, since, sent, late);
        match ours {
            Ok(Some(turn)) => {
                let text = crate::turn::last_assistant_text(&turn);
                if with_turn && (!text.is_empty() || late) {
                    return Ok(crate::turn::render_markdown(&turn, false));
                }
                if !text.trim().is_empty() {
                    return Ok(text);
                }
                if late {
                    return Err(failed(format!(
                        "worker '{}' ended its turn but its transcript holds no reply ({})",
                        worker.name(),
                        path.display()
                    )));
                }
            }
            Ok(None) if late => {
                return Err(failed(format!(
                    "worker '{}' ended its turn but its transcript does not show that turn yet ({})",
                    worker.name(),
                    path.display()
                )))
            }
            Err(e) if late => return Err(e),
            Ok(None) | Err(_) => {}
        }
        watch.wait(Some(until))?;
    }
}

/// The turn after byte `since` that `sent` opened (any, without `sent`).
/// It is the last one, or, when another sender's prompt was taken right
/// after ours, one before it: a later turn with another prompt is stepped
/// over (a few at most), never taken for ours.
fn turn_of(
    path: &std::path::Path,
    format: &dyn crate::transcript::Format,
    since: u64,
    sent: Option<&str>,
    late: bool,
) -> Result<Option<crate::turn::Turn>> {
    let mut until = None;
    for _ in 0..4 {
        let Some((turn, start)) = crate::transcript::read_complete_turn_between(path, format, since, until, late)?
        else {
            return Ok(None);
        };
        match (sent, turn.prompt.as_deref()) {
            (Some(sent), Some(seen)) if !crate::turn::same_prompt(sent, seen) => until = Some(start),
            _ => return Ok(Some(turn)),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use crate::turn::same_prompt;

    #[test]
    fn a_later_senders_turn_is_stepped_over_never_taken_for_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let user = |text: &str| format!(r#"{{"type":"user","message":{{"role":"user","content":"{text}"}}}}"#);
        let reply = |text: &str| {
            format!(
                r#"{{"type":"assistant","message":{{"role":"assistant","content":[{{"type":"text","text":"{text}"}}]}}}}"#
            )
        };
        let lines = [user("first"), reply("one"), user("second"), reply("two")];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let format = crate::harness::HarnessKind::named("claude").driver().transcript_format();
        let text = |sent| {
            let turn = super::turn_of(&path, format, 0, sent, true).unwrap().unwrap();
            crate::turn::last_assistant_text(&turn)
        };
        assert_eq!(text(Some("first")), "one");
        assert_eq!(text(Some("second")), "two");
        assert_eq!(text(None), "two");
        assert!(super::turn_of(&path, format, 0, Some("third"), true).unwrap().is_none());
    }

    #[test]
    fn a_prompt_is_recognised_through_whitespace_changes_only() {
        assert!(same_prompt("run it\r\nnow ", "run it\nnow"));
        assert!(same_prompt("say: a", "say: a"));
        assert!(!same_prompt("say: answer number 2", "say: answer number 1"));
        assert!(!same_prompt("x", ""));
        assert!(same_prompt("a\x1b[201~b \x1b[200~c", "ab c"));
    }
}

/// What is asked of a prompt beyond its giving.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Given and confirmed: nothing more.
    Send,
    /// The event-log line after which the first turn end answers it.
    Receipt,
    /// The reply of the turn it starts (with the whole turn, `with_turn`).
    Reply { with_turn: bool },
}

/// What a prompt came to, as asked.
pub enum Delivered {
    Sent,
    Receipt(u64),
    /// The reply, and the worker's name (as its meta has it) for its verdict.
    Reply(Reply, String),
}

/// Give `name` the prompt and get what is wanted of it within `timeout`
/// (from the start; [`CONVERSE_TIMEOUT`] if none). A prompt that lands
/// mid-turn is queued, not failed, and said so on stderr; a receipt waits
/// for the queued prompt to be taken.
pub fn deliver(dir: &WorkerDir, name: &str, prompt: &[u8], want: Want, timeout: Option<Duration>) -> Result<Delivered> {
    let started = Instant::now();
    let timeout = timeout.unwrap_or(CONVERSE_TIMEOUT);
    let sent = send(dir, name, prompt, &Timing::from_env()?, want != Want::Send)?;
    if let Submitted::Queued { .. } = sent.submitted {
        crate::cli::note(format!(
            "csd-send: '{}' is mid-turn: the prompt is queued and goes in when the current turn ends",
            sent.worker.name()
        ));
    }
    match want {
        Want::Send => Ok(Delivered::Sent),
        Want::Receipt => {
            // A queued prompt is taken when the running turn reaches it:
            // wait (within the timeout of the start) for it to be taken.
            let how = taken(&sent, prompt, started + timeout).map_err(|e| match e {
                Error::Timeout(_) => Error::Timeout(format!(
                    "'{}' did not take the queued prompt within {}s (it is still queued in the worker)",
                    sent.worker.name(),
                    timeout.as_secs_f64()
                )),
                e => e,
            })?;
            if let Taken::Joined { .. } = how {
                crate::cli::note(format!(
                    "csd-send: '{}' took the prompt into its running turn (no turn of its own): that turn's end answers it",
                    sent.worker.name()
                ));
            }
            Ok(Delivered::Receipt(receipt(&sent.worker, &how)?))
        }
        Want::Reply { with_turn } => {
            Ok(Delivered::Reply(reply(&sent, prompt, timeout, with_turn)?, sent.worker.name().to_string()))
        }
    }
}
