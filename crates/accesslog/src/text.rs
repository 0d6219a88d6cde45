//! The space-separated TEXT formats: Istio before and after 1.9, and Envoy's default.

use crate::entry::{dash_none, Entry, Format};
use crate::tokenizer::Cursor;
use crate::ParseError;

/// What follows `%RESPONSE_FLAGS%`, which tells the TEXT formats apart.
enum Variant {
    /// Numbers straight away: Envoy's default, or Istio before the mixer status field.
    Bare,
    /// Quoted fields (`istio.mixer:status`, transport failure reason): Istio < 1.9.
    Legacy,
    /// Two detail words and a quoted transport failure reason: Istio ≥ 1.9.
    Current,
}

/// Parses a line that starts with `[%START_TIME%]`.
pub(crate) fn parse_text(line: &str) -> Result<Entry<'_>, ParseError> {
    let mut c = Cursor::new(line);
    let mut e = Entry::empty(Format::IstioLegacy);

    e.start_time = c.bracketed("start_time")?;
    if !e.start_time.as_bytes()[0].is_ascii_digit() {
        return Err(ParseError::Field {
            field: "start_time",
            offset: 1,
        });
    }
    let at = c.offset();
    let request = c.quoted("request")?;
    (e.method, e.path, e.protocol) = split_request(request).ok_or(ParseError::Field {
        field: "request",
        offset: at,
    })?;
    let at = c.offset();
    e.response_code = u16::try_from(c.number("response_code")?)
        .ok()
        .filter(|&code| code <= 999)
        .ok_or(ParseError::Field {
            field: "response_code",
            offset: at,
        })?;
    let at = c.offset();
    e.response_flags = c.word("response_flags")?;
    if !valid_flags(e.response_flags) {
        return Err(ParseError::Field {
            field: "response_flags",
            offset: at,
        });
    }

    // Istio >= 1.9 puts two words then a quoted field after the flags; the bare
    // formats have four numbers before the first quoted field.
    let variant = match (c.next_byte(), c.nth_byte(2)) {
        (Some(b'"'), _) => Variant::Legacy,
        (_, Some(b'"')) => Variant::Current,
        _ => Variant::Bare,
    };
    match variant {
        Variant::Bare => {}
        Variant::Legacy => {
            // `"%DYNAMIC_METADATA(istio.mixer:status)%"`, then (from Istio 1.1)
            // `"%UPSTREAM_TRANSPORT_FAILURE_REASON%"`.
            c.quoted("mixer_status")?;
            if c.next_byte() == Some(b'"') {
                e.upstream_transport_failure_reason =
                    dash_none(c.quoted("upstream_transport_failure_reason")?);
            }
        }
        Variant::Current => {
            e.format = Format::IstioCurrent;
            e.response_code_details = dash_none(c.word("response_code_details")?);
            e.connection_termination_details = dash_none(c.word("connection_termination_details")?);
            e.upstream_transport_failure_reason =
                dash_none(c.quoted("upstream_transport_failure_reason")?);
        }
    }

    e.bytes_received = c.number("bytes_received")?;
    e.bytes_sent = c.number("bytes_sent")?;
    e.duration_ms = c.opt_number("duration")?;
    e.upstream_service_time = c.opt_number("upstream_service_time")?;
    e.x_forwarded_for = dash_none(c.quoted("x_forwarded_for")?);
    e.user_agent = dash_none(c.quoted("user_agent")?);
    e.request_id = dash_none(c.quoted("request_id")?);
    e.authority = dash_none(c.quoted("authority")?);
    e.upstream_host = dash_none(c.quoted("upstream_host")?);

    if c.at_end() {
        return match variant {
            Variant::Bare => {
                e.format = Format::EnvoyDefault;
                Ok(e)
            }
            _ => Err(c.error("upstream_cluster")),
        };
    }
    e.upstream_cluster = c
        .word("upstream_cluster")
        .map(crate::cluster_name)
        .map(dash_none)?;
    e.upstream_local_address = dash_none(c.word("upstream_local_address")?);
    e.downstream_local_address = dash_none(c.word("downstream_local_address")?);
    e.downstream_remote_address = dash_none(c.word("downstream_remote_address")?);
    e.requested_server_name = dash_none(c.word("requested_server_name")?);
    // Istio before 1.3 had no `%ROUTE_NAME%`.
    if !c.at_end() {
        e.route_name = dash_none(c.word("route_name")?);
    }
    if !c.at_end() {
        return Err(ParseError::TrailingData { offset: c.offset() });
    }
    Ok(e)
}

/// Splits `METHOD PATH PROTOCOL`; the path may itself hold spaces.
fn split_request(request: &str) -> Option<(&str, &str, &str)> {
    let (method, rest) = request.split_once(' ')?;
    let (path, protocol) = rest.rsplit_once(' ')?;
    if method.is_empty() || protocol.is_empty() || method.contains('"') {
        return None;
    }
    Some((method, path, protocol))
}

/// `-`, or upper-case flag names joined by commas.
fn valid_flags(flags: &str) -> bool {
    flags == "-" || flags.bytes().all(|b| b.is_ascii_uppercase() || b == b',')
}
