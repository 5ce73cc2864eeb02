//! The collector task: takes finished records from the request tasks (through the
//! [`Outbox`]), folds them into the metrics, hands them to the records file and the progress
//! view, samples the in-flight count, and asks the live judge about once a second whether the
//! run should stop early.
//!
//! It never sends requests and never blocks a request task for longer than one push under a
//! lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::records::RecordsWriter;
use super::{Judge, Live, Stop};
use crate::core::record::RequestRecord;
use crate::engine::client::Clock;
use crate::metrics::Collector;

/// Finished records on their way to the collector. Request tasks append to a shared batch;
/// the collector takes the whole batch when it grows to [`OUTBOX_BATCH`] records, on each of
/// its ticks, and when the last sender is gone, so a record costs a push rather than a
/// message and a task wake-up of its own.
pub(super) struct Outbox {
    batch: std::sync::Mutex<Vec<(usize, RequestRecord)>>,
    wake: Notify,
    /// Set (after their last push) when every sender is gone.
    closed: AtomicBool,
}

/// Records gathered before the collector is woken for them.
const OUTBOX_BATCH: usize = 64;

impl Outbox {
    pub(super) fn new() -> Arc<Outbox> {
        Arc::new(Outbox {
            batch: std::sync::Mutex::new(Vec::with_capacity(OUTBOX_BATCH)),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        })
    }

    #[inline]
    pub(super) fn push(&self, model: usize, rec: RequestRecord) {
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
pub(super) struct OutboxSender(pub(super) Arc<Outbox>);

impl Drop for OutboxSender {
    fn drop(&mut self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.wake.notify_one();
    }
}

/// What the collector task hands back: the metrics, the records writer (its count and first
/// error) and why the judge stopped the run, if it did.
pub(super) type Collected = (Collector, RecordsWriter, Option<String>);

/// Everything the collector task owns.
pub(super) struct CollectorTask {
    pub(super) collector: Collector,
    pub(super) outbox: Arc<Outbox>,
    pub(super) writer: RecordsWriter,
    /// The live metrics a scrape reads, when one is served.
    pub(super) meters: Option<crate::metrics::meters::RunMeters>,
    pub(super) live: Arc<Live>,
    pub(super) judge: Option<Judge>,
    /// Raised to [`Stop::NoNewArrivals`] when the judge says stop.
    pub(super) stopper: Arc<watch::Sender<Stop>>,
    pub(super) clock: Clock,
}

impl CollectorTask {
    /// Runs until every sender is gone and the last batch is folded.
    pub(super) fn spawn(self) -> JoinHandle<Collected> {
        tokio::spawn(self.run())
    }

    async fn run(mut self) -> Collected {
        let mut aborted: Option<String> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        let mut flushed = Instant::now();
        let mut batch: Vec<(usize, RequestRecord)> = Vec::with_capacity(OUTBOX_BATCH);
        let outbox = self.outbox.clone();
        loop {
            tokio::select! {
                _ = outbox.wake.notified() => {
                    // Read before taking the batch: once closed, no record can follow.
                    let closed = outbox.closed.load(Ordering::Acquire);
                    self.drain(&mut batch);
                    if closed {
                        break;
                    }
                }
                _ = tick.tick() => {
                    // The live view (in-flight samples, the judge) sees every record so far.
                    self.drain(&mut batch);
                    let now = Instant::now();
                    let in_flight = self.live.in_flight.load(Ordering::Relaxed);
                    self.collector.sample_in_flight(self.clock.us(now), in_flight);
                    if let Some(m) = &self.live.meters {
                        m.in_flight.store(in_flight, Ordering::Relaxed);
                    }
                    if now.duration_since(flushed) >= Duration::from_secs(1) {
                        self.writer.flush();
                        flushed = now;
                        if aborted.is_none() {
                            aborted = self.judge(now);
                        }
                    }
                }
            }
        }
        self.writer.flush();
        (self.collector, self.writer, aborted)
    }

    /// Folds every pending record into the metrics, the progress window and the file.
    #[inline]
    fn drain(&mut self, batch: &mut Vec<(usize, RequestRecord)>) {
        self.outbox.take(batch);
        for (m, r) in batch.drain(..) {
            self.live.recent.add(&r);
            self.collector.add(m, &r);
            if let Some(meters) = &mut self.meters {
                meters.add(m, &r);
            }
            self.writer.write(&r);
        }
    }

    /// Asks the judge; a reason stops new arrivals (as an interrupt would) and is returned.
    fn judge(&mut self, now: Instant) -> Option<String> {
        let j = self.judge.as_mut()?;
        let why = j(&mut self.collector, self.clock.us(now))?;
        self.stopper.send_if_modified(|s| {
            let raise = *s < Stop::NoNewArrivals;
            if raise {
                *s = Stop::NoNewArrivals;
            }
            raise
        });
        Some(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::{Outcome, Phase};
    use crate::metrics::Window;
    use futures_util::FutureExt;

    fn rec(i: u64, outcome: Outcome) -> RequestRecord {
        let mut r = RequestRecord::unsent(i, "m".into(), Phase::Measure, outcome, i, i);
        r.t_send_us = Some(i);
        r.t_end_us = i + 10;
        r
    }

    #[test]
    fn a_full_batch_wakes_the_collector_and_take_empties_it() {
        let o = Outbox::new();
        for i in 0..OUTBOX_BATCH as u64 - 1 {
            o.push(0, rec(i, Outcome::Ok));
        }
        assert!(o.wake.notified().now_or_never().is_none(), "not yet full");
        o.push(1, rec(99, Outcome::Ok));
        assert!(
            o.wake.notified().now_or_never().is_some(),
            "full batch wakes"
        );
        let mut got = Vec::new();
        o.take(&mut got);
        assert_eq!(got.len(), OUTBOX_BATCH);
        assert_eq!(got.last().map(|(m, r)| (*m, r.index)), Some((1, 99)));
        let mut again = Vec::new();
        o.take(&mut again);
        assert!(again.is_empty());
    }

    fn task(
        outbox: Arc<Outbox>,
        writer: RecordsWriter,
        judge: Option<Judge>,
    ) -> (CollectorTask, Arc<watch::Sender<Stop>>) {
        let stopper = Arc::new(watch::channel(Stop::Running).0);
        let collector = Collector::new(
            2,
            Window {
                start_us: 0,
                end_us: None,
            },
            vec![Default::default(); 2],
            0,
        );
        let t = CollectorTask {
            collector,
            outbox,
            writer,
            meters: None,
            live: Arc::new(Live::default()),
            judge,
            stopper: stopper.clone(),
            clock: Clock {
                start: Instant::now(),
            },
        };
        (t, stopper)
    }

    #[tokio::test]
    async fn every_pushed_record_is_folded_and_written_once_the_senders_are_gone() {
        let outbox = Outbox::new();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("r.jsonl");
        let writer = RecordsWriter::new(Some(std::fs::File::create(&path).expect("create")));
        let (t, stopper) = task(outbox.clone(), writer, None);
        let handle = t.spawn();
        let sender = OutboxSender(outbox);
        // Not a multiple of the batch size: the last, partial batch must arrive too.
        let n = 3 * OUTBOX_BATCH as u64 + 5;
        for i in 0..n {
            let o = if i % 3 == 0 {
                Outcome::Http5xx
            } else {
                Outcome::Ok
            };
            sender.0.push((i % 2) as usize, rec(i, o));
        }
        drop(sender);
        let (collector, writer, aborted) = handle.await.expect("collector task");
        let failed = (0..n).filter(|i| i % 3 == 0).count() as u64;
        assert_eq!(collector.overall.count(Outcome::Ok), n - failed);
        assert_eq!(collector.overall.count(Outcome::Http5xx), failed);
        assert_eq!(collector.models[1].issued(), n / 2);
        assert_eq!(writer.written, n);
        assert!(aborted.is_none());
        assert_eq!(*stopper.borrow(), Stop::Running);
        let lines = std::fs::read_to_string(&path)
            .expect("read")
            .lines()
            .count();
        assert_eq!(lines as u64, n);
    }

    #[tokio::test(start_paused = true)]
    async fn the_judges_reason_stops_arrivals_and_is_returned() {
        let outbox = Outbox::new();
        let judge: Judge = Box::new(|c: &mut Collector, _now| {
            (c.overall.count(Outcome::RateLimited) > 0).then(|| "too many 429s".to_string())
        });
        let (t, stopper) = task(outbox.clone(), RecordsWriter::new(None), Some(judge));
        let handle = t.spawn();
        let sender = OutboxSender(outbox);
        sender.0.push(0, rec(1, Outcome::RateLimited));
        let mut rx = stopper.subscribe();
        // Paused time: the ticks run as soon as the runtime is idle.
        tokio::time::timeout(
            Duration::from_secs(10),
            rx.wait_for(|s| *s == Stop::NoNewArrivals),
        )
        .await
        .expect("the judge stops arrivals within a few ticks")
        .expect("sender alive");
        drop(sender);
        let (_, _, aborted) = handle.await.expect("collector task");
        assert_eq!(aborted.as_deref(), Some("too many 429s"));
    }
}
