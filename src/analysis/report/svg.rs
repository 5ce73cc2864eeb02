//! A small SVG chart writer: linear and log scales, "nice" ticks, polyline paths, and a line
//! chart with axes, a legend, reference lines and a text alternative.
//!
//! Written by hand rather than with `plotters`' SVG backend: the report needs very little (line
//! charts and step curves), and owning the markup lets every chart carry `role="img"`, a
//! `<title>` and `<desc>`, draw its colours from CSS classes (so one file follows light and dark
//! mode and prints), round coordinates to keep large reports small, and stay free of font
//! files and system libraries.

use std::fmt::Write;

/// Maps a data interval onto a pixel interval, linearly or logarithmically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    /// Data interval start.
    pub d0: f64,
    /// Data interval end.
    pub d1: f64,
    /// Pixel at `d0`.
    pub r0: f64,
    /// Pixel at `d1`.
    pub r1: f64,
    /// Logarithmic (base 10); `d0` and `d1` must then be > 0.
    pub log: bool,
}

impl Scale {
    /// A linear scale.
    pub fn linear(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        Scale {
            d0,
            d1,
            r0,
            r1,
            log: false,
        }
    }

    /// A base-10 logarithmic scale (non-positive bounds are raised to a tiny positive value).
    pub fn log(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        Scale {
            d0: d0.max(1e-9),
            d1: d1.max(1e-9),
            r0,
            r1,
            log: true,
        }
    }

    /// The pixel for a data value (values outside the domain map outside the range).
    pub fn map(&self, v: f64) -> f64 {
        let (a, b, x) = if self.log {
            (self.d0.log10(), self.d1.log10(), v.max(1e-9).log10())
        } else {
            (self.d0, self.d1, v)
        };
        if (b - a).abs() < f64::EPSILON {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (x - a) / (b - a) * (self.r1 - self.r0)
    }

    /// Tick values inside the domain: about `n` nice linear ticks, or 1-2-5 decades on a log
    /// scale.
    pub fn ticks(&self, n: usize) -> Vec<f64> {
        if self.log {
            log_ticks(self.d0, self.d1)
        } else {
            nice_ticks(self.d0, self.d1, n)
        }
    }
}

/// A "nice" step (1, 2 or 5 × 10^k) for about `n` intervals over `span`.
fn nice_step(span: f64, n: usize) -> f64 {
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.0 {
        2.0
    } else if f < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// About `n` ticks at multiples of a nice step, inside [lo, hi].
pub fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let step = nice_step(hi - lo, n);
    // Round to the step's decimals to avoid float noise such as 0.6000000000000001.
    let p = 10f64.powi((-step.log10().floor()).max(0.0) as i32);
    let mut k = (lo / step - 1e-9).ceil() as i64;
    let mut out = Vec::new();
    loop {
        let v = (k as f64 * step * p).round() / p;
        if v > hi + step * 1e-9 {
            break;
        }
        // Avoid -0.
        out.push(if v == 0.0 { 0.0 } else { v });
        k += 1;
    }
    out
}

/// Ticks for a log axis over [lo, hi]: 1, 2 and 5 × 10^k when the range spans at most three
/// decades, only powers of ten beyond that.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if !(lo > 0.0 && hi > lo) {
        return vec![lo.max(1e-9)];
    }
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mults: &[f64] = if b - a <= 3 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    let mut out = Vec::new();
    for e in a..=b {
        for m in mults {
            let v = m * 10f64.powi(e);
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    out
}

/// A compact label for a tick value: `0.5`, `20`, `1.5k`, `2M`.
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if a >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if a >= 1e4 {
        format!("{}k", trim(format!("{:.1}", v / 1e3)))
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        trim(format!("{v:.2}"))
    } else {
        trim(format!("{v:.4}"))
    }
}

/// An SVG path `d` through the points (already in pixels), coordinates to one decimal.
/// Non-finite points break the line into separate pieces.
pub fn path_d(points: &[(f64, f64)]) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for &(x, y) in points {
        if !(x.is_finite() && y.is_finite()) {
            pen_down = false;
            continue;
        }
        let _ = write!(d, "{}{:.1} {:.1}", if pen_down { 'L' } else { 'M' }, x, y);
        pen_down = true;
    }
    d
}

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Data points (x, y), in data units.
    pub points: Vec<(f64, f64)>,
    /// Colour index (CSS class `c0`…`c9`).
    pub color: usize,
    /// Dashed line (a second figure of the same entity, e.g. p99 beside p50).
    pub dashed: bool,
    /// Draw a dot at each point (for sparse data such as sweep steps).
    pub dots: bool,
}

/// A reference line across the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Vertical at this x (true) or horizontal at this y (false).
    pub vertical: bool,
    /// Position in data units.
    pub at: f64,
    /// Label drawn beside it.
    pub label: String,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Element id (unique in the page).
    pub id: String,
    /// Title (also the SVG `<title>`).
    pub title: String,
    /// Text alternative (the SVG `<desc>`).
    pub desc: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Y axis starts at 0 (else at the data minimum).
    pub y_zero: bool,
    /// Fixed y domain (e.g. 0–1 for a CDF).
    pub y_domain: Option<(f64, f64)>,
    /// The lines.
    pub series: Vec<Series>,
    /// Reference lines.
    pub markers: Vec<Marker>,
}

/// Chart size in SVG units (the SVG scales to its container through `viewBox`).
pub const WIDTH: f64 = 640.0;
/// Chart height.
pub const HEIGHT: f64 = 300.0;
/// Plot margins inside the chart: left (tick labels), right, top, bottom (axis title).
pub(super) const LEFT: f64 = 58.0;
pub(super) const RIGHT: f64 = 22.0;
pub(super) const TOP: f64 = 12.0;
pub(super) const BOTTOM: f64 = 40.0;

/// The chart's opening `<svg>` element with its `<title>` and `<desc>`.
pub(super) fn open(id: &str, title: &str, desc: &str) -> String {
    format!(
        r#"<svg id="{}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg"><title>{}</title><desc>{}</desc>"#,
        esc(id),
        esc(title),
        esc(desc)
    )
}

/// Closes a chart that has nothing to draw with a centred "no data".
pub(super) fn no_data(mut s: String) -> String {
    let _ = write!(
        s,
        r#"<text class="axis" x="{}" y="{}" text-anchor="middle">no data</text></svg>"#,
        WIDTH / 2.0,
        HEIGHT / 2.0
    );
    s
}

/// The x scale (log or linear) and linear y scale mapping the domains `x` and `y` onto the
/// plot area inside the margins (y grows upwards).
pub(super) fn scales(x: (f64, f64), x_log: bool, y: (f64, f64)) -> (Scale, Scale) {
    let (pl, pr, pt, pb) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
    let xs = if x_log {
        Scale::log(x.0, x.1, pl, pr)
    } else {
        Scale::linear(x.0, x.1, pl, pr)
    };
    (xs, Scale::linear(y.0, y.1, pb, pt))
}

impl LineChart {
    /// The data extent over all series and markers, or None when there is nothing to draw.
    fn extent(&self) -> Option<((f64, f64), (f64, f64))> {
        let pts = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.x_log || *x > 0.0));
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        let mut any = false;
        for (x, y) in pts {
            any = true;
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if !any {
            return None;
        }
        for m in &self.markers {
            if m.vertical && (!self.x_log || m.at > 0.0) {
                x0 = x0.min(m.at);
                x1 = x1.max(m.at);
            } else if !m.vertical {
                y0 = y0.min(m.at);
                y1 = y1.max(m.at);
            }
        }
        if self.y_zero {
            y0 = y0.min(0.0);
        }
        if let Some(d) = self.y_domain {
            (y0, y1) = d;
        }
        if x1 <= x0 {
            if self.x_log {
                (x0, x1) = (x0 / 2.0, x1 * 2.0);
            } else {
                (x0, x1) = (x0 - 1.0, x1 + 1.0);
            }
        }
        if y1 <= y0 {
            y1 = y0 + 1.0;
        }
        if !self.y_zero && self.y_domain.is_none() {
            let pad = (y1 - y0) * 0.05;
            y1 += pad;
        } else if self.y_domain.is_none() {
            y1 *= 1.05;
        }
        if self.x_log {
            // Snap to whole decades' 1-2-5 neighbours so the ends carry ticks.
            x0 = snap_down(x0);
            x1 = snap_up(x1);
        }
        Some(((x0, x1), (y0, y1)))
    }

    /// The SVG element: axes with ticks and labels, one path per series, markers, a legend,
    /// and `<title>`/`<desc>` for assistive technology.
    pub fn render(&self) -> String {
        let mut s = open(&self.id, &self.title, &self.desc);
        let Some(((x0, x1), (y0, y1))) = self.extent() else {
            return no_data(s);
        };
        let (pl, pr, pt, pb) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        let (xs, ys) = scales((x0, x1), self.x_log, (y0, y1));
        // Grid and ticks.
        s.push_str(r#"<g class="grid">"#);
        for t in ys.ticks(5) {
            let y = ys.map(t);
            let _ = write!(s, r#"<path d="M{pl:.1} {y:.1}H{pr:.1}"/>"#);
        }
        for t in xs.ticks(8) {
            let x = xs.map(t);
            let _ = write!(s, r#"<path d="M{x:.1} {pt:.1}V{pb:.1}"/>"#);
        }
        s.push_str("</g><g class=\"axis\">");
        let _ = write!(
            s,
            r#"<path class="frame" d="M{pl:.1} {pt:.1}V{pb:.1}H{pr:.1}"/>"#
        );
        for t in ys.ticks(5) {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                pl - 4.0,
                ys.map(t) + 4.0,
                tick_label(t)
            );
        }
        for t in xs.ticks(8) {
            let _ = write!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                xs.map(t),
                pb + 14.0,
                tick_label(t)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            (pl + pr) / 2.0,
            HEIGHT - 6.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r#"<text x="12" y="{:.1}" text-anchor="middle" transform="rotate(-90 12 {:.1})">{}</text>"#,
            (pt + pb) / 2.0,
            (pt + pb) / 2.0,
            esc(&self.y_label)
        );
        s.push_str("</g>");
        // Markers.
        for m in &self.markers {
            if m.vertical {
                if self.x_log && m.at <= 0.0 {
                    continue;
                }
                let x = xs.map(m.at);
                let _ = write!(
                    s,
                    r#"<g class="marker"><path d="M{x:.1} {pt:.1}V{pb:.1}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
                    x + 3.0,
                    pt + 10.0,
                    esc(&m.label)
                );
            } else {
                let y = ys.map(m.at);
                let _ = write!(
                    s,
                    r#"<g class="marker"><path d="M{pl:.1} {y:.1}H{pr:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text></g>"#,
                    pr - 2.0,
                    y - 3.0,
                    esc(&m.label)
                );
            }
        }
        // Series.
        for ser in &self.series {
            let px: Vec<(f64, f64)> = ser
                .points
                .iter()
                .map(|&(x, y)| {
                    if self.x_log && x <= 0.0 {
                        (f64::NAN, f64::NAN)
                    } else {
                        (xs.map(x), ys.map(y))
                    }
                })
                .collect();
            let _ = write!(
                s,
                r#"<path class="line c{}{}" d="{}"/>"#,
                ser.color % 10,
                if ser.dashed { " dash" } else { "" },
                path_d(&px)
            );
            if ser.dots {
                for (x, y) in px.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
                    let _ = write!(
                        s,
                        r#"<circle class="dot c{}" cx="{x:.1}" cy="{y:.1}" r="3"/>"#,
                        ser.color % 10
                    );
                }
            }
        }
        s.push_str("</svg>");
        s
    }

    /// The legend as HTML (beside the SVG, so it wraps and stays readable at any width).
    pub fn legend(&self) -> Vec<(String, String)> {
        self.series
            .iter()
            .map(|s| {
                (
                    format!("c{}{}", s.color % 10, if s.dashed { " dash" } else { "" }),
                    s.name.clone(),
                )
            })
            .collect()
    }
}

pub(super) fn snap_down(v: f64) -> f64 {
    let e = 10f64.powf(v.log10().floor());
    for m in [5.0, 2.0, 1.0] {
        if m * e <= v {
            return m * e;
        }
    }
    e
}

pub(super) fn snap_up(v: f64) -> f64 {
    let e = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * e >= v {
            return m * e;
        }
    }
    10.0 * e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_scale_maps_ends_and_middle() {
        let s = Scale::linear(0.0, 10.0, 100.0, 200.0);
        assert_eq!(s.map(0.0), 100.0);
        assert_eq!(s.map(10.0), 200.0);
        assert_eq!(s.map(5.0), 150.0);
        // Inverted pixel range (SVG y grows downwards).
        let y = Scale::linear(0.0, 1.0, 300.0, 0.0);
        assert_eq!(y.map(0.25), 225.0);
        // A degenerate domain maps to the middle instead of dividing by zero.
        assert_eq!(Scale::linear(3.0, 3.0, 0.0, 10.0).map(3.0), 5.0);
    }

    #[test]
    fn log_scale_spaces_decades_evenly() {
        let s = Scale::log(1.0, 1000.0, 0.0, 300.0);
        assert!((s.map(1.0) - 0.0).abs() < 1e-9);
        assert!((s.map(10.0) - 100.0).abs() < 1e-9);
        assert!((s.map(100.0) - 200.0).abs() < 1e-9);
        assert!((s.map(1000.0) - 300.0).abs() < 1e-9);
    }

    #[test]
    fn nice_ticks_are_round_and_inside() {
        assert_eq!(
            nice_ticks(0.0, 10.0, 5),
            vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 4), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(nice_ticks(13.0, 97.0, 4), vec![20.0, 40.0, 60.0, 80.0]);
        assert_eq!(nice_ticks(0.0, 0.3, 3), vec![0.0, 0.1, 0.2, 0.3]);
        assert_eq!(nice_ticks(5.0, 5.0, 4), vec![5.0]);
    }

    #[test]
    fn log_ticks_use_1_2_5_or_decades() {
        assert_eq!(
            log_ticks(10.0, 1000.0),
            vec![10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]
        );
        assert_eq!(
            log_ticks(1.0, 100_000.0),
            vec![1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]
        );
        assert_eq!(log_ticks(150.0, 900.0), vec![200.0, 500.0]);
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(2.5), "2.5");
        assert_eq!(tick_label(500.0), "500");
        assert_eq!(tick_label(20_000.0), "20k");
        assert_eq!(tick_label(1_500_000.0), "1.5M");
    }

    #[test]
    fn paths_round_and_break_on_gaps() {
        assert_eq!(path_d(&[(0.0, 1.0), (2.25, 3.0)]), "M0.0 1.0L2.2 3.0");
        assert_eq!(
            path_d(&[(0.0, 0.0), (f64::NAN, 1.0), (5.0, 5.0), (6.0, 6.0)]),
            "M0.0 0.0M5.0 5.0L6.0 6.0"
        );
        assert_eq!(path_d(&[]), "");
    }

    #[test]
    fn chart_has_text_alternative_axes_and_one_path_per_series() {
        let c = LineChart {
            id: "x".into(),
            title: "TTFT <CDF>".into(),
            desc: "two models".into(),
            x_label: "ms".into(),
            y_label: "share".into(),
            x_log: true,
            y_zero: true,
            y_domain: Some((0.0, 1.0)),
            series: vec![
                Series {
                    name: "a".into(),
                    points: vec![(10.0, 0.0), (100.0, 1.0)],
                    color: 0,
                    dashed: false,
                    dots: false,
                },
                Series {
                    name: "b".into(),
                    points: vec![(20.0, 0.0), (400.0, 1.0)],
                    color: 1,
                    dashed: true,
                    dots: true,
                },
            ],
            markers: vec![Marker {
                vertical: true,
                at: 50.0,
                label: "SLO".into(),
            }],
        };
        let svg = c.render();
        assert!(svg.starts_with("<svg id=\"x\""), "{svg}");
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("<title>TTFT &lt;CDF&gt;</title>"));
        assert!(svg.contains("<desc>two models</desc>"));
        assert_eq!(svg.matches("class=\"line ").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("class=\"line c1 dash\""));
        assert!(svg.contains(">SLO</text>"));
        // Log axis from 10 to 500 carries 1-2-5 ticks.
        for t in ["10", "20", "50", "100", "200", "500"] {
            assert!(svg.contains(&format!(">{t}</text>")), "tick {t}: {svg}");
        }
        assert!(svg.ends_with("</svg>"));
        assert_eq!(c.legend()[1], ("c1 dash".to_string(), "b".to_string()));
    }

    #[test]
    fn empty_chart_says_so() {
        let c = LineChart {
            id: "e".into(),
            title: "t".into(),
            desc: "d".into(),
            x_label: String::new(),
            y_label: String::new(),
            x_log: false,
            y_zero: true,
            y_domain: None,
            series: vec![],
            markers: vec![],
        };
        assert!(c.render().contains(">no data</text></svg>"));
    }
}
