//! A capacity sweep's settings: the scenario's `[sweep]` table with defaults and flag overrides,
//! how long each step must run to reach a steady state, used by the sweep procedure in the
//! engine, which also builds each step's plan.

use std::time::Duration;

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
