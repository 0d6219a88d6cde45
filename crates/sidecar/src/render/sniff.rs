//! Service ports that are not HTTP: a `tcp` (or `mysql`, …) port is a TCP proxy; a port whose
//! name names no protocol (`web`, none) is sniffed where the profile's istiod sniffs, a TCP
//! proxy where it does not.
//!
//! Sniffing (`ListenerProtocolAuto`): the listener's `http_inspector` reads the client's first
//! bytes and sets the connection's application protocol (`http/1.1`, `h2c`); the HTTP chain
//! matches those, the TCP proxy chain takes the rest. The inspector waits for the client to
//! speak: `listener_filters_timeout` is MeshConfig `protocolDetectionTimeout`, after which the
//! connection goes on to the TCP chain (`continue_on_listener_filters_timeout`); at 0s (the
//! default from 1.8) it waits for ever, so a protocol whose server speaks first stalls.

use std::time::Duration;

use mesh5xx_scenario::{Behaviour, PortProtocol};
use serde_json::{json, Map, Value};

use super::SidecarSpec;

/// Which listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Inbound,
    Outbound,
}

/// The ALPN values of the HTTP chain, of those the HTTP inspector sets (`http/1.0`,
/// `http/1.1`, `h2c`): [`Behaviour::SniffNoHttp10Alpn`] (`plaintextHTTPALPNs` without
/// istiod's PILOT_HTTP10, core/listener.go@1.24.0 L76-90); before
/// [`Behaviour::SniffRawBufferMatch`] the outbound chain named `h2`
/// (v1alpha3/listener.go@1.4.0 L141-149, L1300-1302).
fn http_alpns(spec: &SidecarSpec<'_>, side: Side) -> Vec<&'static str> {
    if side == Side::Outbound && !spec.profile.has(Behaviour::SniffRawBufferMatch) {
        vec!["http/1.0", "http/1.1", "h2"]
    } else if spec.profile.has(Behaviour::SniffNoHttp10Alpn) {
        vec!["http/1.1", "h2c"]
    } else {
        vec!["http/1.0", "http/1.1", "h2c"]
    }
}

/// How istiod renders `spec`'s service port on `side`: `None` for an HTTP port (the listener
/// as built), else whether it sniffs.
fn mode(spec: &SidecarSpec<'_>, side: Side) -> Option<bool> {
    match spec.port_protocol() {
        PortProtocol::Http | PortProtocol::Http2 => None,
        PortProtocol::Tcp => Some(false),
        PortProtocol::Auto => Some(spec.profile.has(match side {
            Side::Outbound => Behaviour::OutboundProtocolSniffing,
            Side::Inbound => Behaviour::InboundProtocolSniffing,
        })),
    }
}

/// Whether the profile's istiod sniffs `spec`'s service port on `side`.
pub(super) fn sniffs(spec: &SidecarSpec<'_>, side: Side) -> bool {
    mode(spec, side) == Some(true)
}

/// Make listener `l` (one HTTP chain, as built) what istiod renders for `spec`'s port on
/// `side`, its TCP proxy to `cluster`.
pub fn apply(l: &mut Value, spec: &SidecarSpec<'_>, side: Side, cluster: &str) {
    let Some(sniff) = mode(spec, side) else {
        return;
    };
    let http = l["filter_chains"][0].take();
    // Keep what the chain already matches (a captured pod's destination port).
    let matched = http["filter_chain_match"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let tcp = |extra: Value| {
        let mut m = matched.clone();
        m.extend(extra.as_object().cloned().unwrap_or_default());
        chain(m, tcp_proxy(spec, cluster))
    };
    if !sniff {
        l["filter_chains"] = json!([tcp(json!({}))]);
        return;
    }
    let mut http = http;
    let mut m = matched.clone();
    m.insert(
        "application_protocols".into(),
        json!(http_alpns(spec, side)),
    );
    if side == Side::Inbound || spec.profile.has(Behaviour::SniffRawBufferMatch) {
        m.insert("transport_protocol".into(), json!("raw_buffer"));
    }
    http["filter_chain_match"] = Value::Object(m);
    let mut filters = l["listener_filters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match side {
        // Outbound: the TCP chain first, then the HTTP chain (core/listener.go@1.24.0
        // L950-963), and a TLS inspector before the HTTP inspector (L588-601).
        Side::Outbound => {
            l["filter_chains"] = json!([tcp(json!({})), http]);
            filters.push(inspector("tls_inspector", "TlsInspector"));
        }
        // Inbound plaintext: HTTP on the sniffed ALPNs, TCP for the rest, both raw_buffer
        // (inboundPlainTextFilterChainMatchOptions, core/filterchain_options.go@1.24.0
        // L140-152).
        Side::Inbound => {
            l["filter_chains"] = json!([http, tcp(json!({"transport_protocol": "raw_buffer"}))]);
        }
    }
    filters.push(inspector("http_inspector", "HttpInspector"));
    l["listener_filters"] = Value::Array(filters);
    // core/listener.go@1.24.0 L559-560, L600-605; core/listener_inbound.go@1.24.0 L295, L315;
    // v1alpha3/listener.go@1.4.0 L1881-1884.
    let timeout = match spec.protocol_detection_timeout_ms {
        Some(0) => None,
        Some(ms) => Some(Duration::from_millis(ms)),
        None => spec.profile.protocol_detection_timeout(),
    };
    l["listener_filters_timeout"] =
        json!(timeout.map_or_else(|| "0s".to_string(), |t| format!("{}s", t.as_secs_f64())));
    l["continue_on_listener_filters_timeout"] = json!(true);
}

fn chain(m: Map<String, Value>, filter: Value) -> Value {
    let mut c = json!({"filters": [filter]});
    if !m.is_empty() {
        c["filter_chain_match"] = Value::Object(m);
    }
    c
}

/// Istio's TCP proxy to `cluster`, logging in the access log's format.
fn tcp_proxy(spec: &SidecarSpec<'_>, cluster: &str) -> Value {
    json!({
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": cluster,
            "cluster": cluster,
            "access_log": [super::listener::file_access_log(spec)]
        }
    })
}

fn inspector(name: &str, kind: &str) -> Value {
    json!({
        "name": format!("envoy.filters.listener.{name}"),
        "typed_config": {"@type": format!("type.googleapis.com/envoy.extensions.filters.listener.{name}.v3.{kind}")}
    })
}
