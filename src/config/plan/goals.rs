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

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::*;

    #[test]
    fn a_models_own_objectives_override_the_scenarios_one_by_one() {
        let (_, f) = scenario(
            "name = \"t\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[models]]\nid = \"a\"\ntarget = \"sim\"\nslo = { ttft = \"200ms\" }\n\
             [[models]]\nid = \"b\"\ntarget = \"sim\"\n\
             [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n\
             [slo]\nttft = \"1s\"\ne2e = \"3s\"\n",
        );
        let model = |id: &str| Model {
            id: id.into(),
            label: id.into(),
            target: 0,
            weight: 1.0,
            price: None,
            context_window: None,
            slo: Slo::default(),
            tokenizer: Default::default(),
        };
        let mut models = [model("a"), model("b")];
        let run = slo(&f, &mut models);
        let want = |ttft: f64| Slo {
            ttft_ms: Some(ttft),
            e2e_ms: Some(3000.0),
            ..Slo::default()
        };
        assert_eq!(run, want(1000.0));
        assert_eq!(models[0].slo, want(200.0));
        assert_eq!(models[1].slo, want(1000.0));
    }

    #[test]
    fn a_daily_volume_is_a_positive_number() {
        let text = |cost: &str| {
            format!(
                "name = \"t\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
                 [[models]]\nid = \"a\"\ntarget = \"sim\"\n\
                 [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n{cost}"
            )
        };
        let (src, f) = scenario(&text("[cost]\ndaily_requests = 0\n"));
        let mut p = Problems::new(&src);
        assert_eq!(daily_requests(&f, &mut p), Some(0.0));
        assert_eq!(
            fields(p.found()),
            [("cost.daily_requests", "must be a positive number")]
        );
        let (src, f) = scenario(&text(""));
        let mut p = Problems::new(&src);
        assert_eq!(
            daily_requests(&f, &mut p),
            None,
            "the measured rate is used"
        );
        assert!(p.found().is_empty());
    }
}
