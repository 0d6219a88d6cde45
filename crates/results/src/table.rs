//! The before/after table printed at the end of a run.

use std::fmt::Write;

use crate::summary::{Summary, VariantResult};

/// Render the table of `summary`: one row per variant.
pub fn render(summary: &Summary) -> String {
    let headers = [
        "variant",
        "requests",
        "5xx %",
        "flags (client)",
        "server sidecar",
        "p50 ms",
        "p99 ms",
        "sockets",
        "app conns",
        "check",
    ];
    let rows: Vec<[String; 10]> = summary.variants.iter().map(row).collect();
    let mut widths = headers.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        for (i, (c, w)) in cells.iter().zip(widths.iter()).enumerate() {
            let pad = w - c.chars().count();
            if i == 0 || i == 3 || i == 4 || i == 9 {
                let _ = write!(out, "{c}{}  ", " ".repeat(pad));
            } else {
                let _ = write!(out, "{}{c}  ", " ".repeat(pad));
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(&mut out, &headers.map(String::from));
    line(&mut out, &widths.map(|w| "-".repeat(w)));
    for r in &rows {
        line(&mut out, r);
    }
    out
}

fn row(v: &VariantResult) -> [String; 10] {
    let flags = join(
        v.error_flags()
            .map(|(f, n)| (f.as_str(), *n))
            .chain(v.transport_errors.iter().map(|(k, n)| (k.as_str(), *n))),
    );
    let server = join(
        v.sidecars
            .iter()
            .filter(|s| s.role == "server")
            .flat_map(|s| s.flags.iter())
            .filter(|(f, _)| f.as_str() != "-")
            .fold(
                std::collections::BTreeMap::<&str, u64>::new(),
                |mut m, (f, n)| {
                    *m.entry(f.as_str()).or_default() += n;
                    m
                },
            )
            .into_iter(),
    );
    [
        v.name.clone(),
        v.requests.to_string(),
        format!("{:.2}", v.error_rate * 100.0),
        flags,
        server,
        format!("{:.1}", v.latency_ms.p50),
        format!("{:.1}", v.latency_ms.p99),
        format!("{}/{}", v.sockets_opened, v.sockets_ideal),
        v.app_connections
            .get("opened")
            .map(u64::to_string)
            .unwrap_or_else(|| "-".into()),
        if v.passed {
            "pass".into()
        } else {
            "FAIL".into()
        },
    ]
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
