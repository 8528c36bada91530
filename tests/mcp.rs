//! csd-mcp as a controller sees it: the official MCP TypeScript SDK
//! (pinned in tests/e2e/package.json) drives it over stdio
//! (tests/e2e/mcp-client.mjs), and csd-mcp drives the real Claude Code CLI
//! (pinned too) against the mock model, in a loopback-only network
//! namespace with a private worker dir and tmux server, as
//! tests/e2e_claude.rs does. The script lists the tools and checks their
//! schemas, launches a worker, converses, sends with a receipt, waits with
//! progress, converses with two workers at once (the calls overlap),
//! answers a question a worker is blocked on,
//! cancels a wait (the worker runs on), is told by
//! resources/updated when each turn ends, and stops the worker; it prints
//! the latencies it measured.

mod common;

use common::*;
use csd::mock::anthropic::{self, Config, MockAnthropic};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn e2e_file(rel: &str) -> PathBuf {
    let p = repo().join("tests/e2e").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run `npm install` in tests/e2e (versions pinned in its package-lock.json)",
        p.display()
    );
    p
}

/// The world both tests run in: the mock as the model, a HOME whose Claude
/// Code is onboarded, consent given, an untrusted project.
struct World {
    env: TestEnv,
    mock: MockAnthropic,
    cli: PathBuf,
    project: PathBuf,
}

impl World {
    /// Call on a thread that already ran `isolate_network()`.
    fn new(cli: PathBuf) -> World {
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
        World { env, mock, cli, project }
    }

    /// `program` with the world's environment: csd's, the worker CLI's, and
    /// the csd binaries under test first on PATH.
    fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        self.env.apply_env(&mut c);
        c.env("CSD_CLAUDE_BIN", &self.cli)
            .env("PATH", format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default()))
            .env("ANTHROPIC_BASE_URL", self.mock.base_url())
            .env("ANTHROPIC_API_KEY", anthropic::API_KEY);
        for switch in csd::harness::claude::selftest::SWITCHES {
            c.env(switch, "1");
        }
        c
    }
}

#[test]
fn an_mcp_client_drives_a_real_claude_worker_through_csd_mcp() {
    let cli = e2e_file("node_modules/.bin/claude");
    e2e_file("node_modules/@modelcontextprotocol/sdk/package.json");
    isolate_network();
    let world = World::new(cli);
    let mut node = world.cmd("node");
    node.arg(e2e_file("mcp-client.mjs"))
        .env("CSD_MCP", bin("csd-mcp"))
        .env("PROJECT", &world.project)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let out = node.output().expect("running node");
    // Whatever happened, no worker outlives the test: the tmux server goes
    // with the world.
    let report = stdout(&out);
    assert!(out.status.success(), "the MCP client failed (exit {:?}); it printed: {report}", out.status.code());
    let report: Value = serde_json::from_str(report.trim()).expect("one JSON report");
    eprintln!("csd-mcp e2e: {report}");
    assert_eq!(report["tools"].as_array().unwrap().len(), 12);
    assert!(report["progress_notifications"].as_u64().unwrap() >= 1);
    assert_eq!(report["answered"], true);
    // A cancelled call ends at once, not when the turn does (about 5 s later).
    assert!(report["cancel_ms"].as_f64().unwrap() < 1000.0, "{report}");
    // Two workers' 3 s converses overlap.
    assert!(report["two_converses_ms"].as_f64().unwrap() < 5500.0, "{report}");
    // Another call is answered while a wait runs, not after it.
    assert!(report["status_during_wait_ms"].as_f64().unwrap() < 2000.0, "{report}");
}

/// A real Claude Code controller with csd's plugin (plugin/, as shipped:
/// its .mcp.json starts csd-mcp) calls csd-mcp's tools, the mock model
/// asking for each call: it launches a worker, converses with it, stops it.
#[test]
fn a_claude_code_controller_with_the_plugin_drives_a_worker_through_csd_mcp() {
    let cli = e2e_file("node_modules/.bin/claude");
    isolate_network();
    let world = World::new(cli);
    let csd = |name: &str, args: &[&str]| {
        let mut c = world.cmd(bin(name));
        c.args(args).env("CSD_PLUGIN_DIR", repo().join("plugin"));
        c.output().unwrap()
    };
    let launched = csd("csd-launch", &["boss", world.project.to_str().unwrap()]);
    assert_code(&launched, 0);
    let ask = |prompt: String| {
        let out = csd("csd-send", &["--converse", "boss", &prompt, "120"]);
        assert_code(&out, 0);
        stdout(&out)
    };
    // Claude Code connects its MCP servers in the background once the
    // session is up; until then a request offers WaitForMcpServers instead.
    let offered = |world: &World| -> std::collections::BTreeSet<String> {
        let last = world.mock.requests().into_iter().rev().find(|r| r.body["tools"].is_array());
        let tools = last.map(|r| r.body["tools"].as_array().cloned().unwrap_or_default()).unwrap_or_default();
        tools.iter().filter_map(|t| t["name"].as_str().map(String::from)).collect()
    };
    let connected = eventually(Duration::from_secs(30), || {
        ask("say: are the csd tools there".to_string());
        offered(&world).iter().any(|t| t.ends_with("_csd__launch")).then_some(())
    });
    assert!(connected.is_some(), "csd-mcp's tools never reached the controller: {:?}", offered(&world));
    let project = world.project.display();
    let reply = ask(format!(r#"call: csd__launch {{"name": "inner", "cwd": "{project}"}}"#));
    assert!(
        reply.contains("/bin/inner"),
        "the controller's launch call: {reply}\nits pane:\n{}",
        world.env.pane("boss")
    );
    let reply = ask(r#"call: csd__converse {"worker": "inner", "prompt": "say: inner says hi"}"#.to_string());
    assert!(reply.contains("inner says hi"), "the controller's converse call: {reply}");
    let reply = ask(r#"call: csd__status {"worker": "nobody"}"#.to_string());
    assert!(reply.contains("exit status 3"), "a tool error reaches the controller: {reply}");
    let reply = ask(r#"call: csd__stop {"worker": "inner"}"#.to_string());
    assert!(reply.contains("stopped"), "the controller's stop call: {reply}");
    assert_code(&csd("csd-stop", &["boss"]), 0);
    let left = stdout(&csd("csd-status", &["--list", "--all"]));
    assert!(!left.contains("inner"), "{left}");
}
