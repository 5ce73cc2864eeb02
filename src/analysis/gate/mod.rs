//! Gates: judging results against claims and baselines, and comparing runs side by side.
//!
//! Submodules by concern: [`claims`] (the claims file and expression syntax), [`metric`]
//! (which result field a claim reads, and how many samples it needs), [`eval`] (verdicts),
//! [`baseline`] (regressions between two results), [`compare`] (side-by-side tables),
//! [`junit`] and [`markdown`] (CI output). This module reads result files only: it never runs
//! load, never changes a result, and never decides an exit code (the command glue in
//! the command layer (`app`) does, from [`eval::Evaluation::fails`] and [`baseline::Report::regressed`]).

pub mod baseline;
pub mod claims;
pub mod compare;
pub mod eval;
pub mod junit;
pub mod live;
pub mod markdown;
pub mod metric;
mod stats;

use crate::config::scenario::Problem;
use crate::results::ResultError;

/// Why a gate could not be evaluated (all map to exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The claims file is invalid, or names something the result does not have; every problem
    /// is listed, each as `file:line:column: field: message`.
    #[error("{}", fmt_problems(.0))]
    Claims(Vec<Problem>),
    /// A result file could not be read.
    #[error(transparent)]
    Result(#[from] ResultError),
    /// A stored histogram could not be decoded.
    #[error("{file}: {source}")]
    Histogram {
        /// Result file.
        file: String,
        /// What failed.
        source: metric::ReadError,
    },
    /// A flag value is malformed (tolerances, formats).
    #[error("{0}")]
    Usage(String),
}

fn fmt_problems(ps: &[Problem]) -> String {
    ps.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Lays out a plain-text table: the first `left` columns left-aligned (at least one), the
/// others right-aligned, a rule under the header.
pub(crate) fn text_table(header: &[String], rows: &[Vec<String>], left: usize) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = width.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(c.chars().count());
            if i > 0 {
                s.push_str("  ");
            }
            if i < left.max(1) {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    let total = width.iter().sum::<usize>() + 2 * width.len().saturating_sub(1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// Escapes a cell for a Markdown table.
pub(crate) fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Lays out a Markdown table, the first `left` columns left-aligned, the others right-aligned.
pub(crate) fn md_table(header: &[String], rows: &[Vec<String>], left: usize) -> String {
    let mut out = String::new();
    let cells = |r: &[String]| {
        format!(
            "| {} |\n",
            r.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")
        )
    };
    out.push_str(&cells(header));
    out.push_str(&format!(
        "|{}\n",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i < left.max(1) { "---|" } else { "---:|" })
            .collect::<String>()
    ));
    for r in rows {
        out.push_str(&cells(r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let h = vec!["a".to_string(), "bb".to_string()];
        let rows = vec![vec!["xyz".to_string(), "1".to_string()]];
        assert_eq!(text_table(&h, &rows, 1), "a    bb\n-------\nxyz   1\n");
        assert_eq!(
            md_table(&h, &rows, 1),
            "| a | bb |\n|---|---:|\n| xyz | 1 |\n"
        );
    }
}
