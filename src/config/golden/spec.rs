//! The scenario's `[quality]` section as written (its TOML shape); `config::plan` validates it.

use serde::Deserialize;

/// `[quality]`: golden requests scored beside the load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySpec {
    /// The golden JSONL file, relative to the scenario's folder.
    pub golden: String,
    /// How golden requests run: "pass" (their own pass before the load, the default) or
    /// "mix" (a share of the load's requests, `mix`).
    #[serde(default)]
    pub mode: Option<QualityMode>,
    /// Share of load requests that are golden requests (implies `mode = "mix"`).
    #[serde(default)]
    pub mix: Option<f64>,
    /// A model (id or label) of the scenario whose score the others are compared with.
    #[serde(default)]
    pub baseline: Option<String>,
    /// A judge model scoring each golden answer by a rubric.
    #[serde(default)]
    pub judge: Option<JudgeSpec>,
    /// Keep golden answers in the records (default true).
    #[serde(default)]
    pub keep_answers: Option<bool>,
    /// Largest golden answer kept, in bytes.
    #[serde(default)]
    pub answer_cap_bytes: Option<u64>,
}

/// `mode` of `[quality]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityMode {
    /// A pass of its own before the load.
    Pass,
    /// Mixed into the load at a share.
    Mix,
}

/// `judge = { model = "…", target = "…", rubric = "…" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeSpec {
    /// The judge's model id (a scenario model's id or label when `target` is absent).
    pub model: String,
    /// The scenario target the judge is called on (default: the judge model's own target).
    #[serde(default)]
    pub target: Option<String>,
    /// What the judge scores each answer against.
    pub rubric: String,
}
