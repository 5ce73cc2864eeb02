//! `[[models]]` and `prices`: which model runs on which target, its traffic weight, price
//! and context window (the scenario's own, else the price catalog's), and its mock settings
//! on a mock target.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::{Base, Model, Problems, Slo, Target};
use crate::config::mock::MockModel;
use crate::config::prices::{Catalog, Price};
use crate::config::scenario::{ModelSpec, ScenarioFile};
use crate::config::tokenizer::Tokenizer;

/// The built-in price catalog with the scenario's own price file (relative to `dir`) over it.
pub(super) fn catalog(prices: Option<&str>, dir: &Path, p: &mut Problems) -> Catalog {
    let user = prices.map(|f| dir.join(f));
    match Catalog::builtin_with(user.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            p.push("prices", e.to_string());
            Catalog::builtin()
        }
    }
}

/// The models (their objectives are filled in later, from `[slo]`); each mock target gets the
/// scenario's seed and the mock settings of the models on it.
pub(super) fn build(
    f: &ScenarioFile,
    target_index: &HashMap<&str, usize>,
    catalog: &Catalog,
    targets: &mut [Target],
    dir: &Path,
    p: &mut Problems,
) -> Vec<Model> {
    if f.models.is_empty() {
        p.push("models", "at least one [[models]] entry is needed");
    }
    let mut models = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut mock_models: BTreeMap<usize, Vec<(String, MockModel)>> = BTreeMap::new();
    for (i, m) in f.models.iter().enumerate() {
        let at = |k: &str| format!("models[{i}].{k}");
        let target = match target_index.get(m.target.as_str()) {
            Some(&t) => t,
            None => {
                let names: Vec<&str> = f.targets.iter().map(|t| t.name.as_str()).collect();
                p.push(
                    &at("target"),
                    format!(
                        "no target named `{}`; targets are: {}",
                        m.target,
                        names.join(", ")
                    ),
                );
                0
            }
        };
        if seen.insert((m.id.clone(), m.target.clone()), i).is_some() {
            p.push(
                &at("id"),
                format!("model `{}` on target `{}` is listed twice", m.id, m.target),
            );
        }
        check_numbers(m, &at, p);
        if f.targets.get(target).is_some_and(|t| t.base_url == "mock") {
            match super::mock::model(m) {
                Ok(mut mm) => {
                    mm.answers = super::mock::answers(m, &at, dir, p);
                    mock_models
                        .entry(target)
                        .or_default()
                        .push((m.id.clone(), mm))
                }
                Err((field, msg)) => p.push(&at(&format!("mock.{field}")), msg),
            }
        }
        let mut model = model(m, target, catalog);
        if let Some(t) = &m.tokenizer {
            match Tokenizer::load(t, dir) {
                Ok(t) => model.tokenizer = t,
                Err(e) => p.push(&at("tokenizer"), e),
            }
        }
        models.push(model);
    }
    if !models.is_empty() && models.iter().map(|m| m.weight).sum::<f64>() <= 0.0 {
        p.push(
            "models[0].weight",
            "the models' weights sum to 0: no request could be sent",
        );
    }
    for (t, list) in mock_models {
        if let Some(Target {
            base: Base::Mock(cfg),
            ..
        }) = targets.get_mut(t)
        {
            cfg.seed = f.seed;
            cfg.models = list.into_iter().collect();
        }
    }
    models
}

/// The weight, price and context window are numbers in range.
fn check_numbers(m: &ModelSpec, at: &impl Fn(&str) -> String, p: &mut Problems) {
    if !(m.weight.is_finite() && m.weight >= 0.0) {
        p.push(&at("weight"), "must be a finite number ≥ 0");
    }
    if let Some(price) = &m.price {
        for (name, v) in [
            ("input_per_m", Some(price.input_per_m)),
            ("output_per_m", Some(price.output_per_m)),
            ("cached_input_per_m", price.cached_input_per_m),
        ] {
            if let Some(v) = v {
                if !(v.is_finite() && v >= 0.0) {
                    p.push(
                        &at(&format!("price.{name}")),
                        "must be a finite number ≥ 0 (USD per million tokens)",
                    );
                }
            }
        }
    }
    if m.context_window == Some(0) {
        p.push(&at("context_window"), "must be greater than 0");
    }
}

/// One model: a scenario's own price and window win; otherwise the catalog's, by id or label.
fn model(m: &ModelSpec, target: usize, catalog: &Catalog) -> Model {
    let listed = catalog
        .lookup(&m.id)
        .or_else(|| m.label.as_deref().and_then(|l| catalog.lookup(l)));
    Model {
        id: m.id.clone(),
        label: m.label.clone().unwrap_or_else(|| m.id.clone()),
        target,
        weight: m.weight,
        price: m
            .price
            .as_ref()
            .map(|p| Price {
                input_per_m: p.input_per_m,
                output_per_m: p.output_per_m,
                cached_input_per_m: p.cached_input_per_m,
            })
            .or_else(|| listed.map(|e| e.price)),
        context_window: m
            .context_window
            .or_else(|| listed.and_then(|e| e.context_window)),
        slo: Slo::default(),
        tokenizer: Tokenizer::default(),
    }
}

/// The model a class, route, fallback chain or trace line names: by label, else by id (an
/// id shared by models on several targets is ambiguous). The error is the message to report.
pub(super) fn by_name(models: &[Model], name: &str) -> Result<usize, String> {
    let by_label: Vec<usize> = (0..models.len())
        .filter(|&i| models[i].label == name)
        .collect();
    if by_label.len() == 1 {
        return Ok(by_label[0]);
    }
    let by_id: Vec<usize> = (0..models.len())
        .filter(|&i| models[i].id == name)
        .collect();
    match by_id.len() {
        1 => Ok(by_id[0]),
        0 => Err(format!(
            "no model `{name}`; models are: {}",
            models
                .iter()
                .map(|m| m.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => Err(format!(
            "`{name}` is the id of several models (on different targets); give each a distinct `label` and use it here"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::*;

    const TARGETS: &str = "name = \"t\"\nseed = 7\n\
        [[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
        [[targets]]\nname = \"real\"\nbase_url = \"http://127.0.0.1:9\"\n";
    const REST: &str = "[workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n";

    /// The models built from `models` (TOML `[[models]]` entries), the targets after, and the
    /// problems found.
    fn check(models: &str, test: impl FnOnce(&[Model], &[Target], &[(&str, &str)])) {
        let (src, f) = scenario(&format!("{TARGETS}{models}\n{REST}"));
        let mut p = Problems::new(&src);
        let (mut targets, index) = super::super::targets::build(&f.targets, Path::new("."), &mut p);
        let built = build(
            &f,
            &index,
            &Catalog::builtin(),
            &mut targets,
            Path::new("."),
            &mut p,
        );
        test(&built, &targets, &fields(p.found()));
    }

    #[test]
    fn a_model_names_a_known_target_once() {
        let m = "[[models]]\nid = \"a\"\ntarget = \"nope\"\n\
                 [[models]]\nid = \"b\"\ntarget = \"sim\"\n\
                 [[models]]\nid = \"b\"\ntarget = \"sim\"\n";
        check(m, |_, _, problems| {
            assert_eq!(
                problems,
                [
                    (
                        "models[0].target",
                        "no target named `nope`; targets are: sim, real"
                    ),
                    ("models[2].id", "model `b` on target `sim` is listed twice"),
                ]
            );
        });
    }

    #[test]
    fn weights_prices_and_windows_must_be_in_range_and_some_weight_positive() {
        let m = "[[models]]\nid = \"a\"\ntarget = \"real\"\nweight = 0\n\
                 price = { input_per_m = -1, output_per_m = 1 }\ncontext_window = 0\n\
                 [[models]]\nid = \"b\"\ntarget = \"real\"\nweight = 0\n";
        check(m, |_, _, problems| {
            assert_eq!(
                problems,
                [
                    (
                        "models[0].price.input_per_m",
                        "must be a finite number ≥ 0 (USD per million tokens)"
                    ),
                    ("models[0].context_window", "must be greater than 0"),
                    (
                        "models[0].weight",
                        "the models' weights sum to 0: no request could be sent"
                    ),
                ]
            );
        });
    }

    #[test]
    fn the_label_defaults_to_the_id_and_the_scenarios_price_is_taken() {
        let m = "[[models]]\nid = \"org/a-1\"\ntarget = \"real\"\n\
                 price = { input_per_m = 1.5, output_per_m = 2 }\ncontext_window = 900\n";
        check(m, |models, _, problems| {
            assert_eq!(problems, []);
            let a = &models[0];
            assert_eq!((a.label.as_str(), a.target, a.weight), ("org/a-1", 1, 1.0));
            assert_eq!(
                a.price,
                Some(Price {
                    input_per_m: 1.5,
                    output_per_m: 2.0,
                    cached_input_per_m: None,
                })
            );
            assert_eq!(a.context_window, Some(900));
        });
    }

    #[test]
    fn a_mock_target_serves_its_models_settings_with_the_scenarios_seed() {
        let m = "[[models]]\nid = \"a\"\ntarget = \"sim\"\nmock = { tokens_per_s = 50 }\n\
                 [[models]]\nid = \"b\"\ntarget = \"sim\"\nmock = { itl = \"1ms\", tokens_per_s = 5 }\n";
        check(m, |_, targets, problems| {
            assert_eq!(
                problems,
                [(
                    "models[1].mock.tokens_per_s",
                    "give `itl` or `tokens_per_s`, not both"
                )]
            );
            let Base::Mock(cfg) = &targets[0].base else {
                panic!("sim is a mock target");
            };
            assert_eq!(cfg.seed, 7);
            let served: Vec<&String> = cfg.models.keys().collect();
            assert_eq!(
                served,
                ["a"],
                "a model with a bad mock setting is not served"
            );
            assert_eq!(cfg.models["a"].itl_ms, crate::core::dist::Dist::fixed(20.0));
        });
    }

    #[test]
    fn a_missing_price_file_is_reported_at_prices() {
        let (src, _) = scenario(&format!(
            "{TARGETS}[[models]]\nid = \"a\"\ntarget = \"sim\"\n{REST}"
        ));
        let mut p = Problems::new(&src);
        catalog(
            Some("no-such-prices.toml"),
            Path::new("/nonexistent"),
            &mut p,
        );
        let found = fields(p.found());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "prices");
        assert!(found[0].1.contains("no-such-prices.toml"), "{}", found[0].1);
    }

    #[test]
    fn a_model_is_named_by_label_else_by_an_unambiguous_id() {
        let model = |id: &str, label: &str| Model {
            id: id.into(),
            label: label.into(),
            target: 0,
            weight: 1.0,
            price: None,
            context_window: None,
            slo: Slo::default(),
            tokenizer: Default::default(),
        };
        let models = [model("x", "A"), model("x", "B"), model("y", "x")];
        assert_eq!(by_name(&models, "B"), Ok(1));
        assert_eq!(by_name(&models, "x"), Ok(2), "a label wins over ids");
        assert_eq!(
            by_name(&models, "z"),
            Err("no model `z`; models are: A, B, x".to_string())
        );
        let models = [model("x", "A"), model("x", "B")];
        assert_eq!(
            by_name(&models, "x"),
            Err("`x` is the id of several models (on different targets); give each a distinct `label` and use it here".to_string())
        );
    }
}
