//! End to end against the real Claude Code CLI (pinned in tests/e2e), talking
//! to the mock Anthropic API in tests/mock, all inside a loopback-only network
//! namespace: nothing these tests start can reach anything but 127.0.0.1.
//!
//! A missing CLI fails the tests (run `npm ci` in tests/e2e); they never skip.

mod common;
#[path = "mock/anthropic.rs"]
mod anthropic;

use anthropic::{Answer, Config, MockAnthropic};
use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Generous: two cores are shared with other builds, and the CLI is a large binary.
const STARTUP: Duration = Duration::from_secs(60);
const TURN: Duration = Duration::from_secs(60);
const API_KEY: &str = "sk-ant-mock-0123456789abcdefghijklmnop";

fn claude_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/claude");
    assert!(
        cli.exists(),
        "the real Claude Code CLI is missing at {}: run `npm ci` in tests/e2e (the version is pinned in \
         tests/e2e/package-lock.json)",
        cli.display()
    );
    cli
}

/// The environment a worker's CLI needs: the mock as its API, no telemetry,
/// no update checks, no other traffic, and leave to bypass permissions as root.
fn claude_env(mock: &MockAnthropic) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_BASE_URL", mock.base_url()),
        ("ANTHROPIC_API_KEY", API_KEY.into()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".into()),
        ("DISABLE_AUTOUPDATER", "1".into()),
        ("DISABLE_TELEMETRY", "1".into()),
        ("DISABLE_ERROR_REPORTING", "1".into()),
        ("DISABLE_BUG_COMMAND", "1".into()),
        ("CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY", "1".into()),
        ("CLAUDE_CODE_DISABLE_TERMINAL_TITLE", "1".into()),
        ("IS_SANDBOX", "1".into()),
    ]
}

/// A throwaway HOME where onboarding is done and the mock's API key approved,
/// but no project is trusted: the real trust dialog is part of the test.
fn seed_home(home: &Path) {
    let key_tail = &API_KEY[API_KEY.len() - 20..];
    let config = json!({
        "hasCompletedOnboarding": true,
        "lastOnboardingVersion": "2.1.197",
        "customApiKeyResponses": {"approved": [key_tail], "rejected": []},
        "bypassPermissionsModeAccepted": true,
        "autoUpdates": false,
    });
    std::fs::write(home.join(".claude.json"), config.to_string()).unwrap();
}

fn new_session_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap().trim().to_string()
}

fn pane_text(env: &TestEnv, session: &str) -> String {
    let out = env.tmux().args(["capture-pane", "-p", "-t", &format!("={session}:")]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
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

/// Kills a process group on drop, so a failing test leaves no CLI behind even
/// if tmux's SIGHUP is not enough.
struct KillOnDrop(Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")
}

/// The recipe itself, without csd: the real CLI in a tmux pane, hooks through
/// the real csd-hook, the trust dialog answered, a prompt that makes the mock
/// call Bash, and `/exit`. When this passes and the csd flow fails, csd is wrong.
#[test]
fn the_real_cli_runs_a_tool_turn_against_the_mock() {
    let cli = claude_cli();
    isolate_network();
    let mock = MockAnthropic::start(Config::claude());
    let env = TestEnv::new();
    seed_home(&env.home);
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();

    let plugin = env.path().join("plugin");
    std::fs::create_dir_all(plugin.join(".claude-plugin")).unwrap();
    std::fs::create_dir_all(plugin.join("hooks")).unwrap();
    std::fs::write(
        plugin.join(".claude-plugin/plugin.json"),
        json!({"name": "csd-probe", "version": "0.0.0", "description": "hooks for the e2e probe"}).to_string(),
    )
    .unwrap();
    let hook = json!([{"matcher": "*", "hooks": [{"type": "command", "command": bin("csd-hook")}]}]);
    let events_hooks: serde_json::Map<String, Value> =
        ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd"]
            .iter()
            .map(|e| (e.to_string(), hook.clone()))
            .collect();
    std::fs::write(plugin.join("hooks/hooks.json"), json!({"hooks": events_hooks}).to_string()).unwrap();

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
    new_session.arg(&plugin);
    let started = Instant::now();
    assert!(new_session.status().unwrap().success());
    let pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=probe:", "#{pane_pid}"]).trim().parse().unwrap();
    let _reaper = KillOnDrop(Some(pid));

    let trust = eventually(STARTUP, || pane_text(&env, "probe").contains("Yes, I trust this folder").then_some(()));
    assert!(trust.is_some(), "no trust dialog; the pane shows:\n{}", pane_text(&env, "probe"));
    let screen = pane_text(&env, "probe");
    let digit = screen
        .lines()
        .find_map(|l| l.split_once(". Yes, I trust").map(|(head, _)| head.trim_start_matches([' ', '❯']).trim().to_string()))
        .unwrap();
    env.tmux_ok(["send-keys", "-t", "=probe:", "-l", &digit]);
    let ready = eventually(STARTUP, || has_event(&env, &sid, "session_start").then_some(()));
    assert!(ready.is_some(), "no session_start; the pane shows:\n{}", pane_text(&env, "probe"));
    eprintln!("direct: launch to session_start {:?}", started.elapsed());

    let baseline = mock.count();
    let prompt = "Please run this for me.\nrun: echo csd-e2e-$((6 * 7))";
    std::fs::write(env.path().join("prompt"), prompt).unwrap();
    let buffer = env.path().join("prompt");
    env.tmux_ok(["load-buffer", "-b", "p", buffer.to_str().unwrap()]);
    env.tmux_ok(["paste-buffer", "-p", "-d", "-b", "p", "-t", "=probe:"]);
    std::thread::sleep(Duration::from_millis(300));
    env.tmux_ok(["send-keys", "-t", "=probe:", "Enter"]);
    let done = eventually(TURN, || has_event(&env, &sid, "stop").then_some(()));
    assert!(done.is_some(), "no stop event; the pane shows:\n{}", pane_text(&env, "probe"));

    let evs = events(&env, &sid);
    let kinds: Vec<&str> = evs.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"], "{evs:?}");
    let pre = evs.iter().find(|e| e["event"] == "pre_tool_use").unwrap();
    assert_eq!(pre["tool"], "Bash", "{pre}");
    assert_eq!(pre["tool_input"]["command"], "echo csd-e2e-$((6 * 7))", "{pre}");
    let answers: Vec<Answer> = mock.requests_since(baseline).into_iter().map(|r| r.answer).collect();
    assert!(answers.contains(&Answer::ToolCall { command: "echo csd-e2e-$((6 * 7))".into() }), "{answers:?}");
    assert!(answers.contains(&Answer::AfterToolResult { output: "csd-e2e-42".into() }), "{answers:?}");
    let shown = eventually(TURN, || pane_text(&env, "probe").contains("csd-e2e-42").then_some(()));
    assert!(shown.is_some(), "the answer is not on screen:\n{}", pane_text(&env, "probe"));

    env.tmux_ok(["send-keys", "-t", "=probe:", "-l", "/exit"]);
    std::thread::sleep(Duration::from_millis(300));
    env.tmux_ok(["send-keys", "-t", "=probe:", "Enter"]);
    let ended = eventually(TURN, || (!pid_alive(pid)).then_some(()));
    assert!(ended.is_some(), "claude did not exit after /exit:\n{}", pane_text(&env, "probe"));
    assert!(has_event(&env, &sid, "session_end"), "{:?}", events(&env, &sid));
}

/// The mock's own contract, so a failure above is not blamed on it.
#[test]
fn the_mock_answers_by_the_prompts_directives() {
    let claude = Config::claude();
    let tools = json!([{"name": "Bash"}]);
    let ask = |content: Value, tools: &Value| json!({"messages": [{"role": "user", "content": content}], "tools": tools});
    let classify = |body: Value| anthropic::classify(&body, &claude);
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
}
