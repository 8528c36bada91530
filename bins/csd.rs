//! csd: the v4 command surface, mapped onto the csd-* binaries installed
//! beside this one. It parses only enough to pick the binary; the binary
//! does the rest, and its exit status is ours.

use csd::error::{usage, Error, Result, EXIT_OK, EXIT_USAGE};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

const HELP: &str = include_str!("help/csd.txt");

/// v4 subcommand → (binary, arguments that go before the worker's, takes a worker).
const ROUTES: &[(&str, &str, &[&str], bool)] = &[
    ("launch", "csd-launch", &[], false),
    ("adopt", "csd-launch", &["--adopt"], false),
    ("grant-consent", "csd-launch", &["--grant-consent"], false),
    ("list", "csd-status", &["--list"], false),
    ("prune", "csd-stop", &["--prune"], false),
    ("converse", "csd-send", &["--converse"], true),
    ("send", "csd-send", &[], true),
    ("wait-for-turn", "csd-wait", &[], true),
    ("status", "csd-status", &[], true),
    ("session-id", "csd-status", &["--session-id"], true),
    ("read-events", "csd-events", &[], true),
    ("events-file", "csd-events", &["--path"], true),
    ("read-turn", "csd-turn", &[], true),
    ("stop", "csd-stop", &[], true),
    ("handoff", "csd-stop", &["--handoff"], true),
];

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
            csd::cli::utf8(v, "--worker")?
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
        csd::cli::note(HELP.trim_end());
        return Ok(EXIT_USAGE);
    };
    let sub = csd::cli::utf8(sub, "subcommand")?;
    match sub.as_str() {
        "help" | "--help" | "-h" => return help(),
        "--version" | "-V" => return csd::cli::print_version("csd"),
        _ => {}
    }
    let Some(&(_, bin, pre, per_worker)) = ROUTES.iter().find(|r| r.0 == sub) else {
        return Err(usage(format!("unknown subcommand '{}'", csd::name::printable(&sub))));
    };
    let mut argv: Vec<OsString> = pre.iter().map(OsString::from).collect();
    match (per_worker, worker) {
        (true, Some(w)) => argv.push(csd::name::validate(&w)?.into()),
        (true, None) => return Err(usage(format!("--worker NAME is required for '{sub}'"))),
        (false, Some(_)) => return Err(usage(format!("--worker is not valid for '{sub}' (a top-level subcommand)"))),
        (false, None) => {}
    }
    argv.extend(args);
    let path = csd::cli::beside_me(bin)?;
    let err = std::process::Command::new(&path).args(argv).exec();
    Err(Error::Io(format!("running {}", path.display()), err))
}

fn help() -> Result<i32> {
    let dir = csd::cli::my_dir()?;
    let mut installed: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("csd-") && !n.contains('.'))
                .collect()
        })
        .unwrap_or_default();
    installed.sort();
    let mut text = format!("{HELP}\nInstalled in {}:\n", dir.display());
    for (sub, bin, _, _) in ROUTES {
        let mark = if installed.iter().any(|i| i == bin) { bin.to_string() } else { format!("{bin} (not installed)") };
        text.push_str(&format!("  {sub:<14} -> {mark}\n"));
    }
    let extra: Vec<&String> = installed.iter().filter(|i| !ROUTES.iter().any(|r| r.1 == i.as_str())).collect();
    if !extra.is_empty() {
        text.push_str(&format!("  also: {}\n", extra.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")));
    }
    csd::cli::say(text)?;
    Ok(EXIT_OK)
}
