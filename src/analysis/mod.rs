//! Reading results back: claims, baselines and comparisons ([`gate`]), capacity plans
//! ([`capacity`]), calibration figures ([`calibrate`]) and reports ([`report`]). Uses the
//! floors below it, never the engine that produced the results.
pub mod calibrate;
pub mod capacity;
pub mod daily;
pub mod gate;
pub mod knee;
pub mod quota;
pub mod report;
