//! A model's own tokenizer: a tokenizer file that is missing or broken is refused at
//! validation with its place in the scenario; `tokenizer = "server"` sizes synthetic prompts
//! so the server counts exactly the requested tokens; the result says which tokenizer each
//! model used and how.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{bin, output_with_timeout, run_scenario, write_scenario};
use sha2::{Digest, Sha256};

fn validate(toml: &str, files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let p = write_scenario(dir.path(), toml);
    let mut cmd = Command::new(bin());
    cmd.arg("validate").arg(&p);
    let out = output_with_timeout(cmd, Duration::from_secs(60));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn with_tokenizer(value: &str) -> String {
    format!(
        r#"name = "t"
[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "m"
target = "sim"
tokenizer = "{value}"

[workload]
prompts = {{ synthetic = {{ input_tokens = 20 }} }}

[load]
concurrency = 1
requests = 1
"#
    )
}

#[test]
fn a_missing_or_broken_tokenizer_file_is_refused_at_its_line() {
    let (code, err) = validate(&with_tokenizer("nope/tokenizer.json"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(
            "scenario.toml:9:1: models[0].tokenizer: no tokenizer file or model folder at"
        ),
        "{err}"
    );
    assert!(err.contains("nope/tokenizer.json"), "{err}");

    let (code, err) = validate(
        &with_tokenizer("broken.json"),
        &[("broken.json", "{ \"model\": { \"type\": \"BPE\" ")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("scenario.toml:9:1: models[0].tokenizer: ")
            && err.contains("broken.json is not a Hugging Face tokenizer.json"),
        "{err}"
    );
}

/// A WordLevel tokenizer: every whitespace-separated word is one token.
fn word_level() -> String {
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": { "type": "Whitespace" },
        "post_processor": null, "decoder": null,
        "model": { "type": "WordLevel", "vocab": { "[UNK]": 0, "the": 1 }, "unk_token": "[UNK]" }
    })
    .to_string()
}

#[test]
fn a_tokenizer_file_is_recorded_with_its_hash() {
    let json = word_level();
    let toml = with_tokenizer("tok.json");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("tok.json"), &json).expect("write");
    // The scenario is written beside the tokenizer file by run_scenario's own folder; give
    // the absolute path instead.
    let abs = dir.path().join("tok.json");
    let r = run_scenario(
        &toml.replace("tok.json", abs.to_str().expect("utf-8 path")),
        &[],
        &[],
    );
    common::assert_ok_or_starved(&r);
    let t = &r.result["tokenizers"][0];
    assert_eq!(t["model"], "m");
    assert_eq!(t["kind"], "file");
    assert_eq!(t["name"], abs.to_str().expect("utf-8 path"));
    let sha: String = Sha256::digest(json.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(t["sha256"], sha.as_str());
    assert_eq!(t["synthetic_exact"], true);
}

#[test]
fn server_calibration_makes_the_servers_prompt_counts_equal_the_requested_sizes() {
    let sizes = [20u64, 75, 300, 1234];
    let classes: String = sizes
        .iter()
        .map(|n| {
            format!(
                "[[workload.classes]]\nname = \"c{n}\"\nprompts = {{ synthetic = {{ input_tokens = {n} }} }}\n"
            )
        })
        .collect();
    let toml = format!(
        r#"name = "cal"
seed = 3
[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "m"
target = "sim"
tokenizer = "server"
mock = {{ ttft = "1ms", itl = "1ms", prompt_tokens = "words" }}

[workload]
endpoint = "chat"
stream = true
max_tokens = 2
system = "You are a terse assistant."
{classes}
[load]
concurrency = 2
requests = 40
"#
    );
    let r = run_scenario(&toml, &[], &[]);
    common::assert_ok_or_starved(&r);
    assert_eq!(r.records.len(), 40, "the probes are not part of the run");
    let mut seen = std::collections::BTreeSet::new();
    for rec in &r.records {
        let class = rec["class"].as_str().expect("class");
        let want: u64 = class[1..].parse().expect("size");
        assert_eq!(rec["input_tokens"], want, "{rec}");
        assert_eq!(rec["input_tokens_source"], "usage", "{rec}");
        seen.insert(want);
    }
    assert!(seen.len() >= 3, "several sizes were sent: {seen:?}");
    let t = &r.result["tokenizers"][0];
    assert_eq!(t["kind"], "server");
    assert_eq!(t["synthetic_exact"], true);
    let cal = t["calibration"].as_array().expect("calibration");
    assert_eq!(cal.len(), sizes.len(), "one per class");
    // The system prompt's 5 words + 4 + 4 per message + 3 for the answer: 16.
    for c in cal {
        assert_eq!(c["overhead_tokens"], 16.0, "{c}");
        assert_eq!(c["tokens_per_word"], 1.0, "{c}");
        assert_eq!(c["exact"], true, "{c}");
    }
    let warnings = r.result["warnings"].to_string();
    assert!(
        warnings.contains("calibrated against the server"),
        "{warnings}"
    );
}

/// A sweep calibrates `tokenizer = "server"` once, in its first step, and every later step
/// uses that calibration: the server sees one set of probes (3 fitting + 1 checking per
/// model and class), not one per step, and every step's result lists the same figures.
#[test]
fn a_sweep_calibrates_against_the_server_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let truth = dir.path().join("truth.jsonl");
    let mut mock = Command::new(bin())
        .args(["mock", "--port", "0", "--ttft", "2ms", "--itl", "1ms"])
        .arg("--truth-log")
        .arg(&truth)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn mock");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = mock.stdout.take().expect("stdout");
    let mock = Kill(mock);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("read url");
    let url = line.trim().rsplit(' ').next().expect("url").to_string();
    let toml = format!(
        r#"name = "sweep-cal"
seed = 4
[[targets]]
name = "sim"
base_url = "{url}"
[[models]]
id = "m"
target = "sim"
tokenizer = "server"
[workload]
prompts = {{ synthetic = {{ input_tokens = 40 }} }}
max_tokens = 6
[load]
rate = "5/s"
duration = "1s"
"#
    );
    let p = write_scenario(dir.path(), &toml);
    let out = dir.path().join("sweep.json");
    let mut cmd = Command::new(bin());
    cmd.arg("sweep")
        .arg(&p)
        .args(["--quiet", "--no-records", "--steps", "2"])
        .args(["--step-duration", "1s", "--step-warmup", "0s"])
        .args(["--probe-concurrency", "4", "--max-step-duration", "3s"])
        .arg("--output")
        .arg(&out);
    let o = output_with_timeout(cmd, Duration::from_secs(120));
    assert!(matches!(o.status.code(), Some(0) | Some(3)), "{o:?}");
    // The mock writes its truth log 200 ms after the last request.
    std::thread::sleep(Duration::from_millis(800));
    drop(mock);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("result")).expect("JSON");
    let steps = r["sweep"]["steps"].as_array().expect("steps");
    assert!(
        steps.len() >= 3,
        "sync, probe and steps ran: {}",
        steps.len()
    );
    let first = &steps[0]["result"]["tokenizers"][0]["calibration"];
    assert_eq!(first.as_array().map(|a| a.len()), Some(1), "{first}");
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(
            &s["result"]["tokenizers"][0]["calibration"], first,
            "step {i}"
        );
    }
    // Probes ask for one token; the load asks for six.
    let probes = std::fs::read_to_string(&truth)
        .expect("truth log")
        .lines()
        .filter(|l| {
            let t: serde_json::Value = serde_json::from_str(l).expect("truth line");
            t["completion_tokens"] == 1
        })
        .count();
    assert_eq!(probes, 4, "one calibration for {} steps", steps.len());
}
