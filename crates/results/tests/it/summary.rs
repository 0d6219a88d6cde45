//! `summary.json` across schema versions: version 1 files still read, version 2 round-trips.

use std::path::{Path, PathBuf};

use mesh5xx_results::{pool, CiMethod, Summary, VariantResult, SCHEMA_VERSION};

/// Summaries written with schema version 1 (reference runs of an earlier version of the lab).
fn version_1_summaries() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no summaries in {}", dir.display());
    found
}

/// Every committed reference summary (schema version 2; five runs of each variant under the
/// default profile, one under the other profiles).
fn reference_summaries() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../results/reference");
    let mut found = Vec::new();
    for profile in std::fs::read_dir(&root).unwrap() {
        for scenario in std::fs::read_dir(profile.unwrap().path()).unwrap() {
            let path = scenario.unwrap().path().join("summary.json");
            if path.exists() {
                found.push(path);
            }
        }
    }
    assert!(
        !found.is_empty(),
        "no reference summaries under {}",
        root.display()
    );
    found
}

fn load(path: &Path) -> Summary {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn version_1_summaries_load_as_one_run_per_variant() {
    for path in version_1_summaries() {
        let s = load(&path);
        assert_eq!(s.schema_version, 1, "{}", path.display());
        for v in &s.variants {
            assert!(v.runs.is_empty() && v.error_rate_stats.is_none());
            assert_eq!(v.run_counts().len(), 1);
            let stats = v.rate_stats();
            assert_eq!((stats.n, stats.method), (1, CiMethod::Wilson));
            // The recorded error_rate has six decimals; the statistics come from the counts.
            assert!((stats.mean - v.error_rate).abs() < 1e-6, "{}", v.name);
            assert!(stats.ci95_low <= stats.mean && stats.mean <= stats.ci95_high);
        }
        // Written back, a version 1 summary gains no fields it did not have.
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["variants"][0].get("runs").is_none());
        assert!(json["variants"][0].get("error_rate_stats").is_none());
    }
}

#[test]
fn version_2_round_trips_with_runs_and_statistics() {
    let mut s = load(&version_1_summaries()[0]);
    s.schema_version = SCHEMA_VERSION;
    s.variants = s
        .variants
        .iter()
        .map(|v| {
            let runs: Vec<(u32, VariantResult)> = (1..=3)
                .map(|round| {
                    let mut r = v.clone();
                    r.dir = format!("{}/run-{round}", v.name);
                    r.errors += u64::from(round);
                    r.error_rate = r.errors as f64 / r.requests as f64;
                    (round, r)
                })
                .collect();
            pool(&runs, true)
        })
        .collect();
    let text = serde_json::to_string_pretty(&s).unwrap();
    let back: Summary = serde_json::from_str(&text).unwrap();
    let json = serde_json::to_value(&s).unwrap();
    same(&serde_json::to_value(&back).unwrap(), &json, "");

    let v = &json["variants"][0];
    assert_eq!(json["schema_version"], 2);
    assert_eq!(v["runs"].as_array().unwrap().len(), 3);
    assert_eq!(v["runs"][2]["round"], 3);
    assert_eq!(
        v["runs"][2]["dir"],
        format!("{}/run-3", v["name"].as_str().unwrap())
    );
    let stats = &v["error_rate_stats"];
    for key in ["n", "mean", "sd", "cv", "ci95_low", "ci95_high", "method"] {
        assert!(stats.get(key).is_some(), "error_rate_stats.{key} missing");
    }
    assert_eq!(stats["n"], 3);
    assert_eq!(stats["method"], "student-t");
}

/// Assert `a` and `b` are the same JSON, numbers equal to 12 significant digits (reading a
/// float back may differ in the last bit).
fn same(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
                "{at}: {x} ≠ {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                same(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{at}"
            );
            for (k, x) in x {
                same(x, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[test]
fn the_reference_summaries_carry_every_run_and_its_statistics() {
    for path in reference_summaries() {
        let s = load(&path);
        assert_eq!(s.schema_version, SCHEMA_VERSION, "{}", path.display());
        // Every variant of a summary ran round by round, the same number of times
        // (scripts/reference.sh: REPEAT under the scenario's own profile, MATRIX_REPEAT under
        // the others).
        if s.variants.is_empty() {
            // A scenario the profile's istiod could not express at all: every variant n/a.
            assert!(!s.not_applicable.is_empty(), "{}", path.display());
            continue;
        }
        let runs = s.variants.first().map_or(0, |v| v.runs.len());
        assert!(runs >= 1, "{}", path.display());
        for v in &s.variants {
            let stats = v.error_rate_stats.as_ref().expect("statistics");
            assert_eq!(
                (v.runs.len(), stats.n),
                (runs, runs),
                "{} {}",
                path.display(),
                v.name
            );
            let pooled: u64 = v.runs.iter().map(|r| r.requests).sum();
            assert_eq!(pooled, v.requests, "{}", v.name);
            assert!(stats.ci95_low <= stats.mean && stats.mean <= stats.ci95_high);
        }
    }
}
