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
