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
