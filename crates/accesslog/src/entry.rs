//! One parsed access log line.

use std::fmt;

/// The format a line was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Istio TEXT before 1.9 ([`crate::ISTIO_LEGACY_TEXT_FORMAT`] and its older variants
    /// without the quoted fields after the flags).
    IstioLegacy,
    /// Istio TEXT from 1.9 on ([`crate::ISTIO_CURRENT_TEXT_FORMAT`]).
    IstioCurrent,
    /// Istio's JSON encoding.
    IstioJson,
    /// Envoy's default format ([`crate::ENVOY_DEFAULT_FORMAT`]), which Istio 0.8–1.0 wrote
    /// too: no cluster or address fields.
    EnvoyDefault,
    /// `key=value` pairs (an Envoy custom format or logfmt), keys as in Istio's JSON or
    /// renamed ([`crate::ISTIO_JSON_FIELDS`] lists the canonical ones).
    KeyValue,
    /// A TEXT line whose fields after `%RESPONSE_FLAGS%` fit none of the formats above (a
    /// custom format, or a line cut too short to tell): only the start time, the request,
    /// the code and the flags are read.
    CustomText,
}

impl Format {
    /// Every format, in a stable order.
    pub const ALL: [Format; 6] = [
        Format::IstioLegacy,
        Format::IstioCurrent,
        Format::IstioJson,
        Format::EnvoyDefault,
        Format::KeyValue,
        Format::CustomText,
    ];

    /// A short kebab-case name: `istio-legacy`, `istio-current`, `istio-json`,
    /// `envoy-default`, `key-value`, `custom-text`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::IstioLegacy => "istio-legacy",
            Format::IstioCurrent => "istio-current",
            Format::IstioJson => "istio-json",
            Format::EnvoyDefault => "envoy-default",
            Format::KeyValue => "key-value",
            Format::CustomText => "custom-text",
        }
    }

    /// The position of the format in [`Format::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One access log entry; every string borrows from the line it was parsed from.
///
/// Fields that Envoy prints as `-` (or JSON `null`) are `None`. `method`, `path` and
/// `protocol` keep Envoy's `-` (TCP connections log `"- - -"`). Strings from JSON lines
/// are the raw text between the quotes: escape sequences are not decoded.
///
/// A line that lacks fields of its format (no timestamp, cut at its start or end: see
/// [`Entry::partial`]) leaves them at their empty values: `start_time` empty, `-`
/// strings, zero counts, `None`s. The code and the flags are always read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The format the line was written in.
    pub format: Format,
    /// `%START_TIME%` as printed, e.g. `2022-04-18T09:29:59.633Z`; empty when the line
    /// holds none (pasted without it, or cut).
    pub start_time: &'a str,
    /// `%REQ(:METHOD)%`.
    pub method: &'a str,
    /// `%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%`.
    pub path: &'a str,
    /// `%PROTOCOL%`, e.g. `HTTP/1.1`.
    pub protocol: &'a str,
    /// `%RESPONSE_CODE%`; 0 when no response was sent.
    pub response_code: u16,
    /// `%RESPONSE_FLAGS%` as printed: `-`, `UC`, `URX,UF`…; see [`Entry::flags`].
    pub response_flags: &'a str,
    /// `%RESPONSE_CODE_DETAILS%` (Istio ≥ 1.9 and JSON).
    pub response_code_details: Option<&'a str>,
    /// `%CONNECTION_TERMINATION_DETAILS%` (Istio ≥ 1.9 and JSON).
    pub connection_termination_details: Option<&'a str>,
    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%`.
    pub upstream_transport_failure_reason: Option<&'a str>,
    /// `%BYTES_RECEIVED%`.
    pub bytes_received: u64,
    /// `%BYTES_SENT%`: 95 for a UC local reply, 91 for UF, 24 for UT.
    pub bytes_sent: u64,
    /// `%DURATION%` in milliseconds.
    pub duration_ms: Option<u64>,
    /// `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%` in milliseconds.
    pub upstream_service_time: Option<u64>,
    /// `%REQ(X-FORWARDED-FOR)%`.
    pub x_forwarded_for: Option<&'a str>,
    /// `%REQ(USER-AGENT)%`.
    pub user_agent: Option<&'a str>,
    /// `%REQ(X-REQUEST-ID)%`.
    pub request_id: Option<&'a str>,
    /// `%REQ(:AUTHORITY)%`.
    pub authority: Option<&'a str>,
    /// `%UPSTREAM_HOST%`, `ip:port`.
    pub upstream_host: Option<&'a str>,
    /// `%UPSTREAM_CLUSTER%` / `%UPSTREAM_CLUSTER_RAW%`, e.g. `inbound|80|http|srv-a…`: the
    /// cluster's name, without the stat-name delimiter `;` Istio 1.23+ logs after it.
    pub upstream_cluster: Option<&'a str>,
    /// `%UPSTREAM_LOCAL_ADDRESS%`.
    pub upstream_local_address: Option<&'a str>,
    /// `%DOWNSTREAM_LOCAL_ADDRESS%`.
    pub downstream_local_address: Option<&'a str>,
    /// `%DOWNSTREAM_REMOTE_ADDRESS%`.
    pub downstream_remote_address: Option<&'a str>,
    /// `%REQUESTED_SERVER_NAME%`.
    pub requested_server_name: Option<&'a str>,
    /// `%ROUTE_NAME%`.
    pub route_name: Option<&'a str>,
    /// The line lacked fields its format prints: it had no timestamp, or was cut at its
    /// start or end. The fields it did not hold have their empty values, so a count of 0
    /// or a `None` may stand for "not in the line".
    pub partial: bool,
}

impl<'a> Entry<'a> {
    /// An entry of `format` with every field empty: `-` strings, zero numbers, `None`s.
    pub fn empty(format: Format) -> Self {
        Entry {
            format,
            start_time: "",
            method: "-",
            path: "-",
            protocol: "-",
            response_code: 0,
            response_flags: "-",
            response_code_details: None,
            connection_termination_details: None,
            upstream_transport_failure_reason: None,
            bytes_received: 0,
            bytes_sent: 0,
            duration_ms: None,
            upstream_service_time: None,
            x_forwarded_for: None,
            user_agent: None,
            request_id: None,
            authority: None,
            upstream_host: None,
            upstream_cluster: None,
            upstream_local_address: None,
            downstream_local_address: None,
            downstream_remote_address: None,
            requested_server_name: None,
            route_name: None,
            partial: false,
        }
    }

    /// The individual response flags (`URX,UF` yields `URX` then `UF`; `-` yields nothing).
    pub fn flags(&self) -> Flags<'a> {
        Flags::new(self.response_flags)
    }

    /// Whether the line has any response flag (`-`, Envoy's placeholder, is none).
    pub fn has_flags(&self) -> bool {
        // `-` answered without splitting: most lines have no flag.
        self.response_flags != "-" && self.flags().next().is_some()
    }

    /// Whether `flag` (e.g. `"UC"`) is among the response flags.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags().any(|f| f == flag)
    }
}

/// Envoy's short response flags (`%RESPONSE_FLAGS%`), as its access-log documentation lists
/// them (envoyproxy/envoy `docs/root/configuration/observability/access_log/usage.rst`,
/// v1.40): those of HTTP and TCP, then those of HTTP only.
pub const RESPONSE_FLAGS: &[&str] = &[
    "UH", "UF", "UO", "NR", "URX", "NC", "DT", "OM", "DF", "DO", "DR", "DC", "LH", "UT", "LR",
    "UR", "UC", "DI", "FI", "RL", "UAEX", "RLSE", "IH", "SI", "DPE", "UPE", "UMSDR", "RFCF",
    "NFCF",
];

/// Iterator over the individual flags of a `%RESPONSE_FLAGS%` value.
#[derive(Debug, Clone)]
pub struct Flags<'a> {
    rest: std::str::Split<'a, char>,
}

impl<'a> Flags<'a> {
    /// Iterates the comma-separated flags of `value`; `-` and the empty string have none.
    pub fn new(value: &'a str) -> Self {
        let value = if value == "-" { "" } else { value };
        Flags {
            rest: value.split(','),
        }
    }
}

impl<'a> Iterator for Flags<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.rest.by_ref().find(|f| !f.is_empty())
    }
}

/// `None` for Envoy's placeholder `-` (and the empty string), the value otherwise.
pub(crate) fn dash_none(value: &str) -> Option<&str> {
    match value {
        "-" | "" => None,
        v => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::{Entry, Format};

    #[test]
    fn has_flags_is_whether_the_flags_name_any() {
        for (flags, has) in [
            ("-", false),
            ("", false),
            (",", false),
            ("UC", true),
            ("URX,UF", true),
        ] {
            let e = Entry {
                response_flags: flags,
                ..Entry::empty(Format::IstioCurrent)
            };
            assert_eq!(e.has_flags(), has, "{flags:?}");
            assert_eq!(e.has_flags(), e.flags().next().is_some(), "{flags:?}");
        }
    }
}
