//! csd-stop: end a worker and remove its state; hand a worker to a human;
//! prune what dead workers left behind.

use csd::cli::{main_with, note, say, utf8};
use csd::error::{usage, Error, Result};
use csd::stop::{prune, stop, stop_pending, Stopped};
use csd::worker::Lookup;
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_STOP;

enum Mode {
    Stop,
    Handoff,
    Prune,
}

fn main() {
    main_with("csd-stop", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut mode, mut worker, mut discard) = (Mode::Stop, None, false);
    while let Some(arg) = p.next()? {
        if let Some(done) = TOOL.answer_common(&arg) {
            return done;
        }
        match arg {
            Long("handoff") => mode = Mode::Handoff,
            Long("prune") => mode = Mode::Prune,
            Long("discard") => discard = true,
            Value(v) if worker.is_none() => worker = Some(utf8(v, "WORKER")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let dir = WorkerDir::from_env()?;
    if discard && !matches!(mode, Mode::Stop) {
        return Err(usage("--discard goes with stopping a WORKER"));
    }
    match (mode, worker) {
        (Mode::Prune, None) => run_prune(&dir),
        (Mode::Prune, Some(_)) => Err(usage("--prune takes no WORKER")),
        (_, None) => Err(usage("missing WORKER")),
        (Mode::Handoff, Some(name)) => handoff(&dir, &name),
        (Mode::Stop, Some(name)) => run_stop(&dir, &name, discard),
    }
}

fn run_stop(dir: &WorkerDir, name: &str, discard: bool) -> Result<i32> {
    if let Some(code) = csd::route::stop_on_its_host(dir, name, discard)? {
        return Ok(code);
    }
    let (line, name) = match csd::worker::Worker::lookup(dir, name) {
        Ok(Lookup::Registered(w)) => {
            let how = said(w.name(), stop(&w)?);
            (format!("Worker {} ({}) {how}.\n", w.name(), w.meta.session_id), w.name().to_string())
        }
        Ok(Lookup::Pending(p)) => {
            let how = said(&p.name, stop_pending(&p)?);
            (format!("Worker {} (not yet registered) {how}.\n", p.name), p.name)
        }
        // What is left of a worker whose worktree was kept: the worktree.
        Err(Error::NoSuchWorker(e)) => match csd::name::validate(name).map(|n| csd::worktree::Record::read(dir, n)) {
            Ok(Ok(Some(_))) => {
                (format!("Worker {name} was stopped earlier; its worktree was kept.\n"), name.to_string())
            }
            Ok(Err(bad)) => return Err(bad),
            _ => return Err(Error::NoSuchWorker(e)),
        },
        Err(e) => return Err(e),
    };
    say(line)?;
    end_worktree(dir, &name, discard)
}

/// After its worker stopped: remove its worktree when nothing would be
/// lost (or --discard), else say where it is kept. Both are status 0.
fn end_worktree(dir: &WorkerDir, name: &str, discard: bool) -> Result<i32> {
    match csd::worktree::end(dir, name, discard)? {
        Some(e) if discard => say(format!("{}\n", csd::worktree::said_discarded(&e)))?,
        Some(e) => say(format!("{}\n", e.say()))?,
        None if discard => note(format!("csd-stop: worker '{name}' had no worktree; --discard changed nothing")),
        None => {}
    }
    Ok(0)
}

/// How a stop went, in words; what the worker had started and the stop
/// ended goes to stderr.
fn said(name: &str, how: Stopped) -> &'static str {
    match how {
        Stopped::Stopped { ended } => {
            if !ended.is_empty() {
                note(format!(
                    "csd-stop: ended {} process{} worker '{name}' had started: {}",
                    ended.len(),
                    if ended.len() == 1 { "" } else { "es" },
                    csd::sweep::describe(&ended)
                ));
            }
            "stopped"
        }
        Stopped::WasGone => "was already gone; its state is removed",
    }
}

fn handoff(dir: &WorkerDir, name: &str) -> Result<i32> {
    if let Some(code) = csd::route::handoff_on_its_host(dir, name)? {
        return Ok(code);
    }
    // A worker still to register (Codex before its first prompt) is handed
    // off as well: what the human types there registers it.
    let (name, tmux, session) = match csd::worker::Worker::lookup(dir, name)? {
        Lookup::Registered(w) => (w.name().to_string(), w.tmux()?, w.session()?),
        Lookup::Pending(p) => (p.name.clone(), p.tmux()?, p.session()?),
    };
    let name = name.as_str();
    if session.is_none() {
        return Err(Error::Gone(format!("worker '{name}': its tmux session is gone; nothing to hand off")));
    }
    say(format!(
        "Worker '{name}' runs in tmux session '{session}' on the tmux server at {server}. To take over:\n\n    {attach}\n\n\
         Type to the worker directly once attached; detach with Ctrl-b d to leave it running.\n\
         The controller can go on afterwards with another prompt. Do not stop the worker\n\
         (csd --worker {name} stop) unless you mean to end its session.\n",
        session = csd::name::tmux_session(name),
        server = tmux.socket().display(),
        attach = tmux.attach_command(name),
    ))?;
    Ok(0)
}

/// Exit 1 when anything was left alone because it may still run.
fn run_prune(dir: &WorkerDir) -> Result<i32> {
    let mut done = prune(dir)?;
    let (worktrees, mut failed) = csd::worktree::prune(dir, &done.removed);
    done.unsure.append(&mut failed);
    let (mut removed, mut unsure) = csd::route::prune_hosts(dir)?;
    done.removed.append(&mut removed);
    done.unsure.append(&mut unsure);
    for w in &worktrees {
        say(format!("{}: {}\n", w.name(), w.say()))?;
    }
    for (what, why) in done.skipped.iter().chain(&done.unsure) {
        note(format!("csd-stop: left {what} alone: {why}"));
    }
    if done.removed.is_empty() {
        note("Nothing to prune");
    } else {
        say(format!("Pruned {}: {}\n", done.removed.len(), done.removed.join(", ")))?;
    }
    Ok(if done.unsure.is_empty() { 0 } else { 1 })
}
