//! `--set KEY=VALUE`: changes applied to a scenario's text before it is validated, so a CI
//! matrix can vary a run (`--set load.rate=20/s`, `--set 'models[0].weight=2'`) without
//! templating files.
//!
//! The key is a dotted path written like the fields in scenario errors: table keys separated by
//! dots, array elements by a 0-based index in brackets (`models[1].target`,
//! `targets[0].timeouts.total`); a key holding a dot or other punctuation is quoted
//! (`targets[0].headers."X-Run"`). The value is read as a TOML value when it is one (`7`, `2.5`,
//! `true`, `"text"`, `[1, 2]`, `{ min = 1, max = 5 }`), else taken as a string (`20/s`, `30s`,
//! `mock`). Missing tables on the way are created; array elements must already exist.
//!
//! The edited text — the *effective scenario* — is parsed and validated exactly like a file, so
//! an override meets the same checks (unknown keys, units, semantic rules) as the file. A problem
//! caused by an override is reported as `--set: FIELD: message`; any other keeps its place in
//! the file.

use std::path::{Path, PathBuf};

use toml_edit::{DocumentMut, InlineTable, Item, Value};

use crate::config::plan::Plan;
use crate::config::scenario::{Problem, ScenarioError, Source};

/// One `--set KEY=VALUE`, parsed.
#[derive(Debug, Clone)]
pub struct Override {
    /// The key path in the dotted form scenario errors use (`models[0].weight`).
    pub field: String,
    segs: Vec<Seg>,
    value: Value,
    /// The value as written on the command line.
    raw: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl Override {
    /// How the override is recorded in the result: `KEY=VALUE` as written, except that values of
    /// HTTP headers (which may carry credentials) are replaced by `<redacted>`, and so is the
    /// `user:password` of a `base_url`.
    pub fn record(&self) -> String {
        let header =
            self.segs.windows(2).any(|w| {
                matches!(&w[0], Seg::Key(k) if k == "headers") && matches!(w[1], Seg::Key(_))
            }) || matches!(self.segs.last(), Some(Seg::Key(k)) if k == "headers");
        if header {
            format!("{}=<redacted>", self.field)
        } else if matches!(self.segs.last(), Some(Seg::Key(k)) if k == "base_url") {
            let raw = crate::core::redact::strip_userinfo(&self.raw);
            format!("{}={raw}", self.field)
        } else {
            format!("{}={}", self.field, self.raw)
        }
    }
}

/// A problem with a `--set` itself, reported without a file position.
fn set_problem(field: &str, message: impl Into<String>) -> Problem {
    Problem {
        file: PathBuf::from("--set"),
        line: 0,
        column: 0,
        field: field.to_string(),
        message: message.into(),
    }
}

/// Parses `KEY=VALUE`.
pub fn parse(arg: &str) -> Result<Override, Problem> {
    let Some(eq) = find_eq(arg) else {
        return Err(set_problem(
            arg.trim(),
            "write KEY=VALUE, e.g. --set load.rate=20/s or --set 'models[0].weight=2'",
        ));
    };
    let (key, raw) = (arg[..eq].trim(), &arg[eq + 1..]);
    let segs = parse_key(key).map_err(|m| set_problem(key, m))?;
    let field = field_name(&segs);
    let value = match raw.trim().parse::<Value>() {
        Ok(mut v) => {
            v.decor_mut().clear();
            v
        }
        Err(_) => Value::from(raw),
    };
    Ok(Override {
        field,
        segs,
        value,
        raw: raw.to_string(),
    })
}

/// The first `=` outside a quoted key.
fn find_eq(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '=' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_key(key: &str) -> Result<Vec<Seg>, String> {
    const HELP: &str = "a key is a dotted path such as load.rate, models[0].weight or targets[0].headers.\"X-Run\"";
    if key.is_empty() {
        return Err(format!("the key is empty; {HELP}"));
    }
    let mut segs = Vec::new();
    let chars: Vec<char> = key.chars().collect();
    let mut i = 0;
    let mut expect_key = true;
    while i < chars.len() {
        let c = chars[i];
        if expect_key {
            let name = if c == '"' {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '"')
                    .ok_or_else(|| format!("unclosed quote in `{key}`; {HELP}"))?;
                let name: String = chars[i + 1..i + 1 + end].iter().collect();
                i += end + 2;
                name
            } else {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || "_-".contains(chars[i]))
                {
                    i += 1;
                }
                if i == start {
                    return Err(format!("unexpected `{c}` in `{key}`; {HELP}"));
                }
                chars[start..i].iter().collect()
            };
            segs.push(Seg::Key(name));
            expect_key = false;
            continue;
        }
        match c {
            '.' => {
                expect_key = true;
                i += 1;
            }
            '[' => {
                let end = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .ok_or_else(|| format!("unclosed `[` in `{key}`; {HELP}"))?;
                let idx: String = chars[i + 1..i + end].iter().collect();
                let n = idx
                    .trim()
                    .parse::<usize>()
                    .map_err(|_| format!("`[{idx}]` is not an array index (0, 1, 2, …); {HELP}"))?;
                segs.push(Seg::Index(n));
                i += end + 1;
            }
            _ => return Err(format!("unexpected `{c}` in `{key}`; {HELP}")),
        }
    }
    if expect_key {
        return Err(format!("`{key}` ends with a dot; {HELP}"));
    }
    Ok(segs)
}

/// The dotted form used in scenario errors.
fn field_name(segs: &[Seg]) -> String {
    let mut s = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Sets one override in the document.
fn apply_one(doc: &mut DocumentMut, o: &Override) -> Result<(), String> {
    let mut item: &mut Item = doc.as_item_mut();
    let mut walked: Vec<Seg> = Vec::new();
    let last = o.segs.len() - 1;
    for (n, seg) in o.segs.iter().enumerate() {
        let here = field_name(&walked);
        let what = if here.is_empty() {
            "the scenario".to_string()
        } else {
            format!("`{here}`")
        };
        match seg {
            Seg::Key(k) => {
                let kind = item.type_name();
                let Some(t) = item.as_table_like_mut() else {
                    return Err(format!(
                        "{what} is {kind}, not a table: it has no key `{k}`"
                    ));
                };
                if n == last {
                    let mut v = o.value.clone();
                    if let Some(old) = t.get(k).and_then(|i| i.as_value()) {
                        *v.decor_mut() = old.decor().clone();
                    }
                    t.insert(k, Item::Value(v));
                    return Ok(());
                }
                if t.get(k).is_none() {
                    if matches!(o.segs[n + 1], Seg::Index(_)) {
                        return Err(format!(
                            "{what} has no `{k}`: --set changes array elements that exist, it does not create them"
                        ));
                    }
                    // Inline, so the new table stays attached to its parent wherever that is.
                    t.insert(k, Item::Value(Value::InlineTable(InlineTable::new())));
                }
                item = t.get_mut(k).ok_or_else(|| format!("{what} has no `{k}`"))?;
            }
            Seg::Index(i) => {
                let len = match &*item {
                    Item::ArrayOfTables(a) => a.len(),
                    Item::Value(Value::Array(a)) => a.len(),
                    other => {
                        return Err(format!(
                            "{what} is {}, not an array: it has no element [{i}]",
                            other.type_name()
                        ))
                    }
                };
                if *i >= len {
                    return Err(format!(
                        "{what} has {len} element{}, so [{i}] does not exist (indexes start at 0)",
                        if len == 1 { "" } else { "s" }
                    ));
                }
                if n == last {
                    if item.is_array_of_tables() {
                        return Err(format!(
                            "{what}[{i}] is a table: set one of its keys, e.g. {}[{i}].KEY=VALUE",
                            here
                        ));
                    }
                    if let Some(a) = item.as_array_mut() {
                        let mut v = o.value.clone();
                        if let Some(old) = a.get(*i) {
                            *v.decor_mut() = old.decor().clone();
                        }
                        a.replace_formatted(*i, v);
                    }
                    return Ok(());
                }
                item = item
                    .get_mut(*i)
                    .ok_or_else(|| format!("{what} has no element [{i}]"))?;
            }
        }
        walked.push(seg.clone());
    }
    Ok(())
}

/// The scenario text with every override applied in order (a later one wins). `Ok(None)` when
/// the file's own TOML does not parse: the caller reports the file's syntax error.
pub fn apply(src: &Source, overrides: &[Override]) -> Result<Option<Source>, ScenarioError> {
    let Ok(mut doc) = src.text.parse::<DocumentMut>() else {
        return Ok(None);
    };
    let mut problems = Vec::new();
    for o in overrides {
        if let Err(m) = apply_one(&mut doc, o) {
            problems.push(set_problem(&o.field, m));
        }
    }
    if !problems.is_empty() {
        return Err(ScenarioError::Invalid(problems));
    }
    Ok(Some(Source {
        path: src.path.clone(),
        text: doc.to_string(),
    }))
}

/// Whether `field` lies at or below `over` (`load.rate` ≤ `load.rate`, `targets[0].timeouts.total`
/// ≤ `targets[0].timeouts`).
fn under(field: &str, over: &str) -> bool {
    field == over
        || field
            .strip_prefix(over)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// The override a problem found in the effective scenario comes from, if any.
fn blame<'a>(p: &Problem, overrides: &'a [Override]) -> Option<(&'a Override, String)> {
    // The last override of a field is the one in effect.
    for o in overrides.iter().rev() {
        if under(&p.field, &o.field) {
            return Some((o, p.field.clone()));
        }
        // An unknown key is reported on its parent table: `load` for `load.rat`.
        if p.field.is_empty() || under(&o.field, &p.field) {
            let rest = o.field[p.field.len()..].trim_start_matches('.');
            let next = rest
                .split(['.', '['])
                .next()
                .unwrap_or_default()
                .trim_matches('"');
            if !next.is_empty() && p.message.contains(&format!("`{next}`")) {
                return Some((o, o.field.clone()));
            }
        }
    }
    None
}

/// Re-attributes the problems found in the effective scenario: to `--set` when an override
/// caused them, else to their place in the file as written.
fn attribute(e: ScenarioError, original: &Source, overrides: &[Override]) -> ScenarioError {
    let ScenarioError::Invalid(ps) = e else {
        return e;
    };
    let mut out: Vec<Problem> = Vec::new();
    for p in ps {
        let q = match blame(&p, overrides) {
            Some((_, field)) => set_problem(&field, p.message),
            None => original.problem(&p.field, p.message),
        };
        if !out.contains(&q) {
            out.push(q);
        }
    }
    ScenarioError::Invalid(out)
}

/// Reads a scenario file, applies `--set` overrides and validates the result. Without
/// overrides this is [`Plan::load`]; with them, the plan's scenario hash is that of the
/// effective text and the plan lists the overrides.
pub fn load_plan(path: &Path, sets: &[String]) -> Result<Plan, ScenarioError> {
    let src = Source::read(path)?;
    plan_from_source(src, sets)
}

/// [`load_plan`] on text already read (e.g. a scenario built from flags).
pub fn plan_from_source(src: Source, sets: &[String]) -> Result<Plan, ScenarioError> {
    if sets.is_empty() {
        let file = src.parse()?;
        return Plan::build(&src, file);
    }
    let mut overrides = Vec::new();
    let mut problems = Vec::new();
    for s in sets {
        match parse(s) {
            Ok(o) => overrides.push(o),
            Err(p) => problems.push(p),
        }
    }
    if !problems.is_empty() {
        return Err(ScenarioError::Invalid(problems));
    }
    let Some(effective) = apply(&src, &overrides)? else {
        // The file itself is not TOML: its own error, located in it.
        let file = src.parse()?;
        return Plan::build(&src, file);
    };
    let file = effective
        .parse()
        .map_err(|e| attribute(e, &src, &overrides))?;
    let mut plan = Plan::build(&effective, file).map_err(|e| attribute(e, &src, &overrides))?;
    plan.overrides = overrides.iter().map(Override::record).collect();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"# a comment that must survive
name = "t"
seed = 1

[[targets]]
name = "sim"
base_url = "mock"
timeouts = { total = "60s" }

[[models]]
id = "m1"
target = "sim"

[[models]]
id = "m2"
target = "sim"
weight = 1   # keep me

[workload]
prompts = ["hi"]
max_tokens = 8

[load]
rate = "5/s"
duration = "2s"
"#;

    fn src(text: &str) -> Source {
        Source {
            path: PathBuf::from("s.toml"),
            text: text.to_string(),
        }
    }

    fn plan(sets: &[&str]) -> Result<Plan, String> {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        plan_from_source(src(BASE), &sets).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_parse_into_segments() {
        let o = parse("models[1].weight=2").unwrap();
        assert_eq!(
            o.segs,
            vec![
                Seg::Key("models".into()),
                Seg::Index(1),
                Seg::Key("weight".into())
            ]
        );
        assert_eq!(o.field, "models[1].weight");
        assert!(o.value.as_integer() == Some(2));
        let o = parse(r#"targets[0].headers."X-a.b"=v=1"#).unwrap();
        assert_eq!(o.segs[3], Seg::Key("X-a.b".into()));
        assert_eq!(o.value.as_str(), Some("v=1"));
        assert_eq!(
            parse("load.rate=20/s").unwrap().value.as_str(),
            Some("20/s")
        );
        assert_eq!(parse("name=\"x y\"").unwrap().value.as_str(), Some("x y"));
        for bad in [
            "load.rate",
            "=1",
            "load..rate=1",
            "models[x].id=1",
            "load.=1",
            "a b=1",
        ] {
            let e = parse(bad).expect_err(bad).to_string();
            assert!(e.starts_with("--set: "), "{bad}: {e}");
        }
    }

    #[test]
    fn overrides_change_the_plan_and_keep_the_rest() {
        let p = plan(&[
            "load.rate=20/s",
            "load.duration=30s",
            "seed=7",
            "models[0].weight=2",
            "targets[0].timeouts.total=90s",
        ])
        .unwrap();
        assert_eq!(p.seed, 7);
        assert_eq!(p.models[0].weight, 2.0);
        assert_eq!(p.models[1].weight, 1.0);
        assert_eq!(p.load.duration, Some(std::time::Duration::from_secs(30)));
        assert_eq!(p.overrides.len(), 5);
        assert_eq!(p.overrides[0], "load.rate=20/s");
        let o: Vec<Override> = ["load.rate=20/s", "models[1].weight=3"]
            .iter()
            .map(|s| parse(s).unwrap())
            .collect();
        let eff = apply(&src(BASE), &o).unwrap().unwrap();
        assert!(eff.text.contains("# a comment that must survive"));
        assert!(eff.text.contains("weight = 3   # keep me"), "{}", eff.text);
        assert!(eff.text.contains("rate = \"20/s\""));
    }

    #[test]
    fn hash_is_of_the_effective_scenario() {
        let plain = plan(&[]).unwrap();
        let same = plan(&["load.rate=\"5/s\""]).unwrap();
        let other = plan(&["load.rate=6/s"]).unwrap();
        assert_eq!(plain.scenario_sha256, same.scenario_sha256);
        assert_ne!(plain.scenario_sha256, other.scenario_sha256);
        assert!(plain.overrides.is_empty());
    }

    #[test]
    fn missing_tables_are_created() {
        let p = plan(&["slo.ttft=500ms", "sweep.steps=4"]).unwrap();
        assert_eq!(p.slo.ttft_ms, Some(500.0));
        assert_eq!(p.sweep.steps, 4);
    }

    #[test]
    fn bad_overrides_are_blamed_on_set() {
        let e = plan(&["load.rat=20/s"]).unwrap_err();
        assert!(e.starts_with("--set: load.rat: unknown field `rat`"), "{e}");
        let e = plan(&["load.rate=20 per s"]).unwrap_err();
        assert!(e.starts_with("--set: load.rate: "), "{e}");
        let e = plan(&["models[5].weight=2"]).unwrap_err();
        assert!(
            e.contains("--set: models[5].weight: `models` has 2 elements"),
            "{e}"
        );
        let e = plan(&["load.rate.x=1"]).unwrap_err();
        assert!(
            e.starts_with("--set: load.rate.x: `load.rate` is string"),
            "{e}"
        );
        let e = plan(&["name=true"]).unwrap_err();
        assert!(e.starts_with("--set: name: "), "{e}");
        let e = plan(&["models[0].weight=-1"]).unwrap_err();
        assert!(e.starts_with("--set: models[0].weight: "), "{e}");
        let e = plan(&["targets[0].headers.X=1", "bogus=1"]).unwrap_err();
        assert!(e.starts_with("--set: bogus: unknown field `bogus`"), "{e}");
    }

    #[test]
    fn file_problems_keep_their_place_in_the_file() {
        let text = BASE.replace("target = \"sim\"\nweight", "target = \"nowhere\"\nweight");
        let e = plan_from_source(src(&text), &["seed=3".to_string()])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("s.toml:16:1: models[1].target"), "{e}");
    }

    #[test]
    fn header_values_are_not_recorded() {
        let o = parse("targets[0].headers.X-Key=secret").unwrap();
        assert_eq!(o.record(), "targets[0].headers.X-Key=<redacted>");
        assert_eq!(parse("seed=7").unwrap().record(), "seed=7");
        assert_eq!(
            parse("targets[0].base_url=http://u:pw@h:1/v1")
                .unwrap()
                .record(),
            "targets[0].base_url=http://<redacted>@h:1/v1"
        );
    }
}
