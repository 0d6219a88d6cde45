//! The rules each era's istio-iptables writes, in the order it writes them. Every rule cites
//! the istio/istio line(s) it follows; `sh@TAG` is tools/packaging/common/istio-iptables.sh,
//! `run.go@TAG` tools/istio-iptables/pkg/capture/run.go, `builder@TAG`
//! tools/istio-iptables/pkg/builder/iptables_builder_impl.go.
//!
//! Not rendered (not inputs the lab passes): TPROXY interception, IPv6 pods, trace logging,
//! 1.24's owner-group filters (`ISTIO_OUTBOUND_OWNER_GROUPS`, default `*`: no rule) and
//! IPv4 loopback CIDR (`ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR`, default 127.0.0.1/32, used
//! below). The 1.2 script's deletion of earlier chains (sh@1.2.10 L268-289) changes nothing
//! in a new namespace and is not rendered.

use crate::config::{CaptureConfig, DnsCapture, InboundPorts, IpRanges};
use crate::rules::{Family, Op, Rules, Verb};
use crate::{Era, IptablesError};

const NAT: &str = "nat";
const MANGLE: &str = "mangle";
const RAW: &str = "raw";
const FILTER: &str = "filter";
/// The agent's DNS listener (constants.go@1.13.0 L148).
const DNS_PORT: &str = "15053";

/// Render the rules `era`'s istio-iptables writes for `cfg`, or say which input it did not
/// take.
pub fn render(cfg: &CaptureConfig, era: Era) -> Result<Rules, IptablesError> {
    cfg.check(era)?;
    let ops = match era {
        Era::Istio1_2 | Era::Istio1_4 => script(cfg, era),
        Era::Istio1_13 | Era::Istio1_24 => go(cfg, era),
    };
    Ok(Rules { era, ops })
}

/// Operations in order, for one family.
struct Ops {
    family: Family,
    ops: Vec<Op>,
}

impl Ops {
    fn new(family: Family) -> Self {
        Self {
            family,
            ops: Vec::new(),
        }
    }

    fn op(&mut self, table: &'static str, verb: Verb, chain: &str, spec: String) {
        self.ops.push(Op {
            family: self.family,
            table,
            verb,
            chain: chain.to_string(),
            spec,
            explicit_table: true,
        });
    }

    fn new_chain(&mut self, table: &'static str, chain: &str) {
        self.op(table, Verb::New, chain, String::new());
    }

    fn append(&mut self, table: &'static str, chain: &str, spec: impl Into<String>) {
        self.op(table, Verb::Append, chain, spec.into());
    }

    fn insert(&mut self, table: &'static str, chain: &str, pos: u32, spec: impl Into<String>) {
        self.op(table, Verb::Insert(pos), chain, spec.into());
    }
}

/// istio-iptables.sh, REDIRECT mode, IPv4 pod.
fn script(cfg: &CaptureConfig, era: Era) -> Vec<Op> {
    let v14 = era == Era::Istio1_4;
    let mut b = Ops::new(Family::V4);
    // sh@1.2.10 L335-336, sh@1.4.0 L305-306.
    b.new_chain(NAT, "ISTIO_REDIRECT");
    b.append(
        NAT,
        "ISTIO_REDIRECT",
        format!("-p tcp -j REDIRECT --to-port {}", cfg.proxy_port),
    );
    // sh@1.2.10 L340-341: always INBOUND_CAPTURE_PORT (defaulting to the proxy port, L325);
    // sh@1.4.0 L310-317: the capture port only when every inbound port is captured.
    b.new_chain(NAT, "ISTIO_IN_REDIRECT");
    let in_port = if v14 && cfg.inbound_ports != InboundPorts::All {
        cfg.proxy_port
    } else {
        cfg.inbound_capture_port
    };
    b.append(
        NAT,
        "ISTIO_IN_REDIRECT",
        format!("-p tcp -j REDIRECT --to-port {in_port}"),
    );
    // sh@1.2.10 L345-408, sh@1.4.0 L321-384 (nat: REDIRECT mode).
    if cfg.inbound_ports != InboundPorts::Only(Vec::new()) {
        b.new_chain(NAT, "ISTIO_INBOUND");
        b.append(NAT, "PREROUTING", "-p tcp -j ISTIO_INBOUND");
        inbound_ports(&mut b, cfg, true);
    }
    // sh@1.2.10 L414-425, sh@1.4.0 L390-401.
    b.new_chain(NAT, "ISTIO_OUTPUT");
    b.append(NAT, "OUTPUT", "-p tcp -j ISTIO_OUTPUT");
    for port in &cfg.outbound_ports_exclude {
        b.append(
            NAT,
            "ISTIO_OUTPUT",
            format!("-p tcp --dport {port} -j RETURN"),
        );
    }
    if v14 {
        // sh@1.4.0 L403-404: connections from the inbound passthrough cluster (bound to
        // 127.0.0.6) are not captured again; absent at sh@1.2.10.
        b.append(NAT, "ISTIO_OUTPUT", "-o lo -s 127.0.0.6/32 -j RETURN");
    }
    // App calls back to itself through a VIP: sh@1.2.10 L427-431 to the outbound port
    // (ISTIO_REDIRECT); sh@1.4.0 L406-410 to the inbound one (ISTIO_IN_REDIRECT).
    let self_call = if v14 {
        "ISTIO_IN_REDIRECT"
    } else {
        "ISTIO_REDIRECT"
    };
    b.append(
        NAT,
        "ISTIO_OUTPUT",
        format!("-o lo ! -d 127.0.0.1/32 -j {self_call}"),
    );
    // sh@1.2.10 L433-448, sh@1.4.0 L412-427.
    for uid in &cfg.proxy_uids {
        b.append(
            NAT,
            "ISTIO_OUTPUT",
            format!("-m owner --uid-owner {uid} -j RETURN"),
        );
    }
    for gid in &cfg.proxy_gids {
        b.append(
            NAT,
            "ISTIO_OUTPUT",
            format!("-m owner --gid-owner {gid} -j RETURN"),
        );
    }
    b.append(NAT, "ISTIO_OUTPUT", "-d 127.0.0.1/32 -j RETURN");
    // sh@1.2.10 L451-459, sh@1.4.0 L430-438: exclusions, then KubeVirt interfaces returned.
    for cidr in &cfg.outbound_ip_ranges_exclude {
        b.append(NAT, "ISTIO_OUTPUT", format!("-d {cidr} -j RETURN"));
    }
    for iface in &cfg.kubevirt_interfaces {
        b.insert(NAT, "PREROUTING", 1, format!("-i {iface} -j RETURN"));
    }
    // sh@1.2.10 L462-480, sh@1.4.0 L441-459.
    redirect_outbound_ranges(&mut b, cfg, crate::Cidr::to_string, true);
    // An IPv4 pod: inbound IPv6 dropped but for established connections and loopback
    // (sh@1.2.10 L604-610, sh@1.4.0 L568-574), `ip6tables` without `-t`.
    let mut ops = b.ops;
    let mut v6 = Ops::new(Family::V6);
    v6.op(FILTER, Verb::Flush, "INPUT", String::new());
    v6.append(FILTER, "INPUT", "-m state --state ESTABLISHED -j ACCEPT");
    v6.append(FILTER, "INPUT", "-i lo -d ::1 -j ACCEPT");
    v6.append(FILTER, "INPUT", "-j REJECT");
    for mut op in v6.ops {
        op.explicit_table = false;
        ops.push(op);
    }
    ops
}

/// The Go istio-iptables (run.go `Run`), REDIRECT mode, IPv4 pod (no IPv6 rule at all:
/// `AppendRuleV6` is a no-op without IPv6, builder@1.24.0 L153-158).
fn go(cfg: &CaptureConfig, era: Era) -> Vec<Op> {
    let v124 = era == Era::Istio1_24;
    let tunnel = cfg.inbound_tunnel_port;
    let dns = cfg.dns.as_ref();
    let cidr = |c: &crate::Cidr| {
        // run.go@1.13.0 L91-119 keeps net.ParseCIDR's network (masked); run.go@1.24.0
        // L76-104 netip.ParsePrefix's prefix as written.
        if v124 {
            c.to_string()
        } else {
            c.masked()
        }
    };
    let mut b = Ops::new(Family::V4);
    // run.go@1.13.0 L242-247, L354; run.go@1.24.0 L226-231, L318.
    for iface in &cfg.exclude_interfaces {
        b.append(NAT, "PREROUTING", format!("-i {iface} -j RETURN"));
        b.append(NAT, "OUTPUT", format!("-o {iface} -j RETURN"));
    }
    // run.go@1.13.0 L236-240, L357; run.go@1.24.0 L220-224, L321.
    for iface in &cfg.kubevirt_interfaces {
        b.insert(NAT, "PREROUTING", 1, format!("-i {iface} -j RETURN"));
    }
    if cfg.drop_invalid {
        if v124 {
            // run.go@1.24.0 L323-329: through a chain of its own.
            b.append(
                MANGLE,
                "PREROUTING",
                "-m conntrack --ctstate INVALID -j ISTIO_DROP",
            );
            b.append(MANGLE, "ISTIO_DROP", "-j DROP");
        } else {
            // run.go@1.13.0 L360-364.
            b.append(
                MANGLE,
                "PREROUTING",
                "-m conntrack --ctstate INVALID -j DROP",
            );
        }
    }
    // run.go@1.13.0 L367-380; run.go@1.24.0 L332-345.
    b.append(
        NAT,
        "ISTIO_INBOUND",
        format!("-p tcp --dport {tunnel} -j RETURN"),
    );
    b.append(
        NAT,
        "ISTIO_REDIRECT",
        format!("-p tcp -j REDIRECT --to-ports {}", cfg.proxy_port),
    );
    b.append(
        NAT,
        "ISTIO_IN_REDIRECT",
        format!("-p tcp -j REDIRECT --to-ports {}", cfg.inbound_capture_port),
    );
    // run.go@1.13.0 L140-207; run.go@1.24.0 L125-192 (REDIRECT: nat; no SSH exception).
    if cfg.inbound_ports != InboundPorts::Only(Vec::new()) {
        b.append(NAT, "PREROUTING", "-p tcp -j ISTIO_INBOUND");
        inbound_ports(&mut b, cfg, false);
    }
    // run.go@1.13.0 L387-398; run.go@1.24.0 L352-363.
    b.append(NAT, "OUTPUT", "-p tcp -j ISTIO_OUTPUT");
    for port in &cfg.outbound_ports_exclude {
        b.append(
            NAT,
            "ISTIO_OUTPUT",
            format!("-p tcp --dport {port} -j RETURN"),
        );
    }
    b.append(NAT, "ISTIO_OUTPUT", "-o lo -s 127.0.0.6/32 -j RETURN");
    // Loopback in the included ranges keeps app-to-itself traffic captured (run.go@1.13.0
    // L422, L454; run.go@1.24.0 L392, L427).
    let loopback_included = match &cfg.outbound_ip_ranges {
        IpRanges::Only(cidrs) => cidrs.iter().any(|c| c.addr.is_loopback()),
        IpRanges::All => false,
    };
    // The proxy's own calls to the pod through lo go to the inbound listener, others' calls
    // through lo are left alone, the proxy's other traffic too. uids: run.go@1.13.0
    // L400-442 (DNS: `! --dport 53`); run.go@1.24.0 L365-412 (the tunnel port exempt, with
    // DNS through multiport). gids: run.go@1.13.0 L444-474; run.go@1.24.0 L414-447 (no
    // DNS variant of the first rule).
    let owners = cfg
        .proxy_uids
        .iter()
        .map(|id| ("uid", id))
        .chain(cfg.proxy_gids.iter().map(|id| ("gid", id)));
    for (kind, id) in owners {
        let to_inbound = match (v124, dns.is_some() && kind == "uid") {
            (true, true) => format!("-p tcp -m multiport ! --dports 53,{tunnel} "),
            (true, false) => format!("-p tcp ! --dport {tunnel} "),
            (false, true) => "-p tcp ! --dport 53 ".to_string(),
            (false, false) => String::new(),
        };
        b.append(
            NAT,
            "ISTIO_OUTPUT",
            format!("-o lo ! -d 127.0.0.1/32 {to_inbound}-m owner --{kind}-owner {id} -j ISTIO_IN_REDIRECT"),
        );
        if !loopback_included {
            let not_dns = if dns.is_some() {
                "-p tcp ! --dport 53 "
            } else {
                ""
            };
            b.append(
                NAT,
                "ISTIO_OUTPUT",
                format!("-o lo {not_dns}-m owner ! --{kind}-owner {id} -j RETURN"),
            );
        }
        b.append(
            NAT,
            "ISTIO_OUTPUT",
            format!("-m owner --{kind}-owner {id} -j RETURN"),
        );
    }
    // TCP DNS to the agent: run.go@1.13.0 L476-513; run.go@1.24.0 L453-490.
    match dns {
        Some(DnsCapture::All) => b.append(
            NAT,
            "ISTIO_OUTPUT",
            format!("-p tcp --dport 53 -j REDIRECT --to-ports {DNS_PORT}"),
        ),
        Some(DnsCapture::Servers(servers)) => {
            for s in servers {
                b.append(
                    NAT,
                    "ISTIO_OUTPUT",
                    format!("-p tcp --dport 53 -d {s}/32 -j REDIRECT --to-ports {DNS_PORT}"),
                );
            }
        }
        None => {}
    }
    // run.go@1.13.0 L518-523; run.go@1.24.0 L495-500.
    b.append(NAT, "ISTIO_OUTPUT", "-d 127.0.0.1/32 -j RETURN");
    for c in &cfg.outbound_ip_ranges_exclude {
        b.append(NAT, "ISTIO_OUTPUT", format!("-d {} -j RETURN", cidr(c)));
    }
    // run.go@1.13.0 L528, L723-730; run.go@1.24.0 L505, L723-730.
    for port in &cfg.outbound_ports_include {
        b.append(
            NAT,
            "ISTIO_OUTPUT",
            format!("-p tcp --dport {port} -j ISTIO_REDIRECT"),
        );
    }
    // run.go@1.13.0 L209-234 (a closing RETURN after listed ranges); run.go@1.24.0 L194-218
    // (none).
    redirect_outbound_ranges(&mut b, cfg, cidr, !v124);
    if let Some(dns) = dns {
        dns_udp(&mut b, cfg, dns, v124);
    }
    declare_chains(b.ops, v124)
}

/// The inbound ports sent to ISTIO_IN_REDIRECT: every port but the excluded ones (and, with
/// `ssh_exempt`, port 22: "Makes sure SSH is not redirected", sh@1.4.0 L354-355, gone by
/// run.go@1.13.0), or only the listed ones.
fn inbound_ports(b: &mut Ops, cfg: &CaptureConfig, ssh_exempt: bool) {
    match &cfg.inbound_ports {
        InboundPorts::All => {
            if ssh_exempt {
                b.append(NAT, "ISTIO_INBOUND", "-p tcp --dport 22 -j RETURN");
            }
            for port in &cfg.inbound_ports_exclude {
                let spec = format!("-p tcp --dport {port} -j RETURN");
                b.append(NAT, "ISTIO_INBOUND", spec);
            }
            b.append(NAT, "ISTIO_INBOUND", "-p tcp -j ISTIO_IN_REDIRECT");
        }
        InboundPorts::Only(ports) => {
            for port in ports {
                let spec = format!("-p tcp --dport {port} -j ISTIO_IN_REDIRECT");
                b.append(NAT, "ISTIO_INBOUND", spec);
            }
        }
    }
}

/// The outbound traffic sent to the proxy: everything, or only the listed ranges (as
/// `format` prints them), then, with `closing_return`, nothing else; the kubevirt interfaces
/// likewise from PREROUTING.
fn redirect_outbound_ranges<F: Fn(&crate::Cidr) -> String>(
    b: &mut Ops,
    cfg: &CaptureConfig,
    format: F,
    closing_return: bool,
) {
    match &cfg.outbound_ip_ranges {
        IpRanges::All => {
            b.append(NAT, "ISTIO_OUTPUT", "-j ISTIO_REDIRECT");
            for iface in &cfg.kubevirt_interfaces {
                b.insert(
                    NAT,
                    "PREROUTING",
                    1,
                    format!("-i {iface} -j ISTIO_REDIRECT"),
                );
            }
        }
        IpRanges::Only(cidrs) if !cidrs.is_empty() => {
            for c in cidrs {
                let c = format(c);
                for iface in &cfg.kubevirt_interfaces {
                    let spec = format!("-i {iface} -d {c} -j ISTIO_REDIRECT");
                    b.insert(NAT, "PREROUTING", 1, spec);
                }
                b.append(NAT, "ISTIO_OUTPUT", format!("-d {c} -j ISTIO_REDIRECT"));
            }
            if closing_return {
                b.append(NAT, "ISTIO_OUTPUT", "-j RETURN");
            }
        }
        IpRanges::Only(_) => {}
    }
}

/// UDP DNS: returned for the proxy, redirected to the agent, and split into two conntrack
/// zones. run.go@1.13.0 L533-538, L627-721: in the OUTPUT chains, the PREROUTING zone rule
/// matching the server as destination; run.go@1.24.0 L510-520, L610-721: through
/// ISTIO_OUTPUT (nat and raw), the PREROUTING rule matching it as source.
fn dns_udp(b: &mut Ops, cfg: &CaptureConfig, dns: &DnsCapture, v124: bool) {
    let chain = if v124 {
        b.append(NAT, "OUTPUT", "-p udp -j ISTIO_OUTPUT");
        b.append(RAW, "OUTPUT", "-p udp -j ISTIO_OUTPUT");
        "ISTIO_OUTPUT"
    } else {
        "OUTPUT"
    };
    let owners: Vec<(&str, u32)> = cfg
        .proxy_uids
        .iter()
        .map(|id| ("uid", *id))
        .chain(cfg.proxy_gids.iter().map(|id| ("gid", *id)))
        .collect();
    for (kind, id) in &owners {
        b.append(
            NAT,
            chain,
            format!("-p udp --dport 53 -m owner --{kind}-owner {id} -j RETURN"),
        );
    }
    match dns {
        DnsCapture::All => b.append(
            NAT,
            chain,
            format!("-p udp --dport 53 -j REDIRECT --to-port {DNS_PORT}"),
        ),
        DnsCapture::Servers(servers) => {
            for s in servers {
                b.append(
                    NAT,
                    chain,
                    format!("-p udp --dport 53 -d {s}/32 -j REDIRECT --to-port {DNS_PORT}"),
                );
            }
        }
    }
    for (kind, id) in &owners {
        b.append(
            RAW,
            chain,
            format!("-p udp --dport 53 -m owner --{kind}-owner {id} -j CT --zone 1"),
        );
        b.append(
            RAW,
            chain,
            format!("-p udp --sport {DNS_PORT} -m owner --{kind}-owner {id} -j CT --zone 2"),
        );
    }
    match dns {
        DnsCapture::All => {
            b.append(RAW, chain, "-p udp --dport 53 -j CT --zone 2");
            b.append(RAW, "PREROUTING", "-p udp --sport 53 -j CT --zone 1");
        }
        DnsCapture::Servers(servers) => {
            let from = if v124 { "-s" } else { "-d" };
            for s in servers {
                b.append(
                    RAW,
                    chain,
                    format!("-p udp --dport 53 -d {s}/32 -j CT --zone 2"),
                );
                b.append(
                    RAW,
                    "PREROUTING",
                    format!("-p udp --sport 53 {from} {s}/32 -j CT --zone 1"),
                );
            }
        }
    }
}

/// The Go builder's `-N` for every chain a rule is added to that is not built in, in order of
/// first use (builder@1.13.0 L150-163, L200-211; builder@1.24.0 L386-396), and from 1.24 for
/// chains only jumped to (L397-410); then the rules. The built-in chains: constants.go@1.13.0
/// L36-42; constants.go@1.24.0 L41-50.
fn declare_chains(rules: Vec<Op>, jump_targets: bool) -> Vec<Op> {
    const BUILT_IN: [&str; 8] = [
        "INPUT",
        "OUTPUT",
        "FORWARD",
        "PREROUTING",
        "POSTROUTING",
        "ACCEPT",
        "RETURN",
        "DROP",
    ];
    let mut seen: Vec<(&'static str, String)> = Vec::new();
    let mut declared = Vec::new();
    let mut declare = |table: &'static str, chain: &str, family: Family| {
        if seen.iter().any(|(t, c)| *t == table && c == chain) {
            return;
        }
        seen.push((table, chain.to_string()));
        if !BUILT_IN.contains(&chain) {
            declared.push(Op {
                family,
                table,
                verb: Verb::New,
                chain: chain.to_string(),
                spec: String::new(),
                explicit_table: true,
            });
        }
    };
    for r in &rules {
        declare(r.table, &r.chain, r.family);
    }
    if jump_targets {
        for r in &rules {
            let words: Vec<&str> = r.spec.split_whitespace().collect();
            if let [.., "-j", target] = words.as_slice() {
                declare(r.table, target, r.family);
            }
        }
    }
    declared.into_iter().chain(rules).collect()
}

#[cfg(test)]
mod tests;
