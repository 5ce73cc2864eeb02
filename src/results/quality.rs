//! Figures derived from a result's `quality` section and its load figures together.

use super::RunResult;

/// Model `label`'s cost per 1,000 measured requests, when its price is known.
fn per_1k(r: &RunResult, label: &str) -> Option<f64> {
    r.models
        .iter()
        .find(|m| m.label == label)
        .and_then(|m| m.cost.as_ref())
        .map(|c| c.per_1k_requests_usd)
}

/// Sets each model's `cost_relative` in the quality section: its cost per measured request
/// over the baseline model's (with a baseline read from an earlier result, that result's cost
/// of the model). Left absent without a baseline, for the baseline itself, or when either
/// cost is unknown, not finite or the baseline's is 0.
pub fn add_cost_relative(r: &mut RunResult) {
    let Some(q) = &r.quality else {
        return;
    };
    let Some(base) = q.baseline.as_deref() else {
        return;
    };
    let from_file = q.baseline_file.is_some();
    let b = if from_file {
        q.baseline_per_1k_requests_usd
    } else {
        per_1k(r, base)
    };
    let b = b.filter(|b| b.is_finite() && *b > 0.0);
    let ratios: Vec<Option<f64>> = q
        .models
        .iter()
        .map(|m| {
            if m.model == base && !from_file {
                return None;
            }
            let (x, b) = (per_1k(r, &m.model)?, b?);
            Some(x / b).filter(|v| v.is_finite())
        })
        .collect();
    if let Some(q) = r.quality.as_mut() {
        for (m, v) in q.models.iter_mut().zip(ratios) {
            m.cost_relative = v;
        }
    }
}
