//! The processes a worker started, found and ended when it stops: a dev
//! server or a watcher started with `nohup … &` from the pane outlives the
//! harness, and `setsid nohup` puts one beyond the pane's session too.
//!
//! Only processes proven the worker's are touched, and every proof comes
//! from /proc, never from a file on disk: the pane's process (as tmux names
//! it, its session proven by its stamp) and what descends from it; what
//! runs in the pane's terminal session; and a daemon (its parent is init)
//! whose environment carries the worker's `CSD_WORKER_ID`, with what
//! descends from it. Never another user's process, a tmux process (the
//! server may carry the id of the worker whose launch started it), init,
//! nor the stopping process or its ancestors (a worker may stop itself).

use crate::process::read as read_proc;
pub use crate::process::Proc;
use nix::sys::signal::Signal;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long what the worker started gets to end on SIGTERM before SIGKILL.
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// Every live process of our user, zombies aside.
fn table() -> Vec<Proc> {
    let uid = nix::unistd::geteuid().as_raw();
    crate::process::processes(Some(uid))
}

/// Us and every process above us: never ours to end.
fn ourselves(procs: &HashMap<i32, &Proc>) -> HashSet<i32> {
    let mut mine = HashSet::from([1, std::process::id() as i32]);
    let mut at = std::process::id() as i32;
    while let Some(p) = procs.get(&at).filter(|p| p.ppid > 0) {
        at = p.ppid;
        if !mine.insert(at) {
            break;
        }
    }
    mine
}

/// The process `pid` as it runs now (`None` once it has exited).
pub fn process(pid: i32) -> Option<Proc> {
    read_proc(pid)
}

/// The worker's processes now: those of `known` still running (same start
/// time), the pane's process `pane` and what runs in its terminal session,
/// daemons carrying `worker_id`, and everything below any of them.
pub fn find(pane: &Proc, worker_id: Option<&str>, known: &[Proc]) -> Vec<Proc> {
    let all = table();
    let by_pid: HashMap<i32, &Proc> = all.iter().map(|p| (p.pid, p)).collect();
    let spared = ourselves(&by_pid);
    // A tmux process is never the worker's, nor a way to what is below it: a
    // server that a worker's csd-launch started carries the worker's id, and
    // its panes are other workers' and other people's.
    let tmux = |p: &Proc| p.comm.starts_with("tmux");
    let still = |k: &Proc| by_pid.get(&k.pid).is_some_and(|p| p.start == k.start && !tmux(p));
    let mut ours: HashSet<i32> = known.iter().chain([pane]).filter(|k| still(k)).map(|k| k.pid).collect();
    // A session's id is its leader's pid, which the kernel does not hand out
    // again while the session has members; a process now holding that pid
    // with another start time means the session is over and its id free.
    let session_over = by_pid.get(&pane.pid).is_some_and(|p| p.start != pane.start);
    for p in all.iter().filter(|p| !tmux(p)) {
        let in_session = p.sid == pane.pid && !session_over;
        let daemon = p.ppid == 1 && worker_id.is_some_and(|id| crate::process::environ_has(p.pid, "CSD_WORKER_ID", id));
        if in_session || daemon {
            ours.insert(p.pid);
        }
    }
    // Everything below what is ours is ours.
    let mut grew = true;
    while grew {
        grew = false;
        for p in all.iter().filter(|p| !tmux(p)) {
            if !ours.contains(&p.pid) && ours.contains(&p.ppid) {
                ours.insert(p.pid);
                grew = true;
            }
        }
    }
    let mut found: Vec<Proc> = all.into_iter().filter(|p| ours.contains(&p.pid) && !spared.contains(&p.pid)).collect();
    found.sort_by_key(|p| p.pid);
    found
}

/// End `procs`: SIGTERM, up to `grace` for them to go, then SIGKILL. Each
/// signal goes through a pidfd opened while the process was still the one
/// found, so a pid reused meanwhile is never hit. Returns those signalled.
pub fn end(procs: &[Proc], grace: Duration) -> Vec<Proc> {
    let signalled: Vec<Proc> = procs.iter().filter(|p| signal(p, Signal::SIGTERM)).cloned().collect();
    let until = Instant::now() + grace;
    while signalled.iter().any(running) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(25));
    }
    for p in signalled.iter().filter(|p| running(p)) {
        signal(p, Signal::SIGKILL);
    }
    signalled
}

fn running(p: &Proc) -> bool {
    read_proc(p.pid).is_some_and(|now| now.start == p.start)
}

fn signal(p: &Proc, sig: Signal) -> bool {
    let Some(fd) = crate::watch::pidfd_open(p.pid) else { return false };
    if !running(p) {
        return false;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: pidfd_send_signal takes a pidfd we own, a signal number and no info.
    let rc = unsafe {
        nix::libc::syscall(nix::libc::SYS_pidfd_send_signal, fd.as_raw_fd(), sig as i32, std::ptr::null::<u8>(), 0)
    };
    rc == 0
}

/// `3 (sleep), 4 (sh)`: what a stop ended, for its report. A process names
/// itself: its name is escaped, never written to a terminal as it is.
pub fn describe(procs: &[Proc]) -> String {
    procs.iter().map(|p| format!("{} ({})", p.pid, crate::name::printable(&p.comm))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_process_is_found_with_what_it_started_and_never_ourselves() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let me = process(std::process::id() as i32).unwrap();
        let found = find(&me, None, &[]);
        // We lead no session here, but our child descends from us: it is found, we are not.
        assert!(found.iter().any(|p| p.pid == child.id() as i32), "{found:?}");
        assert!(!found.iter().any(|p| p.pid == me.pid));
        let ended = end(&found.into_iter().filter(|p| p.pid == child.id() as i32).collect::<Vec<_>>(), TERM_GRACE);
        assert_eq!(ended.len(), 1);
        assert!(child.wait().unwrap().signal().is_some());
        let named = Proc { comm: "evil\x1b[2J".into(), ..me };
        assert!(!describe(&[named]).contains('\x1b'));
    }
}
