//! Ending workers: stop one (ask its harness to quit, then make sure), and
//! prune what dead workers left behind. Both remove state only for a worker
//! proven dead: a session tmux could not be asked about is an error, never
//! "gone", and a session that is not the worker's (another stamp, or
//! somebody's own session under that name) is never killed. What the
//! worker started and left running (`nohup … &` in its pane) is ended after
//! its harness (`sweep`).

use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::harness::HarnessKind;
use crate::sweep::Proc;
use crate::tmux::Session;
use crate::wait::wait_for_event;
use crate::worker::{read_marker, remove_state, scan_metas, unregistered_names, Pending, Worker};
use crate::workerdir::WorkerDir;
use std::time::{Duration, Instant};

/// After session_end, how long the harness gets to close its pane before
/// the session is killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// How a stop went.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// It was running and is stopped now; `ended` is what it had started
    /// that outlived its harness and was ended after it.
    Stopped { ended: Vec<Proc> },
    /// Its session was already gone; its state is removed.
    WasGone,
}

/// Stop a registered worker and remove its state.
pub fn stop(worker: &Worker) -> Result<Stopped> {
    let how = match worker.session()? {
        // The session's stamp proved the id: the processes carrying it are the worker's.
        Some(session) => {
            Stopped::Stopped { ended: ending_what_it_started(&session, worker.meta.csd_id(), || end_session(worker))? }
        }
        None if worker.is_alive()? => {
            // The pane mark says it runs, but tmux shows no session of ours:
            // nothing we could safely kill.
            return Err(crate::error::failed(format!(
                "worker '{}' still runs (pid in its pane mark) but tmux on {} shows no session of it; left alone",
                worker.name(),
                worker.tmux()?.socket().display()
            )));
        }
        None => Stopped::WasGone,
    };
    worker.remove_state()?;
    Ok(how)
}

/// Ask the harness to quit, wait for its session_end (woken by inotify) and
/// for the pane to close; kill the session (by its id, so only that one) if
/// it outlives the grace period.
fn end_session(worker: &Worker) -> Result<()> {
    let tmux = worker.tmux()?;
    // A harness we cannot ask (unknown, or its quit keys failed) is killed.
    let harness = HarnessKind::of_meta(&worker.meta).ok().map(HarnessKind::driver);
    let from = worker.events().end()?;
    if let Some(h) = harness.filter(|h| h.quit(&tmux, worker.name()).is_ok()) {
        match wait_for_event(worker, from, Instant::now() + h.stop_grace(), |k| k == EventKind::SessionEnd) {
            Ok(_) => {
                let until = Instant::now() + EXIT_GRACE;
                while worker.session()?.is_some() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(25));
                }
            }
            Err(Error::Gone(_)) | Err(Error::Timeout(_)) | Err(Error::NoSuchWorker(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(still) = worker.session()? {
        tmux.kill(&still)?;
    }
    Ok(())
}

/// Run `end` (which ends the worker's session), then end what the worker
/// had started that outlived it. What it started is seen before `end`, while
/// the pane's process still leads it; returns what was ended.
fn ending_what_it_started(session: &Session, id: Option<&str>, end: impl FnOnce() -> Result<()>) -> Result<Vec<Proc>> {
    let pane = session.pane_pid.and_then(crate::sweep::process);
    let before = pane.as_ref().map(|p| crate::sweep::find(p, id, &[])).unwrap_or_default();
    end()?;
    let Some(pane) = pane else { return Ok(Vec::new()) };
    let left = crate::sweep::find(&pane, id, &before);
    Ok(crate::signals::deferred(|| crate::sweep::end(&left, crate::sweep::TERM_GRACE)))
}

/// A worker whose harness never minted its id: nothing to quit politely.
pub fn stop_pending(p: &Pending) -> Result<Stopped> {
    let how = match p.session()? {
        Some(s) => {
            let tmux = p.tmux()?;
            Stopped::Stopped { ended: ending_what_it_started(&s, p.marker.csd_id.as_deref(), || tmux.kill(&s))? }
        }
        None => Stopped::WasGone,
    };
    remove_state(&p.dir, None, &p.name)?;
    Ok(how)
}

/// What `prune` did and did not do.
#[derive(Debug, Default)]
pub struct Pruned {
    /// Names whose state was removed.
    pub removed: Vec<String>,
    /// `(what, why)`: left alone because its record does not hold up.
    pub skipped: Vec<(String, String)>,
    /// `(what, why)`: left alone because it may still run (tmux could not
    /// be asked, or its marker could not be read).
    pub unsure: Vec<(String, String)>,
}

/// Remove the state of every worker proven gone, and of leftovers (a shim
/// with neither marker nor meta). Live workers, workers tmux could not be
/// asked about, and records that do not hold up are left alone.
pub fn prune(dir: &WorkerDir) -> Result<Pruned> {
    let mut done = Pruned::default();
    if !dir.root().exists() {
        return Ok(done);
    }
    // A launch holds this until its session exists: its worker is not dead.
    let _lock = dir.lock()?;
    let scan = scan_metas(dir)?;
    let any_skipped = !scan.skipped.is_empty();
    done.skipped = scan.skipped;
    for meta in &scan.metas {
        let worker = Worker { dir: dir.clone(), meta: meta.clone() };
        match worker.is_alive() {
            Ok(true) => {}
            Ok(false) => {
                worker.remove_state()?;
                done.removed.push(meta.tmux_name.clone());
            }
            Err(e) => done.unsure.push((meta.tmux_name.clone(), format!("could not tell whether it runs: {e}"))),
        }
    }
    for name in unregistered_names(dir, &scan.metas)? {
        match read_marker(dir, &name) {
            Ok(Some(marker)) => {
                let p = Pending { dir: dir.clone(), name: name.clone(), marker };
                match p.is_alive() {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(e) => {
                        done.unsure.push((name, format!("could not tell whether it runs: {e}")));
                        continue;
                    }
                }
                remove_state(dir, None, &name)?;
            }
            // A shim alone is debris, unless a meta that did not hold up
            // might be its worker's: then nothing of that name is touched.
            Ok(None) if any_skipped => continue,
            Ok(None) => dir.remove_file(&dir.shim_path(&name))?,
            Err(e) => {
                done.unsure.push((name, e.to_string()));
                continue;
            }
        }
        done.removed.push(name);
    }
    Ok(done)
}
