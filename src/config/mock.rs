//! What the built-in mock server is told to do: its models' latency, output length, capacity
//! and faults, as a scenario (`base_url = "mock"`) or `llmload mock` flags describe them, and
//! the checks on those settings. The server itself is `engine::mock`, on a higher floor.

pub mod answers;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::dist::{Dist, DistError};

/// The model id under which the default model is listed by `GET /v1/models`.
pub const DEFAULT_MODEL_ID: &str = "mock-model";

/// How long a stalled stream stays open before the mock cuts it.
pub const STALL_LIMIT: Duration = Duration::from_secs(120);

/// The whole mock server configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockConfig {
    /// Seeds every per-request random generator (request `n` uses stream `n` of this seed).
    pub seed: u64,
    /// Serves requests for `mock-model`, a missing `model` and any unknown model id.
    pub default_model: MockModel,
    /// Further models by id.
    pub models: HashMap<String, MockModel>,
    /// When set, one JSON line per request is appended to this file.
    pub truth_log: Option<PathBuf>,
}

/// How one simulated model behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockModel {
    /// Delay from request received (or dequeued) to the first generated token, in ms.
    pub ttft_ms: Dist,
    /// Changes of `ttft_ms` over time, for runs whose true TTFT must move at a known moment
    /// (checking a time series). Each step replaces `ttft_ms` for requests received
    /// `after_s` seconds or more after the first request this server received; the latest
    /// step that has begun applies. Empty: `ttft_ms` throughout.
    pub ttft_steps: Vec<TtftStep>,
    /// Delay between consecutive chunks, in ms.
    pub itl_ms: Dist,
    /// Content tokens to generate; `None` means the request's `max_tokens` (or
    /// `max_completion_tokens`), 16 if absent. Always capped by the request's limit.
    pub output_tokens: Option<Dist>,
    /// Tokens per SSE chunk (at least 1); the last chunk of a run may carry fewer.
    pub tokens_per_chunk: u32,
    /// Chat only: tokens sent as `delta.reasoning_content` before the answer. They count
    /// towards `completion_tokens` (and the request's token limit) and are reported in
    /// `usage.completion_tokens_details.reasoning_tokens`.
    pub reasoning_tokens: u32,
    /// Numbers per vector in `/embeddings` answers (at least 1).
    pub embedding_dim: u32,
    /// Share of chat requests offering tools with `tool_choice` `"auto"` (or none) that
    /// the mock answers with a tool call (0..=1; 1 by default). `"required"` and a named
    /// function always get one; `"none"` never does.
    pub tool_call_share: f64,
    /// Requests beyond this many in flight for this model wait before their TTFT clock
    /// starts (a simulated capacity limit).
    pub max_concurrency: Option<u32>,
    /// Injected failures.
    pub faults: Faults,
    /// How `usage.prompt_tokens` is counted.
    pub prompt_tokens: PromptCount,
    /// A simulated account quota, stated on every response in `x-ratelimit-*` headers and
    /// enforced with 429s.
    pub rate_limit: Option<RateLimit>,
    /// What the model answers to known prompts (a scenario's `answers` and `wrong`); None:
    /// generated words for every prompt. Read from its file when the scenario is planned.
    #[serde(skip)]
    pub answers: Option<Arc<answers::MockAnswers>>,
}

/// How the mock counts a request's prompt tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptCount {
    /// A quarter of the prompt's UTF-8 bytes, rounded up, at least 1.
    #[default]
    Bytes,
    /// Whitespace-separated words, plus a template's tokens: for chat, 4 per message and 3
    /// to open the answer; for completions, 1 (a BOS token).
    Words,
}

/// A simulated account quota: budgets per fixed 60 s window, the first window starting when
/// the server starts. Each answered request takes one request and its prompt plus output
/// tokens from the window's budgets; a request that would overdraw either is answered 429
/// with `Retry-After` (the seconds to the window's end, rounded up) and takes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimit {
    /// Requests allowed per window; `None`: no request budget.
    pub requests_per_minute: Option<u64>,
    /// Prompt plus output tokens allowed per window; `None`: no token budget.
    pub tokens_per_minute: Option<u64>,
}

/// One change of a mock model's time to first token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtftStep {
    /// Seconds after the first request the server received from which this step applies.
    pub after_s: f64,
    /// Time to first token from then on, in ms.
    pub ttft_ms: Dist,
}

impl TtftStep {
    /// Parses `AFTER=TTFT` as given to `llmload mock --ttft-step`, e.g. `5s=400ms`.
    pub fn parse(spec: &str) -> Result<TtftStep, String> {
        let (after, ttft) = spec
            .split_once('=')
            .ok_or_else(|| "expected AFTER=TTFT, e.g. 5s=400ms".to_string())?;
        let after =
            crate::core::units::parse_duration(after.trim()).map_err(|e| format!("AFTER: {e}"))?;
        let ttft =
            crate::core::units::parse_duration(ttft.trim()).map_err(|e| format!("TTFT: {e}"))?;
        Ok(TtftStep {
            after_s: after.as_secs_f64(),
            ttft_ms: Dist::fixed(ttft.as_secs_f64() * 1e3),
        })
    }
}

impl MockModel {
    /// The TTFT distribution for a request received `since_first` after the first request
    /// the server received.
    pub fn ttft_at(&self, since_first: Duration) -> &Dist {
        let t = since_first.as_secs_f64();
        self.ttft_steps
            .iter()
            .filter(|s| s.after_s <= t)
            .max_by(|a, b| a.after_s.total_cmp(&b.after_s))
            .map_or(&self.ttft_ms, |s| &s.ttft_ms)
    }
}

/// Fault probabilities, each in `[0, 1]`, drawn once per request; at most one fault
/// happens per request, so their sum must not exceed 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// 429 with a JSON error body (and a `Retry-After` header when `retry_after_s` is set).
    pub rate_limit: f64,
    /// Value of the `Retry-After` header on simulated 429s.
    pub retry_after_s: Option<u32>,
    /// 500 with a JSON error body.
    pub server_error: f64,
    /// The stream sends about half its tokens, then goes silent with the connection
    /// open; the mock cuts it after [`STALL_LIMIT`].
    pub stall: f64,
    /// The stream sends about half its tokens, then the connection is cut abruptly
    /// (no `finish_reason`, no `[DONE]`).
    pub disconnect: f64,
    /// One `data: {not json` event mid-stream; the stream then continues normally.
    pub malformed: f64,
    /// A mid-stream `data: {"error":{...}}` event, then the stream ends without `[DONE]`.
    pub error_event: f64,
    /// The request is read but no status line is ever sent: the connection stays open
    /// and silent until the client gives up (or [`STALL_LIMIT`], then it is cut).
    pub no_headers: f64,
    /// HTTP 503 with a `text/html` body, as a load balancer or proxy sends it.
    pub html_error: f64,
    /// HTTP 200 with the wrong content type: a streaming request gets the whole completion
    /// as `application/json` (a server that ignores `stream: true`); a non-streamed one gets
    /// its JSON body labelled `text/plain`.
    pub wrong_content_type: f64,
    /// The stream ends cleanly after the last token, with no `finish_reason`, no usage and no
    /// `[DONE]`; a non-streamed body is cut cleanly half way.
    pub no_done: f64,
    /// After about half the tokens the response never ends: valid chunks of about 48 KiB of
    /// text each are sent as fast as the client reads them (a non-streamed body grows
    /// without end), until the client hangs up or the server stops.
    pub endless: f64,
    /// One chunk whose content holds bytes that are not UTF-8 (mid-stream; a non-streamed
    /// body carries them in its content); the stream then continues normally.
    pub invalid_utf8: f64,
    /// A normal response whose `usage.completion_tokens` is half the tokens actually sent.
    pub usage_mismatch: f64,
    /// The stream sends about half its tokens, then the TCP connection is reset (RST via
    /// `SO_LINGER` 0) instead of closed. Over HTTP/2 this resets every stream on the
    /// connection.
    pub reset: f64,
}

impl Faults {
    /// Every fault probability with its field name, in draw order.
    pub fn probabilities(&self) -> [(&'static str, f64); 14] {
        [
            ("rate_limit", self.rate_limit),
            ("server_error", self.server_error),
            ("stall", self.stall),
            ("disconnect", self.disconnect),
            ("malformed", self.malformed),
            ("error_event", self.error_event),
            ("no_headers", self.no_headers),
            ("html_error", self.html_error),
            ("wrong_content_type", self.wrong_content_type),
            ("no_done", self.no_done),
            ("endless", self.endless),
            ("invalid_utf8", self.invalid_utf8),
            ("usage_mismatch", self.usage_mismatch),
            ("reset", self.reset),
        ]
    }

    /// Sets the probability of the fault named `name` (a field name above); false if there
    /// is no such fault. Used by `llmload mock --fault NAME=P`.
    pub fn set(&mut self, name: &str, p: f64) -> bool {
        let slot = match name {
            "rate_limit" => &mut self.rate_limit,
            "server_error" => &mut self.server_error,
            "stall" => &mut self.stall,
            "disconnect" => &mut self.disconnect,
            "malformed" => &mut self.malformed,
            "error_event" => &mut self.error_event,
            "no_headers" => &mut self.no_headers,
            "html_error" => &mut self.html_error,
            "wrong_content_type" => &mut self.wrong_content_type,
            "no_done" => &mut self.no_done,
            "endless" => &mut self.endless,
            "invalid_utf8" => &mut self.invalid_utf8,
            "usage_mismatch" => &mut self.usage_mismatch,
            "reset" => &mut self.reset,
            _ => return false,
        };
        *slot = p;
        true
    }

    /// Applies one `NAME=P` setting (as given to `llmload mock --fault`); the message names
    /// what is wrong. The sum of probabilities is checked later, by `validate`.
    pub fn apply_spec(&mut self, spec: &str) -> Result<(), String> {
        let (name, p) = spec
            .split_once('=')
            .ok_or_else(|| "expected NAME=PROBABILITY, e.g. no_done=0.1".to_string())?;
        let p: f64 = p
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not a number", p.trim()))?;
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("{p} is not a probability in [0, 1]"));
        }
        if self.set(name.trim(), p) {
            Ok(())
        } else {
            let names: Vec<&str> = self.probabilities().iter().map(|(n, _)| *n).collect();
            Err(format!(
                "unknown fault `{}` (one of: {})",
                name.trim(),
                names.join(", ")
            ))
        }
    }
}

/// Numbers per mock embedding vector unless the model sets `embedding_dim`: small, so a
/// batch's answer stays cheap to send and to skip.
pub const DEFAULT_EMBEDDING_DIM: u32 = 8;

impl Default for MockModel {
    fn default() -> Self {
        MockModel {
            ttft_ms: Dist::fixed(50.0),
            ttft_steps: Vec::new(),
            itl_ms: Dist::fixed(10.0),
            output_tokens: None,
            tokens_per_chunk: 1,
            reasoning_tokens: 0,
            embedding_dim: DEFAULT_EMBEDDING_DIM,
            tool_call_share: 1.0,
            max_concurrency: None,
            faults: Faults::default(),
            prompt_tokens: PromptCount::Bytes,
            rate_limit: None,
            answers: None,
        }
    }
}

/// Why a mock configuration cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MockConfigError {
    /// A latency or length distribution is invalid.
    #[error("mock model {model}: {field}: {source}")]
    Dist {
        model: String,
        field: &'static str,
        source: DistError,
    },
    /// A fault probability is outside `[0, 1]` or not a number.
    #[error("mock model {model}: faults.{field} = {value} is not a probability in [0, 1]")]
    Probability {
        model: String,
        field: &'static str,
        value: f64,
    },
    /// The fault probabilities add up to more than 1.
    #[error("mock model {model}: fault probabilities add up to {sum}, more than 1")]
    ProbabilitySum { model: String, sum: f64 },
    /// `tokens_per_chunk` is 0.
    #[error("mock model {model}: tokens_per_chunk must be at least 1")]
    TokensPerChunk { model: String },
    /// A TTFT step starts at a negative or non-finite time.
    #[error("mock model {model}: ttft_steps.after_s = {after_s} must be a time of at least 0 s")]
    TtftStep { model: String, after_s: f64 },
    /// `max_concurrency` is 0.
    #[error("mock model {model}: max_concurrency must be at least 1")]
    MaxConcurrency { model: String },
    /// A `rate_limit` budget is 0, or neither budget is given.
    #[error("mock model {model}: rate_limit needs requests_per_minute and/or tokens_per_minute, each at least 1")]
    RateLimit { model: String },
}

impl MockModel {
    /// Checks one model's settings; `name` is used in messages.
    pub fn validate(&self, name: &str) -> Result<(), MockConfigError> {
        let dist = |field: &'static str, d: &Dist| {
            d.validate().map_err(|source| MockConfigError::Dist {
                model: name.to_string(),
                field,
                source,
            })
        };
        dist("ttft_ms", &self.ttft_ms)?;
        for s in &self.ttft_steps {
            dist("ttft_steps.ttft_ms", &s.ttft_ms)?;
            if !(s.after_s.is_finite() && s.after_s >= 0.0) {
                return Err(MockConfigError::TtftStep {
                    model: name.to_string(),
                    after_s: s.after_s,
                });
            }
        }
        dist("itl_ms", &self.itl_ms)?;
        if let Some(d) = &self.output_tokens {
            dist("output_tokens", d)?;
        }
        if self.tokens_per_chunk == 0 {
            return Err(MockConfigError::TokensPerChunk {
                model: name.to_string(),
            });
        }
        if self.max_concurrency == Some(0) {
            return Err(MockConfigError::MaxConcurrency {
                model: name.to_string(),
            });
        }
        if let Some(r) = &self.rate_limit {
            let (q, t) = (r.requests_per_minute, r.tokens_per_minute);
            if q == Some(0) || t == Some(0) || (q.is_none() && t.is_none()) {
                return Err(MockConfigError::RateLimit {
                    model: name.to_string(),
                });
            }
        }
        let probs = self.faults.probabilities();
        let mut sum = 0.0;
        for (field, value) in probs {
            if !(0.0..=1.0).contains(&value) {
                return Err(MockConfigError::Probability {
                    model: name.to_string(),
                    field,
                    value,
                });
            }
            sum += value;
        }
        if sum > 1.0 + 1e-9 {
            return Err(MockConfigError::ProbabilitySum {
                model: name.to_string(),
                sum,
            });
        }
        Ok(())
    }
}

impl MockConfig {
    /// Checks every model: distributions valid, probabilities in `[0, 1]` summing to at
    /// most 1, `tokens_per_chunk >= 1`, `max_concurrency >= 1`.
    pub fn validate(&self) -> Result<(), MockConfigError> {
        self.default_model.validate(DEFAULT_MODEL_ID)?;
        let mut names: Vec<&String> = self.models.keys().collect();
        names.sort();
        for name in names {
            if let Some(m) = self.models.get(name) {
                m.validate(name)?;
            }
        }
        Ok(())
    }
}
