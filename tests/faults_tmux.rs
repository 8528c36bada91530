//! Fault injection against tmux itself and what a worker leaves running
//! (issue 17, items 8, 10 and 11): a stopped tmux server, a socket file a
//! /tmp cleaner removed, a worker already gone, and processes a worker
//! started that outlive its stop. Real binaries, a private tmux server, the
//! scripted fake Claude Code.

mod common;

use common::world::World;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run `c` to its end, failing the test if it takes longer than `bound`
/// (the child is killed then, so a hang on main fails rather than hangs).
#[track_caller]
fn within(bound: Duration, c: &mut Command) -> Output {
    let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let (o, took) = finish(child, bound);
    assert!(took <= bound, "took {took:?}, more than {bound:?}\nstdout: {}\nstderr: {}", stdout(&o), stderr(&o));
    o
}

/// Wait for `child` up to `bound` (then kill it); its output and how long it took.
fn finish(mut child: Child, bound: Duration) -> (Output, Duration) {
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > bound {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed();
    (child.wait_with_output().unwrap(), took)
}

/// The pid of the world's tmux server.
fn server_pid(env: &TestEnv) -> i32 {
    env.tmux_ok(["display-message", "-p", "#{pid}"]).trim().parse().unwrap()
}

/// A stopped tmux server, continued again when the test ends however it
/// ends (a stopped server would hang the world's own clean-up).
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Stopped {
        kill(Pid::from_raw(pid), Signal::SIGSTOP).unwrap();
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGCONT);
    }
}

/// Every process's pid and argv.
fn processes() -> Vec<(i32, Vec<String>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else { continue };
        let argv: Vec<String> =
            raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        if !argv.is_empty() && pid_alive(pid) {
            out.push((pid, argv));
        }
    }
    out
}

/// tmux clients still talking to the world's server (the server aside).
fn tmux_clients(env: &TestEnv, server: i32) -> Vec<(i32, Vec<String>)> {
    let socket = env.socket_path().display().to_string();
    processes()
        .into_iter()
        .filter(|(pid, argv)| *pid != server && argv[0].ends_with("tmux") && argv.iter().any(|a| a == &socket))
        .collect()
}

/// The pids of processes whose argv is exactly `argv`.
fn pids_of(argv: &[&str]) -> Vec<i32> {
    processes().into_iter().filter(|(_, a)| a == argv).map(|(p, _)| p).collect()
}

// ---- 8. a hung tmux server ----

#[test]
fn a_hung_tmux_server_is_named_never_waited_on_forever() {
    let w = World::new();
    w.up("w1", &[]);
    let server = server_pid(&w.env);
    let socket = w.env.socket_path().display().to_string();
    let hung = |secs: &str| format!("tmux server at {socket} did not answer within {secs}s");
    let bound = Duration::from_secs(4);
    let cmd = |bin: &str, args: &[&str]| {
        let mut c = w.cmd(bin);
        c.args(args).env("CSD_TMUX_TIMEOUT_MS", "1000");
        c
    };
    let paused = Stopped::new(server);

    // What the pane mark answers needs no tmux.
    let o = within(bound, &mut cmd("csd-status", &["w1"]));
    assert_eq!((o.status.code(), stdout(&o).trim()), (Some(0), "idle"), "{}", stderr(&o));
    let o = within(bound, &mut cmd("csd", &["list"]));
    assert_code(&o, 0);
    let o = within(bound, &mut cmd("csd-wait", &["w1", "1"]));
    assert_code(&o, 124);

    // What needs tmux says which server did not answer, and gives up.
    for (what, o) in [
        ("send", within(bound, &mut cmd("csd-send", &["w1", "hello"]))),
        ("launch", within(bound, &mut cmd("csd-launch", &["w2", w.proj.to_str().unwrap()]))),
        ("stop", within(bound, &mut cmd("csd-stop", &["w1"]))),
    ] {
        assert_code(&o, 1);
        assert!(stderr(&o).contains(&hung("1")), "{what}: {}", stderr(&o));
        assert!(!stderr(&o).contains("gone"), "{what}: a hung server is not a gone worker: {}", stderr(&o));
    }
    // A converse's own timeout bounds each tmux call (the default is 5 s).
    let o = within(Duration::from_secs(3), w.cmd("csd-send").args(["--converse", "w1", "hello", "1"]));
    assert_code(&o, 1);
    assert!(stderr(&o).contains(&hung("1")), "{}", stderr(&o));
    assert!(w.metas().iter().any(|m| m["tmux_name"] == "w1"), "a failed stop removed the worker's state");
    assert!(!w.metas().iter().any(|m| m["tmux_name"] == "w2"), "a failed launch left its meta");

    // SIGTERM ends a command stuck on tmux at once (default tmux timeout, 5 s).
    for (what, args) in [("csd-send", vec!["w1", "hello"]), ("csd-launch", vec!["w3", w.proj.to_str().unwrap()])] {
        let child = w.cmd(what).args(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
        let (o, took) = finish(child, Duration::from_secs(4));
        assert!(took < Duration::from_millis(2500), "{what} took {took:?} to honour SIGTERM: {}", stderr(&o));
        assert_eq!(o.status.signal(), Some(Signal::SIGTERM as i32), "{what}: {:?} {}", o.status, stderr(&o));
    }
    assert_eq!(tmux_clients(&w.env, server), vec![], "tmux clients left behind");

    // The server comes back: everything works as before.
    drop(paused);
    let o = within(Duration::from_secs(20), w.cmd("csd-send").args(["--converse", "w1", "hello", "15"]));
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: hello\n");
    assert_eq!(stdout(&w.env.run("csd-status", ["w1"])).trim(), "idle");
    w.up("w2", &[]);
    for name in ["w1", "w2"] {
        assert_code(&w.cmd("csd-stop").arg(name).output().unwrap(), 0);
    }
    assert!(!w.env.has_session("w3"), "the launch SIGTERM ended left its session");
    w.assert_no_worker_state();
    assert_eq!(tmux_clients(&w.env, server), vec![], "tmux clients left behind");
}

// ---- 10. a removed socket file, a worker already gone ----

#[test]
fn a_removed_socket_file_is_not_a_dead_worker() {
    let w = World::new();
    w.up("w1", &[]);
    let server = server_pid(&w.env);
    std::fs::remove_file(w.env.socket_path()).unwrap();

    assert_eq!(stdout(&w.env.run("csd-status", ["w1"])).trim(), "idle");
    let started = Instant::now();
    let o = within(Duration::from_secs(6), w.env.cmd("csd-wait").args(["w1", "3"]));
    assert_code(&o, 124);
    assert!(started.elapsed() >= Duration::from_secs(3), "{:?}", started.elapsed());
    let mut follow =
        w.env.cmd("csd-events").args(["--follow", "w1"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let ended = follow.try_wait().unwrap();
    let _ = follow.kill();
    let o = follow.wait_with_output().unwrap();
    assert!(ended.is_none(), "--follow ended ({ended:?}) though the worker runs: {}", stderr(&o));

    // tmux makes its socket again on SIGUSR1: the worker can be stopped.
    kill(Pid::from_raw(server), Signal::SIGUSR1).unwrap();
    assert!(eventually(Duration::from_secs(5), || w.env.socket_path().exists().then_some(())).is_some());
    assert_code(&w.cmd("csd-stop").arg("w1").output().unwrap(), 0);
}

#[test]
fn a_wait_on_a_worker_already_gone_is_gone_at_once() {
    let w = World::new();
    w.up("w1", &[]);
    // A worker whose session died under it (its pane mark is stale)...
    w.env.tmux_ok(["kill-session", "-t", "=w1"]);
    // ...and one whose session never was there for this server to show.
    let meta = serde_json::json!({
        "tmux_name": "w2", "session_id": "sid-2", "cwd": w.env.path(), "harness": "claude",
        "tmux_socket": w.env.socket_path(), "csd_id": "0f0f0f0f-1111-4222-8333-444455556666",
    });
    std::fs::write(w.env.worker_dir.join("sid-2.meta"), meta.to_string()).unwrap();
    std::fs::write(w.env.events_path("sid-2"), "{\"event\":\"session_start\",\"ts\":\"2026-01-01T00:00:00Z\"}\n")
        .unwrap();
    for name in ["w1", "w2"] {
        for timeout in ["1", "2", "30"] {
            let o = within(Duration::from_millis(1500), w.env.cmd("csd-wait").args([name, timeout]));
            assert_code(&o, 4);
            assert!(stderr(&o).contains("gone"), "{name} {timeout}: {}", stderr(&o));
        }
        let o = within(Duration::from_millis(1500), w.env.cmd("csd-events").args(["--follow", name]));
        assert_code(&o, 4);
    }
}

// ---- 11. what a worker started ends with it ----

#[test]
fn stop_ends_what_the_worker_started_and_nothing_else() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    w.up("w2", &[]);
    // Distinct argvs, to find each process again.
    let nohup = ["sleep", "1001.17"];
    let daemon = ["sleep", "1002.17"];
    let nested = ["sleep", "1003.17"];
    let others = ["sleep", "1004.17"];
    let converse = |name: &str, prompt: &str| {
        let o = w.send(&["--converse", name, prompt, "20"]);
        assert_code(&o, 0);
    };
    // In the pane's session; in a session of its own, parent 1; below a
    // daemonised shell; and one in another worker.
    converse("w1", "bash: nohup sleep 1001.17 >/dev/null 2>&1 &");
    converse("w1", "bash: setsid nohup sleep 1002.17 >/dev/null 2>&1 &");
    converse("w1", "bash: setsid sh -c 'sleep 1003.17; true' >/dev/null 2>&1 &");
    converse("w2", "bash: nohup sleep 1004.17 >/dev/null 2>&1 &");
    // Bystanders: one carrying w1's worker id but started by us, not by the
    // worker; one whose pid a hostile meta puts in w1's pane mark.
    let meta_path = w.env.worker_dir.join(format!("{sid}.meta"));
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    let id = meta["csd_id"].as_str().unwrap().to_string();
    let mut carrier = Command::new("sleep").arg("1005.17").env("CSD_WORKER_ID", &id).spawn().unwrap();
    let mut marked = Command::new("sleep").arg("1006.17").spawn().unwrap();
    let _reap = KillOnDrop(Some(carrier.id() as i32));
    let _reap2 = KillOnDrop(Some(marked.id() as i32));
    meta["pane"]["pid"] = serde_json::json!(marked.id());
    std::fs::write(&meta_path, meta.to_string()).unwrap();

    let found = |argv: &[&str]| {
        let p = pids_of(argv);
        assert_eq!(p.len(), 1, "{argv:?}: {p:?}");
        p[0]
    };
    let (a, b, c, d) = (found(&nohup), found(&daemon), found(&nested), found(&others));
    let _cleanup: Vec<KillOnDrop> = [a, b, c, d].iter().map(|p| KillOnDrop(Some(*p))).collect();
    let o = within(Duration::from_secs(15), w.env.cmd("csd-stop").arg("w1"));
    assert_code(&o, 0);
    assert!(stdout(&o).contains("stopped"), "{}", stdout(&o));
    // The nohup'd sleep, the daemonised one, and the daemonised shell with its sleep.
    assert!(stderr(&o).contains("csd-stop: ended 4 processes worker 'w1' had started: "), "{}", stderr(&o));
    for (what, pid) in [("nohup", a), ("setsid nohup", b), ("below a daemon", c)] {
        assert!(
            eventually(Duration::from_secs(2), || (!pid_alive(pid)).then_some(())).is_some(),
            "{what} (pid {pid}) outlived the stop: {}",
            stderr(&o)
        );
        assert!(stderr(&o).contains(&pid.to_string()), "stop does not say it ended {pid}: {}", stderr(&o));
    }
    assert!(pid_alive(d), "stop ended another worker's process");
    assert!(carrier.try_wait().unwrap().is_none(), "stop ended a process it did not prove the worker's");
    assert!(marked.try_wait().unwrap().is_none(), "a hostile pane mark steered the stop");
    assert_eq!(stdout(&w.env.run("csd-status", ["w2"])).trim(), "idle");
    assert_code(&w.env.run("csd-stop", ["w2"]), 0);
    assert!(eventually(Duration::from_secs(2), || (!pid_alive(d)).then_some(())).is_some());
}

/// A controller worker launches a sub-worker from its pane on a tmux server
/// of its own: that server carries the controller's CSD_WORKER_ID (tmux
/// keeps the environment it started with), parent 1. Stopping the
/// controller must end neither the server nor the sub-worker below it.
#[test]
fn stop_spares_a_tmux_server_the_worker_started_and_the_workers_below_it() {
    let w = World::new();
    w.up("boss", &[]);
    let socket = w.env.path().join("sub.sock");
    let _server = KillServer(socket.clone());
    let prompt = format!(
        "bash: CSD_TMUX_SOCKET={} {} sub {} >/dev/null 2>&1",
        socket.display(),
        bin("csd-launch").display(),
        w.proj.display()
    );
    assert_code(&w.send(&["--converse", "boss", &prompt, "30"]), 0);
    let sub_pane: i32 = String::from_utf8_lossy(
        &Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(["display-message", "-p", "-t", "=sub:", "#{pane_pid}"])
            .output()
            .unwrap()
            .stdout,
    )
    .trim()
    .parse()
    .expect("the sub-worker runs");
    let o = w.env.run("csd-stop", ["boss"]);
    assert_code(&o, 0);
    assert!(!stderr(&o).contains("ended"), "{}", stderr(&o));
    std::thread::sleep(Duration::from_millis(300));
    assert!(pid_alive(sub_pane), "stopping the controller ended its sub-worker");
    assert_eq!(stdout(&w.env.run("csd-status", ["sub"])).trim(), "idle");
    assert_code(&w.cmd("csd-stop").arg("sub").output().unwrap(), 0);
}

/// Kills a test's own tmux server on drop.
struct KillServer(std::path::PathBuf);

impl Drop for KillServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.0).arg("kill-server").stderr(Stdio::null()).status();
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---- 7. a worker follows its CLI into a new session ----

#[test]
fn clear_moves_the_worker_to_its_new_session_and_nothing_else_moves_it() {
    let w = World::new();
    let old = w.up("w1", &[]);
    assert_code(&w.send(&["--converse", "w1", "before", "20"]), 0);
    let id = w.metas()[0]["csd_id"].as_str().unwrap().to_string();
    let hook = |sid: &str, source: &str, worker_id: &str| {
        let payload = serde_json::json!({"session_id": sid, "hook_event_name": "SessionStart", "source": source,
            "cwd": w.proj, "transcript_path": w.env.path().join("t.jsonl")});
        let mut c = w.env.cmd("csd-hook");
        c.env("CSD_WORKER_ID", worker_id).env("CSD_TMUX_SOCKET", w.env.socket_path());
        use std::io::Write;
        let mut child = c.stdin(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(payload.to_string().as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    };
    // A CLI the worker runs inside its pane starts (source startup), and
    // another worker's pane clears: neither moves w1.
    hook("1111aaaa-0000-4000-8000-000000000001", "startup", &id);
    hook("1111aaaa-0000-4000-8000-000000000002", "clear", "0f0f0f0f-1111-4222-8333-444455556666");
    assert_eq!(w.sid("w1"), old);
    assert_eq!(w.metas().len(), 1);

    let lines = std::fs::read_to_string(w.env.events_path(&old)).unwrap().lines().count();
    w.env.tmux_ok(["send-keys", "-t", "=w1:", "-l", "/clear"]);
    w.env.tmux_ok(["send-keys", "-t", "=w1:", "Enter"]);
    let new = eventually(Duration::from_secs(10), || Some(w.sid("w1")).filter(|s| s != &old)).expect("no move");
    assert_eq!(w.metas().len(), 1, "{:?}", w.metas());
    assert!(!w.env.events_path(&old).exists());
    // The hook writes the new meta, then carries the log over, then appends.
    let read = || std::fs::read_to_string(w.env.events_path(&new)).unwrap_or_default();
    let carried = eventually(Duration::from_secs(5), || {
        let log = read();
        (log.lines().count() == lines + 1 && log.lines().last().unwrap().contains("session_start")).then_some(())
    });
    assert!(carried.is_some(), "carried over, session_end of the clear left out:\n{}", read());
    assert_eq!(stdout(&w.env.run("csd-status", ["w1"])).trim(), "idle");
    let o = w.send(&["--converse", "w1", "after", "20"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: after\n");
    let list = stdout(&w.env.run("csd-status", ["--list"]));
    assert_eq!(list.lines().filter(|l| l.contains("\tw1\t")).count(), 1, "{list}");
    assert!(w.env.worker_dir.join("bin/w1").exists());
    assert_code(&w.cmd("csd-stop").arg("w1").output().unwrap(), 0);
    w.assert_no_worker_state();
}
