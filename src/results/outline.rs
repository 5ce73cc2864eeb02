//! What the result needs to know of the plan, as plain data.

use serde::{Deserialize, Serialize};

use crate::config::plan::{OnFull, Plan, Shape, Slo};
use crate::config::prices::Price;
use crate::config::schedule::ArrivalProcess;
use crate::results::ScenarioInfo;

/// What the result needs to know of the plan, as plain data: a shard's partial result
/// carries it so `llmload merge` can assemble the whole run's result without the scenario's
/// files. Equal outlines (and seeds and shard counts) mean the same plan. A partial result stores it
/// under the key `frame`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOutline {
    /// Scenario identity.
    pub scenario: ScenarioInfo,
    /// The scenario's objectives.
    pub slo: Slo,
    /// Whether any objective (scenario or model) is set.
    pub slo_set: bool,
    /// Daily request volume for cost projections.
    pub daily_requests: Option<f64>,
    /// Models, in plan order.
    pub models: Vec<OutlineModel>,
    /// `open`, `closed` or `trace`.
    pub mode: String,
    /// Open loop: arrival process name.
    pub arrival: Option<String>,
    /// Gamma shape.
    pub burstiness: Option<f64>,
    /// Closed loop: highest concurrency.
    pub concurrency: Option<u32>,
    /// Open loop: policy at the cap.
    pub on_full: Option<OnFull>,
    /// In-flight cap of the whole run.
    pub max_in_flight: u32,
    /// Warmup (s).
    pub warmup_s: f64,
    /// Cooldown (s).
    pub cooldown_s: f64,
    /// Request classes: name and model id (`*` when the weights choose).
    pub classes: Vec<(String, String)>,
    /// Sessions: the turn count's upper bound, when bounded.
    pub sessions_max_turns: Option<f64>,
    /// Routing rules.
    pub routes: Vec<OutlineRoute>,
    /// Fallback chains (labels) and the outcomes that trigger them.
    pub fallback: Option<(Vec<Vec<String>>, Vec<String>)>,
    /// Context-window guard policy, when any model has a window.
    pub context_guard: Option<crate::config::scenario::GuardKind>,
    /// `endpoint = "embeddings"`: requests generate no output, so the result has no
    /// first-token or inter-token figures.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embeddings: bool,
}

/// A model as the result names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutlineModel {
    /// Model id.
    pub id: String,
    /// Label.
    pub label: String,
    /// Target name.
    pub target: String,
    /// Price, when known.
    pub price: Option<Price>,
    /// The model's objectives.
    pub slo: Slo,
}

/// A routing rule as the result names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutlineRoute {
    /// Rule name.
    pub name: String,
    /// Condition in words.
    pub condition: String,
    /// Model label.
    pub model: String,
}

impl PlanOutline {
    /// The frame of a plan.
    pub fn new(plan: &Plan) -> PlanOutline {
        let (mode, arrival, burstiness, concurrency, on_full) = match &plan.load.shape {
            Shape::Open { arrival, .. } => {
                let (name, b) = match arrival {
                    ArrivalProcess::Constant => ("constant", None),
                    ArrivalProcess::Poisson => ("poisson", None),
                    ArrivalProcess::Gamma { burstiness } => ("gamma", Some(*burstiness)),
                };
                (
                    "open",
                    Some(name.to_string()),
                    b,
                    None,
                    Some(plan.load.on_full),
                )
            }
            Shape::Closed { profile } => ("closed", None, None, Some(profile.max()), None),
            Shape::Trace(_) => ("trace", None, None, None, Some(plan.load.on_full)),
        };
        let w = &plan.workload;
        let label = |m: usize| plan.models[m].label.clone();
        PlanOutline {
            scenario: ScenarioInfo {
                name: plan.name.clone(),
                description: plan.description.clone(),
                path: plan.scenario_path.display().to_string(),
                sha256: plan.scenario_sha256.clone(),
                seed: plan.seed,
                daily_requests: plan.daily_requests,
                overrides: plan.overrides.clone(),
            },
            slo: plan.slo,
            slo_set: plan.slo.is_set() || plan.models.iter().any(|m| m.slo.is_set()),
            daily_requests: plan.daily_requests,
            models: plan
                .models
                .iter()
                .map(|m| OutlineModel {
                    id: m.id.clone(),
                    label: m.label.clone(),
                    target: plan
                        .targets
                        .get(m.target)
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                    price: m.price,
                    slo: m.slo,
                })
                .collect(),
            mode: mode.into(),
            arrival,
            burstiness,
            concurrency,
            on_full,
            max_in_flight: plan.load.max_in_flight,
            warmup_s: plan.load.warmup.as_secs_f64(),
            cooldown_s: plan.load.cooldown.as_secs_f64(),
            classes: w
                .classes
                .iter()
                .map(|k| {
                    let model = k.model.map_or("*", |m| plan.models[m].id.as_str());
                    (k.name.clone(), model.to_string())
                })
                .collect(),
            sessions_max_turns: w.sessions.as_ref().and_then(|x| x.turns.upper_bound()),
            routes: w
                .routes
                .iter()
                .map(|r| OutlineRoute {
                    name: r.name.clone(),
                    condition: r.condition(&w.classes),
                    model: label(r.model),
                })
                .collect(),
            fallback: w.fallback.as_ref().map(|f| {
                (
                    f.chains
                        .iter()
                        .map(|ch| ch.iter().map(|&m| label(m)).collect())
                        .collect(),
                    f.on.iter().map(|o| o.name().to_string()).collect(),
                )
            }),
            context_guard: plan
                .models
                .iter()
                .any(|m| m.context_window.is_some())
                .then_some(w.context_guard),
            embeddings: w.endpoint == crate::config::scenario::EndpointKind::Embeddings,
        }
    }
}
