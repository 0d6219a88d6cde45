//! Opening inputs (files, stdin, gzip) and reading them in chunks of whole lines, in
//! bounded memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::ops::Range;
use std::path::Path;

use flate2::bufread::MultiGzDecoder;
use memchr::{memchr, memrchr};

/// Read buffer size for files and the decompressor: smaller than a chunk, so that a chunk
/// is read into its own buffer, not copied through this one.
const BUFFER: usize = 64 * 1024;
/// Longer lines are cut here (the rest is skipped); no access log line comes close.
pub const MAX_LINE: usize = 64 * 1024;
/// Bytes per chunk of lines: a thread's unit of work (small enough to be parsed while the
/// read left it in the CPU's cache).
pub const CHUNK: usize = 256 * 1024;
/// The two bytes every gzip member starts with.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens `path` (`-` is stdin), decompressing gzip (detected by its magic bytes,
/// concatenated members included).
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let raw: Box<dyn Read> = if path == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(path)?)
    };
    maybe_gunzip(BufReader::with_capacity(BUFFER, raw))
}

/// Wraps `reader` in a gzip decoder when its first bytes are the gzip magic.
pub fn maybe_gunzip<R: BufRead + 'static>(mut reader: R) -> io::Result<Box<dyn BufRead>> {
    let head = loop {
        match reader.fill_buf() {
            Ok(head) => break head,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if head.starts_with(&GZIP_MAGIC) {
        let decoder = MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(BUFFER, decoder)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Where and why reading an input stopped early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The (decompressed) byte offset of the line that could not be read whole.
    pub byte: u64,
    /// The I/O or decompression error.
    pub message: String,
}

/// Where the lines of one chunk are: each one with its line ending, cut to [`MAX_LINE`]
/// bytes.
pub fn lines(chunk: &[u8]) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= chunk.len() {
            return None;
        }
        let end = memchr(b'\n', &chunk[start..]).map_or(chunk.len(), |i| start + i + 1);
        let line = start..end.min(start + MAX_LINE);
        start = end;
        Some(line)
    })
}

/// Reads an input in chunks of whole lines of about [`CHUNK`] bytes. Where a chunk ends
/// depends on the input's bytes only (never on how reads return), so the same input
/// always splits the same way. A line longer than [`MAX_LINE`] keeps its first bytes.
pub struct Chunks<R> {
    reader: R,
    size: usize,
    /// The start of a line the last chunk did not end.
    carry: Vec<u8>,
    /// The carried line is longer than [`MAX_LINE`]: the rest of it is skipped.
    skipping: bool,
    /// Bytes of the carried line skipped so far.
    skipped: u64,
    /// Bytes read.
    read: u64,
    /// The input ended (`Some(None)`) or failed.
    end: Option<Option<ReadError>>,
}

impl<R: Read> Chunks<R> {
    /// Reads `reader` in chunks of about `size` bytes (at least [`MAX_LINE`]).
    pub fn with_size(reader: R, size: usize) -> Self {
        Chunks {
            reader,
            size: size.max(MAX_LINE + 1),
            carry: Vec::new(),
            skipping: false,
            skipped: 0,
            read: 0,
            end: None,
        }
    }

    /// Fills `buf` with the next chunk: whole lines, each ended by `\n` but the input's
    /// last. `Ok(false)` at the end; an error once the lines before it were handed out.
    pub fn next_chunk(&mut self, buf: &mut Vec<u8>) -> Result<bool, ReadError> {
        buf.clear();
        loop {
            if let Some(end) = &mut self.end {
                return match end.take() {
                    Some(error) => Err(error),
                    None => Ok(false),
                };
            }
            buf.append(&mut self.carry);
            self.fill(buf);
            if let Some(Some(error)) = &self.end {
                // The lines read whole count; the one the error cut does not.
                let whole = memrchr(b'\n', buf).map_or(0, |i| i + 1);
                let cut = (buf.len() - whole) as u64 + if self.skipping { self.skipped } else { 0 };
                let byte = self.read - cut;
                self.end = Some(Some(ReadError {
                    byte,
                    message: error.message.clone(),
                }));
                buf.truncate(whole);
                if !buf.is_empty() {
                    return Ok(true);
                }
                continue;
            }
            if self.end.is_some() {
                if !buf.is_empty() {
                    return Ok(true);
                }
                continue;
            }
            // A full chunk: it ends at its last line ending, the rest is carried over.
            let whole = memrchr(b'\n', buf).map_or(0, |i| i + 1);
            self.carry.extend_from_slice(&buf[whole..]);
            buf.truncate(whole);
            if whole > 0 {
                self.skipped = 0;
            }
            if self.carry.len() > MAX_LINE {
                self.skipped += (self.carry.len() - MAX_LINE) as u64;
                self.carry.truncate(MAX_LINE);
                self.skipping = true;
            }
            if !buf.is_empty() {
                return Ok(true);
            }
        }
    }

    /// Reads until `buf` holds a chunk's bytes or the input ends. Reads go straight into
    /// `buf` (zeroed once, when it first grows): a buffered reader hands a read as large as
    /// its buffer through without copying it.
    fn fill(&mut self, buf: &mut Vec<u8>) {
        while buf.len() < self.size {
            let len = buf.len();
            buf.resize(self.size, 0);
            let read = loop {
                match self.reader.read(&mut buf[len..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other,
                }
            };
            let got = *read.as_ref().unwrap_or(&0);
            buf.truncate(len + got);
            self.read += got as u64;
            if self.skipping {
                self.skip(buf, len);
            }
            match read {
                Ok(0) => {
                    self.end = Some(None);
                    return;
                }
                Ok(_) => {}
                Err(e) => {
                    self.end = Some(Some(ReadError {
                        byte: 0,
                        message: e.to_string(),
                    }));
                    return;
                }
            }
        }
    }

    /// Drops the bytes read from `from` on up to the end of the line being skipped.
    fn skip(&mut self, buf: &mut Vec<u8>, from: usize) {
        match memchr(b'\n', &buf[from..]) {
            Some(i) => {
                buf.drain(from..from + i);
                self.skipped += i as u64;
                self.skipping = false;
            }
            None => {
                self.skipped += (buf.len() - from) as u64;
                buf.truncate(from);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(input: &[u8], size: usize) -> Vec<Vec<u8>> {
        let mut c = Chunks::with_size(input, size);
        let mut out = Vec::new();
        let mut buf = Vec::new();
        while c.next_chunk(&mut buf).unwrap() {
            out.push(buf.clone());
        }
        out
    }

    #[test]
    fn chunks_end_at_line_ends_and_long_lines_keep_their_start() {
        let long = vec![b'x'; MAX_LINE * 3];
        let mut input = b"a\nbb\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\nc\nlast");
        let all = chunks(&input, MAX_LINE + 10);
        assert!(all.iter().all(|c| c.len() <= MAX_LINE + 10 + 1));
        let lines: Vec<&[u8]> = all.iter().flat_map(|c| lines(c).map(|r| &c[r])).collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[..2], [&b"a\n"[..], b"bb\n"]);
        assert_eq!(lines[2], &long[..MAX_LINE]);
        assert_eq!(lines[3..], [&b"c\n"[..], b"last"]);
    }

    /// A reader that returns a few bytes at a time, then fails.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("broken"));
            }
            let n = buf.len().min(self.0.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn an_error_keeps_the_whole_lines_before_it() {
        let mut c = Chunks::with_size(Trickle(b"one\ntwo\nthr"), CHUNK);
        let mut buf = Vec::new();
        assert!(c.next_chunk(&mut buf).unwrap());
        assert_eq!(buf, b"one\ntwo\n");
        let e = c.next_chunk(&mut buf).unwrap_err();
        assert_eq!((e.byte, e.message.as_str()), (8, "broken"));
    }
}
