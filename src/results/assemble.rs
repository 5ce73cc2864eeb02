//! Assembly of a result from a plan's frame and a finished collector: the window, one row per
//! model (and overall, and per breakdown), each row's figures computed by the module named for
//! them (counts, latency, throughput, cost), then validity, warnings, the load and the series.

use crate::config::plan::Plan;
use crate::metrics::Collector;
use crate::results::cost::{self, CostBasis};
use crate::results::row::model_result;
use crate::results::window::Ctx;
use crate::results::{
    groups, load, quota, series, validity, warnings, Host, ModelResult, PlanOutline, RunMeta,
    RunResult, Tool, Validity, SCHEMA_VERSION,
};

/// The figures of generated output (first token, gaps between tokens, time per output token)
/// have no meaning for a group that generates none: an embeddings run leaves them out rather
/// than report zeros.
const GENERATION_ONLY: [&str; 6] = [
    "ttft",
    "ttft_answer",
    "ttft_scheduled",
    "tpot",
    "itl",
    "inter_chunk",
];

fn drop_generation_figures(m: &mut ModelResult) {
    for k in GENERATION_ONLY {
        m.latency_ms.remove(k);
    }
}

/// Assembles the result file from a finished collector.
pub fn build(plan: &Plan, c: &Collector, meta: RunMeta) -> RunResult {
    assemble(&PlanOutline::new(plan), c, meta)
}

/// Assembles a result from a plan's frame and a finished (or merged) collector.
pub fn assemble(frame: &PlanOutline, c: &Collector, mut meta: RunMeta) -> RunResult {
    let cx = Ctx::new(frame.slo_set, frame.daily_requests, c);
    let mut overall = model_result(&c.overall, "*", "all models", "", CostBasis::None, &cx);
    if let Some(x) = overall.slo.as_mut() {
        x.objectives = frame.slo;
    }
    let models: Vec<ModelResult> = frame
        .models
        .iter()
        .zip(&c.models)
        .map(|(m, s)| {
            let basis = m.price.map_or(CostBasis::None, CostBasis::Price);
            let mut r = model_result(s, &m.id, &m.label, &m.target, basis, &cx);
            if let Some(x) = r.slo.as_mut() {
                x.objectives = m.slo;
            }
            r
        })
        .collect();
    // Overall cost is the sum of the models' costs when every model has a price.
    overall.cost = cost::overall(&models, &overall);
    let lag = c.schedule_lag.summary(1e-3);
    let (reasons, generator) = validity::judge(frame, c, &meta, &cx, &lag);
    let mut warnings = std::mem::take(&mut meta.warnings);
    warnings::from_counts(c, &mut warnings);
    let context_guard = groups::context_guard(frame, &meta.guard);
    warnings.extend(context_guard.as_ref().and_then(warnings::context_guard));
    let g = &c.groups;
    let mut result = RunResult {
        sweep: None,
        partial: None,
        merged_from: Vec::new(),
        server_metrics: Vec::new(),
        tokenizers: Vec::new(),
        transport: Vec::new(),
        quota: quota::quota(frame, c),
        quality: None,
        classes: groups::classes(frame, g, &cx),
        turns: groups::turns(frame, g, &cx),
        cache: groups::cache(frame, g, &cx),
        routing: groups::routing(frame, g),
        fallback: groups::fallback(frame, g, &cx),
        context_guard,
        schema_version: SCHEMA_VERSION,
        tool: Tool::current(),
        run_id: meta.run_id,
        status: meta.status,
        started_at: meta.started_at,
        finished_at: meta.finished_at,
        scenario: frame.scenario.clone(),
        shard: meta.shard,
        host: Host::current(),
        load: load::load(frame, c, &cx, lag),
        validity: Validity {
            valid: reasons.is_empty(),
            reasons,
        },
        generator,
        slo: frame.slo,
        overall,
        models,
        timeseries: series::timeseries(&c.series, &meta.health.cpu_per_s),
        warnings,
        records_file: meta.records_file,
        aborted_by: meta.aborted_by,
    };
    if frame.embeddings {
        let r = &mut result;
        let groups = [&mut r.models, &mut r.classes, &mut r.turns, &mut r.cache];
        std::iter::once(&mut r.overall)
            .chain(groups.into_iter().flat_map(|g| g.iter_mut()))
            .for_each(drop_generation_figures);
    }
    result
}
