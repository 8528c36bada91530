//! Fault injection (issue 7): what a demanding user or an attacker does to
//! csd, through the real binaries on a private tmux server with the scripted
//! fake Claude Code. Each test reproduces a way csd used to harm a live
//! worker, touch a file it does not own, hang, or leave debris, and proves
//! it no longer does. (FIFOs, long lines, zombies and the Codex settle race
//! are in tests/faults_logs.rs.)

mod common;

use common::world::World;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ID: &str = "0f0f0f0f-1111-4222-8333-444455556666";

/// A PATH with nothing but python3 (the fake harness's interpreter) on it:
/// tmux cannot be found.
fn path_without_tmux(env: &TestEnv) -> PathBuf {
    let dir = env.path().join("no-tmux-bin");
    std::fs::create_dir_all(&dir).unwrap();
    let py = which("python3");
    let _ = std::os::unix::fs::symlink(py, dir.join("python3"));
    dir
}

fn which(prog: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path).map(|d| d.join(prog)).find(|p| p.is_file()).expect(prog)
}

/// Run with stdout a pipe whose reader has already gone.
fn with_broken_stdout(mut c: Command) -> Output {
    let (r, w) = nix::unistd::pipe().unwrap();
    drop(r);
    c.stdout(Stdio::from(w)).stderr(Stdio::piped()).output().unwrap()
}

#[track_caller]
fn assert_quiet_success(o: &Output, what: &str) {
    assert_eq!(o.status.code(), Some(0), "{what}: status {:?}, stderr: {}", o.status, stderr(o));
    assert!(o.stderr.is_empty(), "{what}: stderr: {}", stderr(o));
}

/// A registered worker as a hand-written meta, stamped `id`, with no session.
fn stale_meta(env: &TestEnv, name: &str, sid: &str, id: &str) {
    let meta = serde_json::json!({
        "tmux_name": name, "session_id": sid, "cwd": env.path(), "harness": "claude",
        "tmux_socket": env.socket_path(), "csd_id": id,
    });
    std::fs::write(env.worker_dir.join(format!("{sid}.meta")), meta.to_string()).unwrap();
}

// ---- 1. tmux that cannot be reached is never "gone" ----

#[test]
fn tmux_off_path_is_an_error_and_the_worker_is_left_running() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    // A worker with no pane mark (as v4 or an older csd launched it): only tmux can tell.
    w.env.fake_worker("w2", "sid-2", &["sleep", "600"]);
    let no_tmux = path_without_tmux(&w.env);
    let before = files_under(&w.env.worker_dir);
    let run = |bin: &str, args: &[&str]| w.cmd(bin).args(args).env("PATH", &no_tmux).output().unwrap();

    let o = run("csd-stop", &["w1"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("tmux is not installed"), "{}", stderr(&o));
    let o = run("csd-stop", &["--prune"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("left w2 alone"), "{}", stderr(&o));
    let o = run("csd-status", &["--list"]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("unknown\tclaude\tw2"), "{}", stdout(&o));
    let o = run("csd-send", &["w1", "hello"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("tmux is not installed"), "{}", stderr(&o));
    // status may still answer: the pane mark proves the worker runs.
    let o = run("csd-status", &["w1"]);
    assert_eq!(stdout(&o).trim(), "idle", "{}", stderr(&o));

    assert!(w.env.has_session("w1") && w.env.has_session("w2"), "the workers must still run");
    // list may leave its counts (`<sid>.tally`, a cache it rebuilds at will)
    // and send its lock file (`<name>.send.lock`, empty), never touch a
    // worker's state.
    let state: Vec<_> = files_under(&w.env.worker_dir)
        .into_iter()
        .filter(|f| f.extension().is_none_or(|e| e != "tally" && e != "lock"))
        .collect();
    assert_eq!(state, before, "nothing may change");
    assert_eq!(w.sid("w1"), sid);
}

#[test]
fn a_different_tmux_tmpdir_still_finds_the_worker() {
    let w = World::new();
    w.up("w1", &[]);
    let other = w.env.path().join("other-tmux-dir");
    std::fs::create_dir(&other).unwrap();
    let run = |bin: &str, args: &[&str]| w.cmd(bin).args(args).env("TMUX_TMPDIR", &other).output().unwrap();

    let o = run("csd-stop", &["--prune"]);
    assert_code(&o, 0);
    assert!(w.env.has_session("w1"));
    assert_eq!(stdout(&run("csd-status", &["w1"])).trim(), "idle");
    // The handoff line names the socket by its full path: it works from this shell too.
    let o = run("csd-stop", &["--handoff", "w1"]);
    assert_code(&o, 0);
    let attach = format!("tmux -S {} attach -t =w1", w.env.socket_path().display());
    assert!(stdout(&o).contains(&attach), "{}", stdout(&o));
    let o = run("csd-stop", &["w1"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("stopped."), "{}", stdout(&o));
    assert!(!stdout(&o).contains("already gone"), "{}", stdout(&o));
    assert!(!w.env.has_session("w1"), "stop must really stop it");
}

/// tmux makes its per-user socket dir for -L, not for -S (which csd always
/// uses): a first worker under a fresh TMUX_TMPDIR (as an ssh session's may
/// be) found no dir to bind its server's socket in.
#[test]
fn a_first_worker_under_a_fresh_tmux_tmpdir_starts() {
    let w = World::new();
    let fresh = w.env.path().join("fresh-tmux-dir");
    std::fs::create_dir(&fresh).unwrap();
    let o = w.cmd("csd-launch").arg("w1").arg(&w.proj).env("TMUX_TMPDIR", &fresh).output().unwrap();
    assert_code(&o, 0);
    let dir = fresh.join(format!("tmux-{}", nix::unistd::getuid()));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
    let o = w.cmd("csd-stop").arg("w1").env("TMUX_TMPDIR", &fresh).output().unwrap();
    assert_code(&o, 0);
    let _ = Command::new("tmux").arg("-S").arg(dir.join(&w.env.socket)).arg("kill-server").status();
}

#[test]
fn a_pending_worker_on_its_recorded_server_survives_prune() {
    let env = TestEnv::new();
    // What launch leaves for a Codex/Pi worker before it registers.
    let marker = serde_json::json!({"harness": "codex", "tmux_socket": env.socket_path(), "csd_id": ID});
    std::fs::write(env.worker_dir.join("p1.harness"), marker.to_string()).unwrap();
    env.tmux_ok(["new-session", "-d", "-s", "p1", "sleep", "600", ";", "set-option", "-t", "=p1:", "@csd_id", ID]);
    let other = env.path().join("elsewhere");
    std::fs::create_dir(&other).unwrap();
    let o =
        env.cmd("csd-stop").arg("--prune").env("TMUX_TMPDIR", &other).env_remove("CSD_TMUX_SOCKET").output().unwrap();
    assert_code(&o, 0);
    assert!(env.worker_dir.join("p1.harness").exists());
    assert!(env.has_session("p1"));
    // status and list agree on what a pending worker is.
    assert_eq!(stdout(&env.run("csd-status", ["p1"])).trim(), "idle");
    let list = stdout(&env.run("csd-status", ["--list"]));
    assert!(list.lines().any(|l| l.starts_with("idle\tcodex\tp1\t-\t")), "{list}");
}

// ---- 2. nothing read from disk is a path ----

#[test]
fn hostile_metas_are_skipped_never_acted_on() {
    let env = TestEnv::new();
    // prune used to remove <dir>/homes/<tmux_name>: here a directory outside.
    let victim_dir = env.path().join("victim");
    std::fs::create_dir(&victim_dir).unwrap();
    std::fs::write(victim_dir.join("keep"), "mine").unwrap();
    let meta = serde_json::json!({"tmux_name": "x/../../../victim", "session_id": "sid-h", "harness": "claude"});
    std::fs::write(env.worker_dir.join("sid-h.meta"), meta.to_string()).unwrap();
    // A session id that climbs out: events read from, stop deleting, files outside.
    std::fs::write(env.path().join("victim.events.jsonl"), "{\"event\":\"stop\",\"ts\":\"secret\"}\n").unwrap();
    let meta = serde_json::json!({"tmux_name": "w2", "session_id": "../victim", "harness": "claude"});
    std::fs::write(env.worker_dir.join("sid-e.meta"), meta.to_string()).unwrap();
    // A shim whose worker might be one of those metas is not debris to sweep.
    let dir = csd::workerdir::WorkerDir::at(env.worker_dir.clone()).unwrap();
    dir.ensure().unwrap();
    dir.write_shim("w2", &bin("csd")).unwrap();

    let o = env.run("csd", ["prune"]);
    assert_code(&o, 0);
    assert!(env.worker_dir.join("bin/w2").exists());
    assert!(stderr(&o).contains("sid-h.meta"), "{}", stderr(&o));
    assert!(stderr(&o).contains("sid-e.meta"), "{}", stderr(&o));
    let o = env.run("csd-events", ["w2"]);
    assert_code(&o, 3);
    assert!(!stdout(&o).contains("secret"));
    assert!(stderr(&o).contains("sid-e.meta"), "the skipped meta is named: {}", stderr(&o));
    assert_code(&env.run("csd-stop", ["w2"]), 3);
    assert_code(&env.run("csd-events", ["../victim"]), 2);

    assert!(victim_dir.join("keep").exists(), "prune removed a directory outside the worker dir");
    assert!(env.path().join("victim.events.jsonl").exists(), "a file outside the worker dir was removed");
    // Nor are they removed: they are not proven ours to remove.
    assert!(env.worker_dir.join("sid-h.meta").exists() && env.worker_dir.join("sid-e.meta").exists());
}

// ---- 3. a worker dir others can write to is refused ----

#[test]
fn a_group_or_world_writable_or_linked_worker_dir_is_refused() {
    let w = World::new();
    for mode in [0o777, 0o770, 0o702] {
        std::fs::set_permissions(&w.env.worker_dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let o = w.env.run("csd-status", ["--list"]);
        assert_code(&o, 1);
        assert!(stderr(&o).contains("writable by"), "{mode:o}: {}", stderr(&o));
    }
    std::fs::set_permissions(&w.env.worker_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A subdir of it too.
    std::fs::create_dir(w.env.worker_dir.join("bin")).unwrap();
    std::fs::set_permissions(w.env.worker_dir.join("bin"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let o = w.launch("w1", &[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("bin is writable by everyone"), "{}", stderr(&o));
    assert!(!w.env.has_session("w1"));

    // A symlink, with or without a trailing slash.
    let link = w.env.path().join("link");
    std::os::unix::fs::symlink(&w.env.worker_dir, &link).unwrap();
    for dir in [link.to_str().unwrap().to_string(), format!("{}/", link.display()), format!("{}//", link.display())] {
        let o = w.env.cmd("csd-status").arg("--list").env("CSD_WORKER_DIR", &dir).output().unwrap();
        assert_code(&o, 1);
        assert!(stderr(&o).contains("symlink"), "{dir}: {}", stderr(&o));
    }
}

/// A second local user, created for the test and removed after it.
struct OtherUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl OtherUser {
    fn new() -> OtherUser {
        let name = format!("csdf{}", std::process::id() % 100000);
        let st = Command::new("useradd").args(["-M", "-r", "-s", "/usr/sbin/nologin", &name]).status();
        assert!(st.is_ok_and(|s| s.success()), "useradd failed: the fault tests need root and useradd (passwd)");
        let user = nix::unistd::User::from_name(&name).unwrap().unwrap();
        OtherUser { name, uid: user.uid.as_raw(), gid: user.gid.as_raw() }
    }

    /// `argv` run as this user (no shell).
    fn run(&self, argv: &[&str]) -> Output {
        Command::new("setpriv")
            .args(["--reuid", &self.uid.to_string(), "--regid", &self.gid.to_string(), "--clear-groups", "--"])
            .args(argv)
            .output()
            .unwrap()
    }
}

impl Drop for OtherUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (makes a second user (useradd): root): make test")]
fn another_user_cannot_plant_a_meta_or_lend_a_dir() {
    let env = TestEnv::new();
    let other = OtherUser::new();
    let victim = env.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), "root's").unwrap();
    std::fs::set_permissions(env.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    // A shared, world-writable dir: the other user plants a meta pointing prune at root's files.
    std::fs::set_permissions(&env.worker_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let planted = env.path().join("planted.meta");
    let meta = serde_json::json!({"tmux_name": "x/../../../victim", "session_id": "sid-p", "harness": "claude"});
    std::fs::write(&planted, meta.to_string()).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o644)).unwrap();
    let dest = env.worker_dir.join("sid-p.meta");
    let o = other.run(&["cp", planted.to_str().unwrap(), dest.to_str().unwrap()]);
    assert!(o.status.success(), "the other user could not write: {}", stderr(&o));
    let o = env.run("csd", ["prune"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("writable by everyone"), "{}", stderr(&o));
    assert!(victim.join("keep").exists());

    // A dir that belongs to the other user is not ours to use.
    std::fs::set_permissions(&env.worker_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    nix::unistd::chown(&env.worker_dir, Some(other.uid.into()), Some(other.gid.into())).unwrap();
    let o = env.run("csd", ["prune"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains(&format!("owned by uid {}", other.uid)), "{}", stderr(&o));
    assert!(victim.join("keep").exists());
    nix::unistd::chown(&env.worker_dir, Some(0.into()), Some(0.into())).unwrap();

    // Root's own 0700 dir keeps the other user out.
    let o = other.run(&["cp", planted.to_str().unwrap(), env.worker_dir.join("sid-q.meta").to_str().unwrap()]);
    assert!(!o.status.success());
}

// ---- 4. one name, one worker ----

#[test]
fn a_gone_workers_name_never_captures_another_session() {
    let env = TestEnv::new();
    // `a.b` is tmux's `a_b`: a stale meta for a.b, and somebody's own session a_b.
    stale_meta(&env, "a.b", "sid-ab", ID);
    env.tmux_ok(["new-session", "-d", "-s", "a_b", "sleep", "600"]);
    // And a stale stamped meta w1, with somebody's own w1 on the same server.
    stale_meta(&env, "w1", "sid-w1", "1e1e1e1e-2222-4333-8444-555566667777");
    env.tmux_ok(["new-session", "-d", "-s", "w1", "sleep", "600"]);

    assert_eq!(stdout(&env.run("csd-status", ["a.b"])).trim(), "gone");
    assert_eq!(stdout(&env.run("csd-status", ["w1"])).trim(), "gone");
    assert_code(&env.run("csd-stop", ["--handoff", "w1"]), 4);
    for name in ["a.b", "w1"] {
        let o = env.run("csd-stop", [name]);
        assert_code(&o, 0);
        assert!(stdout(&o).contains("already gone"), "{}", stdout(&o));
    }
    assert!(env.has_session("a_b"), "stop killed somebody's session a_b");
    assert!(env.has_session("w1"), "stop killed somebody's session w1");
}

#[test]
fn names_tmux_maps_to_one_session_are_one_name() {
    let w = World::new();
    w.up("a.b", &[]);
    let o = w.launch("a_b", &[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("a worker named 'a.b' is running"), "{}", stderr(&o));
    assert_eq!(w.metas().len(), 1);
    assert_code(&w.send(&["--converse", "a.b", "still mine?"]), 0);
}

#[test]
fn adopt_under_a_dead_workers_name_leaves_one_meta_and_resolution_never_guesses() {
    let w = World::new();
    let old = w.up("w1", &[]);
    let other = w.up("w2", &[]);
    assert_code(&w.send(&["--converse", "w2", "keep this session"]), 0);
    for name in ["w1", "w2"] {
        w.env.tmux_ok(["kill-session", "-t", &format!("={name}")]);
    }
    let o = w.cmd("csd-launch").args(["--adopt", "w1", w.proj.to_str().unwrap(), &other]).output().unwrap();
    assert_code(&o, 0);
    let named: Vec<_> = w.metas().into_iter().filter(|m| m["tmux_name"] == "w1").collect();
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(named[0]["session_id"], other.as_str());
    assert!(!w.env.worker_dir.join(format!("{old}.meta")).exists());

    // Two metas under one name (as an older csd could leave): never a guess.
    stale_meta(&w.env, "w3", "sid-3a", ID);
    stale_meta(&w.env, "w3", "sid-3b", "2e2e2e2e-2222-4333-8444-555566667777");
    let o = w.env.run("csd-status", ["w3"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("sid-3a") && stderr(&o).contains("sid-3b"), "{}", stderr(&o));
    // One of them running: that one.
    w.env.tmux_ok(["new-session", "-d", "-s", "w3", "sleep", "600", ";", "set-option", "-t", "=w3:", "@csd_id", ID]);
    let o = w.env.run("csd-status", ["--session-id", "w3"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "sid-3a");
}

// ---- 5. broken pipes ----

#[test]
fn every_output_path_ends_quietly_on_a_broken_pipe() {
    let w = World::new();
    let bins = ["csd", "csd-launch", "csd-send", "csd-wait", "csd-events", "csd-turn", "csd-status", "csd-stop"];
    for b in bins {
        for flag in ["--version", "--help"] {
            assert_quiet_success(
                &with_broken_stdout({
                    let mut c = w.cmd(b);
                    c.arg(flag);
                    c
                }),
                &format!("{b} {flag}"),
            );
        }
    }
    for args in [&["help"][..], &["--help"]] {
        assert_quiet_success(
            &with_broken_stdout({
                let mut c = w.cmd("csd");
                c.args(args);
                c
            }),
            &format!("csd {args:?}"),
        );
    }
    assert_quiet_success(
        &with_broken_stdout({
            let mut c = w.cmd("csd-hook");
            c.arg("--help");
            c
        }),
        "csd-hook --help",
    );

    // launch's shim line: the panel still goes to stderr; no panic, exit 0, a working worker.
    let o = with_broken_stdout({
        let mut c = w.cmd("csd-launch");
        c.arg("w1").arg(&w.proj);
        c
    });
    assert_code(&o, 0);
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_code(&w.send(&["--converse", "w1", "tool please"]), 0);
    let sid = w.sid("w1");
    let per_worker: Vec<(&str, Vec<&str>)> = vec![
        ("csd-status", vec!["w1"]),
        ("csd-status", vec!["--json", "w1"]),
        ("csd-status", vec!["--session-id", "w1"]),
        ("csd-status", vec!["--list"]),
        ("csd-status", vec!["--list", "--json"]),
        ("csd-events", vec!["w1"]),
        ("csd-events", vec!["--last", "2", "w1"]),
        ("csd-events", vec!["--path", "w1"]),
        ("csd-events", vec!["--follow", "w1"]),
        ("csd-turn", vec!["w1"]),
        ("csd-turn", vec!["--path", "w1"]),
        ("csd-wait", vec!["w1", "5", "--after-line", "0"]),
        ("csd-send", vec!["--converse", "w1", "again"]),
        ("csd-stop", vec!["--handoff", "w1"]),
        ("csd", vec!["list"]),
    ];
    for (bin, args) in per_worker {
        let o = with_broken_stdout({
            let mut c = w.cmd(bin);
            c.args(&args);
            c
        });
        assert_quiet_success(&o, &format!("{bin} {args:?}"));
    }
    let o = with_broken_stdout({
        let mut c = w.cmd("csd-stop");
        c.arg("w1");
        c
    });
    assert_quiet_success(&o, "csd-stop w1");
    assert!(!w.env.has_session("w1"));
    assert!(!w.env.worker_dir.join(format!("{sid}.meta")).exists());
    stale_meta(&w.env, "w9", "sid-9", ID);
    let o = with_broken_stdout({
        let mut c = w.cmd("csd-stop");
        c.arg("--prune");
        c
    });
    assert_quiet_success(&o, "csd-stop --prune");
}

// ---- 8. signals ----

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    assert!(eventually(timeout, || f().then_some(())).is_some(), "timed out waiting for {what}");
}

#[test]
fn a_signal_mid_launch_undoes_the_launch() {
    for sig in [nix::sys::signal::Signal::SIGINT, nix::sys::signal::Signal::SIGTERM, nix::sys::signal::Signal::SIGHUP] {
        let w = World::new();
        // The fake never reports session_start: launch sits waiting for it.
        let mut child = w
            .cmd("csd-launch")
            .arg("w1")
            .arg(&w.proj)
            .args(["--", "--fake-no-start"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the pane", Duration::from_secs(10), || w.env.has_session("w1"));
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        let started = Instant::now();
        let status = child.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5), "{sig}: took {:?}", started.elapsed());
        assert_eq!(status.signal(), Some(sig as i32), "{sig}: {status:?}");
        assert!(!w.env.has_session("w1"), "{sig}: the half-started session was left");
        w.assert_no_worker_state();
        // The name is free again.
        w.up("w1", &[]);
    }
}

#[test]
fn a_signal_between_paste_and_enter_leaves_no_half_sent_prompt() {
    let w = World::new();
    let rec = w.record();
    // The first Enters after a paste are swallowed: send keeps pressing.
    w.up("w1", &["--fake-swallow-enters", "3", "--fake-record", rec.to_str().unwrap()]);
    let mut child = w.cmd("csd-send").args(["w1", "first prompt"]).stderr(Stdio::piped()).spawn().unwrap();
    wait_for("the paste", Duration::from_secs(10), || w.env.pane("w1").contains("[Pasted text"));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(nix::sys::signal::Signal::SIGINT as i32), "{status:?}");
    assert_eq!(w.recorded(), ["first prompt"], "the prompt went in whole, once");
    let o = w.send(&["--converse", "w1", "second prompt"]);
    assert_code(&o, 0);
    assert_eq!(w.recorded(), ["first prompt", "second prompt"], "nothing was left in the input");
}

#[test]
fn follow_ends_when_the_worker_dies_without_stop() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    env.hook(&serde_json::json!({"session_id": "sid-1", "hook_event_name": "SessionStart", "cwd": "/"}));
    let mut child =
        env.cmd("csd-events").args(["--follow", "w1"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    env.tmux_ok(["kill-session", "-t", "=w1"]);
    let started = Instant::now();
    let o = loop {
        if let Some(_st) = child.try_wait().unwrap() {
            break child.wait_with_output().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(6), "--follow did not end when the session died");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_code(&o, 4);
    assert!(stdout(&o).contains("session_start"));
}

#[test]
fn follow_ends_quietly_when_the_worker_is_stopped() {
    let w = World::new();
    w.up("w1", &[]);
    let child =
        w.env.cmd("csd-events").args(["--follow", "w1"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_code(&w.env.run("csd-stop", ["w1"]), 0);
    let o = child.wait_with_output().unwrap();
    assert_code(&o, 0);
    assert!(stdout(&o).contains("session_end"), "{}", stdout(&o));
}

// ---- 11. the smaller items ----

#[test]
fn converse_with_paste_markers_succeeds_and_a_stop_under_it_is_gone() {
    let w = World::new();
    w.up("w1", &[]);
    let o = w.send(&["--converse", "w1", "say\x1b[201~ hi\x1b[200~"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: say hi\n");

    let child = w
        .cmd("csd-send")
        .args(["--converse", "w1", "hang", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sid = w.sid("w1");
    wait_for("the turn", Duration::from_secs(10), || w.events(&sid).last().is_some_and(|e| e == "user_prompt_submit"));
    assert_code(&w.env.run("csd-stop", ["w1"]), 0);
    let o = child.wait_with_output().unwrap();
    assert_code(&o, 4);
}

#[test]
fn two_concurrent_stops_never_fail() {
    let w = World::new();
    w.up("w1", &[]);
    let kids: Vec<_> = (0..2)
        .map(|_| w.env.cmd("csd-stop").arg("w1").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    let outs: Vec<Output> = kids.into_iter().map(|k| k.wait_with_output().unwrap()).collect();
    for o in &outs {
        assert!(matches!(o.status.code(), Some(0) | Some(3)), "{:?}: {}", o.status, stderr(o));
    }
    assert!(outs.iter().any(|o| o.status.code() == Some(0)));
    assert!(!w.env.has_session("w1"));
    w.assert_no_worker_state();
}

#[test]
fn a_missing_harness_binary_or_old_tmux_is_named() {
    let w = World::new();
    let o = w.cmd("csd-launch").arg("w1").arg(&w.proj).env("CSD_CLAUDE_BIN", "/nonexistent/claude").output().unwrap();
    assert_code(&o, 1);
    assert!(
        stderr(&o).contains("/nonexistent/claude not found") && stderr(&o).contains("CSD_CLAUDE_BIN"),
        "{}",
        stderr(&o)
    );
    let o = w
        .cmd("csd-launch")
        .arg("w1")
        .arg(&w.proj)
        .env_remove("CSD_CLAUDE_BIN")
        .env("PATH", path_without_tmux(&w.env))
        .output()
        .unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("tmux is not installed"), "{}", stderr(&o));

    // A tmux older than 3.2.
    let bin = w.env.path().join("old-tmux");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("tmux"), "#!/bin/sh\necho 'tmux 3.1c'\n").unwrap();
    std::fs::set_permissions(bin.join("tmux"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let o = w.cmd("csd-launch").arg("w1").arg(&w.proj).env("PATH", path).output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("tmux 3.1c is too old"), "{}", stderr(&o));
    w.assert_no_worker_state();
}

#[test]
fn a_second_worker_flag_is_refused() {
    let env = TestEnv::new();
    let o = env.run("csd", ["--worker", "a", "--worker", "b", "status"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("--worker given twice"), "{}", stderr(&o));
    let shim = env.worker_dir.join("bin/a");
    let dir = csd::workerdir::WorkerDir::at(env.worker_dir.clone()).unwrap();
    dir.ensure().unwrap();
    dir.write_shim("a", &bin("csd")).unwrap();
    let o = Command::new(&shim)
        .args(["--worker", "b", "status"])
        .envs([("CSD_WORKER_DIR", &env.worker_dir)])
        .output()
        .unwrap();
    assert_code(&o, 2);
    assert!(Path::new(&shim).exists());
}
