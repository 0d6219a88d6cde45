//! Pods that change while the load runs, as Kubernetes and pilot-agent change them: one
//! server pod terminating (`topology.terminate`), or the server Deployment rolling out
//! (`topology.rollout`: the deployment controller's RollingUpdate or Recreate). How a pod
//! starts and stops is the variant's `topology.pod`. Each step is recorded in
//! `lifecycle.jsonl` (ms from the start of the load), to be read next to the errors per
//! second and the control plane's record.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mesh5xx_results::Mark;
use mesh5xx_scenario::model::{PodLifecycle, Rollout, Strategy};
use mesh5xx_scenario::Variant;
use mesh5xx_upstream::AppFaults;
use mesh5xx_xds::{Event, Update};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::control_plane::ControlPlane;
use crate::topology::{PodTemplate, Pods, ServerPod, Sidecar};
use crate::LabError;

/// One step of a pod's life, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    pub pod: String,
    /// Stopping: `terminating`, `endpoint-removed` (sent to the control plane),
    /// `app-sigterm`, `app-exited` (or `app-killed` at the end of the grace period),
    /// `sidecar-stopped`. Starting: `created`, `ready` (app and sidecar),
    /// `available` (after `minReadySeconds`), `endpoint-added`.
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
        let s = Step {
            t_ms: self.start.elapsed().as_millis() as u64,
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
        tokio::time::sleep(self.delay).await;
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

/// Run the variant's change of its server pods, if it has one, from `load_start`.
pub async fn run(
    pods: &mut Pods,
    v: &Variant,
    load_start: Instant,
    dir: &Path,
) -> Result<(), LabError> {
    if !v.topology.pods_change() {
        return Ok(());
    }
    // The catalog checked that pods that change have a control plane; only inbound
    // variants have server pods and a template.
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
    match (&v.topology.terminate, &v.topology.rollout) {
        (Some(t), _) => {
            tokio::time::sleep_until(load_start + Duration::from_millis(t.at_ms)).await;
            // The catalog checked that `t.pod` is a replica.
            shutdown(&mut pods.servers[t.pod as usize], &life, &endpoints).await?;
        }
        (None, Some(r)) => {
            let ctx = Rollouts {
                template: Arc::new(template),
                app: v.app.clone(),
                life,
                endpoints: endpoints.clone(),
            };
            let old = std::mem::take(&mut pods.servers);
            pods.servers = rollout(old, r, ctx, load_start).await?;
        }
        (None, None) => {}
    }
    let endpoints = Arc::into_inner(endpoints).expect("every task of the change has ended");
    pods.control_plane = Some(endpoints.state.into_inner().0);
    Ok(())
}

/// Terminate `pod` now as the kubelet and pilot-agent do: the endpoint's removal, the app's
/// preStop then SIGTERM, and pilot-agent's drain wait then Envoy's stop, side by side; the
/// kubelet's SIGKILL for whatever still runs at the end of the grace period.
async fn shutdown(
    pod: &mut ServerPod,
    life: &PodLifecycle,
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
        let drained = t0 + Duration::from_millis(life.termination_drain_ms);
        tokio::time::sleep_until(kill_at.min(drained)).await;
        envoy.terminate().await?;
        steps.record(name, "sidecar-stopped");
        Ok::<_, LabError>(())
    };
    let (a, b, c) = tokio::join!(endpoints.change(name, None), app_stop, sidecar_stop);
    a.and(b).and(c)
}

/// What the deployment controller's tasks share.
#[derive(Clone)]
struct Rollouts {
    template: Arc<PodTemplate>,
    /// The new pods' app (every replica the same).
    app: AppFaults,
    life: PodLifecycle,
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
                tasks.spawn(async move { start(&ctx, index).await });
            }
            // Scale the old pods down while replicas - maxUnavailable stay available.
            let can_go = (alive.len() + available.len()).saturating_sub(replicas - unavailable);
            for mut pod in alive.drain(..can_go.min(alive.len())) {
                changed = true;
                let ctx = ctx.clone();
                tasks.spawn(async move {
                    shutdown(&mut pod, &ctx.life, &ctx.endpoints).await?;
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
                    publish.change(&added, Some(endpoint)).await?;
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

/// Create new pod `index`: its app `start_ms` after creation, then its sidecar configured
/// by the control plane; ready when both are.
async fn start(ctx: &Rollouts, index: usize) -> Result<Done, LabError> {
    let t = &ctx.template;
    let name = t.pod_name(index);
    ctx.endpoints.steps.record(&name, "created");
    tokio::time::sleep(Duration::from_millis(ctx.life.start_ms)).await;
    let app = t.start_app(index, &ctx.app).await?;
    let (bootstrap, access_log) = t.sidecar_config(index, app.addr);
    let config = ctx.endpoints.adopt(&bootstrap).await?;
    let pod = t.start_sidecar(index, app, &config, access_log).await?;
    ctx.endpoints.steps.record(&name, "ready");
    Ok(Done::Ready(pod, Instant::now()))
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
