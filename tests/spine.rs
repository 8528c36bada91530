//! The spine through its real binaries: csd-hook, csd-events, csd-status,
//! csd-wait and the csd dispatcher, on a private tmux server.

mod common;

use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn payload(sid: &str, event: &str) -> serde_json::Value {
    json!({"session_id": sid, "transcript_path": "/x.jsonl", "cwd": "/proj", "hook_event_name": event})
}

fn lines(s: &str) -> Vec<serde_json::Value> {
    s.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn hostile_names_are_refused_before_tmux_or_files() {
    let env = TestEnv::new();
    for name in ["-t", "a b", "a;b", "../x", "a/b", "$(touch pwned)", "a\nb", "x:y", "", "é", &"a".repeat(65)] {
        for (bin, args) in [
            ("csd-status", vec![name]),
            ("csd-events", vec![name]),
            ("csd-wait", vec![name, "1"]),
            ("csd-status", vec!["--session-id", name]),
        ] {
            let mut a: Vec<&str> = args.clone();
            if name.starts_with('-') {
                // A leading dash reads as an option: still a usage error.
                a.insert(0, "--");
            }
            let o = env.run(bin, &a);
            assert_code(&o, 2);
            assert!(stdout(&o).is_empty());
            assert_eq!(stderr(&o).lines().next().map(|l| l.starts_with(bin)), Some(true), "{}", stderr(&o));
        }
        let o = env.run("csd", ["--worker", name, "status"]);
        assert_code(&o, 2);
    }
    assert!(!env.path().join("pwned").exists());
    assert_eq!(std::fs::read_dir(&env.worker_dir).unwrap().count(), 0, "nothing written");
}

#[test]
fn unknown_worker_has_its_own_exit_code() {
    let env = TestEnv::new();
    for (bin, args) in
        [("csd-status", vec!["nobody"]), ("csd-events", vec!["nobody"]), ("csd-wait", vec!["nobody", "1"])]
    {
        let o = env.run(bin, &args);
        assert_code(&o, 3);
        assert!(stderr(&o).contains("no worker known as 'nobody'"), "{}", stderr(&o));
    }
    assert_code(&env.run("csd", ["--worker", "nobody", "session-id"]), 3);
}

#[test]
fn hook_writes_only_for_managed_workers_and_maps_real_payloads() {
    let env = TestEnv::new();
    // A session csd does not manage: nothing written, nothing printed, exit 0.
    let o = env.hook(&payload("stranger", "Stop"));
    assert_code(&o, 0);
    assert!(o.stdout.is_empty() && o.stderr.is_empty());
    assert!(!env.events_path("stranger").exists());

    env.fake_worker("w1", "sid-1", &[]);
    let real = std::fs::read_to_string(repo().join("tests/fixtures/hook-payloads.jsonl")).unwrap();
    for line in real.lines().filter(|l| !l.trim().is_empty()) {
        let mut p: serde_json::Value = serde_json::from_str(line).unwrap();
        p["session_id"] = json!("sid-1");
        let o = env.hook(&p);
        assert_code(&o, 0);
        assert!(o.stdout.is_empty(), "a hook must print nothing (Codex rejects output on Stop)");
    }
    let evs = lines(&std::fs::read_to_string(env.events_path("sid-1")).unwrap());
    let names: Vec<&str> = evs.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "session_start",
            "user_prompt_submit",
            "stop",
            "user_prompt_submit",
            "pre_tool_use",
            "post_tool_use",
            "stop",
            "session_end"
        ]
    );
    assert!(evs[0]["cwd"].as_str().is_some_and(|c| c.starts_with('/')), "{}", evs[0]);
    assert_eq!(evs[4]["tool"], "Bash");
    assert!(evs[4]["tool_input"]["command"].is_string());
    assert_eq!(evs[5]["tool"], "Bash");
    for e in &evs {
        let ts = e["ts"].as_str().unwrap();
        assert_eq!(ts.len(), 20, "{ts}");
        assert!(ts.ends_with('Z'));
    }
}

#[test]
fn hook_survives_garbage_and_never_fails() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &[]);
    for input in [
        &b""[..],
        b"not json",
        b"[1,2]",
        b"{\"session_id\":\"sid-1\"}",
        b"{\"session_id\":\"sid-1\",\"hook_event_name\":\"Bogus\"}",
        b"{\"session_id\":\"../../etc/x\",\"hook_event_name\":\"Stop\"}",
        b"{\"session_id\":42,\"hook_event_name\":\"Stop\"}",
        b"\xff\xfe\x00",
    ] {
        let o = env.run_stdin("csd-hook", [] as [&str; 0], input);
        assert_code(&o, 0);
        assert!(o.stdout.is_empty() && o.stderr.is_empty());
    }
    assert!(!env.events_path("sid-1").exists());
}

#[test]
fn hook_keeps_the_event_of_a_payload_over_the_cap() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &[]);
    let big = "x".repeat(12 * 1024 * 1024);
    let p = json!({"session_id": "sid-1", "hook_event_name": "PostToolUse", "tool_name": "Bash",
                   "tool_response": {"stdout": big}});
    assert_code(&env.hook(&p), 0);
    let evs = lines(&std::fs::read_to_string(env.events_path("sid-1")).unwrap());
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0]["event"], "post_tool_use");
    assert_eq!(evs[0]["tool"], "Bash");
}

#[test]
fn hook_gives_up_on_a_stdin_that_never_closes() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &[]);
    let mut child = env.cmd("csd-hook").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(payload("sid-1", "Stop").to_string().as_bytes()).unwrap();
    let started = Instant::now();
    let status = child.wait().unwrap();
    let took = started.elapsed();
    drop(stdin);
    assert!(status.success());
    assert!(took < Duration::from_secs(7), "hook lingered {took:?}");
    assert!(took >= Duration::from_secs(4), "hook did not wait for the payload to finish: {took:?}");
    // What arrived before the deadline is a whole payload: it is recorded.
    assert!(std::fs::read_to_string(env.events_path("sid-1")).unwrap().contains("\"stop\""));
}

#[test]
fn derive_registration_needs_the_launch_marker() {
    let env = TestEnv::new();
    let wd = env.worker_dir.to_str().unwrap().to_string();
    let args = ["cw1", "/proj", wd.as_str()];
    let p = payload("minted-1", "UserPromptSubmit");
    // No marker: a stray Codex with our hook config invents no worker.
    assert_code(&env.run_stdin("csd-hook", args, p.to_string().as_bytes()), 0);
    assert!(!env.worker_dir.join("minted-1.meta").exists());
    std::fs::write(env.worker_dir.join("cw1.harness"), "codex").unwrap();
    assert_code(&env.run_stdin("csd-hook", args, p.to_string().as_bytes()), 0);
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join("minted-1.meta")).unwrap()).unwrap();
    assert_eq!(meta["tmux_name"], "cw1");
    assert_eq!(meta["session_id"], "minted-1");
    assert_eq!(meta["harness"], "codex");
    assert_eq!(meta["transcript_path"], "/x.jsonl");
    let o = env.run("csd-status", ["--session-id", "cw1"]);
    assert_eq!(stdout(&o).trim(), "minted-1");
}

#[test]
fn concurrent_hooks_lose_and_splice_nothing() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &[]);
    let hook = bin("csd-hook");
    const PROCS: usize = 32;
    const EACH: usize = 500;
    let threads: Vec<_> = (0..PROCS)
        .map(|p| {
            let hook = hook.clone();
            let wd = env.worker_dir.clone();
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let input = json!({"session_id": "sid-1", "hook_event_name": "PreToolUse",
                        "tool_name": format!("T{p}"), "tool_input": {"i": i, "pad": "y".repeat(300)}});
                    let mut c = std::process::Command::new(&hook)
                        .env("CSD_WORKER_DIR", &wd)
                        .stdin(Stdio::piped())
                        .spawn()
                        .unwrap();
                    c.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
                    assert!(c.wait().unwrap().success());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let text = std::fs::read_to_string(env.events_path("sid-1")).unwrap();
    let evs = lines(&text); // panics on a spliced line
    assert_eq!(evs.len(), PROCS * EACH);
    for p in 0..PROCS {
        let mut seen: Vec<u64> = evs
            .iter()
            .filter(|e| e["tool"] == format!("T{p}"))
            .map(|e| e["tool_input"]["i"].as_u64().unwrap())
            .collect();
        seen.sort();
        assert_eq!(seen, (0..EACH as u64).collect::<Vec<_>>(), "writer {p}");
    }
}

#[test]
fn readers_skip_torn_and_garbage_lines() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    let log = env.events_path("sid-1");
    std::fs::write(
        &log,
        concat!(
            "{\"event\":\"session_start\",\"ts\":\"2026-01-01T00:00:00Z\",\"cwd\":\"/p\"}\n",
            "garbage line\n",
            "\n",
            "{\"event\":\"user_prompt_submit\",\"ts\":\"2026-01-01T00:00:01Z\"}\n",
            "{\"event\":\"nope\",\"ts\":\"x\"}\n",
            "{\"event\":\"stop\",\"ts\":\"2026-01-01T00:00:02Z\"}\n",
            "{\"event\":\"user_prompt_sub"
        ),
    )
    .unwrap();
    let o = env.run("csd-events", ["w1"]);
    assert_code(&o, 0);
    let names: Vec<String> = lines(&stdout(&o)).iter().map(|e| e["event"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["session_start", "user_prompt_submit", "stop"]);
    let o = env.run("csd-events", ["w1", "--last", "1"]);
    assert!(stdout(&o).contains("\"stop\""), "{}", stdout(&o));
    // The torn tail is no event: the status comes from the last whole one.
    assert_eq!(stdout(&env.run("csd-status", ["w1"])).trim(), "idle");
    let o = env.run("csd-events", ["w1", "--type", "user_prompt_submit"]);
    assert_eq!(lines(&stdout(&o)).len(), 1);
}

#[test]
fn status_follows_the_last_event_and_the_tmux_session() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    let status = || stdout(&env.run("csd-status", ["w1"])).trim().to_string();
    assert_eq!(status(), "unknown");
    for (ev, want) in [
        ("SessionStart", "idle"),
        ("UserPromptSubmit", "working"),
        ("PreToolUse", "working"),
        ("PostToolUse", "working"),
        ("Stop", "idle"),
        ("SessionEnd", "terminated"),
    ] {
        env.hook(&payload("sid-1", ev));
        assert_eq!(status(), want, "after {ev}");
    }
    let o = env.run("csd-status", ["w1", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["status"], "terminated");
    assert_eq!(v["session_id"], "sid-1");
    env.tmux_ok(["kill-session", "-t", "=w1"]);
    assert_eq!(status(), "gone");
    // By session id as well as by name.
    assert_eq!(stdout(&env.run("csd-status", ["sid-1"])).trim(), "gone");
}

/// What a controller acts on: the tool running now, the log line of the
/// latest prompt (for `csd-wait --after-line`), the last event's time, and
/// the tokens the transcript records, each Claude message counted once.
#[test]
fn status_json_says_the_tool_the_prompt_line_and_the_tokens() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    let transcript = env.path().join("sid-1.jsonl");
    let at = |event: &str| {
        let mut p = payload("sid-1", event);
        p["transcript_path"] = transcript.to_str().unwrap().into();
        p
    };
    let row = || -> serde_json::Value {
        let o = env.run("csd-status", ["w1", "--json"]);
        assert_code(&o, 0);
        serde_json::from_str(&stdout(&o)).unwrap()
    };
    let v = row();
    assert_eq!(
        (v["status"].as_str(), v["name"].as_str(), v["tmux_name"].as_str()),
        (Some("unknown"), Some("w1"), Some("w1"))
    );
    assert_eq!((&v["since"], &v["tool"], &v["prompt_line"]), (&json!(null), &json!(null), &json!(null)));
    // No transcript yet: nothing spent.
    assert_eq!(v["tokens"], json!({"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}));
    env.hook(&at("SessionStart"));
    env.hook(&at("UserPromptSubmit"));
    let mut pre = at("PreToolUse");
    pre["tool_name"] = "Bash".into();
    pre["tool_input"] = json!({"command": "sleep 5"});
    env.hook(&pre);
    let usage = |i: u64, o: u64| json!({"input_tokens": i, "output_tokens": o, "cache_read_input_tokens": 7, "cache_creation_input_tokens": 3});
    let line = |id: &str, block: &str, u: serde_json::Value| {
        json!({"type": "assistant", "message": {"id": id, "content": [{"type": block}], "usage": u}}).to_string() + "\n"
    };
    let mut text = line("m1", "thinking", usage(10, 1)) + &line("m1", "tool_use", usage(10, 20));
    std::fs::write(&transcript, &text).unwrap();
    let v = row();
    let log: Vec<serde_json::Value> = lines(&std::fs::read_to_string(env.events_path("sid-1")).unwrap());
    assert_eq!(v["status"], "working");
    assert_eq!(v["tool"], "Bash");
    assert_eq!(v["prompt_line"], 2);
    assert_eq!(v["since"], log.last().unwrap()["ts"]);
    assert_eq!(v["cwd"], env.path().to_str().unwrap());
    assert_eq!(v["tokens"], json!({"input": 10, "output": 20, "cache_read": 7, "cache_write": 3}));
    assert!(env.worker_dir.join("sid-1.tally").is_file());
    let list = stdout(&env.run("csd", ["list"]));
    assert!(
        list.lines().any(|l| l.starts_with("working\tclaude\tw1\tsid-1\t") && l.ends_with("\tBash\t30\t-")),
        "{list}"
    );
    // The tool ended, the turn ended, a new prompt: the counts follow.
    let mut post = at("PostToolUse");
    post["tool_name"] = "Bash".into();
    env.hook(&post);
    text = line("m2", "text", usage(5, 5));
    std::fs::OpenOptions::new().append(true).open(&transcript).unwrap().write_all(text.as_bytes()).unwrap();
    env.hook(&at("Stop"));
    env.hook(&at("UserPromptSubmit"));
    env.hook(&at("Stop"));
    let v = row();
    assert_eq!((v["status"].as_str(), &v["tool"], &v["prompt_line"]), (Some("idle"), &json!(null), &json!(6)));
    assert_eq!(v["tokens"], json!({"input": 15, "output": 25, "cache_read": 14, "cache_write": 6}));
    let all = stdout(&env.run("csd-status", ["--list", "--json"]));
    let all: serde_json::Value = serde_json::from_str(&all).unwrap();
    assert_eq!(all, json!([v]));
    // The tally goes with the worker.
    env.tmux_ok(["kill-session", "-t", "=w1"]);
    assert_code(&env.run("csd-stop", ["w1"]), 0);
    assert!(!env.worker_dir.join("sid-1.tally").exists());
}

#[test]
fn list_shows_live_workers_and_gone_ones_with_all() {
    let env = TestEnv::new();
    let o = env.run("csd-status", ["--list"]);
    assert_code(&o, 0);
    assert!(stdout(&o).is_empty());
    assert_eq!(stderr(&o).trim(), "No workers found");
    env.fake_worker("alpha", "sid-a", &["sleep", "600"]);
    env.fake_worker("beta", "sid-b", &[]); // no tmux session: gone
    env.hook(&payload("sid-a", "Stop"));
    let o = env.run("csd", ["list"]);
    let out = stdout(&o);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows[0], "STATUS\tHARNESS\tTMUX\tSESSION_ID\tSHIM\tCWD\tTOOL\tTOKENS\tHOST");
    assert_eq!(rows.len(), 2, "{out}");
    assert!(rows[1].starts_with("idle\tclaude\talpha\tsid-a\t"), "{}", rows[1]);
    let o = env.run("csd", ["list", "--all"]);
    assert_eq!(stdout(&o).lines().count(), 3);
    assert!(stdout(&o).contains("gone\tclaude\tbeta\tsid-b"));
    let o = env.run("csd", ["list", "--all", "bet"]);
    assert_eq!(stdout(&o).lines().count(), 2);
    let o = env.run("csd-status", ["--list", "--all", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    // A launched worker whose harness has not minted its id yet (an older
    // csd's marker: a bare harness name, an unstamped session): idle, as
    // `status` says, with no session id yet.
    std::fs::write(env.worker_dir.join("gamma.harness"), "codex\n").unwrap();
    env.tmux_ok(["new-session", "-d", "-s", "gamma", "--", "sleep", "600"]);
    let o = env.run("csd", ["list"]);
    assert!(stdout(&o).contains("idle\tcodex\tgamma\t-\t"), "{}", stdout(&o));
    // No session, no tool, no transcript: TOOL and TOKENS are "-".
    assert!(
        stdout(&o).lines().any(|l| l.starts_with("idle\tcodex\tgamma\t") && l.ends_with("\t-\t-")),
        "{}",
        stdout(&o)
    );
    assert_eq!(stdout(&env.run("csd-status", ["gamma"])).trim(), "idle");
}

#[test]
fn wait_wakes_on_the_stop_line() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    env.hook(&payload("sid-1", "Stop")); // an old turn end must not count
    let waiter = env.cmd("csd-wait").args(["w1", "30"]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.hook(&payload("sid-1", "UserPromptSubmit"));
    env.hook(&payload("sid-1", "PreToolUse"));
    let landed = Instant::now();
    env.hook(&payload("sid-1", "Stop"));
    let o = waiter.wait_with_output().unwrap();
    let took = landed.elapsed();
    assert_code(&o, 0);
    assert_eq!(lines(&stdout(&o))[0]["event"], "stop");
    assert!(took < Duration::from_millis(500), "woke {took:?} after the stop line");
}

#[test]
fn wait_after_line_finds_a_turn_end_already_logged() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    env.hook(&payload("sid-1", "SessionStart"));
    env.hook(&payload("sid-1", "UserPromptSubmit"));
    env.hook(&payload("sid-1", "SessionEnd"));
    let o = env.run("csd-wait", ["w1", "5", "--after-line", "1"]);
    assert_code(&o, 0);
    assert_eq!(lines(&stdout(&o))[0]["event"], "session_end");
    let o = env.run("csd-wait", ["w1", "0.3", "--after-line", "3"]);
    assert_code(&o, 124);
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
}

#[test]
fn wait_returns_when_the_tmux_session_dies() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    let started = Instant::now();
    let waiter = env.cmd("csd-wait").args(["w1", "60"]).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.tmux_ok(["kill-session", "-t", "=w1"]);
    let o = waiter.wait_with_output().unwrap();
    assert_code(&o, 4);
    assert!(stderr(&o).contains("gone"), "{}", stderr(&o));
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
}

#[test]
fn wait_rejects_bad_timeouts() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    for t in ["0", "-1", "abc", "nan", "1e99"] {
        let o = env.run("csd-wait", ["w1", t]);
        assert_code(&o, 2);
    }
}

#[test]
fn follow_streams_through_a_pipe() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    env.hook(&payload("sid-1", "SessionStart"));
    let mut follower = env
        .cmd("csd-events")
        .args(["w1", "--follow", "--type", "pre_tool_use"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follower.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..3 {
        let mut p = payload("sid-1", "PreToolUse");
        p["tool_name"] = json!(format!("Tool{i}"));
        env.hook(&p);
        env.hook(&payload("sid-1", "Stop"));
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["tool"], format!("Tool{i}"), "each line arrives as it lands");
    }
    // Stopping the worker (its log removed) ends the follower.
    std::fs::remove_file(env.events_path("sid-1")).unwrap();
    let st = common::eventually(Duration::from_secs(5), || follower.try_wait().unwrap());
    assert!(st.is_some_and(|s| s.success()), "follower did not end with the log");
}

#[test]
fn follow_last_zero_shows_only_new_events() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    env.hook(&payload("sid-1", "SessionStart"));
    let mut follower =
        env.cmd("csd-events").args(["w1", "--follow", "--last", "0"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(follower.stdout.take().unwrap());
    std::thread::sleep(Duration::from_millis(200));
    env.hook(&payload("sid-1", "UserPromptSubmit"));
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("user_prompt_submit"), "{line}");
    follower.kill().unwrap();
    follower.wait().unwrap();
}

#[test]
fn events_into_head_ends_quietly() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    for _ in 0..20_000 {
        // Enough output to outlast the pipe buffer.
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(env.events_path("sid-1"))
            .unwrap()
            .write_all(b"{\"event\":\"stop\",\"ts\":\"2026-01-01T00:00:00Z\"}\n")
            .unwrap();
    }
    for extra in [&[][..], &["--follow"][..]] {
        let mut events = env.cmd("csd-events");
        events.arg("w1").args(extra).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut events = events.spawn().unwrap();
        let head = std::process::Command::new("head").arg("-1").stdin(events.stdout.take().unwrap()).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&head.stdout).lines().count(), 1);
        let st = common::eventually(Duration::from_secs(5), || events.try_wait().unwrap());
        let o = events.wait_with_output().unwrap();
        assert_eq!(st.and_then(|s| s.code()), Some(0), "{extra:?}");
        assert!(o.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn worker_dir_that_is_a_symlink_is_refused() {
    let env = TestEnv::new();
    let link = env.path().join("link");
    std::os::unix::fs::symlink(&env.worker_dir, &link).unwrap();
    let o = env.cmd("csd-status").env("CSD_WORKER_DIR", &link).arg("--list").output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("symlink"), "{}", stderr(&o));
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (chown to another user: root): make test")]
fn worker_dir_owned_by_someone_else_is_refused() {
    let env = TestEnv::new();
    nix::unistd::chown(&env.worker_dir, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
    let o = env.run("csd-status", ["--list"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("owned by uid 65534"), "{}", stderr(&o));
}

#[test]
fn dispatcher_maps_the_v4_surface_and_passes_exit_codes() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    env.hook(&payload("sid-1", "Stop"));
    assert_eq!(stdout(&env.run("csd", ["--worker", "w1", "status"])).trim(), "idle");
    assert_eq!(stdout(&env.run("csd", ["--worker=w1", "session-id"])).trim(), "sid-1");
    let ef = stdout(&env.run("csd", ["--worker", "w1", "events-file"]));
    assert_eq!(ef.trim(), env.events_path("sid-1").to_str().unwrap());
    let o = env.run("csd", ["--worker", "w1", "read-events", "--last", "1"]);
    assert!(stdout(&o).contains("\"stop\""));
    assert_code(&env.run("csd", ["--worker", "w1", "wait-for-turn", "0.2"]), 124);
    assert_code(&env.run("csd", ["status"]), 2);
    assert_code(&env.run("csd", ["--worker", "w1", "list"]), 2);
    assert_code(&env.run("csd", ["frobnicate"]), 2);
    assert_code(&env.run("csd", [] as [&str; 0]), 2);
    let o = env.run("csd", ["help"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("wait-for-turn") && stdout(&o).contains("csd-wait"));
}

#[test]
fn shim_drives_its_worker_for_any_valid_name() {
    let env = TestEnv::new();
    for name in ["w1", "a.b", "x-_.9"] {
        let sid = format!("sid-{name}");
        env.fake_worker(name, &sid, &["sleep", "600"]);
        env.hook(&payload(&sid, "SessionStart"));
        let dir = csd::workerdir::WorkerDir::at(env.worker_dir.clone()).unwrap();
        std::fs::create_dir_all(env.worker_dir.join("bin")).unwrap();
        let shim = dir.write_shim(name, &bin("csd")).unwrap();
        let mut c = std::process::Command::new(&shim);
        env.apply_env(&mut c);
        let o = c.arg("status").output().unwrap();
        assert_code(&o, 0);
        assert_eq!(stdout(&o).trim(), "idle", "{name}");
    }
}

#[test]
fn status_trusts_a_recorded_pane_only_while_its_process_runs() {
    let env = TestEnv::new();
    // A pane process that outlives its session being killed.
    // Its command line names its session id, as a v4 worker's does.
    env.fake_worker("w1", "sid-1", &["bash", "-c", "trap '' HUP; exec -a 'sleep sid-1' sleep 600"]);
    env.hook(&payload("sid-1", "Stop"));
    let dir = csd::workerdir::WorkerDir::at(env.worker_dir.clone()).unwrap();
    let mut w = csd::worker::Worker::resolve(&dir, "w1").unwrap();
    std::thread::sleep(Duration::from_millis(100)); // let bash exec sleep
    w.record_pane().unwrap();
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join("sid-1.meta")).unwrap()).unwrap();
    assert!(meta["pane"]["pid"].as_i64().unwrap() > 1, "{meta}");
    assert_eq!(meta["tmux_name"], "w1", "the rest of the meta is kept");
    assert_eq!(stdout(&env.run("csd-status", ["w1"])).trim(), "idle");
    let pid = meta["pane"]["pid"].as_i64().unwrap() as i32;
    env.tmux_ok(["kill-session", "-t", "=w1"]);
    // At once, though the process lives on: its terminal is closed.
    assert_eq!(stdout(&env.run("csd-status", ["w1"])).trim(), "gone");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the process was meant to survive");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    // A mark naming some other process (a reused pid) is not believed.
    let forged = meta.to_string().replace(&format!("\"pid\":{}", meta["pane"]["pid"]), "\"pid\":1");
    std::fs::write(env.worker_dir.join("sid-1.meta"), forged).unwrap();
    assert_eq!(stdout(&env.run("csd-status", ["w1"])).trim(), "gone");
}
