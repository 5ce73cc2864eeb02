//! The bottom floor: plain types and helpers that import nothing else of the crate.
pub mod dist;
pub mod record;
pub mod redact;
pub mod timer;
pub mod units;
