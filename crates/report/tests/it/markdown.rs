//! The Markdown report: variant tables, sections per scenario, the profile matrix.

use super::*;

#[test]
fn markdown_has_one_row_per_variant_with_its_figures() {
    let dir = scratch("markdown");
    let out = dir.join("report");
    let files = report(&[keepalive("istio-1.4", &dir)], &out).unwrap();
    let md = read(&files.readme);
    assert!(md.contains("## Title of inbound-keepalive-uc"));
    assert!(md.contains("Envoy 1.40.0 · Istio profile `istio-1.4` · 2 cores"));
    let rows = variant_rows(&md);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0],
        [
            "`baseline`",
            "3000",
            "4.43",
            "UC=133",
            "UC=133",
            "n/a",
            "2.5",
            "7.2",
            "40.0",
            "120.0",
            "12/10",
            "FAIL"
        ]
    );
    assert_eq!(rows[1][0], "`app-unbounded-keepalive`");
    assert_eq!(rows[1][2], "0.00");
    assert_eq!(rows[1][3], "-");
    assert_eq!(rows[1][11], "pass");
    assert_eq!(&rows[2][3..6], ["-", "UC=18", "-"]);
    assert!(md.contains("- `baseline`: 133 errors, more than the 0 allowed"));
    assert!(!md.contains("Across Istio versions"));
}

#[test]
fn repeated_runs_give_mean_sd_cv_interval_and_the_difference_from_the_baseline() {
    let dir = scratch("markdown-repeats");
    let out = dir.join("report");
    let files = report(&[keepalive_repeated(&dir)], &out).unwrap();
    let md = read(&files.readme);
    let rows = variant_rows(&md);
    assert_eq!(rows[0][..3], ["`baseline`", "9000", "4.31"]);
    let stats = &md[md.find("Error rate over runs").expect("statistics")..];
    assert!(stats.contains("([CSV](inbound-keepalive-uc-error-rate.csv))"));
    let rows = variant_rows(stats);
    assert_eq!(
        rows[0],
        [
            "`baseline`",
            "3",
            "4.31",
            "0.76",
            "0.18",
            "2.43 – 6.19",
            "Student's t",
            "",
            "",
            "",
            ""
        ]
    );
    assert_eq!(
        rows[1],
        [
            "`app-unbounded-keepalive`",
            "3",
            "0.00",
            "0.00",
            "-",
            "0.00 – 0.04",
            "Wilson",
            "-4.31",
            "0.010",
            "Welch",
            "yes"
        ]
    );
    assert!(stats.contains("Wilson: on the pooled request counts"));
    let timeline = read(&out.join("inbound-keepalive-uc-timeline.svg"));
    assert!(svg_texts(&timeline)
        .iter()
        .any(|t| t.ends_with("errors per second, summed over runs")));
}

#[test]
fn profile_matrix_needs_two_profiles() {
    let dir = scratch("matrix");
    let (old, new) = (dir.join("old"), dir.join("new"));
    let out = dir.join("report");

    let files = report(
        &[keepalive("istio-1.4", &old), keepalive("istio-1.4", &new)],
        &out,
    )
    .unwrap();
    let md = read(&files.readme);
    assert!(!md.contains("Across Istio versions"));
    assert!(md.contains("### Istio profile `istio-1.4 #2`"));
    assert!(!files
        .files
        .iter()
        .any(|p| p.ends_with("inbound-keepalive-uc-profiles.svg")));

    let out = dir.join("report2");
    let files = report(
        &[keepalive("istio-1.4", &old), keepalive("istio-1.24", &new)],
        &out,
    )
    .unwrap();
    let md = read(&files.readme);
    let matrix = &md[md
        .find("### Across Istio versions")
        .expect("matrix section")..];
    let rows = variant_rows(matrix);
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[2],
        [
            "`client-retries`",
            "0.00",
            "- / UC=18",
            "0.60",
            "UC=18 / UC=18"
        ]
    );
    assert!(matrix.contains("](inbound-keepalive-uc-profiles.svg)"));
    for stem in [
        "inbound-keepalive-uc-istio-1.4",
        "inbound-keepalive-uc-istio-1.24",
    ] {
        assert!(out.join(format!("{stem}-timeline.svg")).is_file());
        assert!(out.join(format!("{stem}-baseline-timeline.csv")).is_file());
    }
    let texts = svg_texts(&read(&out.join("inbound-keepalive-uc-profiles.svg")));
    for label in [
        "istio-1.4",
        "istio-1.24",
        "client-retries",
        "5xx + transport errors (% of requests)",
    ] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
}

#[test]
fn scenarios_get_one_section_each() {
    let dir = scratch("sections");
    let mut other = keepalive("istio-1.4", &dir.join("b"));
    other.summary.scenario = "inbound-app-down-uf".into();
    other.summary.title = "Title of inbound-app-down-uf".into();
    let out = dir.join("report");
    let files = report(&[keepalive("istio-1.4", &dir.join("a")), other], &out).unwrap();
    let md = read(&files.readme);
    let headings: Vec<&str> = md.lines().filter(|l| l.starts_with("## ")).collect();
    assert_eq!(
        headings,
        [
            "## Title of inbound-keepalive-uc",
            "## Title of inbound-app-down-uf"
        ]
    );
    assert!(out.join("inbound-app-down-uf-timeline.svg").is_file());
}

/// The same scenario under one profile, locally and with pods in namespaces: each variant
/// side by side, and whether the two modes reach the same conclusion.
#[test]
fn local_and_netns_runs_are_compared_variant_by_variant() {
    let dir = scratch("modes");
    let (local_dir, netns_dir) = (dir.join("local"), dir.join("netns"));
    let local = keepalive("istio-1.4", &local_dir);
    let mut netns = keepalive("istio-1.4", &netns_dir);
    netns.summary.mode = "netns".into();

    let files = report(&[local.clone(), netns.clone()], &dir.join("same")).unwrap();
    let md = read(&files.readme);
    let modes = &md[md
        .find("### Local and netns network modes")
        .expect("modes section")..];
    let rows = variant_rows(modes);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][3], "yes");
    assert!(modes.contains("The conclusion is the same in both modes."));
    assert!(md.contains("### Istio profile `istio-1.4 netns`"));
    assert!(dir
        .join("same/inbound-keepalive-uc-istio-1.4-netns-timeline.svg")
        .is_file());

    // A fix that works locally but not with pods in namespaces: a finding.
    let fix = netns
        .summary
        .variants
        .iter_mut()
        .find(|v| v.name == "app-unbounded-keepalive")
        .unwrap();
    fix.errors = 12;
    fix.passed = false;
    let files = report(&[local, netns], &dir.join("differ")).unwrap();
    let md = read(&files.readme);
    assert!(
        md.contains("The conclusion differs for `app-unbounded-keepalive`"),
        "{md}"
    );
    assert!(md
        .contains("**no**: local 0 errors, as expected, netns 12 errors, missed its expectations"));

    // Runs of one mode only: no comparison.
    let md = read(
        &report(&[keepalive("istio-1.4", &local_dir)], &dir.join("one"))
            .unwrap()
            .readme,
    );
    assert!(!md.contains("network modes"));
}
