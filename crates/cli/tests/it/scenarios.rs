//! Whole scenarios through real Envoy, checked against their expectations.

use std::time::Instant;

use crate::support::*;

/// Run a scenario with `--check` and return its summary; fails with the table on a miss.
fn run_checked(scenario: &str, extra: &[&str], scratch: &Scratch) -> serde_json::Value {
    let started = Instant::now();
    let mut args = vec!["run", scenario, "--check", "--out", scratch.arg()];
    args.extend_from_slice(extra);
    let o = run(&args);
    println!(
        "{}\n{scenario}: {:.1} s wall",
        stdout(&o),
        started.elapsed().as_secs_f64()
    );
    assert!(
        o.status.success(),
        "{scenario} missed its expectations:\n{}\n{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(
        wait_no_processes(scratch.arg(), 5).is_empty(),
        "processes left behind"
    );
    let s = summary(scratch.path());
    assert_matches_schema(&s);
    s
}

/// The steps of `variant`'s pods (`lifecycle.jsonl`).
fn lifecycle(scratch: &Scratch, variant: &str) -> Vec<mesh5xx_lab::lifecycle::Step> {
    mesh5xx_lab::lifecycle::read(&scratch.path().join(variant).join("lifecycle.jsonl")).unwrap()
}

/// When (ms into the load) pod `pod` took `step`.
fn when(steps: &[mesh5xx_lab::lifecycle::Step], pod: &str, step: &str) -> u64 {
    steps
        .iter()
        .find(|s| s.pod == pod && s.step == step)
        .unwrap_or_else(|| panic!("no {pod} {step} in {steps:?}"))
        .t_ms
}

/// When (ms into the load) the client pod of `variant` took `step`.
fn client_step(scratch: &Scratch, variant: &str, step: &str) -> u64 {
    when(&lifecycle(scratch, variant), "client", step)
}

/// The sidecar of pod `pod` in variant `v`'s summary.
/// Each of the variants `names` of summary `s`: the client's sidecar answered every request 200.
fn every_request_answered_200(s: &serde_json::Value, names: &[&str]) {
    for name in names {
        let v = variant(s, name);
        let requests = v["requests"].as_u64().unwrap();
        assert_eq!(
            sidecar(v, "client")["responses"]["200"].as_u64(),
            Some(requests),
            "{name}"
        );
    }
}

fn sidecar<'a>(v: &'a serde_json::Value, pod: &str) -> &'a serde_json::Value {
    v["sidecars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sc| sc["pod"] == pod)
        .unwrap_or_else(|| panic!("no sidecar {pod} in {}", v["sidecars"]))
}

/// Of a `{flags: count}` map, the count of entries whose flags include `flag` (`URX,UF`
/// counts for `UF`).
fn with_flag(flags: &serde_json::Value, flag: &str) -> u64 {
    flags
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.split(',').any(|f| f == flag))
        .map(|(_, n)| n.as_u64().unwrap())
        .sum()
}

#[test]
fn inbound_keepalive_uc_reproduces_and_every_mitigation_holds() {
    let scratch = Scratch::new("keepalive");
    let s = run_checked("inbound-keepalive-uc", &[], &scratch);
    assert_eq!(s["istio_profile"], "istio-1.4");
    assert!(s["envoy_version"].as_str().unwrap().starts_with("1."));
    // istiod 1.4 did not translate maxConnectionDuration (from 1.15): that mitigation is
    // recorded as not applicable, never rendered without it.
    assert_eq!(
        s["not_applicable"][0]["variant"],
        "dr-max-connection-duration"
    );
    assert!(s["not_applicable"][0]["needs"]
        .as_str()
        .unwrap()
        .contains("Istio ≥ 1.15"));
    let base = variant(&s, "baseline");
    assert!(base["error_rate"].as_f64().unwrap() >= 0.01);
    let uc = base["flags"]["UC"].as_u64().unwrap();
    assert!(uc > 0);
    // The mechanism, counted by the app: almost every UC is a request that reached an idle
    // connection after the app stopped reading it, reset unanswered by its close.
    let reset = base["app_connections"]["reset_unread"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        reset <= uc && reset * 10 >= uc * 8,
        "app reset {reset} unread requests, the client saw {uc} UC"
    );
    // The access log reads like the seed's: 503 UC, 95-byte reply, the pre-1.10 inbound cluster name.
    let log = std::fs::read_to_string(scratch.path().join("baseline/access-srv-a-0.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains(" 503 UC "))
        .expect("a 503 UC line");
    let e = mesh5xx_accesslog::parse_line(line).unwrap();
    assert_eq!(e.bytes_sent, 95);
    assert_eq!(
        e.upstream_cluster,
        Some("inbound|80|http|srv-a.default.svc.cluster.local")
    );
    for name in [
        "baseline",
        "dr-idle-timeout",
        "client-sidecar-default-retries",
    ] {
        let dir = scratch.path().join(name);
        for f in [
            "loadgen.json",
            "latency.hgrm",
            "app-0.json",
            "envoy-srv-a-0.yaml",
            "stats-srv-a-0.txt",
            "access-srv-a-0.log",
        ] {
            assert!(dir.join(f).exists(), "{name}/{f} missing");
        }
    }
    // The seed's point: with a client sidecar the caller sees (almost) nothing, the server
    // sidecar logs UC.
    let hidden = variant(&s, "client-sidecar-default-retries");
    assert!(
        hidden["errors"].as_u64().unwrap() * 20 < uc,
        "{}",
        hidden["errors"]
    );
    let server = hidden["sidecars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "server")
        .unwrap();
    assert!(server["flags"]["UC"].as_u64().unwrap_or(0) > 0);
}

#[test]
fn inbound_app_down_uf_reproduces_and_retries_hide_it() {
    let scratch = Scratch::new("appdown");
    let s = run_checked("inbound-app-down-uf", &[], &scratch);
    let base = variant(&s, "baseline");
    assert!(base["flags"]["UF"].as_u64().unwrap() > 0);
    assert_eq!(
        variant(&s, "client-default-retries-two-replicas")["errors"],
        0
    );
}

#[test]
fn check_exits_1_when_an_expectation_fails() {
    let scenarios = Scratch::new("impossible");
    let text = std::fs::read_to_string(scenarios_dir().join("inbound-app-down-uf.yaml")).unwrap();
    // Demand errors from a variant that has none.
    let text = text.replacen(
        "      max_errors: 0\n",
        "      max_errors: 0\n      min_error_rate: 0.5\n",
        1,
    );
    std::fs::write(scenarios.path().join("inbound-app-down-uf.yaml"), text).unwrap();
    let out = Scratch::new("impossible-out");
    let o = mesh5xx()
        .env("MESH5XX_SCENARIOS", scenarios.path())
        .args([
            "run",
            "inbound-app-down-uf",
            "--variant",
            "client-default-retries-two-replicas",
            "--duration",
            "2",
            "--check",
            "--out",
            out.arg(),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("below the expected"), "{}", stderr(&o));
    assert_eq!(summary(out.path())["passed"], false);
}

/// The access-log lines of `pod`'s sidecar in `variant`.
fn access_log(scratch: &Scratch, variant: &str, pod: &str) -> Vec<String> {
    let path = scratch
        .path()
        .join(variant)
        .join(format!("access-{pod}.log"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Lines of a variant's client-sidecar access log that carry ` CODE FLAGS `.
fn client_log_lines(scratch: &Scratch, variant: &str, code_flags: &str) -> Vec<String> {
    access_log(scratch, variant, "client")
        .into_iter()
        .filter(|l| l.contains(code_flags))
        .collect()
}

#[test]
fn outbound_firewall_uf_bursts_heal_and_serviceentry_dns_fixes_it() {
    let scratch = Scratch::new("firewall");
    let s = run_checked("outbound-firewall-uf", &[], &scratch);
    let base = variant(&s, "baseline");
    assert!(base["flags"]["UF"].as_u64().unwrap() > 0);
    // The seed's log line: 503 UF on PassthroughCluster to the cached IP, 91-byte reply.
    let lines = client_log_lines(&scratch, "baseline", " 503 UF ");
    let e = mesh5xx_accesslog::parse_line(&lines[0]).unwrap();
    assert_eq!(e.upstream_cluster, Some("PassthroughCluster"));
    // "…reset reason: connection failure" (91 bytes) or, in Envoy 1.40, "…remote connection failure" (98).
    assert!([91, 98].contains(&e.bytes_sent), "{}", e.bytes_sent);
    assert!(e.upstream_host.unwrap().starts_with("127.0.0.2:"));
    // The firewall expired and was refreshed by the other app's lookups.
    assert!(base["egress"]["allow_expired"].as_u64().unwrap() >= 2);
    assert!(base["egress"]["other_app_lookups"].as_u64().unwrap() >= 2);
    let ipset = std::fs::read_to_string(scratch.path().join("baseline/ipset.txt")).unwrap();
    assert!(
        ipset.is_empty() || ipset.contains("comment \"external.service.com.\""),
        "{ipset}"
    );
    assert_eq!(variant(&s, "serviceentry-dns")["errors"], 0);
    // The kernel firewall (nftables set, conntrack) gives the same bursts; its refusals are
    // the SYNs the kernel rejected, counted per gateway, which the userspace gateway never sees.
    let kernel = variant(&s, "kernel-firewall");
    assert!(kernel["flags"]["UF"].as_u64().unwrap() > 0);
    assert!(kernel["egress"]["allow_expired"].as_u64().unwrap() >= 2);
    assert!(kernel["egress"]["connections_refused"].as_u64().unwrap() > 0);
    assert_eq!(base["egress"]["connections_refused"], 0);
    let config = std::fs::read_to_string(scratch.path().join("kernel-firewall/egress-config.json"));
    let config: serde_json::Value = serde_json::from_str(&config.unwrap()).unwrap();
    assert_eq!(config["backend"], "nftables");
}

/// Without `nft` (or root) the kernel-firewall variant cannot run: named with --variant it is
/// an error saying what to install; otherwise the run leaves it out, says so, and runs the rest.
#[test]
fn without_nft_the_kernel_firewall_is_refused_when_named_and_left_out_otherwise() {
    let scratch = Scratch::new("no-nft");
    let no_nft = scratch.path().join("empty-path");
    std::fs::create_dir_all(&no_nft).unwrap();
    let o = mesh5xx()
        .env("PATH", &no_nft)
        .args([
            "run",
            "outbound-firewall-uf",
            "--variant",
            "kernel-firewall",
        ])
        .args([
            "--duration",
            "1",
            "--out",
            scratch.path().join("named").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("outbound-firewall-uf / kernel-firewall")
            && e.contains("apt-get install nftables"),
        "{e}"
    );

    let out = scratch.path().join("all");
    let o = mesh5xx()
        .env("PATH", &no_nft)
        .args(["run", "outbound-firewall-uf", "--duration", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("leaving out outbound-firewall-uf / kernel-firewall"),
        "{}",
        stderr(&o)
    );
    let s = summary(&out);
    let names = variant_names(&s);
    assert!(
        names.contains(&"baseline") && !names.contains(&"kernel-firewall"),
        "{names:?}"
    );
    assert!(
        wait_no_processes(scratch.arg(), 5).is_empty(),
        "processes left behind"
    );
}

#[test]
fn outbound_elb_ip_change_reproduces_and_serviceentry_dns_follows_the_new_ip() {
    let scratch = Scratch::new("elb");
    let s = run_checked("outbound-elb-ip-change", &[], &scratch);
    assert!(variant(&s, "baseline")["error_rate"].as_f64().unwrap() >= 0.01);
    let lines = client_log_lines(&scratch, "serviceentry-dns", " 200 ");
    assert!(
        lines.iter().any(|l| l.contains("\"127.0.0.3:")),
        "traffic never reached the new address"
    );
    assert!(lines
        .iter()
        .all(|l| l.contains("outbound|80||external.service.com")));
}

#[test]
fn outbound_timeout_ut_answers_504_at_15_seconds() {
    let scratch = Scratch::new("timeout");
    let s = run_checked("outbound-timeout-ut", &[], &scratch);
    let lines = client_log_lines(&scratch, "baseline", " 504 UT ");
    assert!(!lines.is_empty());
    for l in &lines {
        let e = mesh5xx_accesslog::parse_line(l).unwrap();
        let d = e.duration_ms.unwrap();
        assert!(
            (14_900..15_500).contains(&d),
            "duration {d} ms is not the 15 s route timeout"
        );
        assert_eq!(e.bytes_sent, 24);
        assert_eq!(e.upstream_cluster, Some("PassthroughCluster"));
    }
    assert_eq!(variant(&s, "vs-timeout-30s")["errors"], 0);
}

/// The seed's inbound line (MISSION.md), written by an Istio 1.2 sidecar.
const SEED_UC_LINE: &str = r#"[2022-04-18T09:29:59.633Z] "GET /service_a/v2.1/get?ids=123456 HTTP/1.1" 503 UC "-" "-" 0 95 11 - "-" "-" "bc6f9ba3-d8dc-4955-a092-64617d9277c8" "srv-a.xyz" "127.0.0.1:8080" inbound|80|http|srv-a.xyz.svc.cluster.local - 100.64.121.11:8080 100.64.254.9:35174 -"#;

/// A TEXT access-log line cut into its fields: `[…]` and `"…"` are one field each.
fn log_fields(line: &str) -> Vec<&str> {
    let mut fields = Vec::new();
    let mut rest = line.trim_end();
    while !rest.is_empty() {
        let end = match rest.as_bytes()[0] {
            b'[' => rest.find(']').map_or(rest.len(), |i| i + 1),
            b'"' => rest[1..].find('"').map_or(rest.len(), |i| i + 2),
            _ => rest.find(' ').unwrap_or(rest.len()),
        };
        fields.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    fields
}

/// Under `istio-1.2` the server sidecar writes the seed's `503 UC` line field for field:
/// the same 20 fields in the same places (Istio 1.2's `EnvoyTextLogFormat12`, no route name).
#[test]
fn istio_1_2_writes_the_seed_s_lines_field_for_field() {
    let scratch = Scratch::new("seed-format");
    let o = run(&[
        "run",
        "inbound-keepalive-uc",
        "--profile",
        "istio-1.2",
        "--variant",
        "baseline",
        "--duration",
        "5",
        "--out",
        scratch.arg(),
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let log = std::fs::read_to_string(scratch.path().join("baseline/access-srv-a-0.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains(" 503 UC "))
        .expect("a 503 UC line");
    let (lab, seed) = (log_fields(line), log_fields(SEED_UC_LINE));
    assert_eq!(lab.len(), seed.len(), "{line}\n{SEED_UC_LINE}");
    // Field by field: the same literal where the seed's value is the mechanism's (code, flags,
    // empty mixer status and failure reason, bytes, no SNI), the
    // same shape where it names a host, a time or an id.
    for (i, (l, s)) in lab.iter().zip(&seed).enumerate() {
        match i {
            0 => assert!(l.starts_with("[20") && l.ends_with("Z]"), "{l}"),
            1 => assert!(
                l.starts_with("\"GET /") && l.ends_with(" HTTP/1.1\""),
                "{l}"
            ),
            10..=13 => assert!(l.starts_with('"') && l.ends_with('"'), "field {i}: {l}"),
            8 | 9 => assert!(*l == "-" || l.parse::<u64>().is_ok(), "field {i}: {l}"),
            14 => assert!(l.starts_with("\"127.0.0.1:"), "{l}"),
            15 => assert_eq!(l, &"inbound|80|http|srv-a.default.svc.cluster.local"),
            // The upstream local address: `-` in the seed's line; the Envoy run here prints the
            // address of the pooled connection that was reset (an Envoy, not an istiod, change).
            16 => assert!(*l == "-" || l.starts_with("127.0.0.1:"), "{l}"),
            17 | 18 => assert!(l.contains(':'), "field {i}: {l}"),
            _ => assert_eq!(l, s, "field {i} of {line}"),
        }
    }
}

/// The same scenario with every sidecar configured over ADS by the lab's control plane gives
/// the same results, and the control plane's record shows what istiod would have sent.
#[test]
fn sidecars_configured_by_the_control_plane_reproduce_the_same_failure() {
    let scratch = Scratch::new("control-plane");
    let text = std::fs::read_to_string(scenarios_dir().join("inbound-app-down-uf.yaml")).unwrap();
    let mut file: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    for v in file["variants"].as_sequence_mut().unwrap() {
        let map = v.as_mapping_mut().unwrap();
        let topology = map
            .entry("topology".into())
            .or_insert_with(|| yaml_serde::Value::Mapping(Default::default()));
        topology
            .as_mapping_mut()
            .unwrap()
            .insert("control_plane".into(), true.into());
    }
    let path = scratch.path().join("inbound-app-down-uf.yaml");
    std::fs::write(&path, yaml_serde::to_string(&file).unwrap()).unwrap();
    let s = run_checked(
        path.to_str().unwrap(),
        &[
            "--variant",
            "baseline",
            "--variant",
            "client-default-retries-two-replicas",
        ],
        &scratch,
    );
    let base = variant(&s, "baseline");
    assert!(base["flags"]["UF"].as_u64().unwrap() > 0);
    assert_eq!(
        variant(&s, "client-default-retries-two-replicas")["errors"],
        0
    );
    // The client sidecar got CDS, EDS, LDS, RDS in istiod's order and ACKed each; nothing
    // was rejected.
    let record = scratch
        .path()
        .join("client-default-retries-two-replicas/xds.jsonl");
    let entries = mesh5xx_xds::record::read(&record).unwrap();
    let client: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.event {
            mesh5xx_xds::Event::Sent { node, type_url, .. } if node.contains("~client.") => {
                Some(type_url.as_str())
            }
            _ => None,
        })
        .collect();
    assert_eq!(client[..4], ["cds", "eds", "lds", "rds"], "{client:?}");
    let acks = entries
        .iter()
        .filter(|e| matches!(&e.event, mesh5xx_xds::Event::Ack { .. }))
        .count();
    assert!(acks >= 4 + 2 * 2, "{acks} ACKs");
    assert!(!entries.iter().any(|e| matches!(
        &e.event,
        mesh5xx_xds::Event::Nack { .. } | mesh5xx_xds::Event::Rejected { .. }
    )));
}

/// A pod terminating while the load runs, as Kubernetes does it: the endpoint's removal
/// reaches the callers a second later (then the debounce), while the app exits at once —
/// the callers' sidecar keeps sending to it and gets `503 UF`. A preStop sleep longer than
/// the endpoint's way to the callers keeps the app serving until none are sent: no errors.

#[test]
fn pod_shutdown_answers_503_until_the_push_and_every_fix_holds() {
    let scratch = Scratch::new("pod-shutdown");
    let s = run_checked("pod-shutdown", &[], &scratch);
    let base = variant(&s, "baseline");
    assert!(with_flag(&base["flags"], "UF") > 0, "{}", base["flags"]);
    for fix in ["pre-stop-sleep", "app-graceful-shutdown", "caller-retries"] {
        assert_eq!(variant(&s, fix)["errors"], 0, "{fix}");
    }
    // The retries hide the terminating pod's 503 UF from the caller, not from its sidecar.
    let server = sidecar(variant(&s, "caller-retries"), "srv-a-0");
    assert!(with_flag(&server["flags"], "UF") > 0, "{server}");
    // The summary marks them on the timeline's clock, the control plane's push among them.
    let marks: Vec<(f64, String)> = base["marks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["t_s"].as_f64().unwrap(),
                m["what"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let when = |what: &str| {
        marks
            .iter()
            .find(|m| m.1.starts_with(what))
            .unwrap_or_else(|| panic!("no {what} in {marks:?}"))
            .0
    };
    assert!(
        when("srv-a-0 terminating") < when("srv-a-0 endpoint-removed"),
        "{marks:?}"
    );
    assert!(
        when("srv-a-0 endpoint-removed") < when("push v"),
        "{marks:?}"
    );
    // The steps in the order a cluster takes them: terminating, the endpoint removal sent a
    // second later, the app's SIGTERM at once (baseline) or after the preStop sleep, the
    // sidecar stopped after pilot-agent's 5 s drain wait.
    for (name, sigterm_after) in [("baseline", 0), ("pre-stop-sleep", 2000)] {
        let steps = lifecycle(&scratch, name);
        let at = |step: &str| {
            steps
                .iter()
                .find(|s| s.step == step)
                .unwrap_or_else(|| panic!("{name}: no {step} in {steps:?}"))
                .t_ms
        };
        let t0 = at("terminating");
        assert!((2000..2300).contains(&t0), "{name}: {steps:?}");
        assert!(at("endpoint-removed") >= t0 + 1000, "{name}: {steps:?}");
        assert!(at("app-sigterm") >= t0 + sigterm_after, "{name}: {steps:?}");
        assert!(at("sidecar-stopped") >= t0 + 5000, "{name}: {steps:?}");
        // The control plane pushed the removal after its debounce.
        let record =
            mesh5xx_xds::record::read(&scratch.path().join(name).join("xds.jsonl")).unwrap();
        assert!(record
            .iter()
            .any(|e| matches!(&e.event, mesh5xx_xds::Event::Push { full: false, .. })));
    }
}

#[test]
fn a_recreate_rollout_leaves_no_healthy_upstream_and_a_rolling_update_with_pre_stop_holds() {
    let scratch = Scratch::new("rolling-update");
    let s = run_checked("rolling-update-stale-endpoints", &[], &scratch);
    let base = variant(&s, "baseline");
    assert!(
        base["flags"].as_object().unwrap().contains_key("UH"),
        "{}",
        base["flags"]
    );
    assert_eq!(variant(&s, "rolling-update-pre-stop")["errors"], 0);
    // diagnose, on the run's own logs: the caller's 503 UH are this scenario, the old pods'
    // 503 UF (their apps exited before their removal was pushed) are a pod's shutdown.
    let logs: Vec<String> = std::fs::read_dir(scratch.path().join("baseline"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("access-")
        })
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    let mut args = vec!["diagnose", "--json"];
    args.extend(logs.iter().map(String::as_str));
    let o = mesh5xx().args(&args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let named = |flags: &str| -> Vec<String> {
        d["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["flags"].as_str().unwrap().split(',').any(|f| f == flags))
            .map(|g| g["scenario"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    assert_eq!(
        named("UH"),
        ["rolling-update-stale-endpoints"],
        "{:#}",
        d["groups"]
    );
    let uf = named("UF");
    assert!(
        !uf.is_empty() && uf.iter().all(|s| s == "pod-shutdown"),
        "{:#}",
        d["groups"]
    );
    let steps = |name: &str| lifecycle(&scratch, name);
    // Recreate: both old pods go at once, the new ones are created when both are gone.
    let recreate = steps("baseline");
    let gone = when(&recreate, "srv-a-0", "sidecar-stopped").max(when(
        &recreate,
        "srv-a-1",
        "sidecar-stopped",
    ));
    for new in ["srv-a-2", "srv-a-3"] {
        assert!(when(&recreate, new, "created") >= gone, "{recreate:?}");
        assert!(
            when(&recreate, new, "endpoint-added") > when(&recreate, new, "ready"),
            "{recreate:?}"
        );
    }
    // RollingUpdate (maxSurge 1, maxUnavailable 0): one new pod first; an old pod goes only
    // once a new one is available, the second new pod comes when the first old one goes.
    let rolling = steps("rolling-update-pre-stop");
    let first_old_goes =
        when(&rolling, "srv-a-0", "terminating").min(when(&rolling, "srv-a-1", "terminating"));
    assert!(
        when(&rolling, "srv-a-2", "available") <= first_old_goes,
        "{rolling:?}"
    );
    assert!(
        when(&rolling, "srv-a-3", "created") >= first_old_goes,
        "{rolling:?}"
    );
    // Every pod's access log is collected: the new pods served the load after the rollout.
    let rolled = variant(&s, "rolling-update-pre-stop");
    let served: u64 = ["srv-a-2", "srv-a-3"]
        .map(|pod| sidecar(rolled, pod)["requests"].as_u64().unwrap())
        .iter()
        .sum();
    assert!(served > 0, "{}", rolled["sidecars"]);
}

/// A client pod whose app calls out before its sidecar has its configuration: every error is
/// the app's own refused connection, none after the sidecar is ready, none in istio-proxy's
/// log; an app held until its sidecar is ready (holdApplicationUntilProxyStarts, a native
/// sidecar) sees none.
#[test]
fn startup_race_refuses_the_apps_first_calls_until_its_sidecar_has_its_configuration() {
    let scratch = Scratch::new("startup-race");
    let s = run_checked("startup-race", &[], &scratch);
    let base = variant(&s, "baseline");
    let errors = base["errors"].as_u64().unwrap();
    assert!(errors > 0, "{base}");
    assert_eq!(
        base["transport_errors"]["connect_refused"].as_u64(),
        Some(errors),
        "{}",
        base["transport_errors"]
    );
    // The client's sidecar logged only what it got once it listened: no error.
    let client = sidecar(base, "client");
    assert!(client["requests"].as_u64().unwrap() > 0, "{client}");
    assert!(
        client["flags"]
            .as_object()
            .unwrap()
            .keys()
            .all(|f| f == "-"),
        "{client}"
    );
    let at = |step: &str| client_step(&scratch, "baseline", step);
    let (sent, ready) = (at("config-sent"), at("ready"));
    assert!(
        sent >= 2000 && ready > sent,
        "config sent at {sent} ms, ready at {ready} ms"
    );
    // No error in a second that began after the sidecar was ready (the load generator's
    // clock starts at or after the lifecycle's).
    for second in base["timeline"].as_array().unwrap() {
        if second["t"].as_u64().unwrap() * 1000 > ready {
            assert_eq!(second["errors"], 0, "ready at {ready} ms: {second}");
        }
    }
    for fix in ["hold-application", "native-sidecar"] {
        assert_eq!(variant(&s, fix)["errors"], 0, "{fix}");
    }
}

/// An AuthorizationPolicy pushed while long requests run: the server's sidecar drains its old
/// filter chain and closes what is still open when the drain ends — `0 DC
/// filter_chain_is_being_removed` at the server, `503 UC` at the caller, for exactly the
/// requests cut; a drain longer than the requests, or retries on reset, leave none.
#[test]
fn a_config_push_cuts_the_requests_still_running_when_the_drain_ends() {
    let scratch = Scratch::new("config-push-drain");
    let s = run_checked("config-push-drain", &[], &scratch);
    let base = variant(&s, "baseline");
    let uc = with_flag(&base["flags"], "UC");
    assert!(uc > 0 && uc == base["errors"].as_u64().unwrap(), "{base}");
    let server = sidecar(base, "srv-a-0");
    assert_eq!(with_flag(&server["flags"], "DC"), uc, "{server}");
    let cut: Vec<String> =
        std::fs::read_to_string(scratch.path().join("baseline/access-srv-a-0.log"))
            .unwrap()
            .lines()
            .filter(|l| l.contains(" 0 DC "))
            .map(str::to_string)
            .collect();
    assert!(
        !cut.is_empty()
            && cut
                .iter()
                .all(|l| l.contains("downstream_local_disconnect(filter_chain_is_being_removed)")),
        "{cut:?}"
    );
    // The old filter chain's connections are closed when the drain (2 s) ends, not before:
    // every cut request ends at that moment, and one that was running when the push came
    // had run through the whole drain. (A request sent on an old connection after the
    // push is cut at the same moment, sooner after its start.)
    let (ends, longest) = cut
        .iter()
        .fold((Vec::new(), 0), |(mut ends, longest), line| {
            let e = mesh5xx_accesslog::parse_line(line).unwrap();
            let ms = e.duration_ms.unwrap();
            ends.push(mesh5xx_diagnose::parse_timestamp(e.start_time).unwrap() + ms as i64);
            (ends, longest.max(ms))
        });
    let spread = ends.iter().max().unwrap() - ends.iter().min().unwrap();
    assert!(
        spread <= 1000 && longest >= 1900,
        "{spread} ms, {longest} ms: {cut:?}"
    );
    for fix in ["drain-longer-than-requests", "caller-retries-reset"] {
        assert_eq!(variant(&s, fix)["errors"], 0, "{fix}");
    }
    // The retried requests were cut at the server all the same.
    let retried = sidecar(variant(&s, "caller-retries-reset"), "srv-a-0");
    assert!(with_flag(&retried["flags"], "DC") > 0, "{retried}");
    // diagnose names the caller's 503 UC as this scenario.
    let log = scratch.path().join("baseline/access-client.log");
    let o = mesh5xx()
        .args(["diagnose", "--json", log.to_str().unwrap()])
        .output()
        .unwrap();
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        d["groups"][0]["scenario"], "config-push-drain",
        "{:#}",
        d["groups"]
    );
}

/// The calling pod terminates while its app still calls out: from the moment pilot-agent
/// stops Envoy (terminationDrainDuration after SIGTERM) the app's calls fail on its own
/// connections, and the sidecar logs none of them; a sidecar that waits for the app's
/// connections (EXIT_ON_ZERO_ACTIVE_CONNECTIONS), a native sidecar or a longer drain leave
/// none.
#[test]
fn a_sidecar_that_exits_before_its_app_fails_the_apps_last_calls() {
    let scratch = Scratch::new("sidecar-exits");
    let s = run_checked("sidecar-exits-before-app", &[], &scratch);
    let base = variant(&s, "baseline");
    let errors = base["errors"].as_u64().unwrap();
    let transport: u64 = base["transport_errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert!(errors > 0 && transport == errors, "{base}");
    let at = |step: &str| client_step(&scratch, "baseline", step);
    let stopped = at("sidecar-stopped");
    let terminating = at("terminating");
    assert!(
        stopped >= terminating + 5000,
        "terminating at {terminating} ms, stopped at {stopped} ms"
    );
    // No error in a second that ended well before the sidecar stopped (the load generator's
    // clock starts a little after the lifecycle's, up to a second on a busy machine).
    for second in base["timeline"].as_array().unwrap() {
        if (second["t"].as_u64().unwrap() + 2) * 1000 <= stopped {
            assert_eq!(second["errors"], 0, "stopped at {stopped} ms: {second}");
        }
    }
    for fix in [
        "termination-drain-longer",
        "exit-on-zero-active-connections",
        "native-sidecar",
    ] {
        assert_eq!(variant(&s, fix)["errors"], 0, "{fix}");
    }
    // EXIT_ON_ZERO_ACTIVE_CONNECTIONS: the sidecar outlived the load (the app's connections).
    let stopped = client_step(
        &scratch,
        "exit-on-zero-active-connections",
        "sidecar-stopped",
    );
    assert!(stopped >= 10_000, "stopped at {stopped} ms");
}

/// A Deployment scaled up while the load runs: without an app readiness probe each new pod
/// is published once its sidecar is ready, before its app listens, and its sidecar answers
/// 503 UF until then; with the probe it is published only once its app listens. Scaled down
/// (the same scenario from 3 pods to 1, with a preStop sleep), the newest pods go and the
/// first one stays.
#[test]
fn a_scale_up_publishes_pods_before_their_app_listens_unless_probed_and_a_scale_down_takes_the_newest(
) {
    let scratch = Scratch::new("scale");
    let s = run_checked("scale-up-app-not-ready", &[], &scratch);
    let steps = |name: &str| lifecycle(&scratch, name);
    let base = variant(&s, "baseline");
    assert!(with_flag(&base["flags"], "UF") > 0, "{}", base["flags"]);
    let unprobed = steps("baseline");
    for pod in ["srv-a-1", "srv-a-2"] {
        assert!(
            when(&unprobed, pod, "endpoint-added") < when(&unprobed, pod, "app-listening"),
            "{unprobed:?}"
        );
        assert!(
            with_flag(&sidecar(base, pod)["flags"], "UF") > 0,
            "{}",
            base["sidecars"]
        );
    }
    assert_eq!(with_flag(&sidecar(base, "srv-a-0")["flags"], "UF"), 0);
    assert_eq!(variant(&s, "readiness-probe")["errors"], 0);
    let probed = steps("readiness-probe");
    for pod in ["srv-a-1", "srv-a-2"] {
        assert!(
            !probed.iter().any(|s| s.step == "app-listening"),
            "{probed:?}"
        );
        assert!(
            when(&probed, pod, "endpoint-added") > when(&probed, pod, "ready"),
            "{probed:?}"
        );
    }

    // Scale down from 3 to 1: the newest pods terminate, their endpoints removed.
    let down = Scratch::new("scale-down");
    let text =
        std::fs::read_to_string(scenarios_dir().join("scale-up-app-not-ready.yaml")).unwrap();
    let mut file: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    let topology = &mut file["defaults"]["topology"];
    topology["replicas"] = 3.into();
    topology["scale"]["replicas"] = 1.into();
    topology["pod"] = yaml_serde::from_str("{pre_stop_ms: 2000}").unwrap();
    file["name"] = "scale-down".into();
    file["fixes"] = yaml_serde::from_str("[{fix: a preStop sleep}]").unwrap();
    file["variants"] = yaml_serde::from_str(
        "[{name: baseline, description: scale down, expect: {min_requests: 3500, max_errors: 0}}]",
    )
    .unwrap();
    let path = down.path().join("scale-down.yaml");
    std::fs::write(&path, yaml_serde::to_string(&file).unwrap()).unwrap();
    let s = run_checked(path.to_str().unwrap(), &[], &down);
    assert_eq!(variant(&s, "baseline")["errors"], 0);
    let steps = lifecycle(&down, "baseline");
    for pod in ["srv-a-1", "srv-a-2"] {
        when(&steps, pod, "endpoint-removed");
        when(&steps, pod, "sidecar-stopped");
    }
    assert!(!steps.iter().any(|s| s.pod == "srv-a-0"), "{steps:?}");
}

/// An app container killed twice while the load runs: its pod's sidecar answers 503 UF
/// until the kubelet has seen the exit and the endpoint's removal is pushed; the kubelet
/// restarts it at once the first time and after its back-off the second; the pod is
/// published again once its probe succeeds, or at the restart without a probe, which costs
/// more errors. Retries on the caller's side hide every one.
#[test]
fn a_crashed_app_is_restarted_by_the_kubelet_and_answers_503_until_its_endpoint_is_removed() {
    let scratch = Scratch::new("crash");
    let s = run_checked("app-crash-loop", &[], &scratch);
    let base = variant(&s, "baseline");
    assert!(
        with_flag(&sidecar(base, "srv-a-0")["flags"], "UF") > 0,
        "{}",
        base["sidecars"]
    );
    for pod in ["srv-a-1", "srv-a-2"] {
        assert_eq!(with_flag(&sidecar(base, pod)["flags"], "UF"), 0, "{pod}");
    }
    let steps = lifecycle(&scratch, "baseline");
    let all = |step: &str| -> Vec<u64> {
        steps
            .iter()
            .filter(|s| s.pod == "srv-a-0" && s.step == step)
            .map(|s| s.t_ms)
            .collect()
    };
    let (killed, seen, restarted) = (
        all("app-oom-killed"),
        all("not-ready"),
        all("app-restarted"),
    );
    let (listening, ready, added) = (all("app-listening"), all("ready"), all("endpoint-added"));
    assert_eq!(killed.len(), 2, "{steps:?}");
    for k in 0..2 {
        assert!(killed[k] < seen[k] && seen[k] <= restarted[k], "{steps:?}");
        // The probe succeeds once the app listens, and the pod is published after.
        assert!(
            restarted[k] < listening[k] && listening[k] <= ready[k],
            "{steps:?}"
        );
        assert!(ready[k] < added[k], "{steps:?}");
    }
    // CrashLoopBackOff: none before the first restart, 2 s from the exit before the second.
    assert!(restarted[1] - killed[1] >= 2000, "{steps:?}");
    assert!(
        restarted[0] - killed[0] < restarted[1] - killed[1],
        "{steps:?}"
    );
    assert_eq!(all("endpoint-removed").len(), 2, "{steps:?}");

    // Without a probe the restarted pod is ready at once, before its app listens, and the
    // callers meet the app's start-up too.
    let unprobed = lifecycle(&scratch, "no-readiness-probe");
    let first = |step: &str| when(&unprobed, "srv-a-0", step);
    assert!(first("ready") < first("app-listening"), "{unprobed:?}");
    let errors = |name: &str| variant(&s, name)["errors"].as_u64().unwrap();
    assert!(
        errors("no-readiness-probe") > errors("baseline"),
        "{} vs {}",
        errors("no-readiness-probe"),
        errors("baseline")
    );
    let retried = variant(&s, "caller-retries");
    assert!(
        with_flag(&sidecar(retried, "srv-a-0")["flags"], "UF") > 0,
        "{}",
        retried["sidecars"]
    );
}

/// A DestinationRule connection pool smaller than the calls in flight: the caller's sidecar
/// answers the surplus 503 UO itself, and the server never sees it; Istio's defaults or a
/// pool sized to the load leave no error. A retry over `maxRetries` is not sent: the app's
/// own 503 goes back flagged UO; without `maxRetries` every retry is sent.
#[test]
fn a_connection_pool_below_the_calls_in_flight_overflows_at_the_caller() {
    let scratch = Scratch::new("circuit-breaker");
    let s = run_checked("circuit-breaker-uo", &[], &scratch);
    for name in ["baseline", "max-requests"] {
        let v = variant(&s, name);
        let uo = with_flag(&sidecar(v, "client")["flags"], "UO");
        assert!(uo > 0, "{name}: {}", v["sidecars"]);
        // The overflowed requests never reach the server's sidecar.
        let served: u64 = sidecar(v, "srv-a-0")["flags"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        let requests = v["requests"].as_u64().unwrap();
        assert!(
            served + uo <= requests,
            "{name}: {served} + {uo} > {requests}"
        );
    }
    for name in [
        "istio-defaults",
        "pool-sized-to-load",
        "retries-within-budget",
    ] {
        assert_eq!(variant(&s, name)["errors"], 0, "{name}");
    }
    // A retry over maxRetries is not sent: the app's own 503 goes back, flagged UO by the
    // caller's sidecar, one upstream_rq_retry_overflow each.
    let v = variant(&s, "retries-overflow");
    let errors = v["errors"].as_u64().unwrap();
    let log = access_log(&scratch, "retries-overflow", "client");
    let overflowed = log
        .iter()
        .filter_map(|l| mesh5xx_accesslog::parse_line(l).ok())
        .filter(|e| e.response_code == 503)
        .inspect(|e| {
            assert_eq!(
                (e.response_flags, e.response_code_details),
                ("UO", Some("via_upstream"))
            )
        })
        .count() as u64;
    assert_eq!(overflowed, errors);
    let stats =
        std::fs::read_to_string(scratch.path().join("retries-overflow/stats-client.txt")).unwrap();
    let stat = "cluster.outbound|80||srv-a.default.svc.cluster.local.upstream_rq_retry_overflow: ";
    let counted = stats
        .lines()
        .find_map(|l| l.strip_prefix(stat))
        .and_then(|n| n.parse::<u64>().ok());
    assert_eq!(counted, Some(errors), "{stats}");
}

/// A per-try timeout below the app's slow tail: every attempt of a slow request is cut, and
/// the caller's sidecar answers 504 UT,URX once the retries are used up; a route timeout
/// shorter than the attempts ends the request first (UT, response_timeout); with Istio's
/// default retryOn a per-try timeout is not retried. A per-try timeout above the slow tail, or
/// retries on failures only, leave no error.
#[test]
fn a_per_try_timeout_below_the_slow_tail_fails_every_attempt() {
    let scratch = Scratch::new("per-try-timeout");
    let s = run_checked("per-try-timeout", &[], &scratch);
    // (variant, flags, details, attempts the app served per failed request, duration in ms;
    // the logged duration can be a few milliseconds short of the timeouts it adds up)
    for (name, flags, details, attempts, took) in [
        (
            "baseline",
            "URX,UT",
            "upstream_per_try_timeout",
            3,
            740..1500,
        ),
        (
            "default-retry-on",
            "UT",
            "upstream_per_try_timeout",
            1,
            240..500,
        ),
        (
            "route-timeout-below-attempts",
            "UT",
            "response_timeout",
            2,
            590..800,
        ),
    ] {
        let v = variant(&s, name);
        let client = &sidecar(v, "client")["flags"];
        let failed = client[flags].as_u64().unwrap_or(0);
        assert_eq!(failed, v["errors"].as_u64().unwrap(), "{name}: {client}");
        let lines = access_log(&scratch, name, "client");
        for line in lines.iter().filter(|l| l.contains(" 504 ")) {
            let e = mesh5xx_accesslog::parse_line(line).unwrap();
            assert_eq!(
                (e.response_flags, e.response_code_details, e.bytes_sent),
                (flags, Some(details), 24),
                "{name}: {line}"
            );
            let ms = e.duration_ms.unwrap();
            assert!(took.contains(&ms), "{name}: {ms} ms: {line}");
        }
        // Each failed request reached the app `attempts` times or more (the route timeout
        // cuts the third attempt of some); the cut attempts are the server sidecar's 0 DC.
        let cut = with_flag(&sidecar(v, "srv-a-0")["flags"], "DC");
        assert!(
            cut >= failed * attempts && cut <= failed * 3,
            "{name}: {cut} cut attempts for {failed} failed requests"
        );
    }
    for name in ["per-try-above-slow-tail", "retry-failures-not-slowness"] {
        let v = variant(&s, name);
        assert_eq!(v["errors"], 0, "{name}");
        assert_eq!(
            with_flag(&sidecar(v, "srv-a-0")["flags"], "DC"),
            0,
            "{name}"
        );
    }
}

/// A VirtualService whose routes match no request: the caller's sidecar answers 404 NR
/// itself; a route to an undefined subset: 503 NC. The server never sees either; a default
/// route or the subset's DestinationRule fix them.
#[test]
fn a_request_no_route_takes_is_answered_by_the_callers_sidecar() {
    let scratch = Scratch::new("no-route");
    let s = run_checked("no-route-nr", &[], &scratch);
    for (name, code, flags, details) in [
        ("baseline", "404", "NR", "route_not_found"),
        ("subset-not-defined", "503", "NC", "cluster_not_found"),
    ] {
        let v = variant(&s, name);
        let requests = v["requests"].as_u64().unwrap();
        let client = sidecar(v, "client");
        assert_eq!(
            client["responses"][code].as_u64(),
            Some(requests),
            "{name}: {client}"
        );
        assert_eq!(client["flags"][flags].as_u64(), Some(requests), "{name}");
        assert_eq!(sidecar(v, "srv-a-0")["requests"], 0, "{name}");
        let lines = access_log(&scratch, name, "client");
        let e = mesh5xx_accesslog::parse_line(&lines[0]).unwrap();
        assert_eq!(
            (e.response_code_details, e.bytes_sent, e.upstream_host),
            (Some(details), 0, None),
            "{name}: {}",
            lines[0]
        );
    }
    every_request_answered_200(&s, &["default-route", "destination-rule-subset"]);
}

/// REGISTRY_ONLY without a ServiceEntry: the caller's sidecar answers 502 itself on the
/// block_all route, without a flag or a cluster, and the host sees nothing; a ServiceEntry
/// (DNS or NONE) or ALLOW_ANY leave no error.
#[test]
fn registry_only_blocks_an_external_host_without_a_service_entry() {
    let scratch = Scratch::new("registry-only");
    let s = run_checked("registry-only-blackhole", &[], &scratch);
    let base = variant(&s, "baseline");
    let requests = base["requests"].as_u64().unwrap();
    assert_eq!(base["errors"].as_u64(), Some(requests));
    let client = sidecar(base, "client");
    assert_eq!(
        client["responses"]["502"].as_u64(),
        Some(requests),
        "{client}"
    );
    let lines = access_log(&scratch, "baseline", "client");
    let e = mesh5xx_accesslog::parse_line(&lines[0]).unwrap();
    assert_eq!(
        (
            e.response_flags,
            e.response_code_details,
            e.bytes_sent,
            e.upstream_cluster,
            e.route_name
        ),
        ("-", Some("direct_response"), 0, None, Some("block_all")),
        "{}",
        lines[0]
    );
    for name in ["serviceentry-dns", "serviceentry-none", "allow-any"] {
        assert_eq!(variant(&s, name)["errors"], 0, "{name}");
    }
}

/// HTTP/1.0 callers get 426 from their own sidecar (DPE `low_version`) until their pod's
/// proxyMetadata says ISTIO_META_HTTP10 "1"; a Service port named http2 in front of an
/// HTTP/1.1 app fails every call with 502 UPE at the server's sidecar, which a DestinationRule's
/// DO_NOT_UPGRADE does not undo and the port named http does.
#[test]
fn protocol_mismatch_refuses_http10_and_fails_http2_to_an_http1_app() {
    let scratch = Scratch::new("protocol");
    let s = run_checked("protocol-mismatch", &[], &scratch);
    let base = variant(&s, "baseline");
    let requests = base["requests"].as_u64().unwrap();
    assert_eq!(
        sidecar(base, "client")["responses"]["426"].as_u64(),
        Some(requests),
        "{base}"
    );
    assert_eq!(sidecar(base, "srv-a-0")["requests"], 0);
    let lines = access_log(&scratch, "baseline", "client");
    let e = mesh5xx_accesslog::parse_line(&lines[0]).unwrap();
    assert_eq!(
        (e.response_flags, e.response_code_details, e.bytes_sent),
        ("DPE", Some("low_version"), 16),
        "{}",
        lines[0]
    );
    for name in ["port-named-http2", "do-not-upgrade"] {
        let v = variant(&s, name);
        let requests = v["requests"].as_u64().unwrap();
        assert_eq!(
            sidecar(v, "srv-a-0")["flags"]["UPE"].as_u64(),
            Some(requests),
            "{name}"
        );
        let lines = access_log(&scratch, name, "srv-a-0");
        let e = mesh5xx_accesslog::parse_line(&lines[0]).unwrap();
        assert_eq!(
            (e.response_code, e.response_code_details, e.bytes_sent),
            (
                502,
                Some("upstream_reset_before_response_started{protocol_error}"),
                87
            ),
            "{name}: {}",
            lines[0]
        );
    }
    every_request_answered_200(
        &s,
        &["http10-metadata", "port-named-http", "upgrade-named-http"],
    );
}

/// mTLS mismatches, each with the lines Envoy really writes: plaintext into STRICT is `503
/// UC` at the caller and `NR filter_chain_not_found` on the server's listener; TLS into a
/// plaintext port and an expired certificate fail the caller's handshake (`503 URX,UF` with
/// the TLS error in the details); auto mTLS against STRICT answers every request.
#[test]
fn mtls_mismatches_fail_with_their_tls_signatures() {
    let scratch = Scratch::new("mtls");
    let s = run_checked(
        "mtls-mismatch",
        &[
            "--variant",
            "baseline",
            "--variant",
            "strict-auto-mtls",
            "--variant",
            "tls-into-plaintext",
            "--variant",
            "expired-cert",
        ],
        &scratch,
    );
    let base = variant(&s, "baseline");
    let requests = base["requests"].as_u64().unwrap();
    assert_eq!(
        sidecar(base, "client")["flags"]["UC"].as_u64(),
        Some(requests)
    );
    let server = access_log(&scratch, "baseline", "srv-a-0");
    assert!(
        server.len() as u64 >= requests - 10
            && server
                .iter()
                .all(|l| l.contains(" 0 NR filter_chain_not_found ")),
        "{:?}",
        &server[..server.len().min(3)]
    );
    // The server's sidecar reads the ClientHello as HTTP (400 DPE); it never sees the
    // handshake its expired certificate fails.
    for (name, reason, server) in [
        ("tls-into-plaintext", "WRONG_VERSION_NUMBER", Some("400")),
        ("expired-cert", "certificate_has_expired", None),
    ] {
        let v = variant(&s, name);
        let requests = v["requests"].as_u64().unwrap();
        assert_eq!(v["errors"].as_u64(), Some(requests), "{name}");
        let lines = access_log(&scratch, name, "client");
        let e = mesh5xx_accesslog::parse_line(&lines[0]).unwrap();
        assert_eq!(
            (e.response_code, e.response_flags),
            (503, "URX,UF"),
            "{name}"
        );
        let details = e.response_code_details.unwrap();
        assert!(
            details.starts_with(
                "upstream_reset_before_response_started{remote_connection_failure|TLS_error:"
            ) && details.contains(reason),
            "{name}: {details}"
        );
        let responses = sidecar(v, "srv-a-0")["responses"]
            .as_object()
            .unwrap()
            .clone();
        let codes: Vec<&str> = responses.keys().map(String::as_str).collect();
        assert_eq!(codes, server.as_slice(), "{name}");
    }
    let fixed = variant(&s, "strict-auto-mtls");
    assert_eq!(fixed["errors"], 0);
    assert!(fixed["requests"].as_u64().unwrap() >= 1100);
}

#[test]
fn protocol_sniffing_stalls_a_server_first_protocol_until_the_client_gives_up() {
    let scratch = Scratch::new("sniffing");
    let s = run_checked("protocol-sniffing-server-first", &[], &scratch);
    let base = variant(&s, "baseline");
    let requests = base["requests"].as_u64().unwrap();
    // Every connection waited the client's whole 2 s for a banner; the app never got one and
    // neither sidecar logged anything.
    assert_eq!(
        base["transport_errors"]["no_banner"].as_u64(),
        Some(requests),
        "{}",
        base["transport_errors"]
    );
    assert!(
        base["latency_ms"]["p50"].as_f64().unwrap() >= 2000.0,
        "{base}"
    );
    assert_eq!(base["app_connections"]["opened"], 0);
    for pod in ["client", "srv-a-0"] {
        assert_eq!(sidecar(base, pod)["requests"], 0, "{pod}");
        assert!(access_log(&scratch, "baseline", pod).is_empty(), "{pod}");
    }
    // A detection timeout set by the install: the caller's sidecar stops waiting after it and
    // finds no chain for the connection (its HTTP chain matches raw_buffer): closed at 500 ms.
    let timed = variant(&s, "detection-timeout-500ms");
    assert_eq!(
        timed["transport_errors"]["closed_before_response"], timed["requests"],
        "{}",
        timed["transport_errors"]
    );
    let p50 = timed["latency_ms"]["p50"].as_f64().unwrap();
    assert!((500.0..1000.0).contains(&p50), "{}", timed["latency_ms"]);
    // Named for TCP: a TCP proxy on both sidecars, a TCP line (code 0) each, every exchange
    // answered.
    for name in ["port-named-tcp", "app-protocol-tcp"] {
        let v = variant(&s, name);
        let requests = v["requests"].as_u64().unwrap();
        assert_eq!(v["errors"], 0, "{name}");
        assert_eq!(
            v["app_connections"]["opened"].as_u64(),
            Some(requests),
            "{name}"
        );
        let lines = access_log(&scratch, name, "srv-a-0");
        let e = mesh5xx_accesslog::parse_line(&lines[0]).unwrap();
        assert_eq!(e.response_code, 0, "{}", lines[0]);
        assert!(
            v["latency_ms"]["p50"].as_f64().unwrap() < 100.0,
            "{name}: {}",
            v["latency_ms"]
        );
    }
}
