//! Sending load and measuring it: request bodies, the HTTP clients, the runner, the generator's
//! own monitor, the built-in mock server, shards and capacity sweeps.
pub mod body;
pub mod calibrate;
pub mod client;
pub mod mock;
pub mod monitor;
pub mod runner;
pub mod rxstamp;
pub mod session;
pub mod sweep;
pub mod sys;
