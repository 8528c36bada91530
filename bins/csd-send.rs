//! csd-send: give a worker a prompt (`W PROMPT`), or hold a whole exchange
//! (`--converse W PROMPT [TIMEOUT]`: send, wait for the turn to end, print
//! the reply), or give one and print its receipt (`--receipt W PROMPT
//! [TIMEOUT]`: the event-log line after which the first turn end answers it,
//! for `csd-wait --after-line`). PROMPT `-` reads it from stdin. `--answer W
//! N…` picks option N of the question the worker is blocked on.

use csd::cli::{main_with, note, parse_seconds, say, utf8};
use csd::converse::{receipt, reply, send, taken, Taken, CONVERSE_TIMEOUT};
use csd::error::{usage, Error, Result};
use csd::submit::{Submitted, Timing};
use csd::workerdir::WorkerDir;
use lexopt::prelude::*;
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStringExt;
use std::time::Instant;

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
    if with_turn && !converse {
        return Err(usage("--with-turn goes with --converse"));
    }
    if want_receipt && converse {
        return Err(usage("--receipt and --converse do not go together (converse waits for the turn itself)"));
    }
    if command && (converse || want_receipt || with_turn) {
        return Err(usage("--command goes alone: a CLI command has no turn to wait for or receipt"));
    }
    let max = if converse || want_receipt { 3 } else { 2 };
    if positional.len() < 2 || positional.len() > max {
        let shape = if converse {
            "--converse WORKER PROMPT [TIMEOUT]"
        } else if want_receipt {
            "--receipt WORKER PROMPT [TIMEOUT]"
        } else if command {
            "--command WORKER COMMAND"
        } else {
            "WORKER PROMPT"
        };
        return Err(usage(format!("expected {shape}, got {} argument(s)", positional.len())));
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
    {
        // On a host, the prompt goes on stdin: never on the host's command line.
        let mut argv = vec![TOOL.name.to_string()];
        argv.extend(converse.then(|| "--converse".to_string()));
        argv.extend(with_turn.then(|| "--with-turn".to_string()));
        argv.extend(want_receipt.then(|| "--receipt".to_string()));
        argv.extend(command.then(|| "--command".to_string()));
        argv.extend([name.clone(), "-".into()]);
        argv.extend(timeout_arg.map(|t| t.to_string_lossy().into_owned()));
        // `-` drops one final newline: this one.
        let stdin = [&prompt[..], b"\n"].concat();
        if let Some(code) = csd::route::run_on_its_host_with(&dir, &name, argv, stdin)? {
            return Ok(code);
        }
    }
    if command {
        let command = String::from_utf8(prompt).map_err(|_| usage("COMMAND is not UTF-8"))?;
        csd::submit::run_command(&dir, &name, &command, &Timing::from_env()?)?;
        return Ok(0);
    }
    let started = Instant::now();
    let sent = send(&dir, &name, &prompt, &Timing::from_env()?, converse || want_receipt)?;
    if let Submitted::Queued { .. } = sent.submitted {
        note(format!(
            "csd-send: '{}' is mid-turn: the prompt is queued and goes in when the current turn ends",
            sent.worker.name()
        ));
    }
    if want_receipt {
        // A queued prompt is taken when the running turn reaches it: wait
        // (within TIMEOUT of the start) for it to be taken.
        let timeout = timeout.unwrap_or(CONVERSE_TIMEOUT);
        let how = taken(&sent, &prompt, started + timeout).map_err(|e| match e {
            Error::Timeout(_) => Error::Timeout(format!(
                "'{}' did not take the queued prompt within {}s (it is still queued in the worker)",
                sent.worker.name(),
                timeout.as_secs_f64()
            )),
            e => e,
        })?;
        if let Taken::Joined { .. } = how {
            note(format!(
                "csd-send: '{}' took the prompt into its running turn (no turn of its own): that turn's end answers it",
                sent.worker.name()
            ));
        }
        say(format!("{}\n", receipt(&sent.worker, &how)?))?;
        return Ok(0);
    }
    if !converse {
        return Ok(0);
    }
    let reply = reply(&sent, &prompt, timeout.unwrap_or(CONVERSE_TIMEOUT), with_turn)?;
    let newline = if reply.text.ends_with('\n') { "" } else { "\n" };
    say(format!("{}{newline}", reply.text))?;
    reply.verdict(sent.worker.name())?;
    Ok(0)
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
    let mut argv = vec![TOOL.name.to_string(), "--answer".into(), name.clone()];
    argv.extend(picks.iter().map(usize::to_string));
    if let Some(code) = csd::route::run_on_its_host_with(&dir, &name, argv, Vec::new())? {
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
