//! `llmload run --url URL --model NAME …`: a run described by flags alone. The flags are turned
//! into the scenario TOML a user would write, which then takes the same path as a file
//! (parsing, validation, `--set` overrides), so results, checks and reports are identical.

use std::path::PathBuf;

use toml_edit::{value, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::cli::args::FlagRunArgs;
use crate::config::plan::Plan;
use crate::config::scenario::{Problem, ScenarioError, Source};

/// The path recorded for a scenario built from flags (`scenario.path` in the result).
pub const FLAGS_PATH: &str = "(flags)";

/// Defaults for what the flags leave out.
pub const DEFAULT_RATE: &str = "1/s";
/// Length of the measured window when neither `--duration` nor `--requests` is given.
pub const DEFAULT_DURATION: &str = "30s";
/// Prompt length (tokens) without `--input-tokens`.
pub const DEFAULT_INPUT_TOKENS: u32 = 512;
/// `max_tokens` without `--output-tokens`.
pub const DEFAULT_OUTPUT_TOKENS: u32 = 128;

/// The scenario text the flags describe.
pub fn scenario_text(f: &FlagRunArgs) -> String {
    let url = f.url.clone().unwrap_or_default();
    let model = f.model.clone().unwrap_or_default();
    let mut doc = DocumentMut::new();
    doc["name"] = value(scenario_name(&model));
    // The description lands in the result: never with the URL's credentials.
    let shown = crate::core::redact::strip_userinfo(&url);
    doc["description"] = value(format!("Run from flags: {model} at {shown}"));

    let mut target = Table::new();
    target["name"] = value("target");
    target["base_url"] = value(url);
    if let Some(env) = &f.api_key_env {
        target["api_key_env"] = value(env.clone());
    }
    if let Some(auth) = &f.auth {
        // "header:NAME" is the flag's spelling of the scenario's `auth = { header = "NAME" }`;
        // anything else is passed through for the scenario's own validation to judge.
        target["auth"] = match auth.strip_prefix("header:") {
            Some(name) => {
                let mut t = InlineTable::new();
                t.insert("header", Value::from(name));
                value(t)
            }
            None => value(auth.clone()),
        };
    }
    let mut targets = ArrayOfTables::new();
    targets.push(target);
    doc["targets"] = Item::ArrayOfTables(targets);

    let mut m = Table::new();
    m["id"] = value(model);
    m["target"] = value("target");
    let mut models = ArrayOfTables::new();
    models.push(m);
    doc["models"] = Item::ArrayOfTables(models);

    let mut synthetic = InlineTable::new();
    synthetic.insert(
        "input_tokens",
        Value::from(i64::from(f.input_tokens.unwrap_or(DEFAULT_INPUT_TOKENS))),
    );
    let mut prompts = InlineTable::new();
    prompts.insert("synthetic", Value::InlineTable(synthetic));
    let mut workload = Table::new();
    workload["prompts"] = value(prompts);
    workload["max_tokens"] = value(i64::from(f.output_tokens.unwrap_or(DEFAULT_OUTPUT_TOKENS)));
    doc["workload"] = Item::Table(workload);

    let mut load = Table::new();
    match (f.concurrency, &f.rate) {
        (Some(c), _) => load["concurrency"] = value(i64::from(c)),
        (None, Some(r)) => load["rate"] = value(r.clone()),
        (None, None) => load["rate"] = value(DEFAULT_RATE),
    }
    match (&f.duration, f.requests) {
        (Some(d), _) => load["duration"] = value(d.clone()),
        (None, Some(n)) => load["requests"] = value(i64::try_from(n).unwrap_or(i64::MAX)),
        (None, None) => load["duration"] = value(DEFAULT_DURATION),
    }
    doc["load"] = Item::Table(load);
    doc.to_string()
}

/// A scenario name from the model id, usable in result file names.
fn scenario_name(model: &str) -> String {
    let tail = model.rsplit('/').next().unwrap_or(model).trim();
    if tail.is_empty() {
        "flags".into()
    } else {
        tail.to_string()
    }
}

/// The flag that wrote a scenario field.
fn flag_for(field: &str) -> &'static str {
    let f = |p: &str| {
        field == p || field.starts_with(&format!("{p}.")) || field.starts_with(&format!("{p}["))
    };
    if f("targets[0].base_url") {
        "--url"
    } else if f("targets[0].api_key_env") {
        "--api-key-env"
    } else if f("targets[0].auth") {
        "--auth"
    } else if f("models[0].id") || f("name") {
        "--model"
    } else if f("load.rate") {
        "--rate"
    } else if f("load.concurrency") {
        "--concurrency"
    } else if f("load.duration") {
        "--duration"
    } else if f("load.requests") {
        "--requests"
    } else if f("workload.prompts") {
        "--input-tokens"
    } else if f("workload.max_tokens") {
        "--output-tokens"
    } else {
        "flags"
    }
}

/// Builds and validates the plan the flags describe, with `--set` overrides applied. Problems
/// name the flag that caused them (`--rate: load.rate: …`), or `--set`.
pub fn plan(f: &FlagRunArgs, sets: &[String]) -> Result<Plan, ScenarioError> {
    let src = Source {
        path: PathBuf::from(FLAGS_PATH),
        text: scenario_text(f),
    };
    crate::config::overrides::plan_from_source(src, sets).map_err(|e| match e {
        ScenarioError::Invalid(ps) => ScenarioError::Invalid(
            ps.into_iter()
                .map(|p| {
                    if p.file == std::path::Path::new(FLAGS_PATH) {
                        Problem {
                            file: PathBuf::from(flag_for(&p.field)),
                            line: 0,
                            column: 0,
                            ..p
                        }
                    } else {
                        p
                    }
                })
                .collect(),
        ),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::plan::{Base, Shape};

    fn args(url: &str, model: &str) -> FlagRunArgs {
        FlagRunArgs {
            url: Some(url.into()),
            model: Some(model.into()),
            ..FlagRunArgs::default()
        }
    }

    #[test]
    fn flags_become_the_scenario_a_user_would_write() {
        let mut a = args("http://127.0.0.1:9/v1", "org/My-Model");
        a.rate = Some("10/s".into());
        a.requests = Some(500);
        a.input_tokens = Some(300);
        a.output_tokens = Some(20);
        a.api_key_env = Some("KEY_VAR".into());
        let text = scenario_text(&a);
        let file: toml::Table = toml::from_str(&text).expect("TOML");
        assert_eq!(file["name"].as_str(), Some("My-Model"));
        assert_eq!(file["load"]["rate"].as_str(), Some("10/s"));
        assert_eq!(file["load"]["requests"].as_integer(), Some(500));
        let p = plan(&a, &[]).expect("valid");
        assert!(matches!(&p.targets[0].base, Base::Url(u) if u == "http://127.0.0.1:9/v1"));
        assert_eq!(p.targets[0].api_key_env.as_deref(), Some("KEY_VAR"));
        assert_eq!(p.models[0].id, "org/My-Model");
        assert_eq!(p.load.requests, Some(500));
        assert_eq!(p.load.duration, None);
        assert!(
            matches!(p.load.shape, Shape::Open { .. }),
            "{:?}",
            p.load.shape
        );
        assert_eq!(p.scenario_path, PathBuf::from(FLAGS_PATH));
    }

    #[test]
    fn the_text_is_the_one_docs_scenarios_md_shows() {
        let mut a = args("http://host:8000/v1", "org/m");
        a.rate = Some("10/s".into());
        a.requests = Some(500);
        let want = r#"name = "m"
description = "Run from flags: org/m at http://host:8000/v1"

[[targets]]
name = "target"
base_url = "http://host:8000/v1"

[[models]]
id = "org/m"
target = "target"

[workload]
prompts = { synthetic = { input_tokens = 512 } }
max_tokens = 128

[load]
rate = "10/s"
requests = 500
"#;
        assert_eq!(scenario_text(&a), want);
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/scenarios.md"))
                .expect("docs");
        assert!(doc.contains(want), "docs/scenarios.md shows another text");
    }

    #[test]
    fn defaults_and_closed_loop() {
        let mut a = args("mock", "m");
        a.concurrency = Some(8);
        let p = plan(&a, &[]).expect("valid");
        assert!(matches!(p.targets[0].base, Base::Mock(_)));
        assert!(
            matches!(p.load.shape, Shape::Closed { .. }),
            "{:?}",
            p.load.shape
        );
        assert_eq!(p.load.duration, Some(std::time::Duration::from_secs(30)));
        let p = plan(&args("mock", "m"), &[]).expect("valid");
        assert!(matches!(p.load.shape, Shape::Open { .. }));
    }

    #[test]
    fn problems_name_the_flag() {
        let mut a = args("mock", "m");
        a.rate = Some("fast".into());
        let e = plan(&a, &[]).unwrap_err().to_string();
        assert!(e.starts_with("--rate: load.rate: "), "{e}");
        let mut a = args("api.example.com", "m");
        a.duration = Some("30".into());
        let e = plan(&a, &[]).unwrap_err().to_string();
        assert!(e.starts_with("--duration: load.duration: "), "{e}");
        let e = plan(&args("api.example.com", "m"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--url: targets[0].base_url: "), "{e}");
        let e = plan(&args("mock", "m"), &["load.rat=1/s".into()])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("--set: load.rat: "), "{e}");
        let mut a = args("mock", "m");
        a.api_key_env = Some("sk-123".into());
        let e = plan(&a, &[]).unwrap_err().to_string();
        assert!(e.starts_with("--api-key-env: "), "{e}");
        let mut a = args("mock", "m");
        a.auth = Some("token".into());
        let e = plan(&a, &[]).unwrap_err().to_string();
        assert!(e.starts_with("--auth: targets[0].auth: "), "{e}");
    }

    #[test]
    fn auth_styles_from_the_flag() {
        use crate::config::plan::AuthStyle;
        for (flag, want) in [
            (None, AuthStyle::Bearer),
            (Some("bearer"), AuthStyle::Bearer),
            (Some("api-key"), AuthStyle::ApiKey),
            (
                Some("header:X-Api-Key"),
                AuthStyle::Header("X-Api-Key".into()),
            ),
        ] {
            let mut a = args(
                "http://127.0.0.1:9/openai/deployments/d?api-version=2024-10-21",
                "m",
            );
            a.api_key_env = Some("KEY_VAR".into());
            a.auth = flag.map(str::to_string);
            let p = plan(&a, &[]).expect("valid");
            assert_eq!(p.targets[0].auth.style, want, "{flag:?}");
        }
    }
}
