//! Waiting for a worker's next event of interest: woken by inotify when the
//! log grows and by a pidfd when the pane's process exits, with a slow tmux
//! check as a backstop for a session killed under a process that survives.

use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::watch::{Wake, Watch, LIVENESS_TICK};
use crate::worker::Worker;
use std::time::Instant;

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
    let log = worker.events();
    let tmux = worker.tmux()?;
    // Arm the watch before the first read, so an event landing in between
    // still wakes us.
    let witness = crate::harness::turn_witness(worker);
    let arm = || -> Result<Watch> {
        let mut watch = Watch::new(log.path())?;
        if let Some(w) = &witness {
            watch = watch.also(w);
        }
        if let Some(pid) = worker.pane_pid()? {
            watch = watch.with_process(pid);
        }
        Ok(watch)
    };
    let mut watch = arm()?;
    let mut offset = from;
    let scan = |offset: &mut u64| -> Result<Option<Found>> {
        // A turn end only the harness's own files show goes into the log first.
        crate::harness::settle(worker)?;
        let mut found = None;
        let end = log.read_from(*offset, |kind, line| {
            if wanted(kind) {
                found = Some((kind, line.to_vec()));
                return Ok(false);
            }
            Ok(true)
        })?;
        *offset = end;
        Ok(found.map(|(kind, line)| Found { kind, line, next: end }))
    };
    loop {
        if let Some(f) = scan(&mut offset)? {
            return Ok(f);
        }
        let tick = (Instant::now() + LIVENESS_TICK).min(deadline);
        match watch.wait(Some(tick))? {
            Wake::Changed | Wake::OutputClosed => {}
            Wake::Timeout if Instant::now() >= deadline => {
                return match scan(&mut offset)? {
                    Some(f) => Ok(f),
                    None => Err(Error::Timeout("timed out".into())),
                };
            }
            wake => {
                // The pane's process exited, or a liveness tick came round.
                // tmux closes a session a moment after its last process.
                let tries = if wake == Wake::ProcessExited { 40 } else { 1 };
                let mut alive = true;
                for _ in 0..tries {
                    alive = tmux.has_session(worker.name());
                    if !alive {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                if !alive {
                    // The last hook of a dying harness may land just after.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    return match scan(&mut offset)? {
                        Some(f) => Ok(f),
                        None => Err(Error::Gone(format!("worker '{}': its tmux session is gone", worker.name()))),
                    };
                }
                if wake == Wake::ProcessExited {
                    // The session lives on with a new process (a respawned pane).
                    watch = arm()?;
                }
            }
        }
    }
}
