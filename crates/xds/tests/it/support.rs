//! What the ADS tests share: a backend that names itself, a GET through the sidecar, a client
//! sidecar's rendered configuration, a control plane and its record.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mesh5xx_scenario::model::Service;
use mesh5xx_scenario::{profile, IstioObjects};
use mesh5xx_sidecar::provision::{locate, DEFAULT_ENVOY_VERSION};
use mesh5xx_sidecar::{render, Drain, Envoy, OutboundSpec, SidecarSpec};
use mesh5xx_xds::{
    ads_bootstrap, AdsApi, ControlPlane, Debounce, Event, Recorder, Resources, Schema, Update,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const HOST: &str = "srv-a.default.svc.cluster.local";
pub const CLUSTER: &str = "outbound|80||srv-a.default.svc.cluster.local";

/// An HTTP server that answers every request with its `name` in the body.
pub async fn backend(name: &'static str) -> SocketAddr {
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

/// GET `path` with `host` from `addr` over HTTP/1.1: (status, body).
pub async fn http_get(addr: SocketAddr, host: &str, path: &str) -> (u16, String) {
    try_http_get(addr, host, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path} from {addr}: {e}"))
}

/// GET as [`http_get`] does: (status, body), status 0 when the answer is no HTTP response;
/// `Err` when the connection fails.
pub async fn try_http_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// GET / for HOST through the sidecar's outbound listener: (status, body).
pub async fn get(sidecar: SocketAddr) -> (u16, String) {
    http_get(sidecar, HOST, "/").await
}

/// The istio-1.24 client sidecar calling HOST at `endpoint`: its rendered configuration,
/// node id and the resources the control plane serves it.
pub fn client(dir: &Path, endpoint: SocketAddr) -> (Value, String, Resources) {
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
            service: Some((&svc, vec![endpoint])),
            external: vec![],
        },
    );
    let bootstrap = render(&spec);
    let node = bootstrap["node"]["id"].as_str().unwrap().to_string();
    let resources = Resources::from_bootstrap(&bootstrap).unwrap();
    (bootstrap, node, resources)
}

/// A control plane on loopback with istiod's default debounce, recording in memory.
pub async fn control_plane() -> ControlPlane {
    let schema = Schema::locate(None).expect("the xDS schema");
    ControlPlane::start(
        "127.0.0.1:0".parse().unwrap(),
        schema,
        Debounce::default(),
        25,
        Arc::new(Recorder::in_memory()),
    )
    .await
    .unwrap()
}

/// A control plane, and a client sidecar it configures over `api` (routing to `endpoint`),
/// started and ready; with the sidecar's node id and resources.
pub async fn sidecar_over(
    api: AdsApi,
    dir: &Path,
    endpoint: SocketAddr,
) -> (ControlPlane, Envoy, String, Resources) {
    let (bootstrap, node, resources) = client(dir, endpoint);
    let cp = control_plane().await;
    let envoy = start_over(&cp, api, "client", &bootstrap, dir).await;
    (cp, envoy, node, resources)
}

/// Envoy `name`, whose rendered configuration is `bootstrap`, configured by `cp` over `api`:
/// `cp` learns its resources first; started and ready.
pub async fn start_over(
    cp: &ControlPlane,
    api: AdsApi,
    name: &str,
    bootstrap: &Value,
    dir: &Path,
) -> Envoy {
    cp.update(Update::Proxy {
        node: bootstrap["node"]["id"].as_str().unwrap().to_string(),
        resources: Resources::from_bootstrap(bootstrap).unwrap(),
    });
    let bin = locate(None, DEFAULT_ENVOY_VERSION).expect("an Envoy binary");
    let config = ads_bootstrap(bootstrap, cp.addr(), api);
    Envoy::start(&bin, name, &config, dir, Drain::default())
        .await
        .unwrap_or_else(|e| panic!("{name} becomes ready on its {api:?} configuration: {e}"))
}

pub fn events(cp: &ControlPlane) -> Vec<Event> {
    cp.recorder()
        .entries()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

pub fn sent_types(ev: &[Event]) -> Vec<String> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Sent { type_url, .. } => Some(type_url.clone()),
            _ => None,
        })
        .collect()
}

/// Poll `found` every 10 ms until it gives a value; panics naming `what` after `limit`.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    mut found: impl AsyncFnMut() -> Option<T>,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = found().await {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
