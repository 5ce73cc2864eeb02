//! Command glue: files and flags in, a [`Plan`] to the core, results and tables out, and the
//! exit code. The only place that knows about clap, indicatif, signals and the terminal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use tokio::sync::watch;

use crate::analysis::gate::{self, baseline::Tolerances, eval::Evaluation};
use crate::analysis::report;
use crate::cli::args::{
    CalibrateArgs, CheckArgs, Cli, Command, CompareArgs, InitArgs, MergeArgs, MockArgs, PlanArgs,
    ReportArgs, ReportCmdArgs, RunArgs, SweepArgs,
};
use crate::config::mock::{Faults, MockConfig, MockModel};
use crate::config::plan::{Base, Plan};
use crate::config::schedule::ShardPart;
use crate::core::dist::Dist;
use crate::core::units;
use crate::engine::client::{ClientSettings, TargetClient};
use crate::engine::mock::MockServer;
use crate::engine::runner::{self, Live, RunOptions, Stop, TargetRuntime};
use crate::results::{self, RunMeta, RunResult, RunStatus, Shard};

/// Writes to stdout, ignoring a closed pipe (`llmload validate x | head -1` must not panic).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `out!` with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Process exit codes (documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok = 0,
    /// A gate failed (claim, SLO, regression).
    Gate = 1,
    /// Usage, scenario or runtime error.
    Usage = 2,
    /// The run was invalid: the generator could not hold the load.
    Invalid = 3,
    /// No measured request succeeded: the result describes nothing (wins over 1 and 3).
    NothingMeasured = 4,
}

/// An error that maps to exit code 2, printed as is.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Run(a) if a.repeat.is_some() => run_repeat(a).await,
        Command::Run(a) => run_cmd(a).await,
        Command::Init(a) => init_cmd(&a),
        Command::Validate { scenario, set } => validate_cmd(&scenario, &set),
        Command::Mock(a) => mock_cmd(a).await,
        Command::Calibrate(a) => calibrate_cmd(a).await,
        Command::Check(a) => check_cmd(a),
        Command::Compare(a) => compare_cmd(a),
        Command::Sweep(a) => sweep_cmd(a).await,
        Command::Plan(a) => plan_cmd(a),
        Command::Report(a) => report_cmd(a),
        Command::Merge(a) => merge_cmd(a),
        Command::Completions { shell } => completions_cmd(shell),
        Command::Man { output } => man_cmd(&output),
    }
}

/// `llmload merge`: the shards' partial results into the whole run's (docs/scale-out.md).
/// `llmload completions SHELL`: the script for that shell, generated from the clap types.
fn completions_cmd(shell: clap_complete::Shell) -> Result<Exit> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut cmd, "llmload", &mut out);
    Ok(Exit::Ok)
}

/// `llmload man -o DIR`: llmload.1 and llmload-COMMAND.1 for every command, from the clap types.
fn man_cmd(dir: &Path) -> Result<Exit> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut pages = vec![("llmload".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
        let name = format!("llmload-{}", sub.get_name());
        let bin = format!("llmload {}", sub.get_name());
        pages.push((name.clone(), sub.clone().display_name(name).bin_name(bin)));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut buf)
            .with_context(|| format!("rendering {}", path.display()))?;
        std::fs::write(&path, buf).with_context(|| format!("writing {}", path.display()))?;
        outln!("{}", path.display());
    }
    Ok(Exit::Ok)
}

fn merge_cmd(a: MergeArgs) -> Result<Exit> {
    let result = crate::results::shard::merge(&a.shards).map_err(user)?;
    if let Some(dir) = a.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    result
        .write(&a.output)
        .with_context(|| format!("writing {}", a.output.display()))?;
    if !a.no_summary {
        out!("{}", report::summary_table(&result));
    }
    outln!(
        "merged {} shards of run {}: {}",
        result.merged_from.len(),
        result.run_id,
        a.output.display()
    );
    Ok(if result.measured_nothing() {
        Exit::NothingMeasured
    } else if result.validity.valid {
        Exit::Ok
    } else {
        Exit::Invalid
    })
}

/// `llmload report`: HTML, CSV or Markdown from result files (docs/reports.md).
fn report_cmd(a: ReportCmdArgs) -> Result<Exit> {
    use report::page::Input;
    let format = a.format.as_str();
    if !["html", "csv", "markdown"].contains(&format) {
        bail!(UserError(format!(
            "--format: `{format}` is not one of html, csv, markdown"
        )));
    }
    let claims = a
        .claims
        .as_deref()
        .map(gate::claims::load)
        .transpose()
        .map_err(user)?;
    let mut inputs = Vec::new();
    for p in &a.results {
        let path = p.display().to_string();
        let result = RunResult::read(p).map_err(user)?;
        let eval = claims
            .as_ref()
            .map(|c| gate::eval::evaluate(c, &result, &path))
            .transpose()
            .map_err(user)?;
        inputs.push(Input { path, result, eval });
    }
    let runs: Vec<(&str, &RunResult)> = inputs
        .iter()
        .map(|i| (i.path.as_str(), &i.result))
        .collect();
    let daily = daily_volume(&a.volume, &runs)?;
    let page = report::page::build_at(&inputs, a.title.as_deref(), daily.as_ref());
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| user(format!("writing {}: {e}", path.display())))
    };
    match (format, &a.output) {
        ("html", Some(p)) => {
            write(p, report::html::render(&page).map_err(user)?)?;
            outln!("report: {}", p.display());
        }
        ("csv", Some(dir)) => {
            let files = report::export::write_csv(&page, dir)
                .map_err(|e| user(format!("writing {}: {e}", dir.display())))?;
            outln!("{} tables in {}", files.len(), dir.display());
        }
        ("markdown", Some(p)) => write(p, report::export::markdown(&page, &inputs))?,
        ("markdown", None) => out!("{}", report::export::markdown(&page, &inputs)),
        _ => bail!(UserError(format!(
            "--format {format} needs --output (-o): the {}",
            if format == "csv" {
                "folder for the CSV files"
            } else {
                "HTML file to write"
            }
        ))),
    }
    Ok(Exit::Ok)
}

/// Any displayable error as an exit-2 message.
fn user(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(UserError(e.to_string()))
}

/// A baseline report with the two paths it compares.
type Baseline = (gate::baseline::Report, String, String);

fn check_cmd(a: CheckArgs) -> Result<Exit> {
    let path = a.result.display().to_string();
    let result = RunResult::read(&a.result).map_err(user)?;
    let claims = a
        .claims
        .as_deref()
        .map(gate::claims::load)
        .transpose()
        .map_err(user)?;
    let eval = claims
        .as_ref()
        .map(|c| gate::eval::evaluate(c, &result, &path))
        .transpose()
        .map_err(user)?;
    let base: Option<Baseline> = if a.baseline.is_empty() {
        None
    } else {
        let tol = Tolerances::parse(&a.tolerance, &a.tolerance_metric).map_err(user)?;
        let mut olds = Vec::new();
        for b in &a.baseline {
            olds.push((RunResult::read(b).map_err(user)?, b.display().to_string()));
        }
        let refs: Vec<(&RunResult, &str)> = olds.iter().map(|(r, p)| (r, p.as_str())).collect();
        let report = gate::baseline::compare(&refs, &result, &path, &tol).map_err(user)?;
        let label = report.baseline_label();
        Some((report, label, path.clone()))
    };
    if let Some(e) = &eval {
        out!("{}", e.table(a.strict));
    }
    if let Some((b, _, new)) = &base {
        if eval.is_some() {
            outln!();
        }
        out!("{}", b.table(new));
    }
    write_reports(&a.reports, eval.as_ref(), base.as_ref(), a.strict)?;
    if let Some(why) = result.nothing_measured() {
        eprintln!("{path}: {why}");
        return Ok(Exit::NothingMeasured);
    }
    if !result.validity.valid {
        return Ok(Exit::Invalid);
    }
    let failed = eval.as_ref().is_some_and(|e| e.fails(a.strict))
        || base.as_ref().is_some_and(|(b, ..)| b.regressed());
    Ok(if failed { Exit::Gate } else { Exit::Ok })
}

fn write_reports(
    r: &ReportArgs,
    eval: Option<&Evaluation>,
    base: Option<&Baseline>,
    strict: bool,
) -> Result<()> {
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| user(format!("writing {}: {e}", path.display())))
    };
    if let Some(p) = &r.junit {
        write(p, gate::junit::render(eval, base.map(|b| &b.0), strict))?;
    }
    if let Some(p) = &r.markdown {
        write(p, gate::markdown::render(eval, base, strict))?;
    }
    Ok(())
}

fn compare_cmd(a: CompareArgs) -> Result<Exit> {
    let format = gate::compare::Format::parse(&a.format).map_err(user)?;
    let mut results = Vec::new();
    for p in &a.results {
        results.push((p.display().to_string(), RunResult::read(p).map_err(user)?));
    }
    let runs: Vec<(&str, &RunResult)> = results.iter().map(|(p, r)| (p.as_str(), r)).collect();
    let daily = daily_volume(&a.volume, &runs)?;
    out!(
        "{}",
        gate::compare::build_at(&results, daily.as_ref())
            .render(format)
            .map_err(user)?
    );
    Ok(Exit::Ok)
}

/// The one daily volume `compare` and `report` project every result's cost at.
fn daily_volume(
    v: &crate::cli::args::VolumeArgs,
    runs: &[(&str, &RunResult)],
) -> Result<Option<crate::analysis::daily::DailyVolume>> {
    use crate::analysis::daily::{DailyVolume, VolumeFlags};
    let flags = VolumeFlags::parse(
        v.daily_requests.as_deref(),
        v.daily_input_tokens.as_deref(),
        v.daily_output_tokens.as_deref(),
    )
    .map_err(user)?;
    DailyVolume::choose(flags, runs).map_err(user)
}

/// `llmload plan`: capacity and cost for a daily volume (docs/capacity.md).
fn plan_cmd(a: PlanArgs) -> Result<Exit> {
    use crate::analysis::capacity::{self, Format, PlanInput};
    use crate::config::prices::Catalog;
    let format = Format::parse(&a.format).map_err(user)?;
    let daily_input_tokens =
        capacity::parse_volume("--daily-input-tokens", &a.daily_input_tokens).map_err(user)?;
    let daily_output_tokens = a
        .daily_output_tokens
        .as_deref()
        .map(|t| capacity::parse_volume("--daily-output-tokens", t))
        .transpose()
        .map_err(user)?;
    let headroom_target = match a.headroom.as_deref() {
        None => None,
        Some(t) => {
            let n = t.trim().trim_end_matches('%').trim();
            match n.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Some(v / 100.0),
                _ => bail!(UserError(format!(
                    "--headroom: `{t}` is not a percentage; write e.g. \"30%\""
                ))),
            }
        }
    };
    let catalog = Catalog::builtin_with(a.prices.as_deref()).map_err(user)?;
    let baseline = a
        .baseline_prices
        .as_deref()
        .map(|b| capacity::parse_baseline(b, &catalog))
        .transpose()
        .map_err(user)?;
    let result = RunResult::read(&a.result).map_err(user)?;
    let input = PlanInput {
        daily_input_tokens,
        daily_output_tokens,
        peak_to_average: a.peak_to_average,
        baseline,
        headroom_target,
    };
    let mut report = capacity::plan(&result, &input, &catalog)
        .map_err(|e| user(format!("{}: {e}", a.result.display())))?;
    report.source.path = a.result.display().to_string();
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| user(format!("writing {}: {e}", path.display())))
    };
    if let Some(p) = &a.json {
        write(p, report.render(Format::Json))?;
    }
    match &a.output {
        Some(p) => write(p, report.render(format))?,
        None => out!("{}", report.render(format)),
    }
    Ok(Exit::Ok)
}

fn init_cmd(a: &InitArgs) -> Result<Exit> {
    crate::cli::init::write_starter(&a.path, a.force).map_err(user)?;
    outln!("{}", crate::cli::init::next_steps(&a.path));
    Ok(Exit::Ok)
}

fn load_plan(path: &Path, sets: &[String]) -> Result<Plan> {
    crate::config::overrides::load_plan(path, sets).map_err(|e| anyhow!(UserError(e.to_string())))
}

/// The plan of `llmload run`: from the scenario file, or from `--url`/`--model` flags.
fn run_plan(a: &RunArgs) -> Result<Plan> {
    match &a.scenario {
        Some(path) => load_plan(path, &a.set),
        None => crate::cli::flagrun::plan(&a.flags, &a.set)
            .map_err(|e| anyhow!(UserError(e.to_string()))),
    }
}

fn validate_cmd(path: &Path, sets: &[String]) -> Result<Exit> {
    let plan = load_plan(path, sets)?;
    outln!("{}: valid", path.display());
    outln!("  name: {}  seed: {}", plan.name, plan.seed);
    for t in &plan.targets {
        let base = match &t.base {
            Base::Mock(_) => "built-in mock".to_string(),
            Base::Url(u) => u.clone(),
        };
        let key = match &t.api_key_env {
            Some(v) if std::env::var_os(v).is_some() => format!("key from ${v} (set)"),
            Some(v) if matches!(t.base, Base::Mock(_)) => {
                format!("key from ${v} (not set; the mock needs none)")
            }
            Some(v) => format!("key from ${v} (NOT SET: `run` will refuse to start)"),
            None => "no key".into(),
        };
        outln!("  target {}: {base}, {key}", t.name);
    }
    let total: f64 = plan.models.iter().map(|m| m.weight).sum();
    for m in &plan.models {
        let price = m
            .price
            .map(|p| format!("${}/M in, ${}/M out", p.input_per_m, p.output_per_m))
            .unwrap_or_else(|| "no price".into());
        let w = &plan.workload;
        let share = if w.routes.is_empty() && w.classes.iter().all(|c| c.model.is_none()) {
            format!("{:.1} % of traffic", 100.0 * m.weight / total)
        } else {
            format!("weight {} where no class model or route decides", m.weight)
        };
        outln!(
            "  model {} on {}: {share}, {price}",
            m.id,
            plan.targets[m.target].name,
        );
    }
    outln!(
        "  workload: {:?}, stream {}",
        plan.workload.endpoint,
        plan.workload.stream,
    );
    for line in plan.workload.describe(&plan.models) {
        outln!("    {line}");
    }
    let l = &plan.load;
    outln!(
        "  load: warmup {}, window {}, cooldown {}, requests {}, max_in_flight {}",
        units::fmt_duration(l.warmup),
        l.duration
            .map(units::fmt_duration)
            .unwrap_or_else(|| "until requests are sent".into()),
        units::fmt_duration(l.cooldown),
        l.requests
            .map(|r| r.to_string())
            .unwrap_or_else(|| "unbounded".into()),
        l.max_in_flight
    );
    Ok(Exit::Ok)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn rfc3339(t: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The current UTC time as it goes into default result file names: `20261205T131500Z`.
fn file_stamp() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

async fn run_cmd(a: RunArgs) -> Result<Exit> {
    let mut plan = run_plan(&a)?;
    if let Some(seed) = a.seed {
        plan.seed = seed;
    }
    let grace =
        units::parse_duration(&a.grace).map_err(|e| anyhow!(UserError(format!("--grace: {e}"))))?;
    let part = match &a.shard {
        Some(s) => crate::results::shard::parse_shard(s).map_err(user)?,
        None => ShardPart::WHOLE,
    };
    let start_at = match &a.start_at {
        Some(t) => Some(crate::results::shard::parse_instant(t).map_err(user)?),
        None => None,
    };
    let tolerance = units::parse_duration(&a.start_tolerance)
        .map_err(|e| anyhow!(UserError(format!("--start-tolerance: {e}"))))?;
    if part.count > 1 && start_at.is_none() {
        bail!(UserError(
            "--shard with more than one shard needs --start-at: the instant (RFC 3339) at which every shard begins, e.g. --start-at 2026-12-01T10:00:00Z".into()
        ));
    }
    if part.count > 1 && a.claims.is_some() {
        bail!(UserError(
            "--claims is evaluated once, on the whole run: merge the shards (`llmload merge`), then `llmload check RESULT --claims FILE`".into()
        ));
    }
    if let Some(at) = start_at {
        crate::results::shard::check_start(at, std::time::SystemTime::now(), tolerance)
            .map_err(user)?;
    }
    // Claims are checked before anything is sent, so a typo costs no run.
    if a.claims.is_none() && (a.reports.junit.is_some() || a.reports.markdown.is_some()) {
        bail!(UserError("--junit and --markdown need --claims".into()));
    }
    let claims = match &a.claims {
        Some(p) => {
            let c = gate::claims::load(p).map_err(user)?;
            let models: Vec<(&str, &str)> = plan
                .models
                .iter()
                .map(|m| (m.id.as_str(), m.label.as_str()))
                .collect();
            gate::eval::check_models(&c, &models, &plan.scenario_path.display().to_string())
                .map_err(user)?;
            Some(c)
        }
        None => None,
    };

    // Every connection is a descriptor (twice over with an in-process mock): make room, and
    // refuse a closed loop that cannot fit rather than report descriptor errors as endpoint
    // failures.
    let mocked = plan.targets.iter().any(|t| matches!(t.base, Base::Mock(_)));
    let conns = plan.load.max_in_flight as u64 * if mocked { 2 } else { 1 };
    let mut fd_warning = None;
    if let Some(l) = crate::engine::sys::ensure_open_files(conns) {
        if !l.fits() {
            let msg = format!(
                "this run may hold {} connections, but the open-file limit is {} (hard limit {}); raise it (e.g. `ulimit -n {}`) or lower max_in_flight / concurrency",
                conns, l.soft, l.hard, l.needed
            );
            if matches!(plan.load.shape, crate::config::plan::Shape::Closed { .. }) {
                bail!(UserError(msg));
            }
            fd_warning = Some(msg);
        }
    }

    // Start in-process mocks and build one client per target.
    let (mocks, runtimes) = prepare_targets(&plan, part.count)?;
    // The fallback tokenizer is built lazily, on a blocking thread, the first time a server
    // omits usage: building it costs about a CPU-second, which a run that never needs it
    // should not pay (nor have competing with its first requests).

    // Output files.
    let stamp = file_stamp();
    let result_path = match &a.output {
        Some(p) => p.clone(),
        None if a.shard.is_some() => a.out.join(format!(
            "{}-{}-shard{}of{}.json",
            sanitize(&plan.name),
            start_at.map_or(stamp.clone(), |t| crate::results::shard::rfc3339(t)
                .replace(':', "")),
            part.index,
            part.count
        )),
        None => a.out.join(format!("{}-{stamp}.json", sanitize(&plan.name))),
    };
    if let Some(dir) = result_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let records_path: Option<PathBuf> = (!a.no_records).then(|| {
        let stem = result_path
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        result_path.with_file_name(format!("{stem}.records.jsonl"))
    });
    let records_file = match &records_path {
        Some(p) => {
            Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => None,
    };

    // Signals: the first stops arrivals and drains; the second exits at once.
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    let stop_tx = Arc::new(stop_tx);
    spawn_signal_handler(stop_tx.clone());

    let live = Arc::new(Live::default());
    let progress = spawn_progress(&a, &plan, part, live.clone());
    let ready_before_start_s = start_at.map_or(0.0, |at| {
        let now = std::time::SystemTime::now();
        match at.duration_since(now) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        }
    });
    if let (Some(at), false) = (start_at, a.quiet) {
        if ready_before_start_s > 0.5 {
            eprintln!(
                "shard {}/{}: waiting {:.1} s for the start at {}",
                part.index,
                part.count,
                ready_before_start_s,
                crate::results::shard::rfc3339(at)
            );
        }
    }

    let out = runner::run(
        plan.clone(),
        runtimes,
        records_file,
        live.clone(),
        stop_rx,
        RunOptions {
            interrupt_grace: grace,
            lead: Duration::from_millis(20),
            exclude_tids: mocks.iter().map(|m| m.tid).collect(),
            judge: claims.as_ref().and_then(|c| abort_judge(&plan, c)),
            shard: part,
            start_at,
            keep_partial: a.shard.is_some(),
        },
    )
    .await;
    progress.finish();
    let mock_tids: Vec<i32> = mocks.iter().map(|m| m.tid).collect();
    for m in mocks {
        m.stop().await;
    }

    let mut warnings: Vec<String> = fd_warning.into_iter().collect();
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
    let frame = results::Frame::new(&plan);
    let plan_hash = crate::results::shard::plan_hash(&frame, part.count);
    let run_id = if a.shard.is_some() {
        crate::results::shard::run_id(&plan_hash, &crate::results::shard::rfc3339(out.started_at))
    } else {
        format!("{:016x}", rand::random::<u64>())
    };
    let meta = RunMeta {
        run_id,
        status: if out.interrupted {
            RunStatus::Interrupted
        } else if out.aborted.is_some() {
            RunStatus::Aborted
        } else {
            RunStatus::Complete
        },
        started_at: rfc3339(out.started_at),
        finished_at: rfc3339(out.finished_at),
        records_file: records_path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().to_string()),
        shard: Shard {
            index: part.index,
            count: part.count,
        },
        max_lag_p99_ms: 10.0,
        min_send_ratio: 0.99,
        warnings,
        health: out.health.clone(),
        worker_threads: a.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }),
        cpu_excludes_mock: !mock_tids.is_empty(),
        aborted_by: out.aborted.clone(),
        guard: out.guard.clone(),
    };
    let mut result = results::assemble(&frame, &out.collector, meta.clone());
    if a.shard.is_some() {
        result.partial = Some(Box::new(crate::results::shard::Partial::new(
            frame,
            part.count,
            out.started_at,
            ready_before_start_s,
            &out.collector,
            &meta,
        )));
    }
    result
        .write(&result_path)
        .with_context(|| format!("writing {}", result_path.display()))?;
    out!("{}", report::summary_table(&result));
    outln!("result: {}", result_path.display());
    if let Some(p) = &records_path {
        outln!("records: {} ({} lines)", p.display(), out.records_written);
    }
    let mut gate_failed = false;
    let mut run_eval = None;
    if let Some(c) = &claims {
        let eval =
            gate::eval::evaluate(c, &result, &result_path.display().to_string()).map_err(user)?;
        outln!();
        out!("{}", eval.table(a.strict));
        write_reports(&a.reports, Some(&eval), None, a.strict)?;
        gate_failed = eval.fails(a.strict);
        run_eval = Some(eval);
    }
    if let Some(p) = &a.report {
        let inputs = [report::page::Input {
            path: result_path.display().to_string(),
            result: result.clone(),
            eval: run_eval,
        }];
        let html = report::html::render(&report::page::build(&inputs, None)).map_err(user)?;
        std::fs::write(p, html).map_err(|e| user(format!("writing {}: {e}", p.display())))?;
        outln!("report: {}", p.display());
    }
    // A run that measured nothing has no figure to be valid about or to judge a claim on.
    if result.measured_nothing() {
        return Ok(Exit::NothingMeasured);
    }
    // An invalid run says nothing about the endpoint, so its exit code wins over any claim.
    if !result.validity.valid {
        return Ok(Exit::Invalid);
    }
    if out.interrupted {
        return Ok(Exit::Usage);
    }
    if let Some(why) = &out.aborted {
        eprintln!("aborted: {why}");
        return Ok(Exit::Gate);
    }
    Ok(if gate_failed { Exit::Gate } else { Exit::Ok })
}

/// `llmload run --repeat N`: N runs of one scenario with seeds seed, seed + 1, …, each a whole
/// `run` with its own result file: `-o r.json` becomes r-1.json, r-2.json, …; without `-o`,
/// `<out>/<scenario>-<stamp>-<i>.json` (the report, JUnit and Markdown files are numbered the
/// same way). The exit code is the worst of the runs'; an interrupted run stops the series.
async fn run_repeat(a: RunArgs) -> Result<Exit> {
    let n = a.repeat.unwrap_or(1);
    if n == 0 {
        bail!(UserError("--repeat: give at least 1 run".into()));
    }
    if a.shard.is_some() {
        bail!(UserError(
            "--repeat cannot be combined with --shard: repeat the whole distributed run instead"
                .into()
        ));
    }
    let plan = run_plan(&a)?;
    let seed = a.seed.unwrap_or(plan.seed);
    let stamp = file_stamp();
    let numbered = |p: &Path, i: u32| {
        let stem = p.file_stem().map(|s| s.to_string_lossy().to_string());
        let name = match (stem, p.extension()) {
            (Some(s), Some(e)) => format!("{s}-{i}.{}", e.to_string_lossy()),
            (Some(s), None) => format!("{s}-{i}"),
            _ => format!("{i}"),
        };
        p.with_file_name(name)
    };
    let mut worst = Exit::Ok;
    for i in 1..=n {
        let mut r = a.clone();
        r.repeat = None;
        r.seed = Some(seed.wrapping_add(u64::from(i - 1)));
        r.output = Some(match &a.output {
            Some(p) => numbered(p, i),
            None => a
                .out
                .join(format!("{}-{stamp}-{i}.json", sanitize(&plan.name))),
        });
        r.report = a.report.as_deref().map(|p| numbered(p, i));
        r.reports.junit = a.reports.junit.as_deref().map(|p| numbered(p, i));
        r.reports.markdown = a.reports.markdown.as_deref().map(|p| numbered(p, i));
        outln!(
            "run {i} of {n} (seed {})",
            seed.wrapping_add(u64::from(i - 1))
        );
        let code = Box::pin(run_cmd(r)).await?;
        outln!();
        let stop = matches!(code, Exit::Usage);
        if code as i32 > worst as i32 {
            worst = code;
        }
        if stop {
            break;
        }
    }
    Ok(worst)
}

/// A live check of the claims marked `abort = true` (severity `fail`): about once a second, the
/// metrics so far (the window cut at "now") are judged like a finished result, and the first
/// claim that is already lost — a FAIL with enough samples, never an inconclusive one — stops
/// new arrivals. In-flight requests finish as after an interrupt; the final check then runs on
/// everything measured.
fn abort_judge(plan: &Plan, claims: &gate::claims::Claims) -> Option<runner::Judge> {
    let mut watched = claims.clone();
    watched
        .claims
        .retain(|c| c.abort && c.severity == gate::claims::Severity::Fail);
    if watched.claims.is_empty() {
        return None;
    }
    let plan = plan.clone();
    Some(Box::new(
        move |c: &mut crate::metrics::Collector, now_us: u64| {
            let saved = c.window();
            if now_us <= saved.start_us {
                return None;
            }
            c.set_window(crate::metrics::Window {
                start_us: saved.start_us,
                end_us: Some(saved.end_us.map_or(now_us, |e| e.min(now_us))),
            });
            let snapshot = results::build(&plan, c, RunMeta::live());
            c.set_window(saved);
            let eval = gate::eval::evaluate(&watched, &snapshot, "the live run").ok()?;
            eval.rows
                .iter()
                .find(|r| r.verdict == gate::eval::Verdict::Fail)
                .map(|r| {
                    format!(
                        "claim `{}` (abort = true) was lost during the run: measured {}, limit {}",
                        r.claim.title(),
                        r.measured_text(),
                        r.limit_text()
                    )
                })
        },
    ))
}

/// Runs a plan without progress, signals or printing, writing its records to `records`, and
/// returns the result (for `calibrate`).
async fn run_quiet(plan: Plan, records: &Path, threads: usize) -> Result<results::RunResult> {
    let (_stop_tx, stop_rx) = watch::channel(Stop::Run);
    run_step(plan, Some(records), threads, stop_rx, "calibrate", None).await
}

/// Runs one plan without progress or printing (a calibration or sweep step); `stop` ends it
/// early like a signal would, and the result then says `interrupted`.
async fn run_step(
    plan: Plan,
    records: Option<&Path>,
    threads: usize,
    stop_rx: watch::Receiver<Stop>,
    run_id: &str,
    view: Option<String>,
) -> Result<results::RunResult> {
    let (mocks, runtimes) = prepare_targets(&plan, 1)?;
    let file = match records {
        Some(p) => {
            Some(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => None,
    };
    let tids: Vec<i32> = mocks.iter().map(|m| m.tid).collect();
    let live = Arc::new(Live::default());
    // A sweep step shows the run's progress view under its own label (bar on a terminal, a
    // line every 5 s in a log); calibration steps show none.
    let shown = view.map(|label| {
        crate::cli::progress::Progress::start(
            live.clone(),
            &label,
            crate::cli::progress::Length::of(&plan.load, 1),
            crate::cli::progress::Mode::for_stderr(false, None),
        )
    });
    let out = runner::run(
        plan.clone(),
        runtimes,
        file,
        live,
        stop_rx,
        RunOptions {
            interrupt_grace: Duration::from_secs(1),
            lead: Duration::from_millis(20),
            exclude_tids: tids.clone(),
            judge: None,
            shard: ShardPart::WHOLE,
            start_at: None,
            keep_partial: false,
        },
    )
    .await;
    if let Some(v) = shown {
        v.finish();
    }
    for m in mocks {
        m.stop().await;
    }
    let meta = RunMeta {
        run_id: run_id.into(),
        status: if out.interrupted {
            RunStatus::Interrupted
        } else {
            RunStatus::Complete
        },
        started_at: rfc3339(out.started_at),
        finished_at: rfc3339(out.finished_at),
        records_file: records
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().to_string()),
        shard: Shard { index: 0, count: 1 },
        max_lag_p99_ms: 10.0,
        min_send_ratio: 0.99,
        warnings: Vec::new(),
        health: out.health.clone(),
        worker_threads: threads,
        cpu_excludes_mock: !tids.is_empty(),
        aborted_by: None,
        guard: out.guard.clone(),
    };
    Ok(results::build(&plan, &out.collector, meta))
}

/// `llmload sweep`: the flags and files around `sweep::run` (docs/capacity.md#sweep).
async fn sweep_cmd(a: SweepArgs) -> Result<Exit> {
    let mut plan = load_plan(&a.scenario, &a.set)?;
    if let Some(seed) = a.seed {
        plan.seed = seed;
    }
    let mut s = plan.sweep.clone();
    if let Some(n) = a.steps {
        if !(1..=100).contains(&n) {
            bail!(UserError("--steps must be between 1 and 100".into()));
        }
        s.steps = n;
    }
    let dur = |flag: &str, v: &str| {
        units::parse_duration(v).map_err(|e| anyhow!(UserError(format!("{flag}: {e}"))))
    };
    if let Some(d) = &a.step_duration {
        s.step_duration = dur("--step-duration", d)?;
    }
    if let Some(d) = &a.step_warmup {
        s.step_warmup = dur("--step-warmup", d)?;
    }
    if let Some(d) = &a.max_step_duration {
        s.max_step_duration = dur("--max-step-duration", d)?;
        if s.max_step_duration.is_zero() {
            bail!(UserError(
                "--max-step-duration must be greater than 0".into()
            ));
        }
    }
    if let Some(c) = a.probe_concurrency {
        if c == 0 {
            bail!(UserError("--probe-concurrency must be at least 1".into()));
        }
        s.probe_concurrency = c;
    }
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mocked = plan.targets.iter().any(|t| matches!(t.base, Base::Mock(_)));
    if let Some(l) = crate::engine::sys::ensure_open_files(
        s.probe_concurrency as u64 * if mocked { 2 } else { 1 },
    ) {
        if !l.fits() {
            bail!(UserError(format!(
                "the saturation probe holds {} connections, but the open-file limit is {}; raise it or lower --probe-concurrency",
                s.probe_concurrency, l.soft
            )));
        }
    }
    let (result_path, records_stem) = output_paths(&plan, &a.out, a.output.as_ref(), a.no_records)?;
    let (stop_tx, stop_rx) = watch::channel(Stop::Run);
    let stop_tx = Arc::new(stop_tx);
    spawn_signal_handler(stop_tx.clone());
    let run_id = format!("{:016x}", rand::random::<u64>());
    let records_for = |k: usize| {
        records_stem
            .as_ref()
            .map(|stem| result_path.with_file_name(format!("{stem}.step{k:02}.records.jsonl")))
    };
    let run = |p: Plan, k: usize| {
        let rec = records_for(k);
        let rx = stop_rx.clone();
        let id = format!("{run_id}-step{k:02}");
        let view = (!a.quiet).then(|| format!("step {k} "));
        async move { run_step(p, rec.as_deref(), threads, rx, &id, view).await }
    };
    let quiet = a.quiet;
    let mut progress = |line: String| {
        if !quiet {
            eprintln!("{line}");
        }
    };
    let slo_set = plan.slo.is_set() || plan.models.iter().any(|m| m.slo.is_set());
    let done = crate::engine::sweep::run(&plan, &s, slo_set, run, &mut progress).await?;
    // The top-level metrics are the sustainable rate's step (else the baseline's), so `check`
    // and `plan` read the sustainable operating point.
    let Some(top_step) = done.sweep.steps.get(done.top) else {
        bail!("the sweep was stopped before its first step finished");
    };
    let mut result = (*top_step.result).clone();
    result.run_id = run_id;
    if done.interrupted {
        result.status = RunStatus::Interrupted;
    }
    let table = crate::analysis::knee::table(&done.sweep);
    result.sweep = Some(done.sweep);
    result
        .write(&result_path)
        .with_context(|| format!("writing {}", result_path.display()))?;
    out!("{table}");
    outln!("result: {}", result_path.display());
    let measured_nothing = result.sweep.as_ref().is_some_and(|sw| {
        sw.steps
            .iter()
            .all(|st| st.result.nothing_measured().is_some())
    });
    Ok(if done.interrupted {
        Exit::Usage
    } else if measured_nothing {
        eprintln!("sweep: NOTHING MEASURED — no step had a successful measured request");
        Exit::NothingMeasured
    } else {
        Exit::Ok
    })
}

/// Where a run's result goes, and the stem of its records files (None with --no-records).
fn output_paths(
    plan: &Plan,
    out: &Path,
    output: Option<&PathBuf>,
    no_records: bool,
) -> Result<(PathBuf, Option<String>)> {
    let stamp = file_stamp();
    let result_path = match output {
        Some(p) => p.clone(),
        None => out.join(format!("{}-{stamp}.json", sanitize(&plan.name))),
    };
    if let Some(dir) = result_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let stem = result_path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    Ok((result_path, (!no_records).then_some(stem)))
}

async fn calibrate_cmd(a: CalibrateArgs) -> Result<Exit> {
    use crate::analysis::calibrate;
    let step =
        units::parse_duration(&a.step).map_err(|e| anyhow!(UserError(format!("--step: {e}"))))?;
    if !(a.start_rate > 0.0 && a.max_rate >= a.start_rate) {
        bail!(UserError(
            "--start-rate must be > 0 and no more than --max-rate".into()
        ));
    }
    let threads = a.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let dir = std::env::temp_dir().join(format!("llmload-calibrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let secs = step.as_secs_f64();
    let plan_for = |load: String, truth: Option<PathBuf>| -> Result<Plan> {
        let src = crate::config::scenario::Source {
            path: PathBuf::from("calibrate.toml"),
            text: calibrate::scenario(&load),
        };
        let f = src
            .parse()
            .map_err(|e| anyhow!("calibration scenario: {e}"))?;
        let mut plan = Plan::build(&src, f).map_err(|e| anyhow!("calibration scenario: {e}"))?;
        if let Some(Base::Mock(cfg)) = plan.targets.first_mut().map(|t| &mut t.base) {
            cfg.truth_log = truth;
        }
        Ok(plan)
    };
    eprintln!(
        "measuring TTFT overhead (about {:.0} s)…",
        2.0 * (secs + 1.0)
    );
    let mut overhead = Vec::new();
    for c in [1u32, 32] {
        let truth = dir.join(format!("c{c}.truth.jsonl"));
        let records = dir.join(format!("c{c}.records.jsonl"));
        let load = format!("concurrency = {c}\nwarmup = \"1s\"\nduration = \"{secs}s\"");
        let plan = plan_for(load, Some(truth.clone()))?;
        run_quiet(plan, &records, threads).await?;
        overhead.push(
            calibrate::ttft_overhead(&records, &truth).context("reading the calibration logs")?,
        );
    }
    let mut steps = Vec::new();
    for rate in calibrate::ladder(a.start_rate, a.max_rate) {
        eprintln!("open loop at {rate:.0} req/s…");
        let records = dir.join(format!("rate{rate:.0}.records.jsonl"));
        let plan = plan_for(
            format!(
                "rate = \"{rate}/s\"\narrival = \"poisson\"\nmax_in_flight = 8192\nwarmup = \"1s\"\nduration = \"{secs}s\""
            ),
            None,
        )?;
        let r = run_quiet(plan, &records, threads).await?;
        let st = calibrate::Step::from_result(rate, &r);
        let stop = !st.valid;
        steps.push(st);
        if stop {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    out!(
        "{}",
        calibrate::report(threads, &overhead[0], &overhead[1], &steps)
    );
    Ok(Exit::Ok)
}

/// Starts an in-process mock for each `mock` target and builds one client (with its quotas)
/// per target, reading API keys from the environment.
/// Starts in-process mocks and builds each target's client; a shard gets 1/`shards` of each
/// per-minute quota (the shards together keep the account's quota).
fn prepare_targets(plan: &Plan, shards: u32) -> Result<(Vec<MockThread>, Vec<TargetRuntime>)> {
    let mut mocks = Vec::new();
    let mut runtimes = Vec::new();
    let largest = plan.workload.largest_request_tokens();
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
        let api_key = match &t.api_key_env {
            // The mock needs no key: use one if the variable is set, never require it.
            Some(var) if matches!(t.base, Base::Mock(_)) => std::env::var(var).ok(),
            Some(var) => Some(std::env::var(var).map_err(|_| {
                anyhow!(UserError(format!(
                    "target `{}`: environment variable {var} is not set (it must hold the API key)",
                    t.name
                )))
            })?),
            None => match &t.api_key_file {
                Some(f) => Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| {
                            anyhow!(UserError(format!(
                                "target `{}`: cannot read api_key_file {}: {e}",
                                t.name,
                                f.display()
                            )))
                        })?
                        .lines()
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                ),
                None => None,
            },
        };
        if t.insecure {
            eprintln!(
                "warning: target `{}`: tls.insecure = true — server certificates will NOT be verified",
                t.name
            );
        }
        let client = TargetClient::new(ClientSettings {
            name: &t.name,
            base_url: &base_url,
            api_key,
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
        .map_err(|e| anyhow!(UserError(e.to_string())))?
        .with_retry_on_429(t.retry_on_429);
        let client = match t.max_response_bytes {
            Some(n) => client.with_max_response_bytes(n),
            None => client,
        };
        runtimes.push(TargetRuntime::new(
            client,
            t.requests_per_minute.map(|r| r / shards as f64),
            t.tokens_per_minute.map(|r| r / shards as f64),
            largest,
        ));
    }
    Ok((mocks, runtimes))
}

/// The built-in mock on a thread and runtime of its own, so its work neither delays the
/// generator's runtime nor counts as the generator's CPU.
struct MockThread {
    base_url: String,
    tid: i32,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl MockThread {
    fn spawn(cfg: MockConfig) -> Result<MockThread> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(String, i32), String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let join = std::thread::Builder::new()
            .name("llmload-mock".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start its runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(format!("cannot bind 127.0.0.1: {e}")));
                            return;
                        }
                    };
                    let server = match MockServer::start(listener, cfg).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok((
                        server.base_url(),
                        crate::engine::monitor::current_tid(),
                    )));
                    let _ = stop_rx.await;
                    server.shutdown().await;
                });
            })
            .context("starting the built-in mock server's thread")?;
        let (base_url, tid) = ready_rx
            .recv()
            .map_err(|_| anyhow!("the built-in mock server's thread ended before it started"))?
            .map_err(|e| anyhow!(UserError(format!("built-in mock server: {e}"))))?;
        Ok(MockThread {
            base_url,
            tid,
            stop: Some(stop_tx),
            join: Some(join),
        })
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(j) = self.join.take() {
            let _ = tokio::task::spawn_blocking(move || j.join()).await;
        }
    }
}

fn spawn_signal_handler(stop: Arc<watch::Sender<Stop>>) {
    tokio::spawn(async move {
        let mut signals = Signals::new();
        let mut count = 0;
        while signals.next().await {
            count += 1;
            if count == 1 {
                eprintln!("\nstopping: no new requests; in-flight ones get a grace period (Ctrl-C again to exit now)");
                stop.send_replace(Stop::Arrivals);
            } else {
                eprintln!("exiting now; the records file holds every request finished so far");
                std::process::exit(130);
            }
        }
    });
}

/// SIGINT and (on Unix) SIGTERM as one stream.
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    /// Waits for the next signal; false if signals cannot be watched.
    async fn next(&mut self) -> bool {
        #[cfg(unix)]
        if let Some(t) = self.term.as_mut() {
            return tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                r = t.recv() => r.is_some(),
            };
        }
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// The live view of a run: a bar on a terminal, periodic lines in a log, nothing with `--quiet`.
fn spawn_progress(
    a: &RunArgs,
    plan: &Plan,
    part: ShardPart,
    live: Arc<Live>,
) -> crate::cli::progress::Progress {
    use crate::cli::progress::{Length, Mode, Progress};
    let mode = Mode::for_stderr(a.quiet, a.progress_interval);
    let label = if part.count > 1 {
        format!("shard {}/{} ", part.index, part.count)
    } else {
        String::new()
    };
    Progress::start(live, &label, Length::of(&plan.load, part.count), mode)
}

fn prob(name: &str, v: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&v) {
        bail!(UserError(format!(
            "--{name}: a probability must be between 0 and 1"
        )));
    }
    Ok(v)
}

async fn mock_cmd(a: MockArgs) -> Result<Exit> {
    let ttft =
        units::parse_duration(&a.ttft).map_err(|e| anyhow!(UserError(format!("--ttft: {e}"))))?;
    let itl_ms = match (&a.itl, a.tokens_per_s) {
        (Some(s), _) => {
            units::parse_duration(s)
                .map_err(|e| anyhow!(UserError(format!("--itl: {e}"))))?
                .as_secs_f64()
                * 1e3
        }
        (None, Some(tps)) if tps > 0.0 => 1e3 * a.tokens_per_chunk.max(1) as f64 / tps,
        (None, Some(_)) => bail!(UserError("--tokens-per-s must be greater than 0".into())),
        (None, None) => 10.0,
    };
    let retry_after_s = match &a.retry_after {
        Some(s) => Some(
            units::parse_duration(s)
                .map_err(|e| anyhow!(UserError(format!("--retry-after: {e}"))))?
                .as_secs()
                .max(1) as u32,
        ),
        None => None,
    };
    let mut model = MockModel {
        ttft_ms: match &a.ttft_stddev {
            None => Dist::fixed(ttft.as_secs_f64() * 1e3),
            Some(sd) => Dist::Normal {
                mean: ttft.as_secs_f64() * 1e3,
                stddev: units::parse_duration(sd)
                    .map_err(|e| anyhow!(UserError(format!("--ttft-stddev: {e}"))))?
                    .as_secs_f64()
                    * 1e3,
                min: Some(0.0),
                max: None,
            },
        },
        ttft_steps: a
            .ttft_step
            .iter()
            .map(|s| {
                crate::config::mock::TtftStep::parse(s)
                    .map_err(|e| anyhow!(UserError(format!("--ttft-step {s}: {e}"))))
            })
            .collect::<Result<_>>()?,
        itl_ms: Dist::fixed(itl_ms),
        output_tokens: a.output_tokens.map(|n| Dist::fixed(n as f64)),
        tokens_per_chunk: a.tokens_per_chunk.max(1),
        reasoning_tokens: a.reasoning_tokens,
        max_concurrency: a.max_concurrency,
        faults: Faults {
            rate_limit: prob("fault-rate-limit", a.fault_rate_limit)?,
            retry_after_s,
            server_error: prob("fault-server-error", a.fault_server_error)?,
            stall: prob("fault-stall", a.fault_stall)?,
            disconnect: prob("fault-disconnect", a.fault_disconnect)?,
            malformed: prob("fault-malformed", a.fault_malformed)?,
            error_event: prob("fault-error-event", a.fault_error_event)?,
            ..Faults::default()
        },
    };
    for spec in &a.fault {
        model
            .faults
            .apply_spec(spec)
            .map_err(|e| anyhow!(UserError(format!("--fault {spec}: {e}"))))?;
    }
    let cfg = MockConfig {
        seed: a.seed,
        default_model: model,
        models: Default::default(),
        truth_log: a.truth_log.clone(),
    };
    cfg.validate()
        .map_err(|e| anyhow!(UserError(format!("mock settings: {e}"))))?;
    let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port))
        .await
        .with_context(|| format!("binding {}:{}", a.host, a.port))?;
    let server = MockServer::start(listener, cfg)
        .await
        .context("starting the mock server")?;
    outln!("llmload mock listening on {}", server.base_url());
    let (tx, mut rx) = watch::channel(Stop::Run);
    spawn_signal_handler(Arc::new(tx));
    let _ = rx.wait_for(|s| *s >= Stop::Arrivals).await;
    server.shutdown().await;
    Ok(Exit::Ok)
}
