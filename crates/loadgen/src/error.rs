//! Errors of the load generator: bad configuration, or a run that could not start.

/// Why a load run could not be configured or started.
///
/// Failed requests are not errors: they are counted in the report.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A flag (or the matching [`crate::LoadConfig`] field) holds an unusable value.
    #[error("invalid value '{value}' for {flag}: {reason}")]
    InvalidFlag {
        /// The flag at fault, e.g. `--resolve-mode`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `--target` address could not be resolved to a socket address.
    #[error("cannot resolve --target '{target}': {source}")]
    Target {
        /// The target as given.
        target: String,
        /// The lookup failure.
        #[source]
        source: std::io::Error,
    },
    /// A worker task panicked or was cancelled.
    #[error("load worker failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

impl LoadError {
    /// An [`LoadError::InvalidFlag`] for `flag` holding `value`.
    pub(crate) fn flag(flag: &'static str, value: impl ToString, reason: impl ToString) -> Self {
        LoadError::InvalidFlag {
            flag,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}
