//! Opening the files csd reads and appends to (event logs, metas,
//! transcripts, the consent file) without trusting what is at the path.
//!
//! A FIFO where a log should be would block `open(2)` (no writer, or no
//! reader) or the first read for ever; a device could do anything. So every
//! open is `O_NONBLOCK | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC`: it returns at
//! once whatever is there, a symlink is not followed, and a terminal does
//! not become ours. The descriptor is then `fstat`ed, anything but a regular
//! file is refused with an error that says what it is, and `O_NONBLOCK` is
//! cleared again for ordinary reads and writes.

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::libc;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Open `path` for reading. `NotFound` passes through as it is.
pub fn open_read(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true);
    open_checked(path, &o)
}

/// Open `path` for appending (`O_APPEND | O_CREAT`, `mode` when created),
/// and for reading: an appender looks at the last byte before it writes.
pub fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).append(true).create(true).mode(mode);
    open_checked(path, &o)
}

/// `open_append` of a file that must already be there: a late writer never
/// recreates a file someone removed (a stopped worker's log).
pub fn open_append_existing(path: &Path) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).append(true);
    open_checked(path, &o)
}

/// Open `path` for reading and writing, created 0600 if missing and
/// emptied first when `truncate`: a private file of csd's own (a lock, a
/// log it keeps), held to the same rules as every other open.
pub fn open_private(path: &Path, truncate: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.read(true).write(true).create(true).truncate(truncate).mode(0o600);
    open_checked(path, &o)
}

/// All of a regular file, refusing one over `cap` bytes (a meta is a few
/// hundred bytes; a huge one is not a meta, and must not cost its size).
pub fn read_capped(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    let f = open_read(path)?;
    let len = f.metadata()?.len();
    if len > cap {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{len} bytes, over the {cap}-byte cap")));
    }
    let mut buf = Vec::with_capacity(len as usize);
    // A file that grows while read is cut at the cap, and then refused too.
    f.take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("over the {cap}-byte cap")));
    }
    Ok(buf)
}

fn open_checked(path: &Path, o: &OpenOptions) -> io::Result<File> {
    let mut o = o.clone();
    o.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_CLOEXEC);
    let f = match o.open(path) {
        Ok(f) => f,
        // A symlink under O_NOFOLLOW (ELOOP), or a FIFO opened for writing
        // with no reader (ENXIO): say what the path is.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENXIO)) => {
            return Err(match std::fs::symlink_metadata(path) {
                Ok(m) => not_regular(m.file_type()),
                Err(_) => e,
            })
        }
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if !meta.file_type().is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let flags = fcntl(f.as_raw_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) & !OFlag::O_NONBLOCK;
    fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
    Ok(f)
}

fn not_regular(t: std::fs::FileType) -> io::Error {
    let what = if t.is_fifo() {
        "a FIFO"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link (not followed)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    };
    io::Error::new(io::ErrorKind::InvalidInput, format!("not a regular file: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open_and_nothing_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        for e in [open_read(&fifo).unwrap_err(), open_append(&fifo, 0o600).unwrap_err()] {
            assert!(e.to_string().contains("a FIFO"), "{e}");
        }
        assert!(open_read(dir.path()).unwrap_err().to_string().contains("a directory"));
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(open_read(&link).unwrap_err().to_string().contains("symbolic link"));
        assert_eq!(open_read(&dir.path().join("none")).unwrap_err().kind(), io::ErrorKind::NotFound);
        let mut s = String::new();
        open_read(&file).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "abc");
        let f = open_append(&dir.path().join("new"), 0o600).unwrap();
        let fl = fcntl(f.as_raw_fd(), FcntlArg::F_GETFL).unwrap();
        assert_eq!(fl & libc::O_NONBLOCK, 0, "O_NONBLOCK is cleared");
        assert_ne!(fl & libc::O_APPEND, 0);
        assert_eq!(read_capped(&file, 3).unwrap(), b"abc");
        assert!(read_capped(&file, 2).is_err());
    }
}
