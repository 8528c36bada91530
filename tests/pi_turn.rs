//! read-turn for Pi workers: the last turn of a real pi 0.73.1 session file,
//! following the tree of entries back from the last one.

mod common;

use common::{assert_code, repo, stderr, stdout, TestEnv};
use csd::transcript::read_last_turn;
use csd::turn::{last_assistant_text, Block, Turn};
use serde_json::json;
use std::path::{Path, PathBuf};

const SID: &str = "01a2128e-3f8d-729a-be14-46cd8ed7da2b";

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/turn").join(name)
}

fn turn_of(path: &Path) -> Option<Turn> {
    read_last_turn(path, csd::harness::HarnessKind::named("pi").driver().transcript_format()).unwrap()
}

/// A registered Pi worker `w` (meta only), its session file at `transcript`.
fn pi_worker(env: &TestEnv, transcript: &Path) {
    let meta = json!({
        "tmux_name": "w", "session_id": SID, "cwd": env.path(), "harness": "pi",
        "transcript_path": transcript, "tmux_socket": env.socket,
    });
    std::fs::write(env.worker_dir.join(format!("{SID}.meta")), meta.to_string()).unwrap();
}

#[test]
fn the_last_turn_of_a_real_session_has_its_tool_call() {
    let turn = turn_of(&fixture("pi-session.jsonl")).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("please run it"));
    assert_eq!(
        turn.blocks,
        vec![
            Block::ToolCall { name: "Bash".into(), input: json!({"command": "echo hi", "description": "say hi"}) },
            Block::ToolResult { text: "hi\n".into(), is_error: false },
            Block::Text("DONE".into()),
        ]
    );
}

#[test]
fn an_abandoned_branch_is_not_the_turn() {
    // /tree went back to the tool result and the answer was given again:
    // the first DONE is still in the file, on a branch no one is on.
    let turn = turn_of(&fixture("pi-branched.jsonl")).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("please run it"));
    assert_eq!(last_assistant_text(&turn), "ALTERNATIVE DONE");
    assert!(!turn.blocks.contains(&Block::Text("DONE".into())), "{turn:?}");
    assert!(turn.blocks.contains(&Block::Thinking("look again".into())));
}

#[test]
fn a_session_without_a_prompt_has_no_turn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let real = std::fs::read_to_string(fixture("pi-session.jsonl")).unwrap();
    let head: Vec<&str> = real.lines().take(3).collect();
    std::fs::write(&path, head.join("\n") + "\n").unwrap();
    assert_eq!(turn_of(&path), None);
}

#[test]
fn errors_and_images_show() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.jsonl");
    let lines = [
        json!({"type": "session", "version": 3, "id": SID, "timestamp": "t", "cwd": "/p"}),
        json!({"type": "message", "id": "u1", "parentId": null,
               "message": {"role": "user", "content": [{"type": "text", "text": "look"},
                                                       {"type": "image", "data": "", "mimeType": "image/png"}]}}),
        json!({"type": "message", "id": "a1", "parentId": "u1",
               "message": {"role": "assistant", "content": [{"type": "toolCall", "id": "c", "name": "read",
                                                              "arguments": {"path": "nope"}}]}}),
        json!({"type": "message", "id": "r1", "parentId": "a1",
               "message": {"role": "toolResult", "toolCallId": "c", "toolName": "read",
                           "content": [{"type": "text", "text": "ENOENT"}], "isError": true}}),
    ];
    let text: String = lines.iter().map(|l| l.to_string() + "\n").collect();
    std::fs::write(&path, text + "{\"type\":\"message\",\"id\":\"torn").unwrap();
    let turn = turn_of(&path).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("look\n[image]"));
    assert_eq!(turn.blocks[0], Block::ToolCall { name: "Read".into(), input: json!({"path": "nope"}) });
    assert_eq!(turn.blocks[1], Block::ToolResult { text: "ENOENT".into(), is_error: true });
}

#[test]
fn csd_turn_reads_a_pi_worker() {
    let env = TestEnv::new();
    pi_worker(&env, &fixture("pi-session.jsonl"));
    let out = env.run("csd-turn", ["w"]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        "---\n\n**Prompt:** please run it\n\n**Tool: Bash**\n```json\n{\"command\":\"echo hi\",\"description\":\"say hi\"}\n```\n\n\
         **Result:**\n```\nhi\n\n```\n\nDONE\n\n"
    );
}

#[test]
fn a_pi_worker_that_has_not_written_its_session_yet_says_where_it_looked() {
    // Pi writes the session file at the first answer, not at start.
    let env = TestEnv::new();
    let missing = env.path().join("sessions/not-yet.jsonl");
    pi_worker(&env, &missing);
    let out = env.run("csd-turn", ["w"]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains(&missing.display().to_string()), "{}", stderr(&out));
}
