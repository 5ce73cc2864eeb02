//! `[fallback]`: chains of models a failed attempt moves along, and the outcomes that move it.

use super::models::by_name;
use super::{Fallback, Model, Problems};
use crate::config::scenario::FallbackSpec;
use crate::core::record::Outcome;

/// The chains (each model falling back to one next model at most) and the trigger outcomes
/// (rate_limited, server_error and timeout unless `on` says otherwise).
pub(super) fn build(fb: &FallbackSpec, models: &[Model], p: &mut Problems) -> Fallback {
    let mut chains = Vec::new();
    let mut next: Vec<Option<usize>> = vec![None; models.len()];
    if fb.chains.is_empty() {
        p.push(
            "fallback.chains",
            "give at least one chain of two or more models",
        );
    }
    for (ci, chain) in fb.chains.iter().enumerate() {
        if chain.len() < 2 {
            p.push(
                &format!("fallback.chains[{ci}]"),
                "a chain needs at least two models",
            );
        }
        let mut idx = Vec::new();
        for (k, name) in chain.iter().enumerate() {
            match by_name(models, name) {
                Ok(m) => {
                    if idx.contains(&m) {
                        p.push(
                            &format!("fallback.chains[{ci}][{k}]"),
                            format!("`{name}` appears twice in the chain"),
                        );
                    }
                    idx.push(m)
                }
                Err(e) => p.push(&format!("fallback.chains[{ci}][{k}]"), e),
            }
        }
        for pair in idx.windows(2) {
            if let Some(prev) = next[pair[0]] {
                if prev != pair[1] {
                    p.push(
                        &format!("fallback.chains[{ci}]"),
                        format!(
                            "model `{}` already falls back to `{}` in an earlier chain",
                            models[pair[0]].label, models[prev].label
                        ),
                    );
                }
            }
            next[pair[0]] = Some(pair[1]);
        }
        chains.push(idx);
    }
    Fallback {
        chains,
        next,
        on: triggers(fb.on.as_deref(), p),
    }
}

/// The outcomes `on` names, in outcome order without repeats.
fn triggers(on: Option<&[String]>, p: &mut Problems) -> Vec<Outcome> {
    let default = ["rate_limited", "server_error", "timeout"].map(String::from);
    let names = on.unwrap_or(&default);
    let mut out = Vec::new();
    for (k, n) in names.iter().enumerate() {
        match outcomes(n) {
            Some(list) => out.extend(list),
            None => p.push(
                &format!("fallback.on[{k}]"),
                format!(
                    "`{n}` is not an outcome class; use rate_limited, server_error, timeout, connection, or one of: {}",
                    Outcome::ALL
                        .iter()
                        .filter(|o| o.was_sent() && **o != Outcome::Ok)
                        .map(|o| o.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    out.sort_by_key(|o| o.index());
    out.dedup();
    out
}

/// Outcome classes a `fallback.on` name stands for.
fn outcomes(name: &str) -> Option<Vec<Outcome>> {
    Some(match name {
        "rate_limited" => vec![Outcome::RateLimited],
        "server_error" => vec![Outcome::Http5xx],
        "timeout" => vec![
            Outcome::TimeoutHeaders,
            Outcome::TimeoutFirstToken,
            Outcome::TimeoutIdle,
            Outcome::TimeoutTotal,
        ],
        "connection" => vec![
            Outcome::Connect,
            Outcome::Tls,
            Outcome::StreamCut,
            Outcome::Incomplete,
        ],
        other => vec![Outcome::from_name(other).filter(|o| o.was_sent() && *o != Outcome::Ok)?],
    })
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::*;

    /// The fallback built from a `[fallback]` table over models A, B and C, and the problems.
    fn check(fallback: &str, test: impl FnOnce(&Fallback, &[(&str, &str)])) {
        let (src, f) = scenario(&format!(
            "name = \"t\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[models]]\nid = \"a\"\ntarget = \"sim\"\n\
             [fallback]\n{fallback}\n\
             [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n"
        ));
        let mut p = Problems::new(&src);
        let model = |label: &str| Model {
            id: label.to_lowercase(),
            label: label.into(),
            target: 0,
            weight: 1.0,
            price: None,
            context_window: None,
            slo: super::super::Slo::default(),
            tokenizer: Default::default(),
        };
        let models = [model("A"), model("B"), model("C")];
        let fb = build(f.fallback.as_ref().expect("[fallback]"), &models, &mut p);
        test(&fb, &fields(p.found()));
    }

    #[test]
    fn chains_give_each_model_its_next_and_the_default_triggers_are_limits_errors_and_timeouts() {
        check("chains = [[\"A\", \"B\", \"C\"]]", |fb, problems| {
            assert_eq!(problems, []);
            assert_eq!(fb.chains, [vec![0, 1, 2]]);
            assert_eq!(fb.next, [Some(1), Some(2), None]);
            let mut want = vec![
                Outcome::RateLimited,
                Outcome::Http5xx,
                Outcome::TimeoutHeaders,
                Outcome::TimeoutFirstToken,
                Outcome::TimeoutIdle,
                Outcome::TimeoutTotal,
            ];
            want.sort_by_key(|o| o.index());
            assert_eq!(fb.on, want);
        });
    }

    #[test]
    fn triggers_may_be_groups_or_single_outcomes_named_once_each() {
        check(
            "chains = [[\"A\", \"B\"]]\non = [\"http_5xx\", \"server_error\"]",
            |fb, problems| {
                assert_eq!(problems, []);
                assert_eq!(fb.on, [Outcome::Http5xx]);
            },
        );
        check("chains = [[\"A\", \"B\"]]\non = [\"ok\"]", |_, problems| {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].0, "fallback.on[0]");
            assert!(
                problems[0]
                    .1
                    .starts_with("`ok` is not an outcome class; use rate_limited, server_error, timeout, connection, or one of: "),
                "{}",
                problems[0].1
            );
        });
    }

    #[test]
    fn a_chain_has_two_distinct_known_models_and_agrees_with_earlier_chains() {
        check(
            "chains = [[\"A\"], [\"A\", \"B\", \"A\"], [\"B\", \"C\"], [\"C\", \"Z\"]]",
            |_, problems| {
                assert_eq!(
                    problems,
                    [
                        ("fallback.chains[0]", "a chain needs at least two models"),
                        ("fallback.chains[1][2]", "`A` appears twice in the chain"),
                        (
                            "fallback.chains[2]",
                            "model `B` already falls back to `A` in an earlier chain"
                        ),
                        ("fallback.chains[3][1]", "no model `Z`; models are: A, B, C"),
                    ]
                );
            },
        );
        check("chains = []", |_, problems| {
            assert_eq!(
                problems,
                [(
                    "fallback.chains",
                    "give at least one chain of two or more models"
                )]
            );
        });
    }
}
