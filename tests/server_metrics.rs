//! The server-side view: llmload scrapes the target's own Prometheus endpoint once a second
//! into the result's time series and summary. The built-in mock serves `GET /metrics` with
//! llama-server's gauge names, and its timing is set (a long TTFT), so how many requests it is
//! working on in each second follows from the load alone.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_ok_or_starved, bin, output_with_timeout, run_scenario, scenario, Run};
use serde_json::Value;

/// TTFT of every request: long enough that a closed-loop worker's requests end at about 2 s,
/// 4 s, 6 s after the start, far from the scrapes in the middle of each second.
const TTFT: &str = "2s";
/// Sending lasts this long; requests begun before its end run on for up to one TTFT.
const DURATION_S: u64 = 5;

/// A closed-loop run of `n` workers on a mock target whose metrics endpoint is `server_metrics`,
/// the mock model's extra settings in `mock_extra`.
fn closed_loop(n: u64, server_metrics: &str, mock_extra: &str) -> Run {
    let text = scenario(
        &format!(r#"ttft = "{TTFT}", itl = "5ms", output_tokens = 2{mock_extra}"#),
        "max_tokens = 2",
        &format!("concurrency = {n}\nduration = \"{DURATION_S}s\""),
    )
    .replace(
        "base_url = \"mock\"\n",
        &format!("base_url = \"mock\"\nserver_metrics = {server_metrics}\n"),
    );
    let r = run_scenario(&text, &[], &[]);
    assert_ok_or_starved(&r);
    r
}

/// The scraped value of `key` for target `sim` in each second of the series (None: no scrape
/// answered in that second).
fn gauge(r: &Run, key: &str) -> Vec<Option<f64>> {
    r.result["timeseries"]
        .as_array()
        .expect("timeseries")
        .iter()
        .map(|p| p["server"]["sim"][key].as_f64())
        .collect()
}

/// The seconds in which every worker's request is certainly in flight: from the start until
/// sending stops (each request runs a whole TTFT, and the next starts as one ends).
fn steady_seconds() -> std::ops::Range<usize> {
    0..DURATION_S as usize
}

#[test]
fn the_running_gauge_equals_the_concurrency_in_every_steady_second() {
    let r = closed_loop(4, "\"mock\"", "");
    // What the load says: the scenario's workers, all busy (the generator's own count agrees).
    let n = r.result["load"]["concurrency"]
        .as_f64()
        .expect("closed loop");
    let series = r.result["timeseries"].as_array().expect("timeseries");
    let running = gauge(&r, "running");
    let waiting = gauge(&r, "waiting");
    for t in steady_seconds() {
        assert_eq!(
            series[t]["in_flight_max"].as_f64(),
            Some(n),
            "second {t}: {}",
            series[t]
        );
        assert_eq!(running[t], Some(n), "second {t}: {}", series[t]);
        // No slot limit in the mock: nothing waits.
        assert_eq!(waiting[t], Some(0.0), "second {t}");
    }

    let s = &r.result["server_metrics"][0];
    assert_eq!(s["target"], "sim");
    assert!(s["url"].as_str().expect("url").ends_with("/metrics"), "{s}");
    let samples = s["samples"].as_u64().expect("samples");
    // One scrape in the middle of each second while the run goes on (sending, then the drain).
    assert!(samples >= DURATION_S, "{s}");
    assert_eq!(s["scrape_errors"], 0, "{s}");
    assert_eq!(s["scrapes"].as_u64(), Some(samples));
    let g = &s["gauges"]["running"];
    assert_eq!(g["metric"], "llamacpp:requests_processing");
    assert_eq!(g["max"].as_f64(), Some(n), "{s}");
    assert_eq!(s["gauges"]["waiting"]["max"].as_f64(), Some(0.0), "{s}");
    // The series holds the summary's samples; only a read taken after the last second of the
    // series (the run's last moments) may be in the summary alone.
    let in_series = running.iter().filter(|v| v.is_some()).count() as u64;
    let summarised = g["samples"].as_u64().expect("count");
    assert!(
        in_series <= summarised && summarised - in_series <= 1,
        "{s}"
    );
    if in_series == summarised {
        let mean = running.iter().flatten().sum::<f64>() / in_series as f64;
        assert!(
            (g["mean"].as_f64().expect("mean") - mean).abs() < 1e-9,
            "{s}"
        );
    }

    // The terminal summary has the line, and the report the chart beside TTFT.
    assert!(
        r.stdout.contains("server `sim` (http://127.0.0.1:")
            && r.stdout.contains("running max 4.0"),
        "{}",
        r.stdout
    );
    let html = r.dir.path().join("report.html");
    let result = r.dir.path().join("out").join("result.json");
    let mut cmd = Command::new(bin());
    cmd.arg("report").arg(&result).arg("-o").arg(&html);
    let out = output_with_timeout(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{out:?}");
    let page = std::fs::read_to_string(&html).expect("report written");
    assert!(
        page.contains("Server: requests running and waiting"),
        "no server chart"
    );
    assert!(
        page.contains("id=\"time_server_queue\""),
        "no server chart svg"
    );
    assert!(
        page.contains("id=\"time_server_ttft\""),
        "no TTFT beside it"
    );
    assert!(
        page.contains("llamacpp:requests_processing"),
        "no gauges table"
    );
}

#[test]
fn a_slot_limit_shows_as_running_and_waiting() {
    let (n, slots) = (4u64, 2u64);
    let r = closed_loop(n, "\"mock\"", &format!(", max_concurrency = {slots}"));
    let running = gauge(&r, "running");
    let waiting = gauge(&r, "waiting");
    // The mock holds `slots` requests generating and the rest waiting for a slot; a request
    // leaves and its worker's next arrives within microseconds, far from mid-second.
    for t in steady_seconds() {
        assert_eq!(running[t], Some(slots.min(n) as f64), "second {t}");
        assert_eq!(
            waiting[t],
            Some(n.saturating_sub(slots) as f64),
            "second {t}"
        );
    }
    let s = &r.result["server_metrics"][0];
    assert_eq!(
        s["gauges"]["waiting"]["metric"],
        "llamacpp:requests_deferred"
    );
}

#[test]
fn a_metrics_endpoint_that_is_down_gives_counted_scrape_errors_and_a_valid_run() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let r = closed_loop(
        2,
        &format!("\"http://user:hunter2@127.0.0.1:{port}/metrics\""),
        "",
    );
    let s = &r.result["server_metrics"][0];
    assert_eq!(s["samples"], 0, "{s}");
    let errors = s["scrape_errors"].as_u64().expect("errors");
    assert!(errors >= DURATION_S, "{s}");
    assert_eq!(s["errors_by_kind"]["connect"].as_u64(), Some(errors), "{s}");
    assert!(s["gauges"].as_object().is_some_and(|g| g.is_empty()), "{s}");
    // The run itself is untouched: every request ended ok.
    let req = &r.result["overall"]["requests"];
    assert_eq!(req["failed"], 0, "{req}");
    assert!(req["ok"].as_u64().expect("ok") >= 2, "{req}");
    assert!(r.result["timeseries"]
        .as_array()
        .expect("series")
        .iter()
        .all(|p| p.get("server").is_none()));
    // The password is nowhere: not in the result, not on the terminal.
    let text = serde_json::to_string(&r.result).expect("json");
    for shown in [&text, &r.stdout, &r.stderr] {
        assert!(!shown.contains("hunter2"), "password shown");
    }
    assert!(r.stdout.contains(&format!(
        "server `sim` (http://127.0.0.1:{port}/metrics): 0 of {errors} scrapes answered ({errors} errors: connect {errors})"
    )), "{}", r.stdout);
}

#[test]
fn a_bad_server_metrics_url_is_refused_before_the_run_with_its_line() {
    let text = scenario("", "", "concurrency = 1\nrequests = 1").replace(
        "base_url = \"mock\"\n",
        "base_url = \"mock\"\nserver_metrics = \"ftp://u:secret@h/metrics\"\n",
    );
    let r = run_scenario(&text, &[], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "scenario.toml:8:1: targets[0].server_metrics: `ftp://<redacted>@h/metrics` is neither"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("secret"));
    assert_eq!(r.result, Value::Null);
}

#[test]
fn validate_names_the_scraped_endpoint_without_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = scenario("", "", "concurrency = 1\nrequests = 1").replace(
        "base_url = \"mock\"\n",
        "base_url = \"mock\"\nserver_metrics = \"http://u:pw-secret@127.0.0.1:9/metrics\"\n",
    );
    let path = common::write_scenario(dir.path(), &text);
    let mut cmd = Command::new(bin());
    cmd.arg("validate").arg(&path);
    let out = output_with_timeout(cmd, Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("server metrics from http://127.0.0.1:9/metrics"),
        "{stdout}"
    );
    assert!(!stdout.contains("pw-secret"), "{stdout}");
}
