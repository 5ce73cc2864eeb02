//! Removing credentials from text that leaves the process (error messages in the summary, the
//! result and the records file). A bottom-floor module: it imports nothing of the crate, so the
//! records writer and the metrics can both use it.

/// Longest message kept (characters); longer ones are cut with an ellipsis.
pub(crate) const MAX_CHARS: usize = 240;

pub(crate) const REDACTED: &str = "<redacted>";

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

/// `text` with the `user:password@` of every URL in it (with or without a scheme) replaced by
/// `<redacted>@`, and nothing else changed: for quoting a URL the user wrote back to them.
pub fn strip_userinfo(text: &str) -> String {
    redact_bare_userinfo(&redact_userinfo(text))
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
    fn strip_userinfo_takes_out_url_credentials_only() {
        assert_eq!(
            strip_userinfo("http://u:s3cr%40t@h:8/v1?x=1"),
            "http://<redacted>@h:8/v1?x=1"
        );
        assert_eq!(strip_userinfo("u:s3cret@h:8/v1"), "<redacted>@h:8/v1");
        assert_eq!(strip_userinfo("https://h/v1?key=a"), "https://h/v1?key=a");
        assert_eq!(strip_userinfo("ftp://me@h"), "ftp://<redacted>@h");
    }
}
