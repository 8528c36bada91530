//! The worker dir: where every worker's meta, events, shim and home live.
//! Laid out as csd v4 lays it out, so either tool reads the other's workers:
//!
//! ```text
//! $CSD_WORKER_DIR (default /tmp/csd-workers, mode 0700)
//!   <sid>.meta            JSON: tmux_name, session_id, cwd, harness, …
//!   <sid>.events.jsonl    one event per line
//!   <sid>.events.lost     there while the latest event could not be written
//!   <sid>.tally           what status has counted so far (`tally`)
//!   <name>.harness        harness of a worker that has not registered yet
//!   <name>.remote         a worker on another machine (`host::Record`)
//!   bin/<name>            the per-worker shim
//!   homes/<name>/         per-worker harness home (Codex, Pi)
//! ```

use crate::error::{failed, Context, Error, Result};
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

    /// A worker dir at `root`, refused if it is a symlink, someone else's, or
    /// writable by others: any of these would let another user read prompts,
    /// plant events, or plant a meta that points csd at their choice of file.
    pub fn at(root: PathBuf) -> Result<WorkerDir> {
        // `dir/` would make lstat follow a symlink named `dir`.
        let root = match root.to_str() {
            Some(s) if s.len() > 1 && s.ends_with('/') => PathBuf::from(s.trim_end_matches('/')),
            _ => root,
        };
        if root.as_os_str().is_empty() || root.components().any(|c| c == std::path::Component::ParentDir) {
            return Err(crate::error::usage(format!("worker dir '{}' must be a plain path (no '..')", root.display())));
        }
        let root = absolute(root)?;
        let dir = WorkerDir { root };
        dir.check(&dir.root)?;
        Ok(dir)
    }

    /// `path` (the dir or one of its own subdirs) is a real directory of
    /// ours that no one else may write to; absent is fine (not created yet).
    fn check(&self, path: &Path) -> Result<()> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => Err(failed(format!(
                "{} is a symlink; refusing to use it as a worker dir (set CSD_WORKER_DIR to a real directory)",
                path.display()
            ))),
            Ok(m) if !m.is_dir() => Err(failed(format!("{} is not a directory", path.display()))),
            Ok(m) if m.uid() != nix::unistd::geteuid().as_raw() => {
                Err(failed(format!("{} is owned by uid {}, not by you; refusing to use it", path.display(), m.uid())))
            }
            Ok(m) if m.mode() & 0o022 != 0 => Err(failed(format!(
                "{} is writable by {} (mode {:o}); refusing to use it (chmod 700 it)",
                path.display(),
                if m.mode() & 0o002 != 0 { "everyone" } else { "its group" },
                m.mode() & 0o7777
            ))),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).context(|| format!("checking worker dir {}", path.display())),
        }
    }

    /// Create the dir (mode 0700) and its `bin/`, and the v3 back-compat link
    /// when the default is in use. Each level is made with mkdir(2), which
    /// never follows a symlink, and checked after.
    pub fn ensure(&self) -> Result<()> {
        self.check(&self.root)?;
        if !self.root.exists() {
            if let Some(parent) = self.root.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .context(|| format!("creating {}", parent.display()))?;
            }
            self.make_private_dir(&self.root)?;
        }
        self.subdir("bin")?;
        if self.root == Path::new(DEFAULT_WORKER_DIR) && fs::symlink_metadata(BACK_COMPAT_LINK).is_err() {
            // Best effort: an old path that cannot be linked must not stop a launch.
            let _ = std::os::unix::fs::symlink(DEFAULT_WORKER_DIR, BACK_COMPAT_LINK);
        }
        Ok(())
    }

    /// `<dir>/<name>` (`bin`, `homes`, `plugin`), made if need be, and held
    /// to the same rules as the dir itself.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let path = self.root.join(name);
        self.check(&path)?;
        if fs::symlink_metadata(&path).is_err() {
            self.make_private_dir(&path)?;
        }
        Ok(path)
    }

    fn make_private_dir(&self, path: &Path) -> Result<()> {
        match fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {
                // The umask may have narrowed nothing but can't widen; make it exact.
                fs::set_permissions(path, fs::Permissions::from_mode(0o700))
                    .context(|| format!("setting mode of {}", path.display()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).context(|| format!("creating {}", path.display())),
        }
        self.check(path)
    }

    /// Hold the dir's lock: launches hold it from checking a name until
    /// their session exists, and prune while it sweeps, so neither takes a
    /// worker that is still being made for a dead one. Waits at most 10 s
    /// (a holder that stopped must not hang everyone).
    pub fn lock(&self) -> Result<DirLock> {
        use nix::fcntl::{Flock, FlockArg};
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut file = fs::File::open(&self.root).context(|| format!("opening {}", self.root.display()))?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(held) => return Ok(DirLock { _held: held }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) if std::time::Instant::now() < until => {
                    file = f;
                    crate::signals::sleep(std::time::Duration::from_millis(10))?;
                }
                Err((_, e)) => {
                    return Err(failed(format!("could not lock worker dir {}: {e}", self.root.display())));
                }
            }
        }
    }

    /// Remove a file of the dir's, where its absence is already the goal.
    /// The path must lie directly in the dir or one of its checked subdirs.
    pub fn remove_file(&self, path: &Path) -> Result<()> {
        self.check_inside(path)?;
        remove_if_present(path)
    }

    /// Make `homes/<name>/` (0700, never through a symlink) and return it.
    pub fn make_home(&self, name: &str) -> Result<PathBuf> {
        crate::name::validate(name)?;
        self.subdir("homes")?;
        let home = self.home_path(name);
        self.make_private_dir(&home)?;
        Ok(home)
    }

    /// Remove `homes/<name>/`, and `homes/` with its last worker.
    pub fn remove_home(&self, name: &str) -> Result<()> {
        crate::name::validate(name)?;
        let homes = self.root.join("homes");
        match fs::symlink_metadata(&homes) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            _ => self.check(&homes)?,
        }
        // remove_dir_all removes a symlink, never what it points to.
        remove_tree_if_present(&homes.join(name))?;
        let _ = fs::remove_dir(&homes);
        Ok(())
    }

    /// `path` is `<dir>/<file>` or `<dir>/<sub>/<file>` with plain names and a
    /// checked `<sub>`: a meta's contents can never point a removal elsewhere.
    fn check_inside(&self, path: &Path) -> Result<()> {
        let outside = || failed(format!("refusing to remove {}: it is not inside the worker dir", path.display()));
        let rest = path.strip_prefix(&self.root).map_err(|_| outside())?;
        let parts: Vec<_> = rest.components().collect();
        if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|c| matches!(c, std::path::Component::Normal(_))) {
            return Err(outside());
        }
        if parts.len() == 2 {
            self.check(&self.root.join(parts[0]))?;
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

    pub fn tally_path(&self, sid: &str) -> PathBuf {
        self.root.join(format!("{sid}.tally"))
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

    /// The file whose lock serialises the sends to worker `name`.
    pub fn send_lock_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.send.lock"))
    }

    /// Hold the send lock of worker `name` (an exclusive `flock` on
    /// `<name>.send.lock`): one prompt goes in at a time, and `stop` waits
    /// for the one going in. Waits until `until`; a sender killed while it
    /// holds the lock loses it with its descriptor, so no one waits on a
    /// dead sender. The file is opened without following a link or blocking
    /// on a FIFO, and must be a regular file of ours.
    pub fn send_lock(&self, name: &str, until: std::time::Instant) -> Result<SendLock> {
        use nix::fcntl::{Flock, FlockArg};
        crate::name::validate(name)?;
        let path = self.send_lock_path(name);
        let refused = || failed(format!("{} is not a regular file of yours; remove it", path.display()));
        let mut file = match crate::safefile::open_private(&path, false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => return Err(refused()),
            Err(e) => return Err(Error::Io(format!("opening {}", path.display()), e)),
        };
        let meta = file.metadata().context(|| format!("reading {}", path.display()))?;
        if meta.uid() != nix::unistd::getuid().as_raw() {
            return Err(refused());
        }
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(held) => return Ok(SendLock { _held: held }),
                Err((f, nix::errno::Errno::EWOULDBLOCK)) if std::time::Instant::now() < until => {
                    file = f;
                    crate::signals::sleep(std::time::Duration::from_millis(5))?;
                }
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                    return Err(Error::Timeout(format!(
                        "worker '{name}' is taking another prompt (another csd-send or csd-stop holds {}) \
                         and it did not finish in time; nothing was typed",
                        path.display()
                    )))
                }
                Err((_, e)) => return Err(failed(format!("could not lock {}: {e}", path.display()))),
            }
        }
    }

    /// The record of a worker on another machine (`host::Record`).
    pub fn remote_record_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.remote"))
    }

    /// Whether `name` is a remote worker's: a record, good or bad, holds it
    /// (and its shim, which is then no local worker's debris).
    pub fn holds_remote(&self, name: &str) -> bool {
        crate::name::validate(name).is_ok() && fs::symlink_metadata(self.remote_record_path(name)).is_ok()
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

/// A worker's send lock, released on drop (or by the kernel when its holder dies).
pub struct SendLock {
    _held: nix::fcntl::Flock<fs::File>,
}

/// The worker dir's lock, released on drop.
pub struct DirLock {
    _held: nix::fcntl::Flock<fs::File>,
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

/// `root` from `/`: the dir's path goes into every worker's pane, whose cwd
/// is the worker's, and into its shim, which may run from anywhere.
fn absolute(root: PathBuf) -> Result<PathBuf> {
    if root.is_absolute() {
        return Ok(root);
    }
    let here = std::env::current_dir().context(|| format!("resolving worker dir '{}'", root.display()))?;
    // `./x` would keep its `.` through join.
    Ok(here.join(root.components().filter(|c| *c != std::path::Component::CurDir).collect::<PathBuf>()))
}

impl WorkerDir {
    /// Write the per-worker shim `bin/<name>`: a tiny sh script that runs
    /// `csd --worker <name> "$@"` with `CSD_WORKER_DIR` pinned to this dir,
    /// so it drives the worker it was made for whatever the caller's
    /// environment names. The name has passed `name::validate`, so it needs
    /// no quoting; the paths are quoted. (Shims without the pin, from an
    /// older csd, take the dir from the environment and keep working.)
    pub fn write_shim(&self, name: &str, csd: &Path) -> Result<PathBuf> {
        crate::name::validate(name)?;
        let utf8 = |p: &Path, what: &str| {
            p.to_str()
                .map(crate::tmux::shell_quote)
                .ok_or_else(|| failed(format!("{what} {} is not UTF-8", p.display())))
        };
        let script = format!(
            "#!/bin/sh\n# csd worker shim: every subcommand goes to this worker, in this worker dir.\n\
             CSD_WORKER_DIR={}\nexport CSD_WORKER_DIR\nexec {} --worker {name} \"$@\"\n",
            utf8(&self.root, "the worker dir's path")?,
            utf8(csd, "csd's path")?
        );
        let path = self.shim_path(name);
        self.write_atomic(&path, script.as_bytes(), 0o755)?;
        Ok(path)
    }
}
