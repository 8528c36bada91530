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
pub mod codex;
pub mod copilot;
pub mod gemini;
pub mod pi;
pub mod qwen;
pub mod registry;

use crate::error::{failed, Result};
use crate::event::EventKind;
use crate::tmux::Tmux;
use crate::worker::{Meta, Worker};
use crate::workerdir::WorkerDir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::kind::HarnessName;
pub use crate::paste::{bracketed, strip_paste_markers};

/// One of the harnesses in `registry::HARNESSES`: a handle that compares
/// and prints by name.
#[derive(Clone, Copy)]
pub struct HarnessKind(&'static dyn Harness);

impl PartialEq for HarnessKind {
    fn eq(&self, other: &HarnessKind) -> bool {
        self.name() == other.name()
    }
}

impl Eq for HarnessKind {}

impl std::fmt::Debug for HarnessKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl HarnessKind {
    /// Every harness, in registry order.
    pub fn all() -> impl Iterator<Item = HarnessKind> {
        registry::HARNESSES.iter().map(|&h| HarnessKind(h))
    }

    /// The harness csd-launch starts when none is named.
    pub fn default_kind() -> HarnessKind {
        HarnessKind(registry::HARNESSES[0])
    }

    /// Every harness's name, for help and errors: `claude, codex, pi`.
    pub fn names(sep: &str) -> String {
        HarnessKind::all().map(HarnessKind::name).collect::<Vec<_>>().join(sep)
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// `--harness` values; anything else is a usage error (exit 2).
    pub fn parse(s: &str) -> Result<HarnessKind> {
        HarnessKind::all().find(|k| k.name() == s).ok_or_else(|| {
            crate::error::usage(format!(
                "unknown harness '{}' (expected one of: {})",
                crate::name::printable(s),
                HarnessKind::names(", ")
            ))
        })
    }

    /// A harness this csd must know (a name written in its own code).
    pub fn named(s: &str) -> HarnessKind {
        HarnessKind::parse(s).unwrap_or_else(|_| panic!("no harness '{s}' in the registry"))
    }

    /// The harness a record names, if this csd knows it.
    pub fn of(name: &HarnessName) -> Option<HarnessKind> {
        HarnessKind::parse(name.as_str()).ok()
    }

    /// The harness a meta records; an unknown one is an error, not a guess.
    pub fn of_meta(meta: &Meta) -> Result<HarnessKind> {
        HarnessKind::of(&meta.harness).ok_or_else(|| {
            failed(format!("worker '{}' has unknown harness '{}'", meta.tmux_name, meta.harness.as_str()))
        })
    }

    pub fn driver(self) -> &'static dyn Harness {
        self.0
    }

    /// The variable that overrides the binary (tests point it at a fake).
    pub fn bin_env(self) -> String {
        bin_env(self.0)
    }

    /// `$CSD_<X>_BIN`, or the CLI's own command name for the pane's PATH.
    pub fn binary(self) -> String {
        binary(self.0)
    }

    /// The name as a record keeps it.
    pub fn record(self) -> HarnessName {
        HarnessName::of(self.name())
    }
}

/// The variable that names `h`'s binary: `CSD_<NAME>_BIN`.
pub fn bin_env(h: &dyn Harness) -> String {
    format!("CSD_{}_BIN", h.name().to_ascii_uppercase())
}

impl From<HarnessKind> for HarnessName {
    fn from(k: HarnessKind) -> HarnessName {
        k.record()
    }
}

/// `$CSD_<NAME>_BIN`, or the harness's own command name for the pane's PATH.
pub fn binary(h: &dyn Harness) -> String {
    match std::env::var(bin_env(h)) {
        Ok(v) if !v.is_empty() => v,
        _ => h.command().to_string(),
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

/// Arguments that pick a session: see `Harness::session_args`.
pub struct SessionArgs {
    pub options: &'static [&'static str],
    pub words: &'static [&'static str],
    /// How csd picks it instead, for the refusal ("--adopt resumes one").
    pub instead: &'static str,
}

/// The mock model protocol a harness is pointed at (`crate::mock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MockApi {
    /// Anthropic Messages, the mock's one tool named as given (`Bash`, `bash`).
    AnthropicMessages { tool: &'static str },
    /// OpenAI Responses (`POST …/responses`).
    OpenAiResponses,
    /// OpenAI chat completions (`POST …/chat/completions`).
    OpenAiChat,
    /// Gemini API streamed generateContent (`POST …:streamGenerateContent`).
    GeminiGenerateContent,
}

/// What `csd doctor` needs to prove a harness offline against csd's mock:
/// data and small builders, so the self-test stays the only code that runs
/// it (the core never calls these).
pub struct SelfTest {
    /// The versions csd was proven on: an exact version (`2.1.197`) or a
    /// prefix ending in `.x` (`0.169.x`).
    pub proven: &'static str,
    pub mock: MockApi,
    /// Files to write under the self-test's HOME before any worker starts
    /// (path relative to HOME, contents), given the mock's base URL and key.
    pub seed: fn(mock_url: &str, mock_key: &str) -> Vec<(&'static str, String)>,
    /// The harness's own environment, set in the wrapper that runs it (the
    /// mock's URL and key, telemetry and update switches).
    pub env: fn(mock_url: &str, mock_key: &str) -> Vec<(&'static str, String)>,
    /// Variables csd itself reads for this harness, set in the self-test's
    /// own process (a model name csd-launch passes on).
    pub csd_env: &'static [(&'static str, &'static str)],
    /// The operator's variables that would point a worker at their own
    /// setup: cleared for the self-test.
    pub operator_vars: &'static [&'static str],
    /// The prompt that makes the mock run `command` in the harness's shell
    /// tool and then answer with `marker`.
    pub prompt: fn(command: &str, marker: &str) -> String,
}

impl SelfTest {
    /// Whether `version` is one csd was proven on.
    pub fn proven_on(&self, version: &str) -> bool {
        match self.proven.strip_suffix(".x") {
            Some(prefix) => version.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
            None => version == self.proven,
        }
    }
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
    /// The name `--harness` takes and records keep (`claude`): lower-case
    /// letters and digits.
    fn name(&self) -> &'static str;

    /// What people call it, for help and messages (`Claude Code`).
    fn title(&self) -> &'static str;

    /// The command that runs it, found on PATH unless `CSD_<NAME>_BIN` says.
    fn command(&self) -> &'static str {
        self.name()
    }

    /// Where it comes from, for the message when it is not installed.
    fn package(&self) -> &'static str;

    /// How its transcript records a session, line by line.
    fn transcript_format(&self) -> &'static dyn crate::transcript::Format;

    /// A byte string every transcript line holding token usage contains:
    /// lines without it are passed over unparsed.
    fn usage_needle(&self) -> &'static [u8] {
        b"\"usage\""
    }

    /// What one transcript line says about the session's token use.
    fn line_usage<'a>(&self, line: &'a serde_json::Value) -> crate::tokens::LineUsage<'a>;

    /// Arguments after `--` that would pick the worker's session (which csd
    /// does): options (`--resume`, also as `--resume=…`) and bare words
    /// (`resume`).
    fn session_args(&self) -> SessionArgs;

    /// Hook names beyond csd's lifecycle events (`EventKind::from_hook`) that
    /// this harness's hooks send and `hook_events` reads (a failed turn's
    /// hook, a notification that blocks a turn).
    fn turn_hooks(&self) -> &'static [&'static str] {
        &[]
    }

    /// The events one hook payload means, when the harness reads it itself
    /// (a failed turn, a question, a notification); `None`: the payload is
    /// one lifecycle event read the common way (`Event::from_payload`).
    fn hook_events(
        &self,
        _hook: &str,
        _ts: &str,
        _payload: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Vec<crate::event::Event>> {
        None
    }

    /// What `csd doctor` needs to prove this harness offline.
    fn self_test(&self) -> SelfTest;

    /// csd-launch's manual on this harness: how csd starts it and where it
    /// keeps what (paragraphs; `interface::expand` puts them in the page).
    fn launch_note(&self) -> &'static str;

    /// How `--adopt` resumes one of its sessions: `with claude --resume SID
    /// (its transcript under ~/.claude/projects/)`.
    fn adopt_note(&self) -> &'static str;

    /// Variables csd reads for this harness alone (name, what it sets), for
    /// csd-launch's manual; `CSD_<NAME>_BIN` is every harness's.
    fn variables(&self) -> &'static [(&'static str, &'static str)] {
        &[]
    }

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
            self.title()
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
    let screen = HarnessKind::of(&worker.meta.harness).and_then(|k| k.driver().screen_tick(worker));
    screen.map_or(crate::watch::LIVENESS_TICK, |t| t.min(crate::watch::LIVENESS_TICK))
}

/// `Harness::settle` for a worker of any harness; a harness this csd does
/// not know has nothing to settle (and must stay stoppable).
pub fn settle(worker: &Worker) -> Result<()> {
    match HarnessKind::of(&worker.meta.harness) {
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
            if HarnessKind::of(&worker.meta.harness).is_some_and(|k| k.driver().silent_until_prompted()) =>
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

/// `csd-hook` as a command line for a CLI that runs its hooks through a
/// shell (all of them): the path quoted, refused if it is not UTF-8.
pub fn hook_shell_command(hook_bin: &Path) -> Result<String> {
    let hook =
        hook_bin.to_str().ok_or_else(|| failed(format!("csd-hook's path {} is not UTF-8", hook_bin.display())))?;
    Ok(crate::tmux::shell_quote(hook))
}

/// The object at `key` in a JSON object, made one (replacing a non-object)
/// if need be: where a CLI's settings get csd's hooks added.
pub fn json_object_at<'a>(
    map: &'a mut serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> &'a mut serde_json::Map<String, serde_json::Value> {
    if !map.get(key).is_some_and(serde_json::Value::is_object) {
        map.insert(key.into(), serde_json::Value::Object(serde_json::Map::new()));
    }
    map.get_mut(key).and_then(serde_json::Value::as_object_mut).expect("just made an object")
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
        assert_eq!(HarnessKind::parse("claude").unwrap().name(), "claude");
        assert_eq!(HarnessKind::parse("pi").unwrap().name(), "pi");
        assert_eq!(HarnessKind::default_kind().name(), "claude");
        assert_eq!(HarnessKind::parse("Claude").unwrap_err().code(), 2);
    }

    #[test]
    fn registry_names_are_distinct_words() {
        let names: Vec<&str> = HarnessKind::all().map(HarnessKind::name).collect();
        for (i, n) in names.iter().enumerate() {
            assert!(!n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()), "{n}");
            assert!(!names[..i].contains(n), "{n} twice");
        }
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
}
