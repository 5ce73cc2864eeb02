//! The dispatcher: one function per subcommand, and the exit code of each outcome. Exit codes
//! are a public interface (docs/gates.md#exit-codes).

use anyhow::{anyhow, Result};

use crate::cli::args::{Cli, Command};
use crate::cli::{
    calibrate, capacity, check, compare, init, manual, merge, mock, repeat, report, run, sweep,
    validate,
};
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

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Run(a) if a.repeat.is_some() => repeat::cmd(a).await,
        Command::Run(a) => run::cmd(a).await,
        Command::Init(a) => init::cmd(&a),
        Command::Validate { scenario, set } => validate::cmd(&scenario, &set),
        Command::Mock(a) => mock::cmd(a).await,
        Command::Calibrate(a) => calibrate::cmd(a).await,
        Command::Check(a) => check::cmd(a),
        Command::Compare(a) => compare::cmd(a),
        Command::Sweep(a) => sweep::cmd(a).await,
        Command::Plan(a) => capacity::cmd(a),
        Command::Report(a) => report::cmd(a),
        Command::Merge(a) => merge::cmd(a),
        Command::Completions { shell } => manual::completions(shell),
        Command::Man { output } => manual::man(&output),
    }
}

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
