//! The server's own view of a run: gauges scraped from each target's Prometheus endpoint
//! (`targets[].server_metrics`) once a second, put into the result's time series (per second,
//! per target) and summarised per target (samples, scrape errors, max and mean of each gauge).
//!
//! The engine's scraper produces a [`Scraped`] per target; [`attach`] writes it into a result.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::results::RunResult;

/// The gauge key of requests the server is working on (a batch slot, a running sequence).
pub const RUNNING: &str = "running";
/// The gauge key of requests the server holds in its queue, not yet running.
pub const WAITING: &str = "waiting";
/// The gauge key of the share of the KV cache in use (0–1).
pub const KV_CACHE_USAGE: &str = "kv_cache_usage";

/// One target's server gauges in one second of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerPoint {
    /// Requests running on the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<f64>,
    /// Requests waiting in the server's queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<f64>,
    /// Share of the KV cache in use (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_cache_usage: Option<f64>,
    /// Other gauges the scenario asked for (`server_metrics_gauges`), by metric name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub gauges: BTreeMap<String, f64>,
}

impl ServerPoint {
    /// Every gauge of the point by key: the known ones by meaning, the others by name.
    pub fn values(&self) -> impl Iterator<Item = (&str, f64)> {
        [
            (RUNNING, self.running),
            (WAITING, self.waiting),
            (KV_CACHE_USAGE, self.kv_cache_usage),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .chain(self.gauges.iter().map(|(k, v)| (k.as_str(), *v)))
    }
}

/// One gauge over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaugeSummary {
    /// The metric name the server exposed it under (e.g. `vllm:num_requests_running`).
    pub metric: String,
    /// Scrapes that carried it.
    pub samples: u64,
    /// Highest value seen.
    pub max: f64,
    /// Mean of the values seen.
    pub mean: f64,
}

/// One target's scrapes over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMetrics {
    /// Target name.
    pub target: String,
    /// The endpoint scraped, without any `user:password@`.
    pub url: String,
    /// Scrapes attempted (about one a second, from the run's start to its end).
    pub scrapes: u64,
    /// Scrapes answered with a readable body.
    pub samples: u64,
    /// Scrapes that failed (timeout, connection refused, HTTP status other than 200, a body
    /// too large or not text).
    pub scrape_errors: u64,
    /// Those failures by kind (`timeout`, `connect`, `status 503`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Lines of the answered scrapes that were not valid exposition text (skipped).
    #[serde(default)]
    pub malformed_lines: u64,
    /// Each gauge seen, by key: `running`, `waiting`, `kv_cache_usage`, or the metric name of
    /// a gauge from `server_metrics_gauges`.
    #[serde(default)]
    pub gauges: BTreeMap<String, GaugeSummary>,
}

/// What the engine's scraper gathered for one target.
#[derive(Debug, Clone, Default)]
pub struct Scraped {
    /// Target name.
    pub target: String,
    /// The endpoint, without credentials.
    pub url: String,
    /// Successful scrapes: the second of the run each was taken in (from the run's start),
    /// and its values.
    pub samples: Vec<(u64, ServerPoint)>,
    /// Failed scrapes by kind.
    pub errors: BTreeMap<String, u64>,
    /// Malformed lines skipped, over all scrapes.
    pub malformed_lines: u64,
    /// The metric name behind each known meaning (`running` → `vllm:num_requests_running`).
    pub sources: BTreeMap<String, String>,
}

/// Writes each target's scrapes into `r`: its points into the time series (a second without
/// a point of its own stays without one; samples past the series' end are summarised but not
/// added), and its summary into `r.server_metrics`.
pub fn attach(r: &mut RunResult, scraped: Vec<Scraped>) {
    for s in scraped {
        for (t, p) in &s.samples {
            if let Some(row) = r.timeseries.get_mut(*t as usize) {
                row.server.insert(s.target.clone(), p.clone());
            }
        }
        r.server_metrics.push(summary(s));
    }
}

/// The summary of one target's scrapes.
pub fn summary(s: Scraped) -> ServerMetrics {
    let mut gauges: BTreeMap<String, (u64, f64, f64)> = BTreeMap::new();
    for (_, p) in &s.samples {
        for (k, v) in p.values() {
            let g = gauges
                .entry(k.to_string())
                .or_insert((0, f64::NEG_INFINITY, 0.0));
            g.0 += 1;
            g.1 = g.1.max(v);
            g.2 += v;
        }
    }
    let scrape_errors: u64 = s.errors.values().sum();
    let samples = s.samples.len() as u64;
    ServerMetrics {
        gauges: gauges
            .into_iter()
            .map(|(k, (n, max, sum))| {
                let metric = s.sources.get(&k).cloned().unwrap_or_else(|| k.clone());
                let g = GaugeSummary {
                    metric,
                    samples: n,
                    max,
                    mean: sum / n as f64,
                };
                (k, g)
            })
            .collect(),
        target: s.target,
        url: s.url,
        scrapes: samples + scrape_errors,
        samples,
        scrape_errors,
        errors_by_kind: s.errors,
        malformed_lines: s.malformed_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(running: f64, waiting: Option<f64>) -> ServerPoint {
        ServerPoint {
            running: Some(running),
            waiting,
            ..ServerPoint::default()
        }
    }

    #[test]
    fn the_summary_counts_scrapes_and_folds_each_gauge() {
        let mut errors = BTreeMap::new();
        errors.insert("timeout".to_string(), 2);
        errors.insert("connect".to_string(), 1);
        let mut extra = point(3.0, None);
        extra.gauges.insert("my_queue_depth".into(), 7.0);
        let s = Scraped {
            target: "t".into(),
            url: "http://h/metrics".into(),
            samples: vec![
                (0, point(1.0, Some(0.0))),
                (1, point(4.0, Some(2.0))),
                (2, extra),
            ],
            errors,
            malformed_lines: 5,
            sources: [(RUNNING.to_string(), "vllm:num_requests_running".to_string())].into(),
        };
        let m = summary(s);
        assert_eq!((m.scrapes, m.samples, m.scrape_errors), (6, 3, 3));
        assert_eq!(m.malformed_lines, 5);
        let r = &m.gauges[RUNNING];
        assert_eq!(r.metric, "vllm:num_requests_running");
        assert_eq!((r.samples, r.max, r.mean), (3, 4.0, 8.0 / 3.0));
        let w = &m.gauges[WAITING];
        // Only the scrapes that carried it count: (0 + 2) / 2.
        assert_eq!(
            (w.metric.as_str(), w.samples, w.max, w.mean),
            ("waiting", 2, 2.0, 1.0)
        );
        let q = &m.gauges["my_queue_depth"];
        assert_eq!((q.samples, q.max, q.mean), (1, 7.0, 7.0));
        assert!(!m.gauges.contains_key(KV_CACHE_USAGE));
    }

    #[test]
    fn no_sample_gives_no_gauge_and_old_results_read_without_the_fields() {
        let m = summary(Scraped::default());
        assert_eq!((m.scrapes, m.samples), (0, 0));
        assert!(m.gauges.is_empty());
        let p: ServerPoint = serde_json::from_str("{}").expect("all optional");
        assert_eq!(p, ServerPoint::default());
        assert_eq!(serde_json::to_string(&p).expect("serialises"), "{}");
    }
}
