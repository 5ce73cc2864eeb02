//! What a mock model answers to known prompts: a table read from a JSONL file of
//! `{"prompt": "...", "answer": "..."}` lines, and the share of those answers made wrong on
//! purpose. The server looks a request's last user message up in it (see `engine::mock`).
//!
//! The rules are stated in docs/scenarios.md (the mock's `answers` and `wrong`); keep the two
//! in step.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::core::problem::Problem;

/// The answer given in place of a table answer drawn to be wrong: it fails an exact,
/// number, label or JSON check of any reasonable golden line.
pub const WRONG_ANSWER: &str = "I do not know.";

/// Most problems listed for one answers file.
const MAX_PROBLEMS: usize = 20;

/// One answer, cut into the tokens the mock streams and counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens(pub Arc<[Box<str>]>);

impl Tokens {
    /// `text` cut into tokens: each token is a run of whitespace (possibly empty, for the
    /// first) followed by a run of other characters; whitespace at the end joins the last
    /// token. "7 + 5 = 12" is 5 tokens; "Paris" is 1.
    pub fn of(text: &str) -> Tokens {
        let mut out: Vec<Box<str>> = Vec::new();
        let mut start = 0;
        let mut in_word = false;
        for (i, c) in text.char_indices() {
            let space = c.is_whitespace();
            if space && in_word {
                out.push(text[start..i].into());
                start = i;
            }
            in_word = !space;
        }
        if start < text.len() {
            let rest = &text[start..];
            match out.last_mut() {
                // Only whitespace is left: it ends the last token.
                Some(last) if rest.trim().is_empty() => {
                    let joined = format!("{last}{rest}");
                    *last = joined.into();
                }
                // Only whitespace in the whole text: no token.
                None if rest.trim().is_empty() => {}
                _ => out.push(rest.into()),
            }
        }
        Tokens(out.into())
    }

    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No token at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A model's answers table.
#[derive(Debug, Clone, PartialEq)]
pub struct MockAnswers {
    /// The file it was read from, as the scenario names it.
    pub file: PathBuf,
    /// Prompt (trimmed) to its index in `answers`.
    pub index: HashMap<Box<str>, usize>,
    /// The table's answers, in file order.
    pub answers: Vec<Tokens>,
    /// Share of table answers replaced by [`WRONG_ANSWER`], in [0, 1].
    pub wrong: f64,
    /// [`WRONG_ANSWER`] as tokens.
    pub wrong_answer: Tokens,
}

impl MockAnswers {
    /// The index of `prompt`'s answer (surrounding whitespace ignored), if the table has it.
    #[inline]
    pub fn find(&self, prompt: &str) -> Option<usize> {
        self.index.get(prompt.trim()).copied()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    prompt: String,
    answer: String,
}

/// Reads the answers file `path` (shown as `shown` in problems) with `wrong` as the share of
/// wrong answers. `Err` holds the reason the file cannot be read, or the problems of its lines
/// (each with the file, line, column and field).
pub fn load(path: &Path, shown: &Path, wrong: f64) -> Result<MockAnswers, AnswersError> {
    let text = std::fs::read_to_string(path).map_err(AnswersError::Io)?;
    parse(&text, shown, wrong).map_err(AnswersError::Lines)
}

/// Why an answers file cannot be used.
#[derive(Debug)]
pub enum AnswersError {
    /// The file cannot be read.
    Io(std::io::Error),
    /// Lines that are wrong.
    Lines(Vec<Problem>),
}

/// The table in `text`; problems name `shown` as the file.
pub fn parse(text: &str, shown: &Path, wrong: f64) -> Result<MockAnswers, Vec<Problem>> {
    let mut index: HashMap<Box<str>, usize> = HashMap::new();
    let mut answers = Vec::new();
    let mut lines_of = Vec::new();
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let mut problem = |column: usize, field: &str, message: String| {
            problems.push(Problem {
                file: shown.to_path_buf(),
                line: i + 1,
                column,
                field: field.to_string(),
                message,
            })
        };
        let line: Line = match serde_json::from_str(trimmed) {
            Ok(l) => l,
            Err(e) => {
                let indent = raw.len() - raw.trim_start().len();
                let column = e.column() + indent;
                let e = e.to_string();
                let why = e.rfind(" at line ").map_or(e.as_str(), |i| &e[..i]);
                let field = ["prompt", "answer"]
                    .into_iter()
                    .find(|f| why.contains(&format!("field `{f}`")))
                    .unwrap_or("");
                problem(
                    column,
                    field,
                    format!(
                        "not an answers line ({{\"prompt\": \"...\", \"answer\": \"...\"}}): {why}"
                    ),
                );
                continue;
            }
        };
        let prompt = line.prompt.trim();
        if prompt.is_empty() {
            problem(1, "prompt", "must not be empty".into());
            continue;
        }
        let tokens = Tokens::of(&line.answer);
        if tokens.is_empty() {
            problem(1, "answer", "must not be empty".into());
            continue;
        }
        if let Some(&first) = index.get(prompt) {
            let at: &usize = lines_of.get(first).unwrap_or(&0);
            problem(
                1,
                "prompt",
                format!("this prompt already has an answer, on line {at}"),
            );
            continue;
        }
        index.insert(prompt.into(), answers.len());
        answers.push(tokens);
        lines_of.push(i + 1);
    }
    if problems.is_empty() && answers.is_empty() {
        problems.push(Problem {
            file: shown.to_path_buf(),
            line: 1,
            column: 1,
            field: String::new(),
            message: "the answers file has no lines".into(),
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(MockAnswers {
        file: shown.to_path_buf(),
        index,
        answers,
        wrong,
        wrong_answer: Tokens::of(WRONG_ANSWER),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<String> {
        Tokens::of(s).0.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn an_answer_is_cut_into_words_with_their_leading_space() {
        assert_eq!(tokens("Paris"), ["Paris"]);
        assert_eq!(tokens("7 + 5 = 12"), ["7", " +", " 5", " =", " 12"]);
        assert_eq!(tokens("  a\n b  "), ["  a", "\n b  "]);
        assert_eq!(
            tokens("{\"city\": \"Paris\"}"),
            ["{\"city\":", " \"Paris\"}"]
        );
        assert!(tokens("   ").is_empty());
        // The tokens put back together are the answer.
        for s in ["7 + 5 = 12", "  a\n b  ", "x"] {
            assert_eq!(tokens(s).concat(), s);
        }
    }

    proptest::proptest! {
        /// Any text is cut into tokens that put back together are the text (all whitespace:
        /// no token), each but the first starting with whitespace; any table text loads or is
        /// refused, never panics.
        #[test]
        fn tokens_rebuild_the_answer_and_any_text_loads_or_is_refused(text in "\\PC{0,80}") {
            let t = tokens(&text);
            if text.trim().is_empty() {
                proptest::prop_assert!(t.is_empty());
            } else {
                proptest::prop_assert_eq!(t.concat(), text.clone());
                proptest::prop_assert!(t.iter().skip(1).all(|w| w.starts_with(char::is_whitespace)));
            }
            let _ = parse(&text, Path::new("a.jsonl"), 0.5);
            let line = format!("{{\"prompt\": {}, \"answer\": {}}}", serde_json::json!(text), serde_json::json!(text));
            let _ = parse(&line, Path::new("a.jsonl"), 0.5);
        }
    }

    #[test]
    fn a_table_is_found_by_its_trimmed_prompt() {
        let t = parse(
            "{\"prompt\": \" What is 2+2? \", \"answer\": \"4\"}\n\n{\"prompt\": \"Capital of France?\", \"answer\": \"Paris\"}\n",
            Path::new("a.jsonl"),
            0.25,
        )
        .expect("valid");
        assert_eq!(t.find("What is 2+2?"), Some(0));
        assert_eq!(t.find("\nCapital of France?  "), Some(1));
        assert_eq!(t.find("Capital of France"), None);
        assert_eq!(t.answers[1].0[0].as_ref(), "Paris");
        assert_eq!(t.wrong, 0.25);
        assert_eq!(t.wrong_answer.len(), 4);
    }

    #[test]
    fn bad_lines_are_named_by_line_and_field() {
        let text = "{\"prompt\": \"a\", \"answer\": \"1\"}\n\
                    not json\n\
                    {\"prompt\": \"b\"}\n\
                    {\"prompt\": \"a\", \"answer\": \"2\"}\n\
                    {\"prompt\": \"c\", \"answer\": \" \"}\n\
                    {\"prompt\": \"d\", \"answer\": \"x\", \"extra\": 1}\n";
        let found = parse(text, Path::new("a.jsonl"), 0.0).expect_err("bad lines");
        let shown: Vec<(usize, &str)> = found.iter().map(|p| (p.line, p.field.as_str())).collect();
        assert_eq!(
            shown,
            [
                (2, ""),
                (3, "answer"),
                (4, "prompt"),
                (5, "answer"),
                (6, "")
            ]
        );
        assert!(found[2].message.contains("on line 1"), "{}", found[2]);
        assert!(found[1].message.contains("missing field `answer`"));
        assert!(found[4].message.contains("unknown field `extra`"));
        let empty = parse("\n\n", Path::new("a.jsonl"), 0.0).expect_err("empty");
        assert_eq!(empty[0].message, "the answers file has no lines");
    }
}
