//! One error type and one exit-code contract for every csd binary.
//!
//! | code | meaning                                                    |
//! |------|------------------------------------------------------------|
//! | 0    | success                                                    |
//! | 1    | failure (the worker or the harness did not do what we asked) |
//! | 2    | usage error or bad input (nothing was touched)             |
//! | 3    | no such worker                                             |
//! | 4    | the worker's tmux session is gone (it died while we waited; a CLI that crashed mid-turn) |
//! | 5    | the turn failed: the model API or the CLI reported an error |
//! | 6    | the worker is blocked: it waits on a person (a question, a dialog) |
//! | 7    | the turn was interrupted (Escape or Ctrl-C in the pane)    |
//! | 124  | timed out (as timeout(1))                                  |
//! | 128+N | killed by signal N, after undoing what it had started     |
//!
//! Each binary's `main` is `csd::cli::main_with(run)`: the library maps an
//! `Error` to its code in exactly one place (`Error::code`).

use std::fmt;
use std::io;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILURE: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_NO_WORKER: i32 = 3;
pub const EXIT_GONE: i32 = 4;
pub const EXIT_FAILED: i32 = 5;
pub const EXIT_BLOCKED: i32 = 6;
pub const EXIT_INTERRUPTED: i32 = 7;
pub const EXIT_TIMEOUT: i32 = 124;

#[derive(Debug)]
pub enum Error {
    /// Bad arguments or bad input; printed with a hint to `--help`.
    Usage(String),
    /// The named worker has no meta in the worker dir.
    NoSuchWorker(String),
    /// The worker's tmux session disappeared.
    Gone(String),
    /// A deadline passed.
    Timeout(String),
    /// Anything else that went wrong, with context.
    Failed(String),
    /// A turn that ended other than done (`verdict::Verdict::to_error`): its
    /// exit status (`EXIT_FAILED`, `EXIT_BLOCKED`, `EXIT_INTERRUPTED`) and why.
    Turn(i32, String),
    /// An I/O error with what we were doing when it happened.
    Io(String, io::Error),
    /// SIGINT, SIGTERM or SIGHUP came (the number); `main` undoes what
    /// needs undoing and dies of the same signal.
    Signal(i32),
}

pub type Result<T> = std::result::Result<T, Error>;

/// The exit status of a command made of several (the waits of a fleet on
/// each host): 0 when every part's was; else the first that says most about
/// a worker (failed, blocked, interrupted, no such worker, a failure) over
/// gone, and gone over a timeout. (As fd's `merge_exitcodes`, with csd's
/// statuses ranked.)
pub fn merge_exit_codes(codes: impl IntoIterator<Item = i32>) -> i32 {
    let rank = |c: i32| match c {
        EXIT_OK => 0,
        EXIT_TIMEOUT => 1,
        EXIT_GONE => 2,
        _ => 3,
    };
    codes.into_iter().fold(EXIT_OK, |merged, c| if rank(c) > rank(merged) { c } else { merged })
}

impl Error {
    pub fn code(&self) -> i32 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            Error::NoSuchWorker(_) => EXIT_NO_WORKER,
            Error::Gone(_) => EXIT_GONE,
            Error::Timeout(_) => EXIT_TIMEOUT,
            Error::Failed(_) | Error::Io(..) => EXIT_FAILURE,
            Error::Turn(code, _) => *code,
            Error::Signal(sig) => 128 + sig,
        }
    }

    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io(_, e) if e.kind() == io::ErrorKind::BrokenPipe)
    }

    pub fn no_worker(name: &str) -> Error {
        Error::NoSuchWorker(format!("no worker known as '{name}'"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m)
            | Error::NoSuchWorker(m)
            | Error::Gone(m)
            | Error::Timeout(m)
            | Error::Failed(m)
            | Error::Turn(_, m) => f.write_str(m),
            Error::Io(ctx, e) => write!(f, "{ctx}: {e}"),
            Error::Signal(sig) => {
                let name = nix::sys::signal::Signal::try_from(*sig).map(|s| s.as_str()).unwrap_or("a signal");
                write!(f, "interrupted by {name}")
            }
        }
    }
}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Error {
        Error::Usage(e.to_string())
    }
}

/// Attach "what we were doing" to an `io::Result`.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io(what(), e))
    }
}

pub fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}

pub fn failed(msg: impl Into<String>) -> Error {
    Error::Failed(msg.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_exit_codes_rank_a_workers_own_status_over_gone_over_timeout() {
        assert_eq!(merge_exit_codes([]), EXIT_OK);
        assert_eq!(merge_exit_codes([0, 0]), EXIT_OK);
        assert_eq!(merge_exit_codes([0, EXIT_TIMEOUT, 0]), EXIT_TIMEOUT);
        assert_eq!(merge_exit_codes([EXIT_TIMEOUT, EXIT_GONE]), EXIT_GONE);
        assert_eq!(merge_exit_codes([EXIT_GONE, EXIT_FAILED, EXIT_BLOCKED]), EXIT_FAILED);
        assert_eq!(merge_exit_codes([EXIT_FAILURE, EXIT_GONE, EXIT_FAILED]), EXIT_FAILURE);
    }
}
