//! An ssh destination, checked before it reaches ssh's command line.
//!
//! It is always passed after `--`, so it could not become an option even
//! unchecked; the check still refuses what no destination needs (a leading
//! `-`, whitespace, control or shell characters), so that a record that does
//! not hold up, or a typo, is an error here rather than a surprise in ssh,
//! and so that the `ssh -t DEST …` line printed for a human is safe to paste.

use crate::error::{usage, Result};

pub const MAX_DEST_LEN: usize = 255;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dest(String);

impl Dest {
    /// `[user@]host`, `ssh://[user@]host[:port]`, or a Host alias of the
    /// operator's ssh config.
    pub fn parse(s: &str) -> Result<Dest> {
        let bad = |why: &str| usage(format!("invalid host '{}': {why}", crate::name::printable(s)));
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > MAX_DEST_LEN {
            return Err(bad(&format!("longer than {MAX_DEST_LEN} bytes")));
        }
        if s.starts_with('-') {
            return Err(bad("it starts with '-' (it would read as an ssh option)"));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || "._-@:/[]".contains(*c))) {
            return Err(bad(&format!(
                "'{}' is not allowed (use [user@]host, ssh://[user@]host[:port] or a Host alias)",
                c.escape_default()
            )));
        }
        let (uri, rest) = match s.strip_prefix("ssh://") {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        if let Some(u) = user {
            if u.is_empty() || u.contains(['@', '/', ':', '[', ']']) || u.starts_with('-') {
                return Err(bad("the user part is not a user name"));
            }
        }
        let host = if uri {
            let hostport = hostport.strip_suffix('/').unwrap_or(hostport);
            split_port(hostport).map_err(&bad)?
        } else {
            if hostport.contains('/') {
                return Err(bad("'/' belongs only in ssh://[user@]host[:port]"));
            }
            hostport
        };
        if host.is_empty() || host.starts_with('-') {
            return Err(bad("it names no host"));
        }
        if host.contains('/') {
            return Err(bad("'/' after the host"));
        }
        Ok(Dest(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short stable key for file names (the control socket): FNV-1a.
    pub fn key(&self) -> String {
        let mut h: u64 = 0xcbf29ce484222325;
        for b in self.0.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        format!("{h:016x}")
    }
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → the host.
fn split_port(s: &str) -> std::result::Result<&str, &'static str> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("an unclosed '['")?;
        match after {
            "" => (h, None),
            a => (h, Some(a.strip_prefix(':').ok_or("junk after ']'")?)),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => {}
            _ => return Err("the port is not a number from 1 to 65535"),
        }
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_ssh_takes_are_accepted() {
        for d in [
            "build1",
            "me@build1",
            "me@10.0.0.2",
            "ssh://me@build1:2222",
            "ssh://build1",
            "ssh://[::1]:22",
            "ssh://me@[fe80::1]",
            "vm-7.lab.example",
            "user_x@host-1",
        ] {
            assert!(Dest::parse(d).is_ok(), "{d} refused");
        }
    }

    #[test]
    fn what_could_reach_ssh_as_an_option_or_a_shell_is_refused() {
        for d in [
            "",
            "-oProxyCommand=touch /tmp/pwned",
            "-oProxyCommand=x",
            "-p22",
            "host -oProxyCommand=x",
            "host\n",
            "ho\tst",
            "a;b",
            "$(x)",
            "`x`",
            "a'b",
            "me@-host",
            "-me@host",
            "ssh://me@host:99999",
            "ssh://me@host:x",
            "ssh://-oProxyCommand=x",
            "host/x",
            "@host",
            "ssh://[::1",
            "a b",
            "a%b",
            "a=b",
        ] {
            assert!(Dest::parse(d).is_err(), "{d:?} accepted");
        }
        assert!(Dest::parse(&"h".repeat(256)).is_err());
    }

    #[test]
    fn keys_are_stable_and_differ() {
        let a = Dest::parse("a").unwrap();
        assert_eq!(a.key(), Dest::parse("a").unwrap().key());
        assert_ne!(a.key(), Dest::parse("b").unwrap().key());
        assert_eq!(a.key().len(), 16);
    }
}
