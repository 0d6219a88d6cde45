//! Property tests: no input panics the parser, and lines rendered from the exported
//! format strings parse back to the values that went in.

use mesh5xx_accesslog::{
    parse_line, Format, ENVOY_DEFAULT_FORMAT, ISTIO_CURRENT_TEXT_FORMAT, ISTIO_JSON_FIELDS,
    ISTIO_LEGACY_TEXT_FORMAT,
};
use proptest::prelude::*;

/// Values for one line, keyed by command operator.
#[derive(Debug, Clone)]
struct Values {
    start_time: String,
    method: String,
    path: String,
    code: u16,
    flags: String,
    details: String,
    reason: String,
    bytes_received: u64,
    bytes_sent: u64,
    duration: u64,
    service_time: Option<u64>,
    user_agent: String,
    request_id: String,
    authority: String,
    upstream_host: String,
    cluster: String,
    downstream_local: String,
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._:|{},-]{1,24}"
}

fn quoted_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ()/.;:,_-]{0,40}"
}

fn values() -> impl Strategy<Value = Values> {
    (
        (
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z",
            "[A-Z]{3,7}",
            "/[a-zA-Z0-9/?=&._-]{0,40}",
            0u16..1000,
            prop_oneof![Just("-".to_string()), "[A-Z]{2,4}(,[A-Z]{2,4}){0,2}"],
            word(),
            quoted_text(),
            any::<u32>(),
            any::<u32>(),
        ),
        (
            0u64..100_000,
            proptest::option::of(0u64..100_000),
            quoted_text(),
            word(),
            word(),
            word(),
            word(),
            word(),
        ),
    )
        .prop_map(|(a, b)| Values {
            start_time: a.0,
            method: a.1,
            path: a.2,
            code: a.3,
            flags: a.4,
            details: a.5,
            reason: a.6,
            bytes_received: a.7.into(),
            bytes_sent: a.8.into(),
            duration: b.0,
            service_time: b.1,
            user_agent: b.2,
            request_id: b.3,
            authority: b.4,
            upstream_host: b.5,
            cluster: b.6,
            downstream_local: b.7,
        })
}

impl Values {
    fn operator(&self, op: &str) -> String {
        let service_time = self.service_time.map_or("-".into(), |t| t.to_string());
        match op {
            "START_TIME" => self.start_time.clone(),
            "REQ(:METHOD)" => self.method.clone(),
            "REQ(X-ENVOY-ORIGINAL-PATH?:PATH)" => self.path.clone(),
            "PROTOCOL" => "HTTP/1.1".into(),
            "RESPONSE_CODE" => self.code.to_string(),
            "RESPONSE_FLAGS" => self.flags.clone(),
            "RESPONSE_CODE_DETAILS" => self.details.clone(),
            "UPSTREAM_TRANSPORT_FAILURE_REASON" => self.reason.clone(),
            "BYTES_RECEIVED" => self.bytes_received.to_string(),
            "BYTES_SENT" => self.bytes_sent.to_string(),
            "DURATION" => self.duration.to_string(),
            "RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)" => service_time,
            "REQ(USER-AGENT)" => self.user_agent.clone(),
            "REQ(X-REQUEST-ID)" => self.request_id.clone(),
            "REQ(:AUTHORITY)" => self.authority.clone(),
            "UPSTREAM_HOST" => self.upstream_host.clone(),
            "UPSTREAM_CLUSTER" | "UPSTREAM_CLUSTER_RAW" => self.cluster.clone(),
            "DOWNSTREAM_LOCAL_ADDRESS" => self.downstream_local.clone(),
            _ => "-".into(),
        }
    }

    /// Renders an Envoy format string the way Envoy's text formatter does.
    fn render(&self, format: &str) -> String {
        let mut out = String::new();
        let mut parts = format.split('%');
        out.push_str(parts.next().unwrap());
        while let (Some(op), Some(literal)) = (parts.next(), parts.next()) {
            out.push_str(&self.operator(op));
            out.push_str(literal);
        }
        out
    }

    /// Renders Istio's JSON encoding with typed numbers and `null` for `-`.
    fn render_json(&self) -> String {
        let fields: Vec<String> = ISTIO_JSON_FIELDS
            .iter()
            .map(|(key, op)| {
                let value = self.operator(op.trim_matches('%'));
                let numeric = matches!(
                    *key,
                    "response_code" | "bytes_received" | "bytes_sent" | "duration"
                );
                let json = if numeric {
                    value
                } else if value == "-" {
                    "null".into()
                } else {
                    format!("\"{value}\"")
                };
                format!("\"{key}\":{json}")
            })
            .collect();
        format!("{{{}}}\n", fields.join(","))
    }
}

fn opt(value: &str) -> Option<&str> {
    (!value.is_empty() && value != "-").then_some(value)
}

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(line in any::<String>()) {
        let _ = parse_line(&line);
    }

    #[test]
    fn mutated_lines_never_panic(v in values(), cut in any::<prop::sample::Index>(), junk in "[\"\\[\\]{} a-z0-9]{0,3}") {
        for line in [v.render(ISTIO_CURRENT_TEXT_FORMAT), v.render_json()] {
            let mut at = cut.index(line.len());
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            let mutated = format!("{}{}{}", &line[..at], junk, &line[at..]);
            let _ = parse_line(&mutated);
            let _ = parse_line(&line[..at]);
        }
    }

    #[test]
    fn rendered_lines_round_trip(v in values()) {
        for (format, text) in [
            (Format::IstioLegacy, v.render(ISTIO_LEGACY_TEXT_FORMAT)),
            (Format::IstioCurrent, v.render(ISTIO_CURRENT_TEXT_FORMAT)),
            (Format::EnvoyDefault, v.render(ENVOY_DEFAULT_FORMAT)),
            (Format::IstioJson, v.render_json()),
        ] {
            let e = parse_line(&text).map_err(|err| TestCaseError::fail(format!("{err}: {text}")))?;
            prop_assert_eq!(e.format, format);
            prop_assert_eq!(e.start_time, v.start_time.as_str());
            prop_assert_eq!((e.method, e.path), (v.method.as_str(), v.path.as_str()));
            prop_assert_eq!(e.response_code, v.code);
            prop_assert_eq!(e.response_flags, v.flags.as_str());
            prop_assert_eq!((e.bytes_received, e.bytes_sent), (v.bytes_received, v.bytes_sent));
            prop_assert_eq!(e.duration_ms, Some(v.duration));
            prop_assert_eq!(e.upstream_service_time, v.service_time);
            prop_assert_eq!(e.user_agent, opt(&v.user_agent));
            prop_assert_eq!(e.request_id, opt(&v.request_id));
            prop_assert_eq!(e.authority, opt(&v.authority));
            prop_assert_eq!(e.upstream_host, opt(&v.upstream_host));
            if format != Format::EnvoyDefault {
                prop_assert_eq!(e.upstream_cluster, opt(&v.cluster));
                prop_assert_eq!(e.downstream_local_address, opt(&v.downstream_local));
                prop_assert_eq!(e.upstream_transport_failure_reason, opt(&v.reason));
            }
            if matches!(format, Format::IstioCurrent | Format::IstioJson) {
                prop_assert_eq!(e.response_code_details, opt(&v.details));
            }
        }
    }
}
