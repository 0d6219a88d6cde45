//! Parser for istio-proxy and Envoy access logs: Istio TEXT of every generation, Istio
//! JSON (and JSON with renamed keys), Envoy's default, `key=value` and custom formats.
//!
//! [`parse_line`] detects the format of each line on its own, so files mixing formats,
//! `kubectl logs --timestamps`/`--prefix` prefixes and unrelated output parse line by
//! line. Parsing is zero-copy: an [`Entry`] borrows every string from the line.
//!
//! ```
//! let line = r#"[2022-04-18T09:29:59.633Z] "GET /service_a/v2.1/get?ids=123456 HTTP/1.1" 503 UC "-" "-" 0 95 11 - "-" "-" "bc6f9ba3-d8dc-4955-a092-64617d9277c8" "srv-a.xyz" "127.0.0.1:8080" inbound|80|http|srv-a.xyz.svc.cluster.local - 100.64.121.11:8080 100.64.254.9:35174 -"#;
//! let entry = mesh5xx_accesslog::parse_line(line).unwrap();
//! assert_eq!(entry.response_code, 503);
//! assert!(entry.has_flag("UC"));
//! assert_eq!(entry.bytes_sent, 95);
//! ```
//!
//! Lines as people paste them go through a tolerant path, tried only when a line is not a
//! whole entry in a known format (so a normal line pays nothing for it): prefixes of any
//! tool (stern, docker compose, colours), TUI and Markdown table borders, no timestamp,
//! cut at either end (an [`Entry::partial`] entry holds what the line held, as long as it
//! has the response code and flags), custom TEXT formats (read around the response code),
//! `key=value` pairs. Markdown-escaped (`\|`) and CSV-quoted (`""`) lines must be
//! rewritten first: [`Parser`] does that in a buffer it reuses; [`parse_line`] refuses
//! them ([`ParseError::Escaped`]).
//!
//! ```
//! let mut parser = mesh5xx_accesslog::Parser::default();
//! let pasted = r#"| `"GET /a HTTP/1.1" 503 UF "-" "-" 0 91 0 - "-" "-" "x" "a" "1.2.3.4:80" outbound\|80\|\|a.default.svc.cluster.local - 10.96.0.1:80 10.244.0.9:5000 - default` |"#;
//! let entry = parser.parse(pasted).unwrap();
//! assert_eq!((entry.response_code, entry.response_flags), (503, "UF"));
//! assert_eq!(entry.upstream_cluster, Some("outbound|80||a.default.svc.cluster.local"));
//! assert!(entry.partial); // no timestamp
//! ```

mod entry;
mod fields;
mod formats;
mod json;
mod kv;
mod text;
mod tokenizer;
mod tolerant;

use std::fmt;

pub use entry::{Entry, Flags, Format, RESPONSE_FLAGS};
pub use formats::{
    ENVOY_DEFAULT_FORMAT, ISTIO_1_1_TEXT_FORMAT, ISTIO_1_2_TEXT_FORMAT, ISTIO_1_8_TEXT_FORMAT,
    ISTIO_1_9_TEXT_FORMAT, ISTIO_CURRENT_TEXT_FORMAT, ISTIO_JSON_FIELDS, ISTIO_LEGACY_TEXT_FORMAT,
};

/// How far into a line an access log entry may start (after a `kubectl logs` prefix).
const MAX_PREFIX: usize = 256;

/// Why a line is not an access log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is empty or blank.
    #[error("empty line")]
    Empty,
    /// No access log entry in any known format: no `[<digit>` or `{"` near the start, no
    /// response code and flags after a request, no `key=value` code and flags.
    #[error("not an access log line")]
    UnknownFormat,
    /// A field is missing or malformed (`offset` is a byte offset into the line).
    #[error("bad or missing {field} at byte {offset}")]
    Field {
        /// The field that failed.
        field: &'static str,
        /// Byte offset in the line.
        offset: usize,
    },
    /// Text follows the last field.
    #[error("unexpected data at byte {offset}")]
    TrailingData {
        /// Byte offset in the line.
        offset: usize,
    },
    /// The line starts like an entry but ends before the field that matters.
    #[error("cut before the {before}")]
    Cut {
        /// The first field the line lacks: `response_code` or `response_flags`.
        before: &'static str,
    },
    /// The line is Markdown-escaped (`\|`) or CSV-quoted (`""`); [`Parser`] reads it.
    #[error("escaped (Markdown \\| or CSV \"\"): read with Parser")]
    Escaped,
}

impl ParseError {
    /// The same error with its offset moved by `base` bytes.
    fn shifted(self, base: usize) -> Self {
        match self {
            ParseError::Field { field, offset } => ParseError::Field {
                field,
                offset: offset + base,
            },
            ParseError::TrailingData { offset } => ParseError::TrailingData {
                offset: offset + base,
            },
            other => other,
        }
    }

    /// Why, without where: equal for lines that failed the same way, to count them by.
    pub fn reason(&self) -> Reason {
        match *self {
            ParseError::Empty => Reason::Empty,
            ParseError::UnknownFormat => Reason::UnknownFormat,
            ParseError::Field { field, .. } => Reason::Field(field),
            ParseError::TrailingData { .. } => Reason::TrailingData,
            ParseError::Cut { before } => Reason::Cut(before),
            ParseError::Escaped => Reason::Escaped,
        }
    }
}

/// A [`ParseError`] without its byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// [`ParseError::Empty`].
    Empty,
    /// [`ParseError::UnknownFormat`].
    UnknownFormat,
    /// [`ParseError::Field`], naming the field.
    Field(&'static str),
    /// [`ParseError::TrailingData`].
    TrailingData,
    /// [`ParseError::Cut`], naming the first field missing.
    Cut(&'static str),
    /// [`ParseError::Escaped`].
    Escaped,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Empty => f.write_str("empty line"),
            Reason::UnknownFormat => f.write_str("not an access log line"),
            Reason::Field(field) => write!(f, "bad or missing {field}"),
            Reason::TrailingData => f.write_str("unexpected data after the last field"),
            Reason::Cut(field) => write!(f, "cut before the {field}"),
            Reason::Escaped => f.write_str("escaped (Markdown or CSV)"),
        }
    }
}

/// Parses one access log line in any supported [`Format`].
///
/// The line ending (`\n`, `\r\n`) is ignored. A prefix of up to 256 bytes before the
/// entry (`kubectl logs --timestamps`, `--prefix`, CRI log prefixes) is skipped; longer
/// prefixes, borders, missing timestamps and cuts go through the tolerant path (see the
/// crate documentation). Lines that need unescaping yield [`ParseError::Escaped`]; use
/// [`Parser`] for them.
pub fn parse_line(line: &str) -> Result<Entry<'_>, ParseError> {
    let mut e = Entry::empty(Format::CustomText);
    parse(line, true, &mut e)?;
    Ok(e)
}

/// Reads pasted access log lines, escaped ones included, reusing one buffer for the lines
/// it must rewrite: the same entries as [`parse_line`], plus Markdown-escaped (`\|`) and
/// CSV-quoted (`""`) lines. Entries of those borrow from the parser until its next line.
#[derive(Debug, Default)]
pub struct Parser {
    buffer: String,
}

impl Parser {
    /// A parser with an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `line` like [`parse_line`], undoing Markdown and CSV escaping first when
    /// the line has it.
    pub fn parse<'a>(&'a mut self, line: &'a str) -> Result<Entry<'a>, ParseError> {
        let mut e = Entry::empty(Format::CustomText);
        self.parse_into(line, &mut e)?;
        Ok(e)
    }

    /// Parses `line` as [`Parser::parse`] does, into `entry` (which a caller reading many
    /// lines keeps, rather than have each entry moved to it). On an error `entry` holds
    /// whatever the attempt left in it.
    #[inline(always)]
    pub fn parse_into<'a>(
        &'a mut self,
        line: &'a str,
        entry: &mut Entry<'a>,
    ) -> Result<(), ParseError> {
        match parse(line, true, entry) {
            Err(ParseError::Escaped) => {}
            other => return other,
        }
        let buffer: &'a mut String = &mut self.buffer;
        if !tolerant::unescape(line, buffer) {
            return Err(ParseError::Escaped);
        }
        let unescaped: &'a str = buffer;
        parse(unescaped, false, entry).map_err(|e| match e {
            // Offsets into the rewritten line mean nothing to the caller.
            ParseError::Field { field, .. } => ParseError::Field { field, offset: 0 },
            ParseError::TrailingData { .. } => ParseError::TrailingData { offset: 0 },
            other => other,
        })
    }
}

/// The fast path, then (when it fails) the tolerant one. With `escapes`, lines that need
/// unescaping are refused.
#[inline(always)]
fn parse<'a>(line: &'a str, escapes: bool, e: &mut Entry<'a>) -> Result<(), ParseError> {
    let line = line.trim_end_matches(['\n', '\r', ' ', '\t']);
    // A line that starts with an entry is not blank; only others need the look.
    if !matches!(line.as_bytes().first(), Some(b'[' | b'{')) && line.trim_start().is_empty() {
        return Err(ParseError::Empty);
    }
    let error = match fast(line, e) {
        Ok(()) if !escapes || !has_escape(e) => return Ok(()),
        Ok(()) => ParseError::Escaped,
        Err(fast) => fast,
    };
    *e = tolerant::parse(line, error, escapes)?;
    Ok(())
}

/// A whole line in a known format, after a prefix of at most [`MAX_PREFIX`] bytes, into `e`.
#[inline(always)]
fn fast<'a>(line: &'a str, e: &mut Entry<'a>) -> Result<(), ParseError> {
    if tolerant::ends_oddly(line) {
        return Err(ParseError::UnknownFormat);
    }
    let start = entry_start(line).ok_or(ParseError::UnknownFormat)?;
    let body = &line[start..];
    let parsed = if body.starts_with('{') {
        json::parse_whole(body, e)
    } else {
        text::parse_text(body, e)
    };
    parsed.map_err(|e| e.shifted(start))
}

/// Whether a field that holds `|` in every real line (the cluster) holds Markdown's `\|`.
#[inline(always)]
fn has_escape(e: &Entry<'_>) -> bool {
    e.upstream_cluster
        .is_some_and(|c| tokenizer::find_byte(b'\\', c.as_bytes()).is_some())
}

/// Where the entry starts: the first `[` followed by a digit (not after an escape) or `{`
/// followed by `"`
/// (JSON may put a space first) within [`MAX_PREFIX`] bytes.
#[inline(always)]
fn entry_start(line: &str) -> Option<usize> {
    // Most lines are the entry alone.
    match line.as_bytes() {
        [b'[', digit, ..] if digit.is_ascii_digit() => Some(0),
        [b'{', b'"', ..] => Some(0),
        _ => entry_start_after_prefix(line),
    }
}

/// [`entry_start`] of a line that does not start with the entry.
fn entry_start_after_prefix(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let window = &bytes[..bytes.len().min(MAX_PREFIX)];
    window.iter().enumerate().find_map(|(i, &b)| match b {
        // Not a terminal colour code (`ESC[32m`, stern's prefixes).
        b'[' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
            && (i == 0 || bytes[i - 1] != 0x1b) =>
        {
            Some(i)
        }
        b'{' if bytes[i + 1..].iter().find(|&&n| n != b' ') == Some(&b'"') => Some(i),
        _ => None,
    })
}

/// The cluster a logged cluster field names. From Istio 1.23 every cluster carries
/// `alt_stat_name: NAME;` (core/cluster_builder.go@1.24.0 L300), and a log printing
/// `%UPSTREAM_CLUSTER%` (the stat name) shows `PassthroughCluster;`: the `;` is the stat-name
/// delimiter, not part of the name. The parsers give the name.
pub(crate) fn cluster_name(logged: &str) -> &str {
    logged.strip_suffix(';').unwrap_or(logged)
}

#[cfg(test)]
mod cluster_name_tests {
    use super::cluster_name;

    #[test]
    fn the_stat_name_delimiter_is_not_part_of_the_cluster() {
        let line = r#"[2026-01-01T00:00:00.000Z] "GET / HTTP/1.1" 503 UF upstream_reset_before_response_started{connection_failure} - "-" 0 91 0 - "-" "-" "r" "h" "1.2.3.4:80" PassthroughCluster; - 1.2.3.4:80 10.0.0.1:5000 - -"#;
        assert_eq!(
            crate::parse_line(line).unwrap().upstream_cluster,
            Some("PassthroughCluster")
        );
        assert_eq!(cluster_name("PassthroughCluster;"), "PassthroughCluster");
        // A cluster logged as the delimiter alone (or `-;`) is no cluster.
        for logged in [";", "-;"] {
            let line = line.replace("PassthroughCluster;", logged);
            assert_eq!(
                crate::parse_line(&line).unwrap().upstream_cluster,
                None,
                "{logged}"
            );
            let json = format!(
                r#"{{"start_time": "2026-01-01T00:00:00.000Z", "response_code": 503, "upstream_cluster": "{logged}"}}"#
            );
            assert_eq!(
                crate::parse_line(&json).unwrap().upstream_cluster,
                None,
                "{logged}"
            );
        }
        assert_eq!(cluster_name("outbound|80||a.b;"), "outbound|80||a.b");
        assert_eq!(cluster_name("inbound|8080||"), "inbound|8080||");
    }
}
