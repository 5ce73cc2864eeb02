//! `[slo]`, each model's own `slo`, and `[cost]`: what a run is judged by.

use super::{Model, Problems, Slo};
use crate::config::scenario::{Dur, ScenarioFile, SloSpec};

/// The scenario's objectives; each model gets them with its own overrides on top.
pub(super) fn slo(f: &ScenarioFile, models: &mut [Model]) -> Slo {
    let slo = f.slo.as_ref().map(slo_ms).unwrap_or_default();
    for (m, spec) in models.iter_mut().zip(&f.models) {
        let own = spec.slo.as_ref().map(slo_ms).unwrap_or_default();
        m.slo = Slo {
            ttft_ms: own.ttft_ms.or(slo.ttft_ms),
            ttft_answer_ms: own.ttft_answer_ms.or(slo.ttft_answer_ms),
            tpot_ms: own.tpot_ms.or(slo.tpot_ms),
            e2e_ms: own.e2e_ms.or(slo.e2e_ms),
        };
    }
    slo
}

/// The requests per day the cost projection assumes, when `[cost]` gives them.
pub(super) fn daily_requests(f: &ScenarioFile, p: &mut Problems) -> Option<f64> {
    let daily_requests = f.cost.as_ref().and_then(|c| c.daily_requests);
    if let Some(d) = daily_requests {
        if !(d.is_finite() && d > 0.0) {
            p.push("cost.daily_requests", "must be a positive number");
        }
    }
    daily_requests
}

fn slo_ms(s: &SloSpec) -> Slo {
    let ms = |d: Option<Dur>| d.map(|d| d.0.as_secs_f64() * 1e3);
    Slo {
        ttft_ms: ms(s.ttft),
        ttft_answer_ms: ms(s.ttft_answer),
        tpot_ms: ms(s.tpot),
        e2e_ms: ms(s.e2e),
    }
}
