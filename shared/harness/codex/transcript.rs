//! Codex's rollout: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<sid>.jsonl`,
//! one `{"timestamp","type","payload"}` object per line.
//!
//! A turn opens with an `event_msg` `task_started` (0.169). The last
//! `role:"user"` message is not a safe boundary: Codex records messages no
//! one typed as user messages too (`<environment_context>` before the first
//! prompt, `<turn_aborted>` after an interrupt). What the agent did is in
//! `response_item` lines: `message`, `reasoning`, `function_call` (the shell
//! is `exec_command`, shown as `Bash` as the hooks name it),
//! `custom_tool_call` (`apply_patch`, its patch shown as written) and their
//! outputs, whose `Chunk ID / Wall time / … / Output:` header is folded into
//! one status line. A failed turn's error (`task_complete.error`) is shown as
//! the turn's last text, since it is the only answer there is.

use crate::tokens::Tokens;
use crate::transcript::Format;
use crate::turn::{Block, Turn};
use serde_json::{Map, Value};

pub struct CodexRollout;

/// Openings of the user messages Codex writes itself.
const INJECTED: [&str; 6] = [
    "<environment_context>",
    "<turn_aborted>",
    "<user_instructions>",
    "<skills_instructions>",
    "<permissions instructions>",
    "# AGENTS.md",
];

impl Format for CodexRollout {
    fn may_open_turn(&self, raw: &[u8]) -> bool {
        memchr::memmem::find(raw, b"task_started").is_some()
    }

    fn opens_turn(&self, line: &Value) -> bool {
        line["type"] == "event_msg" && line["payload"]["type"] == "task_started"
    }

    fn add_line(&self, line: &Value, turn: &mut Turn) {
        let p = &line["payload"];
        match (line["type"].as_str(), p["type"].as_str()) {
            (Some("response_item"), Some("message")) => {
                let text = message_text(&p["content"]);
                match p["role"].as_str() {
                    Some("user") if !is_injected(&text) => turn.prompt = Some(text),
                    Some("assistant") if !text.is_empty() => turn.blocks.push(Block::Text(text)),
                    _ => {}
                }
            }
            (Some("response_item"), Some("reasoning")) => {
                let text = summary_text(&p["summary"]);
                if !text.is_empty() {
                    turn.blocks.push(Block::Thinking(text));
                }
            }
            (Some("response_item"), Some("function_call")) => {
                let name = p["name"].as_str().unwrap_or_default();
                turn.blocks.push(Block::ToolCall { name: tool_name(name).into(), input: call_input(name, p) });
            }
            (Some("response_item"), Some("custom_tool_call")) => turn.blocks.push(Block::ToolCall {
                name: p["name"].as_str().unwrap_or_default().into(),
                input: p["input"].clone(),
            }),
            (Some("response_item"), Some("function_call_output" | "custom_tool_call_output")) => {
                let (text, is_error) = tool_output(&p["output"]);
                turn.blocks.push(Block::ToolResult { text, is_error });
            }
            // A failed or interrupted turn's ending is not written here: the
            // turn's stop carries it as a verdict, which csd-turn appends.
            _ => {}
        }
    }
}

/// Whether Codex wrote this user message itself (context, instructions, an
/// abort notice) rather than the user: never a prompt.
pub fn is_injected(text: &str) -> bool {
    let t = text.trim_start();
    INJECTED.iter().any(|p| t.starts_with(p))
}

/// The text parts of a message's `content`, joined.
fn message_text(content: &Value) -> String {
    let Some(parts) = content.as_array() else { return String::new() };
    parts.iter().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("")
}

fn summary_text(summary: &Value) -> String {
    let Some(parts) = summary.as_array() else { return String::new() };
    parts.iter().filter_map(|s| s.as_str().or(s["text"].as_str())).collect::<Vec<_>>().join(" ")
}

/// The hooks (and so csd's events) call the shell `Bash`; the rollout says
/// `exec_command`. One name for one tool, wherever it is read.
fn tool_name(name: &str) -> &str {
    match name {
        "exec_command" | "shell_command" | "shell" => "Bash",
        other => other,
    }
}

/// A function call's arguments as an object. The shell's `cmd` becomes
/// `command`, as the hooks give it; arguments that are not a JSON object
/// stay the string they are.
fn call_input(name: &str, p: &Value) -> Value {
    let raw = &p["arguments"];
    let parsed = match raw {
        Value::String(s) => serde_json::from_str::<Value>(s).unwrap_or_else(|_| raw.clone()),
        other => other.clone(),
    };
    match parsed {
        Value::Object(args) if tool_name(name) == "Bash" => {
            let mut out = Map::new();
            for (k, v) in args {
                out.insert(if k == "cmd" { "command".into() } else { k }, v);
            }
            Value::Object(out)
        }
        other => other,
    }
}

/// A tool's output with Codex's header folded into `exited N · Ts`, and
/// whether it failed (a non-zero exit). Text without the header is kept as
/// it is: never drop what the tool said.
fn tool_output(output: &Value) -> (String, bool) {
    let text = match output {
        Value::String(s) => s.clone(),
        Value::Null => return (crate::turn::NO_OUTPUT.into(), false),
        Value::Object(o) if o.get("content").is_some_and(Value::is_string) => {
            o["content"].as_str().unwrap_or_default().to_string()
        }
        other => other.to_string(),
    };
    let Some((header, body)) = text.split_once("\nOutput:\n").or_else(|| text.split_once("\nOutput:")) else {
        return (text, false);
    };
    let field = |label: &str| {
        header.lines().find_map(|l| l.strip_prefix(label)).map(|v| v.trim().trim_start_matches(':').trim().to_string())
    };
    let Some(code) = field("Process exited with code").or_else(|| field("Exit code")) else {
        return (text, false);
    };
    let status = match field("Wall time").map(|w| w.trim_end_matches("seconds").trim().to_string()) {
        Some(wall) => format!("exited {code} · {wall}s"),
        None => format!("exited {code}"),
    };
    let body = if body.is_empty() { crate::turn::NO_OUTPUT } else { body };
    (format!("{status}\n{body}"), code != "0")
}

/// The session's total so far, from a Codex rollout's `token_count` line
/// (`info.total_token_usage`; the last one is the total). Its
/// `input_tokens` counts cached input too (OpenAI's convention); csd reports
/// `input` without it, as for the other harnesses, and the cached part as
/// `cache_read`.
pub fn usage(line: &Value) -> Option<Tokens> {
    if line.get("type")?.as_str()? != "event_msg" {
        return None;
    }
    let p = line.get("payload")?;
    if p.get("type")?.as_str()? != "token_count" {
        return None;
    }
    let t = p.get("info")?.get("total_token_usage")?.as_object()?;
    let n = |k: &str| t.get(k).and_then(Value::as_u64);
    let cached = n("cached_input_tokens");
    Some(Tokens {
        input: n("input_tokens").map(|i| i.saturating_sub(cached.unwrap_or(0))),
        output: n("output_tokens"),
        cache_read: cached,
        cache_write: n("cache_write_input_tokens"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shell_output_header_folds_into_a_status_line() {
        let out = json!("Chunk ID: 0da6c7\nWall time: 0.0000 seconds\nProcess exited with code 0\nOriginal token count: 1\nOutput:\nhi\n");
        assert_eq!(tool_output(&out), ("exited 0 · 0.0000s\nhi\n".to_string(), false));
        let patch = json!("Exit code: 1\nWall time: 0 seconds\nOutput:\nboom");
        assert_eq!(tool_output(&patch), ("exited 1 · 0s\nboom".to_string(), true));
        assert_eq!(tool_output(&json!("plain")), ("plain".to_string(), false));
    }

    #[test]
    fn exec_command_reads_as_bash_with_a_command() {
        let p = json!({"name": "exec_command", "arguments": "{\"cmd\":\"echo hi\",\"workdir\":\"/w\"}"});
        assert_eq!(call_input("exec_command", &p), json!({"command": "echo hi", "workdir": "/w"}));
        assert_eq!(tool_name("exec_command"), "Bash");
        let odd = json!({"name": "write_stdin", "arguments": "not json"});
        assert_eq!(call_input("write_stdin", &odd), json!("not json"));
    }
}
