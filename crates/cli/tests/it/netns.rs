//! The netns network mode: pods in network namespaces with Istio's capture rules, the same
//! scenario files reaching the same conclusions, the scenario only it can show, and nothing
//! left behind whatever ends the run.

use std::collections::BTreeSet;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use mesh5xx_scenario::Catalog;
use mesh5xx_testkit::{needs_all, POD_NETWORK};

use crate::support::*;

/// Each scenario, its baseline and its first fix, with `--check`: the expectations measured
/// in the local mode hold with pods in namespaces and Istio's capture rules (the same
/// conclusion: the failure, and the fix that removes it); an outbound scenario's sidecar
/// calls the external address through the node, where the egress firewall is.
#[test]
fn every_scenario_reaches_its_local_conclusion_with_pods_in_namespaces_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    let catalog = Catalog::load(&scenarios_dir()).unwrap();
    let mut ran = Vec::new();
    for scenario in &catalog.scenarios {
        let fix = scenario
            .fixes
            .iter()
            .find_map(|f| f.variant.clone())
            .unwrap_or_else(|| panic!("{} names no fix variant", scenario.name));
        let out = Scratch::new(&format!("netns-{}", scenario.name));
        let started = Instant::now();
        let o = run(&[
            "run",
            &scenario.name,
            "--network",
            "netns",
            "--check",
            "--variant",
            "baseline",
            "--variant",
            &fix,
            "--out",
            out.arg(),
        ]);
        println!(
            "{}\n{}: {:.1} s wall",
            stdout(&o),
            scenario.name,
            started.elapsed().as_secs_f64()
        );
        assert!(
            o.status.success(),
            "{} / baseline, {fix} with --network netns missed the local expectations:\n{}\n{}",
            scenario.name,
            stdout(&o),
            stderr(&o)
        );
        let s = summary(out.path());
        assert_eq!(s["mode"], "netns");
        // The failure shows in netns mode too: errors, or answers of 400 and above (404 NR).
        let baseline = variant(&s, "baseline");
        let refused = baseline["responses"]
            .as_object()
            .unwrap()
            .keys()
            .any(|code| code.parse::<u16>().is_ok_and(|c| c >= 400));
        assert!(
            baseline["errors"].as_u64().unwrap() > 0 || refused,
            "{}: {baseline}",
            scenario.name
        );
        if scenario.variants[0].topology.external.is_some() {
            // The client pod's sidecar called the external address itself, through the node
            // where the egress firewall sits.
            let log =
                std::fs::read_to_string(out.path().join("baseline/access-client.log")).unwrap();
            assert!(
                log.lines().any(|l| l.contains(" 198.18.0.")),
                "{}: no call to the external range in\n{log}",
                scenario.name
            );
        }
        assert!(
            wait_no_processes(out.arg(), 5).is_empty(),
            "processes left behind"
        );
        ran.push(scenario.name.clone());
    }
    assert!(ran.len() >= 8, "scenarios run in netns mode: {ran:?}");
}

/// An app listening on 127.0.0.1 only: from Istio 1.10 the sidecar connects to the pod's
/// address and is refused (503 UF, the app sees nothing); before, it reached 127.0.0.1.
#[test]
fn an_app_on_localhost_is_refused_to_the_sidecar_from_istio_1_10_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    let (out, s) = run_in_netns("inbound-localhost-vs-pod-ip", &[]);
    let baseline = variant(&s, "baseline");
    assert_eq!(baseline["errors"], baseline["requests"]);
    let log = std::fs::read_to_string(out.path().join("baseline/access-srv-a-0.log")).unwrap();
    let first = log.lines().next().unwrap();
    assert!(first.contains(" 503 URX,UF "), "{first}");
    assert!(first.contains("inbound|8080||"), "{first}");
    assert!(
        first.contains("\"10.44."),
        "the pod's own address as upstream: {first}"
    );
    assert!(first.contains("Connection_refused"), "{first}");
    let app: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("baseline/app-0.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(app["requests"], 0, "the app saw nothing: {app}");
    assert_eq!(
        app["connections_opened"], 0,
        "nothing reached the app: {app}"
    );
    assert_eq!(variant(&s, "bind-any")["errors"], 0);
    // A Sidecar's ingress defaultEndpoint sends the inbound cluster to the app's loopback.
    assert_eq!(variant(&s, "sidecar-default-endpoint")["errors"], 0);
    let log = std::fs::read_to_string(
        out.path()
            .join("sidecar-default-endpoint/access-srv-a-0.log"),
    )
    .unwrap();
    assert!(
        log.lines()
            .all(|l| l.contains("\"127.0.0.1:8080\" inbound|8080||")),
        "{log}"
    );

    let old = Scratch::new("localhost-app-1.4");
    let o = run(&[
        "run",
        "inbound-localhost-vs-pod-ip",
        "--profile",
        "istio-1.4",
        "--variant",
        "baseline",
        "--check",
        "--out",
        old.arg(),
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let s = summary(old.path());
    assert_eq!(variant(&s, "baseline")["errors"], 0);
    assert!(variant(&s, "baseline")["requests"].as_u64().unwrap() >= 1000);

    let refused = local_mode_refusal("inbound-localhost-vs-pod-ip");
    assert!(refused.contains("run it with --network netns"), "{refused}");
}

/// A lost node: its pod's address stops answering while the pod is still an endpoint. The
/// callers' requests to it hang until the caller gives up, and only from the loss to the
/// endpoint's removal; the caller's sidecar logs them as `0 DC` with the lost pod's address
/// as the upstream; a short connect timeout with Istio's default retry takes most away.
#[test]
fn a_lost_nodes_pod_hangs_its_callers_until_its_endpoint_is_removed_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    let (out, s) = run_in_netns(
        "node-lost",
        &[
            "baseline",
            "short-connect-timeout",
            "caller-waits-no-retries",
        ],
    );
    let baseline = variant(&s, "baseline");
    let errors = baseline["errors"].as_u64().unwrap();
    assert!(errors > 0, "{baseline}");
    assert_eq!(
        baseline["transport_errors"]["timeout"].as_u64(),
        Some(errors),
        "every error is the caller giving up: {baseline}"
    );

    // The node is lost, the pod marked not ready after the grace period, then removed.
    let steps = std::fs::read_to_string(out.path().join("baseline/lifecycle.jsonl")).unwrap();
    let at = |step: &str| {
        steps
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["pod"] == "srv-a-0" && v["step"] == step)
            .unwrap_or_else(|| panic!("no {step} in {steps}"))["t_ms"]
            .as_u64()
            .unwrap()
    };
    let (lost, not_ready, removed) = (at("node-lost"), at("not-ready"), at("endpoint-removed"));
    assert!((4000..4300).contains(&(not_ready - lost)), "{steps}");
    assert!(removed >= not_ready + 500, "{steps}");
    // Errors only from the loss to the removal's push, plus the caller's 2 s timeout (by the
    // second a request was due: one due just before the loss may still be waiting at it).
    for second in baseline["timeline"].as_array().unwrap() {
        let t = second["t"].as_u64().unwrap();
        if second["errors"].as_u64().unwrap() > 0 {
            assert!(
                t * 1000 + 2000 > lost && t * 1000 <= removed + 2000 + 1000,
                "errors in second {t}, the node lost at {lost} ms and removed at {removed} ms"
            );
        }
    }

    // The caller's sidecar logs each as `0 DC`, upstream the lost pod's address.
    let client = std::fs::read_to_string(out.path().join("baseline/access-client.log")).unwrap();
    let dc: Vec<&str> = client.lines().filter(|l| l.contains(" 0 DC ")).collect();
    assert_eq!(dc.len() as u64, errors, "{client}");
    let upstream = |line: &str| {
        line.split('"')
            .find(|f| f.starts_with("10.44.") && f.ends_with(":8080"))
            .map(str::to_string)
    };
    let hosts: BTreeSet<Option<String>> = dc.iter().map(|l| upstream(l)).collect();
    let lost_pod = std::fs::read_to_string(out.path().join("baseline/access-srv-a-0.log")).unwrap();
    let lost_ip = lost_pod
        .lines()
        .find_map(upstream)
        .expect("srv-a-0 served before");
    assert_eq!(hosts, BTreeSet::from([Some(lost_ip)]), "{dc:#?}");

    // A caller that waits, without retries: Istio's 10 s connect timeout ends the connection
    // attempts to the lost pod, `503 UF` (a request that joined an attempt under way waits
    // the rest of it).
    let waits =
        std::fs::read_to_string(out.path().join("caller-waits-no-retries/access-client.log"))
            .unwrap();
    let uf: Vec<&str> = waits.lines().filter(|l| l.contains(" 503 UF ")).collect();
    assert!(!uf.is_empty(), "{waits}");
    for line in &uf {
        assert!(
            line.contains("upstream_reset_before_response_started{connection_timeout}"),
            "{line}"
        );
        let duration: u64 = line.split(' ').nth(11).unwrap().parse().unwrap();
        assert!((8000..=10_100).contains(&duration), "{line}");
    }

    let refused = local_mode_refusal("node-lost");
    assert!(
        refused.contains("topology.node_lost") && refused.contains("--network netns"),
        "{refused}"
    );
}

/// The error of `scenario`'s baseline run with `--network local`, which must fail.
fn local_mode_refusal(scenario: &str) -> String {
    let local = run(&[
        "run",
        scenario,
        "--network",
        "local",
        "--variant",
        "baseline",
    ]);
    assert!(!local.status.success(), "{scenario} ran in the local mode");
    stderr(&local)
}

/// Run `scenario` with `--check` (`variants`, or every one), leaving it to pick its network
/// mode, which must be netns; its run directory and summary.
fn run_in_netns(scenario: &str, variants: &[&str]) -> (Scratch, serde_json::Value) {
    let out = Scratch::new(scenario);
    let mut args = vec!["run", scenario, "--check", "--out", out.arg()];
    for v in variants {
        args.extend(["--variant", v]);
    }
    let o = run(&args);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let s = summary(out.path());
    assert_eq!(s["mode"], "netns", "{scenario} picks the netns mode itself");
    (out, s)
}

/// The pods of a running netns-mode run: the sandbox processes, and the network namespaces
/// of every process of the run.
struct Pods {
    sandboxes: Vec<u32>,
    namespaces: BTreeSet<String>,
}

fn pods_of(runner: u32, out: &Scratch) -> Pods {
    let sandboxes: Vec<u32> = processes_mentioning(mesh5xx_podnet::SANDBOX_ARGV0)
        .into_iter()
        .filter(|pid| parent(*pid) == Some(runner))
        .collect();
    let namespaces = sandboxes
        .iter()
        .copied()
        .chain(processes_mentioning(out.arg()))
        .filter_map(netns_of)
        .collect();
    Pods {
        sandboxes,
        namespaces,
    }
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn netns_of(pid: u32) -> Option<String> {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .ok()
        .map(|l| l.display().to_string())
}

/// No process is left in any of `namespaces`, no sandbox process lives, no interface of the
/// run is in this (the machine's) namespace and no capture rule either.
fn nothing_left(pods: &Pods, out: &Scratch, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let alive: Vec<u32> = pods
            .sandboxes
            .iter()
            .copied()
            .filter(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        let in_pods: Vec<u32> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| netns_of(*pid).is_some_and(|ns| pods.namespaces.contains(&ns)))
            .collect();
        let left = wait_no_processes(out.arg(), 0);
        if alive.is_empty() && in_pods.is_empty() && left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: sandboxes {alive:?}, processes in the pods' namespaces {in_pods:?}, processes of the run {left:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let interfaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str().map(String::from))
        .filter(|n| n.starts_with(mesh5xx_process::netns::RUN_INTERFACE_PREFIX))
        .collect();
    assert!(interfaces.is_empty(), "{what}: interfaces {interfaces:?}");
    let rules = std::process::Command::new("iptables-legacy-save")
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains("ISTIO"),
        "{what}: capture rules in the machine's namespace"
    );
}

fn spawn_netns_run(out: &Scratch) -> Child {
    spawn_netns_run_with(out, &[])
}

fn spawn_netns_run_with(out: &Scratch, env: &[(&str, &str)]) -> Child {
    mesh5xx()
        .envs(env.iter().copied())
        .args([
            "run",
            "inbound-app-down-uf",
            "--network",
            "netns",
            "--duration",
            "5",
            "--out",
            out.arg(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the run's first variant has its pods and load running; returns them.
fn running_pods(child: &Child, out: &Scratch) -> Pods {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let pods = pods_of(child.id(), out);
        // Server and client sandboxes, and the load generator in the client's.
        let loadgen = processes_mentioning(out.arg()).into_iter().any(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.contains("loadgen"))
        });
        if pods.sandboxes.len() >= 2 && loadgen {
            assert!(
                pods.namespaces.len() >= 2,
                "pods in namespaces of their own"
            );
            return pods;
        }
        assert!(Instant::now() < deadline, "timed out waiting for the pods");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kill_9_of_a_netns_run_leaves_no_namespace_process_interface_or_rule_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    let out = Scratch::new("netns-kill9");
    let mut child = spawn_netns_run(&out);
    let pods = running_pods(&child, &out);
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    nothing_left(&pods, &out, "after kill -9");
}

/// A panic of the runner (its Rust code, not a signal): it exits, and nothing of the run
/// is left.
#[test]
fn a_panic_of_a_netns_run_leaves_no_namespace_process_interface_or_rule_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    let out = Scratch::new("netns-panic");
    let panic_env = mesh5xx_lab::runner::PANIC_AFTER_MS_ENV;
    let mut child = spawn_netns_run_with(&out, &[(panic_env, "3000")]);
    let pods = running_pods(&child, &out);
    let status = wait_with_timeout(&mut child, 30).expect("the run did not end after its panic");
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{status}");
    assert!(err.contains("panicked") && err.contains(panic_env), "{err}");
    nothing_left(&pods, &out, "after a panic");
}

#[test]
fn ctrl_c_and_sigterm_of_a_netns_run_keep_results_and_leave_nothing_needs_root() {
    if !needs_all(&POD_NETWORK) {
        return;
    }
    for (sig, name) in [(libc::SIGINT, "Ctrl-C"), (libc::SIGTERM, "SIGTERM")] {
        let out = Scratch::new("netns-stop");
        let mut child = spawn_netns_run(&out);
        let pods = running_pods(&child, &out);
        signal(&child, sig);
        let status = wait_with_timeout(&mut child, 30)
            .unwrap_or_else(|| panic!("{name}: the run did not stop"));
        assert_eq!(status.code(), Some(130), "{name}");
        assert_eq!(summary(out.path())["interrupted"], true, "{name}");
        nothing_left(&pods, &out, name);
    }
}
