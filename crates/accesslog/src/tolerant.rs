//! The tolerant path: lines as people paste them, tried only when the fast path fails.
//!
//! A pasted line may carry a prefix (`kubectl logs --prefix`, stern, docker compose,
//! colours), a TUI or Markdown table border, no timestamp, a cut at either end, Markdown
//! escaping (`\|`) or CSV quoting (`""`), a custom TEXT format, renamed JSON keys, or be
//! `key=value` pairs. Everything here but the unescaping borrows from the line.

use crate::entry::Entry;
use crate::json::{self, Json};
use crate::{kv, text, ParseError};

/// Table and TUI borders: Markdown's `|`, k9s' and other box-drawing verticals, and the
/// backticks of a Markdown code span.
const BORDERS: [char; 5] = ['|', '│', '┃', '║', '`'];

/// Whether the line ends in something no format ends in: a border or a cut marker.
#[inline(always)]
pub(crate) fn ends_oddly(line: &str) -> bool {
    match line.as_bytes().last() {
        Some(b'|' | b'`' | b'.') => true,
        // The last byte of `│` `┃` `║` `…`.
        Some(0x82 | 0x83 | 0x91 | 0xa6) => line.ends_with(['│', '┃', '║', '…']),
        _ => false,
    }
}

/// A line without its surrounding borders and cut markers.
struct Trimmed<'a> {
    text: &'a str,
    /// A `…` or `...` marked the end as cut.
    cut_end: bool,
}

fn trim(line: &str) -> Trimmed<'_> {
    let mut text = line.trim_matches([' ', '\t', '\r', '\n']);
    let mut cut_end = false;
    loop {
        let before = text.len();
        if let Some(rest) = text.strip_suffix('…').or_else(|| text.strip_suffix("...")) {
            text = rest;
            cut_end = true;
        }
        if let Some(rest) = text.strip_suffix('`') {
            text = rest;
        }
        // A border counts as one only after a space: `inbound|8080||` ends a cluster.
        if let Some(rest) = text.strip_suffix(BORDERS) {
            if rest.ends_with([' ', '\t']) {
                text = rest;
            }
        }
        text = text.trim_end_matches([' ', '\t']);
        if text.len() == before {
            break;
        }
    }
    loop {
        let before = text.len();
        if let Some(rest) = text.strip_prefix(BORDERS) {
            text = rest;
        }
        if let Some(rest) = text.strip_prefix('…') {
            text = rest;
        }
        text = text.trim_start_matches([' ', '\t']);
        if text.len() == before {
            break;
        }
    }
    Trimmed { text, cut_end }
}

/// Where a cell of a CSV row holding an entry starts and ends (quotes excluded): a `"`
/// at the start of the line or after a separator, then `[` and a digit, `{""`, or `""`
/// and a request line. A cell the line's end cuts runs to the end.
fn csv_cell(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let open = bytes.iter().enumerate().position(|(i, &b)| {
        b == b'"'
            && (i == 0 || matches!(bytes[i - 1], b',' | b';' | b'\t' | b' '))
            && match &bytes[i + 1..] {
                [b'[', d, ..] => d.is_ascii_digit(),
                [b'{', b'"', b'"', ..] => true,
                [b'"', b'"', m, ..] => m.is_ascii_uppercase() || *m == b'-',
                _ => false,
            }
    })?;
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            if bytes.get(i + 1) == Some(&b'"') {
                i += 2;
                continue;
            }
            return Some((open + 1, i));
        }
        i += 1;
    }
    Some((open + 1, bytes.len()))
}

/// Whether `text` needs unescaping first: Markdown's `\|`, or an entry in a CSV cell.
/// (Searches of SIMD speed first: most lines that come this way are not entries at all.)
fn is_escaped(text: &str) -> bool {
    (text.as_bytes().contains(&b'\\') && text.contains("\\|"))
        || (text.contains("\"\"") && csv_cell(text).is_some())
}

/// Whether `text` names the response flags: every name of their key holds `flag`
/// (`response_flags`, `flags`, `responseFlags`, `RESPONSE_FLAGS`…), so without it no
/// `key=value` or cut JSON line makes an entry.
fn names_flags(text: &str) -> bool {
    text.contains("lag") || text.contains("LAG")
}

/// Writes `line` into `out` without its escapes: the CSV cell holding the entry with its
/// `""` undoubled, and `\|` as `|`. `false` when there was nothing to undo.
pub(crate) fn unescape(line: &str, out: &mut String) -> bool {
    let text = trim(line).text;
    if !is_escaped(text) {
        return false;
    }
    out.clear();
    let cell = if text.contains("\"\"") {
        csv_cell(text)
    } else {
        None
    };
    match cell {
        Some((start, end)) => {
            let mut rest = &text[start..end];
            while let Some(i) = rest.find("\"\"") {
                out.push_str(&rest[..=i]);
                rest = &rest[i + 2..];
            }
            out.push_str(rest);
        }
        None => out.push_str(text),
    }
    while let Some(i) = out.find("\\|") {
        out.remove(i);
    }
    true
}

/// Reads what `line` holds after the fast path failed with `fast`. With `escapes`, a line
/// that needs unescaping is refused ([`ParseError::Escaped`]) rather than misread.
pub(crate) fn parse(line: &str, fast: ParseError, escapes: bool) -> Result<Entry<'_>, ParseError> {
    let trimmed = trim(line);
    let text = trimmed.text;
    if text.is_empty() {
        return Err(ParseError::Empty);
    }
    if escapes && is_escaped(text) {
        return Err(ParseError::Escaped);
    }
    let base = text.as_ptr() as usize - line.as_ptr() as usize;
    let shift = |e: ParseError| e.shifted(base);
    let mut error = None;

    // JSON: an object before any other quote, or the keys after a cut.
    let first_quote = text.find('"');
    let object = text.match_indices('{').map(|(i, _)| i).find(|&i| {
        text[i + 1..].trim_start_matches(' ').starts_with('"') && first_quote.is_none_or(|q| i < q)
    });
    if let Some(open) = object {
        let body = &text[open..];
        let shape = if body.ends_with('}') && !trimmed.cut_end {
            Json::Whole
        } else {
            Json::CutEnd
        };
        match json::parse_json(body, shape) {
            Ok(e) => return Ok(e),
            Err(e) => error = Some(e.shifted(base + open)),
        }
    }

    // TEXT, around the response code.
    if let Some(code_at) = text::find_code(text) {
        match text::parse_anchored(text, code_at) {
            Ok(mut e) => {
                e.partial |= trimmed.cut_end;
                return Ok(e);
            }
            Err(e) => error = error.or(Some(shift(e))),
        }
    }

    // The keys of a JSON object whose start was cut off.
    if object.is_none() && text.contains("\":") && names_flags(text) {
        if let Ok(e) = json::parse_json(text, Json::CutStart) {
            return Ok(e);
        }
    }

    // key=value pairs.
    if text.as_bytes().contains(&b'=') && names_flags(text) {
        match kv::parse_kv(text) {
            Ok(e) => return Ok(e),
            Err(ParseError::UnknownFormat) => {}
            Err(e) => error = error.or(Some(shift(e))),
        }
    }

    if let Some(before) = cut_before(text) {
        return Err(ParseError::Cut { before });
    }
    // A line the fast path gave up on before its response code is no entry at all.
    let fast = match fast {
        ParseError::Field {
            field: "start_time" | "request",
            ..
        } => ParseError::UnknownFormat,
        other => other,
    };
    Err(error.unwrap_or(fast))
}

/// For a line that starts like a TEXT entry (`[YYYY-MM-DDT…] "`) but holds no response
/// code and flags: which of them the line's end cut off, if that is what happened.
fn cut_before(text: &str) -> Option<&'static str> {
    let open = text.find("] \"")?;
    let start = text[..open].rfind('[')?;
    if !text::is_iso_time(&text[start + 1..open]) {
        return None;
    }
    let request = &text[open + 3..];
    let Some(close) = request.find('"') else {
        return Some("response_code");
    };
    let mut rest = request[close + 1..].split(' ').filter(|w| !w.is_empty());
    let is_code = |w: &str| (1..=3).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_digit());
    match (rest.next(), rest.next(), rest.next()) {
        (None, ..) => Some("response_code"),
        (Some(code), None, _) if is_code(code) => Some("response_flags"),
        // Flags the end cut short (`URX,U`).
        (Some(code), Some(flags), None)
            if is_code(code)
                && flags.bytes().all(|b| b.is_ascii_uppercase() || b == b',')
                && !text::known_flags(flags) =>
        {
            Some("response_flags")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borders_and_cut_markers_are_trimmed() {
        for (line, text, cut) in [
            ("│ a b │", "a b", false),
            ("| a | b \\| c |", "a | b \\| c", false),
            ("`a b`", "a b", false),
            ("a inbound|8080||", "a inbound|8080||", false),
            ("a b…", "a b", true),
            ("a b ...", "a b", true),
        ] {
            let t = trim(line);
            assert_eq!((t.text, t.cut_end), (text, cut), "{line:?}");
        }
    }

    #[test]
    fn csv_cells_and_markdown_escapes_are_undone() {
        let mut out = String::new();
        assert!(unescape(
            r#"2022-04-18,istio-proxy,"[2022-04-18T09:29:59.633Z] ""GET / HTTP/1.1"" 503 UC",x"#,
            &mut out
        ));
        assert_eq!(out, r#"[2022-04-18T09:29:59.633Z] "GET / HTTP/1.1" 503 UC"#);
        assert!(unescape(r"| a outbound\|80\|\|b.c |", &mut out));
        assert_eq!(out, "a outbound|80||b.c");
        assert!(!unescape(
            r#"[2022-04-18T09:29:59.633Z] "GET / HTTP/1.1" 503 UC "" x"#,
            &mut out
        ));
    }
}
