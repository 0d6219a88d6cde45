//! The "other app": another client of the external host whose DNS lookups re-add the
//! egress firewall's allow entry (the seed's self-healing). It sends real A queries over UDP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

/// Query `name` (type A) at `dns` every `every`, starting after `first`; count the answers.
pub async fn run(
    name: String,
    dns: SocketAddr,
    first: Duration,
    every: Duration,
    answered: Arc<AtomicU64>,
) {
    tokio::time::sleep(first).await;
    let mut id: u16 = 0x4d35;
    loop {
        id = id.wrapping_add(1);
        if query_a(&name, dns, id).await.is_ok() {
            answered.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(every).await;
    }
}

/// One A query; Ok once any reply with our id arrives.
async fn query_a(name: &str, dns: SocketAddr, id: u16) -> std::io::Result<()> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    sock.send_to(&packet(name, id), dns).await?;
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no DNS answer"))??;
    if n >= 2 && buf[..2] == id.to_be_bytes() {
        Ok(())
    } else {
        Err(std::io::Error::other("unexpected DNS reply"))
    }
}

/// A standard recursive A/IN query for `name`.
fn packet(name: &str, id: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(32 + name.len());
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]);
    p
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_a_query() {
        let p = super::packet("a.bc", 7);
        assert_eq!(
            p,
            [0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1]
        );
    }
}
