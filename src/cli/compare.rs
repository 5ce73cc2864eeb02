//! `llmload compare`: results side by side (docs/gates.md#compare). No judgement, exit 0.

use anyhow::Result;

use crate::analysis::gate;
use crate::cli::args::CompareArgs;
use crate::cli::exit::{user, Exit};
use crate::cli::shared::daily_volume;
use crate::results::RunResult;

/// `llmload compare`: prints the side-by-side table in the chosen format.
pub fn cmd(a: CompareArgs) -> Result<Exit> {
    let format = gate::compare::Format::parse(&a.format).map_err(user)?;
    let mut results = Vec::new();
    for p in &a.results {
        results.push((p.display().to_string(), RunResult::read(p).map_err(user)?));
    }
    let runs: Vec<(&str, &RunResult)> = results.iter().map(|(p, r)| (p.as_str(), r)).collect();
    let daily = daily_volume(&a.volume, &runs)?;
    out!(
        "{}",
        gate::compare::build_at(&results, daily.as_ref())
            .render(format)
            .map_err(user)?
    );
    Ok(Exit::Ok)
}
