//! The commit csd is built from, for `--version`: `CSD_COMMIT` when set (a
//! build from a release archive, which has no .git), else the checkout's HEAD.
//! None when neither is there: `--version` then gives the version alone.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CSD_COMMIT");
    let commit = std::env::var("CSD_COMMIT").ok().filter(|c| !c.is_empty()).or_else(checkout_commit);
    if let Some(c) = commit {
        println!("cargo:rustc-env=CSD_COMMIT={c}");
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn checkout_commit() -> Option<String> {
    let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
    // Built again when HEAD moves: HEAD, the branch it names, packed refs.
    // Only files that exist: cargo takes a missing one for always changed.
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        let Some(path) = git(&["rev-parse", "--git-path", &name]) else { continue };
        let path = if Path::new(&path).is_absolute() { PathBuf::from(path) } else { manifest.join(path) };
        if path.is_file() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Some(commit)
}
