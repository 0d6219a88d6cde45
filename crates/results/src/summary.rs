//! `summary.json`: what a run recorded. Extend, never break: schema in `results/schema.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version of the `summary.json` layout.
pub const SCHEMA_VERSION: u32 = 1;

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
    /// True when every variant that ran met its expectations.
    pub passed: bool,
    pub variants: Vec<VariantResult>,
}

impl Summary {
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<serde_json::Value>,
    /// The expectation, as written in the scenario.
    pub expect: serde_json::Value,
    pub passed: bool,
    /// One sentence per failed expectation clause.
    pub failures: Vec<String>,
    /// The variant's sub-directory, relative to the run directory.
    pub dir: String,
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
}
