//! A child process run to a deadline that a signal cuts short: how every
//! tmux call runs, so a server that never answers (stopped, wedged, swapped
//! out) cannot hang csd, nor keep SIGTERM from ending it.
//!
//! Input, output and the deadline are served by one poll loop: a tmux
//! client fed a prompt on stdin reads nothing until its server answers, so
//! a blocking write would hang as surely as a blocking wait. On expiry or a
//! signal the child's whole process group is killed and reaped: nothing is
//! left behind to finish the job later.

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Once a signal has come, how long a call that must not be cut (the undo
/// after it, an Enter under `signals::deferred`) may still take: a healthy
/// tmux answers in milliseconds, a hung one would hold the signal forever.
pub const SIGNALLED_GRACE: Duration = Duration::from_secs(1);

/// How a bounded run ended.
#[derive(Debug)]
pub enum Ended {
    /// The child exited; what it wrote.
    Exited(Output),
    /// The deadline passed first; the child was killed.
    Expired,
    /// A signal came (the number) outside `signals::deferred`; the child was killed.
    Signalled(i32),
}

/// Run `cmd` (which should have its own process group, `process_group(0)`,
/// so that killing it kills only it) with `input` on its stdin, until it
/// exits, `deadline` passes, or a signal comes.
pub fn run(mut cmd: Command, input: Option<&[u8]>, deadline: Instant) -> std::io::Result<Ended> {
    cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut io = Pipes::of(&mut child, input)?;
    let mut deadline = deadline;
    let ended = loop {
        if let Err(crate::error::Error::Signal(sig)) = crate::signals::check() {
            break Ended::Signalled(sig);
        }
        if crate::signals::received().is_some() {
            // Under `deferred`: the call may finish, but not wait on forever.
            deadline = deadline.min(Instant::now() + SIGNALLED_GRACE);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Ended::Expired;
        }
        if io.done() {
            break match wait_exit(&mut child, deadline)? {
                Some(status) => Ended::Exited(io.output(status)),
                None => Ended::Expired,
            };
        }
        io.step(left)?;
    };
    if !matches!(ended, Ended::Exited(_)) {
        kill_group(&mut child);
    }
    Ok(ended)
}

/// The child's pipes: what is left to write, what was read.
struct Pipes<'a> {
    stdin: Option<std::process::ChildStdin>,
    input: &'a [u8],
    stdout: Option<std::process::ChildStdout>,
    stderr: Option<std::process::ChildStderr>,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl<'a> Pipes<'a> {
    fn of(child: &mut Child, input: Option<&'a [u8]>) -> std::io::Result<Pipes<'a>> {
        let stdin = child.stdin.take();
        if let Some(s) = &stdin {
            // A write must never block: the reader may be stuck on its server.
            let fd = s.as_raw_fd();
            let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?;
            let flags = nix::fcntl::OFlag::from_bits_truncate(flags) | nix::fcntl::OFlag::O_NONBLOCK;
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
        }
        Ok(Pipes {
            stdin,
            input: input.unwrap_or_default(),
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
            out: Vec::new(),
            err: Vec::new(),
        })
    }

    fn done(&self) -> bool {
        self.stdin.is_none() && self.stdout.is_none() && self.stderr.is_none()
    }

    /// Wait up to `left` (or for a signal) and move what can be moved.
    fn step(&mut self, left: Duration) -> std::io::Result<()> {
        if self.stdin.is_some() && self.input.is_empty() {
            self.stdin = None;
            return Ok(());
        }
        let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128) as i32;
        let mut fds: Vec<PollFd> = Vec::with_capacity(4);
        let i_in = slot(&mut fds, self.stdin.as_ref().map(|s| s.as_fd()), PollFlags::POLLOUT);
        let i_out = slot(&mut fds, self.stdout.as_ref().map(|s| s.as_fd()), PollFlags::POLLIN);
        let i_err = slot(&mut fds, self.stderr.as_ref().map(|s| s.as_fd()), PollFlags::POLLIN);
        // The self-pipe stays readable once a signal has come: watched only until then.
        let wake = crate::signals::received().is_none().then(crate::signals::any_wake_fd).flatten();
        slot(&mut fds, wake, PollFlags::POLLIN);
        match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready = |i: Option<usize>| i.is_some_and(|i| fds[i].revents().is_some_and(|r| !r.is_empty()));
        let (r_in, r_out, r_err) = (ready(i_in), ready(i_out), ready(i_err));
        drop(fds);
        if r_in {
            self.write_some();
        }
        if r_out {
            read_some(&mut self.stdout, &mut self.out);
        }
        if r_err {
            read_some(&mut self.stderr, &mut self.err);
        }
        Ok(())
    }

    fn write_some(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else { return };
        match stdin.write(self.input) {
            Ok(n) => self.input = &self.input[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::Interrupted => {}
            // The reader went away: it will say why on stderr.
            Err(_) => self.input = &[],
        }
        if self.input.is_empty() {
            self.stdin = None;
        }
    }

    fn output(self, status: ExitStatus) -> Output {
        Output { status, stdout: self.out, stderr: self.err }
    }
}

/// Add `fd` (if any) to the poll set; its index there.
fn slot<'f>(fds: &mut Vec<PollFd<'f>>, fd: Option<BorrowedFd<'f>>, flags: PollFlags) -> Option<usize> {
    fd.map(|fd| {
        fds.push(PollFd::new(fd, flags));
        fds.len() - 1
    })
}

/// Read what a readable pipe holds; at its end, let go of it.
fn read_some<R: Read>(pipe: &mut Option<R>, into: &mut Vec<u8>) {
    let Some(r) = pipe.as_mut() else { return };
    let mut buf = [0u8; 16 * 1024];
    match r.read(&mut buf) {
        Ok(0) => *pipe = None,
        Ok(n) => into.extend_from_slice(&buf[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
        Err(_) => *pipe = None,
    }
}

/// The child's exit, once its output has ended: a pidfd wakes us; `None` if
/// `deadline` passes first.
fn wait_exit(child: &mut Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let pidfd = crate::watch::pidfd_open(child.id() as i32);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        match &pidfd {
            Some(fd) => {
                let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128) as i32;
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX));
            }
            None => std::thread::sleep(left.min(Duration::from_millis(5))),
        }
    }
}

/// Kill the child's process group (the child leads it) and reap the child.
fn kill_group(child: &mut Child) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}
