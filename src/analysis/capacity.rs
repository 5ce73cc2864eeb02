//! `llmload plan`: from a measured result (ideally a capacity sweep) and a daily token volume,
//! the request rates that volume implies, whether the endpoint holds the peak within SLO, the
//! streams in flight needed, and the projected cost per model against a baseline price.
//!
//! Pure functions over a [`RunResult`]; every figure is defined in docs/capacity.md.

use serde::{Deserialize, Serialize};

use crate::config::prices::Catalog;
use crate::config::prices::Price;
use crate::core::metric::Metric;
use crate::core::table::{self as layout, Align, Layout};
use crate::results::sweep::{StepKind, Sweep};
use crate::results::{ModelResult, RunResult, RunStatus};

/// Seconds in a day.
pub const SECONDS_PER_DAY: f64 = 86_400.0;
/// Days in a "month" for the monthly figures (a flat 30, not 30.44: a planner's month).
pub const DAYS_PER_MONTH: f64 = 30.0;

/// What the planner asks.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacityInput {
    /// Input tokens per day, all models together.
    pub daily_input_tokens: f64,
    /// Output tokens per day; None: derived from the measured output/input ratio.
    pub daily_output_tokens: Option<f64>,
    /// Peak rate / average rate; None means 1 (flat), and the report says so.
    pub peak_to_average: Option<f64>,
    /// Prices to compare against (name, price).
    pub baseline: Option<(String, Price)>,
    /// Headroom wanted at peak, as a fraction (0.3 = 30 %).
    pub headroom_target: Option<f64>,
}

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CapacityError {
    /// The result has no usable workload mix.
    #[error("{0}")]
    NoMix(String),
    /// The input is unusable.
    #[error("{0}")]
    Input(String),
}

/// The plan.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityPlan {
    /// The result planned from.
    pub source: SourceInfo,
    /// Daily volume and the rates it implies.
    pub volume: Volume,
    /// Per model: measured mix, daily volume and cost.
    pub models: Vec<ModelCapacity>,
    /// Whether the endpoint holds the peak, and the concurrency needed.
    pub capacity: Capacity,
    /// Cost totals.
    pub cost: CostTotals,
    /// The baseline price and the saving against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineCost>,
    /// Things the reader should know (missing prices, an invalid result, assumptions).
    pub notes: Vec<String>,
    /// Per model, the account quota the run's responses stated and the headroom the planned
    /// peak leaves (empty when no response carried quota headers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quota: Vec<crate::analysis::quota::QuotaHeadroom>,
}

/// The result file planned from.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Path as given.
    pub path: String,
    /// Scenario name.
    pub scenario: String,
    /// Run id.
    pub run_id: String,
    /// Whether the run completed.
    pub complete: bool,
    /// Whether the run was valid (the generator was not the bottleneck).
    pub valid: bool,
    /// Whether the result carries a capacity sweep.
    pub sweep: bool,
}

/// Volume and rates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    /// Input tokens per day (given).
    pub daily_input_tokens: f64,
    /// Output tokens per day.
    pub daily_output_tokens: f64,
    /// `given`, or `measured ratio` (daily input × measured output / measured input).
    pub daily_output_from: String,
    /// Measured input tokens per request sent, all models.
    pub mean_input_tokens_per_request: f64,
    /// Measured output tokens per request sent, all models.
    pub mean_output_tokens_per_request: f64,
    /// Requests per day: daily input / mean input per request.
    pub daily_requests: f64,
    /// Peak / average.
    pub peak_to_average: f64,
    /// Whether `peak_to_average` was given (else 1 was assumed).
    pub peak_to_average_given: bool,
    /// Requests per second, averaged over the day.
    pub average_rate_per_s: f64,
    /// Average × peak-to-average.
    pub peak_rate_per_s: f64,
    /// Input tokens per second, average.
    pub average_input_tokens_per_s: f64,
    /// Input tokens per second at peak.
    pub peak_input_tokens_per_s: f64,
    /// Output tokens per second, average.
    pub average_output_tokens_per_s: f64,
    /// Output tokens per second at peak.
    pub peak_output_tokens_per_s: f64,
}

/// One model's share and cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCapacity {
    /// Model id.
    pub model: String,
    /// Label.
    pub label: String,
    /// Measured requests sent.
    pub measured_requests: u64,
    /// Measured input tokens.
    pub measured_input_tokens: u64,
    /// Measured output tokens.
    pub measured_output_tokens: u64,
    /// Measured cached input tokens (part of the input).
    pub measured_cached_input_tokens: u64,
    /// Share of measured requests sent.
    pub request_share: f64,
    /// Share of measured input tokens.
    pub input_share: f64,
    /// Share of measured output tokens.
    pub output_share: f64,
    /// Measured input tokens per request sent (None: no request sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_input_tokens_per_request: Option<f64>,
    /// Measured output tokens per request sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_output_tokens_per_request: Option<f64>,
    /// Daily input × input share.
    pub daily_input_tokens: f64,
    /// Of those, cached: daily input × measured cached / measured input.
    pub daily_cached_input_tokens: f64,
    /// Daily output × output share.
    pub daily_output_tokens: f64,
    /// Daily requests × request share.
    pub daily_requests: f64,
    /// This model's peak request rate (its daily requests / 86,400 × peak-to-average).
    pub peak_rate_per_s: f64,
    /// Price used (USD per million tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Price>,
    /// Where the price came from: `result` (the scenario's price) or `catalog:<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_from: Option<String>,
    /// Input cost per day (cached input at the cached price when one is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_day_usd: Option<f64>,
    /// Output cost per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_day_usd: Option<f64>,
    /// Input + output per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day_usd: Option<f64>,
    /// Per day × 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_month_usd: Option<f64>,
}

/// Totals over models (None when a model with traffic has no price).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostTotals {
    /// Days in a month for the monthly figures.
    pub days_per_month: f64,
    /// Sum of input cost per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_per_day_usd: Option<f64>,
    /// Sum of output cost per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_per_day_usd: Option<f64>,
    /// Total per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day_usd: Option<f64>,
    /// Total per month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_month_usd: Option<f64>,
    /// Models with traffic but no price in the result or the catalog (labels).
    pub missing_prices: Vec<String>,
}

/// The same volume at one baseline price.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineCost {
    /// Name given (catalog id, or `IN/OUT`).
    pub name: String,
    /// The price.
    pub price: Price,
    /// Daily input × input price + daily output × output price.
    pub per_day_usd: f64,
    /// Per day × 30.
    pub per_month_usd: f64,
    /// Baseline − total, per day (None without a total).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saving_per_day_usd: Option<f64>,
    /// Per month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saving_per_month_usd: Option<f64>,
    /// Saving / baseline × 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saving_pct: Option<f64>,
}

/// A sweep step the plan used.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRef {
    /// Index in `sweep.steps` (0-based).
    pub index: usize,
    /// Kind of step.
    pub kind: StepKind,
    /// Offered rate (requests/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rate_per_s: Option<f64>,
    /// Completed requests/s.
    pub completed_per_s: f64,
    /// SLO attainment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_attainment: Option<f64>,
    /// Mean E2E (ms) of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_mean_ms: Option<f64>,
    /// Mean in flight, measured.
    pub in_flight_mean: f64,
    /// Little's law in flight.
    pub littles_law_in_flight: f64,
    /// Step valid.
    pub valid: bool,
}

/// The single run's load, when there is no sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasuredLoad {
    /// Offered rate (requests/s; None for a closed loop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_rate_per_s: Option<f64>,
    /// Successful requests per second completed in the window.
    pub completed_per_s: f64,
    /// Overall SLO attainment (None without an SLO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo_attainment: Option<f64>,
    /// Overall mean E2E (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_mean_ms: Option<f64>,
    /// Completed/s × mean E2E: streams in flight at the measured load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub littles_law_in_flight: Option<f64>,
}

/// Capacity at peak.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Capacity {
    /// `sweep` or `single run`.
    pub basis: String,
    /// The peak rate the volume needs (requests/s).
    pub peak_rate_per_s: f64,
    /// The sweep's highest rate within SLO (requests/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate_within_slo_per_s: Option<f64>,
    /// SLO attainment a sweep step needed to count as within SLO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_attainment: Option<f64>,
    /// The sweep's saturation throughput (requests/s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_throughput_per_s: Option<f64>,
    /// peak ≤ max rate within SLO (None: not known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds_peak: Option<bool>,
    /// (max rate within SLO / peak − 1) × 100; negative: the shortfall.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom_pct: Option<f64>,
    /// Endpoints (replicas) of the measured sustainable rate the peak needs:
    /// ceil(peak rate / sustainable rate per endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints_needed: Option<u64>,
    /// Headroom those endpoints leave at peak: (endpoints × sustainable rate / peak − 1) × 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints_headroom_pct: Option<f64>,
    /// Endpoints needed to keep the headroom target: ceil(peak × (1 + target) / sustainable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints_for_headroom_target: Option<u64>,
    /// Headroom wanted (%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headroom_target_pct: Option<f64>,
    /// headroom ≥ target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meets_headroom_target: Option<bool>,
    /// Streams in flight needed at peak: peak rate × mean E2E (s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_at_peak: Option<f64>,
    /// Where the E2E behind `concurrency_at_peak` came from, in words.
    pub concurrency_basis: String,
    /// The sweep step used for the concurrency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepRef>,
    /// The single run's own load (no sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<MeasuredLoad>,
    /// The answer in one sentence.
    pub verdict: String,
    /// What this result cannot answer (a single run: whether the peak holds, headroom).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cannot_answer: Vec<String>,
}

/// Parses a token volume: a plain number (`50000000`, `50_000_000`, `5e7`) or a number with one
/// suffix `K`/`k` (thousand), `M` (million), `B` or `G` (billion). `flag` names it in errors.
pub fn parse_volume(flag: &str, text: &str) -> Result<f64, String> {
    let forms = "write a plain number (50000000, 50_000_000) or a number with one suffix K (thousand), M (million), B or G (billion), e.g. 50M or 2.5K";
    let t = text.trim();
    let bad = |why: &str| format!("{flag}: `{text}` {why}; {forms}");
    if t.is_empty() {
        return Err(bad("is empty"));
    }
    let (num, mult) = match t.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => {
            let mult = match c {
                'k' | 'K' => 1e3,
                'M' => 1e6,
                'B' | 'G' => 1e9,
                'm' => {
                    return Err(bad(
                        "uses `m`, which could mean milli; for million write `M`",
                    ))
                }
                _ => return Err(bad(&format!("has an unknown suffix `{c}`"))),
            };
            (&t[..t.len() - 1], mult)
        }
        _ => (t, 1.0),
    };
    if num.is_empty()
        || !num
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '_' | 'e' | 'E' | '-' | '+'))
        || num.starts_with(['e', 'E', '_'])
    {
        return Err(bad("is not a token volume"));
    }
    let clean: String = num.chars().filter(|&c| c != '_').collect();
    let v: f64 = clean.parse().map_err(|_| bad("is not a token volume"))?;
    let v = v * mult;
    if !v.is_finite() {
        return Err(bad("is out of range"));
    }
    if v < 0.0 {
        return Err(bad("is negative"));
    }
    Ok(v)
}

/// Parses `--baseline-prices`: `IN/OUT` in USD per million tokens (`2.50/10.00`, `$2.5/$10`)
/// or a model id or alias from the catalog.
pub fn parse_baseline(text: &str, catalog: &Catalog) -> Result<(String, Price), String> {
    let t = text.trim();
    if let Some((i, o)) = t.split_once('/') {
        let num = |s: &str| -> Option<f64> {
            let v: f64 = s.trim().trim_start_matches('$').trim().parse().ok()?;
            (v.is_finite() && v >= 0.0).then_some(v)
        };
        if let (Some(i), Some(o)) = (num(i), num(o)) {
            return Ok((
                format!("${i}/${o} per M"),
                Price {
                    input_per_m: i,
                    output_per_m: o,
                    cached_input_per_m: None,
                },
            ));
        }
    }
    if let Some(e) = catalog.lookup(t) {
        return Ok((e.id.clone(), e.price));
    }
    let names: Vec<&str> = catalog.entries.iter().map(|e| e.id.as_str()).collect();
    Err(format!(
        "--baseline-prices: `{text}` is neither IN/OUT in USD per million tokens (e.g. 2.50/10.00) nor a model in the price catalog ({})",
        names.join(", ")
    ))
}

fn ratio(n: f64, d: f64) -> f64 {
    if d > 0.0 {
        n / d
    } else {
        0.0
    }
}

fn e2e_mean_ms(m: &ModelResult) -> Option<f64> {
    m.latency_ms
        .get(Metric::E2e.as_str())
        .filter(|s| s.count > 0 && s.mean.is_finite())
        .map(|s| s.mean)
}

/// The price for a result's model: the result's own (the scenario's), else the catalog's by id,
/// else by label.
fn price_for(m: &ModelResult, catalog: &Catalog) -> Option<(Price, String)> {
    if let Some(p) = m.cost.as_ref().and_then(|c| c.price) {
        return Some((p, "result".into()));
    }
    catalog
        .lookup(&m.model)
        .or_else(|| catalog.lookup(&m.label))
        .map(|e| (e.price, format!("catalog:{}", e.id)))
}

/// The measured totals over every model: requests sent, input and output tokens.
struct Mix {
    sent: u64,
    tin: u64,
    tout: u64,
}

/// Checks the planner's figures; returns the peak-to-average ratio and the note saying it was
/// assumed, if it was.
fn check_input(input: &CapacityInput) -> Result<(f64, Vec<String>), CapacityError> {
    if !(input.daily_input_tokens.is_finite() && input.daily_input_tokens > 0.0) {
        return Err(CapacityError::Input(
            "--daily-input-tokens must be more than 0".into(),
        ));
    }
    if let Some(o) = input.daily_output_tokens {
        if !(o.is_finite() && o >= 0.0) {
            return Err(CapacityError::Input(
                "--daily-output-tokens must be 0 or more".into(),
            ));
        }
    }
    let p2a = input.peak_to_average.unwrap_or(1.0);
    if !(p2a.is_finite() && p2a >= 1.0) {
        return Err(CapacityError::Input(format!(
            "--peak-to-average must be a number ≥ 1 (peak rate / average rate), got {p2a}"
        )));
    }
    let mut notes = Vec::new();
    if input.peak_to_average.is_none() {
        notes.push(
            "no --peak-to-average given: the peak is taken to equal the average (a flat day); real traffic usually peaks at 2-4× its daily average".into(),
        );
    }
    Ok((p2a, notes))
}

/// One model's share of the measured mix, its daily volume and, with a price, its cost.
fn model_plan(m: &ModelResult, mix: &Mix, volume: &Volume, catalog: &Catalog) -> ModelCapacity {
    let Mix { sent, tin, tout } = *mix;
    let (daily_in, daily_out) = (volume.daily_input_tokens, volume.daily_output_tokens);
    let (daily_requests, p2a) = (volume.daily_requests, volume.peak_to_average);
    let t = &m.tokens;
    let in_share = ratio(t.input as f64, tin as f64);
    let out_share = ratio(t.output as f64, tout as f64);
    let req_share = ratio(m.requests.sent as f64, sent as f64);
    let (mean_i, mean_o) = if m.requests.sent > 0 {
        (
            Some(t.input as f64 / m.requests.sent as f64),
            Some(t.output as f64 / m.requests.sent as f64),
        )
    } else {
        (None, None)
    };
    let d_in = daily_in * in_share;
    let cached_frac = ratio(t.cached_input.min(t.input) as f64, t.input as f64);
    let d_cached = d_in * cached_frac;
    let d_out = daily_out * out_share;
    let d_req = daily_requests * req_share;
    let price = price_for(m, catalog);
    let costs = price.as_ref().map(|(p, _)| {
        let input = match p.cached_input_per_m {
            Some(c) => (d_in - d_cached) * p.input_per_m / 1e6 + d_cached * c / 1e6,
            None => d_in * p.input_per_m / 1e6,
        };
        let output = d_out * p.output_per_m / 1e6;
        (input, output)
    });
    let traffic = d_in > 0.0 || d_out > 0.0;
    let (ci, co) = match costs {
        Some((i, o)) => (Some(i), Some(o)),
        None if !traffic => (Some(0.0), Some(0.0)),
        None => (None, None),
    };
    let per_day = ci.zip(co).map(|(i, o)| i + o);
    ModelCapacity {
        model: m.model.clone(),
        label: m.label.clone(),
        measured_requests: m.requests.sent,
        measured_input_tokens: t.input,
        measured_output_tokens: t.output,
        measured_cached_input_tokens: t.cached_input,
        request_share: req_share,
        input_share: in_share,
        output_share: out_share,
        mean_input_tokens_per_request: mean_i,
        mean_output_tokens_per_request: mean_o,
        daily_input_tokens: d_in,
        daily_cached_input_tokens: d_cached,
        daily_output_tokens: d_out,
        daily_requests: d_req,
        peak_rate_per_s: d_req / SECONDS_PER_DAY * p2a,
        price: price.as_ref().map(|(p, _)| *p),
        price_from: price.map(|(_, s)| s),
        input_per_day_usd: ci,
        output_per_day_usd: co,
        per_day_usd: per_day,
        per_month_usd: per_day.map(|d| d * DAYS_PER_MONTH),
    }
}

/// The cost over every model; none where a model with traffic has no price.
fn cost_totals(models: &[ModelCapacity], missing: Vec<String>) -> CostTotals {
    let sum = |f: fn(&ModelCapacity) -> Option<f64>| -> Option<f64> {
        if missing.is_empty() {
            Some(models.iter().filter_map(f).sum())
        } else {
            None
        }
    };
    let total_day = sum(|m| m.per_day_usd);
    CostTotals {
        days_per_month: DAYS_PER_MONTH,
        input_per_day_usd: sum(|m| m.input_per_day_usd),
        output_per_day_usd: sum(|m| m.output_per_day_usd),
        per_day_usd: total_day,
        per_month_usd: total_day.map(|d| d * DAYS_PER_MONTH),
        missing_prices: missing,
    }
}

/// The whole daily volume at the baseline price, and the saving against the planned total.
fn baseline_cost(name: &str, p: &Price, v: &Volume, total_day: Option<f64>) -> BaselineCost {
    let per_day =
        v.daily_input_tokens * p.input_per_m / 1e6 + v.daily_output_tokens * p.output_per_m / 1e6;
    let saving = total_day.map(|t| per_day - t);
    BaselineCost {
        name: name.to_string(),
        price: *p,
        per_day_usd: per_day,
        per_month_usd: per_day * DAYS_PER_MONTH,
        saving_per_day_usd: saving,
        saving_per_month_usd: saving.map(|s| s * DAYS_PER_MONTH),
        saving_pct: saving.and_then(|s| (per_day > 0.0).then(|| 100.0 * s / per_day)),
    }
}

/// Makes the plan. `source.path` is left empty for the caller to fill in.
pub fn capacity_plan(
    result: &RunResult,
    input: &CapacityInput,
    catalog: &Catalog,
) -> Result<CapacityPlan, CapacityError> {
    let (p2a, mut notes) = check_input(input)?;
    if result.models.is_empty() {
        return Err(CapacityError::NoMix(
            "the result has no models: no workload mix to plan from".into(),
        ));
    }

    // The measured mix, summed over models.
    let sent: u64 = result.models.iter().map(|m| m.requests.sent).sum();
    let tin: u64 = result.models.iter().map(|m| m.tokens.input).sum();
    let tout: u64 = result.models.iter().map(|m| m.tokens.output).sum();
    if sent == 0 || tin == 0 {
        return Err(CapacityError::NoMix(format!(
            "the result measured {sent} requests sent and {tin} input tokens: no workload mix to derive requests per day from (was anything sent inside the measurement window?)"
        )));
    }
    let mix = Mix { sent, tin, tout };
    let mean_in = tin as f64 / sent as f64;
    let mean_out = tout as f64 / sent as f64;
    let daily_in = input.daily_input_tokens;
    let (daily_out, out_from) = match input.daily_output_tokens {
        Some(o) => (o, "given"),
        None => (daily_in * tout as f64 / tin as f64, "measured ratio"),
    };
    if daily_out > 0.0 && tout == 0 {
        return Err(CapacityError::NoMix(
            "the result measured no output tokens, so daily output tokens cannot be split by model"
                .into(),
        ));
    }
    let daily_requests = daily_in / mean_in;
    let avg = daily_requests / SECONDS_PER_DAY;
    let peak = avg * p2a;
    let volume = Volume {
        daily_input_tokens: daily_in,
        daily_output_tokens: daily_out,
        daily_output_from: out_from.into(),
        mean_input_tokens_per_request: mean_in,
        mean_output_tokens_per_request: mean_out,
        daily_requests,
        peak_to_average: p2a,
        peak_to_average_given: input.peak_to_average.is_some(),
        average_rate_per_s: avg,
        peak_rate_per_s: peak,
        average_input_tokens_per_s: daily_in / SECONDS_PER_DAY,
        peak_input_tokens_per_s: daily_in / SECONDS_PER_DAY * p2a,
        average_output_tokens_per_s: daily_out / SECONDS_PER_DAY,
        peak_output_tokens_per_s: daily_out / SECONDS_PER_DAY * p2a,
    };
    if let Some(o) = input.daily_output_tokens {
        let implied = daily_in * tout as f64 / tin as f64;
        if implied > 0.0 && ((o / implied) - 1.0).abs() > 0.25 {
            notes.push(format!(
                "the given output volume ({o:.0}/day) differs by more than 25 % from what the measured mix implies ({implied:.0}/day): the measured requests are not shaped like the planned traffic, so rates and concurrency (derived from input tokens per request) may be off"
            ));
        }
    }

    // Per model.
    let mut models = Vec::new();
    let mut missing = Vec::new();
    let mut no_cached_price = Vec::new();
    for m in &result.models {
        let mp = model_plan(m, &mix, &volume, catalog);
        if mp.daily_cached_input_tokens > 0.0
            && mp.price.is_some_and(|p| p.cached_input_per_m.is_none())
        {
            no_cached_price.push(m.label.clone());
        }
        if mp.price.is_none() && (mp.daily_input_tokens > 0.0 || mp.daily_output_tokens > 0.0) {
            missing.push(m.label.clone());
        }
        models.push(mp);
    }
    if !missing.is_empty() {
        notes.push(format!(
            "no price for {}: not in the result (the scenario set none) nor in the price catalog; the total is not computed. Add them to a price file and pass --prices FILE (format: docs/capacity.md)",
            missing
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !no_cached_price.is_empty() {
        notes.push(format!(
            "the server reported cached input tokens for {} but no cached-input price is set: all input is costed at the full input price",
            no_cached_price.join(", ")
        ));
    }
    let cost = cost_totals(&models, missing);
    let baseline = input
        .baseline
        .as_ref()
        .map(|(name, p)| baseline_cost(name, p, &volume, cost.per_day_usd));

    let capacity = match &result.sweep {
        Some(sw) => sweep_capacity(sw, peak, input.headroom_target),
        None => single_run_capacity(result, peak, input.headroom_target),
    };

    if !result.validity.valid {
        notes.push(format!(
            "the result is marked invalid ({}): its rates and latencies may describe the load generator, not the endpoint",
            result.validity.reasons.join("; ")
        ));
    }
    if result.status == RunStatus::Interrupted {
        notes.push(
            "the run was interrupted: its figures cover only part of the planned window".into(),
        );
    }
    notes.push(format!(
        "a month is {DAYS_PER_MONTH} days; costs use the measured token mix and the prices shown, not the run's own cost projection"
    ));

    let quota = crate::analysis::quota::plan(&result.quota, |id| {
        let m = models.iter().find(|m| m.model == id)?;
        let tokens_per_s = (m.daily_input_tokens + m.daily_output_tokens) / SECONDS_PER_DAY * p2a;
        Some((m.peak_rate_per_s, tokens_per_s))
    });
    Ok(CapacityPlan {
        quota,
        source: SourceInfo {
            path: String::new(),
            scenario: result.scenario.name.clone(),
            run_id: result.run_id.clone(),
            complete: result.status == RunStatus::Complete,
            valid: result.validity.valid,
            sweep: result.sweep.is_some(),
        },
        volume,
        models,
        capacity,
        cost,
        baseline,
        notes,
    })
}

fn headroom(cap: f64, peak: f64, target: Option<f64>) -> (Option<f64>, Option<bool>) {
    if peak <= 0.0 {
        return (None, None);
    }
    let h = (cap / peak - 1.0) * 100.0;
    (Some(h), target.map(|t| h >= t * 100.0))
}

/// Endpoints of `per_endpoint` requests/s each that carry `load` requests/s:
/// ceil(load / per_endpoint), at least 1. A quotient within one part in 10⁹ of a whole number
/// counts as that number, so 10 / 5 is 2 endpoints, not 3.
pub fn endpoints_for(load: f64, per_endpoint: f64) -> Option<u64> {
    if !(load.is_finite() && per_endpoint.is_finite() && load > 0.0 && per_endpoint > 0.0) {
        return None;
    }
    let q = load / per_endpoint;
    let n = if (q - q.round()).abs() <= 1e-9 * q.max(1.0) {
        q.round()
    } else {
        q.ceil()
    };
    (n <= u64::MAX as f64).then(|| (n as u64).max(1))
}

fn sweep_capacity(sw: &Sweep, peak: f64, target: Option<f64>) -> Capacity {
    let cap = sw
        .knee
        .sustainable_rate_per_s
        .or(sw.knee.max_rate_within_slo);
    let endpoints = cap.and_then(|c| endpoints_for(peak, c));
    let endpoints_headroom = match (cap, endpoints) {
        (Some(c), Some(n)) if peak > 0.0 => Some((n as f64 * c / peak - 1.0) * 100.0),
        _ => None,
    };
    let endpoints_for_target = match (cap, target) {
        (Some(c), Some(t)) => endpoints_for(peak * (1.0 + t), c),
        _ => None,
    };
    let holds = cap.map(|c| peak <= c);
    let (head, meets) = match cap {
        Some(c) => headroom(c, peak, target),
        None => (None, None),
    };
    // The rate step nearest at or above the peak; else the highest.
    let rate_steps: Vec<(usize, f64)> = sw
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == StepKind::Rate)
        .filter_map(|(i, s)| s.offered_rate_per_s.map(|r| (i, r)))
        .collect();
    let at_or_above = rate_steps
        .iter()
        .filter(|(_, r)| *r >= peak)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .copied();
    let highest = rate_steps
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .copied();
    let chosen = at_or_above
        .map(|c| (c, true))
        .or(highest.map(|c| (c, false)));
    let (conc, basis, step) = match chosen {
        Some(((i, rate), above)) => {
            let s = &sw.steps[i];
            let e2e = e2e_mean_ms(&s.result.overall);
            let e2e_s = e2e.map(|ms| ms / 1e3).or_else(|| {
                (s.completed_per_s > 0.0).then(|| s.littles_law_in_flight / s.completed_per_s)
            });
            let where_ = if above {
                "the nearest at or above the peak"
            } else {
                "the highest measured; the peak is above every step, so latency there is likely higher and this is a lower bound"
            };
            let how = if e2e.is_some() {
                "its mean E2E"
            } else {
                "its Little's law in-flight / completed rate"
            };
            let invalid = if s.valid {
                ""
            } else {
                "; this step was INVALID: the generator, not the endpoint, limited it"
            };
            let basis = format!(
                "peak rate × mean E2E of sweep step {} (offered {rate:.2} req/s, {where_}; {how}{invalid})",
                i + 1
            );
            (
                e2e_s.map(|e| peak * e),
                basis,
                Some(StepRef {
                    index: i,
                    kind: s.kind,
                    offered_rate_per_s: s.offered_rate_per_s,
                    completed_per_s: s.completed_per_s,
                    slo_attainment: s.slo_attainment,
                    e2e_mean_ms: e2e,
                    in_flight_mean: s.in_flight_mean,
                    littles_law_in_flight: s.littles_law_in_flight,
                    valid: s.valid,
                }),
            )
        }
        None => (
            None,
            "the sweep has no open-loop rate step to take a latency from".into(),
            None,
        ),
    };
    let verdict = match (cap, holds) {
        (Some(c), Some(true)) => format!(
            "holds the peak of {} req/s within SLO: the sweep's sustainable rate is {} req/s, {:.1} % headroom",
            rate(peak),
            rate(c),
            head.unwrap_or(0.0)
        ),
        (Some(c), _) => format!(
            "does NOT hold the peak of {} req/s within SLO: the sweep's sustainable rate is {} req/s, {:.1} % short",
            rate(peak),
            rate(c),
            -head.unwrap_or(0.0)
        ),
        (None, _) => format!(
            "unknown: the sweep found no sustainable rate (no rate step held); its saturation throughput was {} req/s against a peak of {} req/s",
            rate(sw.max_throughput_rps),
            rate(peak)
        ),
    };
    let verdict = match (cap, endpoints, endpoints_headroom) {
        (Some(c), Some(n), Some(h)) => format!(
            "{verdict}. The peak needs {n} endpoint{} of the measured {} req/s each ({} req/s together, {h:.1} % headroom){}",
            if n == 1 { "" } else { "s" },
            rate(c),
            rate(n as f64 * c),
            match (target, endpoints_for_target) {
                (Some(t), Some(m)) => format!(
                    "; {m} for the {:.0} % headroom target",
                    t * 100.0
                ),
                _ => String::new(),
            }
        ),
        _ => verdict,
    };
    Capacity {
        basis: "sweep".into(),
        peak_rate_per_s: peak,
        max_rate_within_slo_per_s: cap,
        required_attainment: Some(sw.knee.required_attainment),
        max_throughput_per_s: Some(sw.max_throughput_rps),
        holds_peak: holds,
        headroom_pct: head,
        endpoints_needed: endpoints,
        endpoints_headroom_pct: endpoints_headroom,
        endpoints_for_headroom_target: endpoints_for_target,
        headroom_target_pct: target.map(|t| t * 100.0),
        meets_headroom_target: meets,
        concurrency_at_peak: conc,
        concurrency_basis: basis,
        step,
        measured: None,
        verdict,
        cannot_answer: Vec::new(),
    }
}

fn single_run_capacity(r: &RunResult, peak: f64, target: Option<f64>) -> Capacity {
    let o = &r.overall;
    let e2e = e2e_mean_ms(o);
    let completed = o.throughput.requests_per_s;
    let attainment = o.slo.as_ref().map(|s| s.attainment);
    let measured = MeasuredLoad {
        offered_rate_per_s: r.load.offered_rate_per_s,
        completed_per_s: completed,
        slo_attainment: attainment,
        e2e_mean_ms: e2e,
        littles_law_in_flight: e2e.map(|ms| completed * ms / 1e3),
    };
    let at = match attainment {
        Some(a) => format!("{:.1} % of requests within SLO", a * 100.0),
        None => "no SLO set".into(),
    };
    let offered = match r.load.offered_rate_per_s {
        Some(o) => format!("{} req/s offered, ", rate(o)),
        None => "closed loop, ".into(),
    };
    let level = format!("{offered}{} req/s completed, {at}", rate(completed));
    let verdict = if peak <= completed {
        format!(
            "not known from a single run: it measured one load level ({level}), at or above the peak of {} req/s, which suggests the peak fits; but without a sweep there is no highest rate within SLO, so no headroom. Run `llmload sweep` on the scenario to find it",
            rate(peak)
        )
    } else {
        format!(
            "not known from a single run: it measured one load level ({level}), below the peak of {} req/s. Run `llmload sweep` on the scenario to find the highest rate within SLO",
            rate(peak)
        )
    };
    let mut cannot = vec![
        "whether the endpoint holds the peak within SLO (one load level measured, not the highest rate within SLO)".to_string(),
        "the headroom at peak".to_string(),
        "how latency, and so the concurrency needed, changes between the measured load and the peak".to_string(),
    ];
    if target.is_some() {
        cannot.push("whether the headroom target is met".into());
    }
    Capacity {
        basis: "single run".into(),
        peak_rate_per_s: peak,
        max_rate_within_slo_per_s: None,
        required_attainment: None,
        max_throughput_per_s: None,
        holds_peak: None,
        headroom_pct: None,
        endpoints_needed: None,
        endpoints_headroom_pct: None,
        endpoints_for_headroom_target: None,
        headroom_target_pct: target.map(|t| t * 100.0),
        meets_headroom_target: None,
        concurrency_at_peak: e2e.map(|ms| peak * ms / 1e3),
        concurrency_basis: format!(
            "ESTIMATE: peak rate × the single run's mean E2E ({}) at its measured load of {} req/s completed (Little's law); latency at the peak may differ",
            e2e.map(|v| format!("{v:.0} ms")).unwrap_or_else(|| "none measured".into()),
            rate(completed)
        ),
        step: None,
        measured: Some(measured),
        verdict,
        cannot_answer: cannot,
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering.

/// Output format of `llmload plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text tables.
    Table,
    /// Markdown tables.
    Markdown,
    /// The report as JSON.
    Json,
}

impl Format {
    /// Parses `table`, `markdown` (or `md`) or `json`.
    pub fn parse(s: &str) -> Result<Format, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" | "text" => Ok(Format::Table),
            "markdown" | "md" => Ok(Format::Markdown),
            "json" => Ok(Format::Json),
            _ => Err(format!(
                "--format: `{s}` is not a plan format; use table, markdown or json"
            )),
        }
    }
}

/// Thousands separators, no decimals.
fn int(v: f64) -> String {
    let neg = v < 0.0;
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if neg && out != "0" {
        format!("-{out}")
    } else {
        out
    }
}

/// USD with cents and thousands separators.
fn usd(v: f64) -> String {
    let cents = (v.abs() * 100.0).round();
    let whole = (cents / 100.0).trunc();
    let frac = cents - whole * 100.0;
    let sign = if v < 0.0 && cents > 0.0 { "-" } else { "" };
    format!("{sign}${}.{:02}", int(whole), frac as u64)
}

/// A rate with enough digits to read.
fn rate(v: f64) -> String {
    if v >= 100.0 {
        int(v)
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Streams in flight: two decimals below 10.
fn streams(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

fn pct(v: f64) -> String {
    format!("{v:.1} %")
}

fn opt(v: Option<f64>, f: fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "—".into())
}

fn price_text(p: &Price) -> String {
    let mut s = format!("{:.2} / {:.2}", p.input_per_m, p.output_per_m);
    if let Some(c) = p.cached_input_per_m {
        s.push_str(&format!(" (cached {c:.2})"));
    }
    s
}

struct Table {
    title: String,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    /// Right-align column (numbers).
    right: Vec<bool>,
}

impl Table {
    fn new(title: impl Into<String>, head: &[&str], right: &[bool]) -> Table {
        Table {
            title: title.into(),
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
            right: right.to_vec(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn layout(&self) -> Layout {
        let align = self
            .right
            .iter()
            .map(|&r| if r { Align::Right } else { Align::Left })
            .collect();
        Layout::columns(align)
    }

    fn text(&self, out: &mut String) {
        out.push_str(&self.title);
        out.push('\n');
        let layout = self.layout().indent("  ").split_rule();
        out.push_str(&layout::text(&self.head, &self.rows, &layout));
    }

    fn markdown(&self, out: &mut String) {
        out.push_str(&format!("### {}\n\n", self.title));
        out.push_str(&layout::markdown(&self.head, &self.rows, &self.layout()));
    }
}

impl CapacityPlan {
    /// Renders the report.
    pub fn render(&self, format: Format) -> String {
        if format == Format::Json {
            let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
            s.push('\n');
            return s;
        }
        let md = format == Format::Markdown;
        let mut out = String::new();
        let src = &self.source;
        let head = format!(
            "Capacity and cost plan from {} (scenario `{}`, run {}{})",
            if src.path.is_empty() {
                "a result"
            } else {
                &src.path
            },
            src.scenario,
            src.run_id,
            if src.sweep {
                ", with a sweep"
            } else {
                ", single run"
            }
        );
        if md {
            out.push_str(&format!("## {head}\n\n"));
        } else {
            out.push_str(&head);
            out.push_str("\n\n");
        }
        let tables = self.tables();
        for t in &tables {
            if md {
                t.markdown(&mut out);
            } else {
                t.text(&mut out);
            }
            out.push('\n');
        }
        let cap = &self.capacity;
        let verdict = format!("Capacity verdict ({}): {}.", cap.basis, cap.verdict);
        out.push_str(&verdict);
        out.push('\n');
        if let Some(c) = cap.concurrency_at_peak {
            out.push_str(&format!(
                "{}Streams in flight at peak: {} = {}.\n",
                if md { "\n" } else { "" },
                streams(c),
                cap.concurrency_basis
            ));
        }
        if !cap.cannot_answer.is_empty() {
            out.push_str(if md {
                "\nA single run cannot answer:\n\n"
            } else {
                "A single run cannot answer:\n"
            });
            for c in &cap.cannot_answer {
                out.push_str(&format!("{} {c}\n", if md { "-" } else { "  -" }));
            }
            out.push_str(if md {
                "\nIt can answer the volume, rates, mix, cost and saving above, and estimate concurrency at its own latency.\n"
            } else {
                "It can answer the volume, rates, mix, cost and saving above, and estimate concurrency at its own latency.\n"
            });
        }
        out.push_str(if md {
            "\nQuota at peak (server's x-ratelimit-* headers, limits per minute):\n\n"
        } else {
            "\nQuota at peak (server's x-ratelimit-* headers, limits per minute):\n"
        });
        for l in crate::analysis::quota::lines(&self.quota, if md { "- " } else { "  " }) {
            out.push_str(&l);
            out.push('\n');
        }
        if !self.notes.is_empty() {
            out.push_str(if md { "\nNotes:\n\n" } else { "\nNotes:\n" });
            for n in &self.notes {
                out.push_str(&format!("{} {n}\n", if md { "-" } else { "  -" }));
            }
        }
        out
    }

    fn tables(&self) -> Vec<Table> {
        let mut tables = vec![
            self.volume_table(),
            self.mix_table(),
            self.capacity_table(),
            self.cost_table(),
        ];
        tables.extend(self.baseline_table());
        tables
    }

    fn volume_table(&self) -> Table {
        let v = &self.volume;
        let p2a = format!(
            "peak /s (×{}{})",
            v.peak_to_average,
            if v.peak_to_average_given {
                ""
            } else {
                ", assumed"
            }
        );
        let mut t = Table::new(
            "Volume and rates",
            &["", "per day", "average /s", &p2a],
            &[false, true, true, true],
        );
        t.row(vec![
            "requests".into(),
            int(v.daily_requests),
            rate(v.average_rate_per_s),
            rate(v.peak_rate_per_s),
        ]);
        t.row(vec![
            "input tokens".into(),
            int(v.daily_input_tokens),
            rate(v.average_input_tokens_per_s),
            rate(v.peak_input_tokens_per_s),
        ]);
        t.row(vec![
            format!(
                "output tokens{}",
                if v.daily_output_from == "given" {
                    ""
                } else {
                    " (from measured ratio)"
                }
            ),
            int(v.daily_output_tokens),
            rate(v.average_output_tokens_per_s),
            rate(v.peak_output_tokens_per_s),
        ]);
        t
    }

    fn mix_table(&self) -> Table {
        let v = &self.volume;
        let mut t = Table::new(
            format!(
                "Measured workload mix (mean {:.1} input, {:.1} output tokens per request)",
                v.mean_input_tokens_per_request, v.mean_output_tokens_per_request
            ),
            &[
                "model",
                "requests",
                "input share",
                "output share",
                "in tok/req",
                "out tok/req",
                "requests/day",
                "peak /s",
            ],
            &[false, true, true, true, true, true, true, true],
        );
        for m in &self.models {
            t.row(vec![
                m.label.clone(),
                m.measured_requests.to_string(),
                pct(m.input_share * 100.0),
                pct(m.output_share * 100.0),
                opt(m.mean_input_tokens_per_request, |x| format!("{x:.1}")),
                opt(m.mean_output_tokens_per_request, |x| format!("{x:.1}")),
                int(m.daily_requests),
                rate(m.peak_rate_per_s),
            ]);
        }
        t
    }

    fn capacity_table(&self) -> Table {
        let c = &self.capacity;
        let mut t = Table::new(
            format!("Capacity at peak ({})", c.basis),
            &["figure", "value"],
            &[false, true],
        );
        t.row(vec![
            "peak rate needed".into(),
            format!("{} req/s", rate(c.peak_rate_per_s)),
        ]);
        if c.basis == "sweep" {
            t.row(vec![
                "sustainable rate per endpoint (sweep)".into(),
                opt(c.max_rate_within_slo_per_s, |x| {
                    format!("{} req/s", rate(x))
                }),
            ]);
            if let Some(a) = c.required_attainment {
                t.row(vec!["SLO attainment required".into(), pct(a * 100.0)]);
            }
            if let Some(x) = c.max_throughput_per_s {
                t.row(vec![
                    "saturation throughput".into(),
                    format!("{} req/s", rate(x)),
                ]);
            }
            t.row(vec![
                "holds the peak".into(),
                match c.holds_peak {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => "unknown".into(),
                },
            ]);
            t.row(vec!["headroom at peak".into(), opt(c.headroom_pct, pct)]);
            if let (Some(n), Some(h)) = (c.endpoints_needed, c.endpoints_headroom_pct) {
                t.row(vec![
                    "endpoints needed at peak".into(),
                    format!("{n} ({} headroom)", pct(h)),
                ]);
            }
            if let (Some(m), Some(tp)) = (c.endpoints_for_headroom_target, c.headroom_target_pct) {
                t.row(vec![
                    format!("endpoints for {} headroom", pct(tp)),
                    m.to_string(),
                ]);
            }
        } else if let Some(m) = &c.measured {
            t.row(vec![
                "measured rate (offered)".into(),
                opt(m.offered_rate_per_s, |x| format!("{} req/s", rate(x))),
            ]);
            t.row(vec![
                "measured rate (completed)".into(),
                format!("{} req/s", rate(m.completed_per_s)),
            ]);
            t.row(vec![
                "SLO attainment at that rate".into(),
                opt(m.slo_attainment, |a| pct(a * 100.0)),
            ]);
            t.row(vec!["holds the peak".into(), "unknown (single run)".into()]);
            t.row(vec![
                "headroom at peak".into(),
                "unknown (single run)".into(),
            ]);
        }
        if let (Some(target), meets) = (c.headroom_target_pct, c.meets_headroom_target) {
            t.row(vec![
                format!("headroom target {}", pct(target)),
                match meets {
                    Some(true) => "met".into(),
                    Some(false) => "NOT met".into(),
                    None => "unknown".into(),
                },
            ]);
        }
        if let Some(s) = &c.step {
            let name = match s.offered_rate_per_s {
                Some(r) => format!("step {} ({} req/s)", s.index + 1, rate(r)),
                None => format!("step {}", s.index + 1),
            };
            t.row(vec![
                format!("{name} mean E2E"),
                opt(s.e2e_mean_ms, |x| format!("{x:.0} ms")),
            ]);
            t.row(vec![
                format!("{name} SLO attainment"),
                opt(s.slo_attainment, |a| pct(a * 100.0)),
            ]);
        } else if let Some(m) = &c.measured {
            t.row(vec![
                "mean E2E at measured load".into(),
                opt(m.e2e_mean_ms, |x| format!("{x:.0} ms")),
            ]);
        }
        t.row(vec![
            if c.basis == "sweep" {
                "streams in flight at peak".into()
            } else {
                "streams in flight at peak (estimate)".into()
            },
            opt(c.concurrency_at_peak, streams),
        ]);
        t
    }

    fn cost_table(&self) -> Table {
        let v = &self.volume;
        let k = &self.cost;
        let mut t = Table::new(
            format!(
                "Cost per day and per month ({} days), USD",
                k.days_per_month
            ),
            &[
                "model",
                "input tok/day",
                "output tok/day",
                "$/M in / out",
                "input/day",
                "output/day",
                "per day",
                "per month",
                "price from",
            ],
            &[false, true, true, true, true, true, true, true, false],
        );
        for m in &self.models {
            t.row(vec![
                m.label.clone(),
                int(m.daily_input_tokens),
                int(m.daily_output_tokens),
                m.price
                    .as_ref()
                    .map(price_text)
                    .unwrap_or_else(|| "NO PRICE".into()),
                opt(m.input_per_day_usd, usd),
                opt(m.output_per_day_usd, usd),
                opt(m.per_day_usd, usd),
                opt(m.per_month_usd, usd),
                m.price_from.clone().unwrap_or_else(|| "—".into()),
            ]);
        }
        t.row(vec![
            "total".into(),
            int(v.daily_input_tokens),
            int(v.daily_output_tokens),
            String::new(),
            opt(k.input_per_day_usd, usd),
            opt(k.output_per_day_usd, usd),
            opt(k.per_day_usd, usd),
            opt(k.per_month_usd, usd),
            if k.missing_prices.is_empty() {
                String::new()
            } else {
                format!("missing: {}", k.missing_prices.join(", "))
            },
        ]);
        t
    }

    fn baseline_table(&self) -> Option<Table> {
        let b = self.baseline.as_ref()?;
        let k = &self.cost;
        let mut t = Table::new(
            format!(
                "Against the baseline {} (${:.2} / ${:.2} per M in / out)",
                b.name, b.price.input_per_m, b.price.output_per_m
            ),
            &["", "per day", "per month"],
            &[false, true, true],
        );
        t.row(vec![
            "baseline cost".into(),
            usd(b.per_day_usd),
            usd(b.per_month_usd),
        ]);
        t.row(vec![
            "planned cost".into(),
            opt(k.per_day_usd, usd),
            opt(k.per_month_usd, usd),
        ]);
        t.row(vec![
            "saving".into(),
            opt(b.saving_per_day_usd, usd),
            opt(b.saving_per_month_usd, usd),
        ]);
        t.row(vec![
            "saving %".into(),
            opt(b.saving_pct, pct),
            opt(b.saving_pct, pct),
        ]);
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> RunResult {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/results")
            .join(name);
        RunResult::read(&p).expect("fixture reads")
    }

    fn input(daily_in: f64) -> CapacityInput {
        CapacityInput {
            daily_input_tokens: daily_in,
            daily_output_tokens: None,
            peak_to_average: Some(2.0),
            baseline: None,
            headroom_target: None,
        }
    }

    #[test]
    fn a_model_without_traffic_needs_no_price() {
        let mut r = fixture("seed-single.json");
        let mut idle = r.models[2].clone();
        idle.model = "acme/idle".into();
        idle.label = "Idle".into();
        idle.cost = None;
        idle.requests.sent = 0;
        idle.tokens.input = 0;
        idle.tokens.output = 0;
        r.models.push(idle);
        let rep = capacity_plan(&r, &input(50e6), &Catalog::builtin()).unwrap();
        let m = &rep.models[3];
        assert_eq!(m.mean_input_tokens_per_request, None);
        assert_eq!(m.per_day_usd, Some(0.0));
        assert!(rep.cost.missing_prices.is_empty());
        assert!((rep.cost.per_day_usd.unwrap() - 30.46).abs() < 0.01);
        // Per-model daily requests add up to the total.
        let sum: f64 = rep.models.iter().map(|m| m.daily_requests).sum();
        assert!((sum - rep.volume.daily_requests).abs() < 1e-6);
        assert!((rep.volume.peak_rate_per_s - 2.0 * 45_000.0 / 86_400.0).abs() < 1e-9);
    }

    #[test]
    fn no_output_measured_cannot_split_a_given_output_volume() {
        let mut r = fixture("seed-single.json");
        for m in &mut r.models {
            m.tokens.output = 0;
        }
        let mut i = input(1e6);
        assert!(capacity_plan(&r, &i, &Catalog::builtin()).is_ok());
        i.daily_output_tokens = Some(1e6);
        let e = capacity_plan(&r, &i, &Catalog::builtin())
            .unwrap_err()
            .to_string();
        assert!(e.contains("no output tokens"), "{e}");
    }

    #[test]
    fn sweep_peak_above_every_step_is_a_lower_bound() {
        let r = fixture("seed-sweep.json");
        let mut i = input(50e6);
        i.peak_to_average = Some(100.0);
        let rep = capacity_plan(&r, &i, &Catalog::builtin()).unwrap();
        let c = &rep.capacity;
        assert_eq!(c.holds_peak, Some(false));
        assert_eq!(c.step.as_ref().unwrap().index, 3);
        assert!(
            c.concurrency_basis.contains("lower bound"),
            "{}",
            c.concurrency_basis
        );
    }

    #[test]
    fn endpoints_are_the_ceiling_of_peak_over_rate() {
        assert_eq!(endpoints_for(10.0, 5.0), Some(2));
        assert_eq!(endpoints_for(10.1, 5.0), Some(3));
        assert_eq!(endpoints_for(9.9, 5.0), Some(2));
        assert_eq!(endpoints_for(0.1, 5.0), Some(1));
        // 0.3 / 0.1 is 2.9999999999999996 in floating point: still 3, not 4, and 0.7 / 0.1
        // (7.000000000000001) is 7, not 8.
        assert_eq!(endpoints_for(0.3, 0.1), Some(3));
        assert_eq!(endpoints_for(0.7, 0.1), Some(7));
        assert_eq!(endpoints_for(1.0, 0.0), None);
        assert_eq!(endpoints_for(0.0, 1.0), None);
        assert_eq!(endpoints_for(f64::NAN, 1.0), None);
    }

    #[test]
    fn volumes() {
        let f = "--daily-input-tokens";
        assert_eq!(parse_volume(f, "50M"), Ok(50e6));
        assert_eq!(parse_volume(f, "50000000"), Ok(50e6));
        assert_eq!(parse_volume(f, "50_000_000"), Ok(50e6));
        assert_eq!(parse_volume(f, "2.5k"), Ok(2500.0));
        assert_eq!(parse_volume(f, "2.5K"), Ok(2500.0));
        assert_eq!(parse_volume(f, "1B"), Ok(1e9));
        assert_eq!(parse_volume(f, "1G"), Ok(1e9));
        assert_eq!(parse_volume(f, "5e7"), Ok(5e7));
        assert_eq!(parse_volume(f, " 12M "), Ok(12e6));
        assert_eq!(parse_volume(f, "0"), Ok(0.0));
        for bad in [
            "50MM", "50 mb", "50mb", "-5M", "50m", "", "M", "abc", "inf", "NaN", "5X", "1e999",
            "_5M", "50 M",
        ] {
            let e = parse_volume(f, bad).expect_err(bad);
            assert!(e.starts_with("--daily-input-tokens: `"), "{e}");
            assert!(e.contains("suffix K"), "{e}");
        }
        assert!(parse_volume(f, "50MM").unwrap_err().contains("`50MM`"));
    }

    #[test]
    fn baselines() {
        let c = Catalog::builtin();
        let (n, p) = parse_baseline("gpt-4o", &c).unwrap();
        assert_eq!(n, "openai/gpt-4o");
        assert_eq!((p.input_per_m, p.output_per_m), (2.5, 10.0));
        let (_, p) = parse_baseline("2.50/10.00", &c).unwrap();
        assert_eq!((p.input_per_m, p.output_per_m), (2.5, 10.0));
        let (_, p) = parse_baseline("$0.2/$0.8", &c).unwrap();
        assert_eq!((p.input_per_m, p.output_per_m), (0.2, 0.8));
        let e = parse_baseline("gpt-9", &c).unwrap_err();
        assert!(e.contains("`gpt-9`") && e.contains("openai/gpt-4o"), "{e}");
        assert!(parse_baseline("-1/2", &c).is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(int(50_000_000.0), "50,000,000");
        assert_eq!(int(999.4), "999");
        assert_eq!(int(1000.0), "1,000");
        assert_eq!(usd(30.46), "$30.46");
        assert_eq!(usd(7350.0), "$7,350.00");
        assert_eq!(usd(-1.25), "-$1.25");
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(rate(12.345), "12.3");
        assert_eq!(rate(0.5), "0.50");
        assert_eq!(rate(1234.0), "1,234");
    }
}
