//! Request bodies: one JSON object per request, serialised straight from borrowed pieces
//! (system prompt, session history, the prompt) so a request allocates only its output bytes.

use bytes::Bytes;
use serde::Serialize;

use std::sync::Arc;

use crate::config::images::Image;
use crate::config::plan::Workload;
use crate::config::scenario::EndpointKind;
use crate::config::workload::{Message, PromptBody};

/// One request body; chat and completions differ only in how the prompt is carried.
#[derive(Serialize)]
struct Body<'a> {
    model: &'a str,
    #[serde(flatten)]
    input: Input<'a>,
    max_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// One embeddings request body: the request's prompt as each of the batch's inputs.
#[derive(Serialize)]
struct EmbeddingsBody<'a> {
    model: &'a str,
    input: Vec<&'a str>,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// One Responses API request body: the system prompt as `instructions`, the prompt as a
/// string (plain text) or a message list (messages, or a session's earlier turns).
#[derive(Serialize)]
struct ResponsesBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    instructions: Option<&'a str>,
    input: ResponsesInput<'a>,
    max_output_tokens: u32,
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ResponsesInput<'a> {
    Text(&'a str),
    Messages(Vec<MsgRef<'a>>),
}

/// Appends a session's earlier turns, then the prompt (plain text as one user message), to a
/// chat or Responses message list.
#[inline]
fn push_turns<'a>(messages: &mut Vec<MsgRef<'a>>, history: &'a [Message], prompt: &'a PromptBody) {
    let as_ref = |m: &'a Message| MsgRef {
        role: &m.role,
        content: Content::Text(&m.content),
    };
    messages.extend(history.iter().map(as_ref));
    match prompt {
        PromptBody::Text(t) => messages.push(MsgRef {
            role: "user",
            content: Content::Text(t),
        }),
        PromptBody::Messages(ms) => messages.extend(ms.iter().map(as_ref)),
    }
}

/// The body of a `/responses` request.
fn responses_body<'a>(w: &Workload, r: &Request<'a>) -> Bytes {
    let input = match (r.prompt, r.history.is_empty()) {
        (PromptBody::Text(t), true) => ResponsesInput::Text(t),
        (prompt, _) => {
            let mut messages = Vec::with_capacity(1 + r.history.len());
            push_turns(&mut messages, r.history, prompt);
            ResponsesInput::Messages(messages)
        }
    };
    let out = serde_json::to_vec(&ResponsesBody {
        model: r.model,
        instructions: r.system,
        input,
        max_output_tokens: r.max_tokens,
        stream: w.stream,
        temperature: w.temperature,
        extra: r.extra,
    });
    // Serialising plain strings and numbers into a Vec cannot fail.
    Bytes::from(out.expect("request bodies hold only JSON-safe values"))
}

#[derive(Serialize)]
#[serde(untagged)]
enum Input<'a> {
    Chat { messages: Vec<MsgRef<'a>> },
    Completion { prompt: &'a str },
}

#[derive(Serialize)]
struct MsgRef<'a> {
    role: &'a str,
    content: Content<'a>,
}

/// A message's content: its text, or (a prompt with images) a text part followed by the
/// images' content parts, each written as prepared at plan time.
enum Content<'a> {
    Text(&'a str),
    Parts(&'a str, &'a [Arc<Image>]),
}

impl Serialize for Content<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            Content::Text(t) => s.serialize_str(t),
            Content::Parts(t, images) => {
                let mut seq = s.serialize_seq(Some(1 + images.len()))?;
                seq.serialize_element(&TextPart {
                    kind: "text",
                    text: t,
                })?;
                for i in images.iter() {
                    seq.serialize_element(&*i.part)?;
                }
                seq.end()
            }
        }
    }
}

#[derive(Serialize)]
struct TextPart<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

/// What one request carries besides the workload-wide settings.
pub struct Request<'a> {
    /// Model id as sent.
    pub model: &'a str,
    /// System prompt (chat).
    pub system: Option<&'a str>,
    /// Earlier turns of a session (chat).
    pub history: &'a [Message],
    /// This request's prompt.
    pub prompt: &'a PromptBody,
    /// `max_tokens`.
    pub max_tokens: u32,
    /// The target's extra body fields.
    pub extra: &'a serde_json::Map<String, serde_json::Value>,
    /// Images attached to the prompt's (last) message (chat).
    pub images: &'a [Arc<Image>],
}

/// The prompt as one text: a message list's last message (completions, embeddings).
#[inline]
fn prompt_text(p: &PromptBody) -> &str {
    match p {
        PromptBody::Text(t) => t.as_str(),
        PromptBody::Messages(ms) => ms.last().map(|m| m.content.as_str()).unwrap_or(""),
    }
}

/// The JSON body for one request.
pub fn build<'a>(w: &Workload, r: &Request<'a>) -> Bytes {
    let input = match w.endpoint {
        EndpointKind::Embeddings => {
            let text = prompt_text(r.prompt);
            let out = serde_json::to_vec(&EmbeddingsBody {
                model: r.model,
                input: vec![text; w.batch_size.max(1) as usize],
                extra: r.extra,
            });
            // Serialising plain strings into a Vec cannot fail.
            return Bytes::from(out.expect("request bodies hold only JSON-safe values"));
        }
        EndpointKind::Responses => return responses_body(w, r),
        EndpointKind::Chat => {
            let mut messages = Vec::with_capacity(2 + r.history.len());
            if let Some(s) = r.system {
                messages.push(MsgRef {
                    role: "system",
                    content: Content::Text(s),
                });
            }
            push_turns(&mut messages, r.history, r.prompt);
            // The images go with the prompt's message, the last one.
            if let (false, Some(last)) = (r.images.is_empty(), messages.last_mut()) {
                if let Content::Text(t) = last.content {
                    last.content = Content::Parts(t, r.images);
                }
            }
            Input::Chat { messages }
        }
        EndpointKind::Completions => Input::Completion {
            prompt: prompt_text(r.prompt),
        },
    };
    // serde_json's own start (128 bytes) plus what is known to come: image parts (often
    // megabytes, which would otherwise be copied at each doubling) and the tools.
    let known = r.images.iter().map(|i| i.part.get().len()).sum::<usize>()
        + w.tools.as_ref().map_or(0, |t| t.fragment.len() + 2);
    let mut out = Vec::with_capacity(128 + known);
    let written = serde_json::to_writer(
        &mut out,
        &Body {
            model: r.model,
            input,
            max_tokens: r.max_tokens,
            stream: w.stream,
            stream_options: w.stream.then_some(StreamOptions {
                include_usage: true,
            }),
            temperature: w.temperature,
            seed: w.request_seed,
            extra: r.extra,
        },
    );
    // Serialising plain strings and numbers into a Vec cannot fail.
    written.expect("request bodies hold only JSON-safe values");
    if let (EndpointKind::Chat, Some(t)) = (w.endpoint, &w.tools) {
        crate::config::tools::append_members(&mut out, &t.fragment);
    }
    Bytes::from(out)
}
