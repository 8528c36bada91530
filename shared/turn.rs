//! One turn of a worker's session, whatever harness ran it: the prompt, then
//! what the agent did, in order. Each harness's transcript reader
//! (`transcript::*`) builds a `Turn`; everything downstream (`csd-turn`,
//! `converse`) reads only this.
//!
//! The markdown is v4's, byte for byte, so a controller's prompts and parsers
//! keep working: each piece is followed by a blank line, thinking is a
//! blockquote, tool calls are fenced JSON, tool results are cut to five lines
//! unless `full`, and failed tool results are marked and never cut.

use serde_json::Value;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Turn {
    /// The user's prompt that opened the turn; None when the transcript
    /// starts mid-turn (a harness whose turn may begin before any prompt).
    pub prompt: Option<String>,
    pub blocks: Vec<Block>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    Thinking(String),
    /// What the agent said.
    Text(String),
    /// `input` is the call's arguments as the harness recorded them: usually
    /// an object; a string is shown as it is.
    ToolCall {
        name: String,
        input: Value,
    },
    ToolResult {
        text: String,
        is_error: bool,
    },
}

/// How many lines of a tool result show without `full`.
pub const RESULT_LINES: usize = 5;

/// What a tool result with no content reads as.
pub const NO_OUTPUT: &str = "(no output)";

impl Turn {
    pub fn is_empty(&self) -> bool {
        self.prompt.is_none() && self.blocks.is_empty()
    }
}

/// The turn as markdown, as `read-turn` prints it.
pub fn render_markdown(turn: &Turn, full: bool) -> String {
    let mut out = String::new();
    if let Some(prompt) = &turn.prompt {
        out.push_str("---\n\n**Prompt:** ");
        out.push_str(prompt);
        out.push_str("\n\n");
    }
    for block in &turn.blocks {
        render_block(&mut out, block, full);
        out.push('\n');
    }
    out
}

fn render_block(out: &mut String, block: &Block, full: bool) {
    match block {
        // A thinking block with no words (redacted, or signature only) is
        // not worth a bare heading; v4 leaves its blank line, and so do we.
        Block::Thinking(text) if text.trim().is_empty() => {}
        Block::Thinking(text) => {
            out.push_str("> **Thinking:** ");
            out.push_str(&text.replace('\n', "\n> "));
            out.push('\n');
        }
        Block::Text(text) => {
            out.push_str(text);
            out.push('\n');
        }
        Block::ToolCall { name, input } => {
            out.push_str("**Tool: ");
            out.push_str(name);
            out.push_str("**\n```json\n");
            match input {
                Value::String(s) => out.push_str(s),
                // v4 printed a missing input as nothing at all.
                Value::Null => {}
                other => out.push_str(&other.to_string()),
            }
            out.push_str("\n```\n");
        }
        Block::ToolResult { text, is_error: true } => {
            out.push_str("**Tool Error:**\n```\n");
            out.push_str(text);
            out.push_str("\n```\n");
        }
        Block::ToolResult { text, is_error: false } => {
            out.push_str("**Result:**\n```\n");
            if full {
                out.push_str(text);
            } else {
                push_cut(out, text);
            }
            out.push_str("\n```\n");
        }
    }
}

/// The first `RESULT_LINES` lines and a count of them all. Lines are what a
/// split on `\n` gives, as v4 counted them (a final newline makes one more).
fn push_cut(out: &mut String, text: &str) {
    let total = text.split('\n').count();
    if total <= RESULT_LINES {
        out.push_str(text);
        return;
    }
    let cut = text.match_indices('\n').nth(RESULT_LINES - 1).map_or(text.len(), |(i, _)| i);
    out.push_str(&text[..cut]);
    out.push_str(&format!("\n... ({total} lines total)"));
}

/// The agent's reply: the text it wrote after its last tool call or result
/// (thinking between does not count), paragraphs joined by a newline. Empty
/// when the turn ends on a tool call or result, or has no text yet (the
/// transcript lags the harness's stop by a moment).
pub fn last_assistant_text(turn: &Turn) -> String {
    let mut texts: Vec<&str> = Vec::new();
    for block in turn.blocks.iter().rev() {
        match block {
            Block::Text(t) => texts.push(t),
            Block::Thinking(_) => {}
            Block::ToolCall { .. } | Block::ToolResult { .. } => break,
        }
    }
    texts.reverse();
    texts.join("\n")
}

/// Everything the agent wrote in the turn, joined by a newline (what v4's
/// `converse` printed).
pub fn all_assistant_text(turn: &Turn) -> String {
    let texts: Vec<&str> = turn
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

/// The readable text of a content value as harnesses record tool results and
/// messages: a string as it is; an array of blocks as its text blocks joined
/// by `sep` (an image as `[image]`, so it is not silently lost); null or
/// missing as `(no output)`; anything else as compact JSON.
pub fn content_text(content: Option<&Value>, sep: &str) -> String {
    match content {
        None | Some(Value::Null) => NO_OUTPUT.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            let parts: Vec<String> = blocks.iter().filter_map(block_text).collect();
            parts.join(sep)
        }
        Some(other) => other.to_string(),
    }
}

fn block_text(block: &Value) -> Option<String> {
    match block {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("text") | Some("input_text") | Some("output_text") | None => {
                o.get("text").and_then(Value::as_str).map(str::to_string)
            }
            Some("image") | Some("input_image") => Some("[image]".into()),
            Some(other) => Some(format!("[{other}]")),
        },
        _ => None,
    }
}

/// A string field of a JSON object, or "" (a missing field renders empty,
/// never as "null" or "undefined").
pub fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Whether the transcript's prompt is the one pasted, allowing for what a
/// TUI may do to whitespace (line endings, trailing spaces, tabs).
pub fn same_prompt(sent: &str, seen: &str) -> bool {
    // The paste markers a prompt held were removed before it went in.
    let sent = String::from_utf8_lossy(&crate::paste::strip_paste_markers(sent.as_bytes())).into_owned();
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let (sent, seen) = (words(&sent), words(seen));
    sent == seen || seen.contains(&sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn turn(blocks: Vec<Block>) -> Turn {
        Turn { prompt: Some("do it".into()), blocks }
    }

    #[test]
    fn v4s_canonical_render() {
        let t = turn(vec![
            Block::Thinking("hmm".into()),
            Block::Text("ok".into()),
            Block::ToolCall { name: "Bash".into(), input: json!({"cmd": "ls"}) },
            Block::ToolResult { text: "a\nb\nc\nd\ne\nf".into(), is_error: false },
        ]);
        assert_eq!(
            render_markdown(&t, false),
            "---\n\n**Prompt:** do it\n\n> **Thinking:** hmm\n\nok\n\n**Tool: Bash**\n```json\n{\"cmd\":\"ls\"}\n```\n\n\
             **Result:**\n```\na\nb\nc\nd\ne\n... (6 lines total)\n```\n\n"
        );
        assert!(render_markdown(&t, true).contains("**Result:**\n```\na\nb\nc\nd\ne\nf\n```\n\n"));
    }

    #[test]
    fn five_lines_are_not_cut() {
        let t = turn(vec![Block::ToolResult { text: "1\n2\n3\n4\n5".into(), is_error: false }]);
        assert!(render_markdown(&t, false).ends_with("**Result:**\n```\n1\n2\n3\n4\n5\n```\n\n"));
    }

    #[test]
    fn errors_are_marked_and_never_cut() {
        let t = turn(vec![Block::ToolResult { text: "1\n2\n3\n4\n5\n6\n7".into(), is_error: true }]);
        assert!(render_markdown(&t, false).ends_with("**Tool Error:**\n```\n1\n2\n3\n4\n5\n6\n7\n```\n\n"));
    }

    #[test]
    fn multi_line_thinking_stays_in_the_quote_and_empty_thinking_is_dropped() {
        let t = turn(vec![Block::Thinking("line1\nline2".into()), Block::Thinking(" ".into())]);
        assert_eq!(render_markdown(&t, false), "---\n\n**Prompt:** do it\n\n> **Thinking:** line1\n> line2\n\n\n");
    }

    #[test]
    fn string_input_is_shown_as_it_is() {
        let t = Turn { prompt: None, blocks: vec![Block::ToolCall { name: "Edit".into(), input: json!("raw") }] };
        assert_eq!(render_markdown(&t, false), "**Tool: Edit**\n```json\nraw\n```\n\n");
    }

    #[test]
    fn the_reply_is_the_text_after_the_last_tool() {
        let t = turn(vec![
            Block::Text("let me look".into()),
            Block::ToolCall { name: "Bash".into(), input: json!({}) },
            Block::ToolResult { text: "x".into(), is_error: false },
            Block::Thinking("so".into()),
            Block::Text("DONE".into()),
            Block::Text("really".into()),
        ]);
        assert_eq!(last_assistant_text(&t), "DONE\nreally");
        assert_eq!(all_assistant_text(&t), "let me look\nDONE\nreally");
        let pending = turn(vec![Block::Text("a".into()), Block::ToolCall { name: "B".into(), input: json!({}) }]);
        assert_eq!(last_assistant_text(&pending), "");
    }

    #[test]
    fn content_arrays_render_their_text() {
        let c =
            json!([{"type": "text", "text": "one"}, {"type": "image", "source": {}}, {"type": "text", "text": "two"}]);
        assert_eq!(content_text(Some(&c), "\n"), "one\n[image]\ntwo");
        assert_eq!(content_text(None, "\n"), NO_OUTPUT);
        assert_eq!(content_text(Some(&Value::Null), "\n"), NO_OUTPUT);
        assert_eq!(content_text(Some(&json!(42)), "\n"), "42");
    }
}
