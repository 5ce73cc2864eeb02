//! `POST /v1/responses`: OpenAI's Responses API, answered from the same plan as a chat request
//! (time to first token, inter-token gaps, `tokens_per_chunk`, reasoning tokens, token limit,
//! capacity, quota and faults).
//!
//! The request's `input` (a string, or a list of messages whose `content` is counted as chat
//! counts it) and `instructions` are the prompt; `max_output_tokens` is the token limit. A
//! streamed answer is the typed events (see the generator's `responses` module); a whole one
//! is the response object below, with the output items and the usage
//! (`input_tokens`, `output_tokens`, `output_tokens_details.reasoning_tokens`). An answer cut
//! by the token limit has `status = "incomplete"` and `incomplete_details.reason =
//! "max_output_tokens"`. With `prompt_tokens = "words"`, the instructions count as a system
//! message and a string input as one user message, so the count is the chat count of the same
//! conversation.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::{handle, ConnInfo, Kind, Shared};
use crate::engine::mock::gen::Plan;

/// The text generated so far: reasoning and answer.
#[derive(Default)]
pub(crate) struct Texts {
    pub answer: String,
    pub reasoning: String,
}

pub(in crate::engine::mock) async fn responses(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    body: Bytes,
) -> Response {
    handle(sh, body, Kind::Responses, conn).await
}

/// The response object with `status`: `in_progress` (no output, no usage yet), `completed` or
/// `incomplete` (the output items and the usage).
pub(crate) fn response_object(seed: u64, plan: &Plan, status: &str, texts: &Texts) -> Value {
    let id = format!("{}{}-{}", Kind::Responses.id_prefix(), seed, plan.n);
    let done = status != "in_progress";
    let mut output = Vec::new();
    if done && !texts.reasoning.is_empty() {
        output.push(json!({
            "id": format!("rs-mock-{seed}-{}", plan.n),
            "type": "reasoning",
            "summary": [],
            "content": [{"type": "reasoning_text", "text": texts.reasoning}],
        }));
    }
    if done && !texts.answer.is_empty() {
        output.push(json!({
            "id": format!("msg-mock-{seed}-{}", plan.n),
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": texts.answer, "annotations": []}],
        }));
    }
    let usage = done.then(|| {
        let (input, output) = (plan.prompt_tokens, plan.reported_completion_tokens());
        json!({
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": plan.reasoning},
            "total_tokens": u64::from(input) + u64::from(output),
        })
    });
    json!({
        "id": id,
        "object": "response",
        "created_at": plan.created,
        "status": status,
        "model": plan.model_name,
        "output": output,
        "incomplete_details": (status == "incomplete")
            .then(|| json!({"reason": "max_output_tokens"})),
        "usage": usage,
    })
}

/// The whole (non-streamed) answer: the finished response object.
pub(crate) fn whole(seed: u64, plan: &Plan, answer: String, reasoning: &str) -> Value {
    let status = if plan.length {
        "incomplete"
    } else {
        "completed"
    };
    let texts = Texts {
        answer,
        reasoning: reasoning.to_string(),
    };
    response_object(seed, plan, status, &texts)
}

/// The start of a response object whose answer text never ends (the `endless` fault).
pub(crate) fn endless_head(seed: u64, plan: &Plan) -> String {
    format!(
        "{{\"id\":\"{}{seed}-{}\",\"object\":\"response\",\"status\":\"completed\",\
         \"output\":[{{\"type\":\"message\",\"role\":\"assistant\",\"content\":\
         [{{\"type\":\"output_text\",\"text\":\"",
        Kind::Responses.id_prefix(),
        plan.n
    )
}

/// Prompt tokens counted as words: the chat count of the same conversation (4 per message,
/// 3 to open the answer), the instructions counting as a system message and a string input
/// as one user message. The body was already parsed once, so it is valid JSON.
pub(crate) fn prompt_words(body: &[u8]) -> u32 {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    let words = |t: &Value| -> u64 {
        match t {
            Value::String(s) => s.split_whitespace().count() as u64,
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(|x| x.as_str()).or(p.as_str()))
                .map(|s| s.split_whitespace().count() as u64)
                .sum(),
            _ => 0,
        }
    };
    let instructions = v.get("instructions").map_or(0, |i| 4 + words(i));
    let input = match v.get("input") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| 4 + m.get("content").map_or(0, words))
            .sum(),
        Some(s) => 4 + words(s),
        None => 0,
    };
    u32::try_from(instructions + input + 3).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
