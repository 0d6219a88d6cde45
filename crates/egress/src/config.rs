//! The egress configuration: DNS zones and their schedule, the allow list, the gateways.
//!
//! The lab writes an [`EgressConfig`] as JSON and passes `--config FILE`.
//! Every error names the offending field (as a path like `zones[0].addresses`)
//! and its value. An example of the local lab's configuration, with every field:
//!
//! ```json
//! {
//!   "network": "loopback",
//!   "dns_listen": "127.0.0.1:0",
//!   "control_listen": "127.0.0.1:0",
//!   "zones": [{"name": "external.service.com", "addresses": ["127.0.0.2"], "ttl_s": 30}],
//!   "schedule": [{"at_ms": 20000, "name": "external.service.com", "addresses": ["127.0.0.3"]}],
//!   "allow": ["external.service.com"],
//!   "allow_timeout_ms": 5000,
//!   "firewall": true,
//!   "on_expired": "refuse",
//!   "backend": "userspace",
//!   "elb_old_address": "stop_accepting",
//!   "gateways": [
//!     {"ip": "127.0.0.2", "upstream": "127.0.0.1:8080"},
//!     {"ip": "127.0.0.3", "upstream": "127.0.0.1:8080", "retired_at_ms": 60000}
//!   ]
//! }
//! ```
//!
//! Locally every address is a loopback one (`"network": "loopback"`, the default): gateway
//! `i` listens on its own `ip` and a port common to all gateways, chosen at start, and that
//! port is the one clients use. Any address outside 127.0.0.0/8 is refused with
//! "… is not a 127.x.y.z address".
//!
//! In a cluster (the egress pod of `mesh5xx render k8s`) the configuration says
//! `"network": "cluster"`, which allows any unicast IPv4 address in `zones`, `schedule` and
//! `gateways[].ip`, and any listening address (e.g. `0.0.0.0:PORT`). Each gateway then
//! stands for an address it does not own: `ip` is what the DNS server answers and what the
//! allow table is keyed on, `port` the TCP port clients connect to on it (a Service port),
//! and `listen` the socket the gateway binds in the pod, where kube-proxy delivers those
//! connections. Gateways sharing a pod need distinct `listen` ports:
//!
//! ```json
//! {
//!   "network": "cluster",
//!   "dns_listen": "0.0.0.0:5353",
//!   "control_listen": "0.0.0.0:9000",
//!   "zones": [{"name": "external.service.com", "addresses": ["10.96.0.160"], "ttl_s": 30}],
//!   "allow": ["external.service.com"],
//!   "gateways": [
//!     {"ip": "10.96.0.160", "port": 80, "listen": "0.0.0.0:18000", "upstream": "ext-backend-0:8080"},
//!     {"ip": "10.96.0.161", "port": 80, "listen": "0.0.0.0:18001", "upstream": "ext-backend-1:8080"}
//!   ]
//! }
//! ```
//!
//! With pods in network namespaces (`mesh5xx run --network netns`) the process runs in the
//! node's namespace, between the pods' bridge and the external addresses, and says
//! `"network": "pods"`: the external addresses are the run's own (198.18.0.0/15, local to the
//! node's namespace), each gateway listens on its address and the port the app dials, and the
//! DNS server on the node's address, where the pods' sidecars and apps send their queries:
//!
//! ```json
//! {
//!   "network": "pods",
//!   "dns_listen": "10.44.0.1:0",
//!   "zones": [{"name": "external.service.com", "addresses": ["198.18.0.2"], "ttl_s": 30}],
//!   "allow": ["external.service.com"],
//!   "gateways": [{"ip": "198.18.0.2", "port": 80, "upstream": "10.44.0.1:8080"}]
//! }
//! ```

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use crate::schedule::ScheduleStart;

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
    /// Which addresses the configuration may use: `loopback` (default, the local lab) or
    /// `cluster` (the egress pod in Kubernetes). See [`Network`].
    #[serde(default)]
    pub network: Network,
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
    /// What `schedule` and `gateways[].retired_at_ms` count from: `process` (default, the
    /// process's start) or `command` (the control command `START`, sent by the lab as its
    /// load starts). See [`crate::schedule`].
    #[serde(default)]
    pub schedule_start: ScheduleStart,
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
    /// Where the allow table and the gateways live: `userspace` (default: TCP forwarders in
    /// this process) or `nftables` (a kernel set with per-element timeouts, DNAT and
    /// conntrack; only inside a private network namespace). See [`FirewallBackend`].
    #[serde(default)]
    pub backend: FirewallBackend,
    /// What the gateway of an address does once the schedule (or `retired_at_ms`) retires it.
    #[serde(default)]
    pub elb_old_address: ElbOldAddress,
    /// The external addresses served. Gateways without `listen` share one port chosen at start.
    #[serde(default)]
    pub gateways: Vec<GatewayConfig>,
}

/// Which addresses a configuration may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// The local lab: every address (`zones`, `schedule`, `gateways[].ip`) and every
    /// listening socket (`dns_listen`, `control_listen`, `gateways[].listen`) is a loopback
    /// one, so the process neither reaches nor is reachable from outside the machine.
    #[default]
    Loopback,
    /// The egress pod in a cluster: the addresses may be any unicast IPv4 address (the
    /// ClusterIPs the gateways stand for) and the sockets may listen on any address,
    /// e.g. `0.0.0.0:PORT`. Never set by the local lab.
    Cluster,
    /// The node of the lab's netns mode (`mesh5xx run --network netns`): pods are network
    /// namespaces behind a bridge and reach the external addresses through the node's
    /// namespace, where this process serves them. The addresses and listening sockets may be
    /// any (the external addresses are local to the node's namespace; the DNS server listens
    /// on the node's address), the process refuses to start outside a private network
    /// namespace, a gateway with a `port` and no `listen` listens on its own `ip` and that
    /// port, and the kernel firewall (`backend: nftables`) hooks `prerouting`, where the pods'
    /// packets enter the node, instead of `output`.
    Pods,
}

impl Network {
    fn allows(self, ip: IpAddr) -> bool {
        self != Network::Loopback || ip.is_loopback()
    }
}

/// One A record set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneRecord {
    /// The name, e.g. `external.service.com` (case-insensitive, trailing dot optional).
    pub name: String,
    /// The external addresses, each in 127.0.0.0/8 (any unicast address with `network: cluster`).
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
    /// The addresses served from then on, each in 127.0.0.0/8 (any unicast address with
    /// `network: cluster`).
    #[serde(deserialize_with = "ipv4_list")]
    pub addresses: Vec<Ipv4Addr>,
}

/// One external address served by the egress process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The external address the app connects to: what the DNS server answers and what the
    /// allow entry is keyed on. In 127.0.0.0/8 (any unicast address with `network: cluster`).
    #[serde(deserialize_with = "ipv4")]
    pub ip: Ipv4Addr,
    /// The TCP port the app connects to on `ip`: the port of the allow entry, of its
    /// `ipset` line and of the report. Default: the port the gateway listens on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// The socket the gateway binds, when it is not `ip` itself (e.g. `0.0.0.0:18000` in a
    /// pod behind a Service whose ClusterIP is `ip`). Default: `ip` on the port common to
    /// the gateways without `listen`, chosen at start. A loopback address unless
    /// `network: cluster`; port 0 picks a free port.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "socket_addr_opt"
    )]
    pub listen: Option<SocketAddr>,
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
    /// The connection is accepted, then reset (RST). `userspace` backend only.
    Reset,
    /// The SYN is dropped: the connect times out. `nftables` backend only.
    Drop,
}

/// Where the firewall runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirewallBackend {
    /// In this process: the allow table in memory, one TCP forwarder per gateway that
    /// listens only while its entry is live.
    #[default]
    Userspace,
    /// In the kernel, as production does it: an nftables set with per-element timeouts
    /// (the ipset), a rule that lets NEW connections to a gateway's address through only
    /// while their entry is in the set, DNAT to the upstream, and conntrack for the
    /// established ones. Changes the firewall of the network namespace it runs in, so it
    /// refuses to run in the machine's own: `mesh5xx run` gives it a private one. Needs
    /// `nft` (Debian `nftables`) and CAP_NET_ADMIN; `network: loopback` or `pods`.
    Nftables,
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
            network: Network::default(),
            dns_listen: default_loopback(),
            control_listen: default_loopback(),
            zones: Vec::new(),
            schedule: Vec::new(),
            schedule_start: ScheduleStart::default(),
            allow: Vec::new(),
            allow_timeout_ms: default_allow_timeout_ms(),
            firewall: true,
            on_expired: OnExpired::default(),
            backend: FirewallBackend::default(),
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

    /// Check the semantic rules serde cannot: addresses the `network` allows, known names,
    /// unique gateways, listening sockets that do not collide.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let net = self.network;
        check_listen(net, "dns_listen", self.dns_listen)?;
        check_listen(net, "control_listen", self.control_listen)?;
        let mut names = HashSet::new();
        for (i, zone) in self.zones.iter().enumerate() {
            let name = check_name(&format!("zones[{i}].name"), &zone.name)?;
            if !names.insert(name) {
                return Err(ConfigError::new(
                    format!("zones[{i}].name"),
                    format!("{:?} appears twice", zone.name),
                ));
            }
            check_addresses(net, &format!("zones[{i}].addresses"), &zone.addresses)?;
        }
        for (i, change) in self.schedule.iter().enumerate() {
            let name = check_name(&format!("schedule[{i}].name"), &change.name)?;
            if !names.contains(&name) {
                return Err(ConfigError::new(
                    format!("schedule[{i}].name"),
                    format!("{:?} is not a name in zones", change.name),
                ));
            }
            check_addresses(net, &format!("schedule[{i}].addresses"), &change.addresses)?;
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
        self.check_backend()?;
        let mut ips = HashSet::new();
        // Sockets bound so far, with the field that binds them (TCP only: DNS and control).
        let mut bound: Vec<(String, SocketAddr)> = vec![
            ("dns_listen".to_string(), self.dns_listen),
            ("control_listen".to_string(), self.control_listen),
        ];
        for (i, gw) in self.gateways.iter().enumerate() {
            check_addresses(net, &format!("gateways[{i}].ip"), &[gw.ip])?;
            if !ips.insert(gw.ip) {
                return Err(ConfigError::new(
                    format!("gateways[{i}].ip"),
                    format!("{} appears twice", gw.ip),
                ));
            }
            if gw.port == Some(0) {
                return Err(ConfigError::new(
                    format!("gateways[{i}].port"),
                    "0 is not a port clients can connect to; use 1 to 65535",
                ));
            }
            if let Some(listen) = gw.listen {
                let field = format!("gateways[{i}].listen");
                check_listen(net, &field, listen)?;
                if let Some((other, _)) = bound.iter().find(|(_, b)| collide(*b, listen)) {
                    return Err(ConfigError::new(
                        field,
                        format!("{listen} collides with {other}: gateways sharing an address need distinct ports"),
                    ));
                }
                bound.push((field, listen));
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

impl EgressConfig {
    /// The combinations each backend cannot serve.
    fn check_backend(&self) -> Result<(), ConfigError> {
        let backend = self.backend;
        let wrong = |field: &str, value: &str, needs: &str| {
            Err(ConfigError::new(
                field,
                format!(
                    "{value} needs \"backend\": \"{needs}\" (this configuration has {backend:?})"
                ),
            ))
        };
        match (backend, self.on_expired) {
            (FirewallBackend::Userspace, OnExpired::Drop) => {
                return wrong("on_expired", "drop (silently dropped SYNs)", "nftables")
            }
            (FirewallBackend::Nftables, OnExpired::Reset) => {
                return wrong("on_expired", "reset (accept, then RST)", "userspace")
            }
            _ => {}
        }
        if backend == FirewallBackend::Nftables {
            if self.network == Network::Cluster {
                return wrong("network", "cluster", "userspace");
            }
            if let Some(i) = self.gateways.iter().position(|g| g.listen.is_some()) {
                return wrong(
                    &format!("gateways[{i}].listen"),
                    "a listening socket",
                    "userspace",
                );
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

/// The error of an address the local lab may not use.
fn not_loopback(field: &str, value: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(
        field,
        format!(
            "{value} is not a 127.x.y.z address (other addresses need \"network\": \"cluster\" or \"pods\")"
        ),
    )
}

fn check_addresses(net: Network, field: &str, addresses: &[Ipv4Addr]) -> Result<(), ConfigError> {
    for a in addresses {
        if !net.allows(IpAddr::V4(*a)) {
            return Err(not_loopback(field, a));
        }
        if a.is_unspecified() || a.is_broadcast() || a.is_multicast() {
            return Err(ConfigError::new(
                field,
                format!("{a} is not a unicast address a client can connect to"),
            ));
        }
    }
    Ok(())
}

fn check_listen(net: Network, field: &str, addr: SocketAddr) -> Result<(), ConfigError> {
    if net.allows(addr.ip()) {
        Ok(())
    } else {
        Err(not_loopback(field, addr))
    }
}

/// Whether two TCP listening sockets cannot both be bound: the same fixed port on the same
/// address, or on any address when one of them is the wildcard.
fn collide(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
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

fn parse_socket_addr<E: serde::de::Error>(s: &str) -> Result<SocketAddr, E> {
    s.parse()
        .map_err(|_| E::custom(format!("{s:?} is not an IP:PORT address")))
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    parse_socket_addr(&String::deserialize(d)?)
}

fn socket_addr_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| parse_socket_addr(&s))
        .transpose()
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
        let e = err(r#"{"on_expired":"sometimes"}"#);
        assert_eq!(e.field, "on_expired");
        assert!(e.message.contains("sometimes"), "{e}");
        let e = err(r#"{"backend":"ipset"}"#);
        assert_eq!(e.field, "backend");
        assert!(e.message.contains("ipset"), "{e}");
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

    #[test]
    fn each_backend_refuses_what_it_cannot_do() {
        let e = err(r#"{"on_expired":"drop"}"#);
        assert_eq!(e.field, "on_expired");
        assert!(
            e.message.contains("drop") && e.message.contains("nftables"),
            "{e}"
        );
        let e = err(r#"{"backend":"nftables","on_expired":"reset"}"#);
        assert_eq!(e.field, "on_expired");
        assert!(
            e.message.contains("reset") && e.message.contains("userspace"),
            "{e}"
        );
        let e = err(
            r#"{"backend":"nftables","gateways":[{"ip":"127.0.0.2","listen":"127.0.0.1:0","upstream":"h:1"}]}"#,
        );
        assert_eq!(e.field, "gateways[0].listen");
        let e = err(r#"{"backend":"nftables","network":"cluster"}"#);
        assert_eq!(e.field, "network");
        let ok = r#"{"backend":"nftables","on_expired":"drop","gateways":[{"ip":"127.0.0.2","upstream":"127.0.0.1:1"}]}"#;
        assert_eq!(
            EgressConfig::from_json(ok).unwrap().backend,
            FirewallBackend::Nftables
        );
    }

    #[test]
    fn the_local_lab_stays_on_loopback() {
        for (json, field, value) in [
            (
                r#"{"gateways":[{"ip":"10.96.0.160","upstream":"h:1"}]}"#,
                "gateways[0].ip",
                "10.96.0.160",
            ),
            (
                r#"{"gateways":[{"ip":"127.0.0.2","listen":"0.0.0.0:18000","upstream":"h:1"}]}"#,
                "gateways[0].listen",
                "0.0.0.0:18000",
            ),
            (
                r#"{"dns_listen":"0.0.0.0:5353"}"#,
                "dns_listen",
                "0.0.0.0:5353",
            ),
            (
                r#"{"control_listen":"10.0.0.1:9000"}"#,
                "control_listen",
                "10.0.0.1:9000",
            ),
            (
                r#"{"network":"loopback","schedule":[],"zones":[{"name":"a.com","addresses":["10.0.0.1"]}]}"#,
                "zones[0].addresses",
                "10.0.0.1",
            ),
        ] {
            let e = err(json);
            assert_eq!(e.field, field, "{json}: {e}");
            assert!(
                e.message
                    .starts_with(&format!("{value} is not a 127.x.y.z address")),
                "{e}"
            );
        }
        let e = err(r#"{"network":"internet"}"#);
        assert_eq!(e.field, "network");
        assert!(e.message.contains("internet"), "{e}");
    }

    #[test]
    fn a_cluster_config_stands_for_addresses_it_listens_apart_from() {
        let json = r#"{"network":"cluster","dns_listen":"0.0.0.0:5353","control_listen":"0.0.0.0:9000",
            "zones":[{"name":"external.service.com","addresses":["10.96.0.160"]}],
            "schedule":[{"at_ms":5,"name":"external.service.com","addresses":["10.96.0.161"]}],
            "gateways":[{"ip":"10.96.0.160","port":80,"listen":"0.0.0.0:18000","upstream":"b-0.ns.svc.cluster.local:8080"},
                        {"ip":"10.96.0.161","port":80,"listen":"0.0.0.0:18001","upstream":"b-1.ns.svc.cluster.local:8080"}]}"#;
        let c = EgressConfig::from_json(json).unwrap();
        assert_eq!(c.network, Network::Cluster);
        assert_eq!(c.gateways[1].port, Some(80));
        assert_eq!(c.gateways[1].listen, Some("0.0.0.0:18001".parse().unwrap()));
        let back = serde_json::to_string(&c).unwrap();
        assert_eq!(EgressConfig::from_json(&back).unwrap(), c);
        assert!(back.contains(r#""network":"cluster""#), "{back}");
    }

    #[test]
    fn a_pods_config_serves_any_address_and_takes_the_kernel_firewall() {
        let json = r#"{"network":"pods","dns_listen":"10.44.0.1:0","backend":"nftables",
            "zones":[{"name":"external.service.com","addresses":["198.18.0.2"]}],
            "gateways":[{"ip":"198.18.0.2","port":80,"upstream":"10.44.0.1:8080"}]}"#;
        let c = EgressConfig::from_json(json).unwrap();
        assert_eq!(c.network, Network::Pods);
        let back = serde_json::to_string(&c).unwrap();
        assert!(back.contains(r#""network":"pods""#), "{back}");
        let e = err(r#"{"zones":[{"name":"a.com","addresses":["198.18.0.2"]}]}"#);
        assert!(
            e.message.contains(r#""network": "cluster" or "pods""#),
            "{e}"
        );
    }

    #[test]
    fn cluster_listen_and_port_errors_name_the_field_and_value() {
        let gw = |extra: &str| {
            format!(
                r#"{{"network":"cluster","gateways":[{{"ip":"10.96.0.160","listen":"0.0.0.0:18000","upstream":"h:1"}},
                    {{"ip":"10.96.0.161","upstream":"h:1",{extra}}}]}}"#
            )
        };
        let e = err(&gw(r#""listen":"0.0.0.0:18000""#));
        assert_eq!(e.field, "gateways[1].listen");
        assert!(
            e.message.contains("0.0.0.0:18000") && e.message.contains("gateways[0].listen"),
            "{e}"
        );
        let e = err(&gw(r#""listen":"10.244.0.5:18000""#));
        assert_eq!(e.field, "gateways[1].listen", "{e}");
        EgressConfig::from_json(&gw(r#""listen":"0.0.0.0:18001""#)).unwrap();
        let e = err(&gw(r#""listen":"0.0.0.0:18001","port":0"#));
        assert_eq!(e.field, "gateways[1].port");
        assert!(e.message.starts_with('0'), "{e}");
        let e = err(&gw(r#""listen":"somewhere""#));
        assert_eq!(e.field, "gateways[1].listen");
        assert!(e.message.contains("somewhere"), "{e}");
        let e = err(r#"{"network":"cluster","dns_listen":"0.0.0.0:18000",
            "gateways":[{"ip":"10.96.0.160","listen":"0.0.0.0:18000","upstream":"h:1"}]}"#);
        assert_eq!(e.field, "gateways[0].listen");
        assert!(e.message.contains("dns_listen"), "{e}");
        let e = err(r#"{"network":"cluster","zones":[{"name":"a.com","addresses":["0.0.0.0"]}]}"#);
        assert_eq!(e.field, "zones[0].addresses");
        assert!(e.message.contains("0.0.0.0"), "{e}");
    }
}
