//! The report's content, independent of its format: tables (every figure the report shows, as
//! text cells with units in the headers) and charts, built from one or more results. HTML
//! ([`super::html`]), CSV and Markdown ([`super::export`]) are views of this.

use serde::Serialize;

use super::cdf;
use super::svg::{LineChart, Marker, Series};
use crate::analysis::gate::eval::Evaluation;
use crate::core::metric::Metric;
use crate::metrics::{Hist, Summary};
use crate::results::{ModelResult, RunResult, RunStatus};

/// Most points a CDF curve keeps (a 10-model comparison stays far below 1 MB).
pub const CDF_POINTS: usize = 160;

/// One result to report on.
#[derive(Debug, Clone)]
pub struct Input {
    /// The result file's path as given.
    pub path: String,
    /// The result.
    pub result: RunResult,
    /// Claims verdicts, when the report was asked to check claims.
    pub eval: Option<Evaluation>,
}

/// A table: every figure of the report lives in one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Table {
    /// File-safe id (the CSV file name without `.csv`, and the HTML element id).
    pub id: String,
    /// Title.
    pub title: String,
    /// Column headers (units in parentheses).
    pub header: Vec<String>,
    /// Rows of text cells.
    pub rows: Vec<Vec<String>>,
}

/// A chart with the table holding its figures.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    /// The SVG markup.
    pub svg: String,
    /// Title.
    pub title: String,
    /// Legend entries: (CSS class, text).
    pub legend: Vec<(String, String)>,
    /// Id of the table with the same figures.
    pub table: Option<String>,
    /// A line under the chart (e.g. what it leaves out); empty for none.
    pub note: String,
}

/// A summary card: one entity's headline figures.
#[derive(Debug, Clone, Serialize)]
pub struct Card {
    /// Entity name.
    pub title: String,
    /// Which run (for comparisons) and target.
    pub subtitle: String,
    /// Colour class of the entity in the charts.
    pub color: String,
    /// (label, value) pairs.
    pub items: Vec<(String, String)>,
    /// Whether the run was valid.
    pub valid: bool,
}

/// A group of sections: cards, charts and tables under a heading.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// Element id.
    pub id: String,
    /// Heading.
    pub title: String,
    /// Text under the heading.
    pub intro: String,
    /// Cards.
    pub cards: Vec<Card>,
    /// Charts (each with its table id).
    pub charts: Vec<Chart>,
    /// Tables shown in the section.
    pub tables: Vec<Table>,
    /// Tables shown folded (HTML `<details>`, closed until opened), after the others.
    pub folded: Vec<Fold>,
}

/// A table shown folded under a one-line summary.
#[derive(Debug, Clone, Serialize)]
pub struct Fold {
    /// The line shown while folded.
    pub summary: String,
    /// The table.
    pub table: Table,
}

/// A run's identity and health for the page header.
#[derive(Debug, Clone, Serialize)]
pub struct RunHead {
    /// Short name used in legends.
    pub label: String,
    /// Result path.
    pub path: String,
    /// Whether it is the reference (first).
    pub reference: bool,
    /// Run validity.
    pub valid: bool,
    /// Why it is invalid.
    pub reasons: Vec<String>,
    /// Status word.
    pub status: String,
    /// Warnings.
    pub warnings: Vec<String>,
    /// Claims summary line.
    pub claims: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// Title.
    pub title: String,
    /// The runs.
    pub runs: Vec<RunHead>,
    /// Sections in order.
    pub sections: Vec<Section>,
    /// Metric definitions quoted from docs/metrics.md: (metric, key, definition).
    pub definitions: Vec<(String, String, String)>,
    /// Tool version that wrote the report.
    pub tool_version: String,
}

impl Page {
    /// Every table of the page, in page order (what `--format csv` writes).
    pub fn tables(&self) -> Vec<&Table> {
        self.sections
            .iter()
            .flat_map(|s| s.tables.iter().chain(s.folded.iter().map(|f| &f.table)))
            .collect()
    }
}

/// A thing with figures: a model (or class) of one run.
struct Entity<'a> {
    name: String,
    run: usize,
    m: &'a ModelResult,
    color: usize,
}

pub(super) fn file_id(s: &str) -> String {
    let mut o: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    while o.contains("__") {
        o = o.replace("__", "_");
    }
    o.trim_matches('_').to_string()
}

pub(super) fn f1(v: f64) -> String {
    format!("{v:.1}")
}

pub(super) fn lat(s: &Summary, v: f64) -> String {
    if s.count == 0 {
        "-".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

pub(super) fn pct(v: f64) -> String {
    format!("{:.1}", v * 100.0)
}

pub(super) fn usd(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.2}")
    } else if v >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

fn status_word(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Complete => "complete",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Aborted => "aborted by a claim",
    }
}

/// Run labels: scenario names, made unique.
fn run_labels(inputs: &[Input]) -> Vec<String> {
    let names: Vec<String> = inputs
        .iter()
        .map(|i| i.result.scenario.name.clone())
        .collect();
    names
        .iter()
        .enumerate()
        .map(|(k, n)| {
            if names.iter().filter(|m| *m == n).count() > 1 {
                format!("{n} #{}", k + 1)
            } else {
                n.clone()
            }
        })
        .collect()
}

/// The metric definitions: the Latency table of docs/metrics.md, quoted at build time.
pub fn definitions() -> Vec<(String, String, String)> {
    let doc = include_str!("../../../docs/metrics.md");
    let mut out = Vec::new();
    let mut in_latency = false;
    for line in doc.lines() {
        if line.starts_with("## ") {
            in_latency = line.trim() == "## Latency";
            continue;
        }
        if !in_latency || !line.starts_with("| ") || line.starts_with("| metric") {
            continue;
        }
        let cells: Vec<String> = line
            .trim_matches('|')
            .split(" | ")
            .map(|c| c.trim().replace('`', "").replace("**", ""))
            .collect();
        if cells.len() == 3 {
            out.push((cells[0].clone(), cells[1].clone(), cells[2].clone()));
        }
    }
    out
}

/// Builds the page from the results (the first is the reference).
pub fn build(inputs: &[Input], title: Option<&str>) -> Page {
    let runs: Vec<(&str, &crate::results::RunResult)> = inputs
        .iter()
        .map(|i| (i.path.as_str(), &i.result))
        .collect();
    // Without flags the choice cannot fail: the scenarios' volume or the first run's rate.
    let daily = crate::analysis::daily::DailyVolume::choose(Default::default(), &runs)
        .ok()
        .flatten();
    build_at(inputs, title, daily.as_ref())
}

/// The page, with every model's daily cost projected at `daily` (one volume for all runs).
pub fn build_at(
    inputs: &[Input],
    title: Option<&str>,
    daily: Option<&crate::analysis::daily::DailyVolume>,
) -> Page {
    let labels = run_labels(inputs);
    let multi = inputs.len() > 1;
    let runs: Vec<RunHead> = inputs
        .iter()
        .zip(&labels)
        .enumerate()
        .map(|(k, (i, l))| RunHead {
            label: l.clone(),
            path: i.path.clone(),
            reference: multi && k == 0,
            valid: i.result.validity.valid,
            reasons: i.result.validity.reasons.clone(),
            status: status_word(i.result.status).into(),
            warnings: i.result.warnings.clone(),
            claims: i.eval.as_ref().map(|e| e.summary_line(false)),
        })
        .collect();
    let name = |k: usize, m: &ModelResult| {
        if multi {
            format!("{} · {}", labels[k], m.label)
        } else {
            m.label.clone()
        }
    };
    let mut models = Vec::new();
    let mut classes = Vec::new();
    for (k, i) in inputs.iter().enumerate() {
        for m in &i.result.models {
            let color = models.len();
            models.push(Entity {
                name: name(k, m),
                run: k,
                m,
                color,
            });
        }
        for m in &i.result.classes {
            let color = classes.len();
            classes.push(Entity {
                name: name(k, m),
                run: k,
                m,
                color,
            });
        }
    }
    let mut sections = vec![summary_section(
        "models", "Models", &models, inputs, &labels,
    )];
    sections.push(latency_section("models", "Latency distributions", &models));
    if !classes.is_empty() {
        sections.push(summary_section(
            "classes",
            "Request classes",
            &classes,
            inputs,
            &labels,
        ));
        sections.push(latency_section(
            "classes",
            "Latency distributions by class",
            &classes,
        ));
    }
    sections.push(time_section(inputs, &labels));
    if let Some(s) = super::server::section(inputs, &labels) {
        sections.push(s);
    }
    if let Some(s) = sweep_section(inputs, &labels) {
        sections.push(s);
    }
    if let Some(s) = claims_section(inputs, &labels) {
        sections.push(s);
    }
    sections.push(cost_section(&models, inputs, &labels, daily));
    sections.extend(super::quality::section(inputs, &labels));
    sections.extend(super::quota::section(inputs, &labels));
    sections.push(facts_section(inputs, &labels));
    let title = title.map(str::to_string).unwrap_or_else(|| {
        if multi {
            format!("llmload comparison: {}", labels.join(" vs "))
        } else {
            format!("llmload report: {}", labels[0])
        }
    });
    Page {
        title,
        runs,
        sections,
        definitions: definitions(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
    }
}

fn summary_section(
    id: &str,
    title: &str,
    ents: &[Entity],
    inputs: &[Input],
    labels: &[String],
) -> Section {
    let multi = inputs.len() > 1;
    let reference = ents.first().map(|e| e.m);
    let mut cards = Vec::new();
    let mut rows = Vec::new();
    for e in ents {
        let m = e.m;
        let r = &inputs[e.run].result;
        let ttft = m
            .latency_ms
            .get(Metric::Ttft.as_str())
            .copied()
            .unwrap_or_default();
        let slo = m
            .slo
            .as_ref()
            .map(|s| format!("{} % ({}/{})", pct(s.attainment), s.met, s.issued));
        let d = &m.decode_tokens_per_s;
        let decode = if d.count > 0 {
            format!("{} tok/s", f1(d.p50))
        } else {
            "-".into()
        };
        let cost = m.cost.as_ref();
        let mut items = vec![
            (
                "TTFT p50 / p99".to_string(),
                format!("{} / {} ms", lat(&ttft, ttft.p50), lat(&ttft, ttft.p99)),
            ),
            ("decode speed p50".into(), decode.clone()),
            ("output tok/s".into(), f1(m.throughput.output_tokens_per_s)),
            (
                "error rate".into(),
                format!(
                    "{} % ({} of {})",
                    pct(m.error_rate),
                    m.requests.failed,
                    m.requests.sent
                ),
            ),
            (
                "cost / 1k requests".into(),
                cost.map(|c| format!("${}", usd(c.per_1k_requests_usd)))
                    .unwrap_or_else(|| "-".into()),
            ),
            (
                "cost / M output tokens".into(),
                cost.map(|c| format!("${}", usd(c.per_million_output_tokens_usd)))
                    .unwrap_or_else(|| "-".into()),
            ),
            (
                "SLO attainment".into(),
                slo.clone().unwrap_or_else(|| "no SLO".into()),
            ),
            (
                "run".into(),
                if r.validity.valid {
                    "valid".into()
                } else {
                    "INVALID".into()
                },
            ),
        ];
        if id == "models" {
            if let Some(q) = super::quality::card_item(r, &m.label) {
                items.push(("quality score".into(), q));
            }
        }
        if multi {
            if let Some(rm) = reference {
                let rt = rm
                    .latency_ms
                    .get(Metric::Ttft.as_str())
                    .map_or(0.0, |s| s.p50);
                if rt > 0.0 && ttft.count > 0 {
                    items.push((
                        "TTFT p50 vs reference".into(),
                        format!("×{:.2}", ttft.p50 / rt),
                    ));
                }
            }
        }
        cards.push(Card {
            title: e.name.clone(),
            subtitle: format!(
                "{}{}n = {} ok",
                if multi {
                    format!("{} · ", labels[e.run])
                } else {
                    String::new()
                },
                if m.target.is_empty() {
                    String::new()
                } else {
                    format!("target {} · ", m.target)
                },
                m.requests.ok
            ),
            color: format!("c{}", e.color % 10),
            items,
            valid: r.validity.valid,
        });
        rows.push(summary_row(e, r));
    }
    let header = [
        "name",
        "ok",
        "sent",
        "error rate (%)",
        "TTFT p50 (ms)",
        "TTFT p99 (ms)",
        "decode p50 (tok/s)",
        "output (tok/s)",
        "cost per 1k requests (USD)",
        "cost per M output tokens (USD)",
        "SLO attainment (%)",
        "valid run",
    ];
    Section {
        id: id.into(),
        title: title.into(),
        intro: if multi {
            "Each card is one model of one run; ratios are to the first card (the reference run)."
                .into()
        } else {
            String::new()
        },
        folded: Vec::new(),
        cards,
        charts: Vec::new(),
        tables: vec![Table {
            id: format!("summary_{id}"),
            title: format!("{title}: summary"),
            header: header.iter().map(|s| s.to_string()).collect(),
            rows,
        }],
    }
}

/// One entity's row of the summary table.
fn summary_row(e: &Entity, r: &RunResult) -> Vec<String> {
    let m = e.m;
    let ttft = m
        .latency_ms
        .get(Metric::Ttft.as_str())
        .copied()
        .unwrap_or_default();
    let d = &m.decode_tokens_per_s;
    let cost = m.cost.as_ref();
    vec![
        e.name.clone(),
        m.requests.ok.to_string(),
        m.requests.sent.to_string(),
        pct(m.error_rate),
        lat(&ttft, ttft.p50),
        lat(&ttft, ttft.p99),
        if d.count > 0 { f1(d.p50) } else { "-".into() },
        f1(m.throughput.output_tokens_per_s),
        cost.map(|c| usd(c.per_1k_requests_usd))
            .unwrap_or_else(|| "-".into()),
        cost.map(|c| usd(c.per_million_output_tokens_usd))
            .unwrap_or_else(|| "-".into()),
        m.slo
            .as_ref()
            .map(|s| pct(s.attainment))
            .unwrap_or_else(|| "-".into()),
        if r.validity.valid { "yes" } else { "no" }.into(),
    ]
}

const LAT_METRICS: [(Metric, &str); 4] = [
    (Metric::Ttft, "TTFT"),
    (Metric::TtftAnswer, "TTFT (answer)"),
    (Metric::Itl, "ITL"),
    (Metric::E2e, "E2E"),
];

fn latency_section(id: &str, title: &str, ents: &[Entity]) -> Section {
    let mut charts = Vec::new();
    let mut tables = Vec::new();
    for (key, name) in LAT_METRICS {
        let mut series = Vec::new();
        let mut rows = Vec::new();
        let mut medians = Vec::new();
        for e in ents {
            let s =
                e.m.latency_ms
                    .get(key.as_str())
                    .copied()
                    .unwrap_or_default();
            rows.push(vec![
                e.name.clone(),
                s.count.to_string(),
                lat(&s, s.min),
                lat(&s, s.mean),
                lat(&s, s.p50),
                lat(&s, s.p90),
                lat(&s, s.p95),
                lat(&s, s.p99),
                lat(&s, s.p99_9),
                lat(&s, s.max),
            ]);
            let Some(h) =
                e.m.histograms
                    .get(key.as_str())
                    .and_then(|b| Hist::decode(b).ok())
            else {
                continue;
            };
            if h.is_empty() {
                continue;
            }
            medians.push(format!(
                "{} p50 {} ms, p99 {} ms (n={})",
                e.name,
                lat(&s, s.p50),
                lat(&s, s.p99),
                s.count
            ));
            series.push(Series {
                name: e.name.clone(),
                points: cdf::steps(&cdf::cdf(&h, 1e-3, CDF_POINTS)),
                color: e.color,
                dashed: false,
                dots: false,
            });
        }
        let tid = format!("percentiles_{id}_{key}");
        let chart = LineChart {
            id: format!("cdf_{id}_{key}"),
            title: format!("{name}: cumulative distribution"),
            desc: format!(
                "Share of successful requests (y, 0 to 1) at or below each {name} (x, milliseconds, log scale). {}. The table {} holds the percentiles.",
                if medians.is_empty() {
                    "No samples".to_string()
                } else {
                    medians.join("; ")
                },
                tid
            ),
            x_label: format!("{name} (ms, log scale)"),
            y_label: "share of requests".into(),
            x_log: true,
            y_zero: true,
            y_domain: Some((0.0, 1.0)),
            series,
            markers: Vec::new(),
        };
        charts.push(Chart {
            svg: chart.render(),
            title: chart.title.clone(),
            legend: chart.legend(),
            table: Some(tid.clone()),
            note: String::new(),
        });
        tables.push(Table {
            id: tid,
            title: format!("{name} percentiles (ms)"),
            header: [
                "name", "n", "min", "mean", "p50", "p90", "p95", "p99", "p99.9", "max",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            rows,
        });
    }
    Section {
        id: format!("latency_{id}"),
        title: title.into(),
        intro: "Cumulative distributions drawn from the histograms stored in the result (successful, measured requests; 3 significant digits). A curve further left is faster; the top of each curve is the tail. Each percentile has its sample count n beside it: check it before trusting a p99.".into(),
        folded: Vec::new(),
        cards: Vec::new(),
        charts,
        tables,
    }
}

/// Most points an over-time chart draws: longer series are folded into k-second buckets.
pub const TIME_POINTS: usize = 600;

/// One point of an over-time chart: a second, or a bucket of k seconds of a long run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sec {
    /// Bucket start, seconds since the run's start.
    pub t_s: f64,
    /// Requests sent per second.
    pub sent: f64,
    /// Requests completed ok per second.
    pub ok: f64,
    /// Failures per second.
    pub failed: f64,
    /// Drops per second.
    pub dropped: f64,
    /// Output tokens per second.
    pub output_tokens: f64,
    /// Highest in-flight count in the bucket.
    pub in_flight_max: f64,
    /// Mean of the seconds' TTFT p50 (ms).
    pub ttft_p50_ms: Option<f64>,
    /// Highest of the seconds' TTFT p99 (ms).
    pub ttft_p99_ms: Option<f64>,
    /// Failures per second by class.
    pub errors: std::collections::BTreeMap<String, f64>,
}

/// The 1 s series in buckets of k seconds, k the smallest that leaves at most `max` points:
/// counts become per-second means, in-flight and TTFT p99 the bucket's highest, TTFT p50 the
/// mean of the seconds that have one. Returns k and the buckets.
pub fn buckets(ts: &[crate::results::SeriesPoint], max: usize) -> (usize, Vec<Sec>) {
    let k = ts.len().div_ceil(max.max(1)).max(1);
    let out = ts
        .chunks(k)
        .map(|c| {
            let n = c.len() as f64;
            let mean = |f: &dyn Fn(&crate::results::SeriesPoint) -> u64| {
                c.iter().map(f).sum::<u64>() as f64 / n
            };
            let p50: Vec<f64> = c.iter().filter_map(|p| p.ttft_p50_ms).collect();
            let mut errors = std::collections::BTreeMap::new();
            for p in c {
                for (cls, v) in &p.errors {
                    *errors.entry(cls.clone()).or_insert(0.0) += *v as f64 / n;
                }
            }
            Sec {
                t_s: c[0].t_s as f64,
                sent: mean(&|p| p.sent),
                ok: mean(&|p| p.ok),
                failed: mean(&|p| p.failed),
                dropped: mean(&|p| p.dropped),
                output_tokens: mean(&|p| p.output_tokens),
                in_flight_max: c.iter().map(|p| p.in_flight_max).max().unwrap_or(0) as f64,
                ttft_p50_ms: (!p50.is_empty()).then(|| p50.iter().sum::<f64>() / p50.len() as f64),
                ttft_p99_ms: c.iter().filter_map(|p| p.ttft_p99_ms).reduce(f64::max),
                errors,
            }
        })
        .collect();
    (k, out)
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn time_section(inputs: &[Input], labels: &[String]) -> Section {
    let multi = inputs.len() > 1;
    let series: Vec<(usize, Vec<Sec>)> = inputs
        .iter()
        .map(|i| buckets(&i.result.timeseries, TIME_POINTS))
        .collect();
    let mut lines = TimeLines::default();
    let mut tables = Vec::new();
    for (k, i) in inputs.iter().enumerate() {
        let r = &i.result;
        let mut classes: Vec<String> = r
            .timeseries
            .iter()
            .flat_map(|p| p.errors.keys().cloned())
            .collect();
        classes.sort();
        classes.dedup();
        let who = |what: &str| {
            if multi {
                format!("{} {what}", labels[k])
            } else {
                what.to_string()
            }
        };
        lines.add(k, r, &series[k].1, &classes, multi, &who);
        tables.push(time_table(&labels[k], &series[k], &classes));
    }
    let charts = time_charts(inputs, &tables, lines);
    Section {
        id: "time".into(),
        title: "Over time".into(),
        intro: "From the result's 1 s series, which covers every phase (the shaded measurement window is marked by its start and end). Dashed lines are the second figure of the same run (completed requests, TTFT p99).".into(),
        folded: Vec::new(),
        cards: Vec::new(),
        charts,
        tables,
    }
}

/// The over-time charts' lines, gathered run by run.
#[derive(Default)]
struct TimeLines {
    rate: Vec<Series>,
    rate_markers: Vec<Marker>,
    inflight: Vec<Series>,
    ttft: Vec<Series>,
    tok: Vec<Series>,
    errs: Vec<Series>,
}

impl TimeLines {
    /// Adds run `k`'s lines (`secs` its buckets, `classes` its error classes); `who` names a
    /// line after the run when several are compared.
    fn add(
        &mut self,
        k: usize,
        r: &RunResult,
        secs: &[Sec],
        classes: &[String],
        multi: bool,
        who: &dyn Fn(&str) -> String,
    ) {
        let pts = |f: &dyn Fn(&Sec) -> Option<f64>| {
            secs.iter()
                .map(|p| (p.t_s, f(p).unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
        };
        let line = |name: String, points, color, dashed| Series {
            name,
            points,
            color,
            dashed,
            dots: false,
        };
        self.rate.push(line(
            who("sent/s (achieved)"),
            pts(&|p| Some(p.sent)),
            k,
            false,
        ));
        self.rate
            .push(line(who("completed ok/s"), pts(&|p| Some(p.ok)), k, true));
        if let Some(o) = r.load.offered_rate_per_s {
            self.rate_markers.push(Marker {
                vertical: false,
                at: o,
                label: who(&format!("offered {o:.1}/s")),
            });
        }
        self.inflight.push(line(
            who("in flight (max per s)"),
            pts(&|p| Some(p.in_flight_max)),
            k,
            false,
        ));
        self.ttft
            .push(line(who("TTFT p50"), pts(&|p| p.ttft_p50_ms), k, false));
        self.ttft
            .push(line(who("TTFT p99"), pts(&|p| p.ttft_p99_ms), k, true));
        self.tok.push(line(
            who("output tok/s"),
            pts(&|p| Some(p.output_tokens)),
            k,
            false,
        ));
        if r.timeseries.iter().any(|p| p.dropped > 0) {
            self.errs
                .push(line(who("dropped"), pts(&|p| Some(p.dropped)), k, true));
        }
        for (j, c) in classes.iter().enumerate() {
            self.errs.push(line(
                who(c),
                pts(&|p| Some(*p.errors.get(c).unwrap_or(&0.0))),
                if multi { k } else { j + 1 },
                false,
            ));
        }
        if self.errs.is_empty() && !multi {
            self.errs.push(line(
                "failed (none)".into(),
                pts(&|p| Some(p.failed)),
                0,
                false,
            ));
        } else if multi && classes.is_empty() {
            self.errs
                .push(line(who("failed"), pts(&|p| Some(p.failed)), k, false));
        }
    }
}

/// One run's per-second (or per-bucket) table: `series` is the bucket length and the buckets.
fn time_table(label: &str, series: &(usize, Vec<Sec>), classes: &[String]) -> Table {
    let mut header: Vec<String> = [
        "t (s)",
        "sent",
        "ok",
        "failed",
        "dropped",
        "output tokens",
        "in flight max",
        "TTFT p50 (ms)",
        "TTFT p99 (ms)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    header.extend(classes.iter().map(|c| format!("errors: {c}")));
    let opt = |v: Option<f64>| v.map(f1).unwrap_or_else(|| "-".into());
    let bucket = series.0;
    Table {
        id: format!("timeseries_{}", file_id(label)),
        title: if bucket == 1 {
            format!("{label}: per second (all phases)")
        } else {
            format!(
                "{label}: per second, averaged over {bucket} s buckets (all phases; TTFT p99 and in flight: the bucket's highest)"
            )
        },
        header,
        rows: series
            .1
            .iter()
            .map(|p| {
                let mut row = vec![
                    num(p.t_s),
                    num(p.sent),
                    num(p.ok),
                    num(p.failed),
                    num(p.dropped),
                    num(p.output_tokens),
                    num(p.in_flight_max),
                    opt(p.ttft_p50_ms),
                    opt(p.ttft_p99_ms),
                ];
                row.extend(
                    classes
                        .iter()
                        .map(|c| num(p.errors.get(c).copied().unwrap_or(0.0))),
                );
                row
            })
            .collect(),
    }
}

/// The five over-time charts; a single run's also mark its measurement window.
fn time_charts(inputs: &[Input], tables: &[Table], lines: TimeLines) -> Vec<Chart> {
    let window: Vec<Marker> = if inputs.len() > 1 {
        Vec::new()
    } else {
        let l = &inputs[0].result.load;
        vec![
            Marker {
                vertical: true,
                at: l.window_start_s,
                label: "window start".into(),
            },
            Marker {
                vertical: true,
                at: l.window_end_s,
                label: "window end".into(),
            },
        ]
    };
    let tid = tables.first().map(|t| t.id.clone());
    let mk = |id: &str, title: &str, y: &str, series: Vec<Series>, extra: Vec<Marker>| {
        let mut markers = window.clone();
        markers.extend(extra);
        let c = LineChart {
            id: format!("time_{id}"),
            title: title.into(),
            desc: format!(
                "{title} for each second since the start of the run (x, seconds), warmup and cooldown included; {}. The per-second table holds the figures.",
                series.iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")
            ),
            x_label: "time since start (s)".into(),
            y_label: y.into(),
            x_log: false,
            y_zero: true,
            y_domain: None,
            series,
            markers,
        };
        Chart {
            svg: c.render(),
            title: c.title.clone(),
            legend: c.legend(),
            table: tid.clone(),
            note: String::new(),
        }
    };
    let TimeLines {
        rate,
        rate_markers,
        inflight,
        ttft,
        tok,
        errs,
    } = lines;
    vec![
        mk(
            "rate",
            "Offered vs achieved request rate",
            "requests/s",
            rate,
            rate_markers,
        ),
        mk(
            "inflight",
            "Requests in flight",
            "requests",
            inflight,
            vec![],
        ),
        mk("ttft", "TTFT p50 and p99 over time", "ms", ttft, vec![]),
        mk(
            "tokens",
            "Output tokens per second",
            "tokens/s",
            tok,
            vec![],
        ),
        mk("errors", "Errors by class", "requests/s", errs, vec![]),
    ]
}

fn sweep_section(inputs: &[Input], labels: &[String]) -> Option<Section> {
    let mut charts = Vec::new();
    let mut tables = Vec::new();
    let mut intro = Vec::new();
    for (k, i) in inputs.iter().enumerate() {
        let Some(sw) = &i.result.sweep else { continue };
        let tid = format!("sweep_{}", file_id(&labels[k]));
        charts.extend(sweep_charts(&i.result, sw, &labels[k], &tid));
        intro.push(format!(
            "{}: {}{}",
            labels[k],
            sw.knee.method,
            sw.stopped_early
                .as_ref()
                .map(|w| format!(" The ladder stopped early: {w}."))
                .unwrap_or_default()
        ));
        tables.push(sweep_table(sw, &labels[k], &tid));
    }
    (!charts.is_empty()).then(|| Section {
        id: "sweep".into(),
        title: "Capacity sweep".into(),
        intro: intro.join(" "),
        folded: Vec::new(),
        cards: Vec::new(),
        charts,
        tables,
    })
}

/// A sweep's two charts against offered rate (latency, throughput and goodput), marked at its
/// knee and SLO; `tid` is the id of the table holding their figures.
fn sweep_charts(
    r: &RunResult,
    sw: &crate::results::sweep::Sweep,
    label: &str,
    tid: &str,
) -> [Chart; 2] {
    let rungs: Vec<&crate::results::sweep::SweepStep> = sw
        .steps
        .iter()
        .filter(|s| s.offered_rate_per_s.is_some())
        .collect();
    let xy = |f: &dyn Fn(&crate::results::sweep::SweepStep) -> Option<f64>| {
        rungs
            .iter()
            .filter_map(|s| Some((s.offered_rate_per_s?, f(s)?)))
            .collect::<Vec<_>>()
    };
    let mut markers = Vec::new();
    if let Some(r) = sw.knee.latency_knee_rate {
        markers.push(Marker {
            vertical: true,
            at: r,
            label: format!("latency knee {r:.1}/s"),
        });
    }
    if let Some(r) = sw
        .knee
        .sustainable_rate_per_s
        .or(sw.knee.max_rate_within_slo)
    {
        // Without an SLO the queue, not an SLO, limits the sustainable rate.
        let what = match sw.knee.limited_by.as_deref() {
            Some("capacity") => "sustainable",
            _ => "max within SLO",
        };
        markers.push(Marker {
            vertical: true,
            at: r,
            label: format!("{what} {r:.1}/s"),
        });
    }
    let slo = &r.slo;
    let mut lat_markers = markers.clone();
    if let Some(v) = slo.e2e_ms {
        lat_markers.push(Marker {
            vertical: false,
            at: v,
            label: format!("SLO E2E {v:.0} ms"),
        });
    }
    if let Some(v) = slo.ttft_ms {
        lat_markers.push(Marker {
            vertical: false,
            at: v,
            label: format!("SLO TTFT {v:.0} ms"),
        });
    }
    let ser = |name: &str, points, color, dashed| Series {
        name: name.into(),
        points,
        color,
        dashed,
        dots: true,
    };
    let id = file_id(label);
    let lat_chart = LineChart {
        id: format!("sweep_latency_{id}"),
        title: format!("{}: latency against offered rate", label),
        desc: format!(
            "Latency from the scheduled time (y, ms) at each open-loop rate of the sweep (x, requests/s): TTFT p50 and p99, E2E p50 and p99. {} {}",
            sw.knee.method,
            // The sweep's own one-sentence knee where it wrote one; older results only
            // have the rate.
            sw.knee.statement.clone().unwrap_or_else(|| sw
                .knee
                .max_rate_within_slo
                .map(|r| format!("The SLO held up to {r:.2} requests/s."))
                .unwrap_or_else(|| "No rate met the SLO.".into()))
        ),
        x_label: "offered rate (requests/s)".into(),
        y_label: "ms".into(),
        x_log: false,
        y_zero: true,
        y_domain: None,
        series: vec![
            ser("TTFT p50", xy(&|s| Some(s.ttft_p50_ms)), 0, false),
            ser("TTFT p99", xy(&|s| Some(s.ttft_p99_ms)), 0, true),
            ser("E2E p50", xy(&|s| Some(s.e2e_p50_ms)), 1, false),
            ser("E2E p99", xy(&|s| Some(s.e2e_p99_ms)), 1, true),
        ],
        markers: lat_markers,
    };
    let good_chart = LineChart {
        id: format!("sweep_goodput_{id}"),
        title: format!("{}: throughput and goodput against offered rate", label),
        desc: format!(
            "Completed requests per second and goodput (requests per second that met every SLO) at each offered rate of the sweep; the saturation probe completed {:.2} requests/s.",
            sw.max_throughput_rps
        ),
        x_label: "offered rate (requests/s)".into(),
        y_label: "requests/s".into(),
        x_log: false,
        y_zero: true,
        y_domain: None,
        series: vec![
            ser("completed/s", xy(&|s| Some(s.completed_per_s)), 2, false),
            ser("goodput/s", xy(&|s| s.goodput_per_s), 3, false),
            ser("offered (y = x)", xy(&|s| s.offered_rate_per_s), 4, true),
        ],
        markers,
    };
    [lat_chart, good_chart].map(|c| Chart {
        svg: c.render(),
        title: c.title.clone(),
        legend: c.legend(),
        table: Some(tid.to_string()),
        note: String::new(),
    })
}

/// A sweep's steps, one row each.
fn sweep_table(sw: &crate::results::sweep::Sweep, label: &str, tid: &str) -> Table {
    let opt = |v: Option<f64>, f: fn(f64) -> String| v.map(f).unwrap_or_else(|| "-".into());
    Table {
        id: tid.to_string(),
        title: format!("{}: sweep steps", label),
        header: [
            "step",
            "kind",
            "offered (req/s)",
            "concurrency",
            "completed (req/s)",
            "goodput (req/s)",
            "SLO attainment (%)",
            "in flight mean",
            "TTFT p50 (ms)",
            "TTFT p99 (ms)",
            "E2E p50 (ms)",
            "E2E p99 (ms)",
            "error rate (%)",
            "valid",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows: sw
            .steps
            .iter()
            .enumerate()
            .map(|(n, s)| {
                vec![
                    (n + 1).to_string(),
                    format!("{:?}", s.kind).to_lowercase(),
                    opt(s.offered_rate_per_s, |v| format!("{v:.2}")),
                    s.concurrency.map(|c| c.to_string()).unwrap_or("-".into()),
                    format!("{:.2}", s.completed_per_s),
                    opt(s.goodput_per_s, |v| format!("{v:.2}")),
                    opt(s.slo_attainment, pct),
                    format!("{:.2}", s.in_flight_mean),
                    f1(s.ttft_p50_ms),
                    f1(s.ttft_p99_ms),
                    f1(s.e2e_p50_ms),
                    f1(s.e2e_p99_ms),
                    pct(s.error_rate),
                    if s.valid { "yes" } else { "no" }.into(),
                ]
            })
            .collect(),
    }
}

fn claims_section(inputs: &[Input], labels: &[String]) -> Option<Section> {
    let mut tables = Vec::new();
    let mut intro = Vec::new();
    for (k, i) in inputs.iter().enumerate() {
        let Some(e) = &i.eval else { continue };
        intro.push(format!("{}: {}", labels[k], e.summary_line(false)));
        use crate::analysis::gate::eval::{cells, Column::*};
        let (header, rows) = cells(
            &e.rows,
            &[
                Claim, Expression, Model, Measured, Limit, Margin, Verdict, Basis,
            ],
        );
        tables.push(Table {
            id: format!("claims_{}", file_id(&labels[k])),
            title: format!("{}: claims", labels[k]),
            header,
            rows,
        });
    }
    (!tables.is_empty()).then(|| Section {
        id: "claims".into(),
        title: "Claim verdicts".into(),
        intro: intro.join(" · "),
        folded: Vec::new(),
        cards: Vec::new(),
        charts: Vec::new(),
        tables,
    })
}

fn cost_section(
    models: &[Entity],
    inputs: &[Input],
    labels: &[String],
    daily: Option<&crate::analysis::daily::DailyVolume>,
) -> Section {
    let mut rows = Vec::new();
    let mut push = |name: String, m: &ModelResult| {
        let Some(c) = &m.cost else { return };
        rows.push(vec![
            name,
            c.price
                .map(|p| format!("{}", p.input_per_m))
                .unwrap_or_else(|| "-".into()),
            c.price
                .map(|p| format!("{}", p.output_per_m))
                .unwrap_or_else(|| "-".into()),
            format!("{:.6}", c.total_usd),
            format!("{:.6}", c.run_total_usd),
            usd(c.per_1k_requests_usd),
            usd(c.per_million_output_tokens_usd),
            daily
                .and_then(|d| d.cost_per_day(m))
                .map(|v| format!("{v:.2}"))
                .unwrap_or_else(|| "-".into()),
        ]);
    };
    for e in models {
        push(e.name.clone(), e.m);
    }
    for (k, i) in inputs.iter().enumerate() {
        if i.result.models.len() > 1 {
            push(format!("{} · all models", labels[k]), &i.result.overall);
        }
    }
    let intro = match daily {
        Some(d) => format!(
                "Measured cost from the scenario's prices and the token counts. Cost per day: every row at the same volume, {} (from {}), at each row's measured cost per request (per token for a token volume), so rows compare like for like.",
            d.text(),
            d.source
        ),
        None => "Measured cost from the scenario's prices and the token counts. No daily volume: no scenario sets [cost] daily_requests and no run measured a request rate; give --daily-requests.".to_string(),
    };
    Section {
        id: "cost".into(),
        title: "Cost".into(),
        intro,
        folded: Vec::new(),
        cards: Vec::new(),
        charts: Vec::new(),
        tables: vec![Table {
            id: "cost".into(),
            title: "Cost and daily projection".into(),
            header: vec![
                "name".to_string(),
                "input price (USD/M)".to_string(),
                "output price (USD/M)".to_string(),
                "measured cost (USD)".to_string(),
                "whole run cost (USD)".to_string(),
                "per 1k requests (USD)".to_string(),
                "per M output tokens (USD)".to_string(),
                "cost/day at one volume (USD)".to_string(),
            ],
            rows,
        }],
    }
}

/// One row of the facts table: how to read it from a result.
type Fact = Box<dyn Fn(&Input) -> String>;

fn facts_section(inputs: &[Input], labels: &[String]) -> Section {
    let mut header = vec!["fact".to_string()];
    header.extend(labels.iter().cloned());
    let facts: Vec<(&str, Fact)> = vec![
        ("result file", Box::new(|i| i.path.clone())),
        ("scenario", Box::new(|i| i.result.scenario.name.clone())),
        (
            "description",
            Box::new(|i| i.result.scenario.description.clone().unwrap_or_default()),
        ),
        (
            "scenario path",
            Box::new(|i| i.result.scenario.path.clone()),
        ),
        (
            "scenario sha256",
            Box::new(|i| i.result.scenario.sha256.clone()),
        ),
        ("seed", Box::new(|i| i.result.scenario.seed.to_string())),
        (
            "tool",
            Box::new(|i| format!("{} {}", i.result.tool.name, i.result.tool.version)),
        ),
        ("run id", Box::new(|i| i.result.run_id.clone())),
        ("status", Box::new(|i| status_word(i.result.status).into())),
        ("started", Box::new(|i| i.result.started_at.clone())),
        ("finished", Box::new(|i| i.result.finished_at.clone())),
        (
            "host",
            Box::new(|i| {
                let h = &i.result.host;
                format!("{} ({} {}, {} CPUs)", h.hostname, h.os, h.arch, h.cpus)
            }),
        ),
        (
            "shard count",
            Box::new(|i| i.result.shard.count.to_string()),
        ),
        (
            "load",
            Box::new(|i| {
                let l = &i.result.load;
                let mut s = l.mode.clone();
                if let Some(a) = &l.arrival {
                    s.push_str(&format!(" ({a})"));
                }
                if let Some(o) = l.offered_rate_per_s {
                    s.push_str(&format!(", offered {o:.2} req/s"));
                }
                if let Some(c) = l.concurrency {
                    s.push_str(&format!(", concurrency {c}"));
                }
                s.push_str(&format!(
                    ", achieved {:.2} req/s",
                    l.achieved_send_rate_per_s
                ));
                s
            }),
        ),
        (
            "measurement window",
            Box::new(|i| {
                let l = &i.result.load;
                format!(
                    "{:.1} s ({:.1}–{:.1} s after the start; warmup {:.1} s, cooldown {:.1} s)",
                    l.window_s, l.window_start_s, l.window_end_s, l.warmup_s, l.cooldown_s
                )
            }),
        ),
        (
            "schedule lag p99",
            Box::new(|i| {
                let s = &i.result.load.schedule_lag_ms;
                format!("{:.3} ms (n={})", s.p99, s.count)
            }),
        ),
        (
            "SLO",
            Box::new(|i| {
                let s = &i.result.slo;
                let mut p = Vec::new();
                for (n, v) in [
                    ("TTFT", s.ttft_ms),
                    ("TTFT (answer)", s.ttft_answer_ms),
                    ("TPOT", s.tpot_ms),
                    ("E2E", s.e2e_ms),
                ] {
                    if let Some(v) = v {
                        p.push(format!("{n} ≤ {v} ms"));
                    }
                }
                if p.is_empty() {
                    "none".into()
                } else {
                    p.join(", ")
                }
            }),
        ),
        (
            "validity",
            Box::new(|i| {
                if i.result.validity.valid {
                    "valid".into()
                } else {
                    format!("INVALID: {}", i.result.validity.reasons.join("; "))
                }
            }),
        ),
    ];
    let rows = facts
        .iter()
        .map(|(name, f)| {
            let mut row = vec![name.to_string()];
            row.extend(inputs.iter().map(f));
            row
        })
        .collect();
    Section {
        id: "facts".into(),
        title: "The run's facts".into(),
        intro: String::new(),
        folded: Vec::new(),
        cards: Vec::new(),
        charts: Vec::new(),
        tables: vec![Table {
            id: "facts".into(),
            title: "Facts".into(),
            header,
            rows,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_quote_the_latency_table() {
        let d = definitions();
        assert!(d.len() >= 10, "{d:?}");
        assert_eq!(d[0].0, "TTFT");
        assert_eq!(d[0].1, "ttft");
        assert!(d[0].2.contains("first − sent"), "{:?}", d[0]);
    }

    #[test]
    fn long_series_fold_into_buckets() {
        let ts: Vec<crate::results::SeriesPoint> = (0..10u64)
            .map(|t| crate::results::SeriesPoint {
                t_s: t,
                sent: t,
                ok: 1,
                failed: 0,
                dropped: 0,
                output_tokens: 10,
                in_flight_max: t,
                ttft_p50_ms: (t % 2 == 0).then_some(100.0 + t as f64),
                ttft_p99_ms: Some(t as f64),
                errors: [("http_5xx".to_string(), 2)].into_iter().collect(),
                cpu_cores_used: None,
                server: Default::default(),
                quota: None,
            })
            .collect();
        let (k, b) = buckets(&ts, 4);
        assert_eq!(k, 3);
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].t_s, 0.0);
        assert_eq!(b[1].t_s, 3.0);
        assert_eq!(b[0].sent, 1.0); // (0 + 1 + 2) / 3
        assert_eq!(b[0].in_flight_max, 2.0);
        assert_eq!(b[0].ttft_p50_ms, Some(101.0)); // seconds 0 and 2
        assert_eq!(b[0].ttft_p99_ms, Some(2.0));
        assert_eq!(b[0].errors["http_5xx"], 2.0);
        assert_eq!(b[3].sent, 9.0); // the short last bucket
        let (k, b) = buckets(&ts, 600);
        assert_eq!((k, b.len()), (1, 10));
        assert_eq!(num(b[3].sent), "3");
    }

    #[test]
    fn file_ids_are_safe() {
        assert_eq!(file_id("DeepSeek V4 · Flash!"), "deepseek_v4_flash");
    }
}
