//! The calibration procedure behind `llmload calibrate`: runs the built-in mock, with its
//! per-request truth log, at concurrency 1 and 32 to measure the TTFT llmload adds, then climbs
//! the open-loop rate ladder until a step is no longer valid.
//!
//! The scenarios, the join of records with the truth log and the report text live in
//! [`crate::analysis::calibrate`]; this module runs them (each step through a
//! [`Session`]) and never prints: progress lines go to the
//! caller.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tokio::sync::watch;

use crate::analysis::calibrate::{self, Overhead, Step};
use crate::config::plan::{Base, Plan};
use crate::config::scenario::Source;
use crate::engine::runner::{Live, Stop};
use crate::engine::session::{self, Session};
use crate::results::RunResult;

/// What to calibrate.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How long each step measures (after a 1 s warm-up).
    pub step: Duration,
    /// The first open-loop rate tried (req/s).
    pub start_rate: f64,
    /// The highest rate tried (req/s); the ladder doubles up to it.
    pub max_rate: f64,
    /// Runtime worker threads the generator has.
    pub threads: usize,
}

/// The calibration's figures, for [`calibrate::report`].
#[derive(Debug, Clone)]
pub struct Calibration {
    /// TTFT overhead at concurrency 1.
    pub c1: Overhead,
    /// TTFT overhead at concurrency 32.
    pub c32: Overhead,
    /// The open-loop steps run, the last one the first invalid (if any was).
    pub steps: Vec<Step>,
}

/// The calibration scenario with `load` as its `[load]` body; with `truth`, the mock writes its
/// per-request truth log there.
pub fn plan(load: &str, truth: Option<PathBuf>) -> Result<Plan> {
    let src = Source {
        path: PathBuf::from("calibrate.toml"),
        text: calibrate::scenario(load),
    };
    let f = src
        .parse()
        .map_err(|e| anyhow!("calibration scenario: {e}"))?;
    let mut plan = Plan::build(&src, f).map_err(|e| anyhow!("calibration scenario: {e}"))?;
    if let Some(Base::Mock(cfg)) = plan.targets.first_mut().map(|t| &mut t.base) {
        cfg.truth_log = truth;
    }
    Ok(plan)
}

/// The `[load]` of an overhead step: a closed loop of `concurrency` for `secs` seconds.
fn closed_load(concurrency: u32, secs: f64) -> String {
    format!("concurrency = {concurrency}\nwarmup = \"1s\"\nduration = \"{secs}s\"")
}

/// The `[load]` of a ladder step: Poisson arrivals at `rate` per second for `secs` seconds.
fn open_load(rate: f64, secs: f64) -> String {
    format!(
        "rate = \"{rate}/s\"\narrival = \"poisson\"\nmax_in_flight = 8192\nwarmup = \"1s\"\nduration = \"{secs}s\""
    )
}

/// Runs the calibration, its working files in a temporary folder (removed when it succeeds);
/// `progress` gets a line before each phase.
pub async fn run(s: &Settings, progress: &mut dyn FnMut(String)) -> Result<Calibration> {
    let dir = std::env::temp_dir().join(format!("llmload-calibrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let secs = s.step.as_secs_f64();
    progress(format!(
        "measuring TTFT overhead (about {:.0} s)…",
        2.0 * (secs + 1.0)
    ));
    let mut overhead = Vec::new();
    for c in [1u32, 32] {
        let truth = dir.join(format!("c{c}.truth.jsonl"));
        let records = dir.join(format!("c{c}.records.jsonl"));
        let plan = plan(&closed_load(c, secs), Some(truth.clone()))?;
        run_step(plan, &records, s.threads).await?;
        overhead.push(
            calibrate::ttft_overhead(&records, &truth).context("reading the calibration logs")?,
        );
    }
    let steps = ladder(s, |rate| {
        progress(format!("open loop at {rate:.0} req/s…"));
        let records = dir.join(format!("rate{rate:.0}.records.jsonl"));
        async move {
            let plan = plan(&open_load(rate, secs), None)?;
            run_step(plan, &records, s.threads).await
        }
    })
    .await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Calibration {
        c1: overhead[0],
        c32: overhead[1],
        steps,
    })
}

/// Climbs the rate ladder from `start_rate` to `max_rate`, running each rate with `run_at`,
/// and stops after the first step that is not valid (a higher rate would not be either).
async fn ladder<R, F>(s: &Settings, mut run_at: R) -> Result<Vec<Step>>
where
    R: FnMut(f64) -> F,
    F: std::future::Future<Output = Result<RunResult>>,
{
    let mut steps = Vec::new();
    for rate in calibrate::ladder(s.start_rate, s.max_rate) {
        let r = run_at(rate).await?;
        let st = Step::from_result(rate, &r);
        let stop = !st.valid;
        steps.push(st);
        if stop {
            break;
        }
    }
    Ok(steps)
}

/// Runs one calibration scenario with no progress view and no stop, its records in `records`.
async fn run_step(plan: Plan, records: &Path, threads: usize) -> Result<RunResult> {
    let (_stop_tx, stop_rx) = watch::channel(Stop::Running);
    let mut session = Session::start(plan, 1)?;
    session.record_to(records)?;
    let live = Arc::new(Live::default());
    let done = session
        .run(live, stop_rx, session::Settings::step("calibrate", threads))
        .await;
    Ok(done.result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::plan::Shape;

    #[test]
    fn an_overhead_step_is_a_closed_loop_with_the_truth_log_on() {
        let truth = PathBuf::from("/tmp/c1.truth.jsonl");
        let p = plan(&closed_load(32, 2.0), Some(truth.clone())).expect("valid");
        assert!(
            matches!(p.load.shape, Shape::Closed { .. }),
            "{:?}",
            p.load.shape
        );
        assert_eq!(p.load.duration, Some(Duration::from_secs(2)));
        assert_eq!(p.load.warmup, Duration::from_secs(1));
        match &p.targets[0].base {
            Base::Mock(cfg) => assert_eq!(cfg.truth_log.as_ref(), Some(&truth)),
            Base::Url(u) => panic!("calibration runs against the mock, not {u}"),
        }
    }

    #[test]
    fn a_ladder_step_is_an_open_loop_without_truth_log() {
        let p = plan(&open_load(400.0, 0.5), None).expect("valid");
        assert!(
            matches!(p.load.shape, Shape::Open { .. }),
            "{:?}",
            p.load.shape
        );
        assert_eq!(p.load.duration, Some(Duration::from_millis(500)));
        assert_eq!(p.load.max_in_flight, 8192);
        match &p.targets[0].base {
            Base::Mock(cfg) => assert_eq!(cfg.truth_log, None),
            Base::Url(u) => panic!("calibration runs against the mock, not {u}"),
        }
    }

    /// A result that is valid when `valid`.
    fn result(valid: bool) -> RunResult {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/results/seed-single.json"
        );
        let mut r = RunResult::read(Path::new(path)).expect("fixture result");
        r.validity.valid = valid;
        r
    }

    #[tokio::test]
    async fn the_ladder_stops_after_its_first_invalid_step() {
        let s = Settings {
            step: Duration::from_secs(1),
            start_rate: 100.0,
            max_rate: 1600.0,
            threads: 1,
        };
        let mut tried = Vec::new();
        let steps = ladder(&s, |rate| {
            tried.push(rate);
            async move { Ok(result(rate < 400.0)) }
        })
        .await
        .expect("runs");
        assert_eq!(tried, vec![100.0, 200.0, 400.0]);
        let offered: Vec<f64> = steps.iter().map(|s| s.offered).collect();
        assert_eq!(offered, vec![100.0, 200.0, 400.0]);
        assert!(steps[1].valid && !steps[2].valid);
    }

    #[tokio::test]
    async fn the_ladder_runs_every_rate_while_steps_stay_valid() {
        let s = Settings {
            step: Duration::from_secs(1),
            start_rate: 100.0,
            max_rate: 800.0,
            threads: 1,
        };
        let steps = ladder(&s, |_| async { Ok(result(true)) })
            .await
            .expect("runs");
        assert_eq!(steps.len(), 4);
    }

    #[tokio::test]
    async fn a_calibration_joins_records_with_the_mock_truth() {
        let s = Settings {
            step: Duration::from_millis(300),
            start_rate: 20.0,
            max_rate: 20.0,
            threads: 1,
        };
        let mut lines = Vec::new();
        let c = run(&s, &mut |l| lines.push(l)).await.expect("calibrates");
        assert!(c.c1.n > 0 && c.c32.n > 0, "{:?} {:?}", c.c1, c.c32);
        // llmload sees the first token after the server sent it.
        assert!(c.c1.p50_ms >= 0.0, "{:?}", c.c1);
        assert_eq!(c.steps.len(), 1);
        assert_eq!(c.steps[0].offered, 20.0);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[1].starts_with("open loop at 20 req/s"));
    }
}
