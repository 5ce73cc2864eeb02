//! The one work loop: paces arrivals (open loop) or keeps workers busy (closed loop), enforces
//! the in-flight cap and account quotas, sends requests, hands every finished record to the
//! collector and the records file, stops on its planned end or on a signal, then drains.
//!
//! Latency is measured from the intended send time: arrivals are never re-timed or skipped,
//! a full cap either queues (queue time) or drops (counted), and every arrival becomes exactly
//! one record. Nothing here renders progress; it only updates [`Live`] counters.

use std::io::Write;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use governor::{Quota, RateLimiter};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::plan::UNMATCHED_ROUTE;
use crate::config::plan::{OnFull, Plan, Shape, TraceItem};
use crate::config::scenario::GuardKind;
use crate::config::schedule::ShardPart;
use crate::config::schedule::{OpenLoop, Pacer};
use crate::config::tokens;
use crate::config::workload::{Draw, Item, Message, Prompt, PromptBody, PromptSource, Sampler};
use crate::core::record::{Outcome, Phase, RequestRecord, Tags, TokenSource};
use crate::engine::client::{Clock, TargetClient};
use crate::metrics::{Collector, GroupSpec, Window};
use crate::results::guard::GuardCounts;

type Limiter = RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    governor::clock::DefaultClock,
>;

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests sent.
    pub sent: AtomicU64,
    /// Requests ended ok.
    pub ok: AtomicU64,
    /// Requests ended in error.
    pub failed: AtomicU64,
    /// Arrivals dropped.
    pub dropped: AtomicU64,
    /// Requests in flight.
    pub in_flight: AtomicU64,
    /// The instant the run's clock starts (set once by [`run`]; one `Live` per run).
    pub origin: OnceLock<Instant>,
    /// Per-second figures of recently ended requests, fed by the collector task (not the
    /// request path) for the progress view's sliding window.
    pub recent: crate::metrics::recent::Recent,
}

/// How far a stop has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Running.
    Run,
    /// No new arrivals; queued ones are cancelled; in-flight ones may finish.
    Arrivals,
    /// Abandon in-flight requests now.
    All,
}

/// A target's client and quotas.
pub struct TargetRuntime {
    /// HTTP client.
    pub client: TargetClient,
    rpm: Option<Limiter>,
    tpm: Option<(Limiter, u32)>,
}

impl TargetRuntime {
    /// Wraps a client with the target's quotas (token buckets holding one second's worth,
    /// so a quota smooths traffic instead of allowing a minute-long burst).
    pub fn new(
        client: TargetClient,
        rpm: Option<f64>,
        tpm: Option<f64>,
        largest_request_tokens: u32,
    ) -> Self {
        let bucket = |per_min: f64, min_burst: u32| {
            let period = Duration::from_secs_f64(60.0 / per_min);
            let burst = ((per_min / 60.0).ceil() as u32).max(min_burst).max(1);
            let quota = Quota::with_period(period)
                .expect("a positive per-minute quota gives a non-zero period")
                .allow_burst(NonZeroU32::new(burst).expect("burst is at least 1"));
            (RateLimiter::direct(quota), burst)
        };
        TargetRuntime {
            client,
            rpm: rpm.map(|r| bucket(r, 1).0),
            tpm: tpm.map(|t| bucket(t, largest_request_tokens)),
        }
    }
}

/// A live judgement, called about once a second with the metrics so far and the time (µs since
/// start); a returned reason stops new arrivals, as an interrupt would, and is recorded.
pub type Judge = Box<dyn FnMut(&mut Collector, u64) -> Option<String> + Send>;

/// Options that are not part of the scenario.
pub struct RunOptions {
    /// After a stop signal, how long in-flight requests may finish.
    pub interrupt_grace: Duration,
    /// Delay between preparing and the first arrival (lets connections/tasks settle).
    pub lead: Duration,
    /// Threads whose CPU is not the generator's (an in-process mock server).
    pub exclude_tids: Vec<i32>,
    /// Stops the run early when it says so (claims marked `abort = true`).
    pub judge: Option<Judge>,
    /// This process's part of a sharded run (`index 0 of 1` for a whole run).
    pub shard: ShardPart,
    /// The agreed wall-clock instant of the schedule's origin (`--start-at`); without it the
    /// run starts `lead` from now.
    pub start_at: Option<SystemTime>,
    /// Keep what `llmload merge` needs (per-second TTFT histograms).
    pub keep_partial: bool,
}

/// What a run produced.
pub struct RunOutput {
    /// The folded metrics.
    pub collector: Collector,
    /// Whether a signal stopped it.
    pub interrupted: bool,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// Wall-clock end.
    pub finished_at: SystemTime,
    /// Records written to the JSONL file.
    pub records_written: u64,
    /// First error writing records, if any.
    pub records_error: Option<String>,
    /// Requests abandoned at the end of the drain period.
    pub abandoned: u64,
    /// The generator's own event-loop lag and CPU use.
    pub health: crate::results::health::Health,
    /// Why the judge stopped the run early, if it did.
    pub aborted: Option<String>,
    /// Context-window guard counts.
    pub guard: GuardCounts,
}

struct Shared {
    plan: Plan,
    targets: Vec<TargetRuntime>,
    sampler: Sampler,
    clock: Clock,
    window_end_us: Option<u64>,
    warmup_us: u64,
    sem: Arc<Semaphore>,
    part: ShardPart,
    live: Arc<Live>,
    stop: watch::Receiver<Stop>,
    outbox: OutboxSender,
    pending: AtomicUsize,
    idle: Notify,
    /// Per class, per listed prompt: its tokens (counted once, when needed).
    prompt_tokens: Vec<Vec<OnceLock<Option<u64>>>>,
    /// Per class: its system prompt's tokens.
    system_tokens: Vec<OnceLock<u64>>,
    abandoned: AtomicU64,
    guard: std::sync::Mutex<GuardCounts>,
}

impl Shared {
    fn phase(&self, t_sched_us: u64) -> Phase {
        if t_sched_us < self.warmup_us {
            Phase::Warmup
        } else if self.window_end_us.is_some_and(|e| t_sched_us >= e) {
            Phase::Cooldown
        } else {
            Phase::Measure
        }
    }

    fn emit(&self, model: usize, rec: RequestRecord) {
        self.outbox.0.push(model, rec);
    }
}

/// Finished records on their way to the collector. Request tasks append to a shared batch;
/// the collector takes the whole batch when it grows to [`OUTBOX_BATCH`] records, on each of
/// its ticks, and when the last sender is gone, so a record costs a push rather than a
/// message and a task wake-up of its own.
struct Outbox {
    batch: std::sync::Mutex<Vec<(usize, RequestRecord)>>,
    wake: Notify,
    /// Set (after their last push) when every sender is gone.
    closed: std::sync::atomic::AtomicBool,
}

/// Records gathered before the collector is woken for them.
const OUTBOX_BATCH: usize = 64;

impl Outbox {
    fn new() -> Arc<Outbox> {
        Arc::new(Outbox {
            batch: std::sync::Mutex::new(Vec::with_capacity(OUTBOX_BATCH)),
            wake: Notify::new(),
            closed: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn push(&self, model: usize, rec: RequestRecord) {
        let n = {
            let mut b = self.batch.lock().unwrap_or_else(|e| e.into_inner());
            b.push((model, rec));
            b.len()
        };
        if n == OUTBOX_BATCH {
            self.wake.notify_one();
        }
    }

    /// Swaps the pending records into `into` (which must be empty), keeping its allocation
    /// for the next batch.
    fn take(&self, into: &mut Vec<(usize, RequestRecord)>) {
        let mut b = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::swap(&mut *b, into);
    }
}

/// The senders' side of the [`Outbox`]: dropped with the last request task, it closes the
/// outbox and wakes the collector for the final batch.
struct OutboxSender(Arc<Outbox>);

impl Drop for OutboxSender {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }
}

/// Decrements the pending count when a request task ends, however it ends.
struct PendingGuard<'a>(&'a Shared);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.0.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

async fn wait_stop(mut rx: watch::Receiver<Stop>, at_least: Stop) {
    // An error means the sender is gone: treat as a full stop.
    let _ = rx.wait_for(|s| *s >= at_least).await;
}

/// A prompt ready to send: borrowed from the plan's lists or generated for this request.
enum PromptRef<'a> {
    Listed(&'a Prompt),
    Owned(Prompt),
}

impl PromptRef<'_> {
    fn get(&self) -> &Prompt {
        match self {
            PromptRef::Listed(p) => p,
            PromptRef::Owned(p) => p,
        }
    }
}

/// What an arrival resolves to before sending: its draw, prompt, model and route.
struct Resolved<'a> {
    draw: Draw,
    prompt: PromptRef<'a>,
    /// Exact prompt tokens, when known without tokenizing (synthetic prompts).
    exact_tokens: Option<u64>,
    model: usize,
    route: Option<u32>,
}

impl Shared {
    fn trace_item(&self, index: u64) -> Option<&TraceItem> {
        match &self.plan.load.shape {
            Shape::Trace(t) => t.entries.get(index as usize),
            _ => None,
        }
    }

    /// The draw of arrival `index`, with a trace's lengths and model applied.
    fn draw(&self, index: u64) -> Draw {
        let mut d = self.sampler.draw(index, &self.plan.workload.classes);
        if let Some(e) = self.trace_item(index) {
            d.item = Item::Synthetic {
                tokens: e.input_tokens,
                seed: index,
            };
            d.max_tokens = e.output_tokens;
            d.class = 0;
        }
        d
    }

    fn materialize(&self, class: usize, item: Item) -> (PromptRef<'_>, Option<u64>) {
        let c = &self.plan.workload.classes[class];
        match (item, &c.source) {
            (Item::Listed(i), PromptSource::List(ps)) => (PromptRef::Listed(&ps[i]), None),
            (Item::Synthetic { tokens, seed }, src) => {
                let synth = match (&self.plan.load.shape, src) {
                    (Shape::Trace(t), _) => &t.synth,
                    (_, PromptSource::Synthetic(s)) => s,
                    // A listed class never draws a synthetic item.
                    _ => return (PromptRef::Owned(Prompt::text("")), Some(0)),
                };
                let text = synth.text(tokens, mix_seed(self.plan.seed, class as u64, seed));
                (PromptRef::Owned(Prompt::text(text)), Some(tokens as u64))
            }
            (Item::Listed(_), PromptSource::Synthetic(_)) => {
                (PromptRef::Owned(Prompt::text("")), Some(0))
            }
        }
    }

    /// The model for a request: the trace's, the class's, the first matching route's, or the
    /// weighted draw.
    fn choose(
        &self,
        index: u64,
        class: usize,
        weighted: usize,
        chars: usize,
    ) -> (usize, Option<u32>) {
        if let Some(m) = self.trace_item(index).and_then(|e| e.model) {
            return (m, None);
        }
        let w = &self.plan.workload;
        if let Some(m) = w.classes[class].model {
            return (m, None);
        }
        if w.routes.is_empty() {
            return (weighted, None);
        }
        match w.routes.iter().position(|r| r.matches(class, chars)) {
            Some(i) => (w.routes[i].model, Some(i as u32)),
            None => (weighted, Some(u32::MAX)),
        }
    }

    fn resolve(&self, index: u64) -> Resolved<'_> {
        let draw = self.draw(index);
        let (prompt, exact_tokens) = self.materialize(draw.class, draw.item);
        let (model, route) =
            self.choose(index, draw.class, draw.weighted_model, prompt.get().chars);
        Resolved {
            draw,
            prompt,
            exact_tokens,
            model,
            route,
        }
    }

    /// A fresh record for one attempt, tagged with its groups.
    fn record(
        &self,
        index: u64,
        model: usize,
        class: usize,
        route: Option<u32>,
        t_sched_us: u64,
        t_dispatch_us: u64,
    ) -> RequestRecord {
        let mut rec = RequestRecord::unsent(
            index,
            self.plan.models[model].id.clone(),
            self.phase(t_sched_us),
            Outcome::Cancelled,
            t_sched_us,
            t_dispatch_us,
        );
        let w = &self.plan.workload;
        if w.named_classes {
            rec.class = Some(w.classes[class].name.clone());
        }
        rec.route = route.map(|r| {
            w.routes
                .get(r as usize)
                .map_or_else(|| UNMATCHED_ROUTE.to_string(), |x| x.name.clone())
        });
        rec.tags = Tags {
            class: class as u32,
            route,
        };
        rec
    }

    /// Tokens of the class's system prompt (counted once).
    async fn system_tokens(&self, class: usize) -> u64 {
        let cell = &self.system_tokens[class];
        if let Some(n) = cell.get() {
            return *n;
        }
        let text = self.plan.workload.classes[class]
            .system
            .clone()
            .unwrap_or_default();
        let n = tokio::task::spawn_blocking(move || tokens::count(&text).unwrap_or(0))
            .await
            .unwrap_or(0);
        *cell.get_or_init(|| n)
    }

    /// Tokens of a prompt with its class's system prompt: exact for synthetic prompts, the
    /// tokenizer (once per listed prompt) otherwise.
    async fn prompt_tokens(
        &self,
        class: usize,
        item: Item,
        prompt: &Prompt,
        exact: Option<u64>,
    ) -> Option<u64> {
        let sys = self.system_tokens(class).await;
        if let Some(n) = exact {
            return Some(n + sys);
        }
        let Item::Listed(i) = item else { return None };
        let cell = self.prompt_tokens.get(class)?.get(i)?;
        if let Some(n) = cell.get() {
            return n.map(|n| n + sys);
        }
        let text = prompt.joined_text();
        let n = tokio::task::spawn_blocking(move || tokens::count(&text))
            .await
            .ok()
            .flatten();
        cell.get_or_init(|| n).map(|n| n + sys)
    }
}

fn mix_seed(seed: u64, class: u64, item: u64) -> u64 {
    seed.rotate_left(17)
        ^ class.wrapping_mul(0xA24B_AED4_963E_E407)
        ^ item.wrapping_mul(0x9FB2_1C65_1E98_DF25)
}

/// How one request (one turn) ended, for the next turn of its session.
struct TurnEnd {
    ok: bool,
    text: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

/// One arrival: a single request, or a whole multi-turn session, each request possibly
/// moving along a fallback chain.
async fn request(
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
            let (p, exact) = sh.materialize(r.draw.class, item);
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
            want_text: turn + 1 < turns,
        };
        let end = chain(&sh, &job, model, route, t_sched, t_dispatch, &mut permit).await;
        drop(permit.take());
        let Some(end) = end else { return };
        if !end.ok || turn + 1 >= turns {
            return;
        }
        // The next turn carries this exchange.
        history.extend(match &prompt.body {
            PromptBody::Text(t) => vec![Message {
                role: "user".into(),
                content: t.clone(),
            }],
            PromptBody::Messages(ms) => ms.clone(),
        });
        history.push(Message {
            role: "assistant".into(),
            content: end.text.unwrap_or_default(),
        });
        history_tokens = match (end.input_tokens, end.output_tokens) {
            (Some(i), Some(o)) => Some(i + o),
            _ => None,
        };
        let think = sh.sampler.sample(
            index,
            turn,
            &sh.plan
                .workload
                .sessions
                .as_ref()
                .map_or(crate::core::dist::Dist::fixed(0.0), |s| s.think_ms.clone()),
        );
        t_sched = Instant::now() + Duration::from_secs_f64(think.max(0.0) / 1e3);
        tokio::select! {
            _ = tokio::time::sleep_until(t_sched) => {}
            _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => return,
        }
        t_dispatch = Instant::now();
    }
}

/// One request of an arrival, with what it needs to be sent.
struct Job<'a> {
    index: u64,
    turn: u32,
    class: usize,
    item: Item,
    max_tokens: u32,
    prompt: &'a Prompt,
    exact: Option<u64>,
    history: &'a [Message],
    /// Tokens of the history (the previous turn's input plus output), when known.
    history_tokens: Option<u64>,
    repeat: bool,
    want_text: bool,
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
        let sent = attempt_once(sh, job, model, &mut rec, permit).await;
        let next = sh
            .plan
            .workload
            .fallback
            .as_ref()
            .filter(|f| f.on.contains(&rec.outcome))
            .and_then(|f| f.next[model]);
        if let (true, Some(n)) = (sent, next) {
            if *sh.stop.borrow() < Stop::Arrivals {
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

/// One attempt, from its cap wait to its finished record (not yet emitted). False when it
/// was not sent (cancelled or skipped).
async fn attempt_once(
    sh: &Arc<Shared>,
    job: &Job<'_>,
    model_index: usize,
    rec: &mut RequestRecord,
    permit: &mut Option<OwnedSemaphorePermit>,
) -> bool {
    let clock = sh.clock;
    let cancel = |rec: &mut RequestRecord, why: &str| {
        rec.outcome = Outcome::Cancelled;
        rec.error = Some(why.into());
        rec.t_end_us = clock.us(Instant::now());
        false
    };
    if permit.is_none() {
        tokio::select! {
            p = sh.sem.clone().acquire_owned() => match p {
                Ok(p) => *permit = Some(p),
                Err(_) => return cancel(rec, "the run ended while waiting for an in-flight slot"),
            },
            _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => {
                return cancel(rec, "the run was stopped while waiting for an in-flight slot");
            }
        }
    }
    let model = &sh.plan.models[model_index];
    let class = &sh.plan.workload.classes[job.class];
    let target = &sh.targets[model.target];
    // Context-window guard: bytes bound the token count from above, so the tokenizer runs
    // only for prompts that might not fit.
    if let Some(window) = model.context_window {
        let bytes = class.system.as_ref().map_or(0, |s| s.len())
            + job.history.iter().map(|m| m.content.len()).sum::<usize>()
            + match &job.prompt.body {
                PromptBody::Text(t) => t.len(),
                PromptBody::Messages(ms) => ms.iter().map(|m| m.content.len()).sum(),
            };
        let bound = job.exact.map_or(bytes as u64, |e| {
            e + (bytes - job.prompt.chars.min(bytes)) as u64
        });
        if bound + job.max_tokens as u64 > window {
            let total = job_prompt_tokens(sh, job).await.unwrap_or(bytes as u64);
            if total + job.max_tokens as u64 > window {
                rec.over_context = true;
                sh.guard.lock().unwrap_or_else(|e| e.into_inner()).note(
                    &model.label,
                    &class.name,
                    total,
                    job.max_tokens,
                    window,
                    sh.plan.workload.context_guard == GuardKind::Skip,
                );
                if sh.plan.workload.context_guard == GuardKind::Skip {
                    rec.outcome = Outcome::Skipped;
                    rec.input_tokens = Some(total);
                    rec.input_tokens_source = Some(TokenSource::Tokenizer);
                    rec.error = Some(format!(
                        "prompt {total} + max_tokens {} tokens exceed the context window of {window}",
                        job.max_tokens
                    ));
                    rec.t_end_us = clock.us(Instant::now());
                    return false;
                }
            }
        }
    }
    if let Some(l) = &target.rpm {
        tokio::select! {
            _ = l.until_ready() => {}
            _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => return cancel(rec, "the run was stopped while waiting on requests_per_minute"),
        }
    }
    if let Some((l, burst)) = &target.tpm {
        let chars = class.system.as_ref().map_or(0, |s| s.chars().count())
            + job.prompt.chars
            + job
                .history
                .iter()
                .map(|m| m.content.chars().count())
                .sum::<usize>();
        let est = (chars as u64 / 4 + job.max_tokens as u64).clamp(1, *burst as u64) as u32;
        let n = NonZeroU32::new(est).expect("clamped to at least 1");
        tokio::select! {
            _ = l.until_n_ready(n) => {}
            _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => return cancel(rec, "the run was stopped while waiting on tokens_per_minute"),
        }
    }
    let body = crate::engine::body::build(
        &sh.plan.workload,
        &crate::engine::body::Request {
            model: &model.id,
            system: class.system.as_deref(),
            history: job.history,
            prompt: &job.prompt.body,
            max_tokens: job.max_tokens,
            extra: &sh.plan.targets[model.target].body,
        },
    );
    let t_send = Instant::now();
    rec.t_send_us = Some(clock.us(t_send));
    sh.live.sent.fetch_add(1, Ordering::Relaxed);
    sh.live.in_flight.fetch_add(1, Ordering::Relaxed);
    let finished = tokio::select! {
        _ = target.client.execute(&clock, body, rec) => true,
        _ = wait_stop(sh.stop.clone(), Stop::All) => false,
    };
    sh.live.in_flight.fetch_sub(1, Ordering::Relaxed);
    if !finished {
        sh.abandoned.fetch_add(1, Ordering::Relaxed);
        rec.outcome = Outcome::Abandoned;
        rec.error = Some("abandoned in flight when the run stopped".into());
        rec.t_end_us = clock.us(Instant::now());
    }
    crate::engine::client::count_output_offline(rec).await;
    // Count the prompt offline only for requests a provider would bill (some output came);
    // a refused request has no input cost to estimate.
    if rec.input_tokens.is_none() && (rec.outcome == Outcome::Ok || rec.output_events > 0) {
        if let Some(n) = job_prompt_tokens(sh, job).await {
            rec.input_tokens = Some(n);
            rec.input_tokens_source = Some(TokenSource::Tokenizer);
        }
    }
    if rec.outcome == Outcome::Ok {
        sh.live.ok.fetch_add(1, Ordering::Relaxed);
    } else {
        sh.live.failed.fetch_add(1, Ordering::Relaxed);
    }
    true
}

/// Tokens of a request's whole prompt: its class's system prompt and its own prompt; for a
/// later session turn, the previous turn's input plus output (which already hold the system
/// prompt) plus the new message. None when a count is not known.
async fn job_prompt_tokens(sh: &Shared, job: &Job<'_>) -> Option<u64> {
    let own = sh
        .prompt_tokens(job.class, job.item, job.prompt, job.exact)
        .await?;
    if job.turn == 0 {
        return Some(own);
    }
    let history = job.history_tokens?;
    Some(history + own.saturating_sub(sh.system_tokens(job.class).await))
}

/// Writes records as JSON lines; a write error stops writing but never the run.
struct RecordsWriter {
    out: Option<std::fs::File>,
    /// Lines not yet written to `out`.
    buf: Vec<u8>,
    written: u64,
    error: Option<String>,
}

/// Bytes of records gathered before they are written out.
const RECORDS_BUF: usize = 64 * 1024;

impl RecordsWriter {
    fn new(out: Option<std::fs::File>) -> Self {
        RecordsWriter {
            buf: Vec::with_capacity(if out.is_some() { RECORDS_BUF } else { 0 }),
            out,
            written: 0,
            error: None,
        }
    }

    fn write(&mut self, r: &RequestRecord) {
        if self.out.is_none() {
            return;
        }
        r.write_jsonl(&mut self.buf);
        self.written += 1;
        if self.buf.len() >= RECORDS_BUF {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.write_all(&self.buf) {
                self.error = Some(e.to_string());
                self.out = None;
            }
        }
        self.buf.clear();
    }
}

/// Runs a plan to its end (or until `stop` says so) and returns the folded metrics.
pub async fn run(
    plan: Plan,
    targets: Vec<TargetRuntime>,
    records: Option<std::fs::File>,
    live: Arc<Live>,
    stop: watch::Receiver<Stop>,
    opts: RunOptions,
) -> RunOutput {
    // The schedule's origin: the agreed instant when there is one (even if it has just
    // passed: overdue arrivals then go at once and show as schedule lag), else `lead` from now.
    let (now_i, now_w) = (Instant::now(), SystemTime::now());
    let (start, started_at) = match opts.start_at {
        Some(at) => match at.duration_since(now_w) {
            Ok(ahead) => (now_i + ahead, at),
            Err(e) => (now_i.checked_sub(e.duration()).unwrap_or(now_i), at),
        },
        None => (now_i + opts.lead, now_w + opts.lead),
    };
    let _ = live.origin.set(start);
    let part = opts.shard;
    // Request tasks watch an internal channel: it follows the caller's stops, and the runner
    // itself escalates to `All` when the drain period runs out.
    let internal = Arc::new(watch::channel(Stop::Run).0);
    let forward = {
        let internal = internal.clone();
        let mut ext = stop.clone();
        tokio::spawn(async move {
            loop {
                let v = *ext.borrow_and_update();
                internal.send_if_modified(|cur| {
                    if v > *cur {
                        *cur = v;
                        true
                    } else {
                        false
                    }
                });
                if ext.changed().await.is_err() {
                    return;
                }
            }
        })
    };
    let clock = Clock { start };
    let warmup_us = plan.load.warmup.as_micros() as u64;
    let window_end_us = plan
        .load
        .duration
        .map(|d| (plan.load.warmup + d).as_micros() as u64);
    let hold_us = plan
        .targets
        .iter()
        .map(|t| t.timeouts.total.as_micros() as u64)
        .max()
        .unwrap_or(0);
    let mut collector = Collector::new(
        plan.models.len(),
        Window {
            start_us: warmup_us,
            end_us: window_end_us,
        },
        plan.models.iter().map(|m| m.slo).collect(),
        hold_us,
    );
    collector.set_groups(group_spec(&plan));
    if opts.keep_partial {
        collector.keep_second_hists();
    }
    let outbox = Outbox::new();
    let weights: Vec<f64> = plan.models.iter().map(|m| m.weight).collect();
    let sampler = Sampler::new(
        plan.seed,
        &weights,
        &plan.workload.class_weights,
        plan.workload.repeat_ratio,
        plan.workload.sessions.as_ref().map(|s| s.turns.clone()),
    );
    let sh = Arc::new(Shared {
        sampler,
        clock,
        window_end_us,
        warmup_us,
        sem: Arc::new(Semaphore::new(
            part.share(plan.load.max_in_flight).max(1) as usize
        )),
        part,
        live: live.clone(),
        stop: internal.subscribe(),
        outbox: OutboxSender(outbox.clone()),
        pending: AtomicUsize::new(0),
        idle: Notify::new(),
        prompt_tokens: plan
            .workload
            .classes
            .iter()
            .map(|c| match &c.source {
                PromptSource::List(ps) => (0..ps.len()).map(|_| OnceLock::new()).collect(),
                PromptSource::Synthetic(_) => Vec::new(),
            })
            .collect(),
        system_tokens: plan
            .workload
            .classes
            .iter()
            .map(|_| OnceLock::new())
            .collect(),
        abandoned: AtomicU64::new(0),
        guard: std::sync::Mutex::new(GuardCounts::default()),
        targets,
        plan,
    });

    let monitor = crate::engine::monitor::Monitor::start(clock.start, opts.exclude_tids.clone());
    let mut writer = RecordsWriter::new(records);
    let live_c = live.clone();
    let mut judge = opts.judge;
    let stopper = internal.clone();
    let collect = tokio::spawn(async move {
        let mut aborted: Option<String> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut flushed = Instant::now();
        let mut batch: Vec<(usize, RequestRecord)> = Vec::with_capacity(OUTBOX_BATCH);
        let mut drain = |collector: &mut Collector, writer: &mut RecordsWriter| {
            outbox.take(&mut batch);
            for (m, r) in batch.drain(..) {
                live_c.recent.add(&r);
                collector.add(m, &r);
                writer.write(&r);
            }
        };
        loop {
            tokio::select! {
                _ = outbox.wake.notified() => {
                    // Read before taking the batch: once closed, no record can follow.
                    let closed = outbox.closed.load(Ordering::Acquire);
                    drain(&mut collector, &mut writer);
                    if closed {
                        break;
                    }
                }
                _ = tick.tick() => {
                    // The live view (in-flight samples, the judge) sees every record so far.
                    drain(&mut collector, &mut writer);
                    let now = Instant::now();
                    collector.sample_in_flight(clock.us(now), live_c.in_flight.load(Ordering::Relaxed));
                    if now.duration_since(flushed) >= Duration::from_secs(1) {
                        writer.flush();
                        flushed = now;
                        if aborted.is_none() {
                            if let Some(j) = judge.as_mut() {
                                if let Some(why) = j(&mut collector, clock.us(now)) {
                                    aborted = Some(why);
                                    stopper.send_if_modified(|s| {
                                        let raise = *s < Stop::Arrivals;
                                        if raise {
                                            *s = Stop::Arrivals;
                                        }
                                        raise
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        writer.flush();
        (collector, writer, aborted)
    });

    let send_end = match arrivals(&sh.plan, part) {
        Some(mine) => open_loop(&sh, mine).await,
        None => closed_loop(&sh).await,
    };
    let interrupted = *stop.borrow() >= Stop::Arrivals;

    // Drain: in-flight requests may finish within the drain timeout (or the interrupt grace).
    let grace = if interrupted {
        opts.interrupt_grace.min(sh.plan.load.drain_timeout)
    } else {
        sh.plan.load.drain_timeout
    };
    let drained = tokio::time::timeout(grace, wait_idle(&sh)).await.is_ok();
    if !drained {
        // Abandon what is still in flight; each task records itself as cancelled.
        internal.send_replace(Stop::All);
        let _ = tokio::time::timeout(Duration::from_secs(5), wait_idle(&sh)).await;
    }
    forward.abort();
    let health = monitor.finish().await;
    let abandoned = sh.abandoned.load(Ordering::Relaxed);
    let guard = sh.guard.lock().unwrap_or_else(|e| e.into_inner()).clone();
    drop(sh);
    let (mut collector, writer, aborted) = match collect.await {
        Ok(v) => v,
        // The collector only folds numbers; a panic there is a bug, and re-raising it keeps
        // its message instead of writing a silently incomplete result.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    if window_end_us.is_none() || interrupted || aborted.is_some() {
        let end = window_end_us.map_or(send_end.max(collector.last_end_us), |e| e.min(send_end));
        collector.set_window_end(end);
    }
    collector.finish();
    RunOutput {
        collector,
        interrupted,
        started_at,
        finished_at: SystemTime::now(),
        records_written: writer.written,
        records_error: writer.error,
        abandoned,
        health,
        aborted,
        guard,
    }
}

/// The `(global index, offset from the start)` arrivals shard `part` sends, for an open-loop or
/// trace plan (None for a closed loop): the global schedule from the scenario and seed, cut by
/// the run's `requests` and duration limits, then striped — arrival `i` is shard `i mod N`'s —
/// so the shards' arrivals are exactly the unsharded ones.
///
/// # Panics
/// If `part.index >= part.count` (callers validate `--shard`).
pub fn arrivals(
    plan: &Plan,
    part: ShardPart,
) -> Option<Box<dyn Iterator<Item = (u64, Duration)> + Send>> {
    match &plan.load.shape {
        Shape::Open { arrival, profile } => {
            let ol = OpenLoop {
                arrival: *arrival,
                profile: profile.clone(),
                seed: plan.seed,
                max_arrivals: plan.load.requests,
            };
            Some(Box::new(crate::config::schedule::shard(
                ol.offsets(),
                part.index as u64,
                part.count as u64,
            )))
        }
        Shape::Trace(t) => {
            let t = t.clone();
            let end = plan.load.send_end();
            let n = plan.load.requests.unwrap_or(u64::MAX);
            Some(Box::new(
                (0..t.entries.len())
                    .map(move |i| (i as u64, t.entries[i].t))
                    .take(n.min(usize::MAX as u64) as usize)
                    .take_while(move |(_, at)| end.is_none_or(|end| *at < end))
                    .filter(move |(i, _)| part.owns(*i)),
            ))
        }
        Shape::Closed { .. } => None,
    }
}

/// Turn slots kept for a session breakdown; later turns fold into the last slot.
const MAX_TURN_SLOTS: usize = 32;

/// The breakdowns a plan asks for.
pub fn group_spec(plan: &Plan) -> GroupSpec {
    let w = &plan.workload;
    GroupSpec {
        classes: if w.named_classes { w.classes.len() } else { 0 },
        turns: w.sessions.as_ref().map_or(0, |s| {
            let most = s.turns.upper_bound().unwrap_or(4.0 * s.turns.mean());
            (most.ceil() as usize).clamp(1, MAX_TURN_SLOTS)
        }),
        cache: w.repeat_ratio > 0.0,
        routes: w.routes.len(),
        fallback: w.fallback.is_some(),
        prices: plan.models.iter().map(|m| m.price).collect(),
        user_slo: plan.slo,
    }
}

async fn wait_idle(sh: &Shared) {
    loop {
        let notified = sh.idle.notified();
        if sh.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        notified.await;
    }
}

/// Returns when sending stopped, in µs since start.
async fn open_loop(sh: &Arc<Shared>, arrivals: impl Iterator<Item = (u64, Duration)>) -> u64 {
    let mut pacer = Pacer::new(sh.clock.start, arrivals);
    let drop_on_full = sh.plan.load.on_full == OnFull::Drop;
    loop {
        let tick = tokio::select! {
            biased;
            _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => break,
            t = pacer.next() => match t {
                Some(t) => t,
                None => break,
            },
        };
        let t_dispatch = Instant::now();
        let permit = if drop_on_full {
            match sh.sem.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    let r = sh.resolve(tick.index);
                    let mut rec = sh.record(
                        tick.index,
                        r.model,
                        r.draw.class,
                        r.route,
                        sh.clock.us(tick.intended),
                        sh.clock.us(t_dispatch),
                    );
                    rec.outcome = Outcome::Dropped;
                    rec.repeat = r.draw.repeat;
                    let model = r.model;
                    rec.error = Some(format!(
                        "max_in_flight = {} was full",
                        sh.plan.load.max_in_flight
                    ));
                    sh.live.dropped.fetch_add(1, Ordering::Relaxed);
                    sh.emit(model, rec);
                    continue;
                }
            }
        } else {
            None
        };
        sh.pending.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(request(
            sh.clone(),
            tick.index,
            tick.intended,
            t_dispatch,
            permit,
        ));
    }
    sh.clock.us(Instant::now())
}

async fn closed_loop(sh: &Arc<Shared>) -> u64 {
    let Shape::Closed { profile } = &sh.plan.load.shape else {
        return 0;
    };
    // This shard's workers: its share of the profile's highest concurrency (at each moment
    // it runs its share of the profile's concurrency then).
    let workers = sh.part.share(profile.max());
    let send_end = profile.total_duration().map(|d| sh.clock.start + d);
    let next = Arc::new(AtomicU64::new(0));
    // Workers are detached: when the profile ends, sending stops here while requests still in
    // flight go on into the drain (tracked by `pending`), however long they are.
    let alive = Arc::new((AtomicUsize::new(workers as usize), Notify::new()));
    for w in 0..workers {
        let sh = sh.clone();
        let next = next.clone();
        let alive = alive.clone();
        tokio::spawn(async move {
            closed_worker(&sh, w, &next).await;
            if alive.0.fetch_sub(1, Ordering::AcqRel) == 1 {
                alive.1.notify_waiters();
            }
        });
    }
    let all_done = async {
        loop {
            let notified = alive.1.notified();
            if alive.0.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    };
    tokio::select! {
        _ = all_done => {}
        _ = async {
            match send_end {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        } => {}
        _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => {}
    }
    sh.clock.us(Instant::now())
}

/// One closed-loop worker: sends its next request when the last one ends, while the profile
/// gives it a slot.
async fn closed_worker(sh: &Arc<Shared>, w: u32, next: &AtomicU64) {
    let profile = match &sh.plan.load.shape {
        Shape::Closed { profile } => profile.clone(),
        Shape::Open { .. } | Shape::Trace(_) => return,
    };
    loop {
        if *sh.stop.borrow() >= Stop::Arrivals {
            return;
        }
        let now = Instant::now();
        if now < sh.clock.start {
            tokio::time::sleep_until(sh.clock.start).await;
            continue;
        }
        let elapsed = now.saturating_duration_since(sh.clock.start);
        match profile.at(elapsed) {
            None => return,
            Some(c) if w >= sh.part.share(c) => {
                let Some(wake) = profile
                    .next_change_after(elapsed)
                    .map(|t| sh.clock.start + t)
                else {
                    return;
                };
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => continue,
                    _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => return,
                }
            }
            Some(_) => {}
        }
        // The k-th request of shard i of N is global request k·N + i, so the shards' requests
        // interleave into one sequence of prompts and a `requests` limit stays global.
        let k = next.fetch_add(1, Ordering::Relaxed);
        let index = k * sh.part.count as u64 + sh.part.index as u64;
        if sh.plan.load.requests.is_some_and(|r| index >= r) {
            return;
        }
        sh.pending.fetch_add(1, Ordering::AcqRel);
        request(sh.clone(), index, now, now, None).await;
    }
}
