//! The scenario model: what a scenario file says once parsed and checked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mesh5xx_egress::config::FirewallBackend;
use mesh5xx_egress::faults::NetworkFaults;
use mesh5xx_loadgen::{Arrivals, ResolveMode};
use mesh5xx_upstream::AppFaults;
use serde::{Deserialize, Serialize};

use crate::expect::Expectation;
use crate::istio::IstioObjects;

/// Which way the failing call goes through the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Sidecar → its own app (the server side).
    Inbound,
    /// App → its own sidecar → somewhere else.
    Outbound,
}

/// A whole scenario: its story, its defaults and its variants.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub name: String,
    pub title: String,
    pub direction: Direction,
    pub symptom: String,
    pub mechanism: String,
    /// The production values it models (e.g. Tomcat `maxKeepAliveRequests: 100`).
    pub production: BTreeMap<String, yaml_serde::Value>,
    /// The lab values it uses in their place, with why they are scaled.
    pub lab: BTreeMap<String, yaml_serde::Value>,
    /// Default Istio profile (`--profile` overrides).
    pub profile: String,
    /// The service the app is (host and port), e.g. `srv-a.default.svc.cluster.local:80`.
    pub service: Service,
    /// What its errors look like in an access log (what `diagnose` matches); `None` for a
    /// scenario whose errors never reach istio-proxy (see `unlogged`).
    pub signature: Option<mesh5xx_diagnose::Signature>,
    /// For a scenario without a signature: what the app sees instead, in a few words.
    pub unlogged: Option<String>,
    /// For a scenario whose lines a signature cannot describe (a 5xx without a response
    /// flag, which `diagnose`'s signatures do not match): the line, in words.
    pub unmatched: Option<String>,
    /// Its fixes, best first, each with the variant that measures it.
    pub fixes: Vec<mesh5xx_diagnose::Fix>,
    pub variants: Vec<Variant>,
}

/// The Kubernetes service the app sits behind.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub host: String,
    pub port: u16,
    /// The app's container port behind `port` (the Service's `targetPort`; 8080, as the
    /// Kubernetes mode runs the app): from Istio 1.8.1 the inbound cluster is named after it.
    #[serde(default = "app_port")]
    pub target_port: u16,
}

fn app_port() -> u16 {
    8080
}

/// One variant: the baseline or a mitigation, fully resolved (defaults merged in).
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub description: String,
    /// What the mitigation costs (sockets, latency, throughput), in words.
    pub cost: Option<String>,
    pub duration_ms: u64,
    pub topology: Topology,
    /// The app's faults (for an outbound scenario: the external server's), as a map from
    /// fault name to parameters (see `mesh5xx upstream --list-faults`).
    pub app: AppFaults,
    /// Per-replica overrides of `app`, merged on top, by replica index (a fault set to
    /// `null` is removed).
    pub app_per_replica: Vec<yaml_serde::Mapping>,
    pub load: LoadSettings,
    pub istio: IstioObjects,
    pub expect: Expectation,
    /// What differs under some Istio profiles, by profile name (see [`Variant::for_profile`]).
    pub by_profile: BTreeMap<String, ProfileOverride>,
}

/// A variant's Istio objects or expectations under one profile, where they differ: e.g. the
/// `consecutiveErrors` an istiod before 1.5 knew in place of `consecutive5xxErrors`, or a
/// mitigation that stops hiding the errors from 1.24 on.
#[derive(Debug, Clone, Default)]
pub struct ProfileOverride {
    /// The Istio objects under this profile, in place of the variant's.
    pub istio: Option<IstioObjects>,
    /// The expectations under this profile, in place of the variant's.
    pub expect: Option<Expectation>,
    /// Why it differs, for the report.
    pub note: Option<String>,
}

/// Who talks to whom.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// Put the client's own sidecar (outbound listener, default retries) in front of the server's.
    #[serde(default)]
    pub client_sidecar: bool,
    /// App replicas, each a pod with its own server sidecar.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Outbound scenarios: the external host behind the lab's DNS server and egress firewall.
    #[serde(default)]
    pub external: Option<External>,
    /// Outbound scenarios: another client that looks the host up now and then.
    #[serde(default)]
    pub other_app: Option<OtherApp>,
    /// The sidecars take their configuration over ADS from the lab's istiod-like control
    /// plane (`mesh5xx xds`), as in a mesh, instead of from a static file; its record of
    /// pushes is kept as `xds.jsonl`.
    #[serde(default)]
    pub control_plane: bool,
    /// How the server pods start and stop (the Deployment's pod template and the cluster's
    /// endpoint propagation), for the pods that terminate or start while the load runs.
    #[serde(default)]
    pub pod: PodLifecycle,
    /// A server pod terminates while the load runs, as Kubernetes and pilot-agent terminate
    /// it (needs `control_plane`, through which the callers learn the endpoint is gone).
    #[serde(default)]
    pub terminate: Option<Termination>,
    /// The server Deployment rolls out a new version while the load runs: the deployment
    /// controller replaces every pod, by its strategy (needs `control_plane`).
    #[serde(default)]
    pub rollout: Option<Rollout>,
    /// The server Deployment is scaled while the load runs (needs `control_plane`).
    #[serde(default)]
    pub scale: Option<Scale>,
    /// A server pod's app container is killed while the load runs, and restarted by the
    /// kubelet (needs `control_plane`).
    #[serde(default)]
    pub crash: Option<Crash>,
    /// The node of a server pod is lost while the load runs: the pod's address stops
    /// answering at once while it stays an endpoint until the node controller marks it not
    /// ready (needs `control_plane`, and pods in network namespaces: `--network netns`).
    #[serde(default)]
    pub node_lost: Option<NodeLoss>,
    /// The variant's Istio configuration changes while the load runs (needs
    /// `control_plane`, which pushes the change).
    #[serde(default)]
    pub config_change: Option<ConfigChange>,
    /// The client pod (the calling app and its sidecar) starts with the load, its sidecar's
    /// first configuration arriving from the control plane a stated time later (needs
    /// `control_plane` and `client_sidecar`).
    #[serde(default)]
    pub client_pod: Option<ClientPod>,
    /// The app's Service port: its name and `appProtocol` decide the protocol istiod
    /// gives the service's clusters and listeners (default: named `http`).
    #[serde(default)]
    pub service_port: crate::ServicePort,
    /// `proxyMetadata` of every pod's sidecar (the `proxy.istio.io/config` annotation).
    #[serde(default)]
    pub proxy_metadata: crate::ProxyMetadata,
    /// MeshConfig `protocolDetectionTimeout` as the install sets it, in ms (0: none), in
    /// place of the profile's default: how long a sniffing listener waits for the client's
    /// first bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_detection_timeout_ms: Option<u64>,
    /// The mesh's CA issues every pod a workload certificate (its service account's SPIFFE
    /// identity) and the sidecars speak mTLS as the variant's PeerAuthentication and
    /// DestinationRule `tls` say, auto mTLS by default. Without it the pods have no
    /// certificates and the sidecars talk plaintext (a mesh with `enableAutoMtls: false`),
    /// and Istio objects that set TLS are refused.
    #[serde(default)]
    pub mtls: Option<MeshTls>,
}

/// `topology.mtls`: the workload certificates the mesh's CA issues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MeshTls {
    /// The server pods' certificate: `valid` (istiod's 24 h workload certificate, issued
    /// now) or `expired` (its notAfter an hour ago: the agent stopped rotating it).
    pub server_cert: CertState,
}

/// Whether a workload certificate is within its validity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CertState {
    #[default]
    Valid,
    Expired,
}

impl Topology {
    /// Whether the server pods change while the load runs (one terminates, a rollout, a
    /// scale, a crash).
    pub fn pods_change(&self) -> bool {
        self.terminate.is_some()
            || self.rollout.is_some()
            || self.scale.is_some()
            || self.crash.is_some()
            || self.node_lost.is_some()
    }

    /// Whether anything of the variant changes while the load runs: its server pods, its
    /// Istio configuration, or its client pod (which the catalog requires to start or
    /// terminate with the load).
    pub fn changes_during_load(&self) -> bool {
        self.pods_change() || self.config_change.is_some() || self.client_pod.is_some()
    }

    /// The Istio settings of the pods that not every istiod injected, each with the versions
    /// that did (rows of [`crate::versions::TABLE`]).
    pub fn requires(&self) -> Vec<crate::Since> {
        use crate::versions::{Behaviour, Since};
        let mut out: Vec<Since> = self
            .config_change
            .iter()
            .flat_map(|c| c.objects().requires())
            .collect();
        if self.mtls.is_some() {
            out.push(Since::from("topology.mtls", Behaviour::PeerAuthentication));
        }
        if self.service_port.app_protocol.is_some() {
            out.push(Since::from(
                "service_port.appProtocol",
                Behaviour::AppProtocol,
            ));
        }
        if self.pod.exit_on_zero_active_connections {
            out.push(Since::from(
                "EXIT_ON_ZERO_ACTIVE_CONNECTIONS",
                Behaviour::ExitOnZeroActiveConnections,
            ));
        }
        let Some(c) = &self.client_pod else {
            return out;
        };
        if c.hold_application_until_proxy_starts {
            out.push(Since::from(
                "holdApplicationUntilProxyStarts",
                Behaviour::HoldApplicationUntilProxyStarts,
            ));
        }
        if c.native_sidecar {
            out.push(Since::from("native sidecar", Behaviour::NativeSidecar));
        }
        out
    }
}

/// At `at_ms` into the load, `istio` is applied on top of the variant's Istio objects: the
/// control plane renders the server pods' sidecars anew and pushes them (after its
/// debounce). The lab applies AuthorizationPolicies this way, which change the server pods'
/// inbound listener: Envoy drains the connections of the listener's old filter chain for
/// `topology.pod.drain_duration_ms` and then closes what is still open.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    /// When, counted from the start of the load (ms).
    pub at_ms: u64,
    /// The objects applied (Kubernetes YAML, as `kubectl apply` takes them).
    pub istio: Vec<yaml_serde::Value>,
}

impl ConfigChange {
    /// The objects, typed (the catalog checked them when it loaded the scenario).
    pub fn objects(&self) -> IstioObjects {
        IstioObjects::parse(&self.istio).expect("the catalog checked topology.config_change.istio")
    }
}

/// The client pod (the calling app, the load generator, and its sidecar) changing while the
/// load runs.
///
/// Starting (`config_delay_ms`): its app container and its istio-proxy container start
/// together, as the kubelet starts a pod's containers one after the other without waiting;
/// the app sends at once, while istio-proxy has no listener until istiod's first push
/// reaches it, `config_delay_ms` after the pod starts (pilot-agent's start, Envoy's, the
/// connection to istiod and istiod's push queue). What the app sends before that is refused,
/// as iptables redirects it to a port nothing listens on. Unless the app waits for its
/// sidecar: `hold_application_until_proxy_starts` (istio-proxy first, with a postStart
/// `pilot-agent wait`) or `native_sidecar` (istio-proxy an init container with
/// `restartPolicy: Always`, the app started after its startup probe).
///
/// Terminating (`terminate_at_ms`): the app and pilot-agent get SIGTERM at the same moment;
/// the app keeps calling out until the load ends (its own graceful shutdown), while
/// pilot-agent drains and stops Envoy as `topology.pod` says (`termination_drain_ms`, or
/// `exit_on_zero_active_connections`). A native sidecar is stopped only after the app has
/// exited.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPod {
    /// The pod starts with the load; from its start to its sidecar's first configuration (ms).
    #[serde(default)]
    pub config_delay_ms: Option<u64>,
    /// The pod starts terminating this long after the load started (ms).
    #[serde(default)]
    pub terminate_at_ms: Option<u64>,
    /// ProxyConfig `holdApplicationUntilProxyStarts`.
    #[serde(default)]
    pub hold_application_until_proxy_starts: bool,
    /// Istio's native sidecar (`sidecar.istio.io/nativeSidecar: "true"`).
    #[serde(default)]
    pub native_sidecar: bool,
}

impl ClientPod {
    /// Whether the app starts only once its sidecar is ready.
    pub fn app_waits_for_sidecar(&self) -> bool {
        self.hold_application_until_proxy_starts || self.native_sidecar
    }
}

/// How a server pod starts and stops. Stopping: Kubernetes marks it terminating; from that
/// moment three things run side by side, as in a cluster — the endpoint's removal travels to
/// the control plane (`endpoint_delay_ms`: the endpoints controller and its watch) and is
/// pushed after the debounce; the app container runs its preStop hook (`pre_stop_ms`) and
/// then gets SIGTERM (the lab's app stops at once, after its `shutdown-delay`, or once its
/// requests in flight are done with `graceful-shutdown`); the sidecar's pilot-agent keeps
/// Envoy serving for `termination_drain_ms` (`terminationDrainDuration`) and then stops it.
/// What still runs `grace_period_ms` after the pod started terminating
/// (`terminationGracePeriodSeconds`) is killed. Starting: the app
/// listens `start_ms` after the pod is created (scheduling, image pull, the app's start-up);
/// the pod is ready when the app and its sidecar are, and its endpoint reaches the control
/// plane `endpoint_delay_ms` later.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PodLifecycle {
    /// From an endpoint change (pod ready, pod terminating) to the control plane (ms).
    pub endpoint_delay_ms: u64,
    /// The app container's preStop sleep before its SIGTERM (ms).
    pub pre_stop_ms: u64,
    /// pilot-agent's `terminationDrainDuration` (ms).
    pub termination_drain_ms: u64,
    /// The pod's `terminationGracePeriodSeconds` (ms): SIGKILL for what is still running.
    pub grace_period_ms: u64,
    /// From a new pod's creation, or its app container's restart after a crash, to its app
    /// starting (ms).
    pub start_ms: u64,
    /// pilot-agent's `EXIT_ON_ZERO_ACTIVE_CONNECTIONS`: on termination, wait
    /// `minimum_drain_ms`, then stop Envoy once its listeners have no open connection (checked
    /// every second) instead of after `termination_drain_ms`.
    pub exit_on_zero_active_connections: bool,
    /// pilot-agent's `MINIMUM_DRAIN_DURATION` (ms).
    pub minimum_drain_ms: u64,
    /// pilot-agent's `drainDuration` (ProxyConfig, ms), for every sidecar of the variant:
    /// how long Envoy drains a listener an update changes before it closes what is left.
    pub drain_duration_ms: u64,
    /// Whether the app container has a readiness probe. With one (the default), a new pod
    /// is ready once its app listens, and only then published. Without (for the pods a
    /// `topology.scale` creates, or an app container a `topology.crash` restarts), the
    /// kubelet counts the app ready once it runs: the pod is ready when its sidecar is
    /// (pilot-agent's own probe), and published while its app may still be starting
    /// (`start_ms`), its port refusing connections.
    pub readiness_probe: bool,
    /// The app's readiness probe's `periodSeconds` (ms; Kubernetes' default 10 s): a
    /// restarted app container is probed at once, then this often, and ready at its first
    /// success.
    pub probe_period_ms: u64,
    /// The kubelet's first CrashLoopBackOff (ms; `backOffPeriod`, 10 s): the second restart
    /// of a container comes this long after it exited, each later one twice as long after,
    /// up to 30 times this (`MaxContainerBackOff`, 300 s).
    pub crash_backoff_ms: u64,
    /// The kubelet's PLEG relist period (ms; `genericPlegRelistPeriod`, 1 s): a container's
    /// exit is seen at the next relist, and its pod then counts as not ready.
    pub relist_ms: u64,
    /// The address the server pods' app listens on: every address of the pod (`any`, the
    /// default) or its loopback only (`localhost`). The local network mode runs every app
    /// on the runner's loopback and cannot tell them apart: `localhost` needs
    /// `--network netns`.
    pub app_bind: AppBind,
}

/// The address an app container listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AppBind {
    /// `0.0.0.0`: every address of the pod.
    #[default]
    Any,
    /// `127.0.0.1` only, as many apps and frameworks bind by default.
    Localhost,
}

/// A field left out of `topology.pod` takes its value here: Kubernetes' and Istio's
/// defaults (30 s grace period, 5 s `terminationDrainDuration`, 45 s `drainDuration`), and a
/// 1 s propagation.
impl Default for PodLifecycle {
    fn default() -> Self {
        Self {
            endpoint_delay_ms: 1000,
            pre_stop_ms: 0,
            termination_drain_ms: 5000,
            grace_period_ms: 30_000,
            start_ms: 0,
            // pilot/cmd/pilot-agent/options/options.go@1.24.0 L159-166.
            exit_on_zero_active_connections: false,
            minimum_drain_ms: 5000,
            // pkg/config/mesh/mesh.go@1.4.0 L36, @1.24.0 L44.
            drain_duration_ms: 45_000,
            readiness_probe: true,
            // pkg/apis/core/v1/defaults.go SetDefaults_Probe: PeriodSeconds 10.
            probe_period_ms: 10_000,
            // pkg/kubelet/kubelet.go: backOffPeriod 10 s, MaxContainerBackOff 300 s,
            // genericPlegRelistPeriod 1 s.
            crash_backoff_ms: 10_000,
            relist_ms: 1000,
            app_bind: AppBind::Any,
        }
    }
}

/// One server pod terminating (see [`PodLifecycle`] for how).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Termination {
    /// Which replica (0-based).
    #[serde(default)]
    pub pod: u32,
    /// When, counted from the start of the load (ms).
    pub at_ms: u64,
}

/// The node that runs server pod `pod` is lost at `at_ms` (powered off, its kernel hung,
/// cut off the network): the pod's address stops answering at once, without a reset or a
/// refusal, while the pod stays in the service's endpoints. The node controller marks the
/// node's pods not ready only when the node's heartbeats have been missing for
/// `not_ready_after_ms` (kube-controller-manager's `--node-monitor-grace-period`: 40 s,
/// 50 s from Kubernetes 1.32); the endpoint's removal then takes `topology.pod.endpoint_delay_ms`
/// to reach the callers' sidecars, as a terminating pod's does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeLoss {
    /// Which replica's node (0-based).
    #[serde(default)]
    pub pod: u32,
    /// When, counted from the start of the load (ms).
    pub at_ms: u64,
    /// From the loss to the pod marked not ready (ms): the node monitor's grace period.
    pub not_ready_after_ms: u64,
}

/// The app container of server pod `pod` killed at `at_ms`, as the kernel's OOM killer kills
/// it (SIGKILL), and then again each time it has listened for `again_after_ms` after a
/// restart, `times` kills in all: a crash loop. The kubelet sees the exit at its next PLEG
/// relist (`topology.pod.relist_ms`): the pod is not ready from then (a container not
/// running is not ready: `pkg/kubelet/prober/prober_manager.go` `UpdatePodStatus`) and its
/// endpoint is removed. It restarts the container (restartPolicy Always) at once the first
/// time, and after its CrashLoopBackOff the next times (`crash_backoff_ms`, doubling: the
/// kubelet's `doBackOff`, `IsInBackOffSince` counts from the container's exit); the pod is
/// ready again at the restarted app's first successful readiness probe
/// (`probe_period_ms`), or at the restart without one, and its endpoint published again.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    /// Which replica (0-based).
    #[serde(default)]
    pub pod: u32,
    /// The first kill, counted from the start of the load (ms).
    pub at_ms: u64,
    /// How many kills in all.
    #[serde(default = "one")]
    pub times: u32,
    /// How long a restarted app listens before it is killed again (ms; needed when `times`
    /// is above 1).
    #[serde(default)]
    pub again_after_ms: Option<u64>,
}

/// A rollout of the server Deployment: from `at_ms` the deployment controller replaces every
/// pod with a new one (the same app), as Kubernetes' RollingUpdate (`max_surge` pods above
/// the replicas at most, `max_unavailable` below them at most, a new pod counting as
/// available `min_ready_ms` after it is ready) or Recreate (every old pod terminated and gone
/// before the first new one is created) strategy does.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// When it starts, counted from the start of the load (ms).
    pub at_ms: u64,
    #[serde(default)]
    pub strategy: Strategy,
    /// RollingUpdate: pods created above the replicas (Kubernetes' 25 %, rounded up: 1 for
    /// up to 4 replicas).
    #[serde(default = "one")]
    pub max_surge: u32,
    /// RollingUpdate: pods below the replicas allowed (25 %, rounded down: 0 for up to 3).
    #[serde(default)]
    pub max_unavailable: u32,
    /// `minReadySeconds` (ms).
    #[serde(default)]
    pub min_ready_ms: u64,
}

/// The server Deployment scaled to `replicas` pods at `at_ms` (an autoscaler's decision,
/// `kubectl scale`). New pods start as a rollout's do and are published once ready; scaling
/// down terminates the newest pods first, as the ReplicaSet controller ranks them ("Been
/// ready for empty time < less time < more time": the pod ready most recently goes first,
/// kubernetes `pkg/controller/controller_utils.go`, `ActivePodsWithRanks.Less`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// When, counted from the start of the load (ms).
    pub at_ms: u64,
    /// The Deployment's new `replicas`.
    pub replicas: u32,
}

/// A Deployment's `strategy.type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    RollingUpdate,
    Recreate,
}

/// The external service of an outbound scenario, as the lab's egress process serves it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct External {
    /// Its addresses (127.x.y.z) as DNS first answers them.
    pub addresses: Vec<std::net::Ipv4Addr>,
    /// TTL of the DNS answers.
    #[serde(default = "thirty")]
    pub ttl_s: u32,
    /// The sidecar's DNS refresh rate, scaled to the lab's clock (overrides the profile's).
    #[serde(default)]
    pub dns_refresh_ms: Option<u64>,
    /// What goes wrong between the app and the host, as a map from fault name to parameters
    /// (`ip-rotation`, `firewall-expiry`; see `mesh5xx egress --list-faults`).
    #[serde(default)]
    pub faults: NetworkFaults,
}

impl External {
    /// Every address DNS answers for the host at some point.
    pub fn all_addresses(&self) -> Vec<std::net::Ipv4Addr> {
        let mut all = self.addresses.clone();
        for a in self.faults.ip_rotation.iter().flat_map(|r| r.addresses()) {
            if !all.contains(a) {
                all.push(*a);
            }
        }
        all
    }

    /// Where the firewall runs, when there is one.
    pub fn firewall_backend(&self) -> Option<FirewallBackend> {
        self.faults.firewall_expiry.map(|f| f.backend)
    }
}

impl Variant {
    /// The variant as it runs under `profile`: its per-profile Istio objects and expectations
    /// in place of the defaults.
    pub fn for_profile(&self, profile: &crate::Profile) -> Variant {
        let mut v = self.clone();
        if let Some(o) = self.by_profile.get(profile.name) {
            if let Some(istio) = &o.istio {
                v.istio = istio.clone();
            }
            if let Some(expect) = &o.expect {
                v.expect = expect.clone();
            }
        }
        v
    }

    /// The Istio fields this variant uses that `profile`'s istiod did not translate: under
    /// that profile the variant is not applicable (refused, never rendered without them).
    pub fn unsupported(&self, profile: &crate::Profile) -> Vec<crate::Since> {
        self.istio
            .requires()
            .into_iter()
            .chain(self.topology.requires())
            .filter(|s| !s.holds_for(profile.version))
            .collect()
    }

    /// What this variant needs that `profile`'s istiod did not translate, e.g. `Istio ≥ 1.15
    /// (connectionPool.tcp.maxConnectionDuration)`; `None` when it applies.
    pub fn needs(&self, profile: &crate::Profile) -> Option<String> {
        let missing = self.unsupported(profile);
        (!missing.is_empty()).then(|| {
            missing
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        })
    }

    /// Why this variant cannot run under `profile`, if it cannot: `variant V needs Istio ≥ 1.15
    /// (…); profile istio-1.4 predates it`.
    pub fn not_applicable(&self, profile: &crate::Profile) -> Option<String> {
        let needs = self.needs(profile)?;
        let removed = self.unsupported(profile).iter().any(|s| s.until.is_some());
        let when = if removed { "postdates" } else { "predates" };
        Some(format!(
            "variant {} needs {needs}; profile {} {when} it",
            self.name, profile.name
        ))
    }

    /// Whether running this variant changes kernel firewall rules, so the run needs a private
    /// network namespace.
    pub fn needs_private_network(&self) -> bool {
        self.topology
            .external
            .as_ref()
            .is_some_and(|e| e.firewall_backend() == Some(FirewallBackend::Nftables))
    }
}

/// Another client of the external host whose lookups refresh the firewall's entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OtherApp {
    /// It looks the name up this often (ms).
    pub resolve_every_ms: u64,
    /// Its first lookup, ms after start.
    #[serde(default)]
    pub first_at_ms: Option<u64>,
}

fn thirty() -> u32 {
    30
}

fn one() -> u32 {
    1
}

/// The load generator's settings (see `mesh5xx loadgen --help`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_jitter_ms: Option<u64>,
    /// Open loop: requests per second in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Open loop: how the requests' intended times are spaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<Arrivals>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_conn: Option<u64>,
    /// HTTP/1.0 requests (an old client or library: `ab`, `curl -0`, a load balancer's health
    /// check); the connection is kept only with `keepalive: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http10: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// A server-first line protocol instead of HTTP (an SMTP or MySQL client): a connection
    /// per request, the server's banner awaited this long (else `no_banner`), then a line
    /// and its answer within `timeout_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Outbound: when the app looks the external host up: `once`, `per-connection`, `every-ms:N`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_mode: Option<ResolveMode>,
}

impl Scenario {
    /// The scenario as `diagnose` matches it: signature and fixes, each fix with the command
    /// that measures it and the measuring variant's cost; `None` when its errors are not in
    /// istio-proxy's log.
    pub fn rule(&self) -> Option<mesh5xx_diagnose::Rule> {
        let signature = self.signature.clone()?;
        let fixes = self
            .fixes
            .iter()
            .map(|f| {
                let variant = f
                    .variant
                    .as_deref()
                    .and_then(|name| self.variants.iter().find(|v| v.name == name));
                mesh5xx_diagnose::RuleFix {
                    fix: f.fix.clone(),
                    measured_by: variant
                        .map(|v| format!("mesh5xx run {} --variant {}", self.name, v.name)),
                    cost: variant.and_then(|v| v.cost.clone()),
                }
            })
            .collect();
        Some(mesh5xx_diagnose::Rule {
            scenario: self.name.clone(),
            signature,
            fixes,
        })
    }

    /// The variant called `name`.
    pub fn variant(&self, name: &str) -> Result<&Variant, crate::ScenarioError> {
        self.variants
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| crate::ScenarioError::UnknownVariant {
                scenario: self.name.clone(),
                variant: name.to_string(),
                known: self.variant_names().join(", "),
            })
    }

    /// Names of all variants, baseline first.
    pub fn variant_names(&self) -> Vec<String> {
        self.variants.iter().map(|v| v.name.clone()).collect()
    }
}

impl Variant {
    /// The faults of replica `index`: `app` with that replica's overrides merged on top
    /// (checked when the catalog was read).
    pub fn app_for_replica(&self, index: usize) -> AppFaults {
        let Some(over) = self.app_per_replica.get(index) else {
            return self.app.clone();
        };
        crate::catalog::app_with(&self.app, over).expect("replica overrides were checked when read")
    }
}
