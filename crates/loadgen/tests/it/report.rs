//! The report: timeline, JSON shape and round trip.

use std::time::Duration;

use mesh5xx_loadgen::{run, write_hgrm, LoadConfig, LoadMode, LoadReport, Pacing, Stop};

use crate::support::{Action, HttpServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeline_has_one_entry_per_second() {
    let server = HttpServer::start(|i| match i % 10 {
        0 => Action::status(503, Some("UF")),
        _ => Action::ok(),
    })
    .await;
    let mut config = LoadConfig::new(server.addr.to_string());
    config.connections = 2;
    config.stop = Stop {
        duration: Some(Duration::from_millis(2000)),
        requests: None,
    };
    config.pacing = Pacing::Closed {
        think: Duration::from_millis(10),
        jitter: Duration::from_millis(2),
    };
    let report = run(config).await.unwrap();
    assert_eq!(report.mode, LoadMode::Closed);
    assert_eq!(report.rate, None);
    let seconds: Vec<u64> = report.timeline.iter().map(|s| s.t).collect();
    assert_eq!(seconds, [0, 1]);
    let total: u64 = report.timeline.iter().map(|s| s.requests).sum();
    assert_eq!(total, report.requests);
    let uf: u64 = report
        .timeline
        .iter()
        .filter_map(|s| s.flags.get("UF"))
        .sum();
    assert_eq!(Some(&uf), report.flags.get("UF"));
    assert!(report.timeline.iter().all(|s| !s.flags.contains_key("-")));
    // 2 workers, ~10 ms think: ~200 requests a second at most.
    assert!(
        (100..=420).contains(&report.requests),
        "{}",
        report.requests
    );
    assert!(
        report.duration_s >= 2.0 && report.duration_s < 2.5,
        "{}",
        report.duration_s
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_report_round_trips() {
    let server = HttpServer::start(|i| match i % 3 {
        0 => Action::status(503, Some("UC")),
        1 => Action::CloseWithoutResponse,
        _ => Action::ok(),
    })
    .await;
    let report = run(crate::requests(server.addr, 2, 30)).await.unwrap();
    let json = serde_json::to_string(&report).unwrap();
    let back: LoadReport = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);

    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["mode"], "closed");
    assert_eq!(value["rate"], serde_json::Value::Null);
    assert_eq!(value["responses"]["503"], 10);
    assert_eq!(value["flags"]["UC"], 10);
    assert_eq!(value["transport_errors"]["closed_before_response"], 10);
    assert_eq!(value["errors"], 20);
    for key in ["p50", "p90", "p99", "p999", "max", "mean"] {
        assert!(value["latency_ms"][key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(value.get("dns_queries").is_none());
    assert!(value.get("resolved").is_none());
    assert!(value["timeline"][0]["t"].is_u64());

    let mut hgrm = Vec::new();
    write_hgrm(report.latency_histogram.as_ref().unwrap(), &mut hgrm).unwrap();
    let hgrm = String::from_utf8(hgrm).unwrap();
    assert!(hgrm.contains("Total count    =           30]"), "{hgrm}");
}
