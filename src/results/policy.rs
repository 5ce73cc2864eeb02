//! Validity policy: the thresholds a run is held to before its numbers are taken to describe
//! the endpoint rather than the generator (docs/metrics.md#validity). Every run, sweep step,
//! calibration step and shard is judged by these; a result records the values it was judged
//! with, so a merged or re-read result keeps them.

/// Longest acceptable 99th-percentile lateness, in milliseconds, of the generator against its
/// own clock. It bounds two figures: the schedule lag (an arrival dispatched later than
/// scheduled) and the event loop's lag (a 50 ms probe timer firing late). Past it the
/// generator fell behind, and every timestamp it took is suspect.
pub const MAX_LAG_P99_MS: f64 = 10.0;

/// Least acceptable share of the arrivals scheduled inside the window that were sent inside
/// it (open loop only). Below it the offered load was not applied: arrivals were dropped at
/// `max_in_flight`, held by a cap or quota, or the generator could not send on time.
pub const MIN_SEND_RATIO: f64 = 0.99;

/// Probe-timer samples needed before the event loop's lateness is judged (fewer than this
/// over a short window say little about a p99).
pub const MIN_LOOP_LAG_SAMPLES: u64 = 20;

/// Share of the worker threads' CPU at which the generator counts as saturated: a run is
/// invalid when its mean CPU over the window's whole seconds reaches it.
pub const CPU_SATURATED: f64 = 0.9;

/// Queue time p99 (µs) above which a send shortfall is put down to the in-flight or rate cap
/// rather than to the generator.
pub const LONG_QUEUE_US: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    /// The validity section of docs/metrics.md, which users read to know when a run is invalid,
    /// its line breaks and indentation folded to single spaces.
    fn validity_doc() -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md");
        let text = std::fs::read_to_string(path).expect("docs/metrics.md is readable");
        let start = text
            .find("## Validity")
            .expect("docs/metrics.md has a Validity section");
        let rest = &text[start + 3..];
        let end = rest.find("\n## ").unwrap_or(rest.len());
        rest[..end].split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn the_documented_thresholds_are_the_ones_applied() {
        let doc = validity_doc();
        let ratio = format!("fewer than {} % of the arrivals", MIN_SEND_RATIO * 100.0);
        let lag = format!("the p99 schedule lag exceeds {MAX_LAG_P99_MS} ms");
        let late = format!("more than {MAX_LAG_P99_MS} ms late at p99");
        let probes = format!("with at least {MIN_LOOP_LAG_SAMPLES} probes");
        let cpu = format!("reached {} % of the cores", CPU_SATURATED * 100.0);
        for said in [ratio, lag, late, probes, cpu] {
            assert!(doc.contains(&said), "docs/metrics.md should say `{said}`");
        }
    }
}
