//! Across Istio versions: one scenario's variants under each profile it was run with.

use mesh5xx_results::VariantResult;

use crate::charts::{bar_chart, BarChart, BarSeries, Colouring};
use crate::figures::{ci_percent, client_flags, error_percent, percent, sidecar_flags};
use crate::markdown::table;
use crate::sections::Section;

/// True when `section` holds runs under at least two Istio profiles.
pub fn has_matrix(section: &Section<'_>) -> bool {
    section.profiles().len() >= 2
}

/// A Markdown table: one row per variant, per run its 5xx % and its flags
/// (client-visible / server sidecar); `n/a` where a run lacks the variant.
pub fn matrix_table(section: &Section<'_>) -> String {
    let mut headers = vec!["variant".to_string()];
    for e in &section.runs {
        headers.push(format!("{} 5xx %", e.label));
        headers.push(format!("{} flags (client / server sidecar)", e.label));
    }
    let rows: Vec<Vec<String>> = variant_names(section)
        .into_iter()
        .map(|name| {
            let mut row = vec![format!("`{name}`")];
            for e in &section.runs {
                match find(&e.run.summary.variants, name) {
                    Some(v) => {
                        row.push(percent(error_percent(v)));
                        row.push(format!(
                            "{} / {}",
                            client_flags(v),
                            sidecar_flags(v, "server")
                        ));
                    }
                    None => {
                        let why = e
                            .run
                            .summary
                            .not_applicable
                            .iter()
                            .find(|n| n.variant == name)
                            .map(|n| format!("n/a (needs {})", n.needs))
                            .unwrap_or_else(|| "n/a".to_string());
                        row.extend([why, "n/a".to_string()]);
                    }
                }
            }
            row
        })
        .collect();
    table(&headers, &rows)
}

/// An SVG grouped bar chart: 5xx % per variant with its 95 % interval, one bar per run
/// (profile).
pub fn matrix_chart(section: &Section<'_>) -> String {
    let names = variant_names(section);
    let series = section
        .runs
        .iter()
        .map(|e| BarSeries {
            name: e.label.clone(),
            values: names
                .iter()
                .map(|n| find(&e.run.summary.variants, n).map(error_percent))
                .collect(),
            intervals: names
                .iter()
                .map(|n| find(&e.run.summary.variants, n).map(ci_percent))
                .collect(),
        })
        .collect();
    let title = format!(
        "{}: 5xx % by variant and Istio profile (error bars: 95 % CI)",
        section.scenario
    );
    bar_chart(&BarChart {
        title: &title,
        y_title: "5xx + transport errors (% of requests)",
        x_title: "variant",
        categories: names.iter().map(|n| n.to_string()).collect(),
        series,
        colouring: Colouring::BySeries,
        allow_log: false,
        decimals: 2,
        unit: "",
    })
}

/// Every variant name of the section's runs, in order of first appearance.
fn variant_names<'a>(section: &Section<'a>) -> Vec<&'a str> {
    let mut names: Vec<&'a str> = Vec::new();
    for e in &section.runs {
        let summary = &e.run.summary;
        let all = summary
            .variants
            .iter()
            .map(|v| v.name.as_str())
            .chain(summary.not_applicable.iter().map(|n| n.variant.as_str()));
        for name in all {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

fn find<'a>(variants: &'a [VariantResult], name: &str) -> Option<&'a VariantResult> {
    variants.iter().find(|v| v.name == name)
}
