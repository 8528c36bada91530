//! csd-send: give a worker a prompt (`W PROMPT`), or hold a whole exchange
//! (`--converse W PROMPT [TIMEOUT]`: send, wait for the turn to end, print
//! the reply). PROMPT `-` reads it from stdin.

use csd::cli::{main_with, note, parse_seconds, print_help, print_version, utf8};
use csd::error::{failed, usage, Error, Result};
use csd::event::StopReason;
use csd::submit::{submit_to, Submitted, Timing};
use csd::wait::wait_for_event;
use csd::worker::{Lookup, Worker};
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::time::{Duration, Instant};

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_SEND;
const CONVERSE_TIMEOUT: Duration = Duration::from_secs(120);
/// The transcript may trail the harness's stop event: Claude Code writes the
/// turn after its Stop hook, which took over 2 s on a loaded 2-core machine
/// (a CI run). The wait wakes on the write, so a long grace costs nothing
/// when the reply comes; only a turn with no reply at all waits it out.
const REPLY_GRACE: Duration = Duration::from_secs(10);

fn main() {
    main_with("csd-send", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    // A signal must not leave a prompt half-submitted (see submit_to).
    csd::signals::install()?;
    let (mut converse, mut with_turn) = (false, false);
    let mut positional: Vec<OsString> = Vec::new();
    while let Some(arg) = p.next()? {
        match arg {
            Long("converse") => converse = true,
            Long("with-turn") => with_turn = true,
            Short('h') => return print_help(&TOOL.short_help()),
            Long("help") => return print_help(&TOOL.long_help()),
            Short('V') | Long("version") => return print_version(TOOL.name),
            Value(v) => positional.push(v),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if with_turn && !converse {
        return Err(usage("--with-turn goes with --converse"));
    }
    let max = if converse { 3 } else { 2 };
    if positional.len() < 2 || positional.len() > max {
        let shape = if converse { "--converse WORKER PROMPT [TIMEOUT]" } else { "WORKER PROMPT" };
        return Err(usage(format!("expected {shape}, got {} argument(s)", positional.len())));
    }
    let mut positional = positional.into_iter();
    let name = utf8(positional.next().expect("counted"), "WORKER")?;
    let prompt = read_prompt(positional.next().expect("counted"))?;
    let timeout = positional.next().map(|t| parse_seconds(t, "TIMEOUT")).transpose()?;
    let timing = Timing::from_env()?;
    let dir = WorkerDir::from_env()?;
    // Taken before the paste: the reply is in the turn that opens after it.
    // A worker still to register (a Codex worker's first prompt) has no
    // transcript yet: all of it is this turn's.
    let since = match csd::harness::lookup(&dir, &name)? {
        Lookup::Registered(w) if converse => transcript_baseline(&w)?,
        _ => 0,
    };
    // A Codex worker has no session id before its first prompt: this one registers it.
    let (worker, submitted) = submit_to(&dir, &name, &prompt, &timing)?;
    if let Submitted::Queued { .. } = submitted {
        note(format!(
            "csd-send: '{}' is mid-turn: the prompt is queued and goes in when the current turn ends",
            worker.name()
        ));
    }
    if !converse {
        return Ok(0);
    }
    converse_reply(&worker, (since, &prompt), submitted, timeout.unwrap_or(CONVERSE_TIMEOUT), with_turn)
}

/// An argument as it is, or with `-` all of stdin minus one final newline
/// (as `$(…)` would drop it). Empty prompts are refused.
fn read_prompt(arg: OsString) -> Result<Vec<u8>> {
    let mut prompt = if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|e| Error::Io("reading the prompt from stdin".into(), e))?;
        if buf.ends_with(b"\n") {
            buf.pop();
            if buf.ends_with(b"\r") {
                buf.pop();
            }
        }
        buf
    } else {
        arg.into_vec()
    };
    if prompt.iter().all(u8::is_ascii_whitespace) {
        return Err(usage("the prompt is empty"));
    }
    prompt.shrink_to_fit();
    Ok(prompt)
}

/// Wait for the turn the prompt started to end, then print the reply.
fn converse_reply(
    worker: &Worker,
    (since, prompt): (u64, &[u8]),
    submitted: Submitted,
    timeout: Duration,
    with_turn: bool,
) -> Result<i32> {
    let deadline = Instant::now() + timeout;
    let h = csd::harness::HarnessKind::of_meta(&worker.meta)?.driver();
    let waited = (|| {
        let from = match submitted {
            Submitted::Confirmed { next } => next,
            Submitted::Queued { from } => wait_for_event(worker, from, deadline, |k| h.confirms_submission(k))?.next,
        };
        wait_for_event(worker, from, deadline, |k| k.ends_turn())
    })();
    let ended = match waited {
        Ok(found) => found,
        Err(Error::Timeout(_)) => {
            let mut msg =
                format!("worker '{}' did not finish its turn within {}s", worker.name(), timeout.as_secs_f64());
            if let Some(dest) = std::env::var_os("CSD_CONVERSE_DIAG_FILE").filter(|d| !d.is_empty()) {
                let transcript = csd::harness::transcript_of(worker).ok().flatten();
                let diag =
                    csd::diag::Diag { worker, reason: "turn_timeout", timeout, transcript: transcript.as_deref() };
                if csd::diag::write(&diag, dest.as_ref()) {
                    msg.push_str(&format!("\ncsd-diagnostic: {}", std::path::Path::new(&dest).display()));
                }
            }
            return Err(Error::Timeout(msg));
        }
        Err(e) => return Err(e),
    };
    if ended.kind == csd::event::EventKind::SessionEnd {
        return Err(Error::Gone(format!("worker '{}' ended its session before answering", worker.name())));
    }
    let reply = read_reply(worker, since, &String::from_utf8_lossy(prompt), with_turn)?;
    let mut out = std::io::stdout().lock();
    out.write_all(reply.as_bytes())
        .and_then(|_| if reply.ends_with('\n') { Ok(()) } else { out.write_all(b"\n") })
        .map_err(|e| Error::Io("writing the reply".into(), e))?;
    // A turn that ended without finishing (Codex: a failed model request, an
    // interrupt) is a failure, whatever it left on the page.
    match StopReason::of_line(&ended.line) {
        Some(StopReason::Error) => Err(failed(format!("worker '{}': its turn failed (see above)", worker.name()))),
        Some(StopReason::Interrupted) => {
            Err(failed(format!("worker '{}': its turn was interrupted (see above)", worker.name())))
        }
        _ => Ok(0),
    }
}

/// Where the worker's transcript ends before the prompt goes in: the turn the
/// prompt opens starts after it. 0 when there is no transcript yet.
fn transcript_baseline(worker: &Worker) -> Result<u64> {
    match csd::harness::transcript_of(worker)? {
        Some(path) => csd::transcript::transcript_end(&path),
        None => Ok(0),
    }
}

/// The reply of the turn `sent` opened, after byte `since` of the transcript.
/// The harness may report the turn's end a moment before the turn lands
/// there (Claude Code 2.1.197 writes it after its Stop hook), when the last
/// turn on the page is still the previous one: wait briefly for ours, never
/// print theirs.
fn read_reply(worker: &Worker, since: u64, sent: &str, with_turn: bool) -> Result<String> {
    let format = csd::transcript::format_for(csd::harness::HarnessKind::of_meta(&worker.meta)?)?;
    let path = csd::transcript::transcript_path(worker)?;
    let until = Instant::now() + REPLY_GRACE;
    // Armed before the first read, so a write in between still wakes us.
    let mut watch = csd::watch::Watch::new(&path)?;
    loop {
        let late = Instant::now() >= until;
        // A turn that opened after the baseline can still be the one before
        // ours, when that one reached the transcript late (a queued prompt):
        // the prompt tells them apart.
        let ours = csd::transcript::read_complete_turn_since(&path, format, since, late)
            .map(|t| t.filter(|t| t.prompt.as_deref().is_none_or(|seen| same_prompt(sent, seen))));
        match ours {
            Ok(Some(turn)) => {
                let text = csd::turn::last_assistant_text(&turn);
                if with_turn && (!text.is_empty() || late) {
                    return Ok(csd::turn::render_markdown(&turn, false));
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

/// Whether the transcript's prompt is the one pasted, allowing for what a
/// TUI may do to whitespace (line endings, trailing spaces, tabs).
fn same_prompt(sent: &str, seen: &str) -> bool {
    // The paste markers a prompt held were removed before it went in.
    let sent = String::from_utf8_lossy(&csd::harness::strip_paste_markers(sent.as_bytes())).into_owned();
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (sent, seen) = (words(&sent), words(seen));
    sent == seen || seen.contains(&sent)
}

#[cfg(test)]
mod tests {
    use super::same_prompt;

    #[test]
    fn a_prompt_is_recognised_through_whitespace_changes_only() {
        assert!(same_prompt("run it\r\nnow ", "run it\nnow"));
        assert!(same_prompt("say: a", "say: a"));
        assert!(!same_prompt("say: answer number 2", "say: answer number 1"));
        assert!(!same_prompt("x", ""));
        assert!(same_prompt("a\x1b[201~b \x1b[200~c", "ab c"));
    }
}
