//! Claude Code: csd assigns the session id, hooks come from a plugin dir,
//! the workspace-trust dialog is answered by its digit, and the SessionStart
//! hook is the proof of life.

pub mod selftest;
pub mod transcript;
pub mod turn;

use crate::error::{failed, Error, Result};
use crate::event::EventKind;
use crate::eventlog::EventLog;
use crate::harness::{user_home, Harness, IdStrategy, Launch, Mode};
use crate::tmux::Tmux;
use crate::watch::{Wake, Watch};
use crate::worker::Meta;
use crate::workerdir::WorkerDir;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Claude;

/// Provider switches Claude Code reads from its environment. A new tmux
/// session inherits the tmux *server's* global environment, so a stale
/// `CLAUDE_CODE_USE_BEDROCK=1` there would move a worker to another provider;
/// each is pinned empty unless this process has a value for it (then it is
/// left to travel with its credentials).
const PROVIDER_SWITCHES: [&str; 6] = [
    "CLAUDE_CODE_PROVIDER_MANAGED_BY_HOST",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_USE_ANTHROPIC_AWS",
    "CLAUDE_CODE_USE_MANTLE",
];

/// Always pinned empty: the IDE port would attach the worker to the
/// controller's IDE; a session id in the environment overrides
/// `--session-id` (the worker would write into the controller's transcript);
/// the child-session mark turns transcript writing off.
const ALWAYS_EMPTY: [&str; 3] = ["CLAUDE_CODE_SSE_PORT", "CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_CHILD_SESSION"];

/// The hooks the plugin registers; each runs csd-hook. Besides the six
/// lifecycle events: StopFailure (fired instead of Stop when a model request
/// failed), PermissionRequest and Elicitation (a dialog opens: the worker
/// waits on a person), Notification (the same, 6 s later, as a backstop).
pub const HOOK_EVENTS: [&str; 10] = [
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "Stop",
    "SessionEnd",
    "StopFailure",
    "PermissionRequest",
    "Elicitation",
    "Notification",
];

/// Printed by Claude Code when `--dangerously-skip-permissions` meets uid 0.
const ROOT_REFUSAL: &str = "cannot be used with root/sudo privileges";

const TRUST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the pane is looked at while the trust dialog may still appear.
const TRUST_LOOK: Duration = Duration::from_millis(200);
/// And afterwards, until the worker is up (a slow machine can draw it late).
const LATE_LOOK: Duration = Duration::from_secs(1);

/// A plugin subdir, 0755 whatever the umask (under umask 000 it would be
/// 0777: anyone could swap the hooks). One of ours an older csd left wider
/// is narrowed; a `CSD_PLUGIN_DIR`'s own dirs are left as they are.
fn make_plugin_subdir(path: &Path, ours: bool) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|e| Error::Io(format!("creating {}", path.display()), e))?;
    if ours {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::Io(format!("setting mode of {}", path.display()), e))?;
    }
    Ok(())
}

impl Claude {
    /// `$CSD_PLUGIN_DIR`, or the plugin csd-launch writes into the worker dir.
    pub fn plugin_dir(dir: &WorkerDir) -> (PathBuf, bool) {
        match std::env::var_os("CSD_PLUGIN_DIR").filter(|v| !v.is_empty()) {
            Some(p) => (PathBuf::from(p), false),
            None => (dir.root().join("plugin"), true),
        }
    }

    /// Write `<worker_dir>/plugin/`: a manifest and hooks that send every
    /// lifecycle event to `hook_bin`. Each file is replaced atomically, so a
    /// worker starting meanwhile reads the old file or the new one.
    pub fn write_plugin(dir: &WorkerDir, root: &Path, hook_bin: &Path) -> Result<()> {
        let command = crate::harness::hook_shell_command(hook_bin)?;
        let mut hooks = serde_json::Map::new();
        for ev in HOOK_EVENTS {
            hooks.insert(ev.into(), json!([{"matcher": "*", "hooks": [{"type": "command", "command": command}]}]));
        }
        // The name of the plugin this repository ships: with an installed csd
        // plugin, Claude Code lets this --plugin-dir copy replace it for the
        // session; under another name both would run and log every event twice.
        let manifest = json!({
            "name": "csd",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Reports a csd worker's lifecycle events to csd-hook",
        });
        let ours = root == dir.root().join("plugin");
        if ours {
            // Ours: held to the worker dir's rules (not a symlink, not writable by others).
            dir.subdir("plugin")?;
        }
        for sub in [".claude-plugin", "hooks"] {
            make_plugin_subdir(&root.join(sub), ours)?;
        }
        let pretty = |v: &serde_json::Value| serde_json::to_vec_pretty(v).expect("a JSON value always serializes");
        dir.write_atomic(&root.join(".claude-plugin/plugin.json"), &pretty(&manifest), 0o644)?;
        dir.write_atomic(&root.join("hooks/hooks.json"), &pretty(&json!({ "hooks": hooks })), 0o644)
    }

    /// Claude Code's project directory name: every UTF-16 unit that is not an
    /// ASCII letter or digit becomes `-`; a name over 200 units is cut there
    /// and suffixed with a base-36 hash of the whole path (as Claude Code 2.1
    /// does). The hook records the real path in the meta; this is the fallback.
    pub fn project_dir_name(cwd: &str) -> String {
        const MAX: usize = 200;
        let units: Vec<u16> = cwd.encode_utf16().collect();
        let name: String = units
            .iter()
            .map(|&u| if u < 128 && (u as u8).is_ascii_alphanumeric() { u as u8 as char } else { '-' })
            .collect();
        if name.len() <= MAX {
            return name;
        }
        let hash = units.iter().fold(0i32, |h, &u| h.wrapping_shl(5).wrapping_sub(h).wrapping_add(u as i32));
        format!("{}-{}", &name[..MAX], base36((hash as i64).unsigned_abs()))
    }

    /// `<config>/projects/<cwd as a dir name>/<sid>.jsonl`, where config is
    /// `$CLAUDE_CONFIG_DIR` when set, else `<home>/.claude`.
    pub fn default_transcript(home: &Path, cwd: &str, sid: &str) -> PathBuf {
        let config = match std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => home.join(".claude"),
        };
        config.join("projects").join(Self::project_dir_name(cwd)).join(format!("{sid}.jsonl"))
    }
}

impl Harness for Claude {
    fn name(&self) -> &'static str {
        "claude"
    }

    fn title(&self) -> &'static str {
        "Claude Code"
    }

    fn package(&self) -> &'static str {
        "npm install -g @anthropic-ai/claude-code"
    }

    fn transcript_format(&self) -> &'static dyn crate::transcript::Format {
        &transcript::ClaudeTranscript
    }

    fn line_usage<'a>(&self, line: &'a serde_json::Value) -> crate::tokens::LineUsage<'a> {
        use crate::tokens::LineUsage;
        match transcript::usage(line) {
            Some((Some(id), tokens)) => LineUsage::Message(id, tokens),
            Some((None, tokens)) => LineUsage::Add(tokens),
            None => LineUsage::None,
        }
    }

    fn session_args(&self) -> crate::harness::SessionArgs {
        crate::harness::SessionArgs {
            options: &["--session-id", "--resume", "-r", "--continue", "-c", "--fork-session", "--from-pr"],
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
        payload: &serde_json::Map<String, serde_json::Value>,
    ) -> Option<Vec<crate::event::Event>> {
        turn::hook_events(hook, ts, payload)
    }

    fn self_test(&self) -> crate::harness::SelfTest {
        selftest::self_test()
    }

    fn launch_note(&self) -> &'static str {
        "Claude Code (claude): csd assigns the session id (a random UUID v4, passed as --session-id) and writes the \
worker's meta before the pane starts, so its first hook is recorded. Hooks reach csd-hook(1) through a plugin \
directory csd writes into the worker dir (plugin/; CSD_PLUGIN_DIR names another). Claude Code runs with \
--dangerously-skip-permissions. The workspace-trust dialog, when it shows, is answered by typing the digit of its \
\"Yes, I trust\" option: never a bare Enter, which picks \"No, exit\" in newer versions. The worker is ready when \
its SessionStart hook reports in. The provider environment is scrubbed for the pane: the IDE port and any \
inherited Claude session identity are pinned empty, and so is each provider switch (CLAUDE_CODE_USE_BEDROCK and \
the like) that csd-launch's own environment does not set."
    }

    fn adopt_note(&self) -> &'static str {
        "with claude --resume SID (its transcript under ~/.claude/projects/)"
    }

    fn variables(&self) -> &'static [(&'static str, &'static str)] {
        &[("CSD_PLUGIN_DIR", "a Claude Code plugin dir to use instead of the one csd writes")]
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
        let (root, ours) = Self::plugin_dir(launch.dir);
        if ours {
            Self::write_plugin(launch.dir, &root, &launch.hook_bin)?;
        } else if !root.join("hooks").is_dir() {
            return Err(failed(format!("CSD_PLUGIN_DIR={} has no hooks/ directory", root.display())));
        }
        Ok(())
    }

    fn env_pins(&self, launch: &Launch) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = ALWAYS_EMPTY.iter().map(|k| (k.to_string(), String::new())).collect();
        for k in PROVIDER_SWITCHES {
            if std::env::var_os(k).is_none_or(|v| v.is_empty()) {
                env.push((k.into(), String::new()));
            }
        }
        // The transcript is found under this HOME (or CLAUDE_CONFIG_DIR): the
        // pane must use the same, whatever the tmux server's environment says.
        env.push(("HOME".into(), launch.home.to_string_lossy().into_owned()));
        if let Some(v) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|v| !v.is_empty()) {
            env.push(("CLAUDE_CONFIG_DIR".into(), v.to_string_lossy().into_owned()));
        }
        // Claude Code accepts --dangerously-skip-permissions as root only with
        // IS_SANDBOX=1; the user's say-so travels to the pane.
        if let Some(v) = std::env::var_os("IS_SANDBOX") {
            env.push(("IS_SANDBOX".into(), v.to_string_lossy().into_owned()));
        }
        env
    }

    fn argv(&self, launch: &Launch) -> Result<Vec<String>> {
        let sid = launch.session_id.ok_or_else(|| failed("a Claude worker needs its session id up front"))?;
        let (plugin, _) = Self::plugin_dir(launch.dir);
        let id_flag = match launch.mode {
            Mode::Launch => "--session-id",
            Mode::Adopt => "--resume",
        };
        let mut argv = vec![
            crate::harness::binary(self),
            id_flag.into(),
            sid.into(),
            "--plugin-dir".into(),
            plugin.to_string_lossy().into_owned(),
            "--settings".into(),
            r#"{"skipDangerousModePermissionPrompt":true}"#.into(),
            "--dangerously-skip-permissions".into(),
        ];
        argv.extend(launch.extra_args.iter().cloned());
        Ok(argv)
    }

    fn await_ready(&self, launch: &Launch) -> Result<()> {
        let sid = launch.session_id.ok_or_else(|| failed("a Claude worker needs its session id up front"))?;
        let log = EventLog::new(launch.dir.events_path(sid));
        let trust_until = Instant::now() + crate::knobs::millis("CSD_TRUST_TIMEOUT_MS", TRUST_TIMEOUT)?;
        let mut watch = Watch::new(log.path())?;
        if let Some(pid) = launch.tmux.pane_pid(launch.name)? {
            watch = watch.with_process(pid);
        }
        let mut offset = launch_baseline(launch, &log)?;
        let mut answered = false;
        let mut exited = false;
        loop {
            let mut started = false;
            offset = log.read_from(offset, |kind, _| {
                started = kind == EventKind::SessionStart;
                Ok(!started)
            })?;
            if started {
                await_input_box(launch);
                return Ok(());
            }
            if exited || launch.tmux.pane_dead(launch.name) != Some(false) {
                return Err(exited_early(launch.tmux, launch.name));
            }
            if !answered {
                let screen = launch.tmux.capture(launch.name, false).unwrap_or_default();
                if let Some(digit) = trust_choice(&screen) {
                    // Never a bare Enter: newer versions highlight "No, exit".
                    launch.tmux.send_keys(launch.name, &[&digit])?;
                    answered = true;
                }
            }
            let now = Instant::now();
            if now >= launch.start_deadline {
                return Err(Error::Timeout("the worker did not report session_start in time".into()));
            }
            let look = if answered {
                LATE_LOOK * 2
            } else if now < trust_until {
                TRUST_LOOK
            } else {
                LATE_LOOK
            };
            if watch.wait(Some((now + look).min(launch.start_deadline)))? == Wake::ProcessExited {
                exited = true;
                // Its last hook may still be landing: read the log once more first.
                crate::signals::sleep(Duration::from_millis(50))?;
            }
        }
    }

    /// Claude Code 2.1 lists queued prompts above its input and shows this
    /// in the (then empty) input.
    fn shows_queued(&self, screen: &str) -> bool {
        // In the input box itself: the words may linger higher up the
        // screen after the queue has drained.
        let lines: Vec<&str> = screen.lines().collect();
        let rule = |l: &str| l.starts_with('─');
        (1..lines.len())
            .rev()
            .find(|&i| rule(lines[i - 1]) && lines[i].starts_with(['❯', '!']))
            .is_some_and(|i| lines[i].contains("Press up to edit queued messages"))
    }

    fn enqueued(&self, path: &Path, since: u64, prompt: &[u8]) -> Result<bool> {
        transcript::enqueued(path, since, prompt)
    }

    fn joined_running_turn(&self, path: &Path, since: u64, prompt: &[u8]) -> Result<bool> {
        transcript::queued_into_turn(path, since, prompt)
    }

    /// The paste carries its own brackets. tmux brackets a paste only once
    /// the program has asked for bracketed paste, and a resumed Claude Code
    /// (adopt) asks after its SessionStart hook: a multi-line prompt pasted in
    /// between arrived as keystrokes, each newline submitting one line as its
    /// own prompt. Claude Code reads the markers either way.
    ///
    /// A turn interrupted before the model said anything leaves its prompt
    /// in the input box (Claude Code puts it back for editing): pasted after
    /// it, the new prompt would be sent joined to the old. It is cleared
    /// first (`clear_put_back_prompt`).
    fn paste(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<()> {
        clear_put_back_prompt(tmux, name)?;
        tmux.paste_raw(name, &crate::harness::bracketed(prompt))
    }

    /// Claude Code 2.1.197 (measured, and read in its source): a `!` that
    /// lands at the start of an empty input switches it to shell mode and
    /// the line runs in bash, model-less; at submit, a prompt starting with
    /// `/` is a slash command (`/compact now` compacts), and one that is only
    /// `exit`, `quit`, `:q`, `:q!`, `:wq` or `:wq!` quits the CLI; an input of
    /// just `?` opens the shortcuts. `#`, `@`, `&` are text.
    ///
    /// A `!` prompt is pasted behind a guard byte (`x!…`: the input is not
    /// empty when the `!` lands, so it stays a prompt), Home walks the
    /// cursor back to the very start (each Home at a line's start goes up a
    /// line) and Delete removes the guard: the model gets the prompt byte for
    /// byte. The submit-time ones cannot be escaped in the TUI: they get a
    /// zero-width space (U+200B) in front, which Claude Code's trim keeps.
    fn put_prompt(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<String>> {
        let text = crate::harness::strip_paste_markers(prompt);
        let walk = home_walk(&text);
        if !submit_time_command(&text) && (text.first() != Some(&b'!') || walk.is_some()) {
            let Some(walk) = walk.filter(|_| text.first() == Some(&b'!')) else {
                self.paste(tmux, name, &text)?;
                close_mention_popup(tmux, name, &text)?;
                return Ok(None);
            };
            self.paste(tmux, name, &[b"x", &text[..]].concat())?;
            // A busy Claude Code (just past its trust dialog) takes a while
            // to draw the paste; keys sent before it has are read against
            // the input as it was.
            await_input_line(tmux, name, "x!")?;
            for _ in 0..walk {
                // One at a time: Claude Code moves from the cursor it last drew.
                crate::signals::sleep(KEY_GAP)?;
                tmux.send_keys(name, &["Home"])?;
            }
            crate::signals::sleep(KEY_GAP)?;
            tmux.send_keys(name, &["DC"])?;
            await_input_line(tmux, name, "!")?;
            return Ok(None);
        }
        self.paste(tmux, name, &["\u{200b}".as_bytes(), &text[..]].concat())?;
        Ok(Some(
            "Claude Code would take this prompt as its own command (a leading '/', a word that quits, \
             a long '!' prompt): csd put a zero-width space (U+200B) before it so the model gets it as text; \
             to run a command use csd-send --command"
                .into(),
        ))
    }

    /// Ctrl-U twice a line empties Claude Code's input (Ctrl-L only
    /// redraws; Escape twice clears but interrupts a running turn and, on
    /// an empty input, opens the rewind menu); the screen then shows `❯`
    /// alone between the input box's rules.
    fn clear_input(&self, tmux: &Tmux, name: &str, prompt: &[u8]) -> Result<Option<bool>> {
        paced_clear(tmux, name, crate::harness::clear_keys(&[b"x", prompt].concat()).len())
    }

    fn quit(&self, tmux: &Tmux, name: &str) -> Result<()> {
        tmux.send_text(name, "/exit")?;
        tmux.send_keys(name, &["Enter"])
    }

    fn stop_grace(&self) -> Duration {
        Duration::from_secs(10)
    }

    fn transcript_path(&self, meta: &Meta, home: &Path) -> Option<PathBuf> {
        if let Some(p) = meta.extra_str("transcript_path").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        Some(Self::default_transcript(home, &meta.cwd, &meta.session_id))
    }

    /// The transcript: an interrupt during a tool call shows there first.
    fn turn_witness(&self, worker: &crate::worker::Worker) -> Option<PathBuf> {
        crate::harness::transcript_of(worker).ok().flatten()
    }

    fn settle(&self, worker: &crate::worker::Worker) -> Result<()> {
        turn::settle(worker)
    }

    /// An Escape before the model said anything writes no file: it only
    /// puts the prompt back in the input, which `settle` reads off the
    /// screen. While the log's last event is the prompt, look twice a second.
    fn screen_tick(&self, worker: &crate::worker::Worker) -> Option<Duration> {
        let last = worker.events().last().ok().flatten();
        matches!(last, Some((EventKind::UserPromptSubmit, _))).then_some(turn::SCREEN_TICK)
    }

    /// AskUserQuestion's dialog shows one question at a time, its options
    /// numbered from 1: the option's digit picks it and moves on; after the
    /// last question a form of several shows a review ("1. Submit answers"),
    /// submitted with Enter, while a single question is submitted by its
    /// digit (measured on 2.1.197). Each key is typed only once what it
    /// answers is on screen, or it would land in the next step (or the
    /// input box).
    fn answer(
        &self,
        tmux: &Tmux,
        name: &str,
        block: &crate::verdict::Block,
        picks: &[usize],
        deadline: Instant,
    ) -> Result<()> {
        for (q, &n) in block.questions.iter().zip(picks) {
            let label = &q.options[n - 1].label;
            await_screen(tmux, name, deadline, |s| turn::question_shown(s, &q.question, n, label))?;
            tmux.send_keys(name, &[&n.to_string()])?;
        }
        if block.questions.len() > 1 {
            await_screen(tmux, name, deadline, turn::review_shown)?;
            tmux.send_keys(name, &["Enter"])?;
        }
        Ok(())
    }
}

/// Wait until the pane shows what `shown` looks for (or `deadline` passes).
fn await_screen(tmux: &Tmux, name: &str, deadline: Instant, shown: impl Fn(&str) -> bool) -> Result<()> {
    loop {
        if shown(&tmux.capture(name, false)?) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout(format!("worker '{name}': its question is not on screen")));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn base36(mut n: u64) -> String {
    let mut digits = Vec::new();
    loop {
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    String::from_utf8(digits).expect("ASCII digits")
}

/// Where this launch's events begin: an adopted session may have an old log
/// whose session_start must not count.
fn launch_baseline(launch: &Launch, log: &EventLog) -> Result<u64> {
    match launch.mode {
        Mode::Launch => Ok(0),
        Mode::Adopt => Ok(launch.events_baseline.min(log.end()?)),
    }
}

/// How long, at most, to wait for the input box once SessionStart is in.
const INPUT_BOX_WAIT: Duration = Duration::from_secs(5);

/// Wait (best effort, bounded) until the input box is on screen. SessionStart
/// can come before Claude Code draws its UI and reads the keyboard: measured
/// on a resumed session (adopt), the hook landed ~200 ms before the first
/// frame, and a prompt pasted in between was lost or split at its newlines.
fn await_input_box(launch: &Launch) {
    let until = (Instant::now() + INPUT_BOX_WAIT).min(launch.start_deadline);
    loop {
        let screen = launch.tmux.capture(launch.name, false).unwrap_or_default();
        if input_box_shown(&screen) || Instant::now() >= until {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Between the keys of a cursor walk.
const KEY_GAP: Duration = Duration::from_millis(40);
/// Between the keys that clear the input.
const CLEAR_GAP: Duration = Duration::from_millis(20);

/// How long a paste ending in a mention may take to open its popup.
const POPUP_LOOK: Duration = Duration::from_millis(400);

/// A prompt whose last line has an `@` can leave the cursor on a mention,
/// and Claude Code then shows its file and agent popup, where Enter takes
/// the highlighted pick (`hi @` became `hi @"claude (agent)"`): Escape
/// closes it (with the popup open, Escape is the popup's, not the chat's).
fn close_mention_popup(tmux: &Tmux, name: &str, text: &[u8]) -> Result<()> {
    let last_line = text.rsplit(|&b| b == b'\n').next().unwrap_or_default();
    if !last_line.contains(&b'@') {
        return Ok(());
    }
    let until = Instant::now() + POPUP_LOOK;
    while Instant::now() < until {
        if popup_shown(&tmux.capture(name, false)?) {
            tmux.send_keys(name, &["Escape"])?;
            return Ok(());
        }
        crate::signals::sleep(Duration::from_millis(25))?;
    }
    Ok(())
}

/// How long to wait for the keys to clear a put-back prompt.
const CLEAR_WAIT: Duration = Duration::from_secs(2);
/// Between the two looks that must both see a put-back prompt.
const PUT_BACK_SECOND_LOOK: Duration = Duration::from_millis(300);

/// Clear the input box of a prompt an interrupt put back (see `paste`); a
/// no-op (one look at the screen) otherwise.
///
/// A prompt just submitted is still drawn in the box for a moment, with no
/// sign yet of the turn it starts: the box must hold text on a second look
/// too, and it is cleared with Ctrl-U/Ctrl-K (`clear_keys`), never Ctrl-C,
/// which interrupts a turn that has just begun and puts its prompt back
/// (the next send's paste was then appended to it: a splice of two prompts
/// on the real CLI).
fn clear_put_back_prompt(tmux: &Tmux, name: &str) -> Result<()> {
    let screen = tmux.capture(name, false)?;
    if !turn::prompt_put_back(&screen) {
        return Ok(());
    }
    crate::signals::sleep(PUT_BACK_SECOND_LOOK)?;
    let screen = tmux.capture(name, false)?;
    if !turn::prompt_put_back(&screen) {
        return Ok(());
    }
    // At most a screenful of lines: a pair of keys each.
    paced_clear(tmux, name, 2 * screen.lines().count() + 4)?;
    let until = Instant::now() + CLEAR_WAIT;
    while turn::prompt_put_back(&tmux.capture(name, false)?) {
        if Instant::now() >= until {
            return Err(failed(format!("worker '{name}': its input box holds text that csd could not clear")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    Ok(())
}

/// Empty Claude Code's input with Ctrl-U and Ctrl-K in turn (see
/// `harness::clear_keys`), at most `keys` of them, then a Backspace.
/// One at a time: keys that arrive together are read against the input as
/// it was drawn before the first (a batch of 100 left a put-back prompt
/// whole); the box is looked at every few keys, and the walk stops once it
/// is empty. Returns what the screen then shows (see `input_box_empty`).
fn paced_clear(tmux: &Tmux, name: &str, keys: usize) -> Result<Option<bool>> {
    for i in 0..keys {
        if i % 4 == 0 && input_box_empty(&tmux.capture(name, false)?) == Some(true) {
            break;
        }
        tmux.send_keys(name, &[if i % 2 == 0 { "C-u" } else { "C-k" }])?;
        crate::signals::sleep(CLEAR_GAP)?;
    }
    tmux.send_keys(name, &["BSpace"])?;
    let until = Instant::now() + CLEAR_LOOK;
    loop {
        let empty = input_box_empty(&tmux.capture(name, false)?);
        if empty != Some(false) || Instant::now() >= until {
            return Ok(empty);
        }
        crate::signals::sleep(Duration::from_millis(25))?;
    }
}

/// Whether a mention popup hangs under the input box: the first line after
/// the box's bottom rule is a pick (`+ file`, `* agent`), not the footer.
pub fn popup_shown(screen: &str) -> bool {
    let lines: Vec<&str> = screen.lines().collect();
    let rule = |l: &str| l.starts_with('─');
    let Some(at) = (1..lines.len()).rev().find(|&i| rule(lines[i - 1]) && lines[i].starts_with('❯')) else {
        return false;
    };
    let Some(bottom) = (at + 1..lines.len()).find(|&i| rule(lines[i])) else { return false };
    lines[bottom + 1..]
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.starts_with("+ ") || l.starts_with("* "))
}

/// Wait (at most CLEAR_LOOK, best effort) until the input box's first line
/// starts with `head`.
fn await_input_line(tmux: &Tmux, name: &str, head: &str) -> Result<()> {
    let until = Instant::now() + CLEAR_LOOK;
    let want = format!("❯ {head}");
    while Instant::now() < until {
        if tmux.capture(name, false)?.lines().any(|l| l.starts_with(&want)) {
            return Ok(());
        }
        crate::signals::sleep(Duration::from_millis(20))?;
    }
    Ok(())
}
/// How long a cleared input may take to show empty.
const CLEAR_LOOK: Duration = Duration::from_secs(1);
/// Words Claude Code 2.1.197 takes as "quit" when they are the whole prompt.
const QUIT_WORDS: [&str; 6] = ["exit", "quit", ":q", ":q!", ":wq", ":wq!"];
/// A `!` prompt longer than this many screen lines goes in with a
/// zero-width guard instead of a cursor walk.
const WALK_MAX: usize = 64;

/// Whether Claude Code acts on `text` at submit time, whatever mode the
/// input is in: a slash command, a quit word, the `?` help.
fn submit_time_command(text: &[u8]) -> bool {
    let t = String::from_utf8_lossy(text);
    let t = t.trim();
    t.starts_with('/') || t == "?" || QUIT_WORDS.contains(&t)
}

/// How many Home presses take the cursor from the end of `text` to its
/// start: one per screen line, a line counted as wrapping every 20
/// characters (extra presses at the start do nothing); `None` past WALK_MAX.
fn home_walk(text: &[u8]) -> Option<usize> {
    let t = String::from_utf8_lossy(text);
    let lines: usize = t.split('\n').map(|l| 1 + l.chars().count() / 20).sum();
    (lines <= WALK_MAX).then_some(lines)
}

/// Whether Claude Code's input box is empty: the `❯` line under the box's
/// top rule holds nothing and the bottom rule follows it. `None` when no
/// input box is on screen (a dialog, a pane too small).
pub fn input_box_empty(screen: &str) -> Option<bool> {
    let lines: Vec<&str> = screen.lines().collect();
    let rule = |l: &str| l.starts_with('─');
    let at = (1..lines.len()).rev().find(|&i| rule(lines[i - 1]) && lines[i].starts_with('❯'))?;
    let first = lines[at].trim_start_matches('❯').trim_matches([' ', '\u{a0}']);
    let closed = lines.get(at + 1).is_some_and(|l| rule(l));
    Some(first.is_empty() && closed)
}

/// The prompt line of Claude Code's input box (`❯` at the start of a line).
pub fn input_box_shown(screen: &str) -> bool {
    screen.lines().any(|l| l == "❯" || l.starts_with("❯ ") || l.starts_with("❯\u{a0}"))
}

/// The harness exited during start-up: say why when the screen tells.
fn exited_early(tmux: &Tmux, name: &str) -> Error {
    let screen = tmux.capture(name, true).unwrap_or_default();
    if screen.contains(ROOT_REFUSAL) {
        return failed(
            "Claude Code refuses --dangerously-skip-permissions as root: set IS_SANDBOX=1 in csd-launch's \
             environment (it is passed to the worker) if this machine is a sandbox",
        );
    }
    failed("Claude Code exited before it was ready")
}

/// The digit of the trust dialog's "Yes, I trust" option, when the dialog
/// is on screen (`❯ 1. Yes, I trust this folder`).
pub fn trust_choice(screen: &str) -> Option<String> {
    screen.lines().find_map(|line| {
        let at = line.find("Yes, I trust")?;
        let head = line[..at].trim_end().strip_suffix('.')?;
        let digits: String = head.chars().rev().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty()).then(|| digits.chars().rev().collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_the_input_box() {
        assert!(input_box_shown("╰──╯\n❯ \n────\n  ⏵⏵ bypass permissions on"));
        assert!(!input_box_shown(""));
        assert!(!input_box_shown("Accessing workspace:\n ❯ 1. Yes, I trust this folder"));
    }

    #[test]
    fn knows_an_empty_input_box() {
        let rule = "─".repeat(20);
        assert_eq!(input_box_empty(&format!("● hi\n{rule}\n❯ \n{rule}\n  ⏵⏵ bypass")), Some(true));
        assert_eq!(input_box_empty(&format!("{rule}\n❯ left over\n{rule}\n")), Some(false));
        assert_eq!(input_box_empty(&format!("{rule}\n❯ a\n  b\n{rule}\n")), Some(false));
        assert_eq!(input_box_empty("no box here"), None);
    }

    #[test]
    fn sees_the_queued_sign_only_in_the_input_box() {
        let rule = "─".repeat(20);
        let now = format!("  ❯ p2\n{rule}\n❯ Press up to edit queued messages\n{rule}\n  ⏵⏵ bypass");
        assert!(Claude.shows_queued(&now));
        let stale = format!("❯ Press up to edit queued messages\nReply: p2\n{rule}\n❯ p3\n{rule}\n");
        assert!(!Claude.shows_queued(&stale));
        let shell = format!("{rule}\n! Press up to edit queued messages\n{rule}\n");
        assert!(Claude.shows_queued(&shell));
    }

    #[test]
    fn sees_a_mention_popup() {
        let rule = "─".repeat(20);
        assert!(popup_shown(&format!("{rule}\n❯ hi @\n{rule}\n+ x\n* claude (agent) – Catch-all")));
        assert!(!popup_shown(&format!("{rule}\n❯ hi @\n{rule}\n  ⏵⏵ bypass permissions on")));
        assert!(!popup_shown("nothing"));
    }

    #[test]
    fn knows_what_claude_takes_as_a_command() {
        for t in ["/compact now", "  /clear", "exit", " quit\n", ":wq!", "?"] {
            assert!(submit_time_command(t.as_bytes()), "{t}");
        }
        for t in ["!touch X", "#note", "@file", "&bg", "exit now", "what?", "a/b"] {
            assert!(!submit_time_command(t.as_bytes()), "{t}");
        }
        assert_eq!(home_walk(b"!touch X"), Some(1));
        assert_eq!(home_walk(b"!a\nb\nc"), Some(3));
        assert_eq!(home_walk("x".repeat(5000).as_bytes()), None);
    }

    #[test]
    fn finds_the_trust_digit() {
        let screen = "Accessing workspace:\n\n /tmp/p\n\n ❯ 1. Yes, I trust this folder\n   2. No, exit\n";
        assert_eq!(trust_choice(screen).as_deref(), Some("1"));
        let moved = "   1. No, exit\n ❯ 2. Yes, I trust this folder\n";
        assert_eq!(trust_choice(moved).as_deref(), Some("2"));
        assert_eq!(trust_choice("Yes, I trust you"), None);
        assert_eq!(trust_choice("nothing here"), None);
    }

    #[test]
    fn project_dir_names_match_claude_code() {
        assert_eq!(Claude::project_dir_name("/tmp/cl.proj_x:y é"), "-tmp-cl-proj-x-y--");
        // Over 200 units: cut, plus Math.abs(Java-style hash) in base 36.
        let long = format!("/{}", "a".repeat(250));
        let name = Claude::project_dir_name(&long);
        assert_eq!(name, format!("-{}-feo44x", "a".repeat(199)), "value computed by node from Claude Code's function");
    }
}
