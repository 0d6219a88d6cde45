//! Which upstream IPs each external host was reached at, and how each one answered.

use crate::sources::ByName;
use crate::tally::merge_capped;

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
}

impl HostTracker {
    /// Where upstream host `ip` of external host `name` is kept: the indices of the host
    /// and of the IP, for [`HostTracker::count`]. A new one counts nothing until then.
    pub(crate) fn slot(&mut self, name: &str, ip: &str) -> (usize, usize) {
        let host = match self.hosts.get_index_of(name) {
            Some(at) => at,
            None => self.hosts.insert_full(name.to_owned(), ByName::default()).0,
        };
        let ips = &mut self.hosts[host];
        let at = match ips.get_index_of(ip) {
            Some(at) => at,
            None => {
                let none = HostSeen {
                    host: ip.to_owned(),
                    first_ms: i64::MAX,
                    last_ms: i64::MIN,
                    ok: 0,
                    errors: 0,
                };
                ips.insert_full(ip.to_owned(), none).0
            }
        };
        (host, at)
    }

    /// Counts a response at `ms` (an `error` if 5xx) from the upstream host at `slot`.
    pub(crate) fn count(&mut self, (host, ip): (usize, usize), ms: i64, error: bool) {
        let seen = &mut self.hosts[host][ip];
        seen.first_ms = seen.first_ms.min(ms);
        seen.last_ms = seen.last_ms.max(ms);
        seen.ok += u64::from(!error);
        seen.errors += u64::from(error);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::parse_timestamp;

    /// Entries to a few hosts and IPs in any order (runs and alternations) are counted, timed
    /// and ordered as a plain tally of them gives.
    #[test]
    fn entries_in_runs_or_alternating_count_as_a_tally() {
        let names = ["a.example.com", "b.example.com"];
        let ips = ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.22:80"];
        let times: Vec<String> = (0..60)
            .map(|s| format!("2022-04-18T09:29:{s:02}.{:03}Z", s * 7))
            .collect();
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..50 {
            let mut tracker = HostTracker::default();
            // name, ip, ms, ok, errors
            let mut tally: Vec<(&str, &str, i64, i64, u64, u64)> = Vec::new();
            let mut at = (0, 0);
            for _ in 0..40 {
                if rng.bool() {
                    at = (rng.usize(..names.len()), rng.usize(..ips.len()));
                }
                let (name, ip) = (names[at.0], ips[at.1]);
                let time = &times[rng.usize(..times.len())];
                let failed = rng.bool();
                let ms = parse_timestamp(time).expect("a valid time");
                let slot = tracker.slot(name, ip);
                tracker.count(slot, ms, failed);
                let error = u64::from(failed);
                match tally.iter_mut().find(|t| t.0 == name && t.1 == ip) {
                    Some(t) => {
                        t.2 = t.2.min(ms);
                        t.3 = t.3.max(ms);
                        t.4 += 1 - error;
                        t.5 += error;
                    }
                    None => tally.push((name, ip, ms, ms, 1 - error, error)),
                }
            }
            for name in names {
                let mut want: Vec<_> = tally.iter().filter(|t| t.0 == name).collect();
                want.sort_by_key(|t| t.2);
                let got: Vec<_> = tracker
                    .ips(name)
                    .into_iter()
                    .map(|s| (s.host.as_str(), s.first_ms, s.last_ms, s.ok, s.errors))
                    .collect();
                let want: Vec<_> = want.iter().map(|t| (t.1, t.2, t.3, t.4, t.5)).collect();
                assert_eq!(got, want, "{name}");
            }
        }
    }
}
