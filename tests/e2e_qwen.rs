//! End to end against the real Qwen Code CLI 0.24.4 (pinned in tests/e2e),
//! talking to the mock chat completions API in csd::mock::chat
//! (shared/mock/chat.rs), all inside a loopback-only network namespace:
//! nothing these tests start can reach anything but 127.0.0.1. A missing CLI
//! fails the tests; they never skip.

mod common;

use common::*;
use csd::mock::chat::{Answer, MockChat};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

const TURN: &str = "60";

fn qwen_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/qwen");
    assert!(
        cli.exists(),
        "the real Qwen Code CLI is missing at {}: run `npm install` in tests/e2e (pinned in tests/e2e/package-lock.json)",
        cli.display()
    );
    cli
}

/// csd with the real Qwen Code, pointed at the mock through the variables
/// its `openai` auth reads (csd-launch passes them to the pane).
fn csd(env: &TestEnv, mock: &MockChat, bin_name: &str, args: &[&str]) -> Output {
    env.cmd(bin_name)
        .args(args)
        .env("CSD_QWEN_BIN", qwen_cli())
        .env("OPENAI_BASE_URL", mock.base_url())
        .env("OPENAI_API_KEY", csd::mock::chat::API_KEY)
        .env("OPENAI_MODEL", "mock-model")
        .env_remove("CSD_QWEN_MODEL")
        .env_remove("QWEN_HOME")
        .env_remove("QWEN_RUNTIME_DIR")
        .env_remove("QWEN_CODE_SYSTEM_SETTINGS_PATH")
        .env_remove("QWEN_CODE_SYSTEM_DEFAULTS_PATH")
        .output()
        .unwrap()
}

/// A test's world, on a thread now in a loopback-only netns: the mock, a
/// private TestEnv whose HOME has the operator's Qwen Code settings (the
/// doctor's: `openai` auth, no retries) and csd's consent, a project dir.
fn qwen_world() -> (MockChat, TestEnv, PathBuf) {
    let _ = qwen_cli();
    isolate_network();
    let mock = MockChat::start();
    let env = TestEnv::new();
    let settings = env.home.join(".qwen/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, csd::harness::qwen::selftest::operator_settings().to_string()).unwrap();
    let consent = env.home.join(".claude/.claude-session-driver-consent");
    std::fs::create_dir_all(consent.parent().unwrap()).unwrap();
    std::fs::write(consent, "granted by the e2e test\n").unwrap();
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();
    (mock, env, project)
}

fn events(env: &TestEnv, sid: &str) -> Vec<Value> {
    std::fs::read_to_string(env.events_path(sid))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn kinds(env: &TestEnv, sid: &str) -> Vec<String> {
    events(env, sid).iter().map(|e| e["event"].as_str().unwrap_or("?").to_string()).collect()
}

fn sid_of(env: &TestEnv, mock: &MockChat, name: &str) -> String {
    let sid = stdout(&csd(env, mock, "csd-status", &["--session-id", name])).trim().to_string();
    assert_eq!(sid.len(), 36, "{sid}");
    sid
}

fn pane_pid(env: &TestEnv, name: &str) -> i32 {
    env.tmux_ok(["display-message", "-p", "-t", &format!("={name}:"), "#{pane_pid}"]).trim().parse().unwrap()
}

/// Launch to stop on one worker: a tool turn read back, a 40 KB prompt,
/// the tokens, failed turns with their kind, and no process left.
#[test]
fn a_qwen_worker_lives_its_whole_life_through_csd() {
    let (mock, env, project) = qwen_world();
    let project = project.to_str().unwrap();

    let started = Instant::now();
    let out = csd(&env, &mock, "csd-launch", &["--harness", "qwen", "w", project]);
    eprintln!("qwen: launch to ready {:?}", started.elapsed());
    assert_code(&out, 0);
    let sid = sid_of(&env, &mock, "w");
    assert_eq!(kinds(&env, &sid), ["session_start"]);
    assert_eq!(stdout(&csd(&env, &mock, "csd-status", &["w"])).trim(), "idle");
    // csd's hooks came from the settings file in the worker dir; the
    // operator's ~/.qwen/settings.json is as the test wrote it.
    let settings: Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join("qwen-settings.json")).unwrap()).unwrap();
    assert!(settings["hooks"]["Stop"][0]["hooks"][0]["command"].as_str().unwrap().contains("csd-hook"));
    let theirs: Value = serde_json::from_slice(&std::fs::read(env.home.join(".qwen/settings.json")).unwrap()).unwrap();
    assert_eq!(theirs, csd::harness::qwen::selftest::operator_settings());

    // converse with a tool call: the shell runs, the answer comes back.
    let before = mock.count();
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", "Please run it.\nRUN: echo csd-e2e-$((6 * 7))", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "DONE");
    let answers: Vec<Answer> = mock.requests_since(before).into_iter().map(|r| r.answer).collect();
    let shell = Answer::Shell { tool: "run_shell_command".into(), command: "echo csd-e2e-$((6 * 7))".into() };
    assert!(answers.contains(&shell), "{answers:?}");
    // One prompt, one turn: the empty UserPromptSubmit Qwen Code fires after
    // the tool batch is no new turn.
    assert_eq!(kinds(&env, &sid), ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"]);
    let pre = events(&env, &sid).into_iter().find(|e| e["event"] == "pre_tool_use").unwrap();
    assert_eq!(pre["tool_input"]["command"], "echo csd-e2e-$((6 * 7))", "{pre}");
    let turn = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** Please run it.\nRUN: echo csd-e2e-$((6 * 7))"), "{turn}");
    assert!(
        turn.contains("**Tool: run_shell_command**") && turn.contains("csd-e2e-42") && turn.contains("DONE"),
        "{turn}"
    );
    let transcript = stdout(&csd(&env, &mock, "csd-turn", &["w", "--path"])).trim().to_string();
    assert!(transcript.starts_with(env.home.join(".qwen/projects").to_str().unwrap()), "{transcript}");
    assert!(transcript.ends_with(&format!("/chats/{sid}.jsonl")), "{transcript}");

    // A 40 KB prompt goes in whole, as one prompt.
    let filler = "a line of filler text for a long prompt, forty KB of it.........\n".repeat(625);
    let long = format!("{filler}SAY: got it all");
    assert!(long.len() >= 40_000, "{}", long.len());
    let before = mock.count();
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", &long, TURN]);
    if out.status.code() != Some(0) {
        eprintln!("the pane:\n{}", env.pane("w"));
    }
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "got it all");
    let prompts: Vec<Value> = events(&env, &sid).into_iter().filter(|e| e["event"] == "user_prompt_submit").collect();
    assert_eq!(prompts.len(), 2, "one prompt, not one per line: {prompts:?}");
    let got = mock.requests_since(before).into_iter().find(|r| r.answer == Answer::Said("got it all".into())).unwrap();
    assert_eq!(csd::mock::chat::prompt_of(&got.body).unwrap(), long, "the model got the prompt byte for byte");

    // A prompt Qwen Code would run itself: a `/` command goes to the model
    // behind a zero-width space, with a note; a `!` line is pasted text.
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", "/about\nSAY: slash-as-text", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "slash-as-text");
    assert!(stderr(&out).contains("zero-width space"), "{}", stderr(&out));
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", "!touch BANG\nSAY: bang-as-text", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "bang-as-text");
    assert!(!std::path::Path::new(project).join("BANG").exists());
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));

    // The tokens: every model answer of the session's turns, none of the
    // CLI's side requests.
    let row = checked_status_row(&env, "w", &sid);
    eprintln!("qwen: csd-status --json: {row}");
    let turns: Vec<_> = mock.requests().into_iter().filter(|r| r.answer != Answer::Side).collect();
    let sent = MockChat::usage_sum(&turns);
    assert_eq!(
        row["tokens"],
        json!({"input": sent.input, "output": sent.output, "cache_read": sent.cache_read, "cache_write": sent.cache_write}),
        "{row}"
    );

    // A failed model request ends the turn at once, failed, with its kind
    // (rate-limit retries are off in the operator's settings; a 5xx Qwen
    // Code retries with its own back-off, which no setting turns off).
    for (directive, kind, status) in
        [("FAIL: 400", "invalid_request", 400), ("FAIL: 401", "authentication_failed", 401)]
    {
        let started = Instant::now();
        let out = csd(&env, &mock, "csd-send", &["--converse", "w", directive, TURN]);
        eprintln!("qwen: {directive}: converse exited {:?} after {:?}", out.status.code(), started.elapsed());
        assert_code(&out, 5);
        assert!(started.elapsed() < Duration::from_secs(10), "{directive}: {:?}", started.elapsed());
        assert!(stderr(&out).contains(&format!("its turn failed: {kind} (HTTP {status})")), "{}", stderr(&out));
        let last = events(&env, &sid).pop().unwrap();
        assert_eq!((last["event"].as_str(), last["reason"].as_str()), (Some("stop"), Some("failed")), "{last}");
        assert_eq!(last["error"]["kind"], kind, "{last}");
        assert_eq!(stdout(&csd(&env, &mock, "csd-status", &["w"])).trim(), "idle");
    }
    let turn = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** FAIL: 401"), "{turn}");
    assert_eq!(turn.matches("**Turn failed:**").count(), 1, "{turn}");
    // ... and for csd-wait after a plain send.
    let after = events(&env, &sid).len().to_string();
    assert_code(&csd(&env, &mock, "csd-send", &["w", "FAIL: 403"]), 0);
    let out = csd(&env, &mock, "csd-wait", &["w", "20", "--after-line", &after]);
    assert_code(&out, 5);
    let ended: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!((ended["reason"].as_str(), ended["error"]["kind"].as_str()), (Some("failed"), Some("billing_error")));
    // A fleet wait tells the same: the latest prompt was answered, failed.
    let out = csd(&env, &mock, "csd-wait", &["--any", "w", "--timeout", "20"]);
    assert_code(&out, 5);
    assert!(stdout(&out).starts_with("w\tfailed"), "{}", stdout(&out));
    // The next prompt is answered; --all waits for it.
    assert_code(&csd(&env, &mock, "csd-send", &["w", "SLEEP: 2\nSAY: back again"]), 0);
    let started = Instant::now();
    let out = csd(&env, &mock, "csd-wait", &["--all", "w", "--timeout", "30"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "w\tidle\n");
    assert!(started.elapsed() >= Duration::from_secs(1), "--all returned before the turn ended");
    let turn = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
    assert!(turn.contains("back again"), "{turn}");

    // Handoff names the way in for a human.
    let out = csd(&env, &mock, "csd-stop", &["--handoff", "w"]);
    assert_code(&out, 0);
    assert!(format!("{}{}", stdout(&out), stderr(&out)).contains("attach"), "{}", stderr(&out));

    // Stop: /quit, then nothing left: no processes, no worker files.
    let pane = pane_pid(&env, "w");
    let mut procs = descendants(pane);
    procs.push(pane);
    assert_code(&csd(&env, &mock, "csd-stop", &["w"]), 0);
    let ended = eventually(Duration::from_secs(10), || procs.iter().all(|p| !pid_alive(*p)).then_some(()));
    assert!(ended.is_some(), "processes left: {:?}", procs.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>());
    assert_eq!(kinds(&env, &sid).last().map(String::as_str), None, "the worker's log went with it");
    let left: Vec<PathBuf> =
        files_under(&env.worker_dir).into_iter().filter(|p| !p.ends_with("qwen-settings.json")).collect();
    assert!(left.is_empty(), "left behind in the worker dir: {left:?}");
    // The transcript stays with the operator.
    assert!(std::fs::read_to_string(&transcript).unwrap().contains("csd-e2e-42"));
}

/// A prompt sent while a tool runs joins the running turn (Qwen Code
/// steers it in) with a receipt of its own that csd-wait can wait after,
/// and the turn's answer is its answer.
#[test]
fn a_prompt_sent_mid_turn_joins_the_running_turn_with_its_own_receipt() {
    let (mock, env, project) = qwen_world();
    assert_code(&csd(&env, &mock, "csd-launch", &["--harness", "qwen", "w", project.to_str().unwrap()]), 0);
    let sid = sid_of(&env, &mock, "w");
    assert_code(
        &csd(
            &env,
            &mock,
            "csd-send",
            &["w", "First.\nRUN: python3 -c \"import time; time.sleep(4)\"; echo first-done"],
        ),
        0,
    );
    let busy =
        eventually(Duration::from_secs(60), || kinds(&env, &sid).ends_with(&["pre_tool_use".into()]).then_some(()));
    let answers: Vec<Answer> = mock.requests().into_iter().map(|r| r.answer).collect();
    assert!(busy.is_some(), "{:?} {answers:?}\n{}", kinds(&env, &sid), env.pane("w"));
    let o = csd(&env, &mock, "csd-send", &["--receipt", "w", "Second.\nSAY: second-answer", TURN]);
    eprintln!("qwen: mid-turn send: {}", stderr(&o));
    assert_code(&o, 0);
    let n: usize = stdout(&o).trim().parse().unwrap();
    let w = csd(&env, &mock, "csd-wait", &["w", TURN, "--after-line", &n.to_string()]);
    assert_code(&w, 0);
    let evs = events(&env, &sid);
    // Qwen Code "steers" it into the running turn (Enter mid-turn; Ctrl+Q
    // would queue it): a UserPromptSubmit of its own after the tool's
    // result, the receipt, and the turn's one stop after it.
    eprintln!("qwen: mid-turn: receipt {n}, log {:?}", kinds(&env, &sid));
    assert_eq!(
        kinds(&env, &sid),
        ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "user_prompt_submit", "stop"]
    );
    assert_eq!(evs[n - 1]["event"], "user_prompt_submit", "{evs:?}");
    assert_eq!(evs[n - 1]["prompt_digest"], csd::event::prompt_digest("Second.\nSAY: second-answer"), "{evs:?}");
    let turn = eventually(Duration::from_secs(10), || {
        let t = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
        t.contains("second-answer").then_some(t)
    });
    assert!(turn.is_some(), "{}", stdout(&csd(&env, &mock, "csd-turn", &["w"])));

    // Sent while the model request runs (no tool): steered in as well, but
    // with no UserPromptSubmit of its own; the transcript says it joined,
    // so the receipt is the line before the send and the running turn's end
    // answers it.
    assert_code(&csd(&env, &mock, "csd-send", &["w", "Third.\nSLEEP: 3\nSAY: third-answer"]), 0);
    std::thread::sleep(Duration::from_millis(1000));
    let o = csd(&env, &mock, "csd-send", &["--receipt", "w", "Fourth.\nSAY: fourth-answer", TURN]);
    eprintln!("qwen: sent during a model request: {}", stderr(&o));
    assert_code(&o, 0);
    let n: usize = stdout(&o).trim().parse().unwrap();
    assert_code(&csd(&env, &mock, "csd-wait", &["w", TURN, "--after-line", &n.to_string()]), 0);
    assert!(stderr(&o).contains("running turn"), "{}", stderr(&o));
    assert_eq!(n, 7, "the running turn's prompt is the last line before the send: {:?}", kinds(&env, &sid));
    assert_eq!(&kinds(&env, &sid)[6..], ["user_prompt_submit", "stop"], "one turn for both");
    let turn = eventually(Duration::from_secs(10), || {
        let t = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
        t.contains("fourth-answer").then_some(t)
    });
    assert!(turn.is_some(), "{}", stdout(&csd(&env, &mock, "csd-turn", &["w"])));

    // Escape during the model request: no hook fires (the turn stays open
    // in the log) and Qwen Code puts the prompt back into the input; the
    // next prompt must reach the model alone, not joined to it.
    assert_code(&csd(&env, &mock, "csd-send", &["w", "SLEEP: 3\nSAY: slow"]), 0);
    std::thread::sleep(Duration::from_millis(1000));
    env.tmux_ok(["send-keys", "-t", "=w:", "Escape"]);
    let put_back = eventually(Duration::from_secs(5), || {
        csd::harness::qwen::input_box_text(&env.pane("w")).filter(|t| t.contains("SAY: slow"))
    });
    assert!(put_back.is_some(), "{}", env.pane("w"));
    // (The cancelled request is recorded when the mock has answered it,
    // which may be later: only requests that arrived after the send count.)
    let sent = Instant::now();
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", "SAY: after-escape", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "after-escape");
    let prompts: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.arrived >= sent)
        .filter_map(|r| csd::mock::chat::prompt_of(&r.body))
        .collect();
    assert_eq!(prompts, ["SAY: after-escape"], "{prompts:?}");
    assert_code(&csd(&env, &mock, "csd-stop", &["w"]), 0);
}

/// A reboot takes tmux and the worker dir; the transcript is in the
/// operator's ~/.qwen, so `csd-launch --adopt` resumes the session by id and
/// the model's next request carries the earlier turn.
#[test]
fn adopt_revives_a_qwen_session_with_its_history_after_a_reboot() {
    let (mock, env, project) = qwen_world();
    let project = project.to_str().unwrap();
    assert_code(&csd(&env, &mock, "csd-launch", &["--harness", "qwen", "before", project]), 0);
    let out =
        csd(&env, &mock, "csd-send", &["--converse", "before", "Remember the heron.\nSAY: noted the heron", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "noted the heron");
    let sid = sid_of(&env, &mock, "before");

    let pid = pane_pid(&env, "before");
    env.tmux().arg("kill-server").status().unwrap();
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_some());
    std::fs::remove_dir_all(&env.worker_dir).unwrap();

    // An id with no transcript is refused at once, naming where csd looked.
    let unknown = "0b0e0000-0000-4000-8000-000000000000";
    let out = csd(&env, &mock, "csd-launch", &["--adopt", "--harness", "qwen", "after", project, unknown]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains(&format!("no transcript for session {unknown}")), "{}", stderr(&out));
    assert!(!env.has_session("after"));

    let started = Instant::now();
    let out = csd(&env, &mock, "csd-launch", &["--adopt", "--harness", "qwen", "after", project, &sid]);
    eprintln!("qwen: adopt to ready {:?}", started.elapsed());
    assert_code(&out, 0);
    let pid = pane_pid(&env, "after");
    let _reaper = KillOnDrop(Some(pid));
    assert_eq!(sid_of(&env, &mock, "after"), sid);
    assert_eq!(stdout(&csd(&env, &mock, "csd-status", &["after"])).trim(), "idle");

    let baseline = mock.count();
    let out = csd(&env, &mock, "csd-send", &["--converse", "after", "And now?\nSAY: back after the reboot", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "back after the reboot");
    let history: String = mock
        .requests_since(baseline)
        .iter()
        .filter(|r| r.answer != Answer::Side)
        .map(|r| r.body["messages"].to_string())
        .collect();
    assert!(history.contains("Remember the heron."), "the resumed session lost its first prompt: {history}");
    assert!(history.contains("noted the heron"), "the resumed session lost its first answer: {history}");
    let turn = stdout(&csd(&env, &mock, "csd-turn", &["after"]));
    assert!(turn.contains("**Prompt:** And now?") && turn.contains("back after the reboot"), "{turn}");
    assert_code(&csd(&env, &mock, "csd-stop", &["after"]), 0);
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_some());
}

/// `csd doctor --harness qwen` alone, from an operator HOME with no csd
/// consent and no Qwen Code setup: it proves the real CLI against its own
/// chat completions mock, in its own world, and leaves the HOME as it was.
#[test]
fn csd_doctor_proves_qwen_code_alone() {
    let cli = qwen_cli();
    isolate_network();
    let env = TestEnv::new();
    let tmpdir = env.path().join("tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let out = std::process::Command::new(bin("csd-doctor"))
        .args(["--harness", "qwen", "--json"])
        .env("HOME", &env.home)
        .env("TMPDIR", &tmpdir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("CSD_QWEN_BIN", &cli)
        .env_remove("TMUX")
        .env_remove("CSD_WORKER_DIR")
        .env_remove("CSD_TMUX_SOCKET")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    eprintln!("qwen: csd-doctor: {}{}", stdout(&out), stderr(&out));
    assert_code(&out, 0);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &doc["harnesses"][0];
    assert_eq!((row["harness"].as_str(), row["result"].as_str()), (Some("qwen"), Some("ok")), "{doc:#}");
    assert_eq!(row["version"], "0.24.4", "{doc:#}");
    assert_eq!(row["warning"], Value::Null, "{doc:#}");
    assert!(files_under(&env.home).is_empty(), "the operator's HOME changed: {:?}", files_under(&env.home));
    assert!(std::fs::read_dir(&tmpdir).unwrap().next().is_none(), "the doctor left its temp dir behind");
}
