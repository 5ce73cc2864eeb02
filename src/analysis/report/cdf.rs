//! Stored histograms as CDF curves of a bounded number of points, so a report of a large run
//! stays small: the curve follows the histogram's recorded buckets, thinned where neighbouring
//! points are closer than a step in both log-latency and probability.

use crate::metrics::Hist;

/// A CDF: (value, share of samples ≤ value), values ascending, the last share 1.
pub type Curve = Vec<(f64, f64)>;

/// The CDF of `h` with values multiplied by `scale` (1e-3: µs → ms), at most about `max_points`
/// points. Each point is a recorded bucket's highest equivalent value and the share of
/// samples up to and including that bucket. A point is kept when it moved at least 1/(max/2) of
/// the curve's log-value range or of the probability range since the last kept point, so both
/// the body and the tail keep their shape; the first and last buckets are always kept.
pub fn cdf(h: &Hist, scale: f64, max_points: usize) -> Curve {
    let inner = h.inner();
    let n = inner.len();
    if n == 0 {
        return Vec::new();
    }
    let mut all: Vec<(f64, f64)> = Vec::new();
    let mut cum = 0u64;
    for v in inner.iter_recorded() {
        cum += v.count_since_last_iteration();
        let x = inner.highest_equivalent(v.value_iterated_to()) as f64 * scale;
        all.push((x, cum as f64 / n as f64));
    }
    thin(&all, max_points)
}

/// Thins an ascending curve to about `max_points` (see [`cdf`]).
pub fn thin(all: &[(f64, f64)], max_points: usize) -> Curve {
    if all.len() <= max_points.max(2) {
        return all.to_vec();
    }
    let budget = (max_points / 2).max(1) as f64;
    let lx = |x: f64| x.max(1e-9).log10();
    let (first, last) = (all[0], all[all.len() - 1]);
    let dx = ((lx(last.0) - lx(first.0)) / budget).max(1e-12);
    let dp = 1.0 / budget;
    let mut out = vec![first];
    let mut prev = first;
    for &p in &all[1..all.len() - 1] {
        if lx(p.0) - lx(prev.0) >= dx || p.1 - prev.1 >= dp {
            out.push(p);
            prev = p;
        }
    }
    out.push(last);
    out
}

/// The curve as drawn: a step function (each value holds its share until the next value), so
/// a log axis shows where samples really are.
pub fn steps(c: &Curve) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(c.len() * 2);
    let mut prev_p = 0.0;
    for &(x, p) in c {
        out.push((x, prev_p));
        out.push((x, p));
        prev_p = p;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_samples_give_a_straight_cdf() {
        // 1 ms … 1000 ms, one sample each, recorded in µs.
        let mut h = Hist::default();
        for ms in 1..=1000u64 {
            h.record(ms * 1000);
        }
        let c = cdf(&h, 1e-3, 1_000_000);
        assert_eq!(c.len(), 1000);
        // Values ascend and shares end at 1.
        assert!(c.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        assert_eq!(c.last().map(|p| p.1), Some(1.0));
        // 3 significant digits: the bucket of 500 ms ends within 0.1 % above it.
        let (x, p) = c[499];
        assert!((500.0..=500.5).contains(&x), "{x}");
        assert!((p - 0.5).abs() < 1e-12, "{p}");
        assert!((c[0].0 - 1.0).abs() < 0.001 && (c[0].1 - 0.001).abs() < 1e-12);
    }

    #[test]
    fn thinning_bounds_points_and_keeps_ends_and_tail() {
        let mut h = Hist::default();
        // A heavy body at 100–200 ms and a thin tail out to 10 s.
        for i in 0..100_000u64 {
            h.record(100_000 + (i % 100_000));
        }
        for s in 1..=10u64 {
            h.record(s * 1_000_000);
        }
        let full = cdf(&h, 1e-3, usize::MAX);
        let c = cdf(&h, 1e-3, 200);
        assert!(full.len() > 1000, "{}", full.len());
        assert!(c.len() <= 202, "{}", c.len());
        assert_eq!(c.first(), full.first());
        assert_eq!(c.last(), full.last());
        // The tail (10 points over 1–10 s, ≪ 1 % of samples) is still drawn.
        assert!(c.iter().filter(|(x, _)| *x >= 1000.0).count() >= 5);
        // The body's median is still near 150 ms: some point with share ~0.5 lies there.
        let near = c
            .iter()
            .find(|(_, p)| *p >= 0.5)
            .expect("a point past the median");
        assert!((140.0..=160.0).contains(&near.0), "{near:?}");
    }

    #[test]
    fn empty_and_step_shape() {
        assert!(cdf(&Hist::default(), 1e-3, 100).is_empty());
        let s = steps(&vec![(1.0, 0.5), (2.0, 1.0)]);
        assert_eq!(s, vec![(1.0, 0.0), (1.0, 0.5), (2.0, 0.5), (2.0, 1.0)]);
    }
}
