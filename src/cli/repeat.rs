//! `llmload run --repeat N`: N runs of one scenario with seeds seed, seed + 1, …
//! (docs/gates.md).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::cli::args::RunArgs;
use crate::cli::exit::{Exit, UserError};
use crate::cli::shared::{file_stamp, run_plan, sanitize};

/// `llmload run --repeat N`: each a whole `run` with its own result file: `-o r.json` becomes
/// r-1.json, r-2.json, …; without `-o`, `<out>/<scenario>-<stamp>-<i>.json` (the report, JUnit
/// and Markdown files are numbered the same way). The exit code is the worst of the runs'; an
/// interrupted run stops the series.
pub async fn cmd(a: RunArgs) -> Result<Exit> {
    let n = a.repeat.unwrap_or(1);
    if n == 0 {
        bail!(UserError("--repeat: give at least 1 run".into()));
    }
    if a.shard.is_some() {
        bail!(UserError(
            "--repeat cannot be combined with --shard: repeat the whole distributed run instead"
                .into()
        ));
    }
    let plan = run_plan(&a)?;
    let seed = a.seed.unwrap_or(plan.seed);
    let stamp = file_stamp();
    let mut worst = Exit::Ok;
    for i in 1..=n {
        let mut r = a.clone();
        r.repeat = None;
        r.seed = Some(seed.wrapping_add(u64::from(i - 1)));
        r.output = Some(match &a.output {
            Some(p) => numbered(p, i),
            None => a
                .out
                .join(format!("{}-{stamp}-{i}.json", sanitize(&plan.name))),
        });
        r.report = a.report.as_deref().map(|p| numbered(p, i));
        r.reports.junit = a.reports.junit.as_deref().map(|p| numbered(p, i));
        r.reports.markdown = a.reports.markdown.as_deref().map(|p| numbered(p, i));
        outln!(
            "run {i} of {n} (seed {})",
            seed.wrapping_add(u64::from(i - 1))
        );
        let code = Box::pin(crate::cli::run::cmd(r)).await?;
        outln!();
        let stop = matches!(code, Exit::Usage);
        if code as i32 > worst as i32 {
            worst = code;
        }
        if stop {
            break;
        }
    }
    Ok(worst)
}

/// `p` with `-i` before its extension: r.json → r-2.json, r → r-2.
fn numbered(p: &Path, i: u32) -> PathBuf {
    let stem = p.file_stem().map(|s| s.to_string_lossy().to_string());
    let name = match (stem, p.extension()) {
        (Some(s), Some(e)) => format!("{s}-{i}.{}", e.to_string_lossy()),
        (Some(s), None) => format!("{s}-{i}"),
        _ => format!("{i}"),
    };
    p.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_numbered_before_their_extension() {
        assert_eq!(
            numbered(Path::new("out/r.json"), 2),
            Path::new("out/r-2.json")
        );
        assert_eq!(numbered(Path::new("report"), 3), Path::new("report-3"));
        assert_eq!(numbered(Path::new("a.b.html"), 1), Path::new("a.b-1.html"));
    }
}
