//! csd-hook: record one Claude Code / Codex lifecycle event for a csd worker.
//!
//! Usage: csd-hook [TMUX_NAME CWD WORKER_DIR [HARNESS]] < payload.json
//! Always exits 0 and prints nothing: a hook must never break its agent.

use csd::hook::{handle, parse_payload, read_stdin_bounded, Identity, STDIN_CAP, STDIN_DEADLINE};

fn main() {
    let args: Vec<String> = std::env::args_os().skip(1).filter_map(|a| a.into_string().ok()).collect();
    let tool = &csd::interface::spec::CSD_HOOK;
    let help = match args.first().map(String::as_str) {
        Some("-h") => Some(tool.short_help()),
        Some("--help") => Some(tool.long_help()),
        Some("-V") | Some("--version") => Some(format!("{} {}\n", tool.name, env!("CARGO_PKG_VERSION"))),
        _ => None,
    };
    if let Some(text) = help {
        // A reader that went away is no reason to fail (or to panic).
        let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
        return;
    }
    let (bytes, cut) = read_stdin_bounded(STDIN_DEADLINE, STDIN_CAP);
    let identity = Identity::from_args(&args);
    if let Some(payload) = parse_payload(&bytes, cut) {
        let _ = handle(&payload, identity.as_ref());
    }
}
