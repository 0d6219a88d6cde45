//! The figures of one variant as the report prints them.

use std::collections::BTreeMap;

use mesh5xx_results::VariantResult;

/// The 5xx share of `v` in percent.
pub fn error_percent(v: &VariantResult) -> f64 {
    v.error_rate * 100.0
}

/// A percentage with two decimals, e.g. `4.45`.
pub fn percent(p: f64) -> String {
    format!("{p:.2}")
}

/// Milliseconds with one decimal, e.g. `79.2`.
pub fn millis(ms: f64) -> String {
    format!("{ms:.1}")
}

/// The error flags and transport errors the client saw, e.g. `UC=413`, or `-`.
pub fn client_flags(v: &VariantResult) -> String {
    join(
        v.error_flags()
            .map(|(f, n)| (f.as_str(), *n))
            .chain(v.transport_errors.iter().map(|(k, n)| (k.as_str(), *n))),
    )
}

/// The error flags the sidecars of `role` (`server` or `client`) logged, summed, or `-`.
pub fn sidecar_flags(v: &VariantResult, role: &str) -> String {
    let mut sum = BTreeMap::<&str, u64>::new();
    for (flag, n) in v
        .sidecars
        .iter()
        .filter(|s| s.role == role)
        .flat_map(|s| s.flags.iter())
        .filter(|(f, _)| f.as_str() != "-")
    {
        *sum.entry(flag.as_str()).or_default() += n;
    }
    join(sum.into_iter())
}

/// True when `v` had a sidecar of `role`.
pub fn has_sidecar(v: &VariantResult, role: &str) -> bool {
    v.sidecars.iter().any(|s| s.role == role)
}

/// `used/ideal` sockets, e.g. `40/40`.
pub fn sockets(v: &VariantResult) -> String {
    format!("{}/{}", v.sockets_opened, v.sockets_ideal)
}

/// `pass` or `FAIL`.
pub fn verdict(v: &VariantResult) -> &'static str {
    if v.passed {
        "pass"
    } else {
        "FAIL"
    }
}

fn join<'a>(items: impl Iterator<Item = (&'a str, u64)>) -> String {
    let parts: Vec<String> = items
        .filter(|(_, n)| *n > 0)
        .map(|(f, n)| format!("{f}={n}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(" ")
    }
}
