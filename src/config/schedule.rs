//! Arrival schedules: *when* each request is meant to be sent.
//!
//! This module owns the **intended** send times of a run and nothing else:
//!
//! * Open loop ([`OpenLoop`]): the intended send offset (a [`Duration`] since
//!   the run's start instant) of every arrival, as a pure, deterministic
//!   function of the arrival process ([`ArrivalProcess`]), the rate profile
//!   ([`RateProfile`]), the seed and an optional arrival cap. Gaps are drawn in
//!   a unit-rate "operational time" and mapped to wall time by inverting the
//!   cumulative rate Λ(t) = ∫ rate (time rescaling), so ramps and pauses need
//!   no special cases. Offsets come from a compensated running sum measured
//!   from the absolute start, never from "now", so they cannot drift.
//! * Sharding ([`shard`]): arrival `i` goes to shard `i % count`, so the union
//!   of all shards is exactly the unsharded schedule.
//! * Closed loop ([`ConcurrencyProfile`]): the target concurrency over time.
//! * Pacing ([`Pacer`]): sleeps until each intended instant and hands the
//!   arrival over; the only part that touches a clock (tokio's). It sleeps
//!   with [`crate::core::timer::Timer`] (a timerfd on Linux, µs precision) rather
//!   than tokio's 1 ms timer wheel.
//!
//! What it must **not** do: no I/O, no HTTP, no metrics, no reading of the
//! wall clock in the schedule itself (only [`Pacer`] looks at
//! [`tokio::time::Instant::now`], and only to decide whether to sleep). It
//! never skips an arrival and never "catches up" by moving offsets: when the
//! caller falls behind, [`Pacer::next`] returns late arrivals immediately, in
//! order, with their original intended instant; measuring lateness
//! (`actual - intended`, the coordinated-omission correction) is the caller's
//! job.

use std::future::Future;
use std::iter::FusedIterator;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp1, Gamma};
use tokio::time::Instant;

use crate::core::timer::Timer;

const ONE_NS: Duration = Duration::from_nanos(1);

/// Every way a schedule description can be invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// A rate profile was given no segments.
    #[error("rate profile has no segments; give at least one {{duration, start_rate, end_rate}} segment")]
    EmptyRateProfile,
    /// A rate is NaN, infinite or negative.
    #[error("rate segment {segment}: {field} = {value} is not a finite, non-negative number of requests/s")]
    InvalidRate {
        /// Zero-based index of the offending segment.
        segment: usize,
        /// Which field: `"start_rate"` or `"end_rate"`.
        field: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// A segment other than the last one has no duration.
    #[error("rate segment {segment} has no duration but is not the last one; only the final segment may be open-ended")]
    OpenEndedRateSegmentNotLast {
        /// Zero-based index of the offending segment.
        segment: usize,
    },
    /// The open-ended last segment has different start and end rates.
    #[error("rate segment {segment} is open-ended but ramps from {start_rate} to {end_rate} requests/s; an open-ended segment holds one rate (start_rate == end_rate), put the ramp in a segment of its own")]
    OpenEndedRateRamp {
        /// Zero-based index of the offending segment.
        segment: usize,
        /// Its start rate.
        start_rate: f64,
        /// Its end rate.
        end_rate: f64,
    },
    /// The open-ended last segment has rate 0: the run would idle forever.
    #[error("the open-ended final rate segment has rate 0, so the schedule would idle forever; give it a positive rate or a duration")]
    ZeroRateForever,
    /// Every segment has rate 0: the schedule would contain no arrivals.
    #[error(
        "every rate segment has rate 0 (or no duration), so the schedule would contain no arrivals"
    )]
    NoArrivals,
    /// Gamma burstiness is not a finite number > 0.
    #[error("gamma burstiness {burstiness} must be a finite number > 0 (1 = Poisson, < 1 burstier, > 1 smoother)")]
    InvalidBurstiness {
        /// The rejected value.
        burstiness: f64,
    },
    /// A concurrency profile was given no stages.
    #[error("concurrency profile has no stages; give at least one {{duration, start, end}} stage")]
    EmptyConcurrencyProfile,
    /// A stage other than the last one has no duration.
    #[error("concurrency stage {stage} has no duration but is not the last one; only the final stage may be open-ended")]
    OpenEndedStageNotLast {
        /// Zero-based index of the offending stage.
        stage: usize,
    },
    /// The open-ended last stage has different start and end concurrency.
    #[error("concurrency stage {stage} is open-ended but ramps from {start} to {end}; an open-ended stage holds one concurrency (start == end), put the ramp in a stage of its own")]
    OpenEndedStageRamp {
        /// Zero-based index of the offending stage.
        stage: usize,
        /// Its start concurrency.
        start: u32,
        /// Its end concurrency.
        end: u32,
    },
    /// Shard index out of range, or zero shards.
    #[error("shard index {index} is out of range for {count} shard(s); need count >= 1 and index < count")]
    InvalidShard {
        /// The requested shard index.
        index: u64,
        /// The requested shard count.
        count: u64,
    },
}

// ---------------------------------------------------------------------------
// Arrival process
// ---------------------------------------------------------------------------

/// Distribution of the gaps between arrivals, in unit-rate operational time
/// (mean gap 1; the [`RateProfile`] scales it to wall time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArrivalProcess {
    /// Evenly spaced: every gap is exactly 1 (CV 0).
    Constant,
    /// Poisson process: exponential gaps, mean 1, CV 1.
    Poisson,
    /// Gamma gaps with vLLM's convention: shape = `burstiness`, mean 1, so
    /// CV = 1/sqrt(burstiness). `1` is Poisson-like, `< 1` burstier,
    /// `> 1` smoother.
    Gamma {
        /// Gamma shape parameter; must be finite and > 0.
        burstiness: f64,
    },
}

impl ArrivalProcess {
    /// Checks the parameters (Gamma burstiness must be finite and > 0).
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match *self {
            ArrivalProcess::Gamma { burstiness }
                if !(burstiness.is_finite() && burstiness > 0.0) =>
            {
                Err(ScheduleError::InvalidBurstiness { burstiness })
            }
            _ => Ok(()),
        }
    }

    /// The coefficient of variation (std / mean) of the gaps this process
    /// produces at a constant rate.
    pub fn cv(&self) -> f64 {
        match *self {
            ArrivalProcess::Constant => 0.0,
            ArrivalProcess::Poisson => 1.0,
            ArrivalProcess::Gamma { burstiness } => 1.0 / burstiness.sqrt(),
        }
    }
}

#[derive(Debug, Clone)]
enum Sampler {
    Constant,
    Exp,
    Gamma(Gamma<f64>),
}

impl Sampler {
    fn new(process: ArrivalProcess) -> Result<Self, ScheduleError> {
        process.validate()?;
        Ok(match process {
            ArrivalProcess::Constant => Sampler::Constant,
            ArrivalProcess::Poisson => Sampler::Exp,
            ArrivalProcess::Gamma { burstiness } => Sampler::Gamma(
                Gamma::new(burstiness, 1.0 / burstiness)
                    .map_err(|_| ScheduleError::InvalidBurstiness { burstiness })?,
            ),
        })
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> f64 {
        match self {
            Sampler::Constant => 1.0,
            Sampler::Exp => Exp1.sample(rng),
            Sampler::Gamma(g) => g.sample(rng),
        }
    }
}

// ---------------------------------------------------------------------------
// Rate profile
// ---------------------------------------------------------------------------

/// One piece of a piecewise-linear rate profile, in requests/s.
///
/// The rate goes linearly from `start_rate` to `end_rate` over `duration`.
/// Both rates 0 is a pause. `duration: None` (only allowed for the last
/// segment, with `start_rate == end_rate`) continues forever at that rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateSegment {
    /// Length of the segment; `None` = open-ended (last segment only).
    pub duration: Option<Duration>,
    /// Rate at the start of the segment, requests/s.
    pub start_rate: f64,
    /// Rate at the end of the segment, requests/s.
    pub end_rate: f64,
}

impl RateSegment {
    /// A segment holding `rate` for `duration`.
    pub fn constant(rate: f64, duration: Duration) -> Self {
        Self {
            duration: Some(duration),
            start_rate: rate,
            end_rate: rate,
        }
    }

    /// A segment ramping linearly from `start_rate` to `end_rate` over `duration`.
    pub fn ramp(duration: Duration, start_rate: f64, end_rate: f64) -> Self {
        Self {
            duration: Some(duration),
            start_rate,
            end_rate,
        }
    }

    /// A pause (rate 0) of `duration`.
    pub fn pause(duration: Duration) -> Self {
        Self::constant(0.0, duration)
    }

    /// An open-ended segment holding `rate` forever (last segment only).
    pub fn open_ended(rate: f64) -> Self {
        Self {
            duration: None,
            start_rate: rate,
            end_rate: rate,
        }
    }
}

/// A validated segment with its absolute start and cumulative rate.
#[derive(Debug, Clone, PartialEq)]
struct RateSpan {
    start: Duration,
    /// `None` = open-ended.
    end: Option<Duration>,
    /// Length in seconds (`+inf` if open-ended).
    secs: f64,
    start_rate: f64,
    end_rate: f64,
    /// Λ at `start`.
    lambda_start: f64,
    /// Λ at `end` (`+inf` if open-ended; validation guarantees rate > 0 there).
    lambda_end: f64,
}

impl RateSpan {
    fn is_flat(&self) -> bool {
        self.end.is_none() || self.start_rate == self.end_rate
    }

    /// ∫ rate over the first `s` seconds of the span.
    fn integral(&self, s: f64) -> f64 {
        if self.is_flat() {
            self.end_rate * s
        } else {
            let s = s.min(self.secs);
            self.start_rate * s + (self.end_rate - self.start_rate) * s * s / (2.0 * self.secs)
        }
    }

    fn rate(&self, s: f64) -> f64 {
        if self.is_flat() {
            self.end_rate
        } else {
            let f = (s / self.secs).clamp(0.0, 1.0);
            self.start_rate + (self.end_rate - self.start_rate) * f
        }
    }

    /// Seconds `s` into the span at which the integral reaches `v`, for
    /// `0 <= v < lambda_end - lambda_start` (so the span's rate is not all 0).
    ///
    /// Solves `a s² + r0 s - v = 0` with `a = (r1 - r0) / (2 d)` using the
    /// cancellation-free form `s = 2v / (r0 + sqrt(r0² + 4 a v))`: both terms
    /// of the denominator are non-negative, for increasing and decreasing
    /// ramps alike.
    fn invert(&self, v: f64) -> f64 {
        if v <= 0.0 {
            return 0.0;
        }
        if self.is_flat() {
            return v / self.end_rate;
        }
        let r0 = self.start_rate;
        let a = (self.end_rate - r0) / (2.0 * self.secs);
        let disc = (r0 * r0 + 4.0 * a * v).max(0.0);
        let denom = r0 + disc.sqrt();
        if denom <= 0.0 || !denom.is_finite() {
            return 0.0;
        }
        (2.0 * v / denom).clamp(0.0, self.secs)
    }
}

/// A validated piecewise-linear rate profile (requests/s over time since the
/// run's start).
#[derive(Debug, Clone, PartialEq)]
pub struct RateProfile {
    segments: Vec<RateSegment>,
    spans: Vec<RateSpan>,
}

impl RateProfile {
    /// Validates and builds a profile: at least one segment; rates finite and
    /// `>= 0`; only the last segment may be open-ended, and then it must hold
    /// one positive rate; and the profile must contain some arrivals.
    pub fn new(segments: Vec<RateSegment>) -> Result<Self, ScheduleError> {
        if segments.is_empty() {
            return Err(ScheduleError::EmptyRateProfile);
        }
        let last = segments.len() - 1;
        let mut spans = Vec::with_capacity(segments.len());
        let mut start = Duration::ZERO;
        let mut lambda = 0.0_f64;
        for (i, seg) in segments.iter().enumerate() {
            for (field, value) in [("start_rate", seg.start_rate), ("end_rate", seg.end_rate)] {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(ScheduleError::InvalidRate {
                        segment: i,
                        field,
                        value,
                    });
                }
            }
            let span = match seg.duration {
                Some(d) => {
                    let secs = d.as_secs_f64();
                    let lambda_end = lambda + 0.5 * (seg.start_rate + seg.end_rate) * secs;
                    let end = start.checked_add(d).unwrap_or(Duration::MAX);
                    RateSpan {
                        start,
                        end: Some(end),
                        secs,
                        start_rate: seg.start_rate,
                        end_rate: seg.end_rate,
                        lambda_start: lambda,
                        lambda_end,
                    }
                }
                None => {
                    if i != last {
                        return Err(ScheduleError::OpenEndedRateSegmentNotLast { segment: i });
                    }
                    if seg.start_rate != seg.end_rate {
                        return Err(ScheduleError::OpenEndedRateRamp {
                            segment: i,
                            start_rate: seg.start_rate,
                            end_rate: seg.end_rate,
                        });
                    }
                    if seg.end_rate == 0.0 {
                        return Err(ScheduleError::ZeroRateForever);
                    }
                    RateSpan {
                        start,
                        end: None,
                        secs: f64::INFINITY,
                        start_rate: seg.start_rate,
                        end_rate: seg.end_rate,
                        lambda_start: lambda,
                        lambda_end: f64::INFINITY,
                    }
                }
            };
            start = span.end.unwrap_or(start);
            lambda = span.lambda_end;
            spans.push(span);
        }
        if lambda <= 0.0 {
            return Err(ScheduleError::NoArrivals);
        }
        Ok(Self { segments, spans })
    }

    /// A single segment at `rate` requests/s for `duration` (`None` =
    /// forever). `rate` must be finite and `> 0`.
    pub fn constant(rate: f64, duration: Option<Duration>) -> Result<Self, ScheduleError> {
        Self::new(vec![RateSegment {
            duration,
            start_rate: rate,
            end_rate: rate,
        }])
    }

    /// The segments this profile was built from.
    pub fn segments(&self) -> &[RateSegment] {
        &self.segments
    }

    /// Total length, or `None` if the last segment is open-ended.
    pub fn total_duration(&self) -> Option<Duration> {
        self.spans.last().and_then(|s| s.end)
    }

    /// Index of the span containing `t` (`start <= t < end`), or `len` if the
    /// profile has ended. Zero-length spans are never returned.
    fn span_index(&self, t: Duration) -> usize {
        self.spans
            .partition_point(|s| s.end.is_some_and(|e| e <= t))
    }

    /// Λ(t) = ∫₀ᵗ rate.
    fn cumulative(&self, t: Duration) -> f64 {
        match self.spans.get(self.span_index(t)) {
            Some(span) => span.lambda_start + span.integral((t - span.start).as_secs_f64()),
            None => self.spans.last().map_or(0.0, |s| s.lambda_end),
        }
    }

    /// The target rate (requests/s) at `t` since the start; 0 once a finite
    /// profile has ended. At a boundary the later segment's rate applies.
    pub fn rate_at(&self, t: Duration) -> f64 {
        self.spans
            .get(self.span_index(t))
            .map_or(0.0, |span| span.rate((t - span.start).as_secs_f64()))
    }

    /// Expected number of arrivals in `[from, to)`: ∫ rate over that window
    /// (0 if `to <= from`). Divide by the window length for the "offered
    /// rate" of a reporting window.
    pub fn expected_arrivals(&self, from: Duration, to: Duration) -> f64 {
        if to <= from {
            return 0.0;
        }
        (self.cumulative(to) - self.cumulative(from)).max(0.0)
    }
}

// ---------------------------------------------------------------------------
// Open loop
// ---------------------------------------------------------------------------

/// An open-loop schedule: arrivals at intended times regardless of how fast
/// the server answers.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenLoop {
    /// Gap distribution.
    pub arrival: ArrivalProcess,
    /// Rate over time; the schedule ends when a finite profile ends.
    pub profile: RateProfile,
    /// RNG seed; the same seed always gives the same offsets.
    pub seed: u64,
    /// Stop after this many arrivals (across all shards), if set.
    pub max_arrivals: Option<u64>,
}

impl OpenLoop {
    /// Builds a schedule after validating `arrival` (the profile is already
    /// validated by construction).
    pub fn new(
        arrival: ArrivalProcess,
        profile: RateProfile,
        seed: u64,
        max_arrivals: Option<u64>,
    ) -> Result<Self, ScheduleError> {
        arrival.validate()?;
        Ok(Self {
            arrival,
            profile,
            seed,
            max_arrivals,
        })
    }

    /// Checks the (public, hence unchecked) fields; see [`ArrivalProcess::validate`].
    pub fn validate(&self) -> Result<(), ScheduleError> {
        self.arrival.validate()
    }

    /// The intended send offsets, in order, from the run's start.
    ///
    /// Deterministic per seed, O(1) memory in the number of arrivals, and
    /// infinite if the profile is open-ended and `max_arrivals` is `None`.
    /// The first arrival is at operational time 0 (i.e. at the start, or at
    /// the end of a leading pause); arrival `i + 1` follows it by one gap.
    ///
    /// # Panics
    /// If `arrival` is invalid (Gamma burstiness not finite and > 0); build
    /// with [`OpenLoop::new`] or check [`OpenLoop::validate`] first.
    pub fn offsets(&self) -> Offsets {
        let sampler = match Sampler::new(self.arrival) {
            Ok(s) => s,
            Err(e) => panic!("invalid open-loop schedule: {e}"),
        };
        Offsets {
            spans: self.profile.spans.clone(),
            sampler,
            rng: ChaCha8Rng::seed_from_u64(self.seed),
            span: 0,
            sum: 0.0,
            comp: 0.0,
            last: Duration::ZERO,
            emitted: 0,
            max: self.max_arrivals,
            done: false,
        }
    }

    /// `(global_index, offset)` pairs of the whole (unsharded) schedule; the
    /// same as `shard(self.offsets(), 0, 1)`, and just as cheap as
    /// `offsets().enumerate()`.
    ///
    /// # Panics
    /// As [`OpenLoop::offsets`].
    pub fn indexed(&self) -> Shard {
        shard(self.offsets(), 0, 1)
    }

    /// The arrivals of shard `index` of `count` (arrival `i` goes to shard
    /// `i % count`), or an error if `count == 0` or `index >= count`.
    ///
    /// # Panics
    /// As [`OpenLoop::offsets`].
    pub fn sharded(&self, index: u64, count: u64) -> Result<Shard, ScheduleError> {
        Shard::new(self.offsets(), index, count)
    }
}

/// Iterator over intended send offsets; see [`OpenLoop::offsets`].
#[derive(Debug)]
pub struct Offsets {
    spans: Vec<RateSpan>,
    sampler: Sampler,
    rng: ChaCha8Rng,
    /// Index of the span the next arrival is searched from (monotone).
    span: usize,
    /// Operational time of the next arrival: `sum + comp` (Neumaier sum).
    sum: f64,
    comp: f64,
    /// Last offset returned (offsets are forced non-decreasing).
    last: Duration,
    emitted: u64,
    max: Option<u64>,
    done: bool,
}

// The generator has no `Clone` (a copied stream is easy to reuse by accident); a copy of an
// iterator must continue the same draws, so the state is carried over explicitly.
impl Clone for Offsets {
    fn clone(&self) -> Self {
        Self {
            spans: self.spans.clone(),
            sampler: self.sampler.clone(),
            rng: ChaCha8Rng::deserialize_state(&self.rng.serialize_state()),
            span: self.span,
            sum: self.sum,
            comp: self.comp,
            last: self.last,
            emitted: self.emitted,
            max: self.max,
            done: self.done,
        }
    }
}

impl Offsets {
    fn add_gap(&mut self, gap: f64) {
        let t = self.sum + gap;
        if self.sum.abs() >= gap.abs() {
            self.comp += (self.sum - t) + gap;
        } else {
            self.comp += (gap - t) + self.sum;
        }
        self.sum = t;
    }

    fn finish(&mut self) -> Option<Duration> {
        self.done = true;
        None
    }
}

impl Iterator for Offsets {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.done {
            return None;
        }
        if self.max.is_some_and(|m| self.emitted >= m) {
            return self.finish();
        }
        let u = self.sum + self.comp;
        // Skip spans the operational time has passed (pauses have
        // lambda_end == lambda_start, so they are always skipped).
        while self.spans.get(self.span).is_some_and(|s| u >= s.lambda_end) {
            self.span += 1;
        }
        let Some(span) = self.spans.get(self.span) else {
            return self.finish(); // a finite profile has ended
        };
        let s = span.invert((u - span.lambda_start).max(0.0));
        let Ok(mut within) = Duration::try_from_secs_f64(s) else {
            return self.finish(); // beyond what a Duration can hold
        };
        if let Some(end) = span.end {
            // Stay inside [start, end) despite rounding.
            within = within.min((end - span.start).saturating_sub(ONE_NS));
        }
        let Some(offset) = span.start.checked_add(within) else {
            return self.finish();
        };
        let offset = offset.max(self.last);
        self.last = offset;
        self.emitted += 1;
        let gap = self.sampler.sample(&mut self.rng);
        self.add_gap(gap);
        Some(offset)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        let upper = self
            .max
            .and_then(|m| usize::try_from(m.saturating_sub(self.emitted)).ok());
        (0, upper)
    }
}

impl FusedIterator for Offsets {}

/// Shard `index` of `count`: arrival `i` of the global schedule is this shard's when
/// `i % count == index`; closed-loop concurrency and the in-flight cap are split with
/// [`ShardPart::share`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardPart {
    /// 0-based index.
    pub index: u32,
    /// Number of shards (≥ 1).
    pub count: u32,
}

impl ShardPart {
    /// The whole run.
    pub const WHOLE: ShardPart = ShardPart { index: 0, count: 1 };

    /// This shard's share of `n` (workers, slots): ⌊n / count⌋, plus one for the first
    /// `n mod count` shards, so the shares always add up to `n` exactly.
    pub fn share(&self, n: u32) -> u32 {
        n / self.count + u32::from(self.index < n % self.count)
    }

    /// Whether global arrival (or closed-loop request) `i` is this shard's.
    pub fn owns(&self, i: u64) -> bool {
        i % self.count as u64 == self.index as u64
    }
}

/// `(global_index, offset)` pairs of one shard; see [`shard`].
#[derive(Debug, Clone)]
pub struct Shard {
    offsets: Offsets,
    index: u64,
    count: u64,
    next_global: u64,
}

impl Shard {
    /// Shard `index` of `count` over `offsets` (arrival `i` goes to shard
    /// `i % count`), or an error if `count == 0` or `index >= count`.
    pub fn new(offsets: Offsets, index: u64, count: u64) -> Result<Self, ScheduleError> {
        if count == 0 || index >= count {
            return Err(ScheduleError::InvalidShard { index, count });
        }
        Ok(Self {
            offsets,
            index,
            count,
            next_global: 0,
        })
    }
}

impl Iterator for Shard {
    type Item = (u64, Duration);

    fn next(&mut self) -> Option<(u64, Duration)> {
        loop {
            let offset = self.offsets.next()?;
            let i = self.next_global;
            self.next_global += 1;
            if i % self.count == self.index {
                return Some((i, offset));
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (_, upper) = self.offsets.size_hint();
        (0, upper)
    }
}

impl FusedIterator for Shard {}

/// Splits a schedule for distributed runs: arrival `i` goes to shard
/// `i % count`; yields `(global_index, offset)`. The union of all shards is
/// exactly the unsharded schedule (`max_arrivals` is global). `shard(o, 0, 1)`
/// is the cheap unsharded case.
///
/// # Panics
/// If `count == 0` or `index >= count`; use [`Shard::new`] or
/// [`OpenLoop::sharded`] for a `Result`.
pub fn shard(offsets: Offsets, index: u64, count: u64) -> Shard {
    match Shard::new(offsets, index, count) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

// ---------------------------------------------------------------------------
// Closed loop
// ---------------------------------------------------------------------------

/// One stage of a closed-loop concurrency profile: concurrency goes linearly
/// from `start` to `end` over `duration` (rounded to the nearest integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencyStage {
    /// Length of the stage; `None` = open-ended (last stage only).
    pub duration: Option<Duration>,
    /// Concurrency at the start of the stage.
    pub start: u32,
    /// Concurrency at the end of the stage.
    pub end: u32,
}

impl ConcurrencyStage {
    /// A stage holding `concurrency` for `duration` (`None` = forever).
    pub fn constant(concurrency: u32, duration: Option<Duration>) -> Self {
        Self {
            duration,
            start: concurrency,
            end: concurrency,
        }
    }

    /// A stage ramping linearly from `start` to `end` over `duration`.
    pub fn ramp(duration: Duration, start: u32, end: u32) -> Self {
        Self {
            duration: Some(duration),
            start,
            end,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct StageSpan {
    start: Duration,
    end: Option<Duration>,
    from: u32,
    to: u32,
}

impl StageSpan {
    fn value(&self, t: Duration) -> u32 {
        let Some(end) = self.end else { return self.to };
        if self.from == self.to {
            return self.from;
        }
        let frac = (t - self.start).as_secs_f64() / (end - self.start).as_secs_f64();
        let v = f64::from(self.from) + (f64::from(self.to) - f64::from(self.from)) * frac;
        let (lo, hi) = (self.from.min(self.to), self.from.max(self.to));
        // In range [lo, hi] after the clamp, so the cast cannot truncate.
        (v.round().clamp(f64::from(lo), f64::from(hi))) as u32
    }
}

/// A validated closed-loop profile: target concurrency over time since the
/// run's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrencyProfile {
    stages: Vec<ConcurrencyStage>,
    spans: Vec<StageSpan>,
}

impl ConcurrencyProfile {
    /// Validates and builds a profile: at least one stage; only the last may
    /// be open-ended, and then it must hold one value (`start == end`).
    pub fn new(stages: Vec<ConcurrencyStage>) -> Result<Self, ScheduleError> {
        if stages.is_empty() {
            return Err(ScheduleError::EmptyConcurrencyProfile);
        }
        let last = stages.len() - 1;
        let mut spans = Vec::with_capacity(stages.len());
        let mut start = Duration::ZERO;
        for (i, st) in stages.iter().enumerate() {
            let end = match st.duration {
                Some(d) => Some(start.checked_add(d).unwrap_or(Duration::MAX)),
                None if i != last => return Err(ScheduleError::OpenEndedStageNotLast { stage: i }),
                None if st.start != st.end => {
                    return Err(ScheduleError::OpenEndedStageRamp {
                        stage: i,
                        start: st.start,
                        end: st.end,
                    })
                }
                None => None,
            };
            spans.push(StageSpan {
                start,
                end,
                from: st.start,
                to: st.end,
            });
            start = end.unwrap_or(start);
        }
        Ok(Self { stages, spans })
    }

    /// A single stage of `n` for `duration` (`None` = forever). `n == 0` is
    /// allowed (nothing in flight); the run must then be bounded elsewhere.
    pub fn constant(n: u32, duration: Option<Duration>) -> Self {
        let stage = ConcurrencyStage::constant(n, duration);
        Self {
            stages: vec![stage],
            spans: vec![StageSpan {
                start: Duration::ZERO,
                end: duration,
                from: n,
                to: n,
            }],
        }
    }

    /// The stages this profile was built from.
    pub fn stages(&self) -> &[ConcurrencyStage] {
        &self.stages
    }

    fn span_index(&self, t: Duration) -> usize {
        self.spans
            .partition_point(|s| s.end.is_some_and(|e| e <= t))
    }

    /// Target concurrency at `t` since the start, or `None` once the profile
    /// has ended. At a boundary the later stage applies.
    pub fn at(&self, t: Duration) -> Option<u32> {
        self.spans.get(self.span_index(t)).map(|s| s.value(t))
    }

    /// The largest target concurrency anywhere in the profile (the number of
    /// workers to spawn).
    pub fn max(&self) -> u32 {
        self.stages
            .iter()
            .map(|s| s.start.max(s.end))
            .max()
            .unwrap_or(0)
    }

    /// Total length, or `None` if the last stage is open-ended.
    pub fn total_duration(&self) -> Option<Duration> {
        self.spans.last().and_then(|s| s.end)
    }

    /// The earliest instant `> t` at which [`at`](Self::at) may differ from
    /// `at(t)` (a stage boundary, the end of the profile, or the next integer
    /// step of a ramp), so idle workers know when to wake. `None` if the target
    /// never changes again (open-ended last stage) or the profile has ended.
    /// The answer may be conservative (a boundary where the value happens to
    /// stay the same) but is always strictly after `t`.
    pub fn next_change_after(&self, t: Duration) -> Option<Duration> {
        let span = self.spans.get(self.span_index(t))?;
        let end = span.end?;
        if span.from == span.to {
            return Some(end);
        }
        let cur = f64::from(span.value(t));
        let (from, to) = (f64::from(span.from), f64::from(span.to));
        // The rounded value changes when the linear value crosses cur ± 0.5.
        let target = if to > from { cur + 0.5 } else { cur - 0.5 };
        let frac = (target - from) / (to - from);
        let secs = frac * (end - span.start).as_secs_f64();
        let when = Duration::try_from_secs_f64(secs.max(0.0))
            .ok()
            .and_then(|d| span.start.checked_add(d))
            .and_then(|d| d.checked_add(ONE_NS))
            .map_or(end, |d| d.min(end));
        Some(when.max(t.saturating_add(ONE_NS)))
    }
}

// ---------------------------------------------------------------------------
// Pacer
// ---------------------------------------------------------------------------

/// One arrival handed out by a [`Pacer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Global arrival index (0-based, across all shards).
    pub index: u64,
    /// Intended offset since the run's start.
    pub offset: Duration,
    /// Intended send instant (`start + offset`); lateness is `now - intended`.
    pub intended: Instant,
}

/// After this many consecutive late (immediate) ticks the pacer yields to the
/// runtime once, so a long catch-up cannot starve other tasks. It never
/// changes which arrivals are returned or their intended instants.
const LATE_YIELD_EVERY: u32 = 64;

/// Sleeps until each intended instant (`start + offset`) and hands the arrival
/// to the caller. Late arrivals are returned immediately, in order, with their
/// original intended instant: nothing is skipped and nothing is re-timed.
#[derive(Debug)]
pub struct Pacer<I: Iterator<Item = (u64, Duration)>> {
    start: Instant,
    arrivals: I,
    /// The arrival being waited for; kept across cancellation.
    pending: Option<Tick>,
    late_streak: u32,
    done: bool,
    /// Sleeps to each intended instant with µs precision (tokio's timer rounds up to 1 ms).
    timer: Timer,
}

impl<I: Iterator<Item = (u64, Duration)>> Pacer<I> {
    /// A pacer for `arrivals` (`(global_index, offset)` pairs, e.g. from
    /// [`OpenLoop::indexed`] or [`shard`]) measured from `start`.
    pub fn new(start: Instant, arrivals: I) -> Self {
        Self {
            start,
            arrivals,
            pending: None,
            late_streak: 0,
            done: false,
            timer: Timer::new(),
        }
    }

    /// The run's start instant that offsets are measured from.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Waits until the next arrival's intended instant (not at all if it has
    /// passed) and returns it; `None` when the schedule is exhausted.
    ///
    /// Cancel-safe: if the returned future is dropped before completing, the
    /// same arrival is returned by the next call.
    pub async fn next(&mut self) -> Option<Tick> {
        let tick = match self.pending {
            Some(tick) => tick,
            None => {
                if self.done {
                    return None;
                }
                let next = self.arrivals.next().and_then(|(index, offset)| {
                    let intended = self.start.checked_add(offset)?;
                    Some(Tick {
                        index,
                        offset,
                        intended,
                    })
                });
                let Some(tick) = next else {
                    self.done = true;
                    return None;
                };
                self.pending = Some(tick);
                tick
            }
        };
        if Instant::now() < tick.intended {
            self.late_streak = 0;
            self.timer.sleep_until(tick.intended).await;
        } else {
            self.late_streak += 1;
            if self.late_streak >= LATE_YIELD_EVERY {
                self.late_streak = 0;
                YieldNow { yielded: false }.await;
            }
        }
        self.pending = None;
        Some(tick)
    }
}

/// Returns `Pending` once (waking itself), then `Ready`: a runtime-agnostic
/// `yield_now` (tokio's needs the `rt` feature).
struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            Poll::Ready(())
        } else {
            self.yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn open(
        arrival: ArrivalProcess,
        profile: RateProfile,
        seed: u64,
        max: Option<u64>,
    ) -> OpenLoop {
        OpenLoop::new(arrival, profile, seed, max).expect("valid schedule")
    }

    /// (arrivals per second over the whole schedule, CV of the gaps)
    fn rate_and_cv(offsets: &[Duration]) -> (f64, f64) {
        let gaps: Vec<f64> = offsets
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        let n = gaps.len() as f64;
        let mean = gaps.iter().sum::<f64>() / n;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (n - 1.0);
        (1.0 / mean, var.sqrt() / mean)
    }

    fn within(actual: f64, expected: f64, rel: f64) -> bool {
        (actual - expected).abs() <= rel * expected.abs()
    }

    // ---- pacing -----------------------------------------------------------

    #[tokio::test(start_paused = true)]
    async fn pacer_constant_333_no_drift() {
        let sched = open(
            ArrivalProcess::Constant,
            RateProfile::constant(333.0, None).unwrap(),
            1,
            Some(10_000),
        );
        let start = Instant::now();
        let mut pacer = Pacer::new(start, sched.indexed());
        let mut n = 0u64;
        let mut max_err = Duration::ZERO;
        while let Some(tick) = pacer.next().await {
            let now = Instant::now();
            assert_eq!(tick.index, n);
            assert!(now >= tick.intended, "woke before intended at {n}");
            let err = now - tick.intended;
            assert!(
                err <= Duration::from_millis(1),
                "arrival {n} woke {err:?} late"
            );
            max_err = max_err.max(err);
            // No drift: every intended offset is i/333 s, not a sum of sleeps.
            let exact = n as f64 / 333.0;
            assert!(
                (tick.offset.as_secs_f64() - exact).abs() < 1e-6,
                "offset {n} drifted"
            );
            assert_eq!(tick.intended, start + tick.offset);
            n += 1;
        }
        assert_eq!(n, 10_000);
        let last = sched.offsets().last().unwrap();
        assert!((last.as_secs_f64() - 9_999.0 / 333.0).abs() < 1e-6);
        assert!(max_err <= Duration::from_millis(1));
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_poisson_wake_times_match_rate() {
        let sched = open(
            ArrivalProcess::Poisson,
            RateProfile::constant(50.0, None).unwrap(),
            42,
            Some(20_000),
        );
        let start = Instant::now();
        let mut pacer = Pacer::new(start, sched.indexed());
        let mut wakes = Vec::with_capacity(20_000);
        while let Some(tick) = pacer.next().await {
            let now = Instant::now();
            let err = now - tick.intended; // panics if woke early
            assert!(err <= Duration::from_millis(1));
            wakes.push(now - start);
        }
        assert_eq!(wakes.len(), 20_000);
        let (rate, cv) = rate_and_cv(&wakes);
        assert!(within(rate, 50.0, 0.03), "wake rate {rate}");
        let (intended_rate, _) = rate_and_cv(&sched.offsets().collect::<Vec<_>>());
        assert!(
            within(rate, intended_rate, 0.001),
            "wake rate {rate} vs intended {intended_rate}"
        );
        // 1 ms timer granularity barely touches a 20 ms mean gap.
        assert!(within(cv, 1.0, 0.05), "wake cv {cv}");
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_late_returns_immediately_in_order() {
        let sched = open(
            ArrivalProcess::Constant,
            RateProfile::constant(1000.0, None).unwrap(),
            0,
            Some(2_000),
        );
        let start = Instant::now();
        let mut pacer = Pacer::new(start, sched.indexed());
        tokio::time::advance(Duration::from_secs(1)).await;
        let late_at = Instant::now();
        // The first 1000 arrivals (offsets 0..999 ms) are all late: returned at
        // once, none skipped, intended instants untouched.
        for i in 0..1000u64 {
            let tick = pacer.next().await.unwrap();
            assert_eq!(tick.index, i);
            assert_eq!(Instant::now(), late_at, "a late arrival waited");
            assert_eq!(tick.intended, start + Duration::from_millis(i));
        }
        let tick = pacer.next().await.unwrap();
        assert_eq!(tick.index, 1000);
        assert_eq!(tick.intended, start + Duration::from_secs(1));
        let tick = pacer.next().await.unwrap();
        assert_eq!(tick.index, 1001);
        assert!(Instant::now() >= tick.intended);
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_is_cancel_safe() {
        let sched = open(
            ArrivalProcess::Constant,
            RateProfile::constant(1.0, None).unwrap(),
            0,
            Some(3),
        );
        let start = Instant::now();
        let mut pacer = Pacer::new(start, sched.indexed());
        assert_eq!(pacer.next().await.unwrap().index, 0);
        // Cancel the wait for arrival 1 (due at 1 s) after 100 ms.
        let r = tokio::time::timeout(Duration::from_millis(100), pacer.next()).await;
        assert!(r.is_err());
        let tick = pacer.next().await.unwrap();
        assert_eq!(tick.index, 1);
        assert!(Instant::now() >= start + Duration::from_secs(1));
        assert_eq!(pacer.next().await.unwrap().index, 2);
        assert_eq!(pacer.next().await, None);
        assert_eq!(pacer.next().await, None);
    }

    /// On a running clock the pacer sleeps on the precise timer: still never early, still in
    /// order, and cancel-safe across a dropped wait.
    #[tokio::test]
    async fn pacer_on_real_time_is_never_early() {
        let sched = open(
            ArrivalProcess::Poisson,
            RateProfile::constant(2000.0, None).unwrap(),
            7,
            Some(200),
        );
        // Start 20 ms ahead so at least the first arrival has to be waited for.
        let start = Instant::now() + Duration::from_millis(20);
        let mut pacer = Pacer::new(start, sched.indexed());
        let mut n = 0u64;
        loop {
            // Drop every third wait after one poll: the same arrival must come back.
            if n % 3 == 1 {
                use futures_util::FutureExt;
                if let Some(t) = pacer.next().now_or_never() {
                    let tick = t.unwrap();
                    assert_eq!(tick.index, n);
                    assert!(Instant::now() >= tick.intended);
                    n += 1;
                    continue;
                }
            }
            let Some(tick) = pacer.next().await else {
                break;
            };
            let now = Instant::now();
            assert_eq!(tick.index, n);
            assert!(
                now >= tick.intended,
                "arrival {n} {:?} early",
                tick.intended - now
            );
            assert_eq!(tick.intended, start + tick.offset);
            n += 1;
        }
        assert_eq!(n, 200);
        assert!(start.elapsed() < Duration::from_secs(10));
        assert_eq!(pacer.timer.is_precise(), cfg!(target_os = "linux"));
    }

    // ---- statistics -------------------------------------------------------

    fn check_process(arrival: ArrivalProcess, seed: u64) {
        let sched = open(
            arrival,
            RateProfile::constant(50.0, None).unwrap(),
            seed,
            Some(20_000),
        );
        let offsets: Vec<Duration> = sched.offsets().collect();
        assert_eq!(offsets.len(), 20_000);
        let (rate, cv) = rate_and_cv(&offsets);
        assert!(within(rate, 50.0, 0.03), "{arrival:?}: rate {rate}");
        assert!(
            within(cv, arrival.cv(), 0.05),
            "{arrival:?}: cv {cv}, expected {}",
            arrival.cv()
        );
    }

    #[test]
    fn poisson_rate_and_cv() {
        check_process(ArrivalProcess::Poisson, 11);
    }

    #[test]
    fn gamma_bursty_rate_and_cv() {
        check_process(ArrivalProcess::Gamma { burstiness: 0.25 }, 12);
    }

    #[test]
    fn gamma_smooth_rate_and_cv() {
        check_process(ArrivalProcess::Gamma { burstiness: 4.0 }, 13);
    }

    #[test]
    fn constant_process_is_exact() {
        let sched = open(
            ArrivalProcess::Constant,
            RateProfile::constant(50.0, None).unwrap(),
            0,
            Some(1000),
        );
        for (i, off) in sched.offsets().enumerate() {
            assert!((off.as_secs_f64() - i as f64 / 50.0).abs() < 1e-9);
        }
    }

    // ---- profiles ---------------------------------------------------------

    fn count_in(offsets: &[Duration], from: Duration, to: Duration) -> usize {
        offsets.iter().filter(|o| **o >= from && **o < to).count()
    }

    #[test]
    fn ramp_0_to_100_over_10s() {
        let profile = RateProfile::new(vec![RateSegment::ramp(secs(10.0), 0.0, 100.0)]).unwrap();
        assert!((profile.expected_arrivals(Duration::ZERO, secs(10.0)) - 500.0).abs() < 1e-9);
        assert!((profile.expected_arrivals(Duration::ZERO, secs(5.0)) - 125.0).abs() < 1e-9);
        assert_eq!(profile.total_duration(), Some(secs(10.0)));

        // Constant gaps: exactly Λ(T) arrivals, split 125 / 375.
        let c: Vec<_> = open(ArrivalProcess::Constant, profile.clone(), 0, None)
            .offsets()
            .collect();
        assert_eq!(c.len(), 500);
        assert_eq!(count_in(&c, Duration::ZERO, secs(5.0)), 125);
        assert_eq!(count_in(&c, secs(5.0), secs(10.0)), 375);
        assert!(c.windows(2).all(|w| w[0] <= w[1]));
        assert!(c.iter().all(|o| *o < secs(10.0)));

        // Poisson over 100 seeds: ≈ 500 each, ≈ 3:1.
        let (mut first, mut second) = (0usize, 0usize);
        for seed in 0..100 {
            let p: Vec<_> = open(ArrivalProcess::Poisson, profile.clone(), seed, None)
                .offsets()
                .collect();
            assert!(p.iter().all(|o| *o < secs(10.0)));
            first += count_in(&p, Duration::ZERO, secs(5.0));
            second += count_in(&p, secs(5.0), secs(10.0));
        }
        let total = (first + second) as f64 / 100.0;
        assert!(within(total, 500.0, 0.02), "mean arrivals {total}");
        let ratio = second as f64 / first as f64;
        assert!((ratio - 3.0).abs() < 0.2, "second/first = {ratio}");
    }

    #[test]
    fn decreasing_ramp_to_zero() {
        let profile = RateProfile::new(vec![RateSegment::ramp(secs(10.0), 100.0, 0.0)]).unwrap();
        let c: Vec<_> = open(ArrivalProcess::Constant, profile.clone(), 0, None)
            .offsets()
            .collect();
        assert_eq!(c.len(), 500);
        assert_eq!(count_in(&c, Duration::ZERO, secs(5.0)), 375);
        assert!(c.windows(2).all(|w| w[0] <= w[1]));
        assert!(c.iter().all(|o| *o < secs(10.0)));
        for (i, o) in c.iter().enumerate() {
            let lam = profile.expected_arrivals(Duration::ZERO, *o);
            assert!((lam - i as f64).abs() < 1e-4, "arrival {i}: Λ = {lam}");
        }
    }

    #[test]
    fn pause_has_no_arrivals() {
        let profile = RateProfile::new(vec![
            RateSegment::constant(10.0, secs(2.0)),
            RateSegment::pause(secs(3.0)),
            RateSegment::constant(10.0, secs(2.0)),
        ])
        .unwrap();
        assert_eq!(profile.rate_at(secs(3.0)), 0.0);
        assert_eq!(profile.expected_arrivals(secs(2.0), secs(5.0)), 0.0);
        let c: Vec<_> = open(ArrivalProcess::Constant, profile.clone(), 0, None)
            .offsets()
            .collect();
        assert_eq!(c.len(), 40);
        assert_eq!(count_in(&c, secs(2.0), secs(5.0)), 0);
        assert_eq!(c[20], secs(5.0));
        for seed in 0..5 {
            for arrival in [
                ArrivalProcess::Poisson,
                ArrivalProcess::Gamma { burstiness: 0.25 },
            ] {
                let p: Vec<_> = open(arrival, profile.clone(), seed, None)
                    .offsets()
                    .collect();
                assert_eq!(
                    count_in(&p, secs(2.0), secs(5.0)),
                    0,
                    "{arrival:?} seed {seed}"
                );
                assert!(p.iter().all(|o| *o < secs(7.0)));
            }
        }
    }

    #[test]
    fn leading_pause_starts_at_its_end() {
        let profile = RateProfile::new(vec![
            RateSegment::pause(secs(1.5)),
            RateSegment::open_ended(4.0),
        ])
        .unwrap();
        let c: Vec<_> = open(ArrivalProcess::Constant, profile.clone(), 0, Some(3))
            .offsets()
            .collect();
        assert_eq!(c, vec![secs(1.5), secs(1.75), secs(2.0)]);
        let p: Vec<_> = open(ArrivalProcess::Poisson, profile, 3, Some(100))
            .offsets()
            .collect();
        assert!(p.iter().all(|o| *o >= secs(1.5)));
    }

    #[test]
    fn rate_at_and_expected_arrivals() {
        let profile = RateProfile::new(vec![
            RateSegment::ramp(secs(10.0), 0.0, 100.0),
            RateSegment {
                duration: None,
                start_rate: 50.0,
                end_rate: 50.0,
            },
        ])
        .unwrap();
        assert_eq!(profile.total_duration(), None);
        assert_eq!(profile.rate_at(Duration::ZERO), 0.0);
        assert!((profile.rate_at(secs(5.0)) - 50.0).abs() < 1e-9);
        assert!((profile.rate_at(secs(9.999)) - 99.99).abs() < 1e-6);
        assert_eq!(profile.rate_at(secs(10.0)), 50.0);
        assert_eq!(profile.rate_at(secs(1e6)), 50.0);
        assert!((profile.expected_arrivals(Duration::ZERO, secs(10.0)) - 500.0).abs() < 1e-9);
        assert!((profile.expected_arrivals(secs(10.0), secs(20.0)) - 500.0).abs() < 1e-9);
        assert!(
            (profile.expected_arrivals(secs(8.0), secs(12.0)) - (500.0 - 320.0 + 100.0)).abs()
                < 1e-9
        );
        assert_eq!(profile.expected_arrivals(secs(5.0), secs(5.0)), 0.0);
        assert_eq!(profile.expected_arrivals(secs(6.0), secs(5.0)), 0.0);

        let finite = RateProfile::constant(10.0, Some(secs(3.0))).unwrap();
        assert_eq!(finite.total_duration(), Some(secs(3.0)));
        assert_eq!(finite.rate_at(secs(3.0)), 0.0);
        assert!((finite.expected_arrivals(secs(1.0), secs(100.0)) - 20.0).abs() < 1e-9);
        assert_eq!(finite.expected_arrivals(secs(4.0), secs(100.0)), 0.0);
        assert_eq!(finite.segments().len(), 1);
    }

    // ---- determinism, limits, validation ----------------------------------

    #[test]
    fn determinism() {
        let profile = RateProfile::new(vec![
            RateSegment::ramp(secs(5.0), 10.0, 80.0),
            RateSegment::open_ended(80.0),
        ])
        .unwrap();
        for arrival in [
            ArrivalProcess::Poisson,
            ArrivalProcess::Gamma { burstiness: 0.5 },
        ] {
            let a: Vec<_> = open(arrival, profile.clone(), 7, Some(1000))
                .offsets()
                .collect();
            let b: Vec<_> = open(arrival, profile.clone(), 7, Some(1000))
                .offsets()
                .collect();
            let c: Vec<_> = open(arrival, profile.clone(), 8, Some(1000))
                .offsets()
                .collect();
            assert_eq!(a, b);
            assert_ne!(a, c);
            // A clone mid-way continues identically.
            let mut it = open(arrival, profile.clone(), 7, Some(1000)).offsets();
            it.by_ref().take(300).for_each(drop);
            let rest: Vec<_> = it.clone().collect();
            assert_eq!(rest, a[300..]);
            assert_eq!(it.collect::<Vec<_>>(), a[300..]);
        }
    }

    #[test]
    fn max_arrivals_and_fused() {
        let forever = RateProfile::constant(100.0, None).unwrap();
        let mut it = open(ArrivalProcess::Poisson, forever.clone(), 1, Some(5)).offsets();
        assert_eq!(it.size_hint(), (0, Some(5)));
        assert_eq!(it.by_ref().count(), 5);
        assert_eq!(it.next(), None);
        assert_eq!(
            open(ArrivalProcess::Poisson, forever.clone(), 1, Some(0))
                .offsets()
                .count(),
            0
        );
        // Open-ended without a cap keeps going.
        assert_eq!(
            open(ArrivalProcess::Poisson, forever, 1, None)
                .offsets()
                .take(10_000)
                .count(),
            10_000
        );
        // A finite profile ends before the cap.
        let finite = RateProfile::constant(10.0, Some(secs(1.0))).unwrap();
        assert_eq!(
            open(ArrivalProcess::Constant, finite.clone(), 1, Some(1000))
                .offsets()
                .count(),
            10
        );
        let mut it = open(ArrivalProcess::Constant, finite, 1, None).offsets();
        assert_eq!(it.by_ref().count(), 10);
        assert_eq!(it.next(), None);
        assert_eq!(it.size_hint(), (0, Some(0)));
    }

    #[test]
    fn invalid_profiles_rejected() {
        use ScheduleError as E;
        let d = Some(secs(1.0));
        let seg = |duration, start_rate, end_rate| RateSegment {
            duration,
            start_rate,
            end_rate,
        };
        assert_eq!(RateProfile::new(vec![]), Err(E::EmptyRateProfile));
        assert!(matches!(
            RateProfile::new(vec![seg(d, f64::NAN, 1.0)]),
            Err(E::InvalidRate {
                segment: 0,
                field: "start_rate",
                ..
            })
        ));
        assert!(matches!(
            RateProfile::new(vec![seg(d, 1.0, 1.0), seg(d, 1.0, -1.0)]),
            Err(E::InvalidRate {
                segment: 1,
                field: "end_rate",
                ..
            })
        ));
        assert!(matches!(
            RateProfile::new(vec![seg(d, f64::INFINITY, 1.0)]),
            Err(E::InvalidRate { .. })
        ));
        assert_eq!(
            RateProfile::new(vec![seg(None, 1.0, 1.0), seg(d, 1.0, 1.0)]),
            Err(E::OpenEndedRateSegmentNotLast { segment: 0 })
        );
        assert_eq!(
            RateProfile::new(vec![seg(d, 1.0, 1.0), seg(None, 1.0, 2.0)]),
            Err(E::OpenEndedRateRamp {
                segment: 1,
                start_rate: 1.0,
                end_rate: 2.0
            })
        );
        assert_eq!(
            RateProfile::new(vec![seg(d, 5.0, 5.0), seg(None, 0.0, 0.0)]),
            Err(E::ZeroRateForever)
        );
        assert_eq!(
            RateProfile::new(vec![seg(d, 0.0, 0.0), seg(d, 0.0, 0.0)]),
            Err(E::NoArrivals)
        );
        assert_eq!(
            RateProfile::new(vec![seg(Some(Duration::ZERO), 5.0, 5.0)]),
            Err(E::NoArrivals)
        );
        assert_eq!(RateProfile::constant(0.0, None), Err(E::ZeroRateForever));
        assert_eq!(RateProfile::constant(0.0, d), Err(E::NoArrivals));
        // A zero-length segment is harmless.
        assert!(
            RateProfile::new(vec![seg(Some(Duration::ZERO), 5.0, 5.0), seg(d, 1.0, 1.0)]).is_ok()
        );

        let p = RateProfile::constant(1.0, None).unwrap();
        for b in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                OpenLoop::new(ArrivalProcess::Gamma { burstiness: b }, p.clone(), 0, None),
                Err(E::InvalidBurstiness { .. })
            ));
        }
        let ok = open(ArrivalProcess::Constant, p, 0, Some(10));
        assert_eq!(
            ok.sharded(2, 2).err(),
            Some(E::InvalidShard { index: 2, count: 2 })
        );
        assert_eq!(
            ok.sharded(0, 0).err(),
            Some(E::InvalidShard { index: 0, count: 0 })
        );
        // Messages are meant for humans.
        let msg = E::OpenEndedRateSegmentNotLast { segment: 0 }.to_string();
        assert!(msg.contains("only the final segment"), "{msg}");
    }

    #[test]
    #[should_panic(expected = "burstiness")]
    fn offsets_panics_on_unvalidated_burstiness() {
        let sched = OpenLoop {
            arrival: ArrivalProcess::Gamma { burstiness: -1.0 },
            profile: RateProfile::constant(1.0, None).unwrap(),
            seed: 0,
            max_arrivals: None,
        };
        let _ = sched.offsets();
    }

    // ---- concurrency ------------------------------------------------------

    #[test]
    fn concurrency_steps_and_ramps() {
        let p = ConcurrencyProfile::new(vec![
            ConcurrencyStage::constant(5, Some(secs(10.0))),
            ConcurrencyStage::ramp(secs(10.0), 5, 15),
            ConcurrencyStage::constant(15, None),
        ])
        .unwrap();
        assert_eq!(p.max(), 15);
        assert_eq!(p.total_duration(), None);
        assert_eq!(p.stages().len(), 3);
        assert_eq!(p.at(Duration::ZERO), Some(5));
        assert_eq!(p.at(secs(9.999)), Some(5));
        assert_eq!(p.at(secs(10.0)), Some(5));
        assert_eq!(p.at(secs(12.0)), Some(7));
        assert_eq!(p.at(secs(15.0)), Some(10));
        assert_eq!(p.at(secs(19.99)), Some(15));
        assert_eq!(p.at(secs(20.0)), Some(15));
        assert_eq!(p.at(secs(1e6)), Some(15));
        assert_eq!(p.next_change_after(secs(3.0)), Some(secs(10.0)));
        assert_eq!(p.next_change_after(secs(25.0)), None);
        // Walking next_change_after through the ramp visits every integer once.
        let mut t = secs(10.0);
        let mut seen = vec![p.at(t).unwrap()];
        while let Some(next) = p.next_change_after(t) {
            assert!(next > t);
            t = next;
            let v = p.at(t).unwrap();
            if v != *seen.last().unwrap() {
                seen.push(v);
            }
            assert!(seen.len() < 100, "no progress");
        }
        assert_eq!(seen, (5..=15).collect::<Vec<_>>());

        // Decreasing ramp, finite profile.
        let down = ConcurrencyProfile::new(vec![ConcurrencyStage::ramp(secs(4.0), 8, 0)]).unwrap();
        assert_eq!(down.max(), 8);
        assert_eq!(down.total_duration(), Some(secs(4.0)));
        assert_eq!(down.at(Duration::ZERO), Some(8));
        assert_eq!(down.at(secs(2.0)), Some(4));
        assert_eq!(down.at(secs(4.0)), None);
        let mut t = Duration::ZERO;
        let mut seen = vec![8];
        while let Some(next) = down.next_change_after(t) {
            assert!(next > t);
            t = next;
            match down.at(t) {
                Some(v) if v != *seen.last().unwrap() => seen.push(v),
                Some(_) => {}
                None => break,
            }
        }
        assert_eq!(t, secs(4.0));
        assert_eq!(seen, (0..=8).rev().collect::<Vec<_>>());
    }

    #[test]
    fn concurrency_constant_and_invalid() {
        let c = ConcurrencyProfile::constant(4, Some(secs(2.0)));
        assert_eq!(c.at(secs(1.0)), Some(4));
        assert_eq!(c.at(secs(2.0)), None);
        assert_eq!(c.next_change_after(secs(1.0)), Some(secs(2.0)));
        assert_eq!(c.next_change_after(secs(2.0)), None);
        assert_eq!(c.max(), 4);
        assert_eq!(
            c,
            ConcurrencyProfile::new(vec![ConcurrencyStage::constant(4, Some(secs(2.0)))]).unwrap()
        );
        let forever = ConcurrencyProfile::constant(3, None);
        assert_eq!(forever.at(secs(1e9)), Some(3));
        assert_eq!(forever.next_change_after(Duration::ZERO), None);

        use ScheduleError as E;
        assert_eq!(
            ConcurrencyProfile::new(vec![]),
            Err(E::EmptyConcurrencyProfile)
        );
        assert_eq!(
            ConcurrencyProfile::new(vec![
                ConcurrencyStage::constant(1, None),
                ConcurrencyStage::constant(1, None)
            ]),
            Err(E::OpenEndedStageNotLast { stage: 0 })
        );
        assert_eq!(
            ConcurrencyProfile::new(vec![ConcurrencyStage {
                duration: None,
                start: 1,
                end: 2
            }]),
            Err(E::OpenEndedStageRamp {
                stage: 0,
                start: 1,
                end: 2
            })
        );
    }

    // ---- properties -------------------------------------------------------

    fn arb_process() -> impl Strategy<Value = ArrivalProcess> {
        prop_oneof![
            Just(ArrivalProcess::Constant),
            Just(ArrivalProcess::Poisson),
            (0.2f64..5.0).prop_map(|burstiness| ArrivalProcess::Gamma { burstiness }),
        ]
    }

    fn arb_segment() -> impl Strategy<Value = RateSegment> {
        let rate = prop_oneof![Just(0.0), 0.0f64..200.0];
        (0u64..3_000, rate.clone(), rate)
            .prop_map(|(ms, a, b)| RateSegment::ramp(Duration::from_millis(ms), a, b))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn shards_partition_the_schedule(seed in any::<u64>(), count in 1u64..=5, arrival in arb_process()) {
            let profile = RateProfile::new(vec![
                RateSegment::ramp(secs(2.0), 0.0, 100.0),
                RateSegment::open_ended(100.0),
            ]).unwrap();
            let sched = open(arrival, profile, seed, Some(400));
            let all: Vec<(u64, Duration)> = sched.indexed().collect();
            prop_assert_eq!(all.len(), 400);
            let mut union: Vec<(u64, Duration)> = Vec::new();
            for i in 0..count {
                let part: Vec<_> = shard(sched.offsets(), i, count).collect();
                prop_assert!(part.iter().all(|(g, _)| g % count == i));
                union.extend(part);
            }
            union.sort_by_key(|(g, _)| *g);
            prop_assert_eq!(union, all);
        }

        #[test]
        fn constant_gaps_invert_cumulative_rate(segs in prop::collection::vec(arb_segment(), 1..5)) {
            let Ok(profile) = RateProfile::new(segs.clone()) else { return Ok(()) };
            let total = profile.expected_arrivals(Duration::ZERO, profile.total_duration().unwrap());
            let offs: Vec<_> = open(ArrivalProcess::Constant, profile.clone(), 0, None).offsets().collect();
            prop_assert!((offs.len() as f64 - total).abs() <= 1.0, "{} arrivals, Λ = {}", offs.len(), total);
            prop_assert!(offs.windows(2).all(|w| w[0] <= w[1]));
            for (i, o) in offs.iter().enumerate() {
                let lam = profile.expected_arrivals(Duration::ZERO, *o);
                prop_assert!((lam - i as f64).abs() < 1e-3, "arrival {}: Λ = {}", i, lam);
                // Never inside a pause.
                let idx = profile.span_index(*o);
                let seg = segs[idx];
                prop_assert!(seg.start_rate > 0.0 || seg.end_rate > 0.0);
            }
        }
    }
}
