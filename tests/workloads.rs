//! Workloads that look like production: classes, routing, fallback chains, the context-window
//! guard, repeats, multi-turn sessions, trace replay and datasets — each run against the
//! built-in mock on 127.0.0.1 port 0 (bounded in requests and time), or checked at the library
//! level where the property is a pure function of the seed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{assert_ok_or_starved, bin, output_with_timeout, run_scenario, write_scenario};
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A shipped scenario with its `[load]` table replaced by a short one.
fn shipped_with_load(name: &str, load: &str) -> String {
    let text = std::fs::read_to_string(repo().join("scenarios").join(name)).expect("read");
    let start = text.find("\n[load]\n").expect("a [load] table") + 1;
    let end = text[start + 1..]
        .find("\n[")
        .map(|i| start + 1 + i + 1)
        .unwrap_or(text.len());
    format!("{}[load]\n{load}\n{}", &text[..start], &text[end..])
}

fn validate(toml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_scenario(dir.path(), toml);
    let mut cmd = Command::new(bin());
    cmd.arg("validate").arg(&p);
    let out = output_with_timeout(cmd, Duration::from_secs(30));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout),
    )
}

fn by_label<'a>(list: &'a Value, label: &str) -> &'a Value {
    list.as_array()
        .and_then(|a| a.iter().find(|x| x["label"] == label))
        .unwrap_or_else(|| panic!("no entry labelled {label} in {list}"))
}

#[test]
fn every_shipped_scenario_validates() {
    let mut n = 0;
    for dir in ["scenarios", "scenarios/providers"] {
        for e in std::fs::read_dir(repo().join(dir)).expect("read scenarios") {
            let p = e.expect("entry").path();
            if p.extension().is_some_and(|x| x == "toml") {
                let mut cmd = Command::new(bin());
                cmd.arg("validate").arg(&p);
                let out = output_with_timeout(cmd, Duration::from_secs(60));
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{}: {}",
                    p.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
                n += 1;
            }
        }
    }
    assert!(n >= 12, "only {n} scenarios found");
}

#[test]
fn migration_mix_is_18_28_4_of_input_tokens() {
    use llmload::config::workload::{Item, Sampler};
    let plan =
        llmload::config::plan::Plan::load(&repo().join("scenarios/migration.toml")).expect("plan");
    let w = &plan.workload;
    let weights: Vec<f64> = plan.models.iter().map(|m| m.weight).collect();
    let s = Sampler::new(plan.seed, &weights, &w.class_weights, 0.0, None);
    // Input tokens are the prompt plus the class's system prompt.
    let sys: Vec<f64> = w
        .classes
        .iter()
        .map(|c| {
            c.system
                .as_deref()
                .and_then(llmload::config::tokens::count)
                .unwrap_or(0) as f64
        })
        .collect();
    let mut tokens = [0f64; 3];
    for i in 0..200_000 {
        let d = s.draw(i, &w.classes);
        let Item::Synthetic { tokens: n, .. } = d.item else {
            panic!("migration prompts are synthetic")
        };
        tokens[d.class] += n as f64 + sys[d.class];
    }
    let total: f64 = tokens.iter().sum();
    for (c, want) in [(0, 18.0 / 50.0), (1, 28.0 / 50.0), (2, 4.0 / 50.0)] {
        let got = tokens[c] / total;
        assert!(
            (got - want).abs() < 0.01,
            "class {} has {got:.4} of input tokens, want {want:.4}",
            w.classes[c].name
        );
    }
}

#[test]
fn migration_breaks_everything_down_per_class_and_per_model() {
    let toml = shipped_with_load(
        "migration.toml",
        "rate = \"40/s\"\nwarmup = \"500ms\"\nduration = \"4s\"",
    );
    let r = run_scenario(&toml, &[], &[]);
    assert_ok_or_starved(&r);
    let classes = &r.result["classes"];
    assert_eq!(classes.as_array().map(|a| a.len()), Some(3), "{classes}");
    let summ = by_label(classes, "summarization");
    let class = by_label(classes, "classification");
    assert_eq!(summ["model"], "deepseek-ai/DeepSeek-V4-Flash");
    assert_eq!(class["model"], "Qwen/Qwen3-32B");
    assert!(summ["requests"]["ok"].as_u64() > Some(0));
    assert!(class["requests"]["ok"].as_u64() > summ["requests"]["ok"].as_u64());
    // Each class uses one model, so a class's numbers are that model's numbers.
    let flash = r.result["models"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["label"] == "DeepSeek V4 Flash"))
        .expect("flash");
    assert_eq!(flash["requests"], summ["requests"]);
    assert_eq!(flash["tokens"]["output"], summ["tokens"]["output"]);
    // Class costs are summed per request at each model's price and add up to the total.
    let class_cost: f64 = classes
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| c["cost"]["total_usd"].as_f64().unwrap_or(0.0))
        .sum();
    let total = r.result["overall"]["cost"]["total_usd"]
        .as_f64()
        .expect("cost");
    assert!((class_cost - total).abs() < 1e-9, "{class_cost} vs {total}");
    assert!(r
        .records
        .iter()
        .all(|x| x["class"].as_str().is_some_and(|c| !c.is_empty())));
    assert!(r.stdout.contains("by class:"), "{}", r.stdout);
}

const THREE_MODELS: &str = r#"
name = "t"
seed = 3

[[targets]]
name = "sim"
base_url = "mock"
timeouts = { connect = "2s", first_token = "5s", idle = "2s", total = "20s" }

[[models]]
id = "cheap"
target = "sim"
price = { input_per_m = 0.2, output_per_m = 0.8 }
mock = { ttft = "5ms", itl = "1ms", output_tokens = 4 __CHEAP__ }

[[models]]
id = "work"
target = "sim"
price = { input_per_m = 0.3, output_per_m = 1.2 }
mock = { ttft = "5ms", itl = "1ms", output_tokens = 4 __WORK__ }

[[models]]
id = "long"
target = "sim"
price = { input_per_m = 0.55, output_per_m = 2.2 }
__LONG_WINDOW__
mock = { ttft = "5ms", itl = "1ms", output_tokens = 4 __LONG__ }
"#;

fn three_models(cheap: &str, work: &str, long: &str, long_window: &str) -> String {
    THREE_MODELS
        .replace("__CHEAP__", cheap)
        .replace("__WORK__", work)
        .replace("__LONG__", long)
        .replace("__LONG_WINDOW__", long_window)
}

fn routing_scenario(long_window: &str, guard: &str) -> String {
    let huge = "word ".repeat(12_000);
    format!(
        r#"{}
[[routes]]
name = "short"
chars_below = 200
model = "cheap"

[[routes]]
name = "huge"
chars_above = 50000
model = "long"

[[routes]]
name = "default"
model = "work"

[workload]
{guard}
prompts = ["hi there", "{}", "{huge}"]
max_tokens = 8

[load]
concurrency = 4
requests = 60
"#,
        three_models("", "", "", long_window),
        "a medium prompt. ".repeat(30)
    )
}

#[test]
fn routing_rules_pick_the_model_by_prompt_length_and_say_where_they_sent_what() {
    let r = run_scenario(&routing_scenario("", ""), &[], &[]);
    assert_ok_or_starved(&r);
    let routing = r.result["routing"].as_array().expect("routing");
    assert_eq!(
        routing.len(),
        3,
        "no unmatched entry when a default rule exists"
    );
    let mut total = 0;
    for (name, model) in [("short", "cheap"), ("huge", "long"), ("default", "work")] {
        let rt = routing.iter().find(|x| x["name"] == name).expect(name);
        let n = rt["requests"].as_u64().expect("count");
        assert!(n > 0, "rule {name} matched nothing");
        assert_eq!(rt["by_model"][model].as_u64(), Some(n), "{rt}");
        total += n;
        let m = r.result["models"]
            .as_array()
            .and_then(|a| a.iter().find(|m| m["model"] == model))
            .expect("model");
        assert_eq!(m["requests"]["issued"].as_u64(), Some(n));
    }
    assert_eq!(total, 60);
    // The mock counts prompt bytes / 4: each model saw only its size of prompt.
    for rec in &r.records {
        let input = rec["input_tokens"].as_u64().expect("usage");
        match rec["model"].as_str() {
            Some("cheap") => assert!(input < 50, "{rec}"),
            Some("work") => assert!((50..1000).contains(&input), "{rec}"),
            Some("long") => assert!(input > 12_500, "{rec}"),
            other => panic!("unexpected model {other:?}"),
        }
        assert!(rec["route"].is_string());
    }
}

#[test]
fn the_context_guard_counts_and_skips_requests_over_the_window() {
    let r = run_scenario(
        &routing_scenario("context_window = 10_000", "context_guard = \"skip\""),
        &[],
        &[],
    );
    assert_ok_or_starved(&r);
    let huge = r.result["routing"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["name"] == "huge"))
        .expect("huge rule")["requests"]
        .as_u64()
        .expect("n");
    assert!(huge > 0);
    let g = &r.result["context_guard"];
    assert_eq!(g["policy"], "skip");
    assert_eq!(g["skipped"].as_u64(), Some(huge), "{g}");
    assert_eq!(g["over_window"].as_u64(), Some(huge));
    let largest = &g["largest"];
    assert_eq!(largest["model"], "long");
    assert_eq!(largest["context_window"], 10_000);
    assert!(
        largest["prompt_tokens"].as_u64() > Some(10_000),
        "{largest}"
    );
    let long = r.result["models"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["model"] == "long"))
        .expect("long");
    assert_eq!(long["requests"]["skipped"].as_u64(), Some(huge));
    assert_eq!(long["requests"]["sent"].as_u64(), Some(0));
    // Skipped on purpose is not the generator falling short.
    assert!(
        !r.result["validity"]["reasons"]
            .to_string()
            .contains("send rate"),
        "{}",
        r.result["validity"]
    );
    // With `send`, the same requests go out and are only counted.
    let r = run_scenario(&routing_scenario("context_window = 10_000", ""), &[], &[]);
    assert_ok_or_starved(&r);
    let g = &r.result["context_guard"];
    assert_eq!(g["skipped"].as_u64(), Some(0));
    assert!(g["over_window"].as_u64() > Some(0));
    assert!(r
        .records
        .iter()
        .any(|x| x["over_context"] == true && x["outcome"] == "ok"));
}

fn fallback_scenario(p: &str, f: &str, g: &str, with_chain: bool) -> String {
    let chain = if with_chain {
        "[fallback]\nchains = [[\"cheap\", \"work\", \"long\"]]\n"
    } else {
        ""
    };
    format!(
        r#"{}
{chain}
[workload]
prompts = ["Say something."]
max_tokens = 8

[load]
concurrency = 3
requests = 30
"#,
        // Every request starts at the head of the chain.
        three_models(p, f, g, "")
            .replace("id = \"work\"\n", "id = \"work\"\nweight = 0\n")
            .replace("id = \"long\"\n", "id = \"long\"\nweight = 0\n")
    )
}

#[test]
fn fallback_moves_rate_limited_requests_down_the_chain_and_reports_both_views() {
    let r = run_scenario(
        &fallback_scenario(", faults = { rate_limit = 1.0 }", "", "", true),
        &[],
        &[],
    );
    assert_ok_or_starved(&r);
    let m = |id: &str| {
        r.result["models"]
            .as_array()
            .and_then(|a| a.iter().find(|m| m["model"] == id))
            .cloned()
            .expect("model")
    };
    // The attempt view: every first attempt was rate-limited, every second one answered.
    assert_eq!(m("cheap")["requests"]["errors"]["rate_limited"], 30);
    assert_eq!(m("work")["requests"]["ok"], 30);
    assert_eq!(m("long")["requests"]["issued"], 0);
    // The end user's view.
    let f = &r.result["fallback"];
    assert_eq!(f["requests"], 30, "{f}");
    assert_eq!(f["fell_back"], 30);
    assert_eq!(f["fallback_rate"], 1.0);
    assert_eq!(f["failed"], 0);
    assert_eq!(f["fallback_attempts"], 30);
    assert_eq!(f["answered_by"]["work"], 30);
    assert_eq!(f["end_user"]["requests"]["ok"], 30);
    assert_eq!(f["end_user"]["error_rate"], 0.0);
    // Records: the failed attempt, then the answer, which carries the user's scheduled time.
    let mut by_index: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for rec in &r.records {
        by_index
            .entry(rec["index"].as_u64().expect("index"))
            .or_default()
            .push(rec);
    }
    assert_eq!(by_index.len(), 30);
    for (i, recs) in by_index {
        assert_eq!(recs.len(), 2, "arrival {i}: {recs:?}");
        let first = recs.iter().find(|x| x["attempt"].is_null()).expect("first");
        let second = recs.iter().find(|x| x["attempt"] == 1).expect("second");
        assert_eq!(first["fell_back"], true);
        assert_eq!(first["outcome"], "rate_limited");
        assert_eq!(second["outcome"], "ok");
        assert_eq!(second["t_user_sched_us"], first["t_sched_us"]);
        assert!(second["t_sched_us"].as_u64() >= first["t_end_us"].as_u64());
    }
    // The user's latency includes the failed attempt.
    let user_e2e = f["end_user"]["latency_ms"]["e2e_scheduled"]["min"]
        .as_f64()
        .expect("user e2e");
    let attempt_e2e = m("work")["latency_ms"]["e2e"]["min"].as_f64().expect("e2e");
    assert!(user_e2e >= attempt_e2e, "{user_e2e} < {attempt_e2e}");
}

#[test]
fn an_exhausted_chain_fails_the_user_and_no_chain_means_no_retries() {
    let all = ", faults = { rate_limit = 1.0 }";
    let r = run_scenario(&fallback_scenario(all, all, all, true), &[], &[]);
    // No request succeeded: the run measured nothing (exit 4, docs/metrics.md).
    assert_eq!(r.code, 4, "{}", r.stderr);
    let f = &r.result["fallback"];
    assert_eq!(f["requests"], 30);
    assert_eq!(f["failed"], 30);
    assert_eq!(f["fallback_attempts"], 60, "two more attempts per request");
    assert!(f["answered_by"].as_object().is_some_and(|o| o.is_empty()));
    assert_eq!(r.records.len(), 90);
    // Off by default: the same faults without [fallback] give one attempt per request.
    let r = run_scenario(&fallback_scenario(all, "", "", false), &[], &[]);
    assert!(r.result.get("fallback").is_none());
    assert_eq!(r.records.len(), 30);
    assert!(r.records.iter().all(|x| x["attempt"].is_null()));
}

#[test]
fn a_repeat_ratio_repeats_that_share_and_the_result_separates_them() {
    let toml = common::scenario(
        "ttft = \"2ms\", itl = \"1ms\", output_tokens = 4",
        "repeat_ratio = 0.4\nmax_tokens = 4",
        "concurrency = 4\nrequests = 300",
    )
    .replace(
        "prompts = [\"Say something.\", \"Tell me more about load testing.\"]",
        "prompts = { synthetic = { input_tokens = 64 } }",
    );
    let r = run_scenario(&toml, &[], &[]);
    assert_ok_or_starved(&r);
    let repeats = r.records.iter().filter(|x| x["repeat"] == true).count();
    let share = repeats as f64 / 300.0;
    assert!((share - 0.4).abs() < 0.1, "repeat share {share}");
    let cache = &r.result["cache"];
    assert_eq!(
        by_label(cache, "repeat")["requests"]["issued"].as_u64(),
        Some(repeats as u64)
    );
    assert_eq!(
        by_label(cache, "fresh")["requests"]["issued"].as_u64(),
        Some(300 - repeats as u64)
    );
}

#[test]
fn sessions_grow_their_message_list_turn_by_turn() {
    let toml = common::scenario(
        "ttft = \"2ms\", itl = \"1ms\", output_tokens = 20",
        "max_tokens = 20\nsessions = { turns = 3, think_time = \"10ms\" }",
        "concurrency = 2\nrequests = 10",
    );
    let r = run_scenario(&toml, &[], &[]);
    assert_ok_or_starved(&r);
    assert_eq!(r.records.len(), 30, "three turns for each of ten sessions");
    let mut by_index: BTreeMap<u64, Vec<(u64, u64, u64)>> = BTreeMap::new();
    for rec in &r.records {
        by_index
            .entry(rec["index"].as_u64().expect("index"))
            .or_default()
            .push((
                rec["turn"].as_u64().unwrap_or(0),
                rec["input_tokens"].as_u64().expect("usage"),
                rec["t_sched_us"].as_u64().expect("sched"),
            ));
    }
    for (i, mut turns) in by_index {
        turns.sort();
        assert_eq!(turns.iter().map(|t| t.0).collect::<Vec<_>>(), [0, 1, 2]);
        for w in turns.windows(2) {
            // Each turn carries the previous question and its 20-token answer on top.
            assert!(w[1].1 > w[0].1 + 10, "session {i}: {turns:?}");
            assert!(w[1].2 > w[0].2, "turns follow each other");
        }
    }
    let turns = r.result["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 3);
    for (k, t) in turns.iter().enumerate() {
        assert_eq!(t["label"], format!("turn {}", k + 1));
        assert_eq!(t["requests"]["ok"], 10);
        assert!(t["latency_ms"]["ttft"]["count"].as_u64() == Some(10));
    }
    // Ten sessions were offered; later turns are requests but not arrivals.
    assert_eq!(r.result["load"]["arrivals_in_window"], 10);
}

#[test]
fn a_trace_replays_at_its_own_scaled_timing_with_its_lengths_and_models() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trace = dir.path().join("t.jsonl");
    let mut lines = String::new();
    let offsets_ms = [0u64, 40, 45, 300, 310, 320, 900, 905, 1200, 1600];
    for (i, t) in offsets_ms.iter().enumerate() {
        let model = if i % 3 == 0 {
            ", \"model\": \"work\""
        } else {
            ""
        };
        lines.push_str(&format!(
            "{{\"timestamp\": {}, \"input_length\": {}, \"output_length\": {}{model}}}\n",
            1_700_000_000.0 + *t as f64 / 1e3,
            100 + i * 10,
            3 + i
        ));
    }
    std::fs::write(&trace, lines).expect("write trace");
    let toml = format!(
        r#"{}
[workload]

[load]
trace = "{}"
time_scale = 0.5
"#,
        three_models("", "", "", "").replace(
            "output_tokens = 4",
            "output_tokens = { dist = \"fixed\", value = 100 }"
        ),
        trace.display()
    );
    // The mock honours max_tokens below its configured length.
    let r = run_scenario(&toml, &[], &[]);
    assert_ok_or_starved(&r);
    assert_eq!(r.records.len(), offsets_ms.len());
    for rec in &r.records {
        let i = rec["index"].as_u64().expect("index") as usize;
        let want_us = offsets_ms[i] * 1000 / 2;
        let got = rec["t_sched_us"].as_u64().expect("sched");
        assert!(
            got.abs_diff(want_us) <= 1,
            "arrival {i}: {got} vs {want_us}"
        );
        assert_eq!(rec["output_tokens"].as_u64(), Some(3 + i as u64), "{rec}");
        if i % 3 == 0 {
            assert_eq!(rec["model"], "work");
        }
    }
    assert_eq!(r.result["load"]["mode"], "trace");
}

#[tokio::test(start_paused = true)]
async fn trace_offsets_drive_the_pacer_on_paused_time() {
    use llmload::config::plan::{Plan, Shape};
    let plan = Plan::load(&repo().join("scenarios/trace.toml")).expect("plan");
    let Shape::Trace(t) = &plan.load.shape else {
        panic!("trace shape")
    };
    assert_eq!(t.time_scale, 0.5);
    let raw = llmload::config::datasets::load_trace(&repo().join("scenarios/traces/sample.jsonl"))
        .expect("trace");
    assert_eq!(raw.len(), t.entries.len());
    let start = tokio::time::Instant::now();
    let mut pacer = llmload::config::schedule::Pacer::new(
        start,
        t.entries.iter().enumerate().map(|(i, e)| (i as u64, e.t)),
    );
    let mut n = 0;
    while let Some(tick) = pacer.next().await {
        let want = raw[tick.index as usize].t.mul_f64(0.5);
        assert_eq!(tick.intended - start, want);
        // On paused time the pacer wakes at the intended instant (tokio's timer wheel rounds
        // a deadline up to its next millisecond).
        let late = tokio::time::Instant::now() - tick.intended;
        assert!(late < Duration::from_millis(1), "woke {late:?} late");
        n += 1;
    }
    assert_eq!(n, raw.len());
}

#[test]
fn bad_workloads_are_refused_at_validate_with_the_field() {
    let base = routing_scenario("", "");
    let cases: Vec<(String, &str)> = vec![
        (
            base.replace("model = \"cheap\"", "model = \"nope\""),
            "routes[0].model",
        ),
        (
            base.replace("chars_below = 200", "chars_below = 200\nchars_above = 500"),
            "routes[0].chars_below",
        ),
        (
            base.replace(
                "[[routes]]\nname = \"huge\"",
                "[[routes]]\nname = \"all\"\nmodel = \"work\"\n\n[[routes]]\nname = \"huge\"",
            ),
            "can never match",
        ),
        (
            fallback_scenario("", "", "", true).replace("\"work\", \"long\"]", "\"ghost\"]"),
            "fallback.chains[0][1]",
        ),
        (
            fallback_scenario("", "", "", true)
                .replace("[fallback]\n", "[fallback]\non = [\"teapot\"]\n"),
            "fallback.on[0]",
        ),
        (
            three_models("", "", "", "")
                + r#"
[workload]
[[workload.classes]]
name = "a"
weight = 0
prompts = ["x"]

[[workload.classes]]
name = "b"
weight = 0
prompts = ["y"]

[load]
concurrency = 1
requests = 1
"#,
            "sum to 0",
        ),
        (
            three_models("", "", "", "")
                + "[workload]\nprompts = { sharegpt = \"/nonexistent/sg.json\" }\n[load]\nconcurrency = 1\nrequests = 1\n",
            "workload.prompts.sharegpt",
        ),
        (
            three_models("", "", "", "")
                + "[workload]\n[load]\ntrace = \"/nonexistent/t.jsonl\"\n",
            "load.trace",
        ),
    ];
    for (toml, want) in cases {
        let (code, out) = validate(&toml);
        assert_eq!(code, 2, "expected exit 2 for {want}:\n{out}");
        assert!(out.contains(want), "expected `{want}` in:\n{out}");
        assert!(
            out.contains("scenario.toml:"),
            "no file location in:\n{out}"
        );
    }
}

#[test]
fn a_broken_dataset_line_is_named_with_its_line_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sg = dir.path().join("sg.json");
    std::fs::write(
        &sg,
        "[\n {\"conversations\": [{\"from\": \"human\", \"value\": \"hi\"}]},\n {\"conversations\": [{\"from\": \"human\", \"value\": oops}]}\n]\n",
    )
    .expect("write");
    let toml = three_models("", "", "", "")
        + &format!(
            "[workload]\nprompts = {{ sharegpt = \"{}\" }}\n[load]\nconcurrency = 1\nrequests = 1\n",
            sg.display()
        );
    let (code, out) = validate(&toml);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("sg.json:3"), "{out}");
    let jl = dir.path().join("p.jsonl");
    std::fs::write(&jl, "\"fine\"\n{\"prompt\": 5}\n").expect("write");
    let toml = three_models("", "", "", "")
        + &format!(
            "[workload]\nprompts = {{ file = \"{}\" }}\n[load]\nconcurrency = 1\nrequests = 1\n",
            jl.display()
        );
    let (code, out) = validate(&toml);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("p.jsonl:2"), "{out}");
}

#[test]
fn sharegpt_prompts_are_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sg = dir.path().join("sg.json");
    std::fs::copy(repo().join("scenarios/prompts/sharegpt-sample.json"), &sg).expect("copy");
    let toml = common::scenario(
        "ttft = \"2ms\", itl = \"1ms\", output_tokens = 4",
        "",
        "concurrency = 2\nrequests = 20",
    )
    .replace(
        "prompts = [\"Say something.\", \"Tell me more about load testing.\"]",
        &format!("prompts = {{ sharegpt = \"{}\" }}", sg.display()),
    );
    let r = run_scenario(&toml, &[], &[]);
    assert_ok_or_starved(&r);
    assert_eq!(r.result["overall"]["requests"]["ok"], 20);
    // Prompts differ in length, so the server saw several different inputs.
    let sizes: std::collections::BTreeSet<u64> = r
        .records
        .iter()
        .filter_map(|x| x["input_tokens"].as_u64())
        .collect();
    assert!(sizes.len() >= 3, "{sizes:?}");
}

#[test]
fn models_without_a_price_take_the_catalogs_and_a_scenario_price_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prices = dir.path().join("prices.toml");
    std::fs::write(
        &prices,
        "[[model]]\nid = \"acme/cheap-1\"\ninput_per_m = 0.1\noutput_per_m = 0.4\ncontext_window = 8000\n",
    )
    .expect("write prices");
    let toml = format!(
        r#"
name = "catalog"
seed = 1
prices = "{}"

[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "deepseek-ai/DeepSeek-V4-Flash"
target = "sim"
mock = {{ ttft = "2ms", itl = "1ms", output_tokens = 4 }}

[[models]]
id = "Qwen/Qwen3-32B"
target = "sim"
price = {{ input_per_m = 9.0, output_per_m = 9.0 }}
mock = {{ ttft = "2ms", itl = "1ms", output_tokens = 4 }}

[[models]]
id = "acme/cheap-1"
target = "sim"
mock = {{ ttft = "2ms", itl = "1ms", output_tokens = 4 }}

[workload]
prompts = ["hello"]
max_tokens = 4

[load]
concurrency = 3
requests = 12
"#,
        prices.display()
    );
    let r = run_scenario(&toml, &[], &[]);
    assert_ok_or_starved(&r);
    let price = |i: usize| r.result["models"][i]["cost"]["price"].clone();
    assert_eq!(price(0)["input_per_m"], 0.27, "catalog price by id");
    assert_eq!(price(0)["output_per_m"], 1.10);
    assert_eq!(
        price(1)["input_per_m"],
        9.0,
        "the scenario's own price wins"
    );
    assert_eq!(price(2)["output_per_m"], 0.4, "the scenario's price file");
    assert!(
        r.result["context_guard"].is_object(),
        "catalog windows apply"
    );
}
