//! A real Envoy configured over state-of-the-world ADS by the control plane: the first
//! configuration, an endpoint change, a rejected push, and a control plane that goes away.

use std::time::{Duration, Instant};

use mesh5xx_xds::{AdsApi, Event, Update};

use crate::support::{backend, events, get, sent_types, sidecar_over, CLUSTER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_takes_its_configuration_endpoint_changes_and_nacks_over_ads() {
    let scratch = mesh5xx_testkit::scratch("xds-ads");
    let dir = scratch.path();
    let (a, b) = (backend("A").await, backend("B").await);
    let (cp, envoy, node, resources) = sidecar_over(AdsApi::Grpc, dir, a).await;
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
