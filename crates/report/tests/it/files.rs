//! The files written, the CSVs, and what happens with a bad or a real run directory.

use super::*;

#[test]
fn writes_charts_csvs_histograms_and_the_readme() {
    let dir = scratch("files");
    std::fs::create_dir_all(dir.join("baseline")).unwrap();
    std::fs::write(dir.join("baseline/latency.hgrm"), "histogram text\n").unwrap();
    let out = dir.join("report");
    let files = report(&[keepalive("istio-1.4", &dir)], &out).unwrap();

    let mut names: Vec<String> = files
        .files
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "README.md",
            "inbound-keepalive-uc-app-unbounded-keepalive-timeline.csv",
            "inbound-keepalive-uc-baseline-timeline.csv",
            "inbound-keepalive-uc-baseline.hgrm",
            "inbound-keepalive-uc-client-retries-timeline.csv",
            "inbound-keepalive-uc-error-rate.csv",
            "inbound-keepalive-uc-error-rate.svg",
            "inbound-keepalive-uc-latency.svg",
            "inbound-keepalive-uc-timeline.svg",
        ]
    );
    assert!(files.files.iter().all(|p| p.is_file()));
    assert_eq!(files.readme, out.join("README.md"));
    assert_eq!(
        read(&out.join("inbound-keepalive-uc-baseline.hgrm")),
        "histogram text\n"
    );
    let md = read(&files.readme);
    assert!(md.contains("[latency histogram](inbound-keepalive-uc-baseline.hgrm)"));
    assert!(!md.contains("inbound-keepalive-uc-client-retries.hgrm"));
    for chart in ["timeline", "error-rate", "latency"] {
        assert!(md.contains(&format!("](inbound-keepalive-uc-{chart}.svg)")));
    }
}

#[test]
fn csv_matches_the_timeline() {
    let dir = scratch("csv");
    let mut run = keepalive("istio-1.4", &dir);
    run.summary.variants[0].timeline[1]
        .flags
        .insert("UF".into(), 2);
    let out = dir.join("report");
    report(&[run.clone()], &out).unwrap();
    let csv = read(&out.join("inbound-keepalive-uc-baseline-timeline.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        [
            "t,requests,errors,UC,UF",
            "0,1000,40,40,0",
            "1,1000,50,50,2",
            "2,1000,43,43,0"
        ]
    );
    let csv = read(&out.join("inbound-keepalive-uc-app-unbounded-keepalive-timeline.csv"));
    assert_eq!(csv.lines().next(), Some("t,requests,errors,UC"));
    assert_eq!(
        csv.lines().count(),
        1 + run.summary.variants[1].timeline.len()
    );
}

#[test]
fn repeated_variants_get_their_first_runs_histogram_and_the_error_rate_csv() {
    let dir = scratch("repeated-files");
    for k in 1..=3 {
        let run = dir.join(format!("baseline/run-{k}"));
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join("latency.hgrm"), format!("run {k}\n")).unwrap();
    }
    let out = dir.join("report");
    report(&[keepalive_repeated(&dir)], &out).unwrap();
    let first = out.join("inbound-keepalive-uc-baseline-run-1.hgrm");
    assert_eq!(read(&first), "run 1\n");
    assert!(!out
        .join("inbound-keepalive-uc-baseline-run-2.hgrm")
        .exists());
    let md = read(&out.join("README.md"));
    assert!(
        md.contains("latency histogram [run 1](inbound-keepalive-uc-baseline-run-1.hgrm)"),
        "{md}"
    );

    let csv = read(&out.join("inbound-keepalive-uc-error-rate.csv"));
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        lines[0].join(","),
        "variant,runs,requests,errors,mean,sd,cv,ci95_low,ci95_high,ci_method,vs_baseline,p_value,test,significant"
    );
    let base = &lines[1];
    assert_eq!(base[..4], ["baseline", "3", "9000", "388"]);
    let num = |s: &str| s.parse::<f64>().unwrap();
    assert!((num(base[4]) - 0.043_111_111).abs() < 1e-9);
    assert!((num(base[5]) - 0.007_574_323).abs() < 1e-9);
    assert!((num(base[7]) - 0.024_295_449).abs() < 1e-9);
    assert_eq!(base[9..], ["student-t", "", "", "", ""]);
    let fix = &lines[2];
    assert_eq!(fix[..4], ["app-unbounded-keepalive", "3", "9000", "0"]);
    assert_eq!((fix[6], fix[9]), ("", "wilson"));
    assert!((num(fix[11]) - 0.010_133_220).abs() < 1e-9);
    assert_eq!(fix[12..], ["Welch", "true"]);
}

#[test]
fn a_bad_summary_is_an_error_naming_the_file() {
    let dir = scratch("bad");
    let err = Run::load(&dir).unwrap_err();
    assert!(matches!(err, ReportError::Read { .. }));
    let path = dir.join("summary.json");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    std::fs::write(&path, r#"{"schema_version": 1, "scenario": "x"}"#).unwrap();
    let err = Run::load(&dir).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!(
            "{} is not a valid summary: missing field",
            path.display()
        )),
        "{err}"
    );

    let mut bad = serde_json::to_value(keepalive("istio-1.4", &dir).summary).unwrap();
    bad["schema_version"] = 99.into();
    std::fs::write(&path, bad.to_string()).unwrap();
    let err = Run::load(&dir).unwrap_err().to_string();
    assert!(err.contains("schema version 99"), "{err}");

    // Through the command: an error, and the existing report directory is left alone.
    let out = dir.join("report");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "kept").unwrap();
    let args = ReportArgs {
        runs: vec![dir.to_path_buf()],
        out: Some(out.clone()),
    };
    let err = mesh5xx_report::main(args).unwrap_err().to_string();
    assert!(err.contains("summary.json"), "{err}");
    assert_eq!(read(&out.join("keep.txt")), "kept");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}

#[test]
fn a_real_run_directory_reports() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/inbound-app-down-uf");
    let run = Run::load(&data).unwrap();
    let out = scratch("real");
    let args = ReportArgs {
        runs: vec![data.clone()],
        out: Some(out.to_path_buf()),
    };
    assert_eq!(
        mesh5xx_report::main(args).unwrap(),
        std::process::ExitCode::SUCCESS
    );
    let md = read(&out.join("README.md"));
    let rows = variant_rows(&md);
    assert_eq!(rows.len(), run.summary.variants.len());
    assert_eq!(rows[0][0], "`outlier-ejection-two-replicas`");
    assert_eq!(rows[0][3], "UF=4");
    let hgrm = "inbound-app-down-uf-outlier-ejection-two-replicas.hgrm";
    assert_eq!(
        read(&out.join(hgrm)),
        read(&data.join("outlier-ejection-two-replicas/latency.hgrm"))
    );
    svg_texts(&read(&out.join("inbound-app-down-uf-timeline.svg")));
}
