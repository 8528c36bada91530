//! Finding and reading a worker's transcript, the harness's own record of the
//! session, to get its last turn.
//!
//! Each harness writes JSON lines in its own shape; a `Format` says which
//! line opens a turn and what each line adds to a `Turn`. The walk is
//! shared: read lines backwards from the end until the line that opens the
//! last turn, then hand the turn's lines to the format in order. So the cost
//! grows with the last turn, not with the transcript.
//!
//! "In order" is the order the harness meant, which need not be the file's:
//! Claude Code appends a turn's lines from concurrent writers, and a slow one
//! is overtaken (the session's first prompt can land after the turn's tool
//! call). A format that links its lines (`lineage`) has each line follow the
//! one it names, and may claim lines written before the opening one
//! (`before_opener`); a turn with a line still waiting for the one it
//! follows is not complete yet (`read_complete_turn_since`).
//!
//! Each harness's folder holds its `Format` (`harness/<name>/transcript.rs`),
//! which `Harness::transcript_format` hands out; the file's location comes
//! from the harness too (`harness::transcript_of`).

use crate::error::{failed, Context, Error, Result};
use crate::lines::Lines;
use crate::revlines::RevLines;
use crate::turn::Turn;
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

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

    /// For a harness whose lines can reach the file out of order: this
    /// line's id, and the id of the line it must follow (None: it follows
    /// nothing in particular). A line whose predecessor is in the file later
    /// is held back until that one is read; one whose predecessor never comes
    /// is added last, and the turn counts as incomplete. None (the default):
    /// file order is the order.
    fn lineage<'a>(&self, _line: &'a Value) -> Option<(&'a str, Option<&'a str>)> {
        None
    }

    /// A line found before `opener`, the line that opens the last turn,
    /// walking backwards from it: is it part of that turn all the same,
    /// written ahead of the turn's opening line? The default: no, and
    /// nothing before it is either.
    fn before_opener(&self, _opener: &Value, _line: &Value) -> Before {
        Before::Stop
    }
}

/// What `Format::before_opener` says of a line written before the turn's
/// opening line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    /// It belongs to the turn; look further back.
    Belongs,
    /// It does not belong (a line of no interest); look further back.
    Skip,
    /// It does not belong, and nothing further back does.
    Stop,
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
/// A turn some of whose lines are still to be written is returned as far as
/// it goes (see `read_complete_turn_since`).
pub fn read_last_turn_since(path: &Path, format: &dyn Format, since: u64) -> Result<Option<Turn>> {
    Ok(read_turn(path, format, since)?.map(|(turn, _)| turn))
}

/// As `read_last_turn_since`, but None while the turn is not all there yet:
/// a line of it names a line it follows that is not in the file (Claude Code
/// 2.1.197 can write a turn's reply before its tool call, and its first
/// prompt after both). What `converse` reads once the harness said the turn
/// ended, so what it prints, and a read-turn after it, has the whole turn.
/// With `or_partial` the turn comes back complete or not (when waiting is
/// over).
pub fn read_complete_turn_since(
    path: &Path,
    format: &dyn Format,
    since: u64,
    or_partial: bool,
) -> Result<Option<Turn>> {
    read_complete_turn_between(path, format, since, None, or_partial).map(|t| t.map(|(turn, _)| turn))
}

/// As `read_complete_turn_since`, of the lines before byte `until` only
/// (the start of a later turn: another sender's prompt, taken right after
/// ours), and where the turn found starts.
pub fn read_complete_turn_between(
    path: &Path,
    format: &dyn Format,
    since: u64,
    until: Option<u64>,
    or_partial: bool,
) -> Result<Option<(Turn, u64)>> {
    Ok(read_turn_until(path, format, since, until)?
        .and_then(|(turn, complete, start)| (complete || or_partial).then_some((turn, start))))
}

/// The last turn since `since`, and whether it is complete.
///
/// Two passes over the last turn only: backwards to find the line that opens
/// it (and, in a tree, the lines on the branch; then any lines of the turn
/// written before it), noting where each line starts; then forwards over
/// those lines. Memory holds one line at a time (and the few lines held back
/// to follow a later one), the offsets and the turn, never the transcript; a
/// line over `lines::LINE_CAP` is skipped both ways.
pub fn read_turn(path: &Path, format: &dyn Format, since: u64) -> Result<Option<(Turn, bool)>> {
    Ok(read_turn_until(path, format, since, None)?.map(|(turn, complete, _)| (turn, complete)))
}

/// `read_turn` of the file as if it ended at `until`; also where the turn
/// starts.
fn read_turn_until(
    path: &Path,
    format: &dyn Format,
    since: u64,
    until: Option<u64>,
) -> Result<Option<(Turn, bool, u64)>> {
    let file = match crate::safefile::open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(failed(format!("session log not found at {}", path.display())))
        }
        Err(e) => return Err(Error::Io(format!("opening session log {}", path.display()), e)),
    };
    let what = || format!("reading session log {}", path.display());
    let copy = file.try_clone().context(what)?;
    let mut lines = match until {
        Some(until) => RevLines::ending_at(copy, until),
        None => RevLines::new(copy),
    }
    .context(what)?;
    // Read no further than the last complete line: a torn one is a write in progress.
    let end = lines.end();
    let Some(mut kept) = turn_offsets(&mut lines, format, since, &what)? else { return Ok(None) };
    kept.reverse();
    let Some(&start) = kept.first() else { return Ok(None) };
    let mut lines = Lines::new(file, start).until(end);
    let mut turn = InOrder::new(format);
    let mut next_kept = kept.iter().peekable();
    while let Some((at, line)) = lines.next_line().context(what)? {
        if next_kept.next_if_eq(&&at).is_some() {
            if let Ok(value) = serde_json::from_slice::<Value>(line) {
                turn.add(value);
            }
        }
    }
    let (turn, complete) = turn.finish();
    Ok((!turn.is_empty()).then_some((turn, complete, start)))
}

/// Backwards from the end: where each line of the last turn starts, newest
/// first; `None` when the turn starts before `since`, or no line opens one
/// (and the format does not take the whole file for a turn).
fn turn_offsets(
    lines: &mut RevLines,
    format: &dyn Format,
    since: u64,
    what: &dyn Fn() -> String,
) -> Result<Option<Vec<u64>>> {
    // Where the turn's lines start, newest first.
    let mut kept: Vec<u64> = Vec::new();
    let mut opener: Option<Value> = None;
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
            opener = Some(value);
            break;
        }
    }
    match &opener {
        // Lines of this turn the harness wrote ahead of its opening line.
        Some(opener) => {
            while let Some((at, line)) = lines.next_line().context(what)? {
                if at < since {
                    break;
                }
                let Ok(value) = serde_json::from_slice::<Value>(line) else { continue };
                match format.before_opener(opener, &value) {
                    Before::Belongs => kept.push(at),
                    Before::Skip => {}
                    Before::Stop => break,
                }
            }
        }
        None if !format.whole_file_is_a_turn() => return Ok(None),
        None => {}
    }
    Ok(Some(kept))
}

/// Builds a turn from its lines in file order, each line after the one it
/// follows (`Format::lineage`): a line read before that one is held back
/// until it comes.
struct InOrder<'f> {
    format: &'f dyn Format,
    turn: Turn,
    /// The ids of the lines added so far.
    added: HashSet<String>,
    /// Lines waiting for the line they follow, in file order, with its id.
    held: Vec<(String, Value)>,
}

impl<'f> InOrder<'f> {
    fn new(format: &'f dyn Format) -> InOrder<'f> {
        InOrder { format, turn: Turn::default(), added: HashSet::new(), held: Vec::new() }
    }

    fn add(&mut self, line: Value) {
        let waits_for = match self.format.lineage(&line) {
            Some((_, Some(after))) if !self.added.contains(after) => Some(after.to_string()),
            _ => None,
        };
        match waits_for {
            Some(after) => self.held.push((after, line)),
            None => self.add_now(line),
        }
    }

    /// Add `line`, then every held line that can follow now, oldest first.
    fn add_now(&mut self, line: Value) {
        let mut next = Some(line);
        while let Some(line) = next.take() {
            self.format.add_line(&line, &mut self.turn);
            if let Some((id, _)) = self.format.lineage(&line) {
                self.added.insert(id.to_string());
            }
            if let Some(i) = self.held.iter().position(|(after, _)| self.added.contains(after)) {
                next = Some(self.held.remove(i).1);
            }
        }
    }

    /// The turn, and whether every line in it found the line it follows.
    /// Lines that did not are added last, in file order.
    fn finish(mut self) -> (Turn, bool) {
        let complete = self.held.is_empty();
        for (_, line) in std::mem::take(&mut self.held) {
            self.format.add_line(&line, &mut self.turn);
        }
        (self.turn, complete)
    }
}
