//! DNS-resolving mode: look the upstream name up, the way the app would (through one DNS
//! server, or the system's resolver), and hand each new connection its address: to announce
//! to the sidecar, or to connect to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol;
use hickory_resolver::{Name, TokioResolver};
use tokio::time::Instant;

use crate::config::{ResolveConfig, ResolveMode};
use crate::LoadError;

/// How long one lookup may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// The app's resolver and its cached answer.
pub(crate) struct Dns {
    /// Asks `--dns` only; `None`: the system's resolver (`getaddrinfo`, as a JVM does).
    resolver: Option<TokioResolver>,
    name: Name,
    /// The name as given, for the system's resolver (its search domains apply, as for an app).
    given: String,
    port: u16,
    mode: ResolveMode,
    /// The cached IPv4 address as `1 << 32 | ip`, 0 when none (once / every-ms modes).
    current: AtomicU64,
    /// One lookup at a time fills the cache.
    gate: tokio::sync::Mutex<()>,
    queries: AtomicU64,
    seen: Mutex<Vec<IpAddr>>,
}

impl Dns {
    /// A resolver asking only `config.dns` (UDP), with no system configuration, no
    /// search domains and no cache of its own, or the system's resolver without `config.dns`:
    /// caching follows `config.mode`.
    pub(crate) fn new(config: &ResolveConfig) -> Result<Self, LoadError> {
        let fqdn = if config.name.ends_with('.') {
            config.name.clone()
        } else {
            format!("{}.", config.name)
        };
        let name = Name::from_utf8(&fqdn)
            .map_err(|err| LoadError::flag("--resolve", &config.name, err))?;
        let resolver = config.dns.map(|dns| {
            let server = NameServerConfig::new(dns, Protocol::Udp);
            let resolver_config = ResolverConfig::from_parts(None, Vec::new(), vec![server]);
            let mut options = ResolverOpts::default();
            options.cache_size = 0;
            options.positive_max_ttl = Some(Duration::ZERO);
            options.negative_max_ttl = Some(Duration::ZERO);
            options.use_hosts_file = ResolveHosts::Never;
            options.ip_strategy = LookupIpStrategy::Ipv4Only;
            options.timeout = LOOKUP_TIMEOUT;
            options.attempts = 1;
            options.ndots = 0;
            TokioResolver::builder_with_config(resolver_config, TokioConnectionProvider::default())
                .with_options(options)
                .build()
        });
        Ok(Dns {
            resolver,
            name,
            given: config.name.clone(),
            port: config.upstream_port,
            mode: config.mode,
            current: AtomicU64::new(0),
            gate: tokio::sync::Mutex::new(()),
            queries: AtomicU64::new(0),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// The original destination for a new connection; `None` when the lookup failed.
    pub(crate) async fn address_for_new_connection(&self) -> Option<SocketAddr> {
        let ip = match self.mode {
            ResolveMode::PerConnection => self.lookup().await?,
            ResolveMode::Once | ResolveMode::Every(_) => match self.cached() {
                Some(ip) => ip,
                None => {
                    let _gate = self.gate.lock().await;
                    match self.cached() {
                        Some(ip) => ip,
                        None => self.refresh().await?,
                    }
                }
            },
        };
        Some(SocketAddr::new(IpAddr::V4(ip), self.port))
    }

    /// Whether a connection announcing `dst` may still be used (every-ms mode closes
    /// connections to an address the last lookup no longer returns).
    pub(crate) fn is_current(&self, dst: SocketAddr) -> bool {
        match (self.mode, self.cached()) {
            (ResolveMode::Every(_), Some(ip)) => dst.ip() == IpAddr::V4(ip),
            _ => true,
        }
    }

    /// every-ms mode: look the name up again every period until `end`.
    pub(crate) async fn refresh_every(self: Arc<Self>, period: Duration, end: Option<Instant>) {
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let now = ticks.tick().await;
            if end.is_some_and(|end| now >= end) {
                return;
            }
            let _gate = self.gate.lock().await;
            self.refresh().await;
        }
    }

    /// Lookups sent so far.
    pub(crate) fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Distinct addresses seen in answers, in order of appearance.
    pub(crate) fn seen(&self) -> Vec<IpAddr> {
        self.seen.lock().expect("seen lock").clone()
    }

    fn cached(&self) -> Option<Ipv4Addr> {
        let packed = self.current.load(Ordering::Acquire);
        (packed != 0).then(|| Ipv4Addr::from(packed as u32))
    }

    /// Look up and cache the answer (kept unchanged when the lookup fails).
    async fn refresh(&self) -> Option<Ipv4Addr> {
        let ip = self.lookup().await?;
        self.current
            .store(1 << 32 | u64::from(u32::from(ip)), Ordering::Release);
        Some(ip)
    }

    /// One lookup: the first A record of the answer.
    async fn lookup(&self) -> Option<Ipv4Addr> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let ips: Vec<Ipv4Addr> = match &self.resolver {
            Some(resolver) => {
                let answer = resolver.ipv4_lookup(self.name.clone()).await.ok()?;
                answer.iter().map(|a| a.0).collect()
            }
            None => {
                let host = (self.given.as_str(), 0);
                let lookup = tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host(host));
                lookup
                    .await
                    .ok()?
                    .ok()?
                    .filter_map(|a| match a.ip() {
                        IpAddr::V4(ip) => Some(ip),
                        IpAddr::V6(_) => None,
                    })
                    .collect()
            }
        };
        let mut seen = self.seen.lock().expect("seen lock");
        for ip in &ips {
            if !seen.contains(&IpAddr::V4(*ip)) {
                seen.push(IpAddr::V4(*ip));
            }
        }
        ips.first().copied()
    }
}
