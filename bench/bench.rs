//! `make bench`: what csd's hot paths cost, as medians over repeated runs of
//! the real release binaries, with each child's peak memory from wait4(2).
//!
//! Cases: status and read-events --last 5 on logs of 60k, 600k and 1.2M
//! events (flat cost is the point); one csd-hook call; how long after a stop
//! line lands csd-wait exits; read-turn on a 100 MB transcript; a log whose
//! last line is 64 MB, and one with a 2 GB hole (a sparse file: one 2 GB
//! line of NULs), read backwards, for status and forwards (the line is over
//! the cap: skipped, in bounded memory); status --json, which sums the
//! tokens of a 100 MB transcript and numbers the log's prompts, on its first
//! call (no tally) and on later ones (only what was appended).
//! Set CSD_V4_CJS to csd v4's dist/csd.cjs to time v4 on the same data.
//! csd-wait --all over ten workers: how long after the last of them ends
//! its turn it exits.
//! Remote workers over ssh (`remote`, see bench/remote.rs): status and
//! converse of a real Claude Code worker on a host reached through a real
//! sshd on 127.0.0.1, against the same worker here.
//! Arguments, if any, pick sections by name: `logs`, `hook`, `wait`, `fleet`,
//! `turn`, `long`, `remote` (`cargo run --release --example bench -- wait long`).

#[path = "remote.rs"]
mod remote;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 15;

fn main() {
    let bins = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let tmp = tempfile::Builder::new().prefix("csd-bench-").tempdir().unwrap();
    let wd = tmp.path().join("workers");
    std::fs::create_dir(&wd).unwrap();
    std::fs::set_permissions(&wd, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let socket = format!("csd-bench-{}", std::process::id());
    let b = Bench { bins, wd: wd.clone(), home: home.clone(), socket: socket.clone() };
    b.tmux(&["new-session", "-d", "-s", "bw", "--", "sleep", "3600"]);
    let v4 = std::env::var_os("CSD_V4_CJS").map(PathBuf::from);
    if v4.is_some() {
        // v4 talks to the default server; under TMUX_TMPDIR that is private too.
        Command::new("tmux")
            .env("TMUX_TMPDIR", tmp.path())
            .args(["new-session", "-d", "-s", "bw", "--", "sleep", "3600"])
            .status()
            .unwrap();
    }

    let picked: Vec<String> = std::env::args().skip(1).collect();
    let want = |section: &str| picked.is_empty() || picked.iter().any(|p| p == section);

    println!("csd benchmark: median of {RUNS} runs, peak RSS of the child (wait4)");
    println!("{:<50} {:>10} {:>12}", "case", "median", "peak RSS");
    if want("logs") {
        for events in [60_000usize, 600_000, 1_200_000] {
            logs(&b, tmp.path(), events, v4.as_deref());
        }
    }

    b.meta("bw", "bench-hook", tmp.path());
    if want("hook") {
        hook(&b, v4.as_deref());
    }

    if want("wait") {
        b.report("wait-for-turn: exit after the stop line lands", b.wait_latency("bench-hook"));
    }

    if want("fleet") {
        fleet(&b, tmp.path());
    }

    if want("long") {
        long_lines(&b, tmp.path());
    }

    if want("turn") {
        turn(&b, tmp.path(), v4.as_deref());
    }
    if want("remote") {
        remote::run(&b, tmp.path());
    }
    b.tmux(&["kill-server"]);
    // tmux leaves a killed server's socket file behind.
    let _ = std::fs::remove_file(Path::new("/tmp").join(format!("tmux-{}", nix::unistd::getuid())).join(&socket));
    if v4.is_some() {
        Command::new("tmux").env("TMUX_TMPDIR", tmp.path()).arg("kill-server").status().unwrap();
    }
}

/// status, read-events and status --json on a log of `events` events.
fn logs(b: &Bench, tmp: &Path, events: usize, v4: Option<&Path>) {
    let wd = &b.wd;
    let sid = format!("bench-{events}");
    b.meta("bw", &sid, tmp);
    let size = write_log(&wd.join(format!("{sid}.events.jsonl")), events);
    let label = format!("{}k events, {:.0} MB", events / 1000, size as f64 / 1e6);
    b.report(&format!("status ({label})"), b.time("csd-status", &[&sid]));
    if events == 1_200_000 {
        let tally = wd.join(format!("{sid}.tally"));
        let (tally, bins, sid) = (&tally, &b.bins, sid.as_str());
        let json = |fresh: bool| {
            move || {
                if fresh {
                    let _ = std::fs::remove_file(tally);
                }
                let mut c = Command::new(bins.join("csd-status"));
                c.args(["--json", sid]);
                c
            }
        };
        b.report(&format!("status --json ({label}), first call"), b.sample(json(true), None));
        b.report(&format!("status --json ({label}), later call"), b.sample(json(false), None));
        let _ = std::fs::remove_file(wd.join(format!("{sid}.tally")));
    }
    b.report(&format!("read-events --last 5 ({label})"), b.time("csd-events", &[&sid, "--last", "5"]));
    if events == 600_000 {
        b.unmark(&sid);
        b.report(&format!("status, v4 meta (asks tmux) ({label})"), b.time("csd-status", &[&sid]));
    }
    if let Some(cjs) = v4 {
        let w = ["--worker", sid.as_str()];
        b.report(&format!("  v4 status ({label})"), b.time_node(cjs, &[&w[..], &["status"]].concat()));
        b.report(
            &format!("  v4 read-events --last 5 ({label})"),
            b.time_node(cjs, &[&w[..], &["read-events", "--last", "5"]].concat()),
        );
    }
    std::fs::remove_file(wd.join(format!("{sid}.meta"))).unwrap();
    std::fs::remove_file(wd.join(format!("{sid}.events.jsonl"))).unwrap();
}

/// One csd-hook call.
fn hook(b: &Bench, v4: Option<&Path>) {
    let payload = br#"{"session_id":"bench-hook","transcript_path":"/t.jsonl","cwd":"/p","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"echo hi","description":"say hi"}}"#;
    b.report("csd-hook (one PreToolUse event)", b.time_stdin("csd-hook", &[], payload));
    if let Some(cjs) = v4 {
        let emit = cjs.with_file_name("emit-event.cjs");
        b.report("  v4 emit-event (one PreToolUse event)", b.time_stdin_node(&emit, payload));
    }
}

/// csd-wait --all over ten workers.
fn fleet(b: &Bench, tmp: &Path) {
    let wd = &b.wd;
    let sids: Vec<String> = (0..10).map(|i| format!("bench-fleet-{i}")).collect();
    for (i, sid) in sids.iter().enumerate() {
        b.meta_named(&format!("fw{i}"), "bw", sid, tmp);
    }
    b.report("wait --all, 10 workers: exit after the last stop lands", b.fleet_latency(&sids));
    for sid in &sids {
        let _ = std::fs::remove_file(wd.join(format!("{sid}.meta")));
        let _ = std::fs::remove_file(wd.join(format!("{sid}.events.jsonl")));
    }
}

/// A 64 MB last line and a 2 GB hole, backwards and forwards.
fn long_lines(b: &Bench, tmp: &Path) {
    let wd = &b.wd;
    for (label, sid) in [("64 MB last line", "bench-long"), ("2 GB hole", "bench-hole")] {
        b.meta("bw", sid, tmp);
        let log = wd.join(format!("{sid}.events.jsonl"));
        if sid == "bench-long" {
            write_long_line_log(&log, 64 << 20);
        } else {
            write_sparse_log(&log, 2 << 30);
        }
        b.report(&format!("read-events --last 3 ({label})"), b.time("csd-events", &[sid, "--last", "3"]));
        b.report(&format!("status ({label})"), b.time("csd-status", &[sid]));
        b.report(&format!("read-events, forward ({label})"), b.time("csd-events", &[sid]));
        std::fs::remove_file(&log).unwrap();
    }
}

/// read-turn and status --json with tokens on a 100 MB transcript.
fn turn(b: &Bench, tmp: &Path, v4: Option<&Path>) {
    let (wd, home) = (&b.wd, &b.home);
    let sid = "bench-turn";
    b.meta("bw", sid, tmp);
    let transcript = home.join(".claude/projects").join(claude_project_dir(tmp)).join(format!("{sid}.jsonl"));
    std::fs::create_dir_all(transcript.parent().unwrap()).unwrap();
    let size = write_transcript(&transcript, 100_000_000);
    if b.bins.join("csd-turn").exists() {
        b.report(&format!("read-turn ({:.0} MB transcript)", size as f64 / 1e6), b.time("csd-turn", &[sid]));
    } else {
        println!("{:<50} {:>10}", "read-turn", "(csd-turn not built)");
    }
    if let Some(cjs) = v4 {
        b.report("  v4 read-turn (same transcript)", b.time_node(cjs, &["--worker", sid, "read-turn"]));
    }
    // status --json sums the transcript's tokens: the first call counts
    // it all, a later one only what was appended since (one small turn).
    let tally = wd.join(format!("{sid}.tally"));
    let mb = size as f64 / 1e6;
    let first = b.sample(
        || {
            let _ = std::fs::remove_file(&tally);
            let mut c = Command::new(b.bins.join("csd-status"));
            c.args(["--json", sid]);
            c
        },
        None,
    );
    b.report(&format!("status with tokens ({mb:.0} MB transcript), first call"), first);
    let turns = std::cell::Cell::new(0);
    let later = b.sample(
        || {
            turns.set(turns.get() + 1);
            append_turn(&transcript, turns.get());
            let mut c = Command::new(b.bins.join("csd-status"));
            c.args(["--json", sid]);
            c
        },
        None,
    );
    b.report(&format!("status with tokens ({mb:.0} MB transcript), later call"), later);
    let out = b.output("csd-status", &["--json", sid]);
    println!("  {}", out.trim());
}

struct Bench {
    bins: PathBuf,
    wd: PathBuf,
    home: PathBuf,
    socket: String,
}

struct Sample {
    median: Duration,
    max_rss_kib: i64,
}

impl Bench {
    fn env(&self, c: &mut Command) {
        c.env("CSD_WORKER_DIR", &self.wd)
            .env("CSD_TMUX_SOCKET", &self.socket)
            .env("HOME", &self.home)
            .env_remove("TMUX")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    }

    fn tmux(&self, args: &[&str]) {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).status().unwrap();
    }

    /// A worker's meta as csd-launch leaves it, pane mark included.
    fn meta(&self, name: &str, sid: &str, cwd: &Path) {
        self.meta_named(name, name, sid, cwd)
    }

    /// A meta for worker `name` whose pane mark is session `session`'s pane
    /// (the fleet case: ten workers, one pane, no tmux spawned by status).
    fn meta_named(&self, name: &str, session: &str, sid: &str, cwd: &Path) {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "display-message", "-p", "-t", &format!("={session}:"), "#{pane_pid}"])
            .output()
            .unwrap();
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        // Right after new-session the pane's process may not be on its terminal yet.
        let until = Instant::now() + Duration::from_secs(5);
        let mark = loop {
            match csd::worker::PaneMark::of_pid(pid) {
                Some(m) => break m,
                None if Instant::now() < until => std::thread::sleep(Duration::from_millis(10)),
                None => panic!("no pane mark for pid {pid}"),
            }
        };
        let m = serde_json::json!({"tmux_name": name, "session_id": sid, "cwd": cwd, "harness": "claude",
                                   "tmux_socket": self.socket, "pane": {"pid": mark.pid, "start": mark.start, "tty": mark.tty}});
        std::fs::write(self.wd.join(format!("{sid}.meta")), m.to_string()).unwrap();
    }

    /// The meta of a worker launched by csd v4, which records no pane.
    fn unmark(&self, sid: &str) {
        let path = self.wd.join(format!("{sid}.meta"));
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        m.as_object_mut().unwrap().remove("pane");
        std::fs::write(path, m.to_string()).unwrap();
    }

    fn time(&self, bin: &str, args: &[&str]) -> Sample {
        let path = self.bins.join(bin);
        self.sample(
            || {
                let mut c = Command::new(&path);
                c.args(args);
                c
            },
            None,
        )
    }

    fn time_node(&self, cjs: &Path, args: &[&str]) -> Sample {
        self.sample(
            || {
                let mut c = Command::new("node");
                // v4 knows only the default server: give it a private one.
                c.arg(cjs).args(args).env("TMUX_TMPDIR", self.wd.parent().unwrap());
                c
            },
            None,
        )
    }

    fn time_stdin(&self, bin: &str, args: &[&str], input: &[u8]) -> Sample {
        let path = self.bins.join(bin);
        self.sample(
            || {
                let mut c = Command::new(&path);
                c.args(args);
                c
            },
            Some(input),
        )
    }

    fn time_stdin_node(&self, cjs: &Path, input: &[u8]) -> Sample {
        self.sample(
            || {
                let mut c = Command::new("node");
                c.arg(cjs);
                c
            },
            Some(input),
        )
    }

    fn sample(&self, make: impl Fn() -> Command, input: Option<&[u8]>) -> Sample {
        self.sample_n(make, input, RUNS)
    }

    #[allow(clippy::zombie_processes)] // reaped by wait4()
    fn sample_n(&self, make: impl Fn() -> Command, input: Option<&[u8]>, runs: usize) -> Sample {
        let mut times = Vec::new();
        let mut max_rss_kib = 0;
        for _ in 0..runs {
            let mut c = make();
            self.env(&mut c);
            c.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
            let start = Instant::now();
            let mut child = c.spawn().unwrap();
            if let Some(data) = input {
                child.stdin.take().unwrap().write_all(data).unwrap();
            }
            let (ok, rss) = wait4(child.id() as i32);
            times.push(start.elapsed());
            assert!(ok, "{:?} failed", make().get_program());
            max_rss_kib = max_rss_kib.max(rss);
        }
        times.sort();
        Sample { median: times[runs / 2], max_rss_kib }
    }

    /// Start csd-wait, let it settle, append a stop line, and time from the
    /// append to csd-wait's exit.
    /// Ten workers in a turn; `csd-wait --all` on them; nine turns end, then
    /// the last: how long after the last stop line lands csd-wait exits.
    #[allow(clippy::zombie_processes)] // reaped by wait4()
    fn fleet_latency(&self, sids: &[String]) -> Sample {
        let append = |sid: &str, line: &[u8]| {
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(self.wd.join(format!("{sid}.events.jsonl")))
                .unwrap()
                .write_all(line)
                .unwrap()
        };
        let names: Vec<String> = (0..sids.len()).map(|i| format!("fw{i}")).collect();
        let mut times = Vec::new();
        let mut max_rss_kib = 0;
        for _ in 0..RUNS {
            for sid in sids {
                append(sid, b"{\"event\":\"user_prompt_submit\",\"ts\":\"2026-01-01T00:00:00Z\"}\n");
            }
            let mut c = Command::new(self.bins.join("csd-wait"));
            c.arg("--all").args(&names).args(["-t", "30"]).stdout(Stdio::null());
            self.env(&mut c);
            let child = c.spawn().unwrap();
            std::thread::sleep(Duration::from_millis(150));
            let stop = b"{\"event\":\"stop\",\"ts\":\"2026-01-01T00:00:00Z\"}\n";
            for sid in &sids[..sids.len() - 1] {
                append(sid, stop);
            }
            std::thread::sleep(Duration::from_millis(50));
            let start = Instant::now();
            append(&sids[sids.len() - 1], stop);
            let (ok, rss) = wait4(child.id() as i32);
            times.push(start.elapsed());
            assert!(ok, "csd-wait --all failed");
            max_rss_kib = max_rss_kib.max(rss);
        }
        times.sort();
        Sample { median: times[RUNS / 2], max_rss_kib }
    }

    #[allow(clippy::zombie_processes)] // reaped by wait4()
    fn wait_latency(&self, sid: &str) -> Sample {
        let log = self.wd.join(format!("{sid}.events.jsonl"));
        let mut times = Vec::new();
        let mut max_rss_kib = 0;
        for _ in 0..RUNS {
            let mut c = Command::new(self.bins.join("csd-wait"));
            c.args([sid, "30"]);
            self.env(&mut c);
            let child = c.spawn().unwrap();
            std::thread::sleep(Duration::from_millis(150));
            let start = Instant::now();
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&log)
                .unwrap()
                .write_all(b"{\"event\":\"stop\",\"ts\":\"2026-01-01T00:00:00Z\"}\n")
                .unwrap();
            let (ok, rss) = wait4(child.id() as i32);
            times.push(start.elapsed());
            assert!(ok, "csd-wait failed");
            max_rss_kib = max_rss_kib.max(rss);
        }
        times.sort();
        Sample { median: times[RUNS / 2], max_rss_kib }
    }

    /// What a binary prints, run once.
    fn output(&self, bin: &str, args: &[&str]) -> String {
        let mut c = Command::new(self.bins.join(bin));
        c.args(args);
        self.env(&mut c);
        String::from_utf8(c.stdout(Stdio::piped()).output().unwrap().stdout).unwrap()
    }

    fn report(&self, case: &str, s: Sample) {
        println!("{case:<50} {:>8.2}ms {:>8.1} MiB", s.median.as_secs_f64() * 1e3, s.max_rss_kib as f64 / 1024.0);
    }
}

/// Reap a child and return (exited 0, its peak RSS in KiB).
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wait4(pid: i32) -> (bool, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain old data that wait4 fills in.
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child; status and usage point at live locals.
    let r = unsafe { nix::libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    (nix::libc::WIFEXITED(status) && nix::libc::WEXITSTATUS(status) == 0, usage.ru_maxrss)
}

/// A log of `n` events shaped like a real session's: prompts, tool calls
/// with inputs, stops. Returns its size in bytes.
fn write_log(path: &Path, n: usize) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let lines = [
        r#"{"event":"user_prompt_submit","ts":"2026-11-25T10:00:00Z"}"#,
        r#"{"event":"pre_tool_use","ts":"2026-11-25T10:00:01Z","tool":"Bash","tool_input":{"command":"cargo test --release --workspace --all-features 2>&1 | tail -n 20","description":"Run the whole test suite"}}"#,
        r#"{"event":"post_tool_use","ts":"2026-11-25T10:00:09Z","tool":"Bash"}"#,
        r#"{"event":"stop","ts":"2026-11-25T10:00:12Z"}"#,
    ];
    for i in 0..n {
        out.write_all(lines[i % lines.len()].as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}

const THREE_EVENTS: &[u8] = b"{\"event\":\"user_prompt_submit\",\"ts\":\"2026-11-25T10:00:00Z\"}\n\
{\"event\":\"pre_tool_use\",\"ts\":\"2026-11-25T10:00:01Z\",\"tool\":\"Bash\",\"tool_input\":{}}\n\
{\"event\":\"stop\",\"ts\":\"2026-11-25T10:00:02Z\"}\n";

/// Three events, then one event line of about `bytes` (over the line cap).
fn write_long_line_log(path: &Path, bytes: usize) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(THREE_EVENTS).unwrap();
    out.write_all(br#"{"event":"pre_tool_use","ts":"2026-11-25T10:00:03Z","tool":"Bash","tool_input":{"x":""#).unwrap();
    let block = vec![b'x'; 1 << 20];
    for _ in 0..bytes >> 20 {
        out.write_all(&block).unwrap();
    }
    out.write_all(b"\"}}\n").unwrap();
    out.flush().unwrap();
}

/// Three events, then a hole of `bytes` (NULs that take no disk) and a newline.
fn write_sparse_log(path: &Path, bytes: u64) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(THREE_EVENTS).unwrap();
    f.set_len(THREE_EVENTS.len() as u64 + bytes).unwrap();
    std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).unwrap();
    f.write_all(b"\n").unwrap();
}

/// Claude Code's project folder name for a cwd: `/`, `.`, `_`, `:` become `-`.
fn claude_project_dir(cwd: &Path) -> String {
    cwd.to_str().unwrap().chars().map(|c| if matches!(c, '/' | '.' | '_' | ':') { '-' } else { c }).collect()
}

static USAGE: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(
    || serde_json::json!({"input_tokens":3,"cache_creation_input_tokens":120,"cache_read_input_tokens":24000,"output_tokens":80}),
);

/// One more small turn at the end of a transcript (what a `status` after
/// the first finds new).
fn append_turn(path: &Path, turn: u64) {
    let lines = [
        serde_json::json!({"type":"user","message":{"role":"user","content":format!("more {turn}")},"uuid":format!("x{turn}")}),
        serde_json::json!({"type":"assistant","message":{"id":format!("x{turn}"),"role":"assistant","content":[{"type":"text","text":"Done."}],"usage":USAGE.clone()}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
}

/// A Claude Code transcript of about `bytes`, made of many turns with tool
/// calls and results, assistant messages with usage; the last turn is an
/// ordinary small one.
fn write_transcript(path: &Path, bytes: u64) -> u64 {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut written = 0u64;
    let mut turn = 0;
    let pad = "lorem ipsum dolor sit amet ".repeat(40);
    while written < bytes {
        turn += 1;
        let lines = [
            serde_json::json!({"type":"user","message":{"role":"user","content":format!("turn {turn}: run the tests")},"uuid":format!("u{turn}")}),
            serde_json::json!({"type":"assistant","message":{"id":format!("m{turn}a"),"role":"assistant","content":[{"type":"thinking","thinking":"I should run them."},{"type":"tool_use","id":format!("t{turn}"),"name":"Bash","input":{"command":"cargo test"}}],"usage":USAGE.clone()}}),
            serde_json::json!({"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":format!("t{turn}"),"content":format!("ok\n{pad}")}]}}),
            serde_json::json!({"type":"assistant","message":{"id":format!("m{turn}b"),"role":"assistant","content":[{"type":"text","text":format!("All tests pass (turn {turn}).")}],"usage":USAGE.clone()}}),
            serde_json::json!({"type":"system","subtype":"turn_duration","durationMs":1200}),
        ];
        for l in lines {
            let s = l.to_string();
            out.write_all(s.as_bytes()).unwrap();
            out.write_all(b"\n").unwrap();
            written += s.len() as u64 + 1;
        }
    }
    out.flush().unwrap();
    std::fs::metadata(path).unwrap().len()
}
