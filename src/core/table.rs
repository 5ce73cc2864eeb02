//! Text tables: the one layout behind every aligned plain-text table and every Markdown table
//! the crate prints (check verdicts, baselines, compare, the run summary, the sweep, the
//! capacity plan).
//!
//! Cells are text already formatted by their owner; this module only measures them (in
//! characters), pads, aligns and draws the rule under the header. It formats no number and
//! knows no metric.

/// How a column's cells sit in its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text: padded on the right.
    Left,
    /// Numbers: padded on the left.
    Right,
}

/// Which columns are left-aligned, and how the plain-text form is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `None`: the first `left` columns are left-aligned (at least one), the others right.
    each: Option<Vec<Align>>,
    left: usize,
    indent: &'static str,
    split_rule: bool,
    total: bool,
}

impl Layout {
    /// The first `left` columns left-aligned (at least one), the others right-aligned.
    pub fn left(left: usize) -> Layout {
        Layout {
            each: None,
            left,
            indent: "",
            split_rule: false,
            total: false,
        }
    }

    /// One alignment per column; a column past the end of `align` is right-aligned.
    pub fn columns(align: Vec<Align>) -> Layout {
        Layout {
            each: Some(align),
            ..Layout::left(1)
        }
    }

    /// Starts every plain-text line with `indent` (a table set under its title).
    pub fn indent(mut self, indent: &'static str) -> Layout {
        self.indent = indent;
        self
    }

    /// Draws the rule under the header as one run of dashes per column, broken at the column
    /// gaps, instead of one unbroken run across the table.
    pub fn split_rule(mut self) -> Layout {
        self.split_rule = true;
        self
    }

    /// With `yes`, sets the last row apart as a total: a second rule above it.
    pub fn total_row(mut self, yes: bool) -> Layout {
        self.total = yes;
        self
    }

    /// The alignment of column `i`.
    pub fn align(&self, i: usize) -> Align {
        match &self.each {
            Some(a) => a.get(i).copied().unwrap_or(Align::Right),
            None if i < self.left.max(1) => Align::Left,
            None => Align::Right,
        }
    }
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Lays out a plain-text table: the header, a rule of dashes, the rows. Columns are as wide as
/// their widest cell (header included) and two spaces apart; trailing spaces are trimmed from
/// every line. A row may have more cells than the header: the extra ones are printed unpadded.
pub fn text<H: AsRef<str>, C: AsRef<str>>(
    header: &[H],
    rows: &[Vec<C>],
    layout: &Layout,
) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| width(h.as_ref())).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(width(c.as_ref()));
            }
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, c) in cells.enumerate() {
            let pad = w.get(i).copied().unwrap_or(0).saturating_sub(width(c));
            if i > 0 {
                s.push_str("  ");
            }
            match layout.align(i) {
                Align::Left => {
                    s.push_str(c);
                    s.extend(std::iter::repeat_n(' ', pad));
                }
                Align::Right => {
                    s.extend(std::iter::repeat_n(' ', pad));
                    s.push_str(c);
                }
            }
        }
        out.push_str(layout.indent);
        out.push_str(s.trim_end());
        out.push('\n');
    };
    let rule = if layout.split_rule {
        w.iter()
            .map(|&k| "-".repeat(k))
            .collect::<Vec<_>>()
            .join("  ")
    } else {
        "-".repeat(w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1))
    };
    let mut out = String::new();
    line(&mut out, &mut header.iter().map(|h| h.as_ref()));
    out.push_str(layout.indent);
    out.push_str(&rule);
    out.push('\n');
    for (i, r) in rows.iter().enumerate() {
        if layout.total && i + 1 == rows.len() {
            out.push_str(layout.indent);
            out.push_str(&rule);
            out.push('\n');
        }
        line(&mut out, &mut r.iter().map(|c| c.as_ref()));
    }
    out
}

/// Escapes a cell for a Markdown table: `|` as `\|`, a line break as a space.
pub fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Lays out a GitHub-flavoured Markdown table, each column aligned as `layout` says (its
/// indent, rule and total row apply to plain text only).
pub fn markdown<H: AsRef<str>, C: AsRef<str>>(
    header: &[H],
    rows: &[Vec<C>],
    layout: &Layout,
) -> String {
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let cells: Vec<String> = cells.map(md_cell).collect();
        out.push_str("| ");
        out.push_str(&cells.join(" | "));
        out.push_str(" |\n");
    };
    let mut out = String::new();
    line(&mut out, &mut header.iter().map(|h| h.as_ref()));
    out.push('|');
    for i in 0..header.len() {
        out.push_str(match layout.align(i) {
            Align::Left => "---|",
            Align::Right => "---:|",
        });
    }
    out.push('\n');
    for r in rows {
        line(&mut out, &mut r.iter().map(|c| c.as_ref()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Vec<String>> {
        vec![
            vec!["xyz".into(), "1".into(), "ok".into()],
            vec!["é".into(), "22".into(), "a | b".into()],
        ]
    }

    #[test]
    fn first_columns_left_the_rest_right_one_rule() {
        let t = text(&["a", "bb", "c"], &rows(), &Layout::left(1));
        assert_eq!(
            t,
            "a    bb      c\n--------------\nxyz   1     ok\né    22  a | b\n"
        );
        let t = text(&["a", "bb", "c"], &rows(), &Layout::left(2));
        assert_eq!(
            t,
            "a    bb      c\n--------------\nxyz  1      ok\né    22  a | b\n"
        );
        // Zero left columns still keeps the first one left-aligned.
        assert_eq!(
            text(&["a", "bb"], &[vec!["xyz", "1"]], &Layout::left(0)),
            "a    bb\n-------\nxyz   1\n"
        );
    }

    #[test]
    fn each_column_its_own_alignment_indent_split_rule_and_total() {
        let layout = Layout::columns(vec![Align::Left, Align::Right, Align::Left])
            .indent("  ")
            .split_rule()
            .total_row(true);
        let t = text(&["a", "bb", "c"], &rows(), &layout);
        assert_eq!(
            t,
            "  a    bb  c\n  ---  --  -----\n  xyz   1  ok\n  ---  --  -----\n  é    22  a | b\n"
        );
        // Right-aligned first column, unpadded last one (the sweep's table).
        let layout = Layout::columns(vec![Align::Right, Align::Left]);
        assert_eq!(
            text(&["step", "verdict"], &[vec!["10", "ok"]], &layout),
            "step  verdict\n-------------\n  10  ok\n"
        );
    }

    #[test]
    fn extra_cells_are_printed_unpadded() {
        assert_eq!(
            text(&["a"], &[vec!["x", "y"]], &Layout::left(1)),
            "a\n-\nx  y\n"
        );
    }

    #[test]
    fn markdown_escapes_and_aligns() {
        let md = markdown(&["a", "bb", "c"], &rows(), &Layout::left(1));
        assert_eq!(
            md,
            "| a | bb | c |\n|---|---:|---:|\n| xyz | 1 | ok |\n| é | 22 | a \\| b |\n"
        );
        let layout = Layout::columns(vec![Align::Left, Align::Right, Align::Left]);
        assert!(markdown(&["a", "b", "c"], &[vec!["1\n2", "", ""]], &layout)
            .starts_with("| a | b | c |\n|---|---:|---|\n| 1 2 |  |  |\n"));
    }
}
