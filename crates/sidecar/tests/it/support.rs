//! What the sidecar's integration tests share: a keep-alive HTTP app on loopback, an Envoy
//! configuration proxying one listener to it, a raw keep-alive client, and a look at the
//! processes and shared memory a test's Envoys leave.

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use mesh5xx_sidecar::provision::{locate, DEFAULT_ENVOY_VERSION};
use mesh5xx_sidecar::EnvoyBinary;

/// The listener of [`proxy_config`].
pub const LISTENER: &str = "ingress";

pub fn envoy_bin() -> EnvoyBinary {
    locate(None, DEFAULT_ENVOY_VERSION).expect("an Envoy binary")
}

/// An HTTP/1.1 app on loopback answering every request `200 ok`, keeping connections open.
pub async fn app() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve(conn));
        }
    });
    addr
}

async fn serve(mut conn: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = find(&buf, b"\r\n\r\n") {
            // Requests without a body (GET).
            buf.drain(..end + 4);
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if conn.write_all(reply).await.is_err() {
                return;
            }
        }
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// An Envoy bootstrap: admin on a kernel-chosen loopback port, listener [`LISTENER`] on
/// another, routing everything to `app`.
pub fn proxy_config(app: SocketAddr) -> Value {
    json!({
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [{
                "name": LISTENER,
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                        "stat_prefix": "ingress",
                        "route_config": {"virtual_hosts": [{
                            "name": "app",
                            "domains": ["*"],
                            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "app"}}]
                        }]},
                        "http_filters": [{
                            "name": "envoy.filters.http.router",
                            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}
                        }]
                    }
                }]}]
            }],
            "clusters": [{
                "name": "app",
                "type": "STATIC",
                "connect_timeout": "1s",
                "load_assignment": {"cluster_name": "app", "endpoints": [{"lb_endpoints": [{
                    "endpoint": {"address": {"socket_address": {
                        "address": app.ip().to_string(),
                        "port_value": app.port()
                    }}}
                }]}]}
            }]
        }
    })
}

/// One answer on a [`KeepAlive`] connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// It carried `connection: close`.
    pub close: bool,
}

/// A client's keep-alive HTTP/1.1 connection.
pub struct KeepAlive {
    conn: TcpStream,
    buf: Vec<u8>,
}

impl KeepAlive {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let conn = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr))
            .await
            .map_err(|_| std::io::Error::new(ErrorKind::TimedOut, "connect timed out"))??;
        Ok(Self {
            conn,
            buf: Vec::new(),
        })
    }

    /// `GET /` and its answer; an error when the connection is closed or silent for 10 s.
    pub async fn get(&mut self) -> std::io::Result<Answer> {
        tokio::time::timeout(Duration::from_secs(10), self.exchange())
            .await
            .map_err(|_| std::io::Error::new(ErrorKind::TimedOut, "no answer within 10 s"))?
    }

    async fn exchange(&mut self) -> std::io::Result<Answer> {
        self.conn
            .write_all(b"GET / HTTP/1.1\r\nhost: app\r\n\r\n")
            .await?;
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let length: usize = header(&head, "content-length")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                if self.buf.len() >= end + 4 + length {
                    self.buf.drain(..end + 4 + length);
                    let status = head
                        .split_whitespace()
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .ok_or_else(|| std::io::Error::other(format!("bad answer: {head}")))?;
                    let close = header(&head, "connection") == Some("close");
                    return Ok(Answer { status, close });
                }
            }
            match self.conn.read(&mut chunk).await? {
                0 => return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "closed")),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Whether the peer has closed the connection (read EOF or an error within `within`).
    pub async fn closed_by_peer(&mut self, within: Duration) -> bool {
        let mut chunk = [0u8; 64];
        matches!(
            tokio::time::timeout(within, self.conn.read(&mut chunk)).await,
            Ok(Ok(0) | Err(_))
        )
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether a new connection to `addr` is refused.
pub async fn refused(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await,
        Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused
    )
}

/// The live processes whose command line names something in `dir` (the test's Envoys:
/// their `-c` files are there). Zombies have no command line, so they do not count.
pub fn processes_in(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .replace('\0', " ")
                    .contains(&needle)
            })
        })
        .collect()
}

/// The hot-restart shared memory of the Envoy named `name` started in `dir` with hot
/// restart: `/dev/shm/envoy_shared_memory_{10 × base id}`, the base id read from
/// `dir/envoy-NAME.base-id`.
pub fn shared_memory(dir: &Path, name: &str) -> (u32, PathBuf) {
    let base_id: u32 = std::fs::read_to_string(dir.join(format!("envoy-{name}.base-id")))
        .expect("the base id file")
        .trim()
        .parse()
        .expect("a base id");
    let shm = PathBuf::from(format!(
        "/dev/shm/envoy_shared_memory_{}",
        u64::from(base_id) * 10
    ));
    (base_id, shm)
}

/// Poll `check` every 50 ms until it holds or `within` has passed; whether it held.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
