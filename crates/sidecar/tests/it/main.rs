//! Integration tests of the sidecar: every profile's configuration validated by a real
//! Envoy, and real Envoys run, drained and stopped.

mod hot_restart;
mod support;
mod validate;
