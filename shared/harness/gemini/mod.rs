//! Gemini CLI (`@google/gemini-cli`, 0.61): csd assigns the session id
//! (`--session-id`); each worker gets a private Gemini home
//! (`GEMINI_CLI_HOME`) whose `settings.json` is the operator's with csd's
//! hooks added, the folder-trust dialog is skipped by `--skip-trust` and
//! the auth picker by `security.auth.selectedType`, and the SessionStart
//! hook is the proof of life. The operator's sign-in, extensions, memory and
//! the rest are linked in; so is `tmp`, where Gemini CLI keeps session
//! files, so they outlive the worker and `--resume` finds them after a
//! reboot. (A system-settings file of csd's own would be simpler, but
//! Gemini CLI 0.61 reads one only if it and every directory above it are
//! root's and writable by no one else.) Measured facts behind every choice
//! here: docs/harness-gemini.md.

pub mod selftest;
pub mod transcript;
pub mod turn;

use crate::error::{failed, Error, Result};
use crate::event::{Event, EventKind};
use crate::eventlog::EventLog;
use crate::harness::{json_object_at, user_home, Harness, IdStrategy, Launch, Mode};
use crate::tmux::Tmux;
use crate::worker::{Meta, Worker};
use crate::workerdir::WorkerDir;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Gemini;

/// The hooks csd registers, each running csd-hook.
pub const HOOK_EVENTS: [&str; 6] =
    ["SessionStart", "BeforeAgent", "BeforeTool", "AfterTool", "AfterAgent", "SessionEnd"];

/// What a worker's Gemini dir shares with the operator's, by a link, when
/// the operator has it: the session files and the project registry (`tmp`
/// is made if missing, so they outlive the worker), the sign-in, and what
/// makes their Gemini CLI theirs (extensions, commands, memory, skills,
/// agents, policies, MCP tokens). Gemini CLI only reads or writes these while
/// it runs a worker; stop removes the links, never what they point at.
pub const SHARED_ENTRIES: [&str; 14] = [
    "tmp",
    "history",
    "projects.json",
    "oauth_creds.json",
    "google_accounts.json",
    "installation_id",
    "user_id",
    "mcp-oauth-tokens.json",
    "extensions",
    "commands",
    "skills",
    "agents",
    "policies",
    "GEMINI.md",
];

/// Variables the pane gets from csd-launch's environment when set there:
/// the key and endpoint, the project of Vertex AI, the model, and proxies.
const PASSED_THROUGH: [&str; 16] = [
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GEMINI_MODEL",
    "GEMINI_CLI_TRUSTED_FOLDERS_PATH",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
];

/// `/quit` exits in well under a second, SessionEnd first.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Between typing `/quit` and pressing Enter.
const QUIT_SETTLE: Duration = Duration::from_millis(300);
/// How often the pane is looked at while Gemini CLI starts.
const LOOK: Duration = Duration::from_millis(50);
/// How long a failed request's `error` line waits for the AfterAgent hook
/// before `settle` writes the turn's end itself.
const HOOK_GRACE: i64 = 2;
/// What the input box shows when Gemini CLI takes prompts.
const INPUT_BOX: &str = "Type your message";
/// Above the input, while prompts submitted mid-turn wait for the turn's end.
const QUEUED: &str = "Queued (press ↑ to edit):";
/// The auth picker, which no setting csd may choose answers.
const AUTH_PICKER: &str = "How would you like to authenticate";

impl Gemini {
    /// Gemini CLI's directory under a home (`$GEMINI_CLI_HOME`, else `$HOME`).
    pub fn gemini_dir(home: &Path) -> PathBuf {
        home.join(".gemini")
    }

    /// The operator's own Gemini dir: `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`.
    pub fn operator_dir() -> Result<PathBuf> {
        match std::env::var_os("GEMINI_CLI_HOME").filter(|v| !v.is_empty()) {
            Some(h) => Ok(Self::gemini_dir(Path::new(&h))),
            None => Ok(Self::gemini_dir(&user_home()?)),
        }
    }

    /// Make `<gemini>/<entry>` a link to the operator's, for each of
    /// `SHARED_ENTRIES` they have (`tmp` made 0700 first if missing).
    pub fn link_shared(gemini: &Path, operator: &Path) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let tmp = operator.join("tmp");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&tmp)
            .map_err(|e| Error::Io(format!("creating {}", tmp.display()), e))?;
        for entry in SHARED_ENTRIES {
            let target = operator.join(entry);
            if std::fs::symlink_metadata(&target).is_err() {
                continue;
            }
            let link = gemini.join(entry);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&target, &link)
                .map_err(|e| Error::Io(format!("linking {}", link.display()), e))?;
        }
        Ok(())
    }

    /// The settings csd lays over the operator's `base` (an object, or
    /// nothing): its hooks added to any there, telemetry and update checks
    /// off, the hooks' notices off the screen, and `auth` as the selected
    /// auth type when given (the operator chose none, and the environment
    /// has a key).
    pub fn settings(base: Option<Value>, hook_command: &str, auth: Option<&str>) -> Value {
        let mut root = match base {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let hooks = json_object_at(&mut root, "hooks");
        for ev in HOOK_EVENTS {
            let matcher = if ev.ends_with("Tool") { "*" } else { "" };
            let group = json!({"matcher": matcher, "hooks": [{"type": "command", "command": hook_command}]});
            match hooks.get_mut(ev) {
                Some(Value::Array(groups)) => groups.push(group),
                _ => {
                    hooks.insert(ev.into(), json!([group]));
                }
            }
        }
        let hooks_config = json_object_at(&mut root, "hooksConfig");
        hooks_config.insert("enabled".into(), true.into());
        hooks_config.insert("notifications".into(), false.into());
        let general = json_object_at(&mut root, "general");
        general.insert("enableAutoUpdate".into(), false.into());
        general.insert("enableAutoUpdateNotification".into(), false.into());
        json_object_at(&mut root, "privacy").insert("usageStatisticsEnabled".into(), false.into());
        json_object_at(&mut root, "telemetry").insert("enabled".into(), false.into());
        if let Some(auth) = auth {
            let security = json_object_at(&mut root, "security");
            json_object_at(security, "auth").insert("selectedType".into(), auth.into());
        }
        Value::Object(root)
    }

    /// The auth type to select for a worker: none when the operator's own
    /// settings chose one; else the API key's, when the environment has one.
    pub fn auth_type(operator_settings: Option<&Value>, env: impl Fn(&str) -> Option<String>) -> Option<&'static str> {
        let chosen = operator_settings.and_then(|s| s.pointer("/security/auth/selectedType")).and_then(Value::as_str);
        if chosen.is_some_and(|c| !c.is_empty()) {
            return None;
        }
        let set = |k: &str| env(k).is_some_and(|v| !v.is_empty());
        if env("GOOGLE_GENAI_USE_VERTEXAI").as_deref() == Some("true") {
            Some("vertex-ai")
        } else if set("GEMINI_API_KEY") {
            Some("gemini-api-key")
        } else {
            None
        }
    }

    /// Every session file of session `sid` under `gemini_dir`: named
    /// `session-*-<first 8 of sid>.jsonl` in some project's `chats/`, its
    /// header naming the session; the original first (a resume starts a
    /// second file but goes on writing the first).
    pub fn find_session_files(gemini_dir: &Path, sid: &str) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let Ok(projects) = std::fs::read_dir(gemini_dir.join("tmp")) else { return found };
        for project in projects.flatten() {
            found.extend(Self::session_files_in(&project.path().join("chats"), sid));
        }
        found.sort();
        found
    }

    /// Session `sid`'s files in one `chats` dir, sorted by name (the
    /// original first).
    fn session_files_in(chats: &Path, sid: &str) -> Vec<PathBuf> {
        let Some(short) = sid.get(..8) else { return Vec::new() };
        let suffix = format!("-{short}.jsonl");
        let mut found = Vec::new();
        for f in std::fs::read_dir(chats).into_iter().flatten().flatten() {
            let name = f.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with("session-") && name.ends_with(&suffix) && header_names(&f.path(), sid) {
                found.push(f.path());
            }
        }
        found.sort();
        found
    }
}

/// Whether `path` looks like a Gemini CLI session file (`…/chats/session-
/// *.jsonl`): the only files a hook payload's `transcript_path` is read as.
pub fn is_session_file(path: &Path) -> bool {
    path.is_absolute()
        && path.parent().and_then(Path::file_name).is_some_and(|d| d == "chats")
        && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("session-") && n.ends_with(".jsonl"))
}

/// Whether the session file's first line (read up to 64 KiB) names session `sid`.
fn header_names(path: &Path, sid: &str) -> bool {
    use std::io::{BufRead, Read};
    let Ok(f) = crate::safefile::open_read(path) else { return false };
    let mut first = Vec::new();
    if std::io::BufReader::new(f.take(64 * 1024)).read_until(b'\n', &mut first).is_err() {
        return false;
    }
    serde_json::from_slice::<Value>(&first).is_ok_and(|v| v["sessionId"] == sid)
}

/// A settings file read as an object, if it is there and holds up (at
/// most 1 MiB; comments allowed, as Gemini CLI allows them).
fn read_json(path: &Path) -> Result<Option<Value>> {
    match crate::safefile::read_capped(path, 1 << 20) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&strip_comments(&bytes)) {
            Ok(v @ Value::Object(_)) => Ok(Some(v)),
            _ => Err(failed(format!("{} is not a JSON object csd can read", path.display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Io(format!("reading {}", path.display()), e)),
    }
}

/// JSON with `//` and `/* */` comments taken out (outside strings).
pub fn strip_comments(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let (mut i, mut in_string) = (0, false);
    while i < text.len() {
        let c = text[i];
        if in_string {
            out.push(c);
            if c == b'\\' && i + 1 < text.len() {
                out.push(text[i + 1]);
                i += 1;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
            out.push(c);
        } else if text[i..].starts_with(b"//") {
            while i < text.len() && text[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if text[i..].starts_with(b"/*") {
            i += 2;
            while i < text.len() && !text[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
            continue;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

impl Harness for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn title(&self) -> &'static str {
        "Gemini CLI"
    }

    fn package(&self) -> &'static str {
        "npm install -g @google/gemini-cli"
    }

    fn transcript_format(&self) -> &'static dyn crate::transcript::Format {
        &transcript::GeminiTranscript
    }

    fn usage_needle(&self) -> &'static [u8] {
        b"\"tokens\""
    }

    fn line_usage<'a>(&self, line: &'a Value) -> crate::tokens::LineUsage<'a> {
        transcript::usage(line)
            .map_or(crate::tokens::LineUsage::None, |(id, t)| crate::tokens::LineUsage::Message(id, t))
    }

    fn session_args(&self) -> crate::harness::SessionArgs {
        crate::harness::SessionArgs {
            options: &["--session-id", "--resume", "-r", "--session-file", "--list-sessions", "--delete-session"],
            words: &[],
            instead: "launch assigns one, --adopt resumes one",
        }
    }

    fn turn_hooks(&self) -> &'static [&'static str] {
        &turn::TURN_HOOKS
    }

    fn hook_events(&self, hook: &str, ts: &str, payload: &Map<String, Value>) -> Option<Vec<Event>> {
        turn::hook_events(hook, ts, payload)
    }

    fn self_test(&self) -> crate::harness::SelfTest {
        selftest::self_test()
    }

    fn launch_note(&self) -> &'static str {
        "Gemini CLI (gemini): csd assigns the session id (a random UUID v4, passed as --session-id) and writes the \
worker's meta before the pane starts, so its first hook is recorded. The worker gets a private Gemini home \
(GEMINI_CLI_HOME) under $CSD_WORKER_DIR/homes/NAME/ whose .gemini/settings.json is the operator's with csd's hooks \
added (each runs csd-hook(1)), usage statistics, telemetry and update checks off and, when the operator's settings \
select no auth type and GEMINI_API_KEY is set, the API key selected, so the auth picker never shows. The rest of \
the operator's ~/.gemini (or $GEMINI_CLI_HOME/.gemini) is linked in: their sign-in, extensions, commands, memory, \
and tmp/, where session files are kept (made 0700 if missing), so a session outlives its worker. The folder-trust \
dialog is skipped with --skip-trust, and the worker runs with --yolo. It is ready when its SessionStart hook \
reports in, the input box shows and the screen is still. csd-stop(1) removes the home, links and all, never \
what a link points at."
    }

    fn adopt_note(&self) -> &'static str {
        "with gemini --resume SID (its session file under ~/.gemini/tmp/*/chats/)"
    }

    fn ids(&self) -> IdStrategy {
        IdStrategy::Assign
    }

    fn supports_adopt(&self) -> bool {
        true
    }

    /// The worker's private Gemini home (its `GEMINI_CLI_HOME`), which
    /// `csd-stop` removes with the worker, links and all.
    fn home(&self, dir: &WorkerDir, name: &str) -> Result<PathBuf> {
        Ok(dir.home_path(name))
    }

    fn prepare(&self, launch: &Launch) -> Result<()> {
        launch.dir.make_home(launch.name)?;
        let gemini = Self::gemini_dir(&launch.home);
        std::fs::create_dir_all(&gemini).map_err(|e| Error::Io(format!("creating {}", gemini.display()), e))?;
        let operator = Self::operator_dir()?;
        Self::link_shared(&gemini, &operator)?;
        let theirs = read_json(&operator.join("settings.json"))?;
        let auth = Self::auth_type(theirs.as_ref(), |k| std::env::var(k).ok());
        let settings = Self::settings(theirs, &crate::harness::hook_shell_command(&launch.hook_bin)?, auth);
        let text = serde_json::to_vec_pretty(&settings).expect("a JSON value always serializes");
        launch.dir.write_atomic(&gemini.join("settings.json"), &text, 0o600)
    }

    fn env_pins(&self, launch: &Launch) -> Vec<(String, String)> {
        let mut env = vec![
            ("GEMINI_CLI_HOME".to_string(), launch.home.to_string_lossy().into_owned()),
            // A controller that runs in Gemini CLI passes its own session's
            // id to what it starts: never the worker's.
            ("GEMINI_SESSION_ID".into(), String::new()),
            // One node process, not a second one started for its memory
            // settings: a second start of the whole CLI, for nothing.
            ("GEMINI_CLI_NO_RELAUNCH".into(), "true".into()),
            // With CI=true or GITHUB_ACTIONS=true in its environment, Gemini
            // CLI 0.61 takes itself for headless (core/utils/headless.ts)
            // and, in a pane with no prompt given, exits at once: "No input
            // provided via stdin". A worker is interactive wherever csd runs
            // (a CI machine's tests included), so both are pinned empty.
            ("CI".into(), String::new()),
            ("GITHUB_ACTIONS".into(), String::new()),
        ];
        for var in PASSED_THROUGH {
            if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                env.push((var.to_string(), v.to_string_lossy().into_owned()));
            }
        }
        env
    }

    fn argv(&self, launch: &Launch) -> Result<Vec<String>> {
        let sid = launch.session_id.ok_or_else(|| failed("a Gemini CLI worker needs its session id up front"))?;
        let id_flag = match launch.mode {
            Mode::Launch => "--session-id",
            Mode::Adopt => "--resume",
        };
        let mut argv = vec![
            crate::harness::binary(self),
            id_flag.into(),
            sid.into(),
            // No "Do you trust the files in this folder?" dialog.
            "--skip-trust".into(),
            // Approvals would stop a worker to ask its (absent) human.
            "--yolo".into(),
        ];
        argv.extend(launch.extra_args.iter().cloned());
        Ok(argv)
    }

    fn await_ready(&self, launch: &Launch) -> Result<()> {
        let sid = launch.session_id.ok_or_else(|| failed("a Gemini CLI worker needs its session id up front"))?;
        let log = EventLog::new(launch.dir.events_path(sid));
        let mut offset = match launch.mode {
            Mode::Launch => 0,
            Mode::Adopt => launch.events_baseline.min(log.end()?),
        };
        let mut started = false;
        loop {
            if !started {
                offset = log.read_from(offset, |kind, _| {
                    started = kind == EventKind::SessionStart;
                    Ok(!started)
                })?;
            }
            if launch.tmux.pane_dead(launch.name) != Some(false) {
                return Err(failed("Gemini CLI exited before it was ready"));
            }
            let screen = launch.tmux.capture(launch.name, false).unwrap_or_default();
            if screen.contains(AUTH_PICKER) {
                return Err(failed(
                    "Gemini CLI asks how to authenticate: sign in once with `gemini` yourself, or set \
                     GEMINI_API_KEY in csd-launch's environment",
                ));
            }
            if started && screen.contains(INPUT_BOX) {
                await_still_screen(launch, screen);
                return Ok(());
            }
            if Instant::now() >= launch.start_deadline {
                return Err(Error::Timeout(if started {
                    "Gemini CLI did not show its input box in time".into()
                } else {
                    "the worker did not report session_start in time".into()
                }));
            }
            std::thread::sleep(LOOK);
        }
    }

    /// Gemini CLI 0.61 (measured, and read in its source): a submitted
    /// prompt is trimmed, and one that then starts with `/` (but not `//` or
    /// `/*`) runs as its own command, the model never seeing it. A word
    /// joiner (U+2060) in front makes it text: JavaScript's trim keeps it,
    /// and Gemini CLI's input, which strips a zero-width space (U+200B) and
    /// the other invisible characters of `stripUnsafeCharacters`, keeps it.
    /// A pasted `!` is text already (shell mode is a `!` typed into an empty
    /// input), as is `@` (a path after it that exists is read in, as Gemini
    /// CLI does for any prompt).
    fn put_prompt(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<String>> {
        if !slash_command(prompt) {
            return self.paste(tmux, name, prompt).map(|_| None);
        }
        self.paste(tmux, name, &["\u{2060}".as_bytes(), prompt].concat())?;
        Ok(Some(
            "Gemini CLI would run this prompt as its own command (a leading '/'): csd put a word joiner (U+2060) \
             before it so the model gets it as text; to run a command use csd-send --command"
                .into(),
        ))
    }

    /// Gemini CLI 0.61 lists prompts submitted mid-turn above its input
    /// (`Queued (press ↑ to edit):`) and runs each as a turn of its own
    /// when the running one ends; the input then shows its placeholder.
    fn shows_queued(&self, screen: &str) -> bool {
        screen.contains(QUEUED) && screen.contains(INPUT_BOX)
    }

    fn quit(&self, tmux: &Tmux, name: &str) -> Result<()> {
        tmux.send_text(name, "/quit")?;
        std::thread::sleep(QUIT_SETTLE);
        tmux.send_keys(name, &["Enter"])
    }

    fn stop_grace(&self) -> Duration {
        STOP_GRACE
    }

    /// The session file the SessionStart hook recorded (through the home's
    /// `tmp` link) while it is there; else found by the session's id in the
    /// operator's Gemini dir (an adopted session, whose worker's home is gone).
    fn transcript_path(&self, meta: &Meta, _home: &Path) -> Option<PathBuf> {
        let recorded = meta.extra_str("transcript_path").filter(|p| !p.is_empty()).map(PathBuf::from);
        // After a resume there are two files, side by side, and the
        // conversation goes on in the original (the first by name); the
        // resumed session's SessionStart names either one (a CI run's named
        // the new, nearly empty file, and the turn after the adopt was not
        // found in it). The recorded file's own dir is enough to look in;
        // every project's only when it is gone (an adopted session).
        if let Some(chats) = recorded.as_ref().filter(|p| p.is_file()).and_then(|p| p.parent()) {
            return Self::session_files_in(chats, &meta.session_id).into_iter().next().or(recorded);
        }
        let operator = Self::operator_dir().ok();
        let found = operator.map(|o| Self::find_session_files(&o, &meta.session_id)).unwrap_or_default();
        found.into_iter().next().or(recorded)
    }

    fn transcript_pattern(&self, meta: &Meta, _home: &Path) -> Option<String> {
        let short = meta.session_id.get(..8)?;
        Some(format!("{}/tmp/*/chats/session-*-{short}.jsonl", Self::operator_dir().ok()?.display()))
    }

    fn turn_witness(&self, worker: &Worker) -> Option<PathBuf> {
        crate::harness::transcript_of(worker).ok().flatten()
    }

    fn settle(&self, worker: &Worker) -> Result<()> {
        settle_unreported_turn_end(worker)
    }
}

/// How long the screen must stay the same before a worker counts as ready,
/// and the most csd waits for that.
const STILL_FOR: Duration = Duration::from_millis(450);
const STILL_WAIT: Duration = Duration::from_secs(5);

/// Wait (bounded) until the screen stops changing. Gemini CLI 0.61 shows its
/// input box before a resumed session's history is drawn (~200 ms later,
/// measured), and a prompt pasted in between is lost.
fn await_still_screen(launch: &Launch, mut last: String) {
    let until = (Instant::now() + STILL_WAIT).min(launch.start_deadline);
    let mut since = Instant::now();
    while Instant::now() < until && since.elapsed() < STILL_FOR {
        std::thread::sleep(LOOK * 3);
        let screen = launch.tmux.capture(launch.name, false).unwrap_or_default();
        if screen != last {
            (last, since) = (screen, Instant::now());
        }
    }
}

/// Whether Gemini CLI would take `prompt` as a slash command once trimmed.
pub fn slash_command(prompt: &[u8]) -> bool {
    let text = prompt.trim_ascii_start();
    text.starts_with(b"/") && !text.starts_with(b"//") && !text.starts_with(b"/*")
}

/// Whether the log's last event leaves a turn open.
fn turn_open(log: &EventLog) -> Result<bool> {
    Ok(matches!(log.last()?, Some((EventKind::UserPromptSubmit | EventKind::PreToolUse | EventKind::PostToolUse, _))))
}

/// A failed request or an interrupt whose AfterAgent hook never came (the
/// headless mode sends none; the TUI does, a moment after the line): when
/// the log says a turn runs and the session file's last message ended it
/// more than `HOOK_GRACE` seconds ago, record the stop, under the log's lock
/// and only while the turn is still open.
pub fn settle_unreported_turn_end(worker: &Worker) -> Result<()> {
    let log = worker.events();
    if !turn_open(&log)? {
        return Ok(());
    }
    let Some(path) = crate::harness::transcript_of(worker)? else { return Ok(()) };
    let Some((verdict, at)) = turn::verdict_of_file(&path) else { return Ok(()) };
    let old = at.as_deref().and_then(crate::time::parse_iso).is_some_and(|t| crate::time::now_unix() - t >= HOOK_GRACE);
    if !old {
        return Ok(());
    }
    log.end_open_turn(verdict)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;

    #[test]
    fn settings_add_csds_hooks_to_the_operators_and_keep_the_rest() {
        let base = json!({"hooks": {"BeforeTool": [{"matcher": "x", "hooks": [{"type": "command", "command": "audit"}]}]},
            "general": {"vimMode": true}, "privacy": "odd"});
        let s = Gemini::settings(Some(base), "'/bin/csd-hook'", Some("gemini-api-key"));
        let before = s["hooks"]["BeforeTool"].as_array().unwrap();
        assert_eq!(before.len(), 2);
        assert_eq!(before[0]["hooks"][0]["command"], "audit");
        assert_eq!(before[1], json!({"matcher": "*", "hooks": [{"type": "command", "command": "'/bin/csd-hook'"}]}));
        for ev in HOOK_EVENTS {
            assert_eq!(s["hooks"][ev].as_array().unwrap().last().unwrap()["hooks"][0]["command"], "'/bin/csd-hook'");
        }
        assert_eq!(s["hooks"]["AfterAgent"][0]["matcher"], "");
        assert_eq!(
            s["general"],
            json!({"vimMode": true, "enableAutoUpdate": false, "enableAutoUpdateNotification": false})
        );
        assert_eq!(s["privacy"]["usageStatisticsEnabled"], false);
        assert_eq!(s["telemetry"]["enabled"], false);
        assert_eq!(s["hooksConfig"], json!({"enabled": true, "notifications": false}));
        assert_eq!(s["security"]["auth"]["selectedType"], "gemini-api-key");
        assert!(Gemini::settings(None, "h", None).get("security").is_none());
    }

    #[test]
    fn comments_are_taken_out_of_settings_but_not_out_of_strings() {
        let text = b"{\n // mine\n \"a\": \"http://x/*y*/\", /* b */ \"b\": \"q\\\"//\"\n}";
        let v: Value = serde_json::from_slice(&strip_comments(text)).unwrap();
        assert_eq!(v, json!({"a": "http://x/*y*/", "b": "q\"//"}));
    }

    #[test]
    fn the_operators_entries_are_linked_and_tmp_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let (gemini, operator) = (dir.path().join("w/.gemini"), dir.path().join("op/.gemini"));
        std::fs::create_dir_all(&gemini).unwrap();
        std::fs::create_dir_all(operator.join("extensions")).unwrap();
        std::fs::write(operator.join("oauth_creds.json"), "{}").unwrap();
        Gemini::link_shared(&gemini, &operator).unwrap();
        for entry in ["tmp", "extensions", "oauth_creds.json"] {
            assert_eq!(std::fs::read_link(gemini.join(entry)).unwrap(), operator.join(entry), "{entry}");
        }
        assert!(std::fs::symlink_metadata(gemini.join("GEMINI.md")).is_err());
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(operator.join("tmp")).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o700);
        // Again (a worker started anew): the links are renewed.
        Gemini::link_shared(&gemini, &operator).unwrap();
        assert!(gemini.join("tmp").is_dir());
    }

    /// No AfterAgent came after a failed request: settle writes the stop
    /// from the session file, once the hook has had its chance, once.
    #[test]
    fn settle_ends_a_turn_whose_end_only_the_session_file_shows() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("workers");
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
        let dir = WorkerDir::at(root).unwrap();
        let chats = tmp.path().join("home/.gemini/tmp/p/chats");
        std::fs::create_dir_all(&chats).unwrap();
        let file = chats.join("session-2026-12-06T20-04-11111111.jsonl");
        let sid = "11111111-2222-4333-8444-555555555555";
        let mut meta = Meta::new("w", sid, "/p", crate::kind::HarnessName::of("gemini"));
        meta.extra.insert("transcript_path".into(), file.to_str().unwrap().into());
        let worker = Worker { dir: dir.clone(), meta };
        let log = worker.events();
        log.append(&Event::UserPromptSubmit { ts: "T".into(), turn_id: None, prompt: None }).unwrap();
        let error = |at: i64| {
            let e = json!({"id": "e", "timestamp": crate::time::iso_from_unix(at), "type": "error",
                "content": "[API Error: {\"error\":{\"code\":500,\"message\":\"boom\",\"status\":\"INTERNAL\"}}]"});
            format!("{}\n{}\n", json!({"id": "u", "type": "user", "content": [{"text": "hi"}]}), e)
        };
        // Just written: the hook may still come.
        std::fs::write(&file, error(crate::time::now_unix())).unwrap();
        settle_unreported_turn_end(&worker).unwrap();
        assert!(turn_open(&log).unwrap());
        std::fs::write(&file, error(crate::time::now_unix() - 10)).unwrap();
        settle_unreported_turn_end(&worker).unwrap();
        settle_unreported_turn_end(&worker).unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.matches("\"stop\"").count(), 1, "{text}");
        let (_, last) = log.last().unwrap().unwrap();
        let Verdict::Failed(f) = Verdict::of_line(&last) else { panic!("{text}") };
        assert_eq!((f.kind.as_str(), f.status), ("server_error", Some(500)));
    }

    #[test]
    fn a_queued_prompt_shows_above_an_empty_input() {
        let queued = "│ ⊷  Shell sleep 12 │\n  Queued (press ↑ to edit):\n    Second. SAY: x\n ⠹ Thinking... (esc to \
            cancel, 10s)\n──────\n YOLO Ctrl+Y\n *   Type your message or @path/to/file\n";
        assert!(Gemini.shows_queued(queued));
        let typed = queued.replace("Type your message or @path/to/file", "Third.");
        assert!(!Gemini.shows_queued(&typed), "the prompt still sits in the input");
        assert!(!Gemini.shows_queued(" ⠹ Thinking...\n *   Type your message or @path/to/file\n"));
    }

    #[test]
    fn only_a_slash_command_gets_the_guard() {
        assert!(slash_command(b"/about now") && slash_command(b"  /quit"));
        assert!(!slash_command(b"// a comment") && !slash_command(b"/* c */") && !slash_command(b"!ls"));
        assert!(!slash_command(b"fix a/b"));
    }

    #[test]
    fn the_auth_type_is_chosen_only_when_the_operator_chose_none() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let key = env(&[("GEMINI_API_KEY", "k")]);
        assert_eq!(Gemini::auth_type(None, key), Some("gemini-api-key"));
        let theirs = json!({"security": {"auth": {"selectedType": "oauth-personal"}}});
        assert_eq!(Gemini::auth_type(Some(&theirs), env(&[("GEMINI_API_KEY", "k")])), None);
        assert_eq!(Gemini::auth_type(None, env(&[])), None);
        assert_eq!(Gemini::auth_type(None, env(&[("GOOGLE_GENAI_USE_VERTEXAI", "true")])), Some("vertex-ai"));
    }

    #[test]
    fn session_files_are_found_by_id_and_header_the_original_first() {
        let dir = tempfile::tempdir().unwrap();
        let sid = "11111111-2222-4333-8444-555555555555";
        let chats = dir.path().join("tmp/proj/chats");
        std::fs::create_dir_all(&chats).unwrap();
        let header = format!("{{\"sessionId\":\"{sid}\",\"kind\":\"main\"}}\n");
        std::fs::write(chats.join("session-2026-12-06T20-07-11111111.jsonl"), &header).unwrap();
        std::fs::write(chats.join("session-2026-12-06T20-04-11111111.jsonl"), &header).unwrap();
        // Same 8 characters, another session.
        std::fs::write(chats.join("session-2026-12-06T21-00-11111111.jsonl"), "{\"sessionId\":\"11111111-other\"}\n")
            .unwrap();
        let found = Gemini::find_session_files(dir.path(), sid);
        let names: Vec<_> = found.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["session-2026-12-06T20-04-11111111.jsonl", "session-2026-12-06T20-07-11111111.jsonl"]);
        assert!(is_session_file(&found[0]));
        assert!(!is_session_file(Path::new("chats/session-x.jsonl")));
        assert!(!is_session_file(&dir.path().join("tmp/session-x.jsonl")));
        assert!(Gemini::find_session_files(dir.path(), "short").is_empty());
    }
}
