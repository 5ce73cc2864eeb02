//! The live metrics endpoint (`--metrics-addr`): serves `GET /metrics` in the OpenMetrics text
//! format while a run goes (docs/metrics.md#live-metrics-prometheus).
//!
//! Nothing is computed per request here: the collector task keeps
//! [`Meters`](crate::metrics::meters::Meters) with atomic adds, and a scrape renders a
//! snapshot of them with the `prometheus-client` crate's encoder.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::core::record::Outcome;
use crate::core::record::Phase;
use crate::metrics::meters::{phase_name, HistSnapshot, Meters, ModelMeters, PhaseMeters, PHASES};

/// The `Content-Type` of a scrape's answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A running endpoint; [`Exporter::stop`] ends it.
pub struct Exporter {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Exporter {
    /// Listens on `addr` (`host:port`; port 0 picks a free one) and serves `meters`. An address
    /// that cannot be used (malformed, unknown host, in use, not local) is an error here, before
    /// anything is sent.
    pub fn start(addr: &str, meters: Arc<Meters>) -> Result<Exporter, String> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("--metrics-addr {addr}: cannot listen there: {e}"))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
        let registry = Arc::new(registry(meters));
        let app = axum::Router::new().route(
            "/metrics",
            axum::routing::get(move || {
                let registry = registry.clone();
                async move { scrape(&registry) }
            }),
        );
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Exporter {
            addr: bound,
            shutdown: Some(tx),
            task,
        })
    }

    /// The address it listens on (the actual port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving; a scrape under way may finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.task).await;
        self.task.abort();
    }
}

fn scrape(registry: &Registry) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut body = String::with_capacity(16 * 1024);
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) => ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A registry whose one collector renders `meters` on each scrape.
fn registry(meters: Arc<Meters>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(Snapshot(meters)));
    r
}

/// `meters` in the OpenMetrics text format, as a scrape answers (ends with `# EOF`).
pub fn render(meters: Arc<Meters>) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, and every name and label here is valid.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry(meters));
    out
}

#[derive(Debug)]
struct Snapshot(Arc<Meters>);

/// A histogram family: name (without unit), help, and which histogram of a phase it shows.
type HistFamily = (&'static str, &'static str, fn(&PhaseMeters) -> HistSnapshot);

const HISTOGRAMS: [HistFamily; 6] = [
    (
        "llmload_ttft",
        "Time to first token of successful requests: first output event - send.",
        |p| p.ttft.snapshot(),
    ),
    (
        "llmload_itl",
        "Inter-token latency of successful requests, one observation per output token (token-weighted).",
        |p| p.itl.snapshot(),
    ),
    (
        "llmload_tpot",
        "Time per output token of successful requests: (last - first output event) / (output tokens - 1).",
        |p| p.tpot.snapshot(),
    ),
    (
        "llmload_e2e",
        "End-to-end latency of successful requests: end - send.",
        |p| p.e2e.snapshot(),
    ),
    (
        "llmload_schedule_lag",
        "Dispatch - scheduled time of every request: how late the generator was.",
        |p| p.schedule_lag.snapshot(),
    ),
    (
        "llmload_queue_time",
        "Send - dispatch of sent requests: waiting for the in-flight cap or a quota.",
        |p| p.queue_time.snapshot(),
    ),
];

/// A token counter family: name (without `_total`), help, and which counter of a phase.
type TokenFamily = (&'static str, &'static str, fn(&PhaseMeters) -> u64);

const TOKENS: [TokenFamily; 2] = [
    (
        "llmload_input_tokens",
        "Input (prompt) tokens of sent requests.",
        |p| p.input_tokens.load(Ordering::Relaxed),
    ),
    (
        "llmload_output_tokens",
        "Output tokens of sent requests, counted when the request ends.",
        |p| p.output_tokens.load(Ordering::Relaxed),
    ),
];

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let models = self.0.models();
        encode_requests(&mut enc, &models)?;
        encode_per_phase(&mut enc, &models)?;
        encode_process(&mut enc, &self.0)
    }
}

/// The model, target and phase labels of one series.
fn labels(m: &ModelMeters, ph: Phase) -> [(&'static str, &str); 3] {
    [
        ("model", m.model.as_str()),
        ("target", m.target.as_str()),
        ("phase", phase_name(ph)),
    ]
}

/// `llmload_requests_total` by model, target, phase and outcome.
fn encode_requests(
    enc: &mut DescriptorEncoder,
    models: &[Arc<ModelMeters>],
) -> Result<(), std::fmt::Error> {
    let mut fam = enc.encode_descriptor(
        "llmload_requests",
        "Requests ended, by model, phase and outcome (dropped, cancelled and skipped ones were never sent).",
        None,
        MetricType::Counter,
    )?;
    for mm in models {
        for ph in PHASES {
            let p = mm.phase(ph);
            for o in Outcome::ALL {
                let n = p.outcomes[o.index()].load(Ordering::Relaxed);
                let [a, b, c] = labels(mm, ph);
                let l = [a, b, c, ("outcome", o.name())];
                fam.encode_family(&l)?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
    }
    Ok(())
}

/// The token counters and the latency histograms, by model, target and phase.
fn encode_per_phase(
    enc: &mut DescriptorEncoder,
    models: &[Arc<ModelMeters>],
) -> Result<(), std::fmt::Error> {
    for (name, help, get) in TOKENS {
        let mut fam = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
        for mm in models {
            for ph in PHASES {
                fam.encode_family(&labels(mm, ph))?
                    .encode_counter::<NoLabelSet, _, u64>(&get(mm.phase(ph)), None)?;
            }
        }
    }
    for (name, help, get) in HISTOGRAMS {
        let mut fam =
            enc.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
        for mm in models {
            for ph in PHASES {
                let (sum, count, buckets) = seconds(&get(mm.phase(ph)));
                fam.encode_family(&labels(mm, ph))?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
    }
    Ok(())
}

/// The run-wide gauges and counters: in flight, generator CPU, runs started and finished.
fn encode_process(enc: &mut DescriptorEncoder, m: &Meters) -> Result<(), std::fmt::Error> {
    enc.encode_descriptor(
        "llmload_requests_in_flight",
        "Requests sent and not yet ended (sampled every 250 ms).",
        None,
        MetricType::Gauge,
    )?
    .encode_gauge(&m.in_flight.load(Ordering::Relaxed))?;
    let cpu = m.generator_cpu_us.load(Ordering::Relaxed) as f64 / 1e6;
    enc.encode_descriptor(
        "llmload_generator_cpu",
        "CPU time used by llmload itself (an in-process mock server left out), added each second.",
        Some(&Unit::Seconds),
        MetricType::Counter,
    )?
    .encode_counter::<NoLabelSet, _, u64>(&cpu, None)?;
    let runs: [(&str, &str, u64); 2] = [
        (
            "llmload_runs_started",
            "Runs (each step of a sweep is one) started by this process.",
            m.runs_started.load(Ordering::Relaxed),
        ),
        (
            "llmload_runs_finished",
            "Runs (each step of a sweep is one) whose every request is counted here.",
            m.runs_finished.load(Ordering::Relaxed),
        ),
    ];
    for (name, help, v) in runs {
        enc.encode_descriptor(name, help, None, MetricType::Counter)?
            .encode_counter::<NoLabelSet, _, u64>(&v, None)?;
    }
    Ok(())
}

/// A µs histogram in seconds: sum, count, and (upper bound, count) per bucket, the last +Inf.
fn seconds(h: &HistSnapshot) -> (f64, u64, Vec<(f64, u64)>) {
    let buckets = h
        .counts
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let le = h
                .bounds_us
                .get(i)
                .map_or(f64::INFINITY, |&b| b as f64 / 1e6);
            (le, c)
        })
        .collect();
    (h.sum_us as f64 / 1e6, h.count(), buckets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::RequestRecord;

    fn ok_record(ttft_us: u64) -> RequestRecord {
        let mut r = RequestRecord::unsent(0, "m".into(), Phase::Measure, Outcome::Ok, 0, 0);
        r.t_send_us = Some(0);
        r.t_first_us = Some(ttft_us);
        r.t_end_us = ttft_us + 1_000_000;
        r.output_tokens = Some(7);
        r.input_tokens = Some(3);
        r
    }

    fn line<'a>(text: &'a str, start: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start} in\n{text}"))
    }

    #[test]
    fn counters_histograms_and_gauges_render_in_the_openmetrics_format() {
        let meters = Arc::new(Meters::default());
        let mut run = meters.for_models(&[("m".into(), "sim".into())]);
        run.add(0, &ok_record(40_000));
        run.add(0, &ok_record(150_000));
        let mut failed = ok_record(0);
        failed.outcome = Outcome::Http5xx;
        run.add(0, &failed);
        meters.in_flight.store(3, Ordering::Relaxed);
        meters.generator_cpu_us.store(1_500_000, Ordering::Relaxed);
        let text = render(meters);
        let sel = r#"{model="m",target="sim",phase="measure""#;
        assert!(text.contains("# TYPE llmload_requests counter"), "{text}");
        assert!(text.ends_with("# EOF\n"));
        let ok = format!(r#"llmload_requests_total{sel},outcome="ok"}} "#);
        assert_eq!(line(&text, &ok), format!("{ok}2"));
        let err = format!(r#"llmload_requests_total{sel},outcome="http_5xx"}} "#);
        assert_eq!(line(&text, &err), format!("{err}1"));
        let out = format!("llmload_output_tokens_total{sel}}} ");
        assert_eq!(line(&text, &out), format!("{out}21"));
        assert!(
            text.contains("# UNIT llmload_ttft_seconds seconds"),
            "{text}"
        );
        // Cumulative buckets: 40 ms is in le=0.05, 150 ms from le=0.2 on.
        let b = |le: &str| format!(r#"llmload_ttft_seconds_bucket{{le="{le}",{}}} "#, &sel[1..]);
        assert_eq!(line(&text, &b("0.025")), format!("{}0", b("0.025")));
        assert_eq!(line(&text, &b("0.05")), format!("{}1", b("0.05")));
        assert_eq!(line(&text, &b("0.1")), format!("{}1", b("0.1")));
        assert_eq!(line(&text, &b("0.2")), format!("{}2", b("0.2")));
        assert_eq!(line(&text, &b("+Inf")), format!("{}2", b("+Inf")));
        let count = format!("llmload_ttft_seconds_count{sel}}} ");
        assert_eq!(line(&text, &count), format!("{count}2"));
        let sum = format!("llmload_ttft_seconds_sum{sel}}} ");
        assert_eq!(line(&text, &sum), format!("{sum}0.19"));
        assert_eq!(
            line(&text, "llmload_requests_in_flight "),
            "llmload_requests_in_flight 3"
        );
        assert_eq!(
            line(&text, "llmload_generator_cpu_seconds_total "),
            "llmload_generator_cpu_seconds_total 1.5"
        );
    }

    #[tokio::test]
    async fn an_address_in_use_is_refused_and_a_free_one_serves() {
        let meters = Arc::new(Meters::default());
        let first = Exporter::start("127.0.0.1:0", meters.clone()).expect("port 0 binds");
        let addr = first.local_addr().to_string();
        let err = Exporter::start(&addr, meters.clone())
            .err()
            .expect("in use");
        assert!(
            err.contains("--metrics-addr") && err.contains(&addr),
            "{err}"
        );
        let bad = Exporter::start("no-port-here", meters).err().expect("bad");
        assert!(bad.starts_with("--metrics-addr no-port-here"), "{bad}");
        first.stop().await;
    }
}
