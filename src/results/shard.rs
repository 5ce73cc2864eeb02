//! Distributed runs: `--shard i/N` and `--start-at`, the partial result a shard writes, and
//! `llmload merge`, which adds the shards' counters and histograms exactly and derives the
//! whole run's result from the sums (docs/scale-out.md).
//!
//! There is no coordinator: every shard computes the same global schedule from the scenario and
//! seed and sends only its own stripe of it, all from the same agreed wall-clock instant. What
//! ties the shards of one run together is the plan hash (scenario, seed, shard count and the
//! plan as the result sees it) and the run id (plan hash and start instant).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::schedule::ShardPart;
use crate::core::hex;
use crate::core::time::rfc3339;
use crate::metrics::{Collector, CollectorState, Hist};
use crate::results::guard::GuardCounts;
use crate::results::{self, Host, PlanOutline, RunMeta, RunResult, RunStatus, Shard};

/// Version of the `partial` section's layout.
pub const PARTIAL_VERSION: u32 = 1;

/// Parses `I/N` (0-based index, N ≥ 1, I < N).
pub fn parse_shard(text: &str) -> Result<ShardPart, String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("--shard `{text}`: expected INDEX/COUNT, e.g. 3/8 (0-based)"))?;
    let index: u32 = i
        .trim()
        .parse()
        .map_err(|_| format!("--shard `{text}`: index `{i}` is not a whole number"))?;
    let count: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("--shard `{text}`: count `{n}` is not a whole number"))?;
    if count == 0 {
        return Err(format!(
            "--shard `{text}`: the shard count must be at least 1"
        ));
    }
    if index >= count {
        return Err(format!(
            "--shard `{text}`: index {index} is out of range for {count} shards (indexes are 0-based: 0..={})",
            count - 1
        ));
    }
    Ok(ShardPart { index, count })
}

/// Parses an RFC 3339 instant (`2026-12-01T10:00:00Z`).
pub fn parse_instant(text: &str) -> Result<SystemTime, String> {
    let t = time::OffsetDateTime::parse(
        text.trim(),
        &time::format_description::well_known::Rfc3339,
    )
    .map_err(|e| {
        format!("--start-at `{text}`: not an RFC 3339 instant such as 2026-12-01T10:00:00Z ({e})")
    })?;
    let ns = t.unix_timestamp_nanos();
    if ns < 0 {
        return Err(format!("--start-at `{text}`: before 1970"));
    }
    Ok(UNIX_EPOCH + Duration::from_nanos(ns as u64))
}

/// Refuses a start instant that passed more than `tolerance` ago (the shard would begin with a
/// burst of overdue arrivals, or not in step with the others).
pub fn check_start(at: SystemTime, now: SystemTime, tolerance: Duration) -> Result<(), String> {
    if let Ok(late) = now.duration_since(at) {
        if late > tolerance {
            return Err(format!(
                "--start-at {} passed {:.3} s ago, more than the tolerance of {:.3} s (--start-tolerance): refusing to start out of step with the other shards; choose a later instant",
                rfc3339(at),
                late.as_secs_f64(),
                tolerance.as_secs_f64()
            ));
        }
    }
    Ok(())
}

/// What the kernel knows of this host's clock (adjtimex, read only): whether NTP keeps it in
/// step, the offset it last measured, and its error bounds. Hosts that each keep within a few
/// milliseconds of the same reference start their stripes within those milliseconds of one
/// another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Where the figures come from (`adjtimex`), or why there are none.
    pub source: String,
    /// Whether the kernel considers the clock synchronised to a reference.
    pub synchronized: bool,
    /// The clock's offset from its reference as last measured (ms); absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<f64>,
    /// Estimated error (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub est_error_ms: Option<f64>,
    /// Maximum error (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_error_ms: Option<f64>,
}

/// Reads [`ClockInfo`] from the kernel.
pub fn clock_info() -> ClockInfo {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: adjtimex with modes = 0 only reads; `tx` is a valid, zeroed timex.
        let mut tx: libc::timex = unsafe { std::mem::zeroed() };
        let state = unsafe { libc::adjtimex(&mut tx) };
        if state < 0 {
            return ClockInfo {
                source: format!("adjtimex failed: {}", std::io::Error::last_os_error()),
                ..ClockInfo::default()
            };
        }
        // STA_NANO: the offset is in ns rather than µs.
        let offset_us = if tx.status & libc::STA_NANO != 0 {
            tx.offset as f64 / 1e3
        } else {
            tx.offset as f64
        };
        let synchronized = state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0;
        ClockInfo {
            source: "adjtimex".into(),
            synchronized,
            offset_ms: synchronized.then_some(offset_us / 1e3),
            est_error_ms: Some(tx.esterror as f64 / 1e3),
            max_error_ms: Some(tx.maxerror as f64 / 1e3),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        ClockInfo {
            source: "not available on this OS".into(),
            ..ClockInfo::default()
        }
    }
}

/// The plan hash: the plan as the result sees it (models, prices, load, groups — the frame,
/// which carries the scenario file's SHA-256 and the seed, but not the path it was given by)
/// and the shard count. The contents
/// of prompt, dataset and trace files are not part of it: give every shard the same files.
pub fn plan_hash(frame: &PlanOutline, count: u32) -> String {
    // The path the scenario was given by differs between machines (and working folders);
    // its content hash does not.
    let mut f = frame.clone();
    f.scenario.path.clear();
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(&f).unwrap_or_default());
    h.update(count.to_le_bytes());
    hex::encode(&h.finalize())[..32].to_string()
}

/// The run id shared by every shard of one run: plan hash and start instant.
pub fn run_id(plan_hash: &str, start_at: &str) -> String {
    let mut h = Sha256::new();
    h.update(plan_hash.as_bytes());
    h.update(b"@");
    h.update(start_at.as_bytes());
    hex::encode(&h.finalize())[..16].to_string()
}

/// The generator's own health, raw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HealthState {
    /// Probe-timer lateness (µs).
    pub loop_lag: Hist,
    /// CPU seconds used per second since the start.
    pub cpu_per_s: Vec<f64>,
}

/// Context-window guard counts, raw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GuardState {
    /// Over the window.
    pub over_window: u64,
    /// Not sent.
    pub skipped: u64,
    /// Largest excess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub largest: Option<crate::results::guard::Offender>,
}

/// What a shard's result carries beyond the usual result so that `llmload merge` can build the
/// whole run's result: the frame, the raw collector and the run facts. Present only in results
/// written with `--shard`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partial {
    /// Layout version of this section.
    pub version: u32,
    /// Same for every shard of one run (see [`plan_hash`]).
    pub plan_hash: String,
    /// The agreed start instant (RFC 3339): the schedule's origin on every shard.
    pub start_at: String,
    /// How long before the start instant this shard was ready (s); negative when it began
    /// after it (within the tolerance).
    pub ready_before_start_s: f64,
    /// This host's clock, as the kernel knows it.
    pub clock: ClockInfo,
    /// The plan, as the result needs it.
    pub frame: PlanOutline,
    /// Every counter and histogram, raw.
    pub collector: CollectorState,
    /// The generator's health, raw.
    pub health: HealthState,
    /// Runtime worker threads.
    pub worker_threads: usize,
    /// Whether an in-process mock's CPU was left out.
    pub cpu_excludes_mock: bool,
    /// Context guard counts.
    pub guard: GuardState,
    /// Warnings from the run itself (not derived from the counts).
    pub run_warnings: Vec<String>,
    /// Validity limits used.
    pub max_lag_p99_ms: f64,
    /// Validity limits used.
    pub min_send_ratio: f64,
}

impl Partial {
    /// The raw facts of a shard's run.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        frame: PlanOutline,
        count: u32,
        start_at: SystemTime,
        ready_before_start_s: f64,
        collector: &Collector,
        meta: &RunMeta,
    ) -> Partial {
        let hash = plan_hash(&frame, count);
        Partial {
            version: PARTIAL_VERSION,
            plan_hash: hash,
            start_at: rfc3339(start_at),
            ready_before_start_s,
            clock: clock_info(),
            frame,
            collector: collector.state(),
            health: HealthState {
                loop_lag: meta.health.loop_lag.clone(),
                cpu_per_s: meta.health.cpu_per_s.clone(),
            },
            worker_threads: meta.worker_threads,
            cpu_excludes_mock: meta.cpu_excludes_mock,
            guard: GuardState {
                over_window: meta.guard.over_window,
                skipped: meta.guard.skipped,
                largest: meta.guard.largest.clone(),
            },
            run_warnings: meta.warnings.clone(),
            max_lag_p99_ms: meta.max_lag_p99_ms,
            min_send_ratio: meta.min_send_ratio,
        }
    }
}

/// One shard of a merged result, as the merged result lists it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardSummary {
    /// 0-based index.
    pub index: u32,
    /// The partial result file merged.
    pub file: String,
    /// Its records file, if it wrote one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records_file: Option<String>,
    /// The machine it ran on.
    pub host: Host,
    /// How it ended.
    pub status: RunStatus,
    /// Whether it was valid on its own, and why not.
    pub valid: bool,
    /// Its invalidity reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Its measured arrivals.
    pub arrivals_in_window: u64,
    /// How long before the start instant it was ready (s).
    pub ready_before_start_s: f64,
    /// Its host's clock.
    pub clock: ClockInfo,
    /// When it finished (RFC 3339).
    pub finished_at: String,
    /// How its generator reached each target, with its own connection set-up times (those
    /// percentiles cannot be combined across shards, so the merged run's `transport` keeps
    /// only the summed connection count).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transport: Vec<crate::results::TransportResult>,
}

/// Why shards could not be merged. Each message names the files involved.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MergeError(pub String);

/// Reads and merges the partial results at `paths` into the whole run's result.
pub fn merge(paths: &[PathBuf]) -> Result<RunResult, MergeError> {
    let mut shards = read_shards(paths)?;
    check_set(&shards)?;
    shards.sort_by_key(|(_, r, _)| r.shard.index);
    // Every shard's schedule starts at the same agreed instant, so their 1 s series are already
    // aligned by wall clock; each host's residual clock offset is listed with the shard.
    let count = shards.len() as u32;
    let mut sum = Sum::default();
    for (path, r, part) in &shards {
        sum.add(path, r, part, count)?;
    }
    let Some(mut collector) = sum.collector else {
        return Err(MergeError("merge: no shards".into()));
    };
    collector.finish();
    let mut warnings = sum.warnings;
    warnings.extend(clock_warnings(&sum.summaries, count));
    let (_, first, part) = &shards[0];
    let meta = RunMeta {
        run_id: first.run_id.clone(),
        status: sum.status.unwrap_or(RunStatus::Complete),
        started_at: part.start_at.clone(),
        finished_at: sum.finished_at,
        records_file: None,
        shard: Shard { index: 0, count: 1 },
        max_lag_p99_ms: part.max_lag_p99_ms,
        min_send_ratio: part.min_send_ratio,
        warnings,
        health: crate::results::health::Health {
            loop_lag: sum.loop_lag,
            cpu_per_s: sum.cpu_per_s,
        },
        worker_threads: sum.worker_threads,
        aborted_by: sum.aborted_by,
        cpu_excludes_mock: sum.cpu_excludes_mock,
        guard: sum.guard,
    };
    let mut result = results::assemble(&part.frame, &collector, meta);
    result.host = first.host.clone();
    if !sum.invalid.is_empty() {
        result.validity.valid = false;
        result.validity.reasons.extend(sum.invalid);
    }
    carry_run_facts(&mut result, &shards);
    result.merged_from = sum.summaries;
    Ok(result)
}

/// The facts a run adds beside its collector, carried into the merged result: the tokenizer
/// each model used (the plan is the same for every shard; a shard whose calibration against
/// the server came out differently gets a warning), each target's transport with the
/// connections of all shards summed, and the server's own metrics as the first shard that
/// scraped them saw them (every shard scrapes the same server, so summing would count it
/// once per shard).
fn carry_run_facts(result: &mut RunResult, shards: &[(PathBuf, RunResult, Partial)]) {
    let Some((_, first, _)) = shards.first() else {
        return;
    };
    result.tokenizers = first.tokenizers.clone();
    for (path, r, _) in &shards[1..] {
        if r.tokenizers != first.tokenizers {
            result.warnings.push(format!(
                "{}: its tokenizers (or their calibration against the server) differ from shard {}'s; the merged result lists shard {}'s",
                path.display(),
                first.shard.index,
                first.shard.index
            ));
        }
    }
    result.transport = first
        .transport
        .iter()
        .map(|t| {
            let mut merged = t.clone();
            merged.connect_ms = None;
            merged.tls_handshake_ms = None;
            merged.new_connections = shards
                .iter()
                .filter_map(|(_, r, _)| r.transport.iter().find(|o| o.target == t.target))
                .map(|o| o.new_connections)
                .sum();
            merged
        })
        .collect();
    carry_quality(result, shards);
    if let Some((_, scraper, _)) = shards.iter().find(|(_, r, _)| !r.server_metrics.is_empty()) {
        result.server_metrics = scraper.server_metrics.clone();
        for (row, theirs) in result.timeseries.iter_mut().zip(&scraper.timeseries) {
            row.server = theirs.server.clone();
        }
    }
}

/// The golden pass's quality section, from the shard that sent it (shard 0 sends the pass;
/// the others skip it), with each model's cost relative to the baseline computed again from
/// the merged costs. Golden requests mixed into the load are scored per shard, and not
/// carried. A set whose shards each hold a pass (older versions sent it from every
/// shard) keeps the lowest shard's, with a warning.
fn carry_quality(result: &mut RunResult, shards: &[(PathBuf, RunResult, Partial)]) {
    if shards
        .iter()
        .any(|(_, r, _)| r.quality.as_ref().is_some_and(|q| q.mode == "mix"))
    {
        result.warnings.push(
            "quality: golden requests were mixed into the load, and each shard's result holds the scores of its own golden answers; the merged result has no quality section (the figures cannot be added up without the answers of every shard scored together)".into(),
        );
        return;
    }
    let mut with = shards.iter().filter(|(_, r, _)| r.quality.is_some());
    let Some((_, first, _)) = with.next() else {
        return;
    };
    let others: Vec<String> = with.map(|(p, _, _)| p.display().to_string()).collect();
    if !others.is_empty() {
        result.warnings.push(format!(
            "quality: shards {} also hold a golden pass; the merged result keeps shard {}'s",
            others.join(", "),
            first.shard.index
        ));
    }
    result.quality = first.quality.clone();
    crate::results::quality::add_cost_relative(result);
}

/// Reads each file and takes its partial section, refusing files that have none or a newer
/// layout than this build reads.
fn read_shards(paths: &[PathBuf]) -> Result<Vec<(PathBuf, RunResult, Partial)>, MergeError> {
    if paths.is_empty() {
        return Err(MergeError("merge: no shard result files given".into()));
    }
    let mut shards = Vec::new();
    for p in paths {
        let mut r = RunResult::read(p).map_err(|e| MergeError(e.to_string()))?;
        let Some(part) = r.partial.take() else {
            return Err(MergeError(format!(
                "{}: not a shard's partial result (it has no `partial` section; run each shard with `llmload run --shard I/N`)",
                p.display()
            )));
        };
        if part.version > PARTIAL_VERSION {
            return Err(MergeError(format!(
                "{}: partial section version {} is newer than this llmload reads (≤ {PARTIAL_VERSION}); upgrade llmload",
                p.display(),
                part.version
            )));
        }
        shards.push((p.clone(), r, *part));
    }
    Ok(shards)
}

/// The shards added so far: their collectors and health summed, their run facts combined.
#[derive(Default)]
struct Sum {
    collector: Option<Collector>,
    loop_lag: Hist,
    cpu_per_s: Vec<f64>,
    worker_threads: usize,
    cpu_excludes_mock: bool,
    guard: GuardCounts,
    warnings: Vec<String>,
    status: Option<RunStatus>,
    finished_at: String,
    aborted_by: Option<String>,
    summaries: Vec<ShardSummary>,
    invalid: Vec<String>,
}

impl Sum {
    /// Adds one shard of `count`.
    fn add(
        &mut self,
        path: &Path,
        r: &RunResult,
        part: &Partial,
        count: u32,
    ) -> Result<(), MergeError> {
        let at = |e: crate::metrics::HistError| MergeError(format!("{}: {e}", path.display()));
        let c = Collector::from_state(part.collector.clone()).map_err(at)?;
        match self.collector.as_mut() {
            None => self.collector = Some(c),
            Some(m) => m.absorb(&c).map_err(at)?,
        }
        self.loop_lag.merge(&part.health.loop_lag).map_err(at)?;
        if self.cpu_per_s.len() < part.health.cpu_per_s.len() {
            self.cpu_per_s.resize(part.health.cpu_per_s.len(), 0.0);
        }
        for (a, b) in self.cpu_per_s.iter_mut().zip(&part.health.cpu_per_s) {
            *a += b;
        }
        self.worker_threads += part.worker_threads;
        self.cpu_excludes_mock |= part.cpu_excludes_mock;
        self.add_guard(&part.guard);
        let tag = format!("shard {}/{}", r.shard.index, count);
        self.warnings
            .extend(part.run_warnings.iter().map(|w| format!("{tag}: {w}")));
        self.status = Some(worse(self.status.unwrap_or(RunStatus::Complete), r.status));
        if r.finished_at > self.finished_at {
            self.finished_at = r.finished_at.clone();
        }
        if self.aborted_by.is_none() {
            self.aborted_by = r.aborted_by.as_ref().map(|a| format!("{tag}: {a}"));
        }
        if !r.validity.valid {
            for why in &r.validity.reasons {
                self.invalid.push(format!("{tag} was invalid: {why}"));
            }
        }
        self.summaries.push(ShardSummary {
            index: r.shard.index,
            file: path.display().to_string(),
            records_file: r.records_file.clone(),
            host: r.host.clone(),
            status: r.status,
            valid: r.validity.valid,
            reasons: r.validity.reasons.clone(),
            arrivals_in_window: r.load.arrivals_in_window,
            ready_before_start_s: part.ready_before_start_s,
            clock: part.clock.clone(),
            finished_at: r.finished_at.clone(),
            transport: r.transport.clone(),
        });
        Ok(())
    }

    /// Sums the guard counts, keeping the largest excess of all shards.
    fn add_guard(&mut self, g: &GuardState) {
        self.guard.over_window += g.over_window;
        self.guard.skipped += g.skipped;
        if let Some(o) = &g.largest {
            let excess = |o: &crate::results::guard::Offender| {
                (o.prompt_tokens + o.max_tokens as u64).saturating_sub(o.context_window)
            };
            if self
                .guard
                .largest
                .as_ref()
                .is_none_or(|g| excess(o) > excess(g))
            {
                self.guard.largest = Some(o.clone());
            }
        }
    }
}

/// How a merged run ended: interrupted when any shard was, else aborted when any was.
fn worse(a: RunStatus, b: RunStatus) -> RunStatus {
    match (a, b) {
        (RunStatus::Interrupted, _) | (_, RunStatus::Interrupted) => RunStatus::Interrupted,
        (RunStatus::Aborted, _) | (_, RunStatus::Aborted) => RunStatus::Aborted,
        _ => RunStatus::Complete,
    }
}

/// Shards on one host share its clock; across hosts, an unsynchronised clock can start a
/// stripe out of step with the others by as much as the clock is off.
fn clock_warnings(summaries: &[ShardSummary], count: u32) -> Vec<String> {
    let hosts: std::collections::BTreeSet<&str> =
        summaries.iter().map(|x| x.host.hostname.as_str()).collect();
    if hosts.len() <= 1 {
        return Vec::new();
    }
    summaries
        .iter()
        .filter(|x| !x.clock.synchronized)
        .map(|x| {
            format!(
                "shard {}/{count} ({}): the host clock was not synchronised (NTP); its stripe may have started out of step with the others by up to {} ms",
                x.index,
                x.host.hostname,
                x.clock
                    .max_error_ms
                    .map_or("an unknown number of".to_string(), |m| format!("{m:.0}"))
            )
        })
        .collect()
}

/// All N shards, once each, of one run.
fn check_set(shards: &[(PathBuf, RunResult, Partial)]) -> Result<(), MergeError> {
    let name = |p: &Path| p.display().to_string();
    let (p0, r0, part0) = &shards[0];
    for (p, r, part) in &shards[1..] {
        if r.schema_version != r0.schema_version {
            return Err(MergeError(format!(
                "schema versions differ: {} has {}, {} has {}",
                name(p0),
                r0.schema_version,
                name(p),
                r.schema_version
            )));
        }
        if part.plan_hash != part0.plan_hash {
            return Err(MergeError(format!(
                "plan hashes differ: {} has {}, {} has {} — these shards ran different scenarios, seeds or shard counts",
                name(p0),
                part0.plan_hash,
                name(p),
                part.plan_hash
            )));
        }
        if r.run_id != r0.run_id || part.start_at != part0.start_at {
            return Err(MergeError(format!(
                "shards of different runs: {} is run {} (start {}), {} is run {} (start {})",
                name(p0),
                r0.run_id,
                part0.start_at,
                name(p),
                r.run_id,
                part.start_at
            )));
        }
    }
    let count = r0.shard.count;
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for (p, r, _) in shards {
        if r.shard.count != count || r.shard.index >= count {
            return Err(MergeError(format!(
                "{} is shard {}/{}, but {} is one of {count}",
                name(p),
                r.shard.index,
                r.shard.count,
                name(p0)
            )));
        }
        if let Some(other) = seen.insert(r.shard.index, p) {
            return Err(MergeError(format!(
                "shard {}/{count} appears twice: {} and {}",
                r.shard.index,
                name(other),
                name(p)
            )));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        let given: Vec<String> = shards.iter().map(|(p, _, _)| name(p)).collect();
        return Err(MergeError(format!(
            "missing shard(s) {} of run {}: given {}",
            missing.join(", "),
            r0.run_id,
            given.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_flag_parses_and_refuses_out_of_range() {
        assert_eq!(
            parse_shard("3/8").unwrap(),
            ShardPart { index: 3, count: 8 }
        );
        assert!(parse_shard("8/8").unwrap_err().contains("out of range"));
        assert!(parse_shard("0/0").unwrap_err().contains("at least 1"));
        assert!(parse_shard("a/2").is_err());
        assert!(parse_shard("3").is_err());
    }

    #[test]
    fn shares_add_up_without_remainder_lost() {
        for n in [0u32, 1, 5, 7, 31, 100, 1001] {
            for count in 1..=9u32 {
                let total: u32 = (0..count)
                    .map(|index| ShardPart { index, count }.share(n))
                    .sum();
                assert_eq!(total, n, "n={n} count={count}");
                let shares: Vec<u32> = (0..count)
                    .map(|index| ShardPart { index, count }.share(n))
                    .collect();
                let (lo, hi) = (shares.iter().min().unwrap(), shares.iter().max().unwrap());
                assert!(hi - lo <= 1, "{shares:?}");
            }
        }
    }

    #[test]
    fn the_plan_hash_ignores_the_path_but_not_the_content_seed_or_count() {
        let frame: PlanOutline = serde_json::from_value(serde_json::json!({
            "scenario": {"name": "x", "path": "scenarios/x.toml", "sha256": "ab", "seed": 1},
            "slo": {}, "slo_set": false, "daily_requests": null, "models": [],
            "mode": "open", "arrival": "poisson", "burstiness": null, "concurrency": null,
            "on_full": "queue", "max_in_flight": 10, "warmup_s": 0.0, "cooldown_s": 0.0,
            "classes": [], "sessions_max_turns": null, "routes": [], "fallback": null,
            "context_guard": null
        }))
        .expect("a frame");
        let base = plan_hash(&frame, 4);
        let mut moved = frame.clone();
        moved.scenario.path = "/config/scenario.toml".into();
        assert_eq!(plan_hash(&moved, 4), base);
        assert_ne!(plan_hash(&frame, 3), base);
        let mut other = frame.clone();
        other.scenario.seed = 2;
        assert_ne!(plan_hash(&other, 4), base);
        let mut edited = frame.clone();
        edited.scenario.sha256 = "cd".into();
        assert_ne!(plan_hash(&edited, 4), base);
        let mut capped = frame;
        capped.max_in_flight = 11;
        assert_ne!(plan_hash(&capped, 4), base);
    }

    #[test]
    fn late_start_is_refused_beyond_the_tolerance() {
        let at = parse_instant("2026-12-01T10:00:00Z").unwrap();
        let tol = Duration::from_secs(1);
        assert!(check_start(at, at - Duration::from_secs(60), tol).is_ok());
        assert!(check_start(at, at + Duration::from_millis(900), tol).is_ok());
        let e = check_start(at, at + Duration::from_secs(3), tol).unwrap_err();
        assert!(e.contains("passed 3.000 s ago"), "{e}");
        assert!(parse_instant("tomorrow").is_err());
        assert_eq!(rfc3339(at), "2026-12-01T10:00:00Z");
    }

    #[test]
    fn a_merged_run_ended_as_its_worst_shard() {
        use RunStatus::*;
        assert_eq!(worse(Complete, Complete), Complete);
        assert_eq!(worse(Complete, Aborted), Aborted);
        assert_eq!(worse(Aborted, Interrupted), Interrupted);
        assert_eq!(worse(Interrupted, Complete), Interrupted);
    }

    #[test]
    fn the_guard_sum_keeps_the_largest_excess_of_all_shards() {
        let offender = |prompt: u64, max: u32, window: u64| crate::results::guard::Offender {
            model: "m".into(),
            class: "c".into(),
            prompt_tokens: prompt,
            max_tokens: max,
            context_window: window,
        };
        let mut sum = Sum::default();
        for (over, largest) in [
            (3, offender(9_000, 500, 8_192)),
            (2, offender(8_000, 100, 4_096)),
        ] {
            sum.add_guard(&GuardState {
                over_window: over,
                skipped: 1,
                largest: Some(largest),
            });
        }
        sum.add_guard(&GuardState::default());
        assert_eq!((sum.guard.over_window, sum.guard.skipped), (5, 2));
        // 8,100 − 4,096 = 4,004 exceeds 9,500 − 8,192 = 1,308.
        assert_eq!(sum.guard.largest, Some(offender(8_000, 100, 4_096)));
    }

    #[test]
    fn unsynchronised_clocks_are_named_only_across_hosts() {
        let shard = |index: u32, host: &str, synchronized: bool| ShardSummary {
            index,
            file: format!("s{index}.json"),
            records_file: None,
            host: Host {
                hostname: host.into(),
                os: "linux".into(),
                arch: "x86_64".into(),
                cpus: 2,
            },
            status: RunStatus::Complete,
            valid: true,
            reasons: Vec::new(),
            arrivals_in_window: 1,
            ready_before_start_s: 0.5,
            clock: ClockInfo {
                synchronized,
                max_error_ms: (!synchronized && index == 1).then_some(16_000.0),
                ..ClockInfo::default()
            },
            finished_at: String::new(),
            transport: Vec::new(),
        };
        let one_host = [shard(0, "a", false), shard(1, "a", false)];
        assert!(clock_warnings(&one_host, 2).is_empty());
        let w = clock_warnings(
            &[
                shard(0, "a", true),
                shard(1, "b", false),
                shard(2, "c", false),
            ],
            3,
        );
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("shard 1/3 (b): the host clock was not synchronised"));
        assert!(w[0].ends_with("by up to 16000 ms"), "{}", w[0]);
        assert!(
            w[1].ends_with("by up to an unknown number of ms"),
            "{}",
            w[1]
        );
    }
}
