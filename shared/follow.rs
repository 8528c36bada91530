//! One worker's events on stdout (`csd-events WORKER`): its log's path, the
//! lines there now (the last N, of one type), or, with `follow`, every line
//! as it lands until the worker's session ends, as `tail -f --pid` would.

use crate::error::{failed, Error, Result};
use crate::event::EventKind;
use crate::eventlog::EventLog;
use crate::wait::{await_registration, session_ended};
use crate::watch::{Wake, Watch};
use crate::worker::{Lookup, Worker};
use crate::workerdir::WorkerDir;
use std::io::{BufWriter, StdoutLock, Write};
use std::time::{Duration, Instant};

/// What was asked of `csd-events WORKER`.
pub struct Ask {
    /// Only events of this type.
    pub only: Option<EventKind>,
    /// Only the last N (before following).
    pub last: Option<u64>,
    pub follow: bool,
    /// Print the log's path, nothing else.
    pub path: bool,
}

type Out<'a> = BufWriter<StdoutLock<'a>>;

fn write_err(e: std::io::Error) -> Error {
    Error::Io("writing events".into(), e)
}

/// The events of worker `name`, as asked: exit status 0 when they are all
/// printed (or the followed session ended by stop or exit), `Gone` when the
/// followed session died.
pub fn events(dir: &WorkerDir, name: &str, ask: &Ask) -> Result<i32> {
    let worker = match crate::harness::lookup(dir, name)? {
        Lookup::Registered(w) => w,
        // Not registered yet (Codex before its first prompt): no events so
        // far; a follower waits for the log to exist.
        Lookup::Pending(p) if ask.follow && !ask.path => await_registration(&p, far_future())?,
        Lookup::Pending(_) if !ask.path => return Ok(0),
        Lookup::Pending(p) => {
            return Err(failed(format!(
                "worker '{}' has no event file yet: {} mints its session id on the first prompt",
                p.name,
                p.marker.harness.as_str()
            )))
        }
    };
    let log = worker.events();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if ask.path {
        writeln!(out, "{}", log.path().display()).map_err(write_err)?;
        out.flush().map_err(write_err)?;
        return Ok(0);
    }
    if !ask.follow && !log.exists() {
        return Err(failed(format!("no event file for session {}", worker.meta.session_id)));
    }
    if !ask.follow {
        backlog(&worker, &log, ask, &mut out)?;
        out.flush().map_err(write_err)?;
        return Ok(0);
    }
    Follower::arm(&worker)?.run(&log, ask, &mut out)
}

/// The lines there now (the last N, or all): where the log was read to.
fn backlog(worker: &Worker, log: &EventLog, ask: &Ask, out: &mut Out) -> Result<u64> {
    match ask.last {
        Some(n) => {
            if ask.follow {
                crate::harness::settle(worker)?;
            }
            let (lines, end) = log.tail(n, ask.only)?;
            for line in lines {
                out.write_all(&line).and_then(|_| out.write_all(b"\n")).map_err(write_err)?;
            }
            Ok(end)
        }
        None => emit(worker, log, ask, 0, out),
    }
}

/// The lines from `from` on (of the type asked): where the log ends now.
fn emit(worker: &Worker, log: &EventLog, ask: &Ask, from: u64, out: &mut Out) -> Result<u64> {
    if ask.follow {
        crate::harness::settle(worker)?;
    }
    log.read_from(from, |kind, line| {
        if ask.only.is_none_or(|k| k == kind) {
            out.write_all(line).and_then(|_| out.write_all(b"\n")).map_err(write_err)?;
            if ask.follow {
                out.flush().map_err(write_err)?;
            }
        }
        Ok(true)
    })
}

/// A follower's watch: the log, the harness's own turn-end file if it has
/// one, the pane's process, and stdout (a reader that went away ends us).
struct Follower<'w> {
    worker: &'w Worker,
    watch: Watch,
    /// No process to watch: the worker may be gone already; look at once.
    look_now: bool,
}

impl<'w> Follower<'w> {
    /// Armed before the backlog is read, so nothing lands unseen. A turn end
    /// only the harness's own files show (Codex's rollout) wakes us too, and
    /// goes into the log before it is read.
    fn arm(worker: &'w Worker) -> Result<Follower<'w>> {
        let pid = worker.pane_pid()?;
        Ok(Follower { worker, watch: Follower::watch(worker, pid)?, look_now: pid.is_none() })
    }

    fn watch(worker: &Worker, pid: Option<i32>) -> Result<Watch> {
        let mut w = Watch::new(worker.events().path())?.with_stdout();
        if let Some(p) = crate::harness::turn_witness(worker) {
            w = w.also(&p);
        }
        Ok(match pid {
            Some(pid) => w.with_process(pid),
            None => w,
        })
    }

    fn run(mut self, log: &EventLog, ask: &Ask, out: &mut Out) -> Result<i32> {
        let worker = self.worker;
        let mut offset = backlog(worker, log, ask, out)?;
        out.flush().map_err(write_err)?;
        let mut seen_file = log.exists();
        loop {
            let wake = if std::mem::take(&mut self.look_now) {
                Wake::Timeout
            } else {
                self.watch.wait(Some(Instant::now() + crate::harness::look_again(worker)))?
            };
            if wake == Wake::OutputClosed {
                return Ok(0);
            }
            offset = emit(worker, log, ask, offset, out)?;
            out.flush().map_err(write_err)?;
            // The worker was stopped: its log is gone, and so is anything to follow.
            let exists = log.exists();
            if seen_file && !exists {
                return Ok(0);
            }
            seen_file |= exists;
            // As `tail --pid`: a worker whose session died has nothing more
            // to say. A session that ended (stop, /exit) logged session_end
            // first, or was stopped and its log removed; one that died did
            // neither.
            if matches!(wake, Wake::ProcessExited | Wake::Timeout)
                && session_ended(worker, wake == Wake::ProcessExited)?
            {
                return self.last_words(log, ask, offset, out);
            }
            if wake == Wake::ProcessExited {
                // A respawned pane (adopt): follow its new process.
                self.watch = Follower::watch(worker, worker.pane_pid()?)?;
            }
        }
    }

    /// The session ended: what it wrote last, then 0 if it ended as a
    /// session ends, `Gone` if it died.
    fn last_words(&self, log: &EventLog, ask: &Ask, offset: u64, out: &mut Out) -> Result<i32> {
        std::thread::sleep(Duration::from_millis(50));
        emit(self.worker, log, ask, offset, out)?;
        out.flush().map_err(write_err)?;
        if !log.exists() || log.last()?.is_some_and(|(kind, _)| kind == EventKind::SessionEnd) {
            return Ok(0);
        }
        Err(Error::Gone(format!("worker '{}': its tmux session is gone", self.worker.name())))
    }
}

/// A deadline that never comes, for a follower (it ends when the session does).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}
