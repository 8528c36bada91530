//! csd-send: give a worker a prompt (`W PROMPT`), or hold a whole exchange
//! (`--converse W PROMPT [TIMEOUT]`: send, wait for the turn to end, print
//! the reply), or give one and print its receipt (`--receipt W PROMPT
//! [TIMEOUT]`: the event-log line after which the first turn end answers it,
//! for `csd-wait --after-line`). PROMPT `-` reads it from stdin. `--answer W
//! N…` picks option N of the question the worker is blocked on.

use csd::cli::{main_with, parse_seconds, say, utf8};
use csd::converse::{deliver, Delivered, Want};
use csd::error::{usage, Error, Result};
use csd::submit::Timing;
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;

const TOOL: &csd::interface::Tool = &csd::interface::spec::CSD_SEND;

fn main() {
    main_with("csd-send", run)
}

fn run(mut p: lexopt::Parser) -> Result<i32> {
    // A signal must not leave a prompt half-submitted (see submit_to).
    csd::signals::install()?;
    let (mut converse, mut with_turn, mut want_receipt, mut answer, mut command) = (false, false, false, false, false);
    let mut positional: Vec<OsString> = Vec::new();
    while let Some(arg) = p.next()? {
        if let Some(done) = TOOL.answer_common(&arg) {
            return done;
        }
        match arg {
            Long("converse") => converse = true,
            Long("with-turn") => with_turn = true,
            Long("receipt") => want_receipt = true,
            Long("command") => command = true,
            Long("answer") => answer = true,
            Value(v) => positional.push(v),
            _ => return Err(arg.unexpected().into()),
        }
    }
    if answer {
        if converse || with_turn || want_receipt || command {
            return Err(usage("--answer goes alone (it sends no prompt)"));
        }
        return run_answer(positional);
    }
    let ask = Ask::of(converse, with_turn, want_receipt, command)?;
    let max = if matches!(ask, Ask::Prompt(Want::Send) | Ask::Command) { 2 } else { 3 };
    if positional.len() < 2 || positional.len() > max {
        return Err(usage(format!("expected {}, got {} argument(s)", ask.shape(), positional.len())));
    }
    let mut positional = positional.into_iter();
    let name = utf8(positional.next().expect("counted"), "WORKER")?;
    let prompt = read_prompt(positional.next().expect("counted"))?;
    let timeout_arg = positional.next();
    let timeout = timeout_arg.clone().map(|t| parse_seconds(t, "TIMEOUT")).transpose()?;
    if let Some(t) = timeout {
        // A hung tmux server must not hold us past our own TIMEOUT.
        csd::tmux::cap_calls(t);
    }
    let dir = WorkerDir::from_env()?;
    let on_host = || {
        // On a host, the prompt goes on stdin: never on the host's command line.
        let mut argv = vec![TOOL.name.to_string()];
        argv.extend(ask.flags().iter().map(|f| f.to_string()));
        argv.extend([name.clone(), "-".into()]);
        argv.extend(timeout_arg.map(|t| t.to_string_lossy().into_owned()));
        // `-` drops one final newline: this one.
        Ok((argv, [&prompt[..], b"\n"].concat()))
    };
    if let Some(code) = csd::route::run_on_its_host_with(&dir, &name, on_host)? {
        return Ok(code);
    }
    let want = match ask {
        Ask::Command => {
            let command = String::from_utf8(prompt).map_err(|_| usage("COMMAND is not UTF-8"))?;
            csd::submit::run_command(&dir, &name, &command, &Timing::from_env()?)?;
            return Ok(0);
        }
        Ask::Prompt(want) => want,
    };
    match deliver(&dir, &name, &prompt, want, timeout)? {
        Delivered::Sent => {}
        Delivered::Receipt(line) => say(format!("{line}\n"))?,
        Delivered::Reply(reply, worker) => {
            let newline = if reply.text.ends_with('\n') { "" } else { "\n" };
            say(format!("{}{newline}", reply.text))?;
            reply.verdict(&worker)?;
        }
    }
    Ok(0)
}

/// A prompt and what is wanted of it, or a CLI command (`--command`).
#[derive(Clone, Copy)]
enum Ask {
    Prompt(Want),
    Command,
}

impl Ask {
    fn of(converse: bool, with_turn: bool, receipt: bool, command: bool) -> Result<Ask> {
        if with_turn && !converse {
            return Err(usage("--with-turn goes with --converse"));
        }
        if receipt && converse {
            return Err(usage("--receipt and --converse do not go together (converse waits for the turn itself)"));
        }
        if command && (converse || receipt || with_turn) {
            return Err(usage("--command goes alone: a CLI command has no turn to wait for or receipt"));
        }
        Ok(match (converse, receipt, command) {
            (true, _, _) => Ask::Prompt(Want::Reply { with_turn }),
            (_, true, _) => Ask::Prompt(Want::Receipt),
            (_, _, true) => Ask::Command,
            _ => Ask::Prompt(Want::Send),
        })
    }

    /// Its options, as given (for the same call on a worker's host).
    fn flags(self) -> &'static [&'static str] {
        match self {
            Ask::Prompt(Want::Reply { with_turn: true }) => &["--converse", "--with-turn"],
            Ask::Prompt(Want::Reply { with_turn: false }) => &["--converse"],
            Ask::Prompt(Want::Receipt) => &["--receipt"],
            Ask::Prompt(Want::Send) => &[],
            Ask::Command => &["--command"],
        }
    }

    fn shape(self) -> &'static str {
        match self {
            Ask::Prompt(Want::Reply { .. }) => "--converse WORKER PROMPT [TIMEOUT]",
            Ask::Prompt(Want::Receipt) => "--receipt WORKER PROMPT [TIMEOUT]",
            Ask::Prompt(Want::Send) => "WORKER PROMPT",
            Ask::Command => "--command WORKER COMMAND",
        }
    }
}

/// `--answer WORKER N…`: pick option N of the worker's pending question (one
/// N per question of its form), and return once the worker took it (within
/// CSD_SUBMIT_TIMEOUT).
fn run_answer(positional: Vec<OsString>) -> Result<i32> {
    if positional.len() < 2 {
        return Err(usage(format!("expected --answer WORKER N..., got {} argument(s)", positional.len())));
    }
    let mut positional = positional.into_iter();
    let name = utf8(positional.next().expect("counted"), "WORKER")?;
    let picks = positional
        .map(|n| {
            let n = utf8(n, "N")?;
            n.parse::<usize>().map_err(|_| usage(format!("N must be an option's number (1, 2, …), not '{n}'")))
        })
        .collect::<Result<Vec<usize>>>()?;
    let dir = WorkerDir::from_env()?;
    let on_host = || {
        let mut argv = vec![TOOL.name.to_string(), "--answer".into(), name.clone()];
        argv.extend(picks.iter().map(usize::to_string));
        Ok((argv, Vec::new()))
    };
    if let Some(code) = csd::route::run_on_its_host_with(&dir, &name, on_host)? {
        return Ok(code);
    }
    csd::answer::answer(&dir, &name, &picks, Timing::from_env()?.timeout)?;
    Ok(0)
}

/// An argument as it is, or with `-` all of stdin minus one final newline
/// (as `$(…)` would drop it). Empty prompts are refused.
fn read_prompt(arg: OsString) -> Result<Vec<u8>> {
    let mut prompt = if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .map_err(|e| Error::Io("reading the prompt from stdin".into(), e))?;
        if buf.ends_with(b"\n") {
            buf.pop();
            if buf.ends_with(b"\r") {
                buf.pop();
            }
        }
        buf
    } else {
        arg.into_vec()
    };
    // Paste markers are removed before the paste: a prompt of nothing else is empty.
    if csd::harness::strip_paste_markers(&prompt).iter().all(u8::is_ascii_whitespace) {
        return Err(usage("the prompt is empty"));
    }
    prompt.shrink_to_fit();
    Ok(prompt)
}
