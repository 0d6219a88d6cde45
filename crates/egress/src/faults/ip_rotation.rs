//! `ip-rotation`: the external host's load balancer changes addresses — DNS starts answering
//! new ones at set times — and an address that left the answer stops serving as
//! `old_address` says.
//!
//! Models a cloud load balancer (AWS ELB/NLB, GCP) scaling or being replaced: its DNS name
//! moves to new IPs, and the old ones stop accepting (or also cut their connections) some
//! time later. A client that resolved the name before the change keeps naming the old
//! address; through Istio's PassthroughCluster its sidecar connects to exactly that address
//! and answers `503 UF` (refused connects) or `503 UC` (cut connections).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::NetworkFault;
use crate::config::{ConfigError, EgressConfig, ElbOldAddress, GatewayConfig, ScheduleChange};

/// Parameters of `ip-rotation`:
/// `{changes: [{at_ms: 3000, addresses: [127.0.0.3]}], old_address: stop_accepting}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpRotation {
    /// When DNS starts answering which addresses, in time order.
    pub changes: Vec<Change>,
    /// What an address that left the answer does: `keep` (default), `stop_accepting`,
    /// `cut_connections`.
    #[serde(default)]
    pub old_address: ElbOldAddress,
}

/// One change of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Milliseconds after start.
    pub at_ms: u64,
    /// The addresses answered from then on.
    pub addresses: Vec<Ipv4Addr>,
}

impl IpRotation {
    /// Every address the rotation answers at some point, in order of first appearance.
    pub fn addresses(&self) -> impl Iterator<Item = &Ipv4Addr> {
        self.changes.iter().flat_map(|c| &c.addresses)
    }
}

impl NetworkFault for IpRotation {
    const NAME: &'static str = "ip-rotation";
    const SUMMARY: &'static str = "DNS answers new addresses at set times; an address that left the answer keeps serving, stops accepting, or also cuts its connections (a cloud load balancer changing IPs)";

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: String, message: &str| {
            Err(ConfigError {
                field,
                message: message.to_string(),
            })
        };
        if self.changes.is_empty() {
            return invalid("changes".into(), "list at least one change (leave the fault out for fixed addresses)");
        }
        for (i, c) in self.changes.iter().enumerate() {
            if c.addresses.is_empty() {
                return invalid(format!("changes[{i}].addresses"), "list at least one address");
            }
            if i > 0 && c.at_ms <= self.changes[i - 1].at_ms {
                return invalid(format!("changes[{i}].at_ms"), "changes must come in time order");
            }
        }
        Ok(())
    }

    fn apply(&self, host: &str, upstream: &str, config: &mut EgressConfig) {
        for change in &self.changes {
            config.schedule.push(ScheduleChange {
                at_ms: change.at_ms,
                name: host.to_string(),
                addresses: change.addresses.clone(),
            });
            for ip in &change.addresses {
                if !config.gateways.iter().any(|g| g.ip == *ip) {
                    config.gateways.push(GatewayConfig {
                        ip: *ip,
                        port: None,
                        listen: None,
                        upstream: upstream.to_string(),
                        retired_at_ms: None,
                    });
                }
            }
        }
        config.elb_old_address = self.old_address;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(at_ms: u64, last: u8) -> Change {
        Change {
            at_ms,
            addresses: vec![Ipv4Addr::new(127, 0, 0, last)],
        }
    }

    #[test]
    fn it_schedules_the_changes_and_serves_every_new_address() {
        let rotation = IpRotation {
            changes: vec![change(3000, 3), change(6000, 2)],
            old_address: ElbOldAddress::CutConnections,
        };
        rotation.validate().unwrap();
        let mut config = EgressConfig::default();
        config.gateways.push(GatewayConfig {
            ip: Ipv4Addr::new(127, 0, 0, 2),
            port: None,
            listen: None,
            upstream: "127.0.0.1:9".into(),
            retired_at_ms: None,
        });
        rotation.apply("external.service.com", "127.0.0.1:9", &mut config);
        let at: Vec<u64> = config.schedule.iter().map(|c| c.at_ms).collect();
        assert_eq!(at, [3000, 6000]);
        let ips: Vec<u8> = config.gateways.iter().map(|g| g.ip.octets()[3]).collect();
        assert_eq!(ips, [2, 3], "one gateway per address");
        assert_eq!(config.elb_old_address, ElbOldAddress::CutConnections);
    }

    #[test]
    fn changes_must_be_given_and_ordered() {
        let none = IpRotation {
            changes: vec![],
            old_address: ElbOldAddress::Keep,
        };
        assert_eq!(none.validate().unwrap_err().field, "changes");
        let backwards = IpRotation {
            changes: vec![change(3000, 3), change(3000, 4)],
            old_address: ElbOldAddress::Keep,
        };
        assert_eq!(backwards.validate().unwrap_err().field, "changes[1].at_ms");
    }
}
