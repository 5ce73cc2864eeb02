//! The scenario file as written by a user: its TOML shape, loading, and error locations.
//!
//! This module owns the *syntax* (types, unknown keys, units) and maps every error, from the
//! TOML parser or from later semantic validation in config::plan, to `file:line:column`
//! plus the dotted field path. It does not decide what a valid run is; `plan` does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::core::dist::Dist;
use crate::core::units;

/// The whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name used in result file names and reports.
    pub name: String,
    /// Free text shown in reports.
    #[serde(default)]
    pub description: Option<String>,
    /// Seed for every random choice of the generator (arrivals, model pick, prompts, lengths).
    #[serde(default)]
    pub seed: u64,
    /// Endpoints to send to.
    pub targets: Vec<TargetSpec>,
    /// Models, each on one target, with traffic weights and prices.
    pub models: Vec<ModelSpec>,
    /// What each request contains.
    pub workload: WorkloadSpec,
    /// How requests arrive.
    pub load: LoadSpec,
    /// Per-request service-level objectives.
    #[serde(default)]
    pub slo: Option<SloSpec>,
    /// Cost projection settings.
    #[serde(default)]
    pub cost: Option<CostSpec>,
    /// Routing rules: pick each request's model by its prompt size (first match wins).
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// Fallback chains: retry a failed request on the next model of its chain.
    #[serde(default)]
    pub fallback: Option<FallbackSpec>,
    /// Capacity sweep settings (used by `llmload sweep`).
    #[serde(default)]
    pub sweep: Option<SweepSpec>,
    /// A price file merged over the built-in catalog; models without a `price` (or
    /// `context_window`) take theirs from it by id or label.
    #[serde(default)]
    pub prices: Option<String>,
    /// Golden-set quality measurement (docs/quality.md).
    #[serde(default)]
    pub quality: Option<crate::config::golden::spec::QualitySpec>,
}

/// Capacity sweep settings; every key is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// Open-loop rates in the ladder.
    #[serde(default)]
    pub steps: Option<u32>,
    /// Measurement window of each step.
    #[serde(default)]
    pub step_duration: Option<Dur>,
    /// Warmup of each step.
    #[serde(default)]
    pub step_warmup: Option<Dur>,
    /// Concurrency of the saturation probe.
    #[serde(default)]
    pub probe_concurrency: Option<u32>,
    /// The ladder's top as a multiple of the probe's throughput.
    #[serde(default)]
    pub max_rate_factor: Option<f64>,
    /// Error rate that ends the ladder.
    #[serde(default)]
    pub max_error_rate: Option<f64>,
    /// SLO attainment a step needs to count as within SLO.
    #[serde(default)]
    pub required_attainment: Option<f64>,
    /// Longest window (and warmup) of a step.
    #[serde(default)]
    pub max_step_duration: Option<Dur>,
    /// A step's window lasts at least this many request durations.
    #[serde(default)]
    pub request_durations: Option<f64>,
    /// A bisection step's window holds at least this many expected arrivals.
    #[serde(default)]
    pub min_completions: Option<u32>,
    /// Bisection stops when the gap between the last rate that held and the first that did
    /// not is this share of the former.
    #[serde(default)]
    pub precision: Option<f64>,
    /// Most bisection steps.
    #[serde(default)]
    pub max_refinements: Option<u32>,
}

/// One routing rule. Conditions are all optional; a rule without any is the default.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Name shown in the result (default: `route<N>`).
    #[serde(default)]
    pub name: Option<String>,
    /// Matches prompts with fewer characters than this.
    #[serde(default)]
    pub chars_below: Option<u64>,
    /// Matches prompts with more characters than this.
    #[serde(default)]
    pub chars_above: Option<u64>,
    /// Matches requests of this class only.
    #[serde(default)]
    pub class: Option<String>,
    /// The model (id) the rule sends to.
    pub model: String,
}

/// Fallback chains, off unless this table is present.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackSpec {
    /// Each chain lists model ids in order; a failed attempt on one moves to the next.
    pub chains: Vec<Vec<String>>,
    /// Outcome classes (or the groups `rate_limited`, `server_error`, `timeout`,
    /// `connection`) that trigger a fallback. Default: rate_limited, server_error, timeout.
    #[serde(default)]
    pub on: Option<Vec<String>>,
}

/// One endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Name that models refer to.
    pub name: String,
    /// `mock`, or an `http(s)://…` base URL ending before `/chat/completions`.
    pub base_url: String,
    /// Name of the environment variable that holds the API key (never the key itself).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// How the API key is sent: "bearer" (`Authorization: Bearer KEY`, the default),
    /// "api-key" (`api-key: KEY`, Azure OpenAI) or `{ header = "X-Name" }` (`X-Name: KEY`).
    /// Checked by the plan (an unknown style is a problem naming `targets[i].auth`).
    #[serde(default)]
    pub auth: Option<toml::Value>,
    /// Extra HTTP headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Extra JSON body fields merged into every request.
    #[serde(default)]
    pub body: toml::Table,
    /// Timeouts.
    #[serde(default)]
    pub timeouts: TimeoutsSpec,
    /// Client-side account quotas.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Connection pool size per host (idle connections kept).
    #[serde(default)]
    pub pool_max_idle: Option<usize>,
    /// HTTP version: "auto" (HTTP/1.1, or HTTP/2 when TLS negotiates it), "1.1", or "2"
    /// (HTTP/2 only; prior knowledge on plain http).
    #[serde(default)]
    pub http: Option<HttpVersion>,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsSpec,
    /// A file holding the API key (its first line), instead of an environment variable.
    #[serde(default)]
    pub api_key_file: Option<String>,
    /// HTTP transport: "auto" (the default: "lean" for plain http:// without `http = "2"` and
    /// without an HTTP proxy in the environment, else "reqwest"), "lean" (llmload's own
    /// HTTP/1.1 reader, fewer wake-ups per token) or "reqwest" (reqwest/hyper: HTTP/1.1 and
    /// HTTP/2, TLS, proxies). "default" is the old name of "reqwest", kept so scenarios
    /// written when reqwest was the default keep their meaning.
    #[serde(default)]
    pub client: Option<ClientKind>,
    /// Largest response body accepted, in bytes (default 16 MiB); a larger one ends the
    /// request as `too_large`.
    #[serde(default)]
    pub max_response_bytes: Option<u64>,
    /// Client back-off on HTTP 429 (off when absent).
    #[serde(default)]
    pub retry_on_429: Option<RetrySpec>,
    /// The server's own Prometheus endpoint (`http(s)://host:port/metrics`, or "mock" for the
    /// built-in mock's), scraped once a second during the run (see docs/scenarios.md).
    #[serde(default)]
    pub server_metrics: Option<String>,
    /// Gauges to keep from `server_metrics` besides the known ones, by metric name.
    #[serde(default)]
    pub server_metrics_gauges: Vec<String>,
}

/// `retry_on_429 = { max_retries = 3, max_wait = "5s" }` on a target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Longest single wait (default 5 s).
    #[serde(default)]
    pub max_wait: Option<Dur>,
}

/// HTTP transport choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// Lean where it can serve the target (http:// or https:// over HTTP/1.1, no proxy), else
    /// reqwest.
    #[default]
    Auto,
    /// reqwest over hyper: HTTP/1.1 and HTTP/2, TLS, proxies. Also accepted as "default",
    /// its name while it was the default.
    #[serde(alias = "default")]
    Reqwest,
    /// llmload's own HTTP/1.1 reader: http:// and https:// (HTTP/1.1 by ALPN), no proxy.
    Lean,
}

impl ClientKind {
    /// Whether a target with this choice uses the lean transport. `proxied`: a proxy for the
    /// target's scheme is set in the environment (reqwest would send requests through it; the
    /// lean client would not, so "auto" leaves such targets to reqwest).
    pub fn uses_lean(self, base_url: &str, http: Option<HttpVersion>, proxied: bool) -> bool {
        match self {
            ClientKind::Lean => true,
            ClientKind::Reqwest => false,
            ClientKind::Auto => {
                let _ = base_url;
                http != Some(HttpVersion::Http2) && !proxied
            }
        }
    }
}

/// Whether the environment sets an HTTP proxy that reqwest would use for a plain-http target
/// (`http_proxy`, `HTTP_PROXY`, `all_proxy`, `ALL_PROXY`; non-empty).
pub fn http_proxy_in_env() -> bool {
    ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}

/// Whether the environment sets a proxy reqwest would use for `base_url`: for an https://
/// target `https_proxy`, `HTTPS_PROXY`, `all_proxy` or `ALL_PROXY`; otherwise as
/// [`http_proxy_in_env`].
pub fn proxy_in_env_for(base_url: &str) -> bool {
    if base_url.starts_with("https://") {
        ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
    } else {
        http_proxy_in_env()
    }
}

/// HTTP version choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
pub enum HttpVersion {
    /// Let the connection decide.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// HTTP/1.1 only.
    #[serde(rename = "1.1")]
    Http1,
    /// HTTP/2 only.
    #[serde(rename = "2")]
    Http2,
}

/// TLS settings of a target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// PEM file of extra CA certificates to trust, relative to the scenario file.
    #[serde(default)]
    pub ca_bundle: Option<String>,
    /// Accept any certificate. Only by explicit choice: printed as a warning and recorded in
    /// the result.
    #[serde(default)]
    pub insecure: bool,
}

/// Request timeouts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSpec {
    /// TCP (and TLS) connect.
    #[serde(default)]
    pub connect: Option<Dur>,
    /// From send to the first token-bearing event (or the whole body when not streaming).
    #[serde(default)]
    pub first_token: Option<Dur>,
    /// Longest silence between two stream events after the first token.
    #[serde(default)]
    pub idle: Option<Dur>,
    /// Whole request.
    #[serde(default)]
    pub total: Option<Dur>,
}

/// Account quotas enforced on the client side.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSpec {
    /// Requests per minute.
    #[serde(default)]
    pub requests_per_minute: Option<f64>,
    /// Tokens (input estimate + max_tokens) per minute.
    #[serde(default)]
    pub tokens_per_minute: Option<f64>,
}

/// One model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Model id exactly as sent in the request body.
    pub id: String,
    /// Target name.
    pub target: String,
    /// Display label.
    #[serde(default)]
    pub label: Option<String>,
    /// Relative share of requests.
    #[serde(default = "one")]
    pub weight: f64,
    /// Price in USD per million tokens.
    #[serde(default)]
    pub price: Option<PriceSpec>,
    /// Context window in tokens.
    #[serde(default)]
    pub context_window: Option<u64>,
    /// Simulation settings, used when the target is `mock`.
    #[serde(default)]
    pub mock: Option<MockSpec>,
    /// Objectives for this model's requests; each one given replaces the scenario's `[slo]`
    /// value for this model.
    #[serde(default)]
    pub slo: Option<SloSpec>,
    /// The model's tokenizer: `o200k_base` (default), `cl100k_base`, a path to a Hugging Face
    /// `tokenizer.json` or model folder, or `server` (synthetic prompts calibrated against the
    /// endpoint).
    #[serde(default)]
    pub tokenizer: Option<String>,
}

fn one() -> f64 {
    1.0
}

/// USD per million tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceSpec {
    /// Input (prompt) tokens.
    pub input_per_m: f64,
    /// Output (completion) tokens.
    pub output_per_m: f64,
    /// Cached input tokens, when the provider discounts them.
    #[serde(default)]
    pub cached_input_per_m: Option<f64>,
}

/// Simulated behaviour of one model on the built-in mock.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockSpec {
    /// Time to first token.
    #[serde(default)]
    pub ttft: Option<DurDist>,
    /// Changes of `ttft` during the run: `[{ after = "5s", ttft = "400ms" }]`, each from
    /// `after` since the first request the mock received.
    #[serde(default)]
    pub ttft_steps: Vec<TtftStepSpec>,
    /// Delay between chunks.
    #[serde(default)]
    pub itl: Option<DurDist>,
    /// Decode speed; the inverse of a fixed `itl` (give one or the other).
    #[serde(default)]
    pub tokens_per_s: Option<f64>,
    /// Output length; default: the request's max_tokens.
    #[serde(default)]
    pub output_tokens: Option<NumDist>,
    /// Tokens per SSE chunk.
    #[serde(default)]
    pub tokens_per_chunk: Option<u32>,
    /// Reasoning tokens before the answer (chat only).
    #[serde(default)]
    pub reasoning_tokens: Option<u32>,
    /// Numbers per vector in `/embeddings` answers (default 8).
    #[serde(default)]
    pub embedding_dim: Option<u32>,
    /// Share of chat requests with tools (`tool_choice` auto or unset) answered with a tool
    /// call (default 1).
    #[serde(default)]
    pub tool_call_share: Option<f64>,
    /// Requests beyond this many in flight queue inside the mock.
    #[serde(default)]
    pub max_concurrency: Option<u32>,
    /// Fault injection probabilities.
    #[serde(default)]
    pub faults: Option<FaultsSpec>,
    /// How `usage.prompt_tokens` is counted: `bytes` (default, a quarter of the prompt's
    /// bytes) or `words` (whitespace-separated words plus a fixed template overhead).
    #[serde(default)]
    pub prompt_tokens: Option<crate::config::mock::PromptCount>,
    /// A simulated account quota: `{ requests_per_minute = 600, tokens_per_minute = 60000 }`,
    /// stated in `x-ratelimit-*` headers and enforced with 429s.
    #[serde(default)]
    pub rate_limit: Option<crate::config::mock::RateLimit>,
    /// What the model answers to known prompts: a JSONL file of `{"prompt", "answer"}` lines,
    /// relative to the scenario's folder.
    #[serde(default)]
    pub answers: Option<String>,
    /// Share of the `answers` table's answers made wrong on purpose, in [0, 1] (default 0).
    #[serde(default)]
    pub wrong: Option<f64>,
}

/// One change of the mock's time to first token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtftStepSpec {
    /// From this long after the first request the mock received.
    pub after: Dur,
    /// The time to first token from then on.
    pub ttft: DurDist,
}

/// Fault probabilities per request (each in 0..=1, at most one fault per request).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsSpec {
    /// HTTP 429.
    #[serde(default)]
    pub rate_limit: f64,
    /// `Retry-After` sent with 429s.
    #[serde(default)]
    pub retry_after: Option<Dur>,
    /// HTTP 500.
    #[serde(default)]
    pub server_error: f64,
    /// The stream goes silent half way.
    #[serde(default)]
    pub stall: f64,
    /// The connection is cut half way.
    #[serde(default)]
    pub disconnect: f64,
    /// One non-JSON event mid-stream.
    #[serde(default)]
    pub malformed: f64,
    /// An `error` object sent as an event mid-stream.
    #[serde(default)]
    pub error_event: f64,
    /// The request is accepted but no response head ever comes.
    #[serde(default)]
    pub no_headers: f64,
    /// HTTP 503 with an HTML body.
    #[serde(default)]
    pub html_error: f64,
    /// HTTP 200 with a non-SSE content type on a streaming request.
    #[serde(default)]
    pub wrong_content_type: f64,
    /// The stream ends cleanly without `finish_reason` or `[DONE]`.
    #[serde(default)]
    pub no_done: f64,
    /// The stream never ends.
    #[serde(default)]
    pub endless: f64,
    /// A chunk carries invalid UTF-8.
    #[serde(default)]
    pub invalid_utf8: f64,
    /// `usage` reports fewer completion tokens than were streamed.
    #[serde(default)]
    pub usage_mismatch: f64,
    /// The connection is reset (TCP RST) mid-stream.
    #[serde(default)]
    pub reset: f64,
}

/// What each request contains.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    /// `chat` (`/chat/completions`), `completions` (`/completions`), `embeddings`
    /// (`/embeddings`) or `responses` (`/responses`).
    #[serde(default)]
    pub endpoint: EndpointKind,
    /// Stream the response (SSE); default true (chat and completions only).
    #[serde(default)]
    pub stream: Option<bool>,
    /// Inputs per embeddings request (default 1; `endpoint = "embeddings"` only).
    #[serde(default)]
    pub batch_size: Option<u32>,
    /// System prompt (chat; `instructions` for responses).
    #[serde(default)]
    pub system: Option<String>,
    /// Prompts: an inline list of strings, `{ file = "prompts.jsonl" }`,
    /// `{ sharegpt = "data.json" }` or `{ synthetic = { input_tokens = … } }`. Required unless
    /// `classes` or a trace gives the prompts.
    #[serde(default)]
    pub prompts: Option<PromptsSpec>,
    /// `max_tokens`: a number or a distribution table.
    #[serde(default)]
    pub max_tokens: Option<NumDist>,
    /// Named request classes, each with its own prompts, lengths, model and weight.
    #[serde(default)]
    pub classes: Vec<ClassSpec>,
    /// What class weights are shares of: `requests` (default) or `input_tokens`.
    #[serde(default)]
    pub mix_by: Option<MixBy>,
    /// Share of requests (0..1) that repeat an earlier request's prompt exactly.
    #[serde(default)]
    pub repeat_ratio: Option<f64>,
    /// What to do with a request whose prompt plus max_tokens exceeds the model's context
    /// window: `send` it anyway (default) or `skip` it; either way it is counted.
    #[serde(default)]
    pub context_guard: Option<GuardKind>,
    /// Multi-turn conversations: each arrival is a session of several turns.
    #[serde(default)]
    pub sessions: Option<SessionsSpec>,
    /// Sampling temperature sent to the server.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// `seed` field sent to the server.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Tools offered to the model (OpenAI `tools` array; chat only).
    #[serde(default)]
    pub tools: Option<Vec<serde_json::Value>>,
    /// A JSON file holding a `tools` array (relative to the scenario; chat only).
    #[serde(default)]
    pub tools_file: Option<String>,
    /// `tool_choice`: `"auto"`, `"required"`, `"none"` or
    /// `{ type = "function", function = { name = "..." } }`.
    #[serde(default)]
    pub tool_choice: Option<serde_json::Value>,
    /// Synthetic images attached to every request's last user message (chat only).
    #[serde(default)]
    pub images: Option<ImagesSpec>,
}

/// `[workload.images]`: synthetic PNG images of a given size in every request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagesSpec {
    /// Images per request (default 1).
    #[serde(default)]
    pub count: Option<u32>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// API endpoint family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    /// `/chat/completions`.
    #[default]
    Chat,
    /// `/completions`.
    Completions,
    /// `/embeddings`: a batch of inputs per request, answered whole (no stream).
    Embeddings,
    /// `/responses`: OpenAI's Responses API, streamed as typed events.
    Responses,
}

/// Where prompts come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of prompt strings, or a table { file = \"path.jsonl\" }, { sharegpt = \"data.json\" } or { synthetic = { input_tokens = 500 } }"
)]
pub enum PromptsSpec {
    /// Inline prompt strings.
    Inline(Vec<String>),
    /// A JSONL file, relative to the scenario file.
    File {
        /// Path of the file.
        file: String,
    },
    /// A ShareGPT JSON (or JSONL) file, relative to the scenario file.
    Sharegpt {
        /// Path of the file.
        sharegpt: String,
    },
    /// Generated prompts of an exact token length.
    Synthetic {
        /// The generator's settings.
        synthetic: SyntheticSpec,
    },
}

/// Synthetic prompt settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSpec {
    /// Prompt length in tokens: a number or a distribution (clamp it with min/max).
    pub input_tokens: NumDist,
    /// `o200k_base` (default) or `cl100k_base`.
    #[serde(default)]
    pub tokenizer: Option<crate::config::tokens::Encoding>,
    /// Share (0..1) of every prompt that is a prefix common to all prompts of this source.
    #[serde(default)]
    pub shared_prefix: Option<f64>,
}

/// One named request class.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    /// Name shown in the result.
    pub name: String,
    /// Relative share (of requests, or of input tokens with `mix_by = "input_tokens"`).
    #[serde(default = "one")]
    pub weight: f64,
    /// The model (id) this class always uses; default: routing rules, else model weights.
    #[serde(default)]
    pub model: Option<String>,
    /// The class's prompts.
    pub prompts: PromptsSpec,
    /// The class's `max_tokens` (default: the workload's).
    #[serde(default)]
    pub max_tokens: Option<NumDist>,
    /// The class's system prompt (default: the workload's).
    #[serde(default)]
    pub system: Option<String>,
}

/// What class weights measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MixBy {
    /// Shares of requests.
    #[default]
    Requests,
    /// Shares of input tokens (converted to request shares by each class's mean prompt size).
    InputTokens,
}

/// Context-window guard policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardKind {
    /// Send anyway (and count).
    #[default]
    Send,
    /// Do not send (and count).
    Skip,
}

/// Multi-turn session settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSpec {
    /// Turns per session: a number or a distribution.
    pub turns: NumDist,
    /// Pause between a turn's answer and the next turn.
    #[serde(default)]
    pub think_time: Option<DurDist>,
}

/// How requests arrive.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// Closed loop: this many workers, each sending its next request when the last ends.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Open loop: offered request rate, e.g. "20/s".
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Open-loop arrival process.
    #[serde(default)]
    pub arrival: Option<ArrivalKind>,
    /// Gamma shape: 1 = Poisson, < 1 burstier, > 1 smoother.
    #[serde(default)]
    pub burstiness: Option<f64>,
    /// A profile of rate or concurrency over time, instead of a single value.
    #[serde(default)]
    pub stages: Option<Vec<StageSpec>>,
    /// Cap on requests in flight.
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    /// What an arrival does when the cap is reached.
    #[serde(default)]
    pub on_full: Option<OnFullKind>,
    /// Time at the start whose requests are excluded from the metrics.
    #[serde(default)]
    pub warmup: Option<Dur>,
    /// Measurement window length.
    #[serde(default)]
    pub duration: Option<Dur>,
    /// Stop after this many arrivals.
    #[serde(default)]
    pub requests: Option<u64>,
    /// Time at the end under load whose requests are excluded from the metrics.
    #[serde(default)]
    pub cooldown: Option<Dur>,
    /// After sending stops, how long in-flight requests may take to finish.
    #[serde(default)]
    pub drain_timeout: Option<Dur>,
    /// Replay a JSONL trace of (timestamp, input length, output length[, model]) at its own
    /// timing, instead of `rate`/`concurrency`/`stages`.
    #[serde(default)]
    pub trace: Option<String>,
    /// Trace time multiplier: 0.5 replays twice as fast, 2 half as fast.
    #[serde(default)]
    pub time_scale: Option<f64>,
}

/// Open-loop arrival process names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArrivalKind {
    /// Evenly spaced.
    Constant,
    /// Exponential gaps.
    Poisson,
    /// Gamma gaps with `burstiness` as the shape.
    Gamma,
}

/// Full in-flight cap policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFullKind {
    /// Wait for a slot (the wait is queue time).
    Queue,
    /// Count the arrival as dropped.
    Drop,
}

/// One stage of a load profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Stage length.
    pub duration: Dur,
    /// Open loop: the rate (at the start, when `rate_to` is given).
    #[serde(default)]
    pub rate: Option<Rate>,
    /// Open loop: the rate at the end; linear in between.
    #[serde(default)]
    pub rate_to: Option<Rate>,
    /// Closed loop: the concurrency (at the start, when `concurrency_to` is given).
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Closed loop: the concurrency at the end; linear in between.
    #[serde(default)]
    pub concurrency_to: Option<u32>,
}

/// Per-request objectives; a request meets the SLO when it succeeds and meets each one given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// TTFT bound.
    #[serde(default)]
    pub ttft: Option<Dur>,
    /// TTFT (answer only) bound.
    #[serde(default)]
    pub ttft_answer: Option<Dur>,
    /// TPOT bound.
    #[serde(default)]
    pub tpot: Option<Dur>,
    /// End-to-end bound.
    #[serde(default)]
    pub e2e: Option<Dur>,
}

/// Cost projection settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostSpec {
    /// Requests per day to project the daily cost at (default: the measured rate).
    #[serde(default)]
    pub daily_requests: Option<f64>,
}

/// A duration written with its unit ("350ms").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration with its unit, e.g. \"500ms\" or \"2s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                units::parse_duration(v).map(Dur).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A rate written with its unit ("20/s"), stored as events per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Rate;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a rate with its unit, e.g. \"20/s\" or \"600/m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Rate, E> {
                units::parse_rate(v).map(Rate).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A count distribution: a plain number, or a `{ dist = … }` table.
#[derive(Debug, Clone, PartialEq)]
pub struct NumDist(pub Dist);

impl<'de> Deserialize<'de> for NumDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = NumDist;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number, or a table like { dist = \"normal\", mean = 120, stddev = 30 }",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumDist, E> {
                Ok(NumDist(Dist::fixed(v as f64)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumDist, E> {
                if v < 0 {
                    return Err(E::custom("must not be negative"));
                }
                Ok(NumDist(Dist::fixed(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumDist, E> {
                let d = Dist::fixed(v);
                d.validate().map_err(E::custom)?;
                Ok(NumDist(d))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NumDist, A::Error> {
                let d = Dist::deserialize(de::value::MapAccessDeserializer::new(map))?;
                d.validate().map_err(de::Error::custom)?;
                Ok(NumDist(d))
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration distribution in milliseconds: a duration string, or a `{ dist = … }` table
/// whose values are duration strings.
#[derive(Debug, Clone, PartialEq)]
pub struct DurDist(pub Dist);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDurDist {
    dist: String,
    #[serde(default)]
    value: Option<Dur>,
    #[serde(default)]
    min: Option<Dur>,
    #[serde(default)]
    max: Option<Dur>,
    #[serde(default)]
    mean: Option<Dur>,
    #[serde(default)]
    stddev: Option<Dur>,
}

impl<'de> Deserialize<'de> for DurDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DurDist;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a duration like \"350ms\", or a table like { dist = \"normal\", mean = \"350ms\", stddev = \"50ms\" }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurDist, E> {
                let d = units::parse_duration(v).map_err(E::custom)?;
                Ok(DurDist(Dist::fixed(d.as_secs_f64() * 1e3)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DurDist, A::Error> {
                let r = RawDurDist::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let ms = |d: Option<Dur>, name: &str| -> Result<f64, A::Error> {
                    d.map(|d| d.0.as_secs_f64() * 1e3).ok_or_else(|| {
                        de::Error::custom(format!("a `{}` distribution needs `{name}`", r.dist))
                    })
                };
                let opt = |d: Option<Dur>| d.map(|d| d.0.as_secs_f64() * 1e3);
                let dist = match r.dist.as_str() {
                    "fixed" => Dist::Fixed {
                        value: ms(r.value, "value")?,
                    },
                    "uniform" => Dist::Uniform {
                        min: ms(r.min, "min")?,
                        max: ms(r.max, "max")?,
                    },
                    "normal" => Dist::Normal {
                        mean: ms(r.mean, "mean")?,
                        stddev: ms(r.stddev, "stddev")?,
                        min: opt(r.min),
                        max: opt(r.max),
                    },
                    "lognormal" => Dist::Lognormal {
                        mean: ms(r.mean, "mean")?,
                        stddev: ms(r.stddev, "stddev")?,
                        min: opt(r.min),
                        max: opt(r.max),
                    },
                    other => {
                        return Err(de::Error::custom(format!(
                            "unknown dist `{other}`; use fixed, uniform, normal or lognormal"
                        )))
                    }
                };
                dist.validate().map_err(de::Error::custom)?;
                Ok(DurDist(dist))
            }
        }
        d.deserialize_any(V)
    }
}

/// One problem found in a scenario, located in its file (defined on the bottom floor, where the
/// claims file's problems use it too).
pub use crate::core::problem::Problem;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario {}: {source}", path.display())]
    Io {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid scenario; every problem found is listed.
    #[error("{}", crate::core::problem::list(.0))]
    Invalid(Vec<Problem>),
}

/// A scenario file's text, kept to locate errors found after parsing.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path as given by the user.
    pub path: PathBuf,
    /// File contents.
    pub text: String,
}

impl Source {
    /// Reads a scenario file.
    pub fn read(path: &Path) -> Result<Source, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Source {
            path: path.to_path_buf(),
            text,
        })
    }

    /// Parses the text into a [`ScenarioFile`], with located errors.
    pub fn parse(&self) -> Result<ScenarioFile, ScenarioError> {
        let located = |field: String, inner: toml::de::Error| {
            let (line, column) = inner
                .span()
                .map(|s| self.line_col(s.start))
                .unwrap_or((1, 1));
            let field = if field == "." { String::new() } else { field };
            ScenarioError::Invalid(vec![Problem {
                file: self.path.clone(),
                line,
                column,
                field,
                message: inner.message().trim().to_string(),
            }])
        };
        let de = toml::Deserializer::parse(&self.text).map_err(|e| located(String::new(), e))?;
        serde_path_to_error::deserialize::<_, ScenarioFile>(de).map_err(|e| {
            let field = e.path().to_string();
            located(field, e.into_inner())
        })
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let upto = &self.text[..offset.min(self.text.len())];
        let line = upto.matches('\n').count() + 1;
        let col = upto
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        (line, col)
    }

    /// Locates a dotted field path (`load.rate`, `models[2].target`): the key if present,
    /// else the closest existing parent.
    pub fn locate(&self, field: &str) -> (usize, usize) {
        let Ok(doc) = toml_edit::Document::parse(self.text.as_str()) else {
            return (1, 1);
        };
        let mut item: &toml_edit::Item = doc.as_item();
        let mut best: Option<std::ops::Range<usize>> = None;
        for seg in split_path(field) {
            let next = match seg {
                Seg::Key(k) => {
                    if let Some(t) = item.as_table_like() {
                        if let Some((key, it)) = t.get_key_value(k) {
                            if let Some(sp) = key.span() {
                                best = Some(sp);
                            } else if let Some(sp) = it.span() {
                                best = Some(sp);
                            }
                            Some(it)
                        } else {
                            None
                        }
                    } else {
                        None
                    }
                }
                Seg::Index(i) => {
                    let it = item.get(i);
                    if let Some(it) = it {
                        let sp = it.span().or_else(|| it.as_table().and_then(|t| t.span()));
                        if let Some(sp) = sp {
                            best = Some(sp);
                        }
                    }
                    it
                }
            };
            match next {
                Some(n) => item = n,
                None => break,
            }
        }
        best.map(|r| self.line_col(r.start)).unwrap_or((1, 1))
    }

    /// A located problem for a field path.
    pub fn problem(&self, field: &str, message: impl Into<String>) -> Problem {
        let (line, column) = self.locate(field);
        Problem {
            file: self.path.clone(),
            line,
            column,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Seg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            path: PathBuf::from("s.toml"),
            text: text.to_string(),
        }
    }

    const OK: &str = r#"
name = "t"
[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "m1"
target = "sim"

[[models]]
id = "m2"
target = "nowhere"

[workload]
prompts = ["hi"]
max_tokens = { dist = "uniform", min = 1, max = 5 }

[load]
rate = "5/s"
duration = "2s"
"#;

    #[test]
    fn parses_and_locates_fields() {
        let s = src(OK);
        let f = s.parse().expect("valid");
        assert_eq!(f.models.len(), 2);
        assert_eq!(f.load.rate, Some(Rate(5.0)));
        // models[1].target is on line 13 (1-based; the text starts with a newline).
        assert_eq!(s.locate("models[1].target"), (13, 1));
        assert_eq!(s.locate("load.rate"), (20, 1));
        // A missing key falls back to its parent.
        assert_eq!(s.locate("load.concurrency").0, 19);
    }

    #[test]
    fn unknown_key_is_located_and_named() {
        let s = src(&OK.replace("duration = \"2s\"", "durration = \"2s\""));
        let err = s.parse().expect_err("unknown key");
        let msg = err.to_string();
        assert!(msg.starts_with("s.toml:21:1: load"), "{msg}");
        assert!(msg.contains("durration"), "{msg}");
    }

    #[test]
    fn wrong_unit_is_located() {
        let s = src(&OK.replace("\"5/s\"", "\"5 per second\""));
        let msg = s.parse().expect_err("bad rate").to_string();
        assert!(msg.starts_with("s.toml:20:8: load.rate"), "{msg}");
        assert!(msg.contains("not a rate"), "{msg}");
    }

    #[test]
    fn duration_dist_table() {
        let s = src(&OK.replace(
            "target = \"sim\"\n\n[[models]]",
            "target = \"sim\"\nmock = { ttft = { dist = \"normal\", mean = \"100ms\", stddev = \"10ms\" }, itl = \"20ms\" }\n\n[[models]]",
        ));
        let f = s.parse().expect("valid");
        let m = f.models[0].mock.as_ref().expect("mock");
        assert_eq!(m.itl, Some(DurDist(Dist::fixed(20.0))));
        assert_eq!(
            m.ttft,
            Some(DurDist(Dist::Normal {
                mean: 100.0,
                stddev: 10.0,
                min: None,
                max: None
            }))
        );
    }

    #[test]
    fn client_auto_is_lean_only_where_lean_can_serve_the_target() {
        let auto = ClientKind::default();
        assert_eq!(auto, ClientKind::Auto);
        assert!(auto.uses_lean("http://127.0.0.1:8000/v1", None, false));
        assert!(auto.uses_lean("mock", Some(HttpVersion::Http1), false));
        assert!(auto.uses_lean("http://h/v1", Some(HttpVersion::Auto), false));
        // https speaks HTTP/1.1 through the lean client too, unless HTTP/2 is asked for.
        assert!(auto.uses_lean("https://h/v1", None, false));
        assert!(!auto.uses_lean("https://h/v1", Some(HttpVersion::Http2), false));
        assert!(!auto.uses_lean("https://h/v1", None, true));
        assert!(!auto.uses_lean("http://h/v1", Some(HttpVersion::Http2), false));
        assert!(
            !auto.uses_lean("http://h/v1", None, true),
            "a proxy stays with reqwest"
        );
        assert!(!ClientKind::Reqwest.uses_lean("http://h/v1", None, false));
        assert!(ClientKind::Lean.uses_lean("http://h/v1", None, true));
    }

    #[test]
    fn client_names_old_and_new_parse() {
        for (name, want) in [
            ("auto", ClientKind::Auto),
            ("lean", ClientKind::Lean),
            ("reqwest", ClientKind::Reqwest),
            // The name reqwest had while it was the default keeps its meaning.
            ("default", ClientKind::Reqwest),
        ] {
            let text = OK.replace(
                "base_url = \"mock\"",
                &format!("base_url = \"mock\"\nclient = \"{name}\""),
            );
            let f = src(&text).parse().expect("valid");
            assert_eq!(f.targets[0].client, Some(want), "{name}");
        }
        let bad = OK.replace(
            "base_url = \"mock\"",
            "base_url = \"mock\"\nclient = \"hyper\"",
        );
        assert!(src(&bad).parse().is_err());
    }
}
