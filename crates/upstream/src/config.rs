//! The server's configuration: where it listens, what it answers, and its faults.

use std::net::SocketAddr;

use crate::error::UpstreamError;
use crate::faults::AppFaults;

/// Everything the toy upstream can be told to do.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Response body size in bytes; `None` answers `ok\n`.
    pub body_bytes: Option<usize>,
    /// How the app departs from a plain, always healthy server.
    pub faults: AppFaults,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            body_bytes: None,
            faults: AppFaults::new(),
        }
    }
}

impl UpstreamConfig {
    /// A server on 127.0.0.1, port 0, with `faults`.
    pub fn with_faults(faults: AppFaults) -> Self {
        Self {
            faults,
            ..Self::default()
        }
    }

    /// Check the faults' parameters.
    pub fn validate(&self) -> Result<(), UpstreamError> {
        self.faults.validate()?;
        Ok(())
    }
}
