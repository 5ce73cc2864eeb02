//! Judging claims while a run is still going (`llmload run --claims` with `abort = true`).
//!
//! About once a second the runner hands its collector to a [`LiveGate`]; the metrics so far
//! (the window cut at "now") are judged like a finished result, and the first claim that is
//! already lost — a FAIL with enough samples, never an inconclusive one — is the reason to stop
//! new arrivals. In-flight requests then finish as after an interrupt, and the final check runs
//! on everything measured. A snapshot is judged with no validity thresholds: validity is a
//! property of the finished run.

use crate::analysis::gate::claims::{Claims, Severity};
use crate::analysis::gate::eval::{self, Verdict};
use crate::config::plan::Plan;
use crate::metrics::{Collector, Window};
use crate::results::{self, RunMeta};

/// The claims marked `abort = true` (severity `fail`) of one run, with the plan their
/// snapshots are assembled from. Quality claims are not watched: the golden-set scores are not
/// part of the load's figures so far.
pub struct LiveGate {
    plan: Plan,
    watched: Claims,
}

impl LiveGate {
    /// The gate for `claims` under `plan`; None when no claim may stop the run (none is marked
    /// `abort = true` with severity `fail`, or only quality claims are).
    pub fn new(plan: &Plan, claims: &Claims) -> Option<LiveGate> {
        let mut watched = claims.clone();
        watched
            .claims
            .retain(|c| c.abort && c.severity == Severity::Fail && !c.metric.name.is_quality());
        if watched.claims.is_empty() {
            return None;
        }
        Some(LiveGate {
            plan: plan.clone(),
            watched,
        })
    }

    /// Why the run should stop now (`now_us` on the run's clock): the first watched claim the
    /// metrics so far already fail, with what was measured and the limit. None before the
    /// window opens, while every watched claim holds or is inconclusive. The collector's window
    /// is restored before returning.
    pub fn lost(&self, c: &mut Collector, now_us: u64) -> Option<String> {
        let saved = c.window();
        if now_us <= saved.start_us {
            return None;
        }
        c.set_window(Window {
            start_us: saved.start_us,
            end_us: Some(saved.end_us.map_or(now_us, |e| e.min(now_us))),
        });
        let snapshot = results::build(&self.plan, c, RunMeta::live());
        c.set_window(saved);
        let eval = eval::evaluate(&self.watched, &snapshot, "the live run").ok()?;
        eval.rows
            .iter()
            .find(|r| r.verdict == Verdict::Fail)
            .map(|r| {
                format!(
                    "claim `{}` (abort = true) was lost during the run: measured {}, limit {}",
                    r.claim.title(),
                    r.measured_text(),
                    r.limit_text()
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::analysis::gate::claims;
    use crate::config::scenario::Source;
    use crate::core::record::{Outcome, Phase, RequestRecord};

    fn plan() -> Plan {
        let src = Source {
            path: PathBuf::from("live.toml"),
            text: r#"name = "live"
[[targets]]
name = "mock"
base_url = "mock"
[[models]]
id = "m"
target = "mock"
[workload]
prompts = ["hi"]
max_tokens = 4
[load]
concurrency = 1
warmup = "1s"
duration = "60s"
"#
            .into(),
        };
        let f = src.parse().expect("scenario parses");
        Plan::build(&src, f).expect("scenario is valid")
    }

    fn claims(text: &str) -> Claims {
        claims::parse(Path::new("claims.toml"), text).expect("claims parse")
    }

    /// A collector whose window opens at 1 s, holding `n` successful measured requests sent
    /// one per 100 ms from 1 s on, each with its first token `ttft_ms` after sending.
    fn collector(plan: &Plan, n: u64, ttft_ms: u64) -> Collector {
        let window = Window {
            start_us: 1_000_000,
            end_us: Some(61_000_000),
        };
        let mut c = Collector::new(1, window, vec![plan.models[0].slo], 60_000_000);
        for i in 0..n {
            let t = 1_000_000 + i * 100_000;
            let mut r = RequestRecord::unsent(i, "m".into(), Phase::Measure, Outcome::Ok, t, t);
            r.t_send_us = Some(t);
            r.t_headers_us = Some(t + 1_000);
            r.t_first_us = Some(t + ttft_ms * 1_000);
            r.t_first_answer_us = r.t_first_us;
            r.t_last_us = Some(t + ttft_ms * 1_000 + 3_000);
            r.t_end_us = t + ttft_ms * 1_000 + 3_100;
            r.output_tokens = Some(4);
            r.output_events = 4;
            c.add(0, &r);
        }
        c
    }

    const ABORT_TTFT: &str = "[[claims]]\nexpr = \"ttft.p50 <= 20ms\"\nabort = true\n";

    #[test]
    fn only_failing_abort_claims_are_watched() {
        let p = plan();
        assert!(LiveGate::new(&p, &claims("[[claims]]\nexpr = \"ttft.p50 <= 20ms\"\n")).is_none());
        let warn = "[[claims]]\nexpr = \"ttft.p50 <= 20ms\"\nabort = true\nseverity = \"warn\"\n";
        assert!(LiveGate::new(&p, &claims(warn)).is_none());
        assert!(LiveGate::new(&p, &claims(ABORT_TTFT)).is_some());
        // Golden-set scores are not in the load's figures so far: judged on the finished run.
        let quality = "[[claims]]\nexpr = \"quality.score >= 0.8\"\nmodel = \"m\"\nabort = true\n";
        assert!(LiveGate::new(&p, &claims(quality)).is_none());
    }

    #[test]
    fn a_lost_claim_stops_the_run_with_its_figures() {
        let p = plan();
        let gate = LiveGate::new(&p, &claims(ABORT_TTFT)).expect("watched");
        // 50 requests with a 150 ms TTFT: the median is 150 ms against a 20 ms limit.
        let mut c = collector(&p, 50, 150);
        let why = gate.lost(&mut c, 7_000_000).expect("the claim is lost");
        assert!(why.starts_with("claim `ttft.p50 <= 20ms` (abort = true) was lost during the run"));
        assert!(why.contains("measured 150.0 ms"), "{why}");
        assert!(why.ends_with("limit <= 20.0 ms"), "{why}");
        // The collector's window is as it was: the final result covers the whole window.
        assert_eq!(c.window().start_us, 1_000_000);
        assert_eq!(c.window().end_us, Some(61_000_000));
    }

    #[test]
    fn a_claim_that_holds_does_not_stop_the_run() {
        let p = plan();
        let gate = LiveGate::new(&p, &claims(ABORT_TTFT)).expect("watched");
        let mut c = collector(&p, 50, 5);
        assert_eq!(gate.lost(&mut c, 7_000_000), None);
    }

    #[test]
    fn nothing_is_judged_before_the_window_opens() {
        let p = plan();
        let gate = LiveGate::new(&p, &claims(ABORT_TTFT)).expect("watched");
        let mut c = collector(&p, 50, 150);
        assert_eq!(gate.lost(&mut c, 1_000_000), None);
    }

    #[test]
    fn too_few_samples_are_inconclusive_not_lost() {
        let p = plan();
        let gate = LiveGate::new(&p, &claims(ABORT_TTFT)).expect("watched");
        let mut c = collector(&p, 0, 150);
        assert_eq!(gate.lost(&mut c, 7_000_000), None);
    }
}
