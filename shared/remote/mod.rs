//! Workers on other machines, over OpenSSH.
//!
//! A remote worker is an ordinary worker of the host's own csd: the host's
//! `csd-launch` started it, under the host user's worker dir and tmux. The
//! controller keeps only a record of it (`<name>.remote`: its host and how
//! to reach csd there) and a shim, and runs each command for it on the host
//! through `ssh … -- DEST csd remote-call` over one master connection per
//! host (`ssh`). The command line on the host is fixed: which binary to run
//! and its arguments travel on stdin, as JSON, with the prompt after them,
//! so no byte of either is ever read by a shell; the host side (`serve`)
//! runs the binary and ends it if the controller goes away (`call`).
//!
//! Waits wake on the host (its `csd-wait`), never by polling over ssh.

pub mod call;
pub mod fleet;
pub mod serve;
pub mod ssh;
pub mod worker;

use crate::error::Result;
pub use crate::host::{dest, records, Dest, Notes, Record, RemotePath, Target};
use crate::workerdir::WorkerDir;

/// Whether a fleet command here must span hosts: there are remote workers.
/// (Its local half is done in this process, never by a csd binary that
/// would span them again.)
pub fn spans_hosts(dir: &WorkerDir) -> Result<bool> {
    Ok(dir.entries()?.iter().any(|f| f.ends_with(".remote")))
}

/// Whether `name` is a remote worker's (a record, good or bad, holds it).
pub fn holds(dir: &WorkerDir, name: &str) -> bool {
    dir.holds_remote(name)
}

pub use crate::process::{exit_code_of, wait_or_kill};
