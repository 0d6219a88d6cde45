//! The gateways: one TCP forwarder per external address.
//!
//! Locally a gateway listens on its external address itself, all on one common port. In a
//! cluster it stands for an address it does not own (a Service's ClusterIP and port) and
//! listens on a socket of its own (`listen`), where kube-proxy delivers the connections;
//! its allow entry is still keyed on the address and port the client uses.
//!
//! A gateway listens only while its allow entry is live: closing the listening
//! socket makes NEW connections fail with "connection refused", while accepted
//! connections keep flowing, as with a conntrack firewall. Retirement (the load
//! balancer dropping the address) closes the listener too, and can reset the
//! forwarded connections.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use crate::config::{ElbOldAddress, OnExpired};
use crate::firewall::Firewall;

/// Attempts at binding every gateway on one common port.
const BIND_ATTEMPTS: usize = 5;
/// Copy buffer per direction of a forwarded connection.
const COPY_BUFFER: usize = 64 * 1024;
/// Listen backlog of a gateway.
const BACKLOG: u32 = 1024;
/// Delay before retrying a failed re-bind.
const REBIND_RETRY: Duration = Duration::from_millis(100);

/// How gateways treat NEW connections.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Whether the allow table gates new connections.
    pub firewall: bool,
    /// What a new connection gets while the entry is not live.
    pub on_expired: OnExpired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Serving,
    StopAccepting,
    Cut,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    forwarded: AtomicU64,
    upstream_failed: AtomicU64,
    cut: AtomicU64,
    active: AtomicU64,
    bytes_to_upstream: AtomicU64,
    bytes_from_upstream: AtomicU64,
}

/// A period during which the gateway's allow entry had expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredWindow {
    /// Start, milliseconds after start.
    pub from_ms: u64,
    /// End, or `None` while still expired.
    pub to_ms: Option<u64>,
    /// Length so far.
    pub duration_ms: u64,
}

/// A snapshot of one gateway's counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayReport {
    /// The external address.
    pub ip: Ipv4Addr,
    /// The port clients connect to on `ip` (the port of its allow entry).
    pub port: u16,
    /// The socket the gateway listens on (`ip` and `port` locally; `listen` in a cluster).
    pub addr: SocketAddr,
    /// The real server behind it.
    pub upstream: String,
    /// Connections accepted.
    pub accepted: u64,
    /// Accepted connections reset because the allow entry was not live (`on_expired: reset`,
    /// or a connect that raced the expiry). With `backend: nftables`: NEW connections the
    /// kernel refused or dropped (SYNs; a dropped SYN retransmitted counts again).
    pub refused: u64,
    /// Connections forwarded to the upstream.
    pub forwarded: u64,
    /// Accepted connections reset because the upstream could not be reached.
    pub upstream_failed: u64,
    /// Forwarded connections reset by retirement.
    pub cut: u64,
    /// Forwarded connections open now (0 with `backend: nftables`: not counted).
    pub active: u64,
    /// Bytes copied from clients to the upstream (0 with `backend: nftables`: not counted).
    pub bytes_to_upstream: u64,
    /// Bytes copied from the upstream to clients (0 with `backend: nftables`: not counted).
    pub bytes_from_upstream: u64,
    /// Periods with the allow entry expired (listener closed with `on_expired: refuse`).
    pub expired_windows: Vec<ExpiredWindow>,
    /// When the gateway was retired, if it was.
    pub retired_at_ms: Option<u64>,
}

/// One external address and its forwarder.
pub struct Gateway {
    ip: Ipv4Addr,
    port: u16,
    addr: SocketAddr,
    upstream: String,
    counters: Counters,
    windows: Mutex<Vec<(u64, Option<u64>)>>,
    retired_at_ms: Mutex<Option<u64>>,
    service: watch::Sender<Service>,
}

/// Bind a listener for every address on one common port; returns the port and the listeners.
pub fn bind_all(ips: &[Ipv4Addr]) -> io::Result<(u16, Vec<TcpListener>)> {
    let Some((first, rest)) = ips.split_first() else {
        return Ok((0, Vec::new()));
    };
    let mut last = None;
    for _ in 0..BIND_ATTEMPTS {
        let head = listen(SocketAddr::from((*first, 0)))?;
        let port = head.local_addr()?.port();
        let tail: io::Result<Vec<TcpListener>> = rest
            .iter()
            .map(|ip| listen(SocketAddr::from((*ip, port))))
            .collect();
        match tail {
            Ok(tail) => return Ok((port, std::iter::once(head).chain(tail).collect())),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one attempt"))
}

/// A listening socket on `addr` that can be re-bound right after it closes.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

impl Gateway {
    /// A gateway listening on `ip`:`port` itself, forwarding to `upstream`.
    pub fn new(ip: Ipv4Addr, port: u16, upstream: String) -> Self {
        Self::standing_for(ip, port, SocketAddr::from((ip, port)), upstream)
    }

    /// A gateway for connections to `ip`:`port` that arrive on `listen` (a socket with its
    /// port already chosen), forwarding to `upstream`.
    pub fn standing_for(ip: Ipv4Addr, port: u16, listen: SocketAddr, upstream: String) -> Self {
        Self {
            ip,
            port,
            addr: listen,
            upstream,
            counters: Counters::default(),
            windows: Mutex::new(Vec::new()),
            retired_at_ms: Mutex::new(None),
            service: watch::Sender::new(Service::Serving),
        }
    }

    /// The external address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The port clients connect to on [`Gateway::ip`] (the port of its allow entry).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket the gateway listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting (and with `CutConnections` reset the forwarded connections); `Keep` does nothing.
    pub fn retire(&self, how: ElbOldAddress, now_ms: u64) {
        let service = match how {
            ElbOldAddress::Keep => return,
            ElbOldAddress::StopAccepting => Service::StopAccepting,
            ElbOldAddress::CutConnections => Service::Cut,
        };
        self.retired_at_ms
            .lock()
            .expect("gateway lock")
            .get_or_insert(now_ms);
        self.service.send_replace(service);
    }

    /// Accept new connections again after a retirement.
    pub fn reinstate(&self) {
        self.service.send_replace(Service::Serving);
    }

    /// A snapshot of the counters at `now_ms`.
    pub fn report(&self, now_ms: u64) -> GatewayReport {
        let c = &self.counters;
        let expired_windows = self
            .windows
            .lock()
            .expect("gateway lock")
            .iter()
            .map(|&(from_ms, to_ms)| ExpiredWindow {
                from_ms,
                to_ms,
                duration_ms: to_ms.unwrap_or(now_ms).saturating_sub(from_ms),
            })
            .collect();
        GatewayReport {
            ip: self.ip,
            port: self.port,
            addr: self.addr,
            upstream: self.upstream.clone(),
            accepted: c.accepted.load(Relaxed),
            refused: c.refused.load(Relaxed),
            forwarded: c.forwarded.load(Relaxed),
            upstream_failed: c.upstream_failed.load(Relaxed),
            cut: c.cut.load(Relaxed),
            active: c.active.load(Relaxed),
            bytes_to_upstream: c.bytes_to_upstream.load(Relaxed),
            bytes_from_upstream: c.bytes_from_upstream.load(Relaxed),
            expired_windows,
            retired_at_ms: *self.retired_at_ms.lock().expect("gateway lock"),
        }
    }

    /// Serve until `shutdown` turns true, opening and closing `listener` as the
    /// allow entry and the retirement state say; `slot` is this gateway's place in the
    /// firewall's acknowledgements ([`Firewall::register_gateway`], taken before any DNS
    /// answer can leave).
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        firewall: Arc<Firewall>,
        policy: Policy,
        slot: usize,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut listener = Some(listener);
        let mut changes = firewall.subscribe();
        let mut service = self.service.subscribe();
        let mut was_live = false;
        let forwards_stop = shutdown.clone();
        loop {
            let generation = *changes.borrow_and_update();
            let serving = *service.borrow_and_update() == Service::Serving;
            let live = self.follow_entry(&firewall, policy, &mut was_live);
            let open = serving && (live || policy.on_expired == OnExpired::Reset);
            let mut rebind_failed = false;
            if !open {
                let expiring = serving;
                if let Some(l) = listener.take().filter(|_| expiring) {
                    // Handshakes the kernel completed while the entry was live are ESTABLISHED
                    // connections to a conntrack firewall: let them through, then stop listening.
                    while let Ok(Ok((stream, _))) =
                        tokio::time::timeout(Duration::ZERO, l.accept()).await
                    {
                        self.counters.accepted.fetch_add(1, Relaxed);
                        tokio::spawn(self.clone().forward(stream, forwards_stop.clone()));
                    }
                }
            } else if listener.is_none() {
                match listen(self.addr) {
                    Ok(l) => listener = Some(l),
                    Err(e) => {
                        tracing::warn!("gateway {}: cannot listen again: {e}", self.addr);
                        rebind_failed = true;
                    }
                }
            }
            firewall.applied(slot, generation);
            tokio::select! {
                biased;
                _ = crate::stopped(&mut shutdown) => return,
                _ = changes.changed() => {}
                _ = service.changed() => {}
                _ = tokio::time::sleep(REBIND_RETRY), if rebind_failed => {}
                accepted = accept(listener.as_ref()) => match accepted {
                    Ok(stream) => self.admit(stream, &firewall, policy, &forwards_stop),
                    Err(e) => {
                        tracing::warn!("gateway {} accept: {e}", self.addr);
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
            }
        }
    }

    /// Follow the allow entry without forwarding anything, for `backend: nftables` (the kernel
    /// forwards): record the expiry windows until `shutdown` turns true.
    pub async fn track(
        self: Arc<Self>,
        firewall: Arc<Firewall>,
        policy: Policy,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut changes = firewall.subscribe();
        let mut was_live = false;
        loop {
            changes.borrow_and_update();
            self.follow_entry(&firewall, policy, &mut was_live);
            tokio::select! {
                _ = crate::stopped(&mut shutdown) => return,
                _ = changes.changed() => {}
            }
        }
    }

    /// Whether the allow entry lets NEW connections through now (always without a firewall);
    /// a change from `was_live` starts or ends an expiry window.
    fn follow_entry(&self, firewall: &Firewall, policy: Policy, was_live: &mut bool) -> bool {
        let live = !policy.firewall || firewall.allows(self.ip, self.port);
        if live != *was_live {
            let now_ms = firewall.now_ms();
            let mut windows = self.windows.lock().expect("gateway lock");
            if !live {
                windows.push((now_ms, None));
            } else if let Some((_, to @ None)) = windows.last_mut() {
                *to = Some(now_ms);
            }
            *was_live = live;
        }
        live
    }

    fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        firewall: &Firewall,
        policy: Policy,
        shutdown: &watch::Receiver<bool>,
    ) {
        self.counters.accepted.fetch_add(1, Relaxed);
        // With `refuse`, anything accepted came through an open listener (the entry was live
        // when the kernel completed the handshake); only `reset` turns connections away here.
        if policy.on_expired == OnExpired::Reset
            && policy.firewall
            && !firewall.allows(self.ip, self.port)
        {
            self.counters.refused.fetch_add(1, Relaxed);
            reset(&stream);
            return;
        }
        tokio::spawn(self.clone().forward(stream, shutdown.clone()));
    }

    async fn forward(self: Arc<Self>, mut client: TcpStream, mut shutdown: watch::Receiver<bool>) {
        let c = &self.counters;
        let mut upstream = match TcpStream::connect(self.upstream.as_str()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("gateway {}: upstream {}: {e}", self.addr, self.upstream);
                c.upstream_failed.fetch_add(1, Relaxed);
                reset(&client);
                return;
            }
        };
        c.forwarded.fetch_add(1, Relaxed);
        c.active.fetch_add(1, Relaxed);
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let mut service = self.service.subscribe();
        let (cut, failed) = {
            let (client_r, client_w) = client.split();
            let (upstream_r, upstream_w) = upstream.split();
            let both = async {
                tokio::try_join!(
                    pump(client_r, upstream_w, &c.bytes_to_upstream),
                    pump(upstream_r, client_w, &c.bytes_from_upstream),
                )
            };
            tokio::select! {
                r = both => (false, r.is_err()),
                _ = service.wait_for(|s| *s == Service::Cut) => (true, false),
                _ = crate::stopped(&mut shutdown) => (false, false),
            }
        };
        if cut {
            c.cut.fetch_add(1, Relaxed);
        }
        if cut || failed {
            reset(&client);
            reset(&upstream);
        }
        c.active.fetch_sub(1, Relaxed);
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<TcpStream> {
    match listener {
        Some(l) => l.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

/// Copy until end of stream, then half-close the writer; counts the bytes copied.
async fn pump<R, W>(mut from: R, mut to: W, bytes: &AtomicU64) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        to.write_all(&buf[..n]).await?;
        bytes.fetch_add(n as u64, Relaxed);
    }
}

/// Close with RST instead of FIN.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}
