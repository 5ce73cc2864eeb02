//! Account quotas: a target's `requests_per_minute` and `tokens_per_minute` as token buckets
//! that hold one second's worth, so a quota smooths traffic instead of allowing a minute-long
//! burst. A request waits here (after its in-flight slot, before it is sent); a stop cancels
//! the wait.
//!
//! This module only paces; it never decides which model or target a request goes to.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{Quota, RateLimiter};
use tokio::sync::watch;

use super::{wait_stop, Stop};
use crate::engine::client::TargetClient;

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
>;

/// A target's client and quotas.
pub struct ClientWithQuotas {
    /// HTTP client.
    pub client: TargetClient,
    rpm: Option<Limiter>,
    tpm: Option<(Limiter, u32)>,
}

impl ClientWithQuotas {
    /// Wraps a client with the target's quotas (token buckets holding one second's worth,
    /// so a quota smooths traffic instead of allowing a minute-long burst).
    pub fn new(
        client: TargetClient,
        rpm: Option<f64>,
        tpm: Option<f64>,
        largest_request_tokens: u32,
    ) -> Self {
        ClientWithQuotas {
            client,
            rpm: rpm.map(|r| bucket(r, 1).0),
            tpm: tpm.map(|t| bucket(t, largest_request_tokens)),
        }
    }

    /// Waits until both quotas admit a request of `est_chars` prompt characters and
    /// `max_tokens` output tokens. Err with the reason when the run stopped first.
    #[inline]
    pub(super) async fn admit(
        &self,
        stop: &watch::Receiver<Stop>,
        est_chars: impl FnOnce() -> usize,
        max_tokens: u32,
    ) -> Result<(), &'static str> {
        if let Some(l) = &self.rpm {
            tokio::select! {
                _ = l.until_ready() => {}
                _ = wait_stop(stop.clone(), Stop::NoNewArrivals) => return Err("the run was stopped while waiting on requests_per_minute"),
            }
        }
        if let Some((l, burst)) = &self.tpm {
            let n = tpm_cost(est_chars(), max_tokens, *burst);
            tokio::select! {
                _ = l.until_n_ready(n) => {}
                _ = wait_stop(stop.clone(), Stop::NoNewArrivals) => return Err("the run was stopped while waiting on tokens_per_minute"),
            }
        }
        Ok(())
    }
}

/// A bucket refilled at `per_min` a minute, holding one second's worth but at least
/// `min_burst` (so the largest single request fits) and at least 1; returns it and its size.
fn bucket(per_min: f64, min_burst: u32) -> (Limiter, u32) {
    let period = Duration::from_secs_f64(60.0 / per_min);
    let burst = burst_size(per_min, min_burst);
    let quota = Quota::with_period(period)
        .expect("a positive per-minute quota gives a non-zero period")
        .allow_burst(NonZeroU32::new(burst).expect("burst is at least 1"));
    (RateLimiter::direct(quota), burst)
}

/// One second's worth of a per-minute quota, at least `min_burst` and at least 1.
fn burst_size(per_min: f64, min_burst: u32) -> u32 {
    ((per_min / 60.0).ceil() as u32).max(min_burst).max(1)
}

/// Tokens a request takes from the `tokens_per_minute` bucket: its prompt estimated at four
/// characters a token plus its `max_tokens`, clamped to what the bucket can ever hold.
#[inline]
fn tpm_cost(chars: usize, max_tokens: u32, burst: u32) -> NonZeroU32 {
    let est = (chars as u64 / 4 + max_tokens as u64).clamp(1, burst as u64) as u32;
    NonZeroU32::new(est).expect("clamped to at least 1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_holds_one_seconds_worth() {
        assert_eq!(burst_size(600.0, 1), 10);
        // Rounded up: 90 a minute is 1.5 a second.
        assert_eq!(burst_size(90.0, 1), 2);
        // A slow quota still lets one request through.
        assert_eq!(burst_size(6.0, 1), 1);
        assert_eq!(burst_size(0.5, 0), 1);
        // A token bucket holds at least the largest request.
        assert_eq!(burst_size(6000.0, 4096), 4096);
        assert_eq!(burst_size(600_000.0, 4096), 10_000);
    }

    #[test]
    fn a_full_bucket_admits_its_burst_then_refuses() {
        // 120 a minute: two at once, then one every half second.
        let (l, burst) = bucket(120.0, 1);
        assert_eq!(burst, 2);
        assert!(l.check().is_ok());
        assert!(l.check().is_ok());
        assert!(
            l.check().is_err(),
            "a third request within the same instant waits"
        );
    }

    #[test]
    fn a_request_costs_its_prompt_estimate_plus_max_tokens_within_the_bucket() {
        assert_eq!(tpm_cost(400, 50, 1000).get(), 150);
        // Fewer than four characters count as no prompt tokens.
        assert_eq!(tpm_cost(3, 20, 1000).get(), 20);
        // Never zero (a wait for zero tokens would not pace at all) ...
        assert_eq!(tpm_cost(0, 0, 1000).get(), 1);
        // ... and never more than the bucket holds (it would wait forever).
        assert_eq!(tpm_cost(40_000, 500, 1000).get(), 1000);
    }

    #[tokio::test]
    async fn a_stop_cancels_a_quota_wait_with_its_reason() {
        let (tx, rx) = watch::channel(Stop::Running);
        let (rpm, _) = bucket(1.0, 1);
        let t = ClientWithQuotas {
            client: super::super::tests::offline_client(),
            rpm: Some(rpm),
            tpm: None,
        };
        // The first request takes the only token at once.
        assert_eq!(t.admit(&rx, || 0, 1).await, Ok(()));
        // The next one would wait a minute; a stop ends the wait.
        tx.send_replace(Stop::NoNewArrivals);
        assert_eq!(
            t.admit(&rx, || 0, 1).await,
            Err("the run was stopped while waiting on requests_per_minute")
        );
    }
}
