//! Capacity sweeps: a synchronous baseline, a saturation probe, then a ladder of open-loop
//! rates, each step a full measured run; and the analysis that finds the knee.
//!
//! The types here are part of the result file (`sweep` in docs/results.md).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::plan::{Load, OnFull, Plan, Shape};
use crate::results::RunResult;
use crate::schedule::{ArrivalProcess, ConcurrencyProfile, RateProfile};

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

/// Sweep settings: the scenario's `[sweep]` table with defaults, then CLI overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepSettings {
    /// Open-loop rates in the ladder.
    pub steps: u32,
    /// Measurement window of each step.
    pub step_duration: Duration,
    /// Warmup of each step.
    pub step_warmup: Duration,
    /// Concurrency of the saturation probe.
    pub probe_concurrency: u32,
    /// The ladder's top as a multiple of the probe's throughput.
    pub max_rate_factor: f64,
    /// Error rate that ends the ladder.
    pub max_error_rate: f64,
    /// SLO attainment a step needs to count as within SLO.
    pub required_attainment: f64,
}

impl Default for SweepSettings {
    fn default() -> Self {
        SweepSettings {
            steps: 10,
            step_duration: Duration::from_secs(10),
            step_warmup: Duration::from_secs(2),
            probe_concurrency: 64,
            max_rate_factor: 1.2,
            max_error_rate: 0.05,
            required_attainment: 0.95,
        }
    }
}

impl SweepSettings {
    /// Settings from the scenario's `[sweep]` table, reporting bad values.
    pub fn from_spec(
        spec: Option<&crate::scenario::SweepSpec>,
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
        s
    }

    fn load(&self, plan: &Plan, shape: Shape, max_in_flight: u32) -> Load {
        Load {
            shape,
            max_in_flight,
            on_full: OnFull::Queue,
            warmup: self.step_warmup,
            duration: Some(self.step_duration),
            requests: None,
            cooldown: Duration::ZERO,
            drain_timeout: plan.load.drain_timeout,
        }
    }

    /// The plan of a closed-loop step at `concurrency`.
    pub fn closed_step(&self, plan: &Plan, concurrency: u32) -> Plan {
        let send = self.step_warmup + self.step_duration;
        let mut p = plan.clone();
        p.load = self.load(
            plan,
            Shape::Closed {
                profile: ConcurrencyProfile::constant(concurrency, Some(send)),
            },
            concurrency,
        );
        p
    }

    /// The plan of an open-loop (Poisson) step at `rate` requests/s.
    pub fn rate_step(&self, plan: &Plan, rate: f64) -> Plan {
        let send = self.step_warmup + self.step_duration;
        let mut p = plan.clone();
        let profile = RateProfile::constant(rate, Some(send))
            .expect("a positive rate and duration make a valid profile");
        let cap = if matches!(plan.load.shape, Shape::Open { .. } | Shape::Trace(_)) {
            plan.load.max_in_flight
        } else {
            crate::plan::DEFAULT_MAX_IN_FLIGHT
        };
        p.load = self.load(
            plan,
            Shape::Open {
                arrival: ArrivalProcess::Poisson,
                profile,
            },
            cap,
        );
        p
    }

    /// The ladder's rates: `steps` rates evenly spaced from the synchronous rate to
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
            result: Box::new(r),
        }
    }

    /// Why this rate step shows the endpoint saturated (the ladder then stops), if it does.
    pub fn saturation(&self, s: &SweepSettings, baseline: &SweepStep) -> Option<String> {
        let offered = self.offered_rate_per_s?;
        // A generator that could not send the offered rate (or ran out of CPU) cannot measure a
        // higher one; timer lateness alone marks the step invalid but the ladder goes on.
        let cannot_send = self
            .result
            .validity
            .reasons
            .iter()
            .any(|r| r.contains("send rate") || r.contains("CPU cores"));
        if cannot_send {
            return Some(format!(
                "at {offered:.2} req/s the generator, not the endpoint, was the bottleneck: {}",
                self.result.validity.reasons.join("; ")
            ));
        }
        if self.error_rate > s.max_error_rate {
            return Some(format!(
                "at {offered:.2} req/s the error rate was {:.1} % (limit {:.1} %)",
                self.error_rate * 100.0,
                s.max_error_rate * 100.0
            ));
        }
        // Compared with the arrivals that really came (Poisson scatters around the offered
        // rate over a short window), not the nominal rate.
        let arrived = self.arrivals_per_s.unwrap_or(offered);
        if self.completed_per_s < 0.9 * arrived {
            return Some(format!(
                "at {offered:.2} req/s offered ({arrived:.2} arrived) only {:.2} req/s completed: the endpoint fell behind",
                self.completed_per_s
            ));
        }
        // Latency growing without bound: TTFT in the last third of the window well above the
        // first third, and far above the one-at-a-time baseline.
        let series: Vec<f64> = {
            let r = &self.result;
            let (a, b) = (r.load.window_start_s, r.load.window_end_s);
            r.timeseries
                .iter()
                .filter(|p| (p.t_s as f64) >= a && ((p.t_s + 1) as f64) <= b)
                .filter_map(|p| p.ttft_p50_ms)
                .collect()
        };
        if series.len() >= 3 {
            let third = series.len() / 3;
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let (first, last) = (
                mean(&series[..third]),
                mean(&series[series.len() - third..]),
            );
            if last > 2.0 * first && last > 1.5 * baseline.ttft_p50_ms.max(1e-3) {
                return Some(format!(
                    "at {offered:.2} req/s TTFT kept growing through the step (p50 {first:.0} ms in the first third, {last:.0} ms in the last): a queue was building"
                ));
            }
        }
        None
    }
}

/// Finds the knee of a sweep's rate steps.
pub fn knee(steps: &[SweepStep], s: &SweepSettings, slo_set: bool) -> Knee {
    let rates: Vec<&SweepStep> = steps
        .iter()
        .filter(|x| x.kind == StepKind::Rate && x.offered_rate_per_s.is_some())
        .collect();
    let within = |x: &SweepStep| {
        let arrived = x.arrivals_per_s.or(x.offered_rate_per_s).unwrap_or(0.0);
        x.valid
            && x.error_rate <= s.max_error_rate
            && x.completed_per_s >= 0.9 * arrived
            && (!slo_set || x.slo_attainment.unwrap_or(0.0) >= s.required_attainment)
    };
    let max_rate_within_slo = rates
        .iter()
        .filter(|x| within(x))
        .filter_map(|x| x.offered_rate_per_s)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let floor = rates
        .iter()
        .filter(|x| x.valid)
        .map(|x| x.ttft_p99_ms)
        .fold(f64::INFINITY, f64::min);
    let mut latency_knee_rate = None;
    let mut prev: Option<f64> = None;
    for x in &rates {
        if x.valid && x.ttft_p99_ms > 2.0 * floor && floor.is_finite() {
            latency_knee_rate = prev;
            break;
        }
        prev = x.offered_rate_per_s;
    }
    Knee {
        required_attainment: s.required_attainment,
        max_rate_within_slo,
        latency_knee_rate,
        method: format!(
            "within SLO: a valid step with error rate ≤ {:.1} %, completions ≥ 90 % of the arrivals{}; latency knee: the last rate before TTFT p99 (from the scheduled time) exceeds twice the lowest rate step's",
            s.max_error_rate * 100.0,
            if slo_set {
                format!(" and SLO attainment ≥ {:.0} %", s.required_attainment * 100.0)
            } else {
                " (no [slo] set: attainment not judged)".to_string()
            }
        ),
    }
}

/// The table printed after a sweep.
pub fn table(sw: &Sweep) -> String {
    use std::fmt::Write;
    let header = [
        "step",
        "load",
        "done/s",
        "good/s",
        "SLO %",
        "in-flight",
        "Little",
        "TTFT p50",
        "TTFT p99",
        "E2E p50",
        "E2E p99",
        "err %",
        "valid",
    ];
    let rows: Vec<Vec<String>> = sw
        .steps
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let load = match (x.kind, x.offered_rate_per_s, x.concurrency) {
                (StepKind::Rate, Some(r), _) => format!("{r:.2} req/s"),
                (StepKind::Synchronous, _, _) => "1 at a time".into(),
                (_, _, Some(c)) => format!("{c} concurrent"),
                _ => "-".into(),
            };
            let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".into(), f);
            vec![
                format!("{}", i + 1),
                load,
                format!("{:.2}", x.completed_per_s),
                opt(x.goodput_per_s, &|v| format!("{v:.2}")),
                opt(x.slo_attainment, &|v| format!("{:.1}", v * 100.0)),
                format!("{:.1}", x.in_flight_mean),
                format!("{:.1}", x.littles_law_in_flight),
                format!("{:.0}", x.ttft_p50_ms),
                format!("{:.0}", x.ttft_p99_ms),
                format!("{:.0}", x.e2e_p50_ms),
                format!("{:.0}", x.e2e_p99_ms),
                format!("{:.1}", x.error_rate * 100.0),
                if x.valid { "yes" } else { "NO" }.into(),
            ]
        })
        .collect();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: Vec<String>| {
        for (i, c) in cells.iter().enumerate() {
            let sep = if i == 0 { "" } else { "  " };
            let _ = write!(out, "{sep}{:>w$}", c, w = width[i]);
        }
        out.push('\n');
    };
    let _ = writeln!(
        out,
        "sweep (latencies in ms from the scheduled send time; in-flight measured vs Little's law = completed/s × mean E2E):"
    );
    line(&mut out, header.iter().map(|s| s.to_string()).collect());
    out.push_str(&"-".repeat(width.iter().sum::<usize>() + 2 * (width.len() - 1)));
    out.push('\n');
    for r in rows {
        line(&mut out, r);
    }
    let _ = writeln!(
        out,
        "\nmax throughput (saturation probe): {:.2} req/s",
        sw.max_throughput_rps
    );
    match sw.knee.max_rate_within_slo {
        Some(r) => {
            let _ = writeln!(out, "highest rate within SLO: {r:.2} req/s");
        }
        None => {
            let _ = writeln!(
                out,
                "highest rate within SLO: none of the rate steps held it"
            );
        }
    }
    match sw.knee.latency_knee_rate {
        Some(r) => {
            let _ = writeln!(out, "latency climbs steeply beyond: {r:.2} req/s");
        }
        None => {
            let _ = writeln!(out, "latency knee: not reached in the ladder");
        }
    }
    if let Some(why) = &sw.stopped_early {
        let _ = writeln!(out, "stopped early: {why}");
    }
    let _ = writeln!(out, "({})", sw.knee.method);
    out
}
