//! Listeners: the HTTP connection manager with Istio's access log and the flags header.

use mesh5xx_accesslog::{
    ISTIO_1_2_TEXT_FORMAT, ISTIO_1_9_TEXT_FORMAT, ISTIO_CURRENT_TEXT_FORMAT,
    ISTIO_LEGACY_TEXT_FORMAT,
};
use mesh5xx_scenario::{Behaviour, LogFormat, PortProtocol};
use serde_json::{json, Value};

use super::{route, socket, InboundSpec, SidecarSpec};

/// The inbound listener (`virtualInbound`; 15006 in a real pod, port 0 here).
pub fn inbound(spec: &SidecarSpec<'_>, inb: &InboundSpec<'_>, cluster: &str) -> Value {
    let route_config = json!({
        "name": cluster,
        "validate_clusters": false,
        "virtual_hosts": [route::inbound_vhost(spec, inb, cluster)],
        "response_headers_to_add": [flags_header("OVERWRITE_IF_EXISTS_OR_ADD")],
    });
    let mut l = listener(
        ("virtualInbound", "INBOUND"),
        &format!("inbound_0.0.0.0_{}", inb.service.port),
        spec,
        route_config,
        super::authz::http_filters(spec.istio),
    );
    if spec.profile.has(Behaviour::ListenerNrAccessLog) {
        // The connections no filter chain takes (`NR filter_chain_not_found`).
        let mut log = file_access_log(spec);
        log["filter"] = json!({"response_flag_filter": {"flags": ["NR"]}});
        l["access_log"] = json!([log]);
    }
    l
}

/// The outbound listener for port 80 (`0.0.0.0_80`; reached through iptables in a real pod).
pub fn outbound(spec: &SidecarSpec<'_>, vhosts: Vec<Value>) -> Value {
    let route_config = json!({
        "name": "80",
        "validate_clusters": false,
        "virtual_hosts": vhosts,
        "response_headers_to_add": [flags_header("ADD_IF_ABSENT")],
    });
    listener(
        ("0.0.0.0_80", "OUTBOUND"),
        "outbound_0.0.0.0_80",
        spec,
        route_config,
        Vec::new(),
    )
}

/// The flags header carries the flags of the sidecar that produced the response: the server
/// sidecar always sets it; the client sidecar adds it only to replies it made itself.
fn flags_header(append_action: &str) -> Value {
    json!({"header": {"key": super::FLAGS_HEADER, "value": "%RESPONSE_FLAGS%"}, "append_action": append_action})
}

/// The file access log in the profile's TEXT format.
pub(super) fn file_access_log(spec: &SidecarSpec<'_>) -> Value {
    let format = match spec.profile.log_format() {
        LogFormat::Istio12 => ISTIO_1_2_TEXT_FORMAT,
        LogFormat::Istio13 => ISTIO_LEGACY_TEXT_FORMAT,
        LogFormat::Istio19 => ISTIO_1_9_TEXT_FORMAT,
        LogFormat::Current => ISTIO_CURRENT_TEXT_FORMAT,
    };
    json!({
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
            "path": spec.access_log.display().to_string(),
            "log_format": {"text_format_source": {"inline_string": format}}
        }
    })
}

/// A listener `(name, direction)` with Istio's HTTP connection manager: `filters`
/// (authorization), then the router. The direction is rendered from Istio 1.3 on (what
/// pilot-agent's inbound-only drain selects).
fn listener(
    (name, direction): (&str, &str),
    stat_prefix: &str,
    spec: &SidecarSpec<'_>,
    route_config: Value,
    mut filters: Vec<Value>,
) -> Value {
    filters.push(json!({"name": "envoy.filters.http.router", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}));
    let mut l = json!({
        "name": name,
        "address": socket("127.0.0.1".parse().expect("ip"), 0),
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": stat_prefix,
                "route_config": route_config,
                "use_remote_address": false,
                "normalize_path": true,
                "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
                "request_id_extension": {"typed_config": {"@type": "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig", "use_request_id_for_trace_sampling": true}},
                "access_log": [file_access_log(spec)],
                "http_filters": filters
            }
        }]}]
    });
    let hcm = &mut l["filter_chains"][0]["filters"][0]["typed_config"];
    if spec.proxy_metadata.accepts_http10() {
        // ISTIO_META_HTTP10 "1" (or istiod's PILOT_HTTP10): HTTP/1.0 accepted on the
        // sidecar's HTTP listeners, outbound and inbound (core/listener.go@1.24.0 L757-761,
        // core/listener_inbound.go@1.24.0 L842-846; v1alpha3/listener.go@1.2.0 L281, L1005).
        // Without it Envoy answers an HTTP/1.0 request 426 Upgrade Required.
        hcm["http_protocol_options"] = json!({"accept_http_10": true});
    }
    if direction == "INBOUND" && port_is_http2(spec) {
        // core/listener_inbound.go@1.24.0 L838-840: an http2 or grpc port's inbound HTTP
        // connection manager gets http2_protocol_options (its codec stays AUTO).
        hcm["http2_protocol_options"] = json!({});
    }
    if spec.profile.has(Behaviour::ListenerTrafficDirection) {
        l["traffic_direction"] = direction.into();
    }
    l
}

fn port_is_http2(spec: &SidecarSpec<'_>) -> bool {
    spec.port_protocol() == PortProtocol::Http2
}
