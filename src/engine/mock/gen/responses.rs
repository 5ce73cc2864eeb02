//! The typed events of a streamed Responses API answer (`/v1/responses`), written by the same
//! stream ([`SseStream`]) with the same timing as a chat answer: the lifecycle events go out
//! where a chat stream sends its role chunk, each chunk of words becomes one
//! `response.reasoning_text.delta` or `response.output_text.delta`, and the finish and usage
//! chunks become the `*.done` events and `response.completed` (or `response.incomplete` when
//! the request's `max_output_tokens` cut the answer) with the usage. The events that open an
//! output item go out in the same frame as its first delta, so they move no clock.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes};
use serde_json::json;

use super::SseStream;
use crate::engine::mock::server::responses::{response_object, Texts};

/// What a typed stream has sent so far.
#[derive(Default)]
pub(crate) struct Typed {
    /// `sequence_number` of the next event.
    seq: u64,
    /// The reasoning item was opened.
    reasoning_open: bool,
    /// The message item was opened.
    message_open: bool,
    texts: Texts,
    /// The reasoning and message items' ids.
    ids: Option<(String, String)>,
}

impl SseStream {
    fn typed_state(&mut self) -> &mut Typed {
        self.typed.get_or_insert_with(Default::default)
    }

    /// Writes one event whose JSON body after `type` and `sequence_number` is `rest` (an
    /// object's remaining members, without braces).
    fn typed_event(&mut self, name: &str, rest: &str) {
        let seq = {
            let t = self.typed_state();
            t.seq += 1;
            t.seq - 1
        };
        self.buf.reserve(64 + 2 * name.len() + rest.len());
        let _ = write!(
            self.buf,
            "event: {name}\ndata: {{\"type\":\"{name}\",\"sequence_number\":{seq}"
        );
        if !rest.is_empty() {
            self.buf.put_u8(b',');
            self.buf.extend_from_slice(rest.as_bytes());
        }
        self.buf.extend_from_slice(b"}\n\n");
    }

    /// The response object's members as they are now (`status`), without braces.
    fn typed_response(&mut self, status: &str) -> String {
        let seed = self.shared.seed;
        let texts = std::mem::take(&mut self.typed_state().texts);
        let v = json!({ "response": response_object(seed, &self.plan, status, &texts) });
        self.typed_state().texts = texts;
        let s = v.to_string();
        s[1..s.len() - 1].to_string()
    }

    fn item_ids(&mut self) -> (String, String) {
        let (seed, n) = (self.shared.seed, self.plan.n);
        self.typed_state()
            .ids
            .get_or_insert_with(|| {
                (
                    format!("rs-mock-{seed}-{n}"),
                    format!("msg-mock-{seed}-{n}"),
                )
            })
            .clone()
    }

    /// Where a chat stream sends its role chunk: `response.created` and
    /// `response.in_progress`.
    pub(super) fn typed_start(&mut self) -> Bytes {
        let created = self.typed_response("in_progress");
        self.typed_event("response.created", &created);
        self.typed_event("response.in_progress", &created);
        self.buf.split().freeze()
    }

    /// Appends `k` words of a delta (escaped) and keeps them in the answer's texts.
    fn delta_words(&mut self, reasoning: bool, k: u32) {
        if self.plan.script.is_some() {
            // A table answer: kept as written, sent escaped.
            let mut words = String::new();
            self.plan.push_words(&mut words, k);
            crate::engine::mock::answers::push_escaped(&mut self.buf, &words);
            if let Some(t) = self.typed.as_mut() {
                let text = if reasoning {
                    &mut t.texts.reasoning
                } else {
                    &mut t.texts.answer
                };
                text.push_str(&words);
            }
        } else {
            let start = self.buf.len();
            self.plan.push_words_bytes(&mut self.buf, k);
            if let Some(t) = self.typed.as_mut() {
                // The words are ASCII: never invalid here.
                let words = std::str::from_utf8(&self.buf[start..]).unwrap_or_default();
                if reasoning {
                    t.texts.reasoning.push_str(words);
                } else {
                    t.texts.answer.push_str(words);
                }
            }
        }
    }

    /// One chunk of `k` words (then `raw` bytes inside the JSON string), preceded by the
    /// events that open its output item when it is the item's first.
    pub(super) fn typed_delta(&mut self, reasoning: bool, k: u32, raw: &[u8]) -> Bytes {
        let (rs_id, msg_id) = self.item_ids();
        let reasoning_index = 0;
        let message_index = u32::from(self.plan.reasoning > 0);
        if reasoning && !self.typed_state().reasoning_open {
            self.typed_state().reasoning_open = true;
            let item = json!({"id": rs_id, "type": "reasoning", "summary": [], "content": []});
            self.typed_event(
                "response.output_item.added",
                &format!("\"output_index\":{reasoning_index},\"item\":{item}"),
            );
        }
        if !reasoning && !self.typed_state().message_open {
            self.close_reasoning();
            self.typed_state().message_open = true;
            let item = json!({"id": msg_id, "type": "message", "status": "in_progress",
                "role": "assistant", "content": []});
            self.typed_event(
                "response.output_item.added",
                &format!("\"output_index\":{message_index},\"item\":{item}"),
            );
            self.typed_event(
                "response.content_part.added",
                &format!(
                    "\"item_id\":\"{msg_id}\",\"output_index\":{message_index},\"content_index\":0,\
                     \"part\":{{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}"
                ),
            );
        }
        let (name, id, index) = if reasoning {
            ("response.reasoning_text.delta", &rs_id, reasoning_index)
        } else {
            ("response.output_text.delta", &msg_id, message_index)
        };
        let seq = {
            let t = self.typed_state();
            t.seq += 1;
            t.seq - 1
        };
        self.buf.reserve(160 + k as usize * super::MAX_WORD);
        let _ = write!(
            self.buf,
            "event: {name}\ndata: {{\"type\":\"{name}\",\"sequence_number\":{seq},\
             \"item_id\":\"{id}\",\"output_index\":{index},\"content_index\":0,\"delta\":\""
        );
        self.delta_words(reasoning, k);
        self.buf.extend_from_slice(raw);
        if reasoning {
            self.buf.extend_from_slice(b"\"}\n\n");
        } else {
            self.buf.extend_from_slice(b"\",\"logprobs\":[]}\n\n");
        }
        self.buf.split().freeze()
    }

    /// Ends the reasoning item, if one is open and not yet closed.
    fn close_reasoning(&mut self) {
        if !self.typed_state().reasoning_open {
            return;
        }
        self.typed_state().reasoning_open = false;
        let (rs_id, _) = self.item_ids();
        let text = json!(self.typed_state().texts.reasoning).to_string();
        self.typed_event(
            "response.reasoning_text.done",
            &format!(
                "\"item_id\":\"{rs_id}\",\"output_index\":0,\"content_index\":0,\"text\":{text}"
            ),
        );
        let item = json!({"id": rs_id, "type": "reasoning", "summary": [],
            "content": [{"type": "reasoning_text", "text": self.typed_state().texts.reasoning}]});
        self.typed_event(
            "response.output_item.done",
            &format!("\"output_index\":0,\"item\":{item}"),
        );
    }

    /// Where a chat stream sends its finish chunk: the `*.done` events of the open items.
    pub(super) fn typed_finish(&mut self) -> Bytes {
        self.close_reasoning();
        if self.typed_state().message_open {
            let (_, msg_id) = self.item_ids();
            let index = u32::from(self.plan.reasoning > 0);
            let text = json!(self.typed_state().texts.answer).to_string();
            let at =
                format!("\"item_id\":\"{msg_id}\",\"output_index\":{index},\"content_index\":0");
            self.typed_event(
                "response.output_text.done",
                &format!("{at},\"text\":{text}"),
            );
            self.typed_event(
                "response.content_part.done",
                &format!(
                    "{at},\"part\":{{\"type\":\"output_text\",\"text\":{text},\"annotations\":[]}}"
                ),
            );
            let item = json!({"id": msg_id, "type": "message", "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": self.typed_state().texts.answer,
                    "annotations": []}]});
            self.typed_event(
                "response.output_item.done",
                &format!("\"output_index\":{index},\"item\":{item}"),
            );
        }
        self.buf.split().freeze()
    }

    /// Where a chat stream sends its usage chunk: `response.completed`, or
    /// `response.incomplete` when the token limit cut the answer, with the usage.
    pub(super) fn typed_end(&mut self) -> Bytes {
        let (name, status) = if self.plan.length {
            ("response.incomplete", "incomplete")
        } else {
            ("response.completed", "completed")
        };
        let body = self.typed_response(status);
        self.typed_event(name, &body);
        self.buf.split().freeze()
    }

    /// The `error_event` fault: an `error` event in the middle of the answer.
    pub(super) fn typed_error(&mut self) -> Bytes {
        self.typed_event(
            "error",
            "\"code\":\"server_error\",\"message\":\"mock: simulated mid-stream error\",\"param\":null",
        );
        self.buf.split().freeze()
    }
}
