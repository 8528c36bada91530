//! A worker: its meta (`<sid>.meta`), its event log and its tmux session.

use crate::error::{usage, Error, Result};
use crate::event::EventKind;
use crate::eventlog::EventLog;
use crate::tmux::Tmux;
use crate::workerdir::{remove_if_present, remove_tree_if_present, WorkerDir};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// What `<sid>.meta` holds. The four named fields are v4's; anything else
/// (`started_at`, `invocation`, `transcript_path`, `tmux_socket`, …) is kept
/// as it was read so a rewrite never drops another tool's field.
#[derive(Clone, Debug, PartialEq)]
pub struct Meta {
    pub tmux_name: String,
    pub session_id: String,
    pub cwd: String,
    pub harness: String,
    pub extra: Map<String, Value>,
}

impl Meta {
    pub fn new(tmux_name: &str, session_id: &str, cwd: &str, harness: &str) -> Meta {
        Meta {
            tmux_name: tmux_name.into(),
            session_id: session_id.into(),
            cwd: cwd.into(),
            harness: harness.into(),
            extra: Map::new(),
        }
    }

    pub fn parse(bytes: &[u8]) -> Option<Meta> {
        let Value::Object(mut m) = serde_json::from_slice(bytes).ok()? else { return None };
        let mut take = |k: &str| match m.remove(k) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let tmux_name = take("tmux_name")?;
        let session_id = take("session_id")?;
        let cwd = take("cwd").unwrap_or_default();
        // Metas from before the harness field were all Claude workers.
        let harness = take("harness").unwrap_or_else(|| "claude".into());
        Some(Meta { tmux_name, session_id, cwd, harness, extra: m })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut m = Map::new();
        m.insert("tmux_name".into(), self.tmux_name.clone().into());
        m.insert("session_id".into(), self.session_id.clone().into());
        m.insert("cwd".into(), self.cwd.clone().into());
        m.insert("harness".into(), self.harness.clone().into());
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        serde_json::to_vec(&Value::Object(m)).expect("a JSON value always serializes")
    }

    pub fn extra_str(&self, key: &str) -> Option<&str> {
        self.extra.get(key).and_then(Value::as_str)
    }

    /// The tmux server the worker was launched on; falls back to the
    /// environment's for metas that do not say (v4's, or the default server).
    pub fn tmux(&self) -> Result<Tmux> {
        match self.extra_str("tmux_socket") {
            Some(s) => Tmux::with_socket(Some(s.to_string())),
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
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Idle => "idle",
            Status::Working => "working",
            Status::Terminated => "terminated",
            Status::Gone => "gone",
            Status::Unknown => "unknown",
        }
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
    pub harness: String,
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

impl Pending {
    /// Pending workers have no meta to name their tmux server: it is the
    /// environment's, as it was for the launch that made them.
    pub fn tmux(&self) -> Result<Tmux> {
        Tmux::from_env()
    }

    pub fn is_alive(&self) -> Result<bool> {
        Ok(self.tmux()?.has_session(&self.name))
    }

    /// The meta, once the hook has written it.
    pub fn registered(&self) -> Result<Option<Worker>> {
        Ok(list_metas(&self.dir)?
            .into_iter()
            .find(|m| m.tmux_name == self.name)
            .map(|meta| Worker { dir: self.dir.clone(), meta }))
    }

    /// Block until the worker registers (woken by inotify on the worker dir,
    /// where the meta lands by rename), its pane dies, or `deadline` passes.
    pub fn await_registration(&self, deadline: std::time::Instant) -> Result<Worker> {
        use crate::watch::{Wake, Watch, LIVENESS_TICK};
        let tmux = self.tmux()?;
        // Any entry of the dir will do: Watch watches the directory for it.
        let mut watch = Watch::new(&self.dir.root().join(".csd-registration"))?;
        if let Some(pid) = tmux.pane_pid(&self.name) {
            watch = watch.with_process(pid);
        }
        loop {
            if let Some(w) = self.registered()? {
                crate::harness::settle(&w)?;
                return Ok(w);
            }
            let tick = (std::time::Instant::now() + LIVENESS_TICK).min(deadline);
            match watch.wait(Some(tick))? {
                Wake::Changed | Wake::OutputClosed => {}
                Wake::Timeout if std::time::Instant::now() >= deadline => {
                    return match self.registered()? {
                        Some(w) => Ok(w),
                        None => Err(Error::Timeout(format!(
                            "worker '{}' did not register in time ({} mints its session id on the first \
                             prompt; raise CSD_REGISTER_TIMEOUT to wait longer)",
                            self.name, self.harness
                        ))),
                    };
                }
                _ if !tmux.has_session(&self.name) => {
                    return match self.registered()? {
                        Some(w) => Ok(w),
                        None => Err(Error::Gone(format!("worker '{}': its tmux session is gone", self.name))),
                    };
                }
                _ => {}
            }
        }
    }
}

impl Worker {
    /// Find a worker by tmux name or by session id.
    pub fn resolve(dir: &WorkerDir, name_or_sid: &str) -> Result<Worker> {
        crate::name::validate(name_or_sid)?;
        let meta = match read_meta(dir, name_or_sid)? {
            Some(meta) => meta,
            None => list_metas(dir)?
                .into_iter()
                .find(|m| m.tmux_name == name_or_sid)
                .ok_or_else(|| Error::no_worker(name_or_sid))?,
        };
        let worker = Worker { dir: dir.clone(), meta };
        // Bring the log up to date before anyone takes a baseline from it: a
        // turn end only the harness's files show must not land after one.
        crate::harness::settle(&worker)?;
        Ok(worker)
    }

    /// A registered worker, or a launched one still waiting for its
    /// harness to mint a session id.
    pub fn lookup(dir: &WorkerDir, name_or_sid: &str) -> Result<Lookup> {
        match Worker::resolve(dir, name_or_sid) {
            Err(Error::NoSuchWorker(m)) => {
                let marker = dir.harness_marker_path(name_or_sid);
                match std::fs::read_to_string(&marker) {
                    Ok(h) => Ok(Lookup::Pending(Pending {
                        dir: dir.clone(),
                        name: name_or_sid.to_string(),
                        harness: h.trim().to_string(),
                    })),
                    Err(_) => Err(Error::NoSuchWorker(m)),
                }
            }
            Ok(w) => Ok(Lookup::Registered(w)),
            Err(e) => Err(e),
        }
    }

    /// A worker with a session id: registered now, or within
    /// `CSD_REGISTER_TIMEOUT` (for a command that needs one, run while the
    /// first prompt is going in).
    pub fn resolve_registering(dir: &WorkerDir, name_or_sid: &str) -> Result<Worker> {
        match Worker::lookup(dir, name_or_sid)? {
            Lookup::Registered(w) => Ok(w),
            Lookup::Pending(p) => {
                if !p.is_alive()? {
                    return Err(Error::Gone(format!("worker '{}': its tmux session is gone", p.name)));
                }
                p.await_registration(std::time::Instant::now() + register_timeout()?)
            }
        }
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

    /// Whether the worker's tmux session is there. The pane process recorded
    /// at launch, still running on its still open terminal, answers without
    /// spawning tmux (which costs two thirds of a `status`); otherwise tmux
    /// is asked.
    pub fn is_alive(&self) -> Result<bool> {
        if PaneMark::of_meta(&self.meta).is_some_and(|p| p.is_running()) {
            return Ok(true);
        }
        Ok(self.tmux()?.has_session(self.name()))
    }

    /// The pid of the process in the worker's pane: the one recorded at
    /// launch while it still runs there, else what tmux says.
    pub fn pane_pid(&self) -> Result<Option<i32>> {
        match PaneMark::of_meta(&self.meta).filter(|p| p.is_running()) {
            Some(mark) => Ok(Some(mark.pid)),
            None => Ok(self.tmux()?.pane_pid(self.name())),
        }
    }

    /// Note the pane's process in the meta, for `is_alive`. Called once the
    /// worker is up and registered; a worker without the mark is asked about
    /// through tmux, so failing to record it costs only speed.
    pub fn record_pane(&mut self) -> Result<()> {
        let Some(mark) = self.tmux()?.pane_pid(self.name()).and_then(PaneMark::of_pid) else { return Ok(()) };
        // Start from the meta on disk: a hook may have added to it since we read it.
        let mut meta = read_meta(&self.dir, &self.meta.session_id)?.unwrap_or_else(|| self.meta.clone());
        meta.extra.insert("pane".into(), serde_json::json!({"pid": mark.pid, "start": mark.start, "tty": mark.tty}));
        write_meta(&self.dir, &meta)?;
        self.meta = meta;
        Ok(())
    }

    /// gone when its tmux session is; otherwise what its last event says.
    pub fn status(&self) -> Result<Status> {
        if !self.is_alive()? {
            return Ok(Status::Gone);
        }
        crate::harness::settle(self)?;
        Ok(match self.events().last()? {
            Some((kind, _)) => Status::after(kind),
            None => Status::Unknown,
        })
    }

    /// Remove everything csd keeps for this worker: meta, events, shim,
    /// harness marker and per-worker home.
    pub fn remove_state(&self) -> Result<()> {
        remove_state(&self.dir, Some(&self.meta.session_id), self.name())
    }
}

pub fn remove_state(dir: &WorkerDir, sid: Option<&str>, name: &str) -> Result<()> {
    if let Some(sid) = sid {
        remove_if_present(&dir.meta_path(sid))?;
        remove_if_present(&dir.events_path(sid))?;
    }
    remove_if_present(&dir.shim_path(name))?;
    remove_if_present(&dir.harness_marker_path(name))?;
    let home = dir.home_path(name);
    remove_tree_if_present(&home)?;
    // `homes/` goes with its last worker; while others live it stays.
    if let Some(homes) = home.parent() {
        let _ = std::fs::remove_dir(homes);
    }
    Ok(())
}

/// The meta for session id `sid`, if there is a readable one.
pub fn read_meta(dir: &WorkerDir, sid: &str) -> Result<Option<Meta>> {
    // A meta is a few hundred bytes: a huge file there is not one, and a
    // FIFO or a device must not block the reader (nor the hook).
    const META_CAP: u64 = 1024 * 1024;
    let path = dir.meta_path(sid);
    match crate::safefile::read_capped(&path, META_CAP) {
        Ok(bytes) => Ok(Meta::parse(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(format!("reading {}", path.display()), e)),
    }
}

pub fn write_meta(dir: &WorkerDir, meta: &Meta) -> Result<()> {
    if meta.session_id.is_empty() || crate::name::validate(&meta.session_id).is_err() {
        return Err(usage(format!("refusing to write a meta for session id '{}'", meta.session_id.escape_debug())));
    }
    dir.write_atomic(&dir.meta_path(&meta.session_id), &meta.to_json(), 0o600)
}

/// Every readable meta in the dir, sorted by tmux name. A meta that does not
/// parse is skipped, not fatal: one bad file must not hide every worker.
pub fn list_metas(dir: &WorkerDir) -> Result<Vec<Meta>> {
    let mut metas: Vec<Meta> = dir
        .entries()?
        .into_iter()
        .filter_map(|f| f.strip_suffix(".meta").map(str::to_string))
        .filter_map(|sid| read_meta(dir, &sid).ok().flatten())
        .collect();
    metas.sort_by(|a, b| a.tmux_name.cmp(&b.tmux_name));
    Ok(metas)
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
        .filter(|n| crate::name::validate(n).is_ok() && !metas.iter().any(|m| &m.tmux_name == n))
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
        let tty = terminal_of(pid).filter(|t| t.starts_with("/dev/pts/"))?;
        Some(PaneMark { pid, start: proc_start_time(pid)?, tty })
    }

    fn of_meta(meta: &Meta) -> Option<PaneMark> {
        let p = meta.extra.get("pane")?;
        Some(PaneMark {
            pid: i32::try_from(p.get("pid")?.as_i64()?).ok()?,
            start: p.get("start")?.as_u64()?,
            tty: p.get("tty")?.as_str()?.to_string(),
        })
    }

    /// The same process still runs on the same, still open, pane terminal.
    pub fn is_running(&self) -> bool {
        proc_start_time(self.pid) == Some(self.start) && terminal_of(self.pid).as_deref() == Some(self.tty.as_str())
    }
}

/// The process's start time, or `None` once it has exited (zombie included).
fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces and parentheses itself.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Where the process's standard input points.
fn terminal_of(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/0")).ok()?.into_os_string().into_string().ok()
}
