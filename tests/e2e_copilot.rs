//! End to end against the real GitHub Copilot CLI 1.0.102 (pinned in
//! tests/e2e), offline, its BYOK provider the mock chat completions API in
//! csd::mock::chat (shared/mock/chat.rs), all inside a loopback-only network
//! namespace: nothing these tests start can reach anything but 127.0.0.1. A
//! missing CLI fails the tests; they never skip. Each test's HOME gets its
//! own unpacked copy of the CLI's package (~235 MB, about a second, the
//! first time it runs there).

mod common;

use common::*;
use csd::mock::chat::{Answer, MockChat};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

const TURN: &str = "60";

fn copilot_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/copilot");
    assert!(
        cli.exists(),
        "the real Copilot CLI is missing at {}: run `npm install` in tests/e2e (pinned in tests/e2e/package-lock.json)",
        cli.display()
    );
    cli
}

/// csd with the real Copilot CLI, pointed at the mock through its BYOK
/// provider variables (csd-launch passes them to the pane).
fn csd(env: &TestEnv, mock: &MockChat, bin_name: &str, args: &[&str]) -> Output {
    let mut c = env.cmd(bin_name);
    c.args(args).env("CSD_COPILOT_BIN", copilot_cli());
    for (k, v) in csd::harness::copilot::selftest::provider_env(&mock.base_url(), csd::mock::chat::API_KEY) {
        c.env(k, v);
    }
    c.env_remove("CSD_COPILOT_MODEL").env_remove("COPILOT_HOME").env_remove("XDG_CACHE_HOME").output().unwrap()
}

/// A test's world, on a thread now in a loopback-only netns: the mock, a
/// private TestEnv whose HOME has csd's consent, a project dir.
fn copilot_world() -> (MockChat, TestEnv, PathBuf) {
    let _ = copilot_cli();
    isolate_network();
    let mock = MockChat::start();
    let env = TestEnv::new();
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

/// The prompt as typed: Copilot CLI puts the date in front of it for the
/// model (`<current_datetime>…</current_datetime>` and a blank line).
fn typed(prompt: &str) -> &str {
    match prompt.strip_prefix("<current_datetime>") {
        Some(rest) => rest.split_once("</current_datetime>\n\n").map_or(prompt, |(_, p)| p),
        None => prompt,
    }
}

/// What a failing test needs to see: the log, the transcript's tail, the pane.
fn dump(env: &TestEnv, sid: &str, name: &str) {
    let t = std::fs::read_to_string(env.home.join(format!(".copilot/session-state/{sid}/events.jsonl")))
        .unwrap_or_default();
    let tail: Vec<String> = t
        .lines()
        .rev()
        .take(60)
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] != "hook.end" && v["type"] != "session.usage_record")
        .map(|v| {
            let d = &v["data"];
            let what = [&d["content"], &d["hookType"], &d["toolName"], &d["delivery"], &d["message"]]
                .iter()
                .filter(|x| !x.is_null())
                .map(|x| x.to_string().chars().take(80).collect::<String>())
                .collect::<Vec<_>>()
                .join(" ");
            format!("{} {} {what}", v["timestamp"].as_str().unwrap_or(""), v["type"].as_str().unwrap_or(""))
        })
        .collect();
    eprintln!(
        "log {:?}\ntranscript tail (newest first):\n{}\npane:\n{}",
        kinds(env, sid),
        tail.join("\n"),
        env.pane(name)
    );
}

/// Launch to stop on one worker: a tool turn read back, a 40 KB prompt,
/// the tokens, failed turns with their kind, and no process left.
#[test]
fn a_copilot_worker_lives_its_whole_life_through_csd() {
    let whole = Instant::now();
    let (mock, env, project) = copilot_world();
    let project = project.to_str().unwrap();

    let started = Instant::now();
    let out = csd(&env, &mock, "csd-launch", &["--harness", "copilot", "w", project]);
    eprintln!("copilot: launch to ready {:?} (its package unpacked into the fresh HOME)", started.elapsed());
    if out.status.code() != Some(0) {
        eprintln!("{}", stderr(&out));
    }
    assert_code(&out, 0);
    let sid = sid_of(&env, &mock, "w");
    // Copilot CLI fires no hook until the first prompt.
    assert_eq!(kinds(&env, &sid), Vec::<String>::new());
    assert_eq!(stdout(&csd(&env, &mock, "csd-status", &["w"])).trim(), "idle");
    // csd's hooks came from the plugin in the worker dir; nothing of csd's
    // went into the operator's ~/.copilot/settings.json.
    let hooks: Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join("copilot-plugin/hooks/hooks.json")).unwrap())
            .unwrap();
    assert!(hooks["hooks"]["Stop"][0]["bash"].as_str().unwrap().contains("csd-hook"));
    assert!(!env.home.join(".copilot/settings.json").exists());

    // converse with a tool call: the shell runs, the answer comes back.
    let started = Instant::now();
    let before = mock.count();
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", "Please run it.\nRUN: echo csd-e2e-$((6 * 7))", TURN]);
    eprintln!("copilot: tool turn {:?}", started.elapsed());
    if out.status.code() != Some(0) {
        eprintln!("the pane:\n{}", env.pane("w"));
    }
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "DONE");
    let answers: Vec<Answer> = mock.requests_since(before).into_iter().map(|r| r.answer).collect();
    let shell = Answer::Shell { tool: "bash".into(), command: "echo csd-e2e-$((6 * 7))".into() };
    assert!(answers.contains(&shell), "{answers:?}");
    // Its SessionStart comes with the first prompt.
    assert_eq!(kinds(&env, &sid), ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"]);
    let pre = events(&env, &sid).into_iter().find(|e| e["event"] == "pre_tool_use").unwrap();
    assert_eq!(pre["tool_input"]["command"], "echo csd-e2e-$((6 * 7))", "{pre}");
    let turn = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** Please run it.\nRUN: echo csd-e2e-$((6 * 7))"), "{turn}");
    assert!(turn.contains("**Tool: bash**") && turn.contains("csd-e2e-42") && turn.contains("DONE"), "{turn}");
    let transcript = stdout(&csd(&env, &mock, "csd-turn", &["w", "--path"])).trim().to_string();
    assert_eq!(
        transcript,
        env.home.join(format!(".copilot/session-state/{sid}/events.jsonl")).to_str().unwrap(),
        "{transcript}"
    );

    // A 40 KB prompt goes in whole, as one prompt.
    let filler = "a line of filler text for a long prompt, forty KB of it.........\n".repeat(625);
    let long = format!("{filler}SAY: got it all");
    assert!(long.len() >= 40_000, "{}", long.len());
    let started = Instant::now();
    let before = mock.count();
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", &long, TURN]);
    eprintln!("copilot: 40 KB prompt {:?}", started.elapsed());
    if out.status.code() != Some(0) {
        eprintln!("the pane:\n{}", env.pane("w"));
    }
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "got it all");
    let prompts: Vec<Value> = events(&env, &sid).into_iter().filter(|e| e["event"] == "user_prompt_submit").collect();
    assert_eq!(prompts.len(), 2, "one prompt, not one per line: {prompts:?}");
    let got = mock.requests_since(before).into_iter().find(|r| r.answer == Answer::Said("got it all".into())).unwrap();
    assert_eq!(typed(&csd::mock::chat::prompt_of(&got.body).unwrap()), long, "the model got the prompt byte for byte");

    // A prompt Copilot CLI would run itself: a `/` command goes to the
    // model behind a zero-width space, with a note.
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", "/help\nSAY: slash-as-text", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "slash-as-text");
    assert!(stderr(&out).contains("zero-width space"), "{}", stderr(&out));

    // The tokens: every model request of the session's turns.
    let row = checked_status_row(&env, "w", &sid);
    eprintln!("copilot: csd-status --json: {row}");
    let turns: Vec<_> = mock.requests().into_iter().filter(|r| r.answer != Answer::Side).collect();
    let sent = MockChat::usage_sum(&turns);
    assert_eq!(
        row["tokens"],
        json!({"input": sent.input, "output": sent.output, "cache_read": sent.cache_read, "cache_write": sent.cache_write}),
        "{row}"
    );

    // A failed model request ends the turn at once, failed, with its kind.
    for (directive, kind, status) in
        [("FAIL: 400", "invalid_request", 400), ("FAIL: 401 x9", "authentication_failed", 401)]
    {
        let started = Instant::now();
        let out = csd(&env, &mock, "csd-send", &["--converse", "w", directive, TURN]);
        eprintln!("copilot: {directive}: converse exited {:?} after {:?}", out.status.code(), started.elapsed());
        if out.status.code() != Some(5) {
            eprintln!("{}\nthe pane:\n{}\n{:?}", stderr(&out), env.pane("w"), events(&env, &sid));
        }
        assert_code(&out, 5);
        assert!(started.elapsed() < Duration::from_secs(10), "{directive}: {:?}", started.elapsed());
        if !stderr(&out).contains(&format!("(HTTP {status})")) {
            let t = std::fs::read_to_string(&transcript).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(14).map(|l| &l[..l.len().min(260)]).collect();
            eprintln!("log {:?}\ntranscript tail (newest first):\n{}", kinds(&env, &sid), tail.join("\n"));
        }
        assert!(stderr(&out).contains(&format!("its turn failed: {kind} (HTTP {status})")), "{}", stderr(&out));
        let last = events(&env, &sid).pop().unwrap();
        assert_eq!((last["event"].as_str(), last["reason"].as_str()), (Some("stop"), Some("failed")), "{last}");
        assert_eq!(last["error"]["kind"], kind, "{last}");
        assert_eq!(stdout(&csd(&env, &mock, "csd-status", &["w"])).trim(), "idle");
    }
    let turn = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** FAIL: 401 x9"), "{turn}");
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

    // Stop: /exit, then nothing left: no processes, no worker files.
    let pane = pane_pid(&env, "w");
    let mut procs = descendants(pane);
    procs.push(pane);
    let started = Instant::now();
    assert_code(&csd(&env, &mock, "csd-stop", &["w"]), 0);
    eprintln!("copilot: stop {:?}", started.elapsed());
    let ended = eventually(Duration::from_secs(10), || procs.iter().all(|p| !pid_alive(*p)).then_some(()));
    assert!(ended.is_some(), "processes left: {:?}", procs.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>());
    assert_eq!(kinds(&env, &sid).last().map(String::as_str), None, "the worker's log went with it");
    let left: Vec<PathBuf> =
        files_under(&env.worker_dir).into_iter().filter(|p| !p.to_string_lossy().contains("copilot-plugin")).collect();
    assert!(left.is_empty(), "left behind in the worker dir: {left:?}");
    // The transcript stays with the operator.
    assert!(std::fs::read_to_string(&transcript).unwrap().contains("csd-e2e-42"));
    eprintln!("copilot: whole life {:?}", whole.elapsed());
}

/// A prompt sent mid-turn: what Copilot CLI does with it, as csd reports
/// it, in both phases (during a tool call, during a model request).
#[test]
fn a_prompt_sent_mid_turn_is_answered_with_its_own_receipt() {
    let (mock, env, project) = copilot_world();
    assert_code(&csd(&env, &mock, "csd-launch", &["--harness", "copilot", "w", project.to_str().unwrap()]), 0);
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
    assert!(busy.is_some(), "{:?}\n{}", kinds(&env, &sid), env.pane("w"));
    let o = csd(&env, &mock, "csd-send", &["--receipt", "w", "Second.\nSAY: second-answer", TURN]);
    eprintln!("copilot: mid-turn send (tool call): {}", stderr(&o));
    if o.status.code() != Some(0) {
        std::thread::sleep(Duration::from_secs(5));
        dump(&env, &sid, "w");
    }
    assert_code(&o, 0);
    let n: usize = stdout(&o).trim().parse().unwrap();
    // Copilot CLI steers it into the running turn (no UserPromptSubmit of
    // its own; the transcript's `steering` line says it joined): the receipt
    // is the running turn's prompt, and that turn's end answers it.
    assert!(stderr(&o).contains("running turn"), "{}", stderr(&o));
    let w = csd(&env, &mock, "csd-wait", &["w", TURN, "--after-line", &n.to_string()]);
    assert_code(&w, 0);
    eprintln!("copilot: mid-turn (tool call): receipt {n}, log {:?}", kinds(&env, &sid));
    assert!(n >= 2, "a line of the running turn: {:?}", kinds(&env, &sid));
    let turn = eventually(Duration::from_secs(10), || {
        let t = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
        t.contains("second-answer").then_some(t)
    });
    assert!(turn.is_some(), "{}", stdout(&csd(&env, &mock, "csd-turn", &["w"])));
    // The shell command went on in the background; when it ends, Copilot
    // CLI tells the model in a turn of its own (a UserPromptSubmit holding
    // its `<system_notification>`).
    let notified = eventually(Duration::from_secs(30), || {
        let k = kinds(&env, &sid);
        (k.iter().filter(|e| *e == "user_prompt_submit").count() == 2 && k.last().map(String::as_str) == Some("stop"))
            .then_some(())
    });
    if notified.is_none() {
        dump(&env, &sid, "w");
    }
    assert!(notified.is_some(), "{:?}", kinds(&env, &sid));

    // Sent while the model request runs (no tool).
    assert_code(&csd(&env, &mock, "csd-send", &["w", "Third.\nSLEEP: 3\nSAY: third-answer"]), 0);
    std::thread::sleep(Duration::from_millis(1000));
    let o = csd(&env, &mock, "csd-send", &["--receipt", "w", "Fourth.\nSAY: fourth-answer", TURN]);
    eprintln!("copilot: mid-turn send (model request): {}", stderr(&o));
    assert_code(&o, 0);
    let n: usize = stdout(&o).trim().parse().unwrap();
    assert_code(&csd(&env, &mock, "csd-wait", &["w", TURN, "--after-line", &n.to_string()]), 0);
    eprintln!("copilot: mid-turn (model request): receipt {n}, log {:?}", kinds(&env, &sid));
    // Copilot CLI queues it (`delivery: queued`): a turn of its own, with
    // its UserPromptSubmit, after the running one.
    assert_eq!(&kinds(&env, &sid)[n - 1..], ["user_prompt_submit", "stop"], "its own turn");
    let turn = eventually(Duration::from_secs(10), || {
        let t = stdout(&csd(&env, &mock, "csd-turn", &["w"]));
        t.contains("fourth-answer").then_some(t)
    });
    assert!(turn.is_some(), "{}", stdout(&csd(&env, &mock, "csd-turn", &["w"])));

    // Escape twice during the model request interrupts it (one does
    // nothing: the footer says "esc esc interrupt"): no hook fires and the
    // transcript says nothing, so csd's log keeps the turn open; Copilot CLI
    // puts the prompt back into the input. The next prompt must reach the
    // model alone, not joined to it.
    assert_code(&csd(&env, &mock, "csd-send", &["w", "SLEEP: 4\nSAY: slow"]), 0);
    std::thread::sleep(Duration::from_millis(1000));
    env.tmux_ok(["send-keys", "-t", "=w:", "Escape"]);
    std::thread::sleep(Duration::from_millis(100));
    env.tmux_ok(["send-keys", "-t", "=w:", "Escape"]);
    let put_back = eventually(Duration::from_secs(5), || {
        csd::harness::copilot::input_box_text(&env.pane("w")).filter(|t| t.contains("SAY: slow"))
    });
    assert!(put_back.is_some(), "{}", env.pane("w"));
    let sent = Instant::now();
    let out = csd(&env, &mock, "csd-send", &["--converse", "w", "SAY: after-escape", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "after-escape");
    let prompts: Vec<String> = mock
        .requests()
        .iter()
        .filter(|r| r.arrived >= sent)
        .filter_map(|r| csd::mock::chat::prompt_of(&r.body))
        .map(|p| typed(&p).to_string())
        .collect();
    assert_eq!(prompts, ["SAY: after-escape"], "{prompts:?}");
    assert_code(&csd(&env, &mock, "csd-stop", &["w"]), 0);
}

/// A reboot takes tmux and the worker dir; the session state is in the
/// operator's ~/.copilot, so `csd-launch --adopt` resumes the session by id
/// and the model's next request carries the earlier turn.
#[test]
fn adopt_revives_a_copilot_session_with_its_history_after_a_reboot() {
    let (mock, env, project) = copilot_world();
    let project = project.to_str().unwrap();
    assert_code(&csd(&env, &mock, "csd-launch", &["--harness", "copilot", "before", project]), 0);
    let out =
        csd(&env, &mock, "csd-send", &["--converse", "before", "Remember the heron.\nSAY: noted the heron", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "noted the heron");
    let sid = sid_of(&env, &mock, "before");

    // Every process of it goes with the tmux server: none outlives its pane.
    let pid = pane_pid(&env, "before");
    let mut procs = descendants(pid);
    procs.push(pid);
    env.tmux().arg("kill-server").status().unwrap();
    let gone = eventually(Duration::from_secs(10), || procs.iter().all(|p| !pid_alive(*p)).then_some(()));
    assert!(gone.is_some(), "processes left: {:?}", procs.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>());
    std::fs::remove_dir_all(&env.worker_dir).unwrap();

    // An id with no transcript is refused at once, naming where csd looked.
    let unknown = "0b0e0000-0000-4000-8000-000000000000";
    let out = csd(&env, &mock, "csd-launch", &["--adopt", "--harness", "copilot", "after", project, unknown]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains(&format!("no transcript for session {unknown}")), "{}", stderr(&out));
    assert!(!env.has_session("after"));

    let started = Instant::now();
    let out = csd(&env, &mock, "csd-launch", &["--adopt", "--harness", "copilot", "after", project, &sid]);
    eprintln!("copilot: adopt to ready {:?}", started.elapsed());
    assert_code(&out, 0);
    let pid = pane_pid(&env, "after");
    let _reaper = KillOnDrop(Some(pid));
    assert_eq!(sid_of(&env, &mock, "after"), sid);
    assert_eq!(stdout(&csd(&env, &mock, "csd-status", &["after"])).trim(), "idle");

    let baseline = mock.count();
    let out = csd(&env, &mock, "csd-send", &["--converse", "after", "And now?\nSAY: back after the reboot", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "back after the reboot");
    let history: String = mock.requests_since(baseline).iter().map(|r| r.body["messages"].to_string()).collect();
    assert!(history.contains("Remember the heron."), "the resumed session lost its first prompt: {history}");
    assert!(history.contains("noted the heron"), "the resumed session lost its first answer: {history}");
    let turn = stdout(&csd(&env, &mock, "csd-turn", &["after"]));
    assert!(turn.contains("**Prompt:** And now?") && turn.contains("back after the reboot"), "{turn}");
    assert_code(&csd(&env, &mock, "csd-stop", &["after"]), 0);
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_some());
}

/// `csd doctor --harness copilot` alone, from an operator HOME with no csd
/// consent and no Copilot CLI setup: it proves the real CLI against its own
/// chat completions mock, in its own world (where the CLI unpacks its
/// package), and leaves the HOME as it was.
#[test]
fn csd_doctor_proves_copilot_cli_alone() {
    let cli = copilot_cli();
    isolate_network();
    let env = TestEnv::new();
    let tmpdir = env.path().join("tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let started = Instant::now();
    let out = std::process::Command::new(bin("csd-doctor"))
        .args(["--harness", "copilot", "--json"])
        .env("HOME", &env.home)
        .env("TMPDIR", &tmpdir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("CSD_COPILOT_BIN", &cli)
        .env_remove("TMUX")
        .env_remove("CSD_WORKER_DIR")
        .env_remove("CSD_TMUX_SOCKET")
        .env_remove("COPILOT_HOME")
        .env_remove("XDG_CACHE_HOME")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    eprintln!("copilot: csd-doctor ({:?}): {}{}", started.elapsed(), stdout(&out), stderr(&out));
    assert_code(&out, 0);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &doc["harnesses"][0];
    assert_eq!((row["harness"].as_str(), row["result"].as_str()), (Some("copilot"), Some("ok")), "{doc:#}");
    assert_eq!(row["version"], "1.0.102", "{doc:#}");
    assert_eq!(row["warning"], Value::Null, "{doc:#}");
    assert!(files_under(&env.home).is_empty(), "the operator's HOME changed: {:?}", files_under(&env.home));
    assert!(std::fs::read_dir(&tmpdir).unwrap().next().is_none(), "the doctor left its temp dir behind");
}
