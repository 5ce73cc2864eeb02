//! Unit tests of the sweep's step lengths, judgments and knee, on a real result file whose
//! time series and figures are set to known values.

use std::path::Path;
use std::time::Duration;

use super::{
    backlog_growth, bracket, growth_limit, judge, settled_floor, short_step_bound,
    short_step_range, wilson,
};
use super::{knee, StepContext};
use crate::config::sweep::SweepSettings;
use crate::results::sweep::{StepKind, SweepStep, Verdict};
use crate::results::{RunResult, SeriesPoint};

fn fixture() -> RunResult {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/seed-single.json");
    RunResult::read(&p).expect("fixture")
}

fn point(t: u64, sent: u64, ok: u64) -> SeriesPoint {
    SeriesPoint {
        t_s: t,
        sent,
        ok,
        failed: 0,
        dropped: 0,
        output_tokens: 0,
        in_flight_max: 0,
        ttft_p50_ms: None,
        ttft_p99_ms: None,
        errors: Default::default(),
        cpu_cores_used: None,
        server: Default::default(),
        quota: None,
    }
}

/// A rate step at `rate` whose window is 2..12 s, with `sent` arrivals and `ok` completions in
/// every second, and `attainment` of its requests within SLO.
fn step(rate: f64, sent: u64, ok: u64, attainment: f64) -> SweepStep {
    let mut r = fixture();
    r.load.window_start_s = 2.0;
    r.load.window_end_s = 12.0;
    r.timeseries = (0..13).map(|t| point(t, sent, ok)).collect();
    r.validity.valid = true;
    r.validity.reasons.clear();
    r.overall.error_rate = 0.0;
    if let Some(s) = r.overall.slo.as_mut() {
        s.attainment = attainment;
        s.issued = 10 * sent;
    }
    let mut st = SweepStep::from_result(StepKind::Rate, Some(rate), None, r);
    st.arrivals_per_s = Some(sent as f64);
    st.backlog_growth = backlog_growth(&st.result);
    st
}

fn cx(capacity: Option<f64>) -> StepContext {
    StepContext {
        baseline_ttft_p50_ms: 100.0,
        capacity,
        slots: 8.0,
        slo_set: true,
    }
}

#[test]
fn steps_last_twenty_request_durations_and_enough_completions() {
    let s = SweepSettings::default();
    // Requests of 1.08 s at 5 req/s: a coarse window of max(10 s, 21.6 s, 100 / 5 = 20 s),
    // a bisection window of 400 / 5 = 80 s, a warmup of max(2 s, 3.24 s).
    let coarse = s.length(Some(1.08), Some(5.0), false, 0.0);
    assert!((coarse.window.as_secs_f64() - 21.6).abs() < 1e-6);
    assert!((coarse.warmup.as_secs_f64() - 3.24).abs() < 1e-6);
    assert!(!coarse.capped());
    let fine = s.length(Some(1.08), Some(5.0), true, 0.0);
    assert!((fine.window.as_secs_f64() - 80.0).abs() < 1e-6);
    // Short requests: the floors rule.
    let fast = s.length(Some(0.05), Some(100.0), false, 0.0);
    assert_eq!(fast.window, Duration::from_secs(10));
    assert_eq!(fast.warmup, Duration::from_secs(2));
    // A cap below the need is reported as such.
    let capped = SweepSettings {
        max_step_duration: Duration::from_secs(8),
        ..s
    };
    let c = capped.length(Some(1.08), Some(5.0), true, 0.0);
    assert_eq!(c.window, Duration::from_secs(8));
    assert!(c.capped());
}

#[test]
fn steps_cover_the_time_the_queue_takes_to_settle() {
    // 32 slots of 0.5 s (capacity 64 req/s) at 60 req/s: c = 32, √ρ = √0.9375,
    // τ = 0.5 / (32 × (1 − √0.9375)²) = 15.5 s; the step needs 3 τ of warmup and 5 τ of window.
    let tau = crate::config::sweep::relaxation_time(60.0, 64.0, 0.5).expect("tau");
    let want = 0.5 / (32.0 * (1.0 - 0.9375f64.sqrt()).powi(2));
    assert!(
        (tau - want).abs() < 1e-9 && (tau - 15.5).abs() < 0.01,
        "{tau}"
    );
    let l = SweepSettings::default().length(Some(0.5), Some(60.0), false, tau);
    assert!((l.warmup.as_secs_f64() - 3.0 * tau).abs() < 1e-6);
    assert!((l.window.as_secs_f64() - 5.0 * tau).abs() < 1e-6);
    assert_eq!(crate::config::sweep::relaxation_time(64.0, 64.0, 0.5), None);
}

#[test]
fn backlog_growth_is_arrivals_minus_completions() {
    // 10 sent and 8 finished every second: the backlog grows by 2 a second; read at the ends
    // of seconds 1 to 11 (times 2, 3, … 12 s, the window's edges included) it spans 10 s.
    let st = step(10.0, 10, 8, 1.0);
    let g = st.backlog_growth.expect("growth");
    assert!((g - 20.0).abs() < 1e-9, "{g}");
    // Steady: no growth.
    let st = step(10.0, 10, 10, 1.0);
    assert!(st.backlog_growth.expect("growth").abs() < 1e-9);
}

#[test]
fn verdicts_in_order() {
    let s = SweepSettings::default();
    // Above the probe's capacity: over capacity, whatever the step shows.
    let j = judge(&step(10.0, 10, 10, 1.0), &s, &cx(Some(9.0)));
    assert_eq!(j.verdict, Verdict::OverCapacity, "{}", j.reason);
    // A growing backlog: 10 in, 8 out for 10 s is 20 requests against a limit of
    // max(10 % of 100, 3 + 8) = 11.
    assert_eq!(growth_limit(100.0, 8.0), 11.0);
    assert_eq!(growth_limit(600.0, 8.0), 60.0);
    let j = judge(&step(10.0, 10, 8, 1.0), &s, &cx(None));
    assert_eq!(j.verdict, Verdict::OverCapacity, "{}", j.reason);
    assert!(j.reason.contains("backlog grew by 20"), "{}", j.reason);
    // Steady but too few within SLO.
    let j = judge(&step(10.0, 10, 10, 0.9), &s, &cx(Some(20.0)));
    assert_eq!(j.verdict, Verdict::OverSlo);
    let j = judge(&step(10.0, 10, 10, 0.97), &s, &cx(Some(20.0)));
    assert_eq!(j.verdict, Verdict::WithinSlo);
    // Without an SLO, steady.
    let mut c = cx(Some(20.0));
    c.slo_set = false;
    assert_eq!(
        judge(&step(10.0, 10, 10, 0.1), &s, &c).verdict,
        Verdict::Steady
    );
    // The generator fell behind: invalid, and the ladder stops when it could not send.
    let mut st = step(10.0, 10, 10, 1.0);
    st.valid = false;
    st.result.validity.reasons = vec!["achieved send rate 5/s is 50 % of the offered 10/s".into()];
    let j = judge(&st, &s, &cx(Some(20.0)));
    assert_eq!(j.verdict, Verdict::Invalid);
    assert!(j.stop);
}

fn judged(rate: f64, v: Verdict, refine: bool) -> SweepStep {
    let mut st = step(rate, 10, 10, 1.0);
    st.verdict = Some(v);
    st.reason = Some(format!("{v:?}"));
    st.refine = refine;
    st
}

#[test]
fn the_knee_is_the_last_rate_that_held_below_the_first_that_did_not() {
    let s = SweepSettings::default();
    let steps = vec![
        judged(1.0, Verdict::WithinSlo, false),
        judged(2.0, Verdict::WithinSlo, false),
        judged(3.0, Verdict::Invalid, false),
        judged(4.0, Verdict::Inconclusive, false),
        judged(4.0, Verdict::OverSlo, true),
        judged(3.5, Verdict::WithinSlo, true),
        // A rate above the first failing one that happened to hold does not count.
        judged(5.0, Verdict::WithinSlo, false),
    ];
    assert_eq!(bracket(&steps), (Some(3.5), Some(4.0)));
    let k = knee(&steps, &s, true, None);
    assert_eq!(k.sustainable_rate_per_s, Some(3.5));
    assert_eq!(k.max_rate_within_slo, Some(3.5));
    assert_eq!(k.first_failing_rate_per_s, Some(4.0));
    assert_eq!(k.limited_by.as_deref(), Some("slo"));
    let st = k.statement.expect("statement");
    assert!(st.starts_with("sustainable rate: 3.50 req/s"), "{st}");
    assert!(st.contains("4.00 req/s did not"), "{st}");
    // A later full-length step at a rate supersedes the coarse one.
    let steps = vec![
        judged(1.0, Verdict::WithinSlo, false),
        judged(2.0, Verdict::WithinSlo, false),
        judged(2.0, Verdict::OverSlo, true),
        judged(3.0, Verdict::OverSlo, false),
    ];
    assert_eq!(bracket(&steps), (Some(1.0), Some(2.0)));
    // Nothing held.
    let steps = vec![judged(1.0, Verdict::OverSlo, false)];
    let k = knee(&steps, &s, true, None);
    assert_eq!(k.sustainable_rate_per_s, None);
    assert!(k
        .statement
        .expect("statement")
        .starts_with("sustainable rate: none"));
}

#[test]
fn wilson_interval() {
    // 95 of 100: (0.888, 0.978) to three decimals.
    let (lo, hi) = wilson(0.95, 100);
    assert!(
        (lo - 0.8882).abs() < 1e-3 && (hi - 0.9785).abs() < 1e-3,
        "{lo} {hi}"
    );
    assert_eq!(wilson(0.5, 0), (0.0, 1.0));
}

#[test]
fn short_step_bound_from_the_relaxation_time() {
    // 8 slots, requests of 1.08 s, steps of 16.2 s: √(3 × 1.08 / (8 × 16.2)) = √0.025, so
    // ρ* = (1 − 0.158114)² = 0.708771 and the floor is 0.708771 × 7.4 = 5.244906 req/s;
    // a sustainable rate of 7 may be overstated by (7 − 5.244906) / 7 = 25.07 %.
    let b = short_step_bound(Some(7.0), 7.4, 8.0, 1.08, 16.2).expect("bound");
    let rho = (1.0 - 0.025f64.sqrt()).powi(2);
    let want = (7.0 - rho * 7.4) / 7.0 * 100.0;
    assert!((b - want).abs() < 1e-9, "{b} vs {want}");
    assert!((b - 25.07).abs() < 0.01, "{b}");
    // Below the floor: nothing to fear.
    assert_eq!(short_step_bound(Some(5.0), 7.4, 8.0, 1.08, 16.2), Some(0.0));
    assert_eq!(short_step_bound(None, 7.4, 8.0, 1.08, 16.2), None);
}

/// A judged rate step of which `met` of `issued` requests met the SLO.
fn counted(rate: f64, met: u64, issued: u64, v: Verdict) -> SweepStep {
    let mut st = judged(rate, v, false);
    let slo = st
        .result
        .overall
        .slo
        .as_mut()
        .expect("the fixture has an SLO");
    slo.met = met;
    slo.issued = issued;
    slo.attainment = met as f64 / issued as f64;
    st
}

/// Steps cut short, of which 4 req/s held and 5 req/s did not.
fn short_steps() -> Vec<SweepStep> {
    vec![
        counted(1.0, 20, 20, Verdict::WithinSlo),
        counted(2.0, 40, 40, Verdict::WithinSlo),
        counted(3.0, 59, 60, Verdict::WithinSlo),
        counted(4.0, 78, 80, Verdict::WithinSlo),
        counted(5.0, 92, 100, Verdict::OverSlo),
        // The generator limited this one: its figures say nothing of the endpoint.
        counted(5.5, 0, 100, Verdict::Invalid),
        counted(6.0, 80, 120, Verdict::OverSlo),
    ]
}

#[test]
fn the_short_step_range_bounds_the_truth_both_ways() {
    let steps = short_steps();
    assert_eq!(bracket(&steps), (Some(4.0), Some(5.0)));
    // Below: 95 % Wilson lower bounds of the attainment pooled from r up to 4 req/s:
    // 78/80 → 0.91335, 137/140 → 0.93889, 177/180 → 0.95215 ≥ 0.95: the truth is at least
    // 2 req/s, so 4 may be overstated by 50 %.
    // Above: upper bounds pooled over the rates above 4 up to r (5.5 is invalid, left out):
    // 92/100 → 0.95891 (5 may still meet the SLO), 172/220 → 0.83130 < 0.95: the truth is
    // below 6 req/s (under the probe's 7), so 4 may be understated by 50 %.
    let r = short_step_range(&steps, 0.95, true, Some(7.0), None).expect("range");
    assert_eq!((r.reported, r.low, r.high), (4.0, 2.0, 6.0));
    assert!((r.over_pct() - 50.0).abs() < 1e-9 && (r.under_pct() - 50.0).abs() < 1e-9);
    // The probe's capacity caps the top when it is lower.
    let r = short_step_range(&steps, 0.95, true, Some(5.2), None).expect("range");
    assert_eq!(r.high, 5.2);
    assert!((r.under_pct() - 30.0).abs() < 1e-9, "{}", r.under_pct());
    // Without a capacity and no rate certainly over the SLO, the highest rate tried.
    let few: Vec<SweepStep> = steps[..5].to_vec();
    let r = short_step_range(&few, 0.95, true, None, None).expect("range");
    assert_eq!(r.high, 5.0);
}

#[test]
fn the_short_step_range_leaves_out_steps_whose_queue_had_no_time_to_settle() {
    // Only steps at or below 3.5 req/s settled: 59/60 → 0.91145, 99/100 → 0.94551,
    // 119/120 → 0.95430 ≥ 0.95: the truth is at least 1 req/s, 75 % below 4.
    let steps = short_steps();
    let r = short_step_range(&steps, 0.95, true, Some(7.0), Some(3.5)).expect("range");
    assert_eq!((r.low, r.high), (1.0, 6.0));
    assert!((r.over_pct() - 75.0).abs() < 1e-9);
    // Without an SLO only the queue term below and the capacity above apply.
    let r = short_step_range(&steps, 0.95, false, Some(5.0), Some(3.0)).expect("range");
    assert_eq!((r.low, r.high), (3.0, 5.0));
    assert!((r.over_pct() - 25.0).abs() < 1e-9 && (r.under_pct() - 25.0).abs() < 1e-9);
    // The floor: 8 slots of 1.08 s, steps of 16.2 s, capacity 7.4: (1 − √0.025)² × 7.4 =
    // 0.7087722 × 7.4.
    let f = settled_floor(7.4, 8.0, 1.08, 16.2).expect("floor");
    assert!((f - 5.2449145).abs() < 1e-6, "{f}");
    // No sustainable rate: nothing to bound.
    let none = vec![counted(1.0, 10, 20, Verdict::OverSlo)];
    assert_eq!(short_step_range(&none, 0.95, true, Some(7.0), None), None);
}

#[test]
fn the_knee_sentence_says_both_directions() {
    let steps = short_steps();
    let r = short_step_range(&steps, 0.95, true, Some(7.0), None);
    let k = knee(&steps, &SweepSettings::default(), true, r);
    assert_eq!(k.may_be_off_pct, Some(50.0));
    assert_eq!(k.may_be_understated_pct, Some(50.0));
    assert_eq!(k.range_per_s, Some([2.0, 6.0]));
    let st = k.statement.expect("statement");
    assert!(
        st.contains("may be up to 50 % lower or 50 % higher than the 4.00 req/s reported (between 2.00 and 6.00 req/s; off by −50 % / +50 %)"),
        "{st}"
    );
    // With full-length steps nothing is said.
    let k = knee(&steps, &SweepSettings::default(), true, None);
    assert_eq!(k.may_be_understated_pct, None);
    assert!(!k.statement.expect("statement").contains("lower or"));
}

#[test]
fn old_results_without_the_new_fields_read() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/seed-sweep.json");
    let r = RunResult::read(&p).expect("an older sweep result reads");
    let sw = r.sweep.expect("sweep");
    assert_eq!(sw.knee.sustainable_rate_per_s, None);
    assert_eq!(sw.knee.max_rate_within_slo, Some(10.0));
    assert!(sw.steps.iter().all(|s| s.verdict.is_none()));
}

/// The sweep table `llmload sweep` prints, pinned: numbers right-aligned, the verdict left,
/// a bisection step marked, an invalid step without a verdict flagged, warnings listed.
#[test]
fn the_sweep_table_keeps_its_layout() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/results/seed-sweep.json");
    let r = RunResult::read(&p).expect("read");
    let mut sw = r.sweep.expect("sweep");
    let n = sw.steps.len();
    sw.steps[n - 1].verdict = Some(Verdict::OverCapacity);
    sw.steps[n - 1].refine = true;
    sw.steps[n - 2].valid = false;
    sw.warnings.push("a warning".into());
    let want = include_str!("../../../tests/snapshots/sweep_table.txt");
    assert_eq!(super::table(&sw), want);
}
