//! `compare` projects every run's daily cost at one volume, whatever rate each run measured:
//! two mock runs at different rates and prices, compared at `--daily-requests 1M`, at a token
//! volume, and at the scenarios' `[cost] daily_requests`; each figure is checked against the
//! price × token arithmetic done here from the runs' token counts.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_ok_or_starved, bin, output_with_timeout, run_scenario, scenario};
use serde_json::Value;

struct Priced {
    run: common::Run,
    input_per_m: f64,
    output_per_m: f64,
}

fn priced_run(input_per_m: f64, output_per_m: f64, concurrency: u32, cost: &str) -> Priced {
    let text = scenario(
        r#"ttft = "5ms", itl = "1ms", output_tokens = 7"#,
        "max_tokens = 7",
        &format!("concurrency = {concurrency}\nrequests = 24"),
    )
    .replace(
        "price = { input_per_m = 1.0, output_per_m = 2.0 }",
        &format!("price = {{ input_per_m = {input_per_m}, output_per_m = {output_per_m} }}"),
    ) + cost;
    let run = run_scenario(&text, &["--quiet"], &[]);
    assert_ok_or_starved(&run);
    Priced {
        run,
        input_per_m,
        output_per_m,
    }
}

fn path(p: &Priced) -> String {
    p.run
        .dir
        .path()
        .join("out")
        .join("result.json")
        .display()
        .to_string()
}

fn compare(runs: &[&Priced], args: &[&str]) -> Value {
    let mut cmd = Command::new(bin());
    cmd.arg("compare")
        .args(runs.iter().map(|p| path(p)))
        .args(["--format", "json"])
        .args(args);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    serde_json::from_slice(&o.stdout).expect("JSON")
}

/// The daily-cost row's values, one per column.
fn daily_row(c: &Value) -> Vec<f64> {
    let t = c["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| {
            t["family"]
                .as_str()
                .is_some_and(|f| f.starts_with("cost per day"))
        })
        .expect("a daily cost table");
    t["rows"][0]["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| c["value"].as_f64().expect("value"))
        .collect()
}

/// (measured input tokens, output tokens, requests sent) of the run's only model.
fn measured(p: &Priced) -> (f64, f64, f64) {
    let m = &p.run.result["models"][0];
    let n = |k: &str| m["tokens"][k].as_f64().expect("tokens");
    (
        n("input"),
        n("output"),
        m["requests"]["sent"].as_f64().expect("sent"),
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn compare_projects_every_run_at_one_volume() {
    let a = priced_run(1.0, 2.0, 1, "");
    let b = priced_run(0.25, 8.0, 4, "");
    // The two runs measured different rates: their own projections differ in volume.
    let rate = |p: &Priced| p.run.result["models"][0]["throughput"]["requests_per_s"].as_f64();
    assert_ne!(rate(&a), rate(&b));

    // 1M requests/day: measured cost per request × 1M.
    let c = compare(&[&a, &b], &["--daily-requests", "1M"]);
    assert_eq!(c["daily_volume"]["volume"]["per_day"], 1e6);
    assert_eq!(c["daily_volume"]["source"], "--daily-requests");
    let got = daily_row(&c);
    for (p, v) in [&a, &b].iter().zip(&got) {
        let (i, o, sent) = measured(p);
        assert_eq!(sent, 24.0);
        let want = (i * p.input_per_m + o * p.output_per_m) / 1e6 / sent * 1e6;
        assert!(close(*v, want), "{v} vs {want}");
    }

    // 50M input + 10M output tokens/day: the price per token × the volume, for both runs.
    let c = compare(
        &[&a, &b],
        &[
            "--daily-input-tokens",
            "50M",
            "--daily-output-tokens",
            "10M",
        ],
    );
    let got = daily_row(&c);
    assert!(close(got[0], 50.0 * 1.0 + 10.0 * 2.0), "{got:?}");
    assert!(close(got[1], 50.0 * 0.25 + 10.0 * 8.0), "{got:?}");

    // Text output says which volume and where it came from.
    let mut cmd = Command::new(bin());
    cmd.arg("compare")
        .arg(path(&a))
        .arg(path(&b))
        .args(["--daily-requests", "2.5M"]);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("(daily cost: every column at 2.5M requests/day, from --daily-requests)"),
        "{text}"
    );
    let mut cmd = Command::new(bin());
    cmd.arg("compare")
        .arg(path(&a))
        .args(["--daily-requests", "1M", "--daily-input-tokens", "5M"]);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn without_flags_the_scenarios_cost_volume_is_used() {
    let cost = "\n[cost]\ndaily_requests = 300000\n";
    let a = priced_run(1.0, 2.0, 1, cost);
    let b = priced_run(3.0, 1.0, 3, cost);
    let c = compare(&[&a, &b], &[]);
    assert_eq!(c["daily_volume"]["volume"]["per_day"], 3e5);
    assert_eq!(
        c["daily_volume"]["source"],
        "the scenario's [cost] daily_requests"
    );
    let got = daily_row(&c);
    for (p, v) in [&a, &b].iter().zip(&got) {
        let (i, o, sent) = measured(p);
        let want = (i * p.input_per_m + o * p.output_per_m) / 1e6 / sent * 3e5;
        assert!(close(*v, want), "{v} vs {want}");
    }
    // The report's cost table uses the same volume.
    let mut cmd = Command::new(bin());
    cmd.arg("report")
        .arg(path(&a))
        .arg(path(&b))
        .args(["--format", "markdown"]);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let md = String::from_utf8_lossy(&o.stdout);
    assert!(md.contains("cost/day at one volume (USD)"), "{md}");
    let (i, o_tok, sent) = measured(&a);
    let want = (i * 1.0 + o_tok * 2.0) / 1e6 / sent * 3e5;
    assert!(md.contains(&format!("{want:.2}")), "{want:.2} not in\n{md}");
}
