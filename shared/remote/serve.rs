//! The host's side of a call (`csd remote-call`, run by the controller
//! through ssh): read what to run from stdin, run it, and end it if the
//! controller hangs up.
//!
//! Only the per-worker csd binaries can be asked for, by name, from beside
//! this one; their arguments never pass through a shell. sshd gives a
//! command without a terminal no signal when the connection goes, so the
//! end of stdin is the controller going away: the binary is then sent
//! SIGTERM (it undoes what it started, as for a Ctrl-C), and SIGKILL if it
//! has not ended within 5 s.

use super::exit_code_of;
use crate::error::{usage, Error, Result};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// What a controller may run here.
pub const CALLABLE: [&str; 7] =
    ["csd-launch", "csd-send", "csd-wait", "csd-events", "csd-turn", "csd-status", "csd-stop"];
const HEADER_CAP: usize = 1024 * 1024;
/// A prompt larger than this is not a prompt.
const STDIN_CAP: u64 = 256 * 1024 * 1024;
const GRACE: Duration = Duration::from_secs(5);

struct Header {
    argv: Vec<String>,
    expect: Vec<(String, String)>,
    stdin: u64,
    version: String,
    host: String,
    check_version: bool,
}

fn parse_header(line: &[u8]) -> std::result::Result<Header, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("the request is not JSON: {e}"))?;
    if v.get("csd_remote").and_then(Value::as_u64) != Some(1) {
        return Err("not a csd remote-call request (version 1)".into());
    }
    let argv: Vec<String> = v
        .get("argv")
        .and_then(Value::as_array)
        .ok_or("the request has no argv")?
        .iter()
        .map(|a| a.as_str().map(str::to_string).ok_or("an argument is not a string"))
        .collect::<std::result::Result<_, _>>()?;
    let stdin = v.get("stdin").and_then(Value::as_u64).ok_or("the request has no stdin length")?;
    if stdin > STDIN_CAP {
        return Err(format!("{stdin} bytes of stdin is over the {STDIN_CAP}-byte cap"));
    }
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let expect = match v.get("expect") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(pairs)) => pairs
            .iter()
            .map(|p| {
                match p.as_array().map(|a| (a.first().and_then(Value::as_str), a.get(1).and_then(Value::as_str))) {
                    Some((Some(n), Some(id))) => Ok((n.to_string(), id.to_string())),
                    _ => Err("an expected worker is not [name, id]"),
                }
            })
            .collect::<std::result::Result<_, _>>()?,
        Some(_) => return Err("'expect' is not a list".into()),
    };
    Ok(Header {
        argv,
        expect,
        stdin,
        version: s("version"),
        host: s("host"),
        check_version: v.get("check_version").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Read the request from stdin, run it, and give its exit status.
pub fn serve() -> Result<i32> {
    crate::signals::install()?;
    let mut input = std::io::stdin().lock();
    let (head, mut payload) = read_line(&mut input)?;
    let req = parse_header(&head).map_err(usage)?;
    let Some(bin) = req.argv.first().filter(|b| CALLABLE.contains(&b.as_str())) else {
        return Err(usage(format!(
            "remote-call runs only {}; asked for '{}'",
            CALLABLE.join(", "),
            crate::name::printable(req.argv.first().map_or("", |s| s.as_str()))
        )));
    };
    let want = req.stdin as usize;
    if payload.len() < want {
        let mut rest = Vec::with_capacity(want - payload.len());
        (&mut input)
            .take((want - payload.len()) as u64)
            .read_to_end(&mut rest)
            .map_err(|e| Error::Io("reading the request".into(), e))?;
        payload.extend(rest);
    }
    if payload.len() != want {
        return Err(usage("the request ended before its stdin did"));
    }
    let mine = env!("CARGO_PKG_VERSION");
    if req.check_version && req.version != mine {
        crate::cli::note(format!(
            "csd: warning: host '{}' runs csd {mine}; the controller runs csd {}",
            crate::name::printable(&req.host),
            crate::name::printable(&req.version)
        ));
    }
    check_identity(&req.expect)?;
    let path = crate::cli::beside_me(bin)?;
    if payload.is_empty() && quick(&req.argv) {
        // Nothing to feed and nothing that waits: become the binary, one
        // process fewer on every status call (its stdout is ssh's already).
        use std::os::unix::process::CommandExt;
        let err = std::process::Command::new(&path).args(&req.argv[1..]).stdin(Stdio::null()).exec();
        return Err(Error::Io(format!("running {}", path.display()), err));
    }
    let mut child = std::process::Command::new(&path)
        .args(&req.argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Error::Io(format!("running {}", path.display()), e))?;
    let feeder = child.stdin.take().map(|mut w| {
        std::thread::spawn(move || {
            // A binary that reads no stdin closes it: that is its business.
            let _ = w.write_all(&payload);
        })
    });
    let code = supervise(&mut child, input.as_fd());
    if let Some(f) = feeder {
        let _ = f.join();
    }
    code
}

/// Each expected worker is here under its name with the id the
/// controller recorded: one that went, and a later one that took the name,
/// are not the controller's (status 3), and nothing is run for them.
fn check_identity(expect: &[(String, String)]) -> Result<()> {
    use crate::worker::{Lookup, Worker};
    if expect.is_empty() {
        return Ok(());
    }
    let dir = crate::workerdir::WorkerDir::from_env()?;
    for (name, id) in expect {
        crate::name::validate(name)?;
        let found = match Worker::lookup(&dir, name) {
            Ok(Lookup::Registered(w)) => w.meta.csd_id().map(str::to_string),
            Ok(Lookup::Pending(p)) => p.marker.csd_id,
            // Stopped with its worktree kept: that is still the controller's to diff or discard.
            Err(Error::NoSuchWorker(_)) if crate::worktree::kept_for(&dir, name, id) => continue,
            Err(e) => return Err(e),
        };
        if found.as_deref() != Some(id.as_str()) {
            return Err(Error::NoSuchWorker(format!(
                "the worker named '{name}' here is not the one the controller launched (another took the name)"
            )));
        }
    }
    Ok(())
}

/// A call that ends by itself at once: nothing to end if the controller goes.
fn quick(argv: &[String]) -> bool {
    let follows = argv.iter().any(|a| a == "-f" || a == "--follow");
    match argv[0].as_str() {
        "csd-status" | "csd-turn" => true,
        "csd-events" => !follows,
        _ => false,
    }
}

/// The header line and whatever came after it in the same reads.
fn read_line(input: &mut impl Read) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(nl) = memchr::memchr(b'\n', &buf) {
            let rest = buf.split_off(nl + 1);
            buf.pop();
            return Ok((buf, rest));
        }
        if buf.len() > HEADER_CAP {
            return Err(usage("the request line is over its cap"));
        }
        let n = input.read(&mut chunk).map_err(|e| Error::Io("reading the request".into(), e))?;
        if n == 0 {
            return Err(usage("no request on stdin (this is what a csd controller runs through ssh)"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Wait for `child`, ending it if stdin closes or a signal comes.
fn supervise(child: &mut Child, input: BorrowedFd) -> Result<i32> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let pidfd = crate::watch::pidfd_open(child.id() as i32);
    loop {
        if let Some(s) = child.try_wait().map_err(|e| Error::Io("waiting".into(), e))? {
            return Ok(exit_code_of(s));
        }
        if crate::signals::received().is_some() {
            return Ok(end(child));
        }
        let mut fds = vec![PollFd::new(input, PollFlags::POLLIN)];
        if let Some(p) = &pidfd {
            fds.push(PollFd::new(p.as_fd(), PollFlags::POLLIN));
        }
        if let Some(w) = crate::signals::wake_fd() {
            fds.push(PollFd::new(w, PollFlags::POLLIN));
        }
        // Without a pidfd (old kernels), look again every 100 ms.
        let tick = if pidfd.is_some() { PollTimeout::NONE } else { PollTimeout::from(100u8) };
        let _ = poll(&mut fds, tick);
        if fds[0].revents().is_some_and(|r| !r.is_empty()) {
            let mut scrap = [0u8; 4096];
            match nix::unistd::read(input.as_raw_fd(), &mut scrap) {
                Ok(0) | Err(_) => return Ok(end(child)),
                // Nothing more is sent; whatever comes is ignored.
                Ok(_) => {}
            }
        }
    }
}

/// SIGTERM, a grace period, then SIGKILL; the exit status it ended with.
fn end(child: &mut Child) -> i32 {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    super::wait_or_kill(child, Instant::now() + GRACE).map_or(137, exit_code_of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_line_is_split_from_what_follows() {
        let mut r: &[u8] = b"{\"a\":1}\nPROMPT";
        let (h, rest) = read_line(&mut r).unwrap();
        assert_eq!(h, b"{\"a\":1}");
        assert_eq!(rest, b"PROMPT");
    }

    #[test]
    fn headers_that_do_not_hold_up_are_refused() {
        assert!(parse_header(b"{}").is_err());
        assert!(parse_header(b"{\"csd_remote\":1,\"argv\":[1],\"stdin\":0}").is_err());
        assert!(parse_header(b"{\"csd_remote\":1,\"argv\":[\"csd-status\"],\"stdin\":999999999999}").is_err());
        let h = parse_header(b"{\"csd_remote\":1,\"argv\":[\"csd-status\",\"w\"],\"stdin\":3}").unwrap();
        assert_eq!(h.argv, ["csd-status", "w"]);
        assert_eq!(h.stdin, 3);
    }
}
