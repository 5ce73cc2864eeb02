//! A capacity sweep's analysis: judging each step (steady or over capacity, within SLO or not),
//! finding the knee (the sustainable rate), bounding how far off it may be when steps were cut
//! short, and the sweep's table. Reads results only; the procedure that runs the steps is
//! `engine::sweep`, on a higher floor.

use std::fmt::Write;

use crate::config::sweep::SweepSettings;
use crate::core::table::{self, Align, Layout};
use crate::results::sweep::{Knee, StepKind, SweepStep, Verdict};
use crate::results::RunResult;

/// What the judgment of a rate step needs from the steps before it.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepContext {
    /// TTFT p50 of the synchronous step (ms).
    pub baseline_ttft_p50_ms: f64,
    /// The probe's throughput when the probe saturated the endpoint (requests/s).
    pub capacity: Option<f64>,
    /// Requests the endpoint serves at once at saturation: capacity × request duration.
    pub slots: f64,
    /// Whether any objective of an SLO is set.
    pub slo_set: bool,
}

/// A step's verdict and the reason for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Judged {
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
    /// Whether a higher rate cannot be measured either (the ladder stops).
    pub stop: bool,
}

/// The growth of the backlog (requests sent and not yet finished) over a run's measurement
/// window, in requests: the least-squares slope of the backlog at each whole second inside
/// the window times the window's length, or the difference of its ends with fewer than five
/// seconds. None with fewer than two seconds inside the window.
pub fn backlog_growth(r: &RunResult) -> Option<f64> {
    let (a, b) = (r.load.window_start_s, r.load.window_end_s);
    let mut backlog = 0i64;
    let mut points: Vec<(f64, f64)> = Vec::new();
    for p in &r.timeseries {
        backlog += p.sent as i64 - (p.ok + p.failed) as i64;
        let t = (p.t_s + 1) as f64; // the backlog at the end of second t_s
        if t >= a - 1e-9 && t <= b + 1e-9 {
            points.push((t, backlog as f64));
        }
    }
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let span = points[points.len() - 1].0 - points[0].0;
    if points.len() < 5 {
        return Some(points[points.len() - 1].1 - points[0].1);
    }
    let mt = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mb = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mt) * (p.1 - mb)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mt).powi(2)).sum();
    (sxx > 0.0).then(|| sxy / sxx * span)
}

/// The backlog growth above which a step's queue counts as still growing: 10 % of the
/// arrivals in the window (what a rate 10 % above capacity adds), and at least 3 requests
/// plus the endpoint's slots: a steady queue near capacity wanders by about that much over a
/// window, and a rate just above capacity is caught by the probe's capacity instead.
pub fn growth_limit(arrivals: f64, slots: f64) -> f64 {
    (0.10 * arrivals).max(3.0 + slots)
}

/// TTFT p50 per whole second inside the window.
fn ttft_series(r: &RunResult) -> Vec<f64> {
    let (a, b) = (r.load.window_start_s, r.load.window_end_s);
    r.timeseries
        .iter()
        .filter(|p| (p.t_s as f64) >= a && ((p.t_s + 1) as f64) <= b)
        .filter_map(|p| p.ttft_p50_ms)
        .collect()
}

/// Judges one rate step. `s` gives the limits, `cx` what the earlier steps measured.
pub fn judge(step: &SweepStep, s: &SweepSettings, cx: &StepContext) -> Judged {
    let offered = step.offered_rate_per_s.unwrap_or(0.0);
    let r = &step.result;
    let verdict = |verdict, reason: String| Judged {
        verdict,
        reason,
        stop: false,
    };
    // Above the capacity the probe measured no queue can be steady, whatever this step shows.
    if let Some(c) = cx.capacity.filter(|c| offered > *c) {
        return verdict(
            Verdict::OverCapacity,
            format!("above the {c:.2} req/s the saturation probe completed: a queue grows without bound"),
        );
    }
    // A generator that could not send the offered rate (or ran out of CPU) cannot measure a
    // higher one; timer lateness alone makes the step invalid.
    let cannot_send = r
        .validity
        .reasons
        .iter()
        .any(|x| x.contains("send rate") || x.contains("CPU cores"));
    if !step.valid {
        return Judged {
            verdict: Verdict::Invalid,
            reason: format!(
                "the generator, not the endpoint, limited the step: {}",
                r.validity.reasons.join("; ")
            ),
            stop: cannot_send,
        };
    }
    if step.error_rate > s.max_error_rate {
        return verdict(
            Verdict::Errors,
            format!(
                "error rate {:.1} % (limit {:.1} %)",
                step.error_rate * 100.0,
                s.max_error_rate * 100.0
            ),
        );
    }
    let window = step.window_s.unwrap_or(0.0);
    let arrivals = step.arrivals_per_s.unwrap_or(offered) * window;
    if let Some(g) = step.backlog_growth {
        let limit = growth_limit(arrivals, cx.slots);
        if g > limit {
            return verdict(
                Verdict::OverCapacity,
                format!(
                    "the backlog grew by {g:.0} requests over the {window:.0} s window (limit {limit:.0}): completions fell behind arrivals"
                ),
            );
        }
    }
    let att = step.slo_attainment.unwrap_or(0.0);
    if cx.slo_set && att < s.required_attainment {
        return verdict(
            Verdict::OverSlo,
            format!(
                "{:.1} % of requests met the SLO (required {:.1} %)",
                att * 100.0,
                s.required_attainment * 100.0
            ),
        );
    }
    // A step that looks within its SLO may still be building a queue, which shows as TTFT
    // rising through the window; read only with an SLO (without one, a queue still settling
    // below capacity is no reason to stop), over six seconds or more and with the backlog
    // rising too, since in a short window one burst near its end looks the same.
    let series = ttft_series(r);
    if cx.slo_set && series.len() >= 6 && step.backlog_growth.is_some_and(|g| g > 0.0) {
        let third = series.len() / 3;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (first, last) = (
            mean(&series[..third]),
            mean(&series[series.len() - third..]),
        );
        if last > 2.0 * first && last > 1.5 * cx.baseline_ttft_p50_ms.max(1e-3) {
            return verdict(
                Verdict::OverCapacity,
                format!(
                    "TTFT kept growing through the step (p50 {first:.0} ms in the first third, {last:.0} ms in the last): a queue was building"
                ),
            );
        }
    }
    if !cx.slo_set {
        return verdict(
            Verdict::Steady,
            "the queue stayed steady (no [slo] set: latency not judged)".into(),
        );
    }
    verdict(
        Verdict::WithinSlo,
        format!(
            "steady, {:.1} % of requests met the SLO (required {:.1} %)",
            att * 100.0,
            s.required_attainment * 100.0
        ),
    )
}

/// The 95 % Wilson score interval of a share `p` observed in `n` trials.
pub fn wilson(p: f64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, z) = (n as f64, 1.96f64);
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = z / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Whether a step's SLO verdict is too close to call: the required attainment lies inside the
/// 95 % interval of the attainment it measured.
pub fn marginal(step: &SweepStep, required: f64) -> bool {
    let Some(slo) = step.result.overall.slo.as_ref() else {
        return false;
    };
    let (lo, hi) = wilson(slo.attainment, slo.issued);
    lo < required && required < hi
}

/// The steps that decide each rate, as (rate, verdict, index): for each rate the latest step
/// that is neither invalid (its figures describe the generator, not the endpoint) nor
/// inconclusive (measured again).
pub fn deciding(steps: &[SweepStep]) -> Vec<(f64, Verdict, usize)> {
    let mut out: Vec<(f64, Verdict, usize)> = Vec::new();
    for (i, x) in steps.iter().enumerate().rev() {
        let (Some(rate), Some(v)) = (x.offered_rate_per_s, x.verdict) else {
            continue;
        };
        if x.kind != StepKind::Rate || matches!(v, Verdict::Invalid | Verdict::Inconclusive) {
            continue;
        }
        if !out.iter().any(|o| o.0 == rate) {
            out.push((rate, v, i));
        }
    }
    out.reverse();
    out
}

fn judged(steps: &[SweepStep]) -> Vec<(f64, Verdict)> {
    deciding(steps).into_iter().map(|x| (x.0, x.1)).collect()
}

/// The last rate that held below every rate that did not, and the first rate that did not.
pub fn bracket(steps: &[SweepStep]) -> (Option<f64>, Option<f64>) {
    let j = judged(steps);
    let bad = j
        .iter()
        .filter(|x| !x.1.holds())
        .map(|x| x.0)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
    let good = j
        .iter()
        .filter(|x| x.1.holds() && bad.is_none_or(|b| x.0 < b))
        .map(|x| x.0)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    (good, bad)
}

/// Finds the knee: the sustainable rate is the highest rate that held below every rate that
/// did not. `short` is where the truth may lie, when steps were cut short.
pub fn knee(
    steps: &[SweepStep],
    s: &SweepSettings,
    slo_set: bool,
    short: Option<ShortStepRange>,
) -> Knee {
    let (good, bad) = bracket(steps);
    let decided = deciding(steps);
    let step_at = |rate: f64| {
        decided
            .iter()
            .find(|x| x.0 == rate)
            .and_then(|x| steps.get(x.2))
    };
    let why_bad = bad
        .and_then(step_at)
        .and_then(|x| x.reason.clone())
        .unwrap_or_default();
    let what = if slo_set {
        "held the SLO with the queue steady"
    } else {
        "the endpoint kept up with (queue steady; no [slo] set, so latency was not judged)"
    };
    let off = short
        .map(|b| {
            format!(
                " — steps were shorter than a steady state needs: {}",
                b.text()
            )
        })
        .unwrap_or_default();
    let statement = match (good, bad) {
        (Some(g), Some(b)) => format!(
            "sustainable rate: {g:.2} req/s, the highest rate that {what}; {b:.2} req/s did not ({why_bad}){off}"
        ),
        (Some(g), None) => format!(
            "sustainable rate: at least {g:.2} req/s: every rate tried held, and this was the highest{off}"
        ),
        (None, Some(b)) => format!(
            "sustainable rate: none; the lowest rate tried, {b:.2} req/s, did not hold ({why_bad})"
        ),
        (None, None) => "sustainable rate: not found (no rate step was judged)".into(),
    };
    Knee {
        required_attainment: s.required_attainment,
        max_rate_within_slo: good,
        latency_knee_rate: None,
        method: format!(
            "a rate holds when the generator kept up, the error rate is ≤ {:.1} %, the offered rate is not above the saturation probe's throughput, the backlog did not grow over the window (by more than 10 % of the arrivals){}; the coarse ladder stops at the first rate that does not hold, bisection narrows the gap to {:.0} %, and a rate that held only in a coarse step is confirmed with a full-length one",
            s.max_error_rate * 100.0,
            if slo_set {
                format!(" and at least {:.0} % of requests met the SLO", s.required_attainment * 100.0)
            } else {
                " (no [slo] set: latency not judged)".to_string()
            },
            s.precision * 100.0
        ),
        sustainable_rate_per_s: good,
        first_failing_rate_per_s: bad,
        limited_by: Some(if slo_set { "slo" } else { "capacity" }.into()),
        may_be_off_pct: short.map(|b| b.over_pct()),
        may_be_understated_pct: short.map(|b| b.under_pct()),
        range_per_s: short.map(|b| [b.low, b.high]),
        statement: Some(statement),
    }
}

/// The lowest rate (requests/s) whose steps a queue had time to settle in, when steps ran
/// shorter than a steady state needs, from the heavy-traffic relaxation time of a queue with
/// `slots` servers: a queue at utilisation ρ settles in about τ = d / (slots · (1 − √ρ)²) (d
/// the request duration), so a step of warmup + window T shows the steady state only up to
/// ρ* = (1 − √(3d / (slots · T)))², that is up to ρ* × capacity. None when a figure is missing.
pub fn settled_floor(capacity: f64, slots: f64, d: f64, shortest_step_s: f64) -> Option<f64> {
    if !(capacity > 0.0 && slots > 0.0 && d > 0.0 && shortest_step_s > 0.0) {
        return None;
    }
    let x = (3.0 * d / (slots * shortest_step_s)).sqrt();
    let rho = if x >= 1.0 { 0.0 } else { (1.0 - x).powi(2) };
    Some(rho * capacity)
}

/// How much the sustainable rate may be overstated because a queue had no time to build
/// (percent): a sustainable rate above the [`settled_floor`] may be overstated down to it.
/// None when every step was long enough or nothing is known.
pub fn short_step_bound(
    sustainable: Option<f64>,
    capacity: f64,
    slots: f64,
    d: f64,
    shortest_step_s: f64,
) -> Option<f64> {
    let r = sustainable?;
    let floor = settled_floor(capacity, slots, d, shortest_step_s)?;
    Some(if r > floor {
        (r - floor) / r * 100.0
    } else {
        0.0
    })
}

/// Where the true sustainable rate may lie when steps were cut short.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShortStepRange {
    /// The sustainable rate reported (requests/s).
    pub reported: f64,
    /// The lowest rate the truth may have (requests/s).
    pub low: f64,
    /// The highest rate the truth may have (requests/s).
    pub high: f64,
}

impl ShortStepRange {
    /// How much the reported rate may be above the truth, percent of the reported rate.
    pub fn over_pct(&self) -> f64 {
        ((self.reported - self.low) / self.reported * 100.0).max(0.0)
    }

    /// How much the reported rate may be below the truth, percent of the reported rate.
    pub fn under_pct(&self) -> f64 {
        ((self.high - self.reported) / self.reported * 100.0).max(0.0)
    }

    /// The range in words, as the warning and the knee's sentence say it.
    pub fn text(&self) -> String {
        format!(
            "the true sustainable rate may be up to {:.0} % lower or {:.0} % higher than the {:.2} req/s reported (between {:.2} and {:.2} req/s; off by −{:.0} % / +{:.0} %)",
            self.over_pct(),
            self.under_pct(),
            self.reported,
            self.low,
            self.high,
            self.over_pct(),
            self.under_pct()
        )
    }
}

/// Every rate step whose figures describe the endpoint and that counted SLO attainment, as
/// (offered rate, requests that met the SLO, requests judged).
fn slo_samples(steps: &[SweepStep]) -> Vec<(f64, u64, u64)> {
    steps
        .iter()
        .filter(|x| x.kind == StepKind::Rate && x.verdict != Some(Verdict::Invalid))
        .filter_map(|x| {
            let slo = x.result.overall.slo.as_ref()?;
            Some((x.offered_rate_per_s?, slo.met, slo.issued))
        })
        .filter(|x| x.2 > 0)
        .collect()
}

/// Requests met and judged over the samples whose rate is in `lo..=hi` (`lo` left out when
/// `open_lo`).
fn pooled(samples: &[(f64, u64, u64)], lo: f64, open_lo: bool, hi: f64) -> (u64, u64) {
    samples
        .iter()
        .filter(|x| (x.0 > lo || (!open_lo && x.0 == lo)) && x.0 <= hi)
        .fold((0, 0), |(m, n), x| (m + x.1, n + x.2))
}

/// Where the true sustainable rate may lie when steps were cut short: the sampling error of
/// their few requests, in both directions, and the queue that may not have built up.
///
/// SLO attainment falls as the rate rises, so every step at a rate r′ ≥ r measures requests
/// whose chance of meeting the SLO is at most that at r: the 95 % lower (Wilson) bound of the
/// attainment pooled over the steps at rates in [r, R] is a lower bound of the attainment at
/// r. The lowest the truth may be is the highest such r whose bound reaches `required`, taking
/// only steps at or below `floor` (the [`settled_floor`]; above it a step's attainment may be
/// too good, its queue not yet built); 0 when none does. In the same way the upper bound of
/// the attainment pooled over the steps above the reported rate R up to r bounds the
/// attainment at r from above; the highest the truth may be is the lowest rate for which it is
/// below `required`, or the `capacity` the saturation probe measured (no queue is steady
/// above it), whichever is lower; else the highest rate tried. Without an SLO only the queue
/// term applies below and the capacity above. None without a sustainable rate.
pub fn short_step_range(
    steps: &[SweepStep],
    required: f64,
    slo_set: bool,
    capacity: Option<f64>,
    floor: Option<f64>,
) -> Option<ShortStepRange> {
    let (good, _) = bracket(steps);
    let g = good.filter(|g| *g > 0.0)?;
    let top = floor.map_or(g, |f| f.min(g));
    let samples = slo_samples(steps);
    let mut rates: Vec<f64> = samples.iter().map(|x| x.0).collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    let confident = |(m, n): (u64, u64), above: bool| {
        n > 0 && {
            let (lo, hi) = wilson(m as f64 / n as f64, n);
            if above {
                lo >= required
            } else {
                hi < required
            }
        }
    };
    let low = if slo_set {
        rates
            .iter()
            .rev()
            .copied()
            .filter(|r| *r <= top)
            .find(|r| confident(pooled(&samples, *r, false, top), true))
            .unwrap_or(0.0)
    } else {
        top
    };
    let tried = steps
        .iter()
        .filter(|x| x.kind == StepKind::Rate)
        .filter_map(|x| x.offered_rate_per_s)
        .fold(g, f64::max);
    let over_slo = rates
        .iter()
        .copied()
        .filter(|r| slo_set && *r > g)
        .find(|r| confident(pooled(&samples, g, true, *r), false));
    let high = match (over_slo, capacity.filter(|c| *c >= g)) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => tried,
    };
    Some(ShortStepRange {
        reported: g,
        low: low.min(g),
        high: high.max(g),
    })
}

/// The table printed after a sweep.
pub fn table(sw: &crate::results::sweep::Sweep) -> String {
    let header = [
        "step",
        "load",
        "window",
        "done/s",
        "good/s",
        "SLO %",
        "in-flight",
        "Little",
        "backlog+",
        "TTFT p50",
        "TTFT p99",
        "E2E p50",
        "E2E p99",
        "err %",
        "verdict",
    ];
    let rows: Vec<Vec<String>> = sw
        .steps
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let load = match (x.kind, x.offered_rate_per_s, x.concurrency) {
                (StepKind::Rate, Some(r), _) => {
                    format!("{}{r:.2} req/s", if x.refine { "↳ " } else { "" })
                }
                (StepKind::Synchronous, _, _) => "1 at a time".into(),
                (_, _, Some(c)) => format!("{c} concurrent"),
                _ => "-".into(),
            };
            let opt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("-".into(), f);
            let verdict = match (x.verdict, x.kind) {
                (Some(v), _) => v.label().to_string(),
                (None, StepKind::Synchronous) => "baseline".into(),
                (None, StepKind::Throughput) => "capacity".into(),
                (None, StepKind::Rate) => "-".into(),
            };
            let verdict = if x.valid || x.verdict.is_some() {
                verdict
            } else {
                format!("{verdict} (INVALID)")
            };
            vec![
                format!("{}", i + 1),
                load,
                opt(x.window_s, &|v| format!("{v:.0} s")),
                format!("{:.2}", x.completed_per_s),
                opt(x.goodput_per_s, &|v| format!("{v:.2}")),
                opt(x.slo_attainment, &|v| format!("{:.1}", v * 100.0)),
                format!("{:.1}", x.in_flight_mean),
                format!("{:.1}", x.littles_law_in_flight),
                opt(x.backlog_growth, &|v| format!("{v:.0}")),
                format!("{:.0}", x.ttft_p50_ms),
                format!("{:.0}", x.ttft_p99_ms),
                format!("{:.0}", x.e2e_p50_ms),
                format!("{:.0}", x.e2e_p99_ms),
                format!("{:.1}", x.error_rate * 100.0),
                verdict,
            ]
        })
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "sweep (latencies in ms from the scheduled send time; in-flight measured vs Little's law = completed/s × mean E2E; backlog+ = growth of sent-but-unfinished requests over the window; ↳ = bisection step):"
    );
    // Numbers right-aligned; the verdict, last, left as text.
    let mut align = vec![Align::Right; header.len() - 1];
    align.push(Align::Left);
    out.push_str(&table::text(&header, &rows, &Layout::columns(align)));
    out.push('\n');
    if let Some(d) = sw.request_duration_s {
        let _ = writeln!(
            out,
            "request duration (one at a time): {:.0} ms; step lengths follow from it",
            d * 1e3
        );
    }
    let _ = writeln!(
        out,
        "capacity (saturation probe, concurrency / mean E2E): {:.2} req/s{}",
        sw.max_throughput_rps,
        match sw.probe_saturated {
            Some(false) => " — the probe did not queue requests, so this is a lower bound",
            _ => "",
        }
    );
    match &sw.knee.statement {
        Some(st) => {
            let _ = writeln!(out, "{st}");
        }
        None => {
            let _ = writeln!(
                out,
                "highest rate within SLO: {}",
                sw.knee
                    .max_rate_within_slo
                    .map_or("none".into(), |r| format!("{r:.2} req/s"))
            );
        }
    }
    if let Some(why) = &sw.stopped_early {
        let _ = writeln!(out, "stopped early: {why}");
    }
    for w in &sw.warnings {
        let _ = writeln!(out, "WARNING: {w}");
    }
    let _ = writeln!(out, "({})", sw.knee.method);
    out
}

#[cfg(test)]
mod tests;
