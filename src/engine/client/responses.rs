//! OpenAI's Responses API (`/responses`): typed stream events and the whole response object.
//!
//! A streamed answer is a sequence of SSE events whose JSON `type` names what it carries (the
//! `event:` line, when present, repeats it and is not needed). Only these are read:
//!
//! * `response.output_text.delta` and `response.refusal.delta`: answer text (`delta`);
//! * `response.reasoning_text.delta` and `response.reasoning_summary_text.delta`: reasoning
//!   text (`delta`), timed like a chat stream's `reasoning_content`;
//! * `response.function_call_arguments.delta`: tool-call arguments (`delta`), counted as answer;
//! * `response.created`: the response id;
//! * `response.completed`: the end of a whole answer (finish reason `stop`, or `tool_calls`
//!   when arguments were streamed), with `response.usage`;
//! * `response.incomplete`: the end of a cut answer (`incomplete_details.reason`:
//!   `max_output_tokens` becomes the finish reason `length`), with `response.usage`;
//! * `response.failed` and `error`: the server's error, with its message.
//!
//! Every other type (`response.in_progress`, `response.output_item.added`,
//! `response.content_part.added`, the `*.done` events, ...) is skipped: it costs no output
//! event and moves no clock. A `data: [DONE]` line (sent by some compatible servers) is
//! skipped too. A chat completion chunk where a typed event was expected is a
//! `malformed_chunk` saying so, as is an event without a `type`.
//!
//! The fields filled are those a chat stream fills ([`super::StreamState`]), so first-token,
//! first-answer and inter-token times, output events, finish reason, usage and offline token
//! counting read the same way for both.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use tokio::time::Instant;

use super::{apply_usage, truncate, wire, Clock, StreamState};
use crate::core::record::{Outcome, RequestRecord};

/// A scalar read as text (strings borrowed when unescaped, numbers rendered); `null`, objects
/// and arrays are skipped as `None`. Every string field is read this way so that an odd
/// value in a field this module does not need never fails an event.
struct Text<'de>(Option<Cow<'de, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor(std::marker::PhantomData))
    }
}

struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
    type Value = Text<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map)?;
        Ok(Text(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Text(None))
    }
}

impl Text<'_> {
    fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// The fields of one event (or of a whole response body) that the measurement needs.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    delta: Option<Text<'a>>,
    #[serde(borrow)]
    response: Option<RawResponse<'a>>,
    #[serde(borrow)]
    message: Option<Text<'a>>,
    #[serde(borrow)]
    error: Option<RawError<'a>>,
    /// Present in chat completion chunks and objects only.
    choices: Option<IgnoredAny>,
    #[serde(borrow)]
    object: Option<Text<'a>>,
}

/// The response object: in `response.created` / `.completed` / `.incomplete` / `.failed`
/// events, and as the whole body of a non-streamed answer.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RawResponse<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
    #[serde(borrow)]
    incomplete_details: Option<Incomplete<'a>>,
    #[serde(borrow)]
    error: Option<RawError<'a>>,
    usage: Option<RawUsage>,
    #[serde(borrow)]
    output: Option<Vec<Item<'a>>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Incomplete<'a> {
    #[serde(borrow)]
    reason: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawError<'a> {
    #[serde(borrow)]
    message: Option<Text<'a>>,
    #[serde(borrow)]
    code: Option<Text<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    input_tokens_details: Option<InputDetails>,
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InputDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OutputDetails {
    reasoning_tokens: Option<u64>,
}

impl From<&RawUsage> for wire::Usage {
    fn from(u: &RawUsage) -> Self {
        wire::Usage {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            reasoning_tokens: u
                .output_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens),
            cached_tokens: u
                .input_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens),
        }
    }
}

/// One `output[]` item of a whole response: a message, a reasoning item or a function call.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Item<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    content: Option<Vec<Part<'a>>>,
    #[serde(borrow)]
    summary: Option<Vec<Part<'a>>>,
    #[serde(borrow)]
    arguments: Option<Text<'a>>,
}

/// A content part: `output_text` (`text`), `refusal` (`refusal`), `reasoning_text` or
/// `summary_text` (`text`).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Part<'a> {
    #[serde(borrow)]
    text: Option<Text<'a>>,
    #[serde(borrow)]
    refusal: Option<Text<'a>>,
}

fn text<'a>(t: &'a Option<Text<'_>>) -> &'a str {
    t.as_ref().and_then(Text::as_str).unwrap_or("")
}

/// The finish reason of a `response.incomplete`: `length` for `max_output_tokens`, else the
/// server's reason as given.
fn incomplete_reason(r: &RawResponse<'_>) -> String {
    let reason = r
        .incomplete_details
        .as_ref()
        .map(|d| text(&d.reason))
        .unwrap_or("");
    match reason {
        "max_output_tokens" => "length".into(),
        "" => "incomplete".into(),
        other => other.into(),
    }
}

/// An error's message, or what is known of it.
fn error_message(e: Option<&RawError<'_>>, fallback: &str) -> String {
    let message = e.map(|e| text(&e.message)).unwrap_or("");
    let code = e.map(|e| text(&e.code)).unwrap_or("");
    match (message, code) {
        ("", "") => fallback.to_string(),
        ("", code) => code.to_string(),
        (m, _) => m.to_string(),
    }
}

/// What kind of output a delta event carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Output {
    Answer,
    Reasoning,
    Tool,
}

impl StreamState {
    /// One event of a Responses API stream (see the module docs).
    pub(super) fn on_typed_event(&mut self, _clock: &Clock, data: &[u8], t: Instant) {
        if self.done || self.error_event {
            return;
        }
        let Ok(data) = std::str::from_utf8(data) else {
            return self.malformed_event("invalid UTF-8 in event data".into());
        };
        let data = data.trim_ascii();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        if !data.starts_with('{') {
            // serde_json would read an array as a struct written positionally.
            let why = match serde_json::from_str::<IgnoredAny>(data) {
                Ok(_) => "payload is JSON but not an object".to_string(),
                Err(e) => format!("malformed JSON: {e}"),
            };
            return self.malformed_event(why);
        }
        let ev: RawEvent<'_> = match serde_json::from_str(data) {
            Ok(ev) => ev,
            Err(e) if e.is_data() => {
                return self.malformed_event(format!("unexpected shape: {e}"));
            }
            Err(e) => return self.malformed_event(format!("malformed JSON: {e}")),
        };
        let kind = ev.kind.as_ref().and_then(Text::as_str).unwrap_or("");
        let output = match kind {
            "response.output_text.delta" | "response.refusal.delta" => Output::Answer,
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                Output::Reasoning
            }
            "response.function_call_arguments.delta" => Output::Tool,
            "" => return self.untyped_event(&ev),
            _ => return self.lifecycle_event(kind, &ev),
        };
        let delta = text(&ev.delta);
        if delta.is_empty() {
            return;
        }
        self.text.push_str(delta);
        if output == Output::Tool {
            self.tool_args = true;
        }
        self.note_output(delta.len() as u32, output != Output::Reasoning, t);
    }

    /// An event that carries no output: the id, the end of the answer, or an error.
    #[cold]
    fn lifecycle_event(&mut self, kind: &str, ev: &RawEvent<'_>) {
        match kind {
            "response.created" | "response.in_progress" if self.id.is_none() => {
                self.id = ev
                    .response
                    .as_ref()
                    .and_then(|r| r.id.as_ref())
                    .and_then(|i| i.0.as_deref().map(String::from));
            }
            "response.completed" | "response.incomplete" => {
                let r = ev.response.as_ref();
                self.finish_reason = Some(if kind == "response.incomplete" {
                    r.map_or_else(|| "incomplete".into(), incomplete_reason)
                } else if self.tool_args {
                    "tool_calls".into()
                } else {
                    "stop".into()
                });
                if let Some(u) = r.and_then(|r| r.usage.as_ref()) {
                    self.usage = Some(u.into());
                }
                if self.id.is_none() {
                    self.id = r
                        .and_then(|r| r.id.as_ref())
                        .and_then(|i| i.as_str().map(String::from));
                }
                self.done = true;
            }
            "response.failed" => {
                let e = ev.response.as_ref().and_then(|r| r.error.as_ref());
                let why = error_message(e, "response.failed without an error");
                self.error_event(&why);
            }
            "error" => {
                let why = match (text(&ev.message), ev.error.as_ref()) {
                    ("", e) => error_message(e, "an error event without a message"),
                    (m, _) => m.to_string(),
                };
                self.error_event(&why);
            }
            _ => {}
        }
    }

    /// An event without a `type`: a chat-style error object is the server's error; a chat
    /// completion chunk or anything else is not a Responses API event.
    #[cold]
    fn untyped_event(&mut self, ev: &RawEvent<'_>) {
        if let Some(e) = &ev.error {
            return self.error_event(&error_message(Some(e), "(no message)"));
        }
        let object = ev.object.as_ref().and_then(Text::as_str).unwrap_or("");
        let what = if ev.choices.is_some() || object.starts_with("chat.completion") {
            "a chat completion chunk where a Responses API event was expected".to_string()
        } else if object == "text_completion" {
            "a completions chunk where a Responses API event was expected".to_string()
        } else {
            "an event without a `type` where a Responses API event was expected".to_string()
        };
        self.malformed_event(what);
    }

    #[cold]
    fn malformed_event(&mut self, why: String) {
        if !self.malformed {
            self.error = Some(format!("malformed event: {why}"));
        }
        self.malformed = true;
    }

    #[cold]
    fn error_event(&mut self, message: &str) {
        self.error_event = true;
        self.error = Some(format!("error event: {}", truncate(message, 200)));
    }

    /// How a Responses API stream ended.
    pub(super) fn typed_end_outcome(&mut self) -> Outcome {
        if self.error_event {
            Outcome::ErrorEvent
        } else if self.malformed {
            Outcome::MalformedChunk
        } else if self.done {
            Outcome::Ok
        } else {
            self.error =
                Some("the stream ended without response.completed or response.incomplete".into());
            Outcome::Incomplete
        }
    }
}

/// The reading of a Responses API stream, chosen once per request.
pub(super) struct TypedEvents;

impl super::Events for TypedEvents {
    #[inline]
    fn on_event(st: &mut StreamState, clock: &Clock, data: &[u8], t: Instant) {
        st.on_typed_event(clock, data, t);
    }

    fn end_outcome(st: &mut StreamState) -> Outcome {
        st.typed_end_outcome()
    }
}

/// Output of a whole response: answer, reasoning and tool-argument bytes, their text
/// appended to `text`.
#[derive(Default)]
struct Whole {
    answer: usize,
    reasoning: usize,
    tool: usize,
}

fn whole_output(items: &[Item<'_>], text: &mut String) -> Whole {
    let mut w = Whole::default();
    let mut add = |s: &str, n: &mut usize| {
        text.push_str(s);
        *n += s.len();
    };
    for item in items {
        let parts = item.content.iter().flatten();
        match item.kind.as_ref().and_then(Text::as_str).unwrap_or("") {
            "message" => {
                for p in parts {
                    add(text_of(&p.text), &mut w.answer);
                    add(text_of(&p.refusal), &mut w.answer);
                }
            }
            "reasoning" => {
                for p in parts.chain(item.summary.iter().flatten()) {
                    add(text_of(&p.text), &mut w.reasoning);
                }
            }
            "function_call" => add(text_of(&item.arguments), &mut w.tool),
            _ => {}
        }
    }
    w
}

fn text_of<'a>(t: &'a Option<Text<'_>>) -> &'a str {
    text(t)
}

/// Classifies a whole (non-streamed) `/responses` body: `ok` for a response object whose
/// status is `completed` or `incomplete` (`streaming_expected`: `not_sse`, as for chat), an
/// `error_event` for a failed response or an error object, and `malformed_chunk` saying what
/// came instead for anything else (a chat completion, not JSON). `t_us` is when the body
/// ended.
pub(super) fn whole_outcome(
    rec: &mut RequestRecord,
    body: &[u8],
    streaming_expected: bool,
    t_us: u64,
) {
    let malformed = |rec: &mut RequestRecord, why: String| {
        rec.outcome = if streaming_expected {
            Outcome::NotSse
        } else {
            Outcome::MalformedChunk
        };
        rec.error = Some(truncate(&why, 200));
    };
    let ev: RawEvent<'_> = match std::str::from_utf8(body)
        .map_err(|_| "the response body is not UTF-8".to_string())
        .and_then(|s| match s.trim_ascii_start().starts_with('{') {
            true => Ok(s),
            false => Err("the response body is not a Responses API object".to_string()),
        })
        .and_then(|s| {
            serde_json::from_str(s.trim_ascii())
                .map_err(|e| format!("the response body is not a Responses API object ({e})"))
        }) {
        Ok(ev) => ev,
        Err(why) => return malformed(rec, why),
    };
    if let Some(e) = &ev.error {
        rec.outcome = Outcome::ErrorEvent;
        rec.error = Some(truncate(&error_message(Some(e), "(no message)"), 200));
        return;
    }
    let object = ev.object.as_ref().and_then(Text::as_str).unwrap_or("");
    if ev.choices.is_some() {
        return malformed(
            rec,
            format!(
                "a chat completion ({}) where a Responses API object was expected",
                if object.is_empty() { "choices" } else { object }
            ),
        );
    }
    // The body is the response object itself: its fields sit at the top level.
    let r: RawResponse<'_> = match std::str::from_utf8(body)
        .ok()
        .and_then(|s| serde_json::from_str(s.trim_ascii()).ok())
    {
        Some(r) if object == "response" => r,
        _ => {
            return malformed(
                rec,
                format!(
                    "the response body is not a Responses API object (object {:?})",
                    object
                ),
            )
        }
    };
    let status = r.status.as_ref().and_then(Text::as_str).unwrap_or("");
    if status == "failed" {
        rec.outcome = Outcome::ErrorEvent;
        rec.error = Some(truncate(
            &error_message(r.error.as_ref(), "response status failed"),
            200,
        ));
        return;
    }
    let mut out = String::new();
    let w = whole_output(r.output.as_deref().unwrap_or(&[]), &mut out);
    if streaming_expected {
        rec.outcome = Outcome::NotSse;
        rec.error = Some("a streaming request got a non-SSE response".into());
    } else if status == "completed" || status == "incomplete" {
        rec.outcome = Outcome::Ok;
    } else {
        rec.outcome = Outcome::Incomplete;
        rec.error = Some(format!("the response's status is {status:?}"));
    }
    if w.answer + w.reasoning + w.tool > 0 {
        rec.t_first_us = Some(t_us);
        rec.t_last_us = Some(t_us);
        rec.output_events = 1;
        rec.first_event_bytes = (w.answer + w.reasoning + w.tool) as u32;
    }
    if w.answer + w.tool > 0 {
        rec.t_first_answer_us = Some(t_us);
    }
    rec.finish_reason = match status {
        "incomplete" => Some(incomplete_reason(&r)),
        "completed" if w.tool > 0 => Some("tool_calls".into()),
        "completed" => Some("stop".into()),
        _ => None,
    };
    rec.response_id = r.id.and_then(|i| i.0.map(Cow::into_owned));
    let usage = r.usage.as_ref().map(wire::Usage::from);
    apply_usage(rec, usage.as_ref(), out);
}

/// What a chat or completions client got instead of a chunk, when `data` is a Responses API
/// event or object: `None` otherwise. Only called for payloads that carried no output, so a
/// chat stream pays for it at most on its role and usage chunks.
#[cold]
pub(super) fn foreign_payload(data: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(data).ok()?;
    if !s.contains("\"response") {
        return None;
    }
    let ev: RawEvent<'_> = serde_json::from_str(s.trim_ascii()).ok()?;
    let kind = ev.kind.as_ref().and_then(Text::as_str).unwrap_or("");
    let object = ev.object.as_ref().and_then(Text::as_str).unwrap_or("");
    if kind.starts_with("response.") {
        Some(format!(
            "a Responses API event ({kind}) where a completion chunk was expected"
        ))
    } else if object == "response" {
        Some("a Responses API object where a completion was expected".into())
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
