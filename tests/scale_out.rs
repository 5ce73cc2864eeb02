//! Scale-out: `run --shard I/N --start-at` and `llmload merge` (docs/scale-out.md).
//!
//! The schedule split is checked at the library level for every arrival shape; the whole path
//! is checked with real processes on 127.0.0.1: N shard processes and one whole-run process
//! against the same standalone mock, merged and compared.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{bin, output_with_timeout};
use llmload::config::plan::Plan;
use llmload::config::schedule::ShardPart;
use llmload::engine::runner::arrivals;
use llmload::metrics::Hist;
use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn plan_with_load(dir: &Path, load: &str) -> Plan {
    let text = format!(
        r#"
name = "split"
seed = 11

[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "m"
target = "sim"

[workload]
prompts = ["hello"]

[load]
{load}
"#
    );
    let p = dir.join("split.toml");
    std::fs::write(&p, text).expect("write");
    Plan::load(&p).expect("valid scenario")
}

/// Every shard's arrivals, and the whole schedule, for one plan.
fn check_split(plan: &Plan, what: &str) {
    let whole: Vec<(u64, Duration)> = arrivals(plan, ShardPart::WHOLE)
        .expect("open loop")
        .collect();
    assert!(whole.len() >= 40, "{what}: {} arrivals", whole.len());
    for count in [2u32, 3, 4, 7] {
        let mut union = Vec::new();
        let mut sizes = Vec::new();
        for index in 0..count {
            let mine: Vec<_> = arrivals(plan, ShardPart { index, count })
                .expect("open loop")
                .collect();
            assert!(
                mine.iter().all(|(i, _)| i % count as u64 == index as u64),
                "{what}: shard {index}/{count} got another shard's arrival"
            );
            sizes.push(mine.len());
            union.extend(mine);
        }
        union.sort_by_key(|(i, _)| *i);
        assert_eq!(union, whole, "{what}: the union of {count} shards");
        let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(hi - lo <= 1, "{what}: shard sizes {sizes:?}");
    }
}

#[test]
fn the_shards_arrivals_add_up_to_the_single_process_schedule_for_every_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (what, load) in [
        ("constant", "arrival = \"constant\"\nrate = \"50/s\"\nduration = \"3s\""),
        ("poisson", "arrival = \"poisson\"\nrate = \"50/s\"\nduration = \"3s\""),
        (
            "gamma",
            "arrival = \"gamma\"\nburstiness = 0.3\nrate = \"50/s\"\nduration = \"3s\"",
        ),
        (
            "ramps",
            "arrival = \"poisson\"\nstages = [\n  { duration = \"2s\", rate = \"5/s\", rate_to = \"80/s\" },\n  { duration = \"1s\", rate = \"80/s\" },\n  { duration = \"1s\", rate = \"0/s\" },\n  { duration = \"1s\", rate = \"30/s\", rate_to = \"2/s\" },\n]",
        ),
        (
            "request limit",
            "arrival = \"gamma\"\nburstiness = 2.0\nrate = \"100/s\"\nrequests = 61",
        ),
    ] {
        check_split(&plan_with_load(dir.path(), load), what);
    }
    // A trace (uneven gaps, a burst of equal timestamps), whole and cut by a duration limit.
    let trace = dir.path().join("trace.jsonl");
    let mut t = 0u64;
    let lines: Vec<String> = (0..150u64)
        .map(|i| {
            // Gaps of 0 (a burst), short and long, in time order.
            t += if (60..70).contains(&i) { 0 } else { i * i % 97 };
            format!(
                "{{\"timestamp_ms\": {t}, \"input_length\": {}, \"output_length\": 8}}",
                5 + i % 30
            )
        })
        .collect();
    std::fs::write(&trace, lines.join("\n")).expect("write trace");
    for (what, extra) in [("trace", ""), ("trace, cut", "duration = \"4s\"\n")] {
        let load = format!("trace = \"{}\"\n{extra}", trace.display());
        check_split(&plan_with_load(dir.path(), &load), what);
    }
}

/// A standalone mock on 127.0.0.1 with a TTFT spread, stopped on drop.
struct Mock {
    child: std::process::Child,
    url: String,
}

impl Mock {
    fn start() -> Mock {
        let mut child = Command::new(bin())
            .args([
                "mock",
                "--port",
                "0",
                "--ttft",
                "60ms",
                "--ttft-stddev",
                "20ms",
                "--itl",
                "2ms",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mock");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("read url");
        let url = line.trim().rsplit(' ').next().expect("url").to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        Mock { child, url }
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn scenario(url: &str, load: &str) -> String {
    format!(
        r#"
name = "scale-out"
seed = 5

[[targets]]
name = "sim"
base_url = "{url}"
timeouts = {{ connect = "2s", first_token = "10s", idle = "5s", total = "30s" }}

[[models]]
id = "small"
target = "sim"
weight = 2
price = {{ input_per_m = 0.27, output_per_m = 1.10 }}

[[models]]
id = "large"
target = "sim"
weight = 1
price = {{ input_per_m = 2.50, output_per_m = 10.00 }}

[workload]
prompts = ["Summarise the ticket.", "Classify this review as positive or negative.", "Write a short reply."]
max_tokens = {{ dist = "uniform", min = 4, max = 24 }}

[load]
{load}
"#
    )
}

fn start_at(secs: u64) -> String {
    let t = SystemTime::now() + Duration::from_secs(secs);
    llmload::core::time::rfc3339(t)
}

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).expect("result file")).expect("JSON")
}

fn run_shards(dir: &Path, scenario: &Path, n: u32, start: &str) -> Vec<PathBuf> {
    let children: Vec<(PathBuf, std::process::Child)> = (0..n)
        .map(|i| {
            let out = dir.join(format!("shard-{i}.json"));
            let child = Command::new(bin())
                .arg("run")
                .arg(scenario)
                .args(["--shard", &format!("{i}/{n}"), "--start-at", start])
                .args(["--quiet", "--threads", "1", "--output"])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn shard");
            (out, child)
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut files = Vec::new();
    for (out, mut child) in children {
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                // 0, or 3 when a starved CI machine made a shard invalid: the merge must then
                // say so too, which the caller checks.
                assert!(
                    matches!(status.code(), Some(0) | Some(3)),
                    "shard {} exited {status:?}",
                    out.display()
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "shard hung");
            std::thread::sleep(Duration::from_millis(20));
        }
        files.push(out);
    }
    files
}

fn merge(files: &[PathBuf], out: &Path) -> (i32, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("merge").args(files).arg("--output").arg(out);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
    )
}

fn hist(v: &Value) -> Hist {
    Hist::decode(v.as_str().expect("encoded histogram")).expect("valid histogram")
}

/// Largest gap between two histograms' cumulative distributions (two-sample KS statistic).
fn ks(a: &Hist, b: &Hist) -> f64 {
    let mut values: Vec<u64> = a
        .inner()
        .iter_recorded()
        .chain(b.inner().iter_recorded())
        .map(|x| x.value_iterated_to())
        .collect();
    values.sort_unstable();
    values.dedup();
    let cdf = |h: &Hist, v: u64| {
        h.inner()
            .iter_recorded()
            .take_while(|x| x.value_iterated_to() <= v)
            .map(|x| x.count_at_value())
            .sum::<u64>() as f64
            / h.len() as f64
    };
    values
        .iter()
        .map(|&v| (cdf(a, v) - cdf(b, v)).abs())
        .fold(0.0, f64::max)
}

fn records_indexes(dir: &Path, stem: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join(format!("{stem}.records.jsonl"))).expect("records");
    text.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("JSON line")["index"]
                .as_u64()
                .expect("index")
        })
        .collect()
}

/// What a run adds beside its measurements survives the merge: the tokenizer of each model
/// (the same plan in every shard), each target's transport with the shards' connections
/// summed (their set-up percentiles stay with each shard in `merged_from`), and the server's
/// own metrics as the first shard scraped them, second by second.
fn check_merged_run_facts(merged: &Value, shards: &[Value]) {
    assert_eq!(merged["tokenizers"], shards[0]["tokenizers"]);
    assert_eq!(merged["tokenizers"].as_array().map(|a| a.len()), Some(2));
    let t = &merged["transport"][0];
    assert_eq!(t["target"], "sim");
    assert_eq!(t["client"], shards[0]["transport"][0]["client"]);
    let opened: u64 = shards
        .iter()
        .map(|s| {
            s["transport"][0]["new_connections"]
                .as_u64()
                .expect("lean counts")
        })
        .sum();
    assert!(opened >= 4, "every shard opened connections: {opened}");
    assert_eq!(t["new_connections"].as_u64(), Some(opened));
    assert!(t.get("connect_ms").is_none(), "{t}");
    for (i, s) in shards.iter().enumerate() {
        assert_eq!(
            merged["merged_from"][i]["transport"], s["transport"],
            "shard {i}"
        );
    }
    let first = shards
        .iter()
        .find(|s| {
            s["server_metrics"]
                .as_array()
                .is_some_and(|a| !a.is_empty())
        })
        .expect("the shards scraped the mock's metrics");
    assert_eq!(merged["server_metrics"], first["server_metrics"]);
    let rows = |r: &Value| -> Vec<Value> {
        r["timeseries"]
            .as_array()
            .expect("series")
            .iter()
            .map(|p| p["server"].clone())
            .collect()
    };
    let (m, f) = (rows(merged), rows(first));
    assert!(
        m.iter().any(|p| !p.is_null()),
        "no server point in the merged series"
    );
    for (i, (a, b)) in m.iter().zip(&f).enumerate() {
        assert_eq!(a, b, "second {i}");
    }
}

/// The merged 1 s series, second by second: counts are the shards' sums, TTFT percentiles are
/// those of the shards' per-second histograms added together (never an average of
/// percentiles), CPU is the shards' sum; and the seconds' medians sit where the single run's
/// do (the server draws TTFT from N(60 ms, 20 ms) for both).
fn check_merged_series(merged: &Value, shards: &[Value], single: &Value) {
    let series = merged["timeseries"].as_array().expect("series");
    let n = |p: &Value, k: &str| p[k].as_u64().unwrap_or(0);
    let mut judged = 0;
    for (i, p) in series.iter().enumerate() {
        assert_eq!(n(p, "t_s"), i as u64);
        for key in ["sent", "ok", "failed", "dropped", "output_tokens"] {
            let sum: u64 = shards
                .iter()
                .map(|s| s["timeseries"].get(i).map_or(0, |q| n(q, key)))
                .sum();
            assert_eq!(n(p, key), sum, "second {i}: {key}");
        }
        let cpu: f64 = shards
            .iter()
            .filter_map(|s| s["timeseries"].get(i)?["cpu_cores_used"].as_f64())
            .sum();
        if let Some(c) = p["cpu_cores_used"].as_f64() {
            assert!((c - cpu).abs() < 1e-9, "second {i}: cpu {c} vs {cpu}");
        }
        let mut added: Option<Hist> = None;
        for s in shards {
            if let Some(text) = s["partial"]["collector"]["series"]
                .get(i)
                .and_then(|b| b["ttft_hist"].as_str())
            {
                let h = Hist::decode(text).expect("valid histogram");
                match added.as_mut() {
                    None => added = Some(h),
                    Some(a) => a.merge(&h).expect("mergeable"),
                }
            }
        }
        let Some(h) = added.filter(|h| !h.is_empty()) else {
            assert!(p.get("ttft_p50_ms").is_none(), "second {i}");
            continue;
        };
        let p50 = p["ttft_p50_ms"].as_f64().expect("p50");
        assert_eq!(p50, h.quantile(0.5) as f64 / 1e3, "second {i}: p50");
        assert_eq!(
            p["ttft_p99_ms"].as_f64(),
            Some(h.quantile(0.99) as f64 / 1e3),
            "second {i}: p99"
        );
        let one = single["timeseries"]
            .get(i)
            .and_then(|q| q["ttft_p50_ms"].as_f64());
        if h.len() >= 20 {
            // N(60, 20): a median of 20+ samples lies within 40..100 ms by a wide margin.
            assert!((40.0..100.0).contains(&p50), "second {i}: merged p50 {p50}");
            if let Some(o) = one {
                assert!((40.0..100.0).contains(&o), "second {i}: single p50 {o}");
            }
            judged += 1;
        }
    }
    assert!(judged >= 4, "{judged} seconds with 20+ first tokens");
}

#[test]
fn four_shard_processes_merge_to_what_one_process_measures() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let text = scenario(
        &mock.url,
        "arrival = \"poisson\"\nrate = \"40/s\"\nwarmup = \"1s\"\nduration = \"5s\"\ncooldown = \"1s\"\nmax_in_flight = 64",
    );
    // Every shard also scrapes the mock's own metrics endpoint.
    let metrics = format!("{}/metrics", mock.url.trim_end_matches("/v1"));
    let text = text.replacen(
        "timeouts =",
        &format!("server_metrics = \"{metrics}\"\ntimeouts ="),
        1,
    );
    let sc = dir.path().join("scale-out.toml");
    std::fs::write(&sc, text).expect("write");

    let files = run_shards(dir.path(), &sc, 4, &start_at(3));
    let merged_path = dir.path().join("merged.json");
    let (code, out) = merge(&files, &merged_path);
    let merged = read(&merged_path);
    let any_shard_invalid = files.iter().any(|f| read(f)["validity"]["valid"] == false);
    assert_eq!(code, if any_shard_invalid { 3 } else { 0 }, "merge: {out}");
    assert_eq!(merged["validity"]["valid"], !any_shard_invalid);

    let single_path = dir.path().join("single.json");
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .arg(&sc)
        .args(["--quiet", "--threads", "1", "--output"])
        .arg(&single_path);
    let o = output_with_timeout(cmd, Duration::from_secs(90));
    assert!(matches!(o.status.code(), Some(0) | Some(3)), "{o:?}");
    let single = read(&single_path);

    // The merged result is an ordinary result: no partial section, the shards listed.
    assert!(merged.get("partial").is_none());
    assert_eq!(merged["merged_from"].as_array().map(|a| a.len()), Some(4));
    assert_eq!(merged["shard"]["count"], 1);
    assert!(read(&files[0])["partial"]["plan_hash"].is_string());

    // Counters: exact. The same seed gives the same arrivals, prompts, models and max_tokens,
    // and the mock answers max_tokens tokens, so token totals match to the token.
    for key in ["issued", "sent", "ok", "failed", "dropped"] {
        assert_eq!(
            merged["overall"]["requests"][key], single["overall"]["requests"][key],
            "overall.requests.{key}"
        );
    }
    assert!(merged["overall"]["requests"]["ok"].as_u64().unwrap() > 100);
    for key in ["input", "output", "input_all_phases", "output_all_phases"] {
        assert_eq!(
            merged["overall"]["tokens"][key], single["overall"]["tokens"][key],
            "tokens.{key}"
        );
    }
    assert_eq!(
        merged["load"]["arrivals_in_window"],
        single["load"]["arrivals_in_window"]
    );
    for i in 0..2 {
        let (a, b) = (&merged["models"][i], &single["models"][i]);
        assert_eq!(
            a["requests"]["issued"], b["requests"]["issued"],
            "model {i}"
        );
        assert_eq!(a["tokens"]["output"], b["tokens"]["output"], "model {i}");
        let cost = |x: &Value| x["cost"]["total_usd"].as_f64().expect("cost");
        assert!((cost(a) - cost(b)).abs() < 1e-9, "model {i} cost");
        // Tokens per chunk does not depend on timing: bucket-exact.
        let (ha, hb) = (
            hist(&a["histograms"]["tokens_per_chunk"]),
            hist(&b["histograms"]["tokens_per_chunk"]),
        );
        assert_eq!(ha.len(), hb.len());
        assert_eq!(ks(&ha, &hb), 0.0, "model {i} tokens per chunk");
    }
    // The shards' records are exactly the single run's requests, each once.
    let mut union: Vec<u64> = (0..4)
        .flat_map(|i| records_indexes(dir.path(), &format!("shard-{i}")))
        .collect();
    union.sort_unstable();
    let mut whole = records_indexes(dir.path(), "single");
    whole.sort_unstable();
    assert_eq!(union, whole);
    assert_eq!(
        union.iter().collect::<BTreeSet<_>>().len(),
        union.len(),
        "no request sent twice"
    );

    // Timing histograms: equal in distribution. The server draws TTFT from N(60 ms, 20 ms)
    // for both runs; the two-sample KS statistic of ~200 samples each stays far below 0.25
    // unless the merged histogram is wrong (a lost or doubled shard, a unit slip, a shift).
    let (ha, hb) = (
        hist(&merged["overall"]["histograms"]["ttft"]),
        hist(&single["overall"]["histograms"]["ttft"]),
    );
    assert_eq!(
        ha.len(),
        merged["overall"]["requests"]["ok"].as_u64().unwrap()
    );
    let d = ks(&ha, &hb);
    assert!(d < 0.25, "TTFT distributions differ: KS D = {d}");

    check_merged_run_facts(&merged, &files.iter().map(|f| read(f)).collect::<Vec<_>>());

    // The 1 s series covers the same seconds, and its counts add up to the totals.
    let series = merged["timeseries"].as_array().expect("series");
    let sent: u64 = series.iter().map(|p| p["sent"].as_u64().unwrap()).sum();
    assert_eq!(sent, merged["load"]["sent_all_phases"].as_u64().unwrap());
    check_merged_series(
        &merged,
        &files.iter().map(|f| read(f)).collect::<Vec<_>>(),
        &single,
    );

    // check, compare and report take the merged result like any other.
    let claims = dir.path().join("claims.toml");
    std::fs::write(
        &claims,
        "[[claims]]\nexpr = \"ttft.p50 < 2s\"\nname = \"median TTFT\"\n",
    )
    .expect("write claims");
    let mut cmd = Command::new(bin());
    cmd.arg("check")
        .arg(&merged_path)
        .arg("--claims")
        .arg(&claims);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    let code = o.status.code();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(
        code == Some(0) || (any_shard_invalid && code == Some(3)),
        "check: {code:?} {text}"
    );
    let mut cmd = Command::new(bin());
    cmd.arg("compare").arg(&single_path).arg(&merged_path);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let mut cmd = Command::new(bin());
    cmd.arg("report")
        .arg(&merged_path)
        .args(["--format", "markdown"]);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let mut cmd = Command::new(bin());
    cmd.arg("plan")
        .arg(&merged_path)
        .args(["--daily-input-tokens", "50M", "--format", "json"]);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0), "{o:?}");
}

#[test]
fn closed_loop_shards_split_the_concurrency_and_the_request_budget() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = r#"
name = "closed-shards"
seed = 3

[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "m"
target = "sim"
mock = { ttft = "20ms", itl = "1ms" }

[workload]
prompts = ["one", "two", "three"]
max_tokens = 4

[load]
concurrency = 5
requests = 47
"#;
    let sc = dir.path().join("closed.toml");
    std::fs::write(&sc, text).expect("write");
    let files = run_shards(dir.path(), &sc, 3, &start_at(2));
    let mut indexes = Vec::new();
    let mut peak = 0;
    for (i, f) in files.iter().enumerate() {
        let r = read(f);
        // 5 workers over 3 shards: 2, 2, 1.
        let want = [2, 2, 1][i];
        let recs = records_indexes(dir.path(), &format!("shard-{i}"));
        assert!(
            recs.iter().all(|x| x % 3 == i as u64),
            "shard {i}: {recs:?}"
        );
        let overlap = r["load"]["in_flight_mean"].as_f64().unwrap_or(0.0);
        assert!(
            overlap <= want as f64 + 1e-9,
            "shard {i} in flight {overlap}"
        );
        peak += want;
        indexes.extend(recs);
    }
    assert_eq!(peak, 5);
    indexes.sort_unstable();
    assert_eq!(indexes, (0..47).collect::<Vec<u64>>(), "every request once");
    let (code, out) = merge(&files, &dir.path().join("merged.json"));
    assert!(matches!(code, 0 | 3), "{out}");
    let merged = read(&dir.path().join("merged.json"));
    assert_eq!(merged["overall"]["requests"]["issued"], 47);
    assert_eq!(merged["load"]["concurrency"], 5);
}

/// Two quick shards of one run, for the refusal tests.
fn two_shards(dir: &Path) -> Vec<PathBuf> {
    let text = r#"
name = "refusals"
seed = 1

[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "m"
target = "sim"
mock = { ttft = "5ms", itl = "1ms" }

[workload]
prompts = ["hi"]
max_tokens = 3

[load]
concurrency = 2
requests = 10
"#;
    let sc = dir.join("refusals.toml");
    std::fs::write(&sc, text).expect("write");
    run_shards(dir, &sc, 2, &start_at(2))
}

fn edited(src: &Path, dst: &Path, f: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v = read(src);
    f(&mut v);
    std::fs::write(dst, serde_json::to_string(&v).expect("JSON")).expect("write");
    dst.to_path_buf()
}

#[test]
fn merge_refuses_incomplete_duplicated_or_foreign_shards_naming_the_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = two_shards(dir.path());
    let (s0, s1) = (&files[0], &files[1]);
    let out = dir.path().join("m.json");
    let name = |p: &Path| p.display().to_string();

    let (code, msg) = merge(std::slice::from_ref(s0), &out);
    assert_eq!(code, 2, "{msg}");
    assert!(
        msg.contains("missing shard(s) 1/2") && msg.contains(&name(s0)),
        "{msg}"
    );

    let (code, msg) = merge(&[s0.clone(), s0.clone(), s1.clone()], &out);
    assert_eq!(code, 2, "{msg}");
    assert!(
        msg.contains("appears twice") && msg.contains(&name(s0)),
        "{msg}"
    );

    let other = edited(s1, &dir.path().join("other-plan.json"), |v| {
        v["partial"]["plan_hash"] = "0123".into();
    });
    let (code, msg) = merge(&[s0.clone(), other.clone()], &out);
    assert_eq!(code, 2, "{msg}");
    assert!(
        msg.contains("plan hashes differ") && msg.contains(&name(&other)),
        "{msg}"
    );

    let later = edited(s1, &dir.path().join("other-run.json"), |v| {
        v["run_id"] = "feedfacefeedface".into();
        v["partial"]["start_at"] = "2030-01-01T00:00:00Z".into();
    });
    let (code, msg) = merge(&[s0.clone(), later.clone()], &out);
    assert_eq!(code, 2, "{msg}");
    assert!(
        msg.contains("different runs") && msg.contains(&name(&later)),
        "{msg}"
    );

    let old = edited(s1, &dir.path().join("old-schema.json"), |v| {
        v["schema_version"] = 0.into();
    });
    let (code, msg) = merge(&[s0.clone(), old.clone()], &out);
    assert_eq!(code, 2, "{msg}");
    assert!(
        msg.contains("schema versions differ") && msg.contains(&name(&old)),
        "{msg}"
    );

    let whole = edited(s1, &dir.path().join("whole.json"), |v| {
        v.as_object_mut().expect("object").remove("partial");
    });
    let (code, msg) = merge(&[s0.clone(), whole.clone()], &out);
    assert_eq!(code, 2, "{msg}");
    assert!(
        msg.contains("not a shard's partial result") && msg.contains(&name(&whole)),
        "{msg}"
    );

    let bad = edited(s1, &dir.path().join("invalid.json"), |v| {
        v["validity"]["valid"] = false.into();
        v["validity"]["reasons"] = serde_json::json!(["the generator fell behind"]);
    });
    let (code, msg) = merge(&[s0.clone(), bad], &out);
    assert_eq!(
        code, 3,
        "an invalid shard makes the merged run invalid: {msg}"
    );
    let merged = read(&out);
    assert_eq!(merged["validity"]["valid"], false);
    assert!(merged["validity"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r.as_str().unwrap().contains("shard 1/2 was invalid")));

    assert!(!files.is_empty());
    let (code, msg) = merge(&files, &out);
    assert!(matches!(code, 0 | 3), "{msg}");
}

fn run_args(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sc = repo().join("scenarios").join("quickstart.toml");
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .arg(&sc)
        .arg("--out")
        .arg(dir.path())
        .arg("--quiet")
        .args(args);
    let o = output_with_timeout(cmd, Duration::from_secs(30));
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[test]
fn bad_shard_flags_exit_2_before_sending() {
    let (code, err) = run_args(&["--shard", "4/4", "--start-at", &start_at(5)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("out of range"), "{err}");
    let (code, err) = run_args(&["--shard", "1/4"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--start-at"), "{err}");
    let (code, err) = run_args(&["--shard", "1/4", "--start-at", "2020-01-01T00:00:00Z"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("passed") && err.contains("tolerance"), "{err}");
    let (code, err) = run_args(&["--shard", "1/4", "--start-at", "next tuesday"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("RFC 3339"), "{err}");
}

#[test]
fn one_shard_sends_the_golden_pass_and_merge_carries_it_with_merged_costs() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("golden.jsonl"),
        "{\"prompt\": \"Say something.\", \"checks\": [{\"regex\": \"\\\\w\"}]}\n\
         {\"prompt\": \"Name a zebra-unicorn.\", \"checks\": [{\"contains\": \"zebra-unicorn\"}]}\n",
    )
    .expect("write golden");
    let text = r#"
name = "sharded-quality"
seed = 3

[[targets]]
name = "sim"
base_url = "mock"

[[models]]
id = "cheap"
target = "sim"
mock = { ttft = "2ms", itl = "1ms" }
price = { input_per_m = 0.27, output_per_m = 1.10 }

[[models]]
id = "dear"
target = "sim"
mock = { ttft = "2ms", itl = "1ms" }
price = { input_per_m = 2.50, output_per_m = 10.00 }

[workload]
prompts = ["hi there"]
max_tokens = 6

[load]
concurrency = 2
requests = 40

[quality]
golden = "golden.jsonl"
baseline = "dear"
"#;
    let sc = dir.path().join("q.toml");
    std::fs::write(&sc, text).expect("write");
    let files = run_shards(dir.path(), &sc, 2, &start_at(2));
    let shards: Vec<Value> = files.iter().map(|f| read(f)).collect();
    assert!(shards[0]["quality"].is_object(), "shard 0 sends the pass");
    assert!(shards[1].get("quality").is_none(), "shard 1 does not");

    let out = dir.path().join("merged.json");
    let (code, msg) = merge(&files, &out);
    assert_eq!(code, 0, "{msg}");
    let merged = read(&out);
    let q = &merged["quality"];
    // The figures are shard 0's, line for line.
    for (m, theirs) in q["models"]
        .as_array()
        .expect("models")
        .iter()
        .zip(shards[0]["quality"]["models"].as_array().expect("models"))
    {
        assert_eq!(m["overall"], theirs["overall"]);
        assert_eq!(m["golden"], theirs["golden"]);
    }
    // Each score: the regex line passes on any answer, the zebra-unicorn line never does.
    assert_eq!(q["models"][0]["overall"]["score"]["value"], 0.5);
    // The cost relative to the baseline is the merged run's, not shard 0's.
    let per_1k = |label: &str| {
        merged["models"]
            .as_array()
            .expect("models")
            .iter()
            .find(|m| m["label"] == label)
            .expect("model")["cost"]["per_1k_requests_usd"]
            .as_f64()
            .expect("cost")
    };
    let want = per_1k("cheap") / per_1k("dear");
    let got = q["models"][0]["cost_relative"]
        .as_f64()
        .expect("cost_relative");
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    assert!(
        q["models"][1].get("cost_relative").is_none(),
        "not on the baseline"
    );

    // Shards that each hold a pass (as older versions sent): the lowest shard's is kept, and
    // the merge says so.
    let both = edited(&files[1], &dir.path().join("s1q.json"), |v| {
        v["quality"] = shards[0]["quality"].clone();
    });
    let out2 = dir.path().join("merged2.json");
    let (code, msg) = merge(&[files[0].clone(), both], &out2);
    assert_eq!(code, 0, "{msg}");
    let warnings = read(&out2)["warnings"].to_string();
    assert!(warnings.contains("also hold a golden pass"), "{warnings}");
}
