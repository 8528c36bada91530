//! Claude Code's transcript: `~/.claude/projects/<cwd, with each of / . _ :
//! as ->/<session-id>.jsonl`, one JSON object per line.
//!
//! A real prompt is a `user` line whose `message.content` is a string. Tool
//! results come back as `user` lines too, with an array of `tool_result`
//! blocks; the agent's thinking, text and tool calls are `assistant` lines
//! with an array of blocks. Claude also writes `user` string lines that no
//! one typed: slash-command echoes (`<command-name>…`, `<local-command-…>`),
//! meta caveats (`isMeta`) and compaction summaries; those neither open a
//! turn nor show. Subagent (`isSidechain`) lines belong to another
//! conversation and are skipped.

use super::{meta_transcript_path, Format};
use crate::error::{failed, Result};
use crate::turn::{content_text, str_field, Block, Turn};
use crate::worker::Meta;
use serde_json::Value;
use std::path::PathBuf;

pub struct Claude;

impl Format for Claude {
    fn path(&self, meta: &Meta) -> Result<PathBuf> {
        if let Some(p) = meta_transcript_path(meta) {
            return Ok(p);
        }
        if meta.cwd.is_empty() {
            return Err(failed(format!(
                "cannot find the transcript of worker '{}': its meta has no cwd and no transcript_path",
                meta.tmux_name
            )));
        }
        Ok(config_dir()?.join("projects").join(project_dir_name(&meta.cwd)).join(format!("{}.jsonl", meta.session_id)))
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
                for b in blocks.iter().filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result")) {
                    turn.blocks.push(Block::ToolResult {
                        text: content_text(b.get("content"), "\n"),
                        is_error: b.get("is_error").and_then(Value::as_bool) == Some(true),
                    });
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

/// The directory under `projects/` that Claude names after a cwd.
pub fn project_dir_name(cwd: &str) -> String {
    cwd.chars().map(|c| if matches!(c, '/' | '.' | '_' | ':') { '-' } else { c }).collect()
}

/// Where Claude keeps its state: `$CLAUDE_CONFIG_DIR` when set (Claude
/// honours it, and workers inherit it from whoever launched them), else
/// `~/.claude`.
fn config_dir() -> Result<PathBuf> {
    if let Some(d) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    Ok(home_dir()?.join(".claude"))
}

fn home_dir() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    match nix::unistd::User::from_uid(nix::unistd::getuid()) {
        Ok(Some(user)) => Ok(user.dir),
        _ => Err(failed("cannot find the home directory: HOME is not set")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_dir_names_replace_separators_and_dots() {
        assert_eq!(project_dir_name("/home/u/my_proj.v2"), "-home-u-my-proj-v2");
        assert_eq!(project_dir_name("C:/x"), "C--x");
    }
}
