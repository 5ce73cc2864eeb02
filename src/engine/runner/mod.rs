//! The one work loop: paces arrivals (open loop) or keeps workers busy (closed loop), enforces
//! the in-flight cap and account quotas, sends requests, hands every finished record to the
//! collector and the records file, stops on its planned end or on a signal, then drains.
//!
//! Latency is measured from the intended send time: arrivals are never re-timed or skipped,
//! a full cap either queues (queue time) or drops (counted), and every arrival becomes exactly
//! one record. Nothing here renders progress; it only updates [`Live`] counters.
//!
//! The parts, each in its own file:
//!
//! - `pacing`: when arrivals go (open loop, trace, closed-loop workers) and the shards' stripes;
//! - `route`: what an arrival resolves to (draw, prompt, model by routing rule, record skeleton);
//! - `attempt`: one arrival's requests — session turns, fallback chains, one attempt's waits,
//!   sending and its end;
//! - `guard`: the context-window check and the prompt token counts;
//! - `quota`: account quotas (requests and tokens per minute);
//! - `golden`: golden requests mixed into the load (`[quality] mix`) and their answers;
//! - `collect`: the collector task (metrics, records file, live judge);
//! - `records`: the JSONL records writer.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::plan::Plan;
use crate::config::schedule::ShardPart;
use crate::config::tokenizer::Tokenizer;
use crate::config::workload::{PromptSource, Sampler};
use crate::core::record::{Phase, RequestRecord};
use crate::engine::client::Clock;
use crate::metrics::{Collector, GroupSpec, Window};
use crate::results::guard::GuardCounts;

mod attempt;
mod collect;
mod golden;
mod guard;
mod pacing;
mod quota;
mod records;
mod route;

pub use golden::{GoldenReply, Pick};
pub use pacing::arrivals;
pub use quota::ClientWithQuotas;

use collect::{CollectorTask, Outbox, OutboxSender};
use records::RecordsWriter;

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
    /// The live metrics a `--metrics-addr` scrape reads, when one is served; the collector
    /// task folds each record into them too.
    pub meters: Option<Arc<crate::metrics::meters::Meters>>,
}

/// How far a stop has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Not stopping: arrivals go on.
    Running,
    /// No new arrivals; queued ones are cancelled; in-flight ones may finish.
    NoNewArrivals,
    /// Abandon in-flight requests now.
    AbandonInFlight,
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
    /// Mix golden requests into the load as the plan's `[quality] mix` says (off: the plan's
    /// mix is ignored, e.g. for sweep and calibration steps).
    pub golden_mix: bool,
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
    /// With a golden mix: the answers to the golden requests of the measured window, in no
    /// particular order.
    pub golden: Vec<GoldenReply>,
}

/// The distinct tokenizers of `plan`'s models, and each model's index among them.
fn distinct_tokenizers(plan: &Plan) -> (Vec<Tokenizer>, Vec<usize>) {
    let mut distinct: Vec<Tokenizer> = Vec::new();
    let mut of = Vec::with_capacity(plan.models.len());
    for m in &plan.models {
        let i = match distinct.iter().position(|t| *t == m.tokenizer) {
            Some(i) => i,
            None => {
                distinct.push(m.tokenizer.clone());
                distinct.len() - 1
            }
        };
        of.push(i);
    }
    if distinct.is_empty() {
        distinct.push(Tokenizer::default());
    }
    (distinct, of)
}

/// What every request task of one run shares: the plan, the targets, the clock, the in-flight
/// cap, the stop signal and the way out for finished records.
struct Shared {
    plan: Plan,
    targets: Vec<ClientWithQuotas>,
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
    /// The distinct tokenizers of the plan's models.
    tokenizers: Vec<Tokenizer>,
    /// Per model: the index of its tokenizer in `tokenizers`.
    tok_of: Vec<usize>,
    /// Per tokenizer, per class, per listed prompt: its tokens (counted once, when needed).
    prompt_tokens: Vec<Vec<Vec<OnceLock<Option<u64>>>>>,
    /// Per tokenizer, per class: its system prompt's tokens.
    system_tokens: Vec<Vec<OnceLock<u64>>>,
    abandoned: AtomicU64,
    guard: std::sync::Mutex<GuardCounts>,
    /// Golden requests mixed into the load, when the run has them.
    mix: Option<Box<golden::Mix>>,
}

impl Shared {
    /// The shared state of a run of `plan` on `targets`, timed by `clock`.
    fn new(
        plan: Plan,
        targets: Vec<ClientWithQuotas>,
        clock: Clock,
        part: ShardPart,
        live: Arc<Live>,
        stop: watch::Receiver<Stop>,
        outbox: OutboxSender,
    ) -> Shared {
        let (warmup_us, window_end_us) = window_us(&plan);
        let (tokenizers, tok_of) = distinct_tokenizers(&plan);
        let weights: Vec<f64> = plan.models.iter().map(|m| m.weight).collect();
        let sampler = Sampler::new(
            plan.seed,
            &weights,
            &plan.workload.class_weights,
            plan.workload.repeat_ratio,
            plan.workload.sessions.as_ref().map(|s| s.turns.clone()),
        );
        Shared {
            sampler,
            clock,
            window_end_us,
            warmup_us,
            sem: Arc::new(Semaphore::new(
                part.share(plan.load.max_in_flight).max(1) as usize
            )),
            part,
            live,
            stop,
            outbox,
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            prompt_tokens: tokenizers
                .iter()
                .map(|_| {
                    let classes = plan.workload.classes.iter();
                    classes
                        .map(|c| match &c.source {
                            PromptSource::List(ps) => {
                                (0..ps.len()).map(|_| OnceLock::new()).collect()
                            }
                            PromptSource::Synthetic(_) => Vec::new(),
                        })
                        .collect()
                })
                .collect(),
            system_tokens: tokenizers
                .iter()
                .map(|_| {
                    plan.workload
                        .classes
                        .iter()
                        .map(|_| OnceLock::new())
                        .collect()
                })
                .collect(),
            tokenizers,
            tok_of,
            abandoned: AtomicU64::new(0),
            guard: std::sync::Mutex::new(GuardCounts::default()),
            mix: None,
            targets,
            plan,
        }
    }

    #[inline]
    fn phase(&self, t_sched_us: u64) -> Phase {
        if t_sched_us < self.warmup_us {
            Phase::Warmup
        } else if self.window_end_us.is_some_and(|e| t_sched_us >= e) {
            Phase::Cooldown
        } else {
            Phase::Measure
        }
    }

    #[inline]
    fn emit(&self, model: usize, rec: RequestRecord) {
        self.outbox.0.push(model, rec);
    }
}

/// The measurement window's start (the end of warm-up) and end, in µs since start.
fn window_us(plan: &Plan) -> (u64, Option<u64>) {
    let warmup_us = plan.load.warmup.as_micros() as u64;
    let window_end_us = plan
        .load
        .duration
        .map(|d| (plan.load.warmup + d).as_micros() as u64);
    (warmup_us, window_end_us)
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

/// Runs a plan to its end (or until `stop` says so) and returns the folded metrics.
pub async fn run(
    plan: Plan,
    targets: Vec<ClientWithQuotas>,
    records: Option<std::fs::File>,
    live: Arc<Live>,
    stop: watch::Receiver<Stop>,
    opts: RunOptions,
) -> RunOutput {
    let (start, started_at) = origin(opts.start_at, opts.lead);
    let _ = live.origin.set(start);
    let part = opts.shard;
    // Request tasks watch an internal channel: it follows the caller's stops, and the runner
    // itself escalates to `All` when the drain period runs out.
    let internal = Arc::new(watch::channel(Stop::Running).0);
    let forward = forward_stops(stop.clone(), internal.clone());
    let clock = Clock { start };
    let (_, window_end_us) = window_us(&plan);
    let collector = new_collector(&plan, opts.keep_partial);
    let outbox = Outbox::new();
    let mut shared = Shared::new(
        plan,
        targets,
        clock,
        part,
        live.clone(),
        internal.subscribe(),
        OutboxSender(outbox.clone()),
    );
    if opts.golden_mix {
        shared.mix = golden::Mix::new(&shared.plan, shared.tokenizers.len()).map(Box::new);
    }
    let sh = Arc::new(shared);

    let meters = live.meters.clone();
    let live_end = live.clone();
    let monitor = crate::engine::monitor::Monitor::start(
        clock.start,
        opts.exclude_tids.clone(),
        meters.clone(),
    );
    let collect = CollectorTask {
        collector,
        outbox,
        writer: RecordsWriter::new(records),
        meters: run_meters(&sh.plan, meters.as_deref()),
        live,
        judge: opts.judge,
        stopper: internal.clone(),
        clock,
    }
    .spawn();

    let send_end = match arrivals(&sh.plan, part) {
        Some(mine) => pacing::open_loop(&sh, mine).await,
        None => pacing::closed_loop(&sh).await,
    };
    let interrupted = *stop.borrow() >= Stop::NoNewArrivals;
    drain(&sh, &internal, interrupted, opts.interrupt_grace).await;
    forward.abort();
    let health = monitor.finish().await;
    let abandoned = sh.abandoned.load(Ordering::Relaxed);
    let guard = sh.guard.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let golden = sh.take_golden();
    drop(sh);
    let (mut collector, writer, aborted) = match collect.await {
        Ok(v) => v,
        // The collector only folds numbers; a panic there is a bug, and re-raising it keeps
        // its message instead of writing a silently incomplete result.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    if let Some(m) = &meters {
        // Every request has ended (or been abandoned): the last sample is stale.
        m.in_flight.store(
            live_end.in_flight.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        m.runs_finished.fetch_add(1, Ordering::Relaxed);
    }
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
        golden,
    }
}

/// The schedule's origin as an instant and a wall-clock time: the agreed instant when there is
/// one (even if it has just passed: overdue arrivals then go at once and show as schedule lag),
/// else `lead` from now.
fn origin(start_at: Option<SystemTime>, lead: Duration) -> (Instant, SystemTime) {
    let (now_i, now_w) = (Instant::now(), SystemTime::now());
    match start_at {
        Some(at) => match at.duration_since(now_w) {
            Ok(ahead) => (now_i + ahead, at),
            Err(e) => (now_i.checked_sub(e.duration()).unwrap_or(now_i), at),
        },
        None => (now_i + lead, now_w + lead),
    }
}

/// Forwards the caller's stops to the runner's internal channel, never lowering it.
fn forward_stops(
    mut ext: watch::Receiver<Stop>,
    internal: Arc<watch::Sender<Stop>>,
) -> JoinHandle<()> {
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
}

/// The collector for a plan: its models, window, objectives and breakdowns.
fn new_collector(plan: &Plan, keep_partial: bool) -> Collector {
    let (warmup_us, window_end_us) = window_us(plan);
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
    collector.set_groups(group_spec(plan));
    if keep_partial {
        collector.keep_second_hists();
    }
    collector
}

/// The live meters of the plan's models (by id and target), when a scrape is served.
fn run_meters(
    plan: &Plan,
    meters: Option<&crate::metrics::meters::Meters>,
) -> Option<crate::metrics::meters::RunMeters> {
    let m = meters?;
    let ids: Vec<(String, String)> = plan
        .models
        .iter()
        .map(|x| {
            let target = plan.targets.get(x.target).map(|t| t.name.clone());
            (x.id.clone(), target.unwrap_or_default())
        })
        .collect();
    m.runs_started.fetch_add(1, Ordering::Relaxed);
    Some(m.for_models(&ids))
}

/// After sending stops: in-flight requests may finish within the drain timeout (or the
/// interrupt grace); what is still in flight then is abandoned (each task records itself as
/// such).
async fn drain(sh: &Shared, internal: &watch::Sender<Stop>, interrupted: bool, grace: Duration) {
    let grace = if interrupted {
        grace.min(sh.plan.load.drain_timeout)
    } else {
        sh.plan.load.drain_timeout
    };
    let drained = tokio::time::timeout(grace, wait_idle(sh)).await.is_ok();
    if !drained {
        internal.send_replace(Stop::AbandonInFlight);
        let _ = tokio::time::timeout(Duration::from_secs(5), wait_idle(sh)).await;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::Source;

    /// The plan of a scenario text (which must be valid).
    pub(super) fn plan(text: &str) -> Plan {
        let src = Source {
            path: "test.toml".into(),
            text: format!("name = \"t\"\n{text}"),
        };
        let f = src.parse().expect("parses");
        Plan::build(&src, f).expect("valid")
    }

    /// A client that is never used to send (no test here opens a connection).
    pub(super) fn offline_client() -> crate::engine::client::TargetClient {
        crate::engine::client::TargetClient::new(crate::engine::client::ClientSettings {
            name: "t",
            base_url: "http://127.0.0.1:9",
            api_key: None,
            auth: Default::default(),
            headers: &[],
            timeouts: Default::default(),
            pool_max_idle: 1,
            http: Default::default(),
            ca_bundle: None,
            insecure: false,
            lean: false,
            endpoint: Default::default(),
            stream: true,
        })
        .expect("a plain client builds")
    }

    /// The shared state of a run of `plan` (not started: nothing is sent).
    pub(super) fn shared(plan: Plan) -> Shared {
        let targets = plan
            .targets
            .iter()
            .map(|_| ClientWithQuotas::new(offline_client(), None, None, 1))
            .collect();
        let stop = watch::channel(Stop::Running).1;
        Shared::new(
            plan,
            targets,
            Clock {
                start: Instant::now(),
            },
            ShardPart::WHOLE,
            Arc::new(Live::default()),
            stop,
            OutboxSender(Outbox::new()),
        )
    }

    #[test]
    fn phases_follow_the_scheduled_time() {
        let sh = shared(plan(
            r#"
[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "m"
target = "sim"

[workload]
prompts = ["hi"]
max_tokens = 8

[load]
rate = "5/s"
warmup = "1s"
duration = "2s"
"#,
        ));
        assert_eq!(sh.phase(0), Phase::Warmup);
        assert_eq!(sh.phase(999_999), Phase::Warmup);
        assert_eq!(sh.phase(1_000_000), Phase::Measure);
        assert_eq!(sh.phase(2_999_999), Phase::Measure);
        assert_eq!(sh.phase(3_000_000), Phase::Cooldown);
    }

    #[test]
    fn an_agreed_start_sets_both_clocks() {
        let at = SystemTime::now() + Duration::from_secs(30);
        let (i, w) = origin(Some(at), Duration::from_secs(1));
        assert_eq!(w, at);
        let ahead = i.saturating_duration_since(Instant::now());
        assert!(ahead > Duration::from_secs(20) && ahead <= Duration::from_secs(30));
        // Already passed: the origin lies in the past, so overdue arrivals go at once.
        let past = SystemTime::now() - Duration::from_secs(5);
        let (i, w) = origin(Some(past), Duration::from_secs(1));
        assert_eq!(w, past);
        assert!(i <= Instant::now());
        // No agreed start: `lead` from now.
        let (i, _) = origin(None, Duration::from_secs(60));
        assert!(i > Instant::now() + Duration::from_secs(50));
    }

    #[tokio::test]
    async fn the_callers_stops_reach_the_request_tasks_and_never_go_back() {
        let (tx, rx) = watch::channel(Stop::Running);
        let internal = Arc::new(watch::channel(Stop::Running).0);
        let mut seen = internal.subscribe();
        let fwd = forward_stops(rx, internal.clone());
        tx.send_replace(Stop::NoNewArrivals);
        tokio::time::timeout(
            Duration::from_secs(10),
            seen.wait_for(|s| *s == Stop::NoNewArrivals),
        )
        .await
        .expect("forwarded")
        .expect("sender alive");
        // The runner escalates on its own; the caller's lower value does not undo it.
        internal.send_replace(Stop::AbandonInFlight);
        tx.send_replace(Stop::NoNewArrivals);
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(10), fwd).await;
        assert_eq!(*internal.borrow(), Stop::AbandonInFlight);
    }
}
