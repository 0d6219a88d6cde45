//! `mesh5xx list`: the scenarios, one per line (`--json` for their variants too).

use mesh5xx_scenario::Catalog;
use serde_json::json;

/// The text `mesh5xx list` prints.
pub fn render(catalog: &Catalog, as_json: bool) -> String {
    if as_json {
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
        return serde_json::to_string_pretty(&json!({"scenarios": v})).expect("serializable")
            + "\n";
    }
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
