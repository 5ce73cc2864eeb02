//! The account quota a server states on a response: the `x-ratelimit-*` headers.
//!
//! Providers (OpenAI, Azure OpenAI, many gateways) send, on every response, the limits of the
//! account and what is left of them in the current window:
//! `x-ratelimit-limit-requests`, `x-ratelimit-limit-tokens`, `x-ratelimit-remaining-requests`,
//! `x-ratelimit-remaining-tokens`, `x-ratelimit-reset-requests`, `x-ratelimit-reset-tokens`.
//! Resets come as Go-style durations (`1s`, `6m0s`, `20ms`, `1h2m3.5s`) or plain seconds.
//!
//! This module owns reading those headers into a [`Quota`]. It runs on every response, so it
//! looks at each header name once, allocates nothing, and never fails: a value it cannot read
//! (garbage, negative, overflowing) is left out rather than guessed.

use serde::{Deserialize, Serialize};

/// The quota figures one response carried; every field is absent when its header was absent
/// or unreadable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// `x-ratelimit-limit-requests`: requests allowed per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_requests: Option<u64>,
    /// `x-ratelimit-limit-tokens`: tokens allowed per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_tokens: Option<u64>,
    /// `x-ratelimit-remaining-requests`: requests left in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_requests: Option<u64>,
    /// `x-ratelimit-remaining-tokens`: tokens left in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_tokens: Option<u64>,
    /// `x-ratelimit-reset-requests`: time until the request budget is whole again, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_requests_ms: Option<u64>,
    /// `x-ratelimit-reset-tokens`: time until the token budget is whole again, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_tokens_ms: Option<u64>,
}

/// The common prefix of the quota headers.
const PREFIX: &[u8] = b"x-ratelimit-";

impl Quota {
    /// No figure was read.
    pub fn is_empty(&self) -> bool {
        *self == Quota::default()
    }

    /// Reads one response header into the quota when it is one of the quota headers (any
    /// case); returns whether it was. Unreadable values are ignored.
    #[inline]
    pub fn observe(&mut self, name: &[u8], value: &[u8]) -> bool {
        if name.len() <= PREFIX.len() || !name[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
            return false;
        }
        self.observe_suffix(&name[PREFIX.len()..], value)
    }

    #[cold]
    fn observe_suffix(&mut self, rest: &[u8], value: &[u8]) -> bool {
        let is = |s: &[u8]| rest.eq_ignore_ascii_case(s);
        let (slot, v) = if is(b"limit-requests") {
            (&mut self.limit_requests, parse_count(value))
        } else if is(b"limit-tokens") {
            (&mut self.limit_tokens, parse_count(value))
        } else if is(b"remaining-requests") {
            (&mut self.remaining_requests, parse_count(value))
        } else if is(b"remaining-tokens") {
            (&mut self.remaining_tokens, parse_count(value))
        } else if is(b"reset-requests") {
            (&mut self.reset_requests_ms, parse_duration_ms(value))
        } else if is(b"reset-tokens") {
            (&mut self.reset_tokens_ms, parse_duration_ms(value))
        } else {
            return false;
        };
        *slot = v;
        v.is_some()
    }
}

/// Reads a response's headers (name, value) in one pass: the quota figures, and the raw
/// `Retry-After` value when there is one. Allocates nothing.
#[inline]
pub fn read<'a>(headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> (Quota, Option<&'a [u8]>) {
    let mut quota = Quota::default();
    let mut retry_after = None;
    for (k, v) in headers {
        if !quota.observe(k, v) && k.eq_ignore_ascii_case(b"retry-after") {
            retry_after = Some(v);
        }
    }
    (quota, retry_after)
}

/// A whole non-negative count (`600`, ` 59 `); anything else is None.
pub fn parse_count(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u64, |n, d| n * 10 + (d - b'0') as u64))
}

/// A duration in milliseconds: Go's form (`1s`, `6m0s`, `20ms`, `1h2m3.5s`, `250us`) or plain
/// seconds (`7`, `0.5`). Anything else (a sign, an unknown unit, an empty part) is None.
pub fn parse_duration_ms(v: &[u8]) -> Option<u64> {
    let v = v.trim_ascii();
    if v.is_empty() {
        return None;
    }
    let mut total_us: f64 = 0.0;
    let mut i = 0;
    while i < v.len() {
        let (n, used) = number(&v[i..])?;
        i += used;
        let unit_end = v[i..]
            .iter()
            .position(|c| c.is_ascii_digit() || *c == b'.')
            .map_or(v.len(), |p| i + p);
        let unit_us = match &v[i..unit_end] {
            // Plain seconds: the whole value is one number.
            b"" if used == v.len() => 1e6,
            b"h" => 3600e6,
            b"m" => 60e6,
            b"s" => 1e6,
            b"ms" => 1e3,
            b"us" | b"\xc2\xb5s" => 1.0,
            b"ns" => 1e-3,
            _ => return None,
        };
        total_us += n * unit_us;
        i = unit_end;
    }
    (total_us.is_finite() && total_us < 1e18).then(|| (total_us / 1e3).round() as u64)
}

/// A decimal number (`12`, `3.5`, `.5`) at the start of `v`, and the bytes it took.
fn number(v: &[u8]) -> Option<(f64, usize)> {
    let end = v
        .iter()
        .position(|c| !(c.is_ascii_digit() || *c == b'.'))
        .unwrap_or(v.len());
    let text = std::str::from_utf8(&v[..end]).ok()?;
    if text.is_empty() || text == "." || text.bytes().filter(|c| *c == b'.').count() > 1 {
        return None;
    }
    let n: f64 = text.parse().ok()?;
    Some((n, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_go_form_or_plain_seconds() {
        let d = |s: &str| parse_duration_ms(s.as_bytes());
        assert_eq!(d("1s"), Some(1000));
        assert_eq!(d("6m0s"), Some(360_000));
        assert_eq!(d("20ms"), Some(20));
        assert_eq!(d("1h2m3.5s"), Some(3_723_500));
        assert_eq!(d("0.5s"), Some(500));
        assert_eq!(d("250us"), Some(0));
        assert_eq!(d("1500µs"), Some(2));
        assert_eq!(d(" 7 "), Some(7000));
        assert_eq!(d("0.25"), Some(250));
        assert_eq!(d("0"), Some(0));
        for bad in [
            "",
            " ",
            "s",
            "-1s",
            "1x",
            "1.2.3s",
            "1s-",
            "soon",
            "1 s",
            "Infinity",
            "NaN",
            ".",
            "1e3",
            "9999999999999999999999h",
            "m5",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counts_are_whole_non_negative_numbers() {
        let c = |s: &str| parse_count(s.as_bytes());
        assert_eq!(c("600"), Some(600));
        assert_eq!(c(" 59 "), Some(59));
        assert_eq!(c("0"), Some(0));
        for bad in [
            "",
            "-1",
            "1.5",
            "abc",
            "12abc",
            "99999999999999999999",
            "+3",
        ] {
            assert_eq!(c(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn headers_are_read_by_name_in_any_case_and_garbage_is_left_out() {
        let mut q = Quota::default();
        let hs: [(&str, &str); 9] = [
            ("X-RateLimit-Limit-Requests", "3000"),
            ("x-ratelimit-limit-tokens", "250000"),
            ("X-RATELIMIT-REMAINING-REQUESTS", "2999"),
            ("x-ratelimit-remaining-tokens", "lots"),
            ("x-ratelimit-reset-requests", "20ms"),
            ("x-ratelimit-reset-tokens", "6m0s"),
            ("x-ratelimit-unknown", "1"),
            ("content-type", "text/event-stream"),
            ("x-ratelimit-", "1"),
        ];
        let read: Vec<bool> = hs
            .iter()
            .map(|(k, v)| q.observe(k.as_bytes(), v.as_bytes()))
            .collect();
        assert_eq!(
            read,
            [true, true, true, false, true, true, false, false, false]
        );
        assert_eq!(
            q,
            Quota {
                limit_requests: Some(3000),
                limit_tokens: Some(250_000),
                remaining_requests: Some(2999),
                remaining_tokens: None,
                reset_requests_ms: Some(20),
                reset_tokens_ms: Some(360_000),
            }
        );
        assert!(!q.is_empty());
        assert!(Quota::default().is_empty());
    }

    #[test]
    fn any_bytes_never_panic() {
        let mut q = Quota::default();
        let samples: [&[u8]; 6] = [b"\xff\xfe", b"1\xffs", b"..", b"1.", b"\x00", b"1h\xc2"];
        for v in samples {
            let _ = parse_duration_ms(v);
            let _ = parse_count(v);
            q.observe(b"x-ratelimit-reset-tokens", v);
        }
    }
}
