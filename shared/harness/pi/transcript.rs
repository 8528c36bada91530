//! Pi's session file: `<session dir>/<time>_<session id>.jsonl`, whose path
//! the extension records in the meta as `transcript_path`.
//!
//! The first line is a `session` header; every later line is an entry with an
//! `id` and a `parentId`, so the entries form a tree (`/tree` can branch the
//! conversation in place). The conversation Pi is on is the chain of parents
//! from the last entry, so the walk keeps only that branch. Turns are
//! `message` entries: `message.role` `user` opens one (content a string or
//! text blocks), `assistant` holds `thinking`, `text` and `toolCall` blocks,
//! `toolResult` holds one tool's result. Pi names its tools in lower case;
//! they are shown as the extension reports them in events (`bash` → `Bash`).

use crate::tokens::Tokens;
use crate::transcript::Format;
use crate::turn::{content_text, str_field, Block, Turn};
use serde_json::Value;

pub struct PiTranscript;

impl Format for PiTranscript {
    fn opens_turn(&self, line: &Value) -> bool {
        role(line) == Some("user")
    }

    fn add_line(&self, line: &Value, turn: &mut Turn) {
        let Some(message) = message(line) else { return };
        match role(line) {
            Some("user") => turn.prompt = Some(content_text(message.get("content"), "\n")),
            Some("assistant") => {
                let Some(Value::Array(blocks)) = message.get("content") else { return };
                for b in blocks {
                    match b.get("type").and_then(Value::as_str) {
                        Some("thinking") => turn.blocks.push(Block::Thinking(str_field(b, "thinking").into())),
                        Some("text") => turn.blocks.push(Block::Text(str_field(b, "text").into())),
                        Some("toolCall") => turn.blocks.push(Block::ToolCall {
                            name: tool_name(str_field(b, "name")),
                            input: b.get("arguments").cloned().unwrap_or(Value::Null),
                        }),
                        _ => {}
                    }
                }
            }
            Some("toolResult") => turn.blocks.push(Block::ToolResult {
                text: content_text(message.get("content"), "\n"),
                is_error: message.get("isError").and_then(Value::as_bool) == Some(true),
            }),
            _ => {}
        }
    }

    fn tree_link<'a>(&self, line: &'a Value) -> Option<(&'a str, Option<&'a str>)> {
        let id = line.get("id")?.as_str()?;
        Some((id, line.get("parentId").and_then(Value::as_str)))
    }
}

fn message(line: &Value) -> Option<&Value> {
    (line.get("type").and_then(Value::as_str) == Some("message")).then(|| line.get("message")).flatten()
}

fn role(line: &Value) -> Option<&str> {
    message(line)?.get("role")?.as_str()
}

/// `bash` → `Bash`, as the extension names tools in events.
pub fn tool_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A Pi session entry's usage: assistant messages only (`input`, `output`,
/// `cacheRead`, `cacheWrite`), on every branch of the session's tree:
/// tokens spent on an abandoned branch were spent all the same.
pub fn usage(line: &Value) -> Option<Tokens> {
    if line.get("type")?.as_str()? != "message" {
        return None;
    }
    let m = line.get("message")?;
    if m.get("role")?.as_str()? != "assistant" {
        return None;
    }
    let u = m.get("usage")?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    Some(Tokens { input: n("input"), output: n("output"), cache_read: n("cacheRead"), cache_write: n("cacheWrite") })
}
