//! A fast path for the common shape of a streamed chunk, in front of the serde decoder of
//! [`super::wire`].
//!
//! Why: decoding every token's chunk through serde_json's visitor machinery costed about 4,600
//! instructions per event — over a third of llmload's own CPU per streamed request
//! (docs/performance.md). Typical chunks are plain: a few string, number and null fields, one
//! choice with a `delta.content` or a completions `text`, no escapes in the fields read. This
//! scanner reads that shape in one pass over the bytes.
//!
//! It must never decide differently from the serde decoder. So it only *accepts* what it fully
//! understands — strictly valid JSON, with the fields it reads holding unescaped strings or
//! `null` — and gives up (returns `None`) on anything else: escapes or `\u` in a string it
//! reads, usage, errors, reasoning and tool-call fields, `message`, an `object` of `"error"`,
//! deep nesting, any syntax it does not expect. The caller then runs the full decoder, which
//! is the reference for every rule. `tests` check the two agree, including on random payloads.

use super::wire::Delta;

/// Nesting depth beyond which the scanner gives up (serde_json's own limit is 128).
const MAX_DEPTH: u32 = 64;

/// Decodes `json` (already UTF-8, trimmed) if it has the plain shape; appends the output text
/// to `text`. On `None` `text` may hold a partial append: the caller truncates it.
pub(crate) fn chunk(json: &str, want_id: bool, text: &mut String) -> Option<Delta> {
    let mut s = Scanner {
        s: json,
        b: json.as_bytes(),
        i: 0,
    };
    let mut d = Delta::default();
    s.top(want_id, text, &mut d)?;
    s.ws();
    (s.i == s.b.len()).then_some(d)
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

/// Every byte of a word holding `b`.
const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// The bytes of a word that are a quote, a backslash or a control character (< 0x20) — the
/// bytes a string scan must stop at — as their high bits. The classic SWAR zero-byte and
/// less-than tests can flag bytes *above* the first match wrongly (borrows run upwards) but
/// never below it, so the lowest flag is exact, and that is the only one used.
fn special_mask(w: u64) -> u64 {
    const HI: u64 = splat(0x80);
    let quote = w ^ splat(b'"');
    let backslash = w ^ splat(b'\\');
    let zero_in = |v: u64| v.wrapping_sub(splat(1)) & !v;
    (zero_in(quote) | zero_in(backslash) | (w.wrapping_sub(splat(0x20)) & !w)) & HI
}

/// The index of the first quote, backslash or control byte in `b` at or after `i` (or
/// `b.len()`), eight bytes at a time.
fn next_special(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = b.get(i..i + 8) {
        let m = special_mask(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Consumes `c` after optional whitespace.
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// A string without escapes or control characters, returned without its quotes.
    fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = next_special(self.b, start);
        if *self.b.get(end)? != b'"' {
            return None;
        }
        self.i = end + 1;
        // Both ends are next to an ASCII quote, so they are character boundaries.
        self.s.get(start..end)
    }

    /// `null` (true) or not (false, nothing consumed but whitespace).
    fn null(&mut self) -> bool {
        self.ws();
        if self.b[self.i..].starts_with(b"null") {
            self.i += 4;
            true
        } else {
            false
        }
    }

    /// `null` (None) or a plain string (Some); anything else gives up.
    fn str_or_null(&mut self) -> Option<Option<&'a str>> {
        if self.null() {
            Some(None)
        } else {
            self.plain_str().map(Some)
        }
    }

    /// Skips any valid JSON value; gives up on `\u` escapes and deep nesting.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'"' => self.skip_str(),
            b'{' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip_str()?;
                    self.eat(b':')?;
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.b[self.i..]
            .starts_with(word)
            .then(|| self.i += word.len())
    }

    /// A string, allowing the simple escapes (not `\\u`, whose surrogate rules are left to serde).
    fn skip_str(&mut self) -> Option<()> {
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        loop {
            self.i = next_special(self.b, self.i);
            match *self.b.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => match *self.b.get(self.i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// A JSON number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let digits = |s: &mut Self| {
            let start = s.i;
            while s.peek().is_some_and(|c| c.is_ascii_digit()) {
                s.i += 1;
            }
            (s.i > start).then_some(())
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => digits(self)?,
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            digits(self)?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            digits(self)?;
        }
        Some(())
    }

    /// Walks `{ "key": value, ... }`, calling `field` for each key (a plain string) with the
    /// scanner positioned before the value; `field` must consume the value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            let key = self.plain_str()?;
            self.eat(b':')?;
            field(self, key)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn top(&mut self, want_id: bool, text: &mut String, d: &mut Delta) -> Option<()> {
        let mut finish: Option<&'a str> = None;
        let mut id: Option<&'a str> = None;
        self.object(|s, key| match key {
            "id" if want_id => {
                // The serde decoder keeps the last `id`; a string only (it renders numbers).
                id = Some(s.plain_str()?);
                Some(())
            }
            "choices" => {
                if s.null() {
                    return Some(());
                }
                s.eat(b'[')?;
                s.ws();
                if s.peek()? == b']' {
                    s.i += 1;
                    return Some(());
                }
                loop {
                    s.choice(text, d, &mut finish)?;
                    s.ws();
                    match s.peek()? {
                        b',' => s.i += 1,
                        b']' => {
                            s.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            // An object of "error" makes the payload an error: the full decoder's business.
            "object" => (s.plain_str()? != "error").then_some(()),
            "usage" | "error" => s.null().then_some(()),
            // Read leniently (numbers rendered) by the full decoder; rare in chunks.
            "message" | "type" | "code" => None,
            _ => s.skip(1),
        })?;
        d.id = id.map(str::to_owned);
        d.finish_reason = finish.map(str::to_owned);
        Some(())
    }

    fn choice(
        &mut self,
        text: &mut String,
        d: &mut Delta,
        finish: &mut Option<&'a str>,
    ) -> Option<()> {
        if self.null() {
            return Some(());
        }
        self.object(|s, key| match key {
            "text" => s.append(text, &mut d.answer_bytes),
            "delta" => {
                if s.null() {
                    return Some(());
                }
                s.object(|s, key| match key {
                    "content" => s.append(text, &mut d.answer_bytes),
                    // Reasoning (with its two-name rule) and tool calls: the full decoder.
                    "reasoning_content" | "reasoning" | "tool_calls" | "function_call" => None,
                    _ => s.skip(2),
                })
            }
            "message" => None,
            "finish_reason" => {
                let reason = s.str_or_null()?;
                if finish.is_none() {
                    *finish = reason;
                }
                Some(())
            }
            _ => s.skip(2),
        })
    }

    /// A plain string appended to the text and counted, or `null`.
    fn append(&mut self, text: &mut String, count: &mut usize) -> Option<()> {
        if let Some(v) = self.str_or_null()? {
            text.push_str(v);
            *count += v.len();
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::client::wire;
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;

    /// The full decoder's verdict and text for a payload.
    fn reference(
        json: &str,
        want_id: bool,
    ) -> (Result<wire::StreamEvent, wire::WireError>, String) {
        let mut text = String::from("before|");
        let r = wire::decode_object(json, want_id, &mut text);
        (r, text)
    }

    /// Asserts that when the scanner accepts a payload it agrees with the full decoder.
    /// Returns whether it accepted.
    fn agrees(json: &str, want_id: bool) -> bool {
        let mut text = String::from("before|");
        let Some(d) = chunk(json, want_id, &mut text) else {
            return false;
        };
        let (want, want_text) = reference(json, want_id);
        assert_eq!(Ok(wire::StreamEvent::Delta(d)), want, "{json}");
        assert_eq!(text, want_text, "{json}");
        true
    }

    #[test]
    fn next_special_finds_the_first_quote_backslash_or_control_byte() {
        for len in [1usize, 7, 8, 9, 16, 23] {
            for pos in 0..len {
                for (b, found) in [
                    (b'"', true),
                    (b'\\', true),
                    (0x00, true),
                    (b'\n', true),
                    (0x1f, true),
                    (b' ', false),
                    (b'a', false),
                    (0x7f, false),
                    (0xc3, false),
                    (0xff, false),
                ] {
                    // Plain ASCII around it, then high bytes (UTF-8 continuation-like).
                    for fill in [b'x', 0xe9] {
                        let mut v = vec![fill; len];
                        v[pos] = b;
                        let want = if found { pos } else { len };
                        assert_eq!(next_special(&v, 0), want, "{b:#x} at {pos} of {len}");
                        // A second special byte later never moves the first.
                        if found && pos + 1 < len {
                            v[len - 1] = b'"';
                            assert_eq!(next_special(&v, 0), pos, "{b:#x} at {pos} of {len}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn common_chunks_take_the_fast_path_and_agree() {
        for json in [
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1795809091,"model":"sim","choices":[{"index":0,"delta":{"content":" can"},"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"sim","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#,
            r#"{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#,
            r#"{"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":" wörld","logprobs":null,"finish_reason":null}],"usage":null}"#,
            r#"{ "id" : "a" , "choices" : [ { "delta" : { "content" : "é" } } , null , { "text" : "b", "finish_reason": "stop" } ] }"#,
            r#"{"choices":null}"#,
            r#"{}"#,
            r#"{"id":"a","id":"b","choices":[{"finish_reason":"stop"},{"finish_reason":"length"}]}"#,
            r#"{"choices":[{"delta":{"content":"a","content":"b"},"logprobs":{"content":[{"token":"a","logprob":-0.5e-3,"bytes":[97]}]}}],"system_fingerprint":"fp\n\"x\"","x":[true,false,null,0,-1.25E+2,{}]}"#,
            r#"{"choices":[{"delta":{"content":null},"finish_reason":null}],"error":null}"#,
            r#"{"id":"chatcmpl-0123456789abcdef","choices":[{"delta":{"content":"héllo wörld, a longer piece — with ünïcode"}}],"skipped":"a long skipped string with \"escapes\" in the middle and at the end\\"}"#,
        ] {
            for want_id in [true, false] {
                assert!(agrees(json, want_id), "not on the fast path: {json}");
            }
        }
    }

    #[test]
    fn unusual_payloads_are_left_to_the_full_decoder() {
        for json in [
            // Escapes in read fields, \u anywhere.
            r#"{"choices":[{"delta":{"content":"a\nb"}}]}"#,
            r#"{"choices":[{"delta":{"content":"a string longer than a word\n, escaped late"}}]}"#,
            r#"{"choices":[{"delta":{"content":"sixteen bytes ok\u0041"}}]}"#,
            r#"{"id":"x","choices":[],"note":"\u00e9"}"#,
            r#"{"id":"a\"b","choices":[]}"#,
            // Usage, errors, reasoning, tools, non-streamed message.
            r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":3}}"#,
            r#"{"error":{"message":"boom"}}"#,
            r#"{"object":"error","message":"boom"}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"think"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"message":{"content":"whole"}}]}"#,
            // Numbers where strings are read, invalid JSON, trailing bytes.
            r#"{"id":7,"choices":[]}"#,
            r#"{"choices":[{"finish_reason":1}]}"#,
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":[{"index":01}]}"#,
            r#"{"choices":[{"index":1.}]}"#,
            r#"{"choices":[],}"#,
            r#"{"choices":[]} x"#,
            r#"{"choices":[] "#,
            r#"{"a":nul}"#,
            r#"{"a":"tab	inside"}"#,
        ] {
            let mut text = String::new();
            assert!(chunk(json, true, &mut text).is_none(), "accepted: {json}");
        }
    }

    /// Payloads assembled from pieces common in real chunks and pieces that are not.
    fn arb_payload() -> impl Strategy<Value = String> {
        let value = prop::sample::select(vec![
            r#""plain""#,
            r#""é ü""#,
            r#""with \"quote\" and \n""#,
            r#""\u00e9""#,
            "null",
            "true",
            "false",
            "0",
            "-12.5e3",
            "01",
            "[]",
            "{}",
            r#"[1,{"a":null}]"#,
            r#"{"content":"x"}"#,
            r#"{"content":"x","role":"assistant"}"#,
            r#"{"content":null}"#,
            r#"{"reasoning":"r"}"#,
            r#"[{"delta":{"content":"hi"},"finish_reason":null}]"#,
            r#"[{"text":"t","finish_reason":"stop"},{"delta":{"content":"u"},"finish_reason":"length"}]"#,
            r#"[null,{"delta":null,"index":3}]"#,
            r#"[{"delta":{"content":5}}]"#,
            r#""error""#,
            "",
        ]);
        let key = prop::sample::select(vec![
            "id",
            "object",
            "choices",
            "usage",
            "error",
            "model",
            "created",
            "text",
            "delta",
            "content",
            "finish_reason",
            "message",
            "index",
        ]);
        let sep = prop::sample::select(vec!["", " ", "\n", "\t"]);
        prop::collection::vec((key, value, sep), 0..6).prop_map(|fields| {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v, s)| format!("{s}\"{k}\"{s}:{s}{v}{s}"))
                .collect();
            format!("{{{}}}", body.join(","))
        })
    }

    proptest! {
        #[test]
        fn the_fast_path_never_disagrees_with_the_full_decoder(json in arb_payload(), want_id: bool) {
            agrees(&json, want_id);
        }
    }

    #[test]
    fn the_random_payloads_do_reach_the_fast_path() {
        // Guards the property test above against a generator whose every payload is refused.
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = arb_payload();
        let mut accepted = 0;
        for _ in 0..500 {
            let json = strategy.new_tree(&mut runner).expect("a payload").current();
            accepted += agrees(&json, true) as u32;
        }
        assert!(accepted > 50, "only {accepted} of 500 took the fast path");
    }
}
