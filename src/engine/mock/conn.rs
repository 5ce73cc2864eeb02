//! The mock's listener: accepted TCP connections that a handler can make end with a reset.
//!
//! Each connection carries a shared flag; a handler reaches it through
//! `ConnectInfo<ConnInfo>`. Once the flag is set, the next write, flush or shutdown fails and
//! the socket is closed with `SO_LINGER` 0, so the kernel sends RST instead of FIN: the
//! client sees "connection reset by peer", as it would from a crashed server or a middlebox.
//!
//! With TLS on, a task accepts connections and starts one handshake task per connection; the
//! listener hands axum the connections whose handshake succeeded.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Accepts TCP connections with `TCP_NODELAY` set (small SSE frames must not wait for
/// Nagle's algorithm) and a reset flag each.
pub(crate) struct MockListener {
    pub inner: Arc<TcpListener>,
    /// With TLS: connections whose handshake is done.
    pub tls: Option<tokio::sync::mpsc::Receiver<(MockIo, ConnInfo)>>,
}

/// A connection as axum sees it: plain, or TLS over the plain one.
pub(crate) enum MockIo {
    Plain(ConnStream),
    Tls(Box<tokio_rustls::server::TlsStream<ConnStream>>),
}

impl MockListener {
    /// A listener; with `tls`, handshakes run in tasks of their own.
    pub fn new(inner: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) -> MockListener {
        let inner = Arc::new(inner);
        let Some(config) = tls else {
            return MockListener { inner, tls: None };
        };
        let (tx, rx) = tokio::sync::mpsc::channel(256);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let l = inner.clone();
        tokio::spawn(async move {
            loop {
                let (stream, info) = tokio::select! {
                    _ = tx.closed() => return,
                    got = accept_tcp(&l) => got,
                };
                let (tx, acceptor) = (tx.clone(), acceptor.clone());
                tokio::spawn(async move {
                    let shake = acceptor.accept(stream);
                    if let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), shake).await
                    {
                        let _ = tx.send((MockIo::Tls(Box::new(tls)), info)).await;
                    }
                });
            }
        });
        MockListener {
            inner,
            tls: Some(rx),
        }
    }
}

/// The next accepted TCP connection, with `TCP_NODELAY` and receive stamps set.
async fn accept_tcp(l: &TcpListener) -> (ConnStream, ConnInfo) {
    loop {
        match l.accept().await {
            Ok((tcp, _)) => {
                let _ = tcp.set_nodelay(true);
                let stamped = crate::engine::rxstamp::enable(&tcp);
                let info = ConnInfo::new();
                let stream = ConnStream {
                    tcp,
                    reset: info.reset.clone(),
                    rx: stamped.then(|| info.rx.clone()),
                };
                return (stream, info);
            }
            // Out of file descriptors or a connection aborted before accept: wait a
            // little rather than spin (what axum's own listener does).
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

/// What a handler learns about its connection.
#[derive(Clone, Debug)]
pub(crate) struct ConnInfo {
    /// Set it to end the connection with a TCP reset.
    pub reset: Arc<AtomicBool>,
    /// The kernel's receive stamp of the latest bytes read on the connection (ns since the
    /// Unix epoch; 0 when none).
    rx: Arc<AtomicU64>,
}

impl ConnInfo {
    fn new() -> ConnInfo {
        ConnInfo {
            reset: Arc::new(AtomicBool::new(false)),
            rx: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How long ago the latest bytes read on this connection reached the host, by the
    /// kernel's stamp: called when a request has been read, it is how long the request has
    /// waited since it arrived (the server's own wake-up and parsing). None when unknown.
    pub fn arrival_age(&self) -> Option<Duration> {
        #[cfg(target_os = "linux")]
        {
            const NS: u64 = 1_000_000_000;
            let v = self.rx.load(Ordering::Relaxed);
            let age = crate::engine::rxstamp::imp::age(((v / NS) as i64, (v % NS) as i64));
            // A stamp older than any request could wait is a clock step: not believed.
            (v != 0 && age < Duration::from_secs(10)).then_some(age)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }
}

impl Listener for MockListener {
    type Io = MockIo;
    type Addr = ConnInfo;

    async fn accept(&mut self) -> (MockIo, ConnInfo) {
        match &mut self.tls {
            None => {
                let (s, info) = accept_tcp(&self.inner).await;
                (MockIo::Plain(s), info)
            }
            Some(rx) => match rx.recv().await {
                Some(got) => got,
                // The accept task has ended (it ends only when this listener is dropped).
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> io::Result<ConnInfo> {
        // Only used by axum for logging; the server's address is kept elsewhere.
        self.inner.local_addr().map(|_| ConnInfo::new())
    }
}

impl Connected<IncomingStream<'_, MockListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, MockListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// One accepted connection.
pub(crate) struct ConnStream {
    tcp: TcpStream,
    reset: Arc<AtomicBool>,
    /// Where reads leave the kernel's receive stamp, when the socket stamps.
    rx: Option<Arc<AtomicU64>>,
}

impl ConnStream {
    fn resetting(&self) -> bool {
        self.reset.load(Ordering::Relaxed)
    }

    /// `SO_LINGER` with a zero timeout: closing the socket sends RST.
    fn linger_zero(&self) {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: the fd is owned by `self.tcp` and open for the duration of the call; the
        // option value is a properly sized `linger` struct on the stack.
        unsafe {
            libc::setsockopt(
                self.tcp.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            );
        }
    }

    fn reset_error() -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionReset, "mock: connection reset")
    }
}

impl Drop for ConnStream {
    fn drop(&mut self) {
        if self.resetting() {
            self.linger_zero();
        }
    }
}

impl AsyncRead for ConnStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        #[cfg(target_os = "linux")]
        if let Some(rx) = &s.rx {
            return stamped_read(&s.tcp, rx, cx, buf);
        }
        Pin::new(&mut s.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let s = self.get_mut();
        if s.resetting() {
            return Poll::Ready(Err(Self::reset_error()));
        }
        Pin::new(&mut s.tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let s = self.get_mut();
        if s.resetting() {
            return Poll::Ready(Err(Self::reset_error()));
        }
        Pin::new(&mut s.tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        if s.resetting() {
            return Poll::Ready(Err(Self::reset_error()));
        }
        Pin::new(&mut s.tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let s = self.get_mut();
        if s.resetting() {
            // No FIN: the RST goes out when the socket is dropped.
            return Poll::Ready(Err(Self::reset_error()));
        }
        Pin::new(&mut s.tcp).poll_shutdown(cx)
    }
}

/// A read that keeps the kernel's receive stamp of what it read in `rx`.
#[cfg(target_os = "linux")]
fn stamped_read(
    tcp: &TcpStream,
    rx: &AtomicU64,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    loop {
        std::task::ready!(tcp.poll_read_ready(cx))?;
        // SAFETY: recvmsg only writes initialised bytes into the unfilled part, and only the
        // `n` it reports are marked initialised below.
        let Some((n, stamp)) =
            crate::engine::rxstamp::imp::try_recv(tcp, unsafe { buf.unfilled_mut() })?
        else {
            continue;
        };
        // SAFETY: the kernel initialised these `n` bytes.
        unsafe { buf.assume_init(n) };
        buf.advance(n);
        if let Some((sec, nsec)) = stamp {
            let ns = (sec as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(nsec as u64);
            rx.store(ns, Ordering::Relaxed);
        }
        return Poll::Ready(Ok(()));
    }
}

impl AsyncRead for MockIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MockIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MockIo::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MockIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MockIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MockIo::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MockIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MockIo::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MockIo::Plain(s) => s.is_write_vectored(),
            MockIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MockIo::Plain(s) => Pin::new(s).poll_flush(cx),
            MockIo::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MockIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MockIo::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
