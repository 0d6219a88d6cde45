//! Error rates over runs: per variant its mean, spread, 95 % interval and difference from
//! the baseline, as a Markdown table and as CSV.

use std::fmt::Write;

use mesh5xx_results::{CiMethod, Comparison, RateStats, Summary, VariantResult};

use crate::csv::field;
use crate::figures::{cv, p_value, percent, points, significant};
use crate::markdown::table;

/// What the report says about one variant's error rate.
struct Rate<'a> {
    variant: &'a VariantResult,
    stats: RateStats,
    /// The difference from the baseline; none for the baseline itself or without one.
    vs_baseline: Option<Comparison>,
}

fn rates(s: &Summary) -> Vec<Rate<'_>> {
    let baseline = s.baseline();
    s.variants
        .iter()
        .map(|v| Rate {
            variant: v,
            stats: v.rate_stats(),
            vs_baseline: baseline
                .filter(|b| b.name != v.name)
                .map(|b| v.compare_with(b)),
        })
        .collect()
}

fn method(m: CiMethod) -> &'static str {
    match m {
        CiMethod::StudentT => "Student's t",
        CiMethod::Wilson => "Wilson",
    }
}

/// A Markdown table of the error rates (in percent) and a note on the methods.
pub fn markdown(s: &Summary) -> String {
    let headers = [
        "variant",
        "runs",
        "5xx % mean",
        "sd %",
        "cv",
        "95 % CI (%)",
        "CI method",
        "vs baseline (points)",
        "p",
        "test",
        "significant at 5 %",
    ]
    .map(String::from);
    let rows: Vec<Vec<String>> = rates(s)
        .iter()
        .map(|r| {
            let st = &r.stats;
            let mut row = vec![
                format!("`{}`", r.variant.name),
                st.n.to_string(),
                percent(st.mean * 100.0),
                st.sd.map_or_else(|| "-".into(), |sd| percent(sd * 100.0)),
                cv(st),
                format!(
                    "{} – {}",
                    percent(st.ci95_low * 100.0),
                    percent(st.ci95_high * 100.0)
                ),
                method(st.method).into(),
            ];
            match &r.vs_baseline {
                Some(c) => row.extend([
                    points(c.difference),
                    p_value(c.p_value),
                    c.test.short_name().into(),
                    significant(c).into(),
                ]),
                None => row.extend(std::iter::repeat_n(String::new(), 4)),
            }
            row
        })
        .collect();
    let mut out = table(&headers, &rows);
    out.push_str(
        "\nStudent's t: over the per-run error rates, n − 1 degrees of freedom. Wilson: on the \
         pooled request counts, for one run or runs without spread; it treats requests as \
         independent, so errors in bursts make it too narrow. Welch: Welch's t-test on the \
         per-run rates; z-test: two-proportion z-test on the pooled request counts.\n",
    );
    out
}

/// One CSV row per variant; rates as fractions, the CI method as in `summary.json`, empty
/// cells where a figure does not apply.
pub fn csv(s: &Summary) -> String {
    let mut out = String::from(
        "variant,runs,requests,errors,mean,sd,cv,ci95_low,ci95_high,ci_method,\
         vs_baseline,p_value,test,significant\n",
    );
    let opt = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    for r in rates(s) {
        let st = &r.stats;
        let v = r.variant;
        let _ = write!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            field(&v.name),
            st.n,
            v.requests,
            v.errors,
            st.mean,
            opt(st.sd),
            opt(st.cv),
            st.ci95_low,
            st.ci95_high,
            serde_json::to_value(st.method)
                .ok()
                .and_then(|m| m.as_str().map(String::from))
                .unwrap_or_default(),
        );
        match &r.vs_baseline {
            Some(c) => {
                let _ = writeln!(
                    out,
                    ",{},{},{},{}",
                    c.difference,
                    c.p_value,
                    c.test.short_name(),
                    c.significant()
                );
            }
            None => out.push_str(",,,,\n"),
        }
    }
    out
}
