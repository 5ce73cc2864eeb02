//! Whether the numbers describe the endpoint: the reasons a run is invalid because the
//! generator, not the endpoint, limited it (arrivals not sent on time, schedule lag, a late
//! event loop, a saturated CPU), and the generator's own health figures behind them.

use crate::core::record::Outcome;
use crate::metrics::{Collector, Summary};
use crate::results::policy::{CPU_SATURATED, LONG_QUEUE_US, MIN_LOOP_LAG_SAMPLES};
use crate::results::throughput::clamped;
use crate::results::window::Ctx;
use crate::results::{GeneratorHealth, PlanOutline, RunMeta, RunStatus};

/// The reasons the run is invalid (empty when valid), in a fixed order, and the generator's
/// health over the window. `lag` is the run's schedule lag (ms).
pub(super) fn judge(
    frame: &PlanOutline,
    c: &Collector,
    meta: &RunMeta,
    cx: &Ctx,
    lag: &Summary,
) -> (Vec<String>, GeneratorHealth) {
    let generator = generator_health(meta, cx);
    let reasons = [
        send_ratio(frame, c, meta, cx),
        schedule_lag(lag, meta.max_lag_p99_ms),
        loop_lag(&generator.event_loop_lag_ms, meta.max_lag_p99_ms),
        cpu(generator.cpu_cores_used_mean, meta.worker_threads),
    ];
    (reasons.into_iter().flatten().collect(), generator)
}

/// The generator's own load over the window's whole seconds.
fn generator_health(meta: &RunMeta, cx: &Ctx) -> GeneratorHealth {
    let cpu_window = clamped(&meta.health.cpu_per_s, &cx.window_secs);
    let cpu_mean = if cpu_window.is_empty() {
        0.0
    } else {
        cpu_window.iter().sum::<f64>() / cpu_window.len() as f64
    };
    GeneratorHealth {
        worker_threads: meta.worker_threads,
        cpu_cores_used_mean: cpu_mean,
        cpu_cores_used_max: cpu_window.iter().copied().fold(0.0, f64::max),
        cpu_excludes_mock: meta.cpu_excludes_mock,
        event_loop_lag_ms: meta.health.loop_lag.summary(1e-3),
    }
}

/// Open loop: too few of the measured arrivals were sent in the window.
fn send_ratio(frame: &PlanOutline, c: &Collector, meta: &RunMeta, cx: &Ctx) -> Option<String> {
    let open = frame.mode != "closed";
    if !open || c.arrivals_in_window <= c.skipped_in_window {
        return None;
    }
    let dropped = c.overall.count(Outcome::Dropped);
    // A run stopped early has an artificial window edge: an arrival dispatched just before
    // the stop may be sent just after it. There the ratio counts the measured arrivals that
    // were sent at all (those cancelled by the stop itself are not the generator's fault).
    let stopped_early = meta.status != RunStatus::Complete;
    // Arrivals the context-window guard chose not to send are not the generator's
    // shortfall; later turns and fallback attempts are requests, not arrivals.
    let arrivals = c.arrivals_in_window - c.skipped_in_window;
    let ratio = if stopped_early {
        let cancelled = c.overall.count(Outcome::Cancelled);
        let sent = arrivals.saturating_sub(dropped + cancelled);
        sent as f64 / arrivals.saturating_sub(cancelled).max(1) as f64
    } else {
        c.arrivals_sent_in_window as f64 / arrivals.max(1) as f64
    };
    (ratio < meta.min_send_ratio).then(|| {
        let why = if dropped > 0 {
            format!(
                "{dropped} arrivals were dropped at max_in_flight = {}: the endpoint could not keep up with the offered rate",
                frame.max_in_flight
            )
        } else if c.queue_time.quantile(0.99) > LONG_QUEUE_US {
            "requests waited for a free in-flight slot or a rate cap (see queue_time)".to_string()
        } else {
            "the generator could not send on time".to_string()
        };
        // Arrivals sent (a session's later turns and fallback attempts are requests, not
        // arrivals).
        format!(
            "achieved send rate {:.2}/s is {:.1} % of the offered {:.2}/s (needs ≥ {:.0} %): {why}",
            cx.per(c.arrivals_sent_in_window),
            ratio * 100.0,
            cx.per(c.arrivals_in_window),
            meta.min_send_ratio * 100.0
        )
    })
}

/// The generator fell behind its own schedule.
fn schedule_lag(lag: &Summary, max_p99_ms: f64) -> Option<String> {
    (lag.count > 0 && lag.p99 > max_p99_ms).then(|| {
        format!(
            "p99 schedule lag {:.2} ms exceeds {:.0} ms: the generator fell behind its own schedule",
            lag.p99, max_p99_ms
        )
    })
}

/// The generator's event loop ran late.
fn loop_lag(loop_lag: &Summary, max_p99_ms: f64) -> Option<String> {
    (loop_lag.count >= MIN_LOOP_LAG_SAMPLES && loop_lag.p99 > max_p99_ms).then(|| {
        format!(
            "the generator's event loop ran late: a 50 ms probe timer fired {:.1} ms late at p99 (limit {:.0} ms)",
            loop_lag.p99, max_p99_ms
        )
    })
}

/// The generator used (nearly) all its CPU.
fn cpu(cpu_mean: f64, worker_threads: usize) -> Option<String> {
    (worker_threads > 0 && cpu_mean >= CPU_SATURATED * worker_threads as f64).then(|| {
        format!(
            "the generator used {:.2} of its {} CPU cores on average over the window: it was saturated",
            cpu_mean, worker_threads
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::{Phase, RequestRecord};
    use crate::metrics::Window;

    fn frame(mode: &str) -> PlanOutline {
        serde_json::from_value(serde_json::json!({
            "scenario": {"name": "x", "path": "x.toml", "sha256": "ab", "seed": 1},
            "slo": {}, "slo_set": false, "daily_requests": null, "models": [],
            "mode": mode, "arrival": null, "burstiness": null, "concurrency": null,
            "on_full": "drop", "max_in_flight": 10, "warmup_s": 0.0, "cooldown_s": 0.0,
            "classes": [], "sessions_max_turns": null, "routes": [], "fallback": null,
            "context_guard": null
        }))
        .expect("a frame")
    }

    /// 100 measured arrivals, one every 100 ms over a 10 s window: the first `dropped` are
    /// dropped, the next `cancelled` cancelled, the next `skipped` skipped by the guard, the
    /// rest sent 1 ms after their scheduled time.
    fn collector(dropped: u64, cancelled: u64, skipped: u64) -> Collector {
        let mut c = Collector::new(
            1,
            Window {
                start_us: 0,
                end_us: Some(10_000_000),
            },
            vec![Default::default()],
            1,
        );
        for i in 0..100u64 {
            let t = i * 100_000;
            let outcome = if i < dropped {
                Outcome::Dropped
            } else if i < dropped + cancelled {
                Outcome::Cancelled
            } else if i < dropped + cancelled + skipped {
                Outcome::Skipped
            } else {
                Outcome::Ok
            };
            let mut r = RequestRecord::unsent(i, "m".into(), Phase::Measure, outcome, t, t);
            r.t_end_us = t;
            if outcome == Outcome::Ok {
                r.t_send_us = Some(t + 1_000);
                r.t_end_us = t + 50_000;
            }
            c.add(0, &r);
        }
        c.finish();
        c
    }

    fn meta(status: RunStatus) -> RunMeta {
        RunMeta {
            status,
            min_send_ratio: 0.99,
            max_lag_p99_ms: 5.0,
            ..RunMeta::live()
        }
    }

    fn send_reason(mode: &str, c: &Collector, status: RunStatus) -> Option<String> {
        let cx = Ctx::new(false, None, c);
        send_ratio(&frame(mode), c, &meta(status), &cx)
    }

    #[test]
    fn the_send_ratio_is_judged_at_and_just_past_its_limit() {
        // 99 of 100 sent: exactly the 99 % asked for.
        assert_eq!(
            send_reason("open", &collector(1, 0, 0), RunStatus::Complete),
            None
        );
        let why = send_reason("open", &collector(2, 0, 0), RunStatus::Complete)
            .expect("98 % is short of 99 %");
        assert_eq!(
            why,
            "achieved send rate 9.80/s is 98.0 % of the offered 10.00/s (needs ≥ 99 %): 2 arrivals were dropped at max_in_flight = 10: the endpoint could not keep up with the offered rate"
        );
        // A closed loop has no offered rate to fall short of.
        assert_eq!(
            send_reason("closed", &collector(2, 0, 0), RunStatus::Complete),
            None
        );
    }

    #[test]
    fn arrivals_the_stop_cancelled_or_the_guard_skipped_are_not_a_shortfall() {
        let stopped = collector(0, 10, 0);
        assert_eq!(send_reason("open", &stopped, RunStatus::Interrupted), None);
        assert_eq!(send_reason("open", &stopped, RunStatus::Aborted), None);
        // Had the run completed, 10 unsent arrivals would be the generator's shortfall.
        let why = send_reason("open", &stopped, RunStatus::Complete).expect("90 %");
        assert!(why.contains("90.0 % of the offered"), "{why}");
        assert!(
            why.ends_with("the generator could not send on time"),
            "{why}"
        );
        assert_eq!(
            send_reason("open", &collector(0, 0, 10), RunStatus::Complete),
            None
        );
        // Every arrival skipped: nothing was the generator's to send.
        assert_eq!(
            send_reason("open", &collector(0, 0, 100), RunStatus::Complete),
            None
        );
    }

    fn summary(count: u64, p99: f64) -> Summary {
        Summary {
            count,
            p99,
            ..Summary::default()
        }
    }

    #[test]
    fn schedule_and_loop_lag_are_judged_just_past_the_limit() {
        assert_eq!(schedule_lag(&summary(100, 5.0), 5.0), None);
        assert_eq!(
            schedule_lag(&summary(100, 5.01), 5.0).as_deref(),
            Some(
                "p99 schedule lag 5.01 ms exceeds 5 ms: the generator fell behind its own schedule"
            )
        );
        assert_eq!(schedule_lag(&summary(0, 99.0), 5.0), None);
        // The event loop is judged from 20 probe samples on.
        assert_eq!(loop_lag(&summary(19, 80.0), 5.0), None);
        assert_eq!(loop_lag(&summary(20, 5.0), 5.0), None);
        assert_eq!(
            loop_lag(&summary(20, 5.04), 5.0).as_deref(),
            Some("the generator's event loop ran late: a 50 ms probe timer fired 5.0 ms late at p99 (limit 5 ms)")
        );
        // The live placeholder never judges lag.
        assert_eq!(
            schedule_lag(&summary(100, 1e9), RunMeta::live().max_lag_p99_ms),
            None
        );
    }

    #[test]
    fn the_cpu_is_saturated_from_nine_tenths_of_the_worker_threads() {
        assert_eq!(
            cpu(3.6, 4).as_deref(),
            Some("the generator used 3.60 of its 4 CPU cores on average over the window: it was saturated")
        );
        assert_eq!(cpu(3.59, 4), None);
        // Unknown thread count: not judged.
        assert_eq!(cpu(64.0, 0), None);
    }

    #[test]
    fn the_generator_health_covers_the_window_s_whole_seconds() {
        let mut c = collector(0, 0, 0);
        c.set_window(Window {
            start_us: 1_500_000,
            end_us: Some(4_500_000),
        });
        let cx = Ctx::new(false, None, &c);
        let mut m = meta(RunStatus::Complete);
        m.worker_threads = 2;
        // Seconds 2 and 3 are the window's whole seconds.
        m.health.cpu_per_s = vec![9.0, 9.0, 1.0, 2.0, 9.0];
        for _ in 0..20 {
            m.health.loop_lag.record(2_000);
        }
        let lag = summary(0, 0.0);
        let (reasons, g) = judge(&frame("open"), &c, &m, &cx, &lag);
        assert_eq!((g.cpu_cores_used_mean, g.cpu_cores_used_max), (1.5, 2.0));
        assert_eq!(g.event_loop_lag_ms.count, 20);
        assert_eq!(g.event_loop_lag_ms.p99, 2.0);
        assert!(reasons.is_empty(), "{reasons:?}");
        // The same seconds at 1.8 of 2 cores: saturated.
        m.health.cpu_per_s = vec![0.0, 0.0, 1.8, 1.8];
        let (reasons, _) = judge(&frame("open"), &c, &m, &cx, &lag);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(
            reasons[0].contains("1.80 of its 2 CPU cores"),
            "{reasons:?}"
        );
    }
}
