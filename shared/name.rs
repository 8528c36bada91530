//! Worker names: checked once, before they reach tmux or the file system.

use crate::error::{usage, Result};

pub const MAX_NAME_LEN: usize = 64;

/// Accept letters, digits, `_`, `-` and `.`; no leading `-` (it would read as
/// an option to tmux); no `.` or `..` alone (they are directories); at most 64
/// bytes. Anything else is a usage error (exit 2).
pub fn validate(name: &str) -> Result<&str> {
    let bad = |why: &str| usage(format!("invalid worker name '{}': {why}", printable(name)));
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad("longer than 64 bytes"));
    }
    if name.starts_with('-') {
        return Err(bad("it starts with '-'"));
    }
    if name == "." || name == ".." {
        return Err(bad("it is a directory name"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(bad(&format!("'{}' is not allowed (use letters, digits, '_', '-', '.')", c.escape_default())));
    }
    Ok(name)
}

/// How a WORKER argument names a session id rather than a name: `sid:ID`.
/// A name never holds `:`, so the two can never be taken for each other.
pub const SID_PREFIX: &str = "sid:";

/// What a WORKER argument names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerRef<'a> {
    /// A bare argument: a worker's name (or, when no worker has that name,
    /// its session id, as v4 took it).
    Name(&'a str),
    /// `sid:ID`: the worker whose session id is ID, never a name.
    SessionId(&'a str),
}

/// A WORKER argument, checked as a name is (exit 2 when it does not hold up).
pub fn worker_ref(arg: &str) -> Result<WorkerRef<'_>> {
    match arg.strip_prefix(SID_PREFIX) {
        Some(sid) => Ok(WorkerRef::SessionId(validate(sid)?)),
        None => Ok(WorkerRef::Name(validate(arg)?)),
    }
}

/// tmux turns `.` in a session name into `_`; we name the session the way tmux
/// will, so `has-session` and targets find it.
pub fn tmux_session(name: &str) -> String {
    name.replace('.', "_")
}

/// A name for an error message: control characters escaped, length bounded.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(80).flat_map(|c| c.escape_debug()).collect();
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_charset() {
        for n in ["w1", "a.b", "A_b-9", "x", &"a".repeat(64)] {
            assert!(validate(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn a_session_id_is_named_only_by_its_prefix() {
        assert_eq!(worker_ref("w1").unwrap(), WorkerRef::Name("w1"));
        assert_eq!(worker_ref("sid:abc-1").unwrap(), WorkerRef::SessionId("abc-1"));
        for bad in ["sid:", "sid:../x", "sid:-t", "x:y", "sid:sid:a"] {
            assert!(worker_ref(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_hostile_names() {
        for n in ["", "-t", "a b", "a;b", "a/b", "../x", "..", ".", "a:b", "$(x)", "a\nb", "é", &"a".repeat(65)] {
            assert!(validate(n).is_err(), "{n:?}");
        }
    }
}
