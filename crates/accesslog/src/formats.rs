//! The access log formats as Envoy command-operator strings.
//!
//! The lab renders its Envoy configuration from these constants, so the sidecar prints
//! exactly what [`crate::parse_line`] reads.

/// The fields of Istio's pre-1.9 TEXT formats, up to `%REQUESTED_SERVER_NAME%`.
macro_rules! istio_1_2_fields {
    () => {
        concat!(
            "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" ",
            "%RESPONSE_CODE% %RESPONSE_FLAGS% ",
            "\"%DYNAMIC_METADATA(istio.mixer:status)%\" \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" ",
            "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% ",
            "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" ",
            "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% ",
            "%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME%"
        )
    };
}

/// Istio's TEXT format of 1.1 (`EnvoyTextLogFormat`, `pilot/pkg/networking/core/v1alpha3/
/// listener.go@1.1.0` L63-69): the quoted `istio.mixer:status` metadata alone after the
/// response flags, no transport failure reason, `%REQUESTED_SERVER_NAME%` last. (Istio 0.8
/// and 1.0 set no format: their sidecars wrote [`ENVOY_DEFAULT_FORMAT`],
/// `pilot/pkg/networking/core/v1alpha3/listener.go@1.0.0` L823-833.)
pub const ISTIO_1_1_TEXT_FORMAT: &str = concat!(
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" ",
    "%RESPONSE_CODE% %RESPONSE_FLAGS% \"%DYNAMIC_METADATA(istio.mixer:status)%\" ",
    "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% ",
    "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" ",
    "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% ",
    "%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME%\n"
);

/// Istio's TEXT format of 1.2 (`EnvoyTextLogFormat12`, `pilot/pkg/networking/core/v1alpha3/
/// listener.go@1.2.10` L72-82), the format of the seed's lines: the `istio.mixer:status`
/// metadata and the transport failure reason follow the response flags, both quoted;
/// `%REQUESTED_SERVER_NAME%` last.
pub const ISTIO_1_2_TEXT_FORMAT: &str = concat!(istio_1_2_fields!(), "\n");

/// Istio's TEXT format of 1.3–1.7 (`EnvoyTextLogFormat13`, `pilot/pkg/networking/core/
/// v1alpha3/listener.go@1.4.0` L114-121; `EnvoyTextLogFormat`, `listener.go@1.7.0`
/// L122-128): [`ISTIO_1_2_TEXT_FORMAT`] with `%ROUTE_NAME%` last.
pub const ISTIO_LEGACY_TEXT_FORMAT: &str = concat!(istio_1_2_fields!(), " %ROUTE_NAME%\n");

/// Istio's TEXT format of 1.8 (`EnvoyTextLogFormat`, `pilot/pkg/networking/core/v1alpha3/
/// accesslog.go@1.8.0` L38-44): [`ISTIO_LEGACY_TEXT_FORMAT`] without the mixer status, so
/// the transport failure reason is the only quoted field after the flags.
pub const ISTIO_1_8_TEXT_FORMAT: &str = concat!(
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" ",
    "%RESPONSE_CODE% %RESPONSE_FLAGS% \"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" ",
    "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% ",
    "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" ",
    "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% ",
    "%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% ",
    "%ROUTE_NAME%\n"
);

/// Istio's default TEXT format of 1.9–1.22: response code details, connection termination
/// details and the quoted transport failure reason follow the flags; `%UPSTREAM_CLUSTER%`
/// (`EnvoyTextLogFormatIstio19`, `pilot/pkg/networking/core/v1alpha3/accesslog.go@1.9.0`
/// L49-56; `EnvoyTextLogFormat`, `pilot/pkg/model/telemetry_logging.go@1.22.0` L46). From
/// 1.23 it is `LegacyEnvoyTextLogFormat` (`telemetry_logging.go@1.23.0` L57), whose
/// `%UPSTREAM_CLUSTER%` shows the stat-name delimiter `;`. Lines read like
/// [`ISTIO_CURRENT_TEXT_FORMAT`]'s.
pub const ISTIO_1_9_TEXT_FORMAT: &str = concat!(
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" ",
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ",
    "\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" ",
    "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% ",
    "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" ",
    "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% ",
    "%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% ",
    "%ROUTE_NAME%\n"
);

/// Istio's default TEXT format from 1.23 on: as 1.9's, with `%UPSTREAM_CLUSTER_RAW%`
/// (`EnvoyTextLogFormat`, `pilot/pkg/model/telemetry_logging.go@1.23.0` L46-53, unchanged
/// at `@1.24.0` L46-53).
pub const ISTIO_CURRENT_TEXT_FORMAT: &str = concat!(
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" ",
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% ",
    "\"%UPSTREAM_TRANSPORT_FAILURE_REASON%\" ",
    "%BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% ",
    "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" ",
    "\"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\" %UPSTREAM_CLUSTER_RAW% %UPSTREAM_LOCAL_ADDRESS% ",
    "%DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% ",
    "%ROUTE_NAME%\n"
);

/// Envoy's own default format, used when an access log sets no format (envoyproxy/envoy
/// `docs/root/configuration/observability/access_log/usage.rst`, "Default Format String",
/// v1.40; `DEFAULT_FORMAT` in `source/common/access_log/access_log_formatter.cc` of the
/// 2018 releases Istio 0.8–1.0 shipped). Istio 0.8 and 1.0 sidecars wrote it.
pub const ENVOY_DEFAULT_FORMAT: &str = concat!(
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" ",
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ",
    "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" ",
    "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n"
);

/// The keys of Istio's JSON encoding (`accessLogEncoding: JSON`) and the command operator
/// each one carries, in Istio's order. Envoy prints numbers unquoted and `-` as `null`.
///
/// `EnvoyJSONLogFormatIstio19` (`pilot/pkg/networking/core/v1alpha3/accesslog.go@1.9.0`
/// L105-132), `EnvoyJSONLogFormatIstio` (`pilot/pkg/model/telemetry_logging.go@1.23.0` L91);
/// before 1.9 without the two details keys (`EnvoyJSONLogFormat`, `accesslog.go@1.8.0`
/// L63-88); Istio 1.1 also logged `istio_policy_status` and mapped `method` to
/// `%START_TIME%` (`listener.go@1.1.0` L77-101). Keys in any order, renamed or prefixed
/// (`status`, `@timestamp`, `responseCode`, `envoy.response_flags`…) are read too.
pub const ISTIO_JSON_FIELDS: &[(&str, &str)] = &[
    ("start_time", "%START_TIME%"),
    ("method", "%REQ(:METHOD)%"),
    ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
    ("protocol", "%PROTOCOL%"),
    ("response_code", "%RESPONSE_CODE%"),
    ("response_flags", "%RESPONSE_FLAGS%"),
    ("response_code_details", "%RESPONSE_CODE_DETAILS%"),
    (
        "connection_termination_details",
        "%CONNECTION_TERMINATION_DETAILS%",
    ),
    (
        "upstream_transport_failure_reason",
        "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
    ),
    ("bytes_received", "%BYTES_RECEIVED%"),
    ("bytes_sent", "%BYTES_SENT%"),
    ("duration", "%DURATION%"),
    (
        "upstream_service_time",
        "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
    ),
    ("x_forwarded_for", "%REQ(X-FORWARDED-FOR)%"),
    ("user_agent", "%REQ(USER-AGENT)%"),
    ("request_id", "%REQ(X-REQUEST-ID)%"),
    ("authority", "%REQ(:AUTHORITY)%"),
    ("upstream_host", "%UPSTREAM_HOST%"),
    ("upstream_cluster", "%UPSTREAM_CLUSTER_RAW%"),
    ("upstream_local_address", "%UPSTREAM_LOCAL_ADDRESS%"),
    ("downstream_local_address", "%DOWNSTREAM_LOCAL_ADDRESS%"),
    ("downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"),
    ("requested_server_name", "%REQUESTED_SERVER_NAME%"),
    ("route_name", "%ROUTE_NAME%"),
];
