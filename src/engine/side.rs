//! One request sent outside the measured load — a tokenizer calibration probe, a golden
//! line's answer: its body built as the run's are, sent through the run's client for the
//! model's target, on a record that no collector, records file or meter sees.

use std::sync::Arc;

use crate::config::images::Image;
use crate::config::plan::Plan;
use crate::config::workload::PromptBody;
use crate::core::record::{Outcome, Phase, RequestRecord};
use crate::engine::client::Clock;
use crate::engine::runner::ClientWithQuotas;

/// What the request carries.
pub struct Ask<'a> {
    /// System prompt.
    pub system: Option<&'a str>,
    /// The prompt.
    pub prompt: &'a PromptBody,
    /// `max_tokens`.
    pub max_tokens: u32,
    /// Images attached to the prompt.
    pub images: &'a [Arc<Image>],
    /// Keep the received text on the record.
    pub want_text: bool,
}

/// Sends `ask` to model `m` and returns its record; None when the model's target has no
/// client.
pub async fn send(
    plan: &Plan,
    targets: &[ClientWithQuotas],
    clock: &Clock,
    m: usize,
    ask: Ask<'_>,
) -> Option<RequestRecord> {
    let model = &plan.models[m];
    let target = targets.get(model.target)?;
    let body = crate::engine::body::build(
        &plan.workload,
        &crate::engine::body::Request {
            model: &model.id,
            system: ask.system,
            history: &[],
            prompt: ask.prompt,
            max_tokens: ask.max_tokens,
            extra: &plan.targets[model.target].body,
            images: ask.images,
        },
    );
    let mut rec = RequestRecord::unsent(
        u64::MAX,
        model.id.clone(),
        Phase::Warmup,
        Outcome::Cancelled,
        0,
        0,
    );
    rec.want_text = ask.want_text;
    target.client.execute(clock, body, &mut rec).await;
    Some(rec)
}
