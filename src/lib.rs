//! llmload: a load generator and benchmark for OpenAI-compatible LLM endpoints.
//!
//! The path of one run: [`scenario`] (the file) → [`plan`] (validated) → [`runner`] (paces
//! arrivals from [`schedule`], draws requests from [`workload`], sends them with [`client`])
//! → [`metrics`] (folds [`record`]s) → [`results`] (the versioned JSON) → [`report`].
//! [`gate`] reads result files back: claims, baselines and side-by-side comparisons.
pub mod app;
pub mod body;
pub mod calibrate;
pub mod capacity;
pub mod cli;
pub mod client;
pub mod datasets;
pub mod dist;
pub mod flagrun;
pub mod gate;
pub mod init;
pub mod metrics;
pub mod mock;
pub mod monitor;
pub mod overrides;
pub mod plan;
pub mod prices;
pub mod progress;
pub mod record;
pub mod redact;
pub mod report;
pub mod results;
pub mod runner;
pub mod rxstamp;
pub mod scenario;
pub mod schedule;
pub mod shard;
pub mod sweep;
pub mod synth;
pub mod sys;
pub mod timer;
pub mod tokens;
pub mod units;
pub mod workload;
