//! A lean HTTP/1.1 client for `http://` and `https://` targets: the request is written and the
//! response (chunked, sized or close-delimited) is read in the calling task, straight from the
//! socket (through rustls for https, see `tls`), with a small keep-alive pool of its own.
//!
//! Why: with the pooled hyper client every body chunk crosses from the connection's task to the
//! request's task — two wake-ups per streamed token — which dominated llmload's CPU per request
//! (docs/performance.md). Here one socket read is one wake-up. It does not speak HTTP/2 or go
//! through proxies (targets needing them use the default client) and never panics on server
//! bytes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::tls::{TlsFailure, TlsSettings, TlsStream};
use crate::engine::rxstamp;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// What went wrong, coarsely, for classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeanErrorKind {
    /// The connection could not be made.
    Connect,
    /// The connection broke or closed early.
    Io,
    /// The server sent something that is not HTTP/1.1.
    Protocol,
    /// The TLS handshake failed (certificate, alert, protocol version, ALPN).
    Tls,
}

/// A transport error with a description (never containing credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeanError {
    /// Class.
    pub kind: LeanErrorKind,
    /// Description.
    pub message: String,
}

impl LeanError {
    fn new(kind: LeanErrorKind, message: impl Into<String>) -> LeanError {
        LeanError {
            kind,
            message: message.into(),
        }
    }
}

/// One connection: plain TCP or TLS over TCP.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Conn {
    #[inline]
    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(data).await,
            Conn::Tls(s) => s.write_all(data).await,
        }
    }

    /// One read's bytes (plaintext under TLS) appended to `buf`, with their arrival stamp.
    #[inline]
    async fn read(
        &mut self,
        buf: &mut BytesMut,
        not_before: Instant,
    ) -> std::io::Result<rxstamp::Read> {
        match self {
            Conn::Plain(s) => rxstamp::read(s, buf, not_before).await,
            Conn::Tls(s) => s.read(buf, not_before).await,
        }
    }
}

/// How long opening a new connection took, for a request that opened one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// TCP connect (name resolution included).
    pub connect: Duration,
    /// TLS handshake (https only).
    pub handshake: Option<Duration>,
}

struct Pool {
    idle: Mutex<Vec<Conn>>,
    /// Most idle connections kept (the target's `pool_max_idle`).
    max_idle: usize,
}

/// A client for one `http://host:port/path`.
#[derive(Clone)]
pub struct LeanClient {
    addr: String,
    /// Host name or address, for TLS server-name checks.
    host: String,
    /// TLS settings, for https targets.
    tls: Option<TlsSettings>,
    head: Arc<Vec<u8>>,
    connect_timeout: Duration,
    pool: Arc<Pool>,
    /// Token times from the kernel's receive stamps (see `crate::engine::rxstamp`).
    stamps: bool,
}

impl std::fmt::Debug for LeanClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The head holds the Authorization header: never print it.
        f.debug_struct("LeanClient")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// Chunked: bytes left in the current chunk, and whether its CRLF is still to be consumed.
    Chunked { left: usize, crlf: bool },
    /// Content-Length: bytes left.
    Length(usize),
    /// Until the server closes.
    UntilClose,
    /// After the last chunk: trailers (if any) and the empty line.
    Trailers,
    /// Complete.
    Done,
}

/// A response being read.
pub struct LeanResponse {
    /// HTTP status.
    pub status: u16,
    headers: Vec<(String, String)>,
    stream: Option<Conn>,
    buf: BytesMut,
    body: Body,
    keep_alive: bool,
    pool: Arc<Pool>,
    /// The request was sent again on a fresh connection after a pooled one turned out closed.
    pub reconnected: bool,
    /// Connection set-up times, when this request opened the connection it was answered on.
    pub setup: Option<Setup>,
    /// When the request was written.
    written: Instant,
    /// When the bytes of the latest read reached the host (kernel stamp), when known.
    rx_at: Option<Instant>,
}

impl LeanClient {
    /// A client for `url` (`http://host[:port]/path`, or `https://` with the system's trust store),
    /// sending `headers` with every request and keeping at most `max_idle` idle connections
    /// (0: a fresh connection per request).
    pub fn new(
        url: &str,
        headers: &[(String, String)],
        connect_timeout: Duration,
        max_idle: usize,
    ) -> Result<LeanClient, String> {
        let tls = if url.starts_with("https://") {
            Some(TlsSettings::new(None, false)?)
        } else {
            None
        };
        LeanClient::with_tls(url, headers, connect_timeout, max_idle, tls)
    }

    /// [`LeanClient::new`] with the TLS settings of an `https://` target given (None for
    /// plain http).
    pub fn with_tls(
        url: &str,
        headers: &[(String, String)],
        connect_timeout: Duration,
        max_idle: usize,
        tls: Option<TlsSettings>,
    ) -> Result<LeanClient, String> {
        let (rest, port) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
            (Some(r), _) => (r, 80),
            (_, Some(r)) => (r, 443),
            _ => return Err("the lean client speaks http:// and https:// only".to_string()),
        };
        let tls = if port == 443 {
            Some(match tls {
                Some(t) => t,
                None => TlsSettings::new(None, false)?,
            })
        } else {
            None
        };
        // The request target is the path and query, precomputed once into the request head.
        let (hostport, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        if hostport.contains('@') {
            return Err("credentials in the URL belong in the plan's basic auth".into());
        }
        if hostport.is_empty() {
            return Err("no host in the URL".into());
        }
        let (addr, host) = match hostport.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() && !h.is_empty() => {
                (hostport.to_string(), h.to_string())
            }
            _ => (format!("{hostport}:{port}"), hostport.to_string()),
        };
        let mut head = format!("POST {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\nAccept: text/event-stream, application/json\r\n");
        for (k, v) in headers {
            if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
                return Err(format!("header `{k}` is not valid"));
            }
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("Content-Length: ");
        // Before the first request: stamping must be live when its response arrives.
        // LLMLOAD_KERNEL_STAMPS=off times reads in user space instead (for comparison).
        let stamps = std::env::var("LLMLOAD_KERNEL_STAMPS").map_or(true, |v| v != "off")
            && rxstamp::keep_on();
        Ok(LeanClient {
            addr,
            host,
            tls,
            head: Arc::new(head.into_bytes()),
            connect_timeout,
            stamps,
            pool: Arc::new(Pool {
                idle: Mutex::new(Vec::new()),
                max_idle,
            }),
        })
    }

    /// Whether requests go over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether reads carry the kernel's receive stamps.
    pub fn kernel_stamps(&self) -> bool {
        self.stamps
    }

    /// A new connection (TCP, then TLS for https) and how long each step took. The TLS
    /// handshake has the connect timeout too.
    async fn connect(&self) -> Result<(Conn, Setup), LeanError> {
        let start = Instant::now();
        let tcp = self.connect_tcp().await?;
        let connected = Instant::now();
        let mut setup = Setup {
            connect: connected - start,
            handshake: None,
        };
        let Some(tls) = &self.tls else {
            return Ok((Conn::Plain(tcp), setup));
        };
        let shake = TlsStream::handshake(tls, tcp, &self.host);
        let s = match tokio::time::timeout(self.connect_timeout, shake).await {
            Err(_) => {
                return Err(LeanError::new(
                    LeanErrorKind::Tls,
                    "TLS handshake timed out",
                ))
            }
            Ok(Err(TlsFailure::Tls(m))) => {
                return Err(LeanError::new(
                    LeanErrorKind::Tls,
                    format!("TLS handshake with {}: {m}", self.addr),
                ))
            }
            Ok(Err(TlsFailure::Io(e))) => {
                return Err(LeanError::new(
                    LeanErrorKind::Tls,
                    format!("TLS handshake with {}: {e}", self.addr),
                ))
            }
            Ok(Ok(s)) => s,
        };
        setup.handshake = Some(connected.elapsed());
        Ok((Conn::Tls(Box::new(s)), setup))
    }

    async fn connect_tcp(&self) -> Result<TcpStream, LeanError> {
        let s = tokio::time::timeout(self.connect_timeout, TcpStream::connect(&self.addr))
            .await
            .map_err(|_| LeanError::new(LeanErrorKind::Connect, "connect timed out"))?
            .map_err(|e| {
                LeanError::new(
                    LeanErrorKind::Connect,
                    format!("connect to {}: {e}", self.addr),
                )
            })?;
        let _ = s.set_nodelay(true);
        if self.stamps {
            rxstamp::enable(&s);
        }
        Ok(s)
    }

    /// Sends one request and reads the response head. A pooled connection that the server had
    /// closed (no response byte came back) is retried once on a fresh connection: the server
    /// never saw that request.
    pub async fn send(&self, body: &[u8]) -> Result<LeanResponse, LeanError> {
        let pooled = self.pool.idle.lock().ok().and_then(|mut v| v.pop());
        let mut reconnected = false;
        if let Some(s) = pooled {
            match self.exchange(s, body).await {
                Ok(r) => return Ok(r),
                Err((false, _)) => reconnected = true,
                Err((true, e)) => return Err(e),
            }
        }
        let (s, setup) = self.connect().await?;
        let mut r = self.exchange(s, body).await.map_err(|(_, e)| e)?;
        r.reconnected = reconnected;
        r.setup = Some(setup);
        Ok(r)
    }

    /// Err((true, e)) when the server had answered something (do not retry).
    async fn exchange(&self, mut s: Conn, body: &[u8]) -> Result<LeanResponse, (bool, LeanError)> {
        let mut req = Vec::with_capacity(self.head.len() + 32 + body.len());
        req.extend_from_slice(&self.head);
        req.extend_from_slice(body.len().to_string().as_bytes());
        req.extend_from_slice(b"\r\n\r\n");
        req.extend_from_slice(body);
        if let Err(e) = s.write_all(&req).await {
            return Err((
                false,
                LeanError::new(LeanErrorKind::Io, format!("write: {e}")),
            ));
        }
        let written = Instant::now();
        let mut rx_at = None;
        let mut buf = BytesMut::with_capacity(16 * 1024);
        // Bytes of interim (1xx) responses skipped so far.
        let mut skipped = 0;
        loop {
            let n = match s.read(&mut buf, written).await {
                Ok(r) => {
                    rx_at = r.at.or(rx_at);
                    r.n
                }
                Err(e) => {
                    return Err((
                        skipped > 0 || !buf.is_empty(),
                        LeanError::new(LeanErrorKind::Io, format!("read: {e}")),
                    ))
                }
            };
            if n == 0 {
                // Blank lines before a status line are not an answer (RFC 9112 §2.2).
                let answered = skipped > 0 || buf.iter().any(|b| !b.is_ascii_whitespace());
                return Err((
                    answered,
                    LeanError::new(
                        LeanErrorKind::Io,
                        "the server closed the connection before a response",
                    ),
                ));
            }
            if let Some(head) = take_head(&mut buf, &mut skipped).map_err(|e| (true, e))? {
                return Ok(LeanResponse {
                    status: head.status,
                    keep_alive: !head.close && head.body != Body::UntilClose,
                    headers: head.headers,
                    stream: Some(s),
                    buf,
                    body: head.body,
                    pool: self.pool.clone(),
                    reconnected: false,
                    setup: None,
                    written,
                    rx_at,
                });
            }
        }
    }
}

/// A final response head.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    body: Body,
    close: bool,
}

/// The final response head at the front of `buf`, taken out of it; interim (1xx) responses
/// before it are taken out and skipped (their size added to `skipped`: more than
/// [`MAX_HEAD`] of them is an error, like a head too large). None: more bytes are needed.
fn take_head(buf: &mut BytesMut, skipped: &mut usize) -> Result<Option<Head>, LeanError> {
    loop {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut hs);
        match resp.parse(buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = resp.code.unwrap_or(0);
                // 101 Switching Protocols is final (and never asked for); other 1xx are
                // interim: the final response follows on the same connection (RFC 9110 §15.2).
                if (100..200).contains(&status) && status != 101 {
                    *skipped += len;
                    if *skipped > MAX_HEAD {
                        return Err(LeanError::new(
                            LeanErrorKind::Protocol,
                            "too many interim (1xx) responses",
                        ));
                    }
                    buf.advance(len);
                    continue;
                }
                let head = head_of(status, resp.headers);
                buf.advance(len);
                return Ok(Some(head));
            }
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Err(LeanError::new(
                        LeanErrorKind::Protocol,
                        "response head too large",
                    ));
                }
                return Ok(None);
            }
            Err(e) => {
                return Err(LeanError::new(
                    LeanErrorKind::Protocol,
                    format!("not an HTTP/1.1 response: {e}"),
                ))
            }
        }
    }
}

/// The head's headers (names lower-case) and how its body is delimited.
fn head_of(status: u16, raw: &[httparse::Header<'_>]) -> Head {
    let headers: Vec<(String, String)> = raw
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let chunked =
        get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let close = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let body = if chunked {
        Body::Chunked {
            left: 0,
            crlf: false,
        }
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if n == 0 {
            Body::Done
        } else {
            Body::Length(n)
        }
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Body::Done
    } else {
        Body::UntilClose
    };
    Head {
        status,
        headers,
        body,
        close,
    }
}

/// What the body decoder made of the bytes at hand.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A piece of body.
    Data(Bytes),
    /// The body is complete.
    End,
    /// The body is complete but the connection cannot be reused (trailers too long).
    EndNotReusable,
    /// More bytes are needed.
    NeedMore,
}

/// Decodes the next piece of body from `buf` (consuming framing), without reading.
#[inline]
fn step(body: &mut Body, buf: &mut BytesMut) -> Result<Step, LeanError> {
    loop {
        match *body {
            Body::Done => return Ok(Step::End),
            Body::Length(left) => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let n = left.min(buf.len());
                let out = buf.split_to(n).freeze();
                *body = if n == left {
                    Body::Done
                } else {
                    Body::Length(left - n)
                };
                return Ok(Step::Data(out));
            }
            Body::UntilClose => {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                return Ok(Step::Data(buf.split().freeze()));
            }
            Body::Chunked { left, crlf } => {
                if left > 0 {
                    if buf.is_empty() {
                        return Ok(Step::NeedMore);
                    }
                    let n = left.min(buf.len());
                    let out = buf.split_to(n).freeze();
                    *body = Body::Chunked {
                        left: left - n,
                        crlf: n == left,
                    };
                    return Ok(Step::Data(out));
                } else if crlf {
                    if buf.len() < 2 {
                        return Ok(Step::NeedMore);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(LeanError::new(
                            LeanErrorKind::Protocol,
                            "bad chunk terminator",
                        ));
                    }
                    buf.advance(2);
                    *body = Body::Chunked {
                        left: 0,
                        crlf: false,
                    };
                } else if let Some(pos) = buf.windows(2).position(|w| w == b"\r\n") {
                    let line = &buf[..pos];
                    let hex = line.split(|&b| b == b';').next().unwrap_or(b"");
                    let size = std::str::from_utf8(hex)
                        .ok()
                        .and_then(|h| usize::from_str_radix(h.trim(), 16).ok())
                        .ok_or_else(|| {
                            LeanError::new(LeanErrorKind::Protocol, "bad chunk size line")
                        })?;
                    buf.advance(pos + 2);
                    *body = if size == 0 {
                        Body::Trailers
                    } else {
                        Body::Chunked {
                            left: size,
                            crlf: false,
                        }
                    };
                } else if buf.len() > 1024 {
                    return Err(LeanError::new(
                        LeanErrorKind::Protocol,
                        "chunk size line too long",
                    ));
                } else {
                    return Ok(Step::NeedMore);
                }
            }
            Body::Trailers => {
                // The last chunk is followed by trailers (rare) and an empty line. Read
                // through it: a connection pooled with that line still unread would hand it
                // to the next request as the start of its response.
                if buf.starts_with(b"\r\n") {
                    buf.advance(2);
                } else if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    buf.advance(p + 4);
                } else if buf.len() > 8 * 1024 {
                    // Trailers too long: the body is complete, the connection not reusable.
                    *body = Body::Done;
                    return Ok(Step::EndNotReusable);
                } else {
                    return Ok(Step::NeedMore);
                }
                *body = Body::Done;
                return Ok(Step::End);
            }
        }
    }
}

/// The connection closed while `body` needed more: the end of a close-delimited body (or of
/// trailers), else an error.
fn on_close(body: &mut Body) -> Result<(), LeanError> {
    match body {
        Body::UntilClose | Body::Trailers | Body::Done => {
            *body = Body::Done;
            Ok(())
        }
        Body::Length(_) | Body::Chunked { .. } => Err(LeanError::new(
            LeanErrorKind::Io,
            "the connection closed mid-body",
        )),
    }
}

/// Reads a whole response from `input` as the client reads one from a socket, the bytes
/// arriving `piece` at a time: the final status and the decoded body, or the error. For the
/// fuzz target and tests; the client itself runs the same head and body decoders.
pub fn read_response_from(input: &[u8], piece: usize) -> Result<(u16, Vec<u8>), LeanError> {
    let mut pieces = input.chunks(piece.max(1));
    let mut buf = BytesMut::new();
    let mut skipped = 0;
    let head = loop {
        let Some(p) = pieces.next() else {
            return Err(LeanError::new(
                LeanErrorKind::Io,
                "the server closed the connection before a response",
            ));
        };
        buf.extend_from_slice(p);
        if let Some(head) = take_head(&mut buf, &mut skipped)? {
            break head;
        }
    };
    let mut body = head.body;
    let mut out = Vec::new();
    loop {
        match step(&mut body, &mut buf)? {
            Step::Data(d) => out.extend_from_slice(&d),
            Step::End | Step::EndNotReusable => return Ok((head.status, out)),
            Step::NeedMore => match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => {
                    on_close(&mut body)?;
                    return Ok((head.status, out));
                }
            },
        }
    }
}

impl LeanResponse {
    /// A response header (name lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every response header as (name in lower case, value), in the order sent.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// When the bytes of the latest read reached this host, as the kernel stamped them; None
    /// when the system does not stamp (the caller's clock then stands in).
    pub fn rx_at(&self) -> Option<Instant> {
        self.rx_at
    }

    async fn fill(&mut self) -> Result<usize, LeanError> {
        let Some(s) = self.stream.as_mut() else {
            return Ok(0);
        };
        let floor = self.rx_at.unwrap_or(self.written);
        let r = s
            .read(&mut self.buf, floor)
            .await
            .map_err(|e| LeanError::new(LeanErrorKind::Io, format!("read: {e}")))?;
        if r.at.is_some() {
            self.rx_at = r.at;
        }
        Ok(r.n)
    }

    /// The next piece of body, as soon as the socket has some; None at the end of the body.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, LeanError> {
        loop {
            match step(&mut self.body, &mut self.buf)? {
                Step::Data(d) => return Ok(Some(d)),
                Step::End => return Ok(None),
                Step::EndNotReusable => {
                    self.keep_alive = false;
                    return Ok(None);
                }
                Step::NeedMore => {
                    let n = match self.fill().await {
                        Ok(n) => n,
                        // A broken connection after the last chunk loses only the trailers.
                        Err(_) if self.body == Body::Trailers => 0,
                        Err(e) => return Err(e),
                    };
                    if n == 0 {
                        on_close(&mut self.body)?;
                        self.keep_alive = false;
                        return Ok(None);
                    }
                }
            }
        }
    }
}

impl Drop for LeanResponse {
    fn drop(&mut self) {
        // Only a fully read, keep-alive response with nothing left over returns its connection.
        if self.body == Body::Done && self.keep_alive && self.buf.is_empty() {
            if let (Some(s), Ok(mut idle)) = (self.stream.take(), self.pool.idle.lock()) {
                if idle.len() < self.pool.max_idle {
                    idle.push(s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    async fn serve_once(reply: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                // Write in small pieces, splitting chunk framing, to exercise the parser.
                for part in reply.chunks(7) {
                    let _ = s.write_all(part).await;
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        format!("http://{addr}/v1/chat/completions")
    }

    async fn body_of(r: &mut LeanResponse) -> Result<Vec<u8>, LeanError> {
        let mut out = Vec::new();
        while let Some(c) = r.chunk().await? {
            out.extend_from_slice(&c);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn chunked_body_split_anywhere() {
        let url = serve_once(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ndata: \r\n4;ext=1\r\nabc\n\r\n0\r\n\r\n").await;
        let c = LeanClient::new(&url, &[], Duration::from_secs(2), 4).expect("client");
        let mut r = tokio::time::timeout(Duration::from_secs(5), c.send(b"{}"))
            .await
            .expect("in time")
            .expect("response");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        assert_eq!(body_of(&mut r).await.expect("body"), b"data: abc\n");
    }

    #[tokio::test]
    async fn sized_and_close_delimited_bodies() {
        let url = serve_once(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 5\r\n\r\nhello",
        )
        .await;
        let c = LeanClient::new(&url, &[], Duration::from_secs(2), 4).expect("client");
        let mut r = c.send(b"{}").await.expect("response");
        assert_eq!((r.status, r.header("retry-after")), (429, Some("2")));
        assert_eq!(body_of(&mut r).await.expect("body"), b"hello");
        let url = serve_once(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil close").await;
        let c = LeanClient::new(&url, &[], Duration::from_secs(2), 4).expect("client");
        let mut r = c.send(b"{}").await.expect("response");
        assert_eq!(body_of(&mut r).await.expect("body"), b"until close");
    }

    #[tokio::test]
    async fn truncated_chunked_body_is_an_io_error_and_garbage_is_a_protocol_error() {
        let url =
            serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly-part")
                .await;
        let c = LeanClient::new(&url, &[], Duration::from_secs(2), 4).expect("client");
        let mut r = c.send(b"{}").await.expect("response");
        assert_eq!(
            body_of(&mut r).await.expect_err("cut").kind,
            LeanErrorKind::Io
        );
        let url = serve_once(b"SSH-2.0-OpenSSH\r\n\r\n").await;
        let c = LeanClient::new(&url, &[], Duration::from_secs(2), 4).expect("client");
        assert_eq!(
            c.send(b"{}").await.err().map(|e| e.kind),
            Some(LeanErrorKind::Protocol)
        );
    }

    #[test]
    fn http_and_https_only_and_no_header_injection() {
        assert!(LeanClient::new("ftp://x/v1", &[], Duration::from_secs(1), 4).is_err());
        let c = LeanClient::new("https://x/v1", &[], Duration::from_secs(1), 4).expect("https");
        assert!(c.is_tls());
        assert_eq!((c.addr.as_str(), c.host.as_str()), ("x:443", "x"));
        let c = LeanClient::new("https://127.0.0.1:8443/v1", &[], Duration::from_secs(1), 4)
            .expect("https");
        assert_eq!(
            (c.addr.as_str(), c.host.as_str()),
            ("127.0.0.1:8443", "127.0.0.1")
        );
        let bad = vec![("X-A".to_string(), "v\r\nInjected: 1".to_string())];
        assert!(LeanClient::new("http://127.0.0.1:1/v1", &bad, Duration::from_secs(1), 4).is_err());
    }

    #[tokio::test]
    async fn interim_responses_are_skipped_for_the_final_one() {
        let url = serve_once(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        let c = LeanClient::new(&url, &[], Duration::from_secs(2), 4).expect("client");
        let mut r = c.send(b"{}").await.expect("response");
        assert_eq!((r.status, r.header("link")), (200, None));
        assert_eq!(body_of(&mut r).await.expect("body"), b"ok");
    }

    #[test]
    fn the_reader_gives_the_same_answer_however_the_bytes_arrive() {
        type Answer<'a> = Result<(u16, &'a [u8]), LeanErrorKind>;
        let cases: [(&[u8], Answer); 6] = [
            (b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", Ok((200, b"abc"))),
            (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", Ok((101, b""))),
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", Err(LeanErrorKind::Io)),
            (b"HTTP/1.1 200 OK\r\n\r\nuntil close", Ok((200, b"until close"))),
            (b"HTTP/1.1 100 Continue\r\n\r\n", Err(LeanErrorKind::Io)),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", Err(LeanErrorKind::Protocol)),
        ];
        for (input, want) in cases {
            for piece in [1, 2, 7, input.len()] {
                let got = read_response_from(input, piece);
                let got = got
                    .as_ref()
                    .map(|(s, b)| (*s, b.as_slice()))
                    .map_err(|e| e.kind);
                assert_eq!(
                    got,
                    want,
                    "{} in pieces of {piece}",
                    String::from_utf8_lossy(input)
                );
            }
        }
        // An endless run of interim responses is an error, not a hang.
        let flood = b"HTTP/1.1 102 Processing\r\n\r\n".repeat(MAX_HEAD / 10);
        assert_eq!(
            read_response_from(&flood, 4096).map_err(|e| e.kind),
            Err(LeanErrorKind::Protocol)
        );
    }

    #[test]
    fn the_query_string_is_part_of_the_precomputed_request_line() {
        let c = |url: &str| {
            let c = LeanClient::new(url, &[], Duration::from_secs(1), 1).expect("client");
            let head = String::from_utf8_lossy(&c.head).to_string();
            head.lines().next().unwrap_or_default().to_string()
        };
        assert_eq!(
            c("http://127.0.0.1:1/openai/deployments/d/chat/completions?api-version=2024-10-21"),
            "POST /openai/deployments/d/chat/completions?api-version=2024-10-21 HTTP/1.1"
        );
        assert_eq!(c("http://127.0.0.1:1?a=b"), "POST /?a=b HTTP/1.1");
        assert!(
            LeanClient::new("http://u:p@127.0.0.1:1/v1", &[], Duration::from_secs(1), 1).is_err()
        );
    }

    proptest::proptest! {
        /// The fuzz target's property on random input: no panic, and below the size limits
        /// the same answer however the bytes are split.
        #[test]
        fn any_bytes_give_an_answer_independent_of_the_split(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            piece in 1usize..64,
        ) {
            let a = read_response_from(&input, piece);
            let b = read_response_from(&input, input.len());
            match (&a, &b) {
                (Ok(x), Ok(y)) => proptest::prop_assert_eq!(x, y),
                (Err(x), Err(y)) => proptest::prop_assert_eq!(x.kind, y.kind),
                _ => proptest::prop_assert!(false, "{:?} vs {:?}", a, b),
            }
        }

        /// Any chunked body, after any interim responses, decodes to its bytes in any pieces.
        #[test]
        fn chunked_bodies_after_interim_responses_decode_in_any_pieces(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..40), 0..8),
            interim in 0usize..3,
            piece in 1usize..32,
        ) {
            let mut input = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n".repeat(interim);
            input.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for c in &chunks {
                input.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                input.extend_from_slice(c);
                input.extend_from_slice(b"\r\n");
            }
            input.extend_from_slice(b"0\r\n\r\n");
            let want: Vec<u8> = chunks.concat();
            let got = read_response_from(&input, piece).map_err(|e| e.message);
            proptest::prop_assert_eq!(got, Ok((200, want)));
        }
    }
}
