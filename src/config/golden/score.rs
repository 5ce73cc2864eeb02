//! One answer scored by its golden line: pass or fail per check, the line's score (the
//! weighted share of its checks passed), the similarity to its reference, or why the answer
//! could not be scored (a miss).

use super::similarity::Similarity;
use super::GoldenLine;

/// What came back for a golden request.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// The request failed; the outcome's name (`timeout`, `http_5xx`, …).
    Failed(&'a str),
    /// An answer arrived; `truncated` when it stopped at its token limit
    /// (`finish_reason = "length"`).
    Received {
        /// The answer's text.
        text: &'a str,
        /// Cut at the token limit.
        truncated: bool,
    },
}

/// Why an answer counts as a miss without being scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unscorable {
    /// The request failed (the outcome's name).
    Failed(String),
    /// The answer was empty or only whitespace.
    Empty,
    /// The answer stopped at its token limit and a check of the line needs the whole answer.
    Truncated,
}

impl std::fmt::Display for Unscorable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unscorable::Failed(o) => write!(f, "request failed ({o})"),
            Unscorable::Empty => f.write_str("empty answer"),
            Unscorable::Truncated => f.write_str("answer cut at its token limit"),
        }
    }
}

/// One answer's score.
#[derive(Debug, Clone, PartialEq)]
pub struct LineScore {
    /// The weighted share of the line's checks passed, 0 to 1 (0 for a miss); None when the
    /// line has no checks (a reference only).
    pub score: Option<f64>,
    /// Pass or fail of each check, in the line's order (all false for a miss).
    pub passed: Vec<bool>,
    /// Similarity to the line's reference (zero for a miss); None without a reference.
    pub similarity: Option<Similarity>,
    /// Why the answer was not scored; None when it was.
    pub unscorable: Option<Unscorable>,
}

impl GoldenLine {
    /// Why `answer` cannot be scored by this line, if it cannot.
    fn unscorable(&self, answer: &Answer) -> Option<Unscorable> {
        match *answer {
            Answer::Failed(o) => Some(Unscorable::Failed(o.to_string())),
            Answer::Received { text, .. } if text.trim().is_empty() => Some(Unscorable::Empty),
            Answer::Received {
                truncated: true, ..
            } if self.checks.is_empty()
                || !self.checks.iter().all(|c| c.judges_partial_answers()) =>
            {
                Some(Unscorable::Truncated)
            }
            Answer::Received { .. } => None,
        }
    }

    /// Scores `answer`. A failed request, an empty answer, and an answer cut at its token
    /// limit when the line has a check that needs the whole answer (or only a reference) are
    /// misses: score 0, every check failed, similarity 0, with the reason.
    pub fn score(&self, answer: &Answer) -> LineScore {
        let checks = !self.checks.is_empty();
        if let Some(why) = self.unscorable(answer) {
            return LineScore {
                score: checks.then_some(0.0),
                passed: vec![false; self.checks.len()],
                similarity: self.reference.as_ref().map(|_| Similarity::ZERO),
                unscorable: Some(why),
            };
        }
        let text = match *answer {
            Answer::Received { text, .. } => text,
            Answer::Failed(_) => "",
        };
        let passed: Vec<bool> = self.checks.iter().map(|c| c.passes(text)).collect();
        let total: f64 = self.checks.iter().map(|c| c.weight).sum();
        let got: f64 = self
            .checks
            .iter()
            .zip(&passed)
            .filter(|(_, p)| **p)
            // A fold from +0: `sum` of no f64 is -0, which would be written as `-0.0`.
            .fold(0.0, |acc, (c, _)| acc + c.weight);
        LineScore {
            score: checks.then(|| got / total),
            passed,
            similarity: self.reference.as_ref().map(|r| Similarity::of(text, r)),
            unscorable: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::golden::parse;
    use std::path::Path;

    fn line(json: &str) -> GoldenLine {
        let set = parse(json, Path::new("g.jsonl")).expect("valid");
        set.lines.into_iter().next().expect("one line")
    }

    fn got(text: &str) -> Answer<'_> {
        Answer::Received {
            text,
            truncated: false,
        }
    }

    #[test]
    fn the_score_is_the_weighted_share_of_checks_passed() {
        let l = line(
            r#"{"prompt": "q", "checks": [{"contains": "Paris", "weight": 3}, {"not_contains": "Lyon"}, {"number": 2}]}"#,
        );
        let s = l.score(&got("Paris, not Lyon"));
        assert_eq!(s.passed, [true, false, false]);
        assert_eq!(s.score, Some(3.0 / 5.0));
        assert_eq!(s.unscorable, None);
        assert_eq!(l.score(&got("Paris 2")).score, Some(1.0));
        let none = l.score(&got("Lyon")).score.expect("checks");
        assert!(none == 0.0 && none.is_sign_positive(), "{none}");
        assert_eq!(s.similarity, None);
    }

    #[test]
    fn failed_and_empty_answers_are_misses_with_their_reason() {
        let l = line(r#"{"prompt": "q", "checks": [{"not_contains": "x"}], "reference": "r"}"#);
        let s = l.score(&Answer::Failed("timeout"));
        assert_eq!(s.score, Some(0.0));
        assert_eq!(s.passed, [false]);
        assert_eq!(s.similarity, Some(Similarity::ZERO));
        assert_eq!(s.unscorable, Some(Unscorable::Failed("timeout".into())));
        assert_eq!(
            s.unscorable.map(|u| u.to_string()).as_deref(),
            Some("request failed (timeout)")
        );
        // An empty answer would pass `not_contains`; it is a miss instead.
        let s = l.score(&got(" \n"));
        assert_eq!(
            (s.score, s.unscorable),
            (Some(0.0), Some(Unscorable::Empty))
        );
    }

    #[test]
    fn a_truncated_answer_is_scored_only_when_every_check_judges_a_part() {
        let cut = Answer::Received {
            text: "The answer is Paris and",
            truncated: true,
        };
        let partial =
            line(r#"{"prompt": "q", "checks": [{"contains": "Paris"}, {"regex": "an"}]}"#);
        assert_eq!(partial.score(&cut).score, Some(1.0));
        let whole = line(r#"{"prompt": "q", "checks": [{"contains": "Paris"}, {"number": 1}]}"#);
        let s = whole.score(&cut);
        assert_eq!(
            (s.score, s.unscorable),
            (Some(0.0), Some(Unscorable::Truncated))
        );
        let reference_only = line(r#"{"prompt": "q", "reference": "Paris"}"#);
        let s = reference_only.score(&cut);
        assert_eq!(s.score, None);
        assert_eq!(s.similarity, Some(Similarity::ZERO));
        assert_eq!(s.unscorable, Some(Unscorable::Truncated));
    }

    #[test]
    fn a_reference_gives_the_similarity_of_the_answer() {
        let l = line(r#"{"prompt": "q", "reference": "the cat, the dog"}"#);
        let s = l.score(&got("The cat sat"));
        assert_eq!(s.score, None);
        assert_eq!(s.similarity.map(|x| x.f1), Some(4.0 / 7.0));
    }
}
