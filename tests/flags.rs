//! The front door from the command line: `--set` overrides on run/validate/sweep, `init`, and
//! runs described by flags alone. Runs go to the built-in mock on 127.0.0.1.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{assert_ok_or_starved, bin, output_with_timeout, run_scenario, scenario, Mock};
use proptest::prelude::*;

fn llmload(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    let out = output_with_timeout(cmd, Duration::from_secs(90));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn mock_scenario() -> String {
    scenario(
        r#"ttft = "5ms", itl = "1ms""#,
        "max_tokens = 4",
        "rate = \"5/s\"\nrequests = 3",
    )
}

#[test]
fn set_overrides_change_the_run_and_are_recorded() {
    let plain = run_scenario(&mock_scenario(), &["--no-records", "-q"], &[]);
    assert_ok_or_starved(&plain);
    let r = run_scenario(
        &mock_scenario(),
        &[
            "--no-records",
            "-q",
            "--set",
            "load.requests=6",
            "--set",
            "seed=11",
            "--set",
            "models[0].weight=2",
            "--set",
            "load.rate=50/s",
        ],
        &[],
    );
    assert_ok_or_starved(&r);
    let res = &r.result;
    assert_eq!(res["scenario"]["seed"], 11);
    assert_eq!(res["models"][0]["requests"]["sent"], 6, "{res:#}");
    assert_eq!(
        res["scenario"]["overrides"],
        serde_json::json!([
            "load.requests=6",
            "seed=11",
            "models[0].weight=2",
            "load.rate=50/s"
        ])
    );
    // The hash is that of the effective scenario, so it differs from the file's.
    assert_ne!(
        res["scenario"]["sha256"],
        plain.result["scenario"]["sha256"]
    );
    assert!(plain.result["scenario"].get("overrides").is_none());
    assert_eq!(plain.result["models"][0]["requests"]["sent"], 3);
}

#[test]
fn a_bad_set_is_refused_like_a_bad_file_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), &mock_scenario());
    let p = path.to_str().unwrap();
    for (cmd, set, want) in [
        (
            "validate",
            "load.rat=20/s",
            "--set: load.rat: unknown field `rat`",
        ),
        ("run", "load.rate=20 per s", "--set: load.rate: "),
        (
            "sweep",
            "models[3].weight=2",
            "--set: models[3].weight: `models` has 1 element",
        ),
        ("validate", "load.rate", "--set: load.rate: write KEY=VALUE"),
    ] {
        let (code, _, err) = llmload(&[cmd, p, "--set", set]);
        assert_eq!(code, 2, "{cmd} --set {set}: {err}");
        assert!(err.contains(want), "{cmd} --set {set}: {err}");
    }
    // The same mistake in the file gives the same field and message, located in the file.
    let typo = mock_scenario().replace("rate = \"5/s\"", "rat = \"20/s\"");
    let other = tempfile::tempdir().unwrap();
    let bad = common::write_scenario(other.path(), &typo);
    let (code, _, err) = llmload(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains(":21:1: load.rat: unknown field `rat`"),
        "{err}"
    );
    // A valid override validates and shows its effect.
    let (code, out, err) = llmload(&["validate", p, "--set", "seed=99"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("seed: 99"), "{out}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]
    #[test]
    fn any_set_argument_gives_a_plan_or_a_located_error(arg in "[ -~]{0,40}") {
        let src = llmload::config::scenario::Source { path: "s.toml".into(), text: mock_scenario() };
        if let Err(e) = llmload::config::overrides::plan_from_source(src, &[arg]) {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("--set: ") || msg.starts_with("s.toml:"), "{}", msg);
        }
    }
}

#[test]
fn init_writes_a_starter_that_validates_and_runs_on_the_mock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.toml");
    let p = path.to_str().unwrap();
    let (code, out, err) = llmload(&["init", p]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("llmload run"), "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("base_url = \"mock\""));
    assert!(text.contains("api_key_env"));
    // A second init keeps the file; --force replaces it.
    std::fs::write(&path, format!("{text}\n# edited\n")).unwrap();
    let (code, _, err) = llmload(&["init", p]);
    assert_eq!(code, 2);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert!(std::fs::read_to_string(&path).unwrap().contains("# edited"));
    let (code, _, err) = llmload(&["init", p, "--force"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    let (code, out, err) = llmload(&["validate", p]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("built-in mock"), "{out}");
    // A short run of the file as written, shortened with --set (the file is unchanged).
    let result = dir.path().join("r.json");
    let (code, out, err) = llmload(&[
        "run",
        p,
        "-q",
        "--no-records",
        "--output",
        result.to_str().unwrap(),
        "--set",
        "load.warmup=0s",
        "--set",
        "load.duration=2s",
        "--set",
        "load.rate=10/s",
    ]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    assert_ok_or_starved(&common::Run {
        code,
        stdout: out.clone(),
        stderr: err,
        result: r.clone(),
        records: Vec::new(),
        dir,
    });
    let ok = r["models"][0]["requests"]["ok"].as_u64().unwrap();
    // Poisson at 10/s for 2 s: 20 expected; far outside 5..=45 would mean the run was not it.
    assert!((5..=45).contains(&ok), "{ok} ok\n{out}");
    assert_eq!(r["models"][0]["requests"]["failed"], 0, "{out}");
}

const SECRET: &str = "sk-flags-test-0123456789";

fn result_of(dir: &std::path::Path, name: &str, args: &[&str]) -> serde_json::Value {
    let out = dir.join(name);
    let mut all = vec![
        "run",
        "-q",
        "--no-records",
        "--output",
        out.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let mut cmd = Command::new(bin());
    cmd.args(&all).env("LLMLOAD_TEST_KEY", SECRET);
    let o = output_with_timeout(cmd, Duration::from_secs(90));
    let code = o.status.code().unwrap_or(-1);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    let r: serde_json::Value = std::fs::read_to_string(&out)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    assert!(code == 0 || code == 3, "exit {code}\n{stdout}\n{stderr}");
    r
}

#[test]
fn a_run_from_flags_is_the_run_of_the_same_scenario_file() {
    let mock = Mock::start(&["--ttft", "5ms", "--itl", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let flags = result_of(
        dir.path(),
        "flags.json",
        &[
            "--url",
            &mock.url(),
            "--model",
            "org/m",
            "--rate",
            "40/s",
            "--requests",
            "12",
            "--input-tokens",
            "64",
            "--output-tokens",
            "8",
            "--api-key-env",
            "LLMLOAD_TEST_KEY",
        ],
    );
    // What a user would write for the same run.
    let file = format!(
        r#"name = "m"
[[targets]]
name = "t"
base_url = "{}"
api_key_env = "LLMLOAD_TEST_KEY"
[[models]]
id = "org/m"
target = "t"
[workload]
prompts = {{ synthetic = {{ input_tokens = 64 }} }}
max_tokens = 8
[load]
rate = "40/s"
requests = 12
"#,
        mock.url()
    );
    let path = common::write_scenario(dir.path(), &file);
    let from_file = result_of(dir.path(), "file.json", &[path.to_str().unwrap()]);
    for r in [&flags, &from_file] {
        let m = &r["models"][0];
        assert_eq!(m["requests"]["sent"], 12, "{r:#}");
        assert_eq!(m["requests"]["ok"], 12, "{r:#}");
    }
    // Same seed, same synthetic prompts, same answers: the same token totals.
    assert_eq!(
        flags["models"][0]["tokens"],
        from_file["models"][0]["tokens"]
    );
    assert_eq!(flags["scenario"]["path"], "(flags)");
    assert!(!flags.to_string().contains(SECRET));
    assert_eq!(flags["scenario"]["name"], "m");
    // The same result shape: every top-level field of one is in the other.
    let keys =
        |r: &serde_json::Value| -> Vec<String> { r.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(keys(&flags), keys(&from_file));
}

#[test]
fn conflicting_or_misplaced_run_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::write_scenario(dir.path(), &mock_scenario());
    let p = path.to_str().unwrap();
    for (args, want) in [
        (
            vec![
                "run",
                "--url",
                "mock",
                "--model",
                "m",
                "--rate",
                "1/s",
                "--concurrency",
                "2",
            ],
            "cannot be used with",
        ),
        (
            vec!["run", p, "--url", "mock", "--model", "m"],
            "cannot be used with",
        ),
        (vec!["run", p, "--rate", "5/s"], "--url"),
        (vec!["run", "--url", "mock"], "--model"),
        (
            vec![
                "run",
                "--url",
                "mock",
                "--model",
                "m",
                "--duration",
                "1s",
                "--requests",
                "3",
            ],
            "cannot be used with",
        ),
        (
            vec!["run", "--url", "mock", "--model", "m", "--rate", "fast"],
            "--rate: load.rate: `fast` is not a rate",
        ),
        (
            vec!["run", "--url", "localhost:8000", "--model", "m"],
            "--url: targets[0].base_url: ",
        ),
        (
            vec!["run", "--url", "mock", "--model", "m", "--duration", "30"],
            "--duration: load.duration: `30` has no unit",
        ),
    ] {
        let (code, _, err) = llmload(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
