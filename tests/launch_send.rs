//! csd-launch and csd-send through their real binaries, on a private tmux
//! server, driving a scripted fake Claude Code (tests/fake/fake_claude.py)
//! that fires real hook payload shapes through csd-hook.

mod common;

use common::world::World;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// ---- launch ----

#[test]
fn launch_answers_the_trust_dialog_by_digit_and_registers_the_worker() {
    let w = World::new();
    let o = w.launch("w1", &["--fake-trust"]);
    assert_code(&o, 0);
    let shim = PathBuf::from(stdout(&o).trim());
    assert_eq!(shim, w.env.worker_dir.join("bin/w1"));
    let panel = stderr(&o);
    assert!(panel.starts_with("Worker launched."), "{panel}");
    let sid = w.sid("w1");
    assert!(panel.contains(&sid), "{panel}");
    assert!(panel.contains(&format!("tmux -S {} attach -t =w1", w.env.socket_path().display())), "{panel}");

    let meta = &w.metas()[0];
    assert_eq!(meta["harness"], "claude");
    assert_eq!(meta["cwd"], std::fs::canonicalize(&w.proj).unwrap().to_str().unwrap());
    assert_eq!(meta["tmux_socket"], w.env.socket_path().to_str().unwrap());
    assert!(meta["started_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(meta["invocation"][0], "w1");
    assert_eq!(meta["invocation"][2], "--");
    assert_eq!(meta["invocation"][3], "--fake-trust");
    // The hook recorded where Claude Code writes the transcript.
    assert!(meta["transcript_path"].as_str().unwrap().ends_with(&format!("{sid}.jsonl")));
    assert_eq!(w.events(&sid), ["session_start"]);
    assert!(w.env.has_session("w1"));
    // The dialog was answered "2" (Yes); a bare Enter would have exited the fake.
    let pane = w.env.tmux_ok(["capture-pane", "-p", "-t", "=w1:"]);
    assert!(pane.contains("trusted"), "{pane}");

    // The plugin csd wrote sends every event to the csd-hook beside csd-launch.
    let hooks: Value = serde_json::from_str(&text(&w.env.worker_dir.join("plugin/hooks/hooks.json"))).unwrap();
    for ev in ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop", "SessionEnd"] {
        assert_eq!(hooks["hooks"][ev][0]["matcher"], "*");
        assert_eq!(hooks["hooks"][ev][0]["hooks"][0]["command"], bin("csd-hook").to_str().unwrap());
    }

    // The shim reaches the worker through csd.
    let st = Command::new(&shim).arg("status").env("CSD_WORKER_DIR", &w.env.worker_dir).output().unwrap();
    assert_code(&st, 0);
    assert_eq!(stdout(&st).trim(), "idle");
    // And through the dispatcher to csd-send.
    let o = Command::new(&shim)
        .args(["converse", "via the shim"])
        .env("CSD_WORKER_DIR", &w.env.worker_dir)
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: via the shim\n");
}

#[test]
fn a_taken_name_is_refused_and_the_first_worker_untouched() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    let o = w.launch("w1", &[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("is running"), "{}", stderr(&o));
    assert_eq!(w.metas().len(), 1);
    assert_eq!(w.sid("w1"), sid);
    // A worker proven gone gives its name up: its stale state is replaced.
    w.env.tmux_ok(["kill-session", "-t", "=w1"]);
    let o = w.launch("w1", &[]);
    assert_code(&o, 0);
    assert_eq!(w.metas().len(), 1);
    assert_ne!(w.sid("w1"), sid);
}

#[test]
fn racing_launches_of_one_name_leave_one_whole_worker() {
    let w = World::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            let mut c = w.cmd("csd-launch");
            c.arg("w1").arg(&w.proj).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            c.spawn().unwrap()
        })
        .collect();
    let codes: Vec<i32> = children.into_iter().map(|c| c.wait_with_output().unwrap().status.code().unwrap()).collect();
    assert_eq!(codes.iter().filter(|&&c| c == 0).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|&c| c == 0 || c == 1), "{codes:?}");
    assert_eq!(w.metas().len(), 1);
    assert!(w.env.worker_dir.join("bin/w1").exists());
    let st = w.env.run("csd-status", ["w1"]);
    assert_eq!(stdout(&st).trim(), "idle");
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let w = World::new();
    let missing = w.env.path().join("nope");
    for args in [
        vec!["w1".to_string(), missing.to_str().unwrap().to_string()],
        vec!["w1".into(), "/etc/hostname".into()],
        vec!["bad name".into(), w.proj.to_str().unwrap().into()],
        vec!["--harness".into(), "gpt".into(), "w1".into(), w.proj.to_str().unwrap().into()],
        vec!["w1".into()],
        vec!["--adopt".into(), "w1".into(), w.proj.to_str().unwrap().into(), "not-an-id!".into()],
    ] {
        let o = w.cmd("csd-launch").args(&args).output().unwrap();
        assert_code(&o, 2);
        assert!(stderr(&o).starts_with("csd-launch: "), "{}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
    assert!(!w.env.has_session("w1"));
    assert!(w.metas().is_empty());
}

#[test]
fn consent_is_needed_once_and_given_by_typing_yes() {
    let w = World::new();
    std::fs::remove_file(w.env.home.join(".claude/.claude-session-driver-consent")).unwrap();
    let o = w.launch("w1", &[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("grant-consent"), "{}", stderr(&o));
    assert!(!w.env.has_session("w1"));

    let o = w.env.run_stdin("csd-launch", ["--grant-consent"], b"no\n");
    assert_code(&o, 1);
    assert!(stderr(&o).contains("--dangerously-skip-permissions"), "the warning comes first: {}", stderr(&o));
    let o = w.env.run_stdin("csd-launch", ["--grant-consent"], b"yes\n");
    assert_code(&o, 0);
    assert!(w.env.home.join(".claude/.claude-session-driver-consent").exists());
    let o = w.env.run_stdin("csd-launch", ["--grant-consent"], b"");
    assert_code(&o, 0);
    assert!(stdout(&o).contains("already granted"));
    w.up("w1", &[]);
}

#[test]
fn a_failed_start_shows_the_pane_and_leaves_nothing_behind() {
    let w = World::new();
    let o = w.launch("w1", &["--fake-die-at-start"]);
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("fatal start-up error"), "{err}");
    assert!(err.contains("Last lines in the worker's pane"), "{err}");
    assert!(!w.env.has_session("w1"));
    w.assert_no_worker_state();

    let t = Instant::now();
    let o = w
        .cmd("csd-launch")
        .env("CSD_START_TIMEOUT_MS", "1500")
        .arg("w2")
        .arg(&w.proj)
        .args(["--", "--fake-no-start"])
        .output()
        .unwrap();
    assert_code(&o, 124);
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    let err = stderr(&o);
    assert!(err.contains("within 1.5s") && err.contains("stuck before SessionStart"), "{err}");
    assert!(!w.env.has_session("w2"));
    w.assert_no_worker_state();
}

#[test]
fn root_refusal_says_to_set_is_sandbox() {
    let w = World::new();
    let o = w
        .cmd("csd-launch")
        .env_remove("IS_SANDBOX")
        .arg("w1")
        .arg(&w.proj)
        .args(["--", "--fake-as-root"])
        .output()
        .unwrap();
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("IS_SANDBOX=1"), "{err}");
    assert!(err.contains("cannot be used with root/sudo privileges"), "the pane tail is shown: {err}");
    w.assert_no_worker_state();
    // With IS_SANDBOX=1 in csd-launch's environment the worker gets it.
    w.up("w1", &["--fake-as-root"]);
}

// ---- send ----

#[test]
fn a_100_kib_prompt_arrives_whole_through_stdin() {
    let w = World::new();
    let rec = w.record();
    w.up("w1", &["--fake-record", rec.to_str().unwrap()]);
    let mut prompt = String::new();
    let mut i = 0;
    while prompt.len() < 100 * 1024 {
        prompt.push_str(&format!("line {i}: ünïcödé \"quotes\" 'single' $HOME `tick` \\ ; && | > {{}}\n"));
        i += 1;
    }
    prompt.push_str("the end");
    let t = Instant::now();
    let o = w.send_stdin(&["w1", "-"], prompt.as_bytes());
    assert_code(&o, 0);
    eprintln!("100 KiB send confirmed in {:?}", t.elapsed());
    assert_eq!(w.recorded(), [prompt]);
}

#[test]
fn paste_markers_in_a_prompt_are_stripped() {
    let w = World::new();
    let rec = w.record();
    w.up("w1", &["--fake-record", rec.to_str().unwrap()]);
    let o = w.send(&["w1", "a\x1b[201~b\x1b[200~c\nd"]);
    assert_code(&o, 0);
    assert_eq!(w.recorded(), ["abc\nd"]);
}

#[test]
fn a_slow_paste_gets_a_second_enter_and_is_sent_once() {
    let w = World::new();
    let rec = w.record();
    let sid = w.up("w1", &["--fake-swallow-enters", "1", "--fake-record", rec.to_str().unwrap()]);
    let o = w.cmd("csd-send").env("CSD_SUBMIT_RETRY_INTERVAL", "0.3").args(["w1", "hello"]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(w.recorded(), ["hello"]);
    let pane = w.env.tmux_ok(["capture-pane", "-p", "-t", "=w1:"]);
    assert!(pane.contains("Enter swallowed"), "{pane}");
    assert_eq!(w.events(&sid).iter().filter(|e| *e == "user_prompt_submit").count(), 1);
}

#[test]
fn a_prompt_sent_mid_turn_is_queued_not_failed_and_never_sent_twice() {
    let w = World::new();
    let rec = w.record();
    let sid = w.up("w1", &["--fake-record", rec.to_str().unwrap()]);
    assert_code(&w.send(&["w1", "sleep:3 first"]), 0);
    // The screen says it is queued: no need to wait out the submit timeout.
    let t = Instant::now();
    let o = w.send(&["w1", "second"]);
    assert_code(&o, 0);
    assert!(stderr(&o).contains("queued"), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // The queued prompt goes in when the first turn ends: once.
    let o = w.cmd("csd-wait").args(["w1", "10", "--after-line", "3"]).output().unwrap();
    assert_code(&o, 0);
    let done = eventually(Duration::from_secs(10), || {
        (w.events(&sid).iter().filter(|e| *e == "stop").count() == 2).then_some(())
    });
    assert!(done.is_some(), "{:?}", w.events(&sid));
    assert_eq!(w.recorded(), ["sleep:3 first", "second"]);
}

/// The event log's line `n` (1-based, non-empty lines) as JSON.
fn log_line(w: &World, sid: &str, n: usize) -> serde_json::Value {
    let log = std::fs::read_to_string(w.env.events_path(sid)).unwrap();
    let line = log.lines().filter(|l| !l.is_empty()).nth(n - 1).unwrap_or_else(|| panic!("no line {n}:\n{log}"));
    serde_json::from_str(line).unwrap()
}

fn receipt_of(o: &std::process::Output) -> usize {
    assert_code(o, 0);
    stdout(o).trim().parse().unwrap_or_else(|_| panic!("not a receipt: {:?}", stdout(o)))
}

#[test]
fn a_receipt_names_the_prompts_own_user_prompt_submit() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    let n = receipt_of(&w.send(&["--receipt", "w1", "hello"]));
    assert_eq!(log_line(&w, &sid, n)["event"], "user_prompt_submit");
    let o = w.cmd("csd-wait").args(["w1", "10", "--after-line", &n.to_string()]).output().unwrap();
    assert_code(&o, 0);
    assert!(stdout(&o).contains("\"stop\""), "{}", stdout(&o));
    // Usage: not with --converse; TIMEOUT only with --receipt or --converse.
    assert_code(&w.send(&["--receipt", "--converse", "w1", "x"]), 2);
    assert_code(&w.send(&["w1", "x", "5"]), 2);
}

/// A prompt queued behind a running turn: csd-send --receipt waits until it
/// is taken, and --after-line of its receipt is its own turn's end, never
/// the running turn's.
#[test]
fn a_queued_prompts_receipt_waits_for_its_own_turn() {
    let w = World::new();
    let rec = w.record();
    let sid = w.up("w1", &["--fake-record", rec.to_str().unwrap()]);
    assert_code(&w.send(&["w1", "sleep:2 first"]), 0);
    let t = Instant::now();
    let o = w.send(&["--receipt", "w1", "second"]);
    let n = receipt_of(&o);
    assert!(stderr(&o).contains("queued"), "{}", stderr(&o));
    assert!(t.elapsed() >= Duration::from_secs(1), "returned before the running turn ended: {:?}", t.elapsed());
    assert_eq!(log_line(&w, &sid, n)["event"], "user_prompt_submit");
    // The running turn's stop comes before the receipt.
    let before: Vec<String> = w.events(&sid)[..n - 1].to_vec();
    assert_eq!(before.iter().filter(|e| *e == "stop").count(), 1, "{before:?}");
    let o = w.cmd("csd-wait").args(["w1", "10", "--after-line", &n.to_string()]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(w.events(&sid).iter().filter(|e| *e == "stop").count(), 2, "{:?}", w.events(&sid));
    // The fake writes a turn to its transcript just after its Stop hook.
    let shown =
        eventually(Duration::from_secs(5), || stdout(&csd_turn(&w, "w1")).contains("Reply: second").then_some(()));
    assert!(shown.is_some(), "{}", stdout(&csd_turn(&w, "w1")));
    assert_eq!(w.recorded(), ["sleep:2 first", "second"]);

    // A timeout: the prompt stays queued, exit 124.
    assert_code(&w.send(&["w1", "sleep:3 third"]), 0);
    let o = w.send(&["--receipt", "w1", "fourth", "0.5"]);
    assert_code(&o, 124);
    assert!(stderr(&o).contains("still queued"), "{}", stderr(&o));
}

/// A prompt typed during a tool call is folded into the running turn (as
/// Claude Code 2.1.197 does): no user_prompt_submit of its own; its receipt
/// is the line before the send, whose next turn end is the running turn's,
/// and converse on such a prompt prints that turn's reply instead of
/// waiting for a turn that never comes.
#[test]
fn a_prompt_folded_into_the_running_turn_is_answered_by_it() {
    let w = World::new();
    let rec = w.record();
    let sid = w.up("w1", &["--fake-record", rec.to_str().unwrap()]);
    assert_code(&w.send(&["w1", "toolsleep:2 first"]), 0);
    // The tool call is running (its pre_tool_use is logged): the baseline.
    let busy =
        eventually(Duration::from_secs(5), || w.events(&sid).last().is_some_and(|e| e == "pre_tool_use").then_some(()));
    assert!(busy.is_some(), "{:?}", w.events(&sid));
    let lines_then = w.events(&sid).len();
    let o = w.send(&["--receipt", "w1", "second"]);
    let n = receipt_of(&o);
    assert!(stderr(&o).contains("into its running turn"), "{}", stderr(&o));
    assert_eq!(n, lines_then, "{:?}", w.events(&sid));
    let o = w.cmd("csd-wait").args(["w1", "10", "--after-line", &n.to_string()]).output().unwrap();
    assert_code(&o, 0);
    let kinds = w.events(&sid);
    assert_eq!(kinds.iter().filter(|e| *e == "user_prompt_submit").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|e| *e == "stop").count(), 1, "{kinds:?}");

    assert_code(&w.send(&["w1", "toolsleep:2 third"]), 0);
    let busy =
        eventually(Duration::from_secs(5), || w.events(&sid).last().is_some_and(|e| e == "pre_tool_use").then_some(()));
    assert!(busy.is_some(), "{:?}", w.events(&sid));
    let o = w.cmd("csd-send").args(["--converse", "w1", "fourth", "20"]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: toolsleep:2 third + fourth\n");
    assert_eq!(w.recorded(), ["toolsleep:2 first", "second", "toolsleep:2 third", "fourth"]);
}

fn csd_turn(w: &World, name: &str) -> std::process::Output {
    w.cmd("csd-turn").arg(name).output().unwrap()
}

#[test]
fn send_to_a_missing_or_dead_worker() {
    let w = World::new();
    assert_code(&w.send(&["nobody", "hi"]), 3);
    w.up("w1", &[]);
    assert_code(&w.send(&["w1", "  \n"]), 2);
    w.env.tmux_ok(["kill-session", "-t", "=w1"]);
    assert_code(&w.send(&["w1", "hi"]), 4);
}

// ---- converse ----

#[test]
fn converse_prints_the_reply_or_the_whole_turn() {
    let w = World::new();
    w.up("w1", &[]);
    let o = w.send(&["--converse", "w1", "hello there\nsecond line"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: hello there\n");

    let o = w.send(&["--converse", "w1", "--with-turn", "tool please", "20"]);
    assert_code(&o, 0);
    let turn = stdout(&o);
    assert!(turn.contains("tool please"), "{turn}");
    assert!(turn.contains("Bash"), "{turn}");
    assert!(turn.contains("Reply: tool please"), "{turn}");
}

#[test]
fn converse_mid_turn_waits_for_its_own_turn() {
    let w = World::new();
    w.up("w1", &[]);
    assert_code(&w.send(&["w1", "sleep:2 first"]), 0);
    let o = w
        .cmd("csd-send")
        .env("CSD_SUBMIT_TIMEOUT", "0.5")
        .env("CSD_SUBMIT_RETRY_INTERVAL", "0.2")
        .args(["--converse", "w1", "second", "20"])
        .output()
        .unwrap();
    assert_code(&o, 0);
    assert!(stderr(&o).contains("queued"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "Reply: second\n");
}

#[test]
fn converse_timeout_writes_the_post_mortem() {
    let w = World::new();
    w.up("w1", &[]);
    let diag = w.env.path().join("diag/converse.txt");
    let o = w
        .cmd("csd-send")
        .env("CSD_CONVERSE_DIAG_FILE", &diag)
        .args(["--converse", "w1", "hang on", "1"])
        .output()
        .unwrap();
    assert_code(&o, 124);
    assert!(stderr(&o).contains(&format!("csd-diagnostic: {}", diag.display())), "{}", stderr(&o));
    let d = text(&diag);
    for part in [
        "reason=turn_timeout",
        "--- ps -eo",
        "--- tmux pane of w1",
        "> hang on",
        "--- csd events",
        "user_prompt_submit",
    ] {
        assert!(d.contains(part), "{part} missing from:\n{d}");
    }
}

#[test]
fn a_worker_that_dies_mid_turn_ends_converse_and_wait_at_once() {
    let w = World::new();
    w.up("w1", &[]);
    let t = Instant::now();
    let o = w.send(&["--converse", "w1", "die now", "60"]);
    assert_code(&o, 4);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    w.up("w2", &[]);
    assert_code(&w.send(&["w2", "sleep:1 then die"]), 0);
    w.env.tmux_ok(["kill-session", "-t", "=w2"]);
    let t = Instant::now();
    let o = w.cmd("csd-wait").args(["w2", "60"]).output().unwrap();
    assert_code(&o, 4);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

// ---- adopt ----

#[test]
fn adopt_resumes_in_a_new_session_or_respawns_the_pane() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    assert_code(&w.send(&["--converse", "w1", "remember me"]), 0);
    // The worker quits (as after a reboot, its session is gone).
    w.env.tmux_ok(["send-keys", "-t", "=w1:", "/exit", "Enter"]);
    assert!(eventually(Duration::from_secs(5), || (!w.env.has_session("w1")).then_some(())).is_some());

    let o = w.cmd("csd-launch").args(["--adopt", "w1", w.proj.to_str().unwrap(), &sid]).output().unwrap();
    assert_code(&o, 0);
    assert!(stderr(&o).contains("Worker adopted (in a new tmux session)"), "{}", stderr(&o));
    assert_eq!(w.metas().len(), 1);
    assert_eq!(w.metas()[0]["invocation"][2], sid.as_str());
    let o = w.send(&["--converse", "w1", "still there?"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: still there?\n");

    // With its harness running, the session is not taken from it (issue
    // 17: adopt killed the harness mid-turn); tests/faults_names.rs shows a
    // pane kept after its harness quit respawned in place.
    let pid_before = w.env.tmux_ok(["display", "-p", "-t", "=w1:", "#{pane_pid}"]);
    let o = w.cmd("csd-launch").args(["--adopt", "w1", w.proj.to_str().unwrap(), &sid]).output().unwrap();
    assert_code(&o, 1);
    assert_eq!(w.env.tmux_ok(["display", "-p", "-t", "=w1:", "#{pane_pid}"]), pid_before);
    assert_eq!(w.env.tmux_ok(["list-sessions", "-F", "#{session_name}"]).trim(), "w1");
    assert_code(&w.send(&["--converse", "w1", "and now?"]), 0);

    // The same session cannot run as a second worker.
    let o = w.cmd("csd-launch").args(["--adopt", "w2", w.proj.to_str().unwrap(), &sid]).output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("already running as worker 'w1'"), "{}", stderr(&o));
    assert!(!w.env.has_session("w2"));
}

#[test]
fn adopt_refuses_a_session_without_a_transcript() {
    let w = World::new();
    let o = w
        .cmd("csd-launch")
        .args(["--adopt", "w1", w.proj.to_str().unwrap(), "0b1e2c3d-aaaa-4bbb-8ccc-123456789abc"])
        .output()
        .unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("no transcript"), "{}", stderr(&o));
    assert!(!w.env.has_session("w1"));
    w.assert_no_worker_state();
}

// ---- the whole life ----

#[test]
fn csd_stop_quits_a_launched_worker_with_exit_and_leaves_nothing() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    assert_code(&w.send(&["--converse", "w1", "hello"]), 0);
    let t = Instant::now();
    let o = w.cmd("csd-stop").arg("w1").output().unwrap();
    assert_code(&o, 0);
    // /exit makes the fake fire SessionEnd and exit: no waiting out the grace.
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(!w.env.has_session("w1"));
    assert!(!w.env.events_path(&sid).exists());
    w.assert_no_worker_state();
    // The name is free again.
    w.up("w1", &[]);
}
