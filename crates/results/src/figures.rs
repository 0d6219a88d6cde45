//! The figures of one variant as people read them, shared by the run table and the report.

use std::collections::BTreeMap;

use crate::summary::VariantResult;

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

/// `used/ideal` sockets of the calling app, e.g. `40/40`.
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
