//! csd-turn and the turn model: golden renders of Claude transcripts, read
//! from the end, through the real binary.

mod common;

use common::{assert_code, repo, stderr, stdout, TestEnv};
use csd::harness::{claude::Claude, HarnessKind};
use csd::transcript::read_last_turn;
use csd::turn::{last_assistant_text, Block};
use std::path::PathBuf;
use std::process::Output;

const SID: &str = "5e1d2c3b-0000-4000-8000-00000000cafe";

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/turn").join(name)
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// A registered worker `w` (meta only) whose Claude transcript is `content`,
/// where Claude would write it under this world's HOME.
fn worker_with_transcript(env: &TestEnv, content: &[u8]) -> PathBuf {
    env.fake_worker("w", SID, &[]);
    let cwd = env.path().to_str().unwrap();
    let dir = env.home.join(".claude/projects").join(Claude::project_dir_name(cwd));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{SID}.jsonl"));
    std::fs::write(&path, content).unwrap();
    path
}

fn read_turn(env: &TestEnv, args: &[&str]) -> Output {
    env.cmd("csd-turn").args(args).output().unwrap()
}

fn turn_of(content: &str) -> Option<csd::turn::Turn> {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, content.as_bytes()).unwrap();
    read_last_turn(f.path(), HarnessKind::named("claude").driver().transcript_format()).unwrap()
}

fn user(text: &str) -> String {
    serde_json::json!({"type": "user", "message": {"role": "user", "content": text}}).to_string() + "\n"
}

fn says(text: &str) -> String {
    serde_json::json!({"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": text}]}})
        .to_string()
        + "\n"
}

#[test]
fn the_reference_transcript_renders_its_last_turn() {
    let env = TestEnv::new();
    worker_with_transcript(&env, &std::fs::read(fixture("claude-reference.jsonl")).unwrap());
    let out = read_turn(&env, &["w"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), golden("claude-reference.md"));
}

#[test]
fn a_rich_turn_renders_as_v4_does() {
    let env = TestEnv::new();
    worker_with_transcript(&env, &std::fs::read(fixture("claude-rich.jsonl")).unwrap());
    let out = read_turn(&env, &["w"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), golden("claude-rich.md"));
    let full = read_turn(&env, &["w", "--full"]);
    assert_code(&full, 0);
    assert_eq!(stdout(&full), golden("claude-rich.full.md"));
}

#[test]
fn the_rich_turn_in_detail() {
    let turn = turn_of(&std::fs::read_to_string(fixture("claude-rich.jsonl")).unwrap()).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("fix the failing test\nand tell me what was wrong"));
    // An array of blocks reads as its text, never as "[object Object]".
    assert!(turn.blocks.contains(&Block::ToolResult {
        text: "1\tdef test_add():\n2\t    assert add(1, 2) == 4\n(end of file)".into(),
        is_error: false
    }));
    let errors: Vec<_> = turn.blocks.iter().filter(|b| matches!(b, Block::ToolResult { is_error: true, .. })).collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(last_assistant_text(&turn), "The test expected 4; `add(1, 2)` is 3.\nI fixed the expectation.");
    let md = csd::turn::render_markdown(&turn, false);
    for hidden in ["EARLIER", "TORN", "<command-", "local-command", "Caveat", "Total cost"] {
        assert!(!md.contains(hidden), "{hidden} shows:\n{md}");
    }
}

#[test]
fn only_the_last_of_many_turns_shows() {
    let env = TestEnv::new();
    let mut t = String::new();
    for i in 0..2000 {
        t += &user(&format!("prompt {i}"));
        t += &says(&format!("reply {i}\n{}", "x".repeat(i % 300)));
    }
    worker_with_transcript(&env, t.as_bytes());
    let out = read_turn(&env, &["w"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), format!("---\n\n**Prompt:** prompt 1999\n\nreply 1999\n{}\n\n", "x".repeat(1999 % 300)));
}

#[test]
fn a_torn_last_line_is_left_out() {
    let t = user("done prompt")
        + &says("finished")
        + r#"{"type":"assistant","message":{"content":[{"type":"text","text":"half"#;
    let turn = turn_of(&t).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("done prompt"));
    assert_eq!(turn.blocks, vec![Block::Text("finished".into())]);
    // A torn prompt does not open a turn either.
    let t = user("real") + &says("answer") + r#"{"type":"user","message":{"content":"torn pro"#;
    assert_eq!(last_assistant_text(&turn_of(&t).unwrap()), "answer");
}

#[test]
fn garbage_lines_are_skipped() {
    let t = user("go") + "this is not json\n\n" + &says("ok") + "[1,2]\n";
    let turn = turn_of(&t).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("go"));
    assert_eq!(turn.blocks, vec![Block::Text("ok".into())]);
}

#[test]
fn command_echoes_neither_open_a_turn_nor_show() {
    let t = user("<local-command-stdout>noise</local-command-stdout>")
        + &user("the real prompt")
        + &says("reply")
        + &user("<command-name>/clear</command-name>")
        + &user("<command-message>review</command-message>\n<command-name>/review</command-name>");
    let turn = turn_of(&t).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("the real prompt"));
    assert_eq!(turn.blocks, vec![Block::Text("reply".into())]);
}

#[test]
fn subagent_lines_are_not_the_turn() {
    let side = serde_json::json!({"type": "user", "isSidechain": true, "message": {"content": "subagent task"}});
    let t = user("main prompt") + &side.to_string() + "\n" + &says("main reply");
    let turn = turn_of(&t).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("main prompt"));
}

#[test]
fn a_transcript_without_a_prompt_fails() {
    let env = TestEnv::new();
    let t = says("hi") + &user("<command-name>/clear</command-name>");
    worker_with_transcript(&env, t.as_bytes());
    let out = read_turn(&env, &["w"]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("no user prompt found"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_missing_transcript_fails_naming_its_path() {
    let env = TestEnv::new();
    env.fake_worker("w", SID, &[]);
    let out = read_turn(&env, &["w"]);
    assert_code(&out, 1);
    let want = env.home.join(".claude/projects").join(Claude::project_dir_name(env.path().to_str().unwrap()));
    let want = want.join(format!("{SID}.jsonl"));
    assert!(stderr(&out).contains(&want.display().to_string()), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
}

#[test]
fn the_metas_transcript_path_wins() {
    let env = TestEnv::new();
    worker_with_transcript(&env, (user("derived") + &says("from the derived path")).as_bytes());
    let elsewhere = env.path().join("elsewhere.jsonl");
    std::fs::write(&elsewhere, user("recorded") + &says("from the hook's path")).unwrap();
    let meta_path = env.worker_dir.join(format!("{SID}.meta"));
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    meta["transcript_path"] = elsewhere.to_str().unwrap().into();
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let out = read_turn(&env, &["w"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("from the hook's path"), "{}", stdout(&out));
    let path = read_turn(&env, &["--path", "w"]);
    assert_eq!(stdout(&path), format!("{}\n", elsewhere.display()));
}

#[test]
fn the_worker_is_found_by_session_id_and_through_csd() {
    let env = TestEnv::new();
    worker_with_transcript(&env, &std::fs::read(fixture("claude-reference.jsonl")).unwrap());
    let by_sid = read_turn(&env, &[SID]);
    assert_code(&by_sid, 0);
    assert_eq!(stdout(&by_sid), golden("claude-reference.md"));
    let rich = worker_with_transcript(&env, &std::fs::read(fixture("claude-rich.jsonl")).unwrap());
    assert!(rich.is_file());
    let out = env.cmd("csd").args(["--worker", "w", "read-turn", "--full"]).output().unwrap();
    assert_code(&out, 0);
    assert_eq!(stdout(&out), golden("claude-rich.full.md"));
}

#[test]
fn bad_calls_fail_with_the_contracts_codes() {
    let env = TestEnv::new();
    let out = read_turn(&env, &["ghost"]);
    assert_code(&out, 3);
    assert!(stderr(&out).contains("ghost"));
    assert_code(&read_turn(&env, &[]), 2);
    assert_code(&read_turn(&env, &["w", "--bogus"]), 2);
    assert_code(&read_turn(&env, &["w", "extra"]), 2);
    let help = read_turn(&env, &["--help"]);
    assert_code(&help, 0);
    assert!(stdout(&help).starts_with("csd-turn:"));
}

#[test]
fn an_unsupported_harness_says_so() {
    let env = TestEnv::new();
    let meta = serde_json::json!({"tmux_name": "w", "session_id": SID, "cwd": "/x", "harness": "nonesuch"});
    std::fs::write(env.worker_dir.join(format!("{SID}.meta")), meta.to_string()).unwrap();
    let out = read_turn(&env, &["w"]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("nonesuch"), "{}", stderr(&out));
}

#[test]
fn a_last_turn_larger_than_a_read_chunk_is_whole() {
    let big: String = (0..20_000).map(|i| format!("output line {i}\n")).collect();
    let result = serde_json::json!({"type": "user", "message": {"content": [
        {"type": "tool_result", "content": [{"type": "text", "text": big}], "is_error": false}]}});
    let call = serde_json::json!({"type": "assistant", "message": {"content": [
        {"type": "tool_use", "name": "Bash", "input": {"command": "seq"}}]}});
    let mut t = String::new();
    for i in 0..500 {
        t += &user(&format!("old {i}"));
        t += &says(&"y".repeat(i * 10));
    }
    t += &user("the big one");
    t += &(call.to_string() + "\n" + &result.to_string() + "\n");
    t += &says("summarised");
    let turn = turn_of(&t).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("the big one"));
    assert_eq!(turn.blocks.len(), 3);
    assert_eq!(turn.blocks[1], Block::ToolResult { text: big.clone(), is_error: false });
    let md = csd::turn::render_markdown(&turn, false);
    assert!(md.contains("output line 4\n... (20001 lines total)\n```"), "{}", &md[..400.min(md.len())]);
}

/// A harness whose transcript may have no prompt line: the whole file is the
/// turn (the shape Codex's and Pi's readers may need).
struct PromptlessFormat;

impl csd::transcript::Format for PromptlessFormat {
    fn opens_turn(&self, _: &serde_json::Value) -> bool {
        false
    }
    fn add_line(&self, line: &serde_json::Value, turn: &mut csd::turn::Turn) {
        if let Some(t) = line.get("say").and_then(|s| s.as_str()) {
            turn.blocks.push(Block::Text(t.into()));
        }
    }
    fn whole_file_is_a_turn(&self) -> bool {
        true
    }
}

#[test]
fn a_format_may_take_the_whole_file_as_the_turn() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut f, b"{\"say\":\"one\"}\nnot json\n{\"say\":\"two\"}\n{\"say\":\"to").unwrap();
    let turn = read_last_turn(f.path(), &PromptlessFormat).unwrap().unwrap();
    assert_eq!(
        turn,
        csd::turn::Turn { prompt: None, blocks: vec![Block::Text("one".into()), Block::Text("two".into())] }
    );
    assert_eq!(csd::turn::render_markdown(&turn, false), "one\n\ntwo\n\n");
}

/// A transcript whose lines form a tree, as Pi's do: `id`, `parent`, and
/// either a prompt (`user`) or a reply (`say`).
struct TreeFormat;

impl csd::transcript::Format for TreeFormat {
    fn opens_turn(&self, line: &serde_json::Value) -> bool {
        line.get("user").is_some()
    }
    fn add_line(&self, line: &serde_json::Value, turn: &mut csd::turn::Turn) {
        if let Some(p) = line.get("user").and_then(|s| s.as_str()) {
            turn.prompt = Some(p.into());
        }
        if let Some(t) = line.get("say").and_then(|s| s.as_str()) {
            turn.blocks.push(Block::Text(t.into()));
        }
    }
    fn tree_link<'a>(&self, line: &'a serde_json::Value) -> Option<(&'a str, Option<&'a str>)> {
        Some((line.get("id")?.as_str()?, line.get("parent").and_then(|p| p.as_str())))
    }
}

#[test]
fn in_a_tree_only_the_branch_of_the_last_line_counts() {
    let turn = |lines: &[&str]| {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, (lines.join("\n") + "\n").as_bytes()).unwrap();
        read_last_turn(f.path(), &TreeFormat).unwrap().unwrap()
    };
    let trunk = [
        r#"{"id":"a","user":"p1"}"#,
        r#"{"id":"b","parent":"a","say":"r1"}"#,
        r#"{"id":"c","parent":"b","user":"p2"}"#,
        r#"{"id":"d","parent":"c","say":"abandoned"}"#,
    ];
    // Rewound to c and answered again: the sibling d is off the branch.
    let mut lines = trunk.to_vec();
    lines.extend([r#"{"id":"e","parent":"c","say":"kept"}"#, r#"{"id":"f","parent":"e","say":"too"}"#]);
    let t = turn(&lines);
    assert_eq!(t.prompt.as_deref(), Some("p2"));
    assert_eq!(t.blocks, vec![Block::Text("kept".into()), Block::Text("too".into())]);
    // Rewound to b and asked again: p2 and its reply are off the branch.
    let mut lines = trunk.to_vec();
    lines.extend([r#"{"id":"g","parent":"b","user":"p2 again"}"#, r#"{"id":"h","parent":"g","say":"r2"}"#]);
    let t = turn(&lines);
    assert_eq!(t.prompt.as_deref(), Some("p2 again"));
    assert_eq!(t.blocks, vec![Block::Text("r2".into())]);
}

#[test]
fn a_baseline_keeps_the_previous_turn_out() {
    use csd::transcript::{read_last_turn_since, transcript_end};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let claude = HarnessKind::named("claude").driver().transcript_format();
    assert_eq!(transcript_end(&path).unwrap(), 0);
    std::fs::write(&path, user("first") + &says("first reply")).unwrap();
    let baseline = transcript_end(&path).unwrap();
    // The prompt is sent, but the transcript has not caught up: no new turn yet.
    assert_eq!(read_last_turn_since(&path, claude, baseline).unwrap(), None);
    assert_eq!(last_assistant_text(&read_last_turn(&path, claude).unwrap().unwrap()), "first reply");
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, user("second").as_bytes()).unwrap();
    let turn = read_last_turn_since(&path, claude, baseline).unwrap().unwrap();
    assert_eq!((turn.prompt.as_deref(), last_assistant_text(&turn).as_str()), (Some("second"), ""));
    std::io::Write::write_all(&mut f, says("second reply").as_bytes()).unwrap();
    let turn = read_last_turn_since(&path, claude, baseline).unwrap().unwrap();
    assert_eq!(last_assistant_text(&turn), "second reply");
}

#[test]
fn an_interrupted_turn_says_so() {
    let interrupted = serde_json::json!({"type": "user", "message": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "The user doesn't want to proceed with this tool use.",
         "is_error": true},
        {"type": "text", "text": "[Request interrupted by user for tool use]"}]}});
    let call = serde_json::json!({"type": "assistant", "message": {"content": [
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "sleep 100"}}]}});
    let t = user("wait a while") + &call.to_string() + "\n" + &interrupted.to_string() + "\n";
    let turn = turn_of(&t).unwrap();
    assert_eq!(turn.prompt.as_deref(), Some("wait a while"));
    assert_eq!(turn.blocks.last(), Some(&Block::Text("[Request interrupted by user for tool use]".into())));
    assert!(matches!(turn.blocks[1], Block::ToolResult { is_error: true, .. }));
}

/// Issue 7 item 10, as a real Claude Code 2.1.197 wrote it on a loaded
/// machine (tests/e2e_claude.rs, the session's first turn): the Bash call
/// landed in the file before the prompt that asked for it, because the
/// writer of the prompt was still creating the file. Read from the prompt
/// on, the turn had the result and the reply but no call.
#[test]
fn a_tool_call_written_before_its_prompt_is_still_in_the_turn() {
    let env = TestEnv::new();
    worker_with_transcript(&env, &std::fs::read(fixture("claude-first-prompt-late.jsonl")).unwrap());
    let out = read_turn(&env, &["w"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), golden("claude-first-prompt-late.md"));
}

/// The lines of the captured turn, by what they are.
struct LateTurn {
    lines: Vec<String>,
}

impl LateTurn {
    fn load() -> LateTurn {
        let raw = std::fs::read_to_string(fixture("claude-first-prompt-late.jsonl")).unwrap();
        LateTurn { lines: raw.lines().map(|l| format!("{l}\n")).collect() }
    }

    /// The lines of `kind` (`type`, and for messages the first block's type
    /// or `prompt`), in file order: one of each, but for the two attachments.
    fn line(&self, kind: &str) -> String {
        let found: String = self
            .lines
            .iter()
            .filter(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let block = match &v["message"]["content"] {
                    serde_json::Value::String(_) => "prompt",
                    c => c[0]["type"].as_str().unwrap_or(""),
                };
                format!("{} {block}", v["type"].as_str().unwrap()).trim() == kind
            })
            .cloned()
            .collect();
        assert!(!found.is_empty(), "no {kind} line");
        found
    }

    /// The turn's lines in the order given.
    fn written(&self, order: &[&str]) -> String {
        order.iter().map(|k| self.line(k)).collect()
    }
}

const CALL: &str = "assistant tool_use";
const PROMPT: &str = "user prompt";
const RESULT: &str = "user tool_result";
const REPLY: &str = "assistant text";

fn expected_blocks() -> Vec<Block> {
    vec![
        Block::ToolCall {
            name: "Bash".into(),
            input: serde_json::json!({"command": "echo csd-e2e-$((6 * 7))",
                "description": "Run the command the user asked for"}),
        },
        Block::ToolResult { text: "csd-e2e-42".into(), is_error: false },
        Block::Text("The command printed:\ncsd-e2e-42".into()),
    ]
}

/// Every order Claude's writers can leave the turn in reads as the same
/// turn, and `read_complete_turn_since` has it whole only once every line is
/// there; before, the reader does not make up an order of its own.
#[test]
fn a_turn_reads_in_the_order_its_lines_link_not_the_order_they_landed() {
    use csd::transcript::{read_complete_turn_since, read_last_turn_since};
    let t = LateTurn::load();
    let claude = HarnessKind::named("claude").driver().transcript_format();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let read = |content: &str, or_partial: bool| {
        std::fs::write(&path, content).unwrap();
        (
            read_last_turn_since(&path, claude, 0).unwrap(),
            read_complete_turn_since(&path, claude, 0, or_partial).unwrap(),
        )
    };
    let whole = |order: &[&str]| {
        let content = t.written(&["mode", "permission-mode"]) + &t.written(order);
        let (turn, complete) = read(&content, false);
        let turn = turn.unwrap_or_else(|| panic!("no turn for {order:?}"));
        assert_eq!(turn.prompt.as_deref(), Some("Please run this command for me.\nrun: echo csd-e2e-$((6 * 7))"));
        assert_eq!(turn.blocks, expected_blocks(), "{order:?}");
        assert_eq!(complete, Some(turn), "{order:?}");
    };
    let (snapshot, attachments) = ("file-history-snapshot", "attachment");
    // In order, as Claude usually writes it.
    whole(&[snapshot, PROMPT, attachments, CALL, RESULT, REPLY]);
    // As captured: the call ahead of the prompt.
    whole(&[CALL, snapshot, PROMPT, attachments, RESULT, REPLY]);
    // The prompt's writer slower still: the whole turn ahead of it.
    whole(&[CALL, RESULT, REPLY, snapshot, PROMPT, attachments]);
    // A later writer overtaken: the reply and the result ahead of the call.
    whole(&[snapshot, PROMPT, attachments, RESULT, REPLY, CALL]);

    // The call not written yet: the turn as far as it goes, but not complete.
    let content = t.written(&[snapshot, PROMPT, attachments, RESULT, REPLY]);
    let (partial, complete) = read(&content, false);
    assert_eq!(complete, None);
    let partial = partial.unwrap();
    assert_eq!(partial.blocks, expected_blocks()[1..].to_vec());
    assert_eq!(read(&content, true).1, Some(partial));
    // The prompt not written yet: no turn at all.
    assert_eq!(read(&t.written(&["mode", CALL, RESULT, REPLY]), false), (None, None));
}

/// Lines written before the prompt belong to its turn only when they were
/// made after it: the turn before keeps its own lines, and a baseline keeps
/// out what was there before the prompt was sent.
#[test]
fn lines_before_the_prompt_are_claimed_only_when_made_after_it() {
    use csd::transcript::read_last_turn_since;
    let t = LateTurn::load();
    let claude = HarnessKind::named("claude").driver().transcript_format();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    // The previous turn's reply: made before the prompt, so not this turn's.
    let older = t
        .line(REPLY)
        .replace("2026-11-30T15:18:51.499Z", "2026-11-30T15:18:49.000Z")
        .replace("\"uuid\":\"62ddb143", "\"uuid\":\"00000000");
    std::fs::write(&path, older + &t.written(&[PROMPT, "attachment"])).unwrap();
    let turn = read_last_turn_since(&path, claude, 0).unwrap().unwrap();
    assert_eq!(turn.blocks, vec![]);
    // The call written ahead of the prompt, but before the baseline.
    let ahead = t.written(&[CALL]);
    std::fs::write(&path, ahead.clone() + &t.written(&[PROMPT, "attachment", RESULT, REPLY])).unwrap();
    let turn = read_last_turn_since(&path, claude, ahead.len() as u64).unwrap().unwrap();
    assert_eq!(turn.blocks, expected_blocks()[1..].to_vec());
}
