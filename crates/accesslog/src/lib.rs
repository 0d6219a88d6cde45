//! Parser for istio-proxy and Envoy access logs: Istio TEXT before and after 1.9, Istio JSON, Envoy default.
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

mod entry;
mod formats;
mod json;
mod text;
mod tokenizer;

pub use entry::{Entry, Flags, Format, RESPONSE_FLAGS};
pub use formats::{
    ENVOY_DEFAULT_FORMAT, ISTIO_1_2_TEXT_FORMAT, ISTIO_1_9_TEXT_FORMAT, ISTIO_CURRENT_TEXT_FORMAT,
    ISTIO_JSON_FIELDS, ISTIO_LEGACY_TEXT_FORMAT,
};

/// How far into a line an access log entry may start (after a `kubectl logs` prefix).
const MAX_PREFIX: usize = 256;

/// Why a line is not an access log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The line is empty or blank.
    #[error("empty line")]
    Empty,
    /// Neither `[<digit>` nor `{"` starts an entry near the beginning of the line.
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
}

/// Parses one access log line in any supported [`Format`].
///
/// The line ending (`\n`, `\r\n`) is ignored. A prefix of up to 256 bytes before the
/// entry (`kubectl logs --timestamps`, `--prefix`, CRI log prefixes) is skipped.
pub fn parse_line(line: &str) -> Result<Entry<'_>, ParseError> {
    let line = line.trim_end_matches(['\n', '\r', ' ', '\t']);
    if line.trim_start().is_empty() {
        return Err(ParseError::Empty);
    }
    let start = entry_start(line).ok_or(ParseError::UnknownFormat)?;
    let body = &line[start..];
    let parsed = if body.starts_with('{') {
        json::parse_json(body)
    } else {
        text::parse_text(body)
    };
    parsed.map_err(|e| e.shifted(start))
}

/// Where the entry starts: the first `[` followed by a digit or `{` followed by `"`
/// (JSON may put a space first) within [`MAX_PREFIX`] bytes.
fn entry_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let window = &bytes[..bytes.len().min(MAX_PREFIX)];
    window.iter().enumerate().find_map(|(i, &b)| match b {
        b'[' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => Some(i),
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
