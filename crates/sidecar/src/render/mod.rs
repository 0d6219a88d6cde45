//! Envoy bootstrap rendering with istiod's semantics.
//!
//! One Envoy per pod. A server pod's sidecar has the inbound listener and
//! one `inbound|…` cluster per service port pointing at the app on
//! 127.0.0.1; a client pod's sidecar has the outbound listener for port 80
//! with a virtual host per service (`outbound|80||host` clusters) and the
//! `allow_any` virtual host to `PassthroughCluster`. In the lab every
//! listener binds 127.0.0.1 port 0 (no iptables): the client names its
//! sidecar directly, and for PassthroughCluster it names the resolved
//! destination in `x-envoy-original-dst-host`.

mod authz;
mod capture;
mod cluster;
mod listener;
mod route;
mod sniff;
mod tls;

pub use capture::{PodCapture, INBOUND_CAPTURE_PORT, OUTBOUND_CAPTURE_PORT};
pub use cluster::outbound_name;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use mesh5xx_scenario::istio::{OutboundTrafficMode, Resolution};
use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::{IstioObjects, PortProtocol, Profile, ProxyMetadata, ServicePort};
use serde_json::{json, Value};

use crate::certs::WorkloadSecrets;

/// Response header carrying `%RESPONSE_FLAGS%` of the sidecar that produced the response
/// (the server's for proxied replies, the client's for its own local replies), so the client
/// counts Envoy's flags exactly (the access log is buffered).
pub const FLAGS_HEADER: &str = "x-mesh5xx-flags";

/// Runtime key that selects Envoy's newer DNS cluster implementation.
pub const CLASSIC_LOGICAL_DNS: &str = "envoy.reloadable_features.enable_new_dns_implementation";

/// One sidecar to render.
#[derive(Debug, Clone)]
pub struct SidecarSpec<'a> {
    /// The pod's name, e.g. `srv-a-0` or `client`.
    pub pod: String,
    pub profile: &'a Profile,
    /// The variant's Istio objects (DestinationRule, VirtualService, ServiceEntry).
    pub istio: &'a IstioObjects,
    /// Where the access log goes.
    pub access_log: PathBuf,
    /// Present on a server pod: the app this sidecar fronts.
    pub inbound: Option<InboundSpec<'a>>,
    /// Present on a client pod: the services it calls.
    pub outbound: Option<OutboundSpec<'a>>,
    /// Override Envoy runtime keys (e.g. the classic LOGICAL_DNS implementation).
    pub runtime: serde_json::Map<String, Value>,
    /// Present when the sidecar runs in a pod whose traffic istio-iptables captures (the
    /// netns run mode): listeners on the capture ports, found by original destination.
    pub capture: Option<PodCapture>,
    /// The service's port name and protocol (`topology.service_port`).
    pub service_port: ServicePort,
    /// The pod's proxy metadata (`topology.proxy_metadata`).
    pub proxy_metadata: ProxyMetadata,
    /// MeshConfig `protocolDetectionTimeout` in ms as the install sets it (0: none;
    /// `topology.protocol_detection_timeout_ms`), else the profile's.
    pub protocol_detection_timeout_ms: Option<u64>,
    /// The pod's workload certificate and the mesh's root, when the mesh has them
    /// (`topology.mtls`): the sidecar then speaks mTLS as the Istio objects say.
    pub secrets: Option<WorkloadSecrets>,
}

impl<'a> SidecarSpec<'a> {
    /// The sidecar of a server pod `pod` in front of `inbound`, logging to `access_log`.
    pub fn server(
        pod: &str,
        profile: &'a Profile,
        istio: &'a IstioObjects,
        access_log: PathBuf,
        inbound: InboundSpec<'a>,
    ) -> Self {
        Self {
            pod: pod.to_string(),
            profile,
            istio,
            access_log,
            inbound: Some(inbound),
            outbound: None,
            runtime: Default::default(),
            capture: None,
            service_port: ServicePort::default(),
            proxy_metadata: ProxyMetadata::default(),
            protocol_detection_timeout_ms: None,
            secrets: None,
        }
    }

    /// This sidecar in a pod of `topology`: its service port and proxy metadata.
    pub fn in_topology(mut self, topology: &mesh5xx_scenario::Topology) -> Self {
        self.service_port = topology.service_port.clone();
        self.proxy_metadata = topology.proxy_metadata.clone();
        self.protocol_detection_timeout_ms = topology.protocol_detection_timeout_ms;
        self
    }

    /// The protocol istiod gives the service's port (`topology.service_port` on the
    /// service's port number).
    pub fn port_protocol(&self) -> PortProtocol {
        let port = match (&self.inbound, &self.outbound) {
            (Some(inb), _) => inb.service.port,
            (
                None,
                Some(OutboundSpec {
                    service: Some((svc, _)),
                    ..
                }),
            ) => svc.port,
            _ => 80,
        };
        self.service_port
            .protocol(port)
            .expect("the catalog checked topology.service_port")
    }

    /// The sidecar of the client pod calling `outbound`, logging to `access_log`.
    pub fn client(
        profile: &'a Profile,
        istio: &'a IstioObjects,
        access_log: PathBuf,
        outbound: OutboundSpec<'a>,
    ) -> Self {
        Self {
            pod: "client".to_string(),
            profile,
            istio,
            access_log,
            inbound: None,
            outbound: Some(outbound),
            runtime: Default::default(),
            capture: None,
            service_port: ServicePort::default(),
            proxy_metadata: ProxyMetadata::default(),
            protocol_detection_timeout_ms: None,
            secrets: None,
        }
    }
}

/// The server side of a pod.
#[derive(Debug, Clone)]
pub struct InboundSpec<'a> {
    pub service: &'a Service,
    /// The app's address (127.0.0.1:PORT).
    pub app: SocketAddr,
}

/// The client side of a pod.
#[derive(Debug, Clone)]
pub struct OutboundSpec<'a> {
    /// An in-mesh service and its endpoints (the server pods' inbound listeners).
    pub service: Option<(&'a Service, Vec<SocketAddr>)>,
    /// External hosts known through a ServiceEntry, with their DNS server.
    pub external: Vec<ExternalService>,
}

/// An external host the client calls.
#[derive(Debug, Clone)]
pub struct ExternalService {
    pub host: String,
    /// The service port, as the ServiceEntry names it (`outbound|80||host`).
    pub port: u16,
    /// The port its addresses really listen on (the lab's egress gateways).
    pub endpoint_port: u16,
    /// The DNS server Envoy's c-ares resolver asks (the lab's fake DNS).
    pub dns: SocketAddr,
    /// The DNS refresh rate scaled to the lab's clock (else the profile's).
    pub dns_refresh: Option<std::time::Duration>,
}

/// Render the Envoy bootstrap for `spec`.
pub fn render(spec: &SidecarSpec<'_>) -> Value {
    let mut listeners = Vec::new();
    let mut clusters = Vec::new();
    if let Some(inb) = &spec.inbound {
        let name = cluster::inbound_name(spec.profile, inb.service, &spec.service_port.name);
        let mut c = cluster::inbound(spec, inb, &name);
        let mut l = listener::inbound(spec, inb, &name);
        if let Some(pod) = spec.capture {
            if let Some(c) = c.as_object_mut() {
                capture::inbound_cluster(c, spec, inb.app.port());
            }
            capture::inbound(&mut l, spec, pod, inb.app.port());
        }
        tls::inbound(&mut l, spec, inb.service.target_port);
        sniff::apply(&mut l, spec, sniff::Side::Inbound, &name);
        clusters.push(c);
        listeners.push(l);
    }
    if let Some(out) = &spec.outbound {
        let mut vhosts = Vec::new();
        if let Some((svc, endpoints)) = &out.service {
            let name = outbound_name(svc.port, &svc.host);
            clusters.push(cluster::outbound_static(
                spec,
                svc,
                endpoints,
                (&name, None),
            ));
            for subset in spec
                .istio
                .destination_rule(&svc.host)
                .iter()
                .flat_map(|d| &d.subsets)
            {
                let name = cluster::outbound_subset_name(svc.port, &subset.name, &svc.host);
                clusters.push(cluster::outbound_static(
                    spec,
                    svc,
                    endpoints,
                    (&name, Some(&subset.name)),
                ));
            }
            vhosts.push(route::service_vhost(spec, &svc.host, svc.port, &name));
        }
        for ext in &out.external {
            let resolution = spec.istio.service_entry(&ext.host).map(|se| se.resolution);
            if let Some(res @ (Resolution::Dns | Resolution::DnsRoundRobin)) = resolution {
                let name = outbound_name(ext.port, &ext.host);
                clusters.push(cluster::outbound_dns(spec, ext, res, &name));
                vhosts.push(route::service_vhost(spec, &ext.host, ext.port, &name));
            } else if resolution.is_some() {
                // ServiceEntry `resolution: NONE` gives an ORIGINAL_DST cluster of its own.
                let name = outbound_name(ext.port, &ext.host);
                clusters.push(cluster::service_entry_original_dst(spec, &ext.host, &name));
                vhosts.push(route::service_vhost(spec, &ext.host, ext.port, &name));
            }
        }
        vhosts.push(match spec.istio.outbound_traffic_mode() {
            OutboundTrafficMode::AllowAny => route::allow_any_vhost(spec),
            OutboundTrafficMode::RegistryOnly => route::block_all_vhost(spec),
        });
        let mut l = listener::outbound(spec, vhosts);
        if spec.capture.is_some() {
            let port = out.service.as_ref().map_or(80, |(svc, _)| svc.port);
            capture::outbound_service(&mut l, port);
        }
        if let Some((svc, _)) = &out.service {
            sniff::apply(
                &mut l,
                spec,
                sniff::Side::Outbound,
                &outbound_name(svc.port, &svc.host),
            );
        }
        listeners.push(l);
    }
    if spec.outbound.is_some() || spec.capture.is_some() {
        let mut c = cluster::passthrough(spec);
        if spec.capture.is_some() {
            capture::passthrough(&mut c);
        }
        clusters.push(c);
    }
    if spec.capture.is_some() {
        // Every captured pod has the virtual outbound listener (before 1.3 inbound comes
        // through it too).
        listeners.push(capture::virtual_outbound(spec));
    }
    let mut runtime = serde_json::Map::new();
    if clusters.iter().any(|c| c["type"] == "LOGICAL_DNS") {
        // Every modelled Istio release ran an Envoy whose LOGICAL_DNS kept using the host it
        // had resolved for existing connections; Envoy 1.40 needs this flag for that behaviour.
        runtime.insert(CLASSIC_LOGICAL_DNS.into(), json!(false));
    }
    runtime.extend(spec.runtime.clone());
    let mut layers = vec![json!({"name": "static", "static_layer": Value::Object(runtime)})];
    layers.push(json!({"name": "admin", "admin_layer": {}}));
    json!({
        "node": {"id": format!("sidecar~{}~{}.default~default.svc.cluster.local", spec.capture.map_or(Ipv4Addr::LOCALHOST, |c| c.pod_ip), spec.pod), "cluster": spec.pod},
        "admin": {"address": socket("127.0.0.1".parse().expect("ip"), 0)},
        "layered_runtime": {"layers": layers},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    })
}

/// An Envoy `address` object.
pub(crate) fn socket(ip: std::net::IpAddr, port: u16) -> Value {
    json!({"socket_address": {"address": ip.to_string(), "port_value": port}})
}

#[cfg(test)]
mod tests;
