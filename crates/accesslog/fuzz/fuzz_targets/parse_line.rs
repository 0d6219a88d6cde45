//! Fuzzes `parse_line` with arbitrary bytes and checks what every parsed entry promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesh5xx_accesslog::{parse_line, Entry, Format, ParseError};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    match parse_line(&line) {
        Ok(entry) => check_entry(&line, &entry),
        Err(err) => check_error(&line, &err),
    }
});

/// Whether `field` points into `line` (zero-copy: a sub-slice, not an equal copy).
fn within(line: &str, field: &str) -> bool {
    let lo = line.as_ptr() as usize;
    let hi = lo + line.len();
    let p = field.as_ptr() as usize;
    p >= lo && p + field.len() <= hi
}

fn check_entry(line: &str, e: &Entry<'_>) {
    // `Entry::empty` defaults `method`, `path`, `protocol` and `response_flags` to a
    // static `-` when a JSON line lacks the key; every other string borrows the line.
    let defaulted = [
        ("method", e.method),
        ("path", e.path),
        ("protocol", e.protocol),
        ("response_flags", e.response_flags),
    ];
    for (name, value) in defaulted {
        assert!(
            within(line, value) || value == "-",
            "{name} {value:?} is not a slice of the line"
        );
    }
    assert!(
        within(line, e.start_time),
        "start_time is not a slice of the line"
    );
    assert!(!e.start_time.is_empty(), "empty start_time");
    let optional = [
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
    for (name, value) in optional {
        if let Some(value) = value {
            assert!(
                within(line, value),
                "{name} {value:?} is not a slice of the line"
            );
            // `-` and "" mean "absent" and must come back as `None`.
            assert!(
                value != "-" && !value.is_empty(),
                "{name} is {value:?}, not None"
            );
        }
    }

    assert!(e.response_code <= 999, "response_code {}", e.response_code);

    // Flags iterate without panicking, never yield empty names, and agree with `has_flag`.
    let flags: Vec<&str> = e.flags().collect();
    for flag in &flags {
        assert!(!flag.is_empty(), "empty flag from {:?}", e.response_flags);
        assert!(
            within(line, flag) || *flag == "-",
            "flag {flag:?} is not a slice"
        );
        assert!(e.has_flag(flag));
    }
    if e.response_flags == "-" {
        assert!(flags.is_empty());
    }

    if matches!(
        e.format,
        Format::IstioLegacy | Format::IstioCurrent | Format::EnvoyDefault
    ) {
        // TEXT lines: the request line holds three non-empty parts, the flags are `-`
        // or upper-case names and commas.
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
    if e.format == Format::EnvoyDefault {
        assert!(e.upstream_cluster.is_none() && e.route_name.is_none());
    }

    // Formatting must not panic either.
    let _ = format!("{e:?} {}", e.format);
}

fn check_error(line: &str, err: &ParseError) {
    // Offsets point into the line (a trailing offset may equal its length).
    let offset = match *err {
        ParseError::Field { offset, .. } | ParseError::TrailingData { offset } => offset,
        ParseError::Empty | ParseError::UnknownFormat => 0,
    };
    assert!(
        offset <= line.len(),
        "{err:?} past the end of a {}-byte line",
        line.len()
    );
    let _ = err.to_string();
}
