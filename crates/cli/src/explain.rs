//! `mesh5xx explain SCENARIO`: the story of a failure and of each mitigation.

use std::fmt::Write;

use mesh5xx_results::Summary;
use mesh5xx_scenario::Scenario;

/// Where the committed reference run of `s` lives (`results/reference/<profile>/<scenario>`).
pub fn reference_summary(s: &Scenario) -> Option<Summary> {
    let root = s.path.parent()?.parent()?;
    let path = root
        .join("results/reference")
        .join(&s.profile)
        .join(&s.name)
        .join("summary.json");
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Headings in bold and names in colour on a terminal; plain text otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    fn heading(self, t: &str) -> String {
        if self.colour {
            format!("\x1b[1m{t}\x1b[0m")
        } else {
            t.to_string()
        }
    }

    fn name(self, t: &str) -> String {
        if self.colour {
            format!("\x1b[36m{t}\x1b[0m")
        } else {
            t.to_string()
        }
    }
}

/// The text `mesh5xx explain` prints; `reference` adds a real log line and measured rates.
pub fn render(s: &Scenario, reference: Option<&Summary>, style: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{} — {}\n", style.name(&s.name), s.title);
    let _ = writeln!(o, "{}\n{}\n", style.heading("SYMPTOM"), indent(&s.symptom));
    if let Some(line) = reference.and_then(sample_line) {
        let r = reference.expect("checked");
        let _ = writeln!(
            o,
            "{}\n    {line}\n",
            style.heading(&format!(
                "A REAL LINE (reference run: Envoy {}, {})",
                r.envoy_version, r.istio_profile
            ))
        );
    }
    let _ = writeln!(
        o,
        "{}\n{}\n",
        style.heading("MECHANISM"),
        indent(&s.mechanism)
    );
    if !s.production.is_empty() {
        let _ = writeln!(o, "{}", style.heading("PRODUCTION VALUES MODELLED"));
        for (k, v) in &s.production {
            let _ = writeln!(o, "  {k}: {}", yaml_inline(v));
        }
        let _ = writeln!(o);
    }
    if !s.lab.is_empty() {
        let _ = writeln!(o, "{}", style.heading("LAB VALUES"));
        for (k, v) in &s.lab {
            let _ = writeln!(o, "  {k}: {}", yaml_inline(v));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "{}",
        style.heading(&format!(
            "VARIANTS (Istio profile {} by default)",
            s.profile
        ))
    );
    for v in &s.variants {
        let _ = writeln!(o, "\n* {}\n{}", style.name(&v.name), indent(&v.description));
        if let Some(m) = reference.and_then(|r| r.variants.iter().find(|m| m.name == v.name)) {
            let _ = writeln!(
                o,
                "    measured: {} requests, {:.2} % errors, p99 {:.1} ms, {} app connections",
                m.requests,
                m.error_rate * 100.0,
                m.latency_ms.p99,
                m.app_connections.get("opened").copied().unwrap_or(0)
            );
        }
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
        if let Some(c) = &v.topology.config_change {
            let _ = writeln!(o, "    config change at {} ms, applying:", c.at_ms);
            for raw in &c.istio {
                let _ = writeln!(
                    o,
                    "    ---\n{}",
                    indent_by(&yaml_serde::to_string(raw).unwrap_or_default(), 4)
                );
            }
        }
        if let Some(ms) = v
            .topology
            .client_pod
            .as_ref()
            .and_then(|c| c.config_delay_ms)
        {
            let waits = v
                .topology
                .client_pod
                .as_ref()
                .is_some_and(|c| c.app_waits_for_sidecar());
            let _ = writeln!(
                o,
                "    client pod: starts with the load, its sidecar's configuration {ms} ms later; {}",
                if waits {
                    "the app waits for it"
                } else {
                    "the app calls out at once"
                }
            );
        }
        if let Some(c) = &v.topology.client_pod {
            if let Some(at) = c.terminate_at_ms {
                let life = &v.topology.pod;
                let _ = writeln!(
                    o,
                    "    client pod: terminates at {at} ms, its app calling out until the load ends; its sidecar {}",
                    if c.native_sidecar {
                        "stops after the app (native sidecar)".to_string()
                    } else if life.exit_on_zero_active_connections {
                        format!(
                            "stops once it holds no connection, {} ms at the earliest (EXIT_ON_ZERO_ACTIVE_CONNECTIONS)",
                            life.minimum_drain_ms
                        )
                    } else {
                        format!(
                            "stops {} ms later (terminationDrainDuration)",
                            life.termination_drain_ms
                        )
                    }
                );
            }
        }
        if v.topology.service_port != mesh5xx_scenario::ServicePort::default() {
            let port = &v.topology.service_port;
            let _ = writeln!(
                o,
                "    service port: named {:?}{}",
                port.name,
                port.app_protocol
                    .as_deref()
                    .map(|a| format!(", appProtocol {a:?}"))
                    .unwrap_or_default()
            );
        }
        if let Some(v) = &v.topology.proxy_metadata.http10 {
            let _ = writeln!(o, "    proxyMetadata: ISTIO_META_HTTP10 {v:?}");
        }
        if v.load.http10 == Some(true) {
            let _ = writeln!(o, "    load: HTTP/1.0 requests");
        }
        let app = yaml_serde::to_string(&v.app).unwrap_or_default();
        if app.trim() != "{}" {
            let _ = writeln!(o, "    app server:\n{}", indent_by(&app, 6));
        }
        for raw in &v.istio.raw {
            let _ = writeln!(
                o,
                "    ---\n{}",
                indent_by(&yaml_serde::to_string(raw).unwrap_or_default(), 4)
            );
        }
        if let Some(c) = &v.cost {
            let _ = writeln!(o, "    cost: {}", c.trim());
        }
        if let Some(r) = &v.expect.residual {
            let _ = writeln!(o, "    residual: {}", r.trim());
        }
        for p in mesh5xx_scenario::profile::all() {
            let under = v.for_profile(&p);
            if let Some(needs) = under.needs(&p) {
                let _ = writeln!(o, "    under {}: n/a (needs {needs})", p.name);
            } else if let Some(note) = v.by_profile.get(p.name).and_then(|x| x.note.as_ref()) {
                let _ = writeln!(o, "    under {}: {}", p.name, note.trim());
            }
        }
    }
    let _ = writeln!(
        o,
        "\n{}\n    mesh5xx run {}",
        style.heading("RUN IT"),
        s.name
    );
    o
}

/// The first 5xx access-log line of the reference baseline.
fn sample_line(r: &Summary) -> Option<&str> {
    let base = r.variants.iter().find(|v| v.name == "baseline")?;
    base.sidecars
        .iter()
        .find_map(|c| c.sample_error_line.as_deref())
}

fn yaml_inline(v: &yaml_serde::Value) -> String {
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
