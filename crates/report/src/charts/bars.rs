//! Bar charts: one bar per category, or groups of bars (one per series).

use super::axis::{y_axis, Plot, Scale};
use super::colour;
use super::svg::{text_width, Anchor, LegendEntry, Svg, FONT};

/// Chart width in px.
const WIDTH: f64 = 960.0;
/// Height of the plot area in px.
const PLOT_HEIGHT: f64 = 280.0;
/// A log scale is used (when allowed) once the largest value is this many times the smallest.
const LOG_RATIO: f64 = 30.0;
/// Slant of category labels that do not fit level, in degrees.
const SLANT: f64 = 35.0;
/// Font size of the value labels on bars.
const VALUE_FONT: f64 = 10.0;

/// Which colour a bar gets.
#[derive(Debug, Clone, Copy)]
pub enum Colouring {
    /// Each category its own colour (single-series charts, matching the timeline).
    ByCategory,
    /// Each series its own colour, with a legend.
    BySeries,
}

/// One series of bars: a value (or none) per category.
pub struct BarSeries {
    pub name: String,
    pub values: Vec<Option<f64>>,
    /// An interval (low, high) per category drawn as an error bar over the bar; empty for none.
    pub intervals: Vec<Option<(f64, f64)>>,
}

/// What a bar chart shows.
pub struct BarChart<'a> {
    pub title: &'a str,
    /// The y-axis title, with its unit.
    pub y_title: &'a str,
    /// What the categories are, written under them.
    pub x_title: &'a str,
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
    pub colouring: Colouring,
    /// Switch to a log scale when the values span a wide range.
    pub allow_log: bool,
    /// Decimals of the value labels.
    pub decimals: usize,
    /// Appended to the value labels, e.g. ` %`.
    pub unit: &'a str,
}

/// Render `chart` as SVG: labelled y axis, category labels (slanted when long),
/// each bar labelled with its value (`n/a` where there is none) above its error bar
/// if it has one, a legend when there are several series.
pub fn bar_chart(chart: &BarChart<'_>) -> String {
    let n_series = chart.series.len().max(1);
    let legend: Vec<LegendEntry> = match chart.colouring {
        Colouring::BySeries => chart
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| LegendEntry {
                label: s.name.clone(),
                colour: colour(i).to_string(),
                dash: String::new(),
            })
            .collect(),
        Colouring::ByCategory => Vec::new(),
    };
    let legend_width = legend
        .iter()
        .map(|e| 40.0 + text_width(&e.label, FONT))
        .fold(0.0, f64::max);
    let left = 74.0;
    let right = WIDTH
        - 20.0
        - if legend.is_empty() {
            0.0
        } else {
            legend_width + 16.0
        };
    let slot = (right - left) / chart.categories.len().max(1) as f64;
    let longest = chart
        .categories
        .iter()
        .map(|c| text_width(c, FONT))
        .fold(0.0, f64::max);
    let slanted = longest > slot - 6.0;
    let label_depth = if slanted {
        longest * SLANT.to_radians().sin() + FONT
    } else {
        FONT
    };
    let plot = Plot {
        left,
        top: 44.0,
        right,
        bottom: 44.0 + PLOT_HEIGHT,
    };
    let height = plot.bottom + 16.0 + label_depth + 28.0;
    let mut svg = Svg::new(WIDTH, height, chart.title);

    let values = chart.series.iter().flat_map(|s| s.values.iter().flatten());
    let highs = chart
        .series
        .iter()
        .flat_map(|s| s.intervals.iter().flatten().map(|(_, high)| *high));
    let max = values.clone().copied().chain(highs).fold(0.0, f64::max);
    let min_positive = values
        .copied()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let log = chart.allow_log && min_positive.is_finite() && max / min_positive > LOG_RATIO;
    let bar_width = slot * 0.8 / n_series as f64;
    let label = |v: f64| format!("{v:.*}{}", chart.decimals, chart.unit);
    let level_labels = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .all(|v| text_width(&label(*v), VALUE_FONT) <= bar_width + 4.0);
    let scale = if log {
        Scale::log(min_positive, max)
    } else {
        // Room above the tallest bar for its label.
        let headroom = if level_labels { 1.12 } else { 1.35 };
        Scale::linear(max * headroom, 0.0)
    };
    let y_title = if log {
        format!("{} (log scale)", chart.y_title)
    } else {
        chart.y_title.to_string()
    };
    y_axis(&mut svg, &plot, &scale, &y_title);
    svg.line(
        (plot.left, plot.bottom),
        (plot.right, plot.bottom),
        "#333333",
        1.0,
        "",
    );

    for (c, category) in chart.categories.iter().enumerate() {
        let centre = plot.left + slot * (c as f64 + 0.5);
        let group_left = centre - bar_width * n_series as f64 / 2.0;
        for (s, series) in chart.series.iter().enumerate() {
            let x = group_left + bar_width * s as f64;
            let mid = x + bar_width / 2.0;
            let Some(v) = series.values.get(c).copied().flatten() else {
                svg.text(
                    mid,
                    plot.bottom - 4.0,
                    "n/a",
                    Anchor::Middle,
                    VALUE_FONT,
                    0.0,
                );
                continue;
            };
            let fill = match chart.colouring {
                Colouring::ByCategory => colour(c),
                Colouring::BySeries => colour(s),
            };
            let mut top = plot.y(scale.fraction(v));
            svg.rect(x + 1.0, top, bar_width - 2.0, plot.bottom - top, fill);
            if let Some((low, high)) = series.intervals.get(c).copied().flatten() {
                let high = plot.y(scale.fraction(high));
                let cap = (bar_width / 4.0).min(6.0);
                svg.error_bar(mid, plot.y(scale.fraction(low)), high, cap);
                top = top.min(high);
            }
            if level_labels {
                svg.text(mid, top - 4.0, &label(v), Anchor::Middle, VALUE_FONT, 0.0);
            } else {
                let lx = mid + VALUE_FONT * 0.35;
                svg.text(lx, top - 4.0, &label(v), Anchor::Start, VALUE_FONT, -90.0);
            }
        }
        if slanted {
            let y = plot.bottom + 16.0;
            svg.text(centre, y, category, Anchor::End, FONT, -SLANT);
        } else {
            svg.text(
                centre,
                plot.bottom + 18.0,
                category,
                Anchor::Middle,
                FONT,
                0.0,
            );
        }
    }
    let mid = (plot.left + plot.right) / 2.0;
    svg.text(
        mid,
        height - 12.0,
        chart.x_title,
        Anchor::Middle,
        FONT + 1.0,
        0.0,
    );
    if !legend.is_empty() {
        svg.legend(plot.right + 16.0, plot.top, &legend, false);
    }
    svg.finish()
}
