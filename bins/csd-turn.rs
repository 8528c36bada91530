//! csd-turn: a worker's last turn as markdown, read from the end of the
//! harness's transcript.

use csd::cli::{main_with, utf8};
use csd::error::{failed, usage, Error, Result};
use csd::turn::render_markdown;
use csd::turn_reader::{last_turn_settled, transcript_path};
use csd::worker::Lookup;
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use std::io::Write;

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_TURN;

fn main() {
    main_with("csd-turn", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut worker, mut full, mut path) = (None, false, false);
    while let Some(arg) = p.next()? {
        if let Some(done) = TOOL.answer_common(&arg) {
            return done;
        }
        match arg {
            Long("full") => full = true,
            Long("path") => path = true,
            Value(v) if worker.is_none() => worker = Some(utf8(v, "WORKER")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let name = worker.ok_or_else(|| usage("missing WORKER"))?;
    let dir = WorkerDir::from_env()?;
    if let Some(code) = csd::route::run_on_its_host(&dir, TOOL.name, &name)? {
        return Ok(code);
    }
    let worker = match csd::harness::lookup(&dir, &name)? {
        Lookup::Registered(w) => w,
        Lookup::Pending(p) => {
            return Err(failed(format!(
                "worker '{}' has no turn yet: {} starts its session on the first prompt",
                p.name,
                p.marker.harness.as_str()
            )))
        }
    };
    let text = if path {
        format!("{}\n", transcript_path(&worker)?.display())
    } else {
        // A turn that did not finish ends with why: the error, the
        // interruption, or the question it waits on.
        // A turn that failed before the harness wrote it down still has
        // its ending to show.
        let ending = worker.last_verdict()?.markdown();
        match last_turn_settled(&worker) {
            Ok(turn) if ending.is_empty() => render_markdown(&turn, full),
            Ok(turn) => format!("{}\n{ending}", render_markdown(&turn, full)),
            Err(_) if !ending.is_empty() => format!("---\n\n{ending}"),
            Err(e) => return Err(e),
        }
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).map_err(|e| Error::Io("writing the turn".into(), e))?;
    Ok(0)
}
