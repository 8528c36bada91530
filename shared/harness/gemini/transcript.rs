//! Gemini CLI's session file (0.61, measured; docs/harness-gemini.md):
//! `<home>/.gemini/tmp/<project>/chats/session-<YYYY-MM-DDTHH-MM>-<first 8
//! of the id>.jsonl`, whose path its hooks carry as `transcript_path`.
//!
//! JSON lines of three shapes: a header (`sessionId`, `projectHash`,
//! `startTime`, `kind`), patches (`{"$set": {…}}`: `lastUpdated`, and after a
//! resume or an interrupt the whole `messages` list again), and messages
//! (`id`, `timestamp`, `type`: `user`, `gemini`, `info`, `error`, …). A
//! `user` message with text opens a turn (a tool's result comes back as a
//! `user` message with a `functionResponse`, which does not). A `gemini`
//! message holds `content` (the text, a string), `thoughts` (`subject`,
//! `description`), `tokens` and, once its tools ran, `toolCalls` (`name`,
//! `args`, `result` as `functionResponse`s, `status`): it is written when its
//! answer ends and again, same id, with its tool calls, so the second copy
//! adds only what the first did not. A failed model request is an `error`
//! message (`[API Error: {…}]`), an interrupt an `info` one ("Request
//! cancelled."): see `turn::verdict_of_tail`.

use crate::tokens::Tokens;
use crate::transcript::Format;
use crate::turn::{Block, Turn};
use serde_json::Value;

pub struct GeminiTranscript;

impl Format for GeminiTranscript {
    fn may_open_turn(&self, raw: &[u8]) -> bool {
        memchr::memmem::find(raw, b"\"type\":\"user\"").is_some()
    }

    fn opens_turn(&self, line: &Value) -> bool {
        kind(line) == Some("user") && prompt_text(line).is_some()
    }

    fn add_line(&self, line: &Value, turn: &mut Turn) {
        match kind(line) {
            Some("user") => {
                if let Some(p) = prompt_text(line) {
                    turn.prompt = Some(p);
                }
            }
            Some("gemini") => add_answer(line, turn),
            _ => {}
        }
    }
}

/// The message's `type`; `None` for the header and patches.
pub fn kind(line: &Value) -> Option<&str> {
    line.get("type")?.as_str()
}

/// The text of a user message (`content`: a string, or parts with `text`);
/// `None` for a tool's result coming back, or a message with no text.
pub fn prompt_text(line: &Value) -> Option<String> {
    match line.get("content")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts.iter().filter_map(|p| p.get("text")?.as_str()).collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// What a `gemini` message adds: its thoughts and text (unless the turn
/// already ends with them: the message's first copy), then its tool calls,
/// each with its result.
fn add_answer(line: &Value, turn: &mut Turn) {
    let mut head = Vec::new();
    for t in line.get("thoughts").and_then(Value::as_array).into_iter().flatten() {
        let subject = t.get("subject").and_then(Value::as_str).unwrap_or("");
        let description = t.get("description").and_then(Value::as_str).unwrap_or("");
        let text = match (subject.is_empty(), description.is_empty()) {
            (false, false) => format!("{subject}: {description}"),
            (true, _) => description.to_string(),
            (false, true) => subject.to_string(),
        };
        head.push(Block::Thinking(text));
    }
    let text = match line.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(|p| p.get("text")?.as_str()).collect::<Vec<_>>().join(""),
        _ => String::new(),
    };
    if !text.is_empty() {
        head.push(Block::Text(text));
    }
    let calls = line.get("toolCalls").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if head.is_empty() || calls.is_empty() || !turn.blocks.ends_with(&head) {
        turn.blocks.extend(head);
    }
    for call in calls {
        turn.blocks.push(Block::ToolCall {
            name: tool_name(call.get("name").and_then(Value::as_str).unwrap_or("")),
            input: call.get("args").cloned().unwrap_or(Value::Null),
        });
        let is_error = matches!(call.get("status").and_then(Value::as_str), Some("error" | "cancelled"));
        turn.blocks.push(Block::ToolResult { text: result_text(call), is_error });
    }
}

/// A tool call's result as the model got it: the `output` (or `error`) of
/// its `functionResponse`s, without the `<untrusted_context>` wrapper Gemini
/// CLI puts around a shell's output.
fn result_text(call: &Value) -> String {
    let responses = call.get("result").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let texts: Vec<String> = responses
        .iter()
        .filter_map(|r| {
            let resp = r.get("functionResponse")?.get("response")?;
            match resp.get("output").or_else(|| resp.get("error")) {
                Some(Value::String(s)) => Some(unwrap_untrusted(s).to_string()),
                Some(other) => Some(other.to_string()),
                None => Some(resp.to_string()),
            }
        })
        .collect();
    if texts.is_empty() {
        crate::turn::NO_OUTPUT.to_string()
    } else {
        texts.join("\n")
    }
}

fn unwrap_untrusted(s: &str) -> &str {
    s.trim()
        .strip_prefix("<untrusted_context>")
        .and_then(|s| s.strip_suffix("</untrusted_context>"))
        .map_or(s, str::trim)
}

/// Gemini CLI's shell tool reads as `Bash`, as the other harnesses' do;
/// other tools keep their names.
pub fn tool_name(name: &str) -> String {
    match name {
        "run_shell_command" => "Bash".into(),
        other => other.into(),
    }
}

/// A `gemini` message's id and usage (`tokens`: `input` counts the cached
/// part, `cached`, `output`, `thoughts`, `tool`, `total`): input without the
/// cached part plus the tool-use prompt, output with the thoughts (billed as
/// output). Gemini reports no cache writes. Counted once per id: a message
/// is written again when its tools have run.
pub fn usage(line: &Value) -> Option<(&str, Tokens)> {
    if kind(line)? != "gemini" {
        return None;
    }
    let t = line.get("tokens")?;
    let n = |k: &str| t.get(k).and_then(Value::as_u64).unwrap_or(0);
    let tokens = Tokens {
        input: Some(n("input").saturating_sub(n("cached")) + n("tool")),
        output: Some(n("output") + n("thoughts")),
        cache_read: Some(n("cached")),
        cache_write: None,
    };
    Some((line.get("id")?.as_str()?, tokens))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::read_last_turn;

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    #[test]
    fn the_last_turn_has_its_tool_call_its_result_and_the_answer_once() {
        let turn = read_last_turn(&fixture("gemini-session.jsonl"), &GeminiTranscript).unwrap().unwrap();
        assert_eq!(turn.prompt.as_deref(), Some("Please run it.\nRUN: printf 'csd-e2e-%s\\n' 42"));
        assert_eq!(
            turn.blocks,
            vec![
                Block::ToolCall {
                    name: "Bash".into(),
                    input: serde_json::json!({"command": "printf 'csd-e2e-%s\\n' 42"})
                },
                Block::ToolResult { text: "Output: csd-e2e-42\nProcess Group PGID: 4242".into(), is_error: false },
                Block::Text("DONE".into()),
            ]
        );
    }

    #[test]
    fn a_message_written_twice_adds_its_text_once() {
        let first = serde_json::json!({"id": "m", "type": "gemini", "content": "Let me look.", "thoughts": [
            {"subject": "Plan", "description": "run ls"}]});
        let mut second = first.clone();
        second["toolCalls"] = serde_json::json!([{"name": "run_shell_command", "args": {"command": "ls"},
            "status": "error", "result": [{"functionResponse": {"response": {"error": "no such dir"}}}]}]);
        let mut turn = Turn::default();
        GeminiTranscript.add_line(&first, &mut turn);
        GeminiTranscript.add_line(&second, &mut turn);
        assert_eq!(
            turn.blocks,
            vec![
                Block::Thinking("Plan: run ls".into()),
                Block::Text("Let me look.".into()),
                Block::ToolCall { name: "Bash".into(), input: serde_json::json!({"command": "ls"}) },
                Block::ToolResult { text: "no such dir".into(), is_error: true },
            ]
        );
    }

    #[test]
    fn a_tools_result_coming_back_opens_no_turn() {
        let back = serde_json::json!({"type": "user", "content": [{"functionResponse": {"name": "x"}}]});
        assert!(!GeminiTranscript.opens_turn(&back));
        assert!(GeminiTranscript.opens_turn(&serde_json::json!({"type": "user", "content": [{"text": "hi"}]})));
        assert!(!GeminiTranscript.opens_turn(&serde_json::json!({"$set": {"messages": []}})));
    }

    #[test]
    fn usage_counts_the_cached_part_apart_and_thoughts_as_output() {
        let line = serde_json::json!({"id": "m1", "type": "gemini", "tokens": {"input": 120, "output": 14,
            "cached": 20, "thoughts": 6, "tool": 3, "total": 140}});
        let (id, t) = usage(&line).unwrap();
        assert_eq!(id, "m1");
        assert_eq!(t, Tokens { input: Some(103), output: Some(20), cache_read: Some(20), cache_write: None });
        assert!(usage(&serde_json::json!({"type": "user", "tokens": {}})).is_none());
    }

    #[test]
    fn the_fixture_counts_each_message_once() {
        let text = std::fs::read_to_string(fixture("gemini-session.jsonl")).unwrap();
        let mut seen = std::collections::HashMap::new();
        for line in text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()) {
            if let Some((id, t)) = usage(&line) {
                seen.insert(id.to_string(), t);
            }
        }
        let total = seen.values().fold(Tokens::ZERO, |a, t| a.plus(*t));
        assert_eq!((total.input, total.output, total.cache_read), (Some(203), Some(26), Some(9)));
    }
}
