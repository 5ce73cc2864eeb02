//! The report's tables as CSV files (one per table in a folder) and as a short Markdown
//! summary for CI job summaries, which embeds the gate's own claims summary
//! ([`crate::analysis::gate::markdown`]).

use std::path::{Path, PathBuf};

use super::page::{Input, Page, Table};
use crate::core::table::{self, Layout};

/// One CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A table as CSV text (CRLF line ends, per RFC 4180).
pub fn csv(t: &Table) -> String {
    let mut out = String::new();
    for row in std::iter::once(&t.header).chain(t.rows.iter()) {
        out.push_str(
            &row.iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

/// Writes every table of the page as `<dir>/<table id>.csv`; returns the files written.
pub fn write_csv(page: &Page, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for t in page.tables() {
        let p = dir.join(format!("{}.csv", t.id));
        std::fs::write(&p, csv(t))?;
        out.push(p);
    }
    Ok(out)
}

/// The short Markdown version: each run's validity, the summary table, the quota table (when a
/// server stated one), the golden-set scores per model and per class (when a run has a quality
/// section), and the claims summary the gate writes for `check --markdown` when claims were
/// checked.
pub fn markdown(page: &Page, inputs: &[Input]) -> String {
    let mut out = format!("## {}\n\n", page.title);
    for r in &page.runs {
        out.push_str(&format!(
            "- **{}**{}: `{}`, {}, {}\n",
            r.label,
            if r.reference { " (reference)" } else { "" },
            r.path,
            r.status,
            if r.valid {
                "valid run".to_string()
            } else {
                format!("**INVALID run**: {}", r.reasons.join("; "))
            }
        ));
    }
    out.push('\n');
    for id in [
        "summary_models",
        "summary_classes",
        "cost",
        "server_gauges",
        "quota",
        "quality_models",
        "quality_classes",
    ] {
        if let Some(t) = page.tables().into_iter().find(|t| t.id == id) {
            if t.rows.is_empty() {
                continue;
            }
            out.push_str(&format!("**{}**\n\n", t.title));
            out.push_str(&table::markdown(&t.header, &t.rows, &Layout::left(1)));
            out.push('\n');
        }
    }
    for i in inputs {
        if let Some(e) = &i.eval {
            let md = crate::analysis::gate::markdown::render(Some(e), None, false);
            // The gate's summary starts with its own heading; keep it one level down.
            out.push_str(&md.replacen("## llmload check", "### Claims", 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_when_needed() {
        let t = Table {
            id: "t".into(),
            title: "T".into(),
            header: vec!["a".into(), "b,c".into()],
            rows: vec![
                vec!["say \"hi\"".into(), "1\n2".into()],
                vec!["x".into(), "2".into()],
            ],
        };
        assert_eq!(
            csv(&t),
            "a,\"b,c\"\r\n\"say \"\"hi\"\"\",\"1\n2\"\r\nx,2\r\n"
        );
    }
}
