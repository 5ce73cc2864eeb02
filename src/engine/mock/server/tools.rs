//! Tool calls in the mock's chat answers: which tool a request is answered with, if any.
//!
//! Rule: a request offering tools is answered with one call of a tool unless `tool_choice`
//! is `"none"`. A named choice calls that function; `"required"` calls the first tool;
//! `"auto"` (or no choice) calls the first tool in the model's `tool_call_share` of requests
//! (one uniform draw per such request when the share is strictly between 0 and 1). The call's
//! arguments are `{"text":"…"}` holding the generated words, streamed over the output tokens
//! with the configured timing; `finish_reason` is `"tool_calls"` (or `"length"` when the
//! token limit cut the arguments).

use rand::rngs::ChaCha8Rng;
use rand::RngExt;

use super::super::request::Req;

/// The longest function name OpenAI accepts.
const MAX_NAME: usize = 64;

/// The function the answer calls (None: an ordinary text answer), or why the request is
/// refused (a 400): a tool without a valid function name, a named choice that is not
/// offered, a choice that is not one of the accepted values.
pub(crate) fn choose(
    req: &Req<'_>,
    share: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Box<str>>, String> {
    let Some(tools) = req.tools.as_deref() else {
        return match req.tool_choice {
            Some(_) => Err("tool_choice is only allowed when tools are specified".into()),
            None => Ok(None),
        };
    };
    let mut names = Vec::with_capacity(tools.len());
    for (i, t) in tools.iter().enumerate() {
        match t.function.as_ref().and_then(|f| f.name.as_deref()) {
            Some(n) if valid_name(n) => names.push(n),
            _ => {
                return Err(format!(
                    "tools[{i}].function.name must be 1 to {MAX_NAME} letters, digits, \
                     underscores or dashes"
                ))
            }
        }
    }
    let Some(first) = names.first() else {
        return Err("tools must not be empty".into());
    };
    let auto = |rng: &mut ChaCha8Rng| {
        let call = share >= 1.0 || (share > 0.0 && rng.random::<f64>() < share);
        Ok(call.then(|| Box::from(*first)))
    };
    match &req.tool_choice {
        None => auto(rng),
        Some(serde_json::Value::String(s)) => match s.as_str() {
            "auto" => auto(rng),
            "required" => Ok(Some(Box::from(*first))),
            "none" => Ok(None),
            other => Err(format!(
                "tool_choice `{other}` is not auto, required or none"
            )),
        },
        Some(v) => {
            let name = v
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(|n| n.as_str());
            match name {
                Some(n) if names.contains(&n) => Ok(Some(Box::from(n))),
                Some(n) => Err(format!("tool_choice names `{n}`, which is not offered")),
                None => Err("tool_choice must be a string or name a function".into()),
            }
        }
    }
}

/// A function name as OpenAI accepts it: 1 to 64 of `a-z A-Z 0-9 _ -` (so it needs no
/// escaping in JSON).
fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= MAX_NAME
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn pick(body: &str, share: f64) -> Result<Option<Box<str>>, String> {
        let req: Req = serde_json::from_str(body).expect("valid request");
        choose(&req, share, &mut ChaCha8Rng::seed_from_u64(1))
    }

    const TOOLS: &str = r#""tools":[{"type":"function","function":{"name":"a","parameters":{}}},{"type":"function","function":{"name":"b"}}]"#;

    #[test]
    fn the_choice_decides_the_called_tool() {
        let with = |choice: &str| pick(&format!("{{{TOOLS}{choice}}}"), 1.0);
        assert_eq!(with(""), Ok(Some("a".into())));
        assert_eq!(with(r#","tool_choice":"auto""#), Ok(Some("a".into())));
        assert_eq!(with(r#","tool_choice":"required""#), Ok(Some("a".into())));
        assert_eq!(with(r#","tool_choice":"none""#), Ok(None));
        assert_eq!(
            with(r#","tool_choice":{"type":"function","function":{"name":"b"}}"#),
            Ok(Some("b".into()))
        );
        assert!(with(r#","tool_choice":{"type":"function","function":{"name":"c"}}"#).is_err());
        assert!(with(r#","tool_choice":"sometimes""#).is_err());
        assert_eq!(pick(r#"{"messages":[]}"#, 1.0), Ok(None));
        assert!(pick(r#"{"tool_choice":"auto"}"#, 1.0).is_err());
        assert!(pick(r#"{"tools":[{"function":{"name":"a b"}}]}"#, 1.0).is_err());
        assert!(pick(r#"{"tools":[]}"#, 1.0).is_err());
    }

    #[test]
    fn auto_calls_in_the_configured_share() {
        let body = format!("{{{TOOLS}}}");
        let req: Req = serde_json::from_str(&body).expect("valid");
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 4000;
        let called = (0..n)
            .filter(|_| matches!(choose(&req, 0.25, &mut rng), Ok(Some(_))))
            .count();
        // Binomial(4000, 0.25): sd ≈ 27; 6 sd either side.
        assert!((840..=1160).contains(&called), "{called}");
        assert_eq!(choose(&req, 0.0, &mut rng), Ok(None));
    }
}
