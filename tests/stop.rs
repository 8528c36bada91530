//! csd-stop through the real binary: stop, handoff, prune.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn files(env: &TestEnv) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(&env.worker_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "bin")
        .collect();
    if let Ok(rd) = std::fs::read_dir(env.worker_dir.join("bin")) {
        v.extend(rd.filter_map(|e| e.ok()).map(|e| format!("bin/{}", e.file_name().to_string_lossy())));
    }
    v.sort();
    v
}

/// A worker whose pane quits on /exit after logging session_end.
fn polite_worker(env: &TestEnv, name: &str, sid: &str) {
    env.fake_worker(name, sid, &[]);
    let script = repo().join("tests/fixtures/quit-on-exit.sh");
    let wd = format!("CSD_WORKER_DIR={}", env.worker_dir.display());
    env.tmux_ok([
        "new-session",
        "-d",
        "-s",
        name,
        "-e",
        &wd,
        "--",
        "bash",
        script.to_str().unwrap(),
        sid,
        bin("csd-hook").to_str().unwrap(),
    ]);
    let dir = csd::workerdir::WorkerDir::at(env.worker_dir.clone()).unwrap();
    dir.ensure().unwrap();
    dir.write_shim(name, &bin("csd")).unwrap();
    std::fs::create_dir_all(env.worker_dir.join("homes").join(name)).unwrap();
}

#[test]
fn stop_quits_politely_and_leaves_nothing_behind() {
    let env = TestEnv::new();
    polite_worker(&env, "w1", "sid-1");
    let started = Instant::now();
    let o = env.run("csd", ["--worker", "w1", "stop"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("Worker w1 (sid-1) stopped."), "{}", stdout(&o));
    assert!(started.elapsed() < Duration::from_secs(4), "stop took {:?}", started.elapsed());
    assert!(!env.has_session("w1"));
    assert_eq!(files(&env), Vec::<String>::new());
    // The worker is gone for every other command too.
    assert_code(&env.run("csd-status", ["w1"]), 3);
}

#[test]
fn stop_of_an_already_dead_worker_removes_its_state() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &[]);
    std::fs::write(env.events_path("sid-1"), "{\"event\":\"stop\",\"ts\":\"2026-01-01T00:00:00Z\"}\n").unwrap();
    let o = env.run("csd-stop", ["w1"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("already gone"), "{}", stdout(&o));
    assert_eq!(files(&env), Vec::<String>::new());
}

#[test]
fn stop_kills_a_harness_it_cannot_ask() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    // A meta naming a harness this csd does not know: no quit keys to send.
    let meta = env.worker_dir.join("sid-1.meta");
    let m = std::fs::read_to_string(&meta).unwrap().replace("\"claude\"", "\"someday\"");
    std::fs::write(&meta, m).unwrap();
    let started = Instant::now();
    assert_code(&env.run("csd-stop", ["w1"]), 0);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!env.has_session("w1"));
    assert_eq!(files(&env), Vec::<String>::new());
}

#[test]
fn stop_an_unregistered_worker_by_name() {
    let env = TestEnv::new();
    std::fs::write(env.worker_dir.join("cx.harness"), "codex").unwrap();
    env.tmux_ok(["new-session", "-d", "-s", "cx", "--", "sleep", "600"]);
    assert_code(&env.run("csd-stop", ["cx"]), 0);
    assert!(!env.has_session("cx"));
    assert_eq!(files(&env), Vec::<String>::new());
}

#[test]
fn stop_rejects_bad_input_without_touching_anything() {
    let env = TestEnv::new();
    polite_worker(&env, "w1", "sid-1");
    let before = files(&env);
    assert_code(&env.run("csd-stop", ["../w1"]), 2);
    assert_code(&env.run("csd-stop", [] as [&str; 0]), 2);
    assert_code(&env.run("csd-stop", ["nobody"]), 3);
    assert_code(&env.run("csd-stop", ["--prune", "w1"]), 2);
    assert_eq!(files(&env), before);
    assert!(env.has_session("w1"));
}

#[test]
fn handoff_names_the_private_server() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    let o = env.run("csd", ["--worker", "w1", "handoff"]);
    assert_code(&o, 0);
    let attach = format!("tmux -S {} attach -t =w1", env.socket_path().display());
    assert!(stdout(&o).contains(&attach), "{}", stdout(&o));
    env.tmux_ok(["kill-session", "-t", "=w1"]);
    assert_code(&env.run("csd", ["--worker", "w1", "handoff"]), 4);
}

#[test]
fn prune_removes_gone_workers_and_orphans_only() {
    let env = TestEnv::new();
    polite_worker(&env, "alive", "sid-alive");
    env.fake_worker("dead", "sid-dead", &[]);
    let dir = csd::workerdir::WorkerDir::at(env.worker_dir.clone()).unwrap();
    dir.write_shim("dead", &bin("csd")).unwrap();
    dir.write_shim("orphan", &bin("csd")).unwrap();
    std::fs::write(env.worker_dir.join("pending.harness"), "codex").unwrap();
    env.tmux_ok(["new-session", "-d", "-s", "pending", "--", "sleep", "600"]);
    let o = env.run("csd", ["prune"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("dead") && stdout(&o).contains("orphan"), "{}", stdout(&o));
    assert_eq!(files(&env), ["bin/alive", "homes", "pending.harness", "sid-alive.meta"]);
    assert!(env.worker_dir.join("homes/alive").is_dir());
    let o = env.run("csd", ["prune"]);
    assert_eq!(stderr(&o).trim(), "Nothing to prune");
}
