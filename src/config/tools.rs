//! Tools offered to a chat model (`[workload] tools`, `tools_file`, `tool_choice`): the
//! validated set and the body fragment that carries it, serialised once when the plan is
//! built so a request only copies bytes.

/// What `tool_choice` asks of the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// Not sent: the server's default (`auto` when tools are offered).
    Unset,
    /// `"auto"`: the model decides.
    Auto,
    /// `"required"`: the model must call a tool.
    Required,
    /// `"none"`: the model must not call one.
    None,
    /// `{ type = "function", function = { name } }`: the model must call this one.
    Named(String),
}

impl ToolChoice {
    /// Reads a written `tool_choice`; the error says what is accepted.
    pub fn parse(v: &serde_json::Value) -> Result<ToolChoice, String> {
        const ACCEPTED: &str = "must be \"auto\", \"required\", \"none\" or \
                                { type = \"function\", function = { name = \"...\" } }";
        match v {
            serde_json::Value::String(s) => match s.as_str() {
                "auto" => Ok(ToolChoice::Auto),
                "required" => Ok(ToolChoice::Required),
                "none" => Ok(ToolChoice::None),
                other => Err(format!("`{other}` is not a tool choice: {ACCEPTED}")),
            },
            serde_json::Value::Object(o) => {
                if o.get("type").and_then(|t| t.as_str()) != Some("function") {
                    return Err(format!(
                        "a named choice needs type = \"function\": {ACCEPTED}"
                    ));
                }
                match o
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(|n| n.as_str())
                {
                    Some(n) if !n.is_empty() => Ok(ToolChoice::Named(n.to_string())),
                    _ => Err(format!("a named choice needs function.name: {ACCEPTED}")),
                }
            }
            _ => Err(ACCEPTED.to_string()),
        }
    }
}

/// The tools every chat request carries.
#[derive(Debug, Clone)]
pub struct Tools {
    /// Each tool's function name, in the order offered.
    pub names: Vec<String>,
    /// The choice sent (or `Unset`).
    pub choice: ToolChoice,
    /// `"tools":[…]` and, when set, `,"tool_choice":…`: JSON object members, ready to be
    /// written into a request body.
    pub fragment: Box<str>,
}

impl Tools {
    /// The tools as given (each an OpenAI tool object) and the choice as written.
    pub fn new(
        tools: &[serde_json::Value],
        names: Vec<String>,
        choice: ToolChoice,
        written_choice: Option<&serde_json::Value>,
    ) -> Tools {
        let mut out = String::from("\"tools\":");
        // Values read from TOML or JSON hold only strings, numbers, booleans, arrays and
        // objects: serialising them cannot fail.
        out.push_str(&serde_json::to_string(tools).unwrap_or_else(|_| "[]".into()));
        if let Some(c) = written_choice {
            out.push_str(",\"tool_choice\":");
            out.push_str(&serde_json::to_string(c).unwrap_or_else(|_| "\"auto\"".into()));
        }
        Tools {
            names,
            choice,
            fragment: out.into_boxed_str(),
        }
    }
}

/// The function name of one tool object, or what is wrong with it.
pub fn function_name(tool: &serde_json::Value) -> Result<&str, &'static str> {
    let Some(o) = tool.as_object() else {
        return Err("a tool is a table { type = \"function\", function = { name = … } }");
    };
    if let Some(t) = o.get("type") {
        if t.as_str() != Some("function") {
            return Err("`type` must be \"function\"");
        }
    }
    match o
        .get("function")
        .map(|f| f.get("name").and_then(|n| n.as_str()))
    {
        None => Err("every tool needs a `function` table with a `name`"),
        Some(Some(n)) if !n.trim().is_empty() => Ok(n),
        Some(_) => Err("every tool needs a function `name` (a non-empty string)"),
    }
}

/// Appends `fragment`'s members to a serialised JSON object (`{…}`) in place.
#[inline]
pub fn append_members(object: &mut Vec<u8>, fragment: &str) {
    if object.last() == Some(&b'}') {
        object.pop();
        if object.len() > 1 {
            object.push(b',');
        }
        object.extend_from_slice(fragment.as_bytes());
        object.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn choices_are_read_and_refused_with_what_is_accepted() {
        assert_eq!(ToolChoice::parse(&json!("auto")), Ok(ToolChoice::Auto));
        assert_eq!(
            ToolChoice::parse(&json!("required")),
            Ok(ToolChoice::Required)
        );
        assert_eq!(ToolChoice::parse(&json!("none")), Ok(ToolChoice::None));
        assert_eq!(
            ToolChoice::parse(&json!({"type": "function", "function": {"name": "f"}})),
            Ok(ToolChoice::Named("f".into()))
        );
        for bad in [
            json!("always"),
            json!(3),
            json!({"function": {"name": "f"}}),
        ] {
            let e = ToolChoice::parse(&bad).expect_err("refused");
            assert!(e.contains("\"required\""), "{e}");
        }
    }

    #[test]
    fn tool_names_are_checked() {
        let ok = json!({"type": "function", "function": {"name": "get_weather", "parameters": {}}});
        assert_eq!(function_name(&ok), Ok("get_weather"));
        assert!(function_name(&json!({"type": "function"})).is_err());
        assert!(function_name(&json!({"function": {"name": " "}})).is_err());
        assert!(function_name(&json!({"type": "web", "function": {"name": "f"}})).is_err());
        assert!(function_name(&json!("f")).is_err());
    }

    #[test]
    fn the_fragment_joins_a_body_as_valid_json() {
        let tools = [json!({"type": "function", "function": {"name": "f"}})];
        let choice = json!("required");
        let t = Tools::new(
            &tools,
            vec!["f".into()],
            ToolChoice::Required,
            Some(&choice),
        );
        let mut body = br#"{"model":"m"}"#.to_vec();
        append_members(&mut body, &t.fragment);
        let v: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(v["model"], "m");
        assert_eq!(v["tools"][0]["function"]["name"], "f");
        assert_eq!(v["tool_choice"], "required");
        let mut empty = b"{}".to_vec();
        append_members(&mut empty, "\"a\":1");
        assert_eq!(empty, b"{\"a\":1}");
    }
}
