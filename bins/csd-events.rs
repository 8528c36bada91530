//! csd-events: a worker's lifecycle events as JSONL, or its log's path.

use csd::cli::{main_with, parse_count, utf8};
use csd::error::{usage, Error, Result};
use csd::event::EventKind;
use csd::wait::{await_registration, session_ended};
use csd::watch::{Wake, Watch};
use csd::worker::Lookup;
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use std::io::Write;
use std::time::{Duration, Instant};

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_EVENTS;

fn main() {
    main_with("csd-events", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut worker, mut last, mut only, mut follow, mut path, mut all) = (None, None, None, false, false, false);
    while let Some(arg) = p.next()? {
        if let Some(done) = TOOL.answer_common(&arg) {
            return done;
        }
        match arg {
            Short('n') | Long("last") => last = Some(parse_count(p.value()?, "--last")?),
            Short('t') | Long("type") => {
                let t = utf8(p.value()?, "--type")?;
                only = Some(EventKind::from_name(&t).ok_or_else(|| {
                    usage(format!("'{t}' is not a known event type. Valid events: {}", EventKind::names()))
                })?);
            }
            Short('f') | Long("follow") => follow = true,
            Long("path") => path = true,
            Short('a') | Long("all") => all = true,
            Value(v) if worker.is_none() => worker = Some(utf8(v, "WORKER")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let dir = WorkerDir::from_env()?;
    if all {
        if worker.is_some() || path {
            return Err(usage("--all takes no WORKER and no --path"));
        }
        return csd::route::events_all(&dir, only, last, follow);
    }
    let name = worker.ok_or_else(|| usage("missing WORKER"))?;
    if let Some(code) = csd::route::run_on_its_host(&dir, TOOL.name, &name)? {
        return Ok(code);
    }
    let worker = match csd::harness::lookup(&dir, &name)? {
        Lookup::Registered(w) => w,
        // Not registered yet (Codex before its first prompt): no events so
        // far; a follower waits for the log to exist.
        Lookup::Pending(p) if follow && !path => await_registration(&p, far_future())?,
        Lookup::Pending(_) if !path => return Ok(0),
        Lookup::Pending(p) => {
            return Err(csd::error::failed(format!(
                "worker '{}' has no event file yet: {} mints its session id on the first prompt",
                p.name,
                p.marker.harness.as_str()
            )))
        }
    };
    let log = worker.events();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let write_err = |e| csd::Error::Io("writing events".into(), e);
    if path {
        writeln!(out, "{}", log.path().display()).map_err(write_err)?;
        out.flush().map_err(write_err)?;
        return Ok(0);
    }
    if !follow && !log.exists() {
        return Err(csd::error::failed(format!("no event file for session {}", worker.meta.session_id)));
    }
    // Arm the watch before reading the backlog so nothing lands unseen. A
    // turn end only the harness's own files show (Codex's rollout) wakes a
    // follower too, and goes into the log before it is read.
    let witness = if follow { csd::harness::turn_witness(&worker) } else { None };
    let watch_log = || -> Result<Watch> {
        let w = Watch::new(log.path())?.with_stdout();
        Ok(match &witness {
            Some(p) => w.also(p),
            None => w,
        })
    };
    let pane_pid = if follow { worker.pane_pid()? } else { None };
    let mut watch = match (follow, pane_pid) {
        (false, _) => None,
        (true, Some(pid)) => Some(watch_log()?.with_process(pid)),
        (true, None) => Some(watch_log()?),
    };
    let emit = |from: u64, out: &mut std::io::BufWriter<_>| {
        if follow {
            csd::harness::settle(&worker)?;
        }
        log.read_from(from, |kind, line| {
            if only.is_none_or(|k| k == kind) {
                out.write_all(line).and_then(|_| out.write_all(b"\n")).map_err(write_err)?;
                if follow {
                    out.flush().map_err(write_err)?;
                }
            }
            Ok(true)
        })
    };
    let mut offset = match last {
        Some(n) => {
            if follow {
                csd::harness::settle(&worker)?;
            }
            let (lines, end) = log.tail(n, only)?;
            for line in lines {
                out.write_all(&line).and_then(|_| out.write_all(b"\n")).map_err(write_err)?;
            }
            end
        }
        None => emit(0, &mut out)?,
    };
    out.flush().map_err(write_err)?;
    let Some(watch) = watch.as_mut() else { return Ok(0) };
    let mut seen_file = log.exists();
    // No process to watch: the worker may be gone already; say so at once.
    let mut look_now = pane_pid.is_none();
    loop {
        let wake = if std::mem::take(&mut look_now) {
            Wake::Timeout
        } else {
            watch.wait(Some(Instant::now() + csd::harness::look_again(&worker)))?
        };
        if wake == Wake::OutputClosed {
            return Ok(0);
        }
        offset = emit(offset, &mut out)?;
        out.flush().map_err(write_err)?;
        // The worker was stopped: its log is gone, and so is anything to follow.
        let exists = log.exists();
        if seen_file && !exists {
            return Ok(0);
        }
        seen_file |= exists;
        // As `tail --pid`: a worker whose session died has nothing more to say.
        // A session that ended (stop, /exit) logged session_end first, or
        // was stopped and its log removed; one that died did neither.
        if matches!(wake, Wake::ProcessExited | Wake::Timeout) && session_ended(&worker, wake == Wake::ProcessExited)? {
            std::thread::sleep(Duration::from_millis(50));
            emit(offset, &mut out)?;
            out.flush().map_err(write_err)?;
            if !log.exists() || log.last()?.is_some_and(|(kind, _)| kind == EventKind::SessionEnd) {
                return Ok(0);
            }
            return Err(Error::Gone(format!("worker '{}': its tmux session is gone", worker.name())));
        }
        if wake == Wake::ProcessExited {
            // A respawned pane (adopt): follow its new process.
            let mut again = watch_log()?;
            if let Some(pid) = worker.pane_pid()? {
                again = again.with_process(pid);
            }
            *watch = again;
        }
    }
}

/// A deadline that never comes, for a follower (it ends when the session does).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}
