//! End to end against the real Codex CLI 0.169 (pinned in tests/e2e), talking
//! to the mock Responses API in csd::mock::openai (shared/mock/openai.rs), all inside a
//! loopback-only network namespace: nothing these tests start can reach
//! anything but 127.0.0.1. A missing CLI fails the tests; they never skip.

mod common;

use common::*;
use csd::mock::openai::{self, Answer, MockOpenAi};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

const TURN: &str = "60";

fn codex_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/codex");
    assert!(
        cli.exists(),
        "the real Codex CLI is missing at {}: run `npm install` in tests/e2e (pinned in tests/e2e/package-lock.json)",
        cli.display()
    );
    cli
}

fn operator_config(home: &Path, mock: &MockOpenAi) {
    codex_operator_config(home, &mock.base_url());
}

/// csd with the real Codex and its environment (`with_codex`).
fn csd(env: &TestEnv, bin_name: &str, args: &[&str]) -> Output {
    with_codex(env.cmd(bin_name).args(args), &codex_cli()).output().unwrap()
}

fn events(env: &TestEnv) -> Vec<Value> {
    let mut all = Vec::new();
    for e in std::fs::read_dir(&env.worker_dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().ends_with(".events.jsonl") {
            all.extend(std::fs::read_to_string(e.path()).unwrap().lines().filter_map(|l| serde_json::from_str(l).ok()));
        }
    }
    all
}

/// A test's world, on a thread now in a loopback-only netns: the mock the
/// operator's Codex config points at, a private TestEnv, a project dir.
fn codex_world() -> (MockOpenAi, TestEnv, PathBuf) {
    let _ = codex_cli();
    isolate_network();
    let mock = MockOpenAi::start();
    let env = TestEnv::new();
    operator_config(&env.home, &mock);
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();
    (mock, env, project)
}

fn kinds(env: &TestEnv) -> Vec<String> {
    events(env).iter().map(|e| e["event"].as_str().unwrap_or("?").to_string()).collect()
}

#[test]
fn a_codex_worker_lives_its_whole_life_through_csd() {
    let (mock, env, project) = codex_world();
    // A git checkout: Codex would ask whether to trust it, unless csd's config says so.
    assert!(std::process::Command::new("git").args(["init", "-q"]).current_dir(&project).status().unwrap().success());
    let project = project.to_str().unwrap();

    // An unknown harness is a usage error (a name no registry will hold).
    assert_code(&csd(&env, "csd-launch", &["--harness", "no-such-cli", "x", project]), 2);

    let started = Instant::now();
    let out = csd(&env, "csd-launch", &["--harness", "codex", "w", project]);
    let launch_to_ready = started.elapsed();
    assert_code(&out, 0);
    eprintln!("codex: launch to ready {launch_to_ready:?}");
    assert!(env.pane("w").contains(&format!(" · {project}")), "{}", env.pane("w"));

    // Before its first prompt the worker has no session id, but is a worker.
    let home = env.worker_dir.join("homes/w");
    let config: toml::Table = std::fs::read_to_string(home.join("config.toml")).unwrap().parse().unwrap();
    assert_eq!(config["model_provider"].as_str(), Some("mock"));
    assert!(config["hooks"]["Stop"][0]["hooks"][0]["command"].as_str().unwrap().contains("csd-hook"));
    let auth = std::fs::metadata(home.join("auth.json")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&auth.permissions()) & 0o777, 0o600);
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle");
    let list = stdout(&csd(&env, "csd-status", &["--list"]));
    assert!(list.starts_with("STATUS\tHARNESS\t"), "{list}");
    assert!(list.lines().any(|l| l.starts_with("idle\tcodex\tw\t-\t")), "{list}");

    // converse with a tool call: registers the worker, runs the tool, answers.
    let before = mock.count();
    let started = Instant::now();
    let out = csd(&env, "csd-send", &["--converse", "w", "Please run it.\nRUN: echo csd-e2e-$((6 * 7))", TURN]);
    let converse_time = started.elapsed();
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "DONE");
    let turn_requests: Vec<_> = mock.requests_since(before).into_iter().filter(|r| r.answer != Answer::Title).collect();
    let model_time = MockOpenAi::busy_time(&turn_requests);
    let first = turn_requests.iter().map(|r| r.arrived).min().unwrap();
    let last = turn_requests.iter().map(|r| r.answered).max().unwrap();
    eprintln!(
        "codex: converse {converse_time:?}, model {model_time:?}, overhead {:?} (send to first request {:?}, \
         last answer to converse's exit {:?}, codex between requests {:?})",
        converse_time.saturating_sub(model_time),
        first - started,
        started + converse_time - last,
        (last - first).saturating_sub(model_time)
    );
    let answers: Vec<Answer> = turn_requests.iter().map(|r| r.answer.clone()).collect();
    assert!(answers.contains(&Answer::Shell { command: "echo csd-e2e-$((6 * 7))".into() }), "{answers:?}");
    assert_eq!(kinds(&env), ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"]);
    let pre = events(&env).into_iter().find(|e| e["event"] == "pre_tool_use").unwrap();
    assert_eq!(pre["tool"], "Bash");
    assert_eq!(pre["tool_input"]["command"], "echo csd-e2e-$((6 * 7))");

    // csd-hook's silence is valid output for every hook (Codex 0.169 rejects
    // {"decision":"approve"} on Stop and would say so on screen).
    assert!(!env.pane("w").contains("Hook failed"), "{}", env.pane("w"));

    // read-turn shows the tool call from the rollout; status and session id.
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** Please run it.\nRUN: echo csd-e2e-$((6 * 7))"), "{turn}");
    assert!(turn.contains("**Tool: Bash**") && turn.contains("csd-e2e-42") && turn.contains("DONE"), "{turn}");
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle");
    let sid = stdout(&csd(&env, "csd-status", &["--session-id", "w"])).trim().to_string();
    assert_eq!(sid.len(), 36, "{sid}");
    // The hook registered the worker with the stamp of its session and the socket's path.
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join(format!("{sid}.meta"))).unwrap()).unwrap();
    let stamp = env.tmux_ok(["show-options", "-v", "-t", "=w:", "@csd_id"]);
    assert_eq!(meta["csd_id"], stamp.trim(), "{meta}");
    assert_eq!(meta["tmux_socket"], env.socket_path().to_str().unwrap(), "{meta}");
    let list = stdout(&csd(&env, "csd-status", &["--list"]));
    assert!(list.lines().any(|l| l.starts_with(&format!("idle\tcodex\tw\t{sid}\t"))), "{list}");

    // A long multi-line prompt (Codex shows it as "[Pasted Content N chars]")
    // goes in whole, as one prompt.
    let long = format!("{}\nSAY: got it all", "a line of filler text for a long prompt\n".repeat(120));
    let out = csd(&env, "csd-send", &["--converse", "w", &long, TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "got it all");
    let prompts: Vec<Value> = events(&env).into_iter().filter(|e| e["event"] == "user_prompt_submit").collect();
    assert_eq!(prompts.len(), 2, "one prompt, not one per line: {prompts:?}");
    // What a controller acts on, and the tokens: the rollout's last running
    // total, the sum of every answer of the session's turns (not the title's).
    let row = checked_status_row(&env, "w", &sid);
    eprintln!("codex: csd-status --json: {row}");
    let turns: Vec<_> = mock.requests().into_iter().filter(|r| r.answer != Answer::Title).collect();
    let sent = MockOpenAi::usage_sum(&turns);
    assert_eq!(
        row["tokens"],
        json!({"input": sent.input, "output": sent.output, "cache_read": sent.cache_read, "cache_write": sent.cache_write}),
        "{row}"
    );

    // apply_patch: the file appears, read-turn shows the patch.
    let out = csd(&env, "csd-send", &["--converse", "w", "PATCH: made-by-codex.txt\nSAY: patched", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "patched");
    let made = std::fs::read_to_string(Path::new(project).join("made-by-codex.txt")).unwrap();
    assert_eq!(made, "patched by mock\n");
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(
        turn.contains("**Tool: apply_patch**\n```json\n*** Begin Patch\n*** Add File: made-by-codex.txt"),
        "{turn}"
    );
    let pre = events(&env).into_iter().rfind(|e| e["event"] == "pre_tool_use").unwrap();
    assert_eq!(pre["tool"], "apply_patch", "{pre}");

    // A failed model request ends the turn (no Stop hook fires): no hang.
    // (Every kind of failure, and the interrupt: the tests below.)
    let out = csd(&env, "csd-send", &["--converse", "w", "FAIL: 500", TURN]);
    assert_code(&out, 5);
    assert!(stderr(&out).contains("its turn failed: server_error (HTTP 500)"), "{}", stderr(&out));
    let last = events(&env).pop().unwrap();
    assert_eq!((last["event"].as_str(), last["reason"].as_str()), (Some("stop"), Some("failed")), "{last}");
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle");
    // read-turn: the prompt, then why the turn ended, once.
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** FAIL: 500"), "{turn}");
    assert_eq!(turn.matches("**Turn failed:**").count(), 1, "{turn}");
    assert!(
        turn.contains("**Turn failed:** server_error (HTTP 500): We’re currently experiencing high demand"),
        "{turn}"
    );

    // ... and for wait-for-turn, which the rollout wakes.
    let after = events(&env).len().to_string();
    assert_code(&csd(&env, "csd-send", &["w", "FAIL: 502"]), 0);
    let out = csd(&env, "csd-wait", &["w", "20", "--after-line", &after]);
    assert_code(&out, 5);
    let ended: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!((ended["reason"].as_str(), ended["error"]["kind"].as_str()), (Some("failed"), Some("server_error")));
    assert_eq!(ended["error"]["status"], 502, "{ended}");

    // Stop: /quit, then nothing left: no files, no processes.
    let pane_pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=w:", "#{pane_pid}"]).trim().parse().unwrap();
    let mut procs = descendants(pane_pid);
    procs.push(pane_pid);
    stop(&env, "w");
    let ended = eventually(Duration::from_secs(10), || procs.iter().all(|p| !pid_alive(*p)).then_some(()));
    assert!(ended.is_some(), "processes left: {:?}", procs.iter().filter(|p| pid_alive(**p)).collect::<Vec<_>>());
    let left: Vec<PathBuf> = files_under(&env.worker_dir);
    assert!(left.is_empty(), "left behind in the worker dir: {left:?}");
    // Codex kept to its own CODEX_HOME but for its rollout, which stays in
    // the operator's ~/.codex/sessions (the home's `sessions` linked there):
    // the rest of ~/.codex is as it was.
    let sessions = env.home.join(".codex/sessions");
    let rollout = csd::harness::codex::Codex::find_rollout_in(&sessions, &sid).expect("the rollout outlives stop");
    assert!(std::fs::read_to_string(&rollout).unwrap().contains("csd-e2e-42"));
    let mut theirs: Vec<PathBuf> =
        files_under(&env.home.join(".codex")).into_iter().filter(|p| !p.starts_with(&sessions)).collect();
    theirs.sort();
    let expected: Vec<PathBuf> = ["auth.json", "config.toml"].iter().map(|f| env.home.join(".codex").join(f)).collect();
    assert_eq!(theirs, expected);
}

/// A reboot takes tmux and /tmp (the worker dir, the worker's CODEX_HOME);
/// the rollout is in the operator's ~/.codex/sessions (the home's `sessions`
/// is a link there), so `csd adopt --harness codex` resumes the session and
/// the model's next request carries the earlier turn.
#[test]
fn adopt_revives_a_codex_session_with_its_history_after_a_reboot() {
    let (mock, env, project) = codex_world();
    let project = project.to_str().unwrap();
    let sessions = env.home.join(".codex/sessions");
    assert!(!sessions.exists());

    assert_code(&csd(&env, "csd-launch", &["--harness", "codex", "before", project]), 0);
    let link = env.worker_dir.join("homes/before/sessions");
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), sessions);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sessions).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    let out = csd(&env, "csd-send", &["--converse", "before", "Remember the heron.\nSAY: noted the heron", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "noted the heron");
    let sid = stdout(&csd(&env, "csd-status", &["--session-id", "before"])).trim().to_string();
    let rollout = csd::harness::codex::Codex::find_rollout_in(&sessions, &sid)
        .unwrap_or_else(|| panic!("no rollout of {sid} under {}", sessions.display()));

    // The reboot: every process and all of /tmp/csd-workers go; ~/.codex stays.
    let pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=before:", "#{pane_pid}"]).trim().parse().unwrap();
    env.tmux().arg("kill-server").status().unwrap();
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_some());
    std::fs::remove_dir_all(&env.worker_dir).unwrap();

    // A session id with no rollout is refused at once, naming where csd looked.
    let unknown = "019a0000-0000-7000-8000-000000000000";
    let out = csd(&env, "csd-launch", &["--adopt", "--harness", "codex", "after", project, unknown]);
    assert_code(&out, 1);
    let expected = format!("expected {}/YYYY/MM/DD/rollout-*-{unknown}.jsonl", sessions.display());
    assert!(stderr(&out).contains(&format!("no transcript for session {unknown}")), "{}", stderr(&out));
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(!env.has_session("after") && files_under(&env.worker_dir).is_empty());

    let started = Instant::now();
    let out = csd(&env, "csd-launch", &["--adopt", "--harness", "codex", "after", project, &sid]);
    eprintln!("codex: adopt to ready {:?}", started.elapsed());
    assert_code(&out, 0);
    assert!(
        stderr(&out).contains(&format!("reproduce:  csd adopt --harness codex after {project} {sid}")),
        "{}",
        stderr(&out)
    );
    let pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=after:", "#{pane_pid}"]).trim().parse().unwrap();
    let _reaper = KillOnDrop(Some(pid));
    // Registered at once (adopt knows the id), with the stamp of its session.
    assert_eq!(stdout(&csd(&env, "csd-status", &["--session-id", "after"])).trim(), sid);
    assert_eq!(stdout(&csd(&env, "csd-status", &["after"])).trim(), "idle");
    let meta: Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join(format!("{sid}.meta"))).unwrap()).unwrap();
    let stamp = env.tmux_ok(["show-options", "-v", "-t", "=after:", "@csd_id"]);
    assert_eq!(meta["csd_id"], stamp.trim(), "{meta}");
    assert_eq!(meta["harness"], "codex", "{meta}");

    let baseline = mock.count();
    let out = csd(&env, "csd-send", &["--converse", "after", "And now?\nSAY: back after the reboot", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "back after the reboot");
    let history: String = mock
        .requests_since(baseline)
        .iter()
        .filter(|r| r.answer != Answer::Title)
        .map(|r| r.body["input"].to_string())
        .collect();
    assert!(history.contains("Remember the heron."), "the resumed session lost its first prompt: {history}");
    assert!(history.contains("noted the heron"), "the resumed session lost its first answer: {history}");
    // The hook kept the meta launch wrote (its stamp), and logged the turn.
    let meta: Value =
        serde_json::from_slice(&std::fs::read(env.worker_dir.join(format!("{sid}.meta"))).unwrap()).unwrap();
    assert_eq!(meta["csd_id"], stamp.trim(), "{meta}");
    assert_eq!(kinds(&env), ["session_start", "user_prompt_submit", "stop"]);
    let turn = stdout(&csd(&env, "csd-turn", &["after"]));
    assert!(turn.contains("**Prompt:** And now?") && turn.contains("back after the reboot"), "{turn}");

    // Stop removes the worker's home (the link), never the operator's rollouts.
    stop(&env, "after");
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_some());
    let left: Vec<PathBuf> = files_under(&env.worker_dir);
    assert!(left.is_empty(), "left behind in the worker dir: {left:?}");
    let kept = std::fs::read_to_string(&rollout).unwrap();
    assert!(kept.contains("noted the heron") && kept.contains("back after the reboot"), "{}", rollout.display());
}

/// The recipe without csd driving it: the real CLI in a tmux pane with the
/// config csd writes, the Rust mock as its model, a tool turn, and `/quit`.
/// When this passes and the csd flow fails, csd is wrong.
#[test]
fn the_real_cli_runs_a_tool_turn_against_the_rust_mock() {
    let cli = codex_cli();
    isolate_network();
    let mock = MockOpenAi::start();
    let env = TestEnv::new();
    operator_config(&env.home, &mock);
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let codex_home = env.worker_dir.join("homes/probe");
    std::fs::create_dir_all(&codex_home).unwrap();
    std::fs::write(env.worker_dir.join("probe.harness"), "codex").unwrap();
    let dir = csd::workerdir::WorkerDir::at(env.worker_dir.clone()).unwrap();
    let hook = csd::harness::codex::Codex::hook_command(&bin("csd-hook"), "probe", project.to_str().unwrap(), &dir);
    let theirs = std::fs::read_to_string(env.home.join(".codex/config.toml")).unwrap();
    let config = csd::harness::codex::Codex::config(Some(&theirs), project.to_str().unwrap(), &hook, None).unwrap();
    std::fs::write(codex_home.join("config.toml"), config).unwrap();

    let mut new_session = env.tmux();
    new_session.args(["new-session", "-d", "-s", "probe", "-x", "200", "-y", "50", "-c"]).arg(&project);
    for (k, v) in [
        ("HOME", env.home.display().to_string()),
        ("CODEX_HOME", codex_home.display().to_string()),
        ("MOCK_API_KEY", "mock-key".into()),
        ("HTTPS_PROXY", "http://127.0.0.1:9".into()),
        ("HTTP_PROXY", "http://127.0.0.1:9".into()),
        ("NO_PROXY", "127.0.0.1,localhost".into()),
        ("CSD_TMUX_SOCKET", env.socket.clone()),
    ] {
        new_session.arg("-e").arg(format!("{k}={v}"));
    }
    new_session
        .arg("--")
        .arg(&cli)
        .args(["--dangerously-bypass-approvals-and-sandbox", "--dangerously-bypass-hook-trust"]);
    new_session.arg("-C").arg(&project);
    assert!(new_session.status().unwrap().success());
    let footer = format!(" · {}", project.display());
    let probe_pane = || {
        let out = env.tmux().args(["capture-pane", "-p", "-t", "=probe:"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ready = eventually(Duration::from_secs(30), || probe_pane().contains(&footer).then_some(()));
    assert!(ready.is_some(), "no footer:\n{}", probe_pane());

    env.tmux_ok(["send-keys", "-t", "=probe:", "-l", "RUN: echo probe-$((6 * 7))"]);
    std::thread::sleep(Duration::from_millis(200));
    env.tmux_ok(["send-keys", "-t", "=probe:", "Enter"]);
    let done = eventually(Duration::from_secs(30), || kinds(&env).iter().any(|k| k == "stop").then_some(()));
    assert!(done.is_some(), "no stop event: {:?}\n{}", kinds(&env), probe_pane());
    assert_eq!(kinds(&env), ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"]);
    let answers: Vec<Answer> = mock.requests().into_iter().map(|r| r.answer).collect();
    assert!(answers.contains(&Answer::Shell { command: "echo probe-$((6 * 7))".into() }), "{answers:?}");
    assert!(answers.contains(&Answer::AfterTool), "{answers:?}");
    assert!(answers.contains(&Answer::Title), "{answers:?}");

    env.tmux_ok(["send-keys", "-t", "=probe:", "-l", "/quit"]);
    std::thread::sleep(Duration::from_millis(300));
    env.tmux_ok(["send-keys", "-t", "=probe:", "Enter"]);
    let ended = eventually(Duration::from_secs(10), || (!env.has_session("probe")).then_some(()));
    assert!(ended.is_some(), "codex did not exit on /quit:\n{}", probe_pane());
    assert_eq!(kinds(&env).last().map(String::as_str), Some("session_end"));
}

/// The real model-migration screen (gpt-5.6-luna is offered GPT-6 Luna, and
/// csd records no notice for it) is answered by its text: the worker keeps
/// its model, where an Enter would have switched it.
#[test]
fn the_real_migration_screen_keeps_the_model() {
    let (_mock, env, project) = codex_world();
    let mut launch = env.cmd("csd-launch");
    launch
        .args(["--harness", "codex", "w", project.to_str().unwrap()])
        .env("CSD_CODEX_BIN", codex_cli())
        .env("CSD_CODEX_MODEL", "gpt-5.6-luna")
        .env("MOCK_API_KEY", "mock-key")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost");
    let out = launch.output().unwrap();
    assert_code(&out, 0);
    let screen = env.pane("w");
    let footer = screen.lines().find(|l| l.contains(&format!(" · {}", project.display()))).unwrap_or("");
    assert!(footer.trim_start().starts_with("GPT-5.6-Luna "), "{screen}");
    // What Codex records when "Use existing model" is chosen.
    let config: toml::Table =
        std::fs::read_to_string(env.worker_dir.join("homes/w/config.toml")).unwrap().parse().unwrap();
    assert_eq!(config["model"].as_str(), Some("gpt-5.6-luna"));
    assert!(config["notice"]["model_migrations"].get("gpt-5.6-luna").is_some(), "{config}");
    stop(&env, "w");
}

fn stop(env: &TestEnv, name: &str) {
    let started = Instant::now();
    let out = csd(env, "csd-stop", &[name]);
    eprintln!("codex: stop {:?}", started.elapsed());
    assert_code(&out, 0);
    assert!(stdout(&out).contains("stopped"), "{}", stdout(&out));
    assert!(!env.has_session(name));
}

/// Files under `dir` (the empty `bin/` and `homes/` folders do not count).
/// The mock's own contract, so a failure above is not blamed on it.
#[test]
fn the_mock_answers_by_the_prompts_directives() {
    use serde_json::json;
    let user =
        |text: &str| json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]});
    let ask = |items: Vec<Value>| json!({"model": "gpt-5.5", "input": items, "tools": [{"name": "exec_command"}]});
    let env_ctx = user("<environment_context>\n  <cwd>/w</cwd>\n</environment_context>");
    assert_eq!(openai::classify(&ask(vec![env_ctx.clone(), user("hello")])), Answer::Default);
    assert_eq!(
        openai::classify(&ask(vec![env_ctx.clone(), user("do it\nRUN: echo hi\nSAY: done")])),
        Answer::Shell { command: "echo hi".into() }
    );
    assert_eq!(openai::classify(&ask(vec![user("PATCH: a.txt")])), Answer::Patch { path: "a.txt".into() });
    assert_eq!(openai::classify(&ask(vec![user("FAIL: 503")])), Answer::Failed(openai::Fault::Status(503)));
    assert_eq!(openai::classify(&ask(vec![user("fail:usage")])), Answer::Failed(openai::Fault::UsageLimit));
    assert_eq!(openai::classify(&ask(vec![user("x\nfail:reset")])), Answer::Failed(openai::Fault::Reset));
    assert_eq!(openai::classify(&ask(vec![user("ask: Which?")])), Answer::Ask("Which?".into()));
    // A directive's word inside another word is no directive.
    assert_eq!(openai::classify(&ask(vec![user("The task: nothing")])), Answer::Default);
    assert_eq!(openai::classify(&ask(vec![user("SAY: hi there")])), Answer::Said("hi there".into()));
    // The prompt is the last message Codex did not write itself.
    let aborted = user("<turn_aborted>\nThe user interrupted the previous turn on purpose.</turn_aborted>");
    assert_eq!(openai::classify(&ask(vec![user("SAY: real"), aborted])), Answer::Said("real".into()));
    let after = json!({"type": "function_call_output", "call_id": "c1", "output": "hi"});
    assert_eq!(openai::classify(&ask(vec![user("RUN: echo hi"), after])), Answer::AfterTool);
    let title = json!({"input": [user("User prompt:\nRUN: x")], "tools": [],
        "text": {"format": {"type": "json_schema", "name": "codex_output_schema"}}});
    assert_eq!(openai::classify(&title), Answer::Title);

    // And over the wire: an SSE stream Codex can read, ending in response.completed.
    let mock = MockOpenAi::start();
    let body = ask(vec![user("RUN: echo hi")]).to_string();
    let mut conn =
        std::net::TcpStream::connect(mock.base_url().trim_start_matches("http://").trim_end_matches("/v1")).unwrap();
    use std::io::{Read, Write};
    write!(conn, "POST /v1/responses HTTP/1.1\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream"), "{reply}");
    assert!(reply.contains("event: response.output_item.done\ndata: "), "{reply}");
    assert!(reply.contains("\"name\":\"exec_command\""), "{reply}");
    assert!(reply.trim_end().split("\n\n").last().unwrap().starts_with("event: response.completed"), "{reply}");
}

/// Codex 0.169 takes a prompt sent during a tool call into the running turn
/// (steering): its UserPromptSubmit (with the running turn's turn_id) lands
/// when the tool returns, before that turn's one stop, and the model answers
/// it in that turn. The receipt is that UPS; the turn end after it answers.
#[test]
fn a_prompt_sent_mid_turn_joins_the_running_turn_with_its_own_receipt() {
    let (_mock, env, project) = codex_world();
    assert_code(&csd(&env, "csd-launch", &["--harness", "codex", "w", project.to_str().unwrap()]), 0);
    assert_code(&csd(&env, "csd-send", &["--converse", "w", "SAY: warm", TURN]), 0);
    assert_code(&csd(&env, "csd-send", &["w", "First.\nRUN: sleep 5; echo first-done"]), 0);
    let started = Instant::now();
    while !kinds(&env).ends_with(&["pre_tool_use".to_string()]) {
        assert!(started.elapsed() < Duration::from_secs(60), "{:?}", kinds(&env));
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = csd(&env, "csd-send", &["--receipt", "w", "Second.\nSAY: second-answer", TURN]);
    assert_code(&o, 0);
    let n: usize = stdout(&o).trim().parse().unwrap();
    let evs = events(&env);
    assert_eq!(evs[n - 1]["event"], "user_prompt_submit", "{evs:?}");
    assert_eq!(evs[n - 1]["turn_id"], evs[n - 4]["turn_id"], "the running turn's id: {evs:?}");
    assert_eq!(evs[n - 2]["event"], "post_tool_use", "{evs:?}");
    let w = csd(&env, "csd-wait", &["w", TURN, "--after-line", &n.to_string()]);
    assert_code(&w, 0);
    let k = kinds(&env);
    assert_eq!(
        &k[k.len() - 5..],
        ["user_prompt_submit", "pre_tool_use", "post_tool_use", "user_prompt_submit", "stop"]
    );
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(turn.contains("second-answer"), "{turn}");
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}

/// The fleet on the real Codex: two workers, turns of about 3 s and 0 s;
/// `csd-wait --all` reports them in the order they finish (a Codex turn end
/// counts as the settled log says), and `csd-events --all` names each.
#[test]
fn a_fleet_of_codex_workers_is_waited_for_in_finish_order() {
    let (_mock, env, project) = codex_world();
    let project = project.to_str().unwrap();
    for name in ["c1", "c2"] {
        assert_code(&csd(&env, "csd-launch", &["--harness", "codex", name, project]), 0);
    }
    // Not registered yet: nothing to answer, so both count as idle at once.
    let o = csd(&env, "csd-wait", &["--all", "c1", "c2", "-t", "5"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "c1\tidle\nc2\tidle\n");
    assert_code(&csd(&env, "csd-send", &["c1", "Slow.\nRUN: sleep 3; echo c1-done"]), 0);
    assert_code(&csd(&env, "csd-send", &["c2", "Quick.\nSAY: c2-done"]), 0);
    let o = csd(&env, "csd-wait", &["--all", "c1", "c2", "-t", TURN]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "c2\tidle\nc1\tidle\n");
    let all = stdout(&csd(&env, "csd-events", &["--all", "--type", "stop"]));
    let workers: Vec<String> = all
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["worker"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(workers, ["c2", "c1"], "{all}");
    // A failed turn is told as its worker ends, with why, while the other
    // works on; the wait exits 5.
    assert_code(&csd(&env, "csd-send", &["c1", "Slow.\nRUN: sleep 3; echo c1-done"]), 0);
    assert_code(&csd(&env, "csd-send", &["c2", "fail:529"]), 0);
    let o = csd(&env, "csd-wait", &["--all", "c1", "c2", "-t", TURN]);
    assert_code(&o, 5);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("c2\tfailed\tworker 'c2': its turn failed: overloaded (HTTP 529)"), "{out}");
    assert_eq!(lines[1..], ["c1\tidle"], "{out}");
    for name in ["c1", "c2"] {
        stop(&env, name);
    }
}

/// Issue 17 item 1 on the real Codex: a prompt starting with `!` is Codex's
/// shell mode. Through csd it reaches the model as that very text (Codex
/// trims the space csd puts before it), and nothing runs.
#[test]
fn a_bang_prompt_reaches_the_real_model_as_text_and_runs_nothing() {
    let (mock, env, project) = codex_world();
    assert_code(&csd(&env, "csd-launch", &["--harness", "codex", "w", project.to_str().unwrap()]), 0);
    assert_code(&csd(&env, "csd-send", &["--converse", "w", "SAY: warm", TURN]), 0);
    let x = env.path().join("X");
    let prompt = format!("!touch {}", x.display());
    let baseline = mock.count();
    assert_code(&csd(&env, "csd-send", &["--converse", "w", &prompt, TURN]), 0);
    assert!(!x.exists(), "the prompt ran as a shell command");
    let exact = mock.requests_since(baseline).iter().any(|r| {
        r.body["input"].as_array().into_iter().flatten().any(|m| {
            m["role"] == "user" && m["content"].as_array().into_iter().flatten().any(|c| c["text"] == prompt.as_str())
        })
    });
    assert!(exact, "the model did not get the prompt as sent");
    let path = stdout(&csd(&env, "csd-turn", &["w", "--path"])).trim().to_string();
    let rollout = std::fs::read_to_string(&path).unwrap();
    assert!(rollout.contains(&serde_json::to_string(&prompt).unwrap()), "the rollout lacks the exact prompt");
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}

/// The last stop line of the worker's log.
fn last_stop(env: &TestEnv) -> Value {
    events(env).into_iter().rfind(|e| e["event"] == "stop").expect("a stop line")
}

/// Converse `prompt` with worker `w`; its output, how long it took, and how
/// long after the mock's last answer it returned (the CLI shows a failure
/// within milliseconds of that answer).
fn converse_timed(env: &TestEnv, mock: &MockOpenAi, prompt: &str) -> (Output, Duration, Duration) {
    let before = mock.count();
    let started = Instant::now();
    let out = csd(env, "csd-send", &["--converse", "w", prompt, TURN]);
    let took = started.elapsed();
    let answered = mock.requests_since(before).iter().map(|r| r.answered).max().unwrap_or(started);
    (out, took, (started + took).saturating_duration_since(answered))
}

/// Every way the model API fails, as the real Codex CLI meets it: the stop
/// line carries the verdict (kind, status, message; the reset time of a
/// usage limit), converse exits 5 at once, the worker is idle after, and the
/// next prompt is answered. Codex's retries are off in this world
/// (`request_max_retries = stream_max_retries = 0`), so each failure ends
/// the turn at its first answer.
#[test]
fn every_codex_failure_ends_its_turn_with_a_verdict_at_once() {
    let (mock, env, project) = codex_world();
    assert_code(&csd(&env, "csd-launch", &["--harness", "codex", "w", project.to_str().unwrap()]), 0);
    assert_code(&csd(&env, "csd-send", &["--converse", "w", "SAY: warm", TURN]), 0);
    // A follower of the log sees each failed stop as it lands, though no
    // hook wrote it (csd-events settles the rollout's turn end itself).
    let mut follower = env.cmd("csd-events");
    follower.args(["--follow", "--type", "stop", "w"]).env("CSD_CODEX_BIN", codex_cli());
    let mut follower = follower.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let _reap = KillOnDrop(Some(follower.id() as i32));
    let followed = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let reader = {
        let (out, followed) = (follower.stdout.take().unwrap(), followed.clone());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                followed.lock().unwrap().push(serde_json::from_str(&line).unwrap_or(Value::Null));
            }
        })
    };
    let cases: [(&str, &str, Option<u16>); 9] = [
        ("fail:400", "invalid_request", Some(400)),
        ("fail:401", "authentication_failed", Some(401)),
        ("fail:429", "rate_limit", Some(429)),
        ("fail:usage", "usage_limit", Some(429)),
        ("fail:500", "server_error", Some(500)),
        ("fail:529", "overloaded", Some(529)),
        ("fail:overloaded", "overloaded", None),
        ("fail:stream", "server_error", None),
        ("fail:reset", "network", None),
    ];
    for (i, (directive, kind, status)) in cases.iter().enumerate() {
        let (out, took, after_answer) = converse_timed(&env, &mock, directive);
        eprintln!(
            "codex: {directive}: converse exited {:?} after {took:?}, {after_answer:?} after the mock's answer",
            out.status.code()
        );
        assert_code(&out, 5);
        assert!(took < Duration::from_secs(5), "{directive}: converse took {took:?}");
        let stop = last_stop(&env);
        assert_eq!(stop["reason"], "failed", "{directive}: {stop}");
        assert_eq!(stop["error"]["kind"], *kind, "{directive}: {stop}");
        assert_eq!(stop["error"]["status"].as_u64().map(|s| s as u16), *status, "{directive}: {stop}");
        assert!(!stop["error"]["message"].as_str().unwrap_or("").is_empty(), "{directive}: {stop}");
        assert!(stop["turn_id"].is_string(), "{directive}: {stop}");
        assert!(stderr(&out).contains(&format!("its turn failed: {kind}")), "{directive}: {}", stderr(&out));
        // Nobody but the follower looks: it must settle the turn end itself.
        let seen = eventually(Duration::from_secs(2), || {
            followed.lock().unwrap().iter().any(|e| e["turn_id"] == stop["turn_id"]).then_some(())
        });
        assert!(seen.is_some(), "{directive}: the follower did not print {stop}: {:?}", followed.lock().unwrap());
        if *directive == "fail:usage" {
            // Codex recorded the plan's window at 100 % with its reset.
            let at = csd::time::parse_iso(stop["error"]["retry_at"].as_str().unwrap()).unwrap();
            let expected = csd::time::now_unix() + openai::USAGE_RESET;
            assert!((at - expected).abs() < 60, "{stop}");
        } else {
            assert!(stop["error"].get("retry_at").is_none(), "{directive}: {stop}");
        }
        // A usage limit with its reset ahead leaves the worker limited (it
        // takes prompts, which fail until then); every other failure idle.
        let expected = if *directive == "fail:usage" { "limited" } else { "idle" };
        assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), expected, "{directive}");
        let row: Value = serde_json::from_str(&stdout(&csd(&env, "csd-status", &["--json", "w"]))).unwrap();
        assert_eq!(row["last_turn"]["verdict"], "failed", "{row}");
        assert_eq!(row["last_turn"]["error"], stop["error"], "{row}");
        // The worker takes the next prompt and answers it.
        let reply = format!("answered-after-{i}");
        let out = csd(&env, "csd-send", &["--converse", "w", &format!("SAY: {reply}"), TURN]);
        assert_code(&out, 0);
        assert_eq!(stdout(&out).trim(), reply, "{directive}");
        assert!(last_stop(&env).get("reason").is_none(), "{}", last_stop(&env));
    }
    // The usage limit's model-switch offer never showed (csd's config hides
    // it): it would have taken the next prompt's Enter as "switch".
    assert!(!env.pane("w").contains("Switch to"), "{}", env.pane("w"));
    // With no one waiting (a plain send), the followers alone tell the end:
    // this worker's, and the fleet's merged stream.
    let mut fleet = env.cmd("csd-events");
    fleet.args(["--all", "--follow", "--last", "0", "--type", "stop"]).env("CSD_CODEX_BIN", codex_cli());
    let mut fleet = fleet.stdout(std::process::Stdio::piped()).spawn().unwrap();
    let fleet_line = {
        let out = fleet.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            std::io::BufReader::new(out).lines().map_while(Result::ok).next()
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let before = followed.lock().unwrap().len();
    let sent = Instant::now();
    assert_code(&csd(&env, "csd-send", &["w", "fail:500"]), 0);
    let seen = eventually(Duration::from_secs(3), || (followed.lock().unwrap().len() > before).then_some(()));
    eprintln!("codex: a follower printed the failed stop {:?} after the send", sent.elapsed());
    assert!(seen.is_some(), "the follower never printed the turn end");
    assert_eq!(followed.lock().unwrap()[before]["error"]["kind"], "server_error");
    let merged = eventually(Duration::from_secs(3), || fleet_line.is_finished().then_some(()));
    assert!(merged.is_some(), "csd-events --all --follow never printed the turn end");
    let merged: Value = serde_json::from_str(&fleet_line.join().unwrap().unwrap()).unwrap();
    assert_eq!(merged["worker"], "w", "{merged}");
    assert_eq!(merged["error"]["kind"], "server_error", "{merged}");
    // It follows every worker, so it ends only when told to.
    fleet.kill().unwrap();
    fleet.wait().unwrap();
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
    // The follower ends with the worker, having printed every turn end once.
    assert!(follower.wait().is_ok());
    reader.join().unwrap();
    let stops = followed.lock().unwrap().clone();
    assert_eq!(stops.len(), 2 + 2 * cases.len(), "{stops:?}");
}

/// Escape mid-turn (the model still answering): Codex's Interrupt hook ends
/// the turn as interrupted, converse exits 7 at once, the next prompt is
/// answered.
#[test]
fn an_interrupted_codex_turn_is_told_as_interrupted() {
    let (_mock, env, project) = codex_world();
    assert_code(&csd(&env, "csd-launch", &["--harness", "codex", "w", project.to_str().unwrap()]), 0);
    assert_code(&csd(&env, "csd-send", &["--converse", "w", "SAY: warm", TURN]), 0);
    let mut converse = env.cmd("csd-send");
    converse.args(["--converse", "w", "wait:30\nSAY: too late", TURN]).env("CSD_CODEX_BIN", codex_cli());
    escape_mid_converse(&env, "w", &mut converse, || stdout(&csd(&env, "csd-status", &["w"])).trim().to_string());
    let stop = last_stop(&env);
    assert_eq!(stop["reason"], "interrupted", "{stop}");
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** wait:30") && turn.ends_with("**Turn interrupted.**\n"), "{turn}");
    assert_eq!(turn.matches("interrupted").count(), 1, "{turn}");
    let out = csd(&env, "csd-send", &["--converse", "w", "SAY: after the interrupt", TURN]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "after the interrupt");
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}

/// Codex 0.169 lets the model ask (`request_user_input`) only in Plan mode
/// (in Default mode the tool answers "unavailable in Default mode" and the
/// turn goes on). A person who put the worker in Plan mode (Shift+Tab) gets a
/// question that waits on them: the turn is blocked, with the question and
/// its options; the digit of an option answers it and the turn goes on.
#[test]
fn a_codex_question_blocks_the_turn_until_an_option_is_picked() {
    let (mock, env, project) = codex_world();
    assert_code(&csd(&env, "csd-launch", &["--harness", "codex", "w", project.to_str().unwrap()]), 0);
    // Default mode: the question tool is refused, the turn ends done.
    let out = csd(&env, "csd-send", &["--converse", "w", "ASK: Which colour?", TURN]);
    assert_code(&out, 0);
    assert!(last_stop(&env).get("reason").is_none(), "{}", last_stop(&env));
    let refused = mock.requests().into_iter().rfind(|r| r.answer == Answer::AfterTool).unwrap();
    assert!(refused.body["input"].to_string().contains("unavailable in Default mode"), "{}", refused.body["input"]);

    // Shift+Tab, pressed again if Codex, still closing the last turn, let
    // the key go (each press cycles the mode, so only after a look).
    let mut pressed: Option<Instant> = None;
    let plan = eventually(Duration::from_secs(15), || {
        if env.pane("w").contains("Plan mode") {
            return Some(());
        }
        if pressed.is_none_or(|t| t.elapsed() > Duration::from_millis(1500)) {
            env.tmux_ok(["send-keys", "-t", "=w:", "BTab"]);
            pressed = Some(Instant::now());
        }
        None
    });
    assert!(plan.is_some(), "{}", env.pane("w"));
    let started = Instant::now();
    let out = csd(&env, "csd-send", &["--converse", "w", "ASK: Which colour?\nSAY: picked", TURN]);
    eprintln!("codex: question to converse's exit {:?}", started.elapsed());
    assert_code(&out, 6);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let stop = last_stop(&env);
    assert_eq!(stop["reason"], "blocked", "{stop}");
    assert_eq!(
        stop["blocked"],
        json!({"on": "question", "questions": [{"question": "Which colour?", "header": "Pick", "multi_select": false,
            "options": [{"label": "Red", "description": "the first"}, {"label": "Blue", "description": "the second"}]}]}),
        "{stop}"
    );
    assert!(stderr(&out).contains("blocked on a question: Which colour?"), "{}", stderr(&out));
    assert!(env.pane("w").contains("Which colour?"), "{}", env.pane("w"));
    // Looking again adds nothing: one blocked stop per question.
    let lines = events(&env).len();
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "blocked");
    let row: Value = serde_json::from_str(&stdout(&csd(&env, "csd-status", &["--json", "w"]))).unwrap();
    assert_eq!(row["last_turn"]["blocked"], stop["blocked"], "{row}");
    assert_eq!(events(&env).len(), lines);

    // csd-send --answer picks option 2 (Codex: its digit) and returns once
    // Codex took it; the turn goes on and ends with its own stop.
    let after = lines.to_string();
    assert_code(&csd(&env, "csd-send", &["--answer", "w", "3"]), 2);
    let out = csd(&env, "csd-send", &["--answer", "w", "2"]);
    assert_code(&out, 0);
    let out = csd(&env, "csd-wait", &["w", "20", "--after-line", &after]);
    assert_code(&out, 0);
    let k = kinds(&env);
    assert_eq!(&k[k.len() - 4..], ["pre_tool_use", "stop", "post_tool_use", "stop"], "{k:?}");
    assert!(last_stop(&env).get("reason").is_none(), "{}", last_stop(&env));
    let answered = mock.requests().into_iter().rfind(|r| r.answer == Answer::AfterTool).unwrap();
    assert!(answered.body["input"].to_string().contains("Blue"), "{}", answered.body["input"]);
    assert!(stdout(&csd(&env, "csd-turn", &["w"])).contains("picked"));
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}

/// `/new` in Codex 0.169 starts a new thread: a new session id, whose
/// SessionStart (source `startup`, no SessionEnd for the old one) fires only
/// with the next prompt. The worker follows it in the middle of that send,
/// stays one worker, and the send is confirmed and answered.
#[test]
fn a_codex_worker_follows_its_session_through_new() {
    let (_mock, env, project) = codex_world();
    assert_code(&csd(&env, "csd-launch", &["--harness", "codex", "w", project.to_str().unwrap()]), 0);
    let o = csd(&env, "csd-send", &["--converse", "w", "SAY: before", TURN]);
    assert_code(&o, 0);
    let sid = |env: &TestEnv| stdout(&csd(env, "csd-status", &["--session-id", "w"])).trim().to_string();
    let old = sid(&env);
    env.tmux_ok(["send-keys", "-t", "=w:", "-l", "/new"]);
    std::thread::sleep(Duration::from_millis(500));
    env.tmux_ok(["send-keys", "-t", "=w:", "Enter"]);
    std::thread::sleep(Duration::from_secs(2));
    // Nothing says so yet: the move comes with the send below.
    assert_eq!(sid(&env), old, "Codex announced its new session before a prompt: {}", env.pane("w"));
    let o = csd(&env, "csd-send", &["--converse", "w", "SAY: after", TURN]);
    let metas: Vec<String> = std::fs::read_dir(&env.worker_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".meta"))
        .collect();
    if o.status.code() != Some(0) {
        let files: Vec<String> = std::fs::read_dir(&env.worker_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        panic!(
            "converse after /new: {}\nfiles: {files:?}\nevents: {:?}\npane:\n{}",
            stderr(&o),
            kinds(&env),
            env.pane("w")
        );
    }
    assert_eq!(stdout(&o).trim(), "after", "{}", env.pane("w"));
    assert_eq!(metas.len(), 1, "{metas:?}");
    let new = sid(&env);
    assert_ne!(new, old, "no new session after /new? {}", env.pane("w"));
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle");
    let list = stdout(&csd(&env, "csd-status", &["--list"]));
    assert_eq!(list.lines().filter(|l| l.contains("\tw\t")).count(), 1, "{list}");
    // One log, carried over: the turn before /new, then the new session's.
    assert_eq!(
        kinds(&env),
        ["session_start", "user_prompt_submit", "stop", "session_start", "user_prompt_submit", "stop"]
    );
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(turn.contains("after") && !turn.contains("before"), "{turn}");
    stop(&env, "w");
}
