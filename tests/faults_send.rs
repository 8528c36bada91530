//! Fault injection for the send path (issue 17, items 1, 2, 3): through the
//! real binaries on a private tmux server with the scripted fake Claude Code.
//! A prompt is text whatever its first byte, sends to one worker never
//! splice, each is confirmed by its own submission, stop never types into a
//! half-made prompt, and a prompt that was not taken leaves the input empty.

mod common;

use common::world::World;
use common::*;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

fn spawn_send(w: &World, args: &[&str]) -> Child {
    w.cmd("csd-send").args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Issue 17 item 2: `csd-send --converse W alpha & csd-send --converse W beta`
/// gave the worker one prompt `betaalpha` in 6 of 6 rounds, both exit 0 with
/// the same reply. Now each prompt goes in whole, on its own, and each
/// sender prints the reply to its own prompt.
#[test]
fn two_concurrent_converses_to_one_worker_never_splice() {
    let w = World::new();
    let record = w.record();
    w.up("w1", &["--fake-record", record.to_str().unwrap()]);
    for round in 0..4 {
        let (a, b) = (format!("alpha{round}"), format!("beta{round}"));
        let ka = spawn_send(&w, &["--converse", "w1", &a, "30"]);
        let kb = spawn_send(&w, &["--converse", "w1", &b, "30"]);
        for (kid, prompt) in [(ka, &a), (kb, &b)] {
            let o = kid.wait_with_output().unwrap();
            assert_code(&o, 0);
            assert_eq!(stdout(&o), format!("Reply: {prompt}\n"), "a sender got another's reply");
        }
    }
    let mut got = w.recorded();
    got.sort();
    let mut want: Vec<String> = (0..4).flat_map(|r| [format!("alpha{r}"), format!("beta{r}")]).collect();
    want.sort();
    assert_eq!(got, want, "prompts were spliced or lost");
}

/// The load test: 10 workers, 4 concurrent senders each, 200 prompts in all;
/// every prompt answered exactly once, each sender printing the reply to its
/// own prompt.
#[test]
fn two_hundred_prompts_from_forty_senders_are_each_answered_once_to_their_sender() {
    const WORKERS: usize = 10;
    const SENDERS: usize = 4;
    const EACH: usize = 5;
    let started = Instant::now();
    let w = World::new();
    let records: Vec<_> = (0..WORKERS).map(|i| w.env.path().join(format!("rec-{i}.jsonl"))).collect();
    let launches: Vec<Child> = (0..WORKERS)
        .map(|i| {
            w.cmd("csd-launch")
                .arg(format!("load{i}"))
                .arg(&w.proj)
                .args(["--", "--fake-record", records[i].to_str().unwrap()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for kid in launches {
        assert_code(&kid.wait_with_output().unwrap(), 0);
    }
    let senders: Vec<std::thread::JoinHandle<Vec<String>>> = (0..WORKERS * SENDERS)
        .map(|s| {
            let cmd = |args: Vec<String>| {
                let mut c = w.cmd("csd-send");
                c.args(args);
                c
            };
            let worker = format!("load{}", s % WORKERS);
            let mut cmds: Vec<(String, std::process::Command)> = (0..EACH)
                .map(|n| {
                    let prompt = format!("p-{s}-{n}");
                    (prompt.clone(), cmd(vec!["--converse".into(), worker.clone(), prompt, "60".into()]))
                })
                .collect();
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for (prompt, c) in cmds.iter_mut() {
                    let o: Output = c.output().unwrap();
                    if o.status.code() != Some(0) || stdout(&o) != format!("Reply: {prompt}\n") {
                        failures.push(format!(
                            "{prompt}: exit {:?}, out {:?}, err {:?}",
                            o.status.code(),
                            stdout(&o),
                            stderr(&o)
                        ));
                    }
                }
                failures
            })
        })
        .collect();
    let failures: Vec<String> = senders.into_iter().flat_map(|t| t.join().unwrap()).collect();
    if !failures.is_empty() {
        for i in 0..WORKERS {
            let name = format!("load{i}");
            if failures.iter().any(|f| f.contains(&format!("'{name}'"))) {
                let sid = w.sid(&name);
                let log = std::fs::read_to_string(w.env.events_path(&sid)).unwrap_or_default();
                eprintln!("== {name}: its log\n{log}\n== its pane\n{}", w.env.pane(&name));
            }
        }
    }
    assert!(failures.is_empty(), "{} of 200 sends went wrong: {failures:#?}", failures.len());
    for (i, rec) in records.iter().enumerate() {
        let got: Vec<String> =
            std::fs::read_to_string(rec).unwrap().lines().map(|l| serde_json::from_str::<String>(l).unwrap()).collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut want: Vec<String> = (0..WORKERS * SENDERS)
            .filter(|s| s % WORKERS == i)
            .flat_map(|s| (0..EACH).map(move |n| format!("p-{s}-{n}")))
            .collect();
        want.sort();
        assert_eq!(got_sorted, want, "worker load{i} did not take each of its prompts exactly once");
    }
    eprintln!("200 prompts through 10 workers took {:?}", started.elapsed());
    for i in 0..WORKERS {
        assert_code(&w.env.run("csd-stop", [format!("load{i}")]), 0);
    }
}

/// Issue 17 item 1 with the fake (which, like Claude Code, runs a `!` line
/// that lands at the start of an empty input in bash): `!touch X` sent as a
/// prompt creates no X and reaches the worker as that very prompt.
#[test]
fn a_prompt_starting_with_a_bang_is_a_prompt_not_a_shell_line() {
    let w = World::new();
    let record = w.record();
    w.up("w1", &["--fake-record", record.to_str().unwrap()]);
    let x = w.env.path().join("X");
    for prompt in [format!("!touch {}", x.display()), format!("!touch {}\nand say done", x.display())] {
        let o = w.send(&["--converse", "w1", &prompt, "20"]);
        assert_code(&o, 0);
        assert!(!x.exists(), "the prompt ran as a shell command");
        assert_eq!(w.recorded().last(), Some(&prompt), "the worker got another prompt than the one sent");
    }
    // Without csd's guard the fake does run it: the test can fail.
    let tmux_paste = |text: &str| {
        let f = w.env.path().join("raw");
        std::fs::write(&f, text).unwrap();
        w.env.tmux_ok(["load-buffer", "-b", "raw", f.to_str().unwrap()]);
        w.env.tmux_ok(["paste-buffer", "-p", "-d", "-b", "raw", "-t", "=w1:"]);
        w.env.tmux_ok(["send-keys", "-t", "=w1:", "Enter"]);
    };
    tmux_paste(&format!("!touch {}", x.display()));
    assert!(eventually(Duration::from_secs(5), || x.exists().then_some(())).is_some(), "the fake has no shell mode");
}

/// `--command` types the CLI's own command (the fake quits on `/exit`).
#[test]
fn a_command_is_typed_only_when_asked_for() {
    let w = World::new();
    let sid = w.up("w1", &[]);
    let o = w.send(&["--command", "w1", "/exit"]);
    assert_code(&o, 0);
    wait_for("session_end", || w.events(&sid).last().is_some_and(|e| e == "session_end"));
    assert_code(&w.send(&["--command", "w1", "/clear", "--converse"]), 2);
}

/// Issue 17 item 3: a prompt that is not confirmed used to stay in the
/// input, and the next prompt was appended to it. Now the failed send
/// empties the input and says so, and the next prompt goes in alone.
#[test]
fn an_unconfirmed_send_leaves_the_input_empty() {
    let w = World::new();
    let record = w.record();
    // The fake ignores every Enter after a paste: nothing is ever submitted.
    w.up("w1", &["--fake-swallow-enters", "1000", "--fake-record", record.to_str().unwrap()]);
    let o =
        w.cmd("csd-send").env("CSD_SUBMIT_TIMEOUT", "2").args(["w1", "first prompt\nof two lines"]).output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("cleared the prompt from its input (the input is empty)"), "{}", stderr(&o));
    let screen = w.env.pane("w1");
    let rule = "─".repeat(40);
    let last_box = screen.rsplit_once(&rule).map(|(head, _)| head.rsplit_once(&rule).map(|(_, b)| b.to_string()));
    assert_eq!(last_box.flatten().as_deref().map(str::trim), Some("❯"), "the input is not empty:\n{screen}");
}

/// The same, with a fake that takes Enters: the next send after a failed
/// one goes in alone (the fake records what it was given).
#[test]
fn the_send_after_a_failed_one_is_not_appended_to_it() {
    let w = World::new();
    let record = w.record();
    w.up("w1", &["--fake-swallow-enters", "3", "--fake-record", record.to_str().unwrap()]);
    let o = w
        .cmd("csd-send")
        .env("CSD_SUBMIT_TIMEOUT", "0.3")
        .env("CSD_SUBMIT_RETRY_INTERVAL", "0.1")
        .args(["w1", "lost prompt"])
        .output()
        .unwrap();
    assert_code(&o, 1);
    let o = w.send(&["--converse", "w1", "second prompt", "20"]);
    assert_code(&o, 0);
    assert_eq!(w.recorded(), ["second prompt"], "the failed prompt was left in the input");
}

/// Stop waits for a send going in (it holds the worker's send lock), so its
/// `/exit` never lands in a half-made prompt; the send is confirmed first.
#[test]
fn stop_waits_for_a_send_in_flight() {
    let w = World::new();
    let record = w.record();
    // Three Enters are swallowed: the send holds its lock for a second or so.
    let sid = w.up("w1", &["--fake-swallow-enters", "3", "--fake-record", record.to_str().unwrap()]);
    let send = spawn_send(&w, &["w1", "a prompt in flight"]);
    wait_for("the paste", || w.env.pane("w1").contains("Pasted text"));
    let stop = w.env.run("csd-stop", ["w1"]);
    assert_code(&stop, 0);
    let o = send.wait_with_output().unwrap();
    assert_code(&o, 0);
    assert_eq!(w.recorded(), ["a prompt in flight"], "stop typed into the prompt");
    assert!(!w.env.events_path(&sid).exists());
}

/// A sender killed while it holds the lock does not block the next one.
#[test]
fn a_killed_senders_lock_is_released() {
    let w = World::new();
    w.up("w1", &["--fake-swallow-enters", "1000"]);
    let mut send = spawn_send(&w, &["w1", "never taken"]);
    wait_for("the paste", || w.env.pane("w1").contains("Pasted text"));
    send.kill().unwrap();
    send.wait().unwrap();
    let lock = w.env.worker_dir.join("w1.send.lock");
    assert!(lock.exists());
    let o = w.cmd("csd-send").env("CSD_SUBMIT_TIMEOUT", "1").args(["w1", "next"]).output().unwrap();
    // Not a lock timeout (124): the lock was free, the fake just swallows Enters.
    assert_code(&o, 1);
    // A planted symlink as the lock file is refused, never followed.
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &lock).unwrap();
    let o = w.cmd("csd-send").env("CSD_SUBMIT_TIMEOUT", "1").args(["w1", "next"]).output().unwrap();
    assert_code(&o, 1);
    assert!(stderr(&o).contains("send.lock"), "{}", stderr(&o));
}

/// A send that cannot get the worker's send lock within its timeout types
/// nothing and says why (exit 124).
#[test]
fn a_send_that_cannot_get_the_lock_types_nothing() {
    let w = World::new();
    let record = w.record();
    w.up("w1", &["--fake-record", record.to_str().unwrap()]);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(w.env.worker_dir.join("w1.send.lock"))
        .unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let started = Instant::now();
    let o = w.cmd("csd-send").env("CSD_SUBMIT_TIMEOUT", "1").args(["w1", "blocked prompt"]).output().unwrap();
    assert_code(&o, 124);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(stderr(&o).contains("taking another prompt") && stderr(&o).contains("nothing was typed"), "{}", stderr(&o));
    drop(held);
    let o = w.send(&["--converse", "w1", "free now", "20"]);
    assert_code(&o, 0);
    assert_eq!(w.recorded(), ["free now"], "the blocked send typed something");
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    assert!(eventually(Duration::from_secs(10), || f().then_some(())).is_some(), "timed out waiting for {what}");
}
