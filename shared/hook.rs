//! What `csd-hook` does with one lifecycle payload from Claude Code or Codex.
//!
//! The hook runs inside the agent, on every event, in every session where the
//! plugin is installed, so it must be cheap and must never hurt the agent: it
//! reads stdin with a deadline and a size cap, writes only for managed workers
//! (a `<sid>.meta` exists, or it is told who the worker is and registers it),
//! prints nothing, and always exits 0.

use crate::event::{Event, EventKind};
use crate::eventlog::EventLog;
use crate::harness::HarnessKind;
use crate::worker::{read_meta, write_meta, Meta};
use crate::workerdir::WorkerDir;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde_json::{Map, Value};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A hook that never sees EOF must not linger (v1's leak of thousands of
/// processes came from an unbounded read).
pub const STDIN_DEADLINE: Duration = Duration::from_secs(5);
/// Payloads above this are read through but only their head is kept; the
/// fields we need come first.
pub const STDIN_CAP: usize = 8 * 1024 * 1024;

/// Who the worker is, for harnesses that mint their own session id (Codex):
/// their hook command carries `TMUX_NAME CWD WORKER_DIR [HARNESS]`.
#[derive(Debug, PartialEq)]
pub struct Identity {
    pub tmux_name: String,
    pub cwd: String,
    pub worker_dir: PathBuf,
    pub harness: String,
}

impl Identity {
    pub fn from_args(args: &[String]) -> Option<Identity> {
        match args {
            [name, cwd, dir, rest @ ..] if rest.len() <= 1 => Some(Identity {
                tmux_name: name.clone(),
                cwd: cwd.clone(),
                worker_dir: PathBuf::from(dir),
                harness: rest.first().cloned().unwrap_or_else(|| "codex".into()),
            }),
            _ => None,
        }
    }
}

/// Read stdin until EOF, the deadline, or the cap (after which the rest is
/// drained and dropped, so the writer is never blocked on a full pipe).
/// Returns the bytes kept and whether the payload was cut.
pub fn read_stdin_bounded(deadline: Duration, cap: usize) -> (Vec<u8>, bool) {
    let until = Instant::now() + deadline;
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    let mut kept = Vec::new();
    let mut cut = false;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (kept, true);
        }
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
            Ok(0) => return (kept, true),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return (kept, cut),
        }
        match lock.read(&mut chunk) {
            Ok(0) => return (kept, cut),
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&chunk[..n.min(room)]);
                cut |= n > room;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return (kept, cut),
        }
    }
}

/// The payload's top-level object. A payload cut by the cap does not parse,
/// so its leading string fields are recovered one by one.
pub fn parse_payload(bytes: &[u8], cut: bool) -> Option<Map<String, Value>> {
    if let Ok(Value::Object(m)) = serde_json::from_slice(bytes) {
        return Some(m);
    }
    if !cut {
        return None;
    }
    let mut m = Map::new();
    for key in ["session_id", "transcript_path", "cwd", "hook_event_name", "tool_name"] {
        if let Some(v) = leading_string_field(bytes, key) {
            m.insert(key.into(), Value::String(v));
        }
    }
    m.contains_key("session_id").then_some(m)
}

/// `"key":"value"` at the top level of a JSON prefix. Good enough for the
/// fields that precede the bulky ones; never used on a payload that parsed.
fn leading_string_field(bytes: &[u8], key: &str) -> Option<String> {
    let needle = format!("\"{key}\":");
    let at = memchr::memmem::find(bytes, needle.as_bytes())? + needle.len();
    let rest = &bytes[at..];
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let mut de = serde_json::Deserializer::from_slice(&rest[start..]).into_iter::<String>();
    de.next()?.ok()
}

/// Handle one payload. Returns the (last) event appended, if any.
pub fn handle(payload: &Map<String, Value>, identity: Option<&Identity>) -> Option<Event> {
    let sid = payload.get("session_id")?.as_str()?;
    // A session id becomes a file name: hold it to the worker-name charset.
    crate::name::validate(sid).ok()?;
    let name = payload.get("hook_event_name")?.as_str()?;
    let kind = EventKind::from_hook(name);
    if kind.is_none() && !is_turn_hook(name) {
        return None;
    }
    let dir = match identity {
        Some(id) => WorkerDir::at(id.worker_dir.clone()).ok()?,
        None => WorkerDir::from_env().ok()?,
    };
    let meta = match read_meta(&dir, sid).ok()? {
        // Codex fires SessionEnd without any SessionStart when it quits before
        // its first prompt: that session never was a worker's, and a meta
        // born of it would outlive a stop that is removing the worker.
        None if kind == Some(EventKind::SessionEnd) => return None,
        None if kind == Some(EventKind::SessionStart) && follow_new_session(&dir, sid, payload, identity).is_some() => {
            read_meta(&dir, sid).ok()??
        }
        // Only a lifecycle event registers a worker.
        None if kind.is_none() => return None,
        None => register(&dir, sid, identity?, payload)?,
        Some(meta) if kind == Some(EventKind::SessionStart) => note_transcript(&dir, meta, payload),
        // The CLI goes on, in the session it starts next: the worker has not ended.
        Some(meta) if kind == Some(EventKind::SessionEnd) && moving_on(&meta, payload) => return None,
        Some(meta) => meta,
    };
    let ts = crate::time::now_iso();
    let harness = HarnessKind::of(&meta.harness).map(HarnessKind::driver);
    let events = match harness.and_then(|h| h.hook_events(name, &ts, payload)) {
        Some(events) => events,
        None => vec![Event::from_payload(kind?, ts, payload)],
    };
    append_events(&EventLog::new(dir.events_path(sid)), events)
}

/// Whether some harness reads hook `name` itself (`Harness::turn_hooks`):
/// hooks that are none of the lifecycle events but can end or block a turn.
fn is_turn_hook(name: &str) -> bool {
    HarnessKind::all().any(|k| k.driver().turn_hooks().contains(&name))
}

/// Append `events` under one hold of the log's lock; a stop that may only
/// end an open turn is dropped when none is open (a dialog's late
/// notification after the turn already ended or blocked).
fn append_events(log: &EventLog, events: Vec<Event>) -> Option<Event> {
    if events.is_empty() {
        return None;
    }
    let appender = log.lock(crate::eventlog::LOCK_WAIT).ok()?;
    let mut last = None;
    for ev in events {
        if ev.needs_open_turn() {
            let open = matches!(
                log.last().ok()?,
                Some((EventKind::UserPromptSubmit | EventKind::PreToolUse | EventKind::PostToolUse, _))
            );
            if !open {
                continue;
            }
        }
        appender.append(&ev).ok()?;
        last = Some(ev);
    }
    last
}

/// What a CLI's SessionStart says when it goes on in a session it did not
/// start in (Claude Code's and Codex's `/clear`, a resume from inside the
/// CLI, a compaction into a new session, Codex's fork).
const MOVED_SOURCES: [&str; 4] = ["clear", "resume", "compact", "fork"];

/// The worker whose pane this hook runs in: the meta stamped with the
/// `CSD_WORKER_ID` (and on the `CSD_TMUX_SOCKET`) csd-launch pinned in the
/// pane, which every process of it inherits.
fn pane_worker(dir: &WorkerDir) -> Option<Meta> {
    let id = std::env::var("CSD_WORKER_ID").ok().filter(|id| crate::name::validate(id).is_ok())?;
    let socket = std::env::var("CSD_TMUX_SOCKET").ok().filter(|s| !s.is_empty());
    crate::worker::list_metas(dir).ok()?.into_iter().find(|m| {
        m.csd_id() == Some(id.as_str()) && socket.as_deref().is_none_or(|s| m.extra_str("tmux_socket") == Some(s))
    })
}

/// A worker's CLI ending its session to go on in a new one (`/clear`): its
/// own pane's CLI says so, with the reason `clear`.
fn moving_on(meta: &Meta, payload: &Map<String, Value>) -> bool {
    payload.get("reason").and_then(Value::as_str) == Some("clear")
        && std::env::var("CSD_WORKER_ID").ok().as_deref().is_some_and(|id| meta.csd_id() == Some(id))
}

/// Follow a worker's CLI into the session it moved to (Claude Code's
/// `/clear`, Codex's `/new`, both mint a new session id): a SessionStart
/// from the worker's own pane, for a session csd does not know, while the
/// worker is idle. Its source says the CLI went on rather than started
/// (Claude: `clear`, …); Codex says `startup` even after `/new`, so for a
/// harness that registers by name its hook's name must be the worker's. A
/// CLI the worker runs in a tool call starts while the worker is working,
/// and moves nothing. The worker stays one worker: a new meta under the new
/// id, its event log carried over (line numbers go on), the old meta and
/// tally removed; the shim, which names the worker, is unchanged.
fn follow_new_session(dir: &WorkerDir, sid: &str, payload: &Map<String, Value>, by: Option<&Identity>) -> Option<()> {
    let source = payload.get("source").and_then(Value::as_str)?;
    let old = pane_worker(dir).filter(|m| m.session_id != sid)?;
    let named = by.is_some_and(|id| id.tmux_name == old.tmux_name);
    if !MOVED_SOURCES.contains(&source) && !named {
        return None;
    }
    let idle = match EventLog::new(dir.events_path(&old.session_id)).last() {
        Ok(Some((kind, _))) => crate::worker::Status::after(kind) == crate::worker::Status::Idle,
        Ok(None) => true,
        Err(_) => false,
    };
    if !idle {
        return None;
    }
    let mut meta = old.clone();
    meta.session_id = sid.to_string();
    meta.extra.remove("transcript_path");
    if let Some(t) = payload.get("transcript_path").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        meta.extra.insert("transcript_path".into(), t.into());
    }
    meta.extra.insert("moved_from".into(), old.session_id.clone().into());
    write_meta(dir, &meta).ok()?;
    let _ = std::fs::rename(dir.events_path(&old.session_id), dir.events_path(sid));
    // A lost event's marker goes with the log it speaks of.
    let lost = |s: &str| EventLog::new(dir.events_path(s)).lost_path();
    let _ = std::fs::rename(lost(&old.session_id), lost(sid));
    let _ = dir.remove_file(&dir.tally_path(&old.session_id));
    let _ = dir.remove_file(&dir.meta_path(&old.session_id));
    Some(())
}

/// Record where the harness writes its transcript, as the harness says, so
/// readers need not re-derive it (Claude Code's rule for long paths hashes
/// them). Once per session start; a failure costs only the shortcut.
fn note_transcript(dir: &WorkerDir, mut meta: Meta, payload: &Map<String, Value>) -> Meta {
    let Some(t) = payload.get("transcript_path").and_then(Value::as_str).filter(|t| !t.is_empty()) else { return meta };
    if meta.extra_str("transcript_path") != Some(t) {
        meta.extra.insert("transcript_path".into(), t.into());
        let _ = write_meta(dir, &meta);
    }
    meta
}

/// Write the meta of a worker whose harness minted its own id. Two hooks may
/// race here (SessionStart and UserPromptSubmit); both write the same meta by
/// rename, so either wins whole.
fn register(dir: &WorkerDir, sid: &str, id: &Identity, payload: &Map<String, Value>) -> Option<Meta> {
    crate::name::validate(&id.tmux_name).ok()?;
    // Only a worker csd launched (its marker is there) may register; a stray
    // Codex run with our hook config must not invent workers.
    if !dir.harness_marker_path(&id.tmux_name).exists() {
        return None;
    }
    let mut meta = Meta::new(&id.tmux_name, sid, &id.cwd, crate::kind::HarnessName::of(&id.harness));
    if let Some(t) = payload.get("transcript_path").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        meta.extra.insert("transcript_path".into(), t.into());
    }
    // Launch pins these in the pane: the server and the stamp of the
    // worker's session, without which it could not be told from another.
    if let Ok(s) = std::env::var("CSD_TMUX_SOCKET") {
        if !s.is_empty() {
            meta.extra.insert("tmux_socket".into(), s.into());
        }
    }
    if let Ok(id) = std::env::var("CSD_WORKER_ID") {
        if crate::name::validate(&id).is_ok() {
            meta.extra.insert("csd_id".into(), id.into());
        }
    }
    meta.extra.insert("registered_at".into(), crate::time::now_iso().into());
    write_meta(dir, &meta).ok()?;
    Some(meta)
}
