//! How the app stops: at once by default; with `graceful-shutdown`, idle connections closed,
//! requests in flight finished with `Connection: close`, new connections refused, and the
//! rest cut at the timeout; after a `shutdown-delay` when both are set.

use std::net::SocketAddr;
use std::time::Duration;

use mesh5xx_upstream::faults::{Delay, GracefulShutdown, ShutdownDelay};
use mesh5xx_upstream::{AppFaults, RunningUpstream, UpstreamReport};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

use crate::support::{ms, server_with, Client, Closed};

fn delay(ms: u64) -> Delay {
    Delay { ms, jitter_ms: 0 }
}

fn graceful(timeout_ms: u64) -> GracefulShutdown {
    GracefulShutdown { timeout_ms }
}

/// Wait until the server has received `n` requests (or accepted `n` connections, with
/// `connections`).
async fn wait_until(srv: &RunningUpstream, n: u64, connections: bool) {
    for _ in 0..500 {
        let r = srv.report();
        if (if connections {
            r.connections_opened
        } else {
            r.requests
        }) >= n
        {
            return;
        }
        tokio::time::sleep(ms(10)).await;
    }
    panic!("the server never got to {n}: {:?}", srv.report());
}

/// Whether a new connection to `addr` is refused.
async fn refused(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_err()
}

/// The report of a stop begun in `stop`, within `limit`.
async fn finished(
    stop: JoinHandle<Result<UpstreamReport, mesh5xx_upstream::UpstreamError>>,
    limit: Duration,
) -> UpstreamReport {
    timeout(limit, stop)
        .await
        .expect("the server stops in time")
        .expect("the stop task runs")
        .expect("the server stops")
}

#[tokio::test]
async fn without_the_fault_a_request_in_flight_is_cut_at_the_stop() {
    let srv = server_with(AppFaults::new().with(delay(3000))).await;
    let mut busy = Client::connect(srv.addr()).await;
    busy.send().await;
    wait_until(&srv, 1, false).await;
    let began = Instant::now();
    let report = timeout(ms(2000), srv.shutdown()).await.unwrap().unwrap();
    let (_, how) = busy.wait_close(ms(2000)).await;
    assert_eq!(how, Closed::After(0), "the request got an answer");
    assert!(
        began.elapsed() < ms(2000),
        "stopped after {:?}",
        began.elapsed()
    );
    let closed = report.connections_closed;
    assert_eq!(
        (
            closed.shutdown,
            closed.shutdown_after_response,
            closed.shutdown_idle
        ),
        (1, 0, 0)
    );
    assert_eq!(report.responses.get("200"), None);
}

#[tokio::test]
async fn a_request_in_flight_finishes_with_connection_close_while_new_connections_are_refused() {
    let srv = server_with(AppFaults::new().with(graceful(5000)).with(delay(800))).await;
    let addr = srv.addr();
    let mut busy = Client::connect(addr).await;
    let before = busy.get().await;
    assert_eq!(before.status, 200);
    assert!(!before.says_close(), "{:?}", before.headers);
    busy.send().await;
    wait_until(&srv, 2, false).await;

    let began = Instant::now();
    let stop = tokio::spawn(srv.shutdown());
    tokio::time::sleep(ms(150)).await;
    assert!(refused(addr).await, "a new connection was accepted");

    let last = busy.response().await;
    assert_eq!(last.status, 200);
    assert!(last.says_close(), "{:?}", last.headers);
    assert_eq!(busy.wait_close(ms(2000)).await.1, Closed::After(0));
    let report = finished(stop, ms(3000)).await;
    assert!(
        began.elapsed() < ms(3500),
        "waited {:?} for a connection that closed after ~800 ms",
        began.elapsed()
    );
    let closed = report.connections_closed;
    assert_eq!(
        (
            closed.shutdown_after_response,
            closed.shutdown_idle,
            closed.shutdown
        ),
        (1, 0, 0)
    );
    assert_eq!(report.responses.get("200"), Some(&2));
}

#[tokio::test]
async fn idle_connections_close_at_once_and_the_app_exits_without_waiting_for_the_timeout() {
    let srv = server_with(AppFaults::new().with(graceful(10_000))).await;
    let addr = srv.addr();
    let mut idle = Client::connect(addr).await;
    assert_eq!(idle.get().await.status, 200);
    // Accepted, but its first request not sent yet: idle too.
    let mut fresh = Client::connect(addr).await;
    wait_until(&srv, 2, true).await;

    let began = Instant::now();
    let stop = tokio::spawn(srv.shutdown());
    let (after, how) = idle.wait_close(ms(3000)).await;
    assert_eq!(how, Closed::After(0), "closed without a byte");
    assert!(after < ms(1000), "closed only after {after:?}");
    assert_eq!(fresh.wait_close(ms(3000)).await.1, Closed::After(0));
    let report = finished(stop, ms(3000)).await;
    assert!(
        began.elapsed() < ms(3000),
        "stopped after {:?}",
        began.elapsed()
    );
    assert!(refused(addr).await);
    let closed = report.connections_closed;
    assert_eq!(
        (
            closed.shutdown_idle,
            closed.shutdown_after_response,
            closed.shutdown
        ),
        (2, 0, 0)
    );
}

#[tokio::test]
async fn the_timeout_cuts_a_request_longer_than_it() {
    let srv = server_with(AppFaults::new().with(graceful(300)).with(delay(3000))).await;
    let mut busy = Client::connect(srv.addr()).await;
    busy.send().await;
    wait_until(&srv, 1, false).await;

    let stop = tokio::spawn(srv.shutdown());
    let (after, how) = busy.wait_close(ms(5000)).await;
    assert_eq!(how, Closed::After(0), "the request got an answer");
    assert!(
        after >= ms(250),
        "cut after {after:?}, before the 300 ms timeout"
    );
    assert!(after < ms(2500), "cut only after {after:?}");
    let report = finished(stop, ms(3000)).await;
    let closed = report.connections_closed;
    assert_eq!(
        (
            closed.shutdown,
            closed.shutdown_after_response,
            closed.shutdown_idle
        ),
        (1, 0, 0)
    );
    assert_eq!((report.requests, report.responses.get("200")), (1, None));
}

#[tokio::test]
async fn after_a_shutdown_delay_the_graceful_stop_begins() {
    let srv = server_with(
        AppFaults::new()
            .with(ShutdownDelay { ms: 500 })
            .with(graceful(5000))
            .with(delay(800)),
    )
    .await;
    let addr = srv.addr();
    let mut idle = Client::connect(addr).await;
    assert_eq!(idle.get().await.status, 200);
    let mut busy = Client::connect(addr).await;
    busy.send().await;
    wait_until(&srv, 2, false).await;

    let began = Instant::now();
    let stop = tokio::spawn(srv.terminate());
    // During the delay the app still listens: a request sent now is served, and finished by
    // the graceful stop.
    tokio::time::sleep(ms(100)).await;
    let mut late = Client::connect(addr).await;
    late.send().await;

    let (_, how) = idle.wait_close(ms(3000)).await;
    let idle_closed = began.elapsed();
    assert_eq!(how, Closed::After(0));
    assert!(
        idle_closed >= ms(450),
        "the idle connection closed after {idle_closed:?}, before the 500 ms delay ended"
    );
    assert!(refused(addr).await, "a new connection was accepted");
    for c in [&mut busy, &mut late] {
        let r = c.response().await;
        assert_eq!(r.status, 200);
        assert!(r.says_close(), "{:?}", r.headers);
        assert_eq!(c.wait_close(ms(2000)).await.1, Closed::After(0));
    }
    let report = finished(stop, ms(3000)).await;
    assert!(
        began.elapsed() < ms(4000),
        "stopped after {:?}",
        began.elapsed()
    );
    let closed = report.connections_closed;
    assert_eq!(
        (
            closed.shutdown_idle,
            closed.shutdown_after_response,
            closed.shutdown
        ),
        (1, 2, 0)
    );
    assert_eq!(report.responses.get("200"), Some(&3));
}
