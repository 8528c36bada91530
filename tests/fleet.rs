//! Fleet commands through the real binaries on a private tmux server:
//! `csd-wait --any/--all` and `csd-events --all`, with workers made by hand
//! (a meta, a tmux session, events through the real csd-hook) so every edge
//! is cheap to reach: finish order, a worker dying mid-wait, timeouts, 50
//! workers, workers joining and leaving a merged follow.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn hook(env: &TestEnv, sid: &str, event: &str) {
    let o = env.hook(&json!({"session_id": sid, "cwd": "/proj", "hook_event_name": event, "tool_name": "Bash"}));
    assert_code(&o, 0);
}

/// A worker in the middle of a turn.
fn working(env: &TestEnv, name: &str) -> String {
    let sid = format!("sid-{name}");
    env.fake_worker(name, &sid, &["sleep", "600"]);
    hook(env, &sid, "SessionStart");
    hook(env, &sid, "UserPromptSubmit");
    sid
}

/// Read `child`'s stdout a line at a time.
struct LineReader {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl LineReader {
    fn new(mut child: Child) -> LineReader {
        let out = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineReader { child, lines }
    }

    #[track_caller]
    fn next(&self, within: Duration) -> String {
        self.lines.recv_timeout(within).expect("no line in time")
    }

    fn none_within(&self, d: Duration) -> bool {
        self.lines.recv_timeout(d).is_err()
    }

    fn status(mut self) -> Option<i32> {
        self.child.wait().unwrap().code()
    }
}

fn spawn(env: &TestEnv, bin: &str, args: &[&str]) -> LineReader {
    LineReader::new(env.cmd(bin).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap())
}

const SOON: Duration = Duration::from_secs(5);

#[test]
fn wait_all_reports_each_worker_as_it_finishes_in_finish_order() {
    let env = TestEnv::new();
    let sids: Vec<String> = ["a", "b", "c"].iter().map(|n| working(&env, n)).collect();
    let wait = spawn(&env, "csd-wait", &["--all", "a", "b", "c", "-t", "30"]);
    assert!(wait.none_within(Duration::from_millis(300)), "a line before any turn ended");
    // b, then c, then a: each line comes (flushed) before the next turn ends.
    for (name, sid) in [("b", &sids[1]), ("c", &sids[2]), ("a", &sids[0])] {
        let landed = Instant::now();
        hook(&env, sid, "Stop");
        assert_eq!(wait.next(SOON), format!("{name}\tidle"));
        assert!(landed.elapsed() < Duration::from_secs(1), "{name}: {:?}", landed.elapsed());
    }
    assert_eq!(wait.status(), Some(0));
}

#[test]
fn wait_any_returns_on_the_first_and_idle_workers_count_at_once() {
    let env = TestEnv::new();
    let a = working(&env, "a");
    working(&env, "b");
    let wait = spawn(&env, "csd-wait", &["--any", "a", "b", "-t", "30"]);
    assert!(wait.none_within(Duration::from_millis(300)));
    hook(&env, &a, "Stop");
    assert_eq!(wait.next(SOON), "a\tidle");
    assert_eq!(wait.status(), Some(0));
    // a is idle now: it counts at once, for any and for all alike.
    let o = env.run("csd-wait", ["--any", "b", "a", "-t", "30"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "a\tidle\n");
    // The dispatcher's words for them.
    let o = env.run("csd", ["wait-any", "a", "-t", "5"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "a\tidle\n");
}

#[test]
fn a_worker_that_dies_or_ends_counts_and_the_status_says_so() {
    let env = TestEnv::new();
    working(&env, "a");
    let b = working(&env, "b");
    let wait = spawn(&env, "csd-wait", &["--all", "a", "b", "-t", "30"]);
    assert!(wait.none_within(Duration::from_millis(300)));
    env.tmux_ok(["kill-session", "-t", "=a"]);
    assert_eq!(wait.next(SOON), "a\tgone");
    hook(&env, &b, "SessionEnd");
    assert_eq!(wait.next(SOON), "b\tterminated");
    assert_eq!(wait.status(), Some(4));
}

#[test]
fn a_timeout_names_the_workers_still_working() {
    let env = TestEnv::new();
    working(&env, "a");
    let b = working(&env, "b");
    hook(&env, &b, "Stop");
    let started = Instant::now();
    let o = env.run("csd-wait", ["--all", "a", "b", "--timeout", "0.5"]);
    assert_code(&o, 124);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(stdout(&o), "b\tidle\n");
    assert!(stderr(&o).contains("still working: a"), "{}", stderr(&o));
    // Bad input: nothing waited for.
    assert_code(&env.run("csd-wait", ["--all"]), 2);
    assert_code(&env.run("csd-wait", ["--all", "a", "nosuch"]), 3);
    assert_code(&env.run("csd-wait", ["--any", "a", "--after-line", "3"]), 2);
    assert_code(&env.run("csd-wait", ["a", "5", "--timeout", "5"]), 2);
}

#[test]
fn fifty_workers_are_waited_for_with_one_watch() {
    let env = TestEnv::new();
    let names: Vec<String> = (0..50).map(|i| format!("w{i:02}")).collect();
    let sids: Vec<String> = names.iter().map(|n| working(&env, n)).collect();
    let mut args = vec!["--all".to_string()];
    args.extend(names.iter().cloned());
    args.extend(["-t".into(), "60".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let wait = spawn(&env, "csd-wait", &args);
    assert!(wait.none_within(Duration::from_millis(500)));
    for sid in sids.iter().rev() {
        hook(&env, sid, "Stop");
    }
    let mut seen: Vec<String> = (0..50).map(|_| wait.next(Duration::from_secs(10))).collect();
    assert_eq!(wait.status(), Some(0));
    seen.sort();
    let want: Vec<String> = names.iter().map(|n| format!("{n}\tidle")).collect();
    assert_eq!(seen, want);
}

fn parse(lines: &str) -> Vec<Value> {
    lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn events_all_merges_every_log_in_time_order_naming_each_worker() {
    let env = TestEnv::new();
    for (name, sid) in [("a", "sid-a"), ("b", "sid-b")] {
        env.fake_worker(name, sid, &[]);
    }
    let write = |sid: &str, lines: &[(&str, &str)]| {
        let text: String = lines.iter().map(|(ev, ts)| format!("{{\"event\":\"{ev}\",\"ts\":\"{ts}\"}}\n")).collect();
        std::fs::write(env.events_path(sid), text).unwrap();
    };
    write("sid-a", &[("session_start", "2026-01-01T00:00:01Z"), ("stop", "2026-01-01T00:00:05Z")]);
    write("sid-b", &[("session_start", "2026-01-01T00:00:02Z"), ("stop", "2026-01-01T00:00:03Z")]);
    let o = env.run("csd-events", ["--all"]);
    assert_code(&o, 0);
    let got: Vec<(String, String, String)> = parse(&stdout(&o))
        .iter()
        .map(|v| {
            (
                v["worker"].as_str().unwrap().into(),
                v["session_id"].as_str().unwrap().into(),
                v["event"].as_str().unwrap().into(),
            )
        })
        .collect();
    let want = [
        ("a", "sid-a", "session_start"),
        ("b", "sid-b", "session_start"),
        ("b", "sid-b", "stop"),
        ("a", "sid-a", "stop"),
    ];
    assert_eq!(got, want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));
    let o = env.run("csd-events", ["--all", "--type", "stop", "--last", "1"]);
    assert_eq!(parse(&stdout(&o)).iter().map(|v| v["worker"].clone()).collect::<Vec<_>>(), [json!("a")]);
    let o = env.run("csd", ["events", "--last", "2"]);
    assert_eq!(parse(&stdout(&o)).len(), 2);
    assert_code(&env.run("csd-events", ["--all", "a"]), 2);
}

#[test]
fn a_merged_follow_takes_in_workers_that_come_and_lets_go_of_those_that_leave() {
    let env = TestEnv::new();
    let a = working(&env, "a");
    let follow = spawn(&env, "csd-events", &["--all", "--follow"]);
    let next = |want_worker: &str, want_event: &str| {
        let v: Value = serde_json::from_str(&follow.next(SOON)).unwrap();
        assert_eq!((v["worker"].as_str().unwrap(), v["event"].as_str().unwrap()), (want_worker, want_event), "{v}");
    };
    next("a", "session_start");
    next("a", "user_prompt_submit");
    // b joins under the running follow.
    let b = working(&env, "b");
    next("b", "session_start");
    next("b", "user_prompt_submit");
    hook(&env, &a, "Stop");
    next("a", "stop");
    // a leaves: its last events are still read, then nothing more of it.
    hook(&env, &a, "SessionEnd");
    std::fs::remove_file(env.worker_dir.join(format!("{a}.meta"))).unwrap();
    std::fs::remove_file(env.events_path(&a)).unwrap();
    next("a", "session_end");
    hook(&env, &b, "Stop");
    next("b", "stop");
    // A new a, under the same name and a new session: it is a new worker.
    env.tmux_ok(["kill-session", "-t", "=a"]);
    let a2 = "sid-a2";
    env.fake_worker("a", a2, &["sleep", "600"]);
    hook(&env, a2, "SessionStart");
    let v: Value = serde_json::from_str(&follow.next(SOON)).unwrap();
    assert_eq!(
        (v["worker"].as_str(), v["session_id"].as_str(), v["event"].as_str()),
        (Some("a"), Some(a2), Some("session_start"))
    );
    assert!(follow.none_within(Duration::from_millis(300)), "a line twice");
    let mut child = follow.child;
    let _ = child.kill();
    let _ = child.wait();
}
