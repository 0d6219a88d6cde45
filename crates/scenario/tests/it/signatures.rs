//! The catalog's signatures against access logs: each scenario's typical lines (fixtures in
//! the diagnose crate) are named as that scenario, with its fixes and the commands that
//! measure them. Nothing in `diagnose` knows the scenarios; these tests are where the
//! catalog and the classifier meet.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use mesh5xx_diagnose::{diagnose, Diagnosis, Rule};
use mesh5xx_scenario::Catalog;

fn rules() -> Vec<Rule> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let catalog = Catalog::load(&dir).unwrap();
    catalog.scenarios.iter().filter_map(|s| s.rule()).collect()
}

fn fixture(name: &str) -> Diagnosis {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../diagnose/tests/data")
        .join(name);
    diagnose(BufReader::new(File::open(path).unwrap()), rules())
}

fn scenarios(d: &Diagnosis) -> Vec<Option<&str>> {
    d.groups.iter().map(|g| g.scenario.as_deref()).collect()
}

#[test]
fn inbound_keepalive_uc() {
    let d = fixture("inbound_keepalive_uc.log");
    assert_eq!(scenarios(&d), [Some("inbound-keepalive-uc")]);
    let g = &d.groups[0];
    assert_eq!((g.code, g.flags.as_str(), g.count), (503, "UC", 17));
    assert_eq!(g.bytes_sent[0], ("95".to_owned(), 17));
    assert!(g.evidence.contains("reset reason: connection termination"));
    assert_eq!(
        g.command.as_deref(),
        Some("mesh5xx run inbound-keepalive-uc")
    );
    let first = &g.mitigations[0];
    assert!(first.fix.contains("idleTimeout"), "{first:?}");
    assert_eq!(
        first.measured_by.as_deref(),
        Some("mesh5xx run inbound-keepalive-uc --variant dr-idle-timeout")
    );
    assert!(first.cost.is_some());
}

#[test]
fn inbound_app_down_uf() {
    let d = fixture("inbound_app_down_uf.log");
    assert_eq!(scenarios(&d), [Some("inbound-app-down-uf")]);
    assert!(d.groups[0].evidence.contains("Connection_refused"));
    assert!(d.groups[0]
        .evidence
        .contains("the failing upstream answered again after its last error"));
}

/// The same refused connects as `inbound_app_down_uf`, but the pod's log ends with them:
/// nothing answered again, the pod went away.
#[test]
fn pod_shutdown_ends_the_log() {
    let d = fixture("pod_shutdown.log");
    assert_eq!(scenarios(&d), [Some("pod-shutdown")]);
    assert!(
        d.groups[0]
            .evidence
            .contains("the failing upstream answered nothing after its last error"),
        "{}",
        d.groups[0].evidence
    );
    assert!(d.groups[0].mitigations[0].fix.contains("preStop"));
}

#[test]
fn outbound_firewall_uf_is_bursty() {
    let d = fixture("outbound_firewall_uf.log");
    assert_eq!(scenarios(&d), [Some("outbound-firewall-uf")]);
    let b = d.groups[0].bursts.as_ref().unwrap();
    assert_eq!((b.bursts, b.period_secs), (3, Some(3600)));
    assert!(d.groups[0].mitigations[0].fix.contains("resolution: DNS"));
}

#[test]
fn outbound_elb_ip_change() {
    let d = fixture("outbound_elb_ip_change.log");
    assert_eq!(
        scenarios(&d),
        [
            Some("outbound-elb-ip-change"),
            Some("outbound-elb-ip-change")
        ]
    );
    assert!(d.groups[0].evidence.contains("moved from 52.1.1.1:80"));
}

#[test]
fn outbound_timeout_ut() {
    let d = fixture("outbound_timeout_ut.log");
    assert_eq!(scenarios(&d), [Some("outbound-timeout-ut")]);
    let durations = d.groups[0].duration_ms.unwrap();
    assert_eq!((durations.min, durations.max), (15000, 15006));
    assert!(d.groups[0].evidence.contains("just over a 15 s timeout"));
}

#[test]
fn every_scenario_has_a_fix_measured_by_one_of_its_variants() {
    for rule in rules() {
        assert!(
            rule.fixes.iter().any(|f| f.measured_by.is_some()),
            "{}: no fix names the variant that measures it",
            rule.scenario
        );
    }
}

/// The same refused connects, but at the start of the pod's log, its successes after them:
/// a new pod published before its app listened.
#[test]
fn a_new_pod_fails_before_it_ever_answered() {
    let d = fixture("scale_up_app_not_ready.log");
    assert_eq!(scenarios(&d), [Some("scale-up-app-not-ready")]);
    assert!(
        d.groups[0]
            .evidence
            .contains("had answered nothing before its first error"),
        "{}",
        d.groups[0].evidence
    );
    assert!(d.groups[0].mitigations[0].fix.contains("readiness probe"));
}

/// The same refused connects in two bursts, the pod answering between them (a lab run's
/// log of the crashing pod, thinned): an app container that crashes, comes back and
/// crashes again.
#[test]
fn a_crash_loop_fails_again_after_answering() {
    let d = fixture("app_crash_loop.log");
    assert_eq!(scenarios(&d), [Some("app-crash-loop")]);
    assert!(
        d.groups[0].evidence.contains("then failed again"),
        "{}",
        d.groups[0].evidence
    );
    // One outage that ends: still the app that went down once.
    let d = fixture("inbound_app_down_uf.log");
    assert_eq!(scenarios(&d)[0], Some("inbound-app-down-uf"));
}

/// An app on the pod's loopback behind a sidecar from Istio 1.10: every request to the pod's
/// own address is refused, and that upstream never answered, while another pod's did.
#[test]
fn an_upstream_that_never_answered_is_an_app_on_localhost() {
    let d = fixture("inbound_localhost_app.log");
    assert_eq!(scenarios(&d), [Some("inbound-localhost-vs-pod-ip")]);
    assert!(
        d.groups[0]
            .evidence
            .contains("answered nothing before its first error"),
        "{}",
        d.groups[0].evidence
    );
}

/// The server's side of a config push: the drained filter chain's connections closed under
/// requests in flight, `0 DC downstream_local_disconnect(filter_chain_is_being_removed)`.
/// Without those details, `0 DC` is a client that went away, no scenario's.
#[test]
fn a_drained_filter_chain_at_the_server_is_a_config_push() {
    let d = fixture("config_push_drain_server.log");
    assert_eq!(scenarios(&d), [Some("config-push-drain")]);
    let g = &d.groups[0];
    assert_eq!((g.code, g.flags.as_str(), g.count), (0, "DC", 6));
    assert_eq!(g.known_cause, None);
    assert!(g.mitigations[0].fix.contains("drainDuration"), "{g:?}");

    let log = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../diagnose/tests/data/config_push_drain_server.log"),
    )
    .unwrap()
    .replace(
        "downstream_local_disconnect(filter_chain_is_being_removed)",
        "downstream_remote_disconnect",
    );
    let d = diagnose(log.as_bytes(), rules());
    assert_eq!(scenarios(&d), [None]);
    let known = d.groups[0].known_cause.as_ref().expect("a known cause");
    assert_eq!(known.cause, "client-disconnect");
}

/// Istio 1.24 TEXT lines of the caller's sidecar (`code flags details`, duration, cluster
/// or `-`, route), three of each after five answers.
fn lines(code: u16, flags: &str, details: &str, ms: u64, cluster: &str, route: &str) -> String {
    let line = |s: usize, code: u16, flags: &str, details: &str, ms: u64| {
        format!(
            r#"[2025-03-02T08:00:{s:02}.000Z] "POST /orders.v1.Orders/Get HTTP/2" {code} {flags} {details} - "-" 5 0 {ms} - "-" "grpc-go/1.60.1" "r{s}" "orders:9090" "10.244.0.12:9090" {cluster} 10.244.0.9:40100 10.96.0.30:9090 10.244.0.9:51000 - {route}"#
        ) + "\n"
    };
    let mut out: String = (0..5)
        .map(|s| line(s, 200, "-", "via_upstream", 4))
        .collect();
    out.extend((5..8).map(|s| line(s, code, flags, details, ms)));
    out
}

fn only_group(log: &str) -> mesh5xx_diagnose::GroupReport {
    let d = diagnose(log.as_bytes(), rules());
    assert_eq!(d.groups.len(), 1, "{:#?}", d.groups);
    d.groups[0].clone()
}

const ORDERS: &str = "outbound|9090||orders.default.svc.cluster.local";

/// Lines that are no 5xx but say something went wrong, and flagless 5xx: each is grouped
/// and named, by a scenario or as a cause that is no fault of the mesh.
#[test]
fn flagged_answers_and_flagless_5xx_are_named() {
    // REGISTRY_ONLY's block_all route: `502 -` answered by the sidecar, no cluster.
    let g = only_group(&lines(502, "-", "direct_response", 0, "-", "block_all"));
    assert_eq!(g.scenario.as_deref(), Some("registry-only-blackhole"));
    assert!(
        g.notes.iter().any(|n| n.contains("direct_response")),
        "{g:#?}"
    );
    // The same code and no flag answered by the app is the app's.
    let g = only_group(&lines(502, "-", "via_upstream", 12, ORDERS, "default"));
    assert_eq!(g.scenario, None);
    assert_eq!(
        g.known_cause.as_ref().map(|k| k.cause.as_str()),
        Some("upstream-answered-5xx")
    );
    assert!(
        g.notes.iter().any(|n| n.contains("look at the app")),
        "{g:#?}"
    );
    // No route: the client's `404 NR`.
    let g = only_group(&lines(404, "NR", "route_not_found", 0, "-", "-"));
    assert_eq!(g.scenario.as_deref(), Some("no-route-nr"));
    assert!(g.notes.iter().any(|n| n.starts_with("404 NR")), "{g:#?}");
    // A gRPC call's timeout is named as its HTTP twin, 504 UT.
    let grpc = only_group(&lines(
        200,
        "UT",
        "response_timeout",
        15001,
        ORDERS,
        "default",
    ));
    let http = only_group(&lines(
        504,
        "UT",
        "response_timeout",
        15001,
        ORDERS,
        "default",
    ));
    assert!(grpc.scenario.is_some(), "{grpc:#?}");
    assert_eq!(grpc.scenario, http.scenario);
    assert_eq!(grpc.mitigations, http.mitigations);
    assert!(
        grpc.notes.iter().any(|n| n.starts_with("200 UT")),
        "{grpc:#?}"
    );
    // A WebSocket the client closed.
    let g = only_group(&lines(
        101,
        "DC",
        "downstream_remote_disconnect",
        60012,
        ORDERS,
        "default",
    ));
    assert_eq!(g.scenario, None);
    assert_eq!(
        g.known_cause.as_ref().map(|k| k.cause.as_str()),
        Some("websocket-closed")
    );
    // Answers without a flag stay out of the groups.
    assert!(diagnose(
        lines(404, "-", "via_upstream", 3, ORDERS, "default").as_bytes(),
        rules()
    )
    .groups
    .is_empty());
}

/// The server's `502 UPE {protocol_error}` names the scenario, and so does the caller's own
/// `426 DPE low_version` (HTTP/1.0 refused); the caller's sidecar passes the 502 on without
/// a flag (a group of its own, no scenario).
#[test]
fn protocol_mismatch() {
    let d = fixture("protocol_mismatch.log");
    assert_eq!(
        scenarios(&d),
        [Some("protocol-mismatch"), Some("protocol-mismatch"), None]
    );
    assert_eq!((d.groups[1].code, d.groups[1].flags.as_str()), (426, "DPE"));
    let g = &d.groups[0];
    assert_eq!((g.code, g.flags.as_str(), g.count), (502, "UPE", 10));
    assert!(g.evidence.contains("reset reason: protocol error"));
    assert_eq!(
        g.mitigations[0].measured_by.as_deref(),
        Some("mesh5xx run protocol-mismatch --variant port-named-http")
    );
    assert_eq!((d.groups[2].code, d.groups[2].flags.as_str()), (502, "-"));
}

/// A failed TLS handshake at the caller's sidecar (`503 URX,UF` with `TLS_error` in the
/// details: WRONG_VERSION_NUMBER, a SAN it does not accept, an expired certificate) is an
/// mTLS mismatch; the same flags without TLS details are not.
#[test]
fn a_failed_tls_handshake_at_the_caller_is_an_mtls_mismatch() {
    let d = fixture("mtls_mismatch_client.log");
    assert_eq!(scenarios(&d), [Some("mtls-mismatch")]);
    let g = &d.groups[0];
    assert_eq!((g.code, g.flags.as_str(), g.count), (503, "URX,UF", 12));
    assert!(g.mitigations[0].fix.contains("auto mTLS"), "{g:?}");
    let log = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../diagnose/tests/data/mtls_mismatch_client.log"),
    )
    .unwrap();
    let plain: String = log
        .lines()
        .map(|l| {
            let cut = l.find("TLS_error:").unwrap();
            let end = l.find(" - \"").unwrap();
            format!("{}delayed_connect_error:_111}}{}\n", &l[..cut], &l[end..])
        })
        .collect();
    let d = diagnose(plain.as_bytes(), rules());
    assert!(
        d.groups
            .iter()
            .all(|g| g.scenario.as_deref() != Some("mtls-mismatch")),
        "{:?}",
        scenarios(&d)
    );
}

/// The server's side of plaintext into STRICT: its listener logs the connections no filter
/// chain takes, `0 NR filter_chain_not_found`.
#[test]
fn no_filter_chain_at_the_server_is_an_mtls_mismatch() {
    let d = fixture("mtls_mismatch_server.log");
    assert_eq!(scenarios(&d), [Some("mtls-mismatch")]);
    let g = &d.groups[0];
    assert_eq!((g.code, g.flags.as_str(), g.count), (0, "NR", 8));
}
