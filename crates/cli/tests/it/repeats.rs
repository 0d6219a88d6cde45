//! `--repeat`: every variant run round by round, each run in its own directory, the error
//! rate's spread in `summary.json` and the table.

use crate::support::*;

const VARIANTS: [&str; 2] = ["baseline", "outlier-ejection-two-replicas"];

#[test]
fn repeat_runs_variants_round_by_round_and_records_each_run() {
    let out = Scratch::new("repeat");
    let o = run(&[
        "run",
        "inbound-app-down-uf",
        "--variant",
        VARIANTS[0],
        "--variant",
        VARIANTS[1],
        "--repeat",
        "2",
        "--duration",
        "1",
        "--out",
        out.arg(),
    ]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));

    // Interleaved: round 1 runs every variant once, then round 2 again.
    let starts: Vec<&str> = stderr(&o)
        .lines()
        .filter(|l| l.starts_with("[round "))
        .map(|l| l.split(" (").next().unwrap())
        .map(|l| l.split(':').next().unwrap())
        .map(|l| if l.contains(VARIANTS[0]) { "b" } else { "o" })
        .collect();
    assert_eq!(starts, ["b", "o", "b", "o"], "{}", stderr(&o));
    assert!(stderr(&o).contains("[round 2/2] [2/2] outlier-ejection-two-replicas"));

    let s = summary(out.path());
    assert_matches_schema(&s);
    assert_eq!(s["schema_version"], 2);
    assert_eq!(variant_names(&s), VARIANTS);
    for v in s["variants"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        assert_eq!(v["dir"], name);
        let runs = v["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "{name}");
        for (k, r) in (1..).zip(runs) {
            assert_eq!(r["round"], k);
            assert_eq!(r["dir"], format!("{name}/run-{k}"));
            let dir = out.path().join(name).join(format!("run-{k}"));
            for f in ["loadgen.json", "latency.hgrm", "envoy-srv-a-0.yaml"] {
                assert!(dir.join(f).exists(), "{}/{f} missing", dir.display());
            }
        }
        assert!(!out.path().join(name).join("loadgen.json").exists());
        // The top-level counts are pooled over the runs.
        let sum = |k: &str| runs.iter().map(|r| r[k].as_u64().unwrap()).sum::<u64>();
        assert_eq!(v["requests"].as_u64(), Some(sum("requests")));
        assert_eq!(v["errors"].as_u64(), Some(sum("errors")));
        let stats = &v["error_rate_stats"];
        assert_eq!(stats["n"], 2);
        let (low, high) = (
            stats["ci95_low"].as_f64().unwrap(),
            stats["ci95_high"].as_f64().unwrap(),
        );
        let mean = stats["mean"].as_f64().unwrap();
        assert!(low <= mean && mean <= high, "{stats}");
    }

    let table = stdout(&o);
    assert!(table.contains(" ± "), "{table}");
    let header = table
        .lines()
        .find(|l| l.starts_with("variant") && l.contains("runs"))
        .expect("the statistics have a runs column");
    assert!(
        header.contains("cv") && header.contains("vs baseline"),
        "{table}"
    );
    assert!(table.contains("4 run(s)"), "{table}");
    assert!(
        wait_no_processes(out.arg(), 5).is_empty(),
        "processes left behind"
    );
}

#[test]
fn repeat_outside_1_to_100_exits_2_naming_the_flag() {
    for n in ["0", "101", "two"] {
        let o = run(&["run", "inbound-app-down-uf", "--repeat", n]);
        assert_eq!(o.status.code(), Some(2), "--repeat {n}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("--repeat"),
            "--repeat {n}: {}",
            stderr(&o)
        );
    }
}
