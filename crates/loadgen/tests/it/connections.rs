//! Connection handling: reconnects, keep-alive limits and transport error kinds.

use std::time::Duration;

use mesh5xx_loadgen::{run, TransportErrorKind};

use crate::support::{refused_addr, Action, HttpServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_makes_the_worker_reconnect() {
    let server = HttpServer::start(|_| Action::Respond {
        status: 200,
        flags: None,
        close: true,
        delay: Duration::ZERO,
    })
    .await;
    let report = run(crate::requests(server.addr, 2, 20)).await.unwrap();
    assert_eq!(report.responses.get(&200), Some(&20));
    assert_eq!(report.sockets_opened, 20);
    assert_eq!(report.sockets_ideal, 2);
    assert_eq!(server.accepted(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_before_the_response_is_closed_before_response() {
    let server = HttpServer::start(|i| match i % 2 {
        0 => Action::ok(),
        _ => Action::CloseWithoutResponse,
    })
    .await;
    let report = run(crate::requests(server.addr, 1, 10)).await.unwrap();
    assert_eq!(report.responses.get(&200), Some(&5));
    let closed = TransportErrorKind::ClosedBeforeResponse;
    assert_eq!(report.transport_errors.get(&closed), Some(&5));
    assert_eq!(report.errors, 5);
    assert_eq!(report.sockets_opened, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_mid_request_is_reset() {
    let server = HttpServer::start(|i| match i % 2 {
        0 => Action::ok(),
        _ => Action::Reset,
    })
    .await;
    let report = run(crate::requests(server.addr, 1, 10)).await.unwrap();
    assert_eq!(report.responses.get(&200), Some(&5));
    assert_eq!(
        report.transport_errors.get(&TransportErrorKind::Reset),
        Some(&5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_connect_refused() {
    let mut config = crate::requests(refused_addr().await, 2, 6);
    config.timeout = Duration::from_secs(2);
    let report = run(config).await.unwrap();
    let refused = TransportErrorKind::ConnectRefused;
    assert_eq!(report.transport_errors.get(&refused), Some(&6));
    assert_eq!((report.errors, report.error_rate), (6, 1.0));
    assert_eq!(report.sockets_opened, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_keepalive_opens_one_socket_per_request() {
    let server = HttpServer::start(|_| Action::ok()).await;
    let mut config = crate::requests(server.addr, 3, 30);
    config.keepalive = false;
    let report = run(config).await.unwrap();
    assert_eq!(report.responses.get(&200), Some(&30));
    assert_eq!((report.sockets_opened, report.sockets_ideal), (30, 30));
    assert_eq!(server.accepted(), 30);
    assert!(server.requests()[0].contains("\r\nConnection: close"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_per_conn_recycles_connections() {
    let server = HttpServer::start(|_| Action::ok()).await;
    let mut config = crate::requests(server.addr, 1, 50);
    config.max_requests_per_conn = Some(5);
    let report = run(config).await.unwrap();
    assert_eq!(report.responses.get(&200), Some(&50));
    assert_eq!(report.sockets_opened, 10);
    assert_eq!(server.accepted(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_response_is_a_timeout() {
    let server = HttpServer::start(|_| Action::Respond {
        status: 200,
        flags: None,
        close: false,
        delay: Duration::from_millis(300),
    })
    .await;
    let mut config = crate::requests(server.addr, 1, 2);
    config.timeout = Duration::from_millis(50);
    let report = run(config).await.unwrap();
    assert_eq!(
        report.transport_errors.get(&TransportErrorKind::Timeout),
        Some(&2)
    );
    assert!(report.latency_ms.max < 200.0, "{:?}", report.latency_ms);
}
