//! Where a worker is, decided in one place: on this machine, or on the host
//! its record (`host::Record`) names. Each binary asks here for its job and
//! never names `remote`; a fleet command (list, prune, wait, events --all)
//! gets its local and remote members merged here.

use crate::cli::say;
use crate::error::{Error, Result};
use crate::event::EventKind;
use crate::fleet::{self, Until};
use crate::host::Record;
use crate::launch::{Request, Started};
use crate::remote;
use crate::status::Listing;
use crate::workerdir::WorkerDir;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The running binary's own command, as it was given, run on the worker's
/// host when the worker is there: its exit status. `None` for a worker of
/// this machine (or none at all): the caller goes on here.
pub fn run_on_its_host(dir: &WorkerDir, tool: &str, name: &str) -> Result<Option<i32>> {
    remote::call::forward_as_is(dir, tool, name)
}

/// The call `call` makes (argv, and stdin: a prompt, never on the host's
/// command line) run on the worker's host when the worker is there; `None`
/// when it is here. `call` runs only for a worker on a host, so a local
/// send copies no prompt.
pub fn run_on_its_host_with(
    dir: &WorkerDir,
    name: &str,
    call: impl FnOnce() -> Result<(Vec<String>, Vec<u8>)>,
) -> Result<Option<i32>> {
    if !dir.holds_remote(name) {
        return Ok(None);
    }
    let (argv, stdin) = call()?;
    remote::call::forward(dir, name, argv, stdin)
}

/// What a launch gave: the shim, what a human reads on stderr, and the
/// exit status (a host's refusal is its own status, with nothing made here).
pub struct Launched {
    pub shim: PathBuf,
    pub panel: String,
    pub code: i32,
}

/// Launch (or adopt) here, or on `req.host` through its csd.
pub fn launch(req: &Request) -> Result<Launched> {
    match &req.host {
        None => {
            let Started { shim, panel, .. } = crate::launch::start(req)?;
            Ok(Launched { shim, panel, code: 0 })
        }
        Some(host) => {
            let dir = WorkerDir::from_env()?;
            let (shim, code) = remote::worker::launch(&dir, req, host)?;
            let panel = format!("  host:       {host}\n  shim:       {}", shim.display());
            Ok(Launched { shim, panel, code })
        }
    }
}

/// Stop a worker on its host (its record goes once the host says so):
/// the exit status; `None` for a worker of this machine.
pub fn stop_on_its_host(dir: &WorkerDir, name: &str, discard: bool) -> Result<Option<i32>> {
    match Record::read(dir, name)? {
        Some(record) => remote::worker::stop(dir, &record, discard).map(Some),
        None => Ok(None),
    }
}

/// Say how to take over a worker on its host; `None` for one of this machine.
pub fn handoff_on_its_host(dir: &WorkerDir, name: &str) -> Result<Option<i32>> {
    match Record::read(dir, name)? {
        Some(record) => remote::worker::handoff(dir, &record).map(Some),
        None => Ok(None),
    }
}

/// Every worker whose name holds `pattern`, here and on every host.
pub fn list(dir: &WorkerDir, pattern: Option<&str>, all: bool) -> Result<Listing> {
    let mut listing = crate::status::list(dir, pattern, all)?;
    if remote::spans_hosts(dir)? {
        listing.merge(remote::fleet::list(dir, pattern, all)?);
    }
    Ok(listing)
}

/// Forget the remote workers their hosts say are gone: the names, and what
/// was left alone and why. Nothing when there are none.
pub fn prune_hosts(dir: &WorkerDir) -> Result<(Vec<String>, remote::Notes)> {
    if !remote::spans_hosts(dir)? {
        return Ok((Vec::new(), Vec::new()));
    }
    remote::fleet::prune(dir)
}

/// `NAME<TAB>HOW[<TAB>WHY]` on stdout per worker, here or on a host, as it
/// ends its turn; the fleet's exit status (0 all idle, else the first
/// worker's that was not; 124 on timeout).
pub fn wait_fleet(dir: &WorkerDir, names: &[String], until: Until, timeout: Duration) -> Result<i32> {
    if remote::spans_hosts(dir)? {
        let (here, hosts) = remote::fleet::split(dir, names)?;
        if !hosts.is_empty() {
            return remote::fleet::wait(dir, &here, &hosts, until == Until::Any, timeout);
        }
    }
    let mut code = 0;
    let done = fleet::wait(dir, names, until, Instant::now() + timeout, |name, how| {
        if code == 0 {
            code = how.exit_code();
        }
        say(how.line(name))
    });
    match done {
        Ok(()) => Ok(code),
        Err(Error::Timeout(m)) => Err(Error::Timeout(format!("{m} (after {}s)", timeout.as_secs_f64()))),
        Err(e) => Err(e),
    }
}

/// Every worker's events, here and on every host, as one stream on stdout,
/// each line naming its worker (and host); with `follow`, as they land.
pub fn events_all(dir: &WorkerDir, only: Option<EventKind>, last: Option<u64>, follow: bool) -> Result<i32> {
    if remote::spans_hosts(dir)? {
        return remote::fleet::events(dir, only, last, follow);
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let write_err = |e| Error::Io("writing events".into(), e);
    let mut write = |line: &[u8]| -> Result<()> {
        out.write_all(line).map_err(write_err)?;
        if follow {
            out.flush().map_err(write_err)?;
        }
        Ok(())
    };
    let code = fleet::events_all(dir, fleet::Merged { only, last, follow, out: &mut write })?;
    out.flush().map_err(write_err)?;
    Ok(code)
}

/// The host's side of every remote call (`csd remote-call`): what a
/// controller runs here through ssh.
pub fn serve() -> Result<i32> {
    remote::serve::serve()
}
