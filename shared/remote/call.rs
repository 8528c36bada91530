//! The controller's side of a call: run one csd binary on a host and relay
//! what it prints, as it prints it.
//!
//! The request (the binary, its arguments, the bytes for its stdin) goes
//! on ssh's stdin as one JSON line and the bytes after it; ssh's stdin then
//! stays open, because the host side ends the binary when it closes: a
//! controller that is interrupted, or whose reader went away, leaves
//! nothing running on the host. The binary's exit status is ours.

use super::ssh::{ssh_spawn_error, Link};
use super::{Record, Target};
use crate::error::{failed, usage, Error, Result};
use crate::workerdir::WorkerDir;
use serde_json::json;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// One run of a csd binary on a host.
pub struct Request {
    /// The binary (`csd-status`) and its arguments.
    pub argv: Vec<String>,
    /// Its stdin (a prompt), whole.
    pub stdin: Vec<u8>,
    /// Say on stderr when the host's csd is not the controller's version.
    pub check_version: bool,
    /// `(name, csd_id)`: the workers the host must find under these names
    /// before it runs anything (no such worker there: status 3).
    pub expect: Vec<(String, String)>,
}

impl Request {
    /// A request to run `argv` on the host for this worker, checked there
    /// to be this worker.
    pub fn for_worker(record: &Record, argv: Vec<String>, stdin: Vec<u8>) -> Request {
        Request { argv, stdin, check_version: false, expect: record.identity().into_iter().collect() }
    }

    pub fn new(argv: Vec<String>) -> Request {
        Request { argv, stdin: Vec::new(), check_version: false, expect: Vec::new() }
    }
}

/// A call under way: on a host, or (for a fleet command that spans hosts)
/// the same job here, in this process.
pub struct Running {
    /// `None` for a run on this machine.
    pub target: Option<Target>,
    doer: Doer,
    stdin: Option<ChildStdin>,
    stdout: Option<File>,
    status: Option<ExitStatus>,
}

/// Who does the call's work: ssh, or a thread of ours (the local half).
enum Doer {
    Ssh(Child),
    /// Its exit status once it returns; `None` once joined, or left to end
    /// with the process (hung up while it still waits).
    Thread(Option<std::thread::JoinHandle<i32>>),
}

/// The first line on the host's stdin: what to run, and how many bytes of
/// its stdin follow.
fn header(target: &Target, req: &Request) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({
        "csd_remote": 1,
        "version": env!("CARGO_PKG_VERSION"),
        "host": target.host.as_str(),
        "argv": req.argv,
        "stdin": req.stdin.len(),
        "check_version": req.check_version,
        "expect": req.expect,
    }))
    .expect("JSON of strings");
    line.push(b'\n');
    line
}

impl Running {
    pub fn start(dir: &WorkerDir, target: &Target, req: &Request) -> Result<Running> {
        let link = Link::new(dir, &target.host)?;
        link.ensure_master()?;
        let mut c = link.command(&target.command_line())?;
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = c.spawn().map_err(ssh_spawn_error)?;
        let mut stdin = child.stdin.take();
        if let Some(w) = stdin.as_mut() {
            // A host that ended at once (no csd there) reads none of it: its
            // exit status says why, not this write's broken pipe.
            let _ = w.write_all(&header(target, req)).and_then(|_| w.write_all(&req.stdin)).and_then(|_| w.flush());
        }
        let stdout = child.stdout.take().map(|o| File::from(std::os::fd::OwnedFd::from(o)));
        Ok(Running { target: Some(target.clone()), doer: Doer::Ssh(child), stdin, stdout, status: None })
    }

    /// The local half of a fleet command, done here on a thread and read
    /// the same way as a host's: `job` writes its lines to the pipe it is
    /// given, and its result is the run's exit status (an error said on
    /// stderr as `tool: …`, and its status). No csd binary runs for it.
    pub fn here(tool: &'static str, job: impl FnOnce(&mut File) -> Result<i32> + Send + 'static) -> Result<Running> {
        let (read, write) = nix::unistd::pipe().map_err(|e| Error::Io("making a pipe".into(), e.into()))?;
        let (read, mut write) = (File::from(read), File::from(write));
        let thread = std::thread::Builder::new()
            .name(format!("{tool} here"))
            .spawn(move || match job(&mut write) {
                Ok(code) => code,
                // Our reader went away: the command is over, quietly.
                Err(e) if e.is_broken_pipe() => crate::error::EXIT_OK,
                Err(e) => {
                    crate::cli::note(format!("{tool}: {e}"));
                    e.code()
                }
            })
            .map_err(|e| Error::Io("starting a thread".into(), e))?;
        Ok(Running { target: None, doer: Doer::Thread(Some(thread)), stdin: None, stdout: Some(read), status: None })
    }

    /// Close our end: the host ends the binary, and ssh ends with it.
    /// Close our end: the host ends the binary, and ssh ends with it; a
    /// thread here finds its pipe closed at its next line.
    pub fn hang_up(&mut self) {
        self.stdin = None;
        self.stdout = None;
        if let (Doer::Ssh(child), None) = (&self.doer, self.status) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }

    fn reap(&mut self) -> Result<ExitStatus> {
        use std::os::unix::process::ExitStatusExt;
        if let Some(s) = self.status {
            return Ok(s);
        }
        let s = match &mut self.doer {
            Doer::Ssh(child) => child.wait().map_err(|e| Error::Io("waiting for ssh".into(), e))?,
            Doer::Thread(t) => {
                let code = t.take().map(|t| t.join().unwrap_or(crate::error::EXIT_FAILURE));
                ExitStatus::from_raw(code.unwrap_or(0) << 8)
            }
        };
        self.status = Some(s);
        Ok(s)
    }

    /// Wait for a hung-up call until `until`, then kill it; a thread still
    /// waiting is left to end with the process.
    fn reap_by(&mut self, until: Instant) {
        self.status = match &mut self.doer {
            Doer::Ssh(child) => super::wait_or_kill(child, until),
            Doer::Thread(t) if t.as_ref().is_some_and(|t| t.is_finished()) => self.reap().ok(),
            Doer::Thread(t) => {
                t.take();
                None
            }
        };
    }

    /// The binary's exit status, or what went wrong on the way.
    pub fn finish(&mut self) -> Result<i32> {
        let status = self.reap()?;
        match &self.target {
            Some(t) => exit_code(t, status),
            None => Ok(super::exit_code_of(status)),
        }
    }
}

/// What ssh's exit status means. The csd binaries exit 0-4, 124 or 128+N;
/// 126 and 127 are the host's shell failing to run csd, 255 is ssh's own.
pub fn exit_code(target: &Target, status: ExitStatus) -> Result<i32> {
    use std::os::unix::process::ExitStatusExt;
    let host = &target.host;
    match status.code() {
        Some(126) | Some(127) => Err(failed(match &target.remote_path {
            Some(p) => format!("host '{host}' has no runnable csd in {} (CSD_REMOTE_PATH)", p.as_str()),
            None => format!(
                "host '{host}' has no csd on the PATH its ssh commands get: install csd there, \
                 or set CSD_REMOTE_PATH to the directory holding its binaries"
            ),
        })),
        Some(255) => Err(failed(format!(
            "lost the connection to host '{host}' (ssh exited 255; its message, if any, is above); \
             the worker there is not known to have stopped"
        ))),
        Some(code) => Ok(code),
        None => Err(failed(format!("ssh to '{host}' ended by signal {}", status.signal().unwrap_or(0)))),
    }
}

/// What [`pump`] hands on: output, or the end of a call with its exit
/// status (or why the call failed: the host could not be reached).
pub enum Out<'a> {
    Bytes(&'a [u8]),
    Ended(Result<i32>),
}

/// Relay every call's output to `out` as it comes (the call's index and
/// the bytes, then its end) until every call has ended; `out` returning
/// false, or a signal, hangs the rest up. Each call's exit is then
/// read with [`Running::finish`]. With `relay` (`out` writes to our
/// stdout), a reader that closes our stdout hangs them up at once, as
/// `Watch::with_stdout` does for a local follower: a quiet follow would
/// otherwise notice only at its next line.
pub fn pump(runs: &mut [Running], relay: bool, mut out: impl FnMut(usize, Out) -> Result<bool>) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut buf = vec![0u8; 64 * 1024];
    let stdout = std::io::stdout();
    let result = loop {
        if let Err(e) = crate::signals::check() {
            break Err(e);
        }
        let open: Vec<usize> = (0..runs.len()).filter(|&i| runs[i].stdout.is_some()).collect();
        if open.is_empty() {
            break Ok(());
        }
        // Woken by output, an end, or a signal; the timeout is a backstop.
        let wait = PollTimeout::try_from(60_000).unwrap_or(PollTimeout::MAX);
        let ready: Vec<usize> = {
            let mut fds: Vec<PollFd> = open
                .iter()
                .map(|&i| PollFd::new(runs[i].stdout.as_ref().expect("open").as_fd(), PollFlags::POLLIN))
                .collect();
            if let Some(fd) = crate::signals::wake_fd() {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            // POLLERR/POLLHUP come whatever is asked for; asking for nothing
            // keeps a writable pipe from waking us.
            if relay {
                fds.push(PollFd::new(stdout.as_fd(), PollFlags::empty()));
            }
            match poll(&mut fds, wait) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => break Err(Error::Io("waiting for ssh".into(), e.into())),
            }
            if relay && fds.last().and_then(|f| f.revents()).is_some_and(|r| !r.is_empty()) {
                break Err(Error::Io("writing output".into(), std::io::ErrorKind::BrokenPipe.into()));
            }
            open.iter().zip(&fds).filter(|(_, f)| f.revents().is_some_and(|r| !r.is_empty())).map(|(&i, _)| i).collect()
        };
        let mut stop = None;
        for i in ready {
            let n = match runs[i].stdout.as_mut().expect("open").read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            let said = if n == 0 {
                // Its output is over: so is the call (ssh exits with it).
                runs[i].stdout = None;
                Out::Ended(runs[i].finish())
            } else {
                Out::Bytes(&buf[..n])
            };
            match out(i, said) {
                Ok(true) => {}
                Ok(false) => {
                    stop = Some(Ok(()));
                    break;
                }
                Err(e) => {
                    stop = Some(Err(e));
                    break;
                }
            }
        }
        if let Some(s) = stop {
            break s;
        }
    };
    if result.is_err() || runs.iter().any(|r| r.stdout.is_some()) {
        for r in runs.iter_mut() {
            r.hang_up();
        }
        reap_within(runs, Duration::from_secs(5));
    }
    result
}

/// Wait for hung-up calls a bounded time, then kill what is left.
fn reap_within(runs: &mut [Running], limit: Duration) {
    let until = Instant::now() + limit;
    for r in runs.iter_mut() {
        r.reap_by(until);
    }
}

/// Run `req` on the target's host, its output relayed to ours; its exit
/// status is the result.
pub fn run(dir: &WorkerDir, target: &Target, req: &Request) -> Result<i32> {
    crate::signals::install()?;
    let mut runs = [Running::start(dir, target, req)?];
    pump(&mut runs, true, |_, said| match said {
        Out::Bytes(b) => crate::cli::say(b).map(|_| true),
        Out::Ended(_) => Ok(true),
    })?;
    runs[0].finish()
}

/// Run `req` and keep what it prints: (its exit status, its stdout).
pub fn capture(dir: &WorkerDir, target: &Target, req: &Request) -> Result<(i32, Vec<u8>)> {
    crate::signals::install()?;
    let mut runs = [Running::start(dir, target, req)?];
    let mut kept = Vec::new();
    pump(&mut runs, false, |_, said| {
        if let Out::Bytes(b) = said {
            kept.extend_from_slice(b);
        }
        Ok(true)
    })?;
    Ok((runs[0].finish()?, kept))
}

/// If `name` is a remote worker, run this binary with these arguments on
/// its host and give its exit status; `None` for a worker of this machine.
pub fn forward(dir: &WorkerDir, name: &str, argv: Vec<String>, stdin: Vec<u8>) -> Result<Option<i32>> {
    let Some(record) = Record::read(dir, name)? else { return Ok(None) };
    run(dir, &record.target()?, &Request::for_worker(&record, argv, stdin)).map(Some)
}

/// [`forward`] with the running binary's own arguments, as given.
pub fn forward_as_is(dir: &WorkerDir, tool: &str, name: &str) -> Result<Option<i32>> {
    if !super::holds(dir, name) {
        return Ok(None);
    }
    let mut argv = vec![tool.to_string()];
    for a in std::env::args_os().skip(1) {
        argv.push(a.into_string().map_err(|_| usage("an argument is not valid UTF-8"))?);
    }
    forward(dir, name, argv, Vec::new())
}
