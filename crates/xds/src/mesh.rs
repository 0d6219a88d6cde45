//! What the control plane knows (each sidecar's resources), how changes reach it, and when
//! they are pushed: istiod's debounce.
//!
//! Updates are merged until none has come for `after` (`PILOT_DEBOUNCE_AFTER`, 100 ms) or
//! the first merged one is `max` old (`PILOT_DEBOUNCE_MAX`, 10 s); endpoint-only updates are
//! debounced too unless `eds` is off (`PILOT_ENABLE_EDS_DEBOUNCE`, on), in which case each is
//! pushed at once. One push at a time: updates arriving during a push wait for the next one.
//! (istio/istio `pilot/pkg/xds/discovery.go@1.24.0` L330-411 `debounce`,
//! `pilot/pkg/features/tuning.go@1.24.0` L78-97.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::record::{Event, Recorder};
use crate::resources::Resources;

/// A change to the mesh, sent to the control plane by the runner (one JSON line each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "update", rename_all = "snake_case", deny_unknown_fields)]
pub enum Update {
    /// A sidecar's whole configuration (as [`Resources::from_bootstrap`] makes it): a full push.
    Proxy { node: String, resources: Resources },
    /// A sidecar is gone: its configuration is dropped (a full push).
    RemoveProxy { node: String },
    /// The endpoints of EDS cluster `cluster`, in every sidecar that has it: an EDS push.
    Endpoints {
        cluster: String,
        #[serde(deserialize_with = "addresses")]
        endpoints: Vec<SocketAddr>,
    },
}

/// `["127.0.0.1:8080", …]`, an error naming the entry that is not an `IP:PORT`.
fn addresses<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SocketAddr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.parse().map_err(|_| {
                serde::de::Error::custom(format!("endpoints[{i}]: {a:?} is not an IP:PORT address"))
            })
        })
        .collect()
}

impl Update {
    /// Whether it needs a full push (everything recomputed) rather than an EDS one.
    pub fn is_full(&self) -> bool {
        !matches!(self, Update::Endpoints { .. })
    }

    fn describe(&self) -> String {
        match self {
            Update::Proxy { node, .. } => format!("proxy {node}"),
            Update::RemoveProxy { node } => format!("remove proxy {node}"),
            Update::Endpoints { cluster, endpoints } => {
                format!("{cluster}: {} endpoints", endpoints.len())
            }
        }
    }
}

/// istiod's debounce settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debounce {
    /// `PILOT_DEBOUNCE_AFTER`: quiet time before a push.
    pub after: Duration,
    /// `PILOT_DEBOUNCE_MAX`: the longest a change waits.
    pub max: Duration,
    /// `PILOT_ENABLE_EDS_DEBOUNCE`: endpoint updates wait like the others.
    pub eds: bool,
}

impl Default for Debounce {
    fn default() -> Self {
        Self {
            after: Duration::from_millis(100),
            max: Duration::from_secs(10),
            eds: true,
        }
    }
}

/// The configuration the sidecars are served: what was last pushed.
#[derive(Debug, Default)]
pub struct Pushed {
    /// By node id.
    pub proxies: BTreeMap<String, Resources>,
    /// Push counter; the version string is `v{seq}`.
    pub seq: u64,
    /// The last full push.
    pub full_seq: u64,
}

impl Pushed {
    pub fn version(&self) -> String {
        format!("v{}", self.seq)
    }

    fn apply(&mut self, u: Update) -> Result<(), String> {
        match u {
            Update::Proxy { node, resources } => {
                self.proxies.insert(node, resources);
            }
            Update::RemoveProxy { node } => {
                self.proxies.remove(&node);
            }
            Update::Endpoints { cluster, endpoints } => {
                let mut found = false;
                for r in self.proxies.values_mut() {
                    found |= r.set_endpoints(&cluster, &endpoints);
                }
                if !found {
                    return Err(format!("no sidecar has an EDS cluster {cluster:?}"));
                }
            }
        }
        Ok(())
    }
}

/// The shared state: the pushed configuration and the signal that it changed.
#[derive(Debug, Clone)]
pub struct Mesh {
    pub pushed: Arc<Mutex<Pushed>>,
    /// Carries the push counter; every stream wakes on a change.
    pub signal: watch::Receiver<u64>,
}

impl Mesh {
    /// What was last pushed (held briefly: streams and the debouncer share it).
    pub fn pushed(&self) -> std::sync::MutexGuard<'_, Pushed> {
        self.pushed.lock().expect("the mesh lock")
    }
}

/// Start the debouncer: updates sent on the returned channel are merged and pushed.
pub fn start(debounce: Debounce, recorder: Arc<Recorder>) -> (Mesh, mpsc::UnboundedSender<Update>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (signal_tx, signal) = watch::channel(0);
    let pushed = Arc::new(Mutex::new(Pushed::default()));
    tokio::spawn(debouncer(rx, debounce, pushed.clone(), signal_tx, recorder));
    (Mesh { pushed, signal }, tx)
}

async fn debouncer(
    mut rx: mpsc::UnboundedReceiver<Update>,
    debounce: Debounce,
    pushed: Arc<Mutex<Pushed>>,
    signal: watch::Sender<u64>,
    recorder: Arc<Recorder>,
) {
    let mut pending: Vec<Update> = Vec::new();
    let mut first = Instant::now();
    let mut last = Instant::now();
    let push = |updates: Vec<Update>, since: Instant| {
        let full = updates.iter().any(Update::is_full);
        let merged = updates.len();
        let mut p = pushed.lock().expect("the mesh lock");
        for u in updates {
            let what = u.describe();
            if let Err(reason) = p.apply(u) {
                recorder.record(Event::Rejected { what, reason });
            }
        }
        p.seq += 1;
        if full {
            p.full_seq = p.seq;
        }
        recorder.record(Event::Push {
            version: p.version(),
            full,
            merged,
            debounce_ms: since.elapsed().as_secs_f64() * 1000.0,
        });
        let _ = signal.send(p.seq);
    };
    loop {
        let deadline =
            (!pending.is_empty()).then(|| (last + debounce.after).min(first + debounce.max));
        tokio::select! {
            u = rx.recv() => {
                let Some(u) = u else { break };
                recorder.record(Event::Update { full: u.is_full(), what: u.describe() });
                if !debounce.eds && !u.is_full() {
                    push(vec![u], Instant::now());
                    continue;
                }
                last = Instant::now();
                if pending.is_empty() {
                    first = last;
                }
                pending.push(u);
            }
            () = sleep_until(deadline) => {
                push(std::mem::take(&mut pending), first);
            }
        }
    }
    if !pending.is_empty() {
        push(pending, first);
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eds(cluster: &str, port: u16) -> Update {
        Update::Endpoints {
            cluster: cluster.into(),
            endpoints: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        }
    }

    fn proxy() -> Update {
        let bootstrap = serde_json::json!({"static_resources": {"clusters": [
            {"name": "outbound|80||a", "type": "STATIC", "load_assignment": crate::resources::load_assignment("outbound|80||a", &[])}
        ]}});
        Update::Proxy {
            node: "n".into(),
            resources: Resources::from_bootstrap(&bootstrap).unwrap(),
        }
    }

    fn pushes(r: &Recorder) -> Vec<(bool, usize)> {
        r.entries()
            .into_iter()
            .filter_map(|e| match e.event {
                Event::Push { full, merged, .. } => Some((full, merged)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn updates_in_a_burst_make_one_push_after_the_quiet_time() {
        let rec = Arc::new(Recorder::in_memory());
        let (mesh, tx) = start(Debounce::default(), rec.clone());
        tx.send(proxy()).unwrap();
        for i in 0..5 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(eds("outbound|80||a", 1000 + i)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(99)).await;
        assert!(pushes(&rec).is_empty(), "pushed before 100 ms of quiet");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(pushes(&rec), vec![(true, 6)]);
        let p = mesh.pushed.lock().unwrap();
        assert_eq!(p.seq, 1);
        assert_eq!(p.full_seq, 1);
        assert_eq!(
            p.proxies["n"].endpoints["outbound|80||a"]["endpoints"][0]["lb_endpoints"][0]
                ["endpoint"]["address"]["socket_address"]["port_value"],
            1004
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_of_updates_is_pushed_at_the_max_wait() {
        let rec = Arc::new(Recorder::in_memory());
        let debounce = Debounce {
            after: Duration::from_millis(100),
            max: Duration::from_secs(1),
            eds: true,
        };
        let (_mesh, tx) = start(debounce, rec.clone());
        tx.send(proxy()).unwrap();
        for i in 0..15 {
            tokio::time::sleep(Duration::from_millis(90)).await;
            tx.send(eds("outbound|80||a", 1000 + i)).unwrap();
        }
        // 11 updates had come when the first was 1 s old: one push, the rest wait for quiet.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(pushes(&rec), vec![(true, 12), (false, 4)]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_eds_debounce_endpoints_go_at_once() {
        let rec = Arc::new(Recorder::in_memory());
        let debounce = Debounce {
            eds: false,
            ..Debounce::default()
        };
        let (mesh, tx) = start(debounce, rec.clone());
        tx.send(proxy()).unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        tx.send(eds("outbound|80||a", 7)).unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(pushes(&rec), vec![(true, 1), (false, 1)]);
        assert_eq!(*mesh.signal.borrow(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn endpoints_of_an_unknown_cluster_are_recorded_as_rejected() {
        let rec = Arc::new(Recorder::in_memory());
        let (_mesh, tx) = start(Debounce::default(), rec.clone());
        tx.send(eds("outbound|80||nowhere", 1)).unwrap();
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(rec.entries().iter().any(|e| matches!(&e.event,
            Event::Rejected { reason, .. } if reason.contains("nowhere"))));
    }
}
