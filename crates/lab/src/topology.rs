//! Starting a variant's pods: app servers, their sidecars, and the client's sidecar.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mesh5xx_process::Supervised;
use mesh5xx_scenario::{Profile, Scenario, Variant};
use mesh5xx_sidecar::{
    render, Envoy, EnvoyBinary, ExternalService, InboundSpec, OutboundSpec, SidecarSpec,
};
use tokio::process::Command;

use mesh5xx_egress::EgressArgs;
use mesh5xx_plan::egress::egress_config;

use crate::control_plane::ControlPlane;
use crate::LabError;
use mesh5xx_plan::processes::{app_args, AppHost};

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
    /// Outbound: the DNS server + firewall, and what the app must resolve.
    pub egress: Option<EgressProc>,
    /// The control plane the sidecars take their configuration from, if the topology has one.
    pub control_plane: Option<ControlPlane>,
    /// The server pods' inbound listeners, by replica (the service's endpoints).
    pub inbound: Vec<SocketAddr>,
}

/// The running egress process (fake DNS + firewall).
pub struct EgressProc {
    pub child: Supervised,
    pub ready: mesh5xx_egress::Ready,
    pub report: PathBuf,
}

impl EgressProc {
    /// The firewall's allow entries now, as `ipset list` prints them (control port `LIST`).
    pub async fn ipset(&self) -> std::io::Result<Vec<String>> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut s = tokio::net::TcpStream::connect(self.ready.control).await?;
        s.write_all(b"LIST\n").await?;
        let mut lines = BufReader::new(s).lines();
        let mut out = Vec::new();
        while let Some(line) =
            tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await??
        {
            if line == "END" {
                break;
            }
            out.push(line);
        }
        Ok(out)
    }
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
    let mut cp = if variant.topology.control_plane {
        Some(ControlPlane::start(exe, dir).await?)
    } else {
        None
    };
    if variant.topology.external.is_some() {
        return start_outbound(exe, envoy, profile, scenario, variant, dir, cp).await;
    }
    let host = scenario
        .service
        .host
        .split('.')
        .next()
        .unwrap_or("app")
        .to_string();
    let apps = start_apps(exe, variant, dir).await?;
    let mut sidecars = Vec::new();
    let mut inbound_addrs = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let pod = format!("{host}-{i}");
        let access_log = dir.join(format!("access-{pod}.log"));
        let inbound = InboundSpec {
            service: &scenario.service,
            app: app.addr,
        };
        let spec = SidecarSpec::server(&pod, profile, &variant.istio, access_log.clone(), inbound);
        let envoy = start_sidecar(envoy, &pod, render(&spec), cp.as_mut(), dir).await?;
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
        let outbound = OutboundSpec {
            service: Some((&scenario.service, inbound_addrs.clone())),
            external: vec![],
        };
        let (client, target) =
            start_client(envoy, profile, variant, outbound, cp.as_mut(), dir).await?;
        sidecars.push(client);
        target
    } else {
        inbound_addrs[0]
    };
    Ok(Pods {
        apps,
        sidecars,
        target,
        egress: None,
        control_plane: cp,
        inbound: inbound_addrs,
    })
}

/// Start the sidecar of `pod` on `bootstrap`, or, with a control plane, on the ADS bootstrap
/// after telling the control plane its configuration.
async fn start_sidecar(
    envoy: &EnvoyBinary,
    pod: &str,
    bootstrap: serde_json::Value,
    cp: Option<&mut ControlPlane>,
    dir: &Path,
) -> Result<Envoy, LabError> {
    let config = match cp {
        Some(cp) => cp.adopt(&bootstrap).await?,
        None => bootstrap,
    };
    Ok(Envoy::start(envoy, pod, &config, dir).await?)
}

async fn start_apps(exe: &Path, variant: &Variant, dir: &Path) -> Result<Vec<App>, LabError> {
    let mut apps = Vec::new();
    for i in 0..variant.topology.replicas as usize {
        let report = dir.join(format!("app-{i}.json"));
        let mut cmd = Command::new(exe);
        let args = app_args(
            &variant.app_for_replica(i),
            AppHost::Local,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            &report,
        );
        cmd.arg("upstream").args(args.to_argv());
        let mut child = Supervised::spawn(
            &format!("app {i}"),
            cmd,
            Some(&dir.join(format!("app-{i}.out"))),
        )?;
        let ready: mesh5xx_upstream::Ready = child.wait_ready(READY_TIMEOUT).await?;
        apps.push(App {
            child,
            addr: ready.addr,
            report,
        });
    }
    Ok(apps)
}

/// Outbound: the external app, the egress process serving its addresses through the firewall,
/// and the client pod's sidecar (PassthroughCluster, or the ServiceEntry's cluster).
async fn start_outbound(
    exe: &Path,
    envoy: &EnvoyBinary,
    profile: &Profile,
    scenario: &Scenario,
    variant: &Variant,
    dir: &Path,
    mut cp: Option<ControlPlane>,
) -> Result<Pods, LabError> {
    let ext = variant
        .topology
        .external
        .as_ref()
        .expect("an outbound variant has an external host");
    let apps = start_apps(exe, variant, dir).await?;
    let config = egress_config(&scenario.service.host, ext, &apps[0].addr.to_string());
    let config_path = dir.join("egress-config.json");
    let text = serde_json::to_string_pretty(&config).expect("serializable");
    std::fs::write(&config_path, text).map_err(LabError::io(&config_path))?;
    let report = dir.join("egress.json");
    let args = EgressArgs {
        config: Some(config_path),
        report: Some(report.clone()),
        list_faults: false,
    };
    let mut cmd = Command::new(exe);
    cmd.arg("egress").args(args.to_argv());
    let mut child = Supervised::spawn("egress", cmd, Some(&dir.join("egress.out")))?;
    let ready: mesh5xx_egress::Ready = child.wait_ready(READY_TIMEOUT).await?;

    let outbound = OutboundSpec {
        service: None,
        external: vec![ExternalService {
            host: scenario.service.host.clone(),
            port: scenario.service.port,
            endpoint_port: ready.gateway_port,
            dns: ready.dns,
            dns_refresh: ext.dns_refresh_ms.map(Duration::from_millis),
        }],
    };
    let (client, target) =
        start_client(envoy, profile, variant, outbound, cp.as_mut(), dir).await?;
    Ok(Pods {
        apps,
        sidecars: vec![client],
        target,
        egress: Some(EgressProc {
            child,
            ready,
            report,
        }),
        control_plane: cp,
        inbound: Vec::new(),
    })
}

/// The client pod's sidecar with `outbound`; returns it and its outbound listener's address.
async fn start_client(
    envoy: &EnvoyBinary,
    profile: &Profile,
    variant: &Variant,
    outbound: OutboundSpec<'_>,
    cp: Option<&mut ControlPlane>,
    dir: &Path,
) -> Result<(Sidecar, SocketAddr), LabError> {
    let access_log = dir.join("access-client.log");
    let spec = SidecarSpec::client(profile, &variant.istio, access_log.clone(), outbound);
    let pod = spec.pod.clone();
    let envoy = start_sidecar(envoy, &pod, render(&spec), cp, dir).await?;
    let target = envoy
        .listener("0.0.0.0_80")
        .expect("the outbound listener is rendered");
    let sidecar = Sidecar {
        pod,
        role: "client",
        envoy,
        access_log,
    };
    Ok((sidecar, target))
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
        if let Some(mut e) = self.egress {
            e.child.stop(Duration::from_secs(5)).await?;
        }
        if let Some(cp) = self.control_plane {
            cp.stop().await?;
        }
        Ok(())
    }
}
