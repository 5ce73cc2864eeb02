//! `load.trace` and `load.time_scale`: a recorded traffic shape to replay, each line's time
//! scaled and its model resolved.

use std::path::Path;
use std::sync::Arc;

use super::models::by_name;
use super::{prompts, Model, Problems, Trace, TraceItem, Workload};
use crate::config::scenario::ScenarioFile;

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
            _ => {
                let toks: Vec<_> = models.iter().map(|m| &m.tokenizer).collect();
                let gen = prompts::generator(None, &toks);
                prompts::synthetic(gen, Dist::fixed(1.0), 0.0, f.seed, 0)
            }
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

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::*;
    use std::time::Duration;

    const HEAD: &str = "name = \"t\"\nseed = 4\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
        [[models]]\nid = \"a\"\nlabel = \"A\"\ntarget = \"sim\"\n";

    /// The trace built from `rest` (the `[workload]` and `[load]` tables) with the scenario in
    /// `dir`, and the problems found.
    fn check(dir: &Path, rest: &str, test: impl FnOnce(Option<&Trace>, &[(&str, &str)])) {
        let (src, f) = scenario(&format!("{HEAD}{rest}"));
        let mut p = Problems::new(&src);
        let models = [Model {
            id: "a".into(),
            label: "A".into(),
            target: 0,
            weight: 1.0,
            price: None,
            context_window: None,
            slo: super::super::Slo::default(),
            tokenizer: Default::default(),
        }];
        let workload = super::super::workload::build(&f, dir, &models, &mut p);
        let t = build(&f, dir, &models, &workload, &mut p);
        test(t.as_deref(), &fields(p.found()));
    }

    #[test]
    fn a_trace_replays_scaled_offsets_with_the_models_it_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("t.jsonl"),
            "{\"timestamp\": 10.0, \"input_length\": 5, \"output_length\": 3, \"model\": \"A\"}\n\
             {\"timestamp\": 12.0, \"input_length\": 7, \"output_length\": 2}\n\
             {\"timestamp\": 13.0, \"input_length\": 7, \"output_length\": 2, \"model\": \"B\"}\n",
        )
        .expect("write");
        let rest = "[workload]\n[load]\ntrace = \"t.jsonl\"\ntime_scale = 0.5\n";
        check(dir.path(), rest, |t, problems| {
            let path = dir.path().join("t.jsonl");
            let want = format!("{}:3: no model `B`; models are: A", path.display());
            assert_eq!(problems, [("load.trace", want.as_str())]);
            let t = t.expect("a trace");
            assert_eq!(t.time_scale, 0.5);
            let got: Vec<_> = t
                .entries
                .iter()
                .map(|e| (e.t, e.input_tokens, e.output_tokens, e.model))
                .collect();
            assert_eq!(
                got,
                [
                    (Duration::ZERO, 5, 3, Some(0)),
                    (Duration::from_secs(1), 7, 2, None),
                    (Duration::from_millis(1500), 7, 2, None),
                ]
            );
            // Without a synthetic workload, prompts are made with the default tokenizer.
            assert_eq!(t.synth.encoding, crate::config::tokens::Encoding::default());
        });
    }

    #[test]
    fn a_time_scale_needs_a_trace_and_a_trace_no_classes() {
        let dir = tempfile::tempdir().expect("tempdir");
        check(
            dir.path(),
            "[workload]\nprompts = [\"x\"]\n[load]\nrate = \"1/s\"\nduration = \"1s\"\ntime_scale = 2\n",
            |t, problems| {
                assert!(t.is_none());
                assert_eq!(
                    problems,
                    [(
                        "load.time_scale",
                        "`time_scale` applies to a `trace` replay"
                    )]
                );
            },
        );
        std::fs::write(
            dir.path().join("t.jsonl"),
            "{\"timestamp\": 1.0, \"input_length\": 5, \"output_length\": 3}\n",
        )
        .expect("write");
        check(
            dir.path(),
            "[workload]\n[[workload.classes]]\nname = \"c\"\nprompts = [\"x\"]\n\
             [load]\ntrace = \"t.jsonl\"\ntime_scale = 0\n",
            |_, problems| {
                assert_eq!(
                    problems,
                    [
                        ("load.time_scale", "must be greater than 0"),
                        (
                            "load.trace",
                            "a trace gives each request's lengths and model; it cannot be combined with [[workload.classes]]"
                        ),
                    ]
                );
            },
        );
    }
}
