//! `llmload check`: a result against claims and baselines (docs/gates.md).

use anyhow::Result;

use crate::analysis::gate::{self, baseline::Tolerances};
use crate::cli::args::CheckArgs;
use crate::cli::exit::{user, Exit};
use crate::cli::shared::{write_reports, Baseline};
use crate::results::RunResult;

/// `llmload check`: prints the claims table and the baseline table, writes the CI reports; the
/// exit code is 4 (nothing measured), 3 (invalid run), 1 (a claim failed or a metric
/// regressed) or 0.
pub fn cmd(a: CheckArgs) -> Result<Exit> {
    let path = a.result.display().to_string();
    let result = RunResult::read(&a.result).map_err(user)?;
    let claims = a
        .claims
        .as_deref()
        .map(gate::claims::load)
        .transpose()
        .map_err(user)?;
    let eval = claims
        .as_ref()
        .map(|c| gate::eval::evaluate(c, &result, &path))
        .transpose()
        .map_err(user)?;
    let base = baseline(&a, &result, &path)?;
    if let Some(e) = &eval {
        out!("{}", e.table(a.strict));
    }
    if let Some((b, _, new)) = &base {
        if eval.is_some() {
            outln!();
        }
        out!("{}", b.table(new));
    }
    write_reports(&a.reports, eval.as_ref(), base.as_ref(), a.strict)?;
    if let Some(why) = result.nothing_measured() {
        eprintln!("{path}: {why}");
        return Ok(Exit::NothingMeasured);
    }
    if !result.validity.valid {
        return Ok(Exit::Invalid);
    }
    let failed = eval.as_ref().is_some_and(|e| e.fails(a.strict))
        || base.as_ref().is_some_and(|(b, ..)| b.regressed());
    Ok(if failed { Exit::Gate } else { Exit::Ok })
}

/// The comparison with `--baseline` results, if any were given.
fn baseline(a: &CheckArgs, result: &RunResult, path: &str) -> Result<Option<Baseline>> {
    if a.baseline.is_empty() {
        return Ok(None);
    }
    let tol = Tolerances::parse(&a.tolerance, &a.tolerance_metric).map_err(user)?;
    let mut olds = Vec::new();
    for b in &a.baseline {
        olds.push((RunResult::read(b).map_err(user)?, b.display().to_string()));
    }
    let refs: Vec<(&RunResult, &str)> = olds.iter().map(|(r, p)| (r, p.as_str())).collect();
    let report = gate::baseline::compare(&refs, result, path, &tol).map_err(user)?;
    let label = report.baseline_label();
    Ok(Some((report, label, path.to_string())))
}
