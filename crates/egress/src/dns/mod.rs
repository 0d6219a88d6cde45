//! The DNS server: UDP and TCP on one port, answering from the zone table.

mod handler;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

pub use handler::{AnswerKind, DnsHandler, DnsReport, DnsStats};

/// Largest UDP message read.
const UDP_BUFFER: usize = 4096;
/// A TCP client silent for this long is disconnected.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// Attempts at finding a port free for both UDP and TCP when binding port 0.
const BIND_ATTEMPTS: usize = 10;

/// The bound sockets of the DNS server.
pub struct DnsSockets {
    /// The UDP socket.
    pub udp: Arc<UdpSocket>,
    /// The TCP listener, on the same port.
    pub tcp: TcpListener,
}

impl DnsSockets {
    /// Bind UDP and TCP on `addr`; with port 0, one port free for both is chosen.
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        let attempts = if addr.port() == 0 { BIND_ATTEMPTS } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let udp = UdpSocket::bind(addr).await?;
            match TcpListener::bind(udp.local_addr()?).await {
                Ok(tcp) => {
                    return Ok(Self {
                        udp: Arc::new(udp),
                        tcp,
                    })
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// The address both sockets listen on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.udp.local_addr()
    }
}

/// Answer UDP queries until `shutdown` turns true.
pub async fn serve_udp(
    socket: Arc<UdpSocket>,
    handler: Arc<DnsHandler>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; UDP_BUFFER];
    loop {
        let (len, peer) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok(got) => got,
                Err(e) => {
                    tracing::debug!("dns udp receive: {e}");
                    continue;
                }
            },
            _ = crate::stopped(&mut shutdown) => return,
        };
        if let Some(response) = answer(&handler, &buf[..len], false).await {
            if let Err(e) = socket.send_to(&response, peer).await {
                tracing::debug!("dns udp send to {peer}: {e}");
            }
        }
    }
}

/// Answer one query; when the answer opened or refreshed allow entries, only once the gateways
/// are open and a kernel set holds the entries.
async fn answer(handler: &DnsHandler, packet: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let before = handler.firewall().progress();
    let response = handler.handle(packet, tcp);
    let after = handler.firewall().progress();
    if after != before {
        handler.firewall().opened(after, OPEN_WAIT).await;
    }
    response
}

/// The longest an answer that opened the firewall waits for the gateways to listen again and
/// for a kernel set to hold its entries (both take well under a millisecond, longer on a busy
/// machine); past it the answer leaves anyway.
const OPEN_WAIT: Duration = Duration::from_secs(1);

/// Accept TCP clients until `shutdown` turns true; each may send many length-prefixed queries.
pub async fn serve_tcp(
    listener: TcpListener,
    handler: Arc<DnsHandler>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("dns tcp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = crate::stopped(&mut shutdown) => return,
        };
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut shutdown = shutdown;
            tokio::select! {
                r = serve_tcp_client(stream, &handler) => if let Err(e) = r {
                    tracing::debug!("dns tcp client: {e}");
                },
                _ = crate::stopped(&mut shutdown) => {}
            }
        });
    }
}

async fn serve_tcp_client(mut stream: TcpStream, handler: &DnsHandler) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = Vec::new();
    loop {
        let len = match tokio::time::timeout(TCP_IDLE, stream.read_u16()).await {
            Ok(Ok(len)) => len as usize,
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        buf.resize(len, 0);
        stream.read_exact(&mut buf).await?;
        let Some(response) = answer(handler, &buf, true).await else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(response.len() + 2);
        framed.extend_from_slice(&(response.len() as u16).to_be_bytes());
        framed.extend_from_slice(&response);
        stream.write_all(&framed).await?;
    }
}
