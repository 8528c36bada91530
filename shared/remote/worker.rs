//! Starting, stopping and handing off a remote worker: the host's own csd
//! does the work; the controller keeps its record and shim in step.

use super::call::{capture, Request};
use super::{Dest, Record, Target};
use crate::error::{failed, Error, Result, EXIT_NO_WORKER, EXIT_OK};
use crate::tmux::shell_quote;
use crate::workerdir::WorkerDir;

/// Launch (or adopt) a worker on its host. The record is written first,
/// under the worker dir's lock, so no other launch here takes the name;
/// it is taken back if the host's launch fails or we are interrupted.
/// On success: the shim's path, and the exit status 0.
pub fn launch(dir: &WorkerDir, req: &crate::launch::Request, host: &Dest) -> Result<(std::path::PathBuf, i32)> {
    let name = crate::name::validate(&req.name)?;
    let cwd = req.cwd.to_str().ok_or_else(|| crate::error::usage("CWD is not UTF-8"))?.to_string();
    let target = Target::from_env(host.clone())?;
    dir.ensure()?;
    let record = Record {
        name: name.to_string(),
        host: host.clone(),
        harness: req.harness.name().to_string(),
        cwd: cwd.clone(),
        remote_path: target.remote_path.clone(),
        launched_at: crate::time::now_iso(),
        csd_id: None,
    };
    let replacing = {
        let _lock = dir.lock()?;
        refuse_local_name(dir, name)?;
        let old = Record::read(dir, name)?;
        if let Some(old) = &old {
            if old.host != *host {
                return Err(failed(format!(
                    "worker '{name}' runs on host '{}'; stop it there (csd --worker {name} stop) or pick another name",
                    old.host
                )));
            }
        }
        record.write(dir)?;
        old
    };
    let mut argv = vec!["csd-launch".to_string()];
    argv.extend(["--harness".to_string(), req.harness.name().to_string()]);
    let adopt = req.mode == crate::harness::Mode::Adopt;
    if adopt {
        argv.push("--adopt".into());
    }
    argv.extend(req.worktree.iter().flat_map(crate::worktree::Ask::args));
    argv.extend([name.to_string(), cwd]);
    argv.extend(req.session_id.clone().filter(|_| adopt));
    if !req.extra_args.is_empty() {
        argv.push("--".into());
        argv.extend(req.extra_args.iter().cloned());
    }
    let undo = |dir: &WorkerDir| match &replacing {
        // The host refused to replace its worker: ours stays as it was.
        Some(old) => old.write(dir),
        None => dir.remove_file(&Record::path(dir, name)),
    };
    let asked = Request { check_version: true, ..Request::new(argv) };
    let code = match capture(dir, &target, &asked) {
        Ok((code, _remote_shim)) => code,
        Err(e) => {
            crate::signals::deferred(|| undo(dir))?;
            return Err(e);
        }
    };
    if code != EXIT_OK {
        undo(dir)?;
        return Ok((std::path::PathBuf::new(), code));
    }
    // The host's id for the worker, kept so no later worker of the name
    // there is taken for ours.
    let asked = Request::new(vec!["csd-status".into(), "--json".into(), name.to_string()]);
    let id = match capture(dir, &target, &asked) {
        Ok((0, out)) => serde_json::from_slice::<serde_json::Value>(&out)
            .ok()
            .and_then(|v| v.get("csd_id").and_then(|i| i.as_str()).map(str::to_string))
            .filter(|id| crate::name::validate(id).is_ok()),
        _ => None,
    };
    if id.is_none() {
        crate::cli::note(format!(
            "csd-launch: host '{}' gave no id for '{name}'; calls will not check it is the same worker",
            host
        ));
    }
    Record { csd_id: id, ..record }.write(dir)?;
    let shim = dir.write_shim(name, &crate::cli::beside_me("csd")?)?;
    Ok((shim, code))
}

/// A local worker of this name (a meta or a marker, of any state) keeps the
/// name: one name, one worker, whichever machine it is on.
fn refuse_local_name(dir: &WorkerDir, name: &str) -> Result<()> {
    let session = crate::name::tmux_session(name);
    let metas = crate::worker::list_metas(dir)?;
    let local = metas.iter().any(|m| crate::name::tmux_session(&m.tmux_name) == session)
        || dir
            .entries()?
            .iter()
            .any(|f| f.strip_suffix(".harness").is_some_and(|n| crate::name::tmux_session(n) == session));
    if local {
        return Err(failed(format!(
            "a worker named '{name}' is known on this machine; stop it (or prune it) or pick another name"
        )));
    }
    Ok(())
}

/// Stop the worker on its host; its record and shim go once the host says
/// it is stopped or has no such worker. A host that cannot be reached
/// changes nothing here.
pub fn stop(dir: &WorkerDir, record: &Record, discard: bool) -> Result<i32> {
    let target = record.target()?;
    let mut argv = vec!["csd-stop".to_string(), record.name.clone()];
    if discard {
        argv.push("--discard".into());
    }
    let (code, out) = capture(dir, &target, &Request::for_worker(record, argv, Vec::new()))?;
    crate::cli::say(&out)?;
    // A worktree the host kept is still this controller's to diff, merge
    // and stop again (or discard): the record stays while it does.
    let kept = String::from_utf8_lossy(&out).lines().any(|l| l.starts_with(crate::worktree::KEPT));
    if (code == EXIT_OK && !kept) || code == EXIT_NO_WORKER {
        record.remove(dir)?;
    }
    if code == EXIT_NO_WORKER {
        crate::cli::note(format!(
            "csd-stop: host '{}' has no worker '{}' any more; its record here is removed",
            record.host, record.name
        ));
        return Ok(EXIT_OK);
    }
    Ok(code)
}

/// What a human types to take the worker over: ssh to its host, with a
/// terminal, into the tmux attach line the host's csd gives.
pub fn handoff(dir: &WorkerDir, record: &Record) -> Result<i32> {
    let target = record.target()?;
    let argv = vec!["csd-stop".into(), "--handoff".into(), record.name.clone()];
    let (code, out) = capture(dir, &target, &Request::for_worker(record, argv, Vec::new()))?;
    if code != EXIT_OK {
        return Ok(code);
    }
    let text = String::from_utf8_lossy(&out);
    let attach =
        text.lines().map(str::trim).find(|l| l.starts_with("tmux ") && l.contains(" attach")).ok_or_else(|| {
            Error::Failed(format!("host '{}' gave no tmux attach line for '{}'", record.host, record.name))
        })?;
    let name = &record.name;
    crate::cli::say(format!(
        "Worker '{name}' runs on host '{host}', in tmux there. To take over:\n\n    ssh -t -- {dest} {attach}\n\n\
         Type to the worker directly once attached; detach with Ctrl-b d to leave it running.\n\
         The controller can go on afterwards with another prompt. Do not stop the worker\n\
         (csd --worker {name} stop) unless you mean to end its session.\n",
        host = record.host,
        dest = shell_quote(record.host.as_str()),
    ))?;
    Ok(EXIT_OK)
}
