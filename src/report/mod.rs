//! Renders results for people: the terminal summary table printed at the end of a run.

use std::fmt::Write;

use crate::results::{ModelResult, RunResult};

fn ms(v: f64, count: u64) -> String {
    if count == 0 {
        "-".into()
    } else if v >= 10_000.0 {
        format!("{:.1}s", v / 1e3)
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn row(m: &ModelResult) -> Vec<String> {
    let l = |k: &str| m.latency_ms.get(k).copied().unwrap_or_default();
    let (ttft, tpot, itl, e2e) = (l("ttft"), l("tpot"), l("itl"), l("e2e"));
    let cost = m.cost.as_ref();
    vec![
        m.label.clone(),
        format!("{}/{}", m.requests.ok, m.requests.sent),
        format!("{:.1}", m.error_rate * 100.0),
        ms(ttft.p50, ttft.count),
        ms(ttft.p99, ttft.count),
        ms(tpot.p50, tpot.count),
        ms(itl.p50, itl.count),
        ms(itl.p99, itl.count),
        ms(e2e.p50, e2e.count),
        ms(e2e.p99, e2e.count),
        if m.decode_tokens_per_s.count > 0 {
            format!("{:.1}", m.decode_tokens_per_s.p50)
        } else {
            "-".into()
        },
        format!("{:.1}", m.throughput.output_tokens_per_s),
        cost.map(|c| format!("{:.4}", c.per_1k_requests_usd))
            .unwrap_or_else(|| "-".into()),
        cost.map(|c| format!("{:.2}", c.per_million_output_tokens_usd))
            .unwrap_or_else(|| "-".into()),
        cost.map(|c| format!("{:.6}", c.total_usd))
            .unwrap_or_else(|| "-".into()),
    ]
}

/// The per-model summary table with an overall row, a load line and the validity verdict.
pub fn summary_table(r: &RunResult) -> String {
    let header = [
        "model",
        "ok/sent",
        "err%",
        "TTFT p50",
        "TTFT p99",
        "TPOT p50",
        "ITL p50",
        "ITL p99",
        "E2E p50",
        "E2E p99",
        "decode tok/s p50",
        "out tok/s",
        "$/1k req",
        "$/M out",
        "cost $",
    ];
    let mut rows: Vec<Vec<String>> = r.models.iter().map(row).collect();
    if r.models.len() > 1 {
        rows.push(row(&r.overall));
    }
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        for (i, c) in cells.iter().enumerate() {
            if i == 0 {
                let _ = write!(out, "{:<w$}", c, w = width[i]);
            } else {
                let _ = write!(out, "  {:>w$}", c, w = width[i]);
            }
        }
        out.push('\n');
    };
    let _ = writeln!(
        out,
        "{} — {} (latencies in ms; percentiles over {} successful requests)",
        r.scenario.name,
        match r.status {
            crate::results::RunStatus::Complete => "complete",
            crate::results::RunStatus::Interrupted => "INTERRUPTED",
            crate::results::RunStatus::Aborted => "ABORTED by a claim",
        },
        r.overall
            .latency_ms
            .get("e2e")
            .map(|s| s.count)
            .unwrap_or(0)
    );
    line(
        &mut out,
        &header.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    let total: usize = width.iter().sum::<usize>() + 2 * (width.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for (i, row) in rows.iter().enumerate() {
        if r.models.len() > 1 && i == rows.len() - 1 {
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
        line(&mut out, row);
    }
    let ld = &r.load;
    let lag = &ld.schedule_lag_ms;
    let _ = write!(out, "\nload: {}", ld.mode);
    if let Some(a) = &ld.arrival {
        let _ = write!(out, " ({a})");
    }
    if let Some(o) = ld.offered_rate_per_s {
        let _ = write!(out, ", offered {o:.2} req/s");
    }
    if let Some(c) = ld.concurrency {
        let _ = write!(out, ", concurrency {c}");
    }
    let _ = writeln!(
        out,
        ", achieved {:.2} req/s over a {:.1} s window; schedule lag p99 {:.3} ms (n={}); queue time p99 {:.3} ms",
        ld.achieved_send_rate_per_s, ld.window_s, lag.p99, lag.count, ld.queue_time_ms.p99
    );
    let o = &r.overall.requests;
    let _ = write!(
        out,
        "requests: {} issued, {} sent, {} ok, {} failed, {} dropped, {} cancelled",
        o.issued, o.sent, o.ok, o.failed, o.dropped, o.cancelled
    );
    if !o.errors.is_empty() {
        let parts: Vec<String> = o.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = write!(out, " ({})", parts.join(", "));
    }
    out.push('\n');
    let t = &r.overall.tokens;
    let _ = writeln!(
        out,
        "tokens: {} in, {} out ({} reasoning); output counts from {}",
        t.input,
        t.output,
        t.reasoning,
        if t.output_source.is_empty() {
            "-".to_string()
        } else {
            t.output_source
                .iter()
                .map(|(k, v)| format!("{k} ×{v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    if let Some(c) = &r.overall.cost {
        let _ = writeln!(
            out,
            "cost: ${:.6} measured, ${:.6} whole run; projected ${:.2}/day at {:.0} requests/day",
            c.total_usd, c.run_total_usd, c.projected_per_day_usd, c.projected_daily_requests
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if r.validity.valid {
        out.push_str("run: VALID\n");
    } else {
        out.push_str("run: INVALID — the generator, not the endpoint, limited this run:\n");
        for reason in &r.validity.reasons {
            let _ = writeln!(out, "  - {reason}");
        }
    }
    out
}
