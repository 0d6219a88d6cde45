//! A small SVG writer: shapes, text, a legend, and the escaping they need.

use std::fmt::Write;

/// Font size of tick labels and legends, in px.
pub const FONT: f64 = 12.0;
/// Font size of chart titles, in px.
const TITLE_FONT: f64 = 16.0;

/// How text sits on its anchor point.
#[derive(Debug, Clone, Copy)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// An SVG document under construction.
pub struct Svg {
    width: f64,
    height: f64,
    body: String,
}

impl Svg {
    /// A white `width`×`height` canvas with `title` centred on top.
    pub fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut svg = Svg {
            width,
            height,
            body: String::new(),
        };
        let _ = writeln!(svg.body, "<title>{}</title>", escape(title));
        svg.rect(0.0, 0.0, width, height, "#ffffff");
        let _ = writeln!(
            svg.body,
            r#"<text x="{:.1}" y="26" font-size="{TITLE_FONT}" font-weight="bold" text-anchor="middle">{}</text>"#,
            width / 2.0,
            escape(title)
        );
        svg
    }

    /// A filled rectangle.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"/>"#
        );
    }

    /// A straight line; `dash` is an SVG `stroke-dasharray` or empty.
    pub fn line(&mut self, from: (f64, f64), to: (f64, f64), stroke: &str, width: f64, dash: &str) {
        let _ = write!(
            self.body,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{stroke}" stroke-width="{width}""#,
            from.0, from.1, to.0, to.1
        );
        if !dash.is_empty() {
            let _ = write!(self.body, r#" stroke-dasharray="{dash}""#);
        }
        self.body.push_str("/>\n");
    }

    /// A polyline through `points` as one `<path>` of class `series`, tagged with
    /// `data-series="name"`.
    pub fn series_path(&mut self, name: &str, points: &[(f64, f64)], stroke: &str, dash: &str) {
        let mut d = String::new();
        for (i, (x, y)) in points.iter().enumerate() {
            let _ = write!(d, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { " L" });
        }
        let _ = write!(
            self.body,
            r#"<path class="series" data-series="{}" d="{d}" fill="none" stroke="{stroke}" stroke-width="2" stroke-linejoin="round""#,
            escape(name)
        );
        if !dash.is_empty() {
            let _ = write!(self.body, r#" stroke-dasharray="{dash}""#);
        }
        self.body.push_str("/>\n");
    }

    /// An error bar at `x` from y position `low` to `high`, with caps `cap` px to either side.
    pub fn error_bar(&mut self, x: f64, low: f64, high: f64, cap: f64) {
        let (l, r) = (x - cap, x + cap);
        let _ = writeln!(
            self.body,
            r##"<path class="error-bar" d="M{l:.1} {low:.1} L{r:.1} {low:.1} M{x:.1} {low:.1} L{x:.1} {high:.1} M{l:.1} {high:.1} L{r:.1} {high:.1}" fill="none" stroke="#333333" stroke-width="1.2"/>"##
        );
    }

    /// A small filled dot.
    pub fn dot(&mut self, x: f64, y: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.5" fill="{fill}"/>"#
        );
    }

    /// Text of `size` px; `rotate` in degrees around the anchor point (0 for none).
    pub fn text(&mut self, x: f64, y: f64, text: &str, anchor: Anchor, size: f64, rotate: f64) {
        let _ = write!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{}""#,
            anchor.as_str()
        );
        if rotate != 0.0 {
            let _ = write!(self.body, r#" transform="rotate({rotate} {x:.1} {y:.1})""#);
        }
        let _ = writeln!(self.body, ">{}</text>", escape(text));
    }

    /// A legend box at (`x`, `y`): one row per entry with a swatch in its colour.
    /// Line swatches (`lines`) carry the entry's dash pattern; otherwise squares.
    pub fn legend(&mut self, x: f64, y: f64, entries: &[LegendEntry], lines: bool) {
        let row = FONT + 6.0;
        let width = 34.0
            + entries
                .iter()
                .map(|e| text_width(&e.label, FONT))
                .fold(0.0, f64::max);
        let height = row * entries.len() as f64 + 8.0;
        let _ = writeln!(
            self.body,
            r##"<rect class="legend" x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{height:.1}" fill="#ffffff" stroke="#bbbbbb"/>"##
        );
        for (i, e) in entries.iter().enumerate() {
            let cy = y + 4.0 + row * (i as f64 + 0.5);
            if lines {
                self.line((x + 6.0, cy), (x + 24.0, cy), &e.colour, 2.5, &e.dash);
            } else {
                self.rect(x + 8.0, cy - 5.0, 12.0, 10.0, &e.colour);
            }
            self.text(
                x + 30.0,
                cy + FONT * 0.35,
                &e.label,
                Anchor::Start,
                FONT,
                0.0,
            );
        }
    }

    /// The finished document.
    pub fn finish(self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n{}</svg>\n",
            self.body,
            w = self.width,
            h = self.height,
        )
    }
}

/// One row of a legend.
pub struct LegendEntry {
    pub label: String,
    pub colour: String,
    pub dash: String,
}

/// The width `text` takes at `size` px, estimated (no font metrics needed).
pub fn text_width(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size * 0.56
}

/// `text` with XML's special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
