//! Stopping cleanly: SIGTERM keeps results, kill -9 leaves no children, runs don't collide.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn spawn_run(out: &Scratch, extra: &[&str]) -> Child {
    spawn_scenario("inbound-app-down-uf", out, extra)
}

fn spawn_scenario(scenario: &str, out: &Scratch, extra: &[&str]) -> Child {
    let mut args = vec!["run", scenario, "--out", out.arg()];
    args.extend_from_slice(extra);
    mesh5xx()
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_every_child_and_keeps_recorded_variants() {
    let out = Scratch::new("sigterm");
    let mut child = spawn_run(&out, &["--duration", "2"]);
    // Wait until the first variant is recorded and the second one's Envoy is up.
    wait_for("a recorded variant", 60, || {
        std::fs::read_to_string(out.path().join("summary.json"))
            .is_ok_and(|t| t.contains("\"dir\""))
    });
    wait_for("the second variant's sidecars", 30, || {
        out.path()
            .join("client-default-retries-two-replicas/envoy-client.admin")
            .exists()
    });
    signal(&child, libc::SIGTERM);
    let o = wait_with_timeout(&mut child, 30).and_then(|s| s.code());
    assert_eq!(o, Some(130), "exit code after SIGTERM");
    let s = summary(out.path());
    assert_eq!(s["interrupted"], true);
    assert!(!s["variants"].as_array().unwrap().is_empty());
    assert_matches_schema(&s);
    assert!(
        wait_no_processes(out.arg(), 5).is_empty(),
        "children outlived SIGTERM"
    );
}

#[test]
fn kill_9_of_the_runner_takes_its_children_down() {
    let out = Scratch::new("kill9");
    let child = spawn_run(&out, &["--duration", "5"]);
    wait_for("the sidecar", 30, || {
        out.path().join("baseline/envoy-srv-a-0.admin").exists()
    });
    wait_for("the load generator", 30, || {
        processes_mentioning(out.arg()).len() >= 3
    });
    assert!(
        processes_mentioning(out.arg()).len() >= 3,
        "app, Envoy and loadgen should be running"
    );
    kill_9_leaves_nothing(child, &out, "children");
}

/// kill -9 the runner `child`: nothing it started under `out` may survive it.
fn kill_9_leaves_nothing(mut child: Child, out: &Scratch, what: &str) {
    signal(&child, libc::SIGKILL);
    let _ = child.wait();
    let left = wait_no_processes(out.arg(), 5);
    assert!(
        left.is_empty(),
        "{what} survived kill -9 of the runner: {left:?}"
    );
}

/// A rollout in progress: old pods terminating, new pods starting; kill -9 of the runner
/// takes every one of them down.
#[test]
fn kill_9_during_a_rollout_takes_old_and_new_pods_down() {
    let out = Scratch::new("kill9-rollout");
    let child = spawn_scenario(
        "rolling-update-stale-endpoints",
        &out,
        &["--variant", "rolling-update-min-ready"],
    );
    let steps = out.path().join("rolling-update-min-ready/lifecycle.jsonl");
    wait_for("a new pod ready and an old one terminating", 60, || {
        std::fs::read_to_string(&steps).is_ok_and(|t| {
            t.contains(r#""pod":"srv-a-2","step":"ready""#) && t.contains(r#""step":"terminating""#)
        })
    });
    assert!(
        out.path()
            .join("rolling-update-min-ready/envoy-srv-a-2.admin")
            .exists(),
        "the new pod's sidecar runs"
    );
    kill_9_leaves_nothing(child, &out, "pods mid-rollout");
}

#[test]
fn two_runs_at_once_do_not_interfere() {
    let (a, b) = (Scratch::new("twin-a"), Scratch::new("twin-b"));
    let mut ca = spawn_run(&a, &["--variant", "baseline", "--check"]);
    let mut cb = spawn_run(&b, &["--variant", "baseline", "--check"]);
    assert_eq!(
        wait_with_timeout(&mut ca, 90).and_then(|s| s.code()),
        Some(0)
    );
    assert_eq!(
        wait_with_timeout(&mut cb, 90).and_then(|s| s.code()),
        Some(0)
    );
    for d in [&a, &b] {
        let s = summary(d.path());
        assert_eq!(s["passed"], true);
        // Each run's sidecar saw only its own client's requests.
        let v = &s["variants"][0];
        let sidecar_lines = v["sidecars"][0]["requests"].as_u64().unwrap();
        assert_eq!(sidecar_lines, v["requests"].as_u64().unwrap());
    }
}
