//! Running one csd binary for a tool call: an argument vector (never a
//! shell), the prompt on its standard input, its standard output and error
//! collected. While it runs, a progress notification every few seconds
//! when the client asked for them; when the client cancels, SIGTERM to the
//! child at once (csd-send defers it until a pasted prompt is confirmed;
//! the worker itself runs on) and the call ends.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

/// How often a long call says it is still waiting.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// What the binary did.
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub enum Outcome {
    Done(Done),
    Cancelled,
}

/// SIGTERM to the child when dropped while armed: a call whose task is
/// dropped (the server shutting down) leaves no csd process behind it.
struct Term(Option<i32>);

impl Term {
    fn send(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        self.send();
    }
}

/// Run `bin` (a path) with `args`, feeding `stdin`; `tick` is called every
/// PROGRESS_EVERY with the time waited so far.
pub async fn run<F, Fut>(
    bin: &Path,
    args: &[String],
    stdin: Option<String>,
    ct: &CancellationToken,
    mut tick: F,
) -> std::io::Result<Outcome>
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut child = tokio::process::Command::new(bin)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut term = Term(child.id().map(|p| p as i32));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A prompt is small next to a pipe's buffer; written by its own task
        // all the same, so a child that does not read cannot hold us.
        tokio::spawn(async move {
            let _ = pipe.write_all(text.as_bytes()).await;
        });
    }
    let started = Instant::now();
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
    let output = child.wait_with_output();
    tokio::pin!(output);
    loop {
        tokio::select! {
            biased;
            out = &mut output => {
                term.0 = None;
                let out = out?;
                return Ok(Outcome::Done(Done {
                    code: exit_code(out.status),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                }));
            }
            _ = ct.cancelled() => {
                // The child is not reaped yet (its wait has not returned), so
                // the pid is still its own. Dropping the wait leaves it to
                // tokio's reaper.
                term.send();
                return Ok(Outcome::Cancelled);
            }
            _ = ticks.tick() => tick(started.elapsed()).await,
        }
    }
}

/// The exit status as csd's contract reads it: a child killed by signal N
/// is 128+N, as a shell would say.
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}
