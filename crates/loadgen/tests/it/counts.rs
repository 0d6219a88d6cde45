//! Responses counted by status and by the sidecar's response-flags header.

use std::collections::BTreeMap;

use mesh5xx_loadgen::run;

use crate::support::{Action, HttpServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_are_counted_by_status_and_flags() {
    let server = HttpServer::start(|i| match i % 4 {
        0 => Action::status(503, Some("UC")),
        1 => Action::status(503, Some("URX,UC")),
        2 => Action::status(200, Some("-")),
        _ => Action::ok(),
    })
    .await;
    let report = run(crate::requests(server.addr, 1, 40)).await.unwrap();

    assert_eq!(report.requests, 40);
    assert_eq!(report.responses, BTreeMap::from([(200, 20), (503, 20)]));
    let flags = BTreeMap::from([("-".into(), 20), ("UC".into(), 10), ("URX,UC".into(), 10)]);
    assert_eq!(report.flags, flags);
    assert!(report.transport_errors.is_empty());
    assert_eq!(report.errors, 20);
    assert_eq!(report.error_rate, 0.5);
    assert_eq!(report.sockets_opened, 1);
    let timeline_flags: u64 = report.timeline.iter().flat_map(|s| s.flags.values()).sum();
    assert_eq!(timeline_flags, 20, "timeline counts error flags only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_flags_header_is_read() {
    let server = HttpServer::start(|_| Action::status(504, Some("UT"))).await;
    let mut config = crate::requests(server.addr, 2, 6);
    config.flags_header = "X-Other".into();
    let report = run(config).await.unwrap();
    assert_eq!(report.flags, BTreeMap::from([("-".into(), 6)]));
    assert_eq!(report.responses, BTreeMap::from([(504, 6)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_carry_host_headers_and_body() {
    let server = HttpServer::start(|_| Action::ok()).await;
    let mut config = crate::requests(server.addr, 1, 2);
    config.method = "POST".into();
    config.path = "/service_a/v2.1/get?ids=123456".into();
    config.host = Some("srv-a.xyz".into());
    config.headers = vec![("X-Test".into(), "yes".into())];
    config.body_bytes = 150;
    let report = run(config).await.unwrap();
    assert_eq!(report.responses, BTreeMap::from([(200, 2)]));
    let head = &server.requests()[1];
    assert!(
        head.starts_with("POST /service_a/v2.1/get?ids=123456 HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nHost: srv-a.xyz\r\n"), "{head}");
    assert!(head.contains("\r\nX-Test: yes\r\n"), "{head}");
    assert!(head.contains("\r\nContent-Length: 150"), "{head}");
}
