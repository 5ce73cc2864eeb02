//! `[quality] judge`: each golden answer sent with the rubric to a judge model, which grades it
//! 1 to 5 on a last line `SCORE: <n>`; a reply without that line is asked again once, then
//! left "unscored" with the reply kept. The grades are folded into a mean per model and class
//! (normalised to 0..1) with an interval, beside what the judge's own calls took.
//!
//! The judge's requests go through the judge target's client like the golden pass's, outside
//! the measured load: not written to the records, not counted in any load figure, not waiting
//! on the targets' quotas. The prompt and the format are stated in docs/quality.md.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use crate::config::golden::GoldenLine;
use crate::config::plan::{Judge, Plan, Quality, Workload};
use crate::config::workload::PromptBody;
use crate::core::record::{Outcome, RequestRecord};
use crate::engine::client::Clock;
use crate::engine::runner::ClientWithQuotas;
use crate::engine::side::{send_to, Ask, To};
use crate::metrics::quality::interval;
use crate::results::judge::{JudgeCalls, JudgeResult, JudgeStats, ModelJudge};

/// Judge requests in flight at once.
pub const CONCURRENCY: usize = 4;

/// `max_tokens` of a judge request: room for a short explanation and the score line.
pub const MAX_TOKENS: u32 = 512;

/// Requests per answer at most: the first, and one more when its reply has no score.
pub const ATTEMPTS: u32 = 2;

/// Why an answer was left unscored when the judge's reply had no score line.
pub const NO_SCORE: &str = "no `SCORE: <1..5>` last line in the judge's reply";

/// One answer for the judge: the model (index into the plan's models) that gave `answer` to
/// golden line `line` (index into the golden set).
#[derive(Debug, Clone, Copy)]
pub struct ToJudge<'a> {
    /// Index into the plan's models.
    pub model: usize,
    /// Index into the golden set's lines.
    pub line: usize,
    /// The answer's text.
    pub answer: &'a str,
}

/// The judge's verdict on one answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    /// The grade, 1 to 5, when the judge gave one.
    pub grade: Option<u8>,
    /// Why the answer was left unscored.
    pub unscored: Option<String>,
    /// The judge's last reply when unscored, cut to the answer cap (None with `keep_answers`
    /// off).
    pub reply: Option<String>,
}

impl Verdict {
    /// The grade normalised to 0..1: (grade − 1) / 4.
    pub fn score(&self) -> Option<f64> {
        self.grade.map(|g| f64::from(g - 1) / 4.0)
    }
}

/// The verdicts, one per answer in the order given, and what the calls took.
#[derive(Debug, Clone, Default)]
pub struct Judged {
    /// One per [`ToJudge`], in order.
    pub verdicts: Vec<Verdict>,
    /// The judge's requests.
    pub calls: JudgeCalls,
}

/// The grade on the reply's last non-empty line, which must read `SCORE: <n>` with n from 1
/// to 5 (spaces around allowed, nothing else); None otherwise.
pub fn parse_grade(reply: &str) -> Option<u8> {
    let last = reply.lines().rev().find(|l| !l.trim().is_empty())?.trim();
    let n = last.strip_prefix("SCORE:")?.trim();
    match n.as_bytes() {
        [d @ b'1'..=b'5'] => Some(d - b'0'),
        _ => None,
    }
}

/// The golden prompt as text for the judge: the prompt, or each message as `role: content`.
fn question(line: &GoldenLine) -> String {
    match &line.prompt.body {
        PromptBody::Text(t) => t.clone(),
        PromptBody::Messages(ms) => ms
            .iter()
            .map(|m| format!("{}: {}", m.role, m.content))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The judge's prompt for `answer` to `line` by `rubric`; `again` adds a reminder of the
/// format (the retry).
pub fn prompt(rubric: &str, line: &GoldenLine, answer: &str, again: bool) -> String {
    let mut p = format!(
        "You grade an answer to a question by a rubric.\n\nRubric:\n{rubric}\n\nQuestion:\n{}\n",
        question(line)
    );
    if let Some(r) = &line.reference {
        p.push_str(&format!("\nReference answer:\n{r}\n"));
    }
    p.push_str(&format!(
        "\nAnswer to grade:\n{answer}\n\n\
         Grade the answer by the rubric from 1 (does not meet it at all) to 5 (fully meets it). \
         You may explain briefly first. The last line of your reply must be exactly \
         `SCORE: <n>` with n an integer from 1 to 5, and nothing after it.\n"
    ));
    if again {
        p.push_str("\nYour previous reply did not end with such a line: end with `SCORE: <n>`.\n");
    }
    p
}

/// `text` cut to at most `cap` bytes on a character boundary, and whether it was cut.
pub fn capped(text: &str, cap: usize) -> (String, bool) {
    if text.len() <= cap {
        return (text.to_string(), false);
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

/// The request shape of the judge's calls: the workload's endpoint and streaming (the
/// clients are built for them), without tools, at temperature 0.
fn judge_workload(w: &Workload) -> Workload {
    let mut w = w.clone();
    w.tools = None;
    w.temperature = Some(0.0);
    w.request_seed = None;
    w
}

/// What one answer's judging brought back: the verdict and every record sent for it.
struct Asked {
    verdict: Verdict,
    records: Vec<RequestRecord>,
}

/// Asks the judge about one answer, once more when the reply has no score.
async fn ask(
    (plan, q, judge, w): (&Plan, &Quality, &Judge, &Workload),
    targets: &[ClientWithQuotas],
    clock: &Clock,
    item: ToJudge<'_>,
) -> Asked {
    let line = &q.golden.lines[item.line];
    let mut records = Vec::new();
    let mut last = Verdict::default();
    for attempt in 0..ATTEMPTS {
        let body = PromptBody::Text(prompt(&judge.rubric, line, item.answer, attempt > 0));
        let to = To {
            workload: w,
            model: &judge.model,
            target: judge.target,
        };
        let ask = Ask {
            system: None,
            prompt: &body,
            max_tokens: MAX_TOKENS,
            images: &[],
            want_text: true,
        };
        let Some(mut rec) = send_to(plan, targets, clock, to, ask).await else {
            last.unscored = Some("the judge's target has no client".into());
            break;
        };
        let text = rec.output_text.take().unwrap_or_default();
        let ok = rec.outcome == Outcome::Ok;
        let failed = (!ok).then(|| format!("judge request failed ({})", rec.outcome.name()));
        records.push(rec);
        if let Some(g) = parse_grade(&text).filter(|_| ok) {
            last = Verdict {
                grade: Some(g),
                ..Verdict::default()
            };
            break;
        }
        last = Verdict {
            grade: None,
            unscored: Some(failed.unwrap_or_else(|| NO_SCORE.to_string())),
            reply: (q.keep_answers && ok).then(|| capped(&text, q.answer_cap_bytes).0),
        };
    }
    Asked {
        verdict: last,
        records,
    }
}

/// What the judge's requests `records` took, priced at `judge.price` when known.
fn calls(judge: &Judge, records: &[RequestRecord]) -> JudgeCalls {
    let mut c = JudgeCalls::default();
    for r in records {
        c.requests += 1;
        c.failed += u64::from(r.outcome != Outcome::Ok);
        c.input_tokens += r.input_tokens.unwrap_or(0);
        c.output_tokens += r.output_tokens.unwrap_or(0);
    }
    c.cost_usd = judge.price.map(|p| {
        (c.input_tokens as f64 * p.input_per_m + c.output_tokens as f64 * p.output_per_m) / 1e6
    });
    c
}

/// Sends every answer of `items` to the plan's judge, [`CONCURRENCY`] at a time, outside the
/// measured load; None when the plan has no judge. The verdicts come back in `items`' order.
pub async fn judge(
    plan: &Plan,
    targets: &[ClientWithQuotas],
    items: &[ToJudge<'_>],
) -> Option<Judged> {
    let q = plan.quality.as_ref()?;
    let judge = q.judge.as_ref()?;
    let w = judge_workload(&plan.workload);
    let clock = Clock {
        start: Instant::now(),
    };
    let ctx = (plan, q, judge, &w);
    let asked: Vec<Asked> = stream::iter(items.iter().copied())
        .map(|item| ask(ctx, targets, &clock, item))
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let records: Vec<RequestRecord> = asked.iter().flat_map(|a| a.records.clone()).collect();
    Some(Judged {
        calls: calls(judge, &records),
        verdicts: asked.into_iter().map(|a| a.verdict).collect(),
    })
}

/// A seed for one class's bootstrap, distinct per class name.
fn class_seed(seed: u64, name: &str) -> u64 {
    name.bytes().fold(seed ^ 0x4A55_4447, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The figures of the verdicts `of` (line index, verdict), weighted by the lines' weights.
fn stats<'a>(q: &Quality, of: impl Iterator<Item = (usize, &'a Verdict)>, seed: u64) -> JudgeStats {
    let (mut scores, mut weights) = (Vec::new(), Vec::new());
    let mut s = JudgeStats::default();
    for (line, v) in of {
        match v.score() {
            Some(x) => {
                s.n_judged += 1;
                scores.push(x);
                weights.push(q.golden.lines.get(line).map_or(1.0, |l| l.weight));
            }
            None => s.n_unscored += 1,
        }
    }
    s.score = interval::score(&scores, &weights, seed);
    s
}

/// The judge's section of the result: per model (and class) the mean normalised score with a
/// 95 % interval drawn from the plan's seed, the answers judged and unscored, and the calls.
pub fn summarize(plan: &Plan, items: &[ToJudge<'_>], judged: &Judged) -> Option<JudgeResult> {
    let q = plan.quality.as_ref()?;
    let judge = q.judge.as_ref()?;
    let set = &q.golden;
    let models = plan
        .models
        .iter()
        .enumerate()
        .map(|(m, model)| {
            let mine: Vec<(usize, &Verdict)> = items
                .iter()
                .zip(&judged.verdicts)
                .filter(|(i, _)| i.model == m)
                .map(|(i, v)| (i.line, v))
                .collect();
            let mut classes = BTreeMap::new();
            for c in set.classes() {
                let of_class = mine
                    .iter()
                    .copied()
                    .filter(|(l, _)| set.lines[*l].class.as_deref() == Some(c));
                classes.insert(c.to_string(), stats(q, of_class, class_seed(plan.seed, c)));
            }
            ModelJudge {
                model: model.label.clone(),
                overall: stats(q, mine.iter().copied(), class_seed(plan.seed, "")),
                classes,
            }
        })
        .collect();
    Some(JudgeResult {
        model: judge.model.clone(),
        target: plan.targets[judge.target].name.clone(),
        scale: "1-5".into(),
        calls: judged.calls.clone(),
        models,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::golden::parse;
    use std::path::Path;

    #[test]
    fn only_a_last_line_score_from_1_to_5_is_a_grade() {
        assert_eq!(parse_grade("SCORE: 4"), Some(4));
        assert_eq!(parse_grade("Good answer.\n  SCORE:5  \n\n"), Some(5));
        assert_eq!(parse_grade("SCORE:1"), Some(1));
        for bad in [
            "",
            "SCORE: 0",
            "SCORE: 6",
            "SCORE: 4.5",
            "SCORE: 45",
            "score: 4",
            "SCORE: 4\nthanks",
            "The score is 4",
            "SCORE: four",
            "**SCORE: 4**",
        ] {
            assert_eq!(parse_grade(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn grades_normalise_to_0_1() {
        let v = |g| Verdict {
            grade: Some(g),
            ..Verdict::default()
        };
        assert_eq!(v(1).score(), Some(0.0));
        assert_eq!(v(4).score(), Some(0.75));
        assert_eq!(v(5).score(), Some(1.0));
        assert_eq!(Verdict::default().score(), None);
    }

    #[test]
    fn the_prompt_holds_rubric_question_reference_and_answer() {
        let set = parse(
            r#"{"messages": [{"role": "user", "content": "2+2?"}], "reference": "4"}"#,
            Path::new("g.jsonl"),
        )
        .expect("valid");
        let p = prompt("Be right.", &set.lines[0], "It is 4.", false);
        for part in [
            "Rubric:\nBe right.",
            "Question:\nuser: 2+2?",
            "Reference answer:\n4",
            "Answer to grade:\nIt is 4.",
            "`SCORE: <n>`",
        ] {
            assert!(p.contains(part), "{part:?} in {p}");
        }
        assert!(!p.contains("previous reply"));
        assert!(prompt("r", &set.lines[0], "a", true).contains("previous reply"));
    }

    #[test]
    fn answers_are_cut_on_a_character_boundary() {
        assert_eq!(capped("abc", 3), ("abc".to_string(), false));
        assert_eq!(capped("abcd", 3), ("abc".to_string(), true));
        // "é" is two bytes: a cap inside it keeps the character out.
        assert_eq!(capped("aé", 2), ("a".to_string(), true));
    }
}
