//! `[load]`: the load's shape (open loop at a rate, closed loop at a concurrency, stages of
//! either, or a trace replay) and the run's length, phases and in-flight cap.

use std::sync::Arc;
use std::time::Duration;

use super::{Load, OnFull, Problems, Shape, Trace, DEFAULT_MAX_IN_FLIGHT};
use crate::config::scenario::{ArrivalKind, LoadSpec, OnFullKind, StageSpec};
use crate::config::schedule::{
    ArrivalProcess, ConcurrencyProfile, ConcurrencyStage, RateProfile, RateSegment,
};

/// The load, or None when a problem leaves no load to build (always reported).
pub(super) fn build(l: &LoadSpec, trace: Option<Arc<Trace>>, p: &mut Problems) -> Option<Load> {
    let warmup = l.warmup.map(|d| d.0).unwrap_or_default();
    let cooldown = l.cooldown.map(|d| d.0).unwrap_or_default();
    let drain_timeout = l
        .drain_timeout
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(30));
    let kinds = [
        l.concurrency.is_some(),
        l.rate.is_some(),
        l.stages.is_some(),
        trace.is_some(),
    ];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        p.push(
            "load",
            "give exactly one of `rate` (open loop), `concurrency` (closed loop), `stages` or `trace`",
        );
        return None;
    }
    if l.requests == Some(0) {
        p.push("load.requests", "must be at least 1");
    }
    if let Some(d) = l.duration {
        if d.0.is_zero() {
            p.push("load.duration", "must be greater than 0");
        }
    }
    let (shape, duration) = if let Some(t) = trace {
        replay(l, t, p)?
    } else if let Some(stages) = &l.stages {
        staged(l, stages, warmup, cooldown, p)?
    } else {
        steady(l, warmup, cooldown, p)?
    };
    if let Shape::Closed { profile } = &shape {
        if profile.max() == 0 {
            p.push(
                "load",
                "the concurrency is 0 throughout: no request could be sent",
            );
            return None;
        }
    }
    let max_in_flight = in_flight_cap(l, &shape, p)?;
    let on_full = match l.on_full {
        Some(OnFullKind::Drop) => OnFull::Drop,
        _ => OnFull::Queue,
    };
    let requests = match &shape {
        Shape::Trace(t) => Some(l.requests.unwrap_or(u64::MAX).min(t.entries.len() as u64)),
        _ => l.requests,
    };
    Some(Load {
        shape,
        max_in_flight,
        on_full,
        warmup,
        duration,
        requests,
        cooldown,
        drain_timeout,
    })
}

/// A trace replay (None when the trace holds no request; its problem is already reported).
fn replay(l: &LoadSpec, t: Arc<Trace>, p: &mut Problems) -> Option<(Shape, Option<Duration>)> {
    if t.entries.is_empty() {
        return None;
    }
    if l.arrival.is_some() || l.burstiness.is_some() {
        p.push(
            "load.arrival",
            "a trace replays its own arrival times; drop `arrival`/`burstiness`",
        );
    }
    Some((Shape::Trace(t), l.duration.map(|d| d.0)))
}

/// Stages of rates or of concurrencies; the measurement window is their total less the
/// warmup and cooldown.
fn staged(
    l: &LoadSpec,
    stages: &[StageSpec],
    warmup: Duration,
    cooldown: Duration,
    p: &mut Problems,
) -> Option<(Shape, Option<Duration>)> {
    if stages.is_empty() {
        p.push("load.stages", "the list is empty");
        return None;
    }
    if l.duration.is_some() {
        p.push(
            "load.duration",
            "with `stages`, the run length is the stages' total; leave `duration` out",
        );
    }
    let total: Duration = stages.iter().map(|s| s.duration.0).sum();
    let mut ok = true;
    if warmup + cooldown >= total {
        p.push(
            "load.warmup",
            "warmup + cooldown leave no measurement window inside the stages",
        );
        ok = false;
    }
    let open = stages[0].rate.is_some();
    let (segs, cstages) = stage_steps(stages, open, &mut ok, p);
    if !ok {
        return None;
    }
    let shape = if open {
        match RateProfile::new(segs) {
            Ok(profile) => Shape::Open {
                arrival: arrival(l, p)?,
                profile,
            },
            Err(e) => {
                p.push("load.stages", e.to_string());
                return None;
            }
        }
    } else {
        match ConcurrencyProfile::new(cstages) {
            Ok(profile) => Shape::Closed { profile },
            Err(e) => {
                p.push("load.stages", e.to_string());
                return None;
            }
        }
    };
    Some((shape, Some(total - warmup - cooldown)))
}

/// Each stage as a rate segment (an `open` run) or a concurrency stage; a stage that does not
/// fit clears `ok`.
fn stage_steps(
    stages: &[StageSpec],
    open: bool,
    ok: &mut bool,
    p: &mut Problems,
) -> (Vec<RateSegment>, Vec<ConcurrencyStage>) {
    let mut segs = Vec::new();
    let mut cstages = Vec::new();
    for (i, s) in stages.iter().enumerate() {
        let at = |k: &str| format!("load.stages[{i}].{k}");
        if s.duration.0.is_zero() {
            p.push(&at("duration"), "must be greater than 0");
            *ok = false;
        }
        match (open, s.rate, s.concurrency) {
            (true, Some(r), None) => {
                if s.concurrency_to.is_some() {
                    p.push(
                        &at("concurrency_to"),
                        "an open-loop stage takes `rate` and `rate_to`",
                    );
                    *ok = false;
                }
                segs.push(RateSegment {
                    duration: Some(s.duration.0),
                    start_rate: r.0,
                    end_rate: s.rate_to.map(|r| r.0).unwrap_or(r.0),
                });
            }
            (false, None, Some(c)) => {
                if s.rate_to.is_some() {
                    p.push(
                        &at("rate_to"),
                        "a closed-loop stage takes `concurrency` and `concurrency_to`",
                    );
                    *ok = false;
                }
                cstages.push(ConcurrencyStage {
                    duration: Some(s.duration.0),
                    start: c,
                    end: s.concurrency_to.unwrap_or(c),
                });
            }
            _ => {
                p.push(
                    &at(if open { "rate" } else { "concurrency" }),
                    "every stage needs the same kind of value as the first: all `rate` or all `concurrency`",
                );
                *ok = false;
            }
        }
    }
    (segs, cstages)
}

/// One constant rate or concurrency, bounded by `duration`, `requests` or both.
fn steady(
    l: &LoadSpec,
    warmup: Duration,
    cooldown: Duration,
    p: &mut Problems,
) -> Option<(Shape, Option<Duration>)> {
    let duration = l.duration.map(|d| d.0);
    if duration.is_none() && l.requests.is_none() {
        p.push(
            "load",
            "give `duration` or `requests` (or both) to bound the run",
        );
        return None;
    }
    if duration.is_none() && !cooldown.is_zero() {
        p.push(
            "load.cooldown",
            "a cooldown needs `duration`: a run bounded by `requests` has no known end",
        );
    }
    let send = duration.map(|d| warmup + d + cooldown);
    let shape = if let Some(c) = l.concurrency {
        if c == 0 {
            p.push("load.concurrency", "must be at least 1");
            return None;
        }
        Shape::Closed {
            profile: ConcurrencyProfile::constant(c, send),
        }
    } else {
        let rate = l.rate.map(|r| r.0).unwrap_or_default();
        if rate <= 0.0 {
            p.push("load.rate", "must be greater than 0, e.g. \"20/s\"");
            return None;
        }
        match RateProfile::constant(rate, send) {
            Ok(profile) => Shape::Open {
                arrival: arrival(l, p)?,
                profile,
            },
            Err(e) => {
                p.push("load.rate", e.to_string());
                return None;
            }
        }
    };
    Some((shape, duration))
}

/// The in-flight cap: as given, else a closed loop's peak concurrency, else
/// [`DEFAULT_MAX_IN_FLIGHT`]. Open-loop settings on a closed loop are reported here.
fn in_flight_cap(l: &LoadSpec, shape: &Shape, p: &mut Problems) -> Option<u32> {
    if matches!(shape, Shape::Closed { .. }) {
        if l.arrival.is_some() {
            p.push(
                "load.arrival",
                "`arrival` applies to open-loop (`rate`) runs only",
            );
        }
        if l.on_full.is_some() {
            p.push(
                "load.on_full",
                "`on_full` applies to open-loop runs; a closed loop never exceeds its concurrency",
            );
        }
    }
    match (l.max_in_flight, shape) {
        (Some(0), _) => {
            p.push("load.max_in_flight", "must be at least 1");
            None
        }
        (Some(n), _) => Some(n),
        (None, Shape::Closed { profile }) => Some(profile.max()),
        (None, Shape::Open { .. } | Shape::Trace(_)) => Some(DEFAULT_MAX_IN_FLIGHT),
    }
}

/// The open loop's gap process: Poisson unless `arrival` says otherwise; `burstiness` only
/// with gamma.
fn arrival(l: &LoadSpec, p: &mut Problems) -> Option<ArrivalProcess> {
    let kind = l.arrival.unwrap_or(ArrivalKind::Poisson);
    match (kind, l.burstiness) {
        (ArrivalKind::Gamma, b) => {
            let b = b.unwrap_or(1.0);
            if !(b.is_finite() && b > 0.0) {
                p.push(
                    "load.burstiness",
                    "must be greater than 0 (1 = Poisson, < 1 burstier)",
                );
                return None;
            }
            Some(ArrivalProcess::Gamma { burstiness: b })
        }
        (_, Some(_)) => {
            p.push(
                "load.burstiness",
                "`burstiness` applies to arrival = \"gamma\" only",
            );
            None
        }
        (ArrivalKind::Constant, None) => Some(ArrivalProcess::Constant),
        (ArrivalKind::Poisson, None) => Some(ArrivalProcess::Poisson),
    }
}
