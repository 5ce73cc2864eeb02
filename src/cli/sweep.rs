//! `llmload sweep`: the flags and files around [`engine::sweep::run`](crate::engine::sweep::run)
//! (docs/capacity.md#sweep); each step is a [`Session`] shown under its own label.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::watch;

use crate::cli::args::SweepArgs;
use crate::cli::exit::{Exit, UserError};
use crate::cli::progress::{Length, Mode, Progress};
use crate::cli::shared::{load_plan, output_paths, worker_threads};
use crate::config::plan::{Base, Plan};
use crate::config::sweep::SweepSettings;
use crate::core::units;
use crate::engine::runner::{Live, Stop};
use crate::engine::session::{Session, Settings};
use crate::results::{RunResult, RunStatus};

/// `llmload sweep`: runs the sweep, writes its result (the top-level metrics are the
/// sustainable rate's step) and prints its table. Exit 2 when interrupted, 4 when no step
/// measured anything, else 0.
pub async fn cmd(a: SweepArgs) -> Result<Exit> {
    let mut plan = load_plan(&a.scenario, &a.set)?;
    if let Some(seed) = a.seed {
        plan.seed = seed;
    }
    let s = settings(&a, &plan)?;
    let threads = worker_threads(a.threads);
    probe_fits(&plan, &s)?;
    let metrics = crate::cli::run::start_metrics(&a.metrics)?;
    let meters = metrics.as_ref().map(|m| m.1.clone());
    let (result_path, records_stem) = output_paths(&plan, &a.out, a.output.as_ref(), a.no_records)?;
    let (stop_tx, stop_rx) = watch::channel(Stop::Running);
    let stop_tx = Arc::new(stop_tx);
    crate::cli::signals::spawn_handler(stop_tx.clone());
    let run_id = format!("{:016x}", rand::random::<u64>());
    let records_for = |k: usize| {
        records_stem
            .as_ref()
            .map(|stem| result_path.with_file_name(format!("{stem}.step{k:02}.records.jsonl")))
    };
    // A `tokenizer = "server"` calibration is made by the first step and reused by the others:
    // the steps share models and prompts, only their load differs.
    let calibration: Calibration = Arc::default();
    let run = |p: Plan, k: usize| {
        let calibration = calibration.clone();
        let rec = records_for(k);
        let rx = stop_rx.clone();
        let id = format!("{run_id}-step{k:02}");
        let view = (!a.quiet).then(|| format!("step {k} "));
        let meters = meters.clone();
        async move {
            let step = Step {
                records: rec.as_deref(),
                threads,
                run_id: &id,
                view,
                meters,
                calibration,
            };
            run_step(p, step, rx).await
        }
    };
    let quiet = a.quiet;
    let mut progress = |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let slo_set = plan.slo.is_set() || plan.models.iter().any(|m| m.slo.is_set());
    let done = crate::engine::sweep::run(&plan, &s, slo_set, run, &mut progress).await?;
    // The top-level metrics are the sustainable rate's step (else the baseline's), so `check`
    // and `plan` read the sustainable operating point.
    let Some(top_step) = done.sweep.steps.get(done.top) else {
        bail!("the sweep was stopped before its first step finished");
    };
    let mut result = (*top_step.result).clone();
    result.run_id = run_id;
    if done.interrupted {
        result.status = RunStatus::Interrupted;
    }
    let table = crate::analysis::knee::table(&done.sweep);
    result.sweep = Some(done.sweep);
    result
        .write(&result_path)
        .with_context(|| format!("writing {}", result_path.display()))?;
    out!("{table}");
    outln!("result: {}", result_path.display());
    let measured_nothing = result.sweep.as_ref().is_some_and(|sw| {
        sw.steps
            .iter()
            .all(|st| st.result.nothing_measured().is_some())
    });
    crate::cli::run::stop_metrics(metrics, a.metrics.metrics_linger, stop_rx).await;
    Ok(if done.interrupted {
        Exit::Usage
    } else if measured_nothing {
        eprintln!("sweep: NOTHING MEASURED — no step had a successful measured request");
        Exit::NothingMeasured
    } else {
        Exit::Ok
    })
}

/// The scenario's `[sweep]` settings with the flags applied over them.
fn settings(a: &SweepArgs, plan: &Plan) -> Result<SweepSettings> {
    let mut s = plan.sweep.clone();
    if let Some(n) = a.steps {
        if !(1..=100).contains(&n) {
            bail!(UserError("--steps must be between 1 and 100".into()));
        }
        s.steps = n;
    }
    let dur = |flag: &str, v: &str| {
        units::parse_duration(v).map_err(|e| anyhow!(UserError(format!("{flag}: {e}"))))
    };
    if let Some(d) = &a.step_duration {
        s.step_duration = dur("--step-duration", d)?;
    }
    if let Some(d) = &a.step_warmup {
        s.step_warmup = dur("--step-warmup", d)?;
    }
    if let Some(d) = &a.max_step_duration {
        s.max_step_duration = dur("--max-step-duration", d)?;
        if s.max_step_duration.is_zero() {
            bail!(UserError(
                "--max-step-duration must be greater than 0".into()
            ));
        }
    }
    if let Some(c) = a.probe_concurrency {
        if c == 0 {
            bail!(UserError("--probe-concurrency must be at least 1".into()));
        }
        s.probe_concurrency = c;
    }
    Ok(s)
}

/// Refuses a saturation probe whose connections (twice over with an in-process mock) do not
/// fit the open-file limit.
fn probe_fits(plan: &Plan, s: &SweepSettings) -> Result<()> {
    let mocked = plan.targets.iter().any(|t| matches!(t.base, Base::Mock(_)));
    if let Some(l) = crate::engine::sys::ensure_open_files(
        s.probe_concurrency as u64 * if mocked { 2 } else { 1 },
    ) {
        if !l.fits() {
            bail!(UserError(format!(
                "the saturation probe holds {} connections, but the open-file limit is {}; raise it or lower --probe-concurrency",
                s.probe_concurrency, l.soft
            )));
        }
    }
    Ok(())
}

/// The first step's server calibration of prompt sizes, for the steps after it.
type Calibration = Arc<tokio::sync::Mutex<Option<Vec<crate::engine::token_probe::Fitted>>>>;

/// What one sweep step runs with besides its plan.
struct Step<'a> {
    records: Option<&'a Path>,
    threads: usize,
    run_id: &'a str,
    /// With a label, the step shows the run's progress view (bar on a terminal, a line every
    /// 5 s in a log).
    view: Option<String>,
    meters: Option<Arc<crate::metrics::meters::Meters>>,
    calibration: Calibration,
}

/// Runs one sweep step; `stop` ends it early like a signal would, and the result then says
/// `interrupted`.
async fn run_step(plan: Plan, step: Step<'_>, stop_rx: watch::Receiver<Stop>) -> Result<RunResult> {
    let Step {
        records,
        threads,
        run_id,
        view,
        meters,
        calibration,
    } = step;
    let len = Length::of(&plan.load, 1);
    let mut session = Session::start(plan, 1)?;
    {
        let mut made = calibration.lock().await;
        match made.as_ref() {
            Some(fitted) => session.reuse_calibration(fitted),
            None => {
                session.calibrate_tokens().await?;
                *made = Some(session.calibrated().to_vec());
            }
        }
    }
    if let Some(p) = records {
        session.record_to(p)?;
    }
    let live = Arc::new(Live {
        meters,
        ..Live::default()
    });
    let shown =
        view.map(|label| Progress::start(live.clone(), &label, len, Mode::for_stderr(false, None)));
    let done = session
        .run(live, stop_rx, Settings::step(run_id, threads))
        .await;
    if let Some(v) = shown {
        v.finish();
    }
    Ok(done.result)
}
