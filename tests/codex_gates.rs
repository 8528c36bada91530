//! Codex start-up screens and the registration window, against a fake Codex
//! (tests/fixtures/fake-codex) that draws the real CLI's texts and exits on
//! any key the real CLI would have read as another choice. Fast; no network.

mod common;

use common::*;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn fake() -> String {
    repo().join("tests/fixtures/fake-codex").display().to_string()
}

fn with_fake(env: &TestEnv, bin_name: &str, args: &[&str], vars: &[(&str, &str)]) -> Command {
    let consent = env.home.join(".claude/.claude-session-driver-consent");
    std::fs::create_dir_all(consent.parent().unwrap()).unwrap();
    std::fs::write(consent, "test\n").unwrap();
    let mut c = env.cmd(bin_name);
    c.args(args).env("CSD_CODEX_BIN", fake()).env("CSD_START_TIMEOUT_MS", "15000");
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

fn run(env: &TestEnv, bin_name: &str, args: &[&str], vars: &[(&str, &str)]) -> Output {
    with_fake(env, bin_name, args, vars).output().unwrap()
}

fn launch(env: &TestEnv, vars: &[(&str, &str)]) -> Output {
    let project = env.path().join("project");
    let _ = std::fs::create_dir(&project);
    run(env, "csd-launch", &["--harness", "codex", "w", project.to_str().unwrap()], vars)
}

fn kinds(env: &TestEnv) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(&env.worker_dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".events.jsonl") {
            for l in std::fs::read_to_string(e.path()).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                out.push(v["event"].as_str().unwrap().to_string());
            }
        }
    }
    out
}

#[test]
fn every_gate_is_answered_by_its_text_never_a_blind_enter() {
    let env = TestEnv::new();
    let out = launch(&env, &[("FAKE_CODEX_GATES", "trust migration hooks")]);
    assert_code(&out, 0);
    assert_eq!(stdout(&run(&env, "csd-status", &["w"], &[])).trim(), "idle");
    assert!(env.has_session("w"));
}

#[test]
fn the_loading_screen_is_not_ready() {
    // The fake shows `› … ? for shortcuts` without the footer first; a launch
    // that took that for ready would paste into the gate after it.
    let env = TestEnv::new();
    assert_code(&launch(&env, &[("FAKE_CODEX_GATES", "migration")]), 0);
    let out = run(&env, "csd-send", &["w", "hello"], &[]);
    assert_code(&out, 0);
    let turn = eventually(Duration::from_secs(5), || (kinds(&env).len() == 3).then_some(()));
    assert!(turn.is_some(), "{:?}", kinds(&env));
    assert_eq!(kinds(&env), ["session_start", "user_prompt_submit", "stop"]);
}

#[test]
fn a_sign_in_screen_fails_the_launch_and_leaves_nothing() {
    let env = TestEnv::new();
    let out = launch(&env, &[("FAKE_CODEX_GATES", "signin")]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("sign-in"), "{}", stderr(&out));
    assert!(!env.has_session("w"));
    assert!(!env.worker_dir.join("w.harness").exists() && !env.worker_dir.join("homes/w").exists());
}

#[test]
fn the_first_send_waits_for_registration_and_sees_its_own_prompt() {
    let env = TestEnv::new();
    // The fake takes a second between the prompt and its first hook.
    assert_code(&launch(&env, &[("FAKE_CODEX_REGISTER_DELAY", "1")]), 0);
    // Before registration: a worker, idle, with no session id yet.
    assert_code(&run(&env, "csd-status", &["--session-id", "w"], &[]), 1);
    assert_eq!(stdout(&run(&env, "csd-events", &["w"], &[])), "");
    // A waiter started now sees the first turn end.
    let waiter = with_fake(&env, "csd-wait", &["w", "20"], &[]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let out = run(&env, "csd-send", &["w", "hello"], &[]);
    assert_code(&out, 0);
    assert!(started.elapsed() >= Duration::from_secs(1), "send returned before the worker registered");
    let waited = waiter.wait_with_output().unwrap();
    assert_code(&waited, 0);
    assert!(stdout(&waited).contains("\"stop\""), "{}", stdout(&waited));
    assert_eq!(kinds(&env), ["session_start", "user_prompt_submit", "stop"]);
    let sid = stdout(&run(&env, "csd-status", &["--session-id", "w"], &[])).trim().to_string();
    assert_eq!(sid.len(), 36);
    // The second prompt takes the normal path.
    assert_code(&run(&env, "csd-send", &["w", "again"], &[]), 0);
    let both = eventually(Duration::from_secs(5), || (kinds(&env).len() == 5).then_some(()));
    assert!(both.is_some(), "{:?}", kinds(&env));
}

#[test]
fn waiting_on_a_worker_that_never_gets_a_prompt_times_out() {
    let env = TestEnv::new();
    assert_code(&launch(&env, &[]), 0);
    let out = run(&env, "csd-wait", &["w", "1"], &[]);
    assert_code(&out, 124);
    assert_code(&run(&env, "csd-send", &["nobody", "hello"], &[]), 3);
}

#[test]
fn the_hook_registers_on_the_first_prompt_not_on_a_lone_session_end() {
    let env = TestEnv::new();
    std::fs::write(env.worker_dir.join("cx.harness"), "codex").unwrap();
    let dir = env.worker_dir.to_str().unwrap().to_string();
    let cwd = env.path().to_str().unwrap().to_string();
    let hook = |payload: serde_json::Value| {
        let o = env.run_stdin("csd-hook", ["cx", &cwd, &dir, "codex"], payload.to_string().as_bytes());
        assert_code(&o, 0);
        assert_eq!(stdout(&o), "", "a Codex hook must print nothing");
    };
    let sid = "01a21288-a1f4-7da3-bbb8-4eedfbf7e7d9";
    // Quit before any prompt: SessionEnd alone, which must not make a worker.
    hook(serde_json::json!({"session_id": "01a21288-0000-7000-8000-000000000000", "cwd": cwd,
        "hook_event_name": "SessionEnd", "reason": "other"}));
    assert_eq!(std::fs::read_dir(&env.worker_dir).unwrap().count(), 1, "only the marker");
    hook(serde_json::json!({"session_id": sid, "cwd": cwd, "hook_event_name": "SessionStart",
        "transcript_path": "/x/rollout.jsonl", "source": "startup"}));
    hook(serde_json::json!({"session_id": sid, "turn_id": "T1", "cwd": cwd,
        "hook_event_name": "UserPromptSubmit", "prompt": "p"}));
    hook(serde_json::json!({"session_id": sid, "turn_id": "T1", "cwd": cwd, "hook_event_name": "Interrupt"}));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join(format!("{sid}.meta"))).unwrap()).unwrap();
    assert_eq!((meta["tmux_name"].as_str(), meta["harness"].as_str()), (Some("cx"), Some("codex")));
    assert_eq!(meta["transcript_path"], "/x/rollout.jsonl");
    let log = std::fs::read_to_string(env.events_path(sid)).unwrap();
    let evs: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(evs[1]["turn_id"], "T1");
    assert_eq!((evs[2]["event"].as_str(), evs[2]["reason"].as_str()), (Some("stop"), Some("interrupted")));
}

#[test]
fn every_per_worker_command_knows_a_worker_before_it_registers() {
    let env = TestEnv::new();
    assert_code(&launch(&env, &[]), 0);
    let o = run(&env, "csd-turn", &["w"], &[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("no turn yet"), "{}", stderr(&o));
    assert_code(&run(&env, "csd-events", &["--path", "w"], &[]), 1);
    let o = run(&env, "csd-status", &["--json", "w"], &[]);
    assert_code(&o, 0);
    let row: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!((row["status"].as_str(), row["harness"].as_str()), (Some("idle"), Some("codex")));
    let o = run(&env, "csd-stop", &["--handoff", "w"], &[]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("attach"), "{}", stdout(&o));
    // Through the dispatcher and the shim, as a controller calls it.
    let mut shim = Command::new(env.worker_dir.join("bin/w"));
    env.apply_env(&mut shim);
    let o = shim.arg("status").output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "idle");
    assert_code(&run(&env, "csd-stop", &["w"], &[]), 0);
    assert!(!env.has_session("w"));
    assert_eq!(std::fs::read_dir(&env.worker_dir).unwrap().flatten().filter(|e| e.path().is_file()).count(), 0);
    assert!(!env.worker_dir.join("homes/w").exists());
}

/// The worker's CODEX_HOME links `sessions` to the operator's ~/.codex/sessions
/// (made 0700 when missing), so rollouts outlive the worker; stop removes the
/// home, and with it the link, never what it points at.
#[test]
fn stop_removes_the_sessions_link_never_the_operators_rollouts() {
    let env = TestEnv::new();
    let sessions = env.home.join(".codex/sessions");
    let rollout = sessions.join("2026/11/30/rollout-2026-11-30T10-00-00-01a22d30-0000-7000-8000-000000000001.jsonl");
    std::fs::create_dir_all(rollout.parent().unwrap()).unwrap();
    std::fs::write(&rollout, "{}\n").unwrap();
    assert_code(&launch(&env, &[]), 0);
    let link = env.worker_dir.join("homes/w/sessions");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), sessions);
    assert!(link.join("2026/11/30").is_dir(), "Codex sees the operator's rollouts through the link");
    assert_code(&run(&env, "csd-stop", &["w"], &[]), 0);
    assert!(!env.worker_dir.join("homes/w").exists());
    assert_eq!(std::fs::read_to_string(&rollout).unwrap(), "{}\n");

    // No sessions dir yet: launch makes a private one.
    let fresh = TestEnv::new();
    assert_code(&launch(&fresh, &[]), 0);
    let made = std::fs::metadata(fresh.home.join(".codex/sessions")).unwrap();
    assert!(made.is_dir());
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&made.permissions()) & 0o777, 0o700);
    assert_code(&run(&fresh, "csd-stop", &["w"], &[]), 0);
    assert!(fresh.home.join(".codex/sessions").is_dir());
}

/// An id with no rollout under ~/.codex/sessions is refused before anything
/// starts, naming where csd looked; one with a rollout starts `codex resume
/// <SID>` and the worker is registered at once, under its launch's stamp.
#[test]
fn adopt_refuses_a_missing_rollout_at_once_and_registers_a_found_one() {
    let env = TestEnv::new();
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let project = project.to_str().unwrap();
    let sid = "01a22d30-0000-7000-8000-000000000002";
    let started = Instant::now();
    let out = run(&env, "csd-launch", &["--adopt", "--harness", "codex", "w", project, sid], &[]);
    assert_code(&out, 1);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let expected = format!("{}/YYYY/MM/DD/rollout-*-{sid}.jsonl", env.home.join(".codex/sessions").display());
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(!env.has_session("w") && files_under(&env.worker_dir).is_empty());

    let rollout = env.home.join(format!(".codex/sessions/2026/11/30/rollout-2026-11-30T10-00-00-{sid}.jsonl"));
    std::fs::create_dir_all(rollout.parent().unwrap()).unwrap();
    std::fs::write(&rollout, "{}\n").unwrap();
    let out = run(&env, "csd-launch", &["--adopt", "--harness", "codex", "w", project, sid], &[]);
    assert_code(&out, 0);
    assert_eq!(stdout(&run(&env, "csd-status", &["--session-id", "w"], &[])).trim(), sid);
    assert_eq!(stdout(&run(&env, "csd-status", &["w"], &[])).trim(), "idle");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join(format!("{sid}.meta"))).unwrap()).unwrap();
    assert_eq!(meta["transcript_path"], rollout.to_str().unwrap());
    let stamp = env.tmux_ok(["show-options", "-v", "-t", "=w:", "@csd_id"]);
    assert_eq!(meta["csd_id"], stamp.trim());
    assert!(!env.worker_dir.join("w.harness").exists(), "an adopted worker is registered, not pending");
    // Its pane dies but /tmp stays (tmux killed, no reboot): adopt again over
    // the stale meta and home; the sessions link is made anew.
    env.tmux_ok(["kill-session", "-t", "=w"]);
    assert_eq!(stdout(&run(&env, "csd-status", &["w"], &[])).trim(), "gone");
    let out = run(&env, "csd-launch", &["--adopt", "--harness", "codex", "w", project, sid], &[]);
    assert_code(&out, 0);
    assert_eq!(stdout(&run(&env, "csd-status", &["w"], &[])).trim(), "idle");
    let link = env.worker_dir.join("homes/w/sessions");
    assert_eq!(std::fs::read_link(&link).unwrap(), env.home.join(".codex/sessions"));
    assert_code(&run(&env, "csd-stop", &["w"], &[]), 0);
    assert!(rollout.is_file() && files_under(&env.worker_dir).is_empty());
}
