//! The test harness every integration test shares: a private worker dir, a
//! private tmux server, the real csd binaries, and (for the end-to-end tests)
//! a loopback-only network namespace.
#![allow(dead_code)]

pub mod sshd;
pub mod world;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The directory cargo put the csd binaries in.
pub fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_csd")).parent().unwrap().to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// The repository root (for fixtures and the pinned harness CLIs).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One test's world: its own worker dir, tmux server and HOME.
pub struct TestEnv {
    pub tmp: tempfile::TempDir,
    pub worker_dir: PathBuf,
    pub socket: String,
    pub home: PathBuf,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let tmp = tempfile::Builder::new().prefix("csd-test-").tempdir().unwrap();
        let worker_dir = tmp.path().join("workers");
        std::fs::create_dir(&worker_dir).unwrap();
        std::fs::set_permissions(&worker_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let socket = format!("csdt{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        TestEnv { tmp, worker_dir, socket, home }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// The full path of this world's tmux socket, as csd records it.
    pub fn socket_path(&self) -> PathBuf {
        let dir = std::env::var_os("TMUX_TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
        dir.join(format!("tmux-{}", nix::unistd::getuid())).join(&self.socket)
    }

    /// A csd binary with this world's environment.
    pub fn cmd(&self, name: &str) -> Command {
        let mut c = Command::new(bin(name));
        self.apply_env(&mut c);
        c
    }

    pub fn apply_env(&self, c: &mut Command) {
        c.env("CSD_WORKER_DIR", &self.worker_dir)
            .env("CSD_TMUX_SOCKET", &self.socket)
            .env("HOME", &self.home)
            .env("LC_ALL", "C")
            .env("TZ", "UTC")
            .env_remove("TMUX")
            .stdin(Stdio::null());
    }

    /// Run a csd binary to completion.
    pub fn run<I, S>(&self, name: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(name).args(args).output().unwrap()
    }

    /// Run a csd binary with `input` on stdin.
    pub fn run_stdin<I, S>(&self, name: &str, args: I, input: &[u8]) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        use std::io::Write;
        let mut child = self
            .cmd(name)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// tmux on this world's private server.
    pub fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-L").arg(&self.socket).env_remove("TMUX").stdin(Stdio::null());
        c
    }

    pub fn tmux_ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.tmux().args(args).output().unwrap();
        assert!(out.status.success(), "tmux failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn has_session(&self, name: &str) -> bool {
        self.tmux().args(["has-session", "-t", &format!("={name}")]).status().unwrap().success()
    }

    /// Register a worker by hand, as v4 would: meta + an unstamped tmux
    /// session running `argv`, its command line naming the session id (as
    /// v4's `claude --session-id SID` does: what proves it the worker's).
    pub fn fake_worker(&self, name: &str, sid: &str, argv: &[&str]) {
        let meta = serde_json::json!({
            "tmux_name": name, "session_id": sid, "cwd": self.path(), "harness": "claude",
            "tmux_socket": self.socket,
        });
        std::fs::write(self.worker_dir.join(format!("{sid}.meta")), meta.to_string()).unwrap();
        if !argv.is_empty() {
            // The command itself is the pane's process, its argv[0] naming the id.
            let named = format!("{} {sid}", argv[0]);
            let head = ["new-session", "-d", "-s", name, "--", "bash", "-c", "exec -a \"$0\" \"$@\"", &named];
            self.tmux_ok(head.iter().copied().chain(argv.iter().copied()));
        }
    }

    pub fn events_path(&self, sid: &str) -> PathBuf {
        self.worker_dir.join(format!("{sid}.events.jsonl"))
    }

    /// What the worker's pane shows now (for failure messages and screens).
    pub fn pane(&self, session: &str) -> String {
        let out = self.tmux().args(["capture-pane", "-p", "-t", &format!("={session}:")]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Feed a hook payload through the real csd-hook.
    pub fn hook(&self, payload: &serde_json::Value) -> Output {
        self.run_stdin("csd-hook", [] as [&str; 0], payload.to_string().as_bytes())
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").stderr(Stdio::null()).status();
        // tmux leaves the socket file of a server that was killed; a test run
        // must not leave hundreds behind in the user's tmux directory.
        let dir = std::env::var_os("TMUX_TMPDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
        let uid = nix::unistd::getuid();
        let _ = std::fs::remove_file(dir.join(format!("tmux-{uid}")).join(&self.socket));
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert an exit status, showing the output when it is wrong.
#[track_caller]
pub fn assert_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "exit status {:?}, wanted {code}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    );
}

/// Poll `f` until it returns Some or `timeout` passes (test scaffolding only).
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Move the calling thread into a new network namespace with only `lo`, up.
///
/// Everything the test then starts from this thread (the mock model server's
/// thread, csd, tmux and the harness CLI under it) inherits the namespace, so
/// a real harness CLI has no route to anything but 127.0.0.1. Needs root (CI
/// runs as root); fails the test, never skips it, when that is not possible.
pub fn isolate_network() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("unshare(CLONE_NEWNET) failed: the end-to-end tests need root to isolate the network");
    let st = Command::new("ip").args(["link", "set", "lo", "up"]).status().expect("running ip");
    assert!(st.success(), "ip link set lo up failed");
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    let links = String::from_utf8_lossy(&links.stdout);
    assert_eq!(links.lines().count(), 1, "expected only lo in the namespace, got:\n{links}");
}

/// Whether `pid` runs (a zombie has exited).
pub fn pid_alive(pid: i32) -> bool {
    csd::process::alive(pid)
}

/// Every process below `root` (not `root` itself).
pub fn descendants(root: i32) -> Vec<i32> {
    csd::process::descendants(root).into_iter().skip(1).collect()
}

/// Kills a harness CLI and everything it started on drop, so a failing test
/// leaves no process behind even if tmux's SIGHUP is not enough.
pub struct KillOnDrop(pub Option<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.filter(|p| pid_alive(*p)) {
            let mut doomed = descendants(pid);
            doomed.push(pid);
            for p in doomed {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
            }
        }
    }
}

/// Every file under `dir` (symlinks not followed), for "nothing left behind".
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `csd-status --json NAME` of an idle worker, checked against its event
/// log: `prompt_line` is the line (as `csd-wait --after-line` counts) of the
/// latest user_prompt_submit, `since` the last event's time, no `tool`; and
/// `csd list --json` shows the same row. Returns the row.
pub fn checked_status_row(env: &TestEnv, name: &str, sid: &str) -> serde_json::Value {
    use serde_json::{json, Value};
    let o = env.run("csd-status", ["--json", name]);
    assert_code(&o, 0);
    let row: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let log = std::fs::read_to_string(env.events_path(sid)).unwrap();
    let lines: Vec<Value> = log
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n') && l.trim() != "")
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let prompt = lines.iter().rposition(|e| e["event"] == "user_prompt_submit").map(|i| i + 1);
    assert!(prompt.is_some(), "no prompt in the log: {log}");
    assert_eq!(row["prompt_line"], json!(prompt), "{row}\n{log}");
    assert_eq!(row["since"], lines.last().unwrap()["ts"], "{row}\n{log}");
    assert_eq!((row["status"].as_str(), &row["tool"]), (Some("idle"), &Value::Null), "{row}");
    assert_eq!((row["name"].as_str(), row["session_id"].as_str()), (Some(name), Some(sid)), "{row}");
    // The line is csd-wait's baseline: the turn it opened has ended.
    let after = prompt.unwrap().to_string();
    let waited = env.run("csd-wait", [name, "5", "--after-line", &after]);
    assert_code(&waited, 0);
    let list = env.run("csd", ["list", "--json"]);
    assert_code(&list, 0);
    let listed: Value = serde_json::from_str(&stdout(&list)).unwrap();
    let listed = listed.as_array().unwrap().iter().find(|r| r["name"] == name).cloned();
    assert_eq!(listed.as_ref(), Some(&row), "csd list --json");
    row
}

/// Press Escape in worker `name`'s pane once `converse` (a `csd-send
/// --converse` set up by the caller) has its turn running, as `status`
/// tells: converse must end within 3 s, exit 7 and say so, and the worker be
/// idle again. Its output, for more checks.
pub fn escape_mid_converse(env: &TestEnv, name: &str, converse: &mut Command, status: impl Fn() -> String) -> Output {
    converse.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = converse.spawn().unwrap();
    let working = eventually(Duration::from_secs(20), || (status() == "working").then_some(()));
    assert!(working.is_some(), "the turn never showed as working:\n{}", env.pane(name));
    std::thread::sleep(Duration::from_millis(300));
    let pressed = std::time::Instant::now();
    env.tmux_ok(["send-keys", "-t", &format!("={name}:"), "Escape"]);
    let out = child.wait_with_output().unwrap();
    eprintln!("Escape to converse's exit {:?}", pressed.elapsed());
    assert!(pressed.elapsed() < Duration::from_secs(3), "converse took {:?} after Escape", pressed.elapsed());
    assert_code(&out, 7);
    assert!(stderr(&out).contains("its turn was interrupted"), "{}", stderr(&out));
    assert_eq!(status(), "idle");
    out
}

/// `c` with the real Codex at `cli` and its environment: the mock's key,
/// and every background fetch Codex still makes sent to a dead loopback
/// port; none of the operator's own Codex settings.
pub fn with_codex<'c>(c: &'c mut Command, cli: &Path) -> &'c mut Command {
    c.env("CSD_CODEX_BIN", cli)
        .env("MOCK_API_KEY", "mock-key")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("CSD_CODEX_MODEL")
        .env_remove("CODEX_HOME")
        .env_remove("OPENAI_API_KEY")
}

/// The operator's own Codex config under `home`, as csd must carry it over:
/// their model and a provider (the mock at `base_url`) with its key in the
/// environment, no retries (a failure is told at once); and csd's consent.
pub fn codex_operator_config(home: &Path, base_url: &str) {
    let dir = home.join(".codex");
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "model = \"gpt-5.5\"\nmodel_provider = \"mock\"\nmodel_reasoning_effort = \"low\"\n\n\
         [model_providers.mock]\nname = \"Mock\"\nbase_url = \"{base_url}\"\nenv_key = \"MOCK_API_KEY\"\n\
         wire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n"
    );
    std::fs::write(dir.join("config.toml"), config).unwrap();
    std::fs::write(dir.join("auth.json"), "{\"auth_mode\":\"apikey\",\"OPENAI_API_KEY\":\"sk-mock\"}").unwrap();
    let consent = home.join(".claude/.claude-session-driver-consent");
    std::fs::create_dir_all(consent.parent().unwrap()).unwrap();
    std::fs::write(consent, "granted by the e2e test\n").unwrap();
}
