//! Helpers shared by the integration tests: an echo upstream, raw DNS queries, connects.

#![allow(dead_code)]

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use mesh5xx_egress::{start, EgressConfig, RunningEgress};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Start the egress process from a JSON configuration.
pub async fn egress(json: &str) -> RunningEgress {
    start(EgressConfig::from_json(json).expect("valid config"))
        .await
        .expect("egress starts")
}

/// A TCP echo server on 127.0.0.1:0.
pub async fn echo_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A DNS query message.
pub fn query(id: u16, name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new();
    m.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

/// Send `packet` over UDP and wait up to `wait` for the reply.
pub async fn udp_exchange(dns: SocketAddr, packet: &[u8], wait: Duration) -> Option<Message> {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(packet, dns).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(wait, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(Message::from_vec(&buf[..n]).expect("the server sends valid DNS"))
}

/// Resolve `name` A over UDP; returns the response code and the addresses.
pub async fn resolve_a(dns: SocketAddr, name: &str) -> (ResponseCode, Vec<Ipv4Addr>) {
    let reply = udp_exchange(dns, &query(7, name, RecordType::A), Duration::from_secs(2))
        .await
        .expect("an answer");
    let ips = reply
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    (reply.response_code(), ips)
}

/// Connect, write a line and read the echo back.
pub async fn echo_once(stream: &mut TcpStream, line: &str) -> io::Result<String> {
    stream.write_all(line.as_bytes()).await?;
    let mut buf = vec![0u8; line.len()];
    tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut buf))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no echo"))??;
    Ok(String::from_utf8(buf).unwrap())
}

/// Poll `connect` until its outcome satisfies `want`, at most `limit`; returns the elapsed time.
pub async fn until_connect(
    addr: SocketAddr,
    want: impl Fn(&io::Result<TcpStream>) -> bool,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let r = TcpStream::connect(addr).await;
        if want(&r) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "connect to {addr} kept giving {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether a connect result is "connection refused".
pub fn refused(r: &io::Result<TcpStream>) -> bool {
    matches!(r, Err(e) if e.kind() == io::ErrorKind::ConnectionRefused)
}

/// Send control commands and collect the reply lines up to `END`, a JSON line, or `BYE`.
pub async fn control(addr: SocketAddr, command: &str) -> Vec<String> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    w.write_all(format!("{command}\n").as_bytes())
        .await
        .unwrap();
    let mut lines = BufReader::new(r).lines();
    let mut out = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        let last = line == "END"
            || line == "BYE"
            || line.starts_with('{')
            || line.starts_with("ERR")
            || line.starts_with("OK");
        out.push(line);
        if last {
            break;
        }
    }
    out
}
