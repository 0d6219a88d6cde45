//! Keep-alive recycling: idle timeout, max requests (graceful, abrupt, drop), lifetime.

use mesh5xx_upstream::faults::{CloseLag, CloseMode, Delay, IdleClose, Lifetime, MaxRequests};
use mesh5xx_upstream::{AppFaults, UpstreamConfig};

use crate::support::{ms, server, server_with, Client, Closed};

fn recycle_after(count: u64, mode: CloseMode) -> AppFaults {
    AppFaults::new().with(MaxRequests { count, mode })
}

fn idle(after_ms: u64) -> IdleClose {
    IdleClose { after_ms }
}

fn delay(ms: u64) -> Delay {
    Delay { ms, jitter_ms: 0 }
}

#[tokio::test]
async fn idle_connection_closes_after_timeout_not_before() {
    let srv = server_with(AppFaults::new().with(idle(400))).await;
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200);
    let (after, how) = c.wait_close(ms(3000)).await;
    assert_eq!(how, Closed::After(0), "closed without a byte of notice");
    assert!(
        after >= ms(330),
        "closed after {after:?}, before the 400 ms idle timeout"
    );
    assert!(after <= ms(2000), "closed only after {after:?}");
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.connections_closed.idle_timeout, 1);
}

#[tokio::test]
async fn requests_keep_an_idle_timeout_connection_open() {
    let srv = server_with(AppFaults::new().with(idle(400))).await;
    let mut c = Client::connect(srv.addr()).await;
    for _ in 0..6 {
        assert_eq!(c.get().await.status, 200);
        c.assert_open_for(ms(150)).await;
    }
    assert!(matches!(c.wait_close(ms(3000)).await.1, Closed::After(0)));
    assert_eq!(
        srv.shutdown()
            .await
            .unwrap()
            .connections_closed
            .idle_timeout,
        1
    );
}

#[tokio::test]
async fn idle_timeout_never_cuts_a_slow_response() {
    let srv = server_with(AppFaults::new().with(idle(100)).with(delay(400))).await;
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200);
    assert!(matches!(c.wait_close(ms(3000)).await.1, Closed::After(0)));
}

#[tokio::test]
async fn graceful_sends_connection_close_on_the_nth_response() {
    let srv = server_with(recycle_after(3, CloseMode::Graceful)).await;
    let mut c = Client::connect(srv.addr()).await;
    for _ in 0..2 {
        assert!(!c.get().await.says_close());
    }
    let last = c.get().await;
    assert_eq!(last.status, 200);
    assert!(last.says_close(), "{:?}", last.headers);
    assert_eq!(c.wait_close(ms(2000)).await.1, Closed::After(0));
    let report = srv.shutdown().await.unwrap();
    assert_eq!(
        (report.requests, report.connections_closed.max_requests),
        (3, 1)
    );
}

#[tokio::test]
async fn abrupt_closes_after_the_nth_response_without_the_header() {
    let srv = server_with(recycle_after(3, CloseMode::Abrupt)).await;
    let mut c = Client::connect(srv.addr()).await;
    for _ in 0..3 {
        let r = c.get().await;
        assert_eq!(r.status, 200);
        assert!(!r.says_close(), "{:?}", r.headers);
    }
    let (after, how) = c.wait_close(ms(2000)).await;
    assert_eq!(how, Closed::After(0));
    assert!(after < ms(500), "closed only after {after:?}");
    let report = srv.shutdown().await.unwrap();
    assert_eq!(
        (report.requests, report.connections_closed.max_requests),
        (3, 1)
    );
}

#[tokio::test]
async fn abrupt_close_waits_for_a_large_body() {
    let srv = server(UpstreamConfig {
        body_bytes: Some(4 << 20),
        ..UpstreamConfig::with_faults(recycle_after(1, CloseMode::Abrupt))
    })
    .await;
    let mut c = Client::connect(srv.addr()).await;
    let r = c.get().await;
    assert_eq!(r.body.len(), 4 << 20);
    assert!(!r.says_close());
    assert_eq!(c.wait_close(ms(2000)).await.1, Closed::After(0));
}

#[tokio::test]
async fn drop_reads_request_n_plus_1_and_closes_without_a_byte() {
    let srv = server_with(recycle_after(2, CloseMode::Drop)).await;
    let mut c = Client::connect(srv.addr()).await;
    for _ in 0..2 {
        let r = c.get().await;
        assert_eq!(r.status, 200);
        assert!(!r.says_close(), "{:?}", r.headers);
    }
    c.assert_open_for(ms(200)).await;
    c.send().await;
    assert_eq!(c.wait_close(ms(2000)).await.1, Closed::After(0));
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.requests, 3);
    assert_eq!(report.dropped_requests, 1);
    assert_eq!(report.responses.get("200"), Some(&2));
    assert_eq!(report.connections_closed.max_requests, 1);
}

#[tokio::test]
async fn lifetime_closes_an_idle_connection() {
    let srv = server_with(AppFaults::new().with(Lifetime { after_ms: 500 })).await;
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200);
    c.assert_open_for(ms(250)).await;
    assert!(!c.get().await.says_close());
    assert_eq!(c.wait_close(ms(3000)).await.1, Closed::After(0));
    assert_eq!(srv.shutdown().await.unwrap().connections_closed.lifetime, 1);
}

#[tokio::test]
async fn lifetime_lets_the_response_in_flight_finish() {
    let srv = server_with(
        AppFaults::new()
            .with(Lifetime { after_ms: 100 })
            .with(delay(400)),
    )
    .await;
    let mut c = Client::connect(srv.addr()).await;
    let r = c.get().await;
    assert_eq!(r.status, 200);
    let (after, how) = c.wait_close(ms(2000)).await;
    assert_eq!(how, Closed::After(0));
    assert!(after < ms(500), "closed only after {after:?}");
    assert_eq!(srv.shutdown().await.unwrap().connections_closed.lifetime, 1);
}

fn idle_with_close_lag(after_ms: u64, lag: u64) -> AppFaults {
    AppFaults::new()
        .with(idle(after_ms))
        .with(CloseLag { ms: lag })
}

#[tokio::test]
async fn the_fin_of_an_idle_close_leaves_after_the_close_lag() {
    let srv = server_with(idle_with_close_lag(100, 300)).await;
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200);
    let (after, how) = c.wait_close(ms(3000)).await;
    assert_eq!(how, Closed::After(0));
    assert!(
        after >= ms(350),
        "closed after {after:?}, before idle timeout + lag (400 ms)"
    );
    let report = srv.shutdown().await.unwrap();
    assert_eq!(
        (report.connections_closed.idle_timeout, report.reset_unread),
        (1, 0)
    );
}

#[tokio::test]
async fn a_request_sent_during_the_close_lag_is_reset_unanswered() {
    let srv = server_with(idle_with_close_lag(100, 300)).await;
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200);
    // The idle timer fired at 100 ms; the FIN leaves at 400 ms. A request now is not read.
    tokio::time::sleep(ms(200)).await;
    c.send().await;
    let (_, how) = c.wait_close(ms(3000)).await;
    assert_eq!(how, Closed::After(0), "the request got an answer");
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.reset_unread, 1);
    assert_eq!(report.requests, 1, "the second request was never read");
}

#[tokio::test]
async fn a_lifetime_reached_mid_request_closes_through_the_lag_after_the_response() {
    let srv = server_with(
        AppFaults::new()
            .with(Lifetime { after_ms: 100 })
            .with(CloseLag { ms: 300 })
            .with(delay(200)),
    )
    .await;
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200);
    // The response arrives; the connection is no longer read and closes 300 ms later.
    c.send().await;
    let (after, how) = c.wait_close(ms(3000)).await;
    assert_eq!(how, Closed::After(0));
    assert!(after >= ms(200), "closed after {after:?}, before the lag");
    let report = srv.shutdown().await.unwrap();
    assert_eq!(
        (report.connections_closed.lifetime, report.reset_unread),
        (1, 1)
    );
}
