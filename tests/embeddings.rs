//! `workload.endpoint = "embeddings"`: a run against the built-in mock (127.0.0.1 port 0,
//! bounded in requests and time), the settings that do not apply refused at validation, and a
//! server answering chat chunks to an embeddings request classified, not trusted.

mod common;

use common::*;

const PROMPTS: [&str; 2] = ["Say something.", "Tell me more about load testing."];

/// The mock's usage for one text input, counted here from its definition: a token per 4
/// bytes, rounded up, at least 1.
fn mock_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4).max(1)
}

fn embeddings_scenario(base_url: &str, workload_extra: &str, requests: u32) -> String {
    format!(
        r#"
name = "emb"
seed = 7

[[targets]]
name = "sim"
base_url = "{base_url}"
timeouts = {{ connect = "2s", first_token = "5s", idle = "2s", total = "20s" }}

[[models]]
id = "e"
target = "sim"
price = {{ input_per_m = 0.5, output_per_m = 0 }}
mock = {{ ttft = "30ms", embedding_dim = 12 }}

[workload]
endpoint = "embeddings"
prompts = ["{}", "{}"]
{workload_extra}

[load]
concurrency = 2
requests = {requests}
"#,
        PROMPTS[0], PROMPTS[1]
    )
}

#[test]
fn a_run_against_the_mock_measures_batches_without_first_token_figures() {
    const N: u64 = 24;
    const BATCH: u64 = 3;
    let r = run_scenario(
        &embeddings_scenario("mock", "batch_size = 3", N as u32),
        &[],
        &[],
    );
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["ok"], N, "{}", r.stdout);
    assert_eq!(m["requests"]["sent"], N);
    assert_eq!(m["inputs_per_request"], BATCH as f64);
    // No first-token, inter-token or per-output-token figure, not even a zero.
    let lat = m["latency_ms"].as_object().expect("latency_ms");
    for k in [
        "ttft",
        "ttft_answer",
        "ttft_scheduled",
        "tpot",
        "itl",
        "inter_chunk",
    ] {
        assert!(!lat.contains_key(k), "{k} is reported: {lat:?}");
        assert!(!m["histograms"].as_object().expect("h").contains_key(k));
    }
    assert!(!r.result["overall"]["latency_ms"]
        .as_object()
        .expect("overall latency")
        .contains_key("ttft"));
    // Every request waited at least the mock's set latency, end to end.
    assert_eq!(lat["e2e"]["count"], N);
    assert!(lat["e2e"]["min"].as_f64().expect("min") >= 30.0, "{lat:?}");
    // Records: the batch and the mock's own count of each request's inputs, no vectors.
    assert_eq!(r.records.len() as u64, N);
    let mut total = 0;
    for rec in &r.records {
        assert_eq!(rec["outcome"], "ok", "{rec}");
        assert_eq!(rec["inputs"], BATCH);
        assert_eq!(rec["input_tokens_source"], "usage");
        assert!(rec.get("t_first_us").is_none(), "{rec}");
        let n = rec["input_tokens"].as_u64().expect("input tokens");
        assert!(
            PROMPTS.iter().any(|p| n == BATCH * mock_tokens(p)),
            "{n} tokens is no prompt's batch of {BATCH}"
        );
        total += n;
    }
    let t = &m["tokens"];
    assert_eq!(t["input"], total);
    assert_eq!(t["output"], 0);
    // Cost from the input price alone: $0.5 per million input tokens.
    let usd = m["cost"]["total_usd"].as_f64().expect("cost");
    assert!((usd - total as f64 * 0.5 / 1e6).abs() < 1e-12, "{usd}");
    let records = std::fs::read_to_string(r.dir.path().join("out/result.records.jsonl"))
        .expect("records file");
    assert!(!records.contains("embedding"), "a vector was stored");
    // The summary says what was measured.
    assert!(
        r.stdout.contains("embeddings: 3.0 inputs per request"),
        "{}",
        r.stdout
    );
}

#[test]
fn settings_that_do_not_apply_to_embeddings_are_refused_with_their_line() {
    for (extra, field) in [
        ("stream = true", "workload.stream"),
        ("stream = false", "workload.stream"),
        ("max_tokens = 64", "workload.max_tokens"),
        ("temperature = 0.5", "workload.temperature"),
    ] {
        let text = embeddings_scenario("mock", extra, 4);
        let (code, out) = validate(&text);
        assert_eq!(code, 2, "{extra}: {out}");
        let line = line_of(&text, extra);
        assert!(
            out.contains(&format!("scenario.toml:{line}:1: {field}: does not apply")),
            "{extra}: {out}"
        );
    }
    let (code, out) = validate(&embeddings_scenario("mock", "batch_size = 0", 4));
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("workload.batch_size: must be at least 1"),
        "{out}"
    );
    // batch_size belongs to embeddings only.
    let chat = embeddings_scenario("mock", "batch_size = 2", 4)
        .replace("endpoint = \"embeddings\"", "endpoint = \"chat\"");
    let (code, out) = validate(&chat);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("workload.batch_size: `batch_size` applies"),
        "{out}"
    );
    // The valid file validates.
    let (code, out) = validate(&embeddings_scenario("mock", "batch_size = 8", 4));
    assert_eq!(code, 0, "{out}");
}

/// A streamed chat answer.
const CHAT_CHUNKS: &str = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n\
    data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

#[test]
fn chat_chunks_answering_an_embeddings_request_are_a_classified_error() {
    const N: usize = 3;
    for client in ["lean", "reqwest"] {
        let (port, server) = answering_server(N, CHAT_CHUNKS.to_string());
        let text = embeddings_scenario(&format!("http://127.0.0.1:{port}/v1"), "", N as u32)
            .replace("concurrency = 2", "concurrency = 1")
            .replace(
                "timeouts = {",
                &format!("client = \"{client}\"\ntimeouts = {{"),
            );
        let r = run_scenario(&text, &[], &[]);
        let lines: Vec<String> = server
            .join()
            .expect("server")
            .into_iter()
            .map(|g| g.line)
            .collect();
        assert_eq!(lines.len(), N, "{client}: {}", r.stderr);
        assert!(
            lines.iter().all(|l| l == "POST /v1/embeddings HTTP/1.1"),
            "{lines:?}"
        );
        let m = model(&r.result, 0);
        assert_eq!(m["requests"]["ok"], 0, "{client}: {}", r.stdout);
        assert_eq!(
            m["requests"]["errors"]["malformed_chunk"], N,
            "{client}: {m}"
        );
        for rec in &r.records {
            assert_eq!(rec["outcome"], "malformed_chunk", "{rec}");
            assert!(
                rec["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("not JSON")),
                "{rec}"
            );
        }
    }
}
