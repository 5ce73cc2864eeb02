//! A problem found in an input file (a scenario, a claims file), located as
//! `file:line:column: field: message`, and the one way a list of them prints.
//!
//! Finding and locating problems is the job of the formats that read files; this module only
//! holds and prints them.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a file, located in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub file: PathBuf,
    /// 1-based line (0: not in a file, e.g. a `--set` override).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted field path, e.g. `models[2].target`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() {
            "(top level)"
        } else {
            &self.field
        };
        // Line 0: a problem with no place in a file (a `--set` override, a flag).
        if self.line == 0 {
            return write!(f, "{}: {field}: {}", self.file.display(), self.message);
        }
        write!(
            f,
            "{}:{}:{}: {field}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Every problem, one per line (no trailing line break).
pub fn list(problems: &[Problem]) -> String {
    let mut s = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        s.push_str(&p.to_string());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: usize, field: &str) -> Problem {
        Problem {
            file: "s.toml".into(),
            line,
            column: 7,
            field: field.into(),
            message: "must be positive".into(),
        }
    }

    #[test]
    fn located_one_per_line() {
        assert_eq!(
            p(3, "load.rate").to_string(),
            "s.toml:3:7: load.rate: must be positive"
        );
        assert_eq!(
            p(0, "load.rate").to_string(),
            "s.toml: load.rate: must be positive"
        );
        assert_eq!(
            p(1, "").to_string(),
            "s.toml:1:7: (top level): must be positive"
        );
        assert_eq!(list(&[]), "");
        assert_eq!(
            list(&[p(3, "a"), p(0, "b")]),
            "s.toml:3:7: a: must be positive\ns.toml: b: must be positive"
        );
    }
}
