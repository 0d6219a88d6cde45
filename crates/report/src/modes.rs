//! Local against netns: one scenario's variants run with every process on loopback and with
//! pods in network namespaces (`mesh5xx run --network`), under the same profile, and whether
//! the two reach the same conclusion.

use mesh5xx_results::VariantResult;

use crate::figures::{error_percent, percent};
use crate::markdown::table;
use crate::sections::{RunEntry, Section};

/// The (local, netns) run pairs of `section`: the first run of each mode under one profile.
pub fn pairs<'s, 'a>(section: &'s Section<'a>) -> Vec<(&'s RunEntry<'a>, &'s RunEntry<'a>)> {
    let first = |profile: &str, mode: &str| {
        section
            .runs
            .iter()
            .find(|e| e.run.summary.istio_profile == profile && e.run.summary.mode == mode)
    };
    section
        .profiles()
        .into_iter()
        .filter_map(|p| first(p, "local").zip(first(p, "netns")))
        .collect()
}

/// A variant's conclusion: whether it met its expectations, and whether it had errors.
fn conclusion(v: &VariantResult) -> (bool, bool) {
    (v.passed, v.errors > 0)
}

/// A Markdown table per pair: each variant's 5xx % in both modes and whether the
/// conclusion is the same (both met their expectations, and both had errors or both had
/// none), then one line saying whether the whole scenario concludes the same.
pub fn modes_table(section: &Section<'_>) -> String {
    let mut out = String::new();
    for (local, netns) in pairs(section) {
        let headers =
            ["variant", "local 5xx %", "netns 5xx %", "same conclusion"].map(String::from);
        let mut differ = Vec::new();
        let rows: Vec<Vec<String>> = local
            .run
            .summary
            .variants
            .iter()
            .map(|l| {
                let n = netns.run.summary.variants.iter().find(|v| v.name == l.name);
                let (rate, same) = match n {
                    Some(n) => (
                        percent(error_percent(n)),
                        if conclusion(l) == conclusion(n) {
                            "yes".to_string()
                        } else {
                            differ.push(l.name.clone());
                            format!("**no**: local {}, netns {}", describe(l), describe(n))
                        },
                    ),
                    None => ("not run".to_string(), "-".to_string()),
                };
                vec![
                    format!("`{}`", l.name),
                    percent(error_percent(l)),
                    rate,
                    same,
                ]
            })
            .collect();
        out.push_str(&format!(
            "Profile `{}`, local and netns:\n\n",
            local.run.summary.istio_profile
        ));
        out.push_str(&table(&headers, &rows));
        out.push('\n');
        if differ.is_empty() {
            out.push_str("The conclusion is the same in both modes.\n\n");
        } else {
            out.push_str(&format!(
                "The conclusion differs for {}: a finding about what the local mode leaves out.\n\n",
                differ.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    out
}

fn describe(v: &VariantResult) -> String {
    format!(
        "{} errors, {}",
        v.errors,
        if v.passed {
            "as expected"
        } else {
            "missed its expectations"
        }
    )
}
