//! Bad input never panics: arbitrary text into the scenario and claims loaders and arbitrary
//! bytes into the SSE parser and chunk decoder give a typed error or a value (bounded proptest
//! runs; coverage-guided fuzzing with cargo-fuzz is in fuzz/, see docs/hardening.md).

mod common;

use llmload::config::plan::Plan;
use llmload::config::scenario::Source;
use llmload::engine::client::{sse::SseParser, wire};
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
        let _ = llmload::analysis::gate::claims::parse(std::path::Path::new("c.toml"), &text);
        let _ = llmload::analysis::gate::claims::parse_expr(&text);
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

    #[test]
    fn sse_events_and_failures_do_not_depend_on_the_split(
        bytes in proptest::collection::vec(prop_oneof![
            4 => any::<u8>(),
            2 => Just(b'\n'),
            1 => Just(b'\r'),
            1 => Just(b':'),
        ], 0..1024),
        cuts in proptest::collection::vec(1usize..40, 0..64),
    ) {
        prop_assert_eq!(parse_split(&bytes, &[]), parse_split(&bytes, &cuts));
    }

    #[test]
    fn sse_lines_of_the_data_kind_survive_any_split(
        lines in proptest::collection::vec("(data|event|id|:)?[: ]?[ -~]{0,40}", 0..20),
        ends in proptest::collection::vec(prop_oneof![Just("\n"), Just("\r\n"), Just("\r"), Just("\n\n")], 20),
        cuts in proptest::collection::vec(1usize..16, 0..64),
    ) {
        let mut bytes = Vec::new();
        for (l, e) in lines.iter().zip(ends.iter()) {
            bytes.extend_from_slice(l.as_bytes());
            bytes.extend_from_slice(e.as_bytes());
        }
        prop_assert_eq!(parse_split(&bytes, &[]), parse_split(&bytes, &cuts));
    }
}

type Parsed = (Vec<(Option<Vec<u8>>, Vec<u8>)>, bool);

/// Feeds `bytes` in pieces of the lengths in `cuts` (the rest in one piece) to a parser with
/// a 256-byte cap; returns the events and whether it refused an over-long event.
fn parse_split(bytes: &[u8], cuts: &[usize]) -> Parsed {
    const CAP: usize = 256;
    let mut p = SseParser::new(CAP);
    let mut events = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = cuts.get(i).copied().unwrap_or(rest.len()).min(rest.len());
        i += 1;
        let (piece, tail) = rest.split_at(n);
        rest = tail;
        let fed = p.feed(piece, |ev| {
            assert!(ev.data.len() <= CAP, "an event beyond the cap");
            events.push((ev.event.map(<[u8]>::to_vec), ev.data.to_vec()));
        });
        if fed.is_err() {
            return (events, true);
        }
    }
    p.finish(|ev| events.push((ev.event.map(<[u8]>::to_vec), ev.data.to_vec())));
    (events, false)
}

#[test]
fn the_valid_seed_file_is_valid() {
    let src = Source {
        path: "fuzz.toml".into(),
        text: VALID.to_string(),
    };
    Plan::build(&src, src.parse().expect("parses")).expect("valid");
}

/// `--threads 0` used to run on one worker while recording `worker_threads: 0`, which turned the
/// generator-CPU validity check off; every command that takes `--threads` now refuses it before
/// sending anything.
#[test]
fn zero_threads_is_refused_by_every_command_that_takes_it() {
    let scenario =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let scenario = scenario.to_str().expect("utf-8 path");
    for args in [
        vec!["run", scenario, "--threads", "0"],
        vec!["sweep", scenario, "--threads", "0"],
        vec!["calibrate", "--threads", "0"],
        vec!["run", scenario, "--threads", "two"],
    ] {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(&args);
        let out = common::output_with_timeout(cmd, std::time::Duration::from_secs(30));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--threads") && err.contains("at least 1"),
            "{args:?}: {err}"
        );
    }
}
