//! Harnesses: how csd drives one kind of coding agent (Claude Code, Codex, Pi).
//!
//! Every harness answers the same questions, and the binaries ask only these:
//!
//! | question                                   | where                              |
//! |--------------------------------------------|------------------------------------|
//! | which one? (`--harness claude\|codex\|pi`)   | [`HarnessKind::parse`]             |
//! | which binary? (`CSD_<X>_BIN`, else PATH)   | [`HarnessKind::binary`]            |
//! | who picks the session id?                  | [`Harness::ids`]                   |
//! | where is its home? (config, auth, logs)    | [`Harness::home`]                  |
//! | what to write before the pane starts?      | [`Harness::prepare`]               |
//! | which env the pane gets                    | [`pane_env`] (+ [`Harness::env_pins`]) |
//! | the command line (launch or adopt)         | [`Harness::argv`]                  |
//! | start-up screens, then "ready"             | [`Harness::await_ready`]           |
//! | how a prompt goes in                       | [`Harness::paste`], [`Harness::submit_key`] |
//! | what confirms it                           | [`Harness::confirms_submission`] |
//! | how to quit, and how long stop waits       | [`Harness::quit`], [`Harness::stop_grace`] |
//! | where the transcript is                    | [`Harness::transcript_path`], [`transcript_of`] |
//!
//! Claude Code is assigned its id by csd (`--session-id <uuid>`): the meta is
//! written before the pane starts, so its very first hook lands in the log.
//! Codex and Pi mint their own: launch writes a `<name>.harness` marker and
//! the hook (Codex) or extension (Pi) writes the meta when it learns the id.

pub mod claude;
pub mod claude_turn;
pub mod codex;
pub mod pi;

use crate::error::{failed, Result};
use crate::event::EventKind;
use crate::tmux::Tmux;
use crate::worker::{Meta, Worker};
use crate::workerdir::WorkerDir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::kind::{HarnessKind, HarnessName, ALL_HARNESSES};

impl HarnessKind {
    /// The harness a meta records; an unknown one is an error, not a guess.
    pub fn of_meta(meta: &Meta) -> Result<HarnessKind> {
        meta.harness.kind().ok_or_else(|| {
            failed(format!("worker '{}' has unknown harness '{}'", meta.tmux_name, meta.harness.as_str()))
        })
    }

    pub fn driver(self) -> &'static dyn Harness {
        match self {
            HarnessKind::Claude => &claude::Claude,
            HarnessKind::Codex => &codex::Codex,
            HarnessKind::Pi => &pi::Pi,
        }
    }
}

/// Who picks a worker's session id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdStrategy {
    /// csd mints it (a UUID v4) and passes it on the command line; launch
    /// writes the meta before the pane starts (Claude: `--session-id`).
    Assign,
    /// The harness mints it; launch writes `<name>.harness` and the hook or
    /// extension writes the meta once it knows the id (Codex, Pi).
    Mint,
}

/// A fresh session, or an existing one resumed by id (`csd-launch --adopt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Launch,
    Adopt,
}

/// Everything a harness needs to know to start one worker. Built by
/// csd-launch; the harness reads it and never changes it.
pub struct Launch<'a> {
    pub dir: &'a WorkerDir,
    pub tmux: &'a Tmux,
    pub name: &'a str,
    /// The real path (symlinks resolved) of the worker's directory.
    pub cwd: &'a Path,
    pub mode: Mode,
    /// Known up front for `IdStrategy::Assign` and for adopt; `None` when the
    /// harness will mint it.
    pub session_id: Option<&'a str>,
    /// The id the worker's tmux session is stamped with (and its meta records).
    pub csd_id: &'a str,
    /// `Harness::home` for this worker.
    pub home: PathBuf,
    /// The `csd-hook` the harness's hooks must run (installed beside csd-launch).
    pub hook_bin: PathBuf,
    /// Arguments after `--`, appended to the harness's own.
    pub extra_args: &'a [String],
    /// The size of the event log before the pane started: only events after
    /// it prove this start (an adopted session may have an old log).
    pub events_baseline: u64,
    /// When `await_ready` must give up (`CSD_START_TIMEOUT_MS`).
    pub start_deadline: Instant,
}

impl Launch<'_> {
    /// The worker as the rest of csd sees it; for harnesses that know their
    /// id at launch (the meta has been written).
    pub fn worker(&self, meta: Meta) -> Worker {
        Worker { dir: self.dir.clone(), meta }
    }
}

/// How one harness is driven. Implementations are unit structs; get one with
/// `HarnessKind::driver()`.
pub trait Harness: Sync {
    fn kind(&self) -> HarnessKind;

    fn ids(&self) -> IdStrategy;

    /// Whether `csd-launch --adopt` (resume by session id) is possible.
    fn supports_adopt(&self) -> bool {
        false
    }

    /// The harness's home for this worker: where its config, auth and
    /// transcripts live. Claude: the user's `$HOME`. Codex / Pi: a private
    /// `WorkerDir::home_path(name)` (CODEX_HOME, the pi agent dir), which
    /// `csd-stop` removes with the worker.
    fn home(&self, dir: &WorkerDir, name: &str) -> Result<PathBuf>;

    /// Write what must exist before the pane starts (plugin dir, config,
    /// staged auth). Must not touch anything outside the worker dir except
    /// the harness's own home.
    fn prepare(&self, launch: &Launch) -> Result<()>;

    /// The harness's own environment pins for the pane (`-e K=V`); an empty
    /// value pins the variable empty, hiding a stale value in the tmux
    /// server's global environment. `pane_env` adds csd's own.
    fn env_pins(&self, launch: &Launch) -> Vec<(String, String)>;

    /// The full command line, binary first, extra arguments last.
    fn argv(&self, launch: &Launch) -> Result<Vec<String>>;

    /// After the pane started: answer start-up screens and return once the
    /// worker takes prompts. On failure the error says why in one line;
    /// csd-launch adds the pane's last lines and removes the worker.
    /// The pane is kept on exit during start-up (tmux `remain-on-exit`), so
    /// a harness that died is seen as `Tmux::pane_dead`, with its last words
    /// still on screen.
    fn await_ready(&self, launch: &Launch) -> Result<()>;

    /// Put `prompt` into the worker's input without submitting it. Default:
    /// one bracketed paste through a tmux buffer, any paste markers inside
    /// the prompt removed so it cannot end the paste early.
    fn paste(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<()> {
        tmux.paste(name, &strip_paste_markers(prompt))
    }

    /// Put `prompt` into the worker's input as text for the model, whatever
    /// its first byte: never as one of the CLI's own commands (a `!` shell
    /// line, a `/` command, a word that quits). Default: `paste` as it is.
    /// Returns a note when the CLI cannot be given the prompt byte for byte
    /// and csd changed it (what the model then receives).
    fn put_prompt(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<String>> {
        self.paste(tmux, name, prompt).map(|_| None)
    }

    /// Empty the worker's input after a prompt that was not taken (`prompt`
    /// is what csd put there), so the next one is not appended to it.
    /// Default: `clear_keys`, which empty a multi-line input from wherever
    /// the cursor is in Claude Code, Codex and Pi alike (measured). Returns
    /// whether the screen shows the input empty afterwards, or `None` when
    /// this harness's screen cannot tell.
    fn clear_input(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<bool>> {
        tmux.send_keys(name, &clear_keys(prompt))?;
        Ok(None)
    }

    /// Type one of the CLI's own commands (`/compact`, `/clear`) and submit
    /// it: what `csd-send --command` means. The input is emptied first.
    fn type_command(&self, tmux: &Tmux, name: &str, command: &str) -> Result<()> {
        self.clear_input(tmux, name, command.as_bytes())?;
        tmux.send_text(name, command)?;
        // A command's popup must have matched what was typed before Enter
        // (Codex drops an Enter hard on the text's heels).
        crate::signals::sleep(COMMAND_SETTLE)?;
        tmux.send_keys(name, &[self.submit_key()])
    }

    /// The key that submits what was pasted (sent again on each retry).
    fn submit_key(&self) -> &'static str {
        "Enter"
    }

    /// The event that proves a prompt was accepted.
    fn confirms_submission(&self, kind: EventKind) -> bool {
        kind == EventKind::UserPromptSubmit
    }

    /// Does the screen show that a prompt submitted mid-turn is held for
    /// after the turn (and so is not still sitting in the input)? Lets a
    /// send to a busy worker report "queued" without waiting out the
    /// submit timeout. Default: no such sign.
    fn shows_queued(&self, _screen: &str) -> bool {
        false
    }

    /// Whether the transcript at `path`, from byte `since` (its end before
    /// the paste), shows `prompt` queued by the harness: a busy worker's
    /// screen sign alone could be stale or another prompt's, and a prompt
    /// taken for queued while it still sits in the input would have the next
    /// send appended to it. Default: the sign is enough (no such record).
    fn enqueued(&self, _path: &Path, _since: u64, _prompt: &[u8]) -> Result<bool> {
        Ok(true)
    }

    /// Whether a prompt sent mid-turn went into the running turn without a
    /// submission event of its own (Claude Code 2.1.197 folds a prompt typed
    /// during a tool call into the turn as a `queued_command` attachment,
    /// with no UserPromptSubmit): the transcript at `path`, from byte
    /// `since` (its end before the paste), says so. Default: never.
    fn joined_running_turn(&self, _path: &Path, _since: u64, _prompt: &[u8]) -> Result<bool> {
        Ok(false)
    }

    /// Ask the harness to quit (csd-stop then waits `stop_grace` for
    /// session_end or the pane to close before killing the session).
    fn quit(&self, tmux: &Tmux, name: &str) -> Result<()>;

    fn stop_grace(&self) -> Duration;

    /// The worker's transcript, or `None` when it cannot be known yet (a
    /// minting harness that has not registered). `home` is `Harness::home`.
    fn transcript_path(&self, meta: &Meta, home: &Path) -> Option<PathBuf>;

    /// Whether its hooks say nothing until the first prompt (Codex): a live
    /// worker of it with an empty log (adopted, so registered before any
    /// hook) is idle, as a pending one is, not "unknown".
    fn silent_until_prompted(&self) -> bool {
        false
    }

    /// Where the transcript of `meta`'s session would be, as a pattern a
    /// human can look for (an adopt that finds none says so). Default: none
    /// beyond `transcript_path`.
    fn transcript_pattern(&self, _meta: &Meta, _home: &Path) -> Option<String> {
        None
    }

    /// A file besides the event log whose change can end a turn the hooks
    /// do not report (Codex: the rollout, where a failed request shows).
    /// Waiters watch it too.
    fn turn_witness(&self, _worker: &Worker) -> Option<PathBuf> {
        None
    }

    /// Pick option `picks[i]` (1-based, already checked) of each question i
    /// the worker is blocked on (`block`, from its log), by typing into its
    /// pane; give up at `deadline` if a question never shows. The caller
    /// then waits for the worker to confirm. Default: this harness asks no
    /// such questions.
    fn answer(
        &self,
        _tmux: &Tmux,
        name: &str,
        _block: &crate::verdict::Block,
        _picks: &[usize],
        _deadline: Instant,
    ) -> Result<()> {
        Err(crate::error::usage(format!(
            "worker '{name}' is a {} worker: csd cannot answer its questions",
            self.kind().name()
        )))
    }

    /// How soon a waiter must look again for a turn end that only the
    /// screen shows, when that is sooner than the liveness tick; `None`
    /// otherwise (the default: every turn end leaves a file changed, which
    /// wakes waiters at once).
    fn screen_tick(&self, _worker: &Worker) -> Option<Duration> {
        None
    }

    /// Record in the event log a turn end the hooks did not report (Codex:
    /// a failed model request). Called before the log is read for a status
    /// or a wait; a no-op for harnesses whose hooks report every end.
    fn settle(&self, _worker: &Worker) -> Result<()> {
        Ok(())
    }
}

/// How long a waiter on `worker` may sleep before it looks again: the
/// liveness tick, or sooner when its harness's turn end may show only on
/// screen (`Harness::screen_tick`).
pub fn look_again(worker: &Worker) -> Duration {
    let screen = worker.meta.harness.kind().and_then(|k| k.driver().screen_tick(worker));
    screen.map_or(crate::watch::LIVENESS_TICK, |t| t.min(crate::watch::LIVENESS_TICK))
}

/// `Harness::settle` for a worker of any harness; a harness this csd does
/// not know has nothing to settle (and must stay stoppable).
pub fn settle(worker: &Worker) -> Result<()> {
    match worker.meta.harness.kind() {
        Some(kind) => kind.driver().settle(worker),
        None => Ok(()),
    }
}

/// What `status` reports: gone when its tmux session is, else what its log
/// says once the harness has settled turn ends only its own files show.
pub fn status(worker: &Worker) -> Result<crate::worker::Status> {
    if !worker.is_alive()? {
        return Ok(crate::worker::Status::Gone);
    }
    settle(worker)?;
    match worker.status_of_log()? {
        crate::worker::Status::Unknown
            if worker.meta.harness.kind().is_some_and(|k| k.driver().silent_until_prompted()) =>
        {
            Ok(crate::worker::Status::Idle)
        }
        s => Ok(s),
    }
}

/// A worker by name or id, its log brought up to date before anyone takes a
/// baseline from it: a turn end only the harness's files show must not land
/// after one.
pub fn resolve(dir: &WorkerDir, name_or_sid: &str) -> Result<Worker> {
    let worker = Worker::resolve(dir, name_or_sid)?;
    settle(&worker)?;
    Ok(worker)
}

/// `Worker::lookup`, settled as `resolve` is.
pub fn lookup(dir: &WorkerDir, name_or_sid: &str) -> Result<crate::worker::Lookup> {
    let found = Worker::lookup(dir, name_or_sid)?;
    if let crate::worker::Lookup::Registered(w) = &found {
        settle(w)?;
    }
    Ok(found)
}

/// `Harness::turn_witness` for a worker of any harness.
pub fn turn_witness(worker: &Worker) -> Option<PathBuf> {
    HarnessKind::of_meta(&worker.meta).ok()?.driver().turn_witness(worker)
}

/// The pane's environment: csd's pins, then the harness's.
///
/// `CSD_WORKER_DIR`, `CSD_TMUX_SOCKET` and `CSD_WORKER_ID` are pinned so the
/// hook inside the pane writes where this csd reads, whatever the tmux
/// server's global environment says.
pub fn pane_env(h: &dyn Harness, launch: &Launch) -> Vec<(String, String)> {
    let mut env = vec![
        ("CSD_WORKER_DIR".to_string(), launch.dir.root().to_string_lossy().into_owned()),
        ("CSD_TMUX_SOCKET".into(), launch.tmux.socket().to_string_lossy().into_owned()),
        // A harness that mints its id registers the worker with this id
        // (the hook, Pi's extension), so the meta names the stamp too.
        ("CSD_WORKER_ID".into(), launch.csd_id.to_string()),
    ];
    env.extend(h.env_pins(launch));
    env
}

/// The transcript of a registered worker.
pub fn transcript_of(worker: &Worker) -> Result<Option<PathBuf>> {
    let h = HarnessKind::of_meta(&worker.meta)?.driver();
    let home = h.home(&worker.dir, worker.name())?;
    Ok(h.transcript_path(&worker.meta, &home))
}

/// The user's home: `$HOME`, else the password database.
pub fn user_home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.dir)
        .ok_or_else(|| failed("cannot find your home directory: HOME is unset and you have no passwd entry"))
}

/// Between typing a command and pressing Enter.
pub const COMMAND_SETTLE: Duration = Duration::from_millis(300);

/// `clear_input`'s keys for an input holding `text`: Ctrl-U, Ctrl-K
/// once a line, a long line counted as one per 40 bytes (a wrapped line may
/// go a screen line at a time), and two spare, then a Backspace (which
/// leaves a shell mode an empty input is in). In all three CLIs Ctrl-U
/// kills to the line's start or, at its start, joins it to the line above;
/// Ctrl-K kills to its end or, at its end, joins the line below: so the
/// pairs empty the input from wherever the cursor is (a Ctrl-U alone keeps
/// what is after the cursor). At most 1000 keys.
pub fn clear_keys(text: &[u8]) -> Vec<&'static str> {
    let lines: usize = text.split(|&b| b == b'\n').map(|l| 1 + l.len() / 40).sum();
    let mut keys: Vec<&str> = ["C-u", "C-k"].repeat((lines + 2).min(500));
    keys.push("BSpace");
    keys
}

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

/// `prompt` as one bracketed paste, markers included, whatever the program
/// has asked of its terminal.
pub fn bracketed(prompt: &[u8]) -> Vec<u8> {
    [PASTE_START, &strip_paste_markers(prompt), PASTE_END].concat()
}

/// Remove bracketed-paste markers, so a prompt cannot close the paste and
/// have its tail read as keystrokes.
pub fn strip_paste_markers(prompt: &[u8]) -> Vec<u8> {
    let mut out = prompt.to_vec();
    // Removing one marker can join two halves into a new one; repeat until none.
    loop {
        let before = out.len();
        for m in [PASTE_START, PASTE_END] {
            while let Some(i) = memchr::memmem::find(&out, m) {
                out.drain(i..i + m.len());
            }
        }
        if out.len() == before {
            return out;
        }
    }
}

/// A random UUID v4 (RFC 9562), from the kernel's random source.
pub fn uuid_v4() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| crate::error::Error::Io("reading /dev/urandom".into(), e))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_harnesses_only() {
        assert_eq!(HarnessKind::parse("claude").unwrap(), HarnessKind::Claude);
        assert_eq!(HarnessKind::parse("pi").unwrap(), HarnessKind::Pi);
        assert_eq!(HarnessKind::parse("Claude").unwrap_err().code(), 2);
    }

    #[test]
    fn uuids_are_v4() {
        let a = uuid_v4().unwrap();
        let b = uuid_v4().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!("89ab".contains(&a[19..20]), "{a}");
        assert!(crate::name::validate(&a).is_ok());
    }

    #[test]
    fn paste_markers_cannot_survive() {
        assert_eq!(strip_paste_markers(b"a\x1b[201~b\x1b[200~c"), b"abc");
        assert_eq!(strip_paste_markers(b"\x1b[20\x1b[201~1~x"), b"x");
        assert_eq!(bracketed(b"a\nb\x1b[201~"), b"\x1b[200~a\nb\x1b[201~");
    }
}
