//! The built-in mock LLM server: an OpenAI-compatible simulator with configurable
//! latency, output length, capacity limit and faults.
//!
//! It serves `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions`,
//! `POST /v1/embeddings` (deterministic vectors, the model's TTFT as the whole latency),
//! `GET /health` and `GET /metrics` (its requests processing and deferred, in the Prometheus
//! text format under llama-server's names). It is used in-process (scenario `base_url = "mock"`), standalone
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

mod answers;
mod conn;
mod gen;
mod quota;
mod request;
mod server;
pub mod tls;
mod truth;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

use crate::config::mock::{Faults, MockConfig, MockModel, DEFAULT_MODEL_ID, STALL_LIMIT};

/// How long [`MockServer::shutdown`] waits for connections to close before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

impl MockConfig {
    /// The fault that the `n`-th request received by a fresh server (counting from 0) gets
    /// if it asks for `model`, by name (`None`: no fault). Tests use it to know exactly
    /// how many requests of a run were faulted: the draw depends only on the seed and `n`.
    pub fn fault_of(&self, model: &str, n: u64) -> Option<&'static str> {
        use rand::SeedableRng;
        let m = self.models.get(model).unwrap_or(&self.default_model);
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(n);
        gen::Fault::draw(&m.faults, &mut rng).map(gen::Fault::name)
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
    /// `http` or `https`.
    scheme: &'static str,
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
        MockServer::start_with(listener, cfg, None).await
    }

    /// [`MockServer::start`], serving https with `tls` when given.
    pub async fn start_with(
        listener: tokio::net::TcpListener,
        cfg: MockConfig,
        tls: Option<tls::MockTls>,
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
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = conn::MockListener::new(listener, tls.map(|t| t.config));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
        });
        Ok(MockServer {
            addr,
            scheme,
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

    /// `http://127.0.0.1:PORT/v1` (`https://` with TLS; the real address when bound to a
    /// specific non-IPv4-unspecified interface).
    pub fn base_url(&self) -> String {
        let ip = self.addr.ip();
        if ip.is_unspecified() || (ip.is_loopback() && ip.is_ipv4()) {
            format!("{}://127.0.0.1:{}/v1", self.scheme, self.addr.port())
        } else {
            format!("{}://{}/v1", self.scheme, self.addr)
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
