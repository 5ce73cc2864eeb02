//! The measurement window a result's rates and costs are relative to.

use crate::core::record::Outcome;
use crate::metrics::Collector;

/// The measurement window and what every row's rates and costs are relative to.
pub(super) struct Ctx {
    /// Window start (µs since the run's start).
    pub start_us: u64,
    /// Window end (µs): the collector's, or its last request end while sending goes on.
    pub end_us: u64,
    /// Window length (s).
    pub window_s: f64,
    /// Whole seconds inside the window, for peaks.
    pub window_secs: std::ops::Range<usize>,
    /// Whether any objective is set.
    pub slo_set: bool,
    /// The scenario's daily request volume.
    pub daily_requests: Option<f64>,
    /// Requests sent in the measured phase, all models (a group's share of a daily volume
    /// is its share of these).
    pub overall_sent: u64,
}

impl Ctx {
    /// The window of a collector.
    pub fn new(slo_set: bool, daily_requests: Option<f64>, c: &Collector) -> Ctx {
        let w = c.window();
        let start_us = w.start_us;
        let end_us = w.end_us.unwrap_or(c.last_end_us).max(start_us);
        let first_sec = start_us.div_ceil(1_000_000) as usize;
        let last_sec = (end_us / 1_000_000) as usize;
        Ctx {
            start_us,
            end_us,
            window_s: (end_us - start_us) as f64 / 1e6,
            window_secs: first_sec..last_sec.max(first_sec),
            slo_set,
            daily_requests,
            overall_sent: c.overall.issued()
                - c.overall.count(Outcome::Dropped)
                - c.overall.count(Outcome::Cancelled)
                - c.overall.count(Outcome::Skipped),
        }
    }

    /// A count per second of window (0 for an empty window).
    pub fn per(&self, n: u64) -> f64 {
        if self.window_s > 0.0 {
            n as f64 / self.window_s
        } else {
            0.0
        }
    }
}
