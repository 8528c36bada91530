//! pi-extension/index.ts on its own: loaded by the jiti that Pi itself loads
//! extensions with (from the pinned CLI's node_modules), its handlers called
//! by a stub with Pi's event and context shapes as docs/harness-pi.md records
//! them. Fast, and able to show what the real CLI cannot be made to do on
//! demand (a hostile session id, a context that throws).

mod common;

use common::{repo, TestEnv};
use serde_json::{json, Value};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const SID: &str = "01a2128e-3f8d-729a-be14-46cd8ed7da2b";
const NEW_SID: &str = "01a2128e-ffff-7000-8000-000000000002";

/// Load the extension under node and call `calls` in order. Each call:
/// `{"on": pi event, "event": payload, "sid": id (null: the context throws), "file": session file}`.
const DRIVER: &str = r#"
const { createJiti } = require(process.argv[2]);
const calls = JSON.parse(process.argv[4]);
(async () => {
  const jiti = createJiti(__filename);
  const mod = await jiti.import(process.argv[3]);
  const factory = typeof mod === "function" ? mod : mod.default;
  const handlers = {};
  factory({ on(name, fn) { (handlers[name] ??= []).push(fn); } });
  const out = { registered: Object.keys(handlers), threw: [] };
  for (const c of calls) {
    if (c.sleep) { await new Promise((r) => setTimeout(r, c.sleep)); continue; }
    const ctx = {
      cwd: c.cwd ?? "/proj",
      sessionManager: {
        getSessionId() { if (c.sid === null) throw new Error("no session"); return c.sid; },
        getSessionFile() { return c.file; },
      },
    };
    for (const h of handlers[c.on] ?? []) {
      try { await h(c.event ?? {}, ctx); } catch (e) { out.threw.push(`${c.on}: ${e.message}`); }
    }
  }
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"#;

fn jiti() -> PathBuf {
    let p = repo().join("tests/e2e/node_modules/jiti/lib/jiti.cjs");
    assert!(p.is_file(), "jiti (Pi's extension loader) is missing at {}: run `npm install` in tests/e2e", p.display());
    p
}

/// Run the extension with `env` (CSD_* for a worker) over `calls`; the
/// driver's report: which events it subscribed to, and what threw into Pi.
fn run(t: &TestEnv, env: &[(&str, &str)], calls: Value) -> Value {
    let driver = t.path().join("driver.cjs");
    std::fs::write(&driver, DRIVER).unwrap();
    let mut c = Command::new("node");
    c.arg(&driver).arg(jiti()).arg(repo().join("pi-extension/index.ts")).arg(calls.to_string());
    for k in ["CSD_WORKER_DIR", "CSD_TMUX_NAME", "CSD_TMUX_SOCKET"] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    let out = c.output().expect("running node (Pi needs it too)");
    assert!(out.status.success(), "driver failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn worker_env(t: &TestEnv) -> Vec<(&'static str, String)> {
    vec![
        ("CSD_WORKER_DIR", t.worker_dir.to_str().unwrap().to_string()),
        ("CSD_TMUX_NAME", "w".to_string()),
        ("CSD_TMUX_SOCKET", t.socket.clone()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn mark_launched(t: &TestEnv) {
    std::fs::write(t.worker_dir.join("w.harness"), "pi").unwrap();
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn call(on: &str, event: Value) -> Value {
    json!({"on": on, "event": event, "sid": SID, "file": "/s/x_01a2128e.jsonl"})
}

fn a_whole_turn() -> Value {
    json!([
        call("session_start", json!({"type": "session_start", "reason": "startup"})),
        call("input", json!({"type": "input", "text": "hi", "source": "interactive"})),
        call("input", json!({"type": "input", "text": "from rpc", "source": "rpc"})),
        call(
            "tool_call",
            json!({"type": "tool_call", "toolName": "bash", "toolCallId": "c1",
                                 "input": {"command": "echo hi"}})
        ),
        call(
            "tool_result",
            json!({"type": "tool_result", "toolName": "bash", "toolCallId": "c1",
                                   "isError": false, "content": []})
        ),
        call("agent_end", json!({"type": "agent_end", "messages": []})),
        call("session_shutdown", json!({"type": "session_shutdown", "reason": "reload"})),
        call("session_shutdown", json!({"type": "session_shutdown", "reason": "quit"})),
    ])
}

#[test]
fn a_launched_worker_registers_and_logs_the_six_events() {
    let t = TestEnv::new();
    mark_launched(&t);
    let env = worker_env(&t);
    let report = run(&t, &as_refs(&env), a_whole_turn());
    assert_eq!(report["threw"], json!([]));

    let meta_path = t.worker_dir.join(format!("{SID}.meta"));
    let meta: Value = serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
    assert_eq!(meta["tmux_name"], "w");
    assert_eq!(meta["session_id"], SID);
    assert_eq!(meta["cwd"], "/proj");
    assert_eq!(meta["harness"], "pi");
    assert_eq!(meta["transcript_path"], "/s/x_01a2128e.jsonl");
    assert_eq!(meta["tmux_socket"], t.socket.as_str());
    assert_eq!(std::fs::metadata(&meta_path).unwrap().permissions().mode() & 0o777, 0o600);

    let events = lines(&t.events_path(SID));
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["session_start", "user_prompt_submit", "pre_tool_use", "post_tool_use", "stop", "session_end"]);
    assert_eq!(events[0]["cwd"], "/proj");
    assert_eq!(events[2]["tool"], "Bash");
    assert_eq!(events[2]["tool_input"], json!({"command": "echo hi"}));
    assert_eq!(events[3]["tool"], "Bash");
    for e in &events {
        let ts = e["ts"].as_str().unwrap();
        assert!(ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "{ts}");
        assert_eq!(e.as_object().unwrap().keys().next().unwrap(), "event", "event comes first: {e}");
    }
    // csd reads what the extension wrote.
    let status = t.run("csd-status", ["w"]);
    assert_eq!(common::stdout(&status).trim(), "gone", "registered, and no tmux session in this test");
    // No temp files left from the atomic meta write.
    let names: Vec<String> =
        std::fs::read_dir(&t.worker_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.starts_with(".tmp-")), "{names:?}");
}

/// Issue 17, item 5: a torn last line (a crash, a full disk) is ended before
/// the next event, never glued to it; a stale marker of a lost event goes
/// once an event is written whole again.
#[test]
fn a_torn_tail_never_swallows_the_next_event() {
    let t = TestEnv::new();
    mark_launched(&t);
    let env = worker_env(&t);
    let report =
        run(&t, &as_refs(&env), json!([call("session_start", json!({"type": "session_start", "reason": "startup"}))]));
    assert_eq!(report["threw"], json!([]));
    let log = t.events_path(SID);
    let lost = t.worker_dir.join(format!("{SID}.events.lost"));
    std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all(b"{\"ev").unwrap();
    std::fs::write(&lost, "").unwrap();
    let report = run(&t, &as_refs(&env), json!([call("agent_end", json!({"type": "agent_end", "messages": []}))]));
    assert_eq!(report["threw"], json!([]));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[1], "{\"ev");
    assert_eq!(serde_json::from_str::<Value>(lines[2]).unwrap()["event"], "stop", "{text}");
    assert!(!lost.exists(), "a whole append clears the marker");
}

#[test]
fn outside_csd_it_subscribes_to_nothing() {
    let t = TestEnv::new();
    mark_launched(&t);
    let report = run(&t, &[], a_whole_turn());
    assert_eq!(report["registered"], json!([]));
    assert_eq!(std::fs::read_dir(&t.worker_dir).unwrap().count(), 1, "only the marker");
}

#[test]
fn a_worker_csd_did_not_launch_is_not_invented() {
    // Env as csd would set it, but no `<name>.harness` marker: a stray `pi -e`.
    let t = TestEnv::new();
    let env = worker_env(&t);
    let report = run(&t, &as_refs(&env), a_whole_turn());
    assert_eq!(report["threw"], json!([]));
    assert_eq!(std::fs::read_dir(&t.worker_dir).unwrap().count(), 0);
}

#[test]
fn hostile_ids_and_names_write_nothing_and_nothing_throws_into_pi() {
    let t = TestEnv::new();
    mark_launched(&t);
    let env = worker_env(&t);
    let calls = json!([
        {"on": "session_start", "event": {"reason": "startup"}, "sid": "../../etc/x", "file": "/f"},
        {"on": "agent_end", "event": {}, "sid": "-rf", "file": "/f"},
        {"on": "tool_call", "event": null, "sid": null, "file": "/f"},
        {"on": "input", "event": {"source": "interactive"}, "sid": null},
    ]);
    let report = run(&t, &as_refs(&env), calls);
    assert_eq!(report["threw"], json!([]));
    assert_eq!(std::fs::read_dir(&t.worker_dir).unwrap().count(), 1, "only the marker");

    let mut bad_name = worker_env(&t);
    bad_name[1].1 = "../w".into();
    let report = run(&t, &as_refs(&bad_name), a_whole_turn());
    assert_eq!(report["registered"], json!([]));

    let mut no_dir = worker_env(&t);
    no_dir[0].1 = t.path().join("missing").to_str().unwrap().into();
    let report = run(&t, &as_refs(&no_dir), a_whole_turn());
    assert_eq!(report["threw"], json!([]));
    assert!(!t.path().join("missing").exists());
}

#[test]
fn a_new_session_moves_the_registration() {
    // `/new` in the worker's pane: Pi shuts the old session down (reason
    // "new") and starts one with a new id.
    let t = TestEnv::new();
    mark_launched(&t);
    let env = worker_env(&t);
    let calls = json!([
        call("session_start", json!({"reason": "startup"})),
        call("session_shutdown", json!({"reason": "new"})),
        {"on": "session_start", "event": {"reason": "new"}, "sid": NEW_SID, "file": "/s/new.jsonl"},
    ]);
    let report = run(&t, &as_refs(&env), calls);
    assert_eq!(report["threw"], json!([]));
    assert!(!t.worker_dir.join(format!("{SID}.meta")).exists());
    assert!(!t.events_path(SID).exists());
    let meta: Value =
        serde_json::from_slice(&std::fs::read(t.worker_dir.join(format!("{NEW_SID}.meta"))).unwrap()).unwrap();
    assert_eq!(meta["transcript_path"], "/s/new.jsonl");
    let kinds: Vec<Value> = lines(&t.events_path(NEW_SID)).iter().map(|e| e["event"].clone()).collect();
    assert_eq!(kinds, [json!("session_start")], "no session_end for a session that goes on");
}

#[test]
fn an_adopted_session_keeps_what_csd_launch_wrote() {
    // Adopt writes the meta before Pi starts, and no marker.
    let t = TestEnv::new();
    let launch_meta = json!({"tmux_name": "w", "session_id": SID, "cwd": "/proj", "harness": "pi",
                             "started_at": "2026-01-01T00:00:00Z", "invocation": ["w", "/proj", SID]});
    std::fs::write(t.worker_dir.join(format!("{SID}.meta")), launch_meta.to_string()).unwrap();
    let env = worker_env(&t);
    let report = run(&t, &as_refs(&env), json!([call("session_start", json!({"reason": "startup"}))]));
    assert_eq!(report["threw"], json!([]));
    let meta: Value =
        serde_json::from_slice(&std::fs::read(t.worker_dir.join(format!("{SID}.meta"))).unwrap()).unwrap();
    assert_eq!(meta["started_at"], "2026-01-01T00:00:00Z");
    assert_eq!(meta["invocation"], json!(["w", "/proj", SID]));
    assert_eq!(meta["transcript_path"], "/s/x_01a2128e.jsonl");
    assert_eq!(lines(&t.events_path(SID)).len(), 1);

    // Someone else's meta under that id is left alone.
    let other = json!({"tmux_name": "other", "session_id": NEW_SID, "cwd": "/o", "harness": "pi"});
    let other_path = t.worker_dir.join(format!("{NEW_SID}.meta"));
    std::fs::write(&other_path, other.to_string()).unwrap();
    let calls = json!([{"on": "session_start", "event": {"reason": "startup"}, "sid": NEW_SID, "file": "/f"}]);
    run(&t, &as_refs(&env), calls);
    let after: Value = serde_json::from_slice(&std::fs::read(&other_path).unwrap()).unwrap();
    assert_eq!(after, other);
    assert!(!t.events_path(NEW_SID).exists(), "events went into another worker's log");
}

#[test]
fn an_adopted_worker_follows_its_new_session_too() {
    // No marker (adopted): `/new` must still move the registration.
    let t = TestEnv::new();
    let launch_meta = json!({"tmux_name": "w", "session_id": SID, "cwd": "/proj", "harness": "pi"});
    std::fs::write(t.worker_dir.join(format!("{SID}.meta")), launch_meta.to_string()).unwrap();
    let env = worker_env(&t);
    let calls = json!([
        call("session_start", json!({"reason": "startup"})),
        {"on": "session_start", "event": {"reason": "new"}, "sid": NEW_SID, "file": "/s/new.jsonl"},
    ]);
    let report = run(&t, &as_refs(&env), calls);
    assert_eq!(report["threw"], json!([]));
    assert!(!t.worker_dir.join(format!("{SID}.meta")).exists());
    assert!(t.worker_dir.join(format!("{NEW_SID}.meta")).exists());
    assert_eq!(lines(&t.events_path(NEW_SID)).len(), 1);
}

/// An agent_end whose last answer is `stop_reason` (with `error` as Pi's
/// errorMessage).
fn agent_end(stop_reason: &str, error: &str) -> Value {
    let msg = json!({"role": "assistant", "stopReason": stop_reason, "errorMessage": error, "content": []});
    call("agent_end", json!({"type": "agent_end", "messages": [{"role": "user", "content": "hi"}, msg]}))
}

/// The stops the extension wrote for `calls` after a prompt, with Pi's
/// settings `settings` in the worker's agent dir.
fn stops_for(settings: Value, calls: Vec<Value>) -> Vec<Value> {
    let t = TestEnv::new();
    mark_launched(&t);
    let agent = t.path().join("agent");
    std::fs::create_dir_all(&agent).unwrap();
    std::fs::write(agent.join("settings.json"), settings.to_string()).unwrap();
    let mut env = worker_env(&t);
    env.push(("PI_CODING_AGENT_DIR", agent.to_str().unwrap().to_string()));
    let mut all = vec![
        call("session_start", json!({"type": "session_start", "reason": "startup"})),
        call("input", json!({"type": "input", "text": "hi", "source": "interactive"})),
    ];
    all.extend(calls);
    let report = run(&t, &as_refs(&env), Value::Array(all));
    assert_eq!(report["threw"], json!([]));
    lines(&t.events_path(SID)).into_iter().filter(|e| e["event"] == "stop").collect()
}

/// Pi's errorMessage for each failure, as the real pi 0.73.1 wrote it
/// against csd's Anthropic mock, and the verdict's fields.
#[test]
fn a_failed_request_is_a_failed_stop_with_the_contracts_kind() {
    let body = |t: &str, m: &str| {
        format!(r#"{{"type":"error","error":{{"type":"{t}","message":"{m}"}},"request_id":"req_1"}}"#)
    };
    let cases = [
        (
            format!("400 {}", body("invalid_request_error", "bad")),
            json!({"kind": "invalid_request", "message": "bad", "status": 400}),
        ),
        (
            format!("401 {}", body("authentication_error", "invalid x-api-key")),
            json!({"kind": "authentication_failed", "message": "invalid x-api-key", "status": 401}),
        ),
        (
            format!("429 {}", body("rate_limit_error", "slow down")),
            json!({"kind": "rate_limit", "message": "slow down", "status": 429}),
        ),
        (
            format!("429 {}", body("rate_limit_error", "You have reached your usage limit.")),
            json!({"kind": "usage_limit", "message": "You have reached your usage limit.", "status": 429}),
        ),
        (
            format!("500 {}", body("api_error", "Internal server error")),
            json!({"kind": "server_error", "message": "Internal server error", "status": 500}),
        ),
        (
            format!("529 {}", body("overloaded_error", "Overloaded")),
            json!({"kind": "overloaded", "message": "Overloaded", "status": 529}),
        ),
        (
            body("api_error", "Internal server error"),
            json!({"kind": "server_error", "message": "Internal server error"}),
        ),
        ("Connection error.".to_string(), json!({"kind": "network", "message": "Connection error."})),
        (
            "403 status code (no body)".to_string(),
            json!({"kind": "authentication_failed", "message": "403 status code (no body)", "status": 403}),
        ),
        ("something odd".to_string(), json!({"kind": "unknown", "message": "something odd"})),
    ];
    let off = json!({"retry": {"enabled": false}});
    for (message, error) in cases {
        let stops = stops_for(off.clone(), vec![agent_end("error", &message)]);
        assert_eq!(stops.len(), 1, "{message}");
        assert_eq!(stops[0]["reason"], "failed", "{message}");
        assert_eq!(stops[0]["error"], error, "{message}");
    }
    // Escape: Pi's answer is "aborted".
    let stops = stops_for(off.clone(), vec![agent_end("aborted", "Operation aborted")]);
    assert_eq!(stops[0]["reason"], "interrupted");
    // An answer (or one cut short by its token limit) is a plain stop.
    for reason in ["stop", "length", "toolUse"] {
        let stops = stops_for(off.clone(), vec![agent_end(reason, "")]);
        assert!(stops[0].get("reason").is_none(), "{reason}: {:?}", stops[0]);
    }
}

/// Pi's agent_end for a request it will retry comes before it retries: no
/// stop then. The stop comes with the run that ends the turn: an answer, or
/// the error Pi gives up on (past `retry.maxRetries`), or, when no retry
/// begins in time (Escape during the backoff cancels it), that error.
#[test]
fn an_error_pi_retries_is_not_a_turn_end() {
    let on = json!({"retry": {"enabled": true, "maxRetries": 2, "baseDelayMs": 0}});
    let busy = r#"529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let start = || call("agent_start", json!({"type": "agent_start"}));
    let answer =
        call("message_end", json!({"type": "message_end", "message": {"role": "assistant", "stopReason": "stop"}}));
    // Retried, then answered: one plain stop.
    let stops = stops_for(on.clone(), vec![agent_end("error", busy), start(), answer.clone(), agent_end("stop", "")]);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert!(stops[0].get("reason").is_none(), "{stops:?}");
    // Retried twice, failed a third time: Pi gives up, and so the turn failed.
    let stops = stops_for(
        on.clone(),
        vec![agent_end("error", busy), start(), agent_end("error", busy), start(), agent_end("error", busy)],
    );
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0]["error"]["kind"], "overloaded");
    // Not retryable (a 400): the turn failed at once.
    let bad = r#"400 {"type":"error","error":{"type":"invalid_request_error","message":"bad"}}"#;
    assert_eq!(stops_for(on.clone(), vec![agent_end("error", bad)])[0]["reason"], "failed");
    // A retry that never begins: the error ends the turn after the backoff.
    let stops = stops_for(on, vec![agent_end("error", busy), json!({"sleep": 3300})]);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(stops[0]["error"]["kind"], "overloaded");
}
