//! A model with an answers table, over real HTTP on 127.0.0.1:0: the table's answers streamed
//! and whole, on chat and the Responses API, cut at the token limit, made wrong on purpose.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::config::mock::answers::parse;
use crate::config::mock::{MockConfig, MockModel};
use crate::core::dist::Dist;
use crate::engine::mock::MockServer;

const LIMIT: Duration = Duration::from_secs(10);

const TABLE: &str = r#"{"prompt": "What is 7 + 5?", "answer": "7 + 5 = 12"}
{"prompt": "Give the city as JSON.", "answer": "{\"city\": \"Paris\"}\nDone."}
"#;

async fn start(wrong: f64, model: MockModel) -> MockServer {
    let table = parse(TABLE, Path::new("answers.jsonl"), wrong).expect("valid table");
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let cfg = MockConfig {
        default_model: MockModel {
            ttft_ms: Dist::fixed(2.0),
            itl_ms: Dist::fixed(1.0),
            answers: Some(Arc::new(table)),
            ..model
        },
        ..MockConfig::default()
    };
    MockServer::start(l, cfg).await.expect("start")
}

async fn post(url: &str, body: &Value) -> String {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let mut out = Vec::new();
    let mut s = resp.bytes_stream();
    while let Ok(Some(Ok(b))) = tokio::time::timeout(LIMIT, s.next()).await {
        out.extend_from_slice(&b);
    }
    String::from_utf8(out).expect("utf8")
}

/// The data of every SSE event that is JSON.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

/// A streamed chat answer: its content, reasoning, finish reason and usage.
fn chat_stream(text: &str) -> (String, String, String, Value) {
    let (mut content, mut reasoning, mut finish, mut usage) =
        (String::new(), String::new(), String::new(), Value::Null);
    for e in events(text) {
        let d = &e["choices"][0]["delta"];
        content += d["content"].as_str().unwrap_or_default();
        reasoning += d["reasoning_content"].as_str().unwrap_or_default();
        if let Some(f) = e["choices"][0]["finish_reason"].as_str() {
            finish = f.to_string();
        }
        if !e["usage"].is_null() {
            usage = e["usage"].clone();
        }
    }
    (content, reasoning, finish, usage)
}

fn chat(prompt: &str, stream: bool, max_tokens: u64) -> Value {
    json!({"model": "m", "stream": stream, "max_tokens": max_tokens,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}]})
}

#[tokio::test]
async fn chat_answers_from_the_table_streamed_and_whole() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(
            0.0,
            MockModel {
                tokens_per_chunk: 2,
                ..MockModel::default()
            },
        )
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let (content, _, finish, usage) =
            chat_stream(&post(&url, &chat(" What is 7 + 5?\n", true, 50)).await);
        assert_eq!(content, "7 + 5 = 12");
        assert_eq!(finish, "stop");
        assert_eq!(usage["completion_tokens"], 5);

        // Quotes and a line break arrive intact.
        let (content, _, finish, usage) =
            chat_stream(&post(&url, &chat("Give the city as JSON.", true, 50)).await);
        assert_eq!(content, "{\"city\": \"Paris\"}\nDone.");
        assert_eq!(
            (finish.as_str(), usage["completion_tokens"].as_u64()),
            ("stop", Some(3))
        );

        let whole: Value =
            serde_json::from_str(&post(&url, &chat("What is 7 + 5?", false, 50)).await)
                .expect("json");
        assert_eq!(whole["choices"][0]["message"]["content"], "7 + 5 = 12");
        assert_eq!(whole["choices"][0]["finish_reason"], "stop");
        assert_eq!(whole["usage"]["completion_tokens"], 5);

        // An answer exactly as long as the limit is whole; a longer one is cut.
        let (content, _, finish, _) =
            chat_stream(&post(&url, &chat("What is 7 + 5?", true, 5)).await);
        assert_eq!((content.as_str(), finish.as_str()), ("7 + 5 = 12", "stop"));
        let (content, _, finish, usage) =
            chat_stream(&post(&url, &chat("What is 7 + 5?", true, 2)).await);
        assert_eq!((content.as_str(), finish.as_str()), ("7 +", "length"));
        assert_eq!(usage["completion_tokens"], 2);

        // A prompt not in the table gets generated words as usual.
        let (content, _, finish, usage) =
            chat_stream(&post(&url, &chat("What is 7 + 6?", true, 4)).await);
        assert_eq!(content.split_whitespace().count(), 4);
        assert!(content
            .split_whitespace()
            .all(|w| super::super::gen::VOCAB.contains(&format!(" {w}").as_str())));
        assert_eq!(
            (finish.as_str(), usage["completion_tokens"].as_u64()),
            ("length", Some(4))
        );
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn reasoning_words_come_before_the_table_answer() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(
            0.0,
            MockModel {
                reasoning_tokens: 3,
                ..MockModel::default()
            },
        )
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let (content, reasoning, finish, usage) =
            chat_stream(&post(&url, &chat("What is 7 + 5?", true, 50)).await);
        assert_eq!(content, "7 + 5 = 12");
        assert_eq!(reasoning.split_whitespace().count(), 3);
        assert_eq!(finish, "stop");
        assert_eq!(usage["completion_tokens"], 8);
        assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 3);
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn the_responses_api_answers_from_the_table() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(0.0, MockModel::default()).await;
        let url = format!("{}/responses", srv.base_url());
        let body = json!({"model": "m", "stream": true, "input": "Give the city as JSON.", "max_output_tokens": 50});
        let evs = events(&post(&url, &body).await);
        let text: String = evs
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(text, "{\"city\": \"Paris\"}\nDone.");
        let done = evs.iter().find(|e| e["type"] == "response.completed").expect("completed");
        assert_eq!(done["response"]["output"][0]["content"][0]["text"], text);
        assert_eq!(done["response"]["usage"]["output_tokens"], 3);

        let body = json!({"model": "m", "input": [{"role": "user", "content": "What is 7 + 5?"}], "max_output_tokens": 3});
        let whole: Value = serde_json::from_str(&post(&url, &body).await).expect("json");
        assert_eq!(whole["output"][0]["content"][0]["text"], "7 + 5");
        assert_eq!(whole["status"], "incomplete");
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn every_answer_is_wrong_when_wrong_is_1() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(1.0, MockModel::default()).await;
        let url = format!("{}/chat/completions", srv.base_url());
        for stream in [true, false] {
            let text = post(&url, &chat("What is 7 + 5?", stream, 50)).await;
            let content = if stream {
                chat_stream(&text).0
            } else {
                let v: Value = serde_json::from_str(&text).expect("json");
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            };
            assert_eq!(content, crate::config::mock::answers::WRONG_ANSWER);
        }
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}
