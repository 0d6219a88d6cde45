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

#[test]
fn error_rate_bars_carry_their_95_percent_interval() {
    let dir = scratch("error-bars");
    let out = dir.join("report");
    report(&[keepalive_repeated(&dir)], &out).unwrap();
    let svg = read(&out.join("inbound-keepalive-uc-error-rate.svg"));
    let bars = svg_error_bars(&svg);
    assert_eq!(bars.len(), 2, "one error bar per variant");
    // The baseline's bar spans 2.43 % to 6.19 %: its whisker is tall; the fix's is short.
    let height = |d: &str| {
        let ys: Vec<f64> = d
            .split(['M', 'L'])
            .filter_map(|p| p.split_whitespace().nth(1)?.parse().ok())
            .collect();
        ys.iter().copied().fold(f64::MIN, f64::max) - ys.iter().copied().fold(f64::MAX, f64::min)
    };
    assert!(
        height(&bars[0]) > 50.0 * height(&bars[1]).max(0.1),
        "{bars:?}"
    );
    let texts = svg_texts(&svg);
    assert!(texts.iter().any(|t| t == "4.31 %"), "{texts:?}");

    // A single run gets a (Wilson) interval too.
    let out = dir.join("single");
    report(&[keepalive("istio-1.4", &dir)], &out).unwrap();
    let svg = read(&out.join("inbound-keepalive-uc-error-rate.svg"));
    assert_eq!(svg_error_bars(&svg).len(), 3);
}

/// A variant's marks (a pod terminating, a push) are dashed lines with their labels, and the
/// time axis reaches the last of them.
#[test]
fn timeline_marks_what_happened_to_the_mesh() {
    let dir = scratch("marks");
    let out = dir.join("report");
    let mut run = keepalive("istio-1.4", &dir);
    run.summary.variants[0].marks = vec![
        mesh5xx_results::Mark {
            t_s: 1.0,
            what: "srv-a-0 terminating".into(),
        },
        mesh5xx_results::Mark {
            t_s: 4.5,
            what: "push v4 (eds)".into(),
        },
    ];
    report(&[run], &out).unwrap();
    let svg = read(&out.join("inbound-keepalive-uc-timeline.svg"));
    let texts = svg_texts(&svg);
    for label in ["srv-a-0 terminating", "push v4 (eds)", "5"] {
        assert!(texts.iter().any(|t| t == label), "{label} in {texts:?}");
    }
    assert_eq!(svg.matches(r#"stroke-dasharray="4 3""#).count(), 2);
}
