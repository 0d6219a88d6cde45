//! The scenario runner.
//!
//! For each variant it builds the topology from real processes — the toy app
//! server(s) (`mesh5xx upstream`), one Envoy per pod configured as istiod
//! would, the load generator (`mesh5xx loadgen`) — drives the load, stops
//! everything (Envoy flushes its access log on exit), and turns the processes' typed
//! reports and the access logs into a [`VariantResult`](mesh5xx_results::VariantResult)
//! (with `mesh5xx-plan`, as the Kubernetes mode does). `summary.json` is rewritten after
//! every run, so an interrupted run keeps what it recorded.

pub mod control_plane;
pub mod error;
pub mod lifecycle;
pub mod network;
pub mod other_app;
pub mod runner;
pub mod topology;

pub use error::LabError;
pub use network::Network;
pub use runner::{run_scenario, LabConfig};
