//! Real rules in a real kernel: each era's rules restored with iptables-legacy-restore in a
//! network namespace of their own, read back with iptables-legacy-save, and compared with
//! what was rendered.

use std::net::Ipv4Addr;

use mesh5xx_iptables::{
    apply, dump, render, CaptureConfig, Cidr, DnsCapture, Era, Family, InboundPorts, IpRanges,
};
use mesh5xx_testkit::{needs, Requirement};

/// Run `f` on a thread of its own in a new network namespace (gone when the thread ends).
fn in_new_namespace<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        mesh5xx_process::netns::enter_private().expect("unshare(CLONE_NEWNET): run as root");
        f()
    })
    .join()
    .expect("the namespace's thread")
}

/// The injector's defaults and, per era, inputs with exclusions (and DNS capture and the
/// INVALID drop where the era had them).
fn cases(era: Era) -> Vec<(&'static str, CaptureConfig)> {
    let cidr = |s: &str| s.parse::<Cidr>().unwrap();
    let mut excluded = CaptureConfig::injected(era, &[8080]);
    excluded.inbound_ports = InboundPorts::All;
    excluded.inbound_ports_exclude = vec![15020, 9000];
    excluded.outbound_ports_exclude = vec![3306, 21];
    excluded.outbound_ip_ranges = IpRanges::Only(vec![cidr("10.0.0.0/8"), cidr("172.16.0.0/12")]);
    excluded.outbound_ip_ranges_exclude = vec![cidr("10.96.0.0/12")];
    excluded.kubevirt_interfaces = vec!["eth1".into()];
    let mut cases = vec![
        ("injector default", CaptureConfig::injected(era, &[8080])),
        ("exclusions", excluded),
    ];
    if !era.is_script() {
        let mut dns = CaptureConfig::injected(era, &[8080]);
        dns.dns = Some(DnsCapture::Servers(vec![Ipv4Addr::new(10, 96, 0, 10)]));
        dns.drop_invalid = true;
        dns.outbound_ports_include = vec![5432];
        dns.exclude_interfaces = vec!["eth2".into()];
        cases.push(("dns, invalid drop, included port", dns));
        let mut all_dns = CaptureConfig::injected(era, &[8080]);
        all_dns.dns = Some(DnsCapture::All);
        cases.push(("all dns", all_dns));
    }
    cases
}

#[test]
fn every_era_s_rules_read_back_as_rendered_needs_root() {
    if !needs(Requirement::Root) {
        return;
    }
    for era in Era::ALL {
        for (name, cfg) in cases(era) {
            let rules = render(&cfg, era).unwrap();
            let expected = rules.clone();
            let (v4, v6) = in_new_namespace(move || {
                assert_eq!(dump(Family::V4).expect("iptables-legacy-save"), "");
                // A missing program fails here, naming scripts/prereqs.sh iptables.
                apply(&expected).unwrap_or_else(|e| panic!("{e}"));
                (dump(Family::V4).unwrap(), dump(Family::V6).unwrap())
            });
            assert_eq!(v4, rules.expected_dump(Family::V4), "{era}, {name}");
            assert_eq!(v6, rules.expected_dump(Family::V6), "{era}, {name}");
            assert_eq!(
                rules.writes(Family::V6),
                era.is_script(),
                "only the scripts write IPv6 rules for an IPv4 pod"
            );
            assert!(v4.contains(":ISTIO_OUTPUT\n"), "{era}, {name}: {v4}");
        }
    }
}

#[test]
fn rules_stay_in_their_namespace_needs_root() {
    if !needs(Requirement::Root) {
        return;
    }
    let rules = render(
        &CaptureConfig::injected(Era::Istio1_24, &[]),
        Era::Istio1_24,
    )
    .unwrap();
    in_new_namespace(move || apply(&rules).unwrap());
    // A namespace created after the first one ended starts empty again.
    let after = in_new_namespace(|| dump(Family::V4).unwrap());
    assert_eq!(after, "");
}
