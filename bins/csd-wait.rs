//! csd-wait: block until a worker's turn ends (a stop or session_end event),
//! or (`--any`, `--all`) until any or all of several workers have answered.

use csd::cli::{main_with, parse_count, parse_seconds, say, utf8};
use csd::error::{usage, Error, Result};
use csd::fleet::Until;
use csd::wait::{await_registration, wait_for_event};
use csd::worker::Lookup;
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use std::time::{Duration, Instant};

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_WAIT;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    main_with("csd-wait", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut after_line, mut fleet, mut timeout_flag, mut ready) = (None, None, None, false);
    let mut positional: Vec<String> = Vec::new();
    while let Some(arg) = p.next()? {
        if let Some(done) = TOOL.answer_common(&arg) {
            return done;
        }
        match arg {
            Long("after-line") => after_line = Some(parse_count(p.value()?, "--after-line")?),
            Long("any") => fleet = Some(one_of(fleet, Until::Any)?),
            Long("all") => fleet = Some(one_of(fleet, Until::All)?),
            Long("ready") => ready = true,
            Short('t') | Long("timeout") => timeout_flag = Some(parse_seconds(p.value()?, "--timeout")?),
            Value(v) => positional.push(utf8(v, "argument")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if ready {
        if after_line.is_some() || fleet.is_some() {
            return Err(usage("--ready goes alone: not with --after-line, --any or --all"));
        }
        return wait_ready(&positional, timeout_flag.unwrap_or(DEFAULT_TIMEOUT));
    }
    if let Some(until) = fleet {
        if after_line.is_some() {
            return Err(usage("--after-line goes with one WORKER, not with --any or --all"));
        }
        if positional.is_empty() {
            return Err(usage("--any and --all need at least one WORKER"));
        }
        return wait_fleet(&positional, until, timeout_flag.unwrap_or(DEFAULT_TIMEOUT));
    }
    let mut positional = positional.into_iter();
    let worker = positional.next();
    let timeout = match (positional.next(), timeout_flag) {
        (Some(_), Some(_)) => return Err(usage("give the timeout once: TIMEOUT or --timeout")),
        (Some(t), None) => parse_seconds(t.into(), "timeout")?,
        (None, t) => t.unwrap_or(DEFAULT_TIMEOUT),
    };
    if let Some(extra) = positional.next() {
        return Err(usage(format!("unexpected argument '{}'", csd::name::printable(&extra))));
    }
    let deadline = Instant::now() + timeout;
    csd::tmux::cap_calls(timeout);
    let name = worker.ok_or_else(|| usage("missing WORKER"))?;
    let dir = WorkerDir::from_env()?;
    if let Some(code) = csd::route::run_on_its_host(&dir, TOOL.name, &name)? {
        return Ok(code);
    }
    let (worker, from) = match csd::harness::lookup(&dir, &name)? {
        Lookup::Registered(worker) => {
            let log = worker.events();
            let from = match after_line {
                Some(n) => log.offset_after_line(n)?,
                None => log.end()?,
            };
            (worker, from)
        }
        // Not registered yet (Codex before its first prompt): its log will
        // start with the turn being waited for.
        Lookup::Pending(p) => (await_registration(&p, deadline).map_err(|e| timed_out(e, &name, timeout))?, 0),
    };
    let found = wait_for_event(&worker, from, deadline, |k| k.ends_turn()).map_err(|e| timed_out(e, &name, timeout))?;
    say([&found.line[..], b"\n"].concat())?;
    // A turn that failed, was interrupted or waits on a person: the line is
    // printed all the same, the exit status and stderr say which.
    match csd::verdict::Verdict::of_line(&found.line).to_error(&name) {
        Some(e) => Err(e),
        None => Ok(0),
    }
}

/// `NAME<TAB>HOW[<TAB>WHY]` per worker as it finishes; 0 when every line
/// was idle, else the status of the first that was not (4 gone or
/// terminated, 5 failed or limited, 6 blocked, 7 interrupted), 124 (the
/// names still working on stderr) on timeout.
fn wait_fleet(names: &[String], until: Until, timeout: Duration) -> Result<i32> {
    csd::route::wait_fleet(&WorkerDir::from_env()?, names, until, timeout)
}

/// `NAME<TAB>STATUS` per worker once none is limited.
fn wait_ready(names: &[String], timeout: Duration) -> Result<i32> {
    if names.is_empty() {
        return Err(usage("--ready needs at least one WORKER"));
    }
    let deadline = Instant::now() + timeout;
    let dir = WorkerDir::from_env()?;
    if let [name] = names {
        if let Some(code) = csd::route::run_on_its_host(&dir, TOOL.name, name)? {
            return Ok(code);
        }
    }
    let mut workers = Vec::new();
    for name in names {
        match csd::harness::lookup(&dir, name)? {
            Lookup::Registered(w) => workers.push(w),
            // Not registered yet: it has had no turn, so no limit.
            Lookup::Pending(_) => {}
        }
    }
    let statuses = csd::wait::until_ready(&workers, deadline)?;
    for (w, s) in workers.iter().zip(statuses) {
        say(format!("{}\t{}\n", w.name(), s.name()))?;
    }
    Ok(0)
}

fn timed_out(e: Error, name: &str, timeout: Duration) -> Error {
    match e {
        Error::Timeout(_) => Error::Timeout(format!(
            "timed out after {}s waiting for '{name}' to end its turn (stop or session_end)",
            timeout.as_secs_f64()
        )),
        e => e,
    }
}

/// `--any` and `--all` ask different things: given both, which was meant?
fn one_of(before: Option<Until>, now: Until) -> Result<Until> {
    match before {
        Some(b) if b != now => Err(usage("--any and --all do not go together: give one")),
        _ => Ok(now),
    }
}
