//! One HTTP request to an OpenAI-compatible endpoint, timed and classified.
//!
//! Owns the HTTP client per target (pool, timeouts, headers, credentials), the request body,
//! incremental SSE reading ([`sse`]), event decoding ([`wire`]), and turning whatever the
//! server does into an [`Outcome`] on a [`RequestRecord`]. It never panics on server data and
//! never puts credentials in an error or record.

pub mod embed;
pub mod lean;
mod responses;
mod scan;
pub mod sse;
pub mod tls;
pub mod wire;

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use tokio::time::{timeout_at, Instant};

use crate::config::plan::{RetryPolicy, Timeouts};
use crate::config::scenario::EndpointKind;
use crate::config::tokenizer::Tokenizer;
use crate::core::record::{Outcome, RequestRecord, TokenSource};

/// Default largest response body accepted before the request is classified `too_large`
/// (see [`TargetClient::with_max_response_bytes`]).
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Largest single SSE line or event (never more than the response cap): an endless line
/// cannot grow memory past this.
pub const MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;
/// Largest error body read for a non-2xx response.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The environment variable named by `api_key_env` is not set.
    #[error("target `{target}`: environment variable {var} is not set (it must hold the API key)")]
    MissingKey {
        /// Target name.
        target: String,
        /// Variable name.
        var: String,
    },
    /// The key or a header is not a valid header value.
    #[error("target `{target}`: {what} is not a valid HTTP header value")]
    BadHeader {
        /// Target name.
        target: String,
        /// Which header (never its value).
        what: String,
    },
    /// reqwest refused the configuration.
    #[error("target `{target}`: cannot build the HTTP client: {message}")]
    Build {
        /// Target name.
        target: String,
        /// reqwest's message.
        message: String,
    },
}

/// A monotonic clock anchored at the run's start.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The run's start instant.
    pub start: Instant,
}

impl Clock {
    /// Microseconds since start (0 for instants before it).
    pub fn us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).as_micros() as u64
    }

    /// The instant `us` microseconds after start.
    pub fn at(&self, us: u64) -> Instant {
        self.start + Duration::from_micros(us)
    }
}

/// The HTTP side of one target.
#[derive(Debug, Clone)]
pub struct TargetClient {
    http: reqwest::Client,
    /// The same client without a connection pool: re-sends after a stale pooled connection.
    fresh: reqwest::Client,
    url: String,
    timeouts: Timeouts,
    stream: bool,
    /// `/embeddings`: the body is read as vectors (see [`embed`]), not as a completion.
    embeddings: bool,
    /// `/responses`: typed events and response objects (see `responses`), not chunks.
    responses: bool,
    lean: Option<lean::LeanClient>,
    /// The HTTP version setting (for the result's transport section).
    http_version: crate::config::scenario::HttpVersion,
    /// Connection set-up times of the lean client, for the result.
    setups: std::sync::Arc<std::sync::Mutex<SetupLog>>,
    max_response: usize,
    retry: Option<RetryPolicy>,
    /// Credentials to scrub from what the server sends back: the key, the URL's password and
    /// its basic-auth token.
    secrets: Vec<Secret>,
}

/// Connection set-up times of one target's lean client (µs).
#[derive(Debug, Clone, Default)]
struct SetupLog {
    connections: u64,
    connect: crate::metrics::hist::Hist,
    handshake: crate::metrics::hist::Hist,
}

/// The API key, kept only to scrub it from anything the server sends back; never printed.
#[derive(Clone)]
struct Secret(std::sync::Arc<str>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// Replaces every occurrence of the key (with its `Bearer ` prefix, if present) in `s`.
    fn scrub(&self, s: &mut String) {
        if !self.0.is_empty() && s.contains(&*self.0) {
            *s = s
                .replace(&format!("Bearer {}", self.0), "<redacted>")
                .replace(&*self.0, "<redacted>");
        }
    }
}

/// `base` (which may end in `?query`) with `path` put before the query.
fn endpoint_url(base: &str, path: &str) -> String {
    match base.split_once('?') {
        Some((before, query)) => format!("{before}{path}?{query}"),
        None => format!("{base}{path}"),
    }
}

/// The credential headers: the key in its style, the URL's user and password as basic auth.
fn auth_headers(key: Option<&str>, auth: &crate::config::plan::Auth) -> Vec<(String, String)> {
    use crate::config::plan::AuthStyle;
    let mut out = Vec::new();
    if let Some(key) = key {
        out.push(match &auth.style {
            AuthStyle::Bearer => ("Authorization".to_string(), format!("Bearer {key}")),
            AuthStyle::ApiKey => ("api-key".to_string(), key.to_string()),
            AuthStyle::Header(name) => (name.clone(), key.to_string()),
        });
    }
    if let Some((user, password)) = &auth.basic {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        out.push(("Authorization".to_string(), format!("Basic {token}")));
    }
    out
}

/// What to scrub from server text: the key, the URL's password, and each credential header's
/// value (the basic-auth token).
fn secrets(
    key: Option<&str>,
    auth: &crate::config::plan::Auth,
    credentials: &[(String, String)],
) -> Vec<Secret> {
    let password = auth.basic.as_ref().map(|(_, p)| p.as_str());
    let basic = credentials
        .iter()
        .filter_map(|(_, v)| v.strip_prefix("Basic "));
    key.into_iter()
        .chain(password)
        .chain(basic)
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| Secret(k.into()))
        .collect()
}

/// Extra header names whose values are treated as credentials (never printed by reqwest's
/// Debug output, marked sensitive for HTTP/2 header compression).
fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "auth",
        "key",
        "token",
        "secret",
        "cookie",
        "password",
        "signature",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// Settings for [`TargetClient::new`].
#[derive(Debug, Clone)]
pub struct ClientSettings<'a> {
    /// Target name (for messages).
    pub name: &'a str,
    /// Base URL without trailing slash or credentials; a query string, if any, goes after the
    /// endpoint's path.
    pub base_url: &'a str,
    /// API key, already read from the environment.
    pub api_key: Option<String>,
    /// How the key is sent, and the basic-auth credentials taken from the URL.
    pub auth: crate::config::plan::Auth,
    /// Extra headers.
    pub headers: &'a [(String, String)],
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Idle connections kept per host.
    pub pool_max_idle: usize,
    /// HTTP version choice.
    pub http: crate::config::scenario::HttpVersion,
    /// Extra CA certificates (PEM).
    pub ca_bundle: Option<&'a [u8]>,
    /// Accept any certificate.
    pub insecure: bool,
    /// Use the lean HTTP/1.1 transport (plain http only; the scenario's `client`, resolved by
    /// the plan).
    pub lean: bool,
    /// Endpoint family.
    pub endpoint: EndpointKind,
    /// Streaming.
    pub stream: bool,
}

impl TargetClient {
    /// Builds the client. The key goes into a sensitive default header and nowhere else.
    pub fn new(s: ClientSettings<'_>) -> Result<TargetClient, ClientError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let credentials = auth_headers(s.api_key.as_deref(), &s.auth);
        for (k, v) in &credentials {
            let bad = || ClientError::BadHeader {
                target: s.name.to_string(),
                what: "the API key".into(),
            };
            let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad())?;
            let mut v = HeaderValue::from_str(v).map_err(|_| bad())?;
            v.set_sensitive(true);
            headers.insert(name, v);
        }
        for (k, v) in s.headers {
            let name =
                HeaderName::from_bytes(k.as_bytes()).map_err(|_| ClientError::BadHeader {
                    target: s.name.to_string(),
                    what: format!("header `{k}`"),
                })?;
            let mut value = HeaderValue::from_str(v).map_err(|_| ClientError::BadHeader {
                target: s.name.to_string(),
                what: format!("header `{k}`"),
            })?;
            value.set_sensitive(looks_secret(k));
            headers.insert(name, value);
        }
        // `idle`: idle connections kept per host; 0 gives a client whose every request opens a
        // fresh connection (used to re-send after a pooled connection turned out closed).
        let build = |idle: usize| -> Result<reqwest::Client, ClientError> {
            let mut b = reqwest::Client::builder()
                .default_headers(headers.clone())
                .connect_timeout(s.timeouts.connect)
                .pool_max_idle_per_host(idle)
                .tcp_nodelay(true);
            b = match s.http {
                crate::config::scenario::HttpVersion::Auto => b,
                crate::config::scenario::HttpVersion::Http1 => b.http1_only(),
                crate::config::scenario::HttpVersion::Http2 => b.http2_prior_knowledge(),
            };
            if let Some(pem) = s.ca_bundle {
                let certs =
                    reqwest::Certificate::from_pem_bundle(pem).map_err(|e| ClientError::Build {
                        target: s.name.to_string(),
                        message: format!("tls.ca_bundle: {}", e.without_url()),
                    })?;
                for c in certs {
                    b = b.add_root_certificate(c);
                }
            }
            if s.insecure {
                b = b.danger_accept_invalid_certs(true);
            }
            b.build().map_err(|e| ClientError::Build {
                target: s.name.to_string(),
                message: e.without_url().to_string(),
            })
        };
        let http = build(s.pool_max_idle)?;
        let fresh = build(0)?;
        let path = match s.endpoint {
            EndpointKind::Chat => "/chat/completions",
            EndpointKind::Completions => "/completions",
            EndpointKind::Embeddings => "/embeddings",
            EndpointKind::Responses => "/responses",
        };
        let url = endpoint_url(s.base_url, path);
        let lean = if s.lean {
            let mut hs: Vec<(String, String)> = s.headers.to_vec();
            hs.extend(credentials.iter().cloned());
            let build_err = |message: String| ClientError::Build {
                target: s.name.to_string(),
                message: format!("client = \"lean\": {message}"),
            };
            let tls = if url.starts_with("https://") {
                Some(tls::TlsSettings::new(s.ca_bundle, s.insecure).map_err(build_err)?)
            } else {
                None
            };
            Some(
                lean::LeanClient::with_tls(&url, &hs, s.timeouts.connect, s.pool_max_idle, tls)
                    .map_err(build_err)?,
            )
        } else {
            None
        };
        Ok(TargetClient {
            http,
            fresh,
            url,
            timeouts: s.timeouts,
            stream: s.stream,
            embeddings: s.endpoint == EndpointKind::Embeddings,
            responses: s.endpoint == EndpointKind::Responses,
            lean,
            http_version: s.http,
            setups: Default::default(),
            max_response: MAX_RESPONSE_BYTES,
            retry: None,
            secrets: secrets(s.api_key.as_deref(), &s.auth, &credentials),
        })
    }

    /// Sets the largest response body accepted (default [`MAX_RESPONSE_BYTES`], at least
    /// 1 KiB); a larger one ends the request as `too_large` as soon as the cap is passed,
    /// without reading the rest. A single SSE line or event is also capped at
    /// [`MAX_EVENT_BYTES`] (or this, if smaller).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> TargetClient {
        self.max_response = bytes.max(1024);
        self
    }

    /// Turns on client back-off on HTTP 429 (see [`RetryPolicy`]); `None` turns it off.
    pub fn with_retry_on_429(mut self, policy: Option<RetryPolicy>) -> TargetClient {
        self.retry = policy.filter(|p| p.max_retries > 0);
        self
    }

    /// Sends one request and fills the record's timing, tokens and outcome. `t_send_us` must
    /// already be set by the caller; `rec.t_end_us` is set here.
    ///
    /// Whatever the server sends back that lands on the record (an error message, the
    /// response id, the finish reason) has the API key scrubbed from it: a hostile or
    /// careless server that echoes the key cannot put it in a result, record or log.
    pub async fn execute(&self, clock: &Clock, body: Bytes, rec: &mut RequestRecord) {
        self.execute_inner(clock, body, rec).await;
        for secret in &self.secrets {
            for text in [&mut rec.error, &mut rec.response_id, &mut rec.finish_reason]
                .into_iter()
                .flatten()
            {
                secret.scrub(text);
            }
        }
    }

    async fn execute_inner(&self, clock: &Clock, body: Bytes, rec: &mut RequestRecord) {
        let t_send = clock.at(rec.t_send_us.unwrap_or_default());
        let total_deadline = t_send + self.timeouts.total;
        let mut attempt_start = t_send;
        loop {
            let first_deadline = (attempt_start + self.timeouts.first_token).min(total_deadline);
            let Some(resp) = self
                .attempt(clock, rec, body.clone(), first_deadline, total_deadline)
                .await
            else {
                return;
            };
            if resp.status() == 429 {
                if let Some(wait) = self.backoff(rec, &resp, total_deadline) {
                    // Drop this response (its connection is not reused mid-body) and wait.
                    drop(resp);
                    tokio::time::sleep(wait).await;
                    rec.retries += 1;
                    rec.backoff_us += wait.as_micros() as u64;
                    attempt_start = Instant::now();
                    continue;
                }
            }
            return self
                .read_response(clock, rec, resp, first_deadline, total_deadline)
                .await;
        }
    }

    /// The wait before sending a 429'd request again, or None to give up (back-off off,
    /// retries used up, or the wait would pass the total deadline).
    fn backoff(
        &self,
        rec: &RequestRecord,
        resp: &Resp,
        total_deadline: Instant,
    ) -> Option<Duration> {
        let policy = self.retry?;
        if rec.retries >= policy.max_retries {
            return None;
        }
        let wait = policy.wait(rec.retries, retry_after(resp));
        (Instant::now() + wait < total_deadline).then_some(wait)
    }

    /// One attempt up to the response head; None when it failed (the record is finished).
    async fn attempt(
        &self,
        clock: &Clock,
        rec: &mut RequestRecord,
        body: Bytes,
        first_deadline: Instant,
        total_deadline: Instant,
    ) -> Option<Resp> {
        let resp = if let Some(lean) = &self.lean {
            match timeout_at(first_deadline, lean.send(&body)).await {
                Err(_) => {
                    header_timeout(clock, rec, first_deadline, total_deadline);
                    return None;
                }
                Ok(Err(e)) => {
                    let outcome = match e.kind {
                        lean::LeanErrorKind::Connect => Outcome::Connect,
                        lean::LeanErrorKind::Io => Outcome::StreamCut,
                        lean::LeanErrorKind::Protocol => Outcome::MalformedChunk,
                        lean::LeanErrorKind::Tls => Outcome::Tls,
                    };
                    finish_err(clock, rec, outcome, &e.message);
                    return None;
                }
                Ok(Ok(r)) => {
                    rec.reconnects += r.reconnected as u32;
                    if let Some(setup) = r.setup {
                        self.note_setup(rec, setup);
                    }
                    Resp::Lean(r)
                }
            }
        } else {
            Resp::Std(
                self.send_std(clock, rec, body, first_deadline, total_deadline)
                    .await?,
            )
        };
        resp.read_quota(rec);
        Some(resp)
    }

    /// Puts a new connection's set-up times on the record and in the target's log (once per
    /// connection, not per request).
    #[cold]
    fn note_setup(&self, rec: &mut RequestRecord, setup: lean::Setup) {
        let connect = setup.connect.as_micros() as u64;
        let handshake = setup.handshake.map(|d| d.as_micros() as u64);
        rec.connect_us = Some(connect);
        rec.tls_handshake_us = handshake;
        if let Ok(mut log) = self.setups.lock() {
            log.connections += 1;
            log.connect.record(connect);
            if let Some(h) = handshake {
                log.handshake.record(h);
            }
        }
    }

    /// How this target is reached and what its connections cost to open, for the result.
    pub fn transport(&self, target: &str) -> crate::results::TransportResult {
        use crate::config::scenario::HttpVersion;
        use crate::results::{SetupSummary, TransportResult};
        let summary = |h: &crate::metrics::hist::Hist| {
            let s = h.summary(1e-3);
            (s.count > 0).then_some(SetupSummary {
                p50: s.p50,
                p99: s.p99,
                max: s.max,
            })
        };
        let tls = self.url.starts_with("https://");
        match &self.lean {
            Some(lean) => {
                let log = self.setups.lock().map(|l| l.clone()).unwrap_or_default();
                TransportResult {
                    target: target.to_string(),
                    client: "lean".into(),
                    http_version: "1.1".into(),
                    tls,
                    time_source: if lean.kernel_stamps() {
                        "kernel_receive_stamp"
                    } else {
                        "user_space_read"
                    }
                    .into(),
                    new_connections: Some(log.connections),
                    connect_ms: summary(&log.connect),
                    tls_handshake_ms: summary(&log.handshake),
                }
            }
            None => TransportResult {
                target: target.to_string(),
                client: "reqwest".into(),
                http_version: match self.http_version {
                    HttpVersion::Auto => "auto",
                    HttpVersion::Http1 => "1.1",
                    HttpVersion::Http2 => "2",
                }
                .into(),
                tls,
                time_source: "user_space_read".into(),
                ..Default::default()
            },
        }
    }

    /// Reads and classifies a response whose head has arrived.
    async fn read_response(
        &self,
        clock: &Clock,
        rec: &mut RequestRecord,
        resp: Resp,
        first_deadline: Instant,
        total_deadline: Instant,
    ) {
        let t_headers = resp.rx_time().unwrap_or_else(Instant::now);
        rec.t_headers_us = Some(clock.us(t_headers));
        let status = resp.status();
        rec.status = Some(status);
        if !(200..300).contains(&status) {
            return self.http_error(clock, rec, resp, first_deadline).await;
        }
        let is_sse = resp
            .header("content-type")
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if self.stream && is_sse && self.responses {
            self.read_stream::<responses::TypedEvents>(
                clock,
                rec,
                resp,
                first_deadline,
                total_deadline,
            )
            .await
        } else if self.stream && is_sse {
            self.read_stream::<ChunkEvents>(clock, rec, resp, first_deadline, total_deadline)
                .await
        } else {
            self.read_whole(clock, rec, resp, first_deadline).await
        }
    }

    /// The default (reqwest) transport up to the response head; None when the request already
    /// failed (the record is then finished).
    async fn send_std(
        &self,
        clock: &Clock,
        rec: &mut RequestRecord,
        body: Bytes,
        first_deadline: Instant,
        total_deadline: Instant,
    ) -> Option<reqwest::Response> {
        let resp = loop {
            let client = if rec.reconnects == 0 {
                &self.http
            } else {
                &self.fresh
            };
            let req = client.post(&self.url).body(body.clone());
            let r = timeout_at(first_deadline, req.send()).await;
            // A pooled connection the server had already closed (llama-server closes after
            // every streamed response while advertising keep-alive) fails before any response
            // byte: the server never saw the request. Send it again on a fresh connection, a
            // bounded number of times, and count it on the record.
            if let Ok(Err(e)) = &r {
                if rec.reconnects < MAX_RECONNECTS && closed_before_response(e) {
                    rec.reconnects += 1;
                    continue;
                }
            }
            break r;
        };
        let resp = match resp {
            Err(_) => {
                header_timeout(clock, rec, first_deadline, total_deadline);
                return None;
            }
            Ok(Err(e)) => {
                let outcome = if e.is_timeout() {
                    Outcome::TimeoutHeaders
                } else if is_tls_error(&e) {
                    Outcome::Tls
                } else if e.is_connect() {
                    Outcome::Connect
                } else {
                    Outcome::StreamCut
                };
                finish_err(clock, rec, outcome, &describe(&e));
                return None;
            }
            Ok(Ok(r)) => r,
        };
        Some(resp)
    }

    async fn http_error(
        &self,
        clock: &Clock,
        rec: &mut RequestRecord,
        mut resp: Resp,
        deadline: Instant,
    ) {
        let status = resp.status();
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            match timeout_at(deadline, resp.chunk()).await {
                Ok(Ok(Some(c))) => body.extend_from_slice(&c),
                _ => break,
            }
        }
        let mut sink = String::new();
        let detail = match wire::decode_full_response(&body, &mut sink) {
            Ok(wire::StreamEvent::Error(e)) => truncate(&e.message, 200),
            _ => {
                let text = String::from_utf8_lossy(&body);
                truncate(text.trim(), 120)
            }
        };
        rec.outcome = match status {
            429 => Outcome::RateLimited,
            400..=499 => Outcome::Http4xx,
            500..=599 => Outcome::Http5xx,
            _ => Outcome::HttpOther,
        };
        rec.error = Some(format!("HTTP {status}: {detail}"));
        rec.t_end_us = clock.us(Instant::now());
    }

    async fn read_whole(
        &self,
        clock: &Clock,
        rec: &mut RequestRecord,
        mut resp: Resp,
        deadline: Instant,
    ) {
        let streaming_expected = self.stream;
        let mut body = Vec::new();
        loop {
            match timeout_at(deadline, resp.chunk()).await {
                Err(_) => {
                    let total = clock.at(rec.t_send_us.unwrap_or_default()) + self.timeouts.total;
                    let outcome = if deadline >= total {
                        Outcome::TimeoutTotal
                    } else {
                        Outcome::TimeoutFirstToken
                    };
                    return finish_err(
                        clock,
                        rec,
                        outcome,
                        "response body not complete before the timeout",
                    );
                }
                Ok(Err(e)) => return finish_err(clock, rec, Outcome::StreamCut, &e),
                Ok(Ok(None)) => break,
                Ok(Ok(Some(c))) => {
                    if body.len() + c.len() > self.max_response {
                        return finish_err(
                            clock,
                            rec,
                            Outcome::TooLarge,
                            "response exceeded the size cap",
                        );
                    }
                    body.extend_from_slice(&c);
                }
            }
        }
        let t_end = resp.rx_time().unwrap_or_else(Instant::now);
        let t_us = clock.us(t_end);
        rec.t_end_us = t_us;
        if self.embeddings {
            return embeddings_outcome(rec, &body);
        }
        if self.responses {
            return responses::whole_outcome(rec, &body, streaming_expected, t_us);
        }
        let mut text = String::new();
        let decoded = wire::decode_full_response(&body, &mut text);
        if let Ok(wire::StreamEvent::Delta(d)) = &decoded {
            if !d.carries_output() && d.finish_reason.is_none() {
                // Nothing a completion carries (a Responses object's `usage` is no chat
                // usage): a Responses API object is not one.
                if let Some(why) = responses::foreign_payload(&body) {
                    rec.outcome = Outcome::MalformedChunk;
                    rec.error = Some(why);
                    return;
                }
            }
        }
        match decoded {
            Ok(wire::StreamEvent::Delta(d)) => {
                if streaming_expected {
                    rec.outcome = Outcome::NotSse;
                    rec.error = Some("a streaming request got a non-SSE response".into());
                } else {
                    rec.outcome = Outcome::Ok;
                }
                if d.carries_output() {
                    rec.t_first_us = Some(t_us);
                    rec.t_last_us = Some(t_us);
                    rec.output_events = 1;
                    rec.first_event_bytes =
                        (d.answer_bytes + d.reasoning_bytes + d.tool_bytes) as u32;
                }
                if d.carries_answer() {
                    rec.t_first_answer_us = Some(t_us);
                }
                rec.finish_reason = d.finish_reason.clone();
                rec.response_id = d.id.clone();
                rec.tool_calls = d.tool_calls;
                apply_usage(rec, d.usage.as_ref(), text);
            }
            Ok(wire::StreamEvent::Error(e)) => {
                rec.outcome = Outcome::ErrorEvent;
                rec.error = Some(truncate(&e.message, 200));
            }
            Ok(wire::StreamEvent::Done) | Err(_) => {
                rec.outcome = if streaming_expected {
                    Outcome::NotSse
                } else {
                    Outcome::MalformedChunk
                };
                rec.error = Some("the response body is not an OpenAI completion".into());
            }
        }
    }

    async fn read_stream<E: Events>(
        &self,
        clock: &Clock,
        rec: &mut RequestRecord,
        mut resp: Resp,
        first_deadline: Instant,
        total_deadline: Instant,
    ) {
        let mut parser = sse::SseParser::new(self.max_response.min(MAX_EVENT_BYTES));
        let mut st = StreamState::default();
        let mut received = 0usize;
        // One timer for the whole stream, re-armed lazily: armed at the first-token deadline,
        // then once at the first output (last event + idle, capped by the total); after that,
        // only when it fires is the real deadline computed and the timer moved — re-arming it
        // on every event would cost a timer-wheel update per token. `chunk()` is cancel-safe,
        // so losing the race to the timer loses no data.
        let timer = tokio::time::sleep_until(first_deadline);
        tokio::pin!(timer);
        let mut idle_armed = false;
        // When the body's end reached this host, for a stream that ended normally.
        let mut end_at = None;
        let outcome = loop {
            let next = tokio::select! {
                biased;
                c = resp.chunk() => Some(c),
                _ = &mut timer => None,
            };
            let Some(next) = next else {
                let deadline = match st.last {
                    None => first_deadline,
                    Some(last) => (last + self.timeouts.idle).min(total_deadline),
                };
                if Instant::now() < deadline {
                    timer.as_mut().reset(deadline);
                    continue;
                }
                let (outcome, why) = if deadline >= total_deadline {
                    (
                        Outcome::TimeoutTotal,
                        "the request took longer than the total timeout",
                    )
                } else if st.last.is_none() {
                    (
                        Outcome::TimeoutFirstToken,
                        "no output before the first-token timeout",
                    )
                } else {
                    (
                        Outcome::TimeoutIdle,
                        "the stream went silent for the idle timeout",
                    )
                };
                st.error = Some(why.into());
                break outcome;
            };
            let chunk = match next {
                Err(e) => {
                    st.error = Some(e);
                    break Outcome::StreamCut;
                }
                Ok(None) => {
                    let t = resp.rx_time().unwrap_or_else(Instant::now);
                    end_at = Some(t);
                    parser.finish(|ev| E::on_event(&mut st, clock, ev.data, t));
                    break E::end_outcome(&mut st);
                }
                Ok(Some(c)) => c,
            };
            // When the bytes reached this host (the kernel's stamp) where known: the time the
            // event loop took to get to them is the generator's, not the endpoint's.
            let now = resp.rx_time().unwrap_or_else(Instant::now);
            received += chunk.len();
            if received > self.max_response {
                st.error = Some("response exceeded the size cap".into());
                break Outcome::TooLarge;
            }
            if parser
                .feed(&chunk, |ev| E::on_event(&mut st, clock, ev.data, now))
                .is_err()
            {
                st.error = Some("an SSE event exceeded the size cap".into());
                break Outcome::TooLarge;
            }
            if st.error_event {
                break Outcome::ErrorEvent;
            }
            if !idle_armed {
                if let Some(last) = st.last {
                    // The first output came: from now on the deadline is last event + idle,
                    // which only moves later, so the lazy re-arm above is never late.
                    timer
                        .as_mut()
                        .reset((last + self.timeouts.idle).min(total_deadline));
                    idle_armed = true;
                }
            }
        };
        rec.t_end_us = clock.us(end_at.unwrap_or_else(Instant::now));
        rec.outcome = outcome;
        rec.t_first_us = st.first.map(|t| clock.us(t));
        rec.t_first_answer_us = st.first_answer.map(|t| clock.us(t));
        rec.t_last_us = st.last.map(|t| clock.us(t));
        rec.output_events = st.events;
        rec.first_event_bytes = st.first_bytes;
        rec.gaps = std::mem::take(&mut st.gaps);
        rec.response_id = st.id.take();
        rec.finish_reason = st.finish_reason.take();
        rec.tool_calls = st.tool_calls;
        if rec.error.is_none() {
            rec.error = st.error.take();
        }
        apply_usage(rec, st.usage.as_ref(), std::mem::take(&mut st.text));
        if outcome == Outcome::TooLarge && rec.untokenized_output.is_some() {
            // Up to the whole size cap of text: not worth a tokenizer pass for a request
            // that failed. Count the events instead (the source says so).
            rec.untokenized_output = None;
            rec.output_text = None;
            rec.output_tokens = Some(u64::from(rec.output_events));
            rec.output_tokens_source = Some(TokenSource::Events);
        }
    }
}

/// A response from either transport.
enum Resp {
    Std(reqwest::Response),
    Lean(lean::LeanResponse),
}

impl Resp {
    fn status(&self) -> u16 {
        match self {
            Resp::Std(r) => r.status().as_u16(),
            Resp::Lean(r) => r.status,
        }
    }

    /// A header by lower-case name.
    fn header(&self, name: &str) -> Option<String> {
        match self {
            Resp::Std(r) => r
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(String::from),
            Resp::Lean(r) => r.header(name).map(String::from),
        }
    }

    /// Reads the server's quota headers (`x-ratelimit-*`) and `Retry-After` onto the record,
    /// in one pass over the headers; nothing is allocated when they are absent. A response that
    /// carries none leaves what an earlier attempt's response carried.
    #[inline]
    fn read_quota(&self, rec: &mut RequestRecord) {
        use crate::core::quota::read;
        let (quota, retry_after) = match self {
            Resp::Std(r) => read(
                r.headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().as_bytes(), v.as_bytes())),
            ),
            Resp::Lean(r) => read(r.headers().map(|(k, v)| (k.as_bytes(), v.as_bytes()))),
        };
        if !quota.is_empty() {
            rec.quota = quota;
        }
        if let Some(v) = retry_after.and_then(|v| std::str::from_utf8(v).ok()) {
            if let Some(s) = parse_retry_after(v, time::OffsetDateTime::now_utc()) {
                rec.retry_after_s = Some(s);
            }
        }
    }

    /// When the latest bytes read reached this host, when the transport knows (kernel stamps
    /// on the lean client under Linux).
    fn rx_time(&self) -> Option<Instant> {
        match self {
            Resp::Std(_) => None,
            Resp::Lean(r) => r.rx_at(),
        }
    }

    /// The next piece of body; an error is described without credentials.
    async fn chunk(&mut self) -> Result<Option<Bytes>, String> {
        match self {
            Resp::Std(r) => r.chunk().await.map_err(|e| describe(&e)),
            Resp::Lean(r) => r.chunk().await.map_err(|e| e.message),
        }
    }
}

/// How a stream's events are read: completion chunks, or Responses API events (see
/// `responses`). Chosen once per request, so neither pays for the other per event.
trait Events {
    fn on_event(st: &mut StreamState, clock: &Clock, data: &[u8], t: Instant);
    fn end_outcome(st: &mut StreamState) -> Outcome;
}

/// Chat and completions chunks.
struct ChunkEvents;

impl Events for ChunkEvents {
    #[inline(always)]
    fn on_event(st: &mut StreamState, clock: &Clock, data: &[u8], t: Instant) {
        st.on_event(clock, data, t);
    }

    fn end_outcome(st: &mut StreamState) -> Outcome {
        st.end_outcome()
    }
}

/// A decoded payload with no output, no finish reason and no usage.
#[inline]
fn carries_nothing(d: &wire::Delta) -> bool {
    !d.carries_output() && d.finish_reason.is_none() && d.usage.is_none()
}

/// Per-stream state while events arrive.
#[derive(Default)]
struct StreamState {
    first: Option<Instant>,
    first_answer: Option<Instant>,
    last: Option<Instant>,
    events: u32,
    first_bytes: u32,
    gaps: Vec<(u32, u32)>,
    usage: Option<wire::Usage>,
    finish_reason: Option<String>,
    id: Option<String>,
    /// Tool calls named so far (highest index + 1).
    tool_calls: u32,
    done: bool,
    malformed: bool,
    error_event: bool,
    error: Option<String>,
    text: String,
    /// Responses API: tool-call arguments were streamed (the finish reason is `tool_calls`).
    tool_args: bool,
}

impl StreamState {
    fn on_event(&mut self, _clock: &Clock, data: &[u8], t: Instant) {
        if self.done || self.error_event {
            return;
        }
        let want_id = self.id.is_none();
        match wire::decode_stream_event(data, want_id, &mut self.text) {
            Ok(wire::StreamEvent::Done) => self.done = true,
            Ok(wire::StreamEvent::Error(e)) => {
                self.error_event = true;
                self.error = Some(format!("error event: {}", truncate(&e.message, 200)));
            }
            Ok(wire::StreamEvent::Delta(d)) => {
                if want_id {
                    self.id = d.id.clone();
                }
                if d.finish_reason.is_some() {
                    self.finish_reason = d.finish_reason.clone();
                }
                if d.usage.is_some() {
                    self.usage = d.usage.clone();
                }
                self.tool_calls = self.tool_calls.max(d.tool_calls);
                if d.carries_output() {
                    let bytes = (d.answer_bytes + d.reasoning_bytes + d.tool_bytes) as u32;
                    self.note_output(bytes, d.carries_answer(), t);
                } else if self.id.is_none() && carries_nothing(&d) && !self.malformed {
                    // Chunks carry an `id`; Responses events have none at the top level, so a
                    // chat stream's role chunk never pays for this look.
                    self.foreign(data);
                }
            }
            Err(e) => {
                if !self.malformed {
                    self.error = Some(format!("malformed event: {e}"));
                }
                self.malformed = true;
            }
        }
    }

    /// One output event of `bytes` bytes at `t` (`answer`: not reasoning alone).
    #[inline(always)]
    fn note_output(&mut self, bytes: u32, answer: bool, t: Instant) {
        match self.last {
            None => {
                self.first = Some(t);
                self.first_bytes = bytes;
            }
            Some(prev) => {
                let gap = t.saturating_duration_since(prev).as_micros();
                self.gaps.push((gap.min(u32::MAX as u128) as u32, bytes));
            }
        }
        if answer && self.first_answer.is_none() {
            self.first_answer = Some(t);
        }
        self.last = Some(t);
        self.events += 1;
    }

    /// A payload that carried nothing: a Responses API event where a chunk was expected
    /// makes the stream malformed.
    #[cold]
    fn foreign(&mut self, data: &[u8]) {
        if let Some(why) = responses::foreign_payload(data) {
            self.error = Some(format!("malformed event: {why}"));
            self.malformed = true;
        }
    }

    fn end_outcome(&mut self) -> Outcome {
        if self.error_event {
            Outcome::ErrorEvent
        } else if self.malformed {
            Outcome::MalformedChunk
        } else if self.done || self.finish_reason.is_some() {
            Outcome::Ok
        } else {
            self.error = Some("the stream ended without a finish_reason or [DONE]".into());
            Outcome::Incomplete
        }
    }
}

/// Token counts from the server's usage. Without one, the received text is left on the record
/// for the caller to count off the async workers (see [`count_output_offline`]).
fn apply_usage(rec: &mut RequestRecord, usage: Option<&wire::Usage>, text: String) {
    if let Some(u) = usage {
        if let Some(n) = u.completion_tokens {
            rec.output_tokens = Some(n);
            rec.output_tokens_source = Some(TokenSource::Usage);
            rec.usage_mismatch = n < rec.output_events as u64;
        }
        if let Some(n) = u.prompt_tokens {
            rec.input_tokens = Some(n);
            rec.input_tokens_source = Some(TokenSource::Usage);
        }
        rec.reasoning_tokens = u.reasoning_tokens;
        rec.cached_tokens = u.cached_tokens;
    }
    if rec.want_text {
        rec.output_text = Some(text.clone());
    }
    if rec.output_tokens.is_none() && rec.output_events > 0 {
        rec.untokenized_output = Some(text);
    }
}

/// Classifies a whole `/embeddings` body: `ok` with the server's input tokens when it holds
/// one vector per input sent (`rec.inputs`), an `error_event` for an error object, otherwise
/// `malformed_chunk` saying what is wrong (chat chunks, no `data`, a vector count that does
/// not match the inputs).
fn embeddings_outcome(rec: &mut RequestRecord, body: &[u8]) {
    match embed::decode(body) {
        Ok(r) if rec.inputs == 0 || r.vectors == rec.inputs as usize => {
            rec.outcome = Outcome::Ok;
            rec.response_id = r.id;
            if let Some(n) = r.input_tokens {
                rec.input_tokens = Some(n);
                rec.input_tokens_source = Some(TokenSource::Usage);
            }
        }
        Ok(r) => {
            rec.outcome = Outcome::MalformedChunk;
            rec.error = Some(format!(
                "{} embeddings for {} inputs",
                r.vectors, rec.inputs
            ));
        }
        Err(why) => {
            let mut sink = String::new();
            if let Ok(wire::StreamEvent::Error(e)) = wire::decode_full_response(body, &mut sink) {
                rec.outcome = Outcome::ErrorEvent;
                rec.error = Some(truncate(&e.message, 200));
            } else {
                rec.outcome = Outcome::MalformedChunk;
                rec.error = Some(truncate(&why, 200));
            }
        }
    }
}

/// Counts output tokens the server did not report: the model's tokenizer `tok` on the
/// received text, on a blocking thread (building its table or encoding a long text must never
/// stall the event loop that timestamps other requests), else the number of output events.
pub async fn count_output_offline(rec: &mut RequestRecord, tok: &Tokenizer) {
    let Some(text) = rec.untokenized_output.take() else {
        return;
    };
    let tok = tok.clone();
    let counted = tokio::task::spawn_blocking(move || tok.count(&text))
        .await
        .ok()
        .flatten();
    match counted {
        Some(n) => {
            rec.output_tokens = Some(n);
            rec.output_tokens_source = Some(TokenSource::Tokenizer);
        }
        None => {
            rec.output_tokens = Some(rec.output_events as u64);
            rec.output_tokens_source = Some(TokenSource::Events);
        }
    }
}

/// `Retry-After` of a 429, in seconds: delta-seconds, or an HTTP date (relative to now).
fn retry_after(resp: &Resp) -> Option<f64> {
    if resp.status() != 429 {
        return None;
    }
    parse_retry_after(
        &resp.header("retry-after")?,
        time::OffsetDateTime::now_utc(),
    )
}

fn parse_retry_after(v: &str, now: time::OffsetDateTime) -> Option<f64> {
    let v = v.trim();
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then_some(s);
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    Some((at - now).as_seconds_f64().max(0.0))
}

/// Whether a failed request failed in the TLS handshake. rustls reports handshake failures
/// as I/O errors of kind `InvalidData` (TCP connect failures never are); its messages name
/// certificates or the TLS record layer.
fn is_tls_error(e: &reqwest::Error) -> bool {
    use std::error::Error;
    if !e.is_connect() {
        return false;
    }
    let mut cur: Option<&dyn Error> = e.source();
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::InvalidData {
                return true;
            }
        }
        let text = err.to_string().to_ascii_lowercase();
        if [
            "certificate",
            "tls",
            "handshake",
            "corrupt message",
            "peer sent no certificates",
        ]
        .iter()
        .any(|w| text.contains(w))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

fn finish_err(clock: &Clock, rec: &mut RequestRecord, outcome: Outcome, msg: &str) {
    rec.outcome = outcome;
    rec.error = Some(msg.to_string());
    rec.t_end_us = clock.us(Instant::now());
}

/// reqwest's error chain without the URL (which could carry a key in a query string).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut s = String::new();
    let mut cur: Option<&dyn Error> = Some(e);
    let mut first = true;
    while let Some(err) = cur {
        let text = if first {
            first = false;
            let mut msg = err.to_string();
            if let Some(url) = e.url() {
                msg = msg.replace(url.as_str(), "<url>");
            }
            msg
        } else {
            err.to_string()
        };
        if !s.contains(&text) {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&text);
        }
        cur = err.source();
    }
    truncate(&s, 300)
}

/// Finishes a request whose response head did not come before its deadline: the total
/// timeout when the first-token deadline was the total one, else the header timeout.
fn header_timeout(clock: &Clock, rec: &mut RequestRecord, first: Instant, total: Instant) {
    let outcome = if first == total {
        Outcome::TimeoutTotal
    } else {
        Outcome::TimeoutHeaders
    };
    finish_err(
        clock,
        rec,
        outcome,
        "no response headers before the timeout",
    );
}

/// Bound on sending a request again after a pooled connection turned out closed.
const MAX_RECONNECTS: u32 = 3;

/// Whether a send failed because the connection was closed or reset before any response
/// came (hyper's "connection closed before message completed", or a reset while waiting for
/// the response head). Only errors of sending, not of connecting, qualify.
fn closed_before_response(e: &reqwest::Error) -> bool {
    if e.is_connect() || e.is_timeout() {
        return false;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                return true;
            }
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            );
        }
        cur = err.source();
    }
    false
}

fn truncate(s: &str, max: usize) -> String {
    if s.contains(";base64,") {
        return truncate_plain(&redact_data_urls(s), max);
    }
    truncate_plain(s, max)
}

/// `s` with the payload of every `data:…;base64,…` URL replaced by `(data)`: a server that
/// echoes a request's image in its error must not put it in a record.
fn redact_data_urls(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(512));
    let mut rest = s;
    while let Some(at) = rest.find(";base64,") {
        let cut = at + ";base64,".len();
        out.push_str(&rest[..cut]);
        out.push_str("(data)");
        let tail = &rest[cut..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '\\')))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn truncate_plain(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::record::{Outcome, Phase};

    #[test]
    fn errors_never_carry_an_echoed_image() {
        let e = "bad image at messages[0]: 'data:image/png;base64,iVBORw0KGgo+/AAAA==' and data:image/gif;base64,R0lG";
        assert_eq!(
            truncate(e, 200),
            "bad image at messages[0]: 'data:image/png;base64,(data)' and data:image/gif;base64,(data)"
        );
        assert_eq!(truncate("plain", 200), "plain");
    }

    fn rec(events: u32) -> RequestRecord {
        let mut r = RequestRecord::unsent(0, "m".into(), Phase::Measure, Outcome::Ok, 0, 0);
        r.output_events = events;
        r
    }

    #[tokio::test]
    async fn output_without_usage_is_counted_with_the_models_tokenizer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = crate::config::tokenizer::testkit::word_level_json(&["a"]);
        let file = crate::config::tokenizer::testkit::load(dir.path(), "t.json", &json);
        // Four words to the file's whitespace pre-tokenizer, more tokens to o200k_base.
        let text = "naïve café — ünïcödé";
        assert!(crate::config::tokens::count(text).expect("o200k") > 4);
        for (tok, want) in [
            (file, 4),
            (
                Tokenizer::Builtin(crate::config::tokens::Encoding::O200k),
                crate::config::tokens::count(text).expect("o200k"),
            ),
        ] {
            let mut r = rec(3);
            r.untokenized_output = Some(text.into());
            count_output_offline(&mut r, &tok).await;
            assert_eq!(r.output_tokens, Some(want), "{tok:?}");
            assert_eq!(r.output_tokens_source, Some(TokenSource::Tokenizer));
        }
    }

    #[test]
    fn an_embeddings_body_is_ok_only_with_one_vector_per_input() {
        let body = br#"{"data":[{"embedding":[0.1]},{"embedding":[0.2]}],"usage":{"prompt_tokens":8,"total_tokens":8}}"#;
        let mut r = rec(0);
        r.inputs = 2;
        embeddings_outcome(&mut r, body);
        assert_eq!(r.outcome, Outcome::Ok);
        assert_eq!(r.input_tokens, Some(8));
        assert_eq!(r.input_tokens_source, Some(TokenSource::Usage));
        let mut r = rec(0);
        r.inputs = 3;
        embeddings_outcome(&mut r, body);
        assert_eq!(r.outcome, Outcome::MalformedChunk);
        assert_eq!(r.error.as_deref(), Some("2 embeddings for 3 inputs"));
        assert_eq!(r.input_tokens, None);
        let mut r = rec(0);
        r.inputs = 1;
        embeddings_outcome(&mut r, br#"{"error":{"message":"model not found"}}"#);
        assert_eq!(r.outcome, Outcome::ErrorEvent);
        assert_eq!(r.error.as_deref(), Some("model not found"));
        let mut r = rec(0);
        r.inputs = 1;
        embeddings_outcome(&mut r, br#"{"choices":[{"message":{"content":"hi"}}]}"#);
        assert_eq!(r.outcome, Outcome::MalformedChunk);
    }

    #[test]
    fn usage_below_the_event_count_is_flagged_and_kept() {
        let usage = wire::Usage {
            completion_tokens: Some(2),
            prompt_tokens: Some(9),
            ..Default::default()
        };
        let mut r = rec(5);
        apply_usage(&mut r, Some(&usage), String::from("a b c d e"));
        assert!(r.usage_mismatch);
        assert_eq!(r.output_tokens, Some(2), "the server's figure is kept");
        assert_eq!(r.output_tokens_source, Some(TokenSource::Usage));
        let mut ok = rec(2);
        apply_usage(&mut ok, Some(&usage), String::new());
        assert!(!ok.usage_mismatch);
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = time::macros::datetime!(2015-10-21 07:27:50 UTC);
        assert_eq!(parse_retry_after(" 7 ", now), Some(7.0));
        assert_eq!(parse_retry_after("0.5", now), Some(0.5));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(10.0)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(0.0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let p = RetryPolicy {
            max_retries: 3,
            max_wait: Duration::from_secs(2),
        };
        assert_eq!(p.wait(0, Some(10.0)), Duration::from_secs(2));
        assert_eq!(p.wait(0, None), Duration::from_millis(250));
        assert_eq!(p.wait(2, None), Duration::from_secs(1));
        assert_eq!(p.wait(9, None), Duration::from_secs(2));
    }

    #[test]
    fn missing_usage_leaves_text_for_offline_counting() {
        let mut r = rec(3);
        apply_usage(&mut r, None, String::from(" the of and"));
        assert!(r.output_tokens.is_none());
        assert_eq!(r.untokenized_output.as_deref(), Some(" the of and"));
    }

    #[test]
    fn the_endpoint_path_goes_before_the_query_for_every_endpoint_kind() {
        let base = "https://x.openai.azure.com/openai/deployments/d?api-version=2024-10-21";
        assert_eq!(
            endpoint_url(base, "/chat/completions"),
            "https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            endpoint_url(base, "/completions"),
            "https://x.openai.azure.com/openai/deployments/d/completions?api-version=2024-10-21"
        );
        assert_eq!(
            endpoint_url("http://h/v1", "/completions"),
            "http://h/v1/completions"
        );
    }

    #[test]
    fn each_auth_style_sends_the_key_under_its_header_and_url_credentials_as_basic() {
        use crate::config::plan::{Auth, AuthStyle};
        let with = |style, basic: Option<(&str, &str)>| {
            let auth = Auth {
                style,
                basic: basic.map(|(u, p)| (u.to_string(), p.to_string())),
            };
            auth_headers(Some("K1"), &auth)
        };
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            with(AuthStyle::Bearer, None),
            [pair("Authorization", "Bearer K1")]
        );
        assert_eq!(with(AuthStyle::ApiKey, None), [pair("api-key", "K1")]);
        assert_eq!(
            with(
                AuthStyle::Header("X-T".into()),
                Some(("Aladdin", "open sesame"))
            ),
            // RFC 7617's example credentials and their encoding.
            [
                pair("X-T", "K1"),
                pair("Authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
            ]
        );
        let auth = Auth {
            style: AuthStyle::ApiKey,
            basic: Some(("Aladdin".into(), "open sesame".into())),
        };
        let mut text = "K1 open sesame QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_string();
        for s in secrets(Some("K1"), &auth, &auth_headers(Some("K1"), &auth)) {
            s.scrub(&mut text);
        }
        assert_eq!(text, "<redacted> <redacted> <redacted>");
    }
}
