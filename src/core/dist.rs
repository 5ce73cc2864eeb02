//! Value distributions used by the workload (token lengths) and the mock server (delays, lengths).
//!
//! A `Dist` samples `f64`; callers clamp and round to their unit (milliseconds, tokens).
//! It owns no RNG: every caller passes its own seeded generator, so a scenario and seed
//! always reproduce the same draws.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, LogNormal, Normal};
use serde::{Deserialize, Serialize};

/// Which generator and distribution code draw every seeded value (the schedule's gaps, the
/// workload's picks and lengths, the mock's delays). Recorded in each result (`tool.draws`):
/// another major version of these crates draws other values from the same seed, so two results
/// with the same seed are the same draws only when this matches. A unit test keeps it in step
/// with Cargo.toml.
pub const DRAWS: &str = "ChaCha8Rng (chacha20 0.10, rand 0.10, rand_distr 0.6)";

/// A distribution of non-negative values, with optional clamping bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum Dist {
    /// Always `value`.
    Fixed { value: f64 },
    /// Uniform on `[min, max]`.
    Uniform { min: f64, max: f64 },
    /// Normal with the given mean and standard deviation, clamped to `[min, max]`.
    Normal {
        mean: f64,
        stddev: f64,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
    /// Log-normal whose *resulting* mean and standard deviation are given (not the
    /// underlying normal's), clamped to `[min, max]`.
    Lognormal {
        mean: f64,
        stddev: f64,
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
}

/// Why a distribution's parameters cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DistError {
    /// A parameter is negative, NaN or infinite.
    #[error("{0} must be a finite, non-negative number")]
    Invalid(&'static str),
    /// `min` is above `max`.
    #[error("min must not exceed max")]
    Range,
    /// A log-normal needs a positive mean.
    #[error("a lognormal distribution needs mean > 0")]
    LognormalMean,
}

impl Dist {
    /// A distribution that always yields `value`.
    pub fn fixed(value: f64) -> Self {
        Dist::Fixed { value }
    }

    /// Checks the parameters; call once at load time so `sample` never fails.
    pub fn validate(&self) -> Result<(), DistError> {
        fn ok(v: f64, name: &'static str) -> Result<(), DistError> {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(DistError::Invalid(name))
            }
        }
        fn bounds(min: Option<f64>, max: Option<f64>) -> Result<(), DistError> {
            if let Some(v) = min {
                ok(v, "min")?;
            }
            if let Some(v) = max {
                ok(v, "max")?;
            }
            match (min, max) {
                (Some(a), Some(b)) if a > b => Err(DistError::Range),
                _ => Ok(()),
            }
        }
        match *self {
            Dist::Fixed { value } => ok(value, "value"),
            Dist::Uniform { min, max } => {
                ok(min, "min")?;
                ok(max, "max")?;
                bounds(Some(min), Some(max))
            }
            Dist::Normal {
                mean,
                stddev,
                min,
                max,
            } => {
                ok(mean, "mean")?;
                ok(stddev, "stddev")?;
                bounds(min, max)
            }
            Dist::Lognormal {
                mean,
                stddev,
                min,
                max,
            } => {
                ok(mean, "mean")?;
                ok(stddev, "stddev")?;
                if mean <= 0.0 {
                    return Err(DistError::LognormalMean);
                }
                bounds(min, max)
            }
        }
    }

    /// The distribution's mean before clamping (used for planning, e.g. token-rate caps).
    pub fn mean(&self) -> f64 {
        match *self {
            Dist::Fixed { value } => value,
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Normal { mean, .. } | Dist::Lognormal { mean, .. } => mean,
        }
    }

    /// The largest value a draw can take, if bounded.
    pub fn upper_bound(&self) -> Option<f64> {
        match *self {
            Dist::Fixed { value } => Some(value),
            Dist::Uniform { max, .. } => Some(max),
            Dist::Normal { max, .. } | Dist::Lognormal { max, .. } => max,
        }
    }

    /// One draw, never negative. Parameters must have passed [`Dist::validate`].
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        let (v, min, max) = match *self {
            Dist::Fixed { value } => return value,
            Dist::Uniform { min, max } => {
                if max <= min {
                    return min;
                }
                return rng.random_range(min..=max);
            }
            Dist::Normal {
                mean,
                stddev,
                min,
                max,
            } => {
                let v = if stddev > 0.0 {
                    Normal::new(mean, stddev)
                        .map(|d| d.sample(rng))
                        .unwrap_or(mean)
                } else {
                    mean
                };
                (v, min, max)
            }
            Dist::Lognormal {
                mean,
                stddev,
                min,
                max,
            } => {
                // Convert the requested mean/stddev of the log-normal itself into the
                // parameters of the underlying normal.
                let sigma2 = (1.0 + (stddev * stddev) / (mean * mean)).ln();
                let mu = mean.ln() - sigma2 / 2.0;
                let v = LogNormal::new(mu, sigma2.sqrt())
                    .map(|d| d.sample(rng))
                    .unwrap_or(mean);
                (v, min, max)
            }
        };
        let mut v = v.max(0.0);
        if let Some(lo) = min {
            v = v.max(lo);
        }
        if let Some(hi) = max {
            v = v.min(hi);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::ChaCha8Rng;
    use rand::SeedableRng;

    fn mean_and_sd(d: &Dist, n: usize) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n as f64;
        (m, v.sqrt())
    }

    #[test]
    fn lognormal_hits_requested_mean_and_stddev() {
        let d = Dist::Lognormal {
            mean: 100.0,
            stddev: 30.0,
            min: None,
            max: None,
        };
        let (m, sd) = mean_and_sd(&d, 200_000);
        assert!((m - 100.0).abs() < 1.0, "mean {m}");
        assert!((sd - 30.0).abs() < 1.0, "sd {sd}");
    }

    #[test]
    fn normal_is_clamped() {
        let d = Dist::Normal {
            mean: 10.0,
            stddev: 50.0,
            min: Some(5.0),
            max: Some(12.0),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..10_000 {
            let v = d.sample(&mut rng);
            assert!((5.0..=12.0).contains(&v));
        }
    }

    #[test]
    fn validation_rejects_bad_parameters() {
        assert!(Dist::Uniform { min: 5.0, max: 1.0 }.validate().is_err());
        assert!(Dist::fixed(-1.0).validate().is_err());
        assert!(Dist::fixed(f64::NAN).validate().is_err());
        assert!(Dist::Lognormal {
            mean: 0.0,
            stddev: 1.0,
            min: None,
            max: None
        }
        .validate()
        .is_err());
        assert!(Dist::fixed(3.0).validate().is_ok());
    }

    #[test]
    fn toml_shape() {
        #[derive(Deserialize)]
        struct W {
            d: Dist,
        }
        let w: W = toml::from_str(
            r#"d = { dist = "normal", mean = 120, stddev = 30, min = 16, max = 256 }"#,
        )
        .expect("valid toml");
        assert_eq!(
            w.d,
            Dist::Normal {
                mean: 120.0,
                stddev: 30.0,
                min: Some(16.0),
                max: Some(256.0)
            }
        );
    }
}

#[cfg(test)]
mod draws_tests {
    /// `DRAWS` must name the versions Cargo.toml depends on: a dependency update that changes
    /// the draws must change what results say drew them.
    #[test]
    fn draws_names_the_dependency_versions() {
        let manifest: toml::Table =
            toml::from_str(include_str!("../../Cargo.toml")).expect("Cargo.toml parses");
        let deps = &manifest["dependencies"];
        for krate in ["rand", "rand_distr"] {
            let version = match &deps[krate] {
                toml::Value::String(v) => v.as_str(),
                t => t["version"].as_str().expect("a version"),
            };
            assert!(
                super::DRAWS.contains(&format!("{krate} {version}")),
                "DRAWS `{}` does not name {krate} {version}",
                super::DRAWS
            );
        }
        // The generator itself comes with rand; its version is the one the lock file holds.
        let lock: toml::Table =
            toml::from_str(include_str!("../../Cargo.lock")).expect("Cargo.lock parses");
        let chacha = lock["package"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"].as_str() == Some("chacha20"))
            .expect("chacha20 is in the lock");
        let version = chacha["version"].as_str().expect("a version");
        let minor: String = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
        assert!(
            super::DRAWS.contains(&format!("chacha20 {minor}")),
            "DRAWS `{}` does not name chacha20 {minor}",
            super::DRAWS
        );
    }
}
