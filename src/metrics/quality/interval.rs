//! Confidence intervals for golden-set scores: Wilson's score interval for a share of
//! pass/fail lines, a seeded percentile bootstrap over lines for weighted or partial scores,
//! and a paired bootstrap for a model's score relative to a baseline's.
//!
//! Why two methods for a score: when every line is worth the same and scores 0 or 1, the
//! score is a binomial share and Wilson's interval has close to its nominal coverage even for
//! a few dozen lines and shares near 0 or 1, where a bootstrap collapses (a sample of all
//! passes resamples only to 1, giving the interval [1, 1]). When lines carry weights or
//! partial scores (2 of 3 checks passed) there is no such closed form, and the bootstrap,
//! resampling whole lines, keeps whatever shape their scores have.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// The confidence level of every quality interval.
pub const LEVEL: f64 = 0.95;

/// Resamples drawn by a bootstrap.
pub const RESAMPLES: usize = 2000;

/// The normal quantile of a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// How an interval was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Wilson's score interval (every line weighs the same and scores 0 or 1).
    #[default]
    Wilson,
    /// Percentile bootstrap over lines, seeded.
    Bootstrap,
}

/// An estimate with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// How the interval was computed.
    pub method: Method,
}

/// Wilson's 95 % score interval for `k` successes in `n` trials (None for no trials).
pub fn wilson(k: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}

/// The `q` quantile of sorted `xs` (linear between order statistics).
fn quantile(xs: &[f64], q: f64) -> f64 {
    let pos = q * (xs.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    xs[lo] + (xs[hi] - xs[lo]) * (pos - lo as f64)
}

/// The central 95 % of `stats` (sorted here).
fn percentile_interval(mut stats: Vec<f64>) -> Option<(f64, f64)> {
    if stats.is_empty() {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - LEVEL) / 2.0;
    Some((quantile(&stats, tail), quantile(&stats, 1.0 - tail)))
}

/// The weighted mean of `scores` (None when the weights sum to 0).
fn weighted_mean(scores: &[f64], weights: &[f64]) -> Option<f64> {
    let w: f64 = weights.iter().sum();
    (w > 0.0).then(|| scores.iter().zip(weights).map(|(s, w)| s * w).sum::<f64>() / w)
}

/// Percentile bootstrap interval of the weighted mean of `scores`: `resamples` resamples of
/// the lines with replacement, drawn from `seed`.
pub fn bootstrap_mean(
    scores: &[f64],
    weights: &[f64],
    seed: u64,
    resamples: usize,
) -> Option<(f64, f64)> {
    let n = scores.len().min(weights.len());
    if n == 0 {
        return None;
    }
    let num: Vec<f64> = (0..n).map(|i| scores[i] * weights[i]).collect();
    bootstrap_ratio(&num, &weights[..n], seed, resamples)
}

/// Percentile bootstrap interval of Σ num / Σ den over `resamples` resamples of the lines
/// (index `i` draws `num[i]` and `den[i]` together) with replacement, drawn from `seed`;
/// resamples whose denominator is 0 are left out. Both the weighted mean (num = score ×
/// weight, den = weight) and the paired ratio to a baseline (den = baseline × weight) are
/// this statistic.
fn bootstrap_ratio(num: &[f64], den: &[f64], seed: u64, resamples: usize) -> Option<(f64, f64)> {
    let n = num.len().min(den.len());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let (mut a, mut b) = (0.0, 0.0);
        for _ in 0..n {
            let i = rng.random_range(0..n);
            a += num[i];
            b += den[i];
        }
        if b > 0.0 {
            stats.push(a / b);
        }
    }
    percentile_interval(stats)
}

/// The weighted mean score of lines with its 95 % interval: Wilson's when every weight is the
/// same and every score is 0 or 1, else the seeded bootstrap. None for no lines.
pub fn score(scores: &[f64], weights: &[f64], seed: u64) -> Option<Estimate> {
    let value = weighted_mean(scores, weights)?;
    let binary = scores.iter().all(|&s| s == 0.0 || s == 1.0);
    let even = weights.windows(2).all(|w| w[0] == w[1]);
    let (method, (low, high)) = if binary && even {
        let k = scores.iter().filter(|&&s| s == 1.0).count() as u64;
        (Method::Wilson, wilson(k, scores.len() as u64)?)
    } else {
        (
            Method::Bootstrap,
            bootstrap_mean(scores, weights, seed, RESAMPLES)?,
        )
    };
    Some(Estimate {
        value,
        low,
        high,
        method,
    })
}

/// A model's score relative to a baseline's over the same lines (`model[i]` and `baseline[i]`
/// answer line `i`, of weight `weights[i]`): the ratio of their weighted means, with a paired
/// percentile bootstrap interval (`resamples` resamples of whole lines, drawn from `seed`;
/// resamples in which the baseline scores 0 are left out). None when the baseline scores 0.
pub fn relative(
    model: &[f64],
    baseline: &[f64],
    weights: &[f64],
    seed: u64,
    resamples: usize,
) -> Option<Estimate> {
    let n = model.len().min(baseline.len()).min(weights.len());
    let (m, b) = (&model[..n], &baseline[..n]);
    let w = &weights[..n];
    let value = weighted_mean(m, w)? / weighted_mean(b, w).filter(|&x| x > 0.0)?;
    let num: Vec<f64> = (0..n).map(|i| m[i] * w[i]).collect();
    let den: Vec<f64> = (0..n).map(|i| b[i] * w[i]).collect();
    let (low, high) = bootstrap_ratio(&num, &den, seed, resamples)?;
    Some(Estimate {
        value,
        low,
        high,
        method: Method::Bootstrap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_hand_computed_values() {
        // k = 8, n = 10: centre (0.8 + z²/20) / (1 + z²/10), half-width as in the formula;
        // published value [0.4902, 0.9433].
        let (lo, hi) = wilson(8, 10).expect("n > 0");
        assert!(
            (lo - 0.4902).abs() < 5e-4 && (hi - 0.9433).abs() < 5e-4,
            "{lo} {hi}"
        );
        // All passes: the upper end is 1, the lower end n / (n + z²).
        let (lo, hi) = wilson(20, 20).expect("n > 0");
        assert_eq!(hi, 1.0);
        assert!((lo - 20.0 / (20.0 + Z95 * Z95)).abs() < 1e-12);
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn the_quantile_interpolates_between_order_statistics() {
        let xs = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&xs, 0.5), 2.0);
        assert_eq!(quantile(&xs, 0.125), 0.5);
        assert_eq!(quantile(&xs, 1.0), 4.0);
    }

    #[test]
    fn score_picks_wilson_for_even_pass_fail_lines_else_the_bootstrap() {
        let e = score(&[1.0, 1.0, 0.0, 1.0], &[1.0; 4], 7).expect("lines");
        assert_eq!((e.value, e.method), (0.75, Method::Wilson));
        let e = score(&[1.0, 0.5, 0.0, 1.0], &[1.0; 4], 7).expect("lines");
        assert_eq!((e.value, e.method), (0.625, Method::Bootstrap));
        assert!(e.low <= e.value && e.value <= e.high && e.low >= 0.0 && e.high <= 1.0);
        // Weights make even a pass/fail set a weighted mean: 3 of 4 weight units pass.
        let e = score(&[1.0, 0.0], &[3.0, 1.0], 7).expect("lines");
        assert_eq!((e.value, e.method), (0.75, Method::Bootstrap));
        assert_eq!(score(&[], &[], 7), None);
    }

    #[test]
    fn the_bootstrap_is_seeded() {
        let s = [1.0, 0.5, 0.25, 0.0, 1.0, 0.75];
        let w = [1.0; 6];
        assert_eq!(
            bootstrap_mean(&s, &w, 3, 500),
            bootstrap_mean(&s, &w, 3, 500)
        );
        assert_ne!(
            bootstrap_mean(&s, &w, 3, 500),
            bootstrap_mean(&s, &w, 4, 500)
        );
    }

    #[test]
    fn relative_is_the_ratio_of_weighted_means() {
        let e = relative(
            &[1.0, 0.0, 1.0, 1.0],
            &[1.0, 1.0, 1.0, 1.0],
            &[1.0; 4],
            1,
            500,
        )
        .expect("baseline scores");
        assert_eq!((e.value, e.method), (0.75, Method::Bootstrap));
        assert!(e.low <= 0.75 && e.high <= 1.0);
        assert_eq!(relative(&[1.0], &[0.0], &[1.0], 1, 100), None);
    }
}
