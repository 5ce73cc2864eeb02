//! The live view of a run: a progress bar on a terminal, or one plain line every few seconds
//! when stderr is not a terminal (a CI log). It reads only [`Live`]: the request counters the
//! request path bumps, and [`Recent`], per-second figures of recently ended requests that the
//! collector task fills from the records it already folds (the request path does no extra work).
//!
//! Figures shown here are live estimates for watching a run, not the result.
//!
//! Reuse (e.g. one view per sweep step): make a fresh [`Live`] for each run, then
//! `let view = Progress::start(live.clone(), "step 3/10 ", Length::of(&plan.load, 1),
//! Mode::for_stderr(quiet, None));` before `runner::run`, and `view.finish()` after it.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::config::plan::Load;
use crate::engine::runner::Live;

pub use crate::metrics::recent::{Recent, Windowed, WINDOW_S};

/// Default interval between plain progress lines.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What bounds the run, for the bar and its ETA.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    /// Sending stops after this long (warmup + duration + cooldown).
    Time(Duration),
    /// Sending stops after this many requests.
    Requests(u64),
    /// Not known in advance.
    Open,
}

impl Length {
    /// The bound of a plan's load, for one of `shards` processes sharing it.
    pub fn of(load: &Load, shards: u32) -> Length {
        match (load.send_end(), load.requests) {
            (Some(t), _) => Length::Time(t),
            (None, Some(n)) => Length::Requests(n.div_ceil(shards.max(1) as u64)),
            (None, None) => Length::Open,
        }
    }
}

/// How the view shows itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Nothing.
    Off,
    /// A redrawn bar (a terminal).
    Bar,
    /// A plain line this often (a log).
    Lines(Duration),
}

impl Mode {
    /// [`Mode::choose`] for the process's stderr.
    pub fn for_stderr(quiet: bool, interval: Option<Duration>) -> Mode {
        use std::io::IsTerminal;
        Mode::choose(quiet, interval, std::io::stderr().is_terminal())
    }

    /// `--quiet` shows nothing; a terminal gets the bar; anything else a line every `interval`
    /// (default [`DEFAULT_INTERVAL`]).
    pub fn choose(quiet: bool, interval: Option<Duration>, terminal: bool) -> Mode {
        match (quiet, terminal) {
            (true, _) => Mode::Off,
            (false, true) => Mode::Bar,
            (false, false) => Mode::Lines(interval.unwrap_or(DEFAULT_INTERVAL)),
        }
    }
}

/// One reading of the live counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    /// Time since the run's clock started.
    pub elapsed: Duration,
    /// Requests sent.
    pub sent: u64,
    /// Ended ok.
    pub ok: u64,
    /// Ended in error.
    pub failed: u64,
    /// Arrivals dropped.
    pub dropped: u64,
    /// In flight.
    pub in_flight: u64,
    /// The sliding window.
    pub window: Windowed,
}

impl Snapshot {
    /// Reads `live` at `elapsed` on the run clock.
    pub fn read(live: &Live, elapsed: Duration) -> Snapshot {
        Snapshot {
            elapsed,
            sent: live.sent.load(Ordering::Relaxed),
            ok: live.ok.load(Ordering::Relaxed),
            failed: live.failed.load(Ordering::Relaxed),
            dropped: live.dropped.load(Ordering::Relaxed),
            in_flight: live.in_flight.load(Ordering::Relaxed),
            window: live.recent.window(elapsed.as_micros() as u64),
        }
    }

    /// How far the run is, 0–1 (None when its length is open).
    pub fn fraction(&self, len: Length) -> Option<f64> {
        let f = match len {
            Length::Time(t) => self.elapsed.as_secs_f64() / t.as_secs_f64().max(1e-9),
            Length::Requests(n) => self.sent as f64 / (n.max(1) as f64),
            Length::Open => return None,
        };
        Some(f.clamp(0.0, 1.0))
    }

    /// Time left until sending stops: exact for a time bound, at the average send rate so far
    /// for a request count.
    pub fn eta(&self, len: Length) -> Option<Duration> {
        match len {
            Length::Time(t) => Some(t.saturating_sub(self.elapsed)),
            Length::Requests(n) => {
                let secs = self.elapsed.as_secs_f64();
                if self.sent == 0 || secs <= 0.0 {
                    return None;
                }
                let left = n.saturating_sub(self.sent) as f64;
                Some(Duration::from_secs_f64(left * secs / self.sent as f64))
            }
            Length::Open => None,
        }
    }
}

/// `1180` → `1,180`.
fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.1} ms")
    } else if v < 10_000.0 {
        format!("{v:.0} ms")
    } else {
        format!("{:.1} s", v / 1e3)
    }
}

/// The `[ elapsed/total pct]` head of a line.
fn head(s: &Snapshot, len: Length) -> String {
    let e = s.elapsed.as_secs();
    let pct = s
        .fraction(len)
        .map(|f| format!(" {:3.0}%", (f * 100.0).floor()))
        .unwrap_or_default();
    match len {
        Length::Time(t) => format!("[{e:>4}s/{}s{pct}]", t.as_secs_f64().ceil() as u64),
        Length::Requests(n) => format!("[{e:>4}s {}/{}{pct}]", s.sent, n),
        Length::Open => format!("[{e:>4}s]"),
    }
}

/// Counters and the window, e.g. `sent 300 ok 297 failed 1 in-flight 12 | TTFT p50 310 ms
/// p99 720 ms (last 5 s) | out 1,180 tok/s`.
fn body(s: &Snapshot) -> String {
    let mut line = format!(
        "sent {} ok {} failed {}",
        grouped(s.sent),
        grouped(s.ok),
        grouped(s.failed)
    );
    if s.dropped > 0 {
        line.push_str(&format!(" dropped {}", grouped(s.dropped)));
    }
    line.push_str(&format!(" in-flight {}", grouped(s.in_flight)));
    let w = &s.window;
    let last = format!("(last {} s)", w.seconds);
    match (w.ttft_p50_ms, w.ttft_p99_ms) {
        (Some(p50), Some(p99)) => {
            line.push_str(&format!(" | TTFT p50 {} p99 {} {last}", ms(p50), ms(p99)))
        }
        _ if w.seconds == 0 => line.push_str(" | TTFT -"),
        _ => line.push_str(&format!(" | TTFT - {last}")),
    }
    if w.seconds > 0 {
        line.push_str(&format!(
            " | out {} tok/s",
            grouped(w.output_tok_s.round() as u64)
        ));
    }
    line
}

/// The plain line a log gets, after `label`.
pub fn line(label: &str, s: &Snapshot, len: Length) -> String {
    format!("{label}{} {}", head(s, len), body(s))
}

/// `m:ss` (or `h:mm:ss`), rounded down for elapsed time and up for time left.
fn clock(d: Duration, up: bool) -> String {
    let t = if up {
        d.as_secs_f64().ceil() as u64
    } else {
        d.as_secs()
    };
    if t >= 3600 {
        format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    } else {
        format!("{}:{:02}", t / 60, t % 60)
    }
}

/// The message beside the terminal bar: elapsed, ETA, then the line's body.
pub fn bar_message(s: &Snapshot, len: Length) -> String {
    let pct = s
        .fraction(len)
        .map(|f| format!(" {:.0}%", (f * 100.0).floor()))
        .unwrap_or_default();
    let eta = match (len, s.eta(len)) {
        (_, Some(d)) => format!(" ETA {}", clock(d, true)),
        (Length::Open, None) => String::new(),
        (_, None) => " ETA -".into(),
    };
    let of = match len {
        Length::Time(t) => format!("/{}", clock(t, true)),
        Length::Requests(n) => format!(" {}/{}", grouped(s.sent), grouped(n)),
        Length::Open => String::new(),
    };
    format!("{}{of}{pct}{eta} | {}", clock(s.elapsed, false), body(s))
}

/// A running view; [`Progress::finish`] (or drop) stops it and clears the bar.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    task: Option<tokio::task::JoinHandle<()>>,
}

fn elapsed(live: &Live) -> Option<Duration> {
    let origin = *live.origin.get()?;
    let now = tokio::time::Instant::now();
    (now >= origin).then(|| now - origin)
}

impl Progress {
    /// Starts the view of the run `live` follows (on the current tokio runtime); `label`
    /// prefixes every line (e.g. `"step 3/10 "`, or empty).
    pub fn start(live: Arc<Live>, label: &str, len: Length, mode: Mode) -> Progress {
        match mode {
            Mode::Off => Progress {
                bar: None,
                task: None,
            },
            Mode::Lines(every) => {
                Self::start_lines(live, label, len, every, Box::new(std::io::stderr()))
            }
            Mode::Bar => Self::start_bar(live, label, len),
        }
    }

    /// Plain lines into `sink` every `every` of the run clock.
    pub fn start_lines(
        live: Arc<Live>,
        label: &str,
        len: Length,
        every: Duration,
        mut sink: Box<dyn Write + Send>,
    ) -> Progress {
        let label = label.to_string();
        let every = every.max(Duration::from_millis(100));
        let task = tokio::spawn(async move {
            // Lines fall on whole multiples of `every` on the run clock, which starts when
            // the runner sets the origin (shortly after this view starts, or later at --start-at).
            let origin = loop {
                match live.origin.get() {
                    Some(o) => break *o,
                    None => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
            let mut tick = tokio::time::interval_at(origin + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(e) = elapsed(&live) else { continue };
                let text = line(&label, &Snapshot::read(&live, e), len);
                // A closed stderr must not stop the run.
                let _ = writeln!(sink, "{text}").and_then(|_| sink.flush());
            }
        });
        Progress {
            bar: None,
            task: Some(task),
        }
    }

    fn start_bar(live: Arc<Live>, label: &str, len: Length) -> Progress {
        let pb = match len {
            Length::Open => indicatif::ProgressBar::new_spinner(),
            _ => indicatif::ProgressBar::new(1000),
        };
        let template = match len {
            Length::Open => "{spinner} {prefix}{msg}",
            _ => "{spinner} {prefix}[{bar:30}] {msg}",
        };
        pb.set_style(
            indicatif::ProgressStyle::with_template(template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_prefix(label.to_string());
        let bar = pb.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let s = Snapshot::read(&live, elapsed(&live).unwrap_or_default());
                if let Some(f) = s.fraction(len) {
                    bar.set_position((f * 1000.0) as u64);
                }
                bar.set_message(bar_message(&s, len));
                bar.tick();
            }
        });
        Progress {
            bar: Some(pb),
            task: Some(task),
        }
    }

    /// Stops the view and clears the bar.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::{Outcome, Phase, RequestRecord};
    use crate::metrics::recent::{bucket_mid_ms, bucket_of, BUCKETS, SEC_US, SLOTS};

    const S: u64 = SEC_US;

    #[test]
    fn buckets_hold_values_within_two_percent() {
        for us in [150u64, 1_000, 4_321, 310_000, 720_000, 9_999_999] {
            let mid = bucket_mid_ms(bucket_of(us)) * 1e3;
            let err = (mid - us as f64).abs() / us as f64;
            assert!(err <= 0.01, "{us} µs → {mid} µs");
        }
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn window_covers_the_last_five_settled_seconds() {
        let r = Recent::default();
        // One request ending in each of seconds 0..=12, TTFT = (second + 1) × 10 ms, with
        // 100 output tokens; second 12 is still open at 12.5 s.
        for sec in 0..=12u64 {
            r.add_raw(sec * S + 400_000, Some((sec + 1) * 10_000), 100);
        }
        // At 12.5 s seconds 0..12 have settled; the window is 7..12 (TTFT 80..120 ms).
        let w = r.window(12 * S + 500_000);
        assert_eq!(w.seconds, 5);
        assert_eq!(w.ended, 5);
        assert!((w.output_tok_s - 100.0).abs() < 1e-9);
        let p50 = w.ttft_p50_ms.expect("p50");
        let p99 = w.ttft_p99_ms.expect("p99");
        assert!((p50 - 100.0).abs() / 100.0 <= 0.02, "{p50}");
        assert!((p99 - 120.0).abs() / 120.0 <= 0.02, "{p99}");
        // At 11.2 s second 10 (which ends at 11 s) has not settled: the window is 5..10
        // (TTFT 60..100 ms).
        let w = r.window(11 * S + 200_000);
        assert_eq!(w.ended, 5);
        let p99 = w.ttft_p99_ms.expect("p99");
        assert!((p99 - 100.0).abs() / 100.0 <= 0.02, "{p99}");
    }

    #[test]
    fn early_window_is_shorter_and_empty_before_the_first_second_settles() {
        let r = Recent::default();
        r.add_raw(100_000, Some(5_000), 10);
        let w = r.window(1_200_000);
        assert_eq!((w.seconds, w.ended), (0, 0));
        assert_eq!(w.ttft_p50_ms, None);
        let w = r.window(2_500_000);
        assert_eq!((w.seconds, w.ended), (2, 1));
        assert!((w.output_tok_s - 5.0).abs() < 1e-9);
    }

    #[test]
    fn percentiles_match_a_known_distribution() {
        // 1000 requests in second 3, TTFT uniform over 1..=1000 ms: p50 500 ms, p99 990 ms.
        let r = Recent::default();
        for i in 1..=1000u64 {
            r.add_raw(3 * S + i, Some(i * 1000), 2);
        }
        let w = r.window(6 * S);
        assert_eq!(w.ended, 1000);
        assert_eq!(w.seconds, 5);
        assert!((w.output_tok_s - 400.0).abs() < 1e-9);
        let (p50, p99) = (w.ttft_p50_ms.unwrap(), w.ttft_p99_ms.unwrap());
        assert!((p50 - 500.0).abs() / 500.0 <= 0.04, "{p50}");
        assert!((p99 - 990.0).abs() / 990.0 <= 0.04, "{p99}");
    }

    #[test]
    fn the_ring_forgets_old_seconds_and_ignores_stale_records() {
        let r = Recent::default();
        r.add_raw(S / 2, Some(1_000_000), 1_000); // second 0
        r.add_raw((SLOTS as u64) * S + S / 2, Some(2_000), 1); // reuses second 0's slot
        r.add_raw(S / 2, Some(1_000_000), 1_000); // a stale record for second 0: dropped
        let w = r.window((SLOTS as u64 + 2) * S);
        assert_eq!(w.ended, 1);
        assert!(w.ttft_p99_ms.unwrap() < 3.0);
        // Second 0 is no longer readable even where a window would cover it.
        assert_eq!(r.window(2 * S).ended, 0);
    }

    #[test]
    fn only_ok_requests_give_a_ttft_and_unsent_ones_no_tokens() {
        let r = Recent::default();
        let mut rec = RequestRecord::unsent(0, "m".into(), Phase::Measure, Outcome::Ok, 0, 0);
        rec.t_send_us = Some(1_000);
        rec.t_first_us = Some(51_000);
        rec.t_end_us = 500_000;
        rec.output_tokens = Some(7);
        r.add(&rec);
        rec.outcome = Outcome::TimeoutIdle;
        rec.t_first_us = Some(900_000);
        r.add(&rec);
        rec.outcome = Outcome::Dropped;
        rec.output_tokens = Some(1_000);
        r.add(&rec);
        let w = r.window(2 * S + 500_000);
        assert_eq!((w.seconds, w.ended), (2, 3));
        assert!((w.output_tok_s - 7.0).abs() < 1e-9); // 14 tokens over 2 s
        assert!((w.ttft_p99_ms.unwrap() - 50.0).abs() <= 1.0);
    }

    fn snap(elapsed_s: u64, sent: u64) -> Snapshot {
        Snapshot {
            elapsed: Duration::from_secs(elapsed_s),
            sent,
            ok: sent - 15,
            failed: 1,
            dropped: 0,
            in_flight: 12,
            window: Windowed {
                seconds: 5,
                ended: 99,
                ttft_p50_ms: Some(310.2),
                ttft_p99_ms: Some(719.6),
                output_tok_s: 1180.4,
            },
        }
    }

    #[test]
    fn plain_line_format() {
        let s = snap(15, 312);
        assert_eq!(
            line("", &s, Length::Time(Duration::from_secs(60))),
            "[  15s/60s  25%] sent 312 ok 297 failed 1 in-flight 12 | TTFT p50 310 ms p99 720 ms (last 5 s) | out 1,180 tok/s"
        );
        assert_eq!(
            line("step 3/10 ", &s, Length::Requests(1248)),
            "step 3/10 [  15s 312/1248  25%] sent 312 ok 297 failed 1 in-flight 12 | TTFT p50 310 ms p99 720 ms (last 5 s) | out 1,180 tok/s"
        );
        let mut s = snap(2, 20);
        s.dropped = 1234;
        s.window = Windowed {
            seconds: 1,
            ended: 0,
            ttft_p50_ms: None,
            ttft_p99_ms: None,
            output_tok_s: 0.0,
        };
        assert_eq!(
            line("", &s, Length::Open),
            "[   2s] sent 20 ok 5 failed 1 dropped 1,234 in-flight 12 | TTFT - (last 1 s) | out 0 tok/s"
        );
        s.window.seconds = 0;
        s.elapsed = Duration::from_millis(900);
        assert_eq!(
            line("", &s, Length::Time(Duration::from_millis(2500))),
            "[   0s/3s  36%] sent 20 ok 5 failed 1 dropped 1,234 in-flight 12 | TTFT -"
        );
    }

    #[test]
    fn units_and_grouping() {
        assert_eq!(ms(4.24), "4.2 ms");
        assert_eq!(ms(999.6), "1000 ms");
        assert_eq!(ms(12_345.0), "12.3 s");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }

    #[test]
    fn fraction_and_eta_are_clamped_and_follow_the_bound() {
        let t = Length::Time(Duration::from_secs(60));
        let s = snap(75, 500);
        assert_eq!(s.fraction(t), Some(1.0));
        assert_eq!(s.eta(t), Some(Duration::ZERO));
        // 300 sent in 15 s: 20/s; 900 left → 45 s.
        let s = snap(15, 300);
        assert_eq!(s.eta(Length::Requests(1200)), Some(Duration::from_secs(45)));
        assert_eq!(s.fraction(Length::Requests(1200)), Some(0.25));
        assert_eq!(s.eta(Length::Open), None);
        assert_eq!(
            bar_message(&s, Length::Requests(1200)),
            format!("0:15 300/1,200 25% ETA 0:45 | {}", body(&s))
        );
        assert_eq!(
            bar_message(&s, t).split(" | ").next(),
            Some("0:15/1:00 25% ETA 0:45")
        );
    }

    #[test]
    fn length_from_the_plan_load() {
        let mut load = Load {
            shape: crate::config::plan::Shape::Closed {
                profile: crate::config::schedule::ConcurrencyProfile::constant(1, None),
            },
            max_in_flight: 1,
            on_full: crate::config::plan::OnFull::Queue,
            warmup: Duration::from_secs(2),
            duration: Some(Duration::from_secs(10)),
            requests: Some(100),
            cooldown: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(5),
        };
        assert_eq!(Length::of(&load, 1), Length::Time(Duration::from_secs(13)));
        load.duration = None;
        assert_eq!(Length::of(&load, 3), Length::Requests(34));
        load.requests = None;
        assert_eq!(Length::of(&load, 1), Length::Open);
    }

    #[test]
    fn mode_choice() {
        let ten = Some(Duration::from_secs(10));
        assert_eq!(Mode::choose(true, ten, true), Mode::Off);
        assert_eq!(Mode::choose(true, ten, false), Mode::Off);
        assert_eq!(Mode::choose(false, ten, true), Mode::Bar);
        assert_eq!(
            Mode::choose(false, ten, false),
            Mode::Lines(Duration::from_secs(10))
        );
        assert_eq!(
            Mode::choose(false, None, false),
            Mode::Lines(DEFAULT_INTERVAL)
        );
    }

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn lines_come_every_interval_with_the_counters_of_that_moment() {
        let live = Arc::new(Live::default());
        let origin = tokio::time::Instant::now();
        let _ = live.origin.set(origin);
        let sink = Shared::default();
        let view = Progress::start_lines(
            live.clone(),
            "",
            Length::Time(Duration::from_secs(10)),
            Duration::from_secs(2),
            Box::new(sink.clone()),
        );
        // 10 requests a second, each ending 50 ms after it is sent with TTFT 40 ms and 20
        // tokens, for 7 s.
        for i in 0..70u64 {
            tokio::time::sleep_until(origin + Duration::from_millis(100 * i + 1)).await;
            live.sent.fetch_add(1, Ordering::Relaxed);
            live.ok.fetch_add(1, Ordering::Relaxed);
            live.recent.add_raw(i * 100_000 + 50_000, Some(40_000), 20);
        }
        tokio::time::sleep_until(origin + Duration::from_millis(7_500)).await;
        view.finish();
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0]
                .starts_with("[   2s/10s  20%] sent 20 ok 20 failed 0 in-flight 0 | TTFT p50 40"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].ends_with("(last 1 s) | out 200 tok/s"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].starts_with("[   4s/10s  40%] sent 40 "),
            "{}",
            lines[1]
        );
        assert!(
            lines[2].starts_with("[   6s/10s  60%] sent 60 "),
            "{}",
            lines[2]
        );
        assert!(
            lines[2].ends_with("(last 5 s) | out 200 tok/s"),
            "{}",
            lines[2]
        );
    }
}
