//! Decoding of OpenAI-compatible response payloads into the few facts the benchmark needs.
//!
//! One decoder serves `/v1/chat/completions` chunks (`choices[].delta.content`,
//! `delta.reasoning_content`, `delta.reasoning`, `delta.tool_calls[].function.arguments`,
//! and the legacy `delta.function_call.arguments`), `/v1/completions` chunks
//! (`choices[].text`) and non-streamed responses (the same fields under `choices[].message`).
//! Byte counts are summed over all choices; `index` is never looked at.
//!
//! Leniency rules (chosen so that odd but harmless payloads never fail a request):
//!
//! * unknown fields are ignored, and `null` is accepted for every field we read (`content`,
//!   `delta`, `tool_calls`, `usage`, `choices`, `error`, ...);
//! * a JSON object with none of the expected keys (e.g. `{}`) decodes to an empty
//!   [`Delta`]; so does a stream event whose data is empty or only whitespace;
//! * `finish_reason` is the first non-null one among the choices;
//! * when one delta carries both `reasoning_content` and `reasoning` (some servers send the
//!   same text under both names) only the first non-empty of the two is counted;
//! * `id`, `code`, `type` and `message` accept strings or numbers (numbers are rendered).
//!
//! Strictness rules (clearly not an OpenAI-compatible payload):
//!
//! * data that is not UTF-8 is [`WireError::Utf8`];
//! * data that is not JSON, or a known field of the wrong JSON type (say `"content": 5`), is
//!   [`WireError::Json`] with serde_json's message;
//! * JSON that is not an object (`[1,2]`, `"x"`, `null`) is [`WireError::Shape`], and so is an
//!   `error` field that is neither an object, a string, `null` nor `false`.
//!
//! The hot path makes no allocation for a typical chunk: strings are appended straight from
//! serde_json's buffers into the caller's `text` (which only grows when its capacity runs
//! out), choices are folded as they are read instead of being collected, and only
//! `finish_reason`/`id`/error strings become owned `String`s. A chunk whose strings contain
//! JSON escapes (`\n`, `\"`, `\u00e9`) costs one allocation for serde_json's unescaping
//! buffer.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use thiserror::Error;

/// Token counts reported by the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// `usage.completion_tokens_details.reasoning_tokens`
    pub reasoning_tokens: Option<u64>,
    /// `usage.prompt_tokens_details.cached_tokens`
    pub cached_tokens: Option<u64>,
}

/// What one streamed chunk (or a whole non-streamed response) carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    /// UTF-8 bytes of answer text (`content` or completions `text`).
    pub answer_bytes: usize,
    /// UTF-8 bytes of reasoning text (`reasoning_content` or `reasoning`).
    pub reasoning_bytes: usize,
    /// UTF-8 bytes of tool-call arguments.
    pub tool_bytes: usize,
    /// Tool calls this payload names: the highest `index` + 1 of its `tool_calls` elements
    /// (an element without `index` counts by its place in the array); 0 without tool calls.
    pub tool_calls: u32,
    pub finish_reason: Option<String>,
    pub usage: Option<Usage>,
    /// The response id; filled only when asked for.
    pub id: Option<String>,
}

impl Delta {
    /// Any answer, reasoning or tool-argument bytes.
    pub fn carries_output(&self) -> bool {
        self.answer_bytes > 0 || self.reasoning_bytes > 0 || self.tool_bytes > 0
    }

    /// Answer or tool-argument bytes (reasoning does not count).
    pub fn carries_answer(&self) -> bool {
        self.answer_bytes > 0 || self.tool_bytes > 0
    }
}

/// An error object sent by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The message; `"(no message)"` when the server sent none.
    pub message: String,
    /// The `type` field.
    pub kind: Option<String>,
    /// The `code` field, a string or a rendered number.
    pub code: Option<String>,
}

/// One decoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// `data: [DONE]` (surrounding whitespace allowed).
    Done,
    Delta(Delta),
    Error(ApiError),
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WireError {
    #[error("invalid UTF-8 in event data")]
    Utf8,
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("unexpected shape: {0}")]
    Shape(&'static str),
}

const NO_MESSAGE: &str = "(no message)";

/// Decode one SSE data payload. Appends answer, reasoning and tool-argument text to `text`
/// (used later for offline token counting when the server sends no usage); nothing is
/// appended when the result is an error or not a [`StreamEvent::Delta`].
pub fn decode_stream_event(
    data: &[u8],
    want_id: bool,
    text: &mut String,
) -> Result<StreamEvent, WireError> {
    let data = std::str::from_utf8(data).map_err(|_| WireError::Utf8)?;
    let trimmed = data.trim_ascii();
    if trimmed == "[DONE]" {
        return Ok(StreamEvent::Done);
    }
    if trimmed.is_empty() {
        return Ok(StreamEvent::Delta(Delta::default()));
    }
    // The plain common shape first (about a fifth of the instructions); anything else, and
    // every error, goes to the full decoder below, which defines the rules.
    let start = text.len();
    if let Some(d) = super::scan::chunk(trimmed, want_id, text) {
        return Ok(StreamEvent::Delta(d));
    }
    text.truncate(start);
    decode_object(trimmed, want_id, text)
}

/// Decode a non-streamed response body; the [`Delta`] holds the whole output (and the id).
/// An error body yields `Ok(StreamEvent::Error)`. Appends the output text to `text`.
pub fn decode_full_response(body: &[u8], text: &mut String) -> Result<StreamEvent, WireError> {
    let body = std::str::from_utf8(body).map_err(|_| WireError::Utf8)?;
    decode_object(body.trim_ascii(), true, text)
}

fn json_error(err: serde_json::Error) -> WireError {
    WireError::Json(err.to_string())
}

/// The full decoder: every rule of the module docs. [`super::scan`] must agree with it.
pub(super) fn decode_object(
    json: &str,
    want_id: bool,
    text: &mut String,
) -> Result<StreamEvent, WireError> {
    if !json.starts_with('{') {
        // serde_json would read a JSON array as a struct written positionally; reject early.
        return match serde_json::from_str::<IgnoredAny>(json) {
            Ok(_) => Err(WireError::Shape("payload is JSON but not an object")),
            Err(err) => Err(json_error(err)),
        };
    }
    let start = text.len();
    let result = parse_top(json, want_id, text);
    if !matches!(result, Ok(StreamEvent::Delta(_))) {
        text.truncate(start);
    }
    result
}

fn parse_top(json: &str, want_id: bool, text: &mut String) -> Result<StreamEvent, WireError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let raw = TopSeed { text, want_id }
        .deserialize(&mut de)
        .map_err(json_error)?;
    de.end().map_err(json_error)?;

    let owned = |s: Option<Cow<'_, str>>| s.map(Cow::into_owned);
    match raw.error {
        ErrorField::Object {
            message,
            kind,
            code,
        } => Ok(StreamEvent::Error(ApiError {
            message: owned(message).unwrap_or_else(|| NO_MESSAGE.to_owned()),
            kind: owned(kind),
            code: owned(code),
        })),
        ErrorField::Text(message) => Ok(StreamEvent::Error(ApiError {
            message: message.into_owned(),
            kind: None,
            code: None,
        })),
        ErrorField::Invalid => Err(WireError::Shape(
            "`error` is neither an object, a string nor null",
        )),
        ErrorField::Absent if raw.object.as_deref() == Some("error") => {
            Ok(StreamEvent::Error(ApiError {
                message: owned(raw.message).unwrap_or_else(|| NO_MESSAGE.to_owned()),
                kind: owned(raw.kind),
                code: owned(raw.code),
            }))
        }
        ErrorField::Absent => Ok(StreamEvent::Delta(Delta {
            answer_bytes: raw.acc.answer,
            reasoning_bytes: raw.acc.reasoning,
            tool_bytes: raw.acc.tool,
            tool_calls: raw.acc.tool_calls,
            finish_reason: owned(raw.acc.finish_reason),
            usage: raw.usage.map(Usage::from),
            id: owned(raw.id),
        })),
    }
}

// ---------------------------------------------------------------------------------------------
// Wire model. Everything below is private; the visitors fold the payload into `Raw` while
// serde_json reads it.

/// Running totals over the choices of one payload.
#[derive(Default)]
struct Acc<'de> {
    answer: usize,
    reasoning: usize,
    tool: usize,
    /// Highest tool-call index + 1.
    tool_calls: u32,
    finish_reason: Option<Cow<'de, str>>,
}

/// The top-level facts of one payload.
#[derive(Default)]
struct Raw<'de> {
    acc: Acc<'de>,
    usage: Option<UsageWire>,
    id: Option<Cow<'de, str>>,
    error: ErrorField<'de>,
    /// Top-level `object`, `message`, `type`, `code`: a vLLM-style error when `object` is
    /// `"error"`.
    object: Option<Cow<'de, str>>,
    message: Option<Cow<'de, str>>,
    kind: Option<Cow<'de, str>>,
    code: Option<Cow<'de, str>>,
}

#[derive(Deserialize)]
struct UsageWire {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    completion_tokens_details: Option<CompletionDetails>,
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

impl From<UsageWire> for Usage {
    fn from(wire: UsageWire) -> Self {
        Usage {
            prompt_tokens: wire.prompt_tokens,
            completion_tokens: wire.completion_tokens,
            reasoning_tokens: wire
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens),
            cached_tokens: wire.prompt_tokens_details.and_then(|d| d.cached_tokens),
        }
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum TopKey {
    Id,
    Choices,
    Usage,
    Error,
    Object,
    Message,
    Type,
    Code,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ChoiceKey {
    Text,
    Delta,
    Message,
    FinishReason,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum DeltaKey {
    Content,
    ReasoningContent,
    Reasoning,
    ToolCalls,
    FunctionCall,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ToolCallKey {
    Function,
    Index,
    Id,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum FunctionKey {
    Arguments,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ErrorKey {
    Message,
    Type,
    Code,
    #[serde(other)]
    Other,
}

/// A scalar rendered as text: strings (borrowed when unescaped), numbers and booleans;
/// `null`, objects and arrays become `None`.
struct Loose<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for Loose<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose(Some(Cow::Borrowed(v))))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose(Some(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose(Some(Cow::Owned(v))))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose(Some(Cow::Owned(v.to_string()))))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose(None))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map)?;
        Ok(Loose(None))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(Loose(None))
    }
}

/// The top-level `error` field.
#[derive(Default)]
enum ErrorField<'de> {
    /// Missing, `null` or `false`.
    #[default]
    Absent,
    Object {
        message: Option<Cow<'de, str>>,
        kind: Option<Cow<'de, str>>,
        code: Option<Cow<'de, str>>,
    },
    Text(Cow<'de, str>),
    /// A number, an array or `true`.
    Invalid,
}

impl<'de> Deserialize<'de> for ErrorField<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ErrorFieldVisitor)
    }
}

struct ErrorFieldVisitor;

impl<'de> Visitor<'de> for ErrorFieldVisitor {
    type Value = ErrorField<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an error object or string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ErrorField::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(ErrorField::Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(ErrorField::Text(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ErrorField::Absent)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ErrorField::Absent)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(if v {
            ErrorField::Invalid
        } else {
            ErrorField::Absent
        })
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(ErrorField::Invalid)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(ErrorField::Invalid)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(ErrorField::Invalid)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq)?;
        Ok(ErrorField::Invalid)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut message, mut kind, mut code) = (None, None, None);
        while let Some(key) = map.next_key::<ErrorKey>()? {
            match key {
                ErrorKey::Message => message = map.next_value::<Loose<'de>>()?.0,
                ErrorKey::Type => kind = map.next_value::<Loose<'de>>()?.0,
                ErrorKey::Code => code = map.next_value::<Loose<'de>>()?.0,
                ErrorKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ErrorField::Object {
            message,
            kind,
            code,
        })
    }
}

/// Appends a string (or nothing for `null`) to the text and adds its length to a counter.
struct AppendStr<'t> {
    text: &'t mut String,
    count: &'t mut usize,
}

impl<'de> DeserializeSeed<'de> for AppendStr<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for AppendStr<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.text.push_str(v);
        *self.count += v.len();
        Ok(())
    }
}

/// The whole payload.
struct TopSeed<'t> {
    text: &'t mut String,
    want_id: bool,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_> {
    type Value = Raw<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Raw<'de>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_> {
    type Value = Raw<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw<'de>, A::Error> {
        let TopSeed { text, want_id } = self;
        let mut raw = Raw::default();
        while let Some(key) = map.next_key::<TopKey>()? {
            match key {
                TopKey::Id if want_id => raw.id = map.next_value::<Loose<'de>>()?.0,
                TopKey::Choices => map.next_value_seed(ChoicesSeed {
                    text: &mut *text,
                    acc: &mut raw.acc,
                })?,
                TopKey::Usage => raw.usage = map.next_value()?,
                TopKey::Error => raw.error = map.next_value()?,
                TopKey::Object => raw.object = map.next_value::<Loose<'de>>()?.0,
                TopKey::Message => raw.message = map.next_value::<Loose<'de>>()?.0,
                TopKey::Type => raw.kind = map.next_value::<Loose<'de>>()?.0,
                TopKey::Code => raw.code = map.next_value::<Loose<'de>>()?.0,
                TopKey::Id | TopKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(raw)
    }
}

/// `choices`: an array (or `null`) folded into the running totals.
struct ChoicesSeed<'t, 'de> {
    text: &'t mut String,
    acc: &'t mut Acc<'de>,
}

impl<'de> DeserializeSeed<'de> for ChoicesSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ChoicesSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of choices or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ChoicesSeed { text, acc } = self;
        while seq
            .next_element_seed(ChoiceSeed {
                text: &mut *text,
                acc: &mut *acc,
            })?
            .is_some()
        {}
        Ok(())
    }
}

/// One choice (or `null`).
struct ChoiceSeed<'t, 'de> {
    text: &'t mut String,
    acc: &'t mut Acc<'de>,
}

impl<'de> DeserializeSeed<'de> for ChoiceSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ChoiceSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a choice object or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let ChoiceSeed { text, acc } = self;
        while let Some(key) = map.next_key::<ChoiceKey>()? {
            match key {
                ChoiceKey::Text => map.next_value_seed(AppendStr {
                    text: &mut *text,
                    count: &mut acc.answer,
                })?,
                ChoiceKey::Delta | ChoiceKey::Message => map.next_value_seed(DeltaSeed {
                    text: &mut *text,
                    acc: &mut *acc,
                })?,
                ChoiceKey::FinishReason => {
                    let reason = map.next_value::<Loose<'de>>()?.0;
                    if acc.finish_reason.is_none() {
                        acc.finish_reason = reason;
                    }
                }
                ChoiceKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A chat `delta` or `message` (or `null`).
struct DeltaSeed<'t, 'de> {
    text: &'t mut String,
    acc: &'t mut Acc<'de>,
}

impl<'de> DeserializeSeed<'de> for DeltaSeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DeltaSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a delta/message object or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let DeltaSeed { text, acc } = self;
        // Bytes under each reasoning name; once one is non-empty the other is skipped.
        let (mut reasoning_content, mut reasoning) = (0usize, 0usize);
        while let Some(key) = map.next_key::<DeltaKey>()? {
            match key {
                DeltaKey::Content => map.next_value_seed(AppendStr {
                    text: &mut *text,
                    count: &mut acc.answer,
                })?,
                DeltaKey::ReasoningContent if reasoning == 0 => map.next_value_seed(AppendStr {
                    text: &mut *text,
                    count: &mut reasoning_content,
                })?,
                DeltaKey::Reasoning if reasoning_content == 0 => {
                    map.next_value_seed(AppendStr {
                        text: &mut *text,
                        count: &mut reasoning,
                    })?
                }
                DeltaKey::ToolCalls => map.next_value_seed(ToolCallsSeed {
                    text: &mut *text,
                    count: &mut acc.tool,
                    calls: &mut acc.tool_calls,
                })?,
                DeltaKey::FunctionCall => map.next_value_seed(FunctionSeed {
                    text: &mut *text,
                    count: &mut acc.tool,
                })?,
                DeltaKey::ReasoningContent | DeltaKey::Reasoning | DeltaKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        acc.reasoning += reasoning_content + reasoning;
        Ok(())
    }
}

/// `tool_calls`: an array (or `null`) of tool calls.
struct ToolCallsSeed<'t> {
    text: &'t mut String,
    count: &'t mut usize,
    /// Highest call index + 1 seen so far.
    calls: &'t mut u32,
}

impl<'de> DeserializeSeed<'de> for ToolCallsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ToolCallsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of tool calls or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let ToolCallsSeed { text, count, calls } = self;
        let mut place = 0u32;
        while let Some(call) = seq.next_element_seed(ToolCallSeed {
            text: &mut *text,
            count: &mut *count,
        })? {
            // An element names a call by its `index`, or by its place when it has an `id`
            // and no index (a whole response's `message.tool_calls`).
            if let Some(index) = call {
                let i = index.unwrap_or(u64::from(place));
                let end = u32::try_from(i.saturating_add(1)).unwrap_or(u32::MAX);
                *calls = (*calls).max(end);
            }
            place = place.saturating_add(1);
        }
        Ok(())
    }
}

/// One tool call (or `null`): `Some(Some(index))` when it carries a whole-number `index`,
/// `Some(None)` when it carries only an `id` string, `None` otherwise (`null`, or neither).
struct ToolCallSeed<'t> {
    text: &'t mut String,
    count: &'t mut usize,
}

impl<'de> DeserializeSeed<'de> for ToolCallSeed<'_> {
    type Value = Option<Option<u64>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ToolCallSeed<'_> {
    type Value = Option<Option<u64>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tool call object or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let ToolCallSeed { text, count } = self;
        let (mut index, mut id) = (None, false);
        while let Some(key) = map.next_key::<ToolCallKey>()? {
            match key {
                ToolCallKey::Function => map.next_value_seed(FunctionSeed {
                    text: &mut *text,
                    count: &mut *count,
                })?,
                // Anything but a whole number leaves the call counted by its place.
                ToolCallKey::Index => index = map.next_value::<serde_json::Value>()?.as_u64(),
                ToolCallKey::Id => id = map.next_value::<serde_json::Value>()?.is_string(),
                ToolCallKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(match (index, id) {
            (Some(i), _) => Some(Some(i)),
            (None, true) => Some(None),
            (None, false) => None,
        })
    }
}

/// A `function` (or legacy `function_call`) object (or `null`): counts `arguments`.
struct FunctionSeed<'t> {
    text: &'t mut String,
    count: &'t mut usize,
}

impl<'de> DeserializeSeed<'de> for FunctionSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FunctionSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a function object or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let FunctionSeed { text, count } = self;
        while let Some(key) = map.next_key::<FunctionKey>()? {
            match key {
                FunctionKey::Arguments => map.next_value_seed(AppendStr {
                    text: &mut *text,
                    count: &mut *count,
                })?,
                FunctionKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::client::sse::SseParser;

    fn decode(data: &str) -> (Result<StreamEvent, WireError>, String) {
        let mut text = String::new();
        let result = decode_stream_event(data.as_bytes(), false, &mut text);
        (result, text)
    }

    fn delta(data: &str) -> (Delta, String) {
        match decode(data) {
            (Ok(StreamEvent::Delta(d)), text) => (d, text),
            other => panic!("expected a delta from {data}, got {other:?}"),
        }
    }

    fn api_error(data: &str) -> ApiError {
        match decode(data) {
            (Ok(StreamEvent::Error(e)), text) => {
                assert_eq!(text, "", "errors append no text");
                e
            }
            other => panic!("expected an error from {data}, got {other:?}"),
        }
    }

    #[test]
    fn role_only_first_chunk_carries_nothing() {
        let (d, text) = delta(
            r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}"#,
        );
        assert_eq!(d, Delta::default());
        assert!(!d.carries_output() && !d.carries_answer());
        assert_eq!(text, "");
        let (d, _) = delta(r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#);
        assert!(!d.carries_output());
    }

    #[test]
    fn content_chunk() {
        let (d, text) = delta(
            r#"{"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"h\u00e9\"\n"},"logprobs":null,"finish_reason":null}]}"#,
        );
        assert_eq!(d.answer_bytes, 5);
        assert_eq!(text, "h\u{e9}\"\n");
        assert!(d.carries_output() && d.carries_answer());
        assert_eq!(d.id, None, "id only when asked for");
    }

    #[test]
    fn id_only_when_wanted() {
        let data = br#"{"id":"chatcmpl-1","choices":[]}"#;
        let mut text = String::new();
        let Ok(StreamEvent::Delta(d)) = decode_stream_event(data, true, &mut text) else {
            panic!("not a delta");
        };
        assert_eq!(d.id.as_deref(), Some("chatcmpl-1"));
        let Ok(StreamEvent::Delta(d)) = decode_stream_event(data, false, &mut text) else {
            panic!("not a delta");
        };
        assert_eq!(d.id, None);
    }

    #[test]
    fn usage_only_chunk_with_empty_choices() {
        let (d, _) = delta(
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":36,"completion_tokens":6,"total_tokens":42,"prompt_tokens_details":{"cached_tokens":35},"completion_tokens_details":{"reasoning_tokens":4}}}"#,
        );
        assert!(!d.carries_output());
        assert_eq!(
            d.usage,
            Some(Usage {
                prompt_tokens: Some(36),
                completion_tokens: Some(6),
                reasoning_tokens: Some(4),
                cached_tokens: Some(35),
            })
        );
        let (d, _) = delta(
            r#"{"usage":{"prompt_tokens":1,"completion_tokens":null,"prompt_tokens_details":null,"completion_tokens_details":{}}}"#,
        );
        assert_eq!(
            d.usage,
            Some(Usage {
                prompt_tokens: Some(1),
                ..Usage::default()
            })
        );
    }

    #[test]
    fn reasoning_deltas() {
        let (d, text) =
            delta(r#"{"choices":[{"delta":{"reasoning_content":"think","content":null}}]}"#);
        assert_eq!((d.reasoning_bytes, d.answer_bytes), (5, 0));
        assert!(d.carries_output() && !d.carries_answer());
        assert_eq!(text, "think");
        let (d, text) = delta(r#"{"choices":[{"delta":{"reasoning":"hmm.."}}]}"#);
        assert_eq!(d.reasoning_bytes, 5);
        assert_eq!(text, "hmm..");
        // The same text under both names counts once, whichever comes first.
        let (d, text) =
            delta(r#"{"choices":[{"delta":{"reasoning":"ab","reasoning_content":"ab"}}]}"#);
        assert_eq!((d.reasoning_bytes, text.as_str()), (2, "ab"));
        let (d, text) =
            delta(r#"{"choices":[{"delta":{"reasoning_content":"ab","reasoning":"ab"}}]}"#);
        assert_eq!((d.reasoning_bytes, text.as_str()), (2, "ab"));
        // An empty or null one does not hide the other.
        let (d, _) =
            delta(r#"{"choices":[{"delta":{"reasoning_content":null,"reasoning":"xyz"}}]}"#);
        assert_eq!(d.reasoning_bytes, 3);
        let (d, _) = delta(r#"{"choices":[{"delta":{"reasoning":"","reasoning_content":"xyz"}}]}"#);
        assert_eq!(d.reasoning_bytes, 3);
    }

    #[test]
    fn tool_call_argument_deltas() {
        let (d, text) = delta(
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
        );
        assert!(!d.carries_output(), "the function name is not output");
        assert_eq!(text, "");
        let (d, text) = delta(
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}},{"index":1,"function":{"arguments":"{}"}}]}}]}"#,
        );
        assert_eq!(d.tool_bytes, 10);
        assert_eq!(text, "{\"city\":{}");
        assert!(d.carries_answer());
        let (d, _) = delta(r#"{"choices":[{"delta":{"function_call":{"arguments":"{}"}}}]}"#);
        assert_eq!(d.tool_bytes, 2);
        let (d, _) = delta(
            r#"{"choices":[{"delta":{"tool_calls":[null,{"function":null},{"function":{"arguments":null}}]}}]}"#,
        );
        assert_eq!(d, Delta::default());
    }

    #[test]
    fn tool_calls_are_counted_by_index_or_by_place_with_an_id() {
        let count = |json: &str| delta(json).0.tool_calls;
        // A stream names each call by its index; a later delta of the same call adds none.
        assert_eq!(
            count(
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}}]}}]}"#
            ),
            1
        );
        assert_eq!(
            count(
                r#"{"choices":[{"delta":{"tool_calls":[{"index":2,"function":{"arguments":"{}"}}]}}]}"#
            ),
            3
        );
        // A whole response lists calls with ids and no index.
        assert_eq!(
            count(
                r#"{"choices":[{"message":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}},{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#
            ),
            2
        );
        // An index that is not a whole number falls back to the place; neither index nor
        // id counts nothing.
        assert_eq!(
            count(
                r#"{"choices":[{"delta":{"tool_calls":[{"index":"x","id":"a"},{"function":{"arguments":"{}"}}]}}]}"#
            ),
            1
        );
        assert_eq!(count(r#"{"choices":[{"delta":{"content":"hi"}}]}"#), 0);
    }

    #[test]
    fn completions_text_chunks_sum_over_choices() {
        let (d, text) = delta(
            r#"{"id":"cmpl-1","object":"text_completion","choices":[{"text":"ab","index":0,"logprobs":null,"finish_reason":null},{"text":"cde","index":0,"finish_reason":null}]}"#,
        );
        assert_eq!(d.answer_bytes, 5);
        assert_eq!(text, "abcde");
        let (d, _) = delta(r#"{"choices":[{"text":"","index":1,"finish_reason":"stop"}]}"#);
        assert!(!d.carries_output());
        assert_eq!(d.finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn finish_chunk_with_empty_delta() {
        let (d, _) = delta(r#"{"choices":[{"finish_reason":"length","index":0,"delta":{}}]}"#);
        assert!(!d.carries_output());
        assert_eq!(d.finish_reason.as_deref(), Some("length"));
        // First non-null reason among the choices wins.
        let (d, _) = delta(
            r#"{"choices":[{"finish_reason":null,"delta":{}},{"finish_reason":"tool_calls"},{"finish_reason":"stop"}]}"#,
        );
        assert_eq!(d.finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn done_marker() {
        for data in ["[DONE]", " [DONE]\n", "\t[DONE] \r\n"] {
            assert_eq!(decode(data).0, Ok(StreamEvent::Done));
        }
        assert!(matches!(decode("[DONE] x").0, Err(WireError::Json(_))));
        assert!(matches!(decode("[done]").0, Err(WireError::Json(_))));
    }

    #[test]
    fn error_object_shape() {
        let e = api_error(
            r#"{"error":{"message":"Rate limit","type":"rate_limit_error","param":null,"code":"rate_limited"}}"#,
        );
        assert_eq!(
            e,
            ApiError {
                message: "Rate limit".into(),
                kind: Some("rate_limit_error".into()),
                code: Some("rate_limited".into()),
            }
        );
        let e = api_error(r#"{"error":{"message":"bad \"x\"","code":429,"type":null}}"#);
        assert_eq!(e.message, "bad \"x\"");
        assert_eq!((e.kind, e.code.as_deref()), (None, Some("429")));
        let e = api_error(r#"{"error":{}}"#);
        assert_eq!(e.message, NO_MESSAGE);
        // An error object wins over choices, and their text is not kept.
        let e = api_error(r#"{"choices":[{"text":"abc"}],"error":{"message":"m"}}"#);
        assert_eq!(e.message, "m");
    }

    #[test]
    fn error_string_shape() {
        let e = api_error(r#"{"error":"model overloaded"}"#);
        assert_eq!(
            e,
            ApiError {
                message: "model overloaded".into(),
                kind: None,
                code: None,
            }
        );
    }

    #[test]
    fn vllm_error_shape() {
        let e = api_error(
            r#"{"object":"error","message":"This model's maximum context length is 4096 tokens.","type":"BadRequestError","param":null,"code":400}"#,
        );
        assert_eq!(
            e,
            ApiError {
                message: "This model's maximum context length is 4096 tokens.".into(),
                kind: Some("BadRequestError".into()),
                code: Some("400".into()),
            }
        );
    }

    #[test]
    fn null_or_false_error_is_not_an_error() {
        let (d, _) = delta(r#"{"error":null,"choices":[{"text":"a"}]}"#);
        assert_eq!(d.answer_bytes, 1);
        let (d, _) = delta(r#"{"error":false}"#);
        assert_eq!(d, Delta::default());
        assert_eq!(
            decode(r#"{"error":42}"#).0,
            Err(WireError::Shape(
                "`error` is neither an object, a string nor null"
            ))
        );
    }

    #[test]
    fn malformed_json() {
        for data in [
            "{",
            "{\"choices\":[}",
            "not json",
            "{\"a\":1} trailing",
            "{\"choices\":[{\"text\":\"a\"}]",
        ] {
            let (result, text) = decode(data);
            assert!(
                matches!(result, Err(WireError::Json(_))),
                "{data}: {result:?}"
            );
            assert_eq!(text, "", "{data}: no partial text is left behind");
        }
        // Known fields with the wrong type.
        for data in [
            r#"{"choices":[{"delta":{"content":5}}]}"#,
            r#"{"choices":{"text":"a"}}"#,
            r#"{"usage":{"prompt_tokens":-1}}"#,
        ] {
            assert!(matches!(decode(data).0, Err(WireError::Json(_))), "{data}");
        }
        let (result, _) = decode("{");
        let message = result.expect_err("malformed").to_string();
        assert!(message.starts_with("malformed JSON: EOF"), "{message}");
    }

    #[test]
    fn invalid_utf8() {
        let mut text = String::new();
        for data in [
            &b"{\"choices\":[{\"text\":\"\xff\"}]}"[..],
            b"{\"choices\":[{\"text\":\"\xe2\x82\"}]}",
            b"\xc3",
        ] {
            assert_eq!(
                decode_stream_event(data, false, &mut text),
                Err(WireError::Utf8)
            );
            assert_eq!(decode_full_response(data, &mut text), Err(WireError::Utf8));
        }
        assert_eq!(text, "");
    }

    #[test]
    fn explicit_nulls_everywhere() {
        let (d, text) = delta(
            r#"{"id":null,"object":null,"choices":[{"index":0,"delta":{"role":null,"content":null,"reasoning_content":null,"reasoning":null,"tool_calls":null,"function_call":null},"finish_reason":null,"logprobs":null,"stop_reason":null},null],"usage":null,"error":null,"message":null,"type":null,"code":null,"service_tier":null}"#,
        );
        assert_eq!(d, Delta::default());
        assert_eq!(text, "");
        for data in [
            r#"{"choices":null}"#,
            r#"{"choices":[{"delta":null}]}"#,
            r#"{"choices":[{"message":null,"text":null}]}"#,
            r#"{"choices":[{"delta":{}}]}"#,
            r#"{"choices":[]}"#,
        ] {
            assert_eq!(delta(data).0, Delta::default(), "{data}");
        }
    }

    #[test]
    fn unknown_keys_and_non_objects() {
        // An object without any expected key carries nothing.
        assert_eq!(delta("{}").0, Delta::default());
        assert_eq!(
            delta(r#"{"type":"ping","x":{"choices":[{"text":"no"}]},"y":[1,{"a":null}]}"#).0,
            Delta::default()
        );
        // Blank data in a stream carries nothing either.
        assert_eq!(delta(" \r\n").0, Delta::default());
        // JSON that is not an object is rejected as a shape error.
        for data in [
            "[1,2]",
            "\"x\"",
            "null",
            "42",
            "[\"c\", [{\"text\":\"a\"}]]",
        ] {
            assert_eq!(
                decode(data).0,
                Err(WireError::Shape("payload is JSON but not an object")),
                "{data}"
            );
        }
        // Odd scalar types in lenient fields are rendered.
        let mut text = String::new();
        let result = decode_stream_event(br#"{"id":17,"choices":[]}"#, true, &mut text);
        let Ok(StreamEvent::Delta(d)) = result else {
            panic!("not a delta: {result:?}");
        };
        assert_eq!(d.id.as_deref(), Some("17"));
    }

    #[test]
    fn keys_with_escapes_are_recognised() {
        let (d, text) = delta(r#"{"ch\u006fices":[{"t\u0065xt":"a\u00e9"}]}"#);
        assert_eq!(d.answer_bytes, 3);
        assert_eq!(text, "a\u{e9}");
    }

    #[test]
    fn full_responses() {
        let mut text = String::new();
        let body = br#"{"id":"chatcmpl-9","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","reasoning_content":"why","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":9}}"#;
        let result = decode_full_response(body, &mut text);
        assert_eq!(
            result,
            Ok(StreamEvent::Delta(Delta {
                answer_bytes: 2,
                reasoning_bytes: 3,
                tool_bytes: 7,
                tool_calls: 1,
                finish_reason: Some("tool_calls".into()),
                usage: Some(Usage {
                    prompt_tokens: Some(3),
                    completion_tokens: Some(9),
                    ..Usage::default()
                }),
                id: Some("chatcmpl-9".into()),
            }))
        );
        assert_eq!(text, "Hiwhy{\"a\":1}");
        let mut text = String::new();
        let result = decode_full_response(
            br#"{"object":"error","message":"nope","type":"NotFoundError","code":404}"#,
            &mut text,
        );
        assert!(
            matches!(result, Ok(StreamEvent::Error(ApiError { ref message, .. })) if message == "nope")
        );
        assert!(matches!(
            decode_full_response(b"Internal Server Error", &mut text),
            Err(WireError::Json(_))
        ));
        assert!(matches!(
            decode_full_response(b"", &mut text),
            Err(WireError::Json(_))
        ));
        assert_eq!(text, "");
    }

    // ---- fixtures -------------------------------------------------------------------------

    fn fixture(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sse/").to_owned() + name;
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    /// What a whole captured stream amounts to, decoded the way the client will.
    #[derive(Debug, Default)]
    struct Summary {
        events: usize,
        output_events: usize,
        answer_events: usize,
        answer_bytes: usize,
        finish_reason: Option<String>,
        usage: Option<Usage>,
        id: Option<String>,
        done: bool,
        text: String,
    }

    fn summarize(name: &str) -> Summary {
        let bytes = fixture(name);
        let mut parser = SseParser::new(1 << 20);
        let mut payloads = Vec::new();
        parser
            .feed(&bytes, |e| {
                assert_eq!(e.event, None);
                payloads.push(e.data.to_vec());
            })
            .expect("fixture events are small");
        assert!(!parser.finish(|_| panic!("fixtures end with a blank line")));
        let mut s = Summary::default();
        for data in payloads {
            s.events += 1;
            assert!(!s.done, "{name}: nothing may follow [DONE]");
            let want_id = s.id.is_none();
            match decode_stream_event(&data, want_id, &mut s.text) {
                Ok(StreamEvent::Done) => s.done = true,
                Ok(StreamEvent::Delta(d)) => {
                    s.output_events += usize::from(d.carries_output());
                    s.answer_events += usize::from(d.carries_answer());
                    s.answer_bytes += d.answer_bytes;
                    assert_eq!(d.reasoning_bytes + d.tool_bytes, 0, "{name}");
                    if let Some(reason) = d.finish_reason {
                        assert_eq!(s.finish_reason, None, "{name}: one finish_reason");
                        s.finish_reason = Some(reason);
                    }
                    if let Some(usage) = d.usage {
                        assert_eq!(s.usage, None, "{name}: one usage block");
                        s.usage = Some(usage);
                    }
                    if want_id {
                        s.id = d.id;
                    } else {
                        assert_eq!(d.id, None);
                    }
                }
                other => panic!("{name}: unexpected {other:?}"),
            }
        }
        assert!(s.done, "{name}: ends with [DONE]");
        assert_eq!(s.answer_bytes, s.text.len());
        s
    }

    fn usage(prompt: u64, completion: u64, cached: Option<u64>) -> Option<Usage> {
        Some(Usage {
            prompt_tokens: Some(prompt),
            completion_tokens: Some(completion),
            reasoning_tokens: None,
            cached_tokens: cached,
        })
    }

    #[test]
    fn fixture_llama_chat_stream() {
        let s = summarize("llama-chat-stream.sse");
        assert_eq!(s.events, 10);
        assert_eq!((s.output_events, s.answer_events), (6, 6));
        assert_eq!(s.text, "Hello, welcome to my little");
        assert_eq!(s.finish_reason.as_deref(), Some("length"));
        assert_eq!(s.usage, usage(36, 6, Some(35)));
        assert_eq!(
            s.id.as_deref(),
            Some("chatcmpl-kmksw6HcSJfMWEcm98x5wUNRApL7O0Bp")
        );
    }

    #[test]
    fn fixture_llama_chat_stream_without_usage() {
        let s = summarize("llama-chat-stream-nousage.sse");
        assert_eq!(s.events, 5);
        assert_eq!(s.output_events, 2);
        assert_eq!(s.text, "Hello!");
        assert_eq!(s.finish_reason.as_deref(), Some("length"));
        assert_eq!(s.usage, None);
        assert_eq!(
            s.id.as_deref(),
            Some("chatcmpl-SrBSQYeuj0VmpXcfUYR3WHJZQJsqoGJT")
        );
    }

    #[test]
    fn fixture_llama_completions_stream() {
        let s = summarize("llama-completions-stream.sse");
        assert_eq!(s.events, 5);
        assert_eq!(s.output_events, 3);
        assert_eq!(s.text, ", the city");
        assert_eq!(s.finish_reason.as_deref(), Some("length"));
        assert_eq!(s.usage, usage(4, 3, Some(3)));
        assert_eq!(
            s.id.as_deref(),
            Some("chatcmpl-UTGugC4VCiET8OSb59PH7LuHI9Uly1Jt")
        );
    }

    #[test]
    fn fixture_xpyd_sim_chat_stream() {
        let s = summarize("xpyd-sim-chat-stream.sse");
        assert_eq!(s.events, 6);
        assert_eq!(
            s.output_events, 2,
            "the first chunk's empty content is not output"
        );
        assert_eq!(s.text, "The quick");
        assert_eq!(s.finish_reason.as_deref(), Some("length"));
        assert_eq!(s.usage, usage(1, 2, None));
        assert_eq!(s.id.as_deref(), Some("chatcmpl-18b0c90a76d1"));
    }

    #[test]
    fn fixture_xpyd_sim_completions_stream() {
        let s = summarize("xpyd-sim-completions-stream.sse");
        assert_eq!(s.events, 5);
        assert_eq!(s.output_events, 2);
        assert_eq!(s.text, "The quick");
        assert_eq!(s.finish_reason.as_deref(), Some("length"));
        assert_eq!(s.usage, usage(1, 2, None));
        assert_eq!(s.id.as_deref(), Some("cmpl-4d26df714f61"));
    }

    #[test]
    fn fixture_guidellm_mock_chat_stream() {
        let s = summarize("guidellm-mock-chat-stream.sse");
        assert_eq!(s.events, 5);
        assert_eq!(s.output_events, 2);
        assert_eq!(s.text, "Agent ");
        assert_eq!(s.finish_reason.as_deref(), Some("stop"));
        assert_eq!(s.usage, usage(1, 2, None));
        assert_eq!(
            s.id.as_deref(),
            Some("chatcmpl-bc66f7466d114839be328db8ecc98")
        );
    }

    #[test]
    fn fixture_guidellm_mock_completions_stream() {
        let s = summarize("guidellm-mock-completions-stream.sse");
        assert_eq!(s.events, 5);
        assert_eq!(
            s.output_events, 2,
            "the index change mid-stream does not matter"
        );
        assert_eq!(s.text, "Agent ");
        assert_eq!(s.finish_reason.as_deref(), Some("stop"));
        assert_eq!(s.usage, usage(1, 2, None));
        assert_eq!(s.id.as_deref(), Some("cmpl-dde6986a982446ca94ce7d91a416b"));
    }

    #[test]
    fn fixture_llama_chat_nonstream() {
        let mut text = String::new();
        let result = decode_full_response(&fixture("llama-chat-nonstream.json"), &mut text);
        assert_eq!(
            result,
            Ok(StreamEvent::Delta(Delta {
                answer_bytes: 48,
                reasoning_bytes: 0,
                tool_bytes: 0,
                tool_calls: 0,
                finish_reason: Some("stop".into()),
                usage: usage(36, 12, Some(0)),
                id: Some("chatcmpl-jahmOXbQsjFas1p4UI4a5bTdRNL5JaHS".into()),
            }))
        );
        assert_eq!(text, "Hello, welcome to my little corner of the world!");
    }

    #[test]
    fn fixture_llama_completions_nonstream() {
        let mut text = String::new();
        let result = decode_full_response(&fixture("llama-completions-nonstream.json"), &mut text);
        assert_eq!(
            result,
            Ok(StreamEvent::Delta(Delta {
                answer_bytes: 29,
                reasoning_bytes: 0,
                tool_bytes: 0,
                tool_calls: 0,
                finish_reason: Some("length".into()),
                usage: usage(4, 8, Some(0)),
                id: Some("chatcmpl-919RZCUtSC5zAV1E621Zzj4QnTBAZKR0".into()),
            }))
        );
        assert_eq!(text, ", the city of New Haven was a");
    }
}
