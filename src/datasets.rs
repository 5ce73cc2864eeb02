//! TEMP STUB
use crate::workload::{Prompt, PromptFileError};
use std::path::Path;
use std::time::Duration;
/// Item.
pub struct SharegptItem {
    /// Prompt.
    pub prompt: Prompt,
    /// Reply.
    pub reply: Option<String>,
}
/// Loaded.
pub struct Sharegpt {
    /// Items.
    pub items: Vec<SharegptItem>,
    /// Skipped.
    pub skipped: usize,
}
/// Load.
pub fn load_sharegpt(path: &Path) -> Result<Sharegpt, PromptFileError> {
    Err(PromptFileError::Empty {
        path: path.to_path_buf(),
    })
}
/// Entry.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// t.
    pub t: Duration,
    /// in.
    pub input_tokens: u32,
    /// out.
    pub output_tokens: u32,
    /// model.
    pub model: Option<String>,
}
/// Load.
pub fn load_trace(path: &Path) -> Result<Vec<TraceEntry>, PromptFileError> {
    Err(PromptFileError::Empty {
        path: path.to_path_buf(),
    })
}
