//! Tool calls in chat: `[workload] tools`/`tool_choice` sent, the mock's tool-call streams
//! timed and counted as output (127.0.0.1 port 0, bounded in requests and time), the tool-call
//! counts and finish reasons on each record and in the result, offline token counts of
//! tool arguments when a server sends no usage, and the settings refused at validation with
//! their file, line, column and field.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

/// Two tools written as TOML tables (after every other `[workload]` key).
const TOOLS: &str = r#"
[[workload.tools]]
type = "function"
function = { name = "get_weather", description = "Weather in a city", parameters = { type = "object", properties = { city = { type = "string" } }, required = ["city"] } }

[[workload.tools]]
type = "function"
function = { name = "search", parameters = { type = "object", properties = {} } }
"#;

const TTFT_MS: f64 = 40.0;
const ITL_MS: f64 = 10.0;
const OUT: u64 = 8;

fn tool_run(choice: &str, stream: bool, share: Option<f64>, requests: u32) -> Run {
    let share = share.map_or(String::new(), |s| format!(", tool_call_share = {s}"));
    let text = scenario(
        &format!("ttft = \"{TTFT_MS}ms\", itl = \"{ITL_MS}ms\", output_tokens = {OUT}{share}"),
        &format!("max_tokens = 32\nstream = {stream}\n{choice}\n{TOOLS}"),
        &format!("concurrency = 2\nrequests = {requests}"),
    );
    run_scenario(&text, &[], &[])
}

fn ms(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

#[test]
fn required_tool_calls_stream_as_timed_output_and_are_counted() {
    const N: u64 = 16;
    let r = tool_run("tool_choice = \"required\"", true, None, N as u32);
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["ok"], N, "{}", r.stdout);
    assert_eq!(m["tool_call_share"], 1.0, "{m}");
    assert_eq!(m["tool_calls_per_request"], 1.0, "{m}");
    assert!(
        r.stdout
            .contains("tools: 100.0 % of answers called a tool, 1.00 tool calls per request"),
        "{}",
        r.stdout
    );
    for rec in &r.records {
        assert_eq!(rec["outcome"], "ok", "{rec}");
        assert_eq!(rec["tool_calls"], 1, "{rec}");
        assert_eq!(rec["finish_reason"], "tool_calls", "{rec}");
        // One argument piece per token, each an output event, counted by the server.
        assert_eq!(rec["output_events"], OUT, "{rec}");
        assert_eq!(rec["output_tokens"], OUT, "{rec}");
        assert_eq!(rec["output_tokens_source"], "usage", "{rec}");
        // The tool call is the answer: its first piece is the first answer token.
        assert_eq!(rec["t_first_us"], rec["t_first_answer_us"], "{rec}");
    }
    // Times as the mock sets them: TTFT 40 ms, 10 ms between pieces (wide upper bounds for
    // a loaded machine, none below the set value).
    let lat = &m["latency_ms"];
    let ttft = ms(&lat["ttft"]["p50"]);
    assert!((TTFT_MS..TTFT_MS + 60.0).contains(&ttft), "ttft {ttft}");
    assert!(ms(&lat["ttft"]["min"]) >= TTFT_MS - 1.0, "{lat}");
    let itl = ms(&lat["itl"]["p50"]);
    assert!((ITL_MS - 1.0..ITL_MS + 20.0).contains(&itl), "itl {itl}");
    let e2e = ms(&lat["e2e"]["p50"]);
    let floor = TTFT_MS + (OUT - 1) as f64 * ITL_MS;
    assert!((floor - 1.0..floor + 100.0).contains(&e2e), "e2e {e2e}");
    assert_eq!(m["tokens"]["output"], N * OUT);
}

#[test]
fn a_whole_response_with_a_named_tool_is_counted() {
    const N: u64 = 6;
    let r = tool_run(
        "tool_choice = { type = \"function\", function = { name = \"search\" } }",
        false,
        None,
        N as u32,
    );
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["ok"], N, "{}", r.stdout);
    assert_eq!(m["tool_calls_per_request"], 1.0, "{m}");
    for rec in &r.records {
        assert_eq!(rec["tool_calls"], 1, "{rec}");
        assert_eq!(rec["finish_reason"], "tool_calls", "{rec}");
        assert_eq!(rec["output_tokens"], OUT, "{rec}");
        assert!(rec["t_first_answer_us"].is_u64(), "{rec}");
    }
}

#[test]
fn auto_calls_in_the_mock_share_and_none_calls_nothing() {
    const N: u64 = 120;
    let r = tool_run("tool_choice = \"auto\"", true, Some(0.5), N as u32);
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert_eq!(m["requests"]["ok"], N, "{}", r.stdout);
    let called = r
        .records
        .iter()
        .filter(|rec| rec.get("tool_calls").is_some())
        .count() as u64;
    // Binomial(120, 0.5): sd ≈ 5.5; about 5 sd either side.
    assert!((32..=88).contains(&called), "{called} of {N} called a tool");
    let share = ms(&m["tool_call_share"]);
    assert!((share - called as f64 / N as f64).abs() < 1e-12, "{share}");
    for rec in &r.records {
        let want = if rec.get("tool_calls").is_some() {
            "tool_calls"
        } else {
            "stop"
        };
        assert_eq!(rec["finish_reason"], want, "{rec}");
        assert_eq!(rec["output_tokens"], OUT, "{rec}");
    }

    let r = tool_run("tool_choice = \"none\"", true, None, 4);
    assert_ok_or_starved(&r);
    let m = model(&r.result, 0);
    assert!(m.get("tool_call_share").is_none(), "{m}");
    for rec in &r.records {
        assert!(rec.get("tool_calls").is_none(), "{rec}");
        assert_eq!(rec["finish_reason"], "stop", "{rec}");
    }
}

fn validate(toml: &str, files: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write_scenario(dir.path(), toml);
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let mut cmd = Command::new(bin());
    cmd.arg("validate").arg(&p);
    let out = output_with_timeout(cmd, Duration::from_secs(30));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout),
    )
}

/// The 1-based line of the `nth` (0-based) line starting with `needle`.
fn line_of(text: &str, needle: &str, nth: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with(needle))
        .nth(nth)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no line starting with {needle}"))
}

#[test]
fn tool_settings_are_checked_with_file_line_column_and_field() {
    let tools = |choice: &str, tools: &str| {
        scenario(
            "ttft = \"1ms\"",
            &format!("max_tokens = 8\n{choice}\n{tools}"),
            "concurrency = 1\nrequests = 1",
        )
    };
    // A valid set validates.
    let (code, out) = validate(&tools("tool_choice = \"required\"", TOOLS), &[]);
    assert_eq!(code, 0, "{out}");

    // Chat only.
    let text = tools("endpoint = \"completions\"", TOOLS);
    let (code, out) = validate(&text, &[]);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&text, "[[workload.tools]]", 0);
    assert!(
        out.contains(&format!(
            "scenario.toml:{line}:12: workload.tools: tools apply to endpoint = \"chat\" only"
        )),
        "{out}"
    );

    // A tool without a function name: the tool's own line.
    let nameless = TOOLS.replace("name = \"search\", ", "");
    let text = tools("", &nameless);
    let (code, out) = validate(&text, &[]);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&text, "[[workload.tools]]", 1);
    assert!(
        out.contains(&format!(
            "scenario.toml:{line}:1: workload.tools[1]: every tool needs"
        )),
        "{out}"
    );

    // A named choice that is not offered.
    let choice = "tool_choice = { type = \"function\", function = { name = \"book\" } }";
    let text = tools(choice, TOOLS);
    let (code, out) = validate(&text, &[]);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&text, "tool_choice", 0);
    assert!(
        out.contains(&format!(
            "scenario.toml:{line}:1: workload.tool_choice: names `book`, which is not one of the tools offered (get_weather, search)"
        )),
        "{out}"
    );

    // A choice that is not one.
    let text = tools("tool_choice = \"always\"", TOOLS);
    let (code, out) = validate(&text, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("workload.tool_choice: `always` is not a tool choice"),
        "{out}"
    );

    // A tools file: read relative to the scenario; not JSON is refused naming it.
    let file = r#"[{"type":"function","function":{"name":"f","parameters":{}}}]"#;
    let text = tools("tools_file = \"tools.json\"\ntool_choice = \"auto\"", "");
    let (code, out) = validate(&text, &[("tools.json", file)]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = validate(&text, &[("tools.json", "[{\"type\":")]);
    assert_eq!(code, 2, "{out}");
    let line = line_of(&text, "tools_file", 0);
    assert!(
        out.contains(&format!("scenario.toml:{line}:1: workload.tools_file: "))
            && out.contains("tools.json: not a JSON array of tools"),
        "{out}"
    );
}

/// A streamed answer of two tool calls and no usage.
fn two_tool_calls() -> String {
    let chunks = [
        r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Paris\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"search","arguments":"{\"query\": "}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"weather in Paris today\"}"}}]},"finish_reason":null}]}"#,
        r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
    ];
    let mut sse = String::new();
    for c in chunks {
        sse.push_str("data: ");
        sse.push_str(c);
        sse.push_str("\n\n");
    }
    sse.push_str("data: [DONE]\n\n");
    sse
}

#[test]
fn tool_arguments_are_counted_offline_when_the_server_sends_no_usage() {
    const N: usize = 2;
    let args = "{\"city\": \"Paris\"}{\"query\": \"weather in Paris today\"}";
    let want = llmload::config::tokens::count(args).expect("o200k_base counts");
    for client in ["lean", "reqwest"] {
        let (port, server) = answering_server(N, two_tool_calls());
        let text = scenario(
            "",
            &format!("max_tokens = 32\n{TOOLS}"),
            "concurrency = 1\nrequests = 2",
        )
        .replace(
            "base_url = \"mock\"",
            &format!("base_url = \"http://127.0.0.1:{port}/v1\"\nclient = \"{client}\""),
        );
        let r = run_scenario(&text, &[], &[]);
        let got = server.join().expect("server");
        assert_eq!(got.len(), N, "{client}: {}", r.stderr);
        // The tools went out in every body, as written.
        for g in &got {
            let v = &g.body;
            assert_eq!(v["tools"][0]["function"]["name"], "get_weather", "{v}");
            assert_eq!(
                v["tools"][1]["function"]["parameters"]["type"], "object",
                "{v}"
            );
            assert!(v.get("tool_choice").is_none(), "{v}");
        }
        assert_eq!(r.records.len(), N, "{client}: {}", r.stdout);
        for rec in &r.records {
            assert_eq!(rec["outcome"], "ok", "{client}: {rec}");
            assert_eq!(rec["tool_calls"], 2, "{rec}");
            assert_eq!(rec["finish_reason"], "tool_calls", "{rec}");
            // The name-only first delta carries no output; the four argument pieces do.
            assert_eq!(rec["output_events"], 3, "{rec}");
            assert_eq!(rec["output_tokens_source"], "tokenizer", "{rec}");
            assert_eq!(rec["output_tokens"], want, "{client}: {rec}");
        }
        let m = model(&r.result, 0);
        assert_eq!(m["tool_calls_per_request"], 2.0, "{m}");
    }
}
