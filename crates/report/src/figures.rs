//! The figures of one variant as the report prints them.

use mesh5xx_results::VariantResult;

/// The 5xx share of `v` in percent: the mean of its runs' error rates.
pub fn error_percent(v: &VariantResult) -> f64 {
    v.rate_stats().mean * 100.0
}

/// The 95 % interval of `v`'s error rate in percent, (low, high).
pub fn ci_percent(v: &VariantResult) -> (f64, f64) {
    let s = v.rate_stats();
    (s.ci95_low * 100.0, s.ci95_high * 100.0)
}

/// A percentage with two decimals, e.g. `4.45`.
pub fn percent(p: f64) -> String {
    format!("{p:.2}")
}

/// Milliseconds with one decimal, e.g. `79.2`.
pub fn millis(ms: f64) -> String {
    format!("{ms:.1}")
}

pub use mesh5xx_results::figures::{
    client_flags, cv, p_value, points, sidecar_flags, significant, sockets, verdict,
};

/// True when `v` had a sidecar of `role`.
pub fn has_sidecar(v: &VariantResult, role: &str) -> bool {
    v.sidecars.iter().any(|s| s.role == role)
}
