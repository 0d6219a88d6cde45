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

/// `mesh5xx xds`: its READY line, updates as JSON lines on stdin, the record, and a bad update
/// line ending it with exit code 2 and the line named (what was recorded before stays).
#[test]
fn the_control_plane_reads_updates_on_stdin_and_refuses_a_bad_line_by_number() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let dir = scratch("xds-process");
    let record = dir.path().join("xds.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh5xx"))
        .args(["xds", "--debounce-after-ms", "10", "--record"])
        .arg(&record)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let ready: mesh5xx_xds::Ready = serde_json::from_value(
        mesh5xx_process::parse_ready_line(line.trim()).unwrap_or_else(|| panic!("{line}")),
    )
    .unwrap();
    assert!(ready.addr.ip().is_loopback() && ready.addr.port() != 0);
    let mut stdin = child.stdin.take().unwrap();
    let update = mesh5xx_xds::Update::RemoveProxy {
        node: "sidecar~127.0.0.1~gone.default~default.svc.cluster.local".into(),
    };
    writeln!(stdin, "{}", serde_json::to_string(&update).unwrap()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    writeln!(
        stdin,
        r#"{{"update": "endpoints", "cluster": "c", "endpoints": ["nowhere"]}}"#
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stdin line 2: endpoints[0]"), "{err}");
    let entries = mesh5xx_xds::record::read(&record).unwrap();
    let events: Vec<&mesh5xx_xds::Event> = entries.iter().map(|e| &e.event).collect();
    assert!(
        matches!(events[0], mesh5xx_xds::Event::Update { full: true, .. }),
        "{events:?}"
    );
    assert!(events
        .iter()
        .any(|e| matches!(e, mesh5xx_xds::Event::Push { version, .. } if version == "v1")));
    assert!(matches!(
        events.last().unwrap(),
        mesh5xx_xds::Event::Rejected { reason, .. } if reason.starts_with("stdin line 2")
    ));

    let o = Command::new(env!("CARGO_BIN_EXE_mesh5xx"))
        .args(["xds", "--listen", "10.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--listen 10.0.0.1:0"));
}
