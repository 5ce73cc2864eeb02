//! The result file: a versioned JSON document (see docs/results.md) built from the collector,
//! written atomically, and read back (older compatible versions included).
//!
//! Field names carry units. Every figure has its sample count beside it. Histograms are
//! embedded losslessly so results can be re-analysed and merged later.

pub mod guard;
pub mod health;
pub mod policy;
pub mod server;
pub mod shard;
pub mod sweep;

// Assembly of a result from a collector, by what each part computes.
mod assemble;
mod cost;
mod counts;
mod groups;
pub mod judge;
mod latency;
mod load;
mod outline;
pub mod quality;
mod quota;
mod row;
mod series;
mod throughput;
mod validity;
mod warnings;
mod window;

pub use assemble::{assemble, build};
pub use counts::nothing_measured_line;
pub use outline::{OutlineModel, OutlineRoute, PlanOutline};
pub use quota::QuotaResult;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::plan::{OnFull, Slo};
use crate::config::prices::Price;
use crate::metrics::Summary;

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
    /// Each target's own Prometheus gauges over the run, for targets with `server_metrics`
    /// (see docs/results.md#server-metrics).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub server_metrics: Vec<server::ServerMetrics>,
    /// Per model: the tokenizer that sized its synthetic prompts and counted what the server
    /// did not report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokenizers: Vec<TokenizerUse>,
    /// How each target was reached: client, HTTP version, TLS, where token times come from,
    /// and connection set-up times (absent in merged results and in older results).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transport: Vec<TransportResult>,
    /// Per model, the account quota the server stated in its `x-ratelimit-*` and
    /// `Retry-After` headers; absent when no response carried them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota: Vec<QuotaResult>,
    /// Golden-set quality per model (`[quality]`); absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityResult>,
}

/// The golden set's pass: what was sent and each model's quality figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct QualityResult {
    /// The golden file as the scenario names it.
    pub golden: String,
    /// Golden lines in the file.
    pub lines: usize,
    /// How the golden requests were sent (`pass`: once per model before the load; `mix`: a
    /// share of the load's own arrivals).
    pub mode: String,
    /// `mix`: the share of the load's arrivals that were golden requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share: Option<f64>,
    /// The baseline model's label, when one is named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Wall time of the pass (`mix`: of the load), in seconds.
    pub elapsed_s: f64,
    /// Per model, in the scenario's order.
    pub models: Vec<ModelQualityResult>,
    /// SHA-256 of the golden file's text (hex), to tell whether two results scored the same
    /// golden set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub golden_sha256: Option<String>,
    /// The judge's scores and calls, when `[quality] judge` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<judge::JudgeResult>,
    /// The result file the baseline's answers were read from (`run --baseline`); `baseline`
    /// is then that file's model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_file: Option<String>,
    /// With `run --baseline`: the baseline model's cost per 1,000 measured requests in that
    /// file, which each model's `cost_relative` is then divided by; absent when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_per_1k_requests_usd: Option<f64>,
    /// Golden lines whose similarity was measured against their own `reference` (`line`) and
    /// against the baseline's answer (`baseline`), by count; absent when none was.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub similarity_reference: std::collections::BTreeMap<String, usize>,
}

/// One model's golden answers, scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ModelQualityResult {
    /// The model's label.
    pub model: String,
    /// Its figures overall and per class.
    #[serde(flatten)]
    pub quality: crate::metrics::quality::ModelQuality,
    /// Its cost per measured request relative to the baseline model's (the two models'
    /// `cost.per_1k_requests_usd` divided); absent without a baseline, for the baseline
    /// itself, or when either cost is unknown or the baseline's is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_relative: Option<f64>,
    /// `mix`: golden requests of the measured window sent to this model and answered (or
    /// failed: a failure is a miss); a line asked several times counts each time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub golden_requests: Option<u64>,
    /// Each golden answer: its line, outcome and score (and its text, when kept).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub golden: Vec<GoldenAnswer>,
}

/// One golden answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GoldenAnswer {
    /// The golden line's id.
    pub id: String,
    /// Its 1-based line number in the golden file.
    pub line: usize,
    /// `mix`: the arrival index of the load request that asked it (the records' `index`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The request's outcome (`ok`, `timeout`, `http_5xx`, …).
    pub outcome: String,
    /// The answer's `finish_reason`, when the server sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// The weighted share of the line's checks passed (0 for a miss); absent when the line
    /// has no checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Pass or fail of each check, in the line's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passed: Vec<bool>,
    /// Why the answer was a miss without a score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unscorable: Option<String>,
    /// The answer's text, cut to `answer_cap_bytes`, when `keep_answers` is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The kept text was cut at `answer_cap_bytes`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub answer_cut: bool,
    /// The judge's grade (1 to 5), when the judge scored the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_grade: Option<u8>,
    /// The judge's score normalised to 0..1 ((grade − 1) / 4).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_score: Option<f64>,
    /// Why the judge left the answer unscored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_unscored: Option<String>,
    /// The judge's last reply when it left the answer unscored, cut to `answer_cap_bytes`
    /// (kept when `keep_answers` is on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_reply: Option<String>,
}

/// Which tokenizer a model used, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerUse {
    /// Model label.
    pub model: String,
    /// `builtin`, `file` or `server`.
    pub kind: String,
    /// The built-in encoding's name, the tokenizer file's path, or `server`.
    pub name: String,
    /// SHA-256 of the tokenizer file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Whether the synthetic prompts sent to this model have the requested token counts under
    /// its tokenizer (absent when it got no synthetic prompts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic_exact: Option<bool>,
    /// `server`: the probe requests and the line fitted to them, per request class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibration: Vec<ServerCalibration>,
}

/// Synthetic prompt sizes fitted against a server (`tokenizer = "server"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerCalibration {
    /// Request class.
    pub class: String,
    /// Each probe: words sent and the server's `usage.prompt_tokens`.
    pub probes: Vec<TokenProbe>,
    /// Tokens the server counts besides the words (template, system prompt, BOS).
    pub overhead_tokens: f64,
    /// Tokens the server counts per word.
    pub tokens_per_word: f64,
    /// Whether every probe lies on the fitted line with one token per word, so that prompt
    /// sizes are exact.
    pub exact: bool,
}

/// One probe request of a server calibration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TokenProbe {
    /// Words in the prompt.
    pub words: u32,
    /// `usage.prompt_tokens` the server reported.
    pub prompt_tokens: u64,
}

/// How one target was reached, and what opening its connections cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransportResult {
    /// Target name.
    pub target: String,
    /// `lean` or `reqwest`.
    pub client: String,
    /// `1.1` (the lean client, always), or the reqwest client's setting: `auto` (HTTP/2 when
    /// the server offers it by ALPN, else 1.1), `1.1` or `2`.
    pub http_version: String,
    /// Whether the target is https.
    pub tls: bool,
    /// Where response and token instants come from: `kernel_receive_stamp` (the kernel's
    /// receive stamp of the socket read; under TLS, of the read that completed the record) or
    /// `user_space_read` (the client's clock when its read returned).
    pub time_source: String,
    /// Connections opened over the whole run, every phase (lean client; absent for reqwest,
    /// which does not report them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_connections: Option<u64>,
    /// TCP connect time of those connections (ms), every phase; inside the TTFT of the
    /// request that opened the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<SetupSummary>,
    /// TLS handshake time of those connections (ms), every phase (https only); inside the
    /// TTFT of the request that opened the connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake_ms: Option<SetupSummary>,
}

/// A set-up time distribution (ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SetupSummary {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
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
    /// mock), e.g. "ChaCha8Rng (chacha20 0.10, rand 0.10, rand_distr 0.6)": the same seed draws
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
    /// Embeddings: inputs per successful request (the batch size as answered); absent for
    /// chat and completions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_per_request: Option<f64>,
    /// Chat with tools: share (0..1) of successful requests whose answer called a tool.
    /// Absent when no answer called one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_share: Option<f64>,
    /// Chat with tools: tool calls per successful request. Absent when no answer called one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls_per_request: Option<f64>,
    /// Chat with images: images per successful request. Absent without images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_request: Option<f64>,
    /// Chat with images: encoded image bytes per successful request (before base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_bytes_per_request: Option<f64>,
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
    /// The server's own gauges scraped in this second, by target name (targets with
    /// `server_metrics` only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub server: BTreeMap<String, server::ServerPoint>,
    /// The tightest quota the server's `x-ratelimit-*` headers stated on responses whose
    /// headers arrived in this second (lowest remaining requests and tokens, and the limits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<crate::metrics::quota::QuotaPoint>,
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
