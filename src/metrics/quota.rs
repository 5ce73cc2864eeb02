//! Folding the quota servers state on their responses (the records' `quota` and
//! `retry_after_s`): the lowest remaining requests and tokens per second, and per model the
//! limits seen, how low the budget went and when, and how often the server asked to wait.
//!
//! Only figures the server sent are kept; a second or a model whose responses carried no
//! quota headers has none (never a zero standing in for "unknown").

use serde::{Deserialize, Serialize};

use crate::core::quota::Quota;

/// The tightest quota figures of one second (or of a whole run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaPoint {
    /// Lowest `x-ratelimit-remaining-requests` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_requests: Option<u64>,
    /// Lowest `x-ratelimit-remaining-tokens` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_tokens: Option<u64>,
    /// Lowest `x-ratelimit-limit-requests` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_requests: Option<u64>,
    /// Lowest `x-ratelimit-limit-tokens` seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_tokens: Option<u64>,
}

/// The lower of two optional figures (a known one beats an unknown one).
#[inline]
fn lower(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl QuotaPoint {
    /// Takes in one response's quota.
    pub fn note(&mut self, q: &Quota) {
        self.remaining_requests = lower(self.remaining_requests, q.remaining_requests);
        self.remaining_tokens = lower(self.remaining_tokens, q.remaining_tokens);
        self.limit_requests = lower(self.limit_requests, q.limit_requests);
        self.limit_tokens = lower(self.limit_tokens, q.limit_tokens);
    }

    /// Takes in another point (a shard's same second).
    pub fn absorb(&mut self, o: &QuotaPoint) {
        self.remaining_requests = lower(self.remaining_requests, o.remaining_requests);
        self.remaining_tokens = lower(self.remaining_tokens, o.remaining_tokens);
        self.limit_requests = lower(self.limit_requests, o.limit_requests);
        self.limit_tokens = lower(self.limit_tokens, o.limit_tokens);
    }
}

/// The lowest value of a figure and the second it was first seen at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lowest {
    /// The value.
    pub value: u64,
    /// Whole seconds since the run's start when the response carrying it arrived.
    pub t_s: u64,
}

impl Lowest {
    fn take(slot: &mut Option<Lowest>, new: Option<Lowest>) {
        if let Some(n) = new {
            match slot {
                Some(cur) if (cur.value, cur.t_s) <= (n.value, n.t_s) => {}
                _ => *slot = Some(n),
            }
        }
    }
}

/// What the responses of one model (or of all) said about the quota, over every phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaSeen {
    /// Requests whose response carried at least one readable `x-ratelimit-*` header.
    pub responses: u64,
    /// Lowest limits and lowest remaining figures over the run.
    pub tightest: QuotaPoint,
    /// Lowest remaining requests, and when.
    pub lowest_remaining_requests: Option<Lowest>,
    /// Lowest remaining tokens, and when.
    pub lowest_remaining_tokens: Option<Lowest>,
    /// Requests whose response carried a `Retry-After`.
    pub retry_after_responses: u64,
    /// The longest `Retry-After` seen, in seconds.
    pub retry_after_max_s: Option<f64>,
}

impl QuotaSeen {
    /// Takes in one request's figures; `t_us` is when its response headers arrived.
    pub fn note(&mut self, q: &Quota, retry_after_s: Option<f64>, t_us: u64) {
        let t_s = t_us / 1_000_000;
        if !q.is_empty() {
            self.responses += 1;
            self.tightest.note(q);
            let at = |v: Option<u64>| v.map(|value| Lowest { value, t_s });
            Lowest::take(
                &mut self.lowest_remaining_requests,
                at(q.remaining_requests),
            );
            Lowest::take(&mut self.lowest_remaining_tokens, at(q.remaining_tokens));
        }
        if let Some(s) = retry_after_s.filter(|s| s.is_finite()) {
            self.retry_after_responses += 1;
            self.retry_after_max_s = Some(self.retry_after_max_s.map_or(s, |m| m.max(s)));
        }
    }

    /// Takes in another shard's figures.
    pub fn absorb(&mut self, o: &QuotaSeen) {
        self.responses += o.responses;
        self.tightest.absorb(&o.tightest);
        Lowest::take(
            &mut self.lowest_remaining_requests,
            o.lowest_remaining_requests,
        );
        Lowest::take(&mut self.lowest_remaining_tokens, o.lowest_remaining_tokens);
        self.retry_after_responses += o.retry_after_responses;
        self.retry_after_max_s = match (self.retry_after_max_s, o.retry_after_max_s) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }

    /// Whether no response carried quota headers or a `Retry-After`.
    pub fn is_empty(&self) -> bool {
        self.responses == 0 && self.retry_after_responses == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(rem_req: Option<u64>, rem_tok: Option<u64>, lim: Option<u64>) -> Quota {
        Quota {
            remaining_requests: rem_req,
            remaining_tokens: rem_tok,
            limit_requests: lim,
            ..Quota::default()
        }
    }

    #[test]
    fn keeps_the_lowest_figures_and_when_they_were_first_seen() {
        let mut s = QuotaSeen::default();
        s.note(&q(Some(590), Some(5000), Some(600)), None, 1_200_000);
        s.note(&q(Some(480), None, Some(600)), Some(2.0), 3_900_000);
        s.note(&q(Some(480), Some(4000), None), None, 5_000_000);
        s.note(&Quota::default(), Some(7.5), 6_000_000);
        assert_eq!(s.responses, 3);
        assert_eq!(
            s.lowest_remaining_requests,
            Some(Lowest { value: 480, t_s: 3 })
        );
        assert_eq!(
            s.lowest_remaining_tokens,
            Some(Lowest {
                value: 4000,
                t_s: 5
            })
        );
        assert_eq!(s.tightest.limit_requests, Some(600));
        assert_eq!(s.tightest.limit_tokens, None);
        assert_eq!(
            (s.retry_after_responses, s.retry_after_max_s),
            (2, Some(7.5))
        );

        // Two shards fold to the same figures as one collector that saw everything.
        let mut a = QuotaSeen::default();
        a.note(&q(Some(480), Some(4000), None), None, 5_000_000);
        let mut b = QuotaSeen::default();
        b.note(&q(Some(590), Some(5000), Some(600)), None, 1_200_000);
        b.note(&q(Some(480), None, Some(600)), Some(2.0), 3_900_000);
        b.note(&Quota::default(), Some(7.5), 6_000_000);
        a.absorb(&b);
        assert_eq!(a, s);
    }

    #[test]
    fn nothing_seen_stays_unknown() {
        let mut s = QuotaSeen::default();
        s.note(&Quota::default(), None, 1_000_000);
        s.note(&Quota::default(), Some(f64::NAN), 1_000_000);
        assert!(s.is_empty());
        assert_eq!(s.tightest, QuotaPoint::default());
    }
}
