//! A worker's `<sid>.events.jsonl`: appended by hooks, read by everything else.
//!
//! Writers append each event with one `write(2)` on an `O_APPEND` descriptor,
//! so lines from concurrent hooks never splice. Every append holds the log's
//! exclusive `flock` (waiting for it at most `LOCK_WAIT`, then appending
//! anyway: a hook must never stall its agent), so a writer that checks the
//! log and then appends (Codex's settler) can do both under the lock with
//! nothing landing in between.
//!
//! An append is whole or nothing: a short write (a full disk) is cut back
//! to where it began, and a torn tail left by anyone else (a crash mid-write,
//! an older writer) is ended with a newline before the next event, so it
//! never swallows that event. An event that could not be written leaves a
//! marker, `<sid>.events.lost`, until one is written again: the worker's
//! state is then unknown, and status and waits say so rather than show the
//! turn running forever. The marker is an empty file at worst, which a full
//! disk still has room for (an inode, no data block).
//!
//! Readers never trust a line: one that is not a complete, known event (torn
//! by a crash, garbage, or over `lines::LINE_CAP`) is skipped. Reading "the
//! last N" walks backwards from the end (`revlines`), so its cost does not
//! grow with the log. A log that is not a regular file (a FIFO, a device) is
//! refused, never opened in a way that could block (`safefile`).

use crate::error::{Context, Result};
use crate::event::{kind_of_line, Event, EventKind};
use crate::lines::Lines;
use crate::revlines::RevLines;
use crate::safefile;
use memchr::memchr_iter;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

const CHUNK: usize = 64 * 1024;

pub struct EventLog {
    path: PathBuf,
}

impl EventLog {
    pub fn new(path: impl Into<PathBuf>) -> EventLog {
        EventLog { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether something is at the log's path (a reader then says what,
    /// if it is not a regular file).
    pub fn exists(&self) -> bool {
        self.path.symlink_metadata().is_ok()
    }

    /// `<sid>.events.lost`: there while the latest event could not be written.
    pub fn lost_path(&self) -> PathBuf {
        self.path.with_extension("lost")
    }

    /// Why the latest event could not be written, when it could not be (and
    /// none has been since).
    pub fn lost(&self) -> Option<String> {
        let path = self.lost_path();
        std::fs::symlink_metadata(&path).ok()?;
        let why = safefile::read_capped(&path, 4096).ok().and_then(|b| String::from_utf8(b).ok());
        Some(why.map(|w| w.trim().to_string()).filter(|w| !w.is_empty()).unwrap_or_else(|| "the disk is full?".into()))
    }

    /// An error naming the worker when its latest event could not be
    /// written: what its log says is not what it is doing.
    pub fn refuse_lost(&self, name: &str) -> Result<()> {
        match self.lost() {
            None => Ok(()),
            Some(why) => Err(crate::error::failed(format!(
                "worker '{name}': an event could not be written to {} ({why}); what it is doing is not known \
                 until it logs another (free space there, then send it a prompt)",
                self.path.display()
            ))),
        }
    }

    /// Append one event as one `write(2)`, under the log's lock.
    pub fn append(&self, ev: &Event) -> Result<()> {
        self.lock(LOCK_WAIT)?.append(ev)
    }

    /// End the turn the log shows open (its last event is a prompt or a tool
    /// call) with a stop of `verdict`, for a turn end no hook reported (a
    /// CLI that died). Whether it appended.
    pub fn end_open_turn(&self, verdict: crate::verdict::Verdict) -> Result<bool> {
        let open = |log: &EventLog| -> Result<bool> {
            Ok(matches!(
                log.last()?,
                Some((EventKind::UserPromptSubmit | EventKind::PreToolUse | EventKind::PostToolUse, _))
            ))
        };
        if !open(self)? {
            return Ok(false);
        }
        self.append_if(&Event::Stop { ts: crate::time::now_iso(), verdict, turn_id: None }, open)
    }

    /// Append `ev` only if `still` holds under the log's lock: the one way a
    /// reader that judged a turn over (a settler, a waiter) records it, so
    /// a hook's own stop landing meanwhile is never followed by a second,
    /// and a late settler never ends the next turn. A log removed meanwhile
    /// (the worker stopped) is not made again, and a lock not had in time
    /// leaves it to the next reader rather than guess. Whether it appended.
    pub fn append_if(&self, ev: &Event, still: impl Fn(&EventLog) -> Result<bool>) -> Result<bool> {
        let file = match safefile::open_append_existing(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e).context(|| format!("opening {}", self.path.display())),
        };
        let locked = flock_within(&file, LOCK_WAIT).context(|| format!("locking {}", self.path.display()))?;
        let appender = Appender { file, path: self.path.clone(), locked };
        if !appender.locked() || !still(self)? {
            return Ok(false);
        }
        appender.append(ev)?;
        Ok(true)
    }

    /// Open the log for appending (creating it) and take its exclusive lock,
    /// waiting at most `wait`; `Appender::locked` says whether it was had.
    pub fn lock(&self, wait: Duration) -> Result<Appender> {
        let file = safefile::open_append(&self.path, 0o600).context(|| format!("opening {}", self.path.display()))?;
        let locked = flock_within(&file, wait).context(|| format!("locking {}", self.path.display()))?;
        Ok(Appender { file, path: self.path.clone(), locked })
    }

    fn open(&self) -> Result<Option<File>> {
        match safefile::open_read(&self.path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).context(|| format!("opening {}", self.path.display())),
        }
    }

    /// The size of the log now: the baseline for "what comes next".
    pub fn end(&self) -> Result<u64> {
        match std::fs::metadata(&self.path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(e).context(|| format!("reading {}", self.path.display())),
        }
    }

    /// The last valid event, skipping a torn or garbage tail.
    pub fn last(&self) -> Result<Option<(EventKind, Vec<u8>)>> {
        let mut found = None;
        self.scan_back(|kind, line| {
            found = Some((kind, line.to_vec()));
            false
        })?;
        Ok(found)
    }

    /// The last valid event that `wanted` accepts.
    pub fn last_matching(&self, wanted: impl Fn(EventKind) -> bool) -> Result<Option<(EventKind, Vec<u8>)>> {
        let mut found = None;
        self.scan_back(|kind, line| {
            if wanted(kind) {
                found = Some((kind, line.to_vec()));
            }
            found.is_none()
        })?;
        Ok(found)
    }

    /// The last `n` valid events (of `only` kind, when given), oldest first,
    /// and the offset where they end: the baseline for reading what follows.
    pub fn tail(&self, n: u64, only: Option<EventKind>) -> Result<(Vec<Vec<u8>>, u64)> {
        let mut lines = Vec::new();
        let end = self.scan_back(|kind, line| {
            if n == 0 {
                return false;
            }
            if only.is_none_or(|k| k == kind) {
                lines.push(line.to_vec());
            }
            (lines.len() as u64) < n
        })?;
        lines.reverse();
        Ok((lines, end))
    }

    /// Walk valid events from the newest back, while `each` returns true.
    /// Only complete lines count: a final line without its newline is a write
    /// in progress or a torn one.
    /// Returns the offset after the last complete line.
    fn scan_back(&self, mut each: impl FnMut(EventKind, &[u8]) -> bool) -> Result<u64> {
        let Some(f) = self.open()? else { return Ok(0) };
        let what = || format!("reading {}", self.path.display());
        let mut lines = RevLines::new(f).context(what)?;
        let end = lines.end();
        while let Some((_, line)) = lines.next_line().context(what)? {
            if let Some(kind) = kind_of_line(line) {
                if !each(kind, line) {
                    break;
                }
            }
        }
        Ok(end)
    }

    /// The byte offset just after the `n`th non-empty line (v4's
    /// `--after-line N`), or the end when the log has fewer lines.
    pub fn offset_after_line(&self, n: u64) -> Result<u64> {
        let Some(mut f) = self.open()? else { return Ok(0) };
        if n == 0 {
            return Ok(0);
        }
        let mut seen = 0u64;
        let mut offset = 0u64;
        let mut prev = b'\n';
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let got = f.read(&mut chunk).context(|| format!("reading {}", self.path.display()))?;
            if got == 0 {
                return Ok(offset);
            }
            let data = &chunk[..got];
            for i in memchr_iter(b'\n', data) {
                let empty = if i == 0 { prev == b'\n' } else { data[i - 1] == b'\n' };
                if !empty {
                    seen += 1;
                    if seen == n {
                        return Ok(offset + i as u64 + 1);
                    }
                }
            }
            prev = data[got - 1];
            offset += got as u64;
        }
    }

    /// How many non-empty lines end at or before byte `offset`: the line
    /// number (as `offset_after_line` counts) of the line that ends there.
    /// The inverse of `offset_after_line` for an offset at a line's end.
    pub fn lines_before(&self, offset: u64) -> Result<u64> {
        let Some(mut f) = self.open()? else { return Ok(0) };
        let mut seen = 0u64;
        let mut at = 0u64;
        let mut prev = b'\n';
        let mut chunk = vec![0u8; CHUNK];
        while at < offset {
            let got = f.read(&mut chunk).context(|| format!("reading {}", self.path.display()))?;
            if got == 0 {
                break;
            }
            let data = &chunk[..got.min((offset - at) as usize)];
            for i in memchr_iter(b'\n', data) {
                let empty = if i == 0 { prev == b'\n' } else { data[i - 1] == b'\n' };
                seen += u64::from(!empty);
            }
            if let Some(&last) = data.last() {
                prev = last;
            }
            at += data.len() as u64;
        }
        Ok(seen)
    }

    /// Read forward from `offset`: call `each` with every complete, valid line
    /// after it. Returns the offset after the last complete line, so a partial
    /// line is read again once its newline lands.
    pub fn read_from(&self, offset: u64, mut each: impl FnMut(EventKind, &[u8]) -> Result<bool>) -> Result<u64> {
        let Some(f) = self.open()? else { return Ok(offset) };
        let what = || format!("reading {}", self.path.display());
        let size = f.metadata().context(what)?.len();
        // A log that shrank was replaced (a new worker with the same id): start over.
        let at = if size < offset { 0 } else { offset };
        let mut lines = Lines::new(f, at);
        while let Some((_, body)) = lines.next_line().context(what)? {
            if let Some(kind) = kind_of_line(body) {
                if !each(kind, body)? {
                    break;
                }
            }
        }
        Ok(lines.offset())
    }
}

/// How long an append waits for the log's lock before it appends anyway.
/// The lock is held for one write, or for a settler's look at the log's
/// tail: far less, unless something is wrong.
pub const LOCK_WAIT: Duration = Duration::from_secs(1);

/// The log open for appending, its lock held while this lives (if `locked`).
pub struct Appender {
    file: File,
    path: PathBuf,
    locked: bool,
}

impl Appender {
    /// Whether the lock was had (false: the wait ran out).
    pub fn locked(&self) -> bool {
        self.locked
    }

    /// Append one event as one `write(2)`, whole or not at all; a torn tail
    /// is ended first, in the same write.
    pub fn append(&self, ev: &Event) -> Result<()> {
        let what = || format!("appending to {}", self.path.display());
        let before = self.file.metadata().context(what)?.len();
        let mut line = ev.to_line();
        // A tail that cannot be read is taken for whole: the event goes in regardless.
        if before > 0 && self.last_byte(before).is_ok_and(|b| b != b'\n') {
            line.insert(0, b'\n');
        }
        // write_all would split a short write into two syscalls and so could
        // splice; a short write on a regular file means the disk is full.
        // The marker of an event lost before goes first: a reader that sees
        // this event must not find it still there (it is made again below if
        // this one is lost too).
        let _ = std::fs::remove_file(self.lost_path());
        let (written, why) = match (&self.file).write(&line) {
            Ok(n) if n == line.len() => return Ok(()),
            Ok(n) => (n as u64, format!("short write: {n} of {} bytes, the disk is full?", line.len())),
            Err(e) => (0, e.to_string()),
        };
        // Cut back first: a waiter the marker wakes must find the log whole.
        self.cut_back(before, written);
        self.mark_lost(&why);
        // Wake waiters on the log itself too (IN_ATTRIB), whatever woke them before.
        let _ = self.file.set_modified(std::time::SystemTime::now());
        Err(crate::error::failed(format!("could not append to {}: {why}", self.path.display())))
    }

    fn lost_path(&self) -> PathBuf {
        self.path.with_extension("lost")
    }

    fn last_byte(&self, len: u64) -> std::io::Result<u8> {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8];
        self.file.read_exact_at(&mut b, len - 1)?;
        Ok(b[0])
    }

    /// Take back a short write: the log ends where it did. Without the lock
    /// another writer may have appended after us, and only our own bytes
    /// may go.
    fn cut_back(&self, before: u64, written: u64) {
        let Ok(now) = self.file.metadata().map(|m| m.len()) else { return };
        if self.locked || now == before + written {
            let _ = self.file.set_len(before.min(now));
        }
    }

    /// Leave `<sid>.events.lost` saying why: created empty first (all a full
    /// disk may allow), the reason written into it if there is room.
    fn mark_lost(&self, why: &str) {
        let opened = crate::safefile::open_private(&self.lost_path(), true);
        if let Ok(mut f) = opened {
            let _ = writeln!(f, "at {}: {why}", crate::time::now_iso());
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Yes,
    Got,
    Failed,
    GaveUp,
}

/// Take `file`'s exclusive flock, waiting at most `wait`. Uncontended, one
/// syscall. Contended, a thread blocks in flock(2) on a duplicate of the
/// descriptor (the same open file description, so the lock it gets is
/// ours) while we wait on it with a bound; should it get the lock after we
/// gave up, it lets go at once.
fn flock_within(file: &File, wait: Duration) -> std::io::Result<bool> {
    use nix::libc::{flock, EINTR, EWOULDBLOCK, LOCK_EX, LOCK_NB, LOCK_UN};
    let try_lock = |fd: i32, op: i32| loop {
        // SAFETY: flock on a descriptor that is open for the call's duration.
        if unsafe { flock(fd, op) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(EINTR) {
            return Err(e);
        }
    };
    match try_lock(file.as_raw_fd(), LOCK_EX | LOCK_NB) {
        Ok(()) => return Ok(true),
        Err(e) if e.raw_os_error() == Some(EWOULDBLOCK) => {}
        Err(e) => return Err(e),
    }
    if wait.is_zero() {
        return Ok(false);
    }
    let dup = file.try_clone()?;
    let state = Arc::new((Mutex::new(Waiting::Yes), Condvar::new()));
    let theirs = Arc::clone(&state);
    // No thread to be had (out of resources): go without the lock.
    let spawned = std::thread::Builder::new().spawn(move || {
        let got = try_lock(dup.as_raw_fd(), LOCK_EX).is_ok();
        let (m, cv) = &*theirs;
        let mut st = m.lock().unwrap_or_else(PoisonError::into_inner);
        if *st == Waiting::GaveUp {
            if got {
                let _ = try_lock(dup.as_raw_fd(), LOCK_UN);
            }
        } else {
            *st = if got { Waiting::Got } else { Waiting::Failed };
            cv.notify_one();
        }
    });
    if spawned.is_err() {
        return Ok(false);
    }
    let (m, cv) = &*state;
    let guard = m.lock().unwrap_or_else(PoisonError::into_inner);
    let (mut st, _) =
        cv.wait_timeout_while(guard, wait, |s| *s == Waiting::Yes).unwrap_or_else(PoisonError::into_inner);
    Ok(match *st {
        Waiting::Got => true,
        Waiting::Yes | Waiting::GaveUp => {
            *st = Waiting::GaveUp;
            false
        }
        Waiting::Failed => false,
    })
}

#[cfg(test)]
mod tests {
    use super::EventLog;

    #[test]
    fn lines_before_counts_as_after_line_does() {
        let path = std::env::temp_dir().join(format!("csd-lines-before-{}", std::process::id()));
        std::fs::write(&path, "\n{\"a\":1}\n\n{\"b\":2}\n{\"c\":3}\n{\"torn\"").unwrap();
        let log = EventLog::new(&path);
        for n in 0..=3 {
            let at = log.offset_after_line(n).unwrap();
            assert_eq!(log.lines_before(at).unwrap(), n, "line {n} ends at {at}");
        }
        // The torn last line is no line; an offset past the end counts all.
        assert_eq!(log.lines_before(u64::MAX).unwrap(), 3);
        assert_eq!(log.lines_before(0).unwrap(), 0);
        std::fs::remove_file(&path).unwrap();
    }
}
