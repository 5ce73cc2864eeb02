//! Latency figures of one group: summaries of every latency histogram (ms), the per-request
//! decode speed, and the histograms themselves, encoded for re-analysis.

use std::collections::BTreeMap;

use crate::metrics::{Hist, Hists, Summary};
use crate::results::Speed;

/// Summaries (ms) of every latency histogram, by name; `tokens_per_chunk` is a count, not a
/// latency, and is left out.
pub(super) fn latency_ms(h: &Hists) -> BTreeMap<String, Summary> {
    let mut latency_ms = BTreeMap::new();
    for (name, h) in h.named() {
        if name != "tokens_per_chunk" {
            latency_ms.insert(name.to_string(), h.summary(1e-3));
        }
    }
    latency_ms
}

/// Every non-empty histogram, encoded, by name.
pub(super) fn encode_all(h: &Hists) -> BTreeMap<String, String> {
    h.named()
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(n, h)| (n.to_string(), h.encode()))
        .collect()
}

/// Per-request decode speed (tokens/s) from the TPOT histogram (µs): the slowest requests
/// have the longest TPOT, so low speed percentiles come from high TPOT ones.
pub(super) fn speed(tpot: &Hist) -> Speed {
    if tpot.is_empty() {
        return Speed::default();
    }
    let inv = |us: u64| if us == 0 { 0.0 } else { 1e6 / us as f64 };
    let mut sum = 0.0;
    for v in tpot.inner().iter_recorded() {
        sum += inv(v.value_iterated_to()) * v.count_at_value() as f64;
    }
    Speed {
        count: tpot.len(),
        mean: sum / tpot.len() as f64,
        min: inv(tpot.inner().max()),
        p1: inv(tpot.quantile(0.99)),
        p10: inv(tpot.quantile(0.90)),
        p50: inv(tpot.quantile(0.50)),
        p90: inv(tpot.quantile(0.10)),
        max: inv(tpot.inner().min()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_is_the_inverse_of_tpot_with_the_slow_tail_low() {
        // 90 requests at 1 ms per token (1,000 tokens/s), 10 at 2 ms (500 tokens/s); HDR holds
        // values below 2,048 exactly.
        let mut tpot = Hist::default();
        tpot.record_n(1_000, 90);
        tpot.record_n(2_000, 10);
        let s = speed(&tpot);
        assert_eq!(s.count, 100);
        assert_eq!((s.p50, s.p90, s.max), (1_000.0, 1_000.0, 1_000.0));
        // The slowest 10 % set the low percentiles.
        assert_eq!((s.min, s.p1), (500.0, 500.0));
        assert_eq!(s.mean, (90.0 * 1_000.0 + 10.0 * 500.0) / 100.0);
        assert_eq!(speed(&Hist::default()), Speed::default());
    }

    #[test]
    fn latencies_leave_out_the_chunk_size_and_encode_only_what_was_recorded() {
        let mut h = Hists::default();
        h.ttft.record(250_000);
        h.tokens_per_chunk.record(3);
        let l = latency_ms(&h);
        assert!(!l.contains_key("tokens_per_chunk"));
        assert_eq!(l.len(), 10);
        assert_eq!(l["ttft"].count, 1);
        assert!((l["ttft"].p50 - 250.0).abs() < 0.2);
        let e = encode_all(&h);
        assert_eq!(e.keys().collect::<Vec<_>>(), ["tokens_per_chunk", "ttft"]);
        assert_eq!(Hist::decode(&e["ttft"]).expect("decodes").len(), 1);
    }
}
