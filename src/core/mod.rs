//! The bottom floor: plain types and helpers that import nothing else of the crate.
pub mod dist;
pub mod hex;
pub mod metric;
pub mod problem;
pub mod quota;
pub mod record;
pub mod redact;
pub mod table;
pub mod time;
pub mod timer;
pub mod units;
