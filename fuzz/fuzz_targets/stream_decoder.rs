//! Arbitrary bytes as one SSE data payload and as a whole non-streamed body: a typed error
//! or a value, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmload::engine::client::wire;

fuzz_target!(|data: &[u8]| {
    let mut text = String::new();
    let before = text.len();
    if wire::decode_stream_event(data, true, &mut text).is_err() {
        assert_eq!(text.len(), before, "a failed decode appends no text");
    }
    let _ = wire::decode_full_response(data, &mut text);
});
