//! The post-mortem `converse` leaves when a turn does not end in time
//! (`CSD_CONVERSE_DIAG_FILE`): processes, the pane, the transcript's and the
//! event log's tails, in one file a human can read after the fact. Every
//! section says what went wrong in it rather than coming out empty.

use crate::worker::Worker;
use std::path::Path;
use std::time::Duration;

pub struct Diag<'a> {
    pub worker: &'a Worker,
    pub reason: &'a str,
    pub timeout: Duration,
    pub transcript: Option<&'a Path>,
}

/// Write the post-mortem to `dest` (replacing it). Best effort: returns
/// whether the file was written.
pub fn write(d: &Diag, dest: &Path) -> bool {
    let w = d.worker;
    let events = w.events();
    let transcript = d.transcript.map(|p| p.display().to_string()).unwrap_or_else(|| "(unknown)".into());
    let mut out = vec![
        format!("=== csd converse diagnostic ({}) ===", crate::time::now_iso()),
        format!("reason={}", d.reason),
        format!(
            "session_id={} worker={} harness={} timeout={}s",
            w.meta.session_id,
            w.name(),
            w.meta.harness.as_str(),
            d.timeout.as_secs_f64()
        ),
        format!("transcript={transcript}"),
        format!("event_file={}", events.path().display()),
        String::new(),
        "--- ps -eo pid,ppid,stat,etime,comm (last 100 lines) ---".into(),
        ps(),
        String::new(),
        format!("--- tmux pane of {} (with scrollback, last 200 lines) ---", w.name()),
        pane(w),
        String::new(),
        format!("--- transcript (last 30 lines of {transcript}) ---"),
        d.transcript.map(|p| file_tail(p, 30)).unwrap_or_else(|| "(no transcript known)".into()),
        String::new(),
        format!("--- csd events (last 20 lines of {}) ---", events.path().display()),
        file_tail(events.path(), 20),
        String::new(),
        "=== end csd diagnostic ===".into(),
    ]
    .join("\n");
    out.push('\n');
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        if std::fs::create_dir_all(parent).is_err() {
            return false;
        }
    }
    std::fs::write(dest, out).is_ok()
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end_matches('\n').lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Every process, as `ps -eo pid,ppid,stat,comm` would list them (the last 100).
fn ps() -> String {
    let mut out = String::from("    PID    PPID S COMMAND\n");
    for p in crate::process::processes(None) {
        out.push_str(&format!("{:>7} {:>7} {} {}\n", p.pid, p.ppid, p.state, p.comm));
    }
    last_lines(&out, 100)
}

fn pane(w: &Worker) -> String {
    let tmux = match w.tmux() {
        Ok(t) => t,
        Err(e) => return format!("(no tmux: {e})"),
    };
    match w.session() {
        Ok(Some(_)) => {}
        Ok(None) => return format!("(tmux session '{}' not present)", w.name()),
        Err(e) => return format!("(could not ask tmux: {e})"),
    }
    match tmux.capture(w.name(), true) {
        Ok(s) => last_lines(&s, 200),
        Err(e) => format!("(pane capture failed: {e})"),
    }
}

/// The last `n` lines of a file, reading only its end (transcripts grow large).
fn file_tail(path: &Path, n: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const WINDOW: u64 = 256 * 1024;
    let mut f = match crate::safefile::open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return "(file not present)".into(),
        Err(e) => return format!("(read failed: {e})"),
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let mut buf = Vec::new();
    let read = f.seek(SeekFrom::Start(len.saturating_sub(WINDOW))).and_then(|_| f.read_to_end(&mut buf));
    match read {
        Ok(_) => last_lines(&String::from_utf8_lossy(&buf), n),
        Err(e) => format!("(read failed: {e})"),
    }
}
