//! Processes: the one reader of /proc (a process, its children, its
//! command line, terminal and environment), and waiting on a child with a
//! deadline. Everything a pid read here becomes (a worker's proof, a
//! process to end) is checked by its start time, so a reused pid is
//! never mistaken for the process it replaced.

use crate::error::{failed, Result};
use std::collections::VecDeque;

/// How many processes below a pane are looked at: a worker's harness and its
/// shell sit at the top; a runaway tree must not make a status slow.
const MAX_PROCS: usize = 256;

/// Whether `pid`, or a process below it, has `word` on its command line as
/// a word of its own: a whole argument, or a part of one bounded by
/// characters a name cannot hold (`--session-id=ID`, `sh -c "claude
/// --resume ID"`). A process that is gone names nothing; a command line
/// that cannot be read is an error, never a guess.
pub fn names_arg(pid: i32, word: &str) -> Result<bool> {
    if word.is_empty() {
        return Ok(false);
    }
    let mut seen = 0;
    let mut queue = VecDeque::from([pid]);
    let mut children = None;
    while let Some(p) = queue.pop_front() {
        match std::fs::read(format!("/proc/{p}/cmdline")) {
            Ok(line) if line.split(|b| *b == 0).any(|arg| holds_word(arg, word.as_bytes())) => return Ok(true),
            Ok(_) => {}
            Err(e) if matches!(e.raw_os_error(), Some(nix::libc::ENOENT | nix::libc::ESRCH)) => continue,
            Err(e) => return Err(failed(format!("could not read the command line of process {p}: {e}"))),
        }
        seen += 1;
        if seen >= MAX_PROCS {
            break;
        }
        let kids = children.get_or_insert_with(parent_links);
        queue.extend(kids.iter().filter(|(_, parent)| *parent == p).map(|(child, _)| *child));
    }
    Ok(false)
}

/// `(pid, parent pid)` of every process.
fn parent_links() -> Vec<(i32, i32)> {
    processes(None).into_iter().map(|p| (p.pid, p.ppid)).collect()
}

/// One process, as /proc/PID/stat shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// Its session's id (the session leader's pid).
    pub sid: i32,
    /// Start time (clock ticks since boot): tells this process from a later one with its pid.
    pub start: u64,
    /// The name it gave itself: anything at all.
    pub comm: String,
    /// Its state letter (`R`, `S`, `D`, `T`, …; never `Z`: a zombie reads as gone).
    pub state: char,
}

/// Every live process (of user `uid` only, when given), zombies aside.
pub fn processes(uid: Option<u32>) -> Vec<Proc> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if uid.is_some_and(|uid| e.metadata().ok().map(|m| m.uid()) != Some(uid)) {
            continue;
        }
        out.extend(read(pid));
    }
    out
}

/// Process `pid` as it runs now; `None` once it has exited (a zombie has).
pub fn read(pid: i32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold anything: fields follow the last ')'.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?.to_string();
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    if f.first() == Some(&"Z") {
        return None;
    }
    Some(Proc {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        sid: f.get(3)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
        comm,
        state: f.first()?.chars().next()?,
    })
}

/// Whether `pid` runs (a zombie has finished: only its parent's wait is missing).
pub fn alive(pid: i32) -> bool {
    read(pid).is_some()
}

/// The start time of `pid` (clock ticks since boot), or `None` once it has exited.
pub fn start_time(pid: i32) -> Option<u64> {
    read(pid).map(|p| p.start)
}

/// Where the process's standard input points.
pub fn terminal_of(pid: i32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/fd/0")).ok()?.into_os_string().into_string().ok()
}

/// Whether the process's environment (as it was at exec) holds `var=value`
/// exactly; one that cannot be read holds nothing.
pub fn environ_has(pid: i32, var: &str, value: &str) -> bool {
    let Ok(env) = std::fs::read(format!("/proc/{pid}/environ")) else { return false };
    let want = format!("{var}={value}");
    env.split(|b| *b == 0).any(|v| v == want.as_bytes())
}

/// `root` and every live process below it.
pub fn descendants(root: i32) -> Vec<i32> {
    let links = parent_links();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(links.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found
}

/// An exit status as a shell gives it: the code, or 128 + the signal.
pub fn exit_code_of(s: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
}

/// Wait for a child that was told to end until `until`, then kill it: how
/// it ended (`None` if it could not be waited for).
pub fn wait_or_kill(child: &mut std::process::Child, until: std::time::Instant) -> Option<std::process::ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if std::time::Instant::now() < until => std::thread::sleep(std::time::Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
    }
}

/// `word` in `arg`, not run together with other name characters.
fn holds_word(arg: &[u8], word: &[u8]) -> bool {
    let name_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.');
    memchr::memmem::find_iter(arg, word).any(|at| {
        let before = at.checked_sub(1).map(|i| arg[i]);
        let after = arg.get(at + word.len()).copied();
        !before.is_some_and(name_char) && !after.is_some_and(name_char)
    })
}

#[cfg(test)]
mod tests {
    use super::holds_word;

    #[test]
    fn a_word_stands_alone() {
        let id = b"6d6d-11";
        for yes in [&b"6d6d-11"[..], b"--session-id=6d6d-11", b"claude --resume 6d6d-11 --x", b"'6d6d-11'"] {
            assert!(holds_word(yes, id), "{}", String::from_utf8_lossy(yes));
        }
        for no in [&b"6d6d-111"[..], b"x6d6d-11", b"6d6d-11.jsonl", b"6d6d-1", b""] {
            assert!(!holds_word(no, id), "{}", String::from_utf8_lossy(no));
        }
    }
}
