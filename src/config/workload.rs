//! Prompt sources and the per-arrival request draw (model, prompt, `max_tokens`).
//!
//! Every draw is a pure function of (plan seed, arrival index): the same scenario and seed
//! give the same requests whatever the concurrency, timing or sharding. Loading reads the
//! prompt file once; nothing here touches the network.

use std::path::{Path, PathBuf};

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::config::synth::{Sizing, Synth};
use crate::config::tokens::Encoding;
use crate::core::dist::Dist;

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
    /// Images attached to the prompt's last message (chat; a JSONL line's `images`).
    pub images: Vec<std::sync::Arc<crate::config::images::Image>>,
}

impl Prompt {
    /// A plain-text prompt.
    pub fn text(s: impl Into<String>) -> Prompt {
        let s = s.into();
        Prompt {
            chars: s.chars().count(),
            body: PromptBody::Text(s),
            max_tokens: None,
            images: Vec::new(),
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
    #[serde(default)]
    images: Option<Vec<String>>,
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
    // Each image file is read once however many lines name it.
    let mut seen = std::collections::HashMap::new();
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
                images: Vec::new(),
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
        let images = match parsed.images {
            Some(files) => line_images(path, &files, &mut seen).map_err(err)?,
            None => Vec::new(),
        };
        out.push(Prompt {
            body,
            max_tokens: parsed.max_tokens,
            chars,
            images,
        });
    }
    if out.is_empty() {
        return Err(PromptFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// A JSONL line's image files (relative to the prompt file), each read and checked once
/// (`seen` holds those read for earlier lines); the error names the file.
fn line_images(
    prompts: &Path,
    files: &[String],
    seen: &mut std::collections::HashMap<PathBuf, std::sync::Arc<crate::config::images::Image>>,
) -> Result<Vec<std::sync::Arc<crate::config::images::Image>>, String> {
    let dir = prompts.parent().unwrap_or(Path::new("."));
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let p = dir.join(f);
        let img = match seen.get(&p) {
            Some(i) => i.clone(),
            None => {
                let i = std::sync::Arc::new(crate::config::images::Image::load(&p)?);
                seen.insert(p, i.clone());
                i
            }
        };
        out.push(img);
    }
    Ok(out)
}

/// Where a class's prompts come from.
#[derive(Debug, Clone)]
pub enum PromptSource {
    /// A fixed list (inline, JSONL or ShareGPT), picked uniformly.
    List(Vec<Prompt>),
    /// Generated text of an exact token length.
    Synthetic(Synthetic),
}

/// Synthetic prompt settings of one source.
#[derive(Debug, Clone)]
pub struct Synthetic {
    /// The generator.
    pub synth: Synth,
    /// Its tokenizer.
    pub encoding: Encoding,
    /// Why the lengths are not exact under the models' tokenizers, when they are not.
    pub inexact: Option<String>,
    /// Per model (index into the plan's models): the words-for-tokens line fitted against the
    /// server, for models with `tokenizer = "server"` once probed; empty otherwise.
    pub sizing: Vec<Option<Sizing>>,
    /// Prompt length in tokens.
    pub input_tokens: Dist,
    /// Share of each prompt that is common to all prompts of the source.
    pub shared_prefix: f64,
    /// Seed of the shared prefix.
    pub prefix_seed: u64,
}

impl Synthetic {
    /// The prompt text of `tokens` tokens for item `seed`.
    pub fn text(&self, tokens: u32, seed: u64) -> String {
        let prefix = (tokens as f64 * self.shared_prefix).round() as u32;
        self.synth.text(tokens, prefix, self.prefix_seed, seed)
    }

    /// The server-fitted sizing for model `model`, when it was calibrated.
    #[inline]
    pub fn sizing_for(&self, model: usize) -> Option<Sizing> {
        self.sizing.get(model).copied().flatten()
    }

    /// The prompt text for item `seed` that model `model` counts as `tokens` tokens: the words
    /// its server-fitted sizing gives, else `tokens` words.
    #[inline]
    pub fn text_for(&self, model: usize, tokens: u32, seed: u64) -> String {
        match self.sizing_for(model) {
            Some(s) => self.text(s.words(tokens), seed),
            None => self.text(tokens, seed),
        }
    }
}

/// One request class.
#[derive(Debug, Clone)]
pub struct Class {
    /// Name (`default` when the scenario declares no classes).
    pub name: String,
    /// Its prompts.
    pub source: PromptSource,
    /// Its `max_tokens` distribution.
    pub max_tokens: Dist,
    /// Its system prompt.
    pub system: Option<String>,
    /// The model it always uses (index into the plan's models).
    pub model: Option<usize>,
}

impl Class {
    /// Mean prompt size in characters and (when known without tokenizing) in tokens.
    pub fn mean_input_tokens_estimate(&self) -> f64 {
        let sys = self.system.as_ref().map_or(0, |s| s.chars().count()) as f64 / 4.0;
        sys + match &self.source {
            PromptSource::List(ps) if !ps.is_empty() => {
                ps.iter().map(|p| p.chars as f64).sum::<f64>() / ps.len() as f64 / 4.0
            }
            PromptSource::List(_) => 0.0,
            PromptSource::Synthetic(s) => s.input_tokens.mean(),
        }
    }
}

/// Which prompt of a class an arrival uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// Index into the class's list.
    Listed(usize),
    /// A generated prompt of `tokens` tokens from `seed`.
    Synthetic {
        /// Length in tokens.
        tokens: u32,
        /// Text seed.
        seed: u64,
    },
}

/// What one arrival (or one turn of a session) sends, before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    /// Index into the workload's classes.
    pub class: usize,
    /// The prompt.
    pub item: Item,
    /// `max_tokens` to request.
    pub max_tokens: u32,
    /// The model by weight (used when neither the class nor a route names one).
    pub weighted_model: usize,
    /// Whether this arrival deliberately repeats an earlier one's request.
    pub repeat: bool,
    /// Turns in the session this arrival starts (1 without sessions).
    pub turns: u32,
}

/// Draws requests for arrivals: class by mix, prompt, `max_tokens`, weighted model, repeats.
#[derive(Debug, Clone)]
pub struct Sampler {
    seed: u64,
    model_cumulative: Vec<f64>,
    class_cumulative: Vec<f64>,
    repeat_ratio: f64,
    turns: Option<Dist>,
}

fn cumulative(weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect()
}

fn pick(cum: &[f64], u: f64) -> usize {
    cum.iter()
        .position(|&c| u < c)
        .unwrap_or(cum.len().saturating_sub(1))
}

impl Sampler {
    /// `model_weights` and `class_weights` must have positive sums (checked by the plan).
    pub fn new(
        seed: u64,
        model_weights: &[f64],
        class_weights: &[f64],
        repeat_ratio: f64,
        turns: Option<Dist>,
    ) -> Sampler {
        Sampler {
            seed,
            model_cumulative: cumulative(model_weights),
            class_cumulative: cumulative(class_weights),
            repeat_ratio,
            turns,
        }
    }

    /// The draw for arrival `index`; a pure function of (seed, index). A repeat returns an
    /// earlier arrival's draw (class, prompt, `max_tokens`, model) with `repeat` set.
    pub fn draw(&self, index: u64, classes: &[Class]) -> Draw {
        let mut i = index;
        let mut repeat = false;
        loop {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed ^ 0x5245_5045_4154, i));
            if i > 0 && self.repeat_ratio > 0.0 && rng.random::<f64>() < self.repeat_ratio {
                i = rng.random_range(0..i);
                repeat = true;
                continue;
            }
            let mut d = self.fresh(i, classes);
            d.repeat = repeat;
            return d;
        }
    }

    fn fresh(&self, index: u64, classes: &[Class]) -> Draw {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, index));
        let weighted_model = pick(&self.model_cumulative, rng.random());
        let class = pick(&self.class_cumulative, rng.random());
        let turns = self
            .turns
            .as_ref()
            .map_or(1, |t| t.sample(&mut rng).round().max(1.0) as u32);
        let (item, max_tokens) = draw_item(&classes[class], &mut rng);
        Draw {
            class,
            item,
            max_tokens,
            weighted_model,
            repeat: false,
            turns,
        }
    }

    /// The prompt and `max_tokens` of turn `turn` (≥ 1) of the session started by `index`:
    /// a new draw from the same class.
    pub fn turn(&self, index: u64, turn: u32, class: &Class) -> (Item, u32) {
        let mut rng =
            ChaCha8Rng::seed_from_u64(mix(mix(self.seed ^ 0x5455_524E, index), turn as u64));
        draw_item(class, &mut rng)
    }

    /// A sample from `dist` for (index, turn), e.g. a think time.
    pub fn sample(&self, index: u64, turn: u32, dist: &Dist) -> f64 {
        let mut rng =
            ChaCha8Rng::seed_from_u64(mix(mix(self.seed ^ 0x0054_4849_4E4B, index), turn as u64));
        dist.sample(&mut rng)
    }
}

fn draw_item(class: &Class, rng: &mut ChaCha8Rng) -> (Item, u32) {
    let item = match &class.source {
        PromptSource::List(ps) => Item::Listed(rng.random_range(0..ps.len().max(1))),
        PromptSource::Synthetic(s) => Item::Synthetic {
            tokens: s.input_tokens.sample(rng).round().max(1.0) as u32,
            seed: rng.random(),
        },
    };
    let sampled = class.max_tokens.sample(rng).round().max(1.0) as u32;
    let max_tokens = match (&class.source, item) {
        (PromptSource::List(ps), Item::Listed(i)) => ps.get(i).and_then(|p| p.max_tokens),
        _ => None,
    }
    .unwrap_or(sampled);
    (item, max_tokens)
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

    fn list_class(n: usize) -> Class {
        Class {
            name: "default".into(),
            source: PromptSource::List((0..n).map(|i| Prompt::text(format!("p{i}"))).collect()),
            max_tokens: Dist::fixed(10.0),
            system: None,
            model: None,
        }
    }

    #[test]
    fn weighted_pick_follows_weights_and_is_deterministic() {
        let classes = [list_class(5)];
        let s = Sampler::new(42, &[3.0, 1.0], &[1.0], 0.0, None);
        let mut counts = [0usize; 2];
        for i in 0..40_000 {
            let d = s.draw(i, &classes);
            counts[d.weighted_model] += 1;
            assert_eq!(d, s.draw(i, &classes));
            assert_eq!(d.max_tokens, 10);
            assert!(!d.repeat);
        }
        let share = counts[0] as f64 / 40_000.0;
        assert!((share - 0.75).abs() < 0.01, "share {share}");
    }

    #[test]
    fn class_mix_and_repeat_ratio_follow_the_settings() {
        let classes = [list_class(1000), list_class(1000), list_class(1000)];
        let s = Sampler::new(7, &[1.0], &[18.0, 28.0, 4.0], 0.4, None);
        let n = 50_000u64;
        for i in 0..300 {
            let d = s.draw(i, &classes);
            if d.repeat {
                // A repeat is some earlier arrival's request, exactly.
                let found = (0..i).map(|j| s.draw(j, &classes)).any(|e| {
                    e.class == d.class && e.item == d.item && e.max_tokens == d.max_tokens
                });
                assert!(found, "repeat {i} matches no earlier draw");
            }
        }
        let mut per_class = [0u64; 3];
        let mut repeats = 0u64;
        for i in 0..n {
            let d = s.draw(i, &classes);
            per_class[d.class] += 1;
            repeats += d.repeat as u64;
        }
        let r = repeats as f64 / n as f64;
        assert!((r - 0.4).abs() < 0.01, "repeat share {r}");
        for (c, want) in [(0, 18.0 / 50.0), (1, 28.0 / 50.0), (2, 4.0 / 50.0)] {
            let got = per_class[c] as f64 / n as f64;
            assert!((got - want).abs() < 0.01, "class {c}: {got} vs {want}");
        }
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
