//! A collector's raw state, as a shard's partial result carries it, and exact addition of
//! two such states (`llmload merge`). Everything here is a count or a histogram, so adding is
//! exact: the merged metrics are derived from the sums, never averaged from summaries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Bucket, Collector, Groups, Hist, HistError, Stats, Tokens, Usd, Window};
use crate::core::record::Outcome;

/// Serialises the outcome counts as `{name: count}` (non-zero only), so a partial result
/// stays readable if outcomes are added later.
pub(super) mod outcome_map {
    use super::*;

    pub fn serialize<S: serde::Serializer>(
        a: &[u64; Outcome::ALL.len()],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let m: BTreeMap<&str, u64> = Outcome::ALL
            .iter()
            .filter(|o| a[o.index()] > 0)
            .map(|o| (o.name(), a[o.index()]))
            .collect();
        m.serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<[u64; Outcome::ALL.len()], D::Error> {
        let m = BTreeMap::<String, u64>::deserialize(d)?;
        let mut a = [0u64; Outcome::ALL.len()];
        for (name, n) in m {
            a[outcome(&name).map_err(serde::de::Error::custom)?.index()] = n;
        }
        Ok(a)
    }
}

fn outcome(name: &str) -> Result<Outcome, String> {
    Outcome::from_name(name).ok_or_else(|| format!("unknown outcome `{name}`"))
}

/// Reads a `{name: count}` map of outcomes back with the names' static strings.
pub(super) fn outcome_names<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<&'static str, u64>, D::Error> {
    BTreeMap::<String, u64>::deserialize(d)?
        .into_iter()
        .map(|(name, n)| Ok((outcome(&name).map_err(serde::de::Error::custom)?.name(), n)))
        .collect()
}

/// Everything a collector folded, in a form that can be written, read back and added: the
/// collector's own record of it (see [`Collector`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectorState {
    /// Per model, in plan order.
    pub models: Vec<Stats>,
    /// All models.
    pub overall: Stats,
    /// Run-level schedule lag (µs).
    pub schedule_lag: Hist,
    /// Run-level queue time (µs).
    pub queue_time: Hist,
    /// Measured arrivals.
    pub arrivals_in_window: u64,
    /// Requests sent inside the window.
    pub sent_in_window: u64,
    /// Arrivals sent inside the window.
    pub arrivals_sent_in_window: u64,
    /// Measured arrivals the context guard skipped.
    pub skipped_in_window: u64,
    /// Latest request end (µs since start).
    pub last_end_us: u64,
    /// Window start (µs since start).
    pub window_start_us: u64,
    /// Window end (µs since start).
    pub window_end_us: Option<u64>,
    /// Mean in-flight count over the window (as of the latest sample).
    pub in_flight_mean: Option<f64>,
    /// Samples behind `in_flight_mean`.
    pub in_flight_samples: u64,
    /// Breakdowns.
    pub groups: Groups,
    /// 1 s buckets from the start (with each second's TTFT histogram).
    pub series: Vec<Bucket>,
}

impl Collector {
    /// Keeps each second's TTFT histogram (encoded) when it is reduced, so a partial result
    /// can be merged with exact per-second percentiles. Call before the first record.
    pub fn keep_second_hists(&mut self) {
        self.keep_second_hists = true;
    }

    /// The raw state (call after [`Collector::finish`]).
    pub fn state(&self) -> CollectorState {
        let mut s = self.folded.clone();
        s.in_flight_mean = self.in_flight_mean();
        s
    }

    /// A finished collector from a state. Per-second TTFT percentiles are recomputed from
    /// the stored histograms.
    pub fn from_state(s: CollectorState) -> Result<Collector, HistError> {
        let mut c = Collector::new(
            0,
            Window {
                start_us: 0,
                end_us: None,
            },
            Vec::new(),
            0,
        );
        c.keep_second_hists = true;
        c.in_flight_sum = s.in_flight_mean.unwrap_or(0.0) * s.in_flight_samples as f64;
        c.folded = s;
        for b in &mut c.folded.series {
            set_second_percentiles(b)?;
        }
        Ok(c)
    }

    /// Adds another finished collector (same plan, same time origin): every counter and
    /// histogram is summed; the in-flight mean becomes the sum of the two means (both ran at
    /// once); per-second in-flight maxima are summed (an upper bound of the joint maximum).
    pub fn absorb(&mut self, o: &Collector) -> Result<(), HistError> {
        for (a, b) in self.folded.models.iter_mut().zip(&o.models) {
            a.absorb(b)?;
        }
        self.folded.overall.absorb(&o.overall)?;
        self.folded.schedule_lag.merge(&o.schedule_lag)?;
        self.folded.queue_time.merge(&o.queue_time)?;
        self.folded.arrivals_in_window += o.arrivals_in_window;
        self.folded.sent_in_window += o.sent_in_window;
        self.folded.arrivals_sent_in_window += o.arrivals_sent_in_window;
        self.folded.skipped_in_window += o.skipped_in_window;
        self.folded.last_end_us = self.folded.last_end_us.max(o.last_end_us);
        let (w, o_w) = (self.window(), o.window());
        self.folded.window_start_us = w.start_us.min(o_w.start_us);
        self.folded.window_end_us = match (w.end_us, o_w.end_us) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mean = self.in_flight_mean().unwrap_or(0.0) + o.in_flight_mean().unwrap_or(0.0);
        self.folded.in_flight_samples = self.folded.in_flight_samples.max(o.in_flight_samples);
        self.in_flight_sum = mean * self.folded.in_flight_samples as f64;
        self.folded.in_flight_mean = self.in_flight_mean();
        self.folded.groups.absorb(&o.groups)?;
        if self.folded.series.len() < o.series.len() {
            self.folded
                .series
                .resize_with(o.series.len(), Bucket::default);
        }
        for (a, b) in self.folded.series.iter_mut().zip(&o.series) {
            a.sent += b.sent;
            a.ok += b.ok;
            a.failed += b.failed;
            a.dropped += b.dropped;
            a.output_tokens += b.output_tokens;
            a.in_flight_max += b.in_flight_max;
            for (k, v) in &b.errors {
                *a.errors.entry(k).or_default() += v;
            }
            a.ttft_count += b.ttft_count;
            if let Some(q) = &b.quota {
                a.quota.get_or_insert_with(Default::default).absorb(q);
            }
            a.ttft_hist = match (a.ttft_hist.take(), &b.ttft_hist) {
                (Some(x), Some(y)) => {
                    let mut h = Hist::decode(&x)?;
                    h.merge(&Hist::decode(y)?)?;
                    Some(h.encode())
                }
                (x, y) => x.or_else(|| y.clone()),
            };
            set_second_percentiles(a)?;
        }
        Ok(())
    }
}

fn set_second_percentiles(b: &mut Bucket) -> Result<(), HistError> {
    if let Some(text) = &b.ttft_hist {
        let h = Hist::decode(text)?;
        if !h.is_empty() {
            b.ttft_p50_ms = Some(h.quantile(0.5) as f64 / 1e3);
            b.ttft_p99_ms = Some(h.quantile(0.99) as f64 / 1e3);
        }
    }
    Ok(())
}

fn add_tokens(a: &mut Tokens, b: &Tokens) {
    a.input += b.input;
    a.output += b.output;
    a.reasoning += b.reasoning;
    a.cached_input += b.cached_input;
}

fn add_usd(a: &mut Usd, b: &Usd) {
    a.input += b.input;
    a.output += b.output;
    a.unpriced += b.unpriced;
}

impl Stats {
    /// Adds another group's counts and histograms.
    pub fn absorb(&mut self, o: &Stats) -> Result<(), HistError> {
        for ((_, a), (_, b)) in self.hists.named_mut().into_iter().zip(o.hists.named()) {
            a.merge(b)?;
        }
        for (a, b) in self.outcomes.iter_mut().zip(&o.outcomes) {
            *a += b;
        }
        super::errors::absorb(&mut self.error_messages, &o.error_messages);
        add_tokens(&mut self.tokens, &o.tokens);
        add_tokens(&mut self.tokens_all_phases, &o.tokens_all_phases);
        self.sent_all_phases += o.sent_all_phases;
        for (a, b) in self.output_sources.iter_mut().zip(&o.output_sources) {
            *a += b;
        }
        for (a, b) in self.input_sources.iter_mut().zip(&o.input_sources) {
            *a += b;
        }
        self.window_output_tokens += o.window_output_tokens;
        self.window_input_tokens += o.window_input_tokens;
        self.window_completed += o.window_completed;
        self.slo_met += o.slo_met;
        self.slo_met_output_tokens += o.slo_met_output_tokens;
        if self.output_per_s.len() < o.output_per_s.len() {
            self.output_per_s.resize(o.output_per_s.len(), 0);
        }
        for (a, b) in self.output_per_s.iter_mut().zip(&o.output_per_s) {
            *a += b;
        }
        self.usage_mismatch += o.usage_mismatch;
        add_usd(&mut self.usd, &o.usd);
        add_usd(&mut self.usd_all_phases, &o.usd_all_phases);
        self.over_context += o.over_context;
        self.reconnects += o.reconnects;
        self.retries_429 += o.retries_429;
        self.backoff_us += o.backoff_us;
        self.quota.absorb(&o.quota);
        self.inputs_ok += o.inputs_ok;
        self.tool_answers_ok += o.tool_answers_ok;
        self.tool_calls_ok += o.tool_calls_ok;
        self.images_ok += o.images_ok;
        self.image_bytes_ok += o.image_bytes_ok;
        Ok(())
    }
}

impl Groups {
    /// Adds another run's breakdowns (same plan, so the same shapes).
    pub fn absorb(&mut self, o: &Groups) -> Result<(), HistError> {
        let pairs = |a: &mut Vec<Stats>, b: &Vec<Stats>| -> Result<(), HistError> {
            if a.len() < b.len() {
                a.resize_with(b.len(), Stats::default);
            }
            for (x, y) in a.iter_mut().zip(b) {
                x.absorb(y)?;
            }
            Ok(())
        };
        pairs(&mut self.classes, &o.classes)?;
        pairs(&mut self.turns, &o.turns)?;
        pairs(&mut self.cache, &o.cache)?;
        if self.routes.len() < o.routes.len() {
            self.routes.resize_with(o.routes.len(), Vec::new);
        }
        for (a, b) in self.routes.iter_mut().zip(&o.routes) {
            if a.len() < b.len() {
                a.resize(b.len(), 0);
            }
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        match (&mut self.end_user, &o.end_user) {
            (Some(a), Some(b)) => a.absorb(b)?,
            (a @ None, Some(b)) => *a = Some(b.clone()),
            _ => {}
        }
        self.fell_back += o.fell_back;
        if self.answered_by.len() < o.answered_by.len() {
            self.answered_by.resize(o.answered_by.len(), 0);
        }
        for (a, b) in self.answered_by.iter_mut().zip(&o.answered_by) {
            *a += b;
        }
        self.fallback_attempts += o.fallback_attempts;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::{Phase, RequestRecord};

    /// A deterministic spread of requests over 2 models and ~6 seconds: successes with
    /// varied TTFT and token gaps, some failures and drops, some outside the window.
    fn records(n: u64) -> Vec<(usize, RequestRecord)> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        (0..n)
            .map(|i| {
                let sched = i * 6_000_000 / n;
                let model = (next() % 2) as usize;
                let outcome = match next() % 20 {
                    0 => Outcome::Http5xx,
                    1 => Outcome::Dropped,
                    _ => Outcome::Ok,
                };
                let phase = if sched < 1_000_000 {
                    Phase::Warmup
                } else {
                    Phase::Measure
                };
                let dispatch = sched + next() % 3_000;
                let mut r = RequestRecord::unsent(i, "m".into(), phase, outcome, sched, dispatch);
                if outcome == Outcome::Dropped {
                    r.t_end_us = dispatch;
                    return (model, r);
                }
                let send = dispatch + next() % 500;
                r.t_send_us = Some(send);
                r.input_tokens = Some(10 + next() % 500);
                if outcome == Outcome::Ok {
                    let first = send + 20_000 + next() % 400_000;
                    let k = 1 + (next() % 40) as u32;
                    let gaps: Vec<(u32, u32)> = (1..k)
                        .map(|_| ((1_000 + next() % 30_000) as u32, 20))
                        .collect();
                    let total: u64 = gaps.iter().map(|g| g.0 as u64).sum();
                    r.t_first_us = Some(first);
                    r.t_last_us = Some(first + total);
                    r.t_end_us = first + total + 50;
                    r.output_events = k;
                    r.output_tokens = Some(k as u64 + next() % 3);
                    r.first_event_bytes = 20;
                    r.gaps = gaps;
                } else {
                    r.t_end_us = send + next() % 50_000;
                }
                (model, r)
            })
            .collect()
    }

    fn collector() -> Collector {
        let mut c = Collector::new(
            2,
            Window {
                start_us: 1_000_000,
                end_us: Some(5_000_000),
            },
            Vec::new(),
            10_000_000,
        );
        c.keep_second_hists();
        c
    }

    fn same_hist(a: &Hist, b: &Hist, what: &str) {
        let v = |h: &Hist| -> Vec<(u64, u64)> {
            h.inner()
                .iter_recorded()
                .map(|x| (x.value_iterated_to(), x.count_at_value()))
                .collect()
        };
        assert_eq!(v(a), v(b), "{what}");
    }

    fn same_stats(a: &Stats, b: &Stats, what: &str) {
        for ((name, x), (_, y)) in a.hists.named().into_iter().zip(b.hists.named()) {
            same_hist(x, y, &format!("{what}.{name}"));
        }
        assert_eq!(a.outcomes, b.outcomes, "{what}.outcomes");
        assert_eq!(a.tokens, b.tokens, "{what}.tokens");
        assert_eq!(a.tokens_all_phases, b.tokens_all_phases, "{what}");
        assert_eq!(a.sent_all_phases, b.sent_all_phases, "{what}");
        assert_eq!(a.window_output_tokens, b.window_output_tokens, "{what}");
        assert_eq!(a.window_input_tokens, b.window_input_tokens, "{what}");
        assert_eq!(a.window_completed, b.window_completed, "{what}");
        assert_eq!(a.output_per_s, b.output_per_s, "{what}.output_per_s");
        assert_eq!(a.output_sources, b.output_sources, "{what}");
    }

    /// Recording every sample in one collector and recording them split over three, written
    /// out, read back and added, give the same histograms bucket for bucket and the same counts.
    #[test]
    fn merged_partials_equal_one_collector_of_all_samples() {
        let recs = records(3_000);
        let mut whole = collector();
        let mut parts = [collector(), collector(), collector()];
        for (i, (m, r)) in recs.iter().enumerate() {
            whole.add(*m, r);
            parts[i % 3].add(*m, r);
        }
        whole.finish();
        let mut merged: Option<Collector> = None;
        for mut p in parts {
            p.finish();
            let text = serde_json::to_string(&p.state()).expect("state serialises");
            let back: CollectorState = serde_json::from_str(&text).expect("state reads back");
            let c = Collector::from_state(back).expect("valid state");
            match merged.as_mut() {
                None => merged = Some(c),
                Some(m) => m.absorb(&c).expect("same shapes"),
            }
        }
        let merged = merged.expect("three parts");
        same_stats(&whole.overall, &merged.overall, "overall");
        for i in 0..2 {
            same_stats(&whole.models[i], &merged.models[i], &format!("model {i}"));
        }
        same_hist(&whole.schedule_lag, &merged.schedule_lag, "schedule_lag");
        same_hist(&whole.queue_time, &merged.queue_time, "queue_time");
        assert!(whole.overall.hists.ttft.len() > 2_000);
        assert_eq!(whole.arrivals_in_window, merged.arrivals_in_window);
        assert_eq!(
            whole.arrivals_sent_in_window,
            merged.arrivals_sent_in_window
        );
        assert_eq!(whole.sent_in_window, merged.sent_in_window);
        assert_eq!(whole.last_end_us, merged.last_end_us);
        assert_eq!(whole.window(), merged.window());
        assert_eq!(whole.series.len(), merged.series.len());
        for (s, (a, b)) in whole.series.iter().zip(&merged.series).enumerate() {
            assert_eq!(
                (
                    a.sent,
                    a.ok,
                    a.failed,
                    a.dropped,
                    a.output_tokens,
                    a.ttft_count
                ),
                (
                    b.sent,
                    b.ok,
                    b.failed,
                    b.dropped,
                    b.output_tokens,
                    b.ttft_count
                ),
                "second {s}"
            );
            assert_eq!(a.errors, b.errors, "second {s}");
            // TTFTs are drawn uniform in 20..420 ms: a second's median is near 220 ms (this
            // read 0.002 ms when the per-second histogram clamped to its initial range).
            if a.ttft_count >= 50 {
                let p50 = a.ttft_p50_ms.expect("p50");
                assert!((120.0..320.0).contains(&p50), "second {s}: p50 {p50}");
            }
            // Per-second percentiles come from the added histograms, not from averaging.
            assert_eq!(
                (a.ttft_p50_ms, a.ttft_p99_ms),
                (b.ttft_p50_ms, b.ttft_p99_ms),
                "second {s}"
            );
        }
    }
}
