//! `[quality]` golden pass: every golden line sent once to every model before the load,
//! through the run's own target clients, a few at a time; each answer scored by its line's
//! checks and the answers folded into quality figures per model and class.
//!
//! The pass is not part of the measured load: its requests are not written to the records,
//! not counted in any latency, throughput or cost figure, and do not wait on the targets'
//! quotas. What it sends and how the result reads are stated in docs/quality.md.

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::config::golden::{Answer, GoldenLine, LineScore};
use crate::config::plan::{Plan, Quality, QualityRun};
use crate::core::record::Outcome;
use crate::engine::client::Clock;
use crate::engine::runner::{ClientWithQuotas, GoldenReply as Reply};
use crate::engine::side::{send, Ask};
use crate::metrics::quality::{add_relative, summarize};
use crate::results::{GoldenAnswer, ModelQualityResult, QualityResult};

/// Golden requests in flight at once during the pass.
pub const CONCURRENCY: usize = 4;

/// Why parts of `[quality]` that this version does not run were left out, for stderr and
/// the result's warnings.
pub fn warnings(plan: &Plan) -> Vec<String> {
    let Some(q) = &plan.quality else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(j) = &q.judge {
        out.push(format!(
            "quality: the judge ({}) is not run in this version; scores come from the golden lines' checks and references only",
            j.model
        ));
    }
    out
}

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

/// `text` cut to at most `cap` bytes on a character boundary, and whether it was cut.
fn capped(text: &str, cap: usize) -> (String, bool) {
    if text.len() <= cap {
        return (text.to_string(), false);
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
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
    Some(assemble(plan, q, &replies, elapsed_s))
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
    let scored: Vec<Vec<(usize, LineScore)>> = (0..plan.models.len())
        .map(|m| {
            replies
                .iter()
                .filter(|r| r.model == m)
                .map(|r| (r.line, set.lines[r.line].score(&answer(r))))
                .collect()
        })
        .collect();
    let models = scored
        .iter()
        .enumerate()
        .map(|(m, answers)| {
            let mut quality = summarize(set, answers, plan.seed);
            if let Some(b) = q.baseline.filter(|&b| b != m) {
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
        baseline: q.baseline.map(|b| plan.models[b].label.clone()),
        elapsed_s,
        models,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_cut_on_a_character_boundary() {
        assert_eq!(capped("abc", 3), ("abc".to_string(), false));
        assert_eq!(capped("abcd", 3), ("abc".to_string(), true));
        // "é" is two bytes: a cap inside it keeps the character out.
        assert_eq!(capped("aé", 2), ("a".to_string(), true));
    }

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
}
