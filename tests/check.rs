//! Gates end to end: `llmload check` (claims and baselines), `llmload compare` and
//! `llmload run --claims`, on results made by running the real binary against the mock.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn llmload(args: &[&str]) -> Out {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    let out = output_with_timeout(cmd, Duration::from_secs(90));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
    }
}

/// Whether a run ended invalid only because the (loaded, 2-core) machine starved the generator.
fn starved(r: &Run) -> bool {
    let reasons = r.result["validity"]["reasons"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    r.code == 3
        && !reasons.is_empty()
        && reasons.iter().all(|x| {
            let s = x.as_str().unwrap_or_default();
            s.contains("schedule lag") || s.contains("event loop") || s.contains("CPU cores")
        })
}

/// Asserts a run's exit code, allowing exit 3 only for generator starvation, and then marks
/// such a result valid: the tests that read it are about gates, not about this machine.
fn expect_code(r: &Run, want: i32) {
    if r.code == want {
        return;
    }
    assert!(
        starved(r),
        "exit {} (wanted {want})\nstdout:\n{}\nstderr:\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
    eprintln!("note: the machine starved the generator; result marked valid for the gate test");
    let p = r.dir.path().join("out").join("result.json");
    let mut v = r.result.clone();
    v["validity"] = serde_json::json!({"valid": true, "reasons": []});
    std::fs::write(p, v.to_string()).expect("rewrite result");
}

/// A finished mock run (TTFT 5 ms, 40 requests) shared by the tests that only read it.
fn fixture() -> &'static (Run, PathBuf) {
    static RUN: OnceLock<(Run, PathBuf)> = OnceLock::new();
    RUN.get_or_init(|| {
        let r = run_scenario(
            &scenario(
                r#"ttft = "5ms", itl = "1ms", output_tokens = 8"#,
                "max_tokens = 8",
                "concurrency = 4\nrequests = 40",
            ),
            &["--quiet"],
            &[],
        );
        expect_code(&r, 0);
        let p = r.dir.path().join("out").join("result.json");
        (r, p)
    })
}

fn claims_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write claims");
    p
}

fn check(claims: &str, extra: &[&str]) -> Out {
    let (_, result) = fixture();
    let dir = tempfile::tempdir().expect("tempdir");
    let c = claims_file(dir.path(), "claims.toml", claims);
    let mut args = vec![
        "check",
        result.to_str().expect("utf-8 path"),
        "--claims",
        c.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    llmload(&args)
}

#[test]
fn passing_claims_exit_0_with_the_table() {
    let o = check(
        "[[claims]]\nexpr = \"ttft.mean <= 2s\"\n[[claims]]\nexpr = \"error_rate <= 0%\"\nmodel = \"m\"\n",
        &[],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    for needle in [
        "claim",
        "measured",
        "margin",
        "verdict",
        "(n=40)",
        "2 pass, 0 fail",
    ] {
        assert!(o.stdout.contains(needle), "{needle}: {}", o.stdout);
    }
    assert!(o.stdout.contains("ttft = latency_ms.ttft"), "{}", o.stdout);
}

#[test]
fn a_failed_claim_exits_1() {
    let o = check("[[claims]]\nexpr = \"ttft.mean <= 1ms\"\n", &[]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("FAIL"), "{}", o.stdout);
}

#[test]
fn a_failed_warn_claim_exits_0() {
    let o = check(
        "[[claims]]\nexpr = \"ttft.mean <= 1ms\"\nseverity = \"warn\"\n",
        &[],
    );
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("warn"), "{}", o.stdout);
}

#[test]
fn inconclusive_fails_only_under_strict() {
    // 40 samples cannot bound a p99 from above (that needs 368), so cannot support the claim.
    let text = "[[claims]]\nexpr = \"ttft.p99 <= 2s\"\n";
    let o = check(text, &[]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("inconclusive"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("40 samples cannot bound p99 from above (needs ≥ 368)"),
        "{}",
        o.stdout
    );
    let o = check(text, &["--strict"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
}

#[test]
fn bad_claims_exit_2_with_file_line_column_and_text() {
    let o = check(
        "[[claims]]\nexpr = \"ttft.p95 <= 2s\"\n\n[[claims]]\nexpr = \"ttft.p95 <= 2 parsecs\"\n",
        &[],
    );
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains("claims.toml:5:21: claims[1].expr:"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("2 parsecs"), "{}", o.stderr);
    let o = check("[[claims]]\nexpr = \"tfft.p95 <= 2s\"\n", &[]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("valid metrics: ttft"), "{}", o.stderr);
    let o = check(
        "[[claims]]\nexpr = \"ttft.p95 <= 2s\"\nmodel = \"gpt-9\"\n",
        &[],
    );
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("claims.toml:3:1: claims[0].model: unknown model `gpt-9`"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("its models are: m"), "{}", o.stderr);
}

#[test]
fn junit_and_markdown_are_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let junit = dir.path().join("j.xml");
    let md = dir.path().join("s.md");
    let o = check(
        "[[claims]]\nexpr = \"ttft.mean <= 1ms\"\nname = \"fast <first> token & more\"\n[[claims]]\nexpr = \"ttft.p99 <= 1s\"\n",
        &[
            "--junit",
            junit.to_str().expect("path"),
            "--markdown",
            md.to_str().expect("path"),
        ],
    );
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 2, "{xml}");
    assert!(
        xml.contains("name=\"fast &lt;first&gt; token &amp; more\""),
        "{xml}"
    );
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert_eq!(xml.matches("<skipped ").count(), 1, "{xml}");
    let md = std::fs::read_to_string(&md).expect("markdown written");
    assert!(md.contains("| claim | model |"), "{md}");
}

#[test]
fn run_with_a_broken_claim_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = claims_file(
        dir.path(),
        "claims.toml",
        "[[claims]]\nexpr = \"ttft.mean <= 100ms\"\nname = \"provider TTFT claim\"\n\n[[claims]]\nexpr = \"error_rate <= 0%\"\n",
    );
    let r = run_scenario(
        &scenario(
            r#"ttft = "300ms", itl = "1ms", output_tokens = 4"#,
            "max_tokens = 4",
            "concurrency = 4\nrequests = 12",
        ),
        &["--quiet", "--claims", c.to_str().expect("path")],
        &[],
    );
    // Exit 1; or 3 if the machine starved the generator (an invalid run wins over claims), and
    // the claims table is printed either way.
    expect_code(&r, 1);
    assert!(r.stdout.contains("provider TTFT claim"), "{}", r.stdout);
    assert!(r.stdout.contains("1 pass, 1 fail"), "{}", r.stdout);
    // The result is still written.
    assert_eq!(r.result["models"][0]["requests"]["ok"], 12);
}

#[test]
fn run_with_holding_claims_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = claims_file(
        dir.path(),
        "claims.toml",
        "[[claims]]\nexpr = \"ttft.mean <= 5s\"\nmodel = \"m\"\n",
    );
    let r = run_scenario(
        &scenario(
            r#"ttft = "5ms", itl = "1ms", output_tokens = 4"#,
            "max_tokens = 4",
            "concurrency = 2\nrequests = 6",
        ),
        &["--quiet", "--claims", c.to_str().expect("path")],
        &[],
    );
    expect_code(&r, 0);
}

#[test]
fn run_refuses_a_claim_on_an_unknown_model_before_sending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = claims_file(
        dir.path(),
        "claims.toml",
        "[[claims]]\nexpr = \"ttft.mean <= 5s\"\nmodel = \"nope\"\n",
    );
    let r = run_scenario(
        &scenario(
            r#"ttft = "5ms""#,
            "max_tokens = 4",
            "concurrency = 1\nrequests = 2",
        ),
        &["--quiet", "--claims", c.to_str().expect("path")],
        &[],
    );
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("unknown model `nope`"), "{}", r.stderr);
    assert!(r.result.is_null(), "no result should be written");
}

fn ttft_run(ttft: &str, requests: u32) -> Run {
    let r = run_scenario(
        &scenario(
            &format!(r#"ttft = "{ttft}", itl = "1ms", output_tokens = 4"#),
            "max_tokens = 4",
            &format!("concurrency = 50\nrequests = {requests}"),
        ),
        &["--quiet", "--no-records"],
        &[],
    );
    expect_code(&r, 0);
    r
}

fn result_path(r: &Run) -> String {
    r.dir
        .path()
        .join("out")
        .join("result.json")
        .display()
        .to_string()
}

#[test]
fn baseline_with_enough_samples_flags_the_regression() {
    let old = ttft_run("50ms", 200);
    let new = ttft_run("150ms", 200);
    let o = llmload(&[
        "check",
        &result_path(&new),
        "--baseline",
        &result_path(&old),
        "--tolerance",
        "10%",
    ]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("REGRESSION"), "{}", o.stdout);
    assert!(o.stdout.contains("ttft.p50"), "{}", o.stdout);
    // The other way round TTFT is an improvement. (Other figures, e.g. TPOT on a 1 ms mock
    // ITL, move with the load on the test machine, so only TTFT is asserted.)
    let o = llmload(&[
        "check",
        &result_path(&old),
        "--baseline",
        &result_path(&new),
    ]);
    let line = o
        .stdout
        .lines()
        .find(|l| l.contains("ttft.p50"))
        .unwrap_or_default();
    assert!(line.contains("improvement"), "{}", o.stdout);
    // A per-metric tolerance overrides the default. Assertions look at the TTFT rows only:
    // on a loaded machine the sub-millisecond ITL/TPOT of this mock can move by any factor.
    let row = |out: &str, key: &str| {
        out.lines()
            .find(|l| l.contains(key))
            .unwrap_or_default()
            .to_string()
    };
    let loose = llmload(&[
        "check",
        &result_path(&new),
        "--baseline",
        &result_path(&old),
        "--tolerance-metric",
        "ttft=1000%",
    ]);
    assert!(
        !row(&loose.stdout, "ttft.p50").contains("REGRESSION"),
        "{}",
        loose.stdout
    );
    let o = llmload(&[
        "check",
        &result_path(&new),
        "--baseline",
        &result_path(&old),
        "--tolerance",
        "1000%",
        "--tolerance-metric",
        "ttft.p50=10%",
    ]);
    assert!(
        row(&o.stdout, "ttft.p50").contains("REGRESSION"),
        "{}",
        o.stdout
    );
    assert!(
        !row(&o.stdout, "ttft.p90").contains("REGRESSION"),
        "{}",
        o.stdout
    );
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
}

#[test]
fn baseline_with_three_samples_refuses_to_call_a_regression() {
    let old = ttft_run("50ms", 3);
    let new = ttft_run("150ms", 3);
    let o = llmload(&[
        "check",
        &result_path(&new),
        "--baseline",
        &result_path(&old),
    ]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(!o.stdout.contains("REGRESSION"), "{}", o.stdout);
    assert!(o.stdout.contains("not significant"), "{}", o.stdout);
}

#[test]
fn compare_prints_a_column_per_file_and_model_in_every_format() {
    let (_, a) = fixture();
    let b = ttft_run("50ms", 20);
    let b = result_path(&b);
    let a = a.to_str().expect("path");
    let o = llmload(&["compare", a, &b]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for family in [
        "TTFT (from send)",
        "ITL",
        "TPOT",
        "E2E",
        "decode speed (per stream)",
        "throughput (aggregate over the window)",
        "errors",
        "cost",
    ] {
        assert!(o.stdout.contains(family), "{family}: {}", o.stdout);
    }
    assert!(o.stdout.contains("result:m"), "{}", o.stdout);
    assert!(o.stdout.contains("×)"), "{}", o.stdout);
    let o = llmload(&["compare", a, &b, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&o.stdout).expect("json");
    assert_eq!(v["columns"].as_array().map(|c| c.len()), Some(2));
    let o = llmload(&["compare", a, &b, "--format", "csv"]);
    assert!(o
        .stdout
        .starts_with("family,row,unit,column,file,model,value,ratio\n"));
    let o = llmload(&["compare", a, &b, "--format", "markdown"]);
    assert!(o.stdout.contains("|---|---:|---:|"), "{}", o.stdout);
    let o = llmload(&["compare", a, "--format", "xml"]);
    assert_eq!(o.code, 2);
}

#[test]
fn check_refuses_a_result_of_a_newer_schema() {
    let (_, result) = fixture();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(result).expect("read");
    let newer = text.replacen("\"schema_version\": 1", "\"schema_version\": 99", 1);
    let p = dir.path().join("newer.json");
    std::fs::write(&p, newer).expect("write");
    let c = claims_file(
        dir.path(),
        "c.toml",
        "[[claims]]\nexpr = \"ttft.mean <= 1s\"\n",
    );
    let o = llmload(&[
        "check",
        p.to_str().expect("path"),
        "--claims",
        c.to_str().expect("path"),
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("schema_version 99 is newer"),
        "{}",
        o.stderr
    );
}

#[test]
fn shipped_claims_files_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (_, result) = fixture();
    for name in ["provider-published.toml", "ci-gate.toml"] {
        let p = root.join("claims").join(name);
        let o = llmload(&[
            "check",
            result.to_str().expect("path"),
            "--claims",
            p.to_str().expect("path"),
        ]);
        // The fixture has one model `m`, so ci-gate's per-model claims name unknown models;
        // what must never happen is a syntax error in the shipped files.
        assert!(!o.stderr.contains(".expr:"), "{name}: {}", o.stderr);
        assert!(
            o.code == 0 || o.code == 1 || o.stderr.contains("unknown model"),
            "{name}: {}",
            o.stderr
        );
    }
}

#[test]
fn checking_an_invalid_run_exits_3_after_the_table() {
    let (_, result) = fixture();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(result).expect("read")).expect("json");
    v["validity"] = serde_json::json!({"valid": false, "reasons": ["p99 schedule lag too high"]});
    let p = dir.path().join("invalid.json");
    std::fs::write(&p, v.to_string()).expect("write");
    let c = claims_file(
        dir.path(),
        "c.toml",
        "[[claims]]\nexpr = \"ttft.mean <= 5s\"\n",
    );
    let o = llmload(&[
        "check",
        p.to_str().expect("path"),
        "--claims",
        c.to_str().expect("path"),
    ]);
    assert_eq!(o.code, 3, "{}{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("INVALID"), "{}", o.stdout);
    assert!(o.stdout.contains("1 pass"), "{}", o.stdout);
}

#[test]
fn usage_errors_exit_2() {
    let (_, result) = fixture();
    let result = result.to_str().expect("path");
    // Neither claims nor a baseline.
    assert_eq!(llmload(&["check", result]).code, 2);
    // A malformed tolerance.
    let o = llmload(&["check", result, "--baseline", result, "--tolerance", "ten"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--tolerance"), "{}", o.stderr);
    let o = llmload(&[
        "check",
        result,
        "--baseline",
        result,
        "--tolerance-metric",
        "ttfx=5%",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("ttfx"), "{}", o.stderr);
    // CI report files from `run` need claims; refused before anything is sent.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = write_scenario(
        dir.path(),
        &scenario(
            r#"ttft = "5ms""#,
            "max_tokens = 4",
            "concurrency = 1\nrequests = 2",
        ),
    );
    let o = llmload(&[
        "run",
        s.to_str().expect("path"),
        "--junit",
        dir.path().join("j.xml").to_str().expect("path"),
    ]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("need --claims"), "{}", o.stderr);
}

#[test]
fn baseline_against_itself_changes_nothing() {
    let (_, result) = fixture();
    let result = result.to_str().expect("path");
    let o = llmload(&["check", result, "--baseline", result]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains("0 regression(s), 0 improvement(s)"),
        "{}",
        o.stdout
    );
    assert!(!o.stdout.contains("warning:"), "{}", o.stdout);
}

#[test]
fn run_stops_early_when_an_abort_claim_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let claims = dir.path().join("abort.toml");
    std::fs::write(
        &claims,
        "[[claims]]\nexpr = \"ttft.p50 <= 20ms\"\nabort = true\n\n[[claims]]\nexpr = \"error_rate < 50%\"\n",
    )
    .expect("write claims");
    let started = std::time::Instant::now();
    let r = run_scenario(
        &scenario(
            r#"ttft = "150ms", itl = "2ms", output_tokens = 4"#,
            "max_tokens = 4",
            "rate = \"40/s\"\narrival = \"constant\"\nduration = \"60s\"",
        ),
        &["--quiet", "--claims", claims.to_str().expect("utf-8 path")],
        &[],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(r.result["status"], "aborted", "{}", r.stdout);
    assert!(r.result["aborted_by"]
        .as_str()
        .is_some_and(|s| s.contains("ttft.p50 <= 20ms")));
    // Exit 1 (the claim is lost), or 3 only if the machine also starved the generator.
    assert!(r.code == 1 || r.code == 3, "exit {}: {}", r.code, r.stderr);
    assert!(r.result["load"]["window_s"].as_f64().expect("window") < 15.0);
}

/// A mock run of `requests` requests with `mock` settings; the result whatever the exit code
/// (a run in which every request failed may exit non-zero by design).
fn mock_run(mock: &str, requests: u32) -> Run {
    let r = run_scenario(
        &scenario(
            mock,
            "max_tokens = 4",
            &format!("concurrency = 10\nrequests = {requests}"),
        ),
        &["--quiet", "--no-records"],
        &[],
    );
    assert!(
        r.result.is_object(),
        "no result (exit {}): {}{}",
        r.code,
        r.stdout,
        r.stderr
    );
    r
}

fn check_run(r: &Run, claims: &str, extra: &[&str]) -> Out {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = claims_file(dir.path(), "claims.toml", claims);
    let result = result_path(r);
    let mut args = vec![
        "check",
        result.as_str(),
        "--claims",
        c.to_str().expect("utf-8 path"),
    ];
    args.extend_from_slice(extra);
    llmload(&args)
}

/// The row of the check table for the claim written `expr`.
fn row<'a>(o: &'a Out, expr: &str) -> &'a str {
    o.stdout
        .lines()
        .find(|l| l.starts_with(expr))
        .unwrap_or_else(|| panic!("no row for {expr}:\n{}", o.stdout))
}

#[test]
fn ten_failures_of_ten_requests_fail_an_error_rate_claim() {
    let r = mock_run(
        r#"ttft = "5ms", itl = "1ms", output_tokens = 4, faults = { server_error = 1.0 }"#,
        10,
    );
    assert_eq!(
        r.result["overall"]["requests"]["failed"], 10,
        "{}",
        r.stdout
    );
    let o = check_run(&r, "[[claims]]\nexpr = \"error_rate < 5%\"\n", &[]);
    // The claim FAILs; the run also measured nothing, and that exit code (4) wins over a
    // failed gate's (1), as it does under `run --claims`.
    assert_eq!(o.code, 4, "{}{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("nothing measured"), "{}", o.stderr);
    let line = row(&o, "error_rate < 5%");
    // Clopper–Pearson with 10 of 10: the lower bound is 0.025^(1/10) = 69.15 %.
    let low = format!("{:.2} %", 0.025f64.powf(0.1) * 100.0);
    assert!(line.contains(&format!("[{low}, 100.00 %]")), "{line}");
    assert!(line.contains("FAIL"), "{line}");
}

#[test]
fn no_failure_in_twenty_requests_cannot_support_a_1_percent_claim() {
    let r = mock_run(r#"ttft = "5ms", itl = "1ms", output_tokens = 4"#, 20);
    assert_eq!(r.result["overall"]["requests"]["failed"], 0, "{}", r.stdout);
    let claims =
        "[[claims]]\nexpr = \"error_rate < 1%\"\n[[claims]]\nexpr = \"error_rate < 20%\"\n";
    let o = check_run(&r, claims, &[]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    // 0 of 20: the upper bound is 1 − 0.025^(1/20) = 16.84 %: above 1 %, below 20 %.
    let high = format!("{:.2} %", (1.0 - 0.025f64.powf(0.05)) * 100.0);
    let one = row(&o, "error_rate < 1%");
    assert!(one.contains(&format!("[0.00 %, {high}]")), "{one}");
    assert!(one.contains("inconclusive"), "{one}");
    assert!(row(&o, "error_rate < 20%").contains("pass"), "{}", o.stdout);
    let strict = check_run(&r, claims, &["--strict"]);
    assert_eq!(strict.code, 1, "{}", strict.stdout);
}

#[test]
fn a_p99_claim_fails_on_122_requests_whose_median_is_over_the_limit() {
    let r = ttft_run("150ms", 122);
    assert_eq!(r.result["overall"]["requests"]["ok"], 122, "{}", r.stdout);
    let claims = "[[claims]]\nexpr = \"ttft.p99 <= 100ms\"\n[[claims]]\nexpr = \"ttft.p99 <= 5s\"\n[[claims]]\nexpr = \"ttft.p50 <= 5s\"\n";
    let o = check_run(&r, claims, &[]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    // At most 4 of 122 samples lie above the true p99 (97.5 %), so the 118th smallest — at
    // least the median, 150 ms — bounds it from below: the claim is broken.
    let broken = row(&o, "ttft.p99 <= 100ms");
    assert!(broken.contains("FAIL"), "{broken}");
    // Nothing bounds a p99 from above with fewer than 368 samples: a pass is out of reach.
    let open = row(&o, "ttft.p99 <= 5s");
    assert!(open.contains("inconclusive"), "{open}");
    assert!(open.contains(", ∞]"), "{open}");
    assert!(open.contains("needs ≥ 368"), "{open}");
    assert!(row(&o, "ttft.p50 <= 5s").contains("pass"), "{}", o.stdout);
}

#[test]
fn run_repeat_writes_numbered_results_with_successive_seeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sc = dir.path().join("s.toml");
    std::fs::write(
        &sc,
        scenario(
            r#"ttft = "5ms", itl = "1ms", output_tokens = 4"#,
            "max_tokens = 4",
            "concurrency = 4\nrequests = 8",
        ),
    )
    .expect("write scenario");
    let out = dir.path().join("r.json");
    let o = llmload(&[
        "run",
        sc.to_str().expect("path"),
        "--quiet",
        "--no-records",
        "--repeat",
        "2",
        "--seed",
        "40",
        "-o",
        out.to_str().expect("path"),
    ]);
    assert!(o.code == 0 || o.code == 3, "{}{}", o.stdout, o.stderr);
    for (i, seed) in [(1, 40), (2, 41)] {
        let p = dir.path().join(format!("r-{i}.json"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).expect("numbered result"))
                .expect("json");
        assert_eq!(v["scenario"]["seed"], seed, "{}", p.display());
    }
    assert!(!out.exists());
    assert!(o.stdout.contains("run 2 of 2 (seed 41)"), "{}", o.stdout);
}

#[test]
fn baseline_lists_that_cannot_be_judged_are_refused_naming_the_file() {
    let (_, result) = fixture();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(result).expect("read")).expect("json");
    let result = result.to_str().expect("path");
    // Several baselines of the same scenario are accepted.
    let o = llmload(&["check", result, "--baseline", result, result]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    v["scenario"]["name"] = "another".into();
    let other = dir.path().join("other.json");
    std::fs::write(&other, v.to_string()).expect("write");
    let other = other.to_str().expect("path");
    let o = llmload(&["check", result, "--baseline", result, other]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr
            .contains(&format!("baseline {other}: it ran scenario `another`")),
        "{}",
        o.stderr
    );
    v["scenario"]["name"] = "t".into();
    v["models"][0]["model"] = "renamed".into();
    let renamed = dir.path().join("renamed.json");
    std::fs::write(&renamed, v.to_string()).expect("write");
    let renamed = renamed.to_str().expect("path");
    let o = llmload(&["check", result, "--baseline", renamed]);
    assert_eq!(o.code, 2, "{}{}", o.stdout, o.stderr);
    assert!(
        o.stderr.contains(&format!(
            "baseline {renamed}: model `m` is in {result} but not in the baseline"
        )),
        "{}",
        o.stderr
    );
}
