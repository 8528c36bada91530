//! The harness a worker's meta or marker names, as a record: a name only.
//! Below the harnesses (`harness/`), which alone know what a name means and
//! how to drive it (`HarnessKind::of`): a record naming a harness this csd
//! does not know stays listable and stoppable.

/// A harness name as a record wrote it, kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HarnessName(String);

impl HarnessName {
    pub fn of(s: &str) -> HarnessName {
        HarnessName(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
