//! Istio's JSON encoding (`accessLogEncoding: JSON`): one flat object per line.
//!
//! A small zero-copy scanner rather than a JSON library: values are borrowed slices,
//! unknown keys (and any nested values) are skipped.

use crate::entry::{dash_none, Entry, Format};
use crate::tokenizer::parse_u64;
use crate::ParseError;

/// A scanned JSON value.
enum Value<'a> {
    /// The raw text between the quotes.
    Str(&'a str),
    /// The raw text of a number.
    Num(&'a str),
    /// `null`.
    Null,
    /// `true`, `false`, an object or an array.
    Other,
}

/// Parses a line that starts with `{`.
pub(crate) fn parse_json(line: &str) -> Result<Entry<'_>, ParseError> {
    let mut s = Scanner { line, pos: 0 };
    let mut e = Entry::empty(Format::IstioJson);
    let mut has_start = false;
    let mut has_code = false;

    s.expect(b'{', "object")?;
    if s.peek() == Some(b'}') {
        return Err(s.error("start_time"));
    }
    loop {
        let key = s.string("key")?;
        s.expect(b':', "colon")?;
        let at = s.pos;
        let value = s.value()?;
        let field_error = || ParseError::Field {
            field: "value",
            offset: at,
        };
        match key {
            "start_time" => {
                e.start_time = string(&value).ok_or_else(field_error)?;
                has_start = true;
            }
            "method" => e.method = string(&value).unwrap_or("-"),
            "path" => e.path = string(&value).unwrap_or("-"),
            "protocol" => e.protocol = string(&value).unwrap_or("-"),
            "response_code" => {
                e.response_code = number(&value)
                    .map(|n| n.unwrap_or(0))
                    .and_then(|n| u16::try_from(n).ok().filter(|&c| c <= 999))
                    .ok_or_else(field_error)?;
                has_code = true;
            }
            "response_flags" => e.response_flags = string(&value).unwrap_or("-"),
            "response_code_details" => e.response_code_details = opt_string(&value),
            "connection_termination_details" => {
                e.connection_termination_details = opt_string(&value)
            }
            "upstream_transport_failure_reason" => {
                e.upstream_transport_failure_reason = opt_string(&value)
            }
            "bytes_received" => {
                e.bytes_received = number(&value).ok_or_else(field_error)?.unwrap_or(0)
            }
            "bytes_sent" => e.bytes_sent = number(&value).ok_or_else(field_error)?.unwrap_or(0),
            "duration" => e.duration_ms = number(&value).ok_or_else(field_error)?,
            "upstream_service_time" => e.upstream_service_time = number(&value).flatten(),
            "x_forwarded_for" => e.x_forwarded_for = opt_string(&value),
            "user_agent" => e.user_agent = opt_string(&value),
            "request_id" => e.request_id = opt_string(&value),
            "authority" => e.authority = opt_string(&value),
            "upstream_host" => e.upstream_host = opt_string(&value),
            "upstream_cluster" => {
                e.upstream_cluster = opt_string(&value)
                    .map(crate::cluster_name)
                    .and_then(dash_none)
            }
            "upstream_local_address" => e.upstream_local_address = opt_string(&value),
            "downstream_local_address" => e.downstream_local_address = opt_string(&value),
            "downstream_remote_address" => e.downstream_remote_address = opt_string(&value),
            "requested_server_name" => e.requested_server_name = opt_string(&value),
            "route_name" => e.route_name = opt_string(&value),
            _ => {}
        }
        s.skip_ws();
        match s.bump() {
            Some(b',') => continue,
            Some(b'}') => break,
            _ => return Err(s.error("object")),
        }
    }
    s.skip_ws();
    if s.pos != line.len() {
        return Err(ParseError::TrailingData { offset: s.pos });
    }
    if !has_start || e.start_time.is_empty() {
        return Err(ParseError::Field {
            field: "start_time",
            offset: 0,
        });
    }
    if !has_code {
        return Err(ParseError::Field {
            field: "response_code",
            offset: 0,
        });
    }
    Ok(e)
}

/// A string value (`null` and non-strings: `None`).
fn string<'a>(value: &Value<'a>) -> Option<&'a str> {
    match value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// A string value with `-`, `""` and `null` as `None`.
fn opt_string<'a>(value: &Value<'a>) -> Option<&'a str> {
    string(value).and_then(dash_none)
}

/// A count: a number, a numeric string, or `-`/`null` (`Some(None)`); `None` if invalid.
fn number(value: &Value<'_>) -> Option<Option<u64>> {
    match value {
        Value::Null | Value::Str("-") | Value::Str("") => Some(None),
        Value::Num(n) | Value::Str(n) => parse_u64(n).map(Some),
        Value::Other => None,
    }
}

/// Cursor over the bytes of one JSON line.
struct Scanner<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn error(&self, field: &'static str) -> ParseError {
        ParseError::Field {
            field,
            offset: self.pos,
        }
    }

    fn skip_ws(&mut self) {
        let bytes = self.line.as_bytes();
        while matches!(bytes.get(self.pos), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.line.as_bytes().get(self.pos).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

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
    fn string(&mut self, field: &'static str) -> Result<&'a str, ParseError> {
        self.expect(b'"', field)?;
        let start = self.pos;
        let bytes = self.line.as_bytes();
        let mut i = start;
        while i < bytes.len() {
            match bytes[i] {
                b'"' => {
                    self.pos = i + 1;
                    return Ok(&self.line[start..i]);
                }
                b'\\' => i += 2,
                _ => i += 1,
            }
        }
        Err(self.error(field))
    }

    /// Any JSON value; objects and arrays are skipped.
    fn value(&mut self) -> Result<Value<'a>, ParseError> {
        match self.peek() {
            Some(b'"') => self.string("value").map(Value::Str),
            Some(b'{' | b'[') => self.skip_composite().map(|()| Value::Other),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                let bytes = self.line.as_bytes();
                while matches!(
                    bytes.get(self.pos),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.pos += 1;
                }
                Ok(Value::Num(&self.line[start..self.pos]))
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
