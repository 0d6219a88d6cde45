//! The egress process of an outbound variant: its configuration, from the scenario's
//! `topology.external`, built once for both modes (the cluster's renders it for its pod).

use std::net::Ipv4Addr;

use mesh5xx_egress::config::{EgressConfig, GatewayConfig, ScheduleChange, ZoneRecord};
use mesh5xx_scenario::model::External;

/// `topology.external` of the scenario whose service is `host`, as the egress process's
/// configuration: the zone with the first addresses and the rotations, one gateway per
/// address forwarding to `upstream` (retired as `retire` says), the firewall's allow list,
/// timeout, answer to expired entries and backend.
pub fn egress_config(host: &str, ext: &External, upstream: &str) -> EgressConfig {
    let mut addresses: Vec<Ipv4Addr> = ext.addresses.clone();
    for a in ext.rotate.iter().flat_map(|r| &r.addresses) {
        if !addresses.contains(a) {
            addresses.push(*a);
        }
    }
    let gateways = addresses
        .iter()
        .map(|ip| GatewayConfig {
            ip: *ip,
            port: None,
            listen: None,
            upstream: upstream.to_string(),
            retired_at_ms: ext
                .retire
                .iter()
                .find(|r| r.address == *ip)
                .map(|r| r.at_ms),
        })
        .collect();
    let defaults = EgressConfig::default();
    EgressConfig {
        zones: vec![ZoneRecord {
            name: host.to_string(),
            addresses: ext.addresses.clone(),
            ttl_s: ext.ttl_s,
        }],
        schedule: ext
            .rotate
            .iter()
            .map(|r| ScheduleChange {
                at_ms: r.at_ms,
                name: host.to_string(),
                addresses: r.addresses.clone(),
            })
            .collect(),
        allow: if ext.firewall {
            vec![host.to_string()]
        } else {
            Vec::new()
        },
        allow_timeout_ms: ext.allow_timeout_ms.unwrap_or(defaults.allow_timeout_ms),
        firewall: ext.firewall,
        on_expired: ext.on_expired.unwrap_or_default(),
        backend: ext.backend,
        elb_old_address: ext.elb_old_address.unwrap_or_default(),
        gateways,
        ..defaults
    }
}
