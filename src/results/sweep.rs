//! A capacity sweep as the result file holds it (`sweep` in docs/results.md): its steps, each
//! with the run it measured and its verdict, and the knee found. The procedure that runs the
//! steps is `engine::sweep`; the analysis that judges them is `analysis::knee` (both on higher floors).

use serde::{Deserialize, Serialize};

use crate::core::metric::Metric;
use crate::results::RunResult;

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

fn summary(r: &RunResult, m: Metric) -> crate::metrics::Summary {
    r.overall
        .latency_ms
        .get(m.as_str())
        .copied()
        .unwrap_or_default()
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
        let e2e = summary(&r, Metric::E2e);
        let (t, e) = (
            summary(&r, Metric::TtftScheduled),
            summary(&r, Metric::E2eScheduled),
        );
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
        let e = summary(&self.result, Metric::E2e);
        (e.count > 0 && e.mean > 0.0).then_some(e.mean / 1e3)
    }

    /// Requests measured (sent in the window and finished ok).
    pub fn measured_ok(&self) -> u64 {
        summary(&self.result, Metric::E2e).count
    }
}
