//! The fields of an entry by name, for the formats that name them (JSON, `key=value`):
//! Istio's keys, and the renamed or prefixed keys custom formats use for the same operators.

use crate::entry::{dash_none, Entry};
use crate::tokenizer::parse_u64;
use crate::ParseError;

/// One field of [`Entry`], as a key names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    StartTime,
    Method,
    Path,
    Protocol,
    ResponseCode,
    ResponseFlags,
    ResponseCodeDetails,
    ConnectionTerminationDetails,
    UpstreamTransportFailureReason,
    BytesReceived,
    BytesSent,
    Duration,
    UpstreamServiceTime,
    XForwardedFor,
    UserAgent,
    RequestId,
    Authority,
    UpstreamHost,
    UpstreamCluster,
    UpstreamLocalAddress,
    DownstreamLocalAddress,
    DownstreamRemoteAddress,
    RequestedServerName,
    RouteName,
}

/// A value as a line holds it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    /// The raw text between the quotes (or an unquoted `key=value` value).
    Str(&'a str),
    /// The raw text of a JSON number.
    Num(&'a str),
    /// JSON `null`.
    Null,
    /// `true`, `false`, an object or an array.
    Other,
}

/// The field a normalised name (ASCII lower case, letters and digits only) means. Istio's
/// own keys first; the others are the names custom formats give the same operators
/// (Contour's `@timestamp`, `status`, `flags`, camelCase…).
fn by_alias(name: &[u8]) -> Option<Field> {
    Some(match name {
        b"starttime" | b"timestamp" | b"time" | b"ts" | b"datetime" => Field::StartTime,
        b"method" | b"requestmethod" | b"reqmethod" | b"httpmethod" => Field::Method,
        b"path" | b"requestpath" | b"reqpath" | b"originalpath" | b"uri" | b"requesturi"
        | b"url" => Field::Path,
        b"protocol" | b"proto" | b"httpprotocol" | b"httpversion" => Field::Protocol,
        b"responsecode" | b"respcode" | b"status" | b"statuscode" | b"code" | b"httpstatus"
        | b"httpstatuscode" | b"responsestatus" => Field::ResponseCode,
        b"responseflags" | b"responseflag" | b"respflags" | b"flags" => Field::ResponseFlags,
        b"responsecodedetails" | b"respcodedetails" | b"codedetails" | b"details" => {
            Field::ResponseCodeDetails
        }
        b"connectionterminationdetails" | b"terminationdetails" => {
            Field::ConnectionTerminationDetails
        }
        b"upstreamtransportfailurereason" | b"transportfailurereason" | b"failurereason" => {
            Field::UpstreamTransportFailureReason
        }
        b"bytesreceived" | b"requestbytes" | b"bytesin" | b"rxbytes" => Field::BytesReceived,
        b"bytessent" | b"responsebytes" | b"bytesout" | b"txbytes" => Field::BytesSent,
        b"duration" | b"durationms" | b"requestduration" | b"latency" | b"latencyms" => {
            Field::Duration
        }
        b"upstreamservicetime" | b"xenvoyupstreamservicetime" => Field::UpstreamServiceTime,
        b"xforwardedfor" | b"forwardedfor" | b"xff" => Field::XForwardedFor,
        b"useragent" => Field::UserAgent,
        b"requestid" | b"xrequestid" | b"reqid" => Field::RequestId,
        b"authority" | b"host" => Field::Authority,
        b"upstreamhost" | b"upstreamaddress" => Field::UpstreamHost,
        b"upstreamcluster" | b"upstreamclusterraw" | b"cluster" => Field::UpstreamCluster,
        b"upstreamlocaladdress" => Field::UpstreamLocalAddress,
        b"downstreamlocaladdress" => Field::DownstreamLocalAddress,
        b"downstreamremoteaddress" | b"remoteaddress" | b"clientaddress" => {
            Field::DownstreamRemoteAddress
        }
        b"requestedservername" | b"servername" | b"sni" => Field::RequestedServerName,
        b"routename" | b"route" => Field::RouteName,
        _ => return None,
    })
}

/// Words custom formats put before a key (`envoy_response_code`, `istio.response_flags`,
/// `req_method`…); a key is also tried without them.
const PREFIXES: &[&str] = &[
    "envoy",
    "istio",
    "proxy",
    "accesslog",
    "access",
    "log",
    "http",
];

/// The longest key [`Field::alias`] looks at.
const MAX_KEY: usize = 48;

impl Field {
    /// Every field, in [`Entry`]'s order.
    #[cfg(test)]
    pub(crate) const ALL: [Field; 24] = [
        Field::StartTime,
        Field::Method,
        Field::Path,
        Field::Protocol,
        Field::ResponseCode,
        Field::ResponseFlags,
        Field::ResponseCodeDetails,
        Field::ConnectionTerminationDetails,
        Field::UpstreamTransportFailureReason,
        Field::BytesReceived,
        Field::BytesSent,
        Field::Duration,
        Field::UpstreamServiceTime,
        Field::XForwardedFor,
        Field::UserAgent,
        Field::RequestId,
        Field::Authority,
        Field::UpstreamHost,
        Field::UpstreamCluster,
        Field::UpstreamLocalAddress,
        Field::DownstreamLocalAddress,
        Field::DownstreamRemoteAddress,
        Field::RequestedServerName,
        Field::RouteName,
    ];

    /// The field an Istio JSON key ([`crate::ISTIO_JSON_FIELDS`]) names, exactly.
    #[inline(always)]
    pub(crate) fn canonical(key: &str) -> Option<Field> {
        Some(match key {
            "start_time" => Field::StartTime,
            "method" => Field::Method,
            "path" => Field::Path,
            "protocol" => Field::Protocol,
            "response_code" => Field::ResponseCode,
            "response_flags" => Field::ResponseFlags,
            "response_code_details" => Field::ResponseCodeDetails,
            "connection_termination_details" => Field::ConnectionTerminationDetails,
            "upstream_transport_failure_reason" => Field::UpstreamTransportFailureReason,
            "bytes_received" => Field::BytesReceived,
            "bytes_sent" => Field::BytesSent,
            "duration" => Field::Duration,
            "upstream_service_time" => Field::UpstreamServiceTime,
            "x_forwarded_for" => Field::XForwardedFor,
            "user_agent" => Field::UserAgent,
            "request_id" => Field::RequestId,
            "authority" => Field::Authority,
            "upstream_host" => Field::UpstreamHost,
            "upstream_cluster" => Field::UpstreamCluster,
            "upstream_local_address" => Field::UpstreamLocalAddress,
            "downstream_local_address" => Field::DownstreamLocalAddress,
            "downstream_remote_address" => Field::DownstreamRemoteAddress,
            "requested_server_name" => Field::RequestedServerName,
            "route_name" => Field::RouteName,
            _ => return None,
        })
    }

    /// The field a renamed or prefixed key names: the key's last `.`-separated part,
    /// compared without case, `_`, `-` or `@`, then without a leading [`PREFIXES`] word.
    pub(crate) fn alias(key: &str) -> Option<Field> {
        let last = key.rsplit(['.', '/']).next().unwrap_or(key);
        let mut buf = [0u8; MAX_KEY];
        let mut len = 0;
        for b in last.bytes().filter(u8::is_ascii_alphanumeric) {
            if len == MAX_KEY {
                return None;
            }
            buf[len] = b.to_ascii_lowercase();
            len += 1;
        }
        let name = &buf[..len];
        by_alias(name).or_else(|| {
            PREFIXES.iter().find_map(|p| {
                name.strip_prefix(p.as_bytes())
                    .filter(|rest| !rest.is_empty())
                    .and_then(by_alias)
            })
        })
    }

    /// The bit of the field in a set of fields.
    pub(crate) fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// A count: a number, a numeric string, or `-`/`null` (`Some(None)`); `None` if invalid.
/// A JSON number with a fraction (`12.5`) counts its whole part.
#[inline(always)]
fn number(value: Value<'_>) -> Option<Option<u64>> {
    match value {
        Value::Null | Value::Str("-") | Value::Str("") => Some(None),
        Value::Num(n) | Value::Str(n) => {
            // A byte search: `split_once` starts a `memchr` for a few digits.
            let whole = n.bytes().position(|b| b == b'.').map_or(n, |at| &n[..at]);
            parse_u64(whole).map(Some)
        }
        Value::Other => None,
    }
}

/// A string value with `-`, `""` and `null` as `None`.
#[inline(always)]
fn opt_string(value: Value<'_>) -> Option<&str> {
    match value {
        Value::Str(s) => dash_none(s),
        _ => None,
    }
}

/// Sets `field` of `e` from `value`; `Err(())` when the value cannot be that field's.
#[inline(always)]
pub(crate) fn set<'a>(e: &mut Entry<'a>, field: Field, value: Value<'a>) -> Result<(), ()> {
    match field {
        Field::StartTime => match value {
            Value::Str(s) | Value::Num(s) => e.start_time = if s == "-" { "" } else { s },
            Value::Null => e.start_time = "",
            Value::Other => return Err(()),
        },
        Field::Method => e.method = opt_string(value).unwrap_or("-"),
        Field::Path => e.path = opt_string(value).unwrap_or("-"),
        Field::Protocol => e.protocol = opt_string(value).unwrap_or("-"),
        Field::ResponseCode => {
            e.response_code = number(value)
                .map(|n| n.unwrap_or(0))
                .and_then(|n| u16::try_from(n).ok().filter(|&c| c <= 999))
                .ok_or(())?;
        }
        Field::ResponseFlags => e.response_flags = opt_string(value).unwrap_or("-"),
        Field::ResponseCodeDetails => e.response_code_details = opt_string(value),
        Field::ConnectionTerminationDetails => e.connection_termination_details = opt_string(value),
        Field::UpstreamTransportFailureReason => {
            e.upstream_transport_failure_reason = opt_string(value)
        }
        Field::BytesReceived => e.bytes_received = number(value).ok_or(())?.unwrap_or(0),
        Field::BytesSent => e.bytes_sent = number(value).ok_or(())?.unwrap_or(0),
        Field::Duration => e.duration_ms = number(value).ok_or(())?,
        Field::UpstreamServiceTime => e.upstream_service_time = number(value).flatten(),
        Field::XForwardedFor => e.x_forwarded_for = opt_string(value),
        Field::UserAgent => e.user_agent = opt_string(value),
        Field::RequestId => e.request_id = opt_string(value),
        Field::Authority => e.authority = opt_string(value),
        Field::UpstreamHost => e.upstream_host = opt_string(value),
        Field::UpstreamCluster => {
            e.upstream_cluster = opt_string(value)
                .map(crate::cluster_name)
                .and_then(dash_none)
        }
        Field::UpstreamLocalAddress => e.upstream_local_address = opt_string(value),
        Field::DownstreamLocalAddress => e.downstream_local_address = opt_string(value),
        Field::DownstreamRemoteAddress => e.downstream_remote_address = opt_string(value),
        Field::RequestedServerName => e.requested_server_name = opt_string(value),
        Field::RouteName => e.route_name = opt_string(value),
    }
    Ok(())
}

/// Fills an entry from named fields: Istio's keys win over renamed ones, whatever their
/// order, and a renamed key with a value its field cannot take is ignored.
pub(crate) struct Named<'e, 'a> {
    /// The entry being filled.
    pub(crate) entry: &'e mut Entry<'a>,
    /// Fields set by Istio's own key.
    canonical: u32,
    /// Fields set by any key.
    seen: u32,
}

impl<'e, 'a> Named<'e, 'a> {
    /// Fills `entry`, emptied to one of `format`.
    pub(crate) fn new(entry: &'e mut Entry<'a>, format: crate::Format) -> Self {
        *entry = Entry::empty(format);
        Named {
            entry,
            canonical: 0,
            seen: 0,
        }
    }

    /// Sets the field `key` names, if any. `Err(field)` when Istio's own key holds a
    /// value its field cannot take.
    #[inline(always)]
    pub(crate) fn set(&mut self, key: &str, value: Value<'a>) -> Result<(), &'static str> {
        if let Some(field) = Field::canonical(key) {
            set(self.entry, field, value).map_err(|()| field.name())?;
            self.canonical |= field.bit();
            self.seen |= field.bit();
        } else if let Some(field) = Field::alias(key) {
            if self.canonical & field.bit() == 0 && set(self.entry, field, value).is_ok() {
                self.seen |= field.bit();
            }
        }
        Ok(())
    }

    /// Whether some key set `field`.
    pub(crate) fn has(&self, field: Field) -> bool {
        self.seen & field.bit() != 0
    }

    /// Whether Istio's own key set `field`.
    pub(crate) fn has_canonical(&self, field: Field) -> bool {
        self.canonical & field.bit() != 0
    }

    /// Whether the keys make an access log entry: a response code with response flags,
    /// or (Istio's JSON, not `cut`) `start_time` with `response_code`.
    pub(crate) fn is_entry(&self, cut: bool) -> bool {
        self.has(Field::ResponseCode)
            && (self.has(Field::ResponseFlags)
                || (!cut
                    && self.has_canonical(Field::StartTime)
                    && self.has_canonical(Field::ResponseCode)
                    && !self.entry.start_time.is_empty()))
    }

    /// Why the keys make no entry: an application's JSON (no Istio `response_code` key;
    /// an alias such as `status` alone), a cut, or the field missing beside the code.
    pub(crate) fn not_entry(&self, cut: bool) -> ParseError {
        let code =
            self.has_canonical(Field::ResponseCode) || (cut && self.has(Field::ResponseCode));
        if !code {
            return if cut && self.has_canonical(Field::StartTime) {
                ParseError::Cut {
                    before: "response_code",
                }
            } else {
                ParseError::UnknownFormat
            };
        }
        if cut {
            return ParseError::Cut {
                before: "response_flags",
            };
        }
        let field = if self.has(Field::StartTime) {
            "response_flags"
        } else {
            "start_time"
        };
        ParseError::Field { field, offset: 0 }
    }
}

impl Field {
    /// Istio's key for the field.
    pub(crate) fn name(self) -> &'static str {
        crate::ISTIO_JSON_FIELDS[self as usize].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_its_istio_key() {
        for (i, field) in Field::ALL.into_iter().enumerate() {
            assert_eq!(field as usize, i);
            assert_eq!(Field::canonical(field.name()), Some(field), "{field:?}");
            // Istio's key also reads as an alias (camelCase, prefixed).
            assert_eq!(Field::alias(field.name()), Some(field), "{field:?}");
        }
    }

    #[test]
    fn renamed_and_prefixed_keys() {
        for (key, field) in [
            ("@timestamp", Field::StartTime),
            ("responseCode", Field::ResponseCode),
            ("status", Field::ResponseCode),
            ("envoy_response_flags", Field::ResponseFlags),
            ("istio.response_flags", Field::ResponseFlags),
            ("http.response.status_code", Field::ResponseCode),
            ("req_method", Field::Method),
            ("UPSTREAM-CLUSTER", Field::UpstreamCluster),
            ("x-envoy-upstream-service-time", Field::UpstreamServiceTime),
        ] {
            assert_eq!(Field::alias(key), Some(field), "{key}");
        }
        for key in [
            "istio_policy_status",
            "level",
            "msg",
            "",
            "envoy",
            &"x".repeat(100),
        ] {
            assert_eq!(Field::alias(key), None, "{key}");
        }
    }
}
