//! Arbitrary text through the claims file parser and the claim expression parser: a value
//! or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = llmload::analysis::gate::claims::parse(std::path::Path::new("claims.toml"), text);
    let _ = llmload::analysis::gate::claims::parse_expr(text);
});
