//! A server pod's app container killed while the load runs and restarted by the kubelet
//! (`topology.crash`; the steps followed are [`Crash`]'s). The kill is a SIGKILL, as the
//! kernel's OOM killer sends; the restart runs the same app on the same port, its report and
//! log continued by the new process.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use mesh5xx_process::netns::NetNs;

use mesh5xx_scenario::model::Crash;
use mesh5xx_sidecar::ReservedPort;
use mesh5xx_upstream::AppFaults;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Rollouts;
use crate::topology::ServerPod;
use crate::LabError;

/// A TCP readiness probe's `timeoutSeconds` (Kubernetes' default, 1 s).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The kubelet's CrashLoopBackOff: no wait before a container's first restart, then
/// `initial`, doubling at each restart up to `MaxContainerBackOff` (30 times the initial
/// 10 s), counted from the container's exit (`pkg/kubelet/kuberuntime/kuberuntime_manager.go`
/// `doBackOff`; `client-go/util/flowcontrol/backoff.go` `Next`, `IsInBackOffSince`; the
/// lab leaves out the jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CrashLoopBackOff {
    initial: Duration,
    /// The wait before the next restart; `None` before the first.
    next: Option<Duration>,
}

impl CrashLoopBackOff {
    pub(super) fn new(initial: Duration) -> Self {
        Self {
            initial,
            next: None,
        }
    }

    /// When the container that exited at `exited`, seen exited at `seen`, restarts; moves
    /// the back-off on.
    pub(super) fn restart_at(&mut self, exited: Instant, seen: Instant) -> Instant {
        let at = match self.next {
            None => seen,
            Some(wait) => seen.max(exited + wait),
        };
        let cap = self.initial * 30;
        self.next = Some(match self.next {
            None => self.initial,
            Some(wait) => (wait * 2).min(cap),
        });
        at
    }
}

/// Kill the app of `pod` (replica `index`, running `app`) as `crash` says, from
/// `load_start`, and restart it each time as the kubelet does, its endpoint removed while it
/// is not ready and published again once it is.
pub(super) async fn crash_loop(
    pod: &mut ServerPod,
    index: usize,
    app: &AppFaults,
    crash: &Crash,
    ctx: &Rollouts,
    load_start: Instant,
) -> Result<(), LabError> {
    let life = &ctx.life;
    let steps = &ctx.endpoints.steps;
    let name = pod.name().to_string();
    let endpoint = pod.endpoint;
    let addr = pod.app.addr;
    let sandbox = pod.sandbox.as_ref();
    // The probe connects to the app's port from inside the pod, as pilot-agent's does.
    let probe = Probe {
        addr: match sandbox {
            Some(_) => SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port())),
            None => addr,
        },
        netns: sandbox.map(|s| s.netns().clone()),
    };
    let mut backoff = CrashLoopBackOff::new(ms(life.crash_backoff_ms));
    // The pod's endpoint changes, each from the moment of its cause, sent in their order
    // (two may fall on the same moment: a restart seen with the exit).
    let (changes, mut pending) = mpsc::unbounded_channel::<(Instant, bool)>();
    let publish = async {
        while let Some((since, ready)) = pending.recv().await {
            let addr = ready.then_some(endpoint);
            ctx.endpoints.change_since(since, &name, addr).await?;
        }
        Ok::<_, LabError>(())
    };
    let kubelet = async {
        let mut kill_at = load_start + ms(crash.at_ms);
        for _ in 0..crash.times {
            tokio::time::sleep_until(kill_at).await;
            pod.app.child.kill().await?;
            let exited = Instant::now();
            // Nothing holds the port until the app is back: keep it from being handed out
            // (a pod's own port is handed to nobody else).
            let port =
                match pod.sandbox {
                    Some(_) => None,
                    None => Some(ReservedPort::at(addr).map_err(|e| {
                        LabError::Lifecycle(format!("{name}: reserving {addr}: {e}"))
                    })?),
                };
            steps.record(&name, "app-oom-killed");
            // The exit is seen at the next PLEG relist: half a period later on average,
            // which the lab takes so that the relist's phase does not move the result.
            let seen = exited + ms(life.relist_ms) / 2;
            tokio::time::sleep_until(seen).await;
            steps.record_at(&name, "not-ready", seen);
            let _ = changes.send((seen, false));
            let restart = backoff.restart_at(exited, seen);
            tokio::time::sleep_until(restart).await;
            steps.record(&name, "app-restarted");
            let starting = async {
                tokio::time::sleep_until(restart + ms(life.start_ms)).await;
                let app = ctx.template.start_app(index, app, sandbox, addr).await?;
                steps.record(&name, "app-listening");
                Ok::<_, LabError>((app, Instant::now()))
            };
            let ready = async {
                let ready = if life.readiness_probe {
                    probe_until_ready(&probe, restart, ms(life.probe_period_ms)).await
                } else {
                    // A container without a readiness probe is ready once it runs.
                    restart
                };
                steps.record(&name, "ready");
                let _ = changes.send((ready, true));
            };
            let (started, ()) = tokio::join!(starting, ready);
            let (app, listening) = started?;
            pod.app = app;
            drop(port);
            kill_at = listening + ms(crash.again_after_ms.unwrap_or(0));
        }
        drop(changes);
        Ok::<_, LabError>(())
    };
    let (a, b) = tokio::join!(kubelet, publish);
    a.and(b)
}

/// The kubelet's readiness probe of a restarted container, a TCP connect to the app (what
/// pilot-agent's rewritten probe does for a `tcpSocket` probe): at once when the container
/// starts (`prober_manager.go` `UpdatePodStatus` triggers a run for a container not yet
/// probed), then every `period`; returns the moment of the first success.
async fn probe_until_ready(probe: &Probe, started: Instant, period: Duration) -> Instant {
    let mut at = started;
    loop {
        tokio::time::sleep_until(at).await;
        let connect = async {
            match &probe.netns {
                Some(ns) => ns.connect(probe.addr).await,
                None => tokio::net::TcpStream::connect(probe.addr).await,
            }
        };
        if let Ok(Ok(_)) = tokio::time::timeout(PROBE_TIMEOUT, connect).await {
            return Instant::now();
        }
        at += period;
    }
}

/// Where a TCP readiness probe connects: the app's address, in the pod's namespace if any.
struct Probe {
    addr: SocketAddr,
    netns: Option<NetNs>,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first restart comes as soon as the exit is seen; each later one waits from the
    /// exit, 10, 20, 40 … s, up to 300 s.
    #[test]
    fn crash_loop_back_off_doubles_from_the_exit_up_to_thirty_times() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut b = CrashLoopBackOff::new(s(10));
        assert_eq!(b.restart_at(t0, t0 + s(1)), t0 + s(1));
        assert_eq!(b.restart_at(t0 + s(5), t0 + s(6)), t0 + s(15));
        assert_eq!(b.restart_at(t0 + s(100), t0 + s(101)), t0 + s(120));
        assert_eq!(b.restart_at(t0 + s(200), t0 + s(200)), t0 + s(240));
        for _ in 0..5 {
            b.restart_at(t0, t0);
        }
        assert_eq!(b.restart_at(t0 + s(1000), t0 + s(1000)), t0 + s(1300));
        // An exit seen after the back-off has passed restarts at once.
        assert_eq!(b.restart_at(t0, t0 + s(400)), t0 + s(400));
    }
}
