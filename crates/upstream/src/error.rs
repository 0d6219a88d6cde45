//! The error type of the library.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::faults::{FaultError, FaultKind};

/// What can go wrong while configuring, starting or stopping the upstream.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// A fault's parameters are wrong (the message names the fault and the field).
    #[error(transparent)]
    Fault(#[from] FaultError),
    /// `--fault` names the same fault twice.
    #[error("--fault {0} is given more than once (a server has at most one of each fault)")]
    DuplicateFault(FaultKind),
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
