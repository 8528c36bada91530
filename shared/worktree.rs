//! A worker's own git worktree (`csd launch --worktree[=BRANCH]`): made with git on a
//! new branch, set up, shown in status, diffed, and removed at stop only
//! when nothing in it would be lost.
//!
//! Where: `<git common dir>/csd/worktrees/<name>` of the repository (beside
//! git's own `worktrees/`), so a worktree lives as long as its repository,
//! outside the main checkout (its `git status` never shows it) and outside
//! the worker dir (a reboot that wipes /tmp keeps it). The record that ties
//! it to the worker is `<name>.worktree` in the worker dir; it outlives the
//! worker's other state while the worktree is kept, so a kept worktree is
//! still listed, and its name stays taken, until it is removed.
//!
//! A record is read as hostile: its fields must hold up as what they claim
//! to be, and the worktree must be proven one of the recorded repository's
//! (`git worktree list --porcelain`, on the branch recorded) before git is
//! asked to remove anything. Nothing here deletes a path itself: git does.

use crate::error::{failed, usage, Error, Result};
use crate::workerdir::WorkerDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The executable a repository may hold to set up a new worktree.
pub const SETUP_FILE: &str = ".csd/setup";
/// How stop's line about a kept worktree begins (a remote controller reads it).
pub const KEPT: &str = "Kept its worktree ";
/// Lines of the setup's output shown in the launch panel.
const SETUP_TAIL: usize = 20;

/// What `--worktree[=BRANCH]`, `--base REF` and `--setup CMD` asked for.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    pub branch: Option<String>,
    pub base: Option<String>,
    pub setup: Option<String>,
}

impl Ask {
    /// The arguments that ask for this again (a remote launch passes them on).
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![match &self.branch {
            Some(b) => format!("--worktree={b}"),
            None => "--worktree".into(),
        }];
        if let Some(b) = &self.base {
            a.extend(["--base".into(), b.clone()]);
        }
        if let Some(s) = &self.setup {
            a.extend(["--setup".into(), s.clone()]);
        }
        a
    }
}

/// `<name>.worktree`: which worktree is the worker's.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub name: String,
    /// The repository's common git dir (absolute).
    pub git_dir: PathBuf,
    pub branch: String,
    /// What the branch was made from: `refs/heads/X` when that was a
    /// branch (merged means merged into it as it is now), else a commit.
    pub base_ref: String,
    /// The commit the branch started at.
    pub base: String,
    /// The worker's cwd's place below the worktree's top (DIR's, in DIR's checkout).
    pub prefix: String,
    pub created_at: String,
    /// Set when a stop or prune kept it: its worker's state is gone on
    /// purpose (a record without state and without this is a launch under
    /// way, which prune leaves alone).
    pub kept: bool,
    /// The id of the worker it was made for: a remote controller that
    /// launched that worker may still reach its kept worktree by it.
    pub csd_id: Option<String>,
}

pub fn record_path(dir: &WorkerDir, name: &str) -> PathBuf {
    dir.root().join(format!("{name}.worktree"))
}

impl Record {
    /// Where csd puts worker `name`'s worktree of the repository at `git_dir`.
    pub fn path(&self) -> PathBuf {
        place(&self.git_dir, &self.name)
    }

    fn to_json(&self) -> Vec<u8> {
        let v = json!({
            "name": self.name, "git_dir": self.git_dir, "branch": self.branch, "base_ref": self.base_ref,
            "base": self.base, "prefix": self.prefix, "created_at": self.created_at, "kept": self.kept,
            "csd_id": self.csd_id,
        });
        serde_json::to_vec(&v).expect("a JSON value always serializes")
    }

    /// The record from its bytes, or why it does not hold up.
    pub fn parse(name: &str, bytes: &[u8]) -> std::result::Result<Record, String> {
        let v: Value = serde_json::from_slice(bytes).map_err(|_| "not JSON")?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string).ok_or(format!("no {k}"));
        if s("name")? != name {
            return Err("its name is not its file's".into());
        }
        let git_dir = PathBuf::from(s("git_dir")?);
        if !git_dir.is_absolute() || git_dir.components().any(|c| c == std::path::Component::ParentDir) {
            return Err("git_dir is not an absolute path".into());
        }
        let branch = s("branch")?;
        plain_branch(&branch).map_err(|e| format!("branch: {e}"))?;
        let base = s("base")?;
        if !is_commit_id(&base) {
            return Err("base is not a commit id".into());
        }
        let base_ref = s("base_ref")?;
        let ok_ref =
            is_commit_id(&base_ref) || base_ref.strip_prefix("refs/heads/").is_some_and(|b| plain_branch(b).is_ok());
        if !ok_ref {
            return Err("base_ref is neither a branch nor a commit id".into());
        }
        let prefix = s("prefix").unwrap_or_default();
        let relative = Path::new(&prefix)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir));
        if !relative {
            return Err("prefix is not a path inside the worktree".into());
        }
        Ok(Record {
            name: name.to_string(),
            git_dir,
            branch,
            base_ref,
            base,
            prefix,
            created_at: s("created_at").unwrap_or_default(),
            kept: v.get("kept").and_then(Value::as_bool).unwrap_or(false),
            csd_id: match v.get("csd_id") {
                None | Some(Value::Null) => None,
                Some(id) => Some(
                    id.as_str()
                        .filter(|id| crate::name::validate(id).is_ok())
                        .ok_or("csd_id is not a plain id")?
                        .to_string(),
                ),
            },
        })
    }

    /// Worker `name`'s record, if there is one; one that does not hold up is
    /// an error naming it.
    pub fn read(dir: &WorkerDir, name: &str) -> Result<Option<Record>> {
        crate::name::validate(name)?;
        let path = record_path(dir, name);
        let bytes = match crate::safefile::read_capped(&path, 1 << 16) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io(format!("reading {}", path.display()), e)),
        };
        Record::parse(name, &bytes)
            .map(Some)
            .map_err(|why| failed(format!("worktree record {} does not hold up ({why}); left alone", path.display())))
    }

    fn write(&self, dir: &WorkerDir) -> Result<()> {
        dir.write_atomic(&record_path(dir, &self.name), &self.to_json(), 0o600)
    }

    fn forget(&self, dir: &WorkerDir) -> Result<()> {
        dir.remove_file(&record_path(dir, &self.name))
    }

    /// The worker's cwd: the worktree, at DIR's place in it, or its top
    /// when that place is not in the branch (an untracked directory).
    pub fn cwd(&self) -> PathBuf {
        let at = self.path().join(&self.prefix);
        if at.is_dir() {
            at
        } else {
            self.path()
        }
    }

    fn git(&self) -> Git {
        Git { dir: self.git_dir.clone() }
    }

    fn worktree_git(&self) -> Git {
        Git { dir: self.path() }
    }

    /// Prove the worktree is the recorded repository's, on the recorded
    /// branch: `Ok(false)` when git does not list it (removed by hand).
    pub fn prove(&self) -> Result<bool> {
        let common = self.git().out(&["rev-parse", "--path-format=absolute", "--git-common-dir"]).map_err(|e| {
            failed(format!(
                "worktree record of '{}': {} is not a git repository: {e}",
                self.name,
                self.git_dir.display()
            ))
        })?;
        if !same_path(Path::new(common.trim()), &self.git_dir) {
            return Err(failed(format!(
                "worktree record of '{}': {} is not a repository's common git dir; left alone",
                self.name,
                self.git_dir.display()
            )));
        }
        let listing = self.git().out(&["worktree", "list", "--porcelain"])?;
        let path = self.path();
        let Some(entry) = worktree_entry(&listing, &path) else {
            return Ok(false);
        };
        if !entry.lines().any(|l| l == format!("branch refs/heads/{}", self.branch)) {
            return Err(failed(format!(
                "worktree {} is not on branch {} as its record says; left alone",
                path.display(),
                self.branch
            )));
        }
        Ok(true)
    }
}

/// Hold the repository's csd lock (on `<git common dir>/csd/worktrees/`):
/// git worktree add run twice at once on one repository can read the
/// other's half-made administrative dir and fail.
fn repo_lock(git_dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    let path = git_dir.join("csd").join("worktrees");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut file = std::fs::File::open(&path).map_err(|e| Error::Io(format!("opening {}", path.display()), e))?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(held) => return Ok(held),
            Err((f, nix::errno::Errno::EWOULDBLOCK)) if std::time::Instant::now() < until => {
                file = f;
                crate::signals::sleep(std::time::Duration::from_millis(10))?;
            }
            Err((_, e)) => return Err(failed(format!("could not lock {}: {e}", path.display()))),
        }
    }
}

/// Git's entry for the worktree at `path` in `git worktree list --porcelain`.
fn worktree_entry<'a>(listing: &'a str, path: &Path) -> Option<&'a str> {
    listing.split("\n\n").find(|e| {
        e.lines().next().and_then(|l| l.strip_prefix("worktree ")).is_some_and(|p| same_path(Path::new(p), path))
    })
}

/// The path with its symlinks resolved (as git records a worktree's), or as
/// it is when it cannot be.
fn real_path(p: &str) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))
}

/// One place, however spelt through symlinks.
fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y)
}

/// `<git common dir>/csd/worktrees/<name>`.
fn place(git_dir: &Path, name: &str) -> PathBuf {
    git_dir.join("csd").join("worktrees").join(name)
}

fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A branch name git takes, and that can never be read as an option.
fn plain_branch(b: &str) -> Result<()> {
    let ok = !b.is_empty()
        && !b.starts_with('-')
        && b.len() <= 200
        && Command::new("git")
            .args(["check-ref-format", "--branch", b])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        Ok(())
    } else {
        Err(usage(format!("'{}' is not a name git takes for a branch", crate::name::printable(b))))
    }
}

/// git, run in one directory, its arguments an argv.
struct Git {
    dir: PathBuf,
}

impl Git {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        c.arg("-C").arg(&self.dir).args(args).stdin(Stdio::null());
        // A user's pager, editor or hooks' prompts must never stall a call.
        c.env("GIT_TERMINAL_PROMPT", "0").env("GIT_PAGER", "cat").env_remove("GIT_DIR").env_remove("GIT_WORK_TREE");
        c.env_remove("GIT_INDEX_FILE");
        c
    }

    fn run(&self, mut c: Command) -> Result<Vec<u8>> {
        let o = c.output().map_err(|e| Error::Io("running git".into(), e))?;
        if o.status.success() {
            return Ok(o.stdout);
        }
        let err = String::from_utf8_lossy(&o.stderr);
        let line = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("failed").trim();
        Err(failed(format!("git {}: {line}", self.dir.display())))
    }

    fn out(&self, args: &[&str]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.run(self.cmd(args))?).into_owned())
    }

    fn ok(&self, args: &[&str]) -> bool {
        self.cmd(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    /// The commit `rev` names, if it names one.
    fn commit(&self, rev: &str) -> Option<String> {
        if rev.starts_with('-') {
            return None;
        }
        let spec = format!("{rev}^{{commit}}");
        self.out(&["rev-parse", "--verify", "--quiet", &spec]).ok().map(|s| s.trim().to_string())
    }
}

/// What `make` made: the record, and the setup's account for the panel.
pub struct Made {
    pub record: Record,
    pub setup: Option<String>,
    /// The checkout it was made from (DIR, resolved).
    pub source: PathBuf,
    /// Adopt found the worker's worktree there already and took it back.
    pub reused: bool,
}

/// Make worker `name`'s worktree of `src`'s repository, record it, and run
/// the setup in it. On any failure what was made is taken back. Adopting,
/// a worktree csd made for `name` earlier (its record lost with a wiped
/// worker dir) is taken back as it is, with no setup.
pub fn make(dir: &WorkerDir, name: &str, src: &Path, ask: &Ask, mode: crate::harness::Mode) -> Result<Made> {
    if mode == crate::harness::Mode::Adopt {
        if let Some(record) = readopt(dir, name, src, ask)? {
            record.write(dir)?;
            return Ok(Made { record, setup: None, source: src.to_path_buf(), reused: true });
        }
    }
    let record = plan(dir, name, src, ask)?;
    let git = Git { dir: src.to_path_buf() };
    let path = record.path();
    std::fs::create_dir_all(path.parent().expect("has a parent"))
        .map_err(|e| Error::Io(format!("creating {}", path.display()), e))?;
    // Recorded first: a launch killed while git works leaves a record that
    // stop and prune can act on, never a worktree nothing knows of.
    record.write(dir)?;
    let path_str = path.to_str().ok_or_else(|| usage("the repository's path is not UTF-8"))?;
    let added = repo_lock(&record.git_dir)
        .and_then(|_held| git.out(&["worktree", "add", "--quiet", "-b", &record.branch, path_str, &record.base]));
    if let Err(e) = added {
        let _ = record.forget(dir);
        return Err(failed(format!("could not make worker '{name}''s worktree: {e}")));
    }
    match setup(&record, src, ask) {
        Ok(setup) => Ok(Made { record, setup, source: src.to_path_buf(), reused: false }),
        Err(e) => {
            let _ = discard(dir, &record);
            Err(e)
        }
    }
}

/// The worktree at csd's place for `name` in `src`'s repository, when git
/// lists it there on a branch: what an adopt takes back.
fn readopt(dir: &WorkerDir, name: &str, src: &Path, ask: &Ask) -> Result<Option<Record>> {
    let git = Git { dir: src.to_path_buf() };
    let Ok(git_dir) = git.out(&["rev-parse", "--path-format=absolute", "--git-common-dir"]) else { return Ok(None) };
    let git_dir = real_path(git_dir.trim());
    let path = place(&git_dir, name);
    let listing = git.out(&["worktree", "list", "--porcelain"])?;
    let Some(entry) = worktree_entry(&listing, &path) else {
        return Ok(None);
    };
    let Some(branch) = entry.lines().find_map(|l| l.strip_prefix("branch refs/heads/")) else { return Ok(None) };
    if let Some(r) = Record::read(dir, name)? {
        return Err(kept_error(&r));
    }
    let fresh = plan_base(&git, src, ask)?;
    let prefix = git.out(&["rev-parse", "--show-prefix"])?.trim().trim_end_matches('/').to_string();
    let record = Record {
        name: name.to_string(),
        git_dir,
        branch: branch.to_string(),
        base_ref: fresh.0,
        base: fresh.1,
        prefix,
        created_at: crate::time::now_iso(),
        kept: false,
        csd_id: None,
    };
    record.prove()?;
    Ok(Some(record))
}

/// The base asked for (`--base REF`, else DIR's HEAD): the ref to count
/// merged against (a branch's full name, or the commit) and its commit.
fn plan_base(git: &Git, src: &Path, ask: &Ask) -> Result<(String, String)> {
    Ok(match &ask.base {
        Some(b) => {
            let commit = git
                .commit(b)
                .ok_or_else(|| usage(format!("--base: '{}' names no commit", crate::name::printable(b))))?;
            let branch_ref = format!("refs/heads/{b}");
            let is_branch = !b.starts_with('-') && git.ok(&["show-ref", "--verify", "--quiet", &branch_ref]);
            (if is_branch { branch_ref } else { commit.clone() }, commit)
        }
        None => {
            let commit =
                git.commit("HEAD").ok_or_else(|| usage(format!("--worktree: {} has no commit yet", src.display())))?;
            let head = git.out(&["symbolic-ref", "--quiet", "HEAD"]).map(|s| s.trim().to_string()).ok();
            (head.filter(|h| h.starts_with("refs/heads/")).unwrap_or_else(|| commit.clone()), commit)
        }
    })
}

/// Check everything about the request before anything is made.
fn plan(dir: &WorkerDir, name: &str, src: &Path, ask: &Ask) -> Result<Record> {
    let git = Git { dir: src.to_path_buf() };
    let not_repo = |e: Error| usage(format!("--worktree: {} is not in a git repository ({e})", src.display()));
    let git_dir = git.out(&["rev-parse", "--path-format=absolute", "--git-common-dir"]).map_err(not_repo)?;
    let git_dir = real_path(git_dir.trim());
    let prefix = git.out(&["rev-parse", "--show-prefix"]).map_err(not_repo)?.trim().trim_end_matches('/').to_string();
    if git.out(&["rev-parse", "--is-bare-repository"])?.trim() == "true" {
        return Err(usage(format!("--worktree: {} is a bare repository; give a checkout", src.display())));
    }
    if let Some(r) = Record::read(dir, name)? {
        return Err(kept_error(&r));
    }
    refuse_operation_in_progress(&git, src)?;
    let branch = ask.branch.clone().unwrap_or_else(|| format!("csd/{name}"));
    plain_branch(&branch)?;
    if git.ok(&["show-ref", "--verify", "--quiet", &format!("refs/heads/{branch}")]) {
        return Err(failed(format!("--worktree: branch '{branch}' exists already; name another (--worktree=BRANCH)")));
    }
    let (base_ref, base) = plan_base(&git, src, ask)?;
    let path = place(&git_dir, name);
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(failed(format!(
            "--worktree: {} exists already (another worker dir's worker '{name}'?); pick another name",
            path.display()
        )));
    }
    let created_at = crate::time::now_iso();
    Ok(Record {
        name: name.to_string(),
        git_dir,
        branch,
        base_ref,
        base,
        prefix,
        created_at,
        kept: false,
        csd_id: None,
    })
}

/// A rebase, merge, cherry-pick, revert or bisect under way leaves HEAD
/// (the default base) in the middle of something.
fn refuse_operation_in_progress(git: &Git, src: &Path) -> Result<()> {
    for (what, marker) in [
        ("a merge", "MERGE_HEAD"),
        ("a rebase", "rebase-merge"),
        ("a rebase", "rebase-apply"),
        ("a cherry-pick", "CHERRY_PICK_HEAD"),
        ("a revert", "REVERT_HEAD"),
        ("a bisect", "BISECT_LOG"),
    ] {
        let path = git.out(&["rev-parse", "--path-format=absolute", "--git-path", marker])?;
        if std::fs::symlink_metadata(path.trim()).is_ok() {
            return Err(failed(format!(
                "--worktree: {} is in the middle of {what}; finish or abort it first",
                src.display()
            )));
        }
    }
    Ok(())
}

/// Run the setup (`--setup CMD`, else an executable `.csd/setup` of the new
/// worktree) in the worktree; its output for the panel, or the error.
fn setup(record: &Record, src: &Path, ask: &Ask) -> Result<Option<String>> {
    let top = record.path();
    let argv: Vec<String> = match &ask.setup {
        Some(cmd) => cmd.split_whitespace().map(str::to_string).collect(),
        None => {
            let file = top.join(SETUP_FILE);
            let executable = std::fs::metadata(&file)
                .is_ok_and(|m| m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0);
            if !executable {
                return Ok(None);
            }
            vec![file.to_string_lossy().into_owned()]
        }
    };
    let Some((program, args)) = argv.split_first() else { return Err(usage("--setup: empty command")) };
    let source_top = Git { dir: src.to_path_buf() }.out(&["rev-parse", "--show-toplevel"])?;
    let shown = argv.join(" ");
    let o = Command::new(program)
        .args(args)
        .current_dir(&top)
        .stdin(Stdio::null())
        .env("CSD_WORKTREE_SOURCE", source_top.trim())
        .env("CSD_WORKTREE_BRANCH", &record.branch)
        .env("CSD_WORKER_NAME", &record.name)
        .output()
        .map_err(|e| failed(format!("setup '{shown}' could not run: {e}")))?;
    crate::signals::check()?;
    let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&o.stderr));
    let tail = crate::tmux::pane_tail(&text, SETUP_TAIL);
    let indented: String = tail.lines().map(|l| format!("\n    | {l}")).collect();
    if !o.status.success() {
        return Err(failed(format!(
            "setup '{shown}' failed ({}) in {}; the worktree and branch {} are removed{indented}",
            o.status,
            top.display(),
            record.branch
        )));
    }
    Ok(Some(format!("{shown} (ok){indented}")))
}

/// The launch panel's lines for the worktree.
pub fn panel_lines(m: &Made) -> String {
    let r = &m.record;
    let mut s = format!(
        "\n  worktree:   {}{}\n  branch:     {} (from {} at {})",
        r.path().display(),
        if m.reused { " (taken back as it was)" } else { "" },
        r.branch,
        short_ref(&r.base_ref),
        &r.base[..12]
    );
    if let Some(setup) = &m.setup {
        s.push_str(&format!("\n  setup:      {setup}"));
    }
    s
}

/// The error for a name whose earlier worktree is kept.
fn kept_error(r: &Record) -> Error {
    failed(format!(
        "worker '{}' has a worktree kept at {} (branch {}); merge it and stop it (csd --worker {} stop), \
         remove it (csd --worker {} stop --discard), or pick another name",
        r.name,
        r.path().display(),
        r.branch,
        r.name,
        r.name
    ))
}

/// Refuse a launch of `name` while an earlier worker's worktree is kept.
pub fn refuse_kept(dir: &WorkerDir, name: &str) -> Result<()> {
    match Record::read(dir, name)? {
        Some(r) => Err(kept_error(&r)),
        None => Ok(()),
    }
}

/// Record the id of the worker the worktree was made for, once it is up.
pub fn stamp(dir: &WorkerDir, r: &Record, csd_id: &str) -> Result<()> {
    crate::name::validate(csd_id)?;
    Record { csd_id: Some(csd_id.to_string()), ..r.clone() }.write(dir)
}

/// Whether `name` here is only a kept worktree, made for the worker `csd_id`:
/// what a remote controller that launched that worker may still reach.
pub fn kept_for(dir: &WorkerDir, name: &str, csd_id: &str) -> bool {
    matches!(Record::read(dir, name), Ok(Some(r)) if r.csd_id.as_deref() == Some(csd_id))
}

/// Take back what `make` did for a launch that failed after it: a worktree
/// it made goes with its branch; one an adopt found is left as it was.
pub fn undo(dir: &WorkerDir, made: &Made, e: Error) -> Error {
    let undone = if made.reused { made.record.forget(dir) } else { discard(dir, &made.record) };
    match undone {
        Ok(()) => e,
        Err(d) => failed(format!("{e}\n(and its worktree {} could not be removed: {d})", made.record.path().display())),
    }
}

/// Remove the worktree and its branch whatever they hold, and the record.
/// A worktree git no longer lists (removed by hand) only has its branch and
/// record removed.
pub fn discard(dir: &WorkerDir, r: &Record) -> Result<()> {
    let listed = r.prove()?;
    let path = r.path();
    let p = path.to_string_lossy();
    let _held = repo_lock(&r.git_dir)?;
    if listed {
        r.git().out(&["worktree", "remove", "--force", "--force", &p])?;
    } else {
        let _ = r.git().out(&["worktree", "prune"]);
    }
    let branch_ref = format!("refs/heads/{}", r.branch);
    if r.git().ok(&["show-ref", "--verify", "--quiet", &branch_ref]) {
        r.git().out(&["branch", "-D", "--", &r.branch])?;
    }
    r.forget(dir)
}

/// What the worktree holds that is not safe elsewhere.
#[derive(Debug, Default)]
pub struct Unsaved {
    pub uncommitted: usize,
    /// Commits neither in the base nor on any remote.
    pub unmerged: usize,
}

impl Unsaved {
    pub fn none(&self) -> bool {
        self.uncommitted == 0 && self.unmerged == 0
    }
}

fn unsaved(r: &Record) -> Result<Unsaved> {
    let status = r.worktree_git().out(&["status", "--porcelain", "--untracked-files=all"])?;
    let base = base_now(r);
    let mut range = vec!["rev-list".to_string(), "--count".into(), r.branch.clone(), "--not".into(), base];
    // A commit on any remote-tracking branch has been pushed.
    range.push("--remotes".into());
    let argv: Vec<&str> = range.iter().map(String::as_str).collect();
    let unmerged = r.git().out(&argv)?.trim().parse().unwrap_or(usize::MAX);
    Ok(Unsaved { uncommitted: status.lines().count(), unmerged })
}

/// The base as it is now: the branch's tip, or the commit when the base was one.
fn base_now(r: &Record) -> String {
    r.git().commit(&r.base_ref).unwrap_or_else(|| r.base.clone())
}

/// What became of a worker's worktree at stop or prune.
#[derive(Debug)]
pub enum Ending {
    Removed(Record),
    Kept(Record, Unsaved),
    /// Git no longer lists it: only the branch (when merged) and the record went.
    Vanished(Record),
}

impl Ending {
    pub fn name(&self) -> &str {
        match self {
            Ending::Removed(r) | Ending::Kept(r, _) | Ending::Vanished(r) => &r.name,
        }
    }

    /// One line for a human, saying where a kept worktree is.
    pub fn say(&self) -> String {
        match self {
            Ending::Removed(r) => format!(
                "Removed its worktree {} and branch {} (nothing uncommitted; its commits are in {} or pushed).",
                r.path().display(),
                r.branch,
                short_ref(&r.base_ref)
            ),
            Ending::Vanished(r) => {
                format!(
                    "Its worktree {} was gone already; its record is removed (branch {} kept).",
                    r.path().display(),
                    r.branch
                )
            }
            Ending::Kept(r, u) => format!(
                "{KEPT}{} (branch {}): {} uncommitted change{}, {} commit{} not in {} nor pushed. \
                 Read it with: csd --worker {} diff; remove it with: csd --worker {} stop --discard",
                r.path().display(),
                r.branch,
                u.uncommitted,
                if u.uncommitted == 1 { "" } else { "s" },
                u.unmerged,
                if u.unmerged == 1 { "" } else { "s" },
                short_ref(&r.base_ref),
                r.name,
                r.name
            ),
        }
    }
}

fn short_ref(r: &str) -> &str {
    r.strip_prefix("refs/heads/").unwrap_or(r)
}

/// Remove worker `name`'s worktree and branch when nothing would be lost
/// (or `discard`), else keep them; `None` when it has none.
pub fn end(dir: &WorkerDir, name: &str, discard_anyway: bool) -> Result<Option<Ending>> {
    let Some(r) = Record::read(dir, name)? else { return Ok(None) };
    if !r.prove()? {
        r.forget(dir)?;
        return Ok(Some(Ending::Vanished(r)));
    }
    if discard_anyway {
        let u = unsaved(&r).unwrap_or_default();
        discard(dir, &r)?;
        return Ok(Some(if u.none() { Ending::Removed(r) } else { Ending::Kept(r, u) }));
    }
    let u = unsaved(&r)?;
    if !u.none() {
        if !r.kept {
            let kept = Record { kept: true, ..r.clone() };
            kept.write(dir)?;
        }
        return Ok(Some(Ending::Kept(r, u)));
    }
    discard(dir, &r)?;
    Ok(Some(Ending::Removed(r)))
}

/// What `--discard` removed, in words.
pub fn said_discarded(e: &Ending) -> String {
    match e {
        Ending::Kept(r, u) => format!(
            "Discarded its worktree {} and branch {}, with {} uncommitted change{} and {} commit{} not in {}.",
            r.path().display(),
            r.branch,
            u.uncommitted,
            if u.uncommitted == 1 { "" } else { "s" },
            u.unmerged,
            if u.unmerged == 1 { "" } else { "s" },
            short_ref(&r.base_ref)
        ),
        other => other.say(),
    }
}

/// The worktree fields of `status --json` and `list --json`: `null` for a
/// worker without one.
pub fn json_of(dir: &WorkerDir, name: &str) -> (Value, Option<String>) {
    let r = match Record::read(dir, name) {
        Ok(Some(r)) => r,
        Ok(None) => return (Value::Null, None),
        Err(e) => return (Value::Null, Some(e.to_string())),
    };
    let mut v = json!({
        "path": r.path(), "branch": r.branch, "base": short_ref(&r.base_ref), "base_commit": r.base,
        "ahead": null, "changed_files": null, "uncommitted": null,
    });
    match r.prove() {
        Ok(true) => {}
        Ok(false) => {
            v["missing"] = true.into();
            return (v, Some(format!("{name}: its worktree {} is not there any more", r.path().display())));
        }
        Err(e) => return (v, Some(format!("{name}: {e}"))),
    }
    let counts = (|| -> Result<(usize, usize, usize)> {
        let ahead = r.git().out(&["rev-list", "--count", &format!("{}..{}", base_now(&r), r.branch)])?;
        let changed = patch(&r, true)?;
        let uncommitted = r.worktree_git().out(&["status", "--porcelain", "--untracked-files=all"])?;
        let files = changed.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
        Ok((ahead.trim().parse().unwrap_or(0), files, uncommitted.lines().count()))
    })();
    match counts {
        Ok((ahead, changed, uncommitted)) => {
            v["ahead"] = ahead.into();
            v["changed_files"] = changed.into();
            v["uncommitted"] = uncommitted.into();
            (v, None)
        }
        Err(e) => (v, Some(format!("{name}: worktree counts unknown: {e}"))),
    }
}

/// Everything changed in the worktree since it forked from its base,
/// committed or not, untracked files included (ignored ones not), as a
/// binary-safe patch `git apply` takes; `names_only` lists the files. The
/// worktree's own index is never touched: a copy stages everything.
fn patch(r: &Record, names_only: bool) -> Result<Vec<u8>> {
    let wt = r.worktree_git();
    let fork =
        wt.out(&["merge-base", &base_now(r), "HEAD"]).map(|s| s.trim().to_string()).unwrap_or_else(|_| r.base.clone());
    let index = tempfile::NamedTempFile::new().map_err(|e| Error::Io("making a temporary index".into(), e))?;
    let real_index = wt.out(&["rev-parse", "--path-format=absolute", "--git-path", "index"])?;
    // Starting from the real index keeps git's stat cache: only changed files are read.
    if std::fs::copy(real_index.trim(), index.path()).is_err() {
        let mut c = wt.cmd(&["read-tree", "HEAD"]);
        c.env("GIT_INDEX_FILE", index.path());
        wt.run(c)?;
    }
    let mut add = wt.cmd(&["add", "--all", "--", "."]);
    add.env("GIT_INDEX_FILE", index.path());
    wt.run(add)?;
    let mut diff = wt.cmd(&["diff", "--cached", "--no-color", "--no-ext-diff", "--no-textconv"]);
    diff.args(if names_only { &["--name-only"][..] } else { &["--binary", "--full-index"][..] });
    diff.arg(&fork).arg("--").env("GIT_INDEX_FILE", index.path());
    wt.run(diff)
}

/// `csd --worker W diff`: the worker's patch since its base.
pub fn diff(dir: &WorkerDir, name: &str) -> Result<Option<Vec<u8>>> {
    let Some(r) = Record::read(dir, name)? else { return Ok(None) };
    if !r.prove()? {
        return Err(Error::Gone(format!("worker '{name}': its worktree {} is not there any more", r.path().display())));
    }
    patch(&r, false).map(Some)
}

/// Prune's part: the worktrees of `pruned` workers, and those kept earlier,
/// removed where nothing would be lost; a record under way (a launch) is
/// left alone. What became of each, and what could not be done.
pub fn prune(dir: &WorkerDir, pruned: &[String]) -> (Vec<Ending>, Vec<(String, String)>) {
    let (mut ended, mut failed) = (Vec::new(), Vec::new());
    for name in recorded_names(dir).unwrap_or_default() {
        let kept = matches!(Record::read(dir, &name), Ok(Some(r)) if r.kept);
        if !kept && !pruned.contains(&name) {
            continue;
        }
        match end(dir, &name, false) {
            Ok(Some(e)) => ended.push(e),
            Ok(None) => {}
            Err(e) => failed.push((format!("the worktree of {name}"), e.to_string())),
        }
    }
    (ended, failed)
}

/// Names with a worktree record.
pub fn recorded_names(dir: &WorkerDir) -> Result<Vec<String>> {
    let mut names: Vec<String> = dir
        .entries()?
        .into_iter()
        .filter_map(|f| f.strip_suffix(".worktree").map(str::to_string))
        .filter(|n| crate::name::validate(n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        json!({"name": "w", "git_dir": "/src/p/.git", "branch": "csd/w", "base_ref": "refs/heads/main",
               "base": "0123456789abcdef0123456789abcdef01234567", "prefix": "sub/dir"})
    }

    fn parse(v: &Value) -> std::result::Result<Record, String> {
        Record::parse("w", v.to_string().as_bytes())
    }

    #[test]
    fn a_record_holds_up_only_as_what_it_claims() {
        let r = parse(&good()).unwrap();
        assert_eq!(r.path(), Path::new("/src/p/.git/csd/worktrees/w"));
        assert!(!r.kept);
        for (k, bad) in [
            ("name", json!("x")),
            ("git_dir", json!("src/.git")),
            ("git_dir", json!("/src/../etc")),
            ("branch", json!("-f")),
            ("branch", json!("a..b")),
            ("branch", json!(7)),
            ("base", json!("HEAD")),
            ("base", json!("0123456789ABCDEF0123456789ABCDEF01234567")),
            ("base_ref", json!("refs/tags/v1")),
            ("base_ref", json!("refs/heads/-x")),
            ("prefix", json!("../up")),
            ("prefix", json!("/abs")),
        ] {
            let mut v = good();
            v[k] = bad.clone();
            assert!(parse(&v).is_err(), "{k} = {bad} was taken");
        }
        let mut v = good();
        v["base_ref"] = v["base"].clone();
        assert!(parse(&v).is_ok(), "a commit is a base_ref");
        assert!(Record::parse("w", b"not json").is_err());
    }

    #[test]
    fn ask_args_ask_for_the_same_again() {
        let ask = Ask { branch: Some("fix/a".into()), base: Some("main".into()), setup: Some("make deps".into()) };
        assert_eq!(ask.args(), ["--worktree=fix/a", "--base", "main", "--setup", "make deps"]);
        assert_eq!(Ask::default().args(), ["--worktree"]);
    }
}
