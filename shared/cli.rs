//! What every binary's `main` shares: run, map the result to an exit code in
//! one place, end quietly on a broken pipe, and small lexopt helpers.

use crate::error::{usage, Error, Result, EXIT_OK};
use std::ffi::OsString;
use std::io::Write;

/// Run a binary's body and exit with the contract's code.
///
/// A broken pipe on stdout is not an error for a filter (`csd-events … | head
/// -1`): it ends with status 0 and nothing on stderr.
pub fn main_with(tool: &str, run: fn(lexopt::Parser) -> Result<i32>) -> ! {
    let parser = lexopt::Parser::from_env();
    let code = match run(parser) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => EXIT_OK,
        Err(Error::Signal(sig)) => {
            report(tool, &Error::Signal(sig));
            let _ = std::io::stdout().flush();
            crate::signals::exit_by(sig)
        }
        Err(e) => {
            report(tool, &e);
            e.code()
        }
    };
    // A failing flush at exit is a reader that went away: not worth a word.
    let _ = std::io::stdout().flush();
    std::process::exit(code)
}

/// Write `text` to stdout. A reader that went away is the caller's
/// `Error::Io(BrokenPipe)`, which `main_with` turns into a quiet exit 0:
/// never `println!`, which panics on a closed pipe.
pub fn say(text: impl AsRef<[u8]>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_ref()).and_then(|_| out.flush()).map_err(|e| Error::Io("writing output".into(), e))
}

/// A line for a human on stderr; a closed stderr is not worth failing for.
pub fn note(text: impl AsRef<str>) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", text.as_ref());
}

/// Print `tool: message` on stderr, with a hint for usage errors.
pub fn report(tool: &str, e: &Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{tool}: {}", one_line(&e.to_string()));
    if matches!(e, Error::Usage(_)) {
        let _ = writeln!(err, "Try '{tool} --help' for more information.");
    }
}

/// Errors are one line; a multi-line detail (a pane tail) is the exception and
/// is printed by the caller on its own.
fn one_line(s: &str) -> &str {
    s.trim_end_matches('\n')
}

/// Print help text and succeed.
pub fn print_help(text: &str) -> Result<i32> {
    say(text)?;
    Ok(EXIT_OK)
}

pub fn print_version(tool: &str) -> Result<i32> {
    // The commit too (build.rs): two builds of one version tell apart.
    match option_env!("CSD_COMMIT") {
        Some(commit) => say(format!("{tool} {} (commit {commit})\n", env!("CARGO_PKG_VERSION")))?,
        None => say(format!("{tool} {}\n", env!("CARGO_PKG_VERSION")))?,
    }
    Ok(EXIT_OK)
}

/// A positional value as UTF-8, or a usage error naming it.
pub fn utf8(v: OsString, what: &str) -> Result<String> {
    v.into_string().map_err(|v| usage(format!("{what} is not valid UTF-8: {}", v.to_string_lossy())))
}

/// A whole non-negative number, for counts and line numbers.
pub fn parse_count(v: OsString, what: &str) -> Result<u64> {
    let s = utf8(v, what)?;
    s.parse::<u64>().map_err(|_| usage(format!("{what} must be a whole number, got '{s}'")))
}

/// A timeout in seconds: a positive number, fractions allowed (`0.5`).
pub fn parse_seconds(v: OsString, what: &str) -> Result<std::time::Duration> {
    let s = utf8(v, what)?;
    match s.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n < 1e9 => Ok(std::time::Duration::from_secs_f64(n)),
        _ => Err(usage(format!("{what} must be a positive number of seconds, got '{s}'"))),
    }
}

/// The directory the running binary was started from: the csd binaries are
/// installed side by side.
pub fn my_dir() -> Result<std::path::PathBuf> {
    let me = std::env::current_exe().map_err(|e| Error::Io("finding my own path".into(), e))?;
    Ok(me.parent().map(std::path::PathBuf::from).unwrap_or_default())
}

/// A csd binary installed in the same directory as the running one (csd-launch
/// bakes `csd` into shims and `csd-hook` into hooks this way; csd execs them).
pub fn beside_me(bin: &str) -> Result<std::path::PathBuf> {
    let dir = my_dir()?;
    let path = dir.join(bin);
    if path.is_file() {
        Ok(path)
    } else {
        Err(crate::error::failed(format!("{bin} is not installed beside this program (looked for {})", path.display())))
    }
}
