//! `[quality] judge`: each golden answer is graded by a judge model on a server of the test's
//! own, which answers `SCORE: n` to some prompts and text without a score to others; the
//! grades, the retry, the unscored answers with their reply kept, and the judge's tokens and
//! cost are checked against what the server did.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::num;

/// Usage the judge server reports on every reply.
const PROMPT_TOKENS: u64 = 100;
const COMPLETION_TOKENS: u64 = 7;

/// A chat-completions server on 127.0.0.1 (port 0) answering each request with
/// `reply(prompt)` (the last message's content) and the usage above, until `stop` is set or
/// 60 s pass. Returns the port, the request counter and the thread (its prompts once joined).
fn judge_server(
    reply: fn(&str) -> String,
) -> (
    u16,
    Arc<AtomicUsize>,
    Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<Vec<String>>,
) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    l.set_nonblocking(true).expect("nonblocking");
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (c, s) = (count.clone(), stop.clone());
    let h = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let prompts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut conns = Vec::new();
        while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
            let Ok((sock, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let (c, p) = (c.clone(), prompts.clone());
            conns.push(std::thread::spawn(move || serve(sock, reply, &c, &p)));
        }
        for t in conns {
            let _ = t.join();
        }
        let got = prompts.lock().map(|p| p.clone()).unwrap_or_default();
        got
    });
    (port, count, stop, h)
}

/// Answers the requests of one keep-alive connection (at most 100, each read within 5 s).
fn serve(
    sock: std::net::TcpStream,
    reply: fn(&str) -> String,
    count: &AtomicUsize,
    prompts: &std::sync::Mutex<Vec<String>>,
) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    let mut r = BufReader::new(&sock);
    for _ in 0..100 {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let Some(body) = common::read_body(&mut r) else {
            break;
        };
        count.fetch_add(1, Ordering::SeqCst);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let prompt = v["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_string();
        let answer = serde_json::json!({
            "id": "j", "object": "chat.completion", "model": v["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": reply(&prompt)}}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}
        })
        .to_string();
        if let Ok(mut p) = prompts.lock() {
            p.push(prompt);
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        let mut w = &sock;
        if w.write_all(head.as_bytes()).is_err() || w.write_all(answer.as_bytes()).is_err() {
            break;
        }
    }
}

/// The judge's reply by golden question: ALPHA 4, BRAVO never a score, CHARLIE a score only
/// when asked again, DELTA 5.
fn grade(prompt: &str) -> String {
    let again = prompt.contains("previous reply");
    if prompt.contains("ALPHA") {
        "Mostly right.\nSCORE: 4".into()
    } else if prompt.contains("BRAVO") {
        "I think it is good.".into()
    } else if prompt.contains("CHARLIE") && !again {
        "Score: four out of five".into()
    } else if prompt.contains("CHARLIE") {
        "SCORE: 2".into()
    } else {
        "SCORE: 5".into()
    }
}

const GOLDEN: &str = r#"{"id": "a", "prompt": "ALPHA: say a word.", "checks": [{"regex": "\\w"}], "class": "x"}
{"id": "b", "prompt": "BRAVO: say a word.", "checks": [{"regex": "\\w"}], "class": "x"}
{"id": "c", "prompt": "CHARLIE: say a word.", "checks": [{"regex": "\\w"}], "class": "y"}
{"id": "d", "prompt": "DELTA: say a word.", "reference": "a word"}
"#;

/// Runs a scenario of two mock models with the judge `judge-x` on the test's server, priced by
/// a price file; returns (exit code, stderr, stdout, result JSON, judge requests, prompts).
fn run_judged() -> (
    Option<i32>,
    String,
    String,
    serde_json::Value,
    usize,
    Vec<String>,
) {
    run_judged_with("", 2)
}

/// [`run_judged`] with more `[quality]` keys and a load of `requests`.
fn run_judged_with(
    quality: &str,
    requests: u32,
) -> (
    Option<i32>,
    String,
    String,
    serde_json::Value,
    usize,
    Vec<String>,
) {
    let (port, count, stop, h) = judge_server(grade);
    let dir = tempfile::tempdir().expect("a temp dir");
    std::fs::write(dir.path().join("golden.jsonl"), GOLDEN).expect("golden written");
    std::fs::write(
        dir.path().join("prices.toml"),
        "[[model]]\nid = \"judge-x\"\ninput_per_m = 2.5\noutput_per_m = 10.0\n",
    )
    .expect("prices written");
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"j\"\nseed = 3\nprices = \"prices.toml\"\n\
             [[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[targets]]\nname = \"judgehost\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n\
             [[models]]\nid = \"m1\"\ntarget = \"sim\"\nmock = {{ output_tokens = 6, ttft = \"1ms\", itl = \"1ms\" }}\n\
             [[models]]\nid = \"m2\"\ntarget = \"sim\"\nmock = {{ output_tokens = 6, ttft = \"1ms\", itl = \"1ms\" }}\n\
             [workload]\nprompts = [\"hi\"]\nmax_tokens = 16\nstream = false\n\
             [load]\nconcurrency = 1\nrequests = {requests}\n\
             [quality]\ngolden = \"golden.jsonl\"\nanswer_cap_bytes = 12\n{quality}\n\
             judge = {{ model = \"judge-x\", target = \"judgehost\", rubric = \"Says a word.\" }}\n"
        ),
    )
    .expect("scenario written");
    let result = dir.path().join("r.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["run", "-o"])
        .arg(&result)
        .arg(&scenario)
        .output()
        .expect("llmload runs");
    stop.store(true, Ordering::SeqCst);
    let prompts = h.join().expect("server thread");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = std::fs::read_to_string(&result).unwrap_or_else(|e| panic!("{e}: {err}"));
    let json = serde_json::from_str(&text).expect("the result is JSON");
    (
        out.status.code(),
        err,
        stdout,
        json,
        count.load(Ordering::SeqCst),
        prompts,
    )
}

#[test]
fn the_judge_grades_every_answer_retries_once_and_counts_its_calls() {
    let (code, err, stdout, r, requests, prompts) = run_judged();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("judge") || !err.contains("not run"), "{err}");
    // Per model: ALPHA 1 request, BRAVO 2 (no score twice), CHARLIE 2 (a score when asked
    // again), DELTA 1: 6; two models: 12.
    assert_eq!(requests, 12, "{prompts:#?}");
    assert_eq!(prompts.len(), 12);
    let retries = prompts
        .iter()
        .filter(|p| p.contains("previous reply"))
        .count();
    assert_eq!(retries, 4);
    assert!(prompts.iter().all(|p| p.contains("Rubric:\nSays a word.")));
    // DELTA's reference goes to the judge.
    assert!(prompts
        .iter()
        .filter(|p| p.contains("DELTA"))
        .all(|p| p.contains("Reference answer:\na word")));

    let j = &r["quality"]["judge"];
    assert_eq!(
        (j["model"].as_str(), j["target"].as_str()),
        (Some("judge-x"), Some("judgehost"))
    );
    let c = &j["calls"];
    assert_eq!(c["requests"], 12);
    assert_eq!(c["failed"], 0);
    assert_eq!(c["input_tokens"], 12 * PROMPT_TOKENS);
    assert_eq!(c["output_tokens"], 12 * COMPLETION_TOKENS);
    // At 2.5 and 10 USD per million tokens.
    let cost = (12.0 * PROMPT_TOKENS as f64 * 2.5 + 12.0 * COMPLETION_TOKENS as f64 * 10.0) / 1e6;
    assert!((num(&c["cost_usd"]) - cost).abs() < 1e-15, "{c}");

    for (i, label) in ["m1", "m2"].iter().enumerate() {
        let m = &j["models"][i];
        assert_eq!(m["model"], *label);
        let o = &m["overall"];
        assert_eq!(
            (o["n_judged"].as_u64(), o["n_unscored"].as_u64()),
            (Some(3), Some(1))
        );
        // Grades 4, 2, 5 → 0.75, 0.25, 1: mean 2/3.
        let s = &o["score"];
        assert!((num(&s["value"]) - 2.0 / 3.0).abs() < 1e-12, "{s}");
        assert!(
            num(&s["low"]) <= 2.0 / 3.0 && 2.0 / 3.0 <= num(&s["high"]),
            "{s}"
        );
        assert_eq!(s["method"], "bootstrap");
        // Class x: ALPHA judged (0.75), BRAVO unscored; class y: CHARLIE (0.25).
        let x = &m["classes"]["x"];
        assert_eq!(
            (x["n_judged"].as_u64(), x["n_unscored"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(num(&x["score"]["value"]), 0.75);
        assert_eq!(num(&m["classes"]["y"]["score"]["value"]), 0.25);

        // Per answer: the grade, or why not with the judge's reply kept (cut to 12 bytes).
        let golden = r["quality"]["models"][i]["golden"]
            .as_array()
            .expect("answers");
        let by = |id: &str| golden.iter().find(|a| a["id"] == id).expect("the answer");
        assert_eq!(
            (
                by("a")["judge_grade"].as_u64(),
                num(&by("a")["judge_score"])
            ),
            (Some(4), 0.75)
        );
        assert_eq!(by("c")["judge_grade"], 2);
        assert!(by("c").get("judge_reply").is_none());
        let b = by("b");
        assert!(b.get("judge_grade").is_none(), "{b}");
        assert_eq!(
            b["judge_unscored"],
            "no `SCORE: <1..5>` last line in the judge's reply"
        );
        assert_eq!(b["judge_reply"], "I think it i");
    }

    // The summary has the judge's lines.
    assert!(stdout.contains("judge judge-x on judgehost"), "{stdout}");
    assert!(stdout.contains("m1: judge score 0.667 ["), "{stdout}");
    assert!(stdout.contains("3 judged, 1 unscored"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "judge calls: 12 requests (0 failed), 1200 input + 84 output tokens, ${cost:.6}"
        )),
        "{stdout}"
    );
    // Judge calls are not part of the load.
    assert_eq!(r["overall"]["requests"]["sent"], 2);

    // `compare` puts the judge's score in the quality table, beside the checks' score, with
    // its interval from the result.
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("judged.json");
    std::fs::write(&file, r.to_string()).expect("result written");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .arg("compare")
        .arg(&file)
        .output()
        .expect("llmload compare runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("judge score"))
        .unwrap_or_else(|| panic!("no judge score row in {text}"));
    for m in j["models"].as_array().expect("judged models") {
        let s = &m["overall"]["score"];
        let cell = format!(
            "{:.3} [{:.3}, {:.3}]",
            num(&s["value"]),
            num(&s["low"]),
            num(&s["high"])
        );
        assert!(row.contains(&cell), "{cell} not in {row}");
    }

    // `check` gates on the judge's score by its interval: a limit below the interval's low end
    // passes, one above its high end fails, one inside it is inconclusive.
    let s = &j["models"][0]["overall"]["score"];
    let (low, high) = (num(&s["low"]), num(&s["high"]));
    let claims = dir.path().join("claims.toml");
    std::fs::write(
        &claims,
        format!(
            "[[claims]]\nname = \"below\"\nexpr = \"quality.judge >= {:.4}\"\nmodel = \"m1\"\n\
             [[claims]]\nname = \"above\"\nexpr = \"quality.judge >= {:.4}\"\nmodel = \"m1\"\n\
             [[claims]]\nname = \"inside\"\nexpr = \"quality.judge >= {:.4}\"\nmodel = \"m1\"\nseverity = \"warn\"\n",
            low - 0.01,
            high + 0.01,
            (low + high) / 2.0
        ),
    )
    .expect("claims written");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .arg("check")
        .arg(&file)
        .arg("--claims")
        .arg(&claims)
        .output()
        .expect("llmload check runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for (name, verdict) in [
        ("below", "pass"),
        ("above", "FAIL"),
        ("inside", "inconclusive"),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no claim {name} in {text}"));
        assert!(line.contains(verdict), "{name}: {line}");
        assert!(line.contains("judge grades, bootstrap interval"), "{line}");
    }

    // The report's quality table (here its Markdown export) has the judge's score and counts.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .arg("report")
        .arg(&file)
        .args(["--format", "markdown"])
        .output()
        .expect("llmload report runs");
    let md = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{md}");
    assert!(
        md.contains("| judge score [95 % interval] | judged / unscored |"),
        "{md}"
    );
    for m in j["models"].as_array().expect("judged models") {
        let s = &m["overall"]["score"];
        let cells = format!(
            "| {:.3} [{:.3}, {:.3}] | 3 / 1 |",
            num(&s["value"]),
            num(&s["low"]),
            num(&s["high"])
        );
        let label = m["model"].as_str().expect("label");
        let table = &md[md
            .find("**Quality beside speed and cost**")
            .expect("quality table")..];
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {label} |")))
            .unwrap_or_else(|| panic!("no row for {label} in {md}"));
        assert!(row.ends_with(&cells), "{row} does not end with {cells}");
    }
}

#[test]
fn the_judge_grades_the_golden_answers_mixed_into_the_load_after_it() {
    let (code, err, _, r, requests, _) = run_judged_with("mix = 0.5", 24);
    assert_eq!(code, Some(0), "{err}");
    let q = &r["quality"];
    assert_eq!(q["mode"], "mix");
    // The judge calls each answer asks for, by its line: ALPHA and DELTA once, BRAVO and
    // CHARLIE twice (a reply without a score is asked again).
    let calls = |id: &str| if id == "b" || id == "c" { 2 } else { 1 };
    let mut want = 0;
    for (i, m) in q["models"].as_array().expect("models").iter().enumerate() {
        let golden = m["golden"].as_array().expect("answers");
        let ids: Vec<&str> = golden.iter().filter_map(|a| a["id"].as_str()).collect();
        assert!(!ids.is_empty(), "model {i} was asked golden lines");
        assert!(golden.iter().all(|a| a["outcome"] == "ok"), "{m}");
        want += ids.iter().map(|id| calls(id)).sum::<usize>();
        let o = &q["judge"]["models"][i]["overall"];
        let bravo = ids.iter().filter(|id| **id == "b").count() as u64;
        assert_eq!(
            (o["n_judged"].as_u64(), o["n_unscored"].as_u64()),
            (Some(ids.len() as u64 - bravo), Some(bravo)),
            "{o}"
        );
    }
    assert_eq!(requests, want, "judge requests the server saw");
    assert_eq!(q["judge"]["calls"]["requests"], want);
    // The golden requests were load requests; the judge's were not.
    assert_eq!(r["overall"]["requests"]["sent"], 24);
}

/// Golden lines for the `--baseline` runs: outcomes that differ between a model cut at its
/// token limit and one that is not, and a class `sim` of one line without a reference (its
/// similarity is measured against the baseline's answer).
const BASE_GOLDEN: &str = r#"{"id": "word", "prompt": "Say something.", "checks": [{"regex": "\\w"}], "class": "easy"}
{"id": "zebra", "prompt": "Name the animal.", "checks": [{"contains": "zebra-unicorn"}, {"not_contains": "zebra-unicorn", "weight": 3}], "weight": 2}
{"id": "whole", "prompt": "Anything whole.", "checks": [{"not_contains": "zebra-unicorn"}], "class": "easy"}
{"id": "sim", "prompt": "Describe it.", "checks": [{"regex": "\\w"}], "class": "sim"}
{"id": "ref", "prompt": "Say the reference.", "reference": "plain words here"}
"#;

/// Writes a mock scenario in `dir` named `name` with `models` (id, output tokens) under
/// `max_tokens = 32`, golden file `golden.jsonl` and `quality` extra keys.
fn base_scenario(dir: &Path, name: &str, models: &[(&str, u32)], quality: &str) -> PathBuf {
    let mut s =
        format!("name = \"{name}\"\nseed = 5\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n");
    for (id, out) in models {
        s.push_str(&format!(
            "[[models]]\nid = \"{id}\"\ntarget = \"sim\"\nprice = {{ input_per_m = 1.0, output_per_m = 2.0 }}\nmock = {{ output_tokens = {out}, ttft = \"1ms\", itl = \"1ms\" }}\n"
        ));
    }
    s.push_str(&format!(
        "[workload]\nprompts = [\"hi\"]\nmax_tokens = 32\n[load]\nconcurrency = 1\nrequests = 2\n\
         [quality]\ngolden = \"golden.jsonl\"\n{quality}\n"
    ));
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, s).expect("scenario written");
    p
}

/// `llmload run -q -o <out> <scenario> <extra…>`: (exit code, stderr).
fn run(scenario: &Path, out: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["run", "-q", "-o"])
        .arg(out)
        .arg(scenario)
        .args(extra)
        .output()
        .expect("llmload runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn read(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("a result")).expect("JSON")
}

/// Per golden id: the mean of the `score`s of `model`'s answers in result `r`.
fn line_scores(r: &serde_json::Value, model: &str) -> BTreeMap<String, f64> {
    let m = r["quality"]["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["model"] == model)
        .expect("the model");
    let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for a in m["golden"].as_array().expect("answers") {
        if let Some(s) = a["score"].as_f64() {
            let e = sums
                .entry(a["id"].as_str().expect("id").to_string())
                .or_default();
            e.0 += s;
            e.1 += 1.0;
        }
    }
    sums.into_iter().map(|(k, (s, n))| (k, s / n)).collect()
}

/// The answer text of `model` to golden line `id` in result `r`.
fn answer_of<'a>(r: &'a serde_json::Value, model: &str, id: &str) -> &'a str {
    r["quality"]["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["model"] == model)
        .and_then(|m| m["golden"].as_array())
        .and_then(|g| g.iter().find(|a| a["id"] == id))
        .and_then(|a| a["answer"].as_str())
        .expect("a kept answer")
}

/// Token F1 written here from its definition: lowercase, keep letters, digits and whitespace,
/// split at whitespace; shared words counted as often as in both; 2·shared / (|a| + |b|).
fn f1(a: &str, b: &str) -> f64 {
    let words = |s: &str| -> Vec<String> {
        s.to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || c.is_whitespace())
            .collect::<String>()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (words(a), words(b));
    let mut left = b.clone();
    let mut shared = 0;
    for w in &a {
        if let Some(i) = left.iter().position(|x| x == w) {
            left.remove(i);
            shared += 1;
        }
    }
    2.0 * shared as f64 / (a.len() + b.len()) as f64
}

#[test]
fn a_baseline_result_file_is_the_baseline_of_every_model_and_its_answers_the_references() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let d = dir.path();
    std::fs::write(d.join("golden.jsonl"), BASE_GOLDEN).expect("golden written");
    // The first run: one model, "gpt", whose answers (8 tokens) arrive whole.
    let first = base_scenario(d, "first", &[("gpt", 8)], "answer_cap_bytes = 100000");
    let first_out = d.join("first.json");
    let (code, err) = run(&first, &first_out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let base = read(&first_out);
    assert!(base["quality"]["golden_sha256"]
        .as_str()
        .is_some_and(|h| h.len() == 64));

    // The second: "small" (cut at 32 tokens) and "big" (6 tokens), with a scenario baseline
    // that --baseline replaces.
    let second = base_scenario(
        d,
        "second",
        &[("small", 40), ("big", 6)],
        "baseline = \"big\"\nanswer_cap_bytes = 100000",
    );
    let out = d.join("second.json");
    let (code, err) = run(
        &second,
        &out,
        &["--baseline", first_out.to_str().expect("utf-8")],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("(gpt) replaces the scenario's baseline `big`"),
        "{err}"
    );
    let r = read(&out);
    let q = &r["quality"];
    assert_eq!(q["baseline"], "gpt");
    assert_eq!(q["baseline_file"], first_out.to_str().expect("utf-8"));

    // Relative, computed here from the two files' per-answer scores and the lines' weights
    // (zebra 2, the rest 1; "ref" has no checks, so no score).
    let weight = |id: &str| if id == "zebra" { 2.0 } else { 1.0 };
    let b = line_scores(&base, "gpt");
    for model in ["small", "big"] {
        let m = line_scores(&r, model);
        let (mut num, mut den) = (0.0, 0.0);
        for (id, x) in &m {
            if let Some(y) = b.get(id) {
                num += weight(id) * x;
                den += weight(id) * y;
            }
        }
        let want = num / den;
        let got = r["quality"]["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|x| x["model"] == model)
            .expect("model")["overall"]["relative"]["value"]
            .as_f64()
            .expect("a relative score");
        assert!((got - want).abs() < 1e-12, "{model}: {got} vs {want}");
    }

    // Cost relative to gpt's cost per request in the first file, for every model.
    let per_1k = |r: &serde_json::Value, label: &str| {
        r["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["label"] == label)
            .and_then(|m| m["cost"]["per_1k_requests_usd"].as_f64())
            .expect("a cost")
    };
    assert_eq!(
        q["baseline_per_1k_requests_usd"].as_f64(),
        Some(per_1k(&base, "gpt"))
    );
    for (i, model) in ["small", "big"].iter().enumerate() {
        let want = per_1k(&r, model) / per_1k(&base, "gpt");
        let got = q["models"][i]["cost_relative"]
            .as_f64()
            .expect("a cost ratio");
        assert!((got - want).abs() < 1e-12, "{model}: {got} vs {want}");
    }

    // "sim" has no reference: every model's answer is compared with gpt's.
    assert_eq!(
        q["similarity_reference"],
        serde_json::json!({"line": 1, "baseline": 4})
    );
    for model in ["small", "big"] {
        let want = f1(answer_of(&r, model, "sim"), answer_of(&base, "gpt", "sim"));
        let sim = &r["quality"]["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|x| x["model"] == model)
            .expect("model")["classes"]["sim"]["similarity"];
        assert_eq!(sim["n"], 1);
        assert!(
            (sim["f1"].as_f64().expect("f1") - want).abs() < 1e-12,
            "{model}: {sim} vs {want}"
        );
    }
}

#[test]
fn a_baseline_file_that_cannot_serve_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let d = dir.path();
    std::fs::write(d.join("golden.jsonl"), BASE_GOLDEN).expect("golden written");
    // Two models and no baseline: which one is the baseline must be said.
    let first = base_scenario(d, "first", &[("a", 8), ("b", 8)], "");
    let first_out = d.join("first.json");
    let (code, err) = run(&first, &first_out, &[]);
    assert_eq!(code, Some(0), "{err}");
    let second = base_scenario(d, "second", &[("m", 8)], "");
    let out = d.join("second.json");
    let f = first_out.to_str().expect("utf-8");

    let (code, err) = run(&second, &out, &["--baseline", f]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("names no baseline; choose one with --baseline-model (a, b)"),
        "{err}"
    );
    let (code, err) = run(&second, &out, &["--baseline", f, "--baseline-model", "zz"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no model `zz` in its quality section; models are: a, b"),
        "{err}"
    );
    let (code, err) = run(&second, &out, &["--baseline", f, "--baseline-model", "b"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(read(&out)["quality"]["baseline"], "b");

    // A file that does not read.
    let (code, err) = run(&second, &out, &["--baseline", "/nonexistent/r.json"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--baseline: /nonexistent/r.json"), "{err}");

    // A result without a quality section.
    let mut v = read(&first_out);
    v.as_object_mut().expect("an object").remove("quality");
    let bare = d.join("bare.json");
    std::fs::write(&bare, v.to_string()).expect("written");
    let (code, err) = run(
        &second,
        &out,
        &["--baseline", bare.to_str().expect("utf-8")],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("the result has no quality section"), "{err}");

    // Another golden file (one more line): refused by its hash.
    std::fs::write(
        d.join("golden.jsonl"),
        format!("{BASE_GOLDEN}{{\"prompt\": \"More.\", \"checks\": [{{\"regex\": \"x\"}}]}}\n"),
    )
    .expect("golden written");
    let (code, err) = run(&second, &out, &["--baseline", f, "--baseline-model", "a"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("it was scored on a different golden file"),
        "{err}"
    );
}

#[test]
fn a_judge_that_cannot_be_reached_leaves_every_answer_unscored_after_one_retry() {
    // A port nobody listens on: every judge request fails to connect.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    let d = dir.path();
    std::fs::write(d.join("golden.jsonl"), GOLDEN).expect("golden written");
    let scenario = d.join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"j\"\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
             [[targets]]\nname = \"gone\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n\
             [[models]]\nid = \"m1\"\ntarget = \"sim\"\nmock = {{ output_tokens = 6, ttft = \"1ms\", itl = \"1ms\" }}\n\
             [workload]\nprompts = [\"hi\"]\nmax_tokens = 16\n\
             [load]\nconcurrency = 1\nrequests = 2\n\
             [quality]\ngolden = \"golden.jsonl\"\n\
             judge = {{ model = \"unpriced-judge\", target = \"gone\", rubric = \"r\" }}\n"
        ),
    )
    .expect("scenario written");
    let out = d.join("r.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_llmload"))
        .args(["run", "-o"])
        .arg(&out)
        .arg(&scenario)
        .output()
        .expect("llmload runs");
    let err = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    // The load itself is fine: the judge's failures do not fail the run.
    assert_eq!(o.status.code(), Some(0), "{err}");
    let r = read(&out);
    let j = &r["quality"]["judge"];
    // Four answers, each asked twice.
    assert_eq!(j["calls"]["requests"], 8, "{j}");
    assert_eq!(j["calls"]["failed"], 8, "{j}");
    assert_eq!(j["calls"]["input_tokens"], 0);
    assert!(j["calls"].get("cost_usd").is_none(), "{j}");
    let o = &j["models"][0]["overall"];
    assert_eq!(
        (o["n_judged"].as_u64(), o["n_unscored"].as_u64()),
        (Some(0), Some(4))
    );
    assert!(o.get("score").is_none(), "{o}");
    for a in r["quality"]["models"][0]["golden"]
        .as_array()
        .expect("answers")
    {
        let why = a["judge_unscored"].as_str().expect("a reason");
        assert!(why.starts_with("judge request failed ("), "{why}");
        assert!(a.get("judge_reply").is_none(), "{a}");
    }
    assert!(
        stdout.contains("m1: judge score -, 0 judged, 4 unscored"),
        "{stdout}"
    );
    assert!(
        stdout.contains("judge calls: 8 requests (8 failed), 0 input + 0 output tokens, cost unknown (no price)"),
        "{stdout}"
    );
}
