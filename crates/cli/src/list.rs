//! `mesh5xx list`: the scenarios, one per line (`--json` for their variants too,
//! `--markdown` for the README's table).

use mesh5xx_scenario::{Catalog, Scenario};
use serde_json::json;

/// How `mesh5xx list` prints the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One scenario per line: name, title.
    Text,
    /// Every scenario with its variants, as JSON.
    Json,
    /// The README's scenario table.
    Markdown,
    /// The table of istiod behaviours by Istio version the profiles are read from.
    IstioVersions,
    /// The Istio profiles, one per line: name, then what sets it apart.
    Profiles,
}

/// The text `mesh5xx list` prints.
pub fn render(catalog: &Catalog, format: Format) -> String {
    match format {
        Format::Json => json(catalog),
        Format::Markdown => markdown(catalog),
        Format::IstioVersions => istio_versions(),
        Format::Profiles => mesh5xx_scenario::profile::all()
            .iter()
            .map(|p| format!("{:10}  {}\n", p.name, p.summary))
            .collect(),
        Format::Text => {
            let width = catalog
                .scenarios
                .iter()
                .map(|s| s.name.len())
                .max()
                .unwrap_or(0);
            catalog
                .scenarios
                .iter()
                .map(|s| format!("{:width$}  {}\n", s.name, s.title))
                .collect()
        }
    }
}

fn json(catalog: &Catalog) -> String {
    let v: Vec<_> = catalog
        .scenarios
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "title": s.title,
                "direction": s.direction,
                "profile": s.profile,
                "file": s.path.display().to_string(),
                "variants": s.variants.iter().map(|v| json!({"name": v.name, "description": v.description.trim()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_string_pretty(&json!({"scenarios": v})).expect("serializable") + "\n"
}

/// The README's table: what each scenario looks like in the log (from its signature), its
/// cause (its title after the colon) and the variants that measure its fixes.
fn markdown(catalog: &Catalog) -> String {
    let mut out =
        String::from("| scenario | signature | cause | fixes measured |\n|---|---|---|---|\n");
    for s in &catalog.scenarios {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            s.name,
            signature(s),
            s.title
                .split_once(": ")
                .map_or(s.title.as_str(), |(_, c)| c),
            fixes(s)
        ));
    }
    out
}

fn signature(s: &Scenario) -> String {
    let Some(sig) = &s.signature else {
        if let Some(line) = &s.unmatched {
            return format!("no signature (diagnose does not name it): {}", line.trim());
        }
        return format!(
            "none in istio-proxy's log: {}",
            s.unlogged.as_deref().unwrap_or_default().trim()
        );
    };
    let codes: Vec<String> = sig.codes.iter().map(u16::to_string).collect();
    let mut cells = vec![format!("`{} {}`", codes.join("/"), sig.flags.join("/"))];
    cells.push(
        match sig.direction {
            mesh5xx_diagnose::signature::SignatureDirection::Inbound => "inbound",
            mesh5xx_diagnose::signature::SignatureDirection::Outbound => "outbound",
            mesh5xx_diagnose::signature::SignatureDirection::Any => "either side",
        }
        .to_string(),
    );
    if let Some(cluster) = &sig.cluster {
        cells.push(format!("on `{}`", cluster.replace('|', "\\|")));
    }
    if !sig.bodies.is_empty() {
        let sizes: Vec<String> = sig.bodies.keys().map(u64::to_string).collect();
        cells.push(format!("{}-byte reply", sizes.join("/")));
    }
    cells.join(", ")
}

fn fixes(s: &Scenario) -> String {
    let measured: Vec<String> = s
        .fixes
        .iter()
        .filter_map(|f| f.variant.as_ref())
        .map(|v| format!("`{v}`"))
        .collect();
    measured.join(", ")
}

/// The behaviour table as Markdown: one row per version-dependent behaviour, the first Istio
/// release with it, before and after, the istio/istio source, and each profile's side.
fn istio_versions() -> String {
    let profiles = mesh5xx_scenario::profile::all();
    let mut out = String::from("| behaviour | since | before | from then on | source |");
    for p in &profiles {
        out.push_str(&format!(" {} |", p.name));
    }
    out.push_str("\n|---|---|---|---|---|");
    out.push_str(&"---|".repeat(profiles.len()));
    out.push('\n');
    for row in mesh5xx_scenario::versions::TABLE {
        let cell = |t: &str| t.replace('|', "\\|");
        out.push_str(&format!(
            "| {:?} | {} | {} | {} | `{}` |",
            row.behaviour,
            row.since,
            cell(row.before),
            cell(row.after),
            cell(row.source)
        ));
        for p in &profiles {
            out.push_str(if p.has(row.behaviour) {
                " after |"
            } else {
                " before |"
            });
        }
        out.push('\n');
    }
    out
}
