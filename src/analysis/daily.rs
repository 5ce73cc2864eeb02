//! Daily cost at one volume, for comparing runs: every (run, model) is projected at the same
//! requests or tokens per day, so two providers' daily costs answer the same question ("what
//! would our traffic cost there?") instead of each run's own request rate.
//!
//! The volume comes from, in order: the flags (`--daily-requests`, or `--daily-input-tokens`
//! with optional `--daily-output-tokens`), the scenarios' `[cost] daily_requests` recorded in
//! the results, or the first result's measured request rate × 86,400. [`DailyVolume::source`]
//! says which, in words. This module computes only from figures already in the results.

use serde::Serialize;

use crate::results::{ModelResult, RunResult};

/// What a day's traffic is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Volume {
    /// Requests per day: each model's measured cost per request × this.
    Requests {
        /// Requests per day.
        per_day: f64,
    },
    /// Tokens per day: each model's measured cost per input and per output token × these.
    Tokens {
        /// Input tokens per day.
        input_per_day: f64,
        /// Output tokens per day.
        output_per_day: f64,
    },
}

/// The volume every column is projected at, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DailyVolume {
    /// The volume.
    pub volume: Volume,
    /// Where it came from, in words (a flag, the scenario, the first run's rate).
    pub source: String,
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct VolumeFlags {
    /// `--daily-requests`.
    pub requests: Option<f64>,
    /// `--daily-input-tokens`.
    pub input_tokens: Option<f64>,
    /// `--daily-output-tokens` (with `--daily-input-tokens`).
    pub output_tokens: Option<f64>,
}

impl VolumeFlags {
    /// Reads the flags' texts ("1M", "2.5B", "50000000").
    pub fn parse(
        requests: Option<&str>,
        input_tokens: Option<&str>,
        output_tokens: Option<&str>,
    ) -> Result<VolumeFlags, String> {
        let read = |flag: &str, t: Option<&str>| {
            t.map(|t| crate::analysis::capacity::parse_volume(flag, t))
                .transpose()
        };
        Ok(VolumeFlags {
            requests: read("--daily-requests", requests)?,
            input_tokens: read("--daily-input-tokens", input_tokens)?,
            output_tokens: read("--daily-output-tokens", output_tokens)?,
        })
    }
}

fn count(v: f64) -> String {
    let (x, unit) = if v >= 1e9 {
        (v / 1e9, "B")
    } else if v >= 1e6 {
        (v / 1e6, "M")
    } else if v >= 1e3 {
        (v / 1e3, "K")
    } else {
        return format!("{v:.0}");
    };
    let t = format!("{x:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    format!("{t}{unit}")
}

impl DailyVolume {
    /// The volume for these results (with the paths they were read from). `Err` names a flag
    /// combination that cannot be used; `Ok(None)` when there is nothing to project from.
    pub fn choose(
        flags: VolumeFlags,
        results: &[(&str, &RunResult)],
    ) -> Result<Option<DailyVolume>, String> {
        let positive = |flag: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(v)
            } else {
                Err(format!("{flag}: must be a positive number, not {v}"))
            }
        };
        match flags {
            VolumeFlags {
                requests: Some(_),
                input_tokens: Some(_),
                ..
            } => Err("give --daily-requests or --daily-input-tokens, not both".into()),
            VolumeFlags {
                input_tokens: None,
                output_tokens: Some(_),
                ..
            } => Err("--daily-output-tokens needs --daily-input-tokens".into()),
            VolumeFlags {
                requests: Some(n), ..
            } => Ok(Some(DailyVolume {
                volume: Volume::Requests {
                    per_day: positive("--daily-requests", n)?,
                },
                source: "--daily-requests".into(),
            })),
            VolumeFlags {
                input_tokens: Some(i),
                output_tokens,
                ..
            } => {
                let input = positive("--daily-input-tokens", i)?;
                let (output, from) = match output_tokens {
                    Some(o) => (
                        positive("--daily-output-tokens", o)?,
                        "--daily-output-tokens".to_string(),
                    ),
                    None => {
                        let Some((path, r)) = results.first() else {
                            return Ok(None);
                        };
                        let t = &r.overall.tokens;
                        if t.input == 0 {
                            return Err(format!(
                                "--daily-input-tokens without --daily-output-tokens takes the output/input ratio of {path}, which measured no input tokens; give --daily-output-tokens"
                            ));
                        }
                        let ratio = t.output as f64 / t.input as f64;
                        (
                            input * ratio,
                            format!("{path}'s measured output/input ratio {ratio:.3}"),
                        )
                    }
                };
                Ok(Some(DailyVolume {
                    volume: Volume::Tokens {
                        input_per_day: input,
                        output_per_day: output,
                    },
                    source: format!("--daily-input-tokens; output tokens from {from}"),
                }))
            }
            VolumeFlags { .. } => Ok(from_results(results)),
        }
    }

    /// The volume in words, e.g. `1M requests/day` or `50M input + 10M output tokens/day`.
    pub fn text(&self) -> String {
        match self.volume {
            Volume::Requests { per_day } => format!("{} requests/day", count(per_day)),
            Volume::Tokens {
                input_per_day,
                output_per_day,
            } => format!(
                "{} input + {} output tokens/day",
                count(input_per_day),
                count(output_per_day)
            ),
        }
    }

    /// One model's projected cost per day at this volume (USD); None without a measured cost
    /// or without the requests/tokens to derive a rate from.
    pub fn cost_per_day(&self, m: &ModelResult) -> Option<f64> {
        let c = m.cost.as_ref()?;
        match self.volume {
            Volume::Requests { per_day } => {
                (m.requests.sent > 0).then(|| c.total_usd / m.requests.sent as f64 * per_day)
            }
            Volume::Tokens {
                input_per_day,
                output_per_day,
            } => {
                // The measured cost per token (cached input at its own price included), or the
                // list price when no such token was measured.
                let rate = |usd: f64, tokens: u64, list: Option<f64>| {
                    if tokens > 0 {
                        Some(usd / tokens as f64)
                    } else {
                        list.map(|p| p / 1e6)
                    }
                };
                let input = rate(c.input_usd, m.tokens.input, c.price.map(|p| p.input_per_m))?;
                let output = rate(
                    c.output_usd,
                    m.tokens.output,
                    c.price.map(|p| p.output_per_m),
                )?;
                Some(input * input_per_day + output * output_per_day)
            }
        }
    }
}

/// No flag: the scenarios' `[cost] daily_requests` when the results carry one (the first
/// result's when they differ, and the source says so), else the first result's measured rate.
fn from_results(results: &[(&str, &RunResult)]) -> Option<DailyVolume> {
    let (first_path, first) = results.first()?;
    let set: Vec<(&str, f64)> = results
        .iter()
        .filter_map(|(p, r)| r.scenario.daily_requests.map(|d| (*p, d)))
        .collect();
    if let Some(&(path, d)) = set.first() {
        let agree = set.len() == results.len() && set.iter().all(|(_, x)| *x == d);
        let source = if agree {
            "the scenario's [cost] daily_requests".to_string()
        } else {
            let all: Vec<String> = results
                .iter()
                .map(|(p, r)| match r.scenario.daily_requests {
                    Some(x) => format!("{p}: {}", count(x)),
                    None => format!("{p}: not set"),
                })
                .collect();
            format!(
                "[cost] daily_requests of {path} — the scenarios differ ({}); set --daily-requests to choose",
                all.join(", ")
            )
        };
        return Some(DailyVolume {
            volume: Volume::Requests { per_day: d },
            source,
        });
    }
    let rate = first.overall.throughput.requests_per_s;
    (rate > 0.0).then(|| DailyVolume {
        volume: Volume::Requests {
            per_day: rate * 86_400.0,
        },
        source: format!(
            "{first_path}'s measured rate ({rate:.2} requests/s × 86,400); no scenario sets [cost] daily_requests — set it or --daily-requests"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::gate::eval::tests::fixture;
    use crate::config::prices::Price;
    use crate::results::CostResult;

    /// A result with one model that sent `sent` requests of `input`/`output` tokens in all, at
    /// a price, and measured `rate` requests/s.
    fn priced(sent: u64, input: u64, output: u64, price: Price, rate: f64) -> RunResult {
        let mut r = fixture(&[100.0; 10]);
        for m in [&mut r.models[0], &mut r.overall] {
            m.requests.sent = sent;
            m.tokens.input = input;
            m.tokens.output = output;
            m.throughput.requests_per_s = rate;
            let (i, o) = (
                input as f64 / 1e6 * price.input_per_m,
                output as f64 / 1e6 * price.output_per_m,
            );
            m.cost = Some(CostResult {
                price: Some(price),
                input_usd: i,
                output_usd: o,
                total_usd: i + o,
                ..CostResult::default()
            });
        }
        r
    }

    fn price(i: f64, o: f64) -> Price {
        Price {
            input_per_m: i,
            output_per_m: o,
            cached_input_per_m: None,
        }
    }

    /// Provider A: 1,000 requests of 500 input + 200 output tokens at $1/$2 per M
    /// → $0.0009 per request. Provider B: 1,000 requests of 500 + 400 tokens at $0.5/$1.5
    /// → $0.00085 per request. At 1M requests/day: $900 and $850, whatever each run's rate.
    #[test]
    fn one_request_volume_for_every_run() {
        let a = priced(1000, 500_000, 200_000, price(1.0, 2.0), 5.0);
        let b = priced(1000, 500_000, 400_000, price(0.5, 1.5), 50.0);
        let runs = [("a.json", &a), ("b.json", &b)];
        let flags = VolumeFlags {
            requests: Some(1e6),
            ..VolumeFlags::default()
        };
        let v = DailyVolume::choose(flags, &runs)
            .expect("valid")
            .expect("some");
        assert_eq!(v.text(), "1M requests/day");
        assert_eq!(v.source, "--daily-requests");
        let day = |r: &RunResult| v.cost_per_day(&r.models[0]).expect("priced");
        assert!((day(&a) - 900.0).abs() < 1e-9, "{}", day(&a));
        assert!((day(&b) - 850.0).abs() < 1e-9, "{}", day(&b));
    }

    /// 50M input + 10M output tokens/day: A costs 50 × $1 + 10 × $2 = $70, B 50 × $0.5 +
    /// 10 × $1.5 = $40. Without --daily-output-tokens the first run's ratio (0.4) gives 20M
    /// output tokens: A $90, B $55.
    #[test]
    fn one_token_volume_for_every_run() {
        let a = priced(1000, 500_000, 200_000, price(1.0, 2.0), 5.0);
        let b = priced(1000, 500_000, 400_000, price(0.5, 1.5), 50.0);
        let runs = [("a.json", &a), ("b.json", &b)];
        let v = DailyVolume::choose(
            VolumeFlags {
                input_tokens: Some(50e6),
                output_tokens: Some(10e6),
                ..VolumeFlags::default()
            },
            &runs,
        )
        .expect("valid")
        .expect("some");
        assert_eq!(v.text(), "50M input + 10M output tokens/day");
        let day = |r: &RunResult| v.cost_per_day(&r.models[0]).expect("priced");
        assert!((day(&a) - 70.0).abs() < 1e-9, "{}", day(&a));
        assert!((day(&b) - 40.0).abs() < 1e-9, "{}", day(&b));
        let v = DailyVolume::choose(
            VolumeFlags {
                input_tokens: Some(50e6),
                ..VolumeFlags::default()
            },
            &runs,
        )
        .expect("valid")
        .expect("some");
        assert!(
            v.source
                .contains("a.json's measured output/input ratio 0.400"),
            "{}",
            v.source
        );
        let day = |r: &RunResult| v.cost_per_day(&r.models[0]).expect("priced");
        assert!((day(&a) - 90.0).abs() < 1e-9, "{}", day(&a));
        assert!((day(&b) - 55.0).abs() < 1e-9, "{}", day(&b));
    }

    #[test]
    fn without_flags_the_scenario_volume_then_the_first_runs_rate() {
        let mut a = priced(1000, 500_000, 200_000, price(1.0, 2.0), 5.0);
        let mut b = priced(1000, 500_000, 400_000, price(0.5, 1.5), 50.0);
        let none = VolumeFlags::default();
        let v = DailyVolume::choose(none, &[("a.json", &a), ("b.json", &b)])
            .expect("valid")
            .expect("some");
        // 5 requests/s × 86,400 = 432,000 requests/day, for both runs.
        assert_eq!(v.volume, Volume::Requests { per_day: 432_000.0 });
        assert!(
            v.source.starts_with("a.json's measured rate"),
            "{}",
            v.source
        );
        a.scenario.daily_requests = Some(2e6);
        b.scenario.daily_requests = Some(2e6);
        let v = DailyVolume::choose(none, &[("a.json", &a), ("b.json", &b)])
            .expect("valid")
            .expect("some");
        assert_eq!(v.volume, Volume::Requests { per_day: 2e6 });
        assert_eq!(v.source, "the scenario's [cost] daily_requests");
        b.scenario.daily_requests = Some(1e6);
        let v = DailyVolume::choose(none, &[("a.json", &a), ("b.json", &b)])
            .expect("valid")
            .expect("some");
        assert_eq!(v.volume, Volume::Requests { per_day: 2e6 });
        assert!(v.source.contains("the scenarios differ"), "{}", v.source);
        for bad in [
            VolumeFlags {
                requests: Some(1.0),
                input_tokens: Some(1.0),
                output_tokens: None,
            },
            VolumeFlags {
                output_tokens: Some(1.0),
                ..none
            },
            VolumeFlags {
                requests: Some(-1.0),
                ..none
            },
        ] {
            assert!(
                DailyVolume::choose(bad, &[("a.json", &a)]).is_err(),
                "{bad:?}"
            );
        }
    }
}
