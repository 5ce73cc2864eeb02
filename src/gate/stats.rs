//! Small statistics for the baseline rule: Welch's t-test on means and distribution-free
//! confidence intervals for quantiles read from a histogram.
//!
//! Pure functions, no policy: [`super::baseline`] decides what counts as a regression.

use crate::metrics::Hist;

/// The z value of a two-sided 95 % interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Two-sided p-value of Welch's t-test for a difference in means, from each side's mean,
/// standard deviation and count. `None` when either side has fewer than 2 samples.
pub fn welch_p(m1: f64, s1: f64, n1: u64, m2: f64, s2: f64, n2: u64) -> Option<f64> {
    if n1 < 2 || n2 < 2 {
        return None;
    }
    let (n1, n2) = (n1 as f64, n2 as f64);
    let (v1, v2) = (s1 * s1 / n1, s2 * s2 / n2);
    let se2 = v1 + v2;
    if se2 <= 0.0 {
        // Both samples constant: any difference is certain, none is certainly none.
        return Some(if m1 == m2 { 1.0 } else { 0.0 });
    }
    let t = (m2 - m1) / se2.sqrt();
    let df = se2 * se2 / (v1 * v1 / (n1 - 1.0) + v2 * v2 / (n2 - 1.0));
    Some(student_t_two_sided_p(t, df))
}

/// P(|T| ≥ |t|) for Student's t with `df` degrees of freedom.
pub fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return 0.0;
    }
    let x = df / (df + t * t);
    reg_inc_beta(df / 2.0, 0.5, x).clamp(0.0, 1.0)
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for x > 0.
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised incomplete beta function I_x(a, b).
fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front =
        (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    // The continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry else.
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// Continued fraction for the incomplete beta (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let mut c = 1.0;
    let mut d = 1.0 - (a + b) * x / (a + 1.0);
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        for step in [aa, -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))] {
            d = 1.0 + step * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + step / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        let last = d * c;
        if (last - 1.0).abs() < 1e-14 {
            break;
        }
    }
    h
}

/// A 95 % confidence interval for a quantile, in the histogram's units. A bound is infinite
/// when the sample is too small to put one there (the needed order statistic lies beyond the
/// smallest or largest sample).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileCi {
    /// The point estimate (the sample quantile).
    pub value: f64,
    /// Lower bound, or −∞.
    pub low: f64,
    /// Upper bound, or +∞.
    pub high: f64,
}

/// The distribution-free 95 % interval for the q-quantile: the order statistics at ranks
/// n·q ∓ z·√(n·q·(1−q)) (normal approximation to the binomial count of samples below the
/// true quantile), read from the histogram's buckets.
pub fn quantile_ci(h: &Hist, q: f64) -> QuantileCi {
    let n = h.len();
    let value = h.quantile(q) as f64;
    if n == 0 {
        return QuantileCi {
            value,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
        };
    }
    let nf = n as f64;
    let half = Z95 * (nf * q * (1.0 - q)).sqrt();
    let lo_rank = (nf * q - half).floor();
    let hi_rank = (nf * q + half).ceil() + 1.0;
    let low = if lo_rank < 1.0 {
        f64::NEG_INFINITY
    } else {
        value_at_rank(h, lo_rank as u64)
    };
    let high = if hi_rank > nf {
        f64::INFINITY
    } else {
        value_at_rank(h, hi_rank as u64)
    };
    QuantileCi { value, low, high }
}

/// The value of the rank-th smallest sample (1-based), at bucket resolution.
fn value_at_rank(h: &Hist, rank: u64) -> f64 {
    let mut seen = 0u64;
    for v in h.inner().iter_recorded() {
        seen += v.count_at_value();
        if seen >= rank {
            return h.inner().highest_equivalent(v.value_iterated_to()) as f64;
        }
    }
    h.inner().max() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_distribution_matches_tables() {
        // t = 2.228 with 10 df is the two-sided 5 % point; t = 1.96 with huge df too.
        assert!((student_t_two_sided_p(2.228, 10.0) - 0.05).abs() < 1e-3);
        assert!((student_t_two_sided_p(1.96, 1e6) - 0.05).abs() < 1e-3);
        assert!((student_t_two_sided_p(0.0, 5.0) - 1.0).abs() < 1e-9);
        assert!((student_t_two_sided_p(12.706, 1.0) - 0.05).abs() < 1e-3);
    }

    #[test]
    fn welch_needs_two_samples_each() {
        assert_eq!(welch_p(1.0, 0.0, 1, 2.0, 0.0, 5), None);
        let p = welch_p(100.0, 10.0, 200, 103.0, 10.0, 200).expect("p");
        // t ≈ 3.0 with ~398 df: p ≈ 0.003.
        assert!((0.002..0.004).contains(&p), "{p}");
        let p = welch_p(100.0, 10.0, 5, 103.0, 10.0, 5).expect("p");
        assert!(p > 0.5, "{p}");
    }

    #[test]
    fn quantile_intervals_widen_and_open_up_with_few_samples() {
        let mut big = Hist::default();
        for v in 1..=10_000u64 {
            big.record(v);
        }
        let ci = quantile_ci(&big, 0.5);
        assert!(ci.low < 5000.0 && ci.high > 5000.0, "{ci:?}");
        assert!(ci.high - ci.low < 300.0, "{ci:?}");
        let mut small = Hist::default();
        for v in [10u64, 20, 30] {
            small.record(v);
        }
        let ci = quantile_ci(&small, 0.5);
        assert!(ci.low.is_infinite() && ci.high.is_infinite(), "{ci:?}");
        let ci = quantile_ci(&big, 0.99);
        assert!(ci.high.is_finite(), "{ci:?}");
    }
}
