//! Assembly of a result from a plan's frame and a finished collector: the window, one row per
//! model (and overall, and per breakdown), each row's figures computed by the module named for
//! them (counts, latency, throughput, cost), then validity, warnings, the load and the series.

use crate::config::plan::Plan;
use crate::core::record::Outcome;
use crate::metrics::{Collector, Stats};
use crate::results::cost::{self, CostBasis};
use crate::results::{
    counts, groups, latency, load, quota, series, throughput, validity, warnings, Host,
    ModelResult, PlanOutline, RunMeta, RunResult, Tool, Validity, SCHEMA_VERSION,
};

/// The measurement window and what every row's rates and costs are relative to.
pub(super) struct Ctx {
    /// Window start (µs since the run's start).
    pub start_us: u64,
    /// Window end (µs): the collector's, or its last request end while sending goes on.
    pub end_us: u64,
    /// Window length (s).
    pub window_s: f64,
    /// Whole seconds inside the window, for peaks.
    pub window_secs: std::ops::Range<usize>,
    /// Whether any objective is set.
    pub slo_set: bool,
    /// The scenario's daily request volume.
    pub daily_requests: Option<f64>,
    /// Requests sent in the measured phase, all models (a group's share of a daily volume
    /// is its share of these).
    pub overall_sent: u64,
}

impl Ctx {
    /// The window of a collector.
    pub fn new(slo_set: bool, daily_requests: Option<f64>, c: &Collector) -> Ctx {
        let w = c.window();
        let start_us = w.start_us;
        let end_us = w.end_us.unwrap_or(c.last_end_us).max(start_us);
        let first_sec = start_us.div_ceil(1_000_000) as usize;
        let last_sec = (end_us / 1_000_000) as usize;
        Ctx {
            start_us,
            end_us,
            window_s: (end_us - start_us) as f64 / 1e6,
            window_secs: first_sec..last_sec.max(first_sec),
            slo_set,
            daily_requests,
            overall_sent: c.overall.issued()
                - c.overall.count(Outcome::Dropped)
                - c.overall.count(Outcome::Cancelled)
                - c.overall.count(Outcome::Skipped),
        }
    }

    /// A count per second of window (0 for an empty window).
    pub fn per(&self, n: u64) -> f64 {
        if self.window_s > 0.0 {
            n as f64 / self.window_s
        } else {
            0.0
        }
    }
}

/// Everything about one group of requests (a model, all of them, or a breakdown). The SLO
/// objectives are left for the caller to fill in.
pub(super) fn model_result(
    s: &Stats,
    model: &str,
    label: &str,
    target: &str,
    basis: CostBasis,
    cx: &Ctx,
) -> ModelResult {
    let requests = counts::counts(s);
    let (issued, sent, failed) = (requests.issued, requests.sent, requests.failed);
    ModelResult {
        model: model.to_string(),
        label: label.to_string(),
        target: target.to_string(),
        error_rate: if sent > 0 {
            failed as f64 / sent as f64
        } else {
            0.0
        },
        requests,
        latency_ms: latency::latency_ms(&s.hists),
        tokens_per_chunk: s.hists.tokens_per_chunk.summary(1.0),
        decode_tokens_per_s: latency::speed(&s.hists.tpot),
        tokens: cost::token_totals(s),
        throughput: throughput::throughput(s, cx),
        inputs_per_request: inputs_per_request(s),
        slo: cx.slo_set.then(|| throughput::slo(s, issued, cx)),
        cost: cost::cost(s, sent, basis, cx),
        histograms: latency::encode_all(&s.hists),
    }
}

/// Inputs per successful request, for groups whose requests carry inputs (embeddings).
fn inputs_per_request(s: &Stats) -> Option<f64> {
    let ok = s.outcomes[Outcome::Ok.index()];
    (s.inputs_ok > 0 && ok > 0).then(|| s.inputs_ok as f64 / ok as f64)
}

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
