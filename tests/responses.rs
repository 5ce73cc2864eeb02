//! `workload.endpoint = "responses"`: a run against the built-in mock whose timing is set
//! (127.0.0.1 port 0, bounded in requests and time), the request a server receives, settings
//! that do not apply refused at validation, and a server answering the other API's shape
//! classified with both clients.

mod common;

use common::*;

/// A scenario on `base_url` whose model the mock runs with TTFT 60 ms, 8 ms between tokens,
/// 6 answer tokens after 3 reasoning tokens, one token per event. Two classes: `long` (room
/// for the whole answer) and `cut` (a limit of 5 tokens: 3 reasoning, 2 answer).
fn responses_scenario(base_url: &str, workload_extra: &str, requests: u32) -> String {
    format!(
        r#"
name = "resp"
seed = 7

[[targets]]
name = "sim"
base_url = "{base_url}"
timeouts = {{ connect = "2s", first_token = "5s", idle = "2s", total = "20s" }}

[[models]]
id = "r"
target = "sim"
price = {{ input_per_m = 1.0, output_per_m = 4.0 }}
mock = {{ ttft = "60ms", itl = "8ms", output_tokens = 6, reasoning_tokens = 3 }}

[workload]
endpoint = "responses"
system = "be brief"
{workload_extra}

[[workload.classes]]
name = "long"
prompts = ["Say something."]
max_tokens = 64

[[workload.classes]]
name = "cut"
prompts = ["Tell me more about load testing."]
max_tokens = 5

[load]
concurrency = 2
requests = {requests}
"#
    )
}

/// The mock's input tokens for a prompt with the system prompt: a token per 4 bytes of
/// instructions and input together, rounded up, at least 1.
fn mock_tokens(prompt: &str) -> u64 {
    (("be brief".len() + prompt.len()) as u64)
        .div_ceil(4)
        .max(1)
}

#[test]
fn a_run_against_the_mock_reads_first_token_answer_and_gaps_from_typed_events() {
    const N: u64 = 24;
    let r = run_scenario(&responses_scenario("mock", "", N as u32), &[], &[]);
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["ok"], N, "{}", r.stdout);
    let lat = &m["latency_ms"];
    // TTFT: the first reasoning delta, the mock's 60 ms after the request arrived.
    let ttft = &lat["ttft"];
    assert_eq!(ttft["count"], N);
    assert!(ttft["min"].as_f64().expect("min") >= 60.0, "{ttft}");
    assert!(ttft["p50"].as_f64().expect("p50") < 60.0 + 40.0, "{ttft}");
    // TTFT-answer: after the 3 reasoning tokens, 3 gaps of 8 ms later (84 ms).
    let answer = &lat["ttft_answer"];
    assert!(
        answer["min"].as_f64().expect("min") >= 60.0 + 3.0 * 8.0 - 2.0,
        "{answer}"
    );
    assert!(
        answer["p50"].as_f64().expect("p50") < 84.0 + 40.0,
        "{answer}"
    );
    // Inter-token gaps: one event per token, 8 ms apart.
    let itl = lat["itl"]["p50"].as_f64().expect("itl p50");
    assert!((6.0..14.0).contains(&itl), "{}", lat["itl"]);
    // Records: output tokens from the server's usage, the finish reason of each class.
    let (mut input, mut output) = (0, 0);
    for rec in &r.records {
        assert_eq!(rec["outcome"], "ok", "{rec}");
        assert_eq!(rec["output_tokens_source"], "usage", "{rec}");
        assert_eq!(rec["reasoning_tokens"], 3, "{rec}");
        let (prompt, tokens, finish) = match rec["class"].as_str() {
            Some("long") => ("Say something.", 9, "stop"),
            Some("cut") => ("Tell me more about load testing.", 5, "length"),
            other => panic!("class {other:?}"),
        };
        assert_eq!(rec["output_tokens"], tokens, "{rec}");
        assert_eq!(rec["output_events"], tokens, "{rec}");
        assert_eq!(rec["finish_reason"], finish, "{rec}");
        assert_eq!(rec["input_tokens"], mock_tokens(prompt), "{rec}");
        assert!(
            rec["response_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("resp-mock-")),
            "{rec}"
        );
        input += mock_tokens(prompt);
        output += tokens;
    }
    let t = &m["tokens"];
    assert_eq!(t["input"], input);
    assert_eq!(t["output"], output);
    assert_eq!(t["reasoning"], 3 * N);
    // Cost: $1 per million input tokens, $4 per million output tokens.
    let usd = m["cost"]["total_usd"].as_f64().expect("cost");
    let want = (input as f64 * 1.0 + output as f64 * 4.0) / 1e6;
    assert!((usd - want).abs() < 1e-12, "{usd} vs {want}");
}

#[test]
fn a_non_streamed_run_reads_whole_response_objects() {
    const N: u64 = 6;
    let r = run_scenario(
        &responses_scenario("mock", "stream = false", N as u32),
        &[],
        &[],
    );
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["ok"], N, "{}", r.stdout);
    for rec in &r.records {
        assert_eq!(rec["outcome"], "ok", "{rec}");
        let (tokens, finish) = match rec["class"].as_str() {
            Some("long") => (9, "stop"),
            _ => (5, "length"),
        };
        assert_eq!(rec["output_tokens"], tokens, "{rec}");
        assert_eq!(rec["finish_reason"], finish, "{rec}");
        // Whole: 60 ms + 8 gaps of 8 ms (long) or 4 (cut) before the body.
        let e2e = rec["t_end_us"].as_u64().expect("end") - rec["t_send_us"].as_u64().expect("send");
        let gaps = tokens - 1;
        assert!(e2e >= (60 + gaps * 8 - 2) * 1000, "{rec}");
    }
}

#[test]
fn settings_the_responses_api_has_no_parameter_for_are_refused_with_their_line() {
    for (extra, field, why) in [
        (
            "seed = 42",
            "workload.seed",
            "does not apply to endpoint = \"responses\"",
        ),
        (
            "batch_size = 4",
            "workload.batch_size",
            "`batch_size` applies to endpoint = \"embeddings\" only",
        ),
    ] {
        let text = responses_scenario("mock", extra, 4);
        let (code, out) = validate(&text);
        assert_eq!(code, 2, "{extra}: {out}");
        let line = line_of(&text, extra);
        assert!(
            out.contains(&format!("scenario.toml:{line}:1: {field}: {why}")),
            "{extra}: {out}"
        );
    }
    // The body table cannot send a field llmload sets itself.
    let text = responses_scenario("mock", "", 4).replace(
        "timeouts = {",
        "body = { max_output_tokens = 16 }\ntimeouts = {",
    );
    let (code, out) = validate(&text);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&text, "body = ");
    assert!(
        out.contains(&format!(
            "scenario.toml:{line}:10: targets[0].body.max_output_tokens: `max_output_tokens` is set by llmload itself"
        )),
        "{out}"
    );
    // A system prompt, temperature, streaming choice and sessions all apply.
    let text = responses_scenario(
        "mock",
        "temperature = 0.2\nstream = true\nsessions = { turns = 2 }",
        4,
    );
    let (code, out) = validate(&text);
    assert_eq!(code, 0, "{out}");
}

const CHAT_CHUNKS: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}\n\n\
    data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

const TYPED_EVENTS: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\"}}\n\n\
    event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":\"hi\"}\n\n\
    event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n";

/// Runs `scenario` (written for `base_url`) against a server answering `answer`, once per
/// client; returns each client's run and what the server received.
fn against(
    answer: &str,
    scenario: impl Fn(&str) -> String,
    n: usize,
) -> Vec<(&'static str, Run, Vec<Received>)> {
    ["lean", "reqwest"]
        .into_iter()
        .map(|client| {
            let (port, server) = answering_server(n, answer.to_string());
            let text = scenario(&format!("http://127.0.0.1:{port}/v1?api-version=2025-04"))
                .replace("concurrency = 2", "concurrency = 1")
                .replace(
                    "timeouts = {",
                    &format!("client = \"{client}\"\ntimeouts = {{"),
                );
            let r = run_scenario(&text, &[], &[]);
            let got = server.join().expect("server");
            (client, r, got)
        })
        .collect()
}

#[test]
fn a_responses_request_carries_the_conversation_and_chat_chunks_answering_it_are_classified() {
    const N: usize = 2;
    let scenario = |url: &str| responses_scenario(url, "temperature = 0.3", N as u32);
    for (client, r, got) in against(CHAT_CHUNKS, scenario, N) {
        assert_eq!(got.len(), N, "{client}: {}", r.stderr);
        for g in &got {
            // The path goes before the base URL's query string.
            assert_eq!(g.line, "POST /v1/responses?api-version=2025-04 HTTP/1.1");
            let b = &g.body;
            assert_eq!(b["model"], "r");
            assert_eq!(b["instructions"], "be brief");
            assert!(b["input"].is_string(), "plain text goes as a string: {b}");
            assert!(
                [64, 5].contains(&b["max_output_tokens"].as_u64().unwrap_or(0)),
                "{b}"
            );
            assert_eq!(b["stream"], true);
            assert_eq!(b["temperature"], 0.3);
            for absent in ["max_tokens", "messages", "stream_options", "seed"] {
                assert!(b.get(absent).is_none(), "{absent} sent: {b}");
            }
        }
        let m = model(&r.result, 0);
        assert_eq!(m["requests"]["ok"], 0, "{client}: {}", r.stdout);
        assert_eq!(
            m["requests"]["errors"]["malformed_chunk"], N,
            "{client}: {m}"
        );
        for rec in &r.records {
            assert_eq!(rec["outcome"], "malformed_chunk", "{rec}");
            assert_eq!(
                rec["error"],
                "malformed event: a chat completion chunk where a Responses API event was expected",
                "{client}"
            );
        }
    }
}

#[test]
fn typed_events_answering_a_chat_request_are_classified_with_both_clients() {
    const N: usize = 2;
    let scenario = |url: &str| {
        responses_scenario(url, "", N as u32)
            .replace("endpoint = \"responses\"", "endpoint = \"chat\"")
    };
    for (client, r, got) in against(TYPED_EVENTS, scenario, N) {
        assert_eq!(got.len(), N, "{client}: {}", r.stderr);
        assert!(got
            .iter()
            .all(|g| g.line.starts_with("POST /v1/chat/completions?")));
        let m = model(&r.result, 0);
        assert_eq!(m["requests"]["ok"], 0, "{client}: {}", r.stdout);
        assert_eq!(
            m["requests"]["errors"]["malformed_chunk"], N,
            "{client}: {m}"
        );
        for rec in &r.records {
            assert_eq!(rec["outcome"], "malformed_chunk", "{rec}");
            assert_eq!(
                rec["error"],
                "malformed event: a Responses API event (response.created) where a \
                 completion chunk was expected",
                "{client}"
            );
        }
    }
}

#[test]
fn sessions_send_earlier_turns_as_a_message_list() {
    const N: usize = 2;
    let scenario = |url: &str| {
        responses_scenario(url, "sessions = { turns = 2 }", 1)
            .replace("max_tokens = 5", "max_tokens = 6")
    };
    let runs = against(TYPED_EVENTS, scenario, N);
    let (client, r, got) = &runs[0];
    assert_eq!(got.len(), N, "{client}: {}", r.stderr);
    // The second turn carries the first turn and its answer, then the new prompt.
    let second = &got[1].body["input"];
    let roles: Vec<&str> = second
        .as_array()
        .unwrap_or_else(|| panic!("a message list: {second}"))
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{second}");
    assert_eq!(second[1]["content"], "hi");
    for (client, r, _) in &runs {
        for rec in &r.records {
            assert_eq!(rec["outcome"], "ok", "{client}: {rec}");
            assert_eq!(rec["output_tokens"], 1);
            assert_eq!(rec["response_id"], "resp_1");
        }
    }
}

#[test]
fn whole_answers_of_the_other_api_are_classified_with_both_clients() {
    const N: usize = 2;
    let chat_object = r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
    let response_object = r#"{"id":"resp_1","object":"response","status":"completed","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":3,"output_tokens":1}}"#;
    let cases = [
        (
            chat_object,
            "responses",
            "a chat completion (chat.completion) where a Responses API object was expected",
        ),
        (
            response_object,
            "chat",
            "a Responses API object where a completion was expected",
        ),
    ];
    for (answer, endpoint, why) in cases {
        let scenario = |url: &str| {
            responses_scenario(url, "stream = false", N as u32).replace(
                "endpoint = \"responses\"",
                &format!("endpoint = \"{endpoint}\""),
            )
        };
        for (client, r, got) in against(answer, scenario, N) {
            assert_eq!(got.len(), N, "{client}: {}", r.stderr);
            let m = model(&r.result, 0);
            assert_eq!(m["requests"]["ok"], 0, "{endpoint} {client}: {}", r.stdout);
            for rec in &r.records {
                assert_eq!(
                    rec["outcome"], "malformed_chunk",
                    "{endpoint} {client}: {rec}"
                );
                assert_eq!(rec["error"], why, "{endpoint} {client}");
            }
        }
    }
    // The same objects answering their own API are read.
    for (answer, endpoint) in [(chat_object, "chat"), (response_object, "responses")] {
        let scenario = |url: &str| {
            responses_scenario(url, "stream = false", N as u32).replace(
                "endpoint = \"responses\"",
                &format!("endpoint = \"{endpoint}\""),
            )
        };
        for (client, r, _) in against(answer, scenario, N) {
            for rec in &r.records {
                assert_eq!(rec["outcome"], "ok", "{endpoint} {client}: {rec}");
                assert_eq!(rec["output_tokens"], 1);
                assert_eq!(rec["input_tokens"], 3);
            }
        }
    }
}
