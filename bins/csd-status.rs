//! csd-status: what a worker is doing, which workers there are, and a
//! worker's session id.

use csd::cli::{main_with, note, say, utf8};
use csd::error::{failed, usage, Result};
use csd::status::{status_of_pending, Row};
use csd::worker::Lookup;
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_STATUS;

enum Mode {
    Status,
    List,
    SessionId,
    Diff,
}

fn main() {
    main_with("csd-status", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut mode, mut json, mut all, mut positional) = (Mode::Status, false, false, None);
    while let Some(arg) = p.next()? {
        if let Some(done) = TOOL.answer_common(&arg) {
            return done;
        }
        match arg {
            Long("list") => mode = Mode::List,
            Long("session-id") => mode = Mode::SessionId,
            Long("diff") => mode = Mode::Diff,
            Long("json") => json = true,
            Short('a') | Long("all") => all = true,
            Value(v) if positional.is_none() => positional = Some(utf8(v, "argument")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let dir = WorkerDir::from_env()?;
    match mode {
        Mode::List => return list(&dir, positional.as_deref(), all, json),
        _ if all => return Err(usage("--all goes with --list")),
        _ => {}
    }
    let name = positional.ok_or_else(|| usage("missing WORKER"))?;
    if let Some(code) = csd::route::run_on_its_host(&dir, TOOL.name, &name)? {
        return Ok(code);
    }
    if let Mode::Diff = mode {
        return diff(&dir, &name);
    }
    let found = csd::harness::lookup(&dir, &name)?;
    if let (Mode::SessionId, Lookup::Registered(w)) = (&mode, &found) {
        // The id is in the meta: what the worker is doing need not be known.
        say(format!("{}\n", w.meta.session_id))?;
        return Ok(0);
    }
    let (status, harness) = match &found {
        Lookup::Registered(w) => (csd::status::status_or_lost(w)?, w.meta.harness.as_str().to_string()),
        Lookup::Pending(p) => (status_of_pending(p)?, p.marker.harness.as_str().to_string()),
    };
    match (mode, &found) {
        (Mode::SessionId, Lookup::Registered(w)) => say(format!("{}\n", w.meta.session_id))?,
        (Mode::SessionId, Lookup::Pending(_)) => {
            return Err(failed(format!(
                "worker '{name}' has no session id yet: {harness} mints it on the first prompt"
            )))
        }
        // Only the JSON row counts what is new in the worker's files: the
        // bare word stays a look at the log's end.
        _ if json => {
            let row = match &found {
                Lookup::Registered(w) => Row::of(w, status),
                Lookup::Pending(p) => Row::pending(p, status),
            };
            for p in &row.problems {
                note(format!("csd-status: {p}"));
            }
            say(format!("{}\n", row.json()))?
        }
        _ => say(format!("{}\n", status.name()))?,
    }
    Ok(0)
}

/// One row per worker, as a table or a JSON array; what could not be read
/// is said on stderr, and a worker tmux could not be asked about makes the
/// exit status 1.
fn list(dir: &WorkerDir, pattern: Option<&str>, all: bool, json: bool) -> Result<i32> {
    let listing = csd::route::list(dir, pattern, all)?;
    for n in &listing.notes {
        note(format!("csd-status: {n}"));
    }
    let code = if listing.unsure { 1 } else { 0 };
    if json {
        let arr: Vec<_> = listing.rows.iter().map(Row::json).collect();
        say(format!("{}\n", serde_json::Value::Array(arr)))?;
    } else if listing.rows.is_empty() {
        note("No workers found");
    } else {
        say(csd::status::table(&listing.rows))?;
    }
    Ok(code)
}

/// The worker's patch since its base, bytes as git gave them. A worktree
/// kept after its worker's state went is diffed by the worker's name.
fn diff(dir: &WorkerDir, name: &str) -> Result<i32> {
    let name = match csd::name::validate(name) {
        Ok(n) => n.to_string(),
        Err(_) => match csd::harness::lookup(dir, name)? {
            Lookup::Registered(w) => w.name().to_string(),
            Lookup::Pending(p) => p.name,
        },
    };
    match csd::worktree::diff(dir, &name)? {
        Some(patch) => say(patch)?,
        None => {
            csd::harness::lookup(dir, &name)?;
            return Err(failed(format!("worker '{name}' has no worktree (it was launched without --worktree)")));
        }
    }
    Ok(0)
}
