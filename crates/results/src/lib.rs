//! The results contract of the lab.
//!
//! Every run writes `summary.json` ([`Summary`], schema in `results/schema.json`)
//! into a run directory named `YYYY-MM-DD-HHMMSS_<scenario>` ([`run_dir`]), with
//! one sub-directory per variant holding the raw material (access logs,
//! rendered Envoy configs, admin stats, the app's and load generator's JSON).
//! [`table`] renders the before/after table people read.

pub mod clock;
pub mod figures;
pub mod rundir;
pub mod summary;
pub mod table;

pub use rundir::run_dir;
pub use summary::{
    Latency, Machine, Second, SidecarCounts, Summary, VariantResult, SCHEMA_VERSION,
};
