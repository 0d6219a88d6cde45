//! The SVG charts: well-formed, labelled, one line per variant.

use super::*;

#[test]
fn timeline_svg_has_axes_legend_and_one_path_per_variant() {
    let dir = scratch("timeline");
    let out = dir.join("report");
    report(&[keepalive("istio-1.4", &dir)], &out).unwrap();
    let svg = read(&out.join("inbound-keepalive-uc-timeline.svg"));
    let texts = svg_texts(&svg);
    for label in [
        "errors per second (5xx + transport)",
        "seconds since the variant's start (s)",
        "baseline (133 errors)",
        "app-unbounded-keepalive (0 errors)",
        "client-retries (0 errors)",
    ] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
    assert_eq!(
        svg_paths(&svg),
        ["baseline", "app-unbounded-keepalive", "client-retries"]
    );
}

#[test]
fn bar_svgs_label_axes_bars_and_series() {
    let dir = scratch("bars");
    let out = dir.join("report");
    report(&[keepalive("istio-1.4", &dir)], &out).unwrap();

    let texts = svg_texts(&read(&out.join("inbound-keepalive-uc-error-rate.svg")));
    for label in [
        "5xx + transport errors (% of requests)",
        "variant",
        "baseline",
        "client-retries",
        "4.43 %",
        "0.00 %",
    ] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }

    let texts = svg_texts(&read(&out.join("inbound-keepalive-uc-latency.svg")));
    for label in [
        "latency (ms) (log scale)",
        "p50",
        "p99",
        "p99.9",
        "2.5",
        "120.0",
    ] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
}
