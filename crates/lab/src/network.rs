//! How a run networks its pods.
//!
//! - [`Network::Local`]: every process on the runner's loopback; the app names its sidecar
//!   directly, a sidecar names the app's port, a pod that is gone is a refused port.
//! - [`Network::Netns`]: each pod a network namespace of its own on a bridge
//!   (`mesh5xx-podnet`), with the capture rules istio-iptables writes for the profile's era
//!   (`mesh5xx-iptables`): the app calls the service's virtual IP and its sidecar gets the
//!   connection by iptables, the server's sidecar gets inbound traffic to the pod's address
//!   the same way, Envoy runs as the proxy's user and group, and the control plane listens on
//!   the node's address; an outbound scenario's external addresses are local to the node,
//!   where the egress process serves them ([`external_egress`]). Needs root and the run in a
//!   private namespace of its own.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use mesh5xx_podnet::PodNetwork;

use mesh5xx_egress::EgressConfig;
use mesh5xx_iptables::{render, CaptureConfig, Era, Rules};
use mesh5xx_scenario::model::AppBind;
use mesh5xx_scenario::{Profile, Scenario, Variant};

use crate::LabError;

/// How a run networks its pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// Every process on the runner's loopback.
    #[default]
    Local,
    /// Each pod a network namespace with Istio's capture rules.
    Netns,
}

impl Network {
    /// Every mode, as named on the command line.
    pub const ALL: [Network; 2] = [Network::Local, Network::Netns];

    /// The mode `scenario` runs in unless told: netns when a variant needs it (an app on
    /// the pod's loopback, a lost node), else local.
    pub fn for_scenario(scenario: &Scenario) -> Network {
        match scenario.variants.iter().any(|v| needs_netns(v).is_some()) {
            true => Network::Netns,
            false => Network::Local,
        }
    }

    /// Why `variant` cannot run in this mode, if it cannot.
    pub fn refuses(self, variant: &Variant) -> Option<String> {
        let needs = needs_netns(variant).filter(|_| self == Network::Local)?;
        Some(format!("{needs}: run it with --network netns"))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Local => "local",
            Network::Netns => "netns",
        })
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Network::ALL
            .into_iter()
            .find(|n| n.to_string() == s)
            .ok_or_else(|| format!("unknown network mode {s:?} (known: local, netns)"))
    }
}

/// What of `variant` only the netns mode can show, if anything: an app on the pod's
/// loopback, which the local mode cannot tell from any address; a lost node, whose pod's
/// address stops answering, where on loopback a port that is gone is refused at once.
fn needs_netns(variant: &Variant) -> Option<&'static str> {
    if variant.topology.pod.app_bind != AppBind::Any {
        return Some(
            "its app listens on the pod's loopback only (topology.pod.app_bind), which the \
             local network mode cannot tell from any address",
        );
    }
    variant.topology.node_lost.as_ref().map(|_| {
        "a lost node's pod address stops answering (topology.node_lost), where in the local \
         network mode a port that is gone is refused at once"
    })
}

/// The pod network of the run's namespace: its bridge made on first use and shared by every
/// scenario the process runs (one bridge per namespace, addresses never handed out twice).
pub async fn pod_network() -> Result<Arc<PodNetwork>, LabError> {
    static NETWORK: tokio::sync::OnceCell<Arc<PodNetwork>> = tokio::sync::OnceCell::const_new();
    NETWORK
        .get_or_try_init(|| async {
            PodNetwork::create()
                .await
                .map(Arc::new)
                .map_err(|e| LabError::Network(e.to_string()))
        })
        .await
        .cloned()
}

/// `config`, the egress process of an outbound variant as the local lab has it, moved to the
/// node of the netns mode: the external addresses from loopback to the run's external range
/// (`127.0.b.c` → `198.18.b.c`, [`mesh5xx_podnet::EXTERNAL`]), each gateway on its address
/// and `port` (the port the app dials), the DNS server on the node's address, where the
/// pods' sidecars and apps query it, and the kernel firewall on the packets entering the
/// node from the pods.
pub fn external_egress(config: &mut EgressConfig, port: u16) {
    config.network = mesh5xx_egress::Network::Pods;
    config.dns_listen = SocketAddr::from((mesh5xx_podnet::GATEWAY, 0));
    for zone in &mut config.zones {
        zone.addresses.iter_mut().for_each(|a| *a = external_ip(*a));
    }
    for change in &mut config.schedule {
        change
            .addresses
            .iter_mut()
            .for_each(|a| *a = external_ip(*a));
    }
    for gw in &mut config.gateways {
        gw.ip = external_ip(gw.ip);
        gw.port = Some(port);
    }
}

/// The external address that stands for the local lab's `ip` (in 127.0.0.0/8) in the netns
/// mode: the same low bits in [`mesh5xx_podnet::EXTERNAL`].
pub fn external_ip(ip: Ipv4Addr) -> Ipv4Addr {
    let (base, prefix) = mesh5xx_podnet::EXTERNAL;
    let host_bits = u32::MAX >> prefix;
    Ipv4Addr::from(u32::from(base) | (u32::from(ip) & host_bits))
}

/// The capture rules the sidecar injector of `profile`'s era has istio-iptables write for a
/// pod whose containers declare `ports`.
pub fn capture_rules(profile: &Profile, ports: &[u16]) -> Result<Rules, LabError> {
    let era = Era::for_profile(profile).map_err(|e| LabError::Network(e.to_string()))?;
    render(&CaptureConfig::injected(era, ports), era).map_err(|e| LabError::Network(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_back_from_their_names() {
        for n in Network::ALL {
            assert_eq!(n.to_string().parse::<Network>().unwrap(), n);
        }
        assert_eq!(
            "host".parse::<Network>().unwrap_err(),
            "unknown network mode \"host\" (known: local, netns)"
        );
    }

    #[test]
    fn the_external_addresses_move_to_the_external_range_and_the_gateways_to_the_port() {
        assert_eq!(
            external_ip(Ipv4Addr::new(127, 0, 0, 2)),
            Ipv4Addr::new(198, 18, 0, 2)
        );
        assert_eq!(
            external_ip(Ipv4Addr::new(127, 0, 1, 3)),
            Ipv4Addr::new(198, 18, 1, 3)
        );
        let mut config = EgressConfig::from_json(
            r#"{"zones":[{"name":"e.com","addresses":["127.0.0.2"]}],
                "schedule":[{"at_ms":5,"name":"e.com","addresses":["127.0.0.3"]}],
                "gateways":[{"ip":"127.0.0.2","upstream":"10.44.0.1:9"},{"ip":"127.0.0.3","upstream":"10.44.0.1:9"}]}"#,
        )
        .unwrap();
        external_egress(&mut config, 80);
        config.validate().unwrap();
        assert_eq!(config.network, mesh5xx_egress::Network::Pods);
        assert_eq!(config.dns_listen.ip(), mesh5xx_podnet::GATEWAY);
        assert_eq!(config.zones[0].addresses, [Ipv4Addr::new(198, 18, 0, 2)]);
        assert_eq!(config.schedule[0].addresses, [Ipv4Addr::new(198, 18, 0, 3)]);
        let gateways: Vec<_> = config.gateways.iter().map(|g| (g.ip, g.port)).collect();
        assert_eq!(
            gateways,
            [
                (Ipv4Addr::new(198, 18, 0, 2), Some(80)),
                (Ipv4Addr::new(198, 18, 0, 3), Some(80))
            ]
        );
    }

    #[test]
    fn every_profile_has_capture_rules_for_its_era() {
        for p in mesh5xx_scenario::profile::all() {
            let rules = capture_rules(&p, &[8080]).unwrap();
            assert!(rules
                .restore(mesh5xx_iptables::Family::V4)
                .contains("ISTIO_REDIRECT"));
        }
    }
}
