//! `[quality]` golden pass: every golden line sent once to every model before the load,
//! through the run's own target clients, a few at a time; each answer scored by its line's
//! checks and the answers folded into quality figures per model and class.
//!
//! The pass is not part of the measured load: its requests are not written to the records,
//! not counted in any latency, throughput or cost figure, and do not wait on the targets'
//! quotas. What it sends and how the result reads are stated in docs/quality.md.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::config::golden::{Answer, GoldenLine, LineScore, Similarity};
use crate::config::plan::{Plan, Quality, QualityRun};
use crate::core::record::Outcome;
use crate::engine::client::Clock;
use crate::engine::judge::{self, capped, ToJudge};
use crate::engine::runner::{ClientWithQuotas, GoldenReply as Reply};
use crate::engine::side::{send, Ask};
use crate::metrics::quality::{add_relative, summarize};
use crate::results::{GoldenAnswer, ModelQualityResult, QualityResult};

/// Golden requests in flight at once during the pass.
pub const CONCURRENCY: usize = 4;

/// `max_tokens` of a golden request: the line's own, else the mean of the first class's
/// `max_tokens` (its value when fixed), at least 1.
fn max_tokens(plan: &Plan, line: &GoldenLine) -> u32 {
    line.prompt.max_tokens.unwrap_or_else(|| {
        let mean = plan
            .workload
            .classes
            .first()
            .map_or(1.0, |c| c.max_tokens.mean());
        mean.round().clamp(1.0, f64::from(u32::MAX)) as u32
    })
}

/// Sends golden line `line` to model `m` and keeps what came back.
async fn ask(
    plan: &Plan,
    q: &Quality,
    targets: &[ClientWithQuotas],
    clock: &Clock,
    (m, line): (usize, usize),
) -> Reply {
    let golden = &q.golden.lines[line];
    let request = Ask {
        system: None,
        prompt: &golden.prompt.body,
        max_tokens: max_tokens(plan, golden),
        images: &golden.prompt.images,
        want_text: true,
    };
    let Some(mut rec) = send(plan, targets, clock, m, request).await else {
        // A model without a client: an unsent request, a miss.
        return Reply {
            model: m,
            line,
            index: None,
            outcome: Outcome::Cancelled,
            finish_reason: None,
            text: String::new(),
        };
    };
    Reply {
        model: m,
        line,
        index: None,
        outcome: rec.outcome,
        finish_reason: rec.finish_reason.take(),
        text: rec.output_text.take().unwrap_or_default(),
    }
}

/// How a reply reads to the scorer: a failed request, or the text with whether it was cut
/// at its token limit.
fn answer(r: &Reply) -> Answer<'_> {
    if r.outcome == Outcome::Ok {
        Answer::Received {
            text: &r.text,
            truncated: r.finish_reason.as_deref() == Some("length"),
        }
    } else {
        Answer::Failed(r.outcome.name())
    }
}

/// The result's entry for one reply and its score.
fn entry(q: &Quality, r: &Reply, s: &LineScore) -> GoldenAnswer {
    let line = &q.golden.lines[r.line];
    let (text, cut) = if q.keep_answers && r.outcome == Outcome::Ok {
        let (t, c) = capped(&r.text, q.answer_cap_bytes);
        (Some(t), c)
    } else {
        (None, false)
    };
    GoldenAnswer {
        id: line.id.clone(),
        line: line.line,
        index: r.index,
        outcome: r.outcome.name().to_string(),
        finish_reason: r.finish_reason.clone(),
        score: s.score,
        passed: s.passed.clone(),
        unscorable: s.unscorable.as_ref().map(|u| u.to_string()),
        answer: text,
        answer_cut: cut,
        ..GoldenAnswer::default()
    }
}

/// Runs the golden pass of `plan` (None without `[quality]`): every line to every model,
/// [`CONCURRENCY`] at a time, scored and summarised with intervals drawn from the plan's
/// seed, each model relative to the baseline when one is named.
pub async fn pass(plan: &Plan, targets: &[ClientWithQuotas]) -> Option<QualityResult> {
    let q = plan.quality.as_ref()?;
    if q.run != QualityRun::Pass {
        return None;
    }
    let started = Instant::now();
    let clock = Clock { start: started };
    let jobs: Vec<(usize, usize)> = (0..plan.models.len())
        .flat_map(|m| (0..q.golden.lines.len()).map(move |l| (m, l)))
        .collect();
    let mut replies: Vec<Reply> = stream::iter(jobs)
        .map(|job| ask(plan, q, targets, &clock, job))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    replies.sort_by_key(|r| (r.model, r.line));
    let elapsed_s = started.elapsed().as_secs_f64();
    let mut result = assemble(plan, q, &replies, elapsed_s);
    add_judge(plan, targets, &replies, &mut result).await;
    Some(result)
}

/// With a judge: sends every answer that arrived (outcome ok, not empty) to it and puts its
/// verdicts on the answers and its figures in `result.judge`.
pub(crate) async fn add_judge(
    plan: &Plan,
    targets: &[ClientWithQuotas],
    replies: &[Reply],
    result: &mut QualityResult,
) {
    // Index of each reply's entry in its model's `golden` list (replies sorted by model).
    let mut slot = vec![0usize; plan.models.len()];
    let mut items = Vec::new();
    let mut places = Vec::new();
    for r in replies {
        let k = slot[r.model];
        slot[r.model] += 1;
        if r.outcome == Outcome::Ok && !r.text.trim().is_empty() {
            items.push(ToJudge {
                model: r.model,
                line: r.line,
                answer: &r.text,
            });
            places.push((r.model, k));
        }
    }
    let Some(judged) = judge::judge(plan, targets, &items).await else {
        return;
    };
    for ((m, k), v) in places.into_iter().zip(&judged.verdicts) {
        if let Some(a) = result.models.get_mut(m).and_then(|x| x.golden.get_mut(k)) {
            a.judge_grade = v.grade;
            a.judge_score = v.score();
            a.judge_unscored = v.unscored.clone();
            a.judge_reply = v.reply.clone();
        }
    }
    result.judge = judge::summarize(plan, &items, &judged);
}

/// The baseline's answer to each golden line that has no reference of its own, to serve as
/// its reference: the `--baseline` file's kept answer, else the in-run baseline model's answer
/// when it arrived whole (ok, not cut, not empty). None for lines with a reference.
fn baseline_references<'a>(q: &'a Quality, replies: &'a [Reply]) -> Vec<Option<&'a str>> {
    let lines = &q.golden.lines;
    let mut out = vec![None; lines.len()];
    if let Some(f) = &q.baseline_file {
        for (slot, a) in out.iter_mut().zip(&f.answers) {
            *slot = a.as_deref();
        }
    } else if let Some(b) = q.baseline {
        for r in replies.iter().filter(|r| r.model == b) {
            let whole = r.outcome == Outcome::Ok
                && r.finish_reason.as_deref() != Some("length")
                && !r.text.trim().is_empty();
            if whole && out[r.line].is_none() {
                out[r.line] = Some(r.text.as_str());
            }
        }
    }
    for (slot, l) in out.iter_mut().zip(lines) {
        if l.reference.is_some() {
            *slot = None;
        }
    }
    out
}

/// Scores reply `r`; a line without a reference is compared with `base` (the baseline's
/// answer) when there is one.
fn score_reply(q: &Quality, r: &Reply, base: Option<&str>) -> LineScore {
    let line = &q.golden.lines[r.line];
    let mut s = line.score(&answer(r));
    if let (None, Some(b)) = (&line.reference, base) {
        s.similarity = Some(if s.unscorable.is_some() {
            Similarity::ZERO
        } else {
            Similarity::of(&r.text, b)
        });
    }
    s
}

/// How many golden lines are compared with their own reference (`line`) and with the
/// baseline's answer (`baseline`); empty when neither.
fn reference_counts(q: &Quality, base: &[Option<&str>]) -> BTreeMap<String, usize> {
    let own = q
        .golden
        .lines
        .iter()
        .filter(|l| l.reference.is_some())
        .count();
    let from_baseline = base.iter().filter(|b| b.is_some()).count();
    let mut out = BTreeMap::new();
    for (k, n) in [("line", own), ("baseline", from_baseline)] {
        if n > 0 {
            out.insert(k.to_string(), n);
        }
    }
    out
}

/// The quality section (`mode = "pass"`) from the scored replies, sorted by model (the
/// golden passes and the golden requests mixed into the load both end here).
pub(crate) fn assemble(
    plan: &Plan,
    q: &Quality,
    replies: &[Reply],
    elapsed_s: f64,
) -> QualityResult {
    let set = &q.golden;
    let base = baseline_references(q, replies);
    let in_run = q.baseline.filter(|_| q.baseline_file.is_none());
    let scored: Vec<Vec<(usize, LineScore)>> = (0..plan.models.len())
        .map(|m| {
            replies
                .iter()
                .filter(|r| r.model == m)
                .map(|r| {
                    let b = base[r.line].filter(|_| in_run != Some(m));
                    (r.line, score_reply(q, r, b))
                })
                .collect()
        })
        .collect();
    let models = scored
        .iter()
        .enumerate()
        .map(|(m, answers)| {
            let mut quality = summarize(set, answers, plan.seed);
            if let Some(f) = &q.baseline_file {
                add_relative(set, &mut quality, answers, &f.scores, plan.seed);
            } else if let Some(b) = in_run.filter(|&b| b != m) {
                add_relative(set, &mut quality, answers, &scored[b], plan.seed);
            }
            let golden = replies
                .iter()
                .filter(|r| r.model == m)
                .zip(answers)
                .map(|(r, (_, s))| entry(q, r, s))
                .collect();
            ModelQualityResult {
                model: plan.models[m].label.clone(),
                quality,
                cost_relative: None,
                golden_requests: None,
                golden,
            }
        })
        .collect();
    QualityResult {
        golden: set.path.display().to_string(),
        lines: set.lines.len(),
        mode: "pass".into(),
        share: None,
        baseline: match &q.baseline_file {
            Some(f) => Some(f.model.clone()),
            None => in_run.map(|b| plan.models[b].label.clone()),
        },
        elapsed_s,
        models,
        golden_sha256: Some(set.sha256.clone()),
        judge: None,
        baseline_file: q.baseline_file.as_ref().map(|f| f.path.clone()),
        baseline_per_1k_requests_usd: q.baseline_file.as_ref().and_then(|f| f.per_1k_requests_usd),
        similarity_reference: reference_counts(q, &base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_request_or_a_cut_answer_reads_as_such() {
        let mut r = Reply {
            model: 0,
            line: 0,
            index: None,
            outcome: Outcome::Ok,
            finish_reason: Some("length".into()),
            text: "words".into(),
        };
        assert!(matches!(
            answer(&r),
            Answer::Received {
                truncated: true,
                ..
            }
        ));
        r.finish_reason = Some("stop".into());
        assert!(matches!(
            answer(&r),
            Answer::Received {
                truncated: false,
                ..
            }
        ));
        r.outcome = Outcome::TimeoutTotal;
        assert!(matches!(answer(&r), Answer::Failed("timeout_total")));
    }

    #[test]
    fn the_in_run_baseline_answers_whole_become_references_of_lines_without_one() {
        let set = crate::config::golden::parse(
            "{\"prompt\": \"a\", \"checks\": [{\"regex\": \"x\"}]}\n\
             {\"prompt\": \"b\", \"reference\": \"own words\"}\n\
             {\"prompt\": \"c\", \"checks\": [{\"regex\": \"x\"}]}\n",
            std::path::Path::new("g.jsonl"),
        )
        .expect("valid");
        let q = Quality {
            golden: std::sync::Arc::new(set),
            run: QualityRun::Pass,
            baseline: Some(1),
            judge: None,
            keep_answers: true,
            answer_cap_bytes: 100,
            baseline_file: None,
        };
        let reply = |model, line, finish: &str, text: &str| Reply {
            model,
            line,
            index: None,
            outcome: Outcome::Ok,
            finish_reason: Some(finish.into()),
            text: text.into(),
        };
        let replies = [
            reply(0, 0, "stop", "the cat"),
            reply(1, 0, "stop", "the cat sat"),
            reply(1, 1, "stop", "anything"),
            reply(1, 2, "length", "cut off"),
        ];
        let base = baseline_references(&q, &replies);
        // Line 0: the baseline's whole answer; line 1 has its own reference; line 2's
        // baseline answer was cut.
        assert_eq!(base, [Some("the cat sat"), None, None]);
        let s = score_reply(&q, &replies[0], base[0]);
        assert_eq!(s.similarity.map(|x| x.f1), Some(0.8));
        assert_eq!(
            reference_counts(&q, &base),
            BTreeMap::from([("baseline".to_string(), 1), ("line".to_string(), 1)])
        );
    }
}
