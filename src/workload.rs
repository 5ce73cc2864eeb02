//! Prompt sources and the per-arrival request draw (model, prompt, `max_tokens`).
//!
//! Every draw is a pure function of (plan seed, arrival index): the same scenario and seed
//! give the same requests whatever the concurrency, timing or sharding. Loading reads the
//! prompt file once; nothing here touches the network.

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dist::Dist;

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, …
    pub role: String,
    /// Text content.
    pub content: String,
}

/// A prompt: plain text (wrapped as one user message on chat) or a full message list.
#[derive(Debug, Clone, PartialEq)]
pub enum PromptBody {
    /// Plain text.
    Text(String),
    /// An OpenAI `messages` array.
    Messages(Vec<Message>),
}

/// One prompt of the workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// The text or messages.
    pub body: PromptBody,
    /// Per-prompt `max_tokens`, overriding the workload's distribution.
    pub max_tokens: Option<u32>,
    /// Total characters of prompt text (used for quota estimates).
    pub chars: usize,
}

impl Prompt {
    /// A plain-text prompt.
    pub fn text(s: impl Into<String>) -> Prompt {
        let s = s.into();
        Prompt {
            chars: s.chars().count(),
            body: PromptBody::Text(s),
            max_tokens: None,
        }
    }

    /// Every piece of prompt text, concatenated (for offline token counting).
    pub fn joined_text(&self) -> String {
        match &self.body {
            PromptBody::Text(s) => s.clone(),
            PromptBody::Messages(ms) => {
                let mut out = String::new();
                for m in ms {
                    out.push_str(&m.content);
                    out.push('\n');
                }
                out
            }
        }
    }
}

/// Why a prompt file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PromptFileError {
    /// The file could not be read.
    #[error("cannot read prompt file {}: {source}", path.display())]
    Io {
        /// Path resolved against the scenario's folder.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A line is not a prompt.
    #[error("{}:{line}: {message}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The file has no prompts.
    #[error("{}: the file holds no prompts", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlLine {
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: Option<serde_json::Value>,
}

/// Loads a JSONL prompt file: each non-blank line is a JSON string, a `messages` array of
/// `{role, content}`, or an object with `prompt` (string) or `messages`, and optionally
/// `max_tokens` and `metadata`.
pub fn load_jsonl(path: &Path) -> Result<Vec<Prompt>, PromptFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PromptFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let l = line.trim();
        if l.is_empty() {
            continue;
        }
        let err = |message: String| PromptFileError::Line {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        if l.starts_with('[') {
            let ms: Vec<Message> = serde_json::from_str(l)
                .map_err(|e| err(format!("not a messages array of {{role, content}}: {e}")))?;
            if ms.is_empty() {
                return Err(err("`messages` is empty".into()));
            }
            let chars = ms.iter().map(|m| m.content.chars().count()).sum();
            out.push(Prompt {
                body: PromptBody::Messages(ms),
                max_tokens: None,
                chars,
            });
            continue;
        }
        if l.starts_with('"') {
            let s: String =
                serde_json::from_str(l).map_err(|e| err(format!("not a JSON string: {e}")))?;
            out.push(Prompt::text(s));
            continue;
        }
        let parsed: JsonlLine = serde_json::from_str(l).map_err(|e| {
            err(format!(
                "expected a JSON string or an object with `prompt` or `messages`: {e}"
            ))
        })?;
        let body = match (parsed.prompt, parsed.messages) {
            (Some(p), None) => PromptBody::Text(p),
            (None, Some(ms)) if !ms.is_empty() => PromptBody::Messages(ms),
            (None, Some(_)) => return Err(err("`messages` is empty".into())),
            (Some(_), Some(_)) => return Err(err("give `prompt` or `messages`, not both".into())),
            (None, None) => {
                return Err(err("the object has neither `prompt` nor `messages`".into()))
            }
        };
        let chars = match &body {
            PromptBody::Text(s) => s.chars().count(),
            PromptBody::Messages(ms) => ms.iter().map(|m| m.content.chars().count()).sum(),
        };
        out.push(Prompt {
            body,
            max_tokens: parsed.max_tokens,
            chars,
        });
    }
    if out.is_empty() {
        return Err(PromptFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// What one arrival sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Index into the plan's models.
    pub model: usize,
    /// Index into the workload's prompts.
    pub prompt: usize,
    /// `max_tokens` to request.
    pub max_tokens: u32,
}

/// Draws requests for arrivals: weighted model pick, uniform prompt pick, `max_tokens`.
#[derive(Debug, Clone)]
pub struct Sampler {
    seed: u64,
    cumulative: Vec<f64>,
    prompts: usize,
    max_tokens: Dist,
}

impl Sampler {
    /// `weights` must have a positive sum and `prompts` must be > 0 (checked by the plan).
    pub fn new(seed: u64, weights: &[f64], prompts: usize, max_tokens: Dist) -> Sampler {
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Sampler {
            seed,
            cumulative,
            prompts,
            max_tokens,
        }
    }

    /// The draw for arrival `index`; a pure function of (seed, index).
    pub fn draw(&self, index: u64, prompt_max_tokens: impl Fn(usize) -> Option<u32>) -> Draw {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, index));
        let u: f64 = rng.gen();
        let model = self
            .cumulative
            .iter()
            .position(|&c| u < c)
            .unwrap_or(self.cumulative.len().saturating_sub(1));
        let prompt = rng.gen_range(0..self.prompts.max(1));
        let sampled = self.max_tokens.sample(&mut rng).round().max(1.0) as u32;
        let max_tokens = prompt_max_tokens(prompt).unwrap_or(sampled);
        Draw {
            model,
            prompt,
            max_tokens,
        }
    }
}

/// SplitMix64 finaliser over (seed, index): decorrelates neighbouring arrivals' streams.
fn mix(seed: u64, index: u64) -> u64 {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_pick_follows_weights_and_is_deterministic() {
        let s = Sampler::new(42, &[3.0, 1.0], 5, Dist::fixed(10.0));
        let mut counts = [0usize; 2];
        for i in 0..40_000 {
            let d = s.draw(i, |_| None);
            counts[d.model] += 1;
            assert_eq!(d, s.draw(i, |_| None));
            assert_eq!(d.max_tokens, 10);
        }
        let share = counts[0] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "share {share}");
    }

    #[test]
    fn jsonl_layouts_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("p.jsonl");
        std::fs::write(
            &p,
            "\"plain\"\n\n{\"prompt\": \"x\", \"max_tokens\": 7}\n{\"messages\": [{\"role\": \"user\", \"content\": \"hey\"}]}\n[{\"role\": \"user\", \"content\": \"bare\"}]\n",
        )
        .expect("write");
        let ps = load_jsonl(&p).expect("loads");
        assert_eq!(ps.len(), 4);
        assert!(matches!(&ps[3].body, PromptBody::Messages(m) if m[0].content == "bare"));
        assert_eq!(ps[1].max_tokens, Some(7));
        std::fs::write(&p, "\"ok\"\n{\"promt\": \"typo\"}\n").expect("write");
        let e = load_jsonl(&p).expect_err("bad line").to_string();
        assert!(e.contains("p.jsonl:2:"), "{e}");
        std::fs::write(&p, "\n\n").expect("write");
        assert!(matches!(load_jsonl(&p), Err(PromptFileError::Empty { .. })));
    }
}
