//! The built-in mock LLM server: an OpenAI-compatible simulator with configurable
//! latency, output length, capacity limit and faults.
//!
//! It serves `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions` and
//! `GET /health`. It is used in-process (scenario `base_url = "mock"`), standalone
//! (`llmload mock --port 8000`) and by the integration tests.
//!
//! Timing: response headers go out when the request is received (for streams the chat
//! role chunk too); the first generated token is sent at `t_start + ttft` where `t_start`
//! is the receive time, or the moment a capacity slot frees up when the model's
//! `max_concurrency` is reached; each later chunk at the previous chunk's *deadline*
//! plus one inter-chunk delay, so delays never accumulate drift.
//!
//! Every token of generated text is one word from a small vocabulary of common English
//! words written with a leading space, each exactly one token in OpenAI's cl100k and
//! o200k tokenizers, so counting the streamed text offline gives `completion_tokens`.

mod conn;
mod gen;
mod request;
mod server;
mod truth;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use crate::core::dist::{Dist, DistError};

/// The model id under which the default model is listed by `GET /v1/models`.
pub const DEFAULT_MODEL_ID: &str = "mock-model";

/// How long a stalled stream stays open before the mock cuts it.
pub const STALL_LIMIT: Duration = Duration::from_secs(120);

/// How long [`MockServer::shutdown`] waits for connections to close before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

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
    /// Requests beyond this many in flight for this model wait before their TTFT clock
    /// starts (a simulated capacity limit).
    pub max_concurrency: Option<u32>,
    /// Injected failures.
    pub faults: Faults,
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

impl Default for MockModel {
    fn default() -> Self {
        MockModel {
            ttft_ms: Dist::fixed(50.0),
            ttft_steps: Vec::new(),
            itl_ms: Dist::fixed(10.0),
            output_tokens: None,
            tokens_per_chunk: 1,
            reasoning_tokens: 0,
            max_concurrency: None,
            faults: Faults::default(),
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
    /// The fault that the `n`-th request received by a fresh server (counting from 0) gets
    /// if it asks for `model`, by name (`None`: no fault). Tests use it to know exactly
    /// how many requests of a run were faulted: the draw depends only on the seed and `n`.
    pub fn fault_of(&self, model: &str, n: u64) -> Option<&'static str> {
        use rand::SeedableRng;
        let m = self.models.get(model).unwrap_or(&self.default_model);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(n);
        gen::Fault::draw(&m.faults, &mut rng).map(gen::Fault::name)
    }

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

/// Shutdown signal shared with every in-flight response.
#[derive(Default)]
pub(crate) struct Stop {
    stopping: AtomicBool,
    notify: Arc<Notify>,
}

impl Stop {
    fn trigger(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
}

/// A running mock server.
pub struct MockServer {
    addr: SocketAddr,
    stop: Arc<Stop>,
    stop_tx: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    truth: Option<truth::TruthLog>,
}

impl MockServer {
    /// Serves on an already-bound listener (the caller binds `127.0.0.1:0` or a chosen
    /// port). Fails with `InvalidInput` if the configuration does not validate, or with
    /// the I/O error of opening the truth log.
    pub async fn start(
        listener: tokio::net::TcpListener,
        cfg: MockConfig,
    ) -> std::io::Result<MockServer> {
        cfg.validate()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let addr = listener.local_addr()?;
        // Receive stamps (when a request's bytes arrived) live before the first request.
        crate::engine::rxstamp::keep_on();
        let truth = match &cfg.truth_log {
            Some(path) => Some(truth::TruthLog::open(path, cfg.seed)?),
            None => None,
        };
        let stop = Arc::new(Stop::default());
        let shared = server::Shared::new(&cfg, stop.clone(), truth.as_ref().map(|t| t.sender()));
        let app = server::router(Arc::new(shared))
            .into_make_service_with_connect_info::<conn::ConnInfo>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let listener = conn::MockListener { inner: listener };
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        Ok(MockServer {
            addr,
            stop,
            stop_tx: Some(stop_tx),
            task: Some(task),
            truth,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1` (the real address when bound to a specific non-IPv4-
    /// unspecified interface).
    pub fn base_url(&self) -> String {
        let ip = self.addr.ip();
        if ip.is_unspecified() || (ip.is_loopback() && ip.is_ipv4()) {
            format!("http://127.0.0.1:{}/v1", self.addr.port())
        } else {
            format!("http://{}/v1", self.addr)
        }
    }

    fn signal_stop(&mut self) {
        self.stop.trigger();
        if let Some(tx) = self.stop_tx.take() {
            let _ = tx.send(());
        }
    }

    /// Graceful stop: no new connections, in-flight responses end at once (streams are
    /// cut, waiting non-streamed requests get a 503), then the truth log is flushed.
    /// Returns within about a second even if a client keeps a connection open.
    pub async fn shutdown(mut self) {
        self.signal_stop();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        if let Some(t) = self.truth.take() {
            t.close().await;
        }
    }
}

impl Drop for MockServer {
    /// Dropping without [`MockServer::shutdown`] still stops the server (in the
    /// background); the truth log is flushed once the last response is gone.
    fn drop(&mut self) {
        self.signal_stop();
    }
}
