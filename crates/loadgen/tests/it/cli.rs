//! The command line: flags parse into a configuration, bad values name their flag, and
//! `main` writes the JSON report and the .hgrm file.

use std::time::Duration;

use clap::Parser;
use mesh5xx_loadgen::{Arrivals, LoadArgs, LoadReport, Pacing, ResolveMode};

use crate::support::{Action, HttpServer};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: LoadArgs,
}

fn parse(flags: &[&str]) -> Result<LoadArgs, String> {
    let argv = ["loadgen"].iter().chain(flags);
    Cli::try_parse_from(argv)
        .map(|cli| cli.args)
        .map_err(|e| e.to_string())
}

#[test]
fn flags_become_a_configuration() {
    let args = parse(&[
        "--target",
        "127.0.0.1:15006",
        "-c",
        "4",
        "--rate",
        "250",
        "--requests",
        "100",
        "--header",
        "X-A: 1",
        "--header",
        "X-B: 2",
        "--no-keepalive",
        "--timeout-ms",
        "1500",
        "--resolve",
        "external.service.com",
        "--dns",
        "127.0.0.1:5353",
        "--upstream-port",
        "80",
        "--resolve-mode",
        "every-ms:300",
    ])
    .unwrap();
    let config = args.to_config().unwrap();
    assert_eq!(config.connections, 4);
    assert_eq!(
        config.pacing,
        Pacing::Open {
            rate: 250.0,
            arrivals: Arrivals::Uniform
        }
    );
    assert_eq!(
        (config.stop.requests, config.stop.duration),
        (Some(100), None)
    );
    assert_eq!(config.headers.len(), 2);
    assert!(!config.keepalive);
    assert_eq!(config.timeout, Duration::from_millis(1500));
    let resolve = config.resolve.unwrap();
    assert_eq!(resolve.mode, ResolveMode::Every(Duration::from_millis(300)));
    assert_eq!(config.flags_header, "x-mesh5xx-flags");
}

#[test]
fn the_default_run_is_five_seconds_closed_loop() {
    let config = parse(&["--target", "127.0.0.1:1"])
        .unwrap()
        .to_config()
        .unwrap();
    assert_eq!(config.stop.duration, Some(Duration::from_secs(5)));
    assert_eq!(config.connections, 8);
    assert_eq!(config.pacing, Pacing::default());
}

#[test]
fn bad_flags_name_the_flag() {
    let resolve = [
        "--target",
        "a:1",
        "--resolve",
        "x",
        "--dns",
        "127.0.0.1:53",
        "--upstream-port",
        "80",
    ];
    let err = parse(&[&resolve[..], &["--resolve-mode", "every-ms:x"]].concat()).unwrap_err();
    assert!(
        err.contains("--resolve-mode") && err.contains("every-ms:x"),
        "{err}"
    );

    let err = parse(&["--target", "a:1", "--resolve", "x"]).unwrap_err();
    assert!(err.contains("--upstream-port"), "{err}");
    let err = parse(&["--target", "a:1", "--connect-resolved"]).unwrap_err();
    assert!(err.contains("--resolve"), "{err}");

    let err = parse(&["--target", "a:1", "--header", "novalue"]).unwrap_err();
    assert!(err.contains("--header"), "{err}");

    let err = parse(&["--target", "a:1", "--rate", "5", "--think-ms", "3"]).unwrap_err();
    assert!(
        err.contains("--think-ms") && err.contains("--rate"),
        "{err}"
    );

    let err = parse(&["--target", "a:1", "--rate", "0"])
        .unwrap()
        .to_config()
        .unwrap_err();
    assert!(err.to_string().contains("--rate"), "{err}");

    let err = parse(&["--target", "a:1", "-c", "0"])
        .unwrap()
        .to_config()
        .unwrap_err();
    assert!(err.to_string().contains("--connections"), "{err}");
}

#[test]
fn main_writes_the_report_and_the_hgrm_file() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(HttpServer::start(|_| Action::ok()));
    let scratch = mesh5xx_testkit::scratch("loadgen");
    let dir = scratch.path();
    let (out, hgrm) = (dir.join("report.json"), dir.join("latency.hgrm"));
    let target = server.addr.to_string();
    let args = parse(&[
        "--target",
        &target,
        "--requests",
        "25",
        "-c",
        "2",
        "--progress",
        "never",
        "--out",
        out.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
    ])
    .unwrap();
    let code = mesh5xx_loadgen::main(args).unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let report: LoadReport = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report.requests, 25);
    let hgrm = std::fs::read_to_string(&hgrm).unwrap();
    assert!(hgrm.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    assert!(hgrm.contains("Total count    =           25]"), "{hgrm}");
}

#[test]
fn to_argv_round_trips_through_the_command_line() {
    let plain = LoadArgs::new("127.0.0.1:15001", 8000, "/tmp/loadgen.json");
    let mut open = plain.clone();
    open.host = Some("srv-a.default.svc.cluster.local".into());
    open.connections = 16;
    open.rate = Some(100.0);
    open.arrivals = Arrivals::Poisson;
    open.seed = Some(7);
    open.hgrm = Some("/tmp/latency.hgrm".into());
    open.progress = mesh5xx_loadgen::ProgressMode::Never;
    open.http10 = true;
    let mut resolving = plain.clone();
    resolving.think_ms = 2;
    resolving.think_jitter_ms = 1;
    resolving.no_keepalive = true;
    resolving.resolve = Some("external.service.com".into());
    resolving.dns = Some("127.0.0.1:5353".parse().unwrap());
    resolving.upstream_port = Some(80);
    resolving.resolve_mode = ResolveMode::Every(Duration::from_millis(1000));
    resolving.headers = vec![("x-a".into(), "b c".into())];
    resolving.max_requests_per_conn = Some(10);
    let mut server_first = plain.clone();
    server_first.banner_timeout_ms = Some(2000);
    server_first.rate = Some(20.0);
    for args in [plain, open, resolving, server_first] {
        let argv = args.to_argv();
        let back = parse(&argv.iter().map(String::as_str).collect::<Vec<_>>())
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        assert_eq!(back, args, "{argv:?}");
    }
}
