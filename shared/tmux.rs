//! tmux, spoken only in argv: no shell ever sees a worker's name or a prompt.
//! Targets are exact (`=name`), and `CSD_TMUX_SOCKET` puts every worker on a
//! private server (`tmux -L name`, or `-S path` when it holds a `/`).

use crate::error::{failed, usage, Context, Result};
use crate::name::tmux_session;
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tmux {
    socket: Option<String>,
}

impl Tmux {
    /// The server `CSD_TMUX_SOCKET` names, or the user's default server.
    pub fn from_env() -> Result<Tmux> {
        match std::env::var("CSD_TMUX_SOCKET") {
            Ok(s) if !s.is_empty() => Tmux::with_socket(Some(s)),
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(Tmux::default()),
            Err(_) => Err(usage("CSD_TMUX_SOCKET is not valid UTF-8")),
        }
    }

    pub fn with_socket(socket: Option<String>) -> Result<Tmux> {
        if let Some(s) = &socket {
            if s.starts_with('-') || s.contains('\0') || s.contains('\n') {
                return Err(usage(format!("CSD_TMUX_SOCKET '{}' is not a usable socket name", s.escape_debug())));
            }
        }
        Ok(Tmux { socket })
    }

    pub fn socket(&self) -> Option<&str> {
        self.socket.as_deref()
    }

    /// The argv prefix that reaches this server: for messages a human runs.
    pub fn server_args(&self) -> Vec<String> {
        match &self.socket {
            None => vec![],
            Some(s) if s.contains('/') => vec!["-S".into(), s.clone()],
            Some(s) => vec!["-L".into(), s.clone()],
        }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(self.server_args());
        c.stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&OsStr]) -> Result<Output> {
        self.command().args(args).output().context(|| "running tmux (is it installed and on PATH?)".into())
    }

    fn run_ok(&self, what: &str, args: &[&OsStr]) -> Result<Output> {
        let out = self.run(args)?;
        if !out.status.success() {
            return Err(failed(format!("tmux {what} failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
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

    pub fn has_session(&self, name: &str) -> bool {
        let t = Self::session_target(name);
        self.run(&[OsStr::new("has-session"), OsStr::new("-t"), t.as_ref()])
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// The pid of the process running in the worker's pane.
    pub fn pane_pid(&self, name: &str) -> Option<i32> {
        let t = Self::pane_target(name);
        let out = self.run(&["display-message", "-p", "-t", &t, "#{pane_pid}"].map(OsStr::new)).ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    }

    /// Start `argv` in a new detached session, with `env` set for it alone.
    pub fn new_session(&self, name: &str, cwd: &Path, env: &[(String, String)], argv: &[String]) -> Result<()> {
        let mut c = self.command();
        c.args(["new-session", "-d", "-s", &tmux_session(name), "-x", "200", "-y", "50", "-c"]);
        c.arg(cwd);
        for (k, v) in env {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        c.arg("--").args(argv);
        Self::check(c.output(), "new-session")
    }

    /// As `new_session`, but the pane stays on screen after its process exits
    /// (tmux `remain-on-exit`), so a harness that dies while starting leaves
    /// its last words to read. The option is set in the same tmux command as
    /// the session is created, before the server reaps anything; call
    /// `release_pane` once the worker is up.
    pub fn new_session_kept(&self, name: &str, cwd: &Path, env: &[(String, String)], argv: &[String]) -> Result<()> {
        let mut c = self.command();
        c.args(["new-session", "-d", "-s", &tmux_session(name), "-x", "200", "-y", "50", "-c"]);
        c.arg(cwd);
        for (k, v) in env {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        c.arg("--").args(argv.iter().map(|a| escape_separator(a)));
        c.args([";", "set-option", "-w", "-t", &Self::pane_target(name), "remain-on-exit", "on"]);
        Self::check(c.output(), "new-session")
    }

    /// As `respawn_pane`, keeping the pane on exit until `release_pane`.
    pub fn respawn_pane_kept(&self, name: &str, cwd: &Path, env: &[(String, String)], argv: &[String]) -> Result<()> {
        self.set_remain_on_exit(name, true)?;
        self.respawn_pane(name, cwd, env, argv)
    }

    /// Let the pane close with its process again (the normal state of a worker:
    /// a dead harness means a gone session).
    pub fn release_pane(&self, name: &str) -> Result<()> {
        self.set_remain_on_exit(name, false)
    }

    fn set_remain_on_exit(&self, name: &str, on: bool) -> Result<()> {
        let t = Self::pane_target(name);
        let args: Vec<&str> = if on {
            vec!["set-option", "-w", "-t", &t, "remain-on-exit", "on"]
        } else {
            vec!["set-option", "-w", "-u", "-t", &t, "remain-on-exit"]
        };
        self.run_ok("set-option", &args.iter().map(OsStr::new).collect::<Vec<_>>())?;
        Ok(())
    }

    /// Whether the pane's process has exited (only seen while the pane is
    /// kept); `None` when the session is gone.
    pub fn pane_dead(&self, name: &str) -> Option<bool> {
        let t = Self::pane_target(name);
        let out = self.run(&["display-message", "-p", "-t", &t, "#{pane_dead}"].map(OsStr::new)).ok()?;
        if !out.status.success() {
            return None;
        }
        Some(String::from_utf8_lossy(&out.stdout).trim() == "1")
    }

    /// Replace the process in the session's pane (adopt of a live session).
    pub fn respawn_pane(&self, name: &str, cwd: &Path, env: &[(String, String)], argv: &[String]) -> Result<()> {
        let mut c = self.command();
        c.args(["respawn-pane", "-k", "-t", &Self::pane_target(name), "-c"]);
        c.arg(cwd);
        for (k, v) in env {
            c.arg("-e").arg(format!("{k}={v}"));
        }
        c.arg("--").args(argv);
        Self::check(c.output(), "respawn-pane")
    }

    fn check(out: std::io::Result<Output>, what: &str) -> Result<()> {
        let out = out.context(|| "running tmux (is it installed and on PATH?)".into())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(failed(format!("tmux {what} failed: {}", String::from_utf8_lossy(&out.stderr).trim())))
        }
    }

    pub fn kill_session(&self, name: &str) -> Result<()> {
        let t = Self::session_target(name);
        self.run_ok("kill-session", &[OsStr::new("kill-session"), OsStr::new("-t"), t.as_ref()])?;
        Ok(())
    }

    /// The visible pane, or with `history` the whole scrollback too.
    pub fn capture(&self, name: &str, history: bool) -> Result<String> {
        let t = Self::pane_target(name);
        let mut args: Vec<&str> = vec!["capture-pane", "-p", "-J", "-t", &t];
        if history {
            args.extend(["-S", "-", "-E", "-"]);
        }
        let out = self.run_ok("capture-pane", &args.iter().map(OsStr::new).collect::<Vec<_>>())?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Key names (`Enter`, `C-d`, `Escape`, `1`) as tmux reads them.
    pub fn send_keys(&self, name: &str, keys: &[&str]) -> Result<()> {
        let t = Self::pane_target(name);
        let mut args: Vec<&str> = vec!["send-keys", "-t", &t];
        args.extend_from_slice(keys);
        self.run_ok("send-keys", &args.iter().map(OsStr::new).collect::<Vec<_>>())?;
        Ok(())
    }

    /// Text typed literally (`send-keys -l`), for short commands like `/exit`.
    pub fn send_text(&self, name: &str, text: &str) -> Result<()> {
        let t = Self::pane_target(name);
        self.run_ok("send-keys", &["send-keys", "-l", "-t", &t, "--", text].map(OsStr::new))?;
        Ok(())
    }

    /// Paste `data` as one bracketed paste. It goes through a tmux buffer fed
    /// on stdin, so no command-length limit applies and nothing is quoted.
    pub fn paste(&self, name: &str, data: &[u8]) -> Result<()> {
        let buffer = format!("csd-{}-{}", tmux_session(name), std::process::id());
        let mut child = self
            .command()
            .args(["load-buffer", "-b", &buffer, "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context(|| "running tmux load-buffer".into())?;
        let mut stdin = child.stdin.take().expect("stdin was piped");
        let wrote = stdin.write_all(data);
        drop(stdin);
        let out = child.wait_with_output().context(|| "running tmux load-buffer".into())?;
        wrote.context(|| "feeding the prompt to tmux".into())?;
        if !out.status.success() {
            return Err(failed(format!("tmux load-buffer failed: {}", String::from_utf8_lossy(&out.stderr).trim())));
        }
        let t = Self::pane_target(name);
        self.run_ok("paste-buffer", &["paste-buffer", "-p", "-d", "-b", &buffer, "-t", &t].map(OsStr::new))?;
        Ok(())
    }

    /// The command a human runs to watch or take over the worker.
    pub fn attach_command(&self, name: &str) -> String {
        let mut parts = vec!["tmux".to_string()];
        parts.extend(self.server_args().iter().map(|a| shell_quote(a)));
        parts.push("attach".into());
        parts.push("-t".into());
        parts.push(shell_quote(&Self::session_target(name)));
        parts.join(" ")
    }
}

/// tmux splits a command line at any argument ending in `;`; `\\;` keeps it
/// literal (tmux drops the backslash).
fn escape_separator(arg: &str) -> String {
    match arg.strip_suffix(';') {
        Some(head) => format!("{head}\\;"),
        None => arg.to_string(),
    }
}

/// Quote for display in a command a human may paste into a shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:@%+,".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
