//! Finding and reading a worker's transcript, the harness's own record of the
//! session, to get its last turn.
//!
//! Each harness writes JSON lines in its own shape; a `Format` says which
//! line opens a turn and what each line adds to a `Turn`. The walk is
//! shared: read lines backwards from the end until the line that opens the
//! last turn, then hand the turn's lines to the format in order. So the cost
//! grows with the last turn, not with the transcript.
//!
//! Adding a harness: a module beside `claude.rs` with a unit struct that
//! implements `Format`, and one arm in `format_for`. The file's location
//! comes from the harness (`harness::transcript_of`).

pub mod claude;
pub mod codex;
pub mod pi;

use crate::error::{failed, Context, Error, Result};
use crate::harness::{transcript_of, HarnessKind};
use crate::lines::Lines;
use crate::revlines::RevLines;
use crate::turn::Turn;
use crate::worker::Worker;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How one harness records a session, line by line. Where the file is, is
/// the harness's business (`Harness::transcript_path`).
pub trait Format: Sync {
    /// A cheap look at a raw line before it is parsed: false when it cannot
    /// possibly open a turn. Only a speed-up for transcripts with no prompt
    /// near their end; the default parses every line.
    fn may_open_turn(&self, _raw: &[u8]) -> bool {
        true
    }

    /// Does this line hold the prompt that opens a turn?
    fn opens_turn(&self, line: &Value) -> bool;

    /// Add what this line holds to `turn`, the opening line included (it
    /// sets the prompt). Lines of no interest add nothing.
    fn add_line(&self, line: &Value, turn: &mut Turn);

    /// When no line opens a turn: is the whole transcript one turn (a
    /// harness whose first turn may have no prompt line), or no turn yet?
    fn whole_file_is_a_turn(&self) -> bool {
        false
    }

    /// For a transcript whose lines form a tree (Pi): this line's id and its
    /// parent's. The walk then keeps only the chain of parents from the last
    /// line, the branch the session is on. None (the default): every line
    /// counts. A tree format must leave `may_open_turn` alone: every line
    /// has to be parsed to follow the chain.
    fn tree_link<'a>(&self, _line: &'a Value) -> Option<(&'a str, Option<&'a str>)> {
        None
    }
}

/// The transcript format of a harness.
pub fn format_for(kind: HarnessKind) -> Result<&'static dyn Format> {
    match kind {
        HarnessKind::Claude => Ok(&claude::ClaudeTranscript),
        HarnessKind::Codex => Ok(&codex::CodexRollout),
        HarnessKind::Pi => Ok(&pi::PiTranscript),
    }
}

/// Where `worker` keeps its transcript; an error when that cannot be known
/// yet (a harness that mints its id and has not registered).
pub fn transcript_path(worker: &Worker) -> Result<PathBuf> {
    transcript_of(worker)?
        .ok_or_else(|| failed(format!("the transcript of worker '{}' is not known yet", worker.name())))
}

/// The last turn of `worker`. Fails, naming the path, when the transcript
/// is not there, and when it holds no turn yet.
pub fn last_turn(worker: &Worker) -> Result<Turn> {
    let format = format_for(HarnessKind::of_meta(&worker.meta)?)?;
    let path = transcript_path(worker)?;
    match read_last_turn(&path, format)? {
        Some(turn) => Ok(turn),
        None => Err(failed(format!("no user prompt found in session log {}", path.display()))),
    }
}

/// The last turn of the transcript at `path`: None when it has none yet.
/// A missing file is an error that names it.
pub fn read_last_turn(path: &Path, format: &dyn Format) -> Result<Option<Turn>> {
    read_last_turn_since(path, format, 0)
}

/// The size of the transcript at `path` now (0 when there is none yet): the
/// baseline for `read_last_turn_since`, taken before sending a prompt.
pub fn transcript_end(path: &Path) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::Io(format!("reading session log {}", path.display()), e)),
    }
}

/// As `read_last_turn`, but only a turn whose opening line starts at or
/// after byte `since`: the turn a prompt sent after taking the baseline
/// opened, never the one before it while the transcript lags the harness.
///
/// Two passes over the last turn only: backwards to find the line that opens
/// it (and, in a tree, the lines on the branch), noting where each line
/// starts; then forwards over those lines. Memory holds one line at a time,
/// the offsets and the turn, never the transcript; a line over
/// `lines::LINE_CAP` is skipped both ways.
pub fn read_last_turn_since(path: &Path, format: &dyn Format, since: u64) -> Result<Option<Turn>> {
    let file = match crate::safefile::open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(failed(format!("session log not found at {}", path.display())))
        }
        Err(e) => return Err(Error::Io(format!("opening session log {}", path.display()), e)),
    };
    let what = || format!("reading session log {}", path.display());
    let mut lines = RevLines::new(file.try_clone().context(what)?).context(what)?;
    // Read no further than the last complete line: a torn one is a write in progress.
    let end = lines.end();
    // Where the turn's lines start, newest first.
    let mut kept: Vec<u64> = Vec::new();
    let mut opened = false;
    // In a tree, the id of the next line the branch needs: None until the
    // last line names its parent, Some(None) once the branch reached its root.
    let mut wanted: Option<Option<String>> = None;
    while let Some((at, line)) = lines.next_line().context(what)? {
        if at < since {
            return Ok(None);
        }
        if !format.may_open_turn(line) {
            kept.push(at);
            continue;
        }
        // Lines that are not JSON (garbage, a torn write) are skipped.
        let Ok(value) = serde_json::from_slice::<Value>(line) else { continue };
        if let Some((id, parent)) = format.tree_link(&value) {
            if wanted.as_ref().is_some_and(|w| w.as_deref() != Some(id)) {
                continue;
            }
            wanted = Some(parent.map(str::to_string));
        }
        kept.push(at);
        if format.opens_turn(&value) {
            opened = true;
            break;
        }
    }
    if !opened && !format.whole_file_is_a_turn() {
        return Ok(None);
    }
    kept.reverse();
    let Some(&start) = kept.first() else { return Ok(None) };
    let mut lines = Lines::new(file, start).until(end);
    let mut turn = Turn::default();
    let mut next_kept = kept.iter().peekable();
    while let Some((at, line)) = lines.next_line().context(what)? {
        if next_kept.next_if_eq(&&at).is_some() {
            if let Ok(value) = serde_json::from_slice::<Value>(line) {
                format.add_line(&value, &mut turn);
            }
        }
    }
    Ok((!turn.is_empty()).then_some(turn))
}
