//! The report written from summaries built here and from a real run's `summary.json`.

mod charts;
mod files;
mod markdown;

use std::collections::BTreeMap;
use std::path::Path;

use mesh5xx_report::{report, ReportArgs, ReportError, Run};
use mesh5xx_results::{Latency, Machine, Second, SidecarCounts, Summary, VariantResult};

/// A scratch directory (removed on drop) that derefs to its path.
struct Scratch(mesh5xx_testkit::TempDir);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

fn scratch(name: &str) -> Scratch {
    Scratch(mesh5xx_testkit::scratch(&format!("report-{name}")))
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

fn second(t: u64, requests: u64, flags: &[(&str, u64)]) -> Second {
    Second {
        t,
        requests,
        errors: flags.iter().map(|(_, n)| n).sum(),
        flags: counts(flags),
    }
}

/// A variant of 3 seconds; `uc` errors per second, the server sidecar logging them
/// (`hidden` more that a client sidecar retried away, when it has one).
fn variant(name: &str, uc: [u64; 3], hidden: Option<u64>) -> VariantResult {
    let timeline: Vec<Second> = (0..3)
        .map(|t| second(t, 1000, &[("UC", uc[t as usize])]))
        .collect();
    let errors: u64 = uc.iter().sum();
    let requests = 3000;
    let ok = requests - errors;
    let mut sidecars = vec![SidecarCounts {
        pod: "srv-a-0".into(),
        role: "server".into(),
        requests,
        flags: counts(&[("-", ok), ("UC", errors + hidden.unwrap_or(0))]),
        ..Default::default()
    }];
    if hidden.is_some() {
        sidecars.push(SidecarCounts {
            pod: "client".into(),
            role: "client".into(),
            requests,
            flags: counts(&[("-", requests)]),
            ..Default::default()
        });
    }
    VariantResult {
        name: name.into(),
        description: format!("{name} description"),
        duration_s: 3.0,
        requests,
        responses: counts(&[("200", ok), ("503", errors)]),
        flags: counts(&[("-", ok), ("UC", errors)]),
        transport_errors: BTreeMap::new(),
        errors,
        error_rate: errors as f64 / requests as f64,
        latency_ms: Latency {
            p50: 2.5,
            p90: 7.25,
            p99: 40.0,
            p999: 120.0,
            max: 130.0,
            mean: 4.0,
        },
        throughput_rps: 1000.0,
        sockets_opened: 12,
        sockets_ideal: 10,
        timeline,
        sidecars,
        app_connections: BTreeMap::new(),
        egress: None,
        expect: serde_json::json!({}),
        passed: errors == 0,
        failures: if errors == 0 {
            vec![]
        } else {
            vec![format!("{errors} errors, more than the 0 allowed")]
        },
        dir: name.into(),
        runs: Vec::new(),
        error_rate_stats: None,
        marks: Vec::new(),
    }
}

fn summary(scenario: &str, profile: &str, variants: Vec<VariantResult>) -> Summary {
    Summary {
        schema_version: 1,
        scenario: scenario.into(),
        title: format!("Title of {scenario}"),
        envoy_version: "1.40.0".into(),
        istio_profile: profile.into(),
        mode: "local".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        machine: Machine {
            cores: 2,
            os: "linux".into(),
            arch: "x86_64".into(),
        },
        interrupted: false,
        passed: variants.iter().all(|v| v.passed),
        variants,
        not_applicable: Vec::new(),
    }
}

/// The keep-alive scenario: a failing baseline, a fix, and retries hiding the UC.
fn keepalive(profile: &str, dir: &Path) -> Run {
    let retries = if profile == "istio-1.24" {
        variant("client-retries", [5, 6, 7], Some(0))
    } else {
        variant("client-retries", [0, 0, 0], Some(18))
    };
    Run {
        dir: dir.to_path_buf(),
        summary: summary(
            "inbound-keepalive-uc",
            profile,
            vec![
                variant("baseline", [40, 50, 43], None),
                variant("app-unbounded-keepalive", [0, 0, 0], None),
                retries,
            ],
        ),
    }
}

/// `name` run once per entry of `runs` (UC errors in each of its 3 seconds), pooled as a
/// repeated variant whose runs live in `name/run-K`.
fn repeated(name: &str, runs: &[[u64; 3]]) -> VariantResult {
    let runs: Vec<(u32, VariantResult)> = runs
        .iter()
        .zip(1..)
        .map(|(uc, round)| {
            let mut v = variant(name, *uc, None);
            v.dir = format!("{name}/run-{round}");
            (round, v)
        })
        .collect();
    mesh5xx_results::pool(&runs, true)
}

/// The keep-alive scenario run three times: a failing baseline and a fix.
fn keepalive_repeated(dir: &Path) -> Run {
    Run {
        dir: dir.to_path_buf(),
        summary: summary(
            "inbound-keepalive-uc",
            "istio-1.4",
            vec![
                repeated("baseline", &[[40, 50, 43], [30, 35, 40], [50, 45, 55]]),
                repeated("app-unbounded-keepalive", &[[0, 0, 0]; 3]),
            ],
        ),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of every `<text>` element of `svg`, which must be well-formed XML.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").to_string())
        .collect()
}

/// The `data-series` names of the `<path>` elements of `svg`.
fn svg_paths(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("path"))
        .map(|n| n.attribute("data-series").unwrap_or("").to_string())
        .collect()
}

/// The `<path class="error-bar">` elements of `svg`, as their `d` attributes.
fn svg_error_bars(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("path") && n.attribute("class") == Some("error-bar"))
        .map(|n| n.attribute("d").unwrap_or("").to_string())
        .collect()
}

/// The body rows of the first table in `markdown` whose first column is `variant`.
fn variant_rows(markdown: &str) -> Vec<Vec<String>> {
    markdown
        .lines()
        .skip_while(|l| !l.starts_with("| variant |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}
