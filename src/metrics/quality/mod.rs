//! Golden-set answers folded into quality figures per model and per class: the score (weighted
//! mean over answers) with its interval, the answers scored and the misses, each check's pass
//! rate, the similarity to the references, and the score relative to a baseline model's.
//!
//! The definitions are stated in docs/quality.md; keep the two in step.

pub mod interval;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::golden::{GoldenSet, LineScore};
pub use interval::{Estimate, Method};

/// One check name's pass rate over the answers that were scored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct CheckRate {
    /// Checks of this name that passed.
    pub passed: u64,
    /// Checks of this name applied.
    pub total: u64,
}

/// Mean similarity to the references.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct SimilarityMeans {
    /// Answers to lines with a reference (misses count 0).
    pub n: u64,
    /// Mean token F1.
    pub f1: f64,
    /// Mean ROUGE-L.
    pub rouge_l: f64,
}

/// Quality figures of one group of answers (a model, or a model's class).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct QualityStats {
    /// Weighted mean score over answers to lines with checks, misses counting 0, with its
    /// 95 % interval; None without such answers.
    pub score: Option<Estimate>,
    /// Answers scored.
    pub n_scored: u64,
    /// Answers that were misses without a score (failed, empty, cut).
    pub n_unscorable: u64,
    /// Misses by reason.
    pub unscorable: BTreeMap<String, u64>,
    /// Pass rate of each check name over the answers scored.
    pub checks: BTreeMap<String, CheckRate>,
    /// Similarity to the references; None when no line has one.
    pub similarity: Option<SimilarityMeans>,
    /// Score relative to the baseline model over the same lines; None without a baseline.
    pub relative: Option<Estimate>,
}

/// One model's quality figures: all its answers, and each class's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ModelQuality {
    /// Every answer of the model.
    pub overall: QualityStats,
    /// By the lines' `class` (lines without one count only in `overall`).
    pub classes: BTreeMap<String, QualityStats>,
}

/// A seed for one group's bootstrap, distinct per group name.
fn group_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0x5155_414C, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The figures of the answers `answers` (line index into `set`, score), with bootstrap
/// intervals drawn from `seed`.
fn stats<'a>(
    set: &GoldenSet,
    answers: impl Iterator<Item = &'a (usize, LineScore)>,
    seed: u64,
) -> QualityStats {
    let mut out = QualityStats::default();
    let (mut scores, mut weights) = (Vec::new(), Vec::new());
    let mut sim = SimilarityMeans::default();
    for (i, s) in answers {
        let Some(line) = set.lines.get(*i) else {
            continue;
        };
        match &s.unscorable {
            Some(why) => {
                out.n_unscorable += 1;
                *out.unscorable.entry(why.to_string()).or_default() += 1;
            }
            None => {
                out.n_scored += 1;
                for (c, p) in line.checks.iter().zip(&s.passed) {
                    let r = out.checks.entry(c.name().to_string()).or_default();
                    r.total += 1;
                    r.passed += u64::from(*p);
                }
            }
        }
        if let Some(v) = s.score {
            scores.push(v);
            weights.push(line.weight);
        }
        if let Some(x) = s.similarity {
            sim.n += 1;
            sim.f1 += x.f1;
            sim.rouge_l += x.rouge_l;
        }
    }
    out.score = interval::score(&scores, &weights, seed);
    if sim.n > 0 {
        sim.f1 /= sim.n as f64;
        sim.rouge_l /= sim.n as f64;
        out.similarity = Some(sim);
    }
    out
}

/// One model's quality figures from its answers: `answers` holds (line index into `set`, the
/// answer's score), one entry per golden request sent (a line may be answered more than once
/// when golden requests are mixed into the load). Intervals are drawn from `seed`.
pub fn summarize(set: &GoldenSet, answers: &[(usize, LineScore)], seed: u64) -> ModelQuality {
    let mut classes = BTreeMap::new();
    for c in set.classes() {
        let of_class = answers
            .iter()
            .filter(|(i, _)| set.lines.get(*i).and_then(|l| l.class.as_deref()) == Some(c));
        classes.insert(c.to_string(), stats(set, of_class, group_seed(seed, c)));
    }
    ModelQuality {
        overall: stats(set, answers.iter(), seed),
        classes,
    }
}

/// Each line's mean score over its answers (None: not answered, or no checks).
fn line_means(set: &GoldenSet, answers: &[(usize, LineScore)]) -> Vec<Option<f64>> {
    let mut sum = vec![(0.0, 0u32); set.lines.len()];
    for (i, s) in answers {
        if let (Some(slot), Some(v)) = (sum.get_mut(*i), s.score) {
            slot.0 += v;
            slot.1 += 1;
        }
    }
    sum.into_iter()
        .map(|(s, n)| (n > 0).then(|| s / f64::from(n)))
        .collect()
}

/// Sets `relative` on `model` (overall and per class): its score over the baseline's on the
/// lines both answered, each line's answers averaged, with a paired bootstrap interval drawn
/// from `seed`.
pub fn add_relative(
    set: &GoldenSet,
    model: &mut ModelQuality,
    model_answers: &[(usize, LineScore)],
    baseline_answers: &[(usize, LineScore)],
    seed: u64,
) {
    let m = line_means(set, model_answers);
    let b = line_means(set, baseline_answers);
    let paired = |class: Option<&str>| {
        let (mut ms, mut bs, mut ws) = (Vec::new(), Vec::new(), Vec::new());
        for (k, line) in set.lines.iter().enumerate() {
            if class.is_some_and(|c| line.class.as_deref() != Some(c)) {
                continue;
            }
            if let (Some(x), Some(y)) = (m[k], b[k]) {
                ms.push(x);
                bs.push(y);
                ws.push(line.weight);
            }
        }
        (ms, bs, ws)
    };
    let (ms, bs, ws) = paired(None);
    model.overall.relative = interval::relative(&ms, &bs, &ws, seed, interval::RESAMPLES);
    for (c, st) in model.classes.iter_mut() {
        let (ms, bs, ws) = paired(Some(c));
        st.relative = interval::relative(&ms, &bs, &ws, group_seed(seed, c), interval::RESAMPLES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::golden::{parse, Answer};
    use std::path::Path;

    fn set() -> GoldenSet {
        let text = r#"{"prompt": "a", "checks": [{"contains": "yes"}], "class": "x"}
{"prompt": "b", "checks": [{"contains": "yes"}, {"number": 1}], "class": "y", "weight": 2}
{"prompt": "c", "reference": "the cat sat"}"#;
        parse(text, Path::new("g.jsonl")).expect("valid")
    }

    fn answer(set: &GoldenSet, i: usize, text: &str) -> (usize, LineScore) {
        let a = if text == "FAIL" {
            Answer::Failed("timeout")
        } else {
            Answer::Received {
                text,
                truncated: false,
            }
        };
        (i, set.lines[i].score(&a))
    }

    #[test]
    fn figures_per_model_and_class() {
        let g = set();
        let answers = [
            answer(&g, 0, "yes"),
            answer(&g, 1, "yes, 2"),
            answer(&g, 1, "FAIL"),
            answer(&g, 2, "the cat"),
        ];
        let q = summarize(&g, &answers, 1);
        let o = &q.overall;
        assert_eq!((o.n_scored, o.n_unscorable), (3, 1));
        assert_eq!(o.unscorable["request failed (timeout)"], 1);
        // Scores 1 (w 1), 0.5 (w 2), 0 (w 2): (1 + 1 + 0) / 5.
        let s = o.score.expect("scored");
        assert_eq!((s.value, s.method), (0.4, Method::Bootstrap));
        assert_eq!(
            o.checks["contains"],
            CheckRate {
                passed: 2,
                total: 2
            }
        );
        assert_eq!(
            o.checks["number"],
            CheckRate {
                passed: 0,
                total: 1
            }
        );
        // "the cat" against "the cat sat": F1 = 2·2/5, ROUGE-L the same.
        let sim = o.similarity.expect("a reference");
        assert_eq!((sim.n, sim.f1, sim.rouge_l), (1, 0.8, 0.8));
        assert_eq!(q.classes.keys().collect::<Vec<_>>(), ["x", "y"]);
        let x = q.classes["x"].score.expect("scored");
        assert_eq!((x.value, x.method), (1.0, Method::Wilson));
        assert_eq!(q.classes["y"].n_unscorable, 1);
        assert_eq!(q.classes["y"].similarity, None);
    }

    #[test]
    fn relative_pairs_lines_answered_by_both() {
        let g = set();
        let base = [answer(&g, 0, "yes"), answer(&g, 1, "yes 1")];
        let model = [
            answer(&g, 0, "no"),
            answer(&g, 1, "yes 1"),
            answer(&g, 1, "yes 2"),
        ];
        let mut q = summarize(&g, &model, 1);
        add_relative(&g, &mut q, &model, &base, 1);
        // Line means: model 0 and 0.75, baseline 1 and 1; weights 1 and 2: 1.5 / 3.
        assert_eq!(q.overall.relative.map(|r| r.value), Some(0.5));
        assert_eq!(q.classes["x"].relative.map(|r| r.value), Some(0.0));
        assert_eq!(q.classes["y"].relative.map(|r| r.value), Some(0.75));
    }

    #[test]
    fn the_figures_read_back_from_json_with_fields_missing() {
        let q: ModelQuality =
            serde_json::from_str(r#"{"overall": {"n_scored": 3}}"#).expect("reads");
        assert_eq!(q.overall.n_scored, 3);
        assert!(q.classes.is_empty() && q.overall.score.is_none());
        let back: ModelQuality =
            serde_json::from_str(&serde_json::to_string(&q).expect("writes")).expect("reads");
        assert_eq!(back, q);
    }
}
