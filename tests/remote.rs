//! Remote workers over OpenSSH, end to end: a real sshd on 127.0.0.1 in the
//! test's loopback-only namespace, a second local user as the host (its own
//! HOME, worker dir and tmux; tests/common/sshd.rs), the test's own ~/.ssh,
//! and the real csd binaries on both sides. The fake Claude Code drives the
//! edge cases; the real Claude Code CLI against the mock proves the flow.

mod common;

use common::sshd::*;
use common::world::World;
use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The controller: a fake-harness world (for local workers), whose worker
/// dir keeps the remote workers' records.
struct Rig {
    w: World,
    host: RemoteHost,
    ssh: SshDir,
}

impl Rig {
    fn new(opts: RemoteOpts) -> Rig {
        isolate_network();
        let ssh = private_ssh_dir();
        let host = RemoteHost::start(&ssh, opts);
        Rig { w: World::new(), host, ssh }
    }

    /// With the fake Claude Code on the host.
    fn fake() -> Rig {
        Rig::new(RemoteOpts { env: fake_env(), harness: HostHarness::Fake, ..Default::default() })
    }

    fn csd(&self, args: &[&str]) -> Output {
        self.w.cmd("csd").args(args).output().unwrap()
    }

    fn csd_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        self.w.env.run_stdin("csd", args, input)
    }

    fn launch_remote(&self, name: &str) -> PathBuf {
        let cwd = self.host.home();
        let o = self.csd(&["launch", "--host", self.host.dest(), name, cwd.to_str().unwrap()]);
        assert_code(&o, 0);
        PathBuf::from(stdout(&o).trim())
    }

    /// `csd-status --list --json` on the host, as its user.
    fn host_list(&self) -> Vec<Value> {
        let o = self.host.run_as_user(&["csd-status", "--list", "--json", "--all"]);
        serde_json::from_str(&stdout(&o)).unwrap_or_default()
    }

    /// The host user's csd processes (what a call ran there), by argv[0].
    fn host_csd_processes(&self) -> Vec<String> {
        self.host_processes().into_iter().filter(|c| c.rsplit('/').next().unwrap_or("").starts_with("csd")).collect()
    }

    /// Every process of the host's user, as its command line.
    fn host_processes(&self) -> Vec<String> {
        self.host
            .processes()
            .into_iter()
            .filter_map(|p| std::fs::read(format!("/proc/{p}/cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).split('\0').next().unwrap_or("").to_string())
            .collect()
    }

    /// The ssh master of this controller to the host, ended (as a test's
    /// end must leave no process).
    fn close_master(&self) {
        let _ = self.csd(&["--version"]);
        let ctl = self.w.env.worker_dir.join("ssh");
        for e in std::fs::read_dir(&ctl).into_iter().flatten().flatten() {
            let p = e.path();
            if p.extension().is_none() {
                let _ = Command::new("ssh")
                    .arg("-o")
                    .arg(format!("ControlPath={}", p.display()))
                    .args(["-O", "exit", "--", self.host.dest()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.close_master();
    }
}

/// `csd remote-call` on the host with a hand-made request: as a controller
/// of another version, or a hostile one, would send it.
fn raw_call(dest: &str, request: &str) -> Output {
    let mut c = Command::new("ssh")
        .args(["--", dest, "csd", "remote-call"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), request.as_bytes()).unwrap();
    drop(c.stdin.take());
    c.wait_with_output().unwrap()
}

fn fake_env() -> Vec<(String, String)> {
    vec![
        ("CSD_START_TIMEOUT_MS".to_string(), "10000".to_string()),
        ("CSD_SUBMIT_RETRY_INTERVAL".to_string(), "0.5".to_string()),
    ]
}

#[test]
fn a_remote_worker_answers_every_per_worker_command_as_a_local_one_does() {
    let r = Rig::fake();
    let shim = r.launch_remote("rw");
    // Here: a record and the shim, no meta; there: the worker.
    assert!(shim.exists() && shim.ends_with("bin/rw"), "{}", shim.display());
    let record: Value = serde_json::from_slice(&std::fs::read(r.w.env.worker_dir.join("rw.remote")).unwrap()).unwrap();
    assert_eq!(record["host"], r.host.dest());
    assert!(r.w.metas().is_empty(), "a remote worker has no meta here");
    let there = r.host_list();
    assert_eq!(there.len(), 1, "{there:?}");
    assert_eq!(there[0]["name"], "rw");
    let sid = there[0]["session_id"].as_str().unwrap().to_string();

    let via_shim = Command::new(&shim).arg("status").env("CSD_WORKER_DIR", &r.w.env.worker_dir).output().unwrap();
    assert_code(&via_shim, 0);
    assert_eq!(stdout(&via_shim), "idle\n");
    let o = r.csd(&["--worker", "rw", "session-id"]);
    assert_eq!(stdout(&o).trim(), sid);
    let o = r.csd(&["--worker", "rw", "events-file"]);
    assert!(stdout(&o).trim().starts_with(r.host.worker_dir().to_str().unwrap()), "{}", stdout(&o));

    // Any bytes, any size: quotes, a command substitution, newlines, and
    // 200 KB, on stdin, never on the host's command line.
    let tricky = "it's \"$(touch /tmp/csd-remote-pwned)\" `id`; echo \\$HOME\nline two\t\u{e9}";
    let o = r.csd(&["--worker", "rw", "converse", tricky, "30"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("$(touch /tmp/csd-remote-pwned)"), "{}", stdout(&o));
    assert!(!Path::new("/tmp/csd-remote-pwned").exists(), "the prompt ran in a shell");
    let turn = stdout(&r.csd(&["--worker", "rw", "read-turn"]));
    assert!(turn.contains(tricky), "the prompt did not arrive byte for byte:\n{turn}");
    let big = "x".repeat(200_000);
    let o = r.csd_stdin(&["--worker", "rw", "converse", "-", "30"], big.as_bytes());
    assert_code(&o, 0);
    assert!(stdout(&o).contains(&"x".repeat(1000)), "the big prompt did not come back");

    // Exit codes pass through: a wait that times out is 124, as here.
    let o = r.csd(&["--worker", "rw", "send", "sleep:3"]);
    assert_code(&o, 0);
    let o = r.csd(&["--worker", "rw", "wait-for-turn", "0.5"]);
    assert_code(&o, 124);
    assert_eq!(stdout(&r.csd(&["--worker", "rw", "status"])), "working\n");
    // The wait wakes on the host when the turn ends.
    let o = r.csd(&["--worker", "rw", "wait-for-turn", "20"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("\"stop\""), "{}", stdout(&o));
    let o = r.csd(&["--worker", "nobody", "status"]);
    assert_code(&o, 3);

    // read-events --follow streams, line by line, as the host's log grows.
    let mut follow =
        r.w.cmd("csd").args(["--worker", "rw", "read-events", "--follow"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let backlog = lines.next().unwrap().unwrap();
    assert!(backlog.contains("session_start"), "{backlog}");
    assert_code(&r.csd(&["--worker", "rw", "send", "say hi"]), 0);
    let started = Instant::now();
    let mut saw_stop = 0;
    for line in lines.by_ref() {
        if line.unwrap().contains("\"stop\"") {
            saw_stop += 1;
            if saw_stop == 4 {
                break;
            }
        }
    }
    assert_eq!(saw_stop, 4, "the followed stream ended early");
    assert!(started.elapsed() < Duration::from_secs(20));
    follow.kill().unwrap();
    follow.wait().unwrap();
    // Its reader gone, the host ends what it ran for it.
    let left = eventually(Duration::from_secs(8), || r.host_csd_processes().is_empty().then_some(()));
    assert!(left.is_some(), "left running on the host: {:?}", r.host_csd_processes());

    let o = r.csd(&["--worker", "rw", "handoff"]);
    assert_code(&o, 0);
    let text = stdout(&o);
    let line = text.lines().find(|l| l.contains("ssh -t")).unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(&format!("ssh -t -- {} tmux -S ", r.host.dest())) && line.ends_with("attach -t =rw"),
        "{line}"
    );

    let o = r.csd(&["--worker", "rw", "stop"]);
    assert_code(&o, 0);
    assert!(!shim.exists() && !r.w.env.worker_dir.join("rw.remote").exists());
    assert!(r.host_list().is_empty(), "the host still has {:?}", r.host_list());
    assert_code(&r.csd(&["--worker", "rw", "status"]), 3);

    // After a reboot of the host's /tmp: the session comes back by its id,
    // with its history (adopt --host).
    let cwd = r.host.home();
    let o = r.csd(&["adopt", "--host", r.host.dest(), "rw", cwd.to_str().unwrap(), &sid]);
    assert_code(&o, 0);
    assert_eq!(r.host_list()[0]["session_id"], sid.as_str());
    let turn = stdout(&r.csd(&["--worker", "rw", "read-turn"]));
    assert!(turn.contains("say hi"), "the adopted worker lost its history:\n{turn}");
    assert_code(&r.csd(&["--worker", "rw", "converse", "after adopt", "20"]), 0);
    assert_code(&r.csd(&["--worker", "rw", "stop"]), 0);
}

#[test]
fn list_spans_hosts_and_a_host_that_does_not_answer_is_unreachable_never_gone() {
    let mut r = Rig::fake();
    r.w.up("here", &[]);
    r.launch_remote("there");
    let o = r.csd(&["list"]);
    assert_code(&o, 0);
    let table = stdout(&o);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().ends_with("\tTOOL\tTOKENS\tHOST"), "{table}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    let row = |n: &str| rows.iter().find(|r| r[2] == n).unwrap_or_else(|| panic!("{n} missing:\n{table}")).clone();
    assert_eq!(row("here")[8], "-");
    assert_eq!(row("there")[8], r.host.dest());
    assert_eq!(row("there")[0], "idle");
    let json: Vec<Value> = serde_json::from_str(&stdout(&r.csd(&["list", "--json"]))).unwrap();
    assert!(json.iter().any(|v| v["name"] == "there" && v["host"] == r.host.dest() && v["status"] == "idle"));

    // A second host; then the first goes away (sshd and every connection of it).
    let other =
        RemoteHost::start(&r.ssh, RemoteOpts { env: fake_env(), harness: HostHarness::Fake, ..Default::default() });
    let o = r.csd(&["launch", "--host", other.dest(), "yonder", other.home().to_str().unwrap()]);
    assert_code(&o, 0);
    r.host.stop_sshd();
    let o = r.csd(&["list"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains(&format!("host '{}' is unreachable", r.host.dest())), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.lines().any(|l| l.starts_with("unreachable\t") && l.contains("\tthere\t")), "{table}");
    assert!(table.lines().any(|l| l.starts_with("idle\t") && l.contains("\there\t")), "{table}");
    assert!(
        table.lines().any(|l| l.starts_with("idle\t") && l.contains("\tyonder\t") && l.ends_with(other.dest())),
        "{table}"
    );
    assert_code(&r.csd(&["--worker", "yonder", "stop"]), 0);
    drop(other);
    let o = r.csd(&["prune"]);
    assert_code(&o, 1);
    let o = r.csd(&["--worker", "there", "stop"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("could not connect to host"), "{}", stderr(&o));
    let o = r.csd(&["--worker", "there", "status"]);
    assert_code(&o, 1);
    assert!(r.w.env.worker_dir.join("there.remote").exists(), "a host that did not answer cost a record");
    assert!(r.w.env.worker_dir.join("bin/there").exists());

    // Back: the same worker, reached again (a new master connection).
    r.host.start_sshd();
    let o = r.csd(&["--worker", "there", "status"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "idle\n");
    // Gone there (its state removed on the host): prune here forgets it.
    let o = r.host.run_as_user(&["csd-stop", "there"]);
    assert_code(&o, 0);
    let o = r.csd(&["list", "--all"]);
    assert!(stdout(&o).lines().any(|l| l.starts_with("gone\t") && l.contains("\tthere\t")), "{}", stdout(&o));
    let o = r.csd(&["prune"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("there (on "), "{}", stdout(&o));
    assert!(!r.w.env.worker_dir.join("there.remote").exists());
    assert_code(&r.csd(&["--worker", "here", "stop"]), 0);
}

#[test]
fn fleet_waits_and_the_merged_event_stream_span_hosts() {
    let r = Rig::fake();
    r.w.up("l1", &[]);
    r.launch_remote("r1");
    r.launch_remote("r2");
    for (w, p) in [("r1", "sleep:3"), ("l1", "sleep:2"), ("r2", "sleep:1")] {
        assert_code(&r.csd(&["--worker", w, "send", p]), 0);
    }
    let mut wait =
        r.w.cmd("csd-wait").args(["--all", "r1", "l1", "r2", "-t", "30"]).stdout(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    let mut order = Vec::new();
    for line in BufReader::new(wait.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        order.push((line.clone(), started.elapsed()));
    }
    assert_eq!(wait.wait().unwrap().code(), Some(0));
    let names: Vec<&str> = order.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(names, ["r2\tidle", "l1\tidle", "r1\tidle"], "{order:?}");
    // Each line as its worker finished, not all at the end.
    assert!(order[0].1 < order[2].1 - Duration::from_millis(800), "{order:?}");

    assert_code(&r.csd(&["--worker", "r1", "send", "sleep:2"]), 0);
    let o = r.w.cmd("csd-wait").args(["--any", "r1", "l1", "-t", "10"]).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "l1\tidle\n");

    let o = r.w.cmd("csd-events").args(["--all", "--type", "stop"]).output().unwrap();
    assert_code(&o, 0);
    let lines: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for w in ["l1", "r1", "r2"] {
        assert!(lines.iter().any(|v| v["worker"] == w), "{w} missing: {lines:?}");
    }
    assert!(lines.iter().filter(|v| v["worker"] != "l1").all(|v| v["host"] == r.host.dest()), "{lines:?}");
    assert!(lines.iter().filter(|v| v["worker"] == "l1").all(|v| v.get("host").is_none()), "{lines:?}");
    let ts: Vec<&str> = lines.iter().map(|v| v["ts"].as_str().unwrap()).collect();
    assert!(ts.windows(2).all(|p| p[0] <= p[1]), "not in time order: {ts:?}");
    assert_code(&r.w.cmd("csd-wait").args(["--all", "r1", "-t", "10"]).output().unwrap(), 0);
    for w in ["l1", "r1", "r2"] {
        assert_code(&r.csd(&["--worker", w, "stop"]), 0);
    }
}

#[test]
fn a_hostile_host_is_refused_before_ssh_and_ssh_failures_change_nothing_here() {
    let r = Rig::fake();
    let cwd = r.host.home();
    let before = files_under(&r.w.env.worker_dir);
    for dest in ["-oProxyCommand=touch /tmp/csd-proxy-pwned", "-p22", "a;b", "host name", "x\ny", "ssh://-oFoo@h"] {
        let o = r.csd(&["launch", "--host", dest, "w", cwd.to_str().unwrap()]);
        assert_code(&o, 2);
        assert!(stderr(&o).contains("invalid host"), "{}", stderr(&o));
    }
    assert!(!Path::new("/tmp/csd-proxy-pwned").exists());
    assert_eq!(files_under(&r.w.env.worker_dir), before);
    // A planted record that names such a host is an error, never a connection.
    let planted = r.w.env.worker_dir.join("evil.remote");
    let record = serde_json::json!({"name": "evil", "host": "-oProxyCommand=touch /tmp/csd-proxy-pwned",
                                    "harness": "claude", "cwd": "/"});
    std::fs::write(&planted, record.to_string()).unwrap();
    let o = r.csd(&["--worker", "evil", "status"]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("does not hold up"), "{}", stderr(&o));
    let o = r.csd(&["list"]);
    assert!(stderr(&o).contains("skipping evil.remote"), "{}", stderr(&o));
    assert!(!Path::new("/tmp/csd-proxy-pwned").exists());
    std::fs::remove_file(&planted).unwrap();

    // A host key that does not match: ssh's own words, status 1, no record.
    let o = r.csd(&["launch", "--host", &r.host.dest_wrong_key(), "w", cwd.to_str().unwrap()]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("Host key verification failed"), "{}", stderr(&o));
    assert!(!r.w.env.worker_dir.join("w.remote").exists() && !r.w.env.worker_dir.join("bin/w").exists());
    assert!(r.host_list().is_empty());

    // The name is one name across machines.
    r.w.up("taken", &[]);
    let o = r.csd(&["launch", "--host", r.host.dest(), "taken", cwd.to_str().unwrap()]);
    assert_code(&o, 1);
    r.launch_remote("far");
    let o = r.w.launch("far", &[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("runs on host"), "{}", stderr(&o));

    // A host whose csd is another version: a warning (the request says
    // which version the controller runs).
    let header = format!(
        "{{\"csd_remote\":1,\"version\":\"0.0.1\",\"host\":\"{}\",\"argv\":[\"csd-status\",\"far\"],\"stdin\":0,\"check_version\":true}}\n",
        r.host.dest()
    );
    let o = raw_call(r.host.dest(), &header);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "idle\n");
    assert!(stderr(&o).contains("warning") && stderr(&o).contains("0.0.1"), "{}", stderr(&o));
    // remote-call runs only csd's per-worker binaries.
    let bad = "{\"csd_remote\":1,\"argv\":[\"/bin/sh\",\"-c\",\"id\"],\"stdin\":0}\n";
    let o = raw_call(r.host.dest(), bad);
    assert_code(&o, 2);
    assert!(stdout(&o).is_empty());
    for w in ["taken", "far"] {
        assert_code(&r.csd(&["--worker", w, "stop"]), 0);
    }
}

#[test]
fn a_host_without_csd_is_named_and_csd_remote_path_finds_it() {
    isolate_network();
    let ssh = private_ssh_dir();
    let host = RemoteHost::start(&ssh, RemoteOpts { env: fake_env(), csd_absent: true, harness: HostHarness::Fake });
    let w = World::new();
    let o = w.cmd("csd").args(["launch", "--host", host.dest(), "w", "/"]).output().unwrap();
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("host '{}' has no csd on the PATH", host.dest())) && err.contains("CSD_REMOTE_PATH"),
        "{err}"
    );
    assert!(!w.env.worker_dir.join("w.remote").exists());
    // Pointed at the csd binaries (readable by the host's user), it is found.
    let o = w.cmd("csd").args(["--worker", "w", "status"]).env("CSD_REMOTE_PATH", bin_dir()).output().unwrap();
    assert_code(&o, 3);
    let o = w.cmd("csd-status").args(["--list"]).env("CSD_REMOTE_PATH", "relative/dir").output().unwrap();
    assert_code(&o, 0);
    let rig = Rig { w, host, ssh };
    drop(rig);
}

#[test]
fn the_host_dropping_mid_converse_is_exit_1_and_the_worker_is_still_there() {
    let mut r = Rig::fake();
    r.launch_remote("rw");
    let conv =
        r.w.cmd("csd")
            .args(["--worker", "rw", "converse", "sleep:4", "30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    // Once the turn runs there, the host drops.
    let working = eventually(Duration::from_secs(10), || {
        (stdout(&r.host.run_as_user(&["csd-status", "rw"])) == "working\n").then_some(())
    });
    assert!(working.is_some());
    r.host.stop_sshd();
    let o = conv.wait_with_output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains(&format!("lost the connection to host '{}'", r.host.dest())), "{}", stderr(&o));
    // The host ended its side of the converse; the worker itself runs on.
    let left = eventually(Duration::from_secs(8), || r.host_csd_processes().is_empty().then_some(()));
    assert!(left.is_some(), "left on the host: {:?}", r.host_csd_processes());
    r.host.start_sshd();
    let o = r.csd(&["--worker", "rw", "wait-for-turn", "20"]);
    assert!(o.status.code() == Some(0) || stdout(&r.csd(&["--worker", "rw", "status"])) == "idle\n", "{}", stderr(&o));
    let o = r.csd(&["--worker", "rw", "converse", "say: back again", "20"]);
    assert_code(&o, 0);

    // A fleet wait whose host drops: its workers are unreachable, at once.
    r.w.up("here", &[]);
    assert_code(&r.csd(&["--worker", "rw", "send", "sleep:6"]), 0);
    assert_code(&r.csd(&["--worker", "here", "send", "sleep:1"]), 0);
    let wait = r.w.cmd("csd-wait").args(["--all", "rw", "here", "-t", "30"]).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let dropped = Instant::now();
    r.host.stop_sshd();
    let o = wait.wait_with_output().unwrap();
    assert!(dropped.elapsed() < Duration::from_secs(5), "the wait sat out the host's turn");
    assert_code(&o, 1);
    let mut lines: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    lines.sort();
    assert_eq!(lines, ["here\tidle", "rw\tunreachable"]);
    r.host.start_sshd();
    assert_code(&r.csd(&["--worker", "rw", "wait-for-turn", "20"]), 0);
    assert_code(&r.csd(&["--worker", "here", "stop"]), 0);
    assert_code(&r.csd(&["--worker", "rw", "stop"]), 0);
}

/// The real Claude Code CLI on the host, against the mock model: launch,
/// converse with a tool call, read-turn, read-events --follow, list beside
/// a local worker, stop.
#[test]
fn a_real_claude_worker_on_a_remote_host_from_launch_to_stop() {
    use csd::mock::anthropic::{self, Config, MockAnthropic};
    isolate_network();
    let ssh = private_ssh_dir();
    let mock = MockAnthropic::start(Config::claude());
    let mut env = vec![
        ("ANTHROPIC_BASE_URL".to_string(), mock.base_url()),
        ("ANTHROPIC_API_KEY".to_string(), anthropic::API_KEY.to_string()),
        ("CSD_START_TIMEOUT_MS".to_string(), "60000".to_string()),
    ];
    for s in csd::harness::claude::selftest::SWITCHES {
        env.push((s.to_string(), "1".to_string()));
    }
    let host = RemoteHost::start(&ssh, RemoteOpts { env, harness: HostHarness::RealClaude, ..Default::default() });
    let home_cfg = host.home().join(".claude.json");
    std::fs::write(&home_cfg, csd::harness::claude::selftest::home_config(anthropic::API_KEY).to_string()).unwrap();
    nix::unistd::chown(&home_cfg, Some(nix::unistd::Uid::from_raw(host.uid())), None).unwrap();
    let project = host.home().join("project");
    assert_code(&host.run_as_user(&["mkdir", project.to_str().unwrap()]), 0);
    let r = Rig { w: World::new(), host, ssh };
    r.w.up("local", &[]);

    let o = r.csd(&["launch", "--host", r.host.dest(), "claude1", project.to_str().unwrap()]);
    if o.status.code() != Some(0) {
        panic!("remote launch failed: {}\nsshd log:\n{}", stderr(&o), r.host.sshd_log());
    }
    let mut follow =
        r.w.cmd("csd").args(["--worker", "claude1", "read-events", "--follow"]).stdout(Stdio::piped()).spawn().unwrap();
    let follow_out = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(follow_out).lines().map_while(|l| l.ok()) {
            let end = line.contains("\"stop\"");
            seen.push(line);
            if end {
                break;
            }
        }
        seen
    });
    let prompt = "Please run this command for me.\nrun: echo csd-remote-$((6 * 7))";
    let o = r.csd(&["--worker", "claude1", "converse", prompt, "90"]);
    assert_code(&o, 0);
    let reply = stdout(&o);
    assert!(reply.contains(anthropic::TOOL_OUTPUT_PREFIX) && reply.contains("csd-remote-42"), "reply: {reply}");
    let turn = stdout(&r.csd(&["--worker", "claude1", "read-turn"]));
    assert!(turn.contains("Bash") && turn.contains("csd-remote-42"), "{turn}");
    let seen = reader.join().unwrap();
    follow.kill().unwrap();
    follow.wait().unwrap();
    let kinds: Vec<String> = seen
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| v["event"].as_str().unwrap_or("").to_string())
        .collect();
    for k in ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"] {
        assert!(kinds.iter().any(|x| x == k), "{k} not streamed: {kinds:?}");
    }
    let list: Vec<Value> = serde_json::from_str(&stdout(&r.csd(&["list", "--json"]))).unwrap();
    let claude1 = list.iter().find(|v| v["name"] == "claude1").expect("claude1 listed");
    assert_eq!(claude1["host"], r.host.dest());
    assert_eq!(claude1["status"], "idle");
    assert!(claude1["tokens"]["output"].as_u64().unwrap_or(0) > 0, "{claude1}");
    assert!(list.iter().any(|v| v["name"] == "local" && v["host"].is_null()));
    assert_code(&r.csd(&["--worker", "claude1", "stop"]), 0);
    assert_code(&r.csd(&["--worker", "local", "stop"]), 0);
    // The master connection's sshd process is the host user's too.
    r.close_master();
    let gone = eventually(Duration::from_secs(10), || r.host.processes().is_empty().then_some(()));
    assert!(gone.is_some(), "left on the host after stop: {:?}", r.host_processes());
    drop(mock);
}

/// The record keeps the id the host gave the worker, and every call asks the
/// host to check it: after ours went there, a worker that took its name
/// (launched on the host by someone else) is never driven or stopped as ours.
#[test]
fn a_worker_that_took_the_name_on_the_host_is_never_taken_for_ours() {
    let r = Rig::fake();
    r.launch_remote("rw");
    let record: Value = serde_json::from_slice(&std::fs::read(r.w.env.worker_dir.join("rw.remote")).unwrap()).unwrap();
    let ours = record["csd_id"].as_str().expect("the record keeps the host's id").to_string();
    assert_eq!(r.host_list()[0]["csd_id"], ours.as_str());
    // On the host, behind the controller's back: ours stopped, another launched under the name.
    assert_code(&r.host.run_as_user(&["csd-stop", "rw"]), 0);
    assert_code(&r.host.run_as_user(&["csd-launch", "rw", r.host.home().to_str().unwrap()]), 0);
    let theirs = r.host_list()[0]["csd_id"].as_str().unwrap().to_string();
    assert_ne!(theirs, ours);

    let o = r.csd(&["--worker", "rw", "status"]);
    assert_code(&o, 3);
    assert!(stderr(&o).contains("not the one the controller launched"), "{}", stderr(&o));
    assert_code(&r.csd(&["--worker", "rw", "send", "not for you"]), 3);
    let o = r.csd(&["list", "--all"]);
    assert!(stdout(&o).lines().any(|l| l.starts_with("gone\t") && l.contains("\trw\t")), "{}", stdout(&o));
    let o = r.w.cmd("csd-wait").args(["--all", "rw", "-t", "5"]).output().unwrap();
    assert_code(&o, 3);
    // Stopping ours forgets it here and leaves theirs running there.
    let o = r.csd(&["--worker", "rw", "stop"]);
    assert_code(&o, 0);
    assert!(!r.w.env.worker_dir.join("rw.remote").exists());
    let there = r.host_list();
    assert_eq!(
        (there.len(), there[0]["csd_id"].as_str(), there[0]["status"].as_str()),
        (1, Some(theirs.as_str()), Some("idle"))
    );
    assert_code(&r.host.run_as_user(&["csd-stop", "rw"]), 0);
}

/// Ctrl-C at the controller mid-converse: csd dies of the signal, the host
/// ends what it ran for the call (the connection's stdin closed), and the
/// worker itself goes on with its turn.
#[test]
fn an_interrupted_controller_leaves_nothing_of_its_call_on_the_host() {
    use std::os::unix::process::ExitStatusExt;
    let r = Rig::fake();
    r.launch_remote("rw");
    let conv =
        r.w.cmd("csd").args(["--worker", "rw", "converse", "sleep:4", "30"]).stderr(Stdio::piped()).spawn().unwrap();
    let working = eventually(Duration::from_secs(10), || {
        (stdout(&r.host.run_as_user(&["csd-status", "rw"])) == "working\n").then_some(())
    });
    assert!(working.is_some());
    assert!(!r.host_csd_processes().is_empty(), "the converse should be running on the host");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(conv.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let o = conv.wait_with_output().unwrap();
    assert_eq!(o.status.signal(), Some(2), "{:?} {}", o.status, stderr(&o));
    let left = eventually(Duration::from_secs(8), || r.host_csd_processes().is_empty().then_some(()));
    assert!(left.is_some(), "left on the host: {:?}", r.host_csd_processes());
    assert_code(&r.csd(&["--worker", "rw", "wait-for-turn", "20"]), 0);

    // A reader that goes away (`| head -1`) ends a remote follow at once and
    // quietly, with no new event to write needed, and nothing left there.
    let mut follow =
        r.w.cmd("csd")
            .args(["--worker", "rw", "read-events", "--follow"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    assert!(lines.next().unwrap().unwrap().contains("session_start"));
    drop(lines);
    let ended = eventually(Duration::from_secs(5), || follow.try_wait().unwrap());
    let Some(status) = ended else {
        follow.kill().unwrap();
        panic!("a remote follow outlived its reader");
    };
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut follow.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.is_empty(), "{err}");
    let left = eventually(Duration::from_secs(8), || r.host_csd_processes().is_empty().then_some(()));
    assert!(left.is_some(), "left on the host: {:?}", r.host_csd_processes());
    assert_code(&r.csd(&["--worker", "rw", "stop"]), 0);
}

#[test]
fn a_remote_workers_verdict_crosses_ssh_with_its_exit_status() {
    let r = Rig::fake();
    r.w.up("l1", &[]);
    r.launch_remote("r1");
    assert_code(&r.csd(&["--worker", "r1", "send", "hang"]), 0);
    // The host's log gets the failed stop its harness's hook would write.
    let meta = std::fs::read_dir(r.host.worker_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "meta"))
        .expect("the host keeps the worker's meta");
    let sid = meta.file_stem().unwrap().to_str().unwrap().to_string();
    let log = r.host.worker_dir().join(format!("{sid}.events.jsonl"));
    let line = serde_json::json!({"event": "stop", "ts": "2026-12-06T03:00:00Z", "reason": "failed",
        "error": {"kind": "overloaded", "message": "Overloaded", "status": 529}});
    let mut wait =
        r.w.cmd("csd-wait").args(["r1", "20"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, format!("{line}\n").as_bytes()).unwrap();
    let landed = Instant::now();
    let status = wait.wait().unwrap();
    eprintln!("the remote wait returned {:?} after the stop landed", landed.elapsed());
    assert_eq!(status.code(), Some(5));
    let mut err = String::new();
    std::io::Read::read_to_string(wait.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("its turn failed: overloaded (HTTP 529)"), "{err}");
    let row: Value = serde_json::from_slice(&r.csd(&["--worker", "r1", "status", "--json"]).stdout).unwrap();
    assert_eq!(row["last_turn"]["verdict"], "failed");
    // A fleet wait across the host and here: the line says why, the status
    // is the failure's.
    let o = r.w.cmd("csd-wait").args(["--all", "r1", "l1", "-t", "10"]).output().unwrap();
    assert_code(&o, 5);
    assert!(stdout(&o).contains("r1\tfailed\tworker 'r1': its turn failed: overloaded"), "{}", stdout(&o));
    assert!(stdout(&o).contains("l1\tidle\n"), "{}", stdout(&o));
    let o = r.w.cmd("csd-wait").args(["--any", "r1", "-t", "10"]).output().unwrap();
    assert_code(&o, 5);
    let list: Vec<Value> = serde_json::from_slice(&r.csd(&["list", "--json"]).stdout).unwrap();
    let r1 = list.iter().find(|v| v["name"] == "r1").unwrap();
    assert_eq!(r1["last_turn"]["error"]["kind"], "overloaded");
    for w in ["l1", "r1"] {
        assert_code(&r.csd(&["--worker", w, "stop"]), 0);
    }
}
