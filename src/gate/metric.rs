//! The catalogue of metrics a claim can name, how each maps to a field of the result file, and
//! how much data a figure needs before a verdict on it means anything.
//!
//! This module owns the *reading* of a claim: which stored number "TTFT" or "320 tokens/s"
//! refers to. It reads results; it never computes a metric from records (that is
//! [`crate::results`]' job) and never decides pass or fail (that is [`super::eval`]).

use crate::metrics::Hist;
use crate::results::ModelResult;

/// What a metric measures, which decides the units a claim may use and how values print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A latency distribution, stored in milliseconds.
    Latency,
    /// The per-request decode-speed distribution, tokens per second.
    Speed,
    /// An aggregate rate in tokens per second.
    TokensPerS,
    /// An aggregate rate in requests per second.
    RequestsPerS,
    /// A fraction in 0..=1, written in claims as a percentage.
    Fraction,
    /// Money in US dollars.
    Usd,
}

impl Kind {
    /// Whether the metric is a distribution, so a claim must name a statistic.
    pub fn is_distribution(self) -> bool {
        matches!(self, Kind::Latency | Kind::Speed)
    }

    /// Formats a value of this kind with its unit.
    pub fn fmt(self, v: f64) -> String {
        match self {
            Kind::Latency => fmt_ms(v),
            Kind::Speed | Kind::TokensPerS => format!("{v:.1} tok/s"),
            Kind::RequestsPerS => format!("{v:.2} req/s"),
            Kind::Fraction => format!("{:.2} %", v * 100.0),
            Kind::Usd => format!("${v:.4}"),
        }
    }
}

/// Formats milliseconds compactly: `0.412 ms`, `312.9 ms`, `1.234 s`.
pub fn fmt_ms(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{:.3} s", v / 1e3)
    } else if v.abs() >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.3} ms")
    }
}

/// One metric a claim can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    /// Name as written in a claim (`ttft`, `output_tokens_per_s`).
    pub name: &'static str,
    /// What it measures.
    pub kind: Kind,
    /// Which result field it reads and what that number means, printed beside verdicts.
    pub reading: &'static str,
}

const fn m(name: &'static str, kind: Kind, reading: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind,
        reading,
    }
}

/// Every metric a claim may name, in the order they are listed in error messages.
pub const METRICS: &[MetricDef] = &[
    m("ttft", Kind::Latency, "latency_ms.ttft: send → first output token (reasoning included), successful measured requests; ttft_scheduled is the stricter reading (from the scheduled time, queueing included)"),
    m("ttft_answer", Kind::Latency, "latency_ms.ttft_answer: send → first answer token (reasoning excluded)"),
    m("ttft_scheduled", Kind::Latency, "latency_ms.ttft_scheduled: scheduled time → first output token (queueing and schedule lag included)"),
    m("e2e", Kind::Latency, "latency_ms.e2e: send → end of stream"),
    m("e2e_scheduled", Kind::Latency, "latency_ms.e2e_scheduled: scheduled time → end of stream"),
    m("tpot", Kind::Latency, "latency_ms.tpot: (last − first output) / (output tokens − 1), per request"),
    m("itl", Kind::Latency, "latency_ms.itl: token-weighted inter-token latency"),
    m("inter_chunk", Kind::Latency, "latency_ms.inter_chunk: raw gap between output events"),
    m("schedule_lag", Kind::Latency, "latency_ms.schedule_lag: dispatched − scheduled (the generator's own lateness)"),
    m("queue_time", Kind::Latency, "latency_ms.queue_time: sent − dispatched (waiting for an in-flight slot or a quota)"),
    m("decode_tokens_per_s", Kind::Speed, "decode_tokens_per_s: per-request decode speed 1/TPOT (one stream), not aggregate throughput"),
    m("output_tokens_per_s", Kind::TokensPerS, "throughput.output_tokens_per_s: aggregate output tokens over the measurement window (all streams together), not per-stream decode speed"),
    m("input_tokens_per_s", Kind::TokensPerS, "throughput.input_tokens_per_s: input tokens of requests sent in the window / window length"),
    m("requests_per_s", Kind::RequestsPerS, "throughput.requests_per_s: successful requests ended in the window / window length"),
    m("peak_output_tokens_per_s", Kind::TokensPerS, "throughput.peak_output_tokens_per_s: the busiest whole second's output tokens"),
    m("error_rate", Kind::Fraction, "error_rate: failed / sent measured requests"),
    m("slo_attainment", Kind::Fraction, "slo.attainment: measured arrivals that met every [slo] objective (failures and drops count as misses)"),
    m("goodput_requests_per_s", Kind::RequestsPerS, "slo.goodput_requests_per_s: requests that met the SLO / window length"),
    m("goodput_output_tokens_per_s", Kind::TokensPerS, "slo.goodput_output_tokens_per_s: output tokens of requests that met the SLO / window length"),
    m("cost_per_1k_requests", Kind::Usd, "cost.per_1k_requests_usd: measured cost / measured requests sent × 1000"),
    m("cost_per_million_output_tokens", Kind::Usd, "cost.per_million_output_tokens_usd: measured cost / measured output tokens × 10⁶"),
    m("cost_total", Kind::Usd, "cost.total_usd: cost of the measured requests"),
];

/// Looks a metric up by name.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|m| m.name == name)
}

/// Every metric name, comma-separated, for error messages.
pub fn names() -> String {
    METRICS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A statistic of a distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// Arithmetic mean.
    Mean,
    /// Smallest sample.
    Min,
    /// Largest sample.
    Max,
    /// Standard deviation (latencies only).
    Stddev,
    /// A quantile in (0, 1), e.g. 0.99 for `p99`.
    Quantile(f64),
}

/// Statistics stored in a latency summary (others are computed from the histogram).
pub const LATENCY_STATS: &str = "mean, min, max, stddev, p50, p90, p95, p99, p99_9 or any pNN";
/// Statistics stored for decode speed (others are computed from the TPOT histogram).
pub const SPEED_STATS: &str = "mean, min, max, p1, p10, p50, p90 or any pNN";

impl Stat {
    /// Parses `mean`, `p99`, `p99_9`, `p99.9`, `p75`.
    pub fn parse(text: &str) -> Option<Stat> {
        match text {
            "mean" | "avg" => return Some(Stat::Mean),
            "min" => return Some(Stat::Min),
            "max" => return Some(Stat::Max),
            "stddev" => return Some(Stat::Stddev),
            _ => {}
        }
        let digits = text.strip_prefix('p')?;
        if digits.is_empty()
            || !digits
                .chars()
                .all(|c| c.is_ascii_digit() || c == '_' || c == '.')
        {
            return None;
        }
        let pct: f64 = digits.replacen('_', ".", 1).parse().ok()?;
        (pct > 0.0 && pct < 100.0).then_some(Stat::Quantile(pct / 100.0))
    }

    /// The canonical spelling (`p99_9`).
    pub fn label(self) -> String {
        match self {
            Stat::Mean => "mean".into(),
            Stat::Min => "min".into(),
            Stat::Max => "max".into(),
            Stat::Stddev => "stddev".into(),
            Stat::Quantile(q) => format!("p{}", trim_float(q * 100.0).replace('.', "_")),
        }
    }
}

/// `99.9` → "99.9", `50.0` → "50" (for labels).
pub fn trim_float(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// A figure read from a result, with what it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The value in the metric's canonical unit (ms, tok/s, req/s, fraction, USD).
    pub value: f64,
    /// The sample count behind it (samples of the distribution, or requests).
    pub count: u64,
    /// What the count counts, e.g. "samples" or "requests sent, 12.0 s window".
    pub basis: String,
    /// Why a verdict cannot rest on it (too few samples, no price, no SLO), if so.
    pub insufficient: Option<String>,
    /// False when there is no value at all (no histogram, no price, no SLO): `value` is 0.
    pub known: bool,
}

/// Why a figure could not be read from a result at all (a corrupt histogram).
#[derive(Debug, thiserror::Error)]
#[error("{model}: histogram `{name}`: {message}")]
pub struct ReadError {
    /// Model id.
    pub model: String,
    /// Histogram name.
    pub name: String,
    /// Decoder message.
    pub message: String,
}

/// Samples a quantile needs: at least 10 beyond it in its tail (p99 → 1000, p90 → 100,
/// p50 → 20, p10 → 100).
pub fn quantile_min_samples(q: f64) -> u64 {
    let tail = q.min(1.0 - q);
    if tail <= 0.0 {
        return 1;
    }
    (10.0 / tail - 1e-9).ceil() as u64
}

/// Requests a rate claim needs: with fewer than 3 / L requests, observing no event at all is
/// still consistent (95 %, "rule of three") with a true rate at the limit L, so the run cannot
/// tell the two apart. A limit of exactly 0 or 1 is a statement about this run's counts and
/// needs one request.
pub fn fraction_min_samples(limit: f64) -> u64 {
    let tail = limit.min(1.0 - limit);
    if tail <= 0.0 {
        return 1;
    }
    (3.0 / tail - 1e-9).ceil() as u64
}

fn decode(m: &ModelResult, name: &str) -> Result<Option<Hist>, ReadError> {
    match m.histograms.get(name) {
        None => Ok(None),
        Some(text) => Hist::decode(text).map(Some).map_err(|e| ReadError {
            model: m.model.clone(),
            name: name.to_string(),
            message: e.to_string(),
        }),
    }
}

/// A percentile the summary does not store, from a result without the histogram to compute it
/// (it has no samples, or the file was edited): never a pass or a fail.
fn no_histogram(count: u64, name: &str, stat: &str) -> Measured {
    Measured {
        value: 0.0,
        count,
        basis: "samples".into(),
        known: false,
        insufficient: Some(if count == 0 {
            format!("{stat} needs samples, has 0")
        } else {
            format!(
                "{stat} is not stored and the result has no `{name}` histogram to compute it from"
            )
        }),
    }
}

fn samples(value: f64, count: u64, need: u64, what: &str) -> Measured {
    Measured {
        value,
        count,
        basis: "samples".into(),
        known: count > 0,
        insufficient: (count < need).then(|| format!("{what} needs ≥ {need} samples, has {count}")),
    }
}

/// Reads a metric (and statistic) from one row of a result. `limit` is the claim's limit in
/// canonical units; rate claims use it to decide how many requests they need.
pub fn read(
    m: &ModelResult,
    window_s: f64,
    def: &MetricDef,
    stat: Option<Stat>,
    limit: f64,
) -> Result<Measured, ReadError> {
    match def.kind {
        Kind::Latency => read_latency(m, def.name, stat.unwrap_or(Stat::Mean)),
        Kind::Speed => read_speed(m, stat.unwrap_or(Stat::Mean)),
        _ => Ok(read_scalar(m, window_s, def.name, limit)),
    }
}

fn read_latency(m: &ModelResult, name: &str, stat: Stat) -> Result<Measured, ReadError> {
    let s = m.latency_ms.get(name).copied().unwrap_or_default();
    let n = s.count;
    Ok(match stat {
        Stat::Mean => samples(s.mean, n, 1, "a mean"),
        Stat::Min => samples(s.min, n, 1, "a minimum"),
        Stat::Max => samples(s.max, n, 1, "a maximum"),
        Stat::Stddev => samples(s.stddev, n, 2, "a standard deviation"),
        Stat::Quantile(q) => {
            let stored = [
                (0.5, s.p50),
                (0.9, s.p90),
                (0.95, s.p95),
                (0.99, s.p99),
                (0.999, s.p99_9),
            ];
            let label = Stat::Quantile(q).label();
            let v = match stored.iter().find(|(k, _)| (k - q).abs() < 1e-12) {
                Some((_, v)) => *v,
                None => match decode(m, name)? {
                    Some(h) => h.quantile(q) as f64 * 1e-3,
                    None => return Ok(no_histogram(n, name, &label)),
                },
            };
            samples(v, n, quantile_min_samples(q), &label)
        }
    })
}

fn read_speed(m: &ModelResult, stat: Stat) -> Result<Measured, ReadError> {
    let s = m.decode_tokens_per_s;
    let n = s.count;
    Ok(match stat {
        Stat::Mean => samples(s.mean, n, 1, "a mean"),
        Stat::Min => samples(s.min, n, 1, "a minimum"),
        Stat::Max => samples(s.max, n, 1, "a maximum"),
        // The parser refuses a decode-speed stddev; keep a harmless answer for completeness.
        Stat::Stddev => samples(0.0, n, u64::MAX, "a standard deviation"),
        Stat::Quantile(q) => {
            let stored = [(0.01, s.p1), (0.1, s.p10), (0.5, s.p50), (0.9, s.p90)];
            let v = match stored.iter().find(|(k, _)| (k - q).abs() < 1e-12) {
                Some((_, v)) => *v,
                // Speed is 1 / TPOT, so its q-quantile is the TPOT (1 − q)-quantile inverted.
                None => match decode(m, "tpot")? {
                    Some(h) => match h.quantile(1.0 - q) {
                        0 => 0.0,
                        us => 1e6 / us as f64,
                    },
                    None => return Ok(no_histogram(n, "tpot", &Stat::Quantile(q).label())),
                },
            };
            samples(v, n, quantile_min_samples(q), &Stat::Quantile(q).label())
        }
    })
}

fn read_scalar(m: &ModelResult, window_s: f64, name: &str, limit: f64) -> Measured {
    let sent = m.requests.sent;
    let window = |value: f64| Measured {
        value,
        count: sent,
        basis: format!("requests sent, {window_s:.1} s window"),
        known: true,
        insufficient: if window_s <= 0.0 {
            Some("the measurement window is empty".into())
        } else if sent == 0 {
            Some("no measured request was sent".into())
        } else {
            None
        },
    };
    let slo = m.slo.as_ref();
    let no_slo = || Measured {
        value: 0.0,
        count: 0,
        basis: "requests".into(),
        known: false,
        insufficient: Some("the run had no [slo]".into()),
    };
    let cost = m.cost.as_ref();
    let no_price = || Measured {
        value: 0.0,
        count: 0,
        basis: "requests".into(),
        known: false,
        insufficient: Some("the scenario gave no price for this model".into()),
    };
    let rate = |value: f64, count: u64, what: &str| {
        let need = fraction_min_samples(limit);
        Measured {
            value,
            count,
            basis: what.to_string(),
            known: count > 0,
            insufficient: (count < need).then(|| {
                format!(
                    "a rate against {:.2} % needs ≥ {need} {what}, has {count}",
                    limit * 100.0
                )
            }),
        }
    };
    match name {
        "output_tokens_per_s" => window(m.throughput.output_tokens_per_s),
        "input_tokens_per_s" => window(m.throughput.input_tokens_per_s),
        "requests_per_s" => window(m.throughput.requests_per_s),
        "peak_output_tokens_per_s" => window(m.throughput.peak_output_tokens_per_s),
        "error_rate" => rate(m.error_rate, sent, "requests sent"),
        "slo_attainment" => match slo {
            Some(s) => rate(s.attainment, s.issued, "arrivals"),
            None => no_slo(),
        },
        "goodput_requests_per_s" => match slo {
            Some(s) => window(s.goodput_requests_per_s),
            None => no_slo(),
        },
        "goodput_output_tokens_per_s" => match slo {
            Some(s) => window(s.goodput_output_tokens_per_s),
            None => no_slo(),
        },
        "cost_per_1k_requests" => match cost {
            Some(c) => window(c.per_1k_requests_usd),
            None => no_price(),
        },
        "cost_per_million_output_tokens" => match cost {
            Some(c) => {
                let mut r = window(c.per_million_output_tokens_usd);
                if r.insufficient.is_none() && m.tokens.output == 0 {
                    r.insufficient = Some("no output tokens were measured".into());
                }
                r
            }
            None => no_price(),
        },
        "cost_total" => match cost {
            Some(c) => window(c.total_usd),
            None => no_price(),
        },
        other => Measured {
            value: 0.0,
            count: 0,
            basis: String::new(),
            known: false,
            insufficient: Some(format!("`{other}` is not a scalar metric")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_parse_and_label() {
        assert_eq!(Stat::parse("p99"), Some(Stat::Quantile(0.99)));
        assert_eq!(Stat::parse("p99_9").map(Stat::label), Some("p99_9".into()));
        assert_eq!(Stat::parse("p99.9").map(Stat::label), Some("p99_9".into()));
        assert_eq!(Stat::parse("p75").map(Stat::label), Some("p75".into()));
        assert_eq!(Stat::parse("mean"), Some(Stat::Mean));
        assert_eq!(Stat::parse("p100"), None);
        assert_eq!(Stat::parse("p0"), None);
        assert_eq!(Stat::parse("median"), None);
        assert_eq!(Stat::parse("p"), None);
    }

    #[test]
    fn minimum_samples() {
        assert_eq!(quantile_min_samples(0.99), 1000);
        assert_eq!(quantile_min_samples(0.9), 100);
        assert_eq!(quantile_min_samples(0.5), 20);
        assert_eq!(quantile_min_samples(0.1), 100);
        assert_eq!(fraction_min_samples(0.01), 300);
        assert_eq!(fraction_min_samples(0.05), 60);
        assert_eq!(fraction_min_samples(0.99), 300);
        assert_eq!(fraction_min_samples(0.0), 1);
    }

    #[test]
    fn every_metric_has_a_unique_name() {
        let mut names: Vec<_> = METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
    }
}
