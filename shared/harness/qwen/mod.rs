//! Qwen Code (`@qwen-code/qwen-code`, 0.24): csd assigns the session id
//! (`--session-id`), its Claude-style hooks come from a system settings file
//! csd writes into the worker dir (`QWEN_CODE_SYSTEM_SETTINGS_PATH`, laid
//! over the operator's own system settings), the SessionStart hook is the
//! proof of life, and a failed model request ends the turn with
//! `StopFailure`. Everything else is the operator's `~/.qwen`: auth,
//! settings, and the transcript, which outlives the worker so `--adopt` can
//! resume it. Measured facts behind every choice: docs/harness-qwen.md.

pub mod selftest;
pub mod transcript;
pub mod turn;

use crate::error::{failed, Context, Error, Result};
use crate::event::EventKind;
use crate::eventlog::EventLog;
use crate::harness::{json_object_at, user_home, Harness, IdStrategy, Launch, Mode};
use crate::tmux::Tmux;
use crate::watch::{Wake, Watch};
use crate::worker::Meta;
use crate::workerdir::WorkerDir;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Qwen;

/// The hooks csd registers; each runs csd-hook. The six lifecycle events,
/// and those `turn::hook_events` reads.
pub const HOOK_EVENTS: [&str; 10] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Stop",
    "SessionEnd",
    "StopFailure",
    "PostToolUseFailure",
    "PermissionRequest",
    "Notification",
];

/// Where Qwen Code reads its system settings on Linux when
/// `QWEN_CODE_SYSTEM_SETTINGS_PATH` does not say.
const SYSTEM_SETTINGS: &str = "/etc/qwen-code/settings.json";
/// The settings file csd writes into the worker dir.
pub const SETTINGS_FILE: &str = "qwen-settings.json";

/// Variables the pane gets from csd-launch's environment when set there:
/// the endpoint Qwen Code's `openai` auth reads, and the proxy settings.
const PASSED_THROUGH: [&str; 9] = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
];
/// Where Qwen Code keeps its config (`QWEN_HOME`) and its transcripts
/// (`QWEN_RUNTIME_DIR`): the pane must use what csd reads, whatever the
/// tmux server's environment says, so each is pinned (empty when unset).
const HOME_VARS: [&str; 2] = ["QWEN_HOME", "QWEN_RUNTIME_DIR"];

/// `/quit` ends it in about a second, SessionEnd first.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Between typing `/quit` and pressing Enter: the command popup must have
/// matched it.
const QUIT_SETTLE: Duration = Duration::from_millis(300);
/// How long, at most, to wait for the input box once SessionStart is in.
const INPUT_BOX_WAIT: Duration = Duration::from_secs(10);
/// How often the start-up is looked at besides the log's wake-ups.
const LOOK: Duration = Duration::from_millis(500);

impl Qwen {
    /// The settings csd lays over the operator's system settings
    /// (`theirs`): every hook in `HOOK_EVENTS` runs `hook_command` (after
    /// any of theirs), and the switches that keep a worker from stopping on
    /// a dialog, accepting a suggestion on an empty Enter, or calling home.
    pub fn settings(theirs: Option<&str>, hook_command: &str) -> Result<Value> {
        let mut root = match theirs {
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => m,
                _ => return Err(failed("the operator's Qwen Code system settings are not a JSON object")),
            },
            None => Map::new(),
        };
        let group = json!({"matcher": "", "hooks": [{"type": "command", "command": hook_command}]});
        let hooks = json_object_at(&mut root, "hooks");
        for ev in HOOK_EVENTS {
            match hooks.get_mut(ev) {
                Some(Value::Array(groups)) => groups.push(group.clone()),
                _ => {
                    hooks.insert(ev.into(), json!([group]));
                }
            }
        }
        // No "trust this folder?" dialog, whatever the operator's setting.
        json_object_at(json_object_at(&mut root, "security"), "folderTrust").insert("enabled".into(), false.into());
        let ui = json_object_at(&mut root, "ui");
        // A follow-up suggestion is taken by Enter on an empty input: a
        // worker's next prompt must be only what csd sends.
        ui.insert("enableFollowupSuggestions".into(), false.into());
        // Dialogs that wait on a person: "welcome back", feedback.
        ui.insert("enableWelcomeBack".into(), false.into());
        ui.insert("enableUserFeedback".into(), false.into());
        json_object_at(&mut root, "general").insert("enableAutoUpdate".into(), false.into());
        json_object_at(&mut root, "privacy").insert("usageStatisticsEnabled".into(), false.into());
        json_object_at(&mut root, "telemetry").insert("enabled".into(), false.into());
        Ok(Value::Object(root))
    }

    /// The operator's system settings file.
    fn operator_system_settings() -> PathBuf {
        match std::env::var_os("QWEN_CODE_SYSTEM_SETTINGS_PATH").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(SYSTEM_SETTINGS),
        }
    }

    /// The operator's system defaults, which Qwen Code looks for beside the
    /// system settings unless told: pinned, since csd moves those.
    fn operator_system_defaults() -> PathBuf {
        match std::env::var_os("QWEN_CODE_SYSTEM_DEFAULTS_PATH").filter(|v| !v.is_empty()) {
            Some(p) => PathBuf::from(p),
            None => Self::operator_system_settings().with_file_name("system-defaults.json"),
        }
    }

    /// Where Qwen Code writes transcripts: `$QWEN_RUNTIME_DIR`, else
    /// `$QWEN_HOME`, else `<home>/.qwen`.
    pub fn runtime_dir(home: &Path) -> PathBuf {
        for var in ["QWEN_RUNTIME_DIR", "QWEN_HOME"] {
            if let Some(d) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                return PathBuf::from(d);
            }
        }
        home.join(".qwen")
    }

    /// Qwen Code's project directory name: every UTF-16 unit that is not an
    /// ASCII letter or digit becomes `-` (`sanitizeCwd`, 0.24.4).
    pub fn project_dir_name(cwd: &str) -> String {
        cwd.encode_utf16()
            .map(|u| if u < 128 && (u as u8).is_ascii_alphanumeric() { u as u8 as char } else { '-' })
            .collect()
    }

    /// `<runtime dir>/projects/<cwd as a name>/chats/<sid>.jsonl`.
    pub fn default_transcript(home: &Path, cwd: &str, sid: &str) -> PathBuf {
        Self::runtime_dir(home)
            .join("projects")
            .join(Self::project_dir_name(cwd))
            .join("chats")
            .join(format!("{sid}.jsonl"))
    }
}

impl Harness for Qwen {
    fn name(&self) -> &'static str {
        "qwen"
    }

    fn title(&self) -> &'static str {
        "Qwen Code"
    }

    fn package(&self) -> &'static str {
        "npm install -g @qwen-code/qwen-code"
    }

    fn transcript_format(&self) -> &'static dyn crate::transcript::Format {
        &transcript::QwenTranscript
    }

    fn usage_needle(&self) -> &'static [u8] {
        b"\"usageMetadata\""
    }

    fn line_usage<'a>(&self, line: &'a Value) -> crate::tokens::LineUsage<'a> {
        transcript::usage(line).map_or(crate::tokens::LineUsage::None, crate::tokens::LineUsage::Add)
    }

    fn session_args(&self) -> crate::harness::SessionArgs {
        crate::harness::SessionArgs {
            options: &["--session-id", "--resume", "-r", "--continue", "-c", "--fork-session"],
            words: &[],
            instead: "launch assigns one, --adopt resumes one",
        }
    }

    fn turn_hooks(&self) -> &'static [&'static str] {
        &turn::TURN_HOOKS
    }

    fn hook_events(&self, hook: &str, ts: &str, payload: &Map<String, Value>) -> Option<Vec<crate::event::Event>> {
        turn::hook_events(hook, ts, payload)
    }

    fn self_test(&self) -> crate::harness::SelfTest {
        selftest::self_test()
    }

    fn launch_note(&self) -> &'static str {
        "Qwen Code (qwen): csd assigns the session id (a random UUID v4, passed as --session-id) and writes the \
worker's meta before the pane starts, so its first hook is recorded. Its hooks reach csd-hook(1) through a system \
settings file csd writes into the worker dir (qwen-settings.json, named by QWEN_CODE_SYSTEM_SETTINGS_PATH in the \
pane), which holds the operator's own system settings with csd's hooks added and the settings that keep a worker \
from stopping on a dialog or accepting a follow-up suggestion; the rest (auth, model, the transcript) is the \
operator's ~/.qwen. Qwen Code runs with --approval-mode yolo. The worker is ready when its SessionStart hook \
reports in and its input box is drawn."
    }

    fn adopt_note(&self) -> &'static str {
        "with qwen --resume SID (its transcript under ~/.qwen/projects/)"
    }

    fn variables(&self) -> &'static [(&'static str, &'static str)] {
        &[("CSD_QWEN_MODEL", "the model of a Qwen Code worker")]
    }

    fn ids(&self) -> IdStrategy {
        IdStrategy::Assign
    }

    fn supports_adopt(&self) -> bool {
        true
    }

    fn home(&self, _dir: &WorkerDir, _name: &str) -> Result<PathBuf> {
        user_home()
    }

    fn prepare(&self, launch: &Launch) -> Result<()> {
        let hook = crate::harness::hook_shell_command(&launch.hook_bin)?;
        let system = Self::operator_system_settings();
        // The system's file, links followed as Qwen Code follows them (a
        // managed /etc is often links), then read never as a FIFO and at
        // most 1 MiB.
        let real = std::fs::canonicalize(&system).unwrap_or_else(|_| system.clone());
        let theirs = match crate::safefile::read_capped(&real, 1 << 20) {
            Ok(bytes) => {
                Some(String::from_utf8(bytes).map_err(|_| failed(format!("{} is not UTF-8", system.display())))?)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).context(|| format!("reading {}", system.display())),
        };
        let settings = Self::settings(theirs.as_deref(), &hook)?;
        let bytes = serde_json::to_vec_pretty(&settings).expect("a JSON value always serializes");
        launch.dir.write_atomic(&launch.dir.root().join(SETTINGS_FILE), &bytes, 0o644)
    }

    fn env_pins(&self, launch: &Launch) -> Vec<(String, String)> {
        let mut env = vec![
            ("HOME".to_string(), launch.home.to_string_lossy().into_owned()),
            (
                "QWEN_CODE_SYSTEM_SETTINGS_PATH".into(),
                launch.dir.root().join(SETTINGS_FILE).to_string_lossy().into_owned(),
            ),
            ("QWEN_CODE_SYSTEM_DEFAULTS_PATH".into(), Self::operator_system_defaults().to_string_lossy().into_owned()),
        ];
        for var in HOME_VARS {
            let v = std::env::var_os(var).unwrap_or_default();
            env.push((var.into(), v.to_string_lossy().into_owned()));
        }
        for var in PASSED_THROUGH {
            if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                env.push((var.into(), v.to_string_lossy().into_owned()));
            }
        }
        env
    }

    fn argv(&self, launch: &Launch) -> Result<Vec<String>> {
        let sid = launch.session_id.ok_or_else(|| failed("a Qwen Code worker needs its session id up front"))?;
        let id_flag = match launch.mode {
            Mode::Launch => "--session-id",
            Mode::Adopt => "--resume",
        };
        let mut argv =
            vec![crate::harness::binary(self), id_flag.into(), sid.into(), "--approval-mode".into(), "yolo".into()];
        if let Some(model) = std::env::var("CSD_QWEN_MODEL").ok().filter(|m| !m.is_empty()) {
            argv.extend(["--model".into(), model]);
        }
        argv.extend(launch.extra_args.iter().cloned());
        Ok(argv)
    }

    /// Ready once SessionStart is logged and the input box is drawn: the
    /// hook fires while Qwen Code is still drawing its first frame.
    fn await_ready(&self, launch: &Launch) -> Result<()> {
        let sid = launch.session_id.ok_or_else(|| failed("a Qwen Code worker needs its session id up front"))?;
        let log = EventLog::new(launch.dir.events_path(sid));
        let mut watch = Watch::new(log.path())?;
        if let Some(pid) = launch.tmux.pane_pid(launch.name)? {
            watch = watch.with_process(pid);
        }
        let mut offset = match launch.mode {
            Mode::Launch => 0,
            Mode::Adopt => launch.events_baseline.min(log.end()?),
        };
        let mut exited = false;
        loop {
            let mut started = false;
            offset = log.read_from(offset, |kind, _| {
                started = kind == EventKind::SessionStart;
                Ok(!started)
            })?;
            if started {
                let until = (Instant::now() + INPUT_BOX_WAIT).min(launch.start_deadline);
                while !input_box_shown(&launch.tmux.capture(launch.name, false).unwrap_or_default()) {
                    if Instant::now() >= until {
                        break;
                    }
                    crate::signals::sleep(Duration::from_millis(50))?;
                }
                return Ok(());
            }
            if exited || launch.tmux.pane_dead(launch.name) != Some(false) {
                return Err(failed("Qwen Code exited before it was ready"));
            }
            let now = Instant::now();
            if now >= launch.start_deadline {
                return Err(Error::Timeout("the worker did not report session_start in time".into()));
            }
            if watch.wait(Some((now + LOOK).min(launch.start_deadline)))? == Wake::ProcessExited {
                exited = true;
                crate::signals::sleep(Duration::from_millis(50))?;
            }
        }
    }

    /// A paste over 1000 characters or 10 lines shows in Qwen Code 0.24.4's
    /// input as `[Pasted Content N chars]` and is put back in its place at
    /// submit, from state the Enter handler sees only once the input has
    /// been drawn again: an Enter 100 ms after the paste sent the model
    /// the placeholder itself (measured). So the paste is followed by a
    /// look at the screen until the placeholder shows (at most
    /// `PASTE_LOOK`), and a short settle.
    ///
    /// An Escape during the model request puts the turn's prompt back into
    /// the input, and a paste would be joined to it (`SAY: slowFirst.` went
    /// out as one prompt): text left in the input is cleared first.
    fn paste(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<()> {
        let text = crate::harness::strip_paste_markers(prompt);
        clear_left_over(tmux, name)?;
        tmux.paste(name, &text)?;
        let Some(placeholder) = paste_placeholder(&text) else { return Ok(()) };
        let until = Instant::now() + PASTE_LOOK;
        while Instant::now() < until {
            if tmux.capture(name, false)?.contains(&placeholder) {
                break;
            }
            crate::signals::sleep(Duration::from_millis(25))?;
        }
        crate::signals::sleep(PASTE_SETTLE)
    }

    /// Qwen Code 0.24.4 (measured): a pasted prompt starting with `/` runs
    /// as its slash command (no UserPromptSubmit, nothing to the model); a
    /// pasted `!` line is text for the model. A `/` prompt gets a zero-width
    /// space (U+200B) in front, with a note.
    fn put_prompt(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<String>> {
        let text = crate::harness::strip_paste_markers(prompt);
        if !String::from_utf8_lossy(&text).trim_start().starts_with('/') {
            return self.paste(tmux, name, &text).map(|_| None);
        }
        self.paste(tmux, name, &["\u{200b}".as_bytes(), &text[..]].concat())?;
        Ok(Some(
            "Qwen Code would run this prompt as its own slash command: csd put a zero-width space (U+200B) \
             before it so the model gets it as text; to run a command use csd-send --command"
                .into(),
        ))
    }

    fn joined_running_turn(&self, path: &Path, since: u64, prompt: &[u8]) -> Result<bool> {
        transcript::steered(path, since, prompt)
    }

    /// Ctrl-U and Ctrl-K (Qwen Code's kill-line keys) pairwise, then a
    /// look at the input box until it shows its placeholder again.
    fn clear_input(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<bool>> {
        tmux.send_keys(name, &crate::harness::clear_keys(prompt))?;
        let until = Instant::now() + CLEAR_WAIT;
        loop {
            let empty = input_box_text(&tmux.capture(name, false)?).map(|t| t.is_empty());
            if empty != Some(false) || Instant::now() >= until {
                return Ok(empty);
            }
            crate::signals::sleep(Duration::from_millis(25))?;
        }
    }

    fn quit(&self, tmux: &Tmux, name: &str) -> Result<()> {
        tmux.send_text(name, "/quit")?;
        crate::signals::sleep(QUIT_SETTLE)?;
        tmux.send_keys(name, &["Enter"])
    }

    fn stop_grace(&self) -> Duration {
        STOP_GRACE
    }

    fn transcript_path(&self, meta: &Meta, home: &Path) -> Option<PathBuf> {
        if let Some(p) = meta.extra_str("transcript_path").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        (!meta.cwd.is_empty()).then(|| Self::default_transcript(home, &meta.cwd, &meta.session_id))
    }

    fn transcript_pattern(&self, meta: &Meta, home: &Path) -> Option<String> {
        Some(Self::default_transcript(home, &meta.cwd, &meta.session_id).to_string_lossy().into_owned())
    }
}

/// How long a large paste may take to show as its placeholder.
const PASTE_LOOK: Duration = Duration::from_secs(3);
/// After the placeholder shows, before Enter may come.
const PASTE_SETTLE: Duration = Duration::from_millis(150);

/// What Qwen Code 0.24.4 shows in its input for a paste of `text` when it
/// is large (over 1000 characters or 10 lines, line ends made `\n`, chars
/// counted as code points); `None` when the paste goes in as it is.
pub fn paste_placeholder(text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text).replace("\r\n", "\n").replace('\r', "\n");
    let chars = text.chars().count();
    let lines = text.split('\n').count();
    (chars > 1000 || lines > 10).then(|| format!("[Pasted Content {chars} chars]"))
}

/// Qwen Code's input box: its placeholder, or a prompt line under a rule.
pub fn input_box_shown(screen: &str) -> bool {
    screen.contains("Type your message")
}

/// What Qwen Code's input box holds, as drawn: the lines between the last
/// two full-width rules, the `* ` prompt mark and the cursor's zero-width
/// space taken off; empty when it shows its placeholder. `None` when no
/// input box is on screen.
pub fn input_box_text(screen: &str) -> Option<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let rule = |l: &&str| l.chars().count() >= 20 && l.chars().all(|c| c == '─');
    let rules: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| rule(l)).map(|(i, _)| i).collect();
    let [.., top, bottom] = rules[..] else { return None };
    let inside = &lines[top + 1..bottom];
    let first = inside.first()?;
    if !first.starts_with(['*', '!', '>']) {
        return None;
    }
    if first.contains("Type your message") {
        return Some(String::new());
    }
    let text: Vec<&str> = inside
        .iter()
        .enumerate()
        .map(|(i, l)| if i == 0 { l.get(1..).unwrap_or("") } else { l })
        .map(|l| l.trim_matches(|c: char| c.is_whitespace() || c == '\u{200b}'))
        .collect();
    Some(text.join("\n").trim().to_string())
}

/// How long cleared text may take to leave the input box.
const CLEAR_WAIT: Duration = Duration::from_secs(2);
/// Between the two looks that must both see text left in the input.
const LEFT_OVER_SECOND_LOOK: Duration = Duration::from_millis(200);

/// Clear text left in the input box (a prompt an Escape put back, or a
/// person's typing) before a paste; one look at the screen when it is empty.
fn clear_left_over(tmux: &Tmux, name: &str) -> Result<()> {
    let Some(text) = input_box_text(&tmux.capture(name, false)?).filter(|t| !t.is_empty()) else { return Ok(()) };
    crate::signals::sleep(LEFT_OVER_SECOND_LOOK)?;
    if input_box_text(&tmux.capture(name, false)?).is_none_or(|t| t.is_empty()) {
        return Ok(());
    }
    if Qwen.clear_input(tmux, name, text.as_bytes())? == Some(false) {
        return Err(failed(format!("worker '{name}': its input holds text that csd could not clear")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_add_csd_hooks_to_the_operators() {
        let theirs = r#"{"hooks": {"Stop": [{"matcher": "", "hooks": [{"type": "command", "command": "mine"}]}]},
            "ui": {"theme": "dark", "enableFollowupSuggestions": true}, "model": {"name": "m"}}"#;
        let s = Qwen::settings(Some(theirs), "'/x y/csd-hook'").unwrap();
        let stop = s["hooks"]["Stop"].as_array().unwrap();
        assert_eq!(stop.len(), 2, "{s}");
        assert_eq!(stop[0]["hooks"][0]["command"], "mine");
        assert_eq!(stop[1]["hooks"][0]["command"], "'/x y/csd-hook'");
        for ev in HOOK_EVENTS {
            assert!(s["hooks"][ev].as_array().is_some_and(|g| !g.is_empty()), "{ev}");
        }
        assert_eq!(s["ui"]["theme"], "dark");
        assert_eq!(s["ui"]["enableFollowupSuggestions"], false);
        assert_eq!(s["security"]["folderTrust"]["enabled"], false);
        assert_eq!(s["model"]["name"], "m");
        assert!(Qwen::settings(Some("[1]"), "h").is_err());
        assert!(Qwen::settings(None, "h").unwrap()["hooks"]["SessionStart"].is_array());
    }

    #[test]
    fn project_dir_names_match_qwen_code() {
        assert_eq!(Qwen::project_dir_name("/tmp/qp/work"), "-tmp-qp-work");
        assert_eq!(Qwen::project_dir_name("/a.b_c é😀"), "-a-b-c----");
    }

    #[test]
    fn knows_which_pastes_become_a_placeholder() {
        assert_eq!(paste_placeholder(b"short"), None);
        assert_eq!(paste_placeholder("x\n".repeat(9).as_bytes()), None);
        assert_eq!(paste_placeholder("x\n".repeat(10).as_bytes()).as_deref(), Some("[Pasted Content 20 chars]"));
        assert_eq!(paste_placeholder("é".repeat(1001).as_bytes()).as_deref(), Some("[Pasted Content 1001 chars]"));
        assert_eq!(paste_placeholder("a\r\n".repeat(11).as_bytes()).as_deref(), Some("[Pasted Content 22 chars]"));
    }

    #[test]
    fn reads_what_the_input_box_holds() {
        let rule = "─".repeat(40);
        let empty =
            format!("  ◆︎ DONE\n{rule}\n*   Type your message or @path/to/file\n{rule}\n  ➜ project · mock-model\n");
        assert_eq!(input_box_text(&empty).as_deref(), Some(""));
        let put_back =
            format!("  > First.\n{rule}\n* SLEEP: 4\n  SAY: slow \u{200b}\n{rule}\n  ➜ project\n  YOLO mode\n");
        assert_eq!(input_box_text(&put_back).as_deref(), Some("SLEEP: 4\nSAY: slow"));
        assert_eq!(input_box_text("  .. Initializing..."), None);
        assert_eq!(input_box_text(&format!("{rule}\n  Which one?\n{rule}\n")), None);
    }

    #[test]
    fn sees_the_input_box() {
        assert!(input_box_shown("────\n*   Type your message or @path/to/file\n────"));
        assert!(!input_box_shown("  .. Initializing..."));
    }
}
