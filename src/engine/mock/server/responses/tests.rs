//! `/v1/responses` over real HTTP on 127.0.0.1:0, each test bounded in time.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::prompt_words;
use crate::config::mock::{Faults, MockConfig, MockModel};
use crate::core::dist::Dist;
use crate::engine::mock::MockServer;

const LIMIT: Duration = Duration::from_secs(10);

async fn start(model: MockModel) -> MockServer {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let cfg = MockConfig {
        default_model: model,
        ..MockConfig::default()
    };
    MockServer::start(l, cfg).await.expect("start")
}

/// One SSE event: when it arrived, its `event:` name and its JSON data.
struct Ev {
    at: Duration,
    name: String,
    data: Value,
}

/// Posts `body` and reads the whole SSE answer (bounded by `LIMIT`).
async fn events(url: &str, body: &Value) -> (u16, Vec<Ev>, String) {
    let t0 = Instant::now();
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let mut stream = resp.bytes_stream();
    let (mut buf, mut raw, mut out) = (Vec::new(), String::new(), Vec::new());
    while let Ok(Some(Ok(b))) = tokio::time::timeout(LIMIT, stream.next()).await {
        let at = t0.elapsed();
        buf.extend_from_slice(&b);
        raw.push_str(&String::from_utf8_lossy(&b));
        while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
            let ev: Vec<u8> = buf.drain(..pos + 2).collect();
            let text = String::from_utf8_lossy(&ev[..pos]).to_string();
            let mut name = String::new();
            let mut data = Value::Null;
            for line in text.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_string();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap_or(Value::String(d.to_string()));
                }
            }
            out.push(Ev { at, name, data });
        }
    }
    (status, out, raw)
}

fn deltas<'a>(evs: &'a [Ev], kind: &str) -> Vec<&'a Ev> {
    evs.iter().filter(|e| e.data["type"] == kind).collect()
}

fn words(evs: &[&Ev]) -> Vec<usize> {
    evs.iter()
        .map(|e| {
            e.data["delta"]
                .as_str()
                .expect("delta")
                .split_whitespace()
                .count()
        })
        .collect()
}

#[tokio::test]
async fn a_streamed_answer_is_typed_events_timed_like_chat() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(MockModel {
            ttft_ms: Dist::fixed(120.0),
            itl_ms: Dist::fixed(2.0),
            output_tokens: Some(Dist::fixed(5.0)),
            reasoning_tokens: 3,
            tokens_per_chunk: 2,
            ..MockModel::default()
        })
        .await;
        let url = format!("{}/responses", srv.base_url());
        let body = json!({"model": "m", "input": "abcd efgh", "instructions": "abcd",
            "stream": true, "max_output_tokens": 100});
        let (status, evs, raw) = events(&url, &body).await;
        assert_eq!(status, 200);
        assert!(!raw.contains("[DONE]"), "no [DONE] in a Responses stream");
        // Every event names its type on the `event:` line and counts up from 0.
        for (i, e) in evs.iter().enumerate() {
            assert_eq!(e.data["type"], e.name.as_str(), "{}", e.data);
            assert_eq!(e.data["sequence_number"], i as u64);
        }
        assert_eq!(evs[0].name, "response.created");
        assert_eq!(evs[0].data["response"]["status"], "in_progress");
        assert!(
            evs[0].at < Duration::from_millis(120),
            "created before the first token"
        );
        // 3 reasoning tokens in chunks of 2, then 5 answer tokens in chunks of 2.
        let r = deltas(&evs, "response.reasoning_text.delta");
        let a = deltas(&evs, "response.output_text.delta");
        assert_eq!(words(&r), [2, 1]);
        assert_eq!(words(&a), [2, 2, 1]);
        assert!(
            r[0].at >= Duration::from_millis(120),
            "first token after the TTFT"
        );
        let pos = |name: &str| evs.iter().position(|e| e.data["type"] == name);
        assert!(pos("response.reasoning_text.delta") < pos("response.output_text.delta"));
        let last = evs.last().expect("events");
        assert_eq!(last.name, "response.completed");
        let resp = &last.data["response"];
        assert_eq!(resp["status"], "completed");
        assert_eq!(resp["id"], evs[0].data["response"]["id"]);
        // 13 bytes of instructions and input → 4 tokens (a token per 4 bytes, rounded up).
        assert_eq!(resp["usage"]["input_tokens"], 4);
        assert_eq!(resp["usage"]["output_tokens"], 8);
        assert_eq!(
            resp["usage"]["output_tokens_details"]["reasoning_tokens"],
            3
        );
        assert_eq!(resp["usage"]["total_tokens"], 12);
        // The output items hold the streamed text.
        let streamed: String = a
            .iter()
            .map(|e| e.data["delta"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(resp["output"][1]["content"][0]["text"], streamed.as_str());
        assert_eq!(resp["output"][0]["type"], "reasoning");
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_token_limit_makes_an_incomplete_answer_streamed_or_whole() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(MockModel {
            ttft_ms: Dist::fixed(1.0),
            itl_ms: Dist::fixed(0.0),
            output_tokens: Some(Dist::fixed(10.0)),
            reasoning_tokens: 3,
            ..MockModel::default()
        })
        .await;
        let url = format!("{}/responses", srv.base_url());
        let input = json!([{"role": "user", "content": "hi"}]);
        let (_, evs, _) = events(
            &url,
            &json!({"input": input, "stream": true, "max_output_tokens": 5}),
        )
        .await;
        assert_eq!(deltas(&evs, "response.output_text.delta").len(), 2);
        let last = evs.last().expect("events");
        assert_eq!(last.name, "response.incomplete");
        let resp = &last.data["response"];
        assert_eq!(resp["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(resp["usage"]["output_tokens"], 5);

        let whole: Value = reqwest::Client::new()
            .post(&url)
            .body(json!({"input": input, "max_output_tokens": 5}).to_string())
            .send()
            .await
            .expect("send")
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).expect("a JSON body"))
            .expect("a body");
        assert_eq!(whole["object"], "response");
        assert_eq!(whole["status"], "incomplete");
        assert_eq!(whole["usage"]["output_tokens"], 5);
        assert_eq!(whole["usage"]["input_tokens"], 1);
        let answer = whole["output"][1]["content"][0]["text"]
            .as_str()
            .expect("text");
        assert_eq!(answer.split_whitespace().count(), 2);
        let whole: Value = reqwest::Client::new()
            .post(&url)
            .body(json!({"input": "x", "max_output_tokens": 50}).to_string())
            .send()
            .await
            .expect("send")
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).expect("a JSON body"))
            .expect("a body");
        assert_eq!(whole["status"], "completed");
        assert_eq!(whole["incomplete_details"], Value::Null);
        assert_eq!(whole["usage"]["output_tokens"], 13);
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn faults_and_bad_requests() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(MockModel {
            ttft_ms: Dist::fixed(1.0),
            itl_ms: Dist::fixed(0.0),
            output_tokens: Some(Dist::fixed(6.0)),
            faults: Faults {
                error_event: 1.0,
                ..Faults::default()
            },
            ..MockModel::default()
        })
        .await;
        let url = format!("{}/responses", srv.base_url());
        let (_, evs, _) = events(&url, &json!({"input": "x", "stream": true})).await;
        let last = evs.last().expect("events");
        assert_eq!(last.name, "error");
        assert_eq!(last.data["message"], "mock: simulated mid-stream error");
        assert_eq!(deltas(&evs, "response.output_text.delta").len(), 3);
        assert!(deltas(&evs, "response.completed").is_empty());
        let (status, _, raw) = events(&url, &json!({"model": "m", "stream": true})).await;
        assert_eq!(status, 400);
        assert!(raw.contains("'input' is a required property"), "{raw}");
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[test]
fn words_count_as_the_same_chat_conversation() {
    // Chat: 4 per message + words, 3 to open the answer.
    let body = br#"{"instructions":"be brief","input":"say two words"}"#;
    assert_eq!(prompt_words(body), (4 + 2) + (4 + 3) + 3);
    let body = br#"{"input":[{"role":"user","content":"one two"},
        {"role":"assistant","content":[{"type":"output_text","text":"three"}]},
        {"type":"function_call_output","call_id":"c","output":"x y z"}]}"#;
    assert_eq!(prompt_words(body), (4 + 2) + (4 + 1) + 4 + 3);
}
