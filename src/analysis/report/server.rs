//! The report's server-side view, for results whose targets had `server_metrics`: the
//! server's requests running and waiting over time beside TTFT over time (when TTFT rises, the
//! reader sees whether the server's queue grew), the gauges' summary, the per-second figures,
//! and the one-line summary of the terminal table.

use std::fmt::Write;

use super::page::{f1, file_id, Chart, Input, Section, Table, TIME_POINTS};
use super::svg::{LineChart, Marker, Series};
use crate::results::server::{ServerMetrics, KV_CACHE_USAGE, RUNNING, WAITING};
use crate::results::{RunResult, SeriesPoint};

/// The section, when any result has a server view.
pub fn section(inputs: &[Input], labels: &[String]) -> Option<Section> {
    if inputs.iter().all(|i| i.result.server_metrics.is_empty()) {
        return None;
    }
    let multi = inputs.len() > 1;
    let mut queue = Vec::new();
    let mut ttft = Vec::new();
    let mut kv = Vec::new();
    let mut tables = vec![gauges_table(inputs, labels)];
    for (k, i) in inputs.iter().enumerate() {
        let r = &i.result;
        let who = |what: &str| {
            if multi {
                format!("{} {what}", labels[k])
            } else {
                what.to_string()
            }
        };
        let (bucket, secs) = per_bucket(&r.timeseries);
        for (j, s) in r.server_metrics.iter().enumerate() {
            let color = if multi { k } else { j };
            let t = &s.target;
            let g = |key: &'static str| gauge_line(&secs, t, key);
            queue.push(line(who(&format!("{t} running")), g(RUNNING), color, false));
            queue.push(line(who(&format!("{t} waiting")), g(WAITING), color, true));
            if s.gauges.contains_key(KV_CACHE_USAGE) {
                kv.push(line(
                    who(&format!("{t} KV cache")),
                    g(KV_CACHE_USAGE),
                    color,
                    false,
                ));
            }
        }
        let pts = |f: &dyn Fn(&SeriesPoint) -> Option<f64>| {
            secs.iter()
                .map(|(t, c)| (*t, mean(c.iter().filter_map(f)).unwrap_or(f64::NAN)))
                .collect::<Vec<_>>()
        };
        ttft.push(line(who("TTFT p50"), pts(&|p| p.ttft_p50_ms), k, false));
        ttft.push(line(who("TTFT p99"), pts(&|p| p.ttft_p99_ms), k, true));
        tables.push(time_table(&labels[k], r, bucket, &secs));
    }
    let window = window_markers(inputs);
    let tid = tables.get(1).map(|t| t.id.clone());
    let mut charts = vec![
        chart(
            "server_queue",
            "Server: requests running and waiting",
            "requests",
            queue,
            &window,
            &tid,
        ),
        chart(
            "server_ttft",
            "TTFT p50 and p99 over time",
            "ms",
            ttft,
            &window,
            &tid,
        ),
    ];
    if !kv.is_empty() {
        charts.push(chart(
            "server_kv",
            "Server: KV-cache usage",
            "share (0–1)",
            kv,
            &window,
            &tid,
        ));
    }
    Some(Section {
        id: "server".into(),
        title: "Server metrics".into(),
        intro: "The server's own gauges, read from its Prometheus endpoint (the target's server_metrics) about once a second during the run, beside the TTFT llmload measured over the same seconds: a TTFT that rises with the server's waiting requests is queueing at the server. Running and waiting come from the server's known gauge names (see the gauges table for the name each came from).".into(),
        folded: Vec::new(),
        cards: Vec::new(),
        charts,
        tables,
    })
}

/// The 1 s series in buckets of k seconds (as the over-time charts fold them): each bucket's
/// start and its points.
fn per_bucket(ts: &[SeriesPoint]) -> (usize, Vec<(f64, &[SeriesPoint])>) {
    let k = ts.len().div_ceil(TIME_POINTS).max(1);
    (k, ts.chunks(k).map(|c| (c[0].t_s as f64, c)).collect())
}

/// The mean of some values, or None when there are none.
fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, s) = v.fold((0u32, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| s / f64::from(n))
}

/// One gauge of one target per bucket: the mean of the seconds that have it (NaN: a gap).
fn gauge_value(c: &[SeriesPoint], target: &str, key: &str) -> Option<f64> {
    mean(c.iter().filter_map(|p| {
        let s = p.server.get(target)?;
        match key {
            RUNNING => s.running,
            WAITING => s.waiting,
            KV_CACHE_USAGE => s.kv_cache_usage,
            other => s.gauges.get(other).copied(),
        }
    }))
}

fn gauge_line(secs: &[(f64, &[SeriesPoint])], target: &str, key: &str) -> Vec<(f64, f64)> {
    secs.iter()
        .map(|(t, c)| (*t, gauge_value(c, target, key).unwrap_or(f64::NAN)))
        .collect()
}

fn line(name: String, points: Vec<(f64, f64)>, color: usize, dashed: bool) -> Series {
    Series {
        name,
        points,
        color,
        dashed,
        dots: false,
    }
}

/// A single run's measurement window, marked on its charts.
fn window_markers(inputs: &[Input]) -> Vec<Marker> {
    if inputs.len() > 1 {
        return Vec::new();
    }
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
}

fn chart(
    id: &str,
    title: &str,
    y: &str,
    series: Vec<Series>,
    window: &[Marker],
    table: &Option<String>,
) -> Chart {
    let c = LineChart {
        id: format!("time_{id}"),
        title: title.into(),
        desc: format!(
            "{title} for each second since the start of the run (x, seconds); {}. The server's per-second table holds the figures.",
            series.iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")
        ),
        x_label: "time since start (s)".into(),
        y_label: y.into(),
        x_log: false,
        y_zero: true,
        y_domain: None,
        series,
        markers: window.to_vec(),
    };
    Chart {
        svg: c.render(),
        title: c.title.clone(),
        legend: c.legend(),
        table: table.clone(),
        note: String::new(),
    }
}

/// Every gauge of every target: where it came from, how often it was read, its max and mean.
fn gauges_table(inputs: &[Input], labels: &[String]) -> Table {
    let multi = inputs.len() > 1;
    let mut rows = Vec::new();
    for (k, i) in inputs.iter().enumerate() {
        for s in &i.result.server_metrics {
            let target = if multi {
                format!("{} · {}", labels[k], s.target)
            } else {
                s.target.clone()
            };
            let scrapes = format!("{}/{}", s.samples, s.scrapes);
            if s.gauges.is_empty() {
                rows.push(vec![
                    target.clone(),
                    scrapes.clone(),
                    "-".into(),
                    "-".into(),
                    "0".into(),
                    "-".into(),
                    "-".into(),
                ]);
            }
            for (key, g) in &s.gauges {
                rows.push(vec![
                    target.clone(),
                    scrapes.clone(),
                    key.clone(),
                    g.metric.clone(),
                    g.samples.to_string(),
                    f1(g.max),
                    f1(g.mean),
                ]);
            }
        }
    }
    Table {
        id: "server_gauges".into(),
        title: "Server gauges over the run (all phases)".into(),
        header: [
            "target",
            "scrapes answered/sent",
            "gauge",
            "metric",
            "samples",
            "max",
            "mean",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        rows,
    }
}

/// One run's per-second (or per-bucket) server figures, target by target.
fn time_table(label: &str, r: &RunResult, bucket: usize, secs: &[(f64, &[SeriesPoint])]) -> Table {
    let mut cols: Vec<(&str, String)> = Vec::new();
    for s in &r.server_metrics {
        for key in s.gauges.keys() {
            cols.push((s.target.as_str(), key.clone()));
        }
    }
    let mut header = vec!["t (s)".to_string()];
    header.extend(cols.iter().map(|(t, k)| format!("{t}: {k}")));
    Table {
        id: format!("server_timeseries_{}", file_id(label)),
        title: if bucket == 1 {
            format!("{label}: server gauges per second")
        } else {
            format!("{label}: server gauges, mean over {bucket} s buckets")
        },
        header,
        rows: secs
            .iter()
            .map(|(t, c)| {
                let mut row = vec![format!("{t:.0}")];
                row.extend(cols.iter().map(|(target, key)| {
                    gauge_value(c, target, key)
                        .map(f1)
                        .unwrap_or_else(|| "-".into())
                }));
                row
            })
            .collect(),
    }
}

/// The terminal summary's lines: per target, scrapes answered and each gauge's max and mean.
pub fn summary_lines(out: &mut String, r: &RunResult) {
    for s in &r.server_metrics {
        let _ = write!(out, "{}", summary_line(s));
        out.push('\n');
    }
}

/// One target's line.
pub fn summary_line(s: &ServerMetrics) -> String {
    let mut line = format!(
        "server `{}` ({}): {} of {} scrapes answered",
        s.target, s.url, s.samples, s.scrapes
    );
    if s.scrape_errors > 0 {
        let kinds: Vec<String> = s
            .errors_by_kind
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = write!(line, " ({} errors: {})", s.scrape_errors, kinds.join(", "));
    }
    for (key, g) in &s.gauges {
        let _ = write!(line, "; {key} max {} mean {}", f1(g.max), f1(g.mean));
    }
    if s.samples > 0 && s.gauges.is_empty() {
        line.push_str("; no known gauge in the answers");
    }
    line
}
