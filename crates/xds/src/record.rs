//! The control plane's record: every update, push, response, ACK and NACK with its time, one
//! JSON object per line, so a timeline can say "endpoint removed at t, pushed at t+Δ, ACKed
//! at t+Δ'".

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An update from the runner arrived (`full`: a sidecar's configuration; else endpoints).
    Update { full: bool, what: String },
    /// The debounced updates were applied and pushed (istiod's "Push debounce stable").
    Push {
        version: String,
        full: bool,
        /// How many updates this push merged.
        merged: usize,
        /// From the first merged update to the push (ms).
        debounce_ms: f64,
    },
    /// A sidecar opened an ADS stream (`delta`: incremental, `DeltaAggregatedResources`).
    Connected {
        node: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        delta: bool,
    },
    /// Its stream ended.
    Disconnected { node: String, reason: String },
    /// A response went out.
    Sent {
        node: String,
        #[serde(rename = "type")]
        type_url: String,
        version: String,
        nonce: String,
        resources: usize,
        /// Delta: the names it said were removed.
        #[serde(default, skip_serializing_if = "is_zero")]
        removed: usize,
    },
    /// The sidecar accepted a response.
    Ack {
        node: String,
        #[serde(rename = "type")]
        type_url: String,
        version: String,
        nonce: String,
    },
    /// The sidecar rejected a response; it keeps its last good configuration.
    Nack {
        node: String,
        #[serde(rename = "type")]
        type_url: String,
        nonce: String,
        error: String,
    },
    /// Something the control plane could not use (a bad request or update), and why.
    Rejected { what: String, reason: String },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One line of the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Milliseconds since the control plane started.
    pub t_ms: f64,
    /// Wall clock, milliseconds since the Unix epoch (to line up with other processes).
    pub unix_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// Appends entries to a file (or keeps them in memory when there is none).
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    out: Mutex<Sink>,
}

#[derive(Debug)]
enum Sink {
    File(std::io::LineWriter<std::fs::File>),
    Memory(Vec<Entry>),
}

impl Recorder {
    /// A record written to `path` (created or truncated).
    pub fn to_file(path: &Path) -> std::io::Result<Self> {
        let f = std::fs::File::create(path)?;
        Ok(Self {
            start: Instant::now(),
            out: Mutex::new(Sink::File(std::io::LineWriter::new(f))),
        })
    }

    /// A record kept in memory ([`Recorder::entries`]).
    pub fn in_memory() -> Self {
        Self {
            start: Instant::now(),
            out: Mutex::new(Sink::Memory(Vec::new())),
        }
    }

    /// Milliseconds since the start.
    pub fn now_ms(&self) -> f64 {
        self.start.elapsed().as_secs_f64() * 1000.0
    }

    pub fn record(&self, event: Event) {
        let entry = Entry {
            t_ms: (self.now_ms() * 1000.0).round() / 1000.0,
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            event,
        };
        let mut out = self.out.lock().expect("the record lock");
        match &mut *out {
            Sink::File(f) => {
                let line = serde_json::to_string(&entry).expect("an entry serializes");
                // A record that cannot be written must not stop the control plane.
                let _ = writeln!(f, "{line}");
            }
            Sink::Memory(v) => v.push(entry),
        }
    }

    /// The entries so far (in-memory records only; empty for a file).
    pub fn entries(&self) -> Vec<Entry> {
        match &*self.out.lock().expect("the record lock") {
            Sink::Memory(v) => v.clone(),
            Sink::File(_) => Vec::new(),
        }
    }
}

/// Read a record file back.
pub fn read(path: &Path) -> Result<Vec<Entry>, String> {
    read_lines(path)
}

/// Read a file of one JSON `T` per line (blank lines skipped); an error names the line.
pub fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))
        })
        .collect()
}
