//! DNS-resolving mode against a real UDP DNS responder.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use mesh5xx_loadgen::{
    run, LoadConfig, Pacing, ResolveConfig, ResolveMode, Stop, TransportErrorKind,
};

use crate::support::{Action, DnsServer, HttpServer};

const NAME: &str = "external.service.com";

fn resolving(server: SocketAddr, dns: SocketAddr, mode: ResolveMode, requests: u64) -> LoadConfig {
    let mut config = crate::requests(server, 1, requests);
    config.resolve = Some(ResolveConfig {
        name: NAME.into(),
        dns: Some(dns),
        upstream_port: 80,
        mode,
        connect: false,
    });
    config
}

fn announced(server: &HttpServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|head| {
            let line = head
                .lines()
                .find(|l| l.starts_with("x-envoy-original-dst-host: "));
            line.expect("original-dst header")[27..].to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_resolves_once_and_announces_the_address() {
    let dns = DnsServer::start(Some(Ipv4Addr::new(55, 92, 142, 17))).await;
    let server = HttpServer::start(|_| Action::ok()).await;
    let mut config = resolving(server.addr, dns.addr, ResolveMode::Once, 20);
    config.connections = 3;
    config.keepalive = false;
    let report = run(config).await.unwrap();
    assert_eq!(report.responses.get(&200), Some(&20));
    assert_eq!(report.dns_queries, Some(1));
    assert_eq!(dns.queries(), 1);
    assert_eq!(report.resolved, [IpAddr::from([55, 92, 142, 17])]);
    assert!(announced(&server).iter().all(|a| a == "55.92.142.17:80"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_connection_resolves_for_each_new_connection() {
    let dns = DnsServer::start(Some(Ipv4Addr::new(10, 0, 0, 1))).await;
    let server = HttpServer::start(|_| Action::ok()).await;
    let mut config = resolving(server.addr, dns.addr, ResolveMode::PerConnection, 12);
    config.max_requests_per_conn = Some(3);
    let report = run(config).await.unwrap();
    assert_eq!(report.responses.get(&200), Some(&12));
    assert_eq!(report.sockets_opened, 4);
    assert_eq!(report.dns_queries, Some(4));
    assert_eq!(announced(&server), vec!["10.0.0.1:80"; 12]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_ms_moves_to_the_new_address_and_closes_old_connections() {
    let dns = DnsServer::start(Some(Ipv4Addr::new(10, 0, 0, 1))).await;
    let server = HttpServer::start(|_| Action::ok()).await;
    let mut config = resolving(
        server.addr,
        dns.addr,
        ResolveMode::Every(Duration::from_millis(100)),
        0,
    );
    config.stop = Stop {
        duration: Some(Duration::from_millis(800)),
        requests: None,
    };
    config.pacing = Pacing::Closed {
        think: Duration::from_millis(10),
        jitter: Duration::ZERO,
    };
    let run = tokio::spawn(run(config));
    tokio::time::sleep(Duration::from_millis(350)).await;
    dns.set_answer(Some(Ipv4Addr::new(10, 0, 0, 2)));
    let report = run.await.unwrap().unwrap();

    let announced = announced(&server);
    assert_eq!(announced.first().map(String::as_str), Some("10.0.0.1:80"));
    assert_eq!(announced.last().map(String::as_str), Some("10.0.0.2:80"));
    let switches = announced.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(switches, 1, "{announced:?}");
    assert_eq!(report.sockets_opened, 2, "the old connection is closed");
    assert_eq!(
        report.resolved,
        [IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2])]
    );
    assert!(report.dns_queries.unwrap() >= 6, "{:?}", report.dns_queries);
    assert!(report.transport_errors.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_lookup_is_a_dns_error_retried_at_the_next_request() {
    let dns = DnsServer::start(None).await;
    let server = HttpServer::start(|_| Action::ok()).await;
    let report = run(resolving(server.addr, dns.addr, ResolveMode::Once, 3))
        .await
        .unwrap();
    assert_eq!(
        report.transport_errors.get(&TransportErrorKind::Dns),
        Some(&3)
    );
    assert_eq!(report.dns_queries, Some(3));
    assert!(report.resolved.is_empty());
    assert_eq!(server.accepted(), 0);
}

/// In a pod the app asks the system's resolver and connects to the answer itself (its sidecar
/// captures the connection): `--target` is not used and no header is announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_mode_asks_the_system_resolver_and_connects_to_the_answer() {
    let server = HttpServer::start(|_| Action::ok()).await;
    // A target nothing listens on: any connection to it would fail.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = unused.local_addr().unwrap();
    drop(unused);
    let mut config = crate::requests(dead, 1, 6);
    config.resolve = Some(ResolveConfig {
        name: "localhost".into(),
        dns: None,
        upstream_port: server.addr.port(),
        mode: ResolveMode::PerConnection,
        connect: true,
    });
    config.keepalive = false;
    let report = run(config).await.unwrap();
    assert_eq!(report.responses.get(&200), Some(&6), "{report:?}");
    assert_eq!(report.dns_queries, Some(6));
    assert_eq!(report.resolved, [IpAddr::V4(Ipv4Addr::LOCALHOST)]);
    assert!(server
        .requests()
        .iter()
        .all(|head| !head.contains("x-envoy-original-dst-host")));
}
