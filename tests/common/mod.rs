//! Shared helpers for the integration tests: write a scenario, run the real binary on it
//! against the built-in mock (127.0.0.1, port 0), and read back what it wrote.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub result: serde_json::Value,
    pub records: Vec<serde_json::Value>,
    pub dir: tempfile::TempDir,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_llmload")
}

/// Runs a command with a hard time limit so a hung binary fails the test instead of CI.
pub fn output_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spawn llmload");
    let start = std::time::Instant::now();
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => return child.wait_with_output().expect("output"),
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "llmload did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

pub fn write_scenario(dir: &Path, toml: &str) -> PathBuf {
    let p = dir.join("scenario.toml");
    std::fs::write(&p, toml).expect("write scenario");
    p
}

/// Runs `llmload run` on a scenario text with extra args and env, and loads its outputs.
pub fn run_scenario(toml: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path(), toml);
    let result_path = dir.path().join("out").join("result.json");
    let mut cmd = Command::new(bin());
    cmd.arg("run")
        .arg(&scenario)
        .arg("--output")
        .arg(&result_path)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output_with_timeout(cmd, Duration::from_secs(90));
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let result = std::fs::read_to_string(&result_path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    let records = std::fs::read_to_string(dir.path().join("out").join("result.records.jsonl"))
        .map(|s| {
            s.lines()
                .map(|l| serde_json::from_str(l).expect("every records line is JSON"))
                .collect()
        })
        .unwrap_or_default();
    Run {
        code,
        stdout,
        stderr,
        result,
        records,
        dir,
    }
}

/// A scenario with one mock model; `model_mock` is the inline `mock = {…}` table body and
/// `load` the `[load]` section body.
pub fn scenario(model_mock: &str, workload_extra: &str, load: &str) -> String {
    format!(
        r#"
name = "t"
seed = 7

[[targets]]
name = "sim"
base_url = "mock"
timeouts = {{ connect = "2s", first_token = "5s", idle = "2s", total = "20s" }}

[[models]]
id = "m"
target = "sim"
price = {{ input_per_m = 1.0, output_per_m = 2.0 }}
mock = {{ {model_mock} }}

[workload]
prompts = ["Say something.", "Tell me more about load testing."]
{workload_extra}

[load]
{load}
"#
    )
}

pub fn model(r: &serde_json::Value, i: usize) -> &serde_json::Value {
    &r["models"][i]
}

/// Asserts the run succeeded. A run may also end invalid (exit 3) when — and only when — every
/// reason is the generator reporting its own starvation (timer lateness or CPU), which a
/// loaded 2-core CI machine can cause; a test about something else must not fail on that, and
/// must not pass on any other invalidity.
pub fn assert_ok_or_starved(r: &Run) {
    if r.code == 0 {
        return;
    }
    let reasons: Vec<String> = r.result["validity"]["reasons"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let starved = |s: &String| {
        s.contains("schedule lag") || s.contains("event loop") || s.contains("CPU cores")
    };
    assert!(
        r.code == 3 && !reasons.is_empty() && reasons.iter().all(starved),
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        r.code,
        r.stdout,
        r.stderr
    );
    eprintln!("note: the machine starved the generator: {reasons:?}");
}

/// What [`answering_server`] received in one request.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request line (`POST /v1/… HTTP/1.1`).
    pub line: String,
    /// The body as JSON (`null` when it is not JSON).
    pub body: serde_json::Value,
}

/// A server on 127.0.0.1 (port 0) that answers up to `n` requests, each on a connection of
/// its own, within 30 s, with `answer` whole: status 200, `application/json` when the answer
/// starts with `{`, else `text/event-stream`. Returns the port and, once joined, what it
/// received.
pub fn answering_server(n: usize, answer: String) -> (u16, std::thread::JoinHandle<Vec<Received>>) {
    use std::io::{BufRead, BufReader, Write};
    use std::time::Instant;
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    l.set_nonblocking(true).expect("nonblocking");
    let h = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            let Ok((s, _)) = l.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(&s);
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let body = read_body(&mut r).unwrap_or_default();
            got.push(Received {
                line: line.trim_end().to_string(),
                body: serde_json::from_slice(&body).unwrap_or_default(),
            });
            let kind = if answer.starts_with('{') {
                "application/json"
            } else {
                "text/event-stream"
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                answer.len()
            );
            let mut s = &s;
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(answer.as_bytes());
            let _ = s.flush();
        }
        got
    });
    (port, h)
}

/// `llmload validate` on `toml` written into `dir`: the exit code and stderr then stdout.
pub fn validate_in(dir: &Path, toml: &str) -> (i32, String) {
    let p = write_scenario(dir, toml);
    let mut cmd = Command::new(bin());
    cmd.arg("validate").arg(&p);
    let out = output_with_timeout(cmd, Duration::from_secs(30));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout),
    )
}

/// `llmload validate` on `toml` in a folder of its own.
pub fn validate(toml: &str) -> (i32, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    validate_in(dir.path(), toml)
}

/// The 1-based number of the first line of `text` starting with `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.starts_with(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no line starting with {needle}"))
}

/// Reads an HTTP/1.1 request's headers (after its request line, at most 100) as (name, trimmed
/// value) pairs, up to the blank line that ends them.
pub fn read_headers(r: &mut impl std::io::BufRead) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    for _ in 0..100 {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.to_string(), v.trim().to_string()));
        }
    }
    headers
}

/// The `content-length` of `headers` (0 without one).
pub fn content_length(headers: &[(String, String)]) -> usize {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Reads an HTTP/1.1 request's headers ([`read_headers`]) and its body of `content-length`
/// bytes (at most 1 MiB); None when the body could not be read whole.
pub fn read_body(r: &mut impl std::io::BufRead) -> Option<Vec<u8>> {
    let len = content_length(&read_headers(r));
    let mut body = vec![0; len.min(1 << 20)];
    r.read_exact(&mut body).ok()?;
    Some(body)
}

/// The entry of model `label` in a result's quality section.
pub fn quality_of<'a>(r: &'a serde_json::Value, label: &str) -> &'a serde_json::Value {
    r["quality"]["models"]
        .as_array()
        .expect("models")
        .iter()
        .find(|m| m["model"] == label)
        .unwrap_or_else(|| panic!("no quality for {label}"))
}

/// A JSON number as f64, or a panic naming the value.
pub fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// `llmload mock --port 0` in the background, killed on drop.
pub struct Mock {
    child: std::process::Child,
    pub port: u16,
}

impl Mock {
    /// Starts it with these flags besides `--port 0`.
    pub fn start(flags: &[&str]) -> Mock {
        let mut child = Command::new(bin())
            .args(["mock", "--port", "0"])
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn mock");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).expect("url");
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.trim_end_matches("/v1").parse().ok())
            .unwrap_or_else(|| panic!("no port in {line}"));
        Mock { child, port }
    }

    /// Its base URL, `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// POSTs a chat body; the status and the response body.
    pub fn post(&self, body: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let req = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let status = out
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = out
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        (status, body)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
