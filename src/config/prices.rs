//! The price catalog: USD per million tokens and context windows by model id, so that scenarios
//! and `llmload plan` can name a model instead of repeating its price (docs/capacity.md).
//!
//! The built-in catalog is `prices/catalog.toml`, compiled in; a user file in the same format
//! replaces the entries that name the same model and adds the others ([`Catalog::merged`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Price {
    /// Input tokens.
    pub input_per_m: f64,
    /// Output tokens.
    pub output_per_m: f64,
    /// Cached input tokens, if discounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_m: Option<f64>,
}

/// The catalog compiled into the binary.
pub const BUILTIN: &str = include_str!("../../prices/catalog.toml");

/// One model's prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Model id, as sent to the endpoint.
    pub id: String,
    /// Other names the model is looked up by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// USD per million tokens.
    pub price: Price,
    /// Context window in tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_window: Option<u64>,
    /// Where the price comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Entry {
    /// The id and every alias.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.id.as_str()).chain(self.aliases.iter().map(String::as_str))
    }
}

/// A set of entries; lookups by id or alias.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Catalog {
    /// Entries in file order (a merged catalog: the override's first).
    pub entries: Vec<Entry>,
}

/// Why a catalog file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// OS error.
        source: std::io::Error,
    },
    /// A syntax or content error at a place in the file.
    #[error("{path}:{line}:{column}: {message}")]
    At {
        /// Path (or `<built-in>`).
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    model: Vec<toml::Spanned<RawEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    input_per_m: f64,
    output_per_m: f64,
    #[serde(default)]
    cached_input_per_m: Option<f64>,
    #[serde(default)]
    context_window: Option<u64>,
    #[serde(default)]
    source: Option<String>,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn fold(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Catalog {
    /// The catalog compiled into llmload (`prices/catalog.toml`).
    pub fn builtin() -> Catalog {
        Catalog::parse(BUILTIN, "<built-in prices/catalog.toml>")
            .expect("the built-in price catalog is valid (tested)")
    }

    /// The built-in catalog, with a user file merged over it when one is given (what `plan
    /// --prices FILE` uses, and what a scenario's `prices = "FILE"` should use).
    pub fn builtin_with(user: Option<&Path>) -> Result<Catalog, PriceError> {
        let base = Catalog::builtin();
        match user {
            Some(p) => Ok(Catalog::merged(&base, &Catalog::load(p)?)),
            None => Ok(base),
        }
    }

    /// Reads a catalog file.
    pub fn load(path: &Path) -> Result<Catalog, PriceError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PriceError::Io {
            path: p.clone(),
            source,
        })?;
        Catalog::parse(&text, &p)
    }

    /// Parses catalog text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Catalog, PriceError> {
        let at = |offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            PriceError::At {
                path: path.to_string(),
                line,
                column,
                message,
            }
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            at(offset, e.message().trim().to_string())
        })?;
        let mut entries: Vec<Entry> = Vec::new();
        for spanned in file.model {
            let offset = spanned.span().start;
            let r = spanned.into_inner();
            if r.id.trim().is_empty() {
                return Err(at(offset, "a [[model]] entry has an empty `id`".into()));
            }
            let prices = [
                ("input_per_m", Some(r.input_per_m)),
                ("output_per_m", Some(r.output_per_m)),
                ("cached_input_per_m", r.cached_input_per_m),
            ];
            for (field, v) in prices {
                if let Some(v) = v {
                    if !v.is_finite() || v < 0.0 {
                        return Err(at(
                            offset,
                            format!(
                                "model `{}`: `{field}` must be a finite, non-negative USD per million tokens (got {v})",
                                r.id
                            ),
                        ));
                    }
                }
            }
            let entry = Entry {
                id: r.id.trim().to_string(),
                aliases: r.aliases.iter().map(|a| a.trim().to_string()).collect(),
                price: Price {
                    input_per_m: r.input_per_m,
                    output_per_m: r.output_per_m,
                    cached_input_per_m: r.cached_input_per_m,
                },
                context_window: r.context_window,
                source: r.source,
            };
            for name in entry.names() {
                if name.is_empty() {
                    return Err(at(offset, format!("model `{}`: an empty alias", entry.id)));
                }
                if let Some(other) = entries
                    .iter()
                    .find(|e| e.names().any(|n| fold(n) == fold(name)))
                {
                    return Err(at(
                        offset,
                        format!(
                            "the name `{name}` (model `{}`) is already used by model `{}` (names are matched case-insensitively)",
                            entry.id, other.id
                        ),
                    ));
                }
            }
            entries.push(entry);
        }
        Ok(Catalog { entries })
    }

    /// A user catalog over a base one: each `over` entry replaces the `base` entries that share
    /// a name with it (id or alias, compared case-insensitively), keeping their names as extra
    /// aliases and their context window when it gives none; `base` entries it does not name
    /// follow unchanged. So a user file that prices `gpt-4o` also answers to `openai/gpt-4o`.
    pub fn merged(base: &Catalog, over: &Catalog) -> Catalog {
        let clashes =
            |a: &Entry, b: &Entry| a.names().any(|x| b.names().any(|y| fold(x) == fold(y)));
        let mut entries: Vec<Entry> = Vec::new();
        for o in &over.entries {
            let mut e = o.clone();
            for b in base.entries.iter().filter(|b| clashes(o, b)) {
                for n in b.names() {
                    if !e.names().any(|x| fold(x) == fold(n)) {
                        e.aliases.push(n.to_string());
                    }
                }
                e.context_window = e.context_window.or(b.context_window);
            }
            entries.push(e);
        }
        for b in &base.entries {
            if !over.entries.iter().any(|o| clashes(o, b)) {
                entries.push(b.clone());
            }
        }
        Catalog { entries }
    }

    /// The entry named `name`: an exact id, else an exact alias, else an id or alias equal to
    /// it ignoring case and surrounding spaces.
    pub fn lookup(&self, name: &str) -> Option<&Entry> {
        let name = name.trim();
        self.entries
            .iter()
            .find(|e| e.id == name)
            .or_else(|| {
                self.entries
                    .iter()
                    .find(|e| e.aliases.iter().any(|a| a == name))
            })
            .or_else(|| {
                let f = fold(name);
                self.entries
                    .iter()
                    .find(|e| e.names().any(|n| fold(n) == f))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_five_seed_models() {
        let c = Catalog::builtin();
        assert_eq!(c.entries.len(), 5);
        let want = [
            ("deepseek-ai/DeepSeek-V4-Flash", 0.27, 1.10, 128_000),
            ("deepseek-ai/DeepSeek-V4-Pro", 0.55, 2.20, 200_000),
            ("Qwen/Qwen3-32B", 0.30, 1.20, 32_000),
            ("zhipu/GLM-4-Plus", 0.20, 0.80, 128_000),
            ("openai/gpt-4o", 2.50, 10.00, 128_000),
        ];
        for (id, i, o, ctx) in want {
            let e = c.lookup(id).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(e.id, id);
            assert_eq!(e.price.input_per_m, i);
            assert_eq!(e.price.output_per_m, o);
            assert_eq!(e.price.cached_input_per_m, None);
            assert_eq!(e.context_window, Some(ctx));
            assert!(e.source.is_some());
        }
    }

    #[test]
    fn lookup_by_alias_and_case() {
        let c = Catalog::builtin();
        assert_eq!(c.lookup("gpt-4o").unwrap().id, "openai/gpt-4o");
        assert_eq!(c.lookup("GPT-4O").unwrap().id, "openai/gpt-4o");
        assert_eq!(
            c.lookup(" DeepSeek V4 Flash ").unwrap().id,
            "deepseek-ai/DeepSeek-V4-Flash"
        );
        assert_eq!(c.lookup("qwen/qwen3-32b").unwrap().id, "Qwen/Qwen3-32B");
        assert_eq!(c.lookup("THUDM/glm-4-plus").unwrap().id, "zhipu/GLM-4-Plus");
        assert!(c.lookup("gpt-5").is_none());
        assert!(c.lookup("").is_none());
    }

    #[test]
    fn exact_matches_beat_case_insensitive_ones() {
        let text = r#"
[[model]]
id = "a"
aliases = ["x"]
input_per_m = 1
output_per_m = 1

[[model]]
id = "X-exact"
input_per_m = 2
output_per_m = 2
"#;
        let c = Catalog::parse(text, "t.toml").unwrap();
        assert_eq!(c.lookup("x").unwrap().id, "a");
        assert_eq!(c.lookup("X-exact").unwrap().id, "X-exact");
        assert_eq!(c.lookup("x-EXACT").unwrap().id, "X-exact");
    }

    #[test]
    fn user_file_replaces_and_extends() {
        let user = Catalog::parse(
            r#"
[[model]]
id = "gpt-4o"
input_per_m = 2.0
output_per_m = 8.0
cached_input_per_m = 1.0

[[model]]
id = "acme/tiny"
aliases = ["tiny"]
input_per_m = 0.01
output_per_m = 0.02
context_window = 8192
"#,
            "user.toml",
        )
        .unwrap();
        let m = Catalog::merged(&Catalog::builtin(), &user);
        // "gpt-4o" is an alias of the built-in openai/gpt-4o: the user entry replaces it and
        // answers to all of its names.
        assert_eq!(m.entries.len(), 6);
        for name in ["gpt-4o", "openai/gpt-4o", "GPT-4o"] {
            let e = m.lookup(name).unwrap();
            assert_eq!(e.id, "gpt-4o");
            assert_eq!(e.price.input_per_m, 2.0);
            assert_eq!(e.price.cached_input_per_m, Some(1.0));
            assert_eq!(e.context_window, Some(128_000));
        }
        assert_eq!(m.lookup("TINY").unwrap().context_window, Some(8192));
        assert_eq!(m.lookup("Qwen3 32B").unwrap().price.input_per_m, 0.30);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let bad_syntax = "[[model]]\nid = \"a\"\ninput_per_m = 0.1\noutput_per_m = = 2\n";
        let e = Catalog::parse(bad_syntax, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml:4:"), "{e}");

        let unknown = "[[model]]\nid = \"a\"\ninput_per_m = 0.1\noutput_per_m = 2\nprice = 3\n";
        let e = Catalog::parse(unknown, "p.toml").unwrap_err().to_string();
        assert!(e.starts_with("p.toml:"), "{e}");
        assert!(e.contains("price"), "{e}");

        let missing = "[[model]]\nid = \"a\"\ninput_per_m = 0.1\n";
        let e = Catalog::parse(missing, "p.toml").unwrap_err().to_string();
        assert!(e.contains("output_per_m"), "{e}");

        let negative =
            "[[model]]\nid = \"a\"\ninput_per_m = 0.1\noutput_per_m = 1\n\n[[model]]\nid = \"b\"\ninput_per_m = -1\noutput_per_m = 1\n";
        let e = Catalog::parse(negative, "p.toml").unwrap_err().to_string();
        assert!(e.starts_with("p.toml:6:"), "{e}");
        assert!(e.contains("input_per_m"), "{e}");

        let dup = "[[model]]\nid = \"a\"\ninput_per_m = 0.1\noutput_per_m = 1\n\n[[model]]\nid = \"b\"\naliases = [\"A\"]\ninput_per_m = 1\noutput_per_m = 1\n";
        let e = Catalog::parse(dup, "p.toml").unwrap_err().to_string();
        assert!(e.starts_with("p.toml:6:"), "{e}");
        assert!(e.contains("already used by model `a`"), "{e}");
    }

    #[test]
    fn load_names_a_missing_file() {
        let e = Catalog::load(Path::new("/nonexistent/prices.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/prices.toml:"), "{e}");
    }
}
