//! Starting a worker (launch) or reviving one by session id (adopt), for any
//! harness: checks, state written before the pane starts, start-up, and on
//! failure the pane's last lines in the error and nothing left behind.

use crate::error::{failed, usage, Error, Result};
use crate::eventlog::EventLog;
use crate::harness::{pane_env, Harness, HarnessKind, IdStrategy, Launch, Mode};
use crate::name::tmux_session;
use crate::tmux::{shell_quote, Tmux};
use crate::worker::{list_metas, read_marker, remove_state, write_meta, Marker, Meta, Pending, Worker};
use crate::workerdir::WorkerDir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Lines of the pane shown when a start fails.
const TAIL_LINES: usize = 20;

pub struct Request {
    /// Where it runs: here, or on this host through its csd (`route::launch`).
    pub host: Option<crate::host::Dest>,
    pub harness: HarnessKind,
    pub name: String,
    pub cwd: PathBuf,
    pub mode: Mode,
    /// Adopt only: the session to resume.
    pub session_id: Option<String>,
    pub extra_args: Vec<String>,
    /// `--worktree`: the worker gets its own git worktree of CWD's repository.
    pub worktree: Option<crate::worktree::Ask>,
}

pub struct Started {
    pub shim: PathBuf,
    /// What a human reads on stderr: where the worker is and how to reach it.
    pub panel: String,
    /// The worker's id (the stamp on its tmux session).
    pub csd_id: String,
}

pub fn start(req: &Request) -> Result<Started> {
    let Some(ask) = &req.worktree else { return start_in(req, None) };
    // What a launch checks first is checked before a worktree is made for it.
    crate::name::validate(&req.name)?;
    let src = real_dir(&req.cwd)?;
    refuse_without_consent()?;
    refuse_missing_binary(req.harness)?;
    let dir = WorkerDir::from_env()?;
    dir.ensure()?;
    let made = crate::worktree::make(&dir, &req.name, &src, ask, req.mode)?;
    let started =
        start_in(req, Some(&made)).map_err(|e| crate::signals::deferred(|| crate::worktree::undo(&dir, &made, e)))?;
    // Only the shortcut for a remote controller's later calls is lost if this fails.
    let _ = crate::worktree::stamp(&dir, &made.record, &started.csd_id);
    Ok(started)
}

/// Start the worker, in the worktree `made` for it if there is one.
fn start_in(req: &Request, made: Option<&crate::worktree::Made>) -> Result<Started> {
    let name = crate::name::validate(&req.name)?;
    let h = req.harness.driver();
    let cwd = match made {
        Some(m) => real_dir(&m.record.cwd())?,
        None => real_dir(&req.cwd)?,
    };
    let cwd_str = cwd.to_str().ok_or_else(|| usage(format!("cwd {} is not UTF-8", cwd.display())))?;
    refuse_before_start(req)?;
    let dir = WorkerDir::from_env()?;
    let tmux = Tmux::from_env()?;
    let csd_id = crate::harness::uuid_v4()?;
    let session_id = match (req.mode, h.ids()) {
        (Mode::Adopt, _) => Some(adoptable_id(req.session_id.as_deref())?.to_string()),
        (Mode::Launch, IdStrategy::Assign) => Some(crate::harness::uuid_v4()?),
        (Mode::Launch, IdStrategy::Mint) => None,
    };
    dir.ensure()?;
    if made.is_none() {
        crate::worktree::refuse_kept(&dir, name)?;
    }
    // Held until our session exists: a launch racing us must not take our
    // half-made worker for a dead one and clear it away.
    let lock = dir.lock()?;
    let respawn = claim_name(&dir, &tmux, name, req, session_id.as_deref())?;
    // A worktree's launch is reproduced from the checkout it was made from.
    let source = made.and_then(|m| m.source.to_str()).unwrap_or(cwd_str);
    let invocation = invocation(req, source);
    let mut meta = session_id.as_deref().map(|sid| new_meta(req, sid, cwd_str, &invocation, &tmux, &csd_id));
    let home = h.home(&dir, name)?;
    if let (Mode::Adopt, Some(meta)) = (req.mode, &mut meta) {
        // Known now, before the harness's own hook says where it writes: a
        // reader needs no search, nor the worker's home (Codex's is new).
        let transcript = refuse_missing_transcript(&dir, h, meta, &home)?;
        meta.extra.insert("transcript_path".into(), transcript.to_string_lossy().into_owned().into());
    }
    let start_timeout = crate::knobs::millis("CSD_START_TIMEOUT_MS", START_TIMEOUT)?;
    let launch = Launch {
        dir: &dir,
        tmux: &tmux,
        name,
        cwd: &cwd,
        mode: req.mode,
        session_id: session_id.as_deref(),
        csd_id: &csd_id,
        home,
        hook_bin: crate::cli::beside_me("csd-hook")?,
        extra_args: &req.extra_args,
        events_baseline: match &session_id {
            Some(sid) => EventLog::new(dir.events_path(sid)).end()?,
            None => 0,
        },
        start_deadline: Instant::now() + start_timeout,
    };

    // From here on, a failure (a signal included) must take back everything
    // written. The pane counts as started once tmux was asked to start it:
    // a signal that cut that call short may have come after tmux did.
    let mut pane_started = false;
    let result = start_pane(req, &launch, meta.as_ref(), respawn, lock, &mut pane_started);
    let (shim, registered) = match result {
        Ok(done) => done,
        Err(e) => return Err(crate::signals::deferred(|| take_back(&launch, e, pane_started, start_timeout))),
    };
    let mut panel = panel(req, &launch, respawn, registered.as_deref(), &invocation);
    if let Some(m) = made {
        panel.push_str(&crate::worktree::panel_lines(m));
    }
    Ok(Started { shim, panel, csd_id })
}

/// What is refused before anything is made: an adopt the harness cannot
/// do, arguments that pick the session, no consent, an old tmux, no CLI.
fn refuse_before_start(req: &Request) -> Result<()> {
    if req.mode == Mode::Adopt && !req.harness.driver().supports_adopt() {
        return Err(usage(format!("--adopt is not possible for {} workers", req.harness.name())));
    }
    refuse_identity_args(req.harness, &req.extra_args)?;
    refuse_without_consent()?;
    Tmux::check_version()?;
    refuse_missing_binary(req.harness)
}

/// Take the name, under the worker dir's lock: refused if a remote worker
/// or another session holds it; a dead worker's debris cleared. Whether
/// the pane is to be respawned (an adopt into a session that is still there).
fn claim_name(dir: &WorkerDir, tmux: &Tmux, name: &str, req: &Request, session_id: Option<&str>) -> Result<bool> {
    if let Some(r) = crate::host::Record::read(dir, name)? {
        return Err(failed(format!(
            "a worker named '{name}' runs on host '{}'; stop it (csd --worker {name} stop) or pick another name",
            r.host
        )));
    }
    refuse_name_of_a_session(dir, name, session_id)?;
    match req.mode {
        Mode::Launch => {
            clear_name(dir, tmux, name, None)?;
            Ok(false)
        }
        Mode::Adopt => {
            let sid = session_id.expect("adopt has an id");
            refuse_adopt_clash(dir, name, sid, req.harness.driver())?;
            clear_name(dir, tmux, name, Some(sid))
        }
    }
}

fn new_meta(req: &Request, sid: &str, cwd: &str, invocation: &[String], tmux: &Tmux, csd_id: &str) -> Meta {
    let mut meta = Meta::new(&req.name, sid, cwd, req.harness.into());
    meta.extra.insert("started_at".into(), crate::time::now_iso().into());
    meta.extra.insert("invocation".into(), invocation.to_vec().into());
    meta.extra.insert("tmux_socket".into(), tmux.socket().to_string_lossy().into_owned().into());
    meta.extra.insert("csd_id".into(), csd_id.into());
    meta
}

/// Write the meta (or the marker of a worker still to register), prepare
/// the harness and start its pane, then wait for it to be ready and write
/// the shim: the shim, and the session id if it is known. `pane_started`
/// says, on failure, whether tmux was asked to start the pane (a signal
/// that cut that call short may have come after tmux did).
fn start_pane(
    req: &Request,
    launch: &Launch,
    meta: Option<&Meta>,
    respawn: bool,
    lock: crate::workerdir::DirLock,
    pane_started: &mut bool,
) -> Result<(PathBuf, Option<String>)> {
    let (dir, tmux, name, cwd, csd_id) = (launch.dir, launch.tmux, launch.name, launch.cwd, launch.csd_id);
    let h = req.harness.driver();
    match meta {
        Some(meta) => write_meta(dir, meta)?,
        None => {
            let marker = Marker {
                harness: req.harness.into(),
                tmux_socket: Some(tmux.socket().to_string_lossy().into_owned()),
                csd_id: Some(csd_id.to_string()),
            };
            dir.write_atomic(&dir.harness_marker_path(name), &marker.to_json(), 0o600)?
        }
    }
    h.prepare(launch)?;
    let env = pane_env(h, launch);
    let argv = h.argv(launch)?;
    crate::signals::check()?;
    *pane_started = true;
    if respawn {
        tmux.respawn_pane_kept(name, cwd, &env, &argv, csd_id)?;
    } else {
        tmux.new_session_kept(name, cwd, &env, &argv, csd_id)?;
    }
    drop(lock);
    h.await_ready(launch)?;
    tmux.release_pane(name)?;
    if tmux.pane_dead(name) != Some(false) {
        return Err(failed(format!("{} exited just after it started", req.harness.name())));
    }
    let shim = dir.write_shim(name, &crate::cli::beside_me("csd")?)?;
    let registered = match list_metas(dir)?.into_iter().find(|m| m.tmux_name == name) {
        Some(meta) => {
            let sid = meta.session_id.clone();
            Worker { dir: dir.clone(), meta }.record_pane()?;
            Some(sid)
        }
        None => launch.session_id.map(str::to_string),
    };
    // The last moment a signal undoes the launch: after it, the worker
    // is whole and its shim is printed.
    crate::signals::check()?;
    Ok((shim, registered))
}

/// The worker's arguments as given (cwd resolved), recorded in the meta and
/// shown as the command that reproduces the launch.
fn invocation(req: &Request, cwd: &str) -> Vec<String> {
    let mut args = req.worktree.as_ref().map(crate::worktree::Ask::args).unwrap_or_default();
    args.extend([req.name.clone(), cwd.to_string()]);
    if req.mode == Mode::Adopt {
        args.extend(req.session_id.iter().cloned());
    }
    if !req.extra_args.is_empty() {
        args.push("--".into());
        args.extend(req.extra_args.iter().cloned());
    }
    args
}

/// Adopt fails at once, naming the path, when the session has no transcript
/// (a typo in the id or the cwd would otherwise wait out the start timeout).
fn refuse_missing_transcript(dir: &WorkerDir, h: &dyn Harness, meta: &Meta, home: &Path) -> Result<PathBuf> {
    let known = crate::worker::read_meta(dir, &meta.session_id)?.unwrap_or_else(|| meta.clone());
    match h.transcript_path(&known, home) {
        Some(t) if t.is_file() => Ok(t),
        t => Err(failed(format!(
            "no transcript for session {} under {} (expected {}): check the session id and the cwd",
            meta.session_id,
            meta.cwd,
            t.map(|t| t.display().to_string())
                .or_else(|| h.transcript_pattern(&known, home))
                .unwrap_or_else(|| "?".into())
        ))),
    }
}

/// What a human reads on stderr: where the worker is and how to reach it.
fn panel(req: &Request, launch: &Launch, respawned: bool, sid: Option<&str>, invocation: &[String]) -> String {
    let header = match (req.mode, respawned) {
        (Mode::Launch, _) => "Worker launched.",
        (Mode::Adopt, true) => "Worker adopted (respawned its existing pane).",
        (Mode::Adopt, false) => "Worker adopted (in a new tmux session).",
    };
    let mut reproduce = format!("csd {}", if req.mode == Mode::Adopt { "adopt" } else { "launch" });
    if req.harness != HarnessKind::default_kind() {
        reproduce.push_str(&format!(" --harness {}", req.harness.name()));
    }
    for a in invocation {
        reproduce.push(' ');
        reproduce.push_str(&shell_quote(a));
    }
    let events = match sid {
        Some(sid) => launch.dir.events_path(sid).display().to_string(),
        None => "(known once the worker registers)".into(),
    };
    [
        header.to_string(),
        format!("  harness:    {}", req.harness.name()),
        format!("  tmux:       {}", launch.name),
        format!("  session_id: {}", sid.unwrap_or("(minted by the harness; known once it registers)")),
        format!("  cwd:        {}", launch.cwd.display()),
        format!("  events:     {events}"),
        format!("  attach:     {}", launch.tmux.attach_command(launch.name)),
        format!("  reproduce:  {reproduce}"),
    ]
    .join("\n")
}

/// The cwd, symlinks resolved; it must be a directory.
fn real_dir(cwd: &Path) -> Result<PathBuf> {
    let real = std::fs::canonicalize(cwd).map_err(|e| usage(format!("cwd '{}' cannot be used: {e}", cwd.display())))?;
    if !real.is_dir() {
        return Err(usage(format!("cwd '{}' is not a directory", cwd.display())));
    }
    Ok(real)
}

/// A session id to resume: a UUID-like run of hex digits and dashes (it also
/// becomes a file name).
fn adoptable_id(sid: Option<&str>) -> Result<&str> {
    let sid = sid.ok_or_else(|| usage("--adopt needs NAME CWD SESSION_ID"))?;
    let ok = sid.len() >= 8
        && sid.len() <= 64
        && sid.starts_with(|c: char| c.is_ascii_hexdigit())
        && sid.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if ok {
        Ok(sid)
    } else {
        Err(usage(format!("'{}' does not look like a session id", crate::name::printable(sid))))
    }
}

/// The harness's binary can be found: a missing one would otherwise show as
/// "exited before it was ready".
fn refuse_missing_binary(kind: HarnessKind) -> Result<()> {
    let bin = kind.binary();
    let found = if bin.contains('/') {
        Path::new(&bin).is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(&bin).is_file()))
    };
    if found {
        Ok(())
    } else {
        Err(failed(format!(
            "{} not found{}: install it, or set {} to its path",
            bin,
            if bin.contains('/') { "" } else { " on PATH" },
            kind.bin_env()
        )))
    }
}

/// Make `name` free for a new worker (or for adopting session `adopting`).
/// Names tmux maps to one session (`a.b`, `a_b`) are one name. A live worker
/// of that name, or a tmux session that is not this worker's, is refused;
/// a worker proven gone has its stale state removed; one whose state cannot
/// be found out is refused, never replaced. Returns whether a live session
/// of the adopted worker is there to respawn in place.
fn clear_name(dir: &WorkerDir, tmux: &Tmux, name: &str, adopting: Option<&str>) -> Result<bool> {
    let session = tmux_session(name);
    let mut respawn = false;
    let metas: Vec<Meta> = list_metas(dir)?.into_iter().filter(|m| tmux_session(&m.tmux_name) == session).collect();
    for meta in metas {
        let worker = Worker { dir: dir.clone(), meta };
        let adopted = adopting == Some(worker.meta.session_id.as_str()) && worker.name() == name;
        if worker.is_alive()? {
            if adopted {
                respawn = true;
                continue;
            }
            return Err(failed(format!(
                "a worker named '{}' is running (session {}); stop it or pick another name",
                worker.name(),
                worker.meta.session_id
            )));
        }
        if !adopted {
            worker.remove_state()?;
        }
    }
    // Launched workers not registered yet: a marker and no meta.
    for other in crate::worker::unregistered_names(dir, &list_metas(dir)?)? {
        if tmux_session(&other) != session {
            continue;
        }
        match read_marker(dir, &other) {
            Ok(Some(marker)) => {
                let pending = Pending { dir: dir.clone(), name: other.clone(), marker };
                if pending.is_alive()? {
                    return Err(failed(format!(
                        "a worker named '{other}' is running (not yet registered); stop it or pick another name"
                    )));
                }
                remove_state(dir, None, &other)?;
            }
            // A shim alone is rewritten by this launch.
            Ok(None) => {}
            Err(e) => return Err(failed(format!("a worker named '{other}' may still run: {e}"))),
        }
    }
    if !respawn && tmux.has_session(name)? {
        return Err(failed(format!(
            "tmux session '{session}' already exists on {} and is not a csd worker's; pick another name",
            tmux.socket().display()
        )));
    }
    Ok(respawn)
}

/// Adopt replaces the process in a pane of that name: refuse when that would
/// kill a different live worker, or turn a Codex/Pi worker into a Claude one.
fn refuse_adopt_clash(dir: &WorkerDir, name: &str, sid: &str, h: &dyn Harness) -> Result<()> {
    if let Some(marker) = read_marker(dir, name)? {
        if marker.harness.as_str() != h.name() {
            return Err(failed(format!(
                "'{name}' is a {} worker; stop it before adopting a {} session under that name",
                marker.harness.as_str(),
                h.name()
            )));
        }
    }
    if let Some(m) = crate::worker::read_meta(dir, sid)? {
        let other = Worker { dir: dir.clone(), meta: m };
        // Only a pane its harness has left (kept by remain-on-exit) is
        // respawned in place: a running one is in the middle of its work.
        let kept_dead = other.name() == name && other.tmux()?.pane_dead(name) == Some(true);
        if other.is_alive()? && !kept_dead {
            return Err(failed(format!(
                "session {sid} is already running as worker '{}'; stop it (csd --worker {} stop) before adopting it",
                other.name(),
                other.name()
            )));
        }
    }
    for m in list_metas(dir)?.into_iter().filter(|m| m.tmux_name == name && m.session_id != sid) {
        let other = Worker { dir: dir.clone(), meta: m };
        if other.is_alive()? {
            return Err(failed(format!(
                "'{name}' is running session {}; stop it before adopting another session under that name",
                other.meta.session_id
            )));
        }
    }
    Ok(())
}

/// A name that is some worker's session id (or, adopting, a session id that
/// is some worker's name) would make a WORKER argument mean two workers.
fn refuse_name_of_a_session(dir: &WorkerDir, name: &str, sid: Option<&str>) -> Result<()> {
    for m in list_metas(dir)? {
        if m.session_id == name {
            return Err(usage(format!(
                "'{name}' is the session id of worker '{}': a worker's name may not be a session id; pick another name",
                m.tmux_name
            )));
        }
        if sid == Some(m.tmux_name.as_str()) && m.tmux_name != name {
            return Err(usage(format!("session id '{}' is the name of another worker; stop it first", m.tmux_name)));
        }
    }
    Ok(())
}

/// Arguments for the harness that set or pick its session: csd gives the
/// worker its session (`--session-id`, `--resume` and the like), and a
/// second one would start a session csd does not know, or wait out the
/// start timeout for one that never reports in.
fn refuse_identity_args(kind: HarnessKind, args: &[String]) -> Result<()> {
    let picks = kind.driver().session_args();
    let found = args.iter().find(|a| {
        let opt = a.split_once('=').map_or(a.as_str(), |(o, _)| o);
        (a.starts_with('-') && picks.options.contains(&opt)) || picks.words.contains(&a.as_str())
    });
    match found {
        Some(a) => Err(usage(format!(
            "harness argument '{}' picks the worker's session: csd does that ({}); leave it out",
            crate::name::printable(a),
            picks.instead
        ))),
        None => Ok(()),
    }
}

/// Consent is a file under the user's home; without HOME, which home that
/// is may surprise, so the error says where it looked.
fn refuse_without_consent() -> Result<()> {
    if crate::consent::granted()? {
        return Ok(());
    }
    let home_unset = std::env::var_os("HOME").is_none_or(|h| h.is_empty());
    Err(failed(format!(
        "csd needs one-time consent before it starts workers (they run without permission prompts); \
         run: csd grant-consent{}",
        if home_unset {
            format!(
                " (HOME is not set: looked for {}, under the home the password database gives; set HOME)",
                crate::consent::path()?.display()
            )
        } else {
            String::new()
        }
    )))
}

/// Undo a failed start: keep the pane's last lines for the error, end the
/// session (only if it is the one this launch stamped), remove the meta,
/// log, marker, shim and home.
fn take_back(launch: &Launch, e: Error, pane_started: bool, timeout: Duration) -> Error {
    // A signal may surface as another error (a tmux call it cut short).
    let e = crate::signals::received().map_or(e, Error::Signal);
    let mut tail = String::new();
    let session = launch.tmux.probe(launch.name);
    let ours = matches!(&session, Ok(Some(s)) if s.stamp == launch.csd_id);
    if pane_started && ours {
        tail = crate::tmux::pane_tail(&launch.tmux.capture(launch.name, true).unwrap_or_default(), TAIL_LINES);
        if let Ok(Some(s)) = &session {
            let _ = launch.tmux.kill(s);
        }
    }
    if matches!(&session, Ok(Some(_))) && !ours {
        // Another launch took the name between our check and our session:
        // its marker, shim and home are its own; only our meta, log and tally go.
        if let Some(sid) = launch.session_id {
            let _ = launch.dir.remove_file(&launch.dir.meta_path(sid));
            let _ = launch.dir.remove_file(&launch.dir.events_path(sid));
            let _ = launch.dir.remove_file(&launch.dir.tally_path(sid));
        }
    } else {
        let _ = remove_state(launch.dir, launch.session_id, launch.name);
        if launch.session_id.is_none() {
            // A harness that mints its id may have registered before it failed.
            for m in list_metas(launch.dir).unwrap_or_default().into_iter().filter(|m| m.tmux_name == launch.name) {
                let _ = remove_state(launch.dir, Some(&m.session_id), launch.name);
            }
        }
    }
    if let Error::Signal(_) = e {
        return e;
    }
    let mut msg = match e {
        Error::Timeout(_) => format!("worker '{}' did not start within {}s: {e}", launch.name, timeout.as_secs_f64()),
        _ => format!("worker '{}' did not start: {e}", launch.name),
    };
    if !tail.is_empty() {
        msg.push_str(&format!("\n\nLast lines in the worker's pane:\n----------\n{tail}\n----------"));
    }
    if pane_started && session.is_err() {
        // A server that did not answer may still carry out the request it
        // was sent once it comes back.
        msg.push_str(&format!(
            "\nIf that tmux server comes back, the session may start there after all; end it with: \
             tmux -S {} kill-session -t ={}",
            crate::tmux::shell_quote(&launch.tmux.socket().to_string_lossy()),
            crate::tmux::shell_quote(&crate::name::tmux_session(launch.name))
        ));
    }
    match e {
        Error::Timeout(_) => Error::Timeout(msg),
        Error::Usage(_) => Error::Usage(msg),
        _ => Error::Failed(msg),
    }
}
