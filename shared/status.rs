//! What `csd-status --json` and `csd list` show of a worker: one `Row`,
//! enough for a controller to act on without reading the worker's files.
//!
//! Besides what the worker is (name, harness, session id, cwd, shim, event
//! log) and its status: `since` (the time of its last event), `tool` (the
//! tool it runs now: its last event is a `pre_tool_use`, and it is working),
//! `prompt_line` (the event-log line of its latest `user_prompt_submit`, as
//! `csd-wait --after-line` counts lines) and `tokens` (used by the session,
//! from its harness's transcript). The counts come from the worker's tally
//! (`tally`), so a row costs what was written since the last one.

use crate::error::Result;
use crate::event::EventKind;
use crate::harness::HarnessKind;
use crate::tally::Tokens;
use crate::worker::{read_marker, scan_metas, unregistered_names, Pending, Status, Worker};
use crate::workerdir::WorkerDir;
use serde_json::{json, Value};

/// `csd list`'s header. TOOL, TOKENS and HOST came last, after the v4
/// columns, so a script that cuts a column by number still gets the one it got.
pub const TABLE_HEADER: &str = "STATUS\tHARNESS\tTMUX\tSESSION_ID\tSHIM\tCWD\tTOOL\tTOKENS\tHOST";

/// One worker as `status --json` and `list` show it. `-` stands for what a
/// pending worker (its harness has not minted its session id) has not got.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub status: Status,
    pub harness: String,
    pub name: String,
    pub session_id: String,
    pub shim: String,
    pub cwd: String,
    pub events: String,
    pub since: Option<String>,
    pub tool: Option<String>,
    pub prompt_line: Option<u64>,
    pub tokens: Tokens,
    /// What could not be read (said on stderr; the row shows null for it).
    pub problems: Vec<String>,
    /// The ssh destination of a remote worker; `None` for one of this machine.
    pub host: Option<String>,
    /// The worker's id (the stamp on its tmux session): what a controller
    /// on another machine checks to know this worker is the one it launched.
    pub csd_id: Option<String>,
    /// How the turn the worker last ended ended (`Verdict::to_json`), when
    /// its log ends with that turn's stop; `None` while it works or before
    /// any turn.
    pub last_turn: Option<Value>,
    /// Its git worktree (`worktree::json_of`), or null.
    pub worktree: Value,
}

impl Row {
    /// A registered worker in `status`: its tally brought up to date.
    pub fn of(worker: &Worker, status: Status) -> Row {
        let (dir, meta) = (&worker.dir, &worker.meta);
        let mut row = Row {
            session_id: meta.session_id.clone(),
            cwd: meta.cwd.clone(),
            events: dir.events_path(&meta.session_id).display().to_string(),
            csd_id: meta.csd_id().map(str::to_string),
            ..Row::bare(
                status,
                meta.harness.as_str(),
                &meta.tmux_name,
                dir.shim_path(&meta.tmux_name).display().to_string(),
            )
        };
        let name = &meta.tmux_name;
        row.add_worktree(dir);
        match worker.events().last() {
            Ok(Some((kind, line))) => {
                let v: Value = serde_json::from_slice(&line).unwrap_or(Value::Null);
                row.since = v.get("ts").and_then(Value::as_str).map(str::to_string);
                if kind == EventKind::PreToolUse && status == Status::Working {
                    row.tool = v.get("tool").and_then(Value::as_str).map(str::to_string);
                }
                if let (EventKind::Stop, Value::Object(stop)) = (kind, &v) {
                    row.last_turn = Some(crate::verdict::Verdict::of_object(stop).to_json());
                }
            }
            Ok(None) => {}
            Err(e) => row.problems.push(format!("{name}: {e}")),
        }
        let kind = HarnessKind::of_meta(meta).ok();
        let transcript = match kind.map(|_| crate::harness::transcript_of(worker)) {
            Some(Ok(path)) => path,
            Some(Err(e)) => {
                row.problems.push(format!("{name}: {e}"));
                None
            }
            None => None,
        };
        match crate::tally::update(dir, &meta.session_id, kind, transcript.as_deref()) {
            Ok(counts) => {
                row.prompt_line = counts.prompt_line;
                row.tokens = counts.tokens;
                if let Some(p) = counts.problem {
                    row.problems.push(format!("{name}: tokens unknown: {p}"));
                }
            }
            Err(e) => row.problems.push(format!("{name}: {e}")),
        }
        row
    }

    /// A launched worker whose harness has not minted its session id yet.
    pub fn pending(p: &Pending, status: Status) -> Row {
        let mut row = Row {
            csd_id: p.marker.csd_id.clone(),
            ..Row::bare(status, p.marker.harness.as_str(), &p.name, p.dir.shim_path(&p.name).display().to_string())
        };
        row.add_worktree(&p.dir);
        row
    }

    /// A worktree kept after its worker's state went: listed until removed.
    pub fn kept_worktree(dir: &WorkerDir, name: &str) -> Row {
        let mut row = Row::bare(Status::Gone, "-", name, "-".into());
        row.add_worktree(dir);
        // The id of the worker it was made for: a remote controller's list
        // knows it for its own worker's by that.
        row.csd_id = crate::worktree::Record::read(dir, name).ok().flatten().and_then(|r| r.csd_id);
        // Where the work is, in the table's CWD column too.
        if let Some(path) = row.worktree.get("path").and_then(Value::as_str) {
            row.cwd = path.to_string();
        }
        row
    }

    fn add_worktree(&mut self, dir: &WorkerDir) {
        let (v, problem) = crate::worktree::json_of(dir, &self.name);
        self.worktree = v;
        self.problems.extend(problem);
    }

    /// What is known of a worker without reading its files: `-` and
    /// nothing for the rest.
    pub fn bare(status: Status, harness: &str, name: &str, shim: String) -> Row {
        Row {
            status,
            harness: harness.to_string(),
            name: name.to_string(),
            session_id: "-".into(),
            shim,
            cwd: "-".into(),
            events: "-".into(),
            since: None,
            tool: None,
            prompt_line: None,
            tokens: Tokens::UNKNOWN,
            problems: Vec::new(),
            host: None,
            csd_id: None,
            last_turn: None,
            worktree: Value::Null,
        }
    }

    pub fn json(&self) -> Value {
        json!({
            "name": self.name,
            "harness": self.harness,
            "status": self.status.name(),
            "session_id": self.session_id,
            "cwd": self.cwd,
            "since": self.since,
            "tool": self.tool,
            "prompt_line": self.prompt_line,
            "tokens": self.tokens.to_json(),
            "tmux_name": self.name,
            "shim": self.shim,
            "events": self.events,
            "host": self.host,
            "csd_id": self.csd_id,
            "last_turn": self.last_turn,
            "worktree": self.worktree,
        })
    }

    /// The row under `TABLE_HEADER`, with its newline.
    pub fn table_line(&self) -> String {
        let tokens = self.tokens.total().map_or("-".to_string(), |t| t.to_string());
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{tokens}\t{}\n",
            self.status.name(),
            table_cell(&self.harness),
            self.name,
            self.session_id,
            table_cell(&self.shim),
            table_cell(&self.cwd),
            table_cell(self.tool.as_deref().unwrap_or("-")),
            self.host.as_deref().unwrap_or("-"),
        )
    }
}

/// `harness::status`, or an error saying why it is not known when the
/// worker's latest event could not be written (a full disk): never the
/// `working` its log last said.
pub fn status_or_lost(worker: &Worker) -> Result<Status> {
    let status = crate::harness::status(worker)?;
    if status == Status::Unknown {
        worker.events().refuse_lost(worker.name())?;
    }
    Ok(status)
}

/// A cell of `csd list`'s table, one line and free of tabs whatever a
/// directory is called: `\` → `\\`, newline → `\n`, tab → `\t`, carriage
/// return → `\r`, any other control character → `\xHH`.
pub fn table_cell(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || c.is_control()) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.into()
}

/// A pending worker sits at an empty prompt: idle while its session lives.
pub fn status_of_pending(p: &Pending) -> Result<Status> {
    Ok(if p.is_alive()? { Status::Idle } else { Status::Gone })
}

/// What `list` found.
#[derive(Default)]
pub struct Listing {
    pub rows: Vec<Row>,
    /// To say on stderr: skipped metas and markers, workers tmux could not
    /// be asked about, counts that could not be read.
    pub notes: Vec<String>,
    /// A worker's state could not be known (listed as unknown): exit 1.
    pub unsure: bool,
}

impl Listing {
    /// Another machine's rows and notes added to these.
    pub fn merge(&mut self, mut other: Listing) {
        self.rows.append(&mut other.rows);
        self.notes.append(&mut other.notes);
        self.unsure |= other.unsure;
    }
}

/// One row per worker whose name contains `pattern` (gone ones only with
/// `all`), pending ones included. A worker whose state tmux could not give
/// is listed as `unknown`, never left out as if gone.
pub fn list(dir: &WorkerDir, pattern: Option<&str>, all: bool) -> Result<Listing> {
    let matches = |name: &str| pattern.is_none_or(|p| name.contains(p));
    let scan = scan_metas(dir)?;
    let mut out = Listing::default();
    for (file, why) in &scan.skipped {
        out.notes.push(format!("skipping {file}: {why}"));
    }
    // A gone worker's worktree is shown until it is removed: work may be in it.
    let worktrees = crate::worktree::recorded_names(dir)?;
    let keep = |out: &mut Listing, status: Result<Status>, name: &str, row: &dyn Fn(Status) -> Row| {
        let status = match status {
            Ok(s) if s != Status::Gone || all || worktrees.iter().any(|w| w == name) => s,
            Ok(_) => return,
            Err(e) => {
                out.notes.push(format!("{name}: {e}"));
                out.unsure = true;
                Status::Unknown
            }
        };
        let mut r = row(status);
        out.notes.append(&mut r.problems);
        out.rows.push(r);
    };
    for meta in scan.metas.iter().filter(|m| matches(&m.tmux_name)) {
        let worker = Worker { dir: dir.clone(), meta: meta.clone() };
        keep(&mut out, status_or_lost(&worker), &meta.tmux_name, &|s| Row::of(&worker, s));
    }
    for name in unregistered_names(dir, &scan.metas)?.into_iter().filter(|n| matches(n)) {
        let marker = match read_marker(dir, &name) {
            Ok(Some(m)) => m,
            // A shim with no marker and no meta is debris, not a worker.
            Ok(None) => continue,
            Err(e) => {
                out.notes.push(format!("{name}: {e}"));
                continue;
            }
        };
        let p = Pending { dir: dir.clone(), name: name.clone(), marker };
        keep(&mut out, status_of_pending(&p), &name, &|s| Row::pending(&p, s));
    }
    list_kept_worktrees(dir, &mut out, &worktrees, &matches);
    Ok(out)
}

/// Rows for worktrees whose worker's state is gone (stopped or pruned with
/// its work kept).
fn list_kept_worktrees(dir: &WorkerDir, out: &mut Listing, names: &[String], matches: &dyn Fn(&str) -> bool) {
    for name in names.iter().filter(|n| matches(n)) {
        if out.rows.iter().any(|r| &r.name == name) || dir.holds_remote(name) {
            continue;
        }
        let mut r = Row::kept_worktree(dir, name);
        out.notes.append(&mut r.problems);
        out.rows.push(r);
    }
}

/// `csd list`'s table: the header and one line per row.
pub fn table(rows: &[Row]) -> String {
    let mut text = format!("{TABLE_HEADER}\n");
    for r in rows {
        text.push_str(&r.table_line());
    }
    text
}
