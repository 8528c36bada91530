//! A worker's last turn, read from its harness's transcript: where the
//! file is and which format reads it come from the worker's harness; the
//! walk itself is `transcript`'s.

use crate::error::{failed, Result};
use crate::harness::{transcript_of, HarnessKind};
use crate::transcript::{read_last_turn, read_turn};
use crate::turn::Turn;
use crate::worker::Worker;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where `worker` keeps its transcript; an error when that cannot be known
/// yet (a harness that mints its id and has not registered).
pub fn transcript_path(worker: &Worker) -> Result<PathBuf> {
    transcript_of(worker)?
        .ok_or_else(|| failed(format!("the transcript of worker '{}' is not known yet", worker.name())))
}

/// The last turn of `worker`. Fails, naming the path, when the transcript
/// is not there, and when it holds no turn yet.
pub fn last_turn(worker: &Worker) -> Result<Turn> {
    let format = HarnessKind::of_meta(&worker.meta)?.driver().transcript_format();
    let path = transcript_path(worker)?;
    match read_last_turn(&path, format)? {
        Some(turn) => Ok(turn),
        None => Err(failed(format!("no user prompt found in session log {}", path.display()))),
    }
}

/// How long `last_turn_settled` waits for a lagging transcript.
const SETTLE_GRACE: Duration = Duration::from_secs(5);

/// `last_turn`, once the transcript holds the turn the event log's last
/// turn end ended. Claude Code writes a turn after its Stop hook (seconds
/// after, on a loaded machine), so a read-turn right after a wait could show
/// the prompt without its answer, or the turn before. When the log's last
/// word is a turn end, the transcript's last turn must be complete, carry
/// the prompt of the log's last user_prompt_submit (by its digest) and,
/// the turn being done, a final reply; until then this waits, woken by
/// the transcript's writes, at most `SETTLE_GRACE`, then gives what is
/// there. A worker mid-turn, or a transcript already whole, costs no wait.
pub fn last_turn_settled(worker: &Worker) -> Result<Turn> {
    use crate::event::EventKind;
    let log = worker.events();
    let ended = log.last_matching(|k| k == EventKind::UserPromptSubmit || k.ends_turn())?;
    let Some((EventKind::Stop, stop)) = ended else { return last_turn(worker) };
    if crate::verdict::Verdict::of_line(&stop) != crate::verdict::Verdict::Done {
        // A turn that failed may never reach the transcript: read-turn
        // shows its ending from the log without waiting for it.
        return last_turn(worker);
    }
    let digest = log
        .last_matching(|k| k == EventKind::UserPromptSubmit)?
        .and_then(|(_, line)| crate::event::digest_of_line(&line));
    let format = HarnessKind::of_meta(&worker.meta)?.driver().transcript_format();
    let path = transcript_path(worker)?;
    let whole = |turn: &Turn| {
        let prompt_matches = match (&digest, &turn.prompt) {
            (Some(d), Some(p)) => crate::event::prompt_digest(p) == *d,
            _ => true,
        };
        prompt_matches && !crate::turn::last_assistant_text(turn).trim().is_empty()
    };
    let until = Instant::now() + SETTLE_GRACE;
    // Armed before the first read, so a write in between still wakes us.
    let mut watch = crate::watch::Watch::new(&path)?;
    loop {
        if let Some((turn, complete)) = read_turn(&path, format, 0)? {
            if complete && whole(&turn) {
                return Ok(turn);
            }
        }
        if Instant::now() >= until {
            return last_turn(worker);
        }
        watch.wait(Some(until))?;
    }
}
