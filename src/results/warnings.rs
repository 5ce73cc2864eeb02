//! Things a reader of the result should know that the figures alone do not say: where token
//! counts came from, re-sends included in the latencies, a run that measured nothing, and
//! requests over their context window.

use crate::core::record::Outcome;
use crate::metrics::Collector;
use crate::results::counts::counts;
use crate::results::{nothing_measured_line, GuardResult};

/// Warnings read from the collector's counts, appended to `out` in a fixed order.
pub(super) fn from_counts(c: &Collector, out: &mut Vec<String>) {
    let o = &c.overall;
    if o.output_sources[1] > 0 || o.output_sources[2] > 0 {
        out.push(format!(
            "output tokens of {} requests were counted by the model's tokenizer (see tokenizers; {} unless a model names its own) and of {} by event count: the server sent no usage",
            o.output_sources[1],
            crate::config::tokens::NAME,
            o.output_sources[2]
        ));
    }
    if o.usage_mismatch > 0 {
        out.push(format!(
            "{} requests reported fewer completion_tokens than the stream events that carried output; the server's figure was kept (tokens.usage_mismatch)",
            o.usage_mismatch
        ));
    }
    if o.reconnects > 0 {
        out.push(format!(
            "{} times a request was sent again because its pooled connection had been closed by the server before any response (the server closes keep-alive connections it advertises); each such request's latency includes the re-send (requests.reconnects)",
            o.reconnects
        ));
    }
    if o.retries_429 > 0 {
        out.push(format!(
            "{} re-sends after HTTP 429 with back-off ({:.1} s waited in all) are included in the latencies (requests.retries_429, requests.backoff_s)",
            o.retries_429,
            o.backoff_us as f64 / 1e6
        ));
    }
    if c.arrivals_in_window > 0 && o.count(Outcome::Ok) == 0 {
        out.push(nothing_measured_line(&counts(o)));
    }
    if c.arrivals_in_window == 0 {
        out.push("no request was scheduled inside the measurement window".into());
    }
}

/// Requests over their model's context window, when there were any.
pub(super) fn context_guard(g: &GuardResult) -> Option<String> {
    (g.over_window > 0).then(|| {
        format!(
            "{} requests exceeded their model's context window ({}); see context_guard",
            g.over_window,
            match g.policy {
                crate::config::scenario::GuardKind::Skip => "not sent",
                crate::config::scenario::GuardKind::Send => "sent anyway",
            }
        )
    })
}
