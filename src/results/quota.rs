//! The result's quota summary: per model, what the server's `x-ratelimit-*` and `Retry-After`
//! headers said over the run (limits, how low the remaining budget went and when, how often
//! the server asked the client to wait). Models whose responses carried none are left out.

use serde::{Deserialize, Serialize};

use crate::metrics::Collector;
use crate::results::PlanOutline;

/// What one model's responses said about the account's quota (every phase of the run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaResult {
    /// Model id.
    pub model: String,
    /// Target name.
    pub target: String,
    /// Requests whose response carried at least one readable `x-ratelimit-*` header.
    pub responses: u64,
    /// Requests allowed per window (lowest `x-ratelimit-limit-requests` seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_requests: Option<u64>,
    /// Tokens allowed per window (lowest `x-ratelimit-limit-tokens` seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_tokens: Option<u64>,
    /// Lowest `x-ratelimit-remaining-requests` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest_remaining_requests: Option<u64>,
    /// Second of the run (since start) when it was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest_remaining_requests_t_s: Option<u64>,
    /// Lowest `x-ratelimit-remaining-tokens` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest_remaining_tokens: Option<u64>,
    /// Second of the run when it was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowest_remaining_tokens_t_s: Option<u64>,
    /// Requests whose response carried a `Retry-After` header.
    #[serde(default)]
    pub retry_after_responses: u64,
    /// The longest `Retry-After` seen, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_max_s: Option<f64>,
}

/// One entry per model whose responses carried quota headers or a `Retry-After`.
pub(super) fn quota(frame: &PlanOutline, c: &Collector) -> Vec<QuotaResult> {
    frame
        .models
        .iter()
        .zip(&c.models)
        .filter(|(_, s)| !s.quota.is_empty())
        .map(|(m, s)| {
            let q = &s.quota;
            QuotaResult {
                model: m.id.clone(),
                target: m.target.clone(),
                responses: q.responses,
                limit_requests: q.tightest.limit_requests,
                limit_tokens: q.tightest.limit_tokens,
                lowest_remaining_requests: q.lowest_remaining_requests.map(|l| l.value),
                lowest_remaining_requests_t_s: q.lowest_remaining_requests.map(|l| l.t_s),
                lowest_remaining_tokens: q.lowest_remaining_tokens.map(|l| l.value),
                lowest_remaining_tokens_t_s: q.lowest_remaining_tokens.map(|l| l.t_s),
                retry_after_responses: q.retry_after_responses,
                retry_after_max_s: q.retry_after_max_s,
            }
        })
        .collect()
}
