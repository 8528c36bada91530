//! Putting a prompt into a worker and knowing it was taken.
//!
//! The prompt is pasted once (through a tmux buffer: no length limit), then
//! the harness's submit key is pressed, and pressed again (soon at first,
//! then every retry interval) until the harness's own event (Claude: `user_prompt_submit`)
//! says it took the prompt. The baseline is taken before the paste, so a
//! confirmation that lands while we are still pressing keys is not missed.
//! A prompt is never pasted twice.
//!
//! One prompt goes into a worker at a time: the worker's send lock
//! (`WorkerDir::send_lock`) is held from before the paste until the
//! prompt's own `user_prompt_submit` (known by its `prompt_digest`) lands,
//! so two senders never splice their prompts into one, and neither is
//! confirmed by the other's submission. A prompt that is not taken is
//! cleared from the input before the lock is let go.

use crate::error::{failed, Error, Result};
use crate::event::EventKind;
use crate::harness::{Harness, HarnessKind};
use crate::tmux::Tmux;
use crate::wait::{await_registration, wait_for_line};
use crate::worker::{register_timeout, Lookup, Pending, Status, Worker};
use std::time::{Duration, Instant};

pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(10);
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);
const FIRST_RETRY: Duration = Duration::from_millis(250);

#[derive(Debug, PartialEq, Eq)]
pub enum Submitted {
    /// The harness confirmed it; its log continues after byte `next`.
    Confirmed { next: u64 },
    /// The worker was mid-turn and holds the prompt for when the turn ends;
    /// its confirmation will land after byte `from`.
    Queued { from: u64 },
}

pub struct Timing {
    pub timeout: Duration,
    pub retry_interval: Duration,
}

impl Timing {
    /// `CSD_SUBMIT_TIMEOUT` and `CSD_SUBMIT_RETRY_INTERVAL`, in seconds.
    pub fn from_env() -> Result<Timing> {
        Ok(Timing {
            timeout: crate::knobs::seconds("CSD_SUBMIT_TIMEOUT", SUBMIT_TIMEOUT)?,
            retry_interval: crate::knobs::seconds("CSD_SUBMIT_RETRY_INTERVAL", RETRY_INTERVAL)?,
        })
    }
}

/// Submit to the worker `found` (a lookup): a registered one as `submit` does,
/// or one still waiting for its harness to mint a session id (a Codex
/// worker's first prompt), which this prompt makes register.
///
/// A signal (SIGINT, SIGTERM, SIGHUP) before the paste stops the send with
/// nothing typed; one after it is held until the prompt is confirmed (at
/// most the submit timeout), so no half-submitted prompt is left in the
/// worker's input for the next send to be appended to. The signal then ends
/// the command.
pub fn submit_to(found: Lookup, prompt: &[u8], timing: &Timing) -> Result<(Worker, Submitted)> {
    let (dir, name) = match &found {
        Lookup::Registered(w) => (w.dir.clone(), w.name().to_string()),
        Lookup::Pending(p) => (p.dir.clone(), p.name.clone()),
    };
    // Held until this prompt is confirmed (or cleared): see the module doc.
    let _lock = dir.send_lock(&name, Instant::now() + timing.timeout)?;
    let done = match found {
        // The prompt may have moved the worker to a new session (Codex after /new).
        Lookup::Registered(w) => submit(&w, prompt, timing).and_then(|s| Ok((w.moved()?.unwrap_or(w), s))),
        Lookup::Pending(p) => submit_first(&p, prompt, timing),
    };
    crate::signals::check()?;
    done
}

/// The first prompt of a worker whose harness mints its id on it: paste,
/// press the submit key until the hook registers the worker (within
/// `CSD_REGISTER_TIMEOUT`), then confirm as usual. The log did not exist
/// before the registering hook, so every event in it belongs to this
/// prompt: the baseline is its start, and the registering prompt's
/// user_prompt_submit cannot be missed.
fn submit_first(p: &Pending, prompt: &[u8], timing: &Timing) -> Result<(Worker, Submitted)> {
    let h = HarnessKind::of(&p.marker.harness)
        .ok_or_else(|| failed(format!("worker '{}' has unknown harness '{}'", p.name, p.marker.harness.as_str())))?
        .driver();
    let tmux = p.tmux()?;
    if !p.is_alive()? {
        return Err(Error::Gone(format!("worker '{}': its tmux session is gone", p.name)));
    }
    crate::signals::check()?;
    crate::signals::deferred(|| confirm_first(p, h, &tmux, prompt, timing))
}

fn confirm_first(
    p: &Pending,
    h: &dyn crate::harness::Harness,
    tmux: &crate::tmux::Tmux,
    prompt: &[u8],
    timing: &Timing,
) -> Result<(Worker, Submitted)> {
    put(h, tmux, &p.name, prompt)?;
    let deadline = Instant::now() + register_timeout()?;
    // As in `submit`: soon at first (an Enter right after start-up may be
    // dropped), then every retry interval.
    let mut gap = FIRST_RETRY.min(timing.retry_interval);
    let mut worker = loop {
        tmux.send_keys(&p.name, &[h.submit_key()])?;
        let tick = (Instant::now() + gap).min(deadline);
        gap = (gap * 2).min(timing.retry_interval);
        match await_registration(p, tick) {
            Ok(w) => break w,
            Err(Error::Timeout(_)) if Instant::now() < deadline => {}
            Err(e) => return Err(e),
        }
    };
    worker.record_pane()?;
    let until = Instant::now() + timing.timeout;
    loop {
        let tick = (Instant::now() + timing.retry_interval).min(until);
        match wait_for_line(&worker, 0, tick, own_submission(h, prompt)) {
            Ok(found) => return Ok((worker, Submitted::Confirmed { next: found.next })),
            Err(Error::Timeout(_)) if Instant::now() < until => tmux.send_keys(&p.name, &[h.submit_key()])?,
            Err(Error::Timeout(_)) => {
                let left = left_in_input(h, tmux, &p.name, prompt);
                return Err(failed(format!(
                    "worker '{}' registered but did not confirm its first prompt within {}s; {left}",
                    p.name,
                    timing.timeout.as_secs_f64()
                )));
            }
            Err(e) => return Err(e),
        }
    }
}

pub fn submit(worker: &Worker, prompt: &[u8], timing: &Timing) -> Result<Submitted> {
    let h = HarnessKind::of_meta(&worker.meta)?.driver();
    let tmux = worker.tmux()?;
    let name = worker.name();
    let was_working = match crate::harness::status(worker)? {
        Status::Gone => return Err(Error::Gone(format!("worker '{name}': its tmux session is gone"))),
        Status::Terminated => return Err(failed(format!("worker '{name}' has ended its session (session_end)"))),
        // Its screen shows a question or a dialog: typed text would land in
        // it, not in the prompt.
        Status::Blocked => {
            let why = worker.last_verdict()?.describe(name);
            return Err(Error::Turn(crate::error::EXIT_BLOCKED, format!("{why}; nothing was sent")));
        }
        s => s == Status::Working,
    };
    crate::signals::check()?;
    crate::signals::deferred(|| confirm(worker, h, &tmux, prompt, timing, was_working))
}

fn confirm(
    worker: &Worker,
    h: &dyn crate::harness::Harness,
    tmux: &crate::tmux::Tmux,
    prompt: &[u8],
    timing: &Timing,
    was_working: bool,
) -> Result<Submitted> {
    let name = worker.name();
    let log = worker.events();
    let from = log.end()?;
    // Where the transcript ends before the paste: a queued prompt is
    // believed queued only when the harness's own record after it says so.
    let transcript = if was_working { crate::harness::transcript_of(worker)? } else { None };
    let tsince = transcript.as_deref().map(crate::transcript::transcript_end).transpose()?.unwrap_or(0);
    let enqueued = || match &transcript {
        Some(path) => h.enqueued(path, tsince, prompt),
        None => Ok(true),
    };
    // Taken into the running turn with no event of its own: the turn may
    // even have ended by now (Qwen Code steers a prompt sent during a model
    // request into it, and fires no UserPromptSubmit for it).
    let joined = || match &transcript {
        Some(path) => h.joined_running_turn(path, tsince, prompt),
        None => Ok(false),
    };
    put(h, tmux, name, prompt)?;
    let deadline = Instant::now() + timing.timeout;
    // Claude Code drops an Enter that comes within a moment of its start-up,
    // so the first retries come soon (an Enter on an empty input is a no-op),
    // then settle to the retry interval.
    let mut gap = FIRST_RETRY.min(timing.retry_interval);
    loop {
        tmux.send_keys(name, &[h.submit_key()])?;
        let tick = (Instant::now() + gap).min(deadline);
        gap = (gap * 2).min(timing.retry_interval);
        match wait_for_line(worker, from, tick, own_submission(h, prompt)) {
            Ok(found) => return Ok(Submitted::Confirmed { next: found.next }),
            Err(Error::Timeout(_)) if was_working && h.shows_queued(&tmux.capture(name, false)?) && enqueued()? => {
                return Ok(Submitted::Queued { from });
            }
            Err(Error::Timeout(_)) if was_working && joined()? => return Ok(Submitted::Queued { from }),
            Err(Error::Timeout(_)) if Instant::now() < deadline => {}
            Err(Error::Timeout(_)) => break,
            Err(e) => return Err(e),
        }
    }
    // Mid-turn, Claude Code holds a submitted prompt until the turn ends; it
    // is queued, not lost, as long as that turn is still going. (The screen
    // usually says so sooner, above.)
    if was_working && !turn_ended_since(worker, from)? && enqueued()? {
        return Ok(Submitted::Queued { from });
    }
    let left = left_in_input(h, tmux, name, prompt);
    Err(failed(format!(
        "worker '{name}' did not confirm the prompt within {}s (pasted once, {} pressed every {}s); {left}; \
         raise CSD_SUBMIT_TIMEOUT if the machine is slow, or look at the pane: {}",
        timing.timeout.as_secs_f64(),
        h.submit_key(),
        timing.retry_interval.as_secs_f64(),
        tmux.attach_command(name)
    )))
}

/// `csd-send --command`: type a CLI command into worker `name`.
pub fn run_command(dir: &crate::workerdir::WorkerDir, name: &str, command: &str, timing: &Timing) -> Result<()> {
    match crate::harness::lookup(dir, name)? {
        Lookup::Registered(w) => send_command(&w, command, timing),
        Lookup::Pending(p) => Err(failed(format!(
            "worker '{}' has not registered yet ({} mints its session id on the first prompt): send it a prompt first",
            p.name,
            p.marker.harness.as_str()
        ))),
    }
}

/// Type one of the CLI's own commands into the registered worker `w`
/// (`csd-send --command`), under its send lock like any prompt.
pub fn send_command(w: &Worker, command: &str, timing: &Timing) -> Result<()> {
    if command.contains(['\n', '\r']) || command.chars().any(char::is_control) {
        return Err(crate::error::usage("a command is one line, without control characters"));
    }
    let h = HarnessKind::of_meta(&w.meta)?.driver();
    let _lock = w.dir.send_lock(w.name(), Instant::now() + timing.timeout)?;
    if !w.is_alive()? {
        return Err(Error::Gone(format!("worker '{}': its tmux session is gone", w.name())));
    }
    crate::signals::check()?;
    crate::signals::deferred(|| h.type_command(&w.tmux()?, w.name(), command))
}

/// Put the prompt in as text for the model (`Harness::put_prompt`); say on
/// stderr when the harness made csd change it.
fn put(h: &dyn Harness, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<()> {
    if let Some(note) = h.put_prompt(tmux, name, prompt)? {
        crate::cli::note(format!("csd-send: '{name}': {note}"));
    }
    Ok(())
}

/// The test for this prompt's own submission: the harness's confirming
/// event, carrying this prompt's digest (a line without one, from a hook
/// that did not name the prompt, is taken as it always was).
pub fn own_submission<'h>(h: &'h dyn Harness, prompt: &[u8]) -> impl Fn(EventKind, &[u8]) -> bool + 'h {
    let digest = crate::event::prompt_digest(&String::from_utf8_lossy(prompt));
    move |kind, line| h.confirms_submission(kind) && crate::event::digest_of_line(line).is_none_or(|d| d == digest)
}

/// Empty the input of a prompt that was not taken, and say what is left.
fn left_in_input(h: &dyn Harness, tmux: &Tmux, name: &str, prompt: &[u8]) -> String {
    match h.clear_input(tmux, name, prompt) {
        Ok(Some(true)) => "csd cleared the prompt from its input (the input is empty)".into(),
        Ok(Some(false)) => format!(
            "csd tried to clear the prompt from its input but the screen still shows text there: \
             clear it by hand (attach, Ctrl-U) before the next send: {}",
            tmux.attach_command(name)
        ),
        Ok(None) => "csd cleared the prompt from its input (Ctrl-U; the screen cannot confirm it)".into(),
        Err(e) => format!("the prompt may still be in its input (clearing it failed: {e})"),
    }
}

fn turn_ended_since(worker: &Worker, from: u64) -> Result<bool> {
    let mut ended = false;
    worker.events().read_from(from, |kind, _| {
        ended |= kind.ends_turn();
        Ok(!ended)
    })?;
    Ok(ended)
}
