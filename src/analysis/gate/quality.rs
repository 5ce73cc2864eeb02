//! Claims on answer quality: reading `quality.score`, `quality.relative` and `quality.judge` of
//! one model (and optionally one golden-set class) from a result's `quality` section.
//!
//! The figure comes with its stored 95 % interval, so [`super::eval`] judges it by the same
//! rule as every other estimated figure. A result without a quality section, a model without
//! golden answers, or a figure that was not computed (no baseline, the baseline itself) is a
//! figure that does not exist: the claim cannot be judged.

use super::claims::{Claim, Claims};
use super::metric::Measured;
use super::GateError;
use crate::config::plan::Plan;
use crate::core::metric::Metric;
use crate::core::problem::Problem;
use crate::metrics::quality::{Method, QualityStats};
use crate::results::{ModelResult, RunResult};

/// A figure that does not exist in the result, with why.
fn missing(why: String) -> Measured {
    Measured {
        value: 0.0,
        count: 0,
        basis: "golden answers".into(),
        insufficient: Some(why),
        known: false,
        interval: None,
        open: None,
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Wilson => "Wilson",
        Method::Bootstrap => "bootstrap",
    }
}

/// Reads claim `c`'s quality figure for model row `m` of `result`.
pub fn read(c: &Claim, m: &ModelResult, result: &RunResult) -> Measured {
    let Some(q) = &result.quality else {
        return missing("the result has no quality section (the scenario had no [quality])".into());
    };
    if c.metric.name == Metric::QualityJudge {
        return read_judge(c, m, q);
    }
    let Some(mq) = q.models.iter().find(|x| x.model == m.label) else {
        return missing(format!("no golden answers for `{}`", m.label));
    };
    let stats: &QualityStats = match &c.class {
        None => &mq.quality.overall,
        Some(class) => match mq.quality.classes.get(class) {
            Some(s) => s,
            None => {
                return missing(format!(
                    "`{}` has no golden answers in class `{class}`",
                    m.label
                ))
            }
        },
    };
    let count = stats.n_scored + stats.n_unscorable;
    let estimate = match c.metric.name {
        Metric::QualityRelative => match (&stats.relative, &q.baseline) {
            (Some(e), _) => *e,
            (None, None) => return missing("the run named no quality baseline".into()),
            (None, Some(b)) if *b == m.label => {
                return missing(format!(
                    "`{b}` is the quality baseline: it has no score relative to itself"
                ))
            }
            (None, Some(b)) => {
                return missing(format!(
                    "no score relative to `{b}` (the baseline scored 0 or answered none of the same lines)"
                ))
            }
        },
        _ => match &stats.score {
            Some(e) => *e,
            None => return missing("no golden answer to a line with checks was scored".into()),
        },
    };
    Measured {
        value: estimate.value,
        count,
        basis: format!("golden answers, {} interval", method_name(estimate.method)),
        insufficient: None,
        known: true,
        interval: Some((estimate.low, estimate.high)),
        open: None,
    }
}

/// Claim `c`'s judge figure for model row `m`: the judge's mean grade of its golden answers,
/// overall or in the claim's class.
fn read_judge(c: &Claim, m: &ModelResult, q: &crate::results::QualityResult) -> Measured {
    let Some(j) = &q.judge else {
        return missing("the run had no judge (`[quality] judge`)".into());
    };
    let Some(mj) = j.models.iter().find(|x| x.model == m.label) else {
        return missing(format!("the judge graded no answer of `{}`", m.label));
    };
    let stats = match &c.class {
        None => &mj.overall,
        Some(class) => match mj.classes.get(class) {
            Some(s) => s,
            None => {
                return missing(format!(
                    "the judge graded no answer of `{}` in class `{class}`",
                    m.label
                ))
            }
        },
    };
    let Some(e) = stats.score else {
        return missing(format!(
            "the judge left all {} answers of `{}` unscored",
            stats.n_unscored, m.label
        ));
    };
    Measured {
        value: e.value,
        count: stats.n_judged,
        basis: format!("judge grades, {} interval", method_name(e.method)),
        insufficient: None,
        known: true,
        interval: Some((e.low, e.high)),
        open: None,
    }
}

/// The problem of claim `c` naming a class not among `known` (sorted), if it does.
fn class_problem(claims: &Claims, c: &Claim, known: &[&str], source: &str) -> Option<Problem> {
    let class = c.class.as_deref()?;
    if known.contains(&class) {
        return None;
    }
    Some(Problem {
        file: claims.path.clone(),
        line: c.class_at.0,
        column: c.class_at.1,
        field: format!("claims[{}].class", c.index),
        message: format!(
            "unknown golden-set class `{class}` in {source}; its classes are: {}",
            if known.is_empty() {
                "none (no golden line has a `class`)".to_string()
            } else {
                known.join(", ")
            }
        ),
    })
}

/// The problem of a claim naming a class the result's golden set does not have (none when
/// the result has no quality section: its claims are then unjudged, not wrong).
pub fn unknown_class(
    claims: &Claims,
    c: &Claim,
    result: &RunResult,
    source: &str,
) -> Option<Problem> {
    let q = result.quality.as_ref()?;
    let mut known: Vec<&str> = q
        .models
        .iter()
        .flat_map(|m| m.quality.classes.keys().map(String::as_str))
        .collect();
    known.sort_unstable();
    known.dedup();
    class_problem(claims, c, &known, source)
}

/// Checks, before a run, that the scenario can answer every quality claim: it has a
/// `[quality]` section, and each claim's `class` is a class of its golden set, so a typo is
/// reported before any request is sent.
pub fn check_plan(claims: &Claims, plan: &Plan, source: &str) -> Result<(), GateError> {
    let golden = plan.quality.as_ref().map(|q| q.golden.classes());
    let mut problems = Vec::new();
    let whole_claim = |c: &Claim, message: String| Problem {
        file: claims.path.clone(),
        line: c.class_at.0,
        column: c.class_at.1,
        field: format!("claims[{}]", c.index),
        message,
    };
    for c in claims.claims.iter().filter(|c| c.metric.name.is_quality()) {
        let Some(classes) = &golden else {
            problems.push(whole_claim(
                c,
                format!(
                    "`{}` needs a golden set, and {source} has no [quality] section",
                    c.metric.name
                ),
            ));
            continue;
        };
        if c.metric.name == Metric::QualityJudge
            && plan.quality.as_ref().is_some_and(|q| q.judge.is_none())
        {
            problems.push(whole_claim(
                c,
                format!(
                    "`quality.judge` needs a judge, and the [quality] section of {source} has none"
                ),
            ));
            continue;
        }
        let mut known: Vec<&str> = classes.clone();
        known.sort_unstable();
        known.dedup();
        problems.extend(class_problem(claims, c, &known, source));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(GateError::Claims(problems))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::analysis::gate::claims;
    use crate::analysis::gate::eval::{evaluate, tests::fixture, Verdict};
    use crate::metrics::quality::{interval::wilson, Estimate, ModelQuality};
    use crate::results::{ModelQualityResult, QualityResult};

    /// The fixture (model `m`, label "M") with a quality section: `k` of `n` pass/fail lines
    /// passed overall and in class "math", and a relative score of 0.9 [0.8, 1.0] to "base".
    fn with_quality(k: u64, n: u64) -> RunResult {
        let mut r = fixture(&[100.0; 10]);
        let (low, high) = wilson(k, n).expect("n > 0");
        let stats = QualityStats {
            score: Some(Estimate {
                value: k as f64 / n as f64,
                low,
                high,
                method: Method::Wilson,
            }),
            n_scored: n,
            relative: Some(Estimate {
                value: 0.9,
                low: 0.8,
                high: 1.0,
                method: Method::Bootstrap,
            }),
            ..Default::default()
        };
        let mut quality = ModelQuality {
            overall: stats.clone(),
            ..Default::default()
        };
        quality.classes.insert("math".into(), stats);
        r.quality = Some(QualityResult {
            golden: "g.jsonl".into(),
            lines: n as usize,
            mode: "pass".into(),
            baseline: Some("base".into()),
            models: vec![ModelQualityResult {
                model: "M".into(),
                quality,
                ..Default::default()
            }],
            ..Default::default()
        });
        r
    }

    fn eval(text: &str, r: &RunResult) -> Vec<(Verdict, String)> {
        let c = claims::parse(Path::new("c.toml"), text).expect("valid claims");
        evaluate(&c, r, "r.json")
            .expect("evaluates")
            .rows
            .iter()
            .map(|row| (row.verdict, row.detail()))
            .collect()
    }

    #[test]
    fn a_score_is_judged_on_its_interval() {
        // 32 of 40: Wilson [0.652, 0.895].
        let r = with_quality(32, 40);
        let (lo, hi) = wilson(32, 40).expect("n > 0");
        assert!(lo > 0.65 && lo < 0.7 && hi > 0.85 && hi < 0.9, "{lo} {hi}");
        let text = "[[claims]]\nexpr = \"quality.score >= 0.65\"\nmodel = \"m\"\n\
                    [[claims]]\nexpr = \"quality.score >= 0.9\"\nmodel = \"M\"\n\
                    [[claims]]\nexpr = \"quality.score >= 0.8\"\nmodel = \"m\"\n\
                    [[claims]]\nexpr = \"quality.score >= 0.8\"\nmodel = \"m\"\nclass = \"math\"\n\
                    [[claims]]\nexpr = \"quality.relative >= 0.8\"\nmodel = \"m\"\n\
                    [[claims]]\nexpr = \"quality.relative > 0.8\"\nmodel = \"m\"\n";
        let v: Vec<Verdict> = eval(text, &r).into_iter().map(|(v, _)| v).collect();
        use Verdict::*;
        assert_eq!(
            v,
            vec![Pass, Fail, Inconclusive, Inconclusive, Pass, Inconclusive]
        );
        let c = claims::parse(Path::new("c.toml"), text).expect("valid");
        let e = evaluate(&c, &r, "r.json").expect("evaluates");
        assert_eq!(e.rows[0].measured_text(), "0.800 [0.652, 0.895] (n=40)");
        assert_eq!(e.rows[3].model_label, "M (class math)");
        assert!(e.table(false).contains("quality.score = quality.models[]"));
    }

    #[test]
    fn a_missing_figure_cannot_be_judged() {
        let text = "[[claims]]\nexpr = \"quality.score >= 0.5\"\nmodel = \"m\"\n";
        let plain = fixture(&[100.0; 10]);
        let got = eval(text, &plain);
        assert_eq!(got[0].0, Verdict::Inconclusive);
        assert!(got[0].1.contains("no quality section"), "{}", got[0].1);
        let c = claims::parse(Path::new("c.toml"), text).expect("valid");
        assert!(evaluate(&c, &plain, "r.json").expect("ok").fails(false));

        let mut r = with_quality(3, 4);
        if let Some(q) = r.quality.as_mut() {
            q.baseline = Some("M".into());
            q.models[0].quality.overall.relative = None;
        }
        let got = eval(
            "[[claims]]\nexpr = \"quality.relative >= 0.5\"\nmodel = \"m\"\n",
            &r,
        );
        assert_eq!(got[0].0, Verdict::Inconclusive);
        assert!(got[0].1.contains("is the quality baseline"), "{}", got[0].1);
        if let Some(q) = r.quality.as_mut() {
            q.models[0].model = "other".into();
        }
        let got = eval(text, &r);
        assert!(
            got[0].1.contains("no golden answers for `M`"),
            "{}",
            got[0].1
        );
    }

    #[test]
    fn a_judge_score_is_judged_on_its_interval_and_is_missing_without_a_judge() {
        use crate::results::judge::{JudgeResult, JudgeStats, ModelJudge};
        let mut r = with_quality(3, 4);
        let text = "[[claims]]\nexpr = \"quality.judge >= 0.5\"\nmodel = \"m\"\n\
                    [[claims]]\nexpr = \"quality.judge >= 0.75\"\nmodel = \"m\"\n\
                    [[claims]]\nexpr = \"quality.judge >= 0.9\"\nmodel = \"m\"\n\
                    [[claims]]\nexpr = \"quality.judge >= 0.5\"\nmodel = \"m\"\nclass = \"math\"\n";
        let got = eval(text, &r);
        assert!(
            got.iter().all(|(v, _)| *v == Verdict::Inconclusive),
            "{got:?}"
        );
        assert!(got[0].1.contains("the run had no judge"), "{}", got[0].1);

        // 0.7 [0.6, 0.8] over 10 graded answers, none in class math.
        let stats = JudgeStats {
            score: Some(Estimate {
                value: 0.7,
                low: 0.6,
                high: 0.8,
                method: Method::Bootstrap,
            }),
            n_judged: 10,
            n_unscored: 2,
        };
        if let Some(q) = r.quality.as_mut() {
            q.judge = Some(JudgeResult {
                model: "judge".into(),
                models: vec![ModelJudge {
                    model: "M".into(),
                    overall: stats,
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        let got = eval(text, &r);
        let v: Vec<Verdict> = got.iter().map(|(v, _)| *v).collect();
        use Verdict::*;
        assert_eq!(v, vec![Pass, Inconclusive, Fail, Inconclusive]);
        assert!(got[3].1.contains("in class `math`"), "{}", got[3].1);
        let c = claims::parse(Path::new("c.toml"), text).expect("valid");
        let e = evaluate(&c, &r, "r.json").expect("evaluates");
        assert_eq!(e.rows[0].measured_text(), "0.700 [0.600, 0.800] (n=10)");
    }

    #[test]
    fn an_unknown_class_is_located() {
        let r = with_quality(3, 4);
        let text =
            "[[claims]]\nexpr = \"quality.score >= 0.5\"\nmodel = \"m\"\nclass = \"maths\"\n";
        let c = claims::parse(Path::new("c.toml"), text).expect("valid");
        let e = evaluate(&c, &r, "r.json").expect_err("unknown class");
        let s = e.to_string();
        assert!(
            s.starts_with("c.toml:4:1: claims[0].class: unknown golden-set class `maths` in r.json; its classes are: math"),
            "{s}"
        );
    }

    #[test]
    fn quality_claims_need_a_model_and_only_they_take_a_class() {
        let bad = |text: &str| match claims::parse(Path::new("c.toml"), text) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted: {text}"),
        };
        let s = bad("[[claims]]\nexpr = \"quality.score >= 0.8\"\n");
        assert!(
            s.contains("claims[0]: `quality.score` is scored per model"),
            "{s}"
        );
        let s = bad("[[claims]]\nexpr = \"ttft.p50 <= 1s\"\nmodel = \"m\"\nclass = \"x\"\n");
        assert!(
            s.contains("c.toml:4:1: claims[0].class: `class` selects"),
            "{s}"
        );
        let s = bad("[[claims]]\nexpr = \"quality.score >= 80%\"\nmodel = \"m\"\n");
        assert!(s.contains("write e.g. `0.8`"), "{s}");
        let s = bad("[[claims]]\nexpr = \"quality.p50 >= 0.8\"\nmodel = \"m\"\n");
        assert!(s.contains("unknown metric `quality`"), "{s}");
        assert!(s.contains("quality.score, quality.relative"), "{s}");
    }
}
