//! The CPU floor of reading streamed completions: what the least a client can do costs.
//!
//! Two minimal clients drive `llmload mock` over N keep-alive HTTP/1.1 connections in a closed
//! loop (each connection sends the next request as soon as the previous response ends):
//!
//! * `epoll`: one thread, level-triggered `epoll` over non-blocking sockets, one `read` per
//!   readiness event (a short read leaves the rest to the next `epoll_wait`), no allocation
//!   per request or token;
//! * `tokio`: a multi-thread tokio runtime with one worker (what `llmload run --threads 1`
//!   builds), one task per connection, `tokio::net::TcpStream` read into a reused buffer, plus
//!   one `Instant::now()` per read (a faithful client timestamps each token).
//!
//! Both parse only what they must: the status line, the end of the headers, the chunked
//! framing up to the final `0\r\n\r\n`, and the number of chunks that start with `data:`.
//! They print one line of `key=value` pairs: requests completed, events, and the process's
//! user and system CPU (getrusage) over the loop, excluding connection setup.
//! `benches/floor.sh` runs them next to `llmload run`; results are in docs/floor.md.
//!
//! Usage: `floor epoll|tokio --addr 127.0.0.1:PORT [--duration SECS] [--conns N]
//! [--max-tokens N]` (cargo's `--bench` argument is ignored).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Extra time after the duration for in-flight responses to end; then the run stops anyway.
const DRAIN: Duration = Duration::from_secs(10);
const BUF: usize = 16 * 1024;

struct Args {
    mode: String,
    addr: SocketAddr,
    duration: Duration,
    conns: usize,
    max_tokens: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut mode = None;
    let mut addr = None;
    let mut duration = Duration::from_secs(10);
    let mut conns = 32;
    let mut max_tokens = 16;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--bench" => {}
            "--addr" => {
                addr = Some(
                    val("--addr")?
                        .parse::<SocketAddr>()
                        .map_err(|e| format!("--addr: {e}"))?,
                )
            }
            "--duration" => {
                let s: f64 = val("--duration")?
                    .parse()
                    .map_err(|e| format!("--duration: {e}"))?;
                duration = Duration::from_secs_f64(s);
            }
            "--conns" => {
                conns = val("--conns")?
                    .parse()
                    .map_err(|e| format!("--conns: {e}"))?
            }
            "--max-tokens" => {
                max_tokens = val("--max-tokens")?
                    .parse()
                    .map_err(|e| format!("--max-tokens: {e}"))?
            }
            "epoll" | "tokio" if mode.is_none() => mode = Some(a),
            other => return Err(format!("unexpected argument {other:?}")),
        }
    }
    let addr = addr.ok_or("--addr HOST:PORT is required")?;
    if !addr.ip().is_loopback() {
        return Err("--addr must be a loopback address".into());
    }
    Ok(Args {
        mode: mode.ok_or("mode epoll or tokio is required")?,
        addr,
        duration,
        conns: conns.max(1),
        max_tokens,
    })
}

/// The request every connection sends: the body llmload sends for a chat prompt (streaming,
/// usage in the last chunk), so the mock answers with the same bytes.
fn request(addr: SocketAddr, max_tokens: u32) -> Vec<u8> {
    let body = format!(
        "{{\"model\":\"sim\",\"messages\":[{{\"role\":\"user\",\"content\":\"Hello, how fast can you stream?\"}}],\"max_tokens\":{max_tokens},\"stream\":true,\"stream_options\":{{\"include_usage\":true}}}}"
    );
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\naccept: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Where the parser is in one response.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    /// Matching `HTTP/1.1 200 `; the field is how many bytes matched.
    Status(u8),
    /// In the headers; the field is how many bytes of `\r\n\r\n` matched.
    Headers(u8),
    /// Reading a chunk-size line (hex digits, then anything up to `\n`).
    Size {
        n: usize,
        digits: bool,
        ext: bool,
    },
    /// In a chunk's data; `left` bytes remain, `m` bytes of `data:` matched so far at its start.
    Data {
        left: usize,
        m: u8,
    },
    /// The `\r\n` after a chunk's data; the field is how many bytes were seen.
    DataEnd(u8),
    /// After the `0` size line: the final `\r\n`; the field is how many bytes were seen.
    Last(u8),
    Done,
}

/// A streaming parser of one chunked HTTP/1.1 response at a time, byte by byte, no buffering.
struct Resp {
    st: St,
    events: u64,
}

const STATUS: &[u8] = b"HTTP/1.1 200 ";
const DATA: &[u8] = b"data:";

impl Resp {
    fn new() -> Self {
        Resp {
            st: St::Status(0),
            events: 0,
        }
    }

    fn reset(&mut self) {
        self.st = St::Status(0);
    }

    /// Feeds bytes; returns how many were consumed (all, unless the response ended first).
    fn feed(&mut self, buf: &[u8]) -> io::Result<usize> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let mut i = 0;
        while i < buf.len() {
            let b = buf[i];
            self.st = match self.st {
                St::Status(k) => {
                    if b != STATUS[k as usize] {
                        return Err(bad("not an HTTP/1.1 200 response"));
                    }
                    if k as usize + 1 == STATUS.len() {
                        St::Headers(0)
                    } else {
                        St::Status(k + 1)
                    }
                }
                St::Headers(k) => {
                    let want = if k % 2 == 0 { b'\r' } else { b'\n' };
                    if b == want {
                        if k == 3 {
                            St::Size {
                                n: 0,
                                digits: false,
                                ext: false,
                            }
                        } else {
                            St::Headers(k + 1)
                        }
                    } else if b == b'\r' {
                        St::Headers(1)
                    } else {
                        St::Headers(0)
                    }
                }
                St::Size { n, digits, ext } => match b {
                    b'\n' if !digits => return Err(bad("empty chunk size")),
                    b'\n' if n == 0 => St::Last(0),
                    b'\n' => St::Data { left: n, m: 0 },
                    _ if ext => St::Size { n, digits, ext },
                    b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F' => {
                        let d = (b as char).to_digit(16).unwrap_or(0) as usize;
                        let n = n
                            .checked_mul(16)
                            .and_then(|n| n.checked_add(d))
                            .ok_or_else(|| bad("chunk size overflow"))?;
                        St::Size {
                            n,
                            digits: true,
                            ext,
                        }
                    }
                    _ => St::Size {
                        n,
                        digits,
                        ext: true,
                    },
                },
                St::Data { left, m } => {
                    // Skip the chunk's data in one step, checking only its first 5 bytes.
                    let take = left.min(buf.len() - i);
                    let mut m = m;
                    let mut j = 0;
                    while (m as usize) < DATA.len() && j < take {
                        if buf[i + j] == DATA[m as usize] {
                            m += 1;
                        } else {
                            m = u8::MAX;
                            break;
                        }
                        j += 1;
                    }
                    if m as usize == DATA.len() {
                        self.events += 1;
                        m = u8::MAX;
                    }
                    i += take;
                    let left = left - take;
                    self.st = if left == 0 {
                        St::DataEnd(0)
                    } else {
                        St::Data { left, m }
                    };
                    continue;
                }
                St::DataEnd(k) => {
                    let want = if k == 0 { b'\r' } else { b'\n' };
                    if b != want {
                        return Err(bad("chunk not followed by CRLF"));
                    }
                    if k == 1 {
                        St::Size {
                            n: 0,
                            digits: false,
                            ext: false,
                        }
                    } else {
                        St::DataEnd(1)
                    }
                }
                St::Last(k) => {
                    let want = if k == 0 { b'\r' } else { b'\n' };
                    if b != want {
                        return Err(bad("trailers are not expected"));
                    }
                    if k == 1 {
                        self.st = St::Done;
                        return Ok(i + 1);
                    }
                    St::Last(1)
                }
                St::Done => return Ok(i),
            };
            i += 1;
        }
        Ok(i)
    }

    fn done(&self) -> bool {
        self.st == St::Done
    }
}

/// User and system CPU of the whole process so far, in microseconds.
fn rusage() -> (u64, u64) {
    // SAFETY: `rusage` is plain old data, so all-zero is a valid value, and getrusage only
    // writes into the struct we pass, which lives on this stack frame for the call.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid, writable pointer to a `rusage`.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

/// Counts over the measured loop.
#[derive(Default)]
struct Tally {
    requests: u64,
    events: u64,
    reads: u64,
    wakeups: u64,
}

fn report(mode: &str, t: &Tally, elapsed: Duration, cpu0: (u64, u64), cpu1: (u64, u64)) {
    let user = cpu1.0 - cpu0.0;
    let sys = cpu1.1 - cpu0.1;
    let req = t.requests.max(1) as f64;
    println!(
        "mode={mode} requests={} events={} reads={} wakeups={} elapsed_s={:.3} req_per_s={:.1} user_us={user} sys_us={sys} user_us_per_req={:.2} sys_us_per_req={:.2} total_us_per_req={:.2}",
        t.requests,
        t.events,
        t.reads,
        t.wakeups,
        elapsed.as_secs_f64(),
        t.requests as f64 / elapsed.as_secs_f64(),
        user as f64 / req,
        sys as f64 / req,
        (user + sys) as f64 / req,
    );
}

/// One connection of the epoll client.
struct Conn {
    tcp: TcpStream,
    resp: Resp,
    /// False once it has stopped sending (after the duration) and its last response ended.
    live: bool,
}

fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Writes the whole request; the socket's send buffer is empty between requests, so a short
/// write does not happen in practice, but it is retried (for at most a second) all the same.
fn send_all(tcp: &mut TcpStream, req: &[u8]) -> io::Result<()> {
    let until = Instant::now() + Duration::from_secs(1);
    let mut off = 0;
    while off < req.len() {
        match tcp.write(&req[off..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => off += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < until => {
                std::thread::yield_now()
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn run_epoll(a: &Args) -> io::Result<()> {
    let req = request(a.addr, a.max_tokens);
    // SAFETY: epoll_create1 takes no pointers; the result is checked below.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut conns = Vec::with_capacity(a.conns);
    for i in 0..a.conns {
        let tcp = connect(a.addr)?;
        tcp.set_nonblocking(true)?;
        // Level-triggered read readiness; the token is the connection's index.
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: `ep` and the socket's fd are open descriptors; `ev` is a valid epoll_event
        // that the kernel only reads during the call.
        if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, tcp.as_raw_fd(), &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        conns.push(Conn {
            tcp,
            resp: Resp::new(),
            live: true,
        });
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; a.conns];
    let mut buf = vec![0u8; BUF];
    let mut t = Tally::default();
    let cpu0 = rusage();
    let start = Instant::now();
    let stop_sending = start + a.duration;
    let hard_stop = stop_sending + DRAIN;
    for c in &mut conns {
        send_all(&mut c.tcp, &req)?;
    }
    let mut live = conns.len();
    while live > 0 {
        if Instant::now() >= hard_stop {
            eprintln!("epoll: {live} responses still open at the hard stop");
            break;
        }
        // SAFETY: `events` is a writable array of `events.len()` epoll_event structs that
        // outlives the call; `ep` is open.
        let n =
            unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as libc::c_int, 100) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        t.wakeups += 1;
        for ev in &events[..n as usize] {
            let c = &mut conns[ev.u64 as usize];
            if !c.live {
                continue;
            }
            // One read per readiness report: with level triggering, anything left is
            // reported again by the next epoll_wait, so no read ends in EAGAIN.
            let got = match c.tcp.read(&mut buf) {
                Ok(0) => return Err(io::Error::other("the mock closed a connection")),
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            t.reads += 1;
            let mut off = 0;
            while off < got {
                off += c.resp.feed(&buf[off..got])?;
                if c.resp.done() {
                    if off != got {
                        return Err(io::Error::other("bytes after the end of a response"));
                    }
                    t.requests += 1;
                    c.resp.reset();
                    if Instant::now() < stop_sending {
                        send_all(&mut c.tcp, &req)?;
                    } else {
                        c.live = false;
                        live -= 1;
                    }
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let cpu1 = rusage();
    t.events = conns.iter().map(|c| c.resp.events).sum();
    // SAFETY: `ep` is an open descriptor owned by this function, closed once.
    unsafe { libc::close(ep) };
    report("epoll", &t, elapsed, cpu0, cpu1);
    Ok(())
}

fn run_tokio(a: &Args) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    rt.worker_threads(1);
    let rt = rt.build()?;
    let req: &'static [u8] = Box::leak(request(a.addr, a.max_tokens).into_boxed_slice());
    let (addr, conns, duration) = (a.addr, a.conns, a.duration);
    rt.block_on(async move {
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s =
                tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| io::Error::other("connect timed out"))??;
            s.set_nodelay(true)?;
            streams.push(s);
        }
        let cpu0 = rusage();
        let start = Instant::now();
        let stop_sending = start + duration;
        let mut tasks = Vec::with_capacity(conns);
        for mut s in streams {
            tasks.push(tokio::spawn(async move {
                let mut buf = vec![0u8; BUF];
                let mut resp = Resp::new();
                let mut t = Tally::default();
                // The latest read's timestamp, kept as a client would keep a token's time.
                let mut last = start;
                while Instant::now() < stop_sending {
                    s.write_all(req).await?;
                    loop {
                        let got = s.read(&mut buf).await?;
                        last = Instant::now();
                        if got == 0 {
                            return Err(io::Error::other("the mock closed a connection"));
                        }
                        t.reads += 1;
                        let used = resp.feed(&buf[..got])?;
                        if resp.done() {
                            if used != got {
                                return Err(io::Error::other("bytes after the end of a response"));
                            }
                            break;
                        }
                    }
                    t.requests += 1;
                    resp.reset();
                }
                t.events = resp.events;
                std::hint::black_box(last);
                Ok::<Tally, io::Error>(t)
            }));
        }
        let mut t = Tally::default();
        let all = async {
            let mut out = Vec::with_capacity(tasks.len());
            for h in tasks {
                out.push(h.await.map_err(io::Error::other)??);
            }
            Ok::<_, io::Error>(out)
        };
        let done = tokio::time::timeout(duration + DRAIN, all)
            .await
            .map_err(|_| io::Error::other("responses still open at the hard stop"))??;
        for d in done {
            t.requests += d.requests;
            t.events += d.events;
            t.reads += d.reads;
        }
        let elapsed = start.elapsed();
        let cpu1 = rusage();
        report("tokio", &t, elapsed, cpu0, cpu1);
        Ok(())
    })
}

/// Checks the parser on a canned response fed whole and in pieces of every size up to 7 bytes.
fn self_check() -> io::Result<()> {
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n7\r\ndata: a\r\n3;x=y\r\nxyz\r\nE\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
    for step in [1, 2, 3, 4, 5, 6, 7, RESP.len()] {
        let mut r = Resp::new();
        let mut used = 0;
        for part in RESP.chunks(step) {
            used += r.feed(part)?;
        }
        if !r.done() || used != RESP.len() || r.events != 2 {
            return Err(io::Error::other(format!(
                "parser self-check failed at step {step}"
            )));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Err(e) = self_check() {
        eprintln!("floor: {e}");
        return ExitCode::FAILURE;
    }
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("floor: {e}");
            eprintln!("usage: floor epoll|tokio --addr 127.0.0.1:PORT [--duration SECS] [--conns N] [--max-tokens N]");
            return ExitCode::from(2);
        }
    };
    let r = match a.mode.as_str() {
        "epoll" => run_epoll(&a),
        _ => run_tokio(&a),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("floor {}: {e}", a.mode);
            ExitCode::FAILURE
        }
    }
}
