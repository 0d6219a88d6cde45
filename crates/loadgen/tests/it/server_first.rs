//! The server-first line exchange (`--banner-timeout-ms`) against small line servers: answered,
//! no banner in time (a listener that waits for the client to speak first, as a sniffing
//! sidecar does), and a reset.

use std::net::SocketAddr;
use std::time::Duration;

use mesh5xx_loadgen::{run, LoadConfig, TransportErrorKind};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the line server does with each connection.
#[derive(Clone, Copy)]
enum Server {
    /// Banner, then `250 LINE` for each line.
    Banner,
    /// Waits for the client's first line before it writes anything.
    ClientFirst,
    /// Closes with a reset, without a banner.
    Reset,
}

async fn start(kind: Server) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Server::Reset = kind {
                    // After the client's connect has returned.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    stream.set_zero_linger().unwrap();
                    return;
                }
                let (read, mut write) = stream.into_split();
                if let Server::Banner = kind {
                    write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                }
                let mut read = BufReader::new(read);
                let mut line = String::new();
                while matches!(read.read_line(&mut line).await, Ok(1..)) {
                    let answer = format!("250 {}\r\n", line.trim_end());
                    if write.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
    addr
}

fn exchanges(addr: SocketAddr, n: u64, banner_ms: u64) -> LoadConfig {
    let mut config = crate::requests(addr, 2, n);
    config.banner_timeout = Some(Duration::from_millis(banner_ms));
    config.timeout = Duration::from_secs(2);
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banner_then_an_answer_is_answered_on_a_connection_each() {
    let report = run(exchanges(start(Server::Banner).await, 10, 1000))
        .await
        .unwrap();
    assert_eq!((report.answered, report.errors), (10, 0));
    assert_eq!(report.sockets_opened, 10);
    assert_eq!(report.sockets_ideal, 10);
    assert!(report.responses.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_waiting_for_the_client_is_no_banner_after_the_banner_timeout() {
    let report = run(exchanges(start(Server::ClientFirst).await, 4, 150))
        .await
        .unwrap();
    assert_eq!(report.answered, 0);
    assert_eq!(
        report.transport_errors.get(&TransportErrorKind::NoBanner),
        Some(&4)
    );
    assert_eq!(report.errors, 4);
    assert!(report.latency_ms.p50 >= 150.0, "{:?}", report.latency_ms);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_before_the_banner_is_reset() {
    let report = run(exchanges(start(Server::Reset).await, 4, 1000))
        .await
        .unwrap();
    let reset = report.transport_errors.get(&TransportErrorKind::Reset);
    let closed = report
        .transport_errors
        .get(&TransportErrorKind::ClosedBeforeResponse);
    assert_eq!(reset, Some(&4), "{:?}", report.transport_errors);
    assert_eq!(closed, None);
}
