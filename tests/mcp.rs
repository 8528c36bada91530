//! csd-mcp as a controller sees it: the official MCP TypeScript SDK
//! (pinned in tests/e2e/package.json) drives it over stdio
//! (tests/e2e/mcp-client.mjs), and csd-mcp drives the real Claude Code CLI
//! (pinned too) against the mock model, in a loopback-only network
//! namespace with a private worker dir and tmux server, as
//! tests/e2e_claude.rs does. The script lists the tools and checks their
//! schemas, launches a worker, converses, sends with a receipt, waits with
//! progress, cancels a wait (the worker runs on), is told by
//! resources/updated when each turn ends, and stops the worker; it prints
//! the latencies it measured.

mod common;

use common::*;
use csd::mock::anthropic::{self, Config, MockAnthropic};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn e2e_file(rel: &str) -> PathBuf {
    let p = repo().join("tests/e2e").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `npm ci` in tests/e2e (versions pinned in its package-lock.json)",
        p.display()
    );
    p
}

#[test]
fn an_mcp_client_drives_a_real_claude_worker_through_csd_mcp() {
    let cli = e2e_file("node_modules/.bin/claude");
    e2e_file("node_modules/@modelcontextprotocol/sdk/package.json");
    isolate_network();
    let mock = MockAnthropic::start(Config::claude());
    let env = TestEnv::new();
    std::fs::write(
        env.home.join(".claude.json"),
        csd::harness::claude::selftest::home_config(anthropic::API_KEY).to_string(),
    )
    .unwrap();
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();
    assert_code(&env.run_stdin("csd-launch", ["--grant-consent"], b"yes\n"), 0);

    let mut node = Command::new("node");
    node.arg(e2e_file("mcp-client.mjs"));
    env.apply_env(&mut node);
    node.env("CSD_MCP", bin("csd-mcp"))
        .env("PROJECT", &project)
        .env("CSD_CLAUDE_BIN", &cli)
        .env("PATH", format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default()))
        .env("ANTHROPIC_BASE_URL", mock.base_url())
        .env("ANTHROPIC_API_KEY", anthropic::API_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for switch in csd::harness::claude::selftest::SWITCHES {
        node.env(switch, "1");
    }
    let out = node.output().expect("running node");
    // Whatever happened, no worker outlives the test (the tmux server goes
    // with `env`).
    let report = stdout(&out);
    assert!(out.status.success(), "the MCP client failed (exit {:?}); it printed: {report}", out.status.code());
    let report: Value = serde_json::from_str(report.trim()).expect("one JSON report");
    eprintln!("csd-mcp e2e: {report}");
    assert_eq!(report["tools"].as_array().unwrap().len(), 12);
    assert!(report["progress_notifications"].as_u64().unwrap() >= 1);
    // A cancelled call ends at once, not when the turn does (about 5 s later).
    assert!(report["cancel_ms"].as_f64().unwrap() < 1000.0, "{report}");
    // Another call is answered while a wait runs, not after it.
    assert!(report["status_during_wait_ms"].as_f64().unwrap() < 2000.0, "{report}");
    drop(mock);
}
