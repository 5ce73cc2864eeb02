//! The truth log: one JSON line per request with the server-side timings, written by a
//! dedicated thread so the request path only does a channel send.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;

use super::gen::Kind;

/// Flush the buffered lines after this long without new records.
const IDLE_FLUSH: Duration = Duration::from_millis(200);

/// What a request contributes to the log.
pub(crate) struct Record {
    pub kind: Kind,
    pub n: u64,
    pub model: String,
    pub stream: bool,
    pub status: u16,
    pub received_unix_us: u64,
    pub first_token_unix_us: Option<u64>,
    pub last_token_unix_us: Option<u64>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub fault: Option<&'static str>,
    pub completed: bool,
}

pub(crate) enum Msg {
    Record(Record),
    /// Flush and stop.
    Close,
}

#[derive(Serialize)]
struct Line<'a> {
    id: String,
    model: &'a str,
    stream: bool,
    status: u16,
    received_unix_us: u64,
    first_token_unix_us: Option<u64>,
    last_token_unix_us: Option<u64>,
    prompt_tokens: u32,
    completion_tokens: u32,
    fault: Option<&'static str>,
    completed: bool,
}

/// Owner side of the log: the channel and the writer thread.
pub(crate) struct TruthLog {
    tx: mpsc::Sender<Msg>,
    thread: Option<JoinHandle<()>>,
}

impl TruthLog {
    /// Opens (creating or appending to) `path` and starts the writer thread.
    pub fn open(path: &Path, seed: u64) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let (tx, rx) = mpsc::channel::<Msg>();
        let thread = std::thread::Builder::new()
            .name("mock-truth-log".into())
            .spawn(move || write_loop(rx, BufWriter::with_capacity(64 << 10, file), seed))?;
        Ok(TruthLog {
            tx,
            thread: Some(thread),
        })
    }

    pub fn sender(&self) -> mpsc::Sender<Msg> {
        self.tx.clone()
    }

    /// Asks the writer to flush and stop, and waits for it. Records sent later are lost.
    pub async fn close(mut self) {
        let _ = self.tx.send(Msg::Close);
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
    }
}

fn write_loop(rx: mpsc::Receiver<Msg>, mut out: BufWriter<File>, seed: u64) {
    let mut failed = false;
    loop {
        match rx.recv_timeout(IDLE_FLUSH) {
            Ok(Msg::Record(r)) => {
                if failed {
                    continue;
                }
                let line = Line {
                    id: format!("{}{}-{}", r.kind.id_prefix(), seed, r.n),
                    model: &r.model,
                    stream: r.stream,
                    status: r.status,
                    received_unix_us: r.received_unix_us,
                    first_token_unix_us: r.first_token_unix_us,
                    last_token_unix_us: r.last_token_unix_us,
                    prompt_tokens: r.prompt_tokens,
                    completion_tokens: r.completion_tokens,
                    fault: r.fault,
                    completed: r.completed,
                };
                let res = serde_json::to_writer(&mut out, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|()| out.write_all(b"\n"));
                if let Err(e) = res {
                    eprintln!("mock: truth log write failed, no more records: {e}");
                    failed = true;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = out.flush();
            }
            Ok(Msg::Close) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = out.flush();
}
