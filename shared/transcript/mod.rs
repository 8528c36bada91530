//! Finding and reading a worker's transcript, the harness's own record of the
//! session, to get its last turn.
//!
//! Each harness writes JSON lines in its own shape; a `Format` says which
//! line opens a turn and what each line adds to a `Turn`. The walk is shared: read lines backwards from the end until the
//! line that opens the last turn, then hand them to the format in order. So
//! the cost grows with the last turn, not with the transcript.
//!
//! Adding a harness: a module beside `claude.rs` with a unit struct that
//! implements `Format`, and one arm in `format_for`. The file's location
//! comes from the harness (`harness::transcript_of`).

pub mod claude;
pub mod pi;

use crate::error::{failed, Context, Error, Result};
use crate::harness::{transcript_of, HarnessKind};
use crate::revlines::RevLines;
use crate::turn::Turn;
use crate::worker::Worker;
use serde_json::Value;
use std::fs::File;
use std::path::{Path, PathBuf};

/// How one harness records a session, line by line. Where the file is, is
/// the harness's business (`Harness::transcript_path`).
pub trait Format: Sync {
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
    /// counts.
    fn tree_link<'a>(&self, _line: &'a Value) -> Option<(&'a str, Option<&'a str>)> {
        None
    }
}

/// The transcript format of a harness.
pub fn format_for(kind: HarnessKind) -> Result<&'static dyn Format> {
    match kind {
        HarnessKind::Claude => Ok(&claude::ClaudeTranscript),
        HarnessKind::Pi => Ok(&pi::PiTranscript),
        other => Err(failed(format!("reading a {} transcript is not supported yet", other.name()))),
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
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(failed(format!("session log not found at {}", path.display())))
        }
        Err(e) => return Err(Error::Io(format!("opening session log {}", path.display()), e)),
    };
    let what = || format!("reading session log {}", path.display());
    let mut lines = RevLines::new(file).context(what)?;
    // Newest first; lines that are not JSON (garbage, a torn write) are skipped.
    let mut newest_first: Vec<Value> = Vec::new();
    let mut opened = false;
    // In a tree, the id of the next line the branch needs: None until the
    // last line names its parent, Some(None) once the branch reached its root.
    let mut wanted: Option<Option<String>> = None;
    while let Some(line) = lines.next_line().context(what)? {
        let Ok(value) = serde_json::from_slice::<Value>(line) else { continue };
        if let Some((id, parent)) = format.tree_link(&value) {
            if wanted.as_ref().is_some_and(|w| w.as_deref() != Some(id)) {
                continue;
            }
            wanted = Some(parent.map(str::to_string));
        }
        opened = format.opens_turn(&value);
        newest_first.push(value);
        if opened {
            break;
        }
    }
    if !opened && !format.whole_file_is_a_turn() {
        return Ok(None);
    }
    let mut turn = Turn::default();
    for value in newest_first.iter().rev() {
        format.add_line(value, &mut turn);
    }
    Ok((!turn.is_empty()).then_some(turn))
}
