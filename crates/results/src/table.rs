//! The before/after table printed at the end of a run, and under it the error rate's
//! statistics: its spread over runs and each variant's difference from the baseline.

use std::fmt::Write;

use crate::figures;
use crate::stats::{CiMethod, Comparison, RateStats, Test, ALPHA};
use crate::summary::{Summary, VariantResult};

/// How a column's cells sit: text on the left, numbers on the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// Text columns.
const TEXT: Align = Align::Left;
/// Number columns.
const NUMBER: Align = Align::Right;

/// A column: its header and how its cells are aligned.
type Column = (&'static str, Align);

/// Render the table of `summary` (one row per variant) and its statistics.
pub fn render(summary: &Summary) -> String {
    let mut out = variants(summary);
    out.push('\n');
    out.push_str(&statistics(summary));
    out
}

/// One row per variant: its pooled figures, the error rate as `mean ± margin of the 95 % CI`.
fn variants(summary: &Summary) -> String {
    let columns = [
        ("variant", TEXT),
        ("requests", NUMBER),
        ("5xx % ± CI", NUMBER),
        ("flags (client)", TEXT),
        ("server sidecar", TEXT),
        ("p50 ms", NUMBER),
        ("p99 ms", NUMBER),
        ("sockets", NUMBER),
        ("app conns", NUMBER),
        ("check", TEXT),
    ];
    let rows: Vec<Vec<String>> = summary
        .variants
        .iter()
        .map(|v| {
            vec![
                v.name.clone(),
                v.requests.to_string(),
                figures::rate_with_ci(&v.rate_stats()),
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
        })
        .collect();
    grid(&columns, &rows)
}

/// What the error rates say: a line on the methods, then per variant its 95 % interval (with
/// the runs and their coefficient of variation when some variant ran more than once) and, if
/// the baseline ran, the difference from it and whether that is significant.
fn statistics(summary: &Summary) -> String {
    let repeated = summary.repeated();
    let baseline = summary.baseline();
    let rates: Vec<(&VariantResult, RateStats, Option<Comparison>)> = summary
        .variants
        .iter()
        .map(|v| {
            let vs = baseline
                .filter(|b| b.name != v.name)
                .map(|b| v.compare_with(b));
            (v, v.rate_stats(), vs)
        })
        .collect();

    let mut columns = vec![("variant", TEXT)];
    if repeated {
        columns.extend([("runs", NUMBER), ("cv", NUMBER)]);
    }
    columns.push(("95 % CI (%)", TEXT));
    let compared = rates.iter().any(|(_, _, vs)| vs.is_some());
    if compared {
        columns.extend([
            ("vs baseline", NUMBER),
            ("p", NUMBER),
            ("test", TEXT),
            ("significant", TEXT),
        ]);
    }
    let rows: Vec<Vec<String>> = rates
        .iter()
        .map(|(v, s, vs)| {
            let mut row = vec![v.name.clone()];
            if repeated {
                row.extend([s.n.to_string(), figures::cv(s)]);
            }
            row.push(figures::ci_range(s));
            if let Some(c) = vs {
                row.extend([
                    figures::points(c.difference),
                    figures::p_value(c.p_value),
                    c.test.short_name().to_string(),
                    figures::significant(c).to_string(),
                ]);
            }
            row
        })
        .collect();

    let stats: Vec<&RateStats> = rates.iter().map(|(_, s, _)| s).collect();
    let tests: Vec<Test> = rates
        .iter()
        .filter_map(|(_, _, vs)| vs.map(|c| c.test))
        .collect();
    let mut out = legend(&stats, &tests);
    out.push_str(&grid(&columns, &rows));
    out
}

/// How the intervals and tests of the statistics were made, naming only those used.
fn legend(stats: &[&RateStats], tests: &[Test]) -> String {
    let mut lines = vec![
        "±: the 95 % confidence interval of the error rate, as far as it reaches from the mean \
         (its half-width when symmetric)."
            .to_string(),
    ];
    if stats.iter().any(|s| s.method == CiMethod::StudentT) {
        lines.push(
            "95 % CI: Student's t over the per-run rates, n − 1 degrees of freedom.".to_string(),
        );
    }
    if stats.iter().any(|s| s.method == CiMethod::Wilson) {
        lines.push(
            "W: Wilson interval of the pooled request counts (one run, or no spread between runs); \
             it treats requests as independent, so errors in bursts make it too narrow."
                .to_string(),
        );
    }
    let mut used: Vec<Test> = Vec::new();
    for t in tests {
        if !used.contains(t) {
            used.push(*t);
        }
    }
    if !used.is_empty() {
        let named: Vec<String> = used
            .iter()
            .map(|t| format!("{} ({})", t.description(), t.short_name()))
            .collect();
        lines.push(format!(
            "vs baseline: difference in percentage points, two-sided p of {}; significant when p < {ALPHA}.",
            named.join(" or ")
        ));
    }
    lines.iter().map(|l| wrap(l, 100)).collect()
}

/// `text` broken into lines of at most `width` columns at spaces, each line ended.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// A plain-text table: a header row, a rule, the rows; columns padded to their widest cell,
/// two spaces apart, numbers right-aligned; trailing spaces trimmed.
fn grid(columns: &[Column], rows: &[Vec<String>]) -> String {
    let headers: Vec<String> = columns.iter().map(|(h, _)| h.to_string()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let start = out.len();
        for ((c, w), (_, align)) in cells.iter().zip(&widths).zip(columns) {
            let pad = " ".repeat(w - c.chars().count());
            match align {
                Align::Left => {
                    let _ = write!(out, "{c}{pad}  ");
                }
                Align::Right => {
                    let _ = write!(out, "{pad}{c}  ");
                }
            }
        }
        let trimmed = out[start..].trim_end().len();
        out.truncate(start + trimmed);
        out.push('\n');
    };
    line(&headers);
    line(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for r in rows {
        line(r);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::pool::pool;
    use crate::summary::{Latency, Machine};

    fn run(name: &str, errors: u64, requests: u64) -> VariantResult {
        VariantResult {
            name: name.into(),
            description: String::new(),
            duration_s: 1.0,
            requests,
            responses: BTreeMap::new(),
            flags: [
                ("-".to_string(), requests - errors),
                ("UC".to_string(), errors),
            ]
            .into_iter()
            .collect(),
            transport_errors: BTreeMap::new(),
            errors,
            error_rate: errors as f64 / requests as f64,
            latency_ms: Latency {
                p50: 3.8,
                p99: 14.2,
                ..Default::default()
            },
            throughput_rps: requests as f64,
            sockets_opened: 48,
            sockets_ideal: 48,
            timeline: Vec::new(),
            sidecars: Vec::new(),
            app_connections: BTreeMap::new(),
            egress: None,
            expect: serde_json::json!({}),
            passed: true,
            failures: Vec::new(),
            dir: name.into(),
            runs: Vec::new(),
            error_rate_stats: None,
            marks: Vec::new(),
        }
    }

    fn summary(variants: Vec<VariantResult>) -> Summary {
        Summary {
            schema_version: crate::SCHEMA_VERSION,
            scenario: "demo".into(),
            title: "Demo".into(),
            envoy_version: "1.40.0".into(),
            istio_profile: "istio-1.4".into(),
            mode: "local".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: None,
            machine: Machine::this(),
            interrupted: false,
            passed: true,
            variants,
            not_applicable: Vec::new(),
        }
    }

    /// `name` run once per entry of `errors`, 10 000 requests each, pooled.
    fn repeated(name: &str, errors: &[u64]) -> VariantResult {
        let runs: Vec<(u32, VariantResult)> = errors
            .iter()
            .enumerate()
            .map(|(i, e)| (i as u32 + 1, run(name, *e, 10_000)))
            .collect();
        pool(&runs, errors.len() > 1)
    }

    fn data_rows(table: &str) -> Vec<Vec<&str>> {
        table
            .lines()
            .skip_while(|l| !l.starts_with("----"))
            .skip(1)
            .take_while(|l| !l.is_empty())
            .map(|l| {
                l.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn repeats_show_mean_and_ci_runs_cv_and_the_difference_from_the_baseline() {
        let s = summary(vec![
            repeated("baseline", &[400, 450, 420]),
            repeated("dr-idle-timeout", &[0, 0, 0]),
            repeated("max-requests-drop", &[410, 470, 400]),
        ]);
        let t = render(&s);
        println!("{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 120), "{t}");
        let (main, stats) = t.split_once("\n\n").unwrap();
        let rows = data_rows(main);
        // Mean 4.23 %, sd 0.2517 %, t(0.975, 2) = 4.303: half-width 0.63 %.
        assert_eq!(
            rows[0],
            [
                "baseline",
                "30000",
                "4.23 ± 0.63",
                "UC=1270",
                "-",
                "3.8",
                "14.2",
                "144/144",
                "-",
                "pass"
            ]
        );
        assert_eq!(rows[1][2], "0.00 ± 0.01");
        assert!(
            stats.contains("Student's t") && stats.contains("W: Wilson"),
            "{stats}"
        );
        assert!(stats.contains("p of Welch's t-test on the"), "{stats}");
        let rows = data_rows(stats);
        assert_eq!(rows[0], ["baseline", "3", "0.06", "3.61–4.86"]);
        assert_eq!(rows[1][..4], ["dr-idle-timeout", "3", "-", "0.00–0.01 W"]);
        assert_eq!(rows[1][4..], ["-4.23", "0.001", "Welch", "yes"]);
        assert_eq!(rows[2][4], "+0.03");
        assert_eq!(rows[2][6..], ["Welch", "no"]);
    }

    #[test]
    fn single_runs_use_wilson_and_the_z_test_without_run_columns() {
        let s = summary(vec![
            repeated("baseline", &[424]),
            repeated("app-unbounded-keepalive", &[0]),
        ]);
        let t = render(&s);
        let (main, stats) = t.split_once("\n\n").unwrap();
        assert_eq!(data_rows(main)[0][2], "4.24 ± 0.41");
        let header = stats.lines().find(|l| l.starts_with("variant")).unwrap();
        assert!(
            !header.contains("runs") && !stats.contains("Student"),
            "{stats}"
        );
        assert!(stats.contains("p of two-proportion z-test"), "{stats}");
        let rows = data_rows(stats);
        assert_eq!(rows[0], ["baseline", "3.86–4.65 W"]);
        assert_eq!(
            rows[1],
            [
                "app-unbounded-keepalive",
                "0.00–0.04 W",
                "-4.24",
                "<0.001",
                "z-test",
                "yes"
            ]
        );
    }

    #[test]
    fn without_a_baseline_there_is_no_comparison() {
        let t = render(&summary(vec![repeated("dr-idle-timeout", &[3, 5])]));
        assert!(!t.contains("vs baseline"), "{t}");
        assert!(t.contains("runs"), "{t}");
    }
}
