//! Starting a variant's pods: app servers, their sidecars, and the client's sidecar.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mesh5xx_podnet::{PodNetwork, PodSandbox};
use mesh5xx_process::netns::NetNs;
use mesh5xx_process::Supervised;
use mesh5xx_scenario::istio::IstioObjects;
use mesh5xx_scenario::model::CertState;
use mesh5xx_scenario::model::{AppBind, Service};
use mesh5xx_scenario::{Profile, ProxyMetadata, Scenario, ServicePort, Variant};
use mesh5xx_sidecar::certs::service_account;
use mesh5xx_sidecar::{
    render, Drain, Envoy, EnvoyBinary, ExternalService, InboundSpec, MeshCa, OutboundSpec,
    PodCapture, ReservedPort, SidecarSpec, WorkloadSecrets,
};
use mesh5xx_upstream::AppFaults;
use serde_json::Value;
use tokio::process::Command;

use mesh5xx_egress::EgressArgs;
use mesh5xx_plan::egress::egress_config;

use crate::control_plane::ControlPlane;
use crate::network::capture_rules;
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

/// An app server.
pub struct App {
    pub child: Supervised,
    pub addr: SocketAddr,
    pub report: PathBuf,
}

/// A server pod: the app and its sidecar.
pub struct ServerPod {
    pub app: App,
    pub sidecar: Sidecar,
    /// The pod's endpoint in the service: its sidecar's inbound listener, or, in a network
    /// namespace, the pod's address and the app's port (captured to the sidecar).
    pub endpoint: SocketAddr,
    /// The pod's network namespace (the netns mode).
    pub sandbox: Option<PodSandbox>,
}

/// What a server pod is made of: the service's app and a sidecar as istiod renders it for
/// the profile and the variant's Istio objects. Pods started while the load runs (a
/// rollout's new pods) are made from the same template as the first ones.
#[derive(Debug, Clone)]
pub struct PodTemplate {
    pub exe: PathBuf,
    pub envoy: EnvoyBinary,
    pub profile: Profile,
    pub service: Service,
    pub istio: IstioObjects,
    /// How its sidecar drains listeners (pilot-agent's `drainDuration` for the profile).
    pub drain: Drain,
    /// The variant's directory: logs, reports, configurations.
    pub dir: PathBuf,
    /// The pod network, in the netns mode.
    pub net: Option<Arc<PodNetwork>>,
    /// Where the app listens in a pod (`topology.pod.app_bind`).
    pub app_bind: AppBind,
    /// The service's port name and protocol (`topology.service_port`).
    pub service_port: ServicePort,
    /// Its sidecar's proxy metadata (`topology.proxy_metadata`).
    pub proxy_metadata: ProxyMetadata,
    /// MeshConfig `protocolDetectionTimeout` in ms (`topology.protocol_detection_timeout_ms`).
    pub protocol_detection_timeout_ms: Option<u64>,
    /// Its workload certificate, when the mesh has them (`topology.mtls`).
    pub secrets: Option<WorkloadSecrets>,
}

impl PodTemplate {
    /// The name of replica `index`: `srv-a-0` for `srv-a.default.svc.cluster.local`.
    pub fn pod_name(&self, index: usize) -> String {
        let host = self.service.host.split('.').next().unwrap_or("app");
        format!("{host}-{index}")
    }

    /// The network of new replica `index`, in the netns mode: its namespace on the bridge,
    /// with the capture rules for the app's port (`None` locally).
    pub async fn sandbox(&self, index: usize) -> Result<Option<PodSandbox>, LabError> {
        let Some(net) = &self.net else {
            return Ok(None);
        };
        let rules = capture_rules(&self.profile, &[self.service.target_port])?;
        net.pod(&self.pod_name(index), Some(&rules))
            .await
            .map(Some)
            .map_err(|e| LabError::Network(e.to_string()))
    }

    /// Start the app of replica `index` with `faults`; returns once it listens. Locally on
    /// `listen` (port 0: any free port); in `pod`, on every address of the pod on the
    /// service's target port.
    pub async fn start_app(
        &self,
        index: usize,
        faults: &AppFaults,
        pod: Option<&PodSandbox>,
        listen: SocketAddr,
    ) -> Result<App, LabError> {
        let listen = match (pod, self.app_bind) {
            (Some(_), AppBind::Any) => {
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.service.target_port))
            }
            (Some(_), AppBind::Localhost) => {
                SocketAddr::from((Ipv4Addr::LOCALHOST, self.service.target_port))
            }
            (None, _) => listen,
        };
        let ns = pod.map(|p| p.netns());
        start_app(&self.exe, faults, index, listen, &self.dir, ns).await
    }

    /// The sidecar of replica `index` in front of the app on `app` (in `pod`, the app's
    /// port on the pod's loopback, its traffic captured), as rendered: its bootstrap and its
    /// access log.
    pub fn sidecar_config(
        &self,
        index: usize,
        app: SocketAddr,
        pod: Option<&PodSandbox>,
    ) -> (Value, PathBuf) {
        let name = self.pod_name(index);
        let access_log = self.dir.join(format!("access-{name}.log"));
        let app = match pod {
            Some(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, self.service.target_port)),
            None => app,
        };
        let inbound = InboundSpec {
            service: &self.service,
            app,
        };
        let mut spec = SidecarSpec::server(
            &name,
            &self.profile,
            &self.istio,
            access_log.clone(),
            inbound,
        );
        spec.capture = pod.map(|p| PodCapture { pod_ip: p.ip() });
        spec.service_port = self.service_port.clone();
        spec.proxy_metadata = self.proxy_metadata.clone();
        spec.protocol_detection_timeout_ms = self.protocol_detection_timeout_ms;
        spec.secrets = self.secrets.clone();
        (render(&spec), access_log)
    }

    /// Run the sidecar of replica `index` on `config` (in `pod`, if any); returns it and
    /// the pod's endpoint once Envoy is ready: its inbound listener, or in a pod the pod's
    /// address and the app's port.
    pub async fn start_envoy(
        &self,
        index: usize,
        config: &Value,
        access_log: PathBuf,
        pod: Option<&PodSandbox>,
    ) -> Result<(Sidecar, SocketAddr), LabError> {
        let name = self.pod_name(index);
        let ns = pod.map(|p| p.netns());
        let envoy = Envoy::start_in(ns, &self.envoy, &name, config, &self.dir, self.drain).await?;
        let endpoint = match pod {
            Some(p) => SocketAddr::from((p.ip(), self.service.target_port)),
            None => envoy
                .listener("virtualInbound")
                .expect("the inbound listener is rendered"),
        };
        let sidecar = Sidecar {
            pod: name,
            role: "server",
            envoy,
            access_log,
        };
        Ok((sidecar, endpoint))
    }

    /// Start replica `index` with `faults`: its network (in the netns mode), the app, then
    /// its sidecar (through `cp`, which learns its configuration first, or from a static
    /// file).
    pub async fn start(
        &self,
        index: usize,
        faults: &AppFaults,
        cp: Option<&mut ControlPlane>,
    ) -> Result<ServerPod, LabError> {
        let sandbox = self.sandbox(index).await?;
        let app = self
            .start_app(index, faults, sandbox.as_ref(), any_port())
            .await?;
        let (bootstrap, access_log) = self.sidecar_config(index, app.addr, sandbox.as_ref());
        let config = through(cp, bootstrap).await?;
        let (sidecar, endpoint) = self
            .start_envoy(index, &config, access_log, sandbox.as_ref())
            .await?;
        Ok(ServerPod {
            app,
            sidecar,
            endpoint,
            sandbox,
        })
    }
}

impl ServerPod {
    /// `HOST-K`, e.g. `srv-a-0`.
    pub fn name(&self) -> &str {
        &self.sidecar.pod
    }
}

/// Every process of a variant except the load generator.
pub struct Pods {
    /// Inbound: the server pods, by replica (pods started while the load runs after them).
    pub servers: Vec<ServerPod>,
    /// Inbound: what new server pods are made of.
    pub template: Option<PodTemplate>,
    /// Outbound: the external app.
    pub apps: Vec<App>,
    /// The client pod's sidecar, if the topology has one.
    pub client: Option<Sidecar>,
    /// A client pod that starts with the load: what its sidecar still waits for.
    pub client_start: Option<ClientStart>,
    /// Where the load generator sends (the client sidecar, or the server sidecar).
    pub target: SocketAddr,
    /// Outbound: the DNS server + firewall, and what the app must resolve.
    pub egress: Option<EgressProc>,
    /// The control plane the sidecars take their configuration from, if the topology has one.
    pub control_plane: Option<ControlPlane>,
    /// The client pod's network namespace (the netns mode), where the load generator runs.
    pub client_sandbox: Option<PodSandbox>,
}

impl Pods {
    /// Every sidecar: the server pods' first, then the client's.
    pub fn all_sidecars(&self) -> impl Iterator<Item = &Sidecar> {
        self.servers
            .iter()
            .map(|p| &p.sidecar)
            .chain(self.client.iter())
    }

    /// The client's network namespace, in the netns mode: where the app (the load) runs.
    pub fn client_netns(&self) -> Option<&NetNs> {
        self.client_sandbox.as_ref().map(|s| s.netns())
    }

    /// Every app: the server pods', then the external one.
    pub fn all_apps(&self) -> impl Iterator<Item = &App> {
        self.servers.iter().map(|p| &p.app).chain(self.apps.iter())
    }
}

/// The client pod's sidecar running but not configured yet: the control plane learns its
/// configuration `delay` after the load (its app) started. Until then connections to its
/// outbound listener's address, reserved, are refused.
pub struct ClientStart {
    /// Its rendered configuration, the outbound listener pinned to `port`.
    pub bootstrap: Value,
    pub delay: Duration,
    /// Locally, the outbound listener's port, reserved until Envoy listens on it.
    pub port: Option<ReservedPort>,
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
        let mut out = self.control("LIST", |line| line == "END").await?;
        if out.last().is_some_and(|l| l == "END") {
            out.pop();
        }
        Ok(out)
    }

    /// Start the schedule of the DNS answers and the addresses' retirements: the load starts
    /// (control port `START`).
    pub async fn start_schedule(&self) -> std::io::Result<()> {
        let reply = self.control("START", |_| true).await?;
        match reply.first() {
            Some(line) if line.starts_with("OK") => Ok(()),
            other => Err(std::io::Error::other(format!(
                "the egress process answered START with {other:?}"
            ))),
        }
    }

    /// Send `command` to the control port; returns the reply's lines up to the one `last`
    /// accepts.
    async fn control(
        &self,
        command: &str,
        last: impl Fn(&str) -> bool,
    ) -> std::io::Result<Vec<String>> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut s = tokio::net::TcpStream::connect(self.ready.control).await?;
        s.write_all(format!("{command}\n").as_bytes()).await?;
        let mut lines = BufReader::new(s).lines();
        let mut out = Vec::new();
        while let Some(line) =
            tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await??
        {
            let done = last(&line);
            out.push(line);
            if done {
                break;
            }
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
    net: Option<&Arc<PodNetwork>>,
) -> Result<Pods, LabError> {
    let mut cp = if variant.topology.control_plane {
        // In the netns mode the pods reach it at the node's address, as istiod's service.
        let at = net.map_or(Ipv4Addr::LOCALHOST, |_| mesh5xx_podnet::GATEWAY);
        Some(ControlPlane::start(exe, dir, profile, at.into()).await?)
    } else {
        None
    };
    if variant.topology.external.is_some() {
        return start_outbound(exe, envoy, profile, scenario, variant, dir, cp, net).await;
    }
    let (server_secrets, client_secrets) = match variant.topology.mtls {
        Some(mtls) => {
            let ca = MeshCa::create(&dir.join("certs"))?;
            let server = ca.issue(service_account(&scenario.service), mtls.server_cert)?;
            (Some(server), Some(ca.issue("client", CertState::Valid)?))
        }
        None => (None, None),
    };
    let template = PodTemplate {
        exe: exe.to_path_buf(),
        envoy: envoy.clone(),
        profile: profile.clone(),
        service: scenario.service.clone(),
        istio: variant.istio.clone(),
        drain: drain(profile, variant),
        dir: dir.to_path_buf(),
        net: net.cloned(),
        app_bind: variant.topology.pod.app_bind,
        service_port: variant.topology.service_port.clone(),
        proxy_metadata: variant.topology.proxy_metadata.clone(),
        protocol_detection_timeout_ms: variant.topology.protocol_detection_timeout_ms,
        secrets: server_secrets,
    };
    let mut servers = Vec::new();
    for i in 0..variant.topology.replicas as usize {
        servers.push(
            template
                .start(i, &variant.app_for_replica(i), cp.as_mut())
                .await?,
        );
    }
    let client_sandbox = client_sandbox(profile, variant, net).await?;
    let (client, target, client_start) = if variant.topology.client_sidecar {
        let outbound = OutboundSpec {
            service: Some((
                &scenario.service,
                servers.iter().map(|p| p.endpoint).collect(),
            )),
            external: vec![],
        };
        let in_pod = client_sandbox.as_ref().zip(net);
        let (client, mut target, client_start) = start_client(
            envoy,
            profile,
            variant,
            (outbound, client_secrets),
            cp.as_mut(),
            dir,
            in_pod.map(|(s, _)| s),
        )
        .await?;
        if let Some((_, net)) = in_pod {
            // The app calls the service's virtual IP; its sidecar gets the connection by
            // the capture rules.
            target = SocketAddr::from((net.service_ip(), scenario.service.port));
        }
        (Some(client), target, client_start)
    } else {
        (None, servers[0].endpoint, None)
    };
    Ok(Pods {
        servers,
        template: Some(template),
        apps: Vec::new(),
        client,
        client_start,
        target,
        egress: None,
        control_plane: cp,
        client_sandbox,
    })
}

/// The client pod's network namespace, in the netns mode. Its containers declare no port;
/// without a sidecar it has no rules.
async fn client_sandbox(
    profile: &Profile,
    variant: &Variant,
    net: Option<&Arc<PodNetwork>>,
) -> Result<Option<PodSandbox>, LabError> {
    let Some(net) = net else {
        return Ok(None);
    };
    let rules = match variant.topology.client_sidecar {
        true => Some(capture_rules(profile, &[])?),
        false => None,
    };
    let sandbox = net
        .pod("client", rules.as_ref())
        .await
        .map_err(|e| LabError::Network(e.to_string()))?;
    Ok(Some(sandbox))
}

/// How the variant's sidecars drain: the profile's pilot-agent with `topology.pod`'s
/// `drainDuration`.
fn drain(profile: &Profile, variant: &Variant) -> Drain {
    Drain::of(
        profile,
        Duration::from_millis(variant.topology.pod.drain_duration_ms),
    )
}

/// The configuration a sidecar starts with: `bootstrap` itself, or, with a control plane,
/// the ADS bootstrap after telling the control plane the rendered configuration.
async fn through(cp: Option<&mut ControlPlane>, bootstrap: Value) -> Result<Value, LabError> {
    match cp {
        Some(cp) => cp.adopt(&bootstrap).await,
        None => Ok(bootstrap),
    }
}

/// 127.0.0.1, any free port.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Start app replica `index` with `faults` on `listen`; returns once it listens.
async fn start_app(
    exe: &Path,
    faults: &AppFaults,
    index: usize,
    listen: SocketAddr,
    dir: &Path,
    pod: Option<&NetNs>,
) -> Result<App, LabError> {
    let report = dir.join(format!("app-{index}.json"));
    let mut cmd = Command::new(exe);
    let args = app_args(faults, AppHost::Local, listen, &report);
    cmd.arg("upstream").args(args.to_argv());
    if let Some(ns) = pod {
        ns.enter_on_spawn(&mut cmd);
    }
    let mut child = Supervised::spawn(
        &format!("app {index}"),
        cmd,
        Some(&dir.join(format!("app-{index}.out"))),
    )?;
    let ready: mesh5xx_upstream::Ready = child.wait_ready(READY_TIMEOUT).await?;
    Ok(App {
        child,
        addr: ready.addr,
        report,
    })
}

/// Outbound: the external app, the egress process serving its addresses through the firewall,
/// and the client pod's sidecar (PassthroughCluster, or the ServiceEntry's cluster).
///
/// In the netns mode the external app and the egress process run in the node's namespace,
/// between the pods' bridge and the external addresses (`crate::network::external_egress`);
/// the app in the client pod resolves the host at the node's DNS server and dials the answer,
/// and its sidecar gets the connection by the capture rules.
#[allow(clippy::too_many_arguments)]
async fn start_outbound(
    exe: &Path,
    envoy: &EnvoyBinary,
    profile: &Profile,
    scenario: &Scenario,
    variant: &Variant,
    dir: &Path,
    mut cp: Option<ControlPlane>,
    net: Option<&Arc<PodNetwork>>,
) -> Result<Pods, LabError> {
    let ext = variant
        .topology
        .external
        .as_ref()
        .expect("an outbound variant has an external host");
    let listen = match net {
        Some(_) => SocketAddr::from((mesh5xx_podnet::GATEWAY, 0)),
        None => any_port(),
    };
    let apps = vec![start_app(exe, &variant.app_for_replica(0), 0, listen, dir, None).await?];
    let mut config = egress_config(&scenario.service.host, ext, &apps[0].addr.to_string());
    // The schedule (the load balancer's address changes) counts from the load's start,
    // however long the processes took to start.
    config.schedule_start = mesh5xx_egress::ScheduleStart::Command;
    if net.is_some() {
        crate::network::external_egress(&mut config, scenario.service.port);
    }
    let client_sandbox = client_sandbox(profile, variant, net).await?;
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
    let (client, mut target, client_start) = start_client(
        envoy,
        profile,
        variant,
        (outbound, None),
        cp.as_mut(),
        dir,
        client_sandbox.as_ref(),
    )
    .await?;
    if client_sandbox.is_some() {
        // The app dials the address it resolved; until it has one, the first external one.
        target = SocketAddr::from((ready.gateways[0].ip, ready.gateway_port));
    }
    Ok(Pods {
        servers: Vec::new(),
        template: None,
        apps,
        client: Some(client),
        client_start,
        target,
        egress: Some(EgressProc {
            child,
            ready,
            report,
        }),
        control_plane: cp,
        client_sandbox,
    })
}

/// The client pod's sidecar with `outbound` and its workload certificate, if the mesh has
/// them; returns it, its outbound listener's address and,
/// for a client pod that starts with the load, what it still waits for.
///
/// A client pod that starts with the load (`topology.client_pod`): its Envoy runs and
/// connects to the control plane, which does not know its configuration yet; its outbound
/// listener will bind a port reserved now. If the app waits for its sidecar
/// (`holdApplicationUntilProxyStarts`, a native sidecar), the configuration reaches the
/// control plane `config_delay_ms` from now and the app (the load) starts once the sidecar
/// is ready; otherwise the load starts at once and the configuration follows.
async fn start_client(
    envoy: &EnvoyBinary,
    profile: &Profile,
    variant: &Variant,
    (outbound, secrets): (OutboundSpec<'_>, Option<WorkloadSecrets>),
    cp: Option<&mut ControlPlane>,
    dir: &Path,
    pod: Option<&PodSandbox>,
) -> Result<(Sidecar, SocketAddr, Option<ClientStart>), LabError> {
    let access_log = dir.join("access-client.log");
    let mut spec = SidecarSpec::client(profile, &variant.istio, access_log.clone(), outbound)
        .in_topology(&variant.topology);
    spec.capture = pod.map(|p| PodCapture { pod_ip: p.ip() });
    spec.secrets = secrets;
    let pod_ns = pod.map(|p| p.netns().clone());
    let pod = spec.pod.clone();
    let mut bootstrap = render(&spec);
    let sidecar = |envoy| Sidecar {
        pod: pod.clone(),
        role: "client",
        envoy,
        access_log: access_log.clone(),
    };
    let starting = variant.topology.client_pod.as_ref().and_then(|c| {
        c.config_delay_ms
            .map(|ms| (Duration::from_millis(ms), c.app_waits_for_sidecar()))
    });
    let ((delay, app_waits), cp) = match (starting, cp) {
        (Some(start), Some(cp)) => (start, cp),
        (_, cp) => {
            let config = through(cp, bootstrap).await?;
            let netns = pod_ns.as_ref();
            let envoy =
                Envoy::start_in(netns, envoy, &pod, &config, dir, drain(profile, variant)).await?;
            // In a pod the caller names the service's virtual IP instead.
            let target = envoy
                .listener(OUTBOUND_LISTENER)
                .expect("the outbound listener is rendered");
            return Ok((sidecar(envoy), target, None));
        }
    };
    // Until its listener is configured, the sidecar's port refuses connections: locally a
    // port reserved for it, in a pod 15001, where the capture rules send the app's calls.
    let (port, target) = match pod_ns {
        Some(_) => (None, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
        None => {
            let port = ReservedPort::new().map_err(|e| {
                LabError::Lifecycle(format!("reserving a port for the client's sidecar: {e}"))
            })?;
            assert!(
                port.pin(&mut bootstrap, OUTBOUND_LISTENER),
                "the outbound listener is rendered"
            );
            let target = port.addr();
            (Some(port), target)
        }
    };
    let config = cp.bootstrap_for(&bootstrap);
    let mut running = Envoy::spawn_in(
        pod_ns.as_ref(),
        envoy,
        &pod,
        &config,
        dir,
        drain(profile, variant),
    )
    .await?;
    if app_waits {
        tokio::time::sleep(delay).await;
        cp.declare(&bootstrap).await?;
        running.wait_ready().await?;
        return Ok((sidecar(running), target, None));
    }
    let start = ClientStart {
        bootstrap,
        delay,
        port,
    };
    Ok((sidecar(running), target, Some(start)))
}

/// The client sidecar's outbound listener for the service port (15001 and iptables in a pod).
const OUTBOUND_LISTENER: &str = "0.0.0.0_80";

impl Pods {
    /// Save each sidecar's admin stats, then stop sidecars (flushing access logs) and apps
    /// (which write their reports).
    pub async fn stop(self, dir: &Path) -> Result<(), LabError> {
        for s in self.all_sidecars() {
            if let Ok(stats) = s.envoy.stats().await {
                let path = dir.join(format!("stats-{}.txt", s.pod));
                std::fs::write(&path, stats).map_err(LabError::io(path))?;
            }
        }
        let (sidecars, mut apps): (Vec<Sidecar>, Vec<App>) =
            self.servers.into_iter().map(|p| (p.sidecar, p.app)).unzip();
        for s in sidecars.into_iter().chain(self.client) {
            s.envoy.stop().await?;
        }
        apps.extend(self.apps);
        for mut a in apps {
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
