//! The load applied: mode, offered and achieved rates, the window, and the run-level schedule
//! lag and queue time.

use std::collections::BTreeMap;

use crate::core::metric::Metric;
use crate::metrics::{Collector, Summary};
use crate::results::window::Ctx;
use crate::results::{LoadResult, PlanOutline};

/// The load section; `lag` is the run's schedule lag summary (ms).
pub(super) fn load(frame: &PlanOutline, c: &Collector, cx: &Ctx, lag: Summary) -> LoadResult {
    let open = frame.mode != "closed";
    let mut histograms = BTreeMap::new();
    histograms.insert(
        Metric::ScheduleLag.as_str().to_string(),
        c.schedule_lag.encode(),
    );
    histograms.insert(
        Metric::QueueTime.as_str().to_string(),
        c.queue_time.encode(),
    );
    LoadResult {
        mode: frame.mode.clone(),
        arrival: frame.arrival.clone(),
        burstiness: frame.burstiness,
        offered_rate_per_s: open.then(|| cx.per(c.arrivals_in_window)),
        // Arrivals sent (a session's later turns and fallback attempts are requests, not
        // arrivals).
        achieved_send_rate_per_s: cx.per(c.arrivals_sent_in_window),
        concurrency: frame.concurrency,
        max_in_flight: frame.max_in_flight,
        in_flight_mean: c.in_flight_mean(),
        on_full: frame.on_full,
        warmup_s: frame.warmup_s,
        cooldown_s: frame.cooldown_s,
        window_start_s: cx.start_us as f64 / 1e6,
        window_end_s: cx.end_us as f64 / 1e6,
        window_s: cx.window_s,
        elapsed_s: c.last_end_us as f64 / 1e6,
        arrivals_in_window: c.arrivals_in_window,
        sent_in_window: c.sent_in_window,
        sent_all_phases: c.overall.sent_all_phases,
        schedule_lag_ms: lag,
        queue_time_ms: c.queue_time.summary(1e-3),
        histograms,
    }
}
