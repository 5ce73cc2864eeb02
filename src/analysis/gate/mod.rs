//! Gates: judging results against claims and baselines, and comparing runs side by side.
//!
//! Submodules by concern: [`claims`] (the claims file and expression syntax), [`metric`]
//! (which result field a claim reads, and how many samples it needs), [`quality`] (claims on
//! the golden-set scores), [`eval`] (verdicts),
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
pub mod quality;
mod stats;

use crate::core::problem::Problem;
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
    #[error("{}", crate::core::problem::list(.0))]
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
