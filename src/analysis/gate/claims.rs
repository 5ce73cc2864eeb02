//! The claims file: its TOML shape and the claim expression language
//! (`<metric>[.<stat>] <op> <value>[unit]`, in the spirit of k6 thresholds).
//!
//! This module owns syntax and units, and locates every error as `file:line:column: field:
//! message` with the offending text. It knows nothing about a particular result: whether a
//! claim's model exists is checked at evaluation ([`super::eval`]), with the location kept here.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::metric::{self, trim_float, Kind, MetricDef, Stat};
use super::GateError;
use crate::config::scenario::{Problem, Source};

/// How a failed claim affects the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A failed claim fails the gate (exit 1).
    #[default]
    Fail,
    /// A failed claim is printed as `warn` and never fails the gate.
    Warn,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` (equal within 1e-9, relative)
    Eq,
}

impl Op {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
        }
    }

    /// Whether `measured <op> limit` holds.
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
            Op::Eq => (measured - limit).abs() <= 1e-9 * measured.abs().max(limit.abs()),
        }
    }

    /// Signed relative margin: positive is headroom, negative is by how much the claim is
    /// broken, both relative to the limit. `None` when the limit is 0.
    pub fn margin(self, measured: f64, limit: f64) -> Option<f64> {
        if limit == 0.0 {
            return None;
        }
        let d = match self {
            Op::Lt | Op::Le => limit - measured,
            Op::Gt | Op::Ge => measured - limit,
            Op::Eq => -(measured - limit).abs(),
        };
        Some(d / limit.abs())
    }
}

/// One parsed claim.
#[derive(Debug, Clone)]
pub struct Claim {
    /// 0-based position in the file.
    pub index: usize,
    /// The `name` given, if any.
    pub name: Option<String>,
    /// The expression as written.
    pub expr: String,
    /// The metric it reads.
    pub metric: &'static MetricDef,
    /// The statistic (distribution metrics only).
    pub stat: Option<Stat>,
    /// The comparison.
    pub op: Op,
    /// The limit in the metric's canonical unit (ms, tok/s, req/s, fraction, USD).
    pub limit: f64,
    /// The model id or label to read; `None` (or `*`) reads the overall row.
    pub model: Option<String>,
    /// The golden-set class to read (quality metrics only); `None` reads the model's overall
    /// quality figures.
    pub class: Option<String>,
    /// Fail or warn.
    pub severity: Severity,
    /// Under `llmload run --claims`: stop the run early once this claim is already lost.
    pub abort: bool,
    /// Where the claim's `model` (or, without one, the claim) is in the file, for errors
    /// found at evaluation.
    pub model_at: (usize, usize),
    /// Where the claim's `class` is in the file (the claim's own place without one).
    pub class_at: (usize, usize),
}

impl Claim {
    /// `metric.stat` as it reads canonically, e.g. `ttft.p99_9`.
    pub fn key(&self) -> String {
        match self.stat {
            Some(s) => format!("{}.{}", self.metric.name, s.label()),
            None => self.metric.name.to_string(),
        }
    }

    /// The name if given, else the expression.
    pub fn title(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.expr)
    }
}

/// A parsed claims file.
#[derive(Debug, Clone)]
pub struct Claims {
    /// The file as given.
    pub path: PathBuf,
    /// Its claims, in file order.
    pub claims: Vec<Claim>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    claims: Vec<ClaimSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimSpec {
    expr: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    severity: Severity,
    #[serde(default)]
    abort: bool,
    #[serde(default)]
    name: Option<String>,
}

/// What is wrong with an expression, and where in it (byte offset).
#[derive(Debug, Clone, PartialEq)]
pub struct ExprError {
    /// Byte offset of the offending text in the expression.
    pub offset: usize,
    /// The message, quoting the offending text.
    pub message: String,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// Metric.
    pub metric: &'static MetricDef,
    /// Statistic.
    pub stat: Option<Stat>,
    /// Operator.
    pub op: Op,
    /// Limit in canonical units.
    pub limit: f64,
}

fn err(offset: usize, message: String) -> ExprError {
    ExprError { offset, message }
}

/// Parses `<metric>[.<stat>] <op> <value>[unit]`.
pub fn parse_expr(text: &str) -> Result<Expr, ExprError> {
    let lead = text.len() - text.trim_start().len();
    let body = text.trim();
    if body.is_empty() {
        return Err(err(
            0,
            "empty expression; write e.g. \"ttft.p95 <= 2s\"".into(),
        ));
    }
    let path_len = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(body.len());
    let path = &body[..path_len];
    // A metric whose name has a dot (`quality.score`) is a whole name, not metric.stat.
    let (name, stat_text) = match path.split_once('.') {
        Some(_) if metric::find(path).is_some() => (path, None),
        Some((n, s)) => (n, Some(s)),
        None => (path, None),
    };
    let def = metric::find(name).ok_or_else(|| {
        err(
            lead,
            format!(
                "unknown metric `{name}` in `{body}`; valid metrics: {}",
                metric::names()
            ),
        )
    })?;
    let stat_at = lead + name.len() + 1;
    let stat = match (stat_text, def.kind) {
        (None, k) if k.is_distribution() => {
            return Err(err(
                lead,
                format!(
                    "`{name}` is a distribution: name a statistic, e.g. `{name}.p95` ({})",
                    stats_for(k)
                ),
            ))
        }
        (None, _) => None,
        (Some(s), k) if !k.is_distribution() => {
            return Err(err(
                stat_at,
                format!("`{name}` is a single figure and takes no statistic (`.{s}`)"),
            ))
        }
        (Some(s), k) => {
            let st = Stat::parse(s).ok_or_else(|| {
                err(
                    stat_at,
                    format!("unknown statistic `{s}` for `{name}`; use {}", stats_for(k)),
                )
            })?;
            if k == Kind::Speed && st == Stat::Stddev {
                return Err(err(
                    stat_at,
                    format!(
                        "`{name}` stores no standard deviation; use {}",
                        metric::SPEED_STATS
                    ),
                ));
            }
            Some(st)
        }
    };
    let rest_at = lead + path_len;
    let rest = &body[path_len..];
    let op_at = rest_at + (rest.len() - rest.trim_start().len());
    let rest = rest.trim_start();
    let (op, op_len) = if rest.starts_with("<=") {
        (Op::Le, 2)
    } else if rest.starts_with(">=") {
        (Op::Ge, 2)
    } else if rest.starts_with("==") {
        (Op::Eq, 2)
    } else if rest.starts_with('<') {
        (Op::Lt, 1)
    } else if rest.starts_with('>') {
        (Op::Gt, 1)
    } else {
        let got = rest.split_whitespace().next().unwrap_or("");
        return Err(err(
            op_at,
            format!(
                "expected an operator (<, <=, >, >=, ==) after `{path}`, found `{got}` in `{body}`"
            ),
        ));
    };
    let rest = &rest[op_len..];
    let value_at = op_at + op_len + (rest.len() - rest.trim_start().len());
    let value_text = rest.trim();
    let limit = parse_value(def, value_text).map_err(|m| err(value_at, m))?;
    Ok(Expr {
        metric: def,
        stat,
        op,
        limit,
    })
}

fn stats_for(k: Kind) -> &'static str {
    match k {
        Kind::Speed => metric::SPEED_STATS,
        _ => metric::LATENCY_STATS,
    }
}

/// Parses a limit and its unit into the metric's canonical unit.
fn parse_value(def: &MetricDef, text: &str) -> Result<f64, String> {
    let t = text.strip_prefix('$').unwrap_or(text);
    let dollar = t.len() != text.len();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_len);
    let unit = unit.trim();
    if num.is_empty() {
        return Err(format!(
            "expected a non-negative number after the operator, found `{text}`"
        ));
    }
    let v: f64 = num
        .replace('_', "")
        .parse()
        .map_err(|_| format!("`{num}` is not a number"))?;
    let kind = def.kind;
    let name = def.name;
    let time_unit = |u: &str| match u {
        "us" | "µs" => Some(1e-3),
        "ms" => Some(1.0),
        "s" => Some(1e3),
        _ => None,
    };
    let wrong_kind = |what: &str, example: &str| {
        format!(
            "`{unit}` is {what}, but `{name}` is {}; write e.g. `{example}`",
            describe(kind)
        )
    };
    if dollar && kind != Kind::Usd {
        return Err(format!("`{name}` is not money; drop the `$`"));
    }
    match kind {
        Kind::Score => match unit {
            "" => Ok(v),
            "%" => Err(format!(
                "`{name}` is {}, not a percentage; write e.g. `{}`",
                describe(kind),
                trim_float(v / 100.0)
            )),
            _ => Err(format!(
                "`{unit}` is not a unit for `{name}` ({}); write a plain number",
                describe(kind)
            )),
        },
        Kind::Latency => match time_unit(unit) {
            Some(f) => Ok(v * f),
            None if unit.is_empty() => Err(format!(
                "`{text}` has no unit; `{name}` is a time: write e.g. `{num}ms` or `{num}s`"
            )),
            None if unit == "%" => Err(wrong_kind("a percentage", "500ms")),
            None => Err(format!(
                "`{unit}` is not a time unit in `{text}`; use us, ms or s"
            )),
        },
        Kind::Fraction => match unit {
            "%" if v <= 100.0 => Ok(v / 100.0),
            "%" => Err(format!("`{text}` is more than 100 %")),
            "" => Err(format!(
                "`{text}` has no unit; `{name}` is a fraction: write a percentage, e.g. `{num}%`"
            )),
            u if time_unit(u).is_some() => Err(wrong_kind("a time unit", "1%")),
            _ => Err(format!(
                "`{unit}` is not a unit for `{name}`; write a percentage, e.g. `1%`"
            )),
        },
        Kind::Speed | Kind::TokensPerS | Kind::RequestsPerS | Kind::Usd => {
            let ok: &[&str] = match kind {
                Kind::Speed | Kind::TokensPerS => &["", "tok/s", "tokens/s"],
                Kind::RequestsPerS => &["", "req/s", "/s"],
                _ => &["", "usd", "USD"],
            };
            if ok.contains(&unit) {
                Ok(v)
            } else if time_unit(unit).is_some() {
                Err(wrong_kind("a time unit", "320"))
            } else if unit == "%" {
                Err(wrong_kind("a percentage", "320"))
            } else {
                Err(format!(
                    "`{unit}` is not a unit for `{name}` ({}); write a plain number",
                    describe(kind)
                ))
            }
        }
    }
}

fn describe(k: Kind) -> &'static str {
    match k {
        Kind::Latency => "a time (us, ms, s)",
        Kind::Speed | Kind::TokensPerS => "tokens per second (a plain number)",
        Kind::RequestsPerS => "requests per second (a plain number)",
        Kind::Fraction => "a fraction (a percentage, e.g. 1%)",
        Kind::Usd => "US dollars (a plain number)",
        Kind::Score => "a score (a plain number, e.g. 0.8)",
    }
}

/// Reads and parses a claims file.
pub fn load(path: &Path) -> Result<Claims, GateError> {
    let text = std::fs::read_to_string(path).map_err(|source| GateError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(path, &text)
}

/// Parses a claims file's text; every problem found is reported, each located.
pub fn parse(path: &Path, text: &str) -> Result<Claims, GateError> {
    let src = Source {
        path: path.to_path_buf(),
        text: text.to_string(),
    };
    let located = |field: String, inner: toml::de::Error| {
        let (line, column) = inner
            .span()
            .map(|s| src.line_col(s.start))
            .unwrap_or((1, 1));
        GateError::Claims(vec![Problem {
            file: src.path.clone(),
            line,
            column,
            field: if field == "." { String::new() } else { field },
            message: inner.message().trim().to_string(),
        }])
    };
    let de = toml::Deserializer::parse(text).map_err(|e| located(String::new(), e))?;
    let spec: FileSpec = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        located(field, e.into_inner())
    })?;
    let mut problems = Vec::new();
    if spec.claims.is_empty() {
        problems.push(src.problem(
            "claims",
            "no claims: add one or more [[claims]] tables with an `expr`",
        ));
    }
    let mut claims = Vec::new();
    for (i, c) in spec.claims.into_iter().enumerate() {
        let field = format!("claims[{i}].expr");
        match parse_expr(&c.expr) {
            Ok(e) => {
                if let Some(p) = selector_problem(&src, i, &c, e.metric) {
                    problems.push(p);
                    continue;
                }
                let at = if c.model.is_some() {
                    src.locate(&format!("claims[{i}].model"))
                } else {
                    src.locate(&format!("claims[{i}]"))
                };
                claims.push(Claim {
                    index: i,
                    name: c.name,
                    expr: c.expr.trim().to_string(),
                    metric: e.metric,
                    stat: e.stat,
                    op: e.op,
                    limit: e.limit,
                    class_at: if c.class.is_some() {
                        src.locate(&format!("claims[{i}].class"))
                    } else {
                        at
                    },
                    model: c.model.filter(|m| m != "*"),
                    class: c.class,
                    severity: c.severity,
                    abort: c.abort,
                    model_at: at,
                });
            }
            Err(x) => {
                let (line, column) = locate_in_string(&src, i, x.offset);
                problems.push(Problem {
                    file: src.path.clone(),
                    line,
                    column,
                    field,
                    message: x.message,
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(Claims {
            path: path.to_path_buf(),
            claims,
        })
    } else {
        Err(GateError::Claims(problems))
    }
}

/// What is wrong with claim `i`'s `model` and `class` for its metric: golden-set figures exist
/// per model only, and only they have classes.
fn selector_problem(src: &Source, i: usize, c: &ClaimSpec, def: &MetricDef) -> Option<Problem> {
    let name = def.name;
    if name.is_quality() && c.model.as_deref().is_none_or(|m| m == "*") {
        return Some(src.problem(
            &format!("claims[{i}]"),
            format!("`{name}` is scored per model: add `model = \"…\"` to the claim"),
        ));
    }
    if c.class.is_some() && !name.is_quality() {
        return Some(src.problem(
            &format!("claims[{i}].class"),
            format!(
                "`class` selects a golden-set class and applies to quality.score and \
                 quality.relative only, not to `{name}`"
            ),
        ));
    }
    None
}

/// Line and column of byte `offset` inside claim `i`'s `expr` string: the string's own
/// position plus the offset (exact for strings without escapes, which expressions never need).
fn locate_in_string(src: &Source, i: usize, offset: usize) -> (usize, usize) {
    let Ok(doc) = toml_edit::Document::parse(src.text.as_str()) else {
        return (1, 1);
    };
    let span = doc
        .as_item()
        .get("claims")
        .and_then(|c| c.get(i))
        .and_then(|c| c.get("expr"))
        .and_then(|e| e.span());
    match span {
        // +1 skips the opening quote.
        Some(sp) => src.line_col(sp.start + 1 + offset),
        None => src.locate(&format!("claims[{i}].expr")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        match parse(Path::new("c.toml"), text) {
            Err(GateError::Claims(p)) => p,
            other => panic!("expected claim problems, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_examples() {
        let cases = [
            ("ttft.mean <= 1.2s", "ttft", Op::Le, 1200.0),
            ("ttft.p95 <= 2s", "ttft", Op::Le, 2000.0),
            (
                "output_tokens_per_s >= 320",
                "output_tokens_per_s",
                Op::Ge,
                320.0,
            ),
            (
                "decode_tokens_per_s.p50 >= 40",
                "decode_tokens_per_s",
                Op::Ge,
                40.0,
            ),
            ("error_rate < 1%", "error_rate", Op::Lt, 0.01),
            ("tpot.p99 < 80ms", "tpot", Op::Lt, 80.0),
            (
                "cost_per_1k_requests <= 0.50",
                "cost_per_1k_requests",
                Op::Le,
                0.5,
            ),
            ("cost_total <= $2", "cost_total", Op::Le, 2.0),
            ("itl.p99_9<250us", "itl", Op::Lt, 0.25),
            ("  e2e.max == 1_000ms ", "e2e", Op::Eq, 1000.0),
        ];
        for (text, name, op, limit) in cases {
            let e = parse_expr(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
            assert_eq!(e.metric.name, name, "{text}");
            assert_eq!(e.op, op, "{text}");
            assert!((e.limit - limit).abs() < 1e-9, "{text}: {}", e.limit);
        }
        let e = parse_expr("ttft.p99.9 < 1s").expect("p99.9");
        assert!(matches!(e.stat, Some(Stat::Quantile(q)) if (q - 0.999).abs() < 1e-12));
    }

    #[test]
    fn unknown_metric_is_located_and_lists_valid_names() {
        let p = problems("[[claims]]\nexpr = \"ttfx.p95 <= 2s\"\n");
        assert_eq!(p.len(), 1);
        let s = p[0].to_string();
        assert!(
            s.starts_with("c.toml:2:9: claims[0].expr: unknown metric `ttfx`"),
            "{s}"
        );
        assert!(s.contains("ttfx.p95 <= 2s"), "{s}");
        assert!(s.contains("valid metrics: ttft, ttft_answer"), "{s}");
    }

    #[test]
    fn bad_unit_points_at_the_value() {
        let p = problems("[[claims]]\nexpr = \"ttft.p95 <= 2 parsecs\"\n");
        let s = p[0].to_string();
        // `expr = "` is 8 characters, so the expression starts at column 9; the value at 21.
        assert!(s.starts_with("c.toml:2:21: claims[0].expr: "), "{s}");
        assert!(
            s.contains("`parsecs` is not a time unit in `2 parsecs`"),
            "{s}"
        );
    }

    #[test]
    fn unit_of_the_wrong_kind() {
        let e = parse_expr("error_rate < 2s").expect_err("time on a fraction");
        assert!(e.message.contains("is a time unit"), "{}", e.message);
        assert!(e.message.contains("a fraction"), "{}", e.message);
        let e = parse_expr("ttft.p50 < 5%").expect_err("percent on a time");
        assert!(e.message.contains("a percentage"), "{}", e.message);
        let e = parse_expr("output_tokens_per_s >= 3s").expect_err("time on a rate");
        assert!(e.message.contains("is a time unit"), "{}", e.message);
        let e = parse_expr("ttft.p50 < 5").expect_err("bare number on a time");
        assert!(e.message.contains("has no unit"), "{}", e.message);
        let e = parse_expr("error_rate < 0.01").expect_err("bare number on a fraction");
        assert!(e.message.contains("write a percentage"), "{}", e.message);
    }

    #[test]
    fn malformed_expressions() {
        for (text, needle, offset) in [
            ("ttft.p95 2s", "expected an operator", 9),
            ("ttft <= 2s", "name a statistic", 0),
            ("error_rate.p99 < 1%", "takes no statistic", 11),
            ("ttft.median < 1s", "unknown statistic `median`", 5),
            (
                "decode_tokens_per_s.stddev < 1",
                "no standard deviation",
                20,
            ),
            ("ttft.p95 <=", "expected a non-negative number", 11),
            ("ttft.p95 <= -1s", "expected a non-negative number", 12),
            ("", "empty expression", 0),
            ("error_rate < 120%", "more than 100 %", 13),
        ] {
            let e = parse_expr(text).expect_err(text);
            assert!(e.message.contains(needle), "{text}: {}", e.message);
            assert_eq!(e.offset, offset, "{text}: {}", e.message);
        }
    }

    #[test]
    fn every_bad_claim_is_reported_with_its_line() {
        let text = "[[claims]]\nexpr = \"ttft.p95 <= 2s\"\n\n[[claims]]\nexpr = \"nope < 1\"\n\n[[claims]]\nexpr = \"error_rate < 2s\"\nseverity = \"warn\"\n";
        let p = problems(text);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[0].line, p[0].field.as_str()), (5, "claims[1].expr"));
        assert_eq!((p[1].line, p[1].field.as_str()), (8, "claims[2].expr"));
    }

    #[test]
    fn toml_shape_errors_are_located() {
        let p = problems("[[claims]]\nexpr = \"ttft.p95 <= 2s\"\nseverity = \"loud\"\n");
        assert_eq!(p[0].line, 3, "{p:?}");
        assert!(p[0].field.contains("severity"), "{p:?}");
        let p = problems("[[claims]]\nexpr = \"ttft.p95 <= 2s\"\nmodle = \"x\"\n");
        assert_eq!(p[0].line, 3, "{p:?}");
        assert!(p[0].message.contains("unknown field"), "{p:?}");
        let p = problems("# nothing\n");
        assert!(p[0].message.contains("no claims"), "{p:?}");
    }

    #[test]
    fn fields_and_defaults() {
        let text = "[[claims]]\nexpr = \"ttft.mean <= 1.2s\"\nmodel = \"m\"\nseverity = \"warn\"\nname = \"n\"\nabort = true\n\n[[claims]]\nexpr = \"error_rate < 1%\"\nmodel = \"*\"\n";
        let c = parse(Path::new("c.toml"), text).expect("valid");
        assert_eq!(c.claims.len(), 2);
        let a = &c.claims[0];
        assert_eq!(
            (a.model.as_deref(), a.severity, a.abort, a.title()),
            (Some("m"), Severity::Warn, true, "n")
        );
        assert_eq!(a.model_at.0, 3);
        let b = &c.claims[1];
        assert_eq!((b.model.as_deref(), b.severity), (None, Severity::Fail));
        assert_eq!(b.key(), "error_rate");
    }

    #[test]
    fn margins_are_signed_and_relative() {
        assert_eq!(Op::Le.margin(900.0, 1000.0), Some(0.1));
        assert_eq!(Op::Le.margin(1100.0, 1000.0), Some(-0.1));
        assert_eq!(Op::Ge.margin(352.0, 320.0), Some(0.1));
        assert_eq!(Op::Lt.margin(0.0, 0.0), None);
        assert!(Op::Eq.holds(0.1 + 0.2, 0.3));
    }
}
