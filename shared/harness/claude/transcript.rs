//! Claude Code's transcript (`~/.claude/projects/<cwd as a name>/<session
//! id>.jsonl`, see `harness::claude`): one JSON object per line.
//!
//! A real prompt is a `user` line whose `message.content` is a string. Tool
//! results come back as `user` lines too, with an array of `tool_result`
//! blocks; the agent's thinking, text and tool calls are `assistant` lines
//! with an array of blocks. Claude also writes `user` string lines that no
//! one typed: slash-command echoes (`<command-name>…`, `<local-command-…>`),
//! meta caveats (`isMeta`) and compaction summaries; those neither open a
//! turn nor show. Subagent (`isSidechain`) lines belong to another
//! conversation and are skipped. An interrupted turn ends with Claude's own
//! `[Request interrupted by user]` line, shown as it is.
//!
//! The file's order is not the conversation's. Claude Code 2.1.197 hands each
//! batch of new messages to its own asynchronous writer, and a writer that
//! waits longer before appending is overtaken: the session's first one
//! creates the file first, so the first prompt (and its attachments) can land
//! after the turn's tool call, tool result and reply; one that refreshes the
//! cached git branch can land after the next. What orders the lines is
//! `parentUuid` (each message names the one before it; a tool result, its
//! call) and `timestamp` (when the message was made).

use crate::tokens::Tokens;
use crate::transcript::{Before, Format};
use crate::turn::{content_text, str_field, Block, Turn};
use serde_json::Value;

pub struct ClaudeTranscript;

/// How Claude Code marks a turn the user interrupted (`… for tool use` when
/// it was stopped in a tool call).
const INTERRUPTED: &str = "[Request interrupted by user";

impl Format for ClaudeTranscript {
    /// A prompt line has `"type":"user"`, so its raw bytes hold `"user"`; in
    /// any JSON string those quotes would be escaped. Most assistant lines
    /// are passed over unparsed.
    fn may_open_turn(&self, raw: &[u8]) -> bool {
        memchr::memmem::find(raw, b"\"user\"").is_some()
    }

    fn opens_turn(&self, line: &Value) -> bool {
        prompt_of(line).is_some()
    }

    /// A message follows its `parentUuid`; a prompt follows nothing (it
    /// opens the turn; its parent is the turn before). Only user and
    /// assistant lines wait: the rest show nothing, but they are links in
    /// the chain (a reply's parent may be an attachment). Subagent lines are
    /// not part of this conversation.
    fn lineage<'a>(&self, line: &'a Value) -> Option<(&'a str, Option<&'a str>)> {
        let id = line.get("uuid")?.as_str()?;
        if flag(line, "isSidechain") {
            return None;
        }
        let waits =
            matches!(line.get("type").and_then(Value::as_str), Some("user" | "assistant")) && prompt_of(line).is_none();
        Some((id, line.get("parentUuid").and_then(Value::as_str).filter(|_| waits)))
    }

    /// A message written before the prompt belongs to its turn when it was
    /// made at or after the prompt (the lines of the turn before were all
    /// made before it). Lines that are not messages (`mode`,
    /// `file-history-snapshot`, …) are passed over; another prompt, or an
    /// older message, ends the search.
    fn before_opener(&self, opener: &Value, line: &Value) -> Before {
        if prompt_of(line).is_some() {
            return Before::Stop;
        }
        if line.get("uuid").is_none() || flag(line, "isSidechain") {
            return Before::Skip;
        }
        match (timestamp(line), timestamp(opener)) {
            (Some(made), Some(prompt)) if made >= prompt => Before::Belongs,
            _ => Before::Stop,
        }
    }

    fn add_line(&self, line: &Value, turn: &mut Turn) {
        if flag(line, "isSidechain") {
            return;
        }
        if let Some(prompt) = prompt_of(line) {
            turn.prompt = Some(prompt.to_string());
            return;
        }
        let Some(Value::Array(blocks)) = line.get("message").and_then(|m| m.get("content")) else { return };
        match line.get("type").and_then(Value::as_str) {
            Some("user") => {
                for b in blocks {
                    match b.get("type").and_then(Value::as_str) {
                        Some("tool_result") => turn.blocks.push(Block::ToolResult {
                            text: content_text(b.get("content"), "\n"),
                            is_error: b.get("is_error").and_then(Value::as_bool) == Some(true),
                        }),
                        // Esc in the pane: the turn ends here, and the reader should know.
                        Some("text") if str_field(b, "text").starts_with(INTERRUPTED) => {
                            turn.blocks.push(Block::Text(str_field(b, "text").into()))
                        }
                        _ => {}
                    }
                }
            }
            Some("assistant") => {
                for b in blocks {
                    match b.get("type").and_then(Value::as_str) {
                        Some("thinking") => turn.blocks.push(Block::Thinking(str_field(b, "thinking").into())),
                        Some("text") => turn.blocks.push(Block::Text(str_field(b, "text").into())),
                        Some("tool_use") => turn.blocks.push(Block::ToolCall {
                            name: str_field(b, "name").into(),
                            input: b.get("input").cloned().unwrap_or(Value::Null),
                        }),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// The prompt a line holds, when it is one someone typed.
fn prompt_of(line: &Value) -> Option<&str> {
    if line.get("type").and_then(Value::as_str) != Some("user")
        || flag(line, "isMeta")
        || flag(line, "isCompactSummary")
        || flag(line, "isSidechain")
    {
        return None;
    }
    let text = line.get("message")?.get("content")?.as_str()?;
    (!is_synthetic(text)).then_some(text)
}

/// Claude's own echoes of slash commands and their output.
fn is_synthetic(text: &str) -> bool {
    text.starts_with("<command-") || text.starts_with("<local-command-")
}

/// A line's `timestamp` when it has Claude's shape (`2026-11-30T15:18:50.134Z`,
/// always UTC and to the millisecond), so that two compare as strings.
fn timestamp(line: &Value) -> Option<&str> {
    let t = line.get("timestamp")?.as_str()?;
    (t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T').then_some(t)
}

fn flag(line: &Value, key: &str) -> bool {
    line.get(key).and_then(Value::as_bool) == Some(true)
}

/// Whether Claude Code queued `prompt` (sent mid-turn): it writes a
/// `queue-operation` `enqueue` line holding the prompt at once (2.1.197).
/// Read from byte `since` (the transcript's end before the paste); the
/// prompt is known by its digest, whatever csd put before it.
pub fn enqueued(path: &std::path::Path, since: u64, prompt: &[u8]) -> crate::error::Result<bool> {
    use crate::error::{Context, Error};
    let file = match crate::safefile::open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::Io(format!("opening session log {}", path.display()), e)),
    };
    let digest = crate::event::prompt_digest(&String::from_utf8_lossy(prompt));
    let mut lines = crate::lines::Lines::new(file, since);
    let what = || format!("reading session log {}", path.display());
    while let Some((_, raw)) = lines.next_line().context(what)? {
        if memchr::memmem::find(raw, b"\"enqueue\"").is_none() {
            continue;
        }
        let Ok(line) = serde_json::from_slice::<Value>(raw) else { continue };
        if line["type"] == "queue-operation"
            && line["operation"] == "enqueue"
            && line["content"].as_str().is_some_and(|c| crate::event::prompt_digest(c) == digest)
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether Claude Code took `prompt` into the turn that was running when it
/// was typed: a prompt submitted mid-turn waits in Claude Code's queue
/// (a `queue-operation` `enqueue` line), and at the turn's next tool result
/// it goes into that turn as an `attachment` of type `queued_command`, with
/// no UserPromptSubmit (checked with 2.1.197: a prompt typed during a Bash
/// call). Read from byte `since` (the transcript's end before the paste);
/// a prompt still queued, or given its own turn, is not.
pub fn queued_into_turn(path: &std::path::Path, since: u64, prompt: &[u8]) -> crate::error::Result<bool> {
    use crate::error::{Context, Error};
    let file = match crate::safefile::open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::Io(format!("opening session log {}", path.display()), e)),
    };
    let sent = String::from_utf8_lossy(prompt);
    let mut lines = crate::lines::Lines::new(file, since);
    let what = || format!("reading session log {}", path.display());
    while let Some((_, raw)) = lines.next_line().context(what)? {
        if memchr::memmem::find(raw, b"queued_command").is_none() {
            continue;
        }
        let Ok(line) = serde_json::from_slice::<Value>(raw) else { continue };
        let attachment = &line["attachment"];
        if line["type"] == "attachment"
            && attachment["type"] == "queued_command"
            && !flag(&line, "isSidechain")
            && attachment["prompt"].as_str().is_some_and(|seen| crate::turn::same_prompt(&sent, seen))
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A Claude Code transcript line's message id and usage: assistant lines
/// only. Every assistant line's `message.usage` (`input_tokens`,
/// `output_tokens`, `cache_read_input_tokens`, `cache_creation_input_tokens`);
/// one API message is written as one line per content block, each with the
/// message's id and its usage, so a message id counts once, with the usage
/// of its latest line (checked against transcripts the real CLI wrote).
pub fn usage(line: &Value) -> Option<(Option<&str>, Tokens)> {
    if line.get("type")?.as_str()? != "assistant" {
        return None;
    }
    let message = line.get("message")?;
    let u = message.get("usage")?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let tokens = Tokens {
        input: n("input_tokens"),
        output: n("output_tokens"),
        cache_read: n("cache_read_input_tokens"),
        cache_write: n("cache_creation_input_tokens"),
    };
    Some((message.get("id").and_then(Value::as_str), tokens))
}
