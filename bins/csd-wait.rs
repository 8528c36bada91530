//! csd-wait: block until a worker's turn ends (a stop or session_end event).

use csd::cli::{main_with, parse_count, parse_seconds, print_help, print_version, say, utf8};
use csd::error::{usage, Error, Result};
use csd::wait::{await_registration, wait_for_event};
use csd::worker::Lookup;
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use std::time::{Duration, Instant};

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_WAIT;

fn main() {
    main_with("csd-wait", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut worker, mut timeout, mut after_line) = (None, None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Long("after-line") => after_line = Some(parse_count(p.value()?, "--after-line")?),
            Short('h') => return print_help(&TOOL.short_help()),
            Long("help") => return print_help(&TOOL.long_help()),
            Short('V') | Long("version") => return print_version(TOOL.name),
            Value(v) if worker.is_none() => worker = Some(utf8(v, "WORKER")?),
            Value(v) if timeout.is_none() => timeout = Some(parse_seconds(v, "timeout")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let timeout = timeout.unwrap_or(Duration::from_secs(60));
    let deadline = Instant::now() + timeout;
    let name = worker.ok_or_else(|| usage("missing WORKER"))?;
    let (worker, from) = match csd::harness::lookup(&WorkerDir::from_env()?, &name)? {
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

fn timed_out(e: Error, name: &str, timeout: Duration) -> Error {
    match e {
        Error::Timeout(_) => Error::Timeout(format!(
            "timed out after {}s waiting for '{name}' to end its turn (stop or session_end)",
            timeout.as_secs_f64()
        )),
        e => e,
    }
}
