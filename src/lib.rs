//! llmload: a load generator and benchmark for OpenAI-compatible LLM endpoints.
//!
//! # Floors
//!
//! The crate is built in floors. **A module uses only modules of its own floor or of floors
//! below it, and no two modules import each other, directly or through others.**
//! `tests/architecture.rs` reads every `crate::` path in `src/` and fails when a module reaches
//! up a floor or an import cycle appears.
//!
//! | floor | owns |
//! |---|---|
//! | [`cli`] (top) | flags, one function per subcommand, exit codes, the terminal (progress, signals) |
//! | [`engine`] | sending load: clock-driven pacing, the HTTP clients, the runner, the monitor, the mock server, shards, sweeps |
//! | [`analysis`] | reading results back: claims and baselines, capacity plans, calibration figures, reports |
//! | [`results`] | the versioned result file: its schema, assembly from the metrics, validity, reading and writing |
//! | [`metrics`] | folding request records into counters and histograms |
//! | [`config`] | the scenario file, its validation into a plan, workloads, datasets, tokenizers, prices, schedules |
//! | [`core`] (bottom) | units, distributions, the request record, credential scrubbing, the precise timer |
//!
//! The path of one run: [`config::scenario`] (the file) → [`config::plan`] (validated) →
//! [`engine::runner`] (paces arrivals from [`config::schedule`], draws requests from
//! [`config::workload`], sends them with [`engine::client`]) → [`metrics`] (folds
//! [`core::record`]s) → [`results`] (the versioned JSON) → [`analysis::report`].
//! [`analysis::gate`] reads result files back: claims, baselines and side-by-side comparisons.
pub mod analysis;
pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod metrics;
pub mod results;
