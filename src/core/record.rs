//! One request's measurement ([`RequestRecord`]) and its classified [`Outcome`].
//!
//! Times are microseconds since the run's start instant (one monotonic clock for the whole
//! run). A record is built by the client, finished by the runner, consumed by the metrics
//! collector and written as one JSONL line. It never holds the response text.

use serde::{Deserialize, Serialize};

use crate::core::quota::Quota;

/// How a request ended. `Ok` is the only success; everything else is excluded from latency
/// histograms and counted by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Completed with a finish reason or `[DONE]`.
    Ok,
    /// HTTP 429.
    RateLimited,
    /// Another HTTP 4xx.
    #[serde(rename = "http_4xx")]
    Http4xx,
    /// HTTP 5xx.
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// Another non-2xx status.
    HttpOther,
    /// No response headers within the first-token timeout.
    TimeoutHeaders,
    /// Headers came, but no first token within the first-token timeout.
    TimeoutFirstToken,
    /// The stream went silent longer than the idle timeout.
    TimeoutIdle,
    /// The whole request took longer than the total timeout.
    TimeoutTotal,
    /// The connection could not be made (refused, unreachable, DNS, connect timeout).
    Connect,
    /// The TLS handshake failed (bad or untrusted certificate, a server that does not speak
    /// TLS on that port, protocol mismatch).
    Tls,
    /// The connection broke (reset, closed mid-body, protocol error) before a finish reason
    /// or `[DONE]`.
    StreamCut,
    /// The body ended cleanly, but without a finish reason or `[DONE]`: the answer may be
    /// truncated, and the server did not say.
    Incomplete,
    /// The server sent an `error` object as an event or body.
    ErrorEvent,
    /// An event was not valid JSON / UTF-8 or had an unexpected shape.
    MalformedChunk,
    /// The response exceeded the size cap.
    TooLarge,
    /// A streaming request got a response that is not `text/event-stream`.
    NotSse,
    /// The open-loop arrival was not sent: the in-flight cap was full and `on_full = "drop"`.
    Dropped,
    /// Not sent: the run stopped while the arrival waited for a slot or a quota.
    Cancelled,
    /// Sent, but still unfinished when the run stopped (drain period over, or a second
    /// signal): counted as sent and failed.
    Abandoned,
    /// Not sent: the prompt plus `max_tokens` exceeds the model's context window and
    /// `context_guard = "skip"`.
    Skipped,
}

impl Outcome {
    /// Every outcome, in report order.
    pub const ALL: [Outcome; 21] = [
        Outcome::Ok,
        Outcome::RateLimited,
        Outcome::Http4xx,
        Outcome::Http5xx,
        Outcome::HttpOther,
        Outcome::TimeoutHeaders,
        Outcome::TimeoutFirstToken,
        Outcome::TimeoutIdle,
        Outcome::TimeoutTotal,
        Outcome::Connect,
        Outcome::Tls,
        Outcome::StreamCut,
        Outcome::Incomplete,
        Outcome::ErrorEvent,
        Outcome::MalformedChunk,
        Outcome::TooLarge,
        Outcome::NotSse,
        Outcome::Dropped,
        Outcome::Cancelled,
        Outcome::Abandoned,
        Outcome::Skipped,
    ];

    /// The outcome with this [`Outcome::name`].
    pub fn from_name(name: &str) -> Option<Outcome> {
        Outcome::ALL.iter().copied().find(|o| o.name() == name)
    }

    /// The snake_case name used in results and tables.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RateLimited => "rate_limited",
            Outcome::Http4xx => "http_4xx",
            Outcome::Http5xx => "http_5xx",
            Outcome::HttpOther => "http_other",
            Outcome::TimeoutHeaders => "timeout_headers",
            Outcome::TimeoutFirstToken => "timeout_first_token",
            Outcome::TimeoutIdle => "timeout_idle",
            Outcome::TimeoutTotal => "timeout_total",
            Outcome::Connect => "connect",
            Outcome::Tls => "tls",
            Outcome::StreamCut => "stream_cut",
            Outcome::Incomplete => "incomplete",
            Outcome::ErrorEvent => "error_event",
            Outcome::MalformedChunk => "malformed_chunk",
            Outcome::TooLarge => "too_large",
            Outcome::NotSse => "not_sse",
            Outcome::Dropped => "dropped",
            Outcome::Cancelled => "cancelled",
            Outcome::Abandoned => "abandoned",
            Outcome::Skipped => "skipped",
        }
    }

    /// Whether the request was actually sent to the server.
    pub fn was_sent(self) -> bool {
        !matches!(
            self,
            Outcome::Dropped | Outcome::Cancelled | Outcome::Skipped
        )
    }

    /// Index into [`Outcome::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// Where a token count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The server's `usage` block.
    Usage,
    /// The built-in offline tokenizer (o200k_base) on the text.
    Tokenizer,
    /// The number of token-bearing stream events (last resort).
    Events,
}

/// Which part of the run a request's scheduled time falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the measurement window.
    Warmup,
    /// Inside the measurement window: counted in every metric.
    Measure,
    /// After the measurement window.
    Cooldown,
}

/// One request, as written to the records JSONL file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Arrival index in the global schedule.
    pub index: u64,
    /// Model id as sent.
    pub model: String,
    /// Request class, when the scenario declares classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Routing rule that chose the model, when routes are set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The golden line's `id`, when the request was a golden request mixed into the load
    /// (`[quality] mix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub golden: Option<String>,
    /// Turn within a multi-turn session (0 = the first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub turn: u32,
    /// Attempt within a fallback chain (0 = the first model).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// This attempt failed and the request moved on to the next model of its chain.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fell_back: bool,
    /// For a fallback attempt: when the end user's request was scheduled (the first
    /// attempt's `t_sched_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_user_sched_us: Option<u64>,
    /// The request deliberately repeats an earlier request's prompt (`repeat_ratio`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
    /// Prompt plus `max_tokens` exceeded the model's context window (by the tokenizer).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_context: bool,
    /// Phase of the run, by scheduled time.
    pub phase: Phase,
    /// Classified outcome.
    pub outcome: Outcome,
    /// HTTP status, when a response came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Intended send time (open loop); for closed loop, when the worker became free.
    pub t_sched_us: u64,
    /// When the generator picked the arrival up (its own timer lateness ends here).
    pub t_dispatch_us: u64,
    /// When the request was handed to the HTTP client (after any cap or quota wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_send_us: Option<u64>,
    /// Response headers received.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_headers_us: Option<u64>,
    /// First event carrying output (answer, reasoning or tool-call text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_first_us: Option<u64>,
    /// First event carrying answer (non-reasoning) output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_first_answer_us: Option<u64>,
    /// Last event carrying output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_last_us: Option<u64>,
    /// Stream or body end (or the failure time).
    pub t_end_us: u64,
    /// Output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Source of `output_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens_source: Option<TokenSource>,
    /// Input tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Source of `input_tokens`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens_source: Option<TokenSource>,
    /// Inputs sent in the request (embeddings: the batch size); 0 for chat and completions.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub inputs: u32,
    /// Tool calls in the answer (chat with `tools`); 0 when it called none.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub tool_calls: u32,
    /// Images sent in the request (chat with images); 0 without.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub images: u32,
    /// Encoded bytes of the images sent (before base64); 0 without images.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub image_bytes: u64,
    /// Reasoning tokens reported by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Cached input tokens reported by the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<u64>,
    /// Stream events that carried output.
    pub output_events: u32,
    /// The server's `completion_tokens` contradicts the stream: fewer tokens than events that
    /// carried output (each carries at least one). The server's figure is kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_mismatch: bool,
    /// The response `id` the server gave, to join with server logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// `finish_reason` of the last choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// `Retry-After` seconds the server sent (the last response that carried one: a 429, a
    /// 503, or any other).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<f64>,
    /// The account quota the server stated in its `x-ratelimit-*` headers (the last response
    /// that carried any); absent when none did.
    #[serde(default, skip_serializing_if = "Quota::is_empty")]
    pub quota: Quota,
    /// Times the request was sent again after a 429 (target `retry_on_429`); 0 without it.
    /// Every timestamp still counts from the first send and the intended send time.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retries: u32,
    /// Time spent waiting between those attempts, in µs (included in every latency).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub backoff_us: u64,
    /// Times the request was sent again because a pooled connection turned out closed before
    /// any response (the server never saw it); counted, and included in every latency.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub reconnects: u32,
    /// TCP connect time in µs, when this request opened the connection it was answered on
    /// (lean client only; inside the request's TTFT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_us: Option<u64>,
    /// TLS handshake time in µs, when this request opened an https connection (lean client
    /// only; inside the request's TTFT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_handshake_us: Option<u64>,
    /// Short error description (never contains credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Per output event after the first: (gap since the previous output event in µs, output
    /// bytes in the event). Used for ITL; not written to the records file.
    #[serde(skip)]
    pub gaps: Vec<(u32, u32)>,
    /// Output bytes of the first output event.
    #[serde(skip)]
    pub first_event_bytes: u32,
    /// Received text still to be counted offline (the server sent no usage).
    #[serde(skip)]
    pub untokenized_output: Option<String>,
    /// Group indexes for the collector (class, route).
    #[serde(skip)]
    pub tags: Tags,
    /// Keep the received text in `output_text` (the next turn of a session needs it).
    #[serde(skip)]
    pub want_text: bool,
    /// The received text, when `want_text` was set.
    #[serde(skip)]
    pub output_text: Option<String>,
}

/// Indexes of the groups a record belongs to, for the collector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tags {
    /// Class index.
    pub class: u32,
    /// Route index, when a rule chose the model; `u32::MAX` when none matched.
    pub route: Option<u32>,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl RequestRecord {
    /// A record for an arrival that was never sent.
    pub fn unsent(
        index: u64,
        model: String,
        phase: Phase,
        outcome: Outcome,
        t_sched_us: u64,
        t_dispatch_us: u64,
    ) -> Self {
        RequestRecord {
            index,
            model,
            class: None,
            route: None,
            golden: None,
            turn: 0,
            attempt: 0,
            fell_back: false,
            t_user_sched_us: None,
            repeat: false,
            over_context: false,
            phase,
            outcome,
            status: None,
            t_sched_us,
            t_dispatch_us,
            t_send_us: None,
            t_headers_us: None,
            t_first_us: None,
            t_first_answer_us: None,
            t_last_us: None,
            t_end_us: t_dispatch_us,
            output_tokens: None,
            output_tokens_source: None,
            input_tokens: None,
            input_tokens_source: None,
            inputs: 0,
            tool_calls: 0,
            images: 0,
            image_bytes: 0,
            reasoning_tokens: None,
            cached_tokens: None,
            output_events: 0,
            usage_mismatch: false,
            response_id: None,
            finish_reason: None,
            retry_after_s: None,
            quota: Quota::default(),
            retries: 0,
            backoff_us: 0,
            reconnects: 0,
            connect_us: None,
            tls_handshake_us: None,
            error: None,
            gaps: Vec::new(),
            first_event_bytes: 0,
            untokenized_output: None,
            tags: Tags::default(),
            want_text: false,
            output_text: None,
        }
    }
}

/// A JSON object key as written: `"name":`.
macro_rules! key {
    ($name:literal) => {
        concat!("\"", $name, "\":").as_bytes()
    };
}
impl RequestRecord {
    /// Appends the record's JSON (exactly what `serde_json` writes for it) and a newline:
    /// the records file's hot path, without serde's per-field machinery.
    pub fn write_jsonl(&self, out: &mut Vec<u8>) {
        // Every field is named (no `..`), so a field added to the record does not compile until
        // it is written here, in declaration order (serde's), or listed as not written.
        let RequestRecord {
            index,
            model,
            class,
            route,
            golden,
            turn,
            attempt,
            fell_back,
            t_user_sched_us,
            repeat,
            over_context,
            phase,
            outcome,
            status,
            t_sched_us,
            t_dispatch_us,
            t_send_us,
            t_headers_us,
            t_first_us,
            t_first_answer_us,
            t_last_us,
            t_end_us,
            output_tokens,
            output_tokens_source,
            input_tokens,
            input_tokens_source,
            inputs,
            tool_calls,
            images,
            image_bytes,
            reasoning_tokens,
            cached_tokens,
            output_events,
            usage_mismatch,
            response_id,
            finish_reason,
            retry_after_s,
            quota,
            retries,
            backoff_us,
            reconnects,
            connect_us,
            tls_handshake_us,
            error,
            // Not written (`#[serde(skip)]`): working state of the request and the collector.
            gaps: _,
            first_event_bytes: _,
            untokenized_output: _,
            tags: _,
            want_text: _,
            output_text: _,
        } = self;
        out.reserve(512);
        let mut w = JsonObject { out, first: true };
        w.u64(key!("index"), *index);
        w.str(key!("model"), model);
        if let Some(c) = class {
            w.str(key!("class"), c);
        }
        if let Some(r) = route {
            w.str(key!("route"), r);
        }
        if let Some(g) = golden {
            w.str(key!("golden"), g);
        }
        if *turn != 0 {
            w.u64(key!("turn"), *turn as u64);
        }
        if *attempt != 0 {
            w.u64(key!("attempt"), *attempt as u64);
        }
        if *fell_back {
            w.raw(key!("fell_back"), b"true");
        }
        w.opt_u64(key!("t_user_sched_us"), *t_user_sched_us);
        if *repeat {
            w.raw(key!("repeat"), b"true");
        }
        if *over_context {
            w.raw(key!("over_context"), b"true");
        }
        w.str(key!("phase"), phase.name());
        w.str(key!("outcome"), outcome.name());
        w.opt_u64(key!("status"), status.map(u64::from));
        w.u64(key!("t_sched_us"), *t_sched_us);
        w.u64(key!("t_dispatch_us"), *t_dispatch_us);
        w.opt_u64(key!("t_send_us"), *t_send_us);
        w.opt_u64(key!("t_headers_us"), *t_headers_us);
        w.opt_u64(key!("t_first_us"), *t_first_us);
        w.opt_u64(key!("t_first_answer_us"), *t_first_answer_us);
        w.opt_u64(key!("t_last_us"), *t_last_us);
        w.u64(key!("t_end_us"), *t_end_us);
        w.opt_u64(key!("output_tokens"), *output_tokens);
        if let Some(s) = output_tokens_source {
            w.str(key!("output_tokens_source"), s.name());
        }
        w.opt_u64(key!("input_tokens"), *input_tokens);
        if let Some(s) = input_tokens_source {
            w.str(key!("input_tokens_source"), s.name());
        }
        if *inputs != 0 {
            w.u64(key!("inputs"), *inputs as u64);
        }
        w.nonzero_u64(key!("tool_calls"), u64::from(*tool_calls));
        w.nonzero_u64(key!("images"), u64::from(*images));
        w.nonzero_u64(key!("image_bytes"), *image_bytes);
        w.opt_u64(key!("reasoning_tokens"), *reasoning_tokens);
        w.opt_u64(key!("cached_tokens"), *cached_tokens);
        w.u64(key!("output_events"), *output_events as u64);
        if *usage_mismatch {
            w.raw(key!("usage_mismatch"), b"true");
        }
        if let Some(s) = response_id {
            w.str(key!("response_id"), s);
        }
        if let Some(s) = finish_reason {
            w.str(key!("finish_reason"), s);
        }
        if let Some(v) = retry_after_s {
            w.key(key!("retry_after_s"));
            // Rare; serde_json's float formatting (and `null` for a non-finite value) as is.
            let _ = serde_json::to_writer(&mut *w.out, v);
        }
        if !quota.is_empty() {
            w.key(key!("quota"));
            // Rare; serde_json writes the nested object exactly as serde would.
            let _ = serde_json::to_writer(&mut *w.out, quota);
        }
        if *retries != 0 {
            w.u64(key!("retries"), *retries as u64);
        }
        if *backoff_us != 0 {
            w.u64(key!("backoff_us"), *backoff_us);
        }
        if *reconnects != 0 {
            w.u64(key!("reconnects"), *reconnects as u64);
        }
        w.opt_u64(key!("connect_us"), *connect_us);
        w.opt_u64(key!("tls_handshake_us"), *tls_handshake_us);
        if let Some(s) = error {
            // Credentials a message may carry (a URL's user:password, a key echoed back) never
            // reach the file.
            w.str(key!("error"), &crate::core::redact::scrub(s));
        }
        w.out.extend_from_slice(b"}\n");
    }
}

impl Phase {
    /// The snake_case name used in records.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Warmup => "warmup",
            Phase::Measure => "measure",
            Phase::Cooldown => "cooldown",
        }
    }
}

impl TokenSource {
    /// The snake_case name used in records.
    pub fn name(self) -> &'static str {
        match self {
            TokenSource::Usage => "usage",
            TokenSource::Tokenizer => "tokenizer",
            TokenSource::Events => "events",
        }
    }
}

/// Writes one flat JSON object's members (keys come from [`key!`]).
struct JsonObject<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl JsonObject<'_> {
    fn key(&mut self, k: &[u8]) {
        self.out.push(if self.first { b'{' } else { b',' });
        self.first = false;
        self.out.extend_from_slice(k);
    }

    fn raw(&mut self, k: &[u8], v: &[u8]) {
        self.key(k);
        self.out.extend_from_slice(v);
    }

    fn u64(&mut self, k: &[u8], v: u64) {
        self.key(k);
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = v;
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.out.extend_from_slice(&buf[i..]);
    }

    fn opt_u64(&mut self, k: &[u8], v: Option<u64>) {
        if let Some(v) = v {
            self.u64(k, v);
        }
    }

    /// Writes `v` unless it is 0 (a field skipped when zero).
    #[inline]
    fn nonzero_u64(&mut self, k: &[u8], v: u64) {
        if v != 0 {
            self.u64(k, v);
        }
    }

    fn str(&mut self, k: &[u8], v: &str) {
        self.key(k);
        write_json_str(self.out, v);
    }
}

/// A JSON string literal, escaped as `serde_json` escapes it: `"` and `\`, the short forms
/// `\b \t \n \f \r`, other control characters as `\u00XX` (lower-case hex), everything else
/// (non-ASCII included) as is.
fn write_json_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_serde(r: &RequestRecord) {
        let mut ours = Vec::new();
        r.write_jsonl(&mut ours);
        let mut theirs = serde_json::to_vec(r).expect("serialisable");
        theirs.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs)
        );
    }

    #[test]
    fn jsonl_matches_serde_for_sparse_and_full_records() {
        let mut r = RequestRecord::unsent(7, "m".into(), Phase::Warmup, Outcome::Dropped, 3, 9);
        same_as_serde(&r);
        r.error = Some("max_in_flight = 4 was full".into());
        same_as_serde(&r);

        let mut f = RequestRecord::unsent(
            u64::MAX,
            "vendor/model-\"x\"\\y".into(),
            Phase::Cooldown,
            Outcome::Ok,
            0,
            u64::MAX,
        );
        f.class = Some("chat \u{e9}\u{1F600}".into());
        f.route = Some(String::new());
        f.turn = u32::MAX;
        f.attempt = 2;
        f.fell_back = true;
        f.t_user_sched_us = Some(0);
        f.repeat = true;
        f.over_context = true;
        f.status = Some(200);
        f.t_send_us = Some(10);
        f.t_headers_us = Some(11);
        f.t_first_us = Some(12);
        f.t_first_answer_us = Some(13);
        f.t_last_us = Some(14);
        f.t_end_us = 15;
        f.output_tokens = Some(16);
        f.output_tokens_source = Some(TokenSource::Usage);
        f.input_tokens = Some(17);
        f.input_tokens_source = Some(TokenSource::Tokenizer);
        f.reasoning_tokens = Some(18);
        f.cached_tokens = Some(19);
        f.output_events = 20;
        f.usage_mismatch = true;
        f.response_id = Some("chatcmpl-123".into());
        f.finish_reason = Some("stop".into());
        f.retry_after_s = Some(1.5);
        f.quota.limit_tokens = Some(60_000);
        f.quota.remaining_tokens = Some(0);
        f.retries = 1;
        f.backoff_us = 1_000_000;
        f.reconnects = 3;
        let every_control: String = (0u8..0x20).map(char::from).collect();
        f.error = Some(format!("{every_control}\u{7f}</a> '\"\\/ end"));
        f.gaps = vec![(1, 2)];
        f.untokenized_output = Some("x".into());
        same_as_serde(&f);

        for v in [0.0, 0.1, 1e21, 123456.789, f64::NAN, f64::INFINITY] {
            f.retry_after_s = Some(v);
            same_as_serde(&f);
        }
        for (o, p, s) in [
            (Outcome::RateLimited, Phase::Measure, TokenSource::Events),
            (Outcome::Http4xx, Phase::Measure, TokenSource::Usage),
        ] {
            f.outcome = o;
            f.phase = p;
            f.input_tokens_source = Some(s);
            same_as_serde(&f);
        }
        for o in Outcome::ALL {
            r.outcome = o;
            same_as_serde(&r);
        }
    }

    /// A record with every field set, written field by field (no `..`): a new field must be
    /// given a value here too.
    fn every_field_set() -> RequestRecord {
        RequestRecord {
            index: 135,
            model: "openai/gpt-4o".into(),
            class: Some("chat".into()),
            route: Some("short \u{2192} cheap".into()),
            golden: Some("capital \"fr\"".into()),
            turn: 2,
            attempt: 1,
            fell_back: true,
            t_user_sched_us: Some(14_240_000),
            repeat: true,
            over_context: true,
            phase: Phase::Measure,
            outcome: Outcome::RateLimited,
            status: Some(429),
            t_sched_us: 14_240_593,
            t_dispatch_us: 14_242_066,
            t_send_us: Some(14_242_267),
            t_headers_us: Some(14_247_959),
            t_first_us: Some(14_674_264),
            t_first_answer_us: Some(14_674_300),
            t_last_us: Some(16_124_126),
            t_end_us: 16_124_430,
            output_tokens: Some(117),
            output_tokens_source: Some(TokenSource::Events),
            input_tokens: Some(42),
            input_tokens_source: Some(TokenSource::Tokenizer),
            inputs: 4,
            tool_calls: 2,
            images: 1,
            image_bytes: 3000,
            reasoning_tokens: Some(7),
            cached_tokens: Some(32),
            output_events: 117,
            usage_mismatch: true,
            response_id: Some("chatcmpl-mock-42-135".into()),
            finish_reason: Some("length".into()),
            retry_after_s: Some(2.5),
            quota: Quota {
                limit_requests: Some(3000),
                limit_tokens: None,
                remaining_requests: Some(0),
                remaining_tokens: Some(1234),
                reset_requests_ms: Some(20),
                reset_tokens_ms: Some(360_000),
            },
            retries: 3,
            backoff_us: 1_500_000,
            reconnects: 1,
            connect_us: Some(412),
            tls_handshake_us: Some(1_830),
            error: Some("HTTP 429: slow \"down\"".into()),
            gaps: vec![(10, 4), (20, 5)],
            first_event_bytes: 9,
            untokenized_output: Some("text".into()),
            tags: Tags {
                class: 1,
                route: Some(0),
            },
            want_text: true,
            output_text: Some("answer".into()),
        }
    }

    #[test]
    fn a_record_with_every_field_set_round_trips_through_the_file_format() {
        let r = every_field_set();
        let mut line = Vec::new();
        r.write_jsonl(&mut line);
        // The documented format (docs/results.md): one object per line, fields in declaration
        // order, absent when unknown, working state never written.
        let expected = concat!(
            r#"{"index":135,"model":"openai/gpt-4o","class":"chat","route":"short → cheap","#,
            r#""golden":"capital \"fr\"","#,
            r#""turn":2,"attempt":1,"fell_back":true,"t_user_sched_us":14240000,"repeat":true,"#,
            r#""over_context":true,"phase":"measure","outcome":"rate_limited","status":429,"#,
            r#""t_sched_us":14240593,"t_dispatch_us":14242066,"t_send_us":14242267,"#,
            r#""t_headers_us":14247959,"t_first_us":14674264,"t_first_answer_us":14674300,"#,
            r#""t_last_us":16124126,"t_end_us":16124430,"output_tokens":117,"#,
            r#""output_tokens_source":"events","input_tokens":42,"input_tokens_source":"tokenizer","inputs":4,"#,
            r#""tool_calls":2,"images":1,"image_bytes":3000,"#,
            r#""reasoning_tokens":7,"cached_tokens":32,"output_events":117,"usage_mismatch":true,"#,
            r#""response_id":"chatcmpl-mock-42-135","finish_reason":"length","retry_after_s":2.5,"#,
            r#""quota":{"limit_requests":3000,"remaining_requests":0,"remaining_tokens":1234,"#,
            r#""reset_requests_ms":20,"reset_tokens_ms":360000},"#,
            r#""retries":3,"backoff_us":1500000,"reconnects":1,"connect_us":412,"#,
            r#""tls_handshake_us":1830,"error":"HTTP 429: slow \"down\""}"#,
            "\n"
        );
        assert_eq!(String::from_utf8_lossy(&line), expected);
        // Byte for byte what serde writes ...
        same_as_serde(&r);
        // ... and serde's reader gets every written field back.
        let back: RequestRecord = serde_json::from_slice(&line).expect("the line parses");
        assert_eq!(
            serde_json::to_value(&back).expect("serialisable"),
            serde_json::to_value(&r).expect("serialisable")
        );
        let mut again = Vec::new();
        back.write_jsonl(&mut again);
        assert_eq!(again, line);
    }

    /// docs/results.md lists the records file's fields in a table; it names every field the
    /// writer can write, in the order lines carry them.
    #[test]
    fn the_documented_fields_are_the_written_ones_in_order() {
        let mut line = Vec::new();
        every_field_set().write_jsonl(&mut line);
        // The keys in the order the line has them (serde_json's map would sort them).
        struct Keys(Vec<String>);
        impl<'de> serde::Deserialize<'de> for Keys {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Keys;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an object")
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut m: A,
                    ) -> Result<Keys, A::Error> {
                        let mut keys = Vec::new();
                        while let Some((k, _)) = m.next_entry::<String, serde::de::IgnoredAny>()? {
                            keys.push(k);
                        }
                        Ok(Keys(keys))
                    }
                }
                d.deserialize_map(V)
            }
        }
        let Keys(written) = serde_json::from_slice(&line).expect("the line parses");
        let doc = include_str!("../../docs/results.md");
        let start = doc
            .find("| `index` | integer |")
            .expect("docs/results.md has the records table");
        let table = &doc[start..doc[start..].find("\n\n").map_or(doc.len(), |e| start + e)];
        let documented: Vec<&str> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .collect();
        assert_eq!(documented, written);
    }
}
