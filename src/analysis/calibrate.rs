//! `llmload calibrate`: measures, on the machine at hand, the limits of llmload itself — the
//! TTFT it adds over what the server really did, and the highest open-loop rate at which its
//! own results stay valid — against the built-in mock with a per-request truth log.
//!
//! Owns the calibration scenarios, the join of records with the mock's truth log, and the
//! report. Running a scenario is the command glue's job; this module never sends a request.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use crate::results::RunResult;

/// The streamed request every calibration step sends: 16 tokens, 5 ms TTFT, 1 ms per token.
pub const TOKENS: u32 = 16;

/// A calibration scenario: one mock model, the given `[load]` body.
pub fn scenario(load: &str) -> String {
    format!(
        r#"name = "calibrate"
seed = 1
[[targets]]
name = "mock"
base_url = "mock"
timeouts = {{ connect = "5s", first_token = "30s", idle = "30s", total = "60s" }}
[[models]]
id = "calibrate"
target = "mock"
mock = {{ ttft = "5ms", itl = "1ms", output_tokens = {TOKENS} }}
[workload]
prompts = ["Calibrating llmload on this machine."]
max_tokens = {TOKENS}
[load]
{load}
"#
    )
}

/// llmload's TTFT minus the server's, per request, in ms.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Overhead {
    /// Requests joined.
    pub n: usize,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// Joins a records file with the mock's truth log on the response id and returns the TTFT
/// error of the measured, successful requests.
pub fn ttft_overhead(records: &Path, truth: &Path) -> std::io::Result<Overhead> {
    let mut server: HashMap<String, f64> = HashMap::new();
    for line in std::fs::read_to_string(truth)?.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if let (Some(id), Some(r), Some(f)) = (
            v["id"].as_str(),
            v["received_unix_us"].as_f64(),
            v["first_token_unix_us"].as_f64(),
        ) {
            server.insert(id.to_string(), (f - r) / 1e3);
        }
    }
    let mut errs = Vec::new();
    for line in std::fs::read_to_string(records)?.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["outcome"] != "ok" || v["phase"] != "measure" {
            continue;
        }
        let (Some(id), Some(first), Some(send)) = (
            v["response_id"].as_str(),
            v["t_first_us"].as_f64(),
            v["t_send_us"].as_f64(),
        ) else {
            continue;
        };
        if let Some(s) = server.get(id) {
            errs.push((first - send) / 1e3 - s);
        }
    }
    if errs.is_empty() {
        return Ok(Overhead::default());
    }
    errs.sort_by(f64::total_cmp);
    let n = errs.len();
    Ok(Overhead {
        n,
        mean_ms: errs.iter().sum::<f64>() / n as f64,
        p50_ms: errs[n / 2],
        p99_ms: errs[((n as f64 * 0.99) as usize).min(n - 1)],
    })
}

/// One open-loop step of the rate ladder.
#[derive(Debug, Clone)]
pub struct Step {
    /// Offered rate (req/s).
    pub offered: f64,
    /// Achieved send rate (req/s).
    pub achieved: f64,
    /// Schedule lag p99 (ms).
    pub lag_p99_ms: f64,
    /// Event-loop probe lateness p99 (ms).
    pub loop_lag_p99_ms: f64,
    /// Generator CPU cores used.
    pub cpu_cores: f64,
    /// Whether the run was valid.
    pub valid: bool,
    /// Why not.
    pub reasons: Vec<String>,
}

impl Step {
    /// Reads a step from a finished result.
    pub fn from_result(offered: f64, r: &RunResult) -> Step {
        Step {
            offered,
            achieved: r.load.achieved_send_rate_per_s,
            lag_p99_ms: r.load.schedule_lag_ms.p99,
            loop_lag_p99_ms: r.generator.event_loop_lag_ms.p99,
            cpu_cores: r.generator.cpu_cores_used_mean,
            valid: r.validity.valid,
            reasons: r.validity.reasons.clone(),
        }
    }
}

/// The rates tried, doubling from `start` up to `max`.
pub fn ladder(start: f64, max: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut r = start.max(1.0);
    while r <= max {
        out.push(r);
        r *= 2.0;
    }
    out
}

/// The printed report.
pub fn report(threads: usize, c1: &Overhead, c32: &Overhead, steps: &[Step]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "llmload calibrate — this machine, {threads} runtime worker thread(s), built-in mock on its own thread"
    );
    let _ = writeln!(
        s,
        "workload: streamed chat, {TOKENS} tokens, server TTFT 5 ms, 1 ms between tokens\n"
    );
    let _ = writeln!(
        s,
        "TTFT llmload adds over the server's own (joined on response id):"
    );
    for (label, o) in [("concurrency 1", c1), ("concurrency 32", c32)] {
        let _ = writeln!(
            s,
            "  {label:<15} mean {:.3} ms  p50 {:.3} ms  p99 {:.3} ms  (n={})",
            o.mean_ms, o.p50_ms, o.p99_ms, o.n
        );
    }
    let _ = writeln!(s, "\nopen-loop rate ladder (Poisson arrivals):");
    let _ = writeln!(
        s,
        "  {:>10}  {:>10}  {:>12}  {:>14}  {:>9}  verdict",
        "offered/s", "achieved/s", "lag p99 ms", "loop lag p99", "CPU cores"
    );
    for st in steps {
        let _ = writeln!(
            s,
            "  {:>10.0}  {:>10.1}  {:>12.3}  {:>14.3}  {:>9.2}  {}",
            st.offered,
            st.achieved,
            st.lag_p99_ms,
            st.loop_lag_p99_ms,
            st.cpu_cores,
            if st.valid {
                "valid".to_string()
            } else {
                format!("INVALID: {}", st.reasons.join("; "))
            }
        );
    }
    let best = steps
        .iter()
        .filter(|s| s.valid)
        .map(|s| s.offered)
        .fold(None, |a: Option<f64>, r| Some(a.map_or(r, |a| a.max(r))));
    match best {
        Some(r) => {
            let _ = writeln!(
                s,
                "\nhighest valid open-loop rate: {r:.0} req/s of {TOKENS}-token streams; plan runs below it, or add --threads / shards"
            );
        }
        None => {
            let _ = writeln!(
                s,
                "\nno step was valid: this machine cannot hold even the lowest rate tried"
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ladder_doubles_up_to_the_cap() {
        assert_eq!(ladder(250.0, 2000.0), vec![250.0, 500.0, 1000.0, 2000.0]);
        assert!(ladder(500.0, 100.0).is_empty());
    }

    #[test]
    fn overhead_joins_on_response_id() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (rec, truth) = (dir.path().join("r.jsonl"), dir.path().join("t.jsonl"));
        std::fs::write(
            &rec,
            concat!(
                r#"{"outcome":"ok","phase":"measure","response_id":"a","t_send_us":1000,"t_first_us":7000}"#, "\n",
                r#"{"outcome":"ok","phase":"warmup","response_id":"b","t_send_us":0,"t_first_us":9000}"#, "\n",
                r#"{"outcome":"http_5xx","phase":"measure","response_id":"c","t_send_us":0,"t_first_us":9000}"#, "\n",
            ),
        )
        .expect("write");
        std::fs::write(
            &truth,
            concat!(
                r#"{"id":"a","received_unix_us":100,"first_token_unix_us":5600}"#,
                "\n",
                r#"{"id":"b","received_unix_us":0,"first_token_unix_us":1}"#,
                "\n",
            ),
        )
        .expect("write");
        let o = ttft_overhead(&rec, &truth).expect("read");
        assert_eq!(o.n, 1);
        assert!((o.mean_ms - 0.5).abs() < 1e-9, "{o:?}");
    }

    #[test]
    fn scenario_is_valid() {
        let src = crate::config::scenario::Source {
            path: "calibrate.toml".into(),
            text: scenario("concurrency = 1\nduration = \"1s\""),
        };
        let f = src.parse().expect("parses");
        crate::config::plan::Plan::build(&src, f).expect("valid");
    }
}
