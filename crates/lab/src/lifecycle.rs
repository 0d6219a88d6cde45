//! Pods that change while the load runs, as Kubernetes and pilot-agent change them: one
//! server pod terminating (`topology.terminate`), the server Deployment rolling out
//! (`topology.rollout`: the deployment controller's RollingUpdate or Recreate) or scaled
//! (`topology.scale`), or one server pod's app container killed and restarted by the kubelet
//! (`topology.crash`), or the node of one server pod lost (`topology.node_lost`). How a pod
//! starts and stops is the variant's `topology.pod`. Each step
//! is recorded in `lifecycle.jsonl` (ms from the start of the load), to be read next to the
//! errors per second and the control plane's record.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesh5xx_results::Mark;
use mesh5xx_scenario::model::{ConfigChange, PodLifecycle, Rollout, Strategy};
use mesh5xx_scenario::Variant;
use mesh5xx_sidecar::{Envoy, ReservedPort, TerminationDrain};
use mesh5xx_upstream::AppFaults;
use mesh5xx_xds::{Event, Update};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::control_plane::ControlPlane;
use crate::topology::{any_port, ClientStart, PodTemplate, Pods, ServerPod, Sidecar};
use crate::LabError;

mod crash;

/// One step of a pod's life, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    pub pod: String,
    /// Stopping: `terminating`, `endpoint-removed` (sent to the control plane),
    /// `app-sigterm`, `app-exited` (or `app-killed` at the end of the grace period),
    /// `sidecar-stopped`. A crash: `app-oom-killed`, `not-ready` (the kubelet saw it),
    /// `app-restarted` (the container), `app-listening`, `ready`, with the endpoint's
    /// `endpoint-removed` and `endpoint-added`. Starting: `created`, `ready` (app and sidecar; without an app
    /// readiness probe, the sidecar, then `app-listening`), `available` (after
    /// `minReadySeconds`), `endpoint-added`. A client pod starting with
    /// the load: `config-sent` (its sidecar's configuration, to the control plane), `ready`.
    /// A configuration change: `config-changed` (a server pod's new configuration, to the
    /// control plane). The client pod terminating: `terminating`, `sidecar-stopped` (or
    /// `sidecar-waits-for-app`, a native sidecar). A lost node: `node-lost` (its pod's
    /// address stops answering), `not-ready` (the node controller), `endpoint-removed`.
    pub step: String,
}

/// Writes `lifecycle.jsonl`.
struct Recorder {
    start: Instant,
    file: Mutex<std::fs::File>,
}

impl Recorder {
    fn create(dir: &Path, start: Instant) -> Result<Self, LabError> {
        let path = dir.join("lifecycle.jsonl");
        let file = std::fs::File::create(&path).map_err(LabError::io(&path))?;
        Ok(Self {
            start,
            file: Mutex::new(file),
        })
    }

    fn record(&self, pod: &str, step: &str) {
        self.record_at(pod, step, Instant::now());
    }

    /// Records `step` at `at`, the instant it stands for: a step the lab schedules (the
    /// node controller's mark) is timed by its schedule, not by when its task woke, so that
    /// steps a fixed time apart are recorded that far apart.
    fn record_at(&self, pod: &str, step: &str, at: Instant) {
        let s = Step {
            t_ms: at.saturating_duration_since(self.start).as_millis() as u64,
            pod: pod.to_string(),
            step: step.to_string(),
        };
        let line = serde_json::to_string(&s).expect("a step serializes");
        // The record is for people and timelines; a failed write must not stop the run.
        let _ = writeln!(self.file.lock().expect("the record"), "{line}");
    }
}

/// The service's endpoints as the cluster publishes them while the pods change, and the
/// record of the change: an endpoint change (a pod ready, a pod terminating) reaches the
/// control plane `delay` later — the endpoints controller and istiod's watch — and is sent
/// as the whole list, which the control plane debounces and pushes to the callers by EDS.
struct Endpoints {
    /// The control plane and the list as last sent, changed together so that updates
    /// cannot overtake each other.
    state: tokio::sync::Mutex<(ControlPlane, BTreeMap<String, SocketAddr>)>,
    cluster: String,
    delay: Duration,
    /// Where every step of the change is recorded.
    steps: Recorder,
}

impl Endpoints {
    /// Pod `pod` joins the service at `addr`, or (`None`) leaves it, `delay` from now.
    async fn change(&self, pod: &str, addr: Option<SocketAddr>) -> Result<(), LabError> {
        self.change_since(Instant::now(), pod, addr).await
    }

    /// As [`Endpoints::change`], for a pod that changed at `since`.
    async fn change_since(
        &self,
        since: Instant,
        pod: &str,
        addr: Option<SocketAddr>,
    ) -> Result<(), LabError> {
        tokio::time::sleep_until(since + self.delay).await;
        let mut state = self.state.lock().await;
        let (cp, list) = &mut *state;
        match addr {
            Some(a) => list.insert(pod.to_string(), a),
            None => list.remove(pod),
        };
        cp.send(&Update::Endpoints {
            cluster: self.cluster.clone(),
            endpoints: list.values().copied().collect(),
        })
        .await?;
        let step = if addr.is_some() {
            "endpoint-added"
        } else {
            "endpoint-removed"
        };
        self.steps.record(pod, step);
        Ok(())
    }

    /// Tell the control plane a new sidecar's configuration; returns its ADS bootstrap.
    async fn adopt(&self, bootstrap: &Value) -> Result<Value, LabError> {
        self.state.lock().await.0.adopt(bootstrap).await
    }
}

/// Run the variant's change of its pods from `load_start`: a server pod terminating, a
/// rollout, a configuration change pushed to the server pods, the client pod's sidecar
/// getting its configuration late; nothing without one.
pub async fn run(
    pods: &mut Pods,
    v: &Variant,
    load_start: Instant,
    dir: &Path,
) -> Result<(), LabError> {
    let client_start = pods.client_start.take();
    let t = &v.topology;
    if !t.changes_during_load() {
        return Ok(());
    }
    // The catalog checked that pods that change and client pods that start have a control
    // plane; only inbound variants have server pods and a template.
    let cp = pods.control_plane.take().expect("a control plane");
    let template = pods.template.clone().expect("server pods");
    let life = v.topology.pod.clone();
    let endpoints = Arc::new(Endpoints {
        state: tokio::sync::Mutex::new((
            cp,
            pods.servers
                .iter()
                .map(|p| (p.name().to_string(), p.endpoint))
                .collect(),
        )),
        cluster: mesh5xx_sidecar::render::outbound_name(
            template.service.port,
            &template.service.host,
        ),
        delay: Duration::from_millis(life.endpoint_delay_ms),
        steps: Recorder::create(dir, load_start)?,
    });
    let drain = TerminationDrain::of(&template.profile);
    let servers = &mut pods.servers;
    let ctx = Rollouts {
        template: Arc::new(template.clone()),
        app: v.app.clone(),
        life: life.clone(),
        drain,
        endpoints: endpoints.clone(),
    };
    let change = async {
        if let Some(t) = &t.terminate {
            tokio::time::sleep_until(load_start + Duration::from_millis(t.at_ms)).await;
            // The catalog checked that `t.pod` is a replica.
            shutdown(&mut servers[t.pod as usize], &life, drain, &endpoints).await
        } else if let Some(r) = &t.rollout {
            let old = std::mem::take(servers);
            *servers = rollout(old, r, ctx, load_start).await?;
            Ok(())
        } else if let Some(s) = &t.scale {
            tokio::time::sleep_until(load_start + Duration::from_millis(s.at_ms)).await;
            scale(servers, s.replicas as usize, ctx).await
        } else if let Some(c) = &t.crash {
            // The catalog checked that `c.pod` is a replica.
            let index = c.pod as usize;
            let app = v.app_for_replica(index);
            crash::crash_loop(&mut servers[index], index, &app, c, &ctx, load_start).await
        } else if let Some(n) = &t.node_lost {
            tokio::time::sleep_until(load_start + Duration::from_millis(n.at_ms)).await;
            // The catalog checked that `n.pod` is a replica.
            let not_ready_after = Duration::from_millis(n.not_ready_after_ms);
            lose_node(&mut servers[n.pod as usize], not_ready_after, &endpoints).await
        } else if let Some(c) = &t.config_change {
            tokio::time::sleep_until(load_start + Duration::from_millis(c.at_ms)).await;
            apply(servers, &template, c, &endpoints).await
        } else {
            Ok(())
        }
    };
    let client = async {
        let Some(sidecar) = pods.client.as_mut() else {
            return Ok(());
        };
        if let Some(c) = client_start {
            configure_client(c, sidecar, &endpoints, load_start).await?;
        }
        let Some(pod) = t.client_pod.as_ref() else {
            return Ok(());
        };
        let Some(at_ms) = pod.terminate_at_ms else {
            return Ok(());
        };
        let at = load_start + Duration::from_millis(at_ms);
        let native = pod.native_sidecar;
        terminate_client(sidecar, at, native, &life, drain, &endpoints.steps).await
    };
    let (a, b) = tokio::join!(change, client);
    a.and(b)?;
    let endpoints = Arc::into_inner(endpoints).expect("every task of the change has ended");
    pods.control_plane = Some(endpoints.state.into_inner().0);
    Ok(())
}

/// Apply `change` on top of the server pods' Istio objects: each pod's sidecar rendered anew
/// and declared to the control plane, which pushes them together after its debounce.
async fn apply(
    servers: &[ServerPod],
    template: &PodTemplate,
    change: &ConfigChange,
    endpoints: &Endpoints,
) -> Result<(), LabError> {
    let changed = PodTemplate {
        istio: template.istio.with(&change.objects()),
        ..template.clone()
    };
    let mut state = endpoints.state.lock().await;
    for (index, pod) in servers.iter().enumerate() {
        let (bootstrap, _) = changed.sidecar_config(index, pod.app.addr, pod.sandbox.as_ref());
        state.0.declare(&bootstrap).await?;
        endpoints.steps.record(pod.name(), "config-changed");
    }
    Ok(())
}

/// The client pod terminates at `at`. Its app gets SIGTERM
/// and keeps calling out until the load ends (its own graceful shutdown); its pilot-agent
/// stops Envoy as [`pilot_agent_stop`] does; a native sidecar is stopped by the kubelet only
/// after the app containers have exited, that is after the load.
async fn terminate_client(
    sidecar: &mut Sidecar,
    at: Instant,
    native_sidecar: bool,
    life: &PodLifecycle,
    drain: TerminationDrain,
    steps: &Recorder,
) -> Result<(), LabError> {
    tokio::time::sleep_until(at).await;
    let t0 = Instant::now();
    steps.record(&sidecar.pod, "terminating");
    if native_sidecar {
        steps.record(&sidecar.pod, "sidecar-waits-for-app");
        return Ok(());
    }
    pilot_agent_stop(&mut sidecar.envoy, life, drain, t0).await?;
    steps.record(&sidecar.pod, "sidecar-stopped");
    Ok(())
}

/// The client pod's sidecar gets its first configuration: the control plane learns it
/// `delay` after the load started and pushes it (after its debounce); the sidecar is ready
/// once it has applied it, and its listener takes over the reserved port.
async fn configure_client(
    c: ClientStart,
    sidecar: &mut Sidecar,
    endpoints: &Endpoints,
    load_start: Instant,
) -> Result<(), LabError> {
    tokio::time::sleep_until(load_start + c.delay).await;
    endpoints.state.lock().await.0.declare(&c.bootstrap).await?;
    endpoints.steps.record(&sidecar.pod, "config-sent");
    sidecar.envoy.wait_ready().await?;
    endpoints.steps.record(&sidecar.pod, "ready");
    drop(c.port);
    Ok(())
}

/// Terminate `pod` now as the kubelet and pilot-agent do: the endpoint's removal, the app's
/// preStop then SIGTERM, and pilot-agent's drain wait then Envoy's stop, side by side; the
/// kubelet's SIGKILL for whatever still runs at the end of the grace period.
async fn shutdown(
    pod: &mut ServerPod,
    life: &PodLifecycle,
    drain: TerminationDrain,
    endpoints: &Endpoints,
) -> Result<(), LabError> {
    let t0 = Instant::now();
    let kill_at = t0 + Duration::from_millis(life.grace_period_ms);
    let steps = &endpoints.steps;
    let ServerPod { app, sidecar, .. } = pod;
    let Sidecar {
        pod: name, envoy, ..
    } = sidecar;
    let name = name.as_str();
    steps.record(name, "terminating");
    let app_stop = async {
        // The preStop hook counts against the grace period (Kubernetes' killContainer).
        tokio::time::sleep_until(kill_at.min(t0 + Duration::from_millis(life.pre_stop_ms))).await;
        steps.record(name, "app-sigterm");
        app.child
            .stop(kill_at.saturating_duration_since(Instant::now()))
            .await?;
        let killed = Instant::now() >= kill_at;
        steps.record(name, if killed { "app-killed" } else { "app-exited" });
        Ok::<_, LabError>(())
    };
    let sidecar_stop = async {
        pilot_agent_stop(envoy, life, drain, t0).await?;
        steps.record(name, "sidecar-stopped");
        Ok::<_, LabError>(())
    };
    let (a, b, c) = tokio::join!(endpoints.change(name, None), app_stop, sidecar_stop);
    a.and(b).and(c)?;
    // Its containers gone, the pod's network goes (the runtime's sandbox and CNI DEL): its
    // address stops answering.
    if let Some(sandbox) = pod.sandbox.take() {
        sandbox
            .remove()
            .await
            .map_err(|e| LabError::Network(e.to_string()))?;
        steps.record(name, "network-removed");
    }
    Ok(())
}

/// The node of `pod` is lost now: the pod's address stops answering at once (its veth is
/// cut; its processes run on, unreachable, as on a node cut off the network), while it
/// stays an endpoint until the node controller marks it not ready `not_ready_after` later;
/// its removal then reaches the control plane after the endpoint delay.
async fn lose_node(
    pod: &mut ServerPod,
    not_ready_after: Duration,
    endpoints: &Endpoints,
) -> Result<(), LabError> {
    let name = pod.name().to_string();
    // The catalog runs a lost node only with pods in network namespaces.
    let sandbox = pod.sandbox.as_mut().expect("a pod network namespace");
    sandbox
        .disconnect()
        .await
        .map_err(|e| LabError::Network(e.to_string()))?;
    // The node's heartbeats stop with its network: the grace period counts from here.
    let t0 = Instant::now();
    endpoints.steps.record_at(&name, "node-lost", t0);
    let not_ready = t0 + not_ready_after;
    let mark_not_ready = async {
        tokio::time::sleep_until(not_ready).await;
        endpoints.steps.record_at(&name, "not-ready", not_ready);
    };
    let (removed, ()) = tokio::join!(
        endpoints.change_since(not_ready, &name, None),
        mark_not_ready
    );
    removed
}

/// pilot-agent on SIGTERM at `t0` (`pkg/envoy/agent.go` terminate(), by era): drain Envoy's
/// listeners (`drain`), then stop Envoy `termination_drain_ms` later or, with
/// `EXIT_ON_ZERO_ACTIVE_CONNECTIONS`, `minimum_drain_ms` later at the earliest, once its
/// listeners hold no connection (checked every second: `activeConnectionCheckDelay`,
/// agent.go@1.24.0 L37, L163-200); the kubelet kills it at the end of the grace period.
async fn pilot_agent_stop(
    envoy: &mut Envoy,
    life: &PodLifecycle,
    drain: TerminationDrain,
    t0: Instant,
) -> Result<(), LabError> {
    let kill_at = t0 + Duration::from_millis(life.grace_period_ms);
    // pilot-agent logs a failed drain and goes on (agent.go@1.24.0 L159-162).
    let _ = envoy.drain_listeners(drain).await;
    if life.exit_on_zero_active_connections {
        let first_check = t0 + Duration::from_millis(life.minimum_drain_ms);
        tokio::time::sleep_until(kill_at.min(first_check)).await;
        while Instant::now() < kill_at {
            // An Envoy that no longer answers is stopped (agent.go gives up after 5 errors).
            if envoy.active_connections().await.unwrap_or(0) == 0 {
                break;
            }
            tokio::time::sleep_until(kill_at.min(Instant::now() + Duration::from_secs(1))).await;
        }
    } else {
        let drained = t0 + Duration::from_millis(life.termination_drain_ms);
        tokio::time::sleep_until(kill_at.min(drained)).await;
    }
    envoy.terminate().await?;
    Ok(())
}

/// What the deployment controller's tasks share.
#[derive(Clone)]
struct Rollouts {
    template: Arc<PodTemplate>,
    /// The new pods' app (every replica the same).
    app: AppFaults,
    life: PodLifecycle,
    drain: TerminationDrain,
    endpoints: Arc<Endpoints>,
}

/// What one of the controller's tasks ended with.
enum Done {
    /// An old pod is gone.
    Terminated(ServerPod),
    /// A new pod is ready (its app and its sidecar).
    Ready(ServerPod, Instant),
    /// A ready pod has been ready for `minReadySeconds`.
    Available(String),
    /// An endpoint change reached the control plane.
    Published,
}

/// Replace every pod of `old` by a new one from `at_ms` after `load_start`, by `r`'s
/// strategy, as Kubernetes' deployment controller does (`pkg/controller/deployment`:
/// `rolling.go` scales the new ReplicaSet up to `replicas + maxSurge` pods and the old one
/// down while `replicas - maxUnavailable` pods stay available; `recreate.go` scales the old
/// one to zero and waits until its pods are gone). Returns the old pods (stopped) and the new.
async fn rollout(
    old: Vec<ServerPod>,
    r: &Rollout,
    ctx: Rollouts,
    load_start: Instant,
) -> Result<Vec<ServerPod>, LabError> {
    tokio::time::sleep_until(load_start + Duration::from_millis(r.at_ms)).await;
    let replicas = old.len();
    let mut alive: Vec<ServerPod> = old;
    let mut gone: Vec<ServerPod> = Vec::new();
    let mut ready: HashMap<String, ServerPod> = HashMap::new();
    let mut available: Vec<ServerPod> = Vec::new();
    let mut created = 0;
    let mut tasks: JoinSet<Result<Done, LabError>> = JoinSet::new();
    let (surge, unavailable) = match r.strategy {
        Strategy::RollingUpdate => (r.max_surge as usize, r.max_unavailable as usize),
        // Recreate: no new pod while an old one exists; every old pod may go at once.
        Strategy::Recreate => (0, replicas),
    };
    loop {
        // Reconcile until nothing changes, as the controller's next sync would: an old pod
        // going makes room for a new one.
        loop {
            let terminating = replicas - alive.len() - gone.len();
            let may_create = match r.strategy {
                Strategy::RollingUpdate => true,
                Strategy::Recreate => alive.is_empty() && terminating == 0,
            };
            let mut changed = false;
            // Scale the new pods up, within replicas + maxSurge pods in all (terminating pods
            // no longer count).
            while may_create && created < replicas && alive.len() + created < replicas + surge {
                let index = replicas + created;
                created += 1;
                changed = true;
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    let (pod, ready) = start(&ctx, index, Publish::ByCaller).await?;
                    Ok(Done::Ready(pod, ready))
                });
            }
            // Scale the old pods down while replicas - maxUnavailable stay available.
            let can_go = (alive.len() + available.len()).saturating_sub(replicas - unavailable);
            for mut pod in alive.drain(..can_go.min(alive.len())) {
                changed = true;
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    shutdown(&mut pod, &ctx.life, ctx.drain, &ctx.endpoints).await?;
                    Ok(Done::Terminated(pod))
                });
            }
            if !changed {
                break;
            }
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        match done.map_err(|e| LabError::Lifecycle(format!("a pod's task failed: {e}")))?? {
            Done::Terminated(pod) => gone.push(pod),
            Done::Ready(pod, at) => {
                let (name, endpoint) = (pod.name().to_string(), pod.endpoint);
                ready.insert(name.clone(), pod);
                let publish = ctx.endpoints.clone();
                let added = name.clone();
                tasks.spawn(async move {
                    publish.change_since(at, &added, Some(endpoint)).await?;
                    Ok(Done::Published)
                });
                let endpoints = ctx.endpoints.clone();
                let min_ready = Duration::from_millis(r.min_ready_ms);
                tasks.spawn(async move {
                    tokio::time::sleep_until(at + min_ready).await;
                    endpoints.steps.record(&name, "available");
                    Ok(Done::Available(name))
                });
            }
            Done::Available(name) => {
                available.extend(ready.remove(&name));
            }
            Done::Published => {}
        }
    }
    gone.extend(available);
    gone.extend(ready.into_values());
    Ok(gone)
}

/// Scale the Deployment of `servers` to `replicas` now, as the ReplicaSet controller does:
/// new pods created side by side and published once ready, or the newest pods terminated
/// (see [`Scale`](mesh5xx_scenario::model::Scale)). `servers` keeps every pod, those
/// stopped too.
async fn scale(
    servers: &mut Vec<ServerPod>,
    replicas: usize,
    ctx: Rollouts,
) -> Result<(), LabError> {
    let mut tasks: JoinSet<Result<ServerPod, LabError>> = JoinSet::new();
    if replicas > servers.len() {
        for index in servers.len()..replicas {
            let ctx = ctx.clone();
            tasks.spawn(async move { Ok(start(&ctx, index, Publish::Now).await?.0) });
        }
    } else {
        for mut pod in servers.split_off(replicas) {
            let ctx = ctx.clone();
            tasks.spawn(async move {
                shutdown(&mut pod, &ctx.life, ctx.drain, &ctx.endpoints).await?;
                Ok(pod)
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        servers.push(done.map_err(|e| LabError::Lifecycle(format!("a pod's task failed: {e}")))??);
    }
    Ok(())
}

/// Who publishes a new pod's endpoint once it is ready.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// [`start`], from the moment the pod is ready (while its app may still be starting).
    Now,
    /// The caller, on [`Done::Ready`] (the deployment controller's loop).
    ByCaller,
}

/// Create new pod `index`. With an app readiness probe: its app `start_ms` after creation,
/// then its sidecar configured by the control plane; ready when both are. Without (only
/// with [`Publish::Now`], checked by the catalog): its sidecar at once, in front of the
/// app's port (reserved, refusing connections), and the pod ready with it, its endpoint
/// published from then on while the app takes the port `start_ms` after creation. Returns
/// the pod and when it became ready.
async fn start(
    ctx: &Rollouts,
    index: usize,
    publish: Publish,
) -> Result<(ServerPod, Instant), LabError> {
    let t = &ctx.template;
    let name = t.pod_name(index);
    let created = Instant::now();
    ctx.endpoints.steps.record(&name, "created");
    let app_starts = created + Duration::from_millis(ctx.life.start_ms);
    let sandbox = t.sandbox(index).await?;
    let pod_net = sandbox.as_ref();
    if ctx.life.readiness_probe {
        tokio::time::sleep_until(app_starts).await;
        let app = t.start_app(index, &ctx.app, pod_net, any_port()).await?;
        let (bootstrap, access_log) = t.sidecar_config(index, app.addr, pod_net);
        let config = ctx.endpoints.adopt(&bootstrap).await?;
        let (sidecar, endpoint) = t.start_envoy(index, &config, access_log, pod_net).await?;
        let pod = ServerPod {
            app,
            sidecar,
            endpoint,
            sandbox,
        };
        let ready = Instant::now();
        ctx.endpoints.steps.record(&name, "ready");
        if publish == Publish::Now {
            ctx.endpoints.change(&name, Some(pod.endpoint)).await?;
        }
        return Ok((pod, ready));
    }
    // Until the app listens, its port refuses connections: locally a port reserved for it,
    // in a pod a port of the pod's own that nothing else listens on.
    let port = match pod_net {
        Some(_) => None,
        None => Some(ReservedPort::new().map_err(|e| LabError::Lifecycle(format!("{name}: {e}")))?),
    };
    let app_addr = port.as_ref().map_or(any_port(), |p| p.addr());
    let (bootstrap, access_log) = t.sidecar_config(index, app_addr, pod_net);
    let config = ctx.endpoints.adopt(&bootstrap).await?;
    let (sidecar, endpoint) = t.start_envoy(index, &config, access_log, pod_net).await?;
    let ready = Instant::now();
    ctx.endpoints.steps.record(&name, "ready");
    let published = ctx.endpoints.change_since(ready, &name, Some(endpoint));
    let app = async {
        tokio::time::sleep_until(app_starts).await;
        let app = t.start_app(index, &ctx.app, pod_net, app_addr).await?;
        ctx.endpoints.steps.record(&name, "app-listening");
        Ok::<_, LabError>(app)
    };
    let (published, app) = tokio::join!(published, app);
    published?;
    drop(port);
    let pod = ServerPod {
        app: app?,
        sidecar,
        endpoint,
        sandbox,
    };
    Ok((pod, ready))
}

/// The variant's marks for its timeline: each lifecycle step (`lifecycle.jsonl`) and each
/// push of the control plane after the load started (`xds.jsonl`, whose clock is lined up by
/// its wall-clock times with `load_start_unix_ms`).
pub fn marks(dir: &Path, load_start_unix_ms: u64) -> Vec<Mark> {
    let mut out: Vec<Mark> = read(&dir.join("lifecycle.jsonl"))
        .unwrap_or_default()
        .into_iter()
        .map(|s| Mark {
            t_s: s.t_ms as f64 / 1000.0,
            what: format!("{} {}", s.pod, s.step),
        })
        .collect();
    for e in mesh5xx_xds::record::read(&dir.join("xds.jsonl")).unwrap_or_default() {
        if let Event::Push { version, full, .. } = e.event {
            if e.unix_ms >= load_start_unix_ms {
                out.push(Mark {
                    t_s: (e.unix_ms - load_start_unix_ms) as f64 / 1000.0,
                    what: format!("push {version} ({})", if full { "full" } else { "eds" }),
                });
            }
        }
    }
    out.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
    out
}

/// Read `lifecycle.jsonl` back.
pub fn read(path: &Path) -> Result<Vec<Step>, String> {
    mesh5xx_xds::record::read_lines(path)
}
