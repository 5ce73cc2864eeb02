//! The context-window guard's counts over a run: requests whose prompt plus `max_tokens`
//! exceeded their model's window, how many were not sent, and the largest excess.

/// Context-window guard counts over the whole run.
#[derive(Debug, Default, Clone)]
pub struct GuardCounts {
    /// Requests whose prompt plus `max_tokens` exceeded the window.
    pub over_window: u64,
    /// Of those, how many were not sent.
    pub skipped: u64,
    /// The largest excess.
    pub largest: Option<Offender>,
}

/// The request that exceeded its model's context window by the most.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Offender {
    /// Model label.
    pub model: String,
    /// Class name.
    pub class: String,
    /// Prompt tokens (tokenizer, or the server's count of the previous turn plus the new
    /// message).
    pub prompt_tokens: u64,
    /// `max_tokens` requested.
    pub max_tokens: u32,
    /// The model's context window.
    pub context_window: u64,
}

impl GuardCounts {
    /// Counts one request over its model's window, keeping the largest excess.
    pub fn note(
        &mut self,
        model: &str,
        class: &str,
        prompt: u64,
        max: u32,
        window: u64,
        skipped: bool,
    ) {
        self.over_window += 1;
        self.skipped += skipped as u64;
        let excess = (prompt + max as u64).saturating_sub(window);
        if self
            .largest
            .as_ref()
            .is_none_or(|o| o.prompt_tokens + o.max_tokens as u64 - o.context_window < excess)
        {
            self.largest = Some(Offender {
                model: model.into(),
                class: class.into(),
                prompt_tokens: prompt,
                max_tokens: max,
                context_window: window,
            });
        }
    }
}
