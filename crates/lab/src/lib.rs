//! The scenario runner.
//!
//! For each variant it builds the topology from real processes — the toy app
//! server(s) (`mesh5xx upstream`), one Envoy per pod configured as istiod
//! would, the load generator (`mesh5xx loadgen`) — drives the load, stops
//! everything (Envoy flushes its access log on exit), and turns the load
//! generator's JSON, the access logs and the app's report into a
//! [`VariantResult`](mesh5xx_results::VariantResult). `summary.json` is
//! rewritten after every variant, so an interrupted run keeps what it recorded.

pub mod collect;
pub mod commands;
pub mod error;
pub mod other_app;
pub mod reports;
pub mod runner;
pub mod topology;

pub use error::LabError;
pub use runner::{run_scenario, LabConfig};
