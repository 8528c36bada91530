//! tmux, spoken only in argv: no shell ever sees a worker's name or a prompt.
//!
//! Every command names its server by the socket's full path (`-S`), never by
//! a label that `TMUX_TMPDIR` or `$TMUX` would turn into a different server
//! for a different shell. Targets are exact (`=name`). Each argument goes
//! through one builder ([`Args`]) that keeps tmux from reading it as a
//! command separator.
//!
//! "tmux could not be asked" (not installed, a socket we may not use, an
//! unknown option) is an error, never "the session is gone": only tmux
//! saying so, or its server provably not running, is an absence.
//!
//! Every call has a deadline (`CSD_TMUX_TIMEOUT_MS`, and no longer than a
//! command's own TIMEOUT, [`cap_calls`]) and ends at a signal: a server that
//! does not answer is an error naming it, and once one call to it has timed
//! out, the command asks it nothing more.

use crate::error::{failed, usage, Context, Error, Result};
use crate::name::tmux_session;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The user option every session csd creates carries: the worker's id.
pub const STAMP_OPTION: &str = "@csd_id";
/// `new-session -e` and the formats csd reads came with tmux 3.2.
pub const MIN_VERSION: (u32, u32) = (3, 2);
/// How long one tmux call may take (`CSD_TMUX_TIMEOUT_MS`): a healthy server
/// answers in milliseconds, even on a loaded machine.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// A command's own TIMEOUT, in ms (0: none): no tmux call waits longer.
static CALL_CAP_MS: AtomicU64 = AtomicU64::new(0);
/// Servers that let a call time out in this process: asked nothing more.
static UNANSWERED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// No tmux call of this process waits longer than `limit` (a command's own
/// TIMEOUT, when shorter than `CSD_TMUX_TIMEOUT_MS`).
pub fn cap_calls(limit: Duration) {
    let ms = limit.as_millis().clamp(1, u64::MAX as u128) as u64;
    CALL_CAP_MS.store(ms, Ordering::SeqCst);
}

/// How long the next tmux call may take.
fn call_timeout() -> Result<Duration> {
    let knob = crate::knobs::millis("CSD_TMUX_TIMEOUT_MS", CALL_TIMEOUT)?;
    Ok(match CALL_CAP_MS.load(Ordering::SeqCst) {
        0 => knob,
        cap => knob.min(Duration::from_millis(cap)),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tmux {
    socket: PathBuf,
}

/// A session as tmux reports it: its server-wide id (`$3`), the worker id
/// it is stamped with (empty when none), and its pane's process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub stamp: String,
    pub pane_pid: Option<i32>,
}

/// One tmux command line, built argument by argument.
struct Args(Vec<OsString>);

impl Args {
    fn new(sub: &str) -> Args {
        Args(vec![sub.into()])
    }

    /// An argument, kept literal: tmux splits a command list at any argument
    /// ending in `;`, so that `;` is escaped (tmux drops the backslash).
    fn arg(mut self, a: impl AsRef<OsStr>) -> Args {
        let a = a.as_ref();
        let bytes = a.as_encoded_bytes();
        if bytes.ends_with(b";") {
            let mut s = OsString::from(OsStr::from_bytes(&bytes[..bytes.len() - 1]));
            s.push("\\;");
            self.0.push(s);
        } else {
            self.0.push(a.to_os_string());
        }
        self
    }

    fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(self, items: I) -> Args {
        items.into_iter().fold(self, Args::arg)
    }

    /// `-e K=V` for each variable: the environment of a pane about to start.
    fn env(self, env: &[(String, String)]) -> Args {
        env.iter().fold(self, |a, (k, v)| a.arg("-e").arg(format!("{k}={v}")))
    }

    /// `;` between two commands run by one tmux client, one after the other.
    fn then(mut self, sub: &str) -> Args {
        self.0.push(";".into());
        self.0.push(sub.into());
        self
    }
}

impl Tmux {
    /// The server `CSD_TMUX_SOCKET` names (a label, or a path when it holds a
    /// `/`); unset, the server this shell's tmux would use (`$TMUX`'s, else
    /// the default one).
    pub fn from_env() -> Result<Tmux> {
        match std::env::var("CSD_TMUX_SOCKET") {
            Ok(s) if !s.is_empty() => Tmux::at(&s),
            Ok(_) | Err(std::env::VarError::NotPresent) => {
                let inside = std::env::var("TMUX").ok().and_then(|t| t.split(',').next().map(str::to_string));
                match inside.filter(|p| p.starts_with('/')) {
                    Some(path) => Tmux::at(&path),
                    None => Tmux::at("default"),
                }
            }
            Err(_) => Err(usage("CSD_TMUX_SOCKET is not valid UTF-8")),
        }
    }

    /// A server by label or path, as `CSD_TMUX_SOCKET` or a meta gives it.
    /// A label is resolved here, once, as tmux resolves `-L` (under
    /// `$TMUX_TMPDIR`, else /tmp): metas record the path that results.
    pub fn at(spec: &str) -> Result<Tmux> {
        if spec.is_empty() || spec.starts_with('-') || spec.contains(['\0', '\n']) || spec.len() > 1024 {
            return Err(usage(format!("'{}' is not a usable tmux socket", crate::name::printable(spec))));
        }
        let socket = if spec.contains('/') {
            let p = PathBuf::from(spec);
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().context(|| "finding the current directory".into())?.join(p)
            }
        } else {
            label_dir().join(spec)
        };
        Ok(Tmux { socket })
    }

    /// The socket's full path: what metas record and `-S` takes.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The argv prefix that reaches this server, for commands a human runs.
    pub fn server_args(&self) -> Vec<String> {
        vec!["-S".into(), self.socket.to_string_lossy().into_owned()]
    }

    /// A tmux command for this server. Its own process group: a Ctrl-C at
    /// the terminal goes to csd, which decides, not to a tmux client that
    /// would die half-way through a paste.
    pub fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket);
        c.stdin(Stdio::null());
        c.process_group(0);
        c
    }

    fn output(&self, args: Args) -> Result<Output> {
        self.call(&args.0, None)
    }

    /// Run one tmux command (with `input` on its stdin) to its deadline.
    fn call(&self, args: &[OsString], input: Option<&[u8]>) -> Result<Output> {
        crate::signals::check()?;
        let limit = call_timeout()?;
        let known = UNANSWERED.lock().map(|s| s.contains(&self.socket)).unwrap_or(false);
        if known {
            return Err(self.unanswered(limit));
        }
        let mut c = self.command();
        c.args(args);
        match crate::bounded::run(c, input, Instant::now() + limit).map_err(spawn_error)? {
            crate::bounded::Ended::Exited(out) => Ok(out),
            crate::bounded::Ended::Signalled(sig) => Err(Error::Signal(sig)),
            crate::bounded::Ended::Expired => {
                if let Ok(mut s) = UNANSWERED.lock() {
                    s.push(self.socket.clone());
                }
                Err(self.unanswered(limit))
            }
        }
    }

    /// A server that does not answer (stopped, wedged) is named, and is
    /// never taken for a gone session.
    fn unanswered(&self, limit: Duration) -> Error {
        failed(format!(
            "tmux server at {} did not answer within {}s (stopped or hung? raise CSD_TMUX_TIMEOUT_MS if it is only slow)",
            self.socket.display(),
            limit.as_secs_f64()
        ))
    }

    fn run_ok(&self, what: &str, args: Args) -> Result<Output> {
        let out = self.output(args)?;
        if !out.status.success() {
            return Err(failed(format!("tmux {what} failed: {}", stderr_line(&out))));
        }
        Ok(out)
    }

    /// `=session` matches the session exactly, never by prefix.
    fn session_target(name: &str) -> String {
        format!("={}", tmux_session(name))
    }

    /// The active pane of the session's first window.
    fn pane_target(name: &str) -> String {
        format!("={}:", tmux_session(name))
    }

    /// The session tmux would call `name`, whoever made it; `None` when tmux
    /// says there is none (or its server is provably not running). An error
    /// when tmux could not be asked.
    pub fn probe(&self, name: &str) -> Result<Option<Session>> {
        // `|`, not a tab: tmux writes a tab as `_` under LC_ALL=C.
        let format = format!("#{{session_id}}|#{{{STAMP_OPTION}}}|#{{pane_pid}}");
        // list-panes, not display-message: display-message answers for some
        // other pane when the target is not found.
        let out = self.output(Args::new("list-panes").args(["-t", &Self::pane_target(name), "-F", &format]))?;
        if !out.status.success() {
            return if says_absent(&out) {
                Ok(None)
            } else {
                Err(failed(format!("could not ask tmux about session '{name}': {}", stderr_line(&out))))
            };
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().next().unwrap_or_default();
        let (Some((id, rest)), Some((_, pid))) = (line.split_once('|'), line.rsplit_once('|')) else {
            return Err(failed(format!("tmux answered '{}' about session '{name}'", line.trim())));
        };
        let stamp = rest.rsplit_once('|').map_or("", |(stamp, _)| stamp);
        if !id.starts_with('$') {
            return Err(failed(format!("tmux answered '{}' about session '{name}'", line.trim())));
        }
        Ok(Some(Session { id: id.to_string(), stamp: stamp.to_string(), pane_pid: pid.trim().parse().ok() }))
    }

    /// Whether any session tmux would call `name` exists (whoever made it).
    pub fn has_session(&self, name: &str) -> Result<bool> {
        Ok(self.probe(name)?.is_some())
    }

    /// The pid of the process running in the session's pane.
    pub fn pane_pid(&self, name: &str) -> Result<Option<i32>> {
        Ok(self.probe(name)?.and_then(|s| s.pane_pid))
    }

    /// tmux is there and new enough; checked before a launch, so an old tmux
    /// fails with a clear message rather than on an unknown option.
    pub fn check_version() -> Result<()> {
        let out = Command::new("tmux").arg("-V").stdin(Stdio::null()).output().map_err(spawn_error)?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        match parse_version(&text) {
            Some(v) if v < MIN_VERSION => Err(failed(format!(
                "{text} is too old: csd needs tmux {}.{} or newer (new-session -e)",
                MIN_VERSION.0, MIN_VERSION.1
            ))),
            _ => Ok(()),
        }
    }

    /// Start `argv` in a new detached session stamped with `stamp`, with
    /// `env` set for it alone. The pane stays on screen after its process
    /// exits (tmux `remain-on-exit`), so a harness that dies while starting
    /// leaves its last words to read; call `release_pane` once it is up.
    /// Stamp and option are set by the same tmux command that creates the
    /// session, so no other client sees it unstamped.
    pub fn new_session_kept(
        &self,
        name: &str,
        cwd: &Path,
        env: &[(String, String)],
        argv: &[String],
        stamp: &str,
    ) -> Result<()> {
        self.make_label_dir()?;
        let a = Args::new("new-session")
            .args(["-d", "-s", &tmux_session(name), "-x", "200", "-y", "50", "-c"])
            .arg(cwd)
            .env(env)
            .arg("--")
            .args(argv)
            .then("set-option")
            .args(["-t", &Self::pane_target(name), STAMP_OPTION, stamp])
            .then("set-option")
            .args(["-w", "-t", &Self::pane_target(name), "remain-on-exit", "on"]);
        self.run_ok("new-session", a).map(drop)
    }

    /// tmux makes `$TMUX_TMPDIR/tmux-UID` (0700) for a server it finds by
    /// label, but not for one named by `-S`, as csd names every server: a
    /// first worker under a fresh TMUX_TMPDIR would find no dir to bind in.
    fn make_label_dir(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let Some(parent) = self.socket.parent() else { return Ok(()) };
        if parent.exists() || parent != label_dir() {
            return Ok(());
        }
        match std::fs::DirBuilder::new().mode(0o700).create(parent) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(Error::Io(format!("creating tmux's socket dir {}", parent.display()), e)),
        }
    }

    /// Replace the process in the session's pane (adopt of a live session),
    /// keeping the pane on exit until `release_pane`, and (re)stamping it.
    pub fn respawn_pane_kept(
        &self,
        name: &str,
        cwd: &Path,
        env: &[(String, String)],
        argv: &[String],
        stamp: &str,
    ) -> Result<()> {
        let a = Args::new("set-option")
            .args(["-t", &Self::pane_target(name), STAMP_OPTION, stamp])
            .then("set-option")
            .args(["-w", "-t", &Self::pane_target(name), "remain-on-exit", "on"])
            .then("respawn-pane")
            .args(["-k", "-t", &Self::pane_target(name), "-c"])
            .arg(cwd)
            .env(env)
            .arg("--")
            .args(argv);
        self.run_ok("respawn-pane", a).map(drop)
    }

    /// Let the pane close with its process again (the normal state of a worker:
    /// a dead harness means a gone session).
    pub fn release_pane(&self, name: &str) -> Result<()> {
        self.run_ok(
            "set-option",
            Args::new("set-option").args(["-w", "-u", "-t", &Self::pane_target(name), "remain-on-exit"]),
        )
        .map(drop)
    }

    /// Whether the pane's process has exited (only seen while the pane is
    /// kept); `None` when the session is gone or tmux cannot say.
    pub fn pane_dead(&self, name: &str) -> Option<bool> {
        let out =
            self.output(Args::new("list-panes").args(["-t", &Self::pane_target(name), "-F", "#{pane_dead}"])).ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).lines().next() == Some("1"))
    }

    /// Kill one session by its server-wide id (never by a name another
    /// session may have taken since). Already gone is success.
    pub fn kill(&self, session: &Session) -> Result<()> {
        let out = self.output(Args::new("kill-session").args(["-t", &session.id]))?;
        if out.status.success() || says_absent(&out) {
            Ok(())
        } else {
            Err(failed(format!("tmux kill-session failed: {}", stderr_line(&out))))
        }
    }

    /// End this server and every session on it (a private one csd made for
    /// itself: `csd doctor`'s). No server there is success.
    pub fn kill_server(&self) -> Result<()> {
        let out = self.output(Args::new("kill-server"))?;
        if out.status.success() || says_absent(&out) {
            Ok(())
        } else {
            Err(failed(format!("tmux kill-server failed: {}", stderr_line(&out))))
        }
    }

    /// The visible pane, or with `history` the whole scrollback too.
    pub fn capture(&self, name: &str, history: bool) -> Result<String> {
        let mut a = Args::new("capture-pane").args(["-p", "-J", "-t", &Self::pane_target(name)]);
        if history {
            a = a.args(["-S", "-", "-E", "-"]);
        }
        let out = self.run_ok("capture-pane", a)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Key names (`Enter`, `C-d`, `Escape`, `1`) as tmux reads them.
    pub fn send_keys(&self, name: &str, keys: &[&str]) -> Result<()> {
        self.run_ok("send-keys", Args::new("send-keys").args(["-t", &Self::pane_target(name)]).args(keys)).map(drop)
    }

    /// Text typed literally (`send-keys -l`), for short commands like `/exit`.
    pub fn send_text(&self, name: &str, text: &str) -> Result<()> {
        self.run_ok("send-keys", Args::new("send-keys").args(["-l", "-t", &Self::pane_target(name), "--", text]))
            .map(drop)
    }

    /// Paste `data` as one bracketed paste. It goes through a tmux buffer fed
    /// on stdin, so no command-length limit applies and nothing is quoted.
    /// tmux adds the brackets only if the program has turned bracketed paste
    /// on by then.
    pub fn paste(&self, name: &str, data: &[u8]) -> Result<()> {
        self.paste_buffer(name, data, true)
    }

    /// As `paste`, but the bytes arrive exactly as given: tmux adds no
    /// brackets, so `data` carries its own when it wants them.
    pub fn paste_raw(&self, name: &str, data: &[u8]) -> Result<()> {
        self.paste_buffer(name, data, false)
    }

    fn paste_buffer(&self, name: &str, data: &[u8], bracket_if_asked: bool) -> Result<()> {
        let buffer = format!("csd-{}-{}", tmux_session(name), std::process::id());
        // Fed on stdin as the client reads it: a client whose server does not
        // answer reads nothing, and must not block us on a full pipe.
        let load = Args::new("load-buffer").args(["-b", &buffer, "-"]);
        let out = self.call(&load.0, Some(data))?;
        if !out.status.success() {
            return Err(failed(format!("tmux load-buffer failed: {}", stderr_line(&out))));
        }
        let mut a = Args::new("paste-buffer");
        if bracket_if_asked {
            a = a.arg("-p");
        }
        self.run_ok("paste-buffer", a.args(["-d", "-b", &buffer, "-t", &Self::pane_target(name)])).map(drop)
    }

    /// The command a human runs to watch or take over the worker: the full
    /// socket path works from any shell, whatever its `TMUX_TMPDIR`.
    pub fn attach_command(&self, name: &str) -> String {
        let mut parts = vec!["tmux".to_string()];
        parts.extend(self.server_args().iter().map(|a| shell_quote(a)));
        parts.extend(["attach".into(), "-t".into(), shell_quote(&Self::session_target(name))]);
        parts.join(" ")
    }
}

/// Where tmux keeps labelled sockets: `$TMUX_TMPDIR/tmux-UID`, else
/// `/tmp/tmux-UID`, symlinks resolved as tmux resolves them.
fn label_dir() -> PathBuf {
    let base = std::env::var_os("TMUX_TMPDIR").filter(|d| !d.is_empty()).unwrap_or_else(|| "/tmp".into());
    let dir = PathBuf::from(base).join(format!("tmux-{}", nix::unistd::getuid()));
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

fn spawn_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        failed("tmux is not installed or not on PATH (csd runs every worker in tmux 3.2 or newer)")
    } else {
        Error::Io("running tmux".into(), e)
    }
}

fn stderr_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().lines().next().unwrap_or("(no message)").to_string()
}

/// tmux's own words for "no such session" and for a server that is not
/// running (no socket, or a socket nobody listens on). Anything else it says
/// leaves the question open.
fn says_absent(out: &Output) -> bool {
    let err = String::from_utf8_lossy(&out.stderr);
    [
        "can't find session",
        "can't find pane",
        "can't find window",
        "no server running",
        "No such file or directory",
        "Connection refused",
        "server exited unexpectedly",
        "no current target",
    ]
    .iter()
    .any(|s| err.contains(s))
}

/// `tmux 3.3a` → (3, 3); `tmux next-3.4` → (3, 4); unparseable → None.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let v = text.split_whitespace().nth(1)?;
    let v = v.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(char::is_ascii_digit).collect();
    Some((major, minor.parse().ok()?))
}

/// Quote for display in a command a human may paste into a shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The last `n` non-blank lines of a pane's text, right-trimmed: what a
/// message quotes of a pane that failed.
pub fn pane_tail(screen: &str, n: usize) -> String {
    let lines: Vec<&str> = screen.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("tmux 3.3a"), Some((3, 3)));
        assert_eq!(parse_version("tmux 3.2"), Some((3, 2)));
        assert_eq!(parse_version("tmux next-3.4"), Some((3, 4)));
        assert_eq!(parse_version("tmux 2.9a"), Some((2, 9)));
        assert_eq!(parse_version("tmux master"), None);
        assert!(parse_version("tmux 3.1c").unwrap() < MIN_VERSION);
    }

    #[test]
    fn separators_stay_literal() {
        let a = Args::new("x").args(["a;", "b", ";", "c\\;"]);
        let got: Vec<String> = a.0.iter().map(|s| s.to_string_lossy().into_owned()).collect();
        assert_eq!(got, ["x", "a\\;", "b", "\\;", "c\\\\;"]);
    }

    #[test]
    fn labels_resolve_to_paths() {
        assert!(Tmux::at("w").unwrap().socket().ends_with("w"));
        assert!(Tmux::at("w").unwrap().socket().is_absolute());
        assert_eq!(Tmux::at("/x/y").unwrap().socket(), Path::new("/x/y"));
        assert!(Tmux::at("-x").is_err());
    }
}
