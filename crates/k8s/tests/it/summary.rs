//! summary.json of a kind run: the local schema, `"mode": "kind"`, the expectations checked.

use std::path::PathBuf;

use mesh5xx_k8s::summary::{app_report, build, role_of, Meta};
use mesh5xx_scenario::Catalog;

const SEED_UC: &str = "[2022-04-18T09:29:59.633Z] \"GET /service_a/v2.1/get?ids=123456 HTTP/1.1\" 503 UC \"-\" \"-\" 0 95 11 - \"-\" \"-\" \"bc6f9ba3-d8dc-4955-a092-64617d9277c8\" \"srv-a.xyz\" \"127.0.0.1:8080\" inbound|80|http|srv-a.xyz.svc.cluster.local - 100.64.121.11:8080 100.64.254.9:35174 -";

#[test]
fn a_kind_run_directory_summarizes_like_a_local_one() {
    let catalog =
        Catalog::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")).unwrap();
    let s = catalog.get("inbound-keepalive-uc").unwrap();
    let v = s.variant("baseline").unwrap();
    let scratch = mesh5xx_testkit::scratch("k8s-summary");
    let run = scratch.path().to_path_buf();
    let dir = run.join("baseline");
    std::fs::create_dir_all(&dir).unwrap();
    let loadgen = serde_json::json!({
        "mode": "open", "connections": 16, "rate": 200.0,
        "duration_s": 15.0, "requests": 3000, "responses": {"200": 2730, "503": 270},
        "flags": {"-": 2730, "UC": 270}, "transport_errors": {}, "errors": 270, "error_rate": 0.09,
        "latency_ms": {"p50": 1.0, "p90": 2.0, "p99": 5.0, "p999": 9.0, "max": 12.0, "mean": 1.2},
        "timeline": [{"t": 0, "requests": 3000, "errors": 270, "flags": {"UC": 270}}],
        "sockets_opened": 16, "sockets_ideal": 16, "throughput_rps": 200.0
    });
    std::fs::write(dir.join("loadgen.json"), loadgen.to_string()).unwrap();
    std::fs::write(
        dir.join("access-srv-a-5d9f-abcde.log"),
        format!("{SEED_UC}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("app-srv-a-5d9f-abcde.log"),
        // The container log: the READY line, then the report the app prints at SIGTERM.
        concat!(
            "MESH5XX-READY {\"addr\":\"0.0.0.0:8080\",\"pid\":1}\n",
            "{\"addr\": \"0.0.0.0:8080\", \"connections_opened\": 7,\n",
            " \"connections_closed\": {\"idle_timeout\": 5, \"max_requests\": 0, \"lifetime\": 0,",
            " \"down\": 0, \"peer\": 0, \"error\": 0, \"shutdown\": 2},\n",
            " \"requests\": 3000, \"responses\": {\"200\": 3000}, \"dropped_requests\": 0,",
            " \"reset_unread\": 260, \"down_windows\": []}\n",
        ),
    )
    .unwrap();
    let meta = Meta {
        profile: "istio-1.4".into(),
        envoy_version: "1.34.1".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        interrupted: false,
    };
    let sum = build(&run, s, &[v], &meta).unwrap();
    assert_eq!(sum.mode, "kind");
    assert_eq!(sum.schema_version, mesh5xx_results::SCHEMA_VERSION);
    let r = &sum.variants[0];
    assert_eq!(
        (r.requests, r.errors, r.dir.as_str()),
        (3000, 270, "baseline")
    );
    assert_eq!(r.sidecars.len(), 1);
    assert_eq!(
        (r.sidecars[0].role.as_str(), r.sidecars[0].flags["UC"]),
        ("server", 1)
    );
    assert_eq!(r.app_connections["opened"], 7);
    assert_eq!(r.app_connections["closed_idle_timeout"], 5);
    assert_eq!(r.app_connections["reset_unread"], 260);
    assert!(r.passed, "{:?}", r.failures);
    assert!(sum.passed);
    // The JSON has the local summary's fields.
    let json = serde_json::to_value(&sum).unwrap();
    for k in [
        "schema_version",
        "scenario",
        "envoy_version",
        "istio_profile",
        "mode",
        "machine",
        "variants",
    ] {
        assert!(json.get(k).is_some(), "{k}");
    }
    // A variant without loadgen.json fails the run and is left out.
    let missing = s.variant("abrupt-max-requests").unwrap();
    let sum = build(&run, s, &[v, missing], &meta).unwrap();
    assert_eq!(sum.variants.len(), 1);
    assert!(!sum.passed);
}

#[test]
fn roles_and_app_reports() {
    assert_eq!(role_of("loadgen-x7k2p"), "client");
    assert_eq!(role_of("srv-a-0-6c8f-abcde"), "server");
    assert!(app_report("MESH5XX-READY {}\n").is_err());
}
