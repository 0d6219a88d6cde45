//! Errors per second over time: one line per variant on one chart.

use mesh5xx_results::{Mark, Second};

use super::axis::{x_axis, y_axis, Plot, Scale};
use super::svg::{text_width, Anchor, LegendEntry, Svg, FONT};
use super::{colour, dash};

/// Chart width in px (the legend takes the right-hand part).
const WIDTH: f64 = 960.0;
/// Chart height in px, unless the legend needs more.
const HEIGHT: f64 = 420.0;
/// Dots mark each second while a series has at most this many points.
const MAX_DOTS: usize = 120;

/// One line of the timeline chart.
pub struct TimelineSeries<'a> {
    /// The variant name, shown in the legend.
    pub name: &'a str,
    pub timeline: &'a [Second],
    /// What happened to the mesh meanwhile: a dashed vertical line in the series' colour each.
    pub marks: &'a [Mark],
}

/// An SVG line chart of errors per second (y) against seconds since each
/// variant's start (x); one `<path>` per series, legend with names and totals.
pub fn timeline_chart(title: &str, series: &[TimelineSeries<'_>]) -> String {
    let entries: Vec<LegendEntry> = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let total: u64 = s.timeline.iter().map(|x| x.errors).sum();
            LegendEntry {
                label: format!("{} ({total} errors)", s.name),
                colour: colour(i).to_string(),
                dash: dash(i).to_string(),
            }
        })
        .collect();
    let legend_width = 40.0
        + entries
            .iter()
            .map(|e| text_width(&e.label, FONT))
            .fold(0.0, f64::max);
    let height = HEIGHT.max(44.0 + (FONT + 6.0) * entries.len() as f64 + 72.0);
    let plot = Plot {
        left: 70.0,
        top: 44.0,
        right: WIDTH - legend_width - 24.0,
        bottom: height - 56.0,
    };
    let mut svg = Svg::new(WIDTH, height, title);

    let points = series.iter().flat_map(|s| s.timeline.iter());
    let (max_t, max_errors) = points.fold((0u64, 0u64), |(t, e), s| (t.max(s.t), e.max(s.errors)));
    let last_mark = series
        .iter()
        .flat_map(|s| s.marks.iter())
        .map(|m| m.t_s.ceil() as u64)
        .max()
        .unwrap_or(0);
    let max_t = max_t.max(last_mark);
    let x = Scale::linear(max_t.max(1) as f64, 1.0);
    let y = Scale::linear(max_errors.max(5) as f64, 1.0);
    y_axis(&mut svg, &plot, &y, "errors per second (5xx + transport)");
    x_axis(&mut svg, &plot, &x, "seconds since the variant's start (s)");

    for (i, s) in series.iter().enumerate() {
        let points: Vec<(f64, f64)> = s
            .timeline
            .iter()
            .map(|p| {
                (
                    plot.x(x.fraction(p.t as f64)),
                    plot.y(y.fraction(p.errors as f64)),
                )
            })
            .collect();
        svg.series_path(s.name, &points, colour(i), dash(i));
        if points.len() <= MAX_DOTS {
            for (px, py) in &points {
                svg.dot(*px, *py, colour(i));
            }
        }
    }
    for (i, s) in series.iter().enumerate() {
        for m in s.marks {
            let px = plot.x(x.fraction(m.t_s));
            svg.line((px, plot.top), (px, plot.bottom), colour(i), 1.0, "4 3");
            svg.text(
                px - 3.0,
                plot.top + 4.0,
                &m.what,
                Anchor::End,
                FONT * 0.75,
                -90.0,
            );
        }
    }
    svg.legend(plot.right + 16.0, plot.top, &entries, true);
    svg.finish()
}
