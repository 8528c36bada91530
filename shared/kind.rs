//! Which harness a worker runs, as its meta or marker records it. Below the
//! harness drivers (`harness/`): the records name a harness without knowing
//! how to drive one.

use crate::error::{usage, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HarnessKind {
    Claude,
    Codex,
    Pi,
}

pub const ALL_HARNESSES: [HarnessKind; 3] = [HarnessKind::Claude, HarnessKind::Codex, HarnessKind::Pi];

impl HarnessKind {
    pub fn name(self) -> &'static str {
        match self {
            HarnessKind::Claude => "claude",
            HarnessKind::Codex => "codex",
            HarnessKind::Pi => "pi",
        }
    }

    /// `--harness` values; anything else is a usage error (exit 2).
    pub fn parse(s: &str) -> Result<HarnessKind> {
        ALL_HARNESSES.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            usage(format!("unknown harness '{}' (expected one of: claude, codex, pi)", crate::name::printable(s)))
        })
    }

    /// The variable that overrides the binary (tests point it at a fake).
    pub fn bin_env(self) -> &'static str {
        match self {
            HarnessKind::Claude => "CSD_CLAUDE_BIN",
            HarnessKind::Codex => "CSD_CODEX_BIN",
            HarnessKind::Pi => "CSD_PI_BIN",
        }
    }

    /// `$CSD_<X>_BIN`, or the bare name for the pane's PATH to find.
    pub fn binary(self) -> String {
        match std::env::var(self.bin_env()) {
            Ok(v) if !v.is_empty() => v,
            _ => self.name().to_string(),
        }
    }
}

/// The harness a record names: one this csd knows, or a name it does not
/// (kept as written, so such a worker stays listable and stoppable).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HarnessName {
    Known(HarnessKind),
    Unknown(String),
}

impl HarnessName {
    pub fn of(s: &str) -> HarnessName {
        match HarnessKind::parse(s) {
            Ok(k) => HarnessName::Known(k),
            Err(_) => HarnessName::Unknown(s.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            HarnessName::Known(k) => k.name(),
            HarnessName::Unknown(s) => s,
        }
    }

    pub fn kind(&self) -> Option<HarnessKind> {
        match self {
            HarnessName::Known(k) => Some(*k),
            HarnessName::Unknown(_) => None,
        }
    }
}

impl From<HarnessKind> for HarnessName {
    fn from(k: HarnessKind) -> HarnessName {
        HarnessName::Known(k)
    }
}
