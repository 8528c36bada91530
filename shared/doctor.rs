//! csd doctor: prove each installed harness still works with csd, offline.
//!
//! For each harness it starts a mock model server on 127.0.0.1 (`mock`),
//! launches a real worker through csd's own launch path in a private world
//! (a temp dir holding the HOME the workers see, the worker dir and the tmux
//! socket), gives it a prompt whose turn makes one shell call and answers
//! with a marker, and checks every step csd relies on: ready, the turn's end,
//! read-turn, the events, and a stop that leaves nothing behind. The
//! operator's own HOME, config and tmux server are never touched: the whole
//! process runs with HOME, the worker dir and the tmux socket pointed into
//! the temp dir, set once before any worker starts.

use crate::error::{failed, Error, Result};
use crate::harness::{HarnessKind, Mode};
use crate::mock::Mock;
use crate::worker::Worker;
use crate::workerdir::WorkerDir;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The steps, in order; a row names the first that failed.
pub const STEPS: [&str; 6] = ["launch", "prompt", "turn_end", "read_turn", "events", "stop"];
/// What the mock's shell call prints, and so what the answer must quote.
pub const MARKER: &str = "csd-doctor-42";
const COMMAND: &str = "echo csd-doctor-$((6 * 7))";
/// A step's default limit (`CSD_DOCTOR_TIMEOUT` in seconds overrides it).
pub const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Variables of the operator's that would point any worker at their own
/// setup; each harness adds its own (`SelfTest::operator_vars`).
const CLEARED: [&str; 3] = ["TMUX", "CSD_PLUGIN_DIR", "CSD_CONVERSE_DIAG_FILE"];

#[derive(Clone, Debug)]
pub struct Step {
    pub name: &'static str,
    pub ok: bool,
    pub took: Duration,
    pub detail: String,
}

#[derive(Clone, Debug)]
pub struct Row {
    pub harness: HarnessKind,
    /// Named with --harness (a missing one then fails).
    pub named: bool,
    pub path: Option<PathBuf>,
    pub version: Option<String>,
    pub steps: Vec<Step>,
    pub took: Duration,
    pub kept: Option<PathBuf>,
}

impl Row {
    pub fn installed(&self) -> bool {
        self.path.is_some()
    }

    pub fn failed_step(&self) -> Option<&Step> {
        self.steps.iter().find(|s| !s.ok)
    }

    /// Whether this row makes the doctor fail.
    pub fn fails(&self) -> bool {
        match self.installed() {
            false => self.named,
            true => self.failed_step().is_some() || self.steps.len() < STEPS.len(),
        }
    }

    pub fn warning(&self) -> Option<String> {
        if !self.installed() {
            return None;
        }
        match &self.version {
            Some(v) if self.harness.driver().self_test().proven_on(v) => None,
            Some(v) => Some(format!("version {v} is outside what csd was proven on ({})", self.proven())),
            None => Some(format!("version unknown; csd was proven on {}", self.proven())),
        }
    }

    fn proven(&self) -> &'static str {
        self.harness.driver().self_test().proven
    }

    pub fn result(&self) -> &'static str {
        match (self.installed(), self.fails(), self.warning().is_some()) {
            (false, true, _) => "FAIL",
            (false, false, _) => "not installed",
            (true, true, _) => "FAIL",
            (true, false, true) => "ok (warning)",
            (true, false, false) => "ok",
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "harness": self.harness.name(),
            "installed": self.installed(),
            "version": self.version,
            "binary": self.path.as_ref().map(|p| p.display().to_string()),
            "result": self.result(),
            "ok": !self.fails(),
            "failed_step": self.failed_step().map(|s| s.name),
            "warning": self.warning(),
            "seconds": secs(self.took),
            "steps": self.steps.iter().map(|s| json!({
                "step": s.name, "ok": s.ok, "seconds": secs(s.took), "detail": s.detail,
            })).collect::<Vec<_>>(),
            "kept": self.kept.as_ref().map(|p| p.display().to_string()),
        })
    }

    /// One line: harness, version, result, time, binary, each step.
    pub fn to_line(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| format!("{} {} {:.1}s", s.name, if s.ok { "ok" } else { "FAIL" }, s.took.as_secs_f64()))
            .collect();
        let mut line = format!(
            "{}\t{}\t{}\t{:.1}s\t{}\t{}",
            self.harness.name(),
            self.version.as_deref().unwrap_or("-"),
            self.result(),
            self.took.as_secs_f64(),
            self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "-".into()),
            if steps.is_empty() { "-".into() } else { steps.join(", ") }
        );
        if !self.installed() {
            line.push_str(&format!(
                "\n  {}: {} not found (set {} to its path, or put it on PATH){}",
                self.harness.name(),
                self.harness.binary(),
                self.harness.bin_env(),
                if self.named { "" } else { "; not checked" }
            ));
        }
        if let Some(s) = self.failed_step() {
            line.push_str(&format!("\n  {} failed at {}: {}", self.harness.name(), s.name, indent(&s.detail)));
        }
        if let Some(w) = self.warning() {
            line.push_str(&format!("\n  {} warning: {w}", self.harness.name()));
        }
        if let Some(k) = &self.kept {
            line.push_str(&format!("\n  {} kept: {}", self.harness.name(), k.display()));
        }
        line
    }
}

fn indent(s: &str) -> String {
    s.trim_end().replace('\n', "\n    ")
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Where the harness's binary is, found as csd-launch finds it
/// (`CSD_<X>_BIN`, else PATH).
pub fn locate(kind: HarnessKind) -> Option<PathBuf> {
    let bin = kind.binary();
    if bin.contains('/') {
        let p = std::path::absolute(&bin).unwrap_or_else(|_| PathBuf::from(&bin));
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(&bin)).find(|p| p.is_file())
}

/// `<bin> --version`, its first dotted number; none if it takes over 30 s
/// (six node CLIs asked side by side on two busy cores took over 10 s).
fn version_of(bin: &Path) -> Option<String> {
    use std::io::Read;
    let mut child = std::process::Command::new(bin)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let until = Instant::now() + Duration::from_secs(30);
    while child.try_wait().ok()?.is_none() {
        if Instant::now() >= until || crate::signals::received().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut text = String::new();
    // Pi 0.73 prints its version on stderr.
    let _ = child.stdout.take()?.read_to_string(&mut text);
    text.push('\n');
    let _ = child.stderr.take()?.read_to_string(&mut text);
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|w| w.contains('.') && w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|w| w.trim_end_matches('.').to_string())
}

pub struct Options {
    /// The harnesses named with --harness; empty: all three, those installed.
    pub named: Vec<HarnessKind>,
    pub keep: bool,
}

/// The private world every worker of this run lives in.
struct World {
    tmp: tempfile::TempDir,
    home: PathBuf,
    workers: PathBuf,
    socket: PathBuf,
    /// The temp dir the doctor was given: where `--keep` leaves evidence.
    outer_tmp: PathBuf,
}

/// Run the doctor: one row per harness. On a signal, what was started is
/// taken back and `Error::Signal` returned.
pub fn run(opts: &Options) -> Result<Vec<Row>> {
    let kinds: Vec<HarnessKind> = if opts.named.is_empty() { HarnessKind::all().collect() } else { opts.named.clone() };
    let mut rows: Vec<Row> = kinds
        .iter()
        .map(|&k| Row {
            harness: k,
            named: !opts.named.is_empty(),
            path: locate(k),
            version: None,
            steps: vec![],
            took: Duration::ZERO,
            kept: None,
        })
        .collect();
    if rows.iter().all(|r| !r.installed()) {
        return Ok(rows);
    }
    let world = make_world()?;
    let mocks = start_mocks(&world, &rows)?;
    enter_world(&world, &rows);
    // The world's own consent, whichever harnesses are checked (only
    // Claude Code's seed wrote it, so `--harness codex` alone was refused).
    crate::consent::grant()?;
    let timeout = crate::knobs::seconds("CSD_DOCTOR_TIMEOUT", STEP_TIMEOUT)?;
    if std::env::var_os("CSD_START_TIMEOUT_MS").is_none() {
        std::env::set_var("CSD_START_TIMEOUT_MS", timeout.as_millis().to_string());
    }
    let keep = opts.keep;
    let results: Vec<(usize, std::thread::Result<Row>)> = std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.installed())
            .map(|(i, r)| {
                let row = r.clone();
                let world = &world;
                (i, s.spawn(move || check(row, world, timeout, keep)))
            })
            .collect();
        handles.into_iter().map(|(i, h)| (i, h.join())).collect()
    });
    for (i, r) in results {
        match r {
            Ok(row) => rows[i] = row,
            Err(_) => rows[i].steps.push(Step {
                name: "launch",
                ok: false,
                took: Duration::ZERO,
                detail: "the doctor's own check panicked".into(),
            }),
        }
    }
    crate::signals::deferred(|| clean_up(&world));
    drop(mocks);
    drop(world.tmp);
    if let Some(sig) = crate::signals::received() {
        return Err(Error::Signal(sig));
    }
    Ok(rows)
}

fn make_world() -> Result<World> {
    let tmp = tempfile::Builder::new()
        .prefix("csd-doctor-")
        .tempdir()
        .map_err(|e| Error::Io("making the doctor's temp dir".into(), e))?;
    let root = std::fs::canonicalize(tmp.path()).map_err(|e| Error::Io("resolving the temp dir".into(), e))?;
    let home = root.join("home");
    let workers = root.join("workers");
    for d in [&home, &workers, &root.join("bin"), &root.join("tmp")] {
        std::fs::create_dir(d).map_err(|e| Error::Io(format!("creating {}", d.display()), e))?;
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| Error::Io(format!("securing {}", d.display()), e))?;
    }
    let socket = root.join("tmux.sock");
    let outer_tmp = std::env::temp_dir();
    Ok(World { tmp, home, workers, socket, outer_tmp })
}

fn write(path: &Path, data: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::Io(format!("creating {}", parent.display()), e))?;
    }
    std::fs::write(path, data).map_err(|e| Error::Io(format!("writing {}", path.display()), e))
}

/// For each installed harness: a mock of the protocol it speaks, its files
/// seeded under the world's HOME (as the end-to-end tests seed theirs), and
/// a wrapper that `CSD_<X>_BIN` names.
fn start_mocks(world: &World, rows: &[Row]) -> Result<Vec<Box<dyn Mock>>> {
    let mut mocks = Vec::new();
    for row in rows.iter().filter(|r| r.installed()) {
        let test = row.harness.driver().self_test();
        let mock = crate::mock::start(test.mock);
        for (path, data) in (test.seed)(&mock.base_url(), mock.key()) {
            write(&world.home.join(path), &data)?;
        }
        let env = (test.env)(&mock.base_url(), mock.key());
        let real = row.path.as_ref().expect("installed");
        let wrapper = write_wrapper(world, row.harness, real, &env)?;
        std::env::set_var(row.harness.bin_env(), wrapper);
        mocks.push(mock);
    }
    Ok(mocks)
}

/// Point the whole process into the world from here on: every library call
/// (launch, consent, the harness homes) and the tmux server it starts.
fn enter_world(world: &World, rows: &[Row]) {
    std::env::set_var("HOME", &world.home);
    std::env::set_var("CSD_WORKER_DIR", &world.workers);
    std::env::set_var("CSD_TMUX_SOCKET", &world.socket);
    // What the harnesses keep in temp files (caches, scratch) goes too.
    std::env::set_var("TMPDIR", world.tmp.path().join("tmp"));
    for (var, sub) in [
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_STATE_HOME", ".local/state"),
    ] {
        std::env::set_var(var, world.home.join(sub));
    }
    for var in CLEARED {
        std::env::remove_var(var);
    }
    for kind in crate::harness::HarnessKind::all() {
        for var in kind.driver().self_test().operator_vars {
            std::env::remove_var(var);
        }
    }
    for row in rows.iter().filter(|r| r.installed()) {
        for (var, value) in row.harness.driver().self_test().csd_env {
            std::env::set_var(var, value);
        }
    }
}

/// A script that gives the harness its own environment (the mock, the
/// telemetry and update switches) and runs the real binary: what one
/// harness needs never reaches another's worker.
fn write_wrapper(world: &World, kind: HarnessKind, real: &Path, env: &[(&str, String)]) -> Result<PathBuf> {
    let mut script = String::from("#!/bin/sh\n");
    for (k, v) in env {
        script.push_str(&format!("export {k}={}\n", crate::tmux::shell_quote(v)));
    }
    script.push_str(&format!("exec {} \"$@\"\n", crate::tmux::shell_quote(&real.to_string_lossy())));
    let path = world.tmp.path().join("bin").join(kind.name());
    write(&path, &script)?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(|e| Error::Io(format!("chmod {}", path.display()), e))?;
    Ok(path)
}

/// One harness, every step; the worker is stopped (or killed) whatever happens.
fn check(mut row: Row, world: &World, timeout: Duration, keep: bool) -> Row {
    let started = Instant::now();
    // Through the wrapper: the world's HOME and the harness's switches.
    row.version = version_of(Path::new(&row.harness.binary()));
    let name = format!("doctor-{}", row.harness.name());
    let project = world.tmp.path().join(format!("project-{}", row.harness.name()));
    let mut worker: Option<Worker> = None;
    let outcome = (|| -> Result<()> {
        std::fs::create_dir_all(&project).map_err(|e| Error::Io("creating the project dir".into(), e))?;
        let dir = WorkerDir::from_env()?;
        let harness = row.harness;
        step(&mut row, "launch", || {
            let req = crate::launch::Request {
                host: None,
                harness,
                name: name.clone(),
                cwd: project.clone(),
                mode: Mode::Launch,
                session_id: None,
                extra_args: vec![],
                worktree: None,
            };
            crate::launch::start(&req).map(|_| String::new())
        })?;
        let prompt = (harness.driver().self_test().prompt)(COMMAND, MARKER);
        let timing = crate::submit::Timing::from_env()?;
        let (_, sent) = step(&mut row, "prompt", || {
            let sent = crate::converse::send(&dir, &name, prompt.as_bytes(), &timing, true)?;
            Ok((String::new(), sent))
        })?;
        worker = Some(Worker { dir: sent.worker.dir.clone(), meta: sent.worker.meta.clone() });
        let w = &sent.worker;
        step(&mut row, "turn_end", || turn_end(&sent, &prompt, timeout))?;
        step(&mut row, "read_turn", || read_turn(w, &sent, &prompt))?;
        step(&mut row, "events", || tool_event(w))?;
        let w = worker.take().expect("set above");
        step(&mut row, "stop", || stop_clean(&dir, &w))?;
        Ok(())
    })();
    take_back(&mut row, world, &name, worker.as_ref(), keep, outcome);
    row.took = started.elapsed();
    row
}

/// The turn's end is seen, and it is a done turn.
fn turn_end(sent: &crate::converse::Sent, prompt: &str, timeout: Duration) -> Result<String> {
    let w = &sent.worker;
    let deadline = Instant::now() + timeout;
    let from = match crate::converse::taken(sent, prompt.as_bytes(), deadline)? {
        crate::converse::Taken::Own { next } => next,
        crate::converse::Taken::Joined { from } => from,
    };
    let found = crate::wait::wait_for_event(w, from, deadline, |k| k.ends_turn()).map_err(|e| match e {
        Error::Timeout(_) => Error::Timeout(format!("no turn end within {}s", timeout.as_secs_f64())),
        e => e,
    })?;
    if found.kind == crate::event::EventKind::SessionEnd {
        return Err(failed("the session ended instead of the turn"));
    }
    match crate::verdict::Verdict::of_line(&found.line) {
        crate::verdict::Verdict::Done => Ok(String::new()),
        v => Err(failed(v.describe(w.name()))),
    }
}

/// read-turn shows the shell call and the answer.
fn read_turn(w: &Worker, sent: &crate::converse::Sent, prompt: &str) -> Result<String> {
    let md = crate::converse::read_reply(w, sent.since, Some(prompt), true)?;
    if !md.contains("csd-doctor-") || !md.contains(MARKER) {
        return Err(failed(format!("read-turn lacks the shell call or the answer '{MARKER}':\n{md}")));
    }
    Ok(String::new())
}

/// The event log holds the tool call's pre_tool_use.
fn tool_event(w: &Worker) -> Result<String> {
    let log = std::fs::read_to_string(w.events().path()).unwrap_or_default();
    let tool = log.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|e| e["event"] == "pre_tool_use");
    match tool {
        Some(e) => Ok(format!("pre_tool_use {}", e["tool"].as_str().unwrap_or("?"))),
        None => Err(failed(format!("no pre_tool_use in the event log:\n{log}"))),
    }
}

/// After a failure: keep the evidence if asked, kill what is left, and
/// record the step that failed when the error came from outside a step.
fn take_back(row: &mut Row, world: &World, name: &str, worker: Option<&Worker>, keep: bool, outcome: Result<()>) {
    if outcome.is_err() || row.failed_step().is_some() {
        if keep {
            row.kept = keep_evidence(world, name, worker);
            if let (Some(k), Some(s)) = (&row.kept, row.failed_step()) {
                let _ = std::fs::write(k.join("failure.txt"), format!("{} failed: {}\n", s.name, s.detail));
            }
        }
        crate::signals::deferred(|| kill_worker(world, name, worker));
    }
    if let Err(e) = outcome {
        if row.failed_step().is_none() {
            let next = STEPS.get(row.steps.len()).copied().unwrap_or("stop");
            row.steps.push(Step { name: next, ok: false, took: Duration::ZERO, detail: e.to_string() });
        }
    }
}

/// Run one step, timed, recording it; its error ends the row.
fn step<T>(row: &mut Row, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T>
where
    T: StepValue,
{
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    match out {
        Ok(v) => {
            row.steps.push(Step { name, ok: true, took, detail: v.detail() });
            Ok(v)
        }
        Err(e) => {
            if let Error::Signal(_) = e {
                row.steps.push(Step { name, ok: false, took, detail: "interrupted".into() });
                return Err(e);
            }
            row.steps.push(Step { name, ok: false, took, detail: e.to_string() });
            Err(failed(format!("{name} failed")))
        }
    }
}

trait StepValue {
    fn detail(&self) -> String;
}

impl StepValue for String {
    fn detail(&self) -> String {
        self.clone()
    }
}

impl StepValue for (String, crate::converse::Sent) {
    fn detail(&self) -> String {
        self.0.clone()
    }
}

/// Stop the worker as csd-stop does, then prove nothing is left: no process
/// of its pane, none of its files.
fn stop_clean(dir: &WorkerDir, w: &Worker) -> Result<String> {
    let pid = w.pane_pid()?;
    let procs: Vec<i32> = pid.map(crate::process::descendants).unwrap_or_default();
    crate::stop::stop(w)?;
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<i32> = procs.iter().copied().filter(|p| crate::process::alive(*p)).collect();
        if alive.is_empty() {
            break;
        }
        if Instant::now() >= until {
            return Err(failed(format!("processes left running after stop: {alive:?}")));
        }
        crate::signals::sleep(Duration::from_millis(50))?;
    }
    let sid = &w.meta.session_id;
    let name = w.name();
    let left: Vec<String> = [
        dir.meta_path(sid),
        dir.events_path(sid),
        dir.tally_path(sid),
        dir.shim_path(name),
        dir.home_path(name),
        dir.harness_marker_path(name),
    ]
    .into_iter()
    .filter(|p| p.symlink_metadata().is_ok())
    .map(|p| p.display().to_string())
    .collect();
    if !left.is_empty() {
        return Err(failed(format!("files left after stop: {}", left.join(", "))));
    }
    Ok(String::new())
}

/// `--keep`: the failing worker's pane, events and transcript, copied out
/// of the world (which is removed) into a directory of their own.
fn keep_evidence(world: &World, name: &str, worker: Option<&Worker>) -> Option<PathBuf> {
    let kept =
        tempfile::Builder::new().prefix(&format!("csd-doctor-{name}-")).tempdir_in(&world.outer_tmp).ok()?.keep();
    if let Ok(tmux) = crate::tmux::Tmux::at(&world.socket.to_string_lossy()) {
        if let Ok(screen) = tmux.capture(name, true) {
            let _ = std::fs::write(kept.join("pane.txt"), screen);
        }
    }
    if let Some(w) = worker {
        let _ = std::fs::copy(w.events().path(), kept.join("events.jsonl"));
        let _ = std::fs::write(kept.join("meta.json"), w.meta.to_json());
        if let Ok(Some(t)) = crate::harness::transcript_of(w) {
            let _ = std::fs::copy(&t, kept.join("transcript.jsonl"));
        }
    } else if let Ok(dir) = WorkerDir::at(world.workers.clone()) {
        for m in crate::worker::list_metas(&dir).unwrap_or_default().into_iter().filter(|m| m.tmux_name == name) {
            let _ = std::fs::copy(dir.events_path(&m.session_id), kept.join("events.jsonl"));
        }
    }
    Some(kept)
}

/// After a failure: stop the worker if it is still there, by any means.
fn kill_worker(world: &World, name: &str, worker: Option<&Worker>) {
    let Ok(dir) = WorkerDir::at(world.workers.clone()) else { return };
    if let Some(w) = worker {
        if crate::stop::stop(w).is_ok() {
            return;
        }
    }
    match crate::worker::Worker::lookup(&dir, name) {
        Ok(crate::worker::Lookup::Registered(w)) => {
            let _ = crate::stop::stop(&w);
        }
        Ok(crate::worker::Lookup::Pending(p)) => {
            let _ = crate::stop::stop_pending(&p);
        }
        Err(_) => {}
    }
}

/// The last word: the world's tmux server goes, and every process that
/// still carries the world's worker dir in its environment is killed.
fn clean_up(world: &World) {
    if let Ok(tmux) = crate::tmux::Tmux::at(&world.socket.to_string_lossy()) {
        let _ = tmux.kill_server();
    }
    let workers = world.workers.display().to_string();
    let me = std::process::id() as i32;
    for _ in 0..20 {
        let mut any = false;
        for pid in crate::process::processes(None).into_iter().map(|p| p.pid) {
            if pid == me {
                continue;
            }
            if crate::process::environ_has(pid, "CSD_WORKER_DIR", &workers) {
                any = true;
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        if !any {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
