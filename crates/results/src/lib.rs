//! The results contract of the lab.
//!
//! Every run writes `summary.json` ([`Summary`], schema in `results/schema.json`)
//! into a run directory named `YYYY-MM-DD-HHMMSS_<scenario>` ([`run_dir`]), with
//! one sub-directory per variant holding the raw material (access logs,
//! rendered Envoy configs, admin stats, the app's and load generator's JSON);
//! a variant run several times has one sub-directory per run (`run-1`, `run-2`…)
//! and its result pooled over them ([`pool`]). [`stats`] gives the error rate's
//! spread and tests a difference; [`table`] renders the before/after table people read.

pub mod clock;
pub mod figures;
pub mod pool;
pub mod rundir;
pub mod stats;
pub mod summary;
pub mod table;

pub use pool::pool;
pub use rundir::run_dir;
pub use stats::{CiMethod, Comparison, Counts, RateStats, Test};
pub use summary::{
    EgressSummary, ExpiredWindow, Latency, Machine, Mark, NotApplicable, RunResult, Second,
    SidecarCounts, Summary, VariantResult, BASELINE, SCHEMA_VERSION,
};
