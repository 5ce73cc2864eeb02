//! End-to-end tests over real HTTP on 127.0.0.1:0.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::gen::VOCAB;
use super::*;
use crate::config::mock::{MockConfigError, TtftStep};
use crate::core::dist::Dist;

/// Upper bound for any single test.
const LIMIT: Duration = Duration::from_secs(10);

async fn start(cfg: MockConfig) -> MockServer {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    MockServer::start(l, cfg).await.expect("start")
}

fn fast() -> MockModel {
    MockModel {
        ttft_ms: Dist::fixed(5.0),
        itl_ms: Dist::fixed(1.0),
        ..MockModel::default()
    }
}

fn cfg_with(model: MockModel) -> MockConfig {
    MockConfig {
        default_model: model,
        ..MockConfig::default()
    }
}

struct Event {
    at: Duration,
    data: String,
}

impl Event {
    fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.data).ok()
    }
}

struct Streamed {
    status: u16,
    headers: reqwest::header::HeaderMap,
    events: Vec<Event>,
    /// The body stream ended with a transport error.
    error: bool,
    /// Nothing arrived for the silence limit.
    silent: bool,
}

impl Streamed {
    fn jsons(&self) -> Vec<Value> {
        self.events.iter().filter_map(Event::json).collect()
    }

    fn last_is_done(&self) -> bool {
        self.events.last().is_some_and(|e| e.data == "[DONE]")
    }

    fn has_done(&self) -> bool {
        self.events.iter().any(|e| e.data == "[DONE]")
    }

    /// (arrival, text) of each event carrying content (or completion text).
    fn content(&self) -> Vec<(Duration, String)> {
        self.events
            .iter()
            .filter_map(|e| {
                let v = e.json()?;
                let c = &v["choices"][0];
                let t = c["delta"]["content"]
                    .as_str()
                    .or_else(|| c["text"].as_str())?;
                (!t.is_empty()).then(|| (e.at, t.to_string()))
            })
            .collect()
    }

    fn reasoning(&self) -> Vec<String> {
        self.jsons()
            .iter()
            .filter_map(|v| {
                v["choices"][0]["delta"]["reasoning_content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }

    fn usage(&self) -> Option<Value> {
        self.jsons().into_iter().find_map(|v| {
            let u = v.get("usage")?;
            (!u.is_null()).then(|| u.clone())
        })
    }

    fn finish_reasons(&self) -> Vec<String> {
        self.jsons()
            .iter()
            .filter_map(|v| {
                v["choices"][0]["finish_reason"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().build().expect("client")
}

async fn post(url: &str, body: &Value) -> reqwest::Response {
    client()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send")
}

/// Sends a request and reads its SSE events until the end, an error, or `silence`
/// without any data.
async fn stream(url: &str, body: &Value, silence: Duration) -> Streamed {
    let t0 = Instant::now();
    let resp = post(url, body).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Streamed {
        status,
        headers,
        events: Vec::new(),
        error: false,
        silent: false,
    };
    loop {
        match tokio::time::timeout(silence, body.next()).await {
            Err(_) => {
                out.silent = true;
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(_))) => {
                out.error = true;
                break;
            }
            Ok(Some(Ok(b))) => {
                let at = t0.elapsed();
                buf.extend_from_slice(&b);
                while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
                    let ev: Vec<u8> = buf.drain(..pos + 2).collect();
                    let text = String::from_utf8_lossy(&ev[..pos]).to_string();
                    let data = text.strip_prefix("data: ").unwrap_or(&text).to_string();
                    out.events.push(Event { at, data });
                }
            }
        }
    }
    out
}

fn words_ok(text: &str) -> usize {
    let mut n = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let w = VOCAB
            .iter()
            .find(|w| {
                rest.starts_with(**w) && rest[w.len()..].chars().next().is_none_or(|c| c == ' ')
            })
            .unwrap_or_else(|| panic!("not vocabulary text: {rest:?}"));
        rest = &rest[w.len()..];
        n += 1;
    }
    n
}

#[tokio::test]
async fn chat_stream_with_usage_stops_at_max_tokens() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(cfg_with(fast())).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let body = json!({"model": "mock-model", "stream": true, "max_tokens": 7,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hello world!"}]});
        let r = stream(&url, &body, Duration::from_secs(5)).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.headers.get("content-type").and_then(|v| v.to_str().ok()),
            Some("text/event-stream")
        );
        assert!(!r.error && !r.silent);
        let first = r.events[0].json().expect("json");
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(first["object"], "chat.completion.chunk");
        assert!(first["id"]
            .as_str()
            .is_some_and(|s| s.starts_with("chatcmpl-mock-")));
        assert_eq!(first["model"], "mock-model");
        let content = r.content();
        assert_eq!(content.len(), 7);
        let text: String = content.iter().map(|(_, t)| t.as_str()).collect();
        assert_eq!(words_ok(&text), 7);
        assert_eq!(r.finish_reasons(), vec!["length".to_string()]);
        let u = r.usage().expect("usage");
        assert_eq!(u["completion_tokens"], 7);
        assert_eq!(u["prompt_tokens"], 3); // 12 bytes / 4
        assert_eq!(u["total_tokens"], 10);
        assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
        // The usage chunk has no choices and precedes [DONE].
        let n = r.events.len();
        assert_eq!(
            r.events[n - 2].json().expect("usage json")["choices"],
            json!([])
        );
        assert!(r.last_is_done());
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn tokens_per_chunk_groups_tokens() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(cfg_with(MockModel {
            tokens_per_chunk: 4,
            output_tokens: Some(Dist::fixed(10.0)),
            ..fast()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let body = json!({"stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}]});
        let r = stream(&url, &body, Duration::from_secs(5)).await;
        let sizes: Vec<usize> = r.content().iter().map(|(_, t)| words_ok(t)).collect();
        assert_eq!(sizes, vec![4, 4, 2]);
        assert_eq!(r.usage().expect("usage")["completion_tokens"], 10);
        assert_eq!(r.finish_reasons(), vec!["stop".to_string()]);
        assert!(r.last_is_done());
        // Without include_usage there is no usage chunk.
        let body = json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let r = stream(&url, &body, Duration::from_secs(5)).await;
        assert!(r.usage().is_none());
        assert!(r.last_is_done());
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn reasoning_tokens_come_first_and_are_counted() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(cfg_with(MockModel {
            reasoning_tokens: 3,
            output_tokens: Some(Dist::fixed(4.0)),
            ..fast()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let body = json!({"stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "think"}]});
        let r = stream(&url, &body, Duration::from_secs(5)).await;
        let kinds: Vec<&str> = r
            .jsons()
            .iter()
            .filter_map(|v| {
                let d = &v["choices"][0]["delta"];
                if d["reasoning_content"].is_string() {
                    Some("r")
                } else if d["content"].as_str().is_some_and(|s| !s.is_empty()) {
                    Some("c")
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(kinds, vec!["r", "r", "r", "c", "c", "c", "c"]);
        assert_eq!(words_ok(&r.reasoning().concat()), 3);
        let u = r.usage().expect("usage");
        assert_eq!(u["completion_tokens"], 7);
        assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 3);

        // Non-streamed: reasoning_content in the message.
        let v: Value = post(
            &url,
            &json!({"messages": [{"role": "user", "content": "x"}]}),
        )
        .await
        .json_value()
        .await;
        let m = &v["choices"][0]["message"];
        assert_eq!(
            words_ok(m["reasoning_content"].as_str().expect("reasoning")),
            3
        );
        assert_eq!(words_ok(m["content"].as_str().expect("content")), 4);
        assert_eq!(
            v["usage"]["completion_tokens_details"]["reasoning_tokens"],
            3
        );

        // The request's limit includes reasoning tokens.
        let r = stream(
            &url,
            &json!({"stream": true, "max_tokens": 5, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "x"}]}),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(r.reasoning().len(), 3);
        assert_eq!(r.content().len(), 2);
        assert_eq!(r.finish_reasons(), vec!["length".to_string()]);
        assert_eq!(r.usage().expect("usage")["completion_tokens"], 5);
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let b = self.bytes().await.expect("body");
        serde_json::from_slice(&b).expect("JSON body")
    }
}

#[tokio::test]
async fn completions_streaming_and_not() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(cfg_with(MockModel {
            ttft_ms: Dist::fixed(30.0),
            itl_ms: Dist::fixed(10.0),
            ..MockModel::default()
        }))
        .await;
        let url = format!("{}/completions", srv.base_url());
        let body = json!({"model": "x", "stream": true, "max_tokens": 5, "prompt": "once upon a time",
            "stream_options": {"include_usage": true}});
        let r = stream(&url, &body, Duration::from_secs(5)).await;
        assert_eq!(r.status, 200);
        let first = r.events[0].json().expect("json");
        assert_eq!(first["object"], "text_completion");
        assert!(first["id"].as_str().is_some_and(|s| s.starts_with("cmpl-mock-")));
        assert_eq!(first["model"], "x");
        assert_eq!(r.content().len(), 5);
        assert_eq!(r.finish_reasons(), vec!["length".to_string()]);
        let u = r.usage().expect("usage");
        assert_eq!((u["prompt_tokens"].as_u64(), u["completion_tokens"].as_u64()), (Some(4), Some(5)));
        assert!(r.last_is_done());

        // Non-streamed: waits ttft + 5 gaps (30 + 50 ms) and returns everything.
        let t0 = Instant::now();
        let resp = post(&url, &json!({"max_tokens": 6, "prompt": ["ab", "cd"]})).await;
        assert_eq!(resp.status(), 200);
        let v = resp.json_value().await;
        assert!(t0.elapsed() >= Duration::from_millis(80), "{:?}", t0.elapsed());
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["model"], "mock-model");
        assert_eq!(words_ok(v["choices"][0]["text"].as_str().expect("text")), 6);
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        assert_eq!(v["usage"]["prompt_tokens"], 1);
        assert_eq!(v["usage"]["completion_tokens"], 6);
        assert_eq!(v["usage"]["total_tokens"], 7);
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn ttft_is_honoured() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(cfg_with(MockModel {
            ttft_ms: Dist::fixed(100.0),
            itl_ms: Dist::fixed(5.0),
            ..MockModel::default()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let body = json!({"stream": true, "max_tokens": 20, "messages": [{"role": "user", "content": "x"}]});
        let r = stream(&url, &body, Duration::from_secs(5)).await;
        let content = r.content();
        assert_eq!(content.len(), 20);
        let first = content[0].0;
        assert!(first >= Duration::from_millis(100), "first token at {first:?}");
        assert!(first < Duration::from_millis(400), "first token at {first:?}");
        // 19 gaps of 5 ms after the first token, measured against absolute deadlines.
        let last = content[19].0;
        assert!(last >= Duration::from_millis(195), "last token at {last:?}");
        assert!(last < Duration::from_millis(600), "last token at {last:?}");
        // The role chunk comes before the first token.
        assert!(r.events[0].at < first);
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

fn faulty(f: Faults) -> MockConfig {
    cfg_with(MockModel {
        output_tokens: Some(Dist::fixed(10.0)),
        faults: f,
        ..fast()
    })
}

fn chat_body() -> Value {
    json!({"stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "x"}]})
}

#[tokio::test]
async fn fault_rate_limit_and_server_error() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(faulty(Faults {
            rate_limit: 1.0,
            retry_after_s: Some(7),
            ..Faults::default()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let resp = post(&url, &chat_body()).await;
        assert_eq!(resp.status(), 429);
        assert_eq!(
            resp.headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        let v = resp.json_value().await;
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
        srv.shutdown().await;

        let srv = start(faulty(Faults {
            server_error: 1.0,
            ..Faults::default()
        }))
        .await;
        let url = format!("{}/completions", srv.base_url());
        let resp = post(&url, &json!({"prompt": "x"})).await;
        assert_eq!(resp.status(), 500);
        assert!(resp.headers().get("retry-after").is_none());
        let v = resp.json_value().await;
        assert_eq!(v["error"]["type"], "server_error");
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn fault_disconnect_cuts_the_stream() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(faulty(Faults {
            disconnect: 1.0,
            ..Faults::default()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let r = stream(&url, &chat_body(), Duration::from_secs(5)).await;
        // The connection is cut mid-body: hyper usually reports a body error, but under load
        // the client may only see the end of the connection. Either way nothing after the
        // cut arrives: no finish_reason, no [DONE], and the stream did not go silent.
        assert!(!r.silent, "the cut must end the stream, not stall it");
        assert!(!r.has_done());
        // Chunks still in hyper's write buffer when the connection is aborted may be lost, so
        // the client gets at most the first half.
        assert!(r.content().len() <= 5, "{} chunks", r.content().len());
        assert!(r.finish_reasons().is_empty());
        // Non-streamed: the body fails too.
        let res = client()
            .post(&url)
            .body(json!({"messages": []}).to_string())
            .send()
            .await;
        match res {
            Ok(resp) => assert!(resp.bytes().await.is_err()),
            Err(e) => assert!(e.is_request(), "{e}"),
        }
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn fault_malformed_event_then_normal_stream() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(faulty(Faults {
            malformed: 1.0,
            ..Faults::default()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let r = stream(&url, &chat_body(), Duration::from_secs(5)).await;
        let bad: Vec<&Event> = r
            .events
            .iter()
            .filter(|e| e.data != "[DONE]" && e.json().is_none())
            .collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].data, "{not json");
        assert_eq!(r.content().len(), 10);
        assert!(r.last_is_done());
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn fault_error_event_ends_the_stream() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(faulty(Faults {
            error_event: 1.0,
            ..Faults::default()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let r = stream(&url, &chat_body(), Duration::from_secs(5)).await;
        assert!(!r.error && !r.silent);
        assert!(!r.has_done());
        let last = r.events.last().and_then(Event::json).expect("json event");
        assert_eq!(last["error"]["type"], "server_error");
        assert_eq!(r.content().len(), 5);
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn fault_stall_goes_silent() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(faulty(Faults {
            stall: 1.0,
            ..Faults::default()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let r = stream(&url, &chat_body(), Duration::from_millis(500)).await;
        assert!(r.silent, "expected silence");
        assert!(!r.error && !r.has_done());
        assert_eq!(r.content().len(), 5);
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn shutdown_ends_a_stalled_stream_promptly() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(faulty(Faults {
            stall: 1.0,
            ..Faults::default()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let reader =
            tokio::spawn(async move { stream(&url, &chat_body(), Duration::from_secs(8)).await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let t0 = Instant::now();
        srv.shutdown().await;
        let took = t0.elapsed();
        assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
        let r = reader.await.expect("reader");
        assert!(!r.silent, "the stream should end, not stay silent");
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert!(!r.has_done());
        assert_eq!(r.content().len(), 5);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrency_queues_requests() {
    tokio::time::timeout(LIMIT, async {
        // Judged on the mock's own timeline (its truth log), not on when the client read the
        // bytes: on a busy machine the client's reads lag by tens of ms, the schedule does not.
        let path = std::env::temp_dir().join(format!(
            "llmload-mock-queue-{}-{:?}.jsonl",
            std::process::id(),
            Instant::now()
        ));
        let _ = std::fs::remove_file(&path);
        let mut cfg = cfg_with(MockModel {
            ttft_ms: Dist::fixed(100.0),
            itl_ms: Dist::fixed(20.0),
            output_tokens: Some(Dist::fixed(10.0)),
            max_concurrency: Some(1),
            ..MockModel::default()
        });
        cfg.truth_log = Some(path.clone());
        let srv = start(cfg).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let a = {
            let url = url.clone();
            tokio::spawn(async move { stream(&url, &chat_body(), Duration::from_secs(5)).await })
        };
        // b arrives while a is served (a takes 100 ms + 9 × 20 ms).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let b =
            tokio::spawn(async move { stream(&url, &chat_body(), Duration::from_secs(5)).await });
        let (a, b) = (a.await.expect("a"), b.await.expect("b"));
        assert_eq!(a.content().len(), 10);
        assert!(b.last_is_done());
        srv.shutdown().await;

        let text = std::fs::read_to_string(&path).expect("truth log");
        let _ = std::fs::remove_file(&path);
        let mut log: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(log.len(), 2);
        // Served one after the other: the first is the one whose tokens came first (two
        // requests sent 20 ms apart can reach the server in either order).
        log.sort_by_key(|l| l["first_token_unix_us"].as_u64());
        let us = |l: &Value, k: &str| l[k].as_u64().expect(k);
        let (first, second) = (&log[0], &log[1]);
        assert!(
            us(second, "received_unix_us") < us(first, "last_token_unix_us"),
            "the second arrived while the first was served: {first} {second}"
        );
        // The second's clock starts when the first is done: its first token comes a whole TTFT
        // after the first's last.
        assert!(
            us(second, "first_token_unix_us") >= us(first, "last_token_unix_us") + 100_000,
            "first {first}, second {second}"
        );
        // The queued request got its role chunk (headers) at once, not when the queue let it
        // in: its first token came the wait (about 280 ms) plus the TTFT after it.
        let gap = |r: &Streamed| r.content()[0].0.saturating_sub(r.events[0].at);
        let queued_gap = gap(&a).max(gap(&b));
        assert!(
            queued_gap >= Duration::from_millis(200),
            "role chunk to first token: {:?} and {:?}",
            gap(&a),
            gap(&b)
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn bad_requests_unknown_model_and_listing() {
    tokio::time::timeout(LIMIT, async {
        let mut cfg = cfg_with(fast());
        cfg.models.insert(
            "big".to_string(),
            MockModel {
                output_tokens: Some(Dist::fixed(3.0)),
                ..fast()
            },
        );
        let srv = start(cfg).await;
        let base = srv.base_url();
        let c = client();
        let resp = c
            .post(format!("{base}/chat/completions"))
            .body("{\"messages\": [")
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 400);
        let v = resp.json_value().await;
        assert_eq!(v["error"]["type"], "invalid_request_error");
        for bad in [
            json!({"model": "x"}),
            json!({"messages": "hi"}),
            json!({"messages": [], "max_tokens": "ten"}),
            json!({"messages": [], "max_tokens": 0}),
            json!({"messages": [], "max_tokens": -1}),
            json!({"messages": [], "stream": "yes"}),
        ] {
            let resp = post(&format!("{base}/chat/completions"), &bad).await;
            assert_eq!(resp.status(), 400, "{bad}");
            assert!(resp.json_value().await["error"]["message"].is_string());
        }
        let resp = post(&format!("{base}/completions"), &json!({"prompt": {}})).await;
        assert_eq!(resp.status(), 400);

        // Unknown model: served by the default model (16 tokens), its name echoed.
        let v = post(
            &format!("{base}/chat/completions"),
            &json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await
        .json_value()
        .await;
        assert_eq!(v["model"], "nope");
        assert_eq!(v["usage"]["completion_tokens"], 16);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        // A configured model uses its own settings.
        let v = post(
            &format!("{base}/chat/completions"),
            &json!({"model": "big", "messages": [{"role": "user", "content": "x"}]}),
        )
        .await
        .json_value()
        .await;
        assert_eq!(v["usage"]["completion_tokens"], 3);

        let v = c
            .get(format!("{base}/models"))
            .send()
            .await
            .expect("send")
            .json_value()
            .await;
        let ids: Vec<&str> = v["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(ids, vec!["mock-model", "big"]);
        let resp = c
            .get(format!("http://{}/health", srv.addr()))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), 200);
        let resp = c.get(format!("{base}/nothing")).send().await.expect("send");
        assert_eq!(resp.status(), 404);
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn truth_log_records_every_request() {
    tokio::time::timeout(LIMIT, async {
        let path = std::env::temp_dir().join(format!(
            "llmload-mock-truth-{}-{:?}.jsonl",
            std::process::id(),
            Instant::now()
        ));
        let _ = std::fs::remove_file(&path);
        let mut cfg = cfg_with(fast());
        cfg.seed = 42;
        cfg.truth_log = Some(path.clone());
        cfg.models.insert(
            "limited".into(),
            MockModel {
                faults: Faults {
                    rate_limit: 1.0,
                    ..Faults::default()
                },
                ..fast()
            },
        );
        let srv = start(cfg).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let r = stream(
            &url,
            &json!({"stream": true, "max_tokens": 4, "messages": []}),
            Duration::from_secs(5),
        )
        .await;
        assert!(r.last_is_done());
        let v = post(&url, &json!({"max_tokens": 3, "messages": []}))
            .await
            .json_value()
            .await;
        assert_eq!(v["usage"]["completion_tokens"], 3);
        let v = post(
            &format!("{}/completions", srv.base_url()),
            &json!({"max_tokens": 2, "prompt": "x", "stream": true}),
        )
        .await
        .bytes()
        .await
        .expect("body");
        assert!(!v.is_empty());
        let resp = post(&url, &json!({"model": "limited", "messages": []})).await;
        assert_eq!(resp.status(), 429);
        srv.shutdown().await;

        let text = std::fs::read_to_string(&path).expect("truth log");
        let _ = std::fs::remove_file(&path);
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON line"))
            .collect();
        assert_eq!(lines.len(), 4);
        let (limited, lines): (Vec<&Value>, Vec<&Value>) =
            lines.iter().partition(|l| l["model"] == "limited");
        assert_eq!(limited.len(), 1);
        assert_eq!(limited[0]["fault"], "rate_limit");
        assert_eq!(limited[0]["status"], 429);
        assert!(limited[0]["first_token_unix_us"].is_null());
        let mut tokens: Vec<u64> = Vec::new();
        for l in lines {
            let rec = l["received_unix_us"].as_u64().expect("received");
            let first = l["first_token_unix_us"].as_u64().expect("first");
            let last = l["last_token_unix_us"].as_u64().expect("last");
            assert!(first >= rec && last >= first, "{l}");
            assert!(first - rec >= 5_000, "{l}");
            assert!(l["fault"].is_null());
            assert_eq!(l["completed"], true);
            assert!(l["id"].as_str().is_some_and(|s| s.contains("mock-42-")));
            tokens.push(l["completion_tokens"].as_u64().expect("tokens"));
        }
        tokens.sort_unstable();
        assert_eq!(tokens, vec![2, 3, 4]);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn same_seed_same_text() {
    tokio::time::timeout(LIMIT, async {
        let mut texts = Vec::new();
        for seed in [1, 1, 2] {
            let mut cfg = cfg_with(MockModel {
                ttft_ms: Dist::Uniform { min: 1.0, max: 3.0 },
                itl_ms: Dist::fixed(0.0),
                output_tokens: Some(Dist::Uniform {
                    min: 10.0,
                    max: 30.0,
                }),
                ..MockModel::default()
            });
            cfg.seed = seed;
            let srv = start(cfg).await;
            let url = format!("{}/chat/completions", srv.base_url());
            let mut t = String::new();
            for _ in 0..3 {
                let v = post(&url, &json!({"messages": []}))
                    .await
                    .json_value()
                    .await;
                t.push_str(
                    v["choices"][0]["message"]["content"]
                        .as_str()
                        .expect("content"),
                );
                t.push('|');
            }
            srv.shutdown().await;
            texts.push(t);
        }
        assert_eq!(texts[0], texts[1]);
        assert_ne!(texts[0], texts[2]);
    })
    .await
    .expect("test timed out");
}

#[test]
fn server_handle_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<MockServer>();
    check::<MockConfig>();
}

#[tokio::test]
async fn invalid_configs_are_rejected() {
    let bad = |f: &dyn Fn(&mut MockModel)| {
        let mut m = MockModel::default();
        f(&mut m);
        cfg_with(m).validate()
    };
    assert!(MockConfig::default().validate().is_ok());
    assert!(bad(&|m| m.tokens_per_chunk = 0).is_err());
    assert!(bad(&|m| m.max_concurrency = Some(0)).is_err());
    assert!(bad(&|m| m.faults.stall = 1.5).is_err());
    assert!(bad(&|m| m.faults.malformed = f64::NAN).is_err());
    assert!(bad(&|m| m.faults.rate_limit = -0.1).is_err());
    assert!(matches!(
        bad(&|m| {
            m.faults.stall = 0.6;
            m.faults.disconnect = 0.6;
        }),
        Err(MockConfigError::ProbabilitySum { .. })
    ));
    assert!(bad(&|m| m.itl_ms = Dist::fixed(-1.0)).is_err());
    let mut cfg = MockConfig::default();
    cfg.models.insert(
        "m".into(),
        MockModel {
            output_tokens: Some(Dist::Uniform { min: 5.0, max: 1.0 }),
            ..MockModel::default()
        },
    );
    assert!(matches!(cfg.validate(), Err(MockConfigError::Dist { .. })));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let err = MockServer::start(l, cfg).await.err().expect("must fail");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn fault_names_follow_the_draw_order_and_are_validated() {
    let mut f = Faults::default();
    for (i, (name, _)) in Faults::default().probabilities().iter().enumerate() {
        assert!(f.set(name, 0.01 * (i + 1) as f64), "{name}");
    }
    // `set` and `probabilities` agree on every name.
    for (i, (_, p)) in f.probabilities().iter().enumerate() {
        assert!((p - 0.01 * (i + 1) as f64).abs() < 1e-12);
    }
    // Each fault is drawn under its own name.
    for (name, _) in Faults::default().probabilities() {
        let mut only = Faults::default();
        only.set(name, 1.0);
        let cfg = faulty(only);
        assert_eq!(cfg.fault_of(DEFAULT_MODEL_ID, 3), Some(name));
        assert!(cfg.validate().is_ok());
    }
    let mut bad = Faults::default();
    assert!(bad.apply_spec("reset=1.5").is_err());
    assert!(bad.apply_spec("reset").is_err());
    assert!(bad.apply_spec("nope=0.1").unwrap_err().contains("no_done"));
    assert!(bad.apply_spec("no_done=0.6").is_ok());
    assert!(bad.apply_spec("endless = 0.6").is_ok());
    assert!(matches!(
        faulty(bad).validate(),
        Err(MockConfigError::ProbabilitySum { .. })
    ));
    let mut nan = Faults::default();
    nan.set("invalid_utf8", f64::NAN);
    assert!(faulty(nan).validate().is_err());
}

#[tokio::test]
async fn hostile_faults_on_the_wire() {
    tokio::time::timeout(LIMIT, async {
        let with = |name: &str| {
            let mut f = Faults::default();
            f.set(name, 1.0);
            faulty(f)
        };
        // html_error: a 503 page.
        let srv = start(with("html_error")).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let resp = post(&url, &chat_body()).await;
        assert_eq!(resp.status(), 503);
        let ct = resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .to_string();
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(resp.text().await.unwrap_or_default().contains("<html>"));
        srv.shutdown().await;

        // wrong_content_type: a whole JSON completion for a streaming request.
        let srv = start(with("wrong_content_type")).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let resp = post(&url, &chat_body()).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let v = resp.json_value().await;
        assert_eq!(v["object"], "chat.completion");
        srv.shutdown().await;

        // no_done: all content, then a clean end with no finish_reason, usage or [DONE].
        let srv = start(with("no_done")).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let s = stream(&url, &chat_body(), Duration::from_secs(2)).await;
        assert!(!s.error && !s.silent);
        assert_eq!(s.content().len(), 10);
        assert!(!s.has_done() && s.finish_reasons().is_empty() && s.usage().is_none());
        srv.shutdown().await;

        // usage_mismatch: ten tokens streamed, five reported.
        let srv = start(with("usage_mismatch")).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let s = stream(&url, &chat_body(), Duration::from_secs(2)).await;
        assert_eq!(s.content().len(), 10);
        assert_eq!(s.usage().expect("usage")["completion_tokens"], 5);
        assert!(s.last_is_done());
        srv.shutdown().await;

        // invalid_utf8: one event whose data is not UTF-8, then a normal end.
        let srv = start(with("invalid_utf8")).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let resp = post(&url, &chat_body()).await;
        let body = resp.bytes().await.expect("body");
        assert!(std::str::from_utf8(&body).is_err());
        assert!(body.ends_with(b"data: [DONE]\n\n"));
        srv.shutdown().await;

        // reset: half the stream, then a TCP reset.
        let srv = start(with("reset")).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let s = stream(&url, &chat_body(), Duration::from_secs(2)).await;
        assert!(s.error, "the body ends in an error");
        // Fewer than the ten tokens asked for. Not "at least one": a reset discards what the
        // receiving kernel had buffered and the client had not read yet, so on a busy machine
        // the first half can be lost with the connection.
        assert!(s.content().len() < 10, "{} tokens", s.content().len());
        srv.shutdown().await;

        // endless: far more than the request asked for, without end.
        let srv = start(with("endless")).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let resp = post(&url, &chat_body()).await;
        let mut body = resp.bytes_stream();
        let mut got = 0usize;
        while got < 4 << 20 {
            got += body.next().await.expect("more").expect("bytes").len();
        }
        drop(body);
        srv.shutdown().await;

        // no_headers: not even a status line within a second.
        let srv = start(with("no_headers")).await;
        let url = format!("{}/chat/completions", srv.base_url());
        let sent = tokio::time::timeout(
            Duration::from_secs(1),
            client().post(&url).body(chat_body().to_string()).send(),
        )
        .await;
        assert!(sent.is_err(), "headers came");
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// A TTFT step takes effect for requests received after it begins, counted from the first
/// request: the first request waits the base TTFT, one sent after the step waits the step's.
#[tokio::test]
async fn ttft_step_changes_ttft_from_its_start() {
    tokio::time::timeout(LIMIT, async {
        let srv = start(cfg_with(MockModel {
            ttft_ms: Dist::fixed(20.0),
            ttft_steps: vec![TtftStep {
                after_s: 0.4,
                ttft_ms: Dist::fixed(300.0),
            }],
            output_tokens: Some(Dist::fixed(2.0)),
            ..fast()
        }))
        .await;
        let url = format!("{}/chat/completions", srv.base_url());
        let body = json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let first_token = |r: &Streamed| r.content().first().map(|(at, _)| *at).expect("tokens");
        let before = first_token(&stream(&url, &body, Duration::from_secs(5)).await);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = first_token(&stream(&url, &body, Duration::from_secs(5)).await);
        // The mock never sends a token before its deadline; the upper bound is wide for load.
        assert!(before >= Duration::from_millis(20), "{before:?}");
        assert!(before < Duration::from_millis(290), "{before:?}");
        assert!(after >= Duration::from_millis(300), "{after:?}");
        srv.shutdown().await;
    })
    .await
    .expect("test timed out");
}

#[test]
fn ttft_step_parses_and_the_latest_begun_applies() {
    let s = TtftStep::parse("5s=400ms").expect("valid");
    assert_eq!(s.after_s, 5.0);
    assert_eq!(s.ttft_ms, Dist::fixed(400.0));
    for bad in ["5s", "x=400ms", "5s=fast"] {
        assert!(TtftStep::parse(bad).is_err(), "{bad}");
    }
    let m = MockModel {
        ttft_ms: Dist::fixed(100.0),
        ttft_steps: vec![
            TtftStep::parse("10s=50ms").expect("valid"),
            TtftStep::parse("5s=400ms").expect("valid"),
        ],
        ..MockModel::default()
    };
    let at = |s: f64| m.ttft_at(Duration::from_secs_f64(s)).clone();
    assert_eq!(at(0.0), Dist::fixed(100.0));
    assert_eq!(at(4.99), Dist::fixed(100.0));
    assert_eq!(at(5.0), Dist::fixed(400.0));
    assert_eq!(at(12.0), Dist::fixed(50.0));
    let bad = MockModel {
        ttft_steps: vec![TtftStep {
            after_s: -1.0,
            ttft_ms: Dist::fixed(1.0),
        }],
        ..MockModel::default()
    };
    assert!(bad.validate("m").is_err());
}
