//! Synthetic prompts of an exact token length, for fixed-length and shared-prefix workloads.
//!
//! A text is a run of lowercase English words separated by single spaces. Both o200k_base and
//! cl100k_base pre-tokenise such text into one piece per word (the first word bare, every later
//! one with its leading space), and BPE never merges across pieces, so the token count of the
//! whole text is the sum over its words. Every word in the pool is exactly one token both bare
//! and with a leading space, in both encodings (checked by the tests against the real tables),
//! so a text of `n` words is exactly `n` tokens, for every `n`. No tokenizer runs when a text
//! is built: it is a few random draws and a string copy per token.
//!
//! The count is exact only under the encoding's own tokenizer; a server with another tokenizer
//! (SentencePiece, Llama 3's, …) will count these texts somewhat differently, and chat templates
//! add their own tokens around the text.

use std::sync::{Arc, OnceLock};

use crate::config::tokenizer::TokenizerFile;
use crate::config::tokens::Encoding;

/// The word pool: 512 (2^9) lowercase ASCII words, each stored with its leading space; each is
/// one token with and without that space in o200k_base and cl100k_base.
const POOL: [&str; 512] = [
    " the",
    " and",
    " for",
    " this",
    " that",
    " with",
    " you",
    " new",
    " from",
    " are",
    " not",
    " was",
    " have",
    " can",
    " all",
    " will",
    " your",
    " out",
    " has",
    " but",
    " more",
    " his",
    " they",
    " one",
    " their",
    " who",
    " time",
    " man",
    " which",
    " any",
    " about",
    " over",
    " work",
    " when",
    " use",
    " other",
    " been",
    " had",
    " were",
    " would",
    " our",
    " year",
    " some",
    " there",
    " said",
    " her",
    " like",
    " also",
    " than",
    " just",
    " them",
    " into",
    " what",
    " first",
    " only",
    " its",
    " back",
    " need",
    " make",
    " after",
    " right",
    " long",
    " read",
    " want",
    " number",
    " two",
    " where",
    " while",
    " look",
    " could",
    " know",
    " hand",
    " most",
    " try",
    " now",
    " him",
    " point",
    " find",
    " used",
    " play",
    " see",
    " help",
    " these",
    " pass",
    " down",
    " even",
    " item",
    " did",
    " through",
    " last",
    " again",
    " high",
    " line",
    " does",
    " before",
    " because",
    " state",
    " here",
    " final",
    " run",
    " very",
    " way",
    " call",
    " well",
    " years",
    " view",
    " many",
    " being",
    " good",
    " using",
    " child",
    " person",
    " found",
    " such",
    " think",
    " much",
    " open",
    " next",
    " follow",
    " each",
    " own",
    " best",
    " same",
    " create",
    " made",
    " mark",
    " group",
    " world",
    " process",
    " main",
    " color",
    " report",
    " take",
    " day",
    " top",
    " free",
    " action",
    " real",
    " build",
    " message",
    " art",
    " between",
    " table",
    " head",
    " must",
    " order",
    " say",
    " place",
    " week",
    " program",
    " code",
    " still",
    " field",
    " team",
    " second",
    " going",
    " range",
    " fact",
    " home",
    " left",
    " allow",
    " page",
    " different",
    " around",
    " really",
    " image",
    " level",
    " local",
    " great",
    " month",
    " title",
    " life",
    " pay",
    " change",
    " old",
    " book",
    " version",
    " three",
    " law",
    " base",
    " during",
    " power",
    " date",
    " big",
    " map",
    " few",
    " match",
    " node",
    " another",
    " care",
    " effect",
    " fun",
    " full",
    " turn",
    " body",
    " stand",
    " block",
    " keep",
    " things",
    " red",
    " control",
    " come",
    " source",
    " ask",
    " output",
    " email",
    " business",
    " might",
    " never",
    " hard",
    " called",
    " small",
    " job",
    " address",
    " sum",
    " little",
    " port",
    " status",
    " link",
    " given",
    " better",
    " feel",
    " already",
    " always",
    " parent",
    " got",
    " less",
    " account",
    " lot",
    " bit",
    " sure",
    " search",
    " rest",
    " interest",
    " video",
    " cost",
    " total",
    " load",
    " clear",
    " row",
    " short",
    " company",
    " done",
    " health",
    " children",
    " days",
    " initial",
    " reason",
    " within",
    " design",
    " school",
    " include",
    " stop",
    " later",
    " love",
    " able",
    " men",
    " give",
    " condition",
    " copy",
    " important",
    " lead",
    " family",
    " option",
    " offer",
    " water",
    " step",
    " display",
    " times",
    " four",
    " far",
    " present",
    " room",
    " once",
    " results",
    " continue",
    " talk",
    " grow",
    " mass",
    " mean",
    " until",
    " market",
    " area",
    " length",
    " kind",
    " light",
    " side",
    " example",
    " camp",
    " miss",
    " plan",
    " away",
    " button",
    " near",
    " country",
    " author",
    " along",
    " begin",
    " win",
    " thing",
    " why",
    " single",
    " rights",
    " women",
    " season",
    " possible",
    " sent",
    " command",
    " recent",
    " money",
    " working",
    " window",
    " least",
    " close",
    " past",
    " write",
    " move",
    " special",
    " city",
    " tell",
    " select",
    " course",
    " late",
    " amount",
    " hold",
    " price",
    " today",
    " means",
    " story",
    " meet",
    " sort",
    " thought",
    " task",
    " review",
    " switch",
    " above",
    " question",
    " word",
    " provide",
    " research",
    " cover",
    " whether",
    " having",
    " large",
    " created",
    " host",
    " role",
    " web",
    " deal",
    " problem",
    " press",
    " though",
    " points",
    " ever",
    " actually",
    " seven",
    " eight",
    " nine",
    " ten",
    " five",
    " six",
    " river",
    " forest",
    " summer",
    " winter",
    " spring",
    " night",
    " house",
    " street",
    " town",
    " road",
    " bridge",
    " church",
    " library",
    " music",
    " song",
    " dance",
    " paint",
    " letter",
    " paper",
    " door",
    " floor",
    " wall",
    " roof",
    " chair",
    " bed",
    " lamp",
    " clock",
    " phone",
    " radio",
    " train",
    " plane",
    " boat",
    " ship",
    " car",
    " truck",
    " bike",
    " horse",
    " cat",
    " dog",
    " bird",
    " fish",
    " tree",
    " flower",
    " grass",
    " leaf",
    " stone",
    " rock",
    " sand",
    " snow",
    " rain",
    " wind",
    " storm",
    " cloud",
    " sun",
    " moon",
    " star",
    " sky",
    " fire",
    " earth",
    " metal",
    " gold",
    " silver",
    " iron",
    " glass",
    " wood",
    " bread",
    " salt",
    " apple",
    " orange",
    " rice",
    " bean",
    " corn",
    " egg",
    " tea",
    " coffee",
    " wine",
    " beer",
    " cake",
    " fruit",
    " king",
    " queen",
    " doctor",
    " teacher",
    " student",
    " worker",
    " driver",
    " player",
    " writer",
    " artist",
    " leader",
    " member",
    " friend",
    " father",
    " mother",
    " son",
    " daughter",
    " baby",
    " girl",
    " boy",
    " woman",
    " wife",
    " neighbor",
    " guest",
    " judge",
    " hero",
    " heart",
    " mind",
    " face",
    " eye",
    " ear",
    " mouth",
    " hair",
    " arm",
    " leg",
    " foot",
    " finger",
    " skin",
    " bone",
    " voice",
    " dream",
    " hope",
    " joy",
    " peace",
    " truth",
    " justice",
    " history",
    " science",
    " nature",
    " energy",
    " culture",
    " language",
    " nation",
    " region",
    " farm",
    " factory",
    " office",
    " hospital",
    " hotel",
    " station",
    " airport",
    " castle",
    " tower",
    " shop",
    " bank",
    " store",
    " quiet",
    " happy",
    " bright",
    " dark",
    " warm",
    " cold",
];

/// Bits of randomness per word (`POOL.len() == 1 << WORD_BITS`).
const WORD_BITS: u32 = 9;
/// Words drawn from one 64-bit draw.
const WORDS_PER_DRAW: u32 = 64 / WORD_BITS;
/// Upper bound on the bytes of one pool entry, space included (checked by a test).
const MAX_WORD_BYTES: usize = 10;

/// Stream separators, so that a prefix seed and a body seed with the same value give different
/// words.
const PREFIX_DOMAIN: u64 = 0x7072_6566_6978_0001;
const BODY_DOMAIN: u64 = 0x626f_6479_0000_0002;

/// Generator of exact-length synthetic prompts for one tokenizer.
///
/// Cheap to build for a built-in encoding (no tokenizer table is loaded) and immutable: share
/// one across tasks.
#[derive(Debug, Clone)]
pub struct Synth {
    enc: Encoding,
    vocab: Arc<Vocab>,
}

/// The words a generator draws from: `1 << WORD_BITS` fixed-size slots (a vocabulary of fewer
/// words repeats them), so drawing a word is one masked index and one 16-byte copy.
pub struct Vocab {
    slots: [[u8; SLOT]; 1 << WORD_BITS],
    lens: [u8; 1 << WORD_BITS],
    distinct: usize,
}

impl std::fmt::Debug for Vocab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vocab({} words)", self.distinct)
    }
}

impl Vocab {
    /// The vocabulary of `words` (each with its leading space, at most `MAX_WORD_BYTES`
    /// bytes), repeated to fill the slots; None for an empty list.
    fn of(words: &[&str]) -> Option<Vocab> {
        if words.is_empty() {
            return None;
        }
        let mut v = Vocab {
            slots: [[0u8; SLOT]; 1 << WORD_BITS],
            lens: [0u8; 1 << WORD_BITS],
            distinct: words.len(),
        };
        for i in 0..v.slots.len() {
            let w = words[i % words.len()].as_bytes();
            v.slots[i][..w.len()].copy_from_slice(w);
            v.lens[i] = w.len() as u8;
        }
        Some(v)
    }
}

/// The built-in pool, whose every word is one token in o200k_base and cl100k_base.
fn builtin_vocab() -> Arc<Vocab> {
    static V: OnceLock<Arc<Vocab>> = OnceLock::new();
    V.get_or_init(|| Arc::new(Vocab::of(&POOL).expect("the pool is not empty")))
        .clone()
}

impl Synth {
    /// The generator for `enc`. Both built-in encodings share one word pool.
    pub fn new(enc: Encoding) -> Synth {
        Synth {
            enc,
            vocab: builtin_vocab(),
        }
    }

    /// A generator whose texts are exact under every tokenizer of `files`: the pool's words
    /// that each of them encodes as one token (bare, and with its leading space after another
    /// word), checked by encoding sample texts of several lengths. `Err` says why exactness
    /// cannot be had (too few such words, or a sample whose count is off).
    pub fn for_files(files: &[&TokenizerFile]) -> Result<Synth, String> {
        let words: Vec<&str> = POOL
            .iter()
            .copied()
            .filter(|w| files.iter().all(|f| single_token(f, w)))
            .collect();
        if words.len() < MIN_WORDS {
            return Err(format!(
                "only {} of the {} built-in pool words are single tokens under this tokenizer (at least {MIN_WORDS} are needed)",
                words.len(),
                POOL.len()
            ));
        }
        let synth = Synth {
            enc: Encoding::default(),
            vocab: Arc::new(Vocab::of(&words).expect("not empty")),
        };
        for (n, prefix, seed) in SAMPLES {
            let text = synth.text(n, prefix, seed ^ 0x5A5A, seed);
            for f in files {
                let got = f.count(&text);
                if got != Some(u64::from(n)) {
                    return Err(format!(
                        "a sample prompt of {n} words counts {} tokens under this tokenizer (words merge across their boundaries)",
                        got.map_or_else(|| "no".to_string(), |g| g.to_string())
                    ));
                }
            }
        }
        Ok(synth)
    }

    /// Distinct words the generator draws from.
    pub fn distinct_words(&self) -> usize {
        self.vocab.distinct
    }

    /// The encoding whose token counts [`Synth::text`] makes exact (for a generator built from
    /// tokenizer files: o200k_base, though exactness is then that of the files).
    pub fn encoding(&self) -> Encoding {
        self.enc
    }

    /// Text of exactly `tokens` tokens under the tokenizer (the empty string for 0).
    ///
    /// The first `prefix_tokens` tokens (clamped to `tokens`) are a pure function of
    /// `prefix_seed`: every text with the same `prefix_seed` and prefix length starts with the
    /// same bytes, and a shorter prefix of one seed is a byte prefix of a longer one. The rest
    /// is a pure function of `seed` (and of whether a prefix precedes it: the first word of the
    /// text carries no leading space). Different seeds give different texts except with
    /// probability 2^-9 per token (more for a vocabulary of fewer words).
    pub fn text(&self, tokens: u32, prefix_tokens: u32, prefix_seed: u64, seed: u64) -> String {
        let prefix = prefix_tokens.min(tokens);
        let v = &*self.vocab;
        // Every word is copied as a whole slot, so the buffer has a slot's room to spare.
        let mut buf = vec![0u8; tokens as usize * MAX_WORD_BYTES + SLOT];
        let mut at = push_words(v, &mut buf, 0, prefix, prefix_seed ^ PREFIX_DOMAIN, true);
        at = push_words(
            v,
            &mut buf,
            at,
            tokens - prefix,
            seed ^ BODY_DOMAIN,
            prefix == 0,
        );
        buf.truncate(at);
        String::from_utf8(buf).expect("the pool is ASCII")
    }
}

/// How many words make a prompt that a server counts as a given number of tokens: a straight
/// line fitted to probe requests (`tokenizer = "server"`), template and system prompt included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sizing {
    /// Tokens the server counts besides the words (chat template, system prompt, BOS).
    pub overhead: f64,
    /// Tokens the server counts per word.
    pub per_word: f64,
}

impl Sizing {
    /// Words for a prompt the server should count as `tokens` tokens (at least 1).
    #[inline]
    pub fn words(&self, tokens: u32) -> u32 {
        let w = (f64::from(tokens) - self.overhead) / self.per_word.max(1e-9);
        w.round().clamp(1.0, f64::from(u32::MAX)) as u32
    }
}

/// Fewest distinct words a tokenizer's vocabulary must keep for its texts to stay varied.
const MIN_WORDS: usize = 32;

/// Texts encoded when a generator is built for tokenizer files: (words, prefix words, seed).
const SAMPLES: [(u32, u32, u64); 6] = [
    (1, 0, 1),
    (2, 1, 2),
    (3, 0, 3),
    (64, 16, 4),
    (1000, 0, 5),
    (4000, 1000, 6),
];

/// Whether `f` encodes pool word `w` (with its leading space) as one token bare, and as one
/// more token after another word.
fn single_token(f: &TokenizerFile, w: &str) -> bool {
    const BEFORE: &str = "word";
    let base = f.count(BEFORE);
    f.count(&w[1..]) == Some(1)
        && base.is_some()
        && f.count(&format!("{BEFORE}{w}")) == base.map(|b| b + 1)
}

/// Bytes of one word slot: a word and its leading space, zero-padded.
const SLOT: usize = 16;

/// Writes `n` words drawn from the stream of `seed` into `buf` at `at` (the first without its
/// space if `bare_first`); returns the new end. `buf` must have `n * MAX_WORD_BYTES + SLOT`
/// bytes from `at`.
#[inline]
fn push_words(
    v: &Vocab,
    buf: &mut [u8],
    mut at: usize,
    n: u32,
    seed: u64,
    bare_first: bool,
) -> usize {
    let mut rng = SplitMix64::new(seed);
    let mut left = n;
    let mut skip = usize::from(bare_first);
    while left > 0 {
        let mut bits = rng.next();
        let k = left.min(WORDS_PER_DRAW);
        for _ in 0..k {
            let i = (bits & ((1 << WORD_BITS) - 1)) as usize;
            bits >>= WORD_BITS;
            buf[at..at + SLOT].copy_from_slice(&v.slots[i]);
            // A bare word: move it back over its own space.
            if skip == 1 {
                buf.copy_within(at + 1..at + SLOT, at);
            }
            at += usize::from(v.lens[i]) - skip;
            skip = 0;
        }
        left -= k;
    }
    at
}

/// SplitMix64 (Steele, Lea and Flood), seeded through its own finaliser so that nearby seeds
/// start far apart on the sequence. Fast and good enough for picking words.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64(finalise(seed))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        finalise(self.0)
    }
}

fn finalise(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::config::tokens::count_with;

    const BOTH: [Encoding; 2] = [Encoding::O200k, Encoding::Cl100k];

    fn count(enc: Encoding, text: &str) -> u64 {
        count_with(enc, text).expect("embedded table loads")
    }

    /// The tokenizer file of a test tokenizer.
    fn file(t: &crate::config::tokenizer::Tokenizer) -> &TokenizerFile {
        match t {
            crate::config::tokenizer::Tokenizer::File(f) => f,
            _ => panic!("a file tokenizer"),
        }
    }

    /// The first `n` pool words, bare.
    fn pool_words(n: usize) -> Vec<&'static str> {
        POOL[..n].iter().map(|w| &w[1..]).collect()
    }

    #[test]
    fn a_tokenizer_files_vocabulary_gives_exact_prompts() {
        use crate::config::tokenizer::testkit::{bpe_json, load};
        let dir = tempfile::tempdir().expect("tempdir");
        // Of the first 200 pool words, those whose letter-by-letter merges do not collide with
        // another word's are one token each (with or without their space); the other pool
        // words are several, so a generator using them would be off.
        let words = pool_words(200);
        let spaced = load(dir.path(), "spaced.json", &bpe_json(&words, true, false));
        let split = load(dir.path(), "split.json", &bpe_json(&words, false, false));
        assert!(
            file(&spaced).count(" river") > Some(1),
            "an unlisted word is several tokens"
        );
        for t in [&spaced, &split] {
            let f = file(t);
            let s = Synth::for_files(&[f]).expect("exact for this tokenizer");
            let single = POOL.iter().filter(|w| f.count(&w[1..]) == Some(1)).count();
            assert!(
                (MIN_WORDS..200).contains(&s.distinct_words()),
                "{}",
                s.distinct_words()
            );
            assert!(s.distinct_words() <= single);
            for (n, prefix, seed) in [(1, 0, 9), (7, 3, 10), (250, 0, 11), (999, 500, 12)] {
                let text = s.text(n, prefix, seed + 1, seed);
                assert_eq!(f.count(&text), Some(u64::from(n)), "{n} words");
            }
            // The built-in pool is not exact under it.
            let builtin = Synth::new(Encoding::O200k).text(500, 0, 1, 2);
            assert_ne!(f.count(&builtin), Some(500));
        }
        // Both files at once: the words each encodes as one token.
        let both = Synth::for_files(&[file(&spaced), file(&split)]).expect("exact for both");
        let text = both.text(300, 100, 3, 4);
        assert_eq!(file(&spaced).count(&text), Some(300));
        assert_eq!(file(&split).count(&text), Some(300));
    }

    #[test]
    fn a_tokenizer_that_cannot_be_exact_says_why() {
        use crate::config::tokenizer::testkit::{bpe_json, load};
        let dir = tempfile::tempdir().expect("tempdir");
        let few = load(
            dir.path(),
            "few.json",
            &bpe_json(&pool_words(10), true, false),
        );
        let e = Synth::for_files(&[file(&few)]).unwrap_err();
        assert!(e.starts_with("only ") && e.contains("at least 32"), "{e}");
        // Words are one token alone, but neighbours merge into one.
        let cross = load(
            dir.path(),
            "cross.json",
            &bpe_json(&pool_words(200), true, true),
        );
        let e = Synth::for_files(&[file(&cross)]).unwrap_err();
        assert!(e.contains("merge across their boundaries"), "{e}");
    }

    #[test]
    fn pool_words_are_one_token_bare_and_spaced_in_both_encodings() {
        assert_eq!(POOL.len(), 1 << WORD_BITS);
        assert_eq!(
            POOL.iter().collect::<HashSet<_>>().len(),
            POOL.len(),
            "duplicates"
        );
        let mut bad = Vec::new();
        for w in POOL {
            assert!(w.len() <= MAX_WORD_BYTES && MAX_WORD_BYTES <= SLOT, "{w:?}");
            assert!(w.starts_with(' '), "{w:?}");
            assert!(w[1..].bytes().all(|b| b.is_ascii_lowercase()), "{w:?}");
            for enc in BOTH {
                for form in [w, &w[1..]] {
                    if count(enc, form) != 1 {
                        bad.push((enc.name(), form));
                    }
                }
            }
        }
        assert!(bad.is_empty(), "not single tokens: {bad:?}");
    }

    #[test]
    fn exact_counts_for_every_length_seed_and_prefix() {
        for enc in BOTH {
            let s = Synth::new(enc);
            for tokens in [1u32, 2, 3, 7, 50, 128, 1000, 4096, 30_000] {
                for (ps, seed) in [(0u64, 0u64), (1, 2), (u64::MAX, 0xDEAD_BEEF)] {
                    for prefix in [0, tokens / 2, tokens] {
                        let t = s.text(tokens, prefix, ps, seed);
                        assert_eq!(
                            count(enc, &t),
                            u64::from(tokens),
                            "{} tokens={tokens} prefix={prefix} seed={seed}",
                            enc.name()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn prefix_is_shared_byte_for_byte_and_the_rest_differs() {
        let s = Synth::new(Encoding::O200k);
        for (tokens, prefix) in [(2u32, 1u32), (100, 40), (1000, 999), (4096, 2048)] {
            let alone = s.text(prefix, prefix, 77, 0);
            let a = s.text(tokens, prefix, 77, 1);
            let b = s.text(tokens, prefix, 77, 2);
            assert!(a.starts_with(&alone) && b.starts_with(&alone));
            // The prefix ends at a word boundary.
            assert_eq!(a.as_bytes()[alone.len()], b' ');
            assert_ne!(a[alone.len()..], b[alone.len()..]);
            // The prefix's token count is its own: prefix + rest splits exactly.
            assert_eq!(count(Encoding::O200k, &alone), u64::from(prefix));
            assert_eq!(
                count(Encoding::O200k, &a[alone.len()..]),
                u64::from(tokens - prefix)
            );
            // A shorter prefix of the same seed is a byte prefix of a longer one.
            assert!(alone.starts_with(&s.text(prefix / 2, prefix, 77, 5)));
            // Another prefix seed gives another prefix.
            assert!(!s.text(tokens, prefix, 78, 1).starts_with(&alone));
        }
    }

    #[test]
    fn deterministic_and_distinct() {
        let s = Synth::new(Encoding::Cl100k);
        assert_eq!(s.text(500, 100, 3, 4), s.text(500, 100, 3, 4));
        assert_eq!(
            s.text(500, 100, 3, 4),
            Synth::new(Encoding::Cl100k).text(500, 100, 3, 4)
        );
        let texts: HashSet<String> = (0..2000).map(|seed| s.text(32, 0, 0, seed)).collect();
        assert_eq!(texts.len(), 2000);
        // Same prefix seed, all-prefix: the body seed does not matter.
        assert_eq!(s.text(64, 64, 9, 1), s.text(64, 64, 9, 2));
        // Equal prefix and body seeds do not make the body repeat the prefix.
        let t = s.text(64, 32, 5, 5);
        let words: Vec<&str> = t.split(' ').collect();
        assert_ne!(words[..32], words[32..]);
    }

    #[test]
    fn edges() {
        let s = Synth::new(Encoding::O200k);
        assert_eq!(s.text(0, 0, 1, 2), "");
        assert_eq!(s.text(0, 10, 1, 2), "");
        // The prefix length is clamped to the total.
        assert_eq!(s.text(5, 10, 1, 2), s.text(5, 5, 1, 3));
        for t in [s.text(1, 0, 1, 2), s.text(1, 1, 1, 2), s.text(3, 1, 1, 2)] {
            assert!(
                !t.starts_with(' ') && !t.ends_with(' ') && !t.contains("  "),
                "{t:?}"
            );
        }
    }

    #[test]
    fn long_text_is_well_formed() {
        // Request-path sized: 32,000 words, no tokenizer involved.
        let t = Synth::new(Encoding::O200k).text(32_000, 1000, 1, 2);
        assert_eq!(t.split(' ').count(), 32_000);
        assert!(t.bytes().all(|b| b == b' ' || b.is_ascii_lowercase()));
        assert!(!t.starts_with(' ') && !t.contains("  ") && !t.ends_with(' '));
        assert!(t.capacity() <= 32_000 * MAX_WORD_BYTES + SLOT);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn exact_count_o200k(
            tokens in 1u32..3000,
            frac in 0.0f64..=1.0,
            prefix_seed in any::<u64>(),
            seed in any::<u64>(),
        ) {
            let prefix = (f64::from(tokens) * frac) as u32;
            let t = Synth::new(Encoding::O200k).text(tokens, prefix, prefix_seed, seed);
            prop_assert_eq!(count(Encoding::O200k, &t), u64::from(tokens));
        }
    }
}
