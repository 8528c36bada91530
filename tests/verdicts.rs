//! Turn verdicts, the reading side (issue 16): whatever wrote a stop line's
//! verdict (a hook on a real CLI: see tests/e2e_*.rs), every reader of turn
//! ends says it, at once, with its own exit status. The scripted fake Claude
//! Code keeps a turn running (`hang`); the test then appends the stop line a
//! harness's hook would write, and times how soon each reader answers.
//! A crash needs no hook: csd itself sees the CLI die mid-turn.

mod common;

use common::world::World;
use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Append one line to a worker's event log, as a hook does (one write).
fn append(w: &World, sid: &str, line: &Value) {
    let mut f = std::fs::OpenOptions::new().append(true).open(w.env.events_path(sid)).unwrap();
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn stop(extra: Value) -> Value {
    let mut v = json!({"event": "stop", "ts": "2026-12-06T03:00:00Z"});
    v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    v
}

fn spawn(mut c: Command) -> Child {
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Wait for `child`, which must end within `within` of now.
fn finish(child: Child, within: Duration) -> (std::process::Output, Duration) {
    let t = Instant::now();
    let mut child = child;
    loop {
        if child.try_wait().unwrap().is_some() {
            return (child.wait_with_output().unwrap(), t.elapsed());
        }
        assert!(t.elapsed() < within, "still running after {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A worker in a turn that will not end by itself; its session id.
fn hung_worker(w: &World, name: &str) -> String {
    let sid = w.up(name, &[]);
    assert_code(&w.send(&[name, "hang"]), 0);
    let status = w.cmd("csd-status").arg(name).output().unwrap();
    assert_eq!(stdout(&status).trim(), "working");
    sid
}

fn status_json(w: &World, name: &str) -> Value {
    let o = w.cmd("csd-status").args([name, "--json"]).output().unwrap();
    assert_code(&o, 0);
    serde_json::from_slice(&o.stdout).unwrap()
}

fn failed_line(kind: &str, status: u16, retry_at: Option<&str>) -> Value {
    let mut error = json!({"kind": kind, "message": format!("the API said no ({kind})"), "status": status});
    if let Some(t) = retry_at {
        error["retry_at"] = t.into();
    }
    stop(json!({"reason": "failed", "error": error}))
}

#[test]
fn a_failed_turn_ends_converse_at_once_with_status_5() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    // converse waits on a turn that would never end by itself.
    let conv = spawn({
        let mut c = w.cmd("csd-send");
        c.args(["--converse", "w1", "hang", "60"]);
        c
    });
    eventually(Duration::from_secs(10), || w.events(&sid).contains(&"user_prompt_submit".to_string()).then_some(()))
        .expect("the prompt was submitted");
    std::thread::sleep(Duration::from_millis(300));
    append(&w, &sid, &failed_line("overloaded", 529, None));
    let (o, took) = finish(conv, Duration::from_secs(5));
    eprintln!("converse returned {took:?} after the failed stop landed");
    assert_code(&o, 5);
    assert!(took < Duration::from_secs(1), "converse took {took:?}");
    let err = stderr(&o);
    assert!(err.contains("failed: overloaded (HTTP 529)"), "{err}");
    assert!(err.contains("the API said no"), "{err}");
    // The worker is idle again, says how its last turn ended, and takes the
    // next prompt, which the fake answers.
    let row = status_json(&w, "w1");
    assert_eq!(row["status"], "idle");
    assert_eq!(row["last_turn"]["verdict"], "failed");
    assert_eq!(row["last_turn"]["error"]["kind"], "overloaded");
    assert_eq!(row["last_turn"]["error"]["status"], 529);
    // v4's readers of stop lines still see the turn end.
    let stops = w.cmd("csd-events").args(["w1", "--type", "stop"]).output().unwrap();
    assert_eq!(stdout(&stops).lines().count(), 1);
}

#[test]
fn after_a_failed_turn_a_worker_takes_and_answers_the_next_prompt() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    // A turn the fake ends on its own, followed by a failed stop, as a
    // harness that retried and gave up would leave the log.
    assert_code(&w.send(&["w1", "sleep:0.2"]), 0);
    let o = w.cmd("csd-wait").args(["w1", "10"]).output().unwrap();
    assert_code(&o, 0);
    append(&w, &sid, &json!({"event": "user_prompt_submit", "ts": "2026-12-06T03:00:00Z"}));
    append(&w, &sid, &failed_line("rate_limit", 429, None));
    assert_eq!(stdout(&w.cmd("csd-status").arg("w1").output().unwrap()).trim(), "idle");
    let o = w.cmd("csd-send").args(["--converse", "w1", "next question", "20"]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "Reply: next question");
    assert_eq!(status_json(&w, "w1")["last_turn"]["verdict"], "done");
}

#[test]
fn interrupted_and_blocked_turns_have_statuses_of_their_own() {
    let w = World::new();
    for (name, line, code, word) in [
        ("int", stop(json!({"reason": "interrupted"})), 7, "interrupted"),
        (
            "blk",
            stop(json!({"reason": "blocked", "blocked": {"on": "question", "questions": [
                {"question": "Which database?", "header": "DB", "multi_select": false,
                 "options": [{"label": "Postgres", "description": "the usual"}, {"label": "SQLite"}]}]}})),
            6,
            "blocked",
        ),
    ] {
        let sid = hung_worker(&w, name);
        let wait = spawn({
            let mut c = w.cmd("csd-wait");
            c.args([name, "30"]);
            c
        });
        std::thread::sleep(Duration::from_millis(300));
        append(&w, &sid, &line);
        let (o, took) = finish(wait, Duration::from_secs(5));
        assert_code(&o, code);
        assert!(took < Duration::from_secs(1), "{name}: csd-wait took {took:?}");
        let printed: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(printed["reason"], word);
        assert_eq!(status_json(&w, name)["last_turn"]["verdict"], word);
    }
    // Blocked is a status of its own, and it shows the question.
    assert_eq!(stdout(&w.cmd("csd-status").arg("blk").output().unwrap()).trim(), "blocked");
    assert_eq!(stdout(&w.cmd("csd-status").arg("int").output().unwrap()).trim(), "idle");
    let row = status_json(&w, "blk");
    assert_eq!(row["last_turn"]["blocked"]["questions"][0]["options"][1]["label"], "SQLite");
    // A blocked worker takes no prompt: typing would land in its question.
    let o = w.send(&["blk", "are you there?"]);
    assert_code(&o, 6);
    assert!(stderr(&o).contains("blocked on a question: Which database?"), "{}", stderr(&o));
    assert!(stderr(&o).contains("nothing was sent"), "{}", stderr(&o));
    // read-turn ends with why the turn stopped.
    let turn = stdout(&w.cmd("csd-turn").arg("blk").output().unwrap());
    assert!(turn.contains("**Blocked on a question.**"), "{turn}");
    assert!(turn.contains("1. Postgres — the usual\n2. SQLite"), "{turn}");
    let turn = stdout(&w.cmd("csd-turn").arg("int").output().unwrap());
    assert!(turn.trim_end().ends_with("**Turn interrupted.**"), "{turn}");
}

#[test]
fn a_fleet_wait_names_each_verdict_as_the_worker_ends() {
    let w = World::new();
    let bad = hung_worker(&w, "bad");
    let _ok = w.up("ok", &[]);
    assert_code(&w.send(&["ok", "sleep:1.5"]), 0);
    let wait = spawn({
        let mut c = w.cmd("csd-wait");
        c.args(["--all", "bad", "ok", "-t", "30"]);
        c
    });
    std::thread::sleep(Duration::from_millis(300));
    append(&w, &bad, &failed_line("authentication_failed", 401, None));
    let (o, took) = finish(wait, Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "{took:?}");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("bad\tfailed\tworker 'bad': its turn failed: authentication_failed (HTTP 401)"),
        "{out}"
    );
    assert_eq!(lines[1], "ok\tidle");
    assert_code(&o, 5);
}

#[test]
fn a_limited_worker_is_waited_for_until_its_reset_without_polling() {
    let w = World::new();
    let sid = hung_worker(&w, "lim");
    let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2;
    let reset_iso = iso(reset);
    append(&w, &sid, &failed_line("rate_limit", 429, Some(&reset_iso)));
    assert_eq!(stdout(&w.cmd("csd-status").arg("lim").output().unwrap()).trim(), "limited");
    // A fleet wait calls it limited, with when.
    let o = w.cmd("csd-wait").args(["--all", "lim", "-t", "5"]).output().unwrap();
    assert_code(&o, 5);
    assert!(stdout(&o).starts_with("lim\tlimited\t"), "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!("retry after {reset_iso}")), "{}", stdout(&o));
    // A timeout shorter than the reset: 124 at once, saying when.
    let t = Instant::now();
    let o = w.cmd("csd-wait").args(["--ready", "lim", "-t", "0.5"]).output().unwrap();
    assert_code(&o, 124);
    assert!(t.elapsed() < Duration::from_millis(400), "{:?}", t.elapsed());
    assert!(stderr(&o).contains(&reset_iso), "{}", stderr(&o));
    // Long enough: it sleeps through the reset, using no CPU meanwhile.
    let ready = spawn({
        let mut c = w.cmd("csd-wait");
        c.args(["--ready", "lim", "-t", "30"]);
        c
    });
    let pid = ready.id();
    std::thread::sleep(Duration::from_millis(500));
    let ticks = cpu_ticks(pid);
    let (o, _) = finish(ready, Duration::from_secs(10));
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "lim\tidle\n");
    assert!(ticks <= 2, "csd-wait --ready used {ticks} clock ticks of CPU while asleep");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(now >= reset, "returned before the reset");
    assert_eq!(stdout(&w.cmd("csd-status").arg("lim").output().unwrap()).trim(), "idle");
}

#[test]
fn a_cli_that_dies_mid_turn_is_a_crash_recorded_as_the_turns_end() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    let t = Instant::now();
    let o = w.cmd("csd-send").args(["--converse", "w1", "die", "30"]).output().unwrap();
    assert_code(&o, 4);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(stderr(&o).contains("exited mid-turn"), "{}", stderr(&o));
    let log = std::fs::read_to_string(w.env.events_path(&sid)).unwrap();
    let last: Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "stop");
    assert_eq!(last["reason"], "crashed");
    // Another waiter never records it twice.
    let o = w.cmd("csd-wait").args(["w1", "5"]).output().unwrap();
    assert_code(&o, 4);
    let log = std::fs::read_to_string(w.env.events_path(&sid)).unwrap();
    assert_eq!(log.matches("\"crashed\"").count(), 1, "{log}");
}

#[test]
fn hostile_verdict_fields_are_data_never_paths_or_times() {
    let w = World::new();
    let sid = hung_worker(&w, "h");
    // A retry time that is not a time, a kind with control characters.
    append(
        &w,
        &sid,
        &stop(json!({"reason": "failed", "error": {"kind": "rate_limit\u{1b}[2J", "retry_at": "../../etc"}})),
    );
    assert_eq!(stdout(&w.cmd("csd-status").arg("h").output().unwrap()).trim(), "idle");
    let o = w.cmd("csd-wait").args(["--ready", "h", "-t", "1"]).output().unwrap();
    assert_code(&o, 0);
}

/// User plus system CPU of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn iso(secs: u64) -> String {
    let o = Command::new("date").args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}
