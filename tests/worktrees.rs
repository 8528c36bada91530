//! `csd launch --worktree`: a git worktree per worker, made and removed by
//! real git, with the scripted fake Claude Code as the harness (its `bash:`
//! prompts run in the worker's cwd, as a Bash tool call would).

mod common;

use common::world::World;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A world whose project is a git repository with one commit on main.
fn repo_world() -> World {
    let w = World::new();
    std::fs::write(
        w.env.home.join(".gitconfig"),
        "[user]\n\tname = Test\n\temail = test@example.com\n[init]\n\tdefaultBranch = main\n",
    )
    .unwrap();
    git_ok(&w, &w.proj, &["init", "-q"]);
    std::fs::write(w.proj.join("README"), "hello\n").unwrap();
    git_ok(&w, &w.proj, &["add", "README"]);
    git_ok(&w, &w.proj, &["commit", "-qm", "first"]);
    w
}

fn git(w: &World, dir: &Path, args: &[&str]) -> Output {
    Command::new("git").arg("-C").arg(dir).args(args).env("HOME", &w.env.home).output().unwrap()
}

fn git_ok(w: &World, dir: &Path, args: &[&str]) -> String {
    let o = git(w, dir, args);
    assert!(o.status.success(), "git {args:?} in {}: {}", dir.display(), stderr(&o));
    stdout(&o)
}

fn launch_wt(w: &World, name: &str, opts: &[&str]) -> Output {
    w.cmd("csd-launch").arg("--worktree").args(opts).arg(name).arg(&w.proj).output().unwrap()
}

fn worktree_of(w: &World, name: &str) -> PathBuf {
    w.proj.join(".git/csd/worktrees").join(name)
}

fn converse(w: &World, name: &str, prompt: &str) {
    let o = w.send(&["--converse", name, prompt, "30"]);
    assert_code(&o, 0);
}

fn status_json(w: &World, name: &str) -> Value {
    let o = w.cmd("csd-status").args(["--json", name]).output().unwrap();
    assert_code(&o, 0);
    serde_json::from_str(&stdout(&o)).unwrap()
}

fn list_json(w: &World) -> Vec<Value> {
    let o = w.cmd("csd-status").args(["--list", "--json"]).output().unwrap();
    assert_code(&o, 0);
    serde_json::from_str::<Value>(&stdout(&o)).unwrap().as_array().unwrap().clone()
}

fn stop(w: &World, name: &str, extra: &[&str]) -> Output {
    let o = w.cmd("csd-stop").arg(name).args(extra).output().unwrap();
    assert_code(&o, 0);
    o
}

fn has_branch(w: &World, branch: &str) -> bool {
    git(w, &w.proj, &["show-ref", "--verify", "--quiet", &format!("refs/heads/{branch}")]).status.success()
}

/// The repository is sound and only the main checkout is a worktree.
fn assert_repo_clean(w: &World) {
    let fsck = git(w, &w.proj, &["fsck", "--no-progress"]);
    assert!(fsck.status.success() && stderr(&fsck).trim().is_empty(), "git fsck: {}", stderr(&fsck));
    let list = git_ok(w, &w.proj, &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 1, "worktrees left: {list}");
}

#[test]
fn two_workers_on_one_repo_keep_apart_and_stop_keeps_what_would_be_lost() {
    let w = repo_world();
    for name in ["a", "b"] {
        let o = launch_wt(&w, name, &[]);
        assert_code(&o, 0);
        let panel = stderr(&o);
        assert!(panel.contains(&format!("worktree:   {}", worktree_of(&w, name).display())), "{panel}");
        assert!(panel.contains(&format!("csd/{name} (from main at ")), "{panel}");
        assert!(panel.contains("reproduce:  csd launch --worktree"), "{panel}");
    }
    converse(&w, "a", "bash: echo A > same.txt && git add same.txt && git commit -qm from-a");
    converse(&w, "b", "bash: echo B > same.txt && echo new > other.txt");
    assert_eq!(std::fs::read_to_string(worktree_of(&w, "a").join("same.txt")).unwrap(), "A\n");
    assert_eq!(std::fs::read_to_string(worktree_of(&w, "b").join("same.txt")).unwrap(), "B\n");
    // The main checkout is untouched.
    assert_eq!(git_ok(&w, &w.proj, &["status", "--porcelain"]), "");
    assert!(!w.proj.join("same.txt").exists());
    assert_eq!(git_ok(&w, &w.proj, &["log", "--format=%s", "csd/a"]), "from-a\nfirst\n");

    let a = status_json(&w, "a");
    let wa = &a["worktree"];
    assert_eq!(wa["path"], worktree_of(&w, "a").display().to_string());
    assert_eq!(a["cwd"], worktree_of(&w, "a").display().to_string());
    assert_eq!((wa["branch"].as_str(), wa["base"].as_str()), (Some("csd/a"), Some("main")));
    assert_eq!(
        (wa["ahead"].as_u64(), wa["changed_files"].as_u64(), wa["uncommitted"].as_u64()),
        (Some(1), Some(1), Some(0))
    );
    let b = status_json(&w, "b");
    let wb = &b["worktree"];
    assert_eq!(
        (wb["ahead"].as_u64(), wb["changed_files"].as_u64(), wb["uncommitted"].as_u64()),
        (Some(0), Some(2), Some(2))
    );
    let rows = list_json(&w);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["worktree"]["branch"] == format!("csd/{}", r["name"].as_str().unwrap())), "{rows:?}");

    // Each diff applies to the base: committed and uncommitted work alike.
    for (name, want) in [("a", "A\n"), ("b", "B\n")] {
        let o = w.cmd("csd").args(["--worker", name, "diff"]).output().unwrap();
        assert_code(&o, 0);
        let patch = w.env.path().join(format!("{name}.patch"));
        std::fs::write(&patch, &o.stdout).unwrap();
        git_ok(&w, &w.proj, &["apply", patch.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(w.proj.join("same.txt")).unwrap(), want);
        let _ = std::fs::remove_file(w.proj.join("same.txt"));
        let _ = std::fs::remove_file(w.proj.join("other.txt"));
    }
    // The worktree's own index was not touched by the diff.
    assert_eq!(git_ok(&w, &worktree_of(&w, "b"), &["diff", "--cached", "--name-only"]), "");

    // b: uncommitted work, kept; it stays listed, gone, until removed.
    let o = stop(&w, "b", &[]);
    let said = stdout(&o);
    assert!(said.contains(&format!("Kept its worktree {} (branch csd/b)", worktree_of(&w, "b").display())), "{said}");
    assert!(said.contains("2 uncommitted changes"), "{said}");
    assert!(worktree_of(&w, "b").join("other.txt").exists());
    let rows = list_json(&w);
    let row = rows.iter().find(|r| r["name"] == "b").expect("a kept worktree is listed");
    assert_eq!((row["status"].as_str(), row["worktree"]["uncommitted"].as_u64()), (Some("gone"), Some(2)));
    assert_eq!(row["cwd"], worktree_of(&w, "b").display().to_string());
    // Its name stays taken while its worktree is kept.
    let o = w.launch("b", &[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("has a worktree kept at"), "{}", stderr(&o));

    // a: one commit not in main, kept; merged, then removed with its branch.
    let said = stdout(&stop(&w, "a", &[]));
    assert!(said.contains("1 commit not in main nor pushed"), "{said}");
    assert!(worktree_of(&w, "a").exists() && has_branch(&w, "csd/a"));
    git_ok(&w, &w.proj, &["merge", "-q", "--ff-only", "csd/a"]);
    let said = stdout(&stop(&w, "a", &[]));
    assert!(said.contains("Removed its worktree"), "{said}");
    assert!(!worktree_of(&w, "a").exists() && !has_branch(&w, "csd/a"));

    // --discard removes b's anyway and says what went.
    let said = stdout(&stop(&w, "b", &["--discard"]));
    assert!(said.contains("Discarded its worktree") && said.contains("2 uncommitted changes"), "{said}");
    assert!(!worktree_of(&w, "b").exists() && !has_branch(&w, "csd/b"));
    assert_eq!(list_json(&w).len(), 0);
    assert_repo_clean(&w);
    w.assert_no_worker_state();
}

#[test]
fn a_clean_worker_is_removed_at_stop_and_a_pushed_one_too() {
    let w = repo_world();
    let remote = w.env.path().join("remote.git");
    git_ok(&w, w.env.path(), &["init", "-q", "--bare", remote.to_str().unwrap()]);
    git_ok(&w, &w.proj, &["remote", "add", "origin", remote.to_str().unwrap()]);
    assert_code(&launch_wt(&w, "clean", &["--worktree=feature/clean"]), 0);
    assert_code(&launch_wt(&w, "pushed", &[]), 0);
    converse(&w, "pushed", "bash: echo p > p.txt && git add p.txt && git commit -qm p && git push -q origin HEAD");
    let said = stdout(&stop(&w, "clean", &[]));
    assert!(said.contains("Removed its worktree") && said.contains("branch feature/clean"), "{said}");
    let said = stdout(&stop(&w, "pushed", &[]));
    assert!(said.contains("Removed its worktree"), "{said}");
    assert!(!has_branch(&w, "feature/clean") && !has_branch(&w, "csd/pushed"));
    assert_repo_clean(&w);
}

#[test]
fn setup_runs_in_the_new_worktree_and_its_failure_undoes_the_launch() {
    let w = repo_world();
    std::fs::create_dir(w.proj.join(".csd")).unwrap();
    let setup = w.proj.join(".csd/setup");
    std::fs::write(
        &setup,
        "#!/bin/sh\necho \"set up from $CSD_WORKTREE_SOURCE on $CSD_WORKTREE_BRANCH\"\ntouch made-by-setup\n",
    )
    .unwrap();
    std::fs::set_permissions(&setup, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(w.proj.join(".gitignore"), "made-by-setup\n").unwrap();
    git_ok(&w, &w.proj, &["add", ".csd/setup", ".gitignore"]);
    git_ok(&w, &w.proj, &["commit", "-qm", "setup"]);
    let o = launch_wt(&w, "s", &[]);
    assert_code(&o, 0);
    let panel = stderr(&o);
    assert!(panel.contains(&format!("| set up from {} on csd/s", w.proj.display())), "{panel}");
    assert!(worktree_of(&w, "s").join("made-by-setup").exists());
    // What setup made and git ignores is not work to keep.
    assert!(stdout(&stop(&w, "s", &[])).contains("Removed its worktree"));

    let failing = w.env.path().join("failing-setup");
    std::fs::write(&failing, "#!/bin/sh\necho installing\necho 'no network' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&failing, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = launch_wt(&w, "f", &["--setup", failing.to_str().unwrap()]);
    assert_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("failed") && err.contains("| installing") && err.contains("| no network"), "{err}");
    assert!(!worktree_of(&w, "f").exists() && !has_branch(&w, "csd/f"));
    assert!(!w.env.has_session("f"));
    assert_repo_clean(&w);
    w.assert_no_worker_state();
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let w = repo_world();
    git_ok(&w, &w.proj, &["branch", "taken"]);
    let not_repo = w.env.path().join("plain");
    std::fs::create_dir(&not_repo).unwrap();
    let o = w.cmd("csd-launch").args(["--worktree", "x"]).arg(&not_repo).output().unwrap();
    assert_code(&o, 2);
    assert!(stderr(&o).contains("is not in a git repository"), "{}", stderr(&o));
    for (opts, code, says) in [
        (&["--worktree=taken"][..], 1, "branch 'taken' exists already"),
        (&["--worktree=a..b"][..], 2, "is not a name git takes for a branch"),
        (&["--worktree=-D"][..], 2, "is not a name git takes for a branch"),
        (&["--base", "no-such-ref"][..], 2, "names no commit"),
        (&["--base", "--all"][..], 2, "names no commit"),
    ] {
        let o = launch_wt(&w, "x", opts);
        assert_code(&o, code);
        assert!(stderr(&o).contains(says), "{opts:?}: {}", stderr(&o));
    }
    let o = w.cmd("csd-launch").args(["--base", "main", "x"]).arg(&w.proj).output().unwrap();
    assert_code(&o, 2);
    // A merge under way.
    git_ok(&w, &w.proj, &["checkout", "-qb", "side"]);
    std::fs::write(w.proj.join("README"), "side\n").unwrap();
    git_ok(&w, &w.proj, &["commit", "-qam", "side"]);
    git_ok(&w, &w.proj, &["checkout", "-q", "main"]);
    std::fs::write(w.proj.join("README"), "main\n").unwrap();
    git_ok(&w, &w.proj, &["commit", "-qam", "main"]);
    assert!(!git(&w, &w.proj, &["merge", "side"]).status.success());
    let o = launch_wt(&w, "x", &[]);
    assert_code(&o, 1);
    assert!(stderr(&o).contains("in the middle of a merge"), "{}", stderr(&o));
    git_ok(&w, &w.proj, &["merge", "--abort"]);
    assert!(!has_branch(&w, "csd/x") && !worktree_of(&w, "x").exists());
    assert_repo_clean(&w);
    w.assert_no_worker_state();
}

#[test]
fn ten_launches_on_one_repository_at_once_all_succeed() {
    let w = repo_world();
    let names: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    let children: Vec<_> = names
        .iter()
        .map(|n| {
            let mut c = w.cmd("csd-launch");
            c.env("CSD_START_TIMEOUT_MS", "60000").args(["--worktree", n]).arg(&w.proj);
            c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    // Every launch is waited for before any is judged: a failing assert
    // must not leave launches running past the test's tmux server.
    let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    for (n, o) in names.iter().zip(&outputs) {
        assert!(o.status.success(), "{n}: {}", stderr(o));
    }
    let fsck = git(&w, &w.proj, &["fsck", "--no-progress"]);
    assert!(fsck.status.success(), "{}", stderr(&fsck));
    assert_eq!(git_ok(&w, &w.proj, &["worktree", "list"]).lines().count(), 11);
    for n in &names {
        assert!(stdout(&stop(&w, n, &[])).contains("Removed its worktree"));
    }
    assert_repo_clean(&w);
}

#[test]
fn prune_keeps_a_dead_workers_work_and_removes_a_clean_worktree() {
    let w = repo_world();
    assert_code(&launch_wt(&w, "dirty", &[]), 0);
    assert_code(&launch_wt(&w, "idle", &[]), 0);
    converse(&w, "dirty", "bash: echo wip > wip.txt");
    for n in ["dirty", "idle"] {
        w.env.tmux_ok(["kill-session", "-t", &format!("={n}")]);
    }
    // A dead worker's worktree is listed, even without --all.
    let rows = list_json(&w);
    assert_eq!(rows.iter().filter(|r| r["status"] == "gone" && r["worktree"].is_object()).count(), 2, "{rows:?}");
    let o = w.cmd("csd-stop").arg("--prune").output().unwrap();
    assert_code(&o, 0);
    let said = stdout(&o);
    assert!(said.contains("idle: Removed its worktree"), "{said}");
    assert!(said.contains(&format!("dirty: Kept its worktree {}", worktree_of(&w, "dirty").display())), "{said}");
    assert!(worktree_of(&w, "dirty").join("wip.txt").exists() && !worktree_of(&w, "idle").exists());
    let rows = list_json(&w);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "dirty");
    // Once its work is committed and merged, a later prune removes it.
    git_ok(&w, &worktree_of(&w, "dirty"), &["add", "wip.txt"]);
    git_ok(&w, &worktree_of(&w, "dirty"), &["commit", "-qm", "wip"]);
    git_ok(&w, &w.proj, &["merge", "-q", "--ff-only", "csd/dirty"]);
    let said = stdout(&w.cmd("csd-stop").arg("--prune").output().unwrap());
    assert!(said.contains("dirty: Removed its worktree"), "{said}");
    assert_repo_clean(&w);
    w.assert_no_worker_state();
}

#[test]
fn a_hostile_worktree_record_is_refused_and_nothing_is_removed() {
    let w = repo_world();
    let victim = w.env.path().join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("precious"), "x").unwrap();
    let record = |v: Value| std::fs::write(w.env.worker_dir.join("h.worktree"), v.to_string()).unwrap();
    let base = git_ok(&w, &w.proj, &["rev-parse", "HEAD"]).trim().to_string();
    let good = serde_json::json!({
        "name": "h", "git_dir": w.proj.join(".git"), "branch": "csd/h", "base_ref": "refs/heads/main",
        "base": base, "prefix": "",
    });
    for (field, bad, says) in [
        ("git_dir", Value::from("relative/.git"), "git_dir is not an absolute path"),
        ("git_dir", Value::from(format!("{}/../x", w.proj.display())), "git_dir is not an absolute path"),
        ("branch", Value::from("--force"), "branch:"),
        ("base", Value::from("HEAD"), "base is not a commit id"),
        ("prefix", Value::from("../../victim"), "prefix is not a path inside the worktree"),
        ("name", Value::from("other"), "its name is not its file's"),
    ] {
        let mut v = good.clone();
        v[field] = bad;
        record(v);
        let o = w.cmd("csd-stop").args(["h", "--discard"]).output().unwrap();
        assert_code(&o, 1);
        assert!(stderr(&o).contains(says), "{field}: {}", stderr(&o));
    }
    // A git dir that is no repository's common dir.
    let mut v = good.clone();
    v["git_dir"] = Value::from(victim.display().to_string());
    record(v);
    let o = w.cmd("csd-stop").args(["h", "--discard"]).output().unwrap();
    assert_code(&o, 1);
    // A real repository whose csd place holds a plain directory, not a worktree.
    let fake = w.proj.join(".git/csd/worktrees/h");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("precious"), "y").unwrap();
    record(good.clone());
    let o = w.cmd("csd-stop").args(["h", "--discard"]).output().unwrap();
    assert_code(&o, 0);
    assert!(stdout(&o).contains("was gone already"), "{}", stdout(&o));
    assert!(fake.join("precious").exists() && victim.join("precious").exists());
    std::fs::remove_dir_all(w.proj.join(".git/csd")).unwrap();
    // A worktree on another branch than its record says.
    git_ok(
        &w,
        &w.proj,
        &["worktree", "add", "-q", "-b", "elsewhere", w.proj.join(".git/csd/worktrees/h").to_str().unwrap()],
    );
    record(good);
    let o = w.cmd("csd-stop").args(["h", "--discard"]).output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("is not on branch csd/h"), "{}", stderr(&o));
    assert!(w.proj.join(".git/csd/worktrees/h/README").exists() && has_branch(&w, "elsewhere"));
}

fn crate_kept() -> &'static str {
    csd::worktree::KEPT
}

/// `--host`: the host's csd makes the worktree there, from the host's
/// checkout; status, diff and stop (with --discard) reach it over ssh.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (a real sshd and a second user: root): make test")]
fn a_remote_worker_gets_its_worktree_on_the_host() {
    use common::sshd::*;
    isolate_network();
    let ssh = private_ssh_dir();
    let mut env: Vec<(String, String)> = [
        ("CSD_START_TIMEOUT_MS", "10000"),
        ("CSD_SUBMIT_RETRY_INTERVAL", "0.5"),
        ("GIT_AUTHOR_NAME", "Host"),
        ("GIT_AUTHOR_EMAIL", "host@example.com"),
        ("GIT_COMMITTER_NAME", "Host"),
        ("GIT_COMMITTER_EMAIL", "host@example.com"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.sort();
    let host = RemoteHost::start(&ssh, RemoteOpts { env, harness: HostHarness::Fake, ..Default::default() });
    let w = World::new();
    let proj = host.home().join("proj");
    let p = proj.to_str().unwrap();
    for argv in [
        &["git", "init", "-q", "-b", "main", p][..],
        &["sh", "-c", "echo hi > proj/README"][..],
        &["git", "-C", p, "add", "README"][..],
        &["git", "-C", p, "commit", "-qm", "first"][..],
    ] {
        let o = host.run_as_user(argv);
        assert!(o.status.success(), "{argv:?}: {}", stderr(&o));
    }
    let csd = |args: &[&str]| w.cmd("csd").args(args).output().unwrap();
    for n in ["r1", "r2"] {
        let o = csd(&["launch", "--host", host.dest(), "--worktree", "--base", "main", n, p]);
        assert_code(&o, 0);
        assert!(stderr(&o).contains(&format!("worktree:   {p}/.git/csd/worktrees/{n}")), "{}", stderr(&o));
        assert_code(&csd(&["--worker", n, "converse", "bash: echo remote > r.txt", "30"]), 0);
    }
    let wt = |n: &str| proj.join(".git/csd/worktrees").join(n);
    assert_eq!(std::fs::read_to_string(wt("r1").join("r.txt")).unwrap(), "remote\n");
    assert!(!proj.join("r.txt").exists());
    let o = csd(&["--worker", "r1", "status", "--json"]);
    assert_code(&o, 0);
    let row: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (row["worktree"]["branch"].as_str(), row["worktree"]["uncommitted"].as_u64()),
        (Some("csd/r1"), Some(1))
    );
    let o = csd(&["list", "--json"]);
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(rows.as_array().unwrap().iter().all(|r| r["worktree"]["base"] == "main"), "{rows}");
    let o = csd(&["--worker", "r1", "diff"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("+++ b/r.txt\n@@ -0,0 +1 @@\n+remote"), "{}", stdout(&o));
    // Kept on the host, and said where.
    let o = csd(&["--worker", "r2", "stop"]);
    assert_code(&o, 0);
    assert!(
        stdout(&o).contains(&format!("Kept its worktree {} (branch csd/r2)", wt("r2").display())),
        "{}",
        stdout(&o)
    );
    assert!(wt("r2").join("r.txt").exists());
    let o = csd(&["--worker", "r1", "stop", "--discard"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("Discarded its worktree"), "{}", stdout(&o));
    assert!(!wt("r1").exists());
    let o = host.run_as_user(&["git", "-C", p, "for-each-ref", "--format=%(refname:short)", "refs/heads/csd"]);
    assert_eq!(stdout(&o).trim(), "csd/r2");
    // The kept worktree is still this controller's: listed, diffed, kept by
    // prune, and discarded from here.
    let rows: Value = serde_json::from_str(&stdout(&csd(&["list", "--json"]))).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["name"].as_str(), rows[0]["status"].as_str()), (Some("r2"), Some("gone")));
    assert_eq!((rows[0]["host"].as_str(), rows[0]["worktree"]["uncommitted"].as_u64()), (Some(host.dest()), Some(1)));
    let o = csd(&["--worker", "r2", "diff"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("+++ b/r.txt"), "{}", stdout(&o));
    let o = csd(&["prune"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains(crate_kept()), "{}", stdout(&o));
    assert!(wt("r2").join("r.txt").exists());
    let o = csd(&["--worker", "r2", "stop", "--discard"]);
    assert_code(&o, 0);
    assert!(stdout(&o).contains("Discarded its worktree"), "{}", stdout(&o));
    assert!(!wt("r2").exists());
    assert_eq!(stdout(&csd(&["list", "--json"])).trim(), "[]");
    // The ssh master to the host ends with the test.
    for e in std::fs::read_dir(w.env.worker_dir.join("ssh")).into_iter().flatten().flatten() {
        if e.path().extension().is_none() {
            let _ = Command::new("ssh")
                .arg("-o")
                .arg(format!("ControlPath={}", e.path().display()))
                .args(["-O", "exit", "--", host.dest()])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// After a reboot wiped the worker dir, adopt --worktree takes the worker's
/// worktree back as it was (its session is found by that cwd), work and all.
#[test]
fn adopt_takes_back_the_worktree_a_wiped_worker_dir_forgot() {
    let w = repo_world();
    assert_code(&launch_wt(&w, "a", &[]), 0);
    let sid = w.sid("a");
    converse(&w, "a", "bash: echo wip > wip.txt");
    w.env.tmux_ok(["kill-session", "-t", "=a"]);
    std::fs::remove_dir_all(&w.env.worker_dir).unwrap();
    std::fs::create_dir(&w.env.worker_dir).unwrap();
    std::fs::set_permissions(&w.env.worker_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();

    let o = w.cmd("csd-launch").args(["--adopt", "--worktree", "a"]).arg(&w.proj).arg(&sid).output().unwrap();
    assert_code(&o, 0);
    assert!(stderr(&o).contains("(taken back as it was)"), "{}", stderr(&o));
    let row = status_json(&w, "a");
    assert_eq!(row["cwd"], worktree_of(&w, "a").display().to_string());
    assert_eq!((row["worktree"]["branch"].as_str(), row["worktree"]["uncommitted"].as_u64()), (Some("csd/a"), Some(1)));
    converse(&w, "a", "bash: echo more >> wip.txt");
    assert_eq!(std::fs::read_to_string(worktree_of(&w, "a").join("wip.txt")).unwrap(), "wip\nmore\n");
    assert!(stdout(&stop(&w, "a", &[])).contains("Kept its worktree"));
    // A worktree adopt did not make is not removed when that adopt fails.
    std::fs::remove_file(w.env.worker_dir.join("a.worktree")).unwrap();
    let o = w
        .cmd("csd-launch")
        .args(["--adopt", "--worktree", "a"])
        .arg(&w.proj)
        .arg("0b1e2c3d-aaaa-4bbb-8ccc-123456789abc")
        .output()
        .unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("no transcript for session"), "{}", stderr(&o));
    assert!(worktree_of(&w, "a").join("wip.txt").exists() && has_branch(&w, "csd/a"));
    assert!(!w.env.worker_dir.join("a.worktree").exists());
    assert_code(&w.cmd("csd-launch").args(["--adopt", "--worktree", "a"]).arg(&w.proj).arg(&sid).output().unwrap(), 0);
    assert!(stdout(&stop(&w, "a", &[])).contains("Kept its worktree"));
    let o = w.cmd("csd-launch").args(["--adopt", "--worktree", "a"]).arg(&w.proj).arg(&sid).output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("has a worktree kept at"), "{}", stderr(&o));
    assert!(worktree_of(&w, "a").join("wip.txt").exists());
}

/// A subdirectory of the repository stays that subdirectory in the worktree.
#[test]
fn a_subdirectory_of_the_checkout_is_the_same_place_in_the_worktree() {
    let w = repo_world();
    std::fs::create_dir(w.proj.join("sub")).unwrap();
    std::fs::write(w.proj.join("sub/f"), "f\n").unwrap();
    git_ok(&w, &w.proj, &["add", "sub/f"]);
    git_ok(&w, &w.proj, &["commit", "-qm", "sub"]);
    let o = w.cmd("csd-launch").args(["--worktree", "s"]).arg(w.proj.join("sub")).output().unwrap();
    assert_code(&o, 0);
    assert_eq!(status_json(&w, "s")["cwd"], worktree_of(&w, "s").join("sub").display().to_string());
    converse(&w, "s", "bash: echo here > here.txt");
    assert!(worktree_of(&w, "s").join("sub/here.txt").exists());
    assert!(stdout(&stop(&w, "s", &["--discard"])).contains("with 1 uncommitted change and 0 commits"));
}

/// A harness that mints its own session id (Pi: a fake that loads csd's real
/// extension) has no meta until it registers: the worktree is the worker's
/// all the same, from launch to stop.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "the e2e tier (the pinned Pi in tests/e2e): make test")]
fn a_pi_worker_gets_its_worktree_too() {
    let w = repo_world();
    let jiti = repo().join("tests/e2e/node_modules/jiti/lib/jiti.cjs");
    assert!(jiti.is_file(), "jiti is missing at {}: run `npm install` in tests/e2e", jiti.display());
    let pi = |bin: &str, args: &[&str]| {
        w.cmd(bin)
            .args(args)
            .env("CSD_PI_BIN", repo().join("tests/fixtures/fake-pi.cjs"))
            .env("CSD_PI_MODEL", "prov/model-x")
            .env("FAKE_PI_JITI", &jiti)
            .env("FAKE_PI_RECORD", w.env.path().join("fake-pi-record.json"))
            .env_remove("PI_CODING_AGENT_DIR")
            .env_remove("PI_CODING_AGENT_SESSION_DIR")
            .output()
            .unwrap()
    };
    let o = pi("csd-launch", &["--harness", "pi", "--worktree", "p1", w.proj.to_str().unwrap()]);
    assert_code(&o, 0);
    let row = status_json(&w, "p1");
    assert_eq!(row["cwd"], worktree_of(&w, "p1").display().to_string());
    assert_eq!((row["harness"].as_str(), row["worktree"]["branch"].as_str()), (Some("pi"), Some("csd/p1")));
    let said = stdout(&pi("csd-stop", &["p1"]));
    assert!(said.contains("Removed its worktree"), "{said}");
    assert!(!worktree_of(&w, "p1").exists() && !has_branch(&w, "csd/p1"));
    w.assert_no_worker_state();
}

/// A checkout reached through a symlink: git records the worktree's real
/// path, and csd still knows it for its own (never "gone already").
#[test]
fn a_checkout_reached_through_a_symlink_is_handled_by_its_real_path() {
    let w = repo_world();
    let link = w.env.path().join("link");
    std::os::unix::fs::symlink(&w.proj, &link).unwrap();
    let o = w.cmd("csd-launch").args(["--worktree", "l"]).arg(&link).output().unwrap();
    assert_code(&o, 0);
    converse(&w, "l", "bash: echo x > x.txt");
    let said = stdout(&stop(&w, "l", &[]));
    assert!(said.contains("Kept its worktree") && said.contains("1 uncommitted change"), "{said}");
    let said = stdout(&stop(&w, "l", &["--discard"]));
    assert!(said.contains("Discarded its worktree"), "{said}");
    assert!(!worktree_of(&w, "l").exists() && !has_branch(&w, "csd/l"));
    assert_repo_clean(&w);
}
