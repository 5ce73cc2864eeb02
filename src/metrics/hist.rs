//! A latency/count histogram (HDR, microsecond resolution, 3 significant digits) with its
//! summary and lossless serialised form (HdrHistogram V2 + DEFLATE, base64).

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer, V2Serializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest trackable value: one hour in microseconds (larger values are clamped).
pub const MAX_VALUE: u64 = 3_600_000_000;

/// An HDR histogram of non-negative integers (µs for latencies, counts for token sizes).
#[derive(Debug, Clone)]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new(3)
    }
}

/// Percentile summary with the sample count. Latency summaries are in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub stddev: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest sample.
    pub max: f64,
}

/// Why a serialised histogram could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistError {
    /// Not base64.
    #[error("histogram is not valid base64")]
    Base64,
    /// Not an HdrHistogram V2 (+DEFLATE) blob.
    #[error("histogram blob is corrupt: {0}")]
    Decode(String),
    /// Merging failed (incompatible ranges).
    #[error("histograms cannot be merged: {0}")]
    Merge(String),
}

impl Hist {
    /// A histogram with `sigfig` significant digits over [1, MAX_VALUE].
    pub fn new(sigfig: u8) -> Hist {
        Hist(
            Histogram::new_with_bounds(1, MAX_VALUE, sigfig)
                .expect("constant bounds and 1..=5 significant digits are valid"),
        )
    }

    /// A histogram with `sigfig` significant digits whose bucket array grows only as far as
    /// the largest value recorded (still clamped at [`MAX_VALUE`]): a few KB for
    /// millisecond-to-second latencies instead of the whole hour's range. For the many small
    /// per-second histograms a long run keeps open.
    pub fn growable(sigfig: u8) -> Hist {
        let mut h = Histogram::new(sigfig).expect("1..=5 significant digits are valid");
        h.auto(true);
        Hist(h)
    }

    /// Lets the bucket array grow past the range it was made (or read back) with.
    pub fn make_growable(&mut self) {
        self.0.auto(true);
    }

    /// Records one value (clamped to [`MAX_VALUE`]). A growable histogram grows to take it;
    /// `saturating_record` alone would clamp it to the range grown so far (a fresh growable
    /// histogram covers only 2 µs), so it is only the fallback for a fixed range.
    pub fn record(&mut self, v: u64) {
        let v = v.min(MAX_VALUE);
        if self.0.record(v).is_err() {
            self.0.saturating_record(v);
        }
    }

    /// Records `n` samples of value `v`.
    pub fn record_n(&mut self, v: u64, n: u64) {
        // The value is clamped, so only a count overflow could fail; saturating is fine.
        let _ = self.0.record_n(v.min(MAX_VALUE), n);
    }

    /// Sample count.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Value at a quantile (0..=1), in recorded units.
    pub fn quantile(&self, q: f64) -> u64 {
        self.0.value_at_quantile(q)
    }

    /// The underlying histogram.
    pub fn inner(&self) -> &Histogram<u64> {
        &self.0
    }

    /// Summary with every value multiplied by `scale` (1e-3 turns µs into ms).
    pub fn summary(&self, scale: f64) -> Summary {
        let h = &self.0;
        if h.is_empty() {
            return Summary::default();
        }
        let q = |p: f64| h.value_at_quantile(p) as f64 * scale;
        Summary {
            count: h.len(),
            min: h.min() as f64 * scale,
            mean: h.mean() * scale,
            stddev: h.stdev() * scale,
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
            max: h.max() as f64 * scale,
        }
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Hist) -> Result<(), HistError> {
        // A growable histogram (or one read back from its encoding, which keeps only the range
        // it had grown to) must be able to take the other's larger values.
        self.make_growable();
        self.0
            .add(&other.0)
            .map_err(|e| HistError::Merge(format!("{e:?}")))
    }

    /// V2 + DEFLATE, base64 (standard alphabet).
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = V2DeflateSerializer::new().serialize(&self.0, &mut buf);
        base64::engine::general_purpose::STANDARD.encode(buf)
    }

    /// Plain V2 bytes (no DEFLATE, no base64): a compact in-memory form that is much cheaper
    /// to make than [`Hist::encode`], for histograms kept aside for a while and read back
    /// with [`Hist::from_packed`].
    pub fn packed(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = V2Serializer::new().serialize(&self.0, &mut buf);
        buf
    }

    /// Reads what [`Hist::packed`] wrote.
    pub fn from_packed(mut bytes: &[u8]) -> Result<Hist, HistError> {
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes)
            .map_err(|e| HistError::Decode(format!("{e:?}")))?;
        Ok(Hist(h))
    }

    /// Reads what [`Hist::encode`] wrote.
    pub fn decode(text: &str) -> Result<Hist, HistError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| HistError::Base64)?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| HistError::Decode(format!("{e:?}")))?;
        Ok(Hist(h))
    }
}

/// In a partial result a histogram is its [`Hist::encode`] string.
impl Serialize for Hist {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Hist {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Hist, D::Error> {
        let text = String::deserialize(d)?;
        Hist::decode(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_and_roundtrip() {
        let mut h = Hist::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let s = h.summary(1e-3);
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99 - 990.0).abs() < 1.0, "{s:?}");
        let back = Hist::decode(&h.encode()).expect("roundtrip");
        assert_eq!(back.summary(1e-3), s);
    }

    #[test]
    fn merge_equals_recording_everything_once() {
        let (mut a, mut b, mut all) = (Hist::default(), Hist::default(), Hist::default());
        for v in 0..5000u64 {
            let x = (v * 7919) % 100_000 + 1;
            if v % 3 == 0 {
                a.record(x)
            } else {
                b.record(x)
            }
            all.record(x);
        }
        a.merge(&b).expect("same bounds");
        assert_eq!(a.inner(), all.inner());
    }

    /// A growable histogram (the per-second TTFT series) must keep the values it is given:
    /// it once clamped every value to its initial 2 µs range, so every second's TTFT read 0.002 ms.
    #[test]
    fn growable_keeps_large_values() {
        let mut h = Hist::growable(2);
        for v in [100_000u64, 350_000, 400_000, 2_000_000] {
            h.record(v);
        }
        let q = |p: f64| h.inner().value_at_quantile(p) as f64;
        assert!(
            (q(0.5) - 350_000.0).abs() / 350_000.0 < 0.01,
            "p50 {}",
            q(0.5)
        );
        assert!((h.inner().max() as f64 - 2_000_000.0).abs() / 2e6 < 0.01);
        assert!(h.inner().min() >= 99_000);
    }

    #[test]
    fn packed_roundtrip() {
        let mut h = Hist::growable(2);
        for v in [1u64, 999, 5_000, 5_001, 120_000, 3_000_000] {
            h.record(v);
        }
        let back = Hist::from_packed(&h.packed()).expect("roundtrip");
        assert_eq!(back.inner(), h.inner());
        assert_eq!(back.encode(), h.encode());
    }
}
