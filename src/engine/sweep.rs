//! The sweep procedure: which steps run, how long, in what order. Running one step is the
//! caller's (a closure from a plan to its result), so the procedure holds no I/O of its own.

use std::future::Future;
use std::time::Duration;

use anyhow::Result;

use crate::analysis::knee::{self as analysis, StepContext};
use crate::config::plan::{Load, OnFull, Plan, Shape};
use crate::config::schedule::{ArrivalProcess, ConcurrencyProfile, RateProfile};
use crate::config::sweep::{StepLength, SweepSettings};
use crate::results::sweep::{Knee, StepKind, Sweep, SweepStep, Verdict};
use crate::results::{RunResult, RunStatus};

/// Requests the synchronous step must measure; fewer (requests longer than its window) and it
/// is run again as exactly this many requests one at a time.
pub const SYNC_MIN_REQUESTS: u64 = 5;

/// A finished sweep.
#[derive(Debug)]
pub struct Outcome {
    /// The steps and the analysis.
    pub sweep: Sweep,
    /// Whether a signal stopped it.
    pub interrupted: bool,
    /// Index of the step whose result stands for the sweep (the sustainable rate's, else the
    /// synchronous step's).
    pub top: usize,
}

fn len_text(len: &StepLength) -> String {
    format!(
        "window {:.1} s + warmup {:.1} s{}",
        len.window.as_secs_f64(),
        len.warmup.as_secs_f64(),
        if len.capped() {
            format!(
                "; a steady state needs {:.1} s + {:.1} s",
                len.needed_window.as_secs_f64(),
                len.needed_warmup.as_secs_f64()
            )
        } else {
            String::new()
        }
    )
}

struct State<'a, R> {
    plan: &'a Plan,
    s: &'a SweepSettings,
    run_step: R,
    progress: &'a mut (dyn FnMut(String) + Send),
    steps: Vec<SweepStep>,
    interrupted: bool,
    /// Shortest warmup + window of a rate step that `max_step_duration` cut short.
    shortest_capped: Option<f64>,
}

impl<R, F> State<'_, R>
where
    R: FnMut(Plan, usize) -> F,
    F: Future<Output = Result<RunResult>>,
{
    async fn run(&mut self, mut p: Plan, k: usize) -> Result<RunResult> {
        // Each step draws its own arrivals and prompts: with one seed for all, every rate
        // would see the same pattern of bursts, scaled, and share one sampling error.
        p.seed = self.plan.seed.wrapping_add(k as u64 - 1);
        let r = (self.run_step)(p, k).await?;
        self.interrupted |= r.status == RunStatus::Interrupted;
        Ok(r)
    }

    /// The relaxation time a rate step must cover: with an SLO judged, below a capacity the
    /// probe measured; else 0 (without an SLO only the backlog's trend is judged, and the
    /// probe's capacity bounds the rate).
    fn tau(&self, rate: f64, cx: &StepContext, d: f64) -> f64 {
        match (cx.slo_set, cx.capacity) {
            (true, Some(x)) => crate::config::sweep::relaxation_time(rate, x, d).unwrap_or(0.0),
            _ => 0.0,
        }
    }

    /// Runs and judges one rate step; returns whether it held, and whether to stop.
    async fn rate(
        &mut self,
        rate: f64,
        refine: bool,
        cx: &StepContext,
        d: f64,
    ) -> Result<(bool, bool)> {
        let k = self.steps.len() + 1;
        let tau = self.tau(rate, cx, d);
        let len = self.s.length(Some(d), Some(rate), refine, tau);
        (self.progress)(format!(
            "step {k}: open loop at {rate:.2} req/s{} ({})…",
            if refine { " (bisection)" } else { "" },
            len_text(&len)
        ));
        if len.capped() {
            let t = (len.window + len.warmup).as_secs_f64();
            self.shortest_capped = Some(self.shortest_capped.map_or(t, |m| m.min(t)));
        }
        let r = self.run(self.s.rate_step(self.plan, rate, &len), k).await?;
        let mut st = SweepStep::from_result(StepKind::Rate, Some(rate), None, r);
        st.refine = refine;
        st.backlog_growth = analysis::backlog_growth(&st.result);
        let j = analysis::judge(&st, self.s, cx);
        // A coarse step that missed the SLO by less than its sample can tell ends the ladder
        // on chance: measure that rate again with a full window.
        let again = !refine
            && j.verdict == Verdict::OverSlo
            && len.window < self.s.length(Some(d), Some(rate), true, tau).window
            && analysis::marginal(&st, self.s.required_attainment);
        let (mut verdict, mut reason) = if again {
            (
                Verdict::Inconclusive,
                format!(
                    "{}; too few requests to tell from the requirement: measured again with a longer window",
                    j.reason
                ),
            )
        } else {
            (j.verdict, j.reason)
        };
        // A full-length step pools its requests with every earlier step at this rate that was
        // judged on the SLO; while the pooled attainment is still too close to call, the rate
        // is measured again (up to three full-length steps).
        let mut again = again;
        if refine && matches!(j.verdict, Verdict::WithinSlo | Verdict::OverSlo) {
            let same: Vec<&SweepStep> = self
                .steps
                .iter()
                .filter(|x| x.offered_rate_per_s == Some(rate))
                .filter(|x| {
                    matches!(
                        x.verdict,
                        Some(Verdict::WithinSlo | Verdict::OverSlo | Verdict::Inconclusive)
                    )
                })
                .collect();
            let full_before = same.iter().filter(|x| x.refine).count();
            let (met, issued) = same
                .iter()
                .map(|x| &**x)
                .chain(std::iter::once(&st))
                .filter_map(|x| x.result.overall.slo.as_ref())
                .fold((0u64, 0u64), |(m, n), s| (m + s.met, n + s.issued));
            if issued > 0 && !same.is_empty() {
                let p = met as f64 / issued as f64;
                let req = self.s.required_attainment;
                let (lo, hi) = analysis::wilson(p, issued);
                let pooled = format!(
                    "{:.1} % of the {issued} requests of {} steps at this rate met the SLO (required {:.1} %)",
                    p * 100.0,
                    same.len() + 1,
                    req * 100.0
                );
                if lo < req && req < hi && full_before < 2 {
                    verdict = Verdict::Inconclusive;
                    reason = format!("{pooled}: too close to call, measured again");
                    again = true;
                } else {
                    verdict = if p >= req {
                        Verdict::WithinSlo
                    } else {
                        Verdict::OverSlo
                    };
                    reason = if p >= req {
                        format!("steady, {pooled}")
                    } else {
                        pooled
                    };
                }
            } else if lo_hi_marginal(&st, self.s.required_attainment) {
                verdict = Verdict::Inconclusive;
                reason = format!("{reason}: too close to call, measured again");
                again = true;
            }
        }
        (self.progress)(format!("  {}: {reason}", verdict.label()));
        st.verdict = Some(verdict);
        st.reason = Some(reason);
        self.steps.push(st);
        if again && !self.interrupted {
            return Box::pin(self.rate(rate, true, cx, d)).await;
        }
        Ok((verdict.holds(), j.stop))
    }
}

fn lo_hi_marginal(st: &SweepStep, required: f64) -> bool {
    analysis::marginal(st, required)
}

/// Runs a sweep of `plan` with settings `s`: `run_step(plan, k)` runs step `k` (1-based) and
/// returns its result; `progress` receives a line per step.
pub async fn run<R, F>(
    plan: &Plan,
    s: &SweepSettings,
    slo_set: bool,
    run_step: R,
    progress: &mut (dyn FnMut(String) + Send),
) -> Result<Outcome>
where
    R: FnMut(Plan, usize) -> F,
    F: Future<Output = Result<RunResult>>,
{
    let mut st = State {
        plan,
        s,
        run_step,
        progress,
        steps: Vec::new(),
        interrupted: false,
        shortest_capped: None,
    };
    let mut sw = Sweep {
        steps: Vec::new(),
        max_throughput_rps: 0.0,
        knee: Knee::default(),
        stopped_early: None,
        request_duration_s: None,
        probe_saturated: None,
        warnings: Vec::new(),
    };
    let stopped = body(&mut st, &mut sw, slo_set).await?;
    sw.stopped_early = stopped;
    let d = sw.request_duration_s.unwrap_or(0.0);
    let (good, _) = analysis::bracket(&st.steps);
    let range = st.shortest_capped.and_then(|t| {
        let x = sw.max_throughput_rps;
        let floor = analysis::settled_floor(x, x * d, d, t);
        let capacity = (sw.probe_saturated == Some(true)).then_some(x);
        analysis::short_step_range(&st.steps, s.required_attainment, slo_set, capacity, floor)
    });
    if let Some(t) = st.shortest_capped {
        let w = short_step_warning(s, d, good, t, range);
        (st.progress)(format!("WARNING: {w}"));
        sw.warnings.push(w);
    }
    sw.knee = analysis::knee(&st.steps, s, slo_set, range);
    let top = good
        .and_then(|r| {
            analysis::deciding(&st.steps)
                .into_iter()
                .find(|x| x.0 == r)
                .map(|x| x.2)
        })
        .unwrap_or(0);
    sw.steps = st.steps;
    Ok(Outcome {
        sweep: sw,
        interrupted: st.interrupted,
        top,
    })
}

/// The warning of a sweep whose steps `max_step_duration` cut to `t` seconds (warmup and
/// window), for requests of `d` seconds; `good` is the sustainable rate, `range` where the
/// truth may lie.
fn short_step_warning(
    s: &SweepSettings,
    d: f64,
    good: Option<f64>,
    t: f64,
    range: Option<analysis::ShortStepRange>,
) -> String {
    let need = s.length(Some(d), good, true, 0.0);
    format!(
        "max_step_duration cut steps to {t:.1} s (warmup and window), below the {:.1} s a steady state needs for requests of {:.0} ms ({} request durations and {} completions): each step judged few requests and a queue may not have built up, so {}",
        (need.needed_window + need.needed_warmup).as_secs_f64(),
        d * 1e3,
        s.request_durations,
        s.min_completions,
        range.map_or_else(
            || "the result may be off by more than the sweep can tell".to_string(),
            |r| r.text()
        )
    )
}

/// The steps; returns why the sweep stopped before finding the knee, if it did.
async fn body<R, F>(st: &mut State<'_, R>, sw: &mut Sweep, slo_set: bool) -> Result<Option<String>>
where
    R: FnMut(Plan, usize) -> F,
    F: Future<Output = Result<RunResult>>,
{
    let s = st.s;
    // 1. One request at a time: the baseline latency and the request duration.
    let len = s.length(None, None, false, 0.0);
    (st.progress)(format!(
        "step 1: one request at a time ({})…",
        len_text(&len)
    ));
    let r = st.run(s.closed_step(st.plan, 1, &len), 1).await?;
    let mut sync = SweepStep::from_result(StepKind::Synchronous, None, Some(1), r);
    if !st.interrupted && sync.measured_ok() < SYNC_MIN_REQUESTS {
        (st.progress)(format!(
            "step 1: the window counted {} requests; running {SYNC_MIN_REQUESTS} one at a time instead…",
            sync.measured_ok()
        ));
        let r = st
            .run(s.counted_step(st.plan, SYNC_MIN_REQUESTS), 1)
            .await?;
        sync = SweepStep::from_result(StepKind::Synchronous, None, Some(1), r);
    }
    let d = sync.e2e_mean_s();
    let sync_rate = sync.completed_per_s;
    let baseline_ttft = sync.ttft_p50_ms;
    st.steps.push(sync);
    if st.interrupted {
        return Ok(None);
    }
    let Some(d) = d else {
        return Ok(Some(
            "the one-at-a-time step completed no request: nothing to sweep".into(),
        ));
    };
    sw.request_duration_s = Some(d);

    // 2. The saturation probe: a closed loop's throughput is its concurrency / mean E2E.
    let n = s.probe_concurrency;
    let len = s.length(Some(d), None, false, 0.0);
    (st.progress)(format!(
        "step 2: saturation probe, {n} concurrent ({})…",
        len_text(&len)
    ));
    let r = st.run(s.closed_step(st.plan, n, &len), 2).await?;
    let probe = SweepStep::from_result(StepKind::Throughput, None, Some(n), r);
    let e2e = probe.e2e_mean_s();
    let x = e2e.map_or(probe.completed_per_s, |e| n as f64 / e);
    let saturated = e2e.is_some_and(|e| e >= 1.5 * d);
    st.steps.push(probe);
    sw.max_throughput_rps = x;
    sw.probe_saturated = Some(saturated);
    if st.interrupted {
        return Ok(None);
    }
    if x <= 0.0 {
        return Ok(Some(
            "the saturation probe completed no request: nothing to sweep".into(),
        ));
    }
    if !saturated {
        sw.warnings.push(format!(
            "the saturation probe did not queue requests ({n} concurrent, mean E2E {:.0} ms against {:.0} ms alone): the endpoint may serve more than {n} at once, so {x:.2} req/s is a lower bound of its capacity; raise --probe-concurrency",
            e2e.unwrap_or(0.0) * 1e3,
            d * 1e3
        ));
    }
    let cx = StepContext {
        baseline_ttft_p50_ms: baseline_ttft,
        capacity: saturated.then_some(x),
        slots: x * d,
        slo_set,
    };

    // 3. The coarse ladder, up to the first rate that does not hold.
    let low = if sync_rate > 0.0 { sync_rate } else { 1.0 / d };
    for rate in s.ladder(low, x) {
        let (holds, stop) = st.rate(rate, false, &cx, d).await?;
        if st.interrupted {
            return Ok(None);
        }
        if stop {
            return Ok(st.steps.last().and_then(|x| x.reason.clone()));
        }
        let invalid = st.steps.last().and_then(|x| x.verdict) == Some(Verdict::Invalid);
        if !holds && !invalid {
            break;
        }
    }

    // 4. Bisection between the last rate that held and the first that did not. A rate that
    // held in a coarse step, shorter than a bisection step, is confirmed with a full window
    // before it can be the answer.
    let (mut mids, mut confirms) = (0, 0);
    loop {
        let (good, bad) = analysis::bracket(&st.steps);
        let full = |i: usize, rate: f64| {
            let x = &st.steps[i];
            x.refine
                || x.window_s.unwrap_or(0.0)
                    >= 0.95
                        * s.length(Some(d), Some(rate), true, st.tau(rate, &cx, d))
                            .window
                            .as_secs_f64()
        };
        let unconfirmed = good.and_then(|g| {
            analysis::deciding(&st.steps)
                .into_iter()
                .find(|x| x.0 == g && !full(x.2, g))
        });
        let next = match (unconfirmed, good, bad) {
            (Some(u), _, _) if confirms < 3 => {
                confirms += 1;
                u.0
            }
            (_, _, None) => break,
            (_, g, Some(b)) => {
                let lo = g.unwrap_or(0.0);
                if (lo > 0.0 && (b - lo) / lo <= s.precision) || mids >= s.max_refinements {
                    break;
                }
                mids += 1;
                (lo + b) / 2.0
            }
        };
        let (_, stop) = st.rate(next, true, &cx, d).await?;
        if st.interrupted {
            return Ok(None);
        }
        if stop {
            return Ok(st.steps.last().and_then(|x| x.reason.clone()));
        }
    }
    Ok(None)
}

/// Each step's plan: a copy of the run's plan with the step's load.
impl SweepSettings {
    fn load(&self, plan: &Plan, shape: Shape, max_in_flight: u32, len: &StepLength) -> Load {
        Load {
            shape,
            max_in_flight,
            on_full: OnFull::Queue,
            warmup: len.warmup,
            duration: Some(len.window),
            requests: None,
            cooldown: Duration::ZERO,
            drain_timeout: plan.load.drain_timeout,
        }
    }

    /// The plan of a closed-loop step at `concurrency`.
    pub fn closed_step(&self, plan: &Plan, concurrency: u32, len: &StepLength) -> Plan {
        let send = len.warmup + len.window;
        let mut p = plan.clone();
        p.load = self.load(
            plan,
            Shape::Closed {
                profile: ConcurrencyProfile::constant(concurrency, Some(send)),
            },
            concurrency,
            len,
        );
        p
    }

    /// A one-at-a-time step of exactly `requests` requests and no warmup: the synchronous
    /// step's fallback when requests are too long for its window to count them.
    pub fn counted_step(&self, plan: &Plan, requests: u64) -> Plan {
        let mut p = plan.clone();
        p.load = Load {
            shape: Shape::Closed {
                profile: ConcurrencyProfile::constant(1, None),
            },
            max_in_flight: 1,
            on_full: OnFull::Queue,
            warmup: Duration::ZERO,
            duration: None,
            requests: Some(requests),
            cooldown: Duration::ZERO,
            drain_timeout: plan.load.drain_timeout,
        };
        p
    }

    /// The plan of an open-loop (Poisson) step at `rate` requests/s.
    pub fn rate_step(&self, plan: &Plan, rate: f64, len: &StepLength) -> Plan {
        let send = len.warmup + len.window;
        let mut p = plan.clone();
        let profile = RateProfile::constant(rate, Some(send))
            .expect("a positive rate and duration make a valid profile");
        let cap = if matches!(plan.load.shape, Shape::Open { .. } | Shape::Trace(_)) {
            plan.load.max_in_flight
        } else {
            crate::config::plan::DEFAULT_MAX_IN_FLIGHT
        };
        p.load = self.load(
            plan,
            Shape::Open {
                arrival: ArrivalProcess::Poisson,
                profile,
            },
            cap,
            len,
        );
        p
    }
}
