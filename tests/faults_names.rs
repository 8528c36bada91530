//! Exactly the worker named (issue 17, items 4, 5, 6, 9, 13 and 14): names
//! and session ids never confused, a shim that drives its own worker, an
//! adopt that never kills a live worker's turn, a stale v4 meta that never
//! captures somebody's session, an event log a full disk cannot tear, and
//! the smaller ways bad input got through. The real binaries, a private tmux
//! server and the scripted fake Claude Code.

mod common;

use common::world::World;
use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A registered worker as an older csd or a controller's bug could leave it:
/// a meta stamped `id` and a tmux session so stamped, running `sleep`.
/// Its harness is one csd does not know, so a stop kills it at once.
fn stamped_worker(env: &TestEnv, name: &str, sid: &str, id: &str) {
    let meta = json!({
        "tmux_name": name, "session_id": sid, "cwd": env.path(), "harness": "someday",
        "tmux_socket": env.socket_path(), "csd_id": id,
    });
    std::fs::write(env.worker_dir.join(format!("{sid}.meta")), meta.to_string()).unwrap();
    let session = name.replace('.', "_");
    let target = format!("={session}:");
    env.tmux_ok(["new-session", "-d", "-s", &session, "sleep", "600", ";", "set-option", "-t", &target, "@csd_id", id]);
}

fn pane_pid(env: &TestEnv, session: &str) -> String {
    env.tmux_ok(["display", "-p", "-t", &format!("={session}:"), "#{pane_pid}"]).trim().to_string()
}

fn status_word(w: &World, name: &str) -> String {
    stdout(&w.cmd("csd-status").arg(name).output().unwrap()).trim().to_string()
}

// ---- 4. names and session ids ----

#[test]
fn a_name_that_is_a_session_id_is_refused_and_names_resolve_as_names() {
    let w = World::new();
    let s1 = w.up("w1", &[]);

    // A launch or an adopt under another worker's session id: refused at once.
    let o = w.launch(&s1, &[]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("session id"), "{}", stderr(&o));
    assert!(!w.env.has_session(&s1));
    let o = w.cmd("csd-launch").args(["--adopt", &s1, w.proj.to_str().unwrap(), &s1]).output().unwrap();
    assert_code(&o, 2);
    assert_eq!(status_word(&w, "w1"), "idle");

    // Such a name on disk anyway (an older csd let it through): a bare
    // WORKER is a name first; sid:ID names a session id, and only that.
    let s2 = "5e5e5e5e-1111-4222-8333-444455556666";
    stamped_worker(&w.env, &s1, s2, "7a7a7a7a-1111-4222-8333-444455556666");
    let o = w.cmd("csd-status").args(["--session-id", &s1]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), s2, "the worker named {s1}");
    let o = w.cmd("csd-status").args(["--session-id", &format!("sid:{s1}")]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), s1, "the worker whose session id is {s1}");
    let o = w.cmd("csd").args(["--worker", &format!("sid:{s1}"), "status"]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "idle");
    let o = w.cmd("csd-status").arg("sid:no-such-session").output().unwrap();
    assert_code(&o, 3);
    // A session id is never taken for a name: w1's own name does not answer to sid:.
    assert_code(&w.cmd("csd-status").arg("sid:w1").output().unwrap(), 3);

    // The worker named like w1's session id is the one its stop stops.
    let o = w.cmd("csd").args(["--worker", &s1, "stop"]).output().unwrap();
    assert_code(&o, 0);
    assert!(stdout(&o).contains(s2), "{}", stdout(&o));
    assert!(!w.env.has_session(&s1), "the worker named {s1} was stopped");
    assert!(w.env.has_session("w1"), "w1 must run on");
    assert_eq!(status_word(&w, "w1"), "idle");
    let o = w.cmd("csd-stop").arg(format!("sid:{s1}")).output().unwrap();
    assert_code(&o, 0);
    assert!(!w.env.has_session("w1"));
}

// ---- 6. adopting a live worker's session ----

#[test]
fn adopting_the_session_a_live_worker_runs_is_refused() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    assert_code(&w.send(&["w1", "sleep:3"]), 0);
    let before = pane_pid(&w.env, "w1");
    for name in ["w1", "w2"] {
        let o = w.cmd("csd-launch").args(["--adopt", name, w.proj.to_str().unwrap(), &sid]).output().unwrap();
        assert_code(&o, 1);
        assert!(stderr(&o).contains("already running as worker 'w1'"), "{name}: {}", stderr(&o));
    }
    assert_eq!(pane_pid(&w.env, "w1"), before, "the harness must not be replaced mid-turn");
    assert!(!w.env.has_session("w2"));
    let o = w.cmd("csd-wait").args(["w1", "10"]).output().unwrap();
    assert_code(&o, 0);
    assert!(stdout(&o).contains("\"stop\""), "{}", stdout(&o));

    // A pane kept after its harness quit (remain-on-exit in the user's tmux
    // config) holds no live worker: adopt respawns it in place.
    w.env.tmux_ok(["set-option", "-g", "remain-on-exit", "on"]);
    w.env.tmux_ok(["send-keys", "-t", "=w1:", "/exit", "Enter"]);
    let dead = eventually(Duration::from_secs(5), || {
        (w.env.tmux_ok(["display", "-p", "-t", "=w1:", "#{pane_dead}"]).trim() == "1").then_some(())
    });
    assert!(dead.is_some(), "the pane should be kept dead");
    let o = w.cmd("csd-launch").args(["--adopt", "w1", w.proj.to_str().unwrap(), &sid]).output().unwrap();
    assert_code(&o, 0);
    assert!(stderr(&o).contains("respawned"), "{}", stderr(&o));
    let o = w.send(&["--converse", "w1", "back?"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: back?\n");
}

// ---- 9. a shim drives its own worker ----

#[test]
fn a_shim_drives_the_worker_it_was_made_for() {
    let a = World::new();
    let b = World::new();
    a.up("same", &[]);
    b.up("same", &[]);
    let shim = a.env.worker_dir.join("bin/same");
    // The caller's environment names B's worker dir and tmux server.
    let mut c = Command::new(&shim);
    b.env.apply_env(&mut c);
    let o = c.arg("stop").output().unwrap();
    assert_code(&o, 0);
    assert!(!a.env.has_session("same"), "A's worker, which the shim was made for, is stopped");
    assert!(b.env.has_session("same"), "B's worker must run on");
    assert_eq!(status_word(&b, "same"), "idle");

    // A shim an older csd wrote (no dir in it) still works, from the environment.
    let old = b.env.worker_dir.join("bin/same");
    let text = format!(
        "#!/bin/sh\n# csd worker shim: every subcommand goes to this worker.\nexec '{}' --worker same \"$@\"\n",
        bin("csd").display()
    );
    std::fs::write(&old, text).unwrap();
    let mut c = Command::new(&old);
    b.env.apply_env(&mut c);
    let o = c.arg("status").output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "idle");
}

// ---- 13. a stale v4 meta never captures an unstamped session ----

#[test]
fn a_legacy_meta_owns_only_a_session_that_names_its_session_id() {
    let env = TestEnv::new();
    let sid = "6d6d6d6d-1111-4222-8333-444455556666";
    // v4's meta: no csd_id, no tmux_socket, no harness.
    let meta = json!({"tmux_name": "a.b", "session_id": sid, "cwd": env.path()});
    std::fs::write(env.worker_dir.join(format!("{sid}.meta")), meta.to_string()).unwrap();
    env.tmux_ok(["new-session", "-d", "-s", "a_b", "sleep", "600"]);
    let o = env.run("csd-status", ["a.b"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o).trim(), "gone", "{}", stderr(&o));
    let o = env.run("csd-stop", ["a.b"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("already gone"), "{}", stdout(&o));
    assert!(env.has_session("a_b"), "somebody's own session must not be killed");

    // A legacy worker's pane names its session id (v4 ran claude --session-id
    // SID, through a shell): that proves it, in the pane's process or below it.
    for (name, sid, argv) in [
        (
            "lw1",
            "1d1d1d1d-1111-4222-8333-444455556666",
            vec!["sh", "-c", "sleep 600; exit", "1d1d1d1d-1111-4222-8333-444455556666"],
        ),
        ("lw2", "2d2d2d2d-1111-4222-8333-444455556666", vec!["sh", "-c", "sh -c 'sleep 600; exit' \"$X\"; exit"]),
    ] {
        let meta = json!({"tmux_name": name, "session_id": sid, "cwd": env.path(), "harness": "someday"});
        std::fs::write(env.worker_dir.join(format!("{sid}.meta")), meta.to_string()).unwrap();
        let mut args = vec!["new-session", "-d", "-s", name, "-e"];
        let x = format!("X={sid}");
        args.push(&x);
        args.extend(argv);
        env.tmux_ok(args);
        let alive = eventually(Duration::from_secs(3), || {
            let o = env.run("csd-status", [name]);
            (stdout(&o).trim() == "unknown").then_some(())
        });
        assert!(alive.is_some(), "{name}: {}", stdout(&env.run("csd-status", [name])));
        let o = env.run("csd-stop", [name]);
        assert_code(&o, 0);
        assert!(stdout(&o).contains("stopped."), "{name}: {}", stdout(&o));
        assert!(!env.has_session(name), "{name}");
    }
    assert!(env.has_session("a_b"));
}

// ---- 5. a full disk never tears the event log ----

/// A mount namespace of its own, held by a `sleep`, with a tiny tmpfs at
/// `mount`: commands run in it through nsenter, and the test reads its files
/// through /proc/PID/root. Ending the holder (and the tmux server started in
/// it) takes the mount away: nothing is left mounted on the host.
struct SmallDisk {
    holder: std::process::Child,
    mount: PathBuf,
}

impl SmallDisk {
    fn new(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir(at).unwrap();
        let holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "--", "sleep", "600"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let disk = SmallDisk { holder, mount: at.to_path_buf() };
        // unshare execs sleep once the namespace is made.
        let ready = eventually(Duration::from_secs(5), || {
            let comm = std::fs::read_to_string(format!("/proc/{}/comm", disk.pid())).unwrap_or_default();
            (comm.trim() == "sleep").then_some(())
        });
        assert!(ready.is_some(), "unshare did not start");
        let opts = format!("size={size},mode=0700");
        let st = Command::new("nsenter")
            .args(["-t", &disk.pid().to_string(), "-m", "--", "mount", "-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(at)
            .status()
            .unwrap();
        assert!(st.success(), "mount failed");
        disk
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// `path` (as seen in the namespace) as the test reaches it.
    fn host(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid())).join(path.strip_prefix("/").unwrap())
    }

    /// `base` (a csd binary with its environment), run in the namespace.
    fn cmd(&self, base: Command) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.pid().to_string(), "-m", "--"]).arg(base.get_program()).stdin(Stdio::null());
        for (k, v) in base.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    /// Fill the disk to its last byte.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.host(&self.mount.join("filler"))).unwrap();
        for size in [65536usize, 4096, 512, 64, 8, 1] {
            let chunk = vec![b'x'; size];
            while f.write(&chunk).is_ok_and(|n| n == size) {}
        }
    }

    fn free(&self) {
        std::fs::remove_file(self.host(&self.mount.join("filler"))).unwrap();
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn run_in(disk: &SmallDisk, w: &World, bin: &str, args: &[&str]) -> Output {
    let mut base = w.cmd(bin);
    base.env("CSD_SUBMIT_TIMEOUT", "4");
    disk.cmd(base).args(args).output().unwrap()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (a mount namespace (unshare): root): make test")]
fn a_full_disk_never_tears_the_log_and_a_lost_event_is_reported() {
    let mut w = World::new();
    let disk = SmallDisk::new(&w.env.path().join("small"), "256k");
    w.env.worker_dir = disk.mount.join("workers");
    std::fs::create_dir(disk.host(&w.env.worker_dir)).unwrap();
    std::fs::set_permissions(disk.host(&w.env.worker_dir), std::fs::Permissions::from_mode(0o700)).unwrap();
    // The tmux server starts in the namespace: it must go before the holder.
    let o = run_in(&disk, &w, "csd-launch", &["w1", w.proj.to_str().unwrap()]);
    assert_code(&o, 0);
    let sid = run_in(&disk, &w, "csd-status", &["--session-id", "w1"]);
    assert_code(&sid, 0);
    let sid = stdout(&sid).trim().to_string();
    let log = disk.host(&w.env.worker_dir.join(format!("{sid}.events.jsonl")));

    assert_code(&run_in(&disk, &w, "csd-send", &["w1", "sleep:4"]), 0);
    // Bring the log to 10 bytes short of a page, with a line readers skip,
    // then fill the disk: the turn's stop can write only its first 10 bytes.
    let len = std::fs::metadata(&log).unwrap().len() as usize;
    let mut pad = (4096 - 10 - len % 4096) % 4096;
    if pad < 16 {
        pad += 4096;
    }
    let line = format!("{{\"pad\":\"{}\"}}\n", "p".repeat(pad - 11));
    assert_eq!(line.len(), pad);
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all_at_end(line.as_bytes());
    disk.fill();

    let t = Instant::now();
    let o = run_in(&disk, &w, "csd-wait", &["w1", "15"]);
    assert_code(&o, 1);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(stderr(&o).contains("could not be written"), "{}", stderr(&o));
    let text = std::fs::read(&log).unwrap();
    assert!(
        text.ends_with(line.as_bytes()),
        "the log must end whole: {:?}",
        String::from_utf8_lossy(&text[text.len().saturating_sub(80)..])
    );
    let o = run_in(&disk, &w, "csd-status", &["w1"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("could not be written"), "{}", stderr(&o));
    assert!(!stdout(&o).contains("working"), "{}", stdout(&o));
    let o = run_in(&disk, &w, "csd-status", &["--list"]);
    assert_code(&o, 1);
    assert!(stdout(&o).contains("unknown\tclaude\tw1"), "{}", stdout(&o));

    disk.free();
    let o = run_in(&disk, &w, "csd-send", &["--converse", "w1", "hello again"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: hello again\n");
    for l in std::fs::read_to_string(&log).unwrap().lines() {
        serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("a torn line {l:?}: {e}"));
    }
    assert_eq!(stdout(&run_in(&disk, &w, "csd-status", &["w1"])).trim(), "idle");
    let o = run_in(&disk, &w, "csd-stop", &["w1"]);
    assert_code(&o, 0);
    let left: Vec<_> = std::fs::read_dir(disk.host(&w.env.worker_dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "bin" && n != "plugin")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(w);
}

trait AppendAll {
    fn write_all_at_end(self, data: &[u8]);
}

impl AppendAll for std::fs::File {
    fn write_all_at_end(mut self, data: &[u8]) {
        use std::io::Write;
        self.write_all(data).unwrap();
    }
}

#[test]
fn a_torn_tail_is_repaired_before_the_next_append() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    let log = w.env.events_path(&sid);
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all_at_end(b"{\"");
    let o =
        w.cmd("csd-send").env("CSD_SUBMIT_TIMEOUT", "4").args(["--converse", "w1", "after a tear"]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: after a tear\n");
    let text = std::fs::read_to_string(&log).unwrap();
    let bad: Vec<&str> = text.lines().filter(|l| serde_json::from_str::<Value>(l).is_err()).collect();
    assert_eq!(bad, vec!["{\""], "only the torn bytes, on a line of their own:\n{text}");
    assert!(text.ends_with("}\n"), "{text}");
}

// ---- 14. the smaller ones ----

#[test]
fn a_prompt_of_only_paste_markers_is_empty() {
    let w = World::new();
    w.up("w1", &[]);
    let t = Instant::now();
    let o = w.send(&["w1", "\x1b[200~\x1b[201~ \x1b[201~"]);
    assert_code(&o, 2);
    assert!(stderr(&o).contains("empty"), "{}", stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(w.events(&w.sid("w1")), ["session_start"]);
}

#[test]
fn newlines_and_tabs_in_a_cwd_never_split_the_list() {
    let w = World::new();
    let proj = w.env.path().join("p\nforged\trow\\x");
    std::fs::create_dir(&proj).unwrap();
    let o = w.cmd("csd-launch").arg("w1").arg(&proj).output().unwrap();
    assert_code(&o, 0);
    let o = w.cmd("csd").args(["list"]).output().unwrap();
    assert_code(&o, 0);
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let cells: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(cells.len(), 9, "{text}");
    let want = format!("{}/p\\nforged\\trow\\\\x", std::fs::canonicalize(w.env.path()).unwrap().display());
    assert_eq!(cells[5], want, "{text}");
    // JSON keeps the cwd as it is.
    let o = w.cmd("csd").args(["list", "--json"]).output().unwrap();
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows[0]["cwd"].as_str(), std::fs::canonicalize(&proj).unwrap().to_str());
}

#[test]
fn a_relative_worker_dir_is_made_absolute() {
    let w = World::new();
    let o = w
        .cmd("csd-launch")
        .args(["w1", w.proj.to_str().unwrap()])
        .env("CSD_WORKER_DIR", "rel/workers")
        .current_dir(w.env.path())
        .output()
        .unwrap();
    assert_code(&o, 0);
    let abs = w.env.path().join("rel/workers");
    assert_eq!(stdout(&o).trim(), abs.join("bin/w1").to_str().unwrap());
    let o = w.cmd("csd-send").args(["--converse", "w1", "where?"]).env("CSD_WORKER_DIR", &abs).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "Reply: where?\n");
    assert!(!w.proj.join("rel").exists(), "nothing may land relative to the worker's cwd");
    assert_code(&w.cmd("csd-stop").arg("w1").env("CSD_WORKER_DIR", &abs).output().unwrap(), 0);
}

#[test]
fn harness_arguments_that_set_the_session_are_refused() {
    let w = World::new();
    for (harness, args) in [
        ("claude", &["--session-id", "0f0f0f0f-1111-4222-8333-444455556666"][..]),
        ("claude", &["--resume=0f0f0f0f-1111-4222-8333-444455556666"]),
        ("claude", &["-c"]),
        ("codex", &["resume", "--last"]),
        ("pi", &["--session", "abc"]),
        ("pi", &["--no-session"]),
    ] {
        let t = Instant::now();
        let o = w
            .cmd("csd-launch")
            .args(["--harness", harness, "w1", w.proj.to_str().unwrap(), "--"])
            .args(args)
            .output()
            .unwrap();
        assert_code(&o, 2);
        assert!(stderr(&o).contains(args[0].split('=').next().unwrap()), "{}", stderr(&o));
        assert!(t.elapsed() < Duration::from_secs(2), "{harness} {args:?}: {:?}", t.elapsed());
        w.assert_no_worker_state();
    }
}

#[test]
fn home_unset_is_named_in_the_consent_error() {
    let w = World::new();
    let o = w.cmd("csd-launch").args(["w1", w.proj.to_str().unwrap()]).env_remove("HOME").output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("HOME is not set"), "{}", stderr(&o));
}

#[test]
fn dotdot_in_the_worker_dir_is_a_usage_error() {
    let w = World::new();
    let dir = format!("{}/../workers", w.env.worker_dir.display());
    for (bin, args) in [("csd-status", &["--list"][..]), ("csd-launch", &["w1", "."]), ("csd-stop", &["--prune"])] {
        let o = w.cmd(bin).args(args).env("CSD_WORKER_DIR", &dir).output().unwrap();
        assert_code(&o, 2);
        assert!(stderr(&o).contains(".."), "{}", stderr(&o));
    }
}

#[test]
fn help_lists_only_forms_that_work() {
    let w = World::new();
    w.up("w1", &[]);
    let help = stdout(&w.cmd("csd").arg("help").output().unwrap());
    let line = help.lines().find(|l| l.trim_start().starts_with("send ") && l.contains("PROMPT")).expect(&help);
    assert!(!line.contains("PROMPT [TIMEOUT]") || line.contains("--receipt PROMPT [TIMEOUT]"), "{line}");
    // Each form the help gives for send works.
    assert_code(&w.cmd("csd").args(["--worker", "w1", "send", "hello"]).output().unwrap(), 0);
    let o = w.cmd("csd").args(["--worker", "w1", "send", "--receipt", "again", "5"]).output().unwrap();
    assert_code(&o, 0);
    // And the form it does not give is refused.
    assert_code(&w.cmd("csd").args(["--worker", "w1", "send", "more", "5"]).output().unwrap(), 2);
}

#[test]
fn wait_any_and_all_together_are_refused() {
    let w = World::new();
    w.up("w1", &[]);
    let o = w.cmd("csd-wait").args(["--any", "--all", "w1", "-t", "1"]).output().unwrap();
    assert_code(&o, 2);
    assert!(stderr(&o).contains("--any") && stderr(&o).contains("--all"), "{}", stderr(&o));
}

#[test]
fn plugin_hooks_are_never_world_writable_under_umask_000() {
    let w = World::new();
    let mut c = w.cmd("csd-launch");
    c.args(["w1", w.proj.to_str().unwrap()]);
    // SAFETY: umask(2) is async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            nix::sys::stat::umask(nix::sys::stat::Mode::empty());
            Ok(())
        });
    }
    assert_code(&c.output().unwrap(), 0);
    for p in ["plugin", "plugin/hooks", "plugin/.claude-plugin", "plugin/hooks/hooks.json", "bin", "bin/w1"] {
        let mode = std::fs::symlink_metadata(w.env.worker_dir.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "{p} is {mode:o}");
    }
}

/// A worker that moves to a new session (/clear) while the marker of a lost
/// event is there takes it along: nothing of the old id is left behind.
#[test]
fn a_lost_events_marker_moves_with_the_worker() {
    let w = World::new();
    let old = w.up("w1", &[]);
    std::fs::write(w.env.worker_dir.join(format!("{old}.events.lost")), "").unwrap();
    w.env.tmux_ok(["send-keys", "-t", "=w1:", "-l", "/clear"]);
    w.env.tmux_ok(["send-keys", "-t", "=w1:", "Enter"]);
    let new = eventually(Duration::from_secs(10), || Some(w.sid("w1")).filter(|s| s != &old)).expect("no move");
    assert!(!w.env.worker_dir.join(format!("{old}.events.lost")).exists());
    let idle = eventually(Duration::from_secs(5), || (status_word(&w, "w1") == "idle").then_some(()));
    assert!(idle.is_some(), "{}", status_word(&w, "w1"));
    assert!(!w.env.worker_dir.join(format!("{new}.events.lost")).exists(), "the move's own event was written whole");
    assert_code(&w.cmd("csd-stop").arg("w1").output().unwrap(), 0);
    w.assert_no_worker_state();
}
