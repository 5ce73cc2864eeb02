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
