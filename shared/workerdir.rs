//! The worker dir: where every worker's meta, events, shim and home live.
//! Laid out as csd v4 lays it out, so either tool reads the other's workers:
//!
//! ```text
//! $CSD_WORKER_DIR (default /tmp/csd-workers, mode 0700)
//!   <sid>.meta            JSON: tmux_name, session_id, cwd, harness, …
//!   <sid>.events.jsonl    one event per line
//!   <name>.harness        harness of a worker that has not registered yet
//!   bin/<name>            the per-worker shim
//!   homes/<name>/         per-worker harness home (Codex, Pi)
//! ```

use crate::error::{failed, Context, Result};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const DEFAULT_WORKER_DIR: &str = "/tmp/csd-workers";
/// v3 kept workers here; v4 links it to the new place and so do we.
pub const BACK_COMPAT_LINK: &str = "/tmp/claude-workers";

#[derive(Clone, Debug)]
pub struct WorkerDir {
    root: PathBuf,
}

impl WorkerDir {
    /// `$CSD_WORKER_DIR` or the default. Checked, not created.
    pub fn from_env() -> Result<WorkerDir> {
        let root = match std::env::var_os("CSD_WORKER_DIR") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => PathBuf::from(DEFAULT_WORKER_DIR),
        };
        WorkerDir::at(root)
    }

    /// A worker dir at `root`, refused if it is a symlink or someone else's:
    /// either would let another user read prompts or plant events.
    pub fn at(root: PathBuf) -> Result<WorkerDir> {
        let dir = WorkerDir { root };
        dir.check()?;
        Ok(dir)
    }

    fn check(&self) -> Result<()> {
        match fs::symlink_metadata(&self.root) {
            Ok(m) if m.file_type().is_symlink() => Err(failed(format!(
                "worker dir {} is a symlink; refusing to use it (set CSD_WORKER_DIR to a real directory)",
                self.root.display()
            ))),
            Ok(m) if !m.is_dir() => Err(failed(format!("worker dir {} is not a directory", self.root.display()))),
            Ok(m) if m.uid() != nix::unistd::geteuid().as_raw() => Err(failed(format!(
                "worker dir {} is owned by uid {}, not by you; refusing to use it",
                self.root.display(),
                m.uid()
            ))),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context(|| format!("checking worker dir {}", self.root.display())),
        }
    }

    /// Create the dir (mode 0700) and its `bin/`, and the v3 back-compat link
    /// when the default is in use.
    pub fn ensure(&self) -> Result<()> {
        self.check()?;
        if !self.root.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)
                .context(|| format!("creating worker dir {}", self.root.display()))?;
            // The umask may have narrowed nothing but can't widen; make it exact.
            fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
                .context(|| format!("setting mode of {}", self.root.display()))?;
            self.check()?;
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(self.root.join("bin"))
            .context(|| format!("creating {}/bin", self.root.display()))?;
        if self.root == Path::new(DEFAULT_WORKER_DIR) && fs::symlink_metadata(BACK_COMPAT_LINK).is_err() {
            // Best effort: an old path that cannot be linked must not stop a launch.
            let _ = std::os::unix::fs::symlink(DEFAULT_WORKER_DIR, BACK_COMPAT_LINK);
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn meta_path(&self, sid: &str) -> PathBuf {
        self.root.join(format!("{sid}.meta"))
    }

    pub fn events_path(&self, sid: &str) -> PathBuf {
        self.root.join(format!("{sid}.events.jsonl"))
    }

    pub fn shim_path(&self, name: &str) -> PathBuf {
        self.root.join("bin").join(name)
    }

    pub fn home_path(&self, name: &str) -> PathBuf {
        self.root.join("homes").join(name)
    }

    pub fn harness_marker_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.harness"))
    }

    /// File names in the dir, or none when it does not exist yet.
    pub fn entries(&self) -> Result<Vec<String>> {
        match fs::read_dir(&self.root) {
            Ok(rd) => Ok(rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).context(|| format!("reading worker dir {}", self.root.display())),
        }
    }

    /// Names with a shim in `bin/`.
    pub fn shim_names(&self) -> Result<Vec<String>> {
        match fs::read_dir(self.root.join("bin")) {
            Ok(rd) => Ok(rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).context(|| format!("reading {}/bin", self.root.display())),
        }
    }

    /// Write `data` to `path` inside the dir atomically (temp file + rename), so
    /// a reader sees the old file or the new one, never half of one.
    pub fn write_atomic(&self, path: &Path, data: &[u8], mode: u32) -> Result<()> {
        use std::io::Write;
        let parent = path.parent().unwrap_or(&self.root);
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(parent)
            .context(|| format!("creating a temp file in {}", parent.display()))?;
        tmp.write_all(data).context(|| format!("writing {}", path.display()))?;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .context(|| format!("setting mode of {}", path.display()))?;
        tmp.persist(path).map_err(|e| e.error).context(|| format!("renaming into {}", path.display()))?;
        Ok(())
    }
}

/// Remove a file, where its absence is already the goal.
pub fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).context(|| format!("removing {}", path.display())),
    }
}

/// Remove a directory tree, where its absence is already the goal.
pub fn remove_tree_if_present(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).context(|| format!("removing {}", path.display())),
    }
}

impl WorkerDir {
    /// Write the per-worker shim `bin/<name>`: a two-line sh script that runs
    /// `csd --worker <name> "$@"`. The name has passed `name::validate`, so it
    /// needs no quoting; the csd path is quoted.
    pub fn write_shim(&self, name: &str, csd: &Path) -> Result<PathBuf> {
        crate::name::validate(name)?;
        let csd = csd.to_str().ok_or_else(|| failed(format!("csd's path {} is not UTF-8", csd.display())))?;
        let script = format!(
            "#!/bin/sh\n# csd worker shim: every subcommand goes to this worker.\nexec {} --worker {name} \"$@\"\n",
            crate::tmux::shell_quote(csd)
        );
        let path = self.shim_path(name);
        self.write_atomic(&path, script.as_bytes(), 0o755)?;
        Ok(path)
    }
}
