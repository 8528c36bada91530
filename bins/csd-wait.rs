//! csd-wait: block until a worker's turn ends (a stop or session_end event),
//! or (`--any`, `--all`) until any or all of several workers have answered.

use csd::cli::{main_with, parse_count, parse_seconds, print_help, print_version, say, utf8};
use csd::error::{usage, Error, Result, EXIT_GONE};
use csd::fleet::{self, Finish, Until};
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
    let (mut after_line, mut fleet, mut timeout_flag) = (None, None, None);
    let mut positional: Vec<String> = Vec::new();
    while let Some(arg) = p.next()? {
        match arg {
            Long("after-line") => after_line = Some(parse_count(p.value()?, "--after-line")?),
            Long("any") => fleet = Some(one_of(fleet, Until::Any)?),
            Long("all") => fleet = Some(one_of(fleet, Until::All)?),
            Short('t') | Long("timeout") => timeout_flag = Some(parse_seconds(p.value()?, "--timeout")?),
            Short('h') => return print_help(&TOOL.short_help()),
            Long("help") => return print_help(&TOOL.long_help()),
            Short('V') | Long("version") => return print_version(TOOL.name),
            Value(v) => positional.push(utf8(v, "argument")?),
            _ => return Err(arg.unexpected().into()),
        }
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
    let name = worker.ok_or_else(|| usage("missing WORKER"))?;
    let dir = WorkerDir::from_env()?;
    if let Some(code) = csd::remote::call::forward_as_is(&dir, TOOL.name, &name)? {
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
    Ok(0)
}

/// `NAME<TAB>HOW` per worker as it finishes; 0 when every line was idle, 4
/// when one was gone or terminated, 124 (the names still working on stderr)
/// on timeout.
fn wait_fleet(names: &[String], until: Until, timeout: Duration) -> Result<i32> {
    let dir = WorkerDir::from_env()?;
    if csd::remote::spans_hosts(&dir)? {
        let (here, hosts) = csd::remote::fleet::split(&dir, names)?;
        if !hosts.is_empty() {
            return csd::remote::fleet::wait(&dir, &here, &hosts, until == Until::Any, timeout);
        }
    }
    let mut code = 0;
    let done = fleet::wait(&dir, names, until, Instant::now() + timeout, |name, how| {
        if how != Finish::Idle {
            code = EXIT_GONE;
        }
        say(format!("{name}\t{}\n", how.name()))
    });
    match done {
        Ok(()) => Ok(code),
        Err(Error::Timeout(m)) => Err(Error::Timeout(format!("{m} (after {}s)", timeout.as_secs_f64()))),
        Err(e) => Err(e),
    }
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
