//! Live counters and fixed-bucket histograms of a run, for a Prometheus scrape while it goes
//! (`--metrics-addr`, docs/metrics.md#live-metrics-prometheus).
//!
//! The collector task folds every finished record in here right after the result's own
//! [`Collector`](super::Collector), with plain atomic adds and no allocation, so the request
//! tasks do no extra work; a scrape reads a snapshot. Counts are kept per model and per
//! [`Phase`], and follow the result's definitions exactly, so the measured phase's figures
//! equal the result's counts once the run has ended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::core::record::{Outcome, Phase, RequestRecord};

/// The phases, in the order their meters are kept.
pub const PHASES: [Phase; 3] = [Phase::Warmup, Phase::Measure, Phase::Cooldown];

/// A phase's label value.
pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Warmup => "warmup",
        Phase::Measure => "measure",
        Phase::Cooldown => "cooldown",
    }
}

fn phase_index(p: Phase) -> usize {
    match p {
        Phase::Warmup => 0,
        Phase::Measure => 1,
        Phase::Cooldown => 2,
    }
}

/// Upper bounds (µs) of the time-to-first-token buckets: 25 ms to 60 s.
pub const TTFT_BOUNDS_US: &[u64] = &[
    25_000, 50_000, 100_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 1_500_000, 2_000_000,
    3_000_000, 5_000_000, 7_500_000, 10_000_000, 15_000_000, 20_000_000, 30_000_000, 60_000_000,
];
/// Upper bounds (µs) of the end-to-end buckets: 100 ms to 5 min.
pub const E2E_BOUNDS_US: &[u64] = &[
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_000_000,
    3_000_000,
    5_000_000,
    7_500_000,
    10_000_000,
    15_000_000,
    20_000_000,
    30_000_000,
    45_000_000,
    60_000_000,
    90_000_000,
    120_000_000,
    180_000_000,
    300_000_000,
];
/// Upper bounds (µs) of the per-token buckets (ITL, TPOT): 1 ms to 1 s.
pub const TOKEN_BOUNDS_US: &[u64] = &[
    1_000, 2_500, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 40_000, 50_000, 75_000, 100_000,
    150_000, 250_000, 500_000, 1_000_000,
];
/// Upper bounds (µs) of the generator's own waits (schedule lag, queue time): 100 µs to 10 s.
pub const WAIT_BOUNDS_US: &[u64] = &[
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// The bucket a value falls in: the first whose bound is at least `v` (`le` semantics), or
/// the last (+Inf) one.
#[inline]
fn bucket(bounds: &[u64], v: u64) -> usize {
    bounds.partition_point(|&b| b < v)
}

/// A histogram of µs values with fixed bounds: a count per bucket (the last is +Inf) and the
/// sum of the values.
#[derive(Debug)]
pub struct AtomicHist {
    bounds: &'static [u64],
    counts: Box<[AtomicU64]>,
    sum_us: AtomicU64,
}

/// What a scrape reads of an [`AtomicHist`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistSnapshot {
    /// Upper bounds in µs (without +Inf).
    pub bounds_us: &'static [u64],
    /// Count per bucket, not cumulative; one more than `bounds_us` (the last is +Inf).
    pub counts: Vec<u64>,
    /// Sum of the values (µs).
    pub sum_us: u64,
}

impl HistSnapshot {
    /// Every value counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl AtomicHist {
    /// An empty histogram with these upper bounds (µs, increasing).
    pub fn new(bounds: &'static [u64]) -> AtomicHist {
        AtomicHist {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Counts `n` values of `us` each.
    #[inline]
    pub fn observe_n(&self, us: u64, n: u64) {
        self.counts[bucket(self.bounds, us)].fetch_add(n, Ordering::Relaxed);
        self.sum_us.fetch_add(us * n, Ordering::Relaxed);
    }

    /// Counts one value.
    #[inline]
    pub fn observe(&self, us: u64) {
        self.observe_n(us, 1);
    }

    /// The counts and sum now.
    pub fn snapshot(&self) -> HistSnapshot {
        HistSnapshot {
            bounds_us: self.bounds,
            counts: self
                .counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect(),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

/// One model's figures in one phase.
#[derive(Debug)]
pub struct PhaseMeters {
    /// Requests by outcome, indexed by [`Outcome::index`].
    pub outcomes: [AtomicU64; Outcome::ALL.len()],
    /// Input tokens of sent requests.
    pub input_tokens: AtomicU64,
    /// Output tokens of sent requests.
    pub output_tokens: AtomicU64,
    /// Time to first token of successful requests (first output event − send).
    pub ttft: AtomicHist,
    /// Token-weighted inter-token latency of successful requests.
    pub itl: AtomicHist,
    /// Time per output token of successful requests.
    pub tpot: AtomicHist,
    /// End − send of successful requests.
    pub e2e: AtomicHist,
    /// Dispatch − scheduled time of every request (the generator's lateness).
    pub schedule_lag: AtomicHist,
    /// Send − dispatch of sent requests (waiting for the in-flight cap or a quota).
    pub queue_time: AtomicHist,
}

impl Default for PhaseMeters {
    fn default() -> Self {
        PhaseMeters {
            outcomes: std::array::from_fn(|_| AtomicU64::new(0)),
            input_tokens: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
            ttft: AtomicHist::new(TTFT_BOUNDS_US),
            itl: AtomicHist::new(TOKEN_BOUNDS_US),
            tpot: AtomicHist::new(TOKEN_BOUNDS_US),
            e2e: AtomicHist::new(E2E_BOUNDS_US),
            schedule_lag: AtomicHist::new(WAIT_BOUNDS_US),
            queue_time: AtomicHist::new(WAIT_BOUNDS_US),
        }
    }
}

/// One model's figures, by phase.
#[derive(Debug)]
pub struct ModelMeters {
    /// The model id as sent.
    pub model: String,
    /// The target's name.
    pub target: String,
    /// By phase, in [`PHASES`] order.
    pub phases: [PhaseMeters; 3],
}

impl ModelMeters {
    /// The figures of one phase.
    pub fn phase(&self, p: Phase) -> &PhaseMeters {
        &self.phases[phase_index(p)]
    }
}

/// Everything a scrape shows: every model seen so far (runs and sweep steps of one process add
/// to the same counters) and the gauges of the run going on.
#[derive(Debug, Default)]
pub struct Meters {
    models: RwLock<Vec<Arc<ModelMeters>>>,
    /// Requests in flight (sampled by the collector every 250 ms).
    pub in_flight: AtomicU64,
    /// The generator's own CPU time (µs), the in-process mock's left out, added each second.
    pub generator_cpu_us: AtomicU64,
    /// Runs (or sweep steps) started.
    pub runs_started: AtomicU64,
    /// Runs (or sweep steps) whose every record is counted here.
    pub runs_finished: AtomicU64,
}

impl Meters {
    /// The meters of the models `(id, target)` of a run, in the plan's order: existing ones
    /// (an earlier step) are shared, new ones are added.
    pub fn for_models(&self, models: &[(String, String)]) -> RunMeters {
        let mut all = self.models.write().unwrap_or_else(|e| e.into_inner());
        let models = models
            .iter()
            .map(|(id, target)| {
                if let Some(m) = all.iter().find(|m| &m.model == id && &m.target == target) {
                    return m.clone();
                }
                let m = Arc::new(ModelMeters {
                    model: id.clone(),
                    target: target.clone(),
                    phases: Default::default(),
                });
                all.push(m.clone());
                m
            })
            .collect();
        RunMeters {
            models,
            split: Vec::new(),
            itl: vec![0; TOKEN_BOUNDS_US.len() + 1],
        }
    }

    /// Every model's meters, in the order they were first seen.
    pub fn models(&self) -> Vec<Arc<ModelMeters>> {
        self.models
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One run's writer: its models' meters, indexed like the plan's models, and scratch space.
#[derive(Debug)]
pub struct RunMeters {
    models: Vec<Arc<ModelMeters>>,
    split: Vec<u32>,
    /// ITL bucket counts of one record, added to the shared histogram once per record.
    itl: Vec<u64>,
}

impl RunMeters {
    /// Folds one finished record of model `model` (an index into the plan's models) in, with
    /// the result's definitions: outcomes and schedule lag for every record, tokens and queue
    /// time for sent ones, latencies for successful ones.
    #[inline]
    pub fn add(&mut self, model: usize, r: &RequestRecord) {
        let Some(m) = self.models.get(model) else {
            return;
        };
        let p = &m.phases[phase_index(r.phase)];
        p.outcomes[r.outcome.index()].fetch_add(1, Ordering::Relaxed);
        p.schedule_lag
            .observe(r.t_dispatch_us.saturating_sub(r.t_sched_us));
        if r.outcome.was_sent() {
            p.input_tokens
                .fetch_add(r.input_tokens.unwrap_or(0), Ordering::Relaxed);
            p.output_tokens
                .fetch_add(r.output_tokens.unwrap_or(0), Ordering::Relaxed);
        }
        let Some(ts) = r.t_send_us else { return };
        p.queue_time.observe(ts.saturating_sub(r.t_dispatch_us));
        if r.outcome != Outcome::Ok {
            return;
        }
        if let Some(tf) = r.t_first_us {
            p.ttft.observe(tf.saturating_sub(ts));
        }
        p.e2e.observe(r.t_end_us.saturating_sub(ts));
        if let Some(t) = super::tpot_us(r) {
            p.tpot.observe(t.round() as u64);
        }
        add_itl(&mut self.split, &mut self.itl, p, r);
    }
}

/// The record's token-weighted ITL, bucketed locally (`counts`, left zeroed) and added to the
/// shared histogram once per bucket.
#[inline]
fn add_itl(split: &mut Vec<u32>, counts: &mut [u64], p: &PhaseMeters, r: &RequestRecord) {
    if !super::token_split_into(r, split) {
        return;
    }
    let mut sum = 0u64;
    super::for_each_gap(r, split, |_, itl| {
        if let Some((v, n)) = itl {
            counts[bucket(TOKEN_BOUNDS_US, v)] += n;
            sum += v * n;
        }
    });
    for (c, a) in counts.iter_mut().zip(p.itl.counts.iter()) {
        if *c > 0 {
            a.fetch_add(*c, Ordering::Relaxed);
            *c = 0;
        }
    }
    p.itl.sum_us.fetch_add(sum, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Collector, Window};

    fn rec(i: u64, phase: Phase, outcome: Outcome) -> RequestRecord {
        let mut r = RequestRecord::unsent(i, "m".into(), phase, outcome, 1_000 * i, 1_000 * i);
        r.t_dispatch_us = 1_000 * i + 300;
        if outcome.was_sent() {
            r.t_send_us = Some(1_000 * i + 500);
            r.input_tokens = Some(10 + i);
            r.output_tokens = Some(4);
        }
        if outcome == Outcome::Ok {
            r.t_first_us = Some(1_000 * i + 500 + 120_000);
            // Four tokens over three events: one event carries two.
            r.output_events = 3;
            r.first_event_bytes = 4;
            r.gaps = vec![(20_000 + i as u32, 8), (30_000, 4)];
            r.t_last_us = Some(r.t_first_us.unwrap_or(0) + 50_000 + i);
            r.t_end_us = r.t_last_us.unwrap_or(0) + 100;
        } else {
            r.t_end_us = 1_000 * i + 2_000;
        }
        r
    }

    #[test]
    fn buckets_follow_le_semantics() {
        assert_eq!(bucket(&[10, 20], 0), 0);
        assert_eq!(bucket(&[10, 20], 10), 0);
        assert_eq!(bucket(&[10, 20], 11), 1);
        assert_eq!(bucket(&[10, 20], 20), 1);
        assert_eq!(bucket(&[10, 20], 21), 2);
        let h = AtomicHist::new(TTFT_BOUNDS_US);
        h.observe(25_000);
        h.observe_n(25_001, 2);
        h.observe(u64::MAX / 4);
        let s = h.snapshot();
        assert_eq!((s.counts[0], s.counts[1]), (1, 2));
        assert_eq!(s.counts[TTFT_BOUNDS_US.len()], 1);
        assert_eq!(s.count(), 4);
    }

    /// The measured phase's figures equal the result collector's, record for record.
    #[test]
    fn measured_counts_equal_the_collectors() {
        let meters = Meters::default();
        let ids = vec![("a".to_string(), "t".to_string()), ("b".into(), "t".into())];
        let mut run = meters.for_models(&ids);
        let mut c = Collector::new(
            2,
            Window {
                start_us: 0,
                end_us: None,
            },
            vec![Default::default(); 2],
            0,
        );
        let outcomes = [Outcome::Ok, Outcome::Http5xx, Outcome::Dropped, Outcome::Ok];
        for i in 0..40u64 {
            let phase = if i % 7 == 0 {
                Phase::Warmup
            } else {
                Phase::Measure
            };
            let r = rec(i, phase, outcomes[(i % 4) as usize]);
            run.add((i % 2) as usize, &r);
            c.add((i % 2) as usize, &r);
        }
        for (k, m) in meters.models().iter().enumerate() {
            let p = m.phase(Phase::Measure);
            let s = &c.models[k];
            for o in Outcome::ALL {
                assert_eq!(p.outcomes[o.index()].load(Ordering::Relaxed), s.count(o));
            }
            assert_eq!(p.output_tokens.load(Ordering::Relaxed), s.tokens.output);
            assert_eq!(p.input_tokens.load(Ordering::Relaxed), s.tokens.input);
            let h = &s.hists;
            assert_eq!(p.ttft.snapshot().count(), h.ttft.len());
            assert_eq!(p.e2e.snapshot().count(), h.e2e.len());
            assert_eq!(p.tpot.snapshot().count(), h.tpot.len());
            assert_eq!(p.itl.snapshot().count(), h.itl.len());
            assert_eq!(p.schedule_lag.snapshot().count(), h.schedule_lag.len());
            assert_eq!(p.queue_time.snapshot().count(), h.queue_time.len());
            assert!(p.itl.snapshot().count() > 0);
        }
        // Warm-up records are counted apart.
        let warm: u64 = meters
            .models()
            .iter()
            .map(|m| m.phase(Phase::Warmup).schedule_lag.snapshot().count())
            .sum();
        assert_eq!(warm, (0..40).filter(|i| i % 7 == 0).count() as u64);
    }

    #[test]
    fn the_token_weighted_itl_sums_to_the_decode_time() {
        let meters = Meters::default();
        let mut run = meters.for_models(&[("a".into(), "t".into())]);
        // Events of 4, 8 and 4 bytes carry 1, 2 and 1 of the 4 tokens: the 20 ms gap before
        // the two-token event counts twice at 10 ms, the 30 ms gap once.
        let r = rec(0, Phase::Measure, Outcome::Ok);
        run.add(0, &r);
        let s = meters.models()[0].phase(Phase::Measure).itl.snapshot();
        assert_eq!(s.count(), 3);
        assert_eq!(s.sum_us, 2 * 10_000 + 30_000);
        assert_eq!(s.counts[bucket(TOKEN_BOUNDS_US, 10_000)], 2);
        assert_eq!(s.counts[bucket(TOKEN_BOUNDS_US, 30_000)], 1);
    }

    #[test]
    fn a_later_step_adds_to_the_same_models_counters() {
        let meters = Meters::default();
        let ids = vec![("a".to_string(), "t".to_string())];
        meters
            .for_models(&ids)
            .add(0, &rec(1, Phase::Measure, Outcome::Ok));
        let mut more = vec![("z".to_string(), "t".to_string())];
        more.extend(ids.clone());
        meters
            .for_models(&more)
            .add(1, &rec(2, Phase::Measure, Outcome::Ok));
        let all = meters.models();
        assert_eq!(all.len(), 2);
        let ok = &all[0].phase(Phase::Measure).outcomes[Outcome::Ok.index()];
        assert_eq!(
            (all[0].model.as_str(), ok.load(Ordering::Relaxed)),
            ("a", 2)
        );
    }
}
