//! The server-side view: for each target with `server_metrics`, a task reads the server's own
//! Prometheus endpoint once a second while the run goes on, in the middle of each second of the
//! run's clock, on a client and connection of its own (never the measured load's, never
//! counted as a request). A failed or slow scrape (timeout under a second) is counted by kind
//! and never stops or delays the run.

pub mod parse;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::engine::runner::Live;
use crate::results::server::Scraped;

/// Longest a scrape may take (connection, answer and body) before it counts as a `timeout`.
pub const SCRAPE_TIMEOUT: Duration = Duration::from_millis(800);

/// Largest body read from a metrics endpoint; a larger one is a `too_large` scrape error.
const MAX_BODY: usize = 16 << 20;

/// One endpoint to scrape.
#[derive(Clone)]
pub struct Job {
    /// Target name.
    pub target: String,
    /// The URL, without credentials.
    pub url: String,
    /// HTTP basic auth from the scenario's URL.
    pub basic: Option<(String, String)>,
    /// Gauges to keep besides the known ones.
    pub gauges: Vec<String>,
}

/// The scrape tasks of one run.
pub struct Scrapers {
    tasks: Vec<JoinHandle<Scraped>>,
    stop: watch::Sender<bool>,
}

impl Scrapers {
    /// Starts one task per job; each waits for the run's clock (`live.origin`) to be set.
    pub fn start(jobs: Vec<Job>, live: Arc<Live>) -> Scrapers {
        let (stop, rx) = watch::channel(false);
        let tasks = jobs
            .into_iter()
            .map(|j| tokio::spawn(scrape_loop(j, live.clone(), rx.clone())))
            .collect();
        Scrapers { tasks, stop }
    }

    /// Stops every task (a scrape under way is dropped) and returns what each gathered.
    pub async fn finish(self) -> Vec<Scraped> {
        self.stop.send_replace(true);
        let mut out = Vec::new();
        for t in self.tasks {
            // A scrape task only parses text; if it panicked, its target has no server view.
            if let Ok(s) = t.await {
                out.push(s);
            }
        }
        out
    }
}

/// Scrapes `job` at the middle of every second of the run's clock until `stop` turns true.
async fn scrape_loop(job: Job, live: Arc<Live>, mut stop: watch::Receiver<bool>) -> Scraped {
    let mut out = Scraped {
        target: job.target.clone(),
        url: job.url.clone(),
        ..Scraped::default()
    };
    let client = match reqwest::Client::builder()
        .timeout(SCRAPE_TIMEOUT)
        .pool_max_idle_per_host(1)
        .build()
    {
        Ok(c) => c,
        Err(_) => {
            out.errors.insert("client".into(), 1);
            return out;
        }
    };
    let origin = loop {
        if let Some(o) = live.origin.get() {
            break *o;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            _ = stop.wait_for(|s| *s) => return out,
        }
    };
    let mut next: u64 = 0;
    loop {
        let at = origin + Duration::from_millis(500) + Duration::from_secs(next);
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let sec = Instant::now().saturating_duration_since(origin).as_secs();
        let got = tokio::select! {
            r = once(&client, &job) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        match got {
            Ok(body) => {
                let (point, sources, malformed) = parse::read(&body, &job.gauges);
                out.malformed_lines += malformed;
                out.sources.extend(sources);
                out.samples.push((sec, point));
            }
            Err(kind) => *out.errors.entry(kind).or_insert(0) += 1,
        }
        next = sec + 1;
    }
    out
}

/// One scrape: the body as text, or the kind of failure.
async fn once(client: &reqwest::Client, job: &Job) -> Result<String, String> {
    let mut req = client.get(&job.url);
    if let Some((u, p)) = &job.basic {
        req = req.basic_auth(u, Some(p));
    }
    let mut resp = req.send().await.map_err(|e| kind(&e))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("status {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| kind(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err("too_large".into());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The kind of a failed scrape (never its message, which could quote the URL).
fn kind(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "other"
    }
    .into()
}
