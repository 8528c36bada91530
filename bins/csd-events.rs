//! csd-events: a worker's lifecycle events as JSONL, or its log's path.

use csd::cli::{main_with, parse_count, utf8};
use csd::error::{usage, Result};
use csd::event::EventKind;
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;

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
    csd::follow::events(&dir, &name, &csd::follow::Ask { only, last, follow, path })
}
