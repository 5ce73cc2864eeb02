//! What the failures said: per error class, how often each message came back, so the result and
//! the summary can show the most common one (`connection refused`, `HTTP 404: …`, the TLS
//! reason) beside the class's count instead of leaving it in the records file.
//!
//! Memory is bounded: a class keeps at most [`MAX_MESSAGES`] distinct messages; later new ones
//! are only counted. Every message is scrubbed of credentials before it is kept ([`scrub`]);
//! the client already removes the target's own API key, this removes what looks like one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Distinct messages kept per error class.
pub const MAX_MESSAGES: usize = 16;

/// The messages of one error class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Distinct messages with how many failures carried each, in first-seen order.
    pub messages: Vec<(String, u64)>,
    /// Failures whose message was not kept (the class already had [`MAX_MESSAGES`]).
    #[serde(default)]
    pub other: u64,
}

impl Tally {
    /// Counts one failure's message (already scrubbed).
    pub fn add(&mut self, message: &str, n: u64) {
        if let Some(e) = self.messages.iter_mut().find(|(m, _)| m == message) {
            e.1 += n;
        } else if self.messages.len() < MAX_MESSAGES {
            self.messages.push((message.to_string(), n));
        } else {
            self.other += n;
        }
    }

    /// The most common message and its count (the first seen among equals).
    pub fn top(&self) -> Option<(&str, u64)> {
        let mut best: Option<(&str, u64)> = None;
        for (m, n) in &self.messages {
            if best.is_none_or(|(_, b)| *n > b) {
                best = Some((m, *n));
            }
        }
        best
    }

    /// Adds another tally's counts.
    pub fn absorb(&mut self, o: &Tally) {
        for (m, n) in &o.messages {
            self.add(m, *n);
        }
        self.other += o.other;
    }
}

/// Per error class (outcome name): its messages.
pub type Messages = BTreeMap<String, Tally>;

/// Counts one failed request's message under its class.
pub fn record(into: &mut Messages, class: &str, error: Option<&str>) {
    let message = match error {
        Some(e) if !e.trim().is_empty() => scrub(e),
        _ => "(no message)".to_string(),
    };
    match into.get_mut(class) {
        Some(t) => t.add(&message, 1),
        None => {
            let mut t = Tally::default();
            t.add(&message, 1);
            into.insert(class.to_string(), t);
        }
    }
}

/// Adds `o`'s tallies into `into`.
pub fn absorb(into: &mut Messages, o: &Messages) {
    for (k, t) in o {
        into.entry(k.clone()).or_default().absorb(t);
    }
}

pub use crate::core::redact::scrub;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::redact::{MAX_CHARS, REDACTED};

    #[test]
    fn credentials_never_survive_a_scrub() {
        let cases = [
            (
                "error sending request for url (https://alice:hunter2@api.example.com/v1/chat)",
                "hunter2",
            ),
            (
                "HTTP 401: bad header Authorization: Bearer abc.def.ghi",
                "abc.def.ghi",
            ),
            (
                "HTTP 401: Incorrect API key provided: sk-proj-AbCdEf0123456789xyz",
                "AbCdEf0123456789",
            ),
            (
                "HTTP 403: https://x.example/v1?key=AIzaSyTopSecret&x=1",
                "AIzaSyTopSecret",
            ),
            (
                "rejected x-api-key: my-anthropic-secret",
                "my-anthropic-secret",
            ),
            ("HTTP 400: api_key=plain-secret-value", "plain-secret-value"),
            (
                "connect to user:pa55word@127.0.0.1:9: failed to lookup address",
                "pa55word",
            ),
        ];
        for (text, secret) in cases {
            let s = scrub(text);
            assert!(!s.contains(secret), "{text} → {s}");
            assert!(s.contains(REDACTED), "{text} → {s}");
        }
        // Ordinary messages pass unchanged.
        for text in [
            "HTTP 404: unknown endpoint",
            "tcp connect error: Connection refused (os error 111)",
            "invalid peer certificate: UnknownIssuer",
            "error sending request for url (<url>)",
        ] {
            assert_eq!(scrub(text), text);
        }
        assert!(scrub(&"x".repeat(1000)).chars().count() <= MAX_CHARS + 1);
    }

    #[test]
    fn the_most_common_message_wins_and_memory_is_bounded() {
        let mut m = Messages::new();
        record(&mut m, "http_4xx", Some("HTTP 404: a"));
        record(&mut m, "http_4xx", Some("HTTP 400: b"));
        record(&mut m, "http_4xx", Some("HTTP 400: b"));
        record(&mut m, "connect", None);
        assert_eq!(m["http_4xx"].top(), Some(("HTTP 400: b", 2)));
        assert_eq!(m["connect"].top(), Some(("(no message)", 1)));
        for i in 0..100 {
            record(&mut m, "timeout_total", Some(&format!("message {i}")));
        }
        let t = &m["timeout_total"];
        assert_eq!(t.messages.len(), MAX_MESSAGES);
        assert_eq!(t.other, 100 - MAX_MESSAGES as u64);
        let mut other = Messages::new();
        record(&mut other, "http_4xx", Some("HTTP 404: a"));
        record(&mut other, "http_4xx", Some("HTTP 404: a"));
        absorb(&mut m, &other);
        assert_eq!(m["http_4xx"].top(), Some(("HTTP 404: a", 3)));
    }
}
