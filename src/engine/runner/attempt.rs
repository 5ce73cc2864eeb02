//! One arrival from resolution to its last record: a single request or a multi-turn session
//! (each turn carrying the previous exchanges), each request moving along its fallback chain
//! when an attempt fails in a listed way, each attempt waiting for its in-flight slot, the
//! context-window guard and the quotas before it is sent.
//!
//! Every attempt becomes exactly one record, emitted to the collector; a stop turns a waiting
//! attempt into `cancelled` and an in-flight one (after the drain) into `abandoned`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::config::plan::Fallback;
use crate::config::scenario::EndpointKind;
use crate::config::workload::{Item, Message, Prompt, PromptBody};
use crate::core::record::{Outcome, RequestRecord, TokenSource};

use super::guard::{self, job_prompt_tokens};
use super::{wait_stop, PendingGuard, Shared, Stop};

/// How one request (one turn) ended, for the next turn of its session.
struct TurnEnd {
    ok: bool,
    text: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

/// One arrival: a single request, or a whole multi-turn session, each request possibly
/// moving along a fallback chain.
pub(super) async fn request(
    sh: Arc<Shared>,
    index: u64,
    t_sched: Instant,
    t_dispatch: Instant,
    permit: Option<OwnedSemaphorePermit>,
) {
    let _guard = PendingGuard(&sh);
    let r = sh.resolve(index);
    let w = &sh.plan.workload;
    let class = &w.classes[r.draw.class];
    let turns = r.draw.turns.max(1);
    let mut permit = permit;
    let mut t_sched = t_sched;
    let mut t_dispatch = t_dispatch;
    let mut history: Vec<Message> = Vec::new();
    let mut history_tokens: Option<u64> = Some(0);
    let mut owned;
    for turn in 0..turns {
        let (item, max_tokens, prompt, exact, model, route) = if turn == 0 {
            (
                r.draw.item,
                r.draw.max_tokens,
                r.prompt.get(),
                r.exact_tokens,
                r.model,
                r.route,
            )
        } else {
            let (item, max_tokens) = sh.sampler.turn(index, turn, class);
            let (p, exact) = sh.materialize(r.draw.class, item, None);
            owned = p;
            let p = owned.get();
            let (model, route) = sh.choose(index, r.draw.class, r.draw.weighted_model, p.chars);
            (item, max_tokens, p, exact, model, route)
        };
        let job = Job {
            index,
            turn,
            class: r.draw.class,
            item,
            max_tokens,
            prompt,
            exact,
            history: &history,
            history_tokens,
            repeat: r.draw.repeat,
            want_text: turn + 1 < turns || r.golden.is_some(),
            golden: r.golden,
        };
        let end = chain(&sh, &job, model, route, t_sched, t_dispatch, &mut permit).await;
        drop(permit.take());
        let Some(end) = end else { return };
        if !end.ok || turn + 1 >= turns {
            return;
        }
        // The next turn carries this exchange.
        carry_turn(&mut history, prompt, end.text);
        history_tokens = match (end.input_tokens, end.output_tokens) {
            (Some(i), Some(o)) => Some(i + o),
            _ => None,
        };
        t_sched = Instant::now() + think_time(&sh, index, turn);
        tokio::select! {
            _ = tokio::time::sleep_until(t_sched) => {}
            _ = wait_stop(sh.stop.clone(), Stop::NoNewArrivals) => return,
        }
        t_dispatch = Instant::now();
    }
}

/// Appends one finished exchange (the prompt sent, the answer received) to a session's
/// history.
fn carry_turn(history: &mut Vec<Message>, prompt: &Prompt, answer: Option<String>) {
    history.extend(match &prompt.body {
        PromptBody::Text(t) => vec![Message {
            role: "user".into(),
            content: t.clone(),
        }],
        PromptBody::Messages(ms) => ms.clone(),
    });
    history.push(Message {
        role: "assistant".into(),
        content: answer.unwrap_or_default(),
    });
}

/// The user's think time after `turn` of session `index` (never negative).
fn think_time(sh: &Shared, index: u64, turn: u32) -> Duration {
    let think = sh.sampler.sample(
        index,
        turn,
        &sh.plan
            .workload
            .sessions
            .as_ref()
            .map_or(crate::core::dist::Dist::fixed(0.0), |s| s.think_ms.clone()),
    );
    Duration::from_secs_f64(think.max(0.0) / 1e3)
}

/// One request of an arrival, with what it needs to be sent.
pub(super) struct Job<'a> {
    pub(super) index: u64,
    pub(super) turn: u32,
    pub(super) class: usize,
    pub(super) item: Item,
    pub(super) max_tokens: u32,
    pub(super) prompt: &'a Prompt,
    pub(super) exact: Option<u64>,
    pub(super) history: &'a [Message],
    /// Tokens of the history (the previous turn's input plus output), when known.
    pub(super) history_tokens: Option<u64>,
    pub(super) repeat: bool,
    pub(super) want_text: bool,
    /// The golden line this request asks (`[quality] mix`).
    pub(super) golden: Option<usize>,
}

/// Sends a request on its model and, when fallback chains are set and the attempt fails in
/// a listed way, on the next model of the chain. None when the run stopped it.
async fn chain(
    sh: &Arc<Shared>,
    job: &Job<'_>,
    first_model: usize,
    route: Option<u32>,
    t_sched: Instant,
    t_dispatch: Instant,
    permit: &mut Option<OwnedSemaphorePermit>,
) -> Option<TurnEnd> {
    let clock = sh.clock;
    let user_sched_us = clock.us(t_sched);
    let mut model = first_model;
    let mut attempt = 0u32;
    let (mut t_sched, mut t_dispatch) = (t_sched, t_dispatch);
    loop {
        let mut rec = sh.record(
            job.index,
            model,
            job.class,
            route,
            clock.us(t_sched),
            clock.us(t_dispatch),
        );
        rec.turn = job.turn;
        rec.attempt = attempt;
        rec.repeat = job.repeat;
        rec.want_text = job.want_text;
        if attempt > 0 {
            rec.t_user_sched_us = Some(user_sched_us);
        }
        if let Some(line) = job.golden {
            rec.golden = sh.golden_id(line);
        }
        let sent = attempt_once(sh, job, model, &mut rec, permit).await;
        if let Some(line) = job.golden {
            sh.keep_golden((line, job.index), model, sent, &mut rec);
        }
        let next = next_model(sh.plan.workload.fallback.as_ref(), rec.outcome, model);
        if let (true, Some(n)) = (sent, next) {
            if *sh.stop.borrow() < Stop::NoNewArrivals {
                rec.fell_back = true;
                sh.emit(model, rec);
                model = n;
                attempt += 1;
                t_sched = Instant::now();
                t_dispatch = t_sched;
                continue;
            }
        }
        let end = TurnEnd {
            ok: rec.outcome == Outcome::Ok,
            text: rec.output_text.take(),
            input_tokens: rec.input_tokens,
            output_tokens: rec.output_tokens,
        };
        let stopped = matches!(rec.outcome, Outcome::Cancelled | Outcome::Abandoned);
        sh.emit(model, rec);
        return (!stopped).then_some(end);
    }
}

/// The model a failed attempt on `model` moves on to: the next of its chain when the outcome
/// is one the chains fall back on; None without chains, at a chain's end, or for any other
/// outcome.
#[inline]
fn next_model(fallback: Option<&Fallback>, outcome: Outcome, model: usize) -> Option<usize> {
    fallback
        .filter(|f| f.on.contains(&outcome))
        .and_then(|f| f.next[model])
}

/// One attempt, from its cap wait to its finished record (not yet emitted). False when it
/// was not sent (cancelled or skipped).
async fn attempt_once(
    sh: &Arc<Shared>,
    job: &Job<'_>,
    model_index: usize,
    rec: &mut RequestRecord,
    permit: &mut Option<OwnedSemaphorePermit>,
) -> bool {
    if permit.is_none() {
        tokio::select! {
            p = sh.sem.clone().acquire_owned() => match p {
                Ok(p) => *permit = Some(p),
                Err(_) => return cancel(sh, rec, "the run ended while waiting for an in-flight slot"),
            },
            _ = wait_stop(sh.stop.clone(), Stop::NoNewArrivals) => {
                return cancel(sh, rec, "the run was stopped while waiting for an in-flight slot");
            }
        }
    }
    let model = &sh.plan.models[model_index];
    let class = &sh.plan.workload.classes[job.class];
    let target = &sh.targets[model.target];
    if !guard::admit(sh, job, model_index, class, rec).await {
        return false;
    }
    let inputs = sh.plan.workload.batch_size.max(1) as usize;
    if sh.plan.workload.endpoint == EndpointKind::Embeddings {
        rec.inputs = inputs as u32;
    }
    // A golden request carries its line's prompt alone: no system prompt, no synthetic images.
    let golden = job.golden.is_some();
    let images = request_images(&sh.plan.workload, &job.prompt.images, !golden, rec);
    let est_chars = || {
        class.system.as_ref().map_or(0, |s| s.chars().count())
            + job.prompt.chars * inputs
            + job
                .history
                .iter()
                .map(|m| m.content.chars().count())
                .sum::<usize>()
    };
    if let Err(why) = target.admit(&sh.stop, est_chars, job.max_tokens).await {
        return cancel(sh, rec, why);
    }
    let body = crate::engine::body::build(
        &sh.plan.workload,
        &crate::engine::body::Request {
            model: &model.id,
            system: if golden {
                None
            } else {
                class.system.as_deref()
            },
            history: job.history,
            prompt: &job.prompt.body,
            max_tokens: job.max_tokens,
            extra: &sh.plan.targets[model.target].body,
            images,
        },
    );
    send(sh, target, body, rec).await;
    finish(sh, job, model_index, rec).await;
    true
}

/// The images a chat request carries: its prompt's own, else (with `synthetic`) the
/// workload's synthetic ones (none for other endpoints). Their count and encoded size go on
/// the record.
#[inline]
fn request_images<'a>(
    w: &'a crate::config::plan::Workload,
    own: &'a [std::sync::Arc<crate::config::images::Image>],
    synthetic: bool,
    rec: &mut RequestRecord,
) -> &'a [std::sync::Arc<crate::config::images::Image>] {
    if w.endpoint != EndpointKind::Chat {
        return &[];
    }
    let images = if own.is_empty() && synthetic {
        &w.images[..]
    } else {
        own
    };
    if !images.is_empty() {
        rec.images = images.len() as u32;
        rec.image_bytes = images.iter().map(|i| i.bytes).sum();
    }
    images
}

/// Marks an attempt that was never sent because the run stopped (or ended) first.
#[inline]
fn cancel(sh: &Shared, rec: &mut RequestRecord, why: &str) -> bool {
    rec.outcome = Outcome::Cancelled;
    rec.error = Some(why.into());
    rec.t_end_us = sh.clock.us(Instant::now());
    false
}

/// Sends the request and waits for its end, or abandons it on a full stop.
#[inline]
async fn send(
    sh: &Shared,
    target: &super::ClientWithQuotas,
    body: bytes::Bytes,
    rec: &mut RequestRecord,
) {
    let clock = sh.clock;
    let t_send = Instant::now();
    rec.t_send_us = Some(clock.us(t_send));
    sh.live.sent.fetch_add(1, Ordering::Relaxed);
    sh.live.in_flight.fetch_add(1, Ordering::Relaxed);
    let finished = tokio::select! {
        _ = target.client.execute(&clock, body, rec) => true,
        _ = wait_stop(sh.stop.clone(), Stop::AbandonInFlight) => false,
    };
    sh.live.in_flight.fetch_sub(1, Ordering::Relaxed);
    if !finished {
        sh.abandoned.fetch_add(1, Ordering::Relaxed);
        rec.outcome = Outcome::Abandoned;
        rec.error = Some("abandoned in flight when the run stopped".into());
        rec.t_end_us = clock.us(Instant::now());
    }
}

/// After a sent attempt: offline token counts the server did not give, and the live counts.
#[inline]
async fn finish(sh: &Shared, job: &Job<'_>, model: usize, rec: &mut RequestRecord) {
    if let Some(m) = sh.plan.models.get(model) {
        crate::engine::client::count_output_offline(rec, &m.tokenizer).await;
    }
    // Count the prompt offline only for requests a provider would bill (some output came);
    // a refused request has no input cost to estimate.
    if rec.input_tokens.is_none() && (rec.outcome == Outcome::Ok || rec.output_events > 0) {
        if let Some(n) = job_prompt_tokens(sh, job, model).await {
            // An embeddings batch carries the prompt once per input.
            rec.input_tokens = Some(n * rec.inputs.max(1) as u64);
            rec.input_tokens_source = Some(TokenSource::Tokenizer);
        }
    }
    if rec.outcome == Outcome::Ok {
        sh.live.ok.fetch_add(1, Ordering::Relaxed);
    } else {
        sh.live.failed.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::plan;
    use super::*;

    fn chained(on: &str) -> String {
        format!(
            r#"
[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "a"
target = "sim"

[[models]]
id = "b"
target = "sim"

[[models]]
id = "c"
target = "sim"

[[models]]
id = "lone"
target = "sim"

[workload]
prompts = ["hi"]
max_tokens = 8

[fallback]
chains = [["a", "b", "c"]]
{on}

[load]
rate = "5/s"
duration = "2s"
"#
        )
    }

    #[test]
    fn the_default_chain_falls_back_on_rate_limits_server_errors_and_timeouts_only() {
        let p = plan(&chained(""));
        let f = p.workload.fallback.as_ref();
        let moves = [
            Outcome::RateLimited,
            Outcome::Http5xx,
            Outcome::TimeoutHeaders,
            Outcome::TimeoutFirstToken,
            Outcome::TimeoutIdle,
            Outcome::TimeoutTotal,
        ];
        for o in Outcome::ALL {
            let expect = moves.contains(&o).then_some(1);
            assert_eq!(next_model(f, o, 0), expect, "{o:?} on the first model");
        }
        // Along the chain, and not past its end or from a model outside it.
        assert_eq!(next_model(f, Outcome::Http5xx, 1), Some(2));
        assert_eq!(next_model(f, Outcome::Http5xx, 2), None);
        assert_eq!(next_model(f, Outcome::Http5xx, 3), None);
    }

    #[test]
    fn a_listed_outcome_class_is_the_only_trigger() {
        let p = plan(&chained(r#"on = ["connection", "http_4xx"]"#));
        let f = p.workload.fallback.as_ref();
        for o in [
            Outcome::Connect,
            Outcome::Tls,
            Outcome::StreamCut,
            Outcome::Incomplete,
            Outcome::Http4xx,
        ] {
            assert_eq!(next_model(f, o, 0), Some(1), "{o:?}");
        }
        for o in [Outcome::RateLimited, Outcome::Http5xx, Outcome::Ok] {
            assert_eq!(next_model(f, o, 0), None, "{o:?}");
        }
    }

    #[test]
    fn a_session_turn_carries_the_prompt_and_the_answer() {
        let mut history = Vec::new();
        carry_turn(
            &mut history,
            &Prompt::text("first question"),
            Some("answer".into()),
        );
        let msgs = Prompt {
            body: PromptBody::Messages(vec![
                Message {
                    role: "system".into(),
                    content: "be brief".into(),
                },
                Message {
                    role: "user".into(),
                    content: "second".into(),
                },
            ]),
            max_tokens: None,
            chars: 14,
            images: Vec::new(),
        };
        // A turn whose answer text is missing still leaves its (empty) place.
        carry_turn(&mut history, &msgs, None);
        let got: Vec<(&str, &str)> = history
            .iter()
            .map(|m| (m.role.as_str(), m.content.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("user", "first question"),
                ("assistant", "answer"),
                ("system", "be brief"),
                ("user", "second"),
                ("assistant", ""),
            ]
        );
    }
}
