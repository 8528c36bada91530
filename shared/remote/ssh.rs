//! One OpenSSH master connection per host, shared by every call to it.
//!
//! The master is started on its own (`ssh -f -N`, ControlMaster=yes) with
//! its output going to a file, never to a caller's pipe: a master that
//! ssh backgrounds holds the stderr it was started with for as long as it
//! persists, and a caller capturing that stderr would wait for it.
//! Calls are multiplexing clients (ControlMaster=no) and cost one round
//! trip. Control sockets, their logs and locks live in `<worker dir>/ssh/`,
//! 0700 and checked like the worker dir, so no one else can talk through
//! them. csd stores no secrets: auth is the operator's ssh config and agent.

use crate::error::{failed, Context, Error, Result};
use crate::host::Dest;
use crate::workerdir::WorkerDir;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a master waits for a TCP connection and the handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle master stays for the next call.
pub const PERSIST: Duration = Duration::from_secs(300);
/// unix(7): sun_path holds 108 bytes; ssh adds a 17-byte suffix while it
/// binds the master's socket.
const SUN_PATH_MAX: usize = 107 - 17;

pub struct Link {
    dest: Dest,
    control: PathBuf,
    log: PathBuf,
    lock: PathBuf,
}

impl Link {
    pub fn new(dir: &WorkerDir, dest: &Dest) -> Result<Link> {
        let ctl = dir.subdir("ssh")?;
        let key = dest.key();
        let control = ctl.join(&key);
        let text = control.to_str().unwrap_or("");
        // ssh reads ControlPath as a config value: '%' expands, whitespace
        // and quotes split it.
        if text.is_empty() || text.len() > SUN_PATH_MAX || text.contains(['%', ' ', '\t', '"', '\'', '\n']) {
            return Err(failed(format!(
                "the ssh control socket {} cannot be used (too long, or '%', space or quote in it): \
                 set CSD_WORKER_DIR to a shorter plain path",
                control.display()
            )));
        }
        Ok(Link {
            dest: dest.clone(),
            log: ctl.join(format!("{key}.log")),
            lock: ctl.join(format!("{key}.lock")),
            control,
        })
    }

    pub fn dest(&self) -> &Dest {
        &self.dest
    }

    pub fn control(&self) -> &Path {
        &self.control
    }

    fn base(&self, master: bool) -> Result<Command> {
        let connect = crate::knobs::seconds("CSD_SSH_CONNECT_TIMEOUT", CONNECT_TIMEOUT)?;
        let mut c = Command::new("ssh");
        c.arg("-o").arg(format!("ControlPath={}", self.control.display()));
        c.args(["-o", "BatchMode=yes", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]);
        c.arg("-o").arg(format!("ConnectTimeout={}", connect.as_secs().max(1)));
        if master {
            let persist = crate::knobs::seconds("CSD_SSH_PERSIST", PERSIST)?;
            c.args(["-o", "ControlMaster=yes", "-f", "-N"]);
            c.arg("-o").arg(format!("ControlPersist={}", persist.as_secs().max(1)));
        } else {
            c.args(["-o", "ControlMaster=no", "-T"]);
        }
        Ok(c)
    }

    /// Whether a master answers on the control socket.
    pub fn master_up(&self) -> bool {
        std::os::unix::net::UnixStream::connect(&self.control).is_ok()
    }

    /// Start the host's master unless one is up. A failure to connect or
    /// authenticate is ssh's own message, naming the host.
    pub fn ensure_master(&self) -> Result<()> {
        if self.master_up() {
            return Ok(());
        }
        let _held = self.hold_lock()?;
        if self.master_up() {
            return Ok(());
        }
        // A socket left by a master that died answers no one: ssh would
        // refuse to bind over it.
        crate::workerdir::remove_if_present(&self.control)?;
        let log = open_private(&self.log, true)?;
        let mut c = self.base(true)?;
        c.arg("--").arg(self.dest.as_str());
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let status = c.status().map_err(ssh_spawn_error)?;
        if status.success() && self.master_up() {
            return Ok(());
        }
        let said = crate::safefile::read_capped(&self.log, 64 * 1024).unwrap_or_default();
        let said = String::from_utf8_lossy(&said);
        let said = said.trim();
        Err(failed(format!(
            "could not connect to host '{}': {}",
            self.dest,
            if said.is_empty() { format!("ssh exited with {status}") } else { said.replace('\n', "; ") }
        )))
    }

    fn hold_lock(&self) -> Result<nix::fcntl::Flock<File>> {
        use nix::fcntl::{Flock, FlockArg};
        let f = open_private(&self.lock, false)?;
        // Blocks while another csd connects: at most its connect timeout.
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| failed(format!("could not lock {}: {e}", self.lock.display())))
    }

    /// A client that runs `command_line` on the host over the master.
    pub fn command(&self, command_line: &str) -> Result<Command> {
        let mut c = self.base(false)?;
        c.arg("--").arg(self.dest.as_str()).arg(command_line);
        Ok(c)
    }

    /// End the master (`ssh -O exit`), if one is up.
    pub fn close(&self) -> Result<()> {
        if !self.master_up() {
            return Ok(());
        }
        let mut c = self.base(false)?;
        c.args(["-O", "exit", "--", self.dest.as_str()]);
        c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        c.status().map_err(ssh_spawn_error)?;
        Ok(())
    }
}

/// A file of the control dir, 0600, never through a symlink.
fn open_private(path: &Path, truncate: bool) -> Result<File> {
    crate::safefile::open_private(path, truncate).context(|| format!("opening {}", path.display()))
}

pub fn ssh_spawn_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        failed("ssh not found on PATH: remote workers need OpenSSH's client (ssh)")
    } else {
        Error::Io("running ssh".into(), e)
    }
}
