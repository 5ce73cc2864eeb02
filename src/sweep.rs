//! Capacity sweeps: a synchronous baseline, a saturation probe, then a ladder of open-loop
//! rates, each step a full measured run; and the analysis that finds the knee.
//!
//! The types here are part of the result file (`sweep` in docs/results.md).

use serde::{Deserialize, Serialize};

use crate::results::RunResult;

/// A sweep's steps and what was found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    /// Every step run, in order.
    pub steps: Vec<SweepStep>,
    /// Highest request rate the saturation probe completed (requests/s).
    pub max_throughput_rps: f64,
    /// The analysis.
    pub knee: Knee,
    /// Why the ladder stopped before its last rung, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
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
    /// The full result of this step (metrics, histograms, time series).
    pub result: Box<RunResult>,
}

/// The knee of a sweep.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Knee {
    /// SLO attainment a step needs to count as "within SLO".
    pub required_attainment: f64,
    /// Highest offered rate at which the SLO held (goodput-based), requests/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate_within_slo: Option<f64>,
    /// The rate at which latency starts to climb steeply, requests/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_knee_rate: Option<f64>,
    /// How the latency knee was found, in words.
    pub method: String,
}
