//! Arbitrary bytes as a server's whole answer to the lean client, arriving in pieces of a
//! size the first byte chooses: a typed error or a status and body, never a panic or a hang,
//! and (below the reader's size limits) the same answer however the bytes are split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmload::engine::client::lean::read_response_from;

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first) + 1;
    let split = read_response_from(input, piece);
    if let Ok((_, body)) = &split {
        assert!(body.len() <= input.len(), "the body comes from the input");
    }
    // Under 1 KiB no size limit (chunk-size line, trailers, head) can be reached, so the split
    // cannot change the outcome.
    if input.len() < 1024 {
        let whole = read_response_from(input, input.len());
        match (&split, &whole) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.kind, b.kind),
            _ => panic!("split {split:?} vs whole {whole:?}"),
        }
    }
});
