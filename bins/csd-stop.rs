//! csd-stop: end a worker and remove its state; hand a worker to a human;
//! prune what dead workers left behind.

use csd::cli::{main_with, print_help, print_version, utf8};
use csd::error::{usage, Error, Result};
use csd::event::EventKind;
use csd::harness::HarnessKind;
use csd::tmux::Tmux;
use csd::wait::wait_for_event;
use csd::worker::{list_metas, remove_state, unregistered_names, Lookup, Status, Worker};
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use std::time::{Duration, Instant};

const HELP: &str = include_str!("help/csd-stop.txt");

/// After session_end, how long the harness gets to close its pane before
/// the session is killed.
const EXIT_GRACE: Duration = Duration::from_secs(3);

enum Mode {
    Stop,
    Handoff,
    Prune,
}

fn main() {
    main_with("csd-stop", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut mode, mut worker) = (Mode::Stop, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("handoff") => mode = Mode::Handoff,
            Long("prune") => mode = Mode::Prune,
            Short('h') | Long("help") => return print_help(HELP),
            Short('V') | Long("version") => return print_version("csd-stop"),
            Value(v) if worker.is_none() => worker = Some(utf8(v, "WORKER")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let dir = WorkerDir::from_env()?;
    match (mode, worker) {
        (Mode::Prune, None) => prune(&dir),
        (Mode::Prune, Some(_)) => Err(usage("--prune takes no WORKER")),
        (_, None) => Err(usage("missing WORKER")),
        (Mode::Handoff, Some(name)) => handoff(&dir, &name),
        (Mode::Stop, Some(name)) => stop(&dir, &name),
    }
}

fn stop(dir: &WorkerDir, name: &str) -> Result<i32> {
    let worker = match Worker::resolve(dir, name) {
        Ok(w) => w,
        Err(Error::NoSuchWorker(_)) if dir.harness_marker_path(name).exists() => return stop_unregistered(dir, name),
        Err(e) => return Err(e),
    };
    let tmux = worker.tmux()?;
    let was_alive = tmux.has_session(worker.name());
    if was_alive {
        end_session(&worker, &tmux)?;
    }
    worker.remove_state()?;
    let how = if was_alive { "stopped" } else { "was already gone; its state is removed" };
    println!("Worker {} ({}) {how}.", worker.name(), worker.meta.session_id);
    Ok(0)
}

/// Ask the harness to quit, wait for its session_end (woken by inotify) and
/// for the pane to close; kill the session if it outlives the grace period.
fn end_session(worker: &Worker, tmux: &Tmux) -> Result<()> {
    // A harness we cannot ask (unknown, or its quit keys failed) is killed.
    let harness = HarnessKind::of_meta(&worker.meta).ok().map(HarnessKind::driver);
    let from = worker.events().end()?;
    if let Some(h) = harness.filter(|h| h.quit(tmux, worker.name()).is_ok()) {
        match wait_for_event(worker, from, Instant::now() + h.stop_grace(), |k| k == EventKind::SessionEnd) {
            Ok(_) => wait_until_closed(tmux, worker.name(), EXIT_GRACE),
            Err(Error::Gone(_)) | Err(Error::Timeout(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if tmux.has_session(worker.name()) {
        tmux.kill_session(worker.name())?;
    }
    Ok(())
}

fn wait_until_closed(tmux: &Tmux, name: &str, grace: Duration) {
    let until = Instant::now() + grace;
    while tmux.has_session(name) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A worker whose harness never minted its id: nothing to quit politely.
fn stop_unregistered(dir: &WorkerDir, name: &str) -> Result<i32> {
    let tmux = Tmux::from_env()?;
    if tmux.has_session(name) {
        tmux.kill_session(name)?;
    }
    remove_state(dir, None, name)?;
    println!("Worker {name} (not yet registered) stopped.");
    Ok(0)
}

fn handoff(dir: &WorkerDir, name: &str) -> Result<i32> {
    // A worker still to register (Codex before its first prompt) is handed
    // off as well: what the human types there registers it.
    let (name, tmux) = match Worker::lookup(dir, name)? {
        Lookup::Registered(w) => (w.name().to_string(), w.tmux()?),
        Lookup::Pending(p) => (p.name.clone(), p.tmux()?),
    };
    let name = name.as_str();
    if !tmux.has_session(name) {
        return Err(Error::Gone(format!("worker '{name}': its tmux session is gone; nothing to hand off")));
    }
    print!(
        "Worker '{name}' runs in tmux session '{session}'{server}. To take over:\n\n    {attach}\n\n\
         Type to the worker directly once attached; detach with Ctrl-b d to leave it running.\n\
         The controller can go on afterwards with another prompt. Do not stop the worker\n\
         (csd --worker {name} stop) unless you mean to end its session.\n",
        session = csd::name::tmux_session(name),
        server = tmux.socket().map(|s| format!(" on the private tmux server '{s}'")).unwrap_or_default(),
        attach = tmux.attach_command(name),
    );
    Ok(0)
}

/// Remove the state of every gone worker, and of leftovers (a marker or a
/// shim with no meta) whose tmux session is gone. Live workers, registered
/// or not, are left alone.
fn prune(dir: &WorkerDir) -> Result<i32> {
    let mut removed = Vec::new();
    let metas = list_metas(dir)?;
    for meta in &metas {
        let worker = Worker { dir: dir.clone(), meta: meta.clone() };
        if worker.status()? == Status::Gone {
            worker.remove_state()?;
            removed.push(meta.tmux_name.clone());
        }
    }
    let tmux = Tmux::from_env()?;
    for name in unregistered_names(dir, &metas)? {
        if !tmux.has_session(&name) {
            remove_state(dir, None, &name)?;
            removed.push(name);
        }
    }
    if removed.is_empty() {
        eprintln!("Nothing to prune");
    } else {
        println!("Pruned {}: {}", removed.len(), removed.join(", "));
    }
    Ok(0)
}
