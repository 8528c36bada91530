//! Faults in what csd reads from disk, through the real binaries: a FIFO
//! where a log or a meta should be, a line far longer than any event, a
//! settler racing the next prompt, and a PID 1 that never reaps.
//!
//! Every child runs with a bound (`run_bounded`): a command that blocks is
//! killed and the test fails, rather than the test hanging with it.

mod common;

use common::*;
use serde_json::json;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a bounded run went.
struct Ran {
    /// The exit code; None when the child had to be killed (it overran).
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    took: Duration,
    /// The child's peak RSS, from wait4(2).
    max_rss_kib: i64,
}

impl Ran {
    #[track_caller]
    fn expect(&self, code: i32, within: Duration) {
        assert!(self.code.is_some(), "still running after {within:?}: killed\nstderr: {}", self.stderr);
        assert_eq!(
            self.code,
            Some(code),
            "exit {:?}, wanted {code}\nstdout: {}\nstderr: {}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        assert!(self.took < within, "took {:?}, over {within:?}", self.took);
    }

    fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Run `c` with `input` on stdin; kill it when it runs past `limit`. Its
/// output is drained as it comes, so a large one never blocks it.
#[allow(clippy::zombie_processes)] // reaped by wait4()
fn run_bounded(c: &mut Command, input: Option<&[u8]>, limit: Duration) -> Ran {
    c.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() }).stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = c.spawn().unwrap();
    let pid = child.id() as i32;
    let pidfd = csd::watch::pidfd_open(pid).expect("pidfd_open");
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let outs = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let errs = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    if let Some(data) = input {
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(data);
    }
    let exited = wait_readable(pidfd.as_fd(), limit);
    if !exited {
        let _ = child.kill();
    }
    let mut status = 0;
    // SAFETY: rusage is plain old data that wait4 fills in.
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child; status and usage point at live locals.
    let r = unsafe { nix::libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let took = start.elapsed();
    let code = (exited && nix::libc::WIFEXITED(status)).then(|| nix::libc::WEXITSTATUS(status));
    Ran {
        code,
        stdout: outs.join().unwrap(),
        stderr: String::from_utf8_lossy(&errs.join().unwrap()).into_owned(),
        took,
        max_rss_kib: usage.ru_maxrss,
    }
}

/// Wait for `fd` to become readable (a pidfd: its process exited), for at most `limit`.
fn wait_readable(fd: std::os::fd::BorrowedFd<'_>, limit: Duration) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let until = Instant::now() + limit;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32).unwrap();
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
}

const EVENTS: &str = concat!(
    "{\"event\":\"user_prompt_submit\",\"ts\":\"2026-01-01T00:00:00Z\"}\n",
    "{\"event\":\"pre_tool_use\",\"ts\":\"2026-01-01T00:00:01Z\",\"tool\":\"Bash\",\"tool_input\":{}}\n",
    "{\"event\":\"stop\",\"ts\":\"2026-01-01T00:00:02Z\"}\n",
);

fn hook_payload(sid: &str, event: &str) -> Vec<u8> {
    json!({"session_id": sid, "transcript_path": "/x.jsonl", "cwd": "/proj", "hook_event_name": event})
        .to_string()
        .into_bytes()
}

const QUICK: Duration = Duration::from_secs(5);

#[test]
fn a_fifo_for_an_event_log_is_refused_at_once_by_every_reader() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    let fifo = env.events_path("sid-1");
    mkfifo(&fifo);
    let named = |r: &Ran| {
        assert!(
            r.stderr.contains(&*fifo.to_string_lossy()) && r.stderr.contains("FIFO"),
            "the error should name the file and what it is: {}",
            r.stderr
        );
    };
    for args in [&["w1"][..], &["w1", "--json"]] {
        let r = run_bounded(env.cmd("csd-status").args(args), None, QUICK);
        r.expect(1, QUICK);
        named(&r);
    }
    for args in [&["w1"][..], &["w1", "--last", "3"], &["w1", "--follow"], &["w1", "--last", "1", "--follow"]] {
        let r = run_bounded(env.cmd("csd-events").args(args), None, QUICK);
        r.expect(1, QUICK);
        named(&r);
    }
    // Its own timeout is 2 s: whether it refuses or times out, it is done by then.
    let r = run_bounded(env.cmd("csd-wait").args(["w1", "2"]), None, QUICK);
    assert!(r.code.is_some_and(|c| c != 0), "exit {:?}: {}", r.code, r.stderr);
    assert!(r.took < Duration::from_secs(3), "csd-wait overran its own timeout: {:?}", r.took);
    named(&r);
}

#[test]
fn the_hook_returns_at_once_and_exits_0_when_its_log_is_a_fifo() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &[]);
    mkfifo(&env.events_path("sid-1"));
    for event in ["UserPromptSubmit", "Stop"] {
        let r = run_bounded(&mut env.cmd("csd-hook"), Some(&hook_payload("sid-1", event)), QUICK);
        r.expect(0, Duration::from_secs(1));
        assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{}", r.stderr);
    }
    // A reader on the FIFO does not change that: nothing is written into it.
    let reader = std::fs::OpenOptions::new().read(true).custom_flags_nonblock().open(env.events_path("sid-1")).unwrap();
    let r = run_bounded(&mut env.cmd("csd-hook"), Some(&hook_payload("sid-1", "Stop")), QUICK);
    r.expect(0, Duration::from_secs(1));
    let mut got = Vec::new();
    let _ = (&reader).read_to_end(&mut got);
    assert!(got.is_empty(), "the hook wrote into a FIFO: {:?}", String::from_utf8_lossy(&got));
}

trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(nix::libc::O_NONBLOCK)
    }
}

#[test]
fn a_fifo_for_a_meta_is_refused_and_hides_no_other_worker() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    std::fs::write(env.events_path("sid-1"), EVENTS).unwrap();
    let fifo = env.worker_dir.join("bad.meta");
    mkfifo(&fifo);
    // Found by name among the metas: the FIFO is passed over.
    let r = run_bounded(env.cmd("csd-status").arg("w1"), None, QUICK);
    r.expect(0, QUICK);
    assert_eq!(r.out().trim(), "idle");
    let r = run_bounded(env.cmd("csd-status").args(["--list"]), None, QUICK);
    r.expect(0, QUICK);
    assert!(r.out().contains("w1") && !r.out().contains("bad"), "{}", r.out());
    // Asked for by its id: a clear error.
    let r = run_bounded(env.cmd("csd-status").arg("bad"), None, QUICK);
    r.expect(1, QUICK);
    assert!(r.stderr.contains(&*fifo.to_string_lossy()) && r.stderr.contains("FIFO"), "{}", r.stderr);
    // The hook for that session: back at once, exit 0, nothing written.
    let r = run_bounded(&mut env.cmd("csd-hook"), Some(&hook_payload("bad", "Stop")), QUICK);
    r.expect(0, Duration::from_secs(1));
    assert!(!env.events_path("bad").exists());
}

#[test]
fn a_meta_over_the_size_cap_is_refused() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    let pad = "x".repeat(2 << 20);
    let meta = json!({"tmux_name": "big", "session_id": "big", "cwd": "/", "harness": "claude", "pad": pad});
    std::fs::write(env.worker_dir.join("big.meta"), meta.to_string()).unwrap();
    let r = run_bounded(env.cmd("csd-status").arg("big"), None, QUICK);
    r.expect(1, QUICK);
    assert!(r.stderr.contains("big.meta"), "{}", r.stderr);
    let r = run_bounded(env.cmd("csd-status").arg("w1"), None, QUICK);
    r.expect(0, QUICK);
}

/// A log whose last line is 64 MB: three events, then one line far over the
/// line cap (a valid event, were it not for its size).
fn log_with_a_64mb_line(path: &Path) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    f.write_all(EVENTS.as_bytes()).unwrap();
    f.write_all(
        b"{\"event\":\"pre_tool_use\",\"ts\":\"2026-01-01T00:00:03Z\",\"tool\":\"Bash\",\"tool_input\":{\"x\":\"",
    )
    .unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..64 {
        f.write_all(&block).unwrap();
    }
    f.write_all(b"\"}}\n").unwrap();
    f.flush().unwrap();
}

#[test]
fn a_64mb_line_is_skipped_in_bounded_memory_both_ways() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    log_with_a_64mb_line(&env.events_path("sid-1"));
    let three: Vec<String> = EVENTS.lines().map(String::from).collect();
    let limit = Duration::from_secs(30);
    // Peak RSS well under the line: it is never held.
    let bound_kib = 24 * 1024;
    for args in [&["w1", "--last", "3"][..], &["w1"]] {
        let r = run_bounded(env.cmd("csd-events").args(args), None, limit);
        r.expect(0, limit);
        let got: Vec<String> = r.out().lines().map(|l| l.chars().take(200).collect()).collect();
        assert_eq!(got, three, "csd-events {args:?}");
        assert!(r.max_rss_kib < bound_kib, "csd-events {args:?}: peak RSS {} KiB", r.max_rss_kib);
    }
    let r = run_bounded(env.cmd("csd-status").arg("w1"), None, limit);
    r.expect(0, limit);
    assert_eq!(r.out().trim(), "idle");
    assert!(r.max_rss_kib < bound_kib, "csd-status: peak RSS {} KiB", r.max_rss_kib);
    // Events after it are read as ever, following included.
    let mut f = std::fs::OpenOptions::new().append(true).open(env.events_path("sid-1")).unwrap();
    f.write_all(b"{\"event\":\"user_prompt_submit\",\"ts\":\"2026-01-01T00:00:04Z\"}\n").unwrap();
    let r = run_bounded(env.cmd("csd-events").args(["w1", "--last", "2"]), None, limit);
    r.expect(0, limit);
    assert_eq!(r.out().lines().count(), 2, "{:.400}", r.out());
    assert!(r.out().lines().nth(1).unwrap().contains("user_prompt_submit"));
    let r = run_bounded(env.cmd("csd-status").arg("w1"), None, limit);
    assert_eq!(r.out().trim(), "working");
}

/// The pids of the processes in the PID namespace whose init is `init`
/// (host pids), with whether each is a zombie. Read here rather than through
/// `descendants`, which lists live processes only: the zombies are the point.
fn below(init: i32) -> Vec<(i32, bool)> {
    let mut links: Vec<(i32, i32, bool)> = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // The command name may hold anything: the fields follow the last ')'.
        let Some((_, after)) = stat.rsplit_once(") ") else { continue };
        let mut f = after.split_whitespace();
        let zombie = f.next() == Some("Z");
        let Some(ppid) = f.next().and_then(|p| p.parse().ok()) else { continue };
        links.push((pid, ppid, zombie));
    }
    let mut out: Vec<(i32, bool)> = Vec::new();
    let mut parents = vec![init];
    while let Some(p) = parents.pop() {
        for &(c, _, zombie) in links.iter().filter(|(_, pp, _)| *pp == p) {
            out.push((c, zombie));
            parents.push(c);
        }
    }
    out
}

/// The command name of `pid`.
fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (a PID namespace (unshare): root): make test")]
fn csd_wait_leaves_no_zombie_under_a_pid_1_that_never_reaps() {
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &["sleep", "600"]);
    std::fs::write(env.events_path("sid-1"), EVENTS).unwrap();
    // PID 1 of a new PID namespace: a shell that starts csd-wait and then
    // becomes `sleep`, which never calls wait(2), like a container whose
    // entrypoint is node or python. Its one child, csd-wait, stays a zombie;
    // anything csd-wait leaves behind is reparented to it and stays too.
    let mut c = Command::new("unshare");
    c.args(["-fp", "--mount-proc", "--", "sh", "-c", "\"$@\" & exec sleep 600", "sh"]).arg(bin("csd-wait")).args([
        "w1",
        "10",
        "--after-line",
        "0",
    ]);
    env.apply_env(&mut c);
    let mut unshare = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let _guard = KillOnDrop(Some(unshare.id() as i32));
    // The namespace's init is unshare's child; wait until it is `sleep`, and
    // everything under it has exited.
    let settled = eventually(Duration::from_secs(10), || {
        let init = *descendants(unshare.id() as i32).first()?;
        if comm(init) != "sleep" {
            return None;
        }
        let procs = below(init);
        (!procs.is_empty() && procs.iter().all(|(_, zombie)| *zombie)).then_some((init, procs))
    });
    let (init, procs) = settled.expect("csd-wait did not finish under the non-reaping init");
    let names: Vec<String> = procs.iter().map(|(p, _)| format!("{p} {}", comm(*p))).collect();
    assert_eq!(procs.len(), 1, "zombies under the namespace's init: {names:?} (only csd-wait itself may be one)");
    assert_eq!(comm(procs[0].0), "csd-wait", "{names:?}");
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(init), nix::sys::signal::Signal::SIGKILL);
    let _ = unshare.wait();
}

/// Pauses every open(2) of one file until the test lets it go (fanotify's
/// FAN_OPEN_PERM; needs CAP_SYS_ADMIN, which the test suite has as root).
struct OpenGate {
    fan: OwnedFd,
}

impl OpenGate {
    fn on(path: &Path) -> OpenGate {
        use nix::libc;
        // SAFETY: plain syscalls on integers and a NUL-terminated path.
        let fd = unsafe { libc::fanotify_init(libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC, libc::O_RDONLY as u32) };
        assert!(fd >= 0, "fanotify_init: {} (the settle race test needs root)", std::io::Error::last_os_error());
        // SAFETY: a fresh descriptor nothing else owns.
        let fan = unsafe { OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: as above.
        let r = unsafe {
            libc::fanotify_mark(fan.as_raw_fd(), libc::FAN_MARK_ADD, libc::FAN_OPEN_PERM, libc::AT_FDCWD, c.as_ptr())
        };
        assert_eq!(r, 0, "fanotify_mark: {}", std::io::Error::last_os_error());
        OpenGate { fan }
    }

    /// Wait for the next open of the file; returns the held open (its
    /// descriptor and the opener's pid).
    fn next(&self) -> (i32, i32) {
        assert!(wait_readable(self.fan.as_fd(), Duration::from_secs(10)), "nobody opened the gated file");
        let mut buf = [0u8; 4096];
        let n = nix::unistd::read(self.fan.as_raw_fd(), &mut buf).unwrap();
        assert!(n >= std::mem::size_of::<nix::libc::fanotify_event_metadata>());
        // SAFETY: the kernel wrote at least one whole metadata record; read_unaligned copes with the buffer's alignment.
        let m: nix::libc::fanotify_event_metadata = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) };
        assert_eq!(m.event_len as usize, n, "one event at a time");
        (m.fd, m.pid)
    }

    fn allow(&self, (fd, _): (i32, i32)) {
        let resp = nix::libc::fanotify_response { fd, response: nix::libc::FAN_ALLOW };
        // SAFETY: resp is a live local of the size written.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&resp as *const nix::libc::fanotify_response).cast::<u8>(),
                std::mem::size_of_val(&resp),
            )
        };
        nix::unistd::write(&self.fan, bytes).unwrap();
        // SAFETY: the event's descriptor is ours to close.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

fn log_events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (fanotify: root): make test")]
fn a_late_settler_never_ends_the_next_turn() {
    // A Codex worker whose turn T1 failed: the rollout says so, no Stop hook came.
    let env = TestEnv::new();
    let rollout = env.path().join("rollout.jsonl");
    let line = |ty: &str, turn: &str, extra: &str| {
        format!("{{\"type\":\"event_msg\",\"payload\":{{\"type\":\"{ty}\",\"turn_id\":\"{turn}\"{extra}}}}}\n")
    };
    std::fs::write(
        &rollout,
        line("task_started", "T1", "") + &line("task_complete", "T1", ",\"error\":{\"message\":\"x\"}"),
    )
    .unwrap();
    let meta = json!({"tmux_name": "cw", "session_id": "sid-c", "cwd": env.path(), "harness": "codex",
                      "tmux_socket": env.socket, "transcript_path": rollout});
    std::fs::write(env.worker_dir.join("sid-c.meta"), meta.to_string()).unwrap();
    // Unstamped, as an older csd left it: its command line names its session id.
    env.tmux_ok(["new-session", "-d", "-s", "cw", "--", "bash", "-c", "exec -a 'sleep sid-c' sleep 600"]);
    let log = env.events_path("sid-c");
    std::fs::write(
        &log,
        "{\"event\":\"session_start\",\"ts\":\"2026-01-01T00:00:00Z\"}\n\
         {\"event\":\"user_prompt_submit\",\"ts\":\"2026-01-01T00:00:01Z\",\"turn_id\":\"T1\"}\n",
    )
    .unwrap();

    // Settler A (a csd-status) has read the log (T1 open) and is opening the
    // rollout: hold it there.
    let gate = OpenGate::on(&rollout);
    let status = |env: &TestEnv| {
        let mut c = env.cmd("csd-status");
        c.arg("cw").stdout(Stdio::piped()).stderr(Stdio::piped());
        c.spawn().unwrap()
    };
    let a = status(&env);
    let held_a = gate.next();
    // Settler B does the same and settles T1.
    let b = status(&env);
    let held_b = gate.next();
    gate.allow(held_b);
    let b = b.wait_with_output().unwrap();
    assert_code(&b, 0);
    assert_eq!(stdout(&b).trim(), "idle", "{}", stderr(&b));
    // The operator's next prompt opens T2 (through the real hook).
    let wd = env.worker_dir.to_string_lossy().into_owned();
    let p = json!({"session_id": "sid-c", "hook_event_name": "UserPromptSubmit", "turn_id": "T2", "cwd": "/p"});
    let o = env.run_stdin("csd-hook", ["cw", "/p", wd.as_str(), "codex"], p.to_string().as_bytes());
    assert_code(&o, 0);
    // Now A carries on with what it read before T2 existed.
    gate.allow(held_a);
    // From here on opens go through (A looks at the rollout again for T2).
    drop(gate);
    let a = a.wait_with_output().unwrap();
    assert_code(&a, 0);

    let evs = log_events(&log);
    let kinds: Vec<&str> = evs.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["session_start", "user_prompt_submit", "stop", "user_prompt_submit"], "{evs:?}");
    assert_eq!(evs[2]["turn_id"], "T1", "the synthetic stop names the turn it settles: {}", evs[2]);
    assert_eq!(evs[2]["reason"], "failed");
    assert_eq!(stdout(&a).trim(), "working", "T2 runs");
}

/// Whether `/proc/locks` shows process `pid` blocked on a flock of the file with inode `ino`.
fn blocked_on_flock(pid: u32, ino: u64) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "N: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF"
        f.get(1) == Some(&"->")
            && f.get(2) == Some(&"FLOCK")
            && f.get(5) == Some(&&*pid.to_string())
            && f.get(6).and_then(|d| d.rsplit(':').next()) == Some(&*ino.to_string())
    })
}

#[test]
fn the_hook_waits_a_bounded_time_for_the_log_lock_then_appends() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new();
    env.fake_worker("w1", "sid-1", &[]);
    let log = env.events_path("sid-1");
    std::fs::write(&log, EVENTS).unwrap();
    let ino = std::fs::metadata(&log).unwrap().ino();
    // A settler holds the log's lock (and never lets go, here).
    let held = std::fs::File::open(&log).unwrap();
    // SAFETY: flock on a descriptor we own.
    assert_eq!(unsafe { nix::libc::flock(held.as_raw_fd(), nix::libc::LOCK_EX) }, 0);
    let mut hook = env.cmd("csd-hook").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    hook.stdin.take().unwrap().write_all(&hook_payload("sid-1", "Stop")).unwrap();
    let pid = hook.id();
    let waited = eventually(Duration::from_secs(5), || {
        if blocked_on_flock(pid, ino) {
            return Some(true);
        }
        hook.try_wait().unwrap().map(|_| false)
    });
    assert_eq!(waited, Some(true), "the hook did not wait for the log's lock");
    assert_eq!(log_events(&log).len(), 3, "appended under someone else's lock");
    // It gives up waiting after about a second and appends anyway: the agent is never held up for long.
    let status = hook.wait().unwrap();
    let took = start.elapsed();
    assert!(status.success());
    assert!(took < Duration::from_secs(3), "the hook took {took:?}");
    let evs = log_events(&log);
    assert_eq!(evs.len(), 4);
    assert_eq!(evs[3]["event"], "stop");
    drop(held);
}
