//! `llmload plan` end to end on checked-in results (tests/fixtures/results, built from real mock
//! runs by make_fixtures.py): the seed article's arithmetic, the capacity verdict with and
//! without a sweep, missing prices, the price catalog and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn llmload(args: &[&str]) -> Out {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    let out = output_with_timeout(cmd, Duration::from_secs(60));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/results")
        .join(name)
        .display()
        .to_string()
}

/// Runs `plan` with `--format json` and returns the parsed report.
fn plan_json(args: &[&str]) -> Value {
    let mut all = vec!["plan"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--format", "json"]);
    let o = llmload(&all);
    assert_eq!(o.code, 0, "stdout:\n{}\nstderr:\n{}", o.stdout, o.stderr);
    serde_json::from_str(&o.stdout).expect("plan --format json prints JSON")
}

fn f(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}

fn close(v: &Value, want: f64, tol: f64) {
    let got = f(v);
    assert!((got - want).abs() <= tol, "got {got}, want {want} ± {tol}");
}

/// A copy of a fixture, edited, in a temp folder.
fn edited(name: &str, dir: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap();
    edit(&mut v);
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    p
}

fn model<'a>(v: &'a mut Value, id: &str) -> &'a mut Value {
    v["models"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|m| m["model"] == id)
        .unwrap_or_else(|| panic!("no model {id}"))
}

const SEED: [&str; 7] = [
    "--daily-input-tokens",
    "50M",
    "--daily-output-tokens",
    "12M",
    "--baseline-prices",
    "gpt-4o",
    "--peak-to-average",
];

#[test]
fn seed_arithmetic_in_json_and_table() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("plan.json");
    let single = fixture("seed-single.json");
    let mut args = vec!["plan", single.as_str()];
    args.extend_from_slice(&SEED);
    args.extend_from_slice(&["3", "--json", json_path.to_str().unwrap()]);
    let o = llmload(&args);
    assert_eq!(o.code, 0, "stderr:\n{}", o.stderr);

    // JSON (written beside the table).
    let j: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    close(&j["cost"]["per_day_usd"], 30.46, 0.01);
    close(&j["cost"]["input_per_day_usd"], 15.46, 0.01);
    close(&j["cost"]["output_per_day_usd"], 15.00, 0.01);
    close(&j["cost"]["per_month_usd"], 30.46 * 30.0, 0.3);
    assert_eq!(j["cost"]["missing_prices"], serde_json::json!([]));
    close(&j["baseline"]["per_day_usd"], 245.00, 0.01);
    close(&j["baseline"]["saving_per_day_usd"], 214.54, 0.01);
    close(&j["baseline"]["saving_pct"], 87.5, 0.1);
    assert_eq!(j["baseline"]["name"], "openai/gpt-4o");
    let want = [
        ("deepseek-ai/DeepSeek-V4-Flash", 18e6, 4e6, 9.26),
        ("Qwen/Qwen3-32B", 28e6, 7e6, 16.80),
        ("deepseek-ai/DeepSeek-V4-Pro", 4e6, 1e6, 4.40),
    ];
    let models = j["models"].as_array().unwrap();
    assert_eq!(models.len(), 3);
    for (id, i, o, usd) in want {
        let m = models.iter().find(|m| m["model"] == id).unwrap();
        close(&m["daily_input_tokens"], i, 1.0);
        close(&m["daily_output_tokens"], o, 1.0);
        close(&m["per_day_usd"], usd, 0.005);
        assert_eq!(m["price_from"], "result");
    }
    // Rates: 45 requests sent carried 50,000 input tokens in the fixture.
    let v = &j["volume"];
    close(&v["mean_input_tokens_per_request"], 50_000.0 / 45.0, 1e-6);
    close(&v["daily_requests"], 45_000.0, 1e-6);
    close(&v["average_rate_per_s"], 45_000.0 / 86_400.0, 1e-9);
    close(&v["peak_rate_per_s"], 3.0 * 45_000.0 / 86_400.0, 1e-9);
    assert_eq!(v["daily_output_from"], "given");

    // The table shows the same figures.
    for s in [
        "$30.46", "$245.00", "$214.54", "87.6 %", "$15.46", "$15.00", "$913.80", "45,000",
    ] {
        assert!(o.stdout.contains(s), "table lacks {s}:\n{}", o.stdout);
    }

    // --format json on stdout is the same report; --format markdown has pipe tables.
    let mut args = vec![single.as_str()];
    args.extend_from_slice(&SEED);
    args.push("3");
    let j2 = plan_json(&args);
    assert_eq!(j2["cost"], j["cost"]);
    let mut md = vec!["plan", single.as_str()];
    md.extend_from_slice(&SEED);
    md.extend_from_slice(&["3", "--format", "markdown"]);
    let o = llmload(&md);
    assert_eq!(o.code, 0);
    assert!(
        o.stdout.contains("| total | 50,000,000 | 12,000,000 |"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("| saving | $214.54 |"), "{}", o.stdout);
}

#[test]
fn output_volume_defaults_to_the_measured_ratio() {
    let j = plan_json(&[&fixture("seed-single.json"), "--daily-input-tokens", "50M"]);
    // 12,000 of 50,000 measured tokens were output: 12M a day.
    close(&j["volume"]["daily_output_tokens"], 12e6, 1.0);
    assert_eq!(j["volume"]["daily_output_from"], "measured ratio");
    assert_eq!(j["volume"]["peak_to_average"], 1.0);
    assert_eq!(j["volume"]["peak_to_average_given"], false);
    assert!(j["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("no --peak-to-average")));
}

#[test]
fn single_run_says_what_it_cannot_answer() {
    let single = fixture("seed-single.json");
    let o = llmload(&[
        "plan",
        &single,
        "--daily-input-tokens",
        "50M",
        "--peak-to-average",
        "3",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("not known from a single run"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("A single run cannot answer"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("whether the endpoint holds the peak"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("streams in flight at peak (estimate)"),
        "{}",
        o.stdout
    );
    let j = plan_json(&[
        &single,
        "--daily-input-tokens",
        "50M",
        "--peak-to-average",
        "3",
    ]);
    let c = &j["capacity"];
    assert_eq!(c["basis"], "single run");
    assert!(c.get("holds_peak").is_none(), "{c}");
    assert!(c.get("headroom_pct").is_none(), "{c}");
    assert!(!c["cannot_answer"].as_array().unwrap().is_empty());
    let e2e_ms = f(&c["measured"]["e2e_mean_ms"]);
    close(
        &c["concurrency_at_peak"],
        f(&c["peak_rate_per_s"]) * e2e_ms / 1e3,
        1e-9,
    );
    assert!(c["concurrency_basis"]
        .as_str()
        .unwrap()
        .starts_with("ESTIMATE"));
}

#[test]
fn sweep_verdict_headroom_and_concurrency() {
    let sweep = fixture("seed-sweep.json");
    // Peak 1.5625 req/s against a knee of 10 req/s: holds, 540 % headroom; the 2 req/s step
    // (index 0) is the nearest at or above the peak.
    let j = plan_json(&[
        &sweep,
        "--daily-input-tokens",
        "50M",
        "--peak-to-average",
        "3",
        "--headroom",
        "30%",
    ]);
    let c = &j["capacity"];
    assert_eq!(c["basis"], "sweep");
    assert_eq!(c["holds_peak"], true);
    close(&c["max_rate_within_slo_per_s"], 10.0, 1e-9);
    close(&c["headroom_pct"], (10.0 / 1.5625 - 1.0) * 100.0, 1e-6);
    assert_eq!(c["meets_headroom_target"], true);
    assert_eq!(c["step"]["index"], 0);
    let e2e = f(&c["step"]["e2e_mean_ms"]);
    close(&c["concurrency_at_peak"], 1.5625 * e2e / 1e3, 1e-9);
    assert!(j["source"]["sweep"].as_bool().unwrap());

    // Peak ×20 = 10.4 req/s: over the knee; the 20 req/s step is used.
    let o = llmload(&[
        "plan",
        &sweep,
        "--daily-input-tokens",
        "50M",
        "--peak-to-average",
        "20",
    ]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("does NOT hold the peak"), "{}", o.stdout);
    let j = plan_json(&[
        &sweep,
        "--daily-input-tokens",
        "50M",
        "--peak-to-average",
        "20",
    ]);
    let c = &j["capacity"];
    assert_eq!(c["holds_peak"], false);
    assert!(f(&c["headroom_pct"]) < 0.0);
    assert_eq!(c["step"]["index"], 3);
    close(&c["step"]["offered_rate_per_s"], 20.0, 1e-9);
}

#[test]
fn endpoints_needed_at_peak() {
    // The seed volume's peak is 45,000 requests/day × 3 / 86,400 s = 1.5625 req/s exactly.
    let dir = tempfile::tempdir().unwrap();
    let with_rate = |name: &str, r: f64| {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        edited("seed-sweep.json", &sub, |v| {
            v["sweep"]["knee"]["sustainable_rate_per_s"] = serde_json::json!(r);
        })
    };
    let args = |p: &Path, extra: &[&str]| {
        let mut a = vec![
            p.to_str().unwrap().to_string(),
            "--daily-input-tokens".into(),
            "50M".into(),
            "--peak-to-average".into(),
            "3".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| plan_json(&a.iter().map(|s| s.as_str()).collect::<Vec<_>>());
    // 1.5625 / 0.3125 = 5 exactly: 5 endpoints with no headroom, not 6.
    let p = with_rate("a", 0.3125);
    let c = run(args(&p, &[]))["capacity"].clone();
    assert_eq!(c["endpoints_needed"], 5, "{c}");
    close(&c["endpoints_headroom_pct"], 0.0, 1e-6);
    // 1.5625 / 0.3 = 5.21: 6 endpoints, 6 × 0.3 / 1.5625 − 1 = 15.2 % headroom; a 30 %
    // target needs ceil(1.5625 × 1.3 / 0.3) = ceil(6.77) = 7.
    let p = with_rate("b", 0.3);
    let c = run(args(&p, &["--headroom", "30%"]))["capacity"].clone();
    assert_eq!(c["endpoints_needed"], 6, "{c}");
    close(
        &c["endpoints_headroom_pct"],
        (6.0 * 0.3 / 1.5625 - 1.0) * 100.0,
        1e-6,
    );
    assert_eq!(c["endpoints_for_headroom_target"], 7, "{c}");
    assert!(
        c["verdict"]
            .as_str()
            .unwrap()
            .contains("needs 6 endpoints of the measured 0.30 req/s each"),
        "{c}"
    );
    let o = llmload(
        &["plan"]
            .into_iter()
            .chain(args(&p, &[]).iter().map(|s| s.as_str()))
            .collect::<Vec<_>>(),
    );
    assert!(
        o.stdout.contains("endpoints needed at peak"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("6 (15.2 % headroom)"), "{}", o.stdout);
    // An older result with only `max_rate_within_slo` (10 req/s): one endpoint.
    let c = run(args(Path::new(&fixture("seed-sweep.json")), &[]))["capacity"].clone();
    assert_eq!(c["endpoints_needed"], 1, "{c}");
    close(
        &c["endpoints_headroom_pct"],
        (10.0 / 1.5625 - 1.0) * 100.0,
        1e-6,
    );
}

#[test]
fn sweep_without_a_knee_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let p = edited("seed-sweep.json", dir.path(), |v| {
        v["sweep"]["knee"]
            .as_object_mut()
            .unwrap()
            .remove("max_rate_within_slo");
    });
    let j = plan_json(&[p.to_str().unwrap(), "--daily-input-tokens", "50M"]);
    assert!(j["capacity"].get("holds_peak").is_none());
    assert!(j["capacity"]["verdict"]
        .as_str()
        .unwrap()
        .contains("found no sustainable rate"));
    assert!(j["capacity"].get("endpoints_needed").is_none());
}

#[test]
fn a_model_without_a_price_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = edited("seed-single.json", dir.path(), |v| {
        let m = model(v, "Qwen/Qwen3-32B");
        m["model"] = "acme/secret-model".into();
        m["label"] = "Secret".into();
        m.as_object_mut().unwrap().remove("cost");
    });
    let p = p.to_str().unwrap();
    let o = llmload(&[
        "plan",
        p,
        "--daily-input-tokens",
        "50M",
        "--baseline-prices",
        "2.50/10.00",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("no price for `Secret`"), "{}", o.stdout);
    assert!(o.stdout.contains("NO PRICE"), "{}", o.stdout);
    assert!(o.stdout.contains("--prices FILE"), "{}", o.stdout);
    let j = plan_json(&[
        p,
        "--daily-input-tokens",
        "50M",
        "--baseline-prices",
        "2.50/10.00",
    ]);
    assert_eq!(j["cost"]["missing_prices"], serde_json::json!(["Secret"]));
    assert!(j["cost"].get("per_day_usd").is_none());
    // The baseline is still priced; the saving is not.
    close(&j["baseline"]["per_day_usd"], 245.0, 0.01);
    assert!(j["baseline"].get("saving_pct").is_none());
    // The priced models still show their own cost.
    let flash = j["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["label"] == "DeepSeek V4 Flash")
        .unwrap();
    close(&flash["per_day_usd"], 9.26, 0.005);
}

#[test]
fn catalog_prices_by_alias_and_a_user_file_overrides_them() {
    let dir = tempfile::tempdir().unwrap();
    // No prices in the result: every model is priced from the catalog, one by an alias.
    let p = edited("seed-single.json", dir.path(), |v| {
        for m in v["models"].as_array_mut().unwrap() {
            m.as_object_mut().unwrap().remove("cost");
        }
        model(v, "deepseek-ai/DeepSeek-V4-Pro")["model"] = "DEEPSEEK-V4-PRO".into();
    });
    let p = p.to_str().unwrap();
    let j = plan_json(&[
        p,
        "--daily-input-tokens",
        "50M",
        "--daily-output-tokens",
        "12M",
    ]);
    close(&j["cost"]["per_day_usd"], 30.46, 0.01);
    let from: Vec<&str> = j["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["price_from"].as_str().unwrap())
        .collect();
    assert_eq!(
        from,
        [
            "catalog:deepseek-ai/DeepSeek-V4-Flash",
            "catalog:Qwen/Qwen3-32B",
            "catalog:deepseek-ai/DeepSeek-V4-Pro"
        ]
    );

    // A user file re-prices Qwen3-32B (named by an alias) and adds a baseline model.
    let prices = dir.path().join("prices.toml");
    std::fs::write(
        &prices,
        r#"
[[model]]
id = "qwen3-32b"
input_per_m = 0.10
output_per_m = 0.40
source = "negotiated"

[[model]]
id = "acme/frontier"
aliases = ["frontier"]
input_per_m = 5.0
output_per_m = 15.0
"#,
    )
    .unwrap();
    let ps = prices.to_str().unwrap();
    let j = plan_json(&[
        p,
        "--daily-input-tokens",
        "50M",
        "--daily-output-tokens",
        "12M",
        "--prices",
        ps,
        "--baseline-prices",
        "Frontier",
    ]);
    // 18M×0.27 + 4M×1.10 + 28M×0.10 + 7M×0.40 + 4M×0.55 + 1M×2.20 = 9.26 + 5.60 + 4.40.
    close(&j["cost"]["per_day_usd"], 19.26, 0.01);
    let qwen = j["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == "Qwen/Qwen3-32B")
        .unwrap();
    assert_eq!(qwen["price_from"], "catalog:qwen3-32b");
    close(
        &j["baseline"]["per_day_usd"],
        50.0 * 5.0 + 12.0 * 15.0,
        1e-6,
    );
    assert_eq!(j["baseline"]["name"], "acme/frontier");

    // A scenario's own price wins over the catalog.
    let j = plan_json(&[
        &fixture("seed-single.json"),
        "--daily-input-tokens",
        "50M",
        "--daily-output-tokens",
        "12M",
        "--prices",
        ps,
    ]);
    close(&j["cost"]["per_day_usd"], 30.46, 0.01);

    // A broken price file is named with its line.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[model]]\nid = \"x\"\ninput_per_m = 1\noutput_per_m = \"two\"\n",
    )
    .unwrap();
    let o = llmload(&[
        "plan",
        p,
        "--daily-input-tokens",
        "50M",
        "--prices",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains(&format!("{}:4:", bad.display())),
        "{}",
        o.stderr
    );
}

#[test]
fn cached_input_is_costed_at_the_cached_price() {
    let dir = tempfile::tempdir().unwrap();
    // Half of V4 Flash's measured input was cached; its price has a cached rate of 0.07.
    let p = edited("seed-single.json", dir.path(), |v| {
        let m = model(v, "deepseek-ai/DeepSeek-V4-Flash");
        m["tokens"]["cached_input"] = 9000.into();
        m["cost"]["price"]["cached_input_per_m"] = 0.07.into();
    });
    let j = plan_json(&[
        p.to_str().unwrap(),
        "--daily-input-tokens",
        "50M",
        "--daily-output-tokens",
        "12M",
    ]);
    let flash = &j["models"][0];
    close(&flash["daily_cached_input_tokens"], 9e6, 1.0);
    // 9M × 0.27 + 9M × 0.07 = 2.43 + 0.63.
    close(&flash["input_per_day_usd"], 3.06, 0.005);
    close(&j["cost"]["per_day_usd"], 30.46 - 1.80, 0.01);
}

#[test]
fn bad_volumes_and_files_exit_2() {
    let single = fixture("seed-single.json");
    for (flag, bad) in [
        ("--daily-input-tokens", "50MM"),
        ("--daily-input-tokens", "50 mb"),
        ("--daily-input-tokens", "-5M"),
        ("--daily-input-tokens", "50m"),
        ("--daily-output-tokens", "12X"),
    ] {
        let mut args = vec!["plan", single.as_str()];
        if flag != "--daily-input-tokens" {
            args.extend_from_slice(&["--daily-input-tokens", "50M"]);
        }
        let arg = format!("{flag}={bad}");
        args.push(&arg);
        let o = llmload(&args);
        assert_eq!(o.code, 2, "{flag} {bad}: {}", o.stdout);
        assert!(o.stderr.contains(flag), "{}", o.stderr);
        assert!(o.stderr.contains(&format!("`{bad}`")), "{}", o.stderr);
        assert!(o.stderr.contains("M (million)"), "{}", o.stderr);
        assert!(o.stdout.is_empty());
    }
    let o = llmload(&["plan", &single, "--daily-input-tokens", "0"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("--daily-input-tokens must be more than 0"),
        "{}",
        o.stderr
    );
    let o = llmload(&[
        "plan",
        &single,
        "--daily-input-tokens",
        "5M",
        "--peak-to-average",
        "0.5",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--peak-to-average"), "{}", o.stderr);
    let o = llmload(&[
        "plan",
        &single,
        "--daily-input-tokens",
        "5M",
        "--baseline-prices",
        "gpt-9",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("`gpt-9`"), "{}", o.stderr);

    // The result file: missing, not a result, newer schema.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let o = llmload(&[
        "plan",
        missing.to_str().unwrap(),
        "--daily-input-tokens",
        "5M",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("nope.json"), "{}", o.stderr);
    let newer = edited("seed-single.json", dir.path(), |v| {
        v["schema_version"] = 99.into()
    });
    let o = llmload(&[
        "plan",
        newer.to_str().unwrap(),
        "--daily-input-tokens",
        "5M",
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("seed-single.json") && o.stderr.contains("newer"),
        "{}",
        o.stderr
    );
    let empty = edited("seed-single.json", dir.path(), |v| {
        for m in v["models"].as_array_mut().unwrap() {
            m["requests"]["sent"] = 0.into();
            m["tokens"]["input"] = 0.into();
        }
    });
    let o = llmload(&[
        "plan",
        empty.to_str().unwrap(),
        "--daily-input-tokens",
        "5M",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no workload mix"), "{}", o.stderr);
}

#[test]
fn output_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("plan.md");
    let o = llmload(&[
        "plan",
        &fixture("seed-sweep.json"),
        "--daily-input-tokens",
        "50M",
        "--format",
        "markdown",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("### Capacity at peak (sweep)"), "{text}");
}

#[test]
fn the_docs_example_is_current() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/capacity.md"))
            .unwrap();
    let o = llmload(&[
        "plan",
        "tests/fixtures/results/seed-sweep.json",
        "--daily-input-tokens",
        "50M",
        "--daily-output-tokens",
        "12M",
        "--peak-to-average",
        "3",
        "--baseline-prices",
        "gpt-4o",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        doc.contains(&o.stdout),
        "docs/capacity.md's example differs from the output; update it to:\n{}",
        o.stdout
    );
}
