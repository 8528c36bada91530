//! A worker: its meta (`<sid>.meta`), its event log and its tmux session.
//!
//! A worker's identity is proven, never guessed: csd stamps each session it
//! creates with the worker's id (tmux option `@csd_id`, set by the command
//! that creates the session) and records the id and the server's socket
//! path in the meta (or, before a minting harness registers, in the
//! `<name>.harness` marker). A session is the worker's only when its stamp
//! matches. "tmux could not be asked" is an error, never "gone".
//!
//! Nothing read from disk is trusted as a path: a meta's name and session id
//! pass the same checks as a name on the command line, and its session id
//! must be its file's name; metas that fail are reported and skipped.

use crate::error::{failed, usage, Error, Result};
use crate::event::EventKind;
use crate::eventlog::EventLog;
use crate::kind::HarnessName;
use crate::name::WorkerRef;
use crate::tmux::{Session, Tmux};
use crate::workerdir::WorkerDir;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// The largest meta or marker csd reads: they hold a few hundred bytes.
const MAX_RECORD: u64 = 1 << 20;

/// What `<sid>.meta` holds. The four named fields are v4's; anything else
/// (`started_at`, `invocation`, `transcript_path`, `tmux_socket`, `csd_id`,
/// …) is kept as it was read so a rewrite never drops another tool's field.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub tmux_name: String,
    pub session_id: String,
    pub cwd: String,
    pub harness: HarnessName,
    pub extra: Map<String, Value>,
}

impl Meta {
    pub fn new(tmux_name: &str, session_id: &str, cwd: &str, harness: HarnessName) -> Meta {
        Meta { tmux_name: tmux_name.into(), session_id: session_id.into(), cwd: cwd.into(), harness, extra: Map::new() }
    }

    /// A meta from its bytes, or why it cannot be one: not a JSON object,
    /// or a name or session id that would not pass as one on the command
    /// line (they become file names and tmux targets).
    pub fn parse(bytes: &[u8]) -> std::result::Result<Meta, String> {
        let Ok(Value::Object(mut m)) = serde_json::from_slice(bytes) else { return Err("not a JSON object".into()) };
        let mut take = |k: &str| match m.remove(k) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let tmux_name = take("tmux_name").ok_or("no tmux_name")?;
        let session_id = take("session_id").ok_or("no session_id")?;
        let cwd = take("cwd").unwrap_or_default();
        // Metas from before the harness field were all Claude workers.
        let harness = HarnessName::of(&take("harness").unwrap_or_else(|| "claude".into()));
        crate::name::validate(&tmux_name).map_err(|e| format!("tmux_name: {e}"))?;
        crate::name::validate(&session_id).map_err(|e| format!("session_id: {e}"))?;
        if let Some(id) = m.get("csd_id") {
            id.as_str().filter(|id| crate::name::validate(id).is_ok()).ok_or("csd_id is not a plain id")?;
        }
        Ok(Meta { tmux_name, session_id, cwd, harness, extra: m })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("tmux_name".into(), self.tmux_name.clone().into());
        m.insert("session_id".into(), self.session_id.clone().into());
        m.insert("cwd".into(), self.cwd.clone().into());
        m.insert("harness".into(), self.harness.as_str().into());
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        serde_json::to_vec(&Value::Object(m)).expect("a JSON value always serializes")
    }

    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }

    /// The id csd stamped the worker's tmux session with; `None` for a
    /// worker launched before stamps (v4, or an older csd).
    pub fn csd_id(&self) -> Option<&str> {
        self.extra_str("csd_id")
    }

    /// The tmux server the worker was launched on; falls back to the
    /// environment's for metas that do not say (v4's).
    pub fn tmux(&self) -> Result<Tmux> {
        match self.extra_str("tmux_socket") {
            Some(s) => Tmux::at(s),
            None => Tmux::from_env(),
        }
    }
}

/// `<name>.harness`: what launch records of a worker whose harness mints its
/// session id, until the worker registers. JSON; a bare harness name is the
/// older form.
#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub harness: HarnessName,
    pub tmux_socket: Option<String>,
    pub csd_id: Option<String>,
}

impl Marker {
    pub fn parse(bytes: &[u8]) -> std::result::Result<Marker, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8")?.trim();
        if !text.starts_with('{') {
            crate::name::validate(text).map_err(|e| e.to_string())?;
            return Ok(Marker { harness: HarnessName::of(text), tmux_socket: None, csd_id: None });
        }
        let v: Value = serde_json::from_str(text).map_err(|_| "not JSON")?;
        let harness = v["harness"].as_str().ok_or("no harness")?;
        crate::name::validate(harness).map_err(|e| e.to_string())?;
        let csd_id = v["csd_id"].as_str().map(str::to_string);
        if csd_id.as_deref().is_some_and(|id| crate::name::validate(id).is_err()) {
            return Err("csd_id is not a plain id".into());
        }
        Ok(Marker {
            harness: HarnessName::of(harness),
            tmux_socket: v["tmux_socket"].as_str().map(str::to_string),
            csd_id,
        })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let v = serde_json::json!({"harness": self.harness.as_str(), "tmux_socket": self.tmux_socket, "csd_id": self.csd_id});
        serde_json::to_vec(&v).expect("a JSON value always serializes")
    }

    pub fn tmux(&self) -> Result<Tmux> {
        match &self.tmux_socket {
            Some(s) => Tmux::at(s),
            None => Tmux::from_env(),
        }
    }
}

/// What `status` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Idle,
    Working,
    Terminated,
    Gone,
    Unknown,
    /// A remote worker whose host did not answer: not known to be gone.
    Unreachable,
    /// Its turn waits on a person: a question, a dialog (`verdict::Block`).
    Blocked,
    /// Its last turn failed on a rate or usage limit that lifts at a known
    /// time, still ahead; it takes prompts, which would likely fail again.
    Limited,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Working => "working",
            Status::Terminated => "terminated",
            Status::Gone => "gone",
            Status::Unknown => "unknown",
            Status::Unreachable => "unreachable",
            Status::Blocked => "blocked",
            Status::Limited => "limited",
        }
    }

    pub const ALL: [Status; 8] = [
        Status::Idle,
        Status::Working,
        Status::Terminated,
        Status::Gone,
        Status::Unknown,
        Status::Unreachable,
        Status::Blocked,
        Status::Limited,
    ];

    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The status a log ending in `line` (of `kind`) shows: a stop's verdict
    /// decides between idle, blocked and limited.
    pub fn after_line(kind: EventKind, line: &[u8]) -> Status {
        if kind != EventKind::Stop {
            return Status::after(kind);
        }
        match crate::verdict::Verdict::of_line(line) {
            crate::verdict::Verdict::Blocked(_) => Status::Blocked,
            v if v.limited_now() => Status::Limited,
            _ => Status::Idle,
        }
    }

    /// Whether a prompt sent now is taken at once (not held for a turn).
    pub fn takes_prompts(self) -> bool {
        matches!(self, Status::Idle | Status::Limited | Status::Unknown)
    }

    pub fn after(kind: EventKind) -> Status {
        match kind {
            EventKind::SessionEnd => Status::Terminated,
            EventKind::UserPromptSubmit | EventKind::PreToolUse | EventKind::PostToolUse => Status::Working,
            EventKind::Stop | EventKind::SessionStart => Status::Idle,
        }
    }
}

pub struct Worker {
    pub dir: WorkerDir,
    pub meta: Meta,
}

/// A worker csd launched whose harness has not minted its session id yet
/// (Codex before its first prompt): its `<name>.harness` marker exists, its
/// meta does not. The hook writes the meta on the first prompt.
#[derive(Clone, Debug)]
pub struct Pending {
    pub dir: WorkerDir,
    pub name: String,
    pub marker: Marker,
}

/// What a name refers to.
pub enum Lookup {
    Registered(Worker),
    Pending(Pending),
}

/// How long a command waits for a pending worker to register after its first
/// prompt went in (`CSD_REGISTER_TIMEOUT`, seconds).
pub const REGISTER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

pub fn register_timeout() -> Result<std::time::Duration> {
    crate::knobs::seconds("CSD_REGISTER_TIMEOUT", REGISTER_TIMEOUT)
}

/// The session tmux calls `name`, if it is the one stamped `id`. A record
/// without an id (launched before stamps) owns only an unstamped session,
/// and, when it knows its session id (`legacy_sid`: a v4 meta), only one
/// whose pane names that id (`names_session_id`): tmux maps `a.b` and `a_b`
/// to one session, so a stale meta must not take somebody's own.
pub fn owned_session(tmux: &Tmux, name: &str, id: Option<&str>, legacy_sid: Option<&str>) -> Result<Option<Session>> {
    let Some(s) = tmux.probe(name)? else { return Ok(None) };
    match (id, legacy_sid) {
        (Some(id), _) => Ok((s.stamp == id).then_some(s)),
        (None, _) if !s.stamp.is_empty() => Ok(None),
        (None, None) => Ok(Some(s)),
        (None, Some(sid)) => match s.pane_pid {
            Some(pid) if crate::process::names_arg(pid, sid)? => Ok(Some(s)),
            _ => Ok(None),
        },
    }
}

impl Pending {
    pub fn tmux(&self) -> Result<Tmux> {
        self.marker.tmux()
    }

    /// Its tmux session, proven by its stamp.
    pub fn session(&self) -> Result<Option<Session>> {
        owned_session(&self.tmux()?, &self.name, self.marker.csd_id.as_deref(), None)
    }

    pub fn is_alive(&self) -> Result<bool> {
        Ok(self.session()?.is_some())
    }

    /// The meta, once the hook has written it.
    pub fn registered(&self) -> Result<Option<Worker>> {
        Ok(list_metas(&self.dir)?
            .into_iter()
            .find(|m| m.tmux_name == self.name)
            .map(|meta| Worker { dir: self.dir.clone(), meta }))
    }
}

impl Worker {
    /// Find a registered worker by a WORKER argument (`name::worker_ref`):
    /// by name first, by session id only as `sid:ID` or when no worker has
    /// that name. Several metas under one name (a worker adopted under the
    /// name of one that died) resolve to the one whose session runs, never
    /// to whichever the directory lists first.
    pub fn resolve(dir: &WorkerDir, arg: &str) -> Result<Worker> {
        match Worker::lookup(dir, arg)? {
            Lookup::Registered(w) => Ok(w),
            Lookup::Pending(_) => Err(Error::no_worker(arg)),
        }
    }

    /// A registered worker, or a launched one still waiting for its
    /// harness to mint a session id: the worker of that name (registered,
    /// else pending), else, for a bare argument no name answers to, the one
    /// whose session id it is.
    pub fn lookup(dir: &WorkerDir, arg: &str) -> Result<Lookup> {
        let name = match crate::name::worker_ref(arg)? {
            WorkerRef::SessionId(sid) => {
                let meta = read_meta(dir, sid)?.ok_or_else(|| Error::no_worker(arg))?;
                return Ok(Lookup::Registered(Worker { dir: dir.clone(), meta }));
            }
            WorkerRef::Name(name) => name,
        };
        let skipped = match Worker::by_name(dir, name)? {
            Ok(w) => return Ok(Lookup::Registered(w)),
            Err(skipped) => skipped,
        };
        if let Some(marker) = read_marker(dir, name)? {
            return Ok(Lookup::Pending(Pending { dir: dir.clone(), name: name.to_string(), marker }));
        }
        // v4 took a session id where a name goes; launch refuses a name that
        // is a session id, so this answers only when no name does.
        if let Some(meta) = read_meta(dir, name)? {
            return Ok(Lookup::Registered(Worker { dir: dir.clone(), meta }));
        }
        if skipped.is_empty() {
            return Err(Error::no_worker(name));
        }
        Err(Error::NoSuchWorker(format!(
            "no worker known as '{name}' ({} did not hold up and {} skipped: {})",
            if skipped.len() == 1 { "a meta" } else { "some metas" },
            if skipped.len() == 1 { "was" } else { "were" },
            skipped.join(", ")
        )))
    }

    /// The registered worker named `name`, or the metas that were skipped
    /// as not holding up (one of them may have been it).
    fn by_name(dir: &WorkerDir, name: &str) -> Result<std::result::Result<Worker, Vec<String>>> {
        let scan = scan_metas(dir)?;
        let mut named: Vec<Worker> = scan
            .metas
            .into_iter()
            .filter(|m| m.tmux_name == name)
            .map(|meta| Worker { dir: dir.clone(), meta })
            .collect();
        if named.is_empty() {
            return Ok(Err(scan.skipped.into_iter().map(|(f, _)| f).collect()));
        }
        if named.len() == 1 {
            return Ok(Ok(named.pop().expect("counted")));
        }
        let mut alive = Vec::new();
        for w in named.iter() {
            alive.push(w.is_alive()?);
        }
        if alive.iter().filter(|a| **a).count() == 1 {
            let i = alive.iter().position(|a| *a).expect("counted");
            return Ok(Ok(named.swap_remove(i)));
        }
        let sids: Vec<&str> = named.iter().map(|w| w.meta.session_id.as_str()).collect();
        Err(failed(format!(
            "{} metas name worker '{name}' ({}) and {} of them runs; name it by session id (sid:ID), or run 'csd prune'",
            named.len(),
            sids.join(", "),
            if alive.iter().any(|a| *a) { "more than one" } else { "none" }
        )))
    }

    pub fn name(&self) -> &str {
        &self.meta.tmux_name
    }

    pub fn events(&self) -> EventLog {
        EventLog::new(self.dir.events_path(&self.meta.session_id))
    }

    pub fn meta_path(&self) -> PathBuf {
        self.dir.meta_path(&self.meta.session_id)
    }

    pub fn tmux(&self) -> Result<Tmux> {
        self.meta.tmux()
    }

    /// Its tmux session, proven by its stamp; `None` when tmux has none that
    /// is this worker's. An error when tmux could not be asked.
    pub fn session(&self) -> Result<Option<Session>> {
        owned_session(&self.tmux()?, self.name(), self.meta.csd_id(), Some(&self.meta.session_id))
    }

    /// Whether the worker's tmux session is there. The pane process recorded
    /// at launch, still running on its still open terminal, answers without
    /// spawning tmux (which costs two thirds of a `status`); otherwise tmux
    /// is asked, and only a session stamped as this worker's counts.
    pub fn is_alive(&self) -> Result<bool> {
        if PaneMark::of_meta(&self.meta).is_some_and(|p| p.is_running()) {
            return Ok(true);
        }
        Ok(self.session()?.is_some())
    }

    /// The pid of the process in the worker's pane: the one recorded at
    /// launch while it still runs there, else what tmux says.
    pub fn pane_pid(&self) -> Result<Option<i32>> {
        match PaneMark::of_meta(&self.meta).filter(|p| p.is_running()) {
            Some(mark) => Ok(Some(mark.pid)),
            None => Ok(self.session()?.and_then(|s| s.pane_pid)),
        }
    }

    /// Note the pane's process in the meta, for `is_alive`. Called once the
    /// worker is up and registered; a worker without the mark is asked about
    /// through tmux, so failing to record it costs only speed.
    pub fn record_pane(&mut self) -> Result<()> {
        let Some(mark) = self.session()?.and_then(|s| s.pane_pid).and_then(PaneMark::of_pid) else { return Ok(()) };
        // Start from the meta on disk: a hook may have added to it since we read it.
        let mut meta = read_meta(&self.dir, &self.meta.session_id)?.unwrap_or_else(|| self.meta.clone());
        meta.extra.insert("pane".into(), serde_json::json!({"pid": mark.pid, "start": mark.start, "tty": mark.tty}));
        write_meta(&self.dir, &meta)?;
        self.meta = meta;
        Ok(())
    }

    /// What its last event says, taking its session as there: the caller
    /// (`harness::status`) has asked, and asking tmux twice costs a spawn.
    /// Turn ends only a harness's own files show are not looked for here.
    /// After an event that could not be written (a full disk) the log's last
    /// word is no longer the worker's: unknown (`EventLog::refuse_lost` says
    /// why), until the next event is written. A send still goes in.
    pub fn status_of_log(&self) -> Result<Status> {
        let log = self.events();
        if log.lost().is_some() {
            return Ok(Status::Unknown);
        }
        Ok(match log.last()? {
            Some((kind, line)) => Status::after_line(kind, &line),
            None => Status::Unknown,
        })
    }

    /// The worker as it is now if its CLI moved it to a new session since
    /// this was read (Codex's `/new` does so on the next prompt): its meta is
    /// gone, and the hook's new meta names its session as `moved_from`.
    pub fn moved(&self) -> Result<Option<Worker>> {
        if self.meta_path().exists() {
            return Ok(None);
        }
        let sid = self.meta.session_id.as_str();
        Ok(list_metas(&self.dir)?
            .into_iter()
            .find(|m| {
                m.extra_str("moved_from") == Some(sid)
                    && m.tmux_name == self.meta.tmux_name
                    && m.csd_id() == self.meta.csd_id()
            })
            .map(|meta| Worker { dir: self.dir.clone(), meta }))
    }

    /// The verdict of the turn end the log ends with (done when it ends in
    /// anything but a stop).
    pub fn last_verdict(&self) -> Result<crate::verdict::Verdict> {
        Ok(match self.events().last()? {
            Some((EventKind::Stop, line)) => crate::verdict::Verdict::of_line(&line),
            _ => crate::verdict::Verdict::Done,
        })
    }

    /// Remove everything csd keeps for this worker: meta, events, tally,
    /// shim, harness marker and per-worker home.
    pub fn remove_state(&self) -> Result<()> {
        remove_state(&self.dir, Some(&self.meta.session_id), self.name())
    }
}

/// Remove a worker's files. Every path is built from a name and a session
/// id that have passed `name::validate`, and is checked to lie in the dir.
pub fn remove_state(dir: &WorkerDir, sid: Option<&str>, name: &str) -> Result<()> {
    crate::name::validate(name)?;
    if let Some(sid) = sid {
        crate::name::validate(sid)?;
        dir.remove_file(&dir.meta_path(sid))?;
        dir.remove_file(&dir.events_path(sid))?;
        dir.remove_file(&EventLog::new(dir.events_path(sid)).lost_path())?;
        dir.remove_file(&dir.tally_path(sid))?;
    }
    dir.remove_file(&dir.shim_path(name))?;
    dir.remove_file(&dir.harness_marker_path(name))?;
    dir.remove_file(&dir.send_lock_path(name))?;
    dir.remove_home(name)
}

/// Read a small record (meta, marker) without blocking on a FIFO, without
/// following a link, and only up to `MAX_RECORD`; `None` when it is not there.
fn read_record(path: &std::path::Path) -> Result<Option<Vec<u8>>> {
    match crate::safefile::read_capped(path, MAX_RECORD) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(format!("reading {}", path.display()), e)),
    }
}

/// The meta for session id `sid`, if there is one. A meta that does not
/// hold up (bad JSON, a hostile name, a session id other than its file's)
/// is an error naming it: it is never acted on.
pub fn read_meta(dir: &WorkerDir, sid: &str) -> Result<Option<Meta>> {
    crate::name::validate(sid)?;
    let path = dir.meta_path(sid);
    let Some(bytes) = read_record(&path)? else { return Ok(None) };
    let meta = Meta::parse(&bytes).map_err(|why| failed(format!("{}: {why}; ignoring it", path.display())))?;
    if meta.session_id != sid {
        return Err(failed(format!(
            "{}: its session_id '{}' is not its file name; ignoring it",
            path.display(),
            crate::name::printable(&meta.session_id)
        )));
    }
    Ok(Some(meta))
}

/// The marker of a worker that has not registered yet, if there is one.
pub fn read_marker(dir: &WorkerDir, name: &str) -> Result<Option<Marker>> {
    crate::name::validate(name)?;
    let path = dir.harness_marker_path(name);
    let Some(bytes) = read_record(&path)? else { return Ok(None) };
    Marker::parse(&bytes).map(Some).map_err(|why| failed(format!("{}: {why}; ignoring it", path.display())))
}

pub fn write_meta(dir: &WorkerDir, meta: &Meta) -> Result<()> {
    if crate::name::validate(&meta.session_id).is_err() || crate::name::validate(&meta.tmux_name).is_err() {
        return Err(usage(format!("refusing to write a meta for session id '{}'", meta.session_id.escape_debug())));
    }
    dir.write_atomic(&dir.meta_path(&meta.session_id), &meta.to_json(), 0o600)
}

/// Every meta in the dir, and what was wrong with those skipped.
#[derive(Default)]
pub struct MetaScan {
    /// Sorted by tmux name.
    pub metas: Vec<Meta>,
    /// `(file name, why)` for each meta that did not hold up.
    pub skipped: Vec<(String, String)>,
}

pub fn scan_metas(dir: &WorkerDir) -> Result<MetaScan> {
    let mut scan = MetaScan::default();
    for file in dir.entries()? {
        let Some(sid) = file.strip_suffix(".meta") else { continue };
        if crate::name::validate(sid).is_err() {
            scan.skipped.push((file.clone(), "its name is not a session id".into()));
            continue;
        }
        match read_meta(dir, sid) {
            Ok(Some(m)) => scan.metas.push(m),
            Ok(None) => {}
            Err(e) => scan.skipped.push((file.clone(), e.to_string())),
        }
    }
    scan.metas.sort_by(|a, b| a.tmux_name.cmp(&b.tmux_name));
    Ok(scan)
}

/// Every meta that holds up, sorted by tmux name. One bad file must not
/// hide every worker; commands that act on the whole dir report the skipped
/// ones (`scan_metas`).
pub fn list_metas(dir: &WorkerDir) -> Result<Vec<Meta>> {
    Ok(scan_metas(dir)?.metas)
}

/// Names csd knows only by a harness marker or a shim, with no meta: a worker
/// whose harness has not minted its session id yet, or leftovers of one that
/// died without `stop`.
pub fn unregistered_names(dir: &WorkerDir, metas: &[Meta]) -> Result<Vec<String>> {
    let mut names: Vec<String> = dir
        .entries()?
        .into_iter()
        .filter_map(|f| f.strip_suffix(".harness").map(str::to_string))
        .chain(dir.shim_names()?)
        // A remote worker's shim is its record's, not debris.
        .filter(|n| {
            crate::name::validate(n).is_ok() && !metas.iter().any(|m| &m.tmux_name == n) && !dir.holds_remote(n)
        })
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// The process in a worker's pane, told apart from any later process with
/// the same pid by its start time (field 22 of /proc/PID/stat), and tied to
/// its pane by its terminal: when tmux closes a pane, the terminal the
/// process holds reads as "/dev/pts/N (deleted)" at once, even if the
/// process lives on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneMark {
    pub pid: i32,
    pub start: u64,
    pub tty: String,
}

impl PaneMark {
    pub fn of_pid(pid: i32) -> Option<PaneMark> {
        let tty = crate::process::terminal_of(pid).filter(|t| t.starts_with("/dev/pts/"))?;
        Some(PaneMark { pid, start: crate::process::start_time(pid)?, tty })
    }

    pub fn of_meta(meta: &Meta) -> Option<PaneMark> {
        let p = meta.extra.get("pane")?;
        Some(PaneMark {
            pid: i32::try_from(p.get("pid")?.as_i64()?).ok()?,
            start: p.get("start")?.as_u64()?,
            tty: p.get("tty")?.as_str()?.to_string(),
        })
    }

    /// The same process still runs on the same, still open, pane terminal.
    pub fn is_running(&self) -> bool {
        crate::process::start_time(self.pid) == Some(self.start)
            && crate::process::terminal_of(self.pid).as_deref() == Some(self.tty.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metas_that_would_become_paths_or_targets_are_refused() {
        let ok = br#"{"tmux_name":"w1","session_id":"sid-1","cwd":"/","harness":"codex","csd_id":"abc-1"}"#;
        let m = Meta::parse(ok).unwrap();
        assert_eq!(m.harness.as_str(), "codex");
        assert_eq!(m.csd_id(), Some("abc-1"));
        for bad in [
            &br#"{"tmux_name":"x/../../v","session_id":"s"}"#[..],
            br#"{"tmux_name":"w","session_id":"../../tmp/x"}"#,
            br#"{"tmux_name":"-t","session_id":"s"}"#,
            br#"{"tmux_name":"w","session_id":"s","csd_id":"a;b"}"#,
            br#"{"tmux_name":"w","session_id":"s","csd_id":7}"#,
            br#"{"session_id":"s"}"#,
            b"[]",
            b"not json",
        ] {
            assert!(Meta::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        // An unknown harness is kept as written, not refused.
        let m = Meta::parse(br#"{"tmux_name":"w","session_id":"s","harness":"someday"}"#).unwrap();
        assert_eq!(m.harness.as_str(), "someday");
        assert!(String::from_utf8(m.to_json()).unwrap().contains("\"harness\":\"someday\""));
    }

    #[test]
    fn markers_old_and_new() {
        let old = Marker::parse(b"codex\n").unwrap();
        assert_eq!((old.harness.as_str(), old.tmux_socket, old.csd_id), ("codex", None, None));
        let new = Marker {
            harness: HarnessName::of("pi"),
            tmux_socket: Some("/tmp/tmux-0/x".into()),
            csd_id: Some("id-1".into()),
        };
        assert_eq!(Marker::parse(&new.to_json()).unwrap(), new);
        assert!(Marker::parse(b"../x").is_err());
        assert!(Marker::parse(br#"{"harness":"pi","csd_id":"a b"}"#).is_err());
    }
}
