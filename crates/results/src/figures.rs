//! The figures of one variant as people read them, shared by the run table and the report.
//! Rates are shown in percent.

use std::collections::BTreeMap;

use crate::stats::{CiMethod, Comparison, RateStats};
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

/// The error rate in percent as `mean ± margin of the 95 % interval`, e.g. `4.24 ± 0.31`.
pub fn rate_with_ci(s: &RateStats) -> String {
    format!("{:.2} ± {:.2}", s.mean * 100.0, s.margin() * 100.0)
}

/// The 95 % interval in percent, e.g. `3.93–4.55`, marked ` W` when it is Wilson's.
pub fn ci_range(s: &RateStats) -> String {
    let mark = match s.method {
        CiMethod::StudentT => "",
        CiMethod::Wilson => " W",
    };
    format!("{:.2}–{:.2}{mark}", s.ci95_low * 100.0, s.ci95_high * 100.0)
}

/// A coefficient of variation with two decimals, or `-` when there is none.
pub fn cv(s: &RateStats) -> String {
    s.cv.map_or_else(|| "-".into(), |cv| format!("{cv:.2}"))
}

/// A difference of rates in percentage points with its sign, e.g. `-4.24`.
pub fn points(difference: f64) -> String {
    format!("{:+.2}", difference * 100.0)
}

/// A p-value with three decimals, or `<0.001`.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "<0.001".into()
    } else {
        format!("{p:.3}")
    }
}

/// `yes` or `no`: significant at the 5 % level.
pub fn significant(c: &Comparison) -> &'static str {
    if c.significant() {
        "yes"
    } else {
        "no"
    }
}
