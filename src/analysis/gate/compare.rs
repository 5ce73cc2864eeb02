//! Side-by-side comparison of runs: one table per metric family, one column per (file, model),
//! and each value's ratio to the first column — the pre-migration view.
//!
//! This module only arranges figures already in the result files; it computes no statistics
//! and passes no judgement (that is [`super::baseline`]).

use std::path::Path;

use serde::Serialize;

use super::metric::{fmt_ms, trim_float};
use super::GateError;
use crate::analysis::daily::DailyVolume;
use crate::core::metric::Metric;
use crate::core::table::{self, Layout};
use crate::results::{ModelResult, RunResult};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned plain text.
    Table,
    /// GitHub-flavoured Markdown tables.
    Markdown,
    /// One JSON document.
    Json,
    /// One CSV table, a line per (family, row, column).
    Csv,
}

impl Format {
    /// Parses `table`, `markdown`, `json` or `csv`.
    pub fn parse(s: &str) -> Result<Format, GateError> {
        match s {
            "table" => Ok(Format::Table),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            "csv" => Ok(Format::Csv),
            other => Err(GateError::Usage(format!(
                "--format `{other}`: use table, markdown, json or csv"
            ))),
        }
    }
}

/// What unit a row is in, for formatting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Unit {
    Ms,
    TokPerS,
    ReqPerS,
    Percent,
    Usd,
    /// A golden-set score (0 to 1).
    Score,
    /// A ratio to the baseline model's figure.
    Ratio,
}

struct RowDef {
    label: &'static str,
    unit: Unit,
    get: fn(&ModelResult) -> Option<f64>,
}

struct Family {
    name: &'static str,
    rows: &'static [RowDef],
}

fn lat(m: &ModelResult, k: Metric, p: fn(&crate::metrics::Summary) -> f64) -> Option<f64> {
    m.latency_ms.get(k.as_str()).filter(|s| s.count > 0).map(p)
}

fn speed(m: &ModelResult) -> Option<&crate::results::Speed> {
    Some(&m.decode_tokens_per_s).filter(|s| s.count > 0)
}

const FAMILIES: &[Family] = &[
    Family {
        name: "TTFT (from send)",
        rows: &[
            RowDef {
                label: "p50",
                unit: Unit::Ms,
                get: |m| lat(m, Metric::Ttft, |s| s.p50),
            },
            RowDef {
                label: "p99",
                unit: Unit::Ms,
                get: |m| lat(m, Metric::Ttft, |s| s.p99),
            },
        ],
    },
    Family {
        name: "ITL",
        rows: &[
            RowDef {
                label: "p50",
                unit: Unit::Ms,
                get: |m| lat(m, Metric::Itl, |s| s.p50),
            },
            RowDef {
                label: "p99",
                unit: Unit::Ms,
                get: |m| lat(m, Metric::Itl, |s| s.p99),
            },
        ],
    },
    Family {
        name: "TPOT",
        rows: &[
            RowDef {
                label: "p50",
                unit: Unit::Ms,
                get: |m| lat(m, Metric::Tpot, |s| s.p50),
            },
            RowDef {
                label: "p99",
                unit: Unit::Ms,
                get: |m| lat(m, Metric::Tpot, |s| s.p99),
            },
        ],
    },
    Family {
        name: "E2E",
        rows: &[
            RowDef {
                label: "p50",
                unit: Unit::Ms,
                get: |m| lat(m, Metric::E2e, |s| s.p50),
            },
            RowDef {
                label: "p99",
                unit: Unit::Ms,
                get: |m| lat(m, Metric::E2e, |s| s.p99),
            },
        ],
    },
    Family {
        name: "decode speed (per stream)",
        rows: &[
            RowDef {
                label: "p50",
                unit: Unit::TokPerS,
                get: |m| speed(m).map(|s| s.p50),
            },
            RowDef {
                label: "p10 (slow tail)",
                unit: Unit::TokPerS,
                get: |m| speed(m).map(|s| s.p10),
            },
        ],
    },
    Family {
        name: "throughput (aggregate over the window)",
        rows: &[
            RowDef {
                label: "output tok/s",
                unit: Unit::TokPerS,
                get: |m| Some(m.throughput.output_tokens_per_s),
            },
            RowDef {
                label: "requests/s",
                unit: Unit::ReqPerS,
                get: |m| Some(m.throughput.requests_per_s),
            },
        ],
    },
    Family {
        name: "errors",
        rows: &[RowDef {
            label: "error rate",
            unit: Unit::Percent,
            get: |m| (m.requests.sent > 0).then_some(m.error_rate * 100.0),
        }],
    },
    Family {
        name: "cost",
        rows: &[
            RowDef {
                label: "$ per 1k requests",
                unit: Unit::Usd,
                get: |m| m.cost.as_ref().map(|c| c.per_1k_requests_usd),
            },
            RowDef {
                label: "$ per M output tokens",
                unit: Unit::Usd,
                get: |m| m.cost.as_ref().map(|c| c.per_million_output_tokens_usd),
            },
        ],
    },
];

fn fmt(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Ms => fmt_ms(v),
        Unit::TokPerS => format!("{v:.1}"),
        Unit::ReqPerS => format!("{v:.2}"),
        Unit::Percent => format!("{v:.2} %"),
        Unit::Usd => format!("{v:.4}"),
        // + 0.0 turns a -0.0 (a weighted mean of zeros) into 0.
        Unit::Score | Unit::Ratio => format!("{:.3}", v + 0.0),
    }
}

/// One (file, model) column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    /// `file-stem:model label`.
    pub label: String,
    /// The file as given.
    pub file: String,
    /// Model id.
    pub model: String,
}

/// One cell: a value and its ratio to the first column's.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The value (absent when the column has no such figure).
    pub value: Option<f64>,
    /// value / first column's value (absent when either is absent or the first is 0).
    pub ratio: Option<f64>,
    /// Lower end of the value's 95 % interval, for figures stored with one (quality scores).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Upper end of the value's 95 % interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
}

/// One row of a family table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Row label, e.g. `p99`.
    pub label: String,
    /// Unit of every value in the row.
    pub unit: String,
    /// One cell per column.
    pub cells: Vec<Cell>,
}

/// One metric family.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Family name.
    pub family: String,
    /// Its rows.
    pub rows: Vec<Row>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The columns, in file then model order.
    pub columns: Vec<Column>,
    /// One table per metric family.
    pub tables: Vec<Table>,
    /// The one volume every column's daily cost is projected at, and where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_volume: Option<DailyVolume>,
    /// What the quality figures rest on, one line per result file with a quality section.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Name of the family holding the daily cost at one volume.
pub const DAILY_FAMILY: &str = "cost per day (one volume for every column)";

fn unit_name(u: Unit) -> &'static str {
    match u {
        Unit::Ms => "ms",
        Unit::TokPerS => "tokens/s",
        Unit::ReqPerS => "requests/s",
        Unit::Percent => "%",
        Unit::Usd => "USD",
        Unit::Score => "score",
        Unit::Ratio => "ratio",
    }
}

/// Builds the comparison of the given results (each with the path it was read from), without
/// a daily cost projection.
pub fn build(results: &[(String, RunResult)]) -> Comparison {
    build_at(results, None)
}

/// Builds the comparison, projecting every column's daily cost at `daily` when given.
pub fn build_at(results: &[(String, RunResult)], daily: Option<&DailyVolume>) -> Comparison {
    let mut columns = Vec::new();
    let mut models: Vec<&ModelResult> = Vec::new();
    let mut owners: Vec<&RunResult> = Vec::new();
    for (path, r) in results {
        let stem = Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_else(|| path.clone());
        for m in &r.models {
            columns.push(Column {
                label: format!("{stem}:{}", m.label),
                file: path.clone(),
                model: m.model.clone(),
            });
            models.push(m);
            owners.push(r);
        }
    }
    let tables = FAMILIES
        .iter()
        .map(|f| Table {
            family: f.name.to_string(),
            rows: f
                .rows
                .iter()
                .map(|d| {
                    let values: Vec<Option<f64>> = models.iter().map(|m| (d.get)(m)).collect();
                    Row {
                        label: d.label.to_string(),
                        unit: unit_name(d.unit).to_string(),
                        cells: cells(&values),
                    }
                })
                .collect(),
        })
        .collect::<Vec<Table>>();
    let mut tables = tables;
    let notes = quality_notes(results);
    if !notes.is_empty() {
        tables.push(quality_table(&owners, &models));
    }
    if let Some(v) = daily {
        let values: Vec<Option<f64>> = models.iter().map(|m| v.cost_per_day(m)).collect();
        tables.push(Table {
            family: DAILY_FAMILY.to_string(),
            rows: vec![Row {
                label: format!("$ per day at {}", v.text()),
                unit: unit_name(Unit::Usd).to_string(),
                cells: cells(&values),
            }],
        });
    }
    Comparison {
        columns,
        tables,
        daily_volume: daily.cloned(),
        notes,
    }
}

/// Name of the family holding the golden-set quality figures.
pub const QUALITY_FAMILY: &str = "quality (golden set; 95 % intervals)";

/// One line per result with a quality section: the golden set, its baseline and how it ran.
fn quality_notes(results: &[(String, RunResult)]) -> Vec<String> {
    results
        .iter()
        .filter_map(|(path, r)| {
            let q = r.quality.as_ref()?;
            Some(format!(
                "quality in {path}: {} golden lines from {} ({}){}",
                q.lines,
                q.golden,
                q.mode,
                match &q.baseline {
                    Some(b) => format!(", relative to {b}"),
                    None => ", no baseline".into(),
                }
            ))
        })
        .collect()
}

/// Each column's quality figures (stats chosen by `pick`) as cells with their intervals;
/// `ratio` keeps the ratio to the first column.
fn estimate_cells(
    figures: &[Option<&crate::metrics::quality::ModelQuality>],
    pick: impl Fn(&crate::metrics::quality::ModelQuality) -> Option<crate::metrics::quality::Estimate>,
    ratio: bool,
) -> Vec<Cell> {
    estimates_as_cells(figures.iter().map(|q| q.and_then(&pick)).collect(), ratio)
}

/// Estimates as cells with their intervals; `ratio` keeps the ratio to the first column.
fn estimates_as_cells(
    estimates: Vec<Option<crate::metrics::quality::Estimate>>,
    ratio: bool,
) -> Vec<Cell> {
    let values: Vec<Option<f64>> = estimates.iter().map(|e| e.map(|e| e.value)).collect();
    let mut out = cells(&values);
    for (c, e) in out.iter_mut().zip(&estimates) {
        c.low = e.map(|e| e.low);
        c.high = e.map(|e| e.high);
        if !ratio {
            c.ratio = None;
        }
    }
    out
}

/// The quality family: per column the golden-set score, the score relative to the run's
/// baseline model and the cost relative to it, the judge's score when a judge graded the
/// answers, then the score per class. Columns whose result
/// has no quality section (or no figures for that model) show `-`.
fn quality_table(owners: &[&RunResult], models: &[&ModelResult]) -> Table {
    let figures: Vec<Option<&crate::results::ModelQualityResult>> = owners
        .iter()
        .zip(models)
        .map(|(r, m)| {
            r.quality
                .as_ref()?
                .models
                .iter()
                .find(|q| q.model == m.label)
        })
        .collect();
    let stats: Vec<Option<&crate::metrics::quality::ModelQuality>> =
        figures.iter().map(|f| f.map(|f| &f.quality)).collect();
    // Older results do not store cost_relative: compute it from the result the same way.
    let cost_relative: Vec<Option<f64>> = owners
        .iter()
        .zip(&figures)
        .map(|(r, f)| {
            let f = (*f)?;
            f.cost_relative.or_else(|| {
                let mut c = (*r).clone();
                crate::results::quality::add_cost_relative(&mut c);
                c.quality?
                    .models
                    .into_iter()
                    .find(|q| q.model == f.model)?
                    .cost_relative
            })
        })
        .collect();
    let mut rows = vec![
        Row {
            label: "score".into(),
            unit: unit_name(Unit::Score).into(),
            cells: estimate_cells(&stats, |q| q.overall.score, true),
        },
        Row {
            label: "score relative to baseline".into(),
            unit: unit_name(Unit::Ratio).into(),
            cells: estimate_cells(&stats, |q| q.overall.relative, false),
        },
        Row {
            label: "cost relative to baseline".into(),
            unit: unit_name(Unit::Ratio).into(),
            cells: cells(&cost_relative)
                .into_iter()
                .map(|c| Cell { ratio: None, ..c })
                .collect(),
        },
    ];
    // The judge's grade, when a result had one: a figure of its own, beside the checks.
    let judged: Vec<Option<crate::metrics::quality::Estimate>> = owners
        .iter()
        .zip(models)
        .map(|(r, m)| {
            let j = r.quality.as_ref()?.judge.as_ref()?;
            j.models.iter().find(|q| q.model == m.label)?.overall.score
        })
        .collect();
    if judged.iter().any(Option::is_some) {
        rows.push(Row {
            label: "judge score".into(),
            unit: unit_name(Unit::Score).into(),
            cells: estimates_as_cells(judged, true),
        });
    }
    let mut classes: Vec<&String> = stats
        .iter()
        .flatten()
        .flat_map(|q| q.classes.keys())
        .collect();
    classes.sort_unstable();
    classes.dedup();
    for class in classes {
        rows.push(Row {
            label: format!("score in class {class}"),
            unit: unit_name(Unit::Score).into(),
            cells: estimate_cells(&stats, |q| q.classes.get(class).and_then(|s| s.score), true),
        });
    }
    Table {
        family: QUALITY_FAMILY.to_string(),
        rows,
    }
}

fn unit_of(t: &str) -> Unit {
    match t {
        "ms" => Unit::Ms,
        "tokens/s" => Unit::TokPerS,
        "requests/s" => Unit::ReqPerS,
        "%" => Unit::Percent,
        "score" => Unit::Score,
        "ratio" => Unit::Ratio,
        _ => Unit::Usd,
    }
}

fn cell_text(unit: &str, c: &Cell, first: bool) -> String {
    let u = unit_of(unit);
    let value = |v: f64| match (c.low, c.high) {
        (Some(lo), Some(hi)) => format!("{} [{}, {}]", fmt(u, v), fmt(u, lo), fmt(u, hi)),
        _ => fmt(u, v),
    };
    match (c.value, c.ratio) {
        (None, _) => "-".into(),
        (Some(v), _) if first => value(v),
        (Some(v), Some(r)) => format!("{} ({}×)", value(v), ratio(r)),
        (Some(v), None) => value(v),
    }
}

/// The row label, with the unit when the cells do not carry it.
fn row_label(r: &Row) -> String {
    let carried = matches!(r.unit.as_str(), "ms" | "%" | "score" | "ratio");
    let named = ["tok/s", "requests/s", "$"]
        .iter()
        .any(|u| r.label.contains(u));
    if carried || named {
        r.label.clone()
    } else {
        format!("{} ({})", r.label, r.unit)
    }
}

fn ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

impl Comparison {
    /// CSV lines for the 95 % interval of row `r`'s cells, when it has any: a row
    /// `<label> (95 % low)` and one `(95 % high)`, valued in the row's unit, without ratio.
    fn interval_csv(&self, t: &Table, r: &Row) -> String {
        if r.cells.iter().all(|c| c.low.is_none()) {
            return String::new();
        }
        let mut out = String::new();
        for (side, pick) in [
            ("low", (|c: &Cell| c.low) as fn(&Cell) -> Option<f64>),
            ("high", |c: &Cell| c.high),
        ] {
            for (c, cell) in self.columns.iter().zip(&r.cells) {
                let fields = [
                    t.family.clone(),
                    format!("{} (95 % {side})", r.label),
                    r.unit.clone(),
                    c.label.clone(),
                    c.file.clone(),
                    c.model.clone(),
                    pick(cell).map(trim_float).unwrap_or_default(),
                    String::new(),
                ];
                out.push_str(&fields.iter().map(|f| csv(f)).collect::<Vec<_>>().join(","));
                out.push('\n');
            }
        }
        out
    }

    /// Renders in a format.
    pub fn render(&self, format: Format) -> Result<String, GateError> {
        Ok(match format {
            Format::Table | Format::Markdown => {
                let mut out = String::new();
                if format == Format::Markdown {
                    out.push_str("## llmload compare\n\n");
                }
                for t in &self.tables {
                    let mut header = vec![format!("{}", t.family)];
                    header.extend(self.columns.iter().map(|c| c.label.clone()));
                    let rows: Vec<Vec<String>> = t
                        .rows
                        .iter()
                        .map(|r| {
                            let mut cells = vec![row_label(r)];
                            cells.extend(
                                r.cells
                                    .iter()
                                    .enumerate()
                                    .map(|(i, c)| cell_text(&r.unit, c, i == 0)),
                            );
                            cells
                        })
                        .collect();
                    if format == Format::Markdown {
                        out.push_str(&table::markdown(&header, &rows, &Layout::left(1)));
                    } else {
                        out.push_str(&table::text(&header, &rows, &Layout::left(1)));
                    }
                    out.push('\n');
                }
                for n in &self.notes {
                    out.push_str(&format!("({n})\n"));
                }
                if let Some(v) = &self.daily_volume {
                    out.push_str(&format!(
                        "(daily cost: every column at {}, from {})\n",
                        v.text(),
                        v.source
                    ));
                }
                out.push_str(&format!(
                    "(×: ratio to the first column, {})\n",
                    self.columns
                        .first()
                        .map(|c| c.label.as_str())
                        .unwrap_or("-")
                ));
                out
            }
            Format::Json => {
                serde_json::to_string_pretty(self)
                    .map_err(|e| GateError::Usage(format!("cannot render JSON: {e}")))?
                    + "\n"
            }
            Format::Csv => {
                let mut out = String::from("family,row,unit,column,file,model,value,ratio\n");
                for t in &self.tables {
                    for r in &t.rows {
                        for (c, cell) in self.columns.iter().zip(&r.cells) {
                            let num = |v: Option<f64>| v.map(trim_float).unwrap_or_default();
                            let fields = [
                                t.family.clone(),
                                r.label.clone(),
                                r.unit.clone(),
                                c.label.clone(),
                                c.file.clone(),
                                c.model.clone(),
                                num(cell.value),
                                num(cell.ratio),
                            ];
                            out.push_str(
                                &fields.iter().map(|f| csv(f)).collect::<Vec<_>>().join(","),
                            );
                            out.push('\n');
                        }
                        out.push_str(&self.interval_csv(t, r));
                    }
                }
                out
            }
        })
    }
}

fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A row's cells: each value with its ratio to the first column's (none where either is
/// missing or the first is zero).
fn cells(values: &[Option<f64>]) -> Vec<Cell> {
    let first = values.first().copied().flatten();
    values
        .iter()
        .map(|v| Cell {
            value: *v,
            ratio: match (v, first) {
                (Some(v), Some(f)) if f != 0.0 => Some(v / f),
                _ => None,
            },
            low: None,
            high: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::gate::eval::tests::fixture;

    #[test]
    fn columns_ratios_and_formats() {
        let a = fixture(&[100.0; 10]);
        let b = fixture(&[200.0; 10]);
        let c = build(&[("x/a.json".into(), a), ("y/b.json".into(), b)]);
        assert_eq!(c.columns[0].label, "a:M");
        assert_eq!(c.columns[1].label, "b:M");
        let ttft = &c.tables[0].rows[0];
        assert!((ttft.cells[1].ratio.expect("ratio") - 2.0).abs() < 0.01);
        let t = c.render(Format::Table).expect("table");
        assert!(t.contains("(2.00×)"), "{t}");
        let md = c.render(Format::Markdown).expect("md");
        assert!(md.contains("| TTFT (from send) | a:M | b:M |"), "{md}");
        let csv = c.render(Format::Csv).expect("csv");
        assert!(
            csv.lines()
                .nth(2)
                .is_some_and(|l| l.starts_with("TTFT (from send),p50,ms,b:M,y/b.json,m,")),
            "{csv}"
        );
        let json: serde_json::Value =
            serde_json::from_str(&c.render(Format::Json).expect("json")).expect("valid JSON");
        assert_eq!(json["columns"][1]["label"], "b:M");
        assert!(Format::parse("xml").is_err());
    }

    #[test]
    fn table_snapshot() {
        let a = fixture(&[100.0, 200.0, 300.0]);
        let mut b = fixture(&[50.0, 60.0, 70.0]);
        b.models[0].label = "Fast | cheap".into();
        let c = build(&[("a.json".into(), a), ("runs/b.json".into(), b)]);
        let got = c.render(Format::Table).expect("table");
        let want = include_str!("../../../tests/snapshots/compare_table.txt");
        assert_eq!(got, want, "got:\n{got}");
    }

    #[test]
    fn quality_rows_carry_their_intervals_and_only_with_a_quality_section() {
        use crate::metrics::quality::{Estimate, Method, ModelQuality, QualityStats};
        use crate::results::{ModelQualityResult, QualityResult};
        let plain = fixture(&[100.0; 10]);
        let mut q = plain.clone();
        let score = Estimate {
            value: 0.75,
            low: 0.5,
            high: 0.9,
            method: Method::Wilson,
        };
        q.quality = Some(QualityResult {
            golden: "g.jsonl".into(),
            lines: 4,
            mode: "pass".into(),
            models: vec![ModelQualityResult {
                model: "M".into(),
                quality: ModelQuality {
                    overall: QualityStats {
                        score: Some(score),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        });
        let without = build(&[("a.json".into(), plain.clone())]);
        assert!(without.tables.iter().all(|t| t.family != QUALITY_FAMILY));
        let c = build(&[("a.json".into(), plain), ("b.json".into(), q)]);
        let t = c.render(Format::Table).expect("table");
        assert!(t.contains("score  "), "{t}");
        assert!(t.contains("0.750 [0.500, 0.900]"), "{t}");
        assert!(
            t.contains("(quality in b.json: 4 golden lines from g.jsonl (pass), no baseline)"),
            "{t}"
        );
        let csv = c.render(Format::Csv).expect("csv");
        let family = "quality (golden set; 95 % intervals)";
        for line in [
            format!("{family},score,score,b:M,b.json,m,0.75,"),
            format!("{family},score (95 % low),score,b:M,b.json,m,0.5,"),
            format!("{family},score (95 % high),score,b:M,b.json,m,0.9,"),
            format!("{family},score,score,a:M,a.json,m,,"),
        ] {
            assert!(csv.lines().any(|l| l == line), "{line}\n{csv}");
        }
    }

    #[test]
    fn csv_quotes_commas() {
        assert_eq!(csv("a,b"), "\"a,b\"");
        assert_eq!(csv("a\"b"), "\"a\"\"b\"");
    }
}
