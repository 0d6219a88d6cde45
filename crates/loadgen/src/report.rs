//! The report of a run: what `mesh5xx loadgen` prints as JSON.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::config::{LoadConfig, Pacing};
use crate::outcome::TransportErrorKind;
use crate::stats::WorkerStats;

/// Closed or open loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// Each worker waits for a response (and think time) before its next request.
    Closed,
    /// Requests are due at a fixed rate whatever the responses.
    Open,
}

/// Outcome of a load run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadReport {
    /// Closed or open loop.
    pub mode: LoadMode,
    /// Number of workers (at most one connection each).
    pub connections: usize,
    /// Requests per second asked for (open loop); `null` in closed loop.
    pub rate: Option<f64>,
    /// Actual duration of the run, seconds (µs precision).
    pub duration_s: f64,
    /// Attempts finished (responses + transport errors).
    pub requests: u64,
    /// Responses by status code.
    pub responses: BTreeMap<u16, u64>,
    /// Responses by response-flags header value (`-` when absent).
    pub flags: BTreeMap<String, u64>,
    /// Attempts without a response, by kind.
    pub transport_errors: BTreeMap<TransportErrorKind, u64>,
    /// 5xx responses + transport errors.
    pub errors: u64,
    /// `errors / requests` (0 without requests), 6 decimals.
    pub error_rate: f64,
    /// Latency of every finished attempt (from its due time in open loop).
    pub latency_ms: LatencySummary,
    /// One entry per second since the start, by the second a request was due.
    pub timeline: Vec<TimelineEntry>,
    /// TCP connections established.
    pub sockets_opened: u64,
    /// Connections a perfect client would have opened: `connections` with keep-alive,
    /// `requests` without.
    pub sockets_ideal: u64,
    /// `requests / duration_s`, 2 decimals.
    pub throughput_rps: f64,
    /// Server-first exchanges completed, banner to answer (`--banner-timeout-ms` only; its
    /// failures are transport errors: `no_banner`, `timeout`, `reset`, …).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub answered: u64,
    /// DNS lookups sent (DNS-resolving mode only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_queries: Option<u64>,
    /// Distinct addresses seen in DNS answers (DNS-resolving mode only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved: Vec<IpAddr>,
    /// The merged latency histogram in µs (not serialized; see [`crate::write_hgrm`]).
    #[serde(skip)]
    pub latency_histogram: Option<Histogram<u64>>,
}

/// Latency percentiles from the HDR histogram (µs precision), milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
    /// Mean (µs precision).
    pub mean: f64,
}

/// Counts for the requests due in one second of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Second index since the start.
    pub t: u64,
    /// Attempts due in this second.
    pub requests: u64,
    /// Errors among them.
    pub errors: u64,
    /// Responses by error flag (every value but `-`).
    pub flags: BTreeMap<String, u64>,
}

/// Run-level facts the report needs besides the counters.
pub(crate) struct RunFacts {
    pub(crate) elapsed: Duration,
    pub(crate) dns_queries: Option<u64>,
    pub(crate) resolved: Vec<IpAddr>,
}

impl LoadReport {
    /// Assemble the report from the merged counters.
    pub(crate) fn build(config: &LoadConfig, mut stats: WorkerStats, facts: RunFacts) -> Self {
        let duration_s = round(facts.elapsed.as_secs_f64(), 6);
        let mut timeline = std::mem::take(&mut stats.timeline);
        if let (Some(duration), None) = (config.stop.duration, config.stop.requests) {
            let seconds = duration.as_millis().div_ceil(1000) as usize;
            if timeline.len() < seconds {
                timeline.resize_with(seconds, Default::default);
            }
        }
        let ms = |us: u64| us as f64 / 1000.0;
        let latency = &stats.latency;
        LoadReport {
            mode: match config.pacing {
                Pacing::Closed { .. } => LoadMode::Closed,
                Pacing::Open { .. } => LoadMode::Open,
            },
            connections: config.connections,
            rate: match config.pacing {
                Pacing::Closed { .. } => None,
                Pacing::Open { rate, .. } => Some(rate),
            },
            duration_s,
            requests: stats.requests,
            responses: (0u16..)
                .zip(stats.statuses.iter())
                .filter(|&(_, &n)| n > 0)
                .map(|(status, &n)| (status, n))
                .collect(),
            flags: stats
                .flags
                .iter()
                .map(|(flag, n)| (flag.to_string_lossy(), n))
                .collect(),
            transport_errors: stats.transport_errors().collect(),
            errors: stats.errors,
            error_rate: if stats.requests == 0 {
                0.0
            } else {
                round(stats.errors as f64 / stats.requests as f64, 6)
            },
            latency_ms: LatencySummary {
                p50: ms(latency.value_at_quantile(0.5)),
                p90: ms(latency.value_at_quantile(0.9)),
                p99: ms(latency.value_at_quantile(0.99)),
                p999: ms(latency.value_at_quantile(0.999)),
                max: ms(latency.max()),
                mean: round(latency.mean() / 1000.0, 3),
            },
            timeline: (0..)
                .zip(timeline)
                .map(|(t, second)| TimelineEntry {
                    t,
                    requests: second.requests,
                    errors: second.errors,
                    flags: second
                        .flags
                        .iter()
                        .map(|(flag, n)| (flag.to_string_lossy(), n))
                        .collect(),
                })
                .collect(),
            sockets_opened: stats.sockets_opened,
            answered: stats.answered,
            sockets_ideal: if config.keepalive && config.banner_timeout.is_none() {
                config.connections as u64
            } else {
                stats.requests
            },
            throughput_rps: if duration_s > 0.0 {
                round(stats.requests as f64 / duration_s, 2)
            } else {
                0.0
            },
            dns_queries: facts.dns_queries,
            resolved: facts.resolved,
            latency_histogram: Some(stats.latency),
        }
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `x` rounded to `decimals` places: short JSON numbers that parse back to the same value.
fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}
