//! Istio's JSON encoding (`accessLogEncoding: JSON`) and Envoy `json_format` logs: one flat
//! object per line, Istio's keys or renamed ones (see `fields`), in any order, values as
//! strings, numbers or `null`.
//!
//! A small zero-copy scanner rather than a JSON library: values are borrowed slices,
//! unknown keys (and any nested values) are skipped.

use crate::entry::{Entry, Format};
use crate::fields::{Named, Value};
use crate::ParseError;

/// How much of an object a JSON line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Json {
    /// `{…}`: the whole object, nothing after it.
    Whole,
    /// `{…` cut at its end: the keys up to the cut (a value the cut went through is
    /// dropped).
    CutEnd,
    /// `…e_code": 503, "key": value, …}` cut at its start: the line starts inside the
    /// object (and may be cut at its end too).
    CutStart,
}

/// Parses a line that starts with `{` (or, [`Json::CutStart`], with a key).
pub(crate) fn parse_json(line: &str, shape: Json) -> Result<Entry<'_>, ParseError> {
    let mut e = Entry::empty(Format::IstioJson);
    read_json(line, shape, &mut e)?;
    Ok(e)
}

/// Reads a line as [`parse_json`] does, into `e`.
fn read_json<'a>(line: &'a str, shape: Json, e: &mut Entry<'a>) -> Result<(), ParseError> {
    let mut s = Scanner { line, pos: 0 };
    let mut named = Named::new(e, Format::IstioJson);
    let mut cut = shape == Json::CutStart;
    let lenient_end = shape != Json::Whole;

    if shape != Json::CutStart {
        s.expect(b'{', "object")?;
        if s.peek() == Some(b'}') {
            return Err(s.error("start_time"));
        }
    } else if s.cut_key(&mut named)? {
        // The object ended with the value of the key the cut shortened.
        return finish(named, true);
    }
    loop {
        let at = s.pos;
        let key = match s.string("key") {
            Ok(key) => key,
            Err(_) if lenient_end && s.rest_is_cut_from(at) => {
                cut = true;
                break;
            }
            Err(e) => return Err(e),
        };
        if let Err(e) = s.expect(b':', "colon") {
            if lenient_end && s.rest_is_cut_from(s.pos) {
                cut = true;
                break;
            }
            return Err(e);
        }
        let at = s.pos;
        let value = match s.value() {
            Ok(value) => value,
            Err(_) if lenient_end && s.rest_is_cut_from(at) => {
                cut = true;
                break;
            }
            Err(e) => return Err(e),
        };
        s.skip_ws();
        let next = s.bump();
        // A number or bare word the cut ends may itself be cut short.
        if next.is_none() && lenient_end && !matches!(value, Value::Str(_)) {
            cut = true;
            break;
        }
        named
            .set(key, value)
            .map_err(|field| ParseError::Field { field, offset: at })?;
        match next {
            Some(b',') => continue,
            Some(b'}') => break,
            None if lenient_end => {
                cut = true;
                break;
            }
            _ => return Err(s.error("object")),
        }
    }
    s.skip_ws();
    if !cut && s.pos != line.len() {
        return Err(ParseError::TrailingData { offset: s.pos });
    }
    finish(named, cut)
}

/// Parses a whole object, as [`parse_json`] with [`Json::Whole`] does. Envoy writes its JSON
/// lines with nothing between tokens: such a line is read in one tight pass, any other
/// (white space, escaped keys, nested values, errors) by [`parse_json`].
#[inline(always)]
pub(crate) fn parse_whole<'a>(line: &'a str, e: &mut Entry<'a>) -> Result<(), ParseError> {
    let mut named = Named::new(e, Format::IstioJson);
    match compact(line, &mut named) {
        Some(()) if named.is_entry(false) => Ok(()),
        _ => read_json(line, Json::Whole, e),
    }
}

/// Reads into `named` a whole object of string, number and `null` values with no white
/// space: `{"k":"v",…}`. `None` for anything else, which [`parse_json`] reads (or refuses,
/// saying why).
#[inline(always)]
fn compact<'a>(line: &'a str, named: &mut Named<'_, 'a>) -> Option<()> {
    use crate::tokenizer::{between, find_byte2};
    let b = line.as_bytes();
    // The `"` of the first key; the caller saw the `{`.
    let mut pos = 1;
    loop {
        if b.get(pos) != Some(&b'"') {
            return None;
        }
        let key_start = pos + 1;
        let key_end = key_start + find_byte2(b'"', b'\\', b.get(key_start..)?)?;
        if b[key_end] != b'"' || b.get(key_end + 1) != Some(&b':') {
            return None;
        }
        // Between two quotes.
        let key = between(line, key_start, key_end);
        pos = key_end + 2;
        let value = match *b.get(pos)? {
            b'"' => {
                let start = pos + 1;
                let end = string_end(b, start)?;
                pos = end + 1;
                // Between two quotes.
                Value::Str(between(line, start, end))
            }
            b'-' | b'0'..=b'9' => {
                let start = pos;
                pos = number_end(b, pos);
                // ASCII bytes from `start` to `pos`.
                Value::Num(between(line, start, pos))
            }
            b'n' if b[pos..].starts_with(b"null") => {
                pos += 4;
                Value::Null
            }
            _ => return None,
        };
        named.set(key, value).ok()?;
        match b.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') if pos + 1 == b.len() => break,
            _ => return None,
        }
    }
    Some(())
}

/// The closing quote of the string whose text starts at `from` (escaped characters skipped).
#[inline(always)]
fn string_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += crate::tokenizer::find_byte2(b'"', b'\\', bytes.get(i..)?)?;
        if bytes[i] == b'"' {
            return Some(i);
        }
        i += 2;
    }
}

/// Where the number (or the run of number characters) that starts at `at` ends.
#[inline(always)]
fn number_end(bytes: &[u8], mut at: usize) -> usize {
    while matches!(
        bytes.get(at),
        Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
    ) {
        at += 1;
    }
    at
}

/// Whether the keys make an entry (`cut` if the line was).
fn finish(named: Named<'_, '_>, cut: bool) -> Result<(), ParseError> {
    if !named.is_entry(cut) {
        return Err(named.not_entry(cut));
    }
    named.entry.partial = cut;
    Ok(())
}

/// Cursor over the bytes of one JSON line.
struct Scanner<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// Whether what is left from `at` on could be the start of a key or value the line's
    /// end cut off: nothing, or an unterminated string, number or word.
    fn rest_is_cut_from(&self, at: usize) -> bool {
        let rest = self.line[at.min(self.line.len())..].trim_start();
        rest.is_empty()
            || (rest.starts_with('"') && !rest[1..].contains('"'))
            || rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b))
            || rest.starts_with(['{', '['])
    }

    /// Starts a line cut at its start: reads the key the cut shortened (`e_code": 503`,
    /// when one Istio key ends so) and its value, or skips to the first `,` before a key.
    /// `Ok(true)` when the object ended with that value.
    fn cut_key(&mut self, named: &mut Named<'_, 'a>) -> Result<bool, ParseError> {
        let line = self.line;
        if let Some(colon) = line.find("\":") {
            let fragment = &line[..colon];
            let mut keys = crate::ISTIO_JSON_FIELDS
                .iter()
                .map(|&(key, _)| key)
                .filter(|key| key.ends_with(fragment));
            let valid = !fragment.is_empty()
                && fragment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if let (true, Some(key), None) = (valid, keys.next(), keys.next()) {
                self.pos = colon + 2;
                let at = self.pos;
                let value = self.value()?;
                named
                    .set(key, value)
                    .map_err(|field| ParseError::Field { field, offset: at })?;
                return match self.bump() {
                    Some(b',') => Ok(false),
                    Some(b'}') | None => Ok(true),
                    _ => Err(self.error("object")),
                };
            }
        }
        let bytes = line.as_bytes();
        let key = (0..bytes.len())
            .filter(|&i| bytes[i] == b',')
            .find(|&i| bytes[i + 1..].iter().find(|&&b| b != b' ') == Some(&b'"'))
            .ok_or(ParseError::UnknownFormat)?;
        self.pos = key + 1;
        Ok(false)
    }

    fn error(&self, field: &'static str) -> ParseError {
        ParseError::Field {
            field,
            offset: self.pos,
        }
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        let bytes = self.line.as_bytes();
        while matches!(bytes.get(self.pos), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.line.as_bytes().get(self.pos).copied()
    }

    #[inline(always)]
    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8, field: &'static str) -> Result<(), ParseError> {
        match self.peek() {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(self.error(field)),
        }
    }

    /// A `"…"` string: the raw text between the quotes, escapes left as they are.
    #[inline(always)]
    fn string(&mut self, field: &'static str) -> Result<&'a str, ParseError> {
        self.expect(b'"', field)?;
        let start = self.pos;
        let end = string_end(self.line.as_bytes(), start).ok_or_else(|| self.error(field))?;
        self.pos = end + 1;
        // After a quote, at a quote.
        Ok(crate::tokenizer::between(self.line, start, end))
    }

    /// Any JSON value; objects and arrays are skipped.
    #[inline(always)]
    fn value(&mut self) -> Result<Value<'a>, ParseError> {
        match self.peek() {
            Some(b'"') => self.string("value").map(Value::Str),
            Some(b'{' | b'[') => self.skip_composite().map(|()| Value::Other),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.pos = number_end(self.line.as_bytes(), start);
                // ASCII bytes from `start` to `pos`.
                Ok(Value::Num(crate::tokenizer::between(
                    self.line, start, self.pos,
                )))
            }
            _ => {
                let rest = &self.line[self.pos..];
                for (word, value) in [
                    ("null", Value::Null),
                    ("true", Value::Other),
                    ("false", Value::Other),
                ] {
                    if rest.starts_with(word) {
                        self.pos += word.len();
                        return Ok(value);
                    }
                }
                Err(self.error("value"))
            }
        }
    }

    /// Skips a balanced object or array, minding strings.
    fn skip_composite(&mut self) -> Result<(), ParseError> {
        let bytes = self.line.as_bytes();
        let mut depth = 0usize;
        while let Some(&b) = bytes.get(self.pos) {
            match b {
                b'"' => {
                    self.string("value")?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        self.pos += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Err(self.error("value"))
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_json, parse_whole, Entry, Format, Json};

    /// The JSON lines of the fuzz corpus, and each with white space between its tokens,
    /// escapes in a key and a value, and a nested value.
    fn lines() -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_json");
        let mut lines = Vec::new();
        for file in std::fs::read_dir(&dir).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap();
            for line in text.lines().filter(|l| l.starts_with('{')) {
                lines.push(line.to_owned());
                lines.push(line.replacen("\":", "\" : ", 3).replacen(",\"", ", \"", 2));
                lines.push(line.replacen("\"method\"", r#""me\"thod""#, 1));
                lines.push(line.replacen("\"path\":\"", r#""path":"\\"#, 1));
                lines.push(line.replacen("{", r#"{"extra":{"a":[1,"}"]},"#, 1));
                lines.push(line.replacen(":null", ":true", 1));
            }
        }
        assert!(lines.len() > 60, "{} lines", lines.len());
        lines
    }

    #[test]
    fn the_compact_pass_reads_what_the_scanner_reads() {
        let mut compact = 0;
        for line in lines() {
            // Every cut of the line too: both fail or both give the same entry.
            for end in (1..=line.len()).filter(|&i| line.is_char_boundary(i)) {
                let text = &line[..end];
                let mut whole = Entry::empty(Format::IstioJson);
                let whole = parse_whole(text, &mut whole).map(|()| whole);
                assert_eq!(whole, parse_json(text, Json::Whole), "{text}");
                let mut e = Entry::empty(Format::IstioJson);
                let mut named = super::Named::new(&mut e, Format::IstioJson);
                compact += usize::from(super::compact(text, &mut named).is_some());
            }
        }
        assert!(compact > 20, "the compact pass read {compact} lines only");
    }
}
