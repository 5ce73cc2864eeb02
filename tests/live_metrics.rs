//! `--metrics-addr`: the live endpoint is scraped during a run against the built-in mock, and
//! after it ends its measured-phase counters equal the result file's figures; the warm-up's
//! equal the records file's. An address that cannot be bound stops the run before it starts.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{bin, write_scenario};
use serde_json::Value;

const SCENARIO: &str = r#"
name = "live"
seed = 11

[[targets]]
name = "sim"
base_url = "mock"
timeouts = { connect = "2s", first_token = "5s", idle = "2s", total = "20s" }

[[models]]
id = "fast"
target = "sim"
weight = 2
mock = { ttft = "20ms", itl = "4ms", output_tokens = 8, faults = { server_error = 0.15, rate_limit = 0.1 } }

[[models]]
id = "slow"
target = "sim"
mock = { ttft = "150ms", itl = "10ms", output_tokens = 5 }

[workload]
prompts = ["Say something.", "Tell me more about load testing."]
max_tokens = 8

[load]
rate = "40/s"
arrival = "poisson"
warmup = "1s"
duration = "4s"
"#;

/// One sample of a scrape: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for l in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = l.rsplit_once(' ').expect("a sample is `series value`");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                let labels = body
                    .split(',')
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').expect("k=v");
                        (k.to_string(), v.trim_matches('"').to_string())
                    })
                    .collect();
                (n.to_string(), labels)
            }
            None => (series.to_string(), BTreeMap::new()),
        };
        out.push((name, labels, value));
    }
    out
}

/// The value of the one sample named `name` whose labels include `want`.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    let hits: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.2)
        .collect();
    assert_eq!(hits.len(), 1, "{name} {want:?}: {hits:?}");
    hits[0]
}

fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to the metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the answer");
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "a whole exposition: {body}");
    body.to_string()
}

/// Lines of a child's stream, as they come.
fn lines(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first line of `rx` that starts with `prefix`, within `limit`.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    prefix: &str,
    limit: Duration,
    child: &mut Child,
) -> String {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) if l.starts_with(prefix) => return l,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("no line starting `{prefix}` within {limit:?}");
}

/// Starts `llmload COMMAND SCENARIO -o RESULT` serving its live metrics on a free port (kept
/// 60 s after the result), and returns it, its stdout and stderr lines (the stderr receiver
/// must live as long as the child, which writes progress there) and the endpoint's address.
fn serving(
    command: &str,
    scenario: &std::path::Path,
    result_path: &std::path::Path,
) -> (
    Child,
    mpsc::Receiver<String>,
    mpsc::Receiver<String>,
    String,
) {
    let mut child = Command::new(bin())
        .arg(command)
        .arg(scenario)
        .arg("-o")
        .arg(result_path)
        .args(["--metrics-addr", "127.0.0.1:0", "--metrics-linger", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn llmload");
    let out = lines(child.stdout.take().expect("stdout"));
    let err = lines(child.stderr.take().expect("stderr"));
    let line = wait_line(
        &err,
        "metrics: http://",
        Duration::from_secs(30),
        &mut child,
    );
    let addr = line
        .trim_start_matches("metrics: http://")
        .trim_end_matches("/metrics")
        .to_string();
    (child, out, err, addr)
}

#[test]
fn a_scrape_during_the_run_and_after_it_matches_the_result() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path(), SCENARIO);
    let result_path = dir.path().join("result.json");
    let (mut child, out, _err, addr) = serving("run", &scenario, &result_path);

    // Mid-run: requests are counted while the run goes on.
    let ok_of = |s: &[Sample]| {
        s.iter()
            .filter(|(n, l, _)| n == "llmload_requests_total" && l["outcome"] == "ok")
            .map(|x| x.2)
            .sum::<f64>()
    };
    let end = Instant::now() + Duration::from_secs(30);
    let mid = loop {
        let s = parse(&scrape(&addr));
        if ok_of(&s) > 0.0 && value(&s, "llmload_runs_finished_total", &[]) == 0.0 {
            break s;
        }
        assert!(Instant::now() < end, "no request counted mid-run");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(value(&mid, "llmload_runs_started_total", &[]), 1.0);

    // After the result is written, the endpoint lingers: the final scrape.
    wait_line(&out, "result: ", Duration::from_secs(60), &mut child);
    let text = scrape(&addr);
    let _ = child.kill();
    let _ = child.wait();
    let fin = parse(&text);
    assert_eq!(value(&fin, "llmload_runs_finished_total", &[]), 1.0);
    assert!(ok_of(&fin) >= ok_of(&mid));
    assert_eq!(value(&fin, "llmload_requests_in_flight", &[]), 0.0);
    assert!(value(&fin, "llmload_generator_cpu_seconds_total", &[]) > 0.0);

    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&result_path).expect("result"))
            .expect("json");
    let records: Vec<Value> = std::fs::read_to_string(dir.path().join("result.records.jsonl"))
        .expect("records")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    for m in result["models"].as_array().expect("models") {
        compare_model(&fin, m, &records);
    }
}

/// One model's measured figures in the final scrape against the result's, and its warm-up
/// requests against the records file.
fn compare_model(fin: &[Sample], m: &Value, records: &[Value]) {
    let id = m["model"].as_str().expect("model id");
    let sel = [("model", id), ("target", "sim"), ("phase", "measure")];
    let req = &m["requests"];
    let n = |v: &Value| v.as_u64().unwrap_or(0) as f64;
    let outcome = |o: &str| {
        let mut w = sel.to_vec();
        w.push(("outcome", o));
        value(fin, "llmload_requests_total", &w)
    };
    assert_eq!(outcome("ok"), n(&req["ok"]), "{id} ok");
    assert!(outcome("ok") > 0.0, "{id}: requests measured");
    assert_eq!(outcome("dropped"), n(&req["dropped"]), "{id} dropped");
    let errors = req["errors"].as_object().expect("errors");
    for (name, count) in errors {
        assert_eq!(outcome(name), n(count), "{id} {name}");
    }
    let counted: f64 = fin
        .iter()
        .filter(|(name, l, _)| {
            name == "llmload_requests_total" && l["model"] == id && l["phase"] == "measure"
        })
        .map(|s| s.2)
        .sum();
    assert_eq!(counted, n(&req["issued"]), "{id} issued");
    assert_eq!(
        value(fin, "llmload_output_tokens_total", &sel),
        n(&m["tokens"]["output"]),
        "{id} output tokens"
    );
    assert_eq!(
        value(fin, "llmload_input_tokens_total", &sel),
        n(&m["tokens"]["input"]),
        "{id} input tokens"
    );
    for h in ["ttft", "itl", "tpot", "e2e", "schedule_lag", "queue_time"] {
        let want = &m["latency_ms"][h];
        let count = value(fin, &format!("llmload_{h}_seconds_count"), &sel);
        assert_eq!(count, n(&want["count"]), "{id} {h} count");
        let mut inf = sel.to_vec();
        inf.push(("le", "+Inf"));
        assert_eq!(
            value(fin, &format!("llmload_{h}_seconds_bucket"), &inf),
            count
        );
        if count > 0.0 {
            // The result's mean comes from its HDR histogram (3 significant digits).
            let sum = value(fin, &format!("llmload_{h}_seconds_sum"), &sel);
            let expect = want["mean"].as_f64().expect("mean") * count / 1e3;
            assert!(
                (sum - expect).abs() <= 0.01 * expect + 1e-6,
                "{id} {h} sum {sum} vs {expect}"
            );
        }
    }
    // The warm-up is counted apart; the records file holds its requests.
    let warm = records
        .iter()
        .filter(|r| r["model"] == id && r["phase"] == "warmup")
        .count() as f64;
    let scraped: f64 = fin
        .iter()
        .filter(|(name, l, _)| {
            name == "llmload_requests_total" && l["model"] == id && l["phase"] == "warmup"
        })
        .map(|s| s.2)
        .sum();
    assert!(warm > 0.0);
    assert_eq!(scraped, warm, "{id} warm-up requests");
}

#[test]
fn an_address_in_use_stops_the_run_before_it_starts() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = held.local_addr().expect("addr").to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path(), SCENARIO);
    let result_path = dir.path().join("result.json");
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .arg(&scenario)
        .arg("-o")
        .arg(&result_path)
        .args(["--metrics-addr", &addr]);
    let out = common::output_with_timeout(cmd, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("--metrics-addr {addr}")),
        "{stderr}"
    );
    assert!(!result_path.exists());
    assert!(
        !dir.path().join("result.records.jsonl").exists(),
        "nothing was sent"
    );
    drop(held);
}

const SWEEP: &str = r#"
name = "live-sweep"
seed = 3

[[targets]]
name = "sim"
base_url = "mock"
timeouts = { first_token = "10s", idle = "5s", total = "30s" }

[[models]]
id = "m"
target = "sim"
mock = { ttft = "20ms", itl = "5ms", output_tokens = 4, max_concurrency = 4 }

[workload]
prompts = ["hello"]
max_tokens = 4

[load]
concurrency = 1
duration = "1s"

[sweep]
steps = 2
step_duration = "1s"
step_warmup = "200ms"
max_refinements = 0
"#;

/// A sweep serves one set of counters across its steps: after it, every step has started and
/// finished, and the measured requests by outcome are the sum of the steps' own results.
#[test]
fn a_sweep_adds_every_step_to_the_same_counters() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path(), SWEEP);
    let result_path = dir.path().join("sweep.json");
    let (mut child, out, _err, addr) = serving("sweep", &scenario, &result_path);
    wait_line(&out, "result: ", Duration::from_secs(240), &mut child);
    let fin = parse(&scrape(&addr));
    let _ = child.kill();
    let _ = child.wait();

    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&result_path).expect("result"))
            .expect("json");
    let steps = result["sweep"]["steps"].as_array().expect("steps");
    assert!(steps.len() >= 3, "synchronous, probe and rate steps");
    let n = steps.len() as f64;
    assert_eq!(value(&fin, "llmload_runs_started_total", &[]), n);
    assert_eq!(value(&fin, "llmload_runs_finished_total", &[]), n);

    let sel = [("model", "m"), ("target", "sim"), ("phase", "measure")];
    let of_steps = |field: &str| -> f64 {
        steps
            .iter()
            .map(|s| {
                s["result"]["models"][0]["requests"][field]
                    .as_u64()
                    .unwrap_or(0) as f64
            })
            .sum()
    };
    let mut ok = sel.to_vec();
    ok.push(("outcome", "ok"));
    let scraped_ok = value(&fin, "llmload_requests_total", &ok);
    assert!(scraped_ok > 0.0);
    assert_eq!(scraped_ok, of_steps("ok"), "ok requests over the steps");
    let issued: f64 = fin
        .iter()
        .filter(|(name, l, _)| {
            name == "llmload_requests_total" && l["model"] == "m" && l["phase"] == "measure"
        })
        .map(|s| s.2)
        .sum();
    assert_eq!(issued, of_steps("issued"), "issued requests over the steps");
    let ttft_count: f64 = steps
        .iter()
        .map(|s| {
            s["result"]["models"][0]["latency_ms"]["ttft"]["count"]
                .as_u64()
                .unwrap_or(0) as f64
        })
        .sum();
    assert_eq!(
        value(&fin, "llmload_ttft_seconds_count", &sel),
        ttft_count,
        "TTFT samples over the steps"
    );
}
