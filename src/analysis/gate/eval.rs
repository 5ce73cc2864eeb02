//! Verdicts: each claim read against one result, as pass, fail, warn or inconclusive.
//!
//! This module owns the verdict rules (docs/gates.md): a claim on an estimated figure
//! (percentile, mean, rate) passes when its whole 95 % confidence interval satisfies the claim,
//! fails as soon as the whole interval breaks it, and is *inconclusive* while the interval
//! straddles the limit; figures judged as measured (min, max, throughput, cost) pass or fail on
//! the value. A failed `severity = "warn"` claim is *warn*.
//! It does not parse claims ([`super::claims`]) or know where figures live ([`super::metric`]).

use super::claims::{Claim, Claims, Op, Severity};
use super::metric::{self, Measured};
use super::quality;
use super::GateError;
use crate::core::problem::Problem;
use crate::core::table::{self, Layout};
use crate::results::{ModelResult, RunResult};

/// The verdict on one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The claim holds.
    Pass,
    /// The claim is broken (severity `fail`).
    Fail,
    /// The claim is broken, but its severity is `warn`.
    Warn,
    /// The data can neither support nor break the claim (the interval straddles the limit), or
    /// the figure does not exist (no samples, no price, no SLO).
    Inconclusive,
}

impl Verdict {
    /// Lower-case name as printed.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "warn",
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// The name with an icon, as the Markdown summary shows it.
    pub fn icon(self) -> &'static str {
        match self {
            Verdict::Pass => "✅ pass",
            Verdict::Fail => "❌ **fail**",
            Verdict::Warn => "⚠️ warn",
            Verdict::Inconclusive => "❔ inconclusive",
        }
    }
}

/// A column of a claims table: the terminal (`check`), the Markdown summary and the report
/// each pick theirs from these, so a claim row reads the same everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The claim's name, or its expression when it has none.
    Claim,
    /// The name with the expression in code quotes beside it, or the quoted expression alone
    /// (Markdown).
    ClaimAndExpression,
    /// The expression as written.
    Expression,
    /// The label of the row read.
    Model,
    /// [`Row::measured_text`].
    Measured,
    /// [`Row::limit_text`].
    Limit,
    /// [`Row::margin_text`].
    Margin,
    /// The verdict's name.
    Verdict,
    /// The verdict with its icon, followed for an inconclusive one by why (Markdown).
    VerdictIcon,
    /// [`Row::detail`].
    Basis,
}

impl Column {
    /// The column's header.
    pub fn header(self) -> &'static str {
        match self {
            Column::Claim | Column::ClaimAndExpression => "claim",
            Column::Expression => "expression",
            Column::Model => "model",
            Column::Measured => "measured",
            Column::Limit => "limit",
            Column::Margin => "margin",
            Column::Verdict | Column::VerdictIcon => "verdict",
            Column::Basis => "basis",
        }
    }
}

/// A claims table: the header and one row of cells per claim, in the columns given.
pub fn cells(rows: &[Row], columns: &[Column]) -> (Vec<String>, Vec<Vec<String>>) {
    let header = columns.iter().map(|c| c.header().to_string()).collect();
    let rows = rows
        .iter()
        .map(|r| columns.iter().map(|c| r.cell(*c)).collect())
        .collect();
    (header, rows)
}

/// One claim's outcome.
#[derive(Debug, Clone)]
pub struct Row {
    /// The claim.
    pub claim: Claim,
    /// Model id read (`*` for the overall row).
    pub model: String,
    /// Label of the row read (`all models` for the overall row).
    pub model_label: String,
    /// The figure read.
    pub measured: Measured,
    /// Signed relative margin of the measured value (positive: headroom); `None` when there is
    /// no value or the limit is 0.
    pub margin: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Row {
    /// The measured value with unit, its 95 % confidence interval where the verdict rests on
    /// one, and the sample count, e.g. `312.9 ms [298.0 ms, 330.1 ms] (n=122)`.
    pub fn measured_text(&self) -> String {
        let k = self.claim.metric.kind;
        if !self.measured.known {
            return "-".into();
        }
        match self.interval_text() {
            Some(ci) => format!(
                "{} {ci} (n={})",
                k.fmt(self.measured.value),
                self.measured.count
            ),
            None => format!("{} (n={})", k.fmt(self.measured.value), self.measured.count),
        }
    }

    /// The 95 % confidence interval, e.g. `[298.0 ms, 330.1 ms]`, if the verdict rests on one.
    pub fn interval_text(&self) -> Option<String> {
        let k = self.claim.metric.kind;
        self.measured
            .interval
            .filter(|_| self.measured.known)
            .map(|(lo, hi)| format!("[{}, {}]", k.fmt_bound(lo), k.fmt_bound(hi)))
    }

    /// The limit with its operator, e.g. `<= 1.200 s`.
    pub fn limit_text(&self) -> String {
        format!(
            "{} {}",
            self.claim.op.symbol(),
            self.claim.metric.kind.fmt(self.claim.limit)
        )
    }

    /// The margin as a signed percentage, or `-`.
    pub fn margin_text(&self) -> String {
        match self.margin {
            Some(m) => format!("{:+.1} %", m * 100.0),
            None => "-".into(),
        }
    }

    /// The text of one cell of a claims table.
    pub fn cell(&self, column: Column) -> String {
        match column {
            Column::Claim => self.claim.title().to_string(),
            Column::ClaimAndExpression if self.claim.name.is_some() => {
                format!("{} (`{}`)", self.claim.title(), self.claim.expr)
            }
            Column::ClaimAndExpression => format!("`{}`", self.claim.expr),
            Column::Expression => self.claim.expr.clone(),
            Column::Model => self.model_label.clone(),
            Column::Measured => self.measured_text(),
            Column::Limit => self.limit_text(),
            Column::Margin => self.margin_text(),
            Column::Verdict => self.verdict.name().to_string(),
            Column::VerdictIcon if self.verdict == Verdict::Inconclusive => {
                format!("{}: {}", self.verdict.icon(), self.detail())
            }
            Column::VerdictIcon => self.verdict.icon().to_string(),
            Column::Basis => self.detail(),
        }
    }

    /// Whether the claim cannot be judged at all: its figure does not exist in the result (no
    /// samples, no price, no `[slo]`, an empty window), as opposed to an interval that
    /// straddles the limit.
    pub fn unjudged(&self) -> bool {
        self.verdict == Verdict::Inconclusive && self.measured.insufficient.is_some()
    }

    /// Why the verdict is what it is, in a few words (for inconclusive ones, what is missing).
    pub fn detail(&self) -> String {
        let basis = format!("{} {}", self.measured.count, self.measured.basis);
        match (&self.verdict, &self.measured.insufficient) {
            (Verdict::Inconclusive, Some(why)) => why.clone(),
            (Verdict::Inconclusive, None) => match &self.measured.open {
                Some(open) => format!("{basis}; 95 % CI contains the limit: {open}"),
                None => format!("{basis}; 95 % CI contains the limit"),
            },
            _ if self.measured.interval.is_some() => format!("{basis}; judged on the 95 % CI"),
            _ => basis,
        }
    }
}

/// All claims of a file against one result.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The result file's path as given.
    pub result_path: String,
    /// One row per claim, in file order.
    pub rows: Vec<Row>,
    /// Things the reader must know about the result (invalid, interrupted).
    pub notes: Vec<String>,
}

impl Evaluation {
    /// Whether the gate fails: any `fail`; any claim of severity `fail` that cannot be judged at
    /// all (its figure does not exist: no samples, no price, no `[slo]`); under `strict`, any
    /// inconclusive claim of severity `fail`.
    pub fn fails(&self, strict: bool) -> bool {
        self.rows.iter().any(|r| {
            r.verdict == Verdict::Fail
                || (r.verdict == Verdict::Inconclusive
                    && r.claim.severity == Severity::Fail
                    && (strict || r.unjudged()))
        })
    }

    /// The claims of severity `fail` that cannot be judged on this result, each with the reason.
    pub fn unjudged(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.unjudged() && r.claim.severity == Severity::Fail)
            .map(|r| format!("`{}` ({}): {}", r.claim.title(), r.model_label, r.detail()))
            .collect()
    }

    /// Counts of each verdict: pass, fail, warn, inconclusive.
    pub fn counts(&self) -> [usize; 4] {
        let n = |v| self.rows.iter().filter(|r| r.verdict == v).count();
        [
            n(Verdict::Pass),
            n(Verdict::Fail),
            n(Verdict::Warn),
            n(Verdict::Inconclusive),
        ]
    }

    /// One line: the counts and the gate's verdict.
    pub fn summary_line(&self, strict: bool) -> String {
        let [p, f, w, i] = self.counts();
        format!(
            "{p} pass, {f} fail, {w} warn, {i} inconclusive{} → {}",
            if strict { " (strict)" } else { "" },
            if self.fails(strict) { "FAIL" } else { "PASS" }
        )
    }

    /// The distinct metrics used and the reading of each, for the notes under a table.
    pub fn readings(&self) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&'static str, &'static str)> = Vec::new();
        for r in &self.rows {
            let m = r.claim.metric;
            if !out.iter().any(|(n, _)| *n == m.name.as_str()) {
                out.push((m.name.as_str(), m.reading));
            }
        }
        out
    }

    /// The terminal table with readings, notes and the summary line.
    pub fn table(&self, strict: bool) -> String {
        use Column::*;
        let (header, rows) = cells(
            &self.rows,
            &[Claim, Model, Measured, Limit, Margin, Verdict, Basis],
        );
        let mut out = format!("claims checked against {}\n", self.result_path);
        out.push_str(&table::text(&header, &rows, &Layout::left(2)));
        out.push_str("\nreadings:\n");
        for (name, reading) in self.readings() {
            out.push_str(&format!("  {name} = {reading}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        for u in self.unjudged() {
            out.push_str(&format!(
                "cannot be judged on {}, fails the gate: {u}\n",
                self.result_path
            ));
        }
        out.push_str(&self.summary_line(strict));
        out.push('\n');
        out
    }
}

fn find_model<'a>(r: &'a RunResult, name: &str) -> Option<&'a ModelResult> {
    r.models
        .iter()
        .find(|m| m.model == name)
        .or_else(|| r.models.iter().find(|m| m.label == name))
}

/// Judges every claim against a result. A claim naming a model the result does not have is an
/// error located in the claims file (exit 2), reported together with any others.
pub fn evaluate(
    claims: &Claims,
    result: &RunResult,
    result_path: &str,
) -> Result<Evaluation, GateError> {
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for c in &claims.claims {
        let row = match &c.model {
            None => Some(&result.overall),
            Some(name) => find_model(result, name),
        };
        let Some(m) = row else {
            let known: Vec<&str> = result.models.iter().map(|m| m.model.as_str()).collect();
            problems.push(unknown_model(claims, c, result_path, &known));
            continue;
        };
        if let Some(p) = quality::unknown_class(claims, c, result, result_path) {
            problems.push(p);
            continue;
        }
        let measured = if c.metric.name.is_quality() {
            quality::read(c, m, result)
        } else {
            metric::read(m, result.load.window_s, c.metric, c.stat, c.limit).map_err(|source| {
                GateError::Histogram {
                    file: result_path.to_string(),
                    source,
                }
            })?
        };
        rows.push(judge(c, m, measured));
    }
    if !problems.is_empty() {
        return Err(GateError::Claims(problems));
    }
    let mut notes = Vec::new();
    if !result.validity.valid {
        notes.push(format!(
            "the run is INVALID (the generator limited it): {}",
            result.validity.reasons.join("; ")
        ));
    }
    if result.status == crate::results::RunStatus::Interrupted {
        notes.push("the run was interrupted: figures cover only the part that ran".into());
    }
    Ok(Evaluation {
        result_path: result_path.to_string(),
        rows,
        notes,
    })
}

fn unknown_model(claims: &Claims, c: &Claim, source: &str, known: &[&str]) -> Problem {
    Problem {
        file: claims.path.clone(),
        line: c.model_at.0,
        column: c.model_at.1,
        field: format!("claims[{}].model", c.index),
        message: format!(
            "unknown model `{}` in {source}; its models are: {} (omit `model` for the overall row)",
            c.model.as_deref().unwrap_or(""),
            known.join(", ")
        ),
    }
}

/// Checks, before a run, that every claim's model is one of the scenario's (given as
/// `(id, label)` pairs), so a typo is reported before any request is sent.
pub fn check_models(
    claims: &Claims,
    models: &[(&str, &str)],
    source: &str,
) -> Result<(), GateError> {
    let problems: Vec<Problem> = claims
        .claims
        .iter()
        .filter(|c| {
            c.model
                .as_deref()
                .is_some_and(|m| !models.iter().any(|(id, label)| *id == m || *label == m))
        })
        .map(|c| {
            let ids: Vec<&str> = models.iter().map(|(id, _)| *id).collect();
            unknown_model(claims, c, source, &ids)
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(GateError::Claims(problems))
    }
}

/// What the data say about a claim before its severity is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finding {
    Holds,
    Broken,
    Undecided,
}

/// The rule: with an interval, the claim holds when every value in it satisfies the claim, is
/// broken when none does, and is undecided in between; without one, the value decides.
fn finding(op: Op, value: f64, limit: f64, interval: Option<(f64, f64)>) -> Finding {
    let Some((lo, hi)) = interval else {
        return if op.holds(value, limit) {
            Finding::Holds
        } else {
            Finding::Broken
        };
    };
    let (best, worst) = match op {
        // For an upper limit the interval's low end is the most favourable value.
        Op::Lt | Op::Le => (lo, hi),
        Op::Gt | Op::Ge => (hi, lo),
        Op::Eq => {
            return if limit < lo || limit > hi {
                Finding::Broken
            } else if lo == hi {
                Finding::Holds
            } else {
                Finding::Undecided
            };
        }
    };
    if op.holds(worst, limit) {
        Finding::Holds
    } else if !op.holds(best, limit) {
        Finding::Broken
    } else {
        Finding::Undecided
    }
}

fn judge(c: &Claim, m: &ModelResult, measured: Measured) -> Row {
    let margin = if measured.known {
        c.op.margin(measured.value, c.limit)
    } else {
        None
    };
    let verdict = if measured.insufficient.is_some() {
        Verdict::Inconclusive
    } else {
        match finding(c.op, measured.value, c.limit, measured.interval) {
            Finding::Holds => Verdict::Pass,
            Finding::Undecided => Verdict::Inconclusive,
            Finding::Broken if c.severity == Severity::Warn => Verdict::Warn,
            Finding::Broken => Verdict::Fail,
        }
    };
    Row {
        claim: c.clone(),
        model: m.model.clone(),
        model_label: match &c.class {
            Some(class) => format!("{} (class {class})", m.label),
            None => m.label.clone(),
        },
        measured,
        margin,
        verdict,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::gate::claims;
    use crate::metrics::Hist;
    use std::path::Path;

    /// A result with one model `m` ("M") whose TTFT histogram holds `ttft_ms` samples.
    pub(crate) fn fixture(ttft_ms: &[f64]) -> RunResult {
        let mut h = Hist::default();
        for v in ttft_ms {
            h.record((v * 1e3) as u64);
        }
        let json = serde_json::json!({
            "schema_version": 1,
            "tool": {"name": "llmload", "version": "0.1.0"},
            "run_id": "x", "status": "complete",
            "started_at": "", "finished_at": "",
            "scenario": {"name": "t", "path": "t.toml", "sha256": "abc", "seed": 1},
            "shard": {"index": 0, "count": 1},
            "host": {"hostname": "h", "os": "linux", "arch": "x86_64", "cpus": 2},
            "load": {"mode": "closed", "achieved_send_rate_per_s": 1.0, "max_in_flight": 1,
                     "warmup_s": 0.0, "cooldown_s": 0.0, "window_start_s": 0.0,
                     "window_end_s": 10.0, "window_s": 10.0, "elapsed_s": 10.0,
                     "arrivals_in_window": 0, "sent_in_window": 0, "sent_all_phases": 0,
                     "schedule_lag_ms": Hist::default().summary(1e-3),
                     "queue_time_ms": Hist::default().summary(1e-3), "histograms": {}},
            "validity": {"valid": true, "reasons": []},
            "slo": {},
            "overall": model_json("*", "all models", &h, ttft_ms.len() as u64),
            "models": [model_json("m", "M", &h, ttft_ms.len() as u64)],
            "timeseries": [], "warnings": []
        });
        serde_json::from_value(json).expect("fixture is a valid result")
    }

    fn model_json(id: &str, label: &str, h: &Hist, n: u64) -> serde_json::Value {
        serde_json::json!({
            "model": id, "label": label, "target": "",
            "requests": {"issued": n, "sent": n, "ok": n, "failed": 0, "dropped": 0,
                         "cancelled": 0, "errors": {}},
            "error_rate": 0.0,
            "latency_ms": {"ttft": h.summary(1e-3)},
            "tokens_per_chunk": Hist::default().summary(1.0),
            "decode_tokens_per_s": {"count": 0, "mean": 0.0, "min": 0.0, "p50": 0.0,
                                     "p10": 0.0, "p1": 0.0, "p90": 0.0, "max": 0.0},
            "tokens": {"input": 0, "output": 10 * n, "reasoning": 0, "cached_input": 0,
                       "output_source": {}, "input_source": {}, "input_all_phases": 0,
                       "output_all_phases": 0},
            "throughput": {"output_tokens_per_s": n as f64, "input_tokens_per_s": 0.0,
                           "requests_per_s": n as f64 / 10.0, "peak_output_tokens_per_s": 0.0},
            "histograms": {"ttft": h.encode()}
        })
    }

    fn claims(text: &str) -> Claims {
        claims::parse(Path::new("c.toml"), text).expect("valid claims")
    }

    fn verdicts(text: &str, r: &RunResult) -> Vec<Verdict> {
        evaluate(&claims(text), r, "r.json")
            .expect("evaluates")
            .rows
            .iter()
            .map(|r| r.verdict)
            .collect()
    }

    #[test]
    fn pass_fail_warn_inconclusive() {
        let samples: Vec<f64> = (1..=100).map(|i| i as f64 * 10.0).collect();
        let r = fixture(&samples);
        let text = r#"
[[claims]]
expr = "ttft.mean <= 600ms"
[[claims]]
expr = "ttft.mean <= 400ms"
[[claims]]
expr = "ttft.mean <= 400ms"
severity = "warn"
[[claims]]
expr = "ttft.p99 <= 2s"
[[claims]]
expr = "ttft.p90 <= 2s"
model = "m"
[[claims]]
expr = "cost_total <= 1"
"#;
        use Verdict::*;
        assert_eq!(
            verdicts(text, &r),
            vec![Pass, Fail, Warn, Inconclusive, Pass, Inconclusive]
        );
        let e = evaluate(&claims(text), &r, "r.json").expect("evaluates");
        assert!(e.fails(false));
        assert_eq!(e.counts(), [2, 1, 1, 2]);
        assert!(
            e.rows[3]
                .detail()
                .contains("100 samples cannot bound p99 from above (needs ≥ 368)"),
            "{}",
            e.rows[3].detail()
        );
        assert!(e.rows[5].detail().contains("no price"));
        let t = e.table(false);
        assert!(t.contains("ttft = latency_ms.ttft"), "{t}");
        assert!(
            t.contains("2 pass, 1 fail, 1 warn, 2 inconclusive → FAIL"),
            "{t}"
        );
    }

    #[test]
    fn strict_fails_on_inconclusive_but_not_on_warn() {
        let r = fixture(&[100.0; 50]);
        let text = "[[claims]]\nexpr = \"ttft.p99 <= 2s\"\n[[claims]]\nexpr = \"ttft.mean <= 1ms\"\nseverity = \"warn\"\n";
        let e = evaluate(&claims(text), &r, "r.json").expect("evaluates");
        assert!(!e.fails(false));
        assert!(e.fails(true));
    }

    #[test]
    fn unknown_model_is_located_and_lists_the_models() {
        let r = fixture(&[100.0]);
        let text = "[[claims]]\nexpr = \"ttft.mean <= 1s\"\n\n[[claims]]\nexpr = \"ttft.mean <= 1s\"\nmodel = \"gpt-5\"\n";
        let e = evaluate(&claims(text), &r, "r.json").expect_err("unknown model");
        let s = e.to_string();
        assert!(
            s.starts_with("c.toml:6:1: claims[1].model: unknown model `gpt-5`"),
            "{s}"
        );
        assert!(s.contains("its models are: m"), "{s}");
    }

    #[test]
    fn any_percentile_comes_from_the_histogram() {
        let samples: Vec<f64> = (1..=1000).map(|i| i as f64).collect();
        let r = fixture(&samples);
        let e = evaluate(
            &claims("[[claims]]\nexpr = \"ttft.p75 <= 1s\"\n"),
            &r,
            "r.json",
        )
        .expect("evaluates");
        let v = e.rows[0].measured.value;
        assert!((v - 750.0).abs() < 1.0, "{v}");
        assert_eq!(e.rows[0].verdict, Verdict::Pass);
    }

    #[test]
    fn a_percentile_without_its_histogram_is_inconclusive_not_zero() {
        let samples: Vec<f64> = (1..=1000).map(|i| i as f64).collect();
        let mut r = fixture(&samples);
        r.overall.histograms.clear();
        let e = evaluate(
            &claims("[[claims]]\nexpr = \"ttft.p75 <= 1ms\"\n"),
            &r,
            "r.json",
        )
        .expect("evaluates");
        assert_eq!(e.rows[0].verdict, Verdict::Inconclusive);
        assert!(
            e.rows[0].detail().contains("no `ttft` histogram"),
            "{}",
            e.rows[0].detail()
        );
        r.overall
            .histograms
            .insert("ttft".into(), "not base64!".into());
        let err = evaluate(
            &claims("[[claims]]\nexpr = \"ttft.p75 <= 1ms\"\n"),
            &r,
            "r.json",
        )
        .expect_err("corrupt histogram");
        assert!(err.to_string().contains("histogram `ttft`"), "{err}");
    }

    #[test]
    fn a_claim_by_label_reads_that_model() {
        let r = fixture(&[100.0; 30]);
        let e = evaluate(
            &claims("[[claims]]\nexpr = \"ttft.p50 <= 1s\"\nmodel = \"M\"\n"),
            &r,
            "r.json",
        )
        .expect("evaluates");
        assert_eq!(e.rows[0].model, "m");
    }

    /// The fixture with `failed` of `sent` measured requests failed, on both rows.
    fn with_failures(sent: u64, failed: u64) -> RunResult {
        let mut r = fixture(&vec![100.0; (sent - failed) as usize]);
        for m in [&mut r.overall, &mut r.models[0]] {
            m.requests.sent = sent;
            m.requests.failed = failed;
            m.requests.ok = sent - failed;
            m.error_rate = failed as f64 / sent as f64;
        }
        r
    }

    #[test]
    fn rates_are_judged_by_their_exact_interval() {
        use Verdict::*;
        // 10 of 10 failed: the rate is at least 0.025^(1/10) = 69 %, far above 5 %.
        assert_eq!(
            verdicts(
                "[[claims]]\nexpr = \"error_rate < 5%\"\n",
                &with_failures(10, 10)
            ),
            vec![Fail]
        );
        // 0 of 20: the rate may still be up to 1 − 0.025^(1/20) = 16.8 %.
        let r = with_failures(20, 0);
        let text = "[[claims]]\nexpr = \"error_rate < 1%\"\n[[claims]]\nexpr = \"error_rate < 20%\"\n[[claims]]\nexpr = \"error_rate <= 0%\"\n";
        assert_eq!(verdicts(text, &r), vec![Inconclusive, Pass, Pass]);
        // 0 failures support "< 1 %" from 368 requests on (0.99^368 < 0.025), not before.
        assert_eq!(
            verdicts(
                "[[claims]]\nexpr = \"error_rate < 1%\"\n",
                &with_failures(368, 0)
            ),
            vec![Pass]
        );
        assert_eq!(
            verdicts(
                "[[claims]]\nexpr = \"error_rate < 1%\"\n",
                &with_failures(367, 0)
            ),
            vec![Inconclusive]
        );
        // A limit of exactly 0 % is about this run's counts: one failure breaks it.
        assert_eq!(
            verdicts(
                "[[claims]]\nexpr = \"error_rate <= 0%\"\n",
                &with_failures(400, 1)
            ),
            vec![Fail]
        );
        let e = evaluate(&claims(text), &r, "r.json").expect("evaluates");
        assert_eq!(e.rows[0].measured_text(), "0.00 % [0.00 %, 16.84 %] (n=20)");
        assert_eq!(e.rows[2].measured_text(), "0.00 % (n=20)");
    }

    #[test]
    fn a_percentile_fails_as_soon_as_its_lower_bound_breaks_the_limit() {
        use Verdict::*;
        // 122 samples, the median at 341 ms: the 118th smallest bounds the p99 from below.
        let mut samples = vec![50.0; 60];
        samples.extend(vec![341.0; 62]);
        let r = fixture(&samples);
        assert_eq!(
            verdicts("[[claims]]\nexpr = \"ttft.p99 <= 100ms\"\n", &r),
            vec![Fail]
        );
        // Five samples over the limit are enough (118th smallest is over it), four are not.
        let five: Vec<f64> = [vec![50.0; 117], vec![300.0; 5]].concat();
        let four: Vec<f64> = [vec![50.0; 118], vec![300.0; 4]].concat();
        let p99 = "[[claims]]\nexpr = \"ttft.p99 <= 100ms\"\n";
        assert_eq!(verdicts(p99, &fixture(&five)), vec![Fail]);
        assert_eq!(verdicts(p99, &fixture(&four)), vec![Inconclusive]);
        // A pass needs the upper bound under the limit: 368 samples for a p99.
        assert_eq!(verdicts(p99, &fixture(&[50.0; 367])), vec![Inconclusive]);
        assert_eq!(verdicts(p99, &fixture(&[50.0; 368])), vec![Pass]);
        // `>=` mirrors it.
        let ge = "[[claims]]\nexpr = \"ttft.p50 >= 100ms\"\n";
        assert_eq!(verdicts(ge, &fixture(&[50.0; 10])), vec![Fail]);
        assert_eq!(verdicts(ge, &fixture(&[150.0; 10])), vec![Pass]);
    }

    #[test]
    fn a_mean_is_judged_by_its_t_interval() {
        use Verdict::*;
        // 10, 20, …, 100 ms: mean 55, s = 30.28, t(9) = 2.262 → 55 ± 21.7 ms.
        let r = fixture(&(1..=10).map(|i| i as f64 * 10.0).collect::<Vec<_>>());
        let text = "[[claims]]\nexpr = \"ttft.mean <= 80ms\"\n[[claims]]\nexpr = \"ttft.mean <= 70ms\"\n[[claims]]\nexpr = \"ttft.mean <= 30ms\"\n";
        assert_eq!(verdicts(text, &r), vec![Pass, Inconclusive, Fail]);
        let e = evaluate(&claims(text), &r, "r.json").expect("evaluates");
        let (lo, hi) = e.rows[0].measured.interval.expect("interval");
        let half = 2.262 * 30.277 / 10f64.sqrt();
        assert!(
            (lo - (55.0 - half)).abs() < 0.2 && (hi - (55.0 + half)).abs() < 0.2,
            "{lo} {hi}"
        );
        // One sample sets no interval.
        assert_eq!(
            verdicts("[[claims]]\nexpr = \"ttft.mean <= 1s\"\n", &fixture(&[5.0])),
            vec![Inconclusive]
        );
        // Min and max are statements about the samples measured.
        let mm = "[[claims]]\nexpr = \"ttft.max <= 1s\"\n[[claims]]\nexpr = \"ttft.min >= 20ms\"\n";
        assert_eq!(verdicts(mm, &r), vec![Pass, Fail]);
    }

    #[test]
    fn decode_speed_is_judged_on_the_inverted_tpot_interval() {
        use Verdict::*;
        // 100 requests at TPOT 8, 9, 10, 11, 12 ms (125 … 83.3 tok/s), 20 each.
        let mut r = fixture(&[100.0; 100]);
        let mut h = Hist::default();
        for i in 0..100u64 {
            h.record((8 + i % 5) * 1000);
        }
        for m in [&mut r.overall, &mut r.models[0]] {
            m.histograms.insert("tpot".into(), h.encode());
            m.decode_tokens_per_s.count = 100;
            m.decode_tokens_per_s.p50 = 100.0;
            m.decode_tokens_per_s.mean = (8..=12).map(|t| 1000.0 / t as f64).sum::<f64>() / 5.0;
        }
        let text = "[[claims]]\nexpr = \"decode_tokens_per_s.p50 >= 85\"\n[[claims]]\nexpr = \"decode_tokens_per_s.p50 >= 130\"\n[[claims]]\nexpr = \"decode_tokens_per_s.p50 >= 95\"\n[[claims]]\nexpr = \"decode_tokens_per_s.mean >= 95\"\n";
        // The median's interval spans TPOT 9–11 ms: 90.9–111.1 tok/s.
        assert_eq!(verdicts(text, &r), vec![Pass, Fail, Inconclusive, Pass]);
        let e = evaluate(&claims(text), &r, "r.json").expect("evaluates");
        let (lo, hi) = e.rows[0].measured.interval.expect("interval");
        assert!(
            (lo - 1000.0 / 11.0).abs() < 0.2 && (hi - 1000.0 / 9.0).abs() < 0.2,
            "{lo} {hi}"
        );
        // A p1 of speed is the TPOT p99 inverted: 100 requests bound it from above only.
        let e = evaluate(
            &claims("[[claims]]\nexpr = \"decode_tokens_per_s.p1 >= 50\"\n"),
            &r,
            "r.json",
        )
        .expect("evaluates");
        assert_eq!(e.rows[0].verdict, Inconclusive);
        let d = e.rows[0].detail();
        assert!(
            d.contains("100 samples cannot bound p1 from below (needs ≥ 368)"),
            "{d}"
        );
        assert!(!d.contains("from above"), "{d}");
    }

    #[test]
    fn a_claim_without_data_fails_the_gate_with_its_reason() {
        // Every request failed: no TTFT sample at all.
        let mut r = with_failures(10, 10);
        r.overall.latency_ms.clear();
        r.overall.histograms.clear();
        let text = "[[claims]]\nexpr = \"ttft.p50 <= 1s\"\n[[claims]]\nexpr = \"ttft.mean <= 1s\"\nseverity = \"warn\"\n";
        let e = evaluate(&claims(text), &r, "r.json").expect("evaluates");
        assert_eq!(
            e.rows.iter().map(|r| r.verdict).collect::<Vec<_>>(),
            vec![Verdict::Inconclusive, Verdict::Inconclusive]
        );
        assert!(e.fails(false));
        let t = e.table(false);
        assert!(
            t.contains("cannot be judged on r.json, fails the gate: `ttft.p50 <= 1s` (all models): p50 needs samples, has 0"),
            "{t}"
        );
        // A warn claim never fails the gate, judged or not.
        assert_eq!(e.unjudged().len(), 1);
        // An interval that straddles the limit is inconclusive without failing.
        let e = evaluate(
            &claims("[[claims]]\nexpr = \"ttft.p99 <= 2s\"\n"),
            &fixture(&[100.0; 50]),
            "r.json",
        )
        .expect("evaluates");
        assert!(!e.fails(false) && e.unjudged().is_empty());
    }
}
