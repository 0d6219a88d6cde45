//! Every config the renderer produces is accepted by the real Envoy (`--mode validate`).

use mesh5xx_scenario::model::{CertState, Service};
use mesh5xx_scenario::{profile, IstioObjects, ProxyMetadata, ServicePort};
use mesh5xx_sidecar::envoy::validate;
use mesh5xx_sidecar::provision::{locate, DEFAULT_ENVOY_VERSION};
use mesh5xx_sidecar::{
    render, ExternalService, InboundSpec, MeshCa, OutboundSpec, PodCapture, SidecarSpec,
};

const ALL_FIELDS: &str = r#"
- apiVersion: networking.istio.io/v1beta1
  kind: DestinationRule
  metadata: {name: srv-a}
  spec:
    host: srv-a.default.svc.cluster.local
    trafficPolicy:
      connectionPool:
        tcp: {maxConnections: 100, connectTimeout: 2s, maxConnectionDuration: 150ms}
        http: {http1MaxPendingRequests: 10, http2MaxRequests: 100, maxRequestsPerConnection: 10, maxRetries: 5, idleTimeout: 15ms, h2UpgradePolicy: UPGRADE}
      outlierDetection: {consecutive5xxErrors: 3, consecutiveGatewayErrors: 2, interval: 1s, baseEjectionTime: 10s, maxEjectionPercent: 50, minHealthPercent: 0}
- apiVersion: networking.istio.io/v1beta1
  kind: VirtualService
  metadata: {name: srv-a}
  spec:
    hosts: [srv-a.default.svc.cluster.local]
    http:
    - route: [{destination: {host: srv-a.default.svc.cluster.local}}]
      timeout: 30s
      retries: {attempts: 3, perTryTimeout: 2s, retryOn: "reset,connect-failure,503"}
- apiVersion: networking.istio.io/v1beta1
  kind: ServiceEntry
  metadata: {name: ext}
  spec:
    hosts: [external.service.com]
    ports: [{number: 80, name: http, protocol: HTTP}]
    resolution: DNS
    location: MESH_EXTERNAL
- apiVersion: networking.istio.io/v1beta1
  kind: ServiceEntry
  metadata: {name: ext-rr}
  spec:
    hosts: [rr.service.com]
    ports: [{number: 80, name: http, protocol: HTTP}]
    resolution: DNS_ROUND_ROBIN
"#;

#[tokio::test]
async fn rendered_configs_pass_envoy_validate() {
    let bin = locate(None, DEFAULT_ENVOY_VERSION).expect("an Envoy binary");
    let scratch = mesh5xx_testkit::scratch("validate");
    let dir = scratch.path();
    let objs =
        IstioObjects::parse(&yaml_serde::from_str::<Vec<yaml_serde::Value>>(ALL_FIELDS).unwrap())
            .unwrap();
    let svc = Service {
        host: "srv-a.default.svc.cluster.local".into(),
        port: 80,
        target_port: 8080,
    };
    let dns = "127.0.0.1:5353".parse().unwrap();
    let external = vec![
        ExternalService {
            host: "external.service.com".into(),
            port: 80,
            endpoint_port: 8080,
            dns,
            dns_refresh: Some(std::time::Duration::from_secs(1)),
        },
        ExternalService {
            host: "rr.service.com".into(),
            port: 80,
            endpoint_port: 8080,
            dns,
            dns_refresh: Some(std::time::Duration::from_secs(1)),
        },
        ExternalService {
            host: "plain.service.com".into(),
            port: 80,
            endpoint_port: 8080,
            dns,
            dns_refresh: Some(std::time::Duration::from_secs(1)),
        },
    ];
    let ca = MeshCa::create(&dir.join("certs")).unwrap();
    let secrets = ca.issue("srv-a", CertState::Valid).unwrap();
    for p in profile::all() {
        // (role, with the Istio objects, in a pod, with workload certificates: auto mTLS
        // and PERMISSIVE filter chains)
        for (role, with_objects, captured, mtls) in [
            ("server", true, false, false),
            ("server-bare", false, false, false),
            ("client", true, false, false),
            ("client-bare", false, false, false),
            ("server-in-pod", true, true, false),
            ("client-in-pod", true, true, false),
            ("server-mtls", true, false, true),
            ("client-mtls", true, false, true),
            ("server-in-pod-mtls", true, true, true),
            ("server-sniffed", false, false, false),
            ("client-sniffed", false, false, false),
            ("server-in-pod-sniffed", false, true, false),
            ("client-in-pod-sniffed", false, true, false),
            ("server-tcp", false, false, false),
            ("client-tcp", false, false, false),
        ] {
            let none = IstioObjects::default();
            let istio = if with_objects { &objs } else { &none };
            let server = role.starts_with("server");
            let spec = SidecarSpec {
                pod: role.into(),
                profile: &p,
                istio,
                access_log: dir.join(format!("{role}.log")),
                inbound: server.then(|| InboundSpec {
                    service: &svc,
                    app: "127.0.0.1:8080".parse().unwrap(),
                }),
                outbound: (!server).then(|| OutboundSpec {
                    service: Some((
                        &svc,
                        vec![
                            "127.0.0.1:15006".parse().unwrap(),
                            "127.0.0.1:15007".parse().unwrap(),
                        ],
                    )),
                    external: external.clone(),
                }),
                runtime: Default::default(),
                capture: captured.then(|| PodCapture {
                    pod_ip: "10.44.0.2".parse().unwrap(),
                }),
                // With every field: an http2 port (HTTP/2 clusters, inbound too) and
                // HTTP/1.0 accepted on the listeners.
                // A port named `web` is sniffed (or TCP where the profile does not sniff),
                // `tcp-smtp` a TCP proxy.
                service_port: ServicePort {
                    name: if role.ends_with("sniffed") {
                        "web"
                    } else if role.ends_with("tcp") {
                        "tcp-smtp"
                    } else if with_objects {
                        "http2"
                    } else {
                        "http"
                    }
                    .into(),
                    app_protocol: None,
                },
                proxy_metadata: ProxyMetadata {
                    http10: with_objects.then(|| "1".into()),
                },
                protocol_detection_timeout_ms: None,
                secrets: mtls.then(|| secrets.clone()),
            };
            let cfg = render(&spec);
            let path = dir.join(format!("{}-{role}.yaml", p.name));
            if let Err(e) = validate(&bin, &cfg, &path).await {
                panic!("{} {role}: {e}", p.name);
            }
        }
    }
}
