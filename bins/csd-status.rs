//! csd-status: what a worker is doing, which workers there are, and a
//! worker's session id.

use csd::cli::{main_with, note, print_help, print_version, say, utf8};
use csd::error::{failed, usage, Result};
use csd::worker::{read_marker, scan_metas, unregistered_names, Lookup, Meta, Pending, Status, Worker};
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use serde_json::json;

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_STATUS;

enum Mode {
    Status,
    List,
    SessionId,
}

fn main() {
    main_with("csd-status", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut mode, mut json, mut all, mut positional) = (Mode::Status, false, false, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("list") => mode = Mode::List,
            Long("session-id") => mode = Mode::SessionId,
            Long("json") => json = true,
            Short('a') | Long("all") => all = true,
            Short('h') => return print_help(&TOOL.short_help()),
            Long("help") => return print_help(&TOOL.long_help()),
            Short('V') | Long("version") => return print_version(TOOL.name),
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
    let (row, sid) = match csd::harness::lookup(&dir, &name)? {
        Lookup::Registered(w) => (Row::of(&dir, &w.meta, csd::harness::status(&w)?), Some(w.meta.session_id.clone())),
        Lookup::Pending(p) => (pending_row(&dir, &p, status_of_pending(&p)?), None),
    };
    match mode {
        Mode::SessionId => match sid {
            Some(sid) => say(format!("{sid}\n"))?,
            None => {
                return Err(failed(format!(
                    "worker '{name}' has no session id yet: {} mints it on the first prompt",
                    row.harness
                )))
            }
        },
        _ if json => say(format!("{}\n", row.json()))?,
        _ => say(format!("{}\n", row.status))?,
    }
    Ok(0)
}

/// One worker as `status --json` and `list` show it.
struct Row {
    status: &'static str,
    harness: String,
    name: String,
    session_id: String,
    shim: String,
    cwd: String,
    events: String,
}

impl Row {
    fn of(dir: &WorkerDir, meta: &Meta, status: Status) -> Row {
        Row {
            status: status.name(),
            harness: meta.harness.as_str().to_string(),
            name: meta.tmux_name.clone(),
            session_id: meta.session_id.clone(),
            shim: dir.shim_path(&meta.tmux_name).display().to_string(),
            cwd: meta.cwd.clone(),
            events: dir.events_path(&meta.session_id).display().to_string(),
        }
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "status": self.status,
            "harness": self.harness,
            "tmux_name": self.name,
            "session_id": self.session_id,
            "shim": self.shim,
            "cwd": self.cwd,
            "events": self.events,
        })
    }
}

/// A launched worker whose harness has not minted its session id (Codex
/// before its first prompt) sits at an empty prompt: idle while its session
/// lives. It has no session id or log yet ("-").
fn status_of_pending(p: &Pending) -> Result<Status> {
    Ok(if p.is_alive()? { Status::Idle } else { Status::Gone })
}

fn pending_row(dir: &WorkerDir, p: &Pending, status: Status) -> Row {
    Row {
        status: status.name(),
        harness: p.marker.harness.as_str().to_string(),
        name: p.name.clone(),
        session_id: "-".into(),
        shim: dir.shim_path(&p.name).display().to_string(),
        cwd: "-".into(),
        events: "-".into(),
    }
}

/// One row per worker (gone ones only with --all), pending ones included.
/// A worker whose state tmux could not give is listed as `unknown`, said
/// on stderr, and the exit status is 1: it is never left out as if gone.
fn list(dir: &WorkerDir, pattern: Option<&str>, all: bool, json: bool) -> Result<i32> {
    let matches = |name: &str| pattern.is_none_or(|p| name.contains(p));
    let scan = scan_metas(dir)?;
    for (file, why) in &scan.skipped {
        note(format!("csd-status: skipping {file}: {why}"));
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut unsure = false;
    let mut keep = |status: Result<Status>, name: &str, row: &dyn Fn(Status) -> Row| match status {
        Ok(s) if s != Status::Gone || all => rows.push(row(s)),
        Ok(_) => {}
        Err(e) => {
            note(format!("csd-status: {name}: {e}"));
            unsure = true;
            rows.push(row(Status::Unknown));
        }
    };
    for meta in scan.metas.iter().filter(|m| matches(&m.tmux_name)) {
        let worker = Worker { dir: dir.clone(), meta: meta.clone() };
        keep(csd::harness::status(&worker), &meta.tmux_name, &|s| Row::of(dir, meta, s));
    }
    for name in unregistered_names(dir, &scan.metas)?.into_iter().filter(|n| matches(n)) {
        let marker = match read_marker(dir, &name) {
            Ok(Some(m)) => m,
            // A shim with no marker and no meta is debris, not a worker.
            Ok(None) => continue,
            Err(e) => {
                note(format!("csd-status: {name}: {e}"));
                continue;
            }
        };
        let p = Pending { dir: dir.clone(), name: name.clone(), marker };
        keep(status_of_pending(&p), &name, &|s| pending_row(dir, &p, s));
    }
    let code = if unsure { 1 } else { 0 };
    if json {
        let arr: Vec<_> = rows.iter().map(Row::json).collect();
        say(format!("{}\n", serde_json::Value::Array(arr)))?;
        return Ok(code);
    }
    if rows.is_empty() {
        note("No workers found");
        return Ok(code);
    }
    let mut text = String::from("STATUS\tHARNESS\tTMUX\tSESSION_ID\tSHIM\tCWD\n");
    for r in &rows {
        text.push_str(&format!("{}\t{}\t{}\t{}\t{}\t{}\n", r.status, r.harness, r.name, r.session_id, r.shim, r.cwd));
    }
    say(text)?;
    Ok(code)
}
