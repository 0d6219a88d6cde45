//! The `mesh5xx` command line: argument types and the commands behind them.
//!
//! `main.rs` only parses and dispatches; each command lives in its own module.

pub mod catalog;
pub mod envoy_cmd;
pub mod explain;
pub mod list;
pub mod render_envoy;
pub mod run;
