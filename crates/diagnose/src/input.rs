//! Opening inputs (files, stdin, gzip) and reading them line by line in bounded memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

/// Read buffer size for files and the decompressor.
const BUFFER: usize = 256 * 1024;
/// Longer lines are cut here (the rest is skipped); no access log line comes close.
pub const MAX_LINE: usize = 64 * 1024;
/// The two bytes every gzip member starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

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
    /// The number of the line that could not be read (1-based).
    pub line: u64,
    /// The (decompressed) byte offset at which reading failed.
    pub byte: u64,
    /// The I/O or decompression error.
    pub message: String,
}

/// Reads lines of at most [`MAX_LINE`] bytes, counting lines and bytes.
pub struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    line: u64,
    byte: u64,
}

impl<R: BufRead> Lines<R> {
    /// Starts reading `reader` at line 1.
    pub fn new(reader: R) -> Self {
        Lines {
            reader,
            buf: Vec::with_capacity(1024),
            line: 0,
            byte: 0,
        }
    }

    /// The next line (with its line ending) and its 1-based number, `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<(u64, &[u8])>, ReadError> {
        self.buf.clear();
        let limit = MAX_LINE as u64;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| self.error(e))?;
        if read == 0 {
            return Ok(None);
        }
        self.byte += read as u64;
        if read == MAX_LINE && self.buf.last() != Some(&b'\n') {
            let skipped = self.reader.skip_until(b'\n').map_err(|e| self.error(e))?;
            self.byte += skipped as u64;
        }
        self.line += 1;
        Ok(Some((self.line, &self.buf)))
    }

    fn error(&self, e: io::Error) -> ReadError {
        ReadError {
            line: self.line + 1,
            byte: self.byte,
            message: e.to_string(),
        }
    }
}
