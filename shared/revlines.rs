//! Reading a file's lines from its end backwards: the event log's "last N"
//! and a transcript's last turn both cost what they read, not the file's size.
//!
//! Only complete lines are handed out. A final line without its newline is a
//! write in progress or a torn one, so it is left out, and `end()` is the
//! offset just after the last complete line: the baseline for reading what
//! follows. Empty lines are skipped, and so is a line longer than the line
//! cap (`lines::LINE_CAP`): its start is found by reading back a chunk at a
//! time, keeping nothing, so it costs neither its size in memory nor more
//! than one pass.
//!
//! The size is taken once, when the reader is made: what a writer appends
//! afterwards is not seen.

use crate::lines::LINE_CAP;
use memchr::memrchr;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

const CHUNK: usize = 64 * 1024;

pub struct RevLines {
    file: File,
    /// `buf` holds the file's bytes [pos, pos + buf.len()); when it is not
    /// empty it ends with a newline.
    pos: u64,
    buf: Vec<u8>,
    /// Where the line handed out last starts in `buf`: dropped on the next call.
    handed: Option<usize>,
    end: u64,
    chunk: usize,
    cap: usize,
}

impl RevLines {
    pub fn new(file: File) -> io::Result<RevLines> {
        RevLines::with_sizes(file, CHUNK, LINE_CAP)
    }

    /// As `new`, reading `chunk` bytes at a time and skipping lines over
    /// `cap` bytes (tests use tiny ones to put lines across chunk
    /// boundaries and over the cap).
    pub fn with_sizes(file: File, chunk: usize, cap: usize) -> io::Result<RevLines> {
        let size = file.metadata()?.len();
        RevLines::bounded(file, size, chunk, cap)
    }

    /// As `new`, as if the file ended at byte `until` (a line's start): the
    /// lines before it, the last first.
    pub fn ending_at(file: File, until: u64) -> io::Result<RevLines> {
        let size = file.metadata()?.len().min(until);
        RevLines::bounded(file, size, CHUNK, LINE_CAP)
    }

    fn bounded(file: File, size: u64, chunk: usize, cap: usize) -> io::Result<RevLines> {
        let mut lines = RevLines { file, pos: size, buf: Vec::new(), handed: None, end: 0, chunk: chunk.max(1), cap };
        lines.drop_partial_tail()?;
        Ok(lines)
    }

    /// The offset just after the last complete line (0 when there is none).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// The next complete, non-empty line going backwards (without its
    /// newline) and the offset where it starts, or None at the start of the
    /// file.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, &[u8])>> {
        if let Some(start) = self.handed.take() {
            self.buf.truncate(start);
        }
        loop {
            if self.buf.is_empty() {
                if !self.read_earlier()? {
                    return Ok(None);
                }
                continue;
            }
            let body_end = self.buf.len() - 1;
            let start = match memrchr(b'\n', &self.buf[..body_end]) {
                Some(i) => i + 1,
                None if self.pos == 0 => 0,
                // A line longer than a chunk: find where it starts first.
                None if self.buf.len() > self.chunk => {
                    self.long_line()?;
                    continue;
                }
                None => {
                    // The line starts in an earlier chunk.
                    self.read_earlier()?;
                    continue;
                }
            };
            if start == body_end || body_end - start > self.cap {
                self.buf.truncate(start);
                continue;
            }
            self.handed = Some(start);
            return Ok(Some((self.pos + start as u64, &self.buf[start..body_end])));
        }
    }

    /// Skip back past the bytes after the last newline.
    fn drop_partial_tail(&mut self) -> io::Result<()> {
        loop {
            if let Some(i) = memrchr(b'\n', &self.buf) {
                self.buf.truncate(i + 1);
                self.end = self.pos + self.buf.len() as u64;
                return Ok(());
            }
            // No newline yet: all of it belongs to the partial line.
            self.buf.clear();
            if !self.read_earlier()? {
                return Ok(());
            }
        }
    }

    /// Put the chunk before `buf` in front of it.
    fn read_earlier(&mut self) -> io::Result<bool> {
        if self.pos == 0 {
            return Ok(false);
        }
        let take = self.chunk.min(self.pos as usize);
        let at = self.pos - take as u64;
        let mut bytes = vec![0u8; take + self.buf.len()];
        self.file.read_exact_at(&mut bytes[..take], at)?;
        bytes[take..].copy_from_slice(&self.buf);
        self.buf = bytes;
        self.pos = at;
        Ok(true)
    }

    /// `buf` holds the end of a line that starts before it. Read back a
    /// chunk at a time, keeping nothing, to the newline before the line;
    /// then read the line whole if it is within the cap, or leave `buf` with
    /// what precedes it if not.
    fn long_line(&mut self) -> io::Result<()> {
        let line_end = self.pos + self.buf.len() as u64 - 1;
        let mut scratch = vec![0u8; self.chunk];
        let mut at = self.pos;
        let (start, before) = loop {
            if at == 0 {
                break (0, None);
            }
            let take = self.chunk.min(at as usize);
            let from = at - take as u64;
            self.file.read_exact_at(&mut scratch[..take], from)?;
            if let Some(i) = memrchr(b'\n', &scratch[..take]) {
                break (from + i as u64 + 1, Some((from, i + 1)));
            }
            at = from;
        };
        if line_end - start > self.cap as u64 {
            // Too long: go on with the bytes before it.
            match before {
                Some((from, n)) => {
                    scratch.truncate(n);
                    self.buf = scratch;
                    self.pos = from;
                }
                None => {
                    self.buf.clear();
                    self.pos = 0;
                }
            }
            return Ok(());
        }
        // The line, and the newline before it so `next_line` sees where it starts.
        let from = start.saturating_sub(1);
        let mut bytes = vec![0u8; (line_end + 1 - from) as usize];
        self.file.read_exact_at(&mut bytes, from)?;
        self.buf = bytes;
        self.pos = from;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(content: &[u8], chunk: usize, cap: usize) -> (Vec<String>, u64) {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        let mut r = RevLines::with_sizes(f, chunk, cap).unwrap();
        let end = r.end();
        let mut out = Vec::new();
        while let Some((_, l)) = r.next_line().unwrap() {
            out.push(String::from_utf8(l.to_vec()).unwrap());
        }
        (out, end)
    }

    /// What a forward reader would say, newest first.
    fn expected(content: &[u8], cap: usize) -> (Vec<String>, u64) {
        let end = memrchr(b'\n', content).map_or(0, |i| i + 1);
        let mut v: Vec<String> = content[..end]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty() && l.len() <= cap)
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
            .collect();
        v.reverse();
        (v, end as u64)
    }

    #[test]
    fn every_chunk_size_agrees_with_a_forward_read() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n",
            b"\n\n\n",
            b"a",
            b"a\n",
            b"one\ntwo\nthree\n",
            b"one\ntwo\nthree\ntorn",
            b"one\n\n\ntwo\n\nthree\n",
            b"\nlead\n",
            b"a much longer line than any chunk here\nb\nanother quite long line, also\ntail without newline",
        ];
        for content in cases {
            for chunk in 1..=content.len() + 2 {
                for cap in [usize::MAX, 0, 1, 3, 4, 5, 10, 30] {
                    assert_eq!(
                        lines_of(content, chunk, cap),
                        expected(content, cap),
                        "chunk {chunk}, cap {cap}, content {content:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_default_chunk_handles_lines_across_its_boundaries() {
        // Lines of varied lengths straddling many 64 KiB boundaries, one far longer than a chunk.
        let mut content = Vec::new();
        for i in 0..3000 {
            let len = (i * 7919) % 300;
            content.extend(vec![b'a' + (i % 26) as u8; len + 1]);
            content.push(b'\n');
            if i == 1500 {
                content.extend(vec![b'L'; 5 * CHUNK + 3]);
                content.push(b'\n');
            }
        }
        content.extend_from_slice(b"{\"torn");
        assert_eq!(lines_of(&content, CHUNK, LINE_CAP), expected(&content, LINE_CAP));
        // And with a cap the long line is over.
        assert_eq!(lines_of(&content, CHUNK, 3 * CHUNK), expected(&content, 3 * CHUNK));
    }

    #[test]
    fn offset_is_where_the_line_starts() {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(b"ab\ncde\n\nf\n").unwrap();
        let mut r = RevLines::with_sizes(f, 2, LINE_CAP).unwrap();
        let mut got = Vec::new();
        while let Some((at, l)) = r.next_line().unwrap() {
            got.push((String::from_utf8(l.to_vec()).unwrap(), at));
        }
        assert_eq!(got, vec![("f".into(), 8), ("cde".into(), 3), ("ab".into(), 0)]);
    }
}
