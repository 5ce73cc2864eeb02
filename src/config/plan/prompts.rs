//! A `prompts` value (inline list, JSONL file, ShareGPT file or synthetic spec) turned into a
//! prompt source, and a class's mean prompt size for `mix_by = "input_tokens"`.

use std::path::Path;

use super::Problems;
use crate::config::scenario::PromptsSpec as PS;
use crate::config::synth::Synth;
use crate::config::tokenizer::{Tokenizer, TokenizerFile};
use crate::config::tokens::Encoding;
use crate::config::workload::{self, Class, Prompt, PromptSource, Synthetic};
use crate::core::dist::Dist;

/// Builds one prompt source, reporting problems at `field`. `toks` are the tokenizers of the
/// models the source's requests can go to: synthetic prompts are made exact for all of them.
pub(super) fn source(
    spec: &PS,
    dir: &Path,
    (seed, class): (u64, u64),
    toks: &[&Tokenizer],
    field: &str,
    p: &mut Problems,
) -> PromptSource {
    match spec {
        PS::Inline(list) => {
            if list.is_empty() {
                p.push(field, "the prompt list is empty");
            }
            PromptSource::List(list.iter().map(Prompt::text).collect())
        }
        PS::File { file } => match workload::load_jsonl(&dir.join(file)) {
            Ok(p) => PromptSource::List(p),
            Err(e) => {
                p.push(&format!("{field}.file"), e.to_string());
                PromptSource::List(Vec::new())
            }
        },
        PS::Sharegpt { sharegpt } => {
            match crate::config::datasets::load_sharegpt(&dir.join(sharegpt)) {
                Ok(d) => PromptSource::List(d.items.into_iter().map(|i| i.prompt).collect()),
                Err(e) => {
                    p.push(&format!("{field}.sharegpt"), e.to_string());
                    PromptSource::List(Vec::new())
                }
            }
        }
        PS::Synthetic { synthetic: s } => {
            let d = &s.input_tokens.0;
            if d.upper_bound().is_some_and(|v| v < 1.0) || d.mean() < 1.0 {
                p.push(
                    &format!("{field}.synthetic.input_tokens"),
                    "must be at least 1",
                );
            }
            let prefix = s.shared_prefix.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&prefix) {
                p.push(
                    &format!("{field}.synthetic.shared_prefix"),
                    "is a share of the prompt: between 0 and 1",
                );
            }
            PromptSource::Synthetic(synthetic(
                generator(s.tokenizer, toks),
                d.clone(),
                prefix.clamp(0.0, 1.0),
                seed,
                class,
            ))
        }
    }
}

/// The generator of synthetic prompts for models with tokenizers `toks`, and why its counts
/// are not exact when they are not. A `synthetic.tokenizer` named in the workload (`enc`)
/// wins; otherwise the vocabulary is the pool's words that every tokenizer file among `toks`
/// encodes as one token (the built-in encodings take every pool word; `server` models are
/// calibrated at run time).
pub(super) fn generator(enc: Option<Encoding>, toks: &[&Tokenizer]) -> (Synth, Option<String>) {
    if let Some(e) = enc {
        return (Synth::new(e), None);
    }
    let files: Vec<&TokenizerFile> = toks
        .iter()
        .filter_map(|t| match t {
            Tokenizer::File(f) => Some(&**f),
            _ => None,
        })
        .collect();
    let builtin = toks.iter().find_map(|t| t.builtin()).unwrap_or_default();
    if files.is_empty() {
        return (Synth::new(builtin), None);
    }
    match Synth::for_files(&files) {
        Ok(s) => (s, None),
        Err(why) => (
            Synth::new(builtin),
            Some(format!(
                "synthetic prompts are not token-exact for {}: {why}; their lengths are {} tokens",
                files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                builtin.name()
            )),
        ),
    }
}

/// Synthetic prompts from `(generator, why not exact)`; class `class` gets its own shared
/// prefix.
pub(super) fn synthetic(
    (synth, inexact): (Synth, Option<String>),
    input_tokens: Dist,
    shared_prefix: f64,
    seed: u64,
    class: u64,
) -> Synthetic {
    Synthetic {
        encoding: synth.encoding(),
        synth,
        inexact,
        sizing: Vec::new(),
        input_tokens,
        shared_prefix,
        prefix_seed: seed ^ class.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5052_4546_4958,
    }
}

/// A class's mean prompt size in tokens: tokenizer `tok` over a listed source (system prompt
/// included), the sample mean of a synthetic one.
pub(super) fn mean_tokens(c: &Class, tok: &Tokenizer) -> f64 {
    use rand::SeedableRng;
    let sys = c.system.as_ref().and_then(|s| tok.count(s)).unwrap_or(0) as f64;
    match &c.source {
        PromptSource::List(ps) if !ps.is_empty() => {
            let total: u64 = ps
                .iter()
                .map(|p| tok.count(&p.joined_text()).unwrap_or(p.chars as u64 / 4))
                .sum();
            sys + total as f64 / ps.len() as f64
        }
        PromptSource::List(_) => 0.0,
        PromptSource::Synthetic(s) => {
            let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
            let n = 20_000;
            let sum: f64 = (0..n)
                .map(|_| s.input_tokens.sample(&mut rng).round().max(1.0))
                .sum();
            sys + sum / n as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{fields, scenario};
    use super::*;

    /// The prompt source for `prompts = <spec>` and the problems found at `workload.prompts`.
    fn check(spec: &str, test: impl FnOnce(&PromptSource, &[(&str, &str)])) {
        let (src, f) = scenario(&format!(
            "name = \"t\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[models]]\nid = \"m\"\ntarget = \"sim\"\n\
             [workload]\nprompts = {spec}\n[load]\nconcurrency = 1\nrequests = 1\n"
        ));
        let mut p = Problems::new(&src);
        let spec = f.workload.prompts.as_ref().expect("prompts");
        let s = source(
            spec,
            Path::new("/nonexistent"),
            (1, 0),
            &[],
            "workload.prompts",
            &mut p,
        );
        test(&s, &fields(p.found()));
    }

    #[test]
    fn an_inline_list_must_hold_a_prompt() {
        check("[]", |s, problems| {
            assert_eq!(problems, [("workload.prompts", "the prompt list is empty")]);
            assert!(matches!(s, PromptSource::List(l) if l.is_empty()));
        });
        check("[\"a\", \"bc\"]", |s, problems| {
            assert_eq!(problems, []);
            let PromptSource::List(l) = s else {
                panic!("a list")
            };
            assert_eq!(l.iter().map(|p| p.chars).collect::<Vec<_>>(), [1, 2]);
        });
    }

    #[test]
    fn a_missing_file_is_reported_at_its_key() {
        check("{ file = \"p.jsonl\" }", |_, problems| {
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].0, "workload.prompts.file");
            assert!(problems[0].1.contains("p.jsonl"), "{}", problems[0].1);
        });
    }

    #[test]
    fn synthetic_prompts_have_a_length_and_a_prefix_share_in_range() {
        check(
            "{ synthetic = { input_tokens = 0, shared_prefix = 1.5 } }",
            |s, problems| {
                assert_eq!(
                    problems,
                    [
                        (
                            "workload.prompts.synthetic.input_tokens",
                            "must be at least 1"
                        ),
                        (
                            "workload.prompts.synthetic.shared_prefix",
                            "is a share of the prompt: between 0 and 1"
                        ),
                    ]
                );
                let PromptSource::Synthetic(s) = s else {
                    panic!("synthetic")
                };
                assert_eq!(s.shared_prefix, 1.0, "clamped into range");
                assert_eq!(s.encoding, Encoding::default());
            },
        );
    }

    #[test]
    fn a_synthetic_class_means_its_length_distributions_mean() {
        let class = |input: f64| Class {
            name: "c".into(),
            source: PromptSource::Synthetic(synthetic(
                generator(None, &[]),
                Dist::fixed(input),
                0.0,
                1,
                0,
            )),
            max_tokens: Dist::fixed(1.0),
            system: None,
            model: None,
        };
        let tok = Tokenizer::default();
        assert_eq!(mean_tokens(&class(250.0), &tok), 250.0);
        // Lengths are whole tokens, at least one.
        assert_eq!(mean_tokens(&class(0.2), &tok), 1.0);
    }
}
