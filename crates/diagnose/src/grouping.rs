//! Grouping 5xx entries by code × flags × direction × cluster, and tracking which
//! upstream IPs each external host was reached at.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use hdrhistogram::Histogram;
use mesh5xx_accesslog::Entry;
use serde::Serialize;

use crate::timeline::{parse_timestamp, Timeline};

/// Distinct values kept per tally; later ones are counted as "other".
const TALLY_CAP: usize = 32;
/// Distinct groups kept; entries of further groups are only counted.
const GROUP_CAP: usize = 10_000;
/// External hosts tracked, and IPs tracked per host.
const HOST_CAP: usize = 4_096;
const IPS_PER_HOST: usize = 16;

/// Which way the request went through the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// To the app in the same pod (`inbound|…`, port 15006, upstream 127.0.0.1).
    Inbound,
    /// To a known service (`outbound|…`, port 15001).
    Outbound,
    /// To whatever the app dialled (`PassthroughCluster`, `BlackHoleCluster`).
    Passthrough,
    /// Nothing in the line tells.
    Unknown,
}

impl Direction {
    /// Lower-case name, as in the JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Passthrough => "passthrough",
            Direction::Unknown => "unknown",
        }
    }

    /// Outbound or passthrough.
    pub fn is_egress(self) -> bool {
        matches!(self, Direction::Outbound | Direction::Passthrough)
    }
}

/// The direction of `e`, from its cluster name or else its addresses.
pub fn direction(e: &Entry<'_>) -> Direction {
    if let Some(cluster) = e.upstream_cluster {
        if cluster.starts_with("inbound|") || cluster.starts_with("InboundPassthroughCluster") {
            return Direction::Inbound;
        }
        if cluster.starts_with("outbound|") {
            return Direction::Outbound;
        }
        if cluster == "PassthroughCluster" || cluster == "BlackHoleCluster" {
            return Direction::Passthrough;
        }
    }
    let local_port = e
        .downstream_local_address
        .and_then(|a| a.rsplit_once(':'))
        .map(|(_, p)| p);
    match local_port {
        Some("15006") => return Direction::Inbound,
        Some("15001") => return Direction::Outbound,
        _ => {}
    }
    let host_ip = e
        .upstream_host
        .and_then(|h| h.rsplit_once(':'))
        .map(|(ip, _)| ip);
    match host_ip {
        Some("127.0.0.1" | "127.0.0.6" | "[::1]") => Direction::Inbound,
        _ if e.route_name == Some("allow_any") => Direction::Passthrough,
        _ => Direction::Unknown,
    }
}

/// The host an egress request was for, when it is outside the mesh: the authority of
/// passthrough traffic, or the host of an `outbound|port|subset|host` cluster that is
/// not a cluster-local service.
pub fn external_host<'a>(e: &Entry<'a>, direction: Direction) -> Option<&'a str> {
    let host = match direction {
        Direction::Passthrough => e.authority,
        Direction::Outbound => e.upstream_cluster.and_then(|c| c.rsplit('|').next()),
        _ => None,
    }?;
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let in_mesh =
        name.ends_with(".svc.cluster.local") || name.ends_with(".svc") || !name.contains('.');
    (!in_mesh && !name.is_empty()).then_some(host)
}

/// Identifies a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    /// HTTP status.
    pub code: u16,
    /// `%RESPONSE_FLAGS%` as printed.
    pub flags: String,
    /// Inbound, outbound, passthrough.
    pub direction: Direction,
    /// Upstream cluster, if logged.
    pub cluster: Option<String>,
}

/// Counts of distinct values, bounded.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    counts: BTreeMap<String, u64>,
    other: u64,
}

impl Tally {
    /// Counts one occurrence of `value`.
    pub fn add(&mut self, value: &str) {
        if let Some(n) = self.counts.get_mut(value) {
            *n += 1;
        } else if self.counts.len() < TALLY_CAP {
            self.counts.insert(value.to_owned(), 1);
        } else {
            self.other += 1;
        }
    }

    /// The most frequent values, most frequent first.
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> =
            self.counts.iter().map(|(k, &v)| (k.clone(), v)).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    /// The most frequent value.
    pub fn most_common(&self) -> Option<&str> {
        self.counts
            .iter()
            .max_by_key(|(_, &n)| n)
            .map(|(k, _)| k.as_str())
    }
}

/// What is known about one group.
#[derive(Debug, Clone)]
pub struct GroupStats {
    /// Entries in the group.
    pub count: u64,
    /// Earliest and latest start times (millis, as printed).
    pub first: Option<(i64, String)>,
    /// See `first`.
    pub last: Option<(i64, String)>,
    /// `%DURATION%` values (3 significant digits).
    pub durations: Histogram<u64>,
    /// Exact shortest and longest `%DURATION%`.
    pub min_max_ms: Option<(u64, u64)>,
    /// `%BYTES_SENT%` values (local reply body sizes).
    pub bytes_sent: Tally,
    /// `%RESPONSE_CODE_DETAILS%` values.
    pub details: Tally,
    /// `%UPSTREAM_TRANSPORT_FAILURE_REASON%` values.
    pub failure_reasons: Tally,
    /// `%UPSTREAM_HOST%` values.
    pub upstream_hosts: Tally,
    /// External hosts (authority or cluster host).
    pub external_hosts: Tally,
    /// When the errors happened.
    pub timeline: Timeline,
    /// Per source (see [`source_id`]), the earliest and the latest error's start times
    /// (millis).
    sources: BySource<(i64, i64)>,
}

impl GroupStats {
    fn new() -> Self {
        GroupStats {
            count: 0,
            first: None,
            last: None,
            durations: Histogram::new(3).expect("3 significant digits is valid"),
            min_max_ms: None,
            bytes_sent: Tally::default(),
            details: Tally::default(),
            failure_reasons: Tally::default(),
            upstream_hosts: Tally::default(),
            external_hosts: Tally::default(),
            timeline: Timeline::default(),
            sources: BySource::default(),
        }
    }

    fn add(&mut self, e: &Entry<'_>, external: Option<&str>, source: u64) {
        self.count += 1;
        if let Some(ms) = parse_timestamp(e.start_time) {
            // A request that reached no upstream (`UH`, `NR`) has no source to recover.
            if e.upstream_host.is_some() {
                if let Some((first, last)) = self.sources.get_mut(&source) {
                    *first = (*first).min(ms);
                    *last = (*last).max(ms);
                } else if self.sources.len() < TALLY_CAP {
                    self.sources.insert(source, (ms, ms));
                }
            }
            if self.first.as_ref().is_none_or(|(t, _)| ms < *t) {
                self.first = Some((ms, e.start_time.to_owned()));
            }
            if self.last.as_ref().is_none_or(|(t, _)| ms > *t) {
                self.last = Some((ms, e.start_time.to_owned()));
            }
            self.timeline.add(ms);
        }
        if let Some(d) = e.duration_ms {
            if self.durations.record(d).is_err() {
                self.durations.saturating_record(d);
            }
            self.min_max_ms = Some(
                self.min_max_ms
                    .map_or((d, d), |(lo, hi)| (lo.min(d), hi.max(d))),
            );
        }
        // A cut line's missing size reads 0: no body size to go by.
        if !(e.partial && e.bytes_sent == 0) {
            self.bytes_sent.add(&e.bytes_sent.to_string());
        }
        e.response_code_details.inspect(|v| self.details.add(v));
        e.upstream_transport_failure_reason
            .inspect(|v| self.failure_reasons.add(v));
        e.upstream_host.inspect(|v| self.upstream_hosts.add(v));
        external.inspect(|v| self.external_hosts.add(v));
    }
}

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

/// Every upstream IP each external host was reached at, over all entries.
#[derive(Debug, Clone, Default)]
pub struct HostTracker {
    hosts: HashMap<String, Vec<HostSeen>>,
}

impl HostTracker {
    fn add(&mut self, name: &str, e: &Entry<'_>) {
        let (Some(host), Some(ms)) = (e.upstream_host, parse_timestamp(e.start_time)) else {
            return;
        };
        if !self.hosts.contains_key(name) {
            if self.hosts.len() >= HOST_CAP {
                return;
            }
            self.hosts.insert(name.to_owned(), Vec::new());
        }
        let seen = self.hosts.get_mut(name).expect("inserted above");
        let error = e.response_code >= 500;
        if let Some(s) = seen.iter_mut().find(|s| s.host == host) {
            s.first_ms = s.first_ms.min(ms);
            s.last_ms = s.last_ms.max(ms);
            s.ok += u64::from(!error);
            s.errors += u64::from(error);
        } else if seen.len() < IPS_PER_HOST {
            seen.push(HostSeen {
                host: host.to_owned(),
                first_ms: ms,
                last_ms: ms,
                ok: u64::from(!error),
                errors: u64::from(error),
            });
        }
    }

    /// The IPs `name` was reached at, in order of first appearance.
    pub fn ips(&self, name: &str) -> Vec<&HostSeen> {
        let mut ips: Vec<&HostSeen> = self
            .hosts
            .get(name)
            .map(|v| v.iter().collect())
            .unwrap_or_default();
        ips.sort_by_key(|s| s.first_ms);
        ips
    }
}

/// All groups of 5xx entries, and the host tracker.
#[derive(Debug, Default)]
pub struct Groups {
    /// The groups.
    pub groups: HashMap<GroupKey, GroupStats>,
    /// 5xx entries whose group was not kept (beyond 10 000 groups).
    pub dropped: u64,
    /// Upstream IPs of external hosts.
    pub hosts: HostTracker,
    /// Per source (see [`source_id`]), its answers and errors in the log's order.
    seen: BySource<SourceSeen>,
    /// Whether any line answered below 500.
    any_answered: bool,
}

/// What one source (see [`source_id`]) did, in the log's order.
#[derive(Debug, Default)]
struct SourceSeen {
    /// The earliest and the latest start times of a response below 500, as printed.
    answered: Option<(String, String)>,
    /// It answered 5xx.
    failed: bool,
    /// It answered below 500 after its latest 5xx.
    answered_since_error: bool,
    /// It answered 5xx, then below 500, then 5xx again.
    recurred: bool,
}

/// Where a line's request went: the input it was read from, its upstream cluster and its
/// upstream host, hashed (FNV-1a, so that a line allocates nothing and hashes once). Pods of
/// one service share cluster names (and, before Istio 1.10, the inbound host
/// `127.0.0.1:PORT`), so logs of several pods are told apart by their input.
fn source_id(input: usize, e: &Entry<'_>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let parts = [
        &input.to_le_bytes()[..],
        e.upstream_cluster.unwrap_or("").as_bytes(),
        &[0],
        e.upstream_host.unwrap_or("").as_bytes(),
    ];
    for b in parts.into_iter().flatten() {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Sources are hashes already: a map keyed by them uses the key as its hash.
type BySource<V> = HashMap<u64, V, BuildHasherDefault<AsHash>>;

/// The hasher of [`BySource`]: the `u64` written is the hash.
#[derive(Default)]
struct AsHash(u64);

impl Hasher for AsHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Groups {
    /// Whether every source of `stats`'s errors answered below 500 after its last error;
    /// `None` when the log has no response below 500 at all (only errors were pasted).
    pub fn recovered(&self, stats: &GroupStats) -> Option<bool> {
        if !self.any_answered || stats.sources.is_empty() {
            return None;
        }
        Some(stats.sources.iter().all(|(source, (_, last_error))| {
            self.answered(*source)
                .and_then(|(_, latest)| parse_timestamp(latest))
                .is_some_and(|t| t > *last_error)
        }))
    }

    /// Whether no source of `stats`'s errors had answered below 500 before its first error
    /// (a new upstream: a pod whose app was not listening yet); `None` when the log has no
    /// response below 500 at all.
    pub fn new_upstreams(&self, stats: &GroupStats) -> Option<bool> {
        if !self.any_answered || stats.sources.is_empty() {
            return None;
        }
        Some(stats.sources.iter().all(|(source, (first_error, _))| {
            self.answered(*source)
                .and_then(|(earliest, _)| parse_timestamp(earliest))
                .is_none_or(|t| t > *first_error)
        }))
    }

    /// Whether a source of `stats`'s errors failed, answered below 500, and failed again,
    /// in the log's order (an app that crashes over and over); `None` when the log has no
    /// response below 500 at all.
    pub fn recurs(&self, stats: &GroupStats) -> Option<bool> {
        if !self.any_answered || stats.sources.is_empty() {
            return None;
        }
        Some(
            stats
                .sources
                .keys()
                .any(|source| self.seen.get(source).is_some_and(|s| s.recurred)),
        )
    }

    /// The earliest and the latest answer below 500 of `source`.
    fn answered(&self, source: u64) -> Option<&(String, String)> {
        self.seen.get(&source).and_then(|s| s.answered.as_ref())
    }

    /// Notes a response from `source` at `start_time`, below 500 or not (`ok`). Times of
    /// one format compare as text, so the earliest and the latest answers are kept without
    /// parsing every line.
    fn saw(&mut self, source: u64, start_time: &str, ok: bool) {
        self.any_answered |= ok;
        if self.seen.len() >= HOST_CAP && !self.seen.contains_key(&source) {
            return;
        }
        let seen = self.seen.entry(source).or_default();
        if !ok {
            seen.recurred |= seen.answered_since_error;
            seen.failed = true;
            seen.answered_since_error = false;
            return;
        }
        seen.answered_since_error |= seen.failed;
        match &mut seen.answered {
            Some((earliest, latest)) => {
                if start_time > latest.as_str() {
                    latest.clear();
                    latest.push_str(start_time);
                } else if start_time < earliest.as_str() {
                    earliest.clear();
                    earliest.push_str(start_time);
                }
            }
            None => seen.answered = Some((start_time.to_owned(), start_time.to_owned())),
        }
    }

    /// Accounts for one parsed entry of input number `input` (only 5xx entries form groups).
    pub fn add(&mut self, e: &Entry<'_>, input: usize) {
        let is_5xx = (500..600).contains(&e.response_code);
        let dir = direction(e);
        let external = if dir.is_egress() {
            external_host(e, dir)
        } else {
            None
        };
        if let Some(name) = external {
            self.hosts.add(name, e);
        }
        let source = source_id(input, e);
        // Only a response is an answer: `0` (a TCP entry, a client gone before the
        // response) says nothing of the upstream, nor does a line without its time.
        if (100..600).contains(&e.response_code) && !e.start_time.is_empty() {
            self.saw(source, e.start_time, !is_5xx);
        }
        if !is_5xx {
            return;
        }
        let key = GroupKey {
            code: e.response_code,
            flags: e.response_flags.to_owned(),
            direction: dir,
            cluster: e.upstream_cluster.map(str::to_owned),
        };
        if let Some(stats) = self.groups.get_mut(&key) {
            stats.add(e, external, source);
        } else if self.groups.len() < GROUP_CAP {
            self.groups
                .entry(key)
                .or_insert_with(GroupStats::new)
                .add(e, external, source);
        } else {
            self.dropped += 1;
        }
    }
}
