//! The crate's floors (the rule at the top of src/lib.rs): a module uses only modules of its own
//! floor or of floors below it, and no import cycle joins two modules.
//!
//! The test reads every `crate::` path in the non-test code of `src/` and builds the graph of
//! modules (`config::plan`, `engine::client`, …; `metrics` and `results` count as one module
//! each). It fails naming the edge that reaches up a floor, or the modules of a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. A floor may use its own and lower floors.
const FLOORS: &[&str] = &[
    "core", "config", "metrics", "results", "analysis", "engine", "cli",
];
/// Floors that are one module: their files are not told apart.
const SINGLE: &[&str] = &["metrics", "results"];

fn rank(floor: &str) -> Option<usize> {
    FLOORS.iter().position(|f| *f == floor)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module a file belongs to: `config::plan` for src/config/plan.rs and for every file under
/// src/engine/client/ it is `engine::client`; `None` for lib.rs and main.rs.
fn module_of(rel: &Path) -> Option<String> {
    let parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    let floor = parts.first()?.clone();
    if parts.len() == 1 {
        return (floor != "lib" && floor != "main").then_some(floor);
    }
    if SINGLE.contains(&floor.as_str()) || parts[1] == "mod" {
        return Some(floor);
    }
    Some(format!("{floor}::{}", parts[1]))
}

/// The code a reader of the module's non-test side sees: comments removed, and everything from
/// the first `#[cfg(test)]` at the start of a line on (the test module closes each file).
fn code(text: &str) -> String {
    let text = text.split("\n#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string literal is rare in this crate and only drops a path
            // from the scan, never adds one.
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Every module named by a `crate::` path in `code`.
fn targets(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && code[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            continue;
        }
        let rest = &code[i + "crate::".len()..];
        let floor = ident(rest);
        if floor.is_empty() {
            continue;
        }
        let after = &rest[floor.len()..];
        if SINGLE.contains(&floor) || rank(floor).is_none() {
            out.insert(floor.to_string());
            continue;
        }
        if let Some(tail) = after.strip_prefix("::") {
            if let Some(list) = tail.strip_prefix('{') {
                let list = &list[..list.find('}').unwrap_or(list.len())];
                for item in list.split(',') {
                    let m = ident(item.trim());
                    if !m.is_empty() && m != "self" {
                        out.insert(format!("{floor}::{m}"));
                    }
                }
                continue;
            }
            let m = ident(tail);
            if !m.is_empty() {
                out.insert(format!("{floor}::{m}"));
                continue;
            }
        }
        out.insert(floor.to_string());
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).expect("under src");
        if rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue; // a `#[cfg(test)] mod tests;` file
        }
        let Some(from) = module_of(rel) else { continue };
        let text = std::fs::read_to_string(&f).expect("read source");
        let entry = g.entry(from.clone()).or_default();
        for to in targets(&code(&text)) {
            if to != from && !from.starts_with(&format!("{to}::")) {
                entry.insert(to);
            }
        }
    }
    g
}

fn floor(module: &str) -> &str {
    module.split("::").next().unwrap_or(module)
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let g = t.g;
        let next: Vec<&'a str> = g
            .get(v)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default();
        for w in next {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).expect("visited");
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                scc.sort();
                t.out.push(scc);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

#[test]
fn every_module_sits_on_a_known_floor() {
    let g = graph();
    assert!(
        g.len() > 20,
        "the scan found too few modules: {:?}",
        g.keys()
    );
    for m in g.keys() {
        assert!(
            rank(floor(m)).is_some(),
            "src/{} is not on a floor listed in src/lib.rs and this test",
            floor(m)
        );
    }
}

#[test]
fn no_module_reaches_up_a_floor() {
    let g = graph();
    let mut up = Vec::new();
    for (from, tos) in &g {
        for to in tos {
            if let (Some(a), Some(b)) = (rank(floor(from)), rank(floor(to))) {
                if b > a {
                    up.push(format!("{from} -> {to}"));
                }
            }
        }
    }
    assert!(
        up.is_empty(),
        "modules that use a higher floor ({}):\n{}",
        up.len(),
        up.join("\n")
    );
}

#[test]
fn no_import_cycle() {
    let g = graph();
    let found = cycles(&g);
    let text: Vec<String> = found
        .iter()
        .map(|c| {
            let inner: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    g[a].iter()
                        .filter(|b| c.contains(b))
                        .map(move |b| format!("  {a} -> {b}"))
                })
                .collect();
            format!(
                "{} modules: {}\n{}",
                c.len(),
                c.join(", "),
                inner.join("\n")
            )
        })
        .collect();
    assert!(found.is_empty(), "import cycles:\n{}", text.join("\n"));
}

/// The scan itself: a graph with a known cycle is found, and one without is not, so the two
/// tests above cannot pass because the scan went blind.
#[test]
fn the_scan_sees_paths_and_cycles() {
    let t = targets(&code(
        "use crate::config::plan::Plan;\nuse crate::engine::{client, runner::Run};\n\
         // crate::cli::app in a comment\nfn f() { crate::metrics::Hist::new(); }\n\
         #[cfg(test)]\nmod tests { use crate::cli::args; }",
    ));
    let want: BTreeSet<String> = [
        "config::plan",
        "engine::client",
        "engine::runner",
        "metrics",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(t, want);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("c".into()).or_default().insert("d".into());
    assert_eq!(cycles(&g), vec![vec!["a", "b", "c"]]);
    g.get_mut("c").expect("c").remove("a");
    assert!(cycles(&g).is_empty());
    assert_eq!(
        module_of(Path::new("engine/client/wire.rs")).as_deref(),
        Some("engine::client")
    );
    assert_eq!(
        module_of(Path::new("metrics/hist.rs")).as_deref(),
        Some("metrics")
    );
}

/// `text` with comments, string literals and char literals blanked (newlines kept), so braces
/// and `fn` are counted only where they are code.
fn blank_literals(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let ident_before = i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_');
        if c[i] == '/' && c.get(i + 1) == Some(&'/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
            while i < c.len() && !(c[i] == '*' && c.get(i + 1) == Some(&'/')) {
                blank(&mut out, c[i]);
                i += 1;
            }
            i += 2;
        } else if c[i] == 'r' && !ident_before && matches!(c.get(i + 1), Some('"') | Some('#')) {
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            j += 1;
            while j < c.len()
                && !(c[j] == '"' && (0..hashes).all(|k| c.get(j + 1 + k) == Some(&'#')))
            {
                blank(&mut out, c[j]);
                j += 1;
            }
            i = j + 1 + hashes;
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                }
                i += 1;
            }
            i += 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{7f}'), or else a lifetime left as it is.
            let end = if c.get(i + 1) == Some(&'\\') {
                (i + 2..c.len().min(i + 12)).find(|&k| c[k] == '\'')
            } else {
                (c.get(i + 2) == Some(&'\'')).then_some(i + 2)
            };
            match end {
                Some(e) => i = e + 1,
                None => {
                    out.push(c[i]);
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Every function in `code` longer than `limit` lines (from `fn` to its closing brace), with its
/// first line.
fn long_functions(code: &str, limit: usize) -> Vec<(String, usize, usize)> {
    let code = blank_literals(code);
    let bytes = code.as_bytes();
    let mut found = Vec::new();
    for (at, _) in code.match_indices("fn ") {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let name = ident(&code[at + 3..]).to_string();
        if name.is_empty() {
            continue;
        }
        // The body opens at the first `{` outside the signature's parentheses; a `;` first
        // means a declaration without a body.
        let (mut depth, mut open) = (0i32, None);
        for (k, b) in bytes.iter().enumerate().skip(at) {
            match b {
                b'(' | b'[' | b'<' => depth += 1,
                b')' | b']' => depth -= 1,
                b'>' if bytes[k - 1] != b'-' => depth -= 1,
                b'{' if depth <= 0 => {
                    open = Some(k);
                    break;
                }
                b';' if depth <= 0 => break,
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        let mut level = 0;
        let mut close = None;
        for (k, b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'{' => level += 1,
                b'}' => {
                    level -= 1;
                    if level == 0 {
                        close = Some(k);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(close) = close else { continue };
        let first = code[..at].matches('\n').count() + 1;
        let lines = code[at..=close].matches('\n').count() + 1;
        if lines > limit {
            found.push((name, first, lines));
        }
    }
    found
}

/// No function outside tests is longer than a reader can hold in mind.
#[test]
fn no_function_is_over_150_lines() {
    const LIMIT: usize = 150;
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut long = Vec::new();
    for f in files {
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read source");
        let code = text.split("\n#[cfg(test)]").next().unwrap_or("");
        for (name, line, n) in long_functions(code, LIMIT) {
            let rel = f
                .strip_prefix(&src)
                .expect("under src")
                .display()
                .to_string();
            long.push(format!("src/{rel}:{line} fn {name}: {n} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {LIMIT} lines:\n{}",
        long.join("\n")
    );
}

/// The length scan itself: strings, chars, comments and lifetimes do not confuse it.
#[test]
fn the_length_scan_counts_code_only() {
    let body = "    x();\n".repeat(5);
    let code = format!(
        "fn a<'a>(s: &'a str) -> Vec<u8> {{\n    let b = '{{';\n    let s = \"}}\\\"}}\";\n    // }}\n    let r = r#\"}}\"#;\n{body}}}\nfn b() {{}}\n"
    );
    let found = long_functions(&code, 3);
    assert_eq!(found, vec![("a".to_string(), 1, 11)]);
    assert!(long_functions(&code, 11).is_empty());
}
