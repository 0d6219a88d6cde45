//! Clusters as istiod builds them, with DestinationRule settings applied.

use std::net::SocketAddr;

use mesh5xx_scenario::duration::envoy as dur;
use mesh5xx_scenario::istio::{opt_duration, DestinationRule, H2UpgradePolicy, Resolution};
use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::{Behaviour, PortProtocol, Profile};
use serde_json::{json, Map, Value};

use super::sniff::{self, Side};
use super::{socket, ExternalService, InboundSpec, SidecarSpec};

const MAX: u32 = u32::MAX;

/// `inbound|80|http|srv-a.default.svc.cluster.local` (service port, port name, host) before
/// Istio 1.8, `inbound|8080||` (the target port) after: [`Behaviour::InboundTargetPortNames`].
/// The port name is the Service port's (`topology.service_port.name`, `http` by default).
pub fn inbound_name(profile: &Profile, svc: &Service, port_name: &str) -> String {
    if profile.has(Behaviour::InboundTargetPortNames) {
        format!("inbound|{}||", svc.target_port)
    } else {
        format!("inbound|{}|{port_name}|{}", svc.port, svc.host)
    }
}

/// `outbound|80||host`.
pub fn outbound_name(port: u16, host: &str) -> String {
    format!("outbound|{port}||{host}")
}

/// `outbound|80|subset|host`: a DestinationRule subset's cluster.
pub fn outbound_subset_name(port: u16, subset: &str, host: &str) -> String {
    format!("outbound|{port}|{subset}|{host}")
}

/// The inbound cluster to the app. DestinationRule connection-pool settings apply here too.
pub fn inbound(spec: &SidecarSpec<'_>, inb: &InboundSpec<'_>, name: &str) -> Value {
    let dr = spec.istio.destination_rule(&inb.service.host);
    // Inbound clusters get no load-balancer policy from istiod (Envoy's ROUND_ROBIN):
    // core/cluster_traffic_policy.go@1.24.0 L50-54.
    let mut c = base(name, spec.profile, dr, Lb::EnvoyDefault);
    c.insert("type".into(), json!("STATIC"));
    c.insert("load_assignment".into(), endpoints(name, &[inb.app]));
    // `setUpstreamProtocol` runs for inbound clusters as for outbound (buildCluster,
    // core/cluster_builder.go@1.24.0 L286-288, L354, L388-389; v1alpha3/cluster.go@1.4.0 L699).
    upstream_protocol(&mut c, spec, Side::Inbound);
    Value::Object(c)
}

/// An outbound cluster with the service's endpoints (EDS in a real mesh), the cluster of
/// `subset` if any, with the TLS istiod sets toward it ([`super::tls::apply_upstream`]).
pub fn outbound_static(
    spec: &SidecarSpec<'_>,
    svc: &Service,
    eps: &[SocketAddr],
    (name, subset): (&str, Option<&str>),
) -> Value {
    let dr = spec.istio.destination_rule(&svc.host);
    let mut c = base(name, spec.profile, dr, Lb::Outbound);
    c.insert("type".into(), json!("STATIC"));
    apply_outlier_detection(&mut c, spec.profile, dr);
    upstream_protocol(&mut c, spec, Side::Outbound);
    let upgrade = dr
        .and_then(|d| d.traffic_policy.as_ref())
        .and_then(|t| t.connection_pool.as_ref())
        .and_then(|p| p.http.as_ref())
        .and_then(|h| h.h2_upgrade_policy);
    // An http port is upgraded by `h2UpgradePolicy: UPGRADE` only, as the mesh default is
    // DO_NOT_UPGRADE (shouldH2Upgrade, core/cluster_traffic_policy.go@1.24.0 L193-222, applied
    // after setUpstreamProtocol; the same truth table in v1alpha3/cluster.go@1.6.0 L647-690).
    // Until 1.9 a port that is not HTTP is never upgraded (v1alpha3/cluster.go@1.6.0 L671-679),
    // so a sniffed one keeps the downstream protocol; from 1.10 UPGRADE is read first and
    // upgrades any port, its explicit HTTP/2 replacing use_downstream_protocol_config
    // ([`Behaviour::H2UpgradeAnyPort`]). Older istiods never read the field: a variant using it
    // is refused under them.
    let http = matches!(
        port_protocol(spec),
        PortProtocol::Http | PortProtocol::Http2
    );
    if upgrade == Some(H2UpgradePolicy::Upgrade)
        && spec.profile.has(Behaviour::H2UpgradePolicy)
        && (http || spec.profile.has(Behaviour::H2UpgradeAnyPort))
    {
        http2(&mut c, spec);
    }
    // TLS last, as istiod applies it after the protocol, whose HTTP/2 its ALPN names
    // (`applyTrafficPolicy`, core/cluster_traffic_policy.go@1.24.0 L43-61).
    let labelled = super::tls::apply_upstream(&mut c, spec, svc, subset);
    let mut assignment = endpoints(name, eps);
    if labelled {
        // Every lab endpoint has a sidecar: EDS labels it `tlsMode: istio`.
        for ep in assignment["endpoints"][0]["lb_endpoints"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            ep["metadata"] = super::tls::istio_endpoint_metadata();
        }
    }
    c.insert("load_assignment".into(), assignment);
    Value::Object(c)
}

fn port_protocol(spec: &SidecarSpec<'_>) -> PortProtocol {
    spec.port_protocol()
}

/// The upstream protocol istiod gives a cluster of `spec`'s service port on `side`
/// (`setUpstreamProtocol`, core/cluster_builder.go@1.24.0 L594-614): an http2 or grpc port is
/// HTTP/2, to the app too (v1alpha3/cluster.go@1.2.0 L958-967); a sniffed port's cluster
/// speaks whatever the client spoke ([`Behaviour::UseDownstreamProtocol`]); any other
/// HTTP/1.1.
///
/// The sniffed port's option, by era, for a sidecar only (istiod's gateways do not sniff):
/// - until 1.3 nothing: HTTP/1.1 upstream (v1alpha3/cluster.go@1.3.0 L1075-1084);
/// - 1.4 to 1.9 the cluster fields `protocol_selection: USE_DOWNSTREAM_PROTOCOL` and
///   `http2_protocol_options` (max_concurrent_streams 2^30), on the outbound cluster where
///   outbound sniffing is on and the inbound one where inbound sniffing is on (from 1.5:
///   [`Behaviour::InboundProtocolSniffing`]) (v1alpha3/cluster.go@1.4.0 L1230-1255, called at
///   L224, L270, L699; the sidecar-only gate from v1alpha3/cluster.go@1.5.0 L1238-1242;
///   v1alpha3/cluster.go@1.9.0 L1085-1107). Envoy 1.40 still takes those deprecated fields
///   (with a deprecation warning); the lab renders them, as it renders every era's HTTP/2
///   options ([`http2`]), as the typed `HttpProtocolOptions` with the same meaning;
/// - from 1.10 `HttpProtocolOptions.use_downstream_protocol_config` with HTTP/1.1 and HTTP/2
///   options (v1alpha3/cluster_builder.go@1.10.0 L884-894, L912-925; 2^30 streams until 1.15,
///   none from 1.16: v1alpha3/cluster_builder.go@1.16.0 L1165-1167), for a sidecar and an
///   `IsUnsupported` port (core/cluster_builder.go@1.24.0 L569-580, L600-613).
///
/// The HTTP/2 options themselves ask for 2^30 streams until 1.14, nothing from 1.15
/// ([`http2_options`]).
fn upstream_protocol(c: &mut Map<String, Value>, spec: &SidecarSpec<'_>, side: Side) {
    if port_protocol(spec) == PortProtocol::Http2 {
        http2(c, spec);
    } else if sniff::sniffs(spec, side) && spec.profile.has(Behaviour::UseDownstreamProtocol) {
        use_downstream_protocol(c, http2_options(spec));
    }
}

/// Make `c` an HTTP/2 cluster (`setH2Options`: `explicit_http_config.http2_protocol_options`,
/// core/cluster_builder.go@1.24.0 L542-559), keeping its common protocol options.
fn http2(c: &mut Map<String, Value>, spec: &SidecarSpec<'_>) {
    upstream_config(
        c,
        "explicit_http_config",
        json!({"http2_protocol_options": http2_options(spec)}),
    );
}

/// The HTTP/2 options istiod gives a cluster: 2^30 concurrent streams until 1.14, empty
/// (Envoy's 2^31-1) from 1.15 ([`Behaviour::H2DefaultMaxStreams`]).
fn http2_options(spec: &SidecarSpec<'_>) -> Value {
    match spec.profile.http2_max_concurrent_streams() {
        Some(streams) => json!({"max_concurrent_streams": streams}),
        None => json!({}),
    }
}

/// Make `c` speak the client's protocol upstream (`use_downstream_protocol_config` with
/// HTTP/1.1 options and the HTTP/2 options `http2`), keeping its common protocol options.
fn use_downstream_protocol(c: &mut Map<String, Value>, http2: Value) {
    upstream_config(
        c,
        "use_downstream_protocol_config",
        json!({"http_protocol_options": {}, "http2_protocol_options": http2}),
    );
}

/// The key of a cluster's `HttpProtocolOptions` in its `typed_extension_protocol_options`.
const HTTP_PROTOCOL_OPTIONS: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// Whether `c` is an HTTP/2 cluster: explicit HTTP/2 upstream options (`isHttp2Cluster`,
/// core/cluster_builder.go@1.24.0 L588-591).
pub(super) fn is_http2(c: &Map<String, Value>) -> bool {
    c.get("typed_extension_protocol_options").is_some_and(|o| {
        !o[HTTP_PROTOCOL_OPTIONS]["explicit_http_config"]["http2_protocol_options"].is_null()
    })
}

/// Set `HttpProtocolOptions`' upstream protocol (the `upstream_protocol_options` oneof) to
/// `key`, keeping the common protocol options.
fn upstream_config(c: &mut Map<String, Value>, key: &str, value: Value) {
    let opts = c
        .entry("typed_extension_protocol_options")
        .or_insert_with(|| protocol_options(Map::new()));
    let http = opts[HTTP_PROTOCOL_OPTIONS]
        .as_object_mut()
        .expect("HttpProtocolOptions is an object");
    for oneof in ["explicit_http_config", "use_downstream_protocol_config"] {
        http.remove(oneof);
    }
    http.insert(key.into(), value);
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
    let mut c = base(name, spec.profile, dr, Lb::Outbound);
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
            .unwrap_or(spec.profile.dns_refresh_rate()))),
    );
    c.insert(
        "respect_dns_ttl".into(),
        json!(spec.profile.respect_dns_ttl()),
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
    apply_outlier_detection(&mut c, spec.profile, dr);
    Value::Object(c)
}

/// `PassthroughCluster`: ORIGINAL_DST with the destination named by the client in
/// `x-envoy-original-dst-host`; from Istio 1.7 the client's protocol upstream
/// ([`Behaviour::PassthroughDownstreamProtocol`]; until 1.9 `protocol_selection` without
/// HTTP/2 options, which Envoy reads alike: the downstream protocol wins; from 1.10 with
/// istiod's HTTP/2 options); from Istio 1.16 a
/// 5 min upstream idle timeout ([`Behaviour::PassthroughIdleTimeout5m`]), before it Envoy's
/// 1 h.
pub fn passthrough(spec: &SidecarSpec<'_>) -> Value {
    let mut c = base("PassthroughCluster", spec.profile, None, Lb::Provided);
    original_dst(&mut c);
    if !spec.profile.has(Behaviour::MaxUint32CircuitBreakers) {
        // Before 1.4 its own connection pool asks for 102400 connections
        // (v1alpha3/cluster.go@1.2.10 L1003-1019); 1.4 passes an empty pool (L1270-1281).
        c["circuit_breakers"]["thresholds"][0]["max_connections"] = json!(1024 * 100);
    }
    if let Some(idle) = spec.profile.passthrough_idle_timeout() {
        let mut opts = Map::new();
        opts.insert("idle_timeout".into(), json!(dur(idle)));
        c.insert(
            "typed_extension_protocol_options".into(),
            protocol_options(opts),
        );
    }
    if spec.profile.has(Behaviour::PassthroughDownstreamProtocol) {
        // 1.7 to 1.9 set `protocol_selection` alone: no HTTP/2 options of istiod's
        // ([`Behaviour::PassthroughHttp2Options`]).
        let http2 = if spec.profile.has(Behaviour::PassthroughHttp2Options) {
            http2_options(spec)
        } else {
            json!({})
        };
        use_downstream_protocol(&mut c, http2);
    }
    Value::Object(c)
}

/// A ServiceEntry `resolution: NONE` cluster (`outbound|80||host`): ORIGINAL_DST built like
/// any outbound cluster — the DestinationRule's pool and outlier detection apply, and it has
/// no PassthroughCluster idle timeout (core/cluster_builder.go@1.24.0 L341-351).
pub fn service_entry_original_dst(spec: &SidecarSpec<'_>, host: &str, name: &str) -> Value {
    let dr = spec.istio.destination_rule(host);
    let mut c = base(name, spec.profile, dr, Lb::Provided);
    original_dst(&mut c);
    apply_outlier_detection(&mut c, spec.profile, dr);
    Value::Object(c)
}

fn original_dst(c: &mut Map<String, Value>) {
    c.insert("type".into(), json!("ORIGINAL_DST"));
    c.insert(
        "original_dst_lb_config".into(),
        json!({"use_http_header": true}),
    );
}

/// Which load-balancer policy a cluster gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lb {
    /// None from istiod: Envoy's default ROUND_ROBIN (inbound clusters).
    EnvoyDefault,
    /// Istio's default for outbound clusters: ROUND_ROBIN, LEAST_REQUEST from 1.14
    /// ([`Behaviour::LeastRequestDefault`]).
    Outbound,
    /// ORIGINAL_DST: CLUSTER_PROVIDED.
    Provided,
}

/// What every istiod cluster has: connect timeout, Istio's circuit breakers, DR connection pool.
fn base(name: &str, profile: &Profile, dr: Option<&DestinationRule>, lb: Lb) -> Map<String, Value> {
    let pool = dr
        .and_then(|d| d.traffic_policy.as_ref())
        .and_then(|t| t.connection_pool.as_ref());
    let tcp = pool.and_then(|p| p.tcp.as_ref());
    let http = pool.and_then(|p| p.http.as_ref());
    let connect = opt_duration(&tcp.and_then(|t| t.connect_timeout.clone()))
        .unwrap_or(profile.connect_timeout());
    let mut c = Map::new();
    c.insert("name".into(), json!(name));
    c.insert("connect_timeout".into(), json!(dur(connect)));
    let policy = match lb {
        Lb::EnvoyDefault => "ROUND_ROBIN",
        Lb::Outbound if profile.has(Behaviour::LeastRequestDefault) => "LEAST_REQUEST",
        Lb::Outbound => "ROUND_ROBIN",
        Lb::Provided => "CLUSTER_PROVIDED",
    };
    c.insert("lb_policy".into(), json!(policy));
    // A pool limit of 0 is "unset": istiod keeps its default (the `// FIXME: zero is a valid
    // value if explicitly set` branch, core/cluster_traffic_policy.go@1.24.0 L108-135;
    // v1alpha3/cluster.go@1.2.10 L646-690).
    let set = |v: Option<u32>| v.filter(|n| *n > 0);
    let limits = [
        ("max_connections", set(tcp.and_then(|t| t.max_connections))),
        (
            "max_pending_requests",
            set(http.and_then(|h| h.http1_max_pending_requests)),
        ),
        ("max_requests", set(http.and_then(|h| h.http2_max_requests))),
        ("max_retries", set(http.and_then(|h| h.max_retries))),
    ];
    let mut thresholds = Map::new();
    if profile.has(Behaviour::MaxUint32CircuitBreakers) {
        for (key, value) in limits {
            thresholds.insert(key.into(), json!(value.unwrap_or(MAX)));
        }
    } else {
        // Before 1.4 (v1alpha3/cluster.go@1.2.10 L50-58): outbound clusters default to
        // max_retries 1024, inbound ones to nothing. Whatever is left unset is Envoy's default.
        if lb != Lb::EnvoyDefault {
            thresholds.insert("max_retries".into(), json!(1024));
        }
        for (key, value) in limits {
            if let Some(v) = value {
                thresholds.insert(key.into(), json!(v));
            }
        }
    }
    if profile.has(Behaviour::TrackRemaining) {
        thresholds.insert("track_remaining".into(), json!(true));
    }
    c.insert(
        "circuit_breakers".into(),
        json!({"thresholds": [thresholds]}),
    );
    let mut opts = Map::new();
    if let Some(d) = opt_duration(&http.and_then(|h| h.idle_timeout.clone())) {
        opts.insert("idle_timeout".into(), json!(dur(d)));
    }
    if let Some(n) = http.and_then(|h| h.max_requests_per_connection) {
        opts.insert("max_requests_per_connection".into(), json!(n));
    }
    // Translated from 1.15 only; under older profiles a variant using it is refused before
    // rendering (`Variant::unsupported`).
    if let Some(d) = opt_duration(&tcp.and_then(|t| t.max_connection_duration.clone()))
        .filter(|_| profile.has(Behaviour::MaxConnectionDuration))
    {
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
    json!({HTTP_PROTOCOL_OPTIONS: {
        "@type": format!("type.googleapis.com/{HTTP_PROTOCOL_OPTIONS}"),
        "common_http_protocol_options": common,
        "explicit_http_config": {"http_protocol_options": {}}
    }})
}

/// A STATIC cluster's `load_assignment`: `addrs`, one locality.
pub(super) fn endpoints(name: &str, addrs: &[SocketAddr]) -> Value {
    let lb: Vec<Value> = addrs
        .iter()
        .map(|a| json!({"endpoint": {"address": socket(a.ip(), a.port())}}))
        .collect();
    json!({"cluster_name": name, "endpoints": [{"lb_endpoints": lb}]})
}

/// DestinationRule `outlierDetection` → Envoy `outlier_detection`, and `minHealthPercent`
/// (default 0) → `healthy_panic_threshold`, as the profile's istiod mapped them
/// ([`Behaviour::Consecutive5xxErrors`], [`Behaviour::OutlierSuccessRateOff`]).
fn apply_outlier_detection(
    c: &mut Map<String, Value>,
    profile: &Profile,
    dr: Option<&DestinationRule>,
) {
    let Some(od) = dr
        .and_then(|d| d.traffic_policy.as_ref())
        .and_then(|t| t.outlier_detection.as_ref())
    else {
        return;
    };
    let mut o = Map::new();
    if profile.has(Behaviour::Consecutive5xxErrors) {
        // v1alpha3/cluster.go@1.13.0 L637-659: each count enforced when > 0; unset leaves
        // Envoy's defaults (consecutive_5xx 5, enforced).
        let mut count = |n: Option<u32>, field: &str, enforcing: &str| {
            if let Some(n) = n {
                o.insert(field.into(), json!(n));
                o.insert(enforcing.into(), json!(if n > 0 { 100 } else { 0 }));
            }
        };
        count(
            od.consecutive_5xx_errors,
            "consecutive_5xx",
            "enforcing_consecutive_5xx",
        );
        count(
            od.consecutive_gateway_errors,
            "consecutive_gateway_failure",
            "enforcing_consecutive_gateway_failure",
        );
    } else if let Some(n) = od.consecutive_errors {
        // v1alpha3/cluster.go@1.4.0 L990-995: "Only listen to gateway errors".
        o.insert("consecutive_gateway_failure".into(), json!(n));
        o.insert("enforcing_consecutive_gateway_failure".into(), json!(100));
        o.insert("enforcing_consecutive_5xx".into(), json!(0));
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
    if profile.has(Behaviour::OutlierSuccessRateOff) {
        o.insert("enforcing_success_rate".into(), json!(0));
    }
    c.insert("outlier_detection".into(), Value::Object(o));
    c.insert(
        "common_lb_config".into(),
        json!({"healthy_panic_threshold": {"value": od.min_health_percent.unwrap_or(0)}}),
    );
}
