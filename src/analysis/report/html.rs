//! The self-contained HTML report: one file, styles and SVG charts inline, no script, and a
//! Content-Security-Policy that forbids every external load (so a slip shows as a console
//! error instead of a silent network request).

use super::page::Page;

/// The page template (minijinja), embedded in the binary.
const TEMPLATE: &str = include_str!("../../../templates/report.html");

/// Renders the page as HTML.
pub fn render(page: &Page) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    // Escape everything except what is marked `safe` (the SVG, which the svg module escapes).
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("report.html", TEMPLATE)?;
    let t = env.get_template("report.html")?;
    t.render(minijinja::context! { page => minijinja::value::Serde(page) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_and_keeps_svg() {
        let page = Page {
            title: "<b>x</b>".into(),
            runs: Vec::new(),
            sections: vec![super::super::page::Section {
                id: "s".into(),
                title: "S".into(),
                intro: String::new(),
                folded: Vec::new(),
                cards: Vec::new(),
                charts: vec![super::super::page::Chart {
                    svg: "<svg id=\"q\"></svg>".into(),
                    title: "a & b".into(),
                    legend: vec![("c0".into(), "m<1>".into())],
                    table: None,
                    note: String::new(),
                }],
                tables: Vec::new(),
            }],
            definitions: Vec::new(),
            tool_version: "0".into(),
        };
        let h = render(&page).expect("renders");
        assert!(h.starts_with("<!DOCTYPE html>"), "{}", &h[..40]);
        assert!(
            h.contains("<title>&lt;b&gt;x&lt;&#x2f;b&gt;</title>")
                || h.contains("<title>&lt;b&gt;x&lt;/b&gt;</title>"),
            "{h}"
        );
        assert!(h.contains("<svg id=\"q\"></svg>"));
        assert!(h.contains("a &amp; b"));
        assert!(h.contains("m&lt;1&gt;"));
        assert!(h.contains("Content-Security-Policy"));
        assert!(!h.contains("<script"));
    }
}
