//! SIGINT, SIGTERM and SIGHUP for the commands that must not stop half-way
//! (launch undoes what it made; send never leaves a half-submitted prompt).
//!
//! The handler only records the signal and writes a byte to a self-pipe.
//! The command notices at its next step: every tmux call and every sleep
//! asks [`check`], and [`Watch`](crate::watch::Watch) polls the pipe, so a
//! wait wakes at once. The error ([`Error::Signal`]) unwinds to `main`,
//! which undoes what needs undoing and then dies of the same signal, as a
//! shell expects of a program it interrupted. Code that must run to its end
//! (the undo itself, the Enter that follows a paste) runs under [`deferred`].

use crate::error::{Error, Result};
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

const HANDLED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

static RECEIVED: AtomicI32 = AtomicI32::new(0);
static PIPE_READ: AtomicI32 = AtomicI32::new(-1);
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
static DEFERRING: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: nix::libc::c_int) {
    // The first signal decides how we exit; later ones only wake.
    let _ = RECEIVED.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    let fd = PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so
        // a full pipe (already woken) costs nothing.
        unsafe { nix::libc::write(fd, b"s".as_ptr().cast(), 1) };
    }
}

/// Catch SIGINT, SIGTERM and SIGHUP from here on. Idempotent.
pub fn install() -> Result<()> {
    if PIPE_READ.load(Ordering::SeqCst) >= 0 {
        return Ok(());
    }
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
        .map_err(|e| Error::Io("making the signal pipe".into(), e.into()))?;
    use std::os::fd::IntoRawFd;
    PIPE_READ.store(r.into_raw_fd(), Ordering::SeqCst);
    PIPE_WRITE.store(w.into_raw_fd(), Ordering::SeqCst);
    let action = SigAction::new(SigHandler::Handler(on_signal), SaFlags::SA_RESTART, SigSet::empty());
    for sig in HANDLED {
        // SAFETY: the handler touches only atomics and write(2).
        unsafe { sigaction(sig, &action) }.map_err(|e| Error::Io(format!("catching {sig}"), e.into()))?;
    }
    Ok(())
}

/// The signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// `Err(Error::Signal)` once a signal has come, unless inside [`deferred`].
pub fn check() -> Result<()> {
    match received() {
        Some(sig) if !DEFERRING.load(Ordering::SeqCst) => Err(Error::Signal(sig)),
        _ => Ok(()),
    }
}

/// The pipe a poller adds to its set: readable once a signal has come.
pub fn wake_fd() -> Option<BorrowedFd<'static>> {
    let fd: RawFd = PIPE_READ.load(Ordering::SeqCst);
    // SAFETY: the pipe is opened once and never closed while the process runs.
    (fd >= 0 && !DEFERRING.load(Ordering::SeqCst)).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}

/// The pipe as `wake_fd` gives it, but inside [`deferred`] too: for a call
/// that is not cut by a signal but must learn of one (see `bounded`).
pub fn any_wake_fd() -> Option<BorrowedFd<'static>> {
    let fd: RawFd = PIPE_READ.load(Ordering::SeqCst);
    // SAFETY: the pipe is opened once and never closed while the process runs.
    (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}

/// Run `f` to its end whatever signals come meanwhile (they are still
/// recorded, and [`check`] reports them afterwards).
pub fn deferred<T>(f: impl FnOnce() -> T) -> T {
    let was = DEFERRING.swap(true, Ordering::SeqCst);
    let out = f();
    DEFERRING.store(was, Ordering::SeqCst);
    out
}

/// Sleep for `d`, cut short by a signal.
pub fn sleep(d: Duration) -> Result<()> {
    let until = Instant::now() + d;
    loop {
        check()?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        match wake_fd() {
            Some(fd) => {
                let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128) as i32;
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(
                    &mut fds,
                    nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX),
                );
            }
            None => std::thread::sleep(left),
        }
    }
}

/// End the process as `sig` would have: restore the default action and
/// raise it (a shell then sees "killed by SIGINT" and stops its script);
/// 128 + sig if the signal does not end us.
pub fn exit_by(sig: i32) -> ! {
    if let Ok(s) = Signal::try_from(sig) {
        // SAFETY: restoring the default disposition.
        let _ = unsafe { sigaction(s, &SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty())) };
        let mut set = SigSet::empty();
        set.add(s);
        let _ = set.thread_unblock();
        let _ = nix::sys::signal::raise(s);
    }
    std::process::exit(128 + sig)
}
