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

/// Longest message kept (characters); longer ones are cut with an ellipsis.
const MAX_CHARS: usize = 240;

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

const REDACTED: &str = "<redacted>";

/// Removes credentials from a message: the user:password part of URLs, the value after
/// `Bearer ` and after an `Authorization`, `api-key` or `x-api-key` header name, key-like
/// query parameters (`key=`, `api_key=`, `token=`, `access_token=`…), and tokens that look
/// like API keys (`sk-…`, 20+ characters). Also cuts the message to a readable length.
pub fn scrub(text: &str) -> String {
    let mut s = text.to_string();
    s = redact_userinfo(&s);
    s = redact_bare_userinfo(&s);
    for marker in [
        "bearer ",
        "authorization: ",
        "authorization=",
        "x-api-key: ",
        "api-key: ",
    ] {
        s = redact_after(&s, marker);
    }
    for param in [
        "api_key=",
        "api-key=",
        "apikey=",
        "access_token=",
        "token=",
        "key=",
    ] {
        s = redact_after(&s, param);
    }
    s = redact_key_like(&s);
    if s.chars().count() > MAX_CHARS {
        s = s.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    s
}

/// Whether a character ends a credential value.
fn ends_value(c: char) -> bool {
    c.is_whitespace() || matches!(c, '&' | '"' | '\'' | ',' | ';' | ')' | '>' | '<')
}

/// Replaces the value after every (ASCII case-insensitive) occurrence of `marker`.
fn redact_after(s: &str, marker: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(pos) = lower[i..].find(marker) {
        let start = i + pos + marker.len();
        // `key=` inside `api_key=` was handled by its own marker; a value already redacted is left.
        out.push_str(&s[i..start]);
        let rest = &s[start..];
        let len = rest.find(ends_value).unwrap_or(rest.len());
        if len > 0 && !rest.starts_with(REDACTED) {
            out.push_str(REDACTED);
        } else {
            out.push_str(&rest[..len]);
        }
        i = start + len;
    }
    out.push_str(&s[i..]);
    out
}

/// `scheme://user:password@host` → `scheme://<redacted>@host`.
fn redact_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(pos) = s[i..].find("://") {
        let start = i + pos + 3;
        out.push_str(&s[i..start]);
        let rest = &s[start..];
        let authority = rest
            .find(|c: char| c == '/' || c == '?' || c == '#' || ends_value(c))
            .unwrap_or(rest.len());
        match rest[..authority].rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&rest[at..authority]);
            }
            None => out.push_str(&rest[..authority]),
        }
        i = start + authority;
    }
    out.push_str(&s[i..]);
    out
}

/// `user:password@host` without a scheme (as a connect error names its address): the part
/// before the last `@` of a word that has a `:` before it.
fn redact_bare_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        let end = rest.find(ends_value).unwrap_or(rest.len());
        let word = &rest[..end];
        match word.rfind('@') {
            Some(at) if word[..at].contains(':') && !word[..at].ends_with(REDACTED) => {
                let start = word[..at].find("://").map_or(0, |p| p + 3);
                out.push_str(&word[..start]);
                out.push_str(REDACTED);
                out.push_str(&word[at..]);
            }
            _ => out.push_str(word),
        }
        let sep = rest[end..].chars().next().map_or(0, char::len_utf8);
        out.push_str(&rest[end..end + sep]);
        rest = &rest[end + sep..];
    }
    out
}

/// Words that look like API keys: `sk-`/`sk_` followed by 16+ key characters.
fn redact_key_like(s: &str) -> String {
    let key_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let lower = word.to_ascii_lowercase();
        if (lower.starts_with("sk-") || lower.starts_with("sk_")) && word.len() >= 19 {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in s.chars() {
        if key_char(c) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
