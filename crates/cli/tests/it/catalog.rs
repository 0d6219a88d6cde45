//! `list`, `explain`, and bad input: clear errors, exit 2.

use crate::support::*;

#[test]
fn list_prints_one_scenario_name_first_per_line() {
    let o = run(&["list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    for want in ["inbound-app-down-uf", "inbound-keepalive-uc"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
}

#[test]
fn list_json_has_variants_with_descriptions() {
    let o = run(&["list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = v["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "inbound-keepalive-uc")
        .unwrap();
    let variants = s["variants"].as_array().unwrap();
    assert_eq!(variants[0]["name"], "baseline");
    assert!(variants.len() >= 6);
    assert!(variants
        .iter()
        .all(|v| !v["description"].as_str().unwrap().is_empty()));
}

#[test]
fn explain_shows_mechanism_and_the_istio_yaml_of_mitigations() {
    let o = run(&["explain", "inbound-keepalive-uc"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    assert!(
        t.contains("MECHANISM") && t.contains("kind: DestinationRule") && t.contains("idleTimeout"),
        "{t}"
    );
}

#[test]
fn unknown_scenario_variant_and_profile_exit_2_naming_them() {
    for (args, want) in [
        (
            vec!["run", "no-such-scenario"],
            "no scenario named \"no-such-scenario\"",
        ),
        (
            vec!["run", "inbound-keepalive-uc", "--variant", "nope"],
            "no variant \"nope\"",
        ),
        (
            vec!["run", "inbound-keepalive-uc", "--profile", "istio-9.9"],
            "no Istio profile named \"istio-9.9\"",
        ),
        (
            vec!["run", "inbound-keepalive-uc", "--duration", "abc"],
            "abc",
        ),
        (vec!["explain", "nope"], "no scenario named"),
    ] {
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn a_bad_scenario_file_names_the_file_and_the_field() {
    // Typos in a fault's parameters, in the load generator's mode, in an egress setting and in
    // an expected flag fail when the catalog is read, not in the middle of a run.
    let cases = [
        (
            "inbound-keepalive-uc.yaml",
            "idle-close: {after_ms: 20}",
            "idle-close: {aftr_ms: 20}",
            "aftr_ms",
        ),
        (
            "inbound-keepalive-uc.yaml",
            "idle-close: {after_ms: 20}",
            "idle-closed: {after_ms: 20}",
            "unknown fault `idle-closed`",
        ),
        (
            "outbound-firewall-uf.yaml",
            "resolve_mode: \"every-ms:1000\"",
            "resolve_mode: \"evry-ms:1000\"",
            "evry-ms:1000",
        ),
        (
            "outbound-elb-ip-change.yaml",
            "old_address: stop_accepting",
            "old_address: stop_acepting",
            "stop_acepting",
        ),
        (
            "outbound-firewall-uf.yaml",
            "firewall-expiry: {after_ms: 3000}",
            "firewall-expiry: {after_ms: 3000, on_expired: drop}",
            "topology.external.faults.firewall-expiry.on_expired",
        ),
        (
            "outbound-firewall-uf.yaml",
            "firewall-expiry: {after_ms",
            "firewall-expire: {after_ms",
            "unknown field `firewall-expire`",
        ),
        (
            "inbound-app-down-uf.yaml",
            "error_flags: [UF",
            "error_flags: [UFF",
            "UFF",
        ),
    ];
    for (file, from, to, want) in cases {
        let dir = Scratch::new("bad-scenario");
        let good = std::fs::read_to_string(scenarios_dir().join(file)).unwrap();
        let bad = good.replacen(from, to, 1);
        assert_ne!(good, bad, "{file} has no {from:?}");
        std::fs::write(dir.path().join(file), bad).unwrap();
        let o = mesh5xx()
            .env("MESH5XX_SCENARIOS", dir.path())
            .arg("list")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{to}");
        let e = stderr(&o);
        assert!(e.contains(file) && e.contains(want), "{to}: {e}");
    }
}

#[test]
fn every_scenario_has_a_committed_reference_result_matching_the_schema() {
    let o = run(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let root = scenarios_dir().join("..");
    for s in v["scenarios"].as_array().unwrap() {
        let (name, profile) = (s["name"].as_str().unwrap(), s["profile"].as_str().unwrap());
        let dir = root.join("results/reference").join(profile).join(name);
        let summary = summary(&dir);
        assert_matches_schema(&summary);
        assert_eq!(summary["scenario"], name);
        // Every variant ran, or is recorded as not applicable under the profile.
        let mut recorded = variant_names(&summary);
        for n in summary["not_applicable"].as_array().into_iter().flatten() {
            recorded.push(n["variant"].as_str().unwrap());
        }
        for variant in s["variants"].as_array().unwrap() {
            assert!(
                recorded.contains(&variant["name"].as_str().unwrap()),
                "{name}: no reference for {}",
                variant["name"]
            );
        }
    }
    assert!(root.join("results/README.md").exists());
}

#[test]
fn explain_quotes_a_real_access_log_line_from_the_reference_run() {
    let o = run(&["explain", "inbound-keepalive-uc"]);
    let t = stdout(&o);
    let line = t
        .lines()
        .skip_while(|l| !l.starts_with("A REAL LINE"))
        .nth(1)
        .expect("a sample line");
    let e = mesh5xx_accesslog::parse_line(line.trim()).unwrap();
    assert_eq!((e.response_code, e.response_flags), (503, "UC"));
    assert!(t.contains("measured:"), "{t}");
    assert!(!t.contains("\x1b["), "no colour when piped");
}

#[test]
fn diagnose_names_the_scenario_of_the_labs_own_access_logs() {
    let root = scenarios_dir().join("../results/reference");
    for (profile, scenario, format) in [
        ("istio-1.4", "inbound-keepalive-uc", "istio-legacy"),
        ("istio-1.13", "inbound-keepalive-uc", "istio-current"),
        ("istio-1.4", "inbound-app-down-uf", "istio-legacy"),
        ("istio-1.24", "inbound-app-down-uf", "istio-current"),
        ("istio-1.4", "outbound-firewall-uf", "istio-legacy"),
        ("istio-1.4", "outbound-timeout-ut", "istio-legacy"),
        ("istio-1.13", "pod-shutdown", "istio-current"),
        ("istio-1.24", "pod-shutdown", "istio-current"),
        ("istio-1.24", "scale-up-app-not-ready", "istio-current"),
        ("istio-1.24", "circuit-breaker-uo", "istio-current"),
        ("istio-1.24", "per-try-timeout", "istio-current"),
        ("istio-1.24", "node-lost", "istio-current"),
        // Its baseline's 404 NR is below 500: the 503 NC of a missing subset is what diagnose reads.
        (
            "istio-1.24",
            "no-route-nr/subset-not-defined",
            "istio-current",
        ),
    ] {
        // Not inbound-localhost-vs-pod-ip: its lines are pod-shutdown's, line for line (a
        // refused connect to the pod's own address); what tells them apart is an upstream that
        // never answered, which its sample (503s only) cannot show.
        let (scenario, variant) = scenario.split_once('/').unwrap_or((scenario, "baseline"));
        // Repeated runs keep their samples per run, a single run in the variant's directory.
        let variant = root.join(profile).join(scenario).join(variant);
        let log = [
            variant.join("run-1/samples.log"),
            variant.join("samples.log"),
        ]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no samples.log under {}", variant.display()));
        let o = run(&["diagnose", "--json", log.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(
            d["formats"][format].as_u64().unwrap() > 0,
            "{profile} {scenario}: {}",
            d["formats"]
        );
        // The largest group is the scenario's (a crash also cuts a request or two in flight:
        // a `503 UC` group of its own, named as the keep-alive race it looks like).
        let groups = d["groups"].as_array().unwrap();
        assert!(
            groups.first().is_some_and(|g| g["scenario"] == scenario),
            "{profile} {scenario}: {groups:#?}"
        );
    }
}

/// `mesh5xx ARGS`'s output, which must appear in README.md verbatim.
fn readme_holds_the_output_of(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    let readme = std::fs::read_to_string(scenarios_dir().join("../README.md")).unwrap();
    assert!(
        readme.contains(&table),
        "README.md does not hold `mesh5xx {}`; replace its table with:\n{table}",
        args.join(" ")
    );
    table
}

#[test]
fn the_readme_scenario_table_is_the_catalogs() {
    let table = readme_holds_the_output_of(&["list", "--markdown"]);
    for s in ["inbound-keepalive-uc", "outbound-timeout-ut"] {
        assert!(table.contains(&format!("| `{s}` |")), "{table}");
    }
}

#[test]
fn the_readme_istio_version_table_is_the_labs() {
    let table = readme_holds_the_output_of(&["list", "--istio-versions"]);
    assert!(
        table.contains("| VsRetryAddsRetriableStatusCodes | 1.12 |"),
        "{table}"
    );
}

/// `list --profiles` names every profile `--profile` takes, oldest first; one format at a time.
#[test]
fn list_profiles_names_what_profile_takes() {
    let o = run(&["list", "--profiles"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let names: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["istio-1.2", "istio-1.4", "istio-1.13", "istio-1.24"]
    );
    for name in &names {
        let o = run(&["render", "envoy", "inbound-keepalive-uc", "--profile", name]);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
    let o = run(&["list", "--profiles", "--json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}

#[test]
fn render_envoy_shows_each_sidecar_and_what_changes_between_versions() {
    const RENDER: &[&str] = &[
        "render",
        "envoy",
        "inbound-keepalive-uc",
        "--variant",
        "client-sidecar-default-retries",
    ];
    let o = run(RENDER);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("# srv-a-0 (server sidecar)") && out.contains("# client (client sidecar)"),
        "{out}"
    );
    assert!(
        out.contains("inbound|80|http|srv-a.default.svc.cluster.local"),
        "{out}"
    );
    let o = run(&[RENDER, &["--diff-profile", "istio-1.24"]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let diff = stdout(&o);
    assert!(diff.contains("--- istio-1.4\n+++ istio-1.24\n"), "{diff}");
    let line = |sign: char, text: &str| {
        diff.lines()
            .any(|l| l.starts_with(sign) && l.contains(text))
    };
    assert!(
        line('-', "inbound|80|http|srv-a") && line('+', "inbound|8080||"),
        "{diff}"
    );
    assert!(
        line('-', "ROUND_ROBIN") && line('+', "LEAST_REQUEST"),
        "{diff}"
    );
    // A variant its profile's istiod could not express is refused, naming the version.
    let o = run(&[
        "render",
        "envoy",
        "inbound-keepalive-uc",
        "--variant",
        "dr-max-connection-duration",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("needs Istio ≥ 1.15 (connectionPool.tcp.maxConnectionDuration); profile istio-1.4 predates it"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn diagnose_names_the_causes_no_access_log_shows() {
    let log = scenarios_dir().join("../crates/diagnose/tests/data/inbound_keepalive_uc.log");
    let o = run(&["diagnose", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let t = stdout(&o);
    let footer = t
        .split_once("Causes no access log shows")
        .unwrap_or_else(|| panic!("{t}"))
        .1;
    assert!(
        footer.contains("startup-race: the app's own connections refused at start-up")
            && footer.contains("mesh5xx explain startup-race"),
        "{t}"
    );
    let o = run(&["diagnose", "--json", log.to_str().unwrap()]);
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        d["not_in_log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["scenario"] == "startup-race"),
        "{}",
        d["not_in_log"]
    );
}

/// `--threads` changes nothing in the output, for a file and for stdin (`-`); a thread
/// count of 0 is refused.
#[test]
fn diagnose_prints_the_same_on_any_number_of_threads_from_a_file_or_stdin() {
    let log = scenarios_dir().join("../crates/diagnose/tests/data/app_crash_loop.log");
    let one = run(&["diagnose", "--threads", "1", log.to_str().unwrap()]);
    assert!(one.status.success(), "{}", stderr(&one));
    assert!(stdout(&one).contains("app-crash-loop"), "{}", stdout(&one));
    let three = run(&["diagnose", "--threads", "3", log.to_str().unwrap()]);
    assert_eq!(stdout(&three), stdout(&one));
    let piped = mesh5xx()
        .args(["diagnose", "--threads", "2", "-"])
        .stdin(std::fs::File::open(&log).unwrap())
        .output()
        .unwrap();
    assert!(piped.status.success(), "{}", stderr(&piped));
    assert_eq!(
        stdout(&piped),
        stdout(&one).replace(log.to_str().unwrap(), "-")
    );
    let zero = run(&["diagnose", "--threads", "0", log.to_str().unwrap()]);
    assert_eq!(zero.status.code(), Some(2), "{}", stdout(&zero));
}
