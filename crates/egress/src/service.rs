//! Starting and stopping the whole egress process in-process: DNS server,
//! firewall, gateways, control port and the schedule of retirements.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::allow::{AllowKey, Clock, SystemClock, UserspaceAllowSet};
use crate::config::{ConfigError, EgressConfig, FirewallBackend, Network};
use crate::control;
use crate::dns::{self, DnsHandler, DnsSockets};
use crate::firewall::Firewall;
use crate::gateway::{self, Gateway, Policy};
use crate::nftables::{Hook, KernelGateway, NftError, NftTable};
use crate::report::{Report, Sources};
use crate::schedule::ScheduleClock;
use crate::zones::Zones;

/// Number of tasks reading the DNS UDP socket.
const UDP_WORKERS: usize = 2;

/// Why the egress process could not start.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// A socket could not be bound.
    #[error("cannot bind the {what} on {addr}: {source}")]
    Bind {
        /// Which socket: `DNS server`, `control port`, `gateways`, `gateway gateways[i].listen`.
        what: String,
        /// The address asked for.
        addr: String,
        /// The system error.
        source: io::Error,
    },
    /// `backend: nftables` or `network: pods` was asked for outside a private network
    /// namespace.
    #[error("{needs} the network namespace it runs in, which must be a private one with no interface but loopback and the run's own: {found}; `mesh5xx run` gives it one, by hand use `unshare -n`")]
    HostNamespace {
        /// What needs it.
        needs: &'static str,
        /// What is wrong with this namespace.
        found: String,
    },
    /// The kernel firewall failed.
    #[error(transparent)]
    Kernel(#[from] NftError),
}

/// One gateway in the READY line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyGateway {
    /// The external address.
    pub ip: Ipv4Addr,
    /// The port clients connect to on `ip` (the port of its allow entry).
    pub port: u16,
    /// Where it listens (locally the external address and the common port; `listen` if set).
    pub addr: SocketAddr,
}

/// The READY payload: where everything listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    /// The DNS server (UDP and TCP).
    pub dns: SocketAddr,
    /// The control port.
    pub control: SocketAddr,
    /// The port clients connect to on every gateway's address: locally the port common to
    /// all gateways, chosen at start (0 without gateways, or when the gateways' ports differ).
    pub gateway_port: u16,
    /// The gateways, in configuration order.
    pub gateways: Vec<ReadyGateway>,
    /// The process id.
    pub pid: u32,
}

/// A running egress process; dropping it without [`RunningEgress::shutdown`] aborts its tasks.
pub struct RunningEgress {
    ready: Ready,
    sources: Arc<Sources>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

/// Bind everything and start serving `config`.
pub async fn start(config: EgressConfig) -> Result<RunningEgress, EgressError> {
    config.validate()?;
    if config.network == Network::Pods {
        check_private("network pods serves addresses in")?;
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());
    let (gateways, listeners) = bind_gateways(&config)?;
    let port = common_port(&gateways);
    let dns_sockets = DnsSockets::bind(config.dns_listen).await;
    let dns_sockets =
        dns_sockets.map_err(|source| bind_error("DNS server", config.dns_listen, source))?;
    let control_listener = TcpListener::bind(config.control_listen).await;
    let control_listener = control_listener
        .map_err(|source| bind_error("control port", config.control_listen, source))?;
    let local =
        |r: io::Result<SocketAddr>, what, addr| r.map_err(|source| bind_error(what, addr, source));
    let dns_addr = local(dns_sockets.local_addr(), "DNS server", config.dns_listen)?;
    let control_addr = local(
        control_listener.local_addr(),
        "control port",
        config.control_listen,
    )?;

    let policy = Policy {
        firewall: config.firewall,
        on_expired: config.on_expired,
    };
    let kernel = match config.backend {
        FirewallBackend::Userspace => None,
        FirewallBackend::Nftables => {
            Some(Arc::new(kernel_table(&config, &gateways, policy).await?))
        }
    };

    let allow = Arc::new(UserspaceAllowSet::new(clock.clone()));
    let timeout = Duration::from_millis(config.allow_timeout_ms);
    // Addresses no gateway stands for get the first gateway's port (all share one locally).
    let default_port = gateways.first().map_or(0, |g| g.port());
    let mut firewall = Firewall::new(allow, clock.clone(), &config.allow, timeout, default_port)
        .with_ports(gateways.iter().map(|g| (g.ip(), g.port())));
    if kernel.is_some() {
        firewall = firewall.with_kernel_set();
    }
    let firewall = Arc::new(firewall);
    let schedule = Arc::new(ScheduleClock::new(clock.clone(), config.schedule_start));
    let zones = Arc::new(Zones::new(&config, schedule.clone()));
    let handler = Arc::new(DnsHandler::new(zones.clone(), firewall.clone()));

    let (shutdown, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let fw = firewall.clone();
    let stop_rx = stop.clone();
    tasks.spawn(async move { fw.expire_entries(stop_rx).await });
    for _ in 0..UDP_WORKERS {
        tasks.spawn(dns::serve_udp(
            dns_sockets.udp.clone(),
            handler.clone(),
            stop.clone(),
        ));
    }
    tasks.spawn(dns::serve_tcp(
        dns_sockets.tcp,
        handler.clone(),
        stop.clone(),
    ));
    if let Some(kernel) = &kernel {
        // The kernel forwards; the gateways only follow their entries, and every answer that
        // adds or refreshes entries waits for the kernel set instead.
        drop(listeners);
        for gw in &gateways {
            tasks.spawn(gw.clone().track(firewall.clone(), policy, stop.clone()));
        }
        tasks.spawn(sync_kernel_set(
            kernel.clone(),
            firewall.clone(),
            stop.clone(),
        ));
    } else {
        for (gw, listener) in gateways.iter().zip(listeners) {
            let slot = firewall.register_gateway();
            tasks.spawn(
                gw.clone()
                    .run(listener, firewall.clone(), policy, slot, stop.clone()),
            );
        }
    }
    let plan = retirement_plan(&config, &zones, &gateways);
    if !plan.is_empty() {
        let how = config.elb_old_address;
        let clock = clock.clone();
        let kernel = kernel.clone();
        let schedule = schedule.clone();
        let mut stop = stop.clone();
        tasks.spawn(async move {
            let origin = tokio::select! {
                origin = schedule.origin() => origin,
                _ = crate::stopped(&mut stop) => return,
            };
            for (at, gw, retire) in plan {
                tokio::select! {
                    _ = tokio::time::sleep((origin + at).saturating_sub(clock.now())) => {}
                    _ = crate::stopped(&mut stop) => return,
                }
                if retire {
                    gw.retire(how, clock.now().as_millis() as u64);
                } else {
                    gw.reinstate();
                }
                if let Some(kernel) = &kernel {
                    let key = AllowKey {
                        ip: gw.ip(),
                        port: gw.port(),
                    };
                    let done = if retire {
                        kernel.retire(key, how).await
                    } else {
                        kernel.reinstate(key).await
                    };
                    if let Err(e) = done {
                        tracing::warn!("gateway {}: {e}", gw.addr());
                    }
                }
            }
        });
    }
    let sources = Arc::new(Sources {
        firewall,
        dns: handler,
        gateways,
        kernel,
        schedule,
    });
    tasks.spawn(control::serve(control_listener, sources.clone(), stop));

    let ready = Ready {
        dns: dns_addr,
        control: control_addr,
        gateway_port: port,
        gateways: sources
            .gateways
            .iter()
            .map(|g| ReadyGateway {
                ip: g.ip(),
                port: g.port(),
                addr: g.addr(),
            })
            .collect(),
        pid: std::process::id(),
    };
    Ok(RunningEgress {
        ready,
        sources,
        shutdown,
        tasks,
    })
}

fn bind_error(what: &str, addr: SocketAddr, source: io::Error) -> EgressError {
    EgressError::Bind {
        what: what.to_string(),
        addr: addr.to_string(),
        source,
    }
}

/// The kernel table for `backend: nftables`, once this process is known to run in a private
/// network namespace.
async fn kernel_table(
    config: &EgressConfig,
    gateways: &[Arc<Gateway>],
    policy: Policy,
) -> Result<NftTable, EgressError> {
    check_private("backend nftables changes the firewall of")?;
    let kernel_gateways = config
        .gateways
        .iter()
        .zip(gateways)
        .enumerate()
        .map(|(i, (c, g))| KernelGateway::resolve(i, g.ip(), g.port(), &c.upstream))
        .collect::<Result<Vec<_>, _>>()?;
    let hook = match config.network {
        Network::Pods => Hook::Prerouting,
        Network::Loopback | Network::Cluster => Hook::Output,
    };
    Ok(NftTable::create(kernel_gateways, policy, hook).await?)
}

/// Whether this process runs in a private network namespace, which what `needs` requires.
fn check_private(needs: &'static str) -> Result<(), EgressError> {
    let found = match mesh5xx_process::netns::is_private() {
        Ok(true) => return Ok(()),
        Ok(false) => "this one has other interfaces (the machine's own?)".to_string(),
        Err(e) => format!("its interfaces cannot be listed ({e})"),
    };
    Err(EgressError::HostNamespace { needs, found })
}

/// Keep the kernel set in step with the allow table: after every answer that added or
/// refreshed entries, write them for the whole entry lifetime, then tell the firewall which
/// writes the kernel holds (the answers wait for it). Answers arriving during a write are
/// written together by the next round.
async fn sync_kernel_set(
    kernel: Arc<NftTable>,
    firewall: Arc<Firewall>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut writes = firewall.subscribe_writes();
    loop {
        // Every entry an answer wrote up to this generation is waiting to be written already.
        let generation = *writes.borrow_and_update();
        if let Err(e) = kernel.allow(&firewall.to_write()).await {
            tracing::warn!("{e}");
        }
        firewall.written(generation);
        tokio::select! {
            _ = crate::stopped(&mut shutdown) => return,
            _ = writes.changed() => {}
        }
    }
}

/// Bind every gateway: those with a `listen` socket on it, with `network: pods` those with
/// a `port` on their own address and that port, the others on their own address and one
/// common port. Returns the gateways and their listeners, in configuration order.
fn bind_gateways(
    config: &EgressConfig,
) -> Result<(Vec<Arc<Gateway>>, Vec<TcpListener>), EgressError> {
    let listen = |g: &crate::config::GatewayConfig| match (g.listen, g.port, config.network) {
        (Some(at), _, _) => Some(at),
        (None, Some(port), Network::Pods) => Some(SocketAddr::from((g.ip, port))),
        (None, _, _) => None,
    };
    let own: Vec<Ipv4Addr> = config
        .gateways
        .iter()
        .filter(|g| listen(g).is_none())
        .map(|g| g.ip)
        .collect();
    let (common, shared) = gateway::bind_all(&own).map_err(|source| EgressError::Bind {
        what: "gateways".to_string(),
        addr: format!("{own:?}"),
        source,
    })?;
    let mut shared = shared.into_iter();
    let mut gateways = Vec::with_capacity(config.gateways.len());
    let mut listeners = Vec::with_capacity(config.gateways.len());
    for (i, g) in config.gateways.iter().enumerate() {
        let (listener, addr) = match listen(g) {
            None => {
                let l = shared
                    .next()
                    .expect("one listener per gateway without listen");
                (l, SocketAddr::from((g.ip, common)))
            }
            Some(at) => {
                let what = format!("gateway gateways[{i}].listen");
                let l = gateway::listen(at).map_err(|e| bind_error(&what, at, e))?;
                let addr = l.local_addr().map_err(|e| bind_error(&what, at, e))?;
                (l, addr)
            }
        };
        let port = g.port.unwrap_or(addr.port());
        gateways.push(Arc::new(Gateway::standing_for(
            g.ip,
            port,
            addr,
            g.upstream.clone(),
        )));
        listeners.push(listener);
    }
    Ok((gateways, listeners))
}

/// The port every gateway's clients use, if they all share one (else 0).
fn common_port(gateways: &[Arc<Gateway>]) -> u16 {
    match gateways.split_first() {
        Some((first, rest)) if rest.iter().all(|g| g.port() == first.port()) => first.port(),
        _ => 0,
    }
}

/// When each gateway retires (`true`) or comes back (`false`): the schedule's address
/// changes and the gateways' own `retired_at_ms`, in time order.
fn retirement_plan(
    config: &EgressConfig,
    zones: &Zones,
    gateways: &[Arc<Gateway>],
) -> Vec<(Duration, Arc<Gateway>, bool)> {
    let by_ip: HashMap<Ipv4Addr, &Arc<Gateway>> = gateways.iter().map(|g| (g.ip(), g)).collect();
    let mut plan: Vec<(Duration, Arc<Gateway>, bool)> = zones
        .address_events()
        .into_iter()
        .filter_map(|e| by_ip.get(&e.ip).map(|g| (e.at, Arc::clone(g), e.retired)))
        .collect();
    for (g, gw) in config.gateways.iter().zip(gateways) {
        if let Some(at_ms) = g.retired_at_ms {
            plan.push((Duration::from_millis(at_ms), gw.clone(), true));
        }
    }
    plan.sort_by_key(|(at, _, _)| *at);
    plan
}

impl RunningEgress {
    /// Where everything listens: the READY payload.
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The live allow entries as `ipset list` lines.
    pub fn ipset_lines(&self) -> Vec<String> {
        self.sources.firewall.ipset_lines()
    }

    /// A report as of now, with the timeline.
    pub async fn report(&self) -> Report {
        self.sources.report(true).await
    }

    /// The kernel table, with `backend: nftables`.
    pub fn kernel(&self) -> Option<&NftTable> {
        self.sources.kernel.as_deref()
    }

    /// Stop serving, wait for the tasks to end and return the final report.
    pub async fn shutdown(mut self) -> Report {
        self.shutdown.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
        let report = self.sources.report(true).await;
        if let Some(kernel) = &self.sources.kernel {
            if let Err(e) = kernel.delete().await {
                tracing::warn!("{e}");
            }
        }
        report
    }
}
