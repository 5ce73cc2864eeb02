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

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::super::TraceItem;
    use super::*;

    /// The load built from a `[load]` table (and `trace`, when given), and the problems found.
    fn check(
        load: &str,
        trace: Option<Arc<Trace>>,
        test: impl FnOnce(Option<&Load>, &[(&str, &str)]),
    ) {
        let (src, f) = scenario(&format!(
            "name = \"t\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[models]]\nid = \"a\"\ntarget = \"sim\"\n\
             [workload]\nprompts = [\"hi\"]\n[load]\n{load}\n"
        ));
        let mut p = Problems::new(&src);
        let built = build(&f.load, trace, &mut p);
        test(built.as_ref(), &fields(p.found()));
    }

    fn trace(n: u64) -> Arc<Trace> {
        let entries = (0..n)
            .map(|i| TraceItem {
                t: Duration::from_secs(i),
                input_tokens: 1,
                output_tokens: 1,
                model: None,
            })
            .collect();
        Arc::new(Trace {
            path: "t.jsonl".into(),
            time_scale: 1.0,
            entries,
            synth: super::super::prompts::synthetic(
                super::super::prompts::generator(None, &[]),
                crate::core::dist::Dist::fixed(1.0),
                0.0,
                0,
                0,
            ),
        })
    }

    #[test]
    fn a_load_has_exactly_one_shape() {
        check(
            "rate = \"2/s\"\nconcurrency = 2\nduration = \"1s\"",
            None,
            |l, problems| {
                assert!(l.is_none());
                assert_eq!(
                problems,
                [(
                    "load",
                    "give exactly one of `rate` (open loop), `concurrency` (closed loop), `stages` or `trace`"
                )]
            );
            },
        );
        check("duration = \"1s\"", None, |l, problems| {
            assert!(l.is_none());
            assert_eq!(problems.len(), 1);
        });
    }

    #[test]
    fn a_closed_loop_caps_in_flight_at_its_concurrency_and_takes_the_default_phases() {
        check("concurrency = 3\nrequests = 10", None, |l, problems| {
            assert_eq!(problems, []);
            let l = l.expect("a load");
            assert!(matches!(&l.shape, Shape::Closed { profile } if profile.max() == 3));
            assert_eq!(l.max_in_flight, 3);
            assert_eq!(l.on_full, OnFull::Queue);
            assert_eq!((l.warmup, l.cooldown), (Duration::ZERO, Duration::ZERO));
            assert_eq!(l.drain_timeout, Duration::from_secs(30));
            assert_eq!((l.duration, l.requests), (None, Some(10)));
            assert_eq!(l.send_end(), None, "only the request count ends it");
        });
    }

    #[test]
    fn an_open_loop_is_poisson_capped_at_the_default_unless_told() {
        check(
            "rate = \"5/s\"\nduration = \"10s\"\nwarmup = \"2s\"\ncooldown = \"1s\"",
            None,
            |l, problems| {
                assert_eq!(problems, []);
                let l = l.expect("a load");
                assert!(matches!(
                    l.shape,
                    Shape::Open {
                        arrival: ArrivalProcess::Poisson,
                        ..
                    }
                ));
                assert_eq!(l.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
                assert_eq!(l.send_end(), Some(Duration::from_secs(13)));
            },
        );
        check(
            "rate = \"5/s\"\nrequests = 5\narrival = \"gamma\"\nburstiness = 0.5\n\
             max_in_flight = 7\non_full = \"drop\"",
            None,
            |l, problems| {
                assert_eq!(problems, []);
                let l = l.expect("a load");
                assert!(matches!(
                    l.shape,
                    Shape::Open {
                        arrival: ArrivalProcess::Gamma { burstiness: 0.5 },
                        ..
                    }
                ));
                assert_eq!((l.max_in_flight, l.on_full), (7, OnFull::Drop));
            },
        );
    }

    #[test]
    fn a_steady_run_needs_a_bound_and_open_loop_settings_need_an_open_loop() {
        check("rate = \"5/s\"", None, |l, problems| {
            assert!(l.is_none());
            assert_eq!(
                problems,
                [(
                    "load",
                    "give `duration` or `requests` (or both) to bound the run"
                )]
            );
        });
        check(
            "concurrency = 2\nrequests = 0\ncooldown = \"1s\"\narrival = \"constant\"\non_full = \"drop\"",
            None,
            |l, problems| {
                assert_eq!(
                    problems,
                    [
                        ("load.requests", "must be at least 1"),
                        (
                            "load.cooldown",
                            "a cooldown needs `duration`: a run bounded by `requests` has no known end"
                        ),
                        (
                            "load.arrival",
                            "`arrival` applies to open-loop (`rate`) runs only"
                        ),
                        (
                            "load.on_full",
                            "`on_full` applies to open-loop runs; a closed loop never exceeds its concurrency"
                        ),
                    ]
                );
                assert!(l.is_some(), "the load is still built for the other checks");
            },
        );
        check(
            "rate = \"5/s\"\nduration = \"1s\"\nburstiness = 2",
            None,
            |l, problems| {
                assert!(l.is_none());
                assert_eq!(
                    problems,
                    [(
                        "load.burstiness",
                        "`burstiness` applies to arrival = \"gamma\" only"
                    )]
                );
            },
        );
        check(
            "concurrency = 1\nrequests = 1\nmax_in_flight = 0",
            None,
            |l, problems| {
                assert!(l.is_none());
                assert_eq!(problems, [("load.max_in_flight", "must be at least 1")]);
            },
        );
    }

    #[test]
    fn stages_measure_their_total_less_warmup_and_cooldown() {
        let stages = "warmup = \"2s\"\ncooldown = \"1s\"\nstages = [\
            { duration = \"5s\", concurrency = 1, concurrency_to = 4 }, \
            { duration = \"5s\", concurrency = 6 }]";
        check(stages, None, |l, problems| {
            assert_eq!(problems, []);
            let l = l.expect("a load");
            assert_eq!(l.duration, Some(Duration::from_secs(7)));
            assert_eq!(l.max_in_flight, 6, "a closed loop's peak concurrency");
            assert_eq!(l.send_end(), Some(Duration::from_secs(10)));
        });
    }

    #[test]
    fn stages_share_one_kind_and_leave_a_measurement_window() {
        let stages = "warmup = \"2s\"\nduration = \"9s\"\nstages = [\
            { duration = \"1s\", rate = \"1/s\", concurrency_to = 3 }, \
            { duration = \"0s\", concurrency = 2 }]";
        check(stages, None, |l, problems| {
            assert!(l.is_none());
            assert_eq!(
                problems,
                [
                    (
                        "load.duration",
                        "with `stages`, the run length is the stages' total; leave `duration` out"
                    ),
                    (
                        "load.warmup",
                        "warmup + cooldown leave no measurement window inside the stages"
                    ),
                    (
                        "load.stages[0].concurrency_to",
                        "an open-loop stage takes `rate` and `rate_to`"
                    ),
                    ("load.stages[1].duration", "must be greater than 0"),
                    (
                        "load.stages[1].rate",
                        "every stage needs the same kind of value as the first: all `rate` or all `concurrency`"
                    ),
                ]
            );
        });
    }

    #[test]
    fn a_replay_sends_at_most_the_traces_requests_at_its_own_times() {
        check("requests = 50", Some(trace(4)), |l, problems| {
            assert_eq!(problems, []);
            let l = l.expect("a load");
            assert!(matches!(l.shape, Shape::Trace(_)));
            assert_eq!(l.requests, Some(4));
            assert_eq!(l.max_in_flight, DEFAULT_MAX_IN_FLIGHT);
        });
        check("arrival = \"gamma\"", Some(trace(2)), |l, problems| {
            assert_eq!(l.map(|l| l.requests), Some(Some(2)));
            assert_eq!(
                problems,
                [(
                    "load.arrival",
                    "a trace replays its own arrival times; drop `arrival`/`burstiness`"
                )]
            );
        });
        check("", Some(trace(0)), |l, problems| {
            assert!(
                l.is_none(),
                "an empty trace (reported by the trace) has no load"
            );
            assert_eq!(problems, []);
        });
    }
}
