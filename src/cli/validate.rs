//! `llmload validate`: checks a scenario and prints what it would run — targets (and whether
//! their keys are set), models and their share of traffic, the workload and the load.

use std::path::Path;

use anyhow::Result;

use crate::cli::exit::Exit;
use crate::cli::shared::load_plan;
use crate::config::plan::Base;
use crate::core::units;

/// `llmload validate SCENARIO`: exit 0 with a description when valid, 2 with every problem
/// otherwise.
pub fn cmd(path: &Path, sets: &[String]) -> Result<Exit> {
    let plan = load_plan(path, sets)?;
    outln!("{}: valid", path.display());
    outln!("  name: {}  seed: {}", plan.name, plan.seed);
    for t in &plan.targets {
        let base = match &t.base {
            Base::Mock(_) => "built-in mock".to_string(),
            Base::Url(u) => u.clone(),
        };
        let key = match &t.api_key_env {
            Some(v) if std::env::var_os(v).is_some() => format!("key from ${v} (set)"),
            Some(v) if matches!(t.base, Base::Mock(_)) => {
                format!("key from ${v} (not set; the mock needs none)")
            }
            Some(v) => format!("key from ${v} (NOT SET: `run` will refuse to start)"),
            None => "no key".into(),
        };
        let key = match (&t.auth.basic, &t.base) {
            (Some(_), Base::Url(_)) => format!("{key}, basic auth from the URL"),
            _ => key,
        };
        let key = match &t.server_metrics {
            Some(s) => format!(
                "{key}, server metrics from {}",
                s.url.as_deref().unwrap_or("the mock's /metrics")
            ),
            None => key,
        };
        outln!("  target {}: {base}, {key}", t.name);
    }
    let total: f64 = plan.models.iter().map(|m| m.weight).sum();
    for m in &plan.models {
        let price = m
            .price
            .map(|p| format!("${}/M in, ${}/M out", p.input_per_m, p.output_per_m))
            .unwrap_or_else(|| "no price".into());
        let w = &plan.workload;
        let share = if w.routes.is_empty() && w.classes.iter().all(|c| c.model.is_none()) {
            format!("{:.1} % of traffic", 100.0 * m.weight / total)
        } else {
            format!("weight {} where no class model or route decides", m.weight)
        };
        outln!(
            "  model {} on {}: {share}, {price}",
            m.id,
            plan.targets[m.target].name,
        );
    }
    outln!(
        "  workload: {:?}, stream {}",
        plan.workload.endpoint,
        plan.workload.stream,
    );
    for line in plan.workload.describe(&plan.models) {
        outln!("    {line}");
    }
    let l = &plan.load;
    outln!(
        "  load: warmup {}, window {}, cooldown {}, requests {}, max_in_flight {}",
        units::fmt_duration(l.warmup),
        l.duration
            .map(units::fmt_duration)
            .unwrap_or_else(|| "until requests are sent".into()),
        units::fmt_duration(l.cooldown),
        l.requests
            .map(|r| r.to_string())
            .unwrap_or_else(|| "unbounded".into()),
        l.max_in_flight
    );
    if let Some(q) = &plan.quality {
        for line in q.describe(&plan.models, &plan.targets) {
            outln!("  {line}");
        }
    }
    Ok(Exit::Ok)
}
