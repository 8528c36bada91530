//! Tunables read from the environment. A malformed, zero or negative value is
//! an error, never a silent "0 ms, fail at once" or a silent default.

use crate::error::{usage, Result};
use std::time::Duration;

/// `name` in seconds (fractions allowed), or `default` when unset or empty.
pub fn seconds(name: &str, default: Duration) -> Result<Duration> {
    read(name, default, 1.0)
}

/// `name` in milliseconds, or `default` when unset or empty.
pub fn millis(name: &str, default: Duration) -> Result<Duration> {
    read(name, default, 1e-3)
}

fn read(name: &str, default: Duration, unit: f64) -> Result<Duration> {
    let raw = match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => return Ok(default),
        Ok(v) => v,
        Err(std::env::VarError::NotPresent) => return Ok(default),
        Err(_) => return Err(usage(format!("{name} is not valid UTF-8"))),
    };
    match raw.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n * unit < 1e9 => Ok(Duration::from_secs_f64(n * unit)),
        _ => Err(usage(format!("{name}='{}' must be a positive number", raw.escape_debug()))),
    }
}
