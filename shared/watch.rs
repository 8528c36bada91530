//! Waking on change instead of polling: inotify on an events file (and on its
//! directory until the file exists), a pidfd for a worker's pane process, and
//! stdout for a reader that went away.

use crate::error::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why `Watch::wait` returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// Something happened to the file or its directory: read again.
    Changed,
    /// The deadline (or the tick) passed with nothing to report.
    Timeout,
    /// The watched process exited.
    ProcessExited,
    /// Our stdout is a pipe whose reader has gone.
    OutputClosed,
}

pub struct Watch {
    inotify: Inotify,
    file: PathBuf,
    file_wd: Option<WatchDescriptor>,
    /// Processes whose exit wakes us; one that has exited is dropped once it
    /// has woken us (a pidfd stays readable).
    pidfds: Vec<OwnedFd>,
    watch_stdout: bool,
    /// A file `also` watches that was not there yet: re-tried on each wake.
    pending_also: Option<PathBuf>,
}

impl Watch {
    /// Watch `file`; until it exists, watch its directory for its creation.
    pub fn new(file: &Path) -> Result<Watch> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(std::io::Error::from)
            .context(|| "starting inotify".into())?;
        let dir = file.parent().unwrap_or(Path::new("."));
        inotify
            .add_watch(dir, AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_DELETE)
            .map_err(std::io::Error::from)
            .context(|| format!("watching {}", dir.display()))?;
        let mut w = Watch {
            inotify,
            file: file.to_path_buf(),
            file_wd: None,
            pidfds: Vec::new(),
            watch_stdout: false,
            pending_also: None,
        };
        w.watch_file();
        Ok(w)
    }

    /// Watch everything in directory `dir`: files made, moved in, removed,
    /// and written (a directory's watch reports writes to its files), so one
    /// watch covers every worker's event log.
    pub fn dir(dir: &Path) -> Result<Watch> {
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(std::io::Error::from)
            .context(|| "starting inotify".into())?;
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_DELETE_SELF;
        inotify
            .add_watch(dir, flags)
            .map_err(std::io::Error::from)
            .context(|| format!("watching {}", dir.display()))?;
        // `file` is the dir itself: nothing more to arm for it.
        Ok(Watch {
            inotify,
            file: dir.to_path_buf(),
            file_wd: None,
            pidfds: Vec::new(),
            watch_stdout: false,
            pending_also: None,
        })
    }

    /// (Re)arm the watch on the file itself; a no-op while it does not exist.
    fn watch_file(&mut self) {
        let flags = AddWatchFlags::IN_MODIFY
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ATTRIB;
        if let Ok(wd) = self.inotify.add_watch(&self.file, flags) {
            self.file_wd = Some(wd);
        }
    }

    /// Also wake when `other` changes: a harness file whose change can end a
    /// turn. A file not there yet (Claude Code creates its transcript, and
    /// in a new project its directory, at the first prompt's first write)
    /// is watched through its nearest existing directory, and armed on the
    /// wake that comes when it appears. Best effort: what cannot be watched
    /// is left to the liveness tick.
    pub fn also(mut self, other: &Path) -> Watch {
        self.pending_also = Some(other.to_path_buf());
        self.arm_also();
        self
    }

    /// Also wake when `other` is written, if it can be watched now (one
    /// of many: a fleet's turn witnesses). Whether it could.
    pub fn add_file(&mut self, other: &Path) -> bool {
        self.inotify.add_watch(other, AddWatchFlags::IN_MODIFY).is_ok()
    }

    fn arm_also(&mut self) {
        let Some(other) = self.pending_also.clone() else { return };
        if self.inotify.add_watch(&other, AddWatchFlags::IN_MODIFY).is_ok() {
            self.pending_also = None;
            return;
        }
        let flags = AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_MOVED_TO;
        // Up to three levels: the transcript's dir, the projects dir, ~/.claude.
        for dir in other.ancestors().skip(1).take(3) {
            if self.inotify.add_watch(dir, flags).is_ok() {
                return;
            }
        }
    }

    /// Also wake when process `pid` exits (a worker's pane process).
    pub fn with_process(mut self, pid: i32) -> Watch {
        self.add_process(pid);
        self
    }

    /// As `with_process`, for a watch in hand (one per worker of a fleet).
    pub fn add_process(&mut self, pid: i32) {
        self.pidfds.extend(pidfd_open(pid));
    }

    /// Also wake when stdout is a pipe and its reader closes it, so a follower
    /// in `… | head -1` ends without waiting for one more event.
    pub fn with_stdout(mut self) -> Watch {
        self.watch_stdout = true;
        self
    }

    /// Block until something changes, the process exits, stdout closes, or
    /// `until` passes (`None`: no deadline).
    pub fn wait(&mut self, until: Option<Instant>) -> Result<Wake> {
        loop {
            let timeout = match until {
                None => PollTimeout::NONE,
                Some(t) => {
                    let left = t.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Wake::Timeout);
                    }
                    // Round up so we do not wake a hair early and spin.
                    let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128) as i32;
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
                }
            };
            let stdout = std::io::stdout();
            let stdout_fd: BorrowedFd<'_> = stdout.as_fd();
            let mut fds = vec![PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
            for p in &self.pidfds {
                fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
            }
            let signal_slot = crate::signals::wake_fd().map(|fd| {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                fds.len() - 1
            });
            let stdout_slot = self.watch_stdout.then(|| {
                // POLLERR/POLLHUP are reported whatever we ask for; asking for
                // nothing keeps a writable pipe from waking us.
                fds.push(PollFd::new(stdout_fd, PollFlags::empty()));
                fds.len() - 1
            });
            match poll(&mut fds, timeout) {
                Ok(0) => return Ok(Wake::Timeout),
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => {
                    crate::signals::check()?;
                    continue;
                }
                Err(e) => return Err(std::io::Error::from(e)).context(|| "waiting for events".into()),
            }
            let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
            if signal_slot.is_some_and(ready) {
                crate::signals::check()?;
            }
            if let Some(i) = stdout_slot {
                if ready(i) {
                    return Ok(Wake::OutputClosed);
                }
            }
            let exited: Vec<usize> = (0..self.pidfds.len()).filter(|&i| ready(1 + i)).collect();
            if !exited.is_empty() {
                drop(fds);
                for i in exited.into_iter().rev() {
                    self.pidfds.remove(i);
                }
                return Ok(Wake::ProcessExited);
            }
            if ready(0) {
                self.drain();
                return Ok(Wake::Changed);
            }
            if until.is_some_and(|t| Instant::now() >= t) {
                return Ok(Wake::Timeout);
            }
        }
    }

    /// Read the queued inotify events, re-arming the file watch when the file
    /// appeared or was replaced.
    fn drain(&mut self) {
        let mut rearm = false;
        while let Ok(events) = self.inotify.read_events() {
            if events.is_empty() {
                break;
            }
            for ev in events {
                let about_file = ev.name.as_deref().is_some_and(|n| Some(n) == self.file.file_name());
                if (about_file && ev.mask.intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO))
                    || ev.mask.contains(AddWatchFlags::IN_IGNORED)
                {
                    rearm = true;
                }
            }
        }
        if (rearm || self.file_wd.is_none()) && !self.file.is_dir() {
            self.watch_file();
        }
        self.arm_also();
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = hand_over_last_close(self.inotify.as_fd());
    }
}

/// Closing the last descriptor of an inotify instance makes the closing task
/// wait for the kernel's mark reaper and an SRCU grace period
/// (fsnotify_destroy_group): 5 to 20 ms measured on 6.18, paid by every
/// waiter on its way out and so by `csd-wait && …`. Removing the watches
/// first does not help: the reaper needs about as long again after
/// inotify_rm_watch, and the wait is decided microseconds before exit.
///
/// So the last reference goes to the kernel instead of to a process: the
/// instance is sent (SCM_RIGHTS) through a socket pair into a datagram
/// socket's own receive queue, together with that socket itself, and both
/// ends are closed. The socket is then reachable only from its own queue,
/// an unreachable cycle that the unix-socket garbage collector frees from a
/// kernel worker, where the grace period is waited for off our exit path.
/// No process is made, so nothing is left to reap. Where the collector runs
/// in the closing task (older kernels), the cost is what a plain close costs;
/// on any failure the descriptor is simply closed.
fn hand_over_last_close(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    use nix::libc;
    let mut pair = [0i32; 2];
    // SAFETY: socketpair writes two descriptors into the array it is given.
    if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0, pair.as_mut_ptr()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fresh descriptors that nothing else owns; closed when dropped.
    let (tx, rx) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
    let fds = [fd.as_raw_fd(), rx.as_raw_fd()];
    let payload = std::mem::size_of_val(&fds) as u32;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    // u64 words keep the control buffer aligned for cmsghdr.
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec { iov_base: byte.as_mut_ptr().cast(), iov_len: 1 };
    // SAFETY: msghdr is plain old data; every pointer set below outlives the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer holds one header of CMSG_SPACE(payload) bytes,
    // so the first header and its data (CMSG_LEN(payload)) fit in it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as _;
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), payload as usize);
    }
    // SAFETY: msg describes live buffers, as above.
    if unsafe { libc::sendmsg(tx.as_raw_fd(), &msg, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) } != 1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A pollable handle on a process: readable once it exits. `None` when the
/// kernel has no pidfd_open (before 5.3) or the process is already gone; the
/// caller then falls back to checking tmux on a tick.
pub fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1;
    // no memory is shared with the kernel.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the syscall returned a fresh descriptor that nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// How often a waiter double-checks that the worker's tmux session is still
/// there, for the cases a pidfd cannot see (a pane process that survives its
/// session being killed). Events still wake the waiter at once.
pub const LIVENESS_TICK: Duration = Duration::from_secs(2);
