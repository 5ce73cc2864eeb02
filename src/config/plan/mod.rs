//! The validated, CLI-free description of a run, built from a [`ScenarioFile`].
//!
//! Every semantic check lives here (a model naming a missing target, weights summing to 0,
//! a negative rate, a missing prompt file …) and reports *all* problems at once, each located
//! in the scenario file. Nothing below `plan` re-validates user input.
//!
//! [`Plan::build`] reads the file section by section, in the file's own order: each section's
//! validator (one module each: targets, models and their mock settings, workload and its
//! prompts, routes, fallback, trace, load, objectives and cost) turns its part of the
//! [`ScenarioFile`] into plan types and reports every problem into one shared collector, which
//! locates each problem's field in the file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::mock::MockConfig;
use crate::config::prices::Price;
use crate::config::scenario::{EndpointKind, ScenarioError, ScenarioFile, Source};
use crate::config::scenario::{GuardKind, MixBy};
use crate::config::schedule::{ArrivalProcess, ConcurrencyProfile, RateProfile};
use crate::config::workload::{Class, PromptSource, Synthetic};
use crate::core::dist::Dist;
use crate::core::record::Outcome;

mod fallback;
mod goals;
mod images;
mod load;
mod mock;
mod models;
mod problems;
mod prompts;
mod quality;
mod routes;
mod targets;
mod tools;
mod trace;
mod workload;

use problems::Problems;
pub use quality::{BaselineFile, Judge, Quality, QualityRun, DEFAULT_ANSWER_CAP_BYTES};

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
    /// Golden-set quality settings and the loaded golden set (`[quality]`).
    pub quality: Option<Quality>,
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
    /// How the key is sent, and the basic-auth credentials taken out of the URL.
    pub auth: Auth,
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
    /// The server's own metrics endpoint, scraped during the run (None: not scraped).
    pub server_metrics: Option<ServerScrape>,
}

/// A target's own Prometheus endpoint and the gauges to keep from it.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerScrape {
    /// The URL without `user:password@`; None: the target's built-in mock (its address is
    /// known once it has started).
    pub url: Option<String>,
    /// User name and password (percent-decoded) from the URL, sent as HTTP basic auth.
    pub basic: Option<(String, String)>,
    /// Gauges kept besides the known ones, by metric name.
    pub gauges: Vec<String>,
}

impl std::fmt::Debug for ServerScrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is never printed, not even in a debug dump of the plan.
        f.debug_struct("ServerScrape")
            .field("url", &self.url)
            .field("basic", &self.basic.as_ref().map(|_| "<redacted>"))
            .field("gauges", &self.gauges)
            .finish()
    }
}

/// How a target's API key is sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AuthStyle {
    /// `Authorization: Bearer KEY`.
    #[default]
    Bearer,
    /// `api-key: KEY` (Azure OpenAI).
    ApiKey,
    /// `NAME: KEY` under a header name of the scenario's choosing.
    Header(String),
}

/// A target's credentials other than the key itself: the key's header style, and the
/// `user:password` of the base URL (taken out of it at validation and sent as HTTP basic auth).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// How the API key (from `api_key_env` / `api_key_file`) is sent.
    pub style: AuthStyle,
    /// User name and password (percent-decoded) from the URL, when it had them.
    pub basic: Option<(String, String)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is never printed, not even in a debug dump of the plan.
        f.debug_struct("Auth")
            .field("style", &self.style)
            .field("basic", &self.basic.as_ref().map(|_| "<redacted>"))
            .finish()
    }
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
    /// The model's tokenizer (o200k_base unless the scenario names one).
    pub tokenizer: crate::config::tokenizer::Tokenizer,
}

/// Request contents.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Endpoint family.
    pub endpoint: EndpointKind,
    /// Streamed or not.
    pub stream: bool,
    /// Inputs per request (`endpoint = "embeddings"`; 1 otherwise).
    pub batch_size: u32,
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
    /// Tools offered in every chat request (`tools`, `tool_choice`).
    pub tools: Option<crate::config::tools::Tools>,
    /// Synthetic images in every chat request whose prompt has none of its own.
    pub images: Vec<std::sync::Arc<crate::config::images::Image>>,
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
    ///
    /// Sections are read in a fixed order (name, targets, prices, models, workload, routes,
    /// fallback, trace, load, objectives, cost, sweep, quality), and so are the problems
    /// reported.
    pub fn build(src: &Source, f: ScenarioFile) -> Result<Plan, ScenarioError> {
        let mut p = Problems::new(src);
        let dir = src
            .path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .to_path_buf();
        if f.name.trim().is_empty() {
            p.push("name", "must not be empty");
        }
        let (mut targets, target_index) = targets::build(&f.targets, &dir, &mut p);
        let catalog = models::catalog(f.prices.as_deref(), &dir, &mut p);
        let mut models = models::build(&f, &target_index, &catalog, &mut targets, &dir, &mut p);
        let mut workload = workload::build(&f, &dir, &models, &mut p);
        workload.routes = routes::build(&f.routes, &models, &workload.classes, &mut p);
        workload.fallback = f
            .fallback
            .as_ref()
            .map(|fb| fallback::build(fb, &models, &mut p));
        let trace = trace::build(&f, &dir, &models, &workload, &mut p);
        let load = load::build(&f.load, trace, &mut p);
        let slo = goals::slo(&f, &mut models);
        let daily_requests = goals::daily_requests(&f, &mut p);
        let sweep = crate::config::sweep::SweepSettings::from_spec(
            f.sweep.as_ref(),
            &mut |field: &str, message: String| p.push(field, message),
        );
        let quality = quality::build(
            f.quality.as_ref(),
            workload.endpoint,
            &dir,
            (&models, &targets),
            &mut p,
        )
        .map(|q| q.with_judge_price(&models, &catalog));
        p.into_result()?;
        let load = load.expect("a load is built whenever no problem was recorded");
        Ok(Plan {
            name: f.name.clone(),
            description: f.description.clone(),
            seed: f.seed,
            scenario_path: src.path.clone(),
            scenario_sha256: crate::core::hex::encode(&Sha256::digest(src.text.as_bytes())),
            targets,
            models,
            workload,
            load,
            slo,
            daily_requests,
            sweep,
            overrides: Vec::new(),
            quality,
        })
    }
}

/// Helpers for the section validators' tests.
#[cfg(test)]
mod testkit {
    use crate::config::scenario::{Problem, ScenarioFile, Source};

    /// A scenario file named `scenario.toml` holding `text`, and its parse.
    pub(super) fn scenario(text: &str) -> (Source, ScenarioFile) {
        let src = Source {
            path: "scenario.toml".into(),
            text: text.to_string(),
        };
        let file = src.parse().expect("the test scenario parses");
        (src, file)
    }

    /// `(field, message)` of each problem, in order.
    pub(super) fn fields(found: &[Problem]) -> Vec<(&str, &str)> {
        found
            .iter()
            .map(|p| (p.field.as_str(), p.message.as_str()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::scenario;
    use super::*;

    #[test]
    fn problems_come_section_by_section_each_with_its_line() {
        let text = "name = \"\"\n\
            [[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
            [[models]]\nid = \"a\"\ntarget = \"nope\"\n\
            [[routes]]\nmodel = \"zz\"\n\
            [workload]\nprompts = []\n\
            [load]\nconcurrency = 0\nrequests = 1\n\
            [cost]\ndaily_requests = -1\n\
            [sweep]\nsteps = 0\n";
        let (src, f) = scenario(text);
        let Err(ScenarioError::Invalid(found)) = Plan::build(&src, f) else {
            panic!("the scenario is invalid");
        };
        let shown: Vec<String> = found.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "scenario.toml:1:1: name: must not be empty",
                "scenario.toml:7:1: models[0].target: no target named `nope`; targets are: sim",
                "scenario.toml:11:1: workload.prompts: the prompt list is empty",
                "scenario.toml:9:1: routes[0].model: no model `zz`; models are: a",
                "scenario.toml:13:1: load.concurrency: must be at least 1",
                "scenario.toml:16:1: cost.daily_requests: must be a positive number",
                "scenario.toml:18:1: sweep.steps: must be between 1 and 100",
            ]
        );
    }

    #[test]
    fn a_valid_scenario_builds_a_plan_recording_its_own_hash() {
        let text = "name = \"t\"\nseed = 3\n\
            [[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
            [[models]]\nid = \"a\"\ntarget = \"sim\"\n\
            [workload]\nprompts = [\"hi\"]\n[load]\nconcurrency = 1\nrequests = 1\n";
        let (src, f) = scenario(text);
        let plan = Plan::build(&src, f).expect("valid");
        assert_eq!((plan.name.as_str(), plan.seed), ("t", 3));
        // `sha256sum` of the text above.
        assert_eq!(
            plan.scenario_sha256,
            "a185c29acd984bc02c5b69ce6967f11d60a04748e564b672e5f5d20a7d824d06"
        );
        assert_eq!(plan.models[0].target, 0);
        assert!(plan.workload.routes.is_empty() && plan.workload.fallback.is_none());
        assert!(plan.overrides.is_empty());
    }
}
