//! Fleet views and waits that span hosts: each host is asked once, all of
//! them at the same time, and a host that does not answer is said to be
//! unreachable; its workers are never taken for gone, and nothing of
//! theirs is removed because of it.

use super::call::{capture, pump, Out, Request, Running};
use super::{records, Record, Target};
use crate::error::{Error, Result, EXIT_FAILURE, EXIT_OK, EXIT_TIMEOUT};
use crate::event::EventKind;
use crate::status::{Listing, Row};
use crate::tally::Tokens;
use crate::worker::Status;
use crate::workerdir::WorkerDir;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// Remote workers grouped by where their csd is reached.
fn by_host(recs: Vec<Record>) -> Result<BTreeMap<String, (Target, Vec<Record>)>> {
    let mut hosts: BTreeMap<String, (Target, Vec<Record>)> = BTreeMap::new();
    for r in recs {
        let t = r.target()?;
        let key = format!("{}\0{}", t.host, t.remote_path.as_ref().map_or("", |p| p.as_str()));
        hosts.entry(key).or_insert_with(|| (t, Vec::new())).1.push(r);
    }
    Ok(hosts)
}

/// Ask every host at once; each answer is (exit status, stdout) or why
/// the host could not be asked.
fn ask_all(dir: &WorkerDir, asks: Vec<(Target, Request)>) -> Vec<Result<(i32, Vec<u8>)>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = asks.iter().map(|(t, req)| s.spawn(move || capture(dir, t, req))).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(crate::error::failed("a host query panicked"))))
            .collect()
    })
}

/// The rows of `csd list` for the remote workers whose names contain
/// `pattern`: notes for stderr, and whether any state is unknown.
pub fn list(dir: &WorkerDir, pattern: Option<&str>, all: bool) -> Result<Listing> {
    let (recs, bad) = records(dir)?;
    let mut out = Listing::default();
    for (file, why) in bad {
        out.notes.push(format!("skipping {file}: {why}"));
    }
    let recs: Vec<Record> = recs.into_iter().filter(|r| pattern.is_none_or(|p| r.name.contains(p))).collect();
    let hosts = by_host(recs)?;
    let ask = || Request {
        check_version: true,
        ..Request::new(["csd-status", "--list", "--json", "--all"].map(String::from).to_vec())
    };
    let answers = ask_all(dir, hosts.values().map(|(t, _)| (t.clone(), ask())).collect());
    for ((target, recs), answer) in hosts.into_values().zip(answers) {
        let found: Result<BTreeMap<String, Value>> = answer.and_then(|(code, bytes)| {
            let rows: Vec<Value> = serde_json::from_slice(&bytes)
                .map_err(|_| crate::error::failed(format!("csd-status there exited {code} with no list")))?;
            if code != EXIT_OK {
                out.notes.push(format!("host '{}': some workers' state is unknown there", target.host));
                out.unsure = true;
            }
            Ok(rows.into_iter().filter_map(|r| Some((r.get("name")?.as_str()?.to_string(), r))).collect())
        });
        match found {
            Ok(rows) => {
                for rec in &recs {
                    let row = match rows.get(&rec.name) {
                        // A worker of the name there that is not ours: ours is gone.
                        Some(v)
                            if rec.csd_id.is_some()
                                && v.get("csd_id").and_then(Value::as_str) != rec.csd_id.as_deref() =>
                        {
                            absent(dir, rec, Status::Gone)
                        }
                        Some(v) => row_of(dir, rec, v),
                        // The host answered and has no such worker.
                        None => absent(dir, rec, Status::Gone),
                    };
                    // A gone worker's kept worktree is listed, as here.
                    if row.status != Status::Gone || all || row.worktree.is_object() {
                        out.rows.push(row);
                    }
                }
            }
            Err(e) => {
                out.notes.push(format!("host '{}' is unreachable: {e}", target.host));
                out.unsure = true;
                out.rows.extend(recs.iter().map(|r| absent(dir, r, Status::Unreachable)));
            }
        }
    }
    Ok(out)
}

/// A row from the record alone (the host did not say more).
fn absent(dir: &WorkerDir, rec: &Record, status: Status) -> Row {
    Row {
        cwd: rec.cwd.clone(),
        host: Some(rec.host.to_string()),
        ..Row::bare(status, &rec.harness, &rec.name, dir.shim_path(&rec.name).display().to_string())
    }
}

/// A host's row for one of our workers, with our shim and its host.
fn row_of(dir: &WorkerDir, rec: &Record, v: &Value) -> Row {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let status = s("status").and_then(|n| Status::from_name(&n)).unwrap_or(Status::Unknown);
    Row {
        status,
        harness: s("harness").unwrap_or_else(|| rec.harness.clone()),
        session_id: s("session_id").unwrap_or_else(|| "-".into()),
        cwd: s("cwd").unwrap_or_else(|| rec.cwd.clone()),
        events: s("events").unwrap_or_else(|| "-".into()),
        since: s("since"),
        tool: s("tool"),
        prompt_line: v.get("prompt_line").and_then(Value::as_u64),
        tokens: v.get("tokens").and_then(Tokens::from_json).unwrap_or(Tokens::UNKNOWN),
        last_turn: v.get("last_turn").filter(|t| t.is_object()).cloned(),
        worktree: v.get("worktree").filter(|t| t.is_object()).cloned().unwrap_or_default(),
        ..absent(dir, rec, status)
    }
}

/// Forget remote workers their hosts say are gone (or do not have); a
/// host that cannot be asked keeps its workers' records. (removed, unsure)
pub fn prune(dir: &WorkerDir) -> Result<(Vec<String>, super::Notes)> {
    let listing = list(dir, None, true)?;
    let (mut removed, mut unsure) = (Vec::new(), Vec::new());
    for row in listing.rows {
        match row.status {
            Status::Gone => {
                if let Some(rec) = Record::read(dir, &row.name)? {
                    if row.worktree.is_object() {
                        // Its worktree is on the host: the host's stop removes
                        // it only when nothing would be lost, and says so.
                        super::worker::stop(dir, &rec, false)?;
                        if Record::read(dir, &row.name)?.is_some() {
                            continue;
                        }
                    } else {
                        rec.remove(dir)?;
                    }
                    removed.push(format!("{} (on {})", row.name, rec.host));
                }
            }
            Status::Unreachable | Status::Unknown => unsure
                .push((row.name, format!("host '{}' could not tell whether it runs", row.host.unwrap_or_default()))),
            _ => {}
        }
    }
    Ok((removed, unsure))
}

/// Worker names grouped by the host they are on.
pub type ByHost = Vec<(Target, Vec<Record>)>;

/// The names that are remote workers' (their records, grouped by host), and the rest.
pub fn split(dir: &WorkerDir, names: &[String]) -> Result<(Vec<String>, ByHost)> {
    let (mut here, mut recs) = (Vec::new(), Vec::new());
    for n in names {
        match Record::read(dir, n)? {
            Some(r) => recs.push(r),
            None => here.push(n.clone()),
        }
    }
    Ok((here, by_host(recs)?.into_values().collect()))
}

/// `csd-wait --any/--all` over workers here and on hosts: the same wait on
/// each host (and here, for the local ones), their `NAME<TAB>HOW` lines
/// relayed as they come. The exit status is the fleet's: 0 all idle, 4 any
/// gone or terminated, 124 timed out, 1 a host could not be asked.
pub fn wait(dir: &WorkerDir, here: &[String], hosts: &ByHost, any: bool, timeout: Duration) -> Result<i32> {
    let (mut runs, members, code) = start_waits(dir, here, hosts, any, timeout)?;
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); runs.len()];
    let mut first: Option<i32> = None;
    let mut printed: Vec<String> = Vec::new();
    let mut ends: Vec<Option<i32>> = vec![None; runs.len()];
    crate::signals::install()?;
    pump(&mut runs, true, |i, said| {
        let bytes = match said {
            Out::Bytes(b) => b,
            Out::Ended(Ok(c)) => {
                ends[i] = Some(c);
                return Ok(true);
            }
            // A host that dropped mid-wait: its workers are not known to
            // have answered, nor to be gone.
            Out::Ended(Err(e)) => {
                crate::cli::note(format!("csd-wait: {e}"));
                ends[i] = Some(EXIT_FAILURE);
                for n in members[i].iter().filter(|n| !printed.contains(n)) {
                    crate::cli::say(format!("{n}\tunreachable\n"))?;
                }
                return Ok(true);
            }
        };
        partial[i].extend_from_slice(bytes);
        while let Some(nl) = memchr::memchr(b'\n', &partial[i]) {
            let line: Vec<u8> = partial[i].drain(..=nl).collect();
            crate::cli::say(&line)?;
            if let Some(tab) = memchr::memchr(b'\t', &line) {
                printed.push(String::from_utf8_lossy(&line[..tab]).into_owned());
            }
            if any {
                let how = String::from_utf8_lossy(&line);
                let how = how.trim_end_matches('\n').split('\t').nth(1).unwrap_or("");
                first = Some(crate::fleet::Finish::code_of_word(how));
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    if let Some(c) = first {
        return Ok(c);
    }
    merge_ends(code, ends.into_iter().flatten(), timeout)
}

/// The same wait started here (for the local names) and on each host: the
/// runs, each one's names, and 1 if a host could not be asked (its names
/// said `unreachable` at once).
fn start_waits(
    dir: &WorkerDir,
    here: &[String],
    hosts: &ByHost,
    any: bool,
    timeout: Duration,
) -> Result<(Vec<Running>, Vec<Vec<String>>, i32)> {
    let secs = format!("{}", timeout.as_secs_f64());
    let mode = if any { "--any" } else { "--all" };
    let (mut runs, mut members) = (Vec::new(), Vec::new());
    let mut code = EXIT_OK;
    if !here.is_empty() {
        runs.push(wait_here(dir, here, any, timeout)?);
        members.push(here.to_vec());
    }
    for (target, recs) in hosts {
        let names: Vec<String> = recs.iter().map(|r| r.name.clone()).collect();
        let mut argv = vec!["csd-wait".to_string(), mode.into(), "-t".into(), secs.clone()];
        argv.extend(names.iter().cloned());
        let mut req = Request::new(argv);
        req.expect.extend(recs.iter().filter_map(Record::identity));
        match Running::start(dir, target, &req) {
            Ok(r) => {
                runs.push(r);
                members.push(names);
            }
            Err(e) => {
                crate::cli::note(format!("csd-wait: {e}"));
                for n in &names {
                    crate::cli::say(format!("{n}\tunreachable\n"))?;
                }
                code = EXIT_FAILURE;
            }
        }
    }
    Ok((runs, members, code))
}

/// The wait on this machine's workers, done here as `csd-wait` would: its
/// `NAME<TAB>HOW` lines, and the status of the first that was not idle.
fn wait_here(dir: &WorkerDir, names: &[String], any: bool, timeout: Duration) -> Result<Running> {
    let (dir, names) = (dir.clone(), names.to_vec());
    let until = if any { crate::fleet::Until::Any } else { crate::fleet::Until::All };
    let deadline = std::time::Instant::now() + timeout;
    Running::here("csd-wait", move |out| {
        let mut code = EXIT_OK;
        crate::fleet::wait(&dir, &names, until, deadline, |name, how| {
            if code == EXIT_OK {
                code = how.exit_code();
            }
            out.write_all(how.line(name).as_bytes()).map_err(|e| Error::Io("writing".into(), e))
        })?;
        Ok(code)
    })
}

/// The fleet's exit status from each wait's: a worker that was not idle
/// (the first such status; gone only when nothing worse) over a timeout
/// over 0; `code` is what was already known.
fn merge_ends(code: i32, ends: impl Iterator<Item = i32>, timeout: Duration) -> Result<i32> {
    match crate::error::merge_exit_codes(std::iter::once(code).chain(ends)) {
        EXIT_TIMEOUT => Err(Error::Timeout(format!("not every worker answered within {}s", timeout.as_secs_f64()))),
        merged => Ok(merged),
    }
}

/// `csd-events --all` over this machine and every host with workers of
/// ours: each host's lines for our workers only, with `"host"` added.
/// Without `follow` they are merged by time; with it, relayed as they come.
pub fn events(dir: &WorkerDir, only: Option<EventKind>, last: Option<u64>, follow: bool) -> Result<i32> {
    let (recs, bad) = records(dir)?;
    for (file, why) in bad {
        crate::cli::note(format!("csd-events: skipping {file}: {why}"));
    }
    let hosts: Vec<(Target, Vec<Record>)> = by_host(recs)?.into_values().collect();
    let mut args: Vec<String> = vec!["--all".into()];
    if let Some(t) = only {
        args.extend(["--type".into(), t.name().to_string()]);
    }
    if follow {
        args.push("--follow".into());
        if let Some(n) = last {
            args.extend(["--last".into(), n.to_string()]);
        }
    }
    let mut runs = vec![events_here(dir, only, if follow { last } else { None }, follow)?];
    let mut owners: Vec<Option<(String, Vec<String>)>> = vec![None];
    let mut code = EXIT_OK;
    for (target, recs) in &hosts {
        let argv = std::iter::once("csd-events".to_string()).chain(args.iter().cloned()).collect();
        match Running::start(dir, target, &Request::new(argv)) {
            Ok(r) => {
                runs.push(r);
                owners.push(Some((target.host.to_string(), recs.iter().map(|r| r.name.clone()).collect())));
            }
            Err(e) => {
                crate::cli::note(format!("csd-events: {e}"));
                code = EXIT_FAILURE;
            }
        }
    }
    let mut partial: Vec<Vec<u8>> = vec![Vec::new(); runs.len()];
    let mut backlog: Vec<(String, String, usize, Vec<u8>)> = Vec::new();
    crate::signals::install()?;
    let mut n = 0usize;
    pump(&mut runs, true, |i, said| {
        let bytes = match said {
            Out::Bytes(b) => b,
            Out::Ended(Ok(c)) => {
                code = code.max(c);
                return Ok(true);
            }
            // Said at once: a follower learns a host dropped while the rest go on.
            Out::Ended(Err(e)) => {
                crate::cli::note(format!("csd-events: {e}"));
                code = EXIT_FAILURE.max(code);
                return Ok(true);
            }
        };
        partial[i].extend_from_slice(bytes);
        while let Some(nl) = memchr::memchr(b'\n', &partial[i]) {
            let line: Vec<u8> = partial[i].drain(..=nl).collect();
            let Some((ts, worker, line)) = ours(&line, owners[i].as_ref()) else { continue };
            if follow {
                crate::cli::say(&line)?;
            } else {
                n += 1;
                backlog.push((ts, worker, n, line));
            }
        }
        Ok(true)
    })?;
    backlog.sort();
    let skip = last.map_or(0, |k| backlog.len().saturating_sub(k as usize));
    for (_, _, _, line) in backlog.into_iter().skip(skip) {
        crate::cli::say(&line)?;
    }
    Ok(code)
}

/// This machine's part of the merged stream, done here as `csd-events
/// --all` would (`last` only when following: the merge takes the last N
/// of the whole otherwise).
fn events_here(dir: &WorkerDir, only: Option<EventKind>, last: Option<u64>, follow: bool) -> Result<Running> {
    let dir = dir.clone();
    Running::here("csd-events", move |out| {
        let mut write = |line: &[u8]| out.write_all(line).map_err(|e| Error::Io("writing events".into(), e));
        crate::fleet::events_all(&dir, crate::fleet::Merged { only, last, follow, out: &mut write })
    })
}

/// A line of a merged stream: from here as it is; from a host, only if it
/// is one of our workers' there, with its host added. (ts, worker, line)
fn ours(line: &[u8], owner: Option<&(String, Vec<String>)>) -> Option<(String, String, Vec<u8>)> {
    let Ok(Value::Object(mut v)) = serde_json::from_slice::<Value>(line) else { return None };
    let worker = v.get("worker").and_then(Value::as_str).unwrap_or("").to_string();
    let ts = v.get("ts").and_then(Value::as_str).unwrap_or("").to_string();
    let line = match owner {
        None => line.to_vec(),
        Some((host, names)) => {
            if !names.contains(&worker) {
                return None;
            }
            v.insert("host".into(), host.as_str().into());
            let mut out = serde_json::to_vec(&Value::Object(v)).ok()?;
            out.push(b'\n');
            out
        }
    };
    Some((ts, worker, line))
}
