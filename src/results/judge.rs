//! The judge's part of the result's `quality` section: each model's mean judge score with its
//! interval, the answers judged and left unscored, and what the judge's own calls took.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::quality::Estimate;

/// The judge's figures (`quality.judge`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct JudgeResult {
    /// The judge model's id, as sent.
    pub model: String,
    /// The target it was called on.
    pub target: String,
    /// The scale the judge was asked for (`1-5`); scores are normalised to 0..1 as
    /// (grade − 1) / 4.
    pub scale: String,
    /// The judge's own requests (not part of the measured load).
    pub calls: JudgeCalls,
    /// Per model, in the scenario's order.
    pub models: Vec<ModelJudge>,
}

/// What the judge's requests took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct JudgeCalls {
    /// Requests sent to the judge (retries included).
    pub requests: u64,
    /// Of those, requests that failed (timeout, HTTP error, …).
    pub failed: u64,
    /// Input tokens the judge's target reported.
    pub input_tokens: u64,
    /// Output tokens the judge's target reported.
    pub output_tokens: u64,
    /// Cost at the judge model's price, in USD; absent when its price is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// One model's answers as the judge scored them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ModelJudge {
    /// The model's label.
    pub model: String,
    /// Every judged answer of the model.
    pub overall: JudgeStats,
    /// By the golden lines' `class`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub classes: BTreeMap<String, JudgeStats>,
}

/// The judge's figures of one group of answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct JudgeStats {
    /// Weighted mean of the normalised judge scores (0..1) over the answers the judge scored,
    /// with its 95 % interval; None when it scored none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<Estimate>,
    /// Answers the judge scored.
    pub n_judged: u64,
    /// Answers sent to the judge that it left unscored (no parsable score after one retry, or
    /// its request failed twice).
    pub n_unscored: u64,
}
