//! Which upstream IPs each external host was reached at, and how each one answered.

use mesh5xx_accesslog::Entry;

use crate::sources::ByName;
use crate::tally::merge_capped;
use crate::timeline::Timestamps;

/// External hosts tracked, and IPs tracked per host.
pub(crate) const HOST_CAP: usize = 4_096;
const IPS_PER_HOST: usize = 16;

/// One upstream IP an external host was reached at.
#[derive(Debug, Clone)]
pub struct HostSeen {
    /// `ip:port`.
    pub host: String,
    /// First and last time seen (millis).
    pub first_ms: i64,
    /// See `first_ms`.
    pub last_ms: i64,
    /// Responses below 500.
    pub ok: u64,
    /// 5xx responses.
    pub errors: u64,
}

impl HostSeen {
    fn merge(&mut self, other: HostSeen) {
        self.first_ms = self.first_ms.min(other.first_ms);
        self.last_ms = self.last_ms.max(other.last_ms);
        self.ok += other.ok;
        self.errors += other.errors;
    }
}

/// Every upstream IP each external host was reached at, over all entries (within a chunk
/// all of them; merged, the first hosts and IPs to appear).
#[derive(Debug, Clone, Default)]
pub struct HostTracker {
    hosts: ByName<ByName<HostSeen>>,
    times: Timestamps,
}

impl HostTracker {
    pub(crate) fn add(&mut self, name: &str, e: &Entry<'_>) {
        let (Some(host), Some(ms)) = (e.upstream_host, self.times.parse(e.start_time)) else {
            return;
        };
        let seen = match self.hosts.get_mut(name) {
            Some(seen) => seen,
            None => self.hosts.entry(name.to_owned()).or_default(),
        };
        let error = e.response_code >= 500;
        let (ok, errors) = (u64::from(!error), u64::from(error));
        match seen.get_mut(host) {
            Some(s) => s.merge(HostSeen {
                host: String::new(),
                first_ms: ms,
                last_ms: ms,
                ok,
                errors,
            }),
            None => {
                seen.insert(
                    host.to_owned(),
                    HostSeen {
                        host: host.to_owned(),
                        first_ms: ms,
                        last_ms: ms,
                        ok,
                        errors,
                    },
                );
            }
        }
    }

    /// Adds `other`, which comes after this tracker's lines in the log.
    pub(crate) fn merge(&mut self, other: HostTracker) {
        for (name, ips) in other.hosts {
            let at = match self.hosts.get_index_of(&name) {
                Some(at) => at,
                None if self.hosts.len() < HOST_CAP => {
                    self.hosts.insert_full(name, ByName::default()).0
                }
                None => continue,
            };
            merge_capped(
                &mut self.hosts[at],
                ips,
                IPS_PER_HOST,
                HostSeen::merge,
                |_| {},
            );
        }
    }

    /// The IPs `name` was reached at, in order of first appearance.
    pub fn ips(&self, name: &str) -> Vec<&HostSeen> {
        let mut ips: Vec<&HostSeen> = self
            .hosts
            .get(name)
            .map(|v| v.values().collect())
            .unwrap_or_default();
        ips.sort_by_key(|s| s.first_ms);
        ips
    }
}
