//! csd: the v4 command surface, mapped onto the csd-* binaries installed
//! beside this one. It parses only enough to pick the binary (the table is
//! its declaration's subcommands); the binary does the rest, and its exit
//! status is ours. It also prints shell completions, and the man pages for
//! `make man`.

use csd::cli::{note, say, utf8};
use csd::error::{usage, Error, Result, EXIT_OK, EXIT_USAGE};
use csd::interface::{spec::CSD, Tool, TOOLS};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

fn main() {
    let code = match run(std::env::args_os().skip(1).collect()) {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => EXIT_OK,
        Err(e) => {
            csd::cli::report("csd", &e);
            e.code()
        }
    };
    std::process::exit(code)
}

fn run(args: Vec<OsString>) -> Result<i32> {
    let mut args = args.into_iter().peekable();
    let mut worker: Option<String> = None;
    while let Some(a) = args.peek().and_then(|a| a.to_str()) {
        let given = if a == "--worker" {
            args.next();
            let v = args.next().ok_or_else(|| usage("--worker needs a NAME"))?;
            utf8(v, "--worker")?
        } else if let Some(v) = a.strip_prefix("--worker=") {
            let v = v.to_string();
            args.next();
            v
        } else {
            break;
        };
        // A shim's `--worker` and another after it: which one was meant?
        if let Some(first) = &worker {
            return Err(usage(format!(
                "--worker given twice ('{}' and '{}')",
                csd::name::printable(first),
                csd::name::printable(&given)
            )));
        }
        worker = Some(given);
    }
    let Some(sub) = args.next() else {
        note(CSD.short_help().trim_end());
        return Ok(EXIT_USAGE);
    };
    let sub = utf8(sub, "subcommand")?;
    let rest: Vec<OsString> = args.collect();
    match sub.as_str() {
        "-h" => return csd::cli::print_help(&CSD.short_help()),
        "--help" => return csd::cli::print_help(&CSD.long_help()),
        "help" => return help(),
        "--version" | "-V" => return csd::cli::print_version("csd"),
        "completions" => return completions(&rest),
        // For `make man`; not part of the interface.
        "generate-man" => return generate_man(&rest),
        // What a controller runs on a host through ssh.
        "remote-call" if rest.is_empty() && worker.is_none() => return csd::route::serve(),
        _ => {}
    }
    let Some(route) = CSD.subcommands.iter().find(|s| s.name == sub) else {
        return Err(usage(format!("unknown subcommand '{}'", csd::name::printable(&sub))));
    };
    let mut argv: Vec<OsString> = route.pre.iter().map(OsString::from).collect();
    match (route.per_worker, worker) {
        (true, Some(w)) => {
            csd::name::worker_ref(&w)?;
            if let Some(code) = remote_direct(route.bin, &argv, &w, &rest)? {
                return Ok(code);
            }
            argv.push(w.into())
        }
        (true, None) => return Err(usage(worker_missing(&sub, route.bin, route.pre, &rest))),
        (false, Some(_)) => return Err(usage(format!("--worker is not valid for '{sub}' (a top-level subcommand)"))),
        (false, None) => {}
    }
    argv.extend(rest);
    let path = csd::cli::beside_me(route.bin)?;
    let err = std::process::Command::new(&path).args(argv).exec();
    Err(Error::Io(format!("running {}", path.display()), err))
}

/// `csd stop r1` reads as a worker named, so the error names the two forms
/// that take it: the per-worker subcommand after `--worker`, or its binary.
fn worker_missing(sub: &str, bin: &str, pre: &[&str], rest: &[OsString]) -> String {
    let named = rest.first().and_then(|w| w.to_str()).filter(|w| csd::name::worker_ref(w).is_ok());
    let w = named.unwrap_or("NAME");
    let more = if rest.len() > named.is_some() as usize { " …" } else { "" };
    let pre: String = pre.iter().map(|p| format!(" {p}")).collect();
    format!("'{sub}' acts on one worker: csd --worker {w} {sub}{more}, or {bin}{pre} {w}{more}")
}

/// A remote worker's status, wait, events or turn runs on its host from
/// here, one process start sooner than through the binary (send and stop
/// keep their own handling: the prompt goes on stdin, the record goes).
fn remote_direct(bin: &str, pre: &[OsString], worker: &str, rest: &[OsString]) -> Result<Option<i32>> {
    if !matches!(bin, "csd-status" | "csd-wait" | "csd-events" | "csd-turn") {
        return Ok(None);
    }
    let dir = csd::workerdir::WorkerDir::from_env()?;
    csd::route::run_on_its_host_with(&dir, worker, || {
        let mut argv = vec![bin.to_string()];
        for a in pre.iter().chain([OsString::from(worker)].iter()).chain(rest) {
            argv.push(utf8(a.clone(), "argument")?);
        }
        Ok((argv, Vec::new()))
    })
}

/// The subcommands, then each csd binary: its synopsis, and whether it is
/// installed beside this one.
fn help() -> Result<i32> {
    let dir = csd::cli::my_dir()?;
    let mut text = CSD.short_help();
    text.push_str(&format!("\nBinaries (in {}):\n", dir.display()));
    for t in TOOLS.iter().filter(|t| t.name != "csd") {
        let mark = if dir.join(t.name).is_file() { "" } else { "  (not installed)" };
        text.push_str(&format!("  {}: {}{mark}\n", t.name, t.summary));
        for u in t.usage {
            text.push_str(&format!("      {} {u}\n", t.name));
        }
    }
    say(text)?;
    Ok(EXIT_OK)
}

fn completions(rest: &[OsString]) -> Result<i32> {
    let [shell] = rest else { return Err(usage("expected: csd completions bash|zsh|fish")) };
    say(csd::interface::complete::script(&utf8(shell.clone(), "SHELL")?)?)?;
    Ok(EXIT_OK)
}

/// Write every binary's man page into DIR.
fn generate_man(rest: &[OsString]) -> Result<i32> {
    let [dir] = rest else { return Err(usage("expected: csd generate-man DIR")) };
    let dir = std::path::Path::new(dir);
    for t in TOOLS.iter().copied() {
        write_page(dir, t)?;
    }
    Ok(EXIT_OK)
}

fn write_page(dir: &std::path::Path, t: &Tool) -> Result<()> {
    let path = dir.join(format!("{}.1", t.name));
    std::fs::write(&path, csd::interface::man::page(t)).map_err(|e| Error::Io(format!("writing {}", path.display()), e))
}
