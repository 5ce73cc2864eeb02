//! A model's `mock` settings: how the built-in simulator serves it (latency, decode speed,
//! output length, capacity, injected faults).

use std::path::Path;
use std::sync::Arc;

use super::Problems;
use crate::config::mock::answers::{self, AnswersError, MockAnswers};
use crate::config::mock::{Faults, MockConfigError, MockModel};
use crate::config::scenario::ModelSpec;
use crate::core::dist::Dist;

/// The simulator's settings for model `m` (the defaults when it gives none), or the field
/// under `mock` that is wrong and why.
pub(super) fn model(m: &ModelSpec) -> Result<MockModel, (&'static str, String)> {
    let mut mm = MockModel::default();
    let Some(spec) = &m.mock else {
        return Ok(mm);
    };
    if let Some(d) = &spec.ttft {
        mm.ttft_ms = d.0.clone();
    }
    mm.ttft_steps = spec
        .ttft_steps
        .iter()
        .map(|s| crate::config::mock::TtftStep {
            after_s: s.after.0.as_secs_f64(),
            ttft_ms: s.ttft.0.clone(),
        })
        .collect();
    match (&spec.itl, spec.tokens_per_s) {
        (Some(_), Some(_)) => {
            return Err((
                "tokens_per_s",
                "give `itl` or `tokens_per_s`, not both".into(),
            ))
        }
        (Some(d), None) => mm.itl_ms = d.0.clone(),
        (None, Some(tps)) => {
            if !(tps.is_finite() && tps > 0.0) {
                return Err(("tokens_per_s", "must be greater than 0".into()));
            }
            // A chunk of k tokens every k/tps seconds keeps the decode speed at tps.
            mm.itl_ms = Dist::fixed(1e3 * spec.tokens_per_chunk.unwrap_or(1).max(1) as f64 / tps);
        }
        (None, None) => {}
    }
    if let Some(d) = &spec.output_tokens {
        mm.output_tokens = Some(d.0.clone());
    }
    if let Some(n) = spec.tokens_per_chunk {
        mm.tokens_per_chunk = n;
    }
    if let Some(n) = spec.reasoning_tokens {
        mm.reasoning_tokens = n;
    }
    if let Some(n) = spec.embedding_dim {
        if n == 0 || n > 65_536 {
            return Err(("embedding_dim", "must be between 1 and 65536".into()));
        }
        mm.embedding_dim = n;
    }
    if let Some(s) = spec.tool_call_share {
        if !(0.0..=1.0).contains(&s) {
            return Err(("tool_call_share", "must be between 0 and 1".into()));
        }
        mm.tool_call_share = s;
    }
    if let Some(n) = spec.max_concurrency {
        mm.max_concurrency = Some(n);
    }
    if let Some(c) = spec.prompt_tokens {
        mm.prompt_tokens = c;
    }
    mm.rate_limit = spec.rate_limit;
    if let Some(f) = &spec.faults {
        let faults = Faults {
            rate_limit: f.rate_limit,
            retry_after_s: f.retry_after.map(|d| d.0.as_secs().max(1) as u32),
            server_error: f.server_error,
            stall: f.stall,
            disconnect: f.disconnect,
            malformed: f.malformed,
            error_event: f.error_event,
            no_headers: f.no_headers,
            html_error: f.html_error,
            wrong_content_type: f.wrong_content_type,
            no_done: f.no_done,
            endless: f.endless,
            invalid_utf8: f.invalid_utf8,
            usage_mismatch: f.usage_mismatch,
            reset: f.reset,
        };
        mm.faults = faults;
    }
    // The mock owns its rules; map its verdict to the scenario field it came from.
    mm.validate(&m.id).map_err(|e| scenario_field(&e))?;
    Ok(mm)
}

/// Model `m`'s answers table (`mock.answers`, read from `dir`, with `mock.wrong`), its
/// problems reported where they are (`at` names a field of the model): an unreadable file or
/// a `wrong` out of range at the scenario's field, a wrong line in the answers file itself.
pub(super) fn answers(
    m: &ModelSpec,
    at: &impl Fn(&str) -> String,
    dir: &Path,
    p: &mut Problems,
) -> Option<Arc<MockAnswers>> {
    let spec = m.mock.as_ref()?;
    let wrong = spec.wrong.unwrap_or(0.0);
    if !(0.0..=1.0).contains(&wrong) {
        p.push(
            &at("mock.wrong"),
            format!("{wrong} is a share of answers and must be between 0 and 1"),
        );
    }
    let Some(file) = &spec.answers else {
        if spec.wrong.is_some() {
            p.push(
                &at("mock.wrong"),
                "needs `answers`, the table of answers to make wrong",
            );
        }
        return None;
    };
    let path = dir.join(file);
    match answers::load(&path, &path, wrong) {
        Ok(t) => Some(Arc::new(t)),
        Err(AnswersError::Io(e)) => {
            p.push(
                &at("mock.answers"),
                format!("cannot read answers file {}: {e}", path.display()),
            );
            None
        }
        Err(AnswersError::Lines(found)) => {
            for f in found {
                p.push_located(f);
            }
            None
        }
    }
}

/// The field under `mock` a mock-configuration error is about, and the message to report.
fn scenario_field(e: &MockConfigError) -> (&'static str, String) {
    use MockConfigError as E;
    match e {
        E::Dist { field, source, .. } => (
            match *field {
                "ttft_ms" => "ttft",
                "itl_ms" => "itl",
                "ttft_steps.ttft_ms" => "ttft_steps.ttft",
                other => other,
            },
            source.to_string(),
        ),
        E::Probability { field, value, .. } => (
            "faults",
            format!("`{field}` = {value} is a probability and must be between 0 and 1"),
        ),
        E::ProbabilitySum { sum, .. } => (
            "faults",
            format!("the fault probabilities add up to {sum}, more than 1"),
        ),
        E::TokensPerChunk { .. } => ("tokens_per_chunk", "must be at least 1".into()),
        E::MaxConcurrency { .. } => ("max_concurrency", "must be at least 1".into()),
        E::RateLimit { .. } => (
            "rate_limit",
            "give requests_per_minute and/or tokens_per_minute, each at least 1".into(),
        ),
        E::TtftStep { after_s, .. } => (
            "ttft_steps",
            format!("after = {after_s} s must be at least 0"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::scenario;
    use super::*;

    /// The mock settings of the one model whose `mock` table is `mock`.
    fn mock(mock: &str) -> Result<MockModel, (&'static str, String)> {
        let (_, f) = scenario(&format!(
            "name = \"t\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[models]]\nid = \"m\"\ntarget = \"sim\"\nmock = {mock}\n\
             [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n"
        ));
        model(&f.models[0])
    }

    #[test]
    fn a_decode_speed_becomes_the_gap_between_chunks() {
        let m = mock("{ tokens_per_s = 200, tokens_per_chunk = 4 }").expect("valid");
        // 4 tokens every 20 ms is 200 tokens/s.
        assert_eq!(m.itl_ms, Dist::fixed(20.0));
        assert_eq!(m.tokens_per_chunk, 4);
        let default = MockModel::default();
        assert_eq!(
            m.ttft_ms, default.ttft_ms,
            "an unset ttft keeps the default"
        );
    }

    #[test]
    fn the_mocks_own_verdict_names_the_scenario_field() {
        assert_eq!(
            mock("{ tokens_per_s = 0 }").err(),
            Some(("tokens_per_s", "must be greater than 0".to_string()))
        );
        assert_eq!(
            mock("{ faults = { stall = 2 } }").err(),
            Some((
                "faults",
                "`stall` = 2 is a probability and must be between 0 and 1".to_string()
            ))
        );
        assert_eq!(
            mock("{ faults = { rate_limit = 0.5, server_error = 0.75 } }").err(),
            Some((
                "faults",
                "the fault probabilities add up to 1.25, more than 1".to_string()
            ))
        );
        assert_eq!(
            mock("{ max_concurrency = 0 }").err(),
            Some(("max_concurrency", "must be at least 1".to_string()))
        );
    }
}
