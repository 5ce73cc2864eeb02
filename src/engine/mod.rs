//! Sending load and measuring it: request bodies, the HTTP clients, the runner, the generator's
//! own monitor, the live metrics endpoint, the built-in mock server, the session that turns a plan into a result (for a
//! run, a shard, a sweep step or a calibration step), capacity sweeps and calibration.
pub mod body;
pub mod calibrate;
pub mod client;
pub mod exporter;
pub mod golden;
pub mod golden_mix;
pub mod judge;
pub mod mock;
pub mod monitor;
pub mod runner;
pub mod rxstamp;
pub mod scrape;
pub mod session;
pub mod side;
pub mod sweep;
pub mod sys;
pub mod token_probe;
