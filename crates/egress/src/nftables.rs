//! The kernel firewall (`backend: nftables`): the allow table as an nftables set with
//! per-element timeouts, as production keeps it in an ipset.
//!
//! One table per egress process, `ip mesh5xx_egress_<pid>`:
//!
//! ```text
//! set allow    { type ipv4_addr . inet_service; flags timeout; }  # the ipset
//! set retired  { type ipv4_addr . inet_service; }                 # addresses the ELB dropped
//! set cut      { type ipv4_addr; }                                # ... and whose flows it resets
//! chain gate (filter, output or prerouting, priority -150: after conntrack, before NAT)
//!     client packets of open flows to a `cut` address -> reject with tcp reset
//!     packets of established flows               -> accept (conntrack)
//!     NEW to gateway i                            -> jump gateway_i
//! chain gateway_i
//!     retired                                     -> counter refused_i, reject with tcp reset
//!     in @allow (or no firewall)                  -> counter forwarded_i, accept
//!     otherwise                                   -> counter refused_i, reject with tcp reset | drop
//! chain nat (nat, output or prerouting, priority -100)
//!     to gateway i                                -> dnat to its upstream
//! ```
//!
//! Every write of allow entries replaces its elements in one transaction — `add element` (so
//! that the delete finds one), `delete element`, `add element … timeout Nms` — so the element is
//! live for its new time whatever the kernel held before (`ipset add … -exist`): a plain
//! `add element` of an element the kernel holds keeps its old expiry (kernels before 6.10 never
//! update it, later ones only for a different `timeout`), and the packets see the old element or
//! the new one, never neither. The kernel expires elements on its own. The chains hook
//! `output` in the local lab, whose clients are local processes, and `prerouting` in the
//! netns mode, whose clients are pods behind the node's bridge ([`Hook`]). Allow entries,
//! written while a DNS answer waits, go to the kernel over netlink from this process (the batch
//! `nft -f` would send); everything else is done with the `nft` command. All of it happens in
//! the network namespace of this process, which must be a private one
//! ([`crate::service::start`] checks).

mod netlink;

use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, ToSocketAddrs};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::allow::AllowKey;
use crate::config::{ElbOldAddress, OnExpired};
use crate::gateway::Policy;

/// Why the kernel firewall could not do something.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// `nft` could not be started.
    #[error("cannot run `nft` ({0}): install it (Debian: apt-get install nftables)")]
    Missing(io::Error),
    /// `nft` refused a script.
    #[error("`nft -f -` failed while {doing}: {stderr}")]
    Failed {
        /// What the script was for.
        doing: String,
        /// What nft said.
        stderr: String,
    },
    /// The kernel refused a netlink request, or the socket failed.
    #[error("netlink to nf_tables failed while {doing}: {source}")]
    Netlink {
        /// What the request was for.
        doing: String,
        /// The error.
        source: io::Error,
    },
    /// A gateway's upstream is not an IPv4 address the kernel can DNAT to.
    #[error("gateways[{index}].upstream: {upstream:?} does not resolve to an IPv4 address (the nftables backend DNATs to it)")]
    Upstream {
        /// The gateway's position in the configuration.
        index: usize,
        /// Its upstream.
        upstream: String,
    },
}

/// One external address as the kernel serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelGateway {
    /// The address and port clients connect to (the allow entry's key).
    pub key: AllowKey,
    /// Where its connections are DNATed.
    pub upstream: SocketAddrV4,
}

impl KernelGateway {
    /// The gateway for `ip`:`port` in front of `upstream` (`host:port`), gateway `index` of
    /// the configuration.
    pub fn resolve(
        index: usize,
        ip: Ipv4Addr,
        port: u16,
        upstream: &str,
    ) -> Result<Self, NftError> {
        let v4 = upstream
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| {
                addrs.find_map(|a| match a {
                    std::net::SocketAddr::V4(v4) => Some(v4),
                    std::net::SocketAddr::V6(_) => None,
                })
            })
            .ok_or_else(|| NftError::Upstream {
                index,
                upstream: upstream.to_string(),
            })?;
        Ok(Self {
            key: AllowKey { ip, port },
            upstream: v4,
        })
    }
}

/// Counters of one gateway's NEW connections (SYN packets that reached its chain).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounts {
    /// Let through to the upstream.
    pub forwarded: u64,
    /// Rejected or dropped (with `drop`, a retransmitted SYN counts again).
    pub refused: u64,
}

/// Where the table's chains see the clients' packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Locally generated packets: clients on this machine's loopback (the local lab).
    Output,
    /// Packets entering the namespace: clients in pods behind the node's bridge (the netns
    /// mode), as a node's or a NAT gateway's firewall sees them.
    Prerouting,
}

impl Hook {
    fn name(self) -> &'static str {
        match self {
            Hook::Output => "output",
            Hook::Prerouting => "prerouting",
        }
    }
}

/// The table of this process.
#[derive(Debug)]
pub struct NftTable {
    name: String,
    gateways: Vec<KernelGateway>,
    hook: Hook,
    /// Writes the allow entries.
    netlink: netlink::Netlink,
}

impl NftTable {
    /// Create the table, its sets and the rules for `gateways` under `policy`, its chains on
    /// `hook`.
    pub async fn create(
        gateways: Vec<KernelGateway>,
        policy: Policy,
        hook: Hook,
    ) -> Result<Self, NftError> {
        let netlink = netlink::Netlink::open().map_err(|source| NftError::Netlink {
            doing: "opening a socket".into(),
            source,
        })?;
        let table = Self {
            name: format!("mesh5xx_egress_{}", std::process::id()),
            gateways,
            hook,
            netlink,
        };
        // A table left by an earlier process with the same pid is replaced.
        let script = format!(
            "table ip {0}\ndelete table ip {0}\n{1}",
            table.name,
            table.ruleset(policy)
        );
        nft(&script, "creating the firewall table").await?;
        Ok(table)
    }

    /// The table's name (`mesh5xx_egress_<pid>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole table as an `nft -f` script.
    fn ruleset(&self, policy: Policy) -> String {
        let name = &self.name;
        let key = "type ipv4_addr . inet_service;";
        let mut s = format!(
            "table ip {name} {{\n  set allow {{ {key} flags timeout; }}\n  set retired {{ {key} }}\n  set cut {{ type ipv4_addr; }}\n"
        );
        for i in 0..self.gateways.len() {
            let _ = writeln!(
                s,
                "  counter forwarded_{i} {{}}\n  counter refused_{i} {{}}"
            );
        }
        let hook = self.hook.name();
        let _ = writeln!(
            s,
            "  chain gate {{\n    type filter hook {hook} priority -150; policy accept;"
        );
        // Gateways have distinct addresses, so the address alone names the gateway of a flow.
        // Only the client's direction: the resets themselves travel the other way. NEW
        // connections go on to their gateway's chain, which counts them.
        s.push_str(
            "    meta l4proto tcp ct state != new ct direction original ct original ip daddr @cut reject with tcp reset\n",
        );
        s.push_str("    ct state != new accept\n");
        for (i, g) in self.gateways.iter().enumerate() {
            let _ = writeln!(
                s,
                "    ip daddr {} tcp dport {} jump gateway_{i}",
                g.key.ip, g.key.port
            );
        }
        s.push_str("  }\n");
        let otherwise = match policy.on_expired {
            OnExpired::Drop => "drop",
            OnExpired::Refuse | OnExpired::Reset => "reject with tcp reset",
        };
        for i in 0..self.gateways.len() {
            let _ = writeln!(s, "  chain gateway_{i} {{");
            let _ = writeln!(
                s,
                "    ip daddr . tcp dport @retired counter name refused_{i} reject with tcp reset"
            );
            if policy.firewall {
                let _ = writeln!(
                    s,
                    "    ip daddr . tcp dport @allow counter name forwarded_{i} accept\n    counter name refused_{i} {otherwise}"
                );
            } else {
                let _ = writeln!(s, "    counter name forwarded_{i} accept");
            }
            s.push_str("  }\n");
        }
        let _ = writeln!(
            s,
            "  chain nat {{\n    type nat hook {hook} priority -100; policy accept;"
        );
        for g in &self.gateways {
            let _ = writeln!(
                s,
                "    ip daddr {} tcp dport {} dnat ip to {}",
                g.key.ip, g.key.port, g.upstream
            );
        }
        s.push_str("  }\n}\n");
        s
    }

    /// Add the entries, or restart their countdowns, each for its own time: once this returns,
    /// each is live in the kernel until at least its time has passed.
    pub async fn allow(&self, entries: &[(AllowKey, Duration)]) -> Result<(), NftError> {
        if entries.is_empty() {
            return Ok(());
        }
        let elements: Vec<(AllowKey, u64)> = entries
            .iter()
            .map(|(key, time)| (*key, kernel_timeout_ms(*time)))
            .collect();
        self.netlink
            .replace_elements(&self.name, "allow", &elements)
            .map_err(|source| NftError::Netlink {
                doing: "writing allow entries".into(),
                source,
            })
    }

    /// The load balancer dropped `key`: refuse its NEW connections and, with
    /// `cut_connections`, reset its established ones.
    pub async fn retire(&self, key: AllowKey, how: ElbOldAddress) -> Result<(), NftError> {
        let element = format!("{{ {} . {} }}", key.ip, key.port);
        let mut script = String::new();
        match how {
            ElbOldAddress::Keep => return Ok(()),
            ElbOldAddress::StopAccepting => {}
            ElbOldAddress::CutConnections => {
                let _ = writeln!(script, "add element ip {} cut {{ {} }}", self.name, key.ip);
            }
        }
        let _ = writeln!(script, "add element ip {} retired {element}", self.name);
        nft(&script, "retiring an address").await
    }

    /// `key` serves again.
    pub async fn reinstate(&self, key: AllowKey) -> Result<(), NftError> {
        let element = format!("{{ {} . {} }}", key.ip, key.port);
        let ip = format!("{{ {} }}", key.ip);
        // Adding first makes the deletes valid whether or not the element was there.
        let script = format!(
            "add element ip {0} retired {element}\ndelete element ip {0} retired {element}\n\
             add element ip {0} cut {ip}\ndelete element ip {0} cut {ip}\n",
            self.name
        );
        nft(&script, "reinstating an address").await
    }

    /// Every gateway's counters, in configuration order.
    pub async fn counts(&self) -> Result<Vec<KernelCounts>, NftError> {
        let out = run_nft(
            &["-j", "list", "counters", "table", "ip", &self.name],
            None,
            "reading the counters",
        )
        .await?;
        let json: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| NftError::Failed {
                doing: "reading the counters".into(),
                stderr: format!("unreadable JSON: {e}"),
            })?;
        let mut counts = vec![KernelCounts::default(); self.gateways.len()];
        let items = json["nftables"].as_array().cloned().unwrap_or_default();
        for counter in items.iter().filter_map(|i| i.get("counter")) {
            let name = counter["name"].as_str().unwrap_or_default();
            let packets = counter["packets"].as_u64().unwrap_or(0);
            let slot = |prefix: &str| {
                name.strip_prefix(prefix)
                    .and_then(|i| i.parse::<usize>().ok())
                    .filter(|i| *i < counts.len())
            };
            if let Some(i) = slot("forwarded_") {
                counts[i].forwarded = packets;
            } else if let Some(i) = slot("refused_") {
                counts[i].refused = packets;
            }
        }
        Ok(counts)
    }

    /// The kernel's view of the allow set (`nft list set`), for snapshots and tests.
    pub async fn list_allow(&self) -> Result<String, NftError> {
        let out = run_nft(
            &["list", "set", "ip", &self.name, "allow"],
            None,
            "listing the allow set",
        )
        .await?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// Remove the table (its rules stop applying at once).
    pub async fn delete(&self) -> Result<(), NftError> {
        nft(
            &format!("delete table ip {}\n", self.name),
            "deleting the table",
        )
        .await
    }
}

/// Added to every element's time. The kernel keeps timeouts in scheduler ticks, rounding down,
/// and starts the countdown at the tick of its commit, so an element can expire up to two ticks
/// early (20 ms at HZ=100); the allow table, which records expiries, must not outlive the
/// element: a refused connection means its entry has expired.
const TICK_SLACK: Duration = Duration::from_millis(20);

/// The `timeout` written for an entry with `time` to live, in whole milliseconds rounded up.
fn kernel_timeout_ms(time: Duration) -> u64 {
    let micros = (time + TICK_SLACK).as_micros().div_ceil(1000);
    u64::try_from(micros).unwrap_or(u64::MAX)
}

async fn nft(script: &str, doing: &str) -> Result<(), NftError> {
    run_nft(&["-f", "-"], Some(script), doing).await.map(drop)
}

async fn run_nft(args: &[&str], stdin: Option<&str>, doing: &str) -> Result<Vec<u8>, NftError> {
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(NftError::Missing)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .await
            .map_err(NftError::Missing)?;
    }
    let out = child.wait_with_output().await.map_err(NftError::Missing)?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(NftError::Failed {
            doing: doing.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> NftTable {
        NftTable {
            name: "mesh5xx_egress_7".into(),
            gateways: vec![
                KernelGateway::resolve(0, Ipv4Addr::new(127, 0, 0, 2), 4000, "127.0.0.1:8080")
                    .unwrap(),
                KernelGateway::resolve(1, Ipv4Addr::new(127, 0, 0, 3), 4000, "127.0.0.1:8081")
                    .unwrap(),
            ],
            hook: Hook::Output,
            netlink: netlink::Netlink::open().expect("a netlink socket"),
        }
    }

    #[test]
    fn the_ruleset_gates_new_connections_per_gateway_and_dnats_them() {
        let policy = Policy {
            firewall: true,
            on_expired: OnExpired::Drop,
        };
        let s = table().ruleset(policy);
        for line in [
            "table ip mesh5xx_egress_7 {",
            "set allow { type ipv4_addr . inet_service; flags timeout; }",
            "ct state != new accept",
            "ip daddr 127.0.0.3 tcp dport 4000 jump gateway_1",
            "ip daddr . tcp dport @allow counter name forwarded_1 accept",
            "counter name refused_0 drop",
            "ip daddr 127.0.0.2 tcp dport 4000 dnat ip to 127.0.0.1:8080",
        ] {
            assert!(s.contains(line), "{line:?} missing from\n{s}");
        }
        assert!(s.contains("type filter hook output priority -150;"), "{s}");
        assert!(s.contains("type nat hook output priority -100;"), "{s}");
        let pods = NftTable {
            hook: Hook::Prerouting,
            ..table()
        }
        .ruleset(policy);
        assert!(
            pods.contains("type filter hook prerouting priority -150;"),
            "{pods}"
        );
        assert!(
            pods.contains("type nat hook prerouting priority -100;"),
            "{pods}"
        );
        assert!(!pods.contains("hook output"), "{pods}");
        let open = table().ruleset(Policy {
            firewall: false,
            on_expired: OnExpired::Refuse,
        });
        assert!(!open.contains("@allow counter"), "{open}");
        assert!(open.contains("counter name forwarded_0 accept"), "{open}");
    }

    #[test]
    fn the_kernel_timeout_is_the_time_rounded_up_plus_the_slack() {
        assert_eq!(kernel_timeout_ms(Duration::from_micros(99_200)), 120);
        assert_eq!(kernel_timeout_ms(Duration::from_secs(3600)), 3_600_020);
    }

    #[test]
    fn an_upstream_that_is_not_ipv4_names_its_gateway() {
        let e = KernelGateway::resolve(3, Ipv4Addr::LOCALHOST, 1, "[::1]:80").unwrap_err();
        assert!(e.to_string().starts_with("gateways[3].upstream"), "{e}");
    }
}
