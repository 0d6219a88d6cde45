//! The error type of the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::policy::DownWindow;

/// What can go wrong while configuring, starting or stopping the upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A `--status` code outside 100..=999.
    #[error("--status: {0} is not an HTTP status code (100..=999)")]
    BadStatus(u16),
    /// A `--status` percentage outside 0..=100.
    #[error("--status {0}:{1}: the percentage must be between 0 and 100")]
    BadPercent(u16, f64),
    /// The `--status` percentages add up to more than 100.
    #[error("--status: the percentages add up to {0}, more than 100")]
    StatusSharesOver100(f64),
    /// Two `--down` windows overlap.
    #[error(
        "--down {}+{} overlaps --down {}+{}",
        .0.at.as_millis(), .0.duration.as_millis(), .1.at.as_millis(), .1.duration.as_millis()
    )]
    OverlappingDown(DownWindow, DownWindow),
    /// The listening socket could not be set up.
    #[error("could not listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The server task ended abnormally.
    #[error("the server task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The report file could not be written.
    #[error("could not write the report to {path}: {source}")]
    Report {
        /// The report file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
