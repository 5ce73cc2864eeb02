//! `[quality] judge`: each golden answer is graded by a judge model on a server of the test's
//! own, which answers `SCORE: n` to some prompts and text without a score to others; the
//! grades, the retry, the unscored answers with their reply kept, and the judge's tokens and
//! cost are checked against what the server did.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        let mut len = 0usize;
        for _ in 0..100 {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim_end().is_empty() {
                break;
            }
            if let Some((k, v)) = h.trim_end().split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len.min(1 << 20)];
        if r.read_exact(&mut body).is_err() {
            break;
        }
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
             [load]\nconcurrency = 1\nrequests = 2\n\
             [quality]\ngolden = \"golden.jsonl\"\nanswer_cap_bytes = 12\n\
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

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
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
    assert!((f(&c["cost_usd"]) - cost).abs() < 1e-15, "{c}");

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
        assert!((f(&s["value"]) - 2.0 / 3.0).abs() < 1e-12, "{s}");
        assert!(
            f(&s["low"]) <= 2.0 / 3.0 && 2.0 / 3.0 <= f(&s["high"]),
            "{s}"
        );
        assert_eq!(s["method"], "bootstrap");
        // Class x: ALPHA judged (0.75), BRAVO unscored; class y: CHARLIE (0.25).
        let x = &m["classes"]["x"];
        assert_eq!(
            (x["n_judged"].as_u64(), x["n_unscored"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(f(&x["score"]["value"]), 0.75);
        assert_eq!(f(&m["classes"]["y"]["score"]["value"]), 0.25);

        // Per answer: the grade, or why not with the judge's reply kept (cut to 12 bytes).
        let golden = r["quality"]["models"][i]["golden"]
            .as_array()
            .expect("answers");
        let by = |id: &str| golden.iter().find(|a| a["id"] == id).expect("the answer");
        assert_eq!(
            (by("a")["judge_grade"].as_u64(), f(&by("a")["judge_score"])),
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
}
