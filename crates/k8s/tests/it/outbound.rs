//! Outbound scenarios: the egress pod outside the mesh, addresses as hidden ClusterIPs.

use std::path::{Path, PathBuf};

use mesh5xx_egress::config::Network;
use mesh5xx_egress::EgressConfig;
use mesh5xx_k8s::egress;
use mesh5xx_k8s::{render, render_text, RenderOptions};
use mesh5xx_scenario::catalog::parse;
use mesh5xx_scenario::Catalog;
use yaml_serde::Value;

const OUTBOUND: &str = r#"
name: demo-outbound
title: Demo
direction: outbound
symptom: s
mechanism: m
profile: istio-1.4
service: {host: external.service.com, port: 80}
signature: {direction: outbound, codes: [503], flags: [UF], external: true}
fixes: [{fix: a ServiceEntry, variant: service-entry-dns}]
defaults:
  duration_ms: 4000
  topology:
    client_sidecar: true
    external:
      addresses: [127.0.0.2]
      ttl_s: 5
      faults: {firewall-expiry: {after_ms: 2000}}
  load: {connections: 4}
variants:
  - name: baseline
    description: b
    expect: {min_requests: 10}
  - name: service-entry-dns
    description: d
    topology:
      external:
        faults:
          ip-rotation: {changes: [{at_ms: 3000, addresses: [127.0.0.3]}], old_address: cut_connections}
    istio:
      - apiVersion: networking.istio.io/v1beta1
        kind: ServiceEntry
        metadata: {name: ext, namespace: default}
        spec:
          hosts: [external.service.com]
          ports: [{number: 80, name: http, protocol: HTTP}]
          resolution: DNS
          location: MESH_EXTERNAL
    expect: {max_errors: 0}
"#;

fn egress_cfg() -> EgressConfig {
    EgressConfig::from_json(
        r#"{"zones":[{"name":"external.service.com","addresses":["127.0.0.2"],"ttl_s":5}],
            "schedule":[{"at_ms":3000,"name":"external.service.com","addresses":["127.0.0.3"]}],
            "allow":["external.service.com"],"allow_timeout_ms":2000,
            "elb_old_address":"cut_connections",
            "gateways":[{"ip":"127.0.0.2","upstream":"127.0.0.1:8080","retired_at_ms":3000},
                        {"ip":"127.0.0.3","upstream":"127.0.0.1:8080"}]}"#,
    )
    .unwrap()
}

#[test]
fn egress_runs_outside_the_mesh_on_fixed_cluster_ips() {
    let s = parse(Path::new("scenarios/demo-outbound.yaml"), OUTBOUND).unwrap();
    let v = s.variant("service-entry-dns").unwrap();
    let opts = RenderOptions {
        egress: Some(egress_cfg()),
        ..Default::default()
    };
    let docs = render(&s, v, &opts).unwrap();
    fn in_ns<'a>(docs: &'a [Value], ns: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        docs.iter()
            .filter(move |d| d["metadata"]["namespace"].as_str() == Some(ns))
    }
    let in_ns = |ns: &'static str| in_ns(&docs, ns);
    let egress_dep = in_ns("mesh5xx-egress")
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "egress")
        .unwrap();
    let pod = &egress_dep["spec"]["template"];
    assert_eq!(
        pod["metadata"]["annotations"]["sidecar.istio.io/inject"],
        Value::from("false")
    );
    let args = container_args(&pod["spec"]);
    assert_eq!(
        args,
        [
            "egress",
            "--config",
            "/etc/mesh5xx/egress.json",
            "--report",
            "/dev/stdout"
        ]
    );
    // Two gateways: two hidden Services on fixed ClusterIPs, two backend pods.
    let ext: Vec<&Value> = in_ns("mesh5xx-egress")
        .filter(|d| {
            d["kind"] == "Service"
                && d["metadata"]["name"].as_str().unwrap().starts_with("ext-")
                && !d["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("ext-backend")
        })
        .collect();
    assert_eq!(ext.len(), 2);
    assert_eq!(ext[0]["spec"]["clusterIP"], Value::from("10.96.0.160"));
    assert_eq!(ext[1]["spec"]["clusterIP"], Value::from("10.96.0.161"));
    for e in &ext {
        assert_eq!(
            e["metadata"]["annotations"]["networking.istio.io/exportTo"],
            Value::from("~")
        );
    }
    let backends = in_ns("mesh5xx-egress")
        .filter(|d| {
            d["kind"] == "Deployment"
                && d["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("ext-backend-")
        })
        .count();
    assert_eq!(backends, 2);
    // The config the pod reads answers with those ClusterIPs.
    let cm = in_ns("mesh5xx-egress")
        .find(|d| d["kind"] == "ConfigMap")
        .unwrap();
    let json: serde_json::Value =
        serde_json::from_str(cm["data"]["egress.json"].as_str().unwrap()).unwrap();
    assert_eq!(json["zones"][0]["addresses"][0], "10.96.0.160");
    assert_eq!(json["schedule"][0]["addresses"][0], "10.96.0.161");
    assert_eq!(json["network"], "cluster");
    assert_eq!(json["gateways"][1]["listen"], "0.0.0.0:18001");
    assert_eq!(json["gateways"][1]["ip"], "10.96.0.161");
    assert_eq!(
        json["gateways"][1]["port"], 80,
        "the Service port the app uses"
    );
    assert_eq!(json["gateways"][0]["retired_at_ms"], 3000);
    assert_eq!(json["dns_listen"], "0.0.0.0:5353");
    // The app is the load generator with its own sidecar, calling the external name.
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    assert!(
        job["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"].is_null()
    );
    let a = container_args(&job["spec"]["template"]["spec"]);
    assert_eq!(
        &a[..5],
        [
            "loadgen",
            "--target",
            "external.service.com:80",
            "--host",
            "external.service.com"
        ]
    );
    // It looks the name up through the pod's resolver and connects to the answer.
    let tail = a.join(" ");
    assert!(
        tail.contains("--resolve external.service.com --upstream-port 80 --resolve-mode once")
            && tail.ends_with("--connect-resolved"),
        "{tail}"
    );
    // The ServiceEntry is applied as written.
    assert!(docs.contains(&v.istio.raw[0]));
}

#[test]
fn default_egress_config_and_corefile() {
    let s = parse(Path::new("scenarios/demo-outbound.yaml"), OUTBOUND).unwrap();
    let v = s.variant("baseline").unwrap();
    let cfg = egress::variant_config(&s, v).unwrap();
    assert_eq!(egress::stub_zones(&cfg), ["external.service.com"]);
    let block = egress::corefile_blocks(&egress::stub_zones(&cfg));
    assert!(block.contains("external.service.com:53 {") && block.contains("forward . 10.96.0.153"));
    // The static CoreDNS patch carries that block.
    let patch = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kind-cluster/coredns-patch.yaml"),
    )
    .unwrap();
    for line in block.lines() {
        assert!(
            patch.contains(line.trim()),
            "coredns-patch.yaml lacks {line:?}"
        );
    }
    let docs = render(&s, v, &RenderOptions::default()).unwrap();
    assert!(docs.iter().any(|d| d["kind"] == "ConfigMap"));
}

/// The `egress.json` of every ConfigMap in `docs`.
fn egress_jsons(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .filter(|d| d["kind"] == "ConfigMap" && d["metadata"]["namespace"] == "mesh5xx-egress")
        .map(|d| d["data"]["egress.json"].as_str().unwrap().to_string())
        .collect()
}

/// What the pod reads is exactly what `mesh5xx egress --config` accepts, for every scenario
/// and variant of the catalog and for a given local configuration.
#[test]
fn every_rendered_egress_config_is_accepted_by_mesh5xx_egress() {
    let catalog = Catalog::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios"))
        .expect("the scenario files load");
    let demo = parse(Path::new("scenarios/demo-outbound.yaml"), OUTBOUND).unwrap();
    let given = RenderOptions {
        egress: Some(egress_cfg()),
        ..Default::default()
    };
    let mut cases: Vec<(String, Vec<Value>)> = Vec::new();
    for s in catalog.scenarios.iter().chain(std::iter::once(&demo)) {
        for v in &s.variants {
            let docs = render(s, v, &RenderOptions::default())
                .unwrap_or_else(|e| panic!("{} {}: {e:#}", s.name, v.name));
            cases.push((format!("{} {}", s.name, v.name), docs));
        }
    }
    for v in &demo.variants {
        cases.push((
            format!("{} {} --egress-config", demo.name, v.name),
            render(&demo, v, &given).unwrap(),
        ));
    }
    let mut checked = 0;
    for (name, docs) in &cases {
        for text in egress_jsons(docs) {
            let cfg = EgressConfig::from_json(&text)
                .unwrap_or_else(|e| panic!("{name}: egress.json refused: {e}\n{text}"));
            cfg.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(cfg.network, Network::Cluster, "{name}");
            // Each gateway listens on its own pod port and stands for its ClusterIP and the
            // Service port the app connects to.
            for (i, g) in cfg.gateways.iter().enumerate() {
                let listen = g
                    .listen
                    .unwrap_or_else(|| panic!("{name}: gateway {i} has no listen"));
                assert_eq!(
                    listen.port(),
                    egress::GATEWAY_BASE_PORT + i as u16,
                    "{name}"
                );
                assert_eq!(g.ip, egress::gateway_cluster_ip(i), "{name}");
                assert!(g.port.is_some(), "{name}");
            }
            // The rendering is the accepted configuration, field for field.
            let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(reparsed, serde_json::to_value(&cfg).unwrap(), "{name}");
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "only {checked} egress configurations rendered"
    );
}

#[test]
fn the_rendering_no_longer_warns_about_the_egress_config() {
    let s = parse(Path::new("scenarios/demo-outbound.yaml"), OUTBOUND).unwrap();
    for v in &s.variants {
        let text = render_text(&s, v, &RenderOptions::default()).unwrap();
        assert!(!text.contains("needs `mesh5xx egress`"), "{text}");
        assert!(!text.contains("non-loopback"), "{text}");
    }
}

/// The example configuration of kind-cluster/README.md is one `mesh5xx egress` accepts.
#[test]
fn the_readme_example_egress_config_is_accepted() {
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kind-cluster/README.md"),
    )
    .unwrap();
    let block = readme
        .split("```json\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .find(|b| b.contains(r#""network": "cluster""#))
        .expect("the README shows an in-cluster egress.json");
    let cfg = EgressConfig::from_json(block).unwrap_or_else(|e| panic!("{e}\n{block}"));
    assert_eq!(cfg.gateways.len(), 2);
    assert_eq!(
        cfg.gateways[1].listen.unwrap().port(),
        egress::GATEWAY_BASE_PORT + 1
    );
}

/// `topology.other_app` is a container of the load generator's pod that looks the name up
/// through the cluster resolver at the lab's times and ends with the load; the kind summary
/// counts its answered lookups.
#[test]
fn the_other_app_looks_the_name_up_beside_the_load_and_is_counted() {
    let catalog = Catalog::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios"))
        .expect("the scenario files load");
    let s = catalog.get("outbound-firewall-uf").unwrap();
    let v = s.variant("baseline").unwrap();
    let o = v
        .topology
        .other_app
        .as_ref()
        .expect("the firewall baseline has another app");
    let docs = render(s, v, &RenderOptions::default()).unwrap();
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["loadgen", "other-app"]);
    let script = containers[1]["command"][2].as_str().unwrap();
    let first = o.first_at_ms.unwrap_or(o.resolve_every_ms);
    let lookups = (v.duration_ms - first - 1) / o.resolve_every_ms + 1;
    for part in [
        format!("sleep {}.{:03};", first / 1000, first % 1000),
        format!("while [ $n -lt {lookups} ]"),
        "getent ahostsv4 external.service.com. >/dev/null".to_string(),
        format!("echo {} answered", mesh5xx_k8s::LOOKUP_MARKER),
    ] {
        assert!(script.contains(&part), "{part:?} missing from {script}");
    }
    // The loop ends: it is a Job's container.
    assert!(script.ends_with("done; exit 0"), "{script}");
    // An app that looks the name up per connection does so in the cluster too.
    let v = s.variant("app-no-keepalive").unwrap();
    let docs = render(s, v, &RenderOptions::default()).unwrap();
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    let args = yaml_serde::to_string(&job["spec"]["template"]["spec"]["containers"][0]["args"]);
    let args = args.unwrap();
    assert!(
        args.contains("- --resolve-mode\n- per-connection\n")
            && args.contains("- --connect-resolved\n"),
        "{args}"
    );
    // A variant without another app has the load generator alone.
    let inbound = catalog.get("inbound-keepalive-uc").unwrap();
    let docs = render(inbound, &inbound.variants[0], &RenderOptions::default()).unwrap();
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"]
            .as_sequence()
            .unwrap()
            .len(),
        1
    );

    let scratch = mesh5xx_testkit::scratch("other-app");
    let dir = scratch.path();
    assert_eq!(mesh5xx_k8s::summary::other_app_lookups(dir), 0);
    std::fs::write(
        dir.join("other-app.log"),
        "MESH5XX-LOOKUP answered\nMESH5XX-LOOKUP failed\nnoise\nMESH5XX-LOOKUP answered\n",
    )
    .unwrap();
    assert_eq!(mesh5xx_k8s::summary::other_app_lookups(dir), 2);
}

/// The arguments of the first container of a pod spec.
fn container_args(pod_spec: &Value) -> Vec<&str> {
    pod_spec["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

/// istiod builds the HTTP outbound listener for port 80 (and its `allow_any` route) only
/// when a meshed Service declares port 80 as HTTP: the rendering adds one, so the sidecar
/// logs `503 UF` (not the TCP proxy's `- - - 0 UF`) and old profiles' 15 s timeout applies.
#[test]
fn outbound_variants_get_a_meshed_http_service_on_the_external_port() {
    let s = parse(Path::new("scenarios/demo-outbound.yaml"), OUTBOUND).unwrap();
    let v = s.variant("baseline").unwrap();
    let docs = render(&s, v, &RenderOptions::default()).unwrap();
    let svc = docs
        .iter()
        .find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "mesh5xx-http-port")
        .expect("a Service declaring the HTTP port");
    // In the app's namespace (the first object rendered), not the egress pod's.
    assert_eq!(svc["metadata"]["namespace"], docs[0]["metadata"]["name"]);
    let port = &svc["spec"]["ports"][0];
    assert_eq!(
        (port["name"].as_str(), port["port"].as_u64()),
        (Some("http"), Some(80))
    );
    assert!(svc["spec"]["selector"].is_null(), "it selects no pods");
}
