//! Answers from a model's table (its `answers` file): the request's last user message looked
//! up, the draw that makes a share of them wrong, and the tokens streamed in place of
//! generated words.
//!
//! A request is looked up only when its model has a table; without one nothing here runs.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use serde_json::Value;

use super::gen::Kind;
use crate::config::mock::answers::{MockAnswers, Tokens};

/// How many times each table prompt has been asked of one model so far (its draw counter).
pub(crate) struct Asked(Box<[AtomicU64]>);

impl Asked {
    pub fn new(table: &MockAnswers) -> Asked {
        Asked(
            (0..table.answers.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
        )
    }
}

/// The answer text a request gets, as tokens, followed by generated words once its reasoning
/// tokens are out: `skip` random words first (the reasoning), then the table's tokens.
pub(crate) struct Script {
    tokens: Tokens,
    next: usize,
    skip: u32,
}

impl Script {
    pub fn new(tokens: Tokens, reasoning: u32) -> Box<Script> {
        Box::new(Script {
            tokens,
            next: 0,
            skip: reasoning,
        })
    }

    /// The next token of the answer; None while reasoning words are due or once the answer is
    /// out (a generated word then).
    #[inline]
    pub fn next_token(&mut self) -> Option<&str> {
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        let t = self.tokens.0.get(self.next)?;
        self.next += 1;
        Some(t)
    }
}

/// The table answer for the request `body` on `kind` to model `model` (None: the prompt is not
/// in the table, and the answer is generated words as usual). A table answer is replaced by
/// the table's wrong answer when [`is_wrong`] draws it so.
pub(crate) fn choose(
    seed: u64,
    model: &str,
    table: &MockAnswers,
    asked: &Asked,
    body: &[u8],
    kind: Kind,
) -> Option<Tokens> {
    let prompt = last_user_text(body, kind)?;
    let i = table.find(&prompt)?;
    let k = asked.0.get(i)?.fetch_add(1, Ordering::Relaxed);
    if is_wrong(seed, model, prompt.trim(), k, table.wrong) {
        Some(table.wrong_answer.clone())
    } else {
        table.answers.get(i).cloned()
    }
}

/// Whether the `k`-th asking (from 0) of `prompt` to `model` gets a wrong answer: a number in
/// [0, 1) drawn from a hash (FNV-1a, then SplitMix64's finaliser) of the seed, the model, the
/// prompt and `k` is below `wrong`. The same run asks the same questions the same number of
/// times, so it gets the same answers whatever the order the requests arrive in; across
/// prompts the draws behave as independent.
pub(crate) fn is_wrong(seed: u64, model: &str, prompt: &str, k: u64, wrong: f64) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(&seed.to_le_bytes());
    eat(model.as_bytes());
    eat(&[0xff]);
    eat(prompt.as_bytes());
    eat(&[0xff]);
    eat(&k.to_le_bytes());
    let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let u = (z >> 11) as f64 / (1u64 << 53) as f64;
    u < wrong
}

/// The text of a request's last user message: chat's last `user` message, the Responses
/// API's `input` string or its last `user` item, a completion's `prompt` string. A content
/// made of parts is the text of its text parts, joined with a line break.
pub(crate) fn last_user_text(body: &[u8], kind: Kind) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let last_user = |list: &Value| {
        list.as_array()?
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .and_then(|m| m.get("content"))
            .and_then(text_of)
    };
    match kind {
        Kind::Chat => last_user(v.get("messages")?),
        Kind::Responses => match v.get("input")? {
            Value::String(s) => Some(s.clone()),
            list => last_user(list),
        },
        Kind::Completion => v.get("prompt")?.as_str().map(str::to_string),
    }
}

/// A message content's text: a string, or the text of its parts.
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// Appends `s` as the inside of a JSON string (quotes, backslashes and control characters
/// escaped).
pub(crate) fn push_escaped(out: &mut BytesMut, s: &str) {
    let mut from = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[from..i]);
        if esc.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(esc);
        }
        from = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[from..]);
}

#[cfg(test)]
mod server_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_user_message_is_the_prompt() {
        let chat = br#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"First?"},{"role":"assistant","content":"x"},{"role":"user","content":[{"type":"text","text":"What is"},{"type":"image_url","image_url":{"url":"data:"}},{"type":"text","text":"2+2?"}]}]}"#;
        assert_eq!(
            last_user_text(chat, Kind::Chat).as_deref(),
            Some("What is\n2+2?")
        );
        let resp = br#"{"input":"Capital of France?","instructions":"Be brief."}"#;
        assert_eq!(
            last_user_text(resp, Kind::Responses).as_deref(),
            Some("Capital of France?")
        );
        let resp = br#"{"input":[{"role":"user","content":[{"type":"input_text","text":"Hi"}]}]}"#;
        assert_eq!(last_user_text(resp, Kind::Responses).as_deref(), Some("Hi"));
        let cmpl = br#"{"prompt":"Once"}"#;
        assert_eq!(
            last_user_text(cmpl, Kind::Completion).as_deref(),
            Some("Once")
        );
        assert_eq!(last_user_text(br#"{"messages":[]}"#, Kind::Chat), None);
    }

    #[test]
    fn the_wrong_draw_is_a_share_and_the_same_every_time() {
        let n = 20_000;
        let wrong = (0..n)
            .filter(|i| is_wrong(7, "m", &format!("prompt {i}"), 0, 0.2))
            .count();
        // Binomial(20000, 0.2): sd about 57; 5 sd either side.
        assert!((3715..=4285).contains(&wrong), "{wrong} of {n}");
        // Repeated askings of one prompt are fresh draws too.
        let again = (0..n).filter(|k| is_wrong(7, "m", "p", *k, 0.2)).count();
        assert!((3715..=4285).contains(&again), "{again} of {n}");
        assert_eq!(
            is_wrong(7, "m", "prompt 3", 0, 0.5),
            is_wrong(7, "m", "prompt 3", 0, 0.5)
        );
        assert!((0..100).all(|i| !is_wrong(i, "m", "p", 0, 0.0)));
        assert!((0..100).all(|i| is_wrong(i, "m", "p", 0, 1.0)));
    }

    #[test]
    fn a_script_gives_reasoning_words_then_the_answer_then_words() {
        let mut s = Script::new(Tokens::of("a b"), 2);
        let got: Vec<Option<String>> = (0..5).map(|_| s.next_token().map(str::to_string)).collect();
        assert_eq!(got, [None, None, Some("a".into()), Some(" b".into()), None]);
    }

    #[test]
    fn escaped_text_is_a_valid_json_string() {
        let s = "{\"a\": \"b\\c\"}\n\t\u{1}é";
        let mut out = BytesMut::new();
        push_escaped(&mut out, s);
        let quoted = format!("\"{}\"", std::str::from_utf8(&out).expect("utf8"));
        let back: String = serde_json::from_str(&quoted).expect("a JSON string");
        assert_eq!(back, s);
    }
}
