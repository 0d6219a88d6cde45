//! Pods that change while the load runs: a server pod terminating as Kubernetes and
//! pilot-agent terminate it. Each step is recorded in `lifecycle.jsonl` (ms from the start
//! of the load), to be read next to the errors per second and the control plane's record.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mesh5xx_results::Mark;
use mesh5xx_scenario::model::{Service, Termination};
use mesh5xx_xds::{Event, Update};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::topology::Pods;
use crate::LabError;

/// One step of a pod's life, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Milliseconds since the load started.
    pub t_ms: u64,
    pub pod: String,
    /// `terminating`, `endpoint-removed` (sent to the control plane), `app-sigterm`,
    /// `app-exited`, `sidecar-stopped`.
    pub step: String,
}

struct Steps {
    start: Instant,
    file: std::fs::File,
}

impl Steps {
    fn record(&mut self, pod: &str, step: &str) {
        let s = Step {
            t_ms: self.start.elapsed().as_millis() as u64,
            pod: pod.to_string(),
            step: step.to_string(),
        };
        // The record is for people and timelines; a failed write must not stop the run.
        let _ = writeln!(
            self.file,
            "{}",
            serde_json::to_string(&s).expect("a step serializes")
        );
    }
}

/// Terminate server pod `t.pod` at `t.at_ms` after `load_start`: endpoint removal, the app's
/// preStop and SIGTERM, and pilot-agent's drain wait then Envoy's stop, side by side.
/// The callers learn of it through their EDS cluster of `service`.
pub async fn terminate(
    pods: &mut Pods,
    service: &Service,
    t: &Termination,
    load_start: Instant,
    dir: &Path,
) -> Result<(), LabError> {
    let path = dir.join("lifecycle.jsonl");
    let file = std::fs::File::create(&path).map_err(LabError::io(&path))?;
    let steps = std::sync::Mutex::new(Steps {
        start: load_start,
        file,
    });
    let record = |pod: &str, step: &str| steps.lock().expect("steps").record(pod, step);
    let i = t.pod as usize;
    let remaining: Vec<SocketAddr> = pods
        .inbound
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, a)| *a)
        .collect();
    let Pods {
        apps,
        sidecars,
        control_plane,
        ..
    } = pods;
    // The catalog checked that a terminating pod has a control plane and names a replica.
    let cp = control_plane.as_mut().expect("a control plane");
    let app = &mut apps[i];
    let sidecar = sidecars
        .iter_mut()
        .filter(|s| s.role == "server")
        .nth(i)
        .expect("a server sidecar per replica");
    let pod = sidecar.pod.clone();
    let cluster = mesh5xx_sidecar::render::outbound_name(service.port, &service.host);

    tokio::time::sleep_until(load_start + Duration::from_millis(t.at_ms)).await;
    record(&pod, "terminating");
    let endpoints = async {
        tokio::time::sleep(Duration::from_millis(t.endpoint_delay_ms)).await;
        cp.send(&Update::Endpoints {
            cluster,
            endpoints: remaining,
        })
        .await?;
        record(&pod, "endpoint-removed");
        Ok::<_, LabError>(())
    };
    let app_stop = async {
        tokio::time::sleep(Duration::from_millis(t.pre_stop_ms)).await;
        record(&pod, "app-sigterm");
        app.child.stop(Duration::from_secs(5)).await?;
        record(&pod, "app-exited");
        Ok::<_, LabError>(())
    };
    let sidecar_stop = async {
        tokio::time::sleep(Duration::from_millis(t.termination_drain_ms)).await;
        sidecar.envoy.terminate().await?;
        record(&pod, "sidecar-stopped");
        Ok::<_, LabError>(())
    };
    let (a, b, c) = tokio::join!(endpoints, app_stop, sidecar_stop);
    a.and(b).and(c)
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
