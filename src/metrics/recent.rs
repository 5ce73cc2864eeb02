//! Per-second figures of recently ended requests (count, output tokens, a coarse TTFT
//! histogram) for the live progress view. The collector task fills it from the records it
//! already folds, with plain atomics and no allocation, so the request path does no extra work;
//! the view reads a sliding window of whole seconds.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::core::record::{Outcome, RequestRecord};

/// Seconds of the sliding window the TTFT percentiles and output rate cover.
pub const WINDOW_S: u64 = 5;
/// A second is read only this long after it ends, so the collector (which drains records every
/// 250 ms) has folded its requests in.
const SETTLE_US: u64 = 300_000;
/// Seconds kept: the window, the second being settled, the current one, and spare.
pub(crate) const SLOTS: usize = 8;
/// TTFT buckets: geometric, each 2 % wider than the previous, from 100 µs; about 100 s at the top.
pub(crate) const BUCKETS: usize = 698;
const LOW_US: f64 = 100.0;
const GROWTH: f64 = 1.02;
pub(crate) const SEC_US: u64 = 1_000_000;

pub(crate) fn bucket_of(us: u64) -> usize {
    let v = (us as f64).max(LOW_US);
    ((v / LOW_US).ln() / GROWTH.ln())
        .floor()
        .clamp(0.0, (BUCKETS - 1) as f64) as usize
}

/// The geometric middle of a bucket, in ms (within 1 % of any value in it).
pub(crate) fn bucket_mid_ms(b: usize) -> f64 {
    LOW_US * GROWTH.powf(b as f64 + 0.5) / 1e3
}

struct Slot {
    /// The second this slot holds, plus one (0: empty).
    tag: AtomicU64,
    ended: AtomicU64,
    output_tokens: AtomicU64,
    ttft: [AtomicU32; BUCKETS],
}

impl Slot {
    fn new() -> Slot {
        Slot {
            tag: AtomicU64::new(0),
            ended: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
            ttft: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }
}

/// Per-second figures of the requests that ended in the last few seconds of the run clock
/// (a ring of [`SLOTS`] seconds): how many ended, their output tokens, and a coarse TTFT
/// histogram of those that ended ok. Lock-free; written by one task (the collector), read by
/// the progress view.
pub struct Recent {
    slots: Box<[Slot]>,
}

impl Default for Recent {
    fn default() -> Self {
        Recent {
            slots: (0..SLOTS).map(|_| Slot::new()).collect(),
        }
    }
}

impl std::fmt::Debug for Recent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recent").finish_non_exhaustive()
    }
}

/// The sliding window's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windowed {
    /// Whole seconds covered (fewer than [`WINDOW_S`] early in a run; 0: none yet).
    pub seconds: u64,
    /// Requests that ended in them.
    pub ended: u64,
    /// TTFT median of the ok ones (ms).
    pub ttft_p50_ms: Option<f64>,
    /// TTFT 99th percentile (ms).
    pub ttft_p99_ms: Option<f64>,
    /// Output tokens of the requests that ended, per second.
    pub output_tok_s: f64,
}

impl Recent {
    /// Folds one finished record in (attributed to the second it ended in).
    pub fn add(&self, r: &RequestRecord) {
        let ttft = match (r.outcome, r.t_first_us, r.t_send_us) {
            (Outcome::Ok, Some(f), Some(s)) => Some(f.saturating_sub(s)),
            _ => None,
        };
        let tokens = if r.outcome.was_sent() {
            r.output_tokens.unwrap_or(0)
        } else {
            0
        };
        self.add_raw(r.t_end_us, ttft, tokens);
    }

    /// Folds in a request that ended at `end_us` (run clock) with this TTFT and output.
    pub fn add_raw(&self, end_us: u64, ttft_us: Option<u64>, output_tokens: u64) {
        let tag = end_us / SEC_US + 1;
        let slot = &self.slots[(tag as usize) % SLOTS];
        let cur = slot.tag.load(Ordering::Acquire);
        if cur > tag {
            return; // older than the ring holds
        }
        if cur < tag
            && slot
                .tag
                .compare_exchange(cur, tag, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            slot.ended.store(0, Ordering::Relaxed);
            slot.output_tokens.store(0, Ordering::Relaxed);
            for b in &slot.ttft {
                b.store(0, Ordering::Relaxed);
            }
        }
        slot.ended.fetch_add(1, Ordering::Relaxed);
        slot.output_tokens
            .fetch_add(output_tokens, Ordering::Relaxed);
        if let Some(t) = ttft_us {
            slot.ttft[bucket_of(t)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The last [`WINDOW_S`] whole seconds that ended at least 300 ms before `now_us`.
    pub fn window(&self, now_us: u64) -> Windowed {
        let done = now_us.saturating_sub(SETTLE_US) / SEC_US; // seconds 0..done have settled
        let first = done.saturating_sub(WINDOW_S);
        let mut hist = [0u64; BUCKETS];
        let (mut ended, mut tokens) = (0u64, 0u64);
        for sec in first..done {
            let slot = &self.slots[((sec + 1) as usize) % SLOTS];
            if slot.tag.load(Ordering::Acquire) != sec + 1 {
                continue; // nothing ended in that second
            }
            ended += slot.ended.load(Ordering::Relaxed);
            tokens += slot.output_tokens.load(Ordering::Relaxed);
            for (h, b) in hist.iter_mut().zip(slot.ttft.iter()) {
                *h += b.load(Ordering::Relaxed) as u64;
            }
        }
        let seconds = done - first;
        Windowed {
            seconds,
            ended,
            ttft_p50_ms: quantile(&hist, 0.50),
            ttft_p99_ms: quantile(&hist, 0.99),
            output_tok_s: if seconds == 0 {
                0.0
            } else {
                tokens as f64 / seconds as f64
            },
        }
    }
}

fn quantile(hist: &[u64], q: f64) -> Option<f64> {
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return None;
    }
    // The smallest value with at least q·n values at or below it.
    let rank = ((q * n as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (b, &c) in hist.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return Some(bucket_mid_ms(b));
        }
    }
    None
}
