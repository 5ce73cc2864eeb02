//! The result's time series: one point per second since the start, with the generator's CPU.

use crate::metrics::Bucket;
use crate::results::SeriesPoint;

/// One point per 1 s bucket; `cpu_per_s` is the generator's CPU per second, when measured.
pub(super) fn timeseries(series: &[Bucket], cpu_per_s: &[f64]) -> Vec<SeriesPoint> {
    series
        .iter()
        .enumerate()
        .map(|(i, b)| SeriesPoint {
            t_s: i as u64,
            sent: b.sent,
            ok: b.ok,
            failed: b.failed,
            dropped: b.dropped,
            output_tokens: b.output_tokens,
            in_flight_max: b.in_flight_max,
            ttft_p50_ms: b.ttft_p50_ms,
            ttft_p99_ms: b.ttft_p99_ms,
            errors: b.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            cpu_cores_used: cpu_per_s.get(i).copied(),
            server: Default::default(),
            quota: b.quota,
        })
        .collect()
}
