//! `tokenizer = "server"`: synthetic prompt sizes calibrated against the endpoint itself.
//!
//! Before the run, each such model gets a few probe requests per request class with synthetic
//! prompts (`max_tokens = 1`, the class's system prompt and the workload's endpoint, so the
//! chat template is the one the run will use). A straight line through the server's
//! `usage.prompt_tokens` gives the tokens it counts besides the words and per word; prompts
//! are then sized so that the server counts the requested number. A last probe sized by the
//! line checks it. The probes are not part of the measured load.

use tokio::time::Instant;

use crate::config::plan::{Plan, Shape};
use crate::config::synth::Sizing;
use crate::config::workload::{Prompt, PromptSource, Synthetic};
use crate::core::record::{Outcome, TokenSource};
use crate::engine::client::Clock;
use crate::engine::runner::ClientWithQuotas;
use crate::engine::side::{self, Ask};
use crate::results::{ServerCalibration, TokenProbe};

/// Words in the fitting probes.
const PROBE_WORDS: [u32; 3] = [8, 32, 128];
/// Tokens asked of the checking probe, beyond the largest fitting probe's count.
const CHECK_EXTRA: u64 = 37;

/// One class's calibration for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// Index of the model in the plan.
    pub model: usize,
    /// Index of the class in the plan's workload.
    pub class: usize,
    /// What the result records.
    pub figures: ServerCalibration,
}

/// Probes every (model with `tokenizer = "server"`, synthetic class that can reach it) pair
/// and installs the fitted sizing in the plan's synthetic prompts. The error names the model
/// and why (a failed probe, or a server that sends no usage).
pub async fn calibrate(
    plan: &mut Plan,
    targets: &[ClientWithQuotas],
) -> Result<Vec<Fitted>, String> {
    let mut out = Vec::new();
    let clock = Clock {
        start: Instant::now(),
    };
    for m in 0..plan.models.len() {
        if !plan.models[m].tokenizer.is_server() {
            continue;
        }
        for c in 0..plan.workload.classes.len() {
            let class = &plan.workload.classes[c];
            let PromptSource::Synthetic(synth) = &class.source else {
                continue;
            };
            if class.model.is_some_and(|cm| cm != m) {
                continue;
            }
            let figures = probe_class(plan, targets, &clock, (m, c), synth).await?;
            let sizing = Sizing {
                overhead: figures.overhead_tokens,
                per_word: figures.tokens_per_word,
            };
            install(plan, m, c, sizing);
            out.push(Fitted {
                model: m,
                class: c,
                figures,
            });
        }
    }
    Ok(out)
}

/// Installs calibrations made earlier on a plan with the same models and classes (the steps
/// of a sweep differ only in their load), without probing the server again.
pub fn reinstall(plan: &mut Plan, fitted: &[Fitted]) {
    for f in fitted {
        let sizing = Sizing {
            overhead: f.figures.overhead_tokens,
            per_word: f.figures.tokens_per_word,
        };
        install(plan, f.model, f.class, sizing);
    }
}

/// Puts `sizing` for model `m` into class `c`'s synthetic prompts (and a trace's, which are
/// made like the first class's).
fn install(plan: &mut Plan, m: usize, c: usize, sizing: Sizing) {
    let n = plan.models.len();
    let set = |s: &mut Synthetic| {
        s.sizing.resize(n, None);
        s.sizing[m] = Some(sizing);
    };
    if let PromptSource::Synthetic(s) = &mut plan.workload.classes[c].source {
        set(s);
    }
    if let (Shape::Trace(t), 0) = (&mut plan.load.shape, c) {
        set(&mut std::sync::Arc::make_mut(t).synth);
    }
}

/// The fitting probes and the checking probe for model `m`, class `c`.
async fn probe_class(
    plan: &Plan,
    targets: &[ClientWithQuotas],
    clock: &Clock,
    (m, c): (usize, usize),
    synth: &Synthetic,
) -> Result<ServerCalibration, String> {
    let mut probes = Vec::new();
    for (i, words) in PROBE_WORDS.into_iter().enumerate() {
        let text = synth.synth.text(words, 0, 0, 0x7072_6f62_6500 + i as u64);
        let n = send(plan, targets, clock, (m, c), &text).await?;
        probes.push(TokenProbe {
            words,
            prompt_tokens: n,
        });
    }
    let (first, last) = (probes[0], probes[probes.len() - 1]);
    let per_word = (last.prompt_tokens as f64 - first.prompt_tokens as f64)
        / f64::from(last.words - first.words);
    let overhead = first.prompt_tokens as f64 - per_word * f64::from(first.words);
    let sizing = Sizing { overhead, per_word };
    // The check: a prompt sized for a count none of the fitting probes had.
    let want = last.prompt_tokens + CHECK_EXTRA;
    let words = sizing.words(u32::try_from(want).unwrap_or(u32::MAX));
    let text = synth.synth.text(words, 0, 0, 0x6368_6563_6b00);
    let got = send(plan, targets, clock, (m, c), &text).await?;
    probes.push(TokenProbe {
        words,
        prompt_tokens: got,
    });
    let exact = per_word == 1.0
        && probes
            .iter()
            .all(|p| p.prompt_tokens as f64 == overhead + f64::from(p.words));
    Ok(ServerCalibration {
        class: plan.workload.classes[c].name.clone(),
        probes,
        overhead_tokens: overhead,
        tokens_per_word: per_word,
        exact,
    })
}

/// Sends one probe (`max_tokens = 1`) and returns the server's `usage.prompt_tokens`.
async fn send(
    plan: &Plan,
    targets: &[ClientWithQuotas],
    clock: &Clock,
    (m, c): (usize, usize),
    text: &str,
) -> Result<u64, String> {
    let model = &plan.models[m];
    let class = &plan.workload.classes[c];
    let prompt = Prompt::text(text);
    let ask = Ask {
        system: class.system.as_deref(),
        prompt: &prompt.body,
        max_tokens: 1,
        images: &[],
        want_text: false,
    };
    let rec = side::send(plan, targets, clock, m, ask)
        .await
        .ok_or_else(|| format!("model `{}`: no client for its target", model.label))?;
    let who = format!(
        "model `{}`: tokenizer = \"server\" calibration",
        model.label
    );
    if rec.outcome != Outcome::Ok {
        return Err(format!(
            "{who}: a probe request failed ({}{})",
            rec.outcome.name(),
            rec.error
                .as_deref()
                .map_or_else(String::new, |e| format!(": {e}"))
        ));
    }
    match (rec.input_tokens, rec.input_tokens_source) {
        (Some(n), Some(TokenSource::Usage)) => Ok(n),
        _ => Err(format!(
            "{who}: the server sent no usage.prompt_tokens, so its prompt counts cannot be measured; name a tokenizer (a tokenizer.json, o200k_base or cl100k_base) instead"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::Source;

    fn plan(text: &str) -> Plan {
        let src = Source {
            path: "scenario.toml".into(),
            text: text.to_string(),
        };
        let f = src.parse().expect("parses");
        Plan::build(&src, f).expect("valid")
    }

    fn scenario(endpoint: &str, count: &str, system: &str) -> String {
        format!(
            r#"name = "cal"
[[targets]]
name = "sim"
base_url = "mock"
[[models]]
id = "m"
target = "sim"
tokenizer = "server"
mock = {{ ttft = "1ms", itl = "1ms", prompt_tokens = "{count}" }}
[workload]
endpoint = "{endpoint}"
max_tokens = 2
{system}
prompts = {{ synthetic = {{ input_tokens = 50 }} }}
[load]
concurrency = 1
requests = 1
"#
        )
    }

    /// Starts the plan's mocks and clients, calibrates, and returns the fitted figures and
    /// the plan with its sizing installed.
    async fn run(text: &str) -> (Result<Vec<Fitted>, String>, Plan) {
        let mut session =
            crate::engine::session::Session::start(plan(text), 1).expect("session starts");
        let r = session
            .calibrate_tokens()
            .await
            .map(|()| session.calibrated().to_vec())
            .map_err(|e| e.to_string());
        let plan = session.plan().clone();
        session.stop_mocks().await;
        (r, plan)
    }

    #[tokio::test]
    async fn chat_template_overhead_is_fitted_exactly_against_a_word_counting_mock() {
        // The mock counts words + 4 per message + 3: a system prompt of 3 words and the user
        // message give 4 + 3 + 4 + 3 = 14 tokens besides the prompt's words.
        let (r, plan) = run(&scenario("chat", "words", "system = \"be very brief\"")).await;
        let fitted = r.expect("calibrates");
        assert_eq!(fitted.len(), 1);
        let f = &fitted[0].figures;
        assert_eq!((f.overhead_tokens, f.tokens_per_word), (14.0, 1.0));
        assert!(f.exact, "{f:?}");
        assert_eq!(f.probes.len(), 4);
        for p in &f.probes {
            assert_eq!(p.prompt_tokens, 14 + u64::from(p.words), "{p:?}");
        }
        let PromptSource::Synthetic(s) = &plan.workload.classes[0].source else {
            panic!("synthetic")
        };
        assert_eq!(s.sizing_for(0).map(|z| z.words(100)), Some(86));
    }

    #[tokio::test]
    async fn a_server_without_usage_is_a_clear_error() {
        // A completions server that answers without `usage`.
        let app = axum::Router::new().route(
            "/v1/completions",
            axum::routing::post(|| async {
                axum::Json(serde_json::json!({
                    "id": "c1", "object": "text_completion", "model": "m",
                    "choices": [{ "index": 0, "text": " a", "finish_reason": "length" }]
                }))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let text = scenario("completions", "words", "")
            .replace(
                "base_url = \"mock\"",
                &format!("base_url = \"http://{addr}/v1\""),
            )
            .replace("max_tokens = 2", "max_tokens = 2\nstream = false");
        let (r, _) = run(&text).await;
        server.abort();
        let e = r.unwrap_err();
        assert!(
            e.contains("model `m`") && e.contains("sent no usage.prompt_tokens"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_byte_counting_mock_is_fitted_but_not_called_exact() {
        let (r, _) = run(&scenario("completions", "bytes", "")).await;
        let f = &r.expect("calibrates")[0].figures;
        assert!(!f.exact, "{f:?}");
        assert!(f.tokens_per_word > 1.0, "{f:?}");
    }
}
