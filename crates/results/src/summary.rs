//! `summary.json`: what a run recorded. Extend, never break: schema in `results/schema.json`.
//!
//! Version 2 added repeats: each variant's `runs` and `error_rate_stats`. A version 1
//! summary (one run per variant, neither field) still reads; [`VariantResult::run_counts`]
//! and [`VariantResult::rate_stats`] then treat the variant as one run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::{self, Comparison, Counts, RateStats};

/// Version of the `summary.json` layout.
pub const SCHEMA_VERSION: u32 = 2;

/// The name of the variant the others are compared with.
pub const BASELINE: &str = "baseline";

/// One run of one scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub schema_version: u32,
    pub scenario: String,
    pub title: String,
    /// The Envoy version that ran as the sidecar, e.g. `1.40.0`.
    pub envoy_version: String,
    /// The Istio profile whose defaults the sidecars had, e.g. `istio-1.4`.
    pub istio_profile: String,
    /// `local` (real Envoy on this machine) or `kind`.
    pub mode: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub machine: Machine,
    /// True when the run was stopped (Ctrl-C, SIGTERM) before every variant ran.
    pub interrupted: bool,
    /// True when every run of every variant met its expectations.
    pub passed: bool,
    pub variants: Vec<VariantResult>,
    /// Variants left out because the profile's istiod did not translate an Istio field they
    /// use (the matrix shows them as `n/a`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_applicable: Vec<NotApplicable>,
}

/// A variant that does not apply under the run's Istio profile, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotApplicable {
    /// The variant.
    pub variant: String,
    /// What it needs, e.g. `Istio ≥ 1.15 (connectionPool.tcp.maxConnectionDuration)`.
    pub needs: String,
}

impl Summary {
    /// The variant named `baseline`, if it ran.
    pub fn baseline(&self) -> Option<&VariantResult> {
        self.variants.iter().find(|v| v.name == BASELINE)
    }

    /// True when some variant ran more than once.
    pub fn repeated(&self) -> bool {
        self.variants.iter().any(|v| v.runs.len() > 1)
    }

    /// Write `dir/summary.json` atomically (a temporary file renamed over it), so a run
    /// stopped at any moment leaves the last complete summary.
    pub fn write_to(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let path = dir.join("summary.json");
        let tmp = dir.join(".summary.json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, text + "\n")?;
        std::fs::rename(&tmp, &path)
    }
}

/// The machine a run was made on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub os: String,
    pub arch: String,
}

impl Machine {
    /// This machine.
    pub fn this() -> Self {
        Machine {
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

/// The outcome of one variant (the baseline or a mitigation).
///
/// When the variant ran several times (`runs`), the top-level figures are pooled over its
/// runs: every count (requests, responses, flags, errors, sockets, the sidecars' and the
/// app's counts, each second of the timeline) is summed, `error_rate` is pooled errors over
/// pooled requests and `throughput_rps` pooled requests over the summed duration. Latency
/// cannot be pooled exactly from percentiles: `mean` is weighted by requests, `max` is the
/// largest, and each percentile is the median of the runs' values. It passed only if every
/// run met its expectations; `failures` name the run (`run 3: …`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VariantResult {
    /// `baseline` for the baseline.
    pub name: String,
    pub description: String,
    pub duration_s: f64,
    /// Requests the client finished (responses + transport errors).
    pub requests: u64,
    /// Status code → count, as the client saw them.
    pub responses: BTreeMap<String, u64>,
    /// Envoy response flags → count, as the client saw them (`-` = none).
    pub flags: BTreeMap<String, u64>,
    /// Transport error kind → count (no HTTP response at all).
    pub transport_errors: BTreeMap<String, u64>,
    /// 5xx responses + transport errors.
    pub errors: u64,
    pub error_rate: f64,
    pub latency_ms: Latency,
    pub throughput_rps: f64,
    pub sockets_opened: u64,
    pub sockets_ideal: u64,
    /// One entry per second.
    pub timeline: Vec<Second>,
    /// What each sidecar logged, from its access log.
    pub sidecars: Vec<SidecarCounts>,
    /// App-server connection counts by close reason, summed over replicas.
    pub app_connections: BTreeMap<String, u64>,
    /// Outbound: DNS queries, firewall allow entries and refused connections, final ipset.
    /// Over several runs the counts are summed; the lists (expired windows, the final ipset)
    /// are the first run's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<EgressSummary>,
    /// The expectation, as written in the scenario.
    pub expect: serde_json::Value,
    pub passed: bool,
    /// One sentence per failed expectation clause.
    pub failures: Vec<String>,
    /// The variant's sub-directory, relative to the run directory.
    pub dir: String,
    /// One entry per run, in round order (schema 2; absent from older summaries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunResult>,
    /// The error rate's mean, spread and 95 % interval over `runs` (schema 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_rate_stats: Option<RateStats>,
    /// What happened to the mesh while the load ran (a pod terminating, a push), on the
    /// timeline's clock; the first run's when there are several.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Mark>,
}

/// One run of a variant: the figures that vary from run to run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunResult {
    /// The round (from 1): round k ran every variant once, in order.
    pub round: u32,
    pub requests: u64,
    /// 5xx responses + transport errors.
    pub errors: u64,
    pub error_rate: f64,
    /// Envoy response flags → count, as the client saw them (`-` = none).
    pub flags: BTreeMap<String, u64>,
    pub latency_ms: Latency,
    pub passed: bool,
    /// One sentence per failed expectation clause of this run.
    pub failures: Vec<String>,
    /// The run's sub-directory, relative to the run directory (`VARIANT/run-K` when repeated).
    pub dir: String,
}

/// The firewall's side of an outbound variant, from the egress process's report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressSummary {
    /// DNS queries the fake DNS server answered (every type).
    pub dns_queries: u64,
    /// Lookups by the other app (the client whose answers re-open the firewall).
    pub other_app_lookups: u64,
    /// Allow entries created.
    pub allow_added: u64,
    /// Allow-entry countdowns restarted by an answer while live.
    pub allow_refreshed: u64,
    /// Allow entries that timed out.
    pub allow_expired: u64,
    /// Connections the gateways accepted.
    pub connections_accepted: u64,
    /// Connections refused (userspace: reset after accept; kernel: SYNs rejected).
    pub connections_refused: u64,
    /// Forwarded connections cut when an address was retired.
    pub connections_cut: u64,
    /// The periods an address's allow entry was expired, over every gateway.
    pub expired_windows: Vec<ExpiredWindow>,
    /// The allow entries live at the end, as `ipset list` prints them.
    pub ipset: Vec<String>,
}

impl EgressSummary {
    /// Add `other`'s counts (a further run); the lists stay this one's.
    pub fn add(&mut self, other: &EgressSummary) {
        self.dns_queries += other.dns_queries;
        self.other_app_lookups += other.other_app_lookups;
        self.allow_added += other.allow_added;
        self.allow_refreshed += other.allow_refreshed;
        self.allow_expired += other.allow_expired;
        self.connections_accepted += other.connections_accepted;
        self.connections_refused += other.connections_refused;
        self.connections_cut += other.connections_cut;
    }
}

/// A period during which an address's allow entry had expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpiredWindow {
    /// Start, milliseconds after the egress process started.
    pub from_ms: u64,
    /// End, or `None` if still expired at the end.
    pub to_ms: Option<u64>,
    /// Length.
    pub duration_ms: u64,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

/// One second of the timeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Second {
    pub t: u64,
    pub requests: u64,
    pub errors: u64,
    /// Error flags → count in this second.
    #[serde(default)]
    pub flags: BTreeMap<String, u64>,
}

/// A moment on a variant's timeline: seconds since its start, and what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub t_s: f64,
    pub what: String,
}

/// Counts from one sidecar's access log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SidecarCounts {
    /// The pod, e.g. `srv-a-0` or `client`.
    pub pod: String,
    /// `server` (inbound) or `client` (outbound).
    pub role: String,
    /// Access-log lines.
    pub requests: u64,
    pub responses: BTreeMap<String, u64>,
    pub flags: BTreeMap<String, u64>,
    /// Upstream cluster → lines, as logged.
    pub clusters: BTreeMap<String, u64>,
    /// Lines the parser could not read (should be 0).
    pub unparsed: u64,
    /// The first error line, verbatim, for people.
    pub sample_error_line: Option<String>,
}

impl VariantResult {
    /// The client-visible error flags (all but `-`) and their counts.
    pub fn error_flags(&self) -> impl Iterator<Item = (&String, &u64)> {
        self.flags.iter().filter(|(f, _)| f.as_str() != "-")
    }

    /// Errors out of requests of each run; without `runs` (schema 1), the variant as one run.
    pub fn run_counts(&self) -> Vec<Counts> {
        if self.runs.is_empty() {
            return vec![Counts {
                errors: self.errors,
                requests: self.requests,
            }];
        }
        self.runs
            .iter()
            .map(|r| Counts {
                errors: r.errors,
                requests: r.requests,
            })
            .collect()
    }

    /// The error rate's statistics: as recorded, or computed from [`run_counts`](Self::run_counts).
    pub fn rate_stats(&self) -> RateStats {
        self.error_rate_stats
            .clone()
            .unwrap_or_else(|| RateStats::of(&self.run_counts()))
    }

    /// How this variant's error rate differs from `baseline`'s.
    pub fn compare_with(&self, baseline: &VariantResult) -> Comparison {
        stats::compare(&baseline.run_counts(), &self.run_counts())
    }
}
