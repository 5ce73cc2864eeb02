//! Turns finished [`RequestRecord`]s into per-model and overall metrics, a 1 s time series
//! and token throughput over the measurement window. Memory does not grow with the number of
//! requests: histograms and counters only, never a vector of every sample.
//!
//! The definitions implemented here are stated in docs/metrics.md; keep the two in step.

pub mod errors;
pub mod hist;
pub mod merge;
pub mod meters;
pub mod quality;
pub mod quota;
pub mod recent;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::plan::Slo;
use crate::config::prices::Price;
use crate::core::metric::Metric;
use crate::core::record::{Outcome, Phase, RequestRecord, TokenSource};
pub use hist::{Hist, HistError, Summary};
pub use merge::CollectorState;

/// Per-request latency and size distributions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hists {
    /// First output event − send.
    pub ttft: Hist,
    /// First answer (non-reasoning) event − send.
    pub ttft_answer: Hist,
    /// First output event − scheduled time.
    pub ttft_scheduled: Hist,
    /// End − send.
    pub e2e: Hist,
    /// End − scheduled time.
    pub e2e_scheduled: Hist,
    /// (last − first output event) / (output tokens − 1).
    pub tpot: Hist,
    /// Token-weighted inter-token latency.
    pub itl: Hist,
    /// Raw gaps between output events.
    pub inter_chunk: Hist,
    /// Tokens per output event (a count, not µs).
    pub tokens_per_chunk: Hist,
    /// Dispatch − scheduled time (the generator's timer lateness).
    pub schedule_lag: Hist,
    /// Send − dispatch (waiting on the in-flight cap or a rate cap).
    pub queue_time: Hist,
}

impl Hists {
    /// Name and histogram pairs, in the result file's order. Latencies are in µs. The names are
    /// [`Metric`]s, except `tokens_per_chunk`, a shape of the stream that no claim can name.
    pub fn named(&self) -> [(&'static str, &Hist); 11] {
        [
            (Metric::Ttft.as_str(), &self.ttft),
            (Metric::TtftAnswer.as_str(), &self.ttft_answer),
            (Metric::TtftScheduled.as_str(), &self.ttft_scheduled),
            (Metric::E2e.as_str(), &self.e2e),
            (Metric::E2eScheduled.as_str(), &self.e2e_scheduled),
            (Metric::Tpot.as_str(), &self.tpot),
            (Metric::Itl.as_str(), &self.itl),
            (Metric::InterChunk.as_str(), &self.inter_chunk),
            ("tokens_per_chunk", &self.tokens_per_chunk),
            (Metric::ScheduleLag.as_str(), &self.schedule_lag),
            (Metric::QueueTime.as_str(), &self.queue_time),
        ]
    }

    /// Mutable access by the same names.
    pub fn named_mut(&mut self) -> [(&'static str, &mut Hist); 11] {
        [
            (Metric::Ttft.as_str(), &mut self.ttft),
            (Metric::TtftAnswer.as_str(), &mut self.ttft_answer),
            (Metric::TtftScheduled.as_str(), &mut self.ttft_scheduled),
            (Metric::E2e.as_str(), &mut self.e2e),
            (Metric::E2eScheduled.as_str(), &mut self.e2e_scheduled),
            (Metric::Tpot.as_str(), &mut self.tpot),
            (Metric::Itl.as_str(), &mut self.itl),
            (Metric::InterChunk.as_str(), &mut self.inter_chunk),
            ("tokens_per_chunk", &mut self.tokens_per_chunk),
            (Metric::ScheduleLag.as_str(), &mut self.schedule_lag),
            (Metric::QueueTime.as_str(), &mut self.queue_time),
        ]
    }
}

/// Token totals of one kind of request set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tokens {
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Reasoning tokens (part of output).
    pub reasoning: u64,
    /// Cached input tokens (part of input).
    pub cached_input: u64,
}

/// Everything measured for one model (or all models together). Serialised (in a shard's
/// partial result) with histograms as their encoded strings and outcomes by name.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Distributions over measured requests (successful ones for latencies).
    pub hists: Hists,
    /// Measured-phase arrivals by outcome, indexed by [`Outcome::index`].
    #[serde(with = "merge::outcome_map")]
    pub outcomes: [u64; Outcome::ALL.len()],
    /// Token totals of measured-phase requests.
    pub tokens: Tokens,
    /// Token totals of every request sent in any phase (the bill).
    pub tokens_all_phases: Tokens,
    /// Requests sent in any phase.
    pub sent_all_phases: u64,
    /// Output token counts by source: usage, tokenizer, events.
    pub output_sources: [u64; 3],
    /// Input token counts by source.
    pub input_sources: [u64; 3],
    /// Output tokens whose event time falls inside the measurement window.
    pub window_output_tokens: u64,
    /// Input tokens of requests sent inside the window.
    pub window_input_tokens: u64,
    /// Successful requests that ended inside the window.
    pub window_completed: u64,
    /// Measured requests that met every SLO.
    pub slo_met: u64,
    /// Output tokens of measured requests that met every SLO.
    pub slo_met_output_tokens: u64,
    /// Output tokens per 1 s bucket since start, by event time.
    pub output_per_s: Vec<u64>,
    /// Measured requests whose usage contradicted the stream (server's figure kept).
    pub usage_mismatch: u64,
    /// Cost summed per request at its model's price (USD): measured phase.
    pub usd: Usd,
    /// Cost summed per request at its model's price (USD): every phase.
    pub usd_all_phases: Usd,
    /// Measured requests whose prompt plus max_tokens exceeded the model's context window.
    pub over_context: u64,
    /// Re-sends after a pooled connection turned out closed (measured requests).
    pub reconnects: u64,
    /// Re-sends after a 429 with back-off on (measured requests).
    pub retries_429: u64,
    /// Back-off waited before those re-sends (µs).
    pub backoff_us: u64,
    /// Measured failures' messages by error class (scrubbed of credentials).
    #[serde(default)]
    pub error_messages: errors::Messages,
    /// What the server's quota headers said, over every phase (folded per model and overall).
    #[serde(default, skip_serializing_if = "quota::QuotaSeen::is_empty")]
    pub quota: quota::QuotaSeen,
    /// Inputs carried by measured successful requests (embeddings batches; 0 otherwise).
    #[serde(default)]
    pub inputs_ok: u64,
    /// Measured successful requests whose answer called at least one tool.
    #[serde(default)]
    pub tool_answers_ok: u64,
    /// Tool calls in the answers of measured successful requests.
    #[serde(default)]
    pub tool_calls_ok: u64,
    /// Images sent in measured successful requests.
    #[serde(default)]
    pub images_ok: u64,
    /// Encoded image bytes sent in measured successful requests.
    #[serde(default)]
    pub image_bytes_ok: u64,
}

/// Cost summed request by request, each at its own model's price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Usd {
    /// Input tokens' cost.
    pub input: f64,
    /// Output tokens' cost.
    pub output: f64,
    /// Sent requests whose model has no price (their cost is unknown, not zero).
    pub unpriced: u64,
}

/// Optional breakdowns beyond models, each enabled by the scenario.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Groups {
    /// Per request class (when the scenario declares classes).
    pub classes: Vec<Stats>,
    /// Per session turn index (when sessions are on); the last entry also holds later turns.
    pub turns: Vec<Stats>,
    /// Fresh (0) and deliberately repeated (1) requests (when repeat_ratio > 0).
    pub cache: Vec<Stats>,
    /// Per routing rule (last: no rule matched), per model: measured requests routed.
    pub routes: Vec<Vec<u64>>,
    /// The end user's view of fallback chains: one entry per request, its final attempt,
    /// timed from the first attempt's scheduled time.
    pub end_user: Option<Stats>,
    /// Measured requests that fell back at least once.
    pub fell_back: u64,
    /// Measured end-user requests answered (ok) by each model.
    pub answered_by: Vec<u64>,
    /// Fallback attempts (attempt > 0) sent in the measured phase.
    pub fallback_attempts: u64,
}

/// Which breakdowns to keep.
#[derive(Debug, Clone, Default)]
pub struct GroupSpec {
    /// Number of classes to break down by (0: none).
    pub classes: usize,
    /// Number of turn slots (0: none).
    pub turns: usize,
    /// Break down fresh vs repeated.
    pub cache: bool,
    /// Number of routing rules (0: none).
    pub routes: usize,
    /// Keep the end-user view of fallback chains.
    pub fallback: bool,
    /// Each model's price.
    pub prices: Vec<Option<Price>>,
    /// Objectives for the end-user view.
    pub user_slo: Slo,
}

impl Stats {
    /// Measured-phase arrivals (every outcome, dropped included).
    pub fn issued(&self) -> u64 {
        self.outcomes.iter().sum()
    }

    /// Count for one outcome.
    pub fn count(&self, o: Outcome) -> u64 {
        self.outcomes[o.index()]
    }

    /// Measured-phase failures: sent, not ok.
    pub fn failed(&self) -> u64 {
        Outcome::ALL
            .iter()
            .filter(|o| o.was_sent() && **o != Outcome::Ok)
            .map(|o| self.count(*o))
            .sum()
    }
}

/// One second of the run. Serialised (in a shard's partial result) without the percentiles,
/// which are derived from `ttft_hist` when it is read back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Requests sent.
    pub sent: u64,
    /// Requests that ended ok.
    pub ok: u64,
    /// Requests that ended in error.
    pub failed: u64,
    /// Arrivals dropped.
    pub dropped: u64,
    /// Output tokens by event time.
    pub output_tokens: u64,
    /// Highest in-flight count sampled.
    pub in_flight_max: u64,
    /// Errors by outcome name.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "merge::outcome_names"
    )]
    pub errors: BTreeMap<&'static str, u64>,
    /// TTFT p50 of first tokens seen in this second (ms).
    #[serde(skip)]
    pub ttft_p50_ms: Option<f64>,
    /// TTFT p99 (ms).
    #[serde(skip)]
    pub ttft_p99_ms: Option<f64>,
    /// TTFT samples in this second.
    pub ttft_count: u64,
    /// The second's TTFT histogram, encoded; kept only when the collector is asked to
    /// (a shard's partial result, so merged seconds get exact percentiles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_hist: Option<String>,
    /// The tightest quota the server stated on responses whose headers arrived in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<quota::QuotaPoint>,
}

/// The measurement window in µs since start; `end_us` is None until sending stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start (end of warmup).
    pub start_us: u64,
    /// End (start of cooldown), when known.
    pub end_us: Option<u64>,
}

impl Window {
    fn contains(&self, t: u64) -> bool {
        t >= self.start_us && self.end_us.is_none_or(|e| t < e)
    }
}

/// Folds records into metrics. Everything folded so far is the collector's
/// [`CollectorState`], which it dereferences to (`c.overall`, `c.models`, `c.series`, …) and
/// which a shard's partial result carries as it is; the rest is working space.
#[derive(Debug)]
pub struct Collector {
    folded: CollectorState,
    in_flight_sum: f64,
    keep_second_hists: bool,
    spec: GroupSpec,
    slo: Vec<Slo>,
    open_ttft: BTreeMap<usize, SecondTtft>,
    /// Seconds below this are packed (or closed).
    packed_below: usize,
    hold_us: u64,
    /// Scratch space reused by [`Collector::add`]: tokens per event, tokens per second.
    split: Vec<u32>,
    by_second: Vec<(usize, u64)>,
}

impl std::ops::Deref for Collector {
    type Target = CollectorState;

    fn deref(&self) -> &CollectorState {
        &self.folded
    }
}

const SEC_US: u64 = 1_000_000;

impl Collector {
    /// `hold_us`: how long after a second ends a first token may still be reported for it
    /// (the longest a request can last); per-second TTFT histograms older than that are
    /// reduced to their percentiles so memory stays flat.
    /// `slo` holds each model's objectives, indexed like the plan's models.
    pub fn new(models: usize, window: Window, slo: Vec<Slo>, hold_us: u64) -> Collector {
        Collector {
            folded: CollectorState {
                models: vec![Stats::default(); models],
                overall: Stats::default(),
                schedule_lag: Hist::default(),
                queue_time: Hist::default(),
                arrivals_in_window: 0,
                sent_in_window: 0,
                arrivals_sent_in_window: 0,
                skipped_in_window: 0,
                last_end_us: 0,
                window_start_us: window.start_us,
                window_end_us: window.end_us,
                in_flight_mean: None,
                in_flight_samples: 0,
                groups: Groups::default(),
                series: Vec::new(),
            },
            in_flight_sum: 0.0,
            keep_second_hists: false,
            spec: GroupSpec::default(),
            slo,
            open_ttft: BTreeMap::new(),
            packed_below: 0,
            hold_us,
            split: Vec::new(),
            by_second: Vec::new(),
        }
    }

    /// Turns on the breakdowns `spec` asks for (call before the first record).
    pub fn set_groups(&mut self, spec: GroupSpec) {
        let models = self.folded.models.len();
        self.folded.groups = Groups {
            classes: vec![Stats::default(); spec.classes],
            turns: vec![Stats::default(); spec.turns],
            cache: if spec.cache {
                vec![Stats::default(); 2]
            } else {
                Vec::new()
            },
            routes: if spec.routes > 0 {
                vec![vec![0; models]; spec.routes + 1]
            } else {
                Vec::new()
            },
            end_user: spec.fallback.then(Stats::default),
            fell_back: 0,
            answered_by: vec![0; models],
            fallback_attempts: 0,
        };
        self.spec = spec;
    }

    /// Sets the window's end once sending stops.
    pub fn set_window_end(&mut self, end_us: u64) {
        self.folded.window_end_us = Some(end_us);
    }

    /// The window.
    #[inline]
    pub fn window(&self) -> Window {
        Window {
            start_us: self.folded.window_start_us,
            end_us: self.folded.window_end_us,
        }
    }

    /// Replaces the window (a live judgement narrows it to "so far", then restores it).
    pub fn set_window(&mut self, w: Window) {
        self.folded.window_start_us = w.start_us;
        self.folded.window_end_us = w.end_us;
    }

    fn bucket(&mut self, t_us: u64) -> &mut Bucket {
        let i = (t_us / SEC_US) as usize;
        if self.folded.series.len() <= i {
            self.folded.series.resize_with(i + 1, Bucket::default);
        }
        &mut self.folded.series[i]
    }

    /// Notes the in-flight count at time `t_us`.
    pub fn sample_in_flight(&mut self, t_us: u64, in_flight: u64) {
        if self.window().contains(t_us) {
            self.in_flight_sum += in_flight as f64;
            self.folded.in_flight_samples += 1;
            self.folded.in_flight_mean = self.in_flight_mean();
        }
        let b = self.bucket(t_us);
        b.in_flight_max = b.in_flight_max.max(in_flight);
    }

    /// Mean of the in-flight samples taken inside the window (None without samples).
    pub fn in_flight_mean(&self) -> Option<f64> {
        (self.folded.in_flight_samples > 0)
            .then(|| self.in_flight_sum / self.folded.in_flight_samples as f64)
    }

    /// Folds one finished record in. `model` indexes the plan's models.
    pub fn add(&mut self, model: usize, r: &RequestRecord) {
        let measured = r.phase == Phase::Measure;
        let sent = r.outcome.was_sent();
        self.folded.last_end_us = self.folded.last_end_us.max(r.t_end_us);
        self.count_in_series(r);
        let mut split = std::mem::take(&mut self.split);
        let per_event = token_split_into(r, &mut split).then_some(&split[..]);
        let mut by_second = std::mem::take(&mut self.by_second);
        let window_out = self.count_output_tokens(r, per_event, &mut by_second);
        self.note_ttft(r);
        if !r.quota.is_empty() || r.retry_after_s.is_some() {
            self.note_quota(model, r);
        }
        self.close_old_seconds(r.t_end_us);

        let in_window_send = r.t_send_us.is_some_and(|t| self.window().contains(t));
        let ended_in_window = r.outcome == Outcome::Ok && self.window().contains(r.t_end_us);
        self.count_arrival(r, measured, in_window_send);
        let d = Derived {
            measured,
            sent,
            window_out,
            by_second: &by_second,
            in_window_send,
            ended_in_window,
            slo_ok: measured && r.outcome == Outcome::Ok && self.meets_model_slo(model, r),
            usd: self
                .spec
                .prices
                .get(model)
                .copied()
                .flatten()
                .map(|p| bill_one(&p, r)),
            per_event,
        };
        fold(&mut self.folded.models[model], r, &d);
        fold(&mut self.folded.overall, r, &d);
        self.fold_groups(model, r, &d);
        if self.folded.groups.end_user.is_some() {
            self.fold_end_user(model, r, &d);
        }
        self.split = split;
        self.by_second = by_second;
    }

    /// The server's quota figures: into the second its response headers arrived, and into the
    /// model's and the overall summary (every phase: the quota is the account's, not the
    /// window's).
    #[cold]
    fn note_quota(&mut self, model: usize, r: &RequestRecord) {
        let t = r.t_headers_us.unwrap_or(r.t_end_us);
        if !r.quota.is_empty() {
            self.bucket(t)
                .quota
                .get_or_insert_with(Default::default)
                .note(&r.quota);
        }
        if let Some(s) = self.folded.models.get_mut(model) {
            s.quota.note(&r.quota, r.retry_after_s, t);
        }
        self.folded.overall.quota.note(&r.quota, r.retry_after_s, t);
    }

    /// The 1 s series and the window's send count, by event time whatever the phase.
    #[inline]
    fn count_in_series(&mut self, r: &RequestRecord) {
        if let Some(ts) = r.t_send_us {
            self.bucket(ts).sent += 1;
            if self.window().contains(ts) {
                self.folded.sent_in_window += 1;
            }
        }
        match r.outcome {
            Outcome::Dropped => self.bucket(r.t_dispatch_us).dropped += 1,
            Outcome::Cancelled => {}
            Outcome::Ok => self.bucket(r.t_end_us).ok += 1,
            other => {
                let b = self.bucket(r.t_end_us);
                b.failed += 1;
                *b.errors.entry(other.name()).or_default() += 1;
            }
        }
    }

    /// Places each output event's tokens (`per_event`) at its event time: in the 1 s series,
    /// and as (second, tokens) runs in `by_second` (cleared first). Returns the tokens whose
    /// event time falls inside the window.
    #[inline]
    fn count_output_tokens(
        &mut self,
        r: &RequestRecord,
        per_event: Option<&[u32]>,
        by_second: &mut Vec<(usize, u64)>,
    ) -> u64 {
        by_second.clear();
        let mut window_out = 0u64;
        let (Some(first), Some(k)) = (r.t_first_us, per_event) else {
            return window_out;
        };
        let mut t = first;
        for (i, &n) in k.iter().enumerate() {
            if i > 0 {
                t += r.gaps.get(i - 1).map(|g| g.0 as u64).unwrap_or(0);
            }
            self.bucket(t).output_tokens += n as u64;
            let sec = (t / SEC_US) as usize;
            match by_second.last_mut() {
                Some((s, c)) if *s == sec => *c += n as u64,
                _ => by_second.push((sec, n as u64)),
            }
            if self.window().contains(t) {
                window_out += n as u64;
            }
        }
        window_out
    }

    /// A successful request's TTFT, in the histogram of the second its first token came in.
    #[inline]
    fn note_ttft(&mut self, r: &RequestRecord) {
        if r.outcome != Outcome::Ok {
            return;
        }
        if let (Some(tf), Some(ts)) = (r.t_first_us, r.t_send_us) {
            let sec = (tf / SEC_US) as usize;
            let v = tf.saturating_sub(ts);
            match self
                .open_ttft
                .entry(sec)
                .or_insert_with(|| SecondTtft::Open(Hist::growable(2)))
            {
                SecondTtft::Open(h) => h.record(v),
                SecondTtft::Packed { late, .. } => late.push(v),
            }
        }
    }

    /// Run-level counts of arrivals: measured, skipped by the guard, sent in the window; and
    /// the run's schedule lag and queue time of first attempts.
    #[inline]
    fn count_arrival(&mut self, r: &RequestRecord, measured: bool, in_window_send: bool) {
        // An arrival is a request's first turn and first attempt; later turns and fallback
        // attempts are requests too, but not arrivals of the load schedule.
        let arrival = r.turn == 0 && r.attempt == 0;
        if measured && arrival {
            self.folded.arrivals_in_window += 1;
            if r.outcome == Outcome::Skipped {
                self.folded.skipped_in_window += 1;
            }
        }
        if arrival && in_window_send {
            self.folded.arrivals_sent_in_window += 1;
        }
        if measured && r.attempt == 0 {
            self.folded
                .schedule_lag
                .record(r.t_dispatch_us.saturating_sub(r.t_sched_us));
            if let Some(ts) = r.t_send_us {
                self.folded
                    .queue_time
                    .record(ts.saturating_sub(r.t_dispatch_us));
            }
        }
    }

    /// Whether the request met its model's objectives (false when it has none).
    #[inline]
    fn meets_model_slo(&self, model: usize, r: &RequestRecord) -> bool {
        self.slo
            .get(model)
            .is_some_and(|s| s.is_set() && meets_slo(s, r))
    }

    /// Class, turn, cache and route breakdowns.
    #[inline]
    fn fold_groups(&mut self, model: usize, r: &RequestRecord, d: &Derived) {
        let g = &mut self.folded.groups;
        if let Some(s) = g.classes.get_mut(r.tags.class as usize) {
            fold(s, r, d);
        }
        if !g.turns.is_empty() {
            let i = (r.turn as usize).min(g.turns.len() - 1);
            fold(&mut g.turns[i], r, d);
        }
        if !g.cache.is_empty() {
            fold(&mut g.cache[r.repeat as usize], r, d);
        }
        if d.measured && r.attempt == 0 && !g.routes.is_empty() {
            if let Some(route) = r.tags.route {
                let i = (route as usize).min(g.routes.len() - 1);
                if let Some(c) = g.routes[i].get_mut(model) {
                    *c += 1;
                }
            }
        }
    }

    /// The end user's view of fallback chains (call when it is kept).
    #[inline]
    fn fold_end_user(&mut self, model: usize, r: &RequestRecord, d: &Derived) {
        let window = self.window();
        let g = &mut self.folded.groups;
        if d.measured && r.attempt > 0 && d.sent {
            g.fallback_attempts += 1;
        }
        if r.fell_back {
            return;
        }
        // The end user's request: its final attempt, timed from when the user's request was
        // scheduled, so the failed attempts' time is included.
        let mut u = r.clone();
        u.t_sched_us = r.t_user_sched_us.unwrap_or(r.t_sched_us);
        let user_measured = window.contains(u.t_sched_us);
        let slo = self.spec.user_slo;
        let d = Derived {
            measured: user_measured,
            slo_ok: user_measured
                && u.outcome == Outcome::Ok
                && slo.is_set()
                && meets_slo(&slo, &u),
            ..*d
        };
        if user_measured {
            if r.attempt > 0 {
                g.fell_back += 1;
            }
            if u.outcome == Outcome::Ok {
                if let Some(c) = g.answered_by.get_mut(model) {
                    *c += 1;
                }
            }
        }
        if let Some(s) = g.end_user.as_mut() {
            fold(s, &u, &d);
        }
    }

    fn close_old_seconds(&mut self, now_us: u64) {
        let horizon = now_us.saturating_sub(self.hold_us + SEC_US) / SEC_US;
        while let Some((&sec, _)) = self.open_ttft.first_key_value() {
            if sec as u64 >= horizon {
                break;
            }
            if let Some((sec, t)) = self.open_ttft.pop_first() {
                self.finalize_second(sec, t.unpack());
            }
        }
        // Seconds older than PACK_AFTER_S stay open for late first tokens (requests still
        // streaming), but packed: a few hundred bytes each instead of a histogram's array.
        let pack_below = (now_us / SEC_US).saturating_sub(PACK_AFTER_S) as usize;
        if pack_below > self.packed_below {
            let range = self.packed_below..pack_below;
            for (_, t) in self.open_ttft.range_mut(range) {
                t.pack();
            }
            self.packed_below = pack_below;
        }
    }

    fn finalize_second(&mut self, sec: usize, h: Hist) {
        let keep = self.keep_second_hists;
        let b = self.bucket(sec as u64 * SEC_US);
        if keep {
            b.ttft_hist = Some(h.encode());
        }
        b.ttft_count = h.len();
        b.ttft_p50_ms = Some(h.quantile(0.5) as f64 / 1e3);
        b.ttft_p99_ms = Some(h.quantile(0.99) as f64 / 1e3);
    }

    /// Reduces every remaining per-second histogram; call once at the end.
    pub fn finish(&mut self) {
        while let Some((sec, t)) = self.open_ttft.pop_first() {
            self.finalize_second(sec, t.unpack());
        }
    }
}

/// Seconds after which an open per-second TTFT histogram is packed.
const PACK_AFTER_S: u64 = 5;

/// One second's TTFT samples while first tokens may still be reported for it: a histogram for
/// recent seconds; for older ones, its packed form plus the few samples that came later (from
/// requests that were still streaming), so a long run's memory does not grow with its length.
#[derive(Debug)]
enum SecondTtft {
    Open(Hist),
    Packed { hist: Vec<u8>, late: Vec<u64> },
}

impl SecondTtft {
    fn pack(&mut self) {
        if let SecondTtft::Open(h) = self {
            *self = SecondTtft::Packed {
                hist: h.packed(),
                late: Vec::new(),
            };
        }
    }

    fn unpack(self) -> Hist {
        match self {
            SecondTtft::Open(h) => h,
            SecondTtft::Packed { hist, late } => {
                // The encoding was made here a moment ago; it cannot be corrupt.
                let mut h = Hist::from_packed(&hist).unwrap_or_else(|_| Hist::growable(2));
                h.make_growable();
                for v in late {
                    h.record(v);
                }
                h
            }
        }
    }
}

/// What one record contributes, computed once and folded into every group it belongs to.
#[derive(Clone, Copy)]
struct Derived<'a> {
    measured: bool,
    sent: bool,
    window_out: u64,
    by_second: &'a [(usize, u64)],
    in_window_send: bool,
    ended_in_window: bool,
    slo_ok: bool,
    usd: Option<(f64, f64)>,
    per_event: Option<&'a [u32]>,
}

fn fold(s: &mut Stats, r: &RequestRecord, d: &Derived) {
    s.window_output_tokens += d.window_out;
    for &(sec, n) in d.by_second {
        if s.output_per_s.len() <= sec {
            s.output_per_s.resize(sec + 1, 0);
        }
        s.output_per_s[sec] += n;
    }
    if d.in_window_send {
        s.window_input_tokens += r.input_tokens.unwrap_or(0);
    }
    if d.ended_in_window {
        s.window_completed += 1;
    }
    if d.sent {
        s.sent_all_phases += 1;
        add_tokens(&mut s.tokens_all_phases, r);
        add_usd(&mut s.usd_all_phases, d.usd);
    }
    if !d.measured {
        return;
    }
    s.outcomes[r.outcome.index()] += 1;
    if d.sent && r.outcome != Outcome::Ok {
        errors::record(&mut s.error_messages, r.outcome.name(), r.error.as_deref());
    }
    if r.usage_mismatch {
        s.usage_mismatch += 1;
    }
    if r.over_context {
        s.over_context += 1;
    }
    s.reconnects += r.reconnects as u64;
    s.retries_429 += r.retries as u64;
    s.backoff_us += r.backoff_us;
    if d.sent {
        add_tokens(&mut s.tokens, r);
        add_usd(&mut s.usd, d.usd);
        if let Some(src) = r.output_tokens_source {
            s.output_sources[source_index(src)] += 1;
        }
        if let Some(src) = r.input_tokens_source {
            s.input_sources[source_index(src)] += 1;
        }
    }
    s.hists
        .schedule_lag
        .record(r.t_dispatch_us.saturating_sub(r.t_sched_us));
    if let Some(ts) = r.t_send_us {
        s.hists
            .queue_time
            .record(ts.saturating_sub(r.t_dispatch_us));
    }
    if d.slo_ok {
        s.slo_met += 1;
        s.slo_met_output_tokens += r.output_tokens.unwrap_or(0);
    }
    if r.outcome == Outcome::Ok {
        s.inputs_ok += r.inputs as u64;
        s.tool_answers_ok += u64::from(r.tool_calls > 0);
        s.tool_calls_ok += u64::from(r.tool_calls);
        s.images_ok += u64::from(r.images);
        s.image_bytes_ok += r.image_bytes;
        record_latencies(&mut s.hists, r, d.per_event);
    }
}

fn add_usd(u: &mut Usd, v: Option<(f64, f64)>) {
    match v {
        Some((i, o)) => {
            u.input += i;
            u.output += o;
        }
        None => u.unpriced += 1,
    }
}

/// One request's cost at a price: cached input at the cached price when one is set.
pub fn bill_one(p: &Price, r: &RequestRecord) -> (f64, f64) {
    let input = r.input_tokens.unwrap_or(0);
    let cached = r.cached_tokens.unwrap_or(0).min(input);
    let input_usd = match p.cached_input_per_m {
        Some(c) => (input - cached) as f64 / 1e6 * p.input_per_m + cached as f64 / 1e6 * c,
        None => input as f64 / 1e6 * p.input_per_m,
    };
    (
        input_usd,
        r.output_tokens.unwrap_or(0) as f64 / 1e6 * p.output_per_m,
    )
}

fn source_index(s: TokenSource) -> usize {
    match s {
        TokenSource::Usage => 0,
        TokenSource::Tokenizer => 1,
        TokenSource::Events => 2,
    }
}

fn add_tokens(t: &mut Tokens, r: &RequestRecord) {
    t.input += r.input_tokens.unwrap_or(0);
    t.output += r.output_tokens.unwrap_or(0);
    t.reasoning += r.reasoning_tokens.unwrap_or(0);
    t.cached_input += r.cached_tokens.unwrap_or(0);
}

fn meets_slo(slo: &Slo, r: &RequestRecord) -> bool {
    let ms = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_sub(b) as f64 / 1e3),
        _ => None,
    };
    let check = |bound: Option<f64>, v: Option<f64>| match bound {
        None => true,
        Some(b) => v.is_some_and(|v| v <= b),
    };
    // Objectives are judged from the scheduled time: a user who arrived then waited through
    // any queueing too (the coordinated-omission-safe reading).
    let t0 = Some(r.t_sched_us);
    check(slo.ttft_ms, ms(r.t_first_us, t0))
        && check(slo.ttft_answer_ms, ms(r.t_first_answer_us, t0))
        && check(slo.e2e_ms, ms(Some(r.t_end_us), t0))
        && (slo.tpot_ms.is_none() || check(slo.tpot_ms, tpot_us(r).map(|v| v / 1e3)))
}

/// TPOT in µs for requests with at least two output tokens over at least two events.
pub fn tpot_us(r: &RequestRecord) -> Option<f64> {
    let (first, last, n) = (r.t_first_us?, r.t_last_us?, r.output_tokens?);
    if n < 2 || r.output_events < 2 {
        return None;
    }
    Some(last.saturating_sub(first) as f64 / (n - 1) as f64)
}

/// Tokens carried by each output event: one each when the server's count equals the number
/// of events; otherwise the count is apportioned over events by their output bytes (largest
/// remainder), so a chunk of four words counts about four tokens. None when unknown.
/// [`token_split`] into `out` (cleared first), without allocating in the usual case of one
/// token per event; false when unknown.
pub(crate) fn token_split_into(r: &RequestRecord, out: &mut Vec<u32>) -> bool {
    out.clear();
    let n = r.output_events as usize;
    if n == 0 {
        return false;
    }
    if r.output_tokens.unwrap_or(n as u64) == n as u64 {
        out.resize(n, 1);
        return true;
    }
    match token_split(r) {
        Some(k) => {
            out.extend_from_slice(&k);
            true
        }
        None => false,
    }
}

pub fn token_split(r: &RequestRecord) -> Option<Vec<u32>> {
    let n = r.output_events as usize;
    if n == 0 {
        return None;
    }
    let total = r.output_tokens.unwrap_or(n as u64);
    if total == n as u64 {
        return Some(vec![1; n]);
    }
    let mut bytes: Vec<u64> = Vec::with_capacity(n);
    bytes.push(r.first_event_bytes as u64);
    bytes.extend(r.gaps.iter().map(|g| g.1 as u64));
    bytes.truncate(n);
    while bytes.len() < n {
        bytes.push(0);
    }
    let sum: u64 = bytes.iter().sum();
    if sum == 0 {
        bytes.iter_mut().for_each(|b| *b = 1);
    }
    let sum: u64 = bytes.iter().sum();
    let mut k: Vec<u32> = Vec::with_capacity(n);
    let mut rema: Vec<(u64, usize)> = Vec::with_capacity(n);
    let mut given = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        let exact = total as u128 * *b as u128;
        let q = (exact / sum as u128) as u64;
        given += q;
        k.push(q as u32);
        rema.push(((exact % sum as u128) as u64, i));
    }
    rema.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in rema.iter().take((total - given) as usize) {
        k[i] += 1;
    }
    Some(k)
}

fn record_latencies(h: &mut Hists, r: &RequestRecord, per_event: Option<&[u32]>) {
    let Some(ts) = r.t_send_us else { return };
    if let Some(tf) = r.t_first_us {
        h.ttft.record(tf.saturating_sub(ts));
        h.ttft_scheduled.record(tf.saturating_sub(r.t_sched_us));
    }
    if let Some(ta) = r.t_first_answer_us {
        h.ttft_answer.record(ta.saturating_sub(ts));
    }
    h.e2e.record(r.t_end_us.saturating_sub(ts));
    h.e2e_scheduled
        .record(r.t_end_us.saturating_sub(r.t_sched_us));
    if let Some(t) = tpot_us(r) {
        h.tpot.record(t.round() as u64);
    }
    let Some(k) = per_event else { return };
    // Runs of equal sizes (typically one token per event) go in as one count each.
    let mut run = (0u32, 0u64);
    for &n in k.iter().filter(|&&n| n > 0) {
        if n == run.0 {
            run.1 += 1;
        } else {
            if run.1 > 0 {
                h.tokens_per_chunk.record_n(run.0 as u64, run.1);
            }
            run = (n, 1);
        }
    }
    if run.1 > 0 {
        h.tokens_per_chunk.record_n(run.0 as u64, run.1);
    }
    for_each_gap(r, k, |gap, itl| {
        h.inter_chunk.record(gap);
        if let Some((v, n)) = itl {
            h.itl.record_n(v, n);
        }
    });
}

/// Walks a successful record's gaps between output events (µs), with each gap's token-weighted
/// inter-token latency: `Some((µs per token, tokens))` for an event that carries tokens
/// (`per_event` from [`token_split_into`]). Gaps before events that carry no whole token are
/// carried into the next event, so the token-weighted ITL still sums to the decode time.
#[inline]
pub(crate) fn for_each_gap(
    r: &RequestRecord,
    per_event: &[u32],
    mut f: impl FnMut(u64, Option<(u64, u64)>),
) {
    let mut carried = 0u64;
    for (i, &(gap, _)) in r.gaps.iter().enumerate() {
        let n = per_event.get(i + 1).copied().unwrap_or(0) as u64;
        let g = gap as u64 + carried;
        if n == 0 {
            carried = g;
            f(gap as u64, None);
            continue;
        }
        carried = 0;
        f(gap as u64, Some((g / n, n)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(events: u32, tokens: u64, first_bytes: u32, gaps: Vec<(u32, u32)>) -> RequestRecord {
        let mut r = RequestRecord::unsent(0, "m".into(), Phase::Measure, Outcome::Ok, 0, 0);
        r.t_send_us = Some(1_000);
        r.t_first_us = Some(101_000);
        let total: u64 = gaps.iter().map(|g| g.0 as u64).sum();
        r.t_last_us = Some(101_000 + total);
        r.t_end_us = 101_000 + total + 10;
        r.output_events = events;
        r.output_tokens = Some(tokens);
        r.first_event_bytes = first_bytes;
        r.gaps = gaps;
        r
    }

    #[test]
    fn split_is_one_per_event_when_counts_match() {
        let r = rec(3, 3, 4, vec![(20_000, 4), (20_000, 4)]);
        assert_eq!(token_split(&r), Some(vec![1, 1, 1]));
    }

    #[test]
    fn split_apportions_by_bytes_and_conserves_total() {
        let r = rec(3, 10, 16, vec![(40_000, 16), (40_000, 8)]);
        let k = token_split(&r).expect("known");
        assert_eq!(k.iter().map(|&x| x as u64).sum::<u64>(), 10);
        assert_eq!(k, vec![4, 4, 2]);
    }

    #[test]
    fn itl_is_token_weighted() {
        // Two gaps of 40 ms, each event carries 4 tokens: 8 ITL samples of 10 ms.
        let r = rec(3, 12, 10, vec![(40_000, 10), (40_000, 10)]);
        let mut c = Collector::new(
            1,
            Window {
                start_us: 0,
                end_us: None,
            },
            vec![Slo::default()],
            1,
        );
        c.add(0, &r);
        let h = &c.overall.hists;
        assert_eq!(h.itl.len(), 8);
        // HDR reports the top of the 3-significant-digit bucket holding the value.
        assert!(h.itl.inner().equivalent(h.itl.quantile(0.5), 10_000));
        assert_eq!(h.inter_chunk.len(), 2);
        assert!(h.ttft.inner().equivalent(h.ttft.quantile(0.5), 100_000));
        // TPOT = 80 ms / 11 tokens.
        assert!((h.tpot.quantile(0.5) as f64 - 80_000.0 / 11.0).abs() < 10.0);
        assert_eq!(c.overall.window_output_tokens, 12);
    }

    #[test]
    fn failures_are_counted_not_timed() {
        let mut r = rec(2, 2, 3, vec![(10_000, 3)]);
        r.outcome = Outcome::StreamCut;
        let mut c = Collector::new(
            1,
            Window {
                start_us: 0,
                end_us: None,
            },
            vec![Slo::default()],
            1,
        );
        c.add(0, &r);
        assert_eq!(c.overall.failed(), 1);
        assert!(c.overall.hists.ttft.is_empty());
        let d = RequestRecord::unsent(1, "m".into(), Phase::Measure, Outcome::Dropped, 5, 6);
        c.add(0, &d);
        assert_eq!(c.overall.count(Outcome::Dropped), 1);
        assert_eq!(c.overall.issued(), 2);
        assert_eq!(c.overall.failed(), 1);
    }
}
