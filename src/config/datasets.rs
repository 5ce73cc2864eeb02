//! Loaders for public benchmark datasets: ShareGPT conversations (the layout vLLM's benchmark
//! and GuideLLM read) and JSONL request-length traces (Mooncake-style replay).
//!
//! Both read the file as a stream (a buffered reader, one conversation or line at a time), so a
//! file of hundreds of MB never has to fit in memory twice. Errors reuse
//! [`PromptFileError`]: a bad place in the file is reported as `file:line` with what was
//! expected there.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::config::workload::{Message, Prompt, PromptBody, PromptFileError};

const READ_BUFFER: usize = 1 << 16;

/// The layout a ShareGPT file must have, quoted in errors.
const SHAREGPT_LAYOUT: &str =
    "expected a ShareGPT JSON array of {\"conversations\": [{\"from\", \"value\"}]}";

/// The layout of one line of a ShareGPT JSONL file, quoted in errors.
const SHAREGPT_LINE_LAYOUT: &str =
    "expected one ShareGPT object {\"conversations\": [{\"from\", \"value\"}]} per line";

/// One usable ShareGPT conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct SharegptItem {
    /// The system turn (if the conversation starts with a non-empty one) and the first human
    /// turn, as `system` / `user` messages; `max_tokens` is None.
    pub prompt: Prompt,
    /// The text of the assistant turn right after that human turn, if there is one and it is
    /// not empty: the reference for the output length.
    pub reply: Option<String>,
}

/// What [`load_sharegpt`] read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sharegpt {
    /// The usable conversations, in file order.
    pub items: Vec<SharegptItem>,
    /// Conversations left out: no turns, a first turn (after an optional system turn) that is
    /// not human, or an empty human turn.
    pub skipped: usize,
}

/// Loads a ShareGPT dataset: a JSON array of objects, each with `conversations` (or
/// `conversation`) = an array of `{"from": "human"|"user"|"gpt"|"assistant"|"system"|…,
/// "value": "…"}`, other fields ignored; or JSONL, one such object per line (told apart by the
/// first non-blank character, `[` or `{`).
///
/// Each conversation gives at most one prompt, see [`SharegptItem`]; the ones that give none
/// are counted in [`Sharegpt::skipped`]. `from` is matched case-insensitively; `gpt`,
/// `assistant`, `chatgpt`, `bing`, `bard` and `model` count as the assistant. A missing or
/// null `value` counts as empty.
///
/// Errors: `Io` if the file cannot be read; `Line` (with the line serde_json stopped at) if
/// the file is not JSON or an object lacks `conversations`; `Empty` if no conversation is
/// usable.
pub fn load_sharegpt(path: &Path) -> Result<Sharegpt, PromptFileError> {
    let io_err = |source| PromptFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    let (first, lines_before) = skip_blank(&mut reader).map_err(io_err)?;
    let out = match first {
        None => Sharegpt::default(),
        Some(b'[') => sharegpt_array(path, reader, lines_before)?,
        Some(b'{') => sharegpt_jsonl(path, reader, lines_before)?,
        Some(_) => {
            return Err(PromptFileError::Line {
                path: path.to_path_buf(),
                line: lines_before + 1,
                message: format!("{SHAREGPT_LAYOUT} (or JSONL of such objects)"),
            })
        }
    };
    if out.items.is_empty() {
        return Err(PromptFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

fn sharegpt_jsonl(
    path: &Path,
    mut reader: impl BufRead,
    lines_before: usize,
) -> Result<Sharegpt, PromptFileError> {
    let mut out = Sharegpt::default();
    let mut line = lines_before;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| PromptFileError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            return Ok(out);
        }
        line += 1;
        let l = buf.trim_ascii();
        if l.is_empty() {
            continue;
        }
        let c: Conversation = serde_json::from_slice(l)
            .map_err(|e| json_error(path, line - 1, SHAREGPT_LINE_LAYOUT, e))?;
        out.push(c);
    }
}

#[derive(Deserialize)]
struct Turn {
    from: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(PartialEq)]
enum Role {
    System,
    User,
    Assistant,
    Other,
}

impl Turn {
    fn role(&self) -> Role {
        match self.from.to_ascii_lowercase().as_str() {
            "system" => Role::System,
            "human" | "user" => Role::User,
            "gpt" | "assistant" | "chatgpt" | "bing" | "bard" | "model" => Role::Assistant,
            _ => Role::Other,
        }
    }

    /// The text, if not blank.
    fn text(self) -> Option<String> {
        self.value.filter(|v| !v.trim().is_empty())
    }
}

/// The first turns of one conversation object: as many as [`convert`] looks at. Later turns
/// are skipped unread (only checked to be JSON), which spares allocating long conversations.
struct Conversation(Vec<Turn>);

/// Turns [`convert`] may use: an optional system turn, the human turn and the reply.
const TURNS_USED: usize = 3;

impl<'de> Deserialize<'de> for Conversation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ConversationVisitor)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Key {
    Conversations,
    Conversation,
    #[serde(other)]
    Other,
}

struct ConversationVisitor;

impl<'de> Visitor<'de> for ConversationVisitor {
    type Value = Conversation;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a conversation object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Conversation, A::Error> {
        let mut turns = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Conversations | Key::Conversation if turns.is_none() => {
                    turns = Some(map.next_value::<FirstTurns>()?.0);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        // serde_json reports this at the object's closing brace.
        turns
            .map(Conversation)
            .ok_or_else(|| de::Error::custom("the object has no `conversations` array"))
    }
}

struct FirstTurns(Vec<Turn>);

impl<'de> Deserialize<'de> for FirstTurns {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(FirstTurnsVisitor)
    }
}

struct FirstTurnsVisitor;

impl<'de> Visitor<'de> for FirstTurnsVisitor {
    type Value = FirstTurns;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of {\"from\", \"value\"} turns")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstTurns, A::Error> {
        let mut turns = Vec::with_capacity(TURNS_USED);
        while turns.len() < TURNS_USED {
            match seq.next_element::<Turn>()? {
                Some(t) => turns.push(t),
                None => return Ok(FirstTurns(turns)),
            }
        }
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(FirstTurns(turns))
    }
}

impl Sharegpt {
    fn push(&mut self, c: Conversation) {
        match convert(c.0) {
            Some(item) => self.items.push(item),
            None => self.skipped += 1,
        }
    }
}

fn convert(turns: Vec<Turn>) -> Option<SharegptItem> {
    let mut turns = turns.into_iter().peekable();
    let mut messages = Vec::with_capacity(2);
    if let Some(system) = turns.next_if(|t| t.role() == Role::System) {
        if let Some(content) = system.text() {
            messages.push(Message {
                role: "system".into(),
                content,
            });
        }
    }
    let human = turns.next().filter(|t| t.role() == Role::User)?;
    messages.push(Message {
        role: "user".into(),
        content: human.text()?,
    });
    let reply = turns
        .next()
        .filter(|t| t.role() == Role::Assistant)
        .and_then(Turn::text);
    let chars = messages.iter().map(|m| m.content.chars().count()).sum();
    Some(SharegptItem {
        prompt: Prompt {
            body: PromptBody::Messages(messages),
            max_tokens: None,
            chars,
            images: Vec::new(),
        },
        reply,
    })
}

/// Reads a top-level JSON array (the reader is at its `[`), one element at a time.
///
/// serde_json reading straight from an `io::Read` goes byte by byte (about 40 MB/s), so this
/// cuts the array into its elements with a small scanner (strings, escapes and nesting depth
/// only) and parses each element from a slice; an element's errors are reported at their
/// line in the file.
fn sharegpt_array(
    path: &Path,
    mut reader: impl BufRead,
    lines_before: usize,
) -> Result<Sharegpt, PromptFileError> {
    let line_err = |line: usize, message: String| PromptFileError::Line {
        path: path.to_path_buf(),
        line,
        message,
    };
    let io_err = |source| PromptFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    // (`consume` only drops bytes already buffered.)
    let opening = reader.fill_buf().map_err(io_err)?.first().copied();
    debug_assert_eq!(opening, Some(b'['));
    reader.consume(1);
    let mut out = Sharegpt::default();
    // The line the scanner is on, and the one the current element starts on.
    let mut line = lines_before + 1;
    let mut elem_line = line;
    let mut elem: Vec<u8> = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    // After a `,`: another element must follow.
    let mut want_value = false;
    let mut closed = false;
    let mut finish = |elem: &mut Vec<u8>, elem_line: usize| -> Result<(), PromptFileError> {
        let c: Conversation = serde_json::from_slice(elem)
            .map_err(|e| json_error(path, elem_line - 1, SHAREGPT_LAYOUT, e))?;
        out.push(c);
        elem.clear();
        Ok(())
    };
    loop {
        let buf = reader.fill_buf().map_err(io_err)?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len();
        let mut i = 0;
        while i < n {
            if in_string && !escaped {
                // The bulk of the file: copy a run of plain string bytes at once.
                let run = buf[i..]
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || c == b'\n')
                    .unwrap_or(n - i);
                elem.extend_from_slice(&buf[i..i + run]);
                i += run;
                if i == n {
                    break;
                }
            }
            let b = buf[i];
            i += 1;
            if b == b'\n' {
                line += 1;
            }
            if closed {
                if !b.is_ascii_whitespace() {
                    return Err(line_err(
                        line,
                        format!("{SHAREGPT_LAYOUT}; text after the array's closing `]`"),
                    ));
                }
                continue;
            }
            if in_string {
                elem.push(b);
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
                continue;
            }
            match b {
                b',' | b']' if depth == 0 => {
                    if !elem.is_empty() {
                        finish(&mut elem, elem_line)?;
                    } else if b == b',' || want_value {
                        return Err(line_err(
                            line,
                            format!("{SHAREGPT_LAYOUT}; a conversation object is missing"),
                        ));
                    }
                    want_value = b == b',';
                    closed = b == b']';
                }
                _ if b.is_ascii_whitespace() => {
                    if !elem.is_empty() {
                        elem.push(b);
                    }
                }
                _ => {
                    if elem.is_empty() {
                        elem_line = line;
                    }
                    elem.push(b);
                    match b {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
            }
        }
        reader.consume(n);
    }
    if !closed {
        return Err(line_err(
            line,
            format!("{SHAREGPT_LAYOUT}; the array is not closed (is the file cut short?)"),
        ));
    }
    Ok(out)
}

/// Consumes leading blanks (and a UTF-8 byte-order mark); returns the first other byte (not
/// consumed) and the number of newlines consumed.
fn skip_blank(reader: &mut impl BufRead) -> std::io::Result<(Option<u8>, usize)> {
    let mut newlines = 0;
    let mut start = true;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok((None, newlines));
        }
        if start && buf.starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
            start = false;
            continue;
        }
        start = false;
        let blank = buf.iter().take_while(|b| b.is_ascii_whitespace()).count();
        newlines += buf[..blank].iter().filter(|&&b| b == b'\n').count();
        let next = buf.get(blank).copied();
        reader.consume(blank);
        if next.is_some() {
            return Ok((next, newlines));
        }
    }
}

/// A serde_json error as a `file:line` error saying which `layout` was expected;
/// `lines_before` is the number of lines of the file before the text serde_json read.
fn json_error(
    path: &Path,
    lines_before: usize,
    layout: &str,
    e: serde_json::Error,
) -> PromptFileError {
    if e.is_io() {
        return PromptFileError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        };
    }
    PromptFileError::Line {
        path: path.to_path_buf(),
        line: lines_before + e.line().max(1),
        message: format!("{layout}; {}", without_line(&e)),
    }
}

/// serde_json's message with its " at line L column C" turned into "column C: …" (the line is
/// reported by the error itself, counted over the whole file).
fn without_line(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((what, _)) => format!("column {}: {what}", e.column()),
        None => text,
    }
}

/// One request of a replayed trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceEntry {
    /// When to send it, as an offset from the trace's first request.
    pub t: Duration,
    /// Prompt length in tokens (≥ 1).
    pub input_tokens: u32,
    /// Output length in tokens (≥ 1).
    pub output_tokens: u32,
    /// The model the trace names for this request, if any.
    pub model: Option<String>,
}

#[derive(Deserialize)]
struct TraceLine {
    #[serde(default)]
    timestamp: Option<f64>,
    #[serde(default)]
    timestamp_ms: Option<f64>,
    #[serde(default)]
    input_length: Option<u64>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_length: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    model: Option<String>,
}

/// Loads a JSONL request trace: one JSON object per non-blank line, in non-decreasing time
/// order, with
///
/// - the send time as **either** `timestamp` in **seconds** **or** `timestamp_ms` in
///   **milliseconds** (a number, fractions allowed; absolute epoch time or relative: only the
///   offsets from the first line are used). The unit is never guessed: Mooncake-style traces,
///   whose `timestamp` is in milliseconds, must name the field `timestamp_ms`, or they replay
///   a thousand times slower;
/// - the prompt length as `input_length` or `input_tokens` (an integer ≥ 1);
/// - the output length as `output_length` or `output_tokens` (an integer ≥ 1);
/// - optionally `model` (a string). Other fields (`hash_ids`, …) are ignored.
///
/// Errors: `Io` if the file cannot be read; `Line` naming the line and what is wrong with it;
/// `Empty` if there is no request.
pub fn load_trace(path: &Path) -> Result<Vec<TraceEntry>, PromptFileError> {
    let io_err = |source| PromptFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, File::open(path).map_err(io_err)?);
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut line_no = 0;
    // (first timestamp, previous timestamp), in seconds.
    let mut times: Option<(f64, f64)> = None;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(io_err)? == 0 {
            break;
        }
        line_no += 1;
        let mut l = buf.trim_ascii();
        if line_no == 1 {
            l = l.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(l);
        }
        if l.is_empty() {
            continue;
        }
        let err = |message: String| PromptFileError::Line {
            path: path.to_path_buf(),
            line: line_no,
            message,
        };
        let r: TraceLine = serde_json::from_slice(l).map_err(|e| {
            err(format!(
                "expected a JSON object with `timestamp` (s) or `timestamp_ms`, \
                 `input_length` and `output_length`; {}",
                without_line(&e)
            ))
        })?;
        let ts = match (r.timestamp, r.timestamp_ms) {
            (Some(s), None) => s,
            (None, Some(ms)) => ms / 1000.0,
            (None, None) => {
                return Err(err(
                    "no `timestamp` (seconds) or `timestamp_ms` (milliseconds)".into(),
                ))
            }
            (Some(_), Some(_)) => {
                return Err(err("give `timestamp` or `timestamp_ms`, not both".into()))
            }
        };
        let input_tokens = length(r.input_length, r.input_tokens, "input").map_err(&err)?;
        let output_tokens = length(r.output_length, r.output_tokens, "output").map_err(&err)?;
        let (first, prev) = *times.get_or_insert((ts, ts));
        if ts < prev {
            return Err(err(format!(
                "timestamp {ts} s is before the previous request's {prev} s: \
                 the trace must be in time order"
            )));
        }
        let t = Duration::try_from_secs_f64(ts - first)
            .map_err(|_| err(format!("timestamp {ts} s is out of range")))?;
        times = Some((first, ts));
        out.push(TraceEntry {
            t,
            input_tokens,
            output_tokens,
            model: r.model,
        });
    }
    if out.is_empty() {
        return Err(PromptFileError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// One of `{what}_length` / `{what}_tokens`, in 1..=u32::MAX.
fn length(a: Option<u64>, b: Option<u64>, what: &str) -> Result<u32, String> {
    let n = match (a, b) {
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => return Err(format!("no `{what}_length` or `{what}_tokens`")),
        (Some(_), Some(_)) => {
            return Err(format!("give `{what}_length` or `{what}_tokens`, not both"))
        }
    };
    match u32::try_from(n) {
        Ok(0) => Err(format!("`{what}` length is 0; it must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{what}` length {n} is too large")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    fn line_error(r: Result<impl fmt::Debug, PromptFileError>) -> (usize, String) {
        match r {
            Err(PromptFileError::Line { line, message, .. }) => (line, message),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    fn messages(item: &SharegptItem) -> Vec<(&str, &str)> {
        match &item.prompt.body {
            PromptBody::Messages(ms) => ms
                .iter()
                .map(|m| (m.role.as_str(), m.content.as_str()))
                .collect(),
            PromptBody::Text(t) => panic!("text body {t:?}"),
        }
    }

    const ARRAY: &str = r#"
[
  {"id": "a", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello there"}]},
  {"id": "b", "conversations": [
    {"from": "system", "value": "be brief"},
    {"from": "human", "value": "q?"},
    {"from": "gpt", "value": "a."},
    {"from": "human", "value": "more"}
  ]},
  {"id": "c", "conversations": [{"from": "gpt", "value": "starts with the model"}, {"from": "human", "value": "x"}]},
  {"id": "d", "conversations": []},
  {"id": "e", "conversations": [{"from": "human", "value": "  "}, {"from": "gpt", "value": "r"}]},
  {"id": "f", "conversation": [{"from": "User", "value": "no reply"}]},
  {"id": "g", "conversations": [{"from": "human", "value": "two in a row"}, {"from": "human", "value": "again"}]},
  {"id": "h", "conversations": [{"from": "system", "value": ""}, {"from": "user", "value": "u"}, {"from": "assistant", "value": ""}]}
]
"#;

    #[test]
    fn sharegpt_array() {
        let dir = tempfile::tempdir().expect("tempdir");
        let got = load_sharegpt(&write(&dir, "sg.json", ARRAY)).expect("loads");
        assert_eq!(got.skipped, 3, "c, d and e");
        let bodies: Vec<_> = got.items.iter().map(messages).collect();
        assert_eq!(
            bodies,
            [
                vec![("user", "hi")],
                vec![("system", "be brief"), ("user", "q?")],
                vec![("user", "no reply")],
                vec![("user", "two in a row")],
                vec![("user", "u")],
            ]
        );
        let replies: Vec<_> = got.items.iter().map(|i| i.reply.as_deref()).collect();
        assert_eq!(replies, [Some("hello there"), Some("a."), None, None, None]);
        assert_eq!(got.items[1].prompt.chars, "be brief".len() + "q?".len());
        assert!(got.items.iter().all(|i| i.prompt.max_tokens.is_none()));
        // A byte-order mark and a one-line file read the same.
        let one_line = format!("\u{FEFF}{}", ARRAY.replace('\n', " "));
        assert_eq!(
            load_sharegpt(&write(&dir, "bom.json", &one_line)).expect("bom"),
            got
        );
    }

    #[test]
    fn sharegpt_array_scanner_respects_strings_and_nesting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = r#"[{"meta": [1, {"x": "]}"}], "conversations": [
            {"from": "human", "value": "a ] , } \" [ {"},
            {"from": "gpt", "value": "\\"},
            {"from": "human", "value": "third"},
            {"from": "gpt", "value": 5}
        ]} , {"conversations": [{"from": "human", "value": "\u005d"}]}]"#;
        let got = load_sharegpt(&write(&dir, "s.json", text)).expect("loads");
        assert_eq!(messages(&got.items[0]), [("user", "a ] , } \" [ {")]);
        // Turns after the third are skipped unread.
        assert_eq!(got.items[0].reply.as_deref(), Some("\\"));
        assert_eq!(messages(&got.items[1]), [("user", "]")]);
        // Any chunking of the input reads the same (escapes split across reads included).
        for cap in 1..=9 {
            let r = BufReader::with_capacity(cap, text.as_bytes());
            assert_eq!(
                super::sharegpt_array(Path::new("s.json"), r, 0).expect("chunked"),
                got
            );
        }
        for (bad, line) in [
            ("[{\"conversations\": []},\n]", 2),
            ("[\n,{\"conversations\": []}]", 2),
            // A missing comma: found where the next object starts.
            ("[{\"conversations\": []}\n{\"conversations\": []}]", 2),
        ] {
            let (got, msg) = line_error(load_sharegpt(&write(&dir, "t.json", bad)));
            assert_eq!(got, line, "{bad}: {msg}");
        }
    }

    #[test]
    fn sharegpt_jsonl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "\n{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, \
                    {\"from\": \"gpt\", \"value\": \"b\"}], \"id\": 1}\n\n\
                    {\"conversations\": [{\"from\": \"gpt\", \"value\": \"c\"}]}\n\
                    {\"conversation\": [{\"from\": \"human\", \"value\": \"d\"}]}";
        let got = load_sharegpt(&write(&dir, "sg.jsonl", text)).expect("loads");
        assert_eq!(got.skipped, 1);
        assert_eq!(got.items.len(), 2);
        assert_eq!(got.items[0].reply.as_deref(), Some("b"));
        assert_eq!(messages(&got.items[1]), [("user", "d")]);
        // A broken line is reported with its own number (blank lines count).
        let broken = "\n{\"conversations\": []}\n\n{\"conversations\": [{\"from\": \"human\"\n";
        let (line, msg) = line_error(load_sharegpt(&write(&dir, "b.jsonl", broken)));
        assert_eq!(line, 4, "{msg}");
        assert!(msg.contains("per line"), "{msg}");
        let (line, msg) = line_error(load_sharegpt(&write(
            &dir,
            "c.jsonl",
            "{\"conversations\": []}\n{\"messages\": []}\n",
        )));
        assert_eq!(line, 2);
        assert!(msg.contains("no `conversations`"), "{msg}");
    }

    #[test]
    fn sharegpt_errors_name_the_line_and_the_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A wrong type on line 5 (after two leading blank lines).
        let bad = "\n\n[\n  {\"conversations\": [{\"from\": \"human\", \"value\": \"ok\"}]},\n  \
                   {\"conversations\": [{\"from\": \"human\", \"value\": 5}]}\n]\n";
        let (line, msg) = line_error(load_sharegpt(&write(&dir, "a.json", bad)));
        assert_eq!(line, 5, "{msg}");
        assert!(msg.contains(SHAREGPT_LAYOUT), "{msg}");
        assert!(msg.contains("invalid type"), "{msg}");
        assert!(!msg.contains(" at line "), "{msg}");
        // Not JSON at all.
        let (line, msg) = line_error(load_sharegpt(&write(&dir, "b.json", "\nid,text\n")));
        assert_eq!(line, 2);
        assert!(msg.contains(SHAREGPT_LAYOUT), "{msg}");
        // An array of something else.
        let (line, msg) = line_error(load_sharegpt(&write(
            &dir,
            "c.json",
            "[\n{\"conversations\": []},\n{\"prompt\": \"x\"}\n]",
        )));
        assert_eq!(line, 3, "{msg}");
        assert!(msg.contains("no `conversations`"), "{msg}");
        let (line, _) = line_error(load_sharegpt(&write(&dir, "d.json", "[1, 2]")));
        assert_eq!(line, 1);
        // A truncated array.
        let (line, msg) = line_error(load_sharegpt(&write(
            &dir,
            "e.json",
            "[\n{\"conversations\": []},\n",
        )));
        assert_eq!(line, 3, "{msg}");
        // Trailing garbage after the array.
        let (line, _) = line_error(load_sharegpt(&write(&dir, "f.json", "[]\n\nx")));
        assert_eq!(line, 3);
        // A pretty-printed single object is taken as JSONL and fails on its first line.
        let (line, _) = line_error(load_sharegpt(&write(
            &dir,
            "g.json",
            "{\n  \"data\": []\n}",
        )));
        assert_eq!(line, 1);
        // Nothing usable.
        for (name, text) in [
            ("h.json", ""),
            ("i.json", " \n\n "),
            ("j.json", "[]"),
            (
                "k.json",
                "[{\"conversations\": [{\"from\": \"gpt\", \"value\": \"x\"}]}]",
            ),
        ] {
            let r = load_sharegpt(&write(&dir, name, text));
            assert!(
                matches!(r, Err(PromptFileError::Empty { .. })),
                "{name}: {r:?}"
            );
        }
        let r = load_sharegpt(&dir.path().join("missing.json"));
        assert!(matches!(r, Err(PromptFileError::Io { .. })), "{r:?}");
    }

    #[test]
    fn trace_good() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "{\"timestamp\": 1700000000.5, \"input_length\": 100, \"output_length\": 20, \
                    \"hash_ids\": [1, 2]}\n\n\
                    {\"timestamp\": 1700000001.0, \"input_tokens\": 5, \"output_tokens\": 1, \
                    \"model\": \"m\"}\n\
                    {\"timestamp\": 1700000001, \"input_length\": 7, \"output_length\": 3}\n\
                    {\"timestamp_ms\": 1700000003250, \"input_length\": 1, \"output_length\": 1}\n";
        let got = load_trace(&write(&dir, "t.jsonl", text)).expect("loads");
        assert_eq!(
            got,
            [
                TraceEntry {
                    t: Duration::ZERO,
                    input_tokens: 100,
                    output_tokens: 20,
                    model: None,
                },
                TraceEntry {
                    t: Duration::from_millis(500),
                    input_tokens: 5,
                    output_tokens: 1,
                    model: Some("m".into()),
                },
                TraceEntry {
                    t: Duration::from_millis(500),
                    input_tokens: 7,
                    output_tokens: 3,
                    model: None,
                },
                TraceEntry {
                    t: Duration::from_millis(2750),
                    input_tokens: 1,
                    output_tokens: 1,
                    model: None,
                },
            ]
        );
        // Relative millisecond timestamps (Mooncake's, with the unit named).
        let ms = "{\"timestamp_ms\": 0, \"input_length\": 10, \"output_length\": 2}\n\
                  {\"timestamp_ms\": 27482, \"input_length\": 6955, \"output_length\": 52}\n";
        let got = load_trace(&write(&dir, "m.jsonl", ms)).expect("loads");
        assert_eq!(got[1].t, Duration::from_millis(27482));
    }

    #[test]
    fn trace_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = "{\"timestamp\": 10, \"input_length\": 1, \"output_length\": 1}";
        for (bad, needle) in [
            ("{\"timestamp\": 9, \"input_length\": 1, \"output_length\": 1}", "time order"),
            ("{\"timestamp\": 11, \"input_length\": 1", "expected a JSON object"),
            ("{\"timestamp\": 11, \"input_length\": 0, \"output_length\": 1}", "at least 1"),
            ("{\"timestamp\": 11, \"input_length\": 1, \"output_length\": 0}", "at least 1"),
            ("{\"timestamp\": 11, \"input_length\": -1, \"output_length\": 1}", "invalid value"),
            ("{\"timestamp\": 11, \"input_length\": 1.5, \"output_length\": 1}", "invalid type"),
            ("{\"timestamp\": 11, \"input_length\": 5000000000, \"output_length\": 1}", "large"),
            ("{\"input_length\": 1, \"output_length\": 1}", "no `timestamp`"),
            ("{\"timestamp\": 11, \"timestamp_ms\": 11000, \"input_length\": 1, \"output_length\": 1}", "not both"),
            ("{\"timestamp\": 11, \"output_length\": 1}", "no `input_length`"),
            ("{\"timestamp\": 11, \"input_length\": 1}", "no `output_length`"),
            ("{\"timestamp\": 11, \"input_length\": 1, \"input_tokens\": 1, \"output_length\": 1}", "not both"),
            ("TIMESTAMP,ContextTokens,GeneratedTokens", "expected a JSON object"),
        ] {
            let p = write(&dir, "t.jsonl", &format!("{ok}\n\n{bad}\n{ok}\n"));
            let (line, msg) = line_error(load_trace(&p));
            assert_eq!(line, 3, "{bad}: {msg}");
            assert!(msg.contains(needle), "{bad}: {msg}");
            let shown = load_trace(&p).expect_err("bad").to_string();
            assert!(shown.contains("t.jsonl:3: "), "{shown}");
        }
        for text in ["", "\n \n"] {
            let r = load_trace(&write(&dir, "e.jsonl", text));
            assert!(matches!(r, Err(PromptFileError::Empty { .. })), "{r:?}");
        }
        let r = load_trace(&dir.path().join("missing.jsonl"));
        assert!(matches!(r, Err(PromptFileError::Io { .. })), "{r:?}");
    }
}
