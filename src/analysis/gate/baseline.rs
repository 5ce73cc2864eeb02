//! Baseline comparison: per model present in both results, is a latency figure of the new run
//! worse (or better) than the old one, by more than a tolerance *and* by more than the samples
//! can explain?
//!
//! The rule (docs/gates.md#baseline): a figure must change by more than its tolerance, and the
//! change must survive a family-wise 5 % test over every figure compared (Holm). Percentiles
//! are tested with distribution-free order-statistic intervals from the stored histograms,
//! means with Welch's t-test (≥ 30 samples a side); per-token figures (ITL) count requests,
//! not tokens, as their sample size; nothing is called with fewer than 10 successful requests
//! a side; the overall row is compared only when the model mix matches. With several
//! baselines a regression must hold against each. This module never reads claims and never
//! decides the exit code.

use std::collections::BTreeMap;

use super::metric::{fmt_ms, trim_float};
use super::stats::{diff_p, holm, quantile_ci_eff, welch_p};
use super::GateError;
use crate::core::metric::Metric;
use crate::core::table::{self, Layout};
use crate::metrics::Hist;
use crate::results::{ModelResult, RunResult};

/// Latency metrics compared against a baseline (all lower-is-better).
pub const METRICS: &[Metric] = &[
    Metric::Ttft,
    Metric::TtftAnswer,
    Metric::E2e,
    Metric::Tpot,
    Metric::Itl,
];
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
            if !Metric::parse(metric).is_some_and(|m| METRICS.contains(&m)) {
                return Err(bad(format!(
                    "`{metric}` is not compared against a baseline; use one of {}",
                    METRICS
                        .iter()
                        .map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
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
    /// Metric.
    pub metric: Metric,
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

impl Comparison {
    /// `metric.stat`, e.g. `ttft.p99`.
    pub fn key(&self) -> String {
        format!("{}.{}", self.metric, self.stat)
    }

    /// The old value with its sample count, e.g. `48.1 ms (n=200)`.
    pub fn old_text(&self) -> String {
        format!("{} (n={})", fmt_ms(self.old), self.n_old)
    }

    /// The new value with its sample count.
    pub fn new_text(&self) -> String {
        format!("{} (n={})", fmt_ms(self.new), self.n_new)
    }

    /// The relative change as a signed percentage, e.g. `+12.5 %`.
    pub fn change_text(&self) -> String {
        format!("{:+.1} %", self.change * 100.0)
    }

    /// The tolerance applied, e.g. `10 %`.
    pub fn tolerance_text(&self) -> String {
        format!("{} %", trim_float(self.tolerance * 100.0))
    }
}

/// The whole comparison.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every comparison made.
    pub rows: Vec<Comparison>,
    /// Differences between the runs that make the comparison less meaningful.
    pub warnings: Vec<String>,
    /// Findings that fail the gate outside any figure (a model with no successful request).
    pub failures: Vec<String>,
    /// How many figures entered the family-wise correction.
    pub family: usize,
    /// The baseline files, as given.
    pub baselines: Vec<String>,
}

impl Report {
    /// Whether any regression was found.
    pub fn regressed(&self) -> bool {
        !self.failures.is_empty() || self.rows.iter().any(|r| r.verdict == Change::Regression)
    }

    /// The baselines as one label, e.g. `a.json` or `a.json, b.json`.
    pub fn baseline_label(&self) -> String {
        self.baselines.join(", ")
    }

    /// The table of the comparisons beyond tolerance, and a summary line.
    pub fn table(&self, new_path: &str) -> String {
        let mut out = format!("baseline {} → {new_path}\n", self.baseline_label());
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        for f in &self.failures {
            out.push_str(&format!("REGRESSION: {f}\n"));
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
                        r.key(),
                        r.old_text(),
                        r.new_text(),
                        r.change_text(),
                        r.tolerance_text(),
                        r.verdict.name().to_string(),
                        r.evidence.clone(),
                    ]
                })
                .collect();
            out.push_str(&table::text(&header, &rows, &Layout::left(2)));
        }
        out.push_str(&self.summary_line());
        out.push('\n');
        out
    }

    /// The counts and the gate's verdict in one line.
    pub fn summary_line(&self) -> String {
        let n = |c| self.rows.iter().filter(|r| r.verdict == c).count();
        format!(
            "{} compared: {} regression(s), {} improvement(s), {} beyond tolerance but not significant (Holm, family-wise 5 % over {} figures), {} within tolerance → {}",
            self.rows.len(),
            n(Change::Regression) + self.failures.len(),
            n(Change::Improvement),
            n(Change::NotSignificant),
            self.family,
            n(Change::Within),
            if self.regressed() { "FAIL" } else { "PASS" }
        )
    }
}

/// The most a model's share of the measured requests may differ between two runs for their
/// overall rows to be compared (2 percentage points).
pub const MAX_MIX_DIFFERENCE: f64 = 0.02;

/// Compares `new` against one or more baseline results (`olds`, each with its path), model by
/// model (matched on model id), and on the overall row when the model mix matches.
///
/// Every figure that changed beyond its tolerance is tested; the p-values of all the figures
/// are corrected together (Holm, family-wise 5 %). With several baselines a figure is a
/// regression only when it is one against *every* baseline (the reported change and p are the
/// least extreme of them), so the new run must lie beyond the baselines' own spread.
///
/// A baseline list that cannot be judged is an error naming the file: another scenario, a
/// model in one file only, a baseline model without a successful request.
pub fn compare(
    olds: &[(&RunResult, &str)],
    new: &RunResult,
    new_path: &str,
    tol: &Tolerances,
) -> Result<Report, GateError> {
    let mut warnings = Vec::new();
    let mut failures = Vec::new();
    if olds.is_empty() {
        return Err(GateError::Usage(
            "--baseline needs at least one result file".into(),
        ));
    }
    for (old, old_path) in olds {
        check_comparable(old, old_path, new, new_path)?;
        warnings.extend(differences(old, old_path, new));
    }
    if !new.validity.valid {
        warnings.push(format!("{new_path} is an INVALID run"));
    }
    // Models without a successful request in the new run: the worst regression there is.
    for m in &new.models {
        if m.requests.ok == 0 {
            let had: Vec<String> = olds
                .iter()
                .filter_map(|(o, p)| {
                    o.models
                        .iter()
                        .find(|x| x.model == m.model)
                        .map(|x| format!("{} in {p}", x.requests.ok))
                })
                .collect();
            failures.push(format!(
                "{}: no successful measured request in {new_path} ({} sent; baseline: {})",
                m.label,
                m.requests.sent,
                had.join(", ")
            ));
        }
    }
    let mut pairs: Vec<(Vec<&ModelResult>, &ModelResult)> = new
        .models
        .iter()
        .filter(|m| m.requests.ok > 0)
        .map(|m| {
            let olds: Vec<&ModelResult> = olds
                .iter()
                .filter_map(|(o, _)| o.models.iter().find(|x| x.model == m.model))
                .collect();
            (olds, m)
        })
        .collect();
    if new.models.len() > 1 {
        match mix_difference(olds, new) {
            None => pairs.push((olds.iter().map(|(o, _)| &o.overall).collect(), &new.overall)),
            Some(why) => warnings.push(format!(
                "the overall row is not compared: the model mix differs ({why}), which moves \
                 the pooled figures without any model changing; each model is compared on its own"
            )),
        }
    }
    let mut rows = Vec::new();
    let mut ps = Vec::new();
    for (o, n) in pairs {
        for &metric in METRICS {
            // Without reasoning, the answer's first token is the first token: one figure, not
            // two in the table and the family.
            let same = |m: &ModelResult| {
                let h = |k: Metric| m.histograms.get(k.as_str());
                h(Metric::TtftAnswer).is_some() && h(Metric::TtftAnswer) == h(Metric::Ttft)
            };
            if metric == Metric::TtftAnswer && same(n) && o.iter().all(|m| same(m)) {
                continue;
            }
            let per_model: Vec<Vec<Side>> = match sides(&o, n, metric, olds, new_path)? {
                Some(s) => s,
                None => continue,
            };
            for (si, stat) in STATS.iter().enumerate() {
                let tolerance = tol.get(metric.as_str(), stat);
                let (row, p) = judge_stat(n, metric, stat, tolerance, &per_model[si], olds);
                rows.push(row);
                ps.push(p);
            }
        }
    }
    let significant = holm(&ps, ALPHA);
    let m = ps.len();
    for (row, sig) in rows.iter_mut().zip(significant) {
        if row.verdict == Change::NotSignificant && sig {
            row.verdict = if row.change > 0.0 {
                Change::Regression
            } else {
                Change::Improvement
            };
        }
    }
    Ok(Report {
        rows,
        warnings,
        failures,
        family: m,
        baselines: olds.iter().map(|(_, p)| p.to_string()).collect(),
    })
}

/// One statistic of one metric, old (one baseline) against new.
#[derive(Debug, Clone)]
struct Side {
    old: f64,
    new: f64,
    n_old: u64,
    n_new: u64,
    /// Two-sided p of the difference (1 when the samples cannot tell).
    p: f64,
    evidence: String,
}

/// For each statistic in [`STATS`], one [`Side`] per baseline; `None` when a side lacks the
/// metric (not measured, e.g. `ttft_answer` without reasoning).
fn sides(
    olds: &[&ModelResult],
    n: &ModelResult,
    metric: Metric,
    paths: &[(&RunResult, &str)],
    new_path: &str,
) -> Result<Option<Vec<Vec<Side>>>, GateError> {
    let Some(sn) = n.latency_ms.get(metric.as_str()).filter(|s| s.count > 0) else {
        return Ok(None);
    };
    let hn = decode(n, metric, new_path)?;
    let per_token = metric.is_per_token();
    let eff = |m: &ModelResult, count: u64| {
        if per_token {
            count.min(m.requests.ok)
        } else {
            count
        }
    };
    let mut out: Vec<Vec<Side>> = vec![Vec::new(); STATS.len()];
    for (o, (_, old_path)) in olds.iter().zip(paths) {
        let Some(so) = o.latency_ms.get(metric.as_str()).filter(|s| s.count > 0) else {
            return Ok(None);
        };
        let ho = decode(o, metric, old_path)?;
        let (eo, en) = (eff(o, so.count), eff(n, sn.count));
        let few = o.requests.ok.min(n.requests.ok) < MIN_REQUESTS;
        for (si, stat) in STATS.iter().enumerate() {
            let mut side = if *stat == "mean" {
                let p = if eo >= MIN_SAMPLES_FOR_MEAN && en >= MIN_SAMPLES_FOR_MEAN {
                    welch_p(so.mean, so.stddev, eo, sn.mean, sn.stddev, en)
                } else {
                    None
                };
                Side {
                    old: so.mean,
                    new: sn.mean,
                    n_old: so.count,
                    n_new: sn.count,
                    p: p.unwrap_or(1.0),
                    evidence: match p {
                        Some(p) => format!("Welch p {}", fmt_p(p)),
                        None => format!("means need ≥ {MIN_SAMPLES_FOR_MEAN} samples a side"),
                    },
                }
            } else {
                let q = match *stat {
                    "p50" => 0.5,
                    "p90" => 0.9,
                    _ => 0.99,
                };
                let (Some(ho), Some(hn)) = (&ho, &hn) else {
                    return Ok(None);
                };
                let co = quantile_ci_eff(ho, q, eo);
                let cn = quantile_ci_eff(hn, q, en);
                let p = diff_p(co, cn);
                Side {
                    old: co.value * 1e-3,
                    new: cn.value * 1e-3,
                    n_old: so.count,
                    n_new: sn.count,
                    p,
                    evidence: format!("95 % CI {} vs {}, p {}", ci_text(co), ci_text(cn), fmt_p(p)),
                }
            };
            if per_token {
                side.evidence
                    .push_str(&format!(" (as {eo} vs {en} requests)"));
            }
            if few {
                side.p = 1.0;
                side.evidence = format!("needs ≥ {MIN_REQUESTS} successful requests a side");
            }
            out[si].push(side);
        }
    }
    Ok(Some(out))
}

/// One row from a statistic's sides (one per baseline), before the family-wise correction:
/// the verdict is `Within` or, beyond tolerance, `NotSignificant` (to be upgraded when its p
/// survives Holm). Returns the row and the p that enters the correction.
fn judge_stat(
    n: &ModelResult,
    metric: Metric,
    stat: &str,
    tolerance: f64,
    sides: &[Side],
    olds: &[(&RunResult, &str)],
) -> (Comparison, f64) {
    let rel = |s: &Side| {
        if s.old > 0.0 {
            (s.new - s.old) / s.old
        } else if s.new > 0.0 {
            f64::INFINITY
        } else {
            0.0
        }
    };
    let changes: Vec<f64> = sides.iter().map(rel).collect();
    let all_up = changes.iter().all(|c| *c > tolerance);
    let all_down = changes.iter().all(|c| *c < -tolerance);
    // The least extreme baseline speaks for all: the smallest change, the largest p.
    let pick = if all_up {
        (0..sides.len()).min_by(|&a, &b| changes[a].total_cmp(&changes[b]))
    } else if all_down {
        (0..sides.len()).max_by(|&a, &b| changes[a].total_cmp(&changes[b]))
    } else {
        (0..sides.len()).min_by(|&a, &b| changes[a].abs().total_cmp(&changes[b].abs()))
    }
    .unwrap_or(0);
    let p = sides.iter().map(|s| s.p).fold(0.0, f64::max);
    let s = &sides[pick];
    let mut evidence = s.evidence.clone();
    if sides.len() > 1 {
        let lo = sides.iter().map(|s| s.old).fold(f64::INFINITY, f64::min);
        let hi = sides
            .iter()
            .map(|s| s.old)
            .fold(f64::NEG_INFINITY, f64::max);
        evidence = format!(
            "baselines {}–{}; against {}: {evidence}",
            fmt_ms(lo),
            fmt_ms(hi),
            olds.get(pick).map_or("", |(_, p)| p)
        );
    }
    let verdict = if all_up || all_down {
        Change::NotSignificant
    } else {
        Change::Within
    };
    let row = Comparison {
        model: n.model.clone(),
        label: n.label.clone(),
        metric,
        stat: stat.to_string(),
        old: s.old,
        new: s.new,
        n_old: s.n_old,
        n_new: s.n_new,
        change: changes[pick],
        tolerance,
        evidence,
        verdict,
    };
    (row, if all_up || all_down { p } else { 1.0 })
}

/// Refuses a baseline that cannot be compared with the new result: another scenario, a model in
/// one file only, a baseline model with no successful request.
fn check_comparable(
    old: &RunResult,
    old_path: &str,
    new: &RunResult,
    new_path: &str,
) -> Result<(), GateError> {
    let bad = |why: String| Err(GateError::Usage(format!("baseline {old_path}: {why}")));
    if old.scenario.name != new.scenario.name {
        return bad(format!(
            "it ran scenario `{}`, but {new_path} ran `{}`; a baseline must run the same scenario",
            old.scenario.name, new.scenario.name
        ));
    }
    let ids = |r: &RunResult| r.models.iter().map(|m| m.model.clone()).collect::<Vec<_>>();
    let (io, inew) = (ids(old), ids(new));
    if let Some(m) = inew.iter().find(|m| !io.contains(m)) {
        return bad(format!(
            "model `{m}` is in {new_path} but not in the baseline, so it cannot be judged; run both with the same models"
        ));
    }
    if let Some(m) = io.iter().find(|m| !inew.contains(m)) {
        return bad(format!(
            "model `{m}` is in the baseline but not in {new_path}, so it cannot be judged; run both with the same models"
        ));
    }
    if old.overall.requests.ok == 0 {
        return bad("no successful measured request: there is nothing to compare against".into());
    }
    if let Some(m) = old.models.iter().find(|m| m.requests.ok == 0) {
        return bad(format!(
            "model `{}` has no successful measured request ({} sent), so it cannot serve as a baseline",
            m.model, m.requests.sent
        ));
    }
    Ok(())
}

/// Differences between a baseline and the new run that make the comparison less meaningful.
fn differences(old: &RunResult, old_path: &str, new: &RunResult) -> Vec<String> {
    let mut warnings = Vec::new();
    if old.scenario.sha256 != new.scenario.sha256 {
        warnings.push(format!(
            "{old_path}: the scenario file differs (sha256 {}… vs {}…): the runs may not measure the same thing",
            short(&old.scenario.sha256),
            short(&new.scenario.sha256)
        ));
    }
    if old.tool.version != new.tool.version {
        warnings.push(format!(
            "{old_path}: llmload versions differ ({} vs {})",
            old.tool.version, new.tool.version
        ));
    }
    if old.host.hostname != new.host.hostname || old.host.cpus != new.host.cpus {
        warnings.push(format!(
            "{old_path}: the hosts differ ({}, {} CPUs vs {}, {} CPUs)",
            old.host.hostname, old.host.cpus, new.host.hostname, new.host.cpus
        ));
    }
    if !old.validity.valid {
        warnings.push(format!("{old_path} is an INVALID run"));
    }
    warnings
}

/// Why the model mix of `new` differs from a baseline's by more than
/// [`MAX_MIX_DIFFERENCE`] in some model's share of measured requests sent, if it does.
fn mix_difference(olds: &[(&RunResult, &str)], new: &RunResult) -> Option<String> {
    let share = |r: &RunResult, id: &str| {
        let total = r.overall.requests.sent.max(1) as f64;
        r.models
            .iter()
            .find(|m| m.model == id)
            .map_or(0.0, |m| m.requests.sent as f64 / total)
    };
    let mut worst: Option<(f64, String)> = None;
    for (o, path) in olds {
        for m in &new.models {
            let (a, b) = (share(o, &m.model), share(new, &m.model));
            let d = (a - b).abs();
            if d > MAX_MIX_DIFFERENCE && worst.as_ref().is_none_or(|(w, _)| d > *w) {
                worst = Some((
                    d,
                    format!(
                        "{} is {:.1} % of the requests in {path}, {:.1} % in the new run",
                        m.label,
                        a * 100.0,
                        b * 100.0
                    ),
                ));
            }
        }
    }
    worst.map(|(_, w)| w)
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

fn decode(m: &ModelResult, name: Metric, path: &str) -> Result<Option<Hist>, GateError> {
    match m.histograms.get(name.as_str()) {
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
    use crate::analysis::gate::eval::tests::fixture;

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
        let r = compare(&[(&old, "a")], &new, "b", &t).expect("compares");
        assert!(r.regressed());
        assert_eq!(verdicts(&r, "mean"), vec![Change::Regression]);
        assert_eq!(verdicts(&r, "p50"), vec![Change::Regression]);
        // 200 samples cannot bound a p99 from above: never called.
        assert_eq!(verdicts(&r, "p99"), vec![Change::NotSignificant]);
        let back = compare(&[(&new, "b")], &old, "a", &t).expect("compares");
        assert!(!back.regressed());
        assert_eq!(verdicts(&back, "p50"), vec![Change::Improvement]);
        assert!(r.table("b").contains("REGRESSION"));
    }

    #[test]
    fn three_samples_are_never_a_regression() {
        let old = fixture(&[50.0, 51.0, 52.0]);
        let new = fixture(&[150.0, 151.0, 152.0]);
        let t = Tolerances::parse("10%", &[]).expect("tol");
        let r = compare(&[(&old, "a")], &new, "b", &t).expect("compares");
        assert!(!r.regressed(), "{}", r.table("b"));
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
        let r = compare(&[(&old, "a")], &new, "b", &t).expect("compares");
        assert!(r.rows.iter().all(|c| c.verdict == Change::Within));
        let strict = Tolerances::parse("10%", &["ttft=2%".into()]).expect("tol");
        let r = compare(&[(&old, "a")], &new, "b", &strict).expect("compares");
        assert!(r.regressed(), "{}", r.table("b"));
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
        let r = compare(&[(&old, "a")], &new, "b", &t).expect("compares");
        let w = r.warnings.join("\n");
        assert!(w.contains("a: the scenario file differs"), "{w}");
        assert!(w.contains("versions differ"), "{w}");
        assert!(w.contains("hosts differ"), "{w}");
    }

    /// A result whose model "m" has `requests` successful requests and an ITL histogram of
    /// `per_request` gaps each, around `base_ms`.
    fn itl_result(base_ms: f64, requests: u64, per_request: u64) -> RunResult {
        let mut r = fixture(&jitter(100.0, requests as usize));
        let mut h = Hist::default();
        for i in 0..requests * per_request {
            h.record(((base_ms + (i % 7) as f64 * 0.1) * 1e3) as u64);
        }
        for m in [&mut r.models[0], &mut r.overall] {
            m.latency_ms.insert("itl".into(), h.summary(1e-3));
            m.histograms.insert("itl".into(), h.encode());
        }
        r
    }

    fn find<'a>(r: &'a Report, metric: &str, stat: &str) -> &'a Comparison {
        r.rows
            .iter()
            .find(|c| c.metric == metric && c.stat == stat)
            .expect("row")
    }

    #[test]
    fn per_token_figures_count_requests_not_tokens() {
        let t = Tolerances::parse("10%", &[]).expect("tol");
        // 2,000 gaps from 20 requests: a p99 needs ≥ 367 independent units to be bounded.
        let old = itl_result(10.0, 20, 100);
        let new = itl_result(11.5, 20, 100);
        let r = compare(&[(&old, "a")], &new, "b", &t).expect("compares");
        let p99 = find(&r, "itl", "p99");
        assert_eq!(p99.verdict, Change::NotSignificant, "{}", r.table("b"));
        assert!(
            p99.evidence.contains("as 20 vs 20 requests"),
            "{}",
            p99.evidence
        );
        // The same shift on 400 requests of 5 gaps is bounded and called.
        let old = itl_result(10.0, 400, 5);
        let new = itl_result(11.5, 400, 5);
        let r = compare(&[(&old, "a")], &new, "b", &t).expect("compares");
        assert_eq!(find(&r, "itl", "p99").verdict, Change::Regression);
    }

    /// Two models, "m" and "k", with `sent_k` of 100 requests going to "k".
    fn two_models(ttft_ms: f64, sent_k: u64) -> RunResult {
        let mut r = fixture(&jitter(ttft_ms, 100));
        let mut k = r.models[0].clone();
        k.model = "k".into();
        k.label = "K".into();
        k.requests.sent = sent_k;
        r.models[0].requests.sent = 100 - sent_k;
        r.overall.requests.sent = 100;
        r.models.push(k);
        r
    }

    #[test]
    fn the_overall_row_needs_the_same_model_mix() {
        let t = Tolerances::parse("10%", &[]).expect("tol");
        let r = compare(
            &[(&two_models(100.0, 30), "a")],
            &two_models(100.0, 31),
            "b",
            &t,
        )
        .expect("compares");
        assert!(r.rows.iter().any(|c| c.model == "*"), "{}", r.table("b"));
        let r = compare(
            &[(&two_models(100.0, 30), "a")],
            &two_models(100.0, 40),
            "b",
            &t,
        )
        .expect("compares");
        assert!(!r.rows.iter().any(|c| c.model == "*"), "{}", r.table("b"));
        let w = r.warnings.join("\n");
        assert!(w.contains("overall row is not compared"), "{w}");
        assert!(
            w.contains("K is 30.0 % of the requests in a, 40.0 % in the new run"),
            "{w}"
        );
    }

    #[test]
    fn several_baselines_need_a_regression_against_each() {
        let t = Tolerances::parse("10%", &[]).expect("tol");
        let a = fixture(&jitter(100.0, 300));
        let b = fixture(&jitter(125.0, 300));
        let new = fixture(&jitter(130.0, 300));
        // Against a alone: +30 %. Against a and b: b's 125 ms is within 10 %.
        let r = compare(&[(&a, "a")], &new, "n", &t).expect("compares");
        assert!(r.regressed());
        let r = compare(&[(&a, "a"), (&b, "b")], &new, "n", &t).expect("compares");
        assert!(!r.regressed(), "{}", r.table("n"));
        let worse = fixture(&jitter(160.0, 300));
        let r = compare(&[(&a, "a"), (&b, "b")], &worse, "n", &t).expect("compares");
        assert!(r.regressed());
        let mean = find(&r, "ttft", "mean");
        assert!(mean.evidence.contains("against b"), "{}", mean.evidence);
        assert!(
            (mean.change - (164.5 / 129.5 - 1.0)).abs() < 1e-3,
            "{}",
            mean.change
        );
    }

    #[test]
    fn baselines_that_cannot_be_judged_are_refused_by_name() {
        let t = Tolerances::parse("10%", &[]).expect("tol");
        let new = fixture(&jitter(100.0, 50));
        let mut other = fixture(&jitter(100.0, 50));
        other.scenario.name = "other".into();
        let e = compare(&[(&other, "old.json")], &new, "new.json", &t).expect_err("scenario");
        let s = e.to_string();
        assert!(
            s.starts_with("baseline old.json: it ran scenario `other`"),
            "{s}"
        );
        let two = two_models(100.0, 30);
        let e = compare(&[(&two, "old.json")], &new, "new.json", &t).expect_err("model");
        assert!(e
            .to_string()
            .contains("model `k` is in the baseline but not in new.json"));
        let e = compare(&[(&new, "new.json")], &two, "two.json", &t).expect_err("model");
        assert!(e
            .to_string()
            .contains("model `k` is in two.json but not in the baseline"));
        let mut empty = fixture(&jitter(100.0, 50));
        empty.models[0].requests.ok = 0;
        empty.overall.requests.ok = 0;
        let e = compare(&[(&empty, "old.json")], &new, "new.json", &t).expect_err("empty");
        assert!(e
            .to_string()
            .contains("old.json: no successful measured request"));
        // A new run in which the model never succeeded is the worst regression, not bad input.
        let r = compare(&[(&new, "old.json")], &empty, "new.json", &t).expect("compares");
        assert!(r.regressed());
        assert!(r
            .table("new.json")
            .contains("REGRESSION: M: no successful measured request"));
        let xml = crate::analysis::gate::junit::render(None, Some(&r), false);
        assert!(xml.contains("failures=\"1\""), "{xml}");
        let md = crate::analysis::gate::markdown::render(
            None,
            Some(&(r, "old.json".into(), "new.json".into())),
            false,
        );
        assert!(md.contains("1 regression(s)"), "{md}");
    }
}
