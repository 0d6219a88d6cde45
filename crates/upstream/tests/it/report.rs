//! The report counts what clients did.

use mesh5xx_upstream::{AppFaults, UpstreamConfig};

use crate::support::{ms, server, server_with, Client};

#[tokio::test]
async fn report_counts_connections_requests_and_close_reasons() {
    let srv = server(UpstreamConfig::default()).await;
    let mut clients = Vec::new();
    for n in 1..=3 {
        let mut c = Client::connect(srv.addr()).await;
        for _ in 0..n {
            assert_eq!(c.get().await.status, 200);
        }
        clients.push(c);
    }
    let live = srv.report();
    assert_eq!((live.connections_opened, live.requests), (3, 6));
    assert_eq!(live.connections_closed.total(), 0);

    // Two clients hang up; the third is still open at shutdown.
    let kept = clients.pop().unwrap();
    drop(clients);
    for _ in 0..100 {
        if srv.report().connections_closed.peer == 2 {
            break;
        }
        tokio::time::sleep(ms(10)).await;
    }
    let report = srv.shutdown().await.unwrap();
    drop(kept);
    assert_eq!(report.connections_opened, 3);
    assert_eq!(report.requests, 6);
    assert_eq!(report.responses.get("200"), Some(&6));
    assert_eq!(report.dropped_requests, 0);
    assert_eq!(report.connections_closed.peer, 2);
    assert_eq!(report.connections_closed.shutdown, 1);
    assert_eq!(report.connections_closed.total(), 3);
    assert!(report.down_windows.is_empty());
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let srv = server(UpstreamConfig::default()).await;
    let addr = srv.addr();
    srv.shutdown().await.unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_shutdown_delay_is_handed_to_whoever_stops_the_server() {
    let faults: AppFaults = serde_json::from_str(r#"{"shutdown-delay": {"ms": 1500}}"#).unwrap();
    let s = server_with(faults).await;
    assert_eq!(s.shutdown_delay(), ms(1500));
    assert_eq!(
        server_with(AppFaults::default()).await.shutdown_delay(),
        ms(0)
    );
}
