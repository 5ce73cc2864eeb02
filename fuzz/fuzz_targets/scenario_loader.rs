//! Arbitrary text through the scenario parser and the plan builder (every semantic rule):
//! a plan or a typed error that names the file, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmload::config::plan::Plan;
use llmload::config::scenario::Source;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let src = Source {
        path: "fuzz.toml".into(),
        text: text.to_string(),
    };
    match src.parse() {
        Ok(file) => {
            if let Err(e) = Plan::build(&src, file) {
                assert!(e.to_string().contains("fuzz.toml:"), "{e}");
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
    }
});
