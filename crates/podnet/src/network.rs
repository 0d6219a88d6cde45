//! The node side: the bridge every pod's veth is plugged into, and the addresses.

use std::net::Ipv4Addr;
use std::sync::Mutex;

use mesh5xx_iptables::Rules;
use mesh5xx_process::netns;

use crate::sandbox::PodSandbox;
use crate::{ip, PodNetError};

/// The bridge's address: the pods' default gateway (the node).
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 44, 0, 1);
/// The pods' prefix length (`10.44.0.0/16`).
pub const POD_PREFIX: u8 = 16;
/// The bridge (the node's `cni0`); it and the veths carry the run's interface prefix.
const BRIDGE: &str = "m5br0";
/// The addresses outside the cluster (198.18.0.0/15, RFC 2544's block for benchmark
/// networks): local to the node's namespace, where the egress process stands in for the
/// internet and its firewall sits between the pods and them.
pub const EXTERNAL: (Ipv4Addr, u8) = (Ipv4Addr::new(198, 18, 0, 0), 15);
/// The first service virtual IP (`10.96.0.0/12` is Kubernetes' default service range).
const FIRST_VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

/// The pod network of one run: a bridge in the run's private namespace and the addresses
/// handed out so far.
#[derive(Debug)]
pub struct PodNetwork {
    next: Mutex<Counters>,
}

#[derive(Debug)]
struct Counters {
    /// The next pod's host number in 10.44.0.0/16 (2 is the first pod).
    pod: u32,
    /// The next service's offset from [`FIRST_VIP`].
    vip: u32,
}

impl PodNetwork {
    /// Create the bridge, with [`GATEWAY`], and make the [`EXTERNAL`] addresses local, in the
    /// calling thread's namespace, which must be private (only loopback in it): see
    /// [`netns::enter_private`].
    pub async fn create() -> Result<Self, PodNetError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |source| PodNetError::Io { what, source }
        };
        if !netns::is_private().map_err(io("listing the interfaces"))? {
            let found = netns::interfaces()
                .map_err(io("listing the interfaces"))?
                .join(", ");
            return Err(PodNetError::NotPrivate { found });
        }
        ip::batch(
            None,
            "the node",
            &[
                format!("link add {BRIDGE} type bridge"),
                format!("addr add {GATEWAY}/{POD_PREFIX} dev {BRIDGE}"),
                format!("link set {BRIDGE} up"),
                format!("route add local {}/{} dev lo", EXTERNAL.0, EXTERNAL.1),
            ],
        )
        .await?;
        Ok(Self {
            next: Mutex::new(Counters { pod: 2, vip: 0 }),
        })
    }

    /// A new pod `name`: its namespace, veth, address and route, with `rules` applied (none:
    /// a pod without a sidecar).
    pub async fn pod(&self, name: &str, rules: Option<&Rules>) -> Result<PodSandbox, PodNetError> {
        let host = {
            let mut next = self.next.lock().expect("not poisoned");
            let host = next.pod;
            next.pod += 1;
            host
        };
        if host >= (1 << (32 - POD_PREFIX)) - 1 {
            return Err(PodNetError::Exhausted);
        }
        let ip = Ipv4Addr::from(u32::from(GATEWAY) - 1 + host);
        PodSandbox::create(name, ip, host, BRIDGE, rules).await
    }

    /// A new service virtual IP (held by no interface, as a ClusterIP is not).
    pub fn service_ip(&self) -> Ipv4Addr {
        let mut next = self.next.lock().expect("not poisoned");
        let vip = Ipv4Addr::from(u32::from(FIRST_VIP) + next.vip);
        next.vip += 1;
        vip
    }
}
