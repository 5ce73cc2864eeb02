//! Bad input never panics: arbitrary text into the scenario and claims loaders and arbitrary
//! bytes into the SSE parser and chunk decoder give a typed error or a value (bounded proptest
//! runs; coverage-guided fuzzing would need a nightly toolchain this machine does not have).

use llmload::client::{sse::SseParser, wire};
use llmload::plan::Plan;
use llmload::scenario::Source;
use proptest::prelude::*;

const VALID: &str = r#"
name = "p"
[[targets]]
name = "sim"
base_url = "mock"
[[models]]
id = "m"
target = "sim"
weight = 2
mock = { ttft = "5ms", itl = { dist = "normal", mean = "2ms", stddev = "1ms" }, faults = { stall = 0.1 } }
[workload]
prompts = ["a", "b"]
max_tokens = { dist = "lognormal", mean = 100, stddev = 20, min = 1, max = 300 }
[load]
arrival = "gamma"
burstiness = 0.5
stages = [{ duration = "1s", rate = "1/s", rate_to = "9/s" }]
[slo]
ttft = "1s"
"#;

fn load(text: &str) {
    let src = Source {
        path: "fuzz.toml".into(),
        text: text.to_string(),
    };
    if let Ok(f) = src.parse() {
        // Either a plan or located problems; both are fine, a panic is not.
        if let Err(e) = Plan::build(&src, f) {
            assert!(e.to_string().contains("fuzz.toml:"), "{e}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn scenario_loader_survives_arbitrary_text(text in "\\PC{0,400}") {
        load(&text);
    }

    #[test]
    fn scenario_loader_survives_mutations_of_a_valid_file(cut in 0usize..VALID.len(), insert in "[ -~]{0,12}") {
        let mut s = VALID.to_string();
        let at = (0..=cut).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.insert_str(at, &insert);
        load(&s);
        load(&VALID[..at]);
    }

    #[test]
    fn claims_loader_survives_arbitrary_text(text in "\\PC{0,300}") {
        let _ = llmload::gate::claims::parse(std::path::Path::new("c.toml"), &text);
        let _ = llmload::gate::claims::parse_expr(&text);
    }

    #[test]
    fn sse_parser_and_decoder_survive_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in 0usize..2048) {
        let mut p = SseParser::new(512);
        let mut text = String::new();
        let split = cut.min(bytes.len());
        for part in [&bytes[..split], &bytes[split..]] {
            let _ = p.feed(part, |ev| {
                let _ = wire::decode_stream_event(ev.data, true, &mut text);
            });
        }
        p.finish(|ev| {
            let _ = wire::decode_stream_event(ev.data, true, &mut text);
        });
        let _ = wire::decode_full_response(&bytes, &mut text);
    }
}

#[test]
fn the_valid_seed_file_is_valid() {
    let src = Source {
        path: "fuzz.toml".into(),
        text: VALID.to_string(),
    };
    Plan::build(&src, src.parse().expect("parses")).expect("valid");
}
