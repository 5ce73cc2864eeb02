//! The binary against the built-in mock on loopback: counts, timing bounds, fault classes,
//! load shapes, bad input and output hygiene.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn exact_request_and_token_counts() {
    let r = run_scenario(
        &scenario(
            r#"ttft = "5ms", itl = "1ms", output_tokens = 12"#,
            "max_tokens = 100",
            "concurrency = 4\nrequests = 40",
        ),
        &["--quiet"],
        &[],
    );
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["sent"], 40);
    assert_eq!(m["requests"]["ok"], 40);
    assert_eq!(m["tokens"]["output"], 480);
    assert_eq!(m["tokens"]["output_source"]["usage"], 40);
    assert_eq!(m["latency_ms"]["ttft"]["count"], 40);
    // 12 tokens, one per event: 11 token gaps per request.
    assert_eq!(m["latency_ms"]["itl"]["count"], 40 * 11);
    assert_eq!(r.records.len(), 40);
    let mut idx: Vec<u64> = r
        .records
        .iter()
        .map(|x| x["index"].as_u64().expect("index"))
        .collect();
    idx.sort_unstable();
    assert_eq!(idx, (0..40).collect::<Vec<_>>());
    for rec in &r.records {
        assert_eq!(rec["outcome"], "ok");
        assert_eq!(rec["output_tokens"], 12);
        assert!(rec["response_id"].as_str().is_some_and(|s| !s.is_empty()));
    }
    assert_eq!(r.result["schema_version"], 1);
    assert_eq!(r.result["validity"]["valid"], true);
}

#[test]
fn measured_ttft_sits_just_above_the_configured_ttft() {
    let r = run_scenario(
        &scenario(
            r#"ttft = "100ms", itl = "20ms", output_tokens = 6"#,
            "max_tokens = 6",
            "concurrency = 2\nrequests = 16",
        ),
        &["--quiet"],
        &[],
    );
    assert_ok_or_starved(&r);
    let ttft = &model(&r.result, 0)["latency_ms"]["ttft"];
    let itl = &model(&r.result, 0)["latency_ms"]["itl"];
    let min = ttft["min"].as_f64().expect("min");
    let p99 = ttft["p99"].as_f64().expect("p99");
    // Never below the server's delay; wide headroom above it for a loaded CI machine.
    assert!(min >= 99.0, "ttft min {min}");
    assert!(p99 < 400.0, "ttft p99 {p99}");
    let itl_p50 = itl["p50"].as_f64().expect("p50");
    assert!((19.0..80.0).contains(&itl_p50), "itl p50 {itl_p50}");
}

/// 200 requests to a mock that injects every fault class (a 300 ms idle timeout catches stalls).
fn fault_mix() -> String {
    scenario(
        r#"ttft = "5ms", itl = "2ms", output_tokens = 8, faults = { rate_limit = 0.15, retry_after = "2s", server_error = 0.15, disconnect = 0.15, malformed = 0.1, error_event = 0.1, stall = 0.05 }"#,
        "max_tokens = 8",
        "concurrency = 8\nrequests = 200",
    )
    .replace(r#"idle = "2s""#, r#"idle = "300ms""#)
}

/// Every injected fault class shows up in the model's error counts.
fn assert_every_fault_class(m: &serde_json::Value) {
    let errors = &m["requests"]["errors"];
    for class in [
        "rate_limited",
        "http_5xx",
        "stream_cut",
        "malformed_chunk",
        "error_event",
        "timeout_idle",
    ] {
        assert!(
            errors[class].as_u64().unwrap_or(0) > 0,
            "no {class} in {errors}"
        );
    }
}

#[test]
fn injected_faults_land_in_their_classes_and_never_crash_the_run() {
    let r = run_scenario(&fault_mix(), &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_every_fault_class(m);
    let ok = m["requests"]["ok"].as_u64().expect("ok");
    let failed = m["requests"]["failed"].as_u64().expect("failed");
    assert_eq!(ok + failed, 200);
    assert!(ok > 50, "ok {ok}");
    // Failed requests are excluded from latency histograms.
    assert_eq!(m["latency_ms"]["e2e"]["count"].as_u64(), Some(ok));
    // 429s carry the Retry-After the server sent.
    let ra: Vec<_> = r
        .records
        .iter()
        .filter(|x| x["outcome"] == "rate_limited")
        .map(|x| x["retry_after_s"].as_f64())
        .collect();
    assert!(
        !ra.is_empty() && ra.iter().all(|v| *v == Some(2.0)),
        "{ra:?}"
    );
}

fn max_overlap(records: &[serde_json::Value]) -> usize {
    let mut ev: Vec<(u64, i32)> = Vec::new();
    for r in records {
        if let (Some(s), Some(e)) = (r["t_send_us"].as_u64(), r["t_end_us"].as_u64()) {
            ev.push((s, 1));
            ev.push((e, -1));
        }
    }
    // Ends sort before starts at the same instant.
    ev.sort_by_key(|&(t, d)| (t, d));
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in ev {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

#[test]
fn closed_loop_never_exceeds_its_concurrency() {
    let r = run_scenario(
        &scenario(
            r#"ttft = "20ms", itl = "2ms", output_tokens = 5"#,
            "max_tokens = 5",
            "concurrency = 3\nduration = \"1500ms\"",
        ),
        &["--quiet"],
        &[],
    );
    assert_ok_or_starved(&r);
    assert!(r.records.len() > 20, "only {} records", r.records.len());
    assert_eq!(max_overlap(&r.records), 3);
    assert_eq!(r.result["load"]["mode"], "closed");
    assert_eq!(r.result["load"]["concurrency"], 3);
}

#[test]
fn too_high_open_loop_rate_with_drop_reports_drops_and_invalid_run() {
    let r = run_scenario(
        &scenario(r#"ttft = "300ms", itl = "5ms", output_tokens = 4"#, "max_tokens = 4", "rate = \"100/s\"\narrival = \"constant\"\nmax_in_flight = 4\non_full = \"drop\"\nduration = \"1s\""),
        &["--quiet"],
        &[],
    );
    assert_eq!(r.code, 3, "invalid run exits 3\n{}\n{}", r.stdout, r.stderr);
    let m = model(&r.result, 0);
    let dropped = m["requests"]["dropped"].as_u64().expect("dropped");
    assert!(dropped > 50, "dropped {dropped}");
    assert_eq!(r.result["validity"]["valid"], false);
    let reasons = r.result["validity"]["reasons"].to_string();
    assert!(reasons.contains("dropped"), "{reasons}");
    assert!(r.stdout.contains("INVALID"), "{}", r.stdout);
    assert!(max_overlap(&r.records) <= 4);
    let drops = r
        .records
        .iter()
        .filter(|x| x["outcome"] == "dropped")
        .count() as u64;
    assert!(drops >= dropped, "every drop is in the records file");
}

#[test]
fn open_loop_sends_the_offered_rate_and_is_valid() {
    let r = run_scenario(
        &scenario(r#"ttft = "10ms", itl = "2ms", output_tokens = 4"#, "max_tokens = 4", "rate = \"50/s\"\narrival = \"constant\"\nwarmup = \"500ms\"\nduration = \"2s\"\ncooldown = \"200ms\""),
        &["--quiet"],
        &[],
    );
    assert_ok_or_starved(&r);
    let load = &r.result["load"];
    assert_eq!(load["arrivals_in_window"], 100);
    let achieved = load["achieved_send_rate_per_s"].as_f64().expect("rate");
    assert!((49.0..=51.0).contains(&achieved), "achieved {achieved}");
    // Warmup and cooldown requests are in the records file, not in the metrics.
    let phases: Vec<&str> = r
        .records
        .iter()
        .filter_map(|x| x["phase"].as_str())
        .collect();
    assert_eq!(phases.iter().filter(|p| **p == "warmup").count(), 25);
    assert_eq!(phases.iter().filter(|p| **p == "measure").count(), 100);
    assert_eq!(phases.iter().filter(|p| **p == "cooldown").count(), 10);
    assert_eq!(model(&r.result, 0)["requests"]["issued"], 100);
}

#[test]
fn bad_scenario_exits_2_naming_file_line_column_and_field() {
    let text = scenario(r#"ttft = "5ms""#, "", "concurrency = 1\nrequests = 1")
        .replace("target = \"sim\"", "target = \"nope\"");
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("scenario.toml:12:1: models[0].target: no target named `nope`"),
        "{}",
        r.stderr
    );

    let text = scenario(
        r#"ttft = "5ms""#,
        "",
        "concurrency = 1\nrequests = 1\nratee = \"5/s\"",
    );
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("scenario.toml:")
            && r.stderr.contains("load")
            && r.stderr.contains("ratee"),
        "{}",
        r.stderr
    );

    let text = scenario(r#"ttft = "5ms""#, "", "rate = \"-3/s\"\nduration = \"1s\"");
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("load.rate"), "{}", r.stderr);

    let text = scenario(r#"ttft = "5ms""#, "", "concurrency = 1\nrequests = 1").replace(
        "prompts = [\"Say something.\", \"Tell me more about load testing.\"]",
        "prompts = { file = \"missing.jsonl\" }",
    );
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("workload.prompts") && r.stderr.contains("missing.jsonl"),
        "{}",
        r.stderr
    );
}

#[test]
fn quiet_and_non_tty_output_carry_no_escape_codes() {
    let text = scenario(
        r#"ttft = "5ms", itl = "1ms", output_tokens = 3"#,
        "max_tokens = 3",
        "concurrency = 2\nrequests = 10",
    );
    for args in [&["--quiet"][..], &[][..]] {
        let r = run_scenario(&text, args, &[]);
        assert_ok_or_starved(&r);
        assert!(
            !r.stdout.contains('\u{1b}') && !r.stderr.contains('\u{1b}'),
            "escape code with {args:?}"
        );
        assert!(r.stdout.contains("run: VALID") || r.stdout.contains("run: INVALID"));
    }
}

#[test]
fn completions_endpoint_and_non_streaming_requests() {
    for (extra, events) in [
        ("endpoint = \"completions\"\nmax_tokens = 7", 7),
        ("stream = false\nmax_tokens = 7", 1),
    ] {
        let r = run_scenario(
            &scenario(
                r#"ttft = "5ms", itl = "1ms""#,
                extra,
                "concurrency = 2\nrequests = 6",
            ),
            &["--quiet"],
            &[],
        );
        assert_ok_or_starved(&r);
        let m = model(&r.result, 0);
        assert_eq!(m["requests"]["ok"], 6, "{extra}");
        assert_eq!(m["tokens"]["output"], 42, "{extra}");
        for rec in &r.records {
            assert_eq!(rec["output_events"], events, "{extra}");
        }
    }
}

#[test]
fn api_key_never_reaches_results_records_or_output() {
    let secret = "sk-llmload-test-5ecr3t-value";
    let text = scenario(
        r#"ttft = "5ms", itl = "1ms", output_tokens = 3, faults = { server_error = 0.3 }"#,
        "max_tokens = 3",
        "concurrency = 2\nrequests = 20",
    )
    .replace(
        "base_url = \"mock\"",
        "base_url = \"mock\"\napi_key_env = \"LLMLOAD_TEST_KEY\"",
    );
    let r = run_scenario(&text, &[], &[("LLMLOAD_TEST_KEY", secret)]);
    assert_ok_or_starved(&r);
    for entry in std::fs::read_dir(r.dir.path().join("out")).expect("out dir") {
        let path = entry.expect("entry").path();
        let body = std::fs::read_to_string(&path).expect("read");
        assert!(!body.contains(secret), "key leaked into {}", path.display());
    }
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
}

#[test]
fn missing_api_key_for_a_real_target_exits_2_without_sending() {
    let text = scenario(r#"ttft = "5ms""#, "", "concurrency = 1\nrequests = 1").replace(
        "base_url = \"mock\"",
        "base_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"LLMLOAD_TEST_UNSET_KEY\"",
    );
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("LLMLOAD_TEST_UNSET_KEY is not set"),
        "{}",
        r.stderr
    );
}

#[test]
fn standalone_mock_serves_a_scenario_pointed_at_its_url() {
    let mock = Mock::start(&["--ttft", "10ms", "--itl", "1ms", "--output-tokens", "5"]);
    let url = mock.url();
    let text = scenario("", "max_tokens = 5", "concurrency = 2\nrequests = 10")
        .replace("base_url = \"mock\"", &format!("base_url = \"{url}\""));
    let r = run_scenario(&text, &["--quiet"], &[]);
    drop(mock);
    assert_ok_or_starved(&r);
    assert_eq!(model(&r.result, 0)["tokens"]["output"], 50);
}

#[test]
fn validate_checks_without_sending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_scenario(
        dir.path(),
        &scenario(r#"ttft = "5ms""#, "", "rate = \"5/s\"\nduration = \"1s\""),
    );
    let mut cmd = Command::new(bin());
    cmd.arg("validate").arg(&p);
    let out = output_with_timeout(cmd, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
}

#[test]
fn shipped_scenarios_validate() {
    for entry in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios")).expect("scenarios dir")
    {
        let p = entry.expect("entry").path();
        if p.extension().is_some_and(|e| e == "toml") {
            let mut cmd = Command::new(bin());
            cmd.arg("validate").arg(&p);
            let out = output_with_timeout(cmd, Duration::from_secs(20));
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                p.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn requests_per_minute_quota_holds_and_shows_as_queue_time() {
    // 600/min = 10/s with one second of burst: at most ~10 + 10×2 requests in 2 s, however
    // many workers ask.
    let text = scenario(
        r#"ttft = "1ms", itl = "1ms", output_tokens = 2"#,
        "max_tokens = 2",
        "concurrency = 8\nduration = \"2s\"",
    )
    .replace(
        "[[models]]",
        "limits = { requests_per_minute = 600 }\n\n[[models]]",
    );
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    // Workers already waiting on the quota when the 2 s end may still send during the drain;
    // count only what went out inside the 2 s.
    let sent = r
        .records
        .iter()
        .filter(|x| x["t_send_us"].as_u64().is_some_and(|t| t <= 2_000_000))
        .count();
    assert!((15..=31).contains(&sent), "sent {sent}");
    let q = r.result["load"]["queue_time_ms"]["p50"]
        .as_f64()
        .expect("queue");
    assert!(
        q > 50.0,
        "queue time p50 {q} ms: waiting on the quota must be visible"
    );
}

#[test]
fn multi_token_chunks_and_reasoning_are_measured_apart() {
    let r = run_scenario(
        &scenario(
            r#"ttft = "20ms", itl = "10ms", output_tokens = 10, tokens_per_chunk = 4, reasoning_tokens = 4"#,
            "max_tokens = 10",
            "concurrency = 2\nrequests = 6",
        ),
        &["--quiet"],
        &[],
    );
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    let l = &m["latency_ms"];
    let tpc = &m["tokens_per_chunk"];
    // The tokens of every chunk add up to the server's count.
    let chunks = tpc["count"].as_f64().expect("count");
    let total = tpc["mean"].as_f64().expect("mean") * chunks;
    let out = m["tokens"]["output"].as_f64().expect("output");
    assert!(
        (total - out).abs() < 0.5,
        "chunks carry {total} tokens, usage says {out}"
    );
    assert!(tpc["max"].as_f64().expect("max") >= 3.0, "{tpc}");
    // ITL is token-weighted: more ITL samples than chunk gaps.
    assert!(
        l["itl"]["count"].as_u64() > l["inter_chunk"]["count"].as_u64(),
        "{l}"
    );
    // Reasoning comes first: the answer's first token is later than the first token.
    let (t, ta) = (
        l["ttft"]["p50"].as_f64().expect("ttft"),
        l["ttft_answer"]["p50"].as_f64().expect("answer"),
    );
    assert!(ta >= t + 5.0, "ttft {t} ttft_answer {ta}");
    assert!(
        m["tokens"]["reasoning"].as_u64().is_some_and(|n| n > 0),
        "{}",
        m["tokens"]
    );
}

#[test]
fn closed_loop_stops_at_its_duration_and_abandons_requests_that_outlive_the_drain() {
    let started = std::time::Instant::now();
    let r = run_scenario(
        &scenario(
            r#"ttft = "30s", itl = "1ms", output_tokens = 4"#,
            "max_tokens = 4",
            "concurrency = 4\nduration = \"1s\"\ndrain_timeout = \"500ms\"",
        )
        .replace(r#"first_token = "5s""#, r#"first_token = "60s""#)
        .replace(r#"total = "20s""#, r#"total = "60s""#),
        &["--quiet"],
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    // Every request was abandoned: nothing was measured (exit 4).
    assert_eq!(r.code, 4, "{}", r.stdout);
    let abandoned = r
        .records
        .iter()
        .filter(|x| x["outcome"] == "abandoned")
        .count();
    assert_eq!(abandoned, 4, "{:?}", r.records);
    assert_eq!(model(&r.result, 0)["requests"]["errors"]["abandoned"], 4);
}

#[test]
fn per_model_slo_overrides_the_scenario_slo() {
    // Two models with the same 60 ms TTFT: the scenario's 1 s TTFT objective is met by both,
    // but the second model's own 20 ms objective is missed by every request.
    let text = r#"
name = "slo"
seed = 3
[[targets]]
name = "sim"
base_url = "mock"
[[models]]
id = "a"
target = "sim"
mock = { ttft = "60ms", itl = "1ms", output_tokens = 3 }
[[models]]
id = "b"
target = "sim"
mock = { ttft = "60ms", itl = "1ms", output_tokens = 3 }
slo = { ttft = "20ms" }
[workload]
prompts = ["x"]
max_tokens = 3
[load]
concurrency = 4
requests = 40
[slo]
ttft = "1s"
"#;
    let r = run_scenario(text, &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    let (a, b) = (&model(&r.result, 0)["slo"], &model(&r.result, 1)["slo"]);
    assert_eq!(a["objectives"]["ttft_ms"], 1000.0);
    assert_eq!(b["objectives"]["ttft_ms"], 20.0);
    assert_eq!(a["attainment"], 1.0, "{a}");
    assert_eq!(b["met"], 0, "{b}");
    let overall = &r.result["overall"]["slo"];
    assert_eq!(overall["met"], a["met"]);
    assert_eq!(overall["issued"], 40);
}

#[test]
fn calibrate_reports_overhead_and_a_rate_ladder() {
    let mut cmd = Command::new(bin());
    cmd.args([
        "calibrate",
        "--step",
        "500ms",
        "--start-rate",
        "100/s",
        "--max-rate",
        "200/s",
    ]);
    let out = output_with_timeout(cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("concurrency 1") && stdout.contains("concurrency 32"),
        "{stdout}"
    );
    // Both overhead rows joined requests with the mock's truth log.
    assert!(!stdout.contains("(n=0)"), "{stdout}");
    // The ladder runs 100 then 200 req/s, and stops at the first invalid step (a starved
    // machine can make 100 req/s invalid already, and the report then says so).
    let rows =
        stdout.matches("\n         100 ").count() + stdout.matches("\n         200 ").count();
    assert!(
        rows == 2 || (rows == 1 && stdout.contains("no step was valid")),
        "{stdout}"
    );
    assert!(
        stdout.contains("highest valid open-loop rate") || stdout.contains("no step was valid"),
        "{stdout}"
    );
}

#[test]
fn http2_prior_knowledge_insecure_warning_and_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("key.txt");
    let secret = "sk-from-a-file-9f8e7d";
    std::fs::write(&key, format!("{secret}\n")).expect("write key");
    let text = scenario(
        r#"ttft = "5ms", itl = "1ms", output_tokens = 3"#,
        "max_tokens = 3",
        "concurrency = 2\nrequests = 10",
    )
    .replace(
        "base_url = \"mock\"",
        &format!(
            "base_url = \"mock\"\nhttp = \"2\"\ntls = {{ insecure = true }}\napi_key_file = \"{}\"",
            key.display()
        ),
    );
    let r = run_scenario(&text, &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    assert_eq!(
        model(&r.result, 0)["requests"]["ok"],
        10,
        "HTTP/2 with prior knowledge against the mock"
    );
    assert!(r.stderr.contains("NOT be verified"), "{}", r.stderr);
    assert!(
        r.result["warnings"].to_string().contains("NOT verified"),
        "{}",
        r.result["warnings"]
    );
    for entry in std::fs::read_dir(r.dir.path().join("out")).expect("out") {
        let body = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        assert!(!body.contains(secret));
    }
    // A CA bundle that is not there is a located scenario error.
    let bad = scenario(r#"ttft = "5ms""#, "", "concurrency = 1\nrequests = 1").replace(
        "base_url = \"mock\"",
        "base_url = \"mock\"\ntls = { ca_bundle = \"nope.pem\" }",
    );
    let r = run_scenario(&bad, &["--quiet"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("targets[0].tls.ca_bundle") && r.stderr.contains("nope.pem"),
        "{}",
        r.stderr
    );
}

#[test]
fn refused_connections_are_classified_and_the_run_finishes() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let text = scenario(
        r#"ttft = "5ms""#,
        "max_tokens = 3",
        "concurrency = 2\nrequests = 6",
    )
    .replace(
        "base_url = \"mock\"",
        &format!("base_url = \"http://127.0.0.1:{port}/v1\""),
    );
    let r = run_scenario(&text, &["--quiet"], &[]);
    // Nothing succeeded: the run measured nothing (exit 4; tests/nothing_measured.rs).
    assert_eq!(r.code, 4, "{}", r.stdout);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["errors"]["connect"], 6, "{}", m["requests"]);
    assert_eq!(m["error_rate"], 1.0);
    assert!(r
        .records
        .iter()
        .all(|x| x["outcome"] == "connect" && x["error"].as_str().is_some()));
}

#[test]
fn both_clients_count_and_classify_alike() {
    // `lean` is what http and https targets get by default; `reqwest` is the explicit choice
    // (and what HTTP/2 targets get). Both must give the same exact counts.
    for kind in ["lean", "reqwest"] {
        both_clients_case(kind);
    }
    // HTTP/2 is refused at validation for an explicit lean client (it speaks HTTP/1.1 only).
    let bad = scenario(r#"ttft = "5ms""#, "", "concurrency = 1\nrequests = 1").replace(
        "base_url = \"mock\"",
        "base_url = \"https://127.0.0.1:9/v1\"\nclient = \"lean\"\nhttp = \"2\"",
    );
    let r = run_scenario(&bad, &["--quiet"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("targets[0].client"), "{}", r.stderr);
}

fn both_clients_case(kind: &str) {
    let with_client = |t: String| {
        t.replace(
            "base_url = \"mock\"",
            &format!("base_url = \"mock\"\nclient = \"{kind}\""),
        )
    };
    // Exact counts, streamed chat.
    let r = run_scenario(
        &with_client(scenario(
            r#"ttft = "5ms", itl = "1ms", output_tokens = 12"#,
            "max_tokens = 100",
            "concurrency = 4\nrequests = 40",
        )),
        &["--quiet"],
        &[],
    );
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["ok"], 40);
    assert_eq!(m["tokens"]["output"], 480);
    assert_eq!(m["latency_ms"]["itl"]["count"], 40 * 11);
    // Completions and non-streamed bodies.
    for extra in [
        "endpoint = \"completions\"\nmax_tokens = 7",
        "stream = false\nmax_tokens = 7",
    ] {
        let r = run_scenario(
            &with_client(scenario(
                r#"ttft = "5ms", itl = "1ms""#,
                extra,
                "concurrency = 2\nrequests = 6",
            )),
            &["--quiet"],
            &[],
        );
        assert_ok_or_starved(&r);
        assert_eq!(model(&r.result, 0)["tokens"]["output"], 42, "{extra}");
    }
    // Faults land in the same classes.
    let r = run_scenario(&with_client(fault_mix()), &["--quiet"], &[]);
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_every_fault_class(m);
    assert_eq!(
        m["requests"]["ok"].as_u64().unwrap_or(0) + m["requests"]["failed"].as_u64().unwrap_or(0),
        200,
        "client {kind}"
    );
}

#[test]
fn a_stalled_stream_times_out_on_the_idle_timeout_not_the_first_token_one() {
    let started = std::time::Instant::now();
    let r = run_scenario(
        &scenario(
            r#"ttft = "5ms", itl = "5ms", output_tokens = 10, faults = { stall = 1.0 }"#,
            "max_tokens = 10",
            "concurrency = 2\nrequests = 4",
        )
        .replace(r#"first_token = "5s""#, r#"first_token = "15s""#)
        .replace(r#"idle = "2s""#, r#"idle = "300ms""#),
        &["--quiet"],
        &[],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // Every request timed out: nothing was measured (exit 4), and the summary says why.
    assert_eq!(r.code, 4, "{}", r.stdout);
    assert!(r.stdout.contains("  timeout_idle ×4: "), "{}", r.stdout);
    assert_eq!(model(&r.result, 0)["requests"]["errors"]["timeout_idle"], 4);
    for rec in &r.records {
        let silent_ms = (rec["t_end_us"].as_u64().expect("end")
            - rec["t_last_us"].as_u64().expect("last")) as f64
            / 1e3;
        assert!(
            (290.0..2000.0).contains(&silent_ms),
            "idle timeout after {silent_ms} ms"
        );
    }
}
