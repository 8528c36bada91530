//! A world with the scripted fake Claude Code (tests/fake/fake_claude.py)
//! as the harness: consent given, a project dir, and helpers to launch,
//! send and read what the fake recorded.

use super::*;
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

pub fn fake() -> PathBuf {
    repo().join("tests/fake/fake_claude.py")
}

/// A world with consent given, the fake as Claude Code, and a project dir.
pub struct World {
    pub env: TestEnv,
    pub proj: PathBuf,
}

impl World {
    pub fn new() -> World {
        let env = TestEnv::new();
        std::fs::create_dir_all(env.home.join(".claude")).unwrap();
        std::fs::write(env.home.join(".claude/.claude-session-driver-consent"), "").unwrap();
        let proj = env.path().join("proj");
        std::fs::create_dir(&proj).unwrap();
        World { env, proj }
    }

    pub fn cmd(&self, bin: &str) -> Command {
        let mut c = self.env.cmd(bin);
        c.env("CSD_CLAUDE_BIN", fake())
            .env("IS_SANDBOX", "1")
            .env("CSD_START_TIMEOUT_MS", "10000")
            .env("CSD_SUBMIT_RETRY_INTERVAL", "0.5")
            .env_remove("CSD_PLUGIN_DIR")
            .env_remove("CSD_CONVERSE_DIAG_FILE");
        c
    }

    pub fn launch(&self, name: &str, extra: &[&str]) -> Output {
        let mut c = self.cmd("csd-launch");
        c.arg(name).arg(&self.proj);
        if !extra.is_empty() {
            c.arg("--").args(extra);
        }
        c.output().unwrap()
    }

    /// Launch and insist it worked; returns the session id.
    pub fn up(&self, name: &str, extra: &[&str]) -> String {
        let o = self.launch(name, extra);
        assert_code(&o, 0);
        self.sid(name)
    }

    pub fn metas(&self) -> Vec<Value> {
        let mut v = Vec::new();
        for e in std::fs::read_dir(&self.env.worker_dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "meta") {
                v.push(serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap());
            }
        }
        v
    }

    pub fn sid(&self, name: &str) -> String {
        let m = self.metas().into_iter().find(|m| m["tmux_name"] == name).expect("a meta for the worker");
        m["session_id"].as_str().unwrap().to_string()
    }

    pub fn send(&self, args: &[&str]) -> Output {
        self.cmd("csd-send").args(args).output().unwrap()
    }

    pub fn send_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd("csd-send")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn events(&self, sid: &str) -> Vec<String> {
        std::fs::read_to_string(self.env.events_path(sid))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].as_str().unwrap().to_string())
            .collect()
    }

    pub fn record(&self) -> PathBuf {
        self.env.path().join("prompts.jsonl")
    }

    pub fn recorded(&self) -> Vec<String> {
        std::fs::read_to_string(self.record())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<String>(l).unwrap())
            .collect()
    }

    /// The worker dir holds nothing but what csd always keeps (bin/, plugin/).
    pub fn assert_no_worker_state(&self) {
        let mut left: Vec<String> = std::fs::read_dir(&self.env.worker_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "bin" && n != "plugin")
            .collect();
        left.extend(
            std::fs::read_dir(self.env.worker_dir.join("bin"))
                .map(|rd| rd.map(|e| format!("bin/{}", e.unwrap().file_name().to_string_lossy())).collect())
                .unwrap_or_else(|_| Vec::new()),
        );
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
