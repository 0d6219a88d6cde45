//! Outbound scenarios in a cluster: the fake DNS + expiring firewall as a pod outside the mesh.
//!
//! Locally `mesh5xx egress` serves the external name's A records from 127.x addresses and
//! runs one gateway per address. In a cluster every 127.x address of the local
//! configuration becomes a fixed ClusterIP from the static band of kind's service range
//! ([`gateway_cluster_ip`]), each one a Service `ext-<i>` (port 80) in front of its own
//! gateway port of the egress pod. The Services are hidden from the mesh
//! (`networking.istio.io/exportTo: "~"`), so a meshed app that connects to one goes through
//! its sidecar's PassthroughCluster (ORIGINAL_DST), exactly like a connection to an
//! address outside the cluster. CoreDNS forwards the external zone to the egress DNS
//! Service (fixed ClusterIP [`DNS_CLUSTER_IP`], see `kind-cluster/coredns-patch.yaml`).
//! When an allow entry expires, the egress pod closes that gateway's listening socket, so
//! the kernel of the egress pod refuses every new connection (RST): `503 UF` on
//! PassthroughCluster.
//!
//! The pod's `egress.json` ([`in_cluster_config`]) is an [`EgressConfig`] with
//! `"network": "cluster"`: each gateway stands for its ClusterIP (`ip`, what DNS answers and
//! the allow entry is keyed on) and the Service port (`port`, the port the app connects to),
//! and listens on its own pod port (`listen`, `0.0.0.0:18000 + i`), so the `ipset` lines and
//! the report name the address and port the app uses. Each gateway forwards to its own backend pod (`ext-backend-<i>`,
//! the toy app server with the variant's app settings), so an ELB rotation moves the
//! traffic from one backend pod to the other.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use mesh5xx_egress::config::{
    EgressConfig, FirewallBackend, GatewayConfig, Network, ScheduleChange, ZoneRecord,
};
use mesh5xx_plan::egress::egress_config;
use mesh5xx_scenario::model::AppBind;
use mesh5xx_scenario::{Scenario, Variant};
use serde_json::{json, Value};

use crate::{labels, Render, APP_PORT, EGRESS_NAMESPACE};

/// ClusterIP of the egress DNS Service (static band of the 10.96.0.0/16 service range).
pub const DNS_CLUSTER_IP: &str = "10.96.0.153";
/// Port the egress DNS server listens on inside its pod (the Service maps 53 to it).
pub const DNS_PORT: u16 = 5353;
/// Port of the egress control endpoint inside its pod.
pub const CONTROL_PORT: u16 = 9000;
/// Gateway `i` listens on this port plus `i` inside the egress pod.
pub const GATEWAY_BASE_PORT: u16 = 18000;
/// At most this many external addresses (ClusterIPs 10.96.0.160 to 10.96.0.175).
pub const MAX_ADDRESSES: usize = 16;

/// The in-cluster address standing for the `i`-th external address of the local config.
pub fn gateway_cluster_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 96, 0, 160 + i as u8)
}

/// The egress configuration of an outbound variant: from its `topology.external` (the same
/// mapping the local runner makes), else [`default_config`].
pub fn variant_config(scenario: &Scenario, variant: &Variant) -> anyhow::Result<EgressConfig> {
    match &variant.topology.external {
        Some(ext) => Ok(egress_config(
            &scenario.service.host,
            ext,
            &format!("127.0.0.1:{APP_PORT}"),
        )),
        None => Ok(default_config(scenario)),
    }
}

/// The egress configuration used when none is given: the external name on one address,
/// allow-listed with the default (ipset-like) timeout, served by one gateway.
pub fn default_config(scenario: &Scenario) -> EgressConfig {
    // An outbound scenario's service is the external host.
    let name = scenario.service.host.clone();
    let ip = Ipv4Addr::new(127, 0, 0, 2);
    EgressConfig {
        zones: vec![ZoneRecord {
            name: name.clone(),
            addresses: vec![ip],
            ttl_s: 30,
        }],
        allow: vec![name],
        gateways: vec![GatewayConfig {
            ip,
            port: None,
            listen: None,
            upstream: format!("127.0.0.1:{APP_PORT}"),
            retired_at_ms: None,
        }],
        ..EgressConfig::default()
    }
}

/// Every distinct 127.x address of `cfg`, gateways first, in order of appearance.
pub fn local_addresses(cfg: &EgressConfig) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = Vec::new();
    let all = cfg
        .gateways
        .iter()
        .map(|g| g.ip)
        .chain(cfg.zones.iter().flat_map(|z| z.addresses.iter().copied()))
        .chain(
            cfg.schedule
                .iter()
                .flat_map(|s| s.addresses.iter().copied()),
        );
    for a in all {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// The egress configuration as the pod reads it (`"network": "cluster"`): the DNS server and
/// control port on all pod addresses, A records answering with the ClusterIPs, gateway `i`
/// standing for ClusterIP `i` and the Service port `service_port`, listening on pod port
/// `GATEWAY_BASE_PORT + i` and forwarding to backend `i`. Validated as `mesh5xx egress`
/// validates it.
pub fn in_cluster_config(cfg: &EgressConfig, service_port: u16) -> anyhow::Result<EgressConfig> {
    let addrs = local_addresses(cfg);
    if addrs.len() > MAX_ADDRESSES {
        anyhow::bail!(
            "the egress configuration has {} addresses; the cluster layout has room for {MAX_ADDRESSES}",
            addrs.len()
        );
    }
    let map: BTreeMap<Ipv4Addr, Ipv4Addr> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, gateway_cluster_ip(i)))
        .collect();
    let mapped = |list: &[Ipv4Addr]| -> Vec<Ipv4Addr> { list.iter().map(|a| map[a]).collect() };
    let out = EgressConfig {
        network: Network::Cluster,
        dns_listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, DNS_PORT)),
        control_listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, CONTROL_PORT)),
        zones: cfg
            .zones
            .iter()
            .map(|z| ZoneRecord {
                addresses: mapped(&z.addresses),
                ..z.clone()
            })
            .collect(),
        schedule: cfg
            .schedule
            .iter()
            .map(|s| ScheduleChange {
                addresses: mapped(&s.addresses),
                ..s.clone()
            })
            .collect(),
        gateways: cfg
            .gateways
            .iter()
            .enumerate()
            .map(|(i, g)| GatewayConfig {
                ip: map[&g.ip],
                port: Some(service_port),
                listen: Some(SocketAddr::from((
                    Ipv4Addr::UNSPECIFIED,
                    GATEWAY_BASE_PORT + i as u16,
                ))),
                upstream: format!("{}:{APP_PORT}", backend_host(i)),
                retired_at_ms: g.retired_at_ms,
            })
            .collect(),
        // The kernel backend needs a private network namespace of the local run; in a
        // cluster the userspace gateways stand in for it.
        backend: FirewallBackend::Userspace,
        ..cfg.clone()
    };
    out.validate()
        .map_err(|e| anyhow::anyhow!("the in-cluster egress configuration: {e}"))?;
    Ok(out)
}

fn backend_name(i: usize) -> String {
    format!("ext-backend-{i}")
}

fn backend_host(i: usize) -> String {
    format!("{}.{EGRESS_NAMESPACE}.svc.cluster.local", backend_name(i))
}

/// Services of the egress namespace are invisible to the mesh: sidecars treat their
/// addresses as unknown, external destinations (PassthroughCluster).
fn hidden() -> Value {
    json!({"networking.istio.io/exportTo": "~"})
}

/// The objects of the egress namespace for `variant`.
pub fn objects(r: &Render<'_>, cfg: &EgressConfig) -> anyhow::Result<Vec<Value>> {
    let in_cluster = in_cluster_config(cfg, r.scenario.service.port)?;
    let ns = EGRESS_NAMESPACE;
    let mut out = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": ns, "labels": labels(r, "egress", &[("istio-injection", "disabled")])},
    })];
    out.push(http_port_service(r));
    out.push(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "egress-config", "namespace": ns, "labels": labels(r, "egress", &[])},
        "data": {"egress.json": serde_json::to_string_pretty(&in_cluster)? + "\n"},
    }));
    let mut ports = vec![
        json!({"name": "dns-udp", "containerPort": DNS_PORT, "protocol": "UDP"}),
        json!({"name": "dns-tcp", "containerPort": DNS_PORT, "protocol": "TCP"}),
        json!({"name": "control", "containerPort": CONTROL_PORT, "protocol": "TCP"}),
    ];
    for i in 0..cfg.gateways.len() {
        ports.push(json!({"name": format!("gw-{i}"), "containerPort": GATEWAY_BASE_PORT + i as u16, "protocol": "TCP"}));
    }
    let pod_labels = labels(r, "egress", &[("app", "egress")]);
    out.push(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "egress", "namespace": ns, "labels": labels(r, "egress", &[])},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "egress"}},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {"sidecar.istio.io/inject": "false"}},
                "spec": {
                    "terminationGracePeriodSeconds": 10,
                    "containers": [{
                        "name": "egress",
                        "image": r.opts.image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["mesh5xx"],
                        "args": ["egress", "--config", "/etc/mesh5xx/egress.json", "--report", "/dev/stdout"],
                        "ports": ports,
                        "readinessProbe": {"tcpSocket": {"port": CONTROL_PORT}, "periodSeconds": 2, "failureThreshold": 3},
                        "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/mesh5xx", "readOnly": true}],
                    }],
                    "volumes": [{"name": "config", "configMap": {"name": "egress-config"}}],
                },
            },
        },
    }));
    out.push(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "egress-dns", "namespace": ns, "labels": labels(r, "egress", &[]), "annotations": hidden()},
        "spec": {
            "clusterIP": DNS_CLUSTER_IP,
            "selector": {"app": "egress"},
            "ports": [
                {"name": "dns-udp", "port": 53, "targetPort": DNS_PORT, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "targetPort": DNS_PORT, "protocol": "TCP"},
            ],
        },
    }));
    for (i, _) in local_addresses(cfg).iter().enumerate() {
        let mut svc = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": format!("ext-{i}"), "namespace": ns, "labels": labels(r, "egress", &[]), "annotations": hidden()},
            "spec": {
                "clusterIP": gateway_cluster_ip(i).to_string(),
                "ports": [{"name": "tcp", "port": r.scenario.service.port, "targetPort": GATEWAY_BASE_PORT + i as u16, "protocol": "TCP"}],
            },
        });
        // An address with no gateway answers nothing (a black hole), as locally.
        if i < cfg.gateways.len() {
            svc["spec"]["selector"] = json!({"app": "egress"});
        }
        out.push(svc);
    }
    for i in 0..cfg.gateways.len() {
        let name = backend_name(i);
        let app = crate::upstream_command(&r.variant.app, APP_PORT, AppBind::Any);
        out.push(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels(r, "backend", &[])},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": labels(r, "backend", &[("app", &name)]), "annotations": {"sidecar.istio.io/inject": "false"}},
                    "spec": crate::app_pod_spec(r, app, APP_PORT),
                },
            },
        }));
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels(r, "backend", &[]), "annotations": hidden()},
            "spec": {
                "selector": {"app": name},
                "ports": [{"name": "http", "port": APP_PORT, "targetPort": APP_PORT, "protocol": "TCP"}],
            },
        }));
    }
    Ok(out)
}

/// The names CoreDNS must forward to the egress DNS Service.
pub fn stub_zones(cfg: &EgressConfig) -> Vec<String> {
    cfg.zones
        .iter()
        .map(|z| mesh5xx_egress::config::normalize_name(&z.name))
        .collect()
}

/// The CoreDNS server blocks forwarding `zones` to the egress DNS (no cache: every lookup
/// must reach the egress DNS, as each answer re-opens the firewall).
pub fn corefile_blocks(zones: &[String]) -> String {
    zones
        .iter()
        .map(|z| format!("{z}:53 {{\n    errors\n    forward . {DNS_CLUSTER_IP}\n}}\n"))
        .collect()
}

/// A meshed Service with an HTTP port of the external host's port, in the app's namespace.
/// istiod builds the outbound HTTP listener `0.0.0.0_PORT` (and its `allow_any` route to
/// PassthroughCluster) only for ports some meshed Service declares with an HTTP protocol;
/// without one the app's request falls to the TCP catch-all and the sidecar logs
/// `"- - -" 0 UF` instead of the seed's `503 UF`, and has no route timeout to give `504 UT`.
/// Production meshes nearly always have a service on port 80, which is why the seed saw HTTP
/// lines. It selects no pods: only its port matters.
pub fn http_port_service(r: &Render<'_>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "mesh5xx-http-port", "namespace": r.namespace, "labels": labels(r, "http-port", &[])},
        "spec": {"ports": [{"name": "http", "port": r.scenario.service.port, "protocol": "TCP"}]},
    })
}

/// Whether `scenario`'s variants talk to an external host.
pub fn is_outbound(scenario: &Scenario) -> bool {
    scenario.direction == mesh5xx_scenario::Direction::Outbound
}
