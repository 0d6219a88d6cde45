//! Injected statuses, delays and body sizes.

use std::time::Duration;

use mesh5xx_upstream::{Delay, StatusShare, UpstreamConfig};
use tokio::time::Instant;

use crate::support::{ms, server, Client};

#[tokio::test]
async fn status_503_at_100_percent_answers_503() {
    let srv = server(UpstreamConfig {
        statuses: vec![StatusShare {
            code: 503,
            percent: 100.0,
        }],
        ..UpstreamConfig::default()
    })
    .await;
    let mut c = Client::connect(srv.addr()).await;
    for _ in 0..20 {
        assert_eq!(c.get().await.status, 503);
    }
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.responses.len(), 1);
    assert_eq!(report.responses.get("503"), Some(&20));
}

#[tokio::test]
async fn status_shares_mix_with_200() {
    let srv = server(UpstreamConfig {
        statuses: vec![StatusShare {
            code: 504,
            percent: 50.0,
        }],
        ..UpstreamConfig::default()
    })
    .await;
    let mut c = Client::connect(srv.addr()).await;
    let mut n504 = 0;
    for _ in 0..400 {
        if c.get().await.status == 504 {
            n504 += 1;
        }
    }
    assert!((120..280).contains(&n504), "{n504} of 400 were 504");
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.responses.get("504"), Some(&n504));
    assert_eq!(report.responses.get("200"), Some(&(400 - n504)));
}

#[tokio::test]
async fn delay_holds_each_response() {
    let srv = server(UpstreamConfig {
        delay: Delay {
            base: ms(200),
            jitter: ms(20),
        },
        ..UpstreamConfig::default()
    })
    .await;
    let mut c = Client::connect(srv.addr()).await;
    for _ in 0..3 {
        let sent = Instant::now();
        assert_eq!(c.get().await.status, 200);
        let took = sent.elapsed();
        assert!(took >= ms(175), "answered after {took:?}");
        assert!(took < Duration::from_secs(2), "answered after {took:?}");
    }
}

#[tokio::test]
async fn body_bytes_sets_the_body_size() {
    let srv = server(UpstreamConfig {
        body_bytes: Some(10_000),
        ..UpstreamConfig::default()
    })
    .await;
    let mut c = Client::connect(srv.addr()).await;
    let r = c.get().await;
    assert_eq!(r.body.len(), 10_000);
    assert!(r.headers.contains(&"content-length: 10000".to_string()));

    let plain = server(UpstreamConfig::default()).await;
    assert_eq!(
        Client::connect(plain.addr()).await.get().await.body,
        b"ok\n"
    );
}
