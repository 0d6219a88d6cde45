//! Starting a variant's pods: app servers, their sidecars, and the client's sidecar.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh5xx_process::Supervised;
use mesh5xx_scenario::{Profile, Scenario, Variant};
use mesh5xx_sidecar::{render, Envoy, EnvoyBinary, InboundSpec, OutboundSpec, SidecarSpec};
use serde::Deserialize;
use tokio::process::Command;

use crate::commands::upstream_args;
use crate::LabError;

const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A sidecar and where its access log goes.
pub struct Sidecar {
    pub pod: String,
    /// `server` or `client`.
    pub role: &'static str,
    pub envoy: Envoy,
    pub access_log: PathBuf,
}

/// An app server replica.
pub struct App {
    pub child: Supervised,
    pub addr: SocketAddr,
    pub report: PathBuf,
}

/// Every process of a variant except the load generator.
pub struct Pods {
    pub apps: Vec<App>,
    pub sidecars: Vec<Sidecar>,
    /// Where the load generator sends (the client sidecar, or the server sidecar).
    pub target: SocketAddr,
}

#[derive(Deserialize)]
struct Ready {
    addr: SocketAddr,
}

/// Start the apps, their sidecars and (if the topology has one) the client's sidecar.
pub async fn start(
    exe: &Path,
    envoy: &EnvoyBinary,
    profile: &Profile,
    scenario: &Scenario,
    variant: &Variant,
    dir: &Path,
) -> Result<Pods, LabError> {
    let host = scenario
        .service
        .host
        .split('.')
        .next()
        .unwrap_or("app")
        .to_string();
    let mut apps = Vec::new();
    for i in 0..variant.topology.replicas as usize {
        let report = dir.join(format!("app-{i}.json"));
        let mut cmd = Command::new(exe);
        cmd.args(upstream_args(&variant.app_for_replica(i), &report));
        let mut child = Supervised::spawn(
            &format!("app {i}"),
            cmd,
            Some(&dir.join(format!("app-{i}.out"))),
        )?;
        let ready: Ready = child.wait_ready(READY_TIMEOUT).await?;
        apps.push(App {
            child,
            addr: ready.addr,
            report,
        });
    }
    let mut sidecars = Vec::new();
    let mut inbound_addrs = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let pod = format!("{host}-{i}");
        let access_log = dir.join(format!("access-{pod}.log"));
        let spec = SidecarSpec {
            pod: pod.clone(),
            profile,
            istio: &variant.istio,
            access_log: access_log.clone(),
            inbound: Some(InboundSpec {
                service: &scenario.service,
                app: app.addr,
            }),
            outbound: None,
            runtime: Default::default(),
        };
        let envoy = Envoy::start(envoy, &pod, &render(&spec), dir).await?;
        inbound_addrs.push(
            envoy
                .listener("virtualInbound")
                .expect("the inbound listener is rendered"),
        );
        sidecars.push(Sidecar {
            pod,
            role: "server",
            envoy,
            access_log,
        });
    }
    let target = if variant.topology.client_sidecar {
        let pod = "client".to_string();
        let access_log = dir.join("access-client.log");
        let spec = SidecarSpec {
            pod: pod.clone(),
            profile,
            istio: &variant.istio,
            access_log: access_log.clone(),
            inbound: None,
            outbound: Some(OutboundSpec {
                service: Some((&scenario.service, inbound_addrs.clone())),
                external: vec![],
            }),
            runtime: Default::default(),
        };
        let envoy = Envoy::start(envoy, &pod, &render(&spec), dir).await?;
        let target = envoy
            .listener("0.0.0.0_80")
            .expect("the outbound listener is rendered");
        sidecars.push(Sidecar {
            pod,
            role: "client",
            envoy,
            access_log,
        });
        target
    } else {
        inbound_addrs[0]
    };
    Ok(Pods {
        apps,
        sidecars,
        target,
    })
}

impl Pods {
    /// Save each sidecar's admin stats, then stop sidecars (flushing access logs) and apps
    /// (which write their reports).
    pub async fn stop(self, dir: &Path) -> Result<(), LabError> {
        for s in &self.sidecars {
            if let Ok(stats) = s.envoy.stats().await {
                let path = dir.join(format!("stats-{}.txt", s.pod));
                std::fs::write(&path, stats).map_err(LabError::io(path))?;
            }
        }
        for s in self.sidecars {
            s.envoy.stop().await?;
        }
        for mut a in self.apps {
            a.child.stop(Duration::from_secs(5)).await?;
        }
        Ok(())
    }
}
