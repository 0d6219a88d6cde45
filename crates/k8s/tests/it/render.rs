//! Every scenario × variant renders; Istio objects are the scenario's own; Job, replicas, errors.

use std::path::PathBuf;

use mesh5xx_k8s::{render, render_text, RenderOptions};
use mesh5xx_scenario::{Catalog, Scenario, Variant};
use mesh5xx_upstream::{AppFault, FaultKind};
use yaml_serde::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalog() -> Catalog {
    Catalog::load(&root().join("scenarios")).expect("the scenario files load")
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or_default()
}

fn of_kind<'a>(docs: &'a [Value], k: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == k).collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn job_args(docs: &[Value]) -> Vec<String> {
    let jobs = of_kind(docs, "Job");
    assert_eq!(jobs.len(), 1);
    strings(&jobs[0]["spec"]["template"]["spec"]["containers"][0]["args"])
}

fn find<'a>(c: &'a Catalog, scenario: &str, variant: &str) -> (&'a Scenario, &'a Variant) {
    let s = c.get(scenario).unwrap();
    (s, s.variant(variant).unwrap())
}

#[test]
fn every_scenario_and_variant_renders() {
    let c = catalog();
    assert!(!c.scenarios.is_empty());
    for s in &c.scenarios {
        for v in &s.variants {
            let docs = render(s, v, &RenderOptions::default())
                .unwrap_or_else(|e| panic!("{} {}: {e:#}", s.name, v.name));
            for k in ["Namespace", "Job"] {
                assert!(
                    !of_kind(&docs, k).is_empty(),
                    "{} {}: no {k}",
                    s.name,
                    v.name
                );
            }
            assert!(!of_kind(&docs, "Deployment").is_empty());
            assert!(!of_kind(&docs, "Service").is_empty());
            let text = render_text(s, v, &RenderOptions::default()).unwrap();
            assert!(text.contains(&format!("# mesh5xx-istio-profile: {}\n", s.profile)));
            // The text parses back to the same documents.
            let back: Vec<Value> = text
                .split("\n---\n")
                .skip(1)
                .map(|d| yaml_serde::from_str(d).unwrap())
                .collect();
            assert_eq!(back, docs, "{} {}", s.name, v.name);
        }
    }
}

/// The header's variant list is what kind-run.sh runs: under a profile whose istiod did not
/// translate a variant's fields, that variant is named as not applicable instead.
#[test]
fn the_variant_header_lists_what_the_profile_runs() {
    let c = catalog();
    let (s, baseline) = find(&c, "inbound-keepalive-uc", "baseline");
    let header = |profile: &str, key: &str| -> Vec<String> {
        let opts = RenderOptions {
            profile: Some(profile.into()),
            ..RenderOptions::default()
        };
        let text = render_text(s, baseline, &opts).unwrap();
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("# mesh5xx-{key}: ")))
            .map(str::to_string)
            .collect()
    };
    let old = header("istio-1.4", "variants").join(" ");
    assert!(old.starts_with("baseline "), "{old}");
    assert!(!old.contains("dr-max-connection-duration"), "{old}");
    let na = header("istio-1.4", "not-applicable");
    assert_eq!(na.len(), 1, "{na:?}");
    assert!(
        na[0].starts_with(
            "dr-max-connection-duration: variant dr-max-connection-duration needs Istio ≥ 1.15"
        ),
        "{na:?}"
    );
    let new = header("istio-1.24", "variants").join(" ");
    assert_eq!(new, s.variant_names().join(" "));
    assert!(header("istio-1.24", "not-applicable").is_empty());
    assert_eq!(
        header("istio-1.24", "profiles"),
        vec!["istio-1.2 istio-1.4 istio-1.13 istio-1.24".to_string()]
    );
}

#[test]
fn istio_objects_are_the_scenario_files_own() {
    let c = catalog();
    let mut seen = 0;
    for s in &c.scenarios {
        for v in &s.variants {
            let docs = render(s, v, &RenderOptions::default()).unwrap();
            let istio: Vec<&Value> = docs
                .iter()
                .filter(|d| {
                    d["apiVersion"].as_str().is_some_and(|a| {
                        a.starts_with("networking.istio.io/") || a.starts_with("security.istio.io/")
                    })
                })
                .collect();
            assert_eq!(istio.len(), v.istio.raw.len(), "{} {}", s.name, v.name);
            for (got, want) in istio.iter().zip(&v.istio.raw) {
                assert_eq!(*got, want);
                // Byte for byte once serialized, too.
                assert_eq!(
                    yaml_serde::to_string(got).unwrap(),
                    yaml_serde::to_string(want).unwrap()
                );
                seen += 1;
            }
            // And they read back from the printed text unchanged.
            let text = render_text(s, v, &RenderOptions::default()).unwrap();
            for want in &v.istio.raw {
                assert!(text.contains(&yaml_serde::to_string(want).unwrap()));
            }
        }
    }
    assert!(seen > 0, "no scenario carries Istio objects");
}

#[test]
fn job_args_follow_client_sidecar() {
    let c = catalog();
    let (s, without) = find(&c, "inbound-keepalive-uc", "baseline");
    let (_, with) = find(&c, "inbound-keepalive-uc", "client-sidecar-default-retries");
    assert!(!without.topology.client_sidecar && with.topology.client_sidecar);
    for (v, sidecar) in [(without, false), (with, true)] {
        let docs = render(s, v, &RenderOptions::default()).unwrap();
        let job = of_kind(&docs, "Job")[0];
        assert_eq!(job["spec"]["backoffLimit"], Value::from(0));
        let ann = &job["spec"]["template"]["metadata"]["annotations"];
        assert_eq!(
            ann["sidecar.istio.io/inject"].as_str() == Some("false"),
            !sidecar,
            "{}",
            v.name
        );
        let args = job_args(&docs).join(" ");
        assert!(args.starts_with("loadgen --target srv-a.default.svc.cluster.local:80 --host srv-a.default.svc.cluster.local "), "{args}");
        assert!(args.contains("--out /results/loadgen.json"), "{args}");
        for want in [
            format!("--connections {} ", v.load.connections.unwrap()),
            format!("--rate {} --arrivals poisson", v.load.rate.unwrap()),
        ] {
            assert!(args.contains(&want), "{args}");
        }
        assert!(
            args.contains(&format!("--duration-ms {}", v.duration_ms)),
            "{args}"
        );
    }
    // --duration overrides the variant's.
    let opts = RenderOptions {
        duration_ms: Some(3000),
        ..Default::default()
    };
    let args = job_args(&render(s, without, &opts).unwrap()).join(" ");
    assert!(args.contains("--duration-ms 3000"), "{args}");
    // The namespace is labelled for injection.
    let docs = render(s, without, &RenderOptions::default()).unwrap();
    let ns = of_kind(&docs, "Namespace")[0];
    assert_eq!(
        ns["metadata"]["labels"]["istio-injection"],
        Value::from("enabled")
    );
}

#[test]
fn app_args_and_service_match_the_scenario() {
    let c = catalog();
    let (s, v) = find(&c, "inbound-keepalive-uc", "abrupt-max-requests");
    let docs = render(
        s,
        v,
        &RenderOptions {
            image: "x:1".into(),
            ..Default::default()
        },
    )
    .unwrap();
    let deps = of_kind(&docs, "Deployment");
    assert_eq!(deps.len(), 1);
    let c0 = &deps[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c0["image"], Value::from("x:1"));
    let args = strings(&c0["args"]).join(" ");
    assert!(
        args.starts_with("upstream --listen 0.0.0.0:8080 "),
        "{args}"
    );
    // The app's faults as the scenario file writes them, one --fault each.
    let Some(AppFault::MaxRequests(m)) = v.app.get(FaultKind::MaxRequests) else {
        panic!("the variant recycles after N requests: {:?}", v.app);
    };
    assert!(
        args.contains(&format!(
            "--fault max-requests:count={},mode=abrupt",
            m.count
        )),
        "{args}"
    );
    assert!(!args.contains("idle-close"), "{args}");
    let svc = of_kind(&docs, "Service")[0];
    assert_eq!(svc["metadata"]["name"], Value::from("srv-a"));
    assert_eq!(svc["metadata"]["namespace"], Value::from("default"));
    let port = &svc["spec"]["ports"][0];
    assert_eq!(
        (
            port["name"].as_str(),
            port["port"].as_u64(),
            port["targetPort"].as_u64()
        ),
        (Some("http"), Some(80), Some(8080))
    );
}

#[test]
fn replicas_split_by_distinct_settings() {
    let c = catalog();
    let (s, v) = find(
        &c,
        "inbound-app-down-uf",
        "client-default-retries-two-replicas",
    );
    assert_eq!(v.topology.replicas, 2);
    let docs = render(s, v, &RenderOptions::default()).unwrap();
    let deps = of_kind(&docs, "Deployment");
    assert_eq!(deps.len(), 2, "the crashing replica and the healthy one");
    let svc_sel = &of_kind(&docs, "Service")[0]["spec"]["selector"];
    let mut total = 0;
    let mut downs = Vec::new();
    for d in &deps {
        total += d["spec"]["replicas"].as_u64().unwrap();
        let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
        assert_eq!(
            pod_labels["app"], svc_sel["app"],
            "the Service selects every replica"
        );
        let args = strings(&d["spec"]["template"]["spec"]["containers"][0]["args"]).join(" ");
        // In a cluster the window counts from the app's first request.
        let down = args.contains("--fault down=");
        assert_eq!(
            down,
            args.contains(r#""after_first_request":true"#),
            "{args}"
        );
        downs.push(down);
    }
    assert_eq!(total, 2);
    assert_eq!(downs, vec![true, false]);
    let text = render_text(s, v, &RenderOptions::default()).unwrap();
    assert!(
        !text.contains("# Warning: `mesh5xx upstream --down"),
        "{text}"
    );
    assert!(text.contains("the `down` fault with `after_first_request: true`"));
    // One setting, one Deployment named after the Service.
    let (_, b) = find(&c, "inbound-app-down-uf", "baseline");
    let docs = render(s, b, &RenderOptions::default()).unwrap();
    let deps = of_kind(&docs, "Deployment");
    assert_eq!(deps.len(), 1);
    assert_eq!(deps[0]["metadata"]["name"], Value::from("srv-a"));
    assert_eq!(deps[0]["spec"]["replicas"], Value::from(1));
}

#[test]
fn bad_names_error_naming_them() {
    let c = catalog();
    let s = c.get("inbound-keepalive-uc").unwrap();
    let e = s.variant("no-such-variant").unwrap_err().to_string();
    assert!(e.contains("no-such-variant"), "{e}");
    let args = mesh5xx_k8s::RenderK8sArgs {
        scenario: s.name.clone(),
        variant: "no-such-variant".into(),
        image: "i".into(),
        namespace: None,
        profile: None,
        duration: None,
        egress_config: None,
    };
    let e = mesh5xx_k8s::main(args, &c).unwrap_err().to_string();
    assert!(e.contains("no-such-variant"), "{e}");
    let v = s.variant("baseline").unwrap();
    let e = render(
        s,
        v,
        &RenderOptions {
            profile: Some("istio-0.9".into()),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("istio-0.9"), "{e}");
    // Istio objects written for `default` cannot move to another namespace.
    let v = s.variant("dr-idle-timeout").unwrap();
    let e = render(
        s,
        v,
        &RenderOptions {
            namespace: Some("mesh5xx".into()),
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("dr-idle-timeout") && e.contains("\"default\""),
        "{e}"
    );
    // Without Istio objects it can, and the load generator follows.
    let v = s.variant("baseline").unwrap();
    let docs = render(
        s,
        v,
        &RenderOptions {
            namespace: Some("mesh5xx".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(job_args(&docs)
        .join(" ")
        .contains("--target srv-a.mesh5xx.svc.cluster.local:80"));
}

/// Pods that change while the load runs: the pod template carries the preStop sleep and the
/// grace period, the Deployment its strategy, the header what kind-run.sh does and when.
#[test]
fn pod_changes_render_as_pod_spec_deployment_strategy_and_a_header() {
    let c = catalog();
    let deployment = |scenario: &str, variant: &str| {
        let (s, v) = find(&c, scenario, variant);
        let docs = render(s, v, &RenderOptions::default()).unwrap();
        let text = render_text(s, v, &RenderOptions::default()).unwrap();
        (of_kind(&docs, "Deployment")[0].clone(), text)
    };
    let (d, text) = deployment("pod-shutdown", "pre-stop-sleep");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["terminationGracePeriodSeconds"].as_u64(), Some(30));
    assert_eq!(
        pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"].as_u64(),
        Some(2)
    );
    assert!(text.contains("\n# mesh5xx-terminate: 2000\n"), "{text}");
    let (d, _) = deployment("pod-shutdown", "baseline");
    assert!(d["spec"]["template"]["spec"]["containers"][0]["lifecycle"].is_null());

    let (d, text) = deployment("rolling-update-stale-endpoints", "baseline");
    assert_eq!(d["spec"]["strategy"]["type"].as_str(), Some("Recreate"));
    assert!(text.contains("\n# mesh5xx-rollout: 2000\n"), "{text}");
    let (d, _) = deployment("rolling-update-stale-endpoints", "rolling-update-min-ready");
    assert_eq!(
        d["spec"]["strategy"]["type"].as_str(),
        Some("RollingUpdate")
    );
    assert_eq!(
        d["spec"]["strategy"]["rollingUpdate"]["maxSurge"].as_u64(),
        Some(1)
    );
    assert_eq!(d["spec"]["minReadySeconds"].as_u64(), Some(2));
    // A scale: kind-run.sh's header, and an app without its readiness probe where the
    // variant has none.
    let (d, text) = deployment("scale-up-app-not-ready", "baseline");
    assert!(
        text.contains("\n# mesh5xx-scale: 2000\n# mesh5xx-scale-replicas: 3\n"),
        "{text}"
    );
    assert_eq!(d["spec"]["replicas"].as_u64(), Some(1));
    assert!(d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"].is_null());
    let (d, _) = deployment("scale-up-app-not-ready", "readiness-probe");
    assert!(d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"].is_mapping());
    // Without a change of the pods, the defaults of the cluster stay.
    let (d, text) = deployment("inbound-keepalive-uc", "baseline");
    assert!(d["spec"]["strategy"].is_null());
    assert!(!text.contains("# mesh5xx-rollout") && !text.contains("# mesh5xx-terminate"));
}

#[test]
fn a_client_pod_races_its_sidecar_unless_it_is_held_or_native() {
    let c = catalog();
    let job_pod = |scenario: &str, variant: &str| {
        let (s, v) = find(&c, scenario, variant);
        let docs = render(s, v, &RenderOptions::default()).unwrap();
        let text = render_text(s, v, &RenderOptions::default()).unwrap();
        (
            of_kind(&docs, "Job")[0]["spec"]["template"]["metadata"]["annotations"].clone(),
            text,
        )
    };
    let hold = |a: &Value| {
        a["proxy.istio.io/config"]
            .as_str()
            .is_some_and(|c| c.contains("holdApplicationUntilProxyStarts: true"))
    };
    // Every other scenario holds its load generator until its sidecar is ready.
    let (a, text) = job_pod("pod-shutdown", "baseline");
    assert!(hold(&a) && !text.contains("# Client pod"), "{a:?}");
    let (a, text) = job_pod("startup-race", "baseline");
    assert!(
        !hold(&a) && a["sidecar.istio.io/nativeSidecar"].is_null(),
        "{a:?}"
    );
    assert!(
        text.contains("# Client pod: the loadgen Job's pod starts its app with istio-proxy"),
        "{text}"
    );
    let (a, _) = job_pod("startup-race", "hold-application");
    assert!(hold(&a), "{a:?}");
    let (a, _) = job_pod("startup-race", "native-sidecar");
    assert!(!hold(&a), "{a:?}");
    assert_eq!(a["sidecar.istio.io/nativeSidecar"].as_str(), Some("true"));
}

#[test]
fn a_config_change_is_applied_by_kind_run_from_the_header_and_the_drain_is_per_pod() {
    let c = catalog();
    let (s, v) = find(&c, "config-push-drain", "baseline");
    let text = render_text(s, v, &RenderOptions::default()).unwrap();
    assert!(text.contains("\n# mesh5xx-config-change: 4000\n"), "{text}");
    let objects = text
        .lines()
        .find_map(|l| l.strip_prefix("# mesh5xx-config-change-objects: "))
        .expect("the objects applied while the load runs");
    let list: serde_json::Value = serde_json::from_str(objects).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"][0]["kind"], "AuthorizationPolicy");
    // Not applied with the rest: not among the manifests' documents.
    let docs = render(s, v, &RenderOptions::default()).unwrap();
    assert!(of_kind(&docs, "AuthorizationPolicy").is_empty());
    // The app pods' sidecars drain for drainDuration (ProxyConfig, per pod).
    let d = of_kind(&docs, "Deployment")[0];
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"].as_str(),
        Some("drainDuration: 2s\n")
    );
    let (s, v) = find(&c, "config-push-drain", "drain-longer-than-requests");
    let docs = render(s, v, &RenderOptions::default()).unwrap();
    let d = of_kind(&docs, "Deployment")[0];
    assert_eq!(
        d["spec"]["template"]["metadata"]["annotations"]["proxy.istio.io/config"].as_str(),
        Some("drainDuration: 5s\n")
    );
}
