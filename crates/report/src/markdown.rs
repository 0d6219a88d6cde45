//! The report itself: `README.md`, one section per scenario.

use std::collections::BTreeSet;
use std::fmt::Write;

use mesh5xx_results::{Summary, VariantResult};

use crate::figures::{
    client_flags, error_percent, has_sidecar, millis, percent, sidecar_flags, sockets, verdict,
};
use crate::matrix::{has_matrix, matrix_table};
use crate::rates;
use crate::sections::{RunEntry, Section};

/// The columns of a scenario's variant table.
const HEADERS: [&str; 12] = [
    "variant",
    "requests",
    "5xx %",
    "error flags (client)",
    "server sidecar flags",
    "client sidecar flags",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "p99.9 ms",
    "sockets used/ideal",
    "check",
];

/// The Markdown report for `sections`; `files` are the report's other files,
/// so that only those that exist are linked.
pub fn render(sections: &[Section<'_>], files: &BTreeSet<String>) -> String {
    let mut out = String::from("# mesh5xx report\n\n");
    let runs: Vec<Vec<String>> = sections
        .iter()
        .flat_map(|s| s.runs.iter())
        .map(|e| {
            let s = &e.run.summary;
            vec![
                format!("`{}`", s.scenario),
                format!("`{}`", s.istio_profile),
                s.envoy_version.clone(),
                format!("`{}`", e.run.dir.display()),
                outcome(s).to_string(),
            ]
        })
        .collect();
    let headers = [
        "scenario",
        "Istio profile",
        "Envoy",
        "run directory",
        "result",
    ];
    out.push_str(&table(&headers.map(String::from), &runs));
    for section in sections {
        let title = &section.runs[0].run.summary.title;
        let _ = write!(out, "\n## {}\n\n", cell(title));
        let several = section.runs.len() > 1;
        for entry in &section.runs {
            if several {
                let _ = write!(out, "### Istio profile `{}`\n\n", entry.label);
            }
            run_section(&mut out, entry, files);
        }
        if !crate::modes::pairs(section).is_empty() {
            out.push_str("### Local and netns network modes\n\n");
            out.push_str(&crate::modes::modes_table(section));
        }
        if has_matrix(section) {
            out.push_str("### Across Istio versions\n\n");
            out.push_str(&matrix_table(section));
            let chart = section.profiles_chart();
            if files.contains(&chart) {
                let _ = write!(out, "\n![5xx % by variant and Istio profile]({chart})\n");
            }
        }
    }
    out
}

fn run_section(out: &mut String, entry: &RunEntry<'_>, files: &BTreeSet<String>) {
    let s = &entry.run.summary;
    let _ = write!(
        out,
        "Scenario `{}` · Envoy {} · Istio profile `{}` · {} cores ({}/{}) · mode `{}` · started {} · run directory `{}` · {}\n\n",
        s.scenario,
        s.envoy_version,
        s.istio_profile,
        s.machine.cores,
        s.machine.os,
        s.machine.arch,
        s.mode,
        s.started_at,
        entry.run.dir.display(),
        outcome(s),
    );
    let rows: Vec<Vec<String>> = s.variants.iter().map(row).collect();
    out.push_str(&table(&HEADERS.map(String::from), &rows));
    let _ = write!(
        out,
        "\nError rate over runs ([CSV]({})):\n\n{}\n",
        entry.error_rate_csv(),
        rates::markdown(s)
    );
    for (kind, alt) in [
        (
            "timeline",
            "Errors per second over time, one line per variant",
        ),
        ("error-rate", "5xx % by variant, error bars: 95 % CI"),
        ("latency", "Latency percentiles by variant"),
    ] {
        let chart = entry.chart(kind);
        if files.contains(&chart) {
            let _ = writeln!(out, "![{alt}]({chart})\n");
        }
    }
    let failures: Vec<String> = s
        .variants
        .iter()
        .flat_map(|v| {
            v.failures
                .iter()
                .map(move |f| format!("- `{}`: {}", v.name, cell(f)))
        })
        .collect();
    if !failures.is_empty() {
        let _ = write!(out, "Expectation failures:\n\n{}\n\n", failures.join("\n"));
    }
    let data: Vec<String> = s
        .variants
        .iter()
        .map(|v| {
            let mut links = vec![format!("[timeline CSV]({})", entry.timeline_csv(&v.name))];
            let hgrm = entry.histogram(&v.name, None);
            if files.contains(&hgrm) {
                links.push(format!("[latency histogram]({hgrm})"));
            }
            let per_run: Vec<String> = v
                .runs
                .iter()
                .map(|r| (r.round, entry.histogram(&v.name, Some(r.round))))
                .filter(|(_, f)| files.contains(f))
                .map(|(k, f)| format!("[run {k}]({f})"))
                .collect();
            if !per_run.is_empty() {
                links.push(format!("latency histogram {}", per_run.join(" ")));
            }
            format!("- `{}`: {}", v.name, links.join(", "))
        })
        .collect();
    let _ = write!(out, "Per-variant data:\n\n{}\n", data.join("\n"));
}

fn row(v: &VariantResult) -> Vec<String> {
    let client_sidecar = if has_sidecar(v, "client") {
        sidecar_flags(v, "client")
    } else {
        "n/a".to_string()
    };
    vec![
        format!("`{}`", v.name),
        v.requests.to_string(),
        percent(error_percent(v)),
        client_flags(v),
        sidecar_flags(v, "server"),
        client_sidecar,
        millis(v.latency_ms.p50),
        millis(v.latency_ms.p90),
        millis(v.latency_ms.p99),
        millis(v.latency_ms.p999),
        sockets(v),
        verdict(v).to_string(),
    ]
}

/// `passed`, `FAILED` or `interrupted` for a whole run.
fn outcome(s: &Summary) -> &'static str {
    match (s.interrupted, s.passed) {
        (true, _) => "interrupted",
        (false, true) => "passed",
        (false, false) => "FAILED",
    }
}

/// A Markdown table; cells are escaped (`|`, line breaks).
pub fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = String>| {
        out.push('|');
        for c in cells {
            let _ = write!(out, " {c} |");
        }
        out.push('\n');
    };
    line(&mut out, &mut headers.iter().map(|h| cell(h)));
    line(&mut out, &mut headers.iter().map(|_| "---".to_string()));
    for r in rows {
        line(&mut out, &mut r.iter().map(|c| cell(c)));
    }
    out
}

/// Text made safe inside a table cell or list item.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
