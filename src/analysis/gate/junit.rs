//! JUnit XML for CI test reporters: one test case per claim (and one per baseline regression).
//!
//! Mapping: fail → `<failure>`, warn → passes with the reason in `<system-out>`, inconclusive →
//! `<skipped>` (a reporter shows it, and it never turns the job red by itself). Owns XML
//! escaping; knows nothing about how verdicts are reached.

use super::baseline::{self, Change};
use super::claims::Severity;
use super::eval::{Evaluation, Verdict};

/// Escapes text for XML element content and attribute values (control characters that XML
/// 1.0 forbids are replaced by U+FFFD).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

struct Case {
    class: String,
    name: String,
    /// `failure`, `skipped`, or none; with its message.
    outcome: Option<(&'static str, String)>,
    stdout: String,
}

/// Renders a JUnit XML document from a claims evaluation and/or a baseline report.
pub fn render(eval: Option<&Evaluation>, base: Option<&baseline::Report>, strict: bool) -> String {
    let mut cases = Vec::new();
    if let Some(e) = eval {
        for r in &e.rows {
            let line = format!(
                "{}: measured {}, limit {}, margin {} ({}); reading: {}",
                r.claim.expr,
                r.measured_text(),
                r.limit_text(),
                r.margin_text(),
                r.detail(),
                r.claim.metric.reading
            );
            let outcome = match r.verdict {
                Verdict::Pass | Verdict::Warn => None,
                Verdict::Fail => Some(("failure", line.clone())),
                Verdict::Inconclusive if r.unjudged() && r.claim.severity == Severity::Fail => {
                    Some(("failure", format!("cannot be judged: {line}")))
                }
                Verdict::Inconclusive if strict => {
                    Some(("failure", format!("inconclusive under --strict: {line}")))
                }
                Verdict::Inconclusive => Some(("skipped", format!("inconclusive: {line}"))),
            };
            let stdout = match r.verdict {
                Verdict::Warn => format!("WARN (severity = \"warn\"): {line}"),
                _ => line,
            };
            cases.push(Case {
                class: format!("claims.{}", r.model_label),
                name: r.claim.title().to_string(),
                outcome,
                stdout,
            });
        }
    }
    if let Some(b) = base {
        for f in &b.failures {
            cases.push(Case {
                class: "baseline".into(),
                name: "successful requests".into(),
                outcome: Some(("failure", f.clone())),
                stdout: format!("REGRESSION: {f}"),
            });
        }
        for c in &b.rows {
            let line = format!(
                "{} {}.{}: {:.3} → {:.3} ms ({:+.1} %, tolerance {:.1} %); {}",
                c.label,
                c.metric,
                c.stat,
                c.old,
                c.new,
                c.change * 100.0,
                c.tolerance * 100.0,
                c.evidence
            );
            cases.push(Case {
                class: format!("baseline.{}", c.label),
                name: format!("{}.{}", c.metric, c.stat),
                outcome: (c.verdict == Change::Regression).then(|| ("failure", line.clone())),
                stdout: format!("{}: {line}", c.verdict.name()),
            });
        }
    }
    let failures = cases
        .iter()
        .filter(|c| matches!(c.outcome, Some(("failure", _))))
        .count();
    let skipped = cases
        .iter()
        .filter(|c| matches!(c.outcome, Some(("skipped", _))))
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"llmload\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n",
        cases.len()
    ));
    out.push_str(&format!(
        "  <testsuite name=\"llmload check\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\">\n",
        cases.len()
    ));
    for c in &cases {
        out.push_str(&format!(
            "    <testcase classname=\"{}\" name=\"{}\">\n",
            escape(&c.class),
            escape(&c.name)
        ));
        if let Some((tag, msg)) = &c.outcome {
            out.push_str(&format!(
                "      <{tag} message=\"{}\">{}</{tag}>\n",
                escape(msg),
                escape(msg)
            ));
        }
        out.push_str(&format!(
            "      <system-out>{}</system-out>\n",
            escape(&c.stdout)
        ));
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::gate::{claims, eval};
    use std::path::Path;

    /// An element: name, attributes, text content.
    pub(crate) type Element = (String, Vec<(String, String)>, String);

    /// A minimal XML reader, enough to prove a document well-formed: every tag closes in order,
    /// attributes are quoted, entities are the five predefined ones or numeric. Returns the
    /// elements as (name, attributes, text) in document order.
    pub(crate) fn parse_xml(doc: &str) -> Result<Vec<Element>, String> {
        let mut rest = doc.trim_start();
        if let Some(r) = rest.strip_prefix("<?xml") {
            rest = &r[r.find("?>").ok_or("unterminated declaration")? + 2..];
        }
        let mut stack: Vec<usize> = Vec::new();
        let mut elems: Vec<Element> = Vec::new();
        let mut roots = 0;
        loop {
            let lt = match rest.find('<') {
                Some(i) => i,
                None => {
                    if !rest.trim().is_empty() {
                        return Err("text after the root element".into());
                    }
                    break;
                }
            };
            let text = unescape(&rest[..lt])?;
            match stack.last() {
                Some(&i) => elems[i].2.push_str(&text),
                None if !text.trim().is_empty() => return Err("text outside the root".into()),
                None => {}
            }
            rest = &rest[lt + 1..];
            let gt = rest.find('>').ok_or("unterminated tag")?;
            let tag = &rest[..gt];
            rest = &rest[gt + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let i = stack.pop().ok_or("close without open")?;
                if elems[i].0 != name.trim() {
                    return Err(format!("</{name}> closes <{}>", elems[i].0));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, mut attrs_text) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_:.".contains(c))
            {
                return Err(format!("bad element name `{name}`"));
            }
            let mut attrs = Vec::new();
            loop {
                attrs_text = attrs_text.trim_start();
                if attrs_text.is_empty() {
                    break;
                }
                let eq = attrs_text.find('=').ok_or("attribute without value")?;
                let key = attrs_text[..eq].trim().to_string();
                let after = attrs_text[eq + 1..].trim_start();
                let value = after.strip_prefix('"').ok_or("unquoted attribute")?;
                let end = value.find('"').ok_or("unterminated attribute")?;
                if value[..end].contains('<') {
                    return Err("`<` in an attribute".into());
                }
                attrs.push((key, unescape(&value[..end])?));
                attrs_text = &value[end + 1..];
            }
            if stack.is_empty() {
                roots += 1;
            }
            elems.push((name.to_string(), attrs, String::new()));
            if !self_closing {
                stack.push(elems.len() - 1);
            }
        }
        if !stack.is_empty() {
            return Err("unclosed elements".into());
        }
        if roots != 1 {
            return Err(format!("{roots} root elements"));
        }
        Ok(elems)
    }

    fn unescape(s: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let end = rest[i..].find(';').ok_or("unterminated entity")? + i;
            let ent = &rest[i + 1..end];
            out.push(match ent {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                e if e.starts_with('#') => e[1..]
                    .parse::<u32>()
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or("bad character reference")?,
                e => return Err(format!("unknown entity &{e};")),
            });
            rest = &rest[end + 1..];
        }
        if rest.contains('<') {
            return Err("raw `<` in text".into());
        }
        out.push_str(rest);
        Ok(out)
    }

    #[test]
    fn junit_parses_back_with_one_case_per_claim() {
        let samples: Vec<f64> = (1..=100).map(|i| i as f64 * 10.0).collect();
        let r = eval::tests::fixture(&samples);
        let text = r#"
[[claims]]
expr = "ttft.mean <= 600ms"
name = "mean <TTFT> & \"friends\""
[[claims]]
expr = "ttft.mean <= 400ms"
[[claims]]
expr = "ttft.mean <= 400ms"
severity = "warn"
[[claims]]
expr = "ttft.p99 <= 2s"
"#;
        let c = claims::parse(Path::new("c.toml"), text).expect("claims");
        let e = eval::evaluate(&c, &r, "r.json").expect("evaluates");
        let xml = render(Some(&e), None, false);
        let elems = parse_xml(&xml).unwrap_or_else(|m| panic!("{m}\n{xml}"));
        let cases: Vec<_> = elems.iter().filter(|e| e.0 == "testcase").collect();
        assert_eq!(cases.len(), 4);
        let name = |i: usize| {
            cases[i]
                .1
                .iter()
                .find(|a| a.0 == "name")
                .map(|a| a.1.clone())
        };
        assert_eq!(name(0).as_deref(), Some("mean <TTFT> & \"friends\""));
        assert_eq!(elems.iter().filter(|e| e.0 == "failure").count(), 1);
        assert_eq!(elems.iter().filter(|e| e.0 == "skipped").count(), 1);
        let suite = elems.iter().find(|e| e.0 == "testsuite").expect("suite");
        assert!(suite.1.contains(&("failures".into(), "1".into())));
        assert!(suite.1.contains(&("tests".into(), "4".into())));
        let warn_out = elems
            .iter()
            .filter(|e| e.0 == "system-out")
            .nth(2)
            .expect("warn output");
        assert!(warn_out.2.starts_with("WARN"), "{}", warn_out.2);
        // Under --strict the inconclusive claim becomes a failure.
        let strict = render(Some(&e), None, true);
        let elems = parse_xml(&strict).expect("well-formed");
        assert_eq!(elems.iter().filter(|e| e.0 == "failure").count(), 2);
    }

    #[test]
    fn escaping_and_the_checker_catch_bad_documents() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}"
        );
        assert!(parse_xml("<a><b></a></b>").is_err());
        assert!(parse_xml("<a>x < y</a>").is_err());
        assert!(parse_xml("<a x=1></a>").is_err());
        assert!(parse_xml("<a>&nope;</a>").is_err());
        assert!(parse_xml("<a/><b/>").is_err());
        assert!(parse_xml("<a><b/>t&amp;</a>").is_ok());
    }
}
