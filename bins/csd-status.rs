//! csd-status: what a worker is doing, which workers there are, and a
//! worker's session id.

use csd::cli::{main_with, print_help, print_version, utf8};
use csd::error::{usage, Error, Result};
use csd::worker::{list_metas, unregistered_names, Lookup, Meta, Pending, Status, Worker};
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use serde_json::json;
use std::io::Write;

const HELP: &str = include_str!("help/csd-status.txt");

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
            Short('h') | Long("help") => return print_help(HELP),
            Short('V') | Long("version") => return print_version("csd-status"),
            Value(v) if positional.is_none() => positional = Some(utf8(v, "argument")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let dir = WorkerDir::from_env()?;
    let out = &mut std::io::stdout().lock();
    let write_err = |e| Error::Io("writing output".into(), e);
    match mode {
        Mode::List => return list(&dir, positional.as_deref(), all, json),
        _ if all => return Err(usage("--all goes with --list")),
        _ => {}
    }
    let name = positional.ok_or_else(|| usage("missing WORKER"))?;
    let worker = match Worker::lookup(&dir, &name)? {
        Lookup::Registered(w) => w,
        Lookup::Pending(p) => return pending(&dir, &p, mode, json),
    };
    match mode {
        Mode::SessionId => writeln!(out, "{}", worker.meta.session_id).map_err(write_err)?,
        _ if json => {
            let status = worker.status()?;
            writeln!(out, "{}", row_json(&dir, &worker.meta, status.name())).map_err(write_err)?
        }
        _ => writeln!(out, "{}", worker.status()?.name()).map_err(write_err)?,
    }
    Ok(0)
}

fn row_json(dir: &WorkerDir, meta: &Meta, status: &str) -> serde_json::Value {
    json!({
        "status": status,
        "harness": meta.harness,
        "tmux_name": meta.tmux_name,
        "session_id": meta.session_id,
        "shim": dir.shim_path(&meta.tmux_name),
        "cwd": meta.cwd,
        "events": dir.events_path(&meta.session_id),
    })
}

/// One row per registered worker (gone ones only with --all), and one
/// `unregistered` row per launched worker whose harness has not minted its
/// session id yet.
fn list(dir: &WorkerDir, pattern: Option<&str>, all: bool, json: bool) -> Result<i32> {
    let matches = |name: &str| pattern.is_none_or(|p| name.contains(p));
    let mut rows: Vec<(String, Meta)> = Vec::new();
    let metas = list_metas(dir)?;
    for meta in metas.iter().filter(|m| matches(&m.tmux_name)) {
        let worker = Worker { dir: dir.clone(), meta: meta.clone() };
        let status = worker.status()?;
        if status != Status::Gone || all {
            rows.push((status.name().into(), meta.clone()));
        }
    }
    for name in unregistered_names(dir, &metas)?.into_iter().filter(|n| matches(n)) {
        if csd::tmux::Tmux::from_env()?.has_session(&name) {
            let harness = std::fs::read_to_string(dir.harness_marker_path(&name)).unwrap_or_default();
            let mut meta = Meta::new(&name, "-", "-", harness.trim());
            if meta.harness.is_empty() {
                meta.harness = "?".into();
            }
            rows.push(("unregistered".into(), meta));
        }
    }
    let out = &mut std::io::stdout().lock();
    let write_err = |e| Error::Io("writing output".into(), e);
    if json {
        let arr: Vec<_> = rows.iter().map(|(s, m)| row_json(dir, m, s)).collect();
        writeln!(out, "{}", serde_json::Value::Array(arr)).map_err(write_err)?;
        return Ok(0);
    }
    if rows.is_empty() {
        eprintln!("No workers found");
        return Ok(0);
    }
    writeln!(out, "STATUS\tHARNESS\tTMUX\tSESSION_ID\tSHIM\tCWD").map_err(write_err)?;
    for (status, m) in &rows {
        writeln!(
            out,
            "{status}\t{}\t{}\t{}\t{}\t{}",
            m.harness,
            m.tmux_name,
            m.session_id,
            dir.shim_path(&m.tmux_name).display(),
            m.cwd
        )
        .map_err(write_err)?;
    }
    Ok(0)
}
/// A launched worker whose harness has not minted its session id (Codex
/// before its first prompt): it sits at an empty prompt, so it is idle
/// while its session lives; it has no session id to print yet.
fn pending(dir: &WorkerDir, p: &Pending, mode: Mode, json: bool) -> Result<i32> {
    let status = if p.is_alive()? { Status::Idle } else { Status::Gone };
    let out = &mut std::io::stdout().lock();
    let write_err = |e| Error::Io("writing output".into(), e);
    match mode {
        Mode::SessionId => Err(csd::error::failed(format!(
            "worker '{}' has no session id yet: {} mints it on the first prompt",
            p.name, p.harness
        ))),
        _ if json => {
            let meta = Meta::new(&p.name, "-", "-", &p.harness);
            writeln!(out, "{}", row_json(dir, &meta, status.name())).map_err(write_err)?;
            Ok(0)
        }
        _ => {
            writeln!(out, "{}", status.name()).map_err(write_err)?;
            Ok(0)
        }
    }
}
