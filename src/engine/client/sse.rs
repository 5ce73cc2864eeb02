//! Incremental, byte-exact Server-Sent Events framing.
//!
//! [`SseParser`] follows the line handling of the WHATWG "event stream" format:
//!
//! * lines end with CRLF, LF or a lone CR, and a CR that ends one `feed` followed by an LF
//!   that starts the next one is a single line end;
//! * a UTF-8 byte order mark at the very start of the stream is stripped;
//! * lines starting with `:` are comments (keep-alives) and are ignored;
//! * `field: value` has at most one space after the colon stripped; a line without a colon is
//!   a field name with an empty value;
//! * `data` lines of one event are joined with `\n`; `event` sets the event type of the
//!   pending event (an empty value means the default type, reported as `None`); `id`,
//!   `retry` and unknown fields are ignored;
//! * a blank line dispatches the pending event, but only if it had at least one `data` line
//!   (a lone `data:` line counts and yields an event with empty data).
//!
//! The parser works on bytes and never validates UTF-8, so a multi-byte character split across
//! two network reads is reassembled exactly.
//!
//! Performance: when an event lies wholly inside one `feed` call and has a single `data` line
//! (the usual shape of LLM token streams), the event handed to the callback borrows straight
//! from the caller's bytes and nothing is copied. Only the pieces that straddle a `feed`
//! boundary, or events with several `data` lines, are copied into internal buffers, which are
//! reused for the life of the parser (see [`SseParser::reset`] to reuse it across streams).
//!
//! Memory is bounded by `max_event_bytes`: a line longer than that, or an event whose joined
//! data would be longer than that, makes [`SseParser::feed`] fail with
//! [`SseError::EventTooLarge`]. Because the check looks at the line and the data, not at how
//! the bytes happened to be split, whether a stream fails does not depend on the split.

use thiserror::Error;

/// The UTF-8 byte order mark.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// One dispatched event. Both slices are only valid during the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The value of the last non-empty `event:` field of this event, if any.
    pub event: Option<&'a [u8]>,
    /// The `data:` lines of this event joined with `\n` (no trailing newline).
    pub data: &'a [u8],
}

/// Why [`SseParser::feed`] failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SseError {
    /// A line, or the joined data of one event, was longer than the configured maximum.
    #[error("an SSE event exceeded {limit} bytes")]
    EventTooLarge {
        /// The configured `max_event_bytes`.
        limit: usize,
    },
}

/// Incremental SSE parser. Feed it the response body as it arrives; see the module docs.
#[derive(Debug, Clone)]
pub struct SseParser {
    max: usize,
    /// Bytes of a line whose terminator has not arrived yet.
    partial: Vec<u8>,
    /// Data of the pending event, when it is not borrowed from the current input.
    data: Vec<u8>,
    /// The pending event has had at least one `data` line.
    has_data: bool,
    /// Event type of the pending event (empty: default), when not borrowed from the input.
    event: Vec<u8>,
    /// The last `feed` ended with CR: an LF at the start of the next one belongs to it.
    skip_lf: bool,
    /// `Some(n)` while still at the stream start with `n` bytes of a BOM matched.
    bom: Option<u8>,
    /// An error was returned; every later `feed` fails until `finish` or `reset`.
    poisoned: bool,
}

/// Pieces of the pending event that live in the input of the current `feed` call, as byte
/// ranges into it. When a range is `Some` it overrides the matching parser buffer.
#[derive(Debug, Clone, Copy, Default)]
struct Borrowed {
    data: Option<(usize, usize)>,
    event: Option<(usize, usize)>,
}

/// What one line means; value ranges are relative to the line.
enum Line {
    Blank,
    Data(usize, usize),
    Event(usize, usize),
    Ignore,
}

fn classify(line: &[u8]) -> Line {
    if line.is_empty() {
        return Line::Blank;
    }
    let (name, value_start) = match line.iter().position(|&b| b == b':') {
        Some(0) => return Line::Ignore,
        Some(colon) => {
            let start = if line.get(colon + 1) == Some(&b' ') {
                colon + 2
            } else {
                colon + 1
            };
            (&line[..colon], start)
        }
        None => (line, line.len()),
    };
    match name {
        b"data" => Line::Data(value_start, line.len()),
        b"event" => Line::Event(value_start, line.len()),
        _ => Line::Ignore,
    }
}

/// Index of the first CR or LF in `hay[from..]`, scanning eight bytes at a time.
fn find_eol(hay: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const LFS: u64 = ONES * b'\n' as u64;
    const CRS: u64 = ONES * b'\r' as u64;
    let mut i = from;
    while let Some(chunk) = hay.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("the slice has exactly 8 bytes"));
        let lf = word ^ LFS;
        let cr = word ^ CRS;
        // A byte of `x` is zero iff its bit 7 is set here; bits above the lowest true zero
        // may be false positives, which the lowest-set-bit search below never sees.
        let hits = (lf.wrapping_sub(ONES) & !lf & HIGHS) | (cr.wrapping_sub(ONES) & !cr & HIGHS);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay.get(i..)?
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|p| p + i)
}

impl SseParser {
    /// A parser that rejects lines and events longer than `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            max: max_event_bytes,
            partial: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event: Vec::new(),
            skip_lf: false,
            bom: Some(0),
            poisoned: false,
        }
    }

    /// Forget everything and expect a new stream; keeps the allocated buffers.
    pub fn reset(&mut self) {
        self.partial.clear();
        self.data.clear();
        self.has_data = false;
        self.event.clear();
        self.skip_lf = false;
        self.bom = Some(0);
        self.poisoned = false;
    }

    /// Feed bytes exactly as they arrive from the network (any split, even inside a UTF-8
    /// character or between CR and LF). Calls `on_event` for each complete event that had at
    /// least one data line.
    ///
    /// Returns [`SseError::EventTooLarge`] as soon as a line or the pending event's data is
    /// known to exceed the maximum; the parser then stays failed (every later `feed` returns
    /// the same error) until [`finish`](Self::finish) or [`reset`](Self::reset).
    pub fn feed(
        &mut self,
        bytes: &[u8],
        mut on_event: impl FnMut(SseEvent<'_>),
    ) -> Result<(), SseError> {
        if self.poisoned {
            return Err(self.too_large());
        }
        let result = self.feed_inner(bytes, &mut on_event);
        if result.is_err() {
            self.poison();
        }
        result
    }

    /// End of body. If an event's data is pending without the terminating blank line,
    /// dispatch it (many servers end without the final blank line). A last line without any
    /// line terminator is processed as a line first (so `data: [DONE]` with no newline still
    /// arrives), and then `true` is returned: the caller may treat that as a truncated stream.
    ///
    /// Afterwards the parser is reset and can parse a new stream. After a failed `feed` this
    /// dispatches nothing and returns `false`.
    pub fn finish(&mut self, mut on_event: impl FnMut(SseEvent<'_>)) -> bool {
        if self.poisoned {
            self.reset();
            return false;
        }
        if let Some(matched) = self.bom {
            // A stream that ended inside what looked like a BOM: those bytes are content.
            self.partial.extend_from_slice(&BOM[..usize::from(matched)]);
        }
        let incomplete = !self.partial.is_empty();
        let mut borrowed = Borrowed::default();
        let ok = !incomplete || self.owned_line(&[], &mut borrowed, &mut on_event).is_ok();
        if ok {
            self.dispatch(&[], &mut borrowed, &mut on_event);
        }
        self.reset();
        incomplete
    }

    fn too_large(&self) -> SseError {
        SseError::EventTooLarge { limit: self.max }
    }

    fn poison(&mut self) {
        self.reset();
        self.poisoned = true;
    }

    fn feed_inner<F: FnMut(SseEvent<'_>)>(
        &mut self,
        bytes: &[u8],
        on_event: &mut F,
    ) -> Result<(), SseError> {
        let mut pos = 0;
        if let Some(mut matched) = self.bom {
            while usize::from(matched) < BOM.len()
                && bytes.get(pos) == Some(&BOM[usize::from(matched)])
            {
                matched += 1;
                pos += 1;
            }
            if usize::from(matched) == BOM.len() {
                self.bom = None;
            } else if pos == bytes.len() {
                // Still undecided: wait for more bytes.
                self.bom = Some(matched);
                return Ok(());
            } else {
                // Not a BOM after all: the bytes matched so far start the first line.
                self.partial.extend_from_slice(&BOM[..usize::from(matched)]);
                self.bom = None;
            }
        }
        if self.skip_lf && pos < bytes.len() {
            self.skip_lf = false;
            if bytes[pos] == b'\n' {
                pos += 1;
            }
        }

        let mut borrowed = Borrowed::default();
        while let Some(eol) = find_eol(bytes, pos) {
            let next = if bytes[eol] == b'\r' {
                match bytes.get(eol + 1) {
                    Some(b'\n') => eol + 2,
                    Some(_) => eol + 1,
                    None => {
                        self.skip_lf = true;
                        eol + 1
                    }
                }
            } else {
                eol + 1
            };
            if self.partial.is_empty() {
                self.input_line(bytes, pos, eol, &mut borrowed, on_event)?;
            } else {
                if self.partial.len() + (eol - pos) > self.max {
                    return Err(self.too_large());
                }
                self.partial.extend_from_slice(&bytes[pos..eol]);
                self.owned_line(bytes, &mut borrowed, on_event)?;
            }
            pos = next;
        }

        let rest = &bytes[pos..];
        if self.partial.len() + rest.len() > self.max {
            return Err(self.too_large());
        }
        self.partial.extend_from_slice(rest);
        // The input goes away when we return: keep what the pending event borrowed from it.
        if let Some((start, end)) = borrowed.data {
            self.data.clear();
            self.data.extend_from_slice(&bytes[start..end]);
        }
        if let Some((start, end)) = borrowed.event {
            self.event.clear();
            self.event.extend_from_slice(&bytes[start..end]);
        }
        Ok(())
    }

    /// Handle the line `bytes[start..end]`, borrowing from `bytes` where possible.
    fn input_line<F: FnMut(SseEvent<'_>)>(
        &mut self,
        bytes: &[u8],
        start: usize,
        end: usize,
        borrowed: &mut Borrowed,
        on_event: &mut F,
    ) -> Result<(), SseError> {
        if end - start > self.max {
            return Err(self.too_large());
        }
        match classify(&bytes[start..end]) {
            Line::Blank => self.dispatch(bytes, borrowed, on_event),
            Line::Data(vs, ve) => {
                let range = (start + vs, start + ve);
                self.push_data(bytes, borrowed, &bytes[range.0..range.1], Some(range))?;
            }
            Line::Event(vs, ve) => {
                if vs == ve {
                    borrowed.event = None;
                    self.event.clear();
                } else {
                    borrowed.event = Some((start + vs, start + ve));
                }
            }
            Line::Ignore => {}
        }
        Ok(())
    }

    /// Handle the line accumulated in `self.partial`, then clear it. `bytes` is the current
    /// input, which pieces already borrowed by the pending event point into.
    fn owned_line<F: FnMut(SseEvent<'_>)>(
        &mut self,
        bytes: &[u8],
        borrowed: &mut Borrowed,
        on_event: &mut F,
    ) -> Result<(), SseError> {
        let mut line = std::mem::take(&mut self.partial);
        let result = match classify(&line) {
            Line::Blank => {
                self.dispatch(bytes, borrowed, on_event);
                Ok(())
            }
            Line::Data(vs, ve) => self.push_data(bytes, borrowed, &line[vs..ve], None),
            Line::Event(vs, ve) => {
                borrowed.event = None;
                self.event.clear();
                self.event.extend_from_slice(&line[vs..ve]);
                Ok(())
            }
            Line::Ignore => Ok(()),
        };
        line.clear();
        self.partial = line;
        result
    }

    /// Append one data line's value. `range` is `Some` when `value` is `bytes[range]` and so
    /// may be borrowed instead of copied.
    fn push_data(
        &mut self,
        bytes: &[u8],
        borrowed: &mut Borrowed,
        value: &[u8],
        range: Option<(usize, usize)>,
    ) -> Result<(), SseError> {
        if !self.has_data {
            if value.len() > self.max {
                return Err(self.too_large());
            }
            self.has_data = true;
            self.data.clear();
            match range {
                Some(range) => borrowed.data = Some(range),
                None => self.data.extend_from_slice(value),
            }
            return Ok(());
        }
        let current = match borrowed.data {
            Some((start, end)) => end - start,
            None => self.data.len(),
        };
        if current + 1 + value.len() > self.max {
            return Err(self.too_large());
        }
        if let Some((start, end)) = borrowed.data.take() {
            self.data.clear();
            self.data.extend_from_slice(&bytes[start..end]);
        }
        self.data.push(b'\n');
        self.data.extend_from_slice(value);
        Ok(())
    }

    /// A blank line: hand over the pending event if it has data, then start a new one.
    fn dispatch<F: FnMut(SseEvent<'_>)>(
        &mut self,
        bytes: &[u8],
        borrowed: &mut Borrowed,
        on_event: &mut F,
    ) {
        if self.has_data {
            let data = match borrowed.data {
                Some((start, end)) => &bytes[start..end],
                None => &self.data[..],
            };
            let event = match borrowed.event {
                Some((start, end)) => Some(&bytes[start..end]),
                None if self.event.is_empty() => None,
                None => Some(&self.event[..]),
            };
            on_event(SseEvent { event, data });
        }
        self.has_data = false;
        self.data.clear();
        self.event.clear();
        *borrowed = Borrowed::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    /// An event with owned bytes, for comparisons.
    type Ev = (Option<Vec<u8>>, Vec<u8>);

    fn own(ev: SseEvent<'_>) -> Ev {
        (ev.event.map(<[u8]>::to_vec), ev.data.to_vec())
    }

    fn ev(event: Option<&str>, data: &str) -> Ev {
        (
            event.map(|e| e.as_bytes().to_vec()),
            data.as_bytes().to_vec(),
        )
    }

    /// Feed `chunks` one after the other, then finish. Returns the events and either the
    /// value of `finish` or the first error.
    fn run_chunks(max: usize, chunks: &[&[u8]]) -> (Vec<Ev>, Result<bool, SseError>) {
        let mut parser = SseParser::new(max);
        let mut events = Vec::new();
        for chunk in chunks {
            if let Err(err) = parser.feed(chunk, |e| events.push(own(e))) {
                return (events, Err(err));
            }
        }
        let incomplete = parser.finish(|e| events.push(own(e)));
        (events, Ok(incomplete))
    }

    fn run(chunks: &[&[u8]]) -> (Vec<Ev>, Result<bool, SseError>) {
        run_chunks(1 << 20, chunks)
    }

    /// Split `bytes` at the given cut points (any order, duplicates allowed).
    fn split_at_cuts(bytes: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        cuts.dedup();
        cuts.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
    }

    #[test]
    fn lf_lines() {
        let (events, end) = run(&[b"data: a\n\ndata: b\n\n"]);
        assert_eq!(events, vec![ev(None, "a"), ev(None, "b")]);
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn crlf_lines() {
        let (events, end) = run(&[b"data: a\r\n\r\nevent: x\r\ndata: b\r\n\r\n"]);
        assert_eq!(events, vec![ev(None, "a"), ev(Some("x"), "b")]);
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn lone_cr_lines() {
        let (events, end) = run(&[b"data: a\r\rdata: b\rdata: c\r\r"]);
        assert_eq!(events, vec![ev(None, "a"), ev(None, "b\nc")]);
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn cr_lf_split_across_feeds_is_one_line_end() {
        // If the LF were a second line end it would dispatch "a" early and "b" separately.
        let (events, _) = run(&[b"data: a\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(events, vec![ev(None, "a\nb")]);
        // And a CR at the end of a feed followed by something else is still a line end.
        let (events, _) = run(&[b"data: a\r", b"data: b\r", b"\r"]);
        assert_eq!(events, vec![ev(None, "a\nb")]);
        // An empty feed in between keeps the pending CR.
        let (events, _) = run(&[b"data: a\r", b"", b"\n", b"\r\n"]);
        assert_eq!(events, vec![ev(None, "a")]);
    }

    #[test]
    fn comments_and_keep_alives_are_ignored() {
        let (events, end) = run(&[b": ping\n\n:\ndata: a\n: inside\n\n: ping\n\n"]);
        assert_eq!(events, vec![ev(None, "a")]);
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let (events, _) = run(&[b"data: one\ndata:two\ndata:  three\n\n"]);
        // Only one space after the colon is stripped.
        assert_eq!(events, vec![ev(None, "one\ntwo\n three")]);
    }

    #[test]
    fn event_type_applies_to_one_event() {
        let stream = b"event: error\ndata: {\"error\":\"boom\"}\n\ndata: next\n\n";
        let (events, _) = run(&[stream]);
        assert_eq!(
            events,
            vec![ev(Some("error"), "{\"error\":\"boom\"}"), ev(None, "next")]
        );
        // Last `event:` wins; an empty one means the default type.
        let (events, _) = run(&[b"event: a\nevent: b\ndata: x\n\nevent: a\nevent:\ndata: y\n\n"]);
        assert_eq!(events, vec![ev(Some("b"), "x"), ev(None, "y")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let (events, end) = run(&[b"event: ping\n\nid: 3\nretry: 10\n\n\n\n"]);
        assert!(events.is_empty());
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn empty_data_line_dispatches_empty_data() {
        let (events, _) = run(&[b"data:\n\ndata\n\ndata: \n\ndata:\ndata:\n\n"]);
        assert_eq!(
            events,
            vec![ev(None, ""), ev(None, ""), ev(None, ""), ev(None, "\n")]
        );
    }

    #[test]
    fn field_parsing_edge_cases() {
        // Colons inside the value are kept; unknown and case-mismatched fields are ignored.
        let (events, _) = run(&[b"Data: no\ndata: a: b:c\nfoo: bar\ndata:: x\n\n"]);
        assert_eq!(events, vec![ev(None, "a: b:c\n: x")]);
    }

    #[test]
    fn finish_dispatches_event_without_final_blank_line() {
        let (events, end) = run(&[b"data: a\n\ndata: b\n"]);
        assert_eq!(events, vec![ev(None, "a"), ev(None, "b")]);
        assert_eq!(end, Ok(false), "every line had a terminator");

        let (events, end) = run(&[b"data: a\n\ndata: [DONE]"]);
        assert_eq!(events, vec![ev(None, "a"), ev(None, "[DONE]")]);
        assert_eq!(end, Ok(true), "the last line had no terminator");

        let (events, end) = run(&[b"data: a\n\n: trunc"]);
        assert_eq!(events, vec![ev(None, "a")]);
        assert_eq!(end, Ok(true));

        let (events, end) = run(&[b"data: a\r"]);
        assert_eq!(events, vec![ev(None, "a")]);
        assert_eq!(end, Ok(false));

        let (events, end) = run(&[]);
        assert!(events.is_empty());
        assert_eq!(end, Ok(false));
    }

    #[test]
    fn finish_resets_for_the_next_stream() {
        let mut parser = SseParser::new(1024);
        let mut events = Vec::new();
        parser
            .feed(b"event: x\ndata: a\ndata: b", |e| events.push(own(e)))
            .expect("small input");
        assert!(parser.finish(|e| events.push(own(e))));
        parser
            .feed("\u{feff}data: c\n\n".as_bytes(), |e| events.push(own(e)))
            .expect("small input");
        assert!(!parser.finish(|e| events.push(own(e))));
        assert_eq!(events, vec![ev(Some("x"), "a\nb"), ev(None, "c")]);
    }

    #[test]
    fn split_inside_multibyte_utf8() {
        let stream = "data: h\u{e9}llo \u{2713} \u{1f600}\n\n".as_bytes();
        let whole = run(&[stream]);
        assert_eq!(whole.0, vec![ev(None, "h\u{e9}llo \u{2713} \u{1f600}")]);
        for cut in 0..=stream.len() {
            assert_eq!(
                run(&[&stream[..cut], &stream[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(run(&bytes), whole);
    }

    #[test]
    fn bom_at_stream_start_is_stripped() {
        let (events, _) = run(&["\u{feff}data: a\n\n".as_bytes()]);
        assert_eq!(events, vec![ev(None, "a")]);
        // Split inside the BOM.
        let (events, _) = run(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]);
        assert_eq!(events, vec![ev(None, "a")]);
        // Only one BOM, only at the start: a second one makes the field name unknown.
        let (events, _) = run(&["\u{feff}\u{feff}data: a\n\ndata: b\n\n".as_bytes()]);
        assert_eq!(events, vec![ev(None, "b")]);
        // Bytes that merely start like a BOM are content.
        let (events, end) = run(&[b"\xEF\xBB", b"data: a\n\n"]);
        assert!(events.is_empty());
        assert_eq!(end, Ok(false));
        let (events, end) = run(&[b"\xEF"]);
        assert!(events.is_empty());
        assert_eq!(end, Ok(true));
    }

    #[test]
    fn event_too_large() {
        let limit = 16;
        let err = Err(SseError::EventTooLarge { limit });
        // One long line, whole or split.
        let line = b"data: 0123456789abcdef\n\n";
        assert_eq!(run_chunks(limit, &[line]).1, err);
        assert_eq!(run_chunks(limit, &[&line[..10], &line[10..]]).1, err);
        // A long partial line is rejected before its end arrives.
        let (events, result) = run_chunks(limit, &[b"data: ok\n\n", b": 0123456789abcdefgh"]);
        assert_eq!(events, vec![ev(None, "ok")]);
        assert_eq!(result, err);
        // Short lines whose joined data is too long.
        assert_eq!(
            run_chunks(limit, &[b"data: 01234567\ndata: 01234567\n\n"]).1,
            err
        );
        assert_eq!(
            run_chunks(limit, &[b"data: 01234567\n", b"data: 01234567\n\n"]).1,
            err
        );
        // Exactly at the limit is fine.
        let (events, result) = run_chunks(limit, &[b"data:0123456\ndata:01234567\n\n"]);
        assert_eq!(events, vec![ev(None, "0123456\n01234567")]);
        assert_eq!(result, Ok(false));
        // The error sticks until finish/reset.
        let mut parser = SseParser::new(limit);
        assert!(parser.feed(line, |_| {}).is_err());
        assert!(parser.feed(b"data: a\n\n", |_| {}).is_err());
        assert!(!parser.finish(|_| panic!("nothing to dispatch after an error")));
        let mut events = Vec::new();
        parser
            .feed(b"data: a\n\n", |e| events.push(own(e)))
            .expect("finish cleared the error");
        assert_eq!(events, vec![ev(None, "a")]);
    }

    #[test]
    fn whole_event_in_one_feed_borrows_the_input() {
        let input = b"data: {\"a\":1}\n\n".to_vec();
        let range = input.as_ptr_range();
        let mut parser = SseParser::new(1024);
        let mut seen = 0;
        parser
            .feed(&input, |e| {
                assert!(range.contains(&e.data.as_ptr()), "data was copied");
                seen += 1;
            })
            .expect("small input");
        assert_eq!(seen, 1);
    }

    #[test]
    fn find_eol_matches_naive_search() {
        let mut hay = vec![b'a'; 40];
        assert_eq!(find_eol(&hay, 0), None);
        for at in 0..hay.len() {
            for terminator in [b'\n', b'\r'] {
                hay[at] = terminator;
                for from in 0..=at {
                    assert_eq!(find_eol(&hay, from), Some(at));
                }
                assert_eq!(find_eol(&hay, at + 1), None);
                hay[at] = b'a';
            }
        }
        // Bytes next to the terminators' values must not match, nor high bytes.
        let tricky = [0x0B, 0x0C, 0x0E, 0x8A, 0x8D, 0xFF, 0x00, 0x09, b'\r'];
        assert_eq!(find_eol(&tricky, 0), Some(8));
        assert_eq!(find_eol(&tricky, 9), None);
        assert_eq!(find_eol(&tricky, 10), None);
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sse/").to_owned() + name;
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    /// Realistic streams: every captured fixture plus hand-made ones exercising CRLF, lone
    /// CR, BOM, comments, event types, multi-line data, UTF-8 and a missing final blank line.
    fn streams() -> Vec<Vec<u8>> {
        let mut streams: Vec<Vec<u8>> = [
            "llama-chat-stream.sse",
            "llama-chat-stream-nousage.sse",
            "llama-completions-stream.sse",
            "xpyd-sim-chat-stream.sse",
            "xpyd-sim-completions-stream.sse",
            "guidellm-mock-chat-stream.sse",
            "guidellm-mock-completions-stream.sse",
        ]
        .iter()
        .map(|name| fixture(name))
        .collect();
        let llama = fixture("llama-chat-stream.sse");
        let crlf: Vec<u8> = llama
            .iter()
            .flat_map(|&b| {
                if b == b'\n' {
                    vec![b'\r', b'\n']
                } else {
                    vec![b]
                }
            })
            .collect();
        let cr: Vec<u8> = llama
            .iter()
            .map(|&b| if b == b'\n' { b'\r' } else { b })
            .collect();
        streams.push(crlf);
        streams.push(cr);
        streams.push(
            "\u{feff}: keep-alive\r\n\r\nevent: error\ndata: {\"error\":\r\ndata:  \"\u{1f600} \u{e9}\"}\r\rid: 7\nretry: 100\ndata\n:x\n\n\ndata: [DONE]"
                .as_bytes()
                .to_vec(),
        );
        streams
    }

    #[test]
    fn fixtures_parse_to_expected_event_counts() {
        let counts = [10, 5, 5, 6, 5, 5, 5, 10, 10, 3];
        let streams = streams();
        assert_eq!(streams.len(), counts.len());
        for (i, (stream, count)) in streams.iter().zip(counts).enumerate() {
            let (events, end) = run(&[stream]);
            assert_eq!(events.len(), count, "stream {i}");
            assert_eq!(events.last().map(|e| e.1.as_slice()), Some(&b"[DONE]"[..]));
            // Only the hand-made stream ends without a line terminator.
            assert_eq!(end, Ok(i == counts.len() - 1), "stream {i}");
        }
        let (events, _) = run(&[streams[counts.len() - 1].as_slice()]);
        assert_eq!(
            events,
            vec![
                ev(Some("error"), "{\"error\":\n \"\u{1f600} \u{e9}\"}"),
                ev(None, ""),
                ev(None, "[DONE]"),
            ]
        );
    }

    #[test]
    fn one_byte_chunks_match_whole_feed() {
        for stream in streams() {
            let whole = run(&[&stream]);
            let bytes: Vec<&[u8]> = stream.chunks(1).collect();
            assert_eq!(run(&bytes), whole);
        }
    }

    /// A straightforward, non-incremental reading of the spec, to check the parser against.
    fn reference(stream: &[u8]) -> (Vec<Ev>, bool) {
        let stream = stream.strip_prefix(&BOM[..]).unwrap_or(stream);
        let mut lines = Vec::new();
        let (mut start, mut i) = (0, 0);
        while i < stream.len() {
            match stream[i] {
                b'\n' => {
                    lines.push(&stream[start..i]);
                    i += 1;
                    start = i;
                }
                b'\r' => {
                    lines.push(&stream[start..i]);
                    i += 1;
                    if stream.get(i) == Some(&b'\n') {
                        i += 1;
                    }
                    start = i;
                }
                _ => i += 1,
            }
        }
        let incomplete = start < stream.len();
        if incomplete {
            lines.push(&stream[start..]);
        }
        lines.push(b""); // finish dispatches what is pending
        let mut events = Vec::new();
        let mut data: Option<Vec<u8>> = None;
        let mut event: Vec<u8> = Vec::new();
        for line in lines {
            if line.is_empty() {
                if let Some(d) = data.take() {
                    events.push(((!event.is_empty()).then(|| event.clone()), d));
                }
                event.clear();
                continue;
            }
            if line[0] == b':' {
                continue;
            }
            let (name, mut value) = match line.iter().position(|&b| b == b':') {
                Some(c) => (&line[..c], &line[c + 1..]),
                None => (line, &b""[..]),
            };
            if value.first() == Some(&b' ') {
                value = &value[1..];
            }
            match name {
                b"data" => match data.as_mut() {
                    Some(d) => {
                        d.push(b'\n');
                        d.extend_from_slice(value);
                    }
                    None => data = Some(value.to_vec()),
                },
                b"event" => event = value.to_vec(),
                _ => {}
            }
        }
        (events, incomplete)
    }

    /// Random streams built from line shapes that matter, with random terminators.
    fn arb_stream() -> impl Strategy<Value = Vec<u8>> {
        let line = prop_oneof![
            Just("data: {\"x\":1}"),
            Just("data:y"),
            Just("data:  two spaces"),
            Just("data: a:b"),
            Just("data:"),
            Just("data"),
            Just("data: h\u{e9} \u{1f600}"),
            Just("event: error"),
            Just("event:"),
            Just(": ping"),
            Just(":"),
            Just("id: 1"),
            Just("retry: 5"),
            Just("bogus"),
            Just(""),
            Just(""),
        ];
        let terminator = prop_oneof![Just("\n"), Just("\r\n"), Just("\r")];
        (
            any::<bool>(),
            proptest::collection::vec((line, terminator), 0..24),
            prop_oneof![Just(""), Just("data: tail"), Just(": tail")],
        )
            .prop_map(|(bom, lines, tail)| {
                let mut out = String::new();
                if bom {
                    out.push('\u{feff}');
                }
                for (line, terminator) in lines {
                    out.push_str(line);
                    out.push_str(terminator);
                }
                out.push_str(tail);
                out.into_bytes()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_split_of_real_streams_matches_whole_feed(
            which in any::<Index>(),
            cuts in proptest::collection::vec(any::<Index>(), 0..48),
        ) {
            let streams = streams();
            let stream = which.get(&streams);
            let cuts = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            let chunks = split_at_cuts(stream, cuts);
            prop_assert_eq!(run(&chunks), run(&[stream]));
        }

        #[test]
        fn any_split_of_random_streams_matches_reference(
            stream in arb_stream(),
            cuts in proptest::collection::vec(any::<Index>(), 0..32),
        ) {
            let cuts = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
            let chunks = split_at_cuts(&stream, cuts);
            let (events, end) = run(&chunks);
            let (expected, incomplete) = reference(&stream);
            prop_assert_eq!(events, expected);
            prop_assert_eq!(end, Ok(incomplete));
        }
    }
}
