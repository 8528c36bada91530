//! Fan-out on one repository, end to end: three real Claude Code workers
//! (pinned in tests/e2e) against the mock Anthropic API, each in its own
//! worktree (`csd launch --worktree`), each committing a file on its branch
//! through the mock's `run:` tool call; the controller reads each diff,
//! merges, and stops; a worker with uncommitted work is kept. All inside a
//! loopback-only network namespace. Mirrors the README's fan-out. And the
//! real Codex CLI (it mints its id) committing in its worktree the same way.

mod common;

use common::*;
use csd::mock::anthropic::{self, Config, MockAnthropic};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

fn claude_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/claude");
    assert!(cli.exists(), "the real Claude Code CLI is missing at {}: run `npm install` in tests/e2e", cli.display());
    cli
}

struct Fleet {
    env: TestEnv,
    mock: MockAnthropic,
    cli: PathBuf,
    proj: PathBuf,
}

impl Fleet {
    fn new() -> Fleet {
        let mock = MockAnthropic::start(Config::claude());
        let env = TestEnv::new();
        // Onboarding done and the mock's key approved; no project trusted:
        // csd-launch answers each new worktree's trust dialog itself.
        std::fs::write(
            env.home.join(".claude.json"),
            csd::harness::claude::selftest::home_config(anthropic::API_KEY).to_string(),
        )
        .unwrap();
        std::fs::write(
            env.home.join(".gitconfig"),
            "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n",
        )
        .unwrap();
        assert_code(&env.run_stdin("csd-launch", ["--grant-consent"], b"yes\n"), 0);
        let proj = env.path().join("proj");
        std::fs::create_dir(&proj).unwrap();
        let f = Fleet { env, mock, cli: claude_cli(), proj };
        f.git(&["init", "-q"]);
        std::fs::write(f.proj.join("README"), "hello\n").unwrap();
        f.git(&["add", "README"]);
        f.git(&["commit", "-qm", "first"]);
        f
    }

    fn cmd(&self, name: &str) -> Command {
        let mut c = self.env.cmd(name);
        let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap_or_default());
        c.env("CSD_CLAUDE_BIN", &self.cli).env("PATH", path).env("IS_SANDBOX", "1").current_dir(&self.proj);
        c.env("ANTHROPIC_BASE_URL", self.mock.base_url()).env("ANTHROPIC_API_KEY", anthropic::API_KEY);
        for switch in csd::harness::claude::selftest::SWITCHES {
            c.env(switch, "1");
        }
        c
    }

    fn run(&self, name: &str, args: &[&str]) -> Output {
        self.cmd(name).args(args).output().unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(&self.env, &self.proj, args)
    }
}

fn git_in(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git").arg("-C").arg(dir).args(args).env("HOME", &env.home).output().unwrap();
    assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn three_real_workers_on_one_repository_commit_apart_and_are_merged() {
    isolate_network();
    let f = Fleet::new();
    let names = ["api", "ui", "docs"];
    for n in names.iter().chain(&["wip"]) {
        let started = Instant::now();
        let o = f.run("csd", &["launch", "--worktree", n, "."]);
        assert_code(&o, 0);
        eprintln!("launch --worktree {n}: {:?}", started.elapsed());
    }
    for n in names {
        let prompt =
            format!("Please commit your part.\nrun: echo {n} > {n}.txt && git add {n}.txt && git commit -qm {n}");
        assert_code(&f.run("csd-send", &[n, &prompt]), 0);
    }
    assert_code(&f.run("csd-send", &["wip", "Start on it.\nrun: echo draft > draft.txt"]), 0);
    let o = f.run("csd", &["wait-all", "api", "ui", "docs", "wip", "-t", "120"]);
    assert_code(&o, 0);

    // The main checkout is untouched; each branch holds its worker's commit.
    assert_eq!(f.git(&["status", "--porcelain"]), "");
    for n in names {
        assert_eq!(f.git(&["log", "--format=%s", &format!("csd/{n}")]), format!("{n}\nfirst\n"));
        let row: serde_json::Value = serde_json::from_str(&stdout(&f.run("csd-status", &["--json", n]))).unwrap();
        assert_eq!((row["worktree"]["ahead"].as_u64(), row["worktree"]["uncommitted"].as_u64()), (Some(1), Some(0)));
    }
    // Read each diff, merge, stop: merged and clean, so worktree and branch go.
    for n in names {
        let o = f.run("csd", &["--worker", n, "diff"]);
        assert_code(&o, 0);
        assert!(stdout(&o).contains(&format!("+++ b/{n}.txt")), "{}", stdout(&o));
        f.git(&["merge", "-q", "--no-edit", &format!("csd/{n}")]);
        let o = f.run("csd", &["--worker", n, "stop"]);
        assert_code(&o, 0);
        assert!(stdout(&o).contains("Removed its worktree"), "{}", stdout(&o));
    }
    for n in names {
        assert_eq!(std::fs::read_to_string(f.proj.join(format!("{n}.txt"))).unwrap(), format!("{n}\n"));
    }
    // The worker with uncommitted work keeps it.
    let o = f.run("csd", &["--worker", "wip", "stop"]);
    assert_code(&o, 0);
    let kept = f.proj.join(".git/csd/worktrees/wip");
    assert!(stdout(&o).contains(&format!("Kept its worktree {} (branch csd/wip)", kept.display())), "{}", stdout(&o));
    assert_eq!(std::fs::read_to_string(kept.join("draft.txt")).unwrap(), "draft\n");
    assert_code(&f.run("csd", &["--worker", "wip", "stop", "--discard"]), 0);
    assert!(!kept.exists());
    assert_eq!(f.git(&["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
    let fsck = Command::new("git").arg("-C").arg(&f.proj).args(["fsck", "--no-progress"]).output().unwrap();
    assert!(fsck.status.success(), "{}", stderr(&fsck));
}

/// The real Codex CLI (it mints its session id: no meta until its first
/// prompt) against the mock Responses API: its worktree is its cwd, its
/// shell call commits there, and stop removes the merged worktree.
#[test]
fn a_real_codex_worker_commits_in_its_worktree() {
    use csd::mock::openai::MockOpenAi;
    let cli = repo().join("tests/e2e/node_modules/.bin/codex");
    assert!(cli.exists(), "the real Codex CLI is missing at {}: run `npm install` in tests/e2e", cli.display());
    isolate_network();
    let mock = MockOpenAi::start();
    let env = TestEnv::new();
    codex_operator_config(&env.home, &mock.base_url());
    std::fs::write(
        env.home.join(".gitconfig"),
        "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n",
    )
    .unwrap();
    let proj = env.path().join("proj");
    std::fs::create_dir(&proj).unwrap();
    git_in(&env, &proj, &["init", "-q"]);
    std::fs::write(proj.join("README"), "hello\n").unwrap();
    git_in(&env, &proj, &["add", "README"]);
    git_in(&env, &proj, &["commit", "-qm", "first"]);
    let csd = |bin: &str, args: &[&str]| with_codex(env.cmd(bin).args(args), &cli).output().unwrap();
    let started = Instant::now();
    let o = csd("csd-launch", &["--harness", "codex", "--worktree", "cx", proj.to_str().unwrap()]);
    assert_code(&o, 0);
    eprintln!("codex launch --worktree: {:?}", started.elapsed());
    let o = csd(
        "csd-send",
        &["--converse", "cx", "Commit it.\nrun: echo c > c.txt && git add c.txt && git commit -qm c", "60"],
    );
    assert_code(&o, 0);
    let wt = proj.join(".git/csd/worktrees/cx");
    assert_eq!(git_in(&env, &proj, &["log", "--format=%s", "csd/cx"]), "c\nfirst\n");
    assert_eq!(git_in(&env, &proj, &["status", "--porcelain"]), "");
    let row: serde_json::Value = serde_json::from_str(&stdout(&csd("csd-status", &["--json", "cx"]))).unwrap();
    assert_eq!(row["cwd"], wt.display().to_string());
    assert_eq!((row["worktree"]["ahead"].as_u64(), row["worktree"]["uncommitted"].as_u64()), (Some(1), Some(0)));
    git_in(&env, &proj, &["merge", "-q", "--ff-only", "csd/cx"]);
    let o = csd("csd-stop", &["cx"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("Removed its worktree"), "{}", stdout(&o));
    assert!(!wt.exists());
}
