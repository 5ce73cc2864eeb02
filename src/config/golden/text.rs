//! Text normalisation shared by the checks and the similarity measures, and how a number is
//! found in an answer.

use std::sync::LazyLock;

use regex::Regex;

/// Which normalisations a check applies to both the answer and its expected text. Surrounding
/// whitespace is always ignored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Normalize {
    /// Lowercase (Unicode).
    pub case: bool,
    /// Every run of whitespace becomes one space.
    pub whitespace: bool,
    /// Every character that is neither a letter, a digit nor whitespace is removed.
    pub punctuation: bool,
}

impl Normalize {
    /// All three.
    pub const ALL: Normalize = Normalize {
        case: true,
        whitespace: true,
        punctuation: true,
    };

    /// The names a golden file uses, in order.
    pub const NAMES: [&'static str; 3] = ["case", "whitespace", "punctuation"];

    /// Sets the normalisation named `name`; false when no such name exists.
    pub fn set(&mut self, name: &str) -> bool {
        match name {
            "case" => self.case = true,
            "whitespace" => self.whitespace = true,
            "punctuation" => self.punctuation = true,
            _ => return false,
        }
        true
    }

    /// `s` normalised.
    pub fn apply(&self, s: &str) -> String {
        let mut out: String = if self.punctuation {
            s.chars()
                .filter(|c| c.is_alphanumeric() || c.is_whitespace())
                .collect()
        } else {
            s.to_string()
        };
        if self.case {
            out = out.to_lowercase();
        }
        if self.whitespace {
            out = out.split_whitespace().collect::<Vec<_>>().join(" ");
        }
        out.trim().to_string()
    }
}

/// The words of `s` for the similarity measures: lowercased, every character that is neither a
/// letter, a digit nor whitespace removed, split at whitespace.
pub fn words(s: &str) -> Vec<String> {
    let n = Normalize {
        case: true,
        whitespace: false,
        punctuation: true,
    };
    n.apply(s).split_whitespace().map(str::to_string).collect()
}

/// A number as written in an answer: optional sign, digits with optional thousands commas
/// (`1,234`), optional decimals, optional exponent.
static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
        .expect("the number pattern is valid")
});

/// The last number written in `s` (thousands commas removed), the one an answer usually ends
/// on ("… so the total is 42."). None when `s` holds no number.
pub fn last_number(s: &str) -> Option<f64> {
    let m = NUMBER.find_iter(s).last()?;
    m.as_str().replace(',', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisations_apply_only_when_asked() {
        let s = "  The  Answer:\tParis! ";
        assert_eq!(Normalize::default().apply(s), "The  Answer:\tParis!");
        assert_eq!(Normalize::ALL.apply(s), "the answer paris");
        let case = Normalize {
            case: true,
            ..Normalize::default()
        };
        assert_eq!(case.apply(s), "the  answer:\tparis!");
        let mut n = Normalize::default();
        assert!(n.set("whitespace") && !n.set("accents"));
        assert_eq!(n.apply(s), "The Answer: Paris!");
    }

    #[test]
    fn words_are_lowercase_and_without_punctuation() {
        assert_eq!(
            words("Hello, World! It's 3.5"),
            ["hello", "world", "its", "35"]
        );
        assert!(words(" ... ").is_empty());
    }

    #[test]
    fn the_last_number_is_found_with_sign_commas_decimals_and_exponent() {
        assert_eq!(last_number("3 apples and 4 pears: 7."), Some(7.0));
        assert_eq!(last_number("the total is 1,234.5 dollars"), Some(1234.5));
        assert_eq!(last_number("it fell to -12 degrees"), Some(-12.0));
        assert_eq!(last_number("about 6.02e23 atoms"), Some(6.02e23));
        // Not a thousands group: two numbers, the last wins.
        assert_eq!(last_number("1,2"), Some(2.0));
        assert_eq!(last_number("no digits here"), None);
    }
}
