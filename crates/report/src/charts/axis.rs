//! Plot areas, value scales (linear or logarithmic) with round ticks, and axes.

use super::svg::{Anchor, Svg, FONT};

/// The rectangle data is drawn in, in px.
#[derive(Debug, Clone, Copy)]
pub struct Plot {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

impl Plot {
    /// The x position of fraction `f` (0 = left edge, 1 = right edge).
    pub fn x(&self, f: f64) -> f64 {
        self.left + f * (self.right - self.left)
    }

    /// The y position of fraction `f` (0 = bottom edge, 1 = top edge).
    pub fn y(&self, f: f64) -> f64 {
        self.bottom - f * (self.bottom - self.top)
    }
}

/// A value range mapped onto [0, 1], with its tick values.
#[derive(Debug, Clone)]
pub struct Scale {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
    decimals: usize,
}

impl Scale {
    /// 0 up to a round value ≥ `max`, ticks every round step (never below `min_step`).
    pub fn linear(max: f64, min_step: f64) -> Scale {
        let max = if max > 0.0 { max } else { 1.0 };
        let step = nice_step(max / 5.0).max(min_step);
        let hi = (max / step).ceil() * step;
        let count = (hi / step).round() as usize;
        Scale {
            lo: 0.0,
            hi,
            log: false,
            ticks: (0..=count).map(|i| i as f64 * step).collect(),
            decimals: decimals(step),
        }
    }

    /// Whole decades around `min`..`max` (both > 0), a tick on each decade.
    pub fn log(min: f64, max: f64) -> Scale {
        let lo = min.log10().floor() as i32;
        let hi = (max.log10().ceil() as i32).max(lo + 1);
        Scale {
            lo: 10f64.powi(lo),
            hi: 10f64.powi(hi),
            log: true,
            ticks: (lo..=hi).map(|e| 10f64.powi(e)).collect(),
            decimals: (-lo).max(0) as usize,
        }
    }

    /// Where `v` falls, 0 at the bottom of the range and 1 at the top (clamped).
    pub fn fraction(&self, v: f64) -> f64 {
        let f = if self.log {
            if v <= 0.0 {
                return 0.0;
            }
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        f.clamp(0.0, 1.0)
    }

    /// The tick values, lowest first.
    pub fn ticks(&self) -> &[f64] {
        &self.ticks
    }

    /// A tick label for `v`.
    pub fn label(&self, v: f64) -> String {
        if self.log && v >= 1.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.*}", self.decimals)
        }
    }
}

/// Horizontal grid lines, tick labels and a rotated title on the left of `plot`.
pub fn y_axis(svg: &mut Svg, plot: &Plot, scale: &Scale, title: &str) {
    for &t in scale.ticks() {
        let y = plot.y(scale.fraction(t));
        svg.line((plot.left, y), (plot.right, y), "#e3e3e3", 1.0, "");
        svg.text(
            plot.left - 6.0,
            y + FONT * 0.35,
            &scale.label(t),
            Anchor::End,
            FONT,
            0.0,
        );
    }
    svg.line(
        (plot.left, plot.top),
        (plot.left, plot.bottom),
        "#333333",
        1.0,
        "",
    );
    let mid = (plot.top + plot.bottom) / 2.0;
    svg.text(18.0, mid, title, Anchor::Middle, FONT + 1.0, -90.0);
}

/// Tick marks, tick labels and a title under `plot` for a numeric x scale.
pub fn x_axis(svg: &mut Svg, plot: &Plot, scale: &Scale, title: &str) {
    svg.line(
        (plot.left, plot.bottom),
        (plot.right, plot.bottom),
        "#333333",
        1.0,
        "",
    );
    for &t in scale.ticks() {
        let x = plot.x(scale.fraction(t));
        svg.line((x, plot.bottom), (x, plot.bottom + 5.0), "#333333", 1.0, "");
        svg.text(
            x,
            plot.bottom + 18.0,
            &scale.label(t),
            Anchor::Middle,
            FONT,
            0.0,
        );
    }
    let mid = (plot.left + plot.right) / 2.0;
    svg.text(
        mid,
        plot.bottom + 38.0,
        title,
        Anchor::Middle,
        FONT + 1.0,
        0.0,
    );
}

/// 1, 2 or 5 times a power of ten, the smallest ≥ `raw`.
fn nice_step(raw: f64) -> f64 {
    let magnitude = 10f64.powf(raw.log10().floor());
    let n = raw / magnitude;
    let f = if n <= 1.0 {
        1.0
    } else if n <= 2.0 {
        2.0
    } else if n <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * magnitude
}

/// Decimals needed to tell ticks `step` apart.
fn decimals(step: f64) -> usize {
    (-step.log10().floor()).max(0.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round() {
        let s = Scale::linear(87.0, 1.0);
        assert_eq!(s.ticks(), &[0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(s.label(40.0), "40");
        let s = Scale::linear(4.45, 0.0);
        assert_eq!(s.ticks().last(), Some(&5.0));
        let s = Scale::linear(0.3, 0.0);
        assert_eq!(s.label(0.1), "0.1");
    }

    #[test]
    fn empty_range_still_has_ticks() {
        let s = Scale::linear(0.0, 1.0);
        assert_eq!(s.ticks(), &[0.0, 1.0]);
    }

    #[test]
    fn log_scale_spans_decades() {
        let s = Scale::log(3.9, 213.0);
        assert_eq!(s.ticks(), &[1.0, 10.0, 100.0, 1000.0]);
        assert!((s.fraction(10.0) - 1.0 / 3.0).abs() < 1e-9);
        assert_eq!(Scale::log(0.2, 5.0).label(0.1), "0.1");
    }
}
