//! A variant's timeline as CSV: `t,requests,errors,<flag columns>`; CSV fields.

use std::collections::BTreeSet;
use std::fmt::Write;

use mesh5xx_results::Second;

/// One row per second; one column per error flag seen anywhere in the timeline
/// (sorted), holding that second's count (0 when absent).
pub fn timeline_csv(timeline: &[Second]) -> String {
    let flags: BTreeSet<&str> = timeline
        .iter()
        .flat_map(|s| s.flags.keys().map(String::as_str))
        .collect();
    let mut out = String::from("t,requests,errors");
    for flag in &flags {
        out.push(',');
        out.push_str(&field(flag));
    }
    out.push('\n');
    for s in timeline {
        let _ = write!(out, "{},{},{}", s.t, s.requests, s.errors);
        for flag in &flags {
            let _ = write!(out, ",{}", s.flags.get(*flag).copied().unwrap_or(0));
        }
        out.push('\n');
    }
    out
}

/// A CSV field, quoted when it holds a comma, quote or line break.
pub fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}
