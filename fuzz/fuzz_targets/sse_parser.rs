//! Arbitrary bytes, split into arbitrary pieces, through the incremental SSE parser and the
//! event decoder. No panic; memory stays under the event cap; the events seen do not depend
//! on how the bytes were split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmload::engine::client::sse::{SseError, SseParser};
use llmload::engine::client::wire;

const CAP: usize = 4096;

/// Feeds `bytes` in pieces whose lengths come from `cuts`; returns the events and whether
/// the parser refused an over-long event.
fn parse(bytes: &[u8], cuts: &[u8]) -> (Vec<(Option<Vec<u8>>, Vec<u8>)>, bool) {
    let mut p = SseParser::new(CAP);
    let mut events = Vec::new();
    let mut text = String::new();
    let mut failed = false;
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = match cuts.get(i) {
            Some(&c) => (usize::from(c) % 64 + 1).min(rest.len()),
            None => rest.len(),
        };
        i += 1;
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        match p.feed(piece, |ev| {
            assert!(ev.data.len() <= CAP, "an event beyond the cap was dispatched");
            let _ = wire::decode_stream_event(ev.data, true, &mut text);
            events.push((ev.event.map(<[u8]>::to_vec), ev.data.to_vec()));
        }) {
            Ok(()) => {}
            Err(SseError::EventTooLarge { limit }) => {
                assert_eq!(limit, CAP);
                failed = true;
                break;
            }
        }
    }
    if !failed {
        p.finish(|ev| events.push((ev.event.map(<[u8]>::to_vec), ev.data.to_vec())));
    }
    (events, failed)
}

fuzz_target!(|input: (Vec<u8>, Vec<u8>)| {
    let (bytes, cuts) = input;
    let (whole, whole_failed) = parse(&bytes, &[]);
    let (split, split_failed) = parse(&bytes, &cuts);
    assert_eq!(whole_failed, split_failed, "failing must not depend on the split");
    if !whole_failed {
        assert_eq!(whole, split, "events must not depend on the split");
    }
});
