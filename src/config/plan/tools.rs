//! `[workload] tools`, `tools_file` and `tool_choice`: chat only, every tool a named
//! function, names distinct, a named choice one of them.

use std::path::Path;

use super::Problems;
use crate::config::scenario::{EndpointKind, ScenarioFile};
use crate::config::tools::{function_name, ToolChoice, Tools};

/// The tools every request carries (None when the scenario offers none). Each problem names
/// its field; a tools file is relative to `dir`.
pub(super) fn build(f: &ScenarioFile, dir: &Path, p: &mut Problems) -> Option<Tools> {
    let w = &f.workload;
    if w.endpoint != EndpointKind::Chat {
        for (field, set) in [
            ("workload.tools", w.tools.is_some()),
            ("workload.tools_file", w.tools_file.is_some()),
            ("workload.tool_choice", w.tool_choice.is_some()),
        ] {
            if set {
                p.push(field, "tools apply to endpoint = \"chat\" only");
            }
        }
        return None;
    }
    let (tools, field) = match (&w.tools, &w.tools_file) {
        (Some(_), Some(_)) => {
            p.push(
                "workload.tools_file",
                "give `tools` or `tools_file`, not both",
            );
            return None;
        }
        (Some(t), None) => (t.clone(), None),
        (None, Some(file)) => match read_file(&dir.join(file)) {
            Ok(t) => (t, Some("workload.tools_file")),
            Err(e) => {
                p.push("workload.tools_file", e);
                return None;
            }
        },
        (None, None) => {
            if w.tool_choice.is_some() {
                p.push(
                    "workload.tool_choice",
                    "`tool_choice` needs `tools` (or `tools_file`) to choose from",
                );
            }
            return None;
        }
    };
    if tools.is_empty() {
        p.push(
            field.unwrap_or("workload.tools"),
            "offers no tool (give at least one, or leave it out)",
        );
        return None;
    }
    // The body would carry the keys twice.
    for (i, t) in f.targets.iter().enumerate() {
        for key in ["tools", "tool_choice"] {
            if t.body.contains_key(key) {
                p.push(
                    &format!("targets[{i}].body.{key}"),
                    format!("`{key}` is set from [workload] tools; give it there only"),
                );
            }
        }
    }
    let names = names(&tools, field, p)?;
    let choice = match &w.tool_choice {
        None => ToolChoice::Unset,
        Some(v) => match ToolChoice::parse(v) {
            Ok(ToolChoice::Named(n)) if !names.contains(&n) => {
                p.push(
                    "workload.tool_choice",
                    format!(
                        "names `{n}`, which is not one of the tools offered ({})",
                        names.join(", ")
                    ),
                );
                return None;
            }
            Ok(c) => c,
            Err(e) => {
                p.push("workload.tool_choice", e);
                return None;
            }
        },
    };
    Some(Tools::new(&tools, names, choice, w.tool_choice.as_ref()))
}

/// Each tool's function name, or None after a problem for each tool without one (and for a
/// name given twice). `file` is the tools file's field when the tools came from one.
fn names(tools: &[serde_json::Value], file: Option<&str>, p: &mut Problems) -> Option<Vec<String>> {
    let mut names: Vec<String> = Vec::with_capacity(tools.len());
    let mut ok = true;
    for (i, t) in tools.iter().enumerate() {
        let at = |k: &str| match file {
            Some(f) => (f.to_string(), format!("tool {i}: ")),
            None => (format!("workload.tools[{i}]{k}"), String::new()),
        };
        match function_name(t) {
            Ok(n) if names.iter().any(|m| m == n) => {
                let (field, pre) = at(".function.name");
                p.push(&field, format!("{pre}the tool `{n}` is offered twice"));
                ok = false;
            }
            Ok(n) => names.push(n.to_string()),
            Err(e) => {
                let (field, pre) = at("");
                p.push(&field, format!("{pre}{e}"));
                ok = false;
            }
        }
    }
    ok.then_some(names)
}

/// A JSON file holding the `tools` array.
fn read_file(path: &Path) -> Result<Vec<serde_json::Value>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str::<Vec<serde_json::Value>>(&text)
        .map_err(|e| format!("{}: not a JSON array of tools: {e}", path.display()))
}
