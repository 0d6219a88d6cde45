//! `mesh5xx explain SCENARIO`: the story of a failure and of each mitigation.

use std::fmt::Write;

use mesh5xx_scenario::Scenario;

/// The text `mesh5xx explain` prints.
pub fn render(s: &Scenario) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} — {}\n", s.name, s.title);
    let _ = writeln!(o, "SYMPTOM\n{}\n", indent(&s.symptom));
    let _ = writeln!(o, "MECHANISM\n{}\n", indent(&s.mechanism));
    if !s.production.is_empty() {
        let _ = writeln!(o, "PRODUCTION VALUES MODELLED");
        for (k, v) in &s.production {
            let _ = writeln!(o, "  {k}: {}", yaml_inline(v));
        }
        let _ = writeln!(o);
    }
    if !s.lab.is_empty() {
        let _ = writeln!(o, "LAB VALUES");
        for (k, v) in &s.lab {
            let _ = writeln!(o, "  {k}: {}", yaml_inline(v));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "VARIANTS (Istio profile {} by default)", s.profile);
    for v in &s.variants {
        let _ = writeln!(o, "\n* {}\n{}", v.name, indent(&v.description));
        if v.topology.client_sidecar || v.topology.replicas > 1 {
            let _ = writeln!(
                o,
                "    topology: client → {}{} server pod(s)",
                if v.topology.client_sidecar {
                    "client sidecar → "
                } else {
                    ""
                },
                v.topology.replicas
            );
        }
        let app = serde_yaml::to_string(&v.app).unwrap_or_default();
        if app.trim() != "{}" {
            let _ = writeln!(o, "    app server:\n{}", indent_by(&app, 6));
        }
        for raw in &v.istio.raw {
            let _ = writeln!(
                o,
                "    ---\n{}",
                indent_by(&serde_yaml::to_string(raw).unwrap_or_default(), 4)
            );
        }
        if let Some(c) = &v.cost {
            let _ = writeln!(o, "    cost: {}", c.trim());
        }
        if let Some(r) = &v.expect.residual {
            let _ = writeln!(o, "    residual: {}", r.trim());
        }
    }
    let _ = writeln!(o, "\nRUN IT\n    mesh5xx run {}", s.name);
    o
}

fn yaml_inline(v: &serde_yaml::Value) -> String {
    serde_json::to_string(v)
        .unwrap_or_default()
        .trim_matches('"')
        .to_string()
}

fn indent(text: &str) -> String {
    indent_by(text, 4)
}

fn indent_by(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.trim_end()
        .lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
