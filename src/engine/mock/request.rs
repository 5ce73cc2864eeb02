//! Request bodies: only the fields the mock reads, parsed without building a JSON tree.
//! Message contents and prompts are not kept, only their UTF-8 byte lengths.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The fields of a chat or completions request that the mock uses; others are ignored.
#[derive(Deserialize)]
pub(crate) struct Req<'a> {
    #[serde(borrow, default)]
    pub model: Option<Cow<'a, str>>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub max_tokens: Option<u64>,
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub messages: Option<MessagesLen>,
    #[serde(default)]
    pub prompt: Option<PromptLen>,
    /// Responses API: the conversation (a string or a list of messages and items).
    #[serde(default)]
    pub input: Option<InputLen>,
    /// Responses API: the system prompt.
    #[serde(default)]
    pub instructions: Option<TextLen>,
    /// Responses API: the token limit.
    #[serde(default)]
    pub max_output_tokens: Option<u64>,
    /// Tools offered (chat): only each function's name is kept.
    #[serde(default)]
    pub tools: Option<Vec<ToolSeen>>,
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
}

/// One offered tool, as far as the mock reads it.
#[derive(Deserialize)]
pub(crate) struct ToolSeen {
    #[serde(default)]
    pub function: Option<FunctionSeen>,
}

/// A tool's function: its name.
#[derive(Deserialize)]
pub(crate) struct FunctionSeen {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default)]
    pub include_usage: Option<bool>,
}

impl Req<'_> {
    /// The request's token limit: `max_completion_tokens`, else `max_tokens`, else
    /// `max_output_tokens` (Responses API).
    pub fn limit(&self) -> Option<u64> {
        self.max_completion_tokens
            .or(self.max_tokens)
            .or(self.max_output_tokens)
    }

    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// Prompt-token estimate: ceil(bytes / 4), at least 1, saturating at `u32::MAX`.
pub(crate) fn prompt_tokens(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(4).max(1)).unwrap_or(u32::MAX)
}

/// Prompt tokens counted as words (`prompt_tokens = "words"`): the whitespace-separated words
/// of every message's text content plus 4 per message and 3 to open the answer (chat), or of
/// the prompt plus 1 (completions). The body was already parsed once, so it is valid JSON.
pub(crate) fn prompt_words(body: &[u8], chat: bool) -> u32 {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let words = |t: &serde_json::Value| -> u64 {
        match t {
            serde_json::Value::String(s) => s.split_whitespace().count() as u64,
            serde_json::Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(|x| x.as_str()).or(p.as_str()))
                .map(|s| s.split_whitespace().count() as u64)
                .sum(),
            _ => 0,
        }
    };
    let n = if chat {
        let msgs = v.get("messages").and_then(|m| m.as_array());
        msgs.map_or(0, |ms| {
            ms.iter()
                .map(|m| 4 + m.get("content").map_or(0, words))
                .sum::<u64>()
        }) + 3
    } else {
        1 + v.get("prompt").map_or(0, words)
    };
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Total byte length of the text `content` of every message, and the prompt tokens of its
/// images (see `server::images`).
#[derive(Default)]
pub(crate) struct MessagesLen(pub u64, pub u64);

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<TextLen>,
}

impl<'de> Deserialize<'de> for MessagesLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessagesLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of messages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MessagesLen, A::Error> {
                let (mut n, mut images) = (0u64, 0u64);
                while let Some(m) = seq.next_element::<Message>()? {
                    let c = m.content.unwrap_or_default();
                    n = n.saturating_add(c.0);
                    images = images.saturating_add(c.1);
                }
                Ok(MessagesLen(n, images))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Byte length of a Responses API `input`: a string, or a list of messages and items (each
/// message's `content` counted as chat counts it; items without one count 0).
pub(crate) struct InputLen(pub u64);

impl<'de> Deserialize<'de> for InputLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = InputLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of input items")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<InputLen, E> {
                Ok(InputLen(v.len() as u64))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<InputLen, A::Error> {
                MessagesLen::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(|m| InputLen(m.0))
            }
        }
        d.deserialize_any(V)
    }
}

/// Byte length of a completions prompt: a string or an array (of strings or token ids).
pub(crate) struct PromptLen(pub u64);

impl<'de> Deserialize<'de> for PromptLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PromptLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PromptLen, E> {
                Ok(PromptLen(v.len() as u64))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<PromptLen, A::Error> {
                TextLen::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(|t| PromptLen(t.0))
            }
        }
        d.deserialize_any(V)
    }
}

/// Byte length of a text value: a string, an array of strings or content parts
/// (`{"type":"text","text":...}`; other parts count 0), or token ids (4 bytes each, so
/// they count one token each).
/// The second number is the prompt tokens of `image_url` parts (their data URLs checked).
#[derive(Default)]
pub(crate) struct TextLen(pub u64, pub u64);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum PartKey {
    Text,
    #[serde(rename = "image_url")]
    ImageUrl,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for TextLen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TextLen;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, an array of strings or content parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TextLen, E> {
                Ok(TextLen(v.len() as u64, 0))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<TextLen, E> {
                Ok(TextLen(4, 0))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<TextLen, E> {
                Ok(TextLen(4, 0))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<TextLen, E> {
                Ok(TextLen(0, 0))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<TextLen, E> {
                Ok(TextLen(0, 0))
            }
            fn visit_unit<E: de::Error>(self) -> Result<TextLen, E> {
                Ok(TextLen(0, 0))
            }
            fn visit_none<E: de::Error>(self) -> Result<TextLen, E> {
                Ok(TextLen(0, 0))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<TextLen, D2::Error> {
                TextLen::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TextLen, A::Error> {
                let (mut n, mut images) = (0u64, 0u64);
                while let Some(t) = seq.next_element::<TextLen>()? {
                    n = n.saturating_add(t.0);
                    images = images.saturating_add(t.1);
                }
                Ok(TextLen(n, images))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TextLen, A::Error> {
                let (mut n, mut images) = (0u64, 0u64);
                while let Some(k) = map.next_key::<PartKey>()? {
                    match k {
                        PartKey::Text => n = n.saturating_add(map.next_value::<TextLen>()?.0),
                        PartKey::ImageUrl => {
                            let i = map.next_value::<ImageUrlSeen>()?;
                            let t =
                                super::server::images::prompt_tokens(&i.url, i.detail.as_deref())
                                    .map_err(de::Error::custom)?;
                            images = images.saturating_add(t);
                        }
                        PartKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(TextLen(n, images))
            }
        }
        d.deserialize_any(V)
    }
}

/// An `image_url` part's object.
#[derive(Deserialize)]
struct ImageUrlSeen<'a> {
    #[serde(borrow)]
    url: Cow<'a, str>,
    #[serde(default, borrow)]
    detail: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_of_messages_and_prompts() {
        let r: Req = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"system","content":"abcd"},
                {"role":"user","content":[{"type":"text","text":"ef"},{"type":"image_url","image_url":{"url":"x"}}]},
                {"role":"assistant","content":null,"tool_calls":[]}],
                "max_tokens":7,"stream":true,"stream_options":{"include_usage":true},"temperature":0.5}"#,
        )
        .expect("valid request");
        assert_eq!(r.messages.as_ref().map(|m| m.0), Some(6));
        assert_eq!(r.limit(), Some(7));
        assert!(r.include_usage());
        assert_eq!(r.model.as_deref(), Some("m"));

        let r: Req = serde_json::from_str(
            r#"{"prompt":["abc","défg"],"max_completion_tokens":3,"max_tokens":9}"#,
        )
        .expect("valid request");
        assert_eq!(r.prompt.as_ref().map(|p| p.0), Some(8));
        assert_eq!(r.limit(), Some(3));
        let r: Req = serde_json::from_str(r#"{"prompt":[1,2,3]}"#).expect("valid request");
        assert_eq!(prompt_tokens(r.prompt.map_or(0, |p| p.0)), 3);
        assert_eq!(prompt_tokens(0), 1);
        assert_eq!(prompt_tokens(9), 3);
        assert!(serde_json::from_str::<Req>(r#"{"max_tokens":"x"}"#).is_err());
        assert!(serde_json::from_str::<Req>(r#"{"messages":{}}"#).is_err());
        assert!(serde_json::from_str::<Req>(r#"{"prompt":{}}"#).is_err());
        assert!(serde_json::from_str::<Req>(r#"{"prompt":5}"#).is_err());
    }
}
