//! End to end against the real Gemini CLI 0.61 (pinned in tests/e2e),
//! talking to the mock Gemini API in csd::mock::gemini
//! (shared/mock/gemini.rs), all inside a loopback-only network namespace:
//! nothing these tests start can reach anything but 127.0.0.1. A missing CLI
//! fails the tests; they never skip.

mod common;

use common::*;
use csd::mock::gemini::{Answer, MockGemini};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const TURN: &str = "60";

fn gemini_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/gemini");
    assert!(
        cli.exists(),
        "the real Gemini CLI is missing at {}: run `npm install` in tests/e2e (pinned in tests/e2e/package-lock.json)",
        cli.display()
    );
    cli
}

/// `c` with the real Gemini CLI and the mock as its API: the key and the
/// base URL in csd-launch's environment, which csd passes to the pane.
fn with_gemini<'c>(c: &'c mut Command, mock: &MockGemini) -> &'c mut Command {
    c.env("CSD_GEMINI_BIN", gemini_cli())
        .env("GEMINI_API_KEY", csd::mock::gemini::API_KEY)
        .env("GOOGLE_GEMINI_BASE_URL", mock.base_url())
        .env_remove("GEMINI_CLI_HOME")
        .env_remove("GEMINI_CLI_SYSTEM_SETTINGS_PATH")
        .env_remove("GEMINI_MODEL")
        // As on a CI machine, wherever the tests run: Gemini CLI takes
        // CI=true or GITHUB_ACTIONS=true for headless and exits; csd pins
        // both empty in the pane (CI caught it, 2026-12-06).
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
}

/// The operator's own Gemini settings (no auth type chosen: csd selects the
/// API key it finds), and csd's consent.
fn operator_settings(home: &Path) {
    let dir = home.join(".gemini");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("settings.json"), json!({"ui": {"hideTips": true}}).to_string()).unwrap();
    let consent = home.join(".claude/.claude-session-driver-consent");
    std::fs::create_dir_all(consent.parent().unwrap()).unwrap();
    std::fs::write(consent, "granted by the e2e test\n").unwrap();
}

struct World {
    mock: MockGemini,
    env: TestEnv,
    project: PathBuf,
}

impl World {
    fn csd(&self, bin_name: &str, args: &[&str]) -> Output {
        with_gemini(self.env.cmd(bin_name).args(args), &self.mock).output().unwrap()
    }

    fn command(&self, bin_name: &str, args: &[&str]) -> Command {
        let mut c = self.env.cmd(bin_name);
        with_gemini(c.args(args), &self.mock);
        c
    }

    fn project(&self) -> &str {
        self.project.to_str().unwrap()
    }

    fn events(&self) -> Vec<Value> {
        let mut all = Vec::new();
        for e in std::fs::read_dir(&self.env.worker_dir).unwrap().flatten() {
            if e.file_name().to_string_lossy().ends_with(".events.jsonl") {
                let text = std::fs::read_to_string(e.path()).unwrap();
                all.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
            }
        }
        all
    }

    fn kinds(&self) -> Vec<String> {
        self.events().iter().map(|e| e["event"].as_str().unwrap_or("?").to_string()).collect()
    }

    fn launch(&self, name: &str) -> Duration {
        let started = Instant::now();
        let out = self.csd("csd-launch", &["--harness", "gemini", name, self.project()]);
        assert_code(&out, 0);
        started.elapsed()
    }

    fn stop(&self, name: &str) {
        let started = Instant::now();
        let out = self.csd("csd-stop", &[name]);
        eprintln!("gemini: stop {:?}", started.elapsed());
        assert_code(&out, 0);
        assert!(stdout(&out).contains("stopped"), "{}", stdout(&out));
        assert!(!self.env.has_session(name));
    }

    fn status(&self, name: &str) -> String {
        stdout(&self.csd("csd-status", &[name])).trim().to_string()
    }
}

/// A test's world, on a thread now in a loopback-only netns.
fn gemini_world() -> World {
    let _ = gemini_cli();
    isolate_network();
    let mock = MockGemini::start();
    let env = TestEnv::new();
    operator_settings(&env.home);
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();
    World { mock, env, project }
}

fn pane_processes(env: &TestEnv, name: &str) -> Vec<i32> {
    let pane_pid: i32 =
        env.tmux_ok(["display-message", "-p", "-t", &format!("={name}:"), "#{pane_pid}"]).trim().parse().unwrap();
    let mut procs = descendants(pane_pid);
    procs.push(pane_pid);
    procs
}

#[test]
fn a_gemini_worker_lives_its_whole_life_through_csd() {
    let w = gemini_world();
    // A git checkout: Gemini CLI would ask whether to trust the folder.
    assert!(Command::new("git").args(["init", "-q"]).current_dir(&w.project).status().unwrap().success());
    let launch_to_ready = w.launch("w");
    let _reaper = KillOnDrop(Some(pane_processes(&w.env, "w").pop().unwrap()));
    eprintln!("gemini: launch to ready {launch_to_ready:?}");
    let sid = stdout(&w.csd("csd-status", &["--session-id", "w"])).trim().to_string();
    assert_eq!(sid.len(), 36, "{sid}");
    assert_eq!(w.status("w"), "idle");
    assert_eq!(w.kinds(), ["session_start"]);
    // The worker's own settings: the operator's, with csd's hooks and auth.
    let settings: Value =
        serde_json::from_slice(&std::fs::read(w.env.worker_dir.join("homes/w/.gemini/settings.json")).unwrap())
            .unwrap();
    assert!(settings["hooks"]["AfterAgent"][0]["hooks"][0]["command"].as_str().unwrap().contains("csd-hook"));
    assert_eq!(settings["security"]["auth"]["selectedType"], "gemini-api-key");
    assert_eq!(settings["ui"]["hideTips"], true);
    let list = stdout(&w.csd("csd-status", &["--list"]));
    assert!(list.lines().any(|l| l.starts_with(&format!("idle\tgemini\tw\t{sid}\t"))), "{list}");

    // converse with a tool call: runs the tool, answers.
    let before = w.mock.count();
    let started = Instant::now();
    let out = w.csd("csd-send", &["--converse", "w", "Please run it.\nRUN: printf 'csd-e2e-%s\\n' 42", TURN]);
    let converse_time = started.elapsed();
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "DONE");
    let turn_requests: Vec<_> = w.mock.requests_since(before);
    let model_time = MockGemini::busy_time(&turn_requests);
    eprintln!("gemini: converse {converse_time:?}, model {model_time:?}");
    let answers: Vec<Answer> = turn_requests.iter().map(|r| r.answer.clone()).collect();
    assert!(answers.contains(&Answer::Route), "the routing call: {answers:?}");
    assert!(answers.contains(&Answer::Shell { command: "printf 'csd-e2e-%s\\n' 42".into() }), "{answers:?}");
    assert_eq!(w.kinds(), ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"]);
    let pre = w.events().into_iter().find(|e| e["event"] == "pre_tool_use").unwrap();
    assert_eq!(pre["tool"], "Bash");
    assert_eq!(pre["tool_input"]["command"], "printf 'csd-e2e-%s\\n' 42");

    // read-turn shows the tool call and its result from the session file.
    let turn = stdout(&w.csd("csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** Please run it.\nRUN: printf 'csd-e2e-%s\\n' 42"), "{turn}");
    assert!(turn.contains("**Tool: Bash**") && turn.contains("csd-e2e-42") && turn.contains("DONE"), "{turn}");
    assert_eq!(turn.matches("**Tool: Bash**").count(), 1, "{turn}");
    let meta: Value =
        serde_json::from_slice(&std::fs::read(w.env.worker_dir.join(format!("{sid}.meta"))).unwrap()).unwrap();
    // Written through the worker home's `tmp` link, into the operator's ~/.gemini/tmp.
    let transcript = std::fs::canonicalize(meta["transcript_path"].as_str().unwrap()).unwrap();
    assert!(transcript.starts_with(std::fs::canonicalize(w.env.home.join(".gemini/tmp")).unwrap()), "{meta}");

    // A 40 KB prompt goes in whole, as one prompt.
    let long = format!("{}\nSAY: got it all", "a line of filler text for a long prompt\n".repeat(1000));
    assert!(long.len() > 40_000);
    let out = w.csd("csd-send", &["--converse", "w", &long, TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "got it all");
    let prompts: Vec<Value> = w.events().into_iter().filter(|e| e["event"] == "user_prompt_submit").collect();
    assert_eq!(prompts.len(), 2, "one prompt, not one per line: {prompts:?}");
    let last = w.mock.requests().into_iter().rev().find(|r| r.answer == Answer::Said("got it all".into())).unwrap();
    let sent = csd::mock::gemini::prompt_of(&last.body).unwrap();
    assert_eq!(sent.matches("a line of filler text").count(), 1000);

    // The tokens: every answer of the session's turns (not the routing calls).
    let row = checked_status_row(&w.env, "w", &sid);
    eprintln!("gemini: csd-status --json: {row}");
    let sum = MockGemini::usage_sum(&w.mock.requests());
    assert_eq!(
        row["tokens"],
        json!({"input": sum.input, "output": sum.output, "cache_read": sum.cache_read, "cache_write": 0}),
        "{row}"
    );

    // A failed model request ends the turn at once, with its kind.
    let started = Instant::now();
    let out = w.csd("csd-send", &["--converse", "w", "FAIL: 400", TURN]);
    let took = started.elapsed();
    eprintln!("gemini: a failed turn's converse {took:?}");
    assert_code(&out, 5);
    assert!(stderr(&out).contains("its turn failed: invalid_request (HTTP 400)"), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "{took:?}");
    let last = w.events().pop().unwrap();
    assert_eq!((last["event"].as_str(), last["reason"].as_str()), (Some("stop"), Some("failed")), "{last}");
    assert_eq!(w.status("w"), "idle");
    let turn = stdout(&w.csd("csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** FAIL: 400"), "{turn}");
    assert_eq!(turn.matches("**Turn failed:**").count(), 1, "{turn}");

    // ... and for wait-for-turn with a receipt.
    let after = w.events().len().to_string();
    assert_code(&w.csd("csd-send", &["w", "FAIL: 401"]), 0);
    let out = w.csd("csd-wait", &["w", "20", "--after-line", &after]);
    assert_code(&out, 5);
    let ended: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        (ended["reason"].as_str(), ended["error"]["kind"].as_str()),
        (Some("failed"), Some("authentication_failed"))
    );
    assert_eq!(ended["error"]["status"], 401, "{ended}");

    // Handoff: how a human takes the pane over; the worker runs on.
    let out = w.csd("csd-stop", &["--handoff", "w"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("attach -t =w"), "{}", stdout(&out));
    assert_eq!(w.status("w"), "idle");

    // Stop: /quit, then nothing left: no files, no processes.
    let procs = pane_processes(&w.env, "w");
    w.stop("w");
    let ended = eventually(Duration::from_secs(10), || procs.iter().all(|p| !pid_alive(*p)).then_some(()));
    assert!(ended.is_some(), "processes left: {:?}", procs.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>());
    let left: Vec<PathBuf> = files_under(&w.env.worker_dir);
    assert!(left.is_empty(), "left behind in the worker dir: {left:?}");
    assert!(std::fs::read_to_string(&transcript).unwrap().contains("csd-e2e-42"), "the session file outlives stop");
}

/// A reboot takes tmux and the worker dir; the session file is in the
/// operator's ~/.gemini, so `csd adopt --harness gemini` resumes the session
/// and the model's next request carries the earlier turn.
#[test]
fn adopt_revives_a_gemini_session_with_its_history_after_a_reboot() {
    let w = gemini_world();
    w.launch("before");
    let out = w.csd("csd-send", &["--converse", "before", "Remember the heron.\nSAY: noted the heron", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "noted the heron");
    let sid = stdout(&w.csd("csd-status", &["--session-id", "before"])).trim().to_string();

    let pid: i32 = w.env.tmux_ok(["display-message", "-p", "-t", "=before:", "#{pane_pid}"]).trim().parse().unwrap();
    let procs = pane_processes(&w.env, "before");
    w.env.tmux().arg("kill-server").status().unwrap();
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_some());
    for p in procs.iter().filter(|p| pid_alive(**p)) {
        eprintln!("gemini: {p} outlived tmux kill-server");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p), nix::sys::signal::Signal::SIGKILL);
    }
    std::fs::remove_dir_all(&w.env.worker_dir).unwrap();

    // A session id with no session file is refused at once, naming where csd looked.
    let unknown = "0badc0de-0000-4000-8000-000000000000";
    let out = w.csd("csd-launch", &["--adopt", "--harness", "gemini", "after", w.project(), unknown]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains(&format!("no transcript for session {unknown}")), "{}", stderr(&out));
    assert!(stderr(&out).contains("chats/session-*-0badc0de.jsonl"), "{}", stderr(&out));

    let started = Instant::now();
    let out = w.csd("csd-launch", &["--adopt", "--harness", "gemini", "after", w.project(), &sid]);
    eprintln!("gemini: adopt to ready {:?}", started.elapsed());
    assert_code(&out, 0);
    let pid: i32 = w.env.tmux_ok(["display-message", "-p", "-t", "=after:", "#{pane_pid}"]).trim().parse().unwrap();
    let _reaper = KillOnDrop(Some(pid));
    assert_eq!(stdout(&w.csd("csd-status", &["--session-id", "after"])).trim(), sid);
    assert_eq!(w.status("after"), "idle");

    let baseline = w.mock.count();
    let out = w.csd("csd-send", &["--converse", "after", "And now?\nSAY: back after the reboot", TURN]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}\n{:?}", stderr(&out), w.env.pane("after"), w.kinds());
    assert_eq!(stdout(&out).trim(), "back after the reboot");
    let history: String = w
        .mock
        .requests_since(baseline)
        .iter()
        .filter(|r| r.answer != Answer::Route)
        .map(|r| r.body["contents"].to_string())
        .collect();
    assert!(history.contains("Remember the heron."), "the resumed session lost its first prompt: {history}");
    assert!(history.contains("noted the heron"), "the resumed session lost its first answer: {history}");
    let turn = stdout(&w.csd("csd-turn", &["after"]));
    assert!(turn.contains("**Prompt:** And now?") && turn.contains("back after the reboot"), "{turn}");
    w.stop("after");
    assert!(files_under(&w.env.worker_dir).is_empty());
    let files = csd::harness::gemini::Gemini::find_session_files(&w.env.home.join(".gemini"), &sid);
    let kept: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    assert!(kept.contains("noted the heron") && kept.contains("back after the reboot"), "{files:?}");
}

/// A prompt sent while a tool runs is taken (its own user_prompt_submit, the
/// receipt) and answered; the wait on its receipt ends with its turn.
#[test]
fn a_prompt_sent_mid_turn_is_answered_with_its_own_receipt() {
    let w = gemini_world();
    w.launch("w");
    assert_code(&w.csd("csd-send", &["w", "First.\nRUN: sleep 12; echo first-done"]), 0);
    let started = Instant::now();
    while !w.kinds().ends_with(&["pre_tool_use".to_string()]) {
        assert!(started.elapsed() < Duration::from_secs(60), "{:?}", w.kinds());
        std::thread::sleep(Duration::from_millis(50));
    }
    // Longer than the submit timeout: the screen's "Queued" list tells at once.
    let sent = Instant::now();
    let o = w.csd("csd-send", &["--receipt", "w", "Second.\nSAY: second-answer", TURN]);
    eprintln!("gemini: a receipt for a prompt sent mid-turn {:?}", sent.elapsed());
    assert_code(&o, 0);
    assert!(stderr(&o).contains("queued"), "{}", stderr(&o));
    let n: usize = stdout(&o).trim().parse().unwrap();
    let evs = w.events();
    assert_eq!(evs[n - 1]["event"], "user_prompt_submit", "{evs:?}");
    let out = w.csd("csd-wait", &["w", TURN, "--after-line", &n.to_string()]);
    assert_code(&out, 0);
    eprintln!("gemini: events of a prompt sent mid-turn: {:?}", w.kinds());
    let turn = stdout(&w.csd("csd-turn", &["w"]));
    assert!(turn.contains("second-answer"), "{turn}");
    w.stop("w");
}

/// Escape mid-turn: the turn ends as interrupted, at once.
#[test]
fn an_interrupted_gemini_turn_is_told_as_interrupted() {
    let w = gemini_world();
    w.launch("w");
    let mut converse = w.command("csd-send", &["--converse", "w", "SLEEP: 20\nSAY: too late", TURN]);
    let status = || w.status("w");
    escape_mid_converse(&w.env, "w", &mut converse, status);
    let last = w.events().pop().unwrap();
    assert_eq!(last["reason"], "interrupted", "{last}");
    w.stop("w");
}

/// Gemini CLI killed mid-turn: converse ends at once (exit 4) and the log
/// says the turn crashed; no process of it is left.
#[test]
fn a_gemini_cli_killed_mid_turn_ends_the_turn_crashed() {
    let w = gemini_world();
    w.launch("w");
    let procs = pane_processes(&w.env, "w");
    let mut converse = w.command("csd-send", &["--converse", "w", "SLEEP: 30\nSAY: too late", TURN]);
    converse.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = converse.spawn().unwrap();
    let working = eventually(Duration::from_secs(20), || (w.status("w") == "working").then_some(()));
    assert!(working.is_some(), "{}", w.env.pane("w"));
    let killed = Instant::now();
    let pane_pid = *procs.last().unwrap();
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pane_pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let out = child.wait_with_output().unwrap();
    eprintln!("gemini: kill to converse's exit {:?}", killed.elapsed());
    assert_code(&out, 4);
    assert!(killed.elapsed() < Duration::from_secs(5), "{:?}", killed.elapsed());
    let last = w.events().pop().unwrap();
    assert_eq!((last["event"].as_str(), last["reason"].as_str()), (Some("stop"), Some("crashed")), "{last}");
    assert_eq!(w.status("w"), "gone");
    let left = eventually(Duration::from_secs(10), || procs.iter().all(|p| !pid_alive(*p)).then_some(()));
    assert!(left.is_some(), "{:?}", procs.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>());
    assert_code(&w.csd("csd-stop", &["w"]), 0);
}

/// Two Gemini workers, turns of about 3 s and 0 s: `csd-wait --all` reports
/// them in the order they finish, `--any` the first, `csd-events --all`
/// names each; a failed turn is told with why (exit 5) while the other works on.
#[test]
fn a_fleet_of_gemini_workers_is_waited_for_in_finish_order() {
    let w = gemini_world();
    for name in ["g1", "g2"] {
        w.launch(name);
    }
    assert_code(&w.csd("csd-send", &["g1", "Slow.\nRUN: sleep 3; echo g1-done"]), 0);
    assert_code(&w.csd("csd-send", &["g2", "Quick.\nSAY: g2-done"]), 0);
    let o = w.csd("csd-wait", &["--all", "g1", "g2", "-t", TURN]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "g2\tidle\ng1\tidle\n");
    let all = stdout(&w.csd("csd-events", &["--all", "--type", "stop"]));
    let workers: Vec<String> = all
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["worker"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(workers, ["g2", "g1"], "{all}");
    assert_code(&w.csd("csd-send", &["g1", "Slow.\nRUN: sleep 3; echo g1-done"]), 0);
    assert_code(&w.csd("csd-send", &["g2", "FAIL: 403"]), 0);
    let o = w.csd("csd-wait", &["--any", "g1", "g2", "-t", TURN]);
    assert_code(&o, 5);
    assert!(
        stdout(&o).starts_with("g2\tfailed\tworker 'g2': its turn failed: authentication_failed (HTTP 403)"),
        "{}",
        stdout(&o)
    );
    let o = w.csd("csd-wait", &["--all", "g1", "-t", TURN]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "g1\tidle\n");
    for name in ["g1", "g2"] {
        w.stop(name);
    }
}

/// A prompt is text for the model, whatever its first byte: a pasted `!`
/// runs nothing, a `/` (which Gemini CLI would run as its own command) goes
/// in behind a word joiner (U+2060), with a note.
#[test]
fn a_bang_or_slash_prompt_reaches_the_model_as_text() {
    let w = gemini_world();
    w.launch("w");
    let out = w.csd("csd-send", &["--converse", "w", "!touch made-by-bang\nSAY: bang-as-text", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "bang-as-text");
    assert!(!w.project.join("made-by-bang").exists());
    let out = w.csd("csd-send", &["--converse", "w", "/about now\nSAY: slash-as-text", TURN]);
    assert_eq!(out.status.code(), Some(0), "{}\n{}", stderr(&out), w.env.pane("w"));
    assert_eq!(stdout(&out).trim(), "slash-as-text");
    assert!(stderr(&out).contains("U+2060"), "{}", stderr(&out));
    let last = w.mock.requests().into_iter().rev().find(|r| r.answer == Answer::Said("slash-as-text".into())).unwrap();
    assert_eq!(csd::mock::gemini::prompt_of(&last.body).unwrap(), "\u{2060}/about now\nSAY: slash-as-text");
    w.stop("w");
}

/// `csd doctor --harness gemini` proves the real CLI against the mock.
#[test]
fn doctor_passes_with_the_real_gemini_cli() {
    let cli = gemini_cli();
    isolate_network();
    let env = TestEnv::new();
    operator_settings(&env.home);
    let tmpdir = env.path().join("tmp");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let started = Instant::now();
    let out = Command::new(bin("csd-doctor"))
        .args(["--json", "--harness", "gemini"])
        .env("HOME", &env.home)
        .env("TMPDIR", &tmpdir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("CSD_GEMINI_BIN", &cli)
        .env_remove("TMUX")
        .env_remove("CSD_WORKER_DIR")
        .env_remove("CSD_TMUX_SOCKET")
        .env_remove("GEMINI_API_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    eprintln!("csd-doctor --harness gemini: {:?}\n{}{}", started.elapsed(), stdout(&out), stderr(&out));
    assert_code(&out, 0);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &doc["harnesses"][0];
    assert_eq!((row["harness"].as_str(), row["result"].as_str()), (Some("gemini"), Some("ok")), "{doc:#}");
    assert!(row["version"].as_str().unwrap().starts_with("0.61."), "{row:#}");
    assert_eq!(row["warning"], Value::Null, "{row:#}");
    let left: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "the doctor left {left:?} in its TMPDIR");
}
