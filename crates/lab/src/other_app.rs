//! The "other app": another client of the external host whose DNS lookups re-add the
//! egress firewall's allow entry (the seed's self-healing). It sends real A queries over UDP.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
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

/// One A query; Ok once a reply to it with at least one answer arrives.
async fn query_a(name: &str, dns: SocketAddr, id: u16) -> std::io::Result<()> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    sock.send_to(&query(name, id)?, dns).await?;
    let mut buf = [0u8; 512];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no DNS answer"))??;
    let reply = Message::from_vec(&buf[..n]).map_err(std::io::Error::other)?;
    if reply.id() == id && reply.message_type() == MessageType::Response && reply.answer_count() > 0
    {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected DNS reply: {reply}"
        )))
    }
}

/// A standard recursive A/IN query for `name`.
fn query(name: &str, id: u16) -> std::io::Result<Vec<u8>> {
    let name = Name::from_ascii(name).map_err(std::io::Error::other)?;
    let mut message = Message::new();
    message
        .set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(name, RecordType::A));
    message.to_vec().map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_standard_a_query() {
        let p = query("a.bc", 7).unwrap();
        assert_eq!(
            p,
            [0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1]
        );
    }
}
