//! A minimal HTTP/1.1 client (one request, then close) for Envoy's admin endpoint (loopback
//! only: the lab's own, or a pod's).

use std::net::SocketAddr;
use std::time::Duration;

use mesh5xx_process::netns::NetNs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where an Envoy's admin server listens: an address on the loopback of the lab's network
/// namespace, or of a pod's.
#[derive(Debug, Clone)]
pub struct Admin {
    pub addr: SocketAddr,
    /// The pod's namespace, if the Envoy runs in one.
    pub netns: Option<NetNs>,
}

impl Admin {
    async fn connect(&self) -> std::io::Result<TcpStream> {
        match &self.netns {
            Some(ns) => ns.connect(self.addr).await,
            None => TcpStream::connect(self.addr).await,
        }
    }
}

/// GET `path` from the admin server `at`; returns (status, body).
pub async fn get(at: &Admin, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    request(at, "GET", path, timeout).await
}

/// `method` `path` (no body) to the admin server `at`; returns (status, body).
pub async fn request(
    at: &Admin,
    method: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let addr = at.addr;
    let fut = async {
        let mut s = at.connect().await?;
        s.write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| {
                std::io::Error::other(format!("bad admin response from {addr}{path}"))
            })?;
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        Ok((
            status,
            if chunked {
                dechunk(body)
            } else {
                body.to_string()
            },
        ))
    };
    tokio::time::timeout(timeout, fut).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("admin {addr}{path} timed out"),
        )
    })?
}

/// Decode a chunked transfer-encoded body (what Envoy's admin sends on HTTP/1.1).
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size_line, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dechunks() {
        assert_eq!(
            super::dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"),
            "Wikipedia"
        );
    }
}
