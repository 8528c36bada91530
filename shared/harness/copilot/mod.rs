//! GitHub Copilot CLI (`@github/copilot`, 1.0): csd assigns the session id
//! (`--session-id`), its hooks come from a plugin csd writes into the worker
//! dir and loads with `--plugin-dir` (hook names in PascalCase, so Copilot
//! sends Claude-style payloads: `hook_event_name`, `session_id`), and the
//! folder-trust dialog is answered by `COPILOT_ALLOW_ALL=true`, which trusts
//! the working directory and allows every tool. Everything else is the
//! operator's `~/.copilot` (`COPILOT_HOME`): auth, settings, and the session
//! state, which outlives the worker so `--adopt` can resume it. Copilot CLI
//! is proprietary: csd only runs it. Measured facts behind every choice:
//! docs/harness-copilot.md.

pub mod selftest;
pub mod transcript;
pub mod turn;

use crate::error::{failed, Error, Result};
use crate::harness::{user_home, Harness, IdStrategy, Launch, Mode};
use crate::tmux::Tmux;
use crate::worker::Meta;
use crate::workerdir::WorkerDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Copilot;

/// The hooks csd registers, in PascalCase: Copilot CLI 1.0.102 then sends
/// VS Code / Claude Code shaped payloads (its camelCase names get payloads
/// of its own, with `sessionId` and no `hook_event_name`). The six
/// lifecycle events, and those `turn::hook_events` reads.
pub const HOOK_EVENTS: [&str; 7] =
    ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd", "PostToolUseFailure"];

/// The plugin csd writes into the worker dir (one for every Copilot worker:
/// its hooks run csd-hook, which finds the worker by its session id).
pub const PLUGIN_DIR: &str = "copilot-plugin";

/// Variables the pane gets from csd-launch's environment when set there:
/// the BYOK provider Copilot CLI reads, its offline switch, a token, where
/// its unpacked package is cached, and the proxy settings.
const PASSED_THROUGH: [&str; 22] = [
    "COPILOT_OFFLINE",
    "COPILOT_MODEL",
    "COPILOT_PROVIDER_BASE_URL",
    "COPILOT_PROVIDER_TYPE",
    "COPILOT_PROVIDER_API_KEY",
    "COPILOT_PROVIDER_BEARER_TOKEN",
    "COPILOT_PROVIDER_WIRE_API",
    "COPILOT_PROVIDER_MODEL_ID",
    "COPILOT_PROVIDER_WIRE_MODEL",
    "COPILOT_PROVIDER_MAX_PROMPT_TOKENS",
    "COPILOT_PROVIDER_MAX_OUTPUT_TOKENS",
    "COPILOT_PROVIDER_HEADERS",
    "COPILOT_GITHUB_TOKEN",
    "GH_TOKEN",
    "GH_HOST",
    "XDG_CACHE_HOME",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
];

/// `/exit` ends it in about a second, SessionEnd first.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Between typing `/exit` and pressing Enter: the command popup must have
/// matched it.
const QUIT_SETTLE: Duration = Duration::from_millis(400);
/// How often the start-up screen is looked at.
const LOOK: Duration = Duration::from_millis(100);
/// How long the screen must stay the same, input box shown, to be ready.
const SETTLED: Duration = Duration::from_millis(600);

impl Copilot {
    /// Where Copilot CLI keeps its config and session state:
    /// `$COPILOT_HOME`, else `<home>/.copilot`.
    pub fn copilot_home(home: &Path) -> PathBuf {
        match std::env::var_os("COPILOT_HOME").filter(|v| !v.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => home.join(".copilot"),
        }
    }

    /// `<copilot home>/session-state/<sid>/events.jsonl`.
    pub fn default_transcript(home: &Path, sid: &str) -> PathBuf {
        Self::copilot_home(home).join("session-state").join(sid).join("events.jsonl")
    }

    /// The plugin manifest.
    pub fn plugin_manifest() -> Value {
        json!({
            "name": "csd",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "csd's hooks: every lifecycle event to csd-hook",
            "hooks": "hooks/hooks.json",
        })
    }

    /// The plugin's hooks: every hook in `HOOK_EVENTS` runs `hook_command`
    /// (through bash, as Copilot CLI runs a hook's `bash`).
    pub fn hooks(hook_command: &str) -> Value {
        let entry = json!([{"type": "command", "bash": hook_command, "timeoutSec": 30}]);
        let hooks: serde_json::Map<String, Value> =
            HOOK_EVENTS.iter().map(|h| (h.to_string(), entry.clone())).collect();
        json!({"version": 1, "hooks": hooks})
    }
}

impl Harness for Copilot {
    fn name(&self) -> &'static str {
        "copilot"
    }

    fn title(&self) -> &'static str {
        "GitHub Copilot CLI"
    }

    fn package(&self) -> &'static str {
        "npm install -g @github/copilot"
    }

    fn transcript_format(&self) -> &'static dyn crate::transcript::Format {
        &transcript::CopilotTranscript
    }

    fn usage_needle(&self) -> &'static [u8] {
        b"\"session.usage_record\""
    }

    fn line_usage<'a>(&self, line: &'a Value) -> crate::tokens::LineUsage<'a> {
        transcript::usage(line).map_or(crate::tokens::LineUsage::None, crate::tokens::LineUsage::Add)
    }

    fn session_args(&self) -> crate::harness::SessionArgs {
        crate::harness::SessionArgs {
            options: &["--session-id", "--resume", "-r", "--continue", "--connect"],
            words: &[],
            instead: "launch assigns one, --adopt resumes one",
        }
    }

    fn turn_hooks(&self) -> &'static [&'static str] {
        &turn::TURN_HOOKS
    }

    fn hook_events(
        &self,
        hook: &str,
        ts: &str,
        payload: &serde_json::Map<String, Value>,
    ) -> Option<Vec<crate::event::Event>> {
        turn::hook_events(hook, ts, payload)
    }

    fn self_test(&self) -> crate::harness::SelfTest {
        selftest::self_test()
    }

    fn launch_note(&self) -> &'static str {
        "GitHub Copilot CLI (copilot): csd assigns the session id (a random UUID v4, passed as --session-id) and \
writes the worker's meta before the pane starts. Its hooks reach csd-hook(1) through a plugin csd writes into the \
worker dir (copilot-plugin, loaded with --plugin-dir); the rest (auth, model, the session state) is the operator's \
~/.copilot (COPILOT_HOME). The pane gets COPILOT_ALLOW_ALL=true, which trusts the working directory (no folder-trust \
dialog) and allows every tool, and Copilot CLI runs with --allow-all and --no-auto-update. Its hooks say nothing \
until the first prompt (SessionStart comes with it): the worker is ready when its input box is drawn and the screen \
has settled."
    }

    fn adopt_note(&self) -> &'static str {
        "with copilot --resume=SID (its session state under ~/.copilot/session-state/)"
    }

    fn variables(&self) -> &'static [(&'static str, &'static str)] {
        &[("CSD_COPILOT_MODEL", "the model of a GitHub Copilot CLI worker")]
    }

    fn ids(&self) -> IdStrategy {
        IdStrategy::Assign
    }

    fn supports_adopt(&self) -> bool {
        true
    }

    fn silent_until_prompted(&self) -> bool {
        true
    }

    fn home(&self, _dir: &WorkerDir, _name: &str) -> Result<PathBuf> {
        user_home()
    }

    fn prepare(&self, launch: &Launch) -> Result<()> {
        let hook = crate::harness::hook_shell_command(&launch.hook_bin)?;
        let plugin = launch.dir.subdir(PLUGIN_DIR)?;
        for sub in [".plugin", "hooks"] {
            let path = plugin.join(sub);
            match std::fs::create_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => {}
                Err(e) => return Err(Error::Io(format!("creating {}", path.display()), e)),
            }
        }
        let pretty = |v: &Value| serde_json::to_vec_pretty(v).expect("a JSON value always serializes");
        launch.dir.write_atomic(&plugin.join(".plugin/plugin.json"), &pretty(&Self::plugin_manifest()), 0o644)?;
        // Copilot CLI runs a hook's `bash` through bash.
        let hooks = Self::hooks(&hook);
        launch.dir.write_atomic(&plugin.join("hooks/hooks.json"), &pretty(&hooks), 0o644)
    }

    fn env_pins(&self, launch: &Launch) -> Vec<(String, String)> {
        let mut env = vec![
            ("HOME".to_string(), launch.home.to_string_lossy().into_owned()),
            ("COPILOT_HOME".into(), Self::copilot_home(&launch.home).to_string_lossy().into_owned()),
            // Exactly "true": every tool allowed, and the working directory
            // trusted without the folder-trust dialog (Copilot CLI 1.0.102's
            // `copilot help environment`).
            ("COPILOT_ALLOW_ALL".into(), "true".into()),
        ];
        for var in PASSED_THROUGH {
            if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
                env.push((var.into(), v.to_string_lossy().into_owned()));
            }
        }
        env
    }

    fn argv(&self, launch: &Launch) -> Result<Vec<String>> {
        let sid = launch.session_id.ok_or_else(|| failed("a Copilot CLI worker needs its session id up front"))?;
        let mut argv = vec![crate::harness::binary(self)];
        match launch.mode {
            Mode::Launch => argv.extend(["--session-id".into(), sid.to_string()]),
            Mode::Adopt => argv.push(format!("--resume={sid}")),
        }
        let plugin = launch.dir.root().join(PLUGIN_DIR);
        argv.extend([
            "--allow-all".into(),
            "--no-auto-update".into(),
            "--plugin-dir".into(),
            plugin.to_string_lossy().into_owned(),
        ]);
        if let Some(model) = std::env::var("CSD_COPILOT_MODEL").ok().filter(|m| !m.is_empty()) {
            argv.extend(["--model".into(), model]);
        }
        argv.extend(launch.extra_args.iter().cloned());
        Ok(argv)
    }

    /// Copilot CLI fires no hook before the first prompt (its SessionStart
    /// comes with it), so readiness is its input box on screen, the screen
    /// unchanged for a moment (a resumed session draws its history), and
    /// its session state directory made.
    fn await_ready(&self, launch: &Launch) -> Result<()> {
        let sid = launch.session_id.ok_or_else(|| failed("a Copilot CLI worker needs its session id up front"))?;
        let state = Self::copilot_home(&launch.home).join("session-state").join(sid);
        let mut last = String::new();
        let mut same_since = Instant::now();
        loop {
            if launch.tmux.pane_dead(launch.name) != Some(false) {
                return Err(failed("GitHub Copilot CLI exited before it was ready"));
            }
            let screen = launch.tmux.capture(launch.name, false).unwrap_or_default();
            if screen != last {
                last = screen;
                same_since = Instant::now();
            } else if input_box_text(&last).is_some() && state.is_dir() && same_since.elapsed() >= SETTLED {
                return Ok(());
            }
            if Instant::now() >= launch.start_deadline {
                return Err(Error::Timeout("GitHub Copilot CLI did not show its input box in time".into()));
            }
            crate::signals::sleep(LOOK)?;
        }
    }

    /// An interrupt (Escape twice) puts the turn's prompt back into the
    /// input, and a paste would be joined to it: text left in the input is
    /// cleared first.
    fn paste(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<()> {
        clear_left_over(tmux, name)?;
        tmux.paste(name, &crate::harness::strip_paste_markers(prompt))
    }

    /// `clear_keys`, then a look at the input box until it is empty.
    fn clear_input(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<bool>> {
        tmux.send_keys(name, &clear_keys(prompt))?;
        let until = Instant::now() + CLEAR_WAIT;
        loop {
            let empty = input_box_text(&tmux.capture(name, false)?).map(|t| t.is_empty());
            if empty != Some(false) || Instant::now() >= until {
                return Ok(empty);
            }
            crate::signals::sleep(Duration::from_millis(25))?;
        }
    }

    /// A prompt starting with `/` would run as Copilot CLI's own command: it
    /// gets a zero-width space (U+200B) in front, with a note.
    fn put_prompt(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<String>> {
        let text = crate::harness::strip_paste_markers(prompt);
        if !String::from_utf8_lossy(&text).trim_start().starts_with('/') {
            return self.paste(tmux, name, &text).map(|_| None);
        }
        self.paste(tmux, name, &["\u{200b}".as_bytes(), &text[..]].concat())?;
        Ok(Some(
            "GitHub Copilot CLI would run this prompt as its own slash command: csd put a zero-width space \
             (U+200B) before it so the model gets it as text; to run a command use csd-send --command"
                .into(),
        ))
    }

    fn joined_running_turn(&self, path: &Path, since: u64, prompt: &[u8]) -> Result<bool> {
        transcript::steered(path, since, prompt)
    }

    fn quit(&self, tmux: &Tmux, name: &str) -> Result<()> {
        tmux.send_text(name, "/exit")?;
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
        Some(Self::default_transcript(home, &meta.session_id))
    }

    /// A failed model request fires no Stop; the transcript's
    /// `session.error` line ends the turn (`turn::verdict_of_file`).
    fn turn_witness(&self, worker: &crate::worker::Worker) -> Option<PathBuf> {
        crate::harness::transcript_of(worker).ok().flatten()
    }

    fn settle(&self, worker: &crate::worker::Worker) -> Result<()> {
        let log = worker.events();
        let open = matches!(
            log.last()?,
            Some((
                crate::event::EventKind::UserPromptSubmit
                    | crate::event::EventKind::PreToolUse
                    | crate::event::EventKind::PostToolUse,
                _
            ))
        );
        if !open {
            return Ok(());
        }
        let Some(path) = crate::harness::transcript_of(worker)? else { return Ok(()) };
        let Some((verdict, prompt)) = turn::verdict_of_file(&path) else { return Ok(()) };
        // The transcript lags the hooks: its last error may be the turn's
        // before. The open turn's prompt must be the one that failed.
        let open_digest = log
            .last_matching(|k| k == crate::event::EventKind::UserPromptSubmit)?
            .and_then(|(_, raw)| serde_json::from_slice::<Value>(&raw).ok())
            .and_then(|v| v.get("prompt_digest").and_then(Value::as_str).map(str::to_string));
        if let (Some(open), Some(failed)) = (open_digest, prompt) {
            if open != crate::event::prompt_digest(&failed) {
                return Ok(());
            }
        }
        log.end_open_turn(verdict)?;
        Ok(())
    }

    fn transcript_pattern(&self, meta: &Meta, home: &Path) -> Option<String> {
        Some(Self::default_transcript(home, &meta.session_id).to_string_lossy().into_owned())
    }
}

/// The keys that empty Copilot CLI 1.0.102's input of `text` from wherever
/// the cursor is (measured): its Ctrl-K does not join the next line, nor
/// its Ctrl-U the line above, so each line is emptied and joined by hand:
/// End, Ctrl-U, Backspace once a line up to the first, then Ctrl-K, Delete
/// once a line down to the last. A long line counts as one per 40 bytes;
/// at most 1200 keys.
pub fn clear_keys(text: &[u8]) -> Vec<&'static str> {
    let lines: usize = text.split(|&b| b == b'\n').map(|l| 1 + l.len() / 40).sum();
    let n = (lines + 2).min(200);
    let mut keys: Vec<&str> = ["End", "C-u", "BSpace"].repeat(n);
    keys.extend(["C-k", "Delete"].repeat(n));
    keys
}

/// How long cleared text may take to leave the input box.
const CLEAR_WAIT: Duration = Duration::from_secs(2);
/// Between the two looks that must both see text left in the input.
const LEFT_OVER_SECOND_LOOK: Duration = Duration::from_millis(200);

/// Clear text left in the input box (a prompt an interrupt put back, or a
/// person's typing) before a paste; one look at the screen when it is empty.
fn clear_left_over(tmux: &Tmux, name: &str) -> Result<()> {
    let Some(text) = input_box_text(&tmux.capture(name, false)?).filter(|t| !t.is_empty()) else { return Ok(()) };
    crate::signals::sleep(LEFT_OVER_SECOND_LOOK)?;
    if input_box_text(&tmux.capture(name, false)?).is_none_or(|t| t.is_empty()) {
        return Ok(());
    }
    if Copilot.clear_input(tmux, name, text.as_bytes())? == Some(false) {
        return Err(failed(format!("worker '{name}': its input holds text that csd could not clear")));
    }
    Ok(())
}

/// What Copilot CLI's input box holds, as drawn: the lines between the last
/// two full-width rules, the `❯` prompt mark taken off; empty when it holds
/// nothing. `None` when no input box is on screen (a dialog instead).
pub fn input_box_text(screen: &str) -> Option<String> {
    let lines: Vec<&str> = screen.lines().collect();
    let rule = |l: &&str| {
        let t = l.trim();
        t.chars().count() >= 20 && t.chars().all(|c| c == '─')
    };
    let rules: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| rule(l)).map(|(i, _)| i).collect();
    let [.., top, bottom] = rules[..] else { return None };
    let inside = &lines[top + 1..bottom];
    let first = inside.first()?.trim_start().strip_prefix('❯')?;
    let text: Vec<&str> = std::iter::once(first).chain(inside[1..].iter().copied()).map(str::trim).collect();
    Some(text.join("\n").trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_run_csd_hook_for_every_event() {
        let h = Copilot::hooks("'/x y/csd-hook'");
        assert_eq!(h["version"], 1);
        for ev in HOOK_EVENTS {
            assert_eq!(h["hooks"][ev][0]["bash"], "'/x y/csd-hook'", "{ev}");
            assert_eq!(h["hooks"][ev][0]["type"], "command", "{ev}");
        }
        assert_eq!(Copilot::plugin_manifest()["hooks"], "hooks/hooks.json");
    }

    #[test]
    fn reads_what_the_input_box_holds() {
        let rule = "─".repeat(60);
        let empty =
            format!(" ● MOCK_REPLY_OK\n /tmp/w\n{rule}\n❯\n{rule}\n ← open sidebar · Interactive · / commands\n");
        assert_eq!(input_box_text(&empty).as_deref(), Some(""));
        let typed = format!(" /tmp/w\n{rule}\n❯ SLEEP: 4\n  SAY: slow\n{rule}\n footer\n");
        assert_eq!(input_box_text(&typed).as_deref(), Some("SLEEP: 4\nSAY: slow"));
        let dialog = "╭────╮\n│ Confirm folder trust │\n│ ❯ 1. Yes │\n╰────╯\n";
        assert_eq!(input_box_text(dialog), None);
        assert_eq!(input_box_text("  Copilot v1.0.102"), None);
    }

    #[test]
    fn clear_keys_empty_every_line_both_ways() {
        let keys = clear_keys(b"one\ntwo");
        assert_eq!(keys.len(), 4 * 3 + 4 * 2);
        assert_eq!(&keys[..3], ["End", "C-u", "BSpace"]);
        assert_eq!(&keys[keys.len() - 2..], ["C-k", "Delete"]);
        assert!(clear_keys(&vec![b'x'; 1 << 20]).len() <= 1000);
    }

    #[test]
    fn the_transcript_is_under_copilots_session_state() {
        if std::env::var_os("COPILOT_HOME").is_some() {
            return;
        }
        assert_eq!(
            Copilot::default_transcript(Path::new("/h"), "s-1"),
            PathBuf::from("/h/.copilot/session-state/s-1/events.jsonl")
        );
    }
}
