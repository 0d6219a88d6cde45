//! The JSON the lab's processes write, as the runner reads it (a view of their contracts).

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::LabError;

/// `mesh5xx loadgen --out` (the fields the runner uses).
#[derive(Debug, Clone, Deserialize)]
pub struct LoadgenReport {
    pub duration_s: f64,
    pub requests: u64,
    pub responses: BTreeMap<String, u64>,
    pub flags: BTreeMap<String, u64>,
    pub transport_errors: BTreeMap<String, u64>,
    pub errors: u64,
    pub error_rate: f64,
    pub latency_ms: mesh5xx_results::Latency,
    pub timeline: Vec<mesh5xx_results::Second>,
    pub sockets_opened: u64,
    pub sockets_ideal: u64,
    pub throughput_rps: f64,
}

/// `mesh5xx upstream --report` (the fields the runner uses).
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamReport {
    pub connections_opened: u64,
    pub connections_closed: BTreeMap<String, u64>,
    /// Idle connections the app closed with a request waiting unread (reset by the close).
    #[serde(default)]
    pub reset_unread: u64,
}

/// Read and decode a JSON report.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, LabError> {
    let text = std::fs::read_to_string(path).map_err(LabError::io(path))?;
    serde_json::from_str(&text).map_err(|e| LabError::Report {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
