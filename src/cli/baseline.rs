//! `llmload run --baseline RESULT.json [--baseline-model LABEL]`: a model's golden answers
//! read from an earlier result become the quality baseline of this run: its per-answer scores
//! the other side of every model's `relative`, its kept answers the references of lines
//! without one. Refused (exit 2) when the file does not read, has no quality section, names
//! no usable model, or scored a different golden file.

use std::path::Path;
use std::sync::Arc;

use crate::cli::exit::UserError;
use crate::config::golden::LineScore;
use crate::config::plan::{BaselineFile, Plan};
use crate::results::{GoldenAnswer, ModelQualityResult, RunResult};

/// Reads `path` as the baseline of `plan`'s golden set and puts it on the plan (replacing the
/// scenario's own `baseline`). Returns warnings for stderr and the result.
pub fn apply(plan: &mut Plan, path: &Path, model: Option<&str>) -> Result<Vec<String>, UserError> {
    let shown = path.display().to_string();
    let bad = |why: String| UserError(format!("--baseline {shown}: {why}"));
    let Some(q) = plan.quality.as_mut() else {
        return Err(bad(
            "this scenario has no [quality] section: there is no golden set to compare".into(),
        ));
    };
    let r = RunResult::read(path).map_err(|e| UserError(format!("--baseline: {e}")))?;
    let Some(rq) = &r.quality else {
        return Err(bad(
            "the result has no quality section (its run had no [quality] golden set)".into(),
        ));
    };
    match &rq.golden_sha256 {
        Some(h) if *h == q.golden.sha256 => {}
        Some(h) => {
            return Err(bad(format!(
                "it was scored on a different golden file ({}, sha256 {}…) than this run's ({}, sha256 {}…)",
                rq.golden,
                &h[..h.len().min(12)],
                q.golden.path.display(),
                &q.golden.sha256[..12]
            )))
        }
        None => {
            return Err(bad(format!(
                "it does not record its golden file's hash ({}), so it cannot be told to be the same golden set; run the baseline again with this llmload",
                rq.golden
            )))
        }
    }
    let m = pick(rq, model).map_err(bad)?;
    if m.golden.is_empty() {
        return Err(bad(format!(
            "model `{}` has no golden answers in it",
            m.model
        )));
    }
    let mut warnings = Vec::new();
    if let Some(b) = q.baseline.take() {
        warnings.push(format!(
            "quality: --baseline {shown} ({}) replaces the scenario's baseline `{}`",
            m.model, plan.models[b].label
        ));
    }
    let (mut file, missing) = matched(&shown, m, &q.golden.lines);
    file.per_1k_requests_usd = r
        .models
        .iter()
        .find(|x| x.label == m.model)
        .and_then(|x| x.cost.as_ref())
        .map(|c| c.per_1k_requests_usd);
    if missing.0 + missing.1 > 0 {
        warnings.push(format!(
            "quality: --baseline {shown}: {} answers name lines not in this golden set and {} golden lines have no baseline answer; they are left out of the pairing",
            missing.0, missing.1
        ));
    }
    q.baseline_file = Some(Arc::new(file));
    Ok(warnings)
}

/// The model of the result's quality section to use: `label`, else the section's baseline,
/// else its only model.
fn pick<'a>(
    q: &'a crate::results::QualityResult,
    label: Option<&str>,
) -> Result<&'a ModelQualityResult, String> {
    let names = || {
        q.models
            .iter()
            .map(|m| m.model.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |l: &str| q.models.iter().find(|m| m.model == l);
    match (label, q.baseline.as_deref(), q.models.as_slice()) {
        (Some(l), _, _) => find(l).ok_or_else(|| {
            format!(
                "no model `{l}` in its quality section; models are: {}",
                names()
            )
        }),
        (None, Some(b), _) => {
            find(b).ok_or_else(|| format!("its baseline `{b}` has no quality figures"))
        }
        (None, None, [only]) => Ok(only),
        (None, None, []) => Err("its quality section holds no model".into()),
        (None, None, _) => Err(format!(
            "it holds several models and names no baseline; choose one with --baseline-model ({})",
            names()
        )),
    }
}

/// The answer's text when it can serve as a reference: kept, arrived whole, not empty.
fn whole(a: &GoldenAnswer) -> Option<String> {
    let ok = a.outcome == "ok"
        && !a.answer_cut
        && a.unscorable.is_none()
        && a.finish_reason.as_deref() != Some("length");
    a.answer.clone().filter(|t| ok && !t.trim().is_empty())
}

/// The model's answers matched to `lines` by id, and (answers naming no line of this set,
/// lines without an answer).
fn matched(
    path: &str,
    m: &ModelQualityResult,
    lines: &[crate::config::golden::GoldenLine],
) -> (BaselineFile, (usize, usize)) {
    let mut scores = Vec::new();
    let mut answers = vec![None; lines.len()];
    let mut answered = vec![false; lines.len()];
    let mut stray = 0;
    for a in &m.golden {
        let Some(i) = lines.iter().position(|l| l.id == a.id) else {
            stray += 1;
            continue;
        };
        answered[i] = true;
        if answers[i].is_none() {
            answers[i] = whole(a);
        }
        scores.push((
            i,
            LineScore {
                score: a.score,
                passed: a.passed.clone(),
                similarity: None,
                unscorable: None,
            },
        ));
    }
    let unanswered = answered.iter().filter(|a| !**a).count();
    let file = BaselineFile {
        path: path.to_string(),
        model: m.model.clone(),
        scores,
        answers,
        per_1k_requests_usd: None,
    };
    (file, (stray, unanswered))
}
