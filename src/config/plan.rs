//! The validated, CLI-free description of a run, built from a [`ScenarioFile`].
//!
//! Every semantic check lives here (a model naming a missing target, weights summing to 0,
//! a negative rate, a missing prompt file …) and reports *all* problems at once, each located
//! in the scenario file. Nothing below `plan` re-validates user input.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::mock::{Faults, MockConfig, MockModel};
use crate::config::prices::Price;
use crate::config::scenario::{
    ArrivalKind, EndpointKind, ModelSpec, OnFullKind, Problem, ScenarioError, ScenarioFile, Source,
};
use crate::config::scenario::{GuardKind, MixBy, PromptsSpec as PS};
use crate::config::schedule::{
    ArrivalProcess, ConcurrencyProfile, ConcurrencyStage, RateProfile, RateSegment,
};
use crate::config::synth::Synth;
use crate::config::tokens::Encoding;
use crate::config::workload::{self, Class, Prompt, PromptSource, Synthetic};
use crate::core::dist::Dist;
use crate::core::record::Outcome;

/// Default in-flight cap for open-loop runs that set none: high enough not to shape a
/// realistic test, low enough not to exhaust file descriptors by accident.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 4096;

/// A validated run description.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Scenario name.
    pub name: String,
    /// Scenario description.
    pub description: Option<String>,
    /// Generator seed.
    pub seed: u64,
    /// Scenario file path as given.
    pub scenario_path: PathBuf,
    /// SHA-256 of the effective scenario's bytes (hex): the file as written, or with the
    /// `--set` overrides applied.
    pub scenario_sha256: String,
    /// Endpoints.
    pub targets: Vec<Target>,
    /// Models.
    pub models: Vec<Model>,
    /// Request contents.
    pub workload: Workload,
    /// Load shape and run length.
    pub load: Load,
    /// Per-request objectives.
    pub slo: Slo,
    /// Requests per day for the cost projection (None: the measured rate).
    pub daily_requests: Option<f64>,
    /// Capacity sweep settings.
    pub sweep: crate::config::sweep::SweepSettings,
    /// The `--set KEY=VALUE` overrides applied to the scenario file (applied by the `overrides` module).
    pub overrides: Vec<String>,
}

/// Where a target's requests go.
#[derive(Debug, Clone)]
pub enum Base {
    /// The built-in simulator, started in-process on 127.0.0.1:0.
    Mock(Box<MockConfig>),
    /// A real base URL, without a trailing slash.
    Url(String),
}

/// One endpoint.
#[derive(Debug, Clone)]
pub struct Target {
    /// Name.
    pub name: String,
    /// Where to send.
    pub base: Base,
    /// Environment variable holding the API key.
    pub api_key_env: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Extra body fields.
    pub body: serde_json::Map<String, serde_json::Value>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Requests per minute cap.
    pub requests_per_minute: Option<f64>,
    /// Tokens per minute cap.
    pub tokens_per_minute: Option<f64>,
    /// Idle connections kept per host.
    pub pool_max_idle: usize,
    /// HTTP version choice.
    pub http: crate::config::scenario::HttpVersion,
    /// Extra CA certificates (PEM bytes).
    pub ca_bundle: Option<Vec<u8>>,
    /// Accept any certificate (explicit, warned, recorded).
    pub insecure: bool,
    /// File holding the API key.
    pub api_key_file: Option<PathBuf>,
    /// Use the lean HTTP/1.1 transport (resolved from `client`, the URL, `http` and the
    /// environment's proxy settings; see [`crate::config::scenario::ClientKind`]).
    pub lean: bool,
    /// Largest response body accepted (None: the client's default).
    pub max_response_bytes: Option<usize>,
    /// Client back-off on 429 (None: off).
    pub retry_on_429: Option<RetryPolicy>,
}

/// Request timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connect.
    pub connect: Duration,
    /// Send to first output (or to the whole body when not streaming).
    pub first_token: Duration,
    /// Silence between events after the first output.
    pub idle: Duration,
    /// Whole request.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// Client back-off on HTTP 429 (off unless the target sets `retry_on_429`).
///
/// A 429 is sent again after the server's `Retry-After` (or, without one, 250 ms doubling
/// per retry), capped at `max_wait`, at most `max_retries` times and never past the total
/// timeout. Nothing is hidden: the record counts the retries and the time waited, its
/// send time stays the first attempt's, and every latency includes the waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Longest single wait.
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based) given the server's `Retry-After`.
    pub fn wait(&self, retry: u32, retry_after_s: Option<f64>) -> Duration {
        let wanted = match retry_after_s {
            Some(s) if s.is_finite() && s >= 0.0 => {
                Duration::try_from_secs_f64(s).unwrap_or(self.max_wait)
            }
            _ => Duration::from_millis(250).saturating_mul(1u32 << retry.min(16)),
        };
        wanted.min(self.max_wait)
    }
}

/// Route name recorded when no rule matched and the model weights chose.
pub const UNMATCHED_ROUTE: &str = "(no rule: by weight)";

/// One model.
#[derive(Debug, Clone)]
pub struct Model {
    /// Id as sent.
    pub id: String,
    /// Display label.
    pub label: String,
    /// Index into `Plan::targets`.
    pub target: usize,
    /// Traffic weight.
    pub weight: f64,
    /// Price, if known.
    pub price: Option<Price>,
    /// Context window in tokens.
    pub context_window: Option<u64>,
    /// Objectives for this model: the scenario's `[slo]` with the model's own overrides.
    pub slo: Slo,
}

/// Request contents.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Endpoint family.
    pub endpoint: EndpointKind,
    /// Streamed or not.
    pub stream: bool,
    /// Request classes (one named `default` when the scenario declares none).
    pub classes: Vec<Class>,
    /// Each class's share of requests (after converting an input-token mix).
    pub class_weights: Vec<f64>,
    /// Whether the scenario declared classes (the result then breaks down by class).
    pub named_classes: bool,
    /// How the scenario's class weights were meant.
    pub mix_by: MixBy,
    /// Share of requests repeating an earlier request exactly.
    pub repeat_ratio: f64,
    /// Policy for requests that exceed the model's context window.
    pub context_guard: GuardKind,
    /// Multi-turn sessions.
    pub sessions: Option<Sessions>,
    /// Routing rules, first match wins.
    pub routes: Vec<Route>,
    /// Fallback chains.
    pub fallback: Option<Fallback>,
    /// Temperature sent.
    pub temperature: Option<f64>,
    /// `seed` body field sent.
    pub request_seed: Option<u64>,
}

impl Workload {
    /// An upper estimate of one request's tokens (prompt + max_tokens), for quota buckets.
    pub fn largest_request_tokens(&self) -> u32 {
        self.classes
            .iter()
            .map(|c| {
                let sys = c.system.as_ref().map_or(0, |s| s.chars().count() / 4) as f64;
                let prompt = match &c.source {
                    PromptSource::List(ps) => {
                        ps.iter().map(|p| p.chars / 4).max().unwrap_or(0) as f64
                    }
                    PromptSource::Synthetic(s) => s
                        .input_tokens
                        .upper_bound()
                        .unwrap_or(4.0 * s.input_tokens.mean()),
                };
                let out = c.max_tokens.upper_bound().unwrap_or(4096.0);
                (sys + prompt + out).min(u32::MAX as f64) as u32
            })
            .max()
            .unwrap_or(0)
    }

    /// One line per class for `validate` and the run header.
    pub fn describe(&self, models: &[Model]) -> Vec<String> {
        let total: f64 = self.class_weights.iter().sum();
        let mut out: Vec<String> = self
            .classes
            .iter()
            .zip(&self.class_weights)
            .map(|(c, w)| {
                let src = match &c.source {
                    PromptSource::List(ps) => format!("{} prompts", ps.len()),
                    PromptSource::Synthetic(s) => format!(
                        "synthetic prompts of {:.0} tokens on average ({}{})",
                        s.input_tokens.mean(),
                        s.encoding.name(),
                        if s.shared_prefix > 0.0 {
                            format!(", {:.0} % shared prefix", s.shared_prefix * 100.0)
                        } else {
                            String::new()
                        }
                    ),
                };
                let model = c
                    .model
                    .map(|m| format!(" → {}", models[m].label))
                    .unwrap_or_default();
                format!(
                    "class {}: {:.1} % of requests, {src}{model}",
                    c.name,
                    100.0 * w / total.max(f64::MIN_POSITIVE)
                )
            })
            .collect();
        for r in &self.routes {
            out.push(format!(
                "route {}: {} → {}",
                r.name,
                r.condition(&self.classes),
                models[r.model].label
            ));
        }
        if let Some(f) = &self.fallback {
            for c in &f.chains {
                let names: Vec<&str> = c.iter().map(|&m| models[m].label.as_str()).collect();
                out.push(format!(
                    "fallback: {} on {}",
                    names.join(" → "),
                    f.on.iter().map(|o| o.name()).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if self.repeat_ratio > 0.0 {
            out.push(format!(
                "{:.0} % of requests repeat an earlier prompt",
                self.repeat_ratio * 100.0
            ));
        }
        if let Some(s) = &self.sessions {
            out.push(format!(
                "sessions of {:.1} turns on average, think time {:.0} ms on average",
                s.turns.mean(),
                s.think_ms.mean()
            ));
        }
        out
    }
}

/// Multi-turn session settings.
#[derive(Debug, Clone)]
pub struct Sessions {
    /// Turns per session.
    pub turns: Dist,
    /// Think time between turns (ms).
    pub think_ms: Dist,
}

/// One routing rule.
#[derive(Debug, Clone)]
pub struct Route {
    /// Name in the result.
    pub name: String,
    /// Matches prompts shorter than this many characters.
    pub chars_below: Option<u64>,
    /// Matches prompts longer than this many characters.
    pub chars_above: Option<u64>,
    /// Matches this class only.
    pub class: Option<usize>,
    /// Model index.
    pub model: usize,
}

impl Route {
    /// Whether the rule matches a request of `class` with a `chars`-character prompt.
    pub fn matches(&self, class: usize, chars: usize) -> bool {
        let c = chars as u64;
        self.class.is_none_or(|k| k == class)
            && self.chars_below.is_none_or(|b| c < b)
            && self.chars_above.is_none_or(|a| c > a)
    }

    /// The rule's condition in words ("class x, < 200 chars"; "every other request").
    pub fn condition(&self, classes: &[Class]) -> String {
        let mut cond = Vec::new();
        if let Some(c) = self.class {
            cond.push(format!("class {}", classes[c].name));
        }
        if let Some(b) = self.chars_below {
            cond.push(format!("< {b} chars"));
        }
        if let Some(a) = self.chars_above {
            cond.push(format!("> {a} chars"));
        }
        if cond.is_empty() {
            "every other request".to_string()
        } else {
            cond.join(", ")
        }
    }

    fn unconditional(&self) -> bool {
        self.class.is_none() && self.chars_below.is_none() && self.chars_above.is_none()
    }
}

/// Fallback chains.
#[derive(Debug, Clone)]
pub struct Fallback {
    /// Chains of model indexes.
    pub chains: Vec<Vec<usize>>,
    /// The next model after each model (indexed like the plan's models).
    pub next: Vec<Option<usize>>,
    /// Outcomes that trigger a fallback.
    pub on: Vec<Outcome>,
}

/// Open or closed loop.
#[derive(Debug, Clone)]
pub enum Shape {
    /// Arrivals at computed times, independent of responses.
    Open {
        /// Gap process.
        arrival: ArrivalProcess,
        /// Rate over time.
        profile: RateProfile,
    },
    /// Workers that send their next request when the last one ends.
    Closed {
        /// Concurrency over time.
        profile: ConcurrencyProfile,
    },
    /// Arrivals at a recorded trace's (scaled) times.
    Trace(Arc<Trace>),
}

/// A trace to replay.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The file, resolved.
    pub path: PathBuf,
    /// Time multiplier applied to the offsets below.
    pub time_scale: f64,
    /// Requests in time order, offsets already scaled.
    pub entries: Vec<TraceItem>,
    /// How trace prompts are generated.
    pub synth: Synthetic,
}

/// One traced request.
#[derive(Debug, Clone, Copy)]
pub struct TraceItem {
    /// Scaled offset from the start.
    pub t: Duration,
    /// Prompt tokens.
    pub input_tokens: u32,
    /// `max_tokens`.
    pub output_tokens: u32,
    /// Model index, when the trace names one.
    pub model: Option<usize>,
}

/// What an open-loop arrival does at a full in-flight cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFull {
    /// Wait (queue time).
    Queue,
    /// Drop and count.
    Drop,
}

/// Load shape and run length.
#[derive(Debug, Clone)]
pub struct Load {
    /// Open or closed.
    pub shape: Shape,
    /// In-flight cap.
    pub max_in_flight: u32,
    /// Policy at the cap.
    pub on_full: OnFull,
    /// Excluded start.
    pub warmup: Duration,
    /// Measurement window length; None when the run is bounded by `requests` only.
    pub duration: Option<Duration>,
    /// Arrival count bound.
    pub requests: Option<u64>,
    /// Excluded end.
    pub cooldown: Duration,
    /// Time allowed for in-flight requests after sending stops.
    pub drain_timeout: Duration,
}

impl Load {
    /// When sending stops (None: only the request count ends it).
    pub fn send_end(&self) -> Option<Duration> {
        self.duration.map(|d| self.warmup + d + self.cooldown)
    }
}

/// Per-request objectives.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Slo {
    /// TTFT bound (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// TTFT (answer) bound (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_answer_ms: Option<f64>,
    /// TPOT bound (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpot_ms: Option<f64>,
    /// E2E bound (ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e2e_ms: Option<f64>,
}

impl Slo {
    /// Whether any objective is set.
    pub fn is_set(&self) -> bool {
        self.ttft_ms.is_some()
            || self.ttft_answer_ms.is_some()
            || self.tpot_ms.is_some()
            || self.e2e_ms.is_some()
    }
}

impl Plan {
    /// Reads, parses and validates a scenario file.
    pub fn load(path: &Path) -> Result<Plan, ScenarioError> {
        let src = Source::read(path)?;
        let file = src.parse()?;
        Plan::build(&src, file)
    }

    /// Validates a parsed scenario, reporting every problem found.
    pub fn build(src: &Source, f: ScenarioFile) -> Result<Plan, ScenarioError> {
        let mut problems: Vec<Problem> = Vec::new();
        let mut bad = |field: &str, msg: String| problems.push(src.problem(field, msg));

        if f.name.trim().is_empty() {
            bad("name", "must not be empty".into());
        }

        // Targets.
        let mut target_index: HashMap<&str, usize> = HashMap::new();
        if f.targets.is_empty() {
            bad("targets", "at least one [[targets]] entry is needed".into());
        }
        let mut targets = Vec::new();
        for (i, t) in f.targets.iter().enumerate() {
            let at = |k: &str| format!("targets[{i}].{k}");
            if target_index.insert(t.name.as_str(), i).is_some() {
                bad(
                    &at("name"),
                    format!("target name `{}` is used twice", t.name),
                );
            }
            let base = if t.base_url == "mock" {
                Base::Mock(Box::default())
            } else if t.base_url.starts_with("http://") || t.base_url.starts_with("https://") {
                match reqwest::Url::parse(&t.base_url) {
                    Ok(_) => Base::Url(t.base_url.trim_end_matches('/').to_string()),
                    Err(e) => {
                        bad(&at("base_url"), format!("not a valid URL: {e}"));
                        Base::Url(String::new())
                    }
                }
            } else {
                bad(
                    &at("base_url"),
                    format!(
                        "`{}` is neither \"mock\" nor an http(s):// URL such as \"https://api.example.com/v1\"",
                        t.base_url
                    ),
                );
                Base::Url(String::new())
            };
            if let Some(env) = &t.api_key_env {
                if env.is_empty() || !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    bad(
                        &at("api_key_env"),
                        "must be the NAME of an environment variable (letters, digits, _), never the key itself".into(),
                    );
                }
            }
            let mut headers = Vec::new();
            for (k, v) in &t.headers {
                if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err() {
                    bad(
                        &at(&format!("headers.{k}")),
                        "not a valid HTTP header name".into(),
                    );
                } else if reqwest::header::HeaderValue::from_str(v).is_err() {
                    bad(
                        &at(&format!("headers.{k}")),
                        "not a valid HTTP header value".into(),
                    );
                } else {
                    if k.eq_ignore_ascii_case("authorization") {
                        bad(
                            &at(&format!("headers.{k}")),
                            "put credentials in the environment and name it with api_key_env"
                                .into(),
                        );
                    }
                    headers.push((k.clone(), v.clone()));
                }
            }
            let body = match serde_json::to_value(&t.body) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => {
                    bad(
                        &at("body"),
                        "must be a table of JSON-compatible values".into(),
                    );
                    serde_json::Map::new()
                }
            };
            for reserved in [
                "model",
                "messages",
                "prompt",
                "stream",
                "stream_options",
                "max_tokens",
                "temperature",
                "seed",
            ] {
                if body.contains_key(reserved) {
                    bad(
                        &at(&format!("body.{reserved}")),
                        format!("`{reserved}` is set by llmload itself (from [workload]); it cannot be overridden here"),
                    );
                }
            }
            let dir = src.path.parent().unwrap_or_else(|| Path::new("."));
            let ca_bundle = match &t.tls.ca_bundle {
                Some(f) => match std::fs::read(dir.join(f)) {
                    Ok(b)
                        if String::from_utf8_lossy(&b).contains("-----BEGIN CERTIFICATE-----") =>
                    {
                        Some(b)
                    }
                    Ok(_) => {
                        bad(
                            &at("tls.ca_bundle"),
                            format!("`{f}` holds no PEM certificate"),
                        );
                        None
                    }
                    Err(e) => {
                        bad(&at("tls.ca_bundle"), format!("cannot read `{f}`: {e}"));
                        None
                    }
                },
                None => None,
            };
            let api_key_file = t.api_key_file.as_ref().map(|f| dir.join(f));
            if t.api_key_file.is_some() && t.api_key_env.is_some() {
                bad(
                    &at("api_key_file"),
                    "give `api_key_env` or `api_key_file`, not both".into(),
                );
            }
            let explicit_lean = t.client == Some(crate::config::scenario::ClientKind::Lean);
            let lean = t.client.unwrap_or_default().uses_lean(
                &t.base_url,
                t.http,
                crate::config::scenario::http_proxy_in_env(),
            );
            if explicit_lean && t.base_url.starts_with("https://") {
                bad(
                    &at("client"),
                    "the lean client speaks plain http:// only; use `client = \"reqwest\"` (or leave `client` out) for https"
                        .into(),
                );
            }
            if explicit_lean && t.http == Some(crate::config::scenario::HttpVersion::Http2) {
                bad(
                    &at("client"),
                    "the lean client speaks HTTP/1.1 only; drop `http = \"2\"`".into(),
                );
            }
            let mut timeouts = Timeouts::default();
            let spec = &t.timeouts;
            for (name, v, slot) in [
                ("connect", spec.connect, &mut timeouts.connect),
                ("first_token", spec.first_token, &mut timeouts.first_token),
                ("idle", spec.idle, &mut timeouts.idle),
                ("total", spec.total, &mut timeouts.total),
            ] {
                if let Some(d) = v {
                    if d.0.is_zero() {
                        bad(
                            &at(&format!("timeouts.{name}")),
                            "must be greater than 0".into(),
                        );
                    }
                    *slot = d.0;
                }
            }
            for (name, v) in [
                ("requests_per_minute", t.limits.requests_per_minute),
                ("tokens_per_minute", t.limits.tokens_per_minute),
            ] {
                if let Some(v) = v {
                    if !(v.is_finite() && v >= 1.0) {
                        bad(
                            &at(&format!("limits.{name}")),
                            "must be a number ≥ 1".into(),
                        );
                    }
                }
            }
            if t.max_response_bytes.is_some_and(|n| n < 1024) {
                bad(&at("max_response_bytes"), "must be at least 1024".into());
            }
            let retry_on_429 = t.retry_on_429.as_ref().map(|r| {
                if !(1..=100).contains(&r.max_retries) {
                    bad(
                        &at("retry_on_429.max_retries"),
                        "must be between 1 and 100".into(),
                    );
                }
                let max_wait = r.max_wait.map_or(Duration::from_secs(5), |d| d.0);
                if max_wait.is_zero() {
                    bad(
                        &at("retry_on_429.max_wait"),
                        "must be greater than 0".into(),
                    );
                }
                RetryPolicy {
                    max_retries: r.max_retries,
                    max_wait,
                }
            });
            targets.push(Target {
                name: t.name.clone(),
                base,
                api_key_env: t.api_key_env.clone(),
                headers,
                body,
                timeouts,
                requests_per_minute: t.limits.requests_per_minute,
                tokens_per_minute: t.limits.tokens_per_minute,
                pool_max_idle: t.pool_max_idle.unwrap_or(usize::MAX),
                http: t.http.unwrap_or_default(),
                ca_bundle,
                insecure: t.tls.insecure,
                api_key_file,
                lean,
                max_response_bytes: t
                    .max_response_bytes
                    .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
                retry_on_429,
            });
        }

        // Prices: the built-in catalog, with the scenario's own price file over it.
        let catalog = {
            let dir = src.path.parent().unwrap_or_else(|| Path::new("."));
            let user = f.prices.as_ref().map(|p| dir.join(p));
            match crate::config::prices::Catalog::builtin_with(user.as_deref()) {
                Ok(c) => c,
                Err(e) => {
                    bad("prices", e.to_string());
                    crate::config::prices::Catalog::builtin()
                }
            }
        };
        // Models.
        if f.models.is_empty() {
            bad("models", "at least one [[models]] entry is needed".into());
        }
        let mut models = Vec::new();
        let mut seen: HashMap<(String, String), usize> = HashMap::new();
        let mut mock_models: BTreeMap<usize, Vec<(String, MockModel)>> = BTreeMap::new();
        for (i, m) in f.models.iter().enumerate() {
            let at = |k: &str| format!("models[{i}].{k}");
            let target = match target_index.get(m.target.as_str()) {
                Some(&t) => t,
                None => {
                    let names: Vec<&str> = f.targets.iter().map(|t| t.name.as_str()).collect();
                    bad(
                        &at("target"),
                        format!(
                            "no target named `{}`; targets are: {}",
                            m.target,
                            names.join(", ")
                        ),
                    );
                    0
                }
            };
            if seen.insert((m.id.clone(), m.target.clone()), i).is_some() {
                bad(
                    &at("id"),
                    format!("model `{}` on target `{}` is listed twice", m.id, m.target),
                );
            }
            if !(m.weight.is_finite() && m.weight >= 0.0) {
                bad(&at("weight"), "must be a finite number ≥ 0".into());
            }
            if let Some(p) = &m.price {
                for (name, v) in [
                    ("input_per_m", Some(p.input_per_m)),
                    ("output_per_m", Some(p.output_per_m)),
                    ("cached_input_per_m", p.cached_input_per_m),
                ] {
                    if let Some(v) = v {
                        if !(v.is_finite() && v >= 0.0) {
                            bad(
                                &at(&format!("price.{name}")),
                                "must be a finite number ≥ 0 (USD per million tokens)".into(),
                            );
                        }
                    }
                }
            }
            if m.context_window == Some(0) {
                bad(&at("context_window"), "must be greater than 0".into());
            }
            if let Some(t) = f.targets.get(target) {
                if t.base_url == "mock" {
                    match mock_model(m) {
                        Ok(mm) => mock_models
                            .entry(target)
                            .or_default()
                            .push((m.id.clone(), mm)),
                        Err((field, msg)) => bad(&at(&format!("mock.{field}")), msg),
                    }
                }
            }
            // A scenario's own price and window win; otherwise the catalog's, by id or label.
            let listed = catalog
                .lookup(&m.id)
                .or_else(|| m.label.as_deref().and_then(|l| catalog.lookup(l)));
            models.push(Model {
                id: m.id.clone(),
                label: m.label.clone().unwrap_or_else(|| m.id.clone()),
                target,
                weight: m.weight,
                price: m
                    .price
                    .as_ref()
                    .map(|p| Price {
                        input_per_m: p.input_per_m,
                        output_per_m: p.output_per_m,
                        cached_input_per_m: p.cached_input_per_m,
                    })
                    .or_else(|| listed.map(|e| e.price)),
                context_window: m
                    .context_window
                    .or_else(|| listed.and_then(|e| e.context_window)),
                slo: Slo::default(),
            });
        }
        if !models.is_empty() && models.iter().map(|m| m.weight).sum::<f64>() <= 0.0 {
            bad(
                "models[0].weight",
                "the models' weights sum to 0: no request could be sent".into(),
            );
        }
        for (t, list) in mock_models {
            if let Some(Target {
                base: Base::Mock(cfg),
                ..
            }) = targets.get_mut(t)
            {
                cfg.seed = f.seed;
                cfg.models = list.into_iter().collect();
            }
        }

        // Workload.
        let w = &f.workload;
        let dir = src
            .path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .to_path_buf();
        let default_max = w
            .max_tokens
            .as_ref()
            .map(|d| d.0.clone())
            .unwrap_or(Dist::fixed(128.0));
        if default_max.upper_bound().is_some_and(|v| v < 1.0) || default_max.mean() < 1.0 {
            bad("workload.max_tokens", "must be at least 1".into());
        }
        if let Some(t) = w.temperature {
            if !(0.0..=2.0).contains(&t) {
                bad("workload.temperature", "must be between 0 and 2".into());
            }
        }
        let chat = w.endpoint == EndpointKind::Chat;
        if w.system.is_some() && !chat {
            bad(
                "workload.system",
                "a system prompt applies to endpoint = \"chat\" only".into(),
            );
        }
        let model_by_name = |name: &str| -> Result<usize, String> {
            let by_label: Vec<usize> = (0..models.len())
                .filter(|&i| models[i].label == name)
                .collect();
            if by_label.len() == 1 {
                return Ok(by_label[0]);
            }
            let by_id: Vec<usize> = (0..models.len())
                .filter(|&i| models[i].id == name)
                .collect();
            match by_id.len() {
                1 => Ok(by_id[0]),
                0 => Err(format!(
                    "no model `{name}`; models are: {}",
                    models.iter().map(|m| m.label.as_str()).collect::<Vec<_>>().join(", ")
                )),
                _ => Err(format!(
                    "`{name}` is the id of several models (on different targets); give each a distinct `label` and use it here"
                )),
            }
        };
        let mut classes: Vec<Class> = Vec::new();
        let mut class_weights = Vec::new();
        let named_classes = !w.classes.is_empty();
        if named_classes {
            if w.prompts.is_some() {
                bad(
                    "workload.prompts",
                    "with [[workload.classes]], each class gives its own `prompts`".into(),
                );
            }
            let mut names = std::collections::HashSet::new();
            for (i, c) in w.classes.iter().enumerate() {
                let at = |k: &str| format!("workload.classes[{i}].{k}");
                if c.name.trim().is_empty() {
                    bad(&at("name"), "must not be empty".into());
                } else if !names.insert(c.name.as_str()) {
                    bad(&at("name"), format!("class `{}` is declared twice", c.name));
                }
                if !(c.weight.is_finite() && c.weight >= 0.0) {
                    bad(&at("weight"), "must be a finite number ≥ 0".into());
                }
                let model = match &c.model {
                    Some(m) => match model_by_name(m) {
                        Ok(i) => Some(i),
                        Err(e) => {
                            bad(&at("model"), e);
                            None
                        }
                    },
                    None => None,
                };
                let max_tokens = match &c.max_tokens {
                    Some(d) => {
                        if d.0.upper_bound().is_some_and(|v| v < 1.0) || d.0.mean() < 1.0 {
                            bad(&at("max_tokens"), "must be at least 1".into());
                        }
                        d.0.clone()
                    }
                    None => default_max.clone(),
                };
                if c.system.is_some() && !chat {
                    bad(
                        &at("system"),
                        "a system prompt applies to endpoint = \"chat\" only".into(),
                    );
                }
                let source =
                    prompt_source(&c.prompts, &dir, f.seed, i as u64, &at("prompts"), &mut bad);
                classes.push(Class {
                    name: c.name.clone(),
                    source,
                    max_tokens,
                    system: c.system.clone().or_else(|| w.system.clone()),
                    model,
                });
                class_weights.push(c.weight);
            }
            if class_weights.iter().sum::<f64>() <= 0.0 {
                bad(
                    "workload.classes[0].weight",
                    "the classes' weights sum to 0: no request could be sent".into(),
                );
            }
        } else {
            let source = match (&w.prompts, &f.load.trace) {
                (Some(p), _) => prompt_source(p, &dir, f.seed, 0, "workload.prompts", &mut bad),
                (None, Some(_)) => PromptSource::List(vec![Prompt::text("")]),
                (None, None) => {
                    bad(
                        "workload.prompts",
                        "give `prompts` (a list, { file = … }, { sharegpt = … } or { synthetic = … }) or [[workload.classes]]".into(),
                    );
                    PromptSource::List(Vec::new())
                }
            };
            classes.push(Class {
                name: "default".into(),
                source,
                max_tokens: default_max.clone(),
                system: w.system.clone(),
                model: None,
            });
            class_weights.push(1.0);
        }
        let mix_by = w.mix_by.unwrap_or_default();
        if mix_by == MixBy::InputTokens {
            if !named_classes {
                bad(
                    "workload.mix_by",
                    "`mix_by` applies to [[workload.classes]]".into(),
                );
            } else {
                // A class's share of requests is its share of input tokens divided by its
                // mean prompt size.
                for (c, wgt) in classes.iter().zip(class_weights.iter_mut()) {
                    let mean = mean_prompt_tokens(c);
                    *wgt = if mean > 0.0 { *wgt / mean } else { 0.0 };
                }
            }
        }
        let repeat_ratio = w.repeat_ratio.unwrap_or(0.0);
        if !(0.0..1.0).contains(&repeat_ratio) {
            bad(
                "workload.repeat_ratio",
                "must be at least 0 and below 1 (a share of requests)".into(),
            );
        }
        let sessions = w.sessions.as_ref().map(|ss| {
            if ss.turns.0.mean() < 1.0 {
                bad("workload.sessions.turns", "must be at least 1".into());
            }
            if !chat {
                bad(
                    "workload.sessions",
                    "multi-turn sessions need endpoint = \"chat\"".into(),
                );
            }
            Sessions {
                turns: ss.turns.0.clone(),
                think_ms: ss
                    .think_time
                    .as_ref()
                    .map(|d| d.0.clone())
                    .unwrap_or(Dist::fixed(0.0)),
            }
        });
        if sessions.is_some() && repeat_ratio > 0.0 {
            bad(
                "workload.repeat_ratio",
                "repeats apply to single requests, not to multi-turn sessions".into(),
            );
        }
        let mut routes = Vec::new();
        for (i, r) in f.routes.iter().enumerate() {
            let at = |k: &str| format!("routes[{i}].{k}");
            let model = match model_by_name(&r.model) {
                Ok(m) => m,
                Err(e) => {
                    bad(&at("model"), e);
                    0
                }
            };
            let class = r.class.as_ref().and_then(|c| {
                let k = classes.iter().position(|x| &x.name == c);
                if k.is_none() {
                    bad(
                        &at("class"),
                        format!(
                            "no class `{c}`; classes are: {}",
                            classes
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
                k
            });
            if let (Some(b), Some(a)) = (r.chars_below, r.chars_above) {
                if b <= a.saturating_add(1) {
                    bad(
                        &at("chars_below"),
                        format!("no prompt is both shorter than {b} and longer than {a} characters: the rule can match nothing"),
                    );
                }
            }
            if r.chars_below == Some(0) {
                bad(
                    &at("chars_below"),
                    "no prompt is shorter than 0 characters: the rule can match nothing".into(),
                );
            }
            let route = Route {
                name: r.name.clone().unwrap_or_else(|| format!("route{i}")),
                chars_below: r.chars_below,
                chars_above: r.chars_above,
                class,
                model,
            };
            if let Some(j) = routes.iter().position(|x: &Route| x.unconditional()) {
                bad(
                    &at("model"),
                    format!("the rule can never match: routes[{j}] before it has no condition and takes every request"),
                );
            }
            if let Some(k) = class {
                if classes.get(k).is_some_and(|c| c.model.is_some()) {
                    bad(
                        &at("class"),
                        format!(
                            "class `{}` names its own model, so no route applies to it",
                            classes[k].name
                        ),
                    );
                }
            }
            routes.push(route);
        }
        let fallback = f.fallback.as_ref().map(|fb| {
            let mut chains = Vec::new();
            let mut next: Vec<Option<usize>> = vec![None; models.len()];
            if fb.chains.is_empty() {
                bad("fallback.chains", "give at least one chain of two or more models".into());
            }
            for (ci, chain) in fb.chains.iter().enumerate() {
                if chain.len() < 2 {
                    bad(
                        &format!("fallback.chains[{ci}]"),
                        "a chain needs at least two models".into(),
                    );
                }
                let mut idx = Vec::new();
                for (k, name) in chain.iter().enumerate() {
                    match model_by_name(name) {
                        Ok(m) => {
                            if idx.contains(&m) {
                                bad(&format!("fallback.chains[{ci}][{k}]"), format!("`{name}` appears twice in the chain"));
                            }
                            idx.push(m)
                        }
                        Err(e) => bad(&format!("fallback.chains[{ci}][{k}]"), e),
                    }
                }
                for pair in idx.windows(2) {
                    if let Some(prev) = next[pair[0]] {
                        if prev != pair[1] {
                            bad(
                                &format!("fallback.chains[{ci}]"),
                                format!("model `{}` already falls back to `{}` in an earlier chain", models[pair[0]].label, models[prev].label),
                            );
                        }
                    }
                    next[pair[0]] = Some(pair[1]);
                }
                chains.push(idx);
            }
            let names = fb.on.clone().unwrap_or_else(|| {
                vec!["rate_limited".into(), "server_error".into(), "timeout".into()]
            });
            let mut on = Vec::new();
            for (k, n) in names.iter().enumerate() {
                match fallback_outcomes(n) {
                    Some(list) => on.extend(list),
                    None => bad(
                        &format!("fallback.on[{k}]"),
                        format!("`{n}` is not an outcome class; use rate_limited, server_error, timeout, connection, or one of: {}", Outcome::ALL.iter().filter(|o| o.was_sent() && **o != Outcome::Ok).map(|o| o.name()).collect::<Vec<_>>().join(", ")),
                    ),
                }
            }
            on.sort_by_key(|o| o.index());
            on.dedup();
            Fallback { chains, next, on }
        });
        let context_guard = w.context_guard.unwrap_or_default();
        let trace = f.load.trace.as_ref().map(|t| {
            let path = dir.join(t);
            let scale = f.load.time_scale.unwrap_or(1.0);
            if !(scale.is_finite() && scale > 0.0) {
                bad("load.time_scale", "must be greater than 0".into());
            }
            let synth = match classes.first().map(|c| &c.source) {
                Some(PromptSource::Synthetic(s)) => s.clone(),
                _ => synthetic(Encoding::default(), Dist::fixed(1.0), 0.0, f.seed, 0),
            };
            let mut entries = Vec::new();
            match crate::config::datasets::load_trace(&path) {
                Ok(list) => {
                    for (i, e) in list.into_iter().enumerate() {
                        let model = match &e.model {
                            Some(m) => match model_by_name(m) {
                                Ok(k) => Some(k),
                                Err(msg) => {
                                    bad("load.trace", format!("{}:{}: {msg}", path.display(), i + 1));
                                    None
                                }
                            },
                            None => None,
                        };
                        entries.push(TraceItem {
                            t: e.t.mul_f64(scale.max(1e-9)),
                            input_tokens: e.input_tokens,
                            output_tokens: e.output_tokens,
                            model,
                        });
                    }
                }
                Err(e) => bad("load.trace", e.to_string()),
            }
            if named_classes {
                bad("load.trace", "a trace gives each request's lengths and model; it cannot be combined with [[workload.classes]]".into());
            }
            Arc::new(Trace { path, time_scale: scale, entries, synth })
        });
        if f.load.time_scale.is_some() && trace.is_none() {
            bad(
                "load.time_scale",
                "`time_scale` applies to a `trace` replay".into(),
            );
        }

        // Load.
        let load = build_load(&f, trace, &mut bad);
        let slo = f.slo.as_ref().map(slo_ms).unwrap_or_default();
        for (m, spec) in models.iter_mut().zip(&f.models) {
            let own = spec.slo.as_ref().map(slo_ms).unwrap_or_default();
            m.slo = Slo {
                ttft_ms: own.ttft_ms.or(slo.ttft_ms),
                ttft_answer_ms: own.ttft_answer_ms.or(slo.ttft_answer_ms),
                tpot_ms: own.tpot_ms.or(slo.tpot_ms),
                e2e_ms: own.e2e_ms.or(slo.e2e_ms),
            };
        }
        let daily_requests = f.cost.as_ref().and_then(|c| c.daily_requests);
        if let Some(d) = daily_requests {
            if !(d.is_finite() && d > 0.0) {
                bad("cost.daily_requests", "must be a positive number".into());
            }
        }

        let sweep = crate::config::sweep::SweepSettings::from_spec(f.sweep.as_ref(), &mut bad);
        if !problems.is_empty() {
            return Err(ScenarioError::Invalid(problems));
        }
        let load = load.expect("a load is built whenever no problem was recorded");
        Ok(Plan {
            name: f.name.clone(),
            description: f.description.clone(),
            seed: f.seed,
            scenario_path: src.path.clone(),
            scenario_sha256: hex(&Sha256::digest(src.text.as_bytes())),
            targets,
            models,
            workload: Workload {
                endpoint: w.endpoint,
                stream: w.stream,
                classes,
                class_weights,
                named_classes,
                mix_by,
                repeat_ratio,
                context_guard,
                sessions,
                routes,
                fallback,
                temperature: w.temperature,
                request_seed: w.seed,
            },
            load,
            slo,
            daily_requests,
            sweep,
            overrides: Vec::new(),
        })
    }
}

/// Builds one prompt source, reporting problems at `field`.
fn prompt_source(
    spec: &PS,
    dir: &Path,
    seed: u64,
    class: u64,
    field: &str,
    bad: &mut impl FnMut(&str, String),
) -> PromptSource {
    match spec {
        PS::Inline(list) => {
            if list.is_empty() {
                bad(field, "the prompt list is empty".into());
            }
            PromptSource::List(list.iter().map(Prompt::text).collect())
        }
        PS::File { file } => match workload::load_jsonl(&dir.join(file)) {
            Ok(p) => PromptSource::List(p),
            Err(e) => {
                bad(&format!("{field}.file"), e.to_string());
                PromptSource::List(Vec::new())
            }
        },
        PS::Sharegpt { sharegpt } => {
            match crate::config::datasets::load_sharegpt(&dir.join(sharegpt)) {
                Ok(d) => PromptSource::List(d.items.into_iter().map(|i| i.prompt).collect()),
                Err(e) => {
                    bad(&format!("{field}.sharegpt"), e.to_string());
                    PromptSource::List(Vec::new())
                }
            }
        }
        PS::Synthetic { synthetic: s } => {
            let d = &s.input_tokens.0;
            if d.upper_bound().is_some_and(|v| v < 1.0) || d.mean() < 1.0 {
                bad(
                    &format!("{field}.synthetic.input_tokens"),
                    "must be at least 1".into(),
                );
            }
            let prefix = s.shared_prefix.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&prefix) {
                bad(
                    &format!("{field}.synthetic.shared_prefix"),
                    "is a share of the prompt: between 0 and 1".into(),
                );
            }
            PromptSource::Synthetic(synthetic(
                s.tokenizer.unwrap_or_default(),
                d.clone(),
                prefix.clamp(0.0, 1.0),
                seed,
                class,
            ))
        }
    }
}

fn synthetic(
    enc: Encoding,
    input_tokens: Dist,
    shared_prefix: f64,
    seed: u64,
    class: u64,
) -> Synthetic {
    Synthetic {
        synth: Synth::new(enc),
        encoding: enc,
        input_tokens,
        shared_prefix,
        prefix_seed: seed ^ class.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5052_4546_4958,
    }
}

/// A class's mean prompt size in tokens: the tokenizer over a listed source (system prompt
/// included), the sample mean of a synthetic one.
fn mean_prompt_tokens(c: &Class) -> f64 {
    use rand::SeedableRng;
    let sys = c
        .system
        .as_ref()
        .and_then(|s| crate::config::tokens::count(s))
        .unwrap_or(0) as f64;
    match &c.source {
        PromptSource::List(ps) if !ps.is_empty() => {
            let total: u64 = ps
                .iter()
                .map(|p| {
                    crate::config::tokens::count(&p.joined_text()).unwrap_or(p.chars as u64 / 4)
                })
                .sum();
            sys + total as f64 / ps.len() as f64
        }
        PromptSource::List(_) => 0.0,
        PromptSource::Synthetic(s) => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let n = 20_000;
            let sum: f64 = (0..n)
                .map(|_| s.input_tokens.sample(&mut rng).round().max(1.0))
                .sum();
            sys + sum / n as f64
        }
    }
}

/// Outcome classes a `fallback.on` name stands for.
fn fallback_outcomes(name: &str) -> Option<Vec<Outcome>> {
    Some(match name {
        "rate_limited" => vec![Outcome::RateLimited],
        "server_error" => vec![Outcome::Http5xx],
        "timeout" => vec![
            Outcome::TimeoutHeaders,
            Outcome::TimeoutFirstToken,
            Outcome::TimeoutIdle,
            Outcome::TimeoutTotal,
        ],
        "connection" => vec![
            Outcome::Connect,
            Outcome::Tls,
            Outcome::StreamCut,
            Outcome::Incomplete,
        ],
        other => vec![Outcome::from_name(other).filter(|o| o.was_sent() && *o != Outcome::Ok)?],
    })
}

fn slo_ms(s: &crate::config::scenario::SloSpec) -> Slo {
    let ms = |d: Option<crate::config::scenario::Dur>| d.map(|d| d.0.as_secs_f64() * 1e3);
    Slo {
        ttft_ms: ms(s.ttft),
        ttft_answer_ms: ms(s.ttft_answer),
        tpot_ms: ms(s.tpot),
        e2e_ms: ms(s.e2e),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mock_model(m: &ModelSpec) -> Result<MockModel, (&'static str, String)> {
    let mut mm = MockModel::default();
    let Some(spec) = &m.mock else {
        return Ok(mm);
    };
    if let Some(d) = &spec.ttft {
        mm.ttft_ms = d.0.clone();
    }
    mm.ttft_steps = spec
        .ttft_steps
        .iter()
        .map(|s| crate::config::mock::TtftStep {
            after_s: s.after.0.as_secs_f64(),
            ttft_ms: s.ttft.0.clone(),
        })
        .collect();
    match (&spec.itl, spec.tokens_per_s) {
        (Some(_), Some(_)) => {
            return Err((
                "tokens_per_s",
                "give `itl` or `tokens_per_s`, not both".into(),
            ))
        }
        (Some(d), None) => mm.itl_ms = d.0.clone(),
        (None, Some(tps)) => {
            if !(tps.is_finite() && tps > 0.0) {
                return Err(("tokens_per_s", "must be greater than 0".into()));
            }
            // A chunk of k tokens every k/tps seconds keeps the decode speed at tps.
            mm.itl_ms = Dist::fixed(1e3 * spec.tokens_per_chunk.unwrap_or(1).max(1) as f64 / tps);
        }
        (None, None) => {}
    }
    if let Some(d) = &spec.output_tokens {
        mm.output_tokens = Some(d.0.clone());
    }
    if let Some(n) = spec.tokens_per_chunk {
        mm.tokens_per_chunk = n;
    }
    if let Some(n) = spec.reasoning_tokens {
        mm.reasoning_tokens = n;
    }
    if let Some(n) = spec.max_concurrency {
        mm.max_concurrency = Some(n);
    }
    if let Some(f) = &spec.faults {
        let faults = Faults {
            rate_limit: f.rate_limit,
            retry_after_s: f.retry_after.map(|d| d.0.as_secs().max(1) as u32),
            server_error: f.server_error,
            stall: f.stall,
            disconnect: f.disconnect,
            malformed: f.malformed,
            error_event: f.error_event,
            no_headers: f.no_headers,
            html_error: f.html_error,
            wrong_content_type: f.wrong_content_type,
            no_done: f.no_done,
            endless: f.endless,
            invalid_utf8: f.invalid_utf8,
            usage_mismatch: f.usage_mismatch,
            reset: f.reset,
        };
        mm.faults = faults;
    }
    // The mock owns its rules; map its verdict to the scenario field it came from.
    mm.validate(&m.id).map_err(|e| {
        use crate::config::mock::MockConfigError as E;
        let (field, msg) = match &e {
            E::Dist { field, source, .. } => (
                match *field {
                    "ttft_ms" => "ttft",
                    "itl_ms" => "itl",
                    "ttft_steps.ttft_ms" => "ttft_steps.ttft",
                    other => other,
                },
                source.to_string(),
            ),
            E::Probability { field, value, .. } => (
                "faults",
                format!("`{field}` = {value} is a probability and must be between 0 and 1"),
            ),
            E::ProbabilitySum { sum, .. } => (
                "faults",
                format!("the fault probabilities add up to {sum}, more than 1"),
            ),
            E::TokensPerChunk { .. } => ("tokens_per_chunk", "must be at least 1".into()),
            E::MaxConcurrency { .. } => ("max_concurrency", "must be at least 1".into()),
            E::TtftStep { after_s, .. } => (
                "ttft_steps",
                format!("after = {after_s} s must be at least 0"),
            ),
        };
        (field, msg)
    })?;
    Ok(mm)
}

fn build_load(
    f: &ScenarioFile,
    trace: Option<Arc<Trace>>,
    bad: &mut impl FnMut(&str, String),
) -> Option<Load> {
    let l = &f.load;
    let warmup = l.warmup.map(|d| d.0).unwrap_or_default();
    let cooldown = l.cooldown.map(|d| d.0).unwrap_or_default();
    let drain_timeout = l
        .drain_timeout
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(30));
    let kinds = [
        l.concurrency.is_some(),
        l.rate.is_some(),
        l.stages.is_some(),
        trace.is_some(),
    ];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        bad(
            "load",
            "give exactly one of `rate` (open loop), `concurrency` (closed loop), `stages` or `trace`"
                .into(),
        );
        return None;
    }
    if l.requests == Some(0) {
        bad("load.requests", "must be at least 1".into());
    }
    if let Some(d) = l.duration {
        if d.0.is_zero() {
            bad("load.duration", "must be greater than 0".into());
        }
    }
    let mut ok = true;
    let (shape, duration) = if let Some(t) = trace {
        if t.entries.is_empty() {
            return None;
        }
        if l.arrival.is_some() || l.burstiness.is_some() {
            bad(
                "load.arrival",
                "a trace replays its own arrival times; drop `arrival`/`burstiness`".into(),
            );
        }
        (Shape::Trace(t), l.duration.map(|d| d.0))
    } else if let Some(stages) = &l.stages {
        if stages.is_empty() {
            bad("load.stages", "the list is empty".into());
            return None;
        }
        if l.duration.is_some() {
            bad(
                "load.duration",
                "with `stages`, the run length is the stages' total; leave `duration` out".into(),
            );
        }
        let total: Duration = stages.iter().map(|s| s.duration.0).sum();
        if warmup + cooldown >= total {
            bad(
                "load.warmup",
                "warmup + cooldown leave no measurement window inside the stages".into(),
            );
            ok = false;
        }
        let open = stages[0].rate.is_some();
        let mut segs = Vec::new();
        let mut cstages = Vec::new();
        for (i, s) in stages.iter().enumerate() {
            let at = |k: &str| format!("load.stages[{i}].{k}");
            if s.duration.0.is_zero() {
                bad(&at("duration"), "must be greater than 0".into());
                ok = false;
            }
            match (open, s.rate, s.concurrency) {
                (true, Some(r), None) => {
                    if s.concurrency_to.is_some() {
                        bad(
                            &at("concurrency_to"),
                            "an open-loop stage takes `rate` and `rate_to`".into(),
                        );
                        ok = false;
                    }
                    segs.push(RateSegment {
                        duration: Some(s.duration.0),
                        start_rate: r.0,
                        end_rate: s.rate_to.map(|r| r.0).unwrap_or(r.0),
                    });
                }
                (false, None, Some(c)) => {
                    if s.rate_to.is_some() {
                        bad(
                            &at("rate_to"),
                            "a closed-loop stage takes `concurrency` and `concurrency_to`".into(),
                        );
                        ok = false;
                    }
                    cstages.push(ConcurrencyStage {
                        duration: Some(s.duration.0),
                        start: c,
                        end: s.concurrency_to.unwrap_or(c),
                    });
                }
                _ => {
                    bad(
                        &at(if open { "rate" } else { "concurrency" }),
                        "every stage needs the same kind of value as the first: all `rate` or all `concurrency`".into(),
                    );
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        let shape = if open {
            match RateProfile::new(segs) {
                Ok(profile) => Shape::Open {
                    arrival: arrival(l, bad)?,
                    profile,
                },
                Err(e) => {
                    bad("load.stages", e.to_string());
                    return None;
                }
            }
        } else {
            match ConcurrencyProfile::new(cstages) {
                Ok(profile) => Shape::Closed { profile },
                Err(e) => {
                    bad("load.stages", e.to_string());
                    return None;
                }
            }
        };
        (shape, Some(total - warmup - cooldown))
    } else {
        let duration = l.duration.map(|d| d.0);
        if duration.is_none() && l.requests.is_none() {
            bad(
                "load",
                "give `duration` or `requests` (or both) to bound the run".into(),
            );
            return None;
        }
        if duration.is_none() && !cooldown.is_zero() {
            bad(
                "load.cooldown",
                "a cooldown needs `duration`: a run bounded by `requests` has no known end".into(),
            );
        }
        let send = duration.map(|d| warmup + d + cooldown);
        let shape = if let Some(c) = l.concurrency {
            if c == 0 {
                bad("load.concurrency", "must be at least 1".into());
                return None;
            }
            Shape::Closed {
                profile: ConcurrencyProfile::constant(c, send),
            }
        } else {
            let rate = l.rate.map(|r| r.0).unwrap_or_default();
            if rate <= 0.0 {
                bad("load.rate", "must be greater than 0, e.g. \"20/s\"".into());
                return None;
            }
            match RateProfile::constant(rate, send) {
                Ok(profile) => Shape::Open {
                    arrival: arrival(l, bad)?,
                    profile,
                },
                Err(e) => {
                    bad("load.rate", e.to_string());
                    return None;
                }
            }
        };
        (shape, duration)
    };
    if let Shape::Closed { profile } = &shape {
        if profile.max() == 0 {
            bad(
                "load",
                "the concurrency is 0 throughout: no request could be sent".into(),
            );
            return None;
        }
    }
    let closed = matches!(shape, Shape::Closed { .. });
    if closed {
        if l.arrival.is_some() {
            bad(
                "load.arrival",
                "`arrival` applies to open-loop (`rate`) runs only".into(),
            );
        }
        if l.on_full.is_some() {
            bad(
                "load.on_full",
                "`on_full` applies to open-loop runs; a closed loop never exceeds its concurrency"
                    .into(),
            );
        }
    }
    let max_in_flight = match (l.max_in_flight, &shape) {
        (Some(0), _) => {
            bad("load.max_in_flight", "must be at least 1".into());
            return None;
        }
        (Some(n), _) => n,
        (None, Shape::Closed { profile }) => profile.max(),
        (None, Shape::Open { .. } | Shape::Trace(_)) => DEFAULT_MAX_IN_FLIGHT,
    };
    let on_full = match l.on_full {
        Some(OnFullKind::Drop) => OnFull::Drop,
        _ => OnFull::Queue,
    };
    let requests = match &shape {
        Shape::Trace(t) => Some(l.requests.unwrap_or(u64::MAX).min(t.entries.len() as u64)),
        _ => l.requests,
    };
    Some(Load {
        shape,
        max_in_flight,
        on_full,
        warmup,
        duration,
        requests,
        cooldown,
        drain_timeout,
    })
}

fn arrival(
    l: &crate::config::scenario::LoadSpec,
    bad: &mut impl FnMut(&str, String),
) -> Option<ArrivalProcess> {
    let kind = l.arrival.unwrap_or(ArrivalKind::Poisson);
    match (kind, l.burstiness) {
        (ArrivalKind::Gamma, b) => {
            let b = b.unwrap_or(1.0);
            if !(b.is_finite() && b > 0.0) {
                bad(
                    "load.burstiness",
                    "must be greater than 0 (1 = Poisson, < 1 burstier)".into(),
                );
                return None;
            }
            Some(ArrivalProcess::Gamma { burstiness: b })
        }
        (_, Some(_)) => {
            bad(
                "load.burstiness",
                "`burstiness` applies to arrival = \"gamma\" only".into(),
            );
            None
        }
        (ArrivalKind::Constant, None) => Some(ArrivalProcess::Constant),
        (ArrivalKind::Poisson, None) => Some(ArrivalProcess::Poisson),
    }
}
