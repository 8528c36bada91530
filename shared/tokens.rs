//! Token counts, as a harness's transcript records them: what each harness
//! folder's usage reader returns and what the tally adds up.

use serde_json::{json, Value};

/// Token counts; `None` where the harness does not record that count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
}

const KEYS: [&str; 4] = ["input", "output", "cache_read", "cache_write"];

impl Tokens {
    /// Nothing known: no transcript to read.
    pub const UNKNOWN: Tokens = Tokens { input: None, output: None, cache_read: None, cache_write: None };
    /// A transcript with no usage in it yet.
    pub const ZERO: Tokens = Tokens { input: Some(0), output: Some(0), cache_read: Some(0), cache_write: Some(0) };

    fn fields(&self) -> [Option<u64>; 4] {
        [self.input, self.output, self.cache_read, self.cache_write]
    }

    fn from_fields(f: [Option<u64>; 4]) -> Tokens {
        Tokens { input: f[0], output: f[1], cache_read: f[2], cache_write: f[3] }
    }

    fn zip(self, other: Tokens, op: impl Fn(Option<u64>, Option<u64>) -> Option<u64>) -> Tokens {
        let (a, b) = (self.fields(), other.fields());
        Tokens::from_fields([op(a[0], b[0]), op(a[1], b[1]), op(a[2], b[2]), op(a[3], b[3])])
    }

    /// Field by field; a count only one side has is kept.
    pub fn plus(self, other: Tokens) -> Tokens {
        self.zip(other, |a, b| match (a, b) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        })
    }

    pub fn minus(self, other: Tokens) -> Tokens {
        self.zip(other, |a, b| a.map(|a| a.saturating_sub(b.unwrap_or(0))))
    }

    /// `input + output`, when both are known (`csd list`'s TOKENS).
    pub fn total(&self) -> Option<u64> {
        Some(self.input? + self.output?)
    }

    pub fn to_json(&self) -> Value {
        let f = self.fields();
        json!({KEYS[0]: f[0], KEYS[1]: f[1], KEYS[2]: f[2], KEYS[3]: f[3]})
    }

    /// Each of the four keys, a count or null; nothing else holds up.
    pub fn from_json(v: &Value) -> Option<Tokens> {
        let o = v.as_object()?;
        let mut f = [None; 4];
        for (slot, key) in f.iter_mut().zip(KEYS) {
            *slot = match o.get(key)? {
                Value::Null => None,
                n => Some(n.as_u64()?),
            };
        }
        Some(Tokens::from_fields(f))
    }
}

/// What one transcript line says about the session's token use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineUsage<'a> {
    /// Nothing (most lines).
    None,
    /// Tokens spent by this line, to add.
    Add(Tokens),
    /// One API message's usage so far: counted once per message id, with
    /// the usage of its latest line (Claude Code writes a message as one
    /// line per content block, each with the message's usage).
    Message(&'a str, Tokens),
    /// The session's running total: replaces what was counted.
    Total(Tokens),
}
