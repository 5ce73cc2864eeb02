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
