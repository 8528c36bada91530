//! The one-time consent csd asks for before it starts any worker: workers run
//! with their harness's permission checks off. Same file as csd v4, so a
//! consent given to either counts for both.

use crate::error::{Context, Result};
use std::path::PathBuf;

pub const WARNING: &str = "\
csd runs workers with their permission prompts turned off (Claude Code:
--dangerously-skip-permissions). Workers run tools without asking. By granting
consent you accept the risk and the responsibility for what workers do.
";

pub fn path() -> Result<PathBuf> {
    Ok(crate::harness::user_home()?.join(".claude").join(".claude-session-driver-consent"))
}

pub fn granted() -> Result<bool> {
    Ok(path()?.exists())
}

/// Record consent; returns where.
pub fn grant() -> Result<PathBuf> {
    let p = path()?;
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).context(|| format!("creating {}", parent.display()))?;
    }
    crate::safefile::open_append(&p, 0o644).context(|| format!("writing {}", p.display()))?;
    Ok(p)
}
