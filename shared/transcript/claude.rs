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

use super::Format;
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

fn flag(line: &Value, key: &str) -> bool {
    line.get(key).and_then(Value::as_bool) == Some(true)
}
