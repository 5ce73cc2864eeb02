//! The mock answering golden prompts from a table, end to end through `llmload run`: a model
//! told to get a share of its answers wrong scores exactly the share the test can see was
//! right, with Wilson's interval; answers cut at the token limit are misses; bad tables are
//! refused at validation; and the migration demo (scenarios/migration-quality.toml) reports
//! scores, intervals and costs relative to its GPT-4o baseline.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// The answer the mock gives in place of a table answer drawn to be wrong.
const WRONG_ANSWER: &str = "I do not know.";

/// Golden lines in the share test.
const N: usize = 100;

/// Wilson's 95 % score interval for `k` of `n`, by its formula.
fn wilson(k: f64, n: f64) -> (f64, f64) {
    let z: f64 = 1.959_963_984_540_054;
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (centre - half, centre + half)
}

/// Runs `llmload run` on `scenario` with its result in `dir/out`, and asserts it succeeded (or
/// was only starved by a loaded machine).
fn run_in(dir: &tempfile::TempDir, scenario: &Path) -> Run {
    let result = dir.path().join("out").join("result.json");
    let mut cmd = Command::new(bin());
    cmd.arg("run").arg(scenario).arg("--output").arg(&result);
    let out = output_with_timeout(cmd, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = std::fs::read_to_string(&result)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_else(|| panic!("no result; stderr:\n{stderr}"));
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        result: json,
        records: Vec::new(),
        dir: tempfile::tempdir().expect("tempdir"),
    };
    assert_ok_or_starved(&run);
    run
}

/// A scenario on the mock whose models are `models` (each `(id, mock table body)`), with a
/// small load and `[quality]` on `golden.jsonl` (`quality_extra` added).
fn scenario(models: &[(&str, &str)], quality_extra: &str) -> String {
    let mut s = String::from(
        "name = \"answers\"\nseed = 7\n\n[[targets]]\nname = \"sim\"\nbase_url = \"mock\"\n\
         timeouts = { connect = \"2s\", first_token = \"5s\", idle = \"2s\", total = \"20s\" }\n",
    );
    for (id, mock) in models {
        s += &format!("\n[[models]]\nid = \"{id}\"\ntarget = \"sim\"\nmock = {{ {mock} }}\n");
    }
    s += "\n[workload]\nprompts = [\"hi\"]\nmax_tokens = 16\n\n[load]\nconcurrency = 1\nrequests = 3\n";
    s += &format!("\n[quality]\ngolden = \"golden.jsonl\"\n{quality_extra}\n");
    s
}

#[test]
fn a_model_told_to_answer_wrong_a_fifth_of_the_time_scores_the_share_it_got_right() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 100 pass/fail lines, each with one exact answer, and the table answering all of them.
    let (mut golden, mut table) = (String::new(), String::new());
    let mut answer_of = HashMap::new();
    for i in 0..N {
        let (a, b) = (3 * i + 1, 7 * i + 2);
        let prompt = format!("Question {i}: what is {a} + {b}?");
        let answer = format!("The sum is {}", a + b);
        golden += &serde_json::json!({"id": format!("q{i}"), "prompt": prompt,
            "checks": [{"exact": answer}]})
        .to_string();
        golden.push('\n');
        table += &serde_json::json!({"prompt": prompt, "answer": answer}).to_string();
        table.push('\n');
        answer_of.insert(format!("q{i}"), answer);
    }
    std::fs::write(dir.path().join("golden.jsonl"), golden).expect("golden");
    std::fs::write(dir.path().join("answers.jsonl"), table).expect("table");
    let fast = "ttft = \"1ms\", itl = \"1ms\", answers = \"answers.jsonl\"";
    let toml = scenario(
        &[
            ("right", &format!("{fast}, wrong = 0")),
            ("some", &format!("{fast}, wrong = 0.2")),
            ("never", &format!("{fast}, wrong = 1")),
        ],
        "baseline = \"right\"",
    );
    let path = write_scenario(dir.path(), &toml);
    let r = run_in(&dir, &path).result;

    // Count, answer by answer, which were the table's and which the wrong one.
    let answers = |label: &str| -> (usize, usize) {
        let golden = quality_of(&r, label)["golden"].as_array().expect("answers");
        assert_eq!(golden.len(), N);
        let mut right = 0;
        let mut wrong = 0;
        for a in golden {
            let text = a["answer"].as_str().expect("answers kept");
            assert_eq!(a["finish_reason"], "stop", "{a}");
            if Some(&text.to_string()) == answer_of.get(a["id"].as_str().unwrap_or_default()) {
                right += 1;
            } else {
                assert_eq!(text, WRONG_ANSWER, "{a}");
                wrong += 1;
            }
        }
        (right, wrong)
    };

    let (right, wrong) = answers("some");
    assert_eq!(right + wrong, N);
    let o = &quality_of(&r, "some")["overall"];
    assert_eq!(
        (o["n_scored"].as_u64(), o["n_unscorable"].as_u64()),
        (Some(N as u64), Some(0))
    );
    let share = right as f64 / N as f64;
    assert!((num(&o["score"]["value"]) - share).abs() < 1e-12, "{o}");
    // Binomial(100, 0.2): mean 20, sd 4; the drawn count stays within 4 sd of it.
    let sd = (N as f64 * 0.2 * 0.8).sqrt();
    assert!(
        (wrong as f64 - N as f64 * 0.2).abs() <= 4.0 * sd,
        "{wrong} wrong answers of {N}"
    );
    let (lo, hi) = wilson(right as f64, N as f64);
    assert_eq!(o["score"]["method"], "wilson");
    assert!(
        (num(&o["score"]["low"]) - lo).abs() < 1e-9 && (num(&o["score"]["high"]) - hi).abs() < 1e-9,
        "{o}: Wilson by formula [{lo}, {hi}]"
    );
    // Relative to a baseline that is always right, the ratio is the score itself.
    assert!((num(&o["relative"]["value"]) - share).abs() < 1e-12, "{o}");
    println!("wrong = 0.2: {wrong} of {N} answers wrong, score {share}, Wilson [{lo:.4}, {hi:.4}]");

    assert_eq!(answers("right"), (N, 0));
    assert_eq!(
        num(&quality_of(&r, "right")["overall"]["score"]["value"]),
        1.0
    );
    assert_eq!(answers("never"), (0, N));
    assert_eq!(
        num(&quality_of(&r, "never")["overall"]["score"]["value"]),
        0.0
    );
}

#[test]
fn a_table_answer_longer_than_the_lines_max_tokens_is_cut_and_a_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    // "The sum is 42" is 4 tokens for the mock (a word with its leading space each).
    std::fs::write(
        dir.path().join("golden.jsonl"),
        "{\"id\": \"cut\", \"prompt\": \"Sum A?\", \"checks\": [{\"exact\": \"The sum is 42\"}], \"max_tokens\": 2}\n\
         {\"id\": \"cut-contains\", \"prompt\": \"Sum B?\", \"checks\": [{\"contains\": \"sum\"}], \"max_tokens\": 2}\n\
         {\"id\": \"fits\", \"prompt\": \"Sum C?\", \"checks\": [{\"exact\": \"The sum is 42\"}], \"max_tokens\": 4}\n",
    )
    .expect("golden");
    std::fs::write(
        dir.path().join("answers.jsonl"),
        "{\"prompt\": \"Sum A?\", \"answer\": \"The sum is 42\"}\n\
         {\"prompt\": \"Sum B?\", \"answer\": \"The sum is 42\"}\n\
         {\"prompt\": \"Sum C?\", \"answer\": \"The sum is 42\"}\n",
    )
    .expect("table");
    let toml = scenario(
        &[(
            "m",
            "ttft = \"1ms\", itl = \"1ms\", answers = \"answers.jsonl\"",
        )],
        "",
    );
    let path = write_scenario(dir.path(), &toml);
    let r = run_in(&dir, &path).result;
    let q = quality_of(&r, "m");
    let by_id = |id: &str| -> &Value {
        q["golden"]
            .as_array()
            .expect("answers")
            .iter()
            .find(|a| a["id"] == id)
            .unwrap_or_else(|| panic!("no answer {id}"))
    };
    let cut = by_id("cut");
    assert_eq!(cut["finish_reason"], "length");
    assert_eq!(cut["answer"], "The sum");
    assert_eq!(cut["unscorable"], "answer cut at its token limit");
    // `contains` judges the part received.
    let partial = by_id("cut-contains");
    assert_eq!(
        (partial["finish_reason"].as_str(), num(&partial["score"])),
        (Some("length"), 1.0)
    );
    // An answer exactly as long as the limit is whole.
    let fits = by_id("fits");
    assert_eq!(
        (fits["finish_reason"].as_str(), num(&fits["score"])),
        (Some("stop"), 1.0)
    );
    let o = &q["overall"];
    assert_eq!(
        (o["n_scored"].as_u64(), o["n_unscorable"].as_u64()),
        (Some(2), Some(1))
    );
    assert!((num(&o["score"]["value"]) - 2.0 / 3.0).abs() < 1e-12, "{o}");
}

#[test]
fn a_bad_answers_table_is_refused_with_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("golden.jsonl"),
        "{\"prompt\": \"a\", \"checks\": [{\"exact\": \"1\"}]}\n",
    )
    .expect("golden");
    std::fs::write(
        dir.path().join("bad.jsonl"),
        "{\"prompt\": \"a\", \"answer\": \"1\"}\n\
         {\"prompt\": \"b\", \"answer\": \n\
         {\"prompt\": \"c\"}\n\
         {\"prompt\": \" a \", \"answer\": \"2\"}\n",
    )
    .expect("table");
    let toml = scenario(
        &[
            ("m", "answers = \"bad.jsonl\", wrong = 1.5"),
            ("n", "answers = \"missing.jsonl\""),
            ("o", "wrong = 0.5"),
        ],
        "",
    );
    let (code, out) = validate_in(dir.path(), &toml);
    assert_eq!(code, 2, "{out}");
    // Where `key` is in model `model`'s mock table: its line and column.
    let at = |model: &str, key: &str| -> String {
        let line = line_of(&toml, &format!("id = \"{model}\"")) + 2;
        let text = toml.lines().nth(line - 1).unwrap_or_default();
        let column = text.find(&format!("{key} =")).expect("the key") + 1;
        format!("scenario.toml:{line}:{column}")
    };
    let file = dir.path().join("bad.jsonl");
    for want in [
        format!(
            "{}: models[0].mock.wrong: 1.5 is a share of answers and must be between 0 and 1",
            at("m", "wrong")
        ),
        format!(
            "{}:2:25: (top level): not an answers line",
            file.display()
        ),
        format!(
            "{}:3:15: answer: not an answers line ({{\"prompt\": \"...\", \"answer\": \"...\"}}): missing field `answer`",
            file.display()
        ),
        format!(
            "{}:4:1: prompt: this prompt already has an answer, on line 1",
            file.display()
        ),
        format!(
            "{}: models[1].mock.answers: cannot read answers file",
            at("n", "answers")
        ),
        format!(
            "{}: models[2].mock.wrong: needs `answers`, the table of answers to make wrong",
            at("o", "wrong")
        ),
    ] {
        let found = out.lines().any(|l| l.contains(&want));
        assert!(found, "missing {want:?} in:\n{out}");
    }
}

/// The price of model `label` in scenarios/migration-quality.toml: (input, output) per M.
fn prices(toml: &toml::Value) -> HashMap<String, (f64, f64)> {
    toml["models"]
        .as_array()
        .expect("[[models]]")
        .iter()
        .map(|m| {
            let label = m
                .get("label")
                .or_else(|| m.get("id"))
                .and_then(|v| v.as_str())
                .expect("a label or id")
                .to_string();
            let num = |k: &str| {
                let v = &m["price"][k];
                v.as_float()
                    .or_else(|| v.as_integer().map(|i| i as f64))
                    .expect("a price")
            };
            (label, (num("input_per_m"), num("output_per_m")))
        })
        .collect()
}

#[test]
fn the_migration_demo_scores_four_models_against_the_gpt_4o_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/migration-quality.toml");
    let run = run_in(&dir, &scenario);
    let (stdout, r) = (&run.stdout, &run.result);
    let text = std::fs::read_to_string(&scenario).expect("scenario");
    let toml: toml::Value = toml::from_str(&text).expect("the scenario is TOML");
    let prices = prices(&toml);
    assert_eq!(prices.len(), 4);

    let q = &r["quality"];
    assert_eq!(q["lines"], 40);
    assert_eq!(q["baseline"], "gpt-4o");
    // Each model's cost per measured request, from its price and token counts.
    let per_request = |label: &str| -> f64 {
        let m = r["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["label"] == label)
            .unwrap_or_else(|| panic!("no model {label}"));
        let (pi, po) = prices[label];
        let t = &m["tokens"];
        let usd = num(&t["input"]) / 1e6 * pi + num(&t["output"]) / 1e6 * po;
        usd / num(&m["requests"]["sent"])
    };
    let base = per_request("gpt-4o");
    for label in prices.keys() {
        let m = quality_of(r, label);
        let o = &m["overall"];
        let s = &o["score"];
        assert!(
            num(&s["low"]) <= num(&s["value"]) && num(&s["value"]) <= num(&s["high"]),
            "{label}: {s}"
        );
        assert_eq!(
            o["n_scored"].as_u64().unwrap_or(0) + o["n_unscorable"].as_u64().unwrap_or(0),
            40,
            "{label}: {o}"
        );
        if label == "gpt-4o" {
            assert!(o.get("relative").is_none_or(Value::is_null), "{o}");
            assert!(m.get("cost_relative").is_none_or(Value::is_null), "{m}");
            continue;
        }
        let rel = &o["relative"];
        assert!(
            num(&rel["low"]) <= num(&rel["value"]) && num(&rel["value"]) <= num(&rel["high"]),
            "{label}: {rel}"
        );
        let want = per_request(label) / base;
        let got = num(&m["cost_relative"]);
        assert!(
            (got - want).abs() < 1e-9,
            "{label}: cost_relative {got}, by prices and tokens {want}"
        );
    }
    let lines: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("quality ("))
        .take(5)
        .collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    println!("{}", lines.join("\n"));
}

#[test]
fn llmload_mock_answers_from_a_file_with_a_wrong_share_and_refuses_a_bad_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = dir.path().join("answers.jsonl");
    let lines = [
        ("What is 7 + 5?", "12"),
        ("Capital of France?", "Paris is the capital."),
    ];
    let text: String = lines
        .iter()
        .map(|(q, a)| format!("{}\n", serde_json::json!({"prompt": q, "answer": a})))
        .collect();
    std::fs::write(&table, text).expect("write");
    let path = table.display().to_string();
    let answer = |mock: &Mock, q: &str| -> String {
        let body = serde_json::json!({
            "model": "m", "max_tokens": 50, "stream": false,
            "messages": [{"role": "user", "content": q}],
        });
        let (status, text) = mock.post(&body.to_string());
        assert_eq!(status, 200, "{text}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        v["choices"][0]["message"]["content"]
            .as_str()
            .expect("content")
            .to_string()
    };
    let fast = ["--ttft", "1ms", "--itl", "1ms"];
    // Every answer from the table.
    let mock = Mock::start(&[&fast[..], &["--answers", &path]].concat());
    for (q, a) in lines {
        assert_eq!(answer(&mock, q), a);
    }
    drop(mock);
    // Every answer made wrong.
    let mock = Mock::start(&[&fast[..], &["--answers", &path, "--wrong", "1"]].concat());
    for (q, _) in lines {
        assert_eq!(answer(&mock, q), WRONG_ANSWER);
    }
    drop(mock);

    // Bad input: exit 2 with the reason, and the file and line for a bad line.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"prompt\": \"a\", \"answer\": \"b\"}\n{\"prompt\": \"c\"}\n",
    )
    .expect("write");
    let bad = bad.display().to_string();
    for (flags, want) in [
        (vec!["--answers", bad.as_str()], format!("{bad}:2")),
        (
            vec!["--answers", "/nonexistent/answers.jsonl"],
            "--answers /nonexistent/answers.jsonl".to_string(),
        ),
        (
            vec!["--answers", path.as_str(), "--wrong", "1.5"],
            "--wrong: a probability must be between 0 and 1".to_string(),
        ),
        (vec!["--wrong", "0.5"], "--answers".to_string()),
    ] {
        let mut cmd = Command::new(bin());
        cmd.args(["mock", "--port", "0"]).args(&flags);
        let o = output_with_timeout(cmd, Duration::from_secs(30));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flags:?}: {err}");
        assert!(err.contains(&want), "{flags:?}: {want} not in {err}");
    }
}
