//! The remote host of the remote-worker tests (tests/common/sshd.rs), proved
//! on its own: a real sshd on 127.0.0.1 in the test's own network namespace,
//! a second local user behind it, and the test's own ~/.ssh. Needs root.

mod common;

use common::sshd::*;
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn ssh(args: &[&str]) -> Output {
    Command::new("ssh").args(args).stdin(Stdio::null()).output().unwrap()
}

fn env_of(o: &Output) -> BTreeMap<String, String> {
    stdout(o).lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The names in `dir` as another mount namespace, the process's main
/// thread's, sees it.
fn seen_outside(dir: &Path) -> Option<Vec<String>> {
    let pid = std::process::id();
    let outside = PathBuf::from(format!("/proc/{pid}/task/{pid}/root")).join(dir.strip_prefix("/").unwrap());
    let mut names: Vec<String> =
        std::fs::read_dir(outside).ok()?.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    Some(names)
}

#[test]
fn the_private_ssh_dir_is_this_threads_own() {
    let real = passwd_ssh_dir();
    let before = seen_outside(&real);
    isolate_network();
    let dir = private_ssh_dir();
    assert_eq!(dir.mount_point(), real);
    // The real ~/.ssh as it was (or, where there was none, the empty mount point).
    let after = seen_outside(&real).expect("the mount point outside");
    assert_eq!(after, before.unwrap_or_default());
    let before = seen_outside(&real).unwrap();
    assert_eq!(std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777, 0o700);

    std::fs::write(dir.join("config"), "Host mine\n    Port 2345\n").unwrap();
    assert_eq!(std::fs::read_to_string(real.join("config")).unwrap(), "Host mine\n    Port 2345\n");
    // The ssh client reads it (from the passwd home, whatever HOME says).
    let o = Command::new("ssh").args(["-G", "mine"]).env("HOME", "/nonexistent").output().unwrap();
    assert_code(&o, 0);
    assert!(stdout(&o).lines().any(|l| l == "port 2345"), "{}", stdout(&o));
    assert_eq!(seen_outside(&real).unwrap(), before, "the real ~/.ssh changed");
    // A thread spawned from this one (as a helper thread of a test would be) shares it.
    let real2 = real.clone();
    let other = std::thread::spawn(move || real2.join("config").exists());
    assert!(other.join().unwrap(), "a thread spawned from this one sees the private dir");

    let tmp = dir.path().to_path_buf();
    drop(dir);
    assert!(!tmp.exists(), "the temp dir is removed");
    assert!(!real.join("config").exists(), "unmounted on drop");
    assert_eq!(seen_outside(&real).unwrap(), before);
}

#[test]
fn the_host_logs_the_user_in_with_its_environment_and_csd() {
    isolate_network();
    let dir = private_ssh_dir();
    let extra = ("CSD_TEST_EXTRA".to_string(), "two words".to_string());
    let host = RemoteHost::start(&dir, RemoteOpts { env: vec![extra], ..Default::default() });
    let log = || host.sshd_log();

    // sshd's SetEnv overrides the HOME and PATH sshd itself sets.
    let o = host.ssh(&["env"]);
    assert_code(&o, 0);
    let env = env_of(&o);
    let want = |k: &str| host.env().iter().find(|(n, _)| n == k).unwrap().1.clone();
    for k in ["HOME", "PATH", "CSD_WORKER_DIR", "TMUX_TMPDIR", "LC_ALL", "TZ", "CSD_TEST_EXTRA"] {
        assert_eq!(env.get(k), Some(&want(k)), "{k} in\n{}\n{}", stdout(&o), log());
    }
    assert_eq!(env["HOME"], host.home().to_str().unwrap());
    assert_eq!(env["CSD_WORKER_DIR"], host.worker_dir().to_str().unwrap());
    assert_eq!(env["CSD_TEST_EXTRA"], "two words");
    assert!(env["PATH"].starts_with(&format!("{}:", host.bin_dir().display())), "{}", env["PATH"]);
    assert_eq!((env["USER"].as_str(), env["PWD"].as_str()), (host.user(), host.home().to_str().unwrap()));

    // The copied binaries run as the user.
    let o = host.ssh(&["command", "-v", "csd-status"]);
    assert_eq!(stdout(&o).trim(), host.bin_dir().join("csd-status").to_str().unwrap());
    let o = host.ssh(&["csd-status", "--list"]);
    assert_code(&o, 0);
    assert!(stderr(&o).contains("No workers found"), "{}", stderr(&o));
    for b in ["csd", "csd-launch", "csd-send", "csd-wait", "csd-events", "csd-turn", "csd-stop", "csd-hook"] {
        assert!(host.bin_dir().join(b).is_file(), "{b} missing");
    }

    // The raw destinations work too: the key and known_hosts are the ssh dir's defaults.
    let port = host.port().to_string();
    assert_code(&ssh(&["-p", &port, "--", &host.user_at_ip(), "true"]), 0);
    assert_code(&ssh(&["--", &host.ssh_url(), "true"]), 0);

    // A host key that is not the pinned one: refused before logging in.
    let o = ssh(&["--", &host.dest_wrong_key(), "true"]);
    assert_code(&o, 255);
    assert!(stderr(&o).contains("Host key verification failed"), "{}", stderr(&o));
    assert!(stderr(&o).contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "{}", stderr(&o));

    // The remote side, looked at directly.
    let o = host.run_as_user(&["sh", "-c", "id -un; pwd; echo $CSD_WORKER_DIR; echo $CSD_TEST_EXTRA"]);
    assert_code(&o, 0);
    let want = format!("{}\n{}\n{}\ntwo words\n", host.user(), host.home().display(), host.worker_dir().display());
    assert_eq!(stdout(&o), want);
    let consent = host.home().join(".claude/.claude-session-driver-consent");
    for (p, mode) in [(host.worker_dir(), 0o700), (host.tmux_tmpdir(), 0o700), (host.home(), 0o700)] {
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!((m.uid(), m.mode() & 0o777), (host.uid(), mode), "{}", p.display());
    }
    assert_eq!(std::fs::metadata(&consent).unwrap().uid(), host.uid());
    let fake = host.fake_claude();
    let fake = fake.to_str().unwrap();
    let payloads = host.fake_claude().parent().unwrap().parent().unwrap().join("fixtures/hook-payloads.jsonl");
    let o = host.run_as_user(&["sh", "-c", &format!("test -x {fake} && test -r {}", payloads.display())]);
    assert_code(&o, 0);
    let o = host.run_as_user(&["python3", "-c", &format!("import ast; ast.parse(open('{fake}').read())")]);
    assert_code(&o, 0);

    // A remote tmux server of the user's own, under its TMUX_TMPDIR.
    assert_code(&host.ssh(&["tmux", "new-session", "-d", "-s", "w", "sleep", "1000"]), 0);
    let o = host.run_as_user(&["tmux", "list-sessions", "-F", "#{session_name} #{socket_path}"]);
    assert_code(&o, 0);
    let socket = host.tmux_tmpdir().join(format!("tmux-{}/default", host.uid()));
    assert_eq!(stdout(&o), format!("w {}\n", socket.display()));
}

#[test]
fn a_host_without_csd_has_none_on_its_path() {
    isolate_network();
    let dir = private_ssh_dir();
    let host = RemoteHost::start(&dir, RemoteOpts { csd_absent: true, ..Default::default() });
    let o = host.ssh(&["csd-status", "--list"]);
    assert_code(&o, 127);
    assert!(stderr(&o).contains("csd-status: command not found"), "{}", stderr(&o));
    assert!(host.fake_claude().is_file());
}

#[test]
fn the_host_goes_away_and_comes_back_with_a_control_master() {
    isolate_network();
    let dir = private_ssh_dir();
    let mut host = RemoteHost::start(&dir, RemoteOpts::default());
    let cm = dir.join("cm");
    std::fs::create_dir(&cm).unwrap();
    let control = format!("ControlPath={}/%C", cm.display());
    let dest = host.dest().to_string();
    let master = |host: &RemoteHost| {
        let o = ssh(&["-o", "ControlMaster=yes", "-o", &control, "-o", "ControlPersist=30", "-N", "-f", "--", &dest]);
        assert_code(&o, 0);
        let o = ssh(&["-o", &control, "-O", "check", "--", &dest]);
        assert_code(&o, 0);
        let pid = stderr(&o).split("pid=").nth(1).and_then(|s| s.split(')').next()).map(|p| p.parse::<i32>().unwrap());
        let pid = pid.unwrap_or_else(|| panic!("no pid in {}\n{}", stderr(&o), host.sshd_log()));
        assert!(pid_alive(pid));
        pid
    };
    let first = master(&host);
    let o = ssh(&["-o", &control, "--", &dest, "echo", "through", "the", "master"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "through the master\n");

    // The host goes away: the master's connection with it, and new ones are refused.
    let port = host.port();
    host.stop_sshd();
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(first)).then_some(())).is_some(), "the master lives");
    assert_code(&ssh(&["-o", &control, "-O", "check", "--", &dest]), 255);
    let o = host.ssh(&["true"]);
    assert_code(&o, 255);
    assert!(stderr(&o).contains("Connection refused"), "{}", stderr(&o));

    // It comes back on the same port.
    host.start_sshd();
    assert_eq!(host.port(), port);
    assert_code(&host.ssh(&["true"]), 0);
    let second = master(&host);
    let o = ssh(&["-o", &control, "-O", "exit", "--", &dest]);
    assert_code(&o, 0);
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(second)).then_some(())).is_some(), "-O exit");
    assert_eq!(std::fs::read_dir(&cm).unwrap().count(), 0, "the control socket is left");
}

#[test]
fn two_hosts_share_one_ssh_dir() {
    isolate_network();
    let dir = private_ssh_dir();
    let a = RemoteHost::start(&dir, RemoteOpts::default());
    let b = RemoteHost::start(&dir, RemoteOpts::default());
    assert_ne!((a.dest(), a.port()), (b.dest(), b.port()));
    for h in [&a, &b] {
        let o = h.ssh(&["id", "-un"]);
        assert_code(&o, 0);
        assert_eq!(stdout(&o).trim(), h.user());
    }
}

#[test]
fn nothing_of_the_host_is_left_after_drop() {
    isolate_network();
    let dir = private_ssh_dir();
    let host = RemoteHost::start(&dir, RemoteOpts::default());
    assert_code(&host.ssh(&["tmux", "new-session", "-d", "-s", "w", "sleep", "1000"]), 0);
    assert_code(&host.ssh(&["sh -c 'sleep 1000 </dev/null >/dev/null 2>&1 &'"]), 0);
    // An open connection with a command running through it.
    let mut running = Command::new("ssh")
        .args(["--", host.dest(), "sleep", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _reap = KillOnDrop(Some(running.id() as i32));
    assert!(eventually(Duration::from_secs(10), || (host.processes().len() >= 4).then_some(())).is_some());
    let sshd_pid = {
        let pidfile = std::fs::read_to_string(host.home().join("../sshd/sshd.pid")).unwrap();
        pidfile.trim().parse::<i32>().unwrap()
    };
    let (user, uid, root) = (host.user().to_string(), host.uid(), host.home().parent().unwrap().to_path_buf());

    drop(host);
    assert!(nix::unistd::User::from_name(&user).unwrap().is_none(), "{user} still exists");
    assert_eq!(processes_of(uid), Vec::<i32>::new(), "processes of uid {uid} are left");
    // ps agrees (zombies aside: pid 1 reaps the orphans, here seconds later).
    let o = Command::new("ps").args(["-o", "pid=,stat=,comm=", "-U", &uid.to_string()]).output().unwrap();
    let live: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().filter(|l| !l.contains(" Z")).collect();
    assert_eq!(live, Vec::<&str>::new(), "ps -U {uid}");
    assert!(!pid_alive(sshd_pid), "sshd is left");
    assert!(!root.exists(), "{} is left", root.display());
    // The connection ended with the host.
    let st = running.wait().unwrap();
    assert_eq!(st.code(), Some(255), "{st}");
}

#[test]
fn the_real_claude_cli_runs_as_the_remote_user() {
    isolate_network();
    let dir = private_ssh_dir();
    let host = RemoteHost::start(&dir, RemoteOpts::default());
    // The repo's own where the user can reach it (as under /work), or a link.
    for cli in [host.claude_cli(), host.claude_cli_in_root()] {
        let o = host.ssh(&[cli.to_str().unwrap(), "--version"]);
        assert_code(&o, 0);
        assert!(stdout(&o).contains("(Claude Code)"), "{}", stdout(&o));
    }
}
