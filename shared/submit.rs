//! Putting a prompt into a worker and knowing it was taken.
//!
//! The prompt is pasted once (through a tmux buffer: no length limit), then
//! the harness's submit key is pressed, and pressed again (soon at first,
//! then every retry interval) until the harness's own event (Claude: `user_prompt_submit`)
//! says it took the prompt. The baseline is taken before the paste, so a
//! confirmation that lands while we are still pressing keys is not missed.
//! A prompt is never pasted twice.

use crate::error::{failed, Error, Result};
use crate::harness::HarnessKind;
use crate::wait::{await_registration, wait_for_event};
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
    let h = p
        .marker
        .harness
        .kind()
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
    h.paste(tmux, &p.name, prompt)?;
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
        match wait_for_event(&worker, 0, tick, |k| h.confirms_submission(k)) {
            Ok(found) => return Ok((worker, Submitted::Confirmed { next: found.next })),
            Err(Error::Timeout(_)) if Instant::now() < until => tmux.send_keys(&p.name, &[h.submit_key()])?,
            Err(Error::Timeout(_)) => {
                return Err(failed(format!(
                    "worker '{}' registered but did not confirm its first prompt within {}s",
                    p.name,
                    timing.timeout.as_secs_f64()
                )))
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
    h.paste(tmux, name, prompt)?;
    let deadline = Instant::now() + timing.timeout;
    // Claude Code drops an Enter that comes within a moment of its start-up,
    // so the first retries come soon (an Enter on an empty input is a no-op),
    // then settle to the retry interval.
    let mut gap = FIRST_RETRY.min(timing.retry_interval);
    loop {
        tmux.send_keys(name, &[h.submit_key()])?;
        let tick = (Instant::now() + gap).min(deadline);
        gap = (gap * 2).min(timing.retry_interval);
        match wait_for_event(worker, from, tick, |k| h.confirms_submission(k)) {
            Ok(found) => return Ok(Submitted::Confirmed { next: found.next }),
            Err(Error::Timeout(_)) if was_working && h.shows_queued(&tmux.capture(name, false)?) => {
                return Ok(Submitted::Queued { from });
            }
            Err(Error::Timeout(_)) if Instant::now() < deadline => {}
            Err(Error::Timeout(_)) => break,
            Err(e) => return Err(e),
        }
    }
    // Mid-turn, Claude Code holds a submitted prompt until the turn ends; it
    // is queued, not lost, as long as that turn is still going. (The screen
    // usually says so sooner, above.)
    if was_working && !turn_ended_since(worker, from)? {
        return Ok(Submitted::Queued { from });
    }
    Err(failed(format!(
        "worker '{name}' did not confirm the prompt within {}s (pasted once, {} pressed every {}s); \
         raise CSD_SUBMIT_TIMEOUT if the machine is slow, or look at the pane: {}",
        timing.timeout.as_secs_f64(),
        h.submit_key(),
        timing.retry_interval.as_secs_f64(),
        tmux.attach_command(name)
    )))
}

fn turn_ended_since(worker: &Worker, from: u64) -> Result<bool> {
    let mut ended = false;
    worker.events().read_from(from, |kind, _| {
        ended |= kind.ends_turn();
        Ok(!ended)
    })?;
    Ok(ended)
}
