//! Token and cost figures: token totals with where the counts came from, a group's cost at
//! one model's price or summed request by request, the daily projection, and the overall row
//! as the sum of the models.

use std::collections::BTreeMap;

use crate::config::prices::Price;
use crate::metrics::{Stats, Tokens};
use crate::results::window::Ctx;
use crate::results::{CostResult, ModelResult, TokenTotals};

/// How a result's cost is computed.
#[derive(Clone, Copy)]
pub(super) enum CostBasis {
    /// No price known.
    None,
    /// One model's price over the token totals.
    Price(Price),
    /// Summed request by request at each request's model price (classes, turns, …).
    Summed,
}

/// Token totals of one group, with requests counted by the source of their token counts.
pub(super) fn token_totals(s: &Stats) -> TokenTotals {
    let src = |a: &[u64; 3]| {
        let mut m = BTreeMap::new();
        for (i, name) in ["usage", "tokenizer", "events"].iter().enumerate() {
            if a[i] > 0 {
                m.insert(name.to_string(), a[i]);
            }
        }
        m
    };
    TokenTotals {
        input: s.tokens.input,
        output: s.tokens.output,
        reasoning: s.tokens.reasoning,
        cached_input: s.tokens.cached_input,
        output_source: src(&s.output_sources),
        input_source: src(&s.input_sources),
        input_all_phases: s.tokens_all_phases.input,
        output_all_phases: s.tokens_all_phases.output,
        usage_mismatch: s.usage_mismatch,
    }
}

/// Requests per day the projection assumes: the scenario's daily volume, shared out by this
/// group's part of the measured requests sent; without one, the measured completion rate.
fn daily_requests(s: &Stats, sent: u64, cx: &Ctx) -> f64 {
    cx.daily_requests
        .map(|d| {
            if cx.overall_sent > 0 {
                d * sent as f64 / cx.overall_sent as f64
            } else {
                d
            }
        })
        .unwrap_or(cx.per(s.window_completed) * 86_400.0)
}

/// The cost of one group of `sent` measured requests, when it can be known.
pub(super) fn cost(s: &Stats, sent: u64, basis: CostBasis, cx: &Ctx) -> Option<CostResult> {
    let daily = daily_requests(s, sent, cx);
    match basis {
        CostBasis::None => None,
        CostBasis::Price(p) => Some(priced(s, sent, p, daily)),
        CostBasis::Summed => summed(s, sent, daily),
    }
}

/// Input and output cost of token totals at a price: cached input at the cached price when
/// one is set.
fn bill(p: &Price, t: &Tokens) -> (f64, f64) {
    let cached = t.cached_input.min(t.input);
    let input = match p.cached_input_per_m {
        Some(c) => (t.input - cached) as f64 / 1e6 * p.input_per_m + cached as f64 / 1e6 * c,
        None => t.input as f64 / 1e6 * p.input_per_m,
    };
    (input, t.output as f64 / 1e6 * p.output_per_m)
}

/// One model's cost at its price.
fn priced(s: &Stats, sent: u64, p: Price, daily: f64) -> CostResult {
    let (input_usd, output_usd) = bill(&p, &s.tokens);
    let (ai, ao) = bill(&p, &s.tokens_all_phases);
    let total = input_usd + output_usd;
    let per_request = if sent > 0 { total / sent as f64 } else { 0.0 };
    CostResult {
        price: Some(p),
        input_usd,
        output_usd,
        total_usd: total,
        run_total_usd: ai + ao,
        per_1k_requests_usd: per_request * 1000.0,
        per_million_output_tokens_usd: per_million_output(total, s.tokens.output),
        projected_daily_requests: daily,
        projected_per_day_usd: per_request * daily,
    }
}

/// A group's cost summed request by request at each one's model price; unknown when any of
/// its requests had no price or none was sent.
fn summed(s: &Stats, sent: u64, daily: f64) -> Option<CostResult> {
    if s.usd.unpriced != 0 || s.usd_all_phases.unpriced != 0 || sent == 0 {
        return None;
    }
    let total = s.usd.input + s.usd.output;
    let per_request = total / sent as f64;
    Some(CostResult {
        price: None,
        input_usd: s.usd.input,
        output_usd: s.usd.output,
        total_usd: total,
        run_total_usd: s.usd_all_phases.input + s.usd_all_phases.output,
        per_1k_requests_usd: per_request * 1000.0,
        per_million_output_tokens_usd: per_million_output(total, s.tokens.output),
        projected_daily_requests: daily,
        projected_per_day_usd: per_request * daily,
    })
}

fn per_million_output(total: f64, output: u64) -> f64 {
    if output > 0 {
        total / output as f64 * 1e6
    } else {
        0.0
    }
}

/// The overall row's cost: the sum of the models' costs, when every model has one.
pub(super) fn overall(models: &[ModelResult], overall: &ModelResult) -> Option<CostResult> {
    if models.is_empty() || !models.iter().all(|m| m.cost.is_some()) {
        return None;
    }
    let mut sum = CostResult::default();
    for k in models.iter().filter_map(|m| m.cost.as_ref()) {
        sum.input_usd += k.input_usd;
        sum.output_usd += k.output_usd;
        sum.total_usd += k.total_usd;
        sum.run_total_usd += k.run_total_usd;
        sum.projected_daily_requests += k.projected_daily_requests;
        sum.projected_per_day_usd += k.projected_per_day_usd;
    }
    let sent = overall.requests.sent;
    sum.per_1k_requests_usd = if sent > 0 {
        sum.total_usd / sent as f64 * 1000.0
    } else {
        0.0
    };
    sum.per_million_output_tokens_usd = per_million_output(sum.total_usd, overall.tokens.output);
    Some(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Collector, Usd, Window};

    fn ctx(daily: Option<f64>, overall_sent_and_completed: u64) -> Ctx {
        // A 10 s window.
        let c = Collector::new(
            0,
            Window {
                start_us: 0,
                end_us: Some(10_000_000),
            },
            Vec::new(),
            0,
        );
        let mut s = c.state();
        s.overall.outcomes[crate::core::record::Outcome::Ok.index()] = overall_sent_and_completed;
        let c = Collector::from_state(s).expect("no histograms to decode");
        Ctx::new(false, daily, &c)
    }

    fn stats() -> Stats {
        Stats {
            tokens: Tokens {
                input: 3_000_000,
                output: 500_000,
                reasoning: 0,
                cached_input: 1_000_000,
            },
            tokens_all_phases: Tokens {
                input: 4_000_000,
                output: 1_000_000,
                reasoning: 0,
                cached_input: 0,
            },
            window_completed: 50,
            ..Stats::default()
        }
    }

    const PRICE: Price = Price {
        input_per_m: 2.0,
        output_per_m: 8.0,
        cached_input_per_m: Some(0.5),
    };

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn a_priced_model_pays_cached_input_at_the_cached_price() {
        // 100 of 400 measured requests; 10,000 a day in all, so this model's share is 2,500.
        let k = cost(
            &stats(),
            100,
            CostBasis::Price(PRICE),
            &ctx(Some(10_000.0), 400),
        )
        .expect("priced");
        // 2 M uncached at $2 + 1 M cached at $0.50; 0.5 M output at $8.
        assert_eq!((k.input_usd, k.output_usd, k.total_usd), (4.5, 4.0, 8.5));
        // The bill covers every phase: 4 M input at $2 (none cached) + 1 M output at $8.
        assert_eq!(k.run_total_usd, 16.0);
        assert!(
            close(k.per_1k_requests_usd, 85.0),
            "{}",
            k.per_1k_requests_usd
        );
        assert!(close(k.per_million_output_tokens_usd, 17.0));
        assert_eq!(k.projected_daily_requests, 2_500.0);
        assert!(
            close(k.projected_per_day_usd, 212.5),
            "{}",
            k.projected_per_day_usd
        );
        assert_eq!(k.price, Some(PRICE));
    }

    #[test]
    fn without_a_daily_volume_the_projection_runs_at_the_measured_rate() {
        // 50 completions in 10 s: 5/s, 432,000 a day.
        let k = cost(&stats(), 100, CostBasis::Price(PRICE), &ctx(None, 400)).expect("priced");
        assert_eq!(k.projected_daily_requests, 432_000.0);
        assert!(close(k.projected_per_day_usd, 0.085 * 432_000.0));
    }

    #[test]
    fn cached_tokens_beyond_the_input_count_are_not_billed_twice() {
        let mut s = stats();
        s.tokens.cached_input = 5_000_000;
        let no_cache = Price {
            cached_input_per_m: None,
            ..PRICE
        };
        let cx = ctx(None, 1);
        assert_eq!(
            cost(&s, 1, CostBasis::Price(PRICE), &cx).unwrap().input_usd,
            1.5
        );
        assert_eq!(
            cost(&s, 1, CostBasis::Price(no_cache), &cx)
                .unwrap()
                .input_usd,
            6.0
        );
        // Nothing sent: no per-request figures rather than infinities.
        let k = cost(&s, 0, CostBasis::Price(PRICE), &cx).unwrap();
        assert_eq!((k.per_1k_requests_usd, k.projected_per_day_usd), (0.0, 0.0));
        assert!(cost(&s, 1, CostBasis::None, &cx).is_none());
    }

    #[test]
    fn a_summed_cost_is_unknown_when_any_request_had_no_price() {
        let cx = ctx(Some(1_000.0), 200);
        let mut s = stats();
        s.usd = Usd {
            input: 1.25,
            output: 3.75,
            unpriced: 0,
        };
        s.usd_all_phases = Usd {
            input: 2.0,
            output: 6.0,
            unpriced: 0,
        };
        let k = cost(&s, 50, CostBasis::Summed, &cx).expect("every request priced");
        assert_eq!((k.total_usd, k.run_total_usd, k.price), (5.0, 8.0, None));
        assert_eq!(k.per_1k_requests_usd, 100.0);
        assert_eq!(k.projected_daily_requests, 250.0);
        assert_eq!(k.projected_per_day_usd, 25.0);
        s.usd_all_phases.unpriced = 1;
        assert!(cost(&s, 50, CostBasis::Summed, &cx).is_none());
        s.usd_all_phases.unpriced = 0;
        assert!(cost(&s, 0, CostBasis::Summed, &cx).is_none());
    }

    fn row(cost: Option<CostResult>, sent: u64, output: u64) -> ModelResult {
        let mut m = crate::results::row::model_result(
            &Stats::default(),
            "m",
            "m",
            "",
            CostBasis::None,
            &ctx(None, 0),
        );
        m.cost = cost;
        m.requests.sent = sent;
        m.tokens.output = output;
        m
    }

    #[test]
    fn the_overall_cost_sums_the_models_only_when_all_are_priced() {
        let k = |total: f64, daily: f64| CostResult {
            input_usd: total / 4.0,
            output_usd: total * 3.0 / 4.0,
            total_usd: total,
            run_total_usd: total * 2.0,
            projected_daily_requests: daily,
            projected_per_day_usd: daily / 100.0,
            ..CostResult::default()
        };
        let models = [
            row(Some(k(2.0, 600.0)), 0, 0),
            row(Some(k(6.0, 400.0)), 0, 0),
        ];
        let all = row(None, 40, 2_000_000);
        let sum = overall(&models, &all).expect("both priced");
        assert_eq!(
            (sum.input_usd, sum.output_usd, sum.total_usd),
            (2.0, 6.0, 8.0)
        );
        assert_eq!(sum.run_total_usd, 16.0);
        assert_eq!(sum.projected_daily_requests, 1_000.0);
        assert_eq!(sum.projected_per_day_usd, 10.0);
        assert_eq!(sum.per_1k_requests_usd, 200.0);
        assert_eq!(sum.per_million_output_tokens_usd, 4.0);
        assert!(sum.price.is_none());
        let one_unpriced = [row(Some(k(2.0, 600.0)), 0, 0), row(None, 0, 0)];
        assert!(overall(&one_unpriced, &all).is_none());
        assert!(overall(&[], &all).is_none());
    }
}
