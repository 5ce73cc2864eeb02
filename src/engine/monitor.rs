//! The generator watching itself: event-loop lag and its own CPU use, sampled during a run, so
//! a result can say when llmload (not the endpoint) was the bottleneck.
//!
//! Owns only sampling. It must stay cheap (a wake-up every 50 ms) and must not count the CPU of
//! an in-process mock server, which runs on threads of its own whose ids are given to it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::core::timer::Timer;
use crate::metrics::meters::Meters;
use crate::results::health::Health;

/// How often the event loop is probed.
const PROBE: Duration = Duration::from_millis(50);

/// A running monitor.
pub struct Monitor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Health>,
}

impl Monitor {
    /// Starts sampling from `start` (the run's clock origin). CPU of the threads in
    /// `exclude_tids` (Linux thread ids) is left out. Each second's CPU is also added to
    /// `meters` (the live metrics), when given.
    pub fn start(start: Instant, exclude_tids: Vec<i32>, meters: Option<Arc<Meters>>) -> Monitor {
        let (stop, mut rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut h = Health::default();
            // The probe sleeps on a precise timer: tokio's 1 ms wheel would add its own
            // rounding (0–1 ms) to every sample and hide the loop's actual lateness.
            let mut timer = Timer::new();
            let mut next = Instant::now() + PROBE;
            let mut last_cpu = generator_cpu(&exclude_tids);
            let mut last_sec: Option<usize> = None;
            loop {
                tokio::select! {
                    _ = timer.sleep_until(next) => {}
                    _ = rx.changed() => break,
                }
                let now = Instant::now();
                h.loop_lag
                    .record(now.saturating_duration_since(next).as_micros() as u64);
                next += PROBE;
                if next < now {
                    // Fell behind by more than a period: resynchronise instead of bursting.
                    next = now + PROBE;
                }
                if now < start {
                    continue;
                }
                let sec = now.duration_since(start).as_secs() as usize;
                if last_sec != Some(sec) {
                    let cpu = generator_cpu(&exclude_tids);
                    if let (Some(prev), Some(c), Some(p)) = (last_sec, cpu, last_cpu) {
                        if h.cpu_per_s.len() <= prev {
                            h.cpu_per_s.resize(prev + 1, 0.0);
                        }
                        h.cpu_per_s[prev] += (c - p).max(0.0);
                        if let Some(m) = &meters {
                            let us = ((c - p).max(0.0) * 1e6) as u64;
                            m.generator_cpu_us.fetch_add(us, Ordering::Relaxed);
                        }
                    }
                    last_cpu = cpu;
                    last_sec = Some(sec);
                }
            }
            h
        });
        Monitor { stop, task }
    }

    /// Stops sampling and returns what was seen.
    pub async fn finish(self) -> Health {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// CPU seconds (user + system) used by this process, minus the excluded threads.
pub fn generator_cpu(exclude_tids: &[i32]) -> Option<f64> {
    let total = process_cpu()?;
    let excluded: f64 = exclude_tids.iter().filter_map(|&t| thread_cpu(t)).sum();
    Some((total - excluded).max(0.0))
}

/// CPU seconds used by the whole process.
pub fn process_cpu() -> Option<f64> {
    // SAFETY: getrusage writes into the zeroed struct we own; no other precondition.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return None;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(tv(ru.ru_utime) + tv(ru.ru_stime))
}

/// CPU seconds used by one thread of this process (Linux; None elsewhere).
pub fn thread_cpu(tid: i32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after the name.
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| ticks / hz as f64)
}

/// The calling thread's id (Linux), for exclusion.
pub fn current_tid() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_readings_move_forward_and_exclusion_subtracts() {
        let a = process_cpu().expect("getrusage");
        let mut x = 0u64;
        let t0 = std::time::Instant::now();
        while t0.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let b = process_cpu().expect("getrusage");
        assert!(b > a, "{a} -> {b}");
        let me = current_tid();
        if cfg!(target_os = "linux") {
            let mine = thread_cpu(me).expect("own thread stat");
            assert!(mine > 0.0);
            let rest = generator_cpu(&[me]).expect("cpu");
            assert!(
                rest <= b - mine + 0.02,
                "excluding this thread must subtract its CPU"
            );
        }
    }
}
