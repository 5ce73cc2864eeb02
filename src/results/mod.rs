//! The result file: a versioned JSON document (see docs/results.md) built from the collector,
//! written atomically, and read back (older compatible versions included).
//!
//! Field names carry units. Every figure has its sample count beside it. Histograms are
//! embedded losslessly so results can be re-analysed and merged later.

pub mod guard;
pub mod health;
pub mod policy;
pub mod shard;
pub mod sweep;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::plan::{OnFull, Plan, Shape, Slo};
use crate::config::prices::Price;
use crate::config::schedule::ArrivalProcess;
use crate::core::record::Outcome;
use crate::metrics::{Collector, Hist, Stats, Summary};

/// Current result schema. Bump on any incompatible change; keep readers for old ones.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole run's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Result schema version.
    pub schema_version: u32,
    /// The tool that wrote it.
    pub tool: Tool,
    /// Unique id of this run.
    pub run_id: String,
    /// `complete`, or `interrupted` when stopped by a signal.
    pub status: RunStatus,
    /// Wall-clock start (RFC 3339, UTC).
    pub started_at: String,
    /// Wall-clock end (RFC 3339, UTC).
    pub finished_at: String,
    /// The scenario run.
    pub scenario: ScenarioInfo,
    /// Which shard of a distributed run this is (0 of 1 for a single process).
    pub shard: Shard,
    /// The machine that ran the generator.
    pub host: Host,
    /// Load applied and the generator's own health.
    pub load: LoadResult,
    /// Whether the numbers describe the endpoint (see docs/metrics.md#validity).
    pub validity: Validity,
    /// The generator's own health during the run (absent in results before it was added).
    #[serde(default)]
    pub generator: GeneratorHealth,
    /// Per-request objectives evaluated (empty when none were set).
    pub slo: Slo,
    /// All models together.
    pub overall: ModelResult,
    /// One entry per model, in scenario order.
    pub models: Vec<ModelResult>,
    /// One point per second since the start.
    pub timeseries: Vec<SeriesPoint>,
    /// Things a reader should know (token counts from a fallback source, drops, …).
    pub warnings: Vec<String>,
    /// Why the run was stopped early by a claim marked `abort = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_by: Option<String>,
    /// File name of the per-request records (JSONL), beside this file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_file: Option<String>,
    /// One entry per request class (`label` = class name), when the scenario declares
    /// classes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ModelResult>,
    /// One entry per session turn (`label` = "turn N", 1-based), when sessions are on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub turns: Vec<ModelResult>,
    /// Fresh and repeated requests (`label` = "fresh" / "repeat"), when `repeat_ratio` > 0.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cache: Vec<ModelResult>,
    /// Where each routing rule sent requests, when routes are set.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routing: Vec<RouteResult>,
    /// Fallback chains: the end user's view, when fallback is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackResult>,
    /// Requests over their model's context window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_guard: Option<GuardResult>,
    /// A capacity sweep's steps and knee; the top-level metrics are then those of the step at
    /// the knee (see docs/capacity.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<sweep::Sweep>,
    /// A shard's raw counters, histograms and plan, for `llmload merge` (only in results
    /// written with `--shard`; see docs/scale-out.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Box<crate::results::shard::Partial>>,
    /// The shards a merged result was made from (only in `llmload merge` output).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<crate::results::shard::ShardSummary>,
}

/// One routing rule's traffic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteResult {
    /// Rule name.
    pub name: String,
    /// The rule's condition in words.
    pub condition: String,
    /// The model label the rule names (empty for unmatched requests).
    pub model: String,
    /// Measured requests the rule matched.
    pub requests: u64,
    /// Those requests by the model that got them (differs from `model` only for the
    /// unmatched entry, which uses the model weights).
    pub by_model: BTreeMap<String, u64>,
}

/// The end user's view of fallback chains.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FallbackResult {
    /// Chains, as model labels.
    pub chains: Vec<Vec<String>>,
    /// Outcome classes that trigger a fallback.
    pub on: Vec<String>,
    /// Measured end-user requests.
    pub requests: u64,
    /// Of those, how many fell back at least once.
    pub fell_back: u64,
    /// fell_back / requests.
    pub fallback_rate: f64,
    /// End-user requests that failed on every model they tried.
    pub failed: u64,
    /// Fallback attempts sent (beyond each request's first).
    pub fallback_attempts: u64,
    /// Successful end-user requests by the model that finally answered.
    pub answered_by: BTreeMap<String, u64>,
    /// Metrics of the end user's requests: each one's final attempt, with `*_scheduled`
    /// latencies timed from the first attempt's scheduled time (failed attempts included).
    pub end_user: ModelResult,
}

/// Requests over their model's context window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardResult {
    /// `send` or `skip`.
    pub policy: crate::config::scenario::GuardKind,
    /// Requests (all phases) whose prompt plus max_tokens exceeded the window.
    pub over_window: u64,
    /// Of those, not sent.
    pub skipped: u64,
    /// The largest excess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub largest: Option<crate::results::guard::Offender>,
}

/// Tool name and version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    /// "llmload".
    pub name: String,
    /// Crate version.
    pub version: String,
    /// The git commit the binary was built from (`-dirty` when tracked files differed from
    /// it); absent when built outside a git checkout, and in results written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The generator and distribution code that drew the seeded values (schedule, workload,
    /// mock), e.g. "ChaCha8Rng (rand_chacha 0.3, rand 0.8, rand_distr 0.4)": the same seed draws
    /// the same values only under the same generator. Absent in older results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draws: Option<String>,
}

impl Tool {
    /// This build of llmload.
    pub fn current() -> Tool {
        Tool {
            name: "llmload".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: Some(env!("LLMLOAD_GIT_COMMIT"))
                .filter(|c| !c.is_empty())
                .map(String::from),
            draws: Some(crate::core::dist::DRAWS.into()),
        }
    }
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Ran to its planned end.
    Complete,
    /// Stopped early by SIGINT/SIGTERM; holds what was measured until then.
    Interrupted,
    /// Stopped early because a claim marked `abort = true` was already lost (`aborted_by`).
    Aborted,
}

/// Scenario identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Path as given.
    pub path: String,
    /// SHA-256 of the scenario file.
    pub sha256: String,
    /// Generator seed.
    pub seed: u64,
    /// The scenario's `[cost] daily_requests`: the volume `compare` and `report` project
    /// daily costs at (absent when the scenario sets none, and in older results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_requests: Option<f64>,
    /// The `--set KEY=VALUE` overrides applied to the scenario file, in order (header values
    /// shown as `<redacted>`); absent when none were given, and in older results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<String>,
}

/// Shard identity.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

/// Host facts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Logical CPUs available.
    pub cpus: usize,
}

impl Host {
    /// Facts about this machine.
    pub fn current() -> Host {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Host {
            hostname,
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

/// Load applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    /// `open` or `closed`.
    pub mode: String,
    /// Open loop: `constant`, `poisson` or `gamma`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<String>,
    /// Gamma shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burstiness: Option<f64>,
    /// Open loop: arrivals scheduled in the window per second of window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rate_per_s: Option<f64>,
    /// Requests actually sent in the window per second of window.
    pub achieved_send_rate_per_s: f64,
    /// Closed loop: highest concurrency of the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// In-flight cap.
    pub max_in_flight: u32,
    /// Mean requests in flight over the window (sampled every 250 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_flight_mean: Option<f64>,
    /// Open loop: policy at the cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_full: Option<OnFull>,
    /// Warmup length (s).
    pub warmup_s: f64,
    /// Cooldown length (s).
    pub cooldown_s: f64,
    /// Measurement window start, seconds since the run's start.
    pub window_start_s: f64,
    /// Measurement window end, seconds since the run's start.
    pub window_end_s: f64,
    /// Measurement window length (s).
    pub window_s: f64,
    /// Whole run, start to last request end (s).
    pub elapsed_s: f64,
    /// Arrivals scheduled inside the window (the measured requests).
    pub arrivals_in_window: u64,
    /// Requests sent inside the window (any phase).
    pub sent_in_window: u64,
    /// Requests sent in the whole run.
    pub sent_all_phases: u64,
    /// Dispatch − scheduled time over measured arrivals (ms).
    pub schedule_lag_ms: Summary,
    /// Send − dispatch over measured requests (ms): waiting on the in-flight cap or a quota.
    pub queue_time_ms: Summary,
    /// Serialised histograms (µs): `schedule_lag`, `queue_time`.
    pub histograms: BTreeMap<String, String>,
}

/// The generator's own load during the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GeneratorHealth {
    /// Async runtime worker threads.
    pub worker_threads: usize,
    /// Mean CPU cores used by the generator over the measurement window.
    pub cpu_cores_used_mean: f64,
    /// Highest CPU cores used in one second of the window.
    pub cpu_cores_used_max: f64,
    /// Whether an in-process mock server's CPU was left out of these figures.
    pub cpu_excludes_mock: bool,
    /// Lateness of a 50 ms probe timer on the generator's runtime (ms).
    pub event_loop_lag_ms: Summary,
}

/// Run validity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Validity {
    /// False when the generator, not the endpoint, limited the run.
    pub valid: bool,
    /// Why it is invalid (empty when valid).
    pub reasons: Vec<String>,
}

/// Request counts of measured arrivals.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Arrivals scheduled in the window.
    pub issued: u64,
    /// Of those, sent.
    pub sent: u64,
    /// Ended ok.
    pub ok: u64,
    /// Sent and failed.
    pub failed: u64,
    /// Not sent: in-flight cap full with `on_full = "drop"`.
    pub dropped: u64,
    /// Not sent: the run stopped while the arrival waited (abandoned in-flight requests are
    /// sent and failed, class `abandoned`).
    pub cancelled: u64,
    /// Not sent: over the model's context window with `context_guard = "skip"`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Sent requests whose prompt plus max_tokens exceeded the model's context window.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub over_context: u64,
    /// Re-sends after a pooled connection turned out closed before any response (the
    /// server never saw the request); included in the requests' latencies.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub reconnects: u64,
    /// Re-sends after HTTP 429 with the target's `retry_on_429` back-off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries_429: u64,
    /// Total back-off waited before those re-sends, in seconds.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub backoff_s: f64,
    /// Failures by class (only non-zero classes).
    pub errors: BTreeMap<String, u64>,
    /// Per failure class in `errors`: its most common message (credentials scrubbed) and how
    /// many of the class's failures carried it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub error_messages: BTreeMap<String, TopError>,
}

/// The message most failures of one class carried.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TopError {
    /// The message, as the client recorded it, with credentials removed.
    pub message: String,
    /// Failures of the class that carried exactly this message.
    pub count: u64,
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Token totals and where they came from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenTotals {
    /// Input tokens of measured requests.
    pub input: u64,
    /// Output tokens of measured requests.
    pub output: u64,
    /// Reasoning tokens (included in output).
    pub reasoning: u64,
    /// Cached input tokens (included in input).
    pub cached_input: u64,
    /// Requests whose output count came from: `usage`, `tokenizer`, `events`.
    pub output_source: BTreeMap<String, u64>,
    /// Requests whose input count came from each source.
    pub input_source: BTreeMap<String, u64>,
    /// Input tokens of every request sent, all phases.
    pub input_all_phases: u64,
    /// Output tokens of every request sent, all phases.
    pub output_all_phases: u64,
    /// Measured requests whose `usage.completion_tokens` was below the number of stream events
    /// that carried output (impossible for an honest count); the server's figure was kept.
    #[serde(default)]
    pub usage_mismatch: u64,
}

/// Throughput over the measurement window.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Throughput {
    /// Output tokens with event times in the window / window length.
    pub output_tokens_per_s: f64,
    /// Input tokens of requests sent in the window / window length.
    pub input_tokens_per_s: f64,
    /// Successful requests ended in the window / window length.
    pub requests_per_s: f64,
    /// Highest output tokens in one whole 1 s bucket inside the window.
    pub peak_output_tokens_per_s: f64,
}

/// Per-request decode speed (1 / TPOT) in tokens per second. Low percentiles are the slow
/// tail: `p10` is the speed that 90 % of requests beat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Speed {
    /// Requests with a TPOT.
    pub count: u64,
    /// Mean of per-request speeds.
    pub mean: f64,
    /// Slowest request.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 10th percentile (the slow tail).
    pub p10: f64,
    /// 1st percentile.
    pub p1: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Fastest.
    pub max: f64,
}

/// SLO attainment.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SloResult {
    /// The objectives judged (ms): the scenario's `[slo]` with the model's own overrides; on the
    /// overall row, the scenario's `[slo]` (each request is judged by its model's objectives).
    #[serde(default)]
    pub objectives: Slo,
    /// Measured requests that met every objective.
    pub met: u64,
    /// Measured arrivals (failed and dropped count as misses).
    pub issued: u64,
    /// met / issued.
    pub attainment: f64,
    /// met / window length.
    pub goodput_requests_per_s: f64,
    /// Output tokens of requests that met the SLO / window length.
    pub goodput_output_tokens_per_s: f64,
}

/// Cost from the price table and measured token counts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CostResult {
    /// The price used (absent on the overall row, which sums the models).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Measured requests' input cost.
    pub input_usd: f64,
    /// Measured requests' output cost.
    pub output_usd: f64,
    /// Measured requests' total cost.
    pub total_usd: f64,
    /// Every request sent, all phases (what the run was billed).
    pub run_total_usd: f64,
    /// Cost per 1,000 measured requests sent.
    pub per_1k_requests_usd: f64,
    /// Cost per million output tokens.
    pub per_million_output_tokens_usd: f64,
    /// Requests per day the projection assumes.
    pub projected_daily_requests: f64,
    /// Projected cost per day at that volume.
    pub projected_per_day_usd: f64,
}

/// Everything about one model (or `overall`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelResult {
    /// Model id, or `*` for overall.
    pub model: String,
    /// Label.
    pub label: String,
    /// Target name (empty for overall).
    pub target: String,
    /// Request counts.
    pub requests: Counts,
    /// failed / sent.
    pub error_rate: f64,
    /// Latency summaries in ms: ttft, ttft_answer, ttft_scheduled, e2e, e2e_scheduled, tpot,
    /// itl, inter_chunk, schedule_lag, queue_time.
    pub latency_ms: BTreeMap<String, Summary>,
    /// Tokens per output event.
    pub tokens_per_chunk: Summary,
    /// Per-request decode speed.
    pub decode_tokens_per_s: Speed,
    /// Token totals.
    pub tokens: TokenTotals,
    /// Throughput over the window.
    pub throughput: Throughput,
    /// SLO attainment, when an SLO is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<SloResult>,
    /// Cost, when a price is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostResult>,
    /// Serialised histograms (HdrHistogram V2 + DEFLATE, base64; latencies in µs).
    pub histograms: BTreeMap<String, String>,
}

/// One second of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Seconds since start.
    pub t_s: u64,
    /// Sent.
    pub sent: u64,
    /// Ended ok.
    pub ok: u64,
    /// Ended in error.
    pub failed: u64,
    /// Dropped arrivals.
    pub dropped: u64,
    /// Output tokens by event time.
    pub output_tokens: u64,
    /// Highest in-flight count sampled.
    pub in_flight_max: u64,
    /// TTFT p50 (ms) of first tokens in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p50_ms: Option<f64>,
    /// TTFT p99 (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p99_ms: Option<f64>,
    /// Errors by class.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub errors: BTreeMap<String, u64>,
    /// CPU cores the generator used in this second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores_used: Option<f64>,
}

/// Facts of a run that the collector does not know.
#[derive(Debug, Clone)]
pub struct RunMeta {
    /// Run id.
    pub run_id: String,
    /// Status.
    pub status: RunStatus,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339).
    pub finished_at: String,
    /// Records file name.
    pub records_file: Option<String>,
    /// Shard.
    pub shard: Shard,
    /// Longest acceptable p99 schedule lag.
    pub max_lag_p99_ms: f64,
    /// Least acceptable achieved/offered ratio.
    pub min_send_ratio: f64,
    /// Extra warnings from the run.
    pub warnings: Vec<String>,
    /// What the generator saw of itself.
    pub health: crate::results::health::Health,
    /// Runtime worker threads the generator had.
    pub worker_threads: usize,
    /// Why a claim stopped the run early.
    pub aborted_by: Option<String>,
    /// Whether an in-process mock's CPU was excluded from the generator's.
    pub cpu_excludes_mock: bool,
    /// Context-window guard counts.
    pub guard: crate::results::guard::GuardCounts,
}

impl RunMeta {
    /// Placeholder facts for judging a run while it is still going.
    pub fn live() -> RunMeta {
        RunMeta {
            run_id: String::new(),
            status: RunStatus::Complete,
            started_at: String::new(),
            finished_at: String::new(),
            records_file: None,
            shard: Shard { index: 0, count: 1 },
            max_lag_p99_ms: f64::INFINITY,
            min_send_ratio: 0.0,
            warnings: Vec::new(),
            health: Default::default(),
            worker_threads: 0,
            cpu_excludes_mock: false,
            aborted_by: None,
            guard: Default::default(),
        }
    }
}

/// Why a result file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// Not JSON or not a result.
    #[error("{path}: not an llmload result file: {message}")]
    Parse {
        /// Path.
        path: String,
        /// Parser message.
        message: String,
    },
    /// A schema this version cannot read.
    #[error("{path}: result schema_version {found} is newer than this llmload reads (≤ {SCHEMA_VERSION}); upgrade llmload")]
    Version {
        /// Path.
        path: String,
        /// Version found.
        found: u64,
    },
}

impl RunResult {
    /// No measured request succeeded, so no latency, throughput or cost figure describes the
    /// endpoint (every failure, a window with no arrival, or one whose arrivals were never
    /// sent). `run`, `merge` and `check` end with their own exit code then.
    pub fn measured_nothing(&self) -> bool {
        self.overall.requests.ok == 0
    }

    /// One line saying that nothing was measured and why: the measured requests' fate and, per
    /// failure class, its count and most common message. None when something succeeded.
    pub fn nothing_measured(&self) -> Option<String> {
        self.measured_nothing()
            .then(|| nothing_measured_line(&self.overall.requests))
    }

    /// Writes the result atomically (temporary file in the same folder, then rename).
    pub fn write(&self, path: &Path) -> Result<(), ResultError> {
        let io = |source| ResultError::Io {
            path: path.display().to_string(),
            source,
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, &json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a result file, checking its schema version first.
    pub fn read(path: &Path) -> Result<RunResult, ResultError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ResultError::Io {
            path: p.clone(),
            source,
        })?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ResultError::Parse {
            path: p.clone(),
            message: e.to_string(),
        })?;
        let found = v
            .get("schema_version")
            .and_then(|x| x.as_u64())
            .ok_or_else(|| ResultError::Parse {
                path: p.clone(),
                message: "no schema_version field".into(),
            })?;
        if found > SCHEMA_VERSION as u64 {
            return Err(ResultError::Version { path: p, found });
        }
        serde_json::from_value(v).map_err(|e| ResultError::Parse {
            path: p,
            message: e.to_string(),
        })
    }
}

fn encode_all(h: &crate::metrics::Hists) -> BTreeMap<String, String> {
    h.named()
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(n, h)| (n.to_string(), h.encode()))
        .collect()
}

fn speed(tpot: &Hist) -> Speed {
    if tpot.is_empty() {
        return Speed::default();
    }
    let inv = |us: u64| if us == 0 { 0.0 } else { 1e6 / us as f64 };
    let mut sum = 0.0;
    for v in tpot.inner().iter_recorded() {
        sum += inv(v.value_iterated_to()) * v.count_at_value() as f64;
    }
    Speed {
        count: tpot.len(),
        mean: sum / tpot.len() as f64,
        min: inv(tpot.inner().max()),
        p1: inv(tpot.quantile(0.99)),
        p10: inv(tpot.quantile(0.90)),
        p50: inv(tpot.quantile(0.50)),
        p90: inv(tpot.quantile(0.10)),
        max: inv(tpot.inner().min()),
    }
}

/// The part of a per-second series inside `range` (a series may end before the window does).
fn clamped<'a, T>(series: &'a [T], range: &std::ops::Range<usize>) -> &'a [T] {
    let end = range.end.min(series.len());
    series.get(range.start.min(end)..end).unwrap_or(&[])
}

struct Ctx {
    window_s: f64,
    window_secs: std::ops::Range<usize>,
    slo_set: bool,
    daily_requests: Option<f64>,
    /// Requests sent in the measured phase, all models (a group's share of a daily volume
    /// is its share of these).
    overall_sent: u64,
}

/// How a result's cost is computed.
#[derive(Clone, Copy)]
enum CostBasis {
    /// No price known.
    None,
    /// One model's price over the token totals.
    Price(Price),
    /// Summed request by request at each request's model price (classes, turns, …).
    Summed,
}

fn model_result(
    s: &Stats,
    model: &str,
    label: &str,
    target: &str,
    basis: CostBasis,
    cx: &Ctx,
) -> ModelResult {
    let mut errors = BTreeMap::new();
    for o in Outcome::ALL {
        if o.was_sent() && o != Outcome::Ok && s.count(o) > 0 {
            errors.insert(o.name().to_string(), s.count(o));
        }
    }
    let dropped = s.count(Outcome::Dropped);
    let cancelled = s.count(Outcome::Cancelled);
    let issued = s.issued();
    let skipped = s.count(Outcome::Skipped);
    let sent = issued - dropped - cancelled - skipped;
    let failed = s.failed();
    let counts = Counts {
        issued,
        sent,
        ok: s.count(Outcome::Ok),
        failed,
        dropped,
        cancelled,
        skipped,
        over_context: s.over_context,
        reconnects: s.reconnects,
        retries_429: s.retries_429,
        backoff_s: s.backoff_us as f64 / 1e6,
        error_messages: s
            .error_messages
            .iter()
            .filter(|(k, _)| errors.contains_key(*k))
            .filter_map(|(k, t)| {
                t.top().map(|(m, n)| {
                    (
                        k.clone(),
                        TopError {
                            message: m.to_string(),
                            count: n,
                        },
                    )
                })
            })
            .collect(),
        errors,
    };
    let mut latency_ms = BTreeMap::new();
    for (name, h) in s.hists.named() {
        if name != "tokens_per_chunk" {
            latency_ms.insert(name.to_string(), h.summary(1e-3));
        }
    }
    let per = |n: u64| {
        if cx.window_s > 0.0 {
            n as f64 / cx.window_s
        } else {
            0.0
        }
    };
    let peak = clamped(&s.output_per_s, &cx.window_secs)
        .iter()
        .max()
        .copied()
        .unwrap_or(0) as f64;
    let src = |a: &[u64; 3]| {
        let mut m = BTreeMap::new();
        for (i, name) in ["usage", "tokenizer", "events"].iter().enumerate() {
            if a[i] > 0 {
                m.insert(name.to_string(), a[i]);
            }
        }
        m
    };
    let slo = cx.slo_set.then(|| SloResult {
        objectives: Slo::default(),
        met: s.slo_met,
        issued,
        attainment: if issued > 0 {
            s.slo_met as f64 / issued as f64
        } else {
            0.0
        },
        goodput_requests_per_s: per(s.slo_met),
        goodput_output_tokens_per_s: per(s.slo_met_output_tokens),
    });
    let daily = cx
        .daily_requests
        .map(|d| {
            if cx.overall_sent > 0 {
                d * sent as f64 / cx.overall_sent as f64
            } else {
                d
            }
        })
        .unwrap_or(per(s.window_completed) * 86_400.0);
    let price = match basis {
        CostBasis::Price(p) => Some(p),
        CostBasis::None => None,
        CostBasis::Summed => {
            return ModelResult {
                cost: (s.usd.unpriced == 0 && s.usd_all_phases.unpriced == 0 && sent > 0).then(
                    || {
                        let total = s.usd.input + s.usd.output;
                        let per_request = total / sent as f64;
                        CostResult {
                            price: None,
                            input_usd: s.usd.input,
                            output_usd: s.usd.output,
                            total_usd: total,
                            run_total_usd: s.usd_all_phases.input + s.usd_all_phases.output,
                            per_1k_requests_usd: per_request * 1000.0,
                            per_million_output_tokens_usd: if s.tokens.output > 0 {
                                total / s.tokens.output as f64 * 1e6
                            } else {
                                0.0
                            },
                            projected_daily_requests: daily,
                            projected_per_day_usd: per_request * daily,
                        }
                    },
                ),
                ..model_result(s, model, label, target, CostBasis::None, cx)
            };
        }
    };
    let cost = price.map(|p| {
        let bill = |t: &crate::metrics::Tokens| -> (f64, f64) {
            let cached = t.cached_input.min(t.input);
            let input = match p.cached_input_per_m {
                Some(c) => {
                    (t.input - cached) as f64 / 1e6 * p.input_per_m + cached as f64 / 1e6 * c
                }
                None => t.input as f64 / 1e6 * p.input_per_m,
            };
            (input, t.output as f64 / 1e6 * p.output_per_m)
        };
        let (input_usd, output_usd) = bill(&s.tokens);
        let (ai, ao) = bill(&s.tokens_all_phases);
        let total = input_usd + output_usd;
        let per_request = if sent > 0 { total / sent as f64 } else { 0.0 };
        CostResult {
            price: Some(p),
            input_usd,
            output_usd,
            total_usd: total,
            run_total_usd: ai + ao,
            per_1k_requests_usd: per_request * 1000.0,
            per_million_output_tokens_usd: if s.tokens.output > 0 {
                total / s.tokens.output as f64 * 1e6
            } else {
                0.0
            },
            projected_daily_requests: daily,
            projected_per_day_usd: per_request * daily,
        }
    });
    ModelResult {
        model: model.to_string(),
        label: label.to_string(),
        target: target.to_string(),
        error_rate: if sent > 0 {
            failed as f64 / sent as f64
        } else {
            0.0
        },
        requests: counts,
        latency_ms,
        tokens_per_chunk: s.hists.tokens_per_chunk.summary(1.0),
        decode_tokens_per_s: speed(&s.hists.tpot),
        tokens: TokenTotals {
            input: s.tokens.input,
            output: s.tokens.output,
            reasoning: s.tokens.reasoning,
            cached_input: s.tokens.cached_input,
            output_source: src(&s.output_sources),
            input_source: src(&s.input_sources),
            input_all_phases: s.tokens_all_phases.input,
            output_all_phases: s.tokens_all_phases.output,
            usage_mismatch: s.usage_mismatch,
        },
        throughput: Throughput {
            output_tokens_per_s: per(s.window_output_tokens),
            input_tokens_per_s: per(s.window_input_tokens),
            requests_per_s: per(s.window_completed),
            peak_output_tokens_per_s: peak,
        },
        slo,
        cost,
        histograms: encode_all(&s.hists),
    }
}

/// What the result needs to know of the plan, as plain data: a shard's partial result
/// carries it so `llmload merge` can assemble the whole run's result without the scenario's
/// files. Equal frames (and seeds and shard counts) mean the same plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    /// Scenario identity.
    pub scenario: ScenarioInfo,
    /// The scenario's objectives.
    pub slo: Slo,
    /// Whether any objective (scenario or model) is set.
    pub slo_set: bool,
    /// Daily request volume for cost projections.
    pub daily_requests: Option<f64>,
    /// Models, in plan order.
    pub models: Vec<FrameModel>,
    /// `open`, `closed` or `trace`.
    pub mode: String,
    /// Open loop: arrival process name.
    pub arrival: Option<String>,
    /// Gamma shape.
    pub burstiness: Option<f64>,
    /// Closed loop: highest concurrency.
    pub concurrency: Option<u32>,
    /// Open loop: policy at the cap.
    pub on_full: Option<OnFull>,
    /// In-flight cap of the whole run.
    pub max_in_flight: u32,
    /// Warmup (s).
    pub warmup_s: f64,
    /// Cooldown (s).
    pub cooldown_s: f64,
    /// Request classes: name and model id (`*` when the weights choose).
    pub classes: Vec<(String, String)>,
    /// Sessions: the turn count's upper bound, when bounded.
    pub sessions_max_turns: Option<f64>,
    /// Routing rules.
    pub routes: Vec<FrameRoute>,
    /// Fallback chains (labels) and the outcomes that trigger them.
    pub fallback: Option<(Vec<Vec<String>>, Vec<String>)>,
    /// Context-window guard policy, when any model has a window.
    pub context_guard: Option<crate::config::scenario::GuardKind>,
}

/// A model as the result names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameModel {
    /// Model id.
    pub id: String,
    /// Label.
    pub label: String,
    /// Target name.
    pub target: String,
    /// Price, when known.
    pub price: Option<Price>,
    /// The model's objectives.
    pub slo: Slo,
}

/// A routing rule as the result names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRoute {
    /// Rule name.
    pub name: String,
    /// Condition in words.
    pub condition: String,
    /// Model label.
    pub model: String,
}

impl Frame {
    /// The frame of a plan.
    pub fn new(plan: &Plan) -> Frame {
        let (mode, arrival, burstiness, concurrency, on_full) = match &plan.load.shape {
            Shape::Open { arrival, .. } => {
                let (name, b) = match arrival {
                    ArrivalProcess::Constant => ("constant", None),
                    ArrivalProcess::Poisson => ("poisson", None),
                    ArrivalProcess::Gamma { burstiness } => ("gamma", Some(*burstiness)),
                };
                (
                    "open",
                    Some(name.to_string()),
                    b,
                    None,
                    Some(plan.load.on_full),
                )
            }
            Shape::Closed { profile } => ("closed", None, None, Some(profile.max()), None),
            Shape::Trace(_) => ("trace", None, None, None, Some(plan.load.on_full)),
        };
        let w = &plan.workload;
        let label = |m: usize| plan.models[m].label.clone();
        Frame {
            scenario: ScenarioInfo {
                name: plan.name.clone(),
                description: plan.description.clone(),
                path: plan.scenario_path.display().to_string(),
                sha256: plan.scenario_sha256.clone(),
                seed: plan.seed,
                daily_requests: plan.daily_requests,
                overrides: plan.overrides.clone(),
            },
            slo: plan.slo,
            slo_set: plan.slo.is_set() || plan.models.iter().any(|m| m.slo.is_set()),
            daily_requests: plan.daily_requests,
            models: plan
                .models
                .iter()
                .map(|m| FrameModel {
                    id: m.id.clone(),
                    label: m.label.clone(),
                    target: plan
                        .targets
                        .get(m.target)
                        .map(|t| t.name.clone())
                        .unwrap_or_default(),
                    price: m.price,
                    slo: m.slo,
                })
                .collect(),
            mode: mode.into(),
            arrival,
            burstiness,
            concurrency,
            on_full,
            max_in_flight: plan.load.max_in_flight,
            warmup_s: plan.load.warmup.as_secs_f64(),
            cooldown_s: plan.load.cooldown.as_secs_f64(),
            classes: w
                .classes
                .iter()
                .map(|k| {
                    let model = k.model.map_or("*", |m| plan.models[m].id.as_str());
                    (k.name.clone(), model.to_string())
                })
                .collect(),
            sessions_max_turns: w.sessions.as_ref().and_then(|x| x.turns.upper_bound()),
            routes: w
                .routes
                .iter()
                .map(|r| FrameRoute {
                    name: r.name.clone(),
                    condition: r.condition(&w.classes),
                    model: label(r.model),
                })
                .collect(),
            fallback: w.fallback.as_ref().map(|f| {
                (
                    f.chains
                        .iter()
                        .map(|ch| ch.iter().map(|&m| label(m)).collect())
                        .collect(),
                    f.on.iter().map(|o| o.name().to_string()).collect(),
                )
            }),
            context_guard: plan
                .models
                .iter()
                .any(|m| m.context_window.is_some())
                .then_some(w.context_guard),
        }
    }
}

/// Assembles the result file from a finished collector.
pub fn build(plan: &Plan, c: &Collector, meta: RunMeta) -> RunResult {
    assemble(&Frame::new(plan), c, meta)
}

/// Assembles a result from a plan's frame and a finished (or merged) collector.
pub fn assemble(frame: &Frame, c: &Collector, meta: RunMeta) -> RunResult {
    let w = c.window();
    let start_us = w.start_us;
    let end_us = w.end_us.unwrap_or(c.last_end_us).max(start_us);
    let window_s = (end_us - start_us) as f64 / 1e6;
    // Whole seconds inside the window, for peaks.
    let first_sec = start_us.div_ceil(1_000_000) as usize;
    let last_sec = (end_us / 1_000_000) as usize;
    let cx = Ctx {
        window_s,
        window_secs: first_sec..last_sec.max(first_sec),
        slo_set: frame.slo_set,
        daily_requests: frame.daily_requests,
        overall_sent: c.overall.issued()
            - c.overall.count(Outcome::Dropped)
            - c.overall.count(Outcome::Cancelled)
            - c.overall.count(Outcome::Skipped),
    };
    let mut overall = model_result(&c.overall, "*", "all models", "", CostBasis::None, &cx);
    if let Some(x) = overall.slo.as_mut() {
        x.objectives = frame.slo;
    }
    // Overall cost is the sum of the models' costs when every model has a price.
    let models: Vec<ModelResult> = frame
        .models
        .iter()
        .zip(&c.models)
        .map(|(m, s)| {
            let basis = m.price.map_or(CostBasis::None, CostBasis::Price);
            let mut r = model_result(s, &m.id, &m.label, &m.target, basis, &cx);
            if let Some(x) = r.slo.as_mut() {
                x.objectives = m.slo;
            }
            r
        })
        .collect();
    if !models.is_empty() && models.iter().all(|m| m.cost.is_some()) {
        let mut sum = CostResult::default();
        for m in &models {
            if let Some(k) = &m.cost {
                sum.input_usd += k.input_usd;
                sum.output_usd += k.output_usd;
                sum.total_usd += k.total_usd;
                sum.run_total_usd += k.run_total_usd;
                sum.projected_daily_requests += k.projected_daily_requests;
                sum.projected_per_day_usd += k.projected_per_day_usd;
            }
        }
        let sent = overall.requests.sent;
        sum.per_1k_requests_usd = if sent > 0 {
            sum.total_usd / sent as f64 * 1000.0
        } else {
            0.0
        };
        sum.per_million_output_tokens_usd = if overall.tokens.output > 0 {
            sum.total_usd / overall.tokens.output as f64 * 1e6
        } else {
            0.0
        };
        overall.cost = Some(sum);
    }

    let (mode, arrival, burstiness, concurrency, on_full) = (
        frame.mode.as_str(),
        frame.arrival.clone(),
        frame.burstiness,
        frame.concurrency,
        frame.on_full,
    );
    let open = mode != "closed";
    let per = |n: u64| {
        if window_s > 0.0 {
            n as f64 / window_s
        } else {
            0.0
        }
    };
    let offered = open.then(|| per(c.arrivals_in_window));
    // Arrivals sent (a session's later turns and fallback attempts are requests, not arrivals).
    let achieved = per(c.arrivals_sent_in_window);
    let lag = c.schedule_lag.summary(1e-3);
    let mut reasons = Vec::new();
    let dropped = c.overall.count(Outcome::Dropped);
    if open && c.arrivals_in_window > c.skipped_in_window {
        // A run stopped early has an artificial window edge: an arrival dispatched just before
        // the stop may be sent just after it. There the ratio counts the measured arrivals that
        // were sent at all (those cancelled by the stop itself are not the generator's fault).
        let stopped_early = meta.status != RunStatus::Complete;
        // Arrivals the context-window guard chose not to send are not the generator's
        // shortfall; later turns and fallback attempts are requests, not arrivals.
        let arrivals = c.arrivals_in_window - c.skipped_in_window;
        let ratio = if stopped_early {
            let cancelled = c.overall.count(Outcome::Cancelled);
            let sent = arrivals.saturating_sub(dropped + cancelled);
            sent as f64 / arrivals.saturating_sub(cancelled).max(1) as f64
        } else {
            c.arrivals_sent_in_window as f64 / arrivals.max(1) as f64
        };
        if ratio < meta.min_send_ratio {
            let why = if dropped > 0 {
                format!(
                    "{dropped} arrivals were dropped at max_in_flight = {}: the endpoint could not keep up with the offered rate",
                    frame.max_in_flight
                )
            } else if c.queue_time.quantile(0.99) > 10_000 {
                "requests waited for a free in-flight slot or a rate cap (see queue_time)"
                    .to_string()
            } else {
                "the generator could not send on time".to_string()
            };
            reasons.push(format!(
                "achieved send rate {:.2}/s is {:.1} % of the offered {:.2}/s (needs ≥ {:.0} %): {why}",
                achieved,
                ratio * 100.0,
                per(c.arrivals_in_window),
                meta.min_send_ratio * 100.0
            ));
        }
    }
    if lag.count > 0 && lag.p99 > meta.max_lag_p99_ms {
        reasons.push(format!(
            "p99 schedule lag {:.2} ms exceeds {:.0} ms: the generator fell behind its own schedule",
            lag.p99, meta.max_lag_p99_ms
        ));
    }
    // The generator's own load over the window's whole seconds.
    let cpu_window: Vec<f64> = clamped(&meta.health.cpu_per_s, &cx.window_secs).to_vec();
    let cpu_mean = if cpu_window.is_empty() {
        0.0
    } else {
        cpu_window.iter().sum::<f64>() / cpu_window.len() as f64
    };
    let cpu_max = cpu_window.iter().copied().fold(0.0, f64::max);
    let loop_lag = meta.health.loop_lag.summary(1e-3);
    if loop_lag.count >= 20 && loop_lag.p99 > meta.max_lag_p99_ms {
        reasons.push(format!(
            "the generator's event loop ran late: a 50 ms probe timer fired {:.1} ms late at p99 (limit {:.0} ms)",
            loop_lag.p99, meta.max_lag_p99_ms
        ));
    }
    if meta.worker_threads > 0 && cpu_mean >= 0.9 * meta.worker_threads as f64 {
        reasons.push(format!(
            "the generator used {:.2} of its {} CPU cores on average over the window: it was saturated",
            cpu_mean, meta.worker_threads
        ));
    }
    let generator = GeneratorHealth {
        worker_threads: meta.worker_threads,
        cpu_cores_used_mean: cpu_mean,
        cpu_cores_used_max: cpu_max,
        cpu_excludes_mock: meta.cpu_excludes_mock,
        event_loop_lag_ms: loop_lag,
    };
    let mut warnings = meta.warnings;
    if c.overall.output_sources[1] > 0 || c.overall.output_sources[2] > 0 {
        warnings.push(format!(
            "output tokens of {} requests were counted by the built-in tokenizer ({}) and of {} by event count: the server sent no usage",
            c.overall.output_sources[1],
            crate::config::tokens::NAME,
            c.overall.output_sources[2]
        ));
    }
    if c.overall.usage_mismatch > 0 {
        warnings.push(format!(
            "{} requests reported fewer completion_tokens than the stream events that carried output; the server's figure was kept (tokens.usage_mismatch)",
            c.overall.usage_mismatch
        ));
    }
    if c.overall.reconnects > 0 {
        warnings.push(format!(
            "{} times a request was sent again because its pooled connection had been closed by the server before any response (the server closes keep-alive connections it advertises); each such request's latency includes the re-send (requests.reconnects)",
            c.overall.reconnects
        ));
    }
    if c.overall.retries_429 > 0 {
        warnings.push(format!(
            "{} re-sends after HTTP 429 with back-off ({:.1} s waited in all) are included in the latencies (requests.retries_429, requests.backoff_s)",
            c.overall.retries_429,
            c.overall.backoff_us as f64 / 1e6
        ));
    }
    if c.arrivals_in_window > 0 && c.overall.count(Outcome::Ok) == 0 {
        let counts = model_result(&c.overall, "", "", "", CostBasis::Summed, &cx).requests;
        warnings.push(nothing_measured_line(&counts));
    }
    if c.arrivals_in_window == 0 {
        warnings.push("no request was scheduled inside the measurement window".into());
    }
    let mut lh = BTreeMap::new();
    lh.insert("schedule_lag".to_string(), c.schedule_lag.encode());
    lh.insert("queue_time".to_string(), c.queue_time.encode());
    let timeseries = c
        .series
        .iter()
        .enumerate()
        .map(|(i, b)| SeriesPoint {
            t_s: i as u64,
            sent: b.sent,
            ok: b.ok,
            failed: b.failed,
            dropped: b.dropped,
            output_tokens: b.output_tokens,
            in_flight_max: b.in_flight_max,
            ttft_p50_ms: b.ttft_p50_ms,
            ttft_p99_ms: b.ttft_p99_ms,
            errors: b.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            cpu_cores_used: meta.health.cpu_per_s.get(i).copied(),
        })
        .collect();
    let g = &c.groups;
    let group = |s: &Stats, label: String, model: &str| {
        let mut r = model_result(s, model, &label, "", CostBasis::Summed, &cx);
        if let Some(x) = r.slo.as_mut() {
            x.objectives = frame.slo;
        }
        r
    };
    let classes = g
        .classes
        .iter()
        .zip(&frame.classes)
        .map(|(s, (name, model))| group(s, name.clone(), model))
        .collect();
    let turns = g
        .turns
        .iter()
        .enumerate()
        .filter(|(_, s)| s.issued() > 0)
        .map(|(i, s)| {
            let bounded = frame
                .sessions_max_turns
                .is_some_and(|u| (u.ceil() as usize) <= g.turns.len());
            let label = if i + 1 == g.turns.len() && !bounded {
                format!("turn {}+", i + 1)
            } else {
                format!("turn {}", i + 1)
            };
            group(s, label, "*")
        })
        .collect();
    let cache = g
        .cache
        .iter()
        .zip(["fresh", "repeat"])
        .map(|(s, l)| group(s, l.to_string(), "*"))
        .collect();
    let label = |m: usize| {
        frame
            .models
            .get(m)
            .map(|x| x.label.clone())
            .unwrap_or_default()
    };
    let routing = g
        .routes
        .iter()
        .enumerate()
        // The entry for requests no rule matched is shown only when there were some.
        .filter(|(i, counts)| *i < frame.routes.len() || counts.iter().sum::<u64>() > 0)
        .map(|(i, counts)| {
            let by_model: BTreeMap<String, u64> = counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(m, n)| (label(m), *n))
                .collect();
            match frame.routes.get(i) {
                Some(r) => RouteResult {
                    name: r.name.clone(),
                    condition: r.condition.clone(),
                    model: r.model.clone(),
                    requests: counts.iter().sum(),
                    by_model,
                },
                None => RouteResult {
                    name: crate::config::plan::UNMATCHED_ROUTE.into(),
                    condition: "no rule matched: the model weights chose".into(),
                    model: String::new(),
                    requests: counts.iter().sum(),
                    by_model,
                },
            }
        })
        .collect();
    let fallback = match (&frame.fallback, &g.end_user) {
        (Some((chains, on)), Some(u)) => {
            let end_user = group(u, "end user".into(), "*");
            let requests = end_user.requests.issued;
            Some(FallbackResult {
                chains: chains.clone(),
                on: on.clone(),
                requests,
                fell_back: g.fell_back,
                fallback_rate: if requests > 0 {
                    g.fell_back as f64 / requests as f64
                } else {
                    0.0
                },
                failed: end_user.requests.failed,
                fallback_attempts: g.fallback_attempts,
                answered_by: g
                    .answered_by
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(m, n)| (label(m), *n))
                    .collect(),
                end_user,
            })
        }
        _ => None,
    };
    let context_guard = frame.context_guard.map(|policy| GuardResult {
        policy,
        over_window: meta.guard.over_window,
        skipped: meta.guard.skipped,
        largest: meta.guard.largest.clone(),
    });
    if let Some(g) = &context_guard {
        if g.over_window > 0 {
            warnings.push(format!(
                "{} requests exceeded their model's context window ({}); see context_guard",
                g.over_window,
                match g.policy {
                    crate::config::scenario::GuardKind::Skip => "not sent",
                    crate::config::scenario::GuardKind::Send => "sent anyway",
                }
            ));
        }
    }
    RunResult {
        sweep: None,
        partial: None,
        merged_from: Vec::new(),
        classes,
        turns,
        cache,
        routing,
        fallback,
        context_guard,
        schema_version: SCHEMA_VERSION,
        tool: Tool::current(),
        run_id: meta.run_id,
        status: meta.status,
        started_at: meta.started_at,
        finished_at: meta.finished_at,
        scenario: frame.scenario.clone(),
        shard: meta.shard,
        host: Host::current(),
        load: LoadResult {
            mode: mode.into(),
            arrival,
            burstiness,
            offered_rate_per_s: offered,
            achieved_send_rate_per_s: achieved,
            concurrency,
            max_in_flight: frame.max_in_flight,
            in_flight_mean: c.in_flight_mean(),
            on_full,
            warmup_s: frame.warmup_s,
            cooldown_s: frame.cooldown_s,
            window_start_s: start_us as f64 / 1e6,
            window_end_s: end_us as f64 / 1e6,
            window_s,
            elapsed_s: c.last_end_us as f64 / 1e6,
            arrivals_in_window: c.arrivals_in_window,
            sent_in_window: c.sent_in_window,
            sent_all_phases: c.overall.sent_all_phases,
            schedule_lag_ms: lag,
            queue_time_ms: c.queue_time.summary(1e-3),
            histograms: lh,
        },
        validity: Validity {
            valid: reasons.is_empty(),
            reasons,
        },
        generator,
        slo: frame.slo,
        overall,
        models,
        timeseries,
        warnings,
        records_file: meta.records_file,
        aborted_by: meta.aborted_by,
    }
}

/// Why nothing was measured, in one line: how many measured requests were sent and how they
/// failed, each failure class with its count and most common message.
pub fn nothing_measured_line(o: &Counts) -> String {
    if o.issued == 0 {
        return "nothing measured: no request was scheduled inside the measurement window".into();
    }
    if o.sent == 0 {
        return format!(
            "nothing measured: none of the {} measured arrivals was sent ({} dropped, {} cancelled, {} skipped)",
            o.issued, o.dropped, o.cancelled, o.skipped
        );
    }
    let mut classes: Vec<(&String, &u64)> = o.errors.iter().collect();
    classes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let why: Vec<String> = classes
        .iter()
        .map(|(k, n)| match o.error_messages.get(*k) {
            Some(t) => format!("{k} ×{n}: {}", t.message),
            None => format!("{k} ×{n}"),
        })
        .collect();
    format!(
        "nothing measured: all {} measured requests failed ({})",
        o.sent,
        why.join("; ")
    )
}
