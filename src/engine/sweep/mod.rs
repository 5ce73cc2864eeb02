//! Capacity sweeps: a synchronous baseline, a saturation probe, then a ladder of open-loop
//! rates refined by bisection near the knee, each step a full measured run long enough to reach
//! a steady state; and the analysis that judges each step and finds the sustainable rate.
//!
//! `procedure` runs the steps (the caller supplies how one plan is run), `analysis` judges them.
//! The types here are part of the result file (`sweep` in docs/results.md).

mod analysis;
mod procedure;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::plan::{Load, OnFull, Plan, Shape};
use crate::config::schedule::{ArrivalProcess, ConcurrencyProfile, RateProfile};
use crate::results::RunResult;

pub use analysis::{
    deciding, judge, knee, settled_floor, short_step_bound, short_step_range, table, Judged,
    ShortStepRange, StepContext,
};
pub use procedure::{run, Outcome};

/// A sweep's steps and what was found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// Every step run, in order.
    pub steps: Vec<SweepStep>,
    /// The most requests per second the saturation probe completed: its concurrency divided by
    /// its mean E2E (Little's law for a closed loop).
    pub max_throughput_rps: f64,
    /// The analysis.
    pub knee: Knee,
    /// Why the sweep stopped before it found the knee, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// Mean duration of one request alone (the synchronous step's mean E2E), seconds: the unit
    /// every step's length is measured in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_duration_s: Option<f64>,
    /// Whether the saturation probe queued requests at the endpoint (its mean E2E at least 1.5 ×
    /// the request duration): only then is its throughput the endpoint's capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_saturated: Option<bool>,
    /// Things the reader must know about how far to trust the figures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// What kind of load a step applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// One request at a time (closed loop, concurrency 1).
    Synchronous,
    /// Closed loop at high concurrency: the most the endpoint completes.
    Throughput,
    /// Open loop at a fixed rate.
    Rate,
}

/// How a rate step was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Steady, errors within the limit, and the SLO held.
    WithinSlo,
    /// Steady and errors within the limit; no SLO is set, so latency was not judged.
    Steady,
    /// Steady, but too few requests met the SLO.
    OverSlo,
    /// The endpoint could not keep up: the offered rate is above the probe's capacity, or the
    /// queue was still growing at the end of the step.
    OverCapacity,
    /// The error rate exceeded the limit.
    Errors,
    /// The generator, not the endpoint, limited the step: its figures do not describe the
    /// endpoint.
    Invalid,
    /// A coarse step whose SLO attainment was too close to the requirement to call with its
    /// sample; the rate was measured again with a longer window.
    Inconclusive,
}

impl Verdict {
    /// Whether a step with this verdict holds: counts as sustainable.
    pub fn holds(self) -> bool {
        matches!(self, Verdict::WithinSlo | Verdict::Steady)
    }

    /// The verdict as shown in the table.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::WithinSlo => "within SLO",
            Verdict::Steady => "steady",
            Verdict::OverSlo => "over SLO",
            Verdict::OverCapacity => "OVER CAPACITY",
            Verdict::Errors => "errors",
            Verdict::Invalid => "INVALID",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

/// One step of a sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepStep {
    /// Kind of load.
    pub kind: StepKind,
    /// Open-loop rate offered (requests/s); None for closed-loop steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rate_per_s: Option<f64>,
    /// Closed-loop concurrency; None for rate steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Arrivals actually scheduled per second in the window (a Poisson process scatters
    /// around the offered rate); None for closed-loop steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals_per_s: Option<f64>,
    /// Successful requests completed per second in the window.
    pub completed_per_s: f64,
    /// Goodput: requests per second that met every SLO (None without an SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput_per_s: Option<f64>,
    /// Share of measured requests meeting every SLO (None without an SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_attainment: Option<f64>,
    /// Mean requests in flight, measured (from the per-second in-flight samples).
    pub in_flight_mean: f64,
    /// Little's law: completed rate × mean E2E (s) — compare with `in_flight_mean`.
    pub littles_law_in_flight: f64,
    /// TTFT p50 / p99 and E2E p50 / p99 from the scheduled time (ms).
    pub ttft_p50_ms: f64,
    /// TTFT p99 (ms).
    pub ttft_p99_ms: f64,
    /// E2E p50 (ms).
    pub e2e_p50_ms: f64,
    /// E2E p99 (ms).
    pub e2e_p99_ms: f64,
    /// failed / sent.
    pub error_rate: f64,
    /// Whether the step's numbers describe the endpoint (generator not the bottleneck).
    pub valid: bool,
    /// Measurement window length (s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
    /// Requests by which the backlog (sent but not finished) grew over the window, from the
    /// trend of the per-second counts; rate steps only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog_growth: Option<f64>,
    /// A step of the bisection between the last rate that held and the first that did not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refine: bool,
    /// How the step was judged (rate steps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The full result of this step (metrics, histograms, time series).
    pub result: Box<RunResult>,
}

/// The knee of a sweep.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Knee {
    /// SLO attainment a step needs to count as "within SLO".
    pub required_attainment: f64,
    /// The sustainable rate (same as `sustainable_rate_per_s`; kept under this name for readers
    /// of older results). Without an SLO it is the highest steady rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate_within_slo: Option<f64>,
    /// Older results only: the rate at which latency started to climb steeply. No longer set:
    /// the sustainable rate is the one knee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_knee_rate: Option<f64>,
    /// How the knee was found, in words.
    pub method: String,
    /// The highest offered rate that held (steady, errors within the limit, and the SLO met when
    /// one is set) below every rate that did not, requests/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sustainable_rate_per_s: Option<f64>,
    /// The lowest offered rate that did not hold, requests/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_failing_rate_per_s: Option<f64>,
    /// `slo` (the SLO limits the rate) or `capacity` (no SLO set: the queue limits it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<String>,
    /// When steps were shorter than a steady state needs: how much the sustainable rate may
    /// be overstated (the truth lower than reported), in percent of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_be_off_pct: Option<f64>,
    /// When steps were shorter than a steady state needs: how much the sustainable rate may
    /// be understated (the truth higher than reported), in percent of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_be_understated_pct: Option<f64>,
    /// When steps were shorter than a steady state needs: the lowest and highest rate the true
    /// sustainable rate may have, requests/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range_per_s: Option<[f64; 2]>,
    /// The knee in one sentence, as printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
}

/// Sweep settings: the scenario's `[sweep]` table with defaults, then CLI overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSettings {
    /// Open-loop rates in the coarse ladder (before refinement).
    pub steps: u32,
    /// Shortest measurement window of a step (steps run longer when a steady state needs it).
    pub step_duration: Duration,
    /// Shortest warmup of a step.
    pub step_warmup: Duration,
    /// Longest measurement window (and warmup) of a step: a cap on the steady-state length.
    pub max_step_duration: Duration,
    /// A step's window lasts at least this many request durations.
    pub request_durations: f64,
    /// A bisection step's window holds at least this many expected arrivals (a coarse ladder
    /// step's a quarter of them): enough requests to tell an SLO attainment of 95 % from 93 %.
    pub min_completions: u32,
    /// Concurrency of the saturation probe.
    pub probe_concurrency: u32,
    /// The ladder's top as a multiple of the probe's throughput.
    pub max_rate_factor: f64,
    /// Error rate above which a step does not hold.
    pub max_error_rate: f64,
    /// SLO attainment a step needs to count as within SLO.
    pub required_attainment: f64,
    /// Bisection goes on until the last rate that held is within this share of the first that
    /// did not.
    pub precision: f64,
    /// Most bisection steps.
    pub max_refinements: u32,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            steps: 10,
            step_duration: Duration::from_secs(10),
            step_warmup: Duration::from_secs(2),
            max_step_duration: Duration::from_secs(600),
            request_durations: 20.0,
            min_completions: 400,
            probe_concurrency: 64,
            max_rate_factor: 1.2,
            max_error_rate: 0.05,
            required_attainment: 0.95,
            precision: 0.05,
            max_refinements: 4,
        }
    }
}

/// Warmup a step needs, in request durations.
pub const WARMUP_REQUEST_DURATIONS: f64 = 3.0;
/// Warmup a step needs, in relaxation times of its queue.
pub const RELAXATIONS_WARMUP: f64 = 3.0;
/// Window a step needs, in relaxation times of its queue.
pub const RELAXATIONS_WINDOW: f64 = 5.0;

/// The time (s) a queue at `rate` takes to settle, for an endpoint of `capacity` requests/s
/// and request duration `d` (s): with c = capacity × d requests served at once and
/// ρ = rate / capacity, the heavy-traffic relaxation time τ = d / (c (1 − √ρ)²). None at or
/// above capacity (no steady state) or when a figure is missing.
pub fn relaxation_time(rate: f64, capacity: f64, d: f64) -> Option<f64> {
    if !(rate > 0.0 && capacity > 0.0 && d > 0.0 && rate < capacity) {
        return None;
    }
    let c = capacity * d;
    let gap = 1.0 - (rate / capacity).sqrt();
    Some(d / (c * gap * gap))
}

/// How long one step runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLength {
    /// Warmup run.
    pub warmup: Duration,
    /// Measurement window run.
    pub window: Duration,
    /// Warmup a steady state needs.
    pub needed_warmup: Duration,
    /// Window a steady state needs.
    pub needed_window: Duration,
}

impl StepLength {
    /// Whether `max_step_duration` cut the step below what a steady state needs.
    pub fn capped(&self) -> bool {
        self.window < self.needed_window || self.warmup < self.needed_warmup
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() {
        s.clamp(0.0, 1e7)
    } else {
        0.0
    })
}

impl SweepSettings {
    /// Settings from the scenario's `[sweep]` table, reporting bad values.
    pub fn from_spec(
        spec: Option<&crate::config::scenario::SweepSpec>,
        bad: &mut impl FnMut(&str, String),
    ) -> SweepSettings {
        let mut s = SweepSettings::default();
        let Some(sp) = spec else { return s };
        if let Some(n) = sp.steps {
            if !(1..=100).contains(&n) {
                bad("sweep.steps", "must be between 1 and 100".into());
            }
            s.steps = n;
        }
        if let Some(d) = sp.step_duration {
            if d.0.is_zero() {
                bad("sweep.step_duration", "must be greater than 0".into());
            }
            s.step_duration = d.0;
        }
        if let Some(d) = sp.step_warmup {
            s.step_warmup = d.0;
        }
        if let Some(d) = sp.max_step_duration {
            if d.0.is_zero() {
                bad("sweep.max_step_duration", "must be greater than 0".into());
            }
            s.max_step_duration = d.0;
        }
        if let Some(n) = sp.request_durations {
            if !(n.is_finite() && n >= 1.0) {
                bad("sweep.request_durations", "must be at least 1".into());
            }
            s.request_durations = n;
        }
        if let Some(n) = sp.min_completions {
            if n == 0 {
                bad("sweep.min_completions", "must be at least 1".into());
            }
            s.min_completions = n;
        }
        if let Some(c) = sp.probe_concurrency {
            if c == 0 {
                bad("sweep.probe_concurrency", "must be at least 1".into());
            }
            s.probe_concurrency = c;
        }
        if let Some(f) = sp.max_rate_factor {
            if !(f.is_finite() && f >= 1.0) {
                bad("sweep.max_rate_factor", "must be at least 1".into());
            }
            s.max_rate_factor = f;
        }
        if let Some(e) = sp.max_error_rate {
            if !(0.0..=1.0).contains(&e) {
                bad("sweep.max_error_rate", "is a share: between 0 and 1".into());
            }
            s.max_error_rate = e;
        }
        if let Some(a) = sp.required_attainment {
            if !(0.0..=1.0).contains(&a) {
                bad(
                    "sweep.required_attainment",
                    "is a share: between 0 and 1".into(),
                );
            }
            s.required_attainment = a;
        }
        if let Some(p) = sp.precision {
            if !(p.is_finite() && p > 0.0 && p < 1.0) {
                bad("sweep.precision", "is a share: above 0 and below 1".into());
            }
            s.precision = p;
        }
        if let Some(n) = sp.max_refinements {
            if n > 20 {
                bad("sweep.max_refinements", "must be at most 20".into());
            }
            s.max_refinements = n;
        }
        s
    }

    /// How long a step runs, given the request duration `d` (seconds; None before it is known),
    /// for a rate step its rate, and the time `tau` its queue takes to settle (0 when not
    /// judged; see [`relaxation_time`]): a window of at least `step_duration`,
    /// `request_durations` × `d`, `min_completions` / rate (a quarter of that outside the
    /// bisection) and 5 τ, after a warmup of at least `step_warmup`, 3 × `d` and 3 τ; each cut
    /// to `max_step_duration`.
    pub fn length(&self, d: Option<f64>, rate: Option<f64>, refine: bool, tau: f64) -> StepLength {
        let d = d.filter(|d| d.is_finite() && *d > 0.0).unwrap_or(0.0);
        let tau = if tau.is_finite() && tau > 0.0 {
            tau
        } else {
            0.0
        };
        let count = self.min_completions as f64 / if refine { 1.0 } else { 4.0 };
        let by_count = rate.filter(|r| *r > 0.0).map_or(0.0, |r| count / r);
        let needed_window = self
            .step_duration
            .max(secs(self.request_durations * d))
            .max(secs(by_count))
            .max(secs(RELAXATIONS_WINDOW * tau));
        let needed_warmup = self
            .step_warmup
            .max(secs(WARMUP_REQUEST_DURATIONS * d))
            .max(secs(RELAXATIONS_WARMUP * tau));
        StepLength {
            warmup: needed_warmup.min(self.max_step_duration),
            window: needed_window.min(self.max_step_duration),
            needed_warmup,
            needed_window,
        }
    }

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

    /// The coarse ladder's rates: `steps` rates evenly spaced from the synchronous rate to
    /// `max_rate_factor` × the probe's throughput.
    pub fn ladder(&self, sync_rate: f64, max_throughput: f64) -> Vec<f64> {
        let top = (max_throughput * self.max_rate_factor).max(sync_rate);
        let low = sync_rate.min(top).max(top / 100.0).max(0.01);
        let n = self.steps.max(1);
        if n == 1 {
            return vec![top];
        }
        (0..n)
            .map(|k| low + (top - low) * k as f64 / (n - 1) as f64)
            .collect()
    }
}

fn summary(r: &RunResult, key: &str) -> crate::metrics::Summary {
    r.overall.latency_ms.get(key).copied().unwrap_or_default()
}

impl SweepStep {
    /// A step's figures from its run.
    pub fn from_result(
        kind: StepKind,
        offered: Option<f64>,
        concurrency: Option<u32>,
        r: RunResult,
    ) -> SweepStep {
        let slo = r.overall.slo.as_ref();
        let completed = r.overall.throughput.requests_per_s;
        let e2e = summary(&r, "e2e");
        let (t, e) = (summary(&r, "ttft_scheduled"), summary(&r, "e2e_scheduled"));
        let window = r.load.window_end_s - r.load.window_start_s;
        SweepStep {
            kind,
            offered_rate_per_s: offered,
            concurrency,
            arrivals_per_s: offered.and(r.load.offered_rate_per_s),
            completed_per_s: completed,
            goodput_per_s: slo.map(|s| s.goodput_requests_per_s),
            slo_attainment: slo.map(|s| s.attainment),
            in_flight_mean: r.load.in_flight_mean.unwrap_or(0.0),
            littles_law_in_flight: completed * e2e.mean / 1e3,
            ttft_p50_ms: t.p50,
            ttft_p99_ms: t.p99,
            e2e_p50_ms: e.p50,
            e2e_p99_ms: e.p99,
            error_rate: r.overall.error_rate,
            valid: r.validity.valid,
            window_s: (window.is_finite() && window > 0.0).then_some(window),
            backlog_growth: None,
            refine: false,
            verdict: None,
            reason: None,
            result: Box::new(r),
        }
    }

    /// Mean E2E from send (s), when the step measured any.
    pub fn e2e_mean_s(&self) -> Option<f64> {
        let e = summary(&self.result, "e2e");
        (e.count > 0 && e.mean > 0.0).then_some(e.mean / 1e3)
    }

    /// Requests measured (sent in the window and finished ok).
    pub fn measured_ok(&self) -> u64 {
        summary(&self.result, "e2e").count
    }
}
