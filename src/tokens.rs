//! The built-in offline tokenizer (OpenAI's o200k_base BPE, embedded in the binary): the
//! fallback token counter when a server sends no `usage`.
//!
//! Building the BPE table costs about a CPU-second, so it is built once, lazily, on a blocking
//! thread the first time it is needed (callers use `spawn_blocking`); counting is only done when
//! a server did not report usage, never per streamed chunk.

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();

fn bpe() -> Option<&'static CoreBPE> {
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Tokens in `text` under o200k_base, or None if the embedded table failed to load.
pub fn count(text: &str) -> Option<u64> {
    if text.is_empty() {
        return Some(0);
    }
    bpe().map(|b| b.encode_ordinary(text).len() as u64)
}

/// Name of the tokenizer, recorded in results.
pub const NAME: &str = "o200k_base";

#[cfg(test)]
mod tests {
    #[test]
    fn counts_known_strings() {
        assert_eq!(super::count(""), Some(0));
        // Common English words with a leading space are single tokens.
        assert_eq!(super::count(" the of and to in"), Some(5));
        assert!(super::count("Hello, world!").is_some_and(|n| (3..=5).contains(&n)));
    }
}

// TEMP STUB (replaced by the synth branch)
/// Encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
pub enum Encoding {
    /// o200k.
    #[default]
    #[serde(rename = "o200k_base")]
    O200k,
    /// cl100k.
    #[serde(rename = "cl100k_base")]
    Cl100k,
}
impl Encoding {
    /// Name.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200k => "o200k_base",
            Encoding::Cl100k => "cl100k_base",
        }
    }
}
/// Count.
pub fn count_with(_enc: Encoding, text: &str) -> Option<u64> {
    count(text)
}
