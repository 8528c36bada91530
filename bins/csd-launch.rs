//! csd-launch: start a worker (`NAME CWD`), revive one by session id
//! (`--adopt NAME CWD SID`), or record the one-time consent (`--grant-consent`).
//! The shim's path goes to stdout; the panel for humans to stderr.

use csd::cli::{main_with, note, say, utf8};
use csd::error::{failed, usage, Error, Result};
use csd::harness::{HarnessKind, Mode};
use csd::launch::Request;
use lexopt::prelude::*;
use std::io::{BufRead, Write};
use std::path::PathBuf;

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_LAUNCH;

fn main() {
    main_with("csd-launch", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut harness, mut adopt, mut consent, mut host) = (None, false, false, None);
    let (mut worktree, mut branch, mut base, mut setup) = (false, None, None, None);
    let mut positional: Vec<String> = Vec::new();
    let mut extra_args: Vec<String> = Vec::new();
    loop {
        // Everything after `--` belongs to the harness, even what looks like our options.
        if p.try_raw_args().is_some_and(|raw| raw.peek().is_some_and(|a| a == "--")) {
            for a in p.raw_args()?.skip(1) {
                extra_args.push(utf8(a, "harness argument")?);
            }
            break;
        }
        let Some(arg) = p.next()? else { break };
        if let Some(done) = TOOL.answer_common(&arg) {
            return done;
        }
        match arg {
            Long("harness") => harness = Some(HarnessKind::parse(&utf8(p.value()?, "--harness")?)?),
            Long("adopt") => adopt = true,
            Long("grant-consent") => consent = true,
            // The branch only after `=`: `--worktree NAME CWD` keeps NAME a name.
            Long("worktree") => {
                worktree = true;
                branch = p.optional_value().map(|v| utf8(v, "--worktree")).transpose()?;
            }
            Long("base") => base = Some(utf8(p.value()?, "--base")?),
            Long("setup") => setup = Some(utf8(p.value()?, "--setup")?),
            Long("host") => host = Some(csd::host::Dest::parse(&utf8(p.value()?, "--host")?)?),
            Value(v) => positional.push(utf8(v, "argument")?),
            _ => return Err(arg.unexpected().into()),
        }
    }
    let worktree = match (worktree, branch, base, setup) {
        (true, branch, base, setup) => Some(csd::worktree::Ask { branch, base, setup }),
        (false, None, None, None) => None,
        _ => return Err(usage("--base and --setup go with --worktree")),
    };
    if consent {
        if adopt
            || harness.is_some()
            || host.is_some()
            || worktree.is_some()
            || !positional.is_empty()
            || !extra_args.is_empty()
        {
            return Err(usage("--grant-consent takes no other arguments"));
        }
        return grant_consent();
    }
    let expected = if adopt { 3 } else { 2 };
    if positional.len() != expected {
        let shape = if adopt { "--adopt NAME CWD SESSION_ID" } else { "NAME CWD" };
        return Err(usage(format!("expected {shape} [-- harness-args…], got {} argument(s)", positional.len())));
    }
    let mut positional = positional.into_iter();
    // A signal mid-launch undoes what the launch made, then ends us.
    csd::signals::install()?;
    let req = Request {
        host,
        harness: harness.unwrap_or_else(HarnessKind::default_kind),
        name: positional.next().expect("counted"),
        cwd: PathBuf::from(positional.next().expect("counted")),
        mode: if adopt { Mode::Adopt } else { Mode::Launch },
        session_id: positional.next(),
        extra_args,
        worktree,
    };
    let launched = csd::route::launch(&req)?;
    if launched.code == 0 {
        note(&launched.panel);
        say(format!("{}\n", launched.shim.display()))?;
    }
    Ok(launched.code)
}

/// Show the warning, then grant only on a typed `yes` (a TTY or a pipe).
fn grant_consent() -> Result<i32> {
    let path = csd::consent::path()?;
    if csd::consent::granted()? {
        say(format!("Consent already granted at {}\n", path.display()))?;
        return Ok(0);
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{}\nType 'yes' to grant consent: ", csd::consent::WARNING);
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| Error::Io("reading the answer".into(), e))?;
    if answer.trim() != "yes" {
        return Err(failed("consent not granted"));
    }
    say(format!("Consent granted. Written: {}\n", csd::consent::grant()?.display()))?;
    Ok(0)
}
