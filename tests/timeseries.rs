//! The result's 1 s time series against a server whose timing is set: the mock's TTFT steps
//! from 100 ms to 400 ms five seconds into the run, and every second's figures are checked
//! against what the records file says happened in that second.

mod common;

use std::collections::BTreeMap;

use common::{assert_ok_or_starved, run_scenario, scenario};
use serde_json::Value;

const BEFORE_MS: f64 = 100.0;
const AFTER_MS: f64 = 400.0;
const STEP_S: u64 = 5;

fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

fn stepped_run() -> common::Run {
    let r = run_scenario(
        &scenario(
            &format!(
                r#"ttft = "{BEFORE_MS}ms", ttft_steps = [{{ after = "{STEP_S}s", ttft = "{AFTER_MS}ms" }}], itl = "5ms", output_tokens = 2"#
            ),
            "max_tokens = 2",
            "arrival = \"constant\"\nrate = \"20/s\"\nduration = \"10s\"\nmax_in_flight = 64",
        ),
        &["--quiet"],
        &[],
    );
    assert_ok_or_starved(&r);
    r
}

#[test]
fn per_second_ttft_follows_a_ttft_step_and_counts_match_the_records() {
    let r = stepped_run();
    let series = r.result["timeseries"].as_array().expect("timeseries");
    assert!(r.records.len() >= 150, "{} records", r.records.len());

    // The mock's step starts STEP_S after the first request it received; the records say
    // when each request was sent (the run's clock). A request sent within 50 ms of the step
    // could have landed on either side of it (the send and the server's receive stamp differ
    // by the loopback trip), so its second is ambiguous.
    let first_send = r
        .records
        .iter()
        .filter_map(|x| x["t_send_us"].as_u64())
        .min()
        .expect("a request was sent");
    let step_us = first_send + STEP_S * 1_000_000;
    let mut expected: BTreeMap<u64, (Vec<f64>, bool)> = BTreeMap::new();
    let mut sent: BTreeMap<u64, u64> = BTreeMap::new();
    let mut ok: BTreeMap<u64, u64> = BTreeMap::new();
    let mut tokens: BTreeMap<u64, u64> = BTreeMap::new();
    for x in &r.records {
        let sec = |k: &str| x[k].as_u64().map(|t| t / 1_000_000);
        if let Some(s) = sec("t_send_us") {
            *sent.entry(s).or_default() += 1;
        }
        assert_eq!(x["outcome"], "ok", "{x}");
        *ok.entry(sec("t_end_us").expect("end")).or_default() += 1;
        for k in ["t_first_us", "t_last_us"] {
            *tokens.entry(sec(k).expect("token time")).or_default() += 1;
        }
        let ts = x["t_send_us"].as_u64().expect("sent");
        let configured = if ts < step_us { BEFORE_MS } else { AFTER_MS };
        let ambiguous = ts.abs_diff(step_us) < 50_000;
        let e = expected
            .entry(sec("t_first_us").expect("first"))
            .or_default();
        e.0.push(configured);
        e.1 |= ambiguous;
    }

    let mut judged = (0, 0);
    for p in series {
        let t = u(p, "t_s");
        // Counts: exactly what the records say, second by second.
        assert_eq!(
            u(p, "sent"),
            sent.get(&t).copied().unwrap_or(0),
            "second {t} sent"
        );
        assert_eq!(
            u(p, "ok"),
            ok.get(&t).copied().unwrap_or(0),
            "second {t} ok"
        );
        assert_eq!(u(p, "failed"), 0, "second {t}");
        assert_eq!(
            u(p, "output_tokens"),
            tokens.get(&t).copied().unwrap_or(0),
            "second {t} tokens"
        );
        let Some((configured, ambiguous)) = expected.get(&t) else {
            assert!(p.get("ttft_p50_ms").is_none(), "second {t}: no first token");
            continue;
        };
        // Seconds whose first tokens came from requests on both sides of the step (the second
        // the step falls in, and the one after when the 400 ms requests spill over) hold a
        // mixture: their median is neither value and is not judged.
        let mixed = configured.iter().any(|&c| c != configured[0]);
        if mixed || *ambiguous {
            continue;
        }
        let want = configured[0];
        let p50 = p["ttft_p50_ms"].as_f64().expect("p50");
        let p99 = p["ttft_p99_ms"].as_f64().expect("p99");
        // The server never answers early; HDR's 2-digit buckets and the loopback trip add
        // well under 1 %, a loaded CI machine a little more.
        assert!(
            p50 >= want * 0.99 && p50 <= want * 1.05,
            "second {t}: TTFT p50 {p50} ms, configured {want} ms"
        );
        assert!(p99 >= p50 && p99 >= want * 0.99, "second {t}: p99 {p99}");
        if want == BEFORE_MS {
            judged.0 += 1;
        } else {
            judged.1 += 1;
        }
    }
    // At least four whole seconds on each side of the step were judged.
    assert!(judged.0 >= 4 && judged.1 >= 4, "judged seconds {judged:?}");

    // In flight: 20 req/s × ≈0.11 s ≈ 2 before the step, × ≈0.41 s ≈ 8 after it (Little's law).
    let max_in = |range: std::ops::Range<u64>| {
        series
            .iter()
            .filter(|p| range.contains(&u(p, "t_s")))
            .map(|p| u(p, "in_flight_max"))
            .max()
            .unwrap_or(0)
    };
    let (early, late) = (max_in(1..4), max_in(7..10));
    assert!(
        (1..=6).contains(&early),
        "in flight before the step: {early}"
    );
    assert!((6..=20).contains(&late), "in flight after the step: {late}");

    // CPU: one figure per whole second the generator ran, never negative.
    let cpu: Vec<f64> = series
        .iter()
        .filter_map(|p| p["cpu_cores_used"].as_f64())
        .collect();
    assert!(cpu.len() >= 8, "{} seconds with a CPU figure", cpu.len());
    assert!(cpu.iter().all(|c| (0.0..=64.0).contains(c)), "{cpu:?}");
}
