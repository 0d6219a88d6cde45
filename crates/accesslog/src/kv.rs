//! `key=value` lines: Envoy custom formats such as
//! `start_time=%START_TIME% response_code=%RESPONSE_CODE% response_flags=%RESPONSE_FLAGS% …`
//! and logfmt, keys as in Istio's JSON or renamed (see `fields`), values bare or quoted.

use crate::entry::{Entry, Format};
use crate::fields::{Field, Named, Value};
use crate::ParseError;

/// Parses the `key=value` pairs of `text`; words that are not pairs (a prefix, a message)
/// are skipped. A line is an entry when its pairs give a response code and flags.
pub(crate) fn parse_kv(text: &str) -> Result<Entry<'_>, ParseError> {
    let mut e = Entry::empty(Format::KeyValue);
    let mut named = Named::new(&mut e, Format::KeyValue);
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut cut = false;
    while pos < bytes.len() {
        if bytes[pos].is_ascii_whitespace() {
            pos += 1;
            continue;
        }
        let word_end = bytes[pos..]
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(text.len(), |n| pos + n);
        let Some(eq) = text[pos..word_end].find('=').map(|n| pos + n) else {
            pos = word_end;
            continue;
        };
        // A key may follow a border or code-span mark (`` `status=503 ``).
        let key = text[pos..eq]
            .trim_start_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@'));
        let value_at = eq + 1;
        let (value, next) = if bytes.get(value_at) == Some(&b'"') {
            match closing_quote(text, value_at + 1) {
                Some(end) => (&text[value_at + 1..end], end + 1),
                None => {
                    // A quoted value the line's end cut off.
                    cut = true;
                    break;
                }
            }
        } else {
            (&text[value_at..word_end], word_end)
        };
        if is_key(key) {
            named
                .set(key, Value::Str(value))
                .map_err(|field| ParseError::Field {
                    field,
                    offset: value_at,
                })?;
        }
        pos = next;
    }
    if !named.has(Field::ResponseCode) || !named.has(Field::ResponseFlags) {
        return Err(if named.has(Field::ResponseCode) {
            ParseError::Field {
                field: "response_flags",
                offset: 0,
            }
        } else {
            ParseError::UnknownFormat
        });
    }
    e.partial = cut;
    Ok(e)
}

/// The closing `"` of a quoted value starting at `from`: the first one followed by
/// white space or the end of the line.
fn closing_quote(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(i) = text.get(at..)?.find('"') {
        let end = at + i;
        if bytes.get(end + 1).is_none_or(u8::is_ascii_whitespace) {
            return Some(end);
        }
        at = end + 1;
    }
    None
}

/// Letters, digits, `_`, `-`, `.` and `@`, starting with a letter, `_` or `@`.
fn is_key(key: &str) -> bool {
    key.as_bytes()
        .first()
        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'_' || b == b'@')
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.@".contains(&b))
}
