//! `llmload sweep` against the mock with a known capacity: 4 slots, each request holding one
//! for 20 ms + 20 tokens × 1 ms = 40 ms, so at most 4 / 0.040 = 100 requests/s; beyond that
//! requests queue inside the mock.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bin, output_with_timeout, write_scenario};

const CAPACITY: f64 = 100.0;

const SCENARIO: &str = r#"
name = "sweep-test"
seed = 1

[[targets]]
name = "sim"
base_url = "mock"
timeouts = { first_token = "10s", idle = "5s", total = "30s" }

[[models]]
id = "m"
target = "sim"
price = { input_per_m = 0.3, output_per_m = 1.2 }
mock = { ttft = "20ms", itl = "1ms", output_tokens = 20, max_concurrency = 4 }

[workload]
prompts = ["hello"]
max_tokens = 20

[load]
concurrency = 1
duration = "1s"

[slo]
e2e = "150ms"

[sweep]
steps = 6
step_duration = "2s"
step_warmup = "500ms"
probe_concurrency = 32
max_rate_factor = 2.0
"#;

fn starved(reasons: &serde_json::Value) -> bool {
    reasons.as_array().is_some_and(|a| {
        a.iter().all(|r| {
            let r = r.as_str().unwrap_or("");
            r.contains("schedule lag") || r.contains("event loop") || r.contains("CPU cores")
        })
    })
}

#[test]
fn sweep_finds_the_knee_near_the_configured_capacity_and_stops_on_overload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path(), SCENARIO);
    let out = dir.path().join("sweep.json");
    let mut cmd = Command::new(bin());
    cmd.arg("sweep").arg(&scenario).arg("-o").arg(&out);
    let o = output_with_timeout(cmd, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("result")).expect("json");
    // The result is readable as a result file like any other.
    llmload::results::RunResult::read(&out).expect("readable");
    let sw = &r["sweep"];
    let steps = sw["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["kind"], "synchronous");
    assert_eq!(steps[1]["kind"], "throughput");
    // The probe finds the configured capacity (less the mock's own overhead).
    let max = sw["max_throughput_rps"].as_f64().expect("max");
    assert!(
        (0.75 * CAPACITY..=1.05 * CAPACITY).contains(&max),
        "probe throughput {max}"
    );
    // Little's law holds at the probe: completed/s × mean E2E ≈ the 32 requests in flight.
    // E2E ends when the last bytes reached the host (kernel stamp) while the in-flight count
    // is the generator's, which holds a request until it has read it: on a starved machine
    // (the generator then late by tens of ms, and the step invalid) the count runs higher.
    let little = steps[1]["littles_law_in_flight"].as_f64().expect("little");
    let measured = steps[1]["in_flight_mean"].as_f64().expect("in flight");
    assert!(little < 1.15 * measured, "{little} vs {measured}");
    if steps[1]["valid"] == true {
        assert!(
            little > 0.85 * measured,
            "{little} vs {measured}: {}",
            steps[1]
        );
    }
    // The ladder runs to 2× the probe's rate but stops once the endpoint falls behind.
    let rates: Vec<&serde_json::Value> = steps.iter().filter(|s| s["kind"] == "rate").collect();
    assert!(rates.len() < 6, "no early stop: {} rate steps", rates.len());
    assert!(sw["stopped_early"].is_string(), "{sw}");
    // (How far it climbed depends on how busy the machine is: the mock shares it.)
    assert!(rates.last().is_some(), "no rate step ran");
    // The endpoint's own behaviour: the highest rate whose requests met the SLO lies near
    // the configured capacity.
    let held: Vec<f64> = rates
        .iter()
        .filter(|s| {
            s["slo_attainment"].as_f64() >= Some(0.95)
                && s["completed_per_s"].as_f64().unwrap_or(0.0)
                    >= 0.9 * s["arrivals_per_s"].as_f64().unwrap_or(f64::MAX)
        })
        .filter_map(|s| s["offered_rate_per_s"].as_f64())
        .collect();
    let best = held.iter().copied().fold(0.0, f64::max);
    assert!(
        (0.4 * CAPACITY..=1.1 * CAPACITY).contains(&best),
        "highest rate holding the SLO: {best} (held: {held:?})"
    );
    // The knee is that rate, unless the machine starved the generator in some step (then
    // those steps are invalid and cannot count; nothing else may invalidate a step).
    let all_valid = steps.iter().all(|s| s["valid"] == true);
    if all_valid {
        assert_eq!(sw["knee"]["max_rate_within_slo"].as_f64(), Some(best));
    } else {
        for s in steps.iter().filter(|s| s["valid"] == false) {
            assert!(
                starved(&s["result"]["validity"]["reasons"]),
                "{}",
                s["result"]["validity"]
            );
        }
        eprintln!("note: the machine starved the generator in some steps; knee not asserted");
    }
    // The top level is the knee step (else the baseline), and the table says what was found.
    assert!(
        stdout.contains("max throughput (saturation probe)"),
        "{stdout}"
    );
    assert!(stdout.contains("stopped early"), "{stdout}");

    // `plan` reads a real sweep: a volume whose peak is under the knee holds, one far above
    // does not.
    let plan = |daily: &str| {
        let mut cmd = Command::new(bin());
        cmd.arg("plan")
            .arg(&out)
            .args(["--daily-input-tokens", daily, "--format", "json"]);
        let o = output_with_timeout(cmd, Duration::from_secs(30));
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&o.stdout).expect("plan json")
    };
    // The mock counts one input token per 4 prompt bytes: "hello" is 2 tokens a request.
    let small = plan("100k"); // ≈ 0.6 req/s
    assert_eq!(small["capacity"]["basis"], "sweep", "{small}");
    if all_valid {
        assert_eq!(small["capacity"]["holds_peak"], true, "{small}");
        let huge = plan("1B"); // ≈ 5,800 req/s
        assert_eq!(huge["capacity"]["holds_peak"], false, "{huge}");
    }
}

#[test]
fn bad_sweep_settings_exit_2_with_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(
        dir.path(),
        &SCENARIO.replace("max_rate_factor = 2.0", "max_rate_factor = 0.5"),
    );
    let mut cmd = Command::new(bin());
    cmd.arg("sweep").arg(&scenario);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sweep.max_rate_factor"));
}
