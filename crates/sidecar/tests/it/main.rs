//! Integration tests of the sidecar rendering: every profile's configuration validated by a real Envoy.

mod validate;
