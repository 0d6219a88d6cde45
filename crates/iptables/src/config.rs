//! The inputs of istio-iptables the lab uses, typed, with the values the sidecar injector of
//! each era passes.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::{Era, IptablesError};

/// What istio-iptables is asked to capture for one pod (IPv4 pods only: every era reads the
/// pod's address only to decide whether to write IPv6 capture rules, and the lab's pods are
/// IPv4; REDIRECT interception only, the injector's default `-m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// `-p`: the port outbound TCP is redirected to (Envoy's virtual outbound listener).
    pub proxy_port: u16,
    /// `-z` (1.4+; `INBOUND_CAPTURE_PORT` at 1.2): the port captured inbound TCP goes to.
    pub inbound_capture_port: u16,
    /// `-e` (1.10+): the HBONE tunnel port, never captured inbound.
    pub inbound_tunnel_port: u16,
    /// `-u`: the proxy's user ids, whose traffic is not captured (a list, as istio splits it).
    pub proxy_uids: Vec<u32>,
    /// `-g`: the proxy's group ids (istio-iptables defaults them to the uids).
    pub proxy_gids: Vec<u32>,
    /// `-b`: the inbound ports captured.
    pub inbound_ports: InboundPorts,
    /// `-d`: inbound ports not captured (read only when every port is captured).
    pub inbound_ports_exclude: Vec<u16>,
    /// `-i`: the outbound destinations captured.
    pub outbound_ip_ranges: IpRanges,
    /// `-x`: outbound destinations not captured.
    pub outbound_ip_ranges_exclude: Vec<Cidr>,
    /// `-q` (1.13+ here): outbound ports captured whatever the destination.
    pub outbound_ports_include: Vec<u16>,
    /// `-o`: outbound ports not captured.
    pub outbound_ports_exclude: Vec<u16>,
    /// `-k`: interfaces (KubeVirt) whose inbound traffic is treated as outbound.
    pub kubevirt_interfaces: Vec<String>,
    /// `-c` (1.13+ here): interfaces never captured.
    pub exclude_interfaces: Vec<String>,
    /// `--redirect-dns` (`ISTIO_META_DNS_CAPTURE`, 1.13+ here; off by default): DNS to the
    /// agent's resolver on 15053.
    pub dns: Option<DnsCapture>,
    /// `INVALID_DROP` (1.13+ here; off by default): drop conntrack-INVALID packets.
    pub drop_invalid: bool,
}

/// Which DNS queries `--redirect-dns` sends to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsCapture {
    /// Those to the nameservers of the pod's `/etc/resolv.conf` (the default).
    Servers(Vec<Ipv4Addr>),
    /// Every query to port 53 (`--capture-all-dns`).
    All,
}

/// `-b`: which inbound ports are captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundPorts {
    /// `*`: every port but the excluded ones.
    All,
    /// These ports only (none: inbound is not captured).
    Only(Vec<u16>),
}

/// `-i`: which outbound destinations are captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRanges {
    /// `*`: every destination but the excluded ones.
    All,
    /// These ranges only (none: outbound is not captured).
    Only(Vec<Cidr>),
}

/// An IPv4 range as istio-iptables is given it, `ADDR/BITS` (the address kept as written:
/// some eras print it as given, one masks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written.
    pub addr: Ipv4Addr,
    /// The prefix length.
    pub bits: u8,
}

impl Cidr {
    /// The network address: the address with its host bits cleared.
    pub fn network(self) -> Ipv4Addr {
        let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
        Ipv4Addr::from(u32::from(self.addr) & mask)
    }

    /// `NETWORK/BITS`, as Go's `net.ParseCIDR` prints its network.
    pub fn masked(self) -> String {
        format!("{}/{}", self.network(), self.bits)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

impl FromStr for Cidr {
    type Err = IptablesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IptablesError::BadCidr {
            value: s.to_string(),
        };
        let (addr, bits) = s.split_once('/').ok_or_else(bad)?;
        let addr = addr.parse::<Ipv4Addr>().map_err(|_| bad())?;
        let bits = bits
            .parse::<u8>()
            .ok()
            .filter(|b| *b <= 32)
            .ok_or_else(bad)?;
        Ok(Self { addr, bits })
    }
}

impl CaptureConfig {
    /// The arguments the sidecar injector of `era` passes for a pod whose containers declare
    /// `container_ports` (read only by 1.2's injector), with the chart's default values and
    /// no annotation:
    ///
    /// - 1.2: `-p 15001 -u 1337 -m REDIRECT -i '*' -x "" -b <containerPorts> -d 15020`, no
    ///   `-z`: the script sends inbound to `INBOUND_CAPTURE_PORT`, unset, so to 15001
    ///   (install/kubernetes/helm/istio/files/injection-template.yaml@1.2.10 L12-26,
    ///   values.yaml@1.2.10 L188, L204-217; pilot/pkg/kube/inject/inject.go@1.2.10 L829-849;
    ///   tools/packaging/common/istio-iptables.sh@1.2.10 L325).
    /// - 1.4: `-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15020`
    ///   (injection-template.yaml@1.4.0 L12-29, values.yaml@1.4.0 L230, L246-259;
    ///   pkg/kube/inject/inject.go@1.4.0 L981-1005).
    /// - 1.13, 1.24: `-p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*'
    ///   -d 15090,15021,15020`
    ///   (manifests/charts/istio-control/istio-discovery/files/injection-template.yaml@1.13.0
    ///   L71-92 and @1.24.0 L83-104; istio-discovery/values.yaml@1.13.0 L325-337, L365 and
    ///   @1.24.0 L320-331, L376).
    ///
    /// The injector's own golden files show the same arguments: the `istio-init` container of
    /// pilot/pkg/kube/inject/testdata/inject/hello.yaml.injected@1.2.10 L120-134 (`-b 80`, the
    /// pod's one container port) and pkg/kube/inject/testdata/inject/hello.yaml.injected
    /// @1.4.0 L142-160, @1.13.0 L142-158, @1.24.0 L168-187.
    ///
    /// No era passes `-g`: istio-iptables takes the gid from the uid
    /// (tools/istio-iptables/pkg/cmd/root.go@1.13.0 L147-149; pkg/config/config.go@1.24.0
    /// L173-175; istio-iptables.sh@1.4.0 L205-207).
    pub fn injected(era: Era, container_ports: &[u16]) -> Self {
        let (capture, inbound, exclude) = match era {
            Era::Istio1_2 => (
                15001,
                InboundPorts::Only(container_ports.to_vec()),
                vec![15020],
            ),
            Era::Istio1_4 => (15006, InboundPorts::All, vec![15020]),
            Era::Istio1_13 | Era::Istio1_24 => {
                (15006, InboundPorts::All, vec![15090, 15021, 15020])
            }
        };
        Self {
            proxy_port: 15001,
            inbound_capture_port: capture,
            inbound_tunnel_port: 15008,
            proxy_uids: vec![1337],
            proxy_gids: vec![1337],
            inbound_ports: inbound,
            inbound_ports_exclude: exclude,
            outbound_ip_ranges: IpRanges::All,
            outbound_ip_ranges_exclude: Vec::new(),
            outbound_ports_include: Vec::new(),
            outbound_ports_exclude: Vec::new(),
            kubevirt_interfaces: Vec::new(),
            exclude_interfaces: Vec::new(),
            dns: None,
            drop_invalid: false,
        }
    }

    /// Refuse an input `era`'s istio-iptables did not take.
    pub(crate) fn check(&self, era: Era) -> Result<(), IptablesError> {
        if era.is_script() {
            // istio-iptables.sh@1.2.10 L154 and @1.4.0 L141: getopts ":p:z:u:g:m:b:d:o:i:x:k:ht"
            // (1.2 without z); no DNS capture, interface exclusion, outbound port inclusion or
            // INVALID drop in the scripts.
            let unsupported = [
                ("dns", self.dns.is_some()),
                ("drop_invalid", self.drop_invalid),
                (
                    "outbound_ports_include",
                    !self.outbound_ports_include.is_empty(),
                ),
                ("exclude_interfaces", !self.exclude_interfaces.is_empty()),
            ];
            if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
                return Err(IptablesError::Unsupported { field, era });
            }
        }
        Ok(())
    }
}
