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
