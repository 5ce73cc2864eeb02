//! `load.trace` and `load.time_scale`: a recorded traffic shape to replay, each line's time
//! scaled and its model resolved.

use std::path::Path;
use std::sync::Arc;

use super::models::by_name;
use super::{prompts, Model, Problems, Trace, TraceItem, Workload};
use crate::config::scenario::ScenarioFile;
use crate::config::tokens::Encoding;
use crate::config::workload::PromptSource;
use crate::core::dist::Dist;

/// The trace to replay, when `load.trace` names one (relative to `dir`). Its prompts are
/// made like the workload's synthetic ones, or one-token synthetic ones by default.
pub(super) fn build(
    f: &ScenarioFile,
    dir: &Path,
    models: &[Model],
    workload: &Workload,
    p: &mut Problems,
) -> Option<Arc<Trace>> {
    let trace = f.load.trace.as_ref().map(|t| {
        let path = dir.join(t);
        let scale = f.load.time_scale.unwrap_or(1.0);
        if !(scale.is_finite() && scale > 0.0) {
            p.push("load.time_scale", "must be greater than 0");
        }
        let synth = match workload.classes.first().map(|c| &c.source) {
            Some(PromptSource::Synthetic(s)) => s.clone(),
            _ => prompts::synthetic(Encoding::default(), Dist::fixed(1.0), 0.0, f.seed, 0),
        };
        let entries = entries(&path, scale, models, p);
        if workload.named_classes {
            p.push("load.trace", "a trace gives each request's lengths and model; it cannot be combined with [[workload.classes]]");
        }
        Arc::new(Trace {
            path,
            time_scale: scale,
            entries,
            synth,
        })
    });
    if f.load.time_scale.is_some() && trace.is_none() {
        p.push(
            "load.time_scale",
            "`time_scale` applies to a `trace` replay",
        );
    }
    trace
}

/// The trace file's requests, offsets multiplied by `scale`; a model name that matches no
/// model is reported with its line.
fn entries(path: &Path, scale: f64, models: &[Model], p: &mut Problems) -> Vec<TraceItem> {
    let list = match crate::config::datasets::load_trace(path) {
        Ok(list) => list,
        Err(e) => {
            p.push("load.trace", e.to_string());
            return Vec::new();
        }
    };
    let mut entries = Vec::new();
    for (i, e) in list.into_iter().enumerate() {
        let model = e.model.as_ref().and_then(|m| match by_name(models, m) {
            Ok(k) => Some(k),
            Err(msg) => {
                p.push("load.trace", format!("{}:{}: {msg}", path.display(), i + 1));
                None
            }
        });
        entries.push(TraceItem {
            t: e.t.mul_f64(scale.max(1e-9)),
            input_tokens: e.input_tokens,
            output_tokens: e.output_tokens,
            model,
        });
    }
    entries
}
