//! Each era's rules for the injector's default arguments and for inputs with exclusions,
//! written out as the lab expects them. Where istio/istio has a golden file for the same
//! inputs, the test names it; the expectation here is the lab's own (Istio's files are not
//! copied; `tests/it/istio_golden.rs` compares with them when the istio mirror is at hand).

use std::net::Ipv4Addr;

use super::*;
use crate::Cidr;

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The 1.2 and 1.4 scripts' IPv6 rules for an IPv4 pod (istio-iptables.sh@1.2.10 L604-610,
/// @1.4.0 L568-574).
const SCRIPT_V6: &str = "
    ip6tables -F INPUT
    ip6tables -A INPUT -m state --state ESTABLISHED -j ACCEPT
    ip6tables -A INPUT -i lo -d ::1 -j ACCEPT
    ip6tables -A INPUT -j REJECT";

/// Inputs: the injected `hello` pod of pilot/pkg/kube/inject/testdata/inject/hello.yaml.injected
/// @1.2.10 L120-134 (`-p 15001 -u 1337 -m REDIRECT -i '*' -x "" -b 80 -d 15020`). Istio 1.2
/// has no golden file of the script's rules (tests/scripts/scripts_test.sh@1.2.10 checks only
/// its address parsing): lines from istio-iptables.sh@1.2.10 L335-448, L462-465.
#[test]
fn istio_1_2_injector_default() {
    let cfg = CaptureConfig::injected(Era::Istio1_2, &[80]);
    let rules = render(&cfg, Era::Istio1_2).unwrap();
    let expected = "
        iptables -t nat -N ISTIO_REDIRECT
        iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-port 15001
        iptables -t nat -N ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-port 15001
        iptables -t nat -N ISTIO_INBOUND
        iptables -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 80 -j ISTIO_IN_REDIRECT
        iptables -t nat -N ISTIO_OUTPUT
        iptables -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -j ISTIO_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -j ISTIO_REDIRECT";
    assert_eq!(rules.commands(), lines(&format!("{expected}{SCRIPT_V6}")));
    assert!(rules.writes(Family::V6));
}

/// 1.2 with exclusions: an excluded range and outbound port, every inbound port but two.
/// Lines from istio-iptables.sh@1.2.10 L377-385, L421-455 (no golden file at 1.2.10).
#[test]
fn istio_1_2_with_exclusions() {
    let mut cfg = CaptureConfig::injected(Era::Istio1_2, &[]);
    cfg.inbound_ports = InboundPorts::All;
    cfg.inbound_ports_exclude = vec![15020, 9000];
    cfg.outbound_ports_exclude = vec![3306];
    cfg.outbound_ip_ranges_exclude = vec![cidr("10.96.0.0/12")];
    let rules = render(&cfg, Era::Istio1_2).unwrap();
    let expected = "
        iptables -t nat -N ISTIO_REDIRECT
        iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-port 15001
        iptables -t nat -N ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-port 15001
        iptables -t nat -N ISTIO_INBOUND
        iptables -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 22 -j RETURN
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 9000 -j RETURN
        iptables -t nat -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
        iptables -t nat -N ISTIO_OUTPUT
        iptables -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT
        iptables -t nat -A ISTIO_OUTPUT -p tcp --dport 3306 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -j ISTIO_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 10.96.0.0/12 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -j ISTIO_REDIRECT";
    assert_eq!(rules.commands(), lines(&format!("{expected}{SCRIPT_V6}")));
}

/// Inputs: pkg/kube/inject/testdata/inject/hello.yaml.injected@1.4.0 L142-160
/// (`-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15020`). Istio's 1.4
/// golden files (tests/scripts/testdata/*_golden.txt@1.4.0) have no case with these inputs:
/// lines from istio-iptables.sh@1.4.0 L305-444.
#[test]
fn istio_1_4_injector_default() {
    let cfg = CaptureConfig::injected(Era::Istio1_4, &[80]);
    let rules = render(&cfg, Era::Istio1_4).unwrap();
    let expected = "
        iptables -t nat -N ISTIO_REDIRECT
        iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-port 15001
        iptables -t nat -N ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-port 15006
        iptables -t nat -N ISTIO_INBOUND
        iptables -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 22 -j RETURN
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN
        iptables -t nat -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
        iptables -t nat -N ISTIO_OUTPUT
        iptables -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT
        iptables -t nat -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -j ISTIO_REDIRECT";
    assert_eq!(rules.commands(), lines(&format!("{expected}{SCRIPT_V6}")));
}

/// The inputs of tests/scripts/istio-iptables-test.sh@1.4.0 L124 `outbound_port_exclude`
/// (`-p 12345 -u 4321 -g 4444 -o 1024,21 -m REDIRECT -b 5555,6666 -d 7777,8888
/// -i 1.1.0.0/16 -x 9.9.0.0/16 -k eth1,eth2`); golden:
/// tests/scripts/testdata/outbound_port_exclude_golden.txt@1.4.0 (its rule lines).
#[test]
fn istio_1_4_outbound_port_exclude() {
    let cfg = CaptureConfig {
        proxy_port: 12345,
        proxy_uids: vec![4321],
        proxy_gids: vec![4444],
        outbound_ports_exclude: vec![1024, 21],
        inbound_ports: InboundPorts::Only(vec![5555, 6666]),
        inbound_ports_exclude: vec![7777, 8888],
        outbound_ip_ranges: IpRanges::Only(vec![cidr("1.1.0.0/16")]),
        outbound_ip_ranges_exclude: vec![cidr("9.9.0.0/16")],
        kubevirt_interfaces: vec!["eth1".into(), "eth2".into()],
        ..CaptureConfig::injected(Era::Istio1_4, &[])
    };
    let rules = render(&cfg, Era::Istio1_4).unwrap();
    let expected = "
        iptables -t nat -N ISTIO_REDIRECT
        iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-port 12345
        iptables -t nat -N ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-port 12345
        iptables -t nat -N ISTIO_INBOUND
        iptables -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 5555 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 6666 -j ISTIO_IN_REDIRECT
        iptables -t nat -N ISTIO_OUTPUT
        iptables -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT
        iptables -t nat -A ISTIO_OUTPUT -p tcp --dport 1024 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -p tcp --dport 21 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 4321 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 4444 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 9.9.0.0/16 -j RETURN
        iptables -t nat -I PREROUTING 1 -i eth1 -j RETURN
        iptables -t nat -I PREROUTING 1 -i eth2 -j RETURN
        iptables -t nat -I PREROUTING 1 -i eth1 -d 1.1.0.0/16 -j ISTIO_REDIRECT
        iptables -t nat -I PREROUTING 1 -i eth2 -d 1.1.0.0/16 -j ISTIO_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -d 1.1.0.0/16 -j ISTIO_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -j RETURN";
    assert_eq!(rules.commands(), lines(&format!("{expected}{SCRIPT_V6}")));
}

/// Inputs: pkg/kube/inject/testdata/inject/hello.yaml.injected@1.13.0 L142-158
/// (`-b '*' -d 15090,15021,15020`, `-i '*'`). Closest golden:
/// tools/istio-iptables/pkg/capture/testdata/inbound-ports-wildcard.golden@1.13.0 (run_test.go
/// @1.13.0 L161-166: `-b '*'`, no exclusions, no `-i`); these inputs add the three excluded
/// ports (run.go@1.13.0 L173-178) and the final redirect (L214-216).
#[test]
fn istio_1_13_injector_default() {
    let cfg = CaptureConfig::injected(Era::Istio1_13, &[80]);
    let rules = render(&cfg, Era::Istio1_13).unwrap();
    let expected = "
        iptables -t nat -N ISTIO_INBOUND
        iptables -t nat -N ISTIO_REDIRECT
        iptables -t nat -N ISTIO_IN_REDIRECT
        iptables -t nat -N ISTIO_OUTPUT
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
        iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
        iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
        iptables -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN
        iptables -t nat -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
        iptables -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT
        iptables -t nat -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -j ISTIO_REDIRECT";
    assert_eq!(rules.commands(), lines(expected));
    assert!(!rules.writes(Family::V6));
}

/// The inputs of run_test.go@1.13.0 L56-67 `ip-range` (excluded 1.1.0.0/16, included
/// 9.9.0.0/16, DNS to 127.0.0.53, uids 3,4, gids 1,2, no inbound ports); golden:
/// tools/istio-iptables/pkg/capture/testdata/ip-range.golden@1.13.0.
#[test]
fn istio_1_13_ip_range_with_dns() {
    let cfg = CaptureConfig {
        proxy_uids: vec![3, 4],
        proxy_gids: vec![1, 2],
        inbound_ports: InboundPorts::Only(vec![]),
        inbound_ports_exclude: vec![],
        outbound_ip_ranges: IpRanges::Only(vec![cidr("9.9.0.0/16")]),
        outbound_ip_ranges_exclude: vec![cidr("1.1.0.0/16")],
        dns: Some(DnsCapture::Servers(vec![Ipv4Addr::new(127, 0, 0, 53)])),
        ..CaptureConfig::injected(Era::Istio1_13, &[])
    };
    let rules = render(&cfg, Era::Istio1_13).unwrap();
    let expected = "
        iptables -t nat -N ISTIO_INBOUND
        iptables -t nat -N ISTIO_REDIRECT
        iptables -t nat -N ISTIO_IN_REDIRECT
        iptables -t nat -N ISTIO_OUTPUT
        iptables -t nat -A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
        iptables -t nat -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
        iptables -t nat -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
        iptables -t nat -A OUTPUT -p tcp -j ISTIO_OUTPUT
        iptables -t nat -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 53 -m owner --uid-owner 3 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --uid-owner 3 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 3 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 53 -m owner --uid-owner 4 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --uid-owner 4 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --uid-owner 4 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --gid-owner 1 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --gid-owner 1 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 1 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --gid-owner 2 -j ISTIO_IN_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --gid-owner 2 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -m owner --gid-owner 2 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -p tcp --dport 53 -d 127.0.0.53/32 -j REDIRECT --to-ports 15053
        iptables -t nat -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 1.1.0.0/16 -j RETURN
        iptables -t nat -A ISTIO_OUTPUT -d 9.9.0.0/16 -j ISTIO_REDIRECT
        iptables -t nat -A ISTIO_OUTPUT -j RETURN
        iptables -t nat -A OUTPUT -p udp --dport 53 -m owner --uid-owner 3 -j RETURN
        iptables -t nat -A OUTPUT -p udp --dport 53 -m owner --uid-owner 4 -j RETURN
        iptables -t nat -A OUTPUT -p udp --dport 53 -m owner --gid-owner 1 -j RETURN
        iptables -t nat -A OUTPUT -p udp --dport 53 -m owner --gid-owner 2 -j RETURN
        iptables -t nat -A OUTPUT -p udp --dport 53 -d 127.0.0.53/32 -j REDIRECT --to-port 15053
        iptables -t raw -A OUTPUT -p udp --dport 53 -m owner --uid-owner 3 -j CT --zone 1
        iptables -t raw -A OUTPUT -p udp --sport 15053 -m owner --uid-owner 3 -j CT --zone 2
        iptables -t raw -A OUTPUT -p udp --dport 53 -m owner --uid-owner 4 -j CT --zone 1
        iptables -t raw -A OUTPUT -p udp --sport 15053 -m owner --uid-owner 4 -j CT --zone 2
        iptables -t raw -A OUTPUT -p udp --dport 53 -m owner --gid-owner 1 -j CT --zone 1
        iptables -t raw -A OUTPUT -p udp --sport 15053 -m owner --gid-owner 1 -j CT --zone 2
        iptables -t raw -A OUTPUT -p udp --dport 53 -m owner --gid-owner 2 -j CT --zone 1
        iptables -t raw -A OUTPUT -p udp --sport 15053 -m owner --gid-owner 2 -j CT --zone 2
        iptables -t raw -A OUTPUT -p udp --dport 53 -d 127.0.0.53/32 -j CT --zone 2
        iptables -t raw -A PREROUTING -p udp --sport 53 -d 127.0.0.53/32 -j CT --zone 1";
    assert_eq!(rules.commands(), lines(expected));
}

/// Inputs: pkg/kube/inject/testdata/inject/hello.yaml.injected@1.24.0 L168-187. Closest
/// golden: tools/istio-iptables/pkg/capture/testdata/inbound-ports-wildcard.golden@1.24.0
/// (run_test.go@1.24.0 L177-182: `-b '*'`, no exclusions, no `-i`); these inputs add the three
/// excluded ports (run.go@1.24.0 L158-163) and the final redirect (L200-202).
#[test]
fn istio_1_24_injector_default() {
    let cfg = CaptureConfig::injected(Era::Istio1_24, &[80]);
    let rules = render(&cfg, Era::Istio1_24).unwrap();
    let expected = "
        * nat
        -N ISTIO_INBOUND
        -N ISTIO_REDIRECT
        -N ISTIO_IN_REDIRECT
        -N ISTIO_OUTPUT
        -A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
        -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
        -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
        -A PREROUTING -p tcp -j ISTIO_INBOUND
        -A ISTIO_INBOUND -p tcp --dport 15090 -j RETURN
        -A ISTIO_INBOUND -p tcp --dport 15021 -j RETURN
        -A ISTIO_INBOUND -p tcp --dport 15020 -j RETURN
        -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
        -A OUTPUT -p tcp -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
        -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1337 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -m owner ! --gid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
        -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        -A ISTIO_OUTPUT -j ISTIO_REDIRECT
        COMMIT";
    assert_eq!(lines(&rules.restore(Family::V4)), lines(expected));
    assert_eq!(rules.restore(Family::V6), "");
}

/// The inputs of run_test.go@1.24.0 L71-83 `ip-range`; golden:
/// tools/istio-iptables/pkg/capture/testdata/ip-range.golden@1.24.0 (its restore lines; the
/// `iptables-save` lines around them are the stub recording the saves).
#[test]
fn istio_1_24_ip_range_with_dns() {
    let cfg = CaptureConfig {
        proxy_uids: vec![3, 4],
        proxy_gids: vec![1, 2],
        inbound_ports: InboundPorts::Only(vec![]),
        inbound_ports_exclude: vec![],
        outbound_ip_ranges: IpRanges::Only(vec![cidr("9.9.0.0/16")]),
        outbound_ip_ranges_exclude: vec![cidr("1.1.0.0/16")],
        dns: Some(DnsCapture::Servers(vec![Ipv4Addr::new(127, 0, 0, 53)])),
        ..CaptureConfig::injected(Era::Istio1_24, &[])
    };
    let rules = render(&cfg, Era::Istio1_24).unwrap();
    let expected = "
        * nat
        -N ISTIO_INBOUND
        -N ISTIO_REDIRECT
        -N ISTIO_IN_REDIRECT
        -N ISTIO_OUTPUT
        -A ISTIO_INBOUND -p tcp --dport 15008 -j RETURN
        -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
        -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
        -A OUTPUT -p tcp -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN
        -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp -m multiport ! --dports 53,15008 -m owner --uid-owner 3 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --uid-owner 3 -j RETURN
        -A ISTIO_OUTPUT -m owner --uid-owner 3 -j RETURN
        -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp -m multiport ! --dports 53,15008 -m owner --uid-owner 4 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --uid-owner 4 -j RETURN
        -A ISTIO_OUTPUT -m owner --uid-owner 4 -j RETURN
        -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 1 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --gid-owner 1 -j RETURN
        -A ISTIO_OUTPUT -m owner --gid-owner 1 -j RETURN
        -A ISTIO_OUTPUT -o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --gid-owner 2 -j ISTIO_IN_REDIRECT
        -A ISTIO_OUTPUT -o lo -p tcp ! --dport 53 -m owner ! --gid-owner 2 -j RETURN
        -A ISTIO_OUTPUT -m owner --gid-owner 2 -j RETURN
        -A ISTIO_OUTPUT -p tcp --dport 53 -d 127.0.0.53/32 -j REDIRECT --to-ports 15053
        -A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
        -A ISTIO_OUTPUT -d 1.1.0.0/16 -j RETURN
        -A ISTIO_OUTPUT -d 9.9.0.0/16 -j ISTIO_REDIRECT
        -A OUTPUT -p udp -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT -p udp --dport 53 -m owner --uid-owner 3 -j RETURN
        -A ISTIO_OUTPUT -p udp --dport 53 -m owner --uid-owner 4 -j RETURN
        -A ISTIO_OUTPUT -p udp --dport 53 -m owner --gid-owner 1 -j RETURN
        -A ISTIO_OUTPUT -p udp --dport 53 -m owner --gid-owner 2 -j RETURN
        -A ISTIO_OUTPUT -p udp --dport 53 -d 127.0.0.53/32 -j REDIRECT --to-port 15053
        COMMIT
        * raw
        -N ISTIO_OUTPUT
        -A OUTPUT -p udp -j ISTIO_OUTPUT
        -A ISTIO_OUTPUT -p udp --dport 53 -m owner --uid-owner 3 -j CT --zone 1
        -A ISTIO_OUTPUT -p udp --sport 15053 -m owner --uid-owner 3 -j CT --zone 2
        -A ISTIO_OUTPUT -p udp --dport 53 -m owner --uid-owner 4 -j CT --zone 1
        -A ISTIO_OUTPUT -p udp --sport 15053 -m owner --uid-owner 4 -j CT --zone 2
        -A ISTIO_OUTPUT -p udp --dport 53 -m owner --gid-owner 1 -j CT --zone 1
        -A ISTIO_OUTPUT -p udp --sport 15053 -m owner --gid-owner 1 -j CT --zone 2
        -A ISTIO_OUTPUT -p udp --dport 53 -m owner --gid-owner 2 -j CT --zone 1
        -A ISTIO_OUTPUT -p udp --sport 15053 -m owner --gid-owner 2 -j CT --zone 2
        -A ISTIO_OUTPUT -p udp --dport 53 -d 127.0.0.53/32 -j CT --zone 2
        -A PREROUTING -p udp --sport 53 -s 127.0.0.53/32 -j CT --zone 1
        COMMIT";
    assert_eq!(lines(&rules.restore(Family::V4)), lines(expected));
}

/// 1.24 `drop-invalid` and `basic-exclude-nic` (run_test.go@1.24.0 L264-268, L275-280):
/// the mangle table gets a chain of its own; 1.13 dropped in PREROUTING directly.
#[test]
fn invalid_drop_and_excluded_interfaces_by_era() {
    let cfg = CaptureConfig {
        drop_invalid: true,
        exclude_interfaces: vec!["not-istio-nic".into()],
        ..CaptureConfig::injected(Era::Istio1_24, &[])
    };
    let new = render(&cfg, Era::Istio1_24).unwrap().restore(Family::V4);
    assert!(new.starts_with(
        "* mangle\n-N ISTIO_DROP\n-A PREROUTING -m conntrack --ctstate INVALID -j ISTIO_DROP\n-A ISTIO_DROP -j DROP\nCOMMIT\n* nat\n-N ISTIO_INBOUND\n"
    ), "{new}");
    assert!(new.contains(
        "-N ISTIO_OUTPUT\n-A PREROUTING -i not-istio-nic -j RETURN\n-A OUTPUT -o not-istio-nic -j RETURN\n"
    ), "{new}");
    let old = render(&cfg, Era::Istio1_13).unwrap().restore(Family::V4);
    assert!(
        old.starts_with("* mangle\n-A PREROUTING -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n"),
        "{old}"
    );
}

/// Included loopback ranges keep the app's own loopback calls captured: no `-o lo … !
/// --uid-owner … -j RETURN` (run.go@1.24.0 L392; golden loopback-outbound-iprange.golden).
/// 1.13 masks a range to its network, 1.24 prints it as written.
#[test]
fn loopback_ranges_and_range_printing_by_era() {
    let cfg = CaptureConfig {
        outbound_ip_ranges: IpRanges::Only(vec![cidr("127.1.2.3/8")]),
        ..CaptureConfig::injected(Era::Istio1_24, &[])
    };
    for era in [Era::Istio1_13, Era::Istio1_24] {
        let commands = render(&cfg, era).unwrap().commands();
        assert!(
            !commands.iter().any(|c| c.contains("! --uid-owner")),
            "{era}"
        );
        let printed = if era == Era::Istio1_24 {
            "127.1.2.3/8"
        } else {
            "127.0.0.0/8"
        };
        assert!(
            commands.contains(&format!(
                "iptables -t nat -A ISTIO_OUTPUT -d {printed} -j ISTIO_REDIRECT"
            )),
            "{era}: {commands:?}"
        );
    }
}

#[test]
fn inputs_the_scripts_did_not_take_are_refused() {
    let cfg = CaptureConfig {
        dns: Some(DnsCapture::All),
        ..CaptureConfig::injected(Era::Istio1_4, &[])
    };
    let err = render(&cfg, Era::Istio1_4).unwrap_err();
    assert_eq!(
        err.to_string(),
        "dns is not an input of the istio-iptables of Istio 1.4 (tools/packaging/common/istio-iptables.sh@1.4.0)"
    );
    assert!(render(&cfg, Era::Istio1_13).is_ok());
    assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    assert!("10.0.0/8".parse::<Cidr>().is_err());
}

/// What the kernel test reads back: each chain's final rules, the inserts in front.
#[test]
fn the_expected_dump_applies_inserts_and_groups_rules_by_chain() {
    let cfg = CaptureConfig {
        kubevirt_interfaces: vec!["eth1".into()],
        ..CaptureConfig::injected(Era::Istio1_4, &[])
    };
    let dump = render(&cfg, Era::Istio1_4)
        .unwrap()
        .expected_dump(Family::V4);
    let expected = "*nat
:ISTIO_INBOUND
:ISTIO_IN_REDIRECT
:ISTIO_OUTPUT
:ISTIO_REDIRECT
-A PREROUTING -i eth1 -j ISTIO_REDIRECT
-A PREROUTING -i eth1 -j RETURN
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A OUTPUT -p tcp -j ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp -m tcp --dport 22 -j RETURN
-A ISTIO_INBOUND -p tcp -m tcp --dport 15020 -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006
-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN
-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ISTIO_IN_REDIRECT
-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -m owner --gid-owner 1337 -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001
COMMIT
";
    assert_eq!(dump, expected);
}
