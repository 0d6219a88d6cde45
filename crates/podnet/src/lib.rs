//! Pods as network namespaces, the way a node gives each pod its own network: a bridge in
//! the run's private namespace (the node's `cni0`), and per pod a namespace held by a
//! sandbox process (the pod's pause container), a veth pair whose pod end is `eth0` with the
//! pod's address, a default route through the bridge, and the capture rules istio-iptables
//! writes for the pod's Istio era.
//!
//! - [`PodNetwork`]: the bridge and the addresses (pods from `10.44.0.2`, the gateway
//!   `10.44.0.1`; service virtual IPs from `10.96.0.10`, which no interface holds: the
//!   client's capture rules redirect them before they are routed).
//! - [`PodSandbox`]: one pod's namespace: start processes in it, connect into it, apply
//!   rules, and remove it (its address stops answering at once, as a deleted pod's does).
//!
//! Interfaces are named with the run's prefix (`m5br0`, `m5pN`: `netns::RUN_INTERFACE_PREFIX`).
//! Nothing outlives the run: the bridge and the host ends of the veths live in the run's
//! private namespace, which the kernel frees with the run's last process; a pod's namespace
//! goes with its sandbox process and the processes in it, which all die with the runner
//! (parent-death signal), whatever ends it. No namespace is bind-mounted (no `ip netns add`).

mod ip;
mod network;
mod sandbox;

pub use network::{PodNetwork, EXTERNAL, GATEWAY, POD_PREFIX};
pub use sandbox::{PodSandbox, SANDBOX_ARGV0};

/// What can go wrong building the pod network.
#[derive(Debug, thiserror::Error)]
pub enum PodNetError {
    /// The run is not in a private network namespace: the bridge would go on the machine.
    #[error("pods need the run in a private network namespace (mesh5xx_process::netns::enter_private), not the machine's: found interfaces {found}")]
    NotPrivate {
        /// The interfaces of the current namespace.
        found: String,
    },
    /// `ip` (iproute2) is not installed.
    #[error(
        "`ip` is not installed: run scripts/prereqs.sh iptables (Debian: apt-get install iproute2)"
    )]
    NoIp,
    /// An `ip` batch failed.
    #[error("`ip -batch` in {place} failed ({status}): {stderr}\nbatch:\n{batch}")]
    Ip {
        /// Where it ran: `the node` or `pod NAME`.
        place: String,
        /// Its exit status.
        status: String,
        /// What it printed.
        stderr: String,
        /// The commands.
        batch: String,
    },
    /// The pod address range is used up.
    #[error("no pod address left in 10.44.0.0/16")]
    Exhausted,
    /// Applying the pod's capture rules failed.
    #[error("pod {pod}: {source}")]
    Rules {
        /// The pod.
        pod: String,
        /// Why.
        source: mesh5xx_iptables::IptablesError,
    },
    /// A process or namespace operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The sandbox process could not be started.
    #[error(transparent)]
    Process(#[from] mesh5xx_process::ProcessError),
}
