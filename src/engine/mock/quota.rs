//! The mock's simulated account quota: fixed 60 s windows from the server's start, a request
//! budget and a token budget per window, stated on every answer in the `x-ratelimit-*` headers
//! providers send, and a 429 with `Retry-After` when a request would overdraw a budget.
//!
//! Everything is a function of the request's receive time and what was charged before it, so
//! a test can compute the headers of a run exactly.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use crate::config::mock::RateLimit;

/// The length of one budget window.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// The budgets of the current window.
#[derive(Debug)]
pub(crate) struct Window {
    limits: RateLimit,
    /// Index of the current window (0: the first 60 s after the server started).
    index: u64,
    requests: u64,
    tokens: u64,
}

/// What one request gets: the headers to send, and whether it is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub limit_requests: Option<u64>,
    pub limit_tokens: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub remaining_tokens: Option<u64>,
    /// Time to the window's end.
    pub reset: Duration,
    /// The request would overdraw a budget: answer 429, charge nothing.
    pub refused: bool,
}

impl Window {
    pub fn new(limits: RateLimit) -> Window {
        Window {
            limits,
            index: 0,
            requests: 0,
            tokens: 0,
        }
    }

    /// Charges a request received `since_start` after the server started that costs `tokens`
    /// (prompt plus output), unless it would overdraw a budget.
    pub fn charge(&mut self, since_start: Duration, tokens: u64) -> Verdict {
        let index = since_start.as_secs() / WINDOW.as_secs();
        if index != self.index {
            (self.index, self.requests, self.tokens) = (index, 0, 0);
        }
        let (rpm, tpm) = (
            self.limits.requests_per_minute,
            self.limits.tokens_per_minute,
        );
        let refused = rpm.is_some_and(|l| self.requests + 1 > l)
            || tpm.is_some_and(|l| self.tokens.saturating_add(tokens) > l);
        if !refused {
            self.requests += 1;
            self.tokens = self.tokens.saturating_add(tokens);
        }
        let end = WINDOW * (index as u32 + 1);
        Verdict {
            limit_requests: rpm,
            limit_tokens: tpm,
            remaining_requests: rpm.map(|l| l.saturating_sub(self.requests)),
            remaining_tokens: tpm.map(|l| l.saturating_sub(self.tokens)),
            reset: end.saturating_sub(since_start),
            refused,
        }
    }
}

impl Verdict {
    /// Writes the quota headers (and `Retry-After` on a refusal) onto a response.
    pub fn apply(&self, h: &mut HeaderMap) {
        let reset = HeaderValue::from_str(&go_duration(self.reset))
            .unwrap_or(HeaderValue::from_static("0s"));
        let mut put = |name: &'static str, v: u64| {
            h.insert(name, HeaderValue::from(v));
        };
        if let Some(l) = self.limit_requests {
            put("x-ratelimit-limit-requests", l);
        }
        if let Some(l) = self.limit_tokens {
            put("x-ratelimit-limit-tokens", l);
        }
        if let Some(r) = self.remaining_requests {
            put("x-ratelimit-remaining-requests", r);
        }
        if let Some(r) = self.remaining_tokens {
            put("x-ratelimit-remaining-tokens", r);
        }
        if self.refused {
            put(
                "retry-after",
                self.reset.as_secs_f64().ceil().max(1.0) as u64,
            );
        }
        if self.limit_requests.is_some() {
            h.insert("x-ratelimit-reset-requests", reset.clone());
        }
        if self.limit_tokens.is_some() {
            h.insert("x-ratelimit-reset-tokens", reset);
        }
    }
}

/// A duration as Go (and OpenAI's headers) write it: `20ms` under a second, else `1m2.5s`,
/// `59.95s`.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (m, rest_ms) = (ms / 60_000, ms % 60_000);
    let s = format!("{}.{:03}", rest_ms / 1000, rest_ms % 1000);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_count_down_within_a_window_and_refill_at_the_next() {
        let mut w = Window::new(RateLimit {
            requests_per_minute: Some(3),
            tokens_per_minute: Some(100),
        });
        let s = Duration::from_secs;
        let v = w.charge(s(1), 30);
        assert_eq!(
            (v.remaining_requests, v.remaining_tokens, v.refused),
            (Some(2), Some(70), false)
        );
        assert_eq!(v.reset, s(59));
        // A request that would overdraw the tokens is refused and charges nothing.
        let v = w.charge(s(2), 80);
        assert_eq!(
            (v.remaining_requests, v.remaining_tokens, v.refused),
            (Some(2), Some(70), true)
        );
        w.charge(s(3), 10);
        w.charge(s(4), 10);
        let v = w.charge(s(5), 1);
        assert_eq!((v.remaining_requests, v.refused), (Some(0), true));
        // The next window starts whole.
        let v = w.charge(Duration::from_millis(60_500), 5);
        assert_eq!(
            (v.remaining_requests, v.remaining_tokens, v.refused),
            (Some(2), Some(95), false)
        );
        assert_eq!(v.reset, Duration::from_millis(59_500));
    }

    #[test]
    fn headers_read_back_through_the_client_parser() {
        let mut w = Window::new(RateLimit {
            requests_per_minute: Some(1),
            tokens_per_minute: None,
        });
        w.charge(Duration::from_millis(250), 7);
        let v = w.charge(Duration::from_millis(500), 7);
        let mut h = HeaderMap::new();
        v.apply(&mut h);
        let mut q = crate::core::quota::Quota::default();
        for (k, val) in &h {
            q.observe(k.as_str().as_bytes(), val.as_bytes());
        }
        assert_eq!(q.limit_requests, Some(1));
        assert_eq!(q.remaining_requests, Some(0));
        assert_eq!(q.reset_requests_ms, Some(59_500));
        assert_eq!(q.limit_tokens, None);
        assert_eq!(h.get("retry-after").map(|v| v.as_bytes()), Some(&b"60"[..]));
        assert_eq!(go_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_millis(61_500)), "1m1.5s");
    }
}
