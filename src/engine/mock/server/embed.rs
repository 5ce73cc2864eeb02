//! `POST /v1/embeddings`: one deterministic vector per input, answered whole.
//!
//! Timing: the model's `ttft_ms` (with its `ttft_steps`) is the whole latency, counted from
//! the request's arrival, or from the moment a capacity slot frees up when the model's
//! `max_concurrency` is reached; the batch size does not change it. Usage counts each text
//! input as the chat endpoints count a prompt (a token per 4 bytes, at least 1) and each
//! token-id input by its length; `prompt_tokens` and `total_tokens` are that sum. The model's
//! faults do not apply here.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;
use serde::Deserialize;
use tokio::time::Instant;

use super::{bad_request, delay, prompt_tokens, ConnInfo, InFlight, Shared, DEFAULT_MODEL_ID};

#[derive(Deserialize)]
struct EmbReq {
    #[serde(default)]
    model: Option<String>,
    input: Option<Input>,
}

/// `input` as the API allows it: a string, a list of strings, a list of token ids, or a list
/// of such lists.
#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Tokens(Vec<u64>),
    Many(Vec<Item>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Item {
    Text(String),
    Tokens(Vec<u64>),
}

/// One input reduced to what the answer needs: its tokens and a digest of its content.
struct Seen {
    tokens: u64,
    digest: u64,
}

fn fnv(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Item {
    fn seen(&self) -> Seen {
        match self {
            Item::Text(t) => Seen {
                tokens: u64::from(prompt_tokens(t.len() as u64)),
                digest: fnv(t.bytes()),
            },
            Item::Tokens(ids) => Seen {
                tokens: ids.len() as u64,
                digest: fnv(ids.iter().flat_map(|i| i.to_le_bytes())),
            },
        }
    }
}

/// The inputs of a request, in order.
fn inputs(input: Input) -> Vec<Seen> {
    match input {
        Input::One(t) => vec![Item::Text(t).seen()],
        Input::Tokens(ids) => vec![Item::Tokens(ids).seen()],
        Input::Many(items) => items.iter().map(Item::seen).collect(),
    }
}

/// A unit-free vector of `dim` numbers in [-1, 1] that depends only on the input's content.
fn vector(digest: u64, dim: u32, out: &mut String) {
    out.push('[');
    let mut h = digest;
    for j in 0..dim {
        // splitmix64 steps: cheap, and the same numbers on every run.
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = h;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let v = (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        if j > 0 {
            out.push(',');
        }
        out.push_str(&format!("{v:.6}"));
    }
    out.push(']');
}

/// The response body for `seen` inputs with vectors of `dim` numbers.
fn answer(model: &str, seen: &[Seen], dim: u32) -> String {
    let mut out = String::with_capacity(64 + seen.len() * (40 + dim as usize * 10));
    out.push_str("{\"object\":\"list\",\"data\":[");
    for (i, s) in seen.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "{{\"object\":\"embedding\",\"index\":{i},\"embedding\":"
        ));
        vector(s.digest, dim, &mut out);
        out.push('}');
    }
    let tokens: u64 = seen.iter().map(|s| s.tokens).sum();
    out.push_str(&format!(
        "],\"model\":{},\"usage\":{{\"prompt_tokens\":{tokens},\"total_tokens\":{tokens}}}}}",
        serde_json::Value::from(model)
    ));
    out
}

pub(in crate::engine::mock) async fn embeddings(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    body: Bytes,
) -> Response {
    let mut received = Instant::now();
    if let Some(age) = conn.arrival_age() {
        received = received.checked_sub(age).unwrap_or(received);
    }
    let req: EmbReq = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("could not parse the JSON body: {e}")),
    };
    let Some(input) = req.input else {
        return bad_request("'input' is a required property");
    };
    let seen = inputs(input);
    if seen.is_empty() {
        return bad_request("'input' must not be empty");
    }
    let n = sh.counter.fetch_add(1, Ordering::Relaxed);
    let mut rng = ChaCha8Rng::seed_from_u64(sh.seed);
    rng.set_stream(n);
    let model_name = req.model.as_deref().unwrap_or(DEFAULT_MODEL_ID);
    let model = sh.models.get(model_name).unwrap_or(&sh.default).clone();
    let _in_flight = InFlight::new(&model);
    let first = *sh.first_request.get_or_init(|| received);
    let latency = delay(
        model
            .cfg
            .ttft_at(received.saturating_duration_since(first))
            .sample(&mut rng),
    );
    // At capacity, the latency starts when a slot frees up.
    let (_permit, start) = match &model.sem {
        Some(sem) => match sem.clone().acquire_owned().await {
            Ok(p) => (Some(p), Instant::now().max(received)),
            Err(_) => (None, received),
        },
        None => (None, received),
    };
    tokio::time::sleep_until(start + latency).await;
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer(model_name, &seen, model.cfg.embedding_dim.max(1)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vector_per_input_with_usage_counted_like_prompts() {
        let seen = inputs(Input::Many(vec![
            Item::Text("abcdefghi".into()),
            Item::Tokens(vec![1, 2, 3]),
            Item::Text("abcdefghi".into()),
        ]));
        let body = answer("m", &seen, 5);
        let v: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let data = v["data"].as_array().expect("data");
        assert_eq!(data.len(), 3);
        for (i, d) in data.iter().enumerate() {
            assert_eq!(d["index"], i);
            let e = d["embedding"].as_array().expect("vector");
            assert_eq!(e.len(), 5);
            assert!(e.iter().all(|x| x.as_f64().is_some_and(|x| x.abs() <= 1.0)));
        }
        // The same content gives the same vector; other content another.
        assert_eq!(data[0]["embedding"], data[2]["embedding"]);
        assert_ne!(data[0]["embedding"], data[1]["embedding"]);
        // 9 bytes → 3 tokens, twice; 3 token ids → 3.
        assert_eq!(v["usage"]["prompt_tokens"], 9);
        assert_eq!(v["usage"]["total_tokens"], 9);
        assert_eq!(v["model"], "m");
    }

    #[test]
    fn a_single_string_or_token_list_is_one_input() {
        assert_eq!(inputs(Input::One("x".into())).len(), 1);
        assert_eq!(inputs(Input::Tokens(vec![7, 8])).len(), 1);
        assert_eq!(inputs(Input::Tokens(vec![7, 8]))[0].tokens, 2);
    }
}
