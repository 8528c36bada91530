//! End to end against the real Pi CLI (pinned in tests/e2e), its
//! `anthropic-messages` provider pointed at the mock in csd::mock (shared/mock), all
//! inside a loopback-only network namespace: nothing these tests start can
//! reach anything but 127.0.0.1. Pi's startup network work is off
//! (`PI_OFFLINE=1`; csd itself pins `PI_TELEMETRY=0` and
//! `PI_SKIP_VERSION_CHECK=1` for every Pi worker).
//!
//! A missing CLI fails the tests (run `npm install` in tests/e2e); they never skip.

mod common;

use common::*;
use csd::mock::anthropic::{self, Answer, Config, MockAnthropic};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

const MODEL: &str = "mock/mock-model";
const MARKER: &str = "pi-e2e-marker";

fn pi_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/pi");
    assert!(
        cli.exists(),
        "the real Pi CLI is missing at {}: run `npm install` in tests/e2e (the version is pinned in \
         tests/e2e/package-lock.json)",
        cli.display()
    );
    cli
}

/// The operator's Pi setup in this world's HOME: the mock as a custom
/// provider, and an auth file to be carried into the worker.
fn seed_operator(env: &TestEnv, mock: &MockAnthropic) -> PathBuf {
    let agent = env.home.join(".pi/agent");
    std::fs::create_dir_all(&agent).unwrap();
    let models = json!({"providers": {"mock": {
        "baseUrl": mock.base_url(), "api": "anthropic-messages", "apiKey": "mock-key",
        "models": [{"id": "mock-model", "name": "Mock"}],
    }}});
    std::fs::write(agent.join("models.json"), models.to_string()).unwrap();
    std::fs::write(agent.join("auth.json"), "{}").unwrap();
    std::fs::write(agent.join("settings.json"), json!({"quietStartup": false}).to_string()).unwrap();
    // An operator's own global extension: a worker's pi must load it too.
    std::fs::create_dir_all(agent.join("extensions")).unwrap();
    let proof = env.path().join("operator-extension-ran");
    let ext = format!(
        "import {{ writeFileSync }} from \"node:fs\";\n\
         export default function (pi: any) {{ pi.on(\"session_start\", () => writeFileSync({:?}, \"yes\")); }}\n",
        proof.to_str().unwrap()
    );
    std::fs::write(agent.join("extensions/operator.ts"), ext).unwrap();
    agent
}

/// csd's binaries in this world, with the worker's Pi pointed at the pinned CLI.
fn csd(env: &TestEnv, bin: &str, args: &[&str]) -> Output {
    env.cmd(bin)
        .args(args)
        .env("CSD_PI_BIN", pi_cli())
        .env("CSD_PI_MODEL", MODEL)
        .env("PI_OFFLINE", "1")
        .env_remove("PI_CODING_AGENT_DIR")
        .env_remove("PI_CODING_AGENT_SESSION_DIR")
        .output()
        .unwrap()
}

/// A test's world, on a thread now in a loopback-only netns: the mock the
/// operator's Pi is set up to use, a private TestEnv, the operator's agent
/// dir, and a project dir.
fn pi_world() -> (MockAnthropic, TestEnv, PathBuf, PathBuf) {
    let _cli = pi_cli();
    isolate_network();
    let mock = MockAnthropic::start(Config::with_tool("bash"));
    let env = TestEnv::new();
    let agent = seed_operator(&env, &mock);
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();
    (mock, env, agent, project)
}

fn grant_consent(env: &TestEnv) {
    let out = env.run_stdin("csd-launch", ["--grant-consent"], b"yes\n");
    assert_code(&out, 0);
}

fn metas(env: &TestEnv) -> Vec<Value> {
    std::fs::read_dir(&env.worker_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".meta"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
        .collect()
}

fn events(env: &TestEnv, sid: &str) -> Vec<Value> {
    std::fs::read_to_string(env.events_path(sid))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a torn or bad event line {l:?}: {e}")))
        .collect()
}

/// Processes whose environment names `needle` (the worker's agent dir): pi
/// and anything it started.
fn processes_with_env(needle: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if pid_alive(pid) && memchr::memmem::find(&environ, needle.as_bytes()).is_some() {
            found.push(pid);
        }
    }
    found
}

#[test]
fn a_pi_worker_converses_with_a_tool_call_and_stops_without_a_trace() {
    let (mock, env, operator_agent, project) = pi_world();
    grant_consent(&env);

    // launch → ready
    let started = Instant::now();
    let wall_start = std::time::SystemTime::now();
    let out = csd(&env, "csd-launch", &["--harness", "pi", "w", project.to_str().unwrap()]);
    let launch_to_ready = started.elapsed();
    let wall_end = std::time::SystemTime::now();
    assert_code(&out, 0);
    let pane_pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=w:", "#{pane_pid}"]).trim().parse().unwrap();
    let _guard = KillOnDrop(Some(pane_pid));
    assert_eq!(stdout(&out).trim(), env.worker_dir.join("bin/w").display().to_string());

    // Registered by the extension, with Pi's own session id and session file.
    let metas = metas(&env);
    assert_eq!(metas.len(), 1, "{metas:?}");
    let meta = &metas[0];
    let sid = meta["session_id"].as_str().unwrap().to_string();
    assert_eq!(meta["tmux_name"], "w");
    assert_eq!(meta["harness"], "pi");
    assert_eq!(meta["cwd"], project.canonicalize().unwrap().to_str().unwrap());
    assert_eq!(meta["tmux_socket"], env.socket_path().to_str().unwrap());
    // The extension copies the stamp on the worker's session into the meta.
    let stamp = env.tmux_ok(["show-options", "-v", "-t", "=w:", "@csd_id"]);
    assert_eq!(meta["csd_id"], stamp.trim());
    let transcript = PathBuf::from(meta["transcript_path"].as_str().unwrap());
    assert!(transcript.starts_with(&operator_agent), "{}", transcript.display());
    assert_eq!(events(&env, &sid)[0]["event"], "session_start");
    // When Pi's session_start landed (the log's only line so far): the rest of
    // launch-to-ready is csd noticing it and returning.
    let logged = std::fs::metadata(env.events_path(&sid)).unwrap().modified().unwrap();
    let pi_start = logged.duration_since(wall_start).unwrap_or_default();
    let csd_after = wall_end.duration_since(logged).unwrap_or_default();

    // The worker's own agent dir: the operator's files, auth private.
    let home = env.worker_dir.join("homes/w");
    for f in ["auth.json", "models.json", "settings.json"] {
        let mode = std::fs::metadata(home.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let proof = env.path().join("operator-extension-ran");
    assert!(
        eventually(Duration::from_secs(5), || proof.is_file().then_some(())).is_some(),
        "the operator's extension (linked into the worker's agent dir) did not load"
    );
    let sid_out = csd(&env, "csd-status", &["--session-id", "w"]);
    assert_eq!(stdout(&sid_out).trim(), sid);
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle");
    // The shim reaches the same worker through the csd dispatcher.
    let mut shim = std::process::Command::new(env.worker_dir.join("bin/w"));
    env.apply_env(&mut shim);
    let via_shim = shim.arg("session-id").output().unwrap();
    assert_code(&via_shim, 0);
    assert_eq!(stdout(&via_shim).trim(), sid);

    // converse with a tool call
    let before = mock.count();
    let prompt = format!("run: echo {MARKER}");
    let started = Instant::now();
    let out = csd(&env, "csd-send", &["--converse", "w", &prompt, "60"]);
    let converse_time = started.elapsed();
    assert_code(&out, 0);
    let reply = stdout(&out);
    assert!(reply.contains(anthropic::TOOL_OUTPUT_PREFIX) && reply.contains(MARKER), "reply: {reply}");
    let requests = mock.requests_since(before);
    assert!(requests.iter().any(|r| matches!(&r.answer, Answer::ToolCall { command } if command.contains(MARKER))));
    let model_time = MockAnthropic::busy_time(&requests);

    // The six-event vocabulary, with Pi's tool as csd names it.
    let kinds: Vec<String> = events(&env, &sid).iter().map(|e| e["event"].as_str().unwrap().to_string()).collect();
    assert_eq!(kinds, ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop"]);
    let pre = csd(&env, "csd-events", &["w", "--type", "pre_tool_use"]);
    assert_code(&pre, 0);
    let pre: Value = serde_json::from_str(stdout(&pre).trim()).unwrap();
    assert_eq!(pre["tool"], "Bash");
    assert_eq!(pre["tool_input"]["command"], format!("echo {MARKER}"));

    // read-turn shows the tool call from Pi's session file
    let turn = csd(&env, "csd-turn", &["w"]);
    assert_code(&turn, 0);
    let turn = stdout(&turn);
    assert!(turn.starts_with(&format!("---\n\n**Prompt:** {prompt}\n\n**Tool: Bash**\n")), "{turn}");
    assert!(turn.contains(&format!("**Result:**\n```\n{MARKER}\n")), "{turn}");
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle");
    let path = csd(&env, "csd-events", &["--path", "w"]);
    assert_eq!(stdout(&path).trim(), env.events_path(&sid).display().to_string());
    let list = csd(&env, "csd-status", &["--list"]);
    assert!(stdout(&list).lines().any(|l| l.starts_with("idle\tpi\tw\t")), "{}", stdout(&list));

    // send, then wait-for-turn from the line before it
    let lines_before = events(&env, &sid).len().to_string();
    assert_code(&csd(&env, "csd-send", &["w", "say: plain send"]), 0);
    let waited = csd(&env, "csd-wait", &["w", "60", "--after-line", &lines_before]);
    assert_code(&waited, 0);
    let stop: Value = serde_json::from_str(stdout(&waited).trim()).unwrap();
    assert_eq!(stop["event"], "stop");
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** say: plain send\n\nplain send\n"), "{turn}");
    // A multi-line prompt goes in as one paste, one prompt.
    let out = csd(&env, "csd-send", &["--converse", "w", "say: two lines\n\tthe second, indented", "60"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "two lines\n");
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    // Pi's editor turns a pasted tab into four spaces.
    assert!(turn.contains("**Prompt:** say: two lines\n    the second, indented\n"), "{turn}");
    // What a controller acts on, and the tokens: each assistant message's
    // usage in the session file, the sum of what the mock answered.
    let row = checked_status_row(&env, "w", &sid);
    eprintln!("pi: csd-status --json: {row}");
    let sent = MockAnthropic::usage_sum(&mock.requests());
    assert_eq!(
        row["tokens"],
        json!({"input": sent.input, "output": sent.output, "cache_read": sent.cache_read, "cache_write": sent.cache_write}),
        "{row}"
    );
    // handoff names the private tmux server
    let handoff = csd(&env, "csd-stop", &["--handoff", "w"]);
    assert_code(&handoff, 0);
    assert!(
        stdout(&handoff).contains(&format!("tmux -S {} attach -t =w", env.socket_path().display())),
        "{}",
        stdout(&handoff)
    );

    // /new typed in the pane: Pi mints a new session id, and the worker follows it.
    env.tmux_ok(["send-keys", "-t", "=w:", "-l", "/new"]);
    env.tmux_ok(["send-keys", "-t", "=w:", "Enter"]);
    // The extension registers the new id, then drops the old session's files
    // and logs session_start: a look in between sees the move half done.
    let new_sid = eventually(Duration::from_secs(20), || {
        let out = csd(&env, "csd-status", &["--session-id", "w"]);
        let s = stdout(&out).trim().to_string();
        let moved = out.status.success() && !s.is_empty() && s != sid;
        (moved && !env.events_path(&sid).exists() && !events(&env, &s).is_empty()).then_some(s)
    })
    .expect("the worker did not follow Pi's new session");
    // The extension writes the new meta, removes the old meta, log and tally,
    // then logs the event: the files may trail the sid a moment.
    let old_gone = || !env.events_path(&sid).exists() && !env.worker_dir.join(format!("{sid}.meta")).exists();
    assert!(eventually(Duration::from_secs(5), || old_gone().then_some(())).is_some(), "the old session's files stay");
    let first = eventually(Duration::from_secs(5), || events(&env, &new_sid).first().cloned());
    assert_eq!(first.expect("no event in the new session's log")["event"], "session_start");
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle");

    // Where the overhead goes: before the first model request (paste, Enter,
    // pi taking the input) and after the last answer (the tool turn's end in
    // pi, agent_end, csd waking and reading the session file).
    let first_request = requests.iter().map(|r| r.arrived).min().unwrap() - started;
    let after_last_answer = (started + converse_time) - requests.iter().map(|r| r.answered).max().unwrap();
    eprintln!(
        "pi timings: launch-to-ready {:.2}s (session_start logged after {:.2}s, csd-launch out {:.2}s later)",
        launch_to_ready.as_secs_f64(),
        pi_start.as_secs_f64(),
        csd_after.as_secs_f64()
    );
    eprintln!(
        "pi timings: launch-to-ready {:.2}s; converse {:.2}s of which the mock model {:.2}s: overhead {:.2}s \
         ({:.2}s to the first model request, {:.2}s after the last answer, {} requests)",
        launch_to_ready.as_secs_f64(),
        converse_time.as_secs_f64(),
        model_time.as_secs_f64(),
        converse_time.saturating_sub(model_time).as_secs_f64(),
        first_request.as_secs_f64(),
        after_last_answer.as_secs_f64(),
        requests.len()
    );

    // stop leaves nothing behind
    let agent_dir_env = format!("PI_CODING_AGENT_DIR={}", home.display());
    assert!(!processes_with_env(&agent_dir_env).is_empty(), "the probe for the worker's processes finds none");
    let started = Instant::now();
    let out = csd(&env, "csd-stop", &["w"]);
    assert_code(&out, 0);
    // Quit, not the kill after the 10 s grace: Pi took /quit and said session_end.
    let stop_time = started.elapsed();
    assert!(stop_time < Duration::from_secs(8), "stop took {stop_time:?}");
    eprintln!("pi timings: stop {:.2}s", stop_time.as_secs_f64());
    assert!(
        eventually(Duration::from_secs(5), || processes_with_env(&agent_dir_env).is_empty().then_some(())).is_some(),
        "processes of the worker outlived stop: {:?}",
        processes_with_env(&agent_dir_env)
    );
    assert!(!env.has_session("w"), "the tmux session outlived stop");
    assert!(
        eventually(Duration::from_secs(5), || (!pid_alive(pane_pid)).then_some(())).is_some(),
        "pi (pid {pane_pid}) outlived stop"
    );
    let left: Vec<PathBuf> = files_under(&env.worker_dir);
    assert!(left.is_empty(), "stop left files behind: {left:?}");
    assert!(!home.exists(), "the worker's agent dir outlived stop");
    // Pi's own record of the session stays with the operator, as Claude's does.
    assert!(transcript.is_file());

    // ...so the session can be adopted again by its id, and goes on.
    let out = csd(&env, "csd-launch", &["--harness", "pi", "--adopt", "w2", project.to_str().unwrap(), &sid]);
    assert_code(&out, 0);
    let pane_pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=w2:", "#{pane_pid}"]).trim().parse().unwrap();
    let _guard2 = KillOnDrop(Some(pane_pid));
    assert_eq!(stdout(&csd(&env, "csd-status", &["--session-id", "w2"])).trim(), sid);
    let turn = csd(&env, "csd-turn", &["w2"]);
    assert!(stdout(&turn).contains("**Prompt:** say: two lines"), "the session's last turn: {}", stdout(&turn));
    let out = csd(&env, "csd-send", &["--converse", "w2", "say: adopted and well", "60"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "adopted and well\n");
    // A worker whose tmux session died is gone, and prune clears it.
    env.tmux_ok(["kill-session", "-t", "=w2"]);
    assert_eq!(stdout(&csd(&env, "csd-status", &["w2"])).trim(), "gone");
    let out = csd(&env, "csd-stop", &["--prune"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("w2"), "{}", stdout(&out));
    assert!(eventually(Duration::from_secs(5), || (!pid_alive(pane_pid)).then_some(())).is_some());
    let left: Vec<PathBuf> = files_under(&env.worker_dir);
    assert!(left.is_empty(), "prune left files behind: {left:?}");
}

/// A reboot takes tmux and /tmp (the worker dir, the worker's agent dir); Pi's
/// session file is in the operator's own session dir for the cwd, so
/// `csd adopt --harness pi` resumes the session and the model's next request
/// carries the earlier turn.
#[test]
fn adopt_revives_a_pi_session_with_its_history_after_a_reboot() {
    let (mock, env, operator_agent, project) = pi_world();
    let project = project.to_str().unwrap();
    grant_consent(&env);

    assert_code(&csd(&env, "csd-launch", &["--harness", "pi", "before", project]), 0);
    let pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=before:", "#{pane_pid}"]).trim().parse().unwrap();
    let _guard = KillOnDrop(Some(pid));
    let out = csd(&env, "csd-send", &["--converse", "before", "Remember the heron.\nsay: noted the heron", "60"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "noted the heron\n");
    let sid = stdout(&csd(&env, "csd-status", &["--session-id", "before"])).trim().to_string();
    let session_dir = operator_agent.join("sessions").join(csd::harness::pi::Pi::session_dir_name(project));
    let session_file = metas(&env)[0]["transcript_path"].as_str().map(PathBuf::from).unwrap();
    assert_eq!(session_file.parent(), Some(session_dir.as_path()));

    // The reboot: every process and all of /tmp/csd-workers go; ~/.pi stays.
    env.tmux().arg("kill-server").status().unwrap();
    assert!(eventually(Duration::from_secs(10), || (!pid_alive(pid)).then_some(())).is_some());
    std::fs::remove_dir_all(&env.worker_dir).unwrap();

    // A session id with no session file is refused at once, naming the dir.
    let unknown = "019a0000-0000-7000-8000-000000000000";
    let out = csd(&env, "csd-launch", &["--adopt", "--harness", "pi", "after", project, unknown]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains(&format!("no transcript for session {unknown}")), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("expected {}/*_{unknown}.jsonl", session_dir.display())),
        "{}",
        stderr(&out)
    );
    assert!(!env.has_session("after") && files_under(&env.worker_dir).is_empty());

    let started = Instant::now();
    let out = csd(&env, "csd-launch", &["--adopt", "--harness", "pi", "after", project, &sid]);
    eprintln!("pi timings: adopt to ready {:.2}s", started.elapsed().as_secs_f64());
    assert_code(&out, 0);
    let pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=after:", "#{pane_pid}"]).trim().parse().unwrap();
    let _guard2 = KillOnDrop(Some(pid));
    assert_eq!(stdout(&csd(&env, "csd-status", &["--session-id", "after"])).trim(), sid);
    assert_eq!(stdout(&csd(&env, "csd-status", &["after"])).trim(), "idle");
    let meta = metas(&env).pop().unwrap();
    let stamp = env.tmux_ok(["show-options", "-v", "-t", "=after:", "@csd_id"]);
    assert_eq!(meta["csd_id"], stamp.trim(), "{meta}");

    let baseline = mock.count();
    let out = csd(&env, "csd-send", &["--converse", "after", "And now?\nsay: back after the reboot", "60"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "back after the reboot\n");
    let history: String = mock.requests_since(baseline).iter().map(|r| r.body["messages"].to_string()).collect();
    assert!(history.contains("Remember the heron."), "the resumed session lost its first prompt: {history}");
    assert!(history.contains("noted the heron"), "the resumed session lost its first answer: {history}");

    assert_code(&csd(&env, "csd-stop", &["after"]), 0);
    assert!(eventually(Duration::from_secs(5), || (!pid_alive(pid)).then_some(())).is_some());
    let left: Vec<PathBuf> = files_under(&env.worker_dir);
    assert!(left.is_empty(), "stop left files behind: {left:?}");
    let kept = std::fs::read_to_string(&session_file).unwrap();
    assert!(kept.contains("noted the heron") && kept.contains("back after the reboot"), "{}", session_file.display());
}

/// Pi 0.73.1 takes a prompt sent mid-turn at once (`input` fires, so its
/// user_prompt_submit lands before the running turn's stop) and delivers it
/// into the running agent loop as a steering message: one agent_end (one
/// stop) for both. The receipt is that UPS; the turn end after it answers.
#[test]
fn a_prompt_sent_mid_turn_joins_the_running_turn_with_its_own_receipt() {
    let (mock, env, _agent, project) = pi_world();
    grant_consent(&env);
    assert_code(&csd(&env, "csd-launch", &["--harness", "pi", "w", project.to_str().unwrap()]), 0);
    let pane_pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=w:", "#{pane_pid}"]).trim().parse().unwrap();
    let _guard = KillOnDrop(Some(pane_pid));
    let sid = metas(&env)[0]["session_id"].as_str().unwrap().to_string();
    assert_code(&csd(&env, "csd-send", &["w", "First.\nrun: sleep 5; echo first-done"]), 0);
    let busy = eventually(Duration::from_secs(60), || {
        (events(&env, &sid).last().is_some_and(|e| e["event"] == "pre_tool_use")).then_some(())
    });
    assert!(busy.is_some(), "{:?}", events(&env, &sid));
    let o = csd(&env, "csd-send", &["--receipt", "w", "Second.\nsay: second-answer", "60"]);
    assert_code(&o, 0);
    let n: usize = stdout(&o).trim().parse().unwrap();
    let evs = events(&env, &sid);
    assert_eq!(evs[n - 1]["event"], "user_prompt_submit", "{evs:?}");
    assert_eq!(evs[n - 2]["event"], "pre_tool_use", "taken while the tool ran: {evs:?}");
    let w = csd(&env, "csd-wait", &["w", "60", "--after-line", &n.to_string()]);
    assert_code(&w, 0);
    let kinds: Vec<String> = events(&env, &sid).iter().map(|e| e["event"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        kinds,
        ["session_start", "user_prompt_submit", "pre_tool_use", "user_prompt_submit", "post_tool_use", "stop"],
        "one turn for both prompts"
    );
    let answers: Vec<_> = mock.requests().into_iter().map(|r| r.answer).collect();
    assert!(answers.contains(&Answer::Said("second-answer".into())), "{answers:?}");
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(turn.contains("second-answer"), "{turn}");
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}

/// The fleet on the real Pi: two workers, turns of about 3 s and 0 s;
/// `csd-wait --all` reports them in the order they finish, and
/// `csd-events --all` names each.
#[test]
fn a_fleet_of_pi_workers_is_waited_for_in_finish_order() {
    let (_mock, env, _agent, project) = pi_world();
    let project = project.to_str().unwrap();
    grant_consent(&env);
    let mut guards = Vec::new();
    for name in ["p1", "p2"] {
        assert_code(&csd(&env, "csd-launch", &["--harness", "pi", name, project]), 0);
        let pid: i32 =
            env.tmux_ok(["display-message", "-p", "-t", &format!("={name}:"), "#{pane_pid}"]).trim().parse().unwrap();
        guards.push(KillOnDrop(Some(pid)));
    }
    assert_code(&csd(&env, "csd-send", &["p1", "Slow.\nrun: sleep 3; echo p1-done"]), 0);
    assert_code(&csd(&env, "csd-send", &["p2", "Quick.\nsay: p2-done"]), 0);
    let o = csd(&env, "csd-wait", &["--all", "p1", "p2", "-t", "60"]);
    assert_code(&o, 0);
    assert_eq!(stdout(&o), "p2\tidle\np1\tidle\n");
    let all = stdout(&csd(&env, "csd-events", &["--all", "--type", "stop"]));
    let workers: Vec<String> = all
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["worker"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(workers, ["p2", "p1"], "{all}");
    // A failed turn is told as its worker ends, with why, while the other
    // works on; the wait exits 5. (A rejected key: Pi's default retry
    // settings do not retry it.)
    assert_code(&csd(&env, "csd-send", &["p1", "Slow.\nrun: sleep 3; echo p1-done"]), 0);
    assert_code(&csd(&env, "csd-send", &["p2", "fail:401"]), 0);
    let o = csd(&env, "csd-wait", &["--all", "p1", "p2", "-t", "60"]);
    assert_code(&o, 5);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("p2\tfailed\tworker 'p2': its turn failed: authentication_failed (HTTP 401)"),
        "{out}"
    );
    assert_eq!(lines[1..], ["p1\tidle"], "{out}");
    for name in ["p1", "p2"] {
        assert_code(&csd(&env, "csd-stop", &[name]), 0);
    }
}

/// Issue 17 item 1 on the real Pi: Pi runs a `!` line in bash and a `/`
/// line as its command. Through csd (a mark csd's extension takes off) the
/// prompt reaches the model as that very text, and nothing runs.
#[test]
fn a_bang_prompt_reaches_the_real_model_as_text_and_runs_nothing() {
    let (mock, env, _agent, project) = pi_world();
    grant_consent(&env);
    assert_code(&csd(&env, "csd-launch", &["--harness", "pi", "w", project.to_str().unwrap()]), 0);
    let pane_pid: i32 = env.tmux_ok(["display-message", "-p", "-t", "=w:", "#{pane_pid}"]).trim().parse().unwrap();
    let _guard = KillOnDrop(Some(pane_pid));
    let x = env.path().join("X");
    for prompt in [format!("!touch {}", x.display()), "/quit and say bye".to_string()] {
        let baseline = mock.count();
        assert_code(&csd(&env, "csd-send", &["--converse", "w", &prompt, "60"]), 0);
        assert!(!x.exists(), "the prompt ran as a shell command");
        let exact = mock.requests_since(baseline).iter().any(|r| {
            r.body["messages"].as_array().into_iter().flatten().filter(|m| m["role"] == "user").any(|m| {
                m["content"] == prompt.as_str()
                    || m["content"].as_array().into_iter().flatten().any(|b| b["text"] == prompt.as_str())
            })
        });
        assert!(exact, "the model did not get {prompt:?} as sent");
        let path = stdout(&csd(&env, "csd-turn", &["w", "--path"])).trim().to_string();
        let session = std::fs::read_to_string(&path).unwrap();
        assert!(session.contains(&serde_json::to_string(&prompt).unwrap()), "the session lacks {prompt:?}");
    }
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}

/// The last stop line of the worker's log.
fn last_stop(env: &TestEnv, sid: &str) -> Value {
    events(env, sid).into_iter().rfind(|e| e["event"] == "stop").expect("a stop line")
}

/// A launched Pi worker whose operator settings are `settings` (Pi's own
/// retries: `retry.enabled`, `retry.maxRetries`, `retry.baseDelayMs`, and
/// the provider SDK's `retry.provider.maxRetries`); its session id.
fn launch_with_settings(env: &TestEnv, agent: &std::path::Path, project: &std::path::Path, settings: Value) -> String {
    std::fs::write(agent.join("settings.json"), settings.to_string()).unwrap();
    grant_consent(env);
    assert_code(&csd(env, "csd-launch", &["--harness", "pi", "w", project.to_str().unwrap()]), 0);
    let out = csd(env, "csd-send", &["--converse", "w", "say: warm", "30"]);
    assert_code(&out, 0);
    stdout(&csd(env, "csd-status", &["--session-id", "w"])).trim().to_string()
}

/// Every way the model API fails, as the real Pi meets it (its own retries
/// off, as the SDK's): the stop line carries the verdict (kind, status,
/// message), converse exits 5 at once, the worker is idle after, and the
/// next prompt is answered. Pi keeps no retry-after or rate-limit reset
/// (its errorMessage is the SDK's `<status> <body>`; `after_provider_response`
/// fires only for a 2xx), so no failure carries a retry_at.
#[test]
fn every_pi_failure_ends_its_turn_with_a_verdict_at_once() {
    let (mock, env, agent, project) = pi_world();
    let settings = json!({"retry": {"enabled": false, "provider": {"maxRetries": 0}}});
    let sid = launch_with_settings(&env, &agent, &project, settings);
    let cases: [(&str, &str, Option<u16>); 8] = [
        ("fail:400", "invalid_request", Some(400)),
        ("fail:401", "authentication_failed", Some(401)),
        ("fail:429", "rate_limit", Some(429)),
        ("fail:usage", "usage_limit", Some(429)),
        ("fail:500", "server_error", Some(500)),
        ("fail:529", "overloaded", Some(529)),
        ("fail:stream", "server_error", None),
        ("fail:reset", "network", None),
    ];
    for (i, (directive, kind, status)) in cases.iter().enumerate() {
        let before = mock.count();
        let started = Instant::now();
        let out = csd(&env, "csd-send", &["--converse", "w", directive, "30"]);
        let took = started.elapsed();
        let answered = mock.requests_since(before).iter().map(|r| r.answered).max().unwrap_or(started);
        eprintln!(
            "pi: {directive}: converse exited {:?} after {took:?}, {:?} after the mock's answer",
            out.status.code(),
            (started + took).saturating_duration_since(answered)
        );
        assert_code(&out, 5);
        assert!(took < Duration::from_secs(5), "{directive}: converse took {took:?}");
        let stop = last_stop(&env, &sid);
        assert_eq!(stop["reason"], "failed", "{directive}: {stop}");
        assert_eq!(stop["error"]["kind"], *kind, "{directive}: {stop}");
        assert_eq!(stop["error"]["status"].as_u64().map(|s| s as u16), *status, "{directive}: {stop}");
        assert!(!stop["error"]["message"].as_str().unwrap_or("").is_empty(), "{directive}: {stop}");
        assert!(stop["error"].get("retry_at").is_none(), "{directive}: {stop}");
        assert!(stderr(&out).contains(&format!("its turn failed: {kind}")), "{directive}: {}", stderr(&out));
        assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle", "{directive}");
        let row: Value = serde_json::from_str(&stdout(&csd(&env, "csd-status", &["--json", "w"]))).unwrap();
        assert_eq!(row["last_turn"]["error"], stop["error"], "{row}");
        let turn = stdout(&csd(&env, "csd-turn", &["w"]));
        assert!(turn.contains(&format!("**Prompt:** {directive}")), "{turn}");
        assert_eq!(turn.matches("**Turn failed:**").count(), 1, "{turn}");
        assert!(turn.contains(&format!("**Turn failed:** {kind}")), "{turn}");
        let reply = format!("answered-after-{i}");
        let out = csd(&env, "csd-send", &["--converse", "w", &format!("say: {reply}"), "30"]);
        assert_code(&out, 0);
        assert_eq!(stdout(&out).trim(), reply, "{directive}");
        assert!(last_stop(&env, &sid).get("reason").is_none(), "{}", last_stop(&env, &sid));
    }
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}

/// Pi retries a failed request itself (`retry.enabled`, here one attempt
/// after 200 ms). Its agent_end for the failed attempt reaches the extension
/// before Pi decides to retry: that is not the turn's end. The mock fails a
/// prompt once, so the retry is answered and the turn ends done, with one
/// stop. Then Escape while the model answers: interrupted, converse exits 7.
#[test]
fn a_pi_retry_is_not_a_turn_end_and_escape_is_an_interrupt() {
    let (mock, env, agent, project) = pi_world();
    let settings =
        json!({"retry": {"enabled": true, "maxRetries": 1, "baseDelayMs": 200, "provider": {"maxRetries": 0}}});
    let sid = launch_with_settings(&env, &agent, &project, settings);
    let before = mock.count();
    let stops = events(&env, &sid).iter().filter(|e| e["event"] == "stop").count();
    let out = csd(&env, "csd-send", &["--converse", "w", "fail:529\nsay: second time lucky", "30"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "second time lucky");
    let answers: Vec<Answer> = mock.requests_since(before).into_iter().map(|r| r.answer).collect();
    assert!(matches!(answers.first(), Some(Answer::Failed(_))), "{answers:?}");
    assert_eq!(answers.last(), Some(&Answer::Said("second time lucky".into())), "{answers:?}");
    let now = events(&env, &sid).iter().filter(|e| e["event"] == "stop").count();
    assert_eq!(now, stops + 1, "one turn end: {:?}", events(&env, &sid));
    assert!(last_stop(&env, &sid).get("reason").is_none(), "{}", last_stop(&env, &sid));

    // Escape while the model is still answering.
    let mut converse = env.cmd("csd-send");
    converse.args(["--converse", "w", "wait: 30\nsay: too late", "30"]);
    converse.env("CSD_PI_BIN", pi_cli()).env("CSD_PI_MODEL", MODEL).env("PI_OFFLINE", "1");
    escape_mid_converse(&env, "w", &mut converse, || stdout(&csd(&env, "csd-status", &["w"])).trim().to_string());
    assert_eq!(last_stop(&env, &sid)["reason"], "interrupted");
    let turn = stdout(&csd(&env, "csd-turn", &["w"]));
    assert!(turn.contains("**Prompt:** wait: 30") && turn.ends_with("**Turn interrupted.**\n"), "{turn}");
    let out = csd(&env, "csd-send", &["--converse", "w", "say: after the interrupt", "30"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "after the interrupt");
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}

/// Escape while Pi waits to retry ("Retrying (1/1) in 2s... (escape to
/// cancel)") cancels the retry without any agent_end: the extension's
/// watchdog ends the turn with the error once the backoff (plus 3 s) passed
/// with no retry begun. Slow by design: the backoff is the point.
#[test]
fn escape_during_pis_retry_backoff_ends_the_turn_with_its_error() {
    let (mock, env, agent, project) = pi_world();
    let settings =
        json!({"retry": {"enabled": true, "maxRetries": 1, "baseDelayMs": 2000, "provider": {"maxRetries": 0}}});
    let sid = launch_with_settings(&env, &agent, &project, settings);
    let before = mock.count();
    let started = Instant::now();
    assert_code(&csd(&env, "csd-send", &["w", "fail:529\nsay: never asked for"]), 0);
    let retrying = eventually(Duration::from_secs(10), || env.pane("w").contains("Retrying").then_some(()));
    assert!(retrying.is_some(), "{}", env.pane("w"));
    env.tmux_ok(["send-keys", "-t", "=w:", "Escape"]);
    let ended =
        eventually(Duration::from_secs(10), || events(&env, &sid).last().filter(|e| e["event"] == "stop").cloned());
    eprintln!("pi: a cancelled retry's turn ended {:?} after the prompt", started.elapsed());
    let stop = ended.expect("the cancelled retry's turn never ended");
    assert_eq!(
        (stop["reason"].as_str(), stop["error"]["kind"].as_str()),
        (Some("failed"), Some("overloaded")),
        "{stop}"
    );
    assert_eq!(mock.requests_since(before).len(), 1, "the retry was cancelled");
    assert_eq!(stdout(&csd(&env, "csd-status", &["w"])).trim(), "idle");
    let out = csd(&env, "csd-send", &["--converse", "w", "say: on we go", "30"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "on we go");
    assert_code(&csd(&env, "csd-stop", &["w"]), 0);
}
