//! Operating-system limits a load test runs into before the endpoint does: the open-file limit
//! (one descriptor per connection). Raises the soft limit toward the hard one and says when the
//! plan still cannot fit, so a descriptor shortage is never reported as endpoint errors.

/// Descriptors llmload needs besides its connections (files, runtime, stdio).
pub const RESERVED_FDS: u64 = 64;

/// Outcome of [`ensure_open_files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdLimit {
    /// Soft limit after any raise.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
    /// Descriptors the plan may need.
    pub needed: u64,
}

impl FdLimit {
    /// Whether the plan fits.
    pub fn fits(&self) -> bool {
        self.soft >= self.needed
    }
}

/// Raises the soft open-file limit as far as needed (up to the hard limit) for `connections`
/// concurrent connections. Returns None where limits cannot be read.
pub fn ensure_open_files(connections: u64) -> Option<FdLimit> {
    let needed = connections + RESERVED_FDS;
    #[cfg(unix)]
    {
        // SAFETY: getrlimit/setrlimit only read and write the struct we own.
        let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return None;
        }
        let hard = lim.rlim_max as u64;
        let mut soft = lim.rlim_cur as u64;
        if soft < needed {
            let want = needed.min(hard);
            let new = libc::rlimit {
                rlim_cur: want as libc::rlim_t,
                rlim_max: lim.rlim_max,
            };
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
                soft = want;
            }
        }
        Some(FdLimit { soft, hard, needed })
    }
    #[cfg(not(unix))]
    {
        let _ = needed;
        None
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_needs_fit_and_the_limit_is_reported() {
        let l = super::ensure_open_files(10).expect("rlimit readable");
        assert!(l.fits(), "{l:?}");
        assert!(l.soft <= l.hard);
        assert_eq!(l.needed, 10 + super::RESERVED_FDS);
    }
}
