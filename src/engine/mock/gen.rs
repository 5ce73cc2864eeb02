//! Token generation: the per-request plan (all random draws) and the SSE body stream.
//!
//! The stream is a hand-written state machine: one boxed `Sleep` per request that is
//! reset to each absolute chunk deadline, one reusable `BytesMut` from which every SSE
//! event is split off as a single `Bytes` frame, and no allocation per token.

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::{AcquireError, OwnedSemaphorePermit};
use tokio::time::{Instant, Sleep};

use super::server::{ModelRt, Shared};
use super::truth::Record;
use super::{Faults, Stop, STALL_LIMIT};
use crate::core::dist::Dist;

mod responses;

/// The generated vocabulary: common English words with a leading space, each exactly
/// one token in cl100k_base and o200k_base (also when concatenated). 64 entries so a
/// word is picked with 6 random bits.
pub(crate) const VOCAB: [&str; 64] = [
    " the", " of", " and", " to", " in", " is", " that", " for", " it", " as", " with", " on",
    " was", " be", " at", " by", " this", " from", " or", " are", " an", " have", " not", " they",
    " which", " you", " his", " her", " we", " can", " all", " has", " one", " but", " more",
    " will", " their", " there", " been", " would", " about", " time", " new", " people", " other",
    " some", " what", " when", " were", " if", " so", " out", " up", " no", " first", " also",
    " after", " into", " two", " only", " over", " most", " like", " just",
];

/// Longest vocabulary word, for buffer sizing.
const MAX_WORD: usize = 8;

/// Upper bound on any single simulated delay, so deadline arithmetic cannot overflow.
const MAX_DELAY: Duration = Duration::from_secs(3600);

/// Upper bound on generated tokens per request.
pub(crate) const MAX_TOKENS: u64 = 10_000_000;

/// Which endpoint a request came in on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Chat,
    Completion,
    /// `/v1/responses`: typed events (see `responses`).
    Responses,
}

impl Kind {
    pub fn id_prefix(self) -> &'static str {
        match self {
            Kind::Chat => "chatcmpl-mock-",
            Kind::Completion => "cmpl-mock-",
            Kind::Responses => "resp-mock-",
        }
    }
}

/// The fault drawn for a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fault {
    RateLimit,
    ServerError,
    Stall,
    Disconnect,
    Malformed,
    ErrorEvent,
    NoHeaders,
    HtmlError,
    WrongContentType,
    NoDone,
    Endless,
    InvalidUtf8,
    UsageMismatch,
    Reset,
}

impl Fault {
    /// Every fault, in draw order (the order of [`Faults::probabilities`]).
    const ALL: [Fault; 14] = [
        Fault::RateLimit,
        Fault::ServerError,
        Fault::Stall,
        Fault::Disconnect,
        Fault::Malformed,
        Fault::ErrorEvent,
        Fault::NoHeaders,
        Fault::HtmlError,
        Fault::WrongContentType,
        Fault::NoDone,
        Fault::Endless,
        Fault::InvalidUtf8,
        Fault::UsageMismatch,
        Fault::Reset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::RateLimit => "rate_limit",
            Fault::ServerError => "server_error",
            Fault::Stall => "stall",
            Fault::Disconnect => "disconnect",
            Fault::Malformed => "malformed",
            Fault::ErrorEvent => "error_event",
            Fault::NoHeaders => "no_headers",
            Fault::HtmlError => "html_error",
            Fault::WrongContentType => "wrong_content_type",
            Fault::NoDone => "no_done",
            Fault::Endless => "endless",
            Fault::InvalidUtf8 => "invalid_utf8",
            Fault::UsageMismatch => "usage_mismatch",
            Fault::Reset => "reset",
        }
    }

    /// One uniform draw (always made, so the draw sequence does not depend on the
    /// probabilities being zero) mapped onto the cumulative probabilities.
    pub fn draw(f: &Faults, rng: &mut ChaCha8Rng) -> Option<Fault> {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for ((_, p), fault) in f.probabilities().into_iter().zip(Fault::ALL) {
            acc += p;
            if p > 0.0 && u < acc {
                return Some(fault);
            }
        }
        None
    }
}

/// A sampled delay in milliseconds as a bounded `Duration`.
pub(crate) fn delay(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0)
        .unwrap_or(Duration::ZERO)
        .min(MAX_DELAY)
}

/// Everything decided about one request before generation starts.
pub(crate) struct Plan {
    /// Request number: the RNG stream and the id suffix.
    pub n: u64,
    pub kind: Kind,
    pub stream: bool,
    /// The model id echoed in responses.
    pub model_name: String,
    /// Unix seconds for `created`.
    pub created: u64,
    pub fault: Option<Fault>,
    pub ttft: Duration,
    pub reasoning: u32,
    pub content: u32,
    pub tokens_per_chunk: u32,
    /// `finish_reason` is "length" (the request's limit was reached) rather than "stop".
    pub length: bool,
    pub include_usage: bool,
    pub prompt_tokens: u32,
    pub received: Instant,
    pub received_unix_us: u64,
    pub rng: ChaCha8Rng,
    /// Set to make the connection this request came on end with a TCP reset.
    pub conn_reset: Option<Arc<AtomicBool>>,
    /// The function the answer calls (chat with tools): the content tokens are then its
    /// arguments (see `server::tools`).
    pub tool: Option<Box<str>>,
    /// The answer from the model's table, when the prompt is in it: its tokens replace the
    /// generated content words.
    pub script: Option<Box<super::answers::Script>>,
}

impl Plan {
    pub(crate) fn reasoning_chunks(&self) -> u32 {
        self.reasoning.div_ceil(self.tokens_per_chunk)
    }

    pub fn total_chunks(&self) -> u32 {
        self.reasoning_chunks() + self.content.div_ceil(self.tokens_per_chunk)
    }

    /// Faults that cut a stream short strike once this many chunks have been sent.
    pub fn fault_at(&self) -> u32 {
        self.total_chunks() / 2
    }

    pub fn completion_tokens(&self) -> u32 {
        self.reasoning + self.content
    }

    /// The `completion_tokens` the usage block reports: the truth, or half of it under the
    /// `usage_mismatch` fault.
    pub fn reported_completion_tokens(&self) -> u32 {
        if self.fault == Some(Fault::UsageMismatch) {
            self.completion_tokens() / 2
        } else {
            self.completion_tokens()
        }
    }

    /// Marks the connection for a TCP reset (see [`super::conn`]); the caller then fails the
    /// body so the server drops the connection.
    pub fn arm_reset(&self) {
        if let Some(flag) = &self.conn_reset {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Chunk `i`: whether it is reasoning, and how many tokens it carries.
    pub fn chunk(&self, i: u32) -> (bool, u32) {
        let tpc = self.tokens_per_chunk;
        let rc = self.reasoning_chunks();
        if i < rc {
            (true, tpc.min(self.reasoning - i * tpc))
        } else {
            let j = i - rc;
            (false, tpc.min(self.content.saturating_sub(j * tpc)))
        }
    }

    /// Appends `k` random vocabulary words (or the table answer's next tokens).
    pub fn push_words(&mut self, out: &mut String, k: u32) {
        if let Some(script) = self.script.as_deref_mut() {
            for _ in 0..k {
                match script.next_token() {
                    Some(t) => out.push_str(t),
                    None => out.push_str(VOCAB[(self.rng.next_u32() >> 26) as usize]),
                }
            }
            return;
        }
        for _ in 0..k {
            out.push_str(VOCAB[(self.rng.next_u32() >> 26) as usize]);
        }
    }

    /// Appends `k` random vocabulary words to a `BytesMut` (fast path), inside a JSON string
    /// (the table answer's next tokens escaped).
    #[inline]
    fn push_words_bytes(&mut self, out: &mut BytesMut, k: u32) {
        if let Some(script) = self.script.as_deref_mut() {
            for _ in 0..k {
                match script.next_token() {
                    Some(t) => super::answers::push_escaped(out, t),
                    None => out
                        .extend_from_slice(VOCAB[(self.rng.next_u32() >> 26) as usize].as_bytes()),
                }
            }
            return;
        }
        for _ in 0..k {
            let w = VOCAB[(self.rng.next_u32() >> 26) as usize];
            out.extend_from_slice(w.as_bytes());
        }
    }

    pub fn next_itl(&mut self, itl: &Dist) -> Duration {
        delay(itl.sample(&mut self.rng))
    }

    pub fn finish_reason(&self) -> &'static str {
        if self.length {
            "length"
        } else if self.tool.is_some() {
            "tool_calls"
        } else {
            "stop"
        }
    }

    pub fn unix_us(&self, t: Instant) -> u64 {
        let d = t.saturating_duration_since(self.received).as_micros();
        self.received_unix_us
            .saturating_add(u64::try_from(d).unwrap_or(u64::MAX))
    }

    /// The truth-log record for this request.
    pub fn record(
        &self,
        status: u16,
        first: Option<Instant>,
        last: Option<Instant>,
        completion_tokens: u32,
        completed: bool,
    ) -> Record {
        Record {
            kind: self.kind,
            n: self.n,
            model: self.model_name.clone(),
            stream: self.stream,
            status,
            received_unix_us: self.received_unix_us,
            first_token_unix_us: first.map(|t| self.unix_us(t)),
            last_token_unix_us: last.map(|t| self.unix_us(t)),
            prompt_tokens: self.prompt_tokens,
            completion_tokens,
            fault: self.fault.map(Fault::name),
            completed,
        }
    }
}

/// Waits for the server's shutdown signal.
pub(crate) struct StopWait {
    stop: Arc<Stop>,
    notified: Pin<Box<OwnedNotified>>,
}

impl StopWait {
    pub fn new(stop: &Arc<Stop>) -> Self {
        // Created before the flag is read: a notify_waiters() after this point wakes it.
        let notified = Box::pin(stop.notify.clone().notified_owned());
        StopWait {
            stop: stop.clone(),
            notified,
        }
    }

    pub fn poll_stopped(&mut self, cx: &mut Context<'_>) -> bool {
        self.stop.stopping.load(std::sync::atomic::Ordering::SeqCst)
            || self.notified.as_mut().poll(cx).is_ready()
    }

    pub async fn stopped(&mut self) {
        std::future::poll_fn(|cx| {
            if self.poll_stopped(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Chat: the role chunk goes out at once.
    Start,
    /// Waiting for a capacity slot (only with `max_concurrency`).
    Queue,
    /// Sending reasoning/content chunks at their deadlines.
    Tokens,
    /// Silent until the stall limit.
    Stalled,
    /// Sending large chunks without end (the `endless` fault).
    Endless,
    Finish,
    Usage,
    Done,
    End,
}

static DONE: &[u8] = b"data: [DONE]\n\n";
static MALFORMED: &[u8] = b"data: {not json\n\n";
/// Words per chunk under the `endless` fault (about 48 KiB of text).
const ENDLESS_WORDS: u32 = 8192;

static ERROR_EVENT: &[u8] = b"data: {\"error\":{\"message\":\"mock: simulated mid-stream error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";

/// The SSE body of one streamed response.
pub(crate) struct SseStream {
    plan: Plan,
    shared: Arc<Shared>,
    model: Arc<ModelRt>,
    /// `data: {"id":…,"object":…,"created":…,"model":…,"choices":[`
    head: Vec<u8>,
    buf: BytesMut,
    frame_cap: usize,
    phase: Phase,
    total_chunks: u32,
    chunks_sent: u32,
    tokens_sent: u32,
    fault_at: u32,
    fault_done: bool,
    sleep: Pin<Box<Sleep>>,
    deadline: Instant,
    permit: Option<OwnedSemaphorePermit>,
    acquire: Option<Acquire>,
    stop: StopWait,
    first_at: Option<Instant>,
    last_at: Option<Instant>,
    completed: bool,
    /// The chunk repeated under the `endless` fault, built once.
    endless_frame: Option<Bytes>,
    /// Responses API streams: the state of the typed events.
    typed: Option<Box<responses::Typed>>,
}

impl SseStream {
    /// `permit` is the capacity slot taken at receive time, if the model is limited and
    /// one was free; a limited model without one queues in the stream.
    pub fn new(
        plan: Plan,
        shared: Arc<Shared>,
        model: Arc<ModelRt>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Self {
        let object = match plan.kind {
            Kind::Chat => "chat.completion.chunk",
            Kind::Completion => "text_completion",
            Kind::Responses => "response",
        };
        let mut head = Vec::with_capacity(128 + plan.model_name.len());
        head.extend_from_slice(b"data: {\"id\":\"");
        head.extend_from_slice(plan.kind.id_prefix().as_bytes());
        let mut s = String::with_capacity(64);
        let _ = write!(
            s,
            "{}-{}\",\"object\":\"{object}\",\"created\":{},\"model\":",
            shared.seed, plan.n, plan.created
        );
        head.extend_from_slice(s.as_bytes());
        let _ = serde_json::to_writer(&mut head, plan.model_name.as_str());
        head.extend_from_slice(b",\"choices\":[");
        let frame_cap = head.len() + 200;
        let total_chunks = plan.total_chunks();
        let fault_at = plan.fault_at();
        let deadline = plan.received + plan.ttft;
        let stop = StopWait::new(&shared.stop);
        let queued = model.sem.is_some() && permit.is_none();
        SseStream {
            buf: BytesMut::with_capacity(4096),
            frame_cap,
            phase: if plan.kind != Kind::Completion {
                Phase::Start
            } else if queued {
                Phase::Queue
            } else {
                Phase::Tokens
            },
            total_chunks,
            chunks_sent: 0,
            tokens_sent: 0,
            fault_at,
            fault_done: false,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            deadline,
            permit,
            acquire: None,
            stop,
            first_at: None,
            last_at: None,
            completed: false,
            endless_frame: None,
            typed: (plan.kind == Kind::Responses).then(Default::default),
            head,
            plan,
            shared,
            model,
        }
    }

    /// Starts an event whose variable part is about `tokens` words long.
    fn begin(&mut self, tokens: u32) {
        self.buf
            .reserve(self.frame_cap + tokens as usize * MAX_WORD);
        self.buf.extend_from_slice(&self.head);
    }

    fn end_frame(&mut self, tail: &[u8]) -> Bytes {
        self.buf.extend_from_slice(tail);
        self.buf.split().freeze()
    }

    fn role_frame(&mut self) -> Bytes {
        if self.typed.is_some() {
            return self.typed_start();
        }
        self.begin(0);
        self.end_frame(
            b"{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        )
    }

    /// What a mid-stream fault does when the stream reaches its chunk.
    fn fault_at_chunk(&mut self) -> AtFault {
        match self.plan.fault {
            Some(Fault::Disconnect) => {
                self.fault_done = true;
                self.phase = Phase::End;
                AtFault::Yield(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "mock: simulated disconnect",
                )))
            }
            Some(Fault::ErrorEvent) => {
                self.fault_done = true;
                self.phase = Phase::End;
                if self.typed.is_some() {
                    return AtFault::Yield(Ok(self.typed_error()));
                }
                AtFault::Yield(Ok(Bytes::from_static(ERROR_EVENT)))
            }
            Some(Fault::Malformed) => {
                self.fault_done = true;
                AtFault::Yield(Ok(Bytes::from_static(MALFORMED)))
            }
            Some(Fault::InvalidUtf8) => {
                self.fault_done = true;
                let frame = self.content_frame(false, 1, b"\xff\xfe\xc3");
                AtFault::Yield(Ok(frame))
            }
            Some(Fault::Reset) => {
                self.fault_done = true;
                self.phase = Phase::End;
                self.plan.arm_reset();
                AtFault::Yield(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "mock: simulated connection reset",
                )))
            }
            Some(Fault::Endless) => {
                self.fault_done = true;
                self.phase = Phase::Endless;
                let (reasoning, _) = self.plan.chunk(self.chunks_sent);
                let frame = self.content_frame(reasoning, ENDLESS_WORDS, b"");
                self.endless_frame = Some(frame);
                AtFault::Continue
            }
            _ => {
                self.fault_done = true;
                AtFault::Send
            }
        }
    }

    fn chunk_frame(&mut self) -> Bytes {
        let (reasoning, k) = self.plan.chunk(self.chunks_sent);
        self.tokens_sent += k;
        self.content_frame(reasoning, k, b"")
    }

    /// A content (or reasoning) chunk of `k` random words followed by `raw` bytes inside
    /// the JSON string.
    fn content_frame(&mut self, reasoning: bool, k: u32, raw: &[u8]) -> Bytes {
        if self.typed.is_some() {
            return self.typed_delta(reasoning, k, raw);
        }
        if !reasoning && self.plan.tool.is_some() {
            return self.tool_frame(k, raw);
        }
        self.begin(k);
        let open: &[u8] = match (self.plan.kind, reasoning) {
            (Kind::Chat, false) => b"{\"index\":0,\"delta\":{\"content\":\"",
            (Kind::Chat, true) => b"{\"index\":0,\"delta\":{\"reasoning_content\":\"",
            (Kind::Completion | Kind::Responses, _) => b"{\"index\":0,\"text\":\"",
        };
        self.buf.extend_from_slice(open);
        self.plan.push_words_bytes(&mut self.buf, k);
        self.buf.extend_from_slice(raw);
        let close: &[u8] = match self.plan.kind {
            Kind::Chat => b"\"},\"finish_reason\":null}]}\n\n",
            Kind::Completion | Kind::Responses => {
                b"\",\"logprobs\":null,\"finish_reason\":null}]}\n\n"
            }
        };
        self.end_frame(close)
    }

    /// A tool-call chunk: `k` words of the call's arguments `{"text":"…"}`. The first
    /// content chunk also carries the call's id and function name and opens the arguments;
    /// the last closes them.
    fn tool_frame(&mut self, k: u32, raw: &[u8]) -> Bytes {
        self.begin(k + 8);
        let j = self
            .chunks_sent
            .saturating_sub(self.plan.reasoning_chunks());
        let last = self.chunks_sent + 1 >= self.total_chunks;
        self.buf
            .extend_from_slice(b"{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,");
        if j == 0 {
            let _ = write!(
                self.buf,
                "\"id\":\"call_mock_{}_{}\",\"type\":\"function\",\"function\":{{\"name\":\"{}\",\"arguments\":\"{{\\\"text\\\":\\\"",
                self.shared.seed,
                self.plan.n,
                self.plan.tool.as_deref().unwrap_or_default()
            );
        } else {
            self.buf
                .extend_from_slice(b"\"function\":{\"arguments\":\"");
        }
        self.plan.push_words_bytes(&mut self.buf, k);
        self.buf.extend_from_slice(raw);
        if last {
            self.buf.extend_from_slice(b"\\\"}");
        }
        self.end_frame(b"\"}}]},\"finish_reason\":null}]}\n\n")
    }

    fn finish_frame(&mut self) -> Bytes {
        if self.typed.is_some() {
            return self.typed_finish();
        }
        self.begin(0);
        let open: &[u8] = match self.plan.kind {
            Kind::Chat => b"{\"index\":0,\"delta\":{},\"finish_reason\":\"",
            Kind::Completion | Kind::Responses => {
                b"{\"index\":0,\"text\":\"\",\"logprobs\":null,\"finish_reason\":\""
            }
        };
        self.buf.extend_from_slice(open);
        self.buf
            .extend_from_slice(self.plan.finish_reason().as_bytes());
        self.end_frame(b"\"}]}\n\n")
    }

    fn usage_frame(&mut self) -> Bytes {
        if self.typed.is_some() {
            return self.typed_end();
        }
        self.begin(0);
        let p = self.plan.prompt_tokens;
        let c = self.plan.reported_completion_tokens();
        let _ = write!(
            self.buf,
            "],\"usage\":{{\"prompt_tokens\":{p},\"completion_tokens\":{c},\"total_tokens\":{},\"completion_tokens_details\":{{\"reasoning_tokens\":{}}}}}}}\n\n",
            u64::from(p) + u64::from(c),
            self.plan.reasoning
        );
        self.buf.split().freeze()
    }

    /// Returned whenever the stream has nothing to send yet: ends it if the server is
    /// shutting down.
    fn pending(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if self.stop.poll_stopped(cx) {
            self.phase = Phase::End;
            return Poll::Ready(Some(Err(io::Error::other("mock server shutting down"))));
        }
        Poll::Pending
    }

    fn mark_sent(&mut self) {
        if self.shared.truth.is_some() {
            let now = Instant::now();
            self.first_at.get_or_insert(now);
            self.last_at = Some(now);
        }
    }
}

/// What a mid-stream fault does at its chunk.
enum AtFault {
    /// The stream yields this item instead of the chunk.
    Yield(io::Result<Bytes>),
    /// The stream changed phase; poll again.
    Continue,
    /// Nothing more: the chunk is sent as usual.
    Send,
}

impl Stream for SseStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let s = self.get_mut();
        loop {
            match s.phase {
                Phase::Start => {
                    let queued = s.model.sem.is_some() && s.permit.is_none();
                    s.phase = if queued { Phase::Queue } else { Phase::Tokens };
                    return Poll::Ready(Some(Ok(s.role_frame())));
                }
                Phase::Queue => {
                    let Some(sem) = s.model.sem.as_ref() else {
                        s.phase = Phase::Tokens;
                        continue;
                    };
                    let fut = s
                        .acquire
                        .get_or_insert_with(|| Box::pin(sem.clone().acquire_owned()));
                    match fut.as_mut().poll(cx) {
                        Poll::Pending => return s.pending(cx),
                        Poll::Ready(res) => {
                            // An error means the semaphore was closed: run unlimited.
                            s.permit = res.ok();
                            s.acquire = None;
                            s.deadline = Instant::now() + s.plan.ttft;
                            let d = s.deadline;
                            s.sleep.as_mut().reset(d);
                            s.phase = Phase::Tokens;
                        }
                    }
                }
                Phase::Tokens => {
                    if s.chunks_sent >= s.total_chunks {
                        s.phase = if s.plan.fault == Some(Fault::NoDone) {
                            // A clean end of body with nothing to say the answer is whole.
                            Phase::End
                        } else {
                            Phase::Finish
                        };
                        continue;
                    }
                    let at_fault = !s.fault_done && s.chunks_sent == s.fault_at;
                    if at_fault && s.plan.fault == Some(Fault::Stall) {
                        s.fault_done = true;
                        s.phase = Phase::Stalled;
                        let until = Instant::now() + STALL_LIMIT;
                        s.sleep.as_mut().reset(until);
                        continue;
                    }
                    if s.sleep.as_mut().poll(cx).is_pending() {
                        return s.pending(cx);
                    }
                    if at_fault {
                        match s.fault_at_chunk() {
                            AtFault::Yield(item) => return Poll::Ready(Some(item)),
                            AtFault::Continue => continue,
                            AtFault::Send => {}
                        }
                    }
                    let frame = s.chunk_frame();
                    s.mark_sent();
                    s.chunks_sent += 1;
                    if s.chunks_sent < s.total_chunks {
                        let itl = s.plan.next_itl(&s.model.cfg.itl_ms);
                        s.deadline += itl;
                        let d = s.deadline;
                        s.sleep.as_mut().reset(d);
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Phase::Stalled => {
                    if s.sleep.as_mut().poll(cx).is_pending() {
                        return s.pending(cx);
                    }
                    s.phase = Phase::End;
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "mock: stalled stream closed",
                    ))));
                }
                Phase::Endless => {
                    if s.stop.poll_stopped(cx) {
                        s.phase = Phase::End;
                        return Poll::Ready(Some(Err(io::Error::other(
                            "mock server shutting down",
                        ))));
                    }
                    let Some(frame) = s.endless_frame.clone() else {
                        s.phase = Phase::End;
                        continue;
                    };
                    s.tokens_sent = s.tokens_sent.saturating_add(ENDLESS_WORDS);
                    s.mark_sent();
                    return Poll::Ready(Some(Ok(frame)));
                }
                Phase::Finish => {
                    s.phase = if s.plan.include_usage {
                        Phase::Usage
                    } else {
                        Phase::Done
                    };
                    return Poll::Ready(Some(Ok(s.finish_frame())));
                }
                Phase::Usage => {
                    s.phase = Phase::Done;
                    return Poll::Ready(Some(Ok(s.usage_frame())));
                }
                Phase::Done => {
                    s.phase = Phase::End;
                    s.completed = true;
                    // Free the capacity slot as soon as the answer is complete.
                    s.permit = None;
                    if s.typed.is_some() {
                        // The Responses API has no `[DONE]`: `response.completed` ends it.
                        continue;
                    }
                    return Poll::Ready(Some(Ok(Bytes::from_static(DONE))));
                }
                Phase::End => {
                    s.permit = None;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        if let Some(tx) = &self.shared.truth {
            let rec = self.plan.record(
                200,
                self.first_at,
                self.last_at,
                self.tokens_sent,
                self.completed,
            );
            let _ = tx.send(super::truth::Msg::Record(rec));
        }
    }
}
