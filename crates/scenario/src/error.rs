//! Errors of scenario files: each names the file, the field and the value at fault.

use std::path::PathBuf;

/// A scenario file or scenario lookup that went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The YAML is malformed or a field has the wrong type or an unknown name.
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    /// A field has a value the lab cannot use.
    #[error("{path}: field `{field}`: {reason}")]
    Invalid {
        path: PathBuf,
        field: String,
        reason: String,
    },
    /// No scenario of that name in the catalog.
    #[error("no scenario named {name:?}; known scenarios: {known}")]
    UnknownScenario { name: String, known: String },
    /// The scenario has no variant of that name.
    #[error("scenario {scenario:?} has no variant {variant:?}; its variants: {known}")]
    UnknownVariant {
        scenario: String,
        variant: String,
        known: String,
    },
    /// No profile of that name.
    #[error("no Istio profile named {name:?}; known profiles: {known}")]
    UnknownProfile { name: String, known: String },
    /// The scenarios directory could not be found or listed.
    #[error("scenarios directory {path}: {reason}")]
    Catalog { path: PathBuf, reason: String },
}

impl ScenarioError {
    pub(crate) fn invalid(
        path: &std::path::Path,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ScenarioError::Invalid {
            path: path.to_path_buf(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}
