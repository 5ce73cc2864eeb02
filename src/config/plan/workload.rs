//! `[workload]`: what each request asks for. The endpoint, `max_tokens`, temperature, system
//! prompt, request classes (or the one `default` class), the class mix, repeats and
//! multi-turn sessions. Routes and fallback chains are read by their own validators.

use std::path::Path;

use super::{prompts, Model, Problems, Sessions, Workload};
use crate::config::scenario::{EndpointKind, MixBy, ScenarioFile, WorkloadSpec};
use crate::config::workload::{Class, Prompt, PromptSource};
use crate::core::dist::Dist;

/// The workload without routes and fallback chains (left empty for their validators).
/// Prompt files are relative to `dir`.
pub(super) fn build(f: &ScenarioFile, dir: &Path, models: &[Model], p: &mut Problems) -> Workload {
    let w = &f.workload;
    let embeddings = w.endpoint == EndpointKind::Embeddings;
    // An embeddings request generates nothing: 0 output tokens for the context-window guard
    // and the token quotas (a `max_tokens` written there is refused below).
    let default_max = match (&w.max_tokens, embeddings) {
        (_, true) => Dist::fixed(0.0),
        (Some(d), false) => d.0.clone(),
        (None, false) => Dist::fixed(128.0),
    };
    if !embeddings && below_one(&default_max) {
        p.push("workload.max_tokens", "must be at least 1");
    }
    if let Some(t) = w.temperature {
        if !(0.0..=2.0).contains(&t) {
            p.push("workload.temperature", "must be between 0 and 2");
        }
    }
    let chat = w.endpoint == EndpointKind::Chat;
    // The Responses API carries a system prompt (as `instructions`) and a conversation.
    let conversational = chat || w.endpoint == EndpointKind::Responses;
    if w.system.is_some() && !conversational {
        p.push(
            "workload.system",
            "a system prompt applies to endpoint = \"chat\" or \"responses\" only",
        );
    }
    let batch_size = embeddings_settings(f, p);
    responses_settings(f, p);
    let named_classes = !w.classes.is_empty();
    let (classes, mut class_weights) = if named_classes {
        declared_classes(f, dir, models, &default_max, p)
    } else {
        (
            vec![default_class(f, dir, models, default_max, p)],
            vec![1.0],
        )
    };
    let mix_by = w.mix_by.unwrap_or_default();
    if mix_by == MixBy::InputTokens {
        if !named_classes {
            p.push(
                "workload.mix_by",
                "`mix_by` applies to [[workload.classes]]",
            );
        } else {
            // A class's share of requests is its share of input tokens divided by its
            // mean prompt size.
            for (c, wgt) in classes.iter().zip(class_weights.iter_mut()) {
                let tok = c.model.map_or_else(
                    || models.first().map(|m| &m.tokenizer),
                    |m| models.get(m).map(|m| &m.tokenizer),
                );
                let mean = prompts::mean_tokens(c, tok.unwrap_or(&Default::default()));
                *wgt = if mean > 0.0 { *wgt / mean } else { 0.0 };
            }
        }
    }
    let repeat_ratio = w.repeat_ratio.unwrap_or(0.0);
    if !(0.0..1.0).contains(&repeat_ratio) {
        p.push(
            "workload.repeat_ratio",
            "must be at least 0 and below 1 (a share of requests)",
        );
    }
    let sessions = sessions(w, conversational, p);
    if sessions.is_some() && repeat_ratio > 0.0 {
        p.push(
            "workload.repeat_ratio",
            "repeats apply to single requests, not to multi-turn sessions",
        );
    }
    let images = super::images::build(f, &classes, p);
    Workload {
        endpoint: w.endpoint,
        stream: w.endpoint != EndpointKind::Embeddings && w.stream.unwrap_or(true),
        batch_size,
        classes,
        class_weights,
        named_classes,
        mix_by,
        repeat_ratio,
        context_guard: w.context_guard.unwrap_or_default(),
        sessions,
        routes: Vec::new(),
        fallback: None,
        temperature: w.temperature,
        request_seed: w.seed,
        tools: super::tools::build(f, dir, p),
        images,
    }
}

/// `batch_size` (1 unless `endpoint = "embeddings"` sets it), and a problem for each
/// setting written that an embeddings request has no use for: it is answered whole, with
/// vectors and no generated tokens.
fn embeddings_settings(f: &ScenarioFile, p: &mut Problems) -> u32 {
    let w = &f.workload;
    if w.endpoint != EndpointKind::Embeddings {
        if w.batch_size.is_some() {
            p.push(
                "workload.batch_size",
                "`batch_size` applies to endpoint = \"embeddings\" only",
            );
        }
        return 1;
    }
    let no_use = "does not apply to endpoint = \"embeddings\" (a batch of inputs answered \
                  whole with vectors: no stream, no generated tokens)";
    let written = [
        ("workload.stream", w.stream.is_some()),
        ("workload.max_tokens", w.max_tokens.is_some()),
        ("workload.temperature", w.temperature.is_some()),
        ("workload.seed", w.seed.is_some()),
        ("workload.context_guard", w.context_guard.is_some()),
    ];
    for (field, set) in written {
        if set {
            p.push(field, no_use);
        }
    }
    for (i, c) in w.classes.iter().enumerate() {
        if c.max_tokens.is_some() {
            p.push(&format!("workload.classes[{i}].max_tokens"), no_use);
        }
    }
    match w.batch_size {
        Some(0) => {
            p.push("workload.batch_size", "must be at least 1");
            1
        }
        Some(n) => n,
        None => 1,
    }
}

/// A problem for each setting written that the Responses API has no parameter for (the
/// request carries `model`, `input`, `instructions`, `max_output_tokens`, `stream` and
/// `temperature`).
fn responses_settings(f: &ScenarioFile, p: &mut Problems) {
    let w = &f.workload;
    if w.endpoint != EndpointKind::Responses {
        return;
    }
    if w.seed.is_some() {
        p.push(
            "workload.seed",
            "does not apply to endpoint = \"responses\" (the Responses API has no `seed` \
             parameter)",
        );
    }
}

/// Whether a `max_tokens` (or prompt length) distribution can fall below 1 token.
fn below_one(d: &Dist) -> bool {
    d.upper_bound().is_some_and(|v| v < 1.0) || d.mean() < 1.0
}

/// The `[[workload.classes]]` and their weights as written.
fn declared_classes(
    f: &ScenarioFile,
    dir: &Path,
    models: &[Model],
    default_max: &Dist,
    p: &mut Problems,
) -> (Vec<Class>, Vec<f64>) {
    let w = &f.workload;
    if w.prompts.is_some() {
        p.push(
            "workload.prompts",
            "with [[workload.classes]], each class gives its own `prompts`",
        );
    }
    let conversational = matches!(w.endpoint, EndpointKind::Chat | EndpointKind::Responses);
    let mut classes = Vec::new();
    let mut class_weights = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (i, c) in w.classes.iter().enumerate() {
        let at = |k: &str| format!("workload.classes[{i}].{k}");
        if c.name.trim().is_empty() {
            p.push(&at("name"), "must not be empty");
        } else if !names.insert(c.name.as_str()) {
            p.push(&at("name"), format!("class `{}` is declared twice", c.name));
        }
        if !(c.weight.is_finite() && c.weight >= 0.0) {
            p.push(&at("weight"), "must be a finite number ≥ 0");
        }
        let model = c
            .model
            .as_ref()
            .and_then(|m| match super::models::by_name(models, m) {
                Ok(i) => Some(i),
                Err(e) => {
                    p.push(&at("model"), e);
                    None
                }
            });
        let max_tokens = match &c.max_tokens {
            Some(d) => {
                if below_one(&d.0) {
                    p.push(&at("max_tokens"), "must be at least 1");
                }
                d.0.clone()
            }
            None => default_max.clone(),
        };
        if c.system.is_some() && !conversational {
            p.push(
                &at("system"),
                "a system prompt applies to endpoint = \"chat\" or \"responses\" only",
            );
        }
        let toks = reachable(models, model);
        let seeds = (f.seed, i as u64);
        let source = prompts::source(&c.prompts, dir, seeds, &toks, &at("prompts"), p);
        classes.push(Class {
            name: c.name.clone(),
            source,
            max_tokens,
            system: c.system.clone().or_else(|| w.system.clone()),
            model,
        });
        class_weights.push(c.weight);
    }
    if class_weights.iter().sum::<f64>() <= 0.0 {
        p.push(
            "workload.classes[0].weight",
            "the classes' weights sum to 0: no request could be sent",
        );
    }
    (classes, class_weights)
}

/// The one class of a scenario that declares none: `workload.prompts`, or (for a trace
/// replay, which makes its own prompts) an empty prompt.
fn default_class(
    f: &ScenarioFile,
    dir: &Path,
    models: &[Model],
    max_tokens: Dist,
    p: &mut Problems,
) -> Class {
    let w = &f.workload;
    let toks = reachable(models, None);
    let source = match (&w.prompts, &f.load.trace) {
        (Some(spec), _) => prompts::source(spec, dir, (f.seed, 0), &toks, "workload.prompts", p),
        (None, Some(_)) => PromptSource::List(vec![Prompt::text("")]),
        (None, None) => {
            p.push(
                "workload.prompts",
                "give `prompts` (a list, { file = … }, { sharegpt = … } or { synthetic = … }) or [[workload.classes]]",
            );
            PromptSource::List(Vec::new())
        }
    };
    Class {
        name: "default".into(),
        source,
        max_tokens,
        system: w.system.clone(),
        model: None,
    }
}

/// The tokenizers of the models a class's requests can go to: its own model's, else every
/// model's (weights and routing rules choose among them).
fn reachable(
    models: &[Model],
    class_model: Option<usize>,
) -> Vec<&crate::config::tokenizer::Tokenizer> {
    match class_model.and_then(|m| models.get(m)) {
        Some(m) => vec![&m.tokenizer],
        None => models.iter().map(|m| &m.tokenizer).collect(),
    }
}

/// Multi-turn sessions (chat and responses), think time 0 unless given.
fn sessions(w: &WorkloadSpec, conversational: bool, p: &mut Problems) -> Option<Sessions> {
    let ss = w.sessions.as_ref()?;
    if ss.turns.0.mean() < 1.0 {
        p.push("workload.sessions.turns", "must be at least 1");
    }
    if !conversational {
        p.push(
            "workload.sessions",
            "multi-turn sessions need endpoint = \"chat\" or \"responses\"",
        );
    }
    Some(Sessions {
        turns: ss.turns.0.clone(),
        think_ms: ss
            .think_time
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or(Dist::fixed(0.0)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::*;

    const HEAD: &str = "name = \"t\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
        [[models]]\nid = \"m\"\nlabel = \"M\"\ntarget = \"sim\"\n";

    /// The workload built from `workload` (the `[workload]` table and what follows it, before
    /// `[load]`) and the problems found.
    fn check(workload: &str, test: impl FnOnce(&Workload, &[(&str, &str)])) {
        let (src, f) = scenario(&format!(
            "{HEAD}[workload]\n{workload}\n[load]\nconcurrency = 1\nrequests = 1\n"
        ));
        let mut p = Problems::new(&src);
        let models = [Model {
            id: "m".into(),
            label: "M".into(),
            target: 0,
            weight: 1.0,
            price: None,
            context_window: None,
            slo: super::super::Slo::default(),
            tokenizer: Default::default(),
        }];
        let w = build(&f, Path::new("."), &models, &mut p);
        test(&w, &fields(p.found()));
    }

    #[test]
    fn without_classes_one_default_class_takes_every_request() {
        check("prompts = [\"hi\"]", |w, problems| {
            assert_eq!(problems, []);
            assert!(!w.named_classes);
            assert_eq!(w.classes.len(), 1);
            assert_eq!(w.classes[0].name, "default");
            assert_eq!(w.classes[0].max_tokens, Dist::fixed(128.0));
            assert_eq!(w.class_weights, [1.0]);
            assert_eq!(w.repeat_ratio, 0.0);
            assert!(w.sessions.is_none());
        });
    }

    #[test]
    fn request_settings_must_fit_the_endpoint() {
        let text = "endpoint = \"completions\"\nprompts = [\"hi\"]\nmax_tokens = 0\n\
                    temperature = 2.5\nsystem = \"be brief\"\nrepeat_ratio = 0.5\n\
                    sessions = { turns = 0 }";
        check(text, |_, problems| {
            assert_eq!(
                problems,
                [
                    ("workload.max_tokens", "must be at least 1"),
                    ("workload.temperature", "must be between 0 and 2"),
                    (
                        "workload.system",
                        "a system prompt applies to endpoint = \"chat\" or \"responses\" only"
                    ),
                    ("workload.sessions.turns", "must be at least 1"),
                    (
                        "workload.sessions",
                        "multi-turn sessions need endpoint = \"chat\" or \"responses\""
                    ),
                    (
                        "workload.repeat_ratio",
                        "repeats apply to single requests, not to multi-turn sessions"
                    ),
                ]
            );
        });
    }

    #[test]
    fn a_workload_needs_prompts_and_a_mix_needs_classes() {
        check(
            "mix_by = \"input_tokens\"\nrepeat_ratio = 1",
            |_, problems| {
                assert_eq!(
                problems,
                [
                    (
                        "workload.prompts",
                        "give `prompts` (a list, { file = … }, { sharegpt = … } or { synthetic = … }) or [[workload.classes]]"
                    ),
                    (
                        "workload.mix_by",
                        "`mix_by` applies to [[workload.classes]]"
                    ),
                    (
                        "workload.repeat_ratio",
                        "must be at least 0 and below 1 (a share of requests)"
                    ),
                ]
            );
            },
        );
    }

    #[test]
    fn declared_classes_have_distinct_names_known_models_and_some_weight() {
        let text = "prompts = [\"hi\"]\n\
                    [[workload.classes]]\nname = \"a\"\nweight = 0\nprompts = [\"x\"]\nmodel = \"nope\"\n\
                    [[workload.classes]]\nname = \"a\"\nweight = 0\nprompts = [\"y\"]\n";
        check(text, |w, problems| {
            assert_eq!(
                problems,
                [
                    (
                        "workload.prompts",
                        "with [[workload.classes]], each class gives its own `prompts`"
                    ),
                    (
                        "workload.classes[0].model",
                        "no model `nope`; models are: M"
                    ),
                    ("workload.classes[1].name", "class `a` is declared twice"),
                    (
                        "workload.classes[0].weight",
                        "the classes' weights sum to 0: no request could be sent"
                    ),
                ]
            );
            assert!(w.named_classes);
        });
    }

    #[test]
    fn a_class_inherits_max_tokens_and_the_system_prompt_and_may_name_a_model() {
        let text = "system = \"be brief\"\nmax_tokens = 50\n\
                    [[workload.classes]]\nname = \"a\"\nprompts = [\"x\"]\nmodel = \"M\"\n\
                    [[workload.classes]]\nname = \"b\"\nweight = 3\nprompts = [\"y\"]\n\
                    max_tokens = 7\nsystem = \"own\"\n";
        check(text, |w, problems| {
            assert_eq!(problems, []);
            let (a, b) = (&w.classes[0], &w.classes[1]);
            assert_eq!(
                (a.max_tokens.clone(), a.system.as_deref(), a.model),
                (Dist::fixed(50.0), Some("be brief"), Some(0))
            );
            assert_eq!(
                (b.max_tokens.clone(), b.system.as_deref(), b.model),
                (Dist::fixed(7.0), Some("own"), None)
            );
            assert_eq!(w.class_weights, [1.0, 3.0]);
        });
    }

    #[test]
    fn a_mix_by_input_tokens_divides_each_share_by_the_mean_prompt_size() {
        // Equal shares of input tokens: the 100-token class sends 3 requests for each of the
        // 300-token class's.
        let text = "mix_by = \"input_tokens\"\n\
                    [[workload.classes]]\nname = \"short\"\nprompts = { synthetic = { input_tokens = 100 } }\n\
                    [[workload.classes]]\nname = \"long\"\nprompts = { synthetic = { input_tokens = 300 } }\n";
        check(text, |w, problems| {
            assert_eq!(problems, []);
            assert_eq!(w.class_weights, [1.0 / 100.0, 1.0 / 300.0]);
        });
    }

    #[test]
    fn sessions_think_for_no_time_unless_told() {
        check(
            "prompts = [\"hi\"]\nsessions = { turns = 3 }",
            |w, problems| {
                assert_eq!(problems, []);
                let s = w.sessions.as_ref().expect("sessions");
                assert_eq!(
                    (s.turns.clone(), s.think_ms.clone()),
                    (Dist::fixed(3.0), Dist::fixed(0.0))
                );
            },
        );
    }

    #[test]
    fn embeddings_send_a_batch_without_stream_or_output_tokens() {
        check(
            "endpoint = \"embeddings\"\nprompts = [\"hi\"]",
            |w, problems| {
                assert_eq!(problems, []);
                assert_eq!(
                    w.batch_size, 1,
                    "one input unless batch_size says otherwise"
                );
                assert!(!w.stream);
                assert_eq!(w.classes[0].max_tokens, Dist::fixed(0.0));
            },
        );
        check(
            "endpoint = \"embeddings\"\nbatch_size = 16\nprompts = [\"hi\"]",
            |w, problems| {
                assert_eq!(problems, []);
                assert_eq!(w.batch_size, 16);
            },
        );
        check(
            "endpoint = \"embeddings\"\nprompts = [\"hi\"]\nseed = 1\ncontext_guard = \"skip\"\n\
             system = \"s\"",
            |_, problems| {
                let fields: Vec<&str> = problems.iter().map(|p| p.0).collect();
                assert_eq!(
                    fields,
                    ["workload.system", "workload.seed", "workload.context_guard"]
                );
            },
        );
    }
}
