//! Section `remote`: what a remote worker costs over a local one, through a
//! real OpenSSH server on 127.0.0.1 (root's own account, with a key and a
//! host key made here, and this process's own ~/.ssh: a bind mount in a
//! private mount namespace, so the operator's is never read or touched).
//!
//! Both workers are the real Claude Code CLI (tests/e2e) against the mock
//! model; the "host" is this machine, under its own HOME and worker dir.
//! Timed: status (remote over the master connection vs local, on an idle
//! worker before any CLI runs, and ssh alone for the floor) and a whole
//! converse (send, wait, reply) on the real CLIs, each a median.

use super::Bench;
use csd::mock::anthropic::{self, Config, MockAnthropic};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONVERSE_RUNS: usize = 7;

pub fn run(b: &Bench, tmp: &Path) {
    let cli = super::repo().join("tests/e2e/node_modules/.bin/claude");
    if !cli.exists() {
        println!("remote: skipped, the real Claude CLI is missing ({}): run npm ci in tests/e2e", cli.display());
        return;
    }
    let dot_ssh = private_ssh_dir(tmp);
    // The mock's thread is started after the unshare: it listens in our namespace.
    let mock = MockAnthropic::start(Config::claude());
    let tmux_label = format!("{}-remote", b.socket);
    let mut env: Vec<(String, String)> = vec![
        ("CSD_CLAUDE_BIN".into(), cli.display().to_string()),
        ("ANTHROPIC_BASE_URL".into(), mock.base_url()),
        ("ANTHROPIC_API_KEY".into(), anthropic::API_KEY.into()),
        ("IS_SANDBOX".into(), "1".into()),
        // A tmux server of its own, started inside the namespace (the
        // bench's other server is outside it, where the mock is not).
        ("CSD_TMUX_SOCKET".into(), tmux_label.clone()),
        ("LC_ALL".into(), "C".into()),
    ];
    for s in csd::harness::claude::selftest::SWITCHES {
        env.push((s.to_string(), "1".into()));
    }
    let path = format!("{}:{}", b.bins.display(), std::env::var("PATH").unwrap_or_default());
    let (rhome, rwd, project) = (tmp.join("rhome"), tmp.join("rworkers"), tmp.join("project"));
    for d in [&rhome, &rwd, &project] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    for home in [&b.home, &rhome] {
        seed_claude_home(home, &project);
    }
    let mut sshd = Sshd::start(tmp, &dot_ssh, &rhome, &rwd, &path, &env);
    let host = "bench-host";
    let csd = |args: &[&str]| {
        let mut c = Command::new(b.bins.join("csd"));
        b.env(&mut c);
        c.env("PATH", &path).args(args);
        for (k, v) in &env {
            c.env(k, v);
        }
        c
    };
    let must = |mut c: Command| {
        c.stderr(Stdio::inherit());
        assert!(c.status().unwrap().success(), "{c:?} failed");
    };
    // Whatever happens, the workers and the master connection go.
    struct Stop<'a>(&'a dyn Fn(&[&str]) -> Command);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            for w in ["lc", "rc"] {
                let _ = (self.0)(&["--worker", w, "stop"]).status();
            }
        }
    }
    let _stop = Stop(&csd);
    let link = csd::remote::ssh::Link::new(
        &csd::workerdir::WorkerDir::at(b.wd.clone()).unwrap(),
        &csd::remote::Dest::parse(host).unwrap(),
    )
    .unwrap();

    // Status first, with no CLI running to load the machine: one idle
    // worker (the bench's own pane, 100 events) here, and one on the host.
    let there = Bench { bins: b.bins.clone(), wd: rwd.clone(), home: rhome.clone(), socket: b.socket.clone() };
    b.meta_named("ls", "bw", "bench-ls", &project);
    there.meta_named("rs", "bw", "bench-rs", &project);
    for log in [b.wd.join("bench-ls.events.jsonl"), rwd.join("bench-rs.events.jsonl")] {
        super::write_log(&log, 100);
    }
    let record = serde_json::json!({"name": "rs", "host": host, "harness": "claude", "cwd": "/"});
    std::fs::write(b.wd.join("rs.remote"), record.to_string()).unwrap();
    b.report("status, local worker", b.sample(|| csd(&["--worker", "ls", "status"]), None));
    b.report("status, remote worker over ssh (loopback)", b.sample(|| csd(&["--worker", "rs", "status"]), None));
    // The floor: ssh alone, over the same master, running nothing of csd's.
    let bare = || {
        let mut c = Command::new("ssh");
        c.arg("-o").arg(format!("ControlPath={}", link.control().display()));
        c.args(["-o", "ControlMaster=no", "-T", "--", host, "true"]);
        c
    };
    b.report("  ssh over the same master, running true", b.sample(bare, None));
    b.report("list --json, one local and one remote worker", b.sample(|| csd(&["list", "--json"]), None));
    for f in [b.wd.join("rs.remote"), b.wd.join("bench-ls.meta"), rwd.join("bench-rs.meta")] {
        std::fs::remove_file(f).unwrap();
    }

    must(csd(&["launch", "lc", project.to_str().unwrap()]));
    must(csd(&["launch", "--host", host, "rc", project.to_str().unwrap()]));

    b.report(
        "status, remote real Claude Code worker (CLIs running)",
        b.sample(|| csd(&["--worker", "rc", "status"]), None),
    );
    for (label, w) in [("converse, local worker (real Claude Code)", "lc"), ("converse, remote worker over ssh", "rc")]
    {
        let s = b.sample_n(|| csd(&["--worker", w, "converse", "say hello", "60"]), None, CONVERSE_RUNS);
        b.report(&format!("{label}, median of {CONVERSE_RUNS}"), s);
    }

    drop(_stop);
    let _ = Command::new("tmux").args(["-L", &tmux_label, "kill-server"]).status();
    let _ = link.close();
    sshd.stop();
    drop(mock);
}

/// Onboarded, the mock's key approved, the project trusted, consent given.
fn seed_claude_home(home: &Path, project: &Path) {
    let mut cfg = csd::harness::claude::selftest::home_config(anthropic::API_KEY);
    cfg["projects"] = serde_json::json!({ project.to_str().unwrap(): {"hasTrustDialogAccepted": true} });
    std::fs::write(home.join(".claude.json"), cfg.to_string()).unwrap();
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::write(home.join(".claude/.claude-session-driver-consent"), "").unwrap();
}

/// Give this process a loopback-only network and its own `<passwd
/// home>/.ssh`: a private mount namespace, and a fresh dir bound over it.
fn private_ssh_dir(tmp: &Path) -> PathBuf {
    // mount(8) runs in this thread's namespace: it is the child's too.
    let mount = |args: &[&std::ffi::OsStr]| assert!(Command::new("mount").args(args).status().unwrap().success());
    // Loopback only, as in the end-to-end tests: the CLI reaches nothing but the mock.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare: the remote bench needs root");
    assert!(Command::new("ip").args(["link", "set", "lo", "up"]).status().unwrap().success());
    mount(&["--make-rprivate".as_ref(), "/".as_ref()]);
    let home = nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().unwrap().dir;
    let target = home.join(".ssh");
    if !target.exists() {
        std::fs::create_dir_all(&target).unwrap();
    }
    let ours = tmp.join("dot-ssh");
    std::fs::create_dir(&ours).unwrap();
    std::fs::set_permissions(&ours, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    mount(&["--bind".as_ref(), ours.as_os_str(), target.as_os_str()]);
    target
}

struct Sshd {
    child: Option<Child>,
}

impl Sshd {
    fn start(tmp: &Path, dot_ssh: &Path, rhome: &Path, rwd: &Path, path: &str, env: &[(String, String)]) -> Sshd {
        let keygen = |file: &Path| {
            let st = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(file)
                .stdout(Stdio::null())
                .status()
                .expect("ssh-keygen (openssh-client) is needed");
            assert!(st.success());
        };
        let host_key = tmp.join("host_key");
        keygen(&host_key);
        keygen(&dot_ssh.join("id_ed25519"));
        std::fs::copy(dot_ssh.join("id_ed25519.pub"), tmp.join("authorized_keys")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut set_env = format!("HOME={} PATH={path} CSD_WORKER_DIR={}", rhome.display(), rwd.display());
        for (k, v) in env {
            set_env.push_str(&format!(" {k}={v}"));
        }
        let config = format!(
            "ListenAddress 127.0.0.1\nPort {port}\nHostKey {hk}\nPidFile {tmp}/sshd.pid\n\
             AuthorizedKeysFile {tmp}/authorized_keys\nStrictModes no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\nSetEnv {set_env}\n",
            hk = host_key.display(),
            tmp = tmp.display(),
        );
        std::fs::write(tmp.join("sshd_config"), config).unwrap();
        let pubkey = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
        let mut parts = pubkey.split_whitespace();
        let (kind, key) = (parts.next().unwrap(), parts.next().unwrap());
        std::fs::write(dot_ssh.join("known_hosts"), format!("[127.0.0.1]:{port} {kind} {key}\n")).unwrap();
        std::fs::write(
            dot_ssh.join("config"),
            format!(
                "Host bench-host\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {id}\n  \
                 IdentitiesOnly yes\n  UserKnownHostsFile {kh}\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
                id = dot_ssh.join("id_ed25519").display(),
                kh = dot_ssh.join("known_hosts").display(),
            ),
        )
        .unwrap();
        let _ = std::fs::create_dir_all("/run/sshd");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(tmp.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.join("sshd.log")).unwrap())
            .spawn()
            .expect("/usr/sbin/sshd (openssh-server) is needed");
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "sshd did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Sshd { child: Some(child) }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}
