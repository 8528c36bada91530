//! Many workers at once: wait until any or all of them have answered
//! (`csd-wait --any/--all`), and one merged stream of every worker's events
//! (`csd-events --all`).
//!
//! Both wake on one inotify watch of the worker dir (a directory's watch
//! reports writes to every file in it, so every event log is covered, and
//! workers that appear or go), plus a pidfd per worker's pane process: no
//! polling. A slow liveness tick is the backstop for a session killed under
//! a process that survives it.

use crate::error::{Error, Result};
use crate::event::{kind_of_line, EventKind};
use crate::verdict::Verdict;
use crate::watch::{Wake, Watch, LIVENESS_TICK};
use crate::worker::{scan_metas, Lookup, Status, Worker};
use crate::workerdir::WorkerDir;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

/// How a worker of a fleet wait finished.
#[derive(Clone, Debug, PartialEq)]
pub enum Finish {
    /// It answered its latest prompt (or had none to answer).
    Idle,
    /// Its latest turn ended other than done: failed, interrupted, blocked
    /// (and `limited`: failed on a limit that lifts at a known time).
    Ended(Verdict),
    /// Its session ended (session_end) with its tmux session still there.
    Terminated,
    /// Its tmux session is gone.
    Gone,
}

impl Finish {
    /// The word a fleet wait prints after the name.
    pub fn name(&self) -> &'static str {
        match self {
            Finish::Idle => "idle",
            Finish::Ended(v) if v.limited_now() => "limited",
            Finish::Ended(v) => v.word(),
            Finish::Terminated => "terminated",
            Finish::Gone => "gone",
        }
    }

    /// `NAME<TAB>HOW`, and a third column saying why for a turn that did
    /// not finish.
    pub fn line(&self, name: &str) -> String {
        match self {
            Finish::Ended(v) => format!("{name}\t{}\t{}\n", self.name(), v.describe(name)),
            _ => format!("{name}\t{}\n", self.name()),
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Finish::Idle => crate::error::EXIT_OK,
            Finish::Ended(v) => v.exit_code(),
            Finish::Terminated | Finish::Gone => crate::error::EXIT_GONE,
        }
    }

    /// The exit status a fleet line's HOW word stands for (a remote host's
    /// lines are read back by it): unknown words count as gone.
    pub fn code_of_word(how: &str) -> i32 {
        use crate::error::*;
        match how {
            "idle" => EXIT_OK,
            "failed" | "limited" => EXIT_FAILED,
            "blocked" => EXIT_BLOCKED,
            "interrupted" => EXIT_INTERRUPTED,
            _ => EXIT_GONE,
        }
    }
}

/// Wait for the first of the workers to finish, or for all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    Any,
    All,
}

/// One named worker of a fleet wait: registered, or launched and not yet
/// registered (a Codex worker before its first prompt: idle, nothing to answer).
enum Member {
    Registered(Worker),
    Pending(crate::worker::Pending),
}

impl Member {
    /// `None` while it is still working on its latest prompt.
    fn finished(&self) -> Result<Option<Finish>> {
        Ok(match self {
            Member::Pending(p) => Some(if p.is_alive()? { Finish::Idle } else { Finish::Gone }),
            Member::Registered(w) => match crate::harness::status(w)? {
                Status::Working => None,
                Status::Idle | Status::Blocked | Status::Limited => Some(match w.last_verdict()? {
                    Verdict::Done => Finish::Idle,
                    v => Finish::Ended(v),
                }),
                Status::Unknown | Status::Unreachable => Some(Finish::Idle),
                Status::Terminated => Some(Finish::Terminated),
                Status::Gone => Some(Finish::Gone),
            },
        })
    }
}

/// Wait until the named workers have answered their latest prompts (one
/// of them with `Until::Any`), calling `report` with each as it finishes,
/// in the order they finish. A worker already idle counts at once; one
/// that dies counts too. `Error::Timeout` names those still working.
pub fn wait(
    dir: &WorkerDir,
    names: &[String],
    until: Until,
    deadline: Instant,
    mut report: impl FnMut(&str, Finish) -> Result<()>,
) -> Result<()> {
    let mut pending: Vec<(String, Member)> = Vec::new();
    for name in names {
        if pending.iter().any(|(n, _)| n == name) {
            continue;
        }
        let member = match crate::harness::lookup(dir, name)? {
            Lookup::Registered(w) => Member::Registered(w),
            Lookup::Pending(p) => Member::Pending(p),
        };
        pending.push((name.clone(), member));
    }
    // Armed before the first look, so a turn end landing in between wakes us.
    let mut watch = Watch::dir(dir.root())?;
    for (_, m) in &pending {
        if let Member::Registered(w) = m {
            if let Some(witness) = crate::harness::turn_witness(w) {
                watch = watch.also(&witness);
            }
            if let Some(pid) = w.pane_pid()? {
                watch.add_process(pid);
            }
        }
    }
    // After a pane's process exits tmux takes a moment to close its
    // session: look again soon for a while.
    let mut soon_until: Option<Instant> = None;
    loop {
        let mut i = 0;
        while i < pending.len() {
            match pending[i].1.finished()? {
                Some(how) => {
                    let (name, _) = pending.remove(i);
                    report(&name, how)?;
                    if until == Until::Any {
                        return Ok(());
                    }
                }
                None => i += 1,
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            let names: Vec<&str> = pending.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Error::Timeout(format!("timed out; still working: {}", names.join(" "))));
        }
        let tick = match soon_until {
            Some(t) if now < t => Duration::from_millis(50),
            _ => pending
                .iter()
                .filter_map(|(_, m)| match m {
                    Member::Registered(w) => Some(crate::harness::look_again(w)),
                    Member::Pending(_) => None,
                })
                .fold(LIVENESS_TICK, Duration::min),
        };
        if watch.wait(Some((now + tick).min(deadline)))? == Wake::ProcessExited {
            soon_until = Some(Instant::now() + Duration::from_secs(2));
        }
    }
}

/// Where `--all` reads from: one worker's log, held open so what it wrote
/// before `stop` removed the file is still read.
struct Followed {
    name: String,
    file: File,
    offset: u64,
    /// A line not yet complete (no newline yet).
    partial: Vec<u8>,
}

/// What `events_all` prints: every worker's events, each line with
/// `"worker"` and `"session_id"` added.
pub struct Merged<'a> {
    pub only: Option<EventKind>,
    pub last: Option<u64>,
    pub follow: bool,
    pub out: &'a mut dyn FnMut(&[u8]) -> Result<()>,
}

/// Every worker's events merged into one stream: in time order (then by
/// worker) for what is there now, then, with `follow`, as they land.
/// Workers launched after the stream starts join it; stopped ones leave
/// it; nothing is printed twice or lost (each log is held open and read
/// from where its last line ended).
pub fn events_all(dir: &WorkerDir, mut m: Merged) -> Result<i32> {
    let mut followed: BTreeMap<String, Followed> = BTreeMap::new();
    let mut watch = if m.follow { Some(Watch::dir(dir.root())?.with_stdout()) } else { None };
    print_backlog(dir, &mut m, &mut followed)?;
    let Some(watch) = watch.as_mut() else { return Ok(0) };
    // Workers whose turn end only their harness's own files show (Codex's
    // rollout): settled on every wake, their files watched, and a slow tick
    // for one whose file could not be watched yet.
    let mut settled: BTreeMap<String, (Worker, bool)> = BTreeMap::new();
    loop {
        join_new(dir, watch, &mut followed, &mut settled)?;
        let mut gone = Vec::new();
        for (sid, f) in followed.iter_mut() {
            for line in read_new(&mut f.file, &mut f.offset, &mut f.partial)? {
                if let Some(tagged) = tag(&line, &f.name, sid, m.only) {
                    (m.out)(&tagged)?;
                }
            }
            // Stopped: its log was removed, and all it held is read.
            if f.file.metadata().is_ok_and(|md| md.nlink() == 0) {
                gone.push(sid.clone());
            }
        }
        for sid in gone {
            followed.remove(&sid);
            settled.remove(&sid);
        }
        let tick = settled.values().any(|(_, armed)| !armed).then(|| Instant::now() + LIVENESS_TICK);
        if watch.wait(tick)? == Wake::OutputClosed {
            return Ok(0);
        }
    }
}

/// The backlog: each log up to its end now, merged by time (the last N
/// only, if asked); with `follow`, each log kept open where it was read to.
fn print_backlog(dir: &WorkerDir, m: &mut Merged, followed: &mut BTreeMap<String, Followed>) -> Result<()> {
    let mut backlog: Vec<(String, String, usize, Vec<u8>)> = Vec::new();
    for meta in scan_metas(dir)?.metas {
        let Some(mut f) = open_log(dir, &meta.session_id)? else { continue };
        let (mut offset, mut partial) = (0, Vec::new());
        let lines = read_new(&mut f, &mut offset, &mut partial)?;
        for (i, line) in lines.into_iter().enumerate() {
            if let Some(tagged) = tag(&line, &meta.tmux_name, &meta.session_id, m.only) {
                let ts = serde_json::from_slice::<Value>(&line).ok().and_then(|v| v["ts"].as_str().map(str::to_string));
                backlog.push((ts.unwrap_or_default(), meta.tmux_name.clone(), i, tagged));
            }
        }
        if m.follow {
            followed
                .insert(meta.session_id.clone(), Followed { name: meta.tmux_name.clone(), file: f, offset, partial });
        }
    }
    backlog.sort();
    let skip = match m.last {
        Some(n) => backlog.len().saturating_sub(n as usize),
        None => 0,
    };
    for (_, _, _, line) in backlog.into_iter().skip(skip) {
        (m.out)(&line)?;
    }
    Ok(())
}

/// Workers that appeared since the last look join the stream from their
/// log's start; those with a turn-end file of their harness's own get it
/// watched and settled.
fn join_new(
    dir: &WorkerDir,
    watch: &mut Watch,
    followed: &mut BTreeMap<String, Followed>,
    settled: &mut BTreeMap<String, (Worker, bool)>,
) -> Result<()> {
    for meta in scan_metas(dir)?.metas {
        if !settled.contains_key(&meta.session_id) {
            let w = Worker { dir: dir.clone(), meta: meta.clone() };
            if let Some(witness) = crate::harness::turn_witness(&w) {
                let armed = watch.add_file(&witness);
                settled.insert(meta.session_id.clone(), (w, armed));
            }
        }
        if followed.contains_key(&meta.session_id) {
            continue;
        }
        if let Some(file) = open_log(dir, &meta.session_id)? {
            followed.insert(
                meta.session_id.clone(),
                Followed { name: meta.tmux_name, file, offset: 0, partial: Vec::new() },
            );
        }
    }
    for (w, armed) in settled.values_mut() {
        // A worker gone meanwhile has nothing left to settle.
        if crate::harness::settle(w).is_err() {
            continue;
        }
        if !*armed {
            if let Some(witness) = crate::harness::turn_witness(w) {
                *armed = watch.add_file(&witness);
            }
        }
    }
    Ok(())
}

fn open_log(dir: &WorkerDir, sid: &str) -> Result<Option<File>> {
    let path = dir.events_path(sid);
    match crate::safefile::open_read(&path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(format!("opening {}", path.display()), e)),
    }
}

/// The complete lines written since `offset` (which moves past them); a
/// line still being written waits in `partial`. A line over the cap is
/// dropped, not held.
fn read_new(f: &mut File, offset: &mut u64, partial: &mut Vec<u8>) -> Result<Vec<Vec<u8>>> {
    let io = |e| Error::Io("reading an event log".into(), e);
    f.seek(SeekFrom::Start(*offset)).map_err(io)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(io)?;
    // `offset` counts what was read, a partial line included (kept apart).
    *offset += buf.len() as u64;
    let mut lines = Vec::new();
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', &buf) {
        let mut line = std::mem::take(partial);
        line.extend_from_slice(&buf[start..nl]);
        start = nl + 1;
        if !line.is_empty() && line.len() <= crate::lines::LINE_CAP {
            lines.push(line);
        }
    }
    partial.extend_from_slice(&buf[start..]);
    if partial.len() > crate::lines::LINE_CAP {
        partial.clear();
    }
    Ok(lines)
}

/// `line` with the worker's name and session id added, when it is a valid
/// event of the kind asked for.
fn tag(line: &[u8], name: &str, sid: &str, only: Option<EventKind>) -> Option<Vec<u8>> {
    let kind = kind_of_line(line)?;
    if only.is_some_and(|k| k != kind) {
        return None;
    }
    let Ok(Value::Object(mut v)) = serde_json::from_slice::<Value>(line) else { return None };
    v.insert("worker".into(), name.into());
    v.insert("session_id".into(), sid.into());
    let mut out = serde_json::to_vec(&Value::Object(v)).ok()?;
    out.push(b'\n');
    Some(out)
}
