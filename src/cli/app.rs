//! The dispatcher: one function per subcommand. Exit codes and error printing are
//! [`crate::cli::exit`].

use anyhow::Result;

use crate::cli::args::{Cli, Command};
use crate::cli::exit::Exit;
use crate::cli::{
    calibrate, capacity, check, compare, init, manual, merge, mock, repeat, report, run, sweep,
    validate,
};

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
