//! How long an endpoint change takes to reach every sidecar: N real Envoys on loopback, each
//! subscribed over ADS; one endpoint changes, and for each sidecar the time from the push
//! (after the debounce) to its EDS ACK is measured. Repeated 10 times per N, over
//! state-of-the-world ADS (the profiles before Istio 1.22) and over delta ADS (the
//! istio-1.24 profile's pilot-agent bootstrap), side by side.
//!
//! `cargo bench -p mesh5xx-xds --bench push -- 10 50 100` prints a line per API and ends
//! with the istio-1.24 profile's: `push to ack p50/p99 ms at 10/50/100 sidecars: a/b c/d e/f`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::{profile, Behaviour, IstioObjects};
use mesh5xx_sidecar::provision::{locate, DEFAULT_ENVOY_VERSION};
use mesh5xx_sidecar::{render, Drain, Envoy, OutboundSpec, SidecarSpec};
use mesh5xx_xds::{
    ads_bootstrap, AdsApi, ControlPlane, Debounce, Event, Recorder, Resources, Schema, Update,
};

const CLUSTER: &str = "outbound|80||srv-a.default.svc.cluster.local";
const ROUNDS: usize = 10;

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| {
            a.parse()
                .unwrap_or_else(|_| panic!("{a:?} is not a number of sidecars"))
        })
        .collect();
    let counts = if counts.is_empty() {
        vec![10, 50, 100]
    } else {
        counts
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    // The istio-1.24 profile's pilot-agent bootstraps with delta xDS: its line comes last.
    let current = profile::by_name("istio-1.24").expect("a profile");
    let apis = if current.has(Behaviour::DeltaXds) {
        [AdsApi::Grpc, AdsApi::DeltaGrpc]
    } else {
        [AdsApi::DeltaGrpc, AdsApi::Grpc]
    };
    let ns: Vec<String> = counts.iter().map(ToString::to_string).collect();
    let mut lines = Vec::new();
    for api in apis {
        let mut cells = Vec::new();
        for n in &counts {
            let (p50, p99) = rt.block_on(measure(*n, api));
            eprintln!(
                "{api:?}, {n} sidecars: push to ack p50 {p50:.1} ms, p99 {p99:.1} ms over {ROUNDS} pushes"
            );
            cells.push(format!("{p50:.1}/{p99:.1}"));
        }
        lines.push((api, cells.join(" ")));
    }
    for (api, cells) in &lines {
        let label = match api {
            AdsApi::Grpc => "state of the world (GRPC)",
            AdsApi::DeltaGrpc => "delta (DELTA_GRPC)",
        };
        println!(
            "{label}: push to ack p50/p99 ms at {} sidecars: {cells}",
            ns.join("/")
        );
    }
    // The profile's own API, in the line scripts/bench-control-plane.sh ends with.
    println!(
        "push to ack p50/p99 ms at {} sidecars: {}",
        ns.join("/"),
        lines[1].1
    );
}

async fn measure(n: usize, api: AdsApi) -> (f64, f64) {
    let bin = locate(None, DEFAULT_ENVOY_VERSION).expect("an Envoy binary");
    let schema = Schema::locate(None).expect("the xDS schema");
    let dir = tempfile_dir(n);
    let p = profile::by_name("istio-1.24").expect("a profile");
    let istio = IstioObjects::default();
    let svc = Service {
        host: "srv-a.default.svc.cluster.local".into(),
        port: 80,
        target_port: 8080,
    };
    let recorder = Arc::new(Recorder::in_memory());
    let cp = ControlPlane::start(
        "127.0.0.1:0".parse().expect("addr"),
        schema,
        Debounce::default(),
        25,
        recorder.clone(),
    )
    .await
    .expect("the control plane starts");
    let endpoint = |i: u16| SocketAddr::from(([127, 0, 0, 1], 20000 + i));
    let mut bootstraps = Vec::new();
    for i in 0..n {
        let mut spec = SidecarSpec::client(
            &p,
            &istio,
            dir.join(format!("access-{i}.log")),
            OutboundSpec {
                service: Some((&svc, vec![endpoint(0)])),
                external: vec![],
            },
        );
        spec.pod = format!("client-{i}");
        let b = render(&spec);
        cp.update(Update::Proxy {
            node: b["node"]["id"].as_str().expect("a node id").to_string(),
            resources: Resources::from_bootstrap(&b).expect("resources"),
        });
        bootstraps.push(b);
    }
    let mut envoys = Vec::new();
    for (i, b) in bootstraps.iter().enumerate() {
        let e = Envoy::start(
            &bin,
            &format!("client-{i}"),
            &ads_bootstrap(b, cp.addr(), api),
            &dir,
            Drain::default(),
        )
        .await
        .expect("Envoy starts");
        envoys.push(e);
    }
    let mut samples = Vec::new();
    for round in 1..=ROUNDS {
        let skip = recorder.entries().len();
        cp.update(Update::Endpoints {
            cluster: CLUSTER.into(),
            endpoints: vec![endpoint(round as u16)],
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let new = &recorder.entries()[skip..];
            let push = new.iter().find_map(|e| match &e.event {
                Event::Push { .. } => Some(e.t_ms),
                _ => None,
            });
            let acks: Vec<f64> = new
                .iter()
                .filter(|e| matches!(&e.event, Event::Ack { type_url, .. } if type_url == "eds"))
                .map(|e| e.t_ms)
                .collect();
            if let (Some(t0), true) = (push, acks.len() >= n) {
                samples.extend(acks.iter().map(|t| t - t0));
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: {} of {n} sidecars ACKed",
                acks.len()
            );
        }
    }
    for e in envoys {
        let _ = e.stop().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
    samples.sort_by(f64::total_cmp);
    (percentile(&samples, 0.50), percentile(&samples, 0.99))
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn tempfile_dir(n: usize) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mesh5xx-bench-push-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).expect("a scratch directory");
    d
}
