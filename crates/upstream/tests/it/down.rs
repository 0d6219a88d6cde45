//! The down/up schedule: refuse connects, close open connections, listen again on the same port.

use std::io::ErrorKind;

use mesh5xx_upstream::faults::{Down, DownWindow};
use mesh5xx_upstream::AppFaults;
use tokio::net::TcpStream;
use tokio::time::{sleep, Instant};

use crate::support::{ms, server_with, Client, Closed};

/// The app goes down at each `(at_ms, for_ms)`, counted from the start or the first request.
fn down(windows: &[(u64, u64)], after_first_request: bool) -> AppFaults {
    AppFaults::new().with(Down {
        windows: windows
            .iter()
            .map(|&(at_ms, for_ms)| DownWindow { at_ms, for_ms })
            .collect(),
        after_first_request,
    })
}

#[tokio::test]
async fn down_window_refuses_connects_then_serves_on_the_same_port() {
    let srv = server_with(down(&[(400, 1000)], false)).await;
    let started = Instant::now();
    let addr = srv.addr();
    let mut before = Client::connect(addr).await;
    assert_eq!(before.get().await.status, 200);

    // The open connection is closed when the app goes down.
    let (_, how) = before.wait_close(ms(3000)).await;
    assert_eq!(how, Closed::After(0));
    let down_seen = started.elapsed();
    assert!(down_seen >= ms(350), "went down after {down_seen:?}");

    // While down, the kernel refuses connects.
    sleep(ms(100)).await;
    let refused = TcpStream::connect(addr)
        .await
        .expect_err("connect while down");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    // Up again on the same port.
    let mut after = loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                drop(stream);
                break Client::connect(addr).await;
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && started.elapsed() < ms(5000) => {
                sleep(ms(20)).await;
            }
            Err(e) => panic!("not up again after {:?}: {e}", started.elapsed()),
        }
    };
    let up_seen = started.elapsed();
    assert!(up_seen >= ms(1300), "up again after only {up_seen:?}");
    assert_eq!(after.get().await.status, 200);

    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.down_windows.len(), 1);
    let w = report.down_windows[0];
    assert!((350..1000).contains(&w.at_ms), "{w:?}");
    assert!((950..2500).contains(&w.for_ms), "{w:?}");
    assert_eq!(report.connections_closed.down, 1);
    assert_eq!(report.requests, 2);
}

#[tokio::test]
async fn every_down_window_happens_in_order() {
    let srv = server_with(down(&[(700, 200), (200, 200)], false)).await;
    sleep(ms(1300)).await;
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200);
    let report = srv.shutdown().await.unwrap();
    let at: Vec<u64> = report.down_windows.iter().map(|w| w.at_ms).collect();
    assert_eq!(at.len(), 2, "{:?}", report.down_windows);
    assert!(at[0] >= 200 && at[0] < 650 && at[1] >= 700, "{at:?}");
}

/// `after_first_request`: the window counts from the first request, not from the
/// start; connections without a request (a readiness probe) do not start the count.
#[tokio::test]
async fn down_windows_count_from_the_first_request_when_asked() {
    let srv = server_with(down(&[(300, 500)], true)).await;
    let started = Instant::now();
    let addr = srv.addr();
    // A probe-like connection that sends nothing, then a wait well past start + 300 + 500.
    let probe = TcpStream::connect(addr).await.expect("listening");
    drop(probe);
    sleep(ms(900)).await;
    assert!(
        srv.report().down_windows.is_empty(),
        "no request yet, no window"
    );
    assert_eq!(srv.report().first_request_ms, None);
    let mut c = Client::connect(addr).await;
    let first = started.elapsed();
    assert_eq!(c.get().await.status, 200);

    // Down 300 ms after that request: the open connection is closed, connects are refused.
    let (_, how) = c.wait_close(ms(3000)).await;
    assert_eq!(how, Closed::After(0));
    let down_seen = started.elapsed();
    assert!(
        down_seen >= first + ms(250),
        "went down {down_seen:?} after start, first request at {first:?}"
    );
    sleep(ms(100)).await;
    let refused = TcpStream::connect(addr)
        .await
        .expect_err("connect while down");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    // Up again about 500 ms later.
    loop {
        match TcpStream::connect(addr).await {
            Ok(_) => break,
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && started.elapsed() < ms(6000) => {
                sleep(ms(20)).await;
            }
            Err(e) => panic!("not up again after {:?}: {e}", started.elapsed()),
        }
    }
    let report = srv.shutdown().await.unwrap();
    let first_ms = report.first_request_ms.expect("first request recorded");
    assert!((850..2000).contains(&first_ms), "{report:?}");
    assert_eq!(report.down_windows.len(), 1);
    let w = report.down_windows[0];
    assert!(
        w.at_ms >= first_ms + 280 && w.at_ms < first_ms + 1000,
        "{w:?} after the first request at {first_ms}"
    );
    assert!((450..2000).contains(&w.for_ms), "{w:?}");
}

/// Without `after_first_request` the report carries no first-request time (the window counts from start).
#[tokio::test]
async fn without_the_flag_the_first_request_is_not_recorded() {
    let srv = server_with(down(&[(5000, 100)], false)).await;
    let mut c = Client::connect(srv.addr()).await;
    assert_eq!(c.get().await.status, 200);
    let report = srv.shutdown().await.unwrap();
    assert_eq!(report.first_request_ms, None);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("first_request_ms"), "{json}");
}
