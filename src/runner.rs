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
use tokio::sync::{mpsc, watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::client::{BodyBuilder, Clock, TargetClient};
use crate::metrics::{Collector, Window};
use crate::plan::{OnFull, Plan, Shape};
use crate::record::{Outcome, Phase, RequestRecord, TokenSource};
use crate::schedule::{OpenLoop, Pacer};
use crate::tokens;
use crate::workload::Sampler;

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
    pub health: crate::monitor::Health,
    /// Why the judge stopped the run early, if it did.
    pub aborted: Option<String>,
}

struct Shared {
    plan: Plan,
    targets: Vec<TargetRuntime>,
    bodies: BodyBuilder,
    sampler: Sampler,
    clock: Clock,
    window_end_us: Option<u64>,
    warmup_us: u64,
    sem: Arc<Semaphore>,
    live: Arc<Live>,
    stop: watch::Receiver<Stop>,
    tx: mpsc::UnboundedSender<(usize, RequestRecord)>,
    pending: AtomicUsize,
    idle: Notify,
    prompt_tokens: Vec<OnceLock<Option<u64>>>,
    abandoned: AtomicU64,
    system_chars: usize,
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
        // The collector outlives every sender; a closed channel means the run is being torn
        // down and nothing is left to record into.
        let _ = self.tx.send((model, rec));
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

/// One arrival, from its cap wait to its record.
async fn request(
    sh: Arc<Shared>,
    index: u64,
    t_sched: Instant,
    t_dispatch: Instant,
    permit: Option<OwnedSemaphorePermit>,
) {
    let _guard = PendingGuard(&sh);
    let clock = sh.clock;
    let draw = sh.sampler.draw(index, |p| {
        sh.plan.workload.prompts.get(p).and_then(|p| p.max_tokens)
    });
    let model = &sh.plan.models[draw.model];
    let t_sched_us = clock.us(t_sched);
    let mut rec = RequestRecord::unsent(
        index,
        model.id.clone(),
        sh.phase(t_sched_us),
        Outcome::Cancelled,
        t_sched_us,
        clock.us(t_dispatch),
    );
    let cancelled = |mut rec: RequestRecord, why: &str| {
        rec.outcome = Outcome::Cancelled;
        rec.error = Some(why.into());
        rec.t_end_us = clock.us(Instant::now());
        sh.emit(draw.model, rec);
    };
    let _permit = match permit {
        Some(p) => p,
        None => tokio::select! {
            p = sh.sem.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return cancelled(rec, "the run ended while waiting for an in-flight slot"),
            },
            _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => {
                return cancelled(rec, "the run was stopped while waiting for an in-flight slot");
            }
        },
    };
    let target = &sh.targets[model.target];
    let prompt = &sh.plan.workload.prompts[draw.prompt];
    if let Some(l) = &target.rpm {
        tokio::select! {
            _ = l.until_ready() => {}
            _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => return cancelled(rec, "the run was stopped while waiting on requests_per_minute"),
        }
    }
    if let Some((l, burst)) = &target.tpm {
        let est = ((sh.system_chars + prompt.chars) as u64 / 4 + draw.max_tokens as u64)
            .clamp(1, *burst as u64) as u32;
        let n = NonZeroU32::new(est).expect("clamped to at least 1");
        tokio::select! {
            _ = l.until_n_ready(n) => {}
            _ = wait_stop(sh.stop.clone(), Stop::Arrivals) => return cancelled(rec, "the run was stopped while waiting on tokens_per_minute"),
        }
    }
    let body = sh.bodies.body(
        &sh.plan.workload,
        &model.id,
        draw.prompt,
        draw.max_tokens,
        &sh.plan.targets[model.target].body,
    );
    let t_send = Instant::now();
    rec.t_send_us = Some(clock.us(t_send));
    sh.live.sent.fetch_add(1, Ordering::Relaxed);
    sh.live.in_flight.fetch_add(1, Ordering::Relaxed);
    let finished = tokio::select! {
        _ = target.client.execute(&clock, body, &mut rec) => true,
        _ = wait_stop(sh.stop.clone(), Stop::All) => false,
    };
    sh.live.in_flight.fetch_sub(1, Ordering::Relaxed);
    if !finished {
        sh.abandoned.fetch_add(1, Ordering::Relaxed);
        rec.outcome = Outcome::Abandoned;
        rec.error = Some("abandoned in flight when the run stopped".into());
        rec.t_end_us = clock.us(Instant::now());
    }
    crate::client::count_output_offline(&mut rec).await;
    // Count the prompt offline only for requests a provider would bill (some output came);
    // a refused request has no input cost to estimate. Counted once per prompt, off the
    // async workers.
    if rec.input_tokens.is_none() && (rec.outcome == Outcome::Ok || rec.output_events > 0) {
        let cell = &sh.prompt_tokens[draw.prompt];
        let n = match cell.get() {
            Some(n) => *n,
            None => {
                let text = match sh.plan.workload.system.as_deref() {
                    Some(s) => format!("{s}\n{}", prompt.joined_text()),
                    None => prompt.joined_text(),
                };
                let n = tokio::task::spawn_blocking(move || tokens::count(&text))
                    .await
                    .ok()
                    .flatten();
                *cell.get_or_init(|| n)
            }
        };
        if let Some(n) = n {
            rec.input_tokens = Some(n);
            rec.input_tokens_source = Some(TokenSource::Tokenizer);
        }
    }
    if rec.outcome == Outcome::Ok {
        sh.live.ok.fetch_add(1, Ordering::Relaxed);
    } else if rec.outcome.was_sent() {
        sh.live.failed.fetch_add(1, Ordering::Relaxed);
    }
    sh.emit(draw.model, rec);
}

/// Writes records as JSON lines; a write error stops writing but never the run.
struct RecordsWriter {
    out: Option<std::io::BufWriter<std::fs::File>>,
    written: u64,
    error: Option<String>,
}

impl RecordsWriter {
    fn write(&mut self, r: &RequestRecord) {
        let Some(out) = self.out.as_mut() else { return };
        let res = serde_json::to_writer(&mut *out, r)
            .map_err(std::io::Error::other)
            .and_then(|_| out.write_all(b"\n"));
        match res {
            Ok(()) => self.written += 1,
            Err(e) => {
                self.error = Some(e.to_string());
                self.out = None;
            }
        }
    }

    fn flush(&mut self) {
        if let Some(out) = self.out.as_mut() {
            if let Err(e) = out.flush() {
                self.error = Some(e.to_string());
                self.out = None;
            }
        }
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
    let started_at = SystemTime::now();
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
    let clock = Clock {
        start: Instant::now() + opts.lead,
    };
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
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, RequestRecord)>();
    let weights: Vec<f64> = plan.models.iter().map(|m| m.weight).collect();
    let sampler = Sampler::new(
        plan.seed,
        &weights,
        plan.workload.prompts.len(),
        plan.workload.max_tokens.clone(),
    );
    let sh = Arc::new(Shared {
        bodies: BodyBuilder::new(&plan.workload),
        sampler,
        clock,
        window_end_us,
        warmup_us,
        sem: Arc::new(Semaphore::new(plan.load.max_in_flight as usize)),
        live: live.clone(),
        stop: internal.subscribe(),
        tx,
        pending: AtomicUsize::new(0),
        idle: Notify::new(),
        prompt_tokens: (0..plan.workload.prompts.len())
            .map(|_| OnceLock::new())
            .collect(),
        abandoned: AtomicU64::new(0),
        system_chars: plan
            .workload
            .system
            .as_ref()
            .map_or(0, |s| s.chars().count()),
        targets,
        plan,
    });

    let monitor = crate::monitor::Monitor::start(clock.start, opts.exclude_tids.clone());
    let mut writer = RecordsWriter {
        out: records.map(std::io::BufWriter::new),
        written: 0,
        error: None,
    };
    let live_c = live.clone();
    let mut judge = opts.judge;
    let stopper = internal.clone();
    let collect = tokio::spawn(async move {
        let mut aborted: Option<String> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut flushed = Instant::now();
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some((m, r)) => {
                        collector.add(m, &r);
                        writer.write(&r);
                    }
                    None => break,
                },
                _ = tick.tick() => {
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

    let send_end = match &sh.plan.load.shape {
        Shape::Open { arrival, profile } => open_loop(&sh, *arrival, profile.clone()).await,
        Shape::Closed { .. } => closed_loop(&sh).await,
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
async fn open_loop(
    sh: &Arc<Shared>,
    arrival: crate::schedule::ArrivalProcess,
    profile: crate::schedule::RateProfile,
) -> u64 {
    let ol = OpenLoop {
        arrival,
        profile,
        seed: sh.plan.seed,
        max_arrivals: sh.plan.load.requests,
    };
    let mut pacer = Pacer::new(sh.clock.start, ol.indexed());
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
                    let draw = sh.sampler.draw(tick.index, |p| {
                        sh.plan.workload.prompts.get(p).and_then(|p| p.max_tokens)
                    });
                    let t_sched_us = sh.clock.us(tick.intended);
                    let mut rec = RequestRecord::unsent(
                        tick.index,
                        sh.plan.models[draw.model].id.clone(),
                        sh.phase(t_sched_us),
                        Outcome::Dropped,
                        t_sched_us,
                        sh.clock.us(t_dispatch),
                    );
                    rec.error = Some(format!(
                        "max_in_flight = {} was full",
                        sh.plan.load.max_in_flight
                    ));
                    sh.live.dropped.fetch_add(1, Ordering::Relaxed);
                    sh.emit(draw.model, rec);
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
    let workers = profile.max();
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
        Shape::Open { .. } => return,
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
            Some(c) if w >= c => {
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
        let index = next.fetch_add(1, Ordering::Relaxed);
        if sh.plan.load.requests.is_some_and(|r| index >= r) {
            return;
        }
        sh.pending.fetch_add(1, Ordering::AcqRel);
        request(sh.clone(), index, now, now, None).await;
    }
}
