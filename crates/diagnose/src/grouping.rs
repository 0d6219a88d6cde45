//! Grouping failed entries (5xx, and any code with response flags) by code × flags × direction × cluster, with what each source did
//! and which upstream IPs each external host was reached at.
//!
//! A chunk of lines is grouped on its own ([`Groups::add`]), then merged into the whole
//! in input order ([`Groups::merge`]): what is kept of the first values to appear (groups,
//! sources, hosts) and what depends on the order of lines (a source that fails again after
//! answering) come out as reading the log line by line would give.

use std::hash::Hasher;

use hdrhistogram::Histogram;
use indexmap::IndexMap;
use mesh5xx_accesslog::Entry;
use serde::Serialize;

use crate::hosts::{HostTracker, HOST_CAP};
use crate::sources::{source_id, BySource, SourceSeen, WordHasher};
use crate::tally::{merge_capped, Tally, TALLY_CAP};
use crate::timeline::{Timeline, Timestamps};

/// Distinct groups kept; entries of further groups are only counted.
const GROUP_CAP: usize = 10_000;

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

/// The direction a cluster's name tells, if it does.
fn cluster_direction(cluster: &str) -> Option<Direction> {
    if cluster.starts_with("inbound|") || cluster.starts_with("InboundPassthroughCluster") {
        return Some(Direction::Inbound);
    }
    if cluster.starts_with("outbound|") {
        return Some(Direction::Outbound);
    }
    if cluster == "PassthroughCluster" || cluster == "BlackHoleCluster" {
        return Some(Direction::Passthrough);
    }
    None
}

/// The direction of `e`, from its cluster name or else its addresses.
pub fn direction(e: &Entry<'_>) -> Direction {
    if let Some(direction) = e.upstream_cluster.and_then(cluster_direction) {
        return direction;
    }
    let local_port = e
        .downstream_local_address
        .and_then(|a| split_last(a, b':'))
        .map(|(_, p)| p);
    match local_port {
        Some("15006") => return Direction::Inbound,
        Some("15001") => return Direction::Outbound,
        _ => {}
    }
    let host_ip = e
        .upstream_host
        .and_then(|h| split_last(h, b':'))
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
        Direction::Outbound => e
            .upstream_cluster
            .map(|c| split_last(c, b'|').map_or(c, |(_, host)| host)),
        _ => None,
    }?;
    let name = split_last(host, b':').map_or(host, |(name, _)| name);
    let in_mesh = name.ends_with(".svc.cluster.local")
        || name.ends_with(".svc")
        || !name.bytes().any(|b| b == b'.');
    (!in_mesh && !name.is_empty()).then_some(host)
}

/// What decides how grouping counts a line's request, hashed: its source ([`source_id`]: the
/// input, the cluster and the upstream host), its direction and its external host (the
/// authority of passthrough traffic; the local address and the route when the cluster
/// does not tell the direction). What is found for one line holds for every line with the
/// same.
fn destination_id(input: usize, e: &Entry<'_>) -> u64 {
    let mut h = WordHasher::default();
    let mut write = |field: Option<&str>| match field {
        Some(value) => h.write(value.as_bytes()),
        // No length is this: apart from every value, the empty one included.
        None => h.write_usize(usize::MAX),
    };
    write(e.upstream_cluster);
    write(e.upstream_host);
    match e.upstream_cluster.and_then(cluster_direction) {
        Some(Direction::Passthrough) => write(e.authority),
        Some(_) => {}
        None => {
            write(e.authority);
            write(e.downstream_local_address);
            write(e.route_name);
        }
    }
    h.write_usize(input);
    h.finish()
}

/// `s` split at its last `byte` (ASCII), that byte left out. For the short fields of a line,
/// a plain search back costs less than `rsplit_once`'s.
fn split_last(s: &str, byte: u8) -> Option<(&str, &str)> {
    let at = s.as_bytes().iter().rposition(|&b| b == byte)?;
    Some((&s[..at], &s[at + 1..]))
}

/// Whether `e` is a failure worth a group: a 5xx, or any line whose response flags say
/// something went wrong, whatever its code: no response at all (code 0: a TCP connection, a
/// request whose connection closed first: `0 DC`, `0 UF,URX`, `0 NR`), `404 NR` (no route),
/// `200 UT` (a gRPC call's timeout, answered with HTTP 200 and the error in `grpc-status`,
/// or a response cut by the route timeout; Envoy's gRPC local reply, cited at the `200 UT`
/// note in `classify.rs`), `101 DC` (a WebSocket the client closed).
pub fn is_failure(e: &Entry<'_>) -> bool {
    (500..600).contains(&e.response_code) || e.has_flags()
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
    /// Per source, the earliest and the latest error's start times (millis).
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

    fn add(&mut self, e: &Entry<'_>, ms: Option<i64>, external: Option<&str>, source: u64) {
        self.count += 1;
        if let Some(ms) = ms {
            // A request that reached no upstream (`UH`, `NR`) has no source to recover, and
            // an answer with flags (`200 UT`, `101 DC`) is no error of its source's.
            let error = e.response_code == 0 || e.response_code >= 500;
            if e.upstream_host.is_some() && error {
                let (first, last) = self.sources.entry(source).or_insert((ms, ms));
                *first = (*first).min(ms);
                *last = (*last).max(ms);
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

    /// Adds `other`, the same group's entries later in the log.
    fn merge(&mut self, other: GroupStats) {
        self.count += other.count;
        if let Some((ms, t)) = other.first {
            if self.first.as_ref().is_none_or(|(f, _)| ms < *f) {
                self.first = Some((ms, t));
            }
        }
        if let Some((ms, t)) = other.last {
            if self.last.as_ref().is_none_or(|(l, _)| ms > *l) {
                self.last = Some((ms, t));
            }
        }
        if self.durations.add(&other.durations).is_err() {
            for v in other.durations.iter_recorded() {
                self.durations
                    .saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.min_max_ms = match (self.min_max_ms, other.min_max_ms) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (a, b) => a.or(b),
        };
        self.bytes_sent.merge(other.bytes_sent);
        self.details.merge(other.details);
        self.failure_reasons.merge(other.failure_reasons);
        self.upstream_hosts.merge(other.upstream_hosts);
        self.external_hosts.merge(other.external_hosts);
        self.timeline.merge(other.timeline);
        merge_capped(
            &mut self.sources,
            other.sources,
            TALLY_CAP,
            |(f1, l1), (f2, l2)| {
                *f1 = (*f1).min(f2);
                *l1 = (*l1).max(l2);
            },
            |_| {},
        );
    }
}

/// The groups of failed entries, what each source did, and the external hosts: of one chunk of
/// lines (everything in it), or of the whole log (merged, the first of each to appear).
#[derive(Debug, Default)]
pub struct Groups {
    /// The groups, in order of first appearance.
    pub groups: IndexMap<GroupKey, GroupStats>,
    /// Failed entries whose group was not kept (beyond 10 000 groups).
    pub dropped: u64,
    /// Upstream IPs of external hosts.
    pub hosts: HostTracker,
    /// Per source (see [`source_id`]), its answers and errors in the log's order.
    seen: BySource<SourceSeen>,
    /// Whether any line answered below 500.
    any_answered: bool,
    /// What was found of the destinations (see [`destination_id`]) the lines went to.
    destinations: Destinations,
    /// The start times of the lines.
    times: Timestamps,
}

/// Destinations remembered: each in the slot the low bits of its id name.
const DESTINATION_SLOTS: usize = 256;

/// The destinations last met, each found with one look at the slot of its id. Two that
/// share a slot take it in turns (each found again, as if new, when it comes back).
#[derive(Debug)]
struct Destinations {
    slots: Box<[Option<(u64, Destination)>; DESTINATION_SLOTS]>,
}

impl Default for Destinations {
    fn default() -> Self {
        Destinations {
            slots: Box::new([None; DESTINATION_SLOTS]),
        }
    }
}

impl Destinations {
    /// The destination `id`, found by `learn` if it is not remembered.
    #[inline(always)]
    fn get(&mut self, id: u64, learn: impl FnOnce() -> Destination) -> &mut Destination {
        let slot = &mut self.slots[id as usize % DESTINATION_SLOTS];
        match slot {
            Some((kept, _)) if *kept == id => {}
            _ => *slot = Some((id, learn())),
        }
        &mut slot.as_mut().expect("just filled").1
    }
}

/// What the lines to one destination share: found from the first of them, then looked up
/// by its id (see [`Destinations`]) rather than found again from each line's fields.
#[derive(Debug, Clone, Copy)]
struct Destination {
    direction: Direction,
    /// The source (see [`source_id`]).
    source: u64,
    /// Where the source is in [`Groups::seen`], once a line of it answered.
    seen_at: Option<usize>,
    /// Whether the lines went to an external host, at an upstream host.
    external: bool,
    /// Where that host and upstream host are in [`Groups::hosts`], once counted.
    host_at: Option<(usize, usize)>,
}

impl Destination {
    fn of(e: &Entry<'_>, input: usize) -> Self {
        let direction = direction(e);
        Destination {
            direction,
            source: source_id(input, e),
            seen_at: None,
            external: e.upstream_host.is_some() && external_host(e, direction).is_some(),
            host_at: None,
        }
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
                .is_some_and(|(_, latest)| latest > *last_error)
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
                .is_none_or(|(earliest, _)| earliest > *first_error)
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

    /// The earliest and the latest answer below 500 of `source` (millis).
    fn answered(&self, source: u64) -> Option<(i64, i64)> {
        self.seen.get(&source).and_then(|s| s.answered)
    }

    /// Accounts for one parsed entry of input number `input` (only failures form groups:
    /// 5xx, and entries whose response flags say why, see [`is_failure`]).
    pub fn add(&mut self, e: &Entry<'_>, input: usize) {
        let is_5xx = (500..600).contains(&e.response_code);
        let ms = self.times.parse(e.start_time);
        let id = destination_id(input, e);
        let to = self.destinations.get(id, || Destination::of(e, input));
        if let (true, Some(ms)) = (to.external, ms) {
            let at = *to.host_at.get_or_insert_with(|| {
                let (Some(name), Some(ip)) = (external_host(e, to.direction), e.upstream_host)
                else {
                    unreachable!("an external destination has a host and an upstream host");
                };
                self.hosts.slot(name, ip)
            });
            self.hosts.count(at, ms, e.response_code >= 500);
        }
        // Only a response is an answer: `0` (a TCP entry, a client gone before the
        // response) says nothing of the upstream, nor does a line without its time.
        if (100..600).contains(&e.response_code) && !e.start_time.is_empty() {
            self.any_answered |= !is_5xx;
            let at = *to.seen_at.get_or_insert_with(|| {
                let entry = self.seen.entry(to.source);
                let at = entry.index();
                entry.or_default();
                at
            });
            self.seen[at].saw(ms, !is_5xx);
        }
        if is_5xx || is_failure(e) {
            let (direction, source) = (to.direction, to.source);
            self.add_failure(e, ms, direction, source);
        }
    }

    /// Counts failed entry `e` (started at `ms`) in its group. Out of the line-by-line
    /// path, which few lines take: the code of every line stays small.
    #[cold]
    #[inline(never)]
    fn add_failure(&mut self, e: &Entry<'_>, ms: Option<i64>, direction: Direction, source: u64) {
        let key = GroupKey {
            code: e.response_code,
            flags: e.response_flags.to_owned(),
            direction,
            cluster: e.upstream_cluster.map(str::to_owned),
        };
        self.groups.entry(key).or_insert_with(GroupStats::new).add(
            e,
            ms,
            external_host(e, direction),
            source,
        );
    }

    /// Adds `other`, the groups of the lines that follow in the log.
    pub fn merge(&mut self, other: Groups) {
        self.dropped += other.dropped;
        for (key, stats) in other.groups {
            let at = match self.groups.get_index_of(&key) {
                Some(at) => at,
                None if self.groups.len() < GROUP_CAP => {
                    self.groups.insert_full(key, GroupStats::new()).0
                }
                None => {
                    self.dropped += stats.count;
                    continue;
                }
            };
            self.groups[at].merge(stats);
        }
        self.hosts.merge(other.hosts);
        merge_capped(
            &mut self.seen,
            other.seen,
            HOST_CAP,
            SourceSeen::merge,
            |_| {},
        );
        self.any_answered |= other.any_answered;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use mesh5xx_accesslog::{Entry, Format};

    use super::*;

    /// Lines to many destinations, each differing from others in one of the fields a
    /// destination is found from, in random order: each is counted where its own fields
    /// say (its direction, external host and source found afresh), never where an earlier
    /// line's destination was.
    #[test]
    fn each_line_counts_where_its_own_fields_say() {
        let clusters = [
            Some("inbound|80|http|a.ns.svc.cluster.local"),
            Some("outbound|80||ext.example.com"),
            Some("outbound|80||b.ns.svc.cluster.local"),
            Some("PassthroughCluster"),
            Some("custom"),
            None,
        ];
        let hosts = [Some("10.0.0.1:80"), Some("127.0.0.1:80"), None];
        let authorities = [Some("a.example.com"), Some("b.example.com"), None];
        let locals = [
            Some("10.0.0.9:15001"),
            Some("10.0.0.9:15006"),
            Some("10.0.0.9:80"),
            None,
        ];
        let routes = [Some("allow_any"), None];
        let mut rng = fastrand::Rng::with_seed(7);
        let mut groups = Groups::default();
        let mut want_hosts = BTreeMap::new();
        let mut want_groups = BTreeMap::new();
        let mut want_sources = BTreeSet::new();
        for _ in 0..5_000 {
            let mut e = Entry::empty(Format::IstioCurrent);
            e.upstream_cluster = clusters[rng.usize(..clusters.len())];
            e.upstream_host = hosts[rng.usize(..hosts.len())];
            e.authority = authorities[rng.usize(..authorities.len())];
            e.downstream_local_address = locals[rng.usize(..locals.len())];
            e.route_name = routes[rng.usize(..routes.len())];
            e.start_time = "2022-04-18T09:29:59.633Z";
            e.response_code = if rng.u8(..4) == 0 { 503 } else { 200 };
            let input = rng.usize(..2);
            groups.add(&e, input);

            let dir = direction(&e);
            if let (Some(name), Some(ip)) = (external_host(&e, dir), e.upstream_host) {
                *want_hosts.entry((name, ip)).or_insert(0u64) += 1;
            }
            if e.response_code == 503 {
                *want_groups.entry((dir, e.upstream_cluster)).or_insert(0u64) += 1;
            } else {
                want_sources.insert(source_id(input, &e));
            }
        }
        let mut got_hosts = BTreeMap::new();
        for &(name, _) in want_hosts.keys() {
            for seen in groups.hosts.ips(name) {
                got_hosts.insert((name, seen.host.as_str()), seen.ok + seen.errors);
            }
        }
        assert_eq!(got_hosts, want_hosts);
        let got_groups: BTreeMap<_, _> = groups
            .groups
            .iter()
            .map(|(key, stats)| ((key.direction, key.cluster.as_deref()), stats.count))
            .collect();
        assert_eq!(got_groups, want_groups);
        let got_sources: BTreeSet<u64> = groups
            .seen
            .iter()
            .filter(|(_, seen)| seen.answered.is_some())
            .map(|(source, _)| *source)
            .collect();
        assert_eq!(got_sources, want_sources);
        // Every kind of destination met: the test covers what it claims to.
        assert!(
            want_hosts.len() >= 6 && want_groups.len() >= 10,
            "{want_hosts:?}"
        );
    }
}
