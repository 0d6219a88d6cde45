//! Errors of a lab run.

use std::path::PathBuf;

/// What stopped a variant from running.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(transparent)]
    Process(#[from] mesh5xx_process::ProcessError),
    #[error(transparent)]
    Envoy(#[from] mesh5xx_sidecar::EnvoyError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not the report expected: {0}")]
    Report(#[from] mesh5xx_plan::ReportError),
    #[error("the load generator exited with {status}; see {log}")]
    Loadgen { status: String, log: PathBuf },
    #[error("the load generator did not finish within {secs} s; see {log}")]
    LoadgenTimeout { secs: u64, log: PathBuf },
    #[error("control plane: {0}")]
    ControlPlane(String),
    #[error("pods changing while the load runs: {0}")]
    Lifecycle(String),
    #[error("the mesh's certificates: {0}")]
    Certs(#[from] mesh5xx_sidecar::certs::CertError),
    #[error("pod network: {0}")]
    Network(String),
    #[error("interrupted")]
    Interrupted,
}

impl LabError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LabError {
        let path = path.into();
        move |source| LabError::Io { path, source }
    }
}
