//! The names of the figures a result holds per model and claims, baselines, comparisons and
//! reports read back: `ttft`, `e2e`, `output_tokens_per_s`, … One list, one spelling.
//!
//! The name is the public spelling: the key of `latency_ms` and `histograms` in the result file
//! for the latency metrics, and the word a claims file writes. This module owns only the names;
//! what each figure means and where it is stored is documented in docs/metrics.md and described
//! by the claims catalogue on the analysis floor.

use std::fmt;

macro_rules! metrics {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// A metric, by name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Metric {
            $($(#[$doc])* $variant,)*
        }

        impl Metric {
            /// Every metric, in the order error messages list them.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            /// The name as written in result files and claims.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Metric::$variant => $name,)*
                }
            }
        }
    };
}

metrics! {
    /// Send → first output token.
    Ttft => "ttft",
    /// Send → first answer token (reasoning excluded).
    TtftAnswer => "ttft_answer",
    /// Scheduled time → first output token.
    TtftScheduled => "ttft_scheduled",
    /// Send → end of stream.
    E2e => "e2e",
    /// Scheduled time → end of stream.
    E2eScheduled => "e2e_scheduled",
    /// Time per output token after the first, per request.
    Tpot => "tpot",
    /// Token-weighted inter-token latency.
    Itl => "itl",
    /// Raw gap between output events.
    InterChunk => "inter_chunk",
    /// Dispatched − scheduled.
    ScheduleLag => "schedule_lag",
    /// Sent − dispatched.
    QueueTime => "queue_time",
    /// Per-request decode speed.
    DecodeTokensPerS => "decode_tokens_per_s",
    /// Aggregate output tokens per second.
    OutputTokensPerS => "output_tokens_per_s",
    /// Aggregate input tokens per second.
    InputTokensPerS => "input_tokens_per_s",
    /// Successful requests per second.
    RequestsPerS => "requests_per_s",
    /// The busiest second's output tokens.
    PeakOutputTokensPerS => "peak_output_tokens_per_s",
    /// Failed / sent.
    ErrorRate => "error_rate",
    /// Share of arrivals that met the SLO.
    SloAttainment => "slo_attainment",
    /// Requests that met the SLO per second.
    GoodputRequestsPerS => "goodput_requests_per_s",
    /// Output tokens of requests that met the SLO per second.
    GoodputOutputTokensPerS => "goodput_output_tokens_per_s",
    /// A model's golden-set score (weighted share of checks passed).
    QualityScore => "quality.score",
    /// A model's golden-set score relative to the baseline model's.
    QualityRelative => "quality.relative",
    /// A model's mean judge grade on its golden answers (0..1).
    QualityJudge => "quality.judge",
    /// Cost per 1,000 requests (USD).
    CostPer1kRequests => "cost_per_1k_requests",
    /// Cost per million output tokens (USD).
    CostPerMillionOutputTokens => "cost_per_million_output_tokens",
    /// Cost of the measured requests (USD).
    CostTotal => "cost_total",
}

impl Metric {
    /// The metric of that name, if any.
    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.iter().copied().find(|m| m.as_str() == name)
    }

    /// Every name, comma-separated, for error messages.
    pub fn names() -> String {
        Metric::ALL
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Whether the metric has one sample per output token rather than per request. Gaps within
    /// one request share its conditions (model, server state, timer), so their effective sample
    /// size is the number of requests, not tokens.
    pub fn is_per_token(self) -> bool {
        matches!(self, Metric::Itl | Metric::InterChunk)
    }

    /// Whether the metric is read from the result's golden-set `quality` section (per model
    /// and class) rather than from a row's load figures.
    pub fn is_quality(self) -> bool {
        matches!(
            self,
            Metric::QualityScore | Metric::QualityRelative | Metric::QualityJudge
        )
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Metric {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.as_str()), Some(*m));
            assert_eq!(m.to_string(), m.as_str());
        }
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
        assert_eq!(Metric::parse("TTFT"), None);
        assert_eq!(Metric::parse("ttft.p99"), None);
        assert!(Metric::E2e == "e2e");
        assert!(Metric::names().starts_with("ttft, ttft_answer, ttft_scheduled, e2e,"));
        assert!(Metric::names().ends_with(", cost_total"));
    }

    #[test]
    fn per_token_metrics() {
        let per_token: Vec<Metric> = Metric::ALL
            .iter()
            .copied()
            .filter(|m| m.is_per_token())
            .collect();
        assert_eq!(per_token, vec![Metric::Itl, Metric::InterChunk]);
    }
}
