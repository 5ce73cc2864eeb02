//! Breakdowns beyond models, each on when the scenario asks for it: request classes, session
//! turns, fresh and repeated requests, routing rules, fallback chains (the end user's view) and
//! the context-window guard.

use std::collections::BTreeMap;

use crate::config::plan::Slo;
use crate::metrics::{Groups, Stats};
use crate::results::cost::CostBasis;
use crate::results::guard::GuardCounts;
use crate::results::row::model_result;
use crate::results::window::Ctx;
use crate::results::{FallbackResult, GuardResult, ModelResult, PlanOutline, RouteResult};

/// One breakdown row: costs summed request by request, judged by the scenario's objectives.
fn group(s: &Stats, label: String, model: &str, slo: Slo, cx: &Ctx) -> ModelResult {
    let mut r = model_result(s, model, &label, "", CostBasis::Summed, cx);
    if let Some(x) = r.slo.as_mut() {
        x.objectives = slo;
    }
    r
}

/// One row per request class.
pub(super) fn classes(frame: &PlanOutline, g: &Groups, cx: &Ctx) -> Vec<ModelResult> {
    g.classes
        .iter()
        .zip(&frame.classes)
        .map(|(s, (name, model))| group(s, name.clone(), model, frame.slo, cx))
        .collect()
}

/// One row per session turn that had requests; the last slot, which also holds later turns,
/// is labelled "turn N+" unless the turn count is bounded by the slots.
pub(super) fn turns(frame: &PlanOutline, g: &Groups, cx: &Ctx) -> Vec<ModelResult> {
    g.turns
        .iter()
        .enumerate()
        .filter(|(_, s)| s.issued() > 0)
        .map(|(i, s)| {
            let bounded = frame
                .sessions_max_turns
                .is_some_and(|u| (u.ceil() as usize) <= g.turns.len());
            let label = if i + 1 == g.turns.len() && !bounded {
                format!("turn {}+", i + 1)
            } else {
                format!("turn {}", i + 1)
            };
            group(s, label, "*", frame.slo, cx)
        })
        .collect()
}

/// Fresh and repeated requests.
pub(super) fn cache(frame: &PlanOutline, g: &Groups, cx: &Ctx) -> Vec<ModelResult> {
    g.cache
        .iter()
        .zip(["fresh", "repeat"])
        .map(|(s, l)| group(s, l.to_string(), "*", frame.slo, cx))
        .collect()
}

/// Model labels by index; empty for an index the plan does not have.
fn label(frame: &PlanOutline, m: usize) -> String {
    frame
        .models
        .get(m)
        .map(|x| x.label.clone())
        .unwrap_or_default()
}

/// Non-zero counts by model label.
fn by_label(frame: &PlanOutline, counts: &[u64]) -> BTreeMap<String, u64> {
    counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(m, n)| (label(frame, m), *n))
        .collect()
}

/// Where each routing rule sent requests; the entry for requests no rule matched is shown
/// only when there were some.
pub(super) fn routing(frame: &PlanOutline, g: &Groups) -> Vec<RouteResult> {
    g.routes
        .iter()
        .enumerate()
        .filter(|(i, counts)| *i < frame.routes.len() || counts.iter().sum::<u64>() > 0)
        .map(|(i, counts)| {
            let by_model = by_label(frame, counts);
            match frame.routes.get(i) {
                Some(r) => RouteResult {
                    name: r.name.clone(),
                    condition: r.condition.clone(),
                    model: r.model.clone(),
                    requests: counts.iter().sum(),
                    by_model,
                },
                None => RouteResult {
                    name: crate::config::plan::UNMATCHED_ROUTE.into(),
                    condition: "no rule matched: the model weights chose".into(),
                    model: String::new(),
                    requests: counts.iter().sum(),
                    by_model,
                },
            }
        })
        .collect()
}

/// The end user's view of fallback chains, when fallback is on.
pub(super) fn fallback(frame: &PlanOutline, g: &Groups, cx: &Ctx) -> Option<FallbackResult> {
    let ((chains, on), u) = frame.fallback.as_ref().zip(g.end_user.as_ref())?;
    let end_user = group(u, "end user".into(), "*", frame.slo, cx);
    let requests = end_user.requests.issued;
    Some(FallbackResult {
        chains: chains.clone(),
        on: on.clone(),
        requests,
        fell_back: g.fell_back,
        fallback_rate: if requests > 0 {
            g.fell_back as f64 / requests as f64
        } else {
            0.0
        },
        failed: end_user.requests.failed,
        fallback_attempts: g.fallback_attempts,
        answered_by: by_label(frame, &g.answered_by),
        end_user,
    })
}

/// The context-window guard's counts, when any model has a window.
pub(super) fn context_guard(frame: &PlanOutline, guard: &GuardCounts) -> Option<GuardResult> {
    frame.context_guard.map(|policy| GuardResult {
        policy,
        over_window: guard.over_window,
        skipped: guard.skipped,
        largest: guard.largest.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::Outcome;
    use crate::metrics::{Collector, Window};

    fn frame(max_turns: Option<f64>) -> PlanOutline {
        serde_json::from_value(serde_json::json!({
            "scenario": {"name": "x", "path": "x.toml", "sha256": "ab", "seed": 1},
            "slo": {}, "slo_set": false, "daily_requests": null,
            "models": [
                {"id": "a", "label": "A", "target": "t", "price": null, "slo": {}},
                {"id": "b", "label": "B", "target": "t", "price": null, "slo": {}}
            ],
            "mode": "open", "arrival": null, "burstiness": null, "concurrency": null,
            "on_full": "queue", "max_in_flight": 10, "warmup_s": 0.0, "cooldown_s": 0.0,
            "classes": [], "sessions_max_turns": max_turns,
            "routes": [{"name": "short", "condition": "class = short", "model": "A"}],
            "fallback": [[["A", "B"]], ["http_5xx"]], "context_guard": null
        }))
        .expect("a frame")
    }

    fn ctx() -> Ctx {
        let w = Window {
            start_us: 0,
            end_us: Some(1_000_000),
        };
        Ctx::new(false, None, &Collector::new(2, w, Vec::new(), 0))
    }

    fn ok(n: u64) -> Stats {
        let mut s = Stats::default();
        s.outcomes[Outcome::Ok.index()] = n;
        s
    }

    #[test]
    fn the_last_turn_slot_holds_later_turns_unless_the_count_is_bounded() {
        let g = Groups {
            turns: vec![ok(5), Stats::default(), ok(2)],
            ..Groups::default()
        };
        let labels = |f: &PlanOutline| -> Vec<String> {
            turns(f, &g, &ctx()).into_iter().map(|r| r.label).collect()
        };
        // The empty second slot is left out.
        assert_eq!(labels(&frame(None)), ["turn 1", "turn 3+"]);
        assert_eq!(labels(&frame(Some(3.0))), ["turn 1", "turn 3"]);
        assert_eq!(labels(&frame(Some(5.0))), ["turn 1", "turn 3+"]);
    }

    #[test]
    fn unmatched_requests_get_a_route_entry_only_when_there_were_some() {
        let f = frame(None);
        let mut g = Groups {
            routes: vec![vec![4, 0], vec![0, 0]],
            ..Groups::default()
        };
        let r = routing(&f, &g);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].name.as_str(), r[0].requests), ("short", 4));
        assert_eq!(r[0].by_model, BTreeMap::from([("A".to_string(), 4)]));
        g.routes[1] = vec![1, 3];
        let r = routing(&f, &g);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].name, crate::config::plan::UNMATCHED_ROUTE);
        assert_eq!((r[1].model.as_str(), r[1].requests), ("", 4));
        assert_eq!(
            r[1].by_model,
            BTreeMap::from([("A".to_string(), 1), ("B".to_string(), 3)])
        );
    }

    #[test]
    fn the_fallback_rate_is_over_the_end_users_requests() {
        let mut user = ok(6);
        user.outcomes[Outcome::Http5xx.index()] = 2;
        let g = Groups {
            end_user: Some(user),
            fell_back: 2,
            fallback_attempts: 3,
            answered_by: vec![4, 2],
            ..Groups::default()
        };
        let fb = fallback(&frame(None), &g, &ctx()).expect("fallback on");
        assert_eq!((fb.requests, fb.fell_back, fb.failed), (8, 2, 2));
        assert_eq!(fb.fallback_rate, 0.25);
        assert_eq!(
            fb.answered_by,
            BTreeMap::from([("A".to_string(), 4), ("B".to_string(), 2)])
        );
        assert!(fallback(&frame(None), &Groups::default(), &ctx()).is_none());
    }
}
