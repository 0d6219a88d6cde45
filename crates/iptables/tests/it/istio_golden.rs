//! The rules rendered for the inputs of istio/istio's own golden cases, compared with the
//! golden files read from a checkout at test time (never copied here). Ignored by default;
//! run with the checkout's git directory in `ISTIO_REPO`:
//!
//! ```text
//! ISTIO_REPO=/work/.mirror/istio+istio/repo \
//!   cargo nextest run -p mesh5xx-iptables --run-ignored only istio_golden
//! ```
//!
//! Covered: the IPv4, REDIRECT-mode cases of tools/istio-iptables/pkg/capture/run_test.go at
//! 1.24.0 (restore input) and 1.13.0 (command lines), and of
//! tests/scripts/istio-iptables-test.sh at 1.4.0 (the script's command lines). Cases using
//! inputs the lab does not render (IPv6, TPROXY, trace logging, owner groups, a loopback CIDR
//! other than 127.0.0.1/32) are not listed.

use std::net::Ipv4Addr;
use std::process::Command;

use mesh5xx_iptables::{
    render, CaptureConfig, Cidr, DnsCapture, Era, Family, InboundPorts, IpRanges,
};

/// `git show TAG:PATH` in `ISTIO_REPO`.
fn golden(tag: &str, path: &str) -> String {
    let repo = std::env::var("ISTIO_REPO")
        .expect("set ISTIO_REPO to a checkout (or bare mirror) of istio/istio");
    let out = Command::new("git")
        .args(["-C", &repo, "show", &format!("{tag}:{path}")])
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git show {tag}:{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn cidrs(list: &str) -> Vec<Cidr> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

/// `constructTestConfig` (run_test.go@1.24.0 L42-54, @1.13.0 L30-41): no inbound or
/// outbound capture asked for, uid and gid 1337.
fn go_base() -> CaptureConfig {
    CaptureConfig {
        inbound_ports: InboundPorts::Only(vec![]),
        inbound_ports_exclude: vec![],
        outbound_ip_ranges: IpRanges::Only(vec![]),
        ..CaptureConfig::injected(Era::Istio1_24, &[])
    }
}

/// The IPv4 REDIRECT cases of `getCommonTestCases` (run_test.go@1.24.0 L56-288; the same
/// names and inputs in run_test.go@1.13.0 L43-237).
fn go_cases() -> Vec<(&'static str, CaptureConfig)> {
    let dns_53 = || Some(DnsCapture::Servers(vec![Ipv4Addr::new(127, 0, 0, 53)]));
    let ids = |c: &mut CaptureConfig| {
        c.proxy_gids = vec![1, 2];
        c.proxy_uids = vec![3, 4];
    };
    let mut cases = Vec::new();
    cases.push(("empty", go_base()));
    let mut c = go_base();
    c.outbound_ip_ranges_exclude = cidrs("1.1.0.0/16");
    c.outbound_ip_ranges = IpRanges::Only(cidrs("9.9.0.0/16"));
    c.dns = dns_53();
    ids(&mut c);
    cases.push(("ip-range", c));
    let mut c = go_base();
    c.kubevirt_interfaces = vec!["eth1".into(), "eth2".into()];
    c.outbound_ip_ranges = IpRanges::All;
    cases.push(("kube-virt-interfaces", c));
    let mut c = go_base();
    c.outbound_ip_ranges = IpRanges::Only(cidrs("10.0.0.0/8"));
    cases.push(("ipnets", c.clone()));
    c.kubevirt_interfaces = vec!["eth1".into(), "eth2".into()];
    cases.push(("ipnets-with-kube-virt-interfaces", c));
    let mut c = go_base();
    c.inbound_ports = InboundPorts::Only(vec![32000, 31000]);
    cases.push(("inbound-ports-include", c));
    let mut c = go_base();
    c.inbound_ports = InboundPorts::All;
    cases.push(("inbound-ports-wildcard", c));
    let mut c = go_base();
    c.outbound_ports_include = vec![32000, 31000];
    cases.push(("outbound-ports-include", c));
    let mut c = go_base();
    c.outbound_ip_ranges = IpRanges::Only(cidrs("127.1.2.3/32"));
    c.dns = dns_53();
    ids(&mut c);
    cases.push(("loopback-outbound-iprange", c));
    let mut c = go_base();
    c.exclude_interfaces = vec!["not-istio-nic".into()];
    cases.push(("basic-exclude-nic", c));
    let mut c = go_base();
    c.drop_invalid = true;
    cases.push(("drop-invalid", c));
    cases
}

/// The lines of a golden that are rules: the stub's `iptables-save`/`ip6tables-save`
/// records dropped.
fn rule_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && *l != "iptables-save" && *l != "ip6tables-save")
        .map(String::from)
        .collect()
}

#[test]
#[ignore = "reads istio/istio's golden files from ISTIO_REPO"]
fn istio_1_24_golden_cases_render_the_same_restore_input() {
    for (name, cfg) in go_cases() {
        let want = golden(
            "1.24.0",
            &format!("tools/istio-iptables/pkg/capture/testdata/{name}.golden"),
        );
        let got = render(&cfg, Era::Istio1_24).unwrap().restore(Family::V4);
        assert_eq!(rule_lines(&got), rule_lines(&want), "1.24.0 {name}");
    }
}

#[test]
#[ignore = "reads istio/istio's golden files from ISTIO_REPO"]
fn istio_1_13_golden_cases_render_the_same_commands() {
    for (name, cfg) in go_cases() {
        let want = golden(
            "1.13.0",
            &format!("tools/istio-iptables/pkg/capture/testdata/{name}.golden"),
        );
        let got = render(&cfg, Era::Istio1_13).unwrap().commands();
        assert_eq!(got, rule_lines(&want), "1.13.0 {name}");
    }
}

#[test]
#[ignore = "reads istio/istio's golden files from ISTIO_REPO"]
fn istio_1_4_script_golden_cases_render_the_same_commands() {
    // tests/scripts/istio-iptables-test.sh@1.4.0 L112, L124, L126: the REDIRECT cases.
    let base = || CaptureConfig {
        proxy_port: 12345,
        proxy_uids: vec![4321],
        proxy_gids: vec![4444],
        inbound_ports: InboundPorts::Only(vec![5555, 6666]),
        inbound_ports_exclude: vec![7777, 8888],
        outbound_ip_ranges: IpRanges::Only(cidrs("1.1.0.0/16")),
        outbound_ip_ranges_exclude: cidrs("9.9.0.0/16"),
        kubevirt_interfaces: vec!["eth1".into(), "eth2".into()],
        ..CaptureConfig::injected(Era::Istio1_4, &[])
    };
    let mut cases = vec![("mode_redirect", base())];
    let mut c = base();
    c.outbound_ports_exclude = vec![1024, 21];
    cases.push(("outbound_port_exclude", c));
    let mut c = base();
    c.outbound_ip_ranges = IpRanges::All;
    cases.push(("wildcard_include_ip_range", c));
    for (name, cfg) in cases {
        let want = golden(
            "1.4.0",
            &format!("tests/scripts/testdata/{name}_golden.txt"),
        );
        // The script's environment dump comes first; the commands are the lines the
        // iptables stubs echo.
        let want: Vec<String> = rule_lines(&want)
            .into_iter()
            .filter(|l| l.starts_with("iptables ") || l.starts_with("ip6tables "))
            .collect();
        let got = render(&cfg, Era::Istio1_4).unwrap().commands();
        assert_eq!(got, want, "1.4.0 {name}");
    }
}
