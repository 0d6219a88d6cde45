//! The processes' typed contracts across a real process boundary: `mesh5xx upstream` started
//! from its `UpstreamArgs` (its READY line read as its `Ready`), `mesh5xx loadgen` from its
//! `LoadArgs`, and each report read back as its typed report.

use std::process::Command;
use std::time::Duration;

use mesh5xx_loadgen::{LoadArgs, LoadReport, ProgressMode};
use mesh5xx_testkit::{scratch, Child};
use mesh5xx_upstream::faults::{MaxRequests, StatusWindow};
use mesh5xx_upstream::{AppFaults, Ready, UpstreamArgs, UpstreamReport};

fn read<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

#[test]
fn upstream_and_loadgen_run_from_their_typed_arguments_and_report_typed_results() {
    let dir = scratch("contracts");
    let app_report = dir.path().join("app.json");
    // Every request answered 503 for a minute; connections recycled every 10 requests.
    let faults = AppFaults::new()
        .with(StatusWindow {
            at_ms: 0,
            for_ms: 60_000,
            code: 503,
        })
        .with(MaxRequests {
            count: 10,
            ..MaxRequests::default()
        });
    let args = UpstreamArgs::new("127.0.0.1:0".parse().unwrap(), faults).with_report(&app_report);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mesh5xx"));
    cmd.arg("upstream").args(args.to_argv());
    let (app, ready): (Child, Ready) = Child::start(
        "mesh5xx upstream",
        cmd,
        &dir.path().join("app.err"),
        Duration::from_secs(10),
    );
    assert_ne!(ready.addr.port(), 0, "port 0 is resolved on the READY line");
    assert_eq!(ready.pid, app.pid());

    let load_report = dir.path().join("load.json");
    let mut load = LoadArgs::new(ready.addr.to_string(), 0, load_report.display().to_string());
    load.duration_ms = None;
    load.requests = Some(40);
    load.connections = 2;
    load.progress = ProgressMode::Never;
    let status = Command::new(env!("CARGO_BIN_EXE_mesh5xx"))
        .arg("loadgen")
        .args(load.to_argv())
        .status()
        .unwrap();
    assert!(status.success(), "loadgen exited with {status}");
    let load: LoadReport = read(&load_report);
    assert_eq!(load.requests, 40);
    assert_eq!(load.responses.get(&503), Some(&40), "{:?}", load.responses);

    assert!(app.terminate(Duration::from_secs(10)).success());
    let app: UpstreamReport = read(&app_report);
    assert_eq!(app.requests, 40);
    assert_eq!(app.responses.get("503"), Some(&40), "{:?}", app.responses);
    assert!(
        app.connections_closed.max_requests >= 3,
        "40 requests on 10-request connections: {:?}",
        app.connections_closed
    );
}
