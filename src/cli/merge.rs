//! `llmload merge`: the shards' partial results into the whole run's (docs/scale-out.md).

use anyhow::{Context, Result};

use crate::analysis::report;
use crate::cli::args::MergeArgs;
use crate::cli::exit::{user, Exit};
use crate::cli::shared::create_parent;

/// `llmload merge`: merges, writes the whole run's result, prints its summary; the exit code
/// is the merged run's (4 nothing measured, 3 invalid, else 0).
pub fn cmd(a: MergeArgs) -> Result<Exit> {
    let result = crate::results::shard::merge(&a.shards).map_err(user)?;
    create_parent(&a.output)?;
    result
        .write(&a.output)
        .with_context(|| format!("writing {}", a.output.display()))?;
    if !a.no_summary {
        out!("{}", report::summary_table(&result));
    }
    outln!(
        "merged {} shards of run {}: {}",
        result.merged_from.len(),
        result.run_id,
        a.output.display()
    );
    Ok(if result.measured_nothing() {
        Exit::NothingMeasured
    } else if result.validity.valid {
        Exit::Ok
    } else {
        Exit::Invalid
    })
}
