//! HTTP routes and request handling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures_util::StreamExt;
use rand::rngs::ChaCha8Rng;
use rand::SeedableRng;
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::conn::ConnInfo;
use super::gen::{delay, Fault, Kind, Plan, SseStream, StopWait, MAX_TOKENS};
use super::request::{prompt_tokens, prompt_words, Req};
use super::truth::Msg;
use super::{MockConfig, MockModel, Stop, DEFAULT_MODEL_ID, STALL_LIMIT};
use crate::config::mock::{Faults, PromptCount};

mod embed;
pub(crate) mod images;
pub(crate) mod responses;
mod tools;

/// Largest accepted request body.
const BODY_LIMIT: usize = 64 << 20;

/// Default output length when neither the model nor the request sets one.
const DEFAULT_OUTPUT_TOKENS: u64 = 16;

/// A configured model with its capacity limiter.
pub(crate) struct ModelRt {
    pub cfg: MockModel,
    pub sem: Option<Arc<Semaphore>>,
    /// Requests received and not yet answered in full (for `GET /metrics`).
    in_flight: AtomicU64,
    /// The simulated quota's current window, and when the first window began (server start).
    quota: Option<(std::sync::Mutex<super::quota::Window>, Instant)>,
    /// How often each prompt of the model's answers table was asked (None without a table).
    asked: Option<super::answers::Asked>,
}

impl ModelRt {
    fn new(cfg: &MockModel) -> Arc<Self> {
        Arc::new(ModelRt {
            cfg: cfg.clone(),
            sem: cfg
                .max_concurrency
                .map(|n| Arc::new(Semaphore::new(n as usize))),
            in_flight: AtomicU64::new(0),
            quota: cfg
                .rate_limit
                .map(|r| (super::quota::Window::new(r).into(), Instant::now())),
            asked: cfg.answers.as_deref().map(super::answers::Asked::new),
        })
    }

    /// Charges a request to the simulated quota (None when the model has none).
    fn charge(&self, received: Instant, tokens: u64) -> Option<super::quota::Verdict> {
        let (window, start) = self.quota.as_ref()?;
        let mut w = window.lock().unwrap_or_else(|e| e.into_inner());
        Some(w.charge(received.saturating_duration_since(*start), tokens))
    }

    /// (processing, deferred): requests holding a capacity slot (all in flight when the
    /// model has no `max_concurrency`), and those waiting for one.
    fn load(&self) -> (u64, u64) {
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let processing = match (&self.sem, self.cfg.max_concurrency) {
            (Some(sem), Some(cap)) => {
                (u64::from(cap).saturating_sub(sem.available_permits() as u64)).min(in_flight)
            }
            _ => in_flight,
        };
        (processing, in_flight - processing)
    }
}

/// Counts a request in flight on its model from its parsing until its response (or stream)
/// is dropped.
struct InFlight(Arc<ModelRt>);

impl InFlight {
    fn new(m: &Arc<ModelRt>) -> InFlight {
        m.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(m.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// State shared by all handlers and in-flight responses.
pub(crate) struct Shared {
    pub seed: u64,
    default: Arc<ModelRt>,
    models: HashMap<String, Arc<ModelRt>>,
    counter: AtomicU64,
    /// When the first request was received (the origin of every model's `ttft_steps`).
    first_request: std::sync::OnceLock<Instant>,
    pub stop: Arc<Stop>,
    pub truth: Option<mpsc::Sender<Msg>>,
    models_body: Bytes,
}

impl Shared {
    pub fn new(cfg: &MockConfig, stop: Arc<Stop>, truth: Option<mpsc::Sender<Msg>>) -> Self {
        let mut ids: Vec<&str> = cfg.models.keys().map(String::as_str).collect();
        ids.retain(|id| *id != DEFAULT_MODEL_ID);
        ids.sort_unstable();
        ids.insert(0, DEFAULT_MODEL_ID);
        let data: Vec<_> = ids
            .iter()
            .map(
                |id| json!({"id": id, "object": "model", "created": 0, "owned_by": "llmload-mock"}),
            )
            .collect();
        let models_body = Bytes::from(json!({"object": "list", "data": data}).to_string());
        Shared {
            seed: cfg.seed,
            default: ModelRt::new(&cfg.default_model),
            models: cfg
                .models
                .iter()
                .map(|(k, m)| (k.clone(), ModelRt::new(m)))
                .collect(),
            counter: AtomicU64::new(0),
            first_request: std::sync::OnceLock::new(),
            stop,
            truth,
            models_body,
        }
    }

    fn log(
        &self,
        plan: &Plan,
        status: u16,
        first: Option<Instant>,
        last: Option<Instant>,
        tokens: u32,
        completed: bool,
    ) {
        if let Some(tx) = &self.truth {
            let _ = tx.send(Msg::Record(
                plan.record(status, first, last, tokens, completed),
            ));
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embed::embeddings))
        .route("/v1/responses", post(responses::responses))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared)
}

/// An OpenAI-shaped error response.
pub(crate) fn error_response(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "invalid_request_error",
        None,
        message,
    )
}

async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}",
    )
        .into_response()
}

/// The mock's own gauges in the Prometheus text format, under llama-server's names: requests
/// processing (holding a capacity slot, or in flight when there is no limit) and deferred
/// (waiting for a slot), summed over the mock's models.
async fn metrics(State(sh): State<Arc<Shared>>) -> Response {
    let (mut processing, mut deferred) = sh.default.load();
    for m in sh.models.values() {
        let (p, d) = m.load();
        processing += p;
        deferred += d;
    }
    let body = format!(
        "# HELP llamacpp:requests_processing Number of requests processing\n\
         # TYPE llamacpp:requests_processing gauge\n\
         llamacpp:requests_processing {processing}\n\
         # HELP llamacpp:requests_deferred Number of requests deferred\n\
         # TYPE llamacpp:requests_deferred gauge\n\
         llamacpp:requests_deferred {deferred}\n"
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn models(State(sh): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        sh.models_body.clone(),
    )
        .into_response()
}

async fn not_found() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("unknown_url"),
        "unknown endpoint",
    )
}

async fn chat(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    body: Bytes,
) -> Response {
    handle(sh, body, Kind::Chat, conn).await
}

async fn completions(
    State(sh): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnInfo>,
    body: Bytes,
) -> Response {
    handle(sh, body, Kind::Completion, conn).await
}

fn unix_now() -> std::time::Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

async fn handle(sh: Arc<Shared>, body: Bytes, kind: Kind, conn: ConnInfo) -> Response {
    let mut received = Instant::now();
    let mut now = unix_now();
    // The request counts as received when its bytes reached the host (the kernel's stamp),
    // not when this task got to it: the truth log then holds what happened on the wire, and
    // the first token's wait is timed from there.
    if let Some(age) = conn.arrival_age() {
        received = received.checked_sub(age).unwrap_or(received);
        now = now.saturating_sub(age);
    }
    let req: Req = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad_request(&format!("could not parse the JSON body: {e}")),
    };
    let image_tokens = req.messages.as_ref().map_or(0, |m| m.1);
    let text_bytes = match kind {
        Kind::Chat => match &req.messages {
            Some(m) => m.0,
            None => return bad_request("'messages' is a required property"),
        },
        Kind::Completion => match &req.prompt {
            Some(p) => p.0,
            None => return bad_request("'prompt' is a required property"),
        },
        Kind::Responses => match &req.input {
            Some(i) => i.0 + req.instructions.as_ref().map_or(0, |t| t.0),
            None => return bad_request("'input' is a required property"),
        },
    };
    let limit = req.limit();
    if limit == Some(0) {
        return bad_request("max_tokens must be at least 1");
    }

    let n = sh.counter.fetch_add(1, Ordering::Relaxed);
    let mut rng = ChaCha8Rng::seed_from_u64(sh.seed);
    rng.set_stream(n);
    let model_name = req.model.as_deref().unwrap_or(DEFAULT_MODEL_ID);
    let model = sh.models.get(model_name).unwrap_or(&sh.default).clone();
    let in_flight = InFlight::new(&model);
    let cfg = &model.cfg;

    // Draw order (fixed, for reproducibility): fault, ttft, output length, then per chunk
    // its words and the delay to the next chunk.
    let fault = Fault::draw(&cfg.faults, &mut rng);
    let first = *sh.first_request.get_or_init(|| received);
    let ttft = delay(
        cfg.ttft_at(received.saturating_duration_since(first))
            .sample(&mut rng),
    );
    let content_target = match &cfg.output_tokens {
        Some(d) => (d.sample(&mut rng).round() as u64).max(1),
        None => limit.unwrap_or(DEFAULT_OUTPUT_TOKENS),
    }
    .min(MAX_TOKENS);
    let reasoning = match kind {
        Kind::Chat | Kind::Responses => u64::from(cfg.reasoning_tokens),
        Kind::Completion => 0,
    };
    // After the fixed draws, so a request without tools draws as before.
    let tool = match kind {
        Kind::Chat => match tools::choose(&req, cfg.tool_call_share, &mut rng) {
            Ok(t) => t,
            Err(e) => return bad_request(&e),
        },
        Kind::Completion | Kind::Responses => None,
    };
    // A table answer (not for a tool call) sets the content; it is cut only when longer than
    // the limit, as a real answer would be.
    let table_answer = match (&cfg.answers, &model.asked, &tool) {
        (Some(table), Some(asked), None) => {
            super::answers::choose(sh.seed, model_name, table, asked, &body, kind)
        }
        _ => None,
    };
    let content_target = table_answer
        .as_ref()
        .map_or(content_target, |a| a.len() as u64);
    let desired = reasoning + content_target;
    let (total, length) = match limit {
        Some(l) if desired > l || (desired == l && table_answer.is_none()) => (l, true),
        _ => (desired, false),
    };
    let (total, length) = (total.min(MAX_TOKENS), length || total > MAX_TOKENS);
    let reasoning = reasoning.min(total);
    let plan = Plan {
        n,
        kind,
        stream: req.stream.unwrap_or(false),
        model_name: model_name.to_string(),
        created: now.as_secs(),
        fault,
        ttft,
        reasoning: reasoning as u32,
        content: (total - reasoning) as u32,
        tokens_per_chunk: cfg.tokens_per_chunk.max(1),
        length,
        // A Responses answer always ends with its usage.
        include_usage: req.include_usage() || kind == Kind::Responses,
        prompt_tokens: match (cfg.prompt_tokens, kind) {
            (PromptCount::Bytes, _) => prompt_tokens(text_bytes),
            (PromptCount::Words, Kind::Responses) => responses::prompt_words(&body),
            (PromptCount::Words, _) => prompt_words(&body, kind == Kind::Chat),
        }
        .saturating_add(u32::try_from(image_tokens).unwrap_or(u32::MAX)),
        received,
        received_unix_us: u64::try_from(now.as_micros()).unwrap_or(u64::MAX),
        rng,
        conn_reset: Some(conn.reset),
        tool,
        script: table_answer.map(|a| super::answers::Script::new(a, reasoning as u32)),
    };

    let quota = model.charge(received, u64::from(plan.prompt_tokens) + total);
    if let Some(v) = quota.filter(|v| v.refused) {
        sh.log(&plan, 429, None, None, 0, false);
        let mut resp = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            Some("rate_limit_exceeded"),
            "mock: quota exhausted for this window",
        );
        v.apply(resp.headers_mut());
        return resp;
    }
    let mut resp = answer(sh, model, plan, in_flight).await;
    if let Some(v) = quota {
        v.apply(resp.headers_mut());
    }
    resp
}

/// The answer to a request within its quota: a fault, or the completion.
async fn answer(
    sh: Arc<Shared>,
    model: Arc<ModelRt>,
    mut plan: Plan,
    in_flight: InFlight,
) -> Response {
    if let Some(resp) = fault_response(&sh, &mut plan, &model.cfg.faults).await {
        return resp;
    }

    let permit = model
        .sem
        .as_ref()
        .and_then(|s| s.clone().try_acquire_owned().ok());
    if plan.fault == Some(Fault::WrongContentType) {
        // A streaming request answered as if it were not one (application/json); a
        // non-streamed one labelled text/plain.
        let stream = plan.stream;
        let mut resp = full_response(sh, model, plan, permit).await;
        if !stream && resp.status() == StatusCode::OK {
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
        }
        return resp;
    }
    if plan.stream {
        // The stream holds the request's place in flight until it ends or is dropped.
        let body = Body::from_stream(SseStream::new(plan, sh.clone(), model, permit).map(
            move |chunk| {
                let _ = &in_flight;
                chunk
            },
        ));
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response()
    } else {
        let resp = full_response(sh, model, plan, permit).await;
        drop(in_flight);
        resp
    }
}

/// The response of a fault that answers before any generation (429, 500, an HTML 503, or no
/// headers at all), logged to the truth log; `None` when the request's fault (if any) happens
/// later, during generation.
async fn fault_response(sh: &Shared, plan: &mut Plan, faults: &Faults) -> Option<Response> {
    match plan.fault {
        Some(Fault::RateLimit) => {
            sh.log(plan, 429, None, None, 0, false);
            let mut resp = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                Some("rate_limit_exceeded"),
                "mock: simulated rate limit",
            );
            if let Some(s) = faults.retry_after_s {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
            }
            Some(resp)
        }
        Some(Fault::ServerError) => {
            sh.log(plan, 500, None, None, 0, false);
            Some(error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                None,
                "mock: simulated server error",
            ))
        }
        Some(Fault::HtmlError) => {
            sh.log(plan, 503, None, None, 0, false);
            Some(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                    HTML_503,
                )
                    .into_response(),
            )
        }
        Some(Fault::NoHeaders) => {
            // Hold the request without a word until the client gives up (or the stall
            // limit passes, or the server stops); then cut the connection.
            sh.log(plan, 0, None, None, 0, false);
            let mut stop = StopWait::new(&sh.stop);
            tokio::select! {
                _ = tokio::time::sleep(STALL_LIMIT) => {}
                _ = stop.stopped() => {}
            }
            plan.arm_reset();
            Some(cut_response())
        }
        _ => None,
    }
}

fn shutting_down() -> Response {
    error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        None,
        "mock server shutting down",
    )
}

/// A response whose head goes out and whose body then fails, so the client sees the
/// connection cut.
fn cut_response() -> Response {
    let body = Body::from_stream(futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "mock: simulated disconnect",
        ))
    }));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Non-streamed answer: waits as long as the stream would have taken, then returns the
/// whole completion. Faults: stall = silence until the stall limit, then the connection
/// is cut; disconnect = cut at the time the stream would have been cut; error_event =
/// a 200 whose body is an error object; malformed = a 200 whose body is not JSON.
async fn full_response(
    sh: Arc<Shared>,
    model: Arc<ModelRt>,
    mut plan: Plan,
    permit: Option<OwnedSemaphorePermit>,
) -> Response {
    let mut stop = StopWait::new(&sh.stop);
    let mut slot = permit;
    let mut start = plan.received;
    if let (Some(sem), None) = (model.sem.as_ref(), slot.as_ref()) {
        tokio::select! {
            p = sem.clone().acquire_owned() => slot = p.ok(),
            _ = stop.stopped() => return shutting_down(),
        }
        start = Instant::now();
    }

    let total_chunks = plan.total_chunks();
    let fault_at = plan.fault_at();
    let mut reasoning_text = String::new();
    let mut content_text = String::new();
    let first = start + plan.ttft;
    let mut t = first;
    let mut t_fault = first;
    let mut tokens_before_fault = 0;
    let mut tokens = 0;
    for i in 0..total_chunks {
        if i > 0 {
            t += plan.next_itl(&model.cfg.itl_ms);
        }
        if i == fault_at {
            t_fault = t;
            tokens_before_fault = tokens;
        }
        let (is_reasoning, k) = plan.chunk(i);
        let out = if is_reasoning {
            &mut reasoning_text
        } else {
            &mut content_text
        };
        plan.push_words(out, k);
        tokens += k;
    }

    let wait_until = match plan.fault {
        Some(Fault::Stall) => Instant::now() + STALL_LIMIT,
        Some(Fault::Disconnect)
        | Some(Fault::ErrorEvent)
        | Some(Fault::Endless)
        | Some(Fault::Reset) => t_fault,
        _ => t,
    };
    tokio::select! {
        _ = tokio::time::sleep_until(wait_until) => {}
        _ = stop.stopped() => return shutting_down(),
    }
    drop(slot);

    let (first_at, last_at) = if tokens > 0 {
        (Some(first), Some(t))
    } else {
        (None, None)
    };
    match plan.fault {
        Some(Fault::Stall) => {
            sh.log(&plan, 200, None, None, 0, false);
            return cut_response();
        }
        Some(Fault::Disconnect) => {
            sh.log(&plan, 200, None, None, tokens_before_fault, false);
            return cut_response();
        }
        Some(Fault::ErrorEvent) => {
            sh.log(&plan, 200, None, None, tokens_before_fault, false);
            let body = json!({"error": {"message": "mock: simulated error", "type": "server_error", "param": null, "code": null}});
            return (
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response();
        }
        Some(Fault::Malformed) => {
            sh.log(&plan, 200, first_at, last_at, tokens, false);
            return ([(header::CONTENT_TYPE, "application/json")], "{not json").into_response();
        }
        Some(Fault::Reset) => {
            sh.log(&plan, 200, None, None, tokens_before_fault, false);
            let flag = plan.conn_reset.clone();
            let body = Body::from_stream(futures_util::stream::once(async move {
                if let Some(f) = flag {
                    f.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "mock: simulated connection reset",
                ))
            }));
            return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
        }
        Some(Fault::Endless) => {
            sh.log(&plan, 200, None, None, tokens_before_fault, false);
            return endless_body(&sh, &mut plan);
        }
        _ => {}
    }
    let complete = !matches!(plan.fault, Some(Fault::NoDone) | Some(Fault::InvalidUtf8));
    sh.log(&plan, 200, first_at, last_at, tokens, complete);
    if plan.fault == Some(Fault::InvalidUtf8) {
        content_text.push_str(INVALID_MARK);
    }

    let bytes = full_body(sh.seed, &plan, content_text, &reasoning_text);
    ([(header::CONTENT_TYPE, "application/json")], bytes).into_response()
}

/// The JSON body of a non-streamed response (chat or completion) holding the generated text,
/// cut in half for `no_done` and carrying invalid UTF-8 for `invalid_utf8`.
fn full_body(seed: u64, plan: &Plan, content_text: String, reasoning_text: &str) -> Vec<u8> {
    let id = format!("{}{}-{}", plan.kind.id_prefix(), seed, plan.n);
    let usage = json!({
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.reported_completion_tokens(),
        "total_tokens": u64::from(plan.prompt_tokens) + u64::from(plan.reported_completion_tokens()),
        "completion_tokens_details": {"reasoning_tokens": plan.reasoning},
    });
    let body = match plan.kind {
        Kind::Chat => {
            let mut message = if plan.reasoning > 0 {
                json!({"role": "assistant", "content": content_text, "reasoning_content": reasoning_text})
            } else {
                json!({"role": "assistant", "content": content_text})
            };
            if let Some(name) = plan.tool.as_deref() {
                message["content"] = serde_json::Value::Null;
                message["tool_calls"] = json!([{
                    "id": format!("call_mock_{seed}_{}", plan.n),
                    "type": "function",
                    "function": {"name": name, "arguments": format!("{{\"text\":\"{content_text}\"}}")},
                }]);
            }
            json!({
                "id": id,
                "object": "chat.completion",
                "created": plan.created,
                "model": plan.model_name,
                "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": plan.finish_reason()}],
                "usage": usage,
            })
        }
        Kind::Completion => json!({
            "id": id,
            "object": "text_completion",
            "created": plan.created,
            "model": plan.model_name,
            "choices": [{"index": 0, "text": content_text, "logprobs": null, "finish_reason": plan.finish_reason()}],
            "usage": usage,
        }),
        Kind::Responses => responses::whole(seed, plan, content_text, reasoning_text),
    };
    let mut bytes = body.to_string().into_bytes();
    match plan.fault {
        Some(Fault::NoDone) => bytes.truncate(bytes.len() / 2),
        Some(Fault::InvalidUtf8) => replace_mark(&mut bytes),
        _ => {}
    }
    bytes
}

/// Stands in for invalid UTF-8 in a non-streamed body until it is serialised.
const INVALID_MARK: &str = "\u{1}mock-invalid-utf8\u{1}";

/// Replaces [`INVALID_MARK`] (as serde_json wrote it) with bytes that are not UTF-8.
fn replace_mark(bytes: &mut Vec<u8>) {
    let mark = serde_json::to_string(INVALID_MARK).unwrap_or_default();
    let mark = mark.trim_matches('"').as_bytes();
    if let Some(at) = bytes.windows(mark.len()).position(|w| w == mark) {
        bytes.splice(at..at + mark.len(), [0xff, 0xfe, 0xc3]);
    }
}

/// The body of a load balancer's 503 page.
const HTML_503: &str = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// A non-streamed completion whose content never ends: the JSON starts, then words follow
/// as fast as the client reads them until it hangs up or the server stops.
fn endless_body(sh: &Arc<Shared>, plan: &mut Plan) -> Response {
    let mut words = String::new();
    plan.push_words(&mut words, 8192);
    let head = Bytes::from(match plan.kind {
        Kind::Responses => responses::endless_head(sh.seed, plan),
        _ => format!(
        "{{\"id\":\"{}{}-{}\",\"object\":\"chat.completion\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"",
        plan.kind.id_prefix(),
        sh.seed,
        plan.n
        ),
    });
    let words = Bytes::from(words);
    let stop = StopWait::new(&sh.stop);
    let body = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(head) }).chain(
        futures_util::stream::unfold((words, stop), |(words, mut stop)| async move {
            let stopped =
                std::future::poll_fn(|cx| std::task::Poll::Ready(stop.poll_stopped(cx))).await;
            if stopped {
                return None;
            }
            let chunk = words.clone();
            Some((Ok::<Bytes, std::io::Error>(chunk), (words, stop)))
        }),
    );
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}
