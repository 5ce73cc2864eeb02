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
    let to = To {
        workload: &plan.workload,
        model: &model.id,
        target: model.target,
    };
    send_to(plan, targets, clock, to, ask).await
}

/// Where a request goes: the model id sent, the target it is sent to (index into the plan's
/// targets, whose extra body fields are added), and the request shape.
pub struct To<'a> {
    /// The workload whose request shape the body takes (endpoint, stream, temperature, …).
    pub workload: &'a crate::config::plan::Workload,
    /// The model id sent.
    pub model: &'a str,
    /// Index into the plan's targets (and `targets`).
    pub target: usize,
}

/// Sends `ask` as model id `to.model` to target `to.target` (a model that need not be one of
/// the plan's) and returns its record; None when the target has no client.
pub async fn send_to(
    plan: &Plan,
    targets: &[ClientWithQuotas],
    clock: &Clock,
    to: To<'_>,
    ask: Ask<'_>,
) -> Option<RequestRecord> {
    let target = targets.get(to.target)?;
    let body = crate::engine::body::build(
        to.workload,
        &crate::engine::body::Request {
            model: to.model,
            system: ask.system,
            history: &[],
            prompt: ask.prompt,
            max_tokens: ask.max_tokens,
            extra: &plan.targets.get(to.target)?.body,
            images: ask.images,
        },
    );
    let mut rec = RequestRecord::unsent(
        u64::MAX,
        to.model.to_string(),
        Phase::Warmup,
        Outcome::Cancelled,
        0,
        0,
    );
    rec.want_text = ask.want_text;
    target.client.execute(clock, body, &mut rec).await;
    Some(rec)
}
