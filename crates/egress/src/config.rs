//! The egress configuration: DNS zones and their schedule, the allow list, the gateways.
//!
//! The lab writes an [`EgressConfig`] as JSON and passes `--config FILE`.
//! Every error names the offending field (as a path like `zones[0].addresses`)
//! and its value. An example with every field:
//!
//! ```json
//! {
//!   "dns_listen": "127.0.0.1:0",
//!   "control_listen": "127.0.0.1:0",
//!   "zones": [{"name": "external.service.com", "addresses": ["127.0.0.2"], "ttl_s": 30}],
//!   "schedule": [{"at_ms": 20000, "name": "external.service.com", "addresses": ["127.0.0.3"]}],
//!   "allow": ["external.service.com"],
//!   "allow_timeout_ms": 5000,
//!   "firewall": true,
//!   "on_expired": "refuse",
//!   "elb_old_address": "stop_accepting",
//!   "gateways": [
//!     {"ip": "127.0.0.2", "upstream": "127.0.0.1:8080"},
//!     {"ip": "127.0.0.3", "upstream": "127.0.0.1:8080", "retired_at_ms": 60000}
//!   ]
//! }
//! ```

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

/// A configuration error: which field, which value, what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    /// Path of the field, e.g. `gateways[1].ip`.
    pub field: String,
    /// What is wrong, including the offending value.
    pub message: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The whole configuration of one egress process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Address of the DNS server, UDP and TCP on the same port (default `127.0.0.1:0`).
    #[serde(default = "default_loopback", deserialize_with = "socket_addr")]
    pub dns_listen: SocketAddr,
    /// Address of the control port (default `127.0.0.1:0`).
    #[serde(default = "default_loopback", deserialize_with = "socket_addr")]
    pub control_listen: SocketAddr,
    /// The A records served at start.
    #[serde(default)]
    pub zones: Vec<ZoneRecord>,
    /// Changes of the A records at given times after start (load balancer IP rotation).
    #[serde(default)]
    pub schedule: Vec<ScheduleChange>,
    /// Allow-listed names: every answer for one of them opens the firewall for the answered IPs.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Lifetime of an allow entry in milliseconds; a new answer resets it (ipset `timeout`).
    #[serde(default = "default_allow_timeout_ms")]
    pub allow_timeout_ms: u64,
    /// Whether gateways obey the allow table; `false` serves every gateway unconditionally.
    #[serde(default = "default_true")]
    pub firewall: bool,
    /// What a NEW connection to an address whose allow entry is not live gets.
    #[serde(default)]
    pub on_expired: OnExpired,
    /// What the gateway of an address does once the schedule (or `retired_at_ms`) retires it.
    #[serde(default)]
    pub elb_old_address: ElbOldAddress,
    /// The external addresses served, all on one common port chosen at start.
    #[serde(default)]
    pub gateways: Vec<GatewayConfig>,
}

/// One A record set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneRecord {
    /// The name, e.g. `external.service.com` (case-insensitive, trailing dot optional).
    pub name: String,
    /// The external addresses, each in 127.0.0.0/8.
    #[serde(deserialize_with = "ipv4_list")]
    pub addresses: Vec<Ipv4Addr>,
    /// TTL of the answers in seconds.
    #[serde(default = "default_ttl_s")]
    pub ttl_s: u32,
}

/// A change of one name's addresses, applied `at_ms` after start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleChange {
    /// Milliseconds after start.
    pub at_ms: u64,
    /// A name that appears in `zones`.
    pub name: String,
    /// The addresses served from then on, each in 127.0.0.0/8.
    #[serde(deserialize_with = "ipv4_list")]
    pub addresses: Vec<Ipv4Addr>,
}

/// One external address served by the egress process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The external address (127.0.0.0/8) the app connects to.
    #[serde(deserialize_with = "ipv4")]
    pub ip: Ipv4Addr,
    /// The real server behind it, `host:port`.
    pub upstream: String,
    /// Retire this address at this time after start, as `elb_old_address` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at_ms: Option<u64>,
}

/// The firewall's answer to a NEW connection while the allow entry is not live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnExpired {
    /// Connection refused: the gateway's listening socket is closed.
    #[default]
    Refuse,
    /// The connection is accepted, then reset (RST).
    Reset,
}

/// What happens to an address the load balancer no longer uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElbOldAddress {
    /// The old address keeps serving.
    #[default]
    Keep,
    /// New connections are refused; established ones keep flowing.
    StopAccepting,
    /// New connections are refused and established ones are reset.
    CutConnections,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            dns_listen: default_loopback(),
            control_listen: default_loopback(),
            zones: Vec::new(),
            schedule: Vec::new(),
            allow: Vec::new(),
            allow_timeout_ms: default_allow_timeout_ms(),
            firewall: true,
            on_expired: OnExpired::default(),
            elb_old_address: ElbOldAddress::default(),
            gateways: Vec::new(),
        }
    }
}

impl EgressConfig {
    /// Read and validate a JSON configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new("--config", format!("cannot read {}: {e}", path.display()))
        })?;
        Self::from_json(&text)
    }

    /// Parse and validate a JSON configuration.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let config: Self = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." {
                "(top level)".to_string()
            } else {
                path
            };
            ConfigError::new(field, e.into_inner().to_string())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Check the semantic rules serde cannot: loopback addresses, known names, unique gateways.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut names = HashSet::new();
        for (i, zone) in self.zones.iter().enumerate() {
            let name = check_name(&format!("zones[{i}].name"), &zone.name)?;
            if !names.insert(name) {
                return Err(ConfigError::new(
                    format!("zones[{i}].name"),
                    format!("{:?} appears twice", zone.name),
                ));
            }
            check_addresses(&format!("zones[{i}].addresses"), &zone.addresses)?;
        }
        for (i, change) in self.schedule.iter().enumerate() {
            let name = check_name(&format!("schedule[{i}].name"), &change.name)?;
            if !names.contains(&name) {
                return Err(ConfigError::new(
                    format!("schedule[{i}].name"),
                    format!("{:?} is not a name in zones", change.name),
                ));
            }
            check_addresses(&format!("schedule[{i}].addresses"), &change.addresses)?;
        }
        for (i, name) in self.allow.iter().enumerate() {
            check_name(&format!("allow[{i}]"), name)?;
        }
        if self.allow_timeout_ms == 0 {
            return Err(ConfigError::new(
                "allow_timeout_ms",
                "0 is not a timeout; use at least 1",
            ));
        }
        let mut ips = HashSet::new();
        for (i, gw) in self.gateways.iter().enumerate() {
            check_addresses(&format!("gateways[{i}].ip"), &[gw.ip])?;
            if !ips.insert(gw.ip) {
                return Err(ConfigError::new(
                    format!("gateways[{i}].ip"),
                    format!("{} appears twice", gw.ip),
                ));
            }
            if gw
                .upstream
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .is_none()
            {
                return Err(ConfigError::new(
                    format!("gateways[{i}].upstream"),
                    format!("{:?} is not host:port", gw.upstream),
                ));
            }
            if let (Some(at_ms), ElbOldAddress::Keep) = (gw.retired_at_ms, self.elb_old_address) {
                return Err(ConfigError::new(
                    format!("gateways[{i}].retired_at_ms"),
                    format!(
                        "{at_ms} needs elb_old_address stop_accepting or cut_connections, not keep"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Canonical form of a DNS name: lower case, no trailing dot.
pub fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn check_name(field: &str, name: &str) -> Result<String, ConfigError> {
    let norm = normalize_name(name);
    let valid = !norm.is_empty()
        && norm.len() <= 253
        && norm.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid {
        Ok(norm)
    } else {
        Err(ConfigError::new(
            field,
            format!("{name:?} is not a DNS name"),
        ))
    }
}

fn check_addresses(field: &str, addresses: &[Ipv4Addr]) -> Result<(), ConfigError> {
    match addresses.iter().find(|a| !a.is_loopback()) {
        Some(a) => Err(ConfigError::new(
            field,
            format!("{a} is not a 127.x.y.z address"),
        )),
        None => Ok(()),
    }
}

fn default_loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

fn default_allow_timeout_ms() -> u64 {
    3_600_000
}

fn default_ttl_s() -> u32 {
    30
}

fn default_true() -> bool {
    true
}

fn parse_ipv4<E: serde::de::Error>(s: &str) -> Result<Ipv4Addr, E> {
    s.parse()
        .map_err(|_| E::custom(format!("{s:?} is not an IPv4 address")))
}

fn ipv4<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Addr, D::Error> {
    parse_ipv4(&String::deserialize(d)?)
}

fn ipv4_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Ipv4Addr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| parse_ipv4(s))
        .collect()
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    s.parse()
        .map_err(|_| serde::de::Error::custom(format!("{s:?} is not an IP:PORT address")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> ConfigError {
        EgressConfig::from_json(json).unwrap_err()
    }

    #[test]
    fn defaults_fill_an_empty_object() {
        let c = EgressConfig::from_json("{}").unwrap();
        assert_eq!(c, EgressConfig::default());
        assert_eq!(c.allow_timeout_ms, 3_600_000);
    }

    #[test]
    fn a_full_config_round_trips() {
        let json = r#"{"zones":[{"name":"External.Service.com.","addresses":["127.0.0.2"],"ttl_s":5}],
            "schedule":[{"at_ms":100,"name":"external.service.com","addresses":["127.0.0.3"]}],
            "allow":["external.service.com"],"allow_timeout_ms":2000,"on_expired":"reset",
            "elb_old_address":"cut_connections",
            "gateways":[{"ip":"127.0.0.2","upstream":"127.0.0.1:80","retired_at_ms":50}]}"#;
        let c = EgressConfig::from_json(json).unwrap();
        let back = EgressConfig::from_json(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(c, back);
        assert_eq!(c.on_expired, OnExpired::Reset);
    }

    #[test]
    fn type_errors_name_the_field_and_value() {
        let e = err(r#"{"zones":[{"name":"a.com","addresses":["127.0.0.2","nope"]}]}"#);
        assert_eq!(e.field, "zones[0].addresses");
        assert!(e.message.contains("\"nope\""), "{e}");
        let e = err(r#"{"allow_timeout_ms":"soon"}"#);
        assert_eq!(e.field, "allow_timeout_ms");
        assert!(e.message.contains("soon"), "{e}");
        let e = err(r#"{"on_expired":"drop"}"#);
        assert_eq!(e.field, "on_expired");
        assert!(e.message.contains("drop"), "{e}");
        let e = err(r#"{"dns_listen":"localhost"}"#);
        assert_eq!(e.field, "dns_listen");
        assert!(e.message.contains("localhost"), "{e}");
        let e = err(r#"{"gateway":[]}"#);
        assert!(e.message.contains("gateway"), "{e}");
    }

    #[test]
    fn semantic_errors_name_the_field_and_value() {
        let e = err(r#"{"zones":[{"name":"a.com","addresses":["10.0.0.1"]}]}"#);
        assert_eq!(
            (e.field.as_str(), e.message.contains("10.0.0.1")),
            ("zones[0].addresses", true)
        );
        let e = err(r#"{"schedule":[{"at_ms":1,"name":"b.com","addresses":[]}]}"#);
        assert_eq!(
            (e.field.as_str(), e.message.contains("b.com")),
            ("schedule[0].name", true)
        );
        let e = err(r#"{"allow":["bad name"]}"#);
        assert_eq!(
            (e.field.as_str(), e.message.contains("bad name")),
            ("allow[0]", true)
        );
        let e = err(r#"{"gateways":[{"ip":"127.0.0.2","upstream":"nowhere"}]}"#);
        assert_eq!(
            (e.field.as_str(), e.message.contains("nowhere")),
            ("gateways[0].upstream", true)
        );
        let e = err(r#"{"gateways":[{"ip":"127.0.0.2","upstream":"h:1","retired_at_ms":7}]}"#);
        assert_eq!(
            (e.field.as_str(), e.message.contains('7')),
            ("gateways[0].retired_at_ms", true)
        );
        let e = err(r#"{"allow_timeout_ms":0}"#);
        assert_eq!(e.field, "allow_timeout_ms");
    }
}
