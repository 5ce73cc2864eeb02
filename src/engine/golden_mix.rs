//! `[quality] mix`: the answers to the golden requests mixed into the load (which arrivals are
//! golden, and which answers are kept, is the runner's `golden` part) folded into the result's
//! quality section as a golden pass's are, with `mode = "mix"`, the share, and per model the
//! golden requests answered.
//!
//! A line asked several times counts each answer in the model's figures; the score relative
//! to the baseline compares the lines' mean scores.

use crate::config::plan::{Plan, QualityRun};
use crate::engine::golden::{add_judge, assemble};
use crate::engine::runner::{ClientWithQuotas, GoldenReply};
use crate::results::QualityResult;

/// The quality section of a run whose plan mixes golden requests into the load, from the
/// answers the runner kept (any order) and the load's wall time, graded by the judge (after
/// the load, through `targets`) when the plan has one; None without a mix.
pub async fn result(
    plan: &Plan,
    targets: &[ClientWithQuotas],
    mut replies: Vec<GoldenReply>,
    elapsed_s: f64,
) -> Option<QualityResult> {
    let q = plan.quality.as_ref()?;
    let QualityRun::Mix(share) = q.run else {
        return None;
    };
    // Per model in arrival order, so the result lists each model's answers as they were asked.
    replies.sort_by_key(|r| (r.model, r.index, r.line));
    let mut out = assemble(plan, q, &replies, elapsed_s);
    out.mode = "mix".into();
    out.share = Some(share);
    for (m, entry) in out.models.iter_mut().enumerate() {
        entry.golden_requests = Some(replies.iter().filter(|r| r.model == m).count() as u64);
    }
    add_judge(plan, targets, &replies, &mut out).await;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::Source;
    use crate::core::record::Outcome;

    /// A plan with two models and a three-line golden set mixed at 10 %.
    fn plan(dir: &std::path::Path) -> Plan {
        std::fs::write(
            dir.join("golden.jsonl"),
            "{\"id\": \"yes\", \"prompt\": \"a\", \"checks\": [{\"contains\": \"yes\"}]}\n\
             {\"id\": \"no\", \"prompt\": \"b\", \"checks\": [{\"not_contains\": \"no\"}]}\n\
             {\"id\": \"ref\", \"prompt\": \"c\", \"reference\": \"yes indeed\"}\n",
        )
        .expect("golden written");
        let src = Source {
            path: dir.join("s.toml"),
            text: "name = \"m\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
                   [[models]]\nid = \"a\"\ntarget = \"sim\"\n[[models]]\nid = \"b\"\ntarget = \"sim\"\n\
                   [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 10\n\
                   [quality]\ngolden = \"golden.jsonl\"\nmix = 0.1\nbaseline = \"a\"\n"
                .into(),
        };
        let f = src.parse().expect("parses");
        Plan::build(&src, f).expect("valid")
    }

    fn reply(model: usize, line: usize, index: u64, outcome: Outcome, text: &str) -> GoldenReply {
        GoldenReply {
            model,
            line,
            index: Some(index),
            outcome,
            finish_reason: Some("stop".into()),
            text: text.into(),
        }
    }

    #[tokio::test]
    async fn every_answer_counts_and_the_section_says_mix() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let p = plan(dir.path());
        let replies = vec![
            reply(1, 0, 9, Outcome::Ok, "no"),
            reply(0, 0, 4, Outcome::Ok, "yes"),
            reply(0, 0, 1, Outcome::Ok, "yes"),
            reply(0, 1, 2, Outcome::TimeoutTotal, ""),
            reply(1, 0, 3, Outcome::Ok, "yes"),
            reply(1, 2, 5, Outcome::Ok, "yes indeed"),
        ];
        let q = result(&p, &[], replies, 2.5).await.expect("a mix");
        assert_eq!(
            (q.mode.as_str(), q.share, q.elapsed_s),
            ("mix", Some(0.1), 2.5)
        );
        let (a, b) = (&q.models[0], &q.models[1]);
        assert_eq!((a.golden_requests, b.golden_requests), (Some(3), Some(3)));
        // a: "yes" twice (1, 1) and a timeout on "no" (a miss): 2 / 3.
        let sa = a.quality.overall.score.expect("a score");
        assert!((sa.value - 2.0 / 3.0).abs() < 1e-12, "{sa:?}");
        assert_eq!(a.quality.overall.n_unscorable, 1);
        let idx: Vec<Option<u64>> = a.golden.iter().map(|g| g.index).collect();
        assert_eq!(idx, [Some(1), Some(2), Some(4)]);
        assert_eq!(
            a.golden[1].unscorable.as_deref(),
            Some("request failed (timeout_total)")
        );
        // b: "yes" once passed, once failed: 1 / 2; relative to a on the line both answered
        // ("yes": a's mean 1, b's mean 0.5).
        let ob = &b.quality.overall;
        assert!((ob.score.expect("a score").value - 0.5).abs() < 1e-12);
        assert!((ob.relative.expect("relative").value - 0.5).abs() < 1e-12);
        // Every answer of b is compared with a reference: "ref" with its own, "yes" (no
        // reference of its own) with the baseline a's whole answer to it.
        assert_eq!(ob.similarity.expect("a reference").n, 3);
        assert_eq!(q.similarity_reference.get("line"), Some(&1));
    }

    #[tokio::test]
    async fn a_plan_without_a_mix_gives_no_section() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut p = plan(dir.path());
        if let Some(q) = p.quality.as_mut() {
            q.run = QualityRun::Pass;
        }
        assert!(result(&p, &[], Vec::new(), 1.0).await.is_none());
    }
}
