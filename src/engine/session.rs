//! One run of a plan, from its targets to its result: the procedure `run`, every sweep step,
//! every calibration step and every shard go through.
//!
//! A [`Session`] starts each `mock` target's server on a thread of its own ([`MockThread`]),
//! builds one client per target with its API key ([`api_key`]) and its per-minute quotas (a
//! shard's share: [`shard_quota`]), opens the records file, runs the [`runner`], stops the
//! mocks and assembles the [`RunResult`] with the validity policy of [`crate::results::policy`].
//!
//! Nothing here prints, parses flags, chooses file names or decides an exit code; the command
//! layer does. The progress view and signal handling belong to the caller too: it hands in the
//! [`Live`] counters it watches and the stop channel its signal handler drives.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{anyhow, Context, Result};
use tokio::sync::watch;

use crate::config::mock::MockConfig;
use crate::config::plan::{Base, Plan, Target};
use crate::config::schedule::ShardPart;
use crate::core::time::rfc3339;
use crate::engine::client::{ClientSettings, TargetClient};
use crate::engine::golden;
use crate::engine::golden_mix;
use crate::engine::mock::MockServer;
use crate::engine::runner::{self, ClientWithQuotas, Judge, Live, RunOptions, RunOutput, Stop};
use crate::engine::scrape;
use crate::engine::token_probe;
use crate::results::{self, policy, RunMeta, RunResult, RunStatus, Shard};

/// A plan that cannot start as written: a missing API key, an unreadable key file, a client
/// that cannot be built, a mock that cannot start. The message names the target and is meant
/// for the user as it stands (the command layer prints it without a cause chain; exit 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// How long after the run's preparation its first arrival goes when no start instant is agreed
/// (lets connections and tasks settle).
const LEAD: Duration = Duration::from_millis(20);

/// How long in-flight requests of a sweep or calibration step may finish after a stop.
const STEP_GRACE: Duration = Duration::from_secs(1);

/// The API key of a target: from `api_key_env` (required to be set, except for the built-in
/// mock, which needs no key and takes one only if the variable happens to be set), else the
/// first line of `api_key_file` (trimmed), else none.
pub fn api_key(t: &Target) -> Result<Option<String>, SetupError> {
    match &t.api_key_env {
        Some(var) if matches!(t.base, Base::Mock(_)) => Ok(std::env::var(var).ok()),
        Some(var) => std::env::var(var).map(Some).map_err(|_| {
            SetupError(format!(
                "target `{}`: environment variable {var} is not set (it must hold the API key)",
                t.name
            ))
        }),
        None => match &t.api_key_file {
            Some(f) => std::fs::read_to_string(f)
                .map(|text| Some(text.lines().next().unwrap_or("").trim().to_string()))
                .map_err(|e| {
                    SetupError(format!(
                        "target `{}`: cannot read api_key_file {}: {e}",
                        t.name,
                        f.display()
                    ))
                }),
            None => Ok(None),
        },
    }
}

/// One shard's share of a per-minute quota: the shards of a run together keep the account's
/// quota, so each gets `1/shards` of it.
pub fn shard_quota(per_minute: Option<f64>, shards: u32) -> Option<f64> {
    per_minute.map(|r| r / shards.max(1) as f64)
}

/// The built-in mock on a thread and runtime of its own, so its work neither delays the
/// generator's runtime nor counts as the generator's CPU.
pub struct MockThread {
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub base_url: String,
    /// Its thread's kernel id (excluded from the generator's CPU).
    pub tid: i32,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl MockThread {
    /// Starts a mock server on 127.0.0.1, port chosen by the system; returns once it listens.
    pub fn spawn(cfg: MockConfig) -> Result<MockThread> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(String, i32), String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let join = std::thread::Builder::new()
            .name("llmload-mock".into())
            .spawn(move || Self::serve(cfg, ready_tx, stop_rx))
            .context("starting the built-in mock server's thread")?;
        let (base_url, tid) = ready_rx
            .recv()
            .map_err(|_| anyhow!("the built-in mock server's thread ended before it started"))?
            .map_err(|e| anyhow!(SetupError(format!("built-in mock server: {e}"))))?;
        Ok(MockThread {
            base_url,
            tid,
            stop: Some(stop_tx),
            join: Some(join),
        })
    }

    /// The mock thread's body: a current-thread runtime serving until `stop` fires; says on
    /// `ready` where it listens, or why it could not start.
    fn serve(
        cfg: MockConfig,
        ready: std::sync::mpsc::Sender<Result<(String, i32), String>>,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready.send(Err(format!("cannot start its runtime: {e}")));
                return;
            }
        };
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready.send(Err(format!("cannot bind 127.0.0.1: {e}")));
                    return;
                }
            };
            let server = match MockServer::start(listener, cfg).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready.send(Ok((
                server.base_url(),
                crate::engine::monitor::current_tid(),
            )));
            let _ = stop.await;
            server.shutdown().await;
        });
    }

    /// Shuts the server down and waits for its thread.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = tokio::task::spawn_blocking(move || j.join()).await;
        }
    }
}

/// How a session runs and how its result is labelled.
pub struct Settings {
    /// This process's part of the run (`0 of 1` for a whole run).
    pub part: ShardPart,
    /// `--shard` was given: the result keeps what `llmload merge` needs, and its run id is
    /// derived from the plan and the start instant (so every shard's agrees).
    pub sharded: bool,
    /// The agreed wall-clock start (`--start-at`); without it the run starts shortly after now.
    pub start_at: Option<SystemTime>,
    /// Seconds this process was ready before the agreed start (see [`seconds_until`]).
    pub ready_before_start_s: f64,
    /// How long in-flight requests may finish after a stop.
    pub grace: Duration,
    /// Stops the run early (claims marked `abort = true`).
    pub judge: Option<Judge>,
    /// The run id; None draws a random one (or derives a shard's).
    pub run_id: Option<String>,
    /// Runtime worker threads the generator has.
    pub worker_threads: usize,
    /// Warnings for the result: Some holds those found before the run, and the run's own (TLS
    /// verification off, a failed records file, abandoned requests) follow; None records no
    /// warnings (sweep and calibration steps).
    pub warnings: Option<Vec<String>>,
}

impl Settings {
    /// A sweep or calibration step: a whole run under its own id, a one-second grace period,
    /// no judge and no warnings.
    pub fn step(run_id: &str, worker_threads: usize) -> Settings {
        Settings {
            part: ShardPart::WHOLE,
            sharded: false,
            start_at: None,
            ready_before_start_s: 0.0,
            grace: STEP_GRACE,
            judge: None,
            run_id: Some(run_id.to_string()),
            worker_threads,
            warnings: None,
        }
    }
}

/// Seconds from now until `at` (negative once it has passed).
pub fn seconds_until(at: SystemTime) -> f64 {
    match at.duration_since(SystemTime::now()) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// What a finished session produced.
pub struct Finished {
    /// The run's result (not yet written).
    pub result: RunResult,
    /// Lines written to the records file.
    pub records_written: u64,
    /// Whether a stop signal ended the run.
    pub interrupted: bool,
    /// Why the judge stopped the run, if it did.
    pub aborted: Option<String>,
}

/// A plan with its mocks started and its clients built, ready to run once.
pub struct Session {
    plan: Plan,
    mocks: Vec<MockThread>,
    targets: Vec<ClientWithQuotas>,
    records: Option<(PathBuf, std::fs::File)>,
    scrapes: Vec<scrape::Job>,
    calibrated: Vec<token_probe::Fitted>,
    quality: Option<results::QualityResult>,
    /// `[quality] mix` is on for the run (set by [`Session::golden_pass`]).
    golden_mix: bool,
}

impl Session {
    /// Starts an in-process mock for each `mock` target and builds each target's client with
    /// its API key and its share (1/`shards`) of each per-minute quota. Targets with TLS
    /// verification off are warned about on stderr.
    pub fn start(plan: Plan, shards: u32) -> Result<Session> {
        let mut mocks = Vec::new();
        let mut targets = Vec::new();
        let mut scrapes = Vec::new();
        for t in &plan.targets {
            let base_url = match &t.base {
                Base::Mock(cfg) => {
                    let mut cfg = (**cfg).clone();
                    cfg.seed = plan.seed;
                    let m = MockThread::spawn(cfg)?;
                    let url = m.base_url.clone();
                    mocks.push(m);
                    url
                }
                Base::Url(u) => u.clone(),
            };
            targets.push(target_runtime(&plan, t, &base_url, shards)?);
            scrapes.extend(scrape_job(t, &base_url));
        }
        Ok(Session {
            plan,
            mocks,
            targets,
            records: None,
            scrapes,
            calibrated: Vec::new(),
            quality: None,
            golden_mix: false,
        })
    }

    /// The plan the session runs (with server-fitted prompt sizes once calibrated).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// For models with `tokenizer = "server"`: probes the endpoint and sizes their synthetic
    /// prompts (see [`token_probe`]); nothing to do otherwise. The probes are not part of the
    /// run. The error says which model and why.
    pub async fn calibrate_tokens(&mut self) -> Result<()> {
        if !self.plan.models.iter().any(|m| m.tokenizer.is_server()) {
            return Ok(());
        }
        self.calibrated = token_probe::calibrate(&mut self.plan, &self.targets)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        Ok(())
    }

    /// Uses calibrations made by an earlier session of the same plan (another step of a
    /// sweep) instead of probing the server again.
    pub fn reuse_calibration(&mut self, fitted: &[token_probe::Fitted]) {
        token_probe::reinstall(&mut self.plan, fitted);
        self.calibrated = fitted.to_vec();
    }

    /// With `[quality]`: sends every golden line once to every model (see [`golden`]) and
    /// keeps the scored figures for the result; not part of the run. With `mode = "mix"`,
    /// sends nothing now and has the run mix golden requests into its load instead (see
    /// [`golden_mix`]).
    pub async fn golden_pass(&mut self) {
        self.golden_mix = self
            .plan
            .quality
            .as_ref()
            .is_some_and(|q| matches!(q.run, crate::config::plan::QualityRun::Mix(_)));
        self.quality = golden::pass(&self.plan, &self.targets).await;
    }

    /// The server calibrations done so far.
    pub fn calibrated(&self) -> &[token_probe::Fitted] {
        &self.calibrated
    }

    /// Stops the session's mocks without running (tests).
    #[cfg(test)]
    pub async fn stop_mocks(self) {
        for m in self.mocks {
            m.stop().await;
        }
    }

    /// Creates (truncates) the records file the run writes each request to.
    pub fn record_to(&mut self, path: &Path) -> Result<()> {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        self.records = Some((path.to_path_buf(), file));
        Ok(())
    }

    /// Runs the plan, stops the mocks and assembles the result. `stop` ends the run early like
    /// a signal (the result then says `interrupted`); `live` is updated as requests finish.
    pub async fn run(self, live: Arc<Live>, stop: watch::Receiver<Stop>, s: Settings) -> Finished {
        let Session {
            plan,
            mocks,
            targets,
            records,
            scrapes,
            calibrated,
            quality,
            golden_mix: mix,
        } = self;
        let (records_path, file) = records.unzip();
        let mock_tids: Vec<i32> = mocks.iter().map(|m| m.tid).collect();
        let opts = RunOptions {
            interrupt_grace: s.grace,
            lead: LEAD,
            exclude_tids: mock_tids.clone(),
            judge: s.judge,
            shard: s.part,
            start_at: s.start_at,
            keep_partial: s.sharded,
            golden_mix: mix,
        };
        let transport: Vec<_> = plan
            .targets
            .iter()
            .zip(&targets)
            .map(|(t, c)| (t.name.clone(), c.client.clone()))
            .collect();
        // The judge of golden answers mixed into the load grades them after the load, through
        // the same clients (the side requests wait on no quota).
        let judge_clients: Vec<ClientWithQuotas> = match (mix, plan.quality.as_ref()) {
            (true, Some(q)) if q.judge.is_some() => targets
                .iter()
                .map(|t| ClientWithQuotas::new(t.client.clone(), None, None, 1))
                .collect(),
            _ => Vec::new(),
        };
        let scrapers = scrape::Scrapers::start(scrapes, live.clone());
        let mut out = runner::run(plan.clone(), targets, file, live, stop, opts).await;
        let quality = match mix {
            true => {
                let load_s = out
                    .finished_at
                    .duration_since(out.started_at)
                    .map_or(0.0, |d| d.as_secs_f64());
                let answers = std::mem::take(&mut out.golden);
                golden_mix::result(&plan, &judge_clients, answers, load_s).await
            }
            false => quality,
        };
        let scraped = scrapers.finish().await;
        for m in mocks {
            m.stop().await;
        }
        let meta_warnings = s.warnings.is_some();
        let meta = Labels {
            part: s.part,
            sharded: s.sharded,
            run_id: s.run_id,
            worker_threads: s.worker_threads,
            warnings: s.warnings,
            records: records_path.as_deref(),
            mocked: !mock_tids.is_empty(),
        };
        let mut result = meta.result(&plan, &out, s.ready_before_start_s);
        results::server::attach(&mut result, scraped);
        result.tokenizers = tokenizer_uses(&plan, &calibrated);
        result.quality = quality;
        results::quality::add_cost_relative(&mut result);
        if meta_warnings {
            result
                .warnings
                .extend(tokenizer_warnings(&plan, &calibrated));
        }
        result.transport = transport.iter().map(|(n, c)| c.transport(n)).collect();
        Finished {
            result,
            records_written: out.records_written,
            interrupted: out.interrupted,
            aborted: out.aborted,
        }
    }
}

/// The scrape of a target's own metrics endpoint, when it has one: the built-in mock's is
/// beside its API (`…/v1` → `…/metrics`).
fn scrape_job(t: &Target, base_url: &str) -> Option<scrape::Job> {
    let s = t.server_metrics.as_ref()?;
    let url = match &s.url {
        Some(u) => u.clone(),
        None => format!("{}/metrics", base_url.trim_end_matches("/v1")),
    };
    Some(scrape::Job {
        target: t.name.clone(),
        url,
        basic: s.basic.clone(),
        gauges: s.gauges.clone(),
    })
}

/// One target's client, with its key, TLS, limits and quota share.
fn target_runtime(
    plan: &Plan,
    t: &Target,
    base_url: &str,
    shards: u32,
) -> Result<ClientWithQuotas> {
    let api_key = api_key(t)?;
    if t.insecure {
        eprintln!(
            "warning: target `{}`: tls.insecure = true — server certificates will NOT be verified",
            t.name
        );
    }
    let client = TargetClient::new(ClientSettings {
        name: &t.name,
        base_url,
        api_key,
        auth: t.auth.clone(),
        headers: &t.headers,
        timeouts: t.timeouts,
        pool_max_idle: t.pool_max_idle,
        http: t.http,
        ca_bundle: t.ca_bundle.as_deref(),
        insecure: t.insecure,
        lean: t.lean,
        endpoint: plan.workload.endpoint,
        stream: plan.workload.stream,
    })
    .map_err(|e| anyhow!(SetupError(e.to_string())))?
    .with_retry_on_429(t.retry_on_429);
    let client = match t.max_response_bytes {
        Some(n) => client.with_max_response_bytes(n),
        None => client,
    };
    Ok(ClientWithQuotas::new(
        client,
        shard_quota(t.requests_per_minute, shards),
        shard_quota(t.tokens_per_minute, shards),
        plan.workload.largest_request_tokens(),
    ))
}

/// The facts about a finished run that the result records beside its metrics.
struct Labels<'a> {
    part: ShardPart,
    sharded: bool,
    run_id: Option<String>,
    worker_threads: usize,
    warnings: Option<Vec<String>>,
    records: Option<&'a Path>,
    mocked: bool,
}

impl Labels<'_> {
    /// The result of `out`, with a shard's partial data when sharded.
    fn result(self, plan: &Plan, out: &RunOutput, ready_before_start_s: f64) -> RunResult {
        let frame = results::PlanOutline::new(plan);
        let run_id = match (self.run_id, self.sharded) {
            (Some(id), _) => id,
            (None, true) => {
                let hash = results::shard::plan_hash(&frame, self.part.count);
                results::shard::run_id(&hash, &rfc3339(out.started_at))
            }
            (None, false) => format!("{:016x}", rand::random::<u64>()),
        };
        let warnings = match self.warnings {
            Some(mut w) => {
                w.extend(run_warnings(plan, out));
                w
            }
            None => Vec::new(),
        };
        let meta = RunMeta {
            run_id,
            status: status(out),
            started_at: rfc3339(out.started_at),
            finished_at: rfc3339(out.finished_at),
            records_file: self
                .records
                .and_then(|p| p.file_name())
                .map(|s| s.to_string_lossy().to_string()),
            shard: Shard {
                index: self.part.index,
                count: self.part.count,
            },
            max_lag_p99_ms: policy::MAX_LAG_P99_MS,
            min_send_ratio: policy::MIN_SEND_RATIO,
            warnings,
            health: out.health.clone(),
            worker_threads: self.worker_threads,
            cpu_excludes_mock: self.mocked,
            aborted_by: out.aborted.clone(),
            guard: out.guard.clone(),
        };
        let mut result = results::assemble(&frame, &out.collector, meta.clone());
        if self.sharded {
            result.partial = Some(Box::new(results::shard::Partial::new(
                frame,
                self.part.count,
                out.started_at,
                ready_before_start_s,
                &out.collector,
                &meta,
            )));
        }
        result
    }
}

/// How the run ended: stopped by a signal, stopped by a lost claim, or complete.
fn status(out: &RunOutput) -> RunStatus {
    if out.interrupted {
        RunStatus::Interrupted
    } else if out.aborted.is_some() {
        RunStatus::Aborted
    } else {
        RunStatus::Complete
    }
}

/// Per model: its tokenizer, whether its synthetic prompts were exact, and the server
/// calibration figures.
fn tokenizer_uses(plan: &Plan, calibrated: &[token_probe::Fitted]) -> Vec<results::TokenizerUse> {
    plan.models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let info = m.tokenizer.info();
            let calibration: Vec<results::ServerCalibration> = calibrated
                .iter()
                .filter(|f| f.model == i)
                .map(|f| f.figures.clone())
                .collect();
            let synthetic: Vec<&crate::config::workload::Synthetic> = plan
                .workload
                .classes
                .iter()
                .filter(|c| c.model.is_none_or(|cm| cm == i))
                .filter_map(|c| match &c.source {
                    crate::config::workload::PromptSource::Synthetic(s) => Some(s),
                    _ => None,
                })
                .collect();
            let synthetic_exact = (!synthetic.is_empty()).then(|| {
                if m.tokenizer.is_server() {
                    !calibration.is_empty() && calibration.iter().all(|c| c.exact)
                } else {
                    synthetic.iter().all(|s| s.inexact.is_none())
                }
            });
            results::TokenizerUse {
                model: m.label.clone(),
                kind: info.kind,
                name: info.name,
                sha256: info.sha256,
                synthetic_exact,
                calibration,
            }
        })
        .collect()
}

/// What the result says about prompt sizes: synthetic prompts that are not token-exact for a
/// model's tokenizer, and sizes calibrated against a server.
fn tokenizer_warnings(plan: &Plan, calibrated: &[token_probe::Fitted]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in &plan.workload.classes {
        if let crate::config::workload::PromptSource::Synthetic(s) = &c.source {
            if let Some(why) = &s.inexact {
                if !out.contains(why) {
                    out.push(why.clone());
                }
            }
        }
    }
    for f in calibrated {
        let c = &f.figures;
        let probes: Vec<String> = c
            .probes
            .iter()
            .map(|p| format!("{} words → {}", p.words, p.prompt_tokens))
            .collect();
        out.push(format!(
            "model `{}`, class `{}`: synthetic prompt sizes were calibrated against the server ({} tokens besides the words, {} per word; probes: {}){}",
            plan.models[f.model].label,
            c.class,
            c.overhead_tokens,
            c.tokens_per_word,
            probes.join(", "),
            if c.exact {
                ""
            } else {
                "; the server does not count one token per word, so sizes are approximate"
            }
        ));
    }
    out
}

/// What the run itself warns about: TLS verification off, a records file that failed part
/// way, requests abandoned at the end of the drain.
fn run_warnings(plan: &Plan, out: &RunOutput) -> Vec<String> {
    let mut warnings = Vec::new();
    for t in plan.targets.iter().filter(|t| t.insecure) {
        warnings.push(format!(
            "target `{}`: tls.insecure = true — server certificates were NOT verified",
            t.name
        ));
    }
    if let Some(e) = &out.records_error {
        warnings.push(format!("writing the records file failed part way: {e}"));
    }
    if out.abandoned > 0 {
        warnings.push(format!(
            "{} requests were still in flight when the run stopped and were abandoned (outcome `abandoned`)",
            out.abandoned
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::Source;

    /// A plan from a scenario with one target (`target` lines after its name) and one model
    /// on the built-in mock unless the target says otherwise.
    fn plan(target: &str, load: &str) -> Plan {
        let mock = if target.contains("\"mock\"") {
            "mock = { ttft = \"2ms\", itl = \"1ms\", output_tokens = 4 }"
        } else {
            ""
        };
        let src = Source {
            path: PathBuf::from("session.toml"),
            text: format!(
                r#"name = "session"
[[targets]]
name = "t"
{target}
[[models]]
id = "m"
target = "t"
{mock}
[workload]
prompts = ["hi"]
max_tokens = 4
[load]
{load}
"#
            ),
        };
        let f = src.parse().expect("scenario parses");
        Plan::build(&src, f).expect("scenario is valid")
    }

    fn target(base: &str, key: &str) -> Target {
        plan(
            &format!("base_url = \"{base}\"\n{key}"),
            "concurrency = 1\nrequests = 1",
        )
        .targets
        .remove(0)
    }

    #[test]
    fn a_real_target_needs_its_key_variable_set() {
        let var = "LLMLOAD_SESSION_TEST_UNSET_KEY";
        let t = target("http://127.0.0.1:9", &format!("api_key_env = \"{var}\""));
        let e = api_key(&t).expect_err("unset variable");
        assert_eq!(
            e.to_string(),
            format!("target `t`: environment variable {var} is not set (it must hold the API key)")
        );
    }

    #[test]
    fn the_mock_takes_no_key_unless_one_is_set() {
        let t = target("mock", "api_key_env = \"LLMLOAD_SESSION_TEST_UNSET_KEY\"");
        assert_eq!(api_key(&t).expect("the mock needs no key"), None);
        assert_eq!(api_key(&target("mock", "")).expect("no key"), None);
    }

    #[test]
    fn a_key_file_gives_its_first_line_trimmed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("key");
        std::fs::write(&f, "  sk-test-123 \nsecond line\n").expect("write key");
        let t = target(
            "http://127.0.0.1:9",
            &format!("api_key_file = {:?}", f.display().to_string()),
        );
        assert_eq!(api_key(&t).expect("readable"), Some("sk-test-123".into()));
        std::fs::remove_file(&f).expect("remove key");
        let e = api_key(&t).expect_err("unreadable");
        assert!(
            e.to_string().starts_with(&format!(
                "target `t`: cannot read api_key_file {}",
                f.display()
            )),
            "{e}"
        );
    }

    #[test]
    fn shards_split_per_minute_quotas_evenly() {
        assert_eq!(shard_quota(Some(600.0), 3), Some(200.0));
        assert_eq!(shard_quota(Some(600.0), 1), Some(600.0));
        assert_eq!(shard_quota(None, 4), None);
        // Three shards together keep the account's quota.
        let share = shard_quota(Some(1000.0), 3).expect("quota");
        assert!((3.0 * share - 1000.0).abs() < 1e-9);
    }

    #[tokio::test]
    async fn a_missing_key_stops_the_session_before_anything_starts() {
        let p = plan(
            "base_url = \"http://127.0.0.1:9\"\napi_key_env = \"LLMLOAD_SESSION_TEST_UNSET_KEY\"",
            "concurrency = 1\nrequests = 1",
        );
        let e = Session::start(p, 1).err().expect("refused");
        assert!(e.downcast_ref::<SetupError>().is_some(), "{e:#}");
    }

    #[tokio::test]
    async fn the_mock_thread_listens_until_stopped() {
        let m = MockThread::spawn(MockConfig::default()).expect("mock starts");
        let host_port = m.base_url.trim_start_matches("http://");
        let addr = host_port.split('/').next().unwrap_or(host_port).to_string();
        assert!(addr.starts_with("127.0.0.1:"), "{}", m.base_url);
        tokio::net::TcpStream::connect(&addr)
            .await
            .expect("the mock accepts connections");
        m.stop().await;
    }

    #[tokio::test]
    async fn a_session_runs_every_request_and_records_each() {
        let dir = tempfile::tempdir().expect("tempdir");
        let records = dir.path().join("s.records.jsonl");
        let p = plan("base_url = \"mock\"", "concurrency = 4\nrequests = 20");
        let mut session = Session::start(p, 1).expect("starts");
        session.record_to(&records).expect("records file");
        let (_tx, rx) = watch::channel(Stop::Running);
        let live = Arc::new(Live::default());
        let mut s = Settings::step("step-1", 2);
        s.warnings = Some(vec!["found before the run".into()]);
        let done = session.run(live, rx, s).await;
        let r = &done.result;
        assert_eq!(r.overall.requests.ok, 20, "{:?}", r.overall.requests);
        assert_eq!(done.records_written, 20);
        let lines = std::fs::read_to_string(&records).expect("records");
        assert_eq!(lines.lines().count(), 20);
        assert_eq!(r.records_file.as_deref(), Some("s.records.jsonl"));
        assert_eq!(r.run_id, "step-1");
        assert_eq!(r.status, RunStatus::Complete);
        assert!(!done.interrupted && done.aborted.is_none());
        assert_eq!(r.warnings, vec!["found before the run".to_string()]);
        assert_eq!((r.shard.index, r.shard.count), (0, 1));
        assert!(r.partial.is_none());
        assert!(r.generator.cpu_excludes_mock);
        assert_eq!(r.generator.worker_threads, 2);
    }

    #[tokio::test]
    async fn shards_of_one_run_agree_on_its_id_and_keep_what_merge_needs() {
        let at = SystemTime::now() + Duration::from_millis(200);
        let mut ids = Vec::new();
        for index in 0..2 {
            let p = plan("base_url = \"mock\"", "concurrency = 2\nrequests = 6");
            let session = Session::start(p, 2).expect("starts");
            let (_tx, rx) = watch::channel(Stop::Running);
            let s = Settings {
                part: ShardPart { index, count: 2 },
                sharded: true,
                start_at: Some(at),
                ready_before_start_s: seconds_until(at),
                grace: Duration::from_secs(1),
                judge: None,
                run_id: None,
                worker_threads: 1,
                warnings: Some(Vec::new()),
            };
            let done = session.run(Arc::new(Live::default()), rx, s).await;
            assert!(
                done.result.partial.is_some(),
                "shard {index} keeps its partial"
            );
            assert_eq!(
                (done.result.shard.index, done.result.shard.count),
                (index, 2)
            );
            ids.push(done.result.run_id);
        }
        assert_eq!(ids[0], ids[1]);
    }

    #[tokio::test]
    async fn a_stop_before_the_start_gives_an_interrupted_result() {
        let p = plan("base_url = \"mock\"", "rate = \"5/s\"\nduration = \"30s\"");
        let session = Session::start(p, 1).expect("starts");
        let (tx, rx) = watch::channel(Stop::Running);
        tx.send_replace(Stop::NoNewArrivals);
        let done = tokio::time::timeout(
            Duration::from_secs(20),
            session.run(Arc::new(Live::default()), rx, Settings::step("s", 1)),
        )
        .await
        .expect("a stopped session ends");
        assert!(done.interrupted);
        assert_eq!(done.result.status, RunStatus::Interrupted);
    }
}
