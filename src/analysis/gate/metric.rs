//! The catalogue of metrics a claim can name, how each maps to a field of the result file, and
//! how sure a figure is: the 95 % confidence interval a verdict rests on.
//!
//! This module owns the *reading* of a claim: which stored number "TTFT" or "320 tokens/s"
//! refers to. It reads results; it never computes a metric from records (that is
//! [`crate::results`]' job) and never decides pass or fail (that is [`super::eval`]).

use super::stats::{mean_ci, quantile_ci_eff, quantile_ranks, rate_ci};
pub use crate::core::metric::Metric;
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
    /// A golden-set score or a ratio of two, written in claims as a plain number (`0.8`).
    Score,
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
            Kind::Score => format!("{:.3}", v + 0.0),
        }
    }

    /// Formats an interval bound: like [`Kind::fmt`], `∞`/`−∞` when the samples set none.
    pub fn fmt_bound(self, v: f64) -> String {
        if v.is_finite() {
            self.fmt(v)
        } else if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
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
    /// The metric; as written in a claim, `ttft`, `output_tokens_per_s`.
    pub name: Metric,
    /// What it measures.
    pub kind: Kind,
    /// Which result field it reads and what that number means, printed beside verdicts.
    pub reading: &'static str,
}

const fn m(name: Metric, kind: Kind, reading: &'static str) -> MetricDef {
    MetricDef {
        name,
        kind,
        reading,
    }
}

/// What every metric a claim may name measures and reads, in [`Metric::ALL`]'s order (checked
/// when the crate compiles).
pub const METRICS: &[MetricDef] = &[
    m(Metric::Ttft, Kind::Latency, "latency_ms.ttft: send → first output token (reasoning included), successful measured requests; ttft_scheduled is the stricter reading (from the scheduled time, queueing included)"),
    m(Metric::TtftAnswer, Kind::Latency, "latency_ms.ttft_answer: send → first answer token (reasoning excluded)"),
    m(Metric::TtftScheduled, Kind::Latency, "latency_ms.ttft_scheduled: scheduled time → first output token (queueing and schedule lag included)"),
    m(Metric::E2e, Kind::Latency, "latency_ms.e2e: send → end of stream"),
    m(Metric::E2eScheduled, Kind::Latency, "latency_ms.e2e_scheduled: scheduled time → end of stream"),
    m(Metric::Tpot, Kind::Latency, "latency_ms.tpot: (last − first output) / (output tokens − 1), per request"),
    m(Metric::Itl, Kind::Latency, "latency_ms.itl: token-weighted inter-token latency"),
    m(Metric::InterChunk, Kind::Latency, "latency_ms.inter_chunk: raw gap between output events"),
    m(Metric::ScheduleLag, Kind::Latency, "latency_ms.schedule_lag: dispatched − scheduled (the generator's own lateness)"),
    m(Metric::QueueTime, Kind::Latency, "latency_ms.queue_time: sent − dispatched (waiting for an in-flight slot or a quota)"),
    m(Metric::DecodeTokensPerS, Kind::Speed, "decode_tokens_per_s: per-request decode speed 1/TPOT (one stream), not aggregate throughput"),
    m(Metric::OutputTokensPerS, Kind::TokensPerS, "throughput.output_tokens_per_s: aggregate output tokens over the measurement window (all streams together), not per-stream decode speed"),
    m(Metric::InputTokensPerS, Kind::TokensPerS, "throughput.input_tokens_per_s: input tokens of requests sent in the window / window length"),
    m(Metric::RequestsPerS, Kind::RequestsPerS, "throughput.requests_per_s: successful requests ended in the window / window length"),
    m(Metric::PeakOutputTokensPerS, Kind::TokensPerS, "throughput.peak_output_tokens_per_s: the busiest whole second's output tokens"),
    m(Metric::ErrorRate, Kind::Fraction, "error_rate: failed / sent measured requests"),
    m(Metric::SloAttainment, Kind::Fraction, "slo.attainment: measured arrivals that met every [slo] objective (failures and drops count as misses)"),
    m(Metric::GoodputRequestsPerS, Kind::RequestsPerS, "slo.goodput_requests_per_s: requests that met the SLO / window length"),
    m(Metric::GoodputOutputTokensPerS, Kind::TokensPerS, "slo.goodput_output_tokens_per_s: output tokens of requests that met the SLO / window length"),
    m(Metric::QualityScore, Kind::Score, "quality.models[].overall.score (classes.<class>.score with `class`): weighted share of the golden checks passed, misses counting 0, with its 95 % interval (Wilson or bootstrap)"),
    m(Metric::QualityRelative, Kind::Score, "quality.models[].overall.relative (classes.<class>.relative with `class`): score over the baseline model's on the same golden lines, with its paired-bootstrap 95 % interval"),
    m(Metric::QualityJudge, Kind::Score, "quality.judge.models[].overall.score (classes.<class>.score with `class`): the judge's mean grade of the answers it scored, as 0..1, with its 95 % interval (Wilson or bootstrap); answers it left unscored are not in it"),
    m(Metric::CostPer1kRequests, Kind::Usd, "cost.per_1k_requests_usd: measured cost / measured requests sent × 1000"),
    m(Metric::CostPerMillionOutputTokens, Kind::Usd, "cost.per_million_output_tokens_usd: measured cost / measured output tokens × 10⁶"),
    m(Metric::CostTotal, Kind::Usd, "cost.total_usd: cost of the measured requests"),
];

// METRICS describes every metric once, in the enum's order, so `def` can index it.
const _: () = {
    assert!(METRICS.len() == Metric::ALL.len());
    let mut i = 0;
    while i < METRICS.len() {
        assert!(METRICS[i].name as usize == i);
        i += 1;
    }
};

/// What a metric measures and reads.
pub fn def(name: Metric) -> &'static MetricDef {
    &METRICS[name as usize]
}

/// Looks a metric up by name.
pub fn find(name: &str) -> Option<&'static MetricDef> {
    Metric::parse(name).map(def)
}

/// Every metric name, comma-separated, for error messages.
pub fn names() -> String {
    Metric::names()
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
    /// Why a verdict cannot rest on it (no samples, no price, no SLO), if so.
    pub insufficient: Option<String>,
    /// False when there is no value at all (no histogram, no price, no SLO): `value` is 0.
    pub known: bool,
    /// The 95 % confidence interval of the figure (a bound is infinite where the samples set
    /// none), for figures that estimate something beyond this run: percentiles, means, rates.
    /// `None` for figures judged as measured (min, max, stddev, throughput, cost, rates
    /// against exactly 0 % or 100 %).
    pub interval: Option<(f64, f64)>,
    /// Why the interval is open on a side, and what closing it would take, if it is.
    pub open: Option<String>,
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

/// The fewest independent samples whose order statistics can bound the q-quantile from
/// below (`upper = false`) or above with 97.5 % confidence: the smallest n with
/// (1 − q)^n ≤ 0.025 for a lower bound, q^n ≤ 0.025 for an upper one (p99 → 367 for an upper
/// bound, p50 → 6 either way).
pub fn samples_to_bound(q: f64, upper: bool) -> u64 {
    let p = if upper { q } else { 1.0 - q };
    (0.025f64.ln() / p.ln() - 1e-9).ceil().max(1.0) as u64
}

/// The effective number of independent samples behind a row's `name` figure with `count`
/// samples: requests for per-token metrics ([`Metric::is_per_token`]), else the count.
pub fn effective_samples(m: &ModelResult, name: Metric, count: u64) -> u64 {
    if name.is_per_token() {
        count.min(m.requests.ok)
    } else {
        count
    }
}

fn decode(m: &ModelResult, name: Metric) -> Result<Option<Hist>, ReadError> {
    match m.histograms.get(name.as_str()) {
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
fn no_histogram(count: u64, name: Metric, stat: &str) -> Measured {
    Measured {
        value: 0.0,
        count,
        basis: "samples".into(),
        known: false,
        interval: None,
        open: None,
        insufficient: Some(if count == 0 {
            format!("{stat} needs samples, has 0")
        } else {
            format!(
                "{stat} is not stored and the result has no `{name}` histogram to compute it from"
            )
        }),
    }
}

/// A figure of `count` samples judged as measured (min, max, stddev).
fn point(value: f64, count: u64, need: u64, what: &str) -> Measured {
    Measured {
        value,
        count,
        basis: "samples".into(),
        known: count > 0,
        insufficient: (count < need).then(|| format!("{what} needs ≥ {need} samples, has {count}")),
        interval: None,
        open: None,
    }
}

/// A mean with its t interval over `n_eff` independent samples (open below 2). `sd` is the
/// stored standard deviation of the `count` samples (divided by n, not n − 1).
fn mean(value: f64, sd: f64, count: u64, n_eff: u64) -> Measured {
    let mut m = point(value, count, 1, "a mean");
    let sd = if count > 1 {
        sd * (count as f64 / (count - 1) as f64).sqrt()
    } else {
        sd
    };
    m.interval = Some(mean_ci(value, sd, n_eff).unwrap_or((f64::NEG_INFINITY, f64::INFINITY)));
    if n_eff < 2 && count > 0 {
        m.open = Some(format!(
            "a mean's interval needs ≥ 2 independent samples, has {n_eff}"
        ));
    }
    m
}

/// A quantile with its order-statistic interval (both in the metric's units).
fn quantile(value: f64, count: u64, n_eff: u64, q: f64, ci: (f64, f64)) -> Measured {
    let mut m = point(value, count, 1, &Stat::Quantile(q).label());
    m.interval = Some(ci);
    let label = Stat::Quantile(q).label();
    let units = if n_eff < count {
        format!("{n_eff} requests")
    } else {
        format!("{n_eff} samples")
    };
    let (l, u) = quantile_ranks(n_eff, q);
    let mut open = Vec::new();
    if l == 0 && count > 0 {
        open.push(format!(
            "{units} cannot bound {label} from below (needs ≥ {})",
            samples_to_bound(q, false)
        ));
    }
    if u > n_eff && count > 0 {
        open.push(format!(
            "{units} cannot bound {label} from above (needs ≥ {})",
            samples_to_bound(q, true)
        ));
    }
    m.open = (!open.is_empty()).then(|| open.join("; "));
    m
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

fn read_latency(m: &ModelResult, name: Metric, stat: Stat) -> Result<Measured, ReadError> {
    let s = m.latency_ms.get(name.as_str()).copied().unwrap_or_default();
    let n = s.count;
    let n_eff = effective_samples(m, name, n);
    let mut out = match stat {
        Stat::Mean => mean(s.mean, s.stddev, n, n_eff),
        Stat::Min => point(s.min, n, 1, "a minimum"),
        Stat::Max => point(s.max, n, 1, "a maximum"),
        Stat::Stddev => point(s.stddev, n, 2, "a standard deviation"),
        Stat::Quantile(q) => {
            let stored = [
                (0.5, s.p50),
                (0.9, s.p90),
                (0.95, s.p95),
                (0.99, s.p99),
                (0.999, s.p99_9),
            ];
            let label = Stat::Quantile(q).label();
            let Some(h) = decode(m, name)? else {
                return Ok(no_histogram(n, name, &label));
            };
            let v = match stored.iter().find(|(k, _)| (k - q).abs() < 1e-12) {
                Some((_, v)) => *v,
                None => h.quantile(q) as f64 * 1e-3,
            };
            let ci = quantile_ci_eff(&h, q, n_eff);
            quantile(v, n, n_eff, q, (ci.low * 1e-3, ci.high * 1e-3))
        }
    };
    if n_eff < n && n > 0 {
        out.basis = format!("samples from {n_eff} requests");
    }
    Ok(out)
}

fn read_speed(m: &ModelResult, stat: Stat) -> Result<Measured, ReadError> {
    let s = m.decode_tokens_per_s;
    let n = s.count;
    Ok(match stat {
        Stat::Mean => {
            // The stored summary has no spread: take it from the TPOT histogram, inverted.
            let sd = decode(m, Metric::Tpot)?.map_or(0.0, |h| speed_sd(&h));
            let mut r = mean(s.mean, sd, n, n);
            if sd == 0.0 && n > 1 && r.interval.is_some() {
                r.interval = Some((f64::NEG_INFINITY, f64::INFINITY));
                r.open = Some("no `tpot` histogram to measure the spread from".into());
            }
            r
        }
        Stat::Min => point(s.min, n, 1, "a minimum"),
        Stat::Max => point(s.max, n, 1, "a maximum"),
        // The parser refuses a decode-speed stddev; keep a harmless answer for completeness.
        Stat::Stddev => point(0.0, n, u64::MAX, "a standard deviation"),
        Stat::Quantile(q) => {
            let stored = [(0.01, s.p1), (0.1, s.p10), (0.5, s.p50), (0.9, s.p90)];
            let label = Stat::Quantile(q).label();
            let Some(h) = decode(m, Metric::Tpot)? else {
                return Ok(no_histogram(n, Metric::Tpot, &label));
            };
            let inv = |us: f64| if us > 0.0 { 1e6 / us } else { f64::INFINITY };
            // Speed is 1 / TPOT, so its q-quantile is the TPOT (1 − q)-quantile inverted, and
            // the TPOT interval's upper bound is the speed's lower one.
            let v = match stored.iter().find(|(k, _)| (k - q).abs() < 1e-12) {
                Some((_, v)) => *v,
                None => match h.quantile(1.0 - q) {
                    0 => 0.0,
                    us => 1e6 / us as f64,
                },
            };
            let ci = quantile_ci_eff(&h, 1.0 - q, h.len());
            let mut r = quantile(v, n, h.len(), 1.0 - q, (inv(ci.high), inv(ci.low)));
            // The open sides swap with the inversion; say it in the speed's own terms.
            let n_t = h.len();
            let mut open = Vec::new();
            for (bound, side, upper_tpot) in [(ci.high, "below", true), (ci.low, "above", false)] {
                if bound.is_infinite() && n_t > 0 {
                    open.push(format!(
                        "{n_t} samples cannot bound {label} from {side} (needs ≥ {})",
                        samples_to_bound(1.0 - q, upper_tpot)
                    ));
                }
            }
            r.open = (!open.is_empty()).then(|| open.join("; "));
            if r.insufficient.is_some() {
                r.insufficient = Some(format!("{label} needs samples, has {n}"));
            }
            r
        }
    })
}

/// The (population) standard deviation of per-request decode speed (10⁶ / TPOT µs) over a TPOT
/// histogram.
fn speed_sd(h: &Hist) -> f64 {
    let (mut n, mut sum, mut sq) = (0.0, 0.0, 0.0);
    for v in h.inner().iter_recorded() {
        let us = h.inner().median_equivalent(v.value_iterated_to()) as f64;
        if us <= 0.0 {
            continue;
        }
        let c = v.count_at_value() as f64;
        let x = 1e6 / us;
        n += c;
        sum += c * x;
        sq += c * x * x;
    }
    if n < 2.0 {
        return 0.0;
    }
    let mean = sum / n;
    // Divided by n, like the stored latency summaries ([`mean`] corrects both).
    (sq / n - mean * mean).max(0.0).sqrt()
}

fn read_scalar(m: &ModelResult, window_s: f64, name: Metric, limit: f64) -> Measured {
    let sent = m.requests.sent;
    let window = |value: f64| Measured {
        value,
        count: sent,
        basis: format!("requests sent, {window_s:.1} s window"),
        known: true,
        interval: None,
        open: None,
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
        interval: None,
        open: None,
        insufficient: Some("the run had no [slo]".into()),
    };
    let cost = m.cost.as_ref();
    let no_price = || Measured {
        value: 0.0,
        count: 0,
        basis: "requests".into(),
        known: false,
        interval: None,
        open: None,
        insufficient: Some("the scenario gave no price for this model".into()),
    };
    // A rate against exactly 0 % or 100 % is a statement about this run's counts ("no
    // request failed"); against any other limit, about the endpoint: the exact binomial
    // interval of `events` in `count`.
    let rate = |events: u64, count: u64, what: &str| {
        let value = if count > 0 {
            events as f64 / count as f64
        } else {
            0.0
        };
        let judged_as_counted = limit <= 0.0 || limit >= 1.0;
        Measured {
            value,
            count,
            basis: what.to_string(),
            known: count > 0,
            insufficient: (count == 0).then(|| format!("a rate needs {what}, has 0")),
            interval: if judged_as_counted {
                None
            } else {
                rate_ci(events, count)
            },
            open: None,
        }
    };
    match name {
        Metric::OutputTokensPerS => window(m.throughput.output_tokens_per_s),
        Metric::InputTokensPerS => window(m.throughput.input_tokens_per_s),
        Metric::RequestsPerS => window(m.throughput.requests_per_s),
        Metric::PeakOutputTokensPerS => window(m.throughput.peak_output_tokens_per_s),
        Metric::ErrorRate => rate(m.requests.failed.min(sent), sent, "requests sent"),
        Metric::SloAttainment => match slo {
            Some(s) => rate(s.met.min(s.issued), s.issued, "arrivals"),
            None => no_slo(),
        },
        Metric::GoodputRequestsPerS => match slo {
            Some(s) => window(s.goodput_requests_per_s),
            None => no_slo(),
        },
        Metric::GoodputOutputTokensPerS => match slo {
            Some(s) => window(s.goodput_output_tokens_per_s),
            None => no_slo(),
        },
        Metric::CostPer1kRequests => match cost {
            Some(c) => window(c.per_1k_requests_usd),
            None => no_price(),
        },
        Metric::CostPerMillionOutputTokens => match cost {
            Some(c) => {
                let mut r = window(c.per_million_output_tokens_usd);
                if r.insufficient.is_none() && m.tokens.output == 0 {
                    r.insufficient = Some("no output tokens were measured".into());
                }
                r
            }
            None => no_price(),
        },
        Metric::CostTotal => match cost {
            Some(c) => window(c.total_usd),
            None => no_price(),
        },
        other => Measured {
            value: 0.0,
            count: 0,
            basis: String::new(),
            known: false,
            interval: None,
            open: None,
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
    fn samples_needed_to_bound_a_percentile() {
        // 0.99^368 = 0.0248 is the first power at or under 0.025 (0.99^367 = 0.02501).
        assert_eq!(samples_to_bound(0.99, true), 368);
        assert_eq!(samples_to_bound(0.99, false), 1);
        assert_eq!(samples_to_bound(0.5, true), 6);
        assert_eq!(samples_to_bound(0.5, false), 6);
        assert_eq!(samples_to_bound(0.9, true), 36);
        for (q, upper) in [(0.99, true), (0.9, true), (0.5, false), (0.95, true)] {
            let n = samples_to_bound(q, upper);
            let (l, u) = quantile_ranks(n, q);
            let (l1, u1) = quantile_ranks(n - 1, q);
            if upper {
                assert!(u <= n && u1 > n - 1, "{q} {n}");
            } else {
                assert!(l >= 1 && l1 == 0, "{q} {n}");
            }
        }
    }

    #[test]
    fn every_metric_has_a_unique_name() {
        let mut names: Vec<_> = METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
    }
}
