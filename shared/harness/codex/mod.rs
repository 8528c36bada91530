//! Codex (OpenAI's CLI, 0.169): a private `CODEX_HOME` per worker, hooks for
//! every lifecycle event in its `config.toml`, start-up screens answered by
//! their text, readiness read from the footer, and turn ends the hooks do not
//! report (a failed model request) read from the rollout.
//!
//! Codex mints its own session id (a UUIDv7, when the chat starts, after the
//! start-up screens) and fires no hook until the first prompt. So launch only
//! writes the `<name>.harness` marker; the first hook (SessionStart, on the
//! first prompt) carries `TMUX_NAME CWD WORKER_DIR codex` and writes the meta.
//!
//! Rollouts outlive the worker: the private home's `sessions` is a link to the
//! operator's `~/.codex/sessions` (Codex 0.169 has no setting that moves the
//! sessions dir alone), so `csd adopt --harness codex` can resume one with
//! `codex resume <SID>` after a reboot has wiped the worker dir.

pub mod selftest;
pub mod transcript;

use crate::error::{failed, Context, Error, Result};
use crate::event::{Event, EventKind};
use crate::harness::{user_home, Harness, IdStrategy, Launch, Mode};
use crate::tmux::{shell_quote, Tmux};
use crate::verdict::{Failure, Verdict};
use crate::worker::{Meta, Worker};
use crate::workerdir::WorkerDir;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use toml::{Table, Value};

pub struct Codex;

/// Every lifecycle event Codex 0.169 has. csd-hook records the six of csd's
/// schema (and Interrupt, as a stop) and ignores the rest; registering them
/// all costs nothing and shows every event to the hook.
pub const HOOK_EVENTS: [&str; 12] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "Stop",
    "Interrupt",
    "SessionEnd",
    "PreCompact",
    "PostCompact",
    "SubagentStart",
    "SubagentStop",
];

/// Events whose hook groups take a tool-name matcher.
const MATCHED_EVENTS: [&str; 3] = ["PreToolUse", "PermissionRequest", "PostToolUse"];

/// Models Codex offers to migrate away from, and what choosing "Use existing
/// model" records; with the entry present the screen never shows. Other
/// models' screens are still answered by their text.
const KNOWN_MIGRATIONS: [(&str, &str); 1] = [("gpt-5.5", "gpt-6-sol")];

/// `/quit` exits in about 0.4 s, SessionEnd first.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Variables the pane gets from csd-launch's environment when set there:
/// the built-in provider's key and the proxy settings (which also keep
/// Codex's own background fetches where the operator wants them).
const PASSED_THROUGH: [&str; 9] = [
    "OPENAI_API_KEY",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
    "all_proxy",
];

/// Between typing `/quit` and pressing Enter.
const QUIT_SETTLE: Duration = Duration::from_millis(300);
/// How often the pane is looked at while Codex starts.
const LOOK: Duration = Duration::from_millis(50);
/// After a key answers a screen, how long to wait for the screen to change
/// before deciding again: a stale capture must not earn a second key.
const REDRAW: Duration = Duration::from_secs(2);

impl Codex {
    /// csd's settings laid over the operator's `config.toml` (`None`: they
    /// have none). Their model, provider and `model_providers` carry over;
    /// `model` (from `CSD_CODEX_MODEL`) overrides theirs. Hooks are csd's
    /// alone: the lifecycle is what csd watches.
    pub fn config(operator: Option<&str>, cwd: &str, hook_command: &str, model: Option<&str>) -> Result<String> {
        let mut root: Table = match operator {
            Some(text) => text
                .parse()
                .map_err(|e| failed(format!("the operator's Codex config.toml does not parse: {}", one_line(&e))))?,
            None => Table::new(),
        };
        if let Some(m) = model {
            root.insert("model".into(), m.into());
        }
        // The update check would query npm / GitHub at every start.
        root.insert("check_for_update_on_startup".into(), false.into());
        // Project trust: no "Trust this folder?" screen for a git checkout.
        let projects = table_at(&mut root, "projects");
        table_at(projects, cwd).insert("trust_level".into(), "trusted".into());
        // No metrics to ab.chatgpt.com, no plugin / app sync with chatgpt.com
        // and GitHub: a worker talks to its model provider and nothing else.
        table_at(&mut root, "analytics").insert("enabled".into(), false.into());
        let features = table_at(&mut root, "features");
        for f in ["plugins", "apps", "remote_plugin", "tool_suggest"] {
            features.insert(f.into(), false.into());
        }
        // After a usage limit Codex offers a cheaper model in a dialog that
        // takes the next prompt's Enter as "switch"; this is what choosing
        // "Keep current model (never show again)" records.
        table_at(&mut root, "notice").insert("hide_rate_limit_model_nudge".into(), true.into());
        if let Some(current) = root.get("model").and_then(Value::as_str).map(str::to_string) {
            if let Some((_, to)) = KNOWN_MIGRATIONS.iter().find(|(from, _)| *from == current) {
                let notice = table_at(&mut root, "notice");
                table_at(notice, "model_migrations").insert(current, (*to).into());
            }
        }
        let mut hooks = Table::new();
        for ev in HOOK_EVENTS {
            let mut handler = Table::new();
            handler.insert("type".into(), "command".into());
            handler.insert("command".into(), hook_command.into());
            let mut group = Table::new();
            if MATCHED_EVENTS.contains(&ev) {
                group.insert("matcher".into(), ".*".into());
            }
            group.insert("hooks".into(), Value::Array(vec![Value::Table(handler)]));
            hooks.insert(ev.into(), Value::Array(vec![Value::Table(group)]));
        }
        root.insert("hooks".into(), Value::Table(hooks));
        toml::to_string(&root).map_err(|e| failed(format!("writing Codex's config.toml: {e}")))
    }

    /// The command every hook runs (through `/bin/bash -c`, Codex's choice):
    /// csd-hook with the worker's identity, each word quoted.
    pub fn hook_command(hook_bin: &Path, name: &str, cwd: &str, dir: &WorkerDir) -> String {
        [&*hook_bin.to_string_lossy(), name, cwd, &dir.root().to_string_lossy(), "codex"]
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The operator's own Codex home, `~/.codex`: where their auth and
    /// config are read from, and where workers' rollouts are kept.
    pub fn operator_home() -> Result<PathBuf> {
        Ok(user_home()?.join(".codex"))
    }

    /// `~/.codex/sessions`: every worker's `CODEX_HOME/sessions` links here,
    /// so a rollout outlives its worker (and a reboot of /tmp) and the
    /// operator's own `codex resume` finds it.
    pub fn operator_sessions() -> Result<PathBuf> {
        Ok(Self::operator_home()?.join("sessions"))
    }

    /// Make `<home>/sessions` a link to `sessions` (created 0700 if missing).
    /// A link from an earlier start of this worker is replaced; a real
    /// directory (a worker of an older csd) is left as it is, rollouts and all.
    pub fn link_sessions(home: &Path, sessions: &Path) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(sessions)
            .context(|| format!("creating {}", sessions.display()))?;
        let link = home.join("sessions");
        match std::fs::symlink_metadata(&link) {
            Ok(m) if m.file_type().is_symlink() => {
                std::fs::remove_file(&link).context(|| format!("replacing {}", link.display()))?
            }
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(|| format!("reading {}", link.display())),
        }
        std::os::unix::fs::symlink(sessions, &link).context(|| format!("linking {}", link.display()))
    }

    /// `<home>/sessions/YYYY/MM/DD/rollout-…-<sid>.jsonl`, found by its name.
    pub fn find_rollout(home: &Path, sid: &str) -> Option<PathBuf> {
        Self::find_rollout_in(&home.join("sessions"), sid)
    }

    /// `<sessions>/YYYY/MM/DD/rollout-…-<sid>.jsonl`, found by its name.
    pub fn find_rollout_in(sessions: &Path, sid: &str) -> Option<PathBuf> {
        let suffix = format!("-{sid}.jsonl");
        let mut found = None;
        walk(sessions, 4, &mut |p| {
            if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("rollout-") && n.ends_with(&suffix))
            {
                found = Some(p.to_path_buf());
            }
        });
        found
    }
}

impl Harness for Codex {
    fn name(&self) -> &'static str {
        "codex"
    }

    fn title(&self) -> &'static str {
        "Codex"
    }

    fn package(&self) -> &'static str {
        "npm install -g @openai/codex"
    }

    fn transcript_format(&self) -> &'static dyn crate::transcript::Format {
        &transcript::CodexRollout
    }

    fn usage_needle(&self) -> &'static [u8] {
        b"token_count"
    }

    fn line_usage<'a>(&self, line: &'a serde_json::Value) -> crate::tokens::LineUsage<'a> {
        transcript::usage(line).map_or(crate::tokens::LineUsage::None, crate::tokens::LineUsage::Total)
    }

    fn session_args(&self) -> crate::harness::SessionArgs {
        crate::harness::SessionArgs {
            options: &["--last"],
            words: &["resume", "fork"],
            instead: "--adopt resumes a session",
        }
    }

    fn self_test(&self) -> crate::harness::SelfTest {
        selftest::self_test()
    }

    fn launch_note(&self) -> &'static str {
        "Codex (codex) mints its own session id: csd-launch writes a NAME.harness marker (the harness, the socket's \
path and the worker's id) instead of a meta, gives the worker a private CODEX_HOME under \
$CSD_WORKER_DIR/homes/NAME/ with the operator's auth copied in, and the worker registers its meta itself with its \
first prompt, copying the CSD_WORKER_ID of its pane into it as csd_id. Its rollouts stay with the operator: \
CODEX_HOME/sessions is a link to ~/.codex/sessions (made 0700 if missing). csd-stop(1) removes the home, links \
and all, never what a link points at."
    }

    fn adopt_note(&self) -> &'static str {
        "with codex resume SID (its rollout under ~/.codex/sessions/)"
    }

    fn variables(&self) -> &'static [(&'static str, &'static str)] {
        &[("CSD_CODEX_MODEL", "the model of a Codex worker")]
    }

    fn ids(&self) -> IdStrategy {
        IdStrategy::Mint
    }

    /// `codex resume <SID>` finds the rollout through the sessions link.
    fn supports_adopt(&self) -> bool {
        true
    }

    fn home(&self, dir: &WorkerDir, name: &str) -> Result<PathBuf> {
        Ok(dir.home_path(name))
    }

    fn prepare(&self, launch: &Launch) -> Result<()> {
        launch.dir.make_home(launch.name)?;
        let operator = Self::operator_home()?;
        Self::link_sessions(&launch.home, &operator.join("sessions"))?;
        // The worker signs in as the operator; the copy is private to them.
        match std::fs::read(operator.join("auth.json")) {
            Ok(auth) => launch.dir.write_atomic(&launch.home.join("auth.json"), &auth, 0o600)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(|| format!("reading {}", operator.join("auth.json").display())),
        }
        let theirs = match std::fs::read_to_string(operator.join("config.toml")) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context(|| format!("reading {}", operator.join("config.toml").display())),
        };
        let cwd = launch.cwd.to_str().ok_or_else(|| failed("the worker's directory is not UTF-8"))?;
        let hook = Self::hook_command(&launch.hook_bin, launch.name, cwd, launch.dir);
        let model = std::env::var("CSD_CODEX_MODEL").ok().filter(|m| !m.is_empty());
        let config = Self::config(theirs.as_deref(), cwd, &hook, model.as_deref())?;
        launch.dir.write_atomic(&launch.home.join("config.toml"), config.as_bytes(), 0o600)
    }

    fn env_pins(&self, launch: &Launch) -> Vec<(String, String)> {
        let mut env = vec![("CODEX_HOME".into(), launch.home.to_string_lossy().into_owned())];
        // A new pane gets the tmux server's environment, which may predate
        // this launch: the provider's key and the proxy settings the operator
        // has now travel explicitly.
        let config = std::fs::read_to_string(launch.home.join("config.toml")).unwrap_or_default();
        let key = provider_env_key(&config);
        for var in key.iter().map(String::as_str).chain(PASSED_THROUGH) {
            if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                if !env.iter().any(|(k, _)| k == var) {
                    env.push((var.to_string(), v.to_string_lossy().into_owned()));
                }
            }
        }
        env
    }

    fn argv(&self, launch: &Launch) -> Result<Vec<String>> {
        let mut argv = vec![crate::harness::binary(self)];
        if launch.mode == Mode::Adopt {
            let sid = launch.session_id.ok_or_else(|| failed("adopting a Codex session needs its session id"))?;
            argv.extend(["resume".into(), sid.into()]);
        }
        argv.extend([
            // Approvals would stop a worker to ask its (absent) human.
            "--dangerously-bypass-approvals-and-sandbox".into(),
            // No "Hooks need review" screen, and embedded mode: no app-server
            // daemon that outlives the worker, hooks run as children of the
            // TUI, and SessionEnd fires on quit rather than a minute later.
            "--dangerously-bypass-hook-trust".into(),
            "-C".into(),
            launch.cwd.to_string_lossy().into_owned(),
        ]);
        argv.extend(launch.extra_args.iter().cloned());
        Ok(argv)
    }

    fn await_ready(&self, launch: &Launch) -> Result<()> {
        let cwd = launch.cwd.to_string_lossy();
        let home = user_home().ok();
        let mut last_answer: Option<(String, Instant)> = None;
        loop {
            if launch.tmux.pane_dead(launch.name) != Some(false) {
                return Err(exited_early(launch.tmux, launch.name));
            }
            let screen = launch.tmux.capture(launch.name, false).unwrap_or_default();
            let waiting_redraw =
                last_answer.as_ref().is_some_and(|(before, at)| *before == screen && at.elapsed() < REDRAW);
            let stuck_on = match read_screen(&screen, &cwd, home.as_deref()) {
                Screen::Ready => return Ok(()),
                Screen::SignIn => {
                    return Err(failed(
                        "Codex wants a sign-in: run `codex login` as yourself (csd copies ~/.codex/auth.json) \
                         or configure a model provider with an API key in ~/.codex/config.toml",
                    ))
                }
                Screen::Gate(gate) if !waiting_redraw => {
                    // A screen still being drawn has no option row yet: look again.
                    if let Some(key) = gate.answer(&screen) {
                        launch.tmux.send_keys(launch.name, &[key])?;
                        last_answer = Some((screen, Instant::now()));
                    }
                    Some(gate)
                }
                Screen::Gate(gate) => Some(gate),
                Screen::Starting => None,
            };
            if Instant::now() >= launch.start_deadline {
                return Err(Error::Timeout(match stuck_on {
                    Some(gate) => format!("Codex stayed on its {} screen", gate.texts().0),
                    None => "Codex did not show its ready footer in time".into(),
                }));
            }
            std::thread::sleep(LOOK);
        }
    }

    /// Codex 0.169.0 (measured): a `!` at the start of the composer is its
    /// shell mode (the line runs as a command); a pasted `/status` alone is
    /// the slash command. A leading space keeps both text, and Codex trims
    /// it before the model sees the prompt: byte for byte, no note.
    ///
    /// A prompt whose last line holds an `@` or a `$` opens the file or
    /// skill popup, and Enter then inserts its pick instead of submitting
    /// (`hi @` went in as `hi $imagegen`): Home moves the cursor off the
    /// word, which closes the popup; Enter still submits all of it.
    fn put_prompt(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<String>> {
        match prompt.first() {
            Some(b'!' | b'/') => self.paste(tmux, name, &[b" ", prompt].concat())?,
            _ => self.paste(tmux, name, prompt)?,
        }
        let last_line = prompt.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        if last_line.iter().any(|&b| b == b'@' || b == b'$') {
            tmux.send_keys(name, &["Home"])?;
        }
        Ok(None)
    }

    fn quit(&self, tmux: &Tmux, name: &str) -> Result<()> {
        tmux.send_text(name, "/quit")?;
        // An Enter hard on the text's heels is taken before the slash-command
        // popup has matched `/quit`, and is lost.
        std::thread::sleep(QUIT_SETTLE);
        tmux.send_keys(name, &["Enter"])
    }

    fn stop_grace(&self) -> Duration {
        STOP_GRACE
    }

    /// The rollout the hook recorded (Codex names it through the home's
    /// `sessions` link) while it is there; else found by its id in the
    /// operator's sessions dir (an adopted session, whose worker's home is
    /// gone), then in the home (a worker of an older csd kept its own).
    fn transcript_path(&self, meta: &Meta, home: &Path) -> Option<PathBuf> {
        let recorded = meta.extra_str("transcript_path").filter(|p| !p.is_empty()).map(PathBuf::from);
        if let Some(p) = recorded.as_ref().filter(|p| p.is_file()) {
            return Some(p.clone());
        }
        Self::operator_sessions()
            .ok()
            .and_then(|s| Self::find_rollout_in(&s, &meta.session_id))
            .or_else(|| Self::find_rollout(home, &meta.session_id))
            .or(recorded)
    }

    fn transcript_pattern(&self, meta: &Meta, _home: &Path) -> Option<String> {
        let sessions = Self::operator_sessions().ok()?;
        Some(format!("{}/YYYY/MM/DD/rollout-*-{}.jsonl", sessions.display(), meta.session_id))
    }

    /// SessionStart fires with the first prompt, not at start-up.
    fn silent_until_prompted(&self) -> bool {
        true
    }

    fn turn_witness(&self, worker: &Worker) -> Option<PathBuf> {
        crate::harness::transcript_of(worker).ok().flatten()
    }

    fn settle(&self, worker: &Worker) -> Result<()> {
        settle_unreported_turn_end(worker)
    }

    /// Codex's question (Plan mode's `request_user_input`) lists the options
    /// as `› 1. Red  the first`; an option's digit picks it and submits at
    /// once. Typed only once that row is drawn: a digit sent before would
    /// land in the composer. Measured for one question; a form of several
    /// is refused rather than guessed at.
    fn answer(
        &self,
        tmux: &Tmux,
        name: &str,
        block: &crate::verdict::Block,
        picks: &[usize],
        deadline: Instant,
    ) -> Result<()> {
        let (Some(q), [n]) = (block.questions.first(), picks) else {
            return Err(crate::error::usage(format!(
                "worker '{name}' asks {} questions at once: csd answers a Codex question only one at a time",
                block.questions.len()
            )));
        };
        if *n > 9 {
            return Err(crate::error::usage(format!("Codex picks options 1..9 by their digit, not {n}")));
        }
        let label = &q.options[n - 1].label;
        loop {
            if option_row_shown(&tmux.capture(name, false)?, *n, label) {
                return tmux.send_keys(name, &[&n.to_string()]);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(format!("worker '{name}': its question is not on screen")));
            }
            std::thread::sleep(LOOK);
        }
    }
}

/// Whether Codex's question screen shows option `n` as `n. <label>` (the
/// selected row marked `›`).
pub fn option_row_shown(screen: &str, n: usize, label: &str) -> bool {
    let row = format!("{n}. {label}");
    screen.contains("Question")
        && screen.lines().any(|l| l.trim_start().trim_start_matches('›').trim_start().starts_with(&row))
}

/// What the pane shows while Codex starts.
#[derive(Debug, PartialEq, Eq)]
pub enum Screen {
    /// Still drawing (the composer's `›` comes before any screen: not a sign).
    Starting,
    /// The footer `<Model> <effort> · <cwd>` and `? for shortcuts`, no screen.
    Ready,
    /// A choice Codex wants before it takes prompts.
    Gate(Gate),
    /// The login screen: nothing csd can answer.
    SignIn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// "Trust this folder?" (a git checkout not yet trusted): trust it.
    FolderTrust,
    /// "Hooks need review" (only without --dangerously-bypass-hook-trust):
    /// trust them, or csd would never hear from the worker.
    HookReview,
    /// "Try new model" / "Use existing model": keep the configured model
    /// (Enter here would switch it).
    ModelMigration,
}

impl Gate {
    /// The text that identifies the screen, and the option csd chooses.
    fn texts(self) -> (&'static str, &'static str) {
        match self {
            Gate::FolderTrust => ("Trust this folder?", "Trust and continue"),
            Gate::HookReview => ("Hooks need review", "Trust all and continue"),
            Gate::ModelMigration => ("Use existing model", "Use existing model"),
        }
    }

    /// The key for this screen as it is drawn: Enter when csd's option is
    /// the selected row (`› 2. …`), else that option's digit (which selects
    /// it, or on some screens confirms it; the next look decides again).
    /// `None` while the option's row is not fully drawn yet.
    pub fn answer(self, screen: &str) -> Option<&'static str> {
        let (_, option) = self.texts();
        let row = screen.lines().find(|l| l.contains(option) && !l.contains('?'))?;
        let head = row[..row.find(option)?].trim();
        if head.starts_with('›') {
            return Some("Enter");
        }
        match head.trim_end_matches('.') {
            "1" => Some("1"),
            "2" => Some("2"),
            "3" => Some("3"),
            "4" => Some("4"),
            _ => None,
        }
    }
}

/// Classify a captured screen. `cwd` is the worker's directory; `home` lets
/// a `~/…` footer count.
pub fn read_screen(screen: &str, cwd: &str, home: Option<&Path>) -> Screen {
    if screen.contains("Sign in with ChatGPT") || screen.contains("Sign in with Device Code") {
        return Screen::SignIn;
    }
    for gate in [Gate::FolderTrust, Gate::HookReview, Gate::ModelMigration] {
        if screen.contains(gate.texts().0) {
            return Screen::Gate(gate);
        }
    }
    let tilde = home.and_then(|h| Path::new(cwd).strip_prefix(h).ok()).map(|rest| format!("~/{}", rest.display()));
    let footer = screen.lines().any(|l| {
        let Some((_, after)) = l.split_once(" · ") else { return false };
        after.starts_with(cwd) || tilde.as_deref().is_some_and(|t| after.starts_with(t))
    });
    if footer && screen.contains("for shortcuts") {
        Screen::Ready
    } else {
        Screen::Starting
    }
}

fn exited_early(tmux: &Tmux, name: &str) -> Error {
    let screen = tmux.capture(name, true).unwrap_or_default();
    if let Some(line) = screen.lines().find(|l| l.contains("Error loading config")) {
        return failed(format!("Codex exited before it was ready: {}", line.trim()));
    }
    failed("Codex exited before it was ready")
}

/// A failed model request ends a Codex turn with `task_complete` carrying an
/// `error` in the rollout, and no Stop hook. When the log says the worker is
/// working on turn T and the rollout says T is over, record the `stop` the
/// hook never sent (naming T), so status, wait and converse see the turn end.
/// Likewise a question the model asks (`request_user_input`) in Plan mode:
/// its PreToolUse is the log's last line while Codex waits for the answer,
/// and a `blocked` stop with the questions says so; the answer's PostToolUse
/// and the turn's own end follow. (In Default mode Codex 0.169 fires the
/// same PreToolUse, then refuses the call at once and the turn goes on: the
/// turn's mode, from the rollout, tells the two apart.)
///
/// The check and the append happen under the log's lock, which every append
/// takes: a settler that read the log before another settler ended T and the
/// next prompt opened T2 would otherwise append its stop after T2's prompt,
/// ending T2 for anyone waiting on it. Under the lock the log is read again
/// and the stop goes in only if T is still the open turn, and is still
/// waiting on the same question.
pub fn settle_unreported_turn_end(worker: &Worker) -> Result<()> {
    let log = worker.events();
    let Some(turn_id) = open_turn(&log)? else { return Ok(()) };
    let rollout = crate::harness::transcript_of(worker)?;
    let ended = rollout.as_deref().and_then(|r| rollout_turn_end(r, &turn_id));
    let asked = match (&ended, rollout.as_deref()) {
        (None, Some(r)) => question_asked(&log)?.filter(|_| turn_mode(r, &turn_id).as_deref() == Some("plan")),
        _ => None,
    };
    let Some(verdict) = ended.or_else(|| asked.clone().map(Verdict::Blocked)) else { return Ok(()) };
    let stop = Event::Stop { ts: crate::time::now_iso(), verdict, turn_id: Some(turn_id.clone()) };
    log.append_if(&stop, |log| {
        Ok(open_turn(log)?.as_deref() == Some(turn_id.as_str()) && (asked.is_none() || question_asked(log)? == asked))
    })?;
    Ok(())
}

/// The collaboration mode turn `turn_id` runs in (`default`, `plan`), from
/// its `turn_context` in the rollout's tail.
fn turn_mode(rollout: &Path, turn_id: &str) -> Option<String> {
    let buf = read_tail(rollout)?;
    buf.split(|&b| b == b'\n').rev().find_map(|line| {
        memchr::memmem::find(line, b"\"turn_context\"")?;
        let v = serde_json::from_slice::<Json>(line).ok()?;
        let p = &v["payload"];
        (v["type"] == "turn_context" && p["turn_id"] == turn_id)
            .then(|| p["collaboration_mode"]["mode"].as_str().map(str::to_string))
            .flatten()
    })
}

/// The last 256 KiB of the rollout: the turn the log waits on ends there.
fn read_tail(rollout: &Path) -> Option<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    const TAIL: u64 = 256 * 1024;
    let mut f = crate::safefile::open_read(rollout).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The questions Codex waits on: the log's last line is the PreToolUse of
/// `request_user_input` (`tool_input.questions`: `id`, `header`,
/// `question`, `options: [{label, description}]`; Codex's own "None of the
/// above" row is not among them).
fn question_asked(log: &crate::eventlog::EventLog) -> Result<Option<crate::verdict::Block>> {
    let Some((EventKind::PreToolUse, line)) = log.last()? else { return Ok(None) };
    let Ok(v) = serde_json::from_slice::<Json>(&line) else { return Ok(None) };
    if v["tool"] != "request_user_input" {
        return Ok(None);
    }
    let questions = v["tool_input"]["questions"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    Ok(Some(crate::verdict::Block {
        on: "question".into(),
        message: None,
        questions: questions.iter().filter_map(crate::verdict::Question::from_json).collect(),
    }))
}

/// The Codex turn the log says runs: its last event is the prompt or a tool
/// call, and the last prompt names its turn.
fn open_turn(log: &crate::eventlog::EventLog) -> Result<Option<String>> {
    let Some((kind, _)) = log.last()? else { return Ok(None) };
    if !matches!(kind, EventKind::UserPromptSubmit | EventKind::PreToolUse | EventKind::PostToolUse) {
        return Ok(None);
    }
    let (prompts, _) = log.tail(1, Some(EventKind::UserPromptSubmit))?;
    let turn = prompts.first().and_then(|l| serde_json::from_slice::<Json>(l).ok());
    Ok(turn.and_then(|t| t.get("turn_id")?.as_str().map(str::to_string)))
}

/// How the rollout says turn `turn_id` ended, or `None` while it runs. Only
/// the rollout's tail is read: the end of the turn the log is waiting on is
/// near the end of the file.
pub fn rollout_turn_end(rollout: &Path, turn_id: &str) -> Option<Verdict> {
    let buf = read_tail(rollout)?;
    let mut lines = buf.split(|&b| b == b'\n').rev();
    for line in lines.by_ref() {
        if memchr::memmem::find(line, turn_id.as_bytes()).is_none() {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Json>(line) else { continue };
        let p = &v["payload"];
        if v["type"] != "event_msg" || p["turn_id"] != turn_id {
            continue;
        }
        match p["type"].as_str() {
            Some("task_complete") if !p["error"].is_null() => {
                // The limits Codex last heard of (`token_count` carries no
                // turn id: the nearest one before the end is this turn's).
                let limits = lines.find_map(|l| {
                    let v = serde_json::from_slice::<Json>(l).ok()?;
                    let p = &v["payload"];
                    match p["type"].as_str()? {
                        "token_count" if !p["rate_limits"].is_null() => Some(Some(p["rate_limits"].clone())),
                        "task_started" => Some(None),
                        _ => None,
                    }
                });
                return Some(Verdict::Failed(failure_of(&p["error"], limits.flatten().as_ref())));
            }
            Some("task_complete") => return Some(Verdict::Done),
            Some("turn_aborted") if p["reason"] == "interrupted" => return Some(Verdict::Interrupted),
            Some("turn_aborted") => {
                let reason = p["reason"].as_str().unwrap_or("aborted").to_string();
                return Some(Verdict::Failed(Failure { kind: reason, ..Default::default() }));
            }
            Some("task_started") => return None,
            _ => {}
        }
    }
    None
}

/// The contract's failure for the `error` of a rollout's `task_complete`
/// (`{"message", "codex_error_info"}`), with the reset time of a limit from
/// the `rate_limits` Codex last recorded. Codex 0.169 writes, measured
/// against the mock (docs/harness-codex.md): `other` for a 400 (its message
/// the API's JSON body) and for a stream that failed or dropped;
/// `{"http_connection_failed":{"http_status_code":N}}` for 401, 529 and
/// other statuses; `{"response_too_many_failed_attempts":{…429}}` for a rate
/// limit; `internal_server_error`, `server_overloaded`, `usage_limit_exceeded`.
pub fn failure_of(error: &Json, rate_limits: Option<&Json>) -> Failure {
    let message = match error {
        Json::String(s) => s.clone(),
        e => e.get("message").and_then(Json::as_str).map(str::to_string).unwrap_or_else(|| e.to_string()),
    };
    // A named kind (`"internal_server_error"`) or one with details
    // (`{"http_connection_failed": {"http_status_code": 401}}`).
    let (info, status) = match &error["codex_error_info"] {
        Json::String(s) => (s.as_str(), None),
        Json::Object(m) => match m.iter().next() {
            Some((k, d)) => (k.as_str(), d["http_status_code"].as_u64().and_then(|n| u16::try_from(n).ok())),
            None => ("other", None),
        },
        _ => ("other", None),
    };
    // A 400's message is the API's own body; its `error.message` reads better.
    let body = serde_json::from_str::<Json>(&message).ok().filter(|b| b["error"].is_object());
    let (kind, status) = match (info, status) {
        ("usage_limit_exceeded", s) => ("usage_limit", s.or(Some(429))),
        ("server_overloaded", s) => ("overloaded", s),
        ("internal_server_error", s) => ("server_error", s.or(Some(500))),
        ("unauthorized", s) => ("authentication_failed", s.or(Some(401))),
        ("bad_request", s) => ("invalid_request", s.or(Some(400))),
        ("context_window_exceeded" | "cyber_policy" | "sandbox_error", s) => (info, s),
        (_, Some(s)) => (kind_of_status(s), Some(s)),
        ("response_stream_disconnected" | "response_stream_connection_failed" | "http_connection_failed", None) => {
            ("network", None)
        }
        // Codex's InvalidRequest (an HTTP 400) carries the body as its message.
        _ if body.as_ref().is_some_and(|b| b["error"]["type"] == "invalid_request_error") => {
            ("invalid_request", Some(400))
        }
        // A stream that ended without `response.completed`: the connection
        // went; a `response.failed` from the server reads as its message.
        _ if message.contains("stream closed before response.completed") => ("network", None),
        _ if message.starts_with("stream disconnected before completion") => ("server_error", None),
        _ => ("unknown", None),
    };
    let message = body.as_ref().and_then(|b| b["error"]["message"].as_str().map(str::to_string)).unwrap_or(message);
    let retry_at = match kind {
        "usage_limit" | "rate_limit" => rate_limits.and_then(limit_reset),
        _ => None,
    };
    Failure { kind: kind.into(), message, status, retry_at }
}

/// The contract's kind for an HTTP status Codex reports.
fn kind_of_status(status: u16) -> &'static str {
    match status {
        400 | 413 | 422 => "invalid_request",
        401 | 403 => "authentication_failed",
        402 => "billing_error",
        404 => "model_not_found",
        429 => "rate_limit",
        503 | 529 => "overloaded",
        500..=599 => "server_error",
        _ => "unknown",
    }
}

/// When the exhausted limit of Codex's `rate_limits` snapshot resets
/// (`primary` / `secondary`: `used_percent`, `resets_at` in Unix seconds):
/// the latest reset of a window at 100 %, as `YYYY-MM-DDTHH:MM:SSZ`.
fn limit_reset(rate_limits: &Json) -> Option<String> {
    ["primary", "secondary"]
        .iter()
        .filter_map(|w| {
            let w = &rate_limits[*w];
            (w["used_percent"].as_f64()? >= 100.0).then(|| w["resets_at"].as_i64()).flatten()
        })
        .max()
        .map(crate::time::iso_from_unix)
}

/// The variable holding the API key of the provider `config` selects.
fn provider_env_key(config: &str) -> Option<String> {
    let t: Table = config.parse().ok()?;
    let provider = t.get("model_provider")?.as_str()?;
    t.get("model_providers")?.get(provider)?.get("env_key")?.as_str().map(str::to_string)
}

/// The table at `key`, made one (replacing a non-table value) if need be.
fn table_at<'a>(t: &'a mut Table, key: &str) -> &'a mut Table {
    if !t.get(key).is_some_and(Value::is_table) {
        t.insert(key.into(), Value::Table(Table::new()));
    }
    match t.get_mut(key) {
        Some(Value::Table(inner)) => inner,
        _ => unreachable!("just made a table"),
    }
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Visit the files under `dir`, at most `depth` levels down.
fn walk(dir: &Path, depth: u32, visit: &mut dyn FnMut(&Path)) {
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for entry in rd.flatten() {
        let p = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() && depth > 0 => walk(&p, depth - 1, visit),
            Ok(t) if t.is_file() => visit(&p),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FOLDER: &str = "  Folder access\n  /w/proj\n  Trust this folder? Codex can read, edit, and run files here\n\
        › 1. Trust and continue\n  2. Back to Agent Command Center\n  enter continue · esc back\n";
    const MIGRATION: &str =
        "  Meet GPT-6 Sol\n› 1. Try new model\n  2. Use existing model\n  enter/esc confirm · ^c quit\n";
    const HOOKS: &str = concat!(
        "  Hooks need review\n  12 hooks are new or changed.\n› 1. Review hooks\n",
        "  2. Trust all and continue\n  3. Continue without trusting (hooks won't run)\n"
    );
    const READY: &str =
        "› Ask Codex to do anything\n  GPT-5.5 low · /w/proj · Run thing\n  ← for agents · ? for shortcuts\n";
    const LOADING: &str = "  >_ OpenAI Codex (v0.169.0)\n     loading\n› Ask Codex to do anything\n  ? for shortcuts\n";

    #[test]
    fn screens_are_told_apart_by_their_text() {
        assert_eq!(read_screen(FOLDER, "/w/proj", None), Screen::Gate(Gate::FolderTrust));
        assert_eq!(read_screen(MIGRATION, "/w/proj", None), Screen::Gate(Gate::ModelMigration));
        assert_eq!(read_screen(HOOKS, "/w/proj", None), Screen::Gate(Gate::HookReview));
        assert_eq!(read_screen(READY, "/w/proj", None), Screen::Ready);
        assert_eq!(read_screen(LOADING, "/w/proj", None), Screen::Starting);
        assert_eq!(read_screen(READY, "/w/other", None), Screen::Starting);
        let tilde = "  GPT-5.5 low · ~/proj\n  ? for shortcuts\n";
        assert_eq!(read_screen(tilde, "/home/u/proj", Some(Path::new("/home/u"))), Screen::Ready);
        assert_eq!(read_screen("Sign in with ChatGPT", "/w", None), Screen::SignIn);
    }

    #[test]
    fn a_questions_option_row_is_found_by_its_digit_and_label() {
        let screen = "› ASK: Which colour?\n  Question 1/1 (1 unanswered)\n  Which colour?\n  \
            › 1. Red                the first\n    2. Blue               the second\n";
        assert!(option_row_shown(screen, 1, "Red") && option_row_shown(screen, 2, "Blue"));
        assert!(!option_row_shown(screen, 2, "Red"));
        assert!(!option_row_shown("› 2. Blue", 2, "Blue"), "no question on screen");
    }

    #[test]
    fn gates_get_their_option_never_a_blind_enter() {
        assert_eq!(Gate::FolderTrust.answer(FOLDER), Some("Enter"));
        assert_eq!(Gate::ModelMigration.answer(MIGRATION), Some("2"));
        assert_eq!(Gate::HookReview.answer(HOOKS), Some("2"));
        let moved = HOOKS.replace("› 1. Review", "  1. Review").replace("  2. Trust all", "› 2. Trust all");
        assert_eq!(Gate::HookReview.answer(&moved), Some("Enter"));
        // Half drawn: the question is there, the options are not yet.
        assert_eq!(Gate::FolderTrust.answer("  Trust this folder? Codex can read"), None);
    }

    #[test]
    fn config_keeps_the_operators_provider_and_adds_csds_settings() {
        let theirs = r#"
model = "o9"
model_provider = "corp"
notify = ["x"]
[model_providers.corp]
name = "Corp"
base_url = "http://127.0.0.1:1/v1"
[features]
web_search = true
[hooks.Stop]
bogus = 1
"#;
        let text = Codex::config(Some(theirs), "/p/a \"q\"", "'/bin/csd-hook' w", Some("gpt-5.5")).unwrap();
        let t: Table = text.parse().unwrap();
        assert_eq!(t["model"].as_str(), Some("gpt-5.5"));
        assert_eq!(t["model_provider"].as_str(), Some("corp"));
        assert_eq!(t["model_providers"]["corp"]["base_url"].as_str(), Some("http://127.0.0.1:1/v1"));
        assert_eq!(t["projects"]["/p/a \"q\""]["trust_level"].as_str(), Some("trusted"));
        assert_eq!(t["analytics"]["enabled"].as_bool(), Some(false));
        assert_eq!(t["features"]["web_search"].as_bool(), Some(true));
        assert_eq!(t["features"]["plugins"].as_bool(), Some(false));
        assert_eq!(t["notice"]["model_migrations"]["gpt-5.5"].as_str(), Some("gpt-6-sol"));
        assert_eq!(t["notice"]["hide_rate_limit_model_nudge"].as_bool(), Some(true));
        assert_eq!(t["check_for_update_on_startup"].as_bool(), Some(false));
        for ev in HOOK_EVENTS {
            let group = &t["hooks"][ev][0];
            assert_eq!(group["hooks"][0]["command"].as_str(), Some("'/bin/csd-hook' w"), "{ev}");
            assert_eq!(group.get("matcher").is_some(), MATCHED_EVENTS.contains(&ev), "{ev}");
        }
        assert!(t["hooks"].get("bogus").is_none() && t["hooks"]["Stop"][0].get("bogus").is_none());
        assert!(Codex::config(Some("model = "), "/p", "h", None).is_err());
        let bare: Table = Codex::config(None, "/p", "h", None).unwrap().parse().unwrap();
        assert!(bare.get("model").is_none());
    }

    #[test]
    fn the_providers_key_variable_is_found() {
        let c = "model_provider = \"m\"\n[model_providers.m]\nenv_key = \"MOCK_KEY\"\n";
        assert_eq!(provider_env_key(c).as_deref(), Some("MOCK_KEY"));
        assert_eq!(provider_env_key("model = \"x\""), None);
    }

    #[test]
    fn the_sessions_link_is_made_or_renewed_and_a_real_dir_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (home, theirs) = (dir.path().join("home"), dir.path().join("op/.codex/sessions"));
        std::fs::create_dir(&home).unwrap();
        Codex::link_sessions(&home, &theirs).unwrap();
        assert_eq!(std::fs::read_link(home.join("sessions")).unwrap(), theirs);
        // A link left by an earlier start (another operator dir) is replaced.
        let other = dir.path().join("other");
        std::fs::remove_file(home.join("sessions")).unwrap();
        std::os::unix::fs::symlink(&other, home.join("sessions")).unwrap();
        Codex::link_sessions(&home, &theirs).unwrap();
        assert_eq!(std::fs::read_link(home.join("sessions")).unwrap(), theirs);
        // An older csd's private sessions dir keeps its rollouts.
        std::fs::remove_file(home.join("sessions")).unwrap();
        std::fs::create_dir(home.join("sessions")).unwrap();
        Codex::link_sessions(&home, &theirs).unwrap();
        assert!(std::fs::symlink_metadata(home.join("sessions")).unwrap().is_dir());
    }

    #[test]
    fn rollout_tells_how_a_turn_ended() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let line = |ty: &str, extra: &str| {
            format!("{{\"type\":\"event_msg\",\"payload\":{{\"type\":\"{ty}\",\"turn_id\":\"T2\"{extra}}}}}\n")
        };
        std::fs::write(&p, line("task_started", "")).unwrap();
        assert_eq!(rollout_turn_end(&p, "T2"), None);
        let failed_turn = line("task_started", "") + &line("task_complete", ",\"error\":{\"message\":\"x\"}");
        std::fs::write(&p, failed_turn).unwrap();
        assert_eq!(rollout_turn_end(&p, "T2").map(|v| v.word()), Some("failed"));
        std::fs::write(&p, line("turn_aborted", ",\"reason\":\"interrupted\"")).unwrap();
        assert_eq!(rollout_turn_end(&p, "T2"), Some(Verdict::Interrupted));
        assert_eq!(rollout_turn_end(&p, "T1"), None);
    }

    /// The `error` of each failure's `task_complete` as Codex 0.169 wrote it
    /// against the mock (`FAIL: <how>`), and what csd makes of it.
    #[test]
    fn codex_errors_map_to_the_contracts_kinds() {
        let f = |e: &str| failure_of(&serde_json::from_str(e).unwrap(), None);
        let bad = f(
            r#"{"message":"{\"error\":{\"message\":\"mock: the request is invalid\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}","codex_error_info":"other"}"#,
        );
        assert_eq!(
            (bad.kind.as_str(), bad.status, bad.message.as_str()),
            ("invalid_request", Some(400), "mock: the request is invalid")
        );
        let key = f(
            r#"{"message":"unexpected status 401 Unauthorized: Incorrect API key provided","codex_error_info":{"http_connection_failed":{"http_status_code":401}}}"#,
        );
        assert_eq!((key.kind.as_str(), key.status), ("authentication_failed", Some(401)));
        assert!(key.message.starts_with("unexpected status 401"), "{key:?}");
        let rate = f(
            r#"{"message":"exceeded retry limit, last status: 429 Too Many Requests","codex_error_info":{"response_too_many_failed_attempts":{"http_status_code":429}}}"#,
        );
        assert_eq!((rate.kind.as_str(), rate.status, rate.retry_at), ("rate_limit", Some(429), None));
        let e500 = f(
            r#"{"message":"We’re currently experiencing high demand, which may cause temporary errors.","codex_error_info":"internal_server_error"}"#,
        );
        assert_eq!((e500.kind.as_str(), e500.status), ("server_error", Some(500)));
        let e529 = f(
            r#"{"message":"unexpected status 529 <unknown status code>: mock","codex_error_info":{"http_connection_failed":{"http_status_code":529}}}"#,
        );
        assert_eq!((e529.kind.as_str(), e529.status), ("overloaded", Some(529)));
        let busy = f(
            r#"{"message":"Selected model is at capacity. Please try a different model.","codex_error_info":"server_overloaded"}"#,
        );
        assert_eq!((busy.kind.as_str(), busy.status), ("overloaded", None));
        let failed = f(
            r#"{"message":"stream disconnected before completion: mock: the stream failed","codex_error_info":"other"}"#,
        );
        assert_eq!(failed.kind, "server_error");
        let dropped = f(
            r#"{"message":"stream disconnected before completion: stream closed before response.completed","codex_error_info":"other"}"#,
        );
        assert_eq!((dropped.kind.as_str(), dropped.status), ("network", None));
        assert_eq!(f(r#"{"message":"odd"}"#).kind, "unknown");
        assert_eq!(f(r#""plain text""#).message, "plain text");
        // A usage limit: the reset of the exhausted window Codex recorded.
        let limits: Json = serde_json::from_str(r#"{"limit_id":"codex","primary":{"used_percent":100.0,"window_minutes":300,"resets_at":1796529198},"secondary":{"used_percent":40.0,"resets_at":1796999999}}"#).unwrap();
        let usage = failure_of(
            &serde_json::from_str(r#"{"message":"You’ve hit your usage limit. … try again at 3:53 AM.","codex_error_info":"usage_limit_exceeded"}"#).unwrap(),
            Some(&limits),
        );
        assert_eq!((usage.kind.as_str(), usage.status), ("usage_limit", Some(429)));
        assert_eq!(usage.retry_at.as_deref(), Some(crate::time::iso_from_unix(1796529198).as_str()));
    }

    #[test]
    fn a_failed_turn_takes_the_limits_recorded_before_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.jsonl");
        let ev = |payload: Json| json!({"type": "event_msg", "payload": payload}).to_string() + "\n";
        let limits = |pct: f64, at: i64| json!({"primary": {"used_percent": pct, "resets_at": at}, "secondary": null});
        let text = ev(json!({"type": "token_count", "rate_limits": limits(100.0, 1000)}))
            + &ev(json!({"type": "task_started", "turn_id": "T2"}))
            + &ev(json!({"type": "token_count", "info": null, "rate_limits": limits(100.0, 1796529198)}))
            + &ev(json!({"type": "task_complete", "turn_id": "T2", "error": {"message": "limit",
                "codex_error_info": "usage_limit_exceeded"}}));
        std::fs::write(&p, text).unwrap();
        let Some(Verdict::Failed(f)) = rollout_turn_end(&p, "T2") else { panic!() };
        assert_eq!(f.retry_at.as_deref(), Some(crate::time::iso_from_unix(1796529198).as_str()));
        // Limits of an earlier turn are not this turn's.
        let text = ev(json!({"type": "token_count", "rate_limits": limits(100.0, 1000)}))
            + &ev(json!({"type": "task_started", "turn_id": "T3"}))
            + &ev(json!({"type": "task_complete", "turn_id": "T3", "error": {"message": "limit",
                "codex_error_info": "usage_limit_exceeded"}}));
        std::fs::write(&p, text).unwrap();
        let Some(Verdict::Failed(f)) = rollout_turn_end(&p, "T3") else { panic!() };
        assert_eq!((f.kind.as_str(), f.retry_at), ("usage_limit", None));
    }
}
