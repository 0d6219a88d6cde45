//! A sidecar as istiod renders it for a pod whose traffic istio-iptables captures (the netns
//! run mode): the virtual listeners on the ports the rules redirect to, the service and
//! inbound listeners reached from them by the original destination, and the inbound
//! cluster to the app as the era reached it.
//!
//! - Outbound: `virtualOutbound` (`virtual` before 1.3) on 0.0.0.0:15001 with
//!   `use_original_dst`, handing each connection to the listener of its original destination
//!   (`0.0.0.0_80`, not bound to a port), else to PassthroughCluster
//!   (v1alpha3/listener.go@1.2.10 L276-290, listener_builder.go@1.4.0 L296-306,
//!   core/listener.go@1.24.0 L240, L569-570).
//! - Inbound, from 1.3 ([`Behaviour::VirtualInboundListener`]): `virtualInbound` on
//!   0.0.0.0:15006 with the `original_dst` listener filter and a filter chain per port
//!   (listener_builder.go@1.4.0 L311-335 and its aggregation L135-175;
//!   core/listener_inbound.go@1.24.0 L196, L270). Before: the inbound listener
//!   `POD_IP_PORT`, not bound, reached through `virtual` on 15001, where 1.2's rules send
//!   inbound too.
//! - The inbound cluster: STATIC to 127.0.0.1:PORT, or, from 1.10
//!   ([`Behaviour::InboundPassthrough`]), ORIGINAL_DST to the pod's address with the source
//!   127.0.0.6, which the rules leave alone (v1alpha3/cluster.go@1.10.0 L251-281,
//!   cluster_builder.go@1.10.0 L316-330, L356-365).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mesh5xx_scenario::Behaviour;
use serde_json::{json, Map, Value};

use super::{socket, SidecarSpec};

/// Where the capture rules send outbound TCP (istio-iptables `-p`).
pub const OUTBOUND_CAPTURE_PORT: u16 = 15001;
/// Where they send inbound TCP from Istio 1.3 (`-z`; 15001 before).
pub const INBOUND_CAPTURE_PORT: u16 = 15006;
/// The source address of the inbound passthrough cluster (`InboundPassthroughBindIpv4`).
const PASSTHROUGH_BIND: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);

/// The pod a sidecar runs in when its traffic is captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodCapture {
    /// The pod's address.
    pub pod_ip: Ipv4Addr,
}

/// The virtual outbound listener's name in `spec`'s era.
pub fn virtual_outbound_name(spec: &SidecarSpec<'_>) -> &'static str {
    if spec.profile.has(Behaviour::VirtualInboundListener) {
        "virtualOutbound"
    } else {
        "virtual"
    }
}

/// The virtual outbound listener: every connection handed to its original destination's
/// listener, or else through PassthroughCluster.
pub fn virtual_outbound(spec: &SidecarSpec<'_>) -> Value {
    let mut l = json!({
        "name": virtual_outbound_name(spec),
        "address": socket(IpAddr::V4(Ipv4Addr::UNSPECIFIED), OUTBOUND_CAPTURE_PORT),
        "use_original_dst": true,
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": "PassthroughCluster",
                "cluster": "PassthroughCluster"
            }
        }]}]
    });
    if spec.profile.has(Behaviour::ListenerTrafficDirection) {
        l["traffic_direction"] = "OUTBOUND".into();
    }
    l
}

/// Place the service listener `l` (`0.0.0.0_PORT`) as in a pod: on its port, not bound,
/// reached from the virtual outbound listener.
pub fn outbound_service(l: &mut Value, port: u16) {
    l["address"] = socket(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    l["bind_to_port"] = false.into();
}

/// Place the inbound listener `l` for the app's `port` as in a pod of `spec`'s era.
pub fn inbound(l: &mut Value, spec: &SidecarSpec<'_>, pod: PodCapture, port: u16) {
    if spec.profile.has(Behaviour::VirtualInboundListener) {
        l["name"] = "virtualInbound".into();
        l["address"] = socket(IpAddr::V4(Ipv4Addr::UNSPECIFIED), INBOUND_CAPTURE_PORT);
        l["listener_filters"] = json!([{
            "name": "envoy.filters.listener.original_dst",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}
        }]);
        l["filter_chains"][0]["filter_chain_match"] = json!({"destination_port": port});
    } else {
        l["name"] = format!("{}_{port}", pod.pod_ip).into();
        l["address"] = socket(IpAddr::V4(pod.pod_ip), port);
        l["bind_to_port"] = false.into();
    }
}

/// The inbound cluster `c` of the app's `port` as `spec`'s era reached the app. From 1.10,
/// ORIGINAL_DST to the pod's address from 127.0.0.6; before, STATIC to 127.0.0.1:PORT, as
/// rendered for every mode (the lab gives the app's loopback address). In every era a
/// Sidecar's ingress `defaultEndpoint: 127.0.0.1:P` makes it STATIC to 127.0.0.1:P
/// ([`mesh5xx_scenario::istio::SidecarIngress`]).
pub fn inbound_cluster(c: &mut Map<String, Value>, spec: &SidecarSpec<'_>, port: u16) {
    if let Some(target) = spec.istio.ingress_default_endpoint(port) {
        let name = c
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, target));
        c.insert(
            "load_assignment".into(),
            super::cluster::endpoints(&name, &[loopback]),
        );
        return;
    }
    if spec.profile.has(Behaviour::InboundPassthrough) {
        c.remove("load_assignment");
        c.insert("type".into(), json!("ORIGINAL_DST"));
        c.insert("lb_policy".into(), json!("CLUSTER_PROVIDED"));
        c.insert("cleanup_interval".into(), json!("60s"));
        c.insert(
            "upstream_bind_config".into(),
            json!({"source_address": {"address": PASSTHROUGH_BIND.to_string(), "port_value": 0}}),
        );
    }
}

/// PassthroughCluster `c` in a pod: the original destination is the connection's own (no
/// `x-envoy-original-dst-host` header, which the lab's local mode names it by).
pub fn passthrough(c: &mut Value) {
    if let Some(o) = c.as_object_mut() {
        o.remove("original_dst_lb_config");
    }
}
