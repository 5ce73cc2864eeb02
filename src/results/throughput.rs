//! Rates over the measurement window: token and request throughput, the peak second, and SLO
//! attainment with its goodput.

use crate::metrics::Stats;
use crate::results::window::Ctx;
use crate::results::{SloResult, Throughput};

/// The part of a per-second series inside `range` (a series may end before the window does).
pub(super) fn clamped<'a, T>(series: &'a [T], range: &std::ops::Range<usize>) -> &'a [T] {
    let end = range.end.min(series.len());
    series.get(range.start.min(end)..end).unwrap_or(&[])
}

/// Throughput of one group over the window; the peak is the busiest whole second inside it.
pub(super) fn throughput(s: &Stats, cx: &Ctx) -> Throughput {
    let peak = clamped(&s.output_per_s, &cx.window_secs)
        .iter()
        .max()
        .copied()
        .unwrap_or(0) as f64;
    Throughput {
        output_tokens_per_s: cx.per(s.window_output_tokens),
        input_tokens_per_s: cx.per(s.window_input_tokens),
        requests_per_s: cx.per(s.window_completed),
        peak_output_tokens_per_s: peak,
    }
}

/// SLO attainment over the group's `issued` measured arrivals (failed and dropped ones count
/// as misses); the objectives are filled in by the caller.
pub(super) fn slo(s: &Stats, issued: u64, cx: &Ctx) -> SloResult {
    SloResult {
        objectives: Default::default(),
        met: s.slo_met,
        issued,
        attainment: if issued > 0 {
            s.slo_met as f64 / issued as f64
        } else {
            0.0
        },
        goodput_requests_per_s: cx.per(s.slo_met),
        goodput_output_tokens_per_s: cx.per(s.slo_met_output_tokens),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Collector, Window};

    fn ctx(start_us: u64, end_us: u64) -> Ctx {
        let c = Collector::new(
            0,
            Window {
                start_us,
                end_us: Some(end_us),
            },
            Vec::new(),
            0,
        );
        Ctx::new(false, None, &c)
    }

    #[test]
    fn rates_divide_by_the_window_and_the_peak_counts_whole_seconds_only() {
        // Window 1.5 s .. 4.5 s: 3 s long; whole seconds inside it are 2 and 3.
        let cx = ctx(1_500_000, 4_500_000);
        assert_eq!(cx.window_s, 3.0);
        assert_eq!(cx.window_secs, 2..4);
        let s = Stats {
            window_output_tokens: 600,
            window_input_tokens: 300,
            window_completed: 12,
            output_per_s: vec![0, 900, 150, 210, 800],
            ..Stats::default()
        };
        let t = throughput(&s, &cx);
        assert_eq!(t.output_tokens_per_s, 200.0);
        assert_eq!(t.input_tokens_per_s, 100.0);
        assert_eq!(t.requests_per_s, 4.0);
        // Seconds 1 and 4 are partly outside the window: their 900 and 800 do not count.
        assert_eq!(t.peak_output_tokens_per_s, 210.0);
    }

    #[test]
    fn an_empty_window_gives_zero_rates_not_infinities() {
        let cx = ctx(2_000_000, 2_000_000);
        let s = Stats {
            window_output_tokens: 5,
            slo_met: 3,
            output_per_s: vec![7, 7, 7],
            ..Stats::default()
        };
        let t = throughput(&s, &cx);
        assert_eq!(t.output_tokens_per_s, 0.0);
        assert_eq!(t.peak_output_tokens_per_s, 0.0);
        let slo = slo(&s, 0, &cx);
        assert_eq!((slo.attainment, slo.goodput_requests_per_s), (0.0, 0.0));
        assert_eq!(clamped(&[1, 2, 3], &(5..9)), &[] as &[i32]);
    }

    #[test]
    fn attainment_counts_every_measured_arrival() {
        let cx = ctx(0, 4_000_000);
        let s = Stats {
            slo_met: 30,
            slo_met_output_tokens: 2_000,
            ..Stats::default()
        };
        let r = slo(&s, 40, &cx);
        assert_eq!(r.attainment, 0.75);
        assert_eq!(r.goodput_requests_per_s, 7.5);
        assert_eq!(r.goodput_output_tokens_per_s, 500.0);
    }
}
