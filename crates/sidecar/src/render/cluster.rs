//! Clusters as istiod builds them, with DestinationRule settings applied.

use std::net::SocketAddr;

use mesh5xx_scenario::duration::envoy as dur;
use mesh5xx_scenario::istio::{opt_duration, DestinationRule, Resolution};
use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::Profile;
use serde_json::{json, Map, Value};

use super::{socket, ExternalService, InboundSpec, SidecarSpec};

const MAX: u32 = u32::MAX;

/// `inbound|80|http|srv-a.default.svc.cluster.local` before Istio 1.10, `inbound|80||` after.
pub fn inbound_name(profile: &Profile, svc: &Service) -> String {
    if profile.inbound_cluster_names_service {
        format!("inbound|{}|http|{}", svc.port, svc.host)
    } else {
        format!("inbound|{}||", svc.port)
    }
}

/// `outbound|80||host`.
pub fn outbound_name(port: u16, host: &str) -> String {
    format!("outbound|{port}||{host}")
}

/// The inbound cluster to the app. DestinationRule connection-pool settings apply here too.
pub fn inbound(spec: &SidecarSpec<'_>, inb: &InboundSpec<'_>, name: &str) -> Value {
    let dr = spec.istio.destination_rule(&inb.service.host);
    let mut c = base(name, spec.profile, dr);
    c.insert("type".into(), json!("STATIC"));
    c.insert("load_assignment".into(), endpoints(name, &[inb.app]));
    Value::Object(c)
}

/// An outbound cluster with the service's endpoints (EDS in a real mesh).
pub fn outbound_static(
    spec: &SidecarSpec<'_>,
    svc: &Service,
    eps: &[SocketAddr],
    name: &str,
) -> Value {
    let dr = spec.istio.destination_rule(&svc.host);
    let mut c = base(name, spec.profile, dr);
    c.insert("type".into(), json!("STATIC"));
    c.insert("load_assignment".into(), endpoints(name, eps));
    apply_outlier_detection(&mut c, dr);
    Value::Object(c)
}

/// A ServiceEntry `resolution: DNS` (STRICT_DNS) or `DNS_ROUND_ROBIN` (LOGICAL_DNS) cluster,
/// resolved by c-ares against the lab's DNS server only.
pub fn outbound_dns(
    spec: &SidecarSpec<'_>,
    ext: &ExternalService,
    res: Resolution,
    name: &str,
) -> Value {
    let dr = spec.istio.destination_rule(&ext.host);
    let mut c = base(name, spec.profile, dr);
    let kind = if res == Resolution::Dns {
        "STRICT_DNS"
    } else {
        "LOGICAL_DNS"
    };
    c.insert("type".into(), json!(kind));
    c.insert("dns_lookup_family".into(), json!("V4_ONLY"));
    c.insert(
        "dns_refresh_rate".into(),
        json!(dur(ext
            .dns_refresh
            .unwrap_or(spec.profile.dns_refresh_rate))),
    );
    c.insert(
        "respect_dns_ttl".into(),
        json!(spec.profile.respect_dns_ttl),
    );
    c.insert(
        "typed_dns_resolver_config".into(),
        json!({
            "name": "envoy.network.dns_resolver.cares",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig",
                "resolvers": [socket(ext.dns.ip(), ext.dns.port())],
                "use_resolvers_as_fallback": false,
                "dns_resolver_options": {"no_default_search_domain": true}
            }
        }),
    );
    c.insert(
        "load_assignment".into(),
        json!({"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": ext.host, "port_value": ext.endpoint_port}}}}]}]}),
    );
    apply_outlier_detection(&mut c, dr);
    Value::Object(c)
}

/// `PassthroughCluster` (or a `resolution: NONE` ServiceEntry cluster): ORIGINAL_DST with the
/// destination named by the client in `x-envoy-original-dst-host`, 5 min idle timeout.
pub fn original_dst(spec: &SidecarSpec<'_>, name: &str) -> Value {
    let mut c = base(name, spec.profile, None);
    c.insert("type".into(), json!("ORIGINAL_DST"));
    c.insert("lb_policy".into(), json!("CLUSTER_PROVIDED"));
    c.insert(
        "original_dst_lb_config".into(),
        json!({"use_http_header": true}),
    );
    let mut opts = Map::new();
    opts.insert(
        "idle_timeout".into(),
        json!(dur(spec.profile.passthrough_idle_timeout)),
    );
    c.insert(
        "typed_extension_protocol_options".into(),
        protocol_options(opts),
    );
    Value::Object(c)
}

/// What every istiod cluster has: connect timeout, Istio's circuit breakers, DR connection pool.
fn base(name: &str, profile: &Profile, dr: Option<&DestinationRule>) -> Map<String, Value> {
    let pool = dr
        .and_then(|d| d.traffic_policy.as_ref())
        .and_then(|t| t.connection_pool.as_ref());
    let tcp = pool.and_then(|p| p.tcp.as_ref());
    let http = pool.and_then(|p| p.http.as_ref());
    let connect = opt_duration(&tcp.and_then(|t| t.connect_timeout.clone()))
        .unwrap_or(profile.connect_timeout);
    let mut c = Map::new();
    c.insert("name".into(), json!(name));
    c.insert("connect_timeout".into(), json!(dur(connect)));
    c.insert("lb_policy".into(), json!("ROUND_ROBIN"));
    c.insert(
        "circuit_breakers".into(),
        json!({"thresholds": [{
            "max_connections": tcp.and_then(|t| t.max_connections).unwrap_or(MAX),
            "max_pending_requests": http.and_then(|h| h.http1_max_pending_requests).unwrap_or(MAX),
            "max_requests": http.and_then(|h| h.http2_max_requests).unwrap_or(MAX),
            "max_retries": http.and_then(|h| h.max_retries).unwrap_or(MAX),
            "track_remaining": true
        }]}),
    );
    let mut opts = Map::new();
    if let Some(d) = opt_duration(&http.and_then(|h| h.idle_timeout.clone())) {
        opts.insert("idle_timeout".into(), json!(dur(d)));
    }
    if let Some(n) = http.and_then(|h| h.max_requests_per_connection) {
        opts.insert("max_requests_per_connection".into(), json!(n));
    }
    if let Some(d) = opt_duration(&tcp.and_then(|t| t.max_connection_duration.clone())) {
        opts.insert("max_connection_duration".into(), json!(dur(d)));
    }
    if !opts.is_empty() {
        c.insert(
            "typed_extension_protocol_options".into(),
            protocol_options(opts),
        );
    }
    c
}

fn protocol_options(common: Map<String, Value>) -> Value {
    json!({"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
        "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
        "common_http_protocol_options": common,
        "explicit_http_config": {"http_protocol_options": {}}
    }})
}

fn endpoints(name: &str, addrs: &[SocketAddr]) -> Value {
    let lb: Vec<Value> = addrs
        .iter()
        .map(|a| json!({"endpoint": {"address": socket(a.ip(), a.port())}}))
        .collect();
    json!({"cluster_name": name, "endpoints": [{"lb_endpoints": lb}]})
}

/// DestinationRule `outlierDetection` → Envoy `outlier_detection`, and `minHealthPercent`
/// (default 0) → `healthy_panic_threshold`, as istiod maps them.
fn apply_outlier_detection(c: &mut Map<String, Value>, dr: Option<&DestinationRule>) {
    let Some(od) = dr
        .and_then(|d| d.traffic_policy.as_ref())
        .and_then(|t| t.outlier_detection.as_ref())
    else {
        return;
    };
    let mut o = Map::new();
    // Istio: consecutive5xxErrors → consecutive_5xx; gateway errors → consecutive_gateway_failure.
    match od.consecutive_5xx_errors {
        Some(n) => {
            o.insert("consecutive_5xx".into(), json!(n));
            o.insert("enforcing_consecutive_5xx".into(), json!(100));
        }
        None => {
            o.insert("enforcing_consecutive_5xx".into(), json!(0));
        }
    }
    if let Some(n) = od.consecutive_gateway_errors {
        o.insert("consecutive_gateway_failure".into(), json!(n));
        o.insert("enforcing_consecutive_gateway_failure".into(), json!(100));
    }
    if let Some(d) = opt_duration(&od.interval) {
        o.insert("interval".into(), json!(dur(d)));
    }
    if let Some(d) = opt_duration(&od.base_ejection_time) {
        o.insert("base_ejection_time".into(), json!(dur(d)));
    }
    if let Some(p) = od.max_ejection_percent {
        o.insert("max_ejection_percent".into(), json!(p));
    }
    o.insert("enforcing_success_rate".into(), json!(0));
    c.insert("outlier_detection".into(), Value::Object(o));
    c.insert(
        "common_lb_config".into(),
        json!({"healthy_panic_threshold": {"value": od.min_health_percent.unwrap_or(0)}}),
    );
}
