//! A scatter chart with vertical error bars and labelled points (the cost-versus-quality
//! chart), written like the line charts of [`super::svg`]: CSS colour classes, `role="img"`
//! with `<title>` and `<desc>`, coordinates to 0.1 px.

use std::fmt::Write;

use super::svg::{
    esc, no_data, open, scales, snap_down, snap_up, tick_label, Scale, BOTTOM, HEIGHT, LEFT, RIGHT,
    TOP, WIDTH,
};

/// One point: an entity at (x, y) with an optional interval on y.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Label drawn beside the point.
    pub name: String,
    /// X in data units.
    pub x: f64,
    /// Y in data units.
    pub y: f64,
    /// The y interval (low, high), drawn as an error bar.
    pub interval: Option<(f64, f64)>,
    /// Colour index (CSS class `c0`…`c9`).
    pub color: usize,
    /// Drawn with a ring around it (the baseline).
    pub ring: bool,
}

/// A shaded quadrant: x up to `x_max`, y from `y_min` up, with its label.
#[derive(Debug, Clone, PartialEq)]
pub struct Region {
    /// Right edge, in data units.
    pub x_max: f64,
    /// Bottom edge, in data units.
    pub y_min: f64,
    /// Text in the region's top-left corner.
    pub label: String,
}

/// A scatter chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Scatter {
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
    /// Logarithmic x axis (x values must then be > 0).
    pub x_log: bool,
    /// Fixed y domain.
    pub y_domain: (f64, f64),
    /// The points.
    pub points: Vec<Point>,
    /// Reference lines (vertical at an x, or horizontal at a y).
    pub markers: Vec<super::svg::Marker>,
    /// A shaded region.
    pub region: Option<Region>,
}

impl Scatter {
    /// The x domain: from 0 to a rounded-up maximum (linear), or whole 1-2-5 steps around
    /// the data (log). None without a drawable point.
    fn x_domain(&self) -> Option<(f64, f64)> {
        let xs = self
            .points
            .iter()
            .map(|p| p.x)
            .chain(self.markers.iter().filter(|m| m.vertical).map(|m| m.at))
            .filter(|x| x.is_finite() && (!self.x_log || *x > 0.0));
        let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        if lo > hi {
            return None;
        }
        if self.x_log {
            Some((snap_down(lo / 1.25), snap_up(hi * 1.25)))
        } else {
            let top = if hi > 0.0 { hi * 1.12 } else { 1.0 };
            let t = super::svg::nice_ticks(0.0, top, 6);
            let step = if t.len() > 1 { t[1] - t[0] } else { top };
            Some((0.0, (top / step).ceil() * step))
        }
    }

    /// The SVG element.
    pub fn render(&self) -> String {
        let mut s = open(&self.id, &self.title, &self.desc);
        let Some((x0, x1)) = self.x_domain() else {
            return no_data(s);
        };
        let (pl, pr, pt, pb) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        let (xs, ys) = scales((x0, x1), self.x_log, self.y_domain);
        if let Some(r) = &self.region {
            let (rx, ry) = (xs.map(r.x_max).clamp(pl, pr), ys.map(r.y_min).clamp(pt, pb));
            let _ = write!(
                s,
                r#"<g class="region"><rect x="{pl:.1}" y="{pt:.1}" width="{:.1}" height="{:.1}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
                rx - pl,
                ry - pt,
                pl + 4.0,
                pt + 12.0,
                esc(&r.label)
            );
        }
        self.axes(&mut s, &xs, &ys);
        for m in &self.markers {
            if m.vertical {
                let x = xs.map(m.at);
                let _ = write!(
                    s,
                    r#"<g class="marker"><path d="M{x:.1} {pt:.1}V{pb:.1}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
                    x + 3.0,
                    pb - 4.0,
                    esc(&m.label)
                );
            } else {
                let y = ys.map(m.at);
                let _ = write!(
                    s,
                    r#"<g class="marker"><path d="M{pl:.1} {y:.1}H{pr:.1}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
                    pl + 4.0,
                    y + 12.0,
                    esc(&m.label)
                );
            }
        }
        self.draw_points(&mut s, &xs, &ys);
        s.push_str("</svg>");
        s
    }

    /// Grid, frame, tick labels (class `xt` / `yt`, each at its grid line) and axis labels.
    fn axes(&self, s: &mut String, xs: &Scale, ys: &Scale) {
        let (pl, pr, pt, pb) = (LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM);
        let yt = ys.ticks(5);
        let xt = xs.ticks(7);
        s.push_str(r#"<g class="grid">"#);
        for &t in &yt {
            let _ = write!(s, r#"<path d="M{pl:.1} {:.1}H{pr:.1}"/>"#, ys.map(t));
        }
        for &t in &xt {
            let _ = write!(s, r#"<path d="M{:.1} {pt:.1}V{pb:.1}"/>"#, xs.map(t));
        }
        s.push_str("</g><g class=\"axis\">");
        let _ = write!(
            s,
            r#"<path class="frame" d="M{pl:.1} {pt:.1}V{pb:.1}H{pr:.1}"/>"#
        );
        for &t in &yt {
            let _ = write!(
                s,
                r#"<text class="yt" x="{:.1}" y="{:.1}" text-anchor="end" dominant-baseline="middle">{}</text>"#,
                pl - 4.0,
                ys.map(t),
                tick_label(t)
            );
        }
        for &t in &xt {
            let _ = write!(
                s,
                r#"<text class="xt" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                xs.map(t),
                pb + 14.0,
                tick_label(t)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="12" y="{:.1}" text-anchor="middle" transform="rotate(-90 12 {:.1})">{}</text></g>"#,
            (pl + pr) / 2.0,
            HEIGHT - 6.0,
            esc(&self.x_label),
            (pt + pb) / 2.0,
            (pt + pb) / 2.0,
            esc(&self.y_label)
        );
    }

    /// Error bars, dots (with `data-name` and a tooltip) and labels placed so they do not
    /// overlap one another.
    fn draw_points(&self, s: &mut String, xs: &Scale, ys: &Scale) {
        let pr = WIDTH - RIGHT;
        let mut placed: Vec<(f64, f64, f64)> = Vec::new(); // (x from, x to, baseline y)
        let drawable = self
            .points
            .iter()
            .filter(|p| p.x.is_finite() && p.y.is_finite() && (!self.x_log || p.x > 0.0));
        for p in drawable {
            let (x, y) = (xs.map(p.x), ys.map(p.y));
            let c = p.color % 10;
            if let Some((lo, hi)) = p.interval {
                let (yl, yh) = (ys.map(lo), ys.map(hi));
                let _ = write!(
                    s,
                    r#"<path class="line bar c{c}" d="M{x:.1} {yl:.1}V{yh:.1}M{:.1} {yl:.1}H{:.1}M{:.1} {yh:.1}H{:.1}"/>"#,
                    x - 4.0,
                    x + 4.0,
                    x - 4.0,
                    x + 4.0
                );
            }
            if p.ring {
                let _ = write!(
                    s,
                    r#"<circle class="ring c{c}" cx="{x:.1}" cy="{y:.1}" r="8"/>"#
                );
            }
            let tip = match p.interval {
                Some((lo, hi)) => format!("{}: {:.3} [{lo:.3}, {hi:.3}] at {}", p.name, p.y, p.x),
                None => format!("{}: {:.3} at {}", p.name, p.y, p.x),
            };
            let _ = write!(
                s,
                r#"<circle class="dot c{c}" cx="{x:.1}" cy="{y:.1}" r="4.5" data-name="{}"><title>{}</title></circle>"#,
                esc(&p.name),
                esc(&tip)
            );
            // About 6 px per character at 11 px; right of the point, or left near the edge.
            let w = p.name.chars().count() as f64 * 6.2;
            let right = x + 10.0 + w <= pr;
            let (lx0, lx1) = if right {
                (x + 10.0, x + 10.0 + w)
            } else {
                (x - 10.0 - w, x - 10.0)
            };
            let mut ly = y + 4.0;
            for _ in 0..12 {
                let clash = placed
                    .iter()
                    .any(|&(a, b, py)| lx0 < b && a < lx1 && (py - ly).abs() < 12.0);
                if !clash {
                    break;
                }
                ly += 12.0;
            }
            placed.push((lx0, lx1, ly));
            let _ = write!(
                s,
                r#"<text class="ptlabel" x="{:.1}" y="{ly:.1}"{}>{}</text>"#,
                if right { lx0 } else { lx1 },
                if right { "" } else { r#" text-anchor="end""# },
                esc(&p.name)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::report::svg::Marker;

    fn chart(points: Vec<Point>, x_log: bool) -> Scatter {
        Scatter {
            id: "q".into(),
            title: "cost <vs> quality".into(),
            desc: "d".into(),
            x_label: "USD".into(),
            y_label: "score".into(),
            x_log,
            y_domain: (0.0, 1.0),
            points,
            markers: vec![Marker {
                vertical: false,
                at: 0.5,
                label: "base".into(),
            }],
            region: Some(Region {
                x_max: 2.0,
                y_min: 0.5,
                label: "cheaper".into(),
            }),
        }
    }

    fn pt(name: &str, x: f64, y: f64) -> Point {
        Point {
            name: name.into(),
            x,
            y,
            interval: Some((y - 0.1, y + 0.1)),
            color: 1,
            ring: name == "b",
        }
    }

    #[test]
    fn points_sit_on_the_linear_axes() {
        let svg = chart(vec![pt("a", 1.0, 0.25), pt("b", 4.0, 0.75)], false).render();
        // x from 0 to a rounded 4.48 → 5; plot from 58 to 618; y from 0 (260) to 1 (12).
        assert!(svg.contains(r#"cx="170.0" cy="198.0""#), "{svg}");
        assert!(svg.contains(r#"cx="506.0" cy="74.0""#), "{svg}");
        assert_eq!(svg.matches("class=\"line bar c1\"").count(), 2);
        assert_eq!(svg.matches("class=\"ring c1\"").count(), 1);
        assert!(svg.contains(">5</text>"), "{svg}");
        assert!(svg.contains("<title>cost &lt;vs&gt; quality</title>"));
        // The region spans x 0..2 and y 0.5..1.
        assert!(
            svg.contains(r#"<rect x="58.0" y="12.0" width="224.0" height="124.0"/>"#),
            "{svg}"
        );
    }

    #[test]
    fn log_axis_spans_1_2_5_steps_and_labels_do_not_overlap() {
        let svg = chart(
            vec![pt("a", 0.3, 0.5), pt("a2", 0.3, 0.5), pt("b", 3.0, 0.9)],
            true,
        )
        .render();
        // 0.3 / 1.25 → 0.2, 3 × 1.25 → 5: one decade apart from 0.3 to 3 is 560 / log(25) · 1.
        assert!(
            svg.contains(">0.2</text>") && svg.contains(">5</text>"),
            "{svg}"
        );
        let ys: Vec<&str> = svg
            .split("class=\"ptlabel\"")
            .skip(1)
            .map(|t| {
                t.split("y=\"")
                    .nth(1)
                    .unwrap_or("")
                    .split('"')
                    .next()
                    .unwrap_or("")
            })
            .collect();
        assert_eq!(ys.len(), 3);
        assert_ne!(ys[0], ys[1], "two labels at the same place: {svg}");
    }

    #[test]
    fn names_are_escaped_and_empty_says_no_data() {
        let svg = chart(vec![pt("<b>", 1.0, 0.5)], false).render();
        assert!(svg.contains("data-name=\"&lt;b&gt;\"") && !svg.contains("<b>"));
        let mut c = chart(vec![], false);
        c.markers.clear();
        assert!(c.render().contains(">no data</text></svg>"));
    }
}
