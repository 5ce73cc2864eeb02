//! Quota headers end to end: the mock states a simulated account quota in `x-ratelimit-*`
//! headers, llmload reads them on every response, and the time series, the result's quota
//! summary, the report and `plan` carry the figures the window arithmetic predicts. A server
//! sending malformed quota headers gets no crash and no bogus figure.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::{assert_ok_or_starved, bin, output_with_timeout, run_scenario, scenario};
use serde_json::Value;

const RPM: u64 = 600;
const TPM: u64 = 60_000;
const RATE: u64 = 20;
const SECONDS: u64 = 5;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(u64::MAX)
}

fn quota_run(rpm: u64, extra_load: &str) -> common::Run {
    run_scenario(
        &scenario(
            &format!(
                r#"ttft = "20ms", itl = "5ms", output_tokens = 4, rate_limit = {{ requests_per_minute = {rpm}, tokens_per_minute = {TPM} }}"#
            ),
            "max_tokens = 4",
            &format!(
                "arrival = \"constant\"\nrate = \"{RATE}/s\"\nduration = \"{SECONDS}s\"\nmax_in_flight = 64\n{extra_load}"
            ),
        ),
        &["--quiet"],
        &[],
    )
}

fn llmload(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args);
    output_with_timeout(cmd, Duration::from_secs(60))
}

#[test]
fn per_second_lowest_remaining_follows_the_window_arithmetic() {
    let r = quota_run(RPM, "");
    assert_ok_or_starved(&r);
    let n = r.records.len() as u64;
    assert_eq!(n, RATE * SECONDS, "one record per arrival");

    // The mock charges each request, in the order it receives them, one request and its
    // prompt plus output tokens; the k-th request's response states remaining = limit − k.
    // Requests are 50 ms apart, so they reach the mock in schedule order and their headers
    // come back in that order: the lowest remaining of second t is the limit minus the number
    // of requests whose headers arrived by the end of second t (from the records' own times,
    // not their quota figures).
    let mut by_end_of: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut charged = Vec::new();
    for x in &r.records {
        assert_eq!(x["outcome"], "ok", "{x}");
        let t = u(&x["t_headers_us"]);
        charged.push((t, u(&x["input_tokens"]) + u(&x["output_tokens"])));
    }
    charged.sort();
    let (mut k, mut tokens) = (0, 0);
    for (t, cost) in &charged {
        k += 1;
        tokens += cost;
        by_end_of.insert(t / 1_000_000, (k, tokens));
    }
    let series = r.result["timeseries"].as_array().expect("timeseries");
    let mut judged = 0;
    for p in series {
        let t = u(&p["t_s"]);
        let Some(&(count, spent)) = by_end_of.get(&t) else {
            assert!(p.get("quota").is_none(), "no response in second {t}: {p}");
            continue;
        };
        let q = &p["quota"];
        assert_eq!(u(&q["remaining_requests"]), RPM - count, "second {t}: {p}");
        assert_eq!(u(&q["remaining_tokens"]), TPM - spent, "second {t}: {p}");
        assert_eq!((u(&q["limit_requests"]), u(&q["limit_tokens"])), (RPM, TPM));
        // The schedule's own prediction: 20 arrivals at 0, 50, …, 950 ms of each second, so
        // 20·(t+1) by the end of second t. Only a request whose headers come back more than
        // 50 ms after its scheduled time slips into the next second; the mock sends headers on
        // receipt over loopback, and a valid run kept its schedule (p99 lag under 10 ms), so
        // at most the last request of a second slips, by one second: ±1.
        if r.code == 0 {
            let predicted = RPM - RATE * (t + 1);
            assert!(
                u(&q["remaining_requests"]).abs_diff(predicted) <= 1,
                "second {t}: {} vs predicted {predicted}",
                q["remaining_requests"]
            );
        }
        judged += 1;
    }
    assert!(judged >= SECONDS as usize, "{judged} seconds judged");

    // The result's summary: every response carried the headers; the lowest figures are after
    // the last request, in the second its headers arrived.
    let sum = &r.result["quota"][0];
    let (t_last, _) = charged[charged.len() - 1];
    assert_eq!(sum["model"], "m");
    assert_eq!(sum["target"], "sim");
    assert_eq!(u(&sum["responses"]), n);
    assert_eq!(u(&sum["limit_requests"]), RPM);
    assert_eq!(u(&sum["limit_tokens"]), TPM);
    assert_eq!(u(&sum["lowest_remaining_requests"]), RPM - n);
    assert_eq!(u(&sum["lowest_remaining_requests_t_s"]), t_last / 1_000_000);
    assert_eq!(u(&sum["lowest_remaining_tokens"]), TPM - tokens);
    assert_eq!(u(&sum["retry_after_responses"]), 0);
    // Each record carries the figures of its own response.
    let rec_low = r
        .records
        .iter()
        .map(|x| u(&x["quota"]["remaining_requests"]))
        .min();
    assert_eq!(rec_low, Some(RPM - n));

    // The Markdown report shows the summary.
    let result_path = r.dir.path().join("out").join("result.json");
    let path = result_path.to_str().expect("utf-8 path");
    let o = llmload(&["report", path, "--format", "markdown"]);
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{md}");
    let row = format!(
        "| m | sim | {n} | {RPM} | {} (at {} s) | {TPM} | {} (at {} s) | 0 | - |",
        RPM - n,
        t_last / 1_000_000,
        TPM - tokens,
        u(&sum["lowest_remaining_tokens_t_s"]),
    );
    assert!(md.contains(&row), "{row}\n{md}");

    // plan: a daily volume whose peak is 480 requests/min against the 600/min limit has
    // 600 / 480 − 1 = 25 % headroom (as capacity headroom is defined); tokens likewise from the
    // plan's tokens per minute.
    let m = &r.result["models"][0];
    let (tin, tout, sent) = (
        u(&m["tokens"]["input"]) as f64,
        u(&m["tokens"]["output"]) as f64,
        u(&m["requests"]["sent"]) as f64,
    );
    let daily_in = 480.0 / 60.0 * 86_400.0 * tin / sent;
    let daily = format!("{daily_in:.0}");
    let o = llmload(&["plan", path, "--daily-input-tokens", &daily]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    let tokens_per_min = (daily_in.round() + daily_in.round() * tout / tin) / 1440.0;
    let tokens_left = (TPM as f64 / tokens_per_min - 1.0) * 100.0;
    for line in [
        format!(
            "m (sim): requests: planned peak 480/min vs limit {RPM}/min → 25 % headroom; lowest remaining seen in the run {}",
            RPM - n
        ),
        format!(
            "m (sim): tokens: planned peak {tokens_per_min:.0}/min vs limit {TPM}/min → {tokens_left:.0} % headroom; lowest remaining seen in the run {}",
            TPM - tokens
        ),
    ] {
        assert!(text.contains(&line), "{line}\n{text}");
    }
}

#[test]
fn an_exhausted_quota_is_answered_429_with_retry_after_until_the_window_ends() {
    // 30 requests per minute, 100 arrivals inside the first minute: the first 30 are
    // answered, the other 70 refused with Retry-After (the seconds left in the window).
    let r = quota_run(30, "");
    assert_ok_or_starved(&r);
    let ok = r.records.iter().filter(|x| x["outcome"] == "ok").count();
    let limited: Vec<&Value> = r
        .records
        .iter()
        .filter(|x| x["outcome"] == "rate_limited")
        .collect();
    assert_eq!((ok, limited.len()), (30, 70));
    for x in &limited {
        let s = x["retry_after_s"]
            .as_f64()
            .expect("Retry-After on every 429");
        assert!((1.0..=60.0).contains(&s), "{x}");
        assert_eq!(u(&x["quota"]["remaining_requests"]), 0, "{x}");
    }
    let sum = &r.result["quota"][0];
    assert_eq!(u(&sum["retry_after_responses"]), 70);
    assert_eq!(u(&sum["lowest_remaining_requests"]), 0);
    let longest = sum["retry_after_max_s"].as_f64().expect("longest");
    assert!((55.0..=60.0).contains(&longest), "{sum}");
}

#[test]
fn plan_says_plainly_when_no_run_carried_quota_headers() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/results/seed-single.json"
    );
    let o = llmload(&["plan", fixture, "--daily-input-tokens", "1M"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("no response of the run carried quota headers (x-ratelimit-*)"),
        "{text}"
    );
}

/// A server whose every response carries quota headers with malformed values (and one valid
/// one), then a valid stream. Serves `n` connections, one request each.
fn malformed_server(n: usize) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = l.accept() else { return };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then the body its Content-Length announces.
            let body_len = loop {
                let Ok(k) = s.read(&mut chunk) else {
                    break None;
                };
                if k == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..k]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break Some((end + 4, len));
                }
            };
            let Some((start, len)) = body_len else {
                continue;
            };
            while buf.len() < start + len {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => buf.extend_from_slice(&chunk[..k]),
                }
            }
            let chunk = |delta: &str, finish: &str| {
                format!(
                    "data: {{\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
                )
            };
            let body = format!(
                "{}{}data: [DONE]\n\n",
                chunk(r#"{"content":" hello"}"#, "null"),
                chunk("{}", r#""stop""#)
            );
            let head = concat!(
                "HTTP/1.1 200 OK\r\n",
                "Content-Type: text/event-stream\r\n",
                "Connection: close\r\n",
                "X-RateLimit-Limit-Requests: 100\r\n",
                "x-ratelimit-remaining-requests: -5\r\n",
                "x-ratelimit-limit-tokens: 1e9\r\n",
                "x-ratelimit-remaining-tokens: 18446744073709551616\r\n",
                "x-ratelimit-reset-requests: soon\r\n",
                "x-ratelimit-reset-tokens: -1s\r\n",
                "retry-after: tomorrow\r\n",
                "\r\n"
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(body.as_bytes());
        }
    });
    (port, h)
}

#[test]
fn malformed_quota_headers_give_no_crash_and_no_bogus_figure() {
    for client in ["lean", "reqwest"] {
        const N: usize = 6;
        let (port, server) = malformed_server(N);
        let toml = format!(
            r#"
name = "malformed-quota"
seed = 1

[[targets]]
name = "srv"
base_url = "http://127.0.0.1:{port}/v1"
client = "{client}"
timeouts = {{ connect = "2s", first_token = "5s", idle = "2s", total = "10s" }}

[[models]]
id = "m"
target = "srv"

[workload]
prompts = ["Say something."]
max_tokens = 4

[load]
concurrency = 1
requests = {N}
"#
        );
        let r = run_scenario(&toml, &["--quiet"], &[]);
        assert_ok_or_starved(&r);
        let _ = server.join();
        assert_eq!(r.records.len(), N, "{client}: {}", r.stderr);
        for x in &r.records {
            assert_eq!(x["outcome"], "ok", "{client}: {x}");
            // Only the one readable figure; the garbage is left out, not guessed.
            assert_eq!(
                x["quota"],
                serde_json::json!({ "limit_requests": 100 }),
                "{client}: {x}"
            );
            assert!(x.get("retry_after_s").is_none(), "{client}: {x}");
        }
        let sum = &r.result["quota"][0];
        assert_eq!(u(&sum["responses"]), N as u64, "{client}: {sum}");
        assert_eq!(u(&sum["limit_requests"]), 100);
        for absent in [
            "limit_tokens",
            "lowest_remaining_requests",
            "lowest_remaining_tokens",
            "retry_after_max_s",
        ] {
            assert!(sum.get(absent).is_none(), "{client}: {absent} in {sum}");
        }
        for p in r.result["timeseries"].as_array().expect("series") {
            if let Some(q) = p.get("quota") {
                assert_eq!(q, &serde_json::json!({ "limit_requests": 100 }), "{p}");
            }
        }
    }
}
