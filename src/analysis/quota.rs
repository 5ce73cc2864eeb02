//! The quota side of a capacity plan: the account limits a run's responses stated (the
//! result's `quota`, from the server's `x-ratelimit-*` headers) against the planned peak, and
//! how much of each limit that peak leaves unused.
//!
//! Limits are read as per minute, the convention of OpenAI and Azure OpenAI (the headers do
//! not state their window). Tokens are prompt plus output, as providers count them against a
//! token limit. Pure functions; rendering is plain lines for the plan's text and Markdown.

use serde::{Deserialize, Serialize};

use crate::results::QuotaResult;

/// One model's quota at the planned peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaHeadroom {
    /// Model id.
    pub model: String,
    /// Target name.
    pub target: String,
    /// Responses of the run that carried quota headers.
    pub responses: u64,
    /// Requests per minute allowed (the lowest `x-ratelimit-limit-requests` seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_requests_per_min: Option<u64>,
    /// Tokens per minute allowed (the lowest `x-ratelimit-limit-tokens` seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_tokens_per_min: Option<u64>,
    /// The lowest remaining requests any response of the run stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest_remaining_requests: Option<u64>,
    /// The lowest remaining tokens any response of the run stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest_remaining_tokens: Option<u64>,
    /// Responses of the run that carried `Retry-After`.
    pub retry_after_responses: u64,
    /// The model's planned peak in requests per minute.
    pub peak_requests_per_min: f64,
    /// The model's planned peak in tokens (prompt plus output) per minute.
    pub peak_tokens_per_min: f64,
    /// Headroom of the request limit over the peak, in %, defined as capacity headroom:
    /// (limit / peak − 1) × 100; negative: how far the limit falls short of the peak. Absent
    /// without a limit or without planned traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_headroom_pct: Option<f64>,
    /// Headroom of the token limit over the peak, in % (as for requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_headroom_pct: Option<f64>,
}

/// Share of `limit` that `peak` leaves unused, in %.
fn left_pct(limit: Option<u64>, peak: f64) -> Option<f64> {
    let l = limit.filter(|l| *l > 0)? as f64;
    (peak > 0.0).then(|| (l / peak - 1.0) * 100.0)
}

/// One entry per model the run saw quota headers for; `peak_of(model)` gives that model's
/// planned peak as (requests/s, tokens/s), None for a model the plan has no share for.
pub fn plan(
    seen: &[QuotaResult],
    peak_of: impl Fn(&str) -> Option<(f64, f64)>,
) -> Vec<QuotaHeadroom> {
    seen.iter()
        .filter(|q| q.responses > 0)
        .map(|q| {
            let (req_s, tok_s) = peak_of(&q.model).unwrap_or((0.0, 0.0));
            let (req_min, tok_min) = (req_s * 60.0, tok_s * 60.0);
            QuotaHeadroom {
                model: q.model.clone(),
                target: q.target.clone(),
                responses: q.responses,
                limit_requests_per_min: q.limit_requests,
                limit_tokens_per_min: q.limit_tokens,
                lowest_remaining_requests: q.lowest_remaining_requests,
                lowest_remaining_tokens: q.lowest_remaining_tokens,
                retry_after_responses: q.retry_after_responses,
                peak_requests_per_min: req_min,
                peak_tokens_per_min: tok_min,
                requests_headroom_pct: left_pct(q.limit_requests, req_min),
                tokens_headroom_pct: left_pct(q.limit_tokens, tok_min),
            }
        })
        .collect()
}

/// The plan's quota lines: one per model and limit, or the plain statement that no response
/// carried quota headers. `bullet` starts each line ("- " for Markdown, "  " for text).
pub fn lines(q: &[QuotaHeadroom], bullet: &str) -> Vec<String> {
    if q.is_empty() {
        return vec![format!(
            "{bullet}no response of the run carried quota headers (x-ratelimit-*): the plan cannot say how close the peak comes to the account's limits"
        )];
    }
    let mut out = Vec::new();
    for h in q {
        let one = |what: &str,
                   limit: Option<u64>,
                   peak: f64,
                   pct: Option<f64>,
                   low: Option<u64>| {
            let low = low.map_or(String::new(), |l| {
                format!("; lowest remaining seen in the run {l}")
            });
            match (limit, pct) {
                (Some(l), Some(p)) => format!(
                    "{bullet}{} ({}): {what}: planned peak {peak:.0}/min vs limit {l}/min → {}{low}",
                    h.model,
                    h.target,
                    if p >= 0.0 {
                        format!("{p:.0} % headroom")
                    } else {
                        format!("the limit is {:.0} % short of the peak", -p)
                    }
                ),
                (Some(l), None) => format!(
                    "{bullet}{} ({}): {what}: no planned traffic vs limit {l}/min{low}",
                    h.model, h.target
                ),
                _ => format!(
                    "{bullet}{} ({}): {what}: no limit stated by the server{low}",
                    h.model, h.target
                ),
            }
        };
        out.push(one(
            "requests",
            h.limit_requests_per_min,
            h.peak_requests_per_min,
            h.requests_headroom_pct,
            h.lowest_remaining_requests,
        ));
        out.push(one(
            "tokens",
            h.limit_tokens_per_min,
            h.peak_tokens_per_min,
            h.tokens_headroom_pct,
            h.lowest_remaining_tokens,
        ));
        if h.retry_after_responses > 0 {
            out.push(format!(
                "{bullet}{} ({}): {} responses of the run asked to retry later (Retry-After)",
                h.model, h.target, h.retry_after_responses
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_measured_as_capacity_headroom_is() {
        let seen = [QuotaResult {
            model: "gpt".into(),
            target: "openai".into(),
            responses: 10,
            limit_requests: Some(3000),
            limit_tokens: Some(100_000),
            lowest_remaining_requests: Some(2990),
            ..QuotaResult::default()
        }];
        // As capacity headroom (limit / peak − 1): 40 req/s = 2400 req/min against 3000 is
        // 3000 / 2400 = 1.25, 25 % headroom; 2500 tokens/s = 150,000/min against 100,000 is
        // 2/3 of the peak, 33 % short.
        let h = plan(&seen, |m| (m == "gpt").then_some((40.0, 2500.0)));
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].peak_requests_per_min, 2400.0);
        assert!((h[0].requests_headroom_pct.expect("limit") - 25.0).abs() < 1e-9);
        assert!((h[0].tokens_headroom_pct.expect("limit") + 100.0 / 3.0).abs() < 1e-9);
        let text = lines(&h, "- ").join("\n");
        assert!(text.contains("requests: planned peak 2400/min vs limit 3000/min → 25 % headroom; lowest remaining seen in the run 2990"), "{text}");
        assert!(
            text.contains(
                "tokens: planned peak 150000/min vs limit 100000/min → the limit is 33 % short of the peak"
            ),
            "{text}"
        );
        // No planned traffic: no headroom figure, the limit still shown.
        let idle = plan(&seen, |_| Some((0.0, 0.0)));
        assert_eq!(idle[0].requests_headroom_pct, None);
        assert!(lines(&idle, "- ")[0].contains("no planned traffic vs limit 3000/min"));
    }

    #[test]
    fn no_headers_is_said_plainly() {
        let text = lines(&plan(&[], |_| None), "- ").join("\n");
        assert!(
            text.contains("no response of the run carried quota headers"),
            "{text}"
        );
    }
}
