//! Command-line types (clap) only. Nothing outside `cli` sees these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Load generator and benchmark for OpenAI-compatible LLM endpoints.
#[derive(Debug, Parser)]
#[command(name = "llmload", version = env!("LLMLOAD_LONG_VERSION"), about, long_about = None)]
pub struct Cli {
    /// Command.
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
// Parsed once per process: the size of the largest variant (`run`'s flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and write its result.
    Run(RunArgs),
    /// Write a commented starter scenario that runs against the built-in mock as written.
    Init(InitArgs),
    /// Check a scenario without sending anything.
    Validate {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Change a scenario key before validation, e.g. `load.rate=20/s` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Serve the built-in OpenAI-compatible simulator.
    Mock(MockArgs),
    /// Measure llmload's own limits on this machine (TTFT overhead, highest valid rate).
    Calibrate(CalibrateArgs),
    /// Check a result against claims and/or a baseline result; exit 1 when the gate fails.
    Check(CheckArgs),
    /// Compare results side by side: one table per metric family, a column per model.
    Compare(CompareArgs),
    /// Sweep to the knee: a one-at-a-time baseline, a saturation probe, then a ladder of rates.
    Sweep(SweepArgs),
    /// Plan capacity and cost for a daily token volume from a (sweep) result.
    Plan(PlanArgs),
    /// Write a report of one or more results: self-contained HTML, CSV tables or Markdown.
    Report(ReportCmdArgs),
    /// Merge the partial results of a sharded run (`run --shard I/N`) into one exact result.
    Merge(MergeArgs),
    /// Print a shell completion script to stdout (e.g. `llmload completions bash >
    /// ~/.local/share/bash-completion/completions/llmload`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Write man pages: llmload.1 and one llmload-COMMAND.1 per command.
    Man {
        /// Folder to write them into (created if missing).
        #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
        output: PathBuf,
    },
}

/// `llmload init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Where to write the scenario.
    #[arg(default_value = "scenario.toml")]
    pub path: PathBuf,
    /// Overwrite the file if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `llmload merge` (docs/scale-out.md).
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' partial result files (JSON), all N of them, in any order.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// Where to write the merged result.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: PathBuf,
    /// Do not print the merged run's summary table (`--quiet` is an older spelling; `-q`
    /// means "no progress output" in the commands that show progress).
    #[arg(long, alias = "quiet")]
    pub no_summary: bool,
}

/// `llmload report` (docs/reports.md).
#[derive(Debug, Args)]
pub struct ReportCmdArgs {
    /// Result files (JSON); with several, the first is the reference.
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    /// Output: the HTML file, the folder for CSV files, or the Markdown file (default for
    /// Markdown: stdout).
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "html", value_parser = ["html", "csv", "markdown"])]
    pub format: String,
    /// Check each result against this claims file and show the verdicts.
    #[arg(long, value_name = "FILE")]
    pub claims: Option<PathBuf>,
    /// Page title (default: from the scenario names).
    #[arg(long)]
    pub title: Option<String>,
    /// The daily volume every result's cost is projected at.
    #[command(flatten)]
    pub volume: VolumeArgs,
}

/// `llmload sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Scenario file (TOML); its `[load]` is replaced by the sweep's steps.
    pub scenario: PathBuf,
    /// Change a scenario key before validation, e.g. `load.rate=20/s`, `seed=7`,
    /// `models[0].weight=2` (repeatable; a later one wins; see docs/scenarios.md).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Folder for the result and records files.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Exact path of the result file (the records files go beside it).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// No per-step progress lines.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the scenario N times, with seeds seed, seed+1, …; each run writes its own result
    /// (numbered -1, -2, …), e.g. to serve as several baselines for `llmload check`.
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// Do not write per-request records files.
    #[arg(long)]
    pub no_records: bool,
    /// Tokio worker threads (default: one per core; 1 runs everything on one thread).
    #[arg(long, value_parser = threads)]
    pub threads: Option<usize>,
    /// Open-loop rates in the coarse ladder, before bisection (default 10, or `[sweep] steps`).
    #[arg(long)]
    pub steps: Option<u32>,
    /// Shortest measurement window of a step, e.g. "10s" (steps run longer when a steady state
    /// needs it).
    #[arg(long)]
    pub step_duration: Option<String>,
    /// Shortest warmup of a step, e.g. "2s".
    #[arg(long)]
    pub step_warmup: Option<String>,
    /// Concurrency of the saturation probe (default 64).
    #[arg(long)]
    pub probe_concurrency: Option<u32>,
    /// Longest window (and warmup) of a step, e.g. "30s": shorter steps than a steady state
    /// needs make a quicker, less certain sweep (default 10m, or `[sweep] max_step_duration`).
    #[arg(long)]
    pub max_step_duration: Option<String>,
    /// Live metrics for Prometheus.
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `llmload plan` (docs/capacity.md).
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Result file (JSON), ideally from a capacity sweep.
    pub result: PathBuf,
    /// Input tokens per day, e.g. "50M", "2.5B", "50000000".
    #[arg(long, value_name = "N")]
    pub daily_input_tokens: String,
    /// Output tokens per day (default: from the measured output/input ratio).
    #[arg(long, value_name = "N")]
    pub daily_output_tokens: Option<String>,
    /// Peak request rate / average request rate (default 1: a flat day).
    #[arg(long, value_name = "X")]
    pub peak_to_average: Option<f64>,
    /// Compare with these prices: a catalog model ("gpt-4o") or IN/OUT USD per million ("2.50/10.00").
    #[arg(long, value_name = "NAME|IN/OUT")]
    pub baseline_prices: Option<String>,
    /// Headroom wanted at peak, e.g. "30%".
    #[arg(long, value_name = "N%")]
    pub headroom: Option<String>,
    /// Price file (TOML) that replaces or extends the built-in catalog.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "markdown", "json"])]
    pub format: String,
    /// Write the output here instead of to stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write the plan as JSON here, whatever --format is.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// `llmload check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Result file (JSON) to check.
    pub result: PathBuf,
    /// Claims file (TOML) to check the result against.
    #[arg(long, required_unless_present = "baseline")]
    pub claims: Option<PathBuf>,
    /// Baseline result file(s): flag regressions and improvements against them. With several
    /// (e.g. from `llmload run --repeat N`), a regression must hold against every one.
    #[arg(long, num_args = 1.., value_name = "RESULT")]
    pub baseline: Vec<PathBuf>,
    /// Inconclusive claims (the confidence interval contains the limit) fail the gate too.
    #[arg(long)]
    pub strict: bool,
    /// Relative change a baseline regression must exceed, e.g. "10%".
    #[arg(long, default_value = "10%")]
    pub tolerance: String,
    /// Per-metric tolerance, e.g. "ttft.p99=5%" or "itl=20%" (repeatable).
    #[arg(long = "tolerance-metric", value_name = "METRIC=N%")]
    pub tolerance_metric: Vec<String>,
    /// CI report files.
    #[command(flatten)]
    pub reports: ReportArgs,
}

/// CI report files written by `check` and `run --claims`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Write JUnit XML here (one test case per claim).
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary here (e.g. "$GITHUB_STEP_SUMMARY").
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

/// `llmload compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Result files (JSON); the first column is the reference for ratios.
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "table", value_parser = ["table", "markdown", "json", "csv"])]
    pub format: String,
    /// The daily volume every column's cost is projected at.
    #[command(flatten)]
    pub volume: VolumeArgs,
}

/// One daily volume for projecting every result's cost (`compare`, `report`); default: the
/// scenarios' `[cost] daily_requests`, else the first result's measured rate.
#[derive(Debug, Args)]
pub struct VolumeArgs {
    /// Requests per day to project every result's cost at, e.g. "1M".
    #[arg(long, value_name = "N", conflicts_with = "daily_input_tokens")]
    pub daily_requests: Option<String>,
    /// Input tokens per day to project every result's cost at, e.g. "50M".
    #[arg(long, value_name = "N")]
    pub daily_input_tokens: Option<String>,
    /// Output tokens per day (with --daily-input-tokens; default: the first result's measured
    /// output/input ratio).
    #[arg(long, value_name = "N", requires = "daily_input_tokens")]
    pub daily_output_tokens: Option<String>,
}

/// `llmload run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario file (TOML); or describe the run with --url and --model instead.
    #[arg(required_unless_present = "url", conflicts_with = "url")]
    pub scenario: Option<PathBuf>,
    /// A run without a scenario file (docs/scenarios.md, "Runs from flags").
    #[command(flatten)]
    pub flags: FlagRunArgs,
    /// Change a scenario key before validation, e.g. `load.rate=20/s`, `seed=7`,
    /// `models[0].weight=2` (repeatable; a later one wins; see docs/scenarios.md).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Folder for the result and records files.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Exact path of the result file (the records file goes beside it).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// No progress output (neither the bar on a terminal nor the periodic lines in a log).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// When stderr is not a terminal (a CI log), print a plain progress line this often,
    /// e.g. "10s" (default 5s).
    #[arg(long, value_name = "DURATION", value_parser = progress_interval)]
    pub progress_interval: Option<std::time::Duration>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run the scenario N times, with seeds seed, seed+1, …; each run writes its own result
    /// (numbered -1, -2, …), e.g. to serve as several baselines for `llmload check`.
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// Do not write the per-request records file.
    #[arg(long)]
    pub no_records: bool,
    /// After Ctrl-C / SIGTERM, how long in-flight requests may finish (e.g. "5s").
    #[arg(long, default_value = "5s")]
    pub grace: String,
    /// Tokio worker threads (default: one per core; 1 runs everything on one thread).
    #[arg(long, value_parser = threads)]
    pub threads: Option<usize>,
    /// Check the result against this claims file at the end and exit 1 if one fails.
    #[arg(long)]
    pub claims: Option<PathBuf>,
    /// With --claims: inconclusive claims fail too.
    #[arg(long, requires = "claims")]
    pub strict: bool,
    /// CI report files.
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Also write the self-contained HTML report here at the end (with the claims' verdicts
    /// when --claims is given).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Run shard INDEX of COUNT of a distributed run (0-based, e.g. "3/8"): send only arrivals
    /// i with i mod COUNT = INDEX and write a partial result for `llmload merge`.
    #[arg(long, value_name = "INDEX/COUNT")]
    pub shard: Option<String>,
    /// The wall-clock instant (RFC 3339, e.g. 2026-12-01T10:00:00Z) at which every shard's
    /// schedule begins; needed with more than one shard.
    #[arg(long, value_name = "INSTANT")]
    pub start_at: Option<String>,
    /// How long after --start-at a shard may still begin (later: it refuses, exit 2).
    #[arg(long, default_value = "1s", value_name = "DURATION")]
    pub start_tolerance: String,
    /// A previous result whose golden answers are the quality baseline: every model's score
    /// is also given relative to that model's, line by line (docs/quality.md).
    #[arg(long, value_name = "RESULT")]
    pub baseline: Option<PathBuf>,
    /// The model of the --baseline result to compare with (default: that result's own
    /// quality baseline, else its only model).
    #[arg(long, value_name = "LABEL", requires = "baseline")]
    pub baseline_model: Option<String>,
    /// Live metrics for Prometheus.
    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// `--metrics-addr` and `--metrics-linger` (docs/metrics.md#live-metrics-prometheus).
#[derive(Debug, Clone, Default, Args)]
pub struct MetricsArgs {
    /// Serve live metrics (OpenMetrics text, for Prometheus) at http://HOST:PORT/metrics while
    /// the run goes, e.g. 127.0.0.1:9464 (port 0: any free port, printed at the start).
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<String>,
    /// After the run, keep serving /metrics this long, so a scraper collects the final values
    /// (e.g. "30s"; default: stop with the run).
    #[arg(long, value_name = "DURATION", requires = "metrics_addr", value_parser = duration)]
    pub metrics_linger: Option<std::time::Duration>,
}

/// `llmload run --url … --model …`: the run described by flags instead of a scenario file.
#[derive(Debug, Clone, Default, Args)]
pub struct FlagRunArgs {
    /// Run without a scenario file against this OpenAI-compatible base URL (the part before
    /// /chat/completions, e.g. http://host:8000/v1), or "mock" for the built-in mock.
    #[arg(long, value_name = "URL", requires = "model")]
    pub url: Option<String>,
    /// With --url: the model id to send.
    #[arg(long, value_name = "NAME", requires = "url")]
    pub model: Option<String>,
    /// With --url: open-loop Poisson arrival rate, e.g. "10/s" (default 1/s).
    #[arg(
        long,
        value_name = "RATE",
        requires = "url",
        conflicts_with = "concurrency"
    )]
    pub rate: Option<String>,
    /// With --url: closed loop with this many requests in flight instead of a rate.
    #[arg(long, value_name = "N", requires = "url")]
    pub concurrency: Option<u32>,
    /// With --url: measured window, e.g. "60s" (default 30s).
    #[arg(
        long,
        value_name = "DURATION",
        requires = "url",
        conflicts_with = "requests"
    )]
    pub duration: Option<String>,
    /// With --url: stop after this many requests instead of after a duration.
    #[arg(long, value_name = "N", requires = "url")]
    pub requests: Option<u64>,
    /// With --url: prompt length in tokens (synthetic prompts of exactly this length; default 512).
    #[arg(long, value_name = "N", requires = "url")]
    pub input_tokens: Option<u32>,
    /// With --url: max_tokens asked for (default 128).
    #[arg(long, value_name = "N", requires = "url")]
    pub output_tokens: Option<u32>,
    /// With --url: NAME of the environment variable holding the API key.
    #[arg(long, value_name = "VAR", requires = "url")]
    pub api_key_env: Option<String>,
    /// With --url: how the key is sent: "bearer" (Authorization: Bearer, the default), "api-key"
    /// (Azure's api-key header) or "header:NAME" (NAME: <key>).
    #[arg(long, value_name = "STYLE", requires = "url")]
    pub auth: Option<String>,
}

/// `llmload calibrate`.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// Measured length of each step, e.g. "3s".
    #[arg(long, default_value = "3s")]
    pub step: String,
    /// First rate of the ladder, e.g. "250/s"; each step doubles it.
    #[arg(long, default_value = "250/s", value_parser = rate, value_name = "RATE")]
    pub start_rate: f64,
    /// Highest rate to try, e.g. "16000/s".
    #[arg(long, default_value = "16000/s", value_parser = rate, value_name = "RATE")]
    pub max_rate: f64,
    /// Tokio worker threads (default: one per core; 1 runs everything on one thread).
    #[arg(long, value_parser = threads)]
    pub threads: Option<usize>,
}

/// `llmload mock`.
#[derive(Debug, Args)]
pub struct MockArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port (0 picks a free one and prints it).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Time to first token, e.g. "200ms".
    #[arg(long, default_value = "50ms")]
    pub ttft: String,
    /// Standard deviation of the time to first token (normal around --ttft, never below
    /// zero), e.g. "10ms"; default: every response waits exactly --ttft.
    #[arg(long, value_name = "DURATION")]
    pub ttft_stddev: Option<String>,
    /// A change of the time to first token during the run: from AFTER since the first
    /// request the mock received, every response waits TTFT (e.g. "5s=400ms"; repeatable,
    /// the latest step begun applies).
    #[arg(long = "ttft-step", value_name = "AFTER=TTFT")]
    pub ttft_step: Vec<String>,
    /// Delay between chunks, e.g. "20ms".
    #[arg(long, conflicts_with = "tokens_per_s")]
    pub itl: Option<String>,
    /// Decode speed (tokens per second) instead of --itl.
    #[arg(long)]
    pub tokens_per_s: Option<f64>,
    /// Output tokens per response (default: the request's max_tokens).
    #[arg(long)]
    pub output_tokens: Option<u32>,
    /// Tokens per SSE chunk.
    #[arg(long, default_value_t = 1)]
    pub tokens_per_chunk: u32,
    /// Reasoning tokens before the answer (chat).
    #[arg(long, default_value_t = 0)]
    pub reasoning_tokens: u32,
    /// Numbers per vector in /v1/embeddings answers.
    #[arg(long, default_value_t = crate::config::mock::DEFAULT_EMBEDDING_DIM, value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub embedding_dim: u32,
    /// Requests beyond this many in flight queue.
    #[arg(long)]
    pub max_concurrency: Option<u32>,
    /// Simulated quota: requests allowed per fixed 60 s window, stated in
    /// `x-ratelimit-*-requests` headers; requests beyond it get 429 with Retry-After.
    #[arg(long, value_name = "N")]
    pub rate_limit_rpm: Option<u64>,
    /// Simulated quota: prompt plus output tokens allowed per 60 s window, stated in
    /// `x-ratelimit-*-tokens` headers; requests beyond it get 429 with Retry-After.
    #[arg(long, value_name = "N")]
    pub rate_limit_tpm: Option<u64>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Probability of HTTP 429.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate_limit: f64,
    /// Retry-After sent with 429s, e.g. "2s".
    #[arg(long)]
    pub retry_after: Option<String>,
    /// Probability of HTTP 500.
    #[arg(long, default_value_t = 0.0)]
    pub fault_server_error: f64,
    /// Probability of a stream that stalls half way.
    #[arg(long, default_value_t = 0.0)]
    pub fault_stall: f64,
    /// Probability of a connection cut half way.
    #[arg(long, default_value_t = 0.0)]
    pub fault_disconnect: f64,
    /// Probability of a malformed event.
    #[arg(long, default_value_t = 0.0)]
    pub fault_malformed: f64,
    /// Probability of an error event mid-stream.
    #[arg(long, default_value_t = 0.0)]
    pub fault_error_event: f64,
    /// What the mock answers to known prompts: a JSONL file of `{"prompt": "...", "answer":
    /// "..."}` lines (the scenario's `mock.answers`, docs/scenarios.md); a request whose last
    /// user message is a prompt of the file gets that answer.
    #[arg(long, value_name = "FILE")]
    pub answers: Option<PathBuf>,
    /// Share of --answers made wrong on purpose (0..1): each such answer is replaced by
    /// "I do not know.".
    #[arg(
        long,
        default_value_t = 0.0,
        value_name = "SHARE",
        requires = "answers"
    )]
    pub wrong: f64,
    /// Any fault by name with its probability, e.g. "no_done=0.1" (repeatable; the names
    /// are the fields of the mock's faults, listed in docs/hardening.md).
    #[arg(long = "fault", value_name = "NAME=P")]
    pub fault: Vec<String>,
    /// Write per-request ground truth (JSONL) here: per response id, when the request's bytes
    /// reached the host (`received_unix_us`, the kernel's receive stamp on Linux) and when the
    /// first and last tokens were handed to the HTTP layer (µs since the Unix epoch).
    #[arg(long)]
    pub truth_log: Option<PathBuf>,
    /// Serve https with this certificate chain (PEM); needs --tls-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve https with a self-signed certificate for localhost, 127.0.0.1 and ::1 made at
    /// start, and write that certificate (PEM) to FILE for clients to trust
    /// (`tls.ca_bundle`).
    #[arg(long, value_name = "FILE")]
    pub tls_self_signed: Option<PathBuf>,
}

/// `--progress-interval`: a duration of at least 100 ms.
fn progress_interval(s: &str) -> Result<std::time::Duration, String> {
    let d = crate::core::units::parse_duration(s)?;
    if d < std::time::Duration::from_millis(100) {
        return Err(format!(
            "`{s}` is too short; give at least 100ms (--quiet turns progress off)"
        ));
    }
    Ok(d)
}

/// A duration flag with its unit ("30s", "2m").
fn duration(s: &str) -> Result<std::time::Duration, String> {
    crate::core::units::parse_duration(s)
}

/// `--threads`: a whole number of at least 1 (0 would record no worker threads in the result and
/// turn the generator-CPU validity check off).
fn threads(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!(
            "`{s}` is not a thread count; give a whole number of at least 1"
        )),
    }
}

/// A rate flag: written with its unit like every rate of a scenario ("250/s", "600/m").
fn rate(s: &str) -> Result<f64, String> {
    crate::core::units::parse_rate(s)
}
