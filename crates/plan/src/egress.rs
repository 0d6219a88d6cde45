//! The egress process of an outbound variant: its configuration, from the scenario's
//! `topology.external`, built once for both modes (the cluster's renders it for its pod).

use mesh5xx_egress::config::{EgressConfig, GatewayConfig, ZoneRecord};
use mesh5xx_scenario::model::External;

/// `topology.external` of the scenario whose service is `host`, as the egress process's
/// configuration: the zone with the first addresses, one gateway per address forwarding to
/// `upstream`, no firewall — then shaped by each of the external host's network faults
/// (`ip-rotation` adds the schedule and the new addresses' gateways, `firewall-expiry` the
/// allow list and its timeout).
pub fn egress_config(host: &str, ext: &External, upstream: &str) -> EgressConfig {
    let mut config = EgressConfig {
        zones: vec![ZoneRecord {
            name: host.to_string(),
            addresses: ext.addresses.clone(),
            ttl_s: ext.ttl_s,
        }],
        firewall: false,
        gateways: ext
            .addresses
            .iter()
            .map(|ip| GatewayConfig {
                ip: *ip,
                port: None,
                listen: None,
                upstream: upstream.to_string(),
                retired_at_ms: None,
            })
            .collect(),
        ..EgressConfig::default()
    };
    ext.faults.apply(host, upstream, &mut config);
    config
}
