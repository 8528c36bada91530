//! csd-doctor: prove each installed harness (or each one named) still works
//! with csd, against a mock model server, in a private world; one row per
//! harness, or one JSON document.

use csd::cli::{main_with, say, utf8};
use csd::doctor::{run as doctor, Options};
use csd::error::Result;
use csd::harness::HarnessKind;
use lexopt::prelude::*;

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_DOCTOR;

/// What a doctor that found no harness CLI says, naming the default one first.
const NO_HARNESS: &str =
    "no harness CLI is installed: install Claude Code (npm install -g @anthropic-ai/claude-code), \
     or Codex (npm install -g @openai/codex), or Pi (npm install -g @mariozechner/pi-coding-agent)";

fn main() {
    main_with("csd-doctor", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    let (mut named, mut json, mut keep) = (Vec::new(), false, false);
    while let Some(arg) = p.next()? {
        if let Some(done) = TOOL.answer_common(&arg) {
            return done;
        }
        match arg {
            Long("harness") => {
                let h = HarnessKind::parse(&utf8(p.value()?, "--harness")?)?;
                if !named.contains(&h) {
                    named.push(h);
                }
            }
            Long("json") => json = true,
            Long("keep") => keep = true,
            _ => return Err(arg.unexpected().into()),
        }
    }
    csd::signals::install()?;
    let started = std::time::Instant::now();
    let rows = doctor(&Options { named, keep })?;
    // Nothing installed is nothing proven: a doctor that says "ok" then would
    // send a newcomer on to a launch that cannot work.
    let none = !rows.iter().any(|r| r.installed());
    let ok = !none && rows.iter().all(|r| !r.fails());
    if json {
        let doc = serde_json::json!({
            "ok": ok,
            "error": none.then_some(NO_HARNESS),
            "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            "harnesses": rows.iter().map(|r| r.to_json()).collect::<Vec<_>>(),
        });
        say(format!("{doc:#}\n"))?;
    } else {
        let mut text = String::from("HARNESS\tVERSION\tRESULT\tTIME\tBINARY\tSTEPS\n");
        for r in &rows {
            text.push_str(&r.to_line());
            text.push('\n');
        }
        text.push_str(&format!("{} in {:.1}s\n", if ok { "ok" } else { "FAIL" }, started.elapsed().as_secs_f64()));
        say(text)?;
    }
    if none {
        csd::cli::note(format!("csd-doctor: {NO_HARNESS}"));
    }
    Ok(if ok { 0 } else { 1 })
}
