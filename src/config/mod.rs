//! What a run is meant to do, before anything is sent: the scenario file as written, its
//! validation into a [`plan::Plan`], prompt sources and datasets, tokenizers, prices and
//! arrival schedules. Uses only [`crate::core`].
pub mod datasets;
pub mod golden;
pub mod images;
pub mod mock;
pub mod overrides;
pub mod plan;
pub mod prices;
pub mod scenario;
pub mod schedule;
pub mod sweep;
pub mod synth;
pub mod tokenizer;
pub mod tokens;
pub mod tools;
pub mod workload;
