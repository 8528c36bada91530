//! Running totals over a worker's files, kept between calls so that
//! `csd-status --json` and `csd list` cost what is new, not what is there:
//! the line number of the latest `user_prompt_submit` in the event log, and
//! the tokens the session used, summed from the harness's own transcript.
//!
//! What each harness records, and how a line of it is counted, is the
//! harness's own (`Harness::line_usage`, in its folder): tokens to add, a
//! message's usage counted once per message id (the last `RECENT` ids are
//! remembered, since a harness's writers can overtake each other), or the
//! session's running total.
//!
//! The tally is `<sid>.tally` in the worker dir (JSON, written atomically,
//! read as untrusted: a tally that does not parse, or is another session's,
//! harness's or transcript's, is dropped and counted again from scratch).
//! For each file it records where reading stopped, the file's device and
//! inode, and the bytes just before that point: a file that shrank, was
//! replaced, or whose last counted bytes changed is counted again from its
//! start (a harness only appends).

use crate::error::{Context, Result};
use crate::event::{kind_of_line, EventKind};
use crate::harness::{Harness, HarnessKind};
use crate::lines::Lines;
pub use crate::tokens::{LineUsage, Tokens};
use crate::workerdir::WorkerDir;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

const VERSION: u64 = 1;
/// How many bytes before the resume point must still be as they were.
const TAIL: usize = 64;
/// How many Claude message ids are remembered to count each once.
const RECENT: usize = 32;
/// A tally is a few kilobytes; anything bigger is not one.
const MAX_TALLY: u64 = 1 << 20;

/// The tokens counted so far in one transcript, and what counting more needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Usage {
    pub tokens: Tokens,
    /// Claude: the latest message ids and the usage counted for each.
    recent: VecDeque<(String, Tokens)>,
}

impl Usage {
    pub fn new() -> Usage {
        Usage { tokens: Tokens::ZERO, recent: VecDeque::new() }
    }

    /// Count one raw transcript line of `harness`'s.
    pub fn take(&mut self, harness: &dyn Harness, raw: &[u8]) {
        // Most lines hold no usage; they are passed over unparsed.
        if memchr::memmem::find(raw, harness.usage_needle()).is_none() {
            return;
        }
        let Ok(line) = serde_json::from_slice::<Value>(raw) else { return };
        match harness.line_usage(&line) {
            LineUsage::None => {}
            LineUsage::Add(tokens) => self.tokens = self.tokens.plus(tokens),
            LineUsage::Total(total) => self.tokens = total,
            LineUsage::Message(id, tokens) => match self.recent.iter_mut().find(|(seen, _)| seen == id) {
                Some((_, counted)) => {
                    self.tokens = self.tokens.minus(*counted).plus(tokens);
                    *counted = tokens;
                }
                None => {
                    self.tokens = self.tokens.plus(tokens);
                    self.recent.push_back((id.to_string(), tokens));
                    if self.recent.len() > RECENT {
                        self.recent.pop_front();
                    }
                }
            },
        }
    }

    fn to_json(&self) -> Value {
        let recent: Vec<Value> = self.recent.iter().map(|(id, t)| json!([id, t.to_json()])).collect();
        json!({"tokens": self.tokens.to_json(), "recent": recent})
    }

    fn from_json(v: &Value) -> Option<Usage> {
        let mut recent = VecDeque::new();
        for pair in v.get("recent")?.as_array()? {
            let pair = pair.as_array().filter(|p| p.len() == 2)?;
            recent.push_back((pair[0].as_str()?.to_string(), Tokens::from_json(&pair[1])?));
        }
        if recent.len() > RECENT {
            return None;
        }
        Some(Usage { tokens: Tokens::from_json(v.get("tokens")?)?, recent })
    }
}

impl Default for Usage {
    fn default() -> Usage {
        Usage::new()
    }
}

/// Where counting a file stopped, and how to know it is the same file.
#[derive(Clone, Debug, Default, PartialEq)]
struct Mark {
    dev: u64,
    ino: u64,
    offset: u64,
    /// The (up to `TAIL`) bytes before `offset`.
    tail: Vec<u8>,
}

impl Mark {
    /// Reading `file` may resume here: the same file, no shorter, and the
    /// bytes before the mark as they were.
    fn holds(&self, file: &File) -> bool {
        let Ok(m) = file.metadata() else { return false };
        if self.offset == 0 {
            return true;
        }
        if (m.dev(), m.ino()) != (self.dev, self.ino) || m.len() < self.offset {
            return false;
        }
        tail_of(file, self.offset).is_ok_and(|t| t == self.tail)
    }

    fn at(file: &File, offset: u64) -> std::io::Result<Mark> {
        let m = file.metadata()?;
        Ok(Mark { dev: m.dev(), ino: m.ino(), offset, tail: tail_of(file, offset)? })
    }

    fn to_json(&self, extra: Value) -> Value {
        let mut v = json!({"dev": self.dev, "ino": self.ino, "offset": self.offset, "tail": hex(&self.tail)});
        if let (Some(o), Value::Object(more)) = (v.as_object_mut(), extra) {
            o.extend(more);
        }
        v
    }

    fn from_json(v: &Value) -> Option<Mark> {
        let tail = unhex(v.get("tail")?.as_str()?)?;
        let offset = v.get("offset")?.as_u64()?;
        if tail.len() > TAIL || tail.len() as u64 > offset {
            return None;
        }
        Some(Mark { dev: v.get("dev")?.as_u64()?, ino: v.get("ino")?.as_u64()?, offset, tail })
    }
}

fn tail_of(file: &File, offset: u64) -> std::io::Result<Vec<u8>> {
    let n = offset.min(TAIL as u64) as usize;
    let mut buf = vec![0u8; n];
    file.read_exact_at(&mut buf, offset - n as u64)?;
    Ok(buf)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Open a file to count, or None when it is not there (yet, or any more).
fn open(path: &Path) -> Result<Option<File>> {
    match crate::safefile::open_read(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).context(|| format!("reading {}", path.display())),
    }
}

/// What the event log's part of the tally counts.
#[derive(Clone, Debug, Default, PartialEq)]
struct EventCount {
    /// Non-empty complete lines so far, as `csd-wait --after-line` counts them.
    lines: u64,
    /// The line number (1-based) of the latest `user_prompt_submit`.
    prompt_line: Option<u64>,
}

/// A worker's tally: its event log's count and its transcript's tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct Tally {
    session_id: String,
    harness: Option<HarnessKind>,
    events: (Mark, EventCount),
    transcript: Option<(PathBuf, Mark, Usage)>,
}

/// What a tally says now.
#[derive(Clone, Debug, PartialEq)]
pub struct Counts {
    pub prompt_line: Option<u64>,
    /// UNKNOWN when the transcript is not known (or could not be read).
    pub tokens: Tokens,
    /// Why the tokens are unknown, when something went wrong reading them.
    pub problem: Option<String>,
}

impl Tally {
    /// Counting from scratch.
    pub fn new(session_id: &str, harness: Option<HarnessKind>) -> Tally {
        Tally { session_id: session_id.into(), harness, events: Default::default(), transcript: None }
    }

    /// A saved tally, if it holds up and is this session's (and harness's);
    /// its transcript part only if it counted `transcript`.
    pub fn parse(
        bytes: &[u8],
        session_id: &str,
        harness: Option<HarnessKind>,
        transcript: Option<&Path>,
    ) -> Option<Tally> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        if v.get("version")?.as_u64()? != VERSION || v.get("session_id")?.as_str()? != session_id {
            return None;
        }
        if v.get("harness")?.as_str() != harness.map(HarnessKind::name) {
            return None;
        }
        let e = v.get("events")?;
        let count = EventCount {
            lines: e.get("lines")?.as_u64()?,
            prompt_line: match e.get("prompt_line")? {
                Value::Null => None,
                n => Some(n.as_u64()?),
            },
        };
        if count.prompt_line.is_some_and(|p| p == 0 || p > count.lines) {
            return None;
        }
        let events = (Mark::from_json(e)?, count);
        let transcript = match (v.get("transcript")?, transcript) {
            (Value::Null, _) => None,
            (t, Some(path)) if t.get("path")?.as_str()? == path.to_str()? => {
                Some((path.to_path_buf(), Mark::from_json(t)?, Usage::from_json(t)?))
            }
            // Another transcript than the one to count: only that part restarts.
            (t, _) => {
                Mark::from_json(t)?;
                None
            }
        };
        Some(Tally { session_id: session_id.into(), harness, events, transcript })
    }

    pub fn to_json(&self) -> Vec<u8> {
        let (mark, count) = &self.events;
        let transcript = match &self.transcript {
            Some((path, mark, usage)) => {
                let mut extra = usage.to_json();
                extra["path"] = path.to_string_lossy().into();
                mark.to_json(extra)
            }
            None => Value::Null,
        };
        let v = json!({
            "version": VERSION,
            "session_id": self.session_id,
            "harness": self.harness.map(HarnessKind::name),
            "events": mark.to_json(json!({"lines": count.lines, "prompt_line": count.prompt_line})),
            "transcript": transcript,
        });
        serde_json::to_vec(&v).expect("a JSON value always serializes")
    }

    /// Count what was added to the event log and the transcript since the
    /// last call (all of a file that is not the one counted before).
    pub fn advance(&mut self, events: &Path, transcript: Option<&Path>) -> Result<Counts> {
        self.advance_events(events)?;
        let (tokens, problem) = match (self.harness, transcript) {
            (Some(kind), Some(path)) => match self.advance_transcript(kind, path) {
                Ok(tokens) => (tokens, None),
                Err(e) => {
                    self.transcript = None;
                    (Tokens::UNKNOWN, Some(e.to_string()))
                }
            },
            _ => {
                self.transcript = None;
                (Tokens::UNKNOWN, None)
            }
        };
        Ok(Counts { prompt_line: self.events.1.prompt_line, tokens, problem })
    }

    fn advance_events(&mut self, path: &Path) -> Result<()> {
        let what = || format!("reading {}", path.display());
        let Some(file) = open(path)? else {
            self.events = Default::default();
            return Ok(());
        };
        if !self.events.0.holds(&file) {
            self.events = Default::default();
        }
        let (mark, count) = &mut self.events;
        let base = count.lines;
        let mut handed = 0u64;
        let mut lines = Lines::new(file.try_clone().context(what)?, mark.offset);
        while let Some((_, line)) = lines.next_line().context(what)? {
            let prompt = memchr::memmem::find(line, b"user_prompt_submit").is_some()
                && kind_of_line(line) == Some(EventKind::UserPromptSubmit);
            handed += 1;
            if prompt {
                count.prompt_line = Some(base + handed + lines.skipped());
            }
        }
        count.lines = base + handed + lines.skipped();
        if lines.offset() != mark.offset {
            *mark = Mark::at(&file, lines.offset()).context(what)?;
        }
        Ok(())
    }

    fn advance_transcript(&mut self, kind: HarnessKind, path: &Path) -> Result<Tokens> {
        let what = || format!("reading {}", path.display());
        if self.transcript.as_ref().is_none_or(|(p, _, _)| p != path) {
            self.transcript = Some((path.to_path_buf(), Mark::default(), Usage::new()));
        }
        let (_, mark, usage) = self.transcript.as_mut().expect("just set");
        let Some(file) = open(path)? else {
            (*mark, *usage) = (Mark::default(), Usage::new());
            return Ok(usage.tokens);
        };
        if !mark.holds(&file) {
            (*mark, *usage) = (Mark::default(), Usage::new());
        }
        let mut lines = Lines::new(file.try_clone().context(what)?, mark.offset);
        while let Some((_, line)) = lines.next_line().context(what)? {
            usage.take(kind.driver(), line);
        }
        if lines.offset() != mark.offset {
            *mark = Mark::at(&file, lines.offset()).context(what)?;
        }
        Ok(usage.tokens)
    }
}

/// Bring the tally of session `sid` up to date: read `<sid>.tally` (dropped
/// when it does not hold up), count what is new in its event log and in
/// `transcript` (when known), save it when it changed, and say what it
/// counts. Failing to save costs only speed: the next call counts again.
pub fn update(dir: &WorkerDir, sid: &str, harness: Option<HarnessKind>, transcript: Option<&Path>) -> Result<Counts> {
    crate::name::validate(sid)?;
    let path = dir.tally_path(sid);
    let saved = crate::safefile::read_capped(&path, MAX_TALLY).ok();
    let mut tally = saved
        .as_deref()
        .and_then(|b| Tally::parse(b, sid, harness, transcript))
        .unwrap_or_else(|| Tally::new(sid, harness));
    let counts = tally.advance(&dir.events_path(sid), transcript)?;
    let bytes = tally.to_json();
    if saved.as_deref() != Some(&bytes[..]) {
        let _ = dir.write_atomic(&path, &bytes, 0o600);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tokens(i: u64, o: u64, r: u64, w: u64) -> Tokens {
        Tokens { input: Some(i), output: Some(o), cache_read: Some(r), cache_write: Some(w) }
    }

    fn claude_line(id: &str, block: &str, t: Tokens) -> String {
        json!({"type": "assistant", "uuid": format!("u-{id}-{block}"), "message": {"id": id, "role": "assistant",
            "content": [{"type": block}], "usage": {"input_tokens": t.input, "output_tokens": t.output,
            "cache_read_input_tokens": t.cache_read, "cache_creation_input_tokens": t.cache_write}}})
        .to_string()
    }

    fn count(kind: HarnessKind, lines: &[String]) -> Tokens {
        let mut u = Usage::new();
        for l in lines {
            u.take(kind.driver(), l.as_bytes());
        }
        u.tokens
    }

    #[test]
    fn claude_counts_each_message_once_with_its_latest_usage() {
        let a = tokens(10, 1, 100, 7);
        let a_final = tokens(10, 5, 100, 7);
        let b = tokens(3, 4, 200, 0);
        let lines = vec![
            json!({"type": "user", "message": {"role": "user", "content": "hi \"usage\""}}).to_string(),
            claude_line("msg_a", "thinking", a),
            claude_line("msg_a", "text", a_final),
            claude_line("msg_a", "tool_use", a_final),
            claude_line("msg_b", "text", b),
            // A line of message a that a slower writer appended late.
            claude_line("msg_a", "text", a_final),
        ];
        assert_eq!(count(HarnessKind::named("claude"), &lines), tokens(13, 9, 300, 7));
        // A message without an id counts as it comes.
        let no_id = json!({"type": "assistant", "message": {"usage": {"input_tokens": 2, "output_tokens": 2}}});
        let mut with = lines.clone();
        with.push(no_id.to_string());
        with.push(no_id.to_string());
        assert_eq!(count(HarnessKind::named("claude"), &with), tokens(17, 13, 300, 7));
    }

    #[test]
    fn codex_reports_its_last_running_total_without_the_cached_input() {
        let tc = |i: u64, c: u64, o: u64| {
            json!({"type": "event_msg", "payload": {"type": "token_count", "info": {"total_token_usage":
                {"input_tokens": i, "cached_input_tokens": c, "cache_write_input_tokens": 0, "output_tokens": o,
                 "reasoning_output_tokens": 0, "total_tokens": i + o},
                "last_token_usage": {"input_tokens": 1, "output_tokens": 1}}}})
            .to_string()
        };
        let no_info = json!({"type": "event_msg", "payload": {"type": "token_count", "info": null}}).to_string();
        let lines = vec![no_info.clone(), tc(100, 0, 10), tc(250, 40, 30), no_info];
        assert_eq!(count(HarnessKind::named("codex"), &lines), tokens(210, 30, 40, 0));
        assert_eq!(count(HarnessKind::named("codex"), &[]), Tokens::ZERO);
    }

    #[test]
    fn pi_sums_its_assistant_messages() {
        let m = |role: &str, i: u64| {
            json!({"type": "message", "id": "x", "message": {"role": role, "usage":
                {"input": i, "output": 5, "cacheRead": 1, "cacheWrite": 2, "totalTokens": i + 8}}})
            .to_string()
        };
        assert_eq!(
            count(HarnessKind::named("pi"), &[m("assistant", 10), m("user", 99), m("assistant", 20)]),
            tokens(30, 10, 2, 4)
        );
    }

    #[test]
    fn the_real_transcripts_add_up() {
        let fixture = |name: &str| {
            let text =
                std::fs::read_to_string(format!("{}/tests/fixtures/turn/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        };
        // Claude 2.1.197 against the mock: three messages, one line each.
        assert_eq!(count(HarnessKind::named("claude"), &fixture("claude-reference.jsonl")), tokens(30, 15, 0, 0));
        // Codex 0.169: two model requests of 100 in, 10 out; the last total.
        assert_eq!(count(HarnessKind::named("codex"), &fixture("codex-tui-tool-turn.jsonl")), tokens(200, 20, 0, 0));
        // Pi 0.73.1: three assistant messages of 10 in, 5 out.
        assert_eq!(count(HarnessKind::named("pi"), &fixture("pi-session.jsonl")), tokens(30, 15, 0, 0));
    }

    struct Files {
        _dir: tempfile::TempDir,
        wd: WorkerDir,
        transcript: PathBuf,
    }

    fn files() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("w");
        std::fs::create_dir(&root).unwrap();
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let transcript = dir.path().join("t.jsonl");
        Files { wd: WorkerDir::at(root).unwrap(), transcript, _dir: dir }
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    fn update_claude(f: &Files) -> Counts {
        update(&f.wd, "sid", Some(HarnessKind::named("claude")), Some(&f.transcript)).unwrap()
    }

    fn from_scratch(f: &Files) -> Counts {
        Tally::new("sid", Some(HarnessKind::named("claude")))
            .advance(&f.wd.events_path("sid"), Some(&f.transcript))
            .unwrap()
    }

    #[test]
    fn an_incremental_tally_agrees_with_counting_from_scratch() {
        let f = files();
        let events = f.wd.events_path("sid");
        assert_eq!(update_claude(&f), Counts { prompt_line: None, tokens: Tokens::ZERO, problem: None });
        append(
            &events,
            "{\"event\":\"session_start\",\"ts\":\"t1\"}\n\n{\"event\":\"user_prompt_submit\",\"ts\":\"t2\"}\n",
        );
        let t = tokens(10, 5, 1, 2);
        // Message a's lines split across two calls, and a torn line at the end.
        append(
            &f.transcript,
            &format!("{}\n{}\n{{\"type\":\"assi", claude_line("a", "thinking", t), claude_line("a", "text", t)),
        );
        let first = update_claude(&f);
        assert_eq!(first, Counts { prompt_line: Some(2), tokens: t, problem: None });
        assert_eq!(first, from_scratch(&f));
        append(
            &f.transcript,
            &format!("stant\"}}\n{}\n{}\n", claude_line("a", "tool_use", t), claude_line("b", "text", t)),
        );
        append(
            &events,
            "{\"event\":\"stop\",\"ts\":\"t3\"}\nnot json\n{\"event\":\"user_prompt_submit\",\"ts\":\"t4\"}\n",
        );
        let second = update_claude(&f);
        assert_eq!(second, Counts { prompt_line: Some(5), tokens: tokens(20, 10, 2, 4), problem: None });
        assert_eq!(second, from_scratch(&f));
        // The saved tally resumes where it stopped: unchanged files, same answer.
        let saved = std::fs::read(f.wd.tally_path("sid")).unwrap();
        assert_eq!(update_claude(&f), second);
        assert_eq!(std::fs::read(f.wd.tally_path("sid")).unwrap(), saved);
        // A tally that resumes mid-file really resumes: doctor its sums and the
        // doctored sums come back, plus what was added since.
        let doctored = String::from_utf8(saved).unwrap().replace("\"input\":20", "\"input\":1000");
        std::fs::write(f.wd.tally_path("sid"), doctored).unwrap();
        append(&f.transcript, &format!("{}\n", claude_line("c", "text", t)));
        assert_eq!(update_claude(&f).tokens.input, Some(1010));
    }

    #[test]
    fn a_shrunk_replaced_or_rewritten_file_is_counted_again() {
        let f = files();
        let t = tokens(10, 5, 0, 0);
        append(&f.transcript, &format!("{}\n{}\n", claude_line("a", "text", t), claude_line("b", "text", t)));
        assert_eq!(update_claude(&f).tokens, tokens(20, 10, 0, 0));
        // Truncated, then one message: counted from the start.
        std::fs::write(&f.transcript, format!("{}\n", claude_line("c", "text", t))).unwrap();
        assert_eq!(update_claude(&f).tokens, t);
        // Replaced by a longer file (another inode) with other numbers.
        let other = f.transcript.with_extension("new");
        let big = tokens(1, 1, 0, 0);
        let text: String = (0..5).map(|i| format!("{}\n", claude_line(&format!("m{i}"), "text", big))).collect();
        std::fs::write(&other, text).unwrap();
        std::fs::rename(&other, &f.transcript).unwrap();
        assert_eq!(update_claude(&f).tokens, tokens(5, 5, 0, 0));
        // Rewritten in place, same length, same inode, up to its last bytes
        // (what is checked; a harness only appends): counted again.
        let text = std::fs::read_to_string(&f.transcript)
            .unwrap()
            .replace("\"input_tokens\":1", "\"input_tokens\":2")
            .replace("\"cache_creation_input_tokens\":0", "\"cache_creation_input_tokens\":3");
        std::fs::OpenOptions::new().write(true).open(&f.transcript).unwrap().write_all_at(text.as_bytes(), 0).unwrap();
        assert_eq!(update_claude(&f).tokens, tokens(10, 5, 0, 15));
        // Gone: nothing counted, and it starts over when it comes back.
        std::fs::remove_file(&f.transcript).unwrap();
        assert_eq!(update_claude(&f).tokens, Tokens::ZERO);
        append(&f.transcript, &format!("{}\n", claude_line("z", "text", t)));
        assert_eq!(update_claude(&f).tokens, t);
    }

    #[test]
    fn a_corrupt_or_foreign_tally_is_dropped() {
        let f = files();
        let t = tokens(10, 5, 0, 0);
        append(&f.transcript, &format!("{}\n", claude_line("a", "text", t)));
        append(&f.wd.events_path("sid"), "{\"event\":\"user_prompt_submit\",\"ts\":\"t\"}\n");
        let good = update_claude(&f);
        let saved = std::fs::read(f.wd.tally_path("sid")).unwrap();
        let text = String::from_utf8(saved.clone()).unwrap();
        for bad in [
            "garbage".to_string(),
            text.replace("\"session_id\":\"sid\"", "\"session_id\":\"other\""),
            text.replace("\"harness\":\"claude\"", "\"harness\":\"pi\""),
            text.replace("\"version\":1", "\"version\":99"),
            text.replace("\"prompt_line\":1", "\"prompt_line\":7"),
            text.replace("\"input\":10", "\"input\":-3"),
            text.replace("\"tail\":\"", "\"tail\":\"zz"),
        ] {
            std::fs::write(f.wd.tally_path("sid"), &bad).unwrap();
            assert_eq!(update_claude(&f), good, "{bad}");
            assert_eq!(std::fs::read(f.wd.tally_path("sid")).unwrap(), saved, "rewritten whole after {bad}");
        }
        // Another transcript: its sums are not this one's.
        let other = f.transcript.with_extension("other");
        append(&other, &format!("{}\n{}\n", claude_line("x", "text", t), claude_line("y", "text", t)));
        let counts = update(&f.wd, "sid", Some(HarnessKind::named("claude")), Some(&other)).unwrap();
        assert_eq!((counts.prompt_line, counts.tokens), (Some(1), tokens(20, 10, 0, 0)));
        // No transcript known: tokens unknown, the prompt line still counted.
        let counts = update(&f.wd, "sid", Some(HarnessKind::named("claude")), None).unwrap();
        assert_eq!((counts.prompt_line, counts.tokens), (Some(1), Tokens::UNKNOWN));
        // A transcript that cannot be read is a problem said, not a failure.
        let fifo = f.transcript.with_extension("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let counts = update(&f.wd, "sid", Some(HarnessKind::named("claude")), Some(&fifo)).unwrap();
        assert_eq!(counts.tokens, Tokens::UNKNOWN);
        assert!(counts.problem.unwrap().contains("FIFO"));
    }
}
