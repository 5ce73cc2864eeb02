//! Helpers more than one subcommand uses: loading a plan, file names and stamps, writing the
//! CI reports, the daily volume costs are projected at, the worker-thread count.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};

use crate::analysis::daily::{DailyVolume, VolumeFlags};
use crate::analysis::gate::{self, eval::Evaluation};
use crate::cli::args::{ReportArgs, RunArgs, VolumeArgs};
use crate::cli::exit::{user, UserError};
use crate::config::plan::Plan;
use crate::results::RunResult;

/// A baseline report with the two paths it compares.
pub type Baseline = (gate::baseline::Report, String, String);

/// The plan of a scenario file with `--set` overrides applied.
pub fn load_plan(path: &Path, sets: &[String]) -> Result<Plan> {
    crate::config::overrides::load_plan(path, sets).map_err(|e| anyhow!(UserError(e.to_string())))
}

/// The plan of `llmload run`: from the scenario file, or from `--url`/`--model` flags.
pub fn run_plan(a: &RunArgs) -> Result<Plan> {
    match &a.scenario {
        Some(path) => load_plan(path, &a.set),
        None => crate::cli::flagrun::plan(&a.flags, &a.set)
            .map_err(|e| anyhow!(UserError(e.to_string()))),
    }
}

/// `--threads`, else the machine's available parallelism.
pub fn worker_threads(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// A scenario name made safe for a file name: anything but ASCII letters, digits, `-` and `_`
/// becomes `-`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The current UTC time as it goes into default result file names: `20261205T131500Z`.
pub fn file_stamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Creates the folder a file goes in, if it has one.
pub fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

/// Writes a text file; a failure is an exit-2 message naming the path.
pub fn write_text(path: &Path, text: String) -> Result<()> {
    std::fs::write(path, text).map_err(|e| user(format!("writing {}: {e}", path.display())))
}

/// Where a run's result goes, and the stem of its records files (None with --no-records).
pub fn output_paths(
    plan: &Plan,
    out: &Path,
    output: Option<&PathBuf>,
    no_records: bool,
) -> Result<(PathBuf, Option<String>)> {
    let stamp = file_stamp();
    let result_path = match output {
        Some(p) => p.clone(),
        None => out.join(format!("{}-{stamp}.json", sanitize(&plan.name))),
    };
    create_parent(&result_path)?;
    let stem = result_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok((result_path, (!no_records).then_some(stem)))
}

/// Writes the `--junit` and `--markdown` reports of a gate.
pub fn write_reports(
    r: &ReportArgs,
    eval: Option<&Evaluation>,
    base: Option<&Baseline>,
    strict: bool,
) -> Result<()> {
    if let Some(p) = &r.junit {
        write_text(p, gate::junit::render(eval, base.map(|b| &b.0), strict))?;
    }
    if let Some(p) = &r.markdown {
        write_text(p, gate::markdown::render(eval, base, strict))?;
    }
    Ok(())
}

/// The one daily volume `compare` and `report` project every result's cost at.
pub fn daily_volume(v: &VolumeArgs, runs: &[(&str, &RunResult)]) -> Result<Option<DailyVolume>> {
    let flags = VolumeFlags::parse(
        v.daily_requests.as_deref(),
        v.daily_input_tokens.as_deref(),
        v.daily_output_tokens.as_deref(),
    )
    .map_err(user)?;
    DailyVolume::choose(flags, runs).map_err(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(sanitize("chat bench/v2.1"), "chat-bench-v2-1");
        assert_eq!(sanitize("ok_name-1"), "ok_name-1");
    }

    #[test]
    fn the_file_stamp_is_compact_utc() {
        let s = file_stamp();
        assert_eq!(s.len(), 16, "{s}");
        assert_eq!(&s[8..9], "T");
        assert!(s.ends_with('Z'));
        assert!(s[..8].chars().all(|c| c.is_ascii_digit()));
    }
}
