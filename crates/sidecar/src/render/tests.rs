use std::path::PathBuf;

use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::{
    profile, Behaviour, IstioObjects, IstioVersion, ProxyMetadata, ServicePort,
};

use super::*;

fn svc() -> Service {
    Service {
        host: "srv-a.default.svc.cluster.local".into(),
        port: 80,
        target_port: 8080,
    }
}

/// A client sidecar calling the service `s` on one endpoint.
fn client_of<'a>(p: &'a Profile, objs: &'a IstioObjects, s: &'a Service) -> SidecarSpec<'a> {
    SidecarSpec::client(
        p,
        objs,
        PathBuf::from("/tmp/c.log"),
        OutboundSpec {
            service: Some((s, vec!["127.0.0.1:15006".parse().unwrap()])),
            external: vec![],
        },
    )
}

fn istio(yaml: &str) -> IstioObjects {
    IstioObjects::parse(&yaml_serde::from_str::<Vec<yaml_serde::Value>>(yaml).unwrap()).unwrap()
}

/// Whether the istiod of `version` translates every field `yaml`'s objects use.
fn translated(yaml: &str, version: IstioVersion) -> String {
    let objects = istio(yaml);
    format!(
        "translated: {}",
        objects.requires().iter().all(|s| s.holds_for(version))
    )
}

fn server(profile: &Profile, istio: &IstioObjects, svc: &Service) -> Value {
    render(&SidecarSpec {
        pod: "srv-a-0".into(),
        profile,
        istio,
        access_log: PathBuf::from("/tmp/x.log"),
        inbound: Some(InboundSpec {
            service: svc,
            app: "127.0.0.1:8080".parse().unwrap(),
        }),
        outbound: None,
        runtime: Default::default(),
        capture: None,
        service_port: Default::default(),
        proxy_metadata: Default::default(),
        protocol_detection_timeout_ms: None,
        secrets: None,
    })
}

fn secrets() -> Option<WorkloadSecrets> {
    Some(WorkloadSecrets {
        default: PathBuf::from("/certs/sds-default.json"),
        root: PathBuf::from("/certs/sds-rootca.json"),
    })
}

#[test]
fn inbound_cluster_is_named_by_era() {
    let s = svc();
    let none = IstioObjects::default();
    let old = server(&profile::by_name("istio-1.4").unwrap(), &none, &s);
    assert_eq!(
        old["static_resources"]["clusters"][0]["name"],
        "inbound|80|http|srv-a.default.svc.cluster.local"
    );
    let new = server(&profile::by_name("istio-1.13").unwrap(), &none, &s);
    assert_eq!(
        new["static_resources"]["clusters"][0]["name"],
        "inbound|8080||"
    );
    let cb = &new["static_resources"]["clusters"][0]["circuit_breakers"]["thresholds"][0];
    assert_eq!(cb["max_retries"], u32::MAX);
}

#[test]
fn destination_rule_pool_reaches_the_inbound_cluster() {
    let s = svc();
    let objs = istio(
        "- {apiVersion: networking.istio.io/v1beta1, kind: DestinationRule, metadata: {name: a}, spec: {host: srv-a, trafficPolicy: {connectionPool: {http: {idleTimeout: 15ms, maxRequestsPerConnection: 10}, tcp: {maxConnectionDuration: 150ms}}}}}",
    );
    // maxConnectionDuration is translated from Istio 1.15 on.
    let cfg = server(&profile::by_name("istio-1.24").unwrap(), &objs, &s);
    let opts =
        &http_options(&cfg["static_resources"]["clusters"][0])["common_http_protocol_options"];
    assert_eq!(opts["idle_timeout"], "0.015s");
    assert_eq!(opts["max_requests_per_connection"], 10);
    assert_eq!(opts["max_connection_duration"], "0.15s");
}

#[test]
fn istio_1_24_retries_inbound_reset_before_request() {
    let s = svc();
    let none = IstioObjects::default();
    let cfg = server(&profile::by_name("istio-1.24").unwrap(), &none, &s);
    let hcm =
        &cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    let route = &hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"];
    assert_eq!(route["retry_policy"]["retry_on"], "reset-before-request");
    let old = server(&profile::by_name("istio-1.13").unwrap(), &none, &s);
    let hcm =
        &old["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"];
    assert!(
        hcm["route_config"]["virtual_hosts"][0]["routes"][0]["route"]["retry_policy"].is_null()
    );
}

#[test]
fn default_retry_policy_follows_the_profile_and_virtual_service() {
    let p14 = profile::by_name("istio-1.4").unwrap();
    let p124 = profile::by_name("istio-1.24").unwrap();
    let d = route::retry_policy(&p14, None).unwrap();
    assert_eq!(d["num_retries"], 2);
    assert_eq!(d["retriable_status_codes"], json!([503]));
    assert!(route::retry_policy(&p124, None).unwrap()["retriable_status_codes"].is_null());
    let objs = istio(
        "- {apiVersion: networking.istio.io/v1beta1, kind: VirtualService, metadata: {name: a}, spec: {hosts: [srv-a], http: [{route: [{destination: {host: srv-a}}], retries: {attempts: 3, retryOn: 'reset,503'}}]}}",
    );
    let r = objs.http_routes("srv-a.default.svc.cluster.local").unwrap()[0]
        .retries
        .as_ref();
    let p = route::retry_policy(&p124, r).unwrap();
    assert_eq!(p["retry_on"], "reset,retriable-status-codes");
    assert_eq!(p["retriable_status_codes"], json!([503]));
    assert_eq!(p["num_retries"], 3);
    let off = istio(
        "- {apiVersion: networking.istio.io/v1beta1, kind: VirtualService, metadata: {name: a}, spec: {hosts: [srv-a], http: [{route: [{destination: {host: srv-a}}], retries: {attempts: 0}}]}}",
    );
    assert!(
        route::retry_policy(&p14, off.http_routes("srv-a").unwrap()[0].retries.as_ref()).is_none()
    );
}

#[test]
fn passthrough_route_has_15s_timeout_only_in_old_istio() {
    let none = IstioObjects::default();
    for (name, want) in [("istio-1.4", "15s"), ("istio-1.13", "0s")] {
        let p = profile::by_name(name).unwrap();
        let cfg = render(&SidecarSpec {
            pod: "client".into(),
            profile: &p,
            istio: &none,
            access_log: PathBuf::from("/tmp/c.log"),
            inbound: None,
            outbound: Some(OutboundSpec {
                service: None,
                external: vec![],
            }),
            runtime: Default::default(),
            capture: None,
            service_port: Default::default(),
            proxy_metadata: Default::default(),
            protocol_detection_timeout_ms: None,
            secrets: None,
        });
        let hcm = &cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"];
        let vh = &hcm["route_config"]["virtual_hosts"][0];
        assert_eq!(vh["name"], "allow_any");
        assert_eq!(vh["routes"][0]["route"]["timeout"], want, "{name}");
        let pc = &cfg["static_resources"]["clusters"][0];
        assert_eq!(pc["name"], "PassthroughCluster");
        assert_eq!(pc["type"], "ORIGINAL_DST");
    }
}

/// Everything a version can change, rendered once: a server sidecar and a client sidecar
/// calling the service (with a DestinationRule and a VirtualService) and an external host
/// behind a `resolution: DNS` ServiceEntry.
struct Both {
    server: Value,
    client: Value,
    /// The server in a pod whose traffic is captured (the netns mode).
    captured: Value,
}

const ALL_OBJECTS: &str = r#"
- apiVersion: networking.istio.io/v1beta1
  kind: DestinationRule
  metadata: {name: a}
  spec:
    host: srv-a
    trafficPolicy:
      connectionPool: {tcp: {maxConnectionDuration: 150ms}}
      outlierDetection: {consecutiveErrors: 3, consecutive5xxErrors: 3, interval: 1s}
- apiVersion: networking.istio.io/v1beta1
  kind: VirtualService
  metadata: {name: a}
  spec: {hosts: [srv-a], http: [{name: retried, route: [{destination: {host: srv-a}}], retries: {attempts: 2, retryOn: 'reset,503'}}]}
- apiVersion: networking.istio.io/v1beta1
  kind: ServiceEntry
  metadata: {name: e}
  spec: {hosts: [external.service.com], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}
"#;

fn both(version: IstioVersion, objs: &IstioObjects) -> Both {
    let p = Profile::at("test", version, "");
    let s = svc();
    let mut server = SidecarSpec::server(
        "srv-a-0",
        &p,
        objs,
        PathBuf::from("/tmp/x.log"),
        InboundSpec {
            service: &s,
            app: "127.0.0.1:8080".parse().unwrap(),
        },
    );
    server.secrets = secrets();
    let server = render(&server);
    let client = render(&SidecarSpec {
        pod: "client".into(),
        profile: &p,
        istio: objs,
        access_log: PathBuf::from("/tmp/c.log"),
        inbound: None,
        outbound: Some(OutboundSpec {
            service: Some((&s, vec!["127.0.0.1:15006".parse().unwrap()])),
            external: vec![ExternalService {
                host: "external.service.com".into(),
                port: 80,
                endpoint_port: 80,
                dns: "127.0.0.1:5353".parse().unwrap(),
                dns_refresh: None,
            }],
        }),
        runtime: Default::default(),
        capture: None,
        service_port: Default::default(),
        proxy_metadata: Default::default(),
        protocol_detection_timeout_ms: None,
        secrets: secrets(),
    });
    let mut captured = SidecarSpec::server(
        "srv-a-0",
        &p,
        objs,
        PathBuf::from("/tmp/x.log"),
        InboundSpec {
            service: &s,
            app: "127.0.0.1:8080".parse().unwrap(),
        },
    );
    captured.capture = Some(PodCapture {
        pod_ip: "10.44.0.2".parse().unwrap(),
    });
    let captured = render(&captured);
    Both {
        server,
        client,
        captured,
    }
}

fn cluster<'a>(cfg: &'a Value, name: &str) -> &'a Value {
    cfg["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["name"] == name
                || (name == "inbound" && c["name"].as_str().unwrap().starts_with("inbound|"))
        })
        .unwrap_or_else(|| panic!("no cluster {name}"))
}

fn vhost<'a>(cfg: &'a Value, name: &str) -> &'a Value {
    cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        ["route_config"]["virtual_hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name || name == "inbound")
        .unwrap_or_else(|| panic!("no virtual host {name}"))
}

/// What `behaviour` changes in the rendered configuration, as a short string.
fn observe(b: Behaviour, r: &Both, version: IstioVersion) -> String {
    let svc_cluster = "outbound|80||srv-a.default.svc.cluster.local";
    let dns = cluster(&r.client, "outbound|80||external.service.com");
    let od = &cluster(&r.client, svc_cluster)["outlier_detection"];
    let text = |v: &Value| v.to_string();
    let log = r.client["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["access_log"][0]
        .to_string();
    match b {
        Behaviour::MaxUint32CircuitBreakers => text(
            &cluster(&r.client, svc_cluster)["circuit_breakers"]["thresholds"][0]["max_retries"],
        ),
        Behaviour::RouteNameInAccessLog => format!("route: {}", log.contains("%ROUTE_NAME%")),
        Behaviour::RouteNames => format!(
            "{} {}",
            vhost(&r.server, "inbound")["routes"][0]["name"],
            vhost(&r.client, "srv-a.default.svc.cluster.local:80")["routes"][0]["name"]
        ),
        Behaviour::RespectDnsTtl => text(&dns["respect_dns_ttl"]),
        Behaviour::HelmDnsRefresh300s
        | Behaviour::ChartsDropDnsRefresh
        | Behaviour::DnsRefresh60s => text(&dns["dns_refresh_rate"]),
        Behaviour::PassthroughNoRouteTimeout => {
            text(&vhost(&r.client, "allow_any")["routes"][0]["route"]["timeout"])
        }
        Behaviour::AllowAnyRouteNamed => text(&vhost(&r.client, "allow_any")["routes"][0]["name"]),
        Behaviour::RetryWithoutResourceExhausted => {
            let p = Profile::at("test", version, "");
            text(&route::retry_policy(&p, None).unwrap()["retry_on"])
        }
        Behaviour::Consecutive5xxErrors => format!(
            "{} {}",
            od["consecutive_5xx"], od["consecutive_gateway_failure"]
        ),
        Behaviour::OutlierSuccessRateOff => text(&od["enforcing_success_rate"]),
        Behaviour::InboundTargetPortNames => text(&cluster(&r.server, "inbound")["name"]),
        Behaviour::TrackRemaining => text(
            &cluster(&r.client, svc_cluster)["circuit_breakers"]["thresholds"][0]
                ["track_remaining"],
        ),
        Behaviour::InboundPassthrough => text(&cluster(&r.captured, "inbound")["type"]),
        Behaviour::VirtualInboundListener => {
            let l = &r.captured["static_resources"]["listeners"];
            format!(
                "{} {} {}",
                l[0]["name"], l[0]["address"]["socket_address"]["port_value"], l[1]["name"]
            )
        }
        Behaviour::VsRetryAddsRetriableStatusCodes => text(
            &vhost(&r.client, "srv-a.default.svc.cluster.local:80")["routes"][0]["route"]
                ["retry_policy"]["retry_on"],
        ),
        Behaviour::DnsRoundRobin => translated("- {apiVersion: networking.istio.io/v1beta1, kind: ServiceEntry, metadata: {name: e}, spec: {hosts: [x], ports: [{number: 80, name: http}], resolution: DNS_ROUND_ROBIN}}", version),
        Behaviour::SidecarOutboundTrafficPolicy => translated("- {apiVersion: networking.istio.io/v1alpha3, kind: Sidecar, metadata: {name: s}, spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}}", version),
        Behaviour::H2UpgradePolicy => translated("- {apiVersion: networking.istio.io/v1beta1, kind: DestinationRule, metadata: {name: a}, spec: {host: srv-a, trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}}}", version),
        Behaviour::PeerAuthentication => translated("- {apiVersion: security.istio.io/v1beta1, kind: PeerAuthentication, metadata: {name: a}, spec: {mtls: {mode: STRICT}}}", version),
        Behaviour::AutoMtls => {
            let c = cluster(&r.client, svc_cluster);
            format!(
                "{} {}",
                c["transport_socket_matches"][0]["name"],
                c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["metadata"]
                    ["filter_metadata"]["envoy.transport_socket_match"]["tlsMode"]
            )
        }
        Behaviour::TlsV13Params => {
            let up = &cluster(&r.client, svc_cluster)["transport_socket_matches"][0]
                ["transport_socket"]["typed_config"]["common_tls_context"];
            let down = &r.server["static_resources"]["listeners"][0]["filter_chains"][0]
                ["transport_socket"]["typed_config"]["common_tls_context"];
            format!(
                "{} {}",
                up["tls_params"]["tls_maximum_protocol_version"],
                down["tls_params"]["tls_maximum_protocol_version"]
            )
        }
        Behaviour::AlpnH2PeerExchange => {
            let p = Profile::at("test", version, "");
            let (s, none) = (svc(), IstioObjects::default());
            let alpn = |port: &str| {
                let mut client = client_of(&p, &none, &s);
                client.service_port = ServicePort {
                    name: port.into(),
                    app_protocol: None,
                };
                client.secrets = secrets();
                let cfg = render(&client);
                text(
                    &cluster(&cfg, svc_cluster)["transport_socket_matches"][0]["transport_socket"]
                        ["typed_config"]["common_tls_context"]["alpn_protocols"],
                )
            };
            format!("{} {}", alpn("grpc"), alpn("http"))
        }
        Behaviour::ListenerNrAccessLog => {
            text(&r.server["static_resources"]["listeners"][0]["access_log"][0]["filter"])
        }
        Behaviour::AuthorizationPolicy => translated("- {apiVersion: security.istio.io/v1beta1, kind: AuthorizationPolicy, metadata: {name: a}, spec: {rules: [{to: [{operation: {methods: [GET]}}]}]}}", version),
        Behaviour::ImmediateDrainStrategy => {
            let p = Profile::at("test", version, "");
            format!(
                "immediate: {}",
                crate::Drain::of(&p, std::time::Duration::from_secs(45)).immediate
            )
        }
        Behaviour::ListenerTrafficDirection => format!(
            "{} {}",
            r.server["static_resources"]["listeners"][0]["traffic_direction"],
            r.client["static_resources"]["listeners"][0]["traffic_direction"]
        ),
        Behaviour::InboundOnlyTerminationDrain => {
            let p = Profile::at("test", version, "");
            format!(
                "inbound only: {}",
                crate::TerminationDrain::of(&p).inbound_only
            )
        }
        Behaviour::GracefulTerminationDrain => {
            let p = Profile::at("test", version, "");
            format!("graceful: {}", crate::TerminationDrain::of(&p).graceful)
        }
        Behaviour::ExitOnZeroActiveConnections => {
            let topology: mesh5xx_scenario::model::Topology =
                yaml_serde::from_str("pod: {exit_on_zero_active_connections: true}").unwrap();
            format!(
                "injected: {}",
                topology.requires().iter().all(|s| s.holds_for(version))
            )
        }
        Behaviour::HoldApplicationUntilProxyStarts | Behaviour::NativeSidecar => {
            let field = match b {
                Behaviour::NativeSidecar => "native_sidecar",
                _ => "hold_application_until_proxy_starts",
            };
            let pod = format!("client_pod: {{config_delay_ms: 1, {field}: true}}");
            let topology: mesh5xx_scenario::model::Topology = yaml_serde::from_str(&pod).unwrap();
            format!(
                "injected: {}",
                topology.requires().iter().all(|s| s.holds_for(version))
            )
        }
        Behaviour::LeastRequestDefault => text(&cluster(&r.client, svc_cluster)["lb_policy"]),
        Behaviour::MaxConnectionDuration => text(
            &http_options(cluster(&r.client, svc_cluster))
                ["common_http_protocol_options"]["max_connection_duration"],
        ),
        Behaviour::PassthroughDownstreamProtocol => {
            upstream_protocol(cluster(&r.client, "PassthroughCluster")).into()
        }
        Behaviour::PassthroughIdleTimeout5m => text(
            &http_options(cluster(&r.client, "PassthroughCluster"))
                ["common_http_protocol_options"]["idle_timeout"],
        ),
        Behaviour::ResponseDetailsLogFormat => {
            format!("details: {}", log.contains("%RESPONSE_CODE_DETAILS%"))
        }
        Behaviour::UpstreamClusterRaw => format!("raw: {}", log.contains("%UPSTREAM_CLUSTER_RAW%")),
        Behaviour::InboundRetryResetBeforeRequest => {
            text(&vhost(&r.server, "inbound")["routes"][0]["route"]["retry_policy"]["retry_on"])
        }
        Behaviour::Default503NotRetried => {
            let p = Profile::at("test", version, "");
            text(&route::retry_policy(&p, None).unwrap()["retriable_status_codes"])
        }
        Behaviour::OutboundProtocolSniffing | Behaviour::InboundProtocolSniffing => {
            let (client, server) = sniffed(version, "web");
            let l = if b == Behaviour::OutboundProtocolSniffing {
                client
            } else {
                server
            };
            let names: Vec<&str> = l["listener_filters"]
                .as_array()
                .map(|f| f.iter().map(|f| f["name"].as_str().unwrap()).collect())
                .unwrap_or_default();
            format!("{names:?} {}", l["filter_chains"].as_array().unwrap().len())
        }
        Behaviour::UseDownstreamProtocol => {
            let (client, server) = port_configs(version, "web", &IstioObjects::default());
            format!(
                "{} {}",
                upstream_protocol(cluster(&client, svc_cluster)),
                upstream_protocol(cluster(&server, "inbound"))
            )
        }
        Behaviour::H2UpgradeAnyPort => {
            let (client, _) = port_configs(version, "web", &istio(H2_UPGRADE));
            upstream_protocol(cluster(&client, svc_cluster)).into()
        }
        Behaviour::H2DefaultMaxStreams => {
            let (client, server) = port_configs(version, "grpc", &IstioObjects::default());
            let h2 = |c: &Value| {
                text(
                    &http_options(c)
                        ["explicit_http_config"]["http2_protocol_options"],
                )
            };
            format!(
                "{} {}",
                h2(cluster(&client, svc_cluster)),
                h2(cluster(&server, "inbound"))
            )
        }
        Behaviour::PassthroughHttp2Options => text(
            &http_options(cluster(&r.client, "PassthroughCluster"))
                ["use_downstream_protocol_config"]["http2_protocol_options"],
        ),
        Behaviour::SniffRawBufferMatch | Behaviour::SniffNoHttp10Alpn => text(
            &sniffed(version, "web").0["filter_chains"][1]["filter_chain_match"],
        ),
        Behaviour::AppProtocol => {
            let topology: mesh5xx_scenario::model::Topology =
                yaml_serde::from_str("service_port: {name: smtp, app_protocol: tcp}").unwrap();
            format!(
                "translated: {}",
                topology.requires().iter().all(|s| s.holds_for(version))
            )
        }
        Behaviour::ProtocolDetectionTimeout5s | Behaviour::ProtocolDetectionTimeoutOff => {
            text(&sniffed(version, "web").0["listener_filters_timeout"])
        }
        // Not rendered here: the lab's control plane picks the ADS API off the profile
        // (crates/lab/src/control_plane.rs, tested there; the delta stream against a real Envoy in
        // crates/xds/tests/it).
        Behaviour::DeltaXds => {
            let p = Profile::at("test", version, "");
            format!("delta: {}", p.has(Behaviour::DeltaXds))
        }
    }
}

/// The client's outbound and the server's inbound listener of `version` for a service port
/// named `name`.
fn sniffed(version: IstioVersion, name: &str) -> (Value, Value) {
    let (client, server) = port_configs(version, name, &IstioObjects::default());
    let listener = |cfg: Value| cfg["static_resources"]["listeners"][0].clone();
    (listener(client), listener(server))
}

const H2_UPGRADE: &str = "- {apiVersion: networking.istio.io/v1beta1, kind: DestinationRule, metadata: {name: a}, spec: {host: srv-a, trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}}}";

/// The `HttpProtocolOptions` of cluster `c`.
fn http_options(c: &Value) -> &Value {
    &c["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
}

/// The upstream protocol of cluster `c`: `h2` (explicit), `downstream`
/// (use_downstream_protocol_config, with both HTTP/1.1 and HTTP/2 options) or `h1`.
fn upstream_protocol(c: &Value) -> &'static str {
    let opts = http_options(c);
    let explicit = &opts["explicit_http_config"];
    let downstream = &opts["use_downstream_protocol_config"];
    assert!(
        explicit.is_null() || downstream.is_null(),
        "one upstream protocol: {opts}"
    );
    if !explicit["http2_protocol_options"].is_null() {
        "h2"
    } else if !downstream.is_null() {
        assert_eq!(
            downstream["http_protocol_options"],
            json!({}),
            "{downstream}"
        );
        assert!(
            downstream["http2_protocol_options"].is_object(),
            "{downstream}"
        );
        "downstream"
    } else {
        "h1"
    }
}

/// The client's and the server's whole configuration of `version` for a service port named
/// `name`, with `objs`.
fn port_configs(version: IstioVersion, name: &str, objs: &IstioObjects) -> (Value, Value) {
    let p = Profile::at("test", version, "");
    let s = svc();
    let port = ServicePort {
        name: name.into(),
        app_protocol: None,
    };
    let mut server = SidecarSpec::server(
        "srv-a-0",
        &p,
        objs,
        PathBuf::from("/tmp/s.log"),
        InboundSpec {
            service: &s,
            app: "127.0.0.1:8080".parse().unwrap(),
        },
    );
    server.service_port = port.clone();
    let mut client = client_of(&p, objs, &s);
    client.service_port = port;
    (render(&client), render(&server))
}

/// Golden values, one row of the behaviour table each: what the rendering shows in the last
/// release before the row and in its first release.
fn golden(b: Behaviour) -> (&'static str, &'static str) {
    match b {
        Behaviour::MaxUint32CircuitBreakers => ("1024", "4294967295"),
        Behaviour::RouteNameInAccessLog => ("route: false", "route: true"),
        Behaviour::RouteNames => ("null null", "\"default\" \"retried\""),
        Behaviour::RespectDnsTtl => ("false", "true"),
        Behaviour::HelmDnsRefresh300s => ("\"5s\"", "\"300s\""),
        Behaviour::ChartsDropDnsRefresh => ("\"300s\"", "\"5s\""),
        Behaviour::DnsRefresh60s => ("\"5s\"", "\"60s\""),
        Behaviour::PassthroughNoRouteTimeout => ("\"15s\"", "\"0s\""),
        Behaviour::AllowAnyRouteNamed => ("null", "\"allow_any\""),
        Behaviour::RetryWithoutResourceExhausted => (
            "\"connect-failure,refused-stream,unavailable,cancelled,resource-exhausted,retriable-status-codes\"",
            "\"connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes\"",
        ),
        Behaviour::Consecutive5xxErrors => ("null 3", "3 null"),
        Behaviour::OutlierSuccessRateOff => ("null", "0"),
        Behaviour::InboundTargetPortNames => ("\"inbound|80|http|srv-a.default.svc.cluster.local\"", "\"inbound|8080||\""),
        Behaviour::TrackRemaining => ("null", "true"),
        Behaviour::InboundPassthrough => ("\"STATIC\"", "\"ORIGINAL_DST\""),
        Behaviour::VirtualInboundListener => (
            "\"10.44.0.2_8080\" 8080 \"virtual\"",
            "\"virtualInbound\" 15006 \"virtualOutbound\"",
        ),
        Behaviour::VsRetryAddsRetriableStatusCodes => ("\"reset\"", "\"reset,retriable-status-codes\""),
        Behaviour::DnsRoundRobin => ("translated: false", "translated: true"),
        Behaviour::AuthorizationPolicy => ("translated: false", "translated: true"),
        Behaviour::H2UpgradePolicy => ("translated: false", "translated: true"),
        Behaviour::SidecarOutboundTrafficPolicy => ("translated: false", "translated: true"),
        Behaviour::ImmediateDrainStrategy => ("immediate: false", "immediate: true"),
        Behaviour::ListenerTrafficDirection => ("null null", "\"INBOUND\" \"OUTBOUND\""),
        Behaviour::InboundOnlyTerminationDrain => ("inbound only: false", "inbound only: true"),
        Behaviour::GracefulTerminationDrain => ("graceful: false", "graceful: true"),
        Behaviour::HoldApplicationUntilProxyStarts
        | Behaviour::NativeSidecar
        | Behaviour::ExitOnZeroActiveConnections => ("injected: false", "injected: true"),
        Behaviour::LeastRequestDefault => ("\"ROUND_ROBIN\"", "\"LEAST_REQUEST\""),
        Behaviour::MaxConnectionDuration => ("null", "\"0.15s\""),
        Behaviour::PassthroughDownstreamProtocol => ("h1", "downstream"),
        Behaviour::PassthroughIdleTimeout5m => ("null", "\"300s\""),
        Behaviour::ResponseDetailsLogFormat => ("details: false", "details: true"),
        Behaviour::UpstreamClusterRaw => ("raw: false", "raw: true"),
        Behaviour::InboundRetryResetBeforeRequest => ("null", "\"reset-before-request\""),
        Behaviour::Default503NotRetried => ("[503]", "null"),
        Behaviour::DeltaXds => ("delta: false", "delta: true"),
        Behaviour::PeerAuthentication => ("translated: false", "translated: true"),
        Behaviour::AutoMtls => ("null null", "\"tlsMode-istio\" \"istio\""),
        Behaviour::TlsV13Params => ("null null", "\"TLSv1_3\" \"TLSv1_3\""),
        Behaviour::AlpnH2PeerExchange => (
            r#"["istio","h2"] ["istio-peer-exchange","istio"]"#,
            r#"["istio-peer-exchange","istio","h2"] ["istio-peer-exchange","istio"]"#,
        ),
        Behaviour::ListenerNrAccessLog => ("null", r#"{"response_flag_filter":{"flags":["NR"]}}"#),
        Behaviour::OutboundProtocolSniffing => (
            "[] 1",
            r#"["envoy.filters.listener.tls_inspector", "envoy.filters.listener.http_inspector"] 2"#,
        ),
        Behaviour::InboundProtocolSniffing => ("[] 1", r#"["envoy.filters.listener.http_inspector"] 2"#),
        Behaviour::AppProtocol => ("translated: false", "translated: true"),
        Behaviour::UseDownstreamProtocol => ("h1 h1", "downstream h1"),
        Behaviour::H2UpgradeAnyPort => ("downstream", "h2"),
        Behaviour::H2DefaultMaxStreams => (
            r#"{"max_concurrent_streams":1073741824} {"max_concurrent_streams":1073741824}"#,
            "{} {}",
        ),
        Behaviour::PassthroughHttp2Options => ("{}", r#"{"max_concurrent_streams":1073741824}"#),
        Behaviour::SniffRawBufferMatch => (
            r#"{"application_protocols":["http/1.0","http/1.1","h2"]}"#,
            r#"{"application_protocols":["http/1.0","http/1.1","h2c"],"transport_protocol":"raw_buffer"}"#,
        ),
        Behaviour::SniffNoHttp10Alpn => (
            r#"{"application_protocols":["http/1.0","http/1.1","h2c"],"transport_protocol":"raw_buffer"}"#,
            r#"{"application_protocols":["http/1.1","h2c"],"transport_protocol":"raw_buffer"}"#,
        ),
        Behaviour::ProtocolDetectionTimeout5s => ("\"0.1s\"", "\"5s\""),
        Behaviour::ProtocolDetectionTimeoutOff => ("\"5s\"", "\"0s\""),
    }
}

/// REGISTRY_ONLY replaces `allow_any` by `block_all`, a 502 direct response; a host with a
/// ServiceEntry keeps its own virtual host in front of it.
#[test]
fn registry_only_blocks_what_has_no_service_entry() {
    let sidecar = "- {apiVersion: networking.istio.io/v1alpha3, kind: Sidecar, metadata: {name: s}, spec: {outboundTrafficPolicy: {mode: REGISTRY_ONLY}}}\n";
    let objs = istio(&format!("{ALL_OBJECTS}{sidecar}"));
    for (minor, name) in [(4, Value::Null), (6, json!("block_all"))] {
        let r = both(IstioVersion::v1(minor), &objs);
        let vhosts = r.client["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
            ["typed_config"]["route_config"]["virtual_hosts"]
            .as_array()
            .unwrap()
            .clone();
        let names: Vec<&str> = vhosts.iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(names.last(), Some(&"block_all"), "{names:?}");
        assert!(names.contains(&"external.service.com:80") && !names.contains(&"allow_any"));
        let route = &vhost(&r.client, "block_all")["routes"][0];
        assert_eq!(route["direct_response"], json!({"status": 502}));
        assert_eq!(route["name"], name, "1.{minor}");
    }
    let allow = both(IstioVersion::v1(24), &istio(ALL_OBJECTS));
    assert_eq!(
        vhost(&allow.client, "allow_any")["routes"][0]["route"]["cluster"],
        "PassthroughCluster"
    );
}

/// A VirtualService gives one route per `match`, in order, up to a route that takes every
/// request; a route to a subset names the subset's cluster, which only a DestinationRule's
/// `subsets` create.
#[test]
fn virtual_service_matches_and_subsets_become_routes_and_clusters() {
    let vs = "- {apiVersion: networking.istio.io/v1alpha3, kind: VirtualService, metadata: {name: a}, spec: {hosts: [srv-a], http: [{name: v1, match: [{uri: {prefix: /v1/}}, {uri: {exact: /health}}], route: [{destination: {host: srv-a, subset: v2}}]}, {name: rest, route: [{destination: {host: srv-a}}]}, {name: never, route: [{destination: {host: srv-a}}]}]}}\n";
    let dr = "- {apiVersion: networking.istio.io/v1alpha3, kind: DestinationRule, metadata: {name: a}, spec: {host: srv-a, subsets: [{name: v2, labels: {app: srv-a}}]}}\n";
    let svc_cluster = "outbound|80||srv-a.default.svc.cluster.local";
    let subset_cluster = "outbound|80|v2|srv-a.default.svc.cluster.local";
    let r = both(IstioVersion::v1(24), &istio(vs));
    let routes = vhost(&r.client, "srv-a.default.svc.cluster.local:80")["routes"]
        .as_array()
        .unwrap()
        .clone();
    let seen: Vec<(String, String, String)> = routes
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["match"].to_string(),
                r["route"]["cluster"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let row = |n: &str, m: &str, c: &str| (n.to_string(), m.to_string(), c.to_string());
    assert_eq!(
        seen,
        [
            row("v1", r#"{"prefix":"/v1/"}"#, subset_cluster),
            row("v1", r#"{"path":"/health"}"#, subset_cluster),
            row("rest", r#"{"prefix":"/"}"#, svc_cluster),
        ]
    );
    let has = |cfg: &Value, name: &str| {
        cfg["static_resources"]["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == name)
    };
    assert!(!has(&r.client, subset_cluster));
    let with_dr = both(IstioVersion::v1(24), &istio(&format!("{vs}{dr}")));
    assert!(has(&with_dr.client, subset_cluster) && has(&with_dr.client, svc_cluster));
}

#[test]
fn every_row_of_the_version_table_renders_its_golden_values() {
    let objs = istio(ALL_OBJECTS);
    for row in mesh5xx_scenario::versions::TABLE {
        let (before, after) = golden(row.behaviour);
        let at = row.since;
        assert_eq!(
            observe(row.behaviour, &both(at, &objs), at),
            after,
            "{:?} at {at}",
            row.behaviour
        );
        let prev = IstioVersion::v1(at.minor - 1);
        assert_eq!(
            observe(row.behaviour, &both(prev, &objs), prev),
            before,
            "{:?} at {prev}",
            row.behaviour
        );
    }
}

#[test]
fn an_authorization_policy_is_an_rbac_filter_before_the_router_on_the_inbound_listener() {
    let p = profile::by_name("istio-1.24").unwrap();
    let objects = istio(
        "- {apiVersion: security.istio.io/v1beta1, kind: AuthorizationPolicy, metadata: {name: allow-get, namespace: default}, spec: {action: ALLOW, rules: [{to: [{operation: {methods: [GET, HEAD]}}]}]}}
- {apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: {name: nothing}, spec: {action: DENY}}",
    );
    let cfg = server(&p, &objects, &svc());
    let filters = &cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
        ["typed_config"]["http_filters"];
    let names: Vec<&str> = filters
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "envoy.filters.http.rbac",
            "envoy.filters.http.rbac",
            "envoy.filters.http.router"
        ]
    );
    // DENY first, then ALLOW (builder.go@1.24.0 L115-122); a policy without rules never
    // matches (L240-245).
    let deny = &filters[0]["typed_config"]["rules"];
    assert_eq!(deny["action"], "DENY");
    assert!(
        deny["policies"]["ns[default]-policy[nothing]-rule[0]"]["permissions"][0]["not_rule"]
            ["any"]
            .as_bool()
            .unwrap()
    );
    let allow = &filters[1]["typed_config"]["rules"];
    assert_eq!(allow["action"], "ALLOW");
    let methods = &allow["policies"]["ns[default]-policy[allow-get]-rule[0]"]["permissions"][0]
        ["and_rules"]["rules"][0]["or_rules"]["rules"];
    assert_eq!(methods[1]["header"]["string_match"]["exact"], "HEAD");
    // Without a policy: the router alone.
    let plain = server(&p, &IstioObjects::default(), &svc());
    assert_eq!(
        plain["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
            ["http_filters"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The protocol of each cluster of the service ([`upstream_protocol`]).
fn protocols(cfg: &Value) -> Vec<(String, &'static str)> {
    cfg["static_resources"]["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] != "PassthroughCluster")
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                upstream_protocol(c),
            )
        })
        .collect()
}

/// An http2 or grpc port is HTTP/2 on both sidecars' clusters, whatever the DestinationRule;
/// `h2UpgradePolicy: UPGRADE` on an http port upgrades the caller's outbound cluster only.
#[test]
fn the_port_protocol_and_h2_upgrade_policy_choose_each_clusters_protocol() {
    let dr = |policy: &str| {
        istio(&format!("- {{apiVersion: networking.istio.io/v1beta1, kind: DestinationRule, metadata: {{name: a}}, spec: {{host: srv-a, trafficPolicy: {{connectionPool: {{http: {{h2UpgradePolicy: {policy}}}}}}}}}}}"))
    };
    let render_both = |name: &str, objs: &IstioObjects| {
        let (client, server) = port_configs(IstioVersion::v1(24), name, objs);
        (protocols(&server)[0].1, protocols(&client)[0].1)
    };
    let none = IstioObjects::default();
    assert_eq!(render_both("http", &none), ("h1", "h1"));
    assert_eq!(render_both("http2", &none), ("h2", "h2"));
    assert_eq!(render_both("grpc-api", &none), ("h2", "h2"));
    assert_eq!(render_both("http2", &dr("DO_NOT_UPGRADE")), ("h2", "h2"));
    assert_eq!(render_both("http", &dr("UPGRADE")), ("h1", "h2"));
    assert_eq!(render_both("http", &dr("DEFAULT")), ("h1", "h1"));
}

/// `ISTIO_META_HTTP10: "1"` sets `accept_http_10` on both sidecars' HTTP connection managers;
/// another value or none leaves Envoy's default (426 for HTTP/1.0).
#[test]
fn http10_metadata_accepts_http10_on_every_http_listener() {
    let p = profile::by_name("istio-1.2").unwrap();
    let none = IstioObjects::default();
    let s = svc();
    for (value, accepted) in [(Some("1"), true), (Some("true"), false), (None, false)] {
        let mut spec = client_of(&p, &none, &s);
        spec.proxy_metadata = ProxyMetadata {
            http10: value.map(Into::into),
        };
        let client = render(&spec);
        let mut server = SidecarSpec::server(
            "srv-a-0",
            &p,
            &none,
            PathBuf::from("/tmp/s.log"),
            InboundSpec {
                service: &s,
                app: "127.0.0.1:8080".parse().unwrap(),
            },
        );
        server.proxy_metadata = spec.proxy_metadata.clone();
        for cfg in [client, render(&server)] {
            let hcm = &cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
                ["typed_config"];
            assert_eq!(
                hcm["http_protocol_options"]["accept_http_10"].as_bool() == Some(true),
                accepted,
                "{value:?}"
            );
        }
    }
}

/// A Sidecar's ingress `defaultEndpoint: 127.0.0.1:PORT` keeps the inbound cluster STATIC to
/// the app's loopback in a captured pod, from Istio 1.10 too (no 127.0.0.6 source, which
/// would be no use to 127.0.0.1); another port's listener, or none, leaves the era's cluster.
#[test]
fn a_sidecar_ingress_default_endpoint_sends_inbound_to_the_loopback_in_every_era() {
    let sidecar = |port: u16, target: &str| {
        istio(&format!(
            "- {{apiVersion: networking.istio.io/v1beta1, kind: Sidecar, metadata: {{name: s}}, spec: {{ingress: [{{port: {{number: {port}, protocol: HTTP, name: http}}, defaultEndpoint: '{target}'}}]}}}}"
        ))
    };
    for name in ["istio-1.4", "istio-1.13", "istio-1.24"] {
        let p = profile::by_name(name).unwrap();
        let version = p.version;
        let loopback = both(version, &sidecar(8080, "127.0.0.1:8080"));
        let c = cluster(&loopback.captured, "inbound");
        assert_eq!(c["type"], "STATIC", "{name}: {c}");
        assert!(c.get("upstream_bind_config").is_none(), "{name}: {c}");
        let addr = &c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
            ["socket_address"];
        assert_eq!(
            (addr["address"].as_str(), addr["port_value"].as_u64()),
            (Some("127.0.0.1"), Some(8080)),
            "{name}"
        );
        let other_port = both(version, &sidecar(9090, "127.0.0.1:9090"));
        let none = both(version, &IstioObjects::default());
        assert_eq!(
            cluster(&other_port.captured, "inbound"),
            cluster(&none.captured, "inbound"),
            "{name}"
        );
    }
    let e = IstioObjects::parse(
        &yaml_serde::from_str::<Vec<yaml_serde::Value>>(
            "- {apiVersion: networking.istio.io/v1beta1, kind: Sidecar, metadata: {name: s}, spec: {ingress: [{port: {number: 8080}, defaultEndpoint: 'unix:///var/run/app.sock'}]}}",
        )
        .unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.0, "istio[0].spec.ingress[0].defaultEndpoint");
    assert!(e.1.contains("127.0.0.1:PORT"), "{}", e.1);
}

/// A sniffed port: the HTTP chain on the inspector's ALPNs, the TCP proxy to the same cluster
/// for the rest; a `tcp` port (or a name that names no protocol on a well-known port) is a TCP
/// proxy only, never sniffed.
#[test]
fn a_port_named_after_no_protocol_is_sniffed_and_a_tcp_port_is_proxied() {
    let v124 = IstioVersion::v1(24);
    let (out, inb) = sniffed(v124, "web");
    let chains = out["filter_chains"].as_array().unwrap();
    assert_eq!(
        chains[0]["filters"][0]["name"],
        "envoy.filters.network.tcp_proxy"
    );
    assert_eq!(
        chains[0]["filters"][0]["typed_config"]["cluster"],
        "outbound|80||srv-a.default.svc.cluster.local"
    );
    assert!(chains[0]["filter_chain_match"].is_null());
    assert_eq!(
        chains[1]["filter_chain_match"],
        json!({"application_protocols": ["http/1.1", "h2c"], "transport_protocol": "raw_buffer"})
    );
    assert_eq!(
        chains[1]["filters"][0]["name"],
        "envoy.filters.network.http_connection_manager"
    );
    assert_eq!(out["continue_on_listener_filters_timeout"], true);
    let chains = inb["filter_chains"].as_array().unwrap();
    assert_eq!(
        chains[1]["filters"][0]["typed_config"]["cluster"],
        "inbound|8080||"
    );
    assert_eq!(
        chains[1]["filter_chain_match"],
        json!({"transport_protocol": "raw_buffer"})
    );
    assert_eq!(inb["listener_filters_timeout"], "0s");
    for name in ["tcp-smtp", "mysql"] {
        let (out, inb) = sniffed(v124, name);
        for l in [out, inb] {
            assert!(l["listener_filters"].is_null(), "{name}");
            let chains = l["filter_chains"].as_array().unwrap();
            assert_eq!(chains.len(), 1, "{name}");
            assert_eq!(
                chains[0]["filters"][0]["name"],
                "envoy.filters.network.tcp_proxy"
            );
        }
    }
    // Istio 1.4 sniffs outbound only, with a 100 ms detection timeout.
    let (out, inb) = sniffed(IstioVersion::v1(4), "web");
    assert_eq!(out["listener_filters_timeout"], "0.1s");
    assert_eq!(inb["filter_chains"].as_array().unwrap().len(), 1);
}

/// `topology.protocol_detection_timeout_ms` replaces the profile's protocolDetectionTimeout;
/// 0 is none.
#[test]
fn the_installs_protocol_detection_timeout_replaces_the_profiles() {
    let p = profile::by_name("istio-1.24").unwrap();
    let none = IstioObjects::default();
    let s = svc();
    for (ms, want) in [(Some(500), "0.5s"), (Some(0), "0s"), (None, "0s")] {
        let mut client = client_of(&p, &none, &s);
        client.service_port = ServicePort {
            name: "web".into(),
            app_protocol: None,
        };
        client.protocol_detection_timeout_ms = ms;
        let l = &render(&client)["static_resources"]["listeners"][0];
        assert_eq!(l["listener_filters_timeout"], want, "{ms:?}");
    }
}

/// The clusters of a sniffed port speak the client's protocol from Istio 1.4 (outbound) and
/// 1.5 (inbound, once inbound sniffing is on); those of an `http` or `tcp` port HTTP/1.1,
/// of a `grpc` port HTTP/2, in every era. `h2UpgradePolicy: UPGRADE` upgrades an http port
/// from 1.6, a sniffed one from 1.10 only.
#[test]
fn a_sniffed_ports_clusters_use_the_downstream_protocol_by_era() {
    let svc_cluster = "outbound|80||srv-a.default.svc.cluster.local";
    let none = IstioObjects::default();
    let seen = |minor: u16, name: &str, objs: &IstioObjects| {
        let (client, server) = port_configs(IstioVersion::v1(minor), name, objs);
        format!(
            "{} {}",
            upstream_protocol(cluster(&client, svc_cluster)),
            upstream_protocol(cluster(&server, "inbound"))
        )
    };
    for (minor, web) in [
        (2, "h1 h1"),
        (3, "h1 h1"),
        (4, "downstream h1"),
        (5, "downstream downstream"),
        (9, "downstream downstream"),
        (10, "downstream downstream"),
        (13, "downstream downstream"),
        (24, "downstream downstream"),
    ] {
        assert_eq!(seen(minor, "web", &none), web, "web at 1.{minor}");
        assert_eq!(seen(minor, "", &none), web, "unnamed at 1.{minor}");
        for name in ["http", "tcp-db", "mysql"] {
            assert_eq!(seen(minor, name, &none), "h1 h1", "{name} at 1.{minor}");
        }
        assert_eq!(seen(minor, "grpc", &none), "h2 h2", "grpc at 1.{minor}");
    }
    // The option sits beside the DestinationRule's common options, in place of
    // explicit_http_config.
    let pool = istio("- {apiVersion: networking.istio.io/v1beta1, kind: DestinationRule, metadata: {name: a}, spec: {host: srv-a, trafficPolicy: {connectionPool: {http: {idleTimeout: 15ms}}}}}");
    let (client, server) = port_configs(IstioVersion::v1(24), "web", &pool);
    for c in [cluster(&client, svc_cluster), cluster(&server, "inbound")] {
        assert_eq!(upstream_protocol(c), "downstream");
        let opts = http_options(c);
        assert_eq!(
            opts["common_http_protocol_options"]["idle_timeout"],
            "0.015s"
        );
    }
    // UPGRADE: an http port from 1.6; a sniffed port keeps the downstream protocol until 1.9;
    // the inbound cluster is never upgraded.
    let up = istio(H2_UPGRADE);
    assert_eq!(seen(6, "http", &up), "h2 h1");
    assert_eq!(seen(9, "web", &up), "downstream downstream");
    assert_eq!(seen(10, "web", &up), "h2 downstream");
    assert_eq!(seen(24, "web", &up), "h2 downstream");
    assert_eq!(seen(24, "tcp-db", &up), "h2 h1");
}
