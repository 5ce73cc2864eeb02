//! Golden sets: a JSONL file of prompts with what a good answer must satisfy, read and compiled
//! once (regexes, JSON schemas), and one answer scored by a line's checks.
//!
//! The format, the checks and the scoring rules are stated in docs/quality.md; keep the two in
//! step.

pub mod check;
pub mod score;
pub mod similarity;
pub mod spec;
pub mod text;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use sha2::Digest;

use crate::config::workload::{Message, Prompt, PromptBody};
use crate::core::problem::Problem;
pub use check::Check;
pub use score::{Answer, LineScore, Unscorable};
pub use similarity::Similarity;

/// Most problems listed for one golden file; a file with more is wrong throughout and the
/// first ones say how.
const MAX_PROBLEMS: usize = 20;

/// A loaded golden set.
#[derive(Debug, Clone)]
pub struct GoldenSet {
    /// The file as given (relative to the scenario's folder when read from a scenario).
    pub path: PathBuf,
    /// Its lines, in file order.
    pub lines: Vec<GoldenLine>,
    /// SHA-256 of the file's text (hex).
    pub sha256: String,
}

/// One golden prompt and what a good answer to it satisfies.
#[derive(Debug, Clone)]
pub struct GoldenLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// The line's `id`, or `line<N>` when it has none.
    pub id: String,
    /// The prompt, with the line's `max_tokens` when given.
    pub prompt: Prompt,
    /// The checks, compiled.
    pub checks: Vec<Check>,
    /// A reference answer for the similarity measures.
    pub reference: Option<String>,
    /// Weight of the line in its group's score (default 1).
    pub weight: f64,
    /// Free labels.
    pub tags: Vec<String>,
    /// The class the line's score is reported under (None: reported only in the total).
    pub class: Option<String>,
}

impl GoldenSet {
    /// The distinct classes named by lines, in order of first appearance.
    pub fn classes(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for c in self.lines.iter().filter_map(|l| l.class.as_deref()) {
            if !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen
    }
}

/// Why a golden file was refused.
#[derive(Debug)]
pub enum GoldenError {
    /// It could not be read.
    Io(std::io::Error),
    /// It was read, and these lines are wrong (located in the golden file).
    Lines(Vec<Problem>),
}

/// One line as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    messages: Option<Vec<Message>>,
    #[serde(default)]
    checks: Vec<Value>,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    max_tokens: Option<u32>,
}

/// Reads and compiles the golden file at `path`, reporting every wrong line (up to
/// 20), each as `file:line:column: field: reason`. `shown` is the path the problems name.
pub fn load(path: &Path, shown: &Path) -> Result<GoldenSet, GoldenError> {
    let text = std::fs::read_to_string(path).map_err(GoldenError::Io)?;
    parse(&text, shown)
}

/// Compiles golden lines from `text`; problems name `shown` as the file.
pub fn parse(text: &str, shown: &Path) -> Result<GoldenSet, GoldenError> {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    let mut ids = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        if problems.len() >= MAX_PROBLEMS {
            break;
        }
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let mut problem = |column: usize, field: &str, message: String| {
            problems.push(Problem {
                file: shown.to_path_buf(),
                line: line_no,
                column,
                field: field.to_string(),
                message,
            })
        };
        let parsed: RawLine = match serde_json::from_str(trimmed) {
            Ok(p) => p,
            Err(e) => {
                let e_column = e.column();
                let indent = raw.len() - raw.trim_start().len();
                // serde_json ends its message with the place, given here as line and column.
                let e = e.to_string();
                let why = e.rfind(" at line ").map_or(e.as_str(), |i| &e[..i]);
                problem(e_column + indent, "", format!("not a golden line: {why}"));
                continue;
            }
        };
        match compile(parsed, line_no) {
            Ok(l) => {
                if !ids.insert(l.id.clone()) {
                    problem(1, "id", format!("`{}` is the id of an earlier line", l.id));
                }
                lines.push(l);
            }
            Err((field, message)) => problem(1, &field, message),
        }
    }
    if problems.is_empty() && lines.is_empty() {
        problems.push(Problem {
            file: shown.to_path_buf(),
            line: 1,
            column: 1,
            field: String::new(),
            message: "the golden file has no lines".into(),
        });
    }
    if problems.is_empty() {
        Ok(GoldenSet {
            path: shown.to_path_buf(),
            lines,
            sha256: crate::core::hex::encode(&sha2::Sha256::digest(text.as_bytes())),
        })
    } else {
        Err(GoldenError::Lines(problems))
    }
}

/// One parsed line checked and compiled. `Err((field, reason))`.
fn compile(l: RawLine, line_no: usize) -> Result<GoldenLine, (String, String)> {
    let err = |f: &str, m: &str| Err((f.to_string(), m.to_string()));
    let body = match (l.prompt, l.messages) {
        (Some(p), None) if !p.trim().is_empty() => PromptBody::Text(p),
        (Some(_), None) => return err("prompt", "must not be empty"),
        (None, Some(ms)) if !ms.is_empty() => PromptBody::Messages(ms),
        (None, Some(_)) => return err("messages", "must not be empty"),
        (Some(_), Some(_)) => return err("", "give `prompt` or `messages`, not both"),
        (None, None) => return err("", "the line has neither `prompt` nor `messages`"),
    };
    if l.checks.is_empty() && l.reference.is_none() {
        return err(
            "checks",
            "the line has no checks and no reference: nothing could score its answer",
        );
    }
    let mut checks = Vec::with_capacity(l.checks.len());
    for (k, c) in l.checks.iter().enumerate() {
        match Check::compile(c) {
            Ok(c) => checks.push(c),
            Err((key, why)) => {
                let field = if key.is_empty() {
                    format!("checks[{k}]")
                } else {
                    format!("checks[{k}].{key}")
                };
                return Err((field, why));
            }
        }
    }
    let weight = l.weight.unwrap_or(1.0);
    if !(weight.is_finite() && weight > 0.0) {
        return err("weight", "must be a number greater than 0");
    }
    if l.max_tokens == Some(0) {
        return err("max_tokens", "must be at least 1");
    }
    if l.id.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return err("id", "must not be empty");
    }
    let mut prompt = match body {
        PromptBody::Text(s) => Prompt::text(s),
        PromptBody::Messages(ms) => {
            let chars = ms.iter().map(|m| m.content.chars().count()).sum();
            Prompt {
                body: PromptBody::Messages(ms),
                max_tokens: None,
                chars,
                images: Vec::new(),
            }
        }
    };
    prompt.max_tokens = l.max_tokens;
    Ok(GoldenLine {
        line: line_no,
        id: l.id.unwrap_or_else(|| format!("line{line_no}")),
        prompt,
        checks,
        reference: l.reference,
        weight,
        tags: l.tags,
        class: l.class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(text, Path::new("golden.jsonl")) {
            Ok(s) => panic!("{} lines loaded", s.lines.len()),
            Err(GoldenError::Lines(p)) => p.iter().map(|p| p.to_string()).collect(),
            Err(GoldenError::Io(e)) => panic!("{e}"),
        }
    }

    #[test]
    fn lines_load_with_their_fields_and_defaults() {
        let text = r#"{"id": "fr", "prompt": "Capital of France?", "checks": [{"exact": "Paris", "normalize": ["case", "punctuation"]}], "class": "geo", "tags": ["easy"], "max_tokens": 8}

{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "checks": [{"number": 4}, {"not_contains": "sorry", "weight": 0.5}], "weight": 2}
{"prompt": "Summarise the text.", "reference": "A short summary."}
"#;
        let set = parse(text, Path::new("g.jsonl")).expect("valid");
        assert_eq!(set.lines.len(), 3);
        let l = &set.lines[0];
        assert_eq!((l.line, l.id.as_str(), l.weight), (1, "fr", 1.0));
        assert_eq!(l.prompt.max_tokens, Some(8));
        assert_eq!(l.class.as_deref(), Some("geo"));
        assert_eq!(l.tags, ["easy"]);
        let l = &set.lines[1];
        assert_eq!((l.line, l.id.as_str(), l.weight), (3, "line3", 2.0));
        assert!(matches!(&l.prompt.body, PromptBody::Messages(m) if m.len() == 2));
        let names: Vec<(&str, f64)> = l.checks.iter().map(|c| (c.name(), c.weight)).collect();
        assert_eq!(names, [("number", 1.0), ("not_contains", 0.5)]);
        let l = &set.lines[2];
        assert!(l.checks.is_empty() && l.reference.is_some());
        assert_eq!(set.classes(), ["geo"]);
    }

    #[test]
    fn every_bad_line_is_refused_with_line_column_and_reason() {
        let text = "{\"prompt\": \"a\", \"checks\": [{\"contains\": \"a\"}]}\n\
            {\"prompt\": \"b\", \"checks\": [{\"contains\": \"b\"}, {\"equals\": \"b\"}]}\n\
            {\"prompt\": \"c\", \"checks\": [{\"regex\": \"(\"}]}\n\
            {\"prompt\": \"d\"}\n\
            {\"prompt\": \"e\", \"checks\": [{\"json_schema\": {\"type\": \"nope\"}}]}\n\
            {\"prompt\": \"f\", \"checks\": [{\"contains\": \"f\"}], \"colour\": 1}\n\
            {\"prompt\": \"g\", \"checks\": [\n\
            {\"id\": \"x\", \"prompt\": \"h\", \"reference\": \"h\"}\n\
            {\"id\": \"x\", \"prompt\": \"i\", \"reference\": \"i\"}\n\
            {\"reference\": \"j\"}\n";
        let found = problems(text);
        assert_eq!(found.len(), 8, "{found:#?}");
        assert!(found[0].starts_with("golden.jsonl:2:1: checks[1]: unknown check (keys: equals)"));
        assert!(found[1].starts_with("golden.jsonl:3:1: checks[0].regex: invalid regex"));
        assert_eq!(
            found[2],
            "golden.jsonl:4:1: checks: the line has no checks and no reference: nothing could score its answer"
        );
        assert!(
            found[3].starts_with("golden.jsonl:5:1: checks[0].json_schema: invalid JSON schema")
        );
        assert!(found[4].starts_with("golden.jsonl:6:"), "{}", found[4]);
        assert!(found[4].contains("unknown field `colour`"), "{}", found[4]);
        assert!(found[5].starts_with("golden.jsonl:7:"), "{}", found[5]);
        assert!(found[5].contains("not a golden line"), "{}", found[5]);
        assert_eq!(
            found[6],
            "golden.jsonl:9:1: id: `x` is the id of an earlier line"
        );
        assert_eq!(
            found[7],
            "golden.jsonl:10:1: (top level): the line has neither `prompt` nor `messages`"
        );
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert_eq!(
            problems("\n  \n"),
            ["golden.jsonl:1:1: (top level): the golden file has no lines"]
        );
    }

    #[test]
    fn a_missing_file_is_an_io_error() {
        let r = load(
            Path::new("/nonexistent/golden.jsonl"),
            Path::new("golden.jsonl"),
        );
        assert!(matches!(r, Err(GoldenError::Io(_))));
    }
}
