//! What the generator's own monitor saw during a run: event-loop lateness and CPU per second.
//! The monitor in the engine fills it; the result's validity reads it.

use crate::metrics::Hist;

/// What the monitor saw.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Lateness of a 50 ms timer on the runtime (µs): how long after its deadline the probe
    /// task ran. The timer is the precise [`crate::core::timer::Timer`] (µs precision on Linux), so this is the loop's own
    /// lateness, not tokio's 1 ms timer rounding.
    pub loop_lag: Hist,
    /// Per whole second since the run's start: CPU seconds used by the generator in it.
    pub cpu_per_s: Vec<f64>,
}
