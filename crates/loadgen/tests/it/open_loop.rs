//! Open loop: the rate is kept and queueing counts in latency.

use std::time::Duration;

use mesh5xx_loadgen::{run, Arrivals, LoadConfig, LoadMode, Pacing, Stop};

use crate::support::{Action, HttpServer};

fn open(addr: std::net::SocketAddr, rate: f64, connections: usize, ms: u64) -> LoadConfig {
    let mut config = LoadConfig::new(addr.to_string());
    config.connections = connections;
    config.pacing = Pacing::Open {
        rate,
        arrivals: Arrivals::Uniform,
    };
    config.stop = Stop {
        duration: Some(Duration::from_millis(ms)),
        requests: None,
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_is_respected() {
    let server = HttpServer::start(|_| Action::ok()).await;
    let report = run(open(server.addr, 200.0, 4, 2000)).await.unwrap();
    assert_eq!(report.mode, LoadMode::Open);
    assert_eq!(report.rate, Some(200.0));
    assert!(
        (320..=480).contains(&report.requests),
        "{}",
        report.requests
    );
    assert!(
        (160.0..=240.0).contains(&report.throughput_rps),
        "{}",
        report.throughput_rps
    );
    for second in &report.timeline {
        assert!((160..=240).contains(&second.requests), "{second:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queueing_behind_a_slow_server_counts_in_latency() {
    let server = HttpServer::start(|_| Action::Respond {
        status: 200,
        flags: None,
        close: false,
        delay: Duration::from_millis(100),
    })
    .await;
    let report = run(open(server.addr, 50.0, 1, 400)).await.unwrap();
    assert_eq!(report.requests, 20);
    assert!(report.latency_ms.p50 > 500.0, "{:?}", report.latency_ms);
    assert!(report.latency_ms.max > 1500.0, "{:?}", report.latency_ms);
    assert!(report.duration_s > 1.9, "{}", report.duration_s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_arrivals_keep_the_rate_and_a_seed_fixes_them() {
    let server = HttpServer::start(|_| Action::ok()).await;
    let poisson = |seed| {
        let mut config = open(server.addr, 500.0, 8, 1000);
        config.pacing = Pacing::Open {
            rate: 500.0,
            arrivals: Arrivals::Poisson,
        };
        config.seed = Some(seed);
        config
    };
    let first = run(poisson(3)).await.unwrap();
    // 500 expected; a Poisson count has a standard deviation of about 22.
    assert!((400..=600).contains(&first.requests), "{}", first.requests);
    // The same seed gives the same intended times, so the same number fall in the run.
    let again = run(poisson(3)).await.unwrap();
    assert_eq!(again.requests, first.requests);
    assert_eq!(first.errors + again.errors, 0);
}
