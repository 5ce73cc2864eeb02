//! A Markdown summary of a check, fit for a CI job summary (`$GITHUB_STEP_SUMMARY`) or a
//! pull-request comment. Presentation only.

use super::baseline::{self, Change};
use super::eval::{self, Evaluation};
use crate::core::table::{self, Layout};

/// Renders the summary of a claims evaluation and/or a baseline report.
pub fn render(
    eval: Option<&Evaluation>,
    base: Option<&(baseline::Report, String, String)>,
    strict: bool,
) -> String {
    let mut out = String::from("## llmload check\n\n");
    if let Some(e) = eval {
        out.push_str(&format!(
            "**Claims** against `{}`: {}\n\n",
            e.result_path,
            e.summary_line(strict)
        ));
        use eval::Column::*;
        let (header, rows) = eval::cells(
            &e.rows,
            &[
                ClaimAndExpression,
                Model,
                Measured,
                Limit,
                Margin,
                VerdictIcon,
            ],
        );
        out.push_str(&table::markdown(&header, &rows, &Layout::left(2)));
        out.push_str("\n<details><summary>Which figure each claim reads</summary>\n\n");
        for (name, reading) in e.readings() {
            out.push_str(&format!("- `{name}` = {reading}\n"));
        }
        out.push_str("\n</details>\n\n");
        for n in &e.notes {
            out.push_str(&format!("> **Note:** {n}\n\n"));
        }
    }
    if let Some((b, old, new)) = base {
        let regressions = b
            .rows
            .iter()
            .filter(|r| r.verdict == Change::Regression)
            .count();
        out.push_str(&format!(
            "**Baseline** `{old}` → `{new}`: {} regression(s), {} improvement(s) of {} figures compared\n\n",
            regressions + b.failures.len(),
            b.rows.iter().filter(|r| r.verdict == Change::Improvement).count(),
            b.rows.len()
        ));
        for f in &b.failures {
            out.push_str(&format!("❌ **regression**: {f}\n\n"));
        }
        for w in &b.warnings {
            out.push_str(&format!("> **Warning:** {w}\n\n"));
        }
        let shown: Vec<Vec<String>> = b
            .rows
            .iter()
            .filter(|r| r.verdict != Change::Within)
            .map(|r| {
                vec![
                    r.label.clone(),
                    r.key(),
                    r.old_text(),
                    r.new_text(),
                    format!("{} (tol {})", r.change_text(), r.tolerance_text()),
                    match r.verdict {
                        Change::Regression => "❌ **regression**".into(),
                        Change::Improvement => "✅ improvement".into(),
                        _ => "❔ not significant".into(),
                    },
                    r.evidence.clone(),
                ]
            })
            .collect();
        if !shown.is_empty() {
            let header: Vec<String> = [
                "model", "metric", "old", "new", "change", "verdict", "evidence",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            out.push_str(&table::markdown(&header, &shown, &Layout::left(2)));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::gate::{claims, eval};
    use std::path::Path;

    #[test]
    fn summary_has_a_row_per_claim_and_escapes_pipes() {
        let r = eval::tests::fixture(&[100.0; 30]);
        let text = "[[claims]]\nexpr = \"ttft.mean <= 1s\"\nname = \"a | b\"\n[[claims]]\nexpr = \"ttft.mean <= 1ms\"\n";
        let c = claims::parse(Path::new("c.toml"), text).expect("claims");
        let e = eval::evaluate(&c, &r, "r.json").expect("evaluates");
        let md = render(Some(&e), None, false);
        assert!(md.contains("a \\| b (`ttft.mean <= 1s`)"), "{md}");
        assert!(md.contains("❌ **fail**"), "{md}");
        assert!(md.contains("1 pass, 1 fail"), "{md}");
        // The interval stands beside the value (30 equal samples: a zero-width t interval).
        assert!(md.contains("100.0 ms [100.0 ms, 100.0 ms] (n=30)"), "{md}");
        assert_eq!(md.matches("\n| ").count(), 3, "{md}");
    }
}
