//! Plain files mapped into memory: their lines are read where the page cache holds them,
//! with no copy, and threads split them by byte range.

use std::fs::File;
use std::io;
use std::ops::{Deref, Range};
use std::os::fd::AsRawFd;
use std::path::Path;

use memchr::{memchr, memrchr};

use crate::input::GZIP_MAGIC;

/// The smallest piece of a mapped file: a thread's unit of work. Larger than a streamed
/// chunk ([`crate::CHUNK`]), as no read has to fit in the cache: fewer pieces, fewer
/// merges of their groups.
pub const PIECE: usize = 1024 * 1024;

/// The largest piece of a mapped file ([`piece_size`]).
pub const MAX_PIECE: usize = 8 * 1024 * 1024;

/// About how many pieces each thread gets, so that one finishing early takes more.
const PIECES_PER_THREAD: usize = 8;

/// The piece size for a file of `len` bytes read on `threads` threads: [`PIECES_PER_THREAD`]
/// per thread, between [`PIECE`] and [`MAX_PIECE`]. Each piece's groups are built and then
/// merged (their histograms, tallies and maps), which costs per piece, not per line: a 1 GB
/// log took 6 % longer on one thread in 1 MB pieces than in 8 MB ones (and 2 % longer in
/// 16 MB ones).
pub fn piece_size(len: usize, threads: usize) -> usize {
    (len / threads.max(1) / PIECES_PER_THREAD).clamp(PIECE, MAX_PIECE)
}

/// A file's bytes, mapped read-only and private.
#[derive(Debug)]
pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; `&Mapped` hands out
// shared `&[u8]` only, which any thread may read.
unsafe impl Send for Mapped {}
// SAFETY: as above: nothing mutates the mapping while it lives.
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Maps `path` when it is a plain, non-empty, uncompressed file; `Ok(None)` for stdin
    /// (`-`), pipes, devices, empty and gzip files, which are read as streams
    /// ([`crate::open`]). A file another process shortens while it is read ends the
    /// process (`SIGBUS`), as with any mapped file: access logs are appended to, not cut.
    pub fn open(path: &Path) -> io::Result<Option<Mapped>> {
        if path == Path::new("-") {
            return Ok(None);
        }
        let file = File::open(path)?;
        let meta = file.metadata()?;
        let Ok(len) = usize::try_from(meta.len()) else {
            return Ok(None);
        };
        if !meta.is_file() || len == 0 {
            return Ok(None);
        }
        // SAFETY: a fresh read-only private mapping of an open file descriptor, of the
        // file's length; the result is checked before use and unmapped once, in `drop`.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mapped = Mapped { ptr, len };
        // SAFETY: the mapping is live; the advice only tunes the kernel's read-ahead, and
        // its failure changes nothing but speed.
        unsafe { libc::madvise(mapped.ptr, len, libc::MADV_SEQUENTIAL) };
        if mapped.starts_with(&GZIP_MAGIC) {
            return Ok(None);
        }
        Ok(Some(mapped))
    }
}

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes until `drop`, and this
        // borrow of `self` cannot outlive it.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `open`, once; no borrow of it remains.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// `data` cut into pieces of whole lines of about `size` bytes each (a line longer than
/// `size` is a piece of its own), in order, covering every byte.
pub(crate) fn pieces(data: &[u8], size: usize) -> Vec<Range<usize>> {
    let size = size.max(1);
    let mut out = Vec::with_capacity(data.len() / size + 1);
    let mut start = 0;
    while start < data.len() {
        let limit = (start + size).min(data.len());
        let end = if limit == data.len() {
            limit
        } else {
            match memrchr(b'\n', &data[start..limit]) {
                Some(i) => start + i + 1,
                None => memchr(b'\n', &data[limit..]).map_or(data.len(), |i| limit + i + 1),
            }
        };
        out.push(start..end);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn pieces_are_a_few_per_thread_within_bounds() {
        const MB: usize = 1024 * 1024;
        assert_eq!(piece_size(4 * MB, 1), PIECE);
        assert_eq!(piece_size(40 * MB, 1), 5 * MB);
        assert_eq!(piece_size(0, 4), PIECE);
        assert_eq!(piece_size(1024 * MB, 1), MAX_PIECE);
        assert_eq!(piece_size(64 * MB, 2), 4 * MB);
        assert_eq!(piece_size(64 * MB, 0), MAX_PIECE);
        // More threads, smaller pieces: each thread still has several to take.
        assert!(piece_size(256 * MB, 16) < piece_size(256 * MB, 2));
    }

    #[test]
    fn pieces_end_at_line_ends_and_cover_every_byte() {
        let data = b"a\nbb\nccccccccc\nd\ne";
        for size in 1..=data.len() + 1 {
            let all = pieces(data, size);
            assert_eq!(all.first().map(|r| r.start), Some(0), "{size}");
            assert_eq!(all.last().map(|r| r.end), Some(data.len()), "{size}");
            for pair in all.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "{size}");
                assert_eq!(data[pair[0].end - 1], b'\n', "{size}");
            }
        }
        assert!(pieces(b"", 4).is_empty());
    }

    #[test]
    fn plain_files_map_and_the_others_are_streams() {
        let mut plain = tempfile::NamedTempFile::new().unwrap();
        plain.write_all(b"one\ntwo\n").unwrap();
        let mapped = Mapped::open(plain.path()).unwrap().unwrap();
        assert_eq!(&mapped[..], b"one\ntwo\n");
        let mut gzip = tempfile::NamedTempFile::new().unwrap();
        gzip.write_all(&[0x1f, 0x8b, 8, 0]).unwrap();
        assert!(Mapped::open(gzip.path()).unwrap().is_none());
        let empty = tempfile::NamedTempFile::new().unwrap();
        assert!(Mapped::open(empty.path()).unwrap().is_none());
        assert!(Mapped::open(Path::new("-")).unwrap().is_none());
        let missing = Mapped::open(Path::new("/nonexistent/mesh5xx.log")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }
}
