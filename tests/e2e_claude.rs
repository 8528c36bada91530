//! End to end against the real Claude Code CLI (pinned in tests/e2e), talking
//! to the mock Anthropic API in csd::mock, all inside a loopback-only network
//! namespace: nothing these tests start can reach anything but 127.0.0.1.
//!
//! A missing CLI fails the tests (run `npm install` in tests/e2e); they never skip.

mod common;

use common::*;
use csd::mock::anthropic::{self, Answer, Config, MockAnthropic};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Generous: two cores are shared with other builds, and the CLI is a large binary.
const STARTUP: Duration = Duration::from_secs(60);
const TURN: Duration = Duration::from_secs(60);

fn claude_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/claude");
    assert!(
        cli.exists(),
        "the real Claude Code CLI is missing at {}: run `npm install` in tests/e2e (the version is pinned in \
         tests/e2e/package-lock.json)",
        cli.display()
    );
    cli
}

/// The environment a worker's CLI needs: the mock as its API, and every
/// switch 2.1.197 has for telemetry, update checks, feature-flag fetches and
/// the official-marketplace clone turned off (the netns would block them
/// anyway; this keeps them from being tried). IS_SANDBOX=1 lets root skip
/// permission prompts.
fn claude_env(mock: &MockAnthropic) -> Vec<(&'static str, String)> {
    let mut env = vec![("ANTHROPIC_BASE_URL", mock.base_url()), ("ANTHROPIC_API_KEY", anthropic::API_KEY.to_string())];
    for switch in csd::harness::claude::selftest::SWITCHES {
        env.push((switch, "1".to_string()));
    }
    env
}

/// A throwaway HOME where onboarding is done and the mock's API key approved,
/// but no project is trusted: the real trust dialog is part of the test.
fn seed_home(home: &Path) {
    std::fs::write(
        home.join(".claude.json"),
        csd::harness::claude::selftest::home_config(anthropic::API_KEY).to_string(),
    )
    .unwrap();
}

/// PATH with the csd binaries under test first, as `make install` would have it.
fn path_with_csd() -> String {
    format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default())
}

fn new_session_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap().trim().to_string()
}

fn events(env: &TestEnv, sid: &str) -> Vec<Value> {
    std::fs::read_to_string(env.events_path(sid))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn has_event(env: &TestEnv, sid: &str, kind: &str) -> bool {
    events(env, sid).iter().any(|e| e["event"] == kind)
}

/// The recipe itself, without csd: the real CLI in a tmux pane with the
/// repository's own plugin (hooks run `csd-hook` from PATH), the trust dialog
/// answered, a prompt that makes the mock call Bash, and `/exit`. When this
/// passes and the csd flow fails, csd is wrong.
#[test]
fn the_real_cli_runs_a_tool_turn_against_the_mock() {
    let cli = claude_cli();
    isolate_network();
    let mock = MockAnthropic::start(Config::claude());
    let env = TestEnv::new();
    seed_home(&env.home);
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();

    let sid = new_session_id();
    let meta = json!({"tmux_name": "probe", "session_id": sid, "cwd": project, "harness": "claude"});
    std::fs::write(env.worker_dir.join(format!("{sid}.meta")), meta.to_string()).unwrap();

    let mut new_session = env.tmux();
    new_session.args(["new-session", "-d", "-s", "probe", "-x", "200", "-y", "50", "-c"]).arg(&project);
    for (k, v) in claude_env(&mock)
        .into_iter()
        .chain([("HOME", env.home.display().to_string()), ("CSD_WORKER_DIR", env.worker_dir.display().to_string())])
    {
        new_session.arg("-e").arg(format!("{k}={v}"));
    }
    new_session.arg("--").arg(&cli).args(["--session-id", &sid, "--dangerously-skip-permissions", "--plugin-dir"]);
    new_session.arg(repo().join("plugin"));
    // tmux 3.3 gives a new session the *client's* PATH and ignores `-e PATH=`.
    new_session.env("PATH", path_with_csd());
    let started = Instant::now();
    assert!(new_session.status().unwrap().success());
    let pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=probe:", "#{pane_pid}"]).trim().parse().unwrap();
    let _reaper = KillOnDrop(Some(pid));

    let trust = eventually(STARTUP, || env.pane("probe").contains("Yes, I trust this folder").then_some(()));
    assert!(trust.is_some(), "no trust dialog; the pane shows:\n{}", env.pane("probe"));
    let screen = env.pane("probe");
    let digit = screen
        .lines()
        .find_map(|l| {
            l.split_once(". Yes, I trust").map(|(head, _)| head.trim_start_matches([' ', '❯']).trim().to_string())
        })
        .unwrap();
    env.tmux_ok(["send-keys", "-t", "=probe:", "-l", &digit]);
    let ready = eventually(STARTUP, || has_event(&env, &sid, "session_start").then_some(()));
    assert!(ready.is_some(), "no session_start; the pane shows:\n{}", env.pane("probe"));
    eprintln!("direct: launch to session_start {:?}", started.elapsed());

    let baseline = mock.count();
    let prompt = "Please run this for me.\nrun: echo csd-e2e-$((6 * 7))";
    std::fs::write(env.path().join("prompt"), prompt).unwrap();
    let buffer = env.path().join("prompt");
    env.tmux_ok(["load-buffer", "-b", "p", buffer.to_str().unwrap()]);
    env.tmux_ok(["paste-buffer", "-p", "-d", "-b", "p", "-t", "=probe:"]);
    // A busy TUI can miss an Enter that follows a paste closely: press it
    // until the prompt is taken, as csd-send does.
    let submitted = (0..10).any(|_| {
        env.tmux_ok(["send-keys", "-t", "=probe:", "Enter"]);
        eventually(Duration::from_secs(2), || has_event(&env, &sid, "user_prompt_submit").then_some(())).is_some()
    });
    assert!(submitted, "the prompt was never submitted; the pane shows:\n{}", env.pane("probe"));
    let done = eventually(TURN, || has_event(&env, &sid, "stop").then_some(()));
    assert!(done.is_some(), "no stop event; the pane shows:\n{}", env.pane("probe"));

    let evs = events(&env, &sid);
    let kinds: Vec<&str> = evs.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"], "{evs:?}");
    let pre = evs.iter().find(|e| e["event"] == "pre_tool_use").unwrap();
    assert_eq!(pre["tool"], "Bash", "{pre}");
    assert_eq!(pre["tool_input"]["command"], "echo csd-e2e-$((6 * 7))", "{pre}");
    let answers: Vec<Answer> = mock.requests_since(baseline).into_iter().map(|r| r.answer).collect();
    assert!(answers.contains(&Answer::ToolCall { command: "echo csd-e2e-$((6 * 7))".into() }), "{answers:?}");
    assert!(answers.contains(&Answer::AfterToolResult { output: "csd-e2e-42".into() }), "{answers:?}");
    let shown = eventually(TURN, || env.pane("probe").contains("csd-e2e-42").then_some(()));
    assert!(shown.is_some(), "the answer is not on screen:\n{}", env.pane("probe"));

    env.tmux_ok(["send-keys", "-t", "=probe:", "-l", "/exit"]);
    std::thread::sleep(Duration::from_millis(300));
    env.tmux_ok(["send-keys", "-t", "=probe:", "Enter"]);
    let ended = eventually(TURN, || (!pid_alive(pid)).then_some(()));
    assert!(ended.is_some(), "claude did not exit after /exit:\n{}", env.pane("probe"));
    assert!(has_event(&env, &sid, "session_end"), "{:?}", events(&env, &sid));
}

/// The mock's own contract, so a failure above is not blamed on it.
#[test]
fn the_mock_answers_by_the_prompts_directives() {
    let claude = Config::claude();
    let tools = json!([{"name": "Bash"}]);
    let ask =
        |content: Value, tools: &Value| json!({"messages": [{"role": "user", "content": content}], "tools": tools});
    let classify = |body: Value| csd::mock::anthropic::classify(&body, &claude);
    assert_eq!(classify(ask(json!("hello"), &tools)), Answer::Default);
    assert_eq!(classify(ask(json!("x\nrun: ls -l\n"), &tools)), Answer::ToolCall { command: "ls -l".into() });
    // A tool the request does not offer is never called.
    assert_eq!(classify(ask(json!("run: ls"), &json!([{"name": "bash"}]))), Answer::Default);
    assert_eq!(classify(ask(json!([{"type": "text", "text": "say: pong"}]), &tools)), Answer::Said("pong".into()));
    let title = ask(json!("run: ls\nWrite the title in the language the user wrote in"), &tools);
    assert_eq!(classify(title), Answer::Title);
    let result = json!([{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "out"}]}]);
    assert_eq!(classify(ask(result, &tools)), Answer::AfterToolResult { output: "out".into() });
    // The last *user* message counts, even with a system-role element after it.
    let body = json!({"messages": [{"role": "user", "content": "say: a"}, {"role": "system", "content": "say: b"}]});
    assert_eq!(classify(body), Answer::Said("a".into()));

    // Failures and questions; a question only when the tool is offered.
    use csd::mock::anthropic::Failure;
    assert_eq!(classify(ask(json!("x\nfail:529"), &tools)), Answer::Failed(Failure::Status(529)));
    assert_eq!(classify(ask(json!("fail:stream"), &tools)), Answer::Failed(Failure::Stream));
    assert_eq!(classify(ask(json!("fail:nonsense\nsay: ok"), &tools)), Answer::Said("ok".into()));
    assert_eq!(Failure::parse_times("500 x3"), Some((Failure::Status(500), 3)));
    assert_eq!(Failure::parse_times("reset"), Some((Failure::Reset, 1)));
    assert_eq!(Failure::parse_times("500 x0"), None);
    let asking = json!([{"name": "Bash"}, {"name": "AskUserQuestion"}]);
    assert_eq!(
        classify(ask(json!("ask: Which? | A | B"), &asking)),
        Answer::Ask { questions: vec![("Which?".into(), vec!["A".into(), "B".into()])] }
    );
    assert_eq!(classify(ask(json!("ask: Which? | A | B"), &tools)), Answer::Default);

    // Over HTTP: a plain JSON answer, and the stream's closing events.
    use std::io::{Read, Write};
    let mock = MockAnthropic::start(Config::with_tool("bash"));
    let post = |body: &Value| {
        let body = body.to_string();
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", mock.port())).unwrap();
        write!(conn, "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        reply
    };
    let plain = post(&json!({"messages": [{"role": "user", "content": "run: ls"}], "tools": [{"name": "bash"}]}));
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    let msg: Value = serde_json::from_str(plain.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(msg["stop_reason"], "tool_use");
    assert_eq!(msg["content"][0]["name"], "bash");
    assert_eq!(msg["content"][0]["input"], json!({"command": "ls"}));
    let streamed = post(&json!({"stream": true, "messages": [{"role": "user", "content": "say: hi"}]}));
    assert!(streamed.contains("\"text_delta\",\"text\":\"hi\"") || streamed.contains("\"text\":\"hi\""), "{streamed}");
    assert!(streamed.trim_end().ends_with("data: {\"type\":\"message_stop\"}"), "{streamed}");
    assert_eq!(mock.count(), 2);
    assert!(MockAnthropic::busy_time(&mock.requests()) < Duration::from_secs(5));

    // A failure is served once per prompt: the retry, and a later prompt
    // merged with the failed one into one message, are answered.
    let failing = json!({"messages": [{"role": "user", "content": "one\nfail:429\nsay: retried"}]});
    let reply = post(&failing);
    assert!(reply.starts_with("HTTP/1.1 429 Too Many Requests"), "{reply}");
    assert!(
        reply.contains("\r\nretry-after: 60\r\n") && reply.contains("anthropic-ratelimit-requests-reset: "),
        "{reply}"
    );
    assert!(reply.contains("\"rate_limit_error\""), "{reply}");
    assert!(post(&failing).contains("\"text\":\"retried\""));
    let merged = json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "one\nfail:429\nsay: retried\n"}, {"type": "text", "text": "two\nsay: second"}]}]});
    assert!(post(&merged).contains("\"text\":\"second\""));
    let body = json!({"messages": [{"role": "user", "content": "fail:reset"}]}).to_string();
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", mock.port())).unwrap();
    write!(conn, "POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut reply = String::new();
    let read = conn.read_to_string(&mut reply);
    assert_eq!(read.map_err(|e| e.kind()), Err(std::io::ErrorKind::ConnectionReset), "{reply}");
}

/// The plugin this repository ships passes the real CLI's own validator, as a
/// marketplace (the repository root) and as a plugin.
#[test]
fn the_packaged_plugin_passes_claude_plugin_validate() {
    let cli = claude_cli();
    isolate_network();
    let env = TestEnv::new();
    let plugin_only = repo().join("plugin");
    for (target, what) in [(repo(), "marketplace"), (plugin_only, "plugin")] {
        let out = std::process::Command::new(&cli)
            .args(["plugin", "validate"])
            .arg(&target)
            .env("HOME", &env.home)
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .output()
            .unwrap();
        assert_code(&out, 0);
        assert!(stdout(&out).contains(&format!("Validating {what} manifest")), "{}", stdout(&out));
        assert!(stdout(&out).contains("Validation passed"), "{}", stdout(&out));
    }
    let hooks: Value = serde_json::from_slice(&std::fs::read(repo().join("plugin/hooks/hooks.json")).unwrap()).unwrap();
    let events: Vec<&String> = hooks["hooks"].as_object().unwrap().keys().collect();
    assert_eq!(events, csd::harness::claude::HOOK_EVENTS, "the packaged plugin registers what csd-launch's does");
}

/// A csd world around the real CLI: consent given, the mock as the model, an
/// untrusted project (csd-launch must answer the trust dialog itself).
struct Flow {
    // Dropped in this order: the CLI process, then the tmux server, then the mock.
    reaper: KillOnDrop,
    env: TestEnv,
    mock: MockAnthropic,
    cli: PathBuf,
    project: PathBuf,
    /// More environment for the worker's CLI (set before launch).
    extra_env: Vec<(&'static str, String)>,
}

impl Flow {
    /// Call on a thread that already ran `isolate_network()`.
    fn new(cli: PathBuf) -> Flow {
        let mock = MockAnthropic::start(Config::claude());
        let env = TestEnv::new();
        seed_home(&env.home);
        let project = env.path().join("project");
        std::fs::create_dir(&project).unwrap();
        let consent = env.run_stdin("csd-launch", ["--grant-consent"], b"yes\n");
        assert_code(&consent, 0);
        Flow { reaper: KillOnDrop(None), env, mock, cli, project, extra_env: Vec::new() }
    }

    /// A csd binary with the worker's environment: csd-launch starts this
    /// world's tmux server, whose environment every pane then inherits.
    fn cmd(&self, name: &str) -> std::process::Command {
        let mut c = self.env.cmd(name);
        c.env("CSD_CLAUDE_BIN", &self.cli).env("PATH", path_with_csd());
        for (k, v) in claude_env(&self.mock).into_iter().chain(self.extra_env.iter().cloned()) {
            c.env(k, v);
        }
        c
    }

    fn run(&self, name: &str, args: &[&str]) -> std::process::Output {
        self.cmd(name).args(args).output().unwrap()
    }

    /// csd-launch NAME; returns the shim path and the time to ready.
    fn launch(&mut self, name: &str) -> (PathBuf, Duration) {
        let started = Instant::now();
        let out = self.cmd("csd-launch").arg(name).arg(&self.project).output().unwrap();
        let took = started.elapsed();
        assert_code(&out, 0);
        let pid = self.env.tmux_ok(["display-message", "-p", "-t", &format!("={name}:"), "#{pane_pid}"]);
        self.reaper = KillOnDrop(Some(pid.trim().parse().unwrap()));
        (PathBuf::from(stdout(&out).trim()), took)
    }

    /// csd-send --converse, timed: the reply and where the time went.
    fn converse(&self, name: &str, prompt: &str) -> (String, TurnTiming) {
        let baseline = self.mock.count();
        let clock = EventClock::start(self.env.events_path(&self.sid(name)));
        let started = Instant::now();
        let out = self.run("csd-send", &["--converse", name, prompt, "60"]);
        let returned = Instant::now();
        let seen = clock.stop();
        if out.status.code() != Some(0) {
            panic!(
                "csd-send --converse {name} exited {:?}: {}\nthe pane shows:\n{}",
                out.status.code(),
                stderr(&out),
                self.env.pane(name)
            );
        }
        let requests = self.mock.requests_since(baseline);
        assert!(!requests.is_empty(), "the turn never reached the mock");
        let at = |kind: &str| seen.iter().find(|(_, k)| k == kind).map(|(t, _)| *t);
        let timing = TurnTiming {
            total: returned - started,
            model: MockAnthropic::busy_time(&requests),
            between_model_calls: (requests.last().unwrap().answered - requests[0].arrived)
                .saturating_sub(MockAnthropic::busy_time(&requests)),
            to_submitted: at("user_prompt_submit").map(|t| t - started),
            submitted_to_model: at("user_prompt_submit").map(|t| requests[0].arrived.saturating_duration_since(t)),
            model_to_stop: at("stop").map(|t| t.saturating_duration_since(requests.last().unwrap().answered)),
            stop_to_return: at("stop").map(|t| returned - t),
        };
        (stdout(&out), timing)
    }

    /// What a failed read-turn assertion needs to be understood: the turn
    /// as read (`rendered`), read-turn again now, and the transcript (whole
    /// when small, else its last lines), each line tagged with its type,
    /// uuid, parent and message id so an ordering problem shows at a glance.
    fn turn_evidence(&self, name: &str, rendered: &str) -> String {
        let path = stdout(&self.run("csd-turn", &[name, "--path"])).trim().to_string();
        let again = stdout(&self.run("csd-turn", &[name]));
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| format!("(unreadable: {e})"));
        let lines: Vec<&str> = raw.lines().collect();
        const KEEP: usize = 40;
        let skipped = lines.len().saturating_sub(KEEP);
        let mut out = format!("read-turn printed:\n{rendered}\nread-turn now prints:\n{again}\n");
        out.push_str(&format!("transcript {path} ({} lines, {} bytes", lines.len(), raw.len()));
        if skipped > 0 {
            out.push_str(&format!(", the first {skipped} left out"));
        }
        out.push_str("), in file order:\n");
        for (n, line) in lines.iter().enumerate().skip(skipped) {
            let v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            let blocks = match &v["message"]["content"] {
                Value::String(_) => "prompt".to_string(),
                Value::Array(b) => b.iter().filter_map(|b| b["type"].as_str()).collect::<Vec<_>>().join("+"),
                _ => String::new(),
            };
            let short = |k: &Value| k.as_str().map(|s| s.chars().take(8).collect::<String>()).unwrap_or_default();
            out.push_str(&format!(
                "#{n} {} [{blocks}] uuid={} parent={} msg={} ts={}\n  {line}\n",
                v["type"].as_str().unwrap_or("?"),
                short(&v["uuid"]),
                short(&v["parentUuid"]),
                v["message"]["id"].as_str().unwrap_or(""),
                v["timestamp"].as_str().unwrap_or("")
            ));
        }
        out
    }

    fn sid(&self, name: &str) -> String {
        let out = self.run("csd-status", &["--session-id", name]);
        assert_code(&out, 0);
        stdout(&out).trim().to_string()
    }
}

/// Processes whose command line mentions `needle` (the worker's session id
/// is on its CLI's command line).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) && entry.file_name() != std::process::id().to_string().as_str() {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// Where one converse's time went. The event times are when the test saw
/// each line land in the log (polled every millisecond).
struct TurnTiming {
    total: Duration,
    /// The mock's own time: first request in to last answer out.
    model: Duration,
    /// The CLI between model calls (running the tool, sending its result).
    between_model_calls: Duration,
    /// csd-send pasting and pressing Enter until the UserPromptSubmit hook logged.
    to_submitted: Option<Duration>,
    /// The CLI from the prompt to its first model request.
    submitted_to_model: Option<Duration>,
    /// The CLI from the last answer to its Stop hook landing.
    model_to_stop: Option<Duration>,
    /// csd-send from the stop event to printing the reply and exiting.
    stop_to_return: Option<Duration>,
}

impl std::fmt::Display for TurnTiming {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let opt = |d: Option<Duration>| d.map(ms).unwrap_or_else(|| "?".into());
        write!(
            f,
            "converse {} = model {} + overhead {} (submit {}, CLI to model {}, CLI between model calls {}, \
             CLI to Stop hook {}, stop to exit {})",
            ms(self.total),
            ms(self.model),
            ms(self.total.saturating_sub(self.model)),
            opt(self.to_submitted),
            opt(self.submitted_to_model),
            ms(self.between_model_calls),
            opt(self.model_to_stop),
            opt(self.stop_to_return)
        )
    }
}

/// Notes when each new event line lands in a worker's log.
struct EventClock {
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Instant, String)>>,
}

impl EventClock {
    fn start(log: PathBuf) -> EventClock {
        let from = std::fs::metadata(&log).map(|m| m.len() as usize).unwrap_or(0);
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let (mut seen, mut consumed) = (Vec::new(), from);
            loop {
                let finished = stop.load(std::sync::atomic::Ordering::SeqCst);
                let bytes = std::fs::read(&log).unwrap_or_default();
                while let Some(end) = bytes.get(consumed..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
                    let line: Value = serde_json::from_slice(&bytes[consumed..consumed + end]).unwrap_or(Value::Null);
                    seen.push((Instant::now(), line["event"].as_str().unwrap_or("?").to_string()));
                    consumed += end + 1;
                }
                if finished {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        EventClock { done, thread }
    }

    fn stop(self) -> Vec<(Instant, String)> {
        self.done.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Issue 3's end-to-end flow through the csd binaries with the real CLI:
/// launch → converse with a Bash call → read-turn → read-events --type
/// pre_tool_use → status idle → more converses → stop leaves nothing behind.
#[test]
fn csd_drives_the_real_claude_code_from_launch_to_stop() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    let (shim, ready_after) = flow.launch("e2e");
    assert!(shim.ends_with("bin/e2e") && shim.exists(), "{}", shim.display());
    let sid = flow.sid("e2e");
    let pane_pid = flow.reaper.0.unwrap();

    let prompt = "Please run this command for me.\nrun: echo csd-e2e-$((6 * 7))";
    let (reply, tool_turn) = flow.converse("e2e", prompt);
    assert!(reply.contains(anthropic::TOOL_OUTPUT_PREFIX) && reply.contains("csd-e2e-42"), "reply: {reply}");
    let answers: Vec<Answer> = flow.mock.requests().into_iter().map(|r| r.answer).collect();
    assert!(answers.contains(&Answer::AfterToolResult { output: "csd-e2e-42".into() }), "{answers:?}");

    let turn = flow.run("csd-turn", &["e2e"]);
    assert_code(&turn, 0);
    let turn = stdout(&turn);
    // On a failure, the evidence: the turn as read, and the transcript it came from.
    let evidence = || flow.turn_evidence("e2e", &turn);
    assert!(turn.contains("Bash"), "read-turn lacks the tool call:\n{}", evidence());
    assert!(turn.contains("echo csd-e2e-$((6 * 7))"), "read-turn lacks the command:\n{}", evidence());
    assert!(turn.contains("csd-e2e-42"), "read-turn lacks the output:\n{}", evidence());
    assert!(turn.contains("run this command for me"), "read-turn lacks the prompt:\n{}", evidence());

    let events = flow.run("csd-events", &["e2e", "--type", "pre_tool_use"]);
    assert_code(&events, 0);
    let calls: Vec<Value> = stdout(&events).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0]["event"], "pre_tool_use");
    assert_eq!(calls[0]["tool"], "Bash");
    assert_eq!(calls[0]["tool_input"]["command"], "echo csd-e2e-$((6 * 7))");

    // Through the shim launch printed (shim → csd → csd-status), as a controller would.
    let mut via_shim = std::process::Command::new(&shim);
    flow.env.apply_env(&mut via_shim);
    let status = via_shim.arg("status").output().unwrap();
    assert_code(&status, 0);
    assert_eq!(stdout(&status).trim(), "idle");

    // Text-only turns: the second converse of the issue, and two more to see
    // the spread of csd's overhead.
    let mut text_turns = Vec::new();
    for n in 1..=3 {
        let (reply, timing) = flow.converse("e2e", &format!("Another question.\nsay: answer number {n}"));
        if reply.trim() != format!("answer number {n}") {
            std::thread::sleep(Duration::from_millis(500));
            let turn = stdout(&flow.run("csd-turn", &["e2e"]));
            let log = stdout(&flow.run("csd-events", &["e2e", "--last", "4"]));
            panic!("converse {n} replied {reply:?}; half a second later read-turn shows:\n{turn}\nlast events:\n{log}");
        }
        text_turns.push(timing);
    }
    let status = flow.run("csd-status", &["e2e"]);
    assert_eq!(stdout(&status).trim(), "idle");
    // What a controller acts on, and the tokens: every model answer the
    // transcript records (not the session-title requests), each message once
    // although Claude writes a line per content block.
    let row = checked_status_row(&flow.env, "e2e", &sid);
    eprintln!("claude: csd-status --json: {row}");
    let turns: Vec<_> =
        flow.mock.requests().into_iter().filter(|r| !matches!(r.answer, Answer::Title | Answer::CountTokens)).collect();
    let sent = MockAnthropic::usage_sum(&turns);
    let kinds_sent: Vec<&Answer> = turns.iter().map(|r| &r.answer).collect();
    assert_eq!(
        row["tokens"],
        json!({"input": sent.input, "output": sent.output, "cache_read": sent.cache_read, "cache_write": sent.cache_write}),
        "answers counted: {kinds_sent:?}"
    );
    let kinds: Vec<String> = stdout(&flow.run("csd-events", &["e2e"]))
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].as_str().unwrap().to_string())
        .collect();
    let turn_ends = kinds.iter().filter(|k| *k == "stop").count();
    assert_eq!(turn_ends, 4, "one stop per turn, no doubled hooks: {kinds:?}");

    let stop = flow.run("csd-stop", &["e2e"]);
    assert_code(&stop, 0);
    let left: Vec<String> = std::fs::read_dir(&flow.env.worker_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&sid) || n.starts_with("e2e"))
        .collect();
    assert!(left.is_empty(), "stop left state behind: {left:?}");
    assert!(!shim.exists(), "stop left the shim");
    assert!(!flow.env.worker_dir.join("homes/e2e").exists(), "stop left the worker's home");
    assert!(!flow.env.has_session("e2e"), "stop left the tmux session");
    assert!(!pid_alive(pane_pid), "stop left the claude process {pane_pid}");
    assert_eq!(processes_mentioning(&sid), Vec::<String>::new(), "processes left behind");
    assert_code(&flow.run("csd-status", &["e2e"]), 3);

    let version = std::process::Command::new(&flow.cli).arg("--version").output().unwrap();
    eprintln!("e2e timings ({}, mock answering at once):", stdout(&version).trim());
    eprintln!("  launch to ready (csd-launch wall time, trust dialog included): {}", ms(ready_after));
    eprintln!("  tool turn: {tool_turn}");
    for (n, timing) in text_turns.iter().enumerate() {
        eprintln!("  text turn {}: {timing}", n + 1);
    }
}

/// A user who installed this repository's plugin (`claude plugin marketplace
/// add` + `claude plugin install`, as the README says) still gets each event
/// once per worker: csd-launch's own plugin has the same name, so Claude Code
/// lets the `--plugin-dir` copy replace the installed one for that session.
#[test]
fn an_installed_csd_plugin_does_not_double_a_workers_events() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli.clone());
    let claude = |args: &[&str]| {
        let out = std::process::Command::new(&cli)
            .args(args)
            .env("HOME", &flow.env.home)
            .envs(claude_env(&flow.mock))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_code(&out, 0);
        stdout(&out)
    };
    claude(&["plugin", "marketplace", "add", repo().to_str().unwrap()]);
    claude(&["plugin", "install", "csd@csd"]);
    assert!(claude(&["plugin", "list"]).contains("csd@csd"));
    let details = claude(&["plugin", "details", "csd@csd"]);
    assert!(details.contains("driving-claude-code-sessions"), "{details}");

    // csd-hook is on the worker's PATH, so the installed plugin's hooks would log too if they ran.
    flow.launch("twice");
    let (reply, _) = flow.converse("twice", "say: once");
    assert_eq!(reply.trim(), "once");
    let kinds: Vec<String> = stdout(&flow.run("csd-events", &["twice"]))
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["session_start", "user_prompt_submit", "stop"]);
    assert_code(&flow.run("csd-stop", &["twice"]), 0);
}

/// The skill's fan-out pattern with the real CLI: two workers launched at
/// once on one tmux server, two converses at once, each gets its own reply,
/// and both stop cleanly.
#[test]
fn two_real_workers_launch_and_converse_in_parallel() {
    let cli = claude_cli();
    isolate_network();
    let flow = Flow::new(cli);
    let names = ["fan-a", "fan-b"];
    let launches: Vec<_> =
        names.iter().map(|n| flow.cmd("csd-launch").arg(n).arg(&flow.project).spawn().unwrap()).collect();
    for child in launches {
        assert_code(&child.wait_with_output().unwrap(), 0);
    }
    let pids: Vec<i32> = names
        .iter()
        .map(|n| {
            flow.env.tmux_ok(["display-message", "-p", "-t", &format!("={n}:"), "#{pane_pid}"]).trim().parse().unwrap()
        })
        .collect();
    let _reapers: Vec<KillOnDrop> = pids.iter().map(|p| KillOnDrop(Some(*p))).collect();

    let converses: Vec<_> = names
        .iter()
        .map(|n| {
            let prompt = format!("Fan-out check.\nsay: reply from {n}");
            flow.cmd("csd-send")
                .args(["--converse", n, &prompt, "60"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (n, child) in names.iter().zip(converses) {
        let out = child.wait_with_output().unwrap();
        assert_code(&out, 0);
        assert_eq!(stdout(&out).trim(), format!("reply from {n}"));
    }
    for n in names {
        assert_code(&flow.run("csd-stop", &[n]), 0);
        assert!(!flow.env.has_session(n), "{n} is still in tmux");
    }
    for pid in pids {
        assert!(!pid_alive(pid), "claude {pid} outlived csd-stop");
    }
    let left = flow.run("csd-status", &["--list", "--all"]);
    assert_code(&left, 0);
    assert_eq!(stdout(&left).trim(), "", "workers left after stop");
}

/// After a "reboot" (tmux server and worker state gone, the transcript kept),
/// csd-launch --adopt brings the real session back by id, with its history:
/// the model's next request carries the turn from before.
#[test]
fn adopt_revives_a_real_session_with_its_history_after_a_reboot() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.launch("before");
    let sid = flow.sid("before");
    let (reply, _) = flow.converse("before", "Remember this.\nsay: noted before the reboot");
    assert_eq!(reply.trim(), "noted before the reboot");

    // The reboot: every process and all of /tmp/csd-workers go; ~/.claude stays.
    let pid = flow.reaper.0.unwrap();
    flow.env.tmux().arg("kill-server").status().unwrap();
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_some());
    std::fs::remove_dir_all(&flow.env.worker_dir).unwrap();

    let adopt = flow.cmd("csd-launch").args(["--adopt", "after"]).arg(&flow.project).arg(&sid).output().unwrap();
    assert_code(&adopt, 0);
    let pid: i32 = flow.env.tmux_ok(["display-message", "-p", "-t", "=after:", "#{pane_pid}"]).trim().parse().unwrap();
    flow.reaper = KillOnDrop(Some(pid));
    assert_eq!(flow.sid("after"), sid);

    let baseline = flow.mock.count();
    let (reply, _) = flow.converse("after", "And now?\nsay: back after the reboot");
    assert_eq!(reply.trim(), "back after the reboot");
    let history = flow.mock.requests_since(baseline).iter().map(|r| r.body["messages"].to_string()).collect::<String>();
    assert!(history.contains("noted before the reboot"), "the resumed session lost its history");
    assert_code(&flow.run("csd-stop", &["after"]), 0);
    assert!(!pid_alive(pid));
}

/// Without the trust dialog in the way (the project is trusted already),
/// csd-launch returns as soon as the CLI reports in: a multi-line prompt sent
/// at once must still arrive whole, as one prompt.
#[test]
fn a_multiline_prompt_right_after_launch_arrives_whole() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(flow.env.home.join(".claude.json")).unwrap()).unwrap();
    config["projects"] = json!({ flow.project.to_str().unwrap(): {"hasTrustDialogAccepted": true} });
    std::fs::write(flow.env.home.join(".claude.json"), config.to_string()).unwrap();
    flow.launch("quick");
    let (reply, _) = flow.converse("quick", "First line of the prompt.\nsay: all lines arrived");
    assert_eq!(reply.trim(), "all lines arrived");
    let prompts = stdout(&flow.run("csd-events", &["quick", "--type", "user_prompt_submit"]));
    assert_eq!(prompts.lines().count(), 1, "the prompt was split: {prompts}");
    assert_code(&flow.run("csd-stop", &["quick"]), 0);
}

/// `make install` lays the plugin out where `claude plugin install` takes it,
/// with its hooks pointing at the installed csd-hook (the build is skipped:
/// CARGO=true; only the plugin's layout is under test here).
#[test]
fn make_install_puts_a_plugin_claude_can_install() {
    let cli = claude_cli();
    isolate_network();
    let env = TestEnv::new();
    let dest = env.path().join("dest");
    let out = std::process::Command::new("make")
        .arg("-C")
        .arg(repo())
        .args(["install", "CARGO=true", "PREFIX=/opt/csd"])
        .arg(format!("DESTDIR={}", dest.display()))
        .output()
        .expect("running make");
    assert_code(&out, 0);
    let plugin = dest.join("opt/csd/share/csd/plugin");
    let runner = std::fs::read_to_string(plugin.join("hooks/run-csd-hook")).unwrap();
    assert!(
        runner.contains("\nbindir='/opt/csd/bin'\n"),
        "the hooks' runner is not told the installed csd-hook:\n{runner}"
    );
    let runner = std::fs::read_to_string(plugin.join("mcp/run-csd-mcp")).unwrap();
    assert!(
        runner.contains("\nbindir='/opt/csd/bin'\n"),
        "the MCP server's runner is not told the installed csd-mcp:\n{runner}"
    );
    let claude = |args: &[&str]| {
        let out = std::process::Command::new(&cli)
            .args(args)
            .env("HOME", &env.home)
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_code(&out, 0);
        stdout(&out)
    };
    let plugin = plugin.to_str().unwrap();
    assert!(claude(&["plugin", "validate", plugin]).contains("Validation passed"));
    claude(&["plugin", "marketplace", "add", plugin]);
    claude(&["plugin", "install", "csd@csd"]);
    let details = claude(&["plugin", "details", "csd@csd"]);
    assert!(details.contains("driving-claude-code-sessions") && details.contains("SessionEnd"), "{details}");
}

/// Issue 8's fleet on the real CLI: three workers whose turns take different
/// times (a Bash `sleep` the mock asks for); `csd-wait --all` reports them in
/// the order they finish; a merged `csd-events --all --follow`, started
/// before any of them, takes in each as it launches and lets go of each as
/// it stops, printing every event of every worker once.
#[test]
fn a_fleet_of_real_workers_is_waited_for_in_finish_order_and_followed_as_one_stream() {
    let cli = claude_cli();
    isolate_network();
    let flow = Flow::new(cli);
    let follow = flow
        .cmd("csd-events")
        .args(["--all", "--follow"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut follow = KillChild(follow);
    // Turns of about 4 s, 0 s and 2 s: they finish b, c, a.
    let work = [("fl-a", "run: sleep 4"), ("fl-b", "say: quick"), ("fl-c", "run: sleep 2")];
    let launches: Vec<_> = work
        .iter()
        .map(|(n, _)| {
            flow.cmd("csd-launch").arg(n).arg(&flow.project).stdout(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for child in launches {
        assert_code(&child.wait_with_output().unwrap(), 0);
    }
    let pids: Vec<KillOnDrop> = work
        .iter()
        .map(|(n, _)| {
            let pid = flow.env.tmux_ok(["display-message", "-p", "-t", &format!("={n}:"), "#{pane_pid}"]);
            KillOnDrop(Some(pid.trim().parse().unwrap()))
        })
        .collect();
    for (n, task) in work {
        assert_code(&flow.run("csd-send", &[n, &format!("Fleet task.\n{task}")]), 0);
    }
    let started = Instant::now();
    let out = flow.run("csd-wait", &["--all", "fl-a", "fl-b", "fl-c", "-t", "90"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "fl-b\tidle\nfl-c\tidle\nfl-a\tidle\n", "waited {:?}", started.elapsed());
    // All idle now: --any answers at once.
    let out = flow.run("csd", &["wait-any", "fl-c", "fl-a", "-t", "5"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "fl-c\tidle\n");
    // What each worker's own log says, before stop removes it.
    let own: Vec<(String, Vec<String>)> = work
        .iter()
        .map(|(n, _)| (n.to_string(), stdout(&flow.run("csd-events", &[n])).lines().map(str::to_string).collect()))
        .collect();
    for (n, _) in work {
        assert_code(&flow.run("csd-stop", &[n]), 0);
    }
    drop(pids);
    // The merged stream: each worker's log, in its order, every line once,
    // and each stop's session_end too.
    std::thread::sleep(Duration::from_millis(500));
    follow.0.kill().unwrap();
    let merged = stdout(&follow.wait_with_output_ref());
    let lines: Vec<Value> = merged.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (n, log) in &own {
        let mine: Vec<Value> = lines.iter().filter(|v| v["worker"] == n.as_str()).cloned().collect();
        let want: Vec<Value> = log.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert!(mine.len() >= want.len(), "{n}: {mine:?}");
        for (got, want) in mine.iter().zip(&want) {
            let mut got = got.clone();
            got.as_object_mut().unwrap().remove("worker");
            got.as_object_mut().unwrap().remove("session_id");
            assert_eq!(&got, want, "{n}");
        }
        assert_eq!(mine.last().unwrap()["event"], "session_end", "{n} left without its session_end: {mine:?}");
        assert_eq!(mine.iter().filter(|v| v["event"] == "user_prompt_submit").count(), 1, "{n}: {mine:?}");
    }
}

/// Kills and reaps a child on drop.
struct KillChild(std::process::Child);

impl KillChild {
    fn wait_with_output_ref(&mut self) -> std::process::Output {
        use std::io::Read;
        let mut out = Vec::new();
        if let Some(mut s) = self.0.stdout.take() {
            s.read_to_end(&mut out).unwrap();
        }
        let status = self.0.wait().unwrap();
        std::process::Output { status, stdout: out, stderr: Vec::new() }
    }
}

impl Drop for KillChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The event log's non-empty lines, parsed: line N of `--after-line N` is `[N - 1]`.
fn log_lines(env: &TestEnv, sid: &str) -> Vec<Value> {
    let log = std::fs::read_to_string(env.events_path(sid)).unwrap_or_default();
    log.lines().filter(|l| !l.is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Where the first turn end after line `n` is (1-based), as csd-wait finds it.
fn first_stop_after(lines: &[Value], n: usize) -> Option<usize> {
    lines
        .iter()
        .enumerate()
        .skip(n)
        .find(|(_, e)| e["event"] == "stop" || e["event"] == "session_end")
        .map(|(i, _)| i + 1)
}

/// Issue 8, item 4, on the real CLI. Claude Code 2.1.197 does one of two
/// things with a prompt typed mid-turn:
/// - during a tool call, it queues it (`queue-operation` enqueue in the
///   transcript) and at the tool's result folds it into the running turn as
///   a `queued_command` attachment, with no UserPromptSubmit of its own: one
///   UPS, one stop for both prompts;
/// - during a model request that ends the turn, it queues it and, once the
///   turn's Stop hook ran, dequeues it into a turn of its own: its UPS lands
///   after the first turn's stop.
///
/// Either way `csd-send --receipt` then `csd-wait --after-line` return the
/// end of the turn that answers the prompt, never the earlier turn's end.
#[test]
fn a_prompt_sent_mid_turn_gets_a_receipt_for_the_turn_that_answers_it() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.launch("q");
    let sid = flow.sid("q");
    let transcript = stdout(&flow.run("csd-turn", &["q", "--path"])).trim().to_string();
    let receipt = |prompt: &str| {
        let o = flow.run("csd-send", &["--receipt", "q", prompt, "60"]);
        assert_code(&o, 0);
        (stdout(&o).trim().parse::<usize>().unwrap(), stderr(&o))
    };
    let wait_after = |n: usize| {
        let o = flow.run("csd-wait", &["q", "60", "--after-line", &n.to_string()]);
        assert_code(&o, 0);
    };

    // Folded: prompt 2 typed while prompt 1's Bash call sleeps.
    assert_code(&flow.run("csd-send", &["q", "First.\nrun: sleep 5; echo first-done"]), 0);
    let busy = eventually(TURN, || has_event(&flow.env, &sid, "pre_tool_use").then_some(()));
    assert!(busy.is_some(), "{:?}", events(&flow.env, &sid));
    let before = log_lines(&flow.env, &sid).len();
    let (n, said) = receipt("Second.\nsay: second-answer");
    assert!(said.contains("into its running turn"), "{said}");
    assert_eq!(n, before, "the receipt is the last line before the send");
    wait_after(n);
    let lines = log_lines(&flow.env, &sid);
    let kinds: Vec<&str> = lines.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        kinds,
        ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"],
        "one turn, one UPS, for both prompts"
    );
    let raw = std::fs::read_to_string(&transcript).unwrap();
    let folded = raw.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).any(|v| {
        v["type"] == "attachment"
            && v["attachment"]["type"] == "queued_command"
            && v["attachment"]["prompt"] == "Second.\nsay: second-answer"
    });
    assert!(folded, "no queued_command attachment for prompt 2 in {transcript}");

    // Separate turns: prompt 4 typed while prompt 3's (only) model request runs.
    assert_code(&flow.run("csd-send", &["q", "Third.\nwait: 5\nsay: third-answer"]), 0);
    std::thread::sleep(Duration::from_millis(800));
    let (n, said) = receipt("Fourth.\nsay: fourth-answer");
    assert!(said.contains("queued"), "{said}");
    let lines = log_lines(&flow.env, &sid);
    assert_eq!(lines[n - 1]["event"], "user_prompt_submit", "{lines:?}");
    // Turn 3's stop came before the receipt: --after-line cannot return it.
    assert_eq!(lines[n - 2]["event"], "stop", "{lines:?}");
    assert_eq!(first_stop_after(&lines, 6), Some(n - 1), "{lines:?}");
    wait_after(n);
    let lines = log_lines(&flow.env, &sid);
    let end = first_stop_after(&lines, n).expect("csd-wait returned without a stop");
    assert_eq!(lines[n..end].iter().filter(|e| e["event"] == "user_prompt_submit").count(), 0, "{lines:?}");
    let turn = eventually(TURN, || {
        let t = stdout(&flow.run("csd-turn", &["q"]));
        t.contains("fourth-answer").then_some(t)
    });
    assert!(turn.is_some(), "the turn after the receipt is not prompt 4's: {}", stdout(&flow.run("csd-turn", &["q"])));

    // converse on a prompt that gets folded in: the running turn's reply, no timeout.
    assert_code(&flow.run("csd-send", &["q", "Fifth.\nrun: sleep 4; echo fifth-done"]), 0);
    let stops = |f: &Flow| log_lines(&f.env, &sid).iter().filter(|e| e["event"] == "stop").count();
    let at = stops(&flow);
    let busy =
        eventually(TURN, || (log_lines(&flow.env, &sid).last().unwrap()["event"] == "pre_tool_use").then_some(()));
    assert!(busy.is_some(), "{:?}", events(&flow.env, &sid));
    let o = flow.run("csd-send", &["--converse", "q", "Sixth.\nsay: sixth-answer", "60"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("fifth-done"), "{}", stdout(&o));
    assert_eq!(stops(&flow), at + 1, "one turn for both");
}

/// Whether any request's messages hold a user text that is exactly `text`.
fn model_got_exactly(requests: &[csd::mock::anthropic::Recorded], text: &str) -> bool {
    requests.iter().any(|r| {
        r.body["messages"].as_array().into_iter().flatten().filter(|m| m["role"] == "user").any(|m| {
            m["content"] == text
                || m["content"].as_array().into_iter().flatten().any(|b| b["type"] == "text" && b["text"] == text)
        })
    })
}

/// Issue 17 item 1 on the real Claude Code 2.1.197: a prompt pasted with a
/// leading `!` used to run in bash (X created, no model, csd-send exit 1).
/// Now it reaches the model as that very text, and nothing runs.
#[test]
fn a_bang_prompt_reaches_the_real_model_as_text_and_runs_nothing() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.launch("bang");
    let x = flow.env.path().join("X");
    // The issue's own case too: `printf '!touch X\nplease review\n' | csd-send W -`.
    for prompt in [format!("!touch {}", x.display()), format!("!touch {}\nplease review", x.display())] {
        let baseline = flow.mock.count();
        let mut child = flow
            .cmd("csd-send")
            .args(["--converse", "bang", "-", "60"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), format!("{prompt}\n").as_bytes()).unwrap();
        assert_code(&child.wait_with_output().unwrap(), 0);
        assert!(!x.exists(), "the prompt ran as a shell command");
        assert!(model_got_exactly(&flow.mock.requests_since(baseline), &prompt), "the model did not get {prompt:?}");
        let path = stdout(&flow.run("csd-turn", &["bang", "--path"])).trim().to_string();
        let transcript = std::fs::read_to_string(&path).unwrap();
        assert!(transcript.contains(&serde_json::to_string(&prompt).unwrap()), "the transcript lacks {prompt:?}");
    }
    // A command is run only when asked for.
    assert_code(&flow.run("csd-send", &["--command", "bang", "/exit"]), 0);
    let pid = flow.reaper.0.unwrap();
    assert!(eventually(TURN, || (!pid_alive(pid)).then_some(())).is_some(), "/exit was not run");
}

/// Issue 17 item 12 on the real Claude Code: three workers fanned out,
/// `csd-wait --all`, then `csd-turn` each must show its answer, though the
/// transcript can lag the Stop hook.
#[test]
fn read_turn_right_after_a_fleet_wait_shows_each_whole_turn() {
    let cli = claude_cli();
    isolate_network();
    let flow = Flow::new(cli);
    let names = ["t-a", "t-b", "t-c"];
    let launches: Vec<_> =
        names.iter().map(|n| flow.cmd("csd-launch").arg(n).arg(&flow.project).output().unwrap()).collect();
    for o in &launches {
        assert_code(o, 0);
    }
    let pids: Vec<KillOnDrop> = names
        .iter()
        .map(|n| {
            KillOnDrop(Some(
                flow.env
                    .tmux_ok(["display-message", "-p", "-t", &format!("={n}:"), "#{pane_pid}"])
                    .trim()
                    .parse()
                    .unwrap(),
            ))
        })
        .collect();
    for n in names {
        assert_code(&flow.run("csd-send", &[n, &format!("Fan out.\nsay: answer of {n}")]), 0);
    }
    let mut wait = vec!["--all"];
    wait.extend(names);
    wait.extend(["--timeout", "60"]);
    assert_code(&flow.run("csd-wait", &wait), 0);
    for n in names {
        let turn = stdout(&flow.run("csd-turn", &[n]));
        assert!(turn.contains(&format!("answer of {n}")), "{n}'s turn lacks its answer:\n{turn}");
    }
    for n in names {
        assert_code(&flow.run("csd-stop", &[n]), 0);
    }
    drop(pids);
}

/// Issue 17 item 2 on the real Claude Code: two converses to one worker at
/// once used to splice or drop a prompt, one sender "confirmed" by the
/// other's submit. Now each prompt reaches the model once, whole, and each
/// sender prints the reply to its own.
#[test]
fn two_concurrent_converses_to_one_real_worker_each_get_their_own_reply() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.launch("pair");
    for round in 0..2 {
        let prompts = [format!("First sender.\nsay: alpha {round}"), format!("Second sender.\nsay: beta {round}")];
        let kids: Vec<_> = prompts
            .iter()
            .map(|p| {
                flow.cmd("csd-send")
                    .args(["--converse", "pair", p, "60"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (kid, word) in kids.into_iter().zip(["alpha", "beta"]) {
            let out = kid.wait_with_output().unwrap();
            assert_code(&out, 0);
            assert_eq!(stdout(&out).trim(), format!("{word} {round}"), "a sender printed another's reply");
        }
        for p in &prompts {
            assert!(model_got_exactly(&flow.mock.requests(), p), "the model never got {p:?} whole");
        }
    }
    let prompts = stdout(&flow.run("csd-events", &["pair", "--type", "user_prompt_submit"]));
    assert_eq!(prompts.lines().count(), 4, "{prompts}");
    assert_code(&flow.run("csd-stop", &["pair"]), 0);
}

/// Claude Code retries a failed request up to CLAUDE_CODE_MAX_RETRIES times
/// (10 by default, backing off 0.5 s doubling to 32 s: about 2.7 minutes
/// before it gives up) and, after an error mid-stream, asks again without
/// streaming. Tests that want the failure itself turn both off.
fn failing_at_once() -> Vec<(&'static str, String)> {
    vec![("CLAUDE_CODE_MAX_RETRIES", "0".into()), ("CLAUDE_CODE_DISABLE_NONSTREAMING_FALLBACK", "1".into())]
}

/// The worker's last stop line.
fn last_stop(env: &TestEnv, sid: &str) -> Value {
    log_lines(env, sid).into_iter().rev().find(|e| e["event"] == "stop").expect("no stop line")
}

/// Issue 16 on the real CLI: each way a model request fails ends the turn
/// at once with a failed stop naming the kind (and the status the CLI
/// showed); converse exits 5 within a moment of the mock's answer, the
/// worker is idle, and the next prompt is answered.
#[test]
fn each_api_failure_ends_the_turn_failed_at_once_and_the_next_prompt_is_answered() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.extra_env = failing_at_once();
    flow.launch("f");
    let sid = flow.sid("f");
    let cases: [(&str, &str, Option<u64>); 8] = [
        ("400", "invalid_request", Some(400)),
        ("401", "authentication_failed", None),
        ("429", "rate_limit", Some(429)),
        ("500", "server_error", Some(500)),
        ("529", "overloaded", Some(529)),
        ("stream", "server_error", None),
        ("reset", "network", None),
        // An API-key user's usage limit is a 429 to Claude Code (the
        // subscription's reset headers are read only for claude.ai logins).
        ("usage", "rate_limit", Some(429)),
    ];
    let mut measured = Vec::new();
    for (n, (word, kind, status)) in cases.iter().enumerate() {
        let before = flow.mock.count();
        let o = flow.run("csd-send", &["--converse", "f", &format!("Case {n}.\nfail:{word}"), "60"]);
        let returned = Instant::now();
        let failed = flow.mock.requests_since(before).into_iter().find(|r| matches!(r.answer, Answer::Failed(_)));
        let failed =
            failed.unwrap_or_else(|| panic!("fail:{word} never reached the mock; pane:\n{}", flow.env.pane("f")));
        assert_eq!(o.status.code(), Some(5), "fail:{word}: {}\npane:\n{}", stderr(&o), flow.env.pane("f"));
        let latency = returned.saturating_duration_since(failed.answered);
        measured.push(format!("fail:{word} → converse exit 5 {} after the mock's answer", ms(latency)));
        assert!(latency < Duration::from_secs(5), "fail:{word}: converse returned {latency:?} after the failure");
        let stop = last_stop(&flow.env, &sid);
        assert_eq!(stop["reason"], "failed", "fail:{word}: {stop}");
        assert_eq!(stop["error"]["kind"], *kind, "fail:{word}: {stop}");
        assert_eq!(stop["error"]["status"].as_u64(), *status, "fail:{word}: {stop}");
        assert!(!stop["error"]["message"].as_str().unwrap().is_empty(), "fail:{word}: {stop}");
        assert!(stderr(&o).contains(kind), "fail:{word}: {}", stderr(&o));
        assert_eq!(stdout(&flow.run("csd-status", &["f"])).trim(), "idle", "fail:{word}");
        let (reply, _) = flow.converse("f", &format!("After case {n}.\nsay: answered-{n}"));
        assert_eq!(reply.trim(), format!("answered-{n}"), "the prompt after fail:{word}");
    }
    let turn = stdout(&flow.run("csd-events", &["f", "--type", "stop"]));
    assert_eq!(turn.lines().count(), 2 * cases.len(), "one stop per turn: {turn}");
    for line in measured {
        eprintln!("claude: {line}");
    }
}

/// What the CLI gets over by itself is no failure: a 500 retried (one retry
/// allowed) and an error mid-stream asked again without streaming both end
/// done, with the retry's answer.
#[test]
fn a_failure_the_cli_retries_away_ends_the_turn_done() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.extra_env = vec![("CLAUDE_CODE_MAX_RETRIES", "1".into())];
    flow.launch("r");
    let sid = flow.sid("r");
    let (reply, _) = flow.converse("r", "Retry me.\nfail:500\nsay: recovered");
    assert_eq!(reply.trim(), "recovered");
    let (reply, _) = flow.converse("r", "Stream me.\nfail:stream\nsay: streamed-again");
    assert_eq!(reply.trim(), "streamed-again");
    let answers: Vec<Answer> = flow.mock.requests().into_iter().map(|r| r.answer).collect();
    assert!(answers.contains(&Answer::Failed(anthropic::Failure::Status(500))), "{answers:?}");
    assert!(answers.contains(&Answer::Failed(anthropic::Failure::Stream)), "{answers:?}");
    let stops: Vec<Value> = log_lines(&flow.env, &sid).into_iter().filter(|e| e["event"] == "stop").collect();
    assert_eq!(stops.len(), 2, "{stops:?}");
    assert!(stops.iter().all(|s| s.get("reason").is_none()), "{stops:?}");
    // Once its retries are spent, the failure is the turn's.
    let before = flow.mock.count();
    let o = flow.run("csd-send", &["--converse", "r", "Fail twice.\nfail:500 x2\nsay: too-late", "60"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let tries = flow.mock.requests_since(before).into_iter().filter(|r| matches!(r.answer, Answer::Failed(_))).count();
    assert_eq!(tries, 2, "one request and one retry");
    assert_eq!(last_stop(&flow.env, &sid)["error"]["kind"], "server_error");
}

/// Send `keys` to the worker's pane once `ready` holds of its log, and
/// return when they were sent.
fn press_when(flow: &Flow, name: &str, sid: &str, ready: impl Fn(&[Value]) -> bool, keys: &[&str]) -> Instant {
    let seen = eventually(TURN, || ready(&log_lines(&flow.env, sid)).then_some(()));
    assert!(seen.is_some(), "{:?}\npane:\n{}", log_lines(&flow.env, sid), flow.env.pane(name));
    std::thread::sleep(Duration::from_millis(500));
    let mut args = vec!["send-keys", "-t"];
    let target = format!("={name}:");
    args.push(&target);
    args.extend_from_slice(keys);
    flow.env.tmux_ok(args);
    Instant::now()
}

/// Escape in a worker's pane (a person who took it over) ends the turn with
/// an interrupted stop, though Claude Code has no hook for it: during a tool
/// call the transcript says so; before the model said anything only the pane
/// does (the prompt goes back into the input box). converse exits 7 at once.
#[test]
fn escape_in_the_pane_ends_the_turn_interrupted() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.launch("i");
    let sid = flow.sid("i");
    let converse = |prompt: &str| {
        flow.cmd("csd-send")
            .args(["--converse", "i", prompt, "60"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let last_is = |kind: &'static str| move |l: &[Value]| l.last().is_some_and(|e| e["event"] == kind);

    let child = converse("Sleep on it.\nrun: sleep 30; echo never");
    let pressed = press_when(&flow, "i", &sid, last_is("pre_tool_use"), &["Escape"]);
    let o = child.wait_with_output().unwrap();
    let in_tool = pressed.elapsed();
    assert_eq!(o.status.code(), Some(7), "{}\npane:\n{}", stderr(&o), flow.env.pane("i"));
    assert!(in_tool < Duration::from_secs(5), "converse took {in_tool:?} after the Escape");
    assert_eq!(last_stop(&flow.env, &sid)["reason"], "interrupted");
    assert_eq!(stdout(&flow.run("csd-status", &["i"])).trim(), "idle");
    let (reply, _) = flow.converse("i", "And now?\nsay: after-the-interrupt");
    assert_eq!(reply.trim(), "after-the-interrupt");

    let child = converse("Think long.\nwait: 30\nsay: never");
    let pressed = press_when(&flow, "i", &sid, last_is("user_prompt_submit"), &["Escape"]);
    let o = child.wait_with_output().unwrap();
    let in_request = pressed.elapsed();
    assert_eq!(o.status.code(), Some(7), "{}\npane:\n{}", stderr(&o), flow.env.pane("i"));
    eprintln!("claude: Escape in the model request to converse's exit {in_request:?}");
    // Nothing on disk changes: waiters read the screen while the prompt is
    // the log's last event (Claude::screen_tick), not at the 2-s tick.
    assert!(in_request < Duration::from_millis(1500), "converse took {in_request:?} after the Escape");
    assert_eq!(last_stop(&flow.env, &sid)["reason"], "interrupted");
    assert_eq!(stdout(&flow.run("csd-status", &["i"])).trim(), "idle");
    // Claude Code put the prompt back into the input box; the next one is
    // sent alone, not joined to it.
    let (reply, _) = flow.converse("i", "Fresh start.\nsay: after-the-second-interrupt");
    assert_eq!(reply.trim(), "after-the-second-interrupt");
    let transcript = stdout(&flow.run("csd-turn", &["i", "--path"])).trim().to_string();
    let raw = std::fs::read_to_string(&transcript).unwrap();
    let last_prompt =
        raw.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).rev().find_map(|v| {
            (v["type"] == "user").then(|| v["message"]["content"].as_str().map(str::to_string)).flatten()
        });
    assert_eq!(last_prompt.as_deref(), Some("Fresh start.\nsay: after-the-second-interrupt"));
    let stops = log_lines(&flow.env, &sid).iter().filter(|e| e["event"] == "stop").count();
    assert_eq!(stops, 4, "{:?}", log_lines(&flow.env, &sid));
    eprintln!("claude: Escape during a tool call → converse exit 7 after {}", ms(in_tool));
    eprintln!("claude: Escape during the model request → converse exit 7 after {}", ms(in_request));
}

/// AskUserQuestion: the worker's question ends the converse at once (exit 6)
/// with the question and its options in status --json; csd-send --answer
/// picks option 2, the model sees it, and the turn ends done.
#[test]
fn a_question_blocks_the_turn_and_answer_picks_the_option() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.launch("a");
    let sid = flow.sid("a");
    let before = flow.mock.count();
    let o = flow.run("csd-send", &["--converse", "a", "Pick one.\nask: Which color? | Red | Green | Blue", "60"]);
    let returned = Instant::now();
    assert_eq!(o.status.code(), Some(6), "{}\npane:\n{}", stderr(&o), flow.env.pane("a"));
    assert!(stderr(&o).contains("Which color?"), "{}", stderr(&o));
    let asked = flow.mock.requests_since(before).into_iter().find(|r| matches!(r.answer, Answer::Ask { .. })).unwrap();
    let latency = returned.saturating_duration_since(asked.answered);
    assert!(latency < Duration::from_secs(5), "converse returned {latency:?} after the question");
    let lines = log_lines(&flow.env, &sid);
    let n = lines.len();
    assert_eq!(lines[n - 2]["event"], "pre_tool_use", "{lines:?}");
    assert_eq!(lines[n - 2]["tool"], "AskUserQuestion", "{lines:?}");
    assert_eq!(lines[n - 1]["reason"], "blocked", "{lines:?}");
    assert_eq!(stdout(&flow.run("csd-status", &["a"])).trim(), "blocked");
    let row = stdout(&flow.run("csd-status", &["a", "--json"]));
    let row: Value = serde_json::from_str(row.trim()).unwrap();
    let options: Vec<&str> = row["last_turn"]["blocked"]["questions"][0]["options"]
        .as_array()
        .unwrap_or_else(|| panic!("{row}"))
        .iter()
        .map(|o| o["label"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["Red", "Green", "Blue"], "{row}");

    for bad in ["0", "4", "two"] {
        let o = flow.run("csd-send", &["--answer", "a", bad]);
        assert_code(&o, 2);
        assert!(!stderr(&o).is_empty());
    }
    let dispatched = flow.run("csd", &["--worker", "a", "answer", "9"]);
    assert_code(&dispatched, 2);
    assert!(stderr(&dispatched).contains("1..3"), "{}", stderr(&dispatched));
    assert_eq!(log_lines(&flow.env, &sid).len(), n, "a refused answer typed nothing");
    let answered = Instant::now();
    let o = flow.run("csd-send", &["--answer", "a", "2"]);
    assert_code(&o, 0);
    let took = answered.elapsed();
    let wait = flow.run("csd-wait", &["a", "60", "--after-line", &n.to_string()]);
    assert_code(&wait, 0);
    let lines = log_lines(&flow.env, &sid);
    let kinds: Vec<&str> = lines[n..].iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["post_tool_use", "stop"], "{lines:?}");
    assert!(lines.last().unwrap().get("reason").is_none(), "{lines:?}");
    let results: Vec<String> = flow
        .mock
        .requests_since(before)
        .into_iter()
        .filter_map(|r| match r.answer {
            Answer::AfterToolResult { output } => Some(output),
            _ => None,
        })
        .collect();
    assert!(results.iter().any(|r| r.contains("\"Which color?\"=\"Green\"")), "{results:?}");
    assert_eq!(stdout(&flow.run("csd-status", &["a"])).trim(), "idle");
    let turn = stdout(&flow.run("csd-turn", &["a"]));
    assert!(turn.contains("Green"), "{turn}");
    let again = flow.run("csd-send", &["--answer", "a", "1"]);
    assert_code(&again, 2);
    assert!(stderr(&again).contains("no pending question"), "{}", stderr(&again));

    // A form of two questions: one N each, then its review is submitted.
    let form = "Two things.\nask: Which color? | Red | Green | Blue\nask: Which size? | Small | Large";
    let o = flow.run("csd-send", &["--converse", "a", form, "60"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let n = log_lines(&flow.env, &sid).len();
    assert_code(&flow.run("csd-send", &["--answer", "a", "3"]), 2);
    assert_code(&flow.run("csd-send", &["--answer", "a", "3", "3"]), 2);
    let before = flow.mock.count();
    assert_code(&flow.run("csd-send", &["--answer", "a", "3", "2"]), 0);
    assert_code(&flow.run("csd-wait", &["a", "60", "--after-line", &n.to_string()]), 0);
    let result = flow.mock.requests_since(before).into_iter().find_map(|r| match r.answer {
        Answer::AfterToolResult { output } => Some(output),
        _ => None,
    });
    let result = result.expect("the model never saw the answers");
    assert!(result.contains("\"Which color?\"=\"Blue\"") && result.contains("\"Which size?\"=\"Large\""), "{result}");
    assert!(last_stop(&flow.env, &sid).get("reason").is_none());

    // A person who takes the pane and declines the question (Esc) ends the
    // turn interrupted.
    let o = flow.run("csd-send", &["--converse", "a", "Once more.\nask: Which pet? | Cat | Dog", "60"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let n = log_lines(&flow.env, &sid).len();
    let shown = eventually(TURN, || flow.env.pane("a").contains("1. Cat").then_some(()));
    assert!(shown.is_some(), "{}", flow.env.pane("a"));
    flow.env.tmux_ok(["send-keys", "-t", "=a:", "Escape"]);
    let declined = flow.run("csd-wait", &["a", "30", "--after-line", &n.to_string()]);
    assert_code(&declined, 7);
    assert_eq!(last_stop(&flow.env, &sid)["reason"], "interrupted");
    assert_eq!(stdout(&flow.run("csd-status", &["a"])).trim(), "idle");
    eprintln!("claude: question → converse exit 6 {} after the mock's answer", ms(latency));
    eprintln!("claude: csd-send --answer took {}", ms(took));
}

/// `/clear` makes Claude Code start a new session (a new id, SessionEnd
/// with reason `clear` for the old one, SessionStart with source `clear` for
/// the new): the worker follows it and stays one worker, whose next
/// converse works, whose status is idle, and which `list` shows once.
#[test]
fn a_worker_follows_its_session_through_clear() {
    let cli = claude_cli();
    isolate_network();
    let mut flow = Flow::new(cli);
    flow.launch("clr");
    let old = flow.sid("clr");
    let (reply, _) = flow.converse("clr", "Before the clear.\nsay: first answer");
    assert_eq!(reply.trim(), "first answer");
    let lines_before = log_lines(&flow.env, &old).len();

    flow.env.tmux_ok(["send-keys", "-t", "=clr:", "-l", "/clear"]);
    std::thread::sleep(Duration::from_millis(300));
    flow.env.tmux_ok(["send-keys", "-t", "=clr:", "Enter"]);
    let moved = eventually(Duration::from_secs(20), || {
        let sid = flow.sid("clr");
        (sid != old).then_some(sid)
    });
    let Some(new) = moved else {
        panic!(
            "the worker did not follow /clear; metas: {:?}\nold log: {:?}\npane:\n{}",
            std::fs::read_dir(&flow.env.worker_dir).unwrap().flatten().map(|e| e.file_name()).collect::<Vec<_>>(),
            log_lines(&flow.env, &old),
            flow.env.pane("clr")
        )
    };
    assert!(!flow.env.worker_dir.join(format!("{old}.meta")).exists(), "the old meta is left");
    // The hook writes the new meta, then carries the log over, then appends.
    let carried = eventually(Duration::from_secs(5), || {
        let log = log_lines(&flow.env, &new);
        (log.len() == lines_before + 1 && log.last().is_some_and(|e| e["event"] == "session_start")).then_some(())
    });
    assert!(carried.is_some(), "the log was not carried over: {:?}", log_lines(&flow.env, &new));
    assert_eq!(stdout(&flow.run("csd-status", &["clr"])).trim(), "idle");

    let (reply, _) = flow.converse("clr", "After the clear.\nsay: second answer");
    assert_eq!(reply.trim(), "second answer");
    assert_eq!(stdout(&flow.run("csd-status", &["clr"])).trim(), "idle");
    let turn = stdout(&flow.run("csd-turn", &["clr"]));
    assert!(turn.contains("second answer") && !turn.contains("first answer"), "{turn}");
    let list = flow.run("csd-status", &["--list"]);
    assert_code(&list, 0);
    let listed = stdout(&list);
    let rows: Vec<&str> = listed.lines().filter(|l| l.contains("\tclr\t")).collect();
    assert_eq!(rows.len(), 1, "{listed}");
    assert!(rows[0].contains(&new), "{}", rows[0]);
    let shim = flow.env.worker_dir.join("bin/clr");
    assert!(shim.exists(), "the shim went");
    assert_code(&flow.run("csd-stop", &["clr"]), 0);
    assert!(!flow.env.has_session("clr"));
    let left: Vec<String> = std::fs::read_dir(&flow.env.worker_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(&old) || n.contains(&new))
        .collect();
    assert!(left.is_empty(), "stop left state behind: {left:?}");
}

/// The hook's side, through the real csd-hook with the payloads 2.1.197
/// sent (no CLI needed): StopFailure is a failed stop; a dialog blocks an
/// open turn once (its 6-s notification, or a second dialog hook, adds
/// nothing, nor does one after the turn ended); idle_prompt blocks nothing;
/// the prompt's id is kept as the turn's.
#[test]
fn claude_hooks_become_verdicts_once_and_only_in_an_open_turn() {
    let env = TestEnv::new();
    env.fake_worker("h", "sid-h", &[]);
    let hook = |event: &str, extra: Value| {
        let mut p =
            json!({"session_id": "sid-h", "transcript_path": "/x.jsonl", "cwd": "/p", "hook_event_name": event});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let o = env.hook(&p);
        assert_code(&o, 0);
        assert!(o.stdout.is_empty() && o.stderr.is_empty());
    };
    let tail = || log_lines(&env, "sid-h");
    hook("UserPromptSubmit", json!({"prompt": "x", "prompt_id": "p-1"}));
    assert_eq!(tail()[0]["turn_id"], "p-1");
    hook("StopFailure", json!({"error": "server_error", "last_assistant_message": "API Error: 529 Overloaded."}));
    let stop = tail().pop().unwrap();
    assert_eq!((stop["reason"].as_str(), stop["error"]["kind"].as_str()), (Some("failed"), Some("overloaded")));
    assert_eq!(stop["error"]["status"], 529);
    // After the turn ended, a dialog's late notification blocks nothing.
    hook("Notification", json!({"message": "Claude needs your permission", "notification_type": "permission_prompt"}));
    hook("Notification", json!({"message": "Claude is waiting for your input", "notification_type": "idle_prompt"}));
    assert_eq!(tail().len(), 2, "{:?}", tail());

    hook("UserPromptSubmit", json!({"prompt": "y", "prompt_id": "p-2"}));
    hook("PreToolUse", json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf build"}}));
    hook("PermissionRequest", json!({"tool_name": "Bash", "tool_input": {"command": "rm -rf build"}}));
    hook("Notification", json!({"message": "Claude needs your permission", "notification_type": "permission_prompt"}));
    let lines = tail();
    assert_eq!(lines.len(), 5, "{lines:?}");
    assert_eq!(lines[4]["reason"], "blocked");
    assert_eq!(lines[4]["blocked"]["on"], "permission");
    assert_eq!(stdout(&env.run("csd-status", ["h"])).trim(), "gone", "no pane: the log alone is not read as live");

    hook("PostToolUse", json!({"tool_name": "Bash"}));
    hook("UserPromptSubmit", json!({"prompt": "z", "prompt_id": "p-3"}));
    let questions = json!({"questions": [{"question": "Which?", "header": "H", "multiSelect": false,
        "options": [{"label": "A", "description": "a"}, {"label": "B", "description": "b"}]}]});
    hook("PreToolUse", json!({"tool_name": "AskUserQuestion", "tool_input": questions}));
    hook("PermissionRequest", json!({"tool_name": "AskUserQuestion", "tool_input": questions}));
    let lines = tail();
    let kinds: Vec<&str> = lines[6..].iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["user_prompt_submit", "pre_tool_use", "stop"], "{lines:?}");
    let blocked = &lines.last().unwrap()["blocked"];
    assert_eq!(blocked["on"], "question");
    assert_eq!(blocked["questions"][0]["options"][1]["label"], "B");

    // A question that allows several answers is left to a person.
    env.fake_worker("m", "sid-m", &["sleep", "60"]);
    let mut multi = questions.clone();
    multi["questions"][0]["multiSelect"] = json!(true);
    for (event, extra) in [
        ("UserPromptSubmit", json!({"prompt": "m", "prompt_id": "p-m"})),
        ("PreToolUse", json!({"tool_name": "AskUserQuestion", "tool_input": multi})),
    ] {
        let mut p = json!({"session_id": "sid-m", "cwd": "/p", "hook_event_name": event});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        assert_code(&env.hook(&p), 0);
    }
    let o = env.run("csd-send", ["--answer", "m", "1"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("several answers"), "{}", stderr(&o));
    assert_eq!(log_lines(&env, "sid-m").len(), 3, "nothing typed, nothing logged");
}
