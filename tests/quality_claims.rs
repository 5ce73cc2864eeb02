//! Claims and `compare` on golden-set quality, end to end: `llmload run` on the mock with a
//! golden set whose outcome on every mock answer is known, then `llmload check` with quality
//! claims (verdicts worked out here from Wilson's interval by its formula, exit codes) and
//! `llmload compare` (the quality figures exactly as the result file holds them).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{assert_ok_or_starved, bin, output_with_timeout, quality_of, run_scenario};

/// Golden lines, each with one check whose outcome on any mock answer is known (the mock
/// writes generated words, never "zebra-unicorn"), all of weight 1 and scored 0 or 1:
/// - 20 lines of class "easy", `regex "\w"`: pass for both models (a cut answer still has
///   words, and a regex judges a cut answer on what came);
/// - 12 lines of class "long", `not_contains`, `max_tokens = 16`: `good` answers 8 tokens and
///   passes; `weak` answers 40, is cut at 16, and `not_contains` needs the whole answer: a miss;
/// - 8 lines of class "hard", `contains "zebra-unicorn"`: fail for both.
///
/// So `good` scores 32 / 40 and `weak` 20 / 40, per class 20/20, 12/12 or 0/12, and 0/8.
fn golden() -> String {
    let mut out = String::new();
    for i in 0..20 {
        out.push_str(&format!(
            "{{\"id\": \"easy{i}\", \"prompt\": \"Say something {i}.\", \"checks\": [{{\"regex\": \"\\\\w\"}}], \"class\": \"easy\", \"max_tokens\": 16}}\n"
        ));
    }
    for i in 0..12 {
        out.push_str(&format!(
            "{{\"id\": \"long{i}\", \"prompt\": \"Tell me {i}.\", \"checks\": [{{\"not_contains\": \"zebra-unicorn\"}}], \"class\": \"long\", \"max_tokens\": 16}}\n"
        ));
    }
    for i in 0..8 {
        out.push_str(&format!(
            "{{\"id\": \"hard{i}\", \"prompt\": \"The animal {i}?\", \"checks\": [{{\"contains\": \"zebra-unicorn\"}}], \"class\": \"hard\", \"max_tokens\": 16}}\n"
        ));
    }
    out
}

const SCENARIO: &str = r#"
name = "quality-claims"
seed = 11

[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "good"
target = "sim"
price = { input_per_m = 2.0, output_per_m = 8.0 }
mock = { output_tokens = 8, ttft = "2ms", itl = "1ms" }

[[models]]
id = "weak"
target = "sim"
price = { input_per_m = 0.5, output_per_m = 1.0 }
mock = { output_tokens = 40, ttft = "2ms", itl = "1ms" }

[workload]
prompts = ["hi"]
max_tokens = 32

[load]
concurrency = 2
requests = 40

[quality]
golden = "golden.jsonl"
baseline = "good"
"#;

/// Wilson's 95 % score interval for `k` of `n`, by its formula.
fn wilson(k: f64, n: f64) -> (f64, f64) {
    let z: f64 = 1.959_963_984_540_054;
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The verdict rule for `value >= limit` on an interval: pass when its low end satisfies the
/// claim, FAIL when its high end does not, inconclusive in between.
fn at_least(interval: (f64, f64), limit: f64) -> &'static str {
    if interval.0 >= limit {
        "pass"
    } else if interval.1 < limit {
        "FAIL"
    } else {
        "inconclusive"
    }
}

/// The same for `value <= limit`.
fn at_most(interval: (f64, f64), limit: f64) -> &'static str {
    if interval.1 <= limit {
        "pass"
    } else if interval.0 > limit {
        "FAIL"
    } else {
        "inconclusive"
    }
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Runs `llmload` with `args`; returns (exit code, stdout, stderr).
fn llmload(args: &[&str], files: &[&Path]) -> (i32, String, String) {
    let mut cmd = Command::new(bin());
    cmd.args(args).args(files);
    let out = output_with_timeout(cmd, Duration::from_secs(60));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `table` for the claim named `name`.
fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no row `{name}` in:\n{table}"))
}

/// Runs the scenario with its golden set; returns the run's directory, the result JSON and the
/// path of a result file `check` can judge (the result itself, or, when a loaded machine
/// starved the generator and made the run invalid, a copy marked valid: the claims on quality
/// are what is checked here, not the run's validity).
fn run() -> (common::Run, serde_json::Value, std::path::PathBuf) {
    let (r, gdir) = run_with(&[]);
    assert_ok_or_starved(&r);
    let mut json = r.result.clone();
    let checked = r.dir.path().join("checked.json");
    json["validity"]["valid"] = serde_json::Value::Bool(true);
    std::fs::write(&checked, serde_json::to_string(&json).expect("JSON")).expect("written");
    drop(gdir);
    (r, json, checked)
}

/// Runs the scenario with `args`; returns the run and the temp dir holding its golden set.
fn run_with(args: &[&str]) -> (common::Run, tempfile::TempDir) {
    // run_scenario writes the scenario into its own temp dir: name the golden set absolutely.
    let gdir = tempfile::tempdir().expect("tempdir");
    let gpath = gdir.path().join("golden.jsonl");
    std::fs::write(&gpath, golden()).expect("golden written");
    let toml = SCENARIO.replace("golden.jsonl", &gpath.display().to_string());
    let mut all = vec!["--quiet"];
    all.extend_from_slice(args);
    (run_scenario(&toml, &all, &[]), gdir)
}

#[test]
fn run_claims_gate_on_quality_and_refuse_what_the_scenario_cannot_answer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("claims written");
        p.display().to_string()
    };
    // A class the golden set does not have: refused before anything is sent.
    let typo = write(
        "typo.toml",
        "[[claims]]\nexpr = \"quality.score >= 0.5\"\nmodel = \"good\"\nclass = \"maths\"\n",
    );
    let (r, _g) = run_with(&["--claims", &typo]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("claims[0].class: unknown golden-set class `maths`")
            && r.stderr.contains("its classes are: easy, hard, long"),
        "{}",
        r.stderr
    );
    assert!(r.result.is_null(), "nothing was run");
    // A judge claim on a scenario whose [quality] has no judge: refused before anything is sent.
    let judge = write(
        "judge.toml",
        "[[claims]]\nexpr = \"quality.judge >= 0.5\"\nmodel = \"good\"\n",
    );
    let (r, _g) = run_with(&["--claims", &judge]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("claims[0]: `quality.judge` needs a judge, and the [quality] section of"),
        "{}",
        r.stderr
    );
    assert!(r.result.is_null(), "nothing was run");
    // A scenario without [quality]: a quality claim could never be judged.
    let plain = common::scenario("output_tokens = 4", "", "concurrency = 1\nrequests = 2");
    let any = write(
        "any.toml",
        "[[claims]]\nexpr = \"quality.score >= 0.5\"\nmodel = \"m\"\n",
    );
    let r = run_scenario(&plain, &["--quiet", "--claims", &any], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`quality.score` needs a golden set")
            && r.stderr.contains("no [quality] section"),
        "{}",
        r.stderr
    );
    // good scores 32 of 40, Wilson's upper bound 0.895: `>= 0.9` is lost, and the run says so.
    assert!(wilson(32.0, 40.0).1 < 0.9);
    let lost = write(
        "lost.toml",
        "[[claims]]\nexpr = \"quality.score >= 0.9\"\nmodel = \"good\"\n",
    );
    let (r, _g) = run_with(&["--claims", &lost]);
    if r.code != 3 {
        assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    }
    assert!(r.stdout.contains("quality.score >= 0.9"), "{}", r.stdout);
    assert!(r.stdout.contains("0 pass, 1 fail"), "{}", r.stdout);
}

#[test]
fn check_gates_on_quality_per_model_and_class_with_the_interval_rule() {
    let (r, json, result) = run();
    let dir = r.dir.path();

    // The scores are the known outcomes, with Wilson's intervals.
    let good = &quality_of(&json, "good")["overall"]["score"];
    let weak = &quality_of(&json, "weak")["overall"]["score"];
    assert!((f(&good["value"]) - 0.8).abs() < 1e-12, "{good}");
    assert!((f(&weak["value"]) - 0.5).abs() < 1e-12, "{weak}");
    let good_ci = wilson(32.0, 40.0);
    let long_good = wilson(12.0, 12.0);
    let long_weak = wilson(0.0, 12.0);
    for (e, ci) in [
        (good, good_ci),
        (weak, wilson(20.0, 40.0)),
        (
            &quality_of(&json, "good")["classes"]["long"]["score"],
            long_good,
        ),
        (
            &quality_of(&json, "weak")["classes"]["long"]["score"],
            long_weak,
        ),
    ] {
        assert_eq!(e["method"], "wilson", "{e}");
        assert!(
            (f(&e["low"]) - ci.0).abs() < 1e-9 && (f(&e["high"]) - ci.1).abs() < 1e-9,
            "{e} vs {ci:?}"
        );
    }
    let rel = &quality_of(&json, "weak")["overall"]["relative"];
    assert!((f(&rel["value"]) - 20.0 / 32.0).abs() < 1e-12, "{rel}");
    let rel_ci = (f(&rel["low"]), f(&rel["high"]));

    // Claims whose verdicts follow from those intervals.
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        // (name, model, class, expression)
        ("good-60", "good", "", "quality.score >= 0.6"),
        ("good-90", "good", "", "quality.score >= 0.9"),
        ("good-80", "good", "", "quality.score >= 0.8"),
        ("good-long-70", "good", "long", "quality.score >= 0.7"),
        ("weak-long-30", "weak", "long", "quality.score <= 0.3"),
        ("weak-long-min30", "weak", "long", "quality.score >= 0.3"),
        ("weak-rel-50", "weak", "", "quality.relative >= 0.5"),
        ("weak-rel-90", "weak", "", "quality.relative >= 0.9"),
    ];
    let expected = [
        at_least(good_ci, 0.6),
        at_least(good_ci, 0.9),
        at_least(good_ci, 0.8),
        at_least(long_good, 0.7),
        at_most(long_weak, 0.3),
        at_least(long_weak, 0.3),
        at_least(rel_ci, 0.5),
        at_least(rel_ci, 0.9),
    ];
    // The chosen limits cover every verdict.
    assert_eq!(
        expected[..6],
        ["pass", "FAIL", "inconclusive", "pass", "pass", "FAIL"]
    );
    let claims_file = |name: &str, picked: &[usize]| {
        let mut text = String::new();
        for &i in picked {
            let (n, m, c, e) = cases[i];
            text.push_str(&format!(
                "[[claims]]\nname = \"{n}\"\nexpr = \"{e}\"\nmodel = \"{m}\"\n"
            ));
            if !c.is_empty() {
                text.push_str(&format!("class = \"{c}\"\n"));
            }
        }
        let p = dir.join(name);
        std::fs::write(&p, text).expect("claims written");
        p
    };

    // Everything at once: each row's verdict is the one worked out above.
    let all = claims_file("all.toml", &(0..cases.len()).collect::<Vec<_>>());
    let (code, out, err) = llmload(&["check", "--claims"], &[&all, &result]);
    assert_eq!(code, 1, "{out}{err}");
    for ((name, ..), want) in cases.iter().zip(expected) {
        let line = row(&out, name);
        assert!(
            line.contains(&format!("  {want}  ")),
            "{name}: want {want}: {line}"
        );
    }
    assert!(
        row(&out, "good-long-70").contains("good (class long)"),
        "{out}"
    );
    let (lo, hi) = good_ci;
    assert!(
        row(&out, "good-60").contains(&format!("0.800 [{lo:.3}, {hi:.3}] (n=40)")),
        "{out}"
    );
    assert!(
        out.contains("quality.score = quality.models[].overall.score"),
        "{out}"
    );
    println!("{out}");

    // Exit codes: passes only → 0; an inconclusive claim → 0, or 1 under --strict; a failed
    // claim → 1.
    let passing: Vec<usize> = (0..6).filter(|&i| expected[i] == "pass").collect();
    let p = claims_file("pass.toml", &passing);
    assert_eq!(llmload(&["check", "--claims"], &[&p, &result]).0, 0);
    let p = claims_file("inconclusive.toml", &[2]);
    assert_eq!(llmload(&["check", "--claims"], &[&p, &result]).0, 0);
    assert_eq!(
        llmload(&["check", "--strict", "--claims"], &[&p, &result]).0,
        1
    );
    let p = claims_file("fail.toml", &[1]);
    assert_eq!(llmload(&["check", "--claims"], &[&p, &result]).0, 1);

    // No data: the baseline has no relative score, and a result without a quality section has
    // no score; either claim cannot be judged and fails the gate.
    let p = dir.join("nodata.toml");
    std::fs::write(
        &p,
        "[[claims]]\nexpr = \"quality.relative >= 0.5\"\nmodel = \"good\"\n",
    )
    .expect("written");
    let (code, out, _) = llmload(&["check", "--claims"], &[&p, &result]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("`good` is the quality baseline"), "{out}");
    let mut bare = json.clone();
    bare.as_object_mut().expect("object").remove("quality");
    let bare_path = dir.join("bare.json");
    std::fs::write(&bare_path, bare.to_string()).expect("written");
    let p = claims_file("pass-again.toml", &passing);
    let (code, out, _) = llmload(&["check", "--claims"], &[&p, &bare_path]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("cannot be judged on") && out.contains("no quality section"),
        "{out}"
    );

    // A class the golden set does not have is bad input, located in the claims file.
    let p = dir.join("typo.toml");
    std::fs::write(
        &p,
        "[[claims]]\nexpr = \"quality.score >= 0.5\"\nmodel = \"good\"\nclass = \"maths\"\n",
    )
    .expect("written");
    let (code, _, err) = llmload(&["check", "--claims"], &[&p, &result]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("typo.toml:4:1: claims[0].class: unknown golden-set class `maths`")
            && err.contains("its classes are: easy, hard, long"),
        "{err}"
    );
}

#[test]
fn compare_shows_quality_beside_speed_and_cost_with_the_result_figures() {
    let (r, json, result) = run();
    let dir = r.dir.path();
    let (code, out, err) = llmload(&["compare"], &[&result]);
    assert_eq!(code, 0, "{err}");
    println!("{out}");
    // Three decimals, as compare prints them (a stored -0 prints as 0).
    let est = |e: &serde_json::Value| {
        let d = |v: &serde_json::Value| format!("{:.3}", f(v) + 0.0);
        format!("{} [{}, {}]", d(&e["value"]), d(&e["low"]), d(&e["high"]))
    };
    let line = |label: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("{label}  ")))
            .unwrap_or_else(|| panic!("no row `{label}` in:\n{out}"))
            .to_string()
    };
    let (good, weak) = (quality_of(&json, "good"), quality_of(&json, "weak"));
    let header = line("quality (golden set; 95 % intervals)");
    assert!(
        header.contains("checked:good") && header.contains("checked:weak"),
        "{header}"
    );
    // Score with its interval, and the weak model's ratio to the first column.
    let score = line("score");
    let ratio = f(&weak["overall"]["score"]["value"]) / f(&good["overall"]["score"]["value"]);
    assert!(score.contains(&est(&good["overall"]["score"])), "{score}");
    assert!(
        score.contains(&format!("{} ({ratio:.2}×)", est(&weak["overall"]["score"]))),
        "{score}"
    );
    let rel = line("score relative to baseline");
    assert!(rel.contains(&est(&weak["overall"]["relative"])), "{rel}");
    // cost_relative as stored, and the cost rows it is the ratio of.
    let cost_rel = f(&weak["cost_relative"]);
    let per_1k = |i: usize| f(&json["models"][i]["cost"]["per_1k_requests_usd"]);
    assert!(
        (cost_rel - per_1k(1) / per_1k(0)).abs() < 1e-12,
        "{cost_rel}"
    );
    assert!(
        line("cost relative to baseline").contains(&format!("{cost_rel:.3}")),
        "{out}"
    );
    for class in ["easy", "hard", "long"] {
        let l = line(&format!("score in class {class}"));
        assert!(l.contains(&est(&good["classes"][class]["score"])), "{l}");
        assert!(l.contains(&est(&weak["classes"][class]["score"])), "{l}");
    }
    assert!(
        out.contains("TTFT (from send)") && out.contains("$ per 1k requests"),
        "{out}"
    );
    assert!(
        out.contains("40 golden lines from") && out.contains("relative to good"),
        "{out}"
    );

    // JSON carries each interval; an older result without cost_relative gets the same ratio,
    // and two files side by side show both runs' scores.
    let mut old = json.clone();
    for m in old["quality"]["models"].as_array_mut().expect("models") {
        m.as_object_mut().expect("object").remove("cost_relative");
    }
    let old_path = dir.join("old.json");
    std::fs::write(&old_path, old.to_string()).expect("written");
    let (code, out, err) = llmload(&["compare", "--format", "json"], &[&result, &old_path]);
    assert_eq!(code, 0, "{err}");
    let c: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let t = c["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .find(|t| t["family"] == "quality (golden set; 95 % intervals)")
        .expect("the quality table");
    assert_eq!(c["columns"][3]["label"], "old:weak");
    let cells = |label: &str| {
        t["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["label"] == label)
            .unwrap_or_else(|| panic!("no row {label}"))["cells"]
            .clone()
    };
    let s = cells("score");
    for (i, m) in [good, weak, good, weak].iter().enumerate() {
        assert_eq!(s[i]["value"], m["overall"]["score"]["value"]);
        assert_eq!(s[i]["low"], m["overall"]["score"]["low"]);
        assert_eq!(s[i]["high"], m["overall"]["score"]["high"]);
    }
    let cr = cells("cost relative to baseline");
    assert_eq!(cr[1]["value"], weak["cost_relative"]);
    assert_eq!(
        cr[3]["value"], weak["cost_relative"],
        "computed for the old file"
    );
    assert!(cr[0]["value"].is_null() && cr[2]["value"].is_null(), "{cr}");
}
