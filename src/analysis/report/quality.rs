//! The report's quality section (results with a `quality` section): each model's golden-set
//! score beside its TTFT, throughput and cost, per class and per check, the cost-versus-quality
//! chart, and the golden answers that missed (folded).

use super::page::{f1, file_id, lat, usd, Chart, Fold, Input, Section, Table};
use super::scatter::{Point, Region, Scatter};
use super::svg::Marker;
use crate::core::metric::Metric;
use crate::metrics::quality::{Estimate, QualityStats};
use crate::results::judge::JudgeStats;
use crate::results::{GoldenAnswer, ModelQualityResult, ModelResult, RunResult};

/// Most characters of a kept answer shown in the misses table.
const ANSWER_CHARS: usize = 200;

/// One model of one run with its quality figures.
struct Row<'a> {
    name: String,
    q: ModelQualityResult,
    m: Option<&'a ModelResult>,
    color: usize,
    baseline: bool,
    /// The judge's figures for the model, when a judge graded its answers.
    judge: Option<JudgeStats>,
}

impl Row<'_> {
    /// Cost per 1,000 measured requests, when the model has a price.
    fn cost(&self) -> Option<f64> {
        self.m
            .and_then(|m| m.cost.as_ref())
            .map(|c| c.per_1k_requests_usd)
            .filter(|v| v.is_finite())
    }
}

/// `0.846 [0.790, 0.900]`.
fn est(e: &Estimate) -> String {
    // `+ 0.0` writes a negative zero as 0.
    format!(
        "{:.3} [{:.3}, {:.3}]",
        e.value + 0.0,
        e.low + 0.0,
        e.high + 0.0
    )
}

fn opt_est(e: Option<&Estimate>) -> String {
    e.map(est).unwrap_or_else(|| "-".into())
}

/// A model's score and interval for its summary card, when the result scored it.
pub(super) fn card_item(r: &RunResult, label: &str) -> Option<String> {
    let q = r
        .quality
        .as_ref()?
        .models
        .iter()
        .find(|m| m.model == label)?;
    q.quality.overall.score.as_ref().map(est)
}

/// The quality models of a result, with `cost_relative` filled in for results written before
/// it existed.
fn models_of(r: &RunResult) -> Vec<ModelQualityResult> {
    let Some(q) = &r.quality else {
        return Vec::new();
    };
    if q.baseline.is_some() && q.models.iter().all(|m| m.cost_relative.is_none()) {
        let mut c = r.clone();
        crate::results::quality::add_cost_relative(&mut c);
        return c.quality.map(|q| q.models).unwrap_or_default();
    }
    q.models.clone()
}

fn rows<'a>(inputs: &'a [Input], labels: &[String]) -> Vec<Row<'a>> {
    let multi = inputs.len() > 1;
    let mut out = Vec::new();
    let mut offset = 0;
    for (k, i) in inputs.iter().enumerate() {
        let r = &i.result;
        let base = r.quality.as_ref().and_then(|q| q.baseline.clone());
        let judge = r.quality.as_ref().and_then(|q| q.judge.as_ref());
        for q in models_of(r) {
            let at = r.models.iter().position(|m| m.label == q.model);
            let judged = judge
                .and_then(|j| j.models.iter().find(|x| x.model == q.model))
                .map(|x| x.overall.clone());
            out.push(Row {
                name: if multi {
                    format!("{} · {}", labels[k], q.model)
                } else {
                    q.model.clone()
                },
                m: at.map(|a| &r.models[a]),
                // The model's colour in the page's other charts.
                color: offset + at.unwrap_or(0),
                baseline: base.as_deref() == Some(q.model.as_str()),
                judge: judged,
                q,
            });
        }
        offset += r.models.len();
    }
    out
}

/// The section, when any result has quality figures.
pub(super) fn section(inputs: &[Input], labels: &[String]) -> Option<Section> {
    let rows = rows(inputs, labels);
    if rows.is_empty() {
        return None;
    }
    let mut intro = Vec::new();
    for (k, i) in inputs.iter().enumerate() {
        let Some(q) = &i.result.quality else { continue };
        intro.push(format!(
            "{}{} golden lines from {}, sent {}{}.",
            if inputs.len() > 1 {
                format!("{}: ", labels[k])
            } else {
                String::new()
            },
            q.lines,
            q.golden,
            if q.mode == "pass" {
                "once per model before the load".to_string()
            } else {
                format!("in mode {}", q.mode)
            },
            q.baseline
                .as_ref()
                .map(|b| format!(", baseline {b}"))
                .unwrap_or_default()
        ));
    }
    intro.push(
        "A score is the weighted share of checks passed, misses counting 0, with its 95 % interval; relative to the baseline is the ratio of the two scores over the same lines (paired bootstrap interval); cost relative to the baseline divides the two models' cost per measured request."
            .into(),
    );
    if rows.iter().any(|r| r.judge.is_some()) {
        intro.push(
            "The judge's score, apart from the checks, is its mean grade (1 to 5, as 0 to 1) of the answers it graded, with its 95 % interval."
                .into(),
        );
    }
    let (mut chart, left_out) = chart(&rows);
    if !left_out.is_empty() {
        chart.note = format!("Left out of the chart: {}.", left_out.join("; "));
    }
    let mut tables = vec![models_table(&rows)];
    if rows.iter().any(|r| !r.q.quality.classes.is_empty()) {
        tables.push(classes_table(&rows));
    }
    tables.push(checks_table(&rows));
    Some(Section {
        id: "quality".into(),
        title: "Answer quality".into(),
        intro: intro.join(" "),
        folded: rows.iter().filter_map(misses).collect(),
        cards: Vec::new(),
        charts: vec![chart],
        tables,
    })
}

fn sim(s: &QualityStats) -> (String, String) {
    match &s.similarity {
        Some(v) => (format!("{:.3}", v.f1), format!("{:.3}", v.rouge_l)),
        None => ("-".into(), "-".into()),
    }
}

fn reasons(s: &QualityStats) -> String {
    if s.unscorable.is_empty() {
        return "-".into();
    }
    s.unscorable
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The models table; with a judge, two more columns: its score and the answers it graded.
fn models_table(rows: &[Row]) -> Table {
    let judged = rows.iter().any(|r| r.judge.is_some());
    let mut header = vec![
        "name",
        "score [95 % interval]",
        "scored",
        "unscorable",
        "misses by reason",
        "relative to baseline [95 % interval]",
        "cost per 1k requests (USD)",
        "cost relative to baseline",
        "TTFT p50 (ms)",
        "output (tok/s)",
        "token F1",
        "ROUGE-L",
    ];
    if judged {
        header.extend(["judge score [95 % interval]", "judged / unscored"]);
    }
    let body = rows
        .iter()
        .map(|r| {
            let o = &r.q.quality.overall;
            let (f, rl) = sim(o);
            let ttft =
                r.m.and_then(|m| m.latency_ms.get(Metric::Ttft.as_str()).copied())
                    .unwrap_or_default();
            let base_or = |v: String| if r.baseline { "baseline".into() } else { v };
            let mut cells = vec![
                r.name.clone(),
                opt_est(o.score.as_ref()),
                o.n_scored.to_string(),
                o.n_unscorable.to_string(),
                reasons(o),
                base_or(opt_est(o.relative.as_ref())),
                r.cost().map(usd).unwrap_or_else(|| "-".into()),
                base_or(
                    r.q.cost_relative
                        .map(|v| format!("{v:.3}"))
                        .unwrap_or_else(|| "-".into()),
                ),
                lat(&ttft, ttft.p50),
                r.m.map(|m| f1(m.throughput.output_tokens_per_s))
                    .unwrap_or_else(|| "-".into()),
                f,
                rl,
            ];
            if judged {
                let j = r.judge.clone().unwrap_or_default();
                cells.push(opt_est(j.score.as_ref()));
                cells.push(match &r.judge {
                    Some(j) => format!("{} / {}", j.n_judged, j.n_unscored),
                    None => "-".into(),
                });
            }
            cells
        })
        .collect();
    Table {
        id: "quality_models".into(),
        title: "Quality beside speed and cost".into(),
        header: header.iter().map(|s| s.to_string()).collect(),
        rows: body,
    }
}

fn classes_table(rows: &[Row]) -> Table {
    let header = [
        "name",
        "class",
        "score [95 % interval]",
        "scored",
        "unscorable",
        "relative to baseline [95 % interval]",
        "token F1",
        "ROUGE-L",
    ];
    let mut body = Vec::new();
    for r in rows {
        for (class, s) in &r.q.quality.classes {
            let (f, rl) = sim(s);
            body.push(vec![
                r.name.clone(),
                class.clone(),
                opt_est(s.score.as_ref()),
                s.n_scored.to_string(),
                s.n_unscorable.to_string(),
                if r.baseline {
                    "baseline".into()
                } else {
                    opt_est(s.relative.as_ref())
                },
                f,
                rl,
            ]);
        }
    }
    Table {
        id: "quality_classes".into(),
        title: "Quality by class of the golden set".into(),
        header: header.iter().map(|s| s.to_string()).collect(),
        rows: body,
    }
}

/// Each check's pass rate, a column per check name, a row per model and group (all answers,
/// then each class).
fn checks_table(rows: &[Row]) -> Table {
    let mut names: Vec<&str> = rows
        .iter()
        .flat_map(|r| r.q.quality.overall.checks.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut body = Vec::new();
    for r in rows {
        let groups = std::iter::once(("all", &r.q.quality.overall))
            .chain(r.q.quality.classes.iter().map(|(c, s)| (c.as_str(), s)));
        for (class, s) in groups {
            let mut row = vec![r.name.clone(), class.to_string()];
            row.extend(names.iter().map(|n| match s.checks.get(*n) {
                Some(c) if c.total > 0 => format!(
                    "{}/{} ({:.1} %)",
                    c.passed,
                    c.total,
                    c.passed as f64 / c.total as f64 * 100.0
                ),
                _ => "-".into(),
            }));
            body.push(row);
        }
    }
    let mut header = vec!["name".to_string(), "class".to_string()];
    header.extend(names.iter().map(|n| format!("{n} passed/applied")));
    Table {
        id: "quality_checks".into(),
        title: "Pass rate of each check".into(),
        header,
        rows: body,
    }
}

/// Whether an answer missed: unscorable, or scored below 1.
fn missed(a: &GoldenAnswer) -> bool {
    a.unscorable.is_some() || a.score.is_some_and(|s| s < 1.0)
}

/// Why an answer missed.
fn why(a: &GoldenAnswer) -> String {
    if let Some(u) = &a.unscorable {
        return u.clone();
    }
    let failed: Vec<String> = a
        .passed
        .iter()
        .enumerate()
        .filter(|(_, p)| !**p)
        .map(|(k, _)| format!("#{}", k + 1))
        .collect();
    format!(
        "check{} {} of {} failed",
        if failed.len() == 1 { "" } else { "s" },
        failed.join(", "),
        a.passed.len()
    )
}

/// The kept answer, cut to [`ANSWER_CHARS`] characters (… marks a cut).
fn answer_text(a: &GoldenAnswer) -> String {
    let Some(t) = &a.answer else {
        return "(not kept)".into();
    };
    let mut s: String = t.chars().take(ANSWER_CHARS).collect();
    if a.answer_cut || t.chars().count() > ANSWER_CHARS {
        s.push('…');
    }
    s
}

/// A model's golden answers that missed, as a folded table (None when none missed).
fn misses(r: &Row) -> Option<Fold> {
    let miss: Vec<&GoldenAnswer> = r.q.golden.iter().filter(|a| missed(a)).collect();
    if miss.is_empty() {
        return None;
    }
    let rows = miss
        .iter()
        .map(|a| {
            vec![
                a.id.clone(),
                a.line.to_string(),
                a.outcome.clone(),
                a.finish_reason.clone().unwrap_or_else(|| "-".into()),
                a.score
                    .map(|s| format!("{:.3}", s + 0.0))
                    .unwrap_or_else(|| "-".into()),
                why(a),
                answer_text(a),
            ]
        })
        .collect();
    Some(Fold {
        summary: format!(
            "{}: {} of {} golden answers missed (line, reason, answer)",
            r.name,
            miss.len(),
            r.q.golden.len()
        ),
        table: Table {
            id: format!("quality_misses_{}", file_id(&r.name)),
            title: format!("{}: golden answers that missed", r.name),
            header: [
                "line id",
                "line",
                "outcome",
                "finish reason",
                "score",
                "why",
                "answer (cut)",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rows,
        },
    })
}

/// The cost-versus-quality chart and the models left out of it (with why).
fn chart(rows: &[Row]) -> (Chart, Vec<String>) {
    let mut points = Vec::new();
    let mut left_out = Vec::new();
    let mut desc = Vec::new();
    for r in rows {
        let score = r.q.quality.overall.score;
        match (r.cost(), score) {
            (Some(x), Some(s)) => {
                desc.push(format!(
                    "{}: ${} per 1,000 requests, score {}",
                    r.name,
                    usd(x),
                    est(&s)
                ));
                points.push(Point {
                    name: r.name.clone(),
                    x,
                    y: s.value,
                    interval: Some((s.low, s.high)),
                    color: r.color,
                    ring: r.baseline,
                });
            }
            (None, Some(_)) => left_out.push(format!("{} (no price: no cost)", r.name)),
            (Some(_), None) => left_out.push(format!(
                "{} (no score: no answer to a golden line with checks)",
                r.name
            )),
            (None, None) => left_out.push(format!("{} (no price and no score)", r.name)),
        }
    }
    let (lo, hi) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.x), b.max(p.x)));
    let x_log = !points.is_empty() && lo > 0.0 && hi / lo >= 5.0;
    // The score axis ends at 1 and starts at the tenth below the lowest interval end (room
    // for the bars without squeezing them into the top of a 0 to 1 axis).
    let y_low = points
        .iter()
        .map(|p| p.interval.map_or(p.y, |(l, _)| l.min(p.y)))
        .fold(1.0f64, f64::min);
    let y0 = (((y_low - 0.05) * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let mut markers = Vec::new();
    let mut region = None;
    for p in points.iter().filter(|p| p.ring) {
        markers.push(Marker {
            vertical: false,
            at: p.y,
            label: format!("{} score {:.3}", p.name, p.y),
        });
        markers.push(Marker {
            vertical: true,
            at: p.x,
            label: format!("{} cost", p.name),
        });
        // "Cheaper and still good enough": below the baseline's cost, at or above the low
        // end of its score's interval.
        let low = p.interval.map_or(p.y, |(l, _)| l);
        region.get_or_insert(Region {
            x_max: p.x,
            y_min: low,
            label: format!(
                "cheaper than {}, score within or above its interval (≥ {low:.3})",
                p.name
            ),
        });
    }
    let c = Scatter {
        id: "quality_cost".into(),
        title: "Cost against quality".into(),
        desc: format!(
            "Each model's golden-set score (y, {y0:.1} to 1, bars: 95 % interval) against its cost per 1,000 measured requests (x, USD{}){}. {}",
            if x_log { ", log scale" } else { "" },
            if region.is_some() {
                "; the baseline is ringed, with dashed lines at its score and cost, and the shaded corner holds the models cheaper than it that score at least the low end of its interval"
            } else {
                ""
            },
            if desc.is_empty() {
                "No model has both a price and a score.".to_string()
            } else {
                desc.join("; ") + "."
            }
        ),
        x_label: format!(
            "cost per 1,000 requests (USD{})",
            if x_log { ", log scale" } else { "" }
        ),
        y_label: "quality score".into(),
        x_log,
        y_domain: (y0, 1.0),
        points,
        markers,
        region,
    };
    let legend = c
        .points
        .iter()
        .map(|p| (format!("c{}", p.color % 10), p.name.clone()))
        .collect();
    (
        Chart {
            svg: c.render(),
            title: c.title.clone(),
            legend,
            table: Some("quality_models".into()),
            note: String::new(),
        },
        left_out,
    )
}
