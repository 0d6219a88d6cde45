//! What every parsed entry promises, shared by the fuzz targets (each includes this file,
//! and uses only some of it).
#![allow(dead_code)]

use mesh5xx_accesslog::{parse_line, Entry, Format, ParseError, Parser};

/// Whether `field` points into `line` (zero-copy: a sub-slice, not an equal copy).
pub fn within(line: &str, field: &str) -> bool {
    let lo = line.as_ptr() as usize;
    let hi = lo + line.len();
    let p = field.as_ptr() as usize;
    p >= lo && p + field.len() <= hi
}

/// Parses `line` both ways, checks what each promises and that they agree: `Parser` reads
/// what `parse_line` reads, and more only where `parse_line` refuses an escaped line.
pub fn parse_both(line: &str) {
    let direct = parse_line(line);
    match &direct {
        Ok(entry) => check_entry(line, entry, true),
        Err(err) => check_error(line, err),
    }
    let mut parser = Parser::new();
    let via_parser = parser.parse(line);
    match (&direct, &via_parser) {
        (Err(ParseError::Escaped), Ok(entry)) => check_entry(line, entry, false),
        (Err(ParseError::Escaped), Err(_)) => {}
        (direct, via_parser) => assert_eq!(direct, via_parser, "parse_line and Parser differ"),
    }
}

/// `borrowed`: every string must be a slice of `line` (not so for unescaped lines, whose
/// strings borrow the parser's buffer).
pub fn check_entry(line: &str, e: &Entry<'_>, borrowed: bool) {
    let strings = [
        ("start_time", Some(e.start_time)),
        ("method", Some(e.method)),
        ("path", Some(e.path)),
        ("protocol", Some(e.protocol)),
        ("response_flags", Some(e.response_flags)),
        ("response_code_details", e.response_code_details),
        (
            "connection_termination_details",
            e.connection_termination_details,
        ),
        (
            "upstream_transport_failure_reason",
            e.upstream_transport_failure_reason,
        ),
        ("x_forwarded_for", e.x_forwarded_for),
        ("user_agent", e.user_agent),
        ("request_id", e.request_id),
        ("authority", e.authority),
        ("upstream_host", e.upstream_host),
        ("upstream_cluster", e.upstream_cluster),
        ("upstream_local_address", e.upstream_local_address),
        ("downstream_local_address", e.downstream_local_address),
        ("downstream_remote_address", e.downstream_remote_address),
        ("requested_server_name", e.requested_server_name),
        ("route_name", e.route_name),
    ];
    for (name, value) in strings {
        let Some(value) = value else { continue };
        // `Entry::empty` defaults: a static `-` and an empty start time.
        let default = value == "-" || value.is_empty();
        assert!(
            !borrowed || default || within(line, value),
            "{name} {value:?} is not a slice of the line"
        );
    }
    let optional = [
        e.response_code_details,
        e.connection_termination_details,
        e.upstream_transport_failure_reason,
        e.x_forwarded_for,
        e.user_agent,
        e.request_id,
        e.authority,
        e.upstream_host,
        e.upstream_cluster,
        e.upstream_local_address,
        e.downstream_local_address,
        e.downstream_remote_address,
        e.requested_server_name,
        e.route_name,
    ];
    for value in optional.into_iter().flatten() {
        // `-` and "" mean "absent" and must come back as `None`.
        assert!(value != "-" && !value.is_empty(), "{value:?}, not None");
    }
    assert!(e.response_code <= 999, "response_code {}", e.response_code);

    // Flags iterate without panicking, never yield empty names, and agree with `has_flag`.
    let flags: Vec<&str> = e.flags().collect();
    for flag in &flags {
        assert!(!flag.is_empty(), "empty flag from {:?}", e.response_flags);
        assert!(e.has_flag(flag));
    }
    if e.response_flags == "-" {
        assert!(flags.is_empty());
    }

    if matches!(
        e.format,
        Format::IstioLegacy | Format::IstioCurrent | Format::EnvoyDefault | Format::CustomText
    ) {
        // TEXT lines: `-` or upper-case names and commas for flags.
        assert!(!e.method.is_empty() && !e.protocol.is_empty());
        assert!(
            e.response_flags == "-"
                || e.response_flags
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b','),
            "bad flags {:?}",
            e.response_flags
        );
    }
    if matches!(e.format, Format::EnvoyDefault | Format::CustomText) {
        assert!(e.upstream_cluster.is_none() && e.route_name.is_none());
    }
    // A whole TEXT line of Istio's has its start time.
    if !e.partial && matches!(e.format, Format::IstioLegacy | Format::IstioCurrent) {
        assert!(!e.start_time.is_empty(), "whole line without a start time");
    }
    let _ = format!("{e:?} {}", e.format);
}

pub fn check_error(line: &str, err: &ParseError) {
    // Offsets point into the line (a trailing offset may equal its length).
    let offset = match *err {
        ParseError::Field { offset, .. } | ParseError::TrailingData { offset } => offset,
        _ => 0,
    };
    assert!(
        offset <= line.len(),
        "{err:?} past the end of a {}-byte line",
        line.len()
    );
    let _ = (err.to_string(), err.reason().to_string());
}

/// Whether `e` came from a plain TEXT line the fast path reads from its first byte, with a
/// start time and request parts that are single words: the lines whose code and flags no
/// paste or cut may change.
pub fn plain_text(line: &str, e: &Entry<'_>) -> bool {
    let word = |s: &str| !s.is_empty() && !s.contains([' ', '"', '[', ']', '{', '\\', '|']);
    matches!(
        e.format,
        Format::IstioLegacy | Format::IstioCurrent | Format::EnvoyDefault
    ) && !e.partial
        && line.starts_with('[')
        // The entry starts at the line's first byte, not after some prefix.
        && e.start_time.as_ptr() as usize == line.as_ptr() as usize + 1
        && line.len() < 1024
        && line.is_ascii()
        && is_iso(e.start_time)
        && word(e.start_time)
        && word(e.method)
        && word(e.path)
        && word(e.protocol)
        && !line.contains("\"\"")
        && !line.contains('\\')
        && !line.contains(['\t', '\r', '\n', '\u{1b}'])
}

/// `YYYY-MM-DDT…`.
pub fn is_iso(time: &str) -> bool {
    let b = time.as_bytes();
    b.len() >= 11
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
}
