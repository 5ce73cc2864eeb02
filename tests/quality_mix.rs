//! `[quality] mix`: golden requests mixed into the load on the built-in mock. The arrivals
//! picked, the lines they ask and the scores are computed here from the rule docs/quality.md
//! states (a golden-ratio sequence started from the seed), independently of the runner.

use std::collections::BTreeMap;

/// Golden lines whose outcome on any answer the mock makes is known: `regex "\w"` passes,
/// `contains "zebra-unicorn"` fails, and `cut` (4 tokens asked, the mock answers 8) is cut at
/// its token limit, a miss for its `not_contains` check.
const GOLDEN: &str = r#"{"id": "word", "prompt": "Say something.", "checks": [{"regex": "\\w"}], "class": "easy"}
{"id": "never", "prompt": "The animal?", "checks": [{"contains": "zebra-unicorn"}], "class": "hard"}
{"id": "cut", "prompt": "Talk long.", "checks": [{"not_contains": "zebra-unicorn"}], "max_tokens": 4}
"#;

const IDS: [&str; 3] = ["word", "never", "cut"];

/// The golden line arrival `index` asks under docs/quality.md's rule, or None.
fn golden_line(seed: u64, share: f64, lines: u128, index: u64) -> Option<usize> {
    const ALPHA: u64 = 0x9E37_79B9_7F4A_7C15; // 2^64 / golden ratio
    const SALT: u64 = 0x474F_4C44_454E_4D58; // "GOLDENMX"
                                             // SplitMix64 of the salted seed: the sequence's start.
    let mut z = (seed ^ SALT).wrapping_add(ALPHA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let start = z ^ (z >> 31);
    let u = u128::from(start.wrapping_add(index.wrapping_mul(ALPHA)));
    let below = (share * 2f64.powi(64)).round() as u128;
    (u < below).then(|| (u * lines / below) as usize)
}

/// `llmload run` of a two-model mock scenario with the golden file `golden` and `[quality]`
/// (`load` and `quality` lines added): (exit code, stderr, result JSON, records lines as JSON).
fn run(
    golden: &str,
    mock: &str,
    target: &str,
    load: &str,
    quality: &str,
) -> (
    Option<i32>,
    String,
    serde_json::Value,
    Vec<serde_json::Value>,
) {
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("golden.jsonl"), golden).expect("golden written");
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"mix\"\nseed = 11\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n{target}\n\
             [[models]]\nid = \"small\"\ntarget = \"sim\"\nweight = 3\nmock = {{ {mock} }}\n\
             [[models]]\nid = \"big\"\ntarget = \"sim\"\nmock = {{ {mock} }}\n\
             [workload]\nprompts = [\"hi\"]\nmax_tokens = 32\n\
             [load]\n{load}\n\
             [quality]\ngolden = \"golden.jsonl\"\nbaseline = \"big\"\n{quality}\n"
        ),
    )
    .expect("scenario written");
    let result = dir.path().join("r.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["run", "--quiet", "-o"])
        .arg(&result)
        .arg(&scenario)
        .output()
        .expect("llmload runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = std::fs::read_to_string(&result).unwrap_or_else(|e| panic!("{e}: {err}"));
    let json = serde_json::from_str(&text).expect("the result is JSON");
    let records = std::fs::read_to_string(dir.path().join("r.records.jsonl"))
        .expect("records")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON record"))
        .collect();
    (out.status.code(), err, json, records)
}

mod common;
use common::{num as f, quality_of as model};

const REQUESTS: u64 = 200;
const SHARE: f64 = 0.25;

#[test]
fn a_share_of_the_loads_arrivals_ask_golden_lines_and_are_scored() {
    let (code, err, r, records) = run(
        GOLDEN,
        "output_tokens = 8, ttft = \"2ms\", itl = \"1ms\"",
        "",
        &format!("rate = \"200/s\"\nrequests = {REQUESTS}"),
        &format!("mix = {SHARE}\nanswer_cap_bytes = 64"),
    );
    // 0, or 3 when a loaded machine made the generator lag behind its schedule (an invalid
    // run); either way every arrival is sent and answered.
    assert!(matches!(code, Some(0 | 3)), "{code:?}: {err}");
    assert!(!err.contains("not run in this version"), "{err}");

    // The arrivals the rule picks, and the line each asks.
    let expected: BTreeMap<u64, usize> = (0..REQUESTS)
        .filter_map(|i| golden_line(11, SHARE, 3, i).map(|l| (i, l)))
        .collect();
    let n = expected.len() as u64;
    assert!(n.abs_diff(50) <= 2, "{n} golden arrivals of 200 at 25 %");

    // The records: every arrival once; the golden ones tagged with their line's id, no text.
    assert_eq!(records.len() as u64, REQUESTS);
    let mut tagged: BTreeMap<u64, (String, String)> = BTreeMap::new();
    for rec in &records {
        assert!(
            rec.get("answer").is_none() && rec.get("text").is_none(),
            "{rec}"
        );
        if let Some(id) = rec["golden"].as_str() {
            let i = rec["index"].as_u64().expect("an index");
            let model = rec["model"].as_str().expect("a model").to_string();
            tagged.insert(i, (id.to_string(), model));
            if id == "cut" {
                assert_eq!(rec["output_tokens"], 4, "{rec}");
                assert_eq!(rec["finish_reason"], "length", "{rec}");
            }
        }
    }
    let ids: BTreeMap<u64, String> = tagged.iter().map(|(i, (id, _))| (*i, id.clone())).collect();
    let want: BTreeMap<u64, String> = expected
        .iter()
        .map(|(i, l)| (*i, IDS[*l].to_string()))
        .collect();
    assert_eq!(ids, want);

    // The load counts them: every arrival was sent and answered.
    assert_eq!(r["overall"]["requests"]["sent"], REQUESTS);
    assert_eq!(r["overall"]["requests"]["ok"], REQUESTS);

    let q = &r["quality"];
    assert_eq!((q["mode"].as_str(), f(&q["share"])), (Some("mix"), SHARE));
    let mut answered = 0;
    for label in ["small", "big"] {
        let m = model(&r, label);
        // This model's golden arrivals, by line, from the records' model per index.
        let mut by_line = [0u64; 3];
        for (i, (_, rec_model)) in &tagged {
            if rec_model == label {
                by_line[expected[i]] += 1;
            }
        }
        let total: u64 = by_line.iter().sum();
        answered += total;
        assert_eq!(m["golden_requests"], total, "{label}");
        let o = &m["overall"];
        // "word" passes, "never" fails, "cut" is a miss: score = word / all.
        let score = by_line[0] as f64 / total as f64;
        assert!(
            (f(&o["score"]["value"]) - score).abs() < 1e-12,
            "{label}: {o}"
        );
        assert_eq!(o["n_scored"], by_line[0] + by_line[1], "{label}");
        assert_eq!(o["n_unscorable"], by_line[2], "{label}");
        if by_line[2] > 0 {
            assert_eq!(
                o["unscorable"]["answer cut at its token limit"], by_line[2],
                "{label}"
            );
        }
        // Each answer names the arrival that asked it; kept texts never reach the records.
        let golden = m["golden"].as_array().expect("answers");
        assert_eq!(golden.len() as u64, total);
        for a in golden {
            let i = a["index"].as_u64().expect("an index");
            assert_eq!(a["id"], IDS[expected[&i]], "{a}");
            if let Some(text) = a["answer"].as_str().filter(|t| t.len() >= 12) {
                let quoted = serde_json::to_string(text).expect("a string");
                assert!(
                    records.iter().all(|rec| !rec.to_string().contains(&quoted)),
                    "answer {text:?} found in the records"
                );
            }
        }
    }
    assert_eq!(answered, n);
}

#[test]
fn golden_requests_that_time_out_under_overload_are_misses() {
    // One request at a time in the mock, 20 tokens of 20 ms each: every answer takes over
    // 400 ms, the client gives up at 200 ms. (The two lines without their own `max_tokens`.)
    let two: String = GOLDEN.lines().take(2).map(|l| format!("{l}\n")).collect();
    let (code, err, r, records) = run(
        &two,
        "output_tokens = 20, ttft = \"2ms\", itl = \"20ms\", max_concurrency = 1",
        "timeouts = { total = \"200ms\" }",
        "rate = \"50/s\"\nrequests = 20",
        "mix = 0.5\nkeep_answers = false",
    );
    // Every request failed: nothing measured (exit 4), and the quality section says why.
    assert_eq!(code, Some(4), "{err}");
    let n = (0..20)
        .filter(|&i| golden_line(11, 0.5, 2, i).is_some())
        .count() as u64;
    let golden_records = records.iter().filter(|x| x["golden"].is_string()).count() as u64;
    assert_eq!(golden_records, n);
    let outcomes: Vec<&serde_json::Value> = records.iter().map(|x| &x["outcome"]).collect();
    assert!(
        outcomes.iter().all(|o| *o == "timeout_total"),
        "{outcomes:?}"
    );
    let mut answered = 0;
    for label in ["small", "big"] {
        let o = &model(&r, label)["overall"];
        let k = o["n_unscorable"].as_u64().expect("a count");
        answered += k;
        assert_eq!(o["n_scored"], 0, "{label}: {o}");
        if k > 0 {
            assert_eq!(f(&o["score"]["value"]), 0.0, "{label}: {o}");
            assert_eq!(o["unscorable"]["request failed (timeout_total)"], k, "{o}");
        }
    }
    assert_eq!(answered, n);
    assert_eq!(r["overall"]["requests"]["sent"], 20);
}
