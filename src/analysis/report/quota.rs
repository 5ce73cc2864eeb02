//! The report's quota section: per model, the account limits the server stated in its
//! `x-ratelimit-*` headers, how low the remaining budget went and when, and how often it asked
//! to retry later; with the lowest remaining requests and tokens per second as a table and
//! charts. Absent when no response of any reported run carried quota headers.

use super::page::{Chart, Input, Section, Table};
use super::svg::{LineChart, Marker, Series};

fn opt(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn at(v: Option<u64>, t: Option<u64>) -> String {
    match (v, t) {
        (Some(v), Some(t)) => format!("{v} (at {t} s)"),
        _ => "-".into(),
    }
}

/// The section, or None when no run has quota figures.
pub(super) fn section(inputs: &[Input], labels: &[String]) -> Option<Section> {
    if inputs.iter().all(|i| i.result.quota.is_empty()) {
        return None;
    }
    let multi = inputs.len() > 1;
    let mut summary = Table {
        id: "quota".into(),
        title: "Quota stated by the server (x-ratelimit-* headers)".into(),
        header: [
            "model",
            "target",
            "responses with quota headers",
            "limit requests",
            "lowest remaining requests",
            "limit tokens",
            "lowest remaining tokens",
            "Retry-After responses",
            "longest Retry-After (s)",
        ]
        .map(String::from)
        .to_vec(),
        rows: Vec::new(),
    };
    for (i, l) in inputs.iter().zip(labels) {
        for q in &i.result.quota {
            let model = if multi {
                format!("{l} · {}", q.model)
            } else {
                q.model.clone()
            };
            summary.rows.push(vec![
                model,
                q.target.clone(),
                q.responses.to_string(),
                opt(q.limit_requests),
                at(q.lowest_remaining_requests, q.lowest_remaining_requests_t_s),
                opt(q.limit_tokens),
                at(q.lowest_remaining_tokens, q.lowest_remaining_tokens_t_s),
                q.retry_after_responses.to_string(),
                q.retry_after_max_s
                    .map_or("-".into(), |s| format!("{s:.1}")),
            ]);
        }
    }
    let mut tables = vec![summary];
    let mut charts = Vec::new();
    let (mut req, mut tok) = (Vec::new(), Vec::new());
    let (mut req_limit, mut tok_limit) = (None::<u64>, None::<u64>);
    for (k, (i, l)) in inputs.iter().zip(labels).enumerate() {
        let mut t = Table {
            id: format!(
                "quota_series{}",
                if multi {
                    format!("_{k}")
                } else {
                    String::new()
                }
            ),
            title: format!(
                "Lowest remaining quota per second{}",
                if multi {
                    format!(" — {l}")
                } else {
                    String::new()
                }
            ),
            header: [
                "t (s)",
                "remaining requests",
                "remaining tokens",
                "limit requests",
                "limit tokens",
            ]
            .map(String::from)
            .to_vec(),
            rows: Vec::new(),
        };
        let (mut r, mut o) = (Vec::new(), Vec::new());
        for p in &i.result.timeseries {
            let Some(q) = &p.quota else { continue };
            t.rows.push(vec![
                p.t_s.to_string(),
                opt(q.remaining_requests),
                opt(q.remaining_tokens),
                opt(q.limit_requests),
                opt(q.limit_tokens),
            ]);
            let x = p.t_s as f64;
            r.extend(q.remaining_requests.map(|v| (x, v as f64)));
            o.extend(q.remaining_tokens.map(|v| (x, v as f64)));
            req_limit = req_limit.max(q.limit_requests);
            tok_limit = tok_limit.max(q.limit_tokens);
        }
        let line = |points| Series {
            name: l.clone(),
            points,
            color: k,
            dashed: false,
            dots: false,
        };
        req.push(line(r));
        tok.push(line(o));
        tables.push(t);
    }
    let tid = tables.get(1).map(|t| t.id.clone());
    let mut chart = |id: &str, what: &str, series: Vec<Series>, limit: Option<u64>| {
        if series.iter().all(|s| s.points.is_empty()) {
            return;
        }
        let c = LineChart {
            id: format!("quota_{id}"),
            title: format!("Lowest remaining {what} per second"),
            desc: format!(
                "The lowest x-ratelimit-remaining-{what} the server stated on responses whose headers arrived in each second since the start of the run (x, seconds); the line marks the stated limit. The per-second table holds the figures."
            ),
            x_label: "time since start (s)".into(),
            y_label: what.into(),
            x_log: false,
            y_zero: true,
            y_domain: None,
            series,
            markers: limit
                .map(|l| Marker {
                    vertical: false,
                    at: l as f64,
                    label: "limit".into(),
                })
                .into_iter()
                .collect(),
        };
        charts.push(Chart {
            svg: c.render(),
            title: c.title.clone(),
            legend: c.legend(),
            table: tid.clone(),
            note: String::new(),
        });
    };
    chart("requests", "requests", req, req_limit);
    chart("tokens", "tokens", tok, tok_limit);
    Some(Section {
        id: "quota".into(),
        title: "Quota".into(),
        intro: "The account quota the server stated on its responses (x-ratelimit-* headers): limits, the lowest remaining budget and when it was seen, and responses that asked to retry later. Figures come from the server, not from llmload's counting.".into(),
        folded: Vec::new(),
        cards: Vec::new(),
        charts,
        tables,
    })
}
