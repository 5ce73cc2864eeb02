//! Renders results for people: the terminal summary table printed at the end of a run.

pub mod cdf;
pub mod export;
pub mod html;
pub mod page;
mod quality;
mod quota;
mod scatter;
pub mod server;
pub mod svg;

use std::fmt::Write;

use crate::core::metric::Metric;
use crate::core::table::{self, Layout};
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
    let l = |k: Metric| m.latency_ms.get(k.as_str()).copied().unwrap_or_default();
    let (ttft, tpot, itl, e2e) = (
        l(Metric::Ttft),
        l(Metric::Tpot),
        l(Metric::Itl),
        l(Metric::E2e),
    );
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

const HEADER: [&str; 15] = [
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

/// A table of result rows; `first` names the first column, and with `total` the last row is
/// set apart as a total.
fn rows_table(first: &str, rows: &[Vec<String>], total: bool) -> String {
    let mut header = HEADER;
    header[0] = first;
    table::text(&header, rows, &Layout::left(1).total_row(total))
}

/// The per-model summary table with an overall row, the breakdowns the workload asked for
/// (classes, routes, fallback, turns, repeats), a load line and the validity verdict.
pub fn summary_table(r: &RunResult) -> String {
    let mut out = String::new();
    model_tables(&mut out, r);
    routing_lines(&mut out, r);
    fallback_lines(&mut out, r);
    guard_line(&mut out, r);
    load_lines(&mut out, r);
    quality_lines(&mut out, r);
    server::summary_lines(&mut out, r);
    verdict_lines(&mut out, r);
    out
}

/// The title line, the per-model table and the breakdowns by class, turn and repeat.
fn model_tables(out: &mut String, r: &RunResult) {
    let mut rows: Vec<Vec<String>> = r.models.iter().map(row).collect();
    if r.models.len() > 1 {
        rows.push(row(&r.overall));
    }
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
            .get(Metric::E2e.as_str())
            .map(|s| s.count)
            .unwrap_or(0)
    );
    out.push_str(&rows_table("model", &rows, r.models.len() > 1));
    for (title, first, list) in [
        ("by class", "class", &r.classes),
        ("by session turn", "turn", &r.turns),
        ("fresh vs repeated prompts", "requests", &r.cache),
    ] {
        if !list.is_empty() {
            let _ = writeln!(out, "\n{title}:");
            let rows: Vec<Vec<String>> = list.iter().map(row).collect();
            out.push_str(&rows_table(first, &rows, false));
        }
    }
}

/// The golden set's scores: one line per model.
fn quality_lines(out: &mut String, r: &RunResult) {
    let Some(q) = &r.quality else {
        return;
    };
    let how = match q.share {
        Some(x) if q.mode == "mix" => format!("asked by {:.1} % of the load's arrivals", x * 100.0),
        _ => "sent once per model before the load".to_string(),
    };
    let _ = writeln!(
        out,
        "\nquality ({} golden lines from {}, {how}; 95 % intervals):",
        q.lines, q.golden
    );
    let est = |e: &crate::metrics::quality::Estimate| {
        format!("{:.3} [{:.3}, {:.3}]", e.value, e.low, e.high)
    };
    for m in &q.models {
        let o = &m.quality.overall;
        let score = o.score.as_ref().map_or_else(|| "-".to_string(), est);
        let relative = match (&q.baseline, &o.relative) {
            (Some(b), Some(rel)) => match &q.baseline_file {
                Some(f) => format!(", relative to {b} of {f} {}", est(rel)),
                None => format!(", relative to {b} {}", est(rel)),
            },
            _ => String::new(),
        };
        let cost = match (&q.baseline, m.cost_relative) {
            (Some(b), Some(c)) => format!(", cost per request {c:.3}× {b}'s"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {}: score {score}, {} scored, {} unscorable{relative}{cost}",
            m.model, o.n_scored, o.n_unscorable
        );
    }
    if let Some(j) = &q.judge {
        judge_lines(out, j);
    }
}

/// The judge's scores per model and a line for its own calls.
fn judge_lines(out: &mut String, j: &crate::results::judge::JudgeResult) {
    let _ = writeln!(
        out,
        "  judge {} on {} (grades {} as 0..1, not part of the load):",
        j.model, j.target, j.scale
    );
    for m in &j.models {
        let o = &m.overall;
        let score = o.score.as_ref().map_or_else(
            || "-".to_string(),
            |e| format!("{:.3} [{:.3}, {:.3}]", e.value, e.low, e.high),
        );
        let _ = writeln!(
            out,
            "    {}: judge score {score}, {} judged, {} unscored",
            m.model, o.n_judged, o.n_unscored
        );
    }
    let c = &j.calls;
    let cost = c.cost_usd.map_or_else(
        || "cost unknown (no price)".to_string(),
        |x| format!("${x:.6}"),
    );
    let _ = writeln!(
        out,
        "    judge calls: {} requests ({} failed), {} input + {} output tokens, {cost}",
        c.requests, c.failed, c.input_tokens, c.output_tokens
    );
}

/// Requests per route.
fn routing_lines(out: &mut String, r: &RunResult) {
    if !r.routing.is_empty() {
        out.push_str("\nrouting (measured requests):\n");
        for rt in &r.routing {
            let by: Vec<String> = rt
                .by_model
                .iter()
                .map(|(m, n)| format!("{m} {n}"))
                .collect();
            let _ = writeln!(
                out,
                "  {}: {} → {} requests ({})",
                rt.name,
                rt.condition,
                rt.requests,
                if by.is_empty() {
                    "-".to_string()
                } else {
                    by.join(", ")
                }
            );
        }
    }
}

/// The fallback chains and what the user saw through them.
fn fallback_lines(out: &mut String, r: &RunResult) {
    if let Some(f) = &r.fallback {
        let by: Vec<String> = f
            .answered_by
            .iter()
            .map(|(m, n)| format!("{m} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "\nfallback ({}): {} user requests, {} fell back ({:.1} %), {} extra attempts, {} failed on every model; answered by {}",
            f.chains
                .iter()
                .map(|c| c.join(" → "))
                .collect::<Vec<_>>()
                .join("; "),
            f.requests,
            f.fell_back,
            f.fallback_rate * 100.0,
            f.fallback_attempts,
            f.failed,
            if by.is_empty() { "-".to_string() } else { by.join(", ") }
        );
        let l = |k: Metric| {
            f.end_user
                .latency_ms
                .get(k.as_str())
                .copied()
                .unwrap_or_default()
        };
        let (t, e) = (l(Metric::TtftScheduled), l(Metric::E2eScheduled));
        let _ = writeln!(
            out,
            "  as the user saw it (from the first attempt's scheduled time): TTFT p50 {} p99 {}, E2E p50 {} p99 {} ms (n={})",
            ms(t.p50, t.count),
            ms(t.p99, t.count),
            ms(e.p50, e.count),
            ms(e.p99, e.count),
            e.count
        );
    }
}

/// Requests over their model's context window.
fn guard_line(out: &mut String, r: &RunResult) {
    if let Some(g) = &r.context_guard {
        if g.over_window > 0 {
            let _ = write!(
                out,
                "\ncontext window: {} requests over their model's window, {} skipped",
                g.over_window, g.skipped
            );
            if let Some(o) = &g.largest {
                let _ = write!(
                    out,
                    "; largest: {} prompt + {} max_tokens tokens for {} ({} tokens, class {})",
                    o.prompt_tokens, o.max_tokens, o.model, o.context_window, o.class
                );
            }
            out.push('\n');
        }
    }
}

/// The load, request counts, error classes, tokens and cost.
fn load_lines(out: &mut String, r: &RunResult) {
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
    out.push_str(&error_lines(o));
    let t = &r.overall.tokens;
    if r.overall.inputs_per_request.is_some() {
        // Embeddings generate nothing: no output figures to source.
        let _ = writeln!(out, "tokens: {} in, no output (embeddings)", t.input);
    } else {
        let _ = writeln!(
            out,
            "tokens: {} in, {} out ({} reasoning); output counts from {}",
            t.input,
            t.output,
            t.reasoning,
            sources(&t.output_source)
        );
    }
    if let Some(n) = r.overall.inputs_per_request {
        let th = &r.overall.throughput;
        let _ = writeln!(
            out,
            "embeddings: {n:.1} inputs per request, {:.2} requests/s, {:.0} input tokens/s; input counts from {}",
            th.requests_per_s,
            th.input_tokens_per_s,
            sources(&t.input_source)
        );
    }
    payload_lines(out, &r.overall);
    if let Some(c) = &r.overall.cost {
        let _ = writeln!(
            out,
            "cost: ${:.6} measured, ${:.6} whole run; projected ${:.2}/day at {:.0} requests/day",
            c.total_usd, c.run_total_usd, c.projected_per_day_usd, c.projected_daily_requests
        );
    }
}

/// The tool-call and image lines of the summary, when the run had any.
fn payload_lines(out: &mut String, o: &crate::results::ModelResult) {
    if let (Some(share), Some(n)) = (o.tool_call_share, o.tool_calls_per_request) {
        let _ = writeln!(
            out,
            "tools: {:.1} % of answers called a tool, {n:.2} tool calls per request",
            share * 100.0
        );
    }
    if let (Some(n), Some(b)) = (o.images_per_request, o.image_bytes_per_request) {
        let _ = writeln!(
            out,
            "images: {n:.1} per request, {:.1} KiB per request",
            b / 1024.0
        );
    }
}

/// Token counts by source, `usage ×54, tokenizer ×2`, or `-` when none.
fn sources(m: &std::collections::BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "-".to_string();
    }
    m.iter()
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Warnings and the run's validity.
fn verdict_lines(out: &mut String, r: &RunResult) {
    for w in &r.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    if r.validity.valid {
        if !r.measured_nothing() {
            out.push_str("run: VALID\n");
        }
    } else {
        out.push_str("run: INVALID — the generator, not the endpoint, limited this run:\n");
        for reason in &r.validity.reasons {
            let _ = writeln!(out, "  - {reason}");
        }
    }
    if r.measured_nothing() {
        let _ = writeln!(
            out,
            "run: NOTHING MEASURED — no measured request succeeded; no figure above describes the endpoint"
        );
    }
}

/// One line per failure class: its count and most common message (credentials scrubbed).
fn error_lines(o: &crate::results::Counts) -> String {
    let mut out = String::new();
    let mut classes: Vec<(&String, &u64)> = o.errors.iter().collect();
    classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (class, n) in classes {
        let Some(t) = o.error_messages.get(class) else {
            continue;
        };
        let share = if t.count == *n {
            String::new()
        } else {
            format!(" ({} of {n})", t.count)
        };
        let _ = writeln!(out, "  {class} ×{n}: {}{share}", t.message);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_table_snapshot() {
        let mut got = String::new();
        for name in ["seed-single.json", "seed-sweep.json"] {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/results")
                .join(name);
            let r = RunResult::read(&p).expect("fixture reads");
            got.push_str(&summary_table(&r));
        }
        let want = include_str!("../../../tests/snapshots/summary_table.txt");
        assert_eq!(got, want, "got:\n{got}");
    }
}
