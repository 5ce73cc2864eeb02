//! Shared helpers for the integration tests: write a scenario, run the real binary on it
//! against the built-in mock (127.0.0.1, port 0), and read back what it wrote.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub result: serde_json::Value,
    pub records: Vec<serde_json::Value>,
    pub dir: tempfile::TempDir,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_llmload")
}

/// Runs a command with a hard time limit so a hung binary fails the test instead of CI.
pub fn output_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spawn llmload");
    let start = std::time::Instant::now();
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "llmload did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

pub fn write_scenario(dir: &Path, toml: &str) -> PathBuf {
    let p = dir.join("scenario.toml");
    std::fs::write(&p, toml).expect("write scenario");
    p
}

/// Runs `llmload run` on a scenario text with extra args and env, and loads its outputs.
pub fn run_scenario(toml: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path(), toml);
    let result_path = dir.path().join("out").join("result.json");
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .arg(&scenario)
        .arg("--output")
        .arg(&result_path)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output_with_timeout(cmd, Duration::from_secs(90));
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let result = std::fs::read_to_string(&result_path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let records = std::fs::read_to_string(dir.path().join("out").join("result.records.jsonl"))
        .map(|s| {
            s.lines()
                .map(|l| serde_json::from_str(l).expect("every records line is JSON"))
                .collect()
        })
        .unwrap_or_default();
    Run {
        code,
        stdout,
        stderr,
        result,
        records,
        dir,
    }
}

/// A scenario with one mock model; `model_mock` is the inline `mock = {…}` table body and
/// `load` the `[load]` section body.
pub fn scenario(model_mock: &str, workload_extra: &str, load: &str) -> String {
    format!(
        r#"
name = "t"
seed = 7

[[targets]]
name = "sim"
base_url = "mock"
timeouts = {{ connect = "2s", first_token = "5s", idle = "2s", total = "20s" }}

[[models]]
id = "m"
target = "sim"
price = {{ input_per_m = 1.0, output_per_m = 2.0 }}
mock = {{ {model_mock} }}

[workload]
prompts = ["Say something.", "Tell me more about load testing."]
{workload_extra}

[load]
{load}
"#
    )
}

pub fn model(r: &serde_json::Value, i: usize) -> &serde_json::Value {
    &r["models"][i]
}

/// Asserts the run succeeded. A run may also end invalid (exit 3) when — and only when — every
/// reason is the generator reporting its own starvation (timer lateness or CPU), which a
/// loaded 2-core CI machine can cause; a test about something else must not fail on that, and
/// must not pass on any other invalidity.
pub fn assert_ok_or_starved(r: &Run) {
    if r.code == 0 {
        return;
    }
    let reasons: Vec<String> = r.result["validity"]["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let starved = |s: &String| {
        s.contains("schedule lag") || s.contains("event loop") || s.contains("CPU cores")
    };
    assert!(
        r.code == 3 && !reasons.is_empty() && reasons.iter().all(starved),
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
    eprintln!("note: the machine starved the generator: {reasons:?}");
}
