//! `llmload calibrate`: the flags and the printed report around
//! [`engine::calibrate`](crate::engine::calibrate) (docs/performance.md).

use anyhow::{anyhow, bail, Result};

use crate::analysis::calibrate::report;
use crate::cli::args::CalibrateArgs;
use crate::cli::exit::{Exit, UserError};
use crate::cli::shared::worker_threads;
use crate::core::units;
use crate::engine::calibrate::{self, Settings};

/// `llmload calibrate`: runs the calibration, progress lines on stderr, the report on stdout.
pub async fn cmd(a: CalibrateArgs) -> Result<Exit> {
    let step =
        units::parse_duration(&a.step).map_err(|e| anyhow!(UserError(format!("--step: {e}"))))?;
    if !(a.start_rate > 0.0 && a.max_rate >= a.start_rate) {
        bail!(UserError(
            "--start-rate must be > 0 and no more than --max-rate".into()
        ));
    }
    let s = Settings {
        step,
        start_rate: a.start_rate,
        max_rate: a.max_rate,
        threads: worker_threads(a.threads),
    };
    let c = calibrate::run(&s, &mut |line| eprintln!("{line}")).await?;
    out!("{}", report(s.threads, &c.c1, &c.c32, &c.steps));
    Ok(Exit::Ok)
}
