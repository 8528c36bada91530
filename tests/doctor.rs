//! csd-doctor against the four real pinned CLIs (inside a loopback-only
//! network namespace), and against broken stand-ins that must fail naming
//! the right step; never touching the operator's HOME, never leaving a
//! process behind.
//!
//! A missing CLI fails the tests (run `npm install` in tests/e2e); they never skip.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn cli(name: &str) -> PathBuf {
    let p = repo().join("tests/e2e/node_modules/.bin").join(name);
    assert!(p.exists(), "the real {name} CLI is missing at {}: run `npm install` in tests/e2e", p.display());
    p
}

/// An operator's HOME with a setup of their own, which the doctor must not touch.
fn operator_home(env: &TestEnv) {
    let h = &env.home;
    for (f, data) in [
        (".claude.json", "{\"hasCompletedOnboarding\":true,\"mine\":1}"),
        (".claude/settings.json", "{\"model\":\"mine\"}"),
        (".codex/config.toml", "model = \"mine\"\n"),
        (".pi/agent/settings.json", "{\"mine\":true}"),
        (".qwen/settings.json", "{\"model\":{\"name\":\"mine\"}}"),
        (".gemini/settings.json", "{\"model\":{\"name\":\"mine\"}}"),
        (".copilot/settings.json", "{\"model\":\"mine\"}"),
        (".config/some/file", "x"),
    ] {
        let p = h.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

/// Every entry under `dir` with its content's checksum (and a directory
/// marked as such): what "untouched" is checked against.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.insert(p.clone(), "dir".into());
                todo.push(p);
            } else {
                let data = std::fs::read(&p).unwrap_or_default();
                let sum = data.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
                let mtime = meta.modified().ok().map(|t| format!("{t:?}")).unwrap_or_default();
                out.insert(p, format!("{sum:016x} {} {mtime}", data.len()));
            }
        }
    }
    out
}

/// Processes (other than this one) whose environment mentions `needle`.
fn processes_with_env(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        if pid == std::process::id() as i32 || !pid_alive(pid) {
            continue;
        }
        let Ok(environ) = std::fs::read(e.path().join("environ")) else { continue };
        if String::from_utf8_lossy(&environ).contains(needle) {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            found.push(format!("{pid}: {}", String::from_utf8_lossy(&cmd).replace('\0', " ")));
        }
    }
    found
}

/// csd-doctor in this world: the test's HOME as the operator's, its own
/// TMPDIR (so what the doctor leaves there shows), the harness binaries given.
fn doctor(env: &TestEnv, bins: &[(&str, &Path)], args: &[&str], extra: &[(&str, &str)]) -> (Output, Value) {
    let tmpdir = env.path().join("tmp");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let mut c = Command::new(bin("csd-doctor"));
    c.args(args)
        .env("HOME", &env.home)
        .env("TMPDIR", &tmpdir)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env_remove("TMUX")
        .env_remove("CSD_WORKER_DIR")
        .env_remove("CSD_TMUX_SOCKET")
        .stdin(std::process::Stdio::null());
    for var in ["CSD_CLAUDE_BIN", "CSD_CODEX_BIN", "CSD_PI_BIN", "CSD_QWEN_BIN", "CSD_GEMINI_BIN", "CSD_COPILOT_BIN"] {
        c.env_remove(var);
    }
    for (var, path) in bins {
        c.env(var, path);
    }
    for (k, v) in extra {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, doc)
}

fn row<'a>(doc: &'a Value, harness: &str) -> &'a Value {
    doc["harnesses"].as_array().unwrap().iter().find(|r| r["harness"] == harness).unwrap()
}

/// The doctor's tests take turns: each asserts that no process it started
/// outlives it, which another test's doctor, running beside it in this
/// process, would seem to break.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn assert_left_nothing(env: &TestEnv) {
    let tmpdir = env.path().join("tmp");
    let left: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "the doctor left {left:?} in its TMPDIR");
    let procs = processes_with_env(tmpdir.to_str().unwrap());
    assert!(procs.is_empty(), "processes of the doctor's workers still run: {procs:?}");
    // This test's own: the two tests of this file run side by side in one
    // process, and the other's doctor (four CLIs, about 15 s) is a
    // descendant too.
    let world = env.path().to_string_lossy().into_owned();
    let of_this_test = |p: &i32| {
        std::fs::read(format!("/proc/{p}/environ")).is_ok_and(|e| String::from_utf8_lossy(&e).contains(&world))
    };
    let mine = descendants(std::process::id() as i32);
    let alive: Vec<i32> = mine.into_iter().filter(|p| pid_alive(*p) && of_this_test(p)).collect();
    assert!(alive.is_empty(), "descendants of the test still run: {alive:?}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (the pinned CLIs, a network namespace: root): make test")]
fn doctor_passes_against_every_pinned_cli_and_touches_nothing() {
    let _turn = one_at_a_time();
    let (claude, codex, pi, qwen, gemini, copilot) =
        (cli("claude"), cli("codex"), cli("pi"), cli("qwen"), cli("gemini"), cli("copilot"));
    isolate_network();
    let env = TestEnv::new();
    operator_home(&env);
    let before = snapshot(&env.home);
    let started = Instant::now();
    let bins = [
        ("CSD_CLAUDE_BIN", claude.as_path()),
        ("CSD_CODEX_BIN", codex.as_path()),
        ("CSD_PI_BIN", pi.as_path()),
        ("CSD_QWEN_BIN", qwen.as_path()),
        ("CSD_GEMINI_BIN", gemini.as_path()),
        ("CSD_COPILOT_BIN", copilot.as_path()),
    ];
    let (out, doc) = doctor(&env, &bins, &["--json"], &[]);
    let took = started.elapsed();
    eprintln!("csd-doctor, six harnesses side by side: {took:?}\n{}", stdout(&out));
    assert_code(&out, 0);
    assert_eq!(doc["ok"], true, "{doc:#}");
    for (h, version) in [
        ("claude", "2.1.197"),
        ("codex", "0.169."),
        ("pi", "0.73."),
        ("qwen", "0.24."),
        ("gemini", "0.61."),
        ("copilot", "1.0."),
    ] {
        let r = row(&doc, h);
        assert_eq!(r["result"], "ok", "{r:#}");
        assert!(r["version"].as_str().unwrap().starts_with(version), "{r:#}");
        assert_eq!(r["warning"], Value::Null, "{r:#}");
        let steps: Vec<&str> = r["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
        assert_eq!(steps, ["launch", "prompt", "turn_end", "read_turn", "events", "stop"], "{r:#}");
        assert!(r["steps"].as_array().unwrap().iter().all(|s| s["ok"] == true), "{r:#}");
    }
    // Qwen Code 0.24.4 alone takes about 10 s to start on two shared cores,
    // Gemini CLI 0.61.0 up to 15 s under load; Copilot CLI 1.0.102 about 7 s,
    // its package (~235 MB) unpacked into the doctor's world first.
    assert!(took < Duration::from_secs(45), "the doctor took {took:?} (over 45 s)");
    assert_eq!(snapshot(&env.home), before, "the operator's HOME changed");
    assert_left_nothing(&env);

    // The rows, for a human: a header and one line per harness.
    let (out, _) = doctor(&env, &bins[..1], &["--harness", "claude"], &[]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("HARNESS\tVERSION\tRESULT\t"), "{text}");
    assert!(text.lines().any(|l| l.starts_with("claude\t2.1.197\tok\t")), "{text}");
    assert_eq!(snapshot(&env.home), before, "the operator's HOME changed");
    assert_left_nothing(&env);
}

fn script(env: &TestEnv, name: &str, body: &str) -> PathBuf {
    let p = env.path().join(name);
    std::fs::write(&p, body).unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

#[test]
fn doctor_fails_naming_the_step_a_broken_harness_breaks() {
    let _turn = one_at_a_time();
    let env = TestEnv::new();
    operator_home(&env);
    let before = snapshot(&env.home);
    // Exits at once (as a broken install would).
    let dead = script(&env, "dead-codex", "#!/bin/sh\necho 'codex: cannot start' >&2\nexit 1\n");
    // Draws a start-up screen csd does not know, and waits there.
    let screen = script(
        &env,
        "odd-pi",
        "#!/bin/sh\n[ \"$1\" = --version ] && { echo 0.73.1; exit 0; }\nclear\n\
         echo 'Welcome to a new start-up screen. Pick a destiny:'\necho '  1. red   2. blue'\nexec sleep 600\n",
    );
    // Starts and takes prompts, but never fires its turn end.
    let hangs = script(
        &env,
        "hanging-claude",
        &format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo '2.1.197 (Claude Code)'; exit 0; }}\nexec python3 {} \"$@\" --fake-hang-all\n",
            repo().join("tests/fake/fake_claude.py").display()
        ),
    );
    let started = Instant::now();
    let bins =
        [("CSD_CLAUDE_BIN", hangs.as_path()), ("CSD_CODEX_BIN", dead.as_path()), ("CSD_PI_BIN", screen.as_path())];
    let (out, doc) = doctor(&env, &bins, &["--json", "--keep"], &[("CSD_DOCTOR_TIMEOUT", "4")]);
    eprintln!("broken harnesses: {:?}\n{}{}", started.elapsed(), stdout(&out), stderr(&out));
    assert_code(&out, 1);
    assert_eq!(doc["ok"], false);
    let failed = |h: &str| row(&doc, h)["failed_step"].as_str().unwrap_or("-").to_string();
    assert_eq!(failed("codex"), "launch", "{doc:#}");
    assert_eq!(failed("pi"), "launch", "{doc:#}");
    assert_eq!(failed("claude"), "turn_end", "{doc:#}");
    for h in ["claude", "codex", "pi"] {
        assert_eq!(row(&doc, h)["result"], "FAIL", "{doc:#}");
    }
    // The unknown screen is shown in the failure.
    let pi_launch = &row(&doc, "pi")["steps"][0]["detail"];
    assert!(pi_launch.as_str().unwrap().contains("Pick a destiny"), "{pi_launch}");
    // An unproven version is a warning; one that cannot be read, too.
    assert!(row(&doc, "codex")["warning"].as_str().unwrap().contains("version unknown"), "{doc:#}");
    // --keep: the hanging worker's pane, events and transcript, in a printed directory.
    let kept = PathBuf::from(row(&doc, "claude")["kept"].as_str().unwrap());
    let pane = std::fs::read_to_string(kept.join("pane.txt")).unwrap();
    assert!(pane.contains("csd doctor check."), "{pane}");
    let events = std::fs::read_to_string(kept.join("events.jsonl")).unwrap();
    assert!(events.contains("user_prompt_submit") && !events.contains("\"stop\""), "{events}");
    assert!(kept.join("transcript.jsonl").is_file() || kept.join("meta.json").is_file());
    std::fs::remove_dir_all(&kept).unwrap();
    for h in ["codex", "pi"] {
        if let Some(k) = row(&doc, h)["kept"].as_str() {
            std::fs::remove_dir_all(k).unwrap();
        }
    }
    assert_eq!(snapshot(&env.home), before, "the operator's HOME changed");
    assert_left_nothing(&env);

    // Nothing installed: each row says so, and the doctor fails naming what
    // to install (nothing is proven; issue 18).
    let (out, doc) = doctor(&env, &[], &["--json"], &[]);
    assert_code(&out, 1);
    assert_eq!(row(&doc, "pi")["result"], "not installed", "{doc:#}");
    assert!(doc["error"].as_str().unwrap().starts_with("no harness CLI is installed: install Claude Code"), "{doc:#}");
    let (out, doc) = doctor(&env, &[("CSD_PI_BIN", Path::new("/nonexistent/pi"))], &["--json", "--harness", "pi"], &[]);
    assert_code(&out, 1);
    assert_eq!(row(&doc, "pi")["result"], "FAIL", "{doc:#}");
    assert_eq!(doc["harnesses"].as_array().unwrap().len(), 1);
    assert_eq!(snapshot(&env.home), before, "the operator's HOME changed");
    assert_left_nothing(&env);
}
