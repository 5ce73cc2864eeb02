//! Small statistics for claims and baselines: Welch's t-test and the t interval for means,
//! exact (Clopper–Pearson) binomial bounds for rates, distribution-free confidence intervals for
//! quantiles read from a histogram (exact binomial ranks), and Holm's step-down correction.
//!
//! Pure functions, no policy: [`super::eval`] decides verdicts, [`super::baseline`] what counts
//! as a regression.

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
    for m in 1..20_000 {
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

/// The two-sided 95 % point of Student's t with `df` degrees of freedom (t such that
/// P(|T| ≥ t) = 0.05), by bisection on [`student_t_two_sided_p`]. `df` ≥ 1.
pub fn t95(df: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1000.0f64);
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if student_t_two_sided_p(mid, df) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The 95 % t interval for a mean from its sample mean, standard deviation and count:
/// mean ± t(0.975, n − 1) · s / √n. `None` below 2 samples.
pub fn mean_ci(mean: f64, sd: f64, n: u64) -> Option<(f64, f64)> {
    if n < 2 {
        return None;
    }
    let half = t95((n - 1) as f64) * sd / (n as f64).sqrt();
    Some((mean - half, mean + half))
}

/// The exact (Clopper–Pearson) 95 % interval for a binomial proportion with `x` events in `n`
/// trials: each bound leaves at most 2.5 % on its side, whatever the true rate. `None` when
/// `n` is 0.
pub fn rate_ci(x: u64, n: u64) -> Option<(f64, f64)> {
    if n == 0 {
        return None;
    }
    let x = x.min(n);
    // P(B ≥ x | p) = I_p(x, n − x + 1) rises with p; P(B ≤ x | p) = 1 − I_p(x + 1, n − x) falls.
    let low = if x == 0 {
        0.0
    } else {
        bisect(|p| reg_inc_beta(x as f64, (n - x + 1) as f64, p) < 0.025)
    };
    let high = if x == n {
        1.0
    } else {
        bisect(|p| 1.0 - reg_inc_beta((x + 1) as f64, (n - x) as f64, p) > 0.025)
    };
    Some((low, high))
}

/// The p in [0, 1] where `below(p)` turns from true to false (`below` is monotone).
fn bisect(below: impl Fn(f64) -> bool) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if below(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Ranks at or below which the binomial CDF is computed exactly; above, the normal
/// approximation (then at least ~20 expected samples on each side of any stored percentile).
const EXACT_RANKS_UP_TO: u64 = 20_000;

/// The 1-based ranks `(l, u)` of the order statistics that bound the q-quantile of `n`
/// independent samples with 95 % confidence, 2.5 % on each side: `l` is the largest rank with
/// P(B ≤ l − 1) ≤ 0.025 and `u` the smallest with P(B ≤ u − 1) ≥ 0.975, where B ~ Binomial(n,
/// q) counts the samples below the true quantile. `l = 0` means no lower bound exists (too few
/// samples), `u = n + 1` no upper bound.
pub fn quantile_ranks(n: u64, q: f64) -> (u64, u64) {
    if n == 0 {
        return (0, 1);
    }
    if n > EXACT_RANKS_UP_TO {
        let nf = n as f64;
        let half = Z95 * (nf * q * (1.0 - q)).sqrt();
        let l = (nf * q - half).floor();
        let u = (nf * q + half).ceil() + 1.0;
        let l = if l < 1.0 { 0 } else { l as u64 };
        let u = if u > nf { n + 1 } else { u as u64 };
        return (l, u);
    }
    // Exact: the pmf in log space (no underflow at p99.9), summed from k = 0.
    let (lq, lp) = (q.ln(), (1.0 - q).ln());
    let ln_n = ln_gamma(n as f64 + 1.0);
    let mut cdf = 0.0;
    let (mut l, mut u) = (0u64, n + 1);
    for k in 0..=n {
        let kf = k as f64;
        let ln_pmf = ln_n - ln_gamma(kf + 1.0) - ln_gamma((n - k) as f64 + 1.0)
            + kf * lq
            + (n - k) as f64 * lp;
        cdf += ln_pmf.exp();
        // cdf = P(B ≤ k): rank r = k + 1.
        if cdf <= 0.025 {
            l = k + 1;
        }
        if cdf >= 0.975 {
            u = k + 1;
            break;
        }
    }
    (l, u)
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

/// The distribution-free 95 % interval for the q-quantile of the histogram's samples: the
/// order statistics at the ranks of [`quantile_ranks`], read from the histogram's buckets (the
/// lower bound at its bucket's lowest value, the upper at its highest, so bucketing only
/// widens the interval).
#[cfg(test)]
pub fn quantile_ci(h: &Hist, q: f64) -> QuantileCi {
    quantile_ci_eff(h, q, h.len())
}

/// [`quantile_ci`] when the samples are not independent: the ranks are computed for `n_eff`
/// independent units (e.g. requests, for per-token gaps) and scaled to the histogram's count,
/// so the interval is as wide, in quantile terms, as `n_eff` samples allow.
pub fn quantile_ci_eff(h: &Hist, q: f64, n_eff: u64) -> QuantileCi {
    let n = h.len();
    let value = h.quantile(q) as f64;
    let open = QuantileCi {
        value,
        low: f64::NEG_INFINITY,
        high: f64::INFINITY,
    };
    let n_eff = n_eff.min(n);
    if n == 0 || n_eff == 0 {
        return open;
    }
    let (l, u) = quantile_ranks(n_eff, q);
    let scale = n as f64 / n_eff as f64;
    let low = if l == 0 {
        f64::NEG_INFINITY
    } else {
        let r = ((l as f64 * scale).floor() as u64).max(1);
        value_at_rank(h, r, false)
    };
    let high = if u > n_eff {
        f64::INFINITY
    } else {
        let r = ((u as f64 * scale).ceil() as u64).min(n);
        value_at_rank(h, r, true)
    };
    QuantileCi { value, low, high }
}

/// The value of the rank-th smallest sample (1-based), at bucket resolution: the bucket's
/// highest value when `high`, else its lowest.
fn value_at_rank(h: &Hist, rank: u64, high: bool) -> f64 {
    let mut seen = 0u64;
    for v in h.inner().iter_recorded() {
        seen += v.count_at_value();
        if seen >= rank {
            let at = v.value_iterated_to();
            let inner = h.inner();
            return if high {
                inner.highest_equivalent(at)
            } else {
                inner.lowest_equivalent(at)
            } as f64;
        }
    }
    h.inner().max() as f64
}

/// Two-sided p-value of a difference of two estimates from their 95 % interval half-widths
/// (standard errors ≈ half-width / 1.96): the normal test of (b − a) / √(se_a² + se_b²).
/// 1 when either interval is open (the samples cannot bound the estimate).
pub fn diff_p(a: QuantileCi, b: QuantileCi) -> f64 {
    let se = |c: QuantileCi| (c.high - c.low) / (2.0 * Z95);
    if !(a.low.is_finite() && a.high.is_finite() && b.low.is_finite() && b.high.is_finite()) {
        return 1.0;
    }
    let s = (se(a).powi(2) + se(b).powi(2)).sqrt();
    if s <= 0.0 {
        return if a.value == b.value { 1.0 } else { 0.0 };
    }
    let z = (b.value - a.value) / s;
    student_t_two_sided_p(z, 1e9)
}

/// Holm's step-down correction: which of `p` are significant with a family-wise error rate of
/// at most `alpha` (the i-th smallest p is compared with alpha / (m − i), stopping at the
/// first that is not significant).
pub fn holm(p: &[f64], alpha: f64) -> Vec<bool> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    let mut out = vec![false; m];
    for (i, &k) in order.iter().enumerate() {
        if p[k] <= alpha / (m - i) as f64 {
            out[k] = true;
        } else {
            break;
        }
    }
    out
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
    fn clopper_pearson_matches_closed_forms() {
        // x = n: the lower bound is 0.025^(1/n); x = 0: the upper bound is 1 − 0.025^(1/n).
        let (lo, hi) = rate_ci(10, 10).expect("ci");
        assert!((lo - 0.025f64.powf(0.1)).abs() < 1e-6, "{lo}");
        assert_eq!(hi, 1.0);
        let (lo, hi) = rate_ci(0, 20).expect("ci");
        assert_eq!(lo, 0.0);
        assert!((hi - (1.0 - 0.025f64.powf(0.05))).abs() < 1e-6, "{hi}");
        // A textbook value: 5 of 50 → [0.0333, 0.2181].
        let (lo, hi) = rate_ci(5, 50).expect("ci");
        assert!(
            (lo - 0.0333).abs() < 5e-4 && (hi - 0.2181).abs() < 5e-4,
            "{lo} {hi}"
        );
        // Large n converges (the continued fraction needs more terms).
        let (lo, hi) = rate_ci(5_000, 100_000).expect("ci");
        assert!(lo < 0.05 && hi > 0.05 && hi - lo < 0.003, "{lo} {hi}");
        assert_eq!(rate_ci(0, 0), None);
    }

    #[test]
    fn t_interval() {
        assert!((t95(10.0) - 2.228).abs() < 1e-3);
        assert!((t95(1e9) - Z95).abs() < 1e-3);
        let (lo, hi) = mean_ci(100.0, 10.0, 11).expect("ci");
        assert!(
            (hi - 100.0 - 2.228 * 10.0 / 11f64.sqrt()).abs() < 1e-2,
            "{hi}"
        );
        assert!((100.0 - lo - (hi - 100.0)).abs() < 1e-9);
        assert_eq!(mean_ci(1.0, 0.0, 1), None);
    }

    /// P(B ≤ k) for B ~ Binomial(n, q), by direct summation in f64 (small n only).
    fn cdf(n: u64, q: f64, k: u64) -> f64 {
        let mut c = 0.0;
        let mut choose = 1.0f64;
        for i in 0..=k {
            if i > 0 {
                choose = choose * (n - i + 1) as f64 / i as f64;
            }
            c += choose * q.powi(i as i32) * (1.0 - q).powi((n - i) as i32);
        }
        c
    }

    #[test]
    fn exact_ranks_bound_the_binomial() {
        // 122 samples, p99: at most 4 of them lie above the true p99 with 97.5 % certainty, so
        // the 118th is a lower bound; no sample is a 97.5 % upper bound (0.99^122 = 0.29).
        assert_eq!(quantile_ranks(122, 0.99), (118, 123));
        for (n, q) in [
            (20u64, 0.5),
            (60, 0.9),
            (122, 0.99),
            (300, 0.95),
            (1000, 0.5),
        ] {
            let (l, u) = quantile_ranks(n, q);
            if l > 0 {
                assert!(
                    cdf(n, q, l - 1) <= 0.025 && cdf(n, q, l) > 0.025,
                    "{n} {q} {l}"
                );
            }
            if u <= n {
                assert!(
                    cdf(n, q, u - 1) >= 0.975 && cdf(n, q, u - 2) < 0.975,
                    "{n} {q} {u}"
                );
            }
        }
        // Above the exact range the normal approximation lands within a rank or two.
        let (l, u) = quantile_ranks(20_001, 0.5);
        assert!(
            (9_857..=9_863).contains(&l) && (10_139..=10_145).contains(&u),
            "{l} {u}"
        );
    }

    #[test]
    fn holm_steps_down() {
        assert_eq!(holm(&[0.01, 0.04, 0.03], 0.05), vec![true, false, false]);
        assert_eq!(holm(&[0.01, 0.02, 0.04], 0.05), vec![true, true, true]);
        assert_eq!(holm(&[0.2, 0.001], 0.05), vec![false, true]);
        assert!(holm(&[], 0.05).is_empty());
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
        // The same 10,000 samples from 100 independent units: as wide as 100 samples allow.
        let ci = quantile_ci_eff(&big, 0.5, 100);
        assert!(ci.low < 4_100.0 && ci.high > 5_900.0, "{ci:?}");
        let ci = quantile_ci_eff(&big, 0.99, 100);
        assert!(ci.high.is_infinite(), "{ci:?}");
    }
}
