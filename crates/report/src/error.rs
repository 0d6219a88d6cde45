//! What can go wrong while making a report.

use std::path::PathBuf;

/// An error naming the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read (missing `summary.json`, unreadable histogram).
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `summary.json` is not a summary the report understands.
    #[error("{path} is not a valid summary: {problem}")]
    Malformed { path: PathBuf, problem: String },
    /// A report file (or the output directory) could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The report was asked for no runs at all.
    #[error("no run directories given")]
    NoRuns,
}
