//! Pi (`@mariozechner/pi-coding-agent`): Pi mints its own session id, has no
//! hooks but loads csd's TypeScript extension (`pi -e`), which writes the
//! events and registers the worker's meta itself. Each worker gets a private
//! agent dir (`PI_CODING_AGENT_DIR`) with the operator's auth, models and
//! settings copied in; its session file goes where the operator's own Pi puts
//! sessions for that directory, so it outlives the worker. Measured facts
//! behind every choice here: docs/harness-pi.md.

pub mod selftest;
pub mod transcript;

use crate::error::{failed, Context, Error, Result};
use crate::event::EventKind;
use crate::eventlog::EventLog;
use crate::harness::{user_home, Harness, IdStrategy, Launch, Mode};
use crate::tmux::Tmux;
use crate::watch::{Wake, Watch};
use crate::worker::{list_metas, Meta};
use crate::workerdir::WorkerDir;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Pi;

/// Put before a prompt Pi would otherwise run as a command; the extension
/// (pi-extension/index.ts, `TEXT_MARK` there too) takes it off again.
pub const TEXT_MARK: &str = "[csd:text]";

/// Whether Pi's editor is empty: its last two full-width rules (`─` only)
/// touch. `None` when the screen shows fewer than two.
pub fn editor_empty(screen: &str) -> Option<bool> {
    let rules: Vec<usize> = screen
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && l.chars().all(|c| c == '─'))
        .map(|(i, _)| i)
        .collect();
    match rules.as_slice() {
        [.., a, b] => Some(b - a == 1),
        _ => None,
    }
}

/// The extension, built into csd and written into each worker's agent dir,
/// so a worker never depends on where csd's sources were installed.
pub const EXTENSION_SOURCE: &str = include_str!("../../../pi-extension/index.ts");
pub const EXTENSION_FILE: &str = "csd-extension.ts";

/// Copied from the operator's agent dir when present. All are private: auth
/// holds tokens, and models.json and settings.json may hold API keys.
pub const CARRIED_FILES: [&str; 3] = ["auth.json", "models.json", "settings.json"];

/// Shared with the operator by a link, when present: what makes a worker's Pi
/// the operator's Pi (global extensions, skills, prompts, themes, context and
/// system-prompt files, keys), fd and rg (else each worker downloads them),
/// and git packages (else each worker clones them). Pi only reads these while
/// it runs a worker; stop removes the links, never what they point at.
pub const SHARED_ENTRIES: [&str; 11] = [
    "bin",
    "git",
    "extensions",
    "skills",
    "prompts",
    "themes",
    "tools",
    "AGENTS.md",
    "SYSTEM.md",
    "APPEND_SYSTEM.md",
    "keybindings.json",
];

/// How often to look again while waiting for registration, besides the
/// worker dir's inotify wake-ups (a backstop, not the mechanism).
const LOOK: Duration = Duration::from_secs(1);

impl Pi {
    /// The operator's Pi agent dir: `$PI_CODING_AGENT_DIR`, else `~/.pi/agent`.
    pub fn operator_agent_dir() -> Result<PathBuf> {
        match std::env::var_os("PI_CODING_AGENT_DIR").filter(|v| !v.is_empty()) {
            Some(d) => Ok(PathBuf::from(d)),
            None => Ok(user_home()?.join(".pi").join("agent")),
        }
    }

    /// Where the operator's Pi keeps sessions for `cwd`:
    /// `$PI_CODING_AGENT_SESSION_DIR` as is, else
    /// `<agent dir>/sessions/--<cwd, leading / dropped, / and : as ->--`.
    pub fn operator_session_dir(cwd: &Path) -> Result<PathBuf> {
        if let Some(d) = std::env::var_os("PI_CODING_AGENT_SESSION_DIR").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(d));
        }
        Ok(Self::operator_agent_dir()?.join("sessions").join(Self::session_dir_name(&cwd.to_string_lossy())))
    }

    pub fn session_dir_name(cwd: &str) -> String {
        let trimmed = cwd.strip_prefix(['/', '\\']).unwrap_or(cwd);
        format!("--{}--", trimmed.replace(['/', '\\', ':'], "-"))
    }

    /// The worker's registered meta (it has minted its id), if any yet.
    pub fn registered(dir: &WorkerDir, name: &str) -> Result<Option<Meta>> {
        Ok(list_metas(dir)?.into_iter().find(|m| m.tmux_name == name && m.harness.as_str() == "pi"))
    }
}

impl Harness for Pi {
    fn name(&self) -> &'static str {
        "pi"
    }

    fn title(&self) -> &'static str {
        "Pi"
    }

    fn package(&self) -> &'static str {
        "npm install -g @mariozechner/pi-coding-agent"
    }

    fn transcript_format(&self) -> &'static dyn crate::transcript::Format {
        &transcript::PiTranscript
    }

    fn line_usage<'a>(&self, line: &'a serde_json::Value) -> crate::tokens::LineUsage<'a> {
        transcript::usage(line).map_or(crate::tokens::LineUsage::None, crate::tokens::LineUsage::Add)
    }

    fn session_args(&self) -> crate::harness::SessionArgs {
        crate::harness::SessionArgs {
            options: &["--session", "--session-dir", "--continue", "-c", "--resume", "-r", "--fork", "--no-session"],
            words: &[],
            instead: "--adopt resumes a session",
        }
    }

    fn self_test(&self) -> crate::harness::SelfTest {
        selftest::self_test()
    }

    fn launch_note(&self) -> &'static str {
        "Pi (pi) mints its own session id: csd-launch writes a NAME.harness marker instead of a meta, gives the \
worker a private agent dir under $CSD_WORKER_DIR/homes/NAME/ with the operator's auth copied in, and csd's \
extension (pi-extension/) registers the worker's meta at start-up and writes its events. Pi writes its session \
file to the operator's own session dir for CWD, outside the private home. csd-stop(1) removes the home, never the \
session."
    }

    fn adopt_note(&self) -> &'static str {
        "with pi --session SID (its session file in the operator's Pi session dir for CWD)"
    }

    fn variables(&self) -> &'static [(&'static str, &'static str)] {
        &[("CSD_PI_MODEL", "the model of a Pi worker")]
    }

    fn ids(&self) -> IdStrategy {
        IdStrategy::Mint
    }

    /// `pi --session <id>` resumes a session from the operator's session dir.
    fn supports_adopt(&self) -> bool {
        true
    }

    fn home(&self, dir: &WorkerDir, name: &str) -> Result<PathBuf> {
        Ok(dir.home_path(name))
    }

    fn prepare(&self, launch: &Launch) -> Result<()> {
        let home = &launch.home;
        launch.dir.make_home(launch.name)?;
        let operator = Self::operator_agent_dir()?;
        for file in CARRIED_FILES {
            match fs::read(operator.join(file)) {
                Ok(data) => launch.dir.write_atomic(&home.join(file), &data, 0o600)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).context(|| format!("reading {}", operator.join(file).display())),
            }
        }
        for entry in SHARED_ENTRIES {
            let target = operator.join(entry);
            if target.exists() {
                let link = home.join(entry);
                let _ = fs::remove_file(&link);
                std::os::unix::fs::symlink(&target, &link).context(|| format!("linking {}", link.display()))?;
            }
        }
        launch.dir.write_atomic(&home.join(EXTENSION_FILE), EXTENSION_SOURCE.as_bytes(), 0o600)
    }

    fn env_pins(&self, launch: &Launch) -> Vec<(String, String)> {
        vec![
            ("PI_CODING_AGENT_DIR".into(), launch.home.to_string_lossy().into_owned()),
            // The extension registers the worker under this name.
            ("CSD_TMUX_NAME".into(), launch.name.into()),
            // A fresh agent dir looks like a fresh install: without this every
            // worker would report an install to pi.dev.
            ("PI_TELEMETRY".into(), "0".into()),
            // A worker has no one to read "a new version is out".
            ("PI_SKIP_VERSION_CHECK".into(), "1".into()),
        ]
    }

    fn argv(&self, launch: &Launch) -> Result<Vec<String>> {
        let sessions = Self::operator_session_dir(launch.cwd)?;
        let mut argv = vec![
            crate::harness::binary(self),
            "--session-dir".into(),
            sessions.to_string_lossy().into_owned(),
            "-e".into(),
            launch.home.join(EXTENSION_FILE).to_string_lossy().into_owned(),
        ];
        if let Some(model) = std::env::var("CSD_PI_MODEL").ok().filter(|m| !m.is_empty()) {
            argv.extend(["--model".into(), model]);
        }
        if launch.mode == Mode::Adopt {
            let sid = launch.session_id.ok_or_else(|| failed("adopting a Pi session needs its session id"))?;
            argv.extend(["--session".into(), sid.into()]);
        }
        argv.extend(launch.extra_args.iter().cloned());
        Ok(argv)
    }

    /// Ready once the extension has registered the worker and logged
    /// session_start: Pi starts its TUI (raw mode, bracketed paste) before it
    /// emits session_start, so a prompt pasted after it lands whole.
    fn await_ready(&self, launch: &Launch) -> Result<()> {
        // Until the meta exists only the worker dir can be watched; the path
        // below never exists, so the watch reports the dir's creations.
        let mut watch = Watch::new(&launch.dir.root().join(format!(".{}.registering", launch.name)))?;
        let mut watching_log = false;
        let pane = launch.tmux.pane_pid(launch.name)?;
        if let Some(pid) = pane {
            watch = watch.with_process(pid);
        }
        let mut exited = false;
        loop {
            if let Some(meta) = Self::registered(launch.dir, launch.name)? {
                let log = EventLog::new(launch.dir.events_path(&meta.session_id));
                let from = match launch.mode {
                    Mode::Adopt if launch.session_id == Some(meta.session_id.as_str()) => launch.events_baseline,
                    _ => 0,
                };
                let mut started = false;
                log.read_from(from.min(log.end()?), |kind, _| {
                    started = kind == EventKind::SessionStart;
                    Ok(!started)
                })?;
                if started {
                    return Ok(());
                }
                if !watching_log {
                    watch = Watch::new(log.path())?;
                    if let Some(pid) = pane {
                        watch = watch.with_process(pid);
                    }
                    watching_log = true;
                }
            }
            if exited || launch.tmux.pane_dead(launch.name) != Some(false) {
                return Err(failed("pi exited before it was ready"));
            }
            let now = Instant::now();
            if now >= launch.start_deadline {
                return Err(Error::Timeout(
                    "pi did not register and report session_start in time (is csd's extension loading?)".into(),
                ));
            }
            if watch.wait(Some((now + LOOK).min(launch.start_deadline)))? == Wake::ProcessExited {
                exited = true;
                // Its last events may still be landing: read once more first.
                crate::signals::sleep(Duration::from_millis(50))?;
            }
        }
    }

    /// Pi 0.73.1 trims a submitted line, then runs `!…` in bash and `/…` as
    /// its own or an extension's command, before any extension sees it.
    /// Such a prompt goes in behind `TEXT_MARK`, which csd's extension
    /// removes in its `input` handler (a transform): the model gets the
    /// prompt as it was. (Pi still expands the operator's own prompt
    /// templates, `/name`, after that.)
    fn put_prompt(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<String>> {
        let text = String::from_utf8_lossy(prompt);
        if text.trim_start().starts_with(['!', '/']) {
            return self.paste(tmux, name, &[TEXT_MARK.as_bytes(), prompt].concat()).map(|_| None);
        }
        self.paste(tmux, name, prompt).map(|_| None)
    }

    /// `clear_keys` (Pi's Ctrl-C would clear too, but twice on an empty
    /// editor it quits); the editor is empty when its two rules touch.
    fn clear_input(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<bool>> {
        tmux.send_keys(name, &crate::harness::clear_keys(prompt))?;
        let until = Instant::now() + Duration::from_secs(1);
        loop {
            let empty = editor_empty(&tmux.capture(name, false)?);
            if empty != Some(false) || Instant::now() >= until {
                return Ok(empty);
            }
            crate::signals::sleep(Duration::from_millis(25))?;
        }
    }

    /// `/quit` works idle and mid-turn, and Pi then reports session_shutdown
    /// (our session_end). tmux's kill-session (SIGHUP) would skip it.
    fn quit(&self, tmux: &Tmux, name: &str) -> Result<()> {
        tmux.send_text(name, "/quit")?;
        tmux.send_keys(name, &["Enter"])
    }

    fn stop_grace(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn transcript_pattern(&self, meta: &Meta, _home: &Path) -> Option<String> {
        let dir = Self::operator_session_dir(Path::new(&meta.cwd)).ok()?;
        Some(format!("{}/*_{}.jsonl", dir.display(), meta.session_id))
    }

    /// The extension records the session file in the meta; a meta written
    /// by adopt does not have it yet, so look where Pi names files
    /// (`<time>_<session id>.jsonl` in the operator's session dir for the cwd).
    fn transcript_path(&self, meta: &Meta, _home: &Path) -> Option<PathBuf> {
        if let Some(p) = meta.extra_str("transcript_path").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        if meta.cwd.is_empty() {
            return None;
        }
        let dir = Self::operator_session_dir(Path::new(&meta.cwd)).ok()?;
        let suffix = format!("_{}.jsonl", meta.session_id);
        let mut found: Vec<PathBuf> = fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(&suffix)))
            .map(|e| e.path())
            .collect();
        found.sort();
        found.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_an_empty_editor() {
        let rule = "─".repeat(30);
        assert_eq!(editor_empty(&format!("hi\n{rule}\n{rule}\n/tmp/p\n")), Some(true));
        assert_eq!(editor_empty(&format!("{rule}\nleft over\n{rule}\n")), Some(false));
        assert_eq!(editor_empty("no editor"), None);
    }

    #[test]
    fn session_dir_names_match_pi() {
        // pi 0.73.1 getDefaultSessionDir: drop one leading separator, then / \ : become -.
        assert_eq!(Pi::session_dir_name("/tmp/pistudy/proj"), "--tmp-pistudy-proj--");
        assert_eq!(Pi::session_dir_name("/a:b/c.d e"), "--a-b-c.d e--");
        assert_eq!(Pi::session_dir_name("/"), "----");
    }

    #[test]
    fn the_extension_is_built_in() {
        assert!(EXTENSION_SOURCE.contains("export default function"));
    }
}
