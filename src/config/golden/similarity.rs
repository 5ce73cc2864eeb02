//! Offline similarity of an answer to a reference answer: token F1 and ROUGE-L, both on the
//! normalised words of [`super::text::words`].
//!
//! Token F1 (as in SQuAD) counts the words the two texts share, whatever their order: the
//! right measure for short answers, where "Paris, France" and "France: Paris" say the same.
//! ROUGE-L scores the longest common subsequence of words, so it rewards keeping the
//! reference's order: the measure for longer answers (summaries, explanations), where a bag
//! of the right words in the wrong order is not the same answer.

use std::collections::HashMap;

use super::text::words;

/// Both measures for one answer, each between 0 and 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// Token F1.
    pub f1: f64,
    /// ROUGE-L F-measure (β = 1).
    pub rouge_l: f64,
}

impl Similarity {
    /// Both measures of `answer` against `reference`.
    pub fn of(answer: &str, reference: &str) -> Similarity {
        let a = words(answer);
        let r = words(reference);
        Similarity {
            f1: token_f1(&a, &r),
            rouge_l: rouge_l(&a, &r),
        }
    }

    /// The score of a miss.
    pub const ZERO: Similarity = Similarity {
        f1: 0.0,
        rouge_l: 0.0,
    };
}

/// The harmonic mean of `common / answer` (precision) and `common / reference` (recall); two
/// empty texts are equal (1), one empty text shares nothing (0).
fn f_measure(common: usize, answer: usize, reference: usize) -> f64 {
    if answer == 0 || reference == 0 {
        return if answer == reference { 1.0 } else { 0.0 };
    }
    // 2PR / (P + R) with P = c/a and R = c/r is 2c / (a + r): one division, no rounding
    // before it.
    2.0 * common as f64 / (answer + reference) as f64
}

/// Token F1: the words shared (each counted as often as it appears in both) as an F-measure.
pub fn token_f1(answer: &[String], reference: &[String]) -> f64 {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for w in reference {
        *counts.entry(w.as_str()).or_default() += 1;
    }
    let mut common = 0;
    for w in answer {
        if let Some(c) = counts.get_mut(w.as_str()).filter(|c| **c > 0) {
            *c -= 1;
            common += 1;
        }
    }
    f_measure(common, answer.len(), reference.len())
}

/// ROUGE-L: the longest common subsequence of words as an F-measure (β = 1).
pub fn rouge_l(answer: &[String], reference: &[String]) -> f64 {
    f_measure(lcs(answer, reference), answer.len(), reference.len())
}

/// Length of the longest common subsequence, in O(|a|·|b|) time and O(|b|) memory.
fn lcs(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        words(s)
    }

    #[test]
    fn token_f1_on_hand_computed_cases() {
        // Shared: the, cat (2). Precision 2/3, recall 2/4: F1 = 2·(2/3)(1/2)/(2/3 + 1/2) = 4/7.
        assert_eq!(
            token_f1(&w("the cat sat"), &w("The cat, the dog!")),
            4.0 / 7.0
        );
        // Order does not matter.
        assert_eq!(token_f1(&w("France Paris"), &w("Paris, France.")), 1.0);
        // Repeats count only as often as the reference has them: common 1, P 1/3, R 1/1.
        assert_eq!(token_f1(&w("a a a"), &w("a")), 0.5);
        assert_eq!(token_f1(&w("x y"), &w("z")), 0.0);
        assert_eq!(token_f1(&w(""), &w("...")), 1.0);
        assert_eq!(token_f1(&w(""), &w("a")), 0.0);
    }

    #[test]
    fn rouge_l_on_hand_computed_cases() {
        // LCS of "police killed the gunman" / "police kill the gunman" is police-the-gunman
        // (3): P = R = 3/4, F = 3/4.
        assert_eq!(
            rouge_l(&w("police killed the gunman"), &w("police kill the gunman")),
            0.75
        );
        // The same words reversed: LCS 1 of 3, F = 1/3, while token F1 is 1.
        let (a, r) = (w("c b a"), w("a b c"));
        assert_eq!(rouge_l(&a, &r), 1.0 / 3.0);
        assert_eq!(token_f1(&a, &r), 1.0);
        // LCS "a c e" = 3; P = 3/5, R = 3/3: F = 2·(3/5)/(3/5 + 1) = 3/4.
        assert_eq!(rouge_l(&w("a b c d e"), &w("a c e")), 0.75);
        assert_eq!(rouge_l(&w("x"), &w("y z")), 0.0);
    }

    #[test]
    fn similarity_normalises_before_comparing() {
        let s = Similarity::of("PARIS!!", "paris");
        assert_eq!(
            s,
            Similarity {
                f1: 1.0,
                rouge_l: 1.0
            }
        );
    }
}
