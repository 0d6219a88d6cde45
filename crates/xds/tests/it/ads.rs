//! A real Envoy configured over ADS by the control plane: the first configuration, an
//! endpoint change, a rejected push, and a control plane that goes away.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::{profile, IstioObjects};
use mesh5xx_sidecar::provision::{locate, DEFAULT_ENVOY_VERSION};
use mesh5xx_sidecar::{render, Drain, Envoy, OutboundSpec, SidecarSpec};
use mesh5xx_xds::{
    ads_bootstrap, ControlPlane, Debounce, Event, Recorder, Resources, Schema, Update,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const HOST: &str = "srv-a.default.svc.cluster.local";
const CLUSTER: &str = "outbound|80||srv-a.default.svc.cluster.local";

/// An HTTP server that answers every request with its `name` in the body.
async fn backend(name: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

/// GET / for HOST through the sidecar's outbound listener: (status, body).
async fn get(sidecar: SocketAddr) -> (u16, String) {
    let mut s = TcpStream::connect(sidecar).await.unwrap();
    s.write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn events(cp: &ControlPlane) -> Vec<Event> {
    cp.recorder()
        .entries()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

fn sent_types(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Sent { type_url, .. } => Some(type_url.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_takes_its_configuration_endpoint_changes_and_nacks_over_ads() {
    let bin = locate(None, DEFAULT_ENVOY_VERSION).expect("an Envoy binary");
    let schema = Schema::locate(None).expect("the xDS schema");
    let scratch = mesh5xx_testkit::scratch("xds-ads");
    let dir = scratch.path();
    let (a, b) = (backend("A").await, backend("B").await);

    let p = profile::by_name("istio-1.24").unwrap();
    let istio = IstioObjects::default();
    let svc = Service {
        host: HOST.into(),
        port: 80,
        target_port: 8080,
    };
    let spec = SidecarSpec::client(
        &p,
        &istio,
        dir.join("access.log"),
        OutboundSpec {
            service: Some((&svc, vec![a])),
            external: vec![],
        },
    );
    let bootstrap = render(&spec);
    let node = bootstrap["node"]["id"].as_str().unwrap().to_string();
    let resources = Resources::from_bootstrap(&bootstrap).unwrap();

    let cp = ControlPlane::start(
        "127.0.0.1:0".parse().unwrap(),
        schema,
        Debounce::default(),
        25,
        Arc::new(Recorder::in_memory()),
    )
    .await
    .unwrap();
    cp.update(Update::Proxy {
        node: node.clone(),
        resources: resources.clone(),
    });
    let config = ads_bootstrap(&bootstrap, cp.addr());
    let envoy = Envoy::start(&bin, "client", &config, dir, Drain::default())
        .await
        .expect("Envoy becomes ready on its ADS configuration");
    let out = envoy
        .listener("0.0.0.0_80")
        .expect("the outbound listener came by LDS");
    assert_eq!(get(out).await, (200, "A".into()));

    // The first push: CDS, EDS, LDS, RDS in that order, each ACKed.
    let ev = events(&cp);
    let first: Vec<String> = sent_types(&ev).into_iter().take(4).collect();
    assert_eq!(first, ["cds", "eds", "lds", "rds"]);
    for t in ["cds", "eds", "lds", "rds"] {
        assert!(
            ev.iter()
                .any(|e| matches!(e, Event::Ack { type_url, .. } if type_url == t)),
            "no ACK for {t}: {ev:?}"
        );
    }

    // An endpoint change reaches the sidecar by EDS alone, after the debounce.
    let before = sent_types(&events(&cp)).len();
    let changed = Instant::now();
    cp.update(Update::Endpoints {
        cluster: CLUSTER.into(),
        endpoints: vec![b],
    });
    loop {
        if get(out).await.1 == "B" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "the new endpoint never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        changed.elapsed() >= Duration::from_millis(100),
        "pushed before the debounce"
    );
    let ev = events(&cp);
    assert_eq!(sent_types(&ev)[before..], ["eds"]);
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Push {
            full: false,
            merged: 1,
            ..
        }
    )));

    // A configuration Envoy rejects (connect_timeout must be > 0) is NACKed and recorded;
    // the sidecar keeps serving its last good one.
    let mut bad = resources.clone();
    bad.set_endpoints(CLUSTER, &[b]);
    bad.clusters.get_mut(CLUSTER).unwrap()["connect_timeout"] = serde_json::json!("0s");
    cp.update(Update::Proxy {
        node: node.clone(),
        resources: bad,
    });
    let nacked = Instant::now();
    let error = loop {
        let nack = events(&cp).into_iter().find_map(|e| match e {
            Event::Nack {
                type_url, error, ..
            } if type_url == "cds" => Some(error),
            _ => None,
        });
        if let Some(e) = nack {
            break e;
        }
        assert!(
            nacked.elapsed() < Duration::from_secs(5),
            "no NACK: {:?}",
            events(&cp)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(error.contains("connect_timeout"), "{error}");
    assert_eq!(get(out).await, (200, "B".into()));

    // The control plane goes away: the sidecar keeps serving its configuration.
    cp.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(events(&cp)
        .iter()
        .any(|e| matches!(e, Event::Disconnected { .. })));
    for _ in 0..5 {
        assert_eq!(get(out).await, (200, "B".into()));
    }
    let stats = envoy.stats().await.unwrap();
    assert!(
        stats
            .lines()
            .any(|l| l == "control_plane.connected_state: 0"),
        "Envoy still thinks it is connected"
    );
    envoy.stop().await.unwrap();
}
