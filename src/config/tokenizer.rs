//! A model's own tokenizer: one of the built-in BPEs, a Hugging Face `tokenizer.json` read
//! offline, or `server` (synthetic prompts calibrated against the endpoint before the run).
//!
//! A model's `tokenizer` setting sizes its synthetic prompts (see config::synth),
//! counts prompt and output tokens a server did not report, and feeds the context-window
//! guard. Counting is never done per streamed chunk, and a file is read and parsed once, when
//! the plan is built.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::tokens::{self, Encoding};

/// Which tokenizer counts a model's tokens.
#[derive(Clone)]
pub enum Tokenizer {
    /// A built-in BPE.
    Builtin(Encoding),
    /// A Hugging Face `tokenizer.json`.
    File(Arc<TokenizerFile>),
    /// Synthetic prompts are calibrated against the endpoint; offline counts use o200k_base.
    Server,
}

/// A parsed Hugging Face tokenizer file.
pub struct TokenizerFile {
    /// The file read (after resolving a model folder).
    pub path: PathBuf,
    /// SHA-256 of its bytes, lower-case hex.
    pub sha256: String,
    tok: tokenizers::Tokenizer,
}

impl Default for Tokenizer {
    fn default() -> Tokenizer {
        Tokenizer::Builtin(Encoding::default())
    }
}

impl fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl PartialEq for Tokenizer {
    fn eq(&self, other: &Tokenizer) -> bool {
        match (self, other) {
            (Tokenizer::File(a), Tokenizer::File(b)) => a.sha256 == b.sha256,
            (a, b) => a.builtin() == b.builtin() && a.is_server() == b.is_server(),
        }
    }
}

/// How a model's tokens were counted, as recorded in the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    /// `builtin`, `file` or `server`.
    pub kind: String,
    /// The built-in encoding's name, the file's path, or `server`.
    pub name: String,
    /// SHA-256 of the tokenizer file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl Tokenizer {
    /// The tokenizer named by a model's `tokenizer` value: `o200k_base`, `cl100k_base`,
    /// `server`, or a path (relative to `dir`) to a `tokenizer.json` or to a model folder
    /// holding one (a Hugging Face cache folder with `snapshots/<revision>/` included).
    pub fn load(value: &str, dir: &Path) -> Result<Tokenizer, String> {
        match value {
            "o200k_base" => return Ok(Tokenizer::Builtin(Encoding::O200k)),
            "cl100k_base" => return Ok(Tokenizer::Builtin(Encoding::Cl100k)),
            "server" => return Ok(Tokenizer::Server),
            "" => {
                return Err(
                    "is empty: give o200k_base, cl100k_base, server or a path to a tokenizer.json"
                        .into(),
                )
            }
            _ => {}
        }
        let given = dir.join(value);
        let path = find_file(&given)?;
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read tokenizer file {}: {e}", path.display()))?;
        let tok = tokenizers::Tokenizer::from_bytes(&bytes).map_err(|e| {
            format!(
                "{} is not a Hugging Face tokenizer.json: {e}",
                path.display()
            )
        })?;
        Ok(Tokenizer::File(Arc::new(TokenizerFile {
            sha256: crate::core::hex::encode(&Sha256::digest(&bytes)),
            path,
            tok,
        })))
    }

    /// The built-in encoding this tokenizer is, if it is one.
    pub fn builtin(&self) -> Option<Encoding> {
        match self {
            Tokenizer::Builtin(e) => Some(*e),
            _ => None,
        }
    }

    /// Whether synthetic prompts are calibrated against the server.
    pub fn is_server(&self) -> bool {
        matches!(self, Tokenizer::Server)
    }

    /// A short name: the encoding, the file's path, or `server`.
    pub fn name(&self) -> String {
        match self {
            Tokenizer::Builtin(e) => e.name().to_string(),
            Tokenizer::File(f) => f.path.display().to_string(),
            Tokenizer::Server => "server".to_string(),
        }
    }

    /// What the result records about this tokenizer.
    pub fn info(&self) -> TokenizerInfo {
        let (kind, sha256) = match self {
            Tokenizer::Builtin(_) => ("builtin", None),
            Tokenizer::File(f) => ("file", Some(f.sha256.clone())),
            Tokenizer::Server => ("server", None),
        };
        TokenizerInfo {
            kind: kind.to_string(),
            name: self.name(),
            sha256,
        }
    }

    /// Tokens in `text` (no special tokens such as a BOS are added), or None if the
    /// tokenizer failed. `server` counts with o200k_base: the server's own count is not known
    /// offline.
    pub fn count(&self, text: &str) -> Option<u64> {
        match self {
            Tokenizer::File(f) => f.count(text),
            Tokenizer::Server => tokens::count(text),
            Tokenizer::Builtin(e) => tokens::count_with(*e, text),
        }
    }
}

impl TokenizerFile {
    /// Tokens in `text` without special tokens, or None if encoding failed.
    pub fn count(&self, text: &str) -> Option<u64> {
        if text.is_empty() {
            return Some(0);
        }
        self.tok
            .encode_fast(text, false)
            .ok()
            .map(|e| e.get_ids().len() as u64)
    }
}

/// The `tokenizer.json` at `given`: the file itself, `<folder>/tokenizer.json`, or in a
/// Hugging Face cache folder `<folder>/snapshots/<revision>/tokenizer.json` (the revision
/// `refs/main` names, else the only one).
fn find_file(given: &Path) -> Result<PathBuf, String> {
    if given.is_file() {
        return Ok(given.to_path_buf());
    }
    if !given.is_dir() {
        return Err(format!(
            "no tokenizer file or model folder at {}",
            given.display()
        ));
    }
    let direct = given.join("tokenizer.json");
    if direct.is_file() {
        return Ok(direct);
    }
    let snapshots = given.join("snapshots");
    let main = std::fs::read_to_string(given.join("refs").join("main")).ok();
    if let Some(rev) = main.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        let p = snapshots.join(rev).join("tokenizer.json");
        if p.is_file() {
            return Ok(p);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("tokenizer.json"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "no tokenizer.json in the folder {} (nor in its snapshots/<revision>/)",
            given.display()
        )),
        n => Err(format!(
            "{n} snapshots in {} hold a tokenizer.json and refs/main names none of them; give the snapshot folder",
            given.display()
        )),
    }
}

#[cfg(test)]
pub(crate) mod testkit {
    use std::path::Path;

    use super::Tokenizer;

    /// A small BPE `tokenizer.json` over the letters a–z and the space: each of `words` is
    /// one token (built letter by letter through merges), any other word is several.
    /// `spaced`: no pre-tokenizer, and each word also has a one-token form with its leading
    /// space; otherwise a whitespace pre-tokenizer. `cross`: every pair "a b" of the words
    /// also merges into one token (words then merge across their boundary).
    pub(crate) fn bpe_json(words: &[&str], spaced: bool, cross: bool) -> String {
        let mut vocab: Vec<String> = ('a'..='z').map(String::from).collect();
        vocab.push(" ".into());
        let mut merges: Vec<(String, String)> = Vec::new();
        let mut add = |vocab: &mut Vec<String>, l: String, r: String| {
            let joined = format!("{l}{r}");
            if !vocab.contains(&joined) {
                vocab.push(joined);
                merges.push((l, r));
            }
        };
        for w in words {
            let forms = if spaced {
                vec![w.to_string(), format!(" {w}")]
            } else {
                vec![w.to_string()]
            };
            for f in forms {
                let chars: Vec<char> = f.chars().collect();
                for i in 1..chars.len() {
                    let left: String = chars[..i].iter().collect();
                    add(&mut vocab, left, chars[i].to_string());
                }
            }
        }
        if cross {
            for a in words {
                for b in words {
                    add(&mut vocab, a.to_string(), format!(" {b}"));
                }
            }
        }
        let vocab: serde_json::Map<String, serde_json::Value> = vocab
            .into_iter()
            .enumerate()
            .map(|(i, t)| (t, i.into()))
            .collect();
        let merges: Vec<[String; 2]> = merges.into_iter().map(|(l, r)| [l, r]).collect();
        serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [],
            "normalizer": null,
            "pre_tokenizer": if spaced { serde_json::Value::Null } else { serde_json::json!({ "type": "Whitespace" }) },
            "post_processor": null,
            "decoder": null,
            "model": { "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                       "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                       "ignore_merges": false, "vocab": vocab, "merges": merges }
        })
        .to_string()
    }

    /// `json` written to `dir/name` and loaded.
    pub(crate) fn load(dir: &Path, name: &str, json: &str) -> Tokenizer {
        std::fs::write(dir.join(name), json).expect("write the tokenizer file");
        Tokenizer::load(name, dir).expect("the tokenizer file loads")
    }

    /// A small WordLevel `tokenizer.json`: whitespace pre-tokenizer, one token per listed
    /// word, `[UNK]` for any other word.
    pub(crate) fn word_level_json(words: &[&str]) -> String {
        let mut vocab = serde_json::Map::new();
        vocab.insert("[UNK]".into(), 0.into());
        for (i, w) in words.iter().enumerate() {
            vocab.insert((*w).into(), (i + 1).into());
        }
        serde_json::json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [],
            "normalizer": null,
            "pre_tokenizer": { "type": "Whitespace" },
            "post_processor": null,
            "decoder": null,
            "model": { "type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]" }
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::testkit::word_level_json;
    use super::*;

    #[test]
    fn names_resolve_to_builtins_and_server() {
        let d = Path::new("/nonexistent");
        assert_eq!(
            Tokenizer::load("o200k_base", d).unwrap().builtin(),
            Some(Encoding::O200k)
        );
        assert_eq!(
            Tokenizer::load("cl100k_base", d).unwrap().builtin(),
            Some(Encoding::Cl100k)
        );
        assert!(Tokenizer::load("server", d).unwrap().is_server());
        assert!(Tokenizer::load("", d).is_err());
        let e = Tokenizer::load("nope/tokenizer.json", d).unwrap_err();
        assert!(e.contains("no tokenizer file or model folder"), "{e}");
    }

    #[test]
    fn a_file_counts_with_its_own_vocabulary_and_records_its_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = word_level_json(&["alpha", "beta"]);
        std::fs::write(dir.path().join("tok.json"), &text).expect("write");
        let t = Tokenizer::load("tok.json", dir.path()).expect("loads");
        assert_eq!(t.count("alpha beta gamma alpha"), Some(4));
        assert_eq!(t.count(""), Some(0));
        let info = t.info();
        assert_eq!(info.kind, "file");
        assert_eq!(
            info.sha256.as_deref(),
            Some(crate::core::hex::encode(&Sha256::digest(text.as_bytes())).as_str())
        );
        assert!(info.name.ends_with("tok.json"));
    }

    #[test]
    fn a_model_folder_and_a_cache_snapshot_are_searched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = word_level_json(&["a"]);
        let flat = dir.path().join("flat");
        std::fs::create_dir_all(&flat).expect("mkdir");
        std::fs::write(flat.join("tokenizer.json"), &json).expect("write");
        assert!(Tokenizer::load("flat", dir.path()).is_ok());

        let cache = dir.path().join("models--org--m");
        for rev in ["aaa", "bbb"] {
            let s = cache.join("snapshots").join(rev);
            std::fs::create_dir_all(&s).expect("mkdir");
            std::fs::write(s.join("tokenizer.json"), &json).expect("write");
        }
        let e = Tokenizer::load("models--org--m", dir.path()).unwrap_err();
        assert!(e.contains("2 snapshots"), "{e}");
        std::fs::create_dir_all(cache.join("refs")).expect("mkdir");
        std::fs::write(cache.join("refs/main"), "bbb\n").expect("write");
        let Tokenizer::File(f) = Tokenizer::load("models--org--m", dir.path()).expect("loads")
        else {
            panic!("a file tokenizer")
        };
        assert!(
            f.path.ends_with("snapshots/bbb/tokenizer.json"),
            "{:?}",
            f.path
        );

        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).expect("mkdir");
        let e = Tokenizer::load("empty", dir.path()).unwrap_err();
        assert!(e.contains("no tokenizer.json"), "{e}");
    }

    #[test]
    fn a_file_that_does_not_parse_is_refused_with_the_parsers_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("bad.json"), "{ \"model\": 3 ").expect("write");
        let e = Tokenizer::load("bad.json", dir.path()).unwrap_err();
        assert!(e.contains("is not a Hugging Face tokenizer.json"), "{e}");
    }
}
