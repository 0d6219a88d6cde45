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
