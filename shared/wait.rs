//! Waiting for a worker's next event of interest: woken by inotify when the
//! log grows and by a pidfd when the pane's process exits, with a slow tmux
//! check as a backstop for a session killed under a process that survives.

use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::watch::{Wake, Watch, LIVENESS_TICK};
use crate::worker::{Pending, Worker};
use std::time::{Duration, Instant};

/// An event found after the baseline, and where reading stopped.
#[derive(Debug)]
pub struct Found {
    pub kind: EventKind,
    pub line: Vec<u8>,
    /// Offset just after `line`: the baseline for the next wait.
    pub next: u64,
}

/// Wait until an event that `wanted` accepts lands after byte `from` in the
/// worker's log. `Error::Timeout` when `deadline` passes, `Error::Gone` when
/// the worker's tmux session ends first (an event already in the log wins).
pub fn wait_for_event(
    worker: &Worker,
    from: u64,
    deadline: Instant,
    wanted: impl Fn(EventKind) -> bool,
) -> Result<Found> {
    wait_for_line(worker, from, deadline, |kind, _| wanted(kind))
}

/// As `wait_for_event`, for a test that needs the line too (a sender
/// knowing its own `user_prompt_submit` by the prompt's digest).
pub fn wait_for_line(
    worker: &Worker,
    from: u64,
    deadline: Instant,
    wanted: impl Fn(EventKind, &[u8]) -> bool,
) -> Result<Found> {
    // Where the worker's log is; it moves with the worker (see `follow_move`).
    let log = std::cell::RefCell::new(worker.events());
    // Arm the watch before the first read, so an event landing in between
    // still wakes us.
    let witness = crate::harness::turn_witness(worker);
    // The watch, and whether it watches the pane's process.
    let arm = || -> Result<(Watch, bool)> {
        let mut watch = Watch::new(log.borrow().path())?;
        if let Some(w) = &witness {
            watch = watch.also(w);
        }
        let pid = worker.pane_pid()?;
        if let Some(pid) = pid {
            watch = watch.with_process(pid);
        }
        Ok((watch, pid.is_some()))
    };
    let (mut watch, watching) = arm()?;
    // No process to watch: the worker may be gone already, and a wait on a
    // gone worker says so at once, whatever its timeout.
    let mut look_now = !watching;
    let mut offset = from;
    let scan = |offset: &mut u64| -> Result<Option<Found>> {
        // A turn end only the harness's own files show goes into the log first.
        crate::harness::settle(worker)?;
        follow_move(worker, &log)?;
        let mut found = None;
        let end = log.borrow().read_from(*offset, |kind, line| {
            if wanted(kind, line) {
                found = Some((kind, line.to_vec()));
                return Ok(false);
            }
            Ok(true)
        })?;
        *offset = end;
        if found.is_none() && wanted(EventKind::Stop, br#"{"event":"stop"}"#) {
            // The turn's end may be the event a full disk swallowed.
            log.borrow().refuse_lost(worker.name())?;
        }
        Ok(found.map(|(kind, line)| Found { kind, line, next: end }))
    };
    loop {
        if let Some(f) = scan(&mut offset)? {
            return Ok(f);
        }
        let tick = (Instant::now() + crate::harness::look_again(worker)).min(deadline);
        let wake = if std::mem::take(&mut look_now) { Wake::Timeout } else { watch.wait(Some(tick))? };
        match wake {
            Wake::Changed | Wake::OutputClosed => {}
            Wake::Timeout if Instant::now() >= deadline => {
                return match scan(&mut offset)? {
                    Some(f) => Ok(f),
                    None => Err(Error::Timeout("timed out".into())),
                };
            }
            wake => {
                if session_ended(worker, wake == Wake::ProcessExited)? {
                    // The last hook of a dying harness may land just after.
                    crate::signals::sleep(Duration::from_millis(50))?;
                    record_crash(&log.borrow())?;
                    return match scan(&mut offset)? {
                        Some(f) => Ok(f),
                        None => Err(Error::Gone(format!("worker '{}': its tmux session is gone", worker.name()))),
                    };
                }
                if wake == Wake::ProcessExited {
                    // The session lives on with a new process (a respawned pane).
                    watch = arm()?.0;
                }
            }
        }
    }
}

/// A log gone from under a waiter whose worker moved to a new session (the
/// hook carried it over, byte for byte, under the new id): read on there.
fn follow_move(worker: &Worker, log: &std::cell::RefCell<crate::eventlog::EventLog>) -> Result<()> {
    if !log.borrow().exists() {
        if let Some(moved) = worker.moved()? {
            *log.borrow_mut() = moved.events();
        }
    }
    Ok(())
}

/// A worker whose session ended while its log shows a turn running: its CLI
/// exited or died mid-turn. Say so in the log, as the turn's end, so every
/// reader of stops (`csd-events --type stop`, a fleet's stream) sees it.
fn record_crash(log: &crate::eventlog::EventLog) -> Result<()> {
    let verdict = crate::verdict::Verdict::Crashed("its tmux session ended mid-turn".into());
    match log.end_open_turn(verdict) {
        Ok(_) => Ok(()),
        // The log may be gone with the worker (a stop removed it): nothing
        // left to tell.
        Err(crate::error::Error::Io(..)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// After the pane's process exited (`process_exited`) or a liveness tick:
/// whether the worker's session is gone. tmux closes a session a moment
/// after its last process, so an exit is given a second to show. The pane
/// mark answers first, as it does for status: a pane process still running
/// on its open terminal is alive, whatever tmux's socket says (a /tmp
/// cleaner may have removed it).
pub fn session_ended(worker: &Worker, process_exited: bool) -> Result<bool> {
    let tries = if process_exited { 40 } else { 1 };
    for i in 0..tries {
        if !worker.is_alive()? {
            return Ok(true);
        }
        if i + 1 < tries {
            crate::signals::sleep(Duration::from_millis(25))?;
        }
    }
    Ok(false)
}

/// Block until a pending worker registers (woken by inotify on the worker
/// dir, where the meta lands by rename), its session dies, or `deadline`
/// passes.
pub fn await_registration(p: &Pending, deadline: Instant) -> Result<Worker> {
    // Any entry of the dir will do: Watch watches the directory for it.
    let mut watch = Watch::new(&p.dir.root().join(".csd-registration"))?;
    if let Some(pid) = p.session()?.and_then(|s| s.pane_pid) {
        watch = watch.with_process(pid);
    }
    loop {
        if let Some(w) = p.registered()? {
            crate::harness::settle(&w)?;
            return Ok(w);
        }
        let tick = (Instant::now() + LIVENESS_TICK).min(deadline);
        match watch.wait(Some(tick))? {
            Wake::Changed | Wake::OutputClosed => {}
            Wake::Timeout if Instant::now() >= deadline => {
                return match p.registered()? {
                    Some(w) => Ok(w),
                    None => Err(Error::Timeout(format!(
                        "worker '{}' did not register in time ({} mints its session id on the first \
                         prompt; raise CSD_REGISTER_TIMEOUT to wait longer)",
                        p.name,
                        p.marker.harness.as_str()
                    ))),
                };
            }
            _ if !p.is_alive()? => {
                return match p.registered()? {
                    Some(w) => Ok(w),
                    None => Err(Error::Gone(format!("worker '{}': its tmux session is gone", p.name))),
                };
            }
            _ => {}
        }
    }
}

/// Block until none of `workers` is `limited` (its last turn failed on a
/// rate or usage limit whose reset time is still ahead), by sleeping until
/// the latest reset: no wake-ups, no polling, so a fleet of limited workers
/// costs nothing while it waits. A reset after `deadline` is a timeout at
/// once, saying when. Returns each worker's status once ready.
pub fn until_ready(workers: &[Worker], deadline: Instant) -> Result<Vec<crate::worker::Status>> {
    loop {
        let mut latest: Option<(i64, &str)> = None;
        let mut statuses = Vec::new();
        for w in workers {
            let status = crate::harness::status(w)?;
            if status == crate::worker::Status::Limited {
                if let Some(t) = w.last_verdict()?.limit_reset() {
                    if latest.is_none_or(|(l, _)| t > l) {
                        latest = Some((t, w.name()));
                    }
                }
            }
            statuses.push(status);
        }
        let Some((until, name)) = latest else { return Ok(statuses) };
        let left = Duration::from_secs(until.saturating_sub(crate::time::now_unix()).max(0) as u64);
        if Instant::now() + left > deadline {
            return Err(Error::Timeout(format!(
                "worker '{name}' is limited until {}, after the timeout",
                crate::time::iso_from_unix(until)
            )));
        }
        // A second past the reset: the API's clock and ours agree to the second.
        crate::signals::sleep(left + Duration::from_secs(1))?;
    }
}
