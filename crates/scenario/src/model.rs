//! The scenario model: what a scenario file says once parsed and checked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::expect::Expectation;
use crate::istio::IstioObjects;

/// Which way the failing call goes through the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sidecar → its own app (the server side).
    Inbound,
    /// App → its own sidecar → somewhere else.
    Outbound,
}

/// A whole scenario: its story, its defaults and its variants.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub title: String,
    pub direction: Direction,
    pub symptom: String,
    pub mechanism: String,
    /// The production values it models (e.g. Tomcat `maxKeepAliveRequests: 100`).
    pub production: BTreeMap<String, serde_yaml::Value>,
    /// The lab values it uses in their place, with why they are scaled.
    pub lab: BTreeMap<String, serde_yaml::Value>,
    /// Default Istio profile (`--profile` overrides).
    pub profile: String,
    /// The service the app is (host and port), e.g. `srv-a.default.svc.cluster.local:80`.
    pub service: Service,
    pub variants: Vec<Variant>,
}

/// The Kubernetes service the app sits behind.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub host: String,
    pub port: u16,
}

/// One variant: the baseline or a mitigation, fully resolved (defaults merged in).
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub description: String,
    /// What the mitigation costs (sockets, latency, throughput), in words.
    pub cost: Option<String>,
    pub duration_ms: u64,
    pub topology: Topology,
    pub app: AppSettings,
    /// Per-replica overrides of `app`, merged on top, by replica index.
    pub app_per_replica: Vec<AppSettings>,
    pub load: LoadSettings,
    pub istio: IstioObjects,
    pub expect: Expectation,
}

/// Who talks to whom.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Put the client's own sidecar (outbound listener, default retries) in front of the server's.
    #[serde(default)]
    pub client_sidecar: bool,
    /// App replicas, each a pod with its own server sidecar.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Outbound scenarios: the external host behind the lab's DNS server and egress firewall.
    #[serde(default)]
    pub external: Option<External>,
    /// Outbound scenarios: another client that looks the host up now and then.
    #[serde(default)]
    pub other_app: Option<OtherApp>,
}

/// The external service of an outbound scenario, as the lab's egress process serves it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct External {
    /// Its addresses (127.x.y.z) as DNS first answers them.
    pub addresses: Vec<std::net::Ipv4Addr>,
    /// TTL of the DNS answers.
    #[serde(default = "thirty")]
    pub ttl_s: u32,
    /// DNS answer changes over time (a cloud load balancer's IPs rotating).
    #[serde(default)]
    pub rotate: Vec<Rotation>,
    /// When each old address stops serving after a rotation away from it (ms after start).
    #[serde(default)]
    pub retire: Vec<Retirement>,
    /// What an address that left the answer does: `keep`, `stop_accepting`, `cut_connections`.
    #[serde(default)]
    pub elb_old_address: Option<String>,
    /// Whether the egress firewall filters (allow entries added by DNS answers, expiring).
    #[serde(default)]
    pub firewall: bool,
    /// Lifetime of an allow entry (the ipset `timeout`).
    #[serde(default)]
    pub allow_timeout_ms: Option<u64>,
    /// `refuse` (new connects refused), `reset` (accepted, then reset; userspace only) or
    /// `drop` (connects time out; nftables only).
    #[serde(default)]
    pub on_expired: Option<String>,
    /// Where the egress firewall runs: `userspace` (default) or `nftables` (the kernel; the
    /// run moves into a private network namespace, which needs root and `nft`).
    #[serde(default)]
    pub backend: EgressBackend,
    /// The sidecar's DNS refresh rate, scaled to the lab's clock (overrides the profile's).
    #[serde(default)]
    pub dns_refresh_ms: Option<u64>,
}

/// Where the egress firewall runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EgressBackend {
    /// TCP forwarders in the egress process.
    #[default]
    Userspace,
    /// An nftables set with per-element timeouts, DNAT and conntrack.
    Nftables,
}

impl Variant {
    /// Whether running this variant changes kernel firewall rules, so the run needs a private
    /// network namespace.
    pub fn needs_private_network(&self) -> bool {
        self.topology
            .external
            .as_ref()
            .is_some_and(|e| e.backend == EgressBackend::Nftables)
    }
}

/// One DNS answer change.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    pub at_ms: u64,
    pub addresses: Vec<std::net::Ipv4Addr>,
}

/// An address that stops serving at a time.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retirement {
    pub address: std::net::Ipv4Addr,
    pub at_ms: u64,
}

/// Another client of the external host whose lookups refresh the firewall's entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtherApp {
    /// It looks the name up this often (ms).
    pub resolve_every_ms: u64,
    /// Its first lookup, ms after start.
    #[serde(default)]
    pub first_at_ms: Option<u64>,
}

fn thirty() -> u32 {
    30
}

fn one() -> u32 {
    1
}

/// The toy app server's settings (see `mesh5xx upstream --help`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_mode: Option<CloseMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime_ms: Option<u64>,
    /// The app's close path on an idle connection: it stops reading at once, the FIN leaves
    /// this much later (a request arriving in between is reset unanswered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_lag_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_jitter_ms: Option<u64>,
    /// `CODE:PERCENT` entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<String>,
    /// `AT_MS+FOR_MS` down windows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub down: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_bytes: Option<u64>,
}

/// How the app server ends a connection at `max_requests`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CloseMode {
    Graceful,
    Abrupt,
    Drop,
}

impl CloseMode {
    /// The flag value `mesh5xx upstream --close-mode` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseMode::Graceful => "graceful",
            CloseMode::Abrupt => "abrupt",
            CloseMode::Drop => "drop",
        }
    }
}

/// The spacing of open-loop arrivals (`mesh5xx loadgen --arrivals`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly, `1/rate` apart.
    Uniform,
    /// A Poisson process (many independent callers).
    Poisson,
}

impl Arrivals {
    /// The flag value `mesh5xx loadgen --arrivals` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Arrivals::Uniform => "uniform",
            Arrivals::Poisson => "poisson",
        }
    }
}

/// The load generator's settings (see `mesh5xx loadgen --help`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_jitter_ms: Option<u64>,
    /// Open loop: requests per second in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Open loop: how the requests' intended times are spaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<Arrivals>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_conn: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Outbound: when the app looks the external host up: `once`, `per-connection`, `every-ms:N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_mode: Option<String>,
}

impl Scenario {
    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Result<&Variant, crate::ScenarioError> {
        self.variants
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| crate::ScenarioError::UnknownVariant {
                scenario: self.name.clone(),
                variant: name.to_string(),
                known: self.variant_names().join(", "),
            })
    }

    /// Names of all variants, baseline first.
    pub fn variant_names(&self) -> Vec<String> {
        self.variants.iter().map(|v| v.name.clone()).collect()
    }
}

impl Variant {
    /// The app settings of replica `index`: `app` with that replica's overrides on top.
    pub fn app_for_replica(&self, index: usize) -> AppSettings {
        let Some(over) = self.app_per_replica.get(index) else {
            return self.app.clone();
        };
        let mut base = serde_yaml::to_value(&self.app).expect("serializable");
        let over = serde_yaml::to_value(over).expect("serializable");
        crate::catalog::merge(&mut base, &over);
        serde_yaml::from_value(base).expect("merged settings keep their shape")
    }
}
