//! Exit codes (a public interface: docs/gates.md#exit-codes) and how a command's error is
//! printed.

use anyhow::anyhow;

use crate::engine::session::SetupError;

/// Process exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// A gate failed (claim, SLO, regression).
    Gate = 1,
    /// Usage, scenario or runtime error.
    Usage = 2,
    /// The run was invalid: the generator could not hold the load.
    Invalid = 3,
    /// No measured request succeeded: the result describes nothing (wins over 1 and 3).
    NothingMeasured = 4,
}

/// An error that maps to exit code 2, printed as is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Prints a command's error on stderr and returns its exit code (2: usage, scenario or runtime
/// error). A message meant for the user as it stands is printed alone; any other error with
/// its causes.
pub fn fail(e: &anyhow::Error) -> Exit {
    if e.downcast_ref::<UserError>().is_some() || e.downcast_ref::<SetupError>().is_some() {
        eprintln!("error: {e}");
    } else {
        eprintln!("error: {e:#}");
    }
    Exit::Usage
}

/// Any displayable error as an exit-2 message.
pub fn user(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(UserError(e.to_string()))
}
