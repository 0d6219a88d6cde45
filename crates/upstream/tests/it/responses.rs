//! Injected statuses, status windows, delays and body sizes.

use std::time::Duration;

use mesh5xx_upstream::faults::{Delay, Status, StatusWindow};
use mesh5xx_upstream::{AppFaults, UpstreamConfig};
use tokio::time::{sleep_until, Instant};

use crate::support::{ms, server, server_with, Client};

fn statuses(codes: &[(u16, f64)]) -> AppFaults {
    AppFaults::new().with(Status {
        codes: codes.iter().copied().collect(),
    })
}

#[tokio::test]
async fn status_503_at_100_percent_answers_503() {
    let srv = server_with(statuses(&[(503, 100.0)])).await;
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
    let srv = server_with(statuses(&[(504, 50.0)])).await;
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
    let srv = server_with(AppFaults::new().with(Delay {
        ms: 200,
        jitter_ms: 20,
    }))
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

/// `status-window`: every request arriving inside the window gets the code, whatever the
/// connection; before and after it the app answers 200.
#[tokio::test]
async fn a_status_window_answers_its_code_only_inside_the_window() {
    let srv = server_with(AppFaults::new().with(StatusWindow {
        at_ms: 400,
        for_ms: 400,
        code: 503,
    }))
    .await;
    let started = Instant::now();
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200, "before the window");
    sleep_until(started + ms(550)).await;
    assert_eq!(c.get().await.status, 503, "inside the window");
    let mut fresh = Client::connect(srv.addr()).await;
    assert_eq!(fresh.get().await.status, 503, "a new connection too");
    sleep_until(started + ms(1000)).await;
    assert_eq!(c.get().await.status, 200, "after the window");
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.responses.get("503"), Some(&2));
    assert_eq!(report.responses.get("200"), Some(&2));
    assert_eq!(report.connections_closed.total(), 2);
}

/// Inside the window its code takes precedence over status shares; outside, the shares apply.
#[tokio::test]
async fn a_status_window_overrides_status_shares() {
    let srv = server_with(statuses(&[(500, 100.0)]).with(StatusWindow {
        at_ms: 0,
        for_ms: 60_000,
        code: 502,
    }))
    .await;
    let mut c = Client::connect(srv.addr()).await;
    for _ in 0..10 {
        assert_eq!(c.get().await.status, 502);
    }
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.responses.get("502"), Some(&10));
    assert_eq!(report.responses.get("500"), None);
}
