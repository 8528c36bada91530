//! The Pi harness through the real csd binaries, with a fake pi
//! (tests/fixtures/fake-pi.cjs) that loads csd's real extension the way pi
//! does and drives it with pi's lifecycle: the registration window, what a
//! worker's agent dir holds, failures that leave nothing behind, and stop.

mod common;

use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

fn jiti() -> PathBuf {
    let p = repo().join("tests/e2e/node_modules/jiti/lib/jiti.cjs");
    assert!(p.is_file(), "jiti (Pi's extension loader) is missing at {}: run `npm install` in tests/e2e", p.display());
    p
}

struct World {
    env: TestEnv,
    project: PathBuf,
    record: PathBuf,
    operator: PathBuf,
}

fn world() -> World {
    let env = TestEnv::new();
    let project = env.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let operator = env.home.join(".pi/agent");
    std::fs::create_dir_all(operator.join("bin")).unwrap();
    std::fs::write(operator.join("auth.json"), r#"{"anthropic":{"type":"api_key","key":"sk-test"}}"#).unwrap();
    std::fs::set_permissions(operator.join("auth.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(operator.join("models.json"), "{\"providers\":{}}").unwrap();
    std::fs::write(operator.join("settings.json"), "{}").unwrap();
    std::fs::create_dir_all(operator.join("extensions")).unwrap();
    std::fs::write(operator.join("extensions/mine.ts"), "export default function () {}\n").unwrap();
    std::fs::write(operator.join("AGENTS.md"), "be brief\n").unwrap();
    let out = env.run_stdin("csd-launch", ["--grant-consent"], b"yes\n");
    assert_code(&out, 0);
    let record = env.path().join("fake-pi-record.json");
    World { env, project, record, operator }
}

fn csd(w: &World, bin: &str, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut c = w.env.cmd(bin);
    c.args(args)
        .env("CSD_PI_BIN", repo().join("tests/fixtures/fake-pi.cjs"))
        .env("CSD_PI_MODEL", "prov/model-x")
        .env("FAKE_PI_JITI", jiti())
        .env("FAKE_PI_RECORD", &w.record)
        .env_remove("PI_CODING_AGENT_DIR")
        .env_remove("PI_CODING_AGENT_SESSION_DIR")
        .env_remove("FAKE_PI_MODE")
        .env_remove("FAKE_PI_DELAY_MS");
    c.envs(extra.iter().copied());
    c.output().unwrap()
}

fn launch(w: &World, extra: &[(&str, &str)]) -> Output {
    csd(w, "csd-launch", &["--harness", "pi", "p1", w.project.to_str().unwrap()], extra)
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn launch_waits_out_the_registration_window_and_the_worker_works() {
    let w = world();
    let started = Instant::now();
    let out = launch(&w, &[("FAKE_PI_DELAY_MS", "800")]);
    assert_code(&out, 0);
    assert!(started.elapsed() >= Duration::from_millis(800), "ready before pi registered");
    assert!(stderr(&out).contains("harness:    pi"), "{}", stderr(&out));

    let record: Value = serde_json::from_slice(&std::fs::read(&w.record).unwrap()).unwrap();
    let home = w.env.worker_dir.join("homes/p1");
    let project = w.project.canonicalize().unwrap();
    let sessions =
        w.operator.join("sessions").join(format!("--{}--", &project.to_str().unwrap()[1..].replace('/', "-")));
    assert_eq!(
        record["argv"],
        json!(["--session-dir", sessions, "-e", home.join("csd-extension.ts"), "--model", "prov/model-x"])
    );
    assert_eq!(record["env"]["PI_CODING_AGENT_DIR"], home.to_str().unwrap());
    assert_eq!(record["env"]["PI_TELEMETRY"], "0");
    assert_eq!(record["env"]["PI_SKIP_VERSION_CHECK"], "1");
    assert_eq!(record["env"]["CSD_TMUX_NAME"], "p1");

    // The agent dir: the operator's files, private; their fd/rg shared by a link.
    assert_eq!(mode_of(&home), 0o700);
    for f in ["auth.json", "models.json", "settings.json", "csd-extension.ts"] {
        assert_eq!(mode_of(&home.join(f)), 0o600, "{f}");
    }
    assert_eq!(std::fs::read(home.join("auth.json")).unwrap(), std::fs::read(w.operator.join("auth.json")).unwrap());
    for shared in ["bin", "extensions", "AGENTS.md"] {
        assert_eq!(std::fs::read_link(home.join(shared)).unwrap(), w.operator.join(shared), "{shared}");
    }
    assert!(!home.join("skills").exists(), "only what the operator has is linked");

    let out = csd(&w, "csd-send", &["--converse", "p1", "hello there", "20"], &[]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "fake reply: hello there\n");
    assert_eq!(stdout(&csd(&w, "csd-status", &["p1"], &[])).trim(), "idle");
    let turn = csd(&w, "csd-turn", &["p1"], &[]);
    assert_eq!(stdout(&turn), "---\n\n**Prompt:** hello there\n\nfake reply: hello there\n\n");

    let out = csd(&w, "csd-stop", &["p1"], &[]);
    assert_code(&out, 0);
    assert!(!w.env.has_session("p1"));
    assert_eq!(files_under(&w.env.worker_dir), Vec::<PathBuf>::new());
    assert!(w.operator.join("bin").is_dir(), "stop must remove the link, not what it points at");
    assert!(w.operator.join("extensions/mine.ts").is_file() && w.operator.join("AGENTS.md").is_file());
    assert_eq!(files_under(&sessions).len(), 1, "the session file stays with the operator");
}

#[test]
fn a_pi_that_never_registers_times_out_and_leaves_nothing() {
    let w = world();
    let out = launch(&w, &[("FAKE_PI_MODE", "silent"), ("CSD_START_TIMEOUT_MS", "1500")]);
    assert_code(&out, 124);
    assert!(stderr(&out).contains("did not register"), "{}", stderr(&out));
    assert!(!w.env.has_session("p1"));
    assert_eq!(files_under(&w.env.worker_dir), Vec::<PathBuf>::new());
}

#[test]
fn a_pi_that_dies_at_start_says_so_and_leaves_nothing() {
    let w = world();
    let out = launch(&w, &[("FAKE_PI_MODE", "die")]);
    assert_code(&out, 1);
    assert!(stderr(&out).contains("pi exited before it was ready"), "{}", stderr(&out));
    assert!(stderr(&out).contains("fake pi: cannot start"), "the pane's last words: {}", stderr(&out));
    assert!(!w.env.has_session("p1"));
    assert_eq!(files_under(&w.env.worker_dir), Vec::<PathBuf>::new());
}

#[test]
fn without_the_operators_files_a_worker_still_starts() {
    let w = world();
    std::fs::remove_dir_all(&w.operator).unwrap();
    let out = launch(&w, &[]);
    assert_code(&out, 0);
    let home = w.env.worker_dir.join("homes/p1");
    assert!(!home.join("auth.json").exists() && !home.join("bin").exists());
    assert_code(&csd(&w, "csd-stop", &["p1"], &[]), 0);
    assert_eq!(files_under(&w.env.worker_dir), Vec::<PathBuf>::new());
}

#[test]
fn a_pi_that_registered_but_never_started_leaves_nothing_either() {
    // Registered (meta and log written by the extension), then no
    // session_start: launch gives up and must take back what Pi minted too.
    let w = world();
    let out = launch(&w, &[("FAKE_PI_MODE", "mute"), ("CSD_START_TIMEOUT_MS", "4000")]);
    assert_code(&out, 124);
    assert!(w.record.with_extension("json.registered").exists(), "the fake did not get to register in time");
    assert!(!w.env.has_session("p1"));
    assert_eq!(files_under(&w.env.worker_dir), Vec::<PathBuf>::new());
}
