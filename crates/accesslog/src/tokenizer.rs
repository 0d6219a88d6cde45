//! A byte cursor over one line: words, quoted fields, bracketed fields, numbers.

use crate::ParseError;

/// Reads the space-separated tokens of one access log line, left to right.
pub(crate) struct Cursor<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `line` (already stripped of its line ending).
    pub(crate) fn new(line: &'a str) -> Self {
        Cursor { line, pos: 0 }
    }

    /// The byte offset of the cursor in the line.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Whether nothing but spaces is left.
    #[inline(always)]
    pub(crate) fn at_end(&self) -> bool {
        self.line.as_bytes()[self.pos..].iter().all(|&b| b == b' ')
    }

    /// What is left from byte `at` on, after the spaces that separate fields.
    pub(crate) fn rest_from(&self, at: usize) -> &'a str {
        self.line[at.min(self.line.len())..].trim_start_matches(' ')
    }

    /// The first byte of the next token (after the separating spaces), if any.
    pub(crate) fn next_byte(&self) -> Option<u8> {
        self.nth_byte(0)
    }

    /// The first byte of the `n`th token ahead (0 is the next one), splitting on spaces
    /// only: enough to look past unquoted words.
    #[inline(always)]
    pub(crate) fn nth_byte(&self, n: usize) -> Option<u8> {
        let bytes = self.line.as_bytes();
        let mut at = self.pos;
        for _ in 0..n {
            at = skip_spaces(bytes, at);
            at = find_byte(b' ', &bytes[at..]).map_or(bytes.len(), |i| at + i);
        }
        bytes.get(skip_spaces(bytes, at)).copied()
    }

    /// An error naming `field` at the cursor.
    pub(crate) fn error(&self, field: &'static str) -> ParseError {
        ParseError::Field {
            field,
            offset: self.pos,
        }
    }

    /// Skips the single space (or run of spaces) that separates two fields.
    #[inline(always)]
    fn separator(&mut self, field: &'static str) -> Result<(), ParseError> {
        let bytes = self.line.as_bytes();
        if self.pos == 0 {
            return Ok(());
        }
        if bytes.get(self.pos) != Some(&b' ') {
            return Err(self.error(field));
        }
        self.pos += 1;
        while bytes.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        Ok(())
    }

    /// The next unquoted token, up to a space or the end of the line.
    #[inline(always)]
    pub(crate) fn word(&mut self, field: &'static str) -> Result<&'a str, ParseError> {
        self.separator(field)?;
        let start = self.pos;
        let rest = &self.line.as_bytes()[start..];
        let len = find_byte(b' ', rest).unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error(field));
        }
        self.pos += len;
        // After a space (or at 0) and before a space (or at the end).
        Ok(between(self.line, start, self.pos))
    }

    /// The next `"…"` field. The closing quote is the first `"` followed by a space or
    /// the end of the line, so values holding quotes or spaces (user agents) survive.
    #[inline(always)]
    pub(crate) fn quoted(&mut self, field: &'static str) -> Result<&'a str, ParseError> {
        self.separator(field)?;
        let bytes = self.line.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return Err(self.error(field));
        }
        let start = self.pos + 1;
        let mut from = start;
        while let Some(i) = find_byte(b'"', &bytes[from..]) {
            let end = from + i;
            match bytes.get(end + 1) {
                None | Some(b' ') => {
                    self.pos = end + 1;
                    // After a quote, at a quote.
                    return Ok(between(self.line, start, end));
                }
                Some(_) => from = end + 1,
            }
        }
        Err(self.error(field))
    }

    /// The next `[…]` field (the start time).
    #[inline(always)]
    pub(crate) fn bracketed(&mut self, field: &'static str) -> Result<&'a str, ParseError> {
        self.separator(field)?;
        let start = self.pos;
        let rest = &self.line.as_bytes()[start..];
        if rest.first() != Some(&b'[') {
            return Err(self.error(field));
        }
        match find_byte(b']', rest) {
            Some(end) if end > 1 => {
                self.pos += end + 1;
                // After `[`, at `]`.
                Ok(between(self.line, start + 1, start + end))
            }
            _ => Err(self.error(field)),
        }
    }

    /// The next word as a decimal number.
    #[inline(always)]
    pub(crate) fn number(&mut self, field: &'static str) -> Result<u64, ParseError> {
        let at = self.pos;
        let word = self.word(field)?;
        parse_u64(word).ok_or(ParseError::Field { field, offset: at })
    }
}

/// `line[start..end]`, where `start` and `end` are known to be char boundaries: each is 0,
/// the line's length, or next to an ASCII byte the caller found, which no multi-byte
/// character holds. Slicing without the boundary checks saves a good share of a parse.
#[inline(always)]
pub(crate) fn between(line: &str, start: usize, end: usize) -> &str {
    debug_assert!(line.is_char_boundary(start) && line.is_char_boundary(end));
    assert!(start <= end && end <= line.len());
    // SAFETY: `start <= end <= line.len()`, and both are char boundaries (the caller
    // found them next to ASCII bytes; checked in debug builds), so the bytes between are
    // valid UTF-8.
    unsafe { line.get_unchecked(start..end) }
}

/// Where `needle` first is in `hay`: a block at a time for the first [`SHORT`] bytes
/// (most fields are short, and `memchr` costs more to start than they take), the rest
/// with `memchr`.
#[inline(always)]
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    first_match(
        hay,
        |block| block_matches(block, needle),
        |b| b == needle,
        |rest| memchr::memchr(needle, rest),
    )
}

/// Where the first of `a` or `b` is in `hay`, as [`find_byte`] searches.
#[inline(always)]
pub(crate) fn find_byte2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    first_match(
        hay,
        |block| block_matches(block, a) | block_matches(block, b),
        |c| c == a || c == b,
        |rest| memchr::memchr2(a, b, rest),
    )
}

/// The search of [`find_byte`]: `marks` of each [`BLOCK`] of the first [`SHORT`] bytes, then
/// `long` over the rest of a long `hay`, or `is_match` byte by byte over a short one's.
#[inline(always)]
fn first_match(
    hay: &[u8],
    marks: impl Fn(&[u8]) -> u32,
    is_match: impl Fn(u8) -> bool,
    long: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    let mut at = 0;
    while at + BLOCK <= hay.len().min(SHORT) {
        let found = marks(&hay[at..at + BLOCK]);
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize);
        }
        at += BLOCK;
    }
    if hay.len() > SHORT {
        return long(&hay[at..]).map(|i| at + i);
    }
    hay[at..].iter().position(|&b| is_match(b)).map(|i| at + i)
}

/// Bytes [`block_matches`] compares at once.
const BLOCK: usize = 16;

/// Bit `i` set where `block[i] == needle`.
/// SSE2 (which every x86-64 has) compares the sixteen bytes at once.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_matches(block: &[u8], needle: u8) -> u32 {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    assert_eq!(block.len(), BLOCK);
    // SAFETY: `block` holds the 16 bytes the unaligned load reads, and SSE2, which the
    // other three need, is part of every x86-64.
    unsafe {
        let bytes = _mm_loadu_si128(block.as_ptr().cast());
        _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(needle as i8))) as u32
    }
}

/// Bit `i` set where `block[i] == needle`.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block_matches(block: &[u8], needle: u8) -> u32 {
    block
        .iter()
        .enumerate()
        .fold(0, |marks, (i, &b)| marks | u32::from(b == needle) << i)
}

/// Bytes [`find_byte`] searches a block at a time before it hands over to `memchr`.
const SHORT: usize = 64;

/// The first byte at or after `at` that is not a space.
#[inline(always)]
fn skip_spaces(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// Parses a non-empty string of ASCII digits; `None` on anything else or on overflow.
#[inline(always)]
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    // Nineteen digits or fewer cannot overflow: plain arithmetic, no checks.
    let (head, last) = s.as_bytes().split_at(s.len().min(19));
    let mut value: u64 = 0;
    for &b in head {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u64::from(digit);
    }
    match *last {
        [] => Some(value),
        [b] if b.is_ascii_digit() => value.checked_mul(10)?.checked_add(u64::from(b - b'0')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_inner_quotes_and_spaces() {
        let mut c = Cursor::new(r#""Mozilla/5.0 (X11; "quoted") x" "-""#);
        assert_eq!(c.quoted("ua").unwrap(), r#"Mozilla/5.0 (X11; "quoted") x"#);
        assert_eq!(c.quoted("id").unwrap(), "-");
        assert!(c.at_end());
    }

    #[test]
    fn find_byte_finds_the_first_match_at_every_position() {
        for len in 0..80 {
            for at in 0..=len {
                let mut hay = vec![b'x'; len];
                // A byte just below and one just above the needle: no false matches.
                hay.iter_mut().step_by(3).for_each(|b| *b = b'!');
                hay.iter_mut().skip(1).step_by(5).for_each(|b| *b = b'#');
                if at < len {
                    hay[at] = b'"';
                    hay[len - 1] = b'"';
                }
                let want = hay.iter().position(|&b| b == b'"');
                assert_eq!(find_byte(b'"', &hay), want, "{len} {at}");
            }
        }
        assert_eq!(find_byte(0, &[1, 0, 0, 1, 1, 1, 1, 1, 0]), Some(1));
        for len in 0..80 {
            for (a, b) in [(3, 50), (50, 3), (3, 3)] {
                let mut hay = vec![b'x'; len];
                hay.iter_mut().skip(a).take(1).for_each(|c| *c = b'"');
                hay.iter_mut().skip(b).take(1).for_each(|c| *c = b'\\');
                let want = hay.iter().position(|&c| c == b'"' || c == b'\\');
                assert_eq!(find_byte2(b'"', b'\\', &hay), want, "{len} {a} {b}");
            }
        }
        assert_eq!(find_byte(0x80, &[0, 0x7f, 0x81, 0x80]), Some(3));
    }

    #[test]
    fn numbers_reject_junk_and_overflow() {
        assert_eq!(parse_u64("15004"), Some(15004));
        assert_eq!(parse_u64(""), None);
        assert_eq!(parse_u64("1x"), None);
        assert_eq!(parse_u64("99999999999999999999"), None);
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64("18446744073709551616"), None);
        assert_eq!(parse_u64("1844674407370955161x"), None);
        assert_eq!(
            parse_u64("9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
    }
}
