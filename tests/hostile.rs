//! Hostile or broken servers: one test per failure mode, each against the built-in mock on
//! 127.0.0.1 port 0 (started in this process with the fault under test), bounded in requests
//! and time. Each asserts that the faulted requests land in their outcome class — exactly as
//! many as the mock faulted (the mock's draw is a function of its seed and the request
//! number, see `MockConfig::fault_of`) — that the run went on and wrote its result, and that
//! the other requests of the same run have the numbers of an unfaulted run.
//! docs/hardening.md maps every failure mode to its mock fault, outcome class and test.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use bytes::Bytes;
use llmload::config::mock::{Faults, MockConfig, MockModel};
use llmload::config::plan::RetryPolicy;
use llmload::config::plan::Timeouts;
use llmload::config::scenario::{EndpointKind, HttpVersion};
use llmload::core::dist::Dist;
use llmload::core::record::{Outcome, Phase, RequestRecord};
use llmload::engine::client::{ClientSettings, Clock, TargetClient};
use llmload::engine::mock::MockServer;

use common::*;

/// Requests per run.
const N: u64 = 24;
/// Output tokens of every unfaulted response.
const TOKENS: u64 = 8;

/// The mock, serving from its own runtime until dropped.
struct Mock {
    rt: tokio::runtime::Runtime,
    server: Option<MockServer>,
    cfg: MockConfig,
    url: String,
}

impl Mock {
    fn start(cfg: MockConfig) -> Mock {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            MockServer::start(l, cfg.clone()).await.expect("start")
        });
        let url = server.base_url();
        Mock {
            rt,
            server: Some(server),
            cfg,
            url,
        }
    }

    /// One model (`m`) with these faults.
    fn with(faults: Faults) -> Mock {
        Mock::start(MockConfig {
            seed: 5,
            default_model: model(faults),
            ..MockConfig::default()
        })
    }

    fn port(&self) -> u16 {
        self.server.as_ref().expect("running").addr().port()
    }

    /// How many of the first `n` requests the mock gives `fault`.
    fn expected(&self, fault: &str, n: u64) -> u64 {
        (0..n)
            .filter(|&i| self.cfg.fault_of("m", i) == Some(fault))
            .count() as u64
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

fn model(faults: Faults) -> MockModel {
    MockModel {
        ttft_ms: Dist::fixed(5.0),
        itl_ms: Dist::fixed(2.0),
        output_tokens: Some(Dist::fixed(TOKENS as f64)),
        faults,
        ..MockModel::default()
    }
}

const TIMEOUTS: &str =
    r#"timeouts = { connect = "2s", first_token = "3s", idle = "1s", total = "20s" }"#;

/// A scenario with one target at `url` (`target_extra`: more target keys, which may replace
/// the timeouts) and one model `m`, `N` requests on 4 workers.
fn scenario_at(url: &str, target_extra: &str, workload_extra: &str) -> String {
    let timeouts = if target_extra.contains("timeouts") {
        ""
    } else {
        TIMEOUTS
    };
    format!(
        r#"
name = "hostile"
seed = 11

[[targets]]
name = "srv"
base_url = "{url}"
{timeouts}
{target_extra}

[[models]]
id = "m"
target = "srv"

[workload]
prompts = ["Say something.", "Tell me more about load testing."]
max_tokens = {TOKENS}
{workload_extra}

[load]
concurrency = 4
requests = {N}
"#
    )
}

fn count(r: &Run, class: &str) -> u64 {
    r.records.iter().filter(|x| x["outcome"] == class).count() as u64
}

/// The run finished and wrote its result; `expected` requests are in `class` (in the
/// result and the records file), the rest are `ok` with the numbers of a healthy run.
fn assert_faulted(r: &Run, class: &str, expected: u64) {
    assert_ok_or_starved(r);
    assert_eq!(r.result["schema_version"], 1, "the result was written");
    assert_eq!(r.records.len() as u64, N, "one record per request");
    assert!(expected > 0, "the seed must fault at least one request");
    let m = model_of(r);
    assert_eq!(
        m["requests"]["errors"][class].as_u64(),
        Some(expected),
        "{class} in {}",
        m["requests"]
    );
    assert_eq!(count(r, class), expected, "records in {class}");
    assert_eq!(m["requests"]["ok"].as_u64(), Some(N - expected));
    assert_eq!(m["requests"]["sent"].as_u64(), Some(N));
    for rec in r.records.iter().filter(|x| x["outcome"] == class) {
        assert!(
            rec["error"].as_str().is_some_and(|e| !e.is_empty()),
            "a failed request says why: {rec}"
        );
    }
    assert_healthy_ok_requests(r, TOKENS);
}

fn model_of(r: &Run) -> &serde_json::Value {
    common::model(&r.result, 0)
}

/// Every `ok` request looks like one from a run without faults.
fn assert_healthy_ok_requests(r: &Run, tokens: u64) {
    let m = model_of(r);
    let ok = m["requests"]["ok"].as_u64().expect("ok");
    assert_eq!(m["latency_ms"]["e2e"]["count"].as_u64(), Some(ok));
    for rec in r.records.iter().filter(|x| x["outcome"] == "ok") {
        assert_eq!(rec["output_tokens"].as_u64(), Some(tokens), "{rec}");
        assert_eq!(rec["output_tokens_source"], "usage", "{rec}");
        assert!(rec["finish_reason"].is_string(), "{rec}");
        let ttft_ms = (rec["t_first_us"].as_u64().expect("first")
            - rec["t_send_us"].as_u64().expect("send")) as f64
            / 1e3;
        // 5 ms configured; wide headroom for a loaded CI machine.
        assert!((4.0..3000.0).contains(&ttft_ms), "ttft {ttft_ms} ms: {rec}");
    }
    if ok > 0 {
        let p50 = m["latency_ms"]["ttft"]["p50"].as_f64().expect("ttft p50");
        assert!(p50 < 500.0, "ttft p50 {p50}");
    }
}

fn run_at(mock: &Mock, target_extra: &str, workload_extra: &str) -> Run {
    run_scenario(
        &scenario_at(&mock.url, target_extra, workload_extra),
        &["--quiet"],
        &[],
    )
}

fn faults(f: impl FnOnce(&mut Faults)) -> Faults {
    let mut x = Faults::default();
    f(&mut x);
    x
}

// ---- connection-level failures -------------------------------------------------------

#[test]
fn connection_reset_mid_stream_is_stream_cut() {
    let mock = Mock::with(faults(|f| f.reset = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "stream_cut", mock.expected("reset", N));
    // The tokens before the reset arrived; the reset is named.
    for rec in r.records.iter().filter(|x| x["outcome"] == "stream_cut") {
        assert!(rec["output_events"].as_u64().unwrap_or(0) > 0, "{rec}");
        let e = rec["error"].as_str().unwrap_or("").to_lowercase();
        assert!(
            e.contains("reset") || e.contains("closed") || e.contains("error"),
            "{rec}"
        );
    }
}

#[test]
fn abrupt_disconnect_mid_stream_is_stream_cut() {
    let mock = Mock::with(faults(|f| f.disconnect = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "stream_cut", mock.expected("disconnect", N));
}

#[test]
fn tls_to_a_server_that_does_not_speak_tls_is_a_tls_failure() {
    let mock = Mock::with(Faults::default());
    let url = format!("https://127.0.0.1:{}/v1", mock.port());
    let r = run_scenario(&scenario_at(&url, "", ""), &["--quiet"], &[]);
    // Every request failed: the run measured nothing (exit 4, docs/metrics.md).
    assert_eq!(r.code, 4, "{}\n{}", r.stdout, r.stderr);
    let m = model_of(&r);
    assert_eq!(m["requests"]["errors"]["tls"], N, "{}", m["requests"]);
    for rec in &r.records {
        assert_eq!(rec["outcome"], "tls", "{rec}");
        assert!(rec["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

#[test]
fn headers_that_never_come_end_on_the_first_token_timeout() {
    let mock = Mock::with(faults(|f| f.no_headers = 0.25));
    let started = std::time::Instant::now();
    let r = run_at(
        &mock,
        r#"timeouts = { connect = "2s", first_token = "1s", idle = "2s", total = "20s" }"#,
        "",
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_faulted(&r, "timeout_headers", mock.expected("no_headers", N));
    for rec in r
        .records
        .iter()
        .filter(|x| x["outcome"] == "timeout_headers")
    {
        assert!(rec["t_headers_us"].is_null(), "{rec}");
        let waited_ms = (rec["t_end_us"].as_u64().expect("end")
            - rec["t_send_us"].as_u64().expect("send")) as f64
            / 1e3;
        assert!((990.0..5000.0).contains(&waited_ms), "{waited_ms} ms");
    }
}

// ---- timeouts inside the stream -----------------------------------------------------

#[test]
fn a_stream_that_stalls_after_some_tokens_ends_on_the_idle_timeout() {
    let mock = Mock::with(faults(|f| f.stall = 0.25));
    let r = run_at(
        &mock,
        r#"timeouts = { connect = "2s", first_token = "10s", idle = "500ms", total = "20s" }"#,
        "",
    );
    assert_faulted(&r, "timeout_idle", mock.expected("stall", N));
    for rec in r.records.iter().filter(|x| x["outcome"] == "timeout_idle") {
        assert!(rec["output_events"].as_u64().unwrap_or(0) > 0, "{rec}");
        let silent_ms = (rec["t_end_us"].as_u64().expect("end")
            - rec["t_last_us"].as_u64().expect("last")) as f64
            / 1e3;
        assert!((490.0..5000.0).contains(&silent_ms), "{silent_ms} ms");
    }
}

#[test]
fn headers_then_no_first_token_ends_on_the_first_token_timeout() {
    // Two models on one server: `slow` never produces a first token in time.
    let mut cfg = MockConfig {
        seed: 5,
        default_model: model(Faults::default()),
        ..MockConfig::default()
    };
    cfg.models.insert(
        "slow".into(),
        MockModel {
            ttft_ms: Dist::fixed(30_000.0),
            ..model(Faults::default())
        },
    );
    let mock = Mock::start(cfg);
    let text = scenario_at(
        &mock.url,
        r#"timeouts = { connect = "2s", first_token = "400ms", idle = "1s", total = "20s" }"#,
        "",
    )
    .replace(
        "[workload]",
        "[[models]]\nid = \"slow\"\ntarget = \"srv\"\n\n[workload]",
    );
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    let by_model = |id: &str, class: &str| {
        r.records
            .iter()
            .filter(|x| x["model"] == id && x["outcome"] == class)
            .count()
    };
    let slow = r.records.iter().filter(|x| x["model"] == "slow").count();
    assert!(slow > 0);
    assert_eq!(by_model("slow", "timeout_first_token"), slow);
    let fast = r.records.len() - slow;
    assert_eq!(by_model("m", "ok"), fast, "the other model is unaffected");
    for rec in r
        .records
        .iter()
        .filter(|x| x["outcome"] == "timeout_first_token")
    {
        assert!(rec["t_headers_us"].is_u64(), "headers came: {rec}");
        let waited_ms = (rec["t_end_us"].as_u64().expect("end")
            - rec["t_send_us"].as_u64().expect("send")) as f64
            / 1e3;
        assert!((390.0..3000.0).contains(&waited_ms), "{waited_ms} ms");
    }
}

// ---- what the stream says -----------------------------------------------------------

#[test]
fn a_stream_without_finish_reason_or_done_is_incomplete() {
    let mock = Mock::with(faults(|f| f.no_done = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "incomplete", mock.expected("no_done", N));
    for rec in r.records.iter().filter(|x| x["outcome"] == "incomplete") {
        // Every token arrived; the count comes from the text, as no usage came.
        assert_eq!(rec["output_events"].as_u64(), Some(TOKENS), "{rec}");
        assert!(rec["finish_reason"].is_null());
    }
}

#[test]
fn a_data_line_that_is_not_json_is_malformed_chunk() {
    let mock = Mock::with(faults(|f| f.malformed = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "malformed_chunk", mock.expected("malformed", N));
}

#[test]
fn invalid_utf8_in_a_chunk_is_malformed_chunk() {
    let mock = Mock::with(faults(|f| f.invalid_utf8 = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "malformed_chunk", mock.expected("invalid_utf8", N));
    for rec in r
        .records
        .iter()
        .filter(|x| x["outcome"] == "malformed_chunk")
    {
        assert!(
            rec["error"].as_str().is_some_and(|e| e.contains("UTF-8")),
            "{rec}"
        );
    }
    // Non-streamed bodies with invalid UTF-8 too (a fresh mock: its request numbers
    // start at 0 again).
    let mock = Mock::with(faults(|f| f.invalid_utf8 = 0.25));
    let r = run_at(&mock, "", "stream = false");
    assert_faulted(&r, "malformed_chunk", mock.expected("invalid_utf8", N));
}

#[test]
fn an_error_object_mid_stream_is_error_event() {
    let mock = Mock::with(faults(|f| f.error_event = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "error_event", mock.expected("error_event", N));
    for rec in r.records.iter().filter(|x| x["outcome"] == "error_event") {
        assert!(
            rec["error"]
                .as_str()
                .is_some_and(|e| e.contains("simulated")),
            "{rec}"
        );
    }
}

#[test]
fn usage_that_contradicts_the_stream_is_counted_and_the_servers_figure_kept() {
    let mock = Mock::with(faults(|f| f.usage_mismatch = 0.25));
    let expected = mock.expected("usage_mismatch", N);
    assert!(expected > 0);
    let r = run_at(&mock, "", "");
    assert_ok_or_starved(&r);
    let m = model_of(&r);
    assert_eq!(m["requests"]["ok"].as_u64(), Some(N), "still answers");
    assert_eq!(m["tokens"]["usage_mismatch"].as_u64(), Some(expected));
    let flagged: Vec<_> = r
        .records
        .iter()
        .filter(|x| x["usage_mismatch"] == true)
        .collect();
    assert_eq!(flagged.len() as u64, expected);
    for rec in &flagged {
        assert_eq!(rec["output_tokens"].as_u64(), Some(TOKENS / 2), "{rec}");
        assert_eq!(rec["output_tokens_source"], "usage");
        assert_eq!(rec["output_events"].as_u64(), Some(TOKENS));
    }
    assert_eq!(
        m["tokens"]["output"].as_u64(),
        Some((N - expected) * TOKENS + expected * (TOKENS / 2)),
        "the server's figure is what is counted"
    );
    assert!(
        r.result["warnings"].to_string().contains("usage_mismatch"),
        "the result says so: {}",
        r.result["warnings"]
    );
}

// ---- HTTP-level answers -------------------------------------------------------------

#[test]
fn rate_limits_with_and_without_retry_after_are_recorded() {
    for (retry_after, want) in [(Some(3), Some(3.0)), (None, None)] {
        let mock = Mock::with(faults(|f| {
            f.rate_limit = 0.25;
            f.retry_after_s = retry_after;
        }));
        let r = run_at(&mock, "", "");
        assert_faulted(&r, "rate_limited", mock.expected("rate_limit", N));
        for rec in r.records.iter().filter(|x| x["outcome"] == "rate_limited") {
            assert_eq!(rec["status"], 429);
            assert_eq!(rec["retry_after_s"].as_f64(), want, "{rec}");
            assert!(rec["retries"].is_null(), "no back-off unless asked: {rec}");
        }
    }
}

#[test]
fn a_5xx_with_an_html_body_is_http_5xx_with_a_short_error() {
    let mock = Mock::with(faults(|f| f.html_error = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "http_5xx", mock.expected("html_error", N));
    for rec in r.records.iter().filter(|x| x["outcome"] == "http_5xx") {
        assert_eq!(rec["status"], 503);
        let e = rec["error"].as_str().expect("error");
        assert!(e.starts_with("HTTP 503"), "{e}");
        assert!(e.len() < 200, "the page is not copied whole: {e}");
    }
}

#[test]
fn a_5xx_with_a_json_body_is_http_5xx() {
    let mock = Mock::with(faults(|f| f.server_error = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "http_5xx", mock.expected("server_error", N));
}

#[test]
fn a_non_sse_answer_to_a_streaming_request_is_not_sse() {
    let mock = Mock::with(faults(|f| f.wrong_content_type = 0.25));
    let r = run_at(&mock, "", "");
    assert_faulted(&r, "not_sse", mock.expected("wrong_content_type", N));
    // A non-streamed request reads the body whatever its label says.
    let r = run_at(&mock, "", "stream = false");
    assert_ok_or_starved(&r);
    assert_eq!(model_of(&r)["requests"]["ok"].as_u64(), Some(N));
}

// ---- size -----------------------------------------------------------------------------

#[test]
fn an_endless_response_is_cut_at_the_size_cap_as_too_large() {
    let mock = Mock::with(faults(|f| f.endless = 0.25));
    let started = std::time::Instant::now();
    let r = run_at(&mock, "", "");
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_faulted(&r, "too_large", mock.expected("endless", N));
    // Non-streamed bodies too.
    let mock = Mock::with(faults(|f| f.endless = 0.25));
    let r = run_at(&mock, "", "stream = false");
    assert_faulted(&r, "too_large", mock.expected("endless", N));
}

// ---- every fault at once, both transports ----------------------------------------------

/// The outcome class each mock fault must land in (streamed chat).
const CLASS_OF: [(&str, &str); 14] = [
    ("rate_limit", "rate_limited"),
    ("server_error", "http_5xx"),
    ("stall", "timeout_idle"),
    ("disconnect", "stream_cut"),
    ("malformed", "malformed_chunk"),
    ("error_event", "error_event"),
    ("no_headers", "timeout_headers"),
    ("html_error", "http_5xx"),
    ("wrong_content_type", "not_sse"),
    ("no_done", "incomplete"),
    ("endless", "too_large"),
    ("invalid_utf8", "malformed_chunk"),
    ("usage_mismatch", "ok"),
    ("reset", "stream_cut"),
];

fn every_fault_at_once(client: &str) {
    let n = 80;
    let mock = Mock::with(faults(|f| {
        for (name, _) in CLASS_OF {
            assert!(f.set(name, 0.05));
        }
    }));
    let text = scenario_at(
        &mock.url,
        &format!(
            "client = \"{client}\"\ntimeouts = {{ connect = \"2s\", first_token = \"2s\", idle = \"1s\", total = \"20s\" }}"
        ),
        "",
    )
    .replace(&format!("requests = {N}"), &format!("requests = {n}"))
    .replace("concurrency = 4", "concurrency = 8");
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    let mut want = std::collections::BTreeMap::<&str, u64>::new();
    for i in 0..n {
        let class = match mock.cfg.fault_of("m", i) {
            None => "ok",
            Some(fault) => {
                CLASS_OF
                    .iter()
                    .find(|(f, _)| *f == fault)
                    .expect("every fault has a class")
                    .1
            }
        };
        *want.entry(class).or_default() += 1;
    }
    let mut got = std::collections::BTreeMap::<&str, u64>::new();
    for rec in &r.records {
        let class = rec["outcome"].as_str().expect("outcome");
        let class = CLASS_OF
            .iter()
            .map(|(_, c)| *c)
            .find(|c| *c == class)
            .unwrap_or("ok");
        *got.entry(class).or_default() += 1;
    }
    assert_eq!(got, want, "client = {client}");
    assert!(want.len() >= 6, "the seed exercises many classes: {want:?}");
}

#[test]
fn every_fault_at_once_lands_in_its_class_with_the_reqwest_client() {
    every_fault_at_once("reqwest");
}

#[test]
fn every_fault_at_once_lands_in_its_class_with_the_lean_client() {
    every_fault_at_once("lean");
}

// ---- the client as a library: size cap and back-off ------------------------------------

fn client(url: &str, key: Option<&str>) -> TargetClient {
    TargetClient::new(ClientSettings {
        name: "t",
        base_url: url,
        api_key: key.map(String::from),
        auth: Default::default(),
        headers: &[],
        timeouts: Timeouts {
            connect: Duration::from_secs(2),
            first_token: Duration::from_secs(3),
            idle: Duration::from_secs(1),
            total: Duration::from_secs(10),
        },
        pool_max_idle: 4,
        http: HttpVersion::Auto,
        ca_bundle: None,
        insecure: false,
        lean: false,
        endpoint: EndpointKind::Chat,
        stream: true,
    })
    .expect("client")
}

const BODY: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true}}"#;

/// Sends `n` requests one after another; the clock starts at the first.
fn send_sequentially(mock: &Mock, c: &TargetClient, n: u64) -> Vec<RequestRecord> {
    mock.rt.block_on(async {
        let clock = Clock {
            start: tokio::time::Instant::now(),
        };
        let mut out = Vec::new();
        for i in 0..n {
            let now = clock.us(tokio::time::Instant::now());
            let mut rec =
                RequestRecord::unsent(i, "m".into(), Phase::Measure, Outcome::Ok, now, now);
            rec.t_send_us = Some(now);
            c.execute(&clock, Bytes::from_static(BODY.as_bytes()), &mut rec)
                .await;
            out.push(rec);
        }
        out
    })
}

#[test]
fn the_response_size_cap_is_configurable_and_ends_the_request_early() {
    let mock = Mock::with(faults(|f| f.endless = 1.0));
    let c = client(&mock.url, None).with_max_response_bytes(64 * 1024);
    let recs = send_sequentially(&mock, &c, 3);
    for rec in &recs {
        assert_eq!(rec.outcome, Outcome::TooLarge, "{rec:?}");
    }
    // A healthy response well under the cap is untouched.
    let healthy = Mock::with(Faults::default());
    let c = client(&healthy.url, None).with_max_response_bytes(64 * 1024);
    for rec in send_sequentially(&healthy, &c, 3) {
        assert_eq!(rec.outcome, Outcome::Ok);
        assert_eq!(rec.output_tokens, Some(TOKENS));
    }
}

#[test]
fn back_off_on_429_is_opt_in_counted_and_never_hidden() {
    let mock = Mock::with(faults(|f| {
        f.rate_limit = 0.5;
        f.retry_after_s = Some(1);
    }));
    let policy = RetryPolicy {
        max_retries: 2,
        max_wait: Duration::from_millis(40),
    };
    let c = client(&mock.url, None).with_retry_on_429(Some(policy));
    let recs = send_sequentially(&mock, &c, 12);
    // Replay the mock's draws: requests go out one at a time, so attempt k is request k.
    let mut attempt = 0u64;
    let mut total_retries = 0;
    for rec in &recs {
        let mut retries = 0;
        while mock.cfg.fault_of("m", attempt) == Some("rate_limit") && retries < 2 {
            retries += 1;
            attempt += 1;
        }
        let limited = mock.cfg.fault_of("m", attempt) == Some("rate_limit");
        attempt += 1;
        assert_eq!(rec.retries, retries, "{rec:?}");
        // Retry-After 1 s is capped at max_wait.
        assert_eq!(rec.backoff_us, u64::from(retries) * 40_000, "{rec:?}");
        let want = if limited {
            Outcome::RateLimited
        } else {
            Outcome::Ok
        };
        assert_eq!(rec.outcome, want, "{rec:?}");
        // Latency counts from the first send: the waits are inside it.
        let e2e = rec.t_end_us - rec.t_send_us.expect("send");
        assert!(e2e >= rec.backoff_us, "{rec:?}");
        if rec.outcome == Outcome::Ok {
            assert!(
                rec.t_first_us.expect("first") - rec.t_send_us.expect("send") >= rec.backoff_us
            );
        }
        total_retries += rec.retries;
    }
    assert!(total_retries > 0, "the seed must rate-limit some attempt");
    // Off by default: a 429 is final.
    let c = client(&mock.url, None);
    let recs = send_sequentially(&mock, &c, 6);
    assert!(recs.iter().all(|r| r.retries == 0 && r.backoff_us == 0));
}

// ---- secrets ----------------------------------------------------------------------------

const CANARY: &str = "sk-llmload-leak-canary-1234567890";

/// Every file a run wrote, with stdout and stderr.
fn artefacts(r: &Run) -> Vec<(String, String)> {
    let mut out = vec![
        ("stdout".to_string(), r.stdout.clone()),
        ("stderr".to_string(), r.stderr.clone()),
    ];
    let mut dirs = vec![r.dir.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let body = String::from_utf8_lossy(&std::fs::read(&p).expect("read")).to_string();
                out.push((p.display().to_string(), body));
            }
        }
    }
    out
}

fn assert_no_secret(r: &Run) {
    let files = artefacts(r);
    assert!(
        files.len() >= 4,
        "scenario, result, records, stdout, stderr"
    );
    for (name, body) in files {
        if name.ends_with("scenario.toml") {
            continue;
        }
        assert!(!body.contains(CANARY), "the key leaked into {name}");
        assert!(
            !body.contains("Bearer"),
            "an Authorization value leaked into {name}"
        );
    }
}

#[test]
fn the_api_key_appears_in_no_artefact_of_a_run_full_of_errors() {
    let mock = Mock::with(faults(|f| {
        for name in [
            "rate_limit",
            "server_error",
            "html_error",
            "disconnect",
            "reset",
            "malformed",
            "error_event",
            "no_headers",
            "no_done",
            "wrong_content_type",
        ] {
            assert!(f.set(name, 0.08));
        }
    }));
    let text = scenario_at(
        &mock.url,
        "api_key_env = \"LLMLOAD_HOSTILE_KEY\"\ntimeouts = { connect = \"2s\", first_token = \"600ms\", idle = \"1s\", total = \"20s\" }",
        "",
    );
    // Without --quiet: the progress and summary output is checked too.
    let r = run_scenario(&text, &[], &[("LLMLOAD_HOSTILE_KEY", CANARY)]);
    assert_ok_or_starved(&r);
    let errors = model_of(&r)["requests"]["errors"]
        .as_object()
        .map_or(0, |o| o.len());
    assert!(errors >= 5, "the run had errors of many kinds");
    assert_no_secret(&r);
    // A TLS failure and a refused connection with the key set.
    let url = format!("https://127.0.0.1:{}/v1", mock.port());
    let r = run_scenario(
        &scenario_at(&url, "api_key_env = \"LLMLOAD_HOSTILE_KEY\"", ""),
        &[],
        &[("LLMLOAD_HOSTILE_KEY", CANARY)],
    );
    assert_eq!(model_of(&r)["requests"]["errors"]["tls"], N);
    assert_no_secret(&r);
    // `validate` names the variable, never its value.
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_scenario(dir.path(), &text);
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("validate")
        .arg(&p)
        .env("LLMLOAD_HOSTILE_KEY", CANARY);
    let out = output_with_timeout(cmd, Duration::from_secs(20));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        all.contains("LLMLOAD_HOSTILE_KEY") && !all.contains(CANARY),
        "{all}"
    );
}

/// A server that echoes the Authorization header back: in a 401's error message on odd
/// requests, and as the response id and finish reason of a stream on even ones.
fn echo_server(requests: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        for i in 0..requests {
            let Ok((s, _)) = l.accept() else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(s);
            let (mut auth, mut len) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end().to_string();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    if k.eq_ignore_ascii_case("authorization") {
                        auth = v.trim().to_string();
                    } else if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let mut s = r.into_inner();
            let resp = if i % 2 == 1 {
                let b = serde_json::json!({"error": {"message": format!("Incorrect API key provided: {auth}"), "type": "invalid_request_error"}}).to_string();
                format!("HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}", b.len())
            } else {
                let ev = serde_json::json!({"id": auth, "choices": [{"index": 0, "delta": {"content": " the"}, "finish_reason": auth}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).to_string();
                let b = format!("data: {ev}\n\ndata: [DONE]\n\n");
                format!("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{b}", b.len())
            };
            let _ = s.write_all(resp.as_bytes());
        }
    });
    (port, h)
}

#[test]
fn a_server_that_echoes_the_key_cannot_put_it_in_an_artefact() {
    let n = 8;
    let (port, h) = echo_server(n);
    let url = format!("http://127.0.0.1:{port}/v1");
    let text = scenario_at(&url, "api_key_env = \"LLMLOAD_HOSTILE_KEY\"", "")
        .replace(&format!("requests = {N}"), &format!("requests = {n}"))
        .replace("concurrency = 4", "concurrency = 1");
    let r = run_scenario(&text, &[], &[("LLMLOAD_HOSTILE_KEY", CANARY)]);
    let _ = h.join();
    assert_ok_or_starved(&r);
    assert_eq!(count(&r, "http_4xx"), n as u64 / 2, "{:?}", r.records);
    assert_eq!(count(&r, "ok"), n as u64 / 2, "{:?}", r.records);
    assert!(
        r.records.iter().any(|x| x["error"]
            .as_str()
            .is_some_and(|e| e.contains("<redacted>"))),
        "the echoed key is replaced: {:?}",
        r.records
    );
    assert_no_secret(&r);
}

// ---- the same through the scenario file ------------------------------------------------

#[test]
fn max_response_bytes_on_a_target_caps_the_response() {
    let mock = Mock::with(faults(|f| f.endless = 0.25));
    let r = run_at(&mock, "max_response_bytes = 65536", "");
    assert_faulted(&r, "too_large", mock.expected("endless", N));
    for rec in r.records.iter().filter(|x| x["outcome"] == "too_large") {
        assert_eq!(rec["output_tokens_source"], "events", "{rec}");
    }
    // Below 1 KiB is refused with a located error.
    let bad = run_at(&mock, "max_response_bytes = 10", "");
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains("targets[0].max_response_bytes"),
        "{}",
        bad.stderr
    );
}

#[test]
fn retry_on_429_on_a_target_backs_off_and_records_it() {
    let mock = Mock::with(faults(|f| {
        f.rate_limit = 0.5;
        f.retry_after_s = Some(1);
    }));
    // One worker: attempt k is the mock's request k, so the outcome of each is known.
    let text = scenario_at(
        &mock.url,
        r#"retry_on_429 = { max_retries = 2, max_wait = "30ms" }"#,
        "",
    )
    .replace("concurrency = 4", "concurrency = 1");
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    let mut recs = r.records.clone();
    recs.sort_by_key(|x| x["index"].as_u64());
    let (mut attempt, mut limited, mut total) = (0u64, 0u64, 0u64);
    for rec in &recs {
        let mut retries = 0;
        while mock.cfg.fault_of("m", attempt) == Some("rate_limit") && retries < 2 {
            retries += 1;
            attempt += 1;
        }
        let still = mock.cfg.fault_of("m", attempt) == Some("rate_limit");
        attempt += 1;
        limited += u64::from(still);
        total += retries;
        assert_eq!(rec["retries"].as_u64().unwrap_or(0), retries, "{rec}");
        assert_eq!(
            rec["backoff_us"].as_u64().unwrap_or(0),
            retries * 30_000,
            "{rec}"
        );
        assert_eq!(
            rec["outcome"],
            if still { "rate_limited" } else { "ok" },
            "{rec}"
        );
    }
    assert!(total > 0, "the seed must rate-limit some attempt");
    let m = model_of(&r);
    assert_eq!(
        m["requests"]["sent"].as_u64(),
        Some(N),
        "a retry is not a new request"
    );
    assert_eq!(
        m["requests"]["errors"]["rate_limited"]
            .as_u64()
            .unwrap_or(0),
        limited
    );
    // The waits are inside the measured latency.
    for rec in recs.iter().filter(|x| x["outcome"] == "ok") {
        let ttft =
            rec["t_first_us"].as_u64().expect("first") - rec["t_send_us"].as_u64().expect("send");
        assert!(ttft >= rec["backoff_us"].as_u64().unwrap_or(0), "{rec}");
    }
}

/// A server that behaves like llama-server after a streamed response: it advertises
/// keep-alive, sends the last chunk, the final empty line a moment later in its own write,
/// then closes the connection. Serves until `stop` is set; every read and write is bounded.
struct ClosingServer {
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    served: std::sync::Arc<std::sync::atomic::AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ClosingServer {
    fn start() -> ClosingServer {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use std::sync::Arc;
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}/v1", l.local_addr().expect("addr"));
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicU64::new(0));
        let (st, sv) = (stop.clone(), served.clone());
        let thread = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !st.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match l.accept() {
                    Ok((s, _)) => {
                        let sv = sv.clone();
                        std::thread::spawn(move || serve_one(s, &sv));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        ClosingServer {
            url,
            stop,
            served,
            thread: Some(thread),
        }
    }
}

impl Drop for ClosingServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request (head and Content-Length body), answers it with a chunked SSE stream
/// of TOKENS tokens and usage, then closes. A connection the client reuses gets nothing.
fn serve_one(s: std::net::TcpStream, served: &std::sync::atomic::AtomicU64) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(5)));
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let mut w = s;
    let mut out = String::from(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nKeep-Alive: timeout=5, max=100\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    let chunk = |data: &str| format!("{:x}\r\n{data}\r\n", data.len());
    for i in 0..TOKENS {
        out.push_str(&chunk(&format!(
            "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" t{i}\"}},\"finish_reason\":null}}]}}\n\n"
        )));
    }
    out.push_str(&chunk(&format!(
        "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"length\"}}],\"usage\":{{\"prompt_tokens\":5,\"completion_tokens\":{TOKENS},\"total_tokens\":{}}}}}\n\n",
        TOKENS + 5
    )));
    out.push_str(&chunk("data: [DONE]\n\n"));
    out.push_str("0\r\n");
    if w.write_all(out.as_bytes()).is_err() {
        return;
    }
    let _ = w.flush();
    // The final empty line comes in its own segment, a moment later.
    std::thread::sleep(Duration::from_millis(3));
    let _ = w.write_all(b"\r\n");
    served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Close only after the client has had time to reuse the connection for its next request
    // (which this server never answers).
    std::thread::sleep(Duration::from_millis(30));
    let _ = w.shutdown(std::net::Shutdown::Both);
}

#[test]
fn a_server_that_closes_advertised_keep_alive_connections_loses_no_request() {
    for client in ["client = \"reqwest\"", "client = \"lean\""] {
        let srv = ClosingServer::start();
        let r = run_scenario(&scenario_at(&srv.url, client, ""), &[], &[]);
        assert_ok_or_starved(&r);
        let reqs = &r.result["overall"]["requests"];
        assert_eq!(reqs["ok"].as_u64(), Some(N), "client {client:?}: {reqs}");
        // Each request reached the server exactly once to be answered.
        assert_eq!(
            srv.served.load(std::sync::atomic::Ordering::Relaxed),
            N,
            "client {client:?}"
        );
        // Re-sends on a fresh connection happened and were counted, not hidden.
        let resent: u64 = r
            .records
            .iter()
            .map(|x| x["reconnects"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(reqs["reconnects"].as_u64().unwrap_or(0), resent);
        assert!(
            resent > 0,
            "client {client:?}: no pooled connection was ever reused, so nothing was tested"
        );
        assert!(r.stdout.contains("sent again"), "{}", r.stdout);
    }
}
