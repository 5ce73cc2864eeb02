//! Baseline comparison: per model present in both results, is a latency figure of the new run
//! worse (or better) than the old one, by more than a tolerance *and* by more than the samples
//! can explain?
//!
//! The rule (docs/gates.md#baseline): percentiles compare distribution-free 95 % confidence
//! intervals built from the stored histograms (a regression needs the new interval wholly above
//! the old one); means use Welch's t-test (p < 0.05) and need ≥ 30 samples a side; nothing is
//! called with fewer than 10 successful requests a side. This module never reads claims and
//! never decides the exit code.

use std::collections::BTreeMap;

use super::metric::{fmt_ms, trim_float};
use super::stats::{quantile_ci, welch_p};
use super::{text_table, GateError};
use crate::metrics::Hist;
use crate::results::{ModelResult, RunResult};

/// Latency metrics compared against a baseline (all lower-is-better).
pub const METRICS: &[&str] = &["ttft", "ttft_answer", "e2e", "tpot", "itl"];
/// Statistics compared.
pub const STATS: &[&str] = &["mean", "p50", "p90", "p99"];
/// Fewer samples than this a side and a mean is never called different: Welch's t assumes
/// near-normal sample means, which skewed latency distributions approach only with ~30 samples.
pub const MIN_SAMPLES_FOR_MEAN: u64 = 30;
/// Fewer successful requests than this a side and nothing is called: token-level samples (ITL)
/// of a handful of requests share those requests' conditions, so their count overstates the
/// evidence.
pub const MIN_REQUESTS: u64 = 10;
/// Significance level.
pub const ALPHA: f64 = 0.05;

/// Relative tolerances: a default and per-metric (`ttft`) or per-statistic (`ttft.p99`) ones.
#[derive(Debug, Clone)]
pub struct Tolerances {
    /// Applies where nothing more specific is given (fraction, 0.10 = 10 %).
    pub default: f64,
    /// Keyed by `metric` or `metric.stat`.
    pub per: BTreeMap<String, f64>,
}

impl Tolerances {
    /// The tolerance for one metric and statistic.
    pub fn get(&self, metric: &str, stat: &str) -> f64 {
        self.per
            .get(&format!("{metric}.{stat}"))
            .or_else(|| self.per.get(metric))
            .copied()
            .unwrap_or(self.default)
    }

    /// Builds tolerances from `--tolerance 10%` and `--tolerance-metric ttft.p99=5%` values.
    pub fn parse(default: &str, per: &[String]) -> Result<Tolerances, GateError> {
        let default =
            percent(default).map_err(|m| GateError::Usage(format!("--tolerance: {m}")))?;
        let mut map = BTreeMap::new();
        for item in per {
            let bad = |m: String| GateError::Usage(format!("--tolerance-metric `{item}`: {m}"));
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| bad("write metric[.stat]=N%, e.g. ttft.p99=5%".into()))?;
            let key = key.trim();
            let (metric, stat) = match key.split_once('.') {
                Some((m, s)) => (m, Some(s)),
                None => (key, None),
            };
            if !METRICS.contains(&metric) {
                return Err(bad(format!(
                    "`{metric}` is not compared against a baseline; use one of {}",
                    METRICS.join(", ")
                )));
            }
            if let Some(s) = stat {
                if !STATS.contains(&s) {
                    return Err(bad(format!(
                        "`{s}` is not a compared statistic; use one of {}",
                        STATS.join(", ")
                    )));
                }
            }
            map.insert(key.to_string(), percent(value).map_err(bad)?);
        }
        Ok(Tolerances { default, per: map })
    }
}

fn percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let num = t
        .strip_suffix('%')
        .ok_or_else(|| format!("`{t}` is not a percentage; write e.g. 10%"))?;
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{t}` is not a percentage; write e.g. 10%"))?;
    if !(0.0..=1000.0).contains(&v) {
        return Err(format!("`{t}` must be between 0% and 1000%"));
    }
    Ok(v / 100.0)
}

/// What a comparison found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Worse by more than the tolerance, and the samples support it.
    Regression,
    /// Better by more than the tolerance, and the samples support it.
    Improvement,
    /// Beyond the tolerance, but the samples cannot tell it from noise.
    NotSignificant,
    /// Within the tolerance.
    Within,
}

impl Change {
    /// As printed.
    pub fn name(self) -> &'static str {
        match self {
            Change::Regression => "REGRESSION",
            Change::Improvement => "improvement",
            Change::NotSignificant => "not significant",
            Change::Within => "within tolerance",
        }
    }
}

/// One metric and statistic of one model, old against new.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Model id (`*` for overall).
    pub model: String,
    /// Model label.
    pub label: String,
    /// Metric name.
    pub metric: String,
    /// Statistic.
    pub stat: String,
    /// Old value (ms).
    pub old: f64,
    /// New value (ms).
    pub new: f64,
    /// Old sample count.
    pub n_old: u64,
    /// New sample count.
    pub n_new: u64,
    /// (new − old) / old.
    pub change: f64,
    /// Tolerance applied.
    pub tolerance: f64,
    /// The evidence, e.g. `Welch p = 0.001` or `95 % CIs 48.1–49.9 vs 149–151 ms`.
    pub evidence: String,
    /// Verdict.
    pub verdict: Change,
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every comparison made.
    pub rows: Vec<Comparison>,
    /// Differences between the runs that make the comparison less meaningful.
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether any regression was found.
    pub fn regressed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Change::Regression)
    }

    /// The table of the comparisons beyond tolerance, and a summary line.
    pub fn table(&self, old_path: &str, new_path: &str) -> String {
        let mut out = format!("baseline {old_path} → {new_path}\n");
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        let shown: Vec<&Comparison> = self
            .rows
            .iter()
            .filter(|r| r.verdict != Change::Within)
            .collect();
        if !shown.is_empty() {
            let header: Vec<String> = [
                "model", "metric", "old", "new", "change", "tol", "verdict", "evidence",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|r| {
                    vec![
                        r.label.clone(),
                        format!("{}.{}", r.metric, r.stat),
                        format!("{} (n={})", fmt_ms(r.old), r.n_old),
                        format!("{} (n={})", fmt_ms(r.new), r.n_new),
                        format!("{:+.1} %", r.change * 100.0),
                        format!("{} %", trim_float(r.tolerance * 100.0)),
                        r.verdict.name().to_string(),
                        r.evidence.clone(),
                    ]
                })
                .collect();
            out.push_str(&text_table(&header, &rows, 2));
        }
        let n = |c| self.rows.iter().filter(|r| r.verdict == c).count();
        out.push_str(&format!(
            "{} compared: {} regression(s), {} improvement(s), {} beyond tolerance but not significant, {} within tolerance → {}\n",
            self.rows.len(),
            n(Change::Regression),
            n(Change::Improvement),
            n(Change::NotSignificant),
            n(Change::Within),
            if self.regressed() { "FAIL" } else { "PASS" }
        ));
        out
    }
}

/// Compares `new` against `old`, model by model (matched on model id, plus the overall row).
pub fn compare(
    old: &RunResult,
    new: &RunResult,
    tol: &Tolerances,
    old_path: &str,
    new_path: &str,
) -> Result<Report, GateError> {
    let mut warnings = Vec::new();
    if old.scenario.sha256 != new.scenario.sha256 {
        warnings.push(format!(
            "the scenarios differ (sha256 {}… vs {}…): the runs may not measure the same thing",
            short(&old.scenario.sha256),
            short(&new.scenario.sha256)
        ));
    }
    if old.tool.version != new.tool.version {
        warnings.push(format!(
            "llmload versions differ ({} vs {})",
            old.tool.version, new.tool.version
        ));
    }
    if old.host.hostname != new.host.hostname || old.host.cpus != new.host.cpus {
        warnings.push(format!(
            "the hosts differ ({}, {} CPUs vs {}, {} CPUs)",
            old.host.hostname, old.host.cpus, new.host.hostname, new.host.cpus
        ));
    }
    for (r, path) in [(old, old_path), (new, new_path)] {
        if !r.validity.valid {
            warnings.push(format!("{path} is an INVALID run"));
        }
    }
    let mut pairs: Vec<(&ModelResult, &ModelResult)> = Vec::new();
    for m in &new.models {
        match old.models.iter().find(|o| o.model == m.model) {
            Some(o) => pairs.push((o, m)),
            None => warnings.push(format!("model {} is not in the baseline", m.model)),
        }
    }
    for o in &old.models {
        if !new.models.iter().any(|m| m.model == o.model) {
            warnings.push(format!("model {} is in the baseline only", o.model));
        }
    }
    if new.models.len() > 1 {
        pairs.push((&old.overall, &new.overall));
    }
    let mut rows = Vec::new();
    for (o, n) in pairs {
        for metric in METRICS {
            let (Some(so), Some(sn)) = (o.latency_ms.get(*metric), n.latency_ms.get(*metric))
            else {
                continue;
            };
            if so.count == 0 || sn.count == 0 {
                continue;
            }
            let ho = decode(o, metric, old_path)?;
            let hn = decode(n, metric, new_path)?;
            for stat in STATS {
                let tolerance = tol.get(metric, stat);
                let (old_v, new_v, evidence, supported_up, supported_down) = if *stat == "mean" {
                    let p = if so.count >= MIN_SAMPLES_FOR_MEAN && sn.count >= MIN_SAMPLES_FOR_MEAN
                    {
                        welch_p(so.mean, so.stddev, so.count, sn.mean, sn.stddev, sn.count)
                    } else {
                        None
                    };
                    let sig = p.is_some_and(|p| p < ALPHA);
                    let ev = match p {
                        Some(p) => format!("Welch p {}", fmt_p(p)),
                        None => format!("means need ≥ {MIN_SAMPLES_FOR_MEAN} samples a side"),
                    };
                    (so.mean, sn.mean, ev, sig, sig)
                } else {
                    let q = match *stat {
                        "p50" => 0.5,
                        "p90" => 0.9,
                        _ => 0.99,
                    };
                    let (Some(ho), Some(hn)) = (&ho, &hn) else {
                        continue;
                    };
                    let co = quantile_ci(ho, q);
                    let cn = quantile_ci(hn, q);
                    let ev = format!("95 % CI {} vs {}", ci_text(co), ci_text(cn));
                    (
                        co.value * 1e-3,
                        cn.value * 1e-3,
                        ev,
                        cn.low > co.high,
                        cn.high < co.low,
                    )
                };
                let few = o.requests.ok.min(n.requests.ok) < MIN_REQUESTS;
                let (evidence, supported_up, supported_down) = if few {
                    (
                        format!("needs ≥ {MIN_REQUESTS} successful requests a side"),
                        false,
                        false,
                    )
                } else {
                    (evidence, supported_up, supported_down)
                };
                let change = if old_v > 0.0 {
                    (new_v - old_v) / old_v
                } else if new_v > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                };
                let verdict = if change > tolerance {
                    if supported_up {
                        Change::Regression
                    } else {
                        Change::NotSignificant
                    }
                } else if change < -tolerance {
                    if supported_down {
                        Change::Improvement
                    } else {
                        Change::NotSignificant
                    }
                } else {
                    Change::Within
                };
                rows.push(Comparison {
                    model: n.model.clone(),
                    label: n.label.clone(),
                    metric: metric.to_string(),
                    stat: stat.to_string(),
                    old: old_v,
                    new: new_v,
                    n_old: so.count,
                    n_new: sn.count,
                    change,
                    tolerance,
                    evidence,
                    verdict,
                });
            }
        }
    }
    Ok(Report { rows, warnings })
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

fn fmt_p(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".into()
    } else {
        format!("= {p:.4}")
    }
}

fn ci_text(c: super::stats::QuantileCi) -> String {
    let b = |v: f64| {
        if v.is_finite() {
            fmt_ms(v * 1e-3)
        } else if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        }
    };
    format!("[{}, {}]", b(c.low), b(c.high))
}

fn decode(m: &ModelResult, name: &str, path: &str) -> Result<Option<Hist>, GateError> {
    match m.histograms.get(name) {
        None => Ok(None),
        Some(t) => Hist::decode(t).map(Some).map_err(|e| GateError::Histogram {
            file: path.to_string(),
            source: super::metric::ReadError {
                model: m.model.clone(),
                name: name.to_string(),
                message: e.to_string(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::eval::tests::fixture;

    fn jitter(base: f64, n: usize) -> Vec<f64> {
        (0..n).map(|i| base + (i % 10) as f64).collect()
    }

    fn verdicts(r: &Report, stat: &str) -> Vec<Change> {
        r.rows
            .iter()
            .filter(|c| c.stat == stat)
            .map(|c| c.verdict)
            .collect()
    }

    #[test]
    fn a_tripled_ttft_on_200_samples_is_a_regression() {
        let old = fixture(&jitter(50.0, 200));
        let new = fixture(&jitter(150.0, 200));
        let t = Tolerances::parse("10%", &[]).expect("tol");
        let r = compare(&old, &new, &t, "a", "b").expect("compares");
        assert!(r.regressed());
        assert_eq!(verdicts(&r, "mean"), vec![Change::Regression]);
        assert_eq!(verdicts(&r, "p50"), vec![Change::Regression]);
        // 200 samples cannot bound a p99 from above: never called.
        assert_eq!(verdicts(&r, "p99"), vec![Change::NotSignificant]);
        let back = compare(&new, &old, &t, "b", "a").expect("compares");
        assert!(!back.regressed());
        assert_eq!(verdicts(&back, "p50"), vec![Change::Improvement]);
        assert!(r.table("a", "b").contains("REGRESSION"));
    }

    #[test]
    fn three_samples_are_never_a_regression() {
        let old = fixture(&[50.0, 51.0, 52.0]);
        let new = fixture(&[150.0, 151.0, 152.0]);
        let t = Tolerances::parse("10%", &[]).expect("tol");
        let r = compare(&old, &new, &t, "a", "b").expect("compares");
        assert!(!r.regressed(), "{}", r.table("a", "b"));
        assert!(r.rows.iter().all(|c| c.verdict == Change::NotSignificant));
        assert!(r.rows[0]
            .evidence
            .contains("needs ≥ 10 successful requests"));
    }

    #[test]
    fn within_tolerance_is_not_flagged() {
        let old = fixture(&jitter(100.0, 500));
        let new = fixture(&jitter(105.0, 500));
        let t = Tolerances::parse("10%", &[]).expect("tol");
        let r = compare(&old, &new, &t, "a", "b").expect("compares");
        assert!(r.rows.iter().all(|c| c.verdict == Change::Within));
        let strict = Tolerances::parse("10%", &["ttft=2%".into()]).expect("tol");
        let r = compare(&old, &new, &strict, "a", "b").expect("compares");
        assert!(r.regressed(), "{}", r.table("a", "b"));
    }

    #[test]
    fn tolerance_flags() {
        let t = Tolerances::parse("10%", &["ttft.p99=5%".into(), "itl=20%".into()]).expect("ok");
        assert_eq!(t.get("ttft", "p99"), 0.05);
        assert_eq!(t.get("ttft", "p50"), 0.10);
        assert_eq!(t.get("itl", "mean"), 0.20);
        assert!(Tolerances::parse("10", &[]).is_err());
        assert!(Tolerances::parse("10%", &["nope=5%".into()]).is_err());
        assert!(Tolerances::parse("10%", &["ttft.p75=5%".into()]).is_err());
        assert!(Tolerances::parse("10%", &["ttft".into()]).is_err());
    }

    #[test]
    fn differing_runs_are_warned_about() {
        let old = fixture(&[1.0]);
        let mut new = fixture(&[1.0]);
        new.scenario.sha256 = "def".into();
        new.tool.version = "9.9.9".into();
        new.host.hostname = "other".into();
        let t = Tolerances::parse("10%", &[]).expect("tol");
        let r = compare(&old, &new, &t, "a", "b").expect("compares");
        let w = r.warnings.join("\n");
        assert!(w.contains("scenarios differ"), "{w}");
        assert!(w.contains("versions differ"), "{w}");
        assert!(w.contains("hosts differ"), "{w}");
    }
}
