//! `[[routes]]`: rules that send a request to a model by its class and prompt length, first
//! match wins.

use super::models::by_name;
use super::{Model, Problems, Route};
use crate::config::scenario::RouteSpec;
use crate::config::workload::Class;

/// The routing rules, each named (`route<i>` unless given) and able to match something.
pub(super) fn build(
    specs: &[RouteSpec],
    models: &[Model],
    classes: &[Class],
    p: &mut Problems,
) -> Vec<Route> {
    let mut routes: Vec<Route> = Vec::new();
    for (i, r) in specs.iter().enumerate() {
        let at = |k: &str| format!("routes[{i}].{k}");
        let model = match by_name(models, &r.model) {
            Ok(m) => m,
            Err(e) => {
                p.push(&at("model"), e);
                0
            }
        };
        let class = r.class.as_ref().and_then(|c| {
            let k = classes.iter().position(|x| &x.name == c);
            if k.is_none() {
                p.push(
                    &at("class"),
                    format!(
                        "no class `{c}`; classes are: {}",
                        classes
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            k
        });
        if let (Some(b), Some(a)) = (r.chars_below, r.chars_above) {
            if b <= a.saturating_add(1) {
                p.push(
                    &at("chars_below"),
                    format!("no prompt is both shorter than {b} and longer than {a} characters: the rule can match nothing"),
                );
            }
        }
        if r.chars_below == Some(0) {
            p.push(
                &at("chars_below"),
                "no prompt is shorter than 0 characters: the rule can match nothing",
            );
        }
        if let Some(j) = routes.iter().position(|x| x.unconditional()) {
            p.push(
                &at("model"),
                format!("the rule can never match: routes[{j}] before it has no condition and takes every request"),
            );
        }
        if let Some(k) = class {
            if classes.get(k).is_some_and(|c| c.model.is_some()) {
                p.push(
                    &at("class"),
                    format!(
                        "class `{}` names its own model, so no route applies to it",
                        classes[k].name
                    ),
                );
            }
        }
        routes.push(Route {
            name: r.name.clone().unwrap_or_else(|| format!("route{i}")),
            chars_below: r.chars_below,
            chars_above: r.chars_above,
            class,
            model,
        });
    }
    routes
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::*;
    use crate::config::workload::{Prompt, PromptSource};
    use crate::core::dist::Dist;

    fn model(label: &str) -> Model {
        Model {
            id: label.to_lowercase(),
            label: label.into(),
            target: 0,
            weight: 1.0,
            price: None,
            context_window: None,
            slo: super::super::Slo::default(),
            tokenizer: Default::default(),
        }
    }

    fn class(name: &str, model: Option<usize>) -> Class {
        Class {
            name: name.into(),
            source: PromptSource::List(vec![Prompt::text("x")]),
            max_tokens: Dist::fixed(1.0),
            system: None,
            model,
        }
    }

    /// The routes built from `routes` (TOML `[[routes]]` entries) over models A and B and
    /// classes `a` and `b` (which names model B), and the problems found.
    fn check(routes: &str, test: impl FnOnce(&[Route], &[(&str, &str)])) {
        let (src, f) = scenario(&format!(
            "name = \"t\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[models]]\nid = \"a\"\ntarget = \"sim\"\n{routes}\n\
             [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n"
        ));
        let mut p = Problems::new(&src);
        let models = [model("A"), model("B")];
        let classes = [class("a", None), class("b", Some(1))];
        let built = build(&f.routes, &models, &classes, &mut p);
        test(&built, &fields(p.found()));
    }

    #[test]
    fn routes_are_named_by_position_unless_named_and_resolve_their_model() {
        let r = "[[routes]]\nchars_below = 200\nclass = \"a\"\nmodel = \"B\"\n\
                 [[routes]]\nname = \"rest\"\nmodel = \"a\"\n";
        check(r, |routes, problems| {
            assert_eq!(problems, []);
            assert_eq!(routes[0].name, "route0");
            assert_eq!((routes[0].class, routes[0].model), (Some(0), 1));
            assert_eq!((routes[1].name.as_str(), routes[1].model), ("rest", 0));
            assert!(routes[0].matches(0, 199) && !routes[0].matches(0, 200));
            assert!(!routes[0].matches(1, 10), "another class");
        });
    }

    #[test]
    fn a_rule_that_can_match_nothing_is_refused() {
        let r = "[[routes]]\nchars_below = 6\nchars_above = 5\nmodel = \"A\"\n\
                 [[routes]]\nchars_below = 0\nmodel = \"A\"\n\
                 [[routes]]\nclass = \"b\"\nmodel = \"A\"\n\
                 [[routes]]\nclass = \"c\"\nchars_above = 3\nmodel = \"Z\"\n\
                 [[routes]]\nmodel = \"A\"\n\
                 [[routes]]\nchars_above = 1\nmodel = \"B\"\n";
        check(r, |routes, problems| {
            assert_eq!(
                problems,
                [
                    (
                        "routes[0].chars_below",
                        "no prompt is both shorter than 6 and longer than 5 characters: the rule can match nothing"
                    ),
                    (
                        "routes[1].chars_below",
                        "no prompt is shorter than 0 characters: the rule can match nothing"
                    ),
                    (
                        "routes[2].class",
                        "class `b` names its own model, so no route applies to it"
                    ),
                    ("routes[3].model", "no model `Z`; models are: A, B"),
                    ("routes[3].class", "no class `c`; classes are: a, b"),
                    (
                        "routes[5].model",
                        "the rule can never match: routes[4] before it has no condition and takes every request"
                    ),
                ]
            );
            assert_eq!(routes.len(), 6);
        });
    }
}
