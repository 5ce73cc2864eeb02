//! Pacing: when each arrival is sent. An open loop (or a trace) releases arrivals at their
//! intended times from the schedule, whatever the server does; a full in-flight cap either
//! queues the arrival (its queue time counts in its latency) or drops it (`on_full = "drop"`,
//! recorded as `dropped`). A closed loop keeps a profile's number of workers busy, each sending
//! its next request when its last one ends.
//!
//! Arrivals are never re-timed or skipped here; a shard sends exactly its stripe of the
//! global schedule. What a request holds and how it is sent is `attempt`'s.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::config::plan::{OnFull, Plan, Shape};
use crate::config::schedule::{OpenLoop, Pacer, ShardPart};
use crate::core::record::Outcome;

use super::attempt::request;
use super::{wait_stop, Shared, Stop};

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

/// Sends arrivals at their intended times until the schedule ends or a stop; returns when
/// sending stopped, in µs since start.
pub(super) async fn open_loop(
    sh: &Arc<Shared>,
    arrivals: impl Iterator<Item = (u64, Duration)>,
) -> u64 {
    let mut pacer = Pacer::new(sh.clock.start, arrivals);
    let drop_on_full = sh.plan.load.on_full == OnFull::Drop;
    loop {
        let tick = tokio::select! {
            biased;
            _ = wait_stop(sh.stop.clone(), Stop::NoNewArrivals) => break,
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
                    drop_arrival(sh, tick.index, tick.intended, t_dispatch);
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

/// Records an arrival dropped because the in-flight cap was full (`on_full = "drop"`).
fn drop_arrival(sh: &Shared, index: u64, intended: Instant, t_dispatch: Instant) {
    let r = sh.resolve(index);
    let mut rec = sh.record(
        index,
        r.model,
        r.draw.class,
        r.route,
        sh.clock.us(intended),
        sh.clock.us(t_dispatch),
    );
    rec.outcome = Outcome::Dropped;
    rec.repeat = r.draw.repeat;
    if let Some(line) = r.golden {
        rec.golden = sh.golden_id(line);
    }
    let model = r.model;
    rec.error = Some(format!(
        "max_in_flight = {} was full",
        sh.plan.load.max_in_flight
    ));
    sh.live.dropped.fetch_add(1, Ordering::Relaxed);
    sh.emit(model, rec);
}

/// Runs this shard's closed-loop workers until the profile ends or a stop; returns when
/// sending stopped, in µs since start.
pub(super) async fn closed_loop(sh: &Arc<Shared>) -> u64 {
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
        _ = wait_stop(sh.stop.clone(), Stop::NoNewArrivals) => {}
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
        if *sh.stop.borrow() >= Stop::NoNewArrivals {
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
                    _ = wait_stop(sh.stop.clone(), Stop::NoNewArrivals) => return,
                }
            }
            Some(_) => {}
        }
        let index = closed_index(next.fetch_add(1, Ordering::Relaxed), sh.part);
        if sh.plan.load.requests.is_some_and(|r| index >= r) {
            return;
        }
        sh.pending.fetch_add(1, Ordering::AcqRel);
        request(sh.clone(), index, now, now, None).await;
    }
}

/// The global index of a shard's `k`-th closed-loop request: shard i of N sends k·N + i, so
/// the shards' requests interleave into one sequence of prompts and a `requests` limit stays
/// global.
#[inline]
fn closed_index(k: u64, part: ShardPart) -> u64 {
    k * part.count as u64 + part.index as u64
}

#[cfg(test)]
mod tests {
    use super::super::tests::plan;
    use super::*;

    fn open(extra: &str) -> Plan {
        plan(&format!(
            r#"
seed = 7
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
rate = "50/s"
duration = "4s"
{extra}
"#
        ))
    }

    fn parts(n: u32) -> impl Iterator<Item = ShardPart> {
        (0..n).map(move |index| ShardPart { index, count: n })
    }

    #[test]
    fn shards_send_exactly_the_whole_runs_arrivals() {
        for p in [open(""), open("requests = 37")] {
            let whole: Vec<(u64, Duration)> =
                arrivals(&p, ShardPart::WHOLE).expect("open loop").collect();
            assert!(!whole.is_empty());
            if p.load.requests.is_some() {
                assert_eq!(whole.len(), 37);
            }
            for n in [2, 3, 5] {
                let mut union: Vec<(u64, Duration)> = Vec::new();
                for part in parts(n) {
                    let mine: Vec<_> = arrivals(&p, part).expect("open loop").collect();
                    assert!(mine.iter().all(|(i, _)| part.owns(*i)));
                    union.extend(mine);
                }
                union.sort();
                assert_eq!(union, whole, "{n} shards");
            }
        }
    }

    #[test]
    fn the_shards_caps_and_workers_add_up_to_the_plans() {
        for n in 1..=7u32 {
            for total in [1u32, 2, 7, 64, 1000] {
                let shares: Vec<u32> = parts(n).map(|p| p.share(total)).collect();
                assert_eq!(shares.iter().sum::<u32>(), total, "{total} over {n}");
                let (lo, hi) = (shares.iter().min(), shares.iter().max());
                assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "even split");
            }
        }
    }

    #[test]
    fn closed_loop_shards_interleave_into_one_sequence() {
        let n = 3;
        let mut all: Vec<u64> = parts(n)
            .flat_map(|p| (0..10).map(move |k| closed_index(k, p)))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..30).collect::<Vec<_>>());
        assert_eq!(closed_index(5, ShardPart::WHOLE), 5);
    }

    #[test]
    fn a_closed_loop_has_no_arrival_schedule() {
        let p = plan(
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
concurrency = 4
duration = "2s"
"#,
        );
        assert!(arrivals(&p, ShardPart::WHOLE).is_none());
    }
}
