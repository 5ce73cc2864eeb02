//! Precise sleeping: wake at a deadline with microsecond, not millisecond, precision.
//!
//! tokio's timer wheel has 1 ms slots and rounds every deadline *up* to the next slot, so
//! `tokio::time::sleep_until` wakes 0–1 ms late (uniformly) even on an idle loop. For the
//! open-loop pacer that rounding is schedule lag, and for the self-monitor it is noise in
//! the event-loop lag it means to measure. [`Timer`] removes it.
//!
//! On Linux it arms a `timerfd` (CLOCK_MONOTONIC, absolute deadline) registered with tokio's
//! reactor through [`AsyncFd`]: the kernel's hrtimer fires at the deadline, the runtime's
//! epoll wakes, and the waiting task is polled. No busy-waiting and no extra thread; one fd per
//! [`Timer`], created on first use and re-armed (`timerfd_settime` replaces the previous
//! setting) for every sleep.
//!
//! Contract of [`Timer::sleep_until`]:
//!
//! * **Never early by tokio's clock.** It returns only once `tokio::time::Instant::now() >=
//!   deadline`; every wake-up is checked against the clock, so a stale readiness event (from an
//!   earlier, cancelled sleep) cannot end a later sleep early.
//! * **A deadline that has passed returns at once**, without a system call.
//! * **Cancel-safe.** Dropping the future leaves the fd armed; the next sleep re-arms it and the
//!   clock check above discards the stale expiry.
//! * **Falls back to `tokio::time::sleep_until`** (same results, 1 ms rounding) on other OSes,
//!   when the timerfd cannot be created or registered (then for the rest of the timer's life),
//!   and whenever tokio's clock is paused (tests with `start_paused` / `tokio::time::pause`),
//!   where only tokio's own timer can make virtual time advance.
//!
//! Paused clock detection: a paused tokio clock is frozen between await points, so two reads
//! of `tokio::time::Instant::now()` around a `clock_gettime` return the *same* instant, while
//! a running clock (nanosecond resolution) returns two different ones. Equal readings (retried
//! a few times, so a coarse clock source merely costs precision) select the fallback. This
//! needs no access to tokio internals and cannot mistake a paused clock for a running one.
//!
//! Deadline conversion: the deadline is a `tokio::time::Instant`; the timerfd wants a
//! CLOCK_MONOTONIC timespec. Each arm pairs a reading of tokio's clock `t` with a
//! `clock_gettime(CLOCK_MONOTONIC)` `m` taken just after it and arms at `m + (deadline - t)`.
//! That is exact up to the few tens of nanoseconds between the two reads and errs late, never
//! early; it relies only on tokio's (unpaused) clock running at the rate of CLOCK_MONOTONIC,
//! which holds because std's `Instant` on Linux *is* CLOCK_MONOTONIC (checked by a test
//! below), and it stays right if tokio's clock was paused and resumed (then it is offset from
//! std's by the paused span).
//!
//! Requirement: a tokio runtime with I/O and time enabled (every runtime in this crate uses
//! `enable_all`); without a runtime at all the fallback is used.

use std::fmt;

use tokio::time::Instant;

/// A reusable precise sleeper (see the module docs). One per task that sleeps.
pub struct Timer {
    #[cfg(target_os = "linux")]
    fd: FdState,
}

#[cfg(target_os = "linux")]
enum FdState {
    /// Not needed yet (created on the first sleep that has to wait on a running clock).
    Untried,
    Ready(linux::TimerFd),
    /// Creation, registration or arming failed once: use tokio's timer from then on.
    Failed,
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("precise", &self.is_precise())
            .finish()
    }
}

impl Default for Timer {
    fn default() -> Self {
        Self::new()
    }
}

impl Timer {
    /// A timer; creates nothing until a sleep needs it, so it can be made outside a runtime.
    pub const fn new() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            fd: FdState::Untried,
        }
    }

    /// Whether the timerfd is in use (it has been created and has not failed). False before
    /// the first real wait, on other OSes, after a failure, and while only paused time was
    /// seen.
    pub fn is_precise(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            matches!(self.fd, FdState::Ready(_))
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Sleeps until `deadline` by tokio's clock (not at all if it has passed). Never returns
    /// before it; cancel-safe.
    pub async fn sleep_until(&mut self, deadline: Instant) {
        // Leaving the loop (paused clock, or no usable timerfd) falls back to tokio's timer:
        // on a paused clock only tokio's timer can advance it.
        #[cfg(target_os = "linux")]
        while let Some((now, mono)) = running_clock() {
            if now >= deadline {
                return;
            }
            let Some(fd) = self.fd() else { break };
            let at = linux::add(mono, deadline - now);
            let ok = match fd.arm(at) {
                Ok(()) => fd.wait().await.is_ok(),
                Err(_) => false,
            };
            if !ok {
                self.fd = FdState::Failed;
                break;
            }
            // Woken: loop to check the clock (a stale expiry from a cancelled sleep re-arms).
        }
        tokio::time::sleep_until(deadline).await;
    }

    #[cfg(target_os = "linux")]
    fn fd(&mut self) -> Option<&linux::TimerFd> {
        if let FdState::Untried = self.fd {
            self.fd = match linux::TimerFd::new() {
                Ok(fd) => FdState::Ready(fd),
                Err(_) => FdState::Failed,
            };
        }
        match &self.fd {
            FdState::Ready(fd) => Some(fd),
            _ => None,
        }
    }
}

/// `(tokio now, CLOCK_MONOTONIC read just after it)` if tokio's clock is running; `None` if it
/// is frozen (paused).
#[cfg(target_os = "linux")]
fn running_clock() -> Option<(Instant, libc::timespec)> {
    for _ in 0..4 {
        let t1 = Instant::now();
        let m = linux::mono_now()?;
        let t2 = Instant::now();
        if t2 > t1 {
            return Some((t1, m));
        }
    }
    None
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::time::Duration;

    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;

    /// CLOCK_MONOTONIC now.
    pub(super) fn mono_now() -> Option<libc::timespec> {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec into the struct we own.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        (rc == 0).then_some(ts)
    }

    /// `ts + d`, saturating at the largest representable second.
    // time_t and c_long are i64 here but i32 on some 32-bit targets: keep the conversions.
    #[allow(clippy::useless_conversion)]
    pub(super) fn add(ts: libc::timespec, d: Duration) -> libc::timespec {
        let mut nsec = i64::from(ts.tv_nsec) + i64::from(d.subsec_nanos());
        let mut carry = 0i64;
        if nsec >= 1_000_000_000 {
            nsec -= 1_000_000_000;
            carry = 1;
        }
        let secs = i64::try_from(d.as_secs())
            .ok()
            .and_then(|s| i64::from(ts.tv_sec).checked_add(s))
            .and_then(|s| s.checked_add(carry));
        match secs.and_then(|s| libc::time_t::try_from(s).ok()) {
            Some(tv_sec) => libc::timespec {
                tv_sec,
                tv_nsec: nsec as _,
            },
            None => libc::timespec {
                tv_sec: libc::time_t::MAX,
                tv_nsec: 0,
            },
        }
    }

    /// A non-blocking CLOCK_MONOTONIC timerfd registered with the current runtime's reactor.
    pub(super) struct TimerFd {
        fd: AsyncFd<OwnedFd>,
    }

    impl TimerFd {
        pub(super) fn new() -> io::Result<Self> {
            // AsyncFd registration panics outside a runtime; report that as an error instead.
            tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
            // SAFETY: timerfd_create has no memory preconditions; the result is checked.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a freshly created fd that nothing else owns.
            let owned = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: the OwnedFd is valid and open, and stays so (and refers to the same
            // timer) for as long as the AsyncFd owns it; as_raw_fd always returns that fd.
            let fd = unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
            Ok(Self { fd })
        }

        /// Arms the timer (one-shot) to expire at the absolute CLOCK_MONOTONIC time `at`,
        /// replacing any earlier setting and clearing an unread expiry.
        pub(super) fn arm(&self, at: libc::timespec) -> io::Result<()> {
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: at,
            };
            // An all-zero it_value would disarm instead of firing; CLOCK_MONOTONIC plus a
            // positive wait is never zero, but be sure.
            if at.tv_sec == 0 && at.tv_nsec == 0 {
                return Err(io::Error::other("zero deadline"));
            }
            // SAFETY: the fd is a valid timerfd; `spec` is a valid itimerspec we own and the
            // old-value pointer may be null.
            let rc = unsafe {
                libc::timerfd_settime(
                    self.fd.as_raw_fd(),
                    libc::TFD_TIMER_ABSTIME,
                    &spec,
                    std::ptr::null_mut(),
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }

        /// Waits for the reactor to report the fd readable, then clears the readiness. The
        /// expiry count is not read: the caller checks the clock instead, and the next
        /// `arm` resets the count (so the next expiry is a fresh edge for epoll).
        pub(super) async fn wait(&self) -> io::Result<()> {
            let mut guard = self.fd.readable().await?;
            guard.clear_ready();
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const GENEROUS: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn past_deadline_returns_at_once_without_a_timer() {
        let mut t = Timer::new();
        let t0 = std::time::Instant::now();
        t.sleep_until(Instant::now() - Duration::from_millis(5))
            .await;
        t.sleep_until(Instant::now()).await;
        assert!(t0.elapsed() < GENEROUS);
        // Nothing had to wait, so no fd was created.
        assert!(!t.is_precise());
    }

    #[tokio::test]
    async fn fires_not_before_the_deadline() {
        let mut t = Timer::new();
        for ms in [3u64, 1, 7] {
            let deadline = Instant::now() + Duration::from_millis(ms);
            t.sleep_until(deadline).await;
            let now = Instant::now();
            assert!(now >= deadline, "woke {:?} early", deadline - now);
            assert!(std::time::Instant::now() >= deadline.into_std());
            assert!(now - deadline < GENEROUS, "woke {:?} late", now - deadline);
        }
        assert_eq!(t.is_precise(), cfg!(target_os = "linux"));
    }

    #[tokio::test]
    async fn rearming_earlier_and_later_is_never_early() {
        let mut t = Timer::new();
        let base = Instant::now();
        // Deadlines out of order, sub-millisecond apart, some already passed by the time they
        // are slept on.
        let offs_us = [
            900u64, 300, 2_500, 2_510, 2_000, 4_100, 4_150, 4_149, 6_000, 50,
        ];
        for us in offs_us {
            let deadline = base + Duration::from_micros(us);
            t.sleep_until(deadline).await;
            let now = Instant::now();
            assert!(now >= deadline, "{us} µs: woke {:?} early", deadline - now);
        }
        assert!(base.elapsed() < GENEROUS + Duration::from_millis(6));
    }

    #[tokio::test]
    async fn a_cancelled_sleep_does_not_end_the_next_one_early() {
        use futures_util::FutureExt;
        let mut t = Timer::new();
        // Arm a 50 ms sleep (one poll) and drop it, then let its expiry pass unconsumed: the
        // reactor sees the fd readable while nobody waits on it.
        let first = t
            .sleep_until(Instant::now() + Duration::from_millis(50))
            .now_or_never();
        assert!(first.is_none(), "a 50 ms sleep finished on its first poll");
        tokio::time::sleep(Duration::from_millis(80)).await;
        // The next sleep must not take that stale readiness as its own expiry.
        let deadline = Instant::now() + Duration::from_millis(30);
        t.sleep_until(deadline).await;
        let now = Instant::now();
        assert!(now >= deadline, "woke {:?} early", deadline - now);

        // And a long sleep dropped early does not delay a shorter one that follows.
        let long = t
            .sleep_until(Instant::now() + Duration::from_secs(30))
            .now_or_never();
        assert!(long.is_none());
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_millis(3);
        t.sleep_until(deadline).await;
        let now = Instant::now();
        assert!(now >= deadline);
        assert!(
            now - t0 < Duration::from_secs(10),
            "re-arm did not replace the 30 s deadline"
        );
        assert_eq!(t.is_precise(), cfg!(target_os = "linux"));
    }

    #[tokio::test(start_paused = true)]
    async fn paused_clock_uses_tokio_time() {
        let mut t = Timer::new();
        let real = std::time::Instant::now();
        let deadline = Instant::now() + Duration::from_secs(60);
        t.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
        // Auto-advance made it instant in real time; a timerfd would have waited 60 s.
        assert!(real.elapsed() < Duration::from_secs(30));
        assert!(!t.is_precise());
    }

    #[test]
    fn without_a_runtime_creation_fails_cleanly() {
        #[cfg(target_os = "linux")]
        assert!(linux::TimerFd::new().is_err());
    }

    /// The conversion relies on tokio's clock (std's `Instant`) running at CLOCK_MONOTONIC's
    /// rate; on Linux std's `Instant` *is* CLOCK_MONOTONIC. Check it is the same clock by
    /// bracketing a std reading between two clock_gettime readings (std's Debug output shows
    /// its timespec).
    #[cfg(target_os = "linux")]
    #[test]
    fn std_instant_is_clock_monotonic() {
        let ns = |ts: libc::timespec| ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128;
        let before = linux::mono_now().expect("clock_gettime");
        let std_now = std::time::Instant::now();
        let after = linux::mono_now().expect("clock_gettime");
        let dbg = format!("{std_now:?}");
        let nums: Vec<i128> = dbg
            .split(|c: char| !c.is_ascii_digit())
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(
            nums.len(),
            2,
            "std's Instant Debug format changed ({dbg}); update this check"
        );
        let s = nums[0] * 1_000_000_000 + nums[1];
        assert!(
            ns(before) <= s && s <= ns(after),
            "std Instant {dbg} is not between CLOCK_MONOTONIC readings {before:?} and {after:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn timespec_addition_carries_and_saturates() {
        let ts = libc::timespec {
            tv_sec: 10,
            tv_nsec: 999_999_000,
        };
        let r = linux::add(ts, Duration::from_nanos(1_500));
        assert_eq!((r.tv_sec, r.tv_nsec), (11, 500));
        let r = linux::add(ts, Duration::from_secs(2));
        assert_eq!((r.tv_sec, r.tv_nsec), (12, 999_999_000));
        let r = linux::add(ts, Duration::MAX);
        assert_eq!(r.tv_sec, libc::time_t::MAX);
    }
}
