//! Golden requests mixed into the load (`[quality] mix`): which arrivals are golden and which
//! golden line each asks, what such an arrival resolves to, and the answers kept for scoring.
//!
//! Which arrivals: arrival `i` is golden when `u(i) = φ + i·α (mod 1)` is below the share,
//! where α = 0.6180339887… (the golden ratio's fractional part, in 64-bit fixed point) and φ is
//! drawn from the plan's seed. This is a low-discrepancy sequence: among any `n` consecutive
//! arrivals the golden ones number `n·share` to within a couple, spread evenly over the run,
//! and every shard's stripe (arrivals `s, s+N, s+2N, …`) gets its share too. The line is
//! `⌊u(i) / share · lines⌋`, so the lines follow in turn and each is asked about equally
//! often (to within one or two over a run). Everything is a pure function of the seed, the
//! share and the index, so a run and its shards pick the same arrivals.
//!
//! A golden arrival is one request (never a session), sent with its line's prompt and
//! `max_tokens` (else the draw's), without the class's system prompt or the workload's
//! synthetic images, to the model any arrival of its class would get. Its record is the load's
//! like any other, tagged with the line's id; its answer text is kept here (never in the
//! records) when it was sent and its scheduled time falls in the measured window.

use std::sync::{Arc, Mutex, OnceLock};

use crate::config::golden::GoldenSet;
use crate::config::plan::{Plan, QualityRun};
use crate::config::workload::Draw;
use crate::core::record::{Outcome, Phase, RequestRecord};

use super::route::{PromptRef, Resolved};
use super::Shared;

/// What one golden request brought back.
#[derive(Debug, Clone)]
pub struct GoldenReply {
    /// Index into the plan's models of the model it was sent to.
    pub model: usize,
    /// Index into the golden set's lines.
    pub line: usize,
    /// The load arrival that asked it (None: sent in a pass of its own).
    pub index: Option<u64>,
    /// How the request ended.
    pub outcome: Outcome,
    /// The answer's `finish_reason`, when the server sent one.
    pub finish_reason: Option<String>,
    /// The answer's text (empty when none came).
    pub text: String,
}

/// The sequence's step: 2^64 divided by the golden ratio.
const WEYL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Mixed into the seed before it sets the sequence's start, so the golden arrivals do not
/// follow any other draw made from the same seed.
const SALT: u64 = 0x474F_4C44_454E_4D58;

/// SplitMix64's output function: a well-spread 64-bit hash.
#[inline]
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(WEYL);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Which arrivals are golden and which line each asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// The sequence's start, from the seed.
    start: u64,
    /// The share as a 64-bit fixed-point fraction (2^64 = all).
    below: u128,
    /// Lines in the golden set.
    lines: u128,
}

impl Pick {
    /// The rule for `share` (0 < share ≤ 1) of the arrivals asking `lines` lines, from `seed`.
    pub fn new(seed: u64, share: f64, lines: usize) -> Pick {
        let full = 2f64.powi(64);
        let below = (share.clamp(0.0, 1.0) * full).round() as u128;
        Pick {
            start: splitmix64(seed ^ SALT),
            below: below.clamp(1, 1u128 << 64),
            lines: lines as u128,
        }
    }

    /// The golden line arrival `index` asks, or None for an ordinary arrival.
    #[inline]
    pub fn line(&self, index: u64) -> Option<usize> {
        let u = u128::from(self.start.wrapping_add(index.wrapping_mul(WEYL)));
        if u >= self.below || self.lines == 0 {
            return None;
        }
        Some((u * self.lines / self.below) as usize)
    }
}

/// A run's mix: the rule, the golden set, the answers kept and the lines' token counts.
pub(super) struct Mix {
    pick: Pick,
    set: Arc<GoldenSet>,
    answers: Mutex<Vec<GoldenReply>>,
    /// Per tokenizer, per line: the prompt's tokens (counted once, when needed).
    tokens: Vec<Vec<OnceLock<Option<u64>>>>,
}

impl Mix {
    /// The mix of `plan` when its `[quality]` asks for one; `tokenizers` distinct tokenizers.
    pub(super) fn new(plan: &Plan, tokenizers: usize) -> Option<Mix> {
        let q = plan.quality.as_ref()?;
        let QualityRun::Mix(share) = q.run else {
            return None;
        };
        let lines = q.golden.lines.len();
        Some(Mix {
            pick: Pick::new(plan.seed, share, lines),
            set: q.golden.clone(),
            answers: Mutex::new(Vec::new()),
            tokens: (0..tokenizers)
                .map(|_| (0..lines).map(|_| OnceLock::new()).collect())
                .collect(),
        })
    }
}

impl Shared {
    /// The golden line arrival `index` asks; None for an ordinary arrival (or without a mix).
    #[inline]
    pub(super) fn golden_line(&self, index: u64) -> Option<usize> {
        match &self.mix {
            None => None,
            Some(m) => m.pick.line(index),
        }
    }

    /// What golden arrival `index` resolves to: line `line`'s prompt and `max_tokens` (else
    /// the draw's), one turn, no repeat, and the model an arrival of its class gets.
    #[cold]
    pub(super) fn resolve_golden(&self, index: u64, mut draw: Draw, line: usize) -> Resolved<'_> {
        let Some(m) = &self.mix else {
            unreachable!("a golden line is picked only with a mix")
        };
        let prompt = &m.set.lines[line].prompt;
        draw.max_tokens = prompt.max_tokens.unwrap_or(draw.max_tokens);
        draw.turns = 1;
        draw.repeat = false;
        let (model, route) = self.choose(index, draw.class, draw.weighted_model, prompt.chars);
        Resolved {
            draw,
            prompt: PromptRef::Listed(prompt),
            exact_tokens: None,
            model,
            route,
            golden: Some(line),
        }
    }

    /// The `id` of golden line `line`, for its records.
    #[cold]
    pub(super) fn golden_id(&self, line: usize) -> Option<String> {
        let m = self.mix.as_ref()?;
        m.set.lines.get(line).map(|l| l.id.clone())
    }

    /// Keeps the answer of a golden request to `model` when it was sent and its scheduled
    /// time is in the measured window: any outcome (a failure is a miss) except one the run
    /// itself cut (abandoned at the end of the drain). The text moves out of the record.
    #[cold]
    pub(super) fn keep_golden(
        &self,
        (line, index): (usize, u64),
        model: usize,
        sent: bool,
        rec: &mut RequestRecord,
    ) {
        let Some(m) = &self.mix else { return };
        if !sent || rec.outcome == Outcome::Abandoned || rec.phase != Phase::Measure {
            return;
        }
        let reply = GoldenReply {
            model,
            line,
            index: Some(index),
            outcome: rec.outcome,
            finish_reason: rec.finish_reason.clone(),
            text: rec.output_text.take().unwrap_or_default(),
        };
        m.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(reply);
    }

    /// Tokens of golden line `line`'s prompt under model `model`'s tokenizer (counted once).
    pub(super) async fn golden_tokens(&self, model: usize, line: usize) -> Option<u64> {
        let m = self.mix.as_ref()?;
        let cell = m.tokens.get(self.tok_of.get(model).copied()?)?.get(line)?;
        if let Some(n) = cell.get() {
            return *n;
        }
        let text = m.set.lines.get(line)?.prompt.joined_text();
        let tok = self.tokenizers[self.tok_of[model]].clone();
        let n = tokio::task::spawn_blocking(move || tok.count(&text))
            .await
            .ok()
            .flatten();
        *cell.get_or_init(|| n)
    }

    /// The answers kept so far, in no particular order.
    pub(super) fn take_golden(&self) -> Vec<GoldenReply> {
        match &self.mix {
            None => Vec::new(),
            Some(m) => std::mem::take(&mut *m.answers.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::shared;
    use super::*;
    use crate::config::scenario::Source;
    use crate::config::workload::PromptBody;

    /// A run's shared state (with its mix) for a scenario whose golden file holds `golden`:
    /// a short-prompt route to `small`, everything else by weight to `large`.
    fn mixed(golden: &str, share: f64) -> (tempfile::TempDir, Shared) {
        let dir = tempfile::tempdir().expect("a temp dir");
        std::fs::write(dir.path().join("golden.jsonl"), golden).expect("golden written");
        let src = Source {
            path: dir.path().join("s.toml"),
            text: format!(
                "name = \"m\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
                 [[models]]\nid = \"small\"\ntarget = \"sim\"\nweight = 0.001\n\
                 [[models]]\nid = \"large\"\ntarget = \"sim\"\n\
                 [workload]\nmax_tokens = 16\nsystem = \"be brief\"\n\
                 [workload.sessions]\nturns = 3\n\
                 [[workload.classes]]\nname = \"chat\"\nprompts = [\"a prompt longer than the rule\"]\n\
                 [[routes]]\nname = \"short\"\nchars_below = 10\nmodel = \"small\"\n\
                 [load]\nrate = \"5/s\"\nrequests = 100\n\
                 [quality]\ngolden = \"golden.jsonl\"\nmix = {share}\n"
            ),
        };
        let f = src.parse().expect("parses");
        let plan = Plan::build(&src, f).expect("valid");
        let mut sh = shared(plan);
        sh.mix = Mix::new(&sh.plan, sh.tokenizers.len()).map(Box::new);
        (dir, sh)
    }

    const TWO: &str = "{\"id\": \"hi\", \"prompt\": \"hi\", \"checks\": [{\"regex\": \"x\"}], \"max_tokens\": 3}\n\
        {\"id\": \"long\", \"prompt\": \"a golden prompt far over ten characters\", \"checks\": [{\"regex\": \"x\"}]}\n";

    #[test]
    fn a_golden_arrival_asks_its_line_on_the_model_its_class_would_get() {
        let (_dir, sh) = mixed(TWO, 0.5);
        let mut seen = [0u32; 2];
        for i in 0..100 {
            let r = sh.resolve(i);
            let Some(line) = r.golden else {
                assert_eq!(
                    r.prompt.get().chars,
                    29,
                    "an ordinary arrival keeps its prompt"
                );
                assert_eq!(r.draw.turns, 3);
                continue;
            };
            seen[line] += 1;
            let PromptBody::Text(t) = &r.prompt.get().body else {
                panic!("a text prompt");
            };
            assert_eq!(r.draw.turns, 1);
            assert!(!r.draw.repeat);
            if line == 0 {
                // Its own max_tokens, and the short-prompt route (by the golden prompt).
                assert_eq!((t.as_str(), r.draw.max_tokens), ("hi", 3));
                assert_eq!((r.model, r.route), (0, Some(0)));
            } else {
                assert_eq!(r.draw.max_tokens, 16);
                assert_eq!(r.model, 1);
            }
            assert_eq!(sh.golden_id(line).as_deref(), Some(["hi", "long"][line]));
        }
        assert!(seen.iter().all(|&n| n.abs_diff(25) <= 2), "{seen:?}");
    }

    #[test]
    fn only_sent_answers_of_the_measured_window_are_kept() {
        let (_dir, sh) = mixed(TWO, 0.5);
        let keep = |phase: Phase, outcome: Outcome, sent: bool| {
            let mut rec = sh.record(4, 1, 0, None, 0, 0);
            rec.phase = phase;
            rec.outcome = outcome;
            rec.output_text = Some("answer".into());
            sh.keep_golden((1, 4), 1, sent, &mut rec);
        };
        keep(Phase::Measure, Outcome::Ok, true);
        keep(Phase::Measure, Outcome::TimeoutTotal, true);
        keep(Phase::Warmup, Outcome::Ok, true);
        keep(Phase::Cooldown, Outcome::Ok, true);
        keep(Phase::Measure, Outcome::Cancelled, false);
        keep(Phase::Measure, Outcome::Abandoned, true);
        let kept = sh.take_golden();
        let got: Vec<(Outcome, &str)> = kept.iter().map(|r| (r.outcome, r.text.as_str())).collect();
        assert_eq!(
            got,
            [(Outcome::Ok, "answer"), (Outcome::TimeoutTotal, "answer")]
        );
        assert_eq!(
            (kept[0].model, kept[0].line, kept[0].index),
            (1, 1, Some(4))
        );
        assert!(sh.take_golden().is_empty());
    }

    #[test]
    fn the_share_is_kept_to_within_two_in_any_run_and_in_every_stripe() {
        for seed in 0..200u64 {
            for share in [0.05, 0.25, 0.5, 0.9] {
                let p = Pick::new(seed, share, 6);
                for n in [50u64, 200, 1000] {
                    let k = (0..n).filter(|&i| p.line(i).is_some()).count() as f64;
                    assert!(
                        (k - n as f64 * share).abs() <= 2.0,
                        "{seed} {share} {n}: {k}"
                    );
                }
                // Two shards' stripes each get their share (a wider bound: the stripe's step
                // is 2α, a sequence of slightly higher discrepancy).
                for s in 0..2u64 {
                    let k = (0..500u64).filter(|&j| p.line(2 * j + s).is_some()).count() as f64;
                    assert!(
                        (k - 500.0 * share).abs() <= 4.0,
                        "{seed} {share} stripe {s}: {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_line_is_asked_about_equally_often() {
        let p = Pick::new(7, 0.25, 6);
        let mut by_line = [0u32; 6];
        for i in 0..2400 {
            if let Some(l) = p.line(i) {
                by_line[l] += 1;
            }
        }
        // 600 golden arrivals over 6 lines: 100 each, to within two.
        assert!(by_line.iter().all(|&c| c.abs_diff(100) <= 2), "{by_line:?}");
    }

    #[test]
    fn a_whole_share_makes_every_arrival_golden_and_seeds_differ() {
        let all = Pick::new(3, 1.0, 4);
        assert!((0..1000).all(|i| all.line(i).is_some_and(|l| l < 4)));
        let (a, b) = (Pick::new(1, 0.1, 4), Pick::new(2, 0.1, 4));
        let golden = |p: Pick| {
            (0..200)
                .filter(|&i| p.line(i).is_some())
                .collect::<Vec<_>>()
        };
        assert_ne!(golden(a), golden(b));
        assert_eq!(golden(a), golden(Pick::new(1, 0.1, 4)));
        assert_eq!(Pick::new(1, 0.1, 0).line(5), None);
    }
}
