//! The problems found while building a plan, collected so that one pass reports them all.

use crate::config::scenario::{Problem, ScenarioError, Source};

/// Every problem the section validators found, in the order they found them, each located
/// in the scenario file.
pub(super) struct Problems<'s> {
    src: &'s Source,
    found: Vec<Problem>,
}

impl<'s> Problems<'s> {
    /// An empty collector for problems in `src`.
    pub(super) fn new(src: &'s Source) -> Self {
        Problems {
            src,
            found: Vec::new(),
        }
    }

    /// Records that `field` (a dotted path such as `models[2].target`) is wrong: `message`
    /// says what and how to fix it; the line and column are the field's place in the file.
    pub(super) fn push(&mut self, field: &str, message: impl Into<String>) {
        self.found.push(self.src.problem(field, message));
    }

    /// Records a problem located in another file the scenario names (a golden set's line).
    pub(super) fn push_located(&mut self, problem: Problem) {
        self.found.push(problem);
    }

    /// The problems found so far.
    #[cfg(test)]
    pub(super) fn found(&self) -> &[Problem] {
        &self.found
    }

    /// `Ok` when nothing was found, otherwise every problem, in order.
    pub(super) fn into_result(self) -> Result<(), ScenarioError> {
        if self.found.is_empty() {
            Ok(())
        } else {
            Err(ScenarioError::Invalid(self.found))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_keep_their_order_and_name_the_fields_line() {
        let src = Source {
            path: "scenario.toml".into(),
            text: "name = \"x\"\n\n[load]\nrate = \"5/s\"\n".into(),
        };
        let mut p = Problems::new(&src);
        assert!(p.found().is_empty());
        p.push("load.rate", "must be greater than 0");
        p.push("name", format!("`{}` is taken", "x"));
        let Err(ScenarioError::Invalid(found)) = p.into_result() else {
            panic!("two problems were recorded");
        };
        let shown: Vec<String> = found.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "scenario.toml:4:1: load.rate: must be greater than 0",
                "scenario.toml:1:1: name: `x` is taken",
            ]
        );
    }

    #[test]
    fn no_problem_is_ok() {
        let src = Source {
            path: "scenario.toml".into(),
            text: String::new(),
        };
        assert!(Problems::new(&src).into_result().is_ok());
    }
}
