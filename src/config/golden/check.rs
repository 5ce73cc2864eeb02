//! One check of a golden line: read from its JSON object, compiled once (regexes, schemas), and
//! applied to an answer.

use regex::Regex;
use serde_json::{Map, Value};

use super::text::{last_number, Normalize};

/// The check names a golden file may use, in the order the docs list them.
pub const KINDS: [&str; 7] = [
    "exact",
    "contains",
    "not_contains",
    "regex",
    "one_of",
    "number",
    "json_schema",
];

/// What a check asks of an answer.
#[derive(Clone)]
pub enum Kind {
    /// The normalised answer equals the normalised text.
    Exact(String, Normalize),
    /// The normalised answer contains the normalised text.
    Contains(String, Normalize),
    /// The normalised answer does not contain the normalised text.
    NotContains(String, Normalize),
    /// The pattern matches somewhere in the answer.
    Regex(Regex),
    /// The normalised answer equals one of the normalised labels.
    OneOf(Vec<String>, Normalize),
    /// The last number in the answer is within `tolerance` of `want`.
    Number {
        /// The expected value.
        want: f64,
        /// Largest absolute difference that passes.
        tolerance: f64,
    },
    /// The answer (without a surrounding code fence) parses as JSON and validates.
    JsonSchema(Box<jsonschema::Validator>),
}

/// One compiled check with its weight.
#[derive(Clone)]
pub struct Check {
    /// What it asks.
    pub kind: Kind,
    /// Its weight in the line's score (default 1).
    pub weight: f64,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(weight {})", self.name(), self.weight)
    }
}

impl Check {
    /// The check's name as written in the golden file (`exact`, `regex`, …).
    pub fn name(&self) -> &'static str {
        match &self.kind {
            Kind::Exact(..) => "exact",
            Kind::Contains(..) => "contains",
            Kind::NotContains(..) => "not_contains",
            Kind::Regex(_) => "regex",
            Kind::OneOf(..) => "one_of",
            Kind::Number { .. } => "number",
            Kind::JsonSchema(_) => "json_schema",
        }
    }

    /// Whether a partial answer can be judged by this check: a `contains` or `regex` match
    /// found in the text received stays a match, while every other check needs the end of
    /// the answer (an `exact` or `number` answer may be cut before its end, a `not_contains`
    /// text may come later, cut JSON does not parse).
    pub fn judges_partial_answers(&self) -> bool {
        matches!(self.kind, Kind::Contains(..) | Kind::Regex(_))
    }

    /// Whether `answer` passes.
    pub fn passes(&self, answer: &str) -> bool {
        match &self.kind {
            Kind::Exact(want, n) => n.apply(answer) == *want,
            Kind::Contains(want, n) => n.apply(answer).contains(want.as_str()),
            Kind::NotContains(want, n) => !n.apply(answer).contains(want.as_str()),
            Kind::Regex(re) => re.is_match(answer),
            Kind::OneOf(labels, n) => labels.contains(&n.apply(answer)),
            Kind::Number { want, tolerance } => {
                last_number(answer).is_some_and(|x| (x - want).abs() <= *tolerance)
            }
            Kind::JsonSchema(v) => {
                serde_json::from_str::<Value>(unfenced(answer)).is_ok_and(|doc| v.is_valid(&doc))
            }
        }
    }

    /// Compiles one check from its JSON object. `Err((key, reason))`: the key at fault (empty
    /// for the object itself) and what is wrong.
    pub fn compile(v: &Value) -> Result<Check, (String, String)> {
        let Some(obj) = v.as_object() else {
            return Err((
                String::new(),
                format!("a check is an object such as {{\"contains\": \"Paris\"}}, not {v}"),
            ));
        };
        let named: Vec<&str> = KINDS
            .iter()
            .copied()
            .filter(|k| obj.contains_key(*k))
            .collect();
        let kind = match named.as_slice() {
            [k] => *k,
            [] => {
                let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
                return Err((
                    String::new(),
                    format!(
                        "unknown check (keys: {}); a check has one of: {}",
                        keys.join(", "),
                        KINDS.join(", ")
                    ),
                ));
            }
            many => {
                return Err((
                    String::new(),
                    format!(
                        "one check per object: this one has {}; write each in its own object",
                        many.join(", ")
                    ),
                ))
            }
        };
        let allowed: &[&str] = match kind {
            "exact" | "contains" | "not_contains" | "one_of" => &["normalize", "weight"],
            "number" => &["tolerance", "weight"],
            _ => &["weight"],
        };
        if let Some(k) = obj
            .keys()
            .find(|k| k.as_str() != kind && !allowed.contains(&k.as_str()))
        {
            return Err((
                k.clone(),
                format!(
                    "unknown key in a `{kind}` check; it takes: {}",
                    allowed.join(", ")
                ),
            ));
        }
        let weight = match obj.get("weight") {
            None => 1.0,
            Some(w) => match w.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => x,
                _ => return Err(("weight".into(), "must be a number greater than 0".into())),
            },
        };
        let kind = compile_kind(kind, obj)?;
        Ok(Check { kind, weight })
    }
}

/// The kind-specific part of a check object.
fn compile_kind(kind: &str, obj: &Map<String, Value>) -> Result<Kind, (String, String)> {
    let value = &obj[kind];
    let text = |what: &str| -> Result<String, (String, String)> {
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| (kind.to_string(), format!("must be a string ({what})")))
    };
    Ok(match kind {
        "exact" => {
            let n = normalize(obj, Normalize::default())?;
            Kind::Exact(n.apply(&text("the whole expected answer")?), n)
        }
        "contains" | "not_contains" => {
            let n = normalize(obj, Normalize::default())?;
            let t = n.apply(&text("the text to look for")?);
            if t.is_empty() {
                return Err((kind.into(), "must not be empty".into()));
            }
            if kind == "contains" {
                Kind::Contains(t, n)
            } else {
                Kind::NotContains(t, n)
            }
        }
        "regex" => {
            let pattern = text("a regular expression")?;
            let re = Regex::new(&pattern).map_err(|e| {
                // The parser's message spans lines (the pattern, a caret, the reason); the
                // last line is the reason.
                let e = e.to_string();
                let why = e.lines().last().unwrap_or_default();
                let why = why.strip_prefix("error: ").unwrap_or(why);
                (
                    kind.to_string(),
                    format!("invalid regex `{pattern}`: {why}"),
                )
            })?;
            Kind::Regex(re)
        }
        "one_of" => {
            let n = normalize(obj, Normalize::ALL)?;
            let labels = value
                .as_array()
                .filter(|a| !a.is_empty())
                .and_then(|a| a.iter().map(|l| l.as_str().map(|s| n.apply(s))).collect())
                .ok_or_else(|| {
                    (
                        kind.to_string(),
                        "must be a non-empty list of strings (the labels)".to_string(),
                    )
                })?;
            Kind::OneOf(labels, n)
        }
        "number" => {
            let want = value
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| (kind.to_string(), "must be a number".to_string()))?;
            let tolerance = match obj.get("tolerance") {
                None => 0.0,
                Some(t) => t
                    .as_f64()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| {
                        (
                            "tolerance".to_string(),
                            "must be a number, 0 or more".to_string(),
                        )
                    })?,
            };
            Kind::Number { want, tolerance }
        }
        "json_schema" => {
            if !value.is_object() && !value.is_boolean() {
                return Err((kind.into(), "must be a JSON schema (an object)".into()));
            }
            let v = jsonschema::validator_for(value)
                .map_err(|e| (kind.to_string(), format!("invalid JSON schema: {e}")))?;
            Kind::JsonSchema(Box::new(v))
        }
        _ => unreachable!("every name in KINDS is compiled above"),
    })
}

/// The `normalize` list of a check, or `default` when absent.
fn normalize(obj: &Map<String, Value>, default: Normalize) -> Result<Normalize, (String, String)> {
    let Some(v) = obj.get("normalize") else {
        return Ok(default);
    };
    let bad = || {
        (
            "normalize".to_string(),
            format!(
                "must be a list of: {} (an empty list: none)",
                Normalize::NAMES.join(", ")
            ),
        )
    };
    let mut n = Normalize::default();
    for name in v.as_array().ok_or_else(bad)? {
        if !name.as_str().is_some_and(|s| n.set(s)) {
            return Err(bad());
        }
    }
    Ok(n)
}

/// The answer without surrounding whitespace and, when the whole answer is one Markdown code
/// fence (```` ```json ```` … ```` ``` ````), without the fence.
pub fn unfenced(answer: &str) -> &str {
    let t = answer.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return t;
    };
    // The opening fence's line may name a language (`json`); the body starts after it.
    match body.find('\n') {
        Some(i) => body[i + 1..].trim(),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Check {
        Check::compile(&v).expect("the check compiles")
    }

    fn refused(v: Value) -> (String, String) {
        match Check::compile(&v) {
            Ok(c) => panic!("{v} compiled to {c:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn exact_compares_after_the_normalisations_asked_for() {
        let plain = check(json!({"exact": "Paris"}));
        assert!(plain.passes(" Paris\n"));
        assert!(!plain.passes("paris"));
        assert!(!plain.passes("Paris."));
        let loose = check(json!({"exact": "Paris", "normalize": ["case", "punctuation"]}));
        assert!(loose.passes("paris."));
        assert!(!loose.passes("It is Paris."));
    }

    #[test]
    fn contains_and_not_contains() {
        let c = check(json!({"contains": "paris", "normalize": ["case"]}));
        assert!(c.passes("The capital is PARIS."));
        assert!(!c.passes("Lyon"));
        let n = check(json!({"not_contains": "I cannot"}));
        assert!(n.passes("Sure: 42"));
        assert!(!n.passes("I cannot help with that"));
        // Case-sensitive unless asked.
        assert!(n.passes("i cannot help"));
    }

    #[test]
    fn regex_searches_anywhere_unless_anchored() {
        let r = check(json!({"regex": "\\b[0-9]{4}-[0-9]{2}\\b"}));
        assert!(r.passes("on 2024-05, it rained"));
        assert!(!r.passes("on 24-05"));
        let anchored = check(json!({"regex": "^(?i)yes$"}));
        assert!(anchored.passes("YES") && !anchored.passes("yes, sure"));
    }

    #[test]
    fn one_of_matches_a_label_ignoring_case_punctuation_and_spaces_by_default() {
        let c = check(json!({"one_of": ["positive", "negative"]}));
        assert!(c.passes("Positive."));
        assert!(c.passes(" NEGATIVE "));
        assert!(!c.passes("neutral"));
        assert!(!c.passes("positive, mostly"));
    }

    #[test]
    fn number_takes_the_last_number_within_the_tolerance() {
        let c = check(json!({"number": 42, "tolerance": 0.5}));
        assert!(c.passes("6 times 7 is 42.4"));
        assert!(!c.passes("42 or maybe 43"));
        assert!(!c.passes("forty-two"));
        let exact = check(json!({"number": 1234}));
        assert!(exact.passes("It costs $1,234."));
        assert!(!exact.passes("1234.01"));
    }

    #[test]
    fn json_schema_parses_the_answer_fence_or_not_and_validates() {
        let c = check(json!({"json_schema": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}}
        }}));
        assert!(c.passes("{\"city\": \"Paris\"}"));
        assert!(c.passes("```json\n{\"city\": \"Paris\"}\n```"));
        assert!(c.passes("```\n{\"city\": \"Paris\"}\n```"));
        assert!(!c.passes("{\"city\": 3}"));
        assert!(!c.passes("Here it is: {\"city\": \"Paris\"}"));
        assert!(!c.passes("{\"city\": \"Par"));
    }

    #[test]
    fn weights_default_to_one_and_must_be_positive() {
        assert_eq!(check(json!({"contains": "a"})).weight, 1.0);
        assert_eq!(check(json!({"contains": "a", "weight": 3})).weight, 3.0);
        assert_eq!(refused(json!({"contains": "a", "weight": 0})).0, "weight");
    }

    #[test]
    fn bad_checks_are_refused_naming_the_key() {
        let (k, why) = refused(json!({"equals": "Paris"}));
        assert_eq!(k, "");
        assert!(why.starts_with("unknown check (keys: equals)"), "{why}");
        let (k, why) = refused(json!({"regex": "(unclosed"}));
        assert_eq!(k, "regex");
        assert_eq!(why, "invalid regex `(unclosed`: unclosed group");
        let (k, why) = refused(json!({"json_schema": {"type": 5}}));
        assert_eq!(k, "json_schema");
        assert!(why.starts_with("invalid JSON schema"), "{why}");
        assert_eq!(
            refused(json!({"number": 4, "normalize": []})).0,
            "normalize"
        );
        assert_eq!(
            refused(json!({"exact": "a", "normalize": ["accents"]})).0,
            "normalize"
        );
        assert_eq!(refused(json!({"one_of": []})).0, "one_of");
        assert_eq!(refused(json!({"contains": ""})).0, "contains");
        assert_eq!(refused(json!({"number": "4"})).0, "number");
        assert_eq!(
            refused(json!({"number": 4, "tolerance": -1})).0,
            "tolerance"
        );
        let (_, why) = refused(json!({"exact": "a", "contains": "a"}));
        assert!(why.contains("one check per object"), "{why}");
        assert!(refused(json!("Paris")).1.contains("a check is an object"));
    }

    #[test]
    fn only_contains_and_regex_judge_partial_answers() {
        let partial: Vec<&str> = [
            json!({"exact": "a"}),
            json!({"contains": "a"}),
            json!({"not_contains": "a"}),
            json!({"regex": "a"}),
            json!({"one_of": ["a"]}),
            json!({"number": 1}),
            json!({"json_schema": {}}),
        ]
        .into_iter()
        .map(check)
        .filter(Check::judges_partial_answers)
        .map(|c| c.name())
        .collect();
        assert_eq!(partial, ["contains", "regex"]);
    }
}
