//! Golden-set quality: the intervals have the coverage they claim (checked by simulating models
//! whose true score is known), and a golden file is loaded and scored as docs/quality.md says.

use std::path::Path;

use llmload::config::golden::{self, Answer, GoldenError};
use llmload::metrics::quality::interval::{self, Method};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

/// Simulated samples per coverage check.
const SAMPLES: usize = 2000;

/// Share of `SAMPLES` simulated intervals that contain `truth`, each from `draw(rng)`.
fn coverage(
    seed: u64,
    truth: f64,
    mut draw: impl FnMut(&mut ChaCha8Rng, u64) -> (f64, f64),
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut hit = 0;
    for k in 0..SAMPLES {
        let (lo, hi) = draw(&mut rng, k as u64);
        if lo <= truth && truth <= hi {
            hit += 1;
        }
    }
    hit as f64 / SAMPLES as f64
}

#[test]
fn wilson_intervals_of_pass_fail_lines_cover_the_true_score_95_percent_of_the_time() {
    // A model that answers each of 100 lines right with p = 0.8.
    let cov = coverage(11, 0.8, |rng, _| {
        let scores: Vec<f64> = (0..100)
            .map(|_| f64::from(u8::from(rng.random::<f64>() < 0.8)))
            .collect();
        let e = interval::score(&scores, &[1.0; 100], 0).expect("lines");
        assert_eq!(e.method, Method::Wilson);
        (e.low, e.high)
    });
    println!("Wilson, 100 pass/fail lines, p = 0.8: coverage {cov:.4} over {SAMPLES} samples");
    assert!((0.93..=0.97).contains(&cov), "coverage {cov}");
}

#[test]
fn bootstrap_intervals_of_partial_scores_cover_the_true_score_95_percent_of_the_time() {
    // 40 lines of three equal checks, each passed with p = 0.8: line scores 0, 1/3, 2/3 or 1,
    // true mean 0.8; the bootstrap (500 resamples here, to keep the test short) is seeded
    // differently for every sample.
    let cov = coverage(12, 0.8, |rng, k| {
        let scores: Vec<f64> = (0..40)
            .map(|_| (0..3).filter(|_| rng.random::<f64>() < 0.8).count() as f64 / 3.0)
            .collect();
        interval::bootstrap_mean(&scores, &[1.0; 40], k, 500).expect("lines")
    });
    println!("bootstrap (500 resamples), 40 lines of 3 checks, p = 0.8: coverage {cov:.4} over {SAMPLES} samples");
    assert!((0.93..=0.97).contains(&cov), "coverage {cov}");
}

#[test]
fn paired_relative_intervals_cover_the_true_ratio_95_percent_of_the_time() {
    // A baseline right on a line with p = 0.9; the model right only where the baseline is, with
    // p = 0.8 there: model score 0.72, true ratio 0.8. 60 lines, answers paired by line, 500
    // resamples.
    let cov = coverage(13, 0.8, |rng, k| {
        let (mut m, mut b) = (Vec::new(), Vec::new());
        for _ in 0..60 {
            let base = rng.random::<f64>() < 0.9;
            let model = base && rng.random::<f64>() < 0.8;
            b.push(f64::from(u8::from(base)));
            m.push(f64::from(u8::from(model)));
        }
        let e = interval::relative(&m, &b, &[1.0; 60], k, 500).expect("baseline scores");
        (e.low, e.high)
    });
    println!("paired bootstrap (500 resamples), 60 lines, ratio 0.8: coverage {cov:.4} over {SAMPLES} samples");
    assert!((0.93..=0.97).contains(&cov), "coverage {cov}");
}

#[test]
fn the_fixture_golden_set_loads_and_scores_answers_by_its_checks() {
    let set = golden::load(
        Path::new("tests/fixtures/golden/capitals.jsonl"),
        Path::new("capitals.jsonl"),
    )
    .expect("the fixture is valid");
    let answers = [
        "Paris.",
        "The answer is 12",
        "{\"sentiment\": \"positive\", \"confidence\": 0.9}",
        "Negative",
    ];
    let scores: Vec<Option<f64>> = set
        .lines
        .iter()
        .zip(answers)
        .map(|(l, text)| {
            l.score(&Answer::Received {
                text,
                truncated: false,
            })
            .score
        })
        .collect();
    assert_eq!(scores, [Some(1.0), Some(1.0), Some(1.0), Some(0.0)]);
}

#[test]
fn the_bad_fixture_is_refused_line_by_line() {
    let Err(GoldenError::Lines(found)) = golden::load(
        Path::new("tests/fixtures/golden/bad.jsonl"),
        Path::new("bad.jsonl"),
    ) else {
        panic!("the bad fixture loaded");
    };
    let at: Vec<(usize, &str)> = found.iter().map(|p| (p.line, p.field.as_str())).collect();
    assert_eq!(
        at,
        [
            (1, ""),
            (2, "checks[0]"),
            (3, "checks[0].regex"),
            (4, "checks"),
            (5, "checks[0].json_schema")
        ]
    );
}

/// `llmload validate` on a scenario in a temporary folder whose `[quality]` names `golden`
/// copied from the fixtures: (exit code, stdout, stderr).
fn validate_with(golden: &str, extra: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::copy(
        Path::new("tests/fixtures/golden").join(golden),
        dir.path().join(golden),
    )
    .expect("fixture copied");
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"q\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[models]]\nid = \"small\"\ntarget = \"sim\"\n\
             [[models]]\nid = \"big\"\ntarget = \"sim\"\n\
             [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n\
             [quality]\ngolden = \"{golden}\"\n{extra}\n"
        ),
    )
    .expect("scenario written");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .arg("validate")
        .arg(&scenario)
        .output()
        .expect("llmload runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_loads_the_golden_set_and_describes_it() {
    let (code, out, err) = validate_with("capitals.jsonl", "baseline = \"big\"");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(
            "quality: 4 golden lines in 3 classes (facts, math, format), 6 checks, 1 reference"
        ),
        "{out}"
    );
    assert!(out.contains("baseline: big"), "{out}");
}

#[test]
fn validate_refuses_a_bad_golden_file_with_file_line_and_reason_exit_2() {
    let (code, _, err) = validate_with("bad.jsonl", "baseline = \"gpt-4o\"");
    assert_eq!(code, Some(2), "{err}");
    for want in [
        "bad.jsonl:1:21: (top level): not a golden line: EOF while parsing an object",
        "bad.jsonl:2:1: checks[0]: unknown check (keys: equals)",
        "bad.jsonl:3:1: checks[0].regex: invalid regex `[a-`: unclosed character class",
        "bad.jsonl:4:1: checks: the line has no checks and no reference",
        "bad.jsonl:5:1: checks[0].json_schema: invalid JSON schema",
        "s.toml:18:1: quality.baseline: no model `gpt-4o`; models are: small, big",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Arbitrary text, or JSON objects with arbitrary check values, never panic the loader.
    #[test]
    fn any_golden_text_loads_or_is_refused(
        text in "\\PC{0,200}",
        key in "(exact|contains|not_contains|regex|one_of|number|json_schema|x)",
        value in "(\"[a-z(\\[*+?]{0,6}\"|[0-9.-]{1,5}|\\[\\]|\\{\\}|\\{\"type\": \"[a-z]{0,7}\"\\}|null|true)",
    ) {
        let _ = golden::parse(&text, Path::new("g.jsonl"));
        let line = format!("{{\"prompt\": \"p\", \"checks\": [{{\"{key}\": {value}}}]}}");
        let _ = golden::parse(&line, Path::new("g.jsonl"));
    }
}
