//! A real Envoy bootstrapped with `DELTA_GRPC`, as pilot-agent does from Istio 1.22, configured
//! by the control plane's incremental ADS: the first configuration, an endpoint change, a
//! cluster added and removed, a rejected push that is not resent, and a reconnection that is
//! sent only what changed while the sidecar was away.

use std::time::Duration;

use mesh5xx_sidecar::provision::{locate, DEFAULT_ENVOY_VERSION};
use mesh5xx_sidecar::{Drain, Envoy};
use mesh5xx_xds::{ads_bootstrap, AdsApi, ControlPlane, Entry, Event, Resources, Update};
use serde_json::json;

use crate::support::{
    backend, client, control_plane, events, get, http_get, sent_types, sidecar_over, within,
    CLUSTER,
};

const OTHER: &str = "outbound|80||srv-b.default.svc.cluster.local";

/// The responses of type `t` sent since entry `from`: (resources, removed).
fn sent(cp: &ControlPlane, from: usize, t: &str) -> Vec<(usize, usize)> {
    events(cp)[from..]
        .iter()
        .filter_map(|e| match e {
            Event::Sent {
                type_url,
                resources,
                removed,
                ..
            } if type_url == t => Some((*resources, *removed)),
            _ => None,
        })
        .collect()
}

/// Envoy's `/clusters`.
async fn clusters(envoy: &Envoy) -> String {
    let (status, body) = http_get(envoy.admin(), "localhost", "/clusters").await;
    assert_eq!(status, 200);
    body
}

/// `r` with one more EDS cluster, OTHER, a copy of CLUSTER, its endpoints at `at`.
fn with_other(r: &Resources, at: std::net::SocketAddr) -> Resources {
    let mut r = r.clone();
    let mut c = r.clusters[CLUSTER].clone();
    c["name"] = json!(OTHER);
    c["eds_cluster_config"]["service_name"] = json!(OTHER);
    if c.get("alt_stat_name").is_some() {
        c["alt_stat_name"] = json!(format!("{OTHER};"));
    }
    r.clusters.insert(OTHER.into(), c);
    r.endpoints.insert(
        OTHER.into(),
        mesh5xx_xds::resources::load_assignment(OTHER, &[at]),
    );
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_takes_changes_removals_and_nacks_over_delta_ads() {
    let scratch = mesh5xx_testkit::scratch("xds-delta");
    let dir = scratch.path();
    let (a, b) = (backend("A").await, backend("B").await);
    let (cp, envoy, node, resources) = sidecar_over(AdsApi::DeltaGrpc, dir, a).await;
    let out = envoy
        .listener("0.0.0.0_80")
        .expect("the outbound listener came by LDS");
    assert_eq!(get(out).await, (200, "A".into()));

    // A delta stream; the first responses in istiod's order, each ACKed.
    let ev = events(&cp);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Connected { delta: true, .. })),
        "{ev:?}"
    );
    assert_eq!(sent_types(&ev)[..4], ["cds", "eds", "lds", "rds"]);
    for t in ["cds", "eds", "lds", "rds"] {
        assert!(
            ev.iter()
                .any(|e| matches!(e, Event::Ack { type_url, .. } if type_url == t)),
            "no ACK for {t}: {ev:?}"
        );
    }

    // An endpoint change: one ClusterLoadAssignment, after the debounce; the record shows
    // the push, the response and its ACK, in that order.
    let from = events(&cp).len();
    cp.update(Update::Endpoints {
        cluster: CLUSTER.into(),
        endpoints: vec![b],
    });
    within(
        Duration::from_secs(5),
        "the new endpoint never arrived",
        async || (get(out).await.1 == "B").then_some(()),
    )
    .await;
    assert_eq!(sent_types(&events(&cp)[from..]), ["eds"]);
    assert_eq!(sent(&cp, from, "eds"), [(1, 0)]);
    let entries: Vec<Entry> = cp.recorder().entries()[from..].to_vec();
    let push = entries
        .iter()
        .position(|e| matches!(e.event, Event::Push { full: false, .. }))
        .expect("an EDS push");
    let (send, nonce) = entries
        .iter()
        .enumerate()
        .find_map(|(i, e)| match &e.event {
            Event::Sent { nonce, .. } => Some((i, nonce.clone())),
            _ => None,
        })
        .unwrap();
    let ack = within(
        Duration::from_secs(5),
        "no ACK of the EDS push",
        async || {
            cp.recorder().entries()[from..]
                .iter()
                .position(|e| matches!(&e.event, Event::Ack { nonce: n, .. } if *n == nonce))
        },
    )
    .await;
    assert!(push < send && send < ack, "{push} {send} {ack}");

    // A cluster added: only it goes by CDS (the others are unchanged), then its endpoints
    // when Envoy subscribes to them; LDS and RDS are not sent.
    let current = {
        let mut r = resources.clone();
        r.set_endpoints(CLUSTER, &[b]);
        r
    };
    let from = events(&cp).len();
    cp.update(Update::Proxy {
        node: node.clone(),
        resources: with_other(&current, a),
    });
    let a_port = format!(":{}::", a.port());
    within(
        Duration::from_secs(5),
        "the added cluster never warmed",
        async || {
            let c = clusters(&envoy).await;
            c.lines()
                .any(|l| l.starts_with(&format!("{OTHER}::")) && l.contains(&a_port))
                .then_some(())
        },
    )
    .await;
    assert_eq!(sent(&cp, from, "cds"), [(1, 0)]);
    assert_eq!(sent(&cp, from, "eds"), [(1, 0)]);
    assert!(sent(&cp, from, "lds").is_empty() && sent(&cp, from, "rds").is_empty());

    // And removed: named in removed_resources, gone from Envoy.
    let from = events(&cp).len();
    cp.update(Update::Proxy {
        node: node.clone(),
        resources: current.clone(),
    });
    within(
        Duration::from_secs(5),
        "the removed cluster stayed",
        async || (!clusters(&envoy).await.contains(OTHER)).then_some(()),
    )
    .await;
    assert_eq!(sent(&cp, from, "cds"), [(0, 1)]);
    assert_eq!(get(out).await, (200, "B".into()));

    // A cluster Envoy rejects (connect_timeout must be > 0): the NACK is recorded, the sidecar
    // keeps its last good configuration, and the rejected cluster is not sent again with the
    // next push.
    let mut bad = current.clone();
    bad.clusters.get_mut(CLUSTER).unwrap()["connect_timeout"] = json!("0s");
    let from = events(&cp).len();
    cp.update(Update::Proxy {
        node: node.clone(),
        resources: bad,
    });
    let error = within(Duration::from_secs(5), "no NACK", async || {
        events(&cp)[from..].iter().find_map(|e| match e {
            Event::Nack {
                type_url, error, ..
            } if type_url == "cds" => Some(error.clone()),
            _ => None,
        })
    })
    .await;
    assert!(error.contains("connect_timeout"), "{error}");
    assert_eq!(get(out).await, (200, "B".into()));
    let from = events(&cp).len();
    cp.update(Update::Endpoints {
        cluster: CLUSTER.into(),
        endpoints: vec![a],
    });
    within(
        Duration::from_secs(5),
        "the endpoint never moved back",
        async || (get(out).await.1 == "A").then_some(()),
    )
    .await;
    assert_eq!(sent_types(&events(&cp)[from..]), ["eds"]);
    envoy.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_reconnecting_over_delta_ads_is_sent_only_what_changed() {
    let bin = locate(None, DEFAULT_ENVOY_VERSION).expect("an Envoy binary");
    let scratch = mesh5xx_testkit::scratch("xds-delta-reconnect");
    let dir = scratch.path();
    let (a, b) = (backend("A").await, backend("B").await);
    let (bootstrap, node, resources) = client(dir, a);
    let cp = control_plane().await;
    let addr = cp.addr();
    cp.update(Update::Proxy {
        node: node.clone(),
        resources: resources.clone(),
    });
    let config = ads_bootstrap(&bootstrap, addr, AdsApi::DeltaGrpc);
    let envoy = Envoy::start(&bin, "client", &config, dir, Drain::default())
        .await
        .expect("Envoy becomes ready on its delta ADS configuration");
    let out = envoy.listener("0.0.0.0_80").unwrap();
    assert_eq!(get(out).await, (200, "A".into()));

    // The control plane goes away; another takes its address, where the endpoint has moved.
    cp.stop();
    drop(cp);
    let mut moved = resources.clone();
    moved.set_endpoints(CLUSTER, &[b]);
    let cp = within(
        Duration::from_secs(5),
        "the address stays taken",
        async || {
            let schema = mesh5xx_xds::Schema::locate(None).unwrap();
            ControlPlane::start(
                addr,
                schema,
                mesh5xx_xds::Debounce::default(),
                25,
                std::sync::Arc::new(mesh5xx_xds::Recorder::in_memory()),
            )
            .await
            .ok()
        },
    )
    .await;
    cp.update(Update::Proxy {
        node: node.clone(),
        resources: moved,
    });
    within(
        Duration::from_secs(30),
        "the endpoint never moved",
        async || (get(out).await.1 == "B").then_some(()),
    )
    .await;
    // Envoy said what it had (initial_resource_versions): every type is answered, and only
    // the changed ClusterLoadAssignment is sent again.
    within(
        Duration::from_secs(5),
        "not every type answered",
        async || {
            ["cds", "lds", "rds"]
                .iter()
                .all(|t| !sent(&cp, 0, t).is_empty())
                .then_some(())
        },
    )
    .await;
    for t in ["cds", "lds", "rds"] {
        assert_eq!(sent(&cp, 0, t), [(0, 0)], "{t}: {:?}", events(&cp));
    }
    assert_eq!(sent(&cp, 0, "eds"), [(1, 0)], "{:?}", events(&cp));
    envoy.stop().await.unwrap();
}
