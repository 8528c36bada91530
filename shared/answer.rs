//! `csd-send --answer WORKER N…`: pick option N of the question a worker is
//! blocked on (one N per question of its form), and return once the worker
//! took the answer.
//!
//! The pending question is the worker's last log line: a `blocked` stop on a
//! `question` (Claude Code's AskUserQuestion). The harness types the answer
//! (`Harness::answer`); the answer took when the asking tool's
//! `post_tool_use` lands, after which the turn goes on and ends with a stop
//! of its own.

use crate::error::{failed, usage, Error, Result};
use crate::event::EventKind;
use crate::verdict::{Block, Verdict};
use crate::workerdir::WorkerDir;
use std::time::{Duration, Instant};

/// The question a worker's log says it waits on, or why there is none (a
/// usage error: nothing was sent).
pub fn pending_question(worker: &crate::worker::Worker) -> Result<Block> {
    let none = || usage(format!("worker '{}' has no pending question to answer", worker.name()));
    let Some((kind, line)) = worker.events().last()? else { return Err(none()) };
    if kind != EventKind::Stop {
        return Err(none());
    }
    match Verdict::of_line(&line) {
        Verdict::Blocked(b) if b.on == "question" && !b.questions.is_empty() => Ok(b),
        Verdict::Blocked(b) => {
            Err(usage(format!("worker '{}' is blocked on a {}, not a question with options", worker.name(), b.on)))
        }
        _ => Err(none()),
    }
}

/// Answer with option `picks[i]` (1-based) of question i, one pick per
/// question, and wait (up to `timeout`) for the worker's confirmation.
/// Refused (exit 2) without a pending question, with a pick out of range,
/// or with a count of picks other than the number of questions.
pub fn answer(dir: &WorkerDir, name: &str, picks: &[usize], timeout: Duration) -> Result<()> {
    let worker = crate::harness::resolve(dir, name)?;
    if !worker.is_alive()? {
        return Err(Error::Gone(format!("worker '{name}': its tmux session is gone")));
    }
    let block = pending_question(&worker)?;
    if picks.len() != block.questions.len() {
        return Err(usage(format!(
            "worker '{name}' asks {} question(s): give one N for each, in order (got {})",
            block.questions.len(),
            picks.len()
        )));
    }
    if block.questions.iter().any(|q| q.multi_select) {
        // A digit there ticks a box and submits nothing (not driven yet).
        return Err(usage(format!(
            "worker '{name}' asks a question with several answers allowed: answer it in its pane"
        )));
    }
    for (i, (q, &n)) in block.questions.iter().zip(picks).enumerate() {
        if n == 0 || n > q.options.len() {
            return Err(usage(format!(
                "N for question {} must be 1..{} (it has {} options)",
                i + 1,
                q.options.len(),
                q.options.len()
            )));
        }
    }
    let baseline = worker.events().end()?;
    let deadline = Instant::now() + timeout;
    let harness = crate::harness::HarnessKind::of_meta(&worker.meta)?.driver();
    harness.answer(&worker.tmux()?, worker.name(), &block, picks, deadline)?;
    let took =
        crate::wait::wait_for_event(&worker, baseline, deadline, |k| k == EventKind::PostToolUse || k.ends_turn())
            .map_err(|e| match e {
                Error::Timeout(_) => {
                    Error::Timeout(format!("worker '{name}' did not take the answer within {timeout:?}"))
                }
                e => e,
            })?;
    match took.kind {
        EventKind::PostToolUse => Ok(()),
        _ => Err(failed(format!(
            "worker '{name}' ended its turn instead of taking the answer: {}",
            Verdict::of_line(&took.line).describe(name)
        ))),
    }
}
