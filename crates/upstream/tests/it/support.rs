//! Start a server in process and talk raw HTTP/1.1 to it, observing exactly when it closes.

use std::net::SocketAddr;
use std::time::Duration;

use mesh5xx_upstream::{start, AppFaults, RunningUpstream, UpstreamConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// Milliseconds.
pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A server on 127.0.0.1 port 0 with `config`.
pub async fn server(config: UpstreamConfig) -> RunningUpstream {
    start(config).await.expect("server starts")
}

/// A server on 127.0.0.1 port 0 with `faults`.
pub async fn server_with(faults: AppFaults) -> RunningUpstream {
    server(UpstreamConfig::with_faults(faults)).await
}

/// One parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// `name: value` lines, names lower-cased.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the response carries `Connection: close`.
    pub fn says_close(&self) -> bool {
        self.headers.iter().any(|h| h == "connection: close")
    }
}

/// How the server ended a connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    /// FIN or RST, after this many unexpected bytes.
    After(usize),
    /// Still open at the deadline.
    StillOpen,
}

/// A keep-alive client on one raw TCP connection.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Write one GET request.
    pub async fn send(&mut self) {
        self.stream
            .write_all(b"GET / HTTP/1.1\r\nhost: upstream\r\n\r\n")
            .await
            .expect("write request");
    }

    /// Read one full response (within 5 s).
    pub async fn response(&mut self) -> Response {
        timeout(Duration::from_secs(5), self.read_response())
            .await
            .expect("response within 5 s")
    }

    /// Send a request and read its response.
    pub async fn get(&mut self) -> Response {
        self.send().await;
        self.response().await
    }

    async fn read_response(&mut self) -> Response {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).expect("ascii head");
        let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
        let status = lines.next().expect("status line")[9..12]
            .parse()
            .expect("status code");
        let headers: Vec<String> = lines.map(|l| l.to_ascii_lowercase()).collect();
        let len: usize = headers
            .iter()
            .find_map(|h| h.strip_prefix("content-length: "))
            .expect("content-length")
            .parse()
            .unwrap();
        while self.buf.len() < head_end + len {
            self.fill().await;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Response {
            status,
            headers,
            body,
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "connection closed mid-response; got {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Wait up to `limit` for the server to close; the time it took, and how it closed.
    pub async fn wait_close(&mut self, limit: Duration) -> (Duration, Closed) {
        let started = Instant::now();
        let mut extra = self.buf.len();
        let mut chunk = [0u8; 4096];
        loop {
            match timeout(
                limit.saturating_sub(started.elapsed()),
                self.stream.read(&mut chunk),
            )
            .await
            {
                Err(_) => return (started.elapsed(), Closed::StillOpen),
                Ok(Ok(0)) | Ok(Err(_)) => return (started.elapsed(), Closed::After(extra)),
                Ok(Ok(n)) => extra += n,
            }
        }
    }

    /// Assert the connection stays open for `d`.
    pub async fn assert_open_for(&mut self, d: Duration) {
        assert_eq!(
            self.wait_close(d).await.1,
            Closed::StillOpen,
            "closed before {d:?}"
        );
    }
}
