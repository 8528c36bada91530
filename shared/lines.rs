//! Reading a file's lines forwards in linear time and bounded memory, and
//! the line cap every line reader shares.
//!
//! The search for a newline resumes where it stopped, so a line costs one
//! pass however many reads it spans. A line longer than a chunk is measured
//! first (read ahead to its newline, keeping nothing), then read whole if it
//! is within `LINE_CAP` and skipped if not: an endless line (garbage, a
//! sparse file's hole) costs a scan, never its size in memory.

use memchr::memchr;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The longest line any csd reader takes, event log or transcript; longer
/// ones are skipped as if torn. Well above what a line can legitimately be:
/// an event is made from a hook payload of at most `hook::STDIN_CAP` (8 MiB),
/// and a harness's transcript line holds one message.
pub const LINE_CAP: usize = 32 * 1024 * 1024;

const CHUNK: usize = 64 * 1024;

pub struct Lines {
    file: File,
    /// `buf` holds the file's bytes [pos, pos + buf.len()).
    pos: u64,
    buf: Vec<u8>,
    /// Where the next line starts in `buf`.
    start: usize,
    /// `buf[start..scanned]` holds no newline.
    scanned: usize,
    /// Read nothing at or after this offset.
    limit: u64,
    chunk: usize,
    cap: usize,
    /// Complete lines passed over for being longer than `cap`.
    skipped: u64,
}

impl Lines {
    /// Lines of `file` from byte `from` on, to its end.
    pub fn new(file: File, from: u64) -> Lines {
        Lines::with_sizes(file, from, CHUNK, LINE_CAP)
    }

    /// As `new`, reading `chunk` bytes at a time and skipping lines over
    /// `cap` bytes (tests use tiny ones).
    pub fn with_sizes(file: File, from: u64, chunk: usize, cap: usize) -> Lines {
        Lines {
            file,
            pos: from,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            limit: u64::MAX,
            chunk: chunk.max(1),
            cap,
            skipped: 0,
        }
    }

    /// Read no further than offset `limit`.
    pub fn until(mut self, limit: u64) -> Lines {
        self.limit = limit;
        self
    }

    /// The offset after the last complete line handed out or skipped: where
    /// reading resumes, so a partial line is read again once it is whole.
    pub fn offset(&self) -> u64 {
        self.pos + self.start as u64
    }

    /// How many complete lines were passed over for being over the cap: with
    /// the lines handed out, the count of non-empty lines read.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next complete, non-empty line within the cap (without its
    /// newline) and the offset where it starts; None at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        loop {
            if let Some(i) = memchr(b'\n', &self.buf[self.scanned..]) {
                let (s, nl) = (self.start, self.scanned + i);
                self.start = nl + 1;
                self.scanned = self.start;
                if nl == s {
                    continue;
                }
                if nl - s > self.cap {
                    self.skipped += 1;
                    continue;
                }
                return Ok(Some((self.pos + s as u64, &self.buf[s..nl])));
            }
            self.scanned = self.buf.len();
            let more = if self.buf.len() - self.start > self.chunk { self.long_line()? } else { self.fill()? };
            if !more {
                return Ok(None);
            }
        }
    }

    /// Drop what was handed out and append the next chunk. False at the end.
    fn fill(&mut self) -> io::Result<bool> {
        self.buf.drain(..self.start);
        self.pos += self.start as u64;
        self.scanned -= self.start;
        self.start = 0;
        let at = self.pos + self.buf.len() as u64;
        let want = (self.limit.saturating_sub(at)).min(self.chunk as u64) as usize;
        if want == 0 {
            return Ok(false);
        }
        let have = self.buf.len();
        self.buf.resize(have + want, 0);
        let got = read_at(&self.file, &mut self.buf[have..], at);
        self.buf.truncate(have + *got.as_ref().unwrap_or(&0));
        Ok(got? > 0)
    }

    /// The line at `start` runs past `buf` and is longer than a chunk: find
    /// its newline reading ahead, keeping nothing, then take it whole or
    /// skip it. False when it has no newline yet (a partial line).
    fn long_line(&mut self) -> io::Result<bool> {
        let line_start = self.offset();
        let mut at = self.pos + self.buf.len() as u64;
        let mut scratch = vec![0u8; self.chunk];
        let newline = loop {
            let want = (self.limit.saturating_sub(at)).min(self.chunk as u64) as usize;
            if want == 0 {
                return Ok(false);
            }
            let got = read_at(&self.file, &mut scratch[..want], at)?;
            if got == 0 {
                return Ok(false);
            }
            if let Some(i) = memchr(b'\n', &scratch[..got]) {
                break at + i as u64;
            }
            at += got as u64;
        };
        let len = newline - line_start;
        if len > self.cap as u64 {
            self.skipped += 1;
            self.buf.clear();
            self.pos = newline + 1;
        } else {
            let mut line = vec![0u8; len as usize + 1];
            self.file.read_exact_at(&mut line, line_start)?;
            self.buf = line;
            self.pos = line_start;
        }
        self.start = 0;
        // The newline is at `len` (or gone, when skipped): no need to search again.
        self.scanned = self.buf.len().saturating_sub(1);
        Ok(true)
    }
}

fn read_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, at) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read(content: &[u8], from: u64, limit: u64, chunk: usize, cap: usize) -> (Vec<(u64, String)>, u64) {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        let mut r = Lines::with_sizes(f, from, chunk, cap).until(limit);
        let mut out = Vec::new();
        while let Some((at, l)) = r.next_line().unwrap() {
            out.push((at, String::from_utf8(l.to_vec()).unwrap()));
        }
        (out, r.offset())
    }

    /// The same, the obvious way.
    fn expected(content: &[u8], from: u64, limit: u64, cap: usize) -> (Vec<(u64, String)>, u64) {
        let end = (limit.min(content.len() as u64)) as usize;
        let mut out = Vec::new();
        let mut at = from as usize;
        while let Some(i) = content[at..end].iter().position(|&b| b == b'\n') {
            let line = &content[at..at + i];
            if !line.is_empty() && line.len() <= cap {
                out.push((at as u64, String::from_utf8(line.to_vec()).unwrap()));
            }
            at += i + 1;
        }
        (out, at as u64)
    }

    #[test]
    fn every_chunk_and_cap_agrees_with_the_obvious_reading() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n",
            b"\n\n\n",
            b"a",
            b"a\n",
            b"one\ntwo\nthree\n",
            b"one\ntwo\nthree\ntorn",
            b"one\n\n\ntwo\n\nthree\n",
            b"a much longer line than any chunk here\nb\nanother quite long line, also\ntail without newline",
        ];
        for content in cases {
            let len = content.len() as u64;
            for chunk in 1..=content.len() + 2 {
                for cap in [usize::MAX, 0, 1, 3, 5, 10, 30] {
                    for from in [0, 4.min(len)] {
                        for limit in [u64::MAX, len.saturating_sub(3).max(from)] {
                            assert_eq!(
                                read(content, from, limit, chunk, cap),
                                expected(content, from, limit, cap),
                                "chunk {chunk}, cap {cap}, from {from}, limit {limit}, content {content:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_line_over_the_cap_is_skipped_and_the_next_one_read() {
        let mut content = b"first\n".to_vec();
        content.extend(vec![b'x'; 10 * CHUNK + 7]);
        content.extend(b"\nlast\n");
        let (lines, end) = read(&content, 0, u64::MAX, CHUNK, 4 * CHUNK);
        assert_eq!(lines.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>(), ["first", "last"]);
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(&content).unwrap();
        let mut r = Lines::with_sizes(f, 0, CHUNK, 4 * CHUNK);
        while r.next_line().unwrap().is_some() {}
        assert_eq!(r.skipped(), 1, "the long line is counted as skipped");
        assert_eq!(end, content.len() as u64);
        let (lines, _) = read(&content, 0, u64::MAX, CHUNK, LINE_CAP);
        assert_eq!(lines.len(), 3);
    }
}
