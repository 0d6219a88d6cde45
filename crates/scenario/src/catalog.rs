//! Loading scenario files: parsing, merging variant settings over the defaults, checking.

use std::path::{Path, PathBuf};

use mesh5xx_upstream::AppFaults;
use serde::Deserialize;
use yaml_serde::{Mapping, Value};

use mesh5xx_diagnose::{Fix, Signature};

use crate::expect::Expectation;
use crate::istio::IstioObjects;
use crate::model::{Direction, LoadSettings, Scenario, Service, Strategy, Topology, Variant};
use crate::{PortProtocol, ScenarioError};

/// The scenario files of one directory, sorted by name.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub dir: PathBuf,
    pub scenarios: Vec<Scenario>,
}

impl Catalog {
    /// Load every `*.yaml` file of `dir`; the first bad file is an error naming it.
    pub fn load(dir: &Path) -> Result<Self, ScenarioError> {
        let entries = std::fs::read_dir(dir).map_err(|e| ScenarioError::Catalog {
            path: dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        let scenarios = paths
            .iter()
            .map(|p| load_file(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Catalog {
            dir: dir.to_path_buf(),
            scenarios,
        })
    }

    /// A catalog of the one scenario file at `path` (a user's own scenario), checked as a
    /// catalog's files are.
    pub fn single(path: &Path) -> Result<Self, ScenarioError> {
        let scenario = load_file(path)?;
        Ok(Catalog {
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            scenarios: vec![scenario],
        })
    }

    /// The scenario called `name`.
    pub fn get(&self, name: &str) -> Result<&Scenario, ScenarioError> {
        self.scenarios
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ScenarioError::UnknownScenario {
                name: name.to_string(),
                known: self.names().join(", "),
            })
    }

    /// All scenario names.
    pub fn names(&self) -> Vec<String> {
        self.scenarios.iter().map(|s| s.name.clone()).collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    name: String,
    title: String,
    direction: Direction,
    symptom: String,
    mechanism: String,
    #[serde(default)]
    production: std::collections::BTreeMap<String, Value>,
    #[serde(default)]
    lab: std::collections::BTreeMap<String, Value>,
    profile: String,
    service: Service,
    #[serde(default)]
    signature: Option<Signature>,
    #[serde(default)]
    unlogged: Option<String>,
    #[serde(default)]
    unmatched: Option<String>,
    fixes: Vec<Fix>,
    #[serde(default)]
    defaults: Defaults,
    variants: Vec<VariantFile>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Defaults {
    #[serde(default)]
    duration_ms: Option<u64>,
    #[serde(default)]
    topology: Mapping,
    #[serde(default)]
    app: Mapping,
    #[serde(default)]
    load: Mapping,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    name: String,
    description: String,
    #[serde(default)]
    cost: Option<String>,
    #[serde(default)]
    duration_ms: Option<u64>,
    #[serde(default)]
    topology: Mapping,
    #[serde(default)]
    app: Mapping,
    #[serde(default)]
    app_per_replica: Vec<Mapping>,
    #[serde(default)]
    load: Mapping,
    #[serde(default)]
    istio: Vec<Value>,
    expect: Expectation,
    /// What differs under some Istio profiles, by profile name.
    #[serde(default)]
    profiles: std::collections::BTreeMap<String, ProfileOverrideFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileOverrideFile {
    #[serde(default)]
    istio: Option<Vec<Value>>,
    #[serde(default)]
    expect: Option<Expectation>,
    #[serde(default)]
    note: Option<String>,
}

/// Parse and check one scenario file.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parse and check scenario text; `path` is used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let file: ScenarioFile = yaml_serde::from_str(text).map_err(|e| ScenarioError::Syntax {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if file.name != stem {
        return Err(ScenarioError::invalid(
            path,
            "name",
            format!(
                "{:?} differs from the file name {stem:?}; they must match",
                file.name
            ),
        ));
    }
    crate::profile::by_name(&file.profile)
        .map_err(|e| ScenarioError::invalid(path, "profile", e.to_string()))?;
    if file.variants.first().map(|v| v.name.as_str()) != Some("baseline") {
        return Err(ScenarioError::invalid(
            path,
            "variants[0].name",
            "the first variant must be `baseline`",
        ));
    }
    let mut variants = Vec::new();
    for (i, v) in file.variants.into_iter().enumerate() {
        let at = |f: &str| format!("variants[{i}] ({}).{f}", v.name);
        if variants.iter().any(|w: &Variant| w.name == v.name) {
            return Err(ScenarioError::invalid(
                path,
                at("name"),
                format!("variant {:?} appears twice", v.name),
            ));
        }
        let topology: Topology = merged(&file.defaults.topology, &v.topology)
            .map_err(|e| ScenarioError::invalid(path, at("topology"), e))?;
        let protocol = topology
            .service_port
            .protocol(file.service.port)
            .map_err(|e| ScenarioError::invalid(path, at("topology.service_port"), e))?;
        if topology.mtls.is_some() && !matches!(protocol, PortProtocol::Http | PortProtocol::Http2)
        {
            return Err(ScenarioError::invalid(
                path,
                at("topology.service_port"),
                format!(
                    "{:?} is a TCP or sniffed port; the lab renders mTLS (`topology.mtls`) on HTTP ports only",
                    topology.service_port.name
                ),
            ));
        }
        if topology.replicas == 0 || topology.replicas > 8 {
            return Err(ScenarioError::invalid(
                path,
                at("topology.replicas"),
                format!("{} is not between 1 and 8", topology.replicas),
            ));
        }
        if file.direction == Direction::Outbound
            && (topology.external.is_none() || !topology.client_sidecar)
        {
            return Err(ScenarioError::invalid(
                path,
                at("topology"),
                "an outbound scenario needs `external` and `client_sidecar: true`",
            ));
        }
        if let Some(ext) = &topology.external {
            ext.faults.validate().map_err(|e| {
                ScenarioError::invalid(
                    path,
                    at(&format!("topology.external.faults.{}", e.field)),
                    e.message,
                )
            })?;
            if ext.addresses.is_empty() || ext.all_addresses().iter().any(|a| a.octets()[0] != 127)
            {
                return Err(ScenarioError::invalid(
                    path,
                    at("topology.external.addresses"),
                    "list one or more 127.x.y.z addresses (traffic stays on loopback)",
                ));
            }
        }
        let changes: Vec<&str> = [
            ("topology.terminate", topology.terminate.is_some()),
            ("topology.rollout", topology.rollout.is_some()),
            ("topology.scale", topology.scale.is_some()),
            ("topology.crash", topology.crash.is_some()),
            ("topology.node_lost", topology.node_lost.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, set)| set.then_some(field))
        .collect();
        if let [first, second, ..] = changes[..] {
            return Err(ScenarioError::invalid(
                path,
                at(second),
                format!("one change of the pods per variant: {first} is set too"),
            ));
        }
        if let Some(&field) = changes.first() {
            if !topology.control_plane || !topology.client_sidecar {
                return Err(ScenarioError::invalid(
                    path,
                    at(field),
                    "pods that change need `control_plane: true` and `client_sidecar: true` (the callers learn of them by EDS)",
                ));
            }
        }
        if let Some(c) = &topology.config_change {
            let at_change = |f: &str| at(&format!("topology.config_change{f}"));
            if !topology.control_plane || topology.external.is_some() {
                return Err(ScenarioError::invalid(
                    path,
                    at_change(""),
                    "a configuration change needs `control_plane: true` (it pushes the change) and server pods (no `external`)",
                ));
            }
            if topology.pods_change() {
                return Err(ScenarioError::invalid(
                    path,
                    at_change(""),
                    "one change per variant: the pods change too (topology.terminate, rollout, scale, crash or node_lost)",
                ));
            }
            let objects = IstioObjects::parse(&c.istio)
                .map_err(|(f, r)| ScenarioError::invalid(path, at_change(&format!(".{f}")), r))?;
            if objects.objects.is_empty()
                || objects
                    .objects
                    .iter()
                    .any(|o| !matches!(o, crate::istio::IstioObject::AuthorizationPolicy(..)))
            {
                return Err(ScenarioError::invalid(
                    path,
                    at_change(".istio"),
                    "list the AuthorizationPolicies applied while the load runs (the kind the lab applies then: it changes the server pods' inbound listener)",
                ));
            }
        }
        if topology.client_pod.is_some() && (!topology.control_plane || !topology.client_sidecar) {
            return Err(ScenarioError::invalid(
                path,
                at("topology.client_pod"),
                "a client pod that starts with the load needs `control_plane: true` and `client_sidecar: true` (its sidecar's configuration comes from the control plane)",
            ));
        }
        if topology
            .client_pod
            .as_ref()
            .is_some_and(|c| c.config_delay_ms.is_none() && c.terminate_at_ms.is_none())
        {
            return Err(ScenarioError::invalid(
                path,
                at("topology.client_pod"),
                "say what the client pod does while the load runs: config_delay_ms (it starts with the load) or terminate_at_ms (it terminates)",
            ));
        }
        if topology.client_pod.is_some() && topology.external.is_some() {
            return Err(ScenarioError::invalid(
                path,
                at("topology.client_pod"),
                "a client pod that starts with the load calls an in-mesh service: remove `external`",
            ));
        }
        let changed_pods = [
            (
                "topology.terminate.pod",
                topology.terminate.as_ref().map(|t| t.pod),
            ),
            (
                "topology.node_lost.pod",
                topology.node_lost.as_ref().map(|n| n.pod),
            ),
            ("topology.crash.pod", topology.crash.as_ref().map(|c| c.pod)),
        ];
        for (field, pod) in changed_pods {
            let Some(pod) = pod else { continue };
            if pod >= topology.replicas {
                return Err(ScenarioError::invalid(
                    path,
                    at(field),
                    format!("{pod} is not a replica (0 to {})", topology.replicas - 1),
                ));
            }
        }
        if let Some(sc) = &topology.scale {
            if sc.replicas == topology.replicas {
                return Err(ScenarioError::invalid(
                    path,
                    at("topology.scale.replicas"),
                    format!(
                        "{} is the replicas the variant starts with: scale to more or fewer",
                        sc.replicas
                    ),
                ));
            }
        }
        if let Some(c) = &topology.crash {
            if c.times == 0 {
                return Err(ScenarioError::invalid(
                    path,
                    at("topology.crash.times"),
                    "0 kills: give 1 or more, or leave topology.crash out",
                ));
            }
            if c.times > 1 && c.again_after_ms.is_none() {
                return Err(ScenarioError::invalid(
                    path,
                    at("topology.crash.again_after_ms"),
                    format!(
                        "{} kills need again_after_ms: how long a restarted app listens before the next kill",
                        c.times
                    ),
                ));
            }
        }
        for (field, ms) in [
            ("probe_period_ms", topology.pod.probe_period_ms),
            ("crash_backoff_ms", topology.pod.crash_backoff_ms),
            ("relist_ms", topology.pod.relist_ms),
        ] {
            if ms == 0 {
                return Err(ScenarioError::invalid(
                    path,
                    at(&format!("topology.pod.{field}")),
                    "0 is not a positive number of milliseconds",
                ));
            }
        }
        if !topology.pod.readiness_probe && topology.scale.is_none() && topology.crash.is_none() {
            return Err(ScenarioError::invalid(
                path,
                at("topology.pod.readiness_probe"),
                "only the pods a scale creates and the app containers a crash restarts while the load runs start without an app readiness probe: add topology.scale or topology.crash",
            ));
        }
        if let Some(r) = &topology.rollout {
            if r.strategy == Strategy::RollingUpdate && r.max_surge == 0 && r.max_unavailable == 0 {
                return Err(ScenarioError::invalid(
                    path,
                    at("topology.rollout"),
                    "max_surge and max_unavailable are both 0: the rollout could never replace a pod (Kubernetes refuses it too)",
                ));
            }
        }
        if topology.pod.grace_period_ms == 0 {
            return Err(ScenarioError::invalid(
                path,
                at("topology.pod.grace_period_ms"),
                "0: a pod needs a grace period (Kubernetes' default is 30000)",
            ));
        }
        if topology.replicas > 1 && !topology.client_sidecar {
            return Err(ScenarioError::invalid(path, at("topology"), "several replicas need `client_sidecar: true` (the client's sidecar balances between them)"));
        }
        let app = app_with(&AppFaults::new(), &file.defaults.app)
            .and_then(|defaults| app_with(&defaults, &v.app))
            .map_err(|e| ScenarioError::invalid(path, at("app"), e))?;
        for (r, over) in v.app_per_replica.iter().enumerate() {
            app_with(&app, over).map_err(|e| {
                ScenarioError::invalid(path, at(&format!("app_per_replica[{r}]")), e)
            })?;
        }
        let app_per_replica = v.app_per_replica.clone();
        let load: LoadSettings = merged(&file.defaults.load, &v.load)
            .map_err(|e| ScenarioError::invalid(path, at("load"), e))?;
        let istio = IstioObjects::parse(&v.istio)
            .map_err(|(f, r)| ScenarioError::invalid(path, at(&f), r))?;
        if istio.sets_tls() && topology.mtls.is_none() {
            return Err(ScenarioError::invalid(
                path,
                at("istio"),
                "a PeerAuthentication or a DestinationRule `tls` needs workload certificates: set `topology.mtls`",
            ));
        }
        v.expect
            .validate()
            .map_err(|(f, why)| ScenarioError::invalid(path, at(&format!("expect.{f}")), why))?;
        let mut by_profile = std::collections::BTreeMap::new();
        // A key names one profile or several, separated by spaces (`istio-1.2 istio-1.4`).
        for (key, o) in &v.profiles {
            let at = |f: &str| at(&format!("profiles.{key}{f}"));
            let istio = o
                .istio
                .as_ref()
                .map(|objects| IstioObjects::parse(objects))
                .transpose()
                .map_err(|(f, r)| ScenarioError::invalid(path, at(&format!(".{f}")), r))?;
            if let Some(e) = &o.expect {
                e.validate().map_err(|(f, why)| {
                    ScenarioError::invalid(path, at(&format!(".expect.{f}")), why)
                })?;
            }
            for name in key.split_whitespace() {
                crate::profile::by_name(name)
                    .map_err(|e| ScenarioError::invalid(path, at(""), e.to_string()))?;
                let o = crate::model::ProfileOverride {
                    istio: istio.clone(),
                    expect: o.expect.clone(),
                    note: o.note.clone(),
                };
                if by_profile.insert(name.to_string(), o).is_some() {
                    return Err(ScenarioError::invalid(
                        path,
                        at(""),
                        format!("profile {name} is named by two keys"),
                    ));
                }
            }
        }
        let duration_ms = v.duration_ms.or(file.defaults.duration_ms).unwrap_or(5000);
        if !(500..=600_000).contains(&duration_ms) {
            return Err(ScenarioError::invalid(
                path,
                at("duration_ms"),
                format!("{duration_ms} is not between 500 and 600000"),
            ));
        }
        variants.push(Variant {
            name: v.name,
            description: v.description,
            cost: v.cost,
            duration_ms,
            topology,
            app,
            app_per_replica,
            load,
            istio,
            expect: v.expect,
            by_profile,
        });
    }
    let texts = [("unlogged", &file.unlogged), ("unmatched", &file.unmatched)];
    if let Some((field, _)) = texts
        .iter()
        .find(|(_, t)| t.as_ref().is_some_and(|t| t.trim().is_empty()))
    {
        return Err(ScenarioError::invalid(
            path,
            *field,
            "empty: say what the errors look like",
        ));
    }
    match (&file.signature, &file.unlogged, &file.unmatched) {
        (Some(sig), None, None) => sig.validate().map_err(|(field, why)| {
            ScenarioError::invalid(path, format!("signature.{field}"), why)
        })?,
        (None, Some(_), None) | (None, None, Some(_)) => {}
        (Some(_), Some(_), _) => {
            return Err(ScenarioError::invalid(
                path,
                "unlogged",
                "a scenario with a signature has its errors in the log: remove `unlogged`",
            ))
        }
        (Some(_), _, Some(_)) => {
            return Err(ScenarioError::invalid(
                path,
                "unmatched",
                "a scenario with a signature is matched by it: remove `unmatched`",
            ))
        }
        (None, Some(_), Some(_)) => {
            return Err(ScenarioError::invalid(
                path,
                "unmatched",
                "errors never logged cannot be logged unmatched: keep one of `unlogged` and `unmatched`",
            ))
        }
        (None, None, None) => {
            return Err(ScenarioError::invalid(
                path,
                "signature",
                "missing: what the errors look like in istio-proxy's access log (or, for errors that never reach it, `unlogged:` saying what the app sees; for lines without a response flag, `unmatched:` describing them)",
            ))
        }
    }
    if file.fixes.is_empty() {
        return Err(ScenarioError::invalid(
            path,
            "fixes",
            "list at least one fix (`fix:` text, and the `variant:` that measures it)",
        ));
    }
    for (i, f) in file.fixes.iter().enumerate() {
        if let Some(name) = &f.variant {
            if !variants.iter().any(|v| &v.name == name) {
                return Err(ScenarioError::invalid(
                    path,
                    format!("fixes[{i}].variant"),
                    format!(
                        "{name:?} is not a variant of this scenario (known: {})",
                        variants
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    Ok(Scenario {
        path: path.to_path_buf(),
        name: file.name,
        title: file.title,
        direction: file.direction,
        symptom: file.symptom,
        mechanism: file.mechanism,
        production: file.production,
        lab: file.lab,
        profile: file.profile,
        service: file.service,
        signature: file.signature,
        unlogged: file.unlogged,
        unmatched: file.unmatched,
        fixes: file.fixes,
        variants,
    })
}

/// Deserialize `over` merged on top of `base`.
fn merged<T: serde::de::DeserializeOwned>(base: &Mapping, over: &Mapping) -> Result<T, String> {
    let mut v = Value::Mapping(base.clone());
    merge(&mut v, &Value::Mapping(over.clone()));
    yaml_serde::from_value(v).map_err(|e| e.to_string())
}

/// The faults `base` with the overrides `over` merged in (a fault set to `null` is removed),
/// parsed and checked; the error names the fault and the field.
pub(crate) fn app_with(base: &AppFaults, over: &Mapping) -> Result<AppFaults, String> {
    let mut v = yaml_serde::to_value(base).expect("faults serialize");
    if v.is_null() {
        v = Value::Mapping(Mapping::new());
    }
    merge(&mut v, &Value::Mapping(over.clone()));
    let faults: AppFaults = yaml_serde::from_value(v).map_err(|e| e.to_string())?;
    faults.validate().map_err(|e| e.to_string())?;
    Ok(faults)
}

/// Merge `over` into `base` key by key; a `null` in `over` removes the key.
pub(crate) fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    b.remove(k);
                } else if let Some(slot) = b.get_mut(k) {
                    merge(slot, v);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesh5xx_upstream::faults::{CloseMode, IdleClose, MaxRequests};

    const GOOD: &str = r#"
name: demo
title: Demo
direction: inbound
symptom: s
mechanism: m
profile: istio-1.4
service: {host: srv-a.default.svc.cluster.local, port: 80}
signature: {direction: inbound, codes: [503], flags: [UC]}
fixes:
  - {fix: unbounded keep-alive, variant: unbounded}
defaults:
  duration_ms: 2000
  app: {idle-close: {after_ms: 20}}
  load: {connections: 8, think_ms: 20}
variants:
  - name: baseline
    description: b
    expect: {min_requests: 10, min_error_rate: 0.01}
  - name: unbounded
    description: u
    app: {idle-close: null, max-requests: {count: 5}}
    topology: {client_sidecar: true}
    expect: {max_errors: 0}
"#;

    #[test]
    fn variants_merge_over_defaults() {
        let s = parse(Path::new("scenarios/demo.yaml"), GOOD).unwrap();
        let b = s.variant("baseline").unwrap();
        assert_eq!(b.app, AppFaults::new().with(IdleClose { after_ms: 20 }));
        assert!(!b.topology.client_sidecar);
        let u = s.variant("unbounded").unwrap();
        assert_eq!(
            u.app,
            AppFaults::new().with(MaxRequests {
                count: 5,
                mode: CloseMode::Graceful
            })
        );
        assert_eq!(u.load.connections, Some(8));
        assert!(u.topology.client_sidecar);
        assert_eq!(u.duration_ms, 2000);
    }

    #[test]
    fn errors_name_file_and_field() {
        let p = Path::new("scenarios/demo.yaml");
        for (typo, names) in [
            ("idle-close: {after_ms: 20}", "idle-close: {after_ms: 0}"),
            ("idle-close: {after_ms: 20}", "idle-close: {aftr_ms: 20}"),
            ("idle-close: {after_ms: 20}", "idle-timeout: {after_ms: 20}"),
        ]
        .map(|(from, to)| (GOOD.replace(from, to), to))
        {
            let e = parse(p, &typo).unwrap_err().to_string();
            assert!(
                e.contains("scenarios/demo.yaml") && e.contains("variants[0] (baseline).app"),
                "{names}: {e}"
            );
        }
        let e = parse(p, &GOOD.replace("{after_ms: 20}", "{after_ms: 0}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("idle-close.after_ms: 0 is not a positive number"),
            "{e}"
        );
        let e = parse(p, &GOOD.replace("idle-close: {", "idle-timeout: {"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown fault `idle-timeout`"), "{e}");
        let e = parse(
            p,
            &GOOD.replace(
                "max-requests: {count: 5}",
                "max-requests: {count: 5, mode: rude}",
            ),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("variants[1] (unbounded).app") && e.contains("rude"),
            "{e}"
        );
        let e = parse(p, &GOOD.replace("istio-1.4", "istio-9"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("field `profile`"), "{e}");
        let e = parse(Path::new("scenarios/other.yaml"), GOOD)
            .unwrap_err()
            .to_string();
        assert!(e.contains("field `name`"), "{e}");
        let e = parse(p, &GOOD.replace("name: unbounded", "name: baseline"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("appears twice"), "{e}");
        let e = parse(p, "name: [").unwrap_err().to_string();
        assert!(e.starts_with("scenarios/demo.yaml: "), "{e}");
    }

    /// A `profiles` key names one profile or several; each gets the override once.
    #[test]
    fn profile_overrides_name_one_profile_or_several() {
        let p = Path::new("scenarios/demo.yaml");
        let with = |profiles: &str| {
            GOOD.replace(
                "    expect: {max_errors: 0}\n",
                &format!("    expect: {{max_errors: 0}}\n    profiles:\n{profiles}"),
            )
        };
        let s = parse(
            p,
            &with("      istio-1.2 istio-1.4: {note: old, expect: {min_error_rate: 0.01}}\n      istio-1.24: {note: new}\n"),
        )
        .unwrap();
        let u = s.variant("unbounded").unwrap();
        for (name, note) in [
            ("istio-1.2", "old"),
            ("istio-1.4", "old"),
            ("istio-1.24", "new"),
        ] {
            assert_eq!(u.by_profile[name].note.as_deref(), Some(note), "{name}");
        }
        assert!(!u.by_profile.contains_key("istio-1.13"));
        let e = parse(
            p,
            &with("      istio-1.2 istio-1.4: {note: a}\n      istio-1.4: {note: b}\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("profiles.istio-1.4")
                && e.contains("profile istio-1.4 is named by two keys"),
            "{e}"
        );
        let e = parse(p, &with("      istio-1.2 istio-1.5: {note: a}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("profiles.istio-1.2 istio-1.5") && e.contains("\"istio-1.5\""),
            "{e}"
        );
    }

    /// Istio's TLS settings need the lab's workload certificates; sidecars with them may be
    /// configured from files or by the control plane.
    #[test]
    fn tls_settings_need_workload_certificates_from_files_or_the_control_plane() {
        let p = Path::new("scenarios/demo.yaml");
        let with = |topology: &str| {
            GOOD.replace("profile: istio-1.4", "profile: istio-1.24").replace(
                "    topology: {client_sidecar: true}\n",
                &format!("    topology: {topology}\n    istio: [{{apiVersion: security.istio.io/v1beta1, kind: PeerAuthentication, metadata: {{name: default}}, spec: {{mtls: {{mode: STRICT}}}}}}]\n"),
            )
        };
        let e = parse(p, &with("{client_sidecar: true}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("set `topology.mtls`"), "{e}");
        for topology in [
            "{client_sidecar: true, mtls: {}}",
            "{client_sidecar: true, control_plane: true, mtls: {}}",
        ] {
            let s = parse(p, &with(topology)).unwrap_or_else(|e| panic!("{topology}: {e}"));
            assert!(s.variant("unbounded").unwrap().topology.mtls.is_some());
        }
    }

    /// Pods that change need the control plane; a terminating pod must be a replica; a
    /// rollout must be able to replace a pod; a scale must change the replicas; a crash needs
    /// a replica, a number of kills and the time between them; pods without an app readiness
    /// probe must be ones a scale creates or a crash restarts.
    #[test]
    fn pod_changes_are_checked() {
        let p = Path::new("scenarios/demo.yaml");
        let with = |topology: &str| {
            GOOD.replace(
                "    topology: {client_sidecar: true}\n",
                &format!("    topology: {topology}\n"),
            )
        };
        let cp = "client_sidecar: true, control_plane: true, replicas: 2";
        let ok = parse(
            p,
            &with(&format!("{{{cp}, terminate: {{pod: 1, at_ms: 100}}}}")),
        )
        .unwrap();
        let v = ok.variant("unbounded").unwrap();
        assert_eq!(v.topology.terminate.as_ref().unwrap().pod, 1);
        assert_eq!(v.topology.pod, crate::model::PodLifecycle::default());
        assert_eq!(
            (
                v.topology.pod.endpoint_delay_ms,
                v.topology.pod.termination_drain_ms,
                v.topology.pod.grace_period_ms
            ),
            (1000, 5000, 30_000)
        );
        let ok = parse(
            p,
            &with(&format!(
                "{{{cp}, rollout: {{at_ms: 100, strategy: recreate}}}}"
            )),
        )
        .unwrap();
        let r = ok
            .variant("unbounded")
            .unwrap()
            .topology
            .rollout
            .clone()
            .unwrap();
        assert_eq!(
            (r.strategy, r.max_surge, r.max_unavailable),
            (Strategy::Recreate, 1, 0)
        );
        let ok = parse(
            p,
            &with(&format!(
                "{{{cp}, crash: {{pod: 1, at_ms: 100, times: 2, again_after_ms: 500}}, pod: {{readiness_probe: false}}}}"
            )),
        )
        .unwrap();
        let c = ok
            .variant("unbounded")
            .unwrap()
            .topology
            .crash
            .clone()
            .unwrap();
        assert_eq!(
            (c.pod, c.at_ms, c.times, c.again_after_ms),
            (1, 100, 2, Some(500))
        );
        let bad = [
            (
                "{client_sidecar: true, terminate: {at_ms: 100}}".to_string(),
                "topology.terminate",
                "control_plane: true",
            ),
            (
                "{client_sidecar: true, control_plane: true, terminate: {pod: 1, at_ms: 100}}"
                    .to_string(),
                "topology.terminate.pod",
                "1 is not a replica (0 to 0)",
            ),
            (
                format!("{{{cp}, pod: {{grace_period_ms: 0}}}}"),
                "topology.pod.grace_period_ms",
                "grace period",
            ),
            (
                format!("{{{cp}, rollout: {{at_ms: 1, max_surge: 0}}}}"),
                "topology.rollout",
                "both 0",
            ),
            (
                format!("{{{cp}, terminate: {{at_ms: 1}}, rollout: {{at_ms: 1}}}}"),
                "topology.rollout",
                "one change of the pods per variant",
            ),
            (
                format!("{{{cp}, rollout: {{at_ms: 1}}, scale: {{at_ms: 1, replicas: 3}}}}"),
                "topology.scale",
                "topology.rollout is set too",
            ),
            (
                format!("{{{cp}, scale: {{at_ms: 1, replicas: 2}}}}"),
                "topology.scale.replicas",
                "2 is the replicas the variant starts with",
            ),
            (
                "{client_sidecar: true, scale: {at_ms: 1, replicas: 3}}".to_string(),
                "topology.scale",
                "control_plane: true",
            ),
            (
                format!("{{{cp}, pod: {{readiness_probe: false}}}}"),
                "topology.pod.readiness_probe",
                "add topology.scale",
            ),
            (
                format!("{{{cp}, crash: {{pod: 2, at_ms: 1}}}}"),
                "topology.crash.pod",
                "2 is not a replica (0 to 1)",
            ),
            (
                format!("{{{cp}, node_lost: {{pod: 2, at_ms: 1, not_ready_after_ms: 1}}}}"),
                "topology.node_lost.pod",
                "2 is not a replica (0 to 1)",
            ),
            (
                format!("{{{cp}, node_lost: {{at_ms: 1, not_ready_after_ms: 1}}, terminate: {{at_ms: 1}}}}"),
                "topology.node_lost",
                "topology.terminate is set too",
            ),
            (
                "{client_sidecar: true, node_lost: {at_ms: 1, not_ready_after_ms: 1}}".to_string(),
                "topology.node_lost",
                "control_plane: true",
            ),
            (
                format!("{{{cp}, crash: {{at_ms: 1, times: 0}}}}"),
                "topology.crash.times",
                "0 kills",
            ),
            (
                format!("{{{cp}, crash: {{at_ms: 1, times: 3}}}}"),
                "topology.crash.again_after_ms",
                "3 kills need again_after_ms",
            ),
            (
                format!("{{{cp}, crash: {{at_ms: 1}}, scale: {{at_ms: 1, replicas: 3}}}}"),
                "topology.crash",
                "topology.scale is set too",
            ),
            (
                format!("{{{cp}, crash: {{at_ms: 1}}, pod: {{probe_period_ms: 0}}}}"),
                "topology.pod.probe_period_ms",
                "0 is not a positive",
            ),
            (
                "{client_sidecar: true, config_change: {at_ms: 1, istio: []}}".to_string(),
                "topology.config_change",
                "control_plane: true",
            ),
            (
                format!("{{{cp}, config_change: {{at_ms: 1, istio: []}}}}"),
                "topology.config_change.istio",
                "AuthorizationPolicies",
            ),
            (
                format!("{{{cp}, config_change: {{at_ms: 1, istio: [{{apiVersion: security.istio.io/v1, kind: AuthorizationPolicy, metadata: {{name: a}}, spec: {{action: MAYBE}}}}]}}}}"),
                "topology.config_change.istio[0].spec",
                "MAYBE",
            ),
            (
                "{client_sidecar: true, client_pod: {config_delay_ms: 1}}".to_string(),
                "topology.client_pod",
                "control_plane: true",
            ),
            (
                format!("{{{cp}, client_pod: {{}}}}"),
                "topology.client_pod",
                "config_delay_ms",
            ),
            (
                format!("{{{cp}, client_pod: {{native_sidecar: true}}}}"),
                "topology.client_pod",
                "terminate_at_ms",
            ),
            (
                format!("{{{cp}, client_pod: {{config_delay_ms: 1, hold: true}}}}"),
                "topology",
                "unknown field `hold`",
            ),
        ];
        for (topology, field, why) in bad {
            let e = parse(p, &with(&topology)).unwrap_err().to_string();
            assert!(e.contains(field) && e.contains(why), "{topology}: {e}");
        }
    }

    #[test]
    fn a_client_pod_that_waits_for_its_sidecar_needs_the_istio_that_injected_it() {
        let p = Path::new("scenarios/demo.yaml");
        let cp = "client_sidecar: true, control_plane: true";
        let with = |pod: &str| {
            let topology =
                format!("    topology: {{{cp}, client_pod: {{config_delay_ms: 2000{pod}}}}}\n");
            parse(
                p,
                &GOOD.replace("    topology: {client_sidecar: true}\n", &topology),
            )
            .unwrap()
        };
        let needs = |s: &Scenario, profile: &str| {
            s.variant("unbounded")
                .unwrap()
                .needs(&crate::profile::by_name(profile).unwrap())
        };
        let race = with("");
        let c = race
            .variant("unbounded")
            .unwrap()
            .topology
            .client_pod
            .clone();
        assert_eq!(
            c.as_ref()
                .map(|c| (c.config_delay_ms, c.app_waits_for_sidecar())),
            Some((Some(2000), false))
        );
        assert_eq!(needs(&race, "istio-1.2"), None);
        let hold = with(", hold_application_until_proxy_starts: true");
        assert_eq!(
            needs(&hold, "istio-1.4").as_deref(),
            Some("Istio ≥ 1.7 (holdApplicationUntilProxyStarts)")
        );
        assert_eq!(needs(&hold, "istio-1.13"), None);
        let native = with(", native_sidecar: true");
        assert_eq!(
            needs(&native, "istio-1.13").as_deref(),
            Some("Istio ≥ 1.19 (native sidecar)")
        );
        assert_eq!(needs(&native, "istio-1.24"), None);
    }

    #[test]
    fn signature_and_fixes_are_checked() {
        let p = Path::new("scenarios/demo.yaml");
        let e = parse(p, &GOOD.replace("flags: [UC]", "flags: []"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("field `signature.flags`"), "{e}");
        let e = parse(p, &GOOD.replace("variant: unbounded}", "variant: unbound}"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("field `fixes[0].variant`") && e.contains("\"unbound\""),
            "{e}"
        );
        // Errors that never reach istio-proxy: no signature, but what the app sees instead.
        let sig = "signature: {direction: inbound, codes: [503], flags: [UC]}\n";
        let unlogged = GOOD.replace(sig, "unlogged: \"the app's connect() refused\"\n");
        let s = parse(p, &unlogged).unwrap();
        assert!(s.rule().is_none() && s.unlogged.as_deref() == Some("the app's connect() refused"));
        let e = parse(p, &GOOD.replace(sig, "")).unwrap_err().to_string();
        assert!(
            e.contains("field `signature`") && e.contains("unlogged"),
            "{e}"
        );
        let both = GOOD.replace(sig, &format!("{sig}unlogged: x\n"));
        let e = parse(p, &both).unwrap_err().to_string();
        assert!(e.contains("field `unlogged`"), "{e}");
        // Logged, but without a flag a signature could name: the line in words, no rule.
        let unmatched = GOOD.replace(sig, "unmatched: \"502 - direct_response\"\n");
        let s = parse(p, &unmatched).unwrap();
        assert!(s.rule().is_none() && s.unmatched.as_deref() == Some("502 - direct_response"));
        let both = GOOD.replace(sig, &format!("{sig}unmatched: x\n"));
        let e = parse(p, &both).unwrap_err().to_string();
        assert!(e.contains("field `unmatched`"), "{e}");
        let rule = parse(p, GOOD).unwrap().rule().unwrap();
        assert_eq!(
            rule.fixes[0].measured_by.as_deref(),
            Some("mesh5xx run demo --variant unbounded")
        );
    }
}
