//! A worker on another machine, as the controller keeps it: the host's ssh
//! destination (`dest`), where csd is there (`RemotePath`), and the record
//! `<name>.remote` in the worker dir. Data and files only: reaching the host
//! is `remote`'s job, a layer up, so a local command (launch, list) can ask
//! "is this name a remote worker's?" without reaching into ssh.

pub mod dest;

use crate::error::{failed, usage, Error, Result};
use crate::workerdir::WorkerDir;
pub use dest::Dest;
use serde_json::{json, Value};
use std::path::PathBuf;

/// A record is a few hundred bytes; a large one is not ours.
const RECORD_CAP: u64 = 64 * 1024;

/// What the controller keeps of a remote worker.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub name: String,
    pub host: Dest,
    /// The harness asked for at launch (the host knows for sure).
    pub harness: String,
    /// The worker's directory on the host, as given.
    pub cwd: String,
    /// Where the csd binaries are on the host, when not on its PATH.
    pub remote_path: Option<RemotePath>,
    pub launched_at: String,
    /// The id the host's csd gave the worker (the stamp on its session):
    /// every call asks the host to check it, so a worker that took the
    /// name over there after ours went is never ours to drive or stop.
    pub csd_id: Option<String>,
}

impl Record {
    pub fn path(dir: &WorkerDir, name: &str) -> PathBuf {
        dir.remote_record_path(name)
    }

    /// The record of `name`, if it has one. A record that does not hold up
    /// is an error, never a host to connect to.
    pub fn read(dir: &WorkerDir, name: &str) -> Result<Option<Record>> {
        if crate::name::validate(name).is_err() {
            return Ok(None);
        }
        let path = Record::path(dir, name);
        let bytes = match crate::safefile::read_capped(&path, RECORD_CAP) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::Io(format!("reading {}", path.display()), e)),
        };
        Record::parse(&bytes, name)
            .map(Some)
            .map_err(|why| failed(format!("{} does not hold up ({why}); remove it if it is not yours", path.display())))
    }

    fn parse(bytes: &[u8], name: &str) -> std::result::Result<Record, String> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let s = |k: &str| v.get(k).and_then(Value::as_str).ok_or_else(|| format!("no '{k}'"));
        let rec_name = s("name")?;
        if rec_name != name || crate::name::validate(rec_name).is_err() {
            return Err(format!("its name '{}' is not its file's", crate::name::printable(rec_name)));
        }
        let host = Dest::parse(s("host")?).map_err(|e| e.to_string())?;
        let remote_path = match v.get("remote_path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(RemotePath::parse(p).map_err(|e| e.to_string())?),
            Some(_) => return Err("'remote_path' is not a string".into()),
        };
        let csd_id = match v.get("csd_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) if crate::name::validate(id).is_ok() => Some(id.clone()),
            Some(_) => return Err("'csd_id' is not a plain id".into()),
        };
        Ok(Record {
            csd_id,
            name: rec_name.to_string(),
            host,
            harness: s("harness")?.to_string(),
            cwd: s("cwd")?.to_string(),
            remote_path,
            launched_at: v.get("launched_at").and_then(Value::as_str).unwrap_or("").to_string(),
        })
    }

    pub fn write(&self, dir: &WorkerDir) -> Result<()> {
        let v = json!({
            "name": self.name,
            "host": self.host.as_str(),
            "harness": self.harness,
            "cwd": self.cwd,
            "remote_path": self.remote_path.as_ref().map(RemotePath::as_str),
            "launched_at": self.launched_at,
            "csd_id": self.csd_id,
        });
        let mut bytes = serde_json::to_vec_pretty(&v).expect("JSON of strings");
        bytes.push(b'\n');
        dir.write_atomic(&Record::path(dir, &self.name), &bytes, 0o600)
    }

    /// Forget the worker here: its record and its shim.
    pub fn remove(&self, dir: &WorkerDir) -> Result<()> {
        dir.remove_file(&dir.shim_path(&self.name))?;
        dir.remove_file(&Record::path(dir, &self.name))
    }

    /// `(name, csd_id)`, for the host to check, when the host gave an id.
    pub fn identity(&self) -> Option<(String, String)> {
        self.csd_id.as_ref().map(|id| (self.name.clone(), id.clone()))
    }

    /// How to reach csd on the worker's host: `CSD_REMOTE_PATH` when set,
    /// else what was recorded at launch.
    pub fn target(&self) -> Result<Target> {
        Ok(Target { host: self.host.clone(), remote_path: RemotePath::from_env()?.or(self.remote_path.clone()) })
    }
}

/// Every remote record in the dir, and the ones that did not hold up.
/// `(what, why)` pairs: records that did not hold up, workers left alone.
pub type Notes = Vec<(String, String)>;

pub fn records(dir: &WorkerDir) -> Result<(Vec<Record>, Notes)> {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    let mut names: Vec<String> =
        dir.entries()?.into_iter().filter_map(|f| f.strip_suffix(".remote").map(str::to_string)).collect();
    names.sort();
    for name in names {
        if crate::name::validate(&name).is_err() {
            bad.push((format!("{name}.remote"), "not a worker name".to_string()));
            continue;
        }
        match Record::read(dir, &name) {
            Ok(Some(r)) => good.push(r),
            Ok(None) => {}
            Err(e) => bad.push((format!("{name}.remote"), e.to_string())),
        }
    }
    Ok((good, bad))
}

/// Where csd is on a host: the directory holding its binaries. Kept to
/// characters no shell reads specially, since it is the one part of the
/// host's command line that is not fixed.
#[derive(Clone, Debug, PartialEq)]
pub struct RemotePath(String);

impl RemotePath {
    pub fn parse(s: &str) -> Result<RemotePath> {
        let ok = s.starts_with('/')
            && s.len() <= 1024
            && !s.split('/').any(|c| c == "..")
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._+-".contains(&b));
        if ok {
            Ok(RemotePath(s.trim_end_matches('/').to_string()))
        } else {
            Err(usage(format!(
                "CSD_REMOTE_PATH '{}' must be an absolute directory made of letters, digits and '/._+-'",
                crate::name::printable(s)
            )))
        }
    }

    pub fn from_env() -> Result<Option<RemotePath>> {
        match std::env::var("CSD_REMOTE_PATH") {
            Ok(v) if v.is_empty() => Ok(None),
            Ok(v) => RemotePath::parse(&v).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(_) => Err(usage("CSD_REMOTE_PATH is not valid UTF-8")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A host and where csd is on it: all a call needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub host: Dest,
    pub remote_path: Option<RemotePath>,
}

impl Target {
    pub fn from_env(host: Dest) -> Result<Target> {
        Ok(Target { host, remote_path: RemotePath::from_env()? })
    }

    /// The host's fixed command line.
    pub fn command_line(&self) -> String {
        match &self.remote_path {
            Some(p) => format!("{}/csd remote-call", p.as_str()),
            None => "csd remote-call".to_string(),
        }
    }
}
