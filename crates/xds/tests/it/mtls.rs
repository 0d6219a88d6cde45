//! mTLS between sidecars the control plane configures: a STRICT server's inbound chains and
//! the client's auto mTLS (TLS contexts on the lab's workload certificates, transport socket
//! matches, the TLS inspector) encode through the schema and Envoy takes them; a request
//! crosses over mTLS, also to an endpoint pushed later by EDS, which keeps the `tlsMode`
//! label auto mTLS matches on.

use std::time::Duration;

use mesh5xx_scenario::model::{CertState, Service};
use mesh5xx_scenario::{profile, IstioObjects};
use mesh5xx_sidecar::certs::service_account;
use mesh5xx_sidecar::{render, InboundSpec, MeshCa, OutboundSpec, SidecarSpec};
use mesh5xx_xds::{AdsApi, Update};

use crate::support::{
    backend, control_plane, get, start_over, try_http_get, within, CLUSTER, HOST,
};

const STRICT: &str = "- {apiVersion: security.istio.io/v1beta1, kind: PeerAuthentication, metadata: {name: default, namespace: default}, spec: {mtls: {mode: STRICT}}}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_configured_over_ads_talk_mtls() {
    let scratch = mesh5xx_testkit::scratch("xds-mtls");
    let dir = scratch.path();
    let p = profile::by_name("istio-1.24").unwrap();
    let istio =
        IstioObjects::parse(&yaml_serde::from_str::<Vec<yaml_serde::Value>>(STRICT).unwrap())
            .unwrap();
    let svc = Service {
        host: HOST.into(),
        port: 80,
        target_port: 8080,
    };
    let ca = MeshCa::create(&dir.join("certs")).unwrap();
    let cp = control_plane().await;

    // Two server pods, each an app behind a sidecar configured over ADS.
    let mut servers = Vec::new();
    for (i, name) in ["A", "B"].into_iter().enumerate() {
        let pod = format!("srv-a-{i}");
        let app = backend(name).await;
        let mut spec = SidecarSpec::server(
            &pod,
            &p,
            &istio,
            dir.join(format!("{pod}.log")),
            InboundSpec { service: &svc, app },
        );
        spec.secrets = Some(ca.issue(service_account(&svc), CertState::Valid).unwrap());
        let envoy = start_over(&cp, AdsApi::Grpc, &pod, &render(&spec), dir).await;
        let inbound = envoy
            .listener("virtualInbound")
            .expect("the inbound listener came by LDS");
        servers.push((envoy, inbound));
    }
    // STRICT: the server's listener has no plaintext chain, so plaintext gets no answer.
    assert_eq!(plaintext_status(servers[0].1).await, None);

    // The client, auto mTLS toward srv-a-0.
    let mut spec = SidecarSpec::client(
        &p,
        &istio,
        dir.join("client.log"),
        OutboundSpec {
            service: Some((&svc, vec![servers[0].1])),
            external: vec![],
        },
    );
    spec.secrets = Some(ca.issue("client", CertState::Valid).unwrap());
    let client = start_over(&cp, AdsApi::Grpc, "client", &render(&spec), dir).await;
    let out = client
        .listener("0.0.0.0_80")
        .expect("the outbound listener came by LDS");
    assert_eq!(get(out).await, (200, "A".into()));

    // srv-a-1 replaces srv-a-0 by EDS: labelled `tlsMode: istio`, it is called over mTLS
    // too (unlabelled, the client would send plaintext, which STRICT does not answer).
    cp.update(Update::Endpoints {
        cluster: CLUSTER.into(),
        endpoints: vec![servers[1].1],
    });
    within(
        Duration::from_secs(5),
        "the endpoint pushed by EDS answers over mTLS",
        async || (get(out).await == (200, "B".into())).then_some(()),
    )
    .await;
    // Both calls were TLS handshakes of the service's cluster.
    let stats = client.stats().await.unwrap();
    let prefix = format!("cluster.{CLUSTER}.");
    let handshakes: u64 = stats
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains("ssl.handshake: "))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(handshakes >= 2, "{handshakes} handshakes");

    client.stop().await.unwrap();
    for (envoy, _) in servers {
        envoy.stop().await.unwrap();
    }
}

/// The status of a plaintext GET straight to `addr`, if an HTTP answer comes.
async fn plaintext_status(addr: std::net::SocketAddr) -> Option<u16> {
    let get = try_http_get(addr, HOST, "/");
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), get)
        .await
        .ok()?
        .ok()?;
    (status != 0).then_some(status)
}
