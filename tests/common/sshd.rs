//! A remote host for csd's remote-worker tests: a real OpenSSH server on
//! 127.0.0.1, run by the test, that logs a second local user in.
//!
//! A test calls, from its own thread and in this order: `isolate_network()`
//! (its own loopback, so each test's sshd and ports are its own),
//! `private_ssh_dir()` (its own `~/.ssh`, so the ssh client reads this test's
//! config, key and known_hosts and never the real ones), then
//! `RemoteHost::start(&ssh_dir, opts)`. Both namespaces belong to the calling
//! thread only: everything it spawns (ssh, csd, sshd, a helper thread)
//! inherits them, another test's thread does not. Needs root (CI runs as
//! root), useradd/userdel, runuser, and openssh-server and -client (.ci/run
//! installs them); fails, never skips, without them.
//!
//! What the remote side is like (OpenSSH 9.2 on Debian 12): sshd's SetEnv
//! overrides the HOME and PATH sshd sets itself; sshd chdirs to the passwd
//! home (= `home()`); the command runs under `bash -c`, and Debian's bash
//! sources `~/.bashrc` for it (there is none unless a test writes one; its
//! output lands on the command's stdout). The user is not root: Claude Code
//! skips permissions there without IS_SANDBOX. sshd starts in about 20 ms;
//! an ssh connection costs about 0.25 s here, a command through a
//! ControlMaster about 10 ms.
//!
//! Layout of a host (a root-owned 0755 dir under /tmp, readable by the user):
//!
//! ```text
//! /tmp/csd-remote-XXXX/
//!   bin/                  csd* (hard links or copies), on the remote PATH
//!   fake/fake_claude.py   the scripted fake Claude Code (runs as the user)
//!   fixtures/             what the fake reads beside itself
//!   claude/claude         the real Claude CLI, when the repo's is out of reach
//!   home/                 the user's home (0700): .ssh/authorized_keys,
//!                         .claude/.claude-session-driver-consent, workers/
//!   tmp/                  the user's TMUX_TMPDIR (0700)
//!   sshd/                 root only: sshd_config, host keys, sshd.log, pid
//! ```

use super::*;
use std::cell::OnceCell;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::Child;

/// The sshd binary (it must be run by its absolute path: it re-executes itself).
pub const SSHD: &str = "/usr/sbin/sshd";

static NEXT_USER: AtomicUsize = AtomicUsize::new(0);

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir(p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
    set_mode(p, mode);
}

fn run_ok(c: &mut Command) {
    let o = c.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {c:?}: {e}"));
    assert!(o.status.success(), "{c:?} failed: {}\n{}", o.status, String::from_utf8_lossy(&o.stderr));
}

/// `ssh-keygen` a passphrase-less ed25519 key pair at `path` and `path`.pub.
fn keygen(path: &Path, comment: &str) {
    run_ok(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"]).arg(path));
}

/// Put an executable at `to` for the user: a hard link when others may
/// already read and run it (instant for csd's 25 MB debug binaries and the
/// 245 MB Claude CLI), else, or across filesystems, a copy made 0755 (never
/// a chmod of the shared inode).
fn share_executable(from: &Path, to: &Path) {
    let mode = std::fs::metadata(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())).permissions().mode();
    if mode & 0o005 == 0o005 && std::fs::hard_link(from, to).is_ok() {
        return;
    }
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
    set_mode(to, 0o755);
}

/// This test's own `~/.ssh`: a fresh 0700 temp dir bind-mounted over the
/// `.ssh` of the current user's passwd home (what the ssh client reads,
/// whatever $HOME says), in a mount namespace of the calling thread's own.
/// Other threads and the rest of the machine still see the real `~/.ssh`.
/// Dropping it unmounts it and removes the temp dir.
pub struct SshDir {
    tmp: tempfile::TempDir,
    mount_point: PathBuf,
}

impl SshDir {
    /// The temp dir itself (the same files as `~/.ssh` in this thread).
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    /// Where it is mounted: `<passwd home>/.ssh`.
    pub fn mount_point(&self) -> &Path {
        &self.mount_point
    }
}

impl std::ops::Deref for SshDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.tmp.path()
    }
}

impl Drop for SshDir {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.mount_point, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// The `.ssh` dir of the current uid's passwd home (not $HOME).
pub fn passwd_ssh_dir() -> PathBuf {
    let me = nix::unistd::User::from_uid(nix::unistd::getuid()).unwrap().expect("a passwd entry for the current uid");
    me.dir.join(".ssh")
}

/// See `SshDir`. Call it at the start of the test, after `isolate_network()`.
pub fn private_ssh_dir() -> SshDir {
    use nix::mount::{mount, MsFlags};
    let mount_point = passwd_ssh_dir();
    if !mount_point.exists() {
        // The mount point must exist on the real filesystem; it stays empty.
        let _ = std::fs::create_dir(&mount_point);
        set_mode(&mount_point, 0o700);
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .expect("unshare(CLONE_NEWNS) failed: the remote tests need root for a private ~/.ssh");
    // Mounts made from here on must not propagate back to the real namespace.
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .expect("making / rprivate");
    let prefix = format!("csd-ssh-{}-", std::process::id());
    let tmp = tempfile::Builder::new().prefix(&prefix).tempdir_in("/tmp").unwrap();
    set_mode(tmp.path(), 0o700);
    mount(Some(tmp.path()), &mount_point, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .unwrap_or_else(|e| panic!("bind-mounting {} over {}: {e}", tmp.path().display(), mount_point.display()));
    SshDir { tmp, mount_point }
}

/// How the remote host is set up.
#[derive(Clone, Debug, Default)]
pub struct RemoteOpts {
    /// More environment for the remote sessions (sshd's SetEnv) and for
    /// `run_as_user`; a name given here replaces the default's value.
    pub env: Vec<(String, String)>,
    /// No csd binaries in the remote bin dir (the bin dir stays on PATH).
    pub csd_absent: bool,
    /// What the host's csd runs as Claude Code (CSD_CLAUDE_BIN).
    pub harness: HostHarness,
}

/// The host's Claude Code: none set, the fake, or the real CLI.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HostHarness {
    #[default]
    None,
    Fake,
    RealClaude,
}

/// A second local user behind a real sshd on 127.0.0.1: see the module doc.
pub struct RemoteHost {
    root: tempfile::TempDir,
    user: String,
    uid: u32,
    gid: u32,
    alias: String,
    port: u16,
    env: Vec<(String, String)>,
    ssh_dir: PathBuf,
    sshd: Option<Child>,
    claude: OnceCell<PathBuf>,
}

impl RemoteHost {
    /// Create the user, its keys and files, write this host's client config
    /// into `ssh` and start sshd; returns once sshd sends its banner.
    pub fn start(ssh: &SshDir, opts: RemoteOpts) -> RemoteHost {
        assert!(Path::new(SSHD).exists(), "{SSHD} is missing: install openssh-server (.ci/run does)");
        sweep_stale();
        let root = tempfile::Builder::new().prefix("csd-remote-").tempdir_in("/tmp").unwrap();
        set_mode(root.path(), 0o755);
        let r = root.path();
        mkdir(&r.join("sshd"), 0o700);
        mkdir(&r.join("home"), 0o700);
        let (user, uid, gid) = create_user(&r.join("home"));
        let mut host = RemoteHost {
            root,
            user,
            uid,
            gid,
            alias: String::new(),
            port: 0,
            env: Vec::new(),
            ssh_dir: ssh.path().to_path_buf(),
            sshd: None,
            claude: OnceCell::new(),
        };
        // From here on a panic drops `host`, which removes the user again.
        host.lay_out_home();
        host.lay_out_bin(opts.csd_absent);
        host.env = host.default_env();
        let harness = match opts.harness {
            HostHarness::None => None,
            HostHarness::Fake => Some(host.fake_claude()),
            HostHarness::RealClaude => Some(host.claude_cli()),
        };
        if let Some(bin) = harness {
            host.env.push(("CSD_CLAUDE_BIN".into(), bin.display().to_string()));
        }
        for (k, v) in opts.env {
            match host.env.iter_mut().find(|(name, _)| *name == k) {
                Some(slot) => slot.1 = v,
                None => host.env.push((k, v)),
            }
        }
        host.write_client_key(ssh);
        keygen(&host.conf_dir().join("host_key"), "csd-test-host");
        keygen(&host.conf_dir().join("wrong_host_key"), "csd-test-impostor");
        for _ in 0..5 {
            host.port = free_port();
            host.write_sshd_config();
            match host.try_start_sshd() {
                Ok(()) => break,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("sshd did not start:\n{log}"),
            }
        }
        assert!(host.sshd.is_some(), "sshd found no free port:\n{}", host.sshd_log());
        host.write_client_config(ssh);
        host
    }

    fn conf_dir(&self) -> PathBuf {
        self.root.path().join("sshd")
    }

    fn chown(&self, p: &Path) {
        std::os::unix::fs::chown(p, Some(self.uid), Some(self.gid)).unwrap();
    }

    /// A dir or file the user owns, with `mode`.
    fn user_dir(&self, p: &Path, mode: u32) {
        mkdir(p, mode);
        self.chown(p);
    }

    fn user_file(&self, p: &Path, contents: &str, mode: u32) {
        std::fs::write(p, contents).unwrap();
        set_mode(p, mode);
        self.chown(p);
    }

    fn lay_out_home(&self) {
        let home = self.home();
        self.chown(&home);
        // StrictModes: home, ~/.ssh and authorized_keys owned by the user
        // (or root) and writable by no one else.
        self.user_dir(&home.join(".ssh"), 0o700);
        self.user_dir(&home.join(".claude"), 0o700);
        self.user_file(&home.join(".claude/.claude-session-driver-consent"), "", 0o644);
        self.user_dir(&self.worker_dir(), 0o700);
        self.user_dir(&self.tmux_tmpdir(), 0o700);
    }

    fn lay_out_bin(&self, csd_absent: bool) {
        let r = self.root.path();
        mkdir(&r.join("bin"), 0o755);
        if !csd_absent {
            let mut n = 0;
            for e in std::fs::read_dir(bin_dir()).unwrap() {
                let e = e.unwrap();
                let name = e.file_name().to_string_lossy().into_owned();
                // csd, csd-launch, ... but not cargo's csd-launch.d
                let exe = e.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
                if name.starts_with("csd") && !name.contains('.') && exe {
                    share_executable(&e.path(), &self.bin_dir().join(&name));
                    n += 1;
                }
            }
            assert!(n >= 2, "no csd binaries in {}", bin_dir().display());
        }
        // The fake reads ../fixtures/hook-payloads.jsonl beside itself.
        mkdir(&r.join("fake"), 0o755);
        mkdir(&r.join("fixtures"), 0o755);
        std::fs::copy(repo().join("tests/fake/fake_claude.py"), self.fake_claude()).unwrap();
        set_mode(&self.fake_claude(), 0o755);
        let payloads = r.join("fixtures/hook-payloads.jsonl");
        std::fs::copy(repo().join("tests/fixtures/hook-payloads.jsonl"), &payloads).unwrap();
        set_mode(&payloads, 0o644);
    }

    fn default_env(&self) -> Vec<(String, String)> {
        let s = |p: PathBuf| p.to_str().unwrap().to_string();
        vec![
            ("HOME".into(), s(self.home())),
            ("PATH".into(), format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin_dir().display())),
            ("CSD_WORKER_DIR".into(), s(self.worker_dir())),
            ("TMUX_TMPDIR".into(), s(self.tmux_tmpdir())),
            ("LC_ALL".into(), "C".into()),
            ("TZ".into(), "UTC".into()),
        ]
    }

    /// The client key is the ssh dir's default identity, `id_ed25519`,
    /// shared by every host of the test; the user accepts it.
    fn write_client_key(&self, ssh: &SshDir) {
        let key = ssh.path().join("id_ed25519");
        if !key.exists() {
            keygen(&key, "csd-test-client");
        }
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        self.user_file(&self.home().join(".ssh/authorized_keys"), &public, 0o600);
    }

    fn write_sshd_config(&self) {
        let c = self.conf_dir();
        let set_env: Vec<String> = self
            .env
            .iter()
            .map(|(k, v)| {
                assert!(!k.contains(['"', '=', ' ']) && !v.contains(['"', '\n']), "unquotable SetEnv {k}={v}");
                format!("\"{k}={v}\"")
            })
            .collect();
        let config = format!(
            "# Written by tests/common/sshd.rs for one test.\n\
             ListenAddress 127.0.0.1\n\
             Port {port}\n\
             HostKey {c}/host_key\n\
             PidFile {c}/sshd.pid\n\
             AuthorizedKeysFile .ssh/authorized_keys\n\
             StrictModes yes\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             PermitRootLogin no\n\
             AllowUsers {user}\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             X11Forwarding no\n\
             # Many workers share one ControlMaster connection: more than the default 10 sessions.\n\
             MaxSessions 100\n\
             MaxStartups 100\n\
             SetEnv {set_env}\n",
            port = self.port,
            c = c.display(),
            user = self.user,
            set_env = set_env.join(" "),
        );
        std::fs::write(c.join("sshd_config"), config).unwrap();
    }

    /// Start sshd on `self.port` and wait for its banner; Err(log) if it exits.
    fn try_start_sshd(&mut self) -> Result<(), String> {
        assert!(self.sshd.is_none(), "sshd is already running");
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd (sshd's privilege separation dir)");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.conf_dir().join("sshd.log")).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(self.conf_dir().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawning sshd");
        self.sshd = Some(child);
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.sshd.as_mut().unwrap().try_wait().unwrap() {
                self.sshd = None;
                return Err(format!("sshd exited ({st}):\n{}", self.sshd_log()));
            }
            if banner(self.port) {
                return Ok(());
            }
            if Instant::now() > until {
                let log = self.sshd_log();
                self.stop_sshd();
                return Err(format!("sshd sent no banner on port {} in 20 s:\n{log}", self.port));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn write_client_config(&mut self, ssh: &SshDir) {
        let dir = ssh.path();
        let hosts = dir.join("hosts");
        let config = dir.join("config");
        if !config.exists() {
            std::fs::create_dir(&hosts).unwrap();
            // ssh takes the first value it reads for an option: the hosts'
            // own blocks come first, the defaults for every host last.
            let base = format!(
                "# Written by tests/common/sshd.rs: this test's own ssh client config.\n\
                 Include {hosts}/*.conf\n\
                 Host *\n\
                 \x20   IdentityFile ~/.ssh/id_ed25519\n\
                 \x20   IdentitiesOnly yes\n\
                 \x20   UserKnownHostsFile ~/.ssh/known_hosts\n\
                 \x20   GlobalKnownHostsFile /dev/null\n\
                 \x20   StrictHostKeyChecking yes\n\
                 \x20   BatchMode yes\n\
                 \x20   ConnectTimeout 10\n\
                 \x20   LogLevel ERROR\n",
                hosts = hosts.display()
            );
            std::fs::write(&config, base).unwrap();
            set_mode(&config, 0o600);
        }
        let n = std::fs::read_dir(&hosts).unwrap().count();
        self.alias = if n == 0 { "csdtest".to_string() } else { format!("csdtest{}", n + 1) };
        let pinned = |key: &str| {
            let public = std::fs::read_to_string(self.conf_dir().join(format!("{key}.pub"))).unwrap();
            let mut f = public.split_whitespace();
            format!("[127.0.0.1]:{} {} {}\n", self.port, f.next().unwrap(), f.next().unwrap())
        };
        append(&dir.join("known_hosts"), &pinned("host_key"));
        append(&dir.join("known_hosts_wrong"), &pinned("wrong_host_key"));
        let block = format!(
            "Host {a}\n    HostName 127.0.0.1\n    Port {p}\n    User {u}\n\
             Host {a}-wrongkey\n    HostName 127.0.0.1\n    Port {p}\n    User {u}\n\
             \x20   UserKnownHostsFile ~/.ssh/known_hosts_wrong\n",
            a = self.alias,
            p = self.port,
            u = self.user
        );
        std::fs::write(hosts.join(format!("{}.conf", self.alias)), block).unwrap();
    }

    /// Start sshd again, on the same port (after `stop_sshd`).
    pub fn start_sshd(&mut self) {
        if let Err(log) = self.try_start_sshd() {
            panic!("sshd did not start again:\n{log}");
        }
    }

    /// The host goes away: sshd and every connection it serves (a
    /// ControlMaster's too, and the commands run through them) are killed.
    /// What the user left running outside a connection (its tmux server)
    /// stays, as on a host whose network went away; `kill_user_processes`
    /// is the reboot.
    pub fn stop_sshd(&mut self) {
        let Some(mut child) = self.sshd.take() else { return };
        let pid = child.id() as i32;
        // Stopped processes cannot fork: stop the tree until it stops growing,
        // then kill it whole (a killed parent's children would be reparented
        // and lost from view).
        let mut stopped = vec![pid];
        let _ = kill(pid, Signal::SIGSTOP);
        loop {
            let fresh: Vec<i32> = descendants(pid).into_iter().filter(|p| !stopped.contains(p)).collect();
            if fresh.is_empty() {
                break;
            }
            for p in fresh {
                let _ = kill(p, Signal::SIGSTOP);
                stopped.push(p);
            }
        }
        for p in stopped.iter().rev() {
            let _ = kill(*p, Signal::SIGKILL);
        }
        let _ = child.wait();
        eventually(Duration::from_secs(10), || stopped.iter().all(|p| !pid_alive(*p)).then_some(()))
            .unwrap_or_else(|| panic!("sshd's processes outlived SIGKILL"));
    }

    /// Kill every process of the user (its tmux server, its workers) and
    /// wait until none is left (a zombie counts as gone).
    pub fn kill_user_processes(&self) {
        let ok = eventually(Duration::from_secs(10), || {
            let left = processes_of(self.uid);
            if left.is_empty() {
                return Some(());
            }
            for p in left {
                let _ = kill(p, Signal::SIGKILL);
            }
            None
        });
        assert!(ok.is_some(), "processes of {} survived SIGKILL: {:?}", self.user, processes_of(self.uid));
    }

    /// Every live process of the user (for "nothing left behind").
    pub fn processes(&self) -> Vec<i32> {
        processes_of(self.uid)
    }

    /// Run `argv` as the user, with the remote sessions' environment and
    /// nothing else, in its home: to look at the remote side directly.
    pub fn run_as_user<S: AsRef<OsStr>>(&self, argv: &[S]) -> Output {
        self.user_command(argv).output().unwrap()
    }

    /// The command `run_as_user` runs, to add stdin or more.
    pub fn user_command<S: AsRef<OsStr>>(&self, argv: &[S]) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", &self.user, "--", "env", "-i"])
            .arg(format!("USER={}", self.user))
            .arg(format!("LOGNAME={}", self.user))
            .arg("SHELL=/bin/bash")
            .args(self.env.iter().map(|(k, v)| format!("{k}={v}")))
            .args(argv)
            .current_dir(self.home())
            .stdin(Stdio::null());
        c
    }

    /// `ssh -- <dest> ARGS...` (ssh joins ARGS with spaces for the remote shell).
    pub fn ssh<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        Command::new("ssh").arg("--").arg(self.dest()).args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// The ssh config alias of this host (`csdtest`, then `csdtest2`, ...).
    pub fn dest(&self) -> &str {
        &self.alias
    }

    /// The same host, with a different host key pinned: ssh must refuse it.
    pub fn dest_wrong_key(&self) -> String {
        format!("{}-wrongkey", self.alias)
    }

    /// `user@127.0.0.1`, for `ssh -p PORT` (the key and known_hosts are the
    /// ssh dir's defaults, so no alias is needed).
    pub fn user_at_ip(&self) -> String {
        format!("{}@127.0.0.1", self.user)
    }

    /// `ssh://user@127.0.0.1:PORT`.
    pub fn ssh_url(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", self.user, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn uid(&self) -> u32 {
        self.uid
    }

    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// CSD_WORKER_DIR on the host (`<home>/workers`, 0700, the user's).
    pub fn worker_dir(&self) -> PathBuf {
        self.home().join("workers")
    }

    /// TMUX_TMPDIR on the host.
    pub fn tmux_tmpdir(&self) -> PathBuf {
        self.root.path().join("tmp")
    }

    /// The dir first on the remote PATH, holding the csd binaries.
    pub fn bin_dir(&self) -> PathBuf {
        self.root.path().join("bin")
    }

    /// The fake Claude Code, runnable by the user.
    pub fn fake_claude(&self) -> PathBuf {
        self.root.path().join("fake/fake_claude.py")
    }

    /// The environment of the remote sessions (sshd's SetEnv).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// The ssh client dir this host wrote its config into.
    pub fn ssh_dir(&self) -> &Path {
        &self.ssh_dir
    }

    /// What sshd logged (every start of it), for failure messages.
    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.conf_dir().join("sshd.log")).unwrap_or_default()
    }

    /// The real Claude CLI (tests/e2e, after `npm install`) as a path the user can
    /// run: the repo's own when every dir above it lets others through (as
    /// under /work), else `claude_cli_in_root()` (as when the repo is cloned
    /// under root's 0700 home).
    pub fn claude_cli(&self) -> PathBuf {
        self.claude
            .get_or_init(|| {
                let real = repo_claude_cli();
                if self.run_as_user(&[OsStr::new("test"), OsStr::new("-x"), real.as_os_str()]).status.success() {
                    real
                } else {
                    self.claude_cli_in_root()
                }
            })
            .clone()
    }

    /// The real Claude CLI hard-linked (or copied) into this host's root:
    /// it is one self-contained binary, and runs from anywhere.
    pub fn claude_cli_in_root(&self) -> PathBuf {
        let to = self.root.path().join("claude/claude");
        if !to.exists() {
            mkdir(to.parent().unwrap(), 0o755);
            share_executable(&repo_claude_cli(), &to);
        }
        to
    }
}

/// tests/e2e's Claude CLI, symlinks resolved (to node_modules/@anthropic-ai/
/// claude-code/bin/claude.exe).
fn repo_claude_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/claude");
    std::fs::canonicalize(&cli).unwrap_or_else(|_| {
        panic!("the real Claude Code CLI is missing at {}: run `npm install` in tests/e2e", cli.display())
    })
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        // No panic here: a test that already failed must show its own message.
        self.stop_sshd();
        let _ = eventually(Duration::from_secs(10), || {
            let left = processes_of(self.uid);
            for p in &left {
                let _ = kill(*p, Signal::SIGKILL);
            }
            left.is_empty().then_some(())
        });
        // Their zombies may outlive the user by seconds (pid 1 reaps the
        // orphans, here slowly): userdel ignores them, and so does this.
        delete_user(&self.user);
        // The tmux server's socket dir and everything else go with the root dir.
    }
}

fn kill(pid: i32, sig: Signal) -> nix::Result<()> {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig)
}

use nix::sys::signal::Signal;

fn append(p: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(p).unwrap();
    f.write_all(line.as_bytes()).unwrap();
    set_mode(p, 0o600);
}

/// A port nothing listens on now (bind port 0 and let it go). In the test's
/// own network namespace nothing else competes for it.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
}

/// Whether sshd answers on `port` with its version banner.
fn banner(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).is_ok() && &buf == b"SSH-"
}

/// Live (not zombie) processes whose real, effective, saved or filesystem uid is `uid`.
pub fn processes_of(uid: u32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let status = std::fs::read_to_string(e.path().join("status")).unwrap_or_default();
        let zombie = status.lines().any(|l| l.starts_with("State:") && l.contains("Z (zombie)"));
        let uids = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap_or("");
        if !zombie && uids.split_whitespace().any(|u| u.parse() == Ok(uid)) {
            out.push(pid);
        }
    }
    out
}

/// `useradd` a fresh user `csdr<pid>-<n>` with `home` (which must exist) as
/// its home and bash as its shell. Its password is `*`, not useradd's `!`:
/// with UsePAM no, sshd refuses a `!` (locked) account even for a key.
fn create_user(home: &Path) -> (String, u32, u32) {
    let pid = std::process::id();
    let name = loop {
        let name = format!("csdr{pid}-{}", NEXT_USER.fetch_add(1, Ordering::Relaxed));
        if nix::unistd::User::from_name(&name).ok().flatten().is_none() {
            break name;
        }
    };
    // Another test (or binary) may hold /etc/passwd's lock for a moment.
    let mut last = String::new();
    for _ in 0..50 {
        let o = Command::new("useradd")
            .args(["-M", "-p", "*", "-s", "/bin/bash", "-d"])
            .arg(home)
            .arg(&name)
            .stdin(Stdio::null())
            .output()
            .expect("running useradd: the remote tests need root and useradd (passwd)");
        if o.status.success() {
            let u = nix::unistd::User::from_name(&name).unwrap().expect("the user useradd made");
            return (name, u.uid.as_raw(), u.gid.as_raw());
        }
        last = String::from_utf8_lossy(&o.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("useradd {name} failed: {last}");
}

fn delete_user(name: &str) {
    for i in 0..50 {
        // -f after a while: whatever userdel finds still using the account
        // has been killed, and the account must go.
        let args: &[&str] = if i < 5 { &[] } else { &["-f"] };
        let st = Command::new("userdel").args(args).arg(name).stdin(Stdio::null()).stderr(Stdio::null()).status();
        if st.is_ok_and(|s| s.success()) || nix::unistd::User::from_name(name).ok().flatten().is_none() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What test processes that died without their Drops (killed, or aborted by
/// a panic in a Drop) left: users `csdr<pid>-<n>` (their processes are
/// killed, their sshd too, their /tmp/csd-remote-* root removed) and
/// /tmp/csd-ssh-<pid>-* dirs.
fn sweep_stale() {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        let Some(pid) = f[0].strip_prefix("csdr").and_then(|r| r.split_once('-')).and_then(|(p, _)| p.parse().ok())
        else {
            continue;
        };
        if f.len() < 6 || pid_alive(pid) {
            continue;
        }
        let uid: u32 = f[2].parse().unwrap_or(0);
        if uid == 0 {
            continue;
        }
        for p in processes_of(uid) {
            let _ = kill(p, Signal::SIGKILL);
        }
        let _ = eventually(Duration::from_secs(5), || processes_of(uid).is_empty().then_some(()));
        delete_user(f[0]);
        let root = Path::new(f[5]).parent().unwrap_or(Path::new("/"));
        if root.starts_with("/tmp") && root.file_name().is_some_and(|n| n.to_string_lossy().starts_with("csd-remote-"))
        {
            // Its sshd, orphaned (root's, so not among the user's processes;
            // its title, "sshd: /usr/sbin/sshd -D -e -f <config> [listener]",
            // names its config).
            let config = root.join("sshd/sshd_config");
            let config = config.as_os_str().as_encoded_bytes();
            for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                if cmdline.windows(config.len()).any(|w| w == config) {
                    let _ = e.file_name().to_string_lossy().parse().map(|p| kill(p, Signal::SIGKILL));
                }
            }
            let _ = std::fs::remove_dir_all(root);
        }
    }
    // The ssh dirs of dead test processes (their mounts went with them).
    for e in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name.strip_prefix("csd-ssh-").and_then(|r| r.split_once('-')).and_then(|(p, _)| p.parse().ok());
        if pid.is_some_and(|p| !pid_alive(p)) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}
