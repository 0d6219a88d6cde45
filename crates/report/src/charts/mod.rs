//! SVG charts: errors per second over time, and bar charts of per-variant figures.

mod axis;
mod bars;
mod svg;
mod timeline;

pub use bars::{bar_chart, BarChart, BarSeries, Colouring};
pub use timeline::{timeline_chart, TimelineSeries};

/// Ten distinct colours (Tableau 10); series past ten reuse them dashed.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
    "#ff9da7", "#bab0ac",
];

/// The colour of the `i`-th series.
fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// The dash pattern of the `i`-th series: solid for the first ten.
fn dash(i: usize) -> &'static str {
    match (i / PALETTE.len()) % 3 {
        0 => "",
        1 => "6 3",
        _ => "2 3",
    }
}
