//! GitHub Copilot CLI's transcript (`<copilot home>/session-state/<session
//! id>/events.jsonl`, see `harness::copilot`): one JSON event per line,
//! `{"type", "data", "id", "timestamp", "parentId"}`, in the order they
//! happened, measured on 1.0.102. The `type`s csd reads:
//! - `user.message`: a prompt (`data.content`, as typed; the model gets
//!   `data.transformedContent`, with the date in front): it opens a turn;
//! - `assistant.message`: one model answer, its text in `data.content` and
//!   its tool calls in `data.toolRequests[]` (`name`, `arguments`);
//! - `tool.execution_complete`: a tool's result, `data.success`, its text in
//!   `data.result.content` (or `data.error.message`);
//! - `session.usage_record`: one model request's tokens (`data.usage`).
//!
//! The rest (`session.start`, `hook.start`/`hook.end`, `system.message`,
//! `assistant.turn_start`/`turn_end`, one pair per model request, not per
//! prompt; `session.error`, `session.shutdown`) adds nothing to a turn.

use crate::tokens::Tokens;
use crate::transcript::Format;
use crate::turn::{Block, Turn};
use serde_json::Value;

pub struct CopilotTranscript;

fn kind(line: &Value) -> Option<&str> {
    line.get("type").and_then(Value::as_str)
}

impl Format for CopilotTranscript {
    fn may_open_turn(&self, raw: &[u8]) -> bool {
        memchr::memmem::find(raw, b"\"user.message\"").is_some()
    }

    fn opens_turn(&self, line: &Value) -> bool {
        prompt_of(line).is_some()
    }

    fn add_line(&self, line: &Value, turn: &mut Turn) {
        if let Some(prompt) = prompt_of(line) {
            turn.prompt = Some(prompt);
            return;
        }
        let Some(data) = line.get("data") else { return };
        match kind(line) {
            Some("assistant.message") => {
                if let Some(thinking) = data.get("reasoningText").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    turn.blocks.push(Block::Thinking(thinking.into()));
                }
                if let Some(text) = data.get("content").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                    turn.blocks.push(Block::Text(text.into()));
                }
                for call in data.get("toolRequests").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
                    turn.blocks.push(Block::ToolCall {
                        name: call.get("name").and_then(Value::as_str).unwrap_or("").into(),
                        input: call.get("arguments").cloned().unwrap_or(Value::Null),
                    });
                }
            }
            Some("tool.execution_complete") => {
                let ok = data.get("success").and_then(Value::as_bool).unwrap_or(true);
                let text = data
                    .pointer("/result/content")
                    .or_else(|| data.pointer("/error/message"))
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => crate::turn::content_text(Some(other), "\n"),
                    })
                    .unwrap_or_default();
                turn.blocks.push(Block::ToolResult { text, is_error: !ok });
            }
            _ => {}
        }
    }
}

/// How Copilot CLI marks a prompt sent while a turn runs: it joins the
/// running turn (`data.delivery`, `idle` for one that opens a turn), with
/// no UserPromptSubmit hook, and a shell command running then goes on in
/// the background (1.0.102, measured).
const STEERING: &str = "steering";

/// The prompt a `user.message` line holds, when it opens a turn.
fn prompt_of(line: &Value) -> Option<String> {
    if kind(line) != Some("user.message") {
        return None;
    }
    if line.pointer("/data/delivery").and_then(Value::as_str) == Some(STEERING) {
        return None;
    }
    line.pointer("/data/content").and_then(Value::as_str).map(str::to_string)
}

/// Whether Copilot CLI steered `prompt` into the turn that was running
/// when it was sent: a `user.message` of `steering` delivery holding it,
/// read from byte `since` (the transcript's end before the paste).
pub fn steered(path: &std::path::Path, since: u64, prompt: &[u8]) -> crate::error::Result<bool> {
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
        if memchr::memmem::find(raw, b"\"steering\"").is_none() {
            continue;
        }
        let Ok(line) = serde_json::from_slice::<Value>(raw) else { continue };
        if kind(&line) != Some("user.message")
            || line.pointer("/data/delivery").and_then(Value::as_str) != Some(STEERING)
        {
            continue;
        }
        let seen = line.pointer("/data/content").and_then(Value::as_str).unwrap_or("");
        if crate::turn::same_prompt(&sent, seen) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The tokens of one `session.usage_record` line (one model request):
/// `inputTokens` (the provider's prompt tokens, cached ones included, as
/// OpenAI counts them), `outputTokens`, `cacheReadTokens`,
/// `cacheWriteTokens`.
pub fn usage(line: &Value) -> Option<Tokens> {
    if kind(line)? != "session.usage_record" {
        return None;
    }
    let u = line.pointer("/data/usage")?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let cached = n("cacheReadTokens");
    Some(Tokens {
        input: n("inputTokens").map(|p| p.saturating_sub(cached.unwrap_or(0))),
        output: n("outputTokens"),
        cache_read: cached,
        cache_write: n("cacheWriteTokens"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Vec<Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/copilot-events.jsonl");
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn reads_a_real_tool_turn() {
        let lines = fixture();
        let opens: Vec<usize> = (0..lines.len()).filter(|&i| CopilotTranscript.opens_turn(&lines[i])).collect();
        assert_eq!(opens.len(), 2, "two prompts in the fixture");
        let mut turn = Turn::default();
        for l in &lines[..opens[1]] {
            if CopilotTranscript.opens_turn(l) {
                turn = Turn::default();
            }
            CopilotTranscript.add_line(l, &mut turn);
        }
        assert_eq!(turn.prompt.as_deref(), Some("please run echo"));
        match &turn.blocks[..] {
            [Block::ToolCall { name, input }, Block::ToolResult { text, is_error: false }, Block::Text(reply)] => {
                assert_eq!(name, "bash");
                assert_eq!(input["command"], "echo MOCK_TOOL_OK");
                assert!(text.contains("MOCK_TOOL_OK"), "{text}");
                assert_eq!(reply, "MOCK_REPLY_OK hello from the mock");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn counts_each_request_once() {
        let lines = fixture();
        let used: Vec<Tokens> = lines.iter().filter_map(usage).collect();
        assert_eq!(used.len(), 2, "two model requests in the fixture (the failed one records none)");
        assert_eq!(used[0], Tokens { input: Some(10), output: Some(5), cache_read: Some(0), cache_write: Some(0) });
        let cached = json!({"type": "session.usage_record", "data": {"usage":
            {"inputTokens": 130, "outputTokens": 7, "cacheReadTokens": 30, "cacheWriteTokens": 0}}});
        assert_eq!(
            usage(&cached),
            Some(Tokens { input: Some(100), output: Some(7), cache_read: Some(30), cache_write: Some(0) })
        );
        assert_eq!(usage(&json!({"type": "assistant.message", "data": {}})), None);
    }

    #[test]
    fn a_steered_prompt_joins_the_running_turn() {
        let line = |v: Value| v.to_string() + "\n";
        let opener = line(json!({"type": "user.message", "data": {"content": "First.", "delivery": "idle"}}));
        let second = json!({"type": "user.message", "data": {"content": "Second.\nSAY: two", "delivery": "steering"}});
        assert!(!CopilotTranscript.opens_turn(&second), "it is no new turn");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        std::fs::write(&path, &opener).unwrap();
        let since = opener.len() as u64;
        assert!(!steered(&path, since, b"Second.\nSAY: two").unwrap());
        std::fs::write(&path, opener.clone() + &line(second)).unwrap();
        assert!(steered(&path, since, b"Second.\nSAY: two").unwrap());
        assert!(!steered(&path, since, b"Third.").unwrap());
        assert!(!steered(&dir.path().join("none.jsonl"), 0, b"x").unwrap());
    }

    #[test]
    fn a_failed_tool_reads_as_an_error() {
        let failed = json!({"type": "tool.execution_complete", "data": {"success": false,
            "error": {"message": "no such file"}}});
        let mut turn = Turn::default();
        CopilotTranscript.add_line(&failed, &mut turn);
        assert_eq!(turn.blocks, [Block::ToolResult { text: "no such file".into(), is_error: true }]);
    }
}
