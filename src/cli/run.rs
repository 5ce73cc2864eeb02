//! `llmload run`: one run of a scenario (or of `--url`/`--model` flags), whole or one shard of
//! a distributed run; its result, records and reports written, its claims judged.
//!
//! The flags are checked before anything is sent (a typo in a claims file costs no run); the
//! run itself is a [`Session`]; this module names the files, shows progress,
//! prints the summary and chooses the exit code.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::watch;

use crate::analysis::gate::{self, claims::Claims, live::LiveGate};
use crate::analysis::report;
use crate::cli::args::{MetricsArgs, RunArgs};
use crate::cli::exit::{user, Exit, UserError};
use crate::cli::progress::{Length, Mode, Progress};
use crate::cli::shared::{create_parent, file_stamp, run_plan, sanitize, worker_threads};
use crate::config::plan::{Base, Plan, Shape};
use crate::config::schedule::ShardPart;
use crate::core::units;
use crate::engine::exporter::Exporter;
use crate::engine::runner::{Judge, Live, Stop};
use crate::engine::session::{self, Finished, Session, Settings};
use crate::metrics::meters::Meters;
use crate::results::{shard, RunResult};

/// When and as which part of the run this process runs: `--grace`, `--shard`, `--start-at`.
struct Timing {
    grace: Duration,
    part: ShardPart,
    start_at: Option<SystemTime>,
}

/// `llmload run` (without `--repeat`).
pub async fn cmd(a: RunArgs) -> Result<Exit> {
    let mut plan = run_plan(&a)?;
    if let Some(seed) = a.seed {
        plan.seed = seed;
    }
    let timing = timing(&a)?;
    let claims = claims(&a, &plan)?;
    let fd_warning = open_files(&plan)?;
    let baseline_warnings = match &a.baseline {
        Some(p) => crate::cli::baseline::apply(&mut plan, p, a.baseline_model.as_deref())?,
        None => Vec::new(),
    };
    for w in &baseline_warnings {
        eprintln!("warning: {w}");
    }
    let metrics = start_metrics(&a.metrics)?;
    let mut session = Session::start(plan.clone(), timing.part.count)?;
    session.calibrate_tokens().await?;
    // One golden pass for the whole run: shard 0 sends it, `merge` carries it. Golden
    // requests mixed into the load are every shard's own (set up by `golden_pass` too).
    let mixed = matches!(
        plan.quality.as_ref().map(|q| &q.run),
        Some(crate::config::plan::QualityRun::Mix(_))
    );
    let pass = mixed || timing.part.index == 0;
    if let (Some(q), false) = (&plan.quality, a.quiet) {
        match q.run {
            crate::config::plan::QualityRun::Mix(x) => eprintln!(
                "quality: {:.1} % of the load's arrivals ask one of {} golden lines",
                x * 100.0,
                q.golden.lines.len()
            ),
            _ if pass => eprintln!(
                "quality: sending {} golden lines to each of {} models before the load",
                q.golden.lines.len(),
                plan.models.len()
            ),
            _ => eprintln!("quality: the golden pass is sent by shard 0 of this run, not this one"),
        }
    }
    if pass {
        session.golden_pass().await;
    }
    let (result_path, records_path) = output_files(&a, &plan, &timing)?;
    if let Some(p) = &records_path {
        session.record_to(p)?;
    }

    // Signals: the first stops arrivals and drains; the second exits at once.
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let stop_tx = Arc::new(stop_tx);
    crate::cli::signals::spawn_handler(stop_tx.clone());
    let live = Arc::new(Live {
        meters: metrics.as_ref().map(|m| m.1.clone()),
        ..Live::default()
    });
    let progress = spawn_progress(&a, &plan, timing.part, live.clone());
    let ready_before_start_s = timing.start_at.map_or(0.0, session::seconds_until);
    if let (Some(at), false) = (timing.start_at, a.quiet) {
        if ready_before_start_s > 0.5 {
            eprintln!(
                "shard {}/{}: waiting {:.1} s for the start at {}",
                timing.part.index,
                timing.part.count,
                ready_before_start_s,
                crate::core::time::rfc3339(at)
            );
        }
    }
    let settings = Settings {
        part: timing.part,
        sharded: a.shard.is_some(),
        start_at: timing.start_at,
        ready_before_start_s,
        grace: timing.grace,
        judge: claims.as_ref().and_then(|c| live_judge(&plan, c)),
        run_id: None,
        worker_threads: worker_threads(a.threads),
        warnings: Some(fd_warning.into_iter().chain(baseline_warnings).collect()),
    };
    let stop_rx_after = stop_rx.clone();
    let done = session.run(live, stop_rx, settings).await;
    progress.finish();

    let result = &done.result;
    result
        .write(&result_path)
        .with_context(|| format!("writing {}", result_path.display()))?;
    out!("{}", report::summary_table(result));
    outln!("result: {}", result_path.display());
    if let Some(p) = &records_path {
        outln!("records: {} ({} lines)", p.display(), done.records_written);
    }
    let gate_failed = judge(&a, claims.as_ref(), result, &result_path)?;
    stop_metrics(metrics, a.metrics.metrics_linger, stop_rx_after).await;
    let code = exit_code(&done, gate_failed);
    if let (Exit::Gate, Some(why)) = (code, &done.aborted) {
        eprintln!("aborted: {why}");
    }
    Ok(code)
}

/// The live metrics endpoint and what it serves.
pub(crate) type Metrics = (Exporter, Arc<Meters>);

/// `--metrics-addr`: starts the endpoint (an address that cannot be used is a usage error,
/// before anything is sent) and prints where it listens.
pub(crate) fn start_metrics(m: &MetricsArgs) -> Result<Option<Metrics>> {
    let Some(addr) = &m.metrics_addr else {
        return Ok(None);
    };
    let meters = Arc::new(Meters::default());
    let exporter = Exporter::start(addr, meters.clone()).map_err(user)?;
    eprintln!("metrics: http://{}/metrics", exporter.local_addr());
    Ok(Some((exporter, meters)))
}

/// Stops the endpoint, after `--metrics-linger` (cut short by a stop signal) so a scraper
/// collects the final values.
pub(crate) async fn stop_metrics(
    m: Option<Metrics>,
    linger: Option<Duration>,
    mut stop: watch::Receiver<Stop>,
) {
    let Some((exporter, _)) = m else { return };
    if let Some(d) = linger {
        stop.borrow_and_update();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stop.changed() => {}
        }
    }
    exporter.stop().await;
}

/// Reads `--grace`, `--shard`, `--start-at` and `--start-tolerance`, refusing combinations a
/// sharded run cannot keep (and a start instant this host's clock is too far from).
fn timing(a: &RunArgs) -> Result<Timing> {
    let grace =
        units::parse_duration(&a.grace).map_err(|e| anyhow!(UserError(format!("--grace: {e}"))))?;
    let part = match &a.shard {
        Some(s) => shard::parse_shard(s).map_err(user)?,
        None => ShardPart::WHOLE,
    };
    let start_at = match &a.start_at {
        Some(t) => Some(shard::parse_instant(t).map_err(user)?),
        None => None,
    };
    let tolerance = units::parse_duration(&a.start_tolerance)
        .map_err(|e| anyhow!(UserError(format!("--start-tolerance: {e}"))))?;
    if part.count > 1 && start_at.is_none() {
        bail!(UserError(
            "--shard with more than one shard needs --start-at: the instant (RFC 3339) at which every shard begins, e.g. --start-at 2026-12-01T10:00:00Z".into()
        ));
    }
    if part.count > 1 && a.claims.is_some() {
        bail!(UserError(
            "--claims is evaluated once, on the whole run: merge the shards (`llmload merge`), then `llmload check RESULT --claims FILE`".into()
        ));
    }
    if let Some(at) = start_at {
        shard::check_start(at, SystemTime::now(), tolerance).map_err(user)?;
    }
    Ok(Timing {
        grace,
        part,
        start_at,
    })
}

/// The `--claims` file, checked against the plan's models before anything is sent, so a typo
/// costs no run.
fn claims(a: &RunArgs, plan: &Plan) -> Result<Option<Claims>> {
    if a.claims.is_none() && (a.reports.junit.is_some() || a.reports.markdown.is_some()) {
        bail!(UserError("--junit and --markdown need --claims".into()));
    }
    let Some(p) = &a.claims else {
        return Ok(None);
    };
    let c = gate::claims::load(p).map_err(user)?;
    let models: Vec<(&str, &str)> = plan
        .models
        .iter()
        .map(|m| (m.id.as_str(), m.label.as_str()))
        .collect();
    let source = plan.scenario_path.display().to_string();
    gate::eval::check_models(&c, &models, &source).map_err(user)?;
    gate::quality::check_plan(&c, plan, &source).map_err(user)?;
    Ok(Some(c))
}

/// Every connection is a descriptor (twice over with an in-process mock): makes room, refuses
/// a closed loop that cannot fit rather than report descriptor errors as endpoint failures,
/// and returns the warning for an open loop that may not fit.
fn open_files(plan: &Plan) -> Result<Option<String>> {
    let mocked = plan.targets.iter().any(|t| matches!(t.base, Base::Mock(_)));
    let conns = plan.load.max_in_flight as u64 * if mocked { 2 } else { 1 };
    let Some(l) = crate::engine::sys::ensure_open_files(conns) else {
        return Ok(None);
    };
    if l.fits() {
        return Ok(None);
    }
    let msg = format!(
        "this run may hold {} connections, but the open-file limit is {} (hard limit {}); raise it (e.g. `ulimit -n {}`) or lower max_in_flight / concurrency",
        conns, l.soft, l.hard, l.needed
    );
    if matches!(plan.load.shape, Shape::Closed { .. }) {
        bail!(UserError(msg));
    }
    Ok(Some(msg))
}

/// The result file (its folder created) and the records file beside it (None with
/// `--no-records`). Without `-o`: `<out>/<scenario>-<stamp>.json`, or for a shard
/// `<out>/<scenario>-<start>-shard<i>of<n>.json`.
fn output_files(a: &RunArgs, plan: &Plan, t: &Timing) -> Result<(PathBuf, Option<PathBuf>)> {
    let stamp = file_stamp();
    let result_path = match &a.output {
        Some(p) => p.clone(),
        None if a.shard.is_some() => a.out.join(format!(
            "{}-{}-shard{}of{}.json",
            sanitize(&plan.name),
            t.start_at
                .map_or(stamp.clone(), |at| crate::core::time::rfc3339(at)
                    .replace(':', "")),
            t.part.index,
            t.part.count
        )),
        None => a.out.join(format!("{}-{stamp}.json", sanitize(&plan.name))),
    };
    create_parent(&result_path)?;
    let records_path = (!a.no_records).then(|| {
        let stem = result_path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        result_path.with_file_name(format!("{stem}.records.jsonl"))
    });
    Ok((result_path, records_path))
}

/// The live view of a run: a bar on a terminal, periodic lines in a log, nothing with `--quiet`.
fn spawn_progress(a: &RunArgs, plan: &Plan, part: ShardPart, live: Arc<Live>) -> Progress {
    let mode = Mode::for_stderr(a.quiet, a.progress_interval);
    let label = if part.count > 1 {
        format!("shard {}/{} ", part.index, part.count)
    } else {
        String::new()
    };
    Progress::start(live, &label, Length::of(&plan.load, part.count), mode)
}

/// The runner's judge for the claims marked `abort = true`, if any.
fn live_judge(plan: &Plan, claims: &Claims) -> Option<Judge> {
    let gate = LiveGate::new(plan, claims)?;
    Some(Box::new(move |c, now_us| gate.lost(c, now_us)))
}

/// Judges the finished run against `--claims` (printing the table and writing the CI reports)
/// and writes the `--report` page; whether a claim failed.
fn judge(
    a: &RunArgs,
    claims: Option<&Claims>,
    result: &RunResult,
    result_path: &std::path::Path,
) -> Result<bool> {
    let mut gate_failed = false;
    let mut run_eval = None;
    if let Some(c) = claims {
        let eval =
            gate::eval::evaluate(c, result, &result_path.display().to_string()).map_err(user)?;
        outln!();
        out!("{}", eval.table(a.strict));
        crate::cli::shared::write_reports(&a.reports, Some(&eval), None, a.strict)?;
        gate_failed = eval.fails(a.strict);
        run_eval = Some(eval);
    }
    if let Some(p) = &a.report {
        let inputs = [report::page::Input {
            path: result_path.display().to_string(),
            result: result.clone(),
            eval: run_eval,
        }];
        let html = report::html::render(&report::page::build(&inputs, None)).map_err(user)?;
        std::fs::write(p, html).map_err(|e| user(format!("writing {}: {e}", p.display())))?;
        outln!("report: {}", p.display());
    }
    Ok(gate_failed)
}

/// The exit code of a finished run, the first that applies: 4 when nothing was measured (no
/// figure to be valid about or to judge), 3 when invalid (the numbers say nothing about the
/// endpoint, whatever the claims), 2 when interrupted, 1 when a claim stopped it or failed,
/// else 0.
fn exit_code(done: &Finished, gate_failed: bool) -> Exit {
    if done.result.measured_nothing() {
        Exit::NothingMeasured
    } else if !done.result.validity.valid {
        Exit::Invalid
    } else if done.interrupted {
        Exit::Usage
    } else if done.aborted.is_some() || gate_failed {
        Exit::Gate
    } else {
        Exit::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finished run whose result is the valid fixture, with `ok` successful requests.
    fn done(ok: u64, valid: bool, interrupted: bool, aborted: bool) -> Finished {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/results/seed-single.json"
        );
        let mut result = RunResult::read(std::path::Path::new(path)).expect("fixture");
        result.overall.requests.ok = ok;
        result.validity.valid = valid;
        Finished {
            result,
            records_written: 0,
            interrupted,
            aborted: aborted.then(|| "claim lost".to_string()),
        }
    }

    #[test]
    fn nothing_measured_wins_over_every_other_code() {
        assert_eq!(
            exit_code(&done(0, false, true, true), true),
            Exit::NothingMeasured
        );
    }

    #[test]
    fn an_invalid_run_wins_over_interrupts_and_claims() {
        assert_eq!(exit_code(&done(5, false, true, true), true), Exit::Invalid);
    }

    #[test]
    fn an_interrupted_run_exits_2_even_with_claims_lost() {
        assert_eq!(exit_code(&done(5, true, true, true), true), Exit::Usage);
    }

    #[test]
    fn a_lost_or_failed_claim_exits_1() {
        assert_eq!(exit_code(&done(5, true, false, true), false), Exit::Gate);
        assert_eq!(exit_code(&done(5, true, false, false), true), Exit::Gate);
        assert_eq!(exit_code(&done(5, true, false, false), false), Exit::Ok);
    }
}
