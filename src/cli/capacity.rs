//! `llmload plan`: capacity and cost for a daily volume, from a result (docs/capacity.md).

use anyhow::{bail, Result};

use crate::analysis::capacity::{self, CapacityInput, Format};
use crate::cli::args::PlanArgs;
use crate::cli::exit::{user, Exit, UserError};
use crate::cli::shared::write_text;
use crate::config::prices::Catalog;
use crate::results::RunResult;

/// `llmload plan`: reads the volume flags and the result, prints (or writes) the capacity plan.
pub fn cmd(a: PlanArgs) -> Result<Exit> {
    let format = Format::parse(&a.format).map_err(user)?;
    let daily_input_tokens =
        capacity::parse_volume("--daily-input-tokens", &a.daily_input_tokens).map_err(user)?;
    let daily_output_tokens = a
        .daily_output_tokens
        .as_deref()
        .map(|t| capacity::parse_volume("--daily-output-tokens", t))
        .transpose()
        .map_err(user)?;
    let headroom_target = a.headroom.as_deref().map(headroom).transpose()?;
    let catalog = Catalog::builtin_with(a.prices.as_deref()).map_err(user)?;
    let baseline = a
        .baseline_prices
        .as_deref()
        .map(|b| capacity::parse_baseline(b, &catalog))
        .transpose()
        .map_err(user)?;
    let result = RunResult::read(&a.result).map_err(user)?;
    let input = CapacityInput {
        daily_input_tokens,
        daily_output_tokens,
        peak_to_average: a.peak_to_average,
        baseline,
        headroom_target,
    };
    let mut report = capacity::capacity_plan(&result, &input, &catalog)
        .map_err(|e| user(format!("{}: {e}", a.result.display())))?;
    report.source.path = a.result.display().to_string();
    if let Some(p) = &a.json {
        write_text(p, report.render(Format::Json))?;
    }
    match &a.output {
        Some(p) => write_text(p, report.render(format))?,
        None => out!("{}", report.render(format)),
    }
    Ok(Exit::Ok)
}

/// `--headroom`: a percentage ("30%", "30") as a fraction.
fn headroom(t: &str) -> Result<f64> {
    let n = t.trim().trim_end_matches('%').trim();
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v / 100.0),
        _ => bail!(UserError(format!(
            "--headroom: `{t}` is not a percentage; write e.g. \"30%\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_reads_a_percentage() {
        assert_eq!(headroom("30%").expect("valid"), 0.3);
        assert_eq!(headroom(" 25 % ").expect("valid"), 0.25);
        assert_eq!(headroom("0").expect("valid"), 0.0);
        for bad in ["-5%", "lots", "inf%"] {
            let e = headroom(bad).expect_err(bad);
            assert_eq!(
                e.to_string(),
                format!("--headroom: `{bad}` is not a percentage; write e.g. \"30%\"")
            );
        }
    }
}
