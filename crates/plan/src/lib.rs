//! What a variant runs and what it measured, the same in both modes.
//!
//! The local runner (`mesh5xx-lab`) starts real processes on this machine and the Kubernetes
//! renderer (`mesh5xx-k8s`) writes them as pods; both take the processes' typed arguments
//! from [`processes`] and [`egress`], and both turn what those processes wrote (their typed
//! reports, the sidecars' access logs) into a [`mesh5xx_results::VariantResult`] with
//! [`outcome`]. So a variant means, and counts, the same in a cluster as on a laptop.

pub mod egress;
pub mod outcome;
pub mod processes;

pub use outcome::{read_report, ReportError};
