//! The before/after table printed at the end of a run.

use std::fmt::Write;

use crate::figures;
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
    [
        v.name.clone(),
        v.requests.to_string(),
        format!("{:.2}", v.error_rate * 100.0),
        figures::client_flags(v),
        figures::sidecar_flags(v, "server"),
        format!("{:.1}", v.latency_ms.p50),
        format!("{:.1}", v.latency_ms.p99),
        figures::sockets(v),
        v.app_connections
            .get("opened")
            .map(u64::to_string)
            .unwrap_or_else(|| "-".into()),
        figures::verdict(v).into(),
    ]
}
