//! Qwen Code's transcript (`<runtime dir>/projects/<cwd as a name>/chats/<session
//! id>.jsonl`, see `harness::qwen`): one JSON object per line, in the
//! order the conversation happened (each names its `parentUuid`), measured
//! on 0.24.4.
//!
//! A line's `type` says what it is:
//! - `user`: a prompt someone typed (`provenance: real_user`), its text in
//!   `message.parts[].text`: it opens a turn;
//! - `assistant` (`message.role: model`): the model's answer to one request,
//!   its parts `text` (with `thought: true`, thinking) and `functionCall`
//!   (`name`, `args`), with the request's `usageMetadata`;
//! - `tool_result`: a tool's `functionResponse` (`response.output`, or
//!   `response.error`), `toolCallResult.status` saying `success` or `error`;
//! - `system`: snapshots and the CLI's own telemetry (`ui_telemetry`, which
//!   also records its side requests: the follow-up suggestion, the memory
//!   pass): nothing to show, no tokens of the session's turns.

use crate::tokens::Tokens;
use crate::transcript::Format;
use crate::turn::{Block, Turn};
use serde_json::Value;

pub struct QwenTranscript;

impl Format for QwenTranscript {
    /// A prompt line has `"type":"user"` (in any JSON string those quotes
    /// would be escaped).
    fn may_open_turn(&self, raw: &[u8]) -> bool {
        memchr::memmem::find(raw, b"\"user\"").is_some()
    }

    fn opens_turn(&self, line: &Value) -> bool {
        prompt_of(line).is_some()
    }

    fn add_line(&self, line: &Value, turn: &mut Turn) {
        if let Some(prompt) = prompt_of(line) {
            turn.prompt = Some(prompt);
            return;
        }
        let Some(parts) = line.get("message").and_then(|m| m.get("parts")).and_then(Value::as_array) else {
            return;
        };
        match line.get("type").and_then(Value::as_str) {
            Some("assistant") => {
                for p in parts {
                    if let Some(call) = p.get("functionCall") {
                        turn.blocks.push(Block::ToolCall {
                            name: call.get("name").and_then(Value::as_str).unwrap_or("").into(),
                            input: call.get("args").cloned().unwrap_or(Value::Null),
                        });
                    } else if let Some(text) = p.get("text").and_then(Value::as_str) {
                        if p.get("thought").and_then(Value::as_bool) == Some(true) {
                            turn.blocks.push(Block::Thinking(text.into()));
                        } else if !text.is_empty() {
                            turn.blocks.push(Block::Text(text.into()));
                        }
                    }
                }
            }
            Some("tool_result") => {
                let failed = line.pointer("/toolCallResult/status").and_then(Value::as_str) == Some("error");
                for p in parts {
                    let Some(response) = p.get("functionResponse").and_then(|f| f.get("response")) else { continue };
                    let text = ["output", "error"]
                        .iter()
                        .find_map(|k| response.get(*k).and_then(Value::as_str))
                        .map(str::to_string)
                        .unwrap_or_else(|| crate::turn::content_text(Some(response), "\n"));
                    turn.blocks.push(Block::ToolResult { text, is_error: failed || response.get("error").is_some() });
                }
            }
            _ => {}
        }
    }
}

/// How Qwen Code marks a prompt it took into the running turn (Enter while
/// a turn runs "steers"): a `user` line of this `subtype`, written when the
/// model's next request carries it.
const MID_TURN: &str = "mid_turn_user_message";

/// The prompt a line holds, when it is one someone typed that opens a turn:
/// a `user` line (not marked as another provenance, nor steered into the
/// running turn), its text parts joined.
fn prompt_of(line: &Value) -> Option<String> {
    if line.get("type").and_then(Value::as_str) != Some("user") {
        return None;
    }
    if line.get("subtype").and_then(Value::as_str) == Some(MID_TURN) {
        return None;
    }
    if line.get("provenance").and_then(Value::as_str).is_some_and(|p| p != "real_user") {
        return None;
    }
    let parts = line.get("message")?.get("parts")?.as_array()?;
    let texts: Vec<&str> = parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect();
    (!texts.is_empty()).then(|| texts.concat())
}

/// Whether Qwen Code steered `prompt` into the turn that was running when
/// it was sent: a `mid_turn_user_message` line holding it, read from byte
/// `since` (the transcript's end before the paste). Sent during a tool call
/// it also fires a UserPromptSubmit; sent during a model request (no tool)
/// it fires none, and goes to the model after its answer, in the same turn
/// (0.24.4, measured).
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
        if memchr::memmem::find(raw, MID_TURN.as_bytes()).is_none() {
            continue;
        }
        let Ok(line) = serde_json::from_slice::<Value>(raw) else { continue };
        if line.get("type").and_then(Value::as_str) != Some("user")
            || line.get("subtype").and_then(Value::as_str) != Some(MID_TURN)
        {
            continue;
        }
        let parts = line.pointer("/message/parts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        let seen: String = parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect();
        if crate::turn::same_prompt(&sent, &seen) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The tokens of one `assistant` line (one model request): its
/// `usageMetadata`, Gemini-shaped as Qwen Code converts OpenAI's usage:
/// `promptTokenCount` (OpenAI's `prompt_tokens`, cached ones included),
/// `cachedContentTokenCount` (`prompt_tokens_details.cached_tokens`),
/// `candidatesTokenCount` (`completion_tokens`, reasoning included). Chat
/// completions report no cache writes.
pub fn usage(line: &Value) -> Option<Tokens> {
    if line.get("type")?.as_str()? != "assistant" {
        return None;
    }
    let u = line.get("usageMetadata")?;
    let n = |k: &str| u.get(k).and_then(Value::as_u64);
    let cached = n("cachedContentTokenCount");
    Some(Tokens {
        input: n("promptTokenCount").map(|p| p.saturating_sub(cached.unwrap_or(0))),
        output: n("candidatesTokenCount"),
        cache_read: cached,
        cache_write: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture() -> Vec<Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/qwen-transcript.jsonl");
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn reads_a_real_tool_turn() {
        let lines = fixture();
        let opens: Vec<usize> = (0..lines.len()).filter(|&i| QwenTranscript.opens_turn(&lines[i])).collect();
        assert_eq!(opens, [0, 9], "two prompts in the fixture");
        let mut turn = Turn::default();
        for l in &lines[..9] {
            QwenTranscript.add_line(l, &mut turn);
        }
        assert_eq!(turn.prompt.as_deref(), Some("run a tool please"));
        match &turn.blocks[..] {
            [Block::ToolCall { name, input }, Block::ToolResult { text, is_error: false }, Block::Text(reply)] => {
                assert_eq!(name, "run_shell_command");
                assert_eq!(input["command"], "echo MOCK_TOOL_OK");
                assert!(text.contains("Output: MOCK_TOOL_OK"), "{text}");
                assert_eq!(reply, "MOCK_REPLY_OK hello from the mock");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn counts_each_answer_once_and_no_telemetry() {
        let lines = fixture();
        let used: Vec<Tokens> = lines.iter().filter_map(usage).collect();
        assert_eq!(used.len(), 3, "three model answers; the side request's telemetry is not one");
        assert_eq!(used[0], Tokens { input: Some(10), output: Some(5), cache_read: Some(0), cache_write: None });
        let cached = json!({"type": "assistant", "usageMetadata":
            {"promptTokenCount": 130, "candidatesTokenCount": 7, "cachedContentTokenCount": 30}});
        assert_eq!(
            usage(&cached),
            Some(Tokens { input: Some(100), output: Some(7), cache_read: Some(30), cache_write: None })
        );
    }

    #[test]
    fn a_steered_prompt_joins_the_running_turn() {
        let line = |v: Value| v.to_string() + "\n";
        let opener = line(json!({"type": "user", "provenance": "real_user",
            "message": {"role": "user", "parts": [{"text": "Third.\nSLEEP: 3"}]}}));
        let fourth = json!({"type": "user", "provenance": "real_user", "subtype": "mid_turn_user_message",
            "message": {"role": "user", "parts": [{"text": "Fourth.\nSAY: fourth-answer"}]}});
        assert!(!QwenTranscript.opens_turn(&fourth), "it is no new turn");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, &opener).unwrap();
        let since = opener.len() as u64;
        assert!(!steered(&path, since, b"Fourth.\nSAY: fourth-answer").unwrap());
        std::fs::write(&path, opener.clone() + &line(fourth)).unwrap();
        assert!(steered(&path, since, b"Fourth.\nSAY: fourth-answer").unwrap());
        assert!(!steered(&path, since, b"Fifth.").unwrap());
        assert!(!steered(&dir.path().join("none.jsonl"), 0, b"x").unwrap());
    }

    #[test]
    fn thinking_errors_and_other_provenances() {
        let answer = json!({"type": "assistant", "message": {"role": "model",
            "parts": [{"text": "hmm", "thought": true}, {"text": ""}, {"text": "ok"}]}});
        let failed = json!({"type": "tool_result", "toolCallResult": {"status": "error"},
            "message": {"role": "user", "parts": [{"functionResponse": {"name": "x", "response": {"error": "no such file"}}}]}});
        let mut turn = Turn::default();
        QwenTranscript.add_line(&answer, &mut turn);
        QwenTranscript.add_line(&failed, &mut turn);
        assert_eq!(
            turn.blocks,
            [
                Block::Thinking("hmm".into()),
                Block::Text("ok".into()),
                Block::ToolResult { text: "no such file".into(), is_error: true }
            ]
        );
        let injected = json!({"type": "user", "provenance": "system", "message": {"parts": [{"text": "x"}]}});
        assert!(!QwenTranscript.opens_turn(&injected));
    }
}
