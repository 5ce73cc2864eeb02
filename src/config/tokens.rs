//! The built-in offline tokenizers (OpenAI's o200k_base and cl100k_base BPEs, embedded in the
//! binary): the fallback token counter when a server sends no `usage`, and the check behind
//! the exact-length prompts of config::synth.
//!
//! Building a BPE table costs about a CPU-second, so each is built once, lazily, the first time
//! it is needed (async callers use `spawn_blocking`); counting is only done when a server did
//! not report usage, never per streamed chunk. Using one encoding never builds the other.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;

/// A BPE encoding the tokenizer knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Encoding {
    /// `o200k_base` (GPT-4o and later); the default.
    #[default]
    #[serde(rename = "o200k_base")]
    O200k,
    /// `cl100k_base` (GPT-4, GPT-3.5).
    #[serde(rename = "cl100k_base")]
    Cl100k,
}

impl Encoding {
    /// The encoding's name as written in scenarios and results (`o200k_base`, `cl100k_base`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200k => "o200k_base",
            Encoding::Cl100k => "cl100k_base",
        }
    }

    fn bpe(self) -> Option<&'static CoreBPE> {
        static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        match self {
            Encoding::O200k => O200K.get_or_init(|| tiktoken_rs::o200k_base().ok()),
            Encoding::Cl100k => CL100K.get_or_init(|| tiktoken_rs::cl100k_base().ok()),
        }
        .as_ref()
    }
}

/// Tokens in `text` under `enc`, or None if the embedded table failed to load. Special-token
/// text such as `<|endoftext|>` is counted as ordinary text.
pub fn count_with(enc: Encoding, text: &str) -> Option<u64> {
    if text.is_empty() {
        return Some(0);
    }
    enc.bpe().map(|b| b.encode_ordinary(text).len() as u64)
}

/// Tokens in `text` under o200k_base, or None if the embedded table failed to load.
pub fn count(text: &str) -> Option<u64> {
    count_with(Encoding::O200k, text)
}

/// Name of the tokenizer, recorded in results.
pub const NAME: &str = "o200k_base";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_known_strings() {
        assert_eq!(super::count(""), Some(0));
        // Common English words with a leading space are single tokens.
        assert_eq!(super::count(" the of and to in"), Some(5));
        assert!(super::count("Hello, world!").is_some_and(|n| (3..=5).contains(&n)));
    }

    #[test]
    fn second_encoding_counts_and_differs() {
        assert_eq!(count_with(Encoding::Cl100k, ""), Some(0));
        assert_eq!(count_with(Encoding::Cl100k, " the of and to in"), Some(5));
        // Non-Latin script: o200k's larger vocabulary needs far fewer tokens, which shows the
        // second table really is a different one.
        let s = "ئەم دەقە بە کوردی نووسراوە";
        let (o, c) = (
            count_with(Encoding::O200k, s).expect("o200k"),
            count_with(Encoding::Cl100k, s).expect("cl100k"),
        );
        assert!(c > o, "cl100k {c} vs o200k {o}");
        assert_eq!(count(s), Some(o));
    }

    #[test]
    fn names_and_serde() {
        assert_eq!(Encoding::default(), Encoding::O200k);
        assert_eq!(Encoding::O200k.name(), NAME);
        assert_eq!(Encoding::Cl100k.name(), "cl100k_base");
        for e in [Encoding::O200k, Encoding::Cl100k] {
            let json = serde_json::to_string(&e).expect("ser");
            assert_eq!(json, format!("\"{}\"", e.name()));
            assert_eq!(serde_json::from_str::<Encoding>(&json).expect("de"), e);
        }
        assert!(serde_json::from_str::<Encoding>("\"p50k_base\"").is_err());
    }
}
