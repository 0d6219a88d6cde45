//! Kubernetes mode: a scenario variant as Kubernetes manifests plus the variant's own Istio
//! objects, for a kind cluster with a real Istio control plane.
//!
//! `mesh5xx render k8s SCENARIO --variant V` prints, as multi-document YAML: the meshed
//! Namespace (`istio-injection=enabled`), one app-server Deployment per distinct replica
//! setting behind the scenario's Service, the variant's Istio objects exactly as the
//! scenario file holds them (`Variant.istio.raw`, the same YAML the local mode translates to
//! Envoy configuration), and the load generator as a Job. Outbound scenarios add the fake
//! DNS + expiring firewall as a pod outside the mesh ([`egress`]). The command lines of the
//! app server and load generator come from the local runner's own functions
//! (`mesh5xx_lab::commands`), so both modes run the same processes with the same flags.
//!
//! [`summary`] turns what `scripts/kind-run.sh` collected into the `summary.json` local runs
//! write, with `"mode": "kind"`.

pub mod egress;
pub mod install;
pub mod summary;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use mesh5xx_egress::config::EgressConfig;
use mesh5xx_plan::processes::{app_args, load_args, AppHost, Resolve};
use mesh5xx_scenario::model::{AppBind, OtherApp, PodLifecycle, Strategy};
use mesh5xx_scenario::{Catalog, Profile, Scenario, Variant};
use mesh5xx_upstream::AppFaults;
use serde_json::{json, Value};

pub use summary::{summary_main, KindSummaryArgs};

/// The image every container runs (built by `kind-cluster/Dockerfile`, loaded by kind-up.sh).
pub const DEFAULT_IMAGE: &str = "mesh5xx:local";
/// The namespace of outbound scenarios' egress pod (outside the mesh).
pub const EGRESS_NAMESPACE: &str = "mesh5xx-egress";
/// The namespace used when the scenario's service host names none.
pub const FALLBACK_NAMESPACE: &str = "mesh5xx";
/// The port the external backends of outbound scenarios listen on in their pods (an inbound
/// scenario's app listens on its Service's `target_port`).
pub const APP_PORT: u16 = 8080;
/// Where the load generator writes its reports in the Job's pod.
pub const RESULTS_DIR: &str = "/results";
/// Marker lines around the base64 tar.gz of [`RESULTS_DIR`] in the load generator's log.
pub const RESULTS_BEGIN: &str = "MESH5XX-RESULTS-BEGIN";
pub const RESULTS_END: &str = "MESH5XX-RESULTS-END";
/// What the Job's `other-app` container prints for each lookup: `… answered` or `… failed`.
pub const LOOKUP_MARKER: &str = "MESH5XX-LOOKUP";
/// Header comment naming the Istio profile a rendering needs (read by kind-run.sh).
pub const PROFILE_COMMENT: &str = "# mesh5xx-istio-profile: ";
/// Header comment naming the namespace of the app and load generator (read by kind-run.sh).
pub const NAMESPACE_COMMENT: &str = "# mesh5xx-namespace: ";
/// Header comment listing the variants of the scenario that run under the rendering's
/// profile, baseline first (read by the scripts).
pub const VARIANTS_COMMENT: &str = "# mesh5xx-variants: ";
/// Header comment, one per variant the rendering's profile cannot run: `NAME: why`.
pub const NOT_APPLICABLE_COMMENT: &str = "# mesh5xx-not-applicable: ";
/// Header comment listing the profiles that have a cluster install (read by check-k8s.sh).
pub const PROFILES_COMMENT: &str = "# mesh5xx-profiles: ";
/// Header comment of variants whose app has `down` windows.
pub const DOWN_WINDOW_NOTE: &str = "# App: the `down` fault with `after_first_request: true`: in a cluster the app starts tens of seconds before the load, so each app container counts its down windows from the first request it receives, as the local app counts them from a start that precedes the load by a moment";
/// Header comment of variants that terminate a pod while the load runs: the milliseconds
/// from the load's start to the deletion of one app pod (read by kind-run.sh).
pub const TERMINATE_COMMENT: &str = "# mesh5xx-terminate: ";
/// Header comment of variants that roll the app Deployment out while the load runs: the
/// milliseconds from the load's start to `kubectl rollout restart` (read by kind-run.sh).
pub const ROLLOUT_COMMENT: &str = "# mesh5xx-rollout: ";
/// Header comments of variants that scale the app Deployment while the load runs: the
/// milliseconds from the load's start to `kubectl scale`, and the new replicas (read by
/// kind-run.sh).
pub const SCALE_COMMENT: &str = "# mesh5xx-scale: ";
pub const SCALE_REPLICAS_COMMENT: &str = "# mesh5xx-scale-replicas: ";
/// Header comment of variants whose app container is killed while the load runs: the
/// milliseconds from the load's start to the first kill, the number of kills, and the
/// milliseconds from each restart to the next kill (read by kind-run.sh).
pub const CRASH_COMMENT: &str = "# mesh5xx-crash: ";
/// Header comments of variants whose Istio configuration changes while the load runs: the
/// milliseconds from the load's start to `kubectl apply`, and the objects applied then, as
/// one line of JSON (read by kind-run.sh).
pub const CONFIG_CHANGE_COMMENT: &str = "# mesh5xx-config-change: ";
pub const CONFIG_CHANGE_OBJECTS_COMMENT: &str = "# mesh5xx-config-change-objects: ";
/// Label on the Job: kind-run.sh applies everything else first (`mesh5xx/stage!=load`).
pub const STAGE_LABEL: &str = "mesh5xx/stage";

/// `mesh5xx render k8s`: print a variant's Kubernetes manifests and Istio objects.
#[derive(Debug, Clone, clap::Args)]
pub struct RenderK8sArgs {
    /// The scenario (see `mesh5xx list`), or the path of a scenario file of your own.
    #[arg(value_name = "SCENARIO")]
    pub scenario: String,
    /// The variant to render.
    #[arg(long, value_name = "NAME", default_value = "baseline")]
    pub variant: String,
    /// The image with the `mesh5xx` binary.
    #[arg(long, value_name = "IMAGE", default_value = DEFAULT_IMAGE)]
    pub image: String,
    /// Namespace of the app and the load generator [default: the one the scenario's service
    /// host names, e.g. `default` for srv-a.default.svc.cluster.local, which the variants'
    /// Istio objects are written for; `mesh5xx` if it names none].
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Istio profile (see kind-cluster/README.md) [default: the scenario's].
    #[arg(long, value_name = "P")]
    pub profile: Option<String>,
    /// Load duration in seconds [default: the variant's].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// Outbound scenarios: the local egress configuration (JSON, as `mesh5xx egress --config`
    /// reads it) to translate for the cluster [default: the external name on one address,
    /// allow-listed, one gateway].
    #[arg(long, value_name = "FILE")]
    pub egress_config: Option<PathBuf>,
}

/// What a rendering may change besides the scenario and variant.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub image: String,
    /// `None`: the namespace of the scenario's service host ([`scenario_namespace`]).
    pub namespace: Option<String>,
    /// `None`: the scenario's profile.
    pub profile: Option<String>,
    /// `None`: the variant's duration.
    pub duration_ms: Option<u64>,
    /// Outbound only; `None`: [`egress::default_config`].
    pub egress: Option<EgressConfig>,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            image: DEFAULT_IMAGE.to_string(),
            namespace: None,
            profile: None,
            duration_ms: None,
            egress: None,
        }
    }
}

/// One rendering in progress: everything the object builders read.
pub struct Render<'a> {
    pub scenario: &'a Scenario,
    pub variant: &'a Variant,
    pub opts: &'a RenderOptions,
    pub namespace: String,
    pub profile: Profile,
    pub duration_ms: u64,
}

/// Entry point of `mesh5xx render k8s`.
pub fn main(args: RenderK8sArgs, catalog: &Catalog) -> anyhow::Result<ExitCode> {
    let scenario = catalog.get(&args.scenario)?;
    let profile =
        mesh5xx_scenario::profile::by_name(args.profile.as_deref().unwrap_or(&scenario.profile))?;
    // The variant as it is under the profile (its per-profile Istio objects), refused when
    // it uses a field that profile's istiod did not translate.
    let variant = scenario.variant(&args.variant)?.for_profile(&profile);
    if let Some(why) = variant.not_applicable(&profile) {
        bail!("{}: {why}", scenario.name);
    }
    let egress = match &args.egress_config {
        Some(p) => Some(
            EgressConfig::from_file(p)
                .with_context(|| format!("--egress-config {}", p.display()))?,
        ),
        None => None,
    };
    let opts = RenderOptions {
        image: args.image,
        namespace: args.namespace,
        profile: args.profile,
        duration_ms: args.duration.map(|s| s * 1000),
        egress,
    };
    print!("{}", render_text(scenario, &variant, &opts)?);
    Ok(ExitCode::SUCCESS)
}

/// The namespace a scenario's service host names (`srv-a.default.svc.cluster.local` →
/// `default`), if it is a cluster-local name.
pub fn scenario_namespace(scenario: &Scenario) -> Option<&str> {
    let parts: Vec<&str> = scenario.service.host.split('.').collect();
    (parts.len() >= 3 && parts[2] == "svc").then(|| parts[1])
}

/// The Service name of the app (`srv-a` of `srv-a.default.svc.cluster.local`).
pub fn service_name(scenario: &Scenario) -> &str {
    scenario
        .service
        .host
        .split('.')
        .next()
        .unwrap_or(&scenario.service.host)
}

/// The variant's objects: Kubernetes objects and its Istio objects, in apply order.
pub fn render(
    scenario: &Scenario,
    variant: &Variant,
    opts: &RenderOptions,
) -> anyhow::Result<Vec<yaml_serde::Value>> {
    let r = prepare(scenario, variant, opts)?;
    build(&r)
}

fn prepare<'a>(
    scenario: &'a Scenario,
    variant: &'a Variant,
    opts: &'a RenderOptions,
) -> anyhow::Result<Render<'a>> {
    let own = scenario_namespace(scenario);
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| own.unwrap_or(FALLBACK_NAMESPACE).to_string());
    if namespace == EGRESS_NAMESPACE {
        bail!("--namespace {EGRESS_NAMESPACE} is reserved for the egress pod (outside the mesh)");
    }
    if let Some(own) = own.filter(|own| *own != namespace) {
        if !variant.istio.raw.is_empty() || variant.topology.config_change.is_some() {
            bail!(
                "variant {:?} of {} carries Istio objects written for namespace {own:?} (service {}); \
                 they are applied as written, so --namespace must be {own:?}, not {namespace:?}",
                variant.name,
                scenario.name,
                scenario.service.host
            );
        }
    }
    let profile_name = opts.profile.as_deref().unwrap_or(&scenario.profile);
    let profile = mesh5xx_scenario::profile::by_name(profile_name)?;
    Ok(Render {
        scenario,
        variant,
        opts,
        namespace,
        profile,
        duration_ms: opts.duration_ms.unwrap_or(variant.duration_ms),
    })
}

fn build(r: &Render<'_>) -> anyhow::Result<Vec<yaml_serde::Value>> {
    let outbound = egress::is_outbound(r.scenario);
    let mut objs: Vec<Value> = vec![json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": r.namespace,
            "labels": labels(r, "namespace", &[("istio-injection", "enabled")]),
        },
    })];
    let egress_cfg = match (outbound, &r.opts.egress) {
        (false, _) => None,
        (true, Some(cfg)) => Some(cfg.clone()),
        (true, None) => Some(egress::variant_config(r.scenario, r.variant)?),
    };
    if let Some(cfg) = &egress_cfg {
        objs.extend(egress::objects(r, cfg)?);
    } else {
        objs.extend(app_objects(r));
    }
    let mut out: Vec<yaml_serde::Value> = objs
        .iter()
        .map(yaml_serde::to_value)
        .collect::<Result<_, _>>()?;
    // The variant's Istio objects, as the scenario file holds them.
    out.extend(r.variant.istio.raw.iter().cloned());
    out.push(yaml_serde::to_value(job(r, egress_cfg.as_ref()))?);
    Ok(out)
}

/// The variant rendered as multi-document YAML, with header comments naming the Istio
/// profile, how it is installed and what the pinned Istio cannot reproduce.
pub fn render_text(
    scenario: &Scenario,
    variant: &Variant,
    opts: &RenderOptions,
) -> anyhow::Result<String> {
    let r = prepare(scenario, variant, opts)?;
    let docs = build(&r)?;
    let mut text = format!(
        "# mesh5xx render k8s: scenario {}, variant {}\n# {}\n{PROFILE_COMMENT}{}\n{NAMESPACE_COMMENT}{}\n",
        scenario.name,
        variant.name,
        variant.description.trim().replace('\n', " "),
        r.profile.name,
        r.namespace
    );
    let (runs, not_applicable): (Vec<_>, Vec<_>) = scenario
        .variants
        .iter()
        .map(|v| (v, v.for_profile(&r.profile).not_applicable(&r.profile)))
        .partition(|(_, why)| why.is_none());
    let names: Vec<&str> = runs.iter().map(|(v, _)| v.name.as_str()).collect();
    text.push_str(&format!("{VARIANTS_COMMENT}{}\n", names.join(" ")));
    for (v, why) in not_applicable {
        let why = why.expect("partitioned on Some");
        text.push_str(&format!("{NOT_APPLICABLE_COMMENT}{}: {why}\n", v.name));
    }
    let installs: Vec<&str> = install::all().iter().map(|i| i.profile).collect();
    text.push_str(&format!("{PROFILES_COMMENT}{}\n", installs.join(" ")));
    match install::for_profile(r.profile.name) {
        Some(i) => {
            text.push_str(&format!(
                "# Istio: istioctl {} install -f {} (compatibilityVersion {}), plus {}{}\n",
                install::PINNED_ISTIO_VERSION,
                i.operator_file,
                i.compatibility_version,
                install::FLAGS_HEADER_FILTER,
                i.extra_files
                    .iter()
                    .map(|f| format!(" and {f}"))
                    .collect::<String>()
            ));
            for note in i.not_reproduced {
                text.push_str(&format!("# Not reproduced on the pinned Istio: {note}\n"));
            }
        }
        None => text.push_str(&format!(
            "# Istio: profile {} has no cluster install in kind-cluster/istio/; it cannot be reproduced in kind\n",
            r.profile.name
        )),
    }
    if replica_groups(variant)
        .iter()
        .any(|(a, _)| a.get(mesh5xx_upstream::FaultKind::Down).is_some())
    {
        text.push_str(&format!("{DOWN_WINDOW_NOTE}\n"));
    }
    if let Some(mtls) = variant.topology.mtls {
        text.push_str(
            "# mTLS: the cluster's istiod issues the workload certificates (the lab makes its own)
",
        );
        if mtls.server_cert == mesh5xx_scenario::model::CertState::Expired {
            text.push_str("# Warning: topology.mtls.server_cert expired is the lab's own certificate; in a cluster istio-agent renews it, so this variant answers as its fix does
");
        }
    }
    let delay = variant.topology.pod.endpoint_delay_ms;
    if let Some(t) = &variant.topology.terminate {
        text.push_str(&format!(
            "{TERMINATE_COMMENT}{}\n# Terminate: kind-run.sh deletes one app pod {} ms after the load starts (its ReplicaSet starts a new one); the endpoint's propagation (endpoint_delay_ms {delay} locally) is the cluster's own\n",
            t.at_ms, t.at_ms
        ));
    }
    if let Some(r) = &variant.topology.rollout {
        text.push_str(&format!(
            "{ROLLOUT_COMMENT}{}\n# Rollout: kind-run.sh restarts the app Deployment {} ms after the load starts (kubectl rollout restart); the endpoint's propagation (endpoint_delay_ms {delay} locally) is the cluster's own\n",
            r.at_ms, r.at_ms
        ));
    }
    if let Some(sc) = &variant.topology.scale {
        text.push_str(&format!(
            "{SCALE_COMMENT}{}\n{SCALE_REPLICAS_COMMENT}{}\n# Scale: kind-run.sh scales the app Deployment to {} replicas {} ms after the load starts (kubectl scale); the endpoint's propagation (endpoint_delay_ms {delay} locally) and the app's start-up (start_ms {} locally) are the cluster's own\n",
            sc.at_ms, sc.replicas, sc.replicas, sc.at_ms, variant.topology.pod.start_ms
        ));
    }
    if let Some(c) = &variant.topology.crash {
        text.push_str(&format!(
            "{CRASH_COMMENT}{} {} {}\n# Crash: kind-run.sh kills the app container of one app pod {} ms after the load starts (SIGKILL from the kind node, as the OOM killer's), {} time(s), {} ms after each restart; the kubelet's relist, restart back-off (crash_backoff_ms {} locally) and readiness probe are the cluster's own\n",
            c.at_ms,
            c.times,
            c.again_after_ms.unwrap_or(0),
            c.at_ms,
            c.times,
            c.again_after_ms.unwrap_or(0),
            variant.topology.pod.crash_backoff_ms,
        ));
    }
    if let Some(n) = &variant.topology.node_lost {
        text.push_str(&format!(
            "# Not reproduced in kind: the loss of pod {}'s node {} ms into the load (kind-run.sh does not stop a kind node; `docker pause` of the node's container would); the node monitor's grace period (not_ready_after_ms {} locally) is the cluster's own\n",
            n.pod, n.at_ms, n.not_ready_after_ms
        ));
    }
    if let Some(c) = &variant.topology.config_change {
        let objects =
            serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": c.istio}))?;
        text.push_str(&format!(
            "{CONFIG_CHANGE_COMMENT}{}\n{CONFIG_CHANGE_OBJECTS_COMMENT}{objects}\n# Config change: kind-run.sh applies these objects {} ms after the load starts; the cluster's istiod pushes them\n",
            c.at_ms, c.at_ms
        ));
    }
    if let Some(c) = &variant.topology.client_pod {
        if let Some(ms) = c.config_delay_ms {
            text.push_str(&format!(
                "# Client pod: the loadgen Job's pod {}; its sidecar's first configuration comes when the cluster's istiod pushes it (config_delay_ms {ms} locally)\n",
                if c.app_waits_for_sidecar() {
                    "starts its app once istio-proxy is ready"
                } else {
                    "starts its app with istio-proxy (no holdApplicationUntilProxyStarts)"
                },
            ));
        }
        if let Some(ms) = c.terminate_at_ms {
            text.push_str(&format!(
                "# Not reproduced in kind: the client pod's termination {ms} ms into the load (the load generator stops on SIGTERM instead of calling out through its shutdown)\n"
            ));
        }
    }
    if let Some(ms) = variant.topology.protocol_detection_timeout_ms {
        text.push_str(&format!("# Warning: topology.protocol_detection_timeout_ms ({ms}) is a per-variant sidecar setting locally; in a cluster it is the mesh-wide meshConfig.protocolDetectionTimeout of the installed profile\n"));
    }
    if egress::is_outbound(scenario) {
        let cfg = match &opts.egress {
            Some(cfg) => cfg.clone(),
            None => egress::variant_config(scenario, variant)?,
        };
        if opts.egress.is_none() && variant.topology.external.is_none() {
            text.push_str(
                "# Egress: default configuration (no topology.external, no --egress-config)\n",
            );
        }
        if let Some(ms) = variant
            .topology
            .external
            .as_ref()
            .and_then(|e| e.dns_refresh_ms)
        {
            text.push_str(&format!("# Warning: topology.external.dns_refresh_ms ({ms}) is a per-variant sidecar setting locally; in a cluster the DNS refresh is the mesh-wide meshConfig.dnsRefreshRate of the installed profile\n"));
        }
        text.push_str(&format!(
            "# Egress: CoreDNS must forward {} to {} (kind-cluster/coredns-patch.yaml)\n",
            egress::stub_zones(&cfg).join(", "),
            egress::DNS_CLUSTER_IP
        ));
    }
    for d in docs {
        text.push_str("---\n");
        text.push_str(&yaml_serde::to_string(&d)?);
    }
    Ok(text)
}

/// Labels of every object: what it is part of, its role, the scenario and variant.
pub(crate) fn labels(r: &Render<'_>, component: &str, extra: &[(&str, &str)]) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("app.kubernetes.io/part-of".into(), json!("mesh5xx"));
    m.insert("app.kubernetes.io/component".into(), json!(component));
    m.insert("mesh5xx/scenario".into(), json!(r.scenario.name));
    m.insert("mesh5xx/variant".into(), json!(r.variant.name));
    for (k, v) in extra {
        m.insert((*k).into(), json!(v));
    }
    Value::Object(m)
}

/// `mesh5xx upstream …` with `faults`, listening on the pod's `port` (on every address, or
/// the loopback only: `bind`) and printing its report on stdout at SIGTERM (collected from
/// the container log). Outages count from the first request: the pod starts long before
/// the load generator.
pub fn upstream_command(faults: &AppFaults, port: u16, bind: AppBind) -> Vec<String> {
    let ip = match bind {
        AppBind::Any => [0, 0, 0, 0],
        AppBind::Localhost => [127, 0, 0, 1],
    };
    let listen = SocketAddr::from((ip, port));
    let args = app_args(faults, AppHost::Pod, listen, Path::new("/dev/stdout"));
    std::iter::once("upstream".to_string())
        .chain(args.to_argv())
        .collect()
}

/// The pod spec of an app server (the scenario's app or an outbound backend).
pub(crate) fn app_pod_spec(r: &Render<'_>, args: Vec<String>, port: u16) -> Value {
    json!({
        "terminationGracePeriodSeconds": 10,
        "containers": [{
            "name": "app",
            "image": r.opts.image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["mesh5xx"],
            "args": args,
            "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
            // The production default the scenarios model: a pod stays in the endpoints
            // until 3 probes 10 s apart failed.
            "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10, "failureThreshold": 3},
            "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
        }],
    })
}

/// Seconds, rounded up: Kubernetes counts these fields in whole seconds.
fn whole_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

/// `deployment` with what the variant's pods need: for pods that change, the grace period
/// and the app container's preStop sleep in the pod template (the `sleep` action, Kubernetes
/// 1.30+, so the image needs no shell) and a rollout's strategy and `minReadySeconds`;
/// pilot-agent's `drainDuration` and `terminationDrainDuration` as the
/// `proxy.istio.io/config` annotation (meshconfig ProxyConfig, read per pod) when they are
/// not the defaults.
fn with_pod_changes(r: &Render<'_>, mut deployment: Value) -> Value {
    let topology = &r.variant.topology;
    let life = &topology.pod;
    let defaults = PodLifecycle::default();
    let template = &mut deployment["spec"]["template"];
    let mut proxy_config = String::new();
    if life.drain_duration_ms != defaults.drain_duration_ms {
        proxy_config.push_str(&format!(
            "drainDuration: {}s\n",
            whole_seconds(life.drain_duration_ms)
        ));
    }
    if topology.pods_change() {
        template["spec"]["terminationGracePeriodSeconds"] =
            json!(whole_seconds(life.grace_period_ms));
        if life.pre_stop_ms > 0 {
            template["spec"]["containers"][0]["lifecycle"] =
                json!({"preStop": {"sleep": {"seconds": whole_seconds(life.pre_stop_ms)}}});
        }
        if life.termination_drain_ms != defaults.termination_drain_ms {
            proxy_config.push_str(&format!(
                "terminationDrainDuration: {}s\n",
                whole_seconds(life.termination_drain_ms)
            ));
        }
    }
    if life.probe_period_ms != defaults.probe_period_ms {
        template["spec"]["containers"][0]["readinessProbe"]["periodSeconds"] =
            json!(whole_seconds(life.probe_period_ms));
    }
    if !life.readiness_probe {
        // The kubelet then counts the app ready once its container runs.
        if let Some(app) = template["spec"]["containers"][0].as_object_mut() {
            app.remove("readinessProbe");
        }
    }
    let mut metadata = proxy_metadata(topology);
    if life.exit_on_zero_active_connections {
        // pilot-agent reads both from its environment, set from proxyMetadata
        // (pilot/cmd/pilot-agent/options/options.go@1.24.0 L159-166).
        metadata.push_str("  EXIT_ON_ZERO_ACTIVE_CONNECTIONS: \"true\"\n");
        if life.minimum_drain_ms != defaults.minimum_drain_ms {
            metadata.push_str(&format!(
                "  MINIMUM_DRAIN_DURATION: \"{}s\"\n",
                whole_seconds(life.minimum_drain_ms)
            ));
        }
    }
    if !metadata.is_empty() {
        proxy_config.push_str(&format!("proxyMetadata:\n{metadata}"));
    }
    if !proxy_config.is_empty() {
        template["metadata"]["annotations"] = json!({"proxy.istio.io/config": proxy_config});
    }
    if let Some(rollout) = &topology.rollout {
        deployment["spec"]["strategy"] = match rollout.strategy {
            Strategy::RollingUpdate => json!({"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": rollout.max_surge, "maxUnavailable": rollout.max_unavailable}}),
            Strategy::Recreate => json!({"type": "Recreate"}),
        };
        deployment["spec"]["minReadySeconds"] = json!(whole_seconds(rollout.min_ready_ms));
    }
    deployment
}

/// The entries of `topology.proxy_metadata` as lines of the ProxyConfig's `proxyMetadata`
/// map (pilot-agent exports each as an environment variable; `ISTIO_META_*` reach istiod as
/// node metadata).
fn proxy_metadata(topology: &mesh5xx_scenario::Topology) -> String {
    let mut out = String::new();
    if let Some(v) = &topology.proxy_metadata.http10 {
        out.push_str(&format!("  ISTIO_META_HTTP10: {v:?}\n"));
    }
    out
}

/// Replica groups: each distinct app setting with the number of replicas that have it.
pub fn replica_groups(variant: &Variant) -> Vec<(AppFaults, u32)> {
    let mut groups: Vec<(AppFaults, u32)> = Vec::new();
    for i in 0..variant.topology.replicas as usize {
        let app = variant.app_for_replica(i);
        match groups.iter_mut().find(|(a, _)| *a == app) {
            Some((_, n)) => *n += 1,
            None => groups.push((app, 1)),
        }
    }
    groups
}

fn app_objects(r: &Render<'_>) -> Vec<Value> {
    let svc = service_name(r.scenario);
    let groups = replica_groups(r.variant);
    let port = r.scenario.service.target_port;
    let mut out = Vec::new();
    for (k, (app, replicas)) in groups.iter().enumerate() {
        let name = if groups.len() == 1 {
            svc.to_string()
        } else {
            format!("{svc}-{k}")
        };
        let group = k.to_string();
        let deployment = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": r.namespace, "labels": labels(r, "app", &[("app", svc)])},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": svc, "mesh5xx/group": group}},
                "template": {
                    "metadata": {"labels": labels(r, "app", &[("app", svc), ("mesh5xx/group", &group)])},
                    "spec": app_pod_spec(r, upstream_command(app, port, r.variant.topology.pod.app_bind), port),
                },
            },
        });
        out.push(with_pod_changes(r, deployment));
    }
    out.push(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": svc, "namespace": r.namespace, "labels": labels(r, "app", &[("app", svc)])},
        "spec": {
            "selector": {"app": svc},
            "ports": [service_port(r)],
        },
    }));
    out
}

/// The app's Service port: its name and `appProtocol` as `topology.service_port` says.
fn service_port(r: &Render<'_>) -> Value {
    let named = &r.variant.topology.service_port;
    let mut port = json!({"name": named.name, "port": r.scenario.service.port, "targetPort": r.scenario.service.target_port, "protocol": "TCP"});
    if let Some(app) = &named.app_protocol {
        port["appProtocol"] = json!(app);
    }
    port
}

/// The shell wrapper of the load generator: runs `mesh5xx "$@"`, then prints the results
/// directory as a base64 tar.gz between marker lines (a finished pod's files cannot be
/// copied out; its log can be read).
pub fn job_script() -> String {
    format!(
        "mesh5xx \"$@\"; rc=$?; echo {RESULTS_BEGIN}; tar -C {RESULTS_DIR} -czf - . | base64; echo {RESULTS_END}; exit $rc"
    )
}

/// The Job's `other-app` container for `topology.other_app`: another client of the external
/// host that looks `name` up through the system resolver (CoreDNS, which forwards the zone
/// to the egress DNS) at the lab's times, relative to the pod's start as the load is, and
/// prints one [`LOOKUP_MARKER`] line per lookup. It ends with the load, so the Job completes.
fn other_app_container(r: &Render<'_>, o: &OtherApp, name: &str) -> Value {
    let first = o.first_at_ms.unwrap_or(o.resolve_every_ms);
    let every = o.resolve_every_ms.max(1);
    let lookups = match r.duration_ms.checked_sub(first) {
        Some(left) if left > 0 => (left - 1) / every + 1,
        _ => 0,
    };
    let secs = |ms: u64| format!("{}.{:03}", ms / 1000, ms % 1000);
    let script = format!(
        "sleep {first}; n=0; while [ $n -lt {lookups} ]; do \
         if getent ahostsv4 {name}. >/dev/null; then echo {LOOKUP_MARKER} answered; else echo {LOOKUP_MARKER} failed; fi; \
         n=$((n+1)); [ $n -lt {lookups} ] && sleep {every}; done; exit 0",
        first = secs(first),
        every = secs(every),
    );
    json!({
        "name": "other-app",
        "image": r.opts.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", script],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    })
}

/// `mesh5xx loadgen …` as the Job runs it. Outbound (`resolve`: the external name and port),
/// the app looks the name up through the system resolver (CoreDNS → egress DNS) when
/// `load.resolve_mode` says, and connects to the answer: its sidecar captures the connection.
pub fn loadgen_command(
    r: &Render<'_>,
    target: &str,
    host: &str,
    resolve: Option<(&str, u16)>,
) -> Vec<String> {
    let resolve = resolve.map(|(name, port)| Resolve {
        name: name.to_string(),
        dns: None,
        port,
        connect: true,
    });
    let mut a = vec!["loadgen".to_string()];
    a.extend(
        load_args(
            &r.variant.load,
            target,
            host,
            r.duration_ms,
            Path::new(RESULTS_DIR),
            resolve.as_ref(),
        )
        .to_argv(),
    );
    a
}

/// The loadgen pod's annotations. Its app (the load generator) waits for istio-proxy
/// (`holdApplicationUntilProxyStarts`, read per pod from the `proxy.istio.io/config`
/// annotation from Istio 1.8: injection-template.yaml@1.8.0 L2) unless the variant's client
/// pod races its sidecar; a native sidecar is asked for with `sidecar.istio.io/nativeSidecar`
/// (injection-template.yaml@1.24.0 L27).
/// The variant's `topology.proxy_metadata` joins the same annotation.
fn client_pod_annotations(topology: &mesh5xx_scenario::Topology) -> Value {
    let mut a = serde_json::Map::new();
    let mut proxy_config = String::new();
    if topology
        .client_pod
        .as_ref()
        .is_none_or(|c| c.hold_application_until_proxy_starts)
    {
        proxy_config.push_str("holdApplicationUntilProxyStarts: true\n");
    }
    let metadata = proxy_metadata(topology);
    if !metadata.is_empty() {
        proxy_config.push_str(&format!("proxyMetadata:\n{metadata}"));
    }
    if !proxy_config.is_empty() {
        a.insert("proxy.istio.io/config".into(), json!(proxy_config));
    }
    if topology
        .client_pod
        .as_ref()
        .is_some_and(|c| c.native_sidecar)
    {
        a.insert("sidecar.istio.io/nativeSidecar".into(), json!("true"));
    }
    Value::Object(a)
}

fn job(r: &Render<'_>, egress_cfg: Option<&EgressConfig>) -> Value {
    let (target, host, sidecar) = match egress_cfg {
        // Outbound: the app resolves the external name (CoreDNS → egress DNS) and connects to
        // the answer; its own sidecar is where the failure happens.
        Some(cfg) => {
            let name = cfg
                .zones
                .first()
                .map(|z| mesh5xx_egress::config::normalize_name(&z.name))
                .unwrap_or_else(|| r.scenario.service.host.clone());
            (format!("{name}:{}", r.scenario.service.port), name, true)
        }
        None => {
            let fqdn = format!(
                "{}.{}.svc.cluster.local",
                service_name(r.scenario),
                r.namespace
            );
            (
                format!("{fqdn}:{}", r.scenario.service.port),
                fqdn,
                r.variant.topology.client_sidecar,
            )
        }
    };
    let annotations = if sidecar {
        client_pod_annotations(&r.variant.topology)
    } else {
        // No client sidecar: the load generator talks to the server sidecar directly.
        json!({"sidecar.istio.io/inject": "false"})
    };
    let port = r.scenario.service.port;
    let resolve = egress_cfg.map(|_| (host.as_str(), port));
    let secs = r.duration_ms.div_ceil(1000);
    let mut containers = vec![json!({
        "name": "loadgen",
        "image": r.opts.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", job_script(), "mesh5xx"],
        "args": loadgen_command(r, &target, &host, resolve),
        "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "volumeMounts": [{"name": "results", "mountPath": RESULTS_DIR}],
    })];
    if let (Some(o), Some(_)) = (&r.variant.topology.other_app, egress_cfg) {
        containers.push(other_app_container(r, o, &host));
    }
    let mut job_labels = labels(r, "loadgen", &[(STAGE_LABEL, "load")]);
    job_labels["app"] = json!("loadgen");
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "loadgen", "namespace": r.namespace, "labels": job_labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": secs + 300,
            "template": {
                "metadata": {"labels": labels(r, "loadgen", &[("app", "loadgen")]), "annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 5,
                    "containers": containers,
                    "volumes": [{"name": "results", "emptyDir": {}}],
                },
            },
        },
    })
}
