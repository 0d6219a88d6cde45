//! One pod's network namespace, held by its sandbox process.

use std::net::{Ipv4Addr, SocketAddr};

use mesh5xx_iptables::Rules;
use mesh5xx_process::netns::NetNs;
use mesh5xx_process::Supervised;
use tokio::process::Command;

use crate::network::{GATEWAY, POD_PREFIX};
use crate::{ip, PodNetError};

/// How a sandbox process shows in the process list (`mesh5xx-pod-sandbox NAME infinity`).
pub const SANDBOX_ARGV0: &str = "mesh5xx-pod-sandbox";

/// A pod's network namespace: `eth0` with the pod's address on the node's bridge, loopback,
/// a default route through the node, and (with a sidecar) the capture rules. Held by a
/// sandbox process, as a pod's namespace is by its pause container; dropped, the sandbox is
/// killed and the namespace goes with the last process in it.
pub struct PodSandbox {
    name: String,
    ip: Ipv4Addr,
    ns: NetNs,
    /// The veth's node end (`m5pN`), on the bridge; `None` once the pod is cut off.
    veth: Option<String>,
    holder: Supervised,
}

impl PodSandbox {
    pub(crate) async fn create(
        name: &str,
        ip: Ipv4Addr,
        index: u32,
        bridge: &str,
        rules: Option<&Rules>,
    ) -> Result<Self, PodNetError> {
        let mut cmd = Command::new("sleep");
        // Named in the process list as what it is, and for which pod.
        cmd.arg0(format!("{SANDBOX_ARGV0} {name}")).arg("infinity");
        NetNs::new_on_spawn(&mut cmd);
        let holder = Supervised::spawn(&format!("pod {name} sandbox"), cmd, None)?;
        let pid = holder.pid().ok_or_else(|| PodNetError::Io {
            what: format!("pod {name} sandbox"),
            source: std::io::Error::other("exited at once"),
        })?;
        let ns = NetNs::of_process(pid).map_err(|source| PodNetError::Io {
            what: format!("pod {name} namespace"),
            source,
        })?;
        let veth = format!("{}p{index}", mesh5xx_process::netns::RUN_INTERFACE_PREFIX);
        ip::batch(
            None,
            "the node",
            &[
                format!("link add {veth} type veth peer name eth0 netns {pid}"),
                format!("link set {veth} master {bridge} up"),
            ],
        )
        .await?;
        let place = format!("pod {name}");
        ip::batch(
            Some(&ns),
            &place,
            &[
                "link set lo up".into(),
                format!("addr add {ip}/{POD_PREFIX} dev eth0"),
                "link set eth0 up".into(),
                format!("route add default via {GATEWAY}"),
            ],
        )
        .await?;
        let sandbox = Self {
            name: name.to_string(),
            ip,
            ns,
            veth: Some(veth),
            holder,
        };
        if let Some(rules) = rules {
            sandbox.apply(rules).await?;
        }
        Ok(sandbox)
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The pod's address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// Its network namespace: start processes in it ([`NetNs::enter_on_spawn`]), connect
    /// into its loopback ([`NetNs::connect`]).
    pub fn netns(&self) -> &NetNs {
        &self.ns
    }

    /// Apply `rules` in the pod's namespace, as istio-iptables does in its init container.
    pub async fn apply(&self, rules: &Rules) -> Result<(), PodNetError> {
        let rules = rules.clone();
        let applied = self
            .ns
            .run_async(move || mesh5xx_iptables::apply(&rules))
            .await
            .map_err(|source| PodNetError::Io {
                what: format!("entering pod {}", self.name),
                source,
            })?;
        applied.map_err(|source| PodNetError::Rules {
            pod: self.name.clone(),
            source,
        })
    }

    /// A TCP connection to `addr` from inside the pod (its loopback, e.g. Envoy's admin).
    pub async fn connect(&self, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
        self.ns.connect(addr).await
    }

    /// Cut the pod off the network, as a lost node's pods are: its veth is deleted and its
    /// address stops answering (no reset, no refusal), while its processes run on in its
    /// namespace. Cutting it again does nothing.
    pub async fn disconnect(&mut self) -> Result<(), PodNetError> {
        match self.veth.take() {
            Some(veth) => ip::batch(None, "the node", &[format!("link del {veth}")]).await,
            None => Ok(()),
        }
    }

    /// Take the pod off the network: its veth is deleted (the address stops answering at
    /// once, as a deleted pod's does), then its sandbox is killed. Processes still in the
    /// namespace keep it until they end.
    pub async fn remove(mut self) -> Result<(), PodNetError> {
        let deleted = self.disconnect().await;
        let _ = self.holder.kill().await;
        deleted
    }
}
