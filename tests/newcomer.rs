//! A newcomer's first hour (issue 18): the README's own commands, taken from
//! its text, in a fresh copy of the repository with a fresh HOME; the plugin
//! as the real Claude Code CLI installs it; the small things a user expects
//! (doctor with no harness, `csd stop NAME`, the version, the licence).
//!
//! The fresh copy is every file git tracks (or would: new, not ignored), as a
//! clone would have it, taken from the work tree so a change is tested before
//! it is committed. Its release build reuses a target dir kept under cargo's
//! (`CARGO_TARGET_TMPDIR/newcomer-build`), with optimisation off through
//! cargo's own environment knobs: a cold optimised build takes minutes here,
//! and what is tested is the README's commands, not the optimiser.

mod common;

use common::*;
use csd::mock::anthropic::{self, Config, MockAnthropic};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The first ```sh block of the README, its lines without their comments.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let block = readme.split("```sh\n").nth(1).expect("README has an sh block").split("```").next().unwrap();
    block.lines().map(|l| l.split(" #").next().unwrap().trim().to_string()).filter(|l| !l.is_empty()).collect()
}

fn readme_command(starting: &str) -> String {
    let all = readme_commands();
    all.iter().find(|c| c.starts_with(starting)).unwrap_or_else(|| panic!("no '{starting}' line in {all:?}")).clone()
}

/// Every file a clone would have, copied from the work tree into `dest`.
fn fresh_copy(dest: &Path) {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo())
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .output()
        .unwrap();
    assert_code(&out, 0);
    for name in out.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let from = repo().join(name);
        // A tracked file deleted in the work tree is not in the copy either.
        let Ok(meta) = std::fs::symlink_metadata(&from) else { continue };
        let to = dest.join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &to).unwrap();
        } else {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    assert!(!dest.join("tests/e2e/node_modules").exists() && !dest.join("target").exists());
}

/// A PATH as a fresh login has it, with cargo's directory (rustup's proxies)
/// and nothing of csd's.
fn fresh_path() -> String {
    let cargo = which("cargo").expect("cargo on PATH");
    format!("{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", cargo.parent().unwrap().display())
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(cmd)).find(|c| c.is_file()))
        .unwrap_or(None)
}

/// `bash -c LINE` in `dir` as a new user types it: a fresh HOME, a plain
/// PATH, rustup's and cargo's homes where they are (HOME moved away from them).
fn as_newcomer(dir: &Path, home: &Path, line: &str, extra: &[(&str, &str)]) -> Output {
    let real_home = PathBuf::from(std::env::var_os("HOME").unwrap());
    let mut c = Command::new("bash");
    c.args(["-c", line]).current_dir(dir).env_clear();
    c.env("HOME", home).env("PATH", fresh_path()).env("USER", "root").env("LANG", "C.UTF-8");
    c.env("RUSTUP_HOME", std::env::var_os("RUSTUP_HOME").unwrap_or_else(|| real_home.join(".rustup").into()));
    c.env("CARGO_HOME", std::env::var_os("CARGO_HOME").unwrap_or_else(|| real_home.join(".cargo").into()));
    c.envs(extra.iter().copied()).stdin(Stdio::null());
    c.output().unwrap()
}

/// The README's first command, as written, in a fresh copy with a fresh HOME:
/// it builds, installs under ~/.local and runs csd, with nothing else typed;
/// and it says that ~/.local/bin is not on PATH.
#[test]
fn readme_install_command_installs_and_runs_csd_in_a_fresh_copy() {
    let line = readme_command("make install");
    let env = TestEnv::new();
    let (copy, home) = (env.path().join("csd"), env.home.clone());
    fresh_copy(&copy);
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("newcomer-build");
    let fast = [
        ("CARGO_TARGET_DIR", target.to_str().unwrap()),
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "0"),
        ("CARGO_PROFILE_RELEASE_LTO", "false"),
        ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
        ("CARGO_NET_OFFLINE", "true"),
    ];
    let out = as_newcomer(&copy, &home, &line, &fast);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("csd-launch"), "`{line}` did not run csd help:\n{}", stdout(&out));
    let local = home.join(".local");
    assert!(stderr(&out).contains(&format!("{}/bin is not on your PATH", local.display())), "{}", stderr(&out));
    for f in [
        "bin/csd",
        "bin/csd-hook",
        "bin/csd-doctor",
        "bin/csd-mcp",
        "share/man/man1/csd-wait.1",
        "share/bash-completion/completions/csd-send",
        "share/zsh/site-functions/_csd",
        "share/fish/vendor_completions.d/csd.fish",
        "share/csd/plugin/.claude-plugin/marketplace.json",
        "share/csd/plugin/skills/driving-claude-code-sessions/SKILL.md",
    ] {
        assert!(local.join(f).is_file(), "{f} not installed");
    }
    for runner in ["hooks/run-csd-hook", "mcp/run-csd-mcp"] {
        let runner = std::fs::read_to_string(local.join("share/csd/plugin").join(runner)).unwrap();
        assert!(runner.contains(&format!("\nbindir='{}/bin'\n", local.display())), "{runner}");
    }
    // The README's own words for what to do about PATH work as written.
    let on_path = as_newcomer(&copy, &home, "export PATH=\"$HOME/.local/bin:$PATH\" && csd --version", &[]);
    assert_code(&on_path, 0);
    assert!(stdout(&on_path).starts_with("csd 0."), "{}", stdout(&on_path));
}

/// The README's test command is what CI runs; in a fresh copy it checks its
/// prerequisites first and stops at once, naming every missing package in one
/// line, before cargo builds anything; it installs the pinned CLIs itself.
#[test]
fn readme_test_command_is_cis_and_stops_at_once_naming_what_is_missing() {
    let line = readme_command("make test");
    assert_eq!(line, "make test");
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    assert!(ci.contains("/make test/") && ci.contains("bash -c \"$cmd\""), ".ci/run does not run the README's line");

    let env = TestEnv::new();
    let copy = env.path().join("csd");
    fresh_copy(&copy);
    // What `make test` will do in a fresh copy: the prerequisites, npm install from the lock.
    let plan = as_newcomer(&copy, &env.home, "make -n test", &[]);
    assert_code(&plan, 0);
    let plan = stdout(&plan);
    let order: Vec<usize> = [".ci/prereqs", "npm install --no-audit --no-fund --no-save", "cargo test --locked"]
        .iter()
        .map(|s| plan.find(s).unwrap_or_else(|| panic!("`make test` would not run {s}:\n{plan}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{plan}");

    // A machine without fish, zsh, groff and tmux (a PATH without them):
    let bare = env.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    for cmd in ["bash", "make", "awk", "sort", "head", "id", "printf", "env", "cargo", "rustc", "node", "npm", "sh"] {
        let real = which(cmd).unwrap_or_else(|| panic!("{cmd} not on PATH"));
        std::os::unix::fs::symlink(real, bare.join(cmd)).unwrap();
    }
    let started = Instant::now();
    let out =
        as_newcomer(&copy, &env.home, &line, &[("PATH", bare.to_str().unwrap()), ("CSD_PREREQS_NO_INSTALL", "1")]);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    let missing: Vec<&str> = err.lines().filter(|l| l.starts_with("make test: missing ")).collect();
    assert_eq!(missing.len(), 1, "{err}");
    for pkg in ["tmux", "iproute2", "groff-base", "python3", "fish", "zsh", "openssh-client", "git"] {
        assert!(missing[0].contains(pkg), "{pkg} not named: {}", missing[0]);
    }
    assert!(!stdout(&out).contains("Compiling") && !err.contains("Compiling"), "cargo ran:\n{err}");
}

/// With no harness CLI anywhere, doctor is not "ok": exit 1 and one line
/// naming what to install, Claude Code first.
#[test]
fn doctor_with_no_harness_installed_fails_naming_what_to_install() {
    let env = TestEnv::new();
    for args in [&["doctor"][..], &["doctor", "--json"][..]] {
        let out = Command::new(bin("csd"))
            .args(args)
            .env_clear()
            .env("HOME", &env.home)
            .env("PATH", "/usr/bin:/bin")
            .env("CSD_WORKER_DIR", &env.worker_dir)
            .output()
            .unwrap();
        assert_code(&out, 1);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("csd-doctor: no harness CLI is installed: install Claude Code (npm install -g"),
            "{err}"
        );
        if args.len() == 1 {
            assert!(stdout(&out).lines().last().unwrap().starts_with("FAIL"), "{}", stdout(&out));
        } else {
            let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
            assert_eq!(doc["ok"], false);
        }
    }
}

/// `csd stop r1` reads as naming a worker: the error gives the two forms that do.
#[test]
fn csd_stop_name_names_the_forms_that_take_a_worker() {
    let env = TestEnv::new();
    for (args, forms) in [
        (&["stop", "r1"][..], ["csd --worker r1 stop", "or csd-stop r1"]),
        (&["handoff", "r1"][..], ["csd --worker r1 handoff", "or csd-stop --handoff r1"]),
        (&["read-turn"][..], ["csd --worker NAME read-turn", "or csd-turn NAME"]),
    ] {
        let out = env.run("csd", args);
        assert_code(&out, 2);
        for f in forms {
            assert!(stderr(&out).contains(f), "{args:?}: {}", stderr(&out));
        }
    }
}

/// `--version` names the commit; the version is one across Cargo.toml and
/// the plugin's manifests; the licence the manifests name is there.
#[test]
fn version_names_the_commit_and_the_manifests_agree() {
    let head = Command::new("git").arg("-C").arg(repo()).args(["rev-parse", "--short=12", "HEAD"]).output().unwrap();
    let head = stdout(&head).trim().to_string();
    let out = Command::new(bin("csd-wait")).arg("--version").output().unwrap();
    assert_eq!(stdout(&out), format!("csd-wait {} (commit {head})\n", env!("CARGO_PKG_VERSION")));
    let json =
        |p: &str| -> serde_json::Value { serde_json::from_slice(&std::fs::read(repo().join(p)).unwrap()).unwrap() };
    assert_eq!(json("plugin/.claude-plugin/plugin.json")["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json(".claude-plugin/marketplace.json")["plugins"][0]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json(".claude-plugin/marketplace.json")["plugins"][0]["source"], "./plugin");
    assert_eq!(json("plugin/.claude-plugin/plugin.json")["license"], "MIT");
    assert!(std::fs::read_to_string(repo().join("LICENSE")).unwrap().starts_with("MIT License\n"));
    let changelog = std::fs::read_to_string(repo().join("CHANGELOG.md")).unwrap();
    assert!(changelog.contains(&format!("({})", env!("CARGO_PKG_VERSION"))), "CHANGELOG has no entry for this version");
}

/// The plugin's hook runner with no csd-hook anywhere: on SessionStart one
/// line saying so and how to install csd, nothing on other events, exit 0
/// always; with csd-hook where `make install` put it, the event reaches it.
#[test]
fn hook_runner_without_csd_says_so_and_never_fails() {
    let env = TestEnv::new();
    let runner = repo().join("plugin/hooks/run-csd-hook");
    let run = |runner: &Path, event: &str, cwd: &Path| {
        let mut c = Command::new(runner);
        c.arg(event).current_dir(cwd).env_clear().env("PATH", "/usr/bin:/bin").env("HOME", &env.home);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        // The runner may answer and exit before it reads its stdin: a closed pipe is no failure here.
        let _ = child.stdin.take().unwrap().write_all(br#"{"hook_event_name":"x"}"#);
        child.wait_with_output().unwrap()
    };
    let said = run(&runner, "SessionStart", env.path());
    assert_code(&said, 0);
    assert_eq!(stdout(&said).lines().count(), 1, "{}", stdout(&said));
    assert!(stdout(&said).starts_with("csd: csd-hook is not installed"), "{}", stdout(&said));
    assert!(stdout(&said).contains("make install PREFIX=~/.local") && stdout(&said).contains("./install.sh --prefix"));
    for event in ["UserPromptSubmit", "PreToolUse", "Stop", "SessionEnd"] {
        let quiet = run(&runner, event, env.path());
        assert_code(&quiet, 0);
        assert_eq!(stdout(&quiet), "", "{event}");
    }

    // Installed: a csd-hook in bindir (a stand-in that records its stdin),
    // not on PATH. A relative bindir is never taken (the session's cwd could
    // plant one).
    let bindir = env.path().join("inst/bin");
    std::fs::create_dir_all(&bindir).unwrap();
    let got = env.path().join("got");
    let fake = format!("#!/bin/sh\ncat > '{}'\n", got.display());
    for (dir, bindir_line) in [(env.path().join("rel"), "bindir='inst/bin'"), (env.path().join("abs"), "")] {
        std::fs::create_dir_all(&dir).unwrap();
        let line = if bindir_line.is_empty() { format!("bindir='{}'", bindir.display()) } else { bindir_line.into() };
        let text = std::fs::read_to_string(&runner).unwrap().replacen("\nbindir=\n", &format!("\n{line}\n"), 1);
        assert!(text.contains(&line));
        let installed = dir.join("run-csd-hook");
        std::fs::write(&installed, text).unwrap();
        std::fs::set_permissions(&installed, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::fs::write(bindir.join("csd-hook"), &fake).unwrap();
        std::fs::set_permissions(bindir.join("csd-hook"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let out = run(&installed, "Stop", env.path());
        assert_code(&out, 0);
        if bindir_line.is_empty() {
            assert_eq!(std::fs::read_to_string(&got).unwrap(), r#"{"hook_event_name":"x"}"#);
            // Found, but csd is not on PATH: the session is told where it is.
            let start = run(&installed, "SessionStart", env.path());
            assert!(
                stdout(&start).contains(&format!("csd is installed in {}", bindir.display())),
                "{}",
                stdout(&start)
            );
        } else {
            assert!(!got.exists(), "a relative bindir was used");
            assert!(stdout(&run(&installed, "SessionStart", env.path())).starts_with("csd: csd-hook is not installed"));
        }
    }
}

fn claude_cli() -> PathBuf {
    let cli = repo().join("tests/e2e/node_modules/.bin/claude");
    assert!(cli.exists(), "the real Claude Code CLI is missing at {}: run `npm install` in tests/e2e", cli.display());
    cli
}

fn du(dir: &Path) -> u64 {
    files_under(dir).iter().filter_map(|f| std::fs::symlink_metadata(f).ok()).map(|m| m.len()).sum()
}

/// The real Claude Code CLI installs the plugin from a checkout holding a
/// build and the pinned CLIs: only plugin/ reaches its cache; a session with
/// no csd-hook is told so (the SessionStart line reaches the model); after
/// uninstall and marketplace remove, only Claude Code's marked-orphan copy of
/// those few kB stays, for Claude Code to sweep.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (the pinned Claude Code): make test")]
fn plugin_from_a_checkout_is_only_the_plugin_and_says_csd_is_missing() {
    let cli = claude_cli();
    isolate_network();
    let env = TestEnv::new();
    let copy = env.path().join("csd");
    fresh_copy(&copy);
    // What a developer's checkout holds beside the sources.
    for junk in ["target/release/big", "tests/e2e/node_modules/big/index.js"] {
        std::fs::create_dir_all(copy.join(junk).parent().unwrap()).unwrap();
        std::fs::write(copy.join(junk), vec![0u8; 4 << 20]).unwrap();
    }
    let mock = MockAnthropic::start(Config::claude());
    std::fs::write(
        env.home.join(".claude.json"),
        csd::harness::claude::selftest::home_config(anthropic::API_KEY).to_string(),
    )
    .unwrap();
    let claude = |args: &[&str], cwd: &Path| {
        let mut c = Command::new(&cli);
        c.args(args).current_dir(cwd).env("HOME", &env.home).env("PATH", "/usr/local/bin:/usr/bin:/bin");
        c.env("ANTHROPIC_BASE_URL", mock.base_url()).env("ANTHROPIC_API_KEY", anthropic::API_KEY);
        for switch in csd::harness::claude::selftest::SWITCHES {
            c.env(switch, "1");
        }
        let out = c.stdin(Stdio::null()).output().unwrap();
        assert_code(&out, 0);
        stdout(&out)
    };
    claude(&["plugin", "marketplace", "add", copy.to_str().unwrap()], env.path());
    claude(&["plugin", "install", "csd@csd"], env.path());
    let plugins = env.home.join(".claude/plugins");
    let cache = plugins.join("cache");
    let installed: Vec<PathBuf> = files_under(&cache);
    assert!(installed.iter().any(|f| f.ends_with("hooks/run-csd-hook")), "{installed:?}");
    assert!(installed.iter().any(|f| f.ends_with("driving-claude-code-sessions/SKILL.md")), "{installed:?}");
    for f in &installed {
        let s = f.to_string_lossy();
        assert!(!s.contains("/target/") && !s.contains("node_modules") && !s.ends_with("Cargo.toml"), "{s}");
    }
    assert!(du(&cache) < 200 << 10, "the installed plugin is {} bytes", du(&cache));

    // A session with the plugin and no csd: the model is told csd is missing.
    let project = env.path().join("proj");
    std::fs::create_dir(&project).unwrap();
    let reply = claude(&["-p", "say: hello"], &project);
    assert_eq!(reply.trim(), "hello");
    let told = mock.requests().iter().any(|r| r.body.to_string().contains("csd-hook is not installed"));
    assert!(told, "no request carried the plugin's SessionStart line");

    let size = du(&cache);
    claude(&["plugin", "uninstall", "csd@csd"], env.path());
    claude(&["plugin", "marketplace", "remove", "csd"], env.path());
    // Claude Code 2.1.197 keeps the uninstalled copy, marked `.orphaned_at`,
    // for its own later sweep: what stays is the plugin alone, nothing more.
    let installed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(plugins.join("installed_plugins.json")).unwrap()).unwrap();
    assert_eq!(installed["plugins"], serde_json::json!({}), "{installed}");
    let left = files_under(&cache);
    assert!(left.iter().any(|f| f.ends_with(".orphaned_at")), "{left:?}");
    assert!(du(&cache) < size + 100, "{left:?}");
}

/// `make dist` in a fresh copy: one archive, its checksum printed, static
/// binaries; unpacked where Rust is not on PATH, `./install.sh --prefix`
/// installs without root, `csd doctor` proves the real Claude Code through
/// the installed binaries (a real worker launched, driven and stopped), and
/// `--uninstall` takes it all away again.
#[test]
#[cfg_attr(
    not(feature = "e2e"),
    ignore = "the e2e tier (the pinned Claude Code, a network namespace: root): make test"
)]
fn dist_archive_installs_and_runs_without_rust() {
    let cli = claude_cli();
    let env = TestEnv::new();
    let copy = env.path().join("csd");
    fresh_copy(&copy);
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("newcomer-build");
    let fast = [
        ("CARGO_TARGET_DIR", target.to_str().unwrap()),
        ("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1"),
        ("CARGO_PROFILE_RELEASE_LTO", "false"),
        ("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
        ("CARGO_NET_OFFLINE", "true"),
    ];
    let out = as_newcomer(&copy, &env.home, "make dist", &fast);
    assert_code(&out, 0);
    let name = format!("csd-{}-x86_64-linux", env!("CARGO_PKG_VERSION"));
    let archive = copy.join("dist").join(format!("{name}.tar.gz"));
    let sum = Command::new("sha256sum").arg(&archive).output().unwrap();
    let sum = stdout(&sum).split_whitespace().next().unwrap().to_string();
    assert!(stdout(&out).contains(&format!("{sum}  {name}.tar.gz")), "checksum not printed:\n{}", stdout(&out));
    let size = std::fs::metadata(&archive).unwrap().len();
    assert!(size < 20 << 20, "archive is {size} bytes");

    let unpacked = env.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    assert_code(&Command::new("tar").arg("-C").arg(&unpacked).arg("-xzf").arg(&archive).output().unwrap(), 0);
    let root = unpacked.join(&name);
    for f in ["install.sh", "LICENSE", "CHANGELOG.md", "man/csd.1", "completions/_csd", "plugin/hooks/run-csd-hook"] {
        assert!(root.join(f).is_file(), "{f} not in the archive");
    }
    for b in ["csd", "csd-hook", "csd-launch", "csd-doctor"] {
        let ldd = Command::new("ldd").arg(root.join("bin").join(b)).output().unwrap();
        let said = format!("{}{}", stdout(&ldd), stderr(&ldd));
        assert!(said.contains("statically linked") || said.contains("not a dynamic executable"), "{b}: {said}");
    }

    // A user without Rust: a PATH with no cargo, a fresh HOME, not root's tools.
    let home = env.path().join("user");
    std::fs::create_dir(&home).unwrap();
    let plain = |program: &Path, args: &[&str], extra: &[(&str, &Path)]| {
        let mut c = Command::new(program);
        c.args(args).current_dir(&root).env_clear().env("HOME", &home).env("PATH", "/usr/bin:/bin");
        for (k, v) in extra {
            c.env(k, v);
        }
        c.stdin(Stdio::null()).output().unwrap()
    };
    assert!(!plain(Path::new("/bin/sh"), &["-c", "command -v cargo || command -v rustc"], &[]).status.success());
    let out = plain(&root.join("install.sh"), &["--prefix", "~/.local"], &[]);
    assert_code(&out, 2);
    let prefix = home.join(".local");
    let out = plain(&root.join("install.sh"), &["--prefix", prefix.to_str().unwrap()], &[]);
    assert_code(&out, 0);
    assert!(stderr(&out).contains("is not on your PATH"), "{}", stderr(&out));
    let runner = std::fs::read_to_string(prefix.join("share/csd/plugin/hooks/run-csd-hook")).unwrap();
    assert!(runner.contains(&format!("\nbindir='{}/bin'\n", prefix.display())), "{runner}");

    isolate_network();
    let csd = prefix.join("bin/csd");
    let out = plain(&csd, &["doctor", "--harness", "claude"], &[("CSD_CLAUDE_BIN", &cli)]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("claude\t2.1.197\tok"), "{}", stdout(&out));

    let out = plain(&root.join("install.sh"), &["--prefix", prefix.to_str().unwrap(), "--uninstall"], &[]);
    assert_code(&out, 0);
    let left: Vec<PathBuf> = files_under(&prefix).into_iter().filter(|f| f.to_string_lossy().contains("csd")).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The README's notification example, as written (`notify-send` a stand-in
/// that records its message): a turn that ended before it started is not
/// announced (`--last 0`), a turn that ends after is, once.
#[test]
fn readme_notify_example_announces_only_new_turn_ends() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let line = readme.lines().find(|l| l.contains("notify-send")).expect("the README's notify example").to_string();
    assert!(line.contains("--last 0 --follow"), "{line}");
    let env = TestEnv::new();
    let sid = "0b7c3f52-9d4e-4a61-8a2b-5c8f7e1d2a90";
    env.fake_worker("n1", sid, &["sleep", "600"]);
    let stop = |ts: &str| format!("{{\"event\":\"stop\",\"ts\":\"{ts}\"}}\n");
    std::fs::write(env.events_path(sid), stop("2026-01-01T00:00:00Z")).unwrap();
    let fakes = env.path().join("fakes");
    std::fs::create_dir(&fakes).unwrap();
    let said = env.path().join("said");
    std::fs::write(fakes.join("notify-send"), format!("#!/bin/sh\nprintf '%s\\n' \"$2\" >> '{}'\n", said.display()))
        .unwrap();
    std::fs::set_permissions(fakes.join("notify-send"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut c = Command::new("bash");
    c.args(["-c", &line]);
    env.apply_env(&mut c);
    c.env("PATH", format!("{}:{}:/usr/bin:/bin", bin_dir().display(), fakes.display()));
    std::os::unix::process::CommandExt::process_group(&mut c, 0);
    let mut child = c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let reap = KillOnDrop(Some(child.id() as i32));
    std::thread::sleep(Duration::from_millis(800));
    assert!(!said.exists(), "a past turn was announced: {}", std::fs::read_to_string(&said).unwrap());
    let mut log = std::fs::OpenOptions::new().append(true).open(env.events_path(sid)).unwrap();
    std::io::Write::write_all(&mut log, stop("2026-01-01T00:00:05Z").as_bytes()).unwrap();
    let got = eventually(Duration::from_secs(10), || std::fs::read_to_string(&said).ok().filter(|s| !s.is_empty()));
    let got = got.expect("the new turn end was not announced");
    std::thread::sleep(Duration::from_millis(300));
    let got = std::fs::read_to_string(&said).unwrap_or(got);
    assert_eq!(got.lines().count(), 1, "{got}");
    assert!(got.contains("00:00:05") && got.contains("\"worker\":\"n1\""), "{got}");
    drop(reap);
    child.wait().unwrap();
}
