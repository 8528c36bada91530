//! The Codex rollout reader on real 0.169 rollouts: the turn boundary is
//! `task_started`, not the synthetic user messages; `exec_command` reads as
//! Bash; apply_patch, an interrupt and a failed turn show.

mod common;

use common::repo;
use csd::transcript::read_last_turn;
use csd::turn::{last_assistant_text, render_markdown, Block, Turn};
use serde_json::json;

fn last_turn(name: &str) -> Turn {
    let path = repo().join("tests/fixtures/turn").join(format!("codex-{name}.jsonl"));
    read_last_turn(&path, csd::harness::HarnessKind::named("codex").driver().transcript_format())
        .unwrap()
        .expect("a turn")
}

#[test]
fn a_tool_turn_shows_bash_its_folded_output_and_the_answer() {
    let turn = last_turn("tui-tool-turn");
    assert_eq!(turn.prompt.as_deref(), Some("please run the thing"));
    assert_eq!(turn.blocks[0], Block::ToolCall { name: "Bash".into(), input: json!({"command": "echo hi"}) });
    assert!(matches!(&turn.blocks[1], Block::ToolResult { text, is_error: false } if text.ends_with("\nhi\n")));
    assert_eq!(turn.blocks[2], Block::Text("DONE".into()));
    assert_eq!(turn.blocks.len(), 3, "{turn:?}");
    assert_eq!(last_assistant_text(&turn), "DONE");
}

#[test]
fn only_the_last_turn_shows_and_multiline_prompts_stay_whole() {
    let turn = last_turn("tui-two-turns-multiline");
    assert_eq!(turn.prompt.as_deref(), Some("SAY: second answer"));
    assert_eq!(turn.blocks, vec![Block::Text("second answer".into())]);
}

#[test]
fn an_interrupted_turn_is_its_prompt_not_the_synthetic_turn_aborted_message() {
    let turn = last_turn("tui-interrupted");
    assert_eq!(turn.prompt.as_deref(), Some("SLEEP: 20 SAY: slow answer"));
    // Why it ended is the stop's verdict, which csd-turn appends.
    assert_eq!(turn.blocks, vec![]);
}

#[test]
fn apply_patch_is_rendered_with_its_patch() {
    let md = render_markdown(&last_turn("exec-apply-patch"), false);
    assert!(md.contains("**Tool: apply_patch**\n```json\n*** Begin Patch\n*** Add File: newfile.txt\n"), "{md}");
    assert!(md.contains("exited 0 · 0s\nSuccess. Updated the following files:\nA newfile.txt"), "{md}");
}

#[test]
fn a_failed_turn_is_its_prompt_and_no_reply() {
    let turn = last_turn("exec-model-error");
    assert_eq!(turn.prompt.as_deref(), Some("FAIL: 500"));
    // Why it failed is the stop's verdict, which csd-turn appends.
    assert_eq!(turn.blocks, vec![]);
}
