//! One row of a result: every figure of one group of requests (a model, all of them, or a
//! breakdown), each computed by the module named for it.

use crate::core::record::Outcome;
use crate::metrics::Stats;
use crate::results::cost::{self, CostBasis};
use crate::results::window::Ctx;
use crate::results::{counts, latency, throughput, ModelResult};

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
        tool_call_share: per_ok(s, s.tool_answers_ok, s.tool_calls_ok),
        tool_calls_per_request: per_ok(s, s.tool_calls_ok, s.tool_calls_ok),
        images_per_request: per_ok(s, s.images_ok, s.images_ok),
        image_bytes_per_request: per_ok(s, s.image_bytes_ok, s.images_ok),
        slo: cx.slo_set.then(|| throughput::slo(s, issued, cx)),
        cost: cost::cost(s, sent, basis, cx),
        histograms: latency::encode_all(&s.hists),
    }
}

/// `n` per successful request, for groups where `seen` (tool calls, images) is not 0.
fn per_ok(s: &Stats, n: u64, seen: u64) -> Option<f64> {
    let ok = s.outcomes[Outcome::Ok.index()];
    (seen > 0 && ok > 0).then(|| n as f64 / ok as f64)
}

/// Inputs per successful request, for groups whose requests carry inputs (embeddings).
fn inputs_per_request(s: &Stats) -> Option<f64> {
    let ok = s.outcomes[Outcome::Ok.index()];
    (s.inputs_ok > 0 && ok > 0).then(|| s.inputs_ok as f64 / ok as f64)
}
